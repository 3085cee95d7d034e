#![doc = include_str!("../README.md")]

#[macro_use]
mod macros;

// Shared kernel: identifiers, value objects, errors and the ports every context uses.
pub mod error;
pub mod ids;
pub mod page;
pub mod ports;
pub mod values;

// Bounded contexts, each a folder with `model`, `ports`, `service` (and `error`).
pub mod access;
pub mod address;
pub mod analytics;
pub mod contact;
pub mod customer;
pub mod document;
pub mod event;
pub mod export;
pub mod import;
pub mod interaction;
pub mod job;
pub mod loyalty;
pub mod note;
pub mod order;
pub mod pricing;
pub mod privacy;
pub mod reminder;
pub mod segment;
pub mod tenant;
pub mod view;
pub mod webhook;

// Fixtures shared by the unit tests.
#[cfg(test)]
pub(crate) mod testing;

pub use access::{Actor, Permission, Role};
pub use error::{DomainError, FieldError, RepositoryError, Rule, RuleViolation};
pub use ids::{ContactId, CustomerId, TenantId, UserId};
