//! What every handler can reach.

use std::sync::Arc;

use crm_domain::customer::CustomerService;
use crm_domain::loyalty::LoyaltyService;
use crm_domain::loyalty::TierService;
use crm_domain::order::OrderService;
use crm_domain::pricing::PricingService;
use crm_domain::tenant::TenantService;
use crm_domain::view::ViewService;
use futures_util::future::BoxFuture;

use crate::auth::{JwtKeys, KnownTenants};
use crate::cursor::CursorCodec;
use crate::metrics::Metrics;

/// Checks that the service can do its work (the database answers), for `/health/ready`.
pub trait ReadinessProbe: Send + Sync {
    /// `Ok` when ready; otherwise why not.
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// Shared application state, built once by the server.
pub struct AppState {
    /// Customer use cases.
    pub customers: Arc<CustomerService>,
    /// Tenant use cases (token tenant check).
    pub tenants: Arc<TenantService>,
    /// Order use cases.
    pub orders: Arc<OrderService>,
    /// Loyalty points and tier assignment.
    pub loyalty: Arc<LoyaltyService>,
    /// Tier CRUD.
    pub tiers: Arc<TierService>,
    /// Price quotes.
    pub pricing: Arc<PricingService>,
    /// Saved views.
    pub views: Arc<ViewService>,
    /// Imports.
    pub imports: Imports,
    /// Customer segments.
    pub segments: Arc<crm_domain::segment::SegmentService>,
    /// RFM and CLV models.
    pub analytics: Arc<crm_domain::analytics::AnalyticsService>,
    /// Reading background jobs (RFM recomputes, imports).
    pub jobs: Arc<crm_domain::job::JobService>,
    /// Customer list exports and a customer's data export.
    pub exports: Arc<crm_domain::export::ExportService>,
    /// Writes export files (CSV, XLSX).
    pub sheets: Arc<dyn crm_domain::export::SheetWriters>,
    /// Token verification.
    pub auth: Arc<JwtKeys>,
    /// List cursor signing.
    pub cursors: CursorCodec,
    /// Tenants already seen to exist.
    pub known_tenants: KnownTenants,
    /// Readiness check.
    pub readiness: Arc<dyn ReadinessProbe>,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Largest request body accepted, in bytes (413 beyond).
    pub max_body_bytes: usize,
}

/// The import use cases and their limits.
pub struct Imports {
    /// Import use cases.
    pub service: Arc<crm_domain::import::ImportService>,
    /// Largest upload, bytes (413 beyond).
    pub max_bytes: usize,
    /// Most data rows in a file (413 beyond).
    pub max_rows: u64,
}
