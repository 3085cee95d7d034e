#![doc = include_str!("../README.md")]

#[macro_use]
mod macros;

pub mod addresses;
pub mod analytics;
pub mod auth;
pub mod closed_bodies;
pub mod contacts;
pub mod cursor;
pub mod customers;
pub mod documents;
pub mod events;
pub mod exports;
pub mod feed;
pub mod follow_ups;
pub mod health;
pub mod imports;
pub mod interactions;
pub mod jobs;
pub mod json;
pub mod loyalty;
pub mod metrics;
pub mod notes;
pub mod oidc;
pub mod orders;
pub mod panic;
pub mod privacy;
pub mod problem;
pub mod query;
pub mod rate_limit;
pub mod segments;
pub mod shared_responses;
pub mod state;
pub mod stream;
pub mod uploads;
pub mod views;
pub mod webhook_sender;
pub mod webhooks;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpResponse, http::header, web};
use tracing_actix_web::TracingLogger;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::{AppExt, scope};
use utoipa_swagger_ui::SwaggerUi;

pub use auth::{Authenticator, Caller, Claims, Identity, JwtKeys};
pub use cursor::CursorCodec;
pub use metrics::Metrics;
pub use problem::{ApiError, Problem};
pub use state::{AppState, ReadinessProbe, Services};
pub use stream::{StreamSettings, Streams};
pub use webhook_sender::ReqwestWebhookSender;

/// The OpenAPI document's fixed parts; paths and schemas are collected from the routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "crm",
        description = "Multi-tenant customer management. Every `/api/v1` request carries a bearer JWT whose \
            `tenant_id` scopes it; records of other tenants answer 404. Errors are RFC 9457 problem details.",
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "customers", description = "Customer records"),
        (name = "addresses", description = "Addresses of a customer: typed, one default per type, coordinates for delivery and the radius search"),
        (name = "contacts", description = "Contact people of a customer, with exactly one primary"),
        (name = "interactions", description = "Logged calls, e-mails, meetings, visits and messages with a customer; they keep its `last_contact_at`"),
        (name = "follow-ups", description = "Follow-up tasks on customers and the work queue; open ones keep the customer's `next_follow_up_at`"),
        (name = "notes", description = "Notes and complaints on a customer: Markdown, categories, a complaint's resolution, pinned first, edits kept in the note's history (the event log). Internal notes (`is_internal`) are for staff only: they are left out of the customer list export and of anything a portal user sees. The customer's free-text `notes` / `internal_notes` fields stay for compatibility; note records are the history."),
        (name = "events", description = "The event log: a customer's timeline and field history, the tenant's audit search, and the feed read forwards: `GET /events` (JSON pages) and the live stream `GET /events/stream` (Server-Sent Events, resumable with `Last-Event-ID`)"),
        (name = "webhooks", description = "Webhook subscriptions (`webhooks.manage`): signed deliveries of the tenant's events to other systems per the Standard Webhooks specification, at least once, with retries and a delivery log"),
        (name = "documents", description = "Documents of a customer (contracts, invoices, licences): upload, download, expiry"),
        (name = "orders", description = "Orders and purchase statistics"),
        (name = "loyalty", description = "Loyalty points and customer tiers"),
        (name = "tiers", description = "Membership tiers of the tenant"),
        (name = "pricing", description = "Price quotes with the customer's discount"),
        (name = "tenant", description = "The caller's tenant and its settings"),
        (name = "views", description = "Saved views of the customer list"),
        (name = "imports", description = "Bulk import of customers and orders from CSV or XLSX files"),
        (name = "segments", description = "Customer segments: manual, auto (filter rules) and RFM"),
        (name = "analytics", description = "RFM segmentation, CLV models (BG/NBD, Gamma-Gamma) and background jobs"),
        (name = "exports", description = "Exports: the customer list as CSV or XLSX, and everything stored about a customer (data subject access request)"),
        (name = "privacy", description = "Privacy (GDPR): erasure of a person, and consent records with their history"),
        (name = "operations", description = "Health probes"),
    ),
    components(schemas(problem::Problem, problem::ProblemField)),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

fn register(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    // Fixed paths before `{id}` paths that could swallow them.
    cfg.service(
        scope("/api/v1")
            .configure(exports::routes)
            .configure(privacy::routes)
            .configure(addresses::routes)
            .configure(analytics::routes)
            .configure(segments::routes)
            .configure(imports::routes)
            .configure(orders::routes)
            .configure(loyalty::routes)
            .configure(views::routes)
            .configure(contacts::routes)
            .configure(interactions::routes)
            .configure(follow_ups::routes)
            .configure(notes::routes)
            .configure(feed::routes)
            .configure(events::routes)
            .configure(webhooks::routes)
            .configure(documents::routes)
            .configure(customers::routes),
    )
    .service(health::live)
    .service(health::ready);
}

/// The OpenAPI 3.1 document of every route (what `/openapi.json` serves and
/// `docs/openapi.json` holds).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let (_, mut api) = App::new()
        .into_utoipa_app()
        .openapi(doc)
        .configure(register)
        .split_for_parts();
    // After the routes are collected, so every route gets the problem responses it can answer.
    shared_responses::SharedProblems.modify(&mut api);
    closed_bodies::close(api)
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NoRoute(format!(
        "{} {}",
        req.method(),
        req.path()
    )))
}

async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

/// The whole application: API routes, `/openapi.json`, Swagger UI at `/docs`, health probes,
/// `/metrics`, request-id tracing spans, problem+json for unknown routes and bad path ids, and
/// a logged 500 problem instead of a dropped connection when a handler panics.
pub fn build_app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let path_config = web::PathConfig::default().error_handler(|err, _| {
        ApiError::bad("id", format!("the path is malformed: {err}")).into()
    });
    let api = openapi();
    App::new()
        .app_data(state)
        .app_data(path_config)
        .configure(|cfg| {
            let mut cfg = utoipa_actix_web::service_config::ServiceConfig::new(cfg);
            register(&mut cfg);
        })
        .route("/metrics", web::get().to(metrics::metrics))
        .route("/docs", web::get().to(docs_redirect))
        .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", api))
        .default_service(web::to(not_found))
        // Innermost: a panic becomes a 500 problem that the metrics and the request span see.
        .wrap(from_fn(panic::catch_panic))
        .wrap(from_fn(rate_limit::headers))
        .wrap(from_fn(metrics::record))
        .wrap(TracingLogger::default())
}
