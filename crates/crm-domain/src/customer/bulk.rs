//! Bulk actions on many customers, all or nothing.

use std::collections::BTreeSet;

use super::filter::Filter;
use super::model::{Customer, CustomerStatus};
use crate::error::{DomainError, FieldError};
use crate::ids::{CustomerId, UserId};

/// Most ids in one request.
pub const MAX_BULK_IDS: usize = 1000;

/// Which customers a bulk action applies to.
#[derive(Debug, Clone, PartialEq)]
pub enum BulkTarget {
    /// These live customers (1..=1000); an id that is not a live customer of the tenant fails
    /// the whole request.
    Ids(Vec<CustomerId>),
    /// Every live customer the filter matches.
    Filter(Filter),
}

/// What to do to each customer.
#[derive(Debug, Clone, PartialEq)]
pub enum BulkAction {
    /// Set the status; the second field is the `status_reason`, required (`action.status_reason`)
    /// for `inactive`, `blocked` and `archived` and carried by each `customer.status_changed`
    /// event.
    UpdateStatus(CustomerStatus, Option<String>),
    /// Add tags (trimmed, lower-cased).
    AddTags(Vec<String>),
    /// Remove tags.
    RemoveTags(Vec<String>),
    /// Set (or clear) the owner.
    Assign(Option<UserId>),
    /// Set the VIP flag.
    SetVip(bool),
    /// Soft-delete (refused, for all, if any customer has open orders).
    Delete,
}

/// Counts of a bulk action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BulkResult {
    /// Customers the target matched.
    pub matched: u64,
    /// Customers that changed (the others already were as asked).
    pub updated: u64,
}

impl BulkAction {
    /// Checks the action's own values (tags, the status reason) and normalises them.
    ///
    /// # Errors
    /// A field error naming `action.tags[i]`, or `action.status_reason` (required for a status
    /// that needs one, at most 500 characters).
    pub fn validated(self) -> Result<Self, DomainError> {
        let norm = |tags: Vec<String>| -> Result<Vec<String>, DomainError> {
            if tags.is_empty() || tags.len() > super::MAX_TAGS {
                return Err(DomainError::invalid(
                    "action.tags",
                    "out_of_range",
                    "1..=50 tags",
                ));
            }
            tags.into_iter()
                .enumerate()
                .map(|(i, t)| {
                    let t = t.trim().to_lowercase();
                    if t.is_empty() || t.chars().count() > super::MAX_TAG_CHARS {
                        Err(DomainError::invalid(
                            format!("action.tags[{i}]"),
                            "invalid",
                            "1..=50 characters",
                        ))
                    } else {
                        crate::values::check_text(
                            &format!("action.tags[{i}]"),
                            &t,
                            crate::values::TextKind::SingleLine,
                        )
                        .map_err(|e| DomainError::Validation(vec![e]))?;
                        Ok(t)
                    }
                })
                .collect()
        };
        Ok(match self {
            BulkAction::AddTags(t) => BulkAction::AddTags(norm(t)?),
            BulkAction::RemoveTags(t) => BulkAction::RemoveTags(norm(t)?),
            BulkAction::UpdateStatus(status, reason) => {
                // Judged as a change from another status: customers already in `status` do
                // not change, the others need the reason.
                let reason = super::events::checked_status_reason(
                    "action.status_reason",
                    Some(if status == CustomerStatus::Active {
                        CustomerStatus::Inactive
                    } else {
                        CustomerStatus::Active
                    }),
                    status,
                    reason.as_deref(),
                )?;
                BulkAction::UpdateStatus(status, reason)
            }
            other => other,
        })
    }

    /// Applies the action to one customer; returns whether anything changed. An erased
    /// customer's profile does not change (it counts as matched, not updated); it can still be
    /// deleted.
    ///
    /// # Errors
    /// A validation error when the customer would end up with more than 50 tags.
    pub fn apply(
        &self,
        c: &mut Customer,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, DomainError> {
        if c.erased_at.is_some() && *self != BulkAction::Delete {
            return Ok(false);
        }
        let p = &mut c.profile;
        Ok(match self {
            BulkAction::UpdateStatus(s, _) => std::mem::replace(&mut p.status, *s) != *s,
            BulkAction::SetVip(v) => std::mem::replace(&mut p.is_vip, *v) != *v,
            BulkAction::Assign(u) => std::mem::replace(&mut p.assigned_to, u.clone()) != *u,
            BulkAction::AddTags(tags) => {
                let before = p.tags.len();
                p.tags.extend(tags.iter().cloned());
                if p.tags.len() > super::MAX_TAGS {
                    return Err(DomainError::Validation(vec![FieldError::new(
                        "action.tags",
                        "too_many",
                        format!(
                            "customer {} would have more than {} tags",
                            c.id,
                            super::MAX_TAGS
                        ),
                    )]));
                }
                p.tags.len() != before
            }
            BulkAction::RemoveTags(tags) => {
                let remove: BTreeSet<&String> = tags.iter().collect();
                let before = p.tags.len();
                p.tags.retain(|t| !remove.contains(t));
                p.tags.len() != before
            }
            BulkAction::Delete => {
                c.deleted_at = Some(now);
                true
            }
        })
    }
}
