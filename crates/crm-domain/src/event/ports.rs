//! The read side of the event log. Appending is part of each context's transaction port
//! (`append_events`), so an event commits with its change or not at all.

use async_trait::async_trait;

use super::model::{Event, EventFilter};
use crate::error::RepositoryError;
use crate::ids::TenantId;

/// Reads a tenant's event log. Every method is scoped to one tenant.
///
/// # Errors
/// As [`RepositoryError`].
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait EventRepository: Send + Sync {
    /// The tenant's events matching `filter`, newest first (by id), at most `limit`
    /// (at most [`super::MAX_EVENT_PAGE`]).
    async fn list(
        &self,
        tenant: TenantId,
        filter: EventFilter,
        limit: u64,
    ) -> Result<Vec<Event>, RepositoryError>;
}
