//! Input that would overflow an offset or a sum of money gets a problem naming the field, never
//! a dropped connection or a 500 (issue 16, defect 5), on SQLite and PostgreSQL.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crm_blackbox_tests::{DbBackend, TestApp, on_both_backends};
use serde_json::json;

/// The largest amount the API accepts (`i64::MAX` ten-thousandths, whole units).
const MAX_AMOUNT: &str = "922337203685477";

async fn customer(app: &TestApp, token: &str) -> String {
    let r = app
        .post(
            "/api/v1/customers",
            token,
            json!({"name": "Budi", "email": format!("{}@example.com", uuid::Uuid::now_v7())}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

async fn a_page_whose_offset_overflows_is_a_400_naming_page(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    customer(&app, &t).await;
    for page in [
        "92233720368547758",
        "18446744073709551615",
        "46116860184273880",
    ] {
        let r = app
            .get(&format!("/api/v1/customers?page={page}&limit=200"), &t)
            .await;
        r.assert_problem(400);
        assert_eq!(r.error_field(), Some("page"), "page={page}");
    }
    // The largest page allowed still answers (an empty page).
    let r = app
        .get("/api/v1/customers?page=1000000&limit=200", &t)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"], json!([]));
    assert_eq!(r.body["total"], 1);
}

async fn a_line_total_that_overflows_is_a_422_naming_the_line(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    let c = customer(&app, &t).await;
    // quantity × unit_price is beyond any decimal (≈ 10^31); sent as JSON numbers.
    let line = r#"{"sku": "X", "quantity": 99999999999999999999, "unit_price": 99999999999}"#;
    let r = app
        .raw(
            "POST",
            &format!("/api/v1/customers/{c}/orders"),
            &t,
            "application/json",
            format!(r#"{{"lines": [{line}]}}"#).into_bytes(),
        )
        .await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("lines[0].quantity"), "{}", r.body);
    // The same line in a quote.
    let r = app
        .raw(
            "POST",
            "/api/v1/pricing/quote",
            &t,
            "application/json",
            format!(
                r#"{{"customer_id": "{c}", "lines": [{{"sku": "A", "quantity": "1", "unit_price": "1"}}, {line}]}}"#
            )
            .into_bytes(),
        )
        .await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("lines[1].quantity"), "{}", r.body);
    // Lines that fit one by one but not together.
    let big = json!({"sku": "X", "quantity": "1", "unit_price": MAX_AMOUNT});
    let r = app
        .post(
            &format!("/api/v1/customers/{c}/orders"),
            &t,
            json!({"lines": [big.clone(), big]}),
        )
        .await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("total_amount"), "{}", r.body);
    // Nothing was stored.
    let r = app.get(&format!("/api/v1/customers/{c}/orders"), &t).await;
    assert_eq!(r.body["data"], json!([]), "{}", r.body);
}

async fn a_second_order_at_the_maximum_is_refused_not_a_500(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    let c = customer(&app, &t).await;
    let path = format!("/api/v1/customers/{c}/orders");
    let r = app
        .post(&path, &t, json!({"total_amount": MAX_AMOUNT}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app
        .post(&path, &t, json!({"total_amount": MAX_AMOUNT}))
        .await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("total_amount"), "{}", r.body);
    // A pending order is fine until it would complete.
    let r = app
        .post(
            &path,
            &t,
            json!({"total_amount": MAX_AMOUNT, "status": "pending"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let pending = r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/orders/{pending}"),
            Some(&t),
            Some(json!({"status": "completed"})),
            &[],
        )
        .await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("total_amount"), "{}", r.body);
    // The customer, its statistics and the recompute still answer.
    let r = app.get(&format!("/api/v1/customers/{c}"), &t).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["total_orders"], 1, "{}", r.body);
    let r = app
        .get(&format!("/api/v1/customers/{c}/purchase-stats"), &t)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .post("/api/v1/customers/statistics/recompute", &t, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app.get("/api/v1/customers/stats", &t).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

on_both_backends!(
    a_page_whose_offset_overflows_is_a_400_naming_page,
    a_line_total_that_overflows_is_a_422_naming_the_line,
    a_second_order_at_the_maximum_is_refused_not_a_500,
);
