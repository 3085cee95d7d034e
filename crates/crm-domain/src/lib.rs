#![doc = include_str!("../README.md")]

#[macro_use]
mod macros;

pub mod access;
pub mod analytics;
pub mod customer;
pub mod error;
pub mod export;
pub mod ids;
pub mod import;
pub mod import_service;
pub mod loyalty;
pub mod order;
pub mod ports;
pub mod pricing;
pub mod segment;
pub mod tenant;
pub mod tier;
pub mod values;
pub mod view;

pub use access::{Actor, Permission, Role};
pub use error::{DomainError, FieldError, RepositoryError};
pub use ids::{CustomerId, TenantId, UserId};
