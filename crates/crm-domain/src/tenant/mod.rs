//! Tenants: the businesses whose data the service keeps apart, and their settings.
//!
//! - `model`: [`Tenant`] and its `sales_scope` setting ([`sales_scope_setting`]);
//! - `ports`: [`TenantRepository`], [`load`] and [`visibility`] (the caller's reach);
//! - `service`: [`TenantService`] (create with the default tiers, read, update settings).

mod model;
mod ports;
mod service;

pub use model::{Tenant, sales_scope_setting};
#[cfg(any(test, feature = "mock"))]
pub use ports::MockTenantRepository;
pub use ports::{TenantRepository, load, visibility};
pub use service::{NewTenant, TenantService};
