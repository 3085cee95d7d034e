//! Tenants: the businesses whose data the service keeps apart, and their settings.
//!
//! - `model`: [`Tenant`];
//! - `ports`: [`TenantRepository`] and [`load`];
//! - `service`: [`TenantService`] (create with the default tiers, read, update settings).

mod model;
mod ports;
mod service;

pub use model::Tenant;
#[cfg(any(test, feature = "mock"))]
pub use ports::MockTenantRepository;
pub use ports::{TenantRepository, load};
pub use service::{NewTenant, TenantService};
