//! Orders: `/api/v1/customers/{id}/orders`, `/api/v1/orders`, purchase statistics and the
//! statistics recompute.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use crm_domain::CustomerId;
use crm_domain::ids::OrderId;
use crm_domain::order::{
    self as domain, Order, OrderChange, OrderInput, OrderLineInput, OrderListQuery, OrderPosition,
};
use crm_domain::page::Page;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::cursor::CursorKind;
use crate::json::JsonBody;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Registers the order routes (inside the `/api/v1` scope).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_order)
        .service(list_customer_orders)
        .service(purchase_stats)
        .service(recompute_statistics)
        .service(list_orders)
        .service(get_order)
        .service(patch_order);
}

api_enum!(
    /// `pending`, `completed`, `cancelled` or `refunded`.
    OrderStatus => domain::OrderStatus { Pending, Completed, Cancelled, Refunded }
);
api_enum!(
    /// `unpaid`, `paid`, or (reported only) `overdue`.
    PaymentStatus => domain::PaymentStatus { Unpaid, Paid, Overdue }
);

/// One order line. `line_total` may be left out; when given it must equal
/// `quantity × unit_price`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderLineWrite {
    /// Product code.
    pub sku: Option<String>,
    /// Product name.
    pub name: Option<String>,
    /// Quantity, > 0, at most 4 decimals.
    #[schema(value_type = Option<String>, example = "2")]
    pub quantity: Option<Decimal>,
    /// Unit price in the order currency.
    #[schema(value_type = Option<String>, example = "75000")]
    pub unit_price: Option<Decimal>,
    /// `quantity × unit_price`.
    #[schema(value_type = Option<String>)]
    pub line_total: Option<Decimal>,
}

/// A new order. Defaults: `status` completed, `payment_status` paid, `placed_at` now,
/// `currency` the customer's (another currency is refused), `total_amount` the sum of the lines.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderWrite {
    /// Your id for the order, unique per tenant: sending it again returns the stored order.
    #[schema(example = "POS-2026-000123")]
    pub order_ref: Option<String>,
    /// When the purchase happened (RFC 3339).
    pub placed_at: Option<DateTime<Utc>>,
    /// `pending` or `completed`.
    pub status: Option<OrderStatus>,
    /// `unpaid` or `paid`.
    pub payment_status: Option<PaymentStatus>,
    /// ISO 4217; must be the customer's.
    pub currency: Option<String>,
    /// Order amount; required without lines.
    #[schema(value_type = Option<String>, example = "150000")]
    pub total_amount: Option<Decimal>,
    /// Lines; they must add up to `total_amount`.
    pub lines: Option<Vec<OrderLineWrite>>,
    /// Sales channel (`pos`, `web`, ...).
    pub channel: Option<String>,
    /// Free-form JSON object.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// Record an unpaid order beyond the customer's credit limit (needs `customers.manage`).
    pub override_credit_limit: Option<bool>,
}

impl From<OrderWrite> for OrderInput {
    fn from(w: OrderWrite) -> Self {
        OrderInput {
            order_ref: w.order_ref,
            placed_at: w.placed_at,
            status: w.status.map(Into::into),
            payment_status: w.payment_status.map(Into::into),
            currency: w.currency,
            total_amount: w.total_amount,
            lines: w.lines.map(|ls| {
                ls.into_iter()
                    .map(|l| OrderLineInput {
                        sku: l.sku,
                        name: l.name,
                        quantity: l.quantity,
                        unit_price: l.unit_price,
                        line_total: l.line_total,
                    })
                    .collect()
            }),
            channel: w.channel,
            metadata: w.metadata,
        }
    }
}

/// A status or payment change.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderPatch {
    /// `pending → completed | cancelled`, `completed → refunded`.
    pub status: Option<OrderStatus>,
    /// `unpaid` or `paid`.
    pub payment_status: Option<PaymentStatus>,
}

/// An order line as stored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrderLineResponse {
    /// Product code.
    pub sku: String,
    /// Product name.
    pub name: Option<String>,
    /// Quantity.
    #[schema(value_type = String)]
    pub quantity: Decimal,
    /// Unit price.
    #[schema(value_type = String)]
    pub unit_price: Decimal,
    /// `quantity × unit_price`.
    #[schema(value_type = String)]
    pub line_total: Decimal,
}

/// An order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrderResponse {
    /// Id.
    pub id: Uuid,
    /// Customer.
    pub customer_id: Uuid,
    /// Your ref.
    pub order_ref: String,
    /// When placed.
    pub placed_at: DateTime<Utc>,
    /// Status.
    pub status: OrderStatus,
    /// Payment state now (`overdue` when unpaid, completed and past `due_at`).
    pub payment_status: PaymentStatus,
    /// `placed_at` + the customer's payment terms.
    pub due_at: DateTime<Utc>,
    /// Currency.
    pub currency: String,
    /// Amount.
    #[schema(value_type = String)]
    pub total_amount: Decimal,
    /// Lines.
    pub lines: Vec<OrderLineResponse>,
    /// Channel.
    pub channel: Option<String>,
    /// Metadata.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// Points earned on completion.
    pub points_earned: i64,
    /// Recorded by.
    pub created_by: Option<String>,
    /// Recorded at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Version; also the `ETag`.
    pub version: i64,
}

impl OrderResponse {
    /// The order as the API shows it; `now` decides whether an unpaid order is `overdue`.
    pub(crate) fn new(o: &Order, now: DateTime<Utc>) -> Self {
        Self {
            id: o.id.0,
            customer_id: o.customer_id.0,
            order_ref: o.order_ref.clone(),
            placed_at: o.placed_at,
            status: o.status.into(),
            payment_status: o.payment_status_at(now).into(),
            due_at: o.due_at,
            currency: o.currency.as_str().to_owned(),
            total_amount: o.total_amount.value(),
            lines: o
                .lines
                .iter()
                .map(|l| OrderLineResponse {
                    sku: l.sku.clone(),
                    name: l.name.clone(),
                    quantity: l.quantity,
                    unit_price: l.unit_price.value(),
                    line_total: l.line_total.value(),
                })
                .collect(),
            channel: o.channel.clone(),
            metadata: serde_json::Value::Object(o.metadata.clone()),
            points_earned: o.points_earned,
            created_by: o.created_by.as_ref().map(|u| u.as_str().to_owned()),
            created_at: o.created_at,
            updated_at: o.updated_at,
            version: o.version,
        }
    }
}

/// One page of orders.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderPage {
    /// Orders, newest `placed_at` first.
    pub data: Vec<OrderResponse>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Query parameters of order lists.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListOrdersParams {
    /// Rows per page, 1..=200 (default 20).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Status filter (repeat or comma-separate for any of several).
    status: Option<Vec<OrderStatus>>,
    /// `unpaid`, `paid` or `overdue` (unpaid, completed and past `due_at`).
    payment_status: Option<PaymentStatus>,
    /// `placed_at` ≥ this (RFC 3339).
    placed_after: Option<DateTime<Utc>>,
    /// `placed_at` < this (RFC 3339).
    placed_before: Option<DateTime<Utc>>,
    /// Only this customer's orders (`/api/v1/orders` only).
    customer_id: Option<Uuid>,
}

fn parse_orders_query(
    req: &HttpRequest,
    state: &AppState,
    customer: Option<CustomerId>,
) -> Result<OrderListQuery, ApiError> {
    let mut q = OrderListQuery {
        customer_id: customer,
        limit: crm_domain::customer::DEFAULT_PAGE_SIZE,
        ..Default::default()
    };
    let mut known = vec![
        "limit",
        "cursor",
        "status",
        "payment_status",
        "placed_after",
        "placed_before",
    ];
    if customer.is_none() {
        known.push("customer_id");
    }
    crate::query::each_param(req.query_string(), &known, |name, value| {
        match name {
            "limit" => q.limit = crate::query::limit(value)?,
            "cursor" => {
                let (at, id) = state.cursors.decode_position(CursorKind::Orders, value)?;
                q.after = Some((at, OrderId(id)));
            }
            "status" => crate::query::values(name, value, &mut q.statuses)?,
            "payment_status" => {
                q.payment_status = Some(value.parse().map_err(|e: String| ApiError::bad(name, e))?);
            }
            "placed_after" => q.placed_after = Some(crate::query::time(name, value)?),
            "placed_before" => q.placed_before = Some(crate::query::time(name, value)?),
            _ => {
                let id = value
                    .parse::<Uuid>()
                    .map_err(|_| ApiError::bad(name, format!("`{value}` is not a UUID")))?;
                q.customer_id = Some(CustomerId(id));
            }
        }
        Ok(())
    })?;
    Ok(q)
}

/// A page of orders as the API answers it, each order's payment state reported now.
fn order_page(state: &AppState, page: Page<Order, OrderPosition>) -> HttpResponse {
    let now = state.services.orders.now();
    HttpResponse::Ok().json(OrderPage {
        data: page
            .items
            .iter()
            .map(|o| OrderResponse::new(o, now))
            .collect(),
        next_cursor: page.next.map(|(placed_at, id)| {
            state
                .cursors
                .encode_position(CursorKind::Orders, placed_at, id.0)
        }),
    })
}

fn with_order(
    state: &AppState,
    mut res: actix_web::HttpResponseBuilder,
    o: &Order,
) -> HttpResponse {
    res.insert_header((header::ETAG, format!("\"{}\"", o.version)))
        .json(OrderResponse::new(o, state.services.orders.now()))
}

/// Record an order of a customer.
///
/// In the same transaction a completed order updates the customer's totals, average order
/// value, first and last order, stage, loyalty points (`floor(total / points_unit)`) and tier.
/// Sending an `order_ref` again answers 200 with the stored order and changes nothing.
#[utoipa::path(
    tag = "orders",
    params(("id" = Uuid, Path, description = "Customer id")),
    request_body = OrderWrite,
    responses(
        (status = 201, description = "Recorded", body = OrderResponse),
        (status = 200, description = "This order_ref was already recorded for the customer; nothing changed", body = OrderResponse),
        (status = 403, description = "Missing customers.edit (or customers.manage to override the credit limit)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`/problems/credit-limit-exceeded`: beyond the credit limit, with `limit`, `outstanding`, `requested` and `currency`; `/problems/conflict`: the order_ref is another customer's", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/customers/{id}/orders")]
pub async fn create_order(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody<OrderWrite>,
) -> Result<HttpResponse, ApiError> {
    let override_limit = body.0.override_credit_limit.unwrap_or(false);
    let placed = state
        .services
        .orders
        .place(
            &caller.0,
            CustomerId(id.into_inner()),
            body.0.into(),
            override_limit,
        )
        .await?;
    let mut res = if placed.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((
        header::LOCATION,
        format!("/api/v1/orders/{}", placed.order.id),
    ));
    if !placed.created {
        res.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(with_order(&state, res, &placed.order))
}

/// A customer's orders, newest first.
#[utoipa::path(
    tag = "orders",
    params(("id" = Uuid, Path, description = "Customer id"), ListOrdersParams),
    responses(
        (status = 200, description = "A page of the customer's orders, newest first", body = OrderPage),
        (status = 400, description = "Unknown parameter or malformed value", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/orders")]
pub async fn list_customer_orders(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let customer = CustomerId(id.into_inner());
    let query = parse_orders_query(&req, &state, Some(customer))?;
    let page = state
        .services
        .orders
        .list_for_customer(&caller.0, customer, query)
        .await?;
    Ok(order_page(&state, page))
}

/// The tenant's orders, newest first; `payment_status=overdue` lists unpaid completed orders
/// past their due date.
#[utoipa::path(
    tag = "orders",
    params(ListOrdersParams),
    responses(
        (status = 200, description = "A page of the tenant's orders, newest first", body = OrderPage),
        (status = 400, description = "Unknown parameter or malformed value", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/orders")]
pub async fn list_orders(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = parse_orders_query(&req, &state, None)?;
    let page = state.services.orders.list(&caller.0, query).await?;
    Ok(order_page(&state, page))
}

/// Get an order.
#[utoipa::path(
    tag = "orders",
    params(("id" = Uuid, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order", body = OrderResponse),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/orders/{id}")]
pub async fn get_order(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let o = state
        .services
        .orders
        .get(&caller.0, OrderId(id.into_inner()))
        .await?;
    Ok(with_order(&state, HttpResponse::Ok(), &o))
}

/// Change an order's status or payment status.
///
/// Completing earns points and updates the customer's statistics and tier; refunding takes
/// back exactly the points the order earned (never below a zero balance) and updates the
/// statistics.
#[utoipa::path(
    tag = "orders",
    params(
        ("id" = Uuid, Path, description = "Order id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version the change is based on"),
    ),
    request_body = OrderPatch,
    responses(
        (status = 200, description = "The order as changed", body = OrderResponse),
        (status = 403, description = "Missing customers.edit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`/problems/credit-limit-exceeded`: the order would become owed beyond the credit limit, with `limit`, `outstanding`, `requested` and `currency`", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A transition the life cycle does not allow", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/orders/{id}")]
pub async fn patch_order(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: JsonBody<OrderPatch>,
) -> Result<HttpResponse, ApiError> {
    let expected = crate::customers::if_match(req.headers())?;
    let change = OrderChange {
        status: body.0.status.map(Into::into),
        payment_status: body.0.payment_status.map(Into::into),
    };
    let o = state
        .services
        .orders
        .change(&caller.0, OrderId(id.into_inner()), change, expected)
        .await?;
    Ok(with_order(&state, HttpResponse::Ok(), &o))
}

/// Spending of one month.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MonthlySpendResponse {
    /// `YYYY-MM` (UTC).
    pub month: String,
    /// Completed orders.
    pub orders: i64,
    /// Their total.
    #[schema(value_type = String)]
    pub total: Decimal,
}

/// Units and revenue of one product.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductTotalResponse {
    /// Product code.
    pub sku: String,
    /// Product name.
    pub name: Option<String>,
    /// Units bought.
    #[schema(value_type = String)]
    pub quantity: Decimal,
    /// Revenue.
    #[schema(value_type = String)]
    pub revenue: Decimal,
}

/// A customer's purchase statistics (completed orders only), in the customer's currency.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PurchaseStatsResponse {
    /// Currency of the amounts.
    pub currency: String,
    /// Completed orders.
    pub total_orders: i64,
    /// Their total.
    #[schema(value_type = String)]
    pub total_spent: Decimal,
    /// `total_spent / total_orders` (4 decimals, truncated).
    #[schema(value_type = String)]
    pub average_order_value: Decimal,
    /// Completed orders per month since the first (months of 30.44 days, at least one).
    #[schema(value_type = String)]
    pub purchase_frequency_per_month: Decimal,
    /// First purchase.
    pub first_order_at: Option<DateTime<Utc>>,
    /// Last purchase.
    pub last_order_at: Option<DateTime<Utc>>,
    /// The last 12 calendar months (UTC), oldest first.
    pub monthly: Vec<MonthlySpendResponse>,
    /// Top 10 products by units.
    pub top_products: Vec<ProductTotalResponse>,
    /// The 10 most recent orders.
    pub last_orders: Vec<OrderResponse>,
}

/// A customer's purchase statistics.
#[utoipa::path(
    tag = "orders",
    params(("id" = Uuid, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The customer's purchase statistics and history", body = PurchaseStatsResponse),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/purchase-stats")]
pub async fn purchase_stats(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let customer = CustomerId(id.into_inner());
    let r = state
        .services
        .orders
        .purchase_report(&caller.0, customer)
        .await?;
    let now = r.as_of;
    Ok(HttpResponse::Ok().json(PurchaseStatsResponse {
        currency: r.currency.as_str().to_owned(),
        total_orders: r.stats.total_orders,
        total_spent: r.stats.total_spent.value(),
        average_order_value: r.stats.average_order_value.value(),
        purchase_frequency_per_month: r.purchase_frequency_per_month,
        first_order_at: r.stats.first_order_at,
        last_order_at: r.stats.last_order_at,
        monthly: r
            .monthly
            .into_iter()
            .map(|m| MonthlySpendResponse {
                month: m.month,
                orders: m.orders,
                total: m.total.value(),
            })
            .collect(),
        top_products: r
            .top_products
            .into_iter()
            .map(|p| ProductTotalResponse {
                sku: p.sku,
                name: p.name,
                quantity: p.quantity,
                revenue: p.revenue.value(),
            })
            .collect(),
        last_orders: r
            .last_orders
            .iter()
            .map(|o| OrderResponse::new(o, now))
            .collect(),
    }))
}

/// The result of a recompute.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecomputeResponse {
    /// Customers whose statistics were rebuilt.
    pub customers_updated: u64,
}

/// Rebuild every customer's purchase statistics, stage and points balance from the orders and
/// the ledger (the nightly consistency job; gives the same numbers as the per-order updates).
#[utoipa::path(
    tag = "orders",
    responses(
        (status = 200, description = "How many customers' statistics were rebuilt", body = RecomputeResponse),
        (status = 403, description = "Missing customers.manage", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/customers/statistics/recompute")]
pub async fn recompute_statistics(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let customers_updated = state.services.orders.recompute(&caller.0).await?;
    Ok(HttpResponse::Ok().json(RecomputeResponse { customers_updated }))
}
