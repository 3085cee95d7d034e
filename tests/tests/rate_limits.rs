//! Rate limits (issue 16): token buckets per token subject and per tenant, heavy requests
//! costing more, failed authentications limited per client IP; a 429 problem with
//! `Retry-After`, `RateLimit-Policy` and `RateLimit`, on SQLite and PostgreSQL.
//!
//! The buckets refill at 0.01 cells per second (one every 100 s), so nothing refills while a
//! test runs, however slow the machine.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crm_blackbox_tests::{DbBackend, Reply, TestApp, on_both_backends};
use serde_json::json;

/// One cell every 100 s.
const SLOW: f64 = 0.01;

async fn spawn(
    backend: DbBackend,
    per_token: (f64, u32),
    per_tenant: (f64, u32),
    heavy_cost: u32,
) -> Option<TestApp> {
    TestApp::spawn_with(backend, |c| {
        (c.rate_limit_per_token, c.rate_limit_per_token_burst) = per_token;
        (c.rate_limit_per_tenant, c.rate_limit_per_tenant_burst) = per_tenant;
        c.rate_limit_heavy_cost = heavy_cost;
    })
    .await
}

/// Asserts a 429 `rate-limited` problem of `scope` with its headers; returns `Retry-After`.
fn assert_429(r: &Reply, scope: &str) -> u64 {
    r.assert_problem(429);
    assert_eq!(r.body["type"], "/problems/rate-limited", "{}", r.body);
    assert_eq!(r.body["scope"], scope, "{}", r.body);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=100 * 10).contains(&retry), "Retry-After: {retry}");
    assert_eq!(r.body["retry_after"], retry);
    assert_eq!(
        r.header("ratelimit"),
        Some(format!("\"{scope}\";r=0;t={retry}").as_str())
    );
    assert!(r.header("ratelimit-policy").is_some());
    retry
}

async fn a_token_gets_its_burst_then_a_429_with_retry_after_and_ratelimit_fields(
    backend: DbBackend,
) {
    let Some(app) = spawn(backend, (SLOW, 5), (0.0, 1), 1).await else {
        return;
    };
    let tenant = app.tenant("A").await;
    let admin = app.token(tenant, "admin");
    for left in (0..5).rev() {
        let r = app.get("/api/v1/customers", &admin).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("ratelimit-policy"), Some("\"token\";q=5;w=500"));
        assert_eq!(
            r.header("ratelimit"),
            Some(format!("\"token\";r={left};t={}", (5 - left) * 100).as_str())
        );
    }
    let r = app.get("/api/v1/customers", &admin).await;
    let retry = assert_429(&r, "token");
    assert!(retry <= 100, "one cell is back within 100 s: {retry}");
    assert_eq!(r.header("ratelimit-policy"), Some("\"token\";q=5;w=500"));
    assert_eq!(r.body["limit"], 5);
    assert_eq!(r.body["cost"], 1);
    // Refused before the body is read: a malformed body is not even looked at.
    let r = app
        .raw(
            "POST",
            "/api/v1/customers",
            &admin,
            "application/json",
            b"{not json".to_vec(),
        )
        .await;
    assert_429(&r, "token");
    // Another token of the same tenant has its own bucket.
    let r = app
        .get("/api/v1/customers", &app.token(tenant, "viewer"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("ratelimit"), Some("\"token\";r=4;t=100"));
    // Health and metrics are not limited.
    for path in ["/health/live", "/health/ready", "/metrics"] {
        let r = app.call("GET", path, None, None, &[]).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("ratelimit"), None, "{path}");
    }
}

async fn the_tenant_bucket_is_shared_by_its_tokens_and_other_tenants_are_unaffected(
    backend: DbBackend,
) {
    let Some(app) = spawn(backend, (SLOW, 3), (SLOW, 5), 1).await else {
        return;
    };
    let a = app.tenant("A").await;
    let admin = app.token(a, "admin");
    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/customers", &admin).await.status, 200);
    }
    // The caller's own bucket is empty; the tenant's is not charged by the refusal.
    assert_429(&app.get("/api/v1/customers", &admin).await, "token");
    let viewer = app.token(a, "viewer");
    let r = app.get("/api/v1/customers", &viewer).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("ratelimit-policy"),
        Some("\"token\";q=3;w=300, \"tenant\";q=5;w=500")
    );
    assert_eq!(
        r.header("ratelimit"),
        Some("\"token\";r=2;t=100, \"tenant\";r=1;t=400")
    );
    assert_eq!(app.get("/api/v1/customers", &viewer).await.status, 200);
    // Five requests of tenant A so far: the tenant's bucket is empty for every token of A.
    assert_429(&app.get("/api/v1/customers", &viewer).await, "tenant");
    let manager = app.token(a, "manager");
    assert_429(&app.get("/api/v1/customers", &manager).await, "tenant");
    // Tenant B is unaffected.
    let b = app.tenant("B").await;
    let r = app.get("/api/v1/customers", &app.token(b, "admin")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("ratelimit"),
        Some("\"token\";r=2;t=100, \"tenant\";r=4;t=100")
    );
}

async fn heavy_requests_cost_more(backend: DbBackend) {
    let Some(app) = spawn(backend, (SLOW, 10), (0.0, 1), 4).await else {
        return;
    };
    let admin = app.token(app.tenant("A").await, "admin");
    let export = "/api/v1/exports/customers?format=csv";
    let r = app.get(export, &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("ratelimit"), Some("\"token\";r=6;t=400"));
    let r = app.get(export, &admin).await;
    assert_eq!(r.header("ratelimit"), Some("\"token\";r=2;t=800"));
    // Two cells left, an export needs four.
    let r = app.get(export, &admin).await;
    assert_429(&r, "token");
    assert_eq!(r.body["cost"], 4);
    assert_429(
        &app.post("/api/v1/analytics/rfm/recompute", &admin, json!({}))
            .await,
        "token",
    );
    // A plain request still fits.
    let r = app.get("/api/v1/customers", &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("ratelimit"), Some("\"token\";r=1;t=900"));
}

async fn failed_authentications_are_limited_per_client_ip(backend: DbBackend) {
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.rate_limit_auth_failures = SLOW;
        c.rate_limit_auth_failures_burst = 3;
    })
    .await
    else {
        return;
    };
    for token in ["a.b.c", "not-a-jwt", "x.y.z"] {
        app.get("/api/v1/customers", token)
            .await
            .assert_problem(401);
    }
    assert_429(
        &app.get("/api/v1/customers", "a.b.c").await,
        "auth-failures",
    );
    let r = app.call("GET", "/api/v1/customers", None, None, &[]).await;
    assert_429(&r, "auth-failures");
    assert_eq!(
        r.header("ratelimit-policy"),
        Some("\"auth-failures\";q=3;w=300")
    );
    // A valid token is not held back by the failures of its address.
    let admin = app.token(app.tenant("A").await, "admin");
    assert_eq!(app.get("/api/v1/customers", &admin).await.status, 200);
}

on_both_backends!(
    a_token_gets_its_burst_then_a_429_with_retry_after_and_ratelimit_fields,
    the_tenant_bucket_is_shared_by_its_tokens_and_other_tenants_are_unaffected,
    heavy_requests_cost_more,
    failed_authentications_are_limited_per_client_ip,
);
