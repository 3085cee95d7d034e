//! Reminders (issue 14): the server's scheduler turns time passing into events.
//!
//! | type | when | `data` |
//! | --- | --- | --- |
//! | `follow_up.due` | an open follow-up's `due_at` has passed | `follow_up_id`, `title`, `due_at`, `assignee`, `priority` |
//! | `order.overdue` | a completed, unpaid order's `due_at` has passed | `order_id`, `order_ref`, `status`, `payment_status` (`overdue`), `total_amount` (decimal string) with `currency`, `placed_at`, `due_at` |
//!
//! Each fires **exactly once per due date**, with any number of server replicas: a run takes
//! the due rows and marks them (the `due_at` it fired for) in one transaction with their events
//! ([`ReminderTransaction`]); PostgreSQL takes the rows `FOR UPDATE SKIP LOCKED`, so two
//! replicas running at once take disjoint rows, and a committed mark stops every later run.
//! Rescheduling a follow-up (a new `due_at`) or changing an order's due date arms the reminder
//! again for the new date. Events carry the system actor (`sub` `system`), the record's entity
//! and customer, so timelines, streams and webhooks show them like any other.
//!
//! - `model`: [`DueFollowUp`], [`OverdueOrder`] and their events;
//! - `ports`: [`ReminderRepository`] / [`ReminderTransaction`];
//! - `service`: [`ReminderService::run`].

mod model;
mod ports;
mod service;

pub use model::{DueFollowUp, OverdueOrder, follow_up_due_event, order_overdue_event};
#[cfg(any(test, feature = "mock"))]
pub use ports::{MockReminderRepository, MockReminderTransaction};
pub use ports::{ReminderRepository, ReminderTransaction};
pub use service::{DEFAULT_REMINDER_BATCH, ReminderRun, ReminderService};
