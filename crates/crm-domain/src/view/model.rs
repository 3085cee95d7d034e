//! The saved-view model: [`SavedView`] and [`ViewInput`].

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::customer::SortKey;
use crate::ids::{TenantId, UserId, ViewId};

/// Columns a view may show besides the filterable fields.
pub(super) const EXTRA_COLUMNS: &[&str] = &[
    "id",
    "average_order_value",
    "tier_id",
    "metadata",
    "notes",
    "internal_notes",
];

/// A saved view.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedView {
    /// Id.
    pub id: ViewId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Who saved it.
    pub owner: UserId,
    /// Name, 1..=100 characters.
    pub name: String,
    /// The filter, in the filter language (validated).
    pub filter: Value,
    /// Sort keys.
    pub sort: Vec<SortKey>,
    /// Columns to show, in order.
    pub columns: Vec<String>,
    /// Visible to everyone in the tenant (otherwise only to the owner).
    pub shared: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A view as submitted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ViewInput {
    /// 1..=100 characters.
    pub name: Option<String>,
    /// A filter in the filter language (absent: every customer).
    pub filter: Option<Value>,
    /// Sort spec keys (`name`, `-created_at`).
    pub sort: Option<Vec<String>>,
    /// Column names (customer fields), at most 50.
    pub columns: Option<Vec<String>>,
    /// Share with the tenant.
    pub shared: Option<bool>,
}
