//! The segment context's storage port.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::events::DroppedMembers;
use super::model::Segment;
use crate::error::RepositoryError;
use crate::event::NewEvent;
use crate::ids::{CustomerId, SegmentId, TenantId};

/// Storage of segments and of manual segments' members.
///
/// # Errors
/// [`RepositoryError::Conflict`] on `name` when another segment of the tenant has it.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait SegmentRepository: Send + Sync {
    /// The tenant's segments by name.
    async fn list(&self, tenant: TenantId) -> Result<Vec<Segment>, RepositoryError>;
    /// One segment.
    async fn find(
        &self,
        tenant: TenantId,
        id: SegmentId,
    ) -> Result<Option<Segment>, RepositoryError>;
    /// Inserts or replaces a segment and appends `events` (its `segment.created` or
    /// `segment.updated`), in one transaction. A segment that is not manual has no stored
    /// members: those it had (it was manual) are deleted, and for each the `dropped` event
    /// ([`DroppedMembers::events`]) is appended in the same transaction, 1,000 members at a
    /// time.
    async fn save(
        &self,
        segment: &Segment,
        events: &[NewEvent],
        dropped: &DroppedMembers,
    ) -> Result<(), RepositoryError>;
    /// Deletes a segment and its members and appends `events` (its `segment.deleted`) and,
    /// for each member, its `dropped` event ([`DroppedMembers::events`], 1,000 members at a
    /// time), in one transaction.
    async fn delete(
        &self,
        tenant: TenantId,
        id: SegmentId,
        events: &[NewEvent],
        dropped: &DroppedMembers,
    ) -> Result<(), RepositoryError>;
    /// Adds live customers of the tenant to a manual segment (already members are kept), in one
    /// transaction; returns the ids that are not live customers of the tenant (nothing is
    /// added then). `events` holds one `segment.member_added` per customer of `customers`: in
    /// the same transaction it appends those of the customers it added (not of those that
    /// already were members), in the order given.
    async fn add_members(
        &self,
        tenant: TenantId,
        id: SegmentId,
        customers: Vec<CustomerId>,
        at: DateTime<Utc>,
        events: Vec<NewEvent>,
    ) -> Result<Vec<CustomerId>, RepositoryError>;
    /// Removes customers from a manual segment; returns how many were members. `events` holds
    /// one `segment.member_removed` per customer of `customers`: in the same transaction it
    /// appends those of the customers that were members.
    async fn remove_members(
        &self,
        tenant: TenantId,
        id: SegmentId,
        customers: Vec<CustomerId>,
        events: Vec<NewEvent>,
    ) -> Result<u64, RepositoryError>;
}
