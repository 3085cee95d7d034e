//! The model of an import: what a file holds ([`ImportKind`]) and the target fields a column of
//! each kind can be mapped to (the customer's come from [`crate::customer::CUSTOMER_FIELDS`]).

use serde::{Deserialize, Serialize};

use crate::job::JobKind;

string_enum!(
    /// What an import file holds.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    ImportKind {
        /// One customer per row.
        Customers => "customers",
        /// One order per row, naming its customer.
        Orders => "orders",
    }
);

impl ImportKind {
    /// The kind of the job that imports it.
    pub fn job_kind(self) -> JobKind {
        match self {
            ImportKind::Customers => JobKind::ImportCustomers,
            ImportKind::Orders => JobKind::ImportOrders,
        }
    }
}

/// The customer API's writable fields ([`crate::customer::CUSTOMER_FIELDS`]): the targets of
/// a customers file that are fields of the customer itself.
pub(super) const CUSTOMER_TARGETS: &[&str] = crate::customer::IMPORT_TARGETS;

/// The targets of a customers file that write the customer's default `billing` address
/// (see [`crate::import::address_row`]): `address.<field>` of the address API.
pub const ADDRESS_TARGETS: &[&str] = &[
    "address.line1",
    "address.line2",
    "address.district",
    "address.city",
    "address.region",
    "address.postal_code",
    "address.country",
];

/// The targets of a customers file that write the customer's primary contact (see
/// [`crate::import::contact_row`]): `contact.<field>` of the contact API.
pub const CONTACT_TARGETS: &[&str] = &[
    "contact.name",
    "contact.email",
    "contact.phone",
    "contact.mobile_phone",
    "contact.job_title",
];

/// Every target of a customers file: [`CUSTOMER_TARGETS`], [`ADDRESS_TARGETS`], then
/// [`CONTACT_TARGETS`].
static ALL_CUSTOMER_TARGETS: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| {
        CUSTOMER_TARGETS
            .iter()
            .chain(ADDRESS_TARGETS)
            .chain(CONTACT_TARGETS)
            .copied()
            .collect()
    });

/// Fields of the customer API that an import does not write (a customer export has them). A
/// column named so is ignored when another column names exactly the target its name is an alias
/// of (see [`detect_mapping`]).
pub(super) const CUSTOMER_READ_ONLY: &[&str] = crate::customer::READ_ONLY_FIELDS;

/// Every target field of an orders file.
pub(super) const ORDER_TARGETS: &[&str] = &[
    "customer_external_ref",
    "customer_email",
    "customer_phone",
    "customer_name",
    "order_ref",
    "placed_at",
    "status",
    "total_amount",
    "currency",
    "quantity",
];

/// The customer columns of an orders file that identify the customer.
pub(super) const ORDER_CUSTOMER_KEYS: &[&str] =
    &["customer_external_ref", "customer_email", "customer_phone"];

/// The fields a column of a file of `kind` can be mapped to. Customers: every field of the
/// customer API (`tags` is one cell of tags separated by `,` or `;`; `metadata` a JSON object),
/// then the default billing address's [`ADDRESS_TARGETS`] (`address.line1`, `address.city`,
/// ...) and the primary contact's [`CONTACT_TARGETS`] (`contact.name`, `contact.email`, ...).
/// Orders: `customer_external_ref`, `customer_email`, `customer_phone`, `customer_name`,
/// `order_ref`, `placed_at`, `status`, `total_amount`, `currency`, `quantity`.
pub fn targets(kind: ImportKind) -> &'static [&'static str] {
    match kind {
        ImportKind::Customers => ALL_CUSTOMER_TARGETS.as_slice(),
        ImportKind::Orders => ORDER_TARGETS,
    }
}

/// What an import records with each batch, in the batch's own transaction (so a stopped
/// import's job never says more or less than what is stored): the job's progress (its
/// `result`: the last line committed and the counters) and the rows rejected since the previous
/// checkpoint.
///
/// Storage writes it only while the job is still `running`: a job a sweep failed meanwhile (its
/// lease ran out) refuses it with [`RepositoryError::Stale`](crate::RepositoryError::Stale),
/// and the batch with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportCheckpoint {
    /// The job, with its progress as `result` (only `result` is written).
    pub job: crate::job::Job,
    /// Rows rejected since the previous checkpoint, appended to the job's errors.
    pub errors: Vec<super::RowError>,
}
