//! Raw contact input and the rules that turn it into [`ContactDetails`].

use std::collections::BTreeSet;

use super::model::{ContactDetails, ContactRole, PreferredChannel};
use crate::error::FieldError;
use crate::values::{CountryCode, EmailAddress, PhoneError, PhoneNumber, TextKind, check_text};

/// Longest name, job title or department, in characters.
pub const MAX_CONTACT_TEXT_CHARS: usize = 255;
/// Longest language tag, in characters (BCP 47 tags in practical use are shorter).
pub const MAX_LANGUAGE_CHARS: usize = 35;
/// Most entries of `roles` (there are six roles; a repeated one counts once in the set but
/// each entry counts against this bound).
pub const MAX_ROLES: usize = 6;

/// A contact as submitted (create, or the result of applying a `PATCH`), before any rule is
/// checked. Empty strings count as absent; absent `roles` is the empty set; absent
/// `portal_access` is false; absent `is_primary` means "no change" (a new contact is primary
/// only when it is the customer's first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(missing_docs)] // each field is documented on ContactDetails
pub struct ContactInput {
    pub name: Option<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile_phone: Option<String>,
    pub roles: Option<Vec<String>>,
    /// `true` makes the contact the customer's primary; `false` on the primary is refused.
    pub is_primary: Option<bool>,
    pub preferred_channel: Option<String>,
    pub language: Option<String>,
    pub notes: Option<String>,
    pub portal_access: Option<bool>,
}

impl ContactInput {
    /// Checks every rule of the input; field names in errors start with `prefix`
    /// (`""`, or `contacts[1].` inside a customer's body). National phone numbers are read in
    /// `country` (the customer's country, else the tenant's).
    ///
    /// # Errors
    /// Every broken rule, one [`FieldError`] each: `required` (name), `too_long` (with the
    /// limit), `invalid_characters` (NUL or other control characters), `invalid_email`,
    /// `invalid_phone`, `phone_country_unknown`, `invalid_value` (role, channel),
    /// `too_many` (roles, with the limit), `invalid_language`.
    pub fn validate(
        self,
        prefix: &str,
        country: Option<CountryCode>,
    ) -> Result<(ContactDetails, Option<bool>), Vec<FieldError>> {
        let mut errors = Vec::new();
        let f = |name: &str| format!("{prefix}{name}");
        let mut text = |name: &str, value: Option<String>, max: usize, kind: TextKind| {
            let v = value?.trim().to_owned();
            if v.is_empty() {
                return None;
            }
            if let Err(e) = check_text(&f(name), &v, kind) {
                errors.push(e);
                return None;
            }
            if v.chars().count() > max {
                errors.push(
                    FieldError::new(
                        f(name),
                        "too_long",
                        format!("must be at most {max} characters"),
                    )
                    .with_limit(max),
                );
                return None;
            }
            Some(v)
        };
        let name = text(
            "name",
            self.name,
            MAX_CONTACT_TEXT_CHARS,
            TextKind::SingleLine,
        );
        let job_title = text(
            "job_title",
            self.job_title,
            MAX_CONTACT_TEXT_CHARS,
            TextKind::SingleLine,
        );
        let department = text(
            "department",
            self.department,
            MAX_CONTACT_TEXT_CHARS,
            TextKind::SingleLine,
        );
        let email_raw = text("email", self.email, 254, TextKind::SingleLine);
        let phone_raw = text("phone", self.phone, 64, TextKind::SingleLine);
        let mobile_raw = text("mobile_phone", self.mobile_phone, 64, TextKind::SingleLine);
        let channel_raw = text(
            "preferred_channel",
            self.preferred_channel,
            64,
            TextKind::SingleLine,
        );
        let language_raw = text(
            "language",
            self.language,
            MAX_LANGUAGE_CHARS,
            TextKind::SingleLine,
        );
        let notes = text(
            "notes",
            self.notes,
            crate::customer::MAX_NOTES_CHARS,
            TextKind::MultiLine,
        );

        if name.is_none() && !errors.iter().any(|e| e.field == f("name")) {
            errors.push(FieldError::new(
                f("name"),
                "required",
                "a contact needs a name",
            ));
        }
        let email = email_raw.and_then(|v| {
            let parsed = EmailAddress::parse(&v);
            if parsed.is_none() {
                errors.push(FieldError::new(
                    f("email"),
                    "invalid_email",
                    format!("`{v}` is not a valid e-mail address"),
                ));
            }
            parsed
        });
        let mut phone = |field: &str, raw: Option<String>| {
            let v = raw?;
            match PhoneNumber::parse(&v, country) {
                Ok(p) => Some(p),
                Err(PhoneError::NoCountry) => {
                    errors.push(FieldError::new(
                        f(field),
                        "phone_country_unknown",
                        format!("`{v}` has no +country prefix and neither the customer nor the tenant has a country"),
                    ));
                    None
                }
                Err(PhoneError::Invalid) => {
                    errors.push(FieldError::new(
                        f(field),
                        "invalid_phone",
                        format!("`{v}` is not a valid phone number"),
                    ));
                    None
                }
            }
        };
        let phone_number = phone("phone", phone_raw);
        let mobile_phone = phone("mobile_phone", mobile_raw);
        let mut roles = BTreeSet::new();
        let raw_roles = self.roles.unwrap_or_default();
        if raw_roles.len() > MAX_ROLES {
            errors.push(
                FieldError::new(f("roles"), "too_many", format!("at most {MAX_ROLES} roles"))
                    .with_limit(MAX_ROLES),
            );
        } else {
            for (i, r) in raw_roles.iter().enumerate() {
                match r.trim().parse::<ContactRole>() {
                    Ok(role) => {
                        roles.insert(role);
                    }
                    Err(_) => errors.push(FieldError::new(
                        f(&format!("roles[{i}]")),
                        "invalid_value",
                        format!(
                            "unknown role; expected one of {}",
                            ContactRole::ALL
                                .iter()
                                .map(|r| r.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )),
                }
            }
        }
        let preferred_channel = channel_raw.and_then(|v| match v.parse::<PreferredChannel>() {
            Ok(c) => Some(c),
            Err(_) => {
                errors.push(FieldError::new(
                    f("preferred_channel"),
                    "invalid_value",
                    format!(
                        "unknown channel; expected one of {}",
                        PreferredChannel::ALL
                            .iter()
                            .map(|r| r.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
                None
            }
        });
        let language = language_raw.and_then(|v| {
            if is_language_tag(&v) {
                Some(v)
            } else {
                errors.push(FieldError::new(
                    f("language"),
                    "invalid_language",
                    "must be a language tag such as `id`, `en` or `en-US`",
                ));
                None
            }
        });
        match name {
            Some(name) if errors.is_empty() => Ok((
                ContactDetails {
                    name,
                    job_title,
                    department,
                    email,
                    phone: phone_number,
                    mobile_phone,
                    roles,
                    preferred_channel,
                    language,
                    notes,
                    portal_access: self.portal_access.unwrap_or(false),
                },
                self.is_primary,
            )),
            _ => Err(errors),
        }
    }
}

/// A BCP 47-shaped tag: a primary language subtag of 2..=8 letters, then subtags of 1..=8
/// letters or digits, separated by `-`.
fn is_language_tag(v: &str) -> bool {
    let mut parts = v.split('-');
    let Some(first) = parts.next() else {
        return false;
    };
    (2..=8).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> Option<CountryCode> {
        CountryCode::parse("ID")
    }

    #[test]
    fn phones_are_read_in_the_country_and_emails_lower_cased() {
        let (d, primary) = ContactInput {
            name: Some("  Sari  ".into()),
            email: Some("Sari@Example.COM".into()),
            phone: Some("0812 3456 7890".into()),
            roles: Some(vec!["billing".into(), "billing".into()]),
            language: Some("en-US".into()),
            ..Default::default()
        }
        .validate("", id())
        .unwrap();
        assert_eq!(d.name, "Sari");
        assert_eq!(d.email.unwrap().as_str(), "sari@example.com");
        assert_eq!(d.phone.unwrap().as_str(), "+6281234567890");
        assert_eq!(d.roles.len(), 1);
        assert_eq!(primary, None);
    }

    #[test]
    fn every_broken_rule_names_its_field_with_the_prefix() {
        let errors = ContactInput {
            name: Some(" ".into()),
            email: Some("not-an-email".into()),
            phone: Some("12".into()),
            roles: Some(vec!["boss".into()]),
            preferred_channel: Some("pigeon".into()),
            language: Some("x".into()),
            notes: Some("a\u{0}b".into()),
            job_title: Some("x".repeat(256)),
            ..Default::default()
        }
        .validate("contacts[1].", id())
        .unwrap_err();
        let fields: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        for expected in [
            ("contacts[1].name", "required"),
            ("contacts[1].email", "invalid_email"),
            ("contacts[1].phone", "invalid_phone"),
            ("contacts[1].roles[0]", "invalid_value"),
            ("contacts[1].preferred_channel", "invalid_value"),
            ("contacts[1].language", "invalid_language"),
            ("contacts[1].notes", "invalid_characters"),
            ("contacts[1].job_title", "too_long"),
        ] {
            assert!(fields.contains(&expected), "{expected:?} in {fields:?}");
        }
    }

    #[test]
    fn roles_are_bounded() {
        let errors = ContactInput {
            name: Some("A".into()),
            roles: Some(vec!["other".into(); MAX_ROLES + 1]),
            ..Default::default()
        }
        .validate("", id())
        .unwrap_err();
        assert_eq!(errors[0].field, "roles");
        assert_eq!(errors[0].limit, Some(MAX_ROLES as u64));
    }

    #[test]
    fn a_national_phone_without_any_country_is_refused() {
        let errors = ContactInput {
            name: Some("A".into()),
            mobile_phone: Some("0812 3456 7890".into()),
            ..Default::default()
        }
        .validate("", None)
        .unwrap_err();
        assert_eq!(errors[0].code, "phone_country_unknown");
    }
}
