//! Orders, loyalty points, tiers and quotes as a client sees them, on SQLite and PostgreSQL.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crm_blackbox_tests::{DbBackend, TestApp, on_both_backends};
use serde_json::{Value, json};

async fn customer(app: &TestApp, token: &str, extra: Value) -> String {
    let mut body =
        json!({"name": "Budi", "email": format!("{}@example.com", uuid::Uuid::now_v7())});
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    let r = app.post("/api/v1/customers", token, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

async fn order(app: &TestApp, token: &str, customer: &str, body: Value) -> Value {
    let r = app
        .post(&format!("/api/v1/customers/{customer}/orders"), token, body)
        .await;
    assert!(r.status == 201 || r.status == 200, "{}", r.body);
    r.body
}

async fn patch_order(app: &TestApp, token: &str, id: &Value, body: Value) -> Value {
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/orders/{}", id.as_str().unwrap()),
            Some(token),
            Some(body),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

fn stats(c: &Value) -> Value {
    json!([
        c["total_orders"],
        c["total_spent"],
        c["average_order_value"],
        c["first_order_at"],
        c["last_order_at"],
        c["stage"],
        c["loyalty_points"]
    ])
}

async fn a_mix_of_orders_gives_the_hand_computed_numbers(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let admin = app.token(app.tenant("A").await, "admin");
    let c = customer(&app, &admin, json!({})).await;
    order(&app, &admin, &c, json!({"order_ref": "INV-1", "total_amount": "1000000", "placed_at": "2026-01-10T10:00:00Z"})).await;
    order(
        &app,
        &admin,
        &c,
        json!({"order_ref": "INV-2", "placed_at": "2026-02-10T10:00:00Z", "lines": [
        {"sku": "A", "name": "Kopi", "quantity": "2", "unit_price": "200000"},
        {"sku": "B", "quantity": "1", "unit_price": "100000", "line_total": "100000"}]}),
    )
    .await;
    let pending = order(&app, &admin, &c, json!({"order_ref": "INV-3", "total_amount": "300000", "status": "pending", "placed_at": "2026-03-10T10:00:00Z"})).await;
    let refunded = order(&app, &admin, &c, json!({"order_ref": "INV-4", "total_amount": "200000", "placed_at": "2026-04-10T10:00:00Z"})).await;
    let cancelled = order(
        &app,
        &admin,
        &c,
        json!({"order_ref": "INV-5", "total_amount": "100000", "status": "pending"}),
    )
    .await;
    patch_order(&app, &admin, &pending["id"], json!({"status": "completed"})).await;
    assert_eq!(
        patch_order(&app, &admin, &refunded["id"], json!({"status": "refunded"})).await["points_earned"],
        20
    );
    patch_order(
        &app,
        &admin,
        &cancelled["id"],
        json!({"status": "cancelled"}),
    )
    .await;
    // Re-sending an order changes nothing.
    let resent = app
        .post(
            &format!("/api/v1/customers/{c}/orders"),
            &admin,
            json!({"order_ref": "INV-1", "total_amount": "999"}),
        )
        .await;
    assert_eq!(
        (resent.status, resent.header("idempotent-replayed")),
        (200, Some("true"))
    );
    assert_eq!(resent.body["total_amount"], "1000000");

    let got = app
        .get(&format!("/api/v1/customers/{c}"), &admin)
        .await
        .body;
    // Completed: 1,000,000 + 500,000 + 300,000; points 100 + 50 + 30 (+20 earned and reversed).
    assert_eq!(got["total_orders"], 3);
    assert_eq!(got["total_spent"], "1800000");
    assert_eq!(got["average_order_value"], "600000");
    assert_eq!(got["first_order_at"], "2026-01-10T10:00:00Z");
    assert_eq!(got["last_order_at"], "2026-03-10T10:00:00Z");
    assert_eq!(got["stage"], "customer");
    assert_eq!(got["loyalty_points"], 180);

    let loyalty = app
        .get(&format!("/api/v1/customers/{c}/loyalty"), &admin)
        .await
        .body;
    assert_eq!(loyalty["balance"], 180);
    // INV-3 completed before INV-4 was refunded, so spending reached 2,000,000 (Silver); the
    // refund does not downgrade silently (the default policy).
    assert_eq!(loyalty["tier"]["name"], "Silver");
    assert_eq!(loyalty["next_tier"]["name"], "Gold");
    assert_eq!(loyalty["missing_to_next_tier"], "3200000");
    let kinds: Vec<_> = loyalty["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["points"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(kinds.iter().map(|k| k.1).sum::<i64>(), 180);
    assert!(kinds.contains(&("reversal".to_owned(), -20)), "{kinds:?}");

    let ps = app
        .get(&format!("/api/v1/customers/{c}/purchase-stats"), &admin)
        .await;
    assert_eq!(ps.status, 200, "{}", ps.body);
    assert_eq!(
        ps.body["top_products"][0],
        json!({"sku": "A", "name": "Kopi", "quantity": "2", "revenue": "400000"})
    );
    assert_eq!(ps.body["last_orders"].as_array().unwrap().len(), 5);
    assert_eq!(ps.body["monthly"].as_array().unwrap().len(), 12);

    // The nightly recompute rebuilds the same numbers from the orders.
    let before = stats(&got);
    let r = app
        .post("/api/v1/customers/statistics/recompute", &admin, json!({}))
        .await;
    assert_eq!(
        (r.status, &r.body["customers_updated"]),
        (200, &json!(1)),
        "{}",
        r.body
    );
    assert_eq!(
        stats(
            &app.get(&format!("/api/v1/customers/{c}"), &admin)
                .await
                .body
        ),
        before
    );
}

async fn crossing_two_million_makes_bronze_silver_and_the_quote_follows(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let admin = app.token(app.tenant("A").await, "admin");
    let c = customer(&app, &admin, json!({})).await;
    let quote = |body| async { app.post("/api/v1/pricing/quote", &admin, body).await };
    let lines =
        json!({"customer_id": c, "lines": [{"sku": "X", "quantity": "1", "unit_price": "100000"}]});
    order(&app, &admin, &c, json!({"total_amount": "1999999"})).await;
    let q = quote(lines.clone()).await;
    assert_eq!(q.status, 200, "{}", q.body);
    assert_eq!(
        (&q.body["tier_name"], &q.body["discount"], &q.body["total"]),
        (&json!("Bronze"), &json!("5000.00"), &json!("95000.00"))
    );
    order(&app, &admin, &c, json!({"total_amount": "1"})).await;
    let loyalty = app
        .get(&format!("/api/v1/customers/{c}/loyalty"), &admin)
        .await
        .body;
    assert_eq!(loyalty["tier"]["name"], "Silver");
    let q = quote(lines.clone()).await;
    assert_eq!(
        (&q.body["tier_name"], &q.body["discount"]),
        (&json!("Silver"), &json!("10000.00"))
    );
    let history = app
        .get(&format!("/api/v1/customers/{c}/tier-history"), &admin)
        .await
        .body;
    assert_eq!(history.as_array().unwrap().len(), 2, "{history}");
    // The customer's own discount replaces the tier's.
    app.call(
        "PATCH",
        &format!("/api/v1/customers/{c}"),
        Some(&admin),
        Some(json!({"discount_percent": "12.5"})),
        &[],
    )
    .await;
    let q = quote(lines).await;
    assert_eq!(
        (&q.body["discount_source"], &q.body["discount"]),
        (&json!("customer"), &json!("12500.00"))
    );
}

async fn twenty_concurrent_orders_leave_exact_totals_and_points(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let admin = app.token(app.tenant("A").await, "admin");
    let c = customer(&app, &admin, json!({})).await;
    let path = format!("/api/v1/customers/{c}/orders");
    let requests = (0..20).map(|i| {
        app.post(
            &path,
            &admin,
            json!({"order_ref": format!("C-{i}"), "total_amount": "150000"}),
        )
    });
    for r in futures_util::future::join_all(requests).await {
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let got = app
        .get(&format!("/api/v1/customers/{c}"), &admin)
        .await
        .body;
    assert_eq!(
        (
            &got["total_orders"],
            &got["total_spent"],
            &got["loyalty_points"]
        ),
        (&json!(20), &json!("3000000"), &json!(300))
    );
    assert_eq!(
        app.get(&format!("/api/v1/customers/{c}/loyalty"), &admin)
            .await
            .body["tier"]["name"],
        "Silver"
    );
}

async fn another_tenant_can_neither_see_nor_add_orders(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let a = app.token(app.tenant("A").await, "admin");
    let b = app.token(app.tenant("B").await, "admin");
    let c = customer(&app, &a, json!({})).await;
    let o = order(
        &app,
        &a,
        &c,
        json!({"order_ref": "A-1", "total_amount": "1000"}),
    )
    .await;
    let oid = o["id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/customers/{c}/orders"),
        &b,
        json!({"total_amount": "1"}),
    )
    .await
    .assert_problem(404);
    app.get(&format!("/api/v1/customers/{c}/orders"), &b)
        .await
        .assert_problem(404);
    app.get(&format!("/api/v1/orders/{oid}"), &b)
        .await
        .assert_problem(404);
    app.call(
        "PATCH",
        &format!("/api/v1/orders/{oid}"),
        Some(&b),
        Some(json!({"status": "refunded"})),
        &[],
    )
    .await
    .assert_problem(404);
    assert!(
        app.get("/api/v1/orders", &b).await.body["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    app.get(&format!("/api/v1/customers/{c}/loyalty"), &b)
        .await
        .assert_problem(404);
    app.post(
        "/api/v1/pricing/quote",
        &b,
        json!({"customer_id": c, "lines": [{"sku": "X", "quantity": "1", "unit_price": "1"}]}),
    )
    .await
    .assert_problem(404);
    // B's own order refs are its own: the same ref is fine.
    let cb = customer(&app, &b, json!({})).await;
    assert_eq!(
        app.post(
            &format!("/api/v1/customers/{cb}/orders"),
            &b,
            json!({"order_ref": "A-1", "total_amount": "5"})
        )
        .await
        .status,
        201
    );
    let after = app.get(&format!("/api/v1/orders/{oid}"), &a).await.body;
    assert_eq!(
        (&after["status"], &after["version"]),
        (&json!("completed"), &json!(1))
    );
}

async fn credit_limits_overdue_orders_and_deletion_guard(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.tenant("A").await;
    let (admin, manager) = (app.token(t, "admin"), app.token(t, "manager"));
    let c = customer(
        &app,
        &admin,
        json!({"credit_limit": "1000000", "payment_terms_days": 30}),
    )
    .await;
    let path = format!("/api/v1/customers/{c}/orders");
    let unpaid = |amount: &str, r: &str| json!({"order_ref": r, "total_amount": amount, "payment_status": "unpaid", "placed_at": "2026-01-01T00:00:00Z"});
    let first = app.post(&path, &admin, unpaid("800000", "U-1")).await;
    assert_eq!(first.status, 201);
    let refused = app.post(&path, &admin, unpaid("300000", "U-2")).await;
    refused.assert_problem(409);
    assert_eq!(refused.error_field(), Some("credit_limit"));
    assert!(
        refused.body["detail"].as_str().unwrap().contains("1000000"),
        "{}",
        refused.body
    );
    assert_eq!(
        [
            &refused.body["type"],
            &refused.body["limit"],
            &refused.body["outstanding"],
            &refused.body["requested"],
            &refused.body["currency"],
        ],
        [
            &json!("/problems/credit-limit-exceeded"),
            &json!("1000000"),
            &json!("800000"),
            &json!("300000"),
            &first.body["currency"],
        ],
        "{}",
        refused.body
    );
    let mut forced = unpaid("300000", "U-2");
    forced["override_credit_limit"] = json!(true);
    app.post(&path, &manager, forced.clone())
        .await
        .assert_problem(403);
    assert_eq!(app.post(&path, &admin, forced).await.status, 201);

    let overdue = app
        .get("/api/v1/orders?payment_status=overdue", &admin)
        .await
        .body;
    let refs: Vec<_> = overdue["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_ref"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(refs.len(), 2, "{overdue}");
    assert_eq!(overdue["data"][0]["payment_status"], "overdue");

    let del = app
        .call(
            "DELETE",
            &format!("/api/v1/customers/{c}"),
            Some(&admin),
            None,
            &[],
        )
        .await;
    del.assert_problem(409);
    assert!(
        del.body["detail"].as_str().unwrap().contains("U-1"),
        "{}",
        del.body
    );
    let mut open: Vec<(&str, &str)> = del.body["open_orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["customer_id"].as_str().unwrap(),
                o["order_ref"].as_str().unwrap(),
            )
        })
        .collect();
    open.sort_unstable();
    assert_eq!(
        (del.body["type"].as_str(), open),
        (
            Some("/problems/customer-has-open-orders"),
            vec![(c.as_str(), "U-1"), (c.as_str(), "U-2")]
        ),
        "{}",
        del.body
    );
    for o in overdue["data"].as_array().unwrap() {
        patch_order(&app, &admin, &o["id"], json!({"payment_status": "paid"})).await;
    }
    assert_eq!(
        app.call(
            "DELETE",
            &format!("/api/v1/customers/{c}"),
            Some(&admin),
            None,
            &[]
        )
        .await
        .status,
        204
    );
}

async fn points_are_redeemed_and_adjusted_with_reasons(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.tenant("A").await;
    let (admin, sales) = (app.token(t, "admin"), app.token(t, "sales"));
    let c = customer(&app, &admin, json!({})).await;
    order(&app, &admin, &c, json!({"total_amount": "259999"})).await; // 25 points
    let base = format!("/api/v1/customers/{c}/loyalty");
    let r = app
        .post(
            &format!("{base}/redeem"),
            &sales,
            json!({"points": 10, "reason": "voucher"}),
        )
        .await;
    assert_eq!(
        (r.status, &r.body["balance"]),
        (200, &json!(15)),
        "{}",
        r.body
    );
    let short = app
        .post(
            &format!("{base}/redeem"),
            &sales,
            json!({"points": 16, "reason": "voucher"}),
        )
        .await;
    short.assert_problem(409);
    assert_eq!(
        (
            &short.body["type"],
            &short.body["balance"],
            &short.body["requested"]
        ),
        (
            &json!("/problems/insufficient-points"),
            &json!(15),
            &json!(16)
        ),
        "{}",
        short.body
    );
    app.post(
        &format!("{base}/redeem"),
        &sales,
        json!({"points": 1, "reason": " "}),
    )
    .await
    .assert_problem(422);
    app.post(
        &format!("{base}/adjust"),
        &sales,
        json!({"points": 5, "reason": "goodwill"}),
    )
    .await
    .assert_problem(403);
    let r = app
        .post(
            &format!("{base}/adjust"),
            &admin,
            json!({"points": -15, "reason": "correction"}),
        )
        .await;
    assert_eq!(r.body["balance"], 0);
    let below = app
        .post(
            &format!("{base}/adjust"),
            &admin,
            json!({"points": -1, "reason": "x"}),
        )
        .await;
    below.assert_problem(409);
    assert_eq!(
        (
            &below.body["type"],
            &below.body["balance"],
            &below.body["requested"]
        ),
        (
            &json!("/problems/insufficient-points"),
            &json!(0),
            &json!(1)
        ),
        "{}",
        below.body
    );
}

async fn tiers_are_managed_per_tenant(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.tenant("A").await;
    let (admin, manager) = (app.token(t, "admin"), app.token(t, "manager"));
    let tiers = app.get("/api/v1/customer-tiers", &manager).await.body;
    let names: Vec<_> = tiers
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Bronze", "Silver", "Gold", "Platinum"]);
    assert_eq!(tiers[1]["min_spend"], "2000000");
    assert_eq!(tiers[3]["discount_percent"], "20");
    let diamond = json!({"name": "Diamond", "level": 5, "min_spend": "50000000", "discount_percent": "25", "colour": "#b9f2ff"});
    app.post("/api/v1/customer-tiers", &manager, diamond.clone())
        .await
        .assert_problem(403);
    let created = app
        .post("/api/v1/customer-tiers", &admin, diamond.clone())
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let dup = app
        .post(
            "/api/v1/customer-tiers",
            &admin,
            json!({"name": "Diamond", "level": 6, "min_spend": "1", "discount_percent": "1"}),
        )
        .await;
    dup.assert_problem(409);
    assert_eq!(dup.error_field(), Some("name"));
    // A manager with customers.manage assigns it by hand, with a reason; a held tier cannot be deleted.
    let c = customer(&app, &admin, json!({})).await;
    let tid = created.body["id"].clone();
    let assigned = app
        .call(
            "PUT",
            &format!("/api/v1/customers/{c}/tier"),
            Some(&admin),
            Some(json!({"tier_id": tid, "reason": "key account"})),
            &[],
        )
        .await;
    assert_eq!(
        (assigned.status, &assigned.body["tier_id"]),
        (200, &tid),
        "{}",
        assigned.body
    );
    let history = app
        .get(&format!("/api/v1/customers/{c}/tier-history"), &admin)
        .await
        .body;
    assert_eq!(
        (&history[0]["reason"], &history[0]["actor"]),
        (&json!("key account"), &json!("admin-user"))
    );
    let held = app
        .call(
            "DELETE",
            &format!("/api/v1/customer-tiers/{}", tid.as_str().unwrap()),
            Some(&admin),
            None,
            &[],
        )
        .await;
    held.assert_problem(409);
    assert_eq!(
        (&held.body["type"], &held.body["customers"]),
        (&json!("/problems/tier-in-use"), &json!(1)),
        "{}",
        held.body
    );
    let other = app.token(app.tenant("B").await, "admin");
    app.get(
        &format!("/api/v1/customer-tiers/{}", tid.as_str().unwrap()),
        &other,
    )
    .await
    .assert_problem(404);
}

async fn bad_order_input_gets_a_problem_naming_the_field(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let a = app.token(app.tenant("A").await, "admin");
    let c = customer(&app, &a, json!({})).await;
    let path = format!("/api/v1/customers/{c}/orders");
    for (body, field) in [
        (json!({}), "total_amount"),
        (json!({"total_amount": "-1"}), "total_amount"),
        (json!({"total_amount": "10", "currency": "USD"}), "currency"),
        (
            json!({"total_amount": "10", "status": "refunded"}),
            "status",
        ),
        (
            json!({"total_amount": "10", "lines": [{"sku": "A", "quantity": "1", "unit_price": "5"}]}),
            "total_amount",
        ),
        (
            json!({"lines": [{"sku": "A", "quantity": "0", "unit_price": "5"}]}),
            "lines[0].quantity",
        ),
        (json!({"total_amount": "10", "status": "shipped"}), "status"),
    ] {
        let r = app.post(&path, &a, body.clone()).await;
        r.assert_problem(422);
        assert_eq!(r.error_field(), Some(field), "{body} -> {}", r.body);
    }
    let o = order(&app, &a, &c, json!({"total_amount": "10"})).await;
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/orders/{}", o["id"].as_str().unwrap()),
            Some(&a),
            Some(json!({"status": "pending"})),
            &[],
        )
        .await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("status"));
    app.get("/api/v1/orders?payment_status=late", &a)
        .await
        .assert_problem(400);
    app.get("/api/v1/orders?placed_after=yesterday", &a)
        .await
        .assert_problem(400);
}

async fn tenant_settings_drive_points_and_downgrades(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.tenant("A").await;
    let (admin, manager) = (app.token(t, "admin"), app.token(t, "manager"));
    let settings = |body| async {
        app.call(
            "PATCH",
            "/api/v1/tenant/settings",
            Some(&admin),
            Some(body),
            &[],
        )
        .await
    };
    app.call(
        "PATCH",
        "/api/v1/tenant/settings",
        Some(&manager),
        Some(json!({"points_unit": "5000"})),
        &[],
    )
    .await
    .assert_problem(403);
    let bad = settings(json!({"tier_downgrade": {"grace_days": -1}})).await;
    bad.assert_problem(422);
    assert_eq!(bad.error_field(), Some("tier_downgrade.grace_days"));
    let ok = settings(json!({"points_unit": "5000", "tier_downgrade": {"grace_days": 0}})).await;
    assert_eq!(
        (ok.status, &ok.body["settings"]["points_unit"]),
        (200, &json!("5000")),
        "{}",
        ok.body
    );
    assert_eq!(
        app.get("/api/v1/tenant", &manager).await.body["settings"]["tier_downgrade"]["grace_days"],
        0
    );

    let c = customer(&app, &admin, json!({})).await;
    order(&app, &admin, &c, json!({"total_amount": "1000000"})).await;
    let big = order(&app, &admin, &c, json!({"total_amount": "1000000"})).await;
    let loyalty = app
        .get(&format!("/api/v1/customers/{c}/loyalty"), &admin)
        .await
        .body;
    assert_eq!(
        (&loyalty["balance"], &loyalty["tier"]["name"]),
        (&json!(400), &json!("Silver")),
        "one point per 5,000"
    );
    // With no grace period, a refund that drops spending below Silver downgrades at once.
    patch_order(&app, &admin, &big["id"], json!({"status": "refunded"})).await;
    let loyalty = app
        .get(&format!("/api/v1/customers/{c}/loyalty"), &admin)
        .await
        .body;
    assert_eq!(
        (&loyalty["balance"], &loyalty["tier"]["name"]),
        (&json!(200), &json!("Bronze"))
    );
}

async fn reevaluation_applies_changed_thresholds(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.tenant("A").await;
    let admin = app.token(t, "admin");
    let c = customer(&app, &admin, json!({})).await;
    order(&app, &admin, &c, json!({"total_amount": "1500"})).await;
    let tiers = app.get("/api/v1/customer-tiers", &admin).await.body;
    let silver = tiers
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Silver")
        .unwrap()
        .clone();
    let path = format!("/api/v1/customer-tiers/{}", silver["id"].as_str().unwrap());
    let r = app.call("PUT", &path, Some(&admin), Some(json!({"name": "Silver", "level": 2, "min_spend": "1000", "discount_percent": "10"})), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        app.get(&format!("/api/v1/customers/{c}/loyalty"), &admin)
            .await
            .body["tier"]["name"],
        "Bronze",
        "not before the run"
    );
    let run = app
        .post("/api/v1/customer-tiers/reevaluate", &admin, json!({}))
        .await;
    assert_eq!(
        (run.status, &run.body["changed"]),
        (200, &json!(1)),
        "{}",
        run.body
    );
    assert_eq!(
        app.get(&format!("/api/v1/customers/{c}/loyalty"), &admin)
            .await
            .body["tier"]["name"],
        "Silver"
    );
    let again = app
        .post("/api/v1/customer-tiers/reevaluate", &admin, json!({}))
        .await;
    assert_eq!(again.body["changed"], 0);
}

/// Issue 16, defect 9: a PATCH without If-Match asked for last-writer-wins, so contention with
/// orders (which change the customer's version as they settle) never answers 412: the patch is
/// applied to the fresh version, or, after its bounded attempts, a 503 with Retry-After.
async fn patch_without_if_match_never_answers_412_under_orders(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    let c = customer(&app, &t, json!({})).await;
    let path = format!("/api/v1/customers/{c}");
    let mut patches = Vec::new();
    let mut orders = Vec::new();
    for i in 0..24 {
        let notes = format!("note {i}");
        let (app, t, path) = (&app, &t, &path);
        patches.push(async move {
            app.call("PATCH", path, Some(t), Some(json!({"notes": notes})), &[])
                .await
        });
        let c = &c;
        orders.push(async move {
            app.post(
                &format!("/api/v1/customers/{c}/orders"),
                t,
                json!({"total_amount": "1000", "status": "completed", "payment_status": "paid"}),
            )
            .await
        });
    }
    let (patched, placed) = futures_util::future::join(
        futures_util::future::join_all(patches),
        futures_util::future::join_all(orders),
    )
    .await;
    for r in &placed {
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let mut applied = 0;
    for r in &patched {
        match r.status {
            200 => applied += 1,
            503 => assert_eq!(
                r.headers.get("retry-after").and_then(|v| v.to_str().ok()),
                Some("1"),
                "{}",
                r.body
            ),
            other => panic!("a PATCH without If-Match answered {other}: {}", r.body),
        }
    }
    assert!(applied > 0, "no patch applied");
    let got = app.get(&path, &t).await;
    assert_eq!(got.body["total_orders"], 24, "{}", got.body);
}

/// Issue 16, defect 4: deleting a customer and placing an order for it serialise on the
/// customer, so a race ends with either the order placed and the delete refused (409
/// customer-has-open-orders), or the customer deleted and the order refused (404), never both.
async fn a_delete_and_an_order_racing_never_leave_an_order_behind_a_deleted_customer(
    backend: DbBackend,
) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    let mut deleted = 0;
    let mut placed = 0;
    for trial in 0..30 {
        let c = customer(&app, &t, json!({})).await;
        let orders_path = format!("/api/v1/customers/{c}/orders");
        let customer_path = format!("/api/v1/customers/{c}");
        let (order, delete) = futures_util::future::join(
            app.post(
                &orders_path,
                &t,
                json!({"order_ref": format!("RACE-{trial}"), "total_amount": "1000", "status": "pending"}),
            ),
            app.call("DELETE", &customer_path, Some(&t), None, &[]),
        )
        .await;
        match (order.status, delete.status) {
            (201, 409) => {
                placed += 1;
                assert_eq!(
                    delete.body["type"], "/problems/customer-has-open-orders",
                    "{}",
                    delete.body
                );
            }
            (404, 204) => deleted += 1,
            other => panic!(
                "trial {trial}: order {} / delete {}: {} {}",
                other.0, other.1, order.body, delete.body
            ),
        }
    }
    assert_eq!(placed + deleted, 30);
}

on_both_backends!(
    a_delete_and_an_order_racing_never_leave_an_order_behind_a_deleted_customer,
    patch_without_if_match_never_answers_412_under_orders,
    tenant_settings_drive_points_and_downgrades,
    reevaluation_applies_changed_thresholds,
    a_mix_of_orders_gives_the_hand_computed_numbers,
    crossing_two_million_makes_bronze_silver_and_the_quote_follows,
    twenty_concurrent_orders_leave_exact_totals_and_points,
    another_tenant_can_neither_see_nor_add_orders,
    credit_limits_overdue_orders_and_deletion_guard,
    points_are_redeemed_and_adjusted_with_reasons,
    tiers_are_managed_per_tenant,
    bad_order_input_gets_a_problem_naming_the_field,
);
