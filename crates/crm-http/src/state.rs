//! What every handler can reach.

use std::sync::Arc;

use crm_domain::address::AddressService;
use crm_domain::analytics::AnalyticsService;
use crm_domain::contact::ContactService;
use crm_domain::customer::CustomerService;
use crm_domain::export::ExportService;
use crm_domain::import::ImportService;
use crm_domain::interaction::InteractionService;
use crm_domain::loyalty::LoyaltyService;
use crm_domain::loyalty::TierService;
use crm_domain::note::NoteService;
use crm_domain::order::OrderService;
use crm_domain::pricing::PricingService;
use crm_domain::privacy::PrivacyService;
use crm_domain::segment::SegmentService;
use crm_domain::tenant::TenantService;
use crm_domain::view::ViewService;
use futures_util::future::BoxFuture;

use crate::auth::{Authenticator, KnownTenants};
use crate::cursor::CursorCodec;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimits;

/// Checks that the service can do its work (the database answers), for `/health/ready`.
pub trait ReadinessProbe: Send + Sync {
    /// `Ok` when ready; otherwise why not.
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// The domain use cases, each service once, wired to storage by the server (crm-server's
/// `services`) and reached by handlers through [`AppState::services`]. One-shot commands that
/// need no HTTP use them on their own.
pub struct Services {
    /// Customer use cases.
    pub customers: Arc<CustomerService>,
    /// Address use cases (a customer's addresses).
    pub addresses: Arc<AddressService>,
    /// Contacts of customers.
    pub contacts: Arc<ContactService>,
    /// Interactions and follow-ups of customers.
    pub interactions: Arc<InteractionService>,
    /// Notes and complaints on customers.
    pub notes: Arc<NoteService>,
    /// Reads of the event log (timeline, history, audit).
    pub events: Arc<crm_domain::event::EventService>,
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
    /// RFM, CLV models and jobs.
    pub analytics: Arc<AnalyticsService>,
    /// Customer segments.
    pub segments: Arc<SegmentService>,
    /// Imports.
    pub imports: Arc<ImportService>,
    /// Reading background jobs (RFM recomputes, imports).
    pub jobs: Arc<crm_domain::job::JobService>,
    /// Customer list exports and a customer's data export.
    pub exports: Arc<ExportService>,
    /// Erasure and consents.
    pub privacy: Arc<PrivacyService>,
    /// Documents of customers (uploads, downloads, the orphan check).
    pub documents: Arc<crm_domain::document::DocumentService>,
    /// The event feed read forwards (the live stream and `GET /events`).
    pub feed: Arc<crm_domain::event::FeedService>,
    /// Webhook subscriptions, their deliveries and the delivery run.
    pub webhooks: Arc<crm_domain::webhook::WebhookService>,
}

/// Shared application state, built once by the server: the use cases and what only the HTTP
/// side needs.
pub struct AppState {
    /// The use cases.
    pub services: Services,
    /// The limits of uploaded import files.
    pub import_limits: ImportLimits,
    /// Where uploaded import files wait for their import (deleted when done or refused).
    pub uploads: crate::uploads::UploadDir,
    /// Writes export files (CSV, XLSX).
    pub sheets: Arc<dyn crm_domain::export::SheetWriters>,
    /// Token verification (HS256 secret and/or the identity provider's keys).
    pub auth: Arc<Authenticator>,
    /// Per-token, per-tenant and failed-authentication rate limits.
    pub rate_limits: RateLimits,
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
    /// The live event streams: their settings and the open streams of each tenant.
    pub streams: crate::stream::Streams,
}

/// The limits of uploaded import files.
pub struct ImportLimits {
    /// Largest upload, bytes (413 beyond).
    pub max_bytes: usize,
    /// Most data rows in a file (413 beyond).
    pub max_rows: u64,
}
