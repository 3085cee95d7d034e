//! SeaORM entities: rows exactly as stored. They never leave this crate; the repositories
//! convert them into domain types.

pub mod clv_model;
pub mod customer;
pub mod customer_address;
pub mod customer_consent;
pub mod customer_consent_event;
pub mod customer_contact;
pub mod customer_document;
pub mod customer_erasure;
pub mod customer_segment;
pub mod customer_tag;
pub mod customer_view;
pub mod event;
pub mod follow_up;
pub mod idempotency_key;
pub mod interaction;
pub mod job;
pub mod ledger_entry;
pub mod note;
pub mod order;
pub mod order_line;
pub mod tenant;
pub mod tier;
pub mod tier_change;
pub mod webhook;
pub mod webhook_delivery;
