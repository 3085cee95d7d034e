//! Hostile filters and sums, on SQLite and PostgreSQL (issue 16, defect 2 and the cross-customer
//! sums of defect 5): every path into the filter language (query string, JSON filter, saved
//! view, segment, export, bulk action) has the same limits and answers a problem naming the
//! parameter or field and the limit instead of running a query of hundreds of sub-queries;
//! a tag set is one condition; a statement that outlives the database's time limit is a 503
//! with `Retry-After`; sums of money across customers never overflow into a 500.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use crm_blackbox_tests::{DbBackend, Reply, TestApp, on_both_backends};
use serde_json::json;

/// The largest amount the API accepts (`i64::MAX` ten-thousandths, whole units).
const MAX_AMOUNT: &str = "922337203685477";

/// The most tags one filter condition may hold.
const MAX_TAGS: u64 = 50;

fn tags(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("t{i}")).collect()
}

async fn customer(app: &TestApp, token: &str, name: &str, tags: &[&str]) -> String {
    let r = app
        .post(
            "/api/v1/customers",
            token,
            json!({"name": name, "email": format!("{}@example.com", uuid::Uuid::now_v7()), "tags": tags}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// Asserts a 400 or 422 problem whose first error names `field` and carries `limit`.
fn assert_limit(r: &Reply, status: u16, field: &str, limit: u64, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.body);
    r.assert_problem(status);
    assert_eq!(r.error_field(), Some(field), "{what}: {}", r.body);
    assert_eq!(
        r.body["errors"][0]["limit"],
        json!(limit),
        "{what}: {}",
        r.body
    );
    let message = r.body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&limit.to_string()), "{what}: {}", r.body);
}

async fn four_hundred_tags_in_a_query_string_are_a_400_naming_the_parameter(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("A").await;
    let viewer = app.token(tenant, "viewer");
    let admin = app.token(tenant, "admin");
    customer(&app, &admin, "Ani", &["t0", "t1"]).await;
    let many = tags(400).join(",");
    let segment = app
        .post(
            "/api/v1/customer-segments",
            &admin,
            json!({"name": "All", "segment_type": "manual"}),
        )
        .await;
    assert_eq!(segment.status, 201, "{}", segment.body);
    let segment = segment.body["id"].as_str().unwrap().to_owned();
    for (path, token, param) in [
        (
            format!("/api/v1/customers?tags_all={many}"),
            &viewer,
            "tags_all",
        ),
        (format!("/api/v1/customers?tag={many}"), &viewer, "tag"),
        (
            format!("/api/v1/customers/stats?tags_all={many}"),
            &viewer,
            "tags_all",
        ),
        (
            format!("/api/v1/customer-segments/{segment}/customers?tags_all={many}"),
            &viewer,
            "tags_all",
        ),
        (
            format!("/api/v1/exports/customers?tags_all={many}"),
            &admin,
            "tags_all",
        ),
    ] {
        let started = Instant::now();
        let r = app.get(&path, token).await;
        assert_limit(&r, 400, param, MAX_TAGS, &path[..60]);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{param} took {:?}",
            started.elapsed()
        );
    }
    // Repeating the parameter adds up to the same limit.
    let repeated: Vec<String> = tags(60).iter().map(|t| format!("tags_all={t}")).collect();
    let r = app
        .get(
            &format!("/api/v1/customers?{}", repeated.join("&")),
            &viewer,
        )
        .await;
    assert_limit(&r, 400, "tags_all", MAX_TAGS, "repeated tags_all");
    // A single-valued parameter given twice is refused, not ANDed (2^n groups for has_phone).
    let r = app
        .get(
            "/api/v1/customers?has_phone=true&has_phone=true&has_phone=true",
            &viewer,
        )
        .await;
    r.assert_problem(400);
    assert_eq!(r.error_field(), Some("has_phone"), "{}", r.body);
    // A tag longer than any tag a customer can hold.
    let r = app
        .get(
            &format!("/api/v1/customers?tags_all={}", "x".repeat(51)),
            &viewer,
        )
        .await;
    assert_limit(&r, 400, "tags_all", 50, "a 51-character tag");
    // At the limit it answers.
    let r = app
        .get(
            &format!("/api/v1/customers?tags_all={}", tags(50).join(",")),
            &viewer,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn five_thousand_tags_are_a_400_not_a_500(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "viewer");
    let started = Instant::now();
    let r = app
        .get(
            &format!("/api/v1/customers?tags_all={}", tags(5_000).join(",")),
            &t,
        )
        .await;
    assert_limit(&r, 400, "tags_all", MAX_TAGS, "5,000 tags");
    assert!(started.elapsed() < Duration::from_secs(5));
}

async fn json_filters_views_segments_and_bulk_actions_have_the_same_limits(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    customer(&app, &t, "Ani", &["t0"]).await;
    let too_many = json!({"all": [{"field": "tags", "op": "contains_all", "value": tags(400)}]});
    let r = app
        .post("/api/v1/customers/search", &t, json!({"filter": too_many}))
        .await;
    assert_limit(&r, 422, "filter.all[0].value", MAX_TAGS, "search");
    let r = app
        .post(
            "/api/v1/customer-views",
            &t,
            json!({"name": "Many tags", "filter": too_many}),
        )
        .await;
    assert_limit(&r, 422, "filter.all[0].value", MAX_TAGS, "view");
    let r = app
        .post(
            "/api/v1/customer-segments",
            &t,
            json!({"name": "Many tags", "segment_type": "auto", "filter": too_many}),
        )
        .await;
    assert_limit(&r, 422, "filter.all[0].value", MAX_TAGS, "segment");
    let r = app
        .post(
            "/api/v1/customers/bulk",
            &t,
            json!({"filter": too_many, "action": {"type": "add_tags", "tags": ["x"]}}),
        )
        .await;
    assert_limit(&r, 422, "filter.all[0].value", MAX_TAGS, "bulk");
    // Sixty tags in an `in` list (within the old 100-value list limit) are over the tag limit.
    let sixty = json!({"all": [{"field": "tags", "op": "in", "value": tags(60)}]});
    let r = app
        .post("/api/v1/customers/search", &t, json!({"filter": sixty}))
        .await;
    assert_limit(&r, 422, "filter.all[0].value", MAX_TAGS, "60 tags in `in`");
    // Five groups of ten lists of 100 values each: 5,000 operands in one filter.
    let list: Vec<String> = (0..100).map(|i| format!("co{i}")).collect();
    let group = json!({"all": vec![json!({"field": "company", "op": "in", "value": list}); 10]});
    let wide = json!({"any": vec![group; 5]});
    let r = app
        .post("/api/v1/customers/search", &t, json!({"filter": wide}))
        .await;
    assert_limit(&r, 422, "filter", 500, "5,000 operands");
}

async fn tags_all_with_three_tags_finds_exactly_the_customers_with_all_three(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    customer(&app, &t, "Ani", &["vip", "jakarta", "b2b"]).await;
    customer(&app, &t, "Budi", &["vip", "jakarta"]).await;
    customer(&app, &t, "Citra", &["vip", "b2b", "jakarta", "retail"]).await;
    customer(&app, &t, "Dewi", &["jakarta", "b2b"]).await;
    customer(&app, &t, "Eko", &[]).await;
    let names = |r: &Reply| -> Vec<String> {
        assert_eq!(r.status, 200, "{}", r.body);
        let mut v: Vec<String> = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    for query in [
        "tags_all=vip,jakarta,b2b",
        "tags_all=VIP,%20jakarta,b2b,vip",
        "tags_all=vip&tags_all=jakarta&tags_all=b2b",
    ] {
        let r = app.get(&format!("/api/v1/customers?{query}"), &t).await;
        assert_eq!(names(&r), ["Ani", "Citra"], "{query}");
    }
    let r = app
        .get("/api/v1/customers?tags_all=vip,jakarta,b2b&tag=retail", &t)
        .await;
    assert_eq!(names(&r), ["Citra"]);
    // The JSON forms: one `contains_all`, or three `contains` in one group.
    for filter in [
        json!({"all": [{"field": "tags", "op": "contains_all", "value": ["vip", "jakarta", "B2B"]}]}),
        json!({"all": [
            {"field": "tags", "op": "contains", "value": "vip"},
            {"field": "tags", "op": "contains", "value": "jakarta"},
            {"field": "tags", "op": "contains", "value": "b2b"}
        ]}),
    ] {
        let r = app
            .post("/api/v1/customers/search", &t, json!({"filter": filter}))
            .await;
        assert_eq!(names(&r), ["Ani", "Citra"], "{filter}");
    }
    let none = json!({"all": [{"field": "tags", "op": "not_in", "value": ["vip", "retail"]}]});
    let r = app
        .post("/api/v1/customers/search", &t, json!({"filter": none}))
        .await;
    assert_eq!(names(&r), ["Dewi", "Eko"]);
    let r = app
        .get("/api/v1/customers/stats?tags_all=vip,jakarta,b2b", &t)
        .await;
    assert_eq!(r.body["total"], 2, "{}", r.body);
}

async fn a_statement_past_the_time_limit_is_a_503_with_retry_after(backend: DbBackend) {
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.db_statement_timeout = Duration::from_millis(300);
    })
    .await
    else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    let id = customer(&app, &t, "Ani", &[]).await;
    // Another session holds the customer's row: the PATCH's UPDATE waits on it until the
    // database gives up (PostgreSQL: the statement timeout; SQLite: the busy timeout).
    let db = app.database();
    let txn = db.system_tx().await.unwrap();
    let lock = match db.backend() {
        sea_orm::DatabaseBackend::Postgres => {
            format!("SELECT id FROM customers WHERE id = '{id}' FOR UPDATE")
        }
        _ => format!("UPDATE customers SET name = name WHERE id = '{id}'"),
    };
    sea_orm::ConnectionTrait::execute_unprepared(&txn, &lock)
        .await
        .unwrap();
    let started = Instant::now();
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/customers/{id}"),
            Some(&t),
            Some(json!({"company": "Acme"})),
            &[],
        )
        .await;
    let waited = started.elapsed();
    txn.rollback().await.unwrap();
    r.assert_problem(503);
    assert_eq!(r.header("retry-after"), Some("1"), "{}", r.body);
    assert_eq!(r.body["type"], "/problems/unavailable");
    let detail = r.body["detail"].as_str().unwrap();
    assert!(detail.contains("retry"), "{detail}");
    assert!(
        !detail.contains("statement") && !detail.contains("locked"),
        "{detail}"
    );
    assert!(waited < Duration::from_secs(10), "waited {waited:?}");
    if backend == DbBackend::Postgres {
        // The 300 ms limit, not the 5 s default, let it go.
        assert!(waited < Duration::from_secs(3), "waited {waited:?}");
    }
    // Once the lock is gone the same request goes through.
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/customers/{id}"),
            Some(&t),
            Some(json!({"company": "Acme"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn sums_of_money_across_customers_never_overflow(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    // Ten customers, each with one completed order at the largest amount: every pair of them
    // sums beyond an i64 of ten-thousandths.
    for i in 0..10 {
        let c = customer(&app, &t, &format!("Rich {i}"), &["rich"]).await;
        let r = app
            .post(
                &format!("/api/v1/customers/{c}/orders"),
                &t,
                json!({"total_amount": MAX_AMOUNT}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let ten_max: rust_decimal::Decimal =
        MAX_AMOUNT.parse::<rust_decimal::Decimal>().unwrap() * rust_decimal::Decimal::from(10);
    let r = app.get("/api/v1/customers/stats", &t).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let revenue = &r.body["revenue_by_currency"][0];
    assert_eq!(revenue["currency"], "IDR", "{}", r.body);
    assert_eq!(
        revenue["total_revenue"]
            .as_str()
            .unwrap()
            .parse::<rust_decimal::Decimal>()
            .unwrap(),
        ten_max,
        "{}",
        r.body
    );
    assert_eq!(
        revenue["average_lifetime_value"]
            .as_str()
            .unwrap()
            .parse::<rust_decimal::Decimal>()
            .unwrap(),
        MAX_AMOUNT.parse::<rust_decimal::Decimal>().unwrap()
    );
    // A segment's revenue.
    let r = app
        .post(
            "/api/v1/customer-segments",
            &t,
            json!({"name": "Rich", "segment_type": "auto",
                   "filter": {"all": [{"field": "tags", "op": "contains", "value": "rich"}]}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app.get("/api/v1/customer-segments", &t).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let total: rust_decimal::Decimal = r.body[0]["total_revenue"]["IDR"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(total, ten_max, "{}", r.body);
    // RFM: ties are split by id, two customers to a quintile, so segments hold two of them.
    let r = app
        .post("/api/v1/analytics/rfm/recompute?wait=true", &t, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app.get("/api/v1/analytics/rfm", &t).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sum: rust_decimal::Decimal = r.body["segments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["revenue"]["IDR"].as_str())
        .map(|v| v.parse::<rust_decimal::Decimal>().unwrap())
        .sum();
    assert_eq!(sum, ten_max, "{}", r.body);
}

on_both_backends!(
    four_hundred_tags_in_a_query_string_are_a_400_naming_the_parameter,
    five_thousand_tags_are_a_400_not_a_500,
    json_filters_views_segments_and_bulk_actions_have_the_same_limits,
    tags_all_with_three_tags_finds_exactly_the_customers_with_all_three,
    a_statement_past_the_time_limit_is_a_503_with_retry_after,
    sums_of_money_across_customers_never_overflow,
);
