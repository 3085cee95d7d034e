//! The default billing address of a customers file's row: its flat address columns
//! (`address.line1`, `address.city`, ...; headers `Alamat`, `Kota`, `Kode Pos`, ...) read
//! into an [`AddressInput`], and how that input is put over the customer's stored default
//! billing address (an `update` re-import changes it instead of adding another).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::cells::clean;
use crate::address::{Address, AddressId, AddressInput, AddressType, MAX_ADDRESSES_PER_CUSTOMER};
use crate::error::FieldError;
use crate::ids::{CustomerId, TenantId, UserId};
use crate::values::CountryCode;

/// The prefix of the address's fields in a row's errors (`address.city`): the mapping
/// target's name.
const PREFIX: &str = "address.";

/// The address cells of one row of a customers file: `None` when every address column is
/// empty (or the file has none), else an [`AddressInput`] of type `billing` marked default,
/// with the non-empty cells only (trimmed, the exporter's `'` guard removed). Its `country` is
/// the `address.country` cell, else the row's customer `country` cell when that is an ISO
/// 3166-1 alpha-2 code (so a `Negara` column gives the address its country too), else `None`
/// (then the customer's country, else the tenant's, applies when it is created).
pub fn address_row(mapping: &[Option<String>], cells: &[String]) -> Option<AddressInput> {
    let get = |target: &str| {
        mapping
            .iter()
            .zip(cells)
            .find(|(m, _)| m.as_deref() == Some(target))
            .map(|(_, c)| clean(c))
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
    };
    let input = AddressInput {
        line1: get("address.line1"),
        line2: get("address.line2"),
        district: get("address.district"),
        city: get("address.city"),
        region: get("address.region"),
        postal_code: get("address.postal_code"),
        country: get("address.country"),
        ..AddressInput::default()
    };
    if input == AddressInput::default() {
        return None;
    }
    let country = input
        .country
        .or_else(|| get("country").filter(|c| CountryCode::parse(c).is_some()));
    Some(AddressInput {
        address_type: Some(AddressType::Billing.as_str().to_owned()),
        country,
        is_default: Some(true),
        ..input
    })
}

/// What a row does to the customer's addresses.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum AddressChange {
    /// Nothing (the row's cells are those stored).
    Unchanged,
    /// A new default billing address.
    Insert(Address),
    /// The default billing address, changed, to be saved if its stored version is still the
    /// one given.
    Update(Address, i64),
    /// Nothing, with warnings: the row's address cells lack a street (`address.line1`) or a
    /// city (`address.city`) and the customer has no default billing address to complete
    /// them, so no address is stored; the row itself is imported (issue 12). One `required`
    /// [`FieldError`] per missing field.
    Incomplete(Vec<FieldError>),
}

/// Who writes, when, and the rules an address is checked by.
pub(super) struct AddressContext<'a> {
    /// The customer's tenant.
    pub tenant: TenantId,
    /// The customer.
    pub customer: CustomerId,
    /// The importing user.
    pub by: &'a UserId,
    /// Now (microseconds).
    pub now: DateTime<Utc>,
    /// The country of an address whose row names none: the customer's, else the tenant's.
    pub default_country: Option<CountryCode>,
}

/// Puts the row's address cells `row` over the customer's default billing address `current`
/// (of the customer's `count` addresses), field by field, and checks the result with
/// [`AddressInput::validate`]: an update when it differs from `current`, nothing when not, a
/// new default billing address (id from `new_id`) when the customer has none. A new address
/// whose row has no street or no city (a file with a `Kota` column and no `Alamat`) is
/// [`AddressChange::Incomplete`]: not stored, and the row warned, not rejected.
///
/// # Errors
/// The address's [`FieldError`]s named `address.<field>` (`address.city` `required`,
/// `address.country` `invalid_country`, ...); `address` `too_many` when a new address would
/// pass [`MAX_ADDRESSES_PER_CUSTOMER`].
pub(super) fn apply_address(
    row: &AddressInput,
    current: Option<&Address>,
    count: usize,
    ctx: &AddressContext<'_>,
    new_id: impl FnOnce() -> Uuid,
) -> Result<AddressChange, Vec<FieldError>> {
    match current {
        Some(stored) => {
            let base = AddressInput::from(stored);
            let merged = AddressInput {
                line1: row.line1.clone().or(base.line1),
                line2: row.line2.clone().or(base.line2),
                district: row.district.clone().or(base.district),
                city: row.city.clone().or(base.city),
                region: row.region.clone().or(base.region),
                postal_code: row.postal_code.clone().or(base.postal_code),
                country: row.country.clone().or(base.country),
                ..base
            };
            let (fields, _) = merged.validate(PREFIX, ctx.default_country)?;
            if fields == stored.fields {
                return Ok(AddressChange::Unchanged);
            }
            let changed = Address {
                fields,
                updated_by: Some(ctx.by.clone()),
                updated_at: ctx.now,
                version: stored.version.saturating_add(1),
                ..stored.clone()
            };
            Ok(AddressChange::Update(changed, stored.version))
        }
        None => {
            let missing = incomplete(row);
            if !missing.is_empty() {
                return Ok(AddressChange::Incomplete(missing));
            }
            let (fields, _) = row.clone().validate(PREFIX, ctx.default_country)?;
            if count >= MAX_ADDRESSES_PER_CUSTOMER {
                return Err(vec![
                    FieldError::new(
                        "address",
                        "too_many",
                        format!(
                            "the customer already holds {MAX_ADDRESSES_PER_CUSTOMER} addresses, \
                             the most it may"
                        ),
                    )
                    .with_limit(MAX_ADDRESSES_PER_CUSTOMER),
                ]);
            }
            Ok(AddressChange::Insert(Address {
                id: AddressId(new_id()),
                tenant_id: ctx.tenant,
                customer_id: ctx.customer,
                fields,
                is_default: true,
                created_by: Some(ctx.by.clone()),
                updated_by: Some(ctx.by.clone()),
                created_at: ctx.now,
                updated_at: ctx.now,
                version: 1,
            }))
        }
    }
}

/// The required fields a new address from the row's cells `row` lacks (`address.line1`,
/// `address.city`), as `required` warnings saying the address is not stored.
fn incomplete(row: &AddressInput) -> Vec<FieldError> {
    [("line1", &row.line1), ("city", &row.city)]
        .into_iter()
        .filter(|(_, value)| value.is_none())
        .map(|(field, _)| {
            FieldError::new(
                format!("{PREFIX}{field}"),
                "required",
                "is required for an address; the row's address columns were not stored",
            )
        })
        .collect()
}

/// The customer's default billing address among `addresses`.
pub(super) fn default_billing(addresses: &[Address]) -> Option<&Address> {
    addresses
        .iter()
        .find(|a| a.is_default && a.fields.address_type == AddressType::Billing)
}

/// An address as a dry run's preview shows it (the address API's field names).
pub(super) fn preview(a: &Address) -> serde_json::Value {
    let f = &a.fields;
    serde_json::json!({
        "type": f.address_type.as_str(),
        "line1": f.line1,
        "line2": f.line2,
        "district": f.district,
        "city": f.city,
        "region": f.region,
        "postal_code": f.postal_code,
        "country": f.country.as_str(),
    })
}

/// Applies `change` to the customer's `addresses` as held in memory; whether anything
/// changed. With `stored` false the addresses are not stored yet (a customer the batch
/// creates), so a changed address stays at its first version.
pub(super) fn keep_change(
    addresses: &mut Vec<Address>,
    change: Option<AddressChange>,
    stored: bool,
) -> bool {
    match change {
        None | Some(AddressChange::Unchanged | AddressChange::Incomplete(_)) => false,
        Some(AddressChange::Insert(a)) => {
            addresses.push(a);
            true
        }
        Some(AddressChange::Update(mut a, version)) => {
            if !stored {
                a.version = version;
            }
            if let Some(slot) = addresses.iter_mut().find(|x| x.id == a.id) {
                *slot = a;
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

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn ctx(by: &UserId) -> AddressContext<'_> {
        AddressContext {
            tenant: TenantId(Uuid::from_u128(1)),
            customer: CustomerId(Uuid::from_u128(2)),
            by,
            now: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            default_country: CountryCode::parse("ID"),
        }
    }

    fn row(cells: &[(&str, &str)]) -> Option<AddressInput> {
        let mut cells = cells.to_vec();
        if !cells.iter().any(|(h, _)| *h == "Nama") {
            cells.insert(0, ("Nama", "Budi"));
        }
        let headers: Vec<String> = cells.iter().map(|(h, _)| (*h).to_owned()).collect();
        let mapping = detect_mapping(ImportKind::Customers, &headers).unwrap();
        let values: Vec<String> = cells.iter().map(|(_, v)| (*v).to_owned()).collect();
        address_row(&mapping, &values)
    }

    fn fields(e: Vec<FieldError>) -> Vec<(String, &'static str)> {
        e.into_iter().map(|e| (e.field, e.code)).collect()
    }

    #[test]
    fn indonesian_and_english_address_headers_are_detected() {
        let headers = strings(&[
            "Nama",
            "Email",
            "Alamat",
            "Alamat 2",
            "Kecamatan",
            "Kota",
            "Provinsi",
            "Kode Pos",
            "Negara",
        ]);
        let m = detect_mapping(ImportKind::Customers, &headers).unwrap();
        let m: Vec<Option<&str>> = m.iter().map(Option::as_deref).collect();
        assert_eq!(
            m,
            [
                Some("name"),
                Some("email"),
                Some("address.line1"),
                Some("address.line2"),
                Some("address.district"),
                Some("address.city"),
                Some("address.region"),
                Some("address.postal_code"),
                Some("country"),
            ]
        );
        let headers = strings(&[
            "Name",
            "Address",
            "City",
            "State",
            "ZIP",
            "District",
            "Address 2",
        ]);
        let m = detect_mapping(ImportKind::Customers, &headers).unwrap();
        assert_eq!(
            m.iter().map(Option::as_deref).collect::<Vec<_>>(),
            [
                Some("name"),
                Some("address.line1"),
                Some("address.city"),
                Some("address.region"),
                Some("address.postal_code"),
                Some("address.district"),
                Some("address.line2"),
            ]
        );
        // `Alamat Email` is still the e-mail, and an export's address columns import back.
        let headers = strings(&[
            "Nama",
            "Alamat Email",
            "billing_city",
            "billing_address_line1",
        ]);
        let m = detect_mapping(ImportKind::Customers, &headers).unwrap();
        assert_eq!(
            m.iter().map(Option::as_deref).collect::<Vec<_>>(),
            [
                Some("name"),
                Some("email"),
                Some("address.city"),
                Some("address.line1"),
            ]
        );
    }

    #[test]
    fn a_row_without_address_cells_has_no_address() {
        assert_eq!(
            row(&[("Nama", "Budi"), ("Alamat", " "), ("Kota", "")]),
            None
        );
        assert_eq!(row(&[("Nama", "Budi")]), None);
    }

    #[test]
    fn a_row_gives_a_default_billing_address_with_the_rows_country() {
        let a = row(&[
            ("Nama", "Budi"),
            ("Alamat", " Jl. Merdeka 1 "),
            ("Kota", "Bandung"),
            ("Negara", "sg"),
        ])
        .unwrap();
        assert_eq!(a.address_type.as_deref(), Some("billing"));
        assert_eq!(a.is_default, Some(true));
        assert_eq!(a.line1.as_deref(), Some("Jl. Merdeka 1"));
        assert_eq!(a.city.as_deref(), Some("Bandung"));
        assert_eq!(a.country.as_deref(), Some("sg"));
        // An address country column wins; a customer country that is no code is not taken.
        let a = row(&[("Alamat", "x"), ("Negara", "MY"), ("address.country", "ID")]).unwrap();
        assert_eq!(a.country.as_deref(), Some("ID"));
        let a = row(&[("Alamat", "x"), ("Negara", "Indonesia")]).unwrap();
        assert_eq!(a.country, None);
    }

    #[test]
    fn a_new_address_is_checked_and_named_by_its_column() {
        let by = UserId::parse("u").unwrap();
        let bad_country = row(&[("Alamat", "a"), ("Kota", "b"), ("address.country", "XX")]);
        let e = apply_address(&bad_country.unwrap(), None, 0, &ctx(&by), Uuid::nil).unwrap_err();
        assert_eq!(
            fields(e),
            [("address.country".to_owned(), "invalid_country")]
        );
        let good = row(&[("Alamat", "Jl. Merdeka 1"), ("Kota", "Bandung")]).unwrap();
        let e = apply_address(
            &good,
            None,
            MAX_ADDRESSES_PER_CUSTOMER,
            &ctx(&by),
            Uuid::nil,
        )
        .unwrap_err();
        assert_eq!(fields(e), [("address".to_owned(), "too_many")]);
        let AddressChange::Insert(a) =
            apply_address(&good, None, 3, &ctx(&by), || Uuid::from_u128(9)).unwrap()
        else {
            panic!("an insert")
        };
        assert!(a.is_default);
        assert_eq!(a.fields.address_type, AddressType::Billing);
        assert_eq!(a.fields.country.as_str(), "ID");
        assert_eq!(a.id, AddressId(Uuid::from_u128(9)));
        assert_eq!(a.version, 1);
    }

    #[test]
    fn a_new_address_without_street_or_city_is_incomplete_not_an_error() {
        let by = UserId::parse("u").unwrap();
        let warned = |cells: &[(&str, &str)]| {
            let input = row(cells).unwrap();
            match apply_address(&input, None, 0, &ctx(&by), Uuid::nil) {
                Ok(AddressChange::Incomplete(w)) => fields(w),
                other => panic!("incomplete: {other:?}"),
            }
        };
        // Issue 12: a city column and no street.
        assert_eq!(
            warned(&[("Kota", "Jakarta")]),
            [("address.line1".to_owned(), "required")]
        );
        assert_eq!(
            warned(&[("Alamat", "Jl. Merdeka 1")]),
            [("address.city".to_owned(), "required")]
        );
        assert_eq!(
            warned(&[("Kode Pos", "40111")]),
            [
                ("address.line1".to_owned(), "required"),
                ("address.city".to_owned(), "required"),
            ]
        );
        // Even at the address limit, or with a bad country: nothing of it is stored.
        let input = row(&[("Kota", "Jakarta"), ("address.country", "XX")]).unwrap();
        let change = apply_address(
            &input,
            None,
            MAX_ADDRESSES_PER_CUSTOMER,
            &ctx(&by),
            Uuid::nil,
        );
        assert!(
            matches!(change, Ok(AddressChange::Incomplete(_))),
            "{change:?}"
        );
        // Nothing is kept.
        let mut list = Vec::new();
        assert!(!keep_change(
            &mut list,
            Some(AddressChange::Incomplete(Vec::new())),
            true
        ));
        assert!(list.is_empty());
    }

    #[test]
    fn an_update_puts_the_cells_over_the_stored_default_field_by_field() {
        let by = UserId::parse("u").unwrap();
        let full = row(&[
            ("Alamat", "Jl. Merdeka 1"),
            ("Kota", "Bandung"),
            ("Kode Pos", "40111"),
        ])
        .unwrap();
        let AddressChange::Insert(stored) =
            apply_address(&full, None, 0, &ctx(&by), || Uuid::from_u128(9)).unwrap()
        else {
            panic!("an insert")
        };
        // The same cells change nothing.
        assert_eq!(
            apply_address(&full, Some(&stored), 1, &ctx(&by), Uuid::nil).unwrap(),
            AddressChange::Unchanged
        );
        // Only the city: the rest stays, at the next version, even at the address limit.
        let city = row(&[("Kota", "Jakarta")]).unwrap();
        let change = apply_address(
            &city,
            Some(&stored),
            MAX_ADDRESSES_PER_CUSTOMER,
            &ctx(&by),
            Uuid::nil,
        )
        .unwrap();
        let AddressChange::Update(a, expected) = change else {
            panic!("an update")
        };
        assert_eq!(expected, 1);
        assert_eq!(a.version, 2);
        assert_eq!(a.id, stored.id);
        assert_eq!(a.fields.city, "Jakarta");
        assert_eq!(a.fields.line1, "Jl. Merdeka 1");
        assert_eq!(a.fields.postal_code.as_deref(), Some("40111"));
        let mut list = vec![stored.clone()];
        assert!(keep_change(
            &mut list,
            Some(AddressChange::Update(a, 1)),
            false
        ));
        assert_eq!(list[0].version, 1);
        assert_eq!(default_billing(&list).unwrap().fields.city, "Jakarta");
    }
}
