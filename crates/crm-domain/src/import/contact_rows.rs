//! The primary contact of a customers file's row: its contact columns (`contact.name`,
//! `contact.email`, `contact.phone`, ...; headers `Nama PIC`, `Email PIC`, `HP PIC`,
//! `Contact Person`, ...) read into a [`ContactInput`], and how that input is put over the
//! customer's stored primary contact (an `update` re-import changes it instead of adding
//! another).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::cells::clean;
use crate::contact::{Contact, ContactDetails, ContactInput, MAX_CONTACTS};
use crate::error::FieldError;
use crate::ids::{ContactId, CustomerId, TenantId, UserId};
use crate::values::CountryCode;

/// The prefix of the contact's fields in a row's errors (`contact.email`): the mapping
/// target's name.
const PREFIX: &str = "contact.";

/// The contact cells of one row of a customers file: `None` when every contact column is
/// empty (or the file has none), else a [`ContactInput`] with the non-empty cells only
/// (trimmed, the exporter's `'` guard removed).
pub fn contact_row(mapping: &[Option<String>], cells: &[String]) -> Option<ContactInput> {
    let get = |target: &str| {
        mapping
            .iter()
            .zip(cells)
            .find(|(m, _)| m.as_deref() == Some(target))
            .map(|(_, c)| clean(c))
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
    };
    let input = ContactInput {
        name: get("contact.name"),
        email: get("contact.email"),
        phone: get("contact.phone"),
        mobile_phone: get("contact.mobile_phone"),
        job_title: get("contact.job_title"),
        ..ContactInput::default()
    };
    (input != ContactInput::default()).then_some(input)
}

/// What a row does to the customer's contacts.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum ContactChange {
    /// Nothing (the row's cells are those stored).
    Unchanged,
    /// A new primary contact.
    Insert(Contact),
    /// A stored contact, changed (its `version` one past the stored one), to be saved if the
    /// stored version is still `version - 1`.
    Update(Contact),
}

/// Who writes, when, and the country national phone numbers are read in.
pub(super) struct ContactContext<'a> {
    /// The customer's tenant.
    pub tenant: TenantId,
    /// The customer.
    pub customer: CustomerId,
    /// The importing user.
    pub by: &'a UserId,
    /// Now (microseconds).
    pub now: DateTime<Utc>,
    /// The customer's country, else the tenant's.
    pub country: Option<CountryCode>,
}

/// A stored contact as input: the base the row's cells are put over.
fn input_of(d: &ContactDetails) -> ContactInput {
    ContactInput {
        name: Some(d.name.clone()),
        job_title: d.job_title.clone(),
        department: d.department.clone(),
        email: d.email.as_ref().map(|e| e.as_str().to_owned()),
        phone: d.phone.as_ref().map(|p| p.as_str().to_owned()),
        mobile_phone: d.mobile_phone.as_ref().map(|p| p.as_str().to_owned()),
        roles: Some(d.roles.iter().map(|r| r.as_str().to_owned()).collect()),
        is_primary: None,
        preferred_channel: d.preferred_channel.map(|c| c.as_str().to_owned()),
        language: d.language.clone(),
        notes: d.notes.clone(),
        portal_access: Some(d.portal_access),
    }
}

/// The contact a row writes over among the customer's `contacts`: the one holding the row's
/// e-mail (a contact's e-mail is unique within its customer, so a re-import never duplicates
/// it), else the primary.
pub(super) fn target<'a>(contacts: &'a [Contact], row: &ContactInput) -> Option<&'a Contact> {
    let email = row.email.as_deref().map(str::to_lowercase);
    email
        .and_then(|e| {
            contacts.iter().find(|c| {
                c.details
                    .email
                    .as_ref()
                    .is_some_and(|x| x.as_str().to_lowercase() == e)
            })
        })
        .or_else(|| primary(contacts))
}

/// Puts the row's contact cells `row` over the customer's contact [`target`] among its
/// `contacts`, field by field, and checks the result with [`ContactInput::validate`]: an
/// update when it differs, nothing when not, a new primary contact (id from `new_id`) when
/// the customer has none.
///
/// # Errors
/// The contact's [`FieldError`]s named `contact.<field>` (`contact.name` `required`,
/// `contact.email` `invalid_email`, ...); `contact` `too_many` when a new contact would pass
/// [`MAX_CONTACTS`].
pub(super) fn apply_contact(
    row: &ContactInput,
    contacts: &[Contact],
    ctx: &ContactContext<'_>,
    new_id: impl FnOnce() -> Uuid,
) -> Result<ContactChange, Vec<FieldError>> {
    match target(contacts, row) {
        Some(stored) => {
            let base = input_of(&stored.details);
            let merged = ContactInput {
                name: row.name.clone().or(base.name),
                email: row.email.clone().or(base.email),
                phone: row.phone.clone().or(base.phone),
                mobile_phone: row.mobile_phone.clone().or(base.mobile_phone),
                job_title: row.job_title.clone().or(base.job_title),
                ..base
            };
            let (details, _) = merged.validate(PREFIX, ctx.country)?;
            if details == stored.details {
                return Ok(ContactChange::Unchanged);
            }
            Ok(ContactChange::Update(Contact {
                details,
                updated_by: Some(ctx.by.clone()),
                updated_at: ctx.now,
                version: stored.version.saturating_add(1),
                ..stored.clone()
            }))
        }
        None => {
            let (details, _) = row.clone().validate(PREFIX, ctx.country)?;
            if contacts.len() >= MAX_CONTACTS {
                return Err(vec![
                    FieldError::new(
                        "contact",
                        "too_many",
                        format!(
                            "the customer already has {MAX_CONTACTS} contacts, the most it may"
                        ),
                    )
                    .with_limit(MAX_CONTACTS),
                ]);
            }
            Ok(ContactChange::Insert(Contact {
                id: ContactId(new_id()),
                tenant_id: ctx.tenant,
                customer_id: ctx.customer,
                details,
                is_primary: true,
                version: 1,
                created_by: Some(ctx.by.clone()),
                updated_by: Some(ctx.by.clone()),
                created_at: ctx.now,
                updated_at: ctx.now,
            }))
        }
    }
}

/// The customer's primary contact among `contacts`.
pub(super) fn primary(contacts: &[Contact]) -> Option<&Contact> {
    contacts.iter().find(|c| c.is_primary)
}

/// A contact as a dry run's preview shows it (the contact API's field names).
pub(super) fn preview(c: &Contact) -> serde_json::Value {
    let d = &c.details;
    serde_json::json!({
        "name": d.name,
        "email": d.email.as_ref().map(|e| e.as_str()),
        "phone": d.phone.as_ref().map(|p| p.as_str()),
        "mobile_phone": d.mobile_phone.as_ref().map(|p| p.as_str()),
        "job_title": d.job_title,
        "is_primary": c.is_primary,
    })
}

/// Applies `change` to the customer's `contacts` as held in memory; whether anything
/// changed. With `stored` false the contacts are not stored yet (a customer the batch
/// creates), so a changed contact stays at its first version.
pub(super) fn keep_contact(
    contacts: &mut Vec<Contact>,
    change: Option<ContactChange>,
    stored: bool,
) -> bool {
    match change {
        None | Some(ContactChange::Unchanged) => false,
        Some(ContactChange::Insert(c)) => {
            contacts.push(c);
            true
        }
        Some(ContactChange::Update(mut c)) => {
            if !stored {
                c.version = 1;
            }
            if let Some(slot) = contacts.iter_mut().find(|x| x.id == c.id) {
                *slot = c;
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::import::{ImportKind, detect_mapping};

    fn ctx(by: &UserId) -> ContactContext<'_> {
        ContactContext {
            tenant: TenantId(Uuid::from_u128(1)),
            customer: CustomerId(Uuid::from_u128(2)),
            by,
            now: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            country: CountryCode::parse("ID"),
        }
    }

    fn mapping(headers: &[&str]) -> Vec<Option<String>> {
        let headers: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
        detect_mapping(ImportKind::Customers, &headers).unwrap()
    }

    fn row(cells: &[(&str, &str)]) -> Option<ContactInput> {
        let mut cells = cells.to_vec();
        cells.insert(0, ("Nama", "PT Maju"));
        let headers: Vec<&str> = cells.iter().map(|(h, _)| *h).collect();
        let values: Vec<String> = cells.iter().map(|(_, v)| (*v).to_owned()).collect();
        contact_row(&mapping(&headers), &values)
    }

    fn fields(e: Vec<FieldError>) -> Vec<(String, &'static str)> {
        e.into_iter().map(|e| (e.field, e.code)).collect()
    }

    fn insert(row: &ContactInput) -> Contact {
        let by = UserId::parse("u").unwrap();
        match apply_contact(row, &[], &ctx(&by), || Uuid::from_u128(9)).unwrap() {
            ContactChange::Insert(c) => c,
            other => panic!("an insert, not {other:?}"),
        }
    }

    #[test]
    fn indonesian_and_english_contact_headers_are_detected() {
        let m = mapping(&[
            "Nama",
            "Email",
            "Nama PIC",
            "Email PIC",
            "HP PIC",
            "Jabatan PIC",
        ]);
        assert_eq!(
            m.iter().map(Option::as_deref).collect::<Vec<_>>(),
            [
                Some("name"),
                Some("email"),
                Some("contact.name"),
                Some("contact.email"),
                Some("contact.phone"),
                Some("contact.job_title"),
            ]
        );
        // Each alone (two columns naming one target are an error).
        for (header, target) in [
            ("Contact Person", "contact.name"),
            ("Contact Name", "contact.name"),
            ("PIC", "contact.name"),
            ("Nama Kontak", "contact.name"),
            ("Contact Email", "contact.email"),
            ("Email Kontak", "contact.email"),
            ("Contact Phone", "contact.phone"),
            ("Telepon Kontak", "contact.phone"),
            ("No HP PIC", "contact.phone"),
            ("no_hp_pic", "contact.phone"),
            ("HP Kontak", "contact.phone"),
            ("WA PIC", "contact.mobile_phone"),
            // The customer's own columns stay the customer's.
            ("Nama", "name"),
            ("No HP", "mobile_phone"),
        ] {
            assert_eq!(
                super::super::aliases::detect_target(ImportKind::Customers, header),
                Some(target),
                "{header}"
            );
        }
    }

    #[test]
    fn a_row_without_contact_cells_has_no_contact() {
        assert_eq!(row(&[("Nama PIC", " "), ("Email PIC", "")]), None);
        assert_eq!(row(&[]), None);
        let c = row(&[("Nama PIC", " Rina "), ("HP PIC", "'+6281234567001")]).unwrap();
        assert_eq!(c.name.as_deref(), Some("Rina"));
        assert_eq!(c.phone.as_deref(), Some("+6281234567001"));
        assert_eq!(c.email, None);
    }

    #[test]
    fn a_new_contact_is_checked_named_by_its_column_and_primary() {
        let by = UserId::parse("u").unwrap();
        let bad = row(&[("Nama PIC", "Rina"), ("Email PIC", "rina@")]).unwrap();
        let e = apply_contact(&bad, &[], &ctx(&by), Uuid::nil).unwrap_err();
        assert_eq!(fields(e), [("contact.email".to_owned(), "invalid_email")]);
        let nameless = row(&[("Email PIC", "rina@maju.example")]).unwrap();
        let e = apply_contact(&nameless, &[], &ctx(&by), Uuid::nil).unwrap_err();
        assert_eq!(fields(e), [("contact.name".to_owned(), "required")]);
        // A national number is read in the customer's (else the tenant's) country.
        let good = row(&[("Nama PIC", "Rina"), ("HP PIC", "0812-3456-7001")]).unwrap();
        let c = insert(&good);
        assert!(c.is_primary);
        assert_eq!(c.version, 1);
        assert_eq!(c.id, ContactId(Uuid::from_u128(9)));
        assert_eq!(
            c.details.phone.as_ref().map(|p| p.as_str()),
            Some("+6281234567001")
        );
    }

    #[test]
    fn a_new_contact_beyond_the_limit_is_refused() {
        let by = UserId::parse("u").unwrap();
        // A customer holding the most contacts, none primary (the import adds one only then).
        let mut other = insert(&row(&[("Nama PIC", "X")]).unwrap());
        other.is_primary = false;
        let full = vec![other; MAX_CONTACTS];
        let e = apply_contact(
            &row(&[("Nama PIC", "Rina")]).unwrap(),
            &full,
            &ctx(&by),
            Uuid::nil,
        )
        .unwrap_err();
        assert_eq!(fields(e), [("contact".to_owned(), "too_many")]);
    }

    #[test]
    fn an_update_puts_the_cells_over_the_primary_field_by_field() {
        let by = UserId::parse("u").unwrap();
        let stored = insert(
            &row(&[
                ("Nama PIC", "Rina"),
                ("Email PIC", "rina@maju.example"),
                ("HP PIC", "+6281234567001"),
            ])
            .unwrap(),
        );
        let list = vec![stored.clone()];
        // The same cells change nothing.
        let same = row(&[
            ("Email PIC", "RINA@maju.example"),
            ("HP PIC", "+6281234567001"),
        ]);
        assert_eq!(
            apply_contact(&same.unwrap(), &list, &ctx(&by), Uuid::nil).unwrap(),
            ContactChange::Unchanged
        );
        // Only the phone: the rest stays, at the next version, no second contact.
        let phone = row(&[("HP PIC", "+6281299990001")]).unwrap();
        let ContactChange::Update(c) = apply_contact(&phone, &list, &ctx(&by), Uuid::nil).unwrap()
        else {
            panic!("an update")
        };
        assert_eq!(c.id, stored.id);
        assert_eq!(c.version, 2);
        assert!(c.is_primary);
        assert_eq!(c.details.name, "Rina");
        assert_eq!(
            c.details.email.as_ref().map(|e| e.as_str()),
            Some("rina@maju.example")
        );
        assert_eq!(
            c.details.phone.as_ref().map(|p| p.as_str()),
            Some("+6281299990001")
        );
        // A bad cell over the stored contact names the field.
        let bad = row(&[("HP PIC", "12")]).unwrap();
        let e = apply_contact(&bad, &list, &ctx(&by), Uuid::nil).unwrap_err();
        assert_eq!(fields(e), [("contact.phone".to_owned(), "invalid_phone")]);
        // Kept in memory: still one contact; a contact not stored yet stays at version 1.
        let mut kept = list.clone();
        assert!(keep_contact(
            &mut kept,
            Some(ContactChange::Update(c)),
            false
        ));
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].version, 1);
        assert_eq!(primary(&kept).unwrap().details.name, "Rina");
    }

    #[test]
    fn a_row_whose_email_another_contact_holds_updates_that_contact() {
        let by = UserId::parse("u").unwrap();
        let first = insert(&row(&[("Nama PIC", "Rina"), ("Email PIC", "rina@x.example")]).unwrap());
        let mut second =
            insert(&row(&[("Nama PIC", "Agus"), ("Email PIC", "agus@x.example")]).unwrap());
        second.id = ContactId(Uuid::from_u128(10));
        second.is_primary = false;
        let list = vec![first.clone(), second.clone()];
        let r = row(&[("Nama PIC", "Agus S."), ("Email PIC", "agus@x.example")]).unwrap();
        let ContactChange::Update(c) = apply_contact(&r, &list, &ctx(&by), Uuid::nil).unwrap()
        else {
            panic!("an update")
        };
        assert_eq!(c.id, second.id);
        assert_eq!(c.details.name, "Agus S.");
        assert!(!c.is_primary);
        // Without an e-mail cell the primary is the one updated.
        let r = row(&[("Nama PIC", "Rina W.")]).unwrap();
        let ContactChange::Update(c) = apply_contact(&r, &list, &ctx(&by), Uuid::nil).unwrap()
        else {
            panic!("an update")
        };
        assert_eq!(c.id, first.id);
    }
}
