//! The events of segment writes (issue 13), appended in the write's transaction. Entity
//! `segment`, the segment's id.
//!
//! | type | customer | `data` |
//! | --- | --- | --- |
//! | `segment.created` / `segment.deleted` | no | `segment_id`, `name`, `type`, `description` |
//! | `segment.updated` | no | as above; changes of `name`, `description`, `type`, `rule` |
//! | `segment.member_added` / `segment.member_removed` | the member | `segment_id`, `segment_name`, `customer_id` (one event per customer whose membership changed) |
//!
//! A manual segment's stored members are dropped when it is deleted or stops being manual: each
//! gets its `segment.member_removed` ([`DroppedMembers`]), appended by the repository, which
//! alone knows the members inside the write's transaction. The members of `auto` and `rfm`
//! segments are computed by their rule on every read, not stored, and get no membership events.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::model::{Segment, SegmentRule};
use crate::access::Actor;
use crate::event::{EntityType, NewEvent, field_changes};
use crate::ids::CustomerId;

fn data(s: &Segment) -> Value {
    json!({
        "segment_id": s.id.0,
        "name": s.name,
        "type": s.segment_type().as_str(),
        "description": s.description,
    })
}

fn fields(s: &Segment) -> Value {
    let mut v = data(s);
    v["rule"] = match &s.rule {
        SegmentRule::Manual => json!({}),
        SegmentRule::Auto(f) => json!({"filter": f}),
        SegmentRule::Rfm(r) => {
            json!({"rfm_segments": r.iter().map(|x| x.as_str()).collect::<Vec<_>>()})
        }
    };
    v
}

/// `segment.created` / `segment.deleted` (`verb`) of `s` by `actor` at `at`.
pub fn segment_event(actor: &Actor, verb: &str, s: &Segment, at: DateTime<Utc>) -> NewEvent {
    NewEvent::new(
        actor,
        format!("segment.{verb}"),
        EntityType::Segment,
        s.id.0,
        at,
    )
    .data(data(s))
}

/// `segment.updated` from `old` to `new`, with the changed fields.
pub fn segment_updated_event(
    actor: &Actor,
    old: &Segment,
    new: &Segment,
    at: DateTime<Utc>,
) -> NewEvent {
    segment_event(actor, "updated", new, at).changes(field_changes(&fields(old), &fields(new), &[]))
}

/// Who drops a segment's stored members, and when: builds the `segment.member_removed` event
/// of each member a segment's delete or type change drops (see
/// [`SegmentRepository::save`](super::SegmentRepository::save) and
/// [`SegmentRepository::delete`](super::SegmentRepository::delete)).
#[derive(Debug, Clone, PartialEq)]
pub struct DroppedMembers {
    actor: Actor,
    segment: Segment,
    at: DateTime<Utc>,
}

impl DroppedMembers {
    /// The members of `segment` dropped by `actor` at `at` (the segment as it was, its name
    /// being the one its members knew).
    pub fn new(actor: &Actor, segment: &Segment, at: DateTime<Utc>) -> Self {
        Self {
            actor: actor.clone(),
            segment: segment.clone(),
            at,
        }
    }

    /// One `segment.member_removed` per customer of `members`, in the order given.
    pub fn events(&self, members: &[CustomerId]) -> Vec<NewEvent> {
        member_events(
            &self.actor,
            "member_removed",
            &self.segment,
            members,
            self.at,
        )
    }
}

/// One `segment.member_added` / `segment.member_removed` (`verb`) per customer of `customers`,
/// on each customer's timeline.
pub fn member_events(
    actor: &Actor,
    verb: &str,
    s: &Segment,
    customers: &[CustomerId],
    at: DateTime<Utc>,
) -> Vec<NewEvent> {
    customers
        .iter()
        .map(|c| {
            NewEvent::new(
                actor,
                format!("segment.{verb}"),
                EntityType::Segment,
                s.id.0,
                at,
            )
            .customer(*c)
            .data(json!({
                "segment_id": s.id.0,
                "segment_name": s.name,
                "customer_id": c.0,
            }))
        })
        .collect()
}
