//! The optional address columns of a customer list export: the customer's default `billing`
//! and `shipping` addresses, flattened (`billing_address_line1`, `billing_city`, ...,
//! `shipping_country`). None is in the default columns; a customers import reads the
//! `billing_*` ones back as the default billing address.

use crate::address::{Address, AddressType};

/// Every address column of a customer export, in their order: for the default billing
/// address, then the default shipping address, `<type>_address_line1`,
/// `<type>_address_line2`, `<type>_district`, `<type>_city`, `<type>_region` (province,
/// state), `<type>_postal_code`, `<type>_country` (ISO 3166-1 alpha-2). A cell is empty when
/// the customer has no default address of that type, or the address no such value.
pub const ADDRESS_COLUMNS: &[&str] = &[
    "billing_address_line1",
    "billing_address_line2",
    "billing_district",
    "billing_city",
    "billing_region",
    "billing_postal_code",
    "billing_country",
    "shipping_address_line1",
    "shipping_address_line2",
    "shipping_district",
    "shipping_city",
    "shipping_region",
    "shipping_postal_code",
    "shipping_country",
];

/// Whether `column` is one of [`ADDRESS_COLUMNS`].
pub fn is_address_column(column: &str) -> bool {
    ADDRESS_COLUMNS.contains(&column)
}

/// The cell of address column `column` for a customer whose default addresses are
/// `defaults`: `None` when `column` is not an address column, else the value (empty when the
/// customer has no default address of the column's type).
pub fn address_cell(column: &str, defaults: &[Address]) -> Option<String> {
    if !is_address_column(column) {
        return None;
    }
    let (address_type, field) = match column.split_once('_') {
        Some(("billing", field)) => (AddressType::Billing, field),
        Some(("shipping", field)) => (AddressType::Shipping, field),
        _ => return None,
    };
    let Some(a) = defaults
        .iter()
        .find(|a| a.is_default && a.fields.address_type == address_type)
    else {
        return Some(String::new());
    };
    let f = &a.fields;
    let value = match field {
        "address_line1" => Some(f.line1.as_str()),
        "address_line2" => f.line2.as_deref(),
        "district" => f.district.as_deref(),
        "city" => Some(f.city.as_str()),
        "region" => f.region.as_deref(),
        "postal_code" => f.postal_code.as_deref(),
        "country" => Some(f.country.as_str()),
        _ => None,
    };
    Some(value.unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;
    use crate::address::{AddressFields, AddressId};
    use crate::ids::{CustomerId, TenantId};
    use crate::values::CountryCode;

    fn address(address_type: AddressType, city: &str, is_default: bool) -> Address {
        Address {
            id: AddressId(Uuid::from_u128(1)),
            tenant_id: TenantId(Uuid::from_u128(2)),
            customer_id: CustomerId(Uuid::from_u128(3)),
            fields: AddressFields {
                address_type,
                label: None,
                recipient_name: None,
                phone: None,
                line1: "Jl. Merdeka 1".into(),
                line2: None,
                district: Some("Sumur Bandung".into()),
                city: city.into(),
                region: None,
                postal_code: Some("40111".into()),
                country: CountryCode::parse("ID").unwrap(),
                position: None,
                delivery_notes: None,
            },
            is_default,
            created_by: None,
            updated_by: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            version: 1,
        }
    }

    #[test]
    fn address_cells_read_the_default_of_their_type() {
        let defaults = [
            address(AddressType::Billing, "Bandung", true),
            address(AddressType::Shipping, "Cimahi", true),
        ];
        let cell = |c: &str| address_cell(c, &defaults);
        assert_eq!(cell("name"), None);
        assert_eq!(
            cell("billing_address_line1").as_deref(),
            Some("Jl. Merdeka 1")
        );
        assert_eq!(cell("billing_address_line2").as_deref(), Some(""));
        assert_eq!(cell("billing_district").as_deref(), Some("Sumur Bandung"));
        assert_eq!(cell("billing_city").as_deref(), Some("Bandung"));
        assert_eq!(cell("billing_region").as_deref(), Some(""));
        assert_eq!(cell("billing_postal_code").as_deref(), Some("40111"));
        assert_eq!(cell("billing_country").as_deref(), Some("ID"));
        assert_eq!(cell("shipping_city").as_deref(), Some("Cimahi"));
        // No default of the type: empty cells.
        let only_shipping = [address(AddressType::Shipping, "Cimahi", true)];
        assert_eq!(
            address_cell("billing_city", &only_shipping).as_deref(),
            Some("")
        );
        assert_eq!(
            address_cell("billing_city", &[address(AddressType::Billing, "X", false)]).as_deref(),
            Some("")
        );
        // Every column reads something for a customer with both defaults.
        for c in ADDRESS_COLUMNS {
            assert!(cell(c).is_some(), "{c}");
        }
    }
}
