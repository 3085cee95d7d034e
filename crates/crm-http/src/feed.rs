//! The tenant's event feed read forwards (issue 14): `GET /api/v1/events` (JSON pages for
//! clients that poll) and `GET /api/v1/events/stream` (Server-Sent Events). Each handler
//! parses the query, asks `FeedService` where to start and maps the result; the rules (who
//! reads which event, the gap-free order, type patterns) are in `crm_domain::event`, and the
//! stream's reading loop is the transport's ([`crate::stream`]).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use crm_domain::event::{DEFAULT_EVENT_PAGE, EventId, EventTypeFilter, FeedFilter};
use crm_domain::{CustomerId, DomainError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::events::EventResponse;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Registers the feed routes (inside the `/api/v1` scope).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(event_stream).service(event_feed);
}

/// The most bytes of the `types` parameters together (50 patterns of 100 bytes, separators).
const MAX_TYPES_BYTES: usize = 8_192;

/// The header a reconnecting `EventSource` sends.
const LAST_EVENT_ID: &str = "Last-Event-ID";

/// One page of the feed, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FeedResponse {
    /// The events the caller may read, in feed order (the same JSON as a timeline entry).
    pub data: Vec<EventResponse>,
    /// The id of the last event this read went past, shown or not (events the caller may not
    /// read are skipped); `null` when there was nothing new.
    pub last_id: Option<i64>,
    /// Pass as `after` for the next read: `last_id`, or the `after` of this request when
    /// there was nothing new (`null` when the log is still empty).
    pub next_after: Option<i64>,
}

/// Query parameters of the polling feed.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct FeedParams {
    /// Events after this event id (the previous page's `next_after`); from the start of the
    /// log without it.
    after: Option<i64>,
    /// Events per read, 1..=200 (default 20).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// Event types, comma-separated (or repeated), at most 50 patterns: `*`, `customer.*`,
    /// `order.placed`. Default: every type.
    types: Option<String>,
    /// Only this customer's events.
    customer_id: Option<Uuid>,
}

/// Query parameters of the stream.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct StreamParams {
    /// Events after this event id (the `Last-Event-ID` header wins when both are given);
    /// without either, events from now on.
    after: Option<i64>,
    /// Event types, comma-separated (or repeated), at most 50 patterns: `*`, `customer.*`,
    /// `order.placed`. Default: every type.
    types: Option<String>,
    /// Only this customer's events.
    customer_id: Option<Uuid>,
}

/// What the feed's query asks for.
struct FeedQuery {
    filter: FeedFilter,
    after: Option<EventId>,
    limit: u64,
}

fn event_id(name: &str, value: &str) -> Result<EventId, ApiError> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(EventId)
        .ok_or_else(|| {
            ApiError::bad(
                name,
                format!("`{}` is not an event id", value.escape_debug()),
            )
        })
}

/// Reads the query: `after`, `types`, `customer_id` and, where `known` has it, `limit`.
fn feed_query(req: &HttpRequest, known: &[&str]) -> Result<FeedQuery, ApiError> {
    let mut types = String::new();
    let mut customer_id = None;
    let mut after = None;
    let mut limit = DEFAULT_EVENT_PAGE;
    crate::query::each_param(req.query_string(), known, |name, value| {
        match name {
            "types" => {
                if types.len() + value.len() >= MAX_TYPES_BYTES {
                    return Err(ApiError::bad(
                        name,
                        format!("longer than {MAX_TYPES_BYTES} bytes"),
                    ));
                }
                types.push(',');
                types.push_str(value);
            }
            "customer_id" => {
                let id = value
                    .parse::<Uuid>()
                    .map_err(|_| ApiError::bad(name, "not a UUID"))?;
                customer_id = Some(CustomerId(id));
            }
            "after" => after = Some(event_id(name, value)?),
            _ => limit = u64::from(crate::query::limit(value)?),
        }
        Ok(())
    })?;
    let types = EventTypeFilter::parse_list("types", &types)
        .map_err(|e| ApiError::Domain(DomainError::Validation(e)))?;
    Ok(FeedQuery {
        filter: FeedFilter { types, customer_id },
        after,
        limit,
    })
}

/// The tenant's events in feed order, as JSON pages (the polling twin of
/// `GET /events/stream`).
///
/// Without `after`, reading starts at the beginning of the log; each response's
/// `next_after` is the `after` of the next read. The order is commit-safe: an event appears
/// only once every transaction that started before its own has finished, so a client that
/// reads on from `next_after` never misses an event committed late. Events the caller may not
/// read (internal notes without the right, anything without `customers.view`) are skipped.
#[utoipa::path(
    tag = "events",
    params(FeedParams),
    responses(
        (status = 200, description = "Up to `limit` events after `after`, oldest first", body = FeedResponse),
        (status = 400, description = "Unknown parameter or malformed value (`after`, `limit`, `customer_id`, `types` too long)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`types` malformed or more than 50 patterns; `after` names no event of the tenant (`unknown`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/events")]
pub async fn event_feed(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = feed_query(&req, &["after", "limit", "types", "customer_id"])?;
    let page = state
        .services
        .feed
        .page(&caller.0, q.after, q.filter, q.limit)
        .await?;
    let last_id = page.last_id.map(|id| id.0);
    Ok(HttpResponse::Ok().json(FeedResponse {
        data: page.items.iter().map(EventResponse::from).collect(),
        last_id,
        next_after: last_id.or(q.after.map(|id| id.0)),
    }))
}

/// Follow the tenant's events live (Server-Sent Events, `text/event-stream`).
///
/// Each message has `id` (the event id), `event` (its type) and `data` (the same JSON as a
/// timeline entry). A client that reconnects with `Last-Event-ID` (or `after`) receives every
/// event after that one, none skipped and none twice; without either, events from now on.
/// Comments: `: keep-alive` after 15 s of silence; a client too slow to read its stream is
/// disconnected with a final comment naming the last delivered id
/// (`: disconnected: …; resume with Last-Event-ID: 42`). Events the caller may not read are
/// left out. A tenant has at most a configured number of open streams (429 beyond).
///
/// `curl -N -H "Authorization: Bearer $TOKEN" "$CRM/api/v1/events/stream?types=customer.*"`
#[utoipa::path(
    tag = "events",
    params(
        StreamParams,
        ("Last-Event-ID" = Option<i64>, Header, description = "The id of the last event received: the stream resumes after it"),
    ),
    responses(
        (status = 200, description = "The event stream: `id: <event id>`, `event: <type>`, `data: <timeline entry JSON>` per message", body = String, content_type = "text/event-stream"),
        (status = 400, description = "Unknown parameter or malformed value (`after`, `Last-Event-ID`, `customer_id`, `types` too long)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`types` malformed or more than 50 patterns; `Last-Event-ID` / `after` names no event of the tenant (`unknown`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The tenant already has the most open streams (`too-many-streams`, with `limit`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/events/stream")]
pub async fn event_stream(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = feed_query(&req, &["after", "types", "customer_id"])?;
    let header = req
        .headers()
        .get(LAST_EVENT_ID)
        .map(|raw| {
            raw.to_str()
                .map(str::trim)
                .map_err(|_| ApiError::bad(LAST_EVENT_ID, "not an event id"))
        })
        .transpose()?
        // An empty header names no event (a client that has received none).
        .filter(|text| !text.is_empty());
    let resume = match header {
        Some(text) => Some((LAST_EVENT_ID, event_id(LAST_EVENT_ID, text)?)),
        None => q.after.map(|id| ("after", id)),
    };
    let (field, after) = resume.map_or(("after", None), |(f, id)| (f, Some(id)));
    // The permission and the resume point before anything is streamed.
    let start = state
        .services
        .feed
        .start(&caller.0, field, after, false)
        .await?;
    let settings = state.streams.settings();
    let slot = state
        .streams
        .open(caller.0.tenant_id)
        .ok_or(ApiError::TooManyStreams {
            limit: settings.max_per_tenant,
        })?;
    let body = crate::stream::event_stream(
        state.services.feed.clone(),
        caller.0,
        start,
        q.filter,
        &state.streams,
        slot,
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Reverse proxies (nginx) pass each message on at once.
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}
