//! `GET /api/v1/customers` (query-parameter filters) and `POST /api/v1/customers/search` (the
//! JSON filter language): one query model, keyset cursors bound to the sort, optional exact
//! totals, and a page-number mode for older clients.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use crm_domain::customer::filter::{Condition, Field, Filter, FilterBuilder, Op, Operand};
use crm_domain::customer::search::SearchText;
use crm_domain::customer::{
    CustomerQuery, DEFAULT_PAGE_SIZE, Deleted, Position, SortField, SortKey, SortValue,
};
use crm_domain::{CustomerId, DomainError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::dto::{CustomerPage, CustomerResponse};
use crate::auth::Caller;
use crate::cursor::CursorKind;
use crate::json::JsonBody;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Query parameters of the customer list. Filters combine with AND; repeated (or
/// comma-separated) values of one filter with OR. Unknown parameters are a 400.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListCustomersParams {
    /// Free-text search (2..=100 characters) over name, display name, company, e-mail, phone
    /// digits, customer code, tax id and tags: substrings, and one typo in a word of 4+
    /// letters; also the customer's contacts (name and e-mail substrings, phone digits) and
    /// the city or postal code of its addresses, matched from their start (`band` finds
    /// Bandung). Best matches first unless `sort` is given.
    q: Option<String>,
    /// Rows per page, 1..=200 (default 20).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page (only valid with the same `sort`).
    cursor: Option<String>,
    /// Page number (1-based, at most 1,000,000): answers `{page, limit, total, total_pages}`
    /// instead of a cursor.
    #[param(minimum = 1, maximum = 1_000_000)]
    page: Option<u64>,
    /// `true` adds the exact `total`.
    include_total: Option<bool>,
    /// Sort keys, comma-separated, `-` for descending: name, created_at, updated_at,
    /// last_order_at, total_spent, total_orders, customer_code, next_follow_up_at, distance
    /// (nearest address first; needs `near` and `within_km`). Default
    /// `-created_at`; ties broken by id.
    sort: Option<String>,
    /// Status.
    status: Option<Vec<super::dto::CustomerStatus>>,
    /// Customer type.
    customer_type: Option<Vec<super::dto::CustomerType>>,
    /// Lifecycle stage.
    stage: Option<Vec<super::dto::LifecycleStage>>,
    /// Acquisition source.
    source: Option<Vec<super::dto::AcquisitionSource>>,
    /// Industry (case-insensitive).
    industry: Option<Vec<String>>,
    /// Owner user id.
    assigned_to: Option<Vec<String>>,
    /// Has any of these tags (repeated or comma-separated values add up: at most 50 tags of
    /// at most 50 characters).
    tag: Option<Vec<String>>,
    /// Has all of these tags (repeated or comma-separated values add up: at most 50 tags of at
    /// most 50 characters; one set condition).
    tags_all: Option<Vec<String>>,
    /// VIP.
    is_vip: Option<bool>,
    /// Blacklisted.
    is_blacklisted: Option<bool>,
    /// Has an e-mail.
    has_email: Option<bool>,
    /// Has a phone or mobile phone.
    has_phone: Option<bool>,
    /// Currency.
    currency: Option<Vec<String>>,
    /// Loyalty tier name (case-insensitive).
    loyalty_tier: Option<Vec<String>>,
    /// RFM segment (`champions`, `at_risk`, ...; see `docs/RFM.md`).
    rfm_segment: Option<Vec<String>>,
    /// City of any of the customer's addresses (case-insensitive; `address.city` in the
    /// filter language).
    city: Option<Vec<String>>,
    /// Region (province, state) of any of the customer's addresses (case-insensitive).
    region: Option<Vec<String>>,
    /// Postal code of any of the customer's addresses.
    postal_code: Option<Vec<String>>,
    /// Country (ISO 3166-1 alpha-2) of any of the customer's addresses (the customer's own
    /// `country` field is `country` in the filter language).
    country: Option<Vec<String>>,
    /// A radius search, `LAT,LNG` in WGS 84 degrees, with `within_km`: customers with an
    /// address within that great-circle distance (haversine, Earth radius 6371.0088 km).
    near: Option<String>,
    /// The radius of `near`, kilometres (0..=20015).
    within_km: Option<f64>,
    /// `created_at` ≥ (RFC 3339).
    created_after: Option<DateTime<Utc>>,
    /// `created_at` <.
    created_before: Option<DateTime<Utc>>,
    /// `updated_at` ≥.
    updated_after: Option<DateTime<Utc>>,
    /// `updated_at` <.
    updated_before: Option<DateTime<Utc>>,
    /// `last_order_at` ≥.
    last_order_after: Option<DateTime<Utc>>,
    /// `last_order_at` <.
    last_order_before: Option<DateTime<Utc>>,
    /// `next_follow_up_at` ≥.
    next_follow_up_after: Option<DateTime<Utc>>,
    /// `next_follow_up_at` <.
    next_follow_up_before: Option<DateTime<Utc>>,
    /// `total_spent` ≥.
    min_total_spent: Option<String>,
    /// `total_spent` ≤.
    max_total_spent: Option<String>,
    /// `total_orders` ≥.
    min_total_orders: Option<i64>,
    /// `total_orders` ≤.
    max_total_orders: Option<i64>,
    /// `true`: a follow-up is due (`next_follow_up_at` ≤ now); `false`: none is.
    follow_up_due: Option<bool>,
    /// Also deleted customers (needs customers.manage).
    include_deleted: Option<bool>,
    /// Only deleted customers (needs customers.manage).
    only_deleted: Option<bool>,
}

const RANGES: &[(&str, Field, Op)] = &[
    ("created_after", Field::CreatedAt, Op::Gte),
    ("created_before", Field::CreatedAt, Op::Lt),
    ("updated_after", Field::UpdatedAt, Op::Gte),
    ("updated_before", Field::UpdatedAt, Op::Lt),
    ("last_order_after", Field::LastOrderAt, Op::Gte),
    ("last_order_before", Field::LastOrderAt, Op::Lt),
    ("next_follow_up_after", Field::NextFollowUpAt, Op::Gte),
    ("next_follow_up_before", Field::NextFollowUpAt, Op::Lt),
    ("min_total_spent", Field::TotalSpent, Op::Gte),
    ("max_total_spent", Field::TotalSpent, Op::Lte),
    ("min_total_orders", Field::TotalOrders, Op::Gte),
    ("max_total_orders", Field::TotalOrders, Op::Lte),
];

const MULTI: &[(&str, Field)] = &[
    ("status", Field::Status),
    ("customer_type", Field::CustomerType),
    ("stage", Field::Stage),
    ("source", Field::Source),
    ("industry", Field::Industry),
    ("assigned_to", Field::AssignedTo),
    ("currency", Field::Currency),
    ("loyalty_tier", Field::LoyaltyTier),
    ("tag", Field::Tags),
    ("rfm_segment", Field::RfmSegment),
    ("city", Field::AddressCity),
    ("region", Field::AddressRegion),
    ("postal_code", Field::AddressPostalCode),
    ("country", Field::AddressCountry),
];

fn boolean(name: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(ApiError::bad(
            name,
            format!("`{other}` is not true or false"),
        )),
    }
}

/// Parses `sort` (`name,-created_at`).
///
/// # Errors
/// A 400 naming `sort` for an unknown key or a repeated one.
pub fn parse_sort(raw: &str) -> Result<Vec<SortKey>, ApiError> {
    SortKey::parse_list(raw).map_err(|e| ApiError::bad("sort", e))
}

/// `keys` are the query's effective sort keys ([`CustomerQuery::sort_keys`]): with a search
/// and no `sort`, that is relevance, not the newest-first default.
fn sort_spec(keys: &[SortKey]) -> String {
    SortKey::spec(keys)
}

fn encode_cursor(state: &AppState, keys: &[SortKey], p: &Position) -> String {
    state.cursors.encode_json(
        CursorKind::Customers,
        &json!({"s": sort_spec(keys), "v": p.values, "id": p.id.0}),
    )
}

fn decode_cursor(state: &AppState, keys: &[SortKey], raw: &str) -> Result<Position, ApiError> {
    let v = state.cursors.decode_json(CursorKind::Customers, raw)?;
    if v["s"].as_str() != Some(sort_spec(keys).as_str()) {
        return Err(ApiError::bad(
            "cursor",
            "the cursor was issued for another sort; start again without it",
        ));
    }
    let bad = || ApiError::bad("cursor", "malformed cursor");
    let effective = keys;
    let raw_values = v["v"]
        .as_array()
        .filter(|a| a.len() == effective.len())
        .ok_or_else(bad)?;
    // Each value is read as its key's type: the JSON alone cannot tell micros from integers.
    let values = effective
        .iter()
        .zip(raw_values)
        .map(|(k, v)| match k.field {
            SortField::Name | SortField::CustomerCode => {
                v.as_str().map(|s| SortValue::Text(s.to_owned()))
            }
            SortField::TotalSpent
            | SortField::TotalOrders
            | SortField::Relevance
            | SortField::RfmScore => v.as_i64().map(SortValue::Integer),
            SortField::Distance => v.as_u64().map(SortValue::Real),
            _ if v.is_null() => Some(SortValue::Micros(None)),
            _ => v.as_i64().map(|m| SortValue::Micros(Some(m))),
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(bad)?;
    let id = v["id"]
        .as_str()
        .and_then(|s| s.parse::<Uuid>().ok())
        .ok_or_else(bad)?;
    Ok(Position {
        values,
        id: CustomerId(id),
    })
}

/// The largest `page` in page-number mode: 1,000,000. With `limit` ≤ 200 the offset
/// `(page - 1) × limit` stays below 2 × 10^8, far inside the `i64` a database binds it as.
pub(crate) const MAX_PAGE: u64 = 1_000_000;

fn bad_page() -> ApiError {
    ApiError::bad("page", format!("a page number from 1 to {MAX_PAGE}"))
}

/// The offset of a page: `(page - 1) × limit`, for `page` in 1..=[`MAX_PAGE`].
///
/// # Errors
/// A 400 naming `page` outside that range.
fn page_offset(page: u64, limit: u32) -> Result<u64, ApiError> {
    (1..=MAX_PAGE)
        .contains(&page)
        .then(|| (page - 1).checked_mul(u64::from(limit)))
        .flatten()
        .ok_or_else(bad_page)
}

/// What a list request asks for beyond the query itself.
pub(crate) struct ListMode {
    include_total: bool,
    page: Option<u64>,
}

/// Parameters that hold a list of values: repeated or comma-separated values add up (one
/// condition, so one limit). Every other parameter may be given once.
const LISTS: &[&str] = &["tags_all"];

pub(crate) fn parse_params(
    query: &str,
    state: &AppState,
) -> Result<(CustomerQuery, ListMode), ApiError> {
    let now = state.services.customers.now();
    let mut filter = FilterBuilder::default();
    let mut limit = DEFAULT_PAGE_SIZE;
    let mut cursor = None;
    let mut sort = Vec::new();
    let mut deleted = Deleted::Exclude;
    let mut mode = ListMode {
        include_total: false,
        page: None,
    };
    // Lists, in the order first seen: (parameter, field, operator, values).
    let mut lists: Vec<(&str, Field, Op, Vec<Value>)> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut search = None;
    let mut known: Vec<&str> = vec![
        "q",
        "limit",
        "cursor",
        "page",
        "include_total",
        "sort",
        "tags_all",
        "is_vip",
        "is_blacklisted",
        "has_email",
        "has_phone",
        "follow_up_due",
        "include_deleted",
        "only_deleted",
        "near",
        "within_km",
    ];
    let mut near: Option<String> = None;
    let mut within_km: Option<String> = None;
    known.extend(RANGES.iter().map(|r| r.0));
    known.extend(MULTI.iter().map(|m| m.0));
    let field_error = ApiError::BadParameter;
    crate::query::each_param(query, &known, |name, value| {
        let text = || Value::String(value.to_owned());
        let list = MULTI
            .iter()
            .map(|(p, f)| (*p, *f, Op::In))
            .chain(LISTS.iter().map(|p| (*p, Field::Tags, Op::ContainsAll)))
            .find(|(p, ..)| *p == name);
        if let Some((param, field, op)) = list {
            let values = value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| Value::String(v.to_owned()));
            match lists.iter_mut().find(|l| l.0 == param) {
                Some(l) => l.3.extend(values),
                None => lists.push((param, field, op, values.collect())),
            }
            return Ok(());
        }
        // A single-valued parameter given twice would AND a condition with itself (and
        // `has_phone` or `follow_up_due`, two groups each, would double the groups each time).
        if seen.iter().any(|s| s == name) {
            return Err(ApiError::bad(
                name,
                format!("`{name}` is given more than once; give it once"),
            ));
        }
        seen.push(name.to_owned());
        match name {
            "q" => {
                search = Some(SearchText::parse(value).map_err(|e| ApiError::bad("q", e.message))?)
            }
            "limit" => limit = crate::query::limit(value)?,
            "cursor" => cursor = Some(value.to_owned()),
            "page" => {
                let page = value.parse::<u64>().map_err(|_| bad_page())?;
                page_offset(page, limit)?;
                mode.page = Some(page);
            }
            "include_total" => mode.include_total = boolean(name, value)?,
            "sort" => sort = parse_sort(value)?,
            "is_vip" => filter
                .condition(
                    name,
                    Field::IsVip,
                    Op::Eq,
                    &Value::Bool(boolean(name, value)?),
                )
                .map_err(field_error)?,
            "is_blacklisted" => filter
                .condition(
                    name,
                    Field::IsBlacklisted,
                    Op::Eq,
                    &Value::Bool(boolean(name, value)?),
                )
                .map_err(field_error)?,
            "has_email" => {
                let op = if boolean(name, value)? {
                    Op::IsNotNull
                } else {
                    Op::IsNull
                };
                filter
                    .condition(name, Field::Email, op, &Value::Null)
                    .map_err(field_error)?;
            }
            "has_phone" => {
                let phone = |f, op| Condition {
                    field: f,
                    op,
                    value: Operand::None,
                };
                let has = if boolean(name, value)? {
                    Filter {
                        groups: vec![
                            vec![phone(Field::Phone, Op::IsNotNull)],
                            vec![phone(Field::MobilePhone, Op::IsNotNull)],
                        ],
                    }
                } else {
                    Filter::all(vec![
                        phone(Field::Phone, Op::IsNull),
                        phone(Field::MobilePhone, Op::IsNull),
                    ])
                };
                filter.and(name, has).map_err(field_error)?;
            }
            "follow_up_due" => filter
                .and(name, Filter::follow_up_due(boolean(name, value)?, now))
                .map_err(field_error)?,
            "include_deleted" if boolean(name, value)? => deleted = Deleted::Include,
            "only_deleted" if boolean(name, value)? => deleted = Deleted::Only,
            "include_deleted" | "only_deleted" => {}
            "near" => near = Some(value.to_owned()),
            "within_km" => within_km = Some(value.to_owned()),
            _ => {
                if let Some((_, field, op)) = RANGES.iter().find(|r| r.0 == name) {
                    filter
                        .condition(name, *field, *op, &text())
                        .map_err(field_error)?;
                }
            }
        }
        Ok(())
    })?;
    match (near, within_km) {
        (None, None) => {}
        (Some(near), Some(km)) => {
            let n = crm_domain::address::Near::parse(&near, &km).map_err(field_error)?;
            let value = json!({
                "latitude": n.center.latitude,
                "longitude": n.center.longitude,
                "within_km": n.radius_km,
            });
            filter
                .condition("near", Field::AddressNear, Op::Within, &value)
                .map_err(field_error)?;
        }
        (Some(_), None) => {
            return Err(ApiError::bad(
                "within_km",
                "`near` needs `within_km` (kilometres)",
            ));
        }
        (None, Some(_)) => {
            return Err(ApiError::bad(
                "near",
                "`within_km` needs `near` (`LAT,LNG`)",
            ));
        }
    }
    for (name, field, op, values) in lists {
        if !values.is_empty() {
            filter
                .condition(name, field, op, &Value::Array(values))
                .map_err(field_error)?;
        }
    }
    let offset = mode.page.map(|p| page_offset(p, limit)).transpose()?;
    let mut query = CustomerQuery {
        filter: filter.build(),
        sort,
        deleted,
        limit,
        after: None,
        offset,
        now,
        search,
    };
    query.after = cursor
        .as_deref()
        .map(|c| decode_cursor(state, &query.sort_keys(), c))
        .transpose()?;
    Ok((query, mode))
}

pub(crate) async fn answer(
    caller: &Caller,
    state: &AppState,
    query: CustomerQuery,
    mode: ListMode,
) -> Result<HttpResponse, ApiError> {
    let keys = query.sort_keys();
    let limit = query.limit;
    let page = state
        .services
        .customers
        .list(&caller.0, query, mode.include_total || mode.page.is_some())
        .await?;
    let mut data: Vec<CustomerResponse> = page.items.iter().map(CustomerResponse::from).collect();
    super::attach_parts(state, caller, &mut data).await?;
    Ok(HttpResponse::Ok().json(match mode.page {
        Some(n) => {
            let total = page.total.unwrap_or(0);
            CustomerPage {
                data,
                next_cursor: None,
                total: Some(total),
                page: Some(n),
                limit: Some(limit),
                total_pages: Some(total.div_ceil(u64::from(limit))),
            }
        }
        None => CustomerPage {
            data,
            next_cursor: page.next.map(|p| encode_cursor(state, &keys, &p)),
            total: page.total,
            page: None,
            limit: None,
            total_pages: None,
        },
    }))
}

/// List customers: filters, sort, keyset cursor pages (or page numbers).
#[utoipa::path(
    tag = "customers",
    params(ListCustomersParams),
    responses(
        (status = 200, description = "A page of customers", body = CustomerPage),
        (status = 400, description = "Unknown or repeated parameter, malformed value, a value over a limit of the filter language (`errors[0].limit`), or a cursor not issued by this server for this sort", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.view (customers.manage for deleted customers)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers")]
pub async fn list_customers(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (query, mode) = parse_params(req.query_string(), &state)?;
    answer(&caller, &state, query, mode).await
}

/// Which customers a search sees with respect to soft deletion.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeletedMode {
    /// Live customers (default).
    #[default]
    Exclude,
    /// Live and deleted (needs customers.manage).
    Include,
    /// Deleted only (needs customers.manage).
    Only,
}

/// A search in the filter language.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// Free-text search (as the list's `q`).
    pub q: Option<String>,
    /// `{"any": [{"all": [{"field", "op", "value"}, ...]}, ...]}` or `{"all": [...]}`; at most 5
    /// groups of 10 conditions, 100 values in a list (50 tags of 50 characters), texts of 255
    /// characters, 500 values in all. Operators: eq, neq, in, not_in, gt, gte, lt, lte,
    /// contains, contains_all (tags: has every one), starts_with, ends_with, is_null,
    /// is_not_null, within. Address fields (any of the customer's addresses): `address.city`,
    /// `address.region`, `address.postal_code`, `address.country` (text), and `address.near`
    /// with `within` and `{"latitude": .., "longitude": .., "within_km": ..}` (great-circle
    /// radius, Earth radius 6371.0088 km).
    #[schema(value_type = Option<Object>, example = json!({"any": [{"all": [{"field": "email", "op": "ends_with", "value": "@acme.id"}, {"field": "total_spent", "op": "gte", "value": "1000000"}]}]}))]
    pub filter: Option<Value>,
    /// Sort keys, `-` for descending (as the list's `sort`).
    pub sort: Option<Vec<String>>,
    /// Rows, 1..=200 (default 20).
    #[schema(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page number mode (1-based, at most 1,000,000).
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub page: Option<u64>,
    /// Add the exact total.
    pub include_total: Option<bool>,
    /// Soft-deleted customers.
    pub deleted: Option<DeletedMode>,
}

/// Search customers with the JSON filter language (what saved views and segments store).
#[utoipa::path(
    tag = "customers",
    request_body = SearchRequest,
    responses(
        (status = 200, description = "A page of customers", body = CustomerPage),
        (status = 400, description = "A cursor not issued by this server for this sort", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.view (customers.manage for deleted customers)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed filter, or one over a limit (`errors[0].limit`); errors quote the field, operator or value", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/customers/search")]
pub async fn search_customers(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody<SearchRequest>,
) -> Result<HttpResponse, ApiError> {
    let r = body.0;
    let search =
        r.q.as_deref()
            .map(SearchText::parse)
            .transpose()
            .map_err(|e| DomainError::Validation(vec![e]))?;
    let filter = Filter::parse(r.filter.as_ref().unwrap_or(&Value::Null), "filter")
        .map_err(DomainError::Validation)?;
    let sort = parse_sort(&r.sort.unwrap_or_default().join(","))?;
    let limit = match r.limit {
        None => DEFAULT_PAGE_SIZE,
        Some(l) => crate::query::limit(&l.to_string())?,
    };
    let offset = r.page.map(|p| page_offset(p, limit)).transpose()?;
    let deleted = match r.deleted.unwrap_or_default() {
        DeletedMode::Exclude => Deleted::Exclude,
        DeletedMode::Include => Deleted::Include,
        DeletedMode::Only => Deleted::Only,
    };
    let mut query = CustomerQuery {
        filter,
        sort,
        deleted,
        limit,
        after: None,
        offset,
        now: state.services.customers.now(),
        search,
    };
    query.after = r
        .cursor
        .as_deref()
        .map(|c| decode_cursor(&state, &query.sort_keys(), c))
        .transpose()?;
    answer(
        &caller,
        &state,
        query,
        ListMode {
            include_total: r.include_total.unwrap_or(false),
            page: r.page,
        },
    )
    .await
}

/// Revenue of the customers of one currency.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CurrencyRevenue {
    /// ISO 4217.
    pub currency: String,
    /// Customers in this currency.
    pub customers: u64,
    /// Σ total_spent.
    #[schema(value_type = String)]
    pub total_revenue: rust_decimal::Decimal,
    /// total_revenue / customers (2 decimals).
    #[schema(value_type = String)]
    pub average_lifetime_value: rust_decimal::Decimal,
}

/// Statistics of the customers a filter matches.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CustomerStatsResponse {
    /// Matching customers.
    pub total: u64,
    /// Counts by status.
    pub by_status: std::collections::BTreeMap<String, u64>,
    /// Counts by customer type.
    pub by_customer_type: std::collections::BTreeMap<String, u64>,
    /// Counts by stage.
    pub by_stage: std::collections::BTreeMap<String, u64>,
    /// Counts by loyalty tier name (`none`: no tier).
    pub by_loyalty_tier: std::collections::BTreeMap<String, u64>,
    /// VIP customers.
    pub vip: u64,
    /// Created this calendar month (UTC).
    pub new_this_month: u64,
    /// Created last calendar month (UTC).
    pub new_last_month: u64,
    /// Revenue per currency.
    pub revenue_by_currency: Vec<CurrencyRevenue>,
    /// Σ total_orders / customers (2 decimals).
    #[schema(value_type = String)]
    pub average_purchases_per_customer: rust_decimal::Decimal,
    /// The 10 customers with the highest total_spent.
    pub top_customers: Vec<CustomerResponse>,
    /// The 10 most recently created customers.
    pub recent_customers: Vec<CustomerResponse>,
}

/// Statistics of the customers the list's filters match (same parameters as the list).
#[utoipa::path(
    tag = "customers",
    params(ListCustomersParams),
    responses(
        (status = 200, description = "Counts and revenue of the customers the filters select", body = CustomerStatsResponse),
        (status = 400, description = "Unknown or repeated parameter, malformed value, or a value over a limit of the filter language (`errors[0].limit`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/stats")]
pub async fn customer_stats(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (query, _) = parse_params(req.query_string(), &state)?;
    let s = state.services.customers.stats(&caller.0, query).await?;
    let tiers = state.services.tiers.list(&caller.0).await?;
    let a = s.aggregates;
    let map = |rows: Vec<(String, u64)>| {
        rows.into_iter()
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let mut by_tier = std::collections::BTreeMap::new();
    for (tier, n) in a.by_tier {
        let name = tier
            .and_then(|t| tiers.iter().find(|x| x.id == t))
            .map_or("none".to_owned(), |t| t.name.clone());
        *by_tier.entry(name).or_insert(0) += n;
    }
    let mut top_customers: Vec<CustomerResponse> = s
        .top_by_spending
        .iter()
        .map(CustomerResponse::from)
        .collect();
    let mut recent_customers: Vec<CustomerResponse> =
        s.most_recent.iter().map(CustomerResponse::from).collect();
    super::attach_parts(&state, &caller, &mut top_customers).await?;
    super::attach_parts(&state, &caller, &mut recent_customers).await?;
    Ok(HttpResponse::Ok().json(CustomerStatsResponse {
        total: a.count,
        by_status: map(a.by_status),
        by_customer_type: map(a.by_type),
        by_stage: map(a.by_stage),
        by_loyalty_tier: by_tier,
        vip: a.vip,
        new_this_month: a.new_this_month,
        new_last_month: a.new_last_month,
        revenue_by_currency: a
            .by_currency
            .into_iter()
            .map(|(currency, customers, sum)| CurrencyRevenue {
                currency,
                customers,
                total_revenue: sum.value(),
                average_lifetime_value: sum.per(customers, 2),
            })
            .collect(),
        average_purchases_per_customer: s.average_purchases,
        top_customers,
        recent_customers,
    }))
}
