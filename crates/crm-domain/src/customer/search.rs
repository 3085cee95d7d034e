//! Free-text search over customers: what a query matches and how matches rank, defined here so
//! that every storage backend returns the same set.
//!
//! A customer matches a query `q` (trimmed, lower-cased, inner whitespace collapsed,
//! 2..=100 characters) when
//! 1. its search text contains `q` (substring); the search text is the lower-cased name, display
//!    name, company, e-mail, customer code, tax id and tags, one per line;
//! 2. or `q` holds at least 4 digits and those digits, in order, occur in one of its phone
//!    numbers, written internationally (`6281234567890`) or nationally with the trunk prefix
//!    (`081234567890`), so `0812-3456` finds `+6281234567890`;
//! 3. or `q` is a single word of 4..=30 letters or digits within one edit (insertion, deletion
//!    or substitution of one character, or a swap of neighbours) of a word of the customer's
//!    name, display name or company (words that hold at least one letter): both sides are
//!    expanded to their one-deletion neighbourhoods (the SymSpell method, Garbe 2012) and match
//!    when the neighbourhoods meet. Typos are looked for in names only: e-mails, codes, tax ids
//!    and phone numbers are copied, not typed from memory, and their neighbourhoods would
//!    triple the index.
//!
//! 4. or `q` is a substring of one of its contacts' search text (lower-cased name and e-mail,
//!    [`crate::contact::ContactDetails::search_text`]), or `q` holds at least 4 digits that
//!    occur in one of its contacts' phone numbers (forms as in rule 2);
//! 5. or the lower-cased city or the postal code of one of its addresses
//!    (`/customers/{id}/addresses`) starts with `q` (`band` finds Bandung, `4011` finds 40111;
//!    a prefix, not a substring, so the tenant's addresses are read through their indexes).
//!
//! Rank, best first: 4 the name equals `q`; 3 the name starts with `q`; 2 rule 1 or 2; 1 only
//! rule 3, 4 or 5 (a customer found only through its contacts or addresses ranks with typo
//! matches). Ties by id.

use std::collections::BTreeSet;

use super::model::CustomerProfile;
use crate::error::FieldError;

/// Shortest and longest words that typo matching considers.
const TYPO_WORD: std::ops::RangeInclusive<usize> = 4..=30;

/// A parsed search query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText {
    /// The normalised text.
    pub text: String,
    /// Its digits, when it has at least 4.
    pub digits: Option<String>,
    /// The word and its one-deletion neighbourhood, when `text` is one word of 4..=30
    /// characters.
    pub typo_terms: Vec<String>,
}

impl SearchText {
    /// Normalises and checks a query.
    ///
    /// # Errors
    /// A field error on `q` when it is shorter than 2 or longer than 100 characters.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let text = raw
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        crate::values::check_text("q", &text, crate::values::TextKind::SingleLine)?;
        let len = text.chars().count();
        if !(2..=100).contains(&len) {
            return Err(FieldError::new(
                "q",
                "out_of_range",
                "a search text has 2..=100 characters",
            ));
        }
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        let single_word = text.chars().all(char::is_alphanumeric);
        let typo_terms = if single_word && TYPO_WORD.contains(&len) {
            neighbourhood(&text).into_iter().collect()
        } else {
            Vec::new()
        };
        Ok(Self {
            text,
            digits: (digits.len() >= 4).then_some(digits),
            typo_terms,
        })
    }

    /// The rank of a customer for this query, or `None` when it does not match.
    pub fn rank(&self, doc: &SearchDocument, sort_name: &str) -> Option<i64> {
        let text_hit = doc.text.contains(&self.text);
        let phone_hit = self
            .digits
            .as_ref()
            .is_some_and(|d| doc.phones.contains(d.as_str()));
        let typo_hit =
            !self.typo_terms.is_empty() && self.typo_terms.iter().any(|t| doc.terms.contains(t));
        if sort_name == self.text {
            Some(4)
        } else if sort_name.starts_with(&self.text) {
            Some(3)
        } else if text_hit || phone_hit {
            Some(2)
        } else if typo_hit {
            Some(1)
        } else {
            None
        }
    }
}

/// What storage indexes for a customer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchDocument {
    /// Lower-cased searchable fields, one per line.
    pub text: String,
    /// Phone numbers as digits, international and national forms, one per line.
    pub phones: String,
    /// Words of 4..=30 characters (with a letter) of the name, display name and company, and
    /// their one-deletion neighbourhoods.
    pub terms: BTreeSet<String>,
}

/// The word and every string made by deleting one of its characters.
fn neighbourhood(word: &str) -> BTreeSet<String> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = BTreeSet::from([word.to_owned()]);
    for i in 0..chars.len() {
        out.insert(
            chars
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, c)| c)
                .collect(),
        );
    }
    out
}

/// The search document of a customer.
pub fn search_document(p: &CustomerProfile, customer_code: &str) -> SearchDocument {
    let name_fields = [
        Some(p.name.as_str()),
        p.display_name.as_deref(),
        p.company.as_deref(),
    ];
    let names = name_fields.iter().flatten().count();
    let mut fields: Vec<String> = name_fields
        .into_iter()
        .chain([
            p.email.as_ref().map(|e| e.as_str()),
            Some(customer_code),
            p.tax_id.as_deref(),
        ])
        .flatten()
        .map(str::to_lowercase)
        .collect();
    fields.extend(p.tags.iter().cloned());
    let text = fields.join("\n");
    let phones = [&p.phone, &p.mobile_phone]
        .into_iter()
        .flatten()
        .flat_map(crate::values::PhoneNumber::search_forms)
        .collect::<Vec<_>>()
        .join("\n");
    let terms = fields[..names]
        .iter()
        .flat_map(|f| f.split(|c: char| !c.is_alphanumeric()))
        .filter(|w| TYPO_WORD.contains(&w.chars().count()) && w.chars().any(char::is_alphabetic))
        .flat_map(neighbourhood)
        .collect();
    SearchDocument {
        text,
        phones,
        terms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::{CustomerInput, ValidationContext};
    use crate::values::{CountryCode, CurrencyCode};

    fn doc(input: CustomerInput) -> (SearchDocument, String) {
        let ctx = ValidationContext {
            default_country: CountryCode::parse("ID"),
            default_currency: CurrencyCode::parse("IDR").unwrap(),
            today: chrono::Utc::now().date_naive(),
        };
        let p = input.validate(&ctx).unwrap();
        (
            search_document(&p, "CUST-2026-0042"),
            crate::customer::sort_name(&p.name),
        )
    }

    fn budi() -> (SearchDocument, String) {
        doc(CustomerInput {
            name: Some("Budi Santoso".into()),
            email: Some("budi@maju.co.id".into()),
            phone: Some("0812 3456 7890".into()),
            company: Some("PT Maju Jaya".into()),
            tags: Some(vec!["Wholesale".into()]),
            ..Default::default()
        })
    }

    fn rank(q: &str) -> Option<i64> {
        let (d, name) = budi();
        SearchText::parse(q).unwrap().rank(&d, &name)
    }

    #[test]
    fn queries_are_normalised_and_bounded() {
        assert_eq!(
            SearchText::parse("  Budi   SANTOSO ").unwrap().text,
            "budi santoso"
        );
        assert!(SearchText::parse("b").is_err());
        assert_eq!(
            SearchText::parse("bu\u{0}di").unwrap_err().code,
            "invalid_characters"
        );
        assert!(SearchText::parse(&"x".repeat(101)).is_err());
    }

    #[test]
    fn substrings_of_any_searched_field_match() {
        for q in [
            "santo",
            "maju jaya",
            "@maju.co",
            "cust-2026-0042",
            "wholesale",
        ] {
            assert_eq!(rank(q), Some(2), "{q}");
        }
    }

    #[test]
    fn phone_digits_match_in_international_and_national_form() {
        assert_eq!(rank("0812-3456"), Some(2));
        assert_eq!(rank("+62 812 3456 7890"), Some(2));
        assert_eq!(rank("81234"), Some(2));
        assert_eq!(rank("0999"), None);
    }

    #[test]
    fn one_typo_in_a_word_still_matches() {
        assert_eq!(rank("santsoo"), Some(1), "swap");
        assert_eq!(rank("santoso"), Some(2));
        assert_eq!(rank("sentoso"), Some(1), "substitution");
        assert_eq!(rank("santosso"), Some(1), "insertion");
        assert_eq!(rank("sntoso"), Some(1), "deletion");
        assert_eq!(rank("sentosa"), None, "two edits");
    }

    #[test]
    fn typos_are_looked_for_in_names_not_in_emails_codes_or_tags() {
        assert_eq!(rank("jayo"), Some(1), "company word");
        assert_eq!(rank("wholesalo"), None, "tag");
        assert_eq!(rank("cist"), None, "customer code");
        let (d, _) = budi();
        assert!(d.terms.iter().all(|t| !t.contains("0042")));
    }

    #[test]
    fn exact_and_prefix_names_rank_first() {
        assert_eq!(rank("budi santoso"), Some(4));
        assert_eq!(rank("budi"), Some(3));
        assert_eq!(rank("nobody"), None);
    }
}
