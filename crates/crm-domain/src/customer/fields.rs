//! The customer API's fields in one table, and the lists of them that other contexts use: the
//! targets of a customers import (the writable fields) and the columns of a customer export
//! (every exportable field, and the default ones in their own order). A field added to the API
//! is added here, once. The table also holds the export's columns that are not fields of the
//! customer record: one per consent purpose (`consent_marketing_email`, ...; see
//! [`crate::privacy::ConsentPurpose::export_column`]), and the primary contact's name, e-mail and
//! phone (`primary_contact_name`, ...; see [`crate::contact`]).

/// One field of the customer API: its name and what an import and an export do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerField {
    /// The field's JSON name, which is also a file's column header.
    pub name: &'static str,
    /// A customers import writes it (an import target); the others are kept by the server.
    pub writable: bool,
    /// A customer export can have it as a column.
    pub exportable: bool,
    /// Its place (from 0) among the columns of an export that names none, if it is one of them.
    pub default_column: Option<u8>,
    /// A field of the customer API's record (`false` for an export-only column).
    pub in_api: bool,
}

impl CustomerField {
    /// A field an import writes and an export can have.
    pub const fn writable(name: &'static str) -> Self {
        Self {
            name,
            writable: true,
            exportable: true,
            default_column: None,
            in_api: true,
        }
    }

    /// A field the server keeps (an import ignores it) and an export can have.
    pub const fn read_only(name: &'static str) -> Self {
        Self {
            name,
            writable: false,
            exportable: true,
            default_column: None,
            in_api: true,
        }
    }

    /// An export column that is not a field of the customer record (a consent purpose's
    /// current status): read-only for an import.
    pub const fn export_only(name: &'static str) -> Self {
        Self {
            name,
            writable: false,
            exportable: true,
            default_column: None,
            in_api: false,
        }
    }

    /// The same field, at place `at` of the default export columns.
    pub const fn default_column(self, at: u8) -> Self {
        Self {
            default_column: Some(at),
            ..self
        }
    }
}

/// Every field of the customer API, in its order (that of the customer response), then the
/// export-only columns.
pub const CUSTOMER_FIELDS: &[CustomerField] = &[
    CustomerField::read_only("id").default_column(0),
    CustomerField::read_only("customer_number").default_column(1),
    CustomerField::read_only("customer_code").default_column(2),
    CustomerField::writable("name").default_column(3),
    CustomerField::writable("display_name").default_column(4),
    CustomerField::writable("email").default_column(5),
    CustomerField::writable("phone").default_column(6),
    CustomerField::writable("mobile_phone").default_column(7),
    CustomerField::writable("customer_type").default_column(8),
    CustomerField::writable("company").default_column(9),
    CustomerField::writable("company_legal_name"),
    CustomerField::writable("tax_id"),
    CustomerField::writable("business_license"),
    CustomerField::writable("job_title").default_column(10),
    CustomerField::writable("website"),
    CustomerField::writable("industry").default_column(11),
    CustomerField::writable("company_size"),
    CustomerField::writable("annual_revenue"),
    CustomerField::writable("status").default_column(12),
    CustomerField::writable("stage").default_column(13),
    CustomerField::writable("source").default_column(14),
    CustomerField::writable("assigned_to").default_column(15),
    CustomerField::writable("currency").default_column(17),
    CustomerField::writable("country").default_column(18),
    CustomerField::writable("language"),
    CustomerField::writable("timezone"),
    CustomerField::writable("birth_date"),
    CustomerField::writable("gender"),
    CustomerField::writable("credit_limit"),
    CustomerField::writable("payment_terms_days"),
    CustomerField::writable("tags").default_column(16),
    CustomerField::writable("metadata"),
    CustomerField::writable("notes"),
    CustomerField::writable("internal_notes"),
    CustomerField::writable("is_vip").default_column(19),
    CustomerField::writable("is_blacklisted"),
    CustomerField::writable("blacklist_reason"),
    CustomerField::writable("referred_by"),
    CustomerField::writable("acquisition_cost"),
    CustomerField::writable("external_ref").default_column(25),
    CustomerField::read_only("total_orders").default_column(20),
    CustomerField::read_only("total_spent").default_column(21),
    CustomerField::read_only("average_order_value"),
    CustomerField::read_only("first_order_at"),
    CustomerField::read_only("last_order_at").default_column(22),
    CustomerField::writable("last_contact_at"),
    CustomerField::writable("next_follow_up_at"),
    CustomerField::read_only("created_by"),
    CustomerField::read_only("updated_by"),
    CustomerField::read_only("created_at").default_column(24),
    CustomerField::read_only("updated_at"),
    CustomerField::read_only("deleted_at"),
    CustomerField::read_only("erased_at"),
    CustomerField::read_only("erased_by"),
    CustomerField::writable("discount_percent"),
    CustomerField::read_only("tier_id"),
    CustomerField::read_only("tier_since"),
    CustomerField::read_only("loyalty_points").default_column(23),
    CustomerField::read_only("rfm"),
    CustomerField::read_only("version"),
    CustomerField::export_only("consent_marketing_email").default_column(26),
    CustomerField::export_only("consent_marketing_sms").default_column(27),
    CustomerField::export_only("consent_marketing_whatsapp").default_column(28),
    CustomerField::export_only("primary_contact_name"),
    CustomerField::export_only("primary_contact_email"),
    CustomerField::export_only("primary_contact_phone"),
];

/// The fields a customers import writes (its targets), in API order.
pub const IMPORT_TARGETS: &[&str] = &names::<{ count(Pick::Writable) }>(Pick::Writable);

/// The fields a customers import does not write (the server keeps them, or they are
/// export-only columns), in table order.
pub const READ_ONLY_FIELDS: &[&str] = &names::<{ count(Pick::ReadOnly) }>(Pick::ReadOnly);

/// Every column a customer export can have, in table order.
pub const EXPORT_COLUMNS: &[&str] = &names::<{ count(Pick::Exportable) }>(Pick::Exportable);

/// The columns of a customer export that names none, in their order.
pub const DEFAULT_EXPORT_COLUMNS: &[&str] = &default_columns::<{ count(Pick::Default) }>();

/// The fields of the customer API's record (the customer response), in its order.
pub const API_FIELDS: &[&str] = &names::<{ count(Pick::Api) }>(Pick::Api);

// The default columns are numbered 0, 1, 2, ... without a gap or a repeat, and exportable.
const _: () = assert!(
    defaults_are_numbered(),
    "CUSTOMER_FIELDS: default_column places must be 0..n, each once, on exportable fields"
);

/// Which fields a list takes.
#[derive(Clone, Copy)]
enum Pick {
    Writable,
    ReadOnly,
    Exportable,
    Default,
    Api,
}

const fn picks(field: &CustomerField, pick: Pick) -> bool {
    match pick {
        Pick::Writable => field.writable,
        Pick::ReadOnly => !field.writable,
        Pick::Exportable => field.exportable,
        Pick::Default => field.default_column.is_some(),
        Pick::Api => field.in_api,
    }
}

/// How many fields `pick` takes.
const fn count(pick: Pick) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < CUSTOMER_FIELDS.len() {
        if picks(&CUSTOMER_FIELDS[i], pick) {
            n += 1;
        }
        i += 1;
    }
    n
}

/// The names of the `N` fields `pick` takes, in table order.
const fn names<const N: usize>(pick: Pick) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    let mut j = 0;
    while i < CUSTOMER_FIELDS.len() {
        if picks(&CUSTOMER_FIELDS[i], pick) {
            out[j] = CUSTOMER_FIELDS[i].name;
            j += 1;
        }
        i += 1;
    }
    out
}

/// The field at place `at` of the default columns.
const fn default_at(at: usize) -> Option<&'static CustomerField> {
    let mut i = 0;
    while i < CUSTOMER_FIELDS.len() {
        if let Some(place) = CUSTOMER_FIELDS[i].default_column
            && place as usize == at
        {
            return Some(&CUSTOMER_FIELDS[i]);
        }
        i += 1;
    }
    None
}

/// The names of the `N` default columns, by place.
const fn default_columns<const N: usize>() -> [&'static str; N] {
    let mut out = [""; N];
    let mut at = 0;
    while at < N {
        if let Some(field) = default_at(at) {
            out[at] = field.name;
        }
        at += 1;
    }
    out
}

/// Whether the default columns' places are 0..n, each held by one exportable field.
const fn defaults_are_numbered() -> bool {
    let n = count(Pick::Default);
    let mut at = 0;
    while at < n {
        let mut holders = 0;
        let mut i = 0;
        while i < CUSTOMER_FIELDS.len() {
            if let Some(place) = CUSTOMER_FIELDS[i].default_column
                && place as usize == at
            {
                if !CUSTOMER_FIELDS[i].exportable {
                    return false;
                }
                holders += 1;
            }
            i += 1;
        }
        if holders != 1 {
            return false;
        }
        at += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    // Today's lists, written out: changing one is a deliberate edit here too.
    const TARGETS: &[&str] = &[
        "name",
        "display_name",
        "email",
        "phone",
        "mobile_phone",
        "customer_type",
        "company",
        "company_legal_name",
        "tax_id",
        "business_license",
        "job_title",
        "website",
        "industry",
        "company_size",
        "annual_revenue",
        "status",
        "stage",
        "source",
        "assigned_to",
        "currency",
        "country",
        "language",
        "timezone",
        "birth_date",
        "gender",
        "credit_limit",
        "payment_terms_days",
        "tags",
        "metadata",
        "notes",
        "internal_notes",
        "is_vip",
        "is_blacklisted",
        "blacklist_reason",
        "referred_by",
        "acquisition_cost",
        "external_ref",
        "last_contact_at",
        "next_follow_up_at",
        "discount_percent",
    ];
    const READ_ONLY: &[&str] = &[
        "id",
        "customer_number",
        "customer_code",
        "total_orders",
        "total_spent",
        "average_order_value",
        "first_order_at",
        "last_order_at",
        "created_by",
        "updated_by",
        "created_at",
        "updated_at",
        "deleted_at",
        "erased_at",
        "erased_by",
        "tier_id",
        "tier_since",
        "loyalty_points",
        "rfm",
        "version",
        "consent_marketing_email",
        "consent_marketing_sms",
        "consent_marketing_whatsapp",
        "primary_contact_name",
        "primary_contact_email",
        "primary_contact_phone",
    ];
    const COLUMNS: &[&str] = &[
        "id",
        "customer_number",
        "customer_code",
        "name",
        "display_name",
        "email",
        "phone",
        "mobile_phone",
        "customer_type",
        "company",
        "company_legal_name",
        "tax_id",
        "business_license",
        "job_title",
        "website",
        "industry",
        "company_size",
        "annual_revenue",
        "status",
        "stage",
        "source",
        "assigned_to",
        "currency",
        "country",
        "language",
        "timezone",
        "birth_date",
        "gender",
        "credit_limit",
        "payment_terms_days",
        "tags",
        "metadata",
        "notes",
        "internal_notes",
        "is_vip",
        "is_blacklisted",
        "blacklist_reason",
        "referred_by",
        "acquisition_cost",
        "external_ref",
        "total_orders",
        "total_spent",
        "average_order_value",
        "first_order_at",
        "last_order_at",
        "last_contact_at",
        "next_follow_up_at",
        "created_by",
        "updated_by",
        "created_at",
        "updated_at",
        "deleted_at",
        "erased_at",
        "erased_by",
        "discount_percent",
        "tier_id",
        "tier_since",
        "loyalty_points",
        "rfm",
        "version",
        "consent_marketing_email",
        "consent_marketing_sms",
        "consent_marketing_whatsapp",
        "primary_contact_name",
        "primary_contact_email",
        "primary_contact_phone",
    ];
    const DEFAULT: &[&str] = &[
        "id",
        "customer_number",
        "customer_code",
        "name",
        "display_name",
        "email",
        "phone",
        "mobile_phone",
        "customer_type",
        "company",
        "job_title",
        "industry",
        "status",
        "stage",
        "source",
        "assigned_to",
        "tags",
        "currency",
        "country",
        "is_vip",
        "total_orders",
        "total_spent",
        "last_order_at",
        "loyalty_points",
        "created_at",
        "external_ref",
        "consent_marketing_email",
        "consent_marketing_sms",
        "consent_marketing_whatsapp",
    ];

    #[test]
    fn the_import_targets_are_the_writable_fields_as_before() {
        assert_eq!(IMPORT_TARGETS, TARGETS);
        assert_eq!(READ_ONLY_FIELDS, READ_ONLY);
    }

    #[test]
    fn the_export_columns_are_every_field_and_the_default_ones_in_their_order() {
        assert_eq!(EXPORT_COLUMNS, COLUMNS);
        assert_eq!(DEFAULT_EXPORT_COLUMNS, DEFAULT);
        let consents: Vec<&str> = crate::privacy::ConsentPurpose::ALL
            .iter()
            .map(|p| p.export_column())
            .collect();
        // Then the export-only columns: consents, then the primary contact's.
        let n = COLUMNS.len();
        assert_eq!(&COLUMNS[n - 6..n - 3], consents.as_slice());
        assert_eq!(
            &COLUMNS[n - 3..],
            [
                "primary_contact_name",
                "primary_contact_email",
                "primary_contact_phone"
            ]
        );
        assert_eq!(API_FIELDS, &COLUMNS[..n - 6]);
    }

    #[test]
    fn every_field_is_named_once_and_is_a_target_or_read_only() {
        let mut names: Vec<&str> = CUSTOMER_FIELDS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CUSTOMER_FIELDS.len());
        assert_eq!(
            IMPORT_TARGETS.len() + READ_ONLY_FIELDS.len(),
            CUSTOMER_FIELDS.len()
        );
        assert!(IMPORT_TARGETS.iter().all(|t| !READ_ONLY_FIELDS.contains(t)));
    }

    #[test]
    fn a_default_column_is_placed_by_its_number_not_by_table_order() {
        assert!(defaults_are_numbered());
        // `tags` comes after `currency` in the API but before it in the default columns.
        assert_eq!(default_at(16).map(|f| f.name), Some("tags"));
        assert_eq!(default_at(DEFAULT.len()), None);
    }
}
