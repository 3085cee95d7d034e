//! Storage port of the customer aggregate.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::{Customer, CustomerProfile, NewCustomer, UniqueField};
use crate::access::Visibility;
use crate::error::RepositoryError;
use crate::ids::{CustomerId, TenantId, UserId};

/// A client's `Idempotency-Key` and the fingerprint of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The key, 1..=255 visible ASCII characters, unique per tenant.
    pub key: String,
    /// A digest of the request body, to tell a replay from a reuse of the key.
    pub fingerprint: String,
}

/// A stored idempotency key: which customer its first request created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The key.
    pub key: String,
    /// Digest of the first request's body.
    pub fingerprint: String,
    /// The customer the first request created.
    pub customer_id: CustomerId,
    /// When the first request was served.
    pub created_at: DateTime<Utc>,
}

string_enum!(
    /// Fields the customer list sorts by; ties are always broken by id.
    SortField {
        /// Name (case-insensitive, by the lower-cased name's bytes on both backends).
        Name => "name",
        /// Creation time.
        CreatedAt => "created_at",
        /// Last change.
        UpdatedAt => "updated_at",
        /// Last completed order (customers without one last).
        LastOrderAt => "last_order_at",
        /// Total spent.
        TotalSpent => "total_spent",
        /// Completed orders.
        TotalOrders => "total_orders",
        /// Customer code.
        CustomerCode => "customer_code",
        /// Next follow-up (customers without one last).
        NextFollowUpAt => "next_follow_up_at",
        /// Search rank (only with a search text; see [`super::search`]).
        Relevance => "relevance",
        /// RFM scores read as the number `100·R + 10·F + M` (`545`); customers without scores
        /// count 0.
        RfmScore => "rfm_score",
        /// Great-circle distance of the customer's nearest address to the centre of the
        /// query's radius search (`address.near`; only with one), nearest first. Customers
        /// without a positioned address (matched by another group) sort last.
        Distance => "distance",
    }
);

/// One sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    /// Field.
    pub field: SortField,
    /// Descending (`-field` in the API).
    pub descending: bool,
}

impl SortKey {
    /// The default order: newest first.
    pub const NEWEST_FIRST: SortKey = SortKey {
        field: SortField::CreatedAt,
        descending: true,
    };

    /// Parses a sort spec: keys separated by commas, `-` for descending (`name,-created_at`).
    ///
    /// # Errors
    /// A message naming the unknown or repeated key.
    pub fn parse_list(spec: &str) -> Result<Vec<SortKey>, String> {
        let mut keys: Vec<SortKey> = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (descending, name) = part.strip_prefix('-').map_or((false, part), |n| (true, n));
            let field: SortField = name.parse()?;
            if keys.iter().any(|k| k.field == field) {
                return Err(format!("`{name}` appears twice"));
            }
            keys.push(SortKey { field, descending });
        }
        Ok(keys)
    }

    /// The spec form of keys (`name,-created_at`).
    pub fn spec(keys: &[SortKey]) -> String {
        keys.iter()
            .map(|k| format!("{}{}", if k.descending { "-" } else { "" }, k.field))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The value of one sort key in a row, as the keyset pagination compares it.
/// Serialises untagged (a number, a string or null); readers know each key's type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum SortValue {
    /// An integer (money in ten-thousandths, counts).
    Integer(i64),
    /// Text (the lower-cased name, the customer code).
    Text(String),
    /// An instant as microseconds since the epoch; `None` sorts after every value.
    Micros(Option<i64>),
    /// A real number as the bits of its IEEE 754 double (`f64::to_bits`), so positions keep
    /// exact equality: the distance key, read back from the database that sorted by it.
    Real(u64),
}

/// The last row of the previous page: its sort values (one per key) and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// Values of the sort keys, in order.
    pub values: Vec<SortValue>,
    /// Id (the final tie-breaker).
    pub id: CustomerId,
}

/// Which customers a query sees with respect to soft deletion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Deleted {
    /// Live customers only (default).
    #[default]
    Exclude,
    /// Live and deleted.
    Include,
    /// Deleted only.
    Only,
}

/// A customer query: filter, order and page.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerQuery {
    /// Which customers.
    pub filter: super::filter::Filter,
    /// Order; empty means newest first. Ties broken by id in the last key's direction.
    pub sort: Vec<SortKey>,
    /// Soft-deleted customers.
    pub deleted: Deleted,
    /// Rows wanted.
    pub limit: u32,
    /// Keyset: start after this row.
    pub after: Option<Position>,
    /// Page mode: skip this many rows (ignored with `after`).
    pub offset: Option<u64>,
    /// The time relative conditions (`follow_up_due`) were evaluated at.
    pub now: DateTime<Utc>,
    /// Free-text search; with it, the default order is by relevance.
    pub search: Option<super::search::SearchText>,
}

impl CustomerQuery {
    /// The effective sort keys.
    pub fn sort_keys(&self) -> Vec<SortKey> {
        match (self.sort.is_empty(), self.search.is_some()) {
            (false, _) => self.sort.clone(),
            (true, true) => vec![SortKey {
                field: SortField::Relevance,
                descending: true,
            }],
            (true, false) => vec![SortKey::NEWEST_FIRST],
        }
    }

    /// The position of `c` under this query's order (for the next page's cursor).
    pub fn position_of(&self, c: &Customer) -> Position {
        let micros = |t: Option<DateTime<Utc>>| SortValue::Micros(t.map(|t| t.timestamp_micros()));
        let values = self
            .sort_keys()
            .iter()
            .map(|k| match k.field {
                SortField::Name => SortValue::Text(sort_name(&c.profile.name)),
                SortField::CreatedAt => micros(Some(c.created_at)),
                SortField::UpdatedAt => micros(Some(c.updated_at)),
                SortField::LastOrderAt => micros(c.stats.last_order_at),
                SortField::TotalSpent => SortValue::Integer(c.stats.total_spent.to_scaled()),
                SortField::TotalOrders => SortValue::Integer(c.stats.total_orders),
                SortField::CustomerCode => SortValue::Text(c.customer_code.clone()),
                SortField::NextFollowUpAt => micros(c.profile.next_follow_up_at),
                SortField::RfmScore => SortValue::Integer(c.rfm.as_ref().map_or(0, |r| {
                    i64::from(r.r) * 100 + i64::from(r.f) * 10 + i64::from(r.m)
                })),
                // Computed by the database (`CustomerRepository::distance_key`); the service
                // puts it in before a cursor is issued.
                SortField::Distance => SortValue::Real(0),
                SortField::Relevance => SortValue::Integer(self.search.as_ref().map_or(0, |q| {
                    q.rank(
                        &super::search::search_document(&c.profile, &c.customer_code),
                        &sort_name(&c.profile.name),
                    )
                    // Every listed row matched: one matching through its contacts or
                    // addresses only ranks 1, as the storage ranks it.
                    .unwrap_or(1)
                })),
            })
            .collect();
        Position { values, id: c.id }
    }
}

/// The live customer with this id in this tenant, from any [`CustomerRepository`].
///
/// # Errors
/// [`crate::DomainError::NotFound`] when absent, deleted or another tenant's; storage errors.
pub async fn load_live(
    repo: &dyn CustomerRepository,
    tenant: TenantId,
    id: CustomerId,
) -> Result<Customer, crate::DomainError> {
    repo.find(tenant, id, false)
        .await?
        .ok_or(crate::DomainError::NotFound { entity: "customer" })
}

/// The live customer with this id in this tenant, if `visibility` reaches it: a customer
/// assigned to someone else, for a caller restricted to their own ([`Visibility::AssignedTo`]),
/// is not found, exactly as another tenant's is.
///
/// # Errors
/// [`crate::DomainError::NotFound`] when absent, deleted, another tenant's or outside
/// `visibility`; storage errors.
pub async fn load_visible(
    repo: &dyn CustomerRepository,
    tenant: TenantId,
    visibility: &Visibility,
    id: CustomerId,
) -> Result<Customer, crate::DomainError> {
    repo.find(tenant, id, false)
        .await?
        .filter(|c| visibility.allows(c.profile.assigned_to.as_ref()))
        .ok_or(crate::DomainError::NotFound { entity: "customer" })
}

/// The parts of a customer that other contexts keep and its answer shows: its default billing
/// and shipping addresses (at most one of each) and its primary contact.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerParts {
    /// The default addresses of the types `billing` and `shipping`.
    pub default_addresses: Vec<crate::address::Address>,
    /// The primary contact, if it has contacts.
    pub primary_contact: Option<crate::contact::Contact>,
}

/// The key the name sorts by: the lower-cased name. Stored beside the name so both backends
/// compare the same bytes.
pub fn sort_name(name: &str) -> String {
    name.to_lowercase()
}

/// Aggregates of the customers a query matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerAggregates {
    /// Matching customers.
    pub count: u64,
    /// Counts by status.
    pub by_status: Vec<(String, u64)>,
    /// Counts by customer type.
    pub by_type: Vec<(String, u64)>,
    /// Counts by stage.
    pub by_stage: Vec<(String, u64)>,
    /// Counts by tier (`None`: no tier).
    pub by_tier: Vec<(Option<crate::ids::TierId>, u64)>,
    /// VIP customers.
    pub vip: u64,
    /// Created at or after `month_start`.
    pub new_this_month: u64,
    /// Created in `[last_month_start, month_start)`.
    pub new_last_month: u64,
    /// Per currency: customers and Σ total_spent (amounts of different currencies never add
    /// up), exact however many customers reach the largest amount.
    pub by_currency: Vec<(String, u64, crate::values::AmountTotal)>,
    /// Σ total_orders.
    pub total_orders: u64,
}

/// A new version of a customer's profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileUpdate {
    /// Tenant of the customer.
    pub tenant_id: TenantId,
    /// The customer.
    pub id: CustomerId,
    /// The whole new profile.
    pub profile: CustomerProfile,
    /// Who changes it.
    pub updated_by: Option<UserId>,
    /// When.
    pub updated_at: DateTime<Utc>,
    /// The version the change is based on; the write happens only if it is still current.
    pub expected_version: i64,
    /// Events appended in the write's transaction (`customer.updated`, `customer.status_changed`,
    /// and those of `members`' writes).
    pub events: Vec<crate::event::NewEvent>,
    /// Writes to the customer's addresses and contacts in the same transaction (a replace with
    /// nested members); empty for a plain profile update.
    pub members: MemberChanges,
}

/// Writes to a customer's addresses and contacts that go with a [`ProfileUpdate`], in its
/// transaction: removals first, then updates that unset a default (primary), then the other
/// updates, then additions, so the database's "one default per type" and "one primary"
/// indexes never see two at once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberChanges {
    /// Address writes.
    pub addresses: crate::address::AddressChanges,
    /// Contact writes.
    pub contacts: crate::contact::ContactChanges,
}

/// A soft delete (`deleted_at` set) or restore (`deleted_at` cleared).
#[derive(Debug, Clone, PartialEq)]
pub struct DeletionChange {
    /// Tenant of the customer.
    pub tenant_id: TenantId,
    /// The customer.
    pub id: CustomerId,
    /// The new `deleted_at`.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Who does it.
    pub updated_by: Option<UserId>,
    /// When.
    pub updated_at: DateTime<Utc>,
    /// The version the change is based on.
    pub expected_version: i64,
    /// Events appended in the write's transaction (`customer.deleted`, `customer.restored`).
    pub events: Vec<crate::event::NewEvent>,
}

/// One transaction over many customers (bulk actions): read matching customers in id order,
/// locked, and write them back. Dropping it without [`CustomerBatch::commit`] rolls back.
///
/// # Errors
/// As [`RepositoryError`].
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait CustomerBatch: Send {
    /// Up to `limit` live customers of the tenant inside `visibility` matching `filter` (and
    /// `ids`, when given), with id greater than `after`, in id order.
    async fn next(
        &mut self,
        tenant: TenantId,
        visibility: &Visibility,
        filter: &super::filter::Filter,
        ids: Option<Vec<CustomerId>>,
        after: Option<CustomerId>,
        limit: u32,
    ) -> Result<Vec<Customer>, RepositoryError>;
    /// Writes the customer's profile (and tags), `deleted_at`, `updated_by` and `updated_at`
    /// if its stored version is still `customer.version` (the one read, locked, by
    /// [`CustomerBatch::next`]), incrementing the version.
    ///
    /// # Errors
    /// [`RepositoryError::Stale`] when the stored version moved on (or the row is gone).
    async fn save(&mut self, customer: &Customer) -> Result<(), RepositoryError>;
    /// Stores new customers of `tenant` with multi-row inserts (numbers and codes taken in the
    /// order given, tags, search terms and their `addresses` and `contacts` written): the bulk path of
    /// imports.
    async fn insert(
        &mut self,
        tenant: TenantId,
        customers: &[NewCustomer],
    ) -> Result<(), RepositoryError>;
    /// Every address of these customers (of `tenant`), oldest first: read after
    /// [`CustomerBatch::next`] locked the customers, so no other writer changes them.
    async fn addresses_of(
        &mut self,
        tenant: TenantId,
        ids: Vec<CustomerId>,
    ) -> Result<Vec<crate::address::Address>, RepositoryError>;
    /// Stores a new address of a customer (an import's default billing address).
    async fn insert_address(
        &mut self,
        address: &crate::address::Address,
    ) -> Result<(), RepositoryError>;
    /// Writes `address`'s fields, `updated_by`, `updated_at` and `version` over the stored
    /// row if its version is still `expected_version`.
    ///
    /// # Errors
    /// [`RepositoryError::Stale`] when the stored version moved on or the row is gone.
    async fn update_address(
        &mut self,
        address: &crate::address::Address,
        expected_version: i64,
    ) -> Result<(), RepositoryError>;
    /// Every contact of these customers (of `tenant`), oldest first: read after
    /// [`CustomerBatch::next`] locked the customers, so no other writer changes them.
    async fn contacts_of(
        &mut self,
        tenant: TenantId,
        ids: Vec<CustomerId>,
    ) -> Result<Vec<crate::contact::Contact>, RepositoryError>;
    /// Stores a new contact of a customer (an import's primary contact).
    async fn insert_contact(
        &mut self,
        contact: &crate::contact::Contact,
    ) -> Result<(), RepositoryError>;
    /// Writes `contact`'s details, `updated_by`, `updated_at` and `version` over the stored
    /// row if its stored version is still `contact.version - 1`.
    ///
    /// # Errors
    /// [`RepositoryError::Stale`] when the stored version moved on or the row is gone;
    /// [`RepositoryError::Conflict`] when its e-mail is another contact's of the customer.
    async fn update_contact(
        &mut self,
        contact: &crate::contact::Contact,
    ) -> Result<(), RepositoryError>;
    /// `(customer, order_ref)` of open orders (pending, or completed and unpaid) of these
    /// customers, at most 10.
    async fn open_orders(
        &mut self,
        tenant: TenantId,
        ids: Vec<CustomerId>,
    ) -> Result<Vec<(CustomerId, String)>, RepositoryError>;
    /// Records an import's checkpoint (its job's progress and rejected rows) in this
    /// transaction, so it commits with the batch's rows or not at all.
    ///
    /// # Errors
    /// [`RepositoryError::Stale`] when the job is no longer `running` (a sweep failed it).
    async fn record_checkpoint(
        &mut self,
        checkpoint: &crate::import::ImportCheckpoint,
    ) -> Result<(), RepositoryError>;
    /// Starts a savepoint: [`CustomerBatch::rollback_to_savepoint`] then undoes the writes
    /// made since (a failed one included) and leaves the transaction usable. One at a time:
    /// end it with [`CustomerBatch::release_savepoint`] or the rollback.
    async fn savepoint(&mut self) -> Result<(), RepositoryError>;
    /// Keeps the writes made since the savepoint and ends it.
    async fn release_savepoint(&mut self) -> Result<(), RepositoryError>;
    /// Undoes the writes made since the savepoint and ends it.
    async fn rollback_to_savepoint(&mut self) -> Result<(), RepositoryError>;
    /// Appends events to the event log in this transaction with multi-row inserts (they
    /// commit with the batch's writes, and a savepoint rollback takes them back too).
    async fn append_events(
        &mut self,
        events: &[crate::event::NewEvent],
    ) -> Result<(), RepositoryError>;
    /// Makes every write durable.
    async fn commit(self: Box<Self>) -> Result<(), RepositoryError>;
}

/// Storage of customers. Every method is scoped to one tenant: a customer of another tenant is
/// never read, counted or changed. The query methods (`list`, `count`, `aggregates`) also take
/// the caller's [`Visibility`], which they AND with the tenant condition: with
/// [`Visibility::AssignedTo`] only customers whose `assigned_to` equals that user id (exactly)
/// are read or counted.
///
/// # Errors
/// Implementations MUST return [`RepositoryError::Conflict`] naming the API field (`email`,
/// `phone`, `mobile_phone`, `external_ref`, or `idempotency_key`) on a per-tenant unique
/// violation, [`RepositoryError::Stale`] when a conditional write finds another version (or no
/// row), and [`RepositoryError::Unavailable`] when the database cannot be reached. A failed
/// write leaves nothing behind.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait CustomerRepository: Send + Sync {
    /// Stores a new customer in one transaction: takes the tenant's next `customer_number` and
    /// the next sequence of the creation year for `customer_code` (see
    /// [`customer_code`](super::customer_code)), writes the row and its tags, and, when given,
    /// the idempotency record, and appends `events` (`customer.created` and those of its
    /// nested parts). Returns the stored customer with version 1.
    async fn create(
        &self,
        customer: NewCustomer,
        idempotency: Option<IdempotencyRecord>,
        events: Vec<crate::event::NewEvent>,
    ) -> Result<Customer, RepositoryError>;

    /// The customer with this id in this tenant; deleted ones only when `include_deleted`.
    async fn find(
        &self,
        tenant: TenantId,
        id: CustomerId,
        include_deleted: bool,
    ) -> Result<Option<Customer>, RepositoryError>;

    /// The live (not deleted) customer of this tenant whose `field` equals `value`.
    async fn find_by_unique(
        &self,
        tenant: TenantId,
        field: UniqueField,
        value: &str,
    ) -> Result<Option<CustomerId>, RepositoryError>;

    /// The live customers of this tenant whose `field` is one of `values` (exact stored values:
    /// lower-cased e-mails, E.164 phones), by the field's unique index.
    async fn find_many_by_unique(
        &self,
        tenant: TenantId,
        field: UniqueField,
        values: Vec<String>,
    ) -> Result<Vec<Customer>, RepositoryError>;

    /// Replaces a live customer's profile if its version is still `expected_version`,
    /// incrementing the version, and applies `update.members` in the same transaction
    /// ([`RepositoryError::Stale`] when a member to update or remove moved on or is gone).
    /// Returns the stored customer.
    async fn update_profile(&self, update: ProfileUpdate) -> Result<Customer, RepositoryError>;

    /// A customer (of `tenant`, not deleted) with the parts its answer shows, read together
    /// (one read transaction on PostgreSQL instead of one per part): `None` when there is no
    /// such customer.
    async fn find_with_parts(
        &self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Option<(Customer, CustomerParts)>, RepositoryError>;

    /// Every address and every contact of the customer (of `tenant`), oldest first (by creation
    /// time, then id): what a replace with nested members merges its sets with.
    async fn members(
        &self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<(Vec<crate::address::Address>, Vec<crate::contact::Contact>), RepositoryError>;

    /// Sets or clears `deleted_at` if the version is still `expected_version`, incrementing the
    /// version. Returns the stored customer.
    ///
    /// A deletion is refused with [`RepositoryError::Conflict`] on `orders` when the customer
    /// has open orders (pending, or completed and unpaid), checked in the same transaction under
    /// the customer's lock, the lock order placement takes: a delete and a concurrent order
    /// serialise, so no order is left behind a deleted customer.
    async fn set_deleted(&self, change: DeletionChange) -> Result<Customer, RepositoryError>;

    /// The idempotency record of this key in this tenant.
    async fn find_idempotency(
        &self,
        tenant: TenantId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, RepositoryError>;

    /// Refs of up to `limit` open orders of the customer (pending, or completed and unpaid).
    async fn open_order_refs(
        &self,
        tenant: TenantId,
        id: CustomerId,
        limit: u32,
    ) -> Result<Vec<String>, RepositoryError>;

    /// Up to `query.limit` customers inside `visibility` matching the query, in its order, after
    /// its position (or skipping `offset`).
    async fn list(
        &self,
        tenant: TenantId,
        visibility: &Visibility,
        query: &CustomerQuery,
    ) -> Result<Vec<Customer>, RepositoryError>;

    /// Counts and sums over the customers inside `visibility` matching the query's filter,
    /// search and deletion mode.
    async fn aggregates(
        &self,
        tenant: TenantId,
        visibility: &Visibility,
        query: &CustomerQuery,
        month_start: DateTime<Utc>,
        last_month_start: DateTime<Utc>,
    ) -> Result<CustomerAggregates, RepositoryError>;

    /// Starts a bulk transaction over `tenant`'s customers (on PostgreSQL the row-level
    /// security wall admits no other tenant's rows in it).
    async fn begin_batch(
        &self,
        tenant: TenantId,
    ) -> Result<Box<dyn CustomerBatch>, RepositoryError>;

    /// The value the list sorts `id` by for [`SortField::Distance`] under `query` (the
    /// database's own expression, so a cursor compares exactly): `0 - max(unit · centre)` over
    /// the customer's positioned addresses, or 3 without one. `None` when the query has no
    /// radius search.
    async fn distance_key(
        &self,
        tenant: TenantId,
        id: CustomerId,
        query: &CustomerQuery,
    ) -> Result<Option<f64>, RepositoryError>;

    /// How many customers inside `visibility` match the query's filter, search and deletion mode
    /// (exact; position, offset and limit ignored).
    async fn count(
        &self,
        tenant: TenantId,
        visibility: &Visibility,
        query: &CustomerQuery,
    ) -> Result<u64, RepositoryError>;
}
