//! Loyalty points, tiers and price quotes: `/api/v1/customers/{id}/loyalty`, `/tier`,
//! `/tier-history`, `/api/v1/customer-tiers` and `/api/v1/pricing/quote`.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use crm_domain::CustomerId;
use crm_domain::ids::{LedgerEntryId, TierId};
use crm_domain::loyalty::TierInput;
use crm_domain::loyalty::{LedgerEntry, Tier, TierChange};
use crm_domain::pricing::{DiscountSource, QuoteLineInput};
use crm_domain::values::Amount;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::customers::dto::CustomerResponse;
use crate::json::JsonBody;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Registers the loyalty, tier and pricing routes (inside the `/api/v1` scope).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_loyalty)
        .service(redeem_points)
        .service(adjust_points)
        .service(assign_tier)
        .service(tier_history)
        .service(list_tiers)
        .service(create_tier)
        .service(get_tier)
        .service(replace_tier)
        .service(delete_tier)
        .service(reevaluate_tiers)
        .service(get_tenant)
        .service(update_tenant_settings)
        .service(quote);
}

/// A membership tier.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TierResponse {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Rank; higher is better.
    pub level: i32,
    /// `total_spent` from which a customer qualifies (tenant currency).
    #[schema(value_type = String)]
    pub min_spend: Decimal,
    /// Discount on quotes, percent.
    #[schema(value_type = String)]
    pub discount_percent: Decimal,
    /// Benefits.
    #[schema(value_type = Object)]
    pub benefits: serde_json::Value,
    /// `#RRGGBB`.
    pub colour: Option<String>,
}

impl From<&Tier> for TierResponse {
    fn from(t: &Tier) -> Self {
        Self {
            id: t.id.0,
            name: t.name.clone(),
            level: t.level,
            min_spend: t.min_spend.value(),
            discount_percent: t.discount_percent,
            benefits: serde_json::Value::Object(t.benefits.clone()),
            colour: t.colour.clone(),
        }
    }
}

/// A tier as submitted (all fields but `benefits` and `colour` required).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierWrite {
    /// 1..=100 characters, unique in the tenant.
    pub name: Option<String>,
    /// 1..=1000, unique in the tenant.
    pub level: Option<i32>,
    /// Minimum `total_spent`, tenant currency.
    #[schema(value_type = Option<String>, example = "2000000")]
    pub min_spend: Option<Decimal>,
    /// Percent 0..=100 (2 decimals).
    #[schema(value_type = Option<String>, example = "10")]
    pub discount_percent: Option<Decimal>,
    /// JSON object.
    #[schema(value_type = Option<Object>)]
    pub benefits: Option<serde_json::Value>,
    /// `#RRGGBB`.
    pub colour: Option<String>,
}

impl From<TierWrite> for TierInput {
    fn from(w: TierWrite) -> Self {
        TierInput {
            name: w.name,
            level: w.level,
            min_spend: w.min_spend,
            discount_percent: w.discount_percent,
            benefits: w.benefits,
            colour: w.colour,
        }
    }
}

/// One ledger entry.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LedgerEntryResponse {
    /// Id (time-ordered).
    pub id: Uuid,
    /// `earn`, `reversal`, `redemption`, `adjustment` or `expiry`.
    pub kind: String,
    /// Signed points.
    pub points: i64,
    /// Why.
    pub reason: String,
    /// Order it comes from.
    pub order_id: Option<Uuid>,
    /// Who (none for automatic entries).
    pub actor: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<&LedgerEntry> for LedgerEntryResponse {
    fn from(e: &LedgerEntry) -> Self {
        Self {
            id: e.id.0,
            kind: e.kind.as_str().to_owned(),
            points: e.points,
            reason: e.reason.clone(),
            order_id: e.order_id.map(|o| o.0),
            actor: e.actor.as_ref().map(|a| a.as_str().to_owned()),
            created_at: e.created_at,
        }
    }
}

/// A customer's loyalty standing.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoyaltyResponse {
    /// Points balance (the sum of the ledger).
    pub balance: i64,
    /// Spending that counts for tiers.
    #[schema(value_type = String)]
    pub total_spent: Decimal,
    /// Current tier.
    pub tier: Option<TierResponse>,
    /// The next tier up.
    pub next_tier: Option<TierResponse>,
    /// Spending missing to reach `next_tier`.
    #[schema(value_type = Option<String>)]
    pub missing_to_next_tier: Option<Decimal>,
    /// Ledger page, newest first.
    pub ledger: Vec<LedgerEntryResponse>,
    /// Pass as `before` for the next ledger page.
    pub next_before: Option<Uuid>,
}

/// Points to redeem or adjust, with the reason.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PointsRequest {
    /// Points: > 0 to redeem; any non-zero number to adjust.
    pub points: i64,
    /// Why (1..=500 characters).
    pub reason: String,
}

/// The balance after a points movement.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BalanceResponse {
    /// New balance.
    pub balance: i64,
}

/// A manual tier assignment.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierAssignment {
    /// The tier, or `null` for none.
    pub tier_id: Option<Uuid>,
    /// Why (1..=500 characters).
    pub reason: String,
}

/// One tier change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TierChangeResponse {
    /// Tier before.
    pub from_tier: Option<Uuid>,
    /// Tier after.
    pub to_tier: Option<Uuid>,
    /// Why.
    pub reason: String,
    /// Who (none for automatic upgrades).
    pub actor: Option<String>,
    /// When.
    pub changed_at: DateTime<Utc>,
}

impl From<&TierChange> for TierChangeResponse {
    fn from(c: &TierChange) -> Self {
        Self {
            from_tier: c.from_tier.map(|t| t.0),
            to_tier: c.to_tier.map(|t| t.0),
            reason: c.reason.clone(),
            actor: c.actor.as_ref().map(|a| a.as_str().to_owned()),
            changed_at: c.changed_at,
        }
    }
}

/// A customer's loyalty: balance, tier, next tier and what is missing, and the ledger.
#[utoipa::path(
    tag = "loyalty",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "Ledger entries, 1..=200 (default 20)"),
        ("before" = Option<Uuid>, Query, description = "`next_before` of the previous page"),
    ),
    responses(
        (status = 200, description = "The customer's balance, tier, next tier and a ledger page", body = LoyaltyResponse),
        (status = 400, description = "Unknown parameter or malformed value", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/loyalty")]
pub async fn get_loyalty(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut limit = crm_domain::customer::DEFAULT_PAGE_SIZE;
    let mut before = None;
    crate::query::each_param(req.query_string(), &["limit", "before"], |name, value| {
        match name {
            "limit" => limit = crate::query::limit(value)?,
            _ => {
                before = Some(LedgerEntryId(
                    value
                        .parse()
                        .map_err(|_| ApiError::bad(name, "not a ledger entry id"))?,
                ))
            }
        }
        Ok(())
    })?;
    let s = state
        .services
        .loyalty
        .summary(&caller.0, CustomerId(id.into_inner()), before, limit)
        .await?;
    Ok(HttpResponse::Ok().json(LoyaltyResponse {
        balance: s.balance,
        total_spent: s.total_spent.value(),
        tier: s.tier.as_ref().map(TierResponse::from),
        next_tier: s.next_tier.as_ref().map(TierResponse::from),
        missing_to_next_tier: s.missing_to_next.map(|a| a.value()),
        ledger: s.ledger.iter().map(LedgerEntryResponse::from).collect(),
        next_before: s.next_before.map(|b| b.0),
    }))
}

/// Redeem points (needs `customers.edit`).
#[utoipa::path(
    tag = "loyalty",
    params(("id" = Uuid, Path, description = "Customer id")),
    request_body = PointsRequest,
    responses(
        (status = 200, description = "Redeemed: the new balance", body = BalanceResponse),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`/problems/insufficient-points`: not enough points, with `balance` and `requested`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Points ≤ 0 or no reason", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/customers/{id}/loyalty/redeem")]
pub async fn redeem_points(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody<PointsRequest>,
) -> Result<HttpResponse, ApiError> {
    let balance = state
        .services
        .loyalty
        .redeem(
            &caller.0,
            CustomerId(id.into_inner()),
            body.0.points,
            &body.0.reason,
        )
        .await?;
    Ok(HttpResponse::Ok().json(BalanceResponse { balance }))
}

/// Adjust points by hand (needs `customers.manage`).
#[utoipa::path(
    tag = "loyalty",
    params(("id" = Uuid, Path, description = "Customer id")),
    request_body = PointsRequest,
    responses(
        (status = 200, description = "Adjusted: the new balance", body = BalanceResponse),
        (status = 403, description = "Missing customers.manage", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`/problems/insufficient-points`: the balance would go below zero, with `balance` and `requested`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Zero points or no reason", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/customers/{id}/loyalty/adjust")]
pub async fn adjust_points(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody<PointsRequest>,
) -> Result<HttpResponse, ApiError> {
    let balance = state
        .services
        .loyalty
        .adjust(
            &caller.0,
            CustomerId(id.into_inner()),
            body.0.points,
            &body.0.reason,
        )
        .await?;
    Ok(HttpResponse::Ok().json(BalanceResponse { balance }))
}

/// Assign a tier by hand, with a reason (needs `customers.manage`).
#[utoipa::path(
    tag = "loyalty",
    params(("id" = Uuid, Path, description = "Customer id")),
    request_body = TierAssignment,
    responses(
        (status = 200, description = "The customer with its new tier", body = CustomerResponse),
        (status = 403, description = "Missing customers.manage", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown tier or no reason", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[put("/customers/{id}/tier")]
pub async fn assign_tier(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody<TierAssignment>,
) -> Result<HttpResponse, ApiError> {
    let c = state
        .services
        .loyalty
        .assign_tier(
            &caller.0,
            CustomerId(id.into_inner()),
            body.0.tier_id.map(TierId),
            &body.0.reason,
        )
        .await?;
    let mut body = [CustomerResponse::from(&c)];
    crate::customers::attach_parts(&state, &caller, &mut body).await?;
    let [body] = body;
    Ok(HttpResponse::Ok().json(body))
}

/// A customer's tier changes, newest first (at most 100).
#[utoipa::path(
    tag = "loyalty",
    params(("id" = Uuid, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The customer's tier changes, newest first", body = Vec<TierChangeResponse>),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/tier-history")]
pub async fn tier_history(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let h = state
        .services
        .loyalty
        .tier_history(&caller.0, CustomerId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(h.iter().map(TierChangeResponse::from).collect::<Vec<_>>()))
}

/// The tenant's tiers by level.
#[utoipa::path(
    tag = "tiers",
    responses(
        (status = 200, description = "The tenant's tiers by level", body = Vec<TierResponse>),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customer-tiers")]
pub async fn list_tiers(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tiers = state.services.tiers.list(&caller.0).await?;
    Ok(HttpResponse::Ok().json(tiers.iter().map(TierResponse::from).collect::<Vec<_>>()))
}

/// Create a tier (needs `customers.manage`).
#[utoipa::path(
    tag = "tiers",
    request_body = TierWrite,
    responses(
        (status = 201, description = "The tier created", body = TierResponse),
        (status = 403, description = "Missing customers.manage", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name or level taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/customer-tiers")]
pub async fn create_tier(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody<TierWrite>,
) -> Result<HttpResponse, ApiError> {
    let t = state
        .services
        .tiers
        .create(&caller.0, body.0.into())
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/api/v1/customer-tiers/{}", t.id),
        ))
        .json(TierResponse::from(&t)))
}

/// Get a tier.
#[utoipa::path(
    tag = "tiers",
    params(("id" = Uuid, Path, description = "Tier id")),
    responses(
        (status = 200, description = "The tier", body = TierResponse),
        (status = 404, description = "No such tier", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customer-tiers/{id}")]
pub async fn get_tier(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let t = state
        .services
        .tiers
        .get(&caller.0, TierId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(TierResponse::from(&t)))
}

/// Replace a tier (needs `customers.manage`); customers keep their tier, new thresholds apply
/// from their next purchase.
#[utoipa::path(
    tag = "tiers",
    params(("id" = Uuid, Path, description = "Tier id")),
    request_body = TierWrite,
    responses(
        (status = 200, description = "The tier as replaced", body = TierResponse),
        (status = 403, description = "Missing customers.manage", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tier", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name or level taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[put("/customer-tiers/{id}")]
pub async fn replace_tier(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody<TierWrite>,
) -> Result<HttpResponse, ApiError> {
    let t = state
        .services
        .tiers
        .replace(&caller.0, TierId(id.into_inner()), body.0.into())
        .await?;
    Ok(HttpResponse::Ok().json(TierResponse::from(&t)))
}

/// Delete a tier no customer holds (needs `customers.manage`).
#[utoipa::path(
    tag = "tiers",
    params(("id" = Uuid, Path, description = "Tier id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Missing customers.manage", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tier", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`/problems/tier-in-use`: customers hold it, with `customers` (how many)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/customer-tiers/{id}")]
pub async fn delete_tier(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .tiers
        .delete(&caller.0, TierId(id.into_inner()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A line to price.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteLineRequest {
    /// Product code.
    pub sku: String,
    /// Quantity, > 0.
    #[schema(value_type = String, example = "2")]
    pub quantity: Decimal,
    /// Unit price before discount, in the customer's currency.
    #[schema(value_type = String, example = "150000")]
    pub unit_price: Decimal,
}

/// A quote request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    /// The customer whose discount applies.
    pub customer_id: Uuid,
    /// 1..=500 lines.
    pub lines: Vec<QuoteLineRequest>,
}

/// One priced line; amounts rounded to the currency's minor unit, half away from zero.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QuotedLineResponse {
    /// Product code.
    pub sku: String,
    /// Quantity.
    #[schema(value_type = String)]
    pub quantity: Decimal,
    /// Unit price.
    #[schema(value_type = String)]
    pub unit_price: Decimal,
    /// `quantity × unit_price`.
    #[schema(value_type = String)]
    pub subtotal: Decimal,
    /// `subtotal × discount_percent / 100`.
    #[schema(value_type = String)]
    pub discount: Decimal,
    /// `subtotal − discount`.
    #[schema(value_type = String)]
    pub total: Decimal,
}

/// A price quote.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QuoteResponse {
    /// Currency (the customer's).
    pub currency: String,
    /// Percent applied.
    #[schema(value_type = String)]
    pub discount_percent: Decimal,
    /// `customer` (own override), `tier` or `none`.
    pub discount_source: String,
    /// The tier, when the discount is the tier's.
    pub tier_name: Option<String>,
    /// Lines.
    pub lines: Vec<QuotedLineResponse>,
    /// Σ subtotals.
    #[schema(value_type = String)]
    pub subtotal: Decimal,
    /// Σ discounts.
    #[schema(value_type = String)]
    pub discount: Decimal,
    /// Σ totals.
    #[schema(value_type = String)]
    pub total: Decimal,
}

/// Price lines for a customer: the customer's own discount when set, else the tier's.
#[utoipa::path(
    tag = "pricing",
    request_body = QuoteRequest,
    responses(
        (status = 200, description = "The priced lines, the discount applied and its source", body = QuoteResponse),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid lines", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/pricing/quote")]
pub async fn quote(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody<QuoteRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut lines = Vec::with_capacity(body.0.lines.len());
    for (i, l) in body.0.lines.into_iter().enumerate() {
        let unit_price = Amount::new(l.unit_price).map_err(|_| {
            crm_domain::DomainError::invalid(
                format!("lines[{i}].unit_price"),
                "invalid_amount",
                "must be ≥ 0 with at most 4 decimals",
            )
        })?;
        lines.push(QuoteLineInput {
            sku: l.sku,
            quantity: l.quantity,
            unit_price,
        });
    }
    let (q, source) = state
        .services
        .pricing
        .quote_for(&caller.0, CustomerId(body.0.customer_id), &lines)
        .await?;
    let (discount_source, tier_name) = match source {
        DiscountSource::Customer => ("customer", None),
        DiscountSource::Tier(name) => ("tier", Some(name)),
        DiscountSource::None => ("none", None),
    };
    Ok(HttpResponse::Ok().json(QuoteResponse {
        currency: q.currency.as_str().to_owned(),
        discount_percent: q.discount_percent,
        discount_source: discount_source.to_owned(),
        tier_name,
        lines: q
            .lines
            .into_iter()
            .map(|l| QuotedLineResponse {
                sku: l.sku,
                quantity: l.quantity,
                unit_price: l.unit_price,
                subtotal: l.subtotal,
                discount: l.discount,
                total: l.total,
            })
            .collect(),
        subtotal: q.subtotal,
        discount: q.discount,
        total: q.total,
    }))
}

/// The number of tier changes a re-evaluation made.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReevaluationResponse {
    /// Customers whose tier changed.
    pub changed: u64,
}

/// Apply the tier rule to every customer (needs `customers.manage`): upgrades after thresholds
/// changed, and grace-period downgrades once the grace has passed. Run it nightly.
#[utoipa::path(
    tag = "tiers",
    responses(
        (status = 200, description = "How many customers' tiers changed", body = ReevaluationResponse),
        (status = 403, description = "Missing customers.manage", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/customer-tiers/reevaluate")]
pub async fn reevaluate_tiers(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let changed = state.services.loyalty.reevaluate_tiers(&caller.0).await?;
    Ok(HttpResponse::Ok().json(ReevaluationResponse { changed }))
}

/// The caller's tenant.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantResponse {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Default country (national phone numbers).
    pub default_country: Option<String>,
    /// Default currency.
    pub default_currency: String,
    /// Settings: `points_unit` (amount that earns one point, default 10000) and
    /// `tier_downgrade` (`"never"`, the default, or `{"grace_days": N}`), and any other keys.
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
}

fn tenant_response(t: &crm_domain::tenant::Tenant) -> TenantResponse {
    TenantResponse {
        id: t.id.0,
        name: t.name.clone(),
        default_country: t.default_country.map(|c| c.as_str().to_owned()),
        default_currency: t.default_currency.as_str().to_owned(),
        settings: serde_json::Value::Object(t.settings.clone()),
    }
}

/// The caller's tenant and its settings (needs `customers.view`).
#[utoipa::path(
    tag = "tenant",
    responses(
        (status = 200, description = "The caller's tenant and its settings", body = TenantResponse),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/tenant")]
pub async fn get_tenant(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let t = state.services.tenants.current(&caller.0).await?;
    Ok(HttpResponse::Ok().json(tenant_response(&t)))
}

/// Merge keys into the tenant's settings (JSON merge patch; needs `customers.manage`).
///
/// Keys: `points_unit` (an amount > 0), `tier_downgrade` (`"never"` or `{"grace_days": N}`),
/// `sales_scope` (`"all"`, the default: every role reaches every customer; `"assigned"`: a user
/// whose strongest role is `sales` reaches only the customers assigned to them). `null`
/// removes a key.
#[utoipa::path(
    tag = "tenant",
    request_body(content = Object, description = "e.g. {\"points_unit\": \"5000\", \"tier_downgrade\": {\"grace_days\": 30}, \"sales_scope\": \"assigned\"}"),
    responses(
        (status = 200, description = "The tenant with its merged settings", body = TenantResponse),
        (status = 403, description = "Missing customers.manage", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed setting; `errors[0].field` names it (`points_unit`, `tier_downgrade.grace_days`, `sales_scope`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/tenant/settings")]
pub async fn update_tenant_settings(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody<serde_json::Map<String, serde_json::Value>>,
) -> Result<HttpResponse, ApiError> {
    let t = state
        .services
        .tenants
        .update_settings(&caller.0, body.0)
        .await?;
    Ok(HttpResponse::Ok().json(tenant_response(&t)))
}
