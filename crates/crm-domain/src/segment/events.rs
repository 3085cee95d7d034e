//! The events of segment writes (issue 13), appended in the write's transaction. Entity
//! `segment`, the segment's id.
//!
//! | type | customer | `data` |
//! | --- | --- | --- |
//! | `segment.created` / `segment.deleted` | no | `segment_id`, `name`, `type`, `description` |
//! | `segment.updated` | no | as above; changes of `name`, `description`, `type`, `rule` |
//! | `segment.member_added` / `segment.member_removed` | the member | `segment_id`, `segment_name`, `customer_id` (one event per customer whose membership changed) |

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
