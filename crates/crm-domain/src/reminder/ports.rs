//! Storage port of reminders.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::{DueFollowUp, OverdueOrder};
use crate::error::RepositoryError;
use crate::event::NewEvent;

/// One reminder transaction, across tenants (the scheduler's, never a request's). Dropping it
/// without [`ReminderTransaction::commit`] rolls back: the rows it took fire again later.
///
/// # Errors
/// As [`RepositoryError`].
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ReminderTransaction: Send {
    /// Takes up to `limit` open follow-ups with `due_at <= now` whose reminder has not fired
    /// for their current `due_at`, oldest due first, and marks them fired for it (PostgreSQL:
    /// rows `FOR UPDATE SKIP LOCKED`, so concurrent runs take disjoint rows).
    async fn take_due_follow_ups(
        &mut self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueFollowUp>, RepositoryError>;

    /// Takes up to `limit` completed, unpaid orders with `due_at < now` whose reminder has not
    /// fired for their current `due_at`, oldest due first, and marks them, as above.
    async fn take_overdue_orders(
        &mut self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OverdueOrder>, RepositoryError>;

    /// Appends events (of any tenants) in this transaction.
    async fn append_events(&mut self, events: &[NewEvent]) -> Result<(), RepositoryError>;

    /// Makes the marks and events durable together.
    async fn commit(self: Box<Self>) -> Result<(), RepositoryError>;
}

/// Starts reminder transactions.
///
/// # Errors
/// As [`RepositoryError`].
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ReminderRepository: Send + Sync {
    /// A cross-tenant write transaction.
    async fn begin(&self) -> Result<Box<dyn ReminderTransaction>, RepositoryError>;
}
