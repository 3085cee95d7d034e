//! RFM scores and segments, CLV models and per-customer analytics as a client sees them, on
//! SQLite and PostgreSQL.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Duration, NaiveDate, Utc};
use crm_blackbox_tests::{DbBackend, TestApp, on_both_backends};
use crm_domain::analytics::clv::{
    BgNbdParams, CustomerSummary, GammaGammaParams, TimeUnit, customer_lifetime_value,
};
use serde_json::{Value, json};

async fn customer(app: &TestApp, token: &str, name: &str) -> String {
    let r = app
        .post(
            "/api/v1/customers",
            token,
            json!({"name": name, "email": format!("{}@example.com", name.to_lowercase().replace(' ', "."))}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// `count` completed orders of `total / count` each, the last at `last`, the others one day
/// apart before it.
async fn orders(app: &TestApp, token: &str, c: &str, last: &str, count: i64, total: f64) {
    let last: DateTime<Utc> = last.parse().unwrap();
    for i in 0..count {
        let at = last - Duration::days(count - 1 - i);
        let r = app
            .post(
                &format!("/api/v1/customers/{c}/orders"),
                token,
                json!({"order_ref": format!("{c}-{}-{i}", last.timestamp()), "total_amount": format!("{:.2}", total / count as f64), "placed_at": at}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
}

async fn recompute(app: &TestApp, token: &str, reference: &str) -> Value {
    let r = app
        .post(
            "/api/v1/analytics/rfm/recompute?wait=true",
            token,
            json!({"reference": reference}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["state"], "completed", "{}", r.body);
    r.body
}

/// The worked example of docs/RFM.md: eight customers, scored in the database.
async fn rfm_recompute_gives_the_hand_computed_table(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    let other = app.token(app.tenant("B").await, "admin");
    // (label, last completed order, completed orders, total spent)
    let fixture = [
        ("A", "2026-02-28T12:00:00Z", 6, 600.0),
        ("B", "2026-02-20T00:00:00Z", 1, 50.0),
        ("C", "2026-01-30T00:00:00Z", 3, 300.0),
        ("D", "2026-02-20T09:30:00Z", 3, 120.0),
        ("E", "2025-12-01T00:00:00Z", 5, 600.0),
        ("F", "2025-09-02T00:00:00Z", 1, 40.0),
        ("G", "2026-01-29T12:00:00Z", 2, 75.5),
        ("H", "2025-06-04T00:00:00Z", 3, 45.0),
    ];
    // Ids increase in creation order, as in the worked example.
    let mut ids = Vec::new();
    for (label, ..) in fixture {
        ids.push(customer(&app, &t, &format!("Customer {label}")).await);
    }
    let never = customer(&app, &t, "Never Bought").await;
    for ((_, last, n, total), id) in fixture.iter().zip(&ids) {
        orders(&app, &t, id, last, *n, *total).await;
    }
    // Another tenant's customer with orders changes nothing here.
    let b = customer(&app, &other, "Other Tenant").await;
    orders(&app, &other, &b, "2026-02-28T00:00:00Z", 9, 9000.0).await;

    let job = recompute(&app, &t, "2026-03-01T00:00:00Z").await;
    assert_eq!(job["result"]["scored"], 8);
    let expected = [
        ("A", 5, 5, 4, "champions"),
        ("B", 3, 1, 2, "about_to_sleep"),
        ("C", 2, 2, 3, "hibernating"),
        ("D", 4, 3, 3, "potential_loyalists"),
        ("E", 2, 4, 5, "at_risk"),
        ("F", 1, 1, 1, "lost"),
        ("G", 3, 2, 2, "about_to_sleep"),
        ("H", 1, 3, 1, "at_risk"),
    ];
    for ((label, r, f, m, segment), id) in expected.iter().zip(&ids) {
        let c = app.get(&format!("/api/v1/customers/{id}"), &t).await.body;
        assert_eq!(
            (
                c["rfm"]["r"].clone(),
                c["rfm"]["f"].clone(),
                c["rfm"]["m"].clone(),
                c["rfm"]["segment"].clone()
            ),
            (json!(r), json!(f), json!(m), json!(segment)),
            "customer {label}"
        );
    }
    let none = app
        .get(&format!("/api/v1/customers/{never}"), &t)
        .await
        .body;
    assert!(none["rfm"].is_null(), "no completed order, no scores");

    // The distribution.
    let dist = app.get("/api/v1/analytics/rfm", &t).await.body;
    assert_eq!(dist["scored"], 8);
    let seg = |name: &str| {
        dist["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["segment"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(seg("at_risk")["customers"], 2);
    assert_eq!(seg("at_risk")["revenue"]["IDR"], "645");
    assert_eq!(seg("at_risk")["share"], 0.25);
    assert_eq!(seg("at_risk")["coarse"], "at_risk");
    assert_eq!(seg("loyal_customers")["customers"], 0);
    assert_eq!(dist["segments"].as_array().unwrap().len(), 11);

    // The list filters and sorts by them.
    let at_risk = app
        .get("/api/v1/customers?rfm_segment=at_risk,lost&sort=name", &t)
        .await;
    let names: Vec<&str> = at_risk.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Customer E", "Customer F", "Customer H"]);
    let top = app
        .get("/api/v1/customers?sort=-rfm_score&limit=2", &t)
        .await;
    let names: Vec<&str> = top.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Customer A", "Customer D"]);
    let filtered = app
        .post(
            "/api/v1/customers/search",
            &t,
            json!({"filter": {"all": [{"field": "rfm_r", "op": "gte", "value": 4}]}}),
        )
        .await;
    assert_eq!(
        filtered.body["data"].as_array().unwrap().len(),
        2,
        "{}",
        filtered.body
    );

    // Scores follow the data at the next recompute: B buys again.
    orders(&app, &t, &ids[1], "2026-02-28T18:00:00Z", 1, 10.0).await;
    recompute(&app, &t, "2026-03-01T00:00:00Z").await;
    let b_now = app
        .get(&format!("/api/v1/customers/{}", ids[1]), &t)
        .await
        .body;
    assert_eq!(b_now["rfm"]["r"], 5, "{}", b_now["rfm"]);

    // The other tenant sees none of it, and has its own scores.
    let theirs = app.get("/api/v1/analytics/rfm", &other).await.body;
    assert_eq!(theirs["scored"], 0);
    app.get(
        &format!("/api/v1/jobs/{}", job["id"].as_str().unwrap()),
        &other,
    )
    .await
    .assert_problem(404);
    app.get(&format!("/api/v1/customers/{}/analytics", ids[0]), &other)
        .await
        .assert_problem(404);
    assert_eq!(
        recompute(&app, &other, "2026-03-01T00:00:00Z").await["result"]["scored"],
        1
    );
    let mine = app.get("/api/v1/analytics/rfm", &t).await.body;
    assert_eq!(mine["scored"], 8);
}

async fn recompute_runs_as_a_job_and_needs_manage(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("A").await;
    let admin = app.token(tenant, "admin");
    let sales = app.token(tenant, "sales");
    app.post("/api/v1/analytics/rfm/recompute", &sales, json!({}))
        .await
        .assert_problem(403);
    let c = customer(&app, &admin, "Only One").await;
    orders(&app, &admin, &c, "2026-01-01T00:00:00Z", 2, 100.0).await;
    let started = app
        .post("/api/v1/analytics/rfm/recompute", &admin, json!({}))
        .await;
    assert_eq!(started.status, 202, "{}", started.body);
    let location = started.header("location").unwrap().to_owned();
    let mut job = Value::Null;
    for _ in 0..100 {
        job = app.get(&location, &admin).await.body;
        if job["state"] != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(job["state"], "completed", "{job}");
    assert_eq!(job["result"]["scored"], 1);
    // One customer: every score is 1 (NTILE of one row).
    let one = app
        .get(&format!("/api/v1/customers/{c}"), &admin)
        .await
        .body;
    assert_eq!(one["rfm"]["segment"], "lost");
    app.post(
        "/api/v1/analytics/rfm/recompute?wait=maybe",
        &admin,
        json!({}),
    )
    .await
    .assert_problem(400);
}

/// Purchase days of eight customers; the model fitted through the API predicts what the domain
/// models predict from the same summaries.
async fn clv_fit_and_predictions_follow_the_models(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    let other = app.token(app.tenant("B").await, "admin");
    app.get("/api/v1/analytics/clv", &t)
        .await
        .assert_problem(404);
    // (customer, purchase days as offsets from 2025-01-01, amount each)
    let histories: [(&str, &[i64], f64); 8] = [
        ("P1", &[0, 30, 60, 90, 200], 20.0),
        ("P2", &[5], 15.0),
        ("P3", &[10, 10, 40], 30.0), // two orders on one day count as one purchase day
        ("P4", &[3, 150], 50.0),
        ("P5", &[20, 21, 22, 300], 10.0),
        ("P6", &[100], 12.0),
        ("P7", &[0, 250], 40.0),
        ("P8", &[60, 120, 180, 240], 25.0),
    ];
    let start = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    let end = NaiveDate::from_ymd_opt(2025, 12, 31).unwrap();
    let mut ids = Vec::new();
    for (name, days, amount) in histories {
        let id = customer(&app, &t, name).await;
        for (i, d) in days.iter().enumerate() {
            let at = (start + Duration::days(*d))
                .and_hms_opt(10 + i as u32, 0, 0)
                .unwrap()
                .and_utc();
            let r = app
                .post(
                    &format!("/api/v1/customers/{id}/orders"),
                    &t,
                    json!({"order_ref": format!("{name}-{i}"), "total_amount": format!("{amount:.2}"), "placed_at": at}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
        }
        ids.push(id);
    }
    let fit = app
        .post(
            "/api/v1/analytics/clv/fit",
            &t,
            json!({"calibration_end": "2025-12-31", "time_unit": "week"}),
        )
        .await;
    assert_eq!(fit.status, 200, "{}", fit.body);
    assert_eq!(fit.body["customers"], 8);
    assert_eq!(fit.body["repeat_customers"], 6);
    let bg = BgNbdParams {
        r: fit.body["bgnbd"]["r"].as_f64().unwrap(),
        alpha: fit.body["bgnbd"]["alpha"].as_f64().unwrap(),
        a: fit.body["bgnbd"]["a"].as_f64().unwrap(),
        b: fit.body["bgnbd"]["b"].as_f64().unwrap(),
    };
    let gg = GammaGammaParams {
        p: fit.body["gamma_gamma"]["p"].as_f64().unwrap(),
        q: fit.body["gamma_gamma"]["q"].as_f64().unwrap(),
        gamma: fit.body["gamma_gamma"]["gamma"].as_f64().unwrap(),
    };
    // P3: purchase days 10 (two orders, 60.00) and 40 (30.00).
    let days = [
        (start + Duration::days(10), 60.0),
        (start + Duration::days(40), 30.0),
    ];
    let s = CustomerSummary::from_purchases(&days, end, TimeUnit::Week).unwrap();
    assert_eq!(s.frequency, 1.0);
    let a = app
        .get(
            &format!(
                "/api/v1/customers/{}/analytics?horizon_months=6&discount_rate=0.02",
                ids[2]
            ),
            &t,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let p = &a.body["prediction"];
    let close = |x: &Value, y: f64| {
        assert!(
            (x.as_f64().unwrap() - y).abs() < 1e-9 * y.abs().max(1.0),
            "{x} vs {y}"
        )
    };
    close(&p["frequency"], s.frequency);
    close(&p["recency"], s.recency);
    close(&p["age"], s.age);
    close(&p["probability_alive"], bg.probability_alive(&s));
    close(
        &p["expected_purchases"],
        bg.conditional_expected_purchases(6.0 * 30.0 / 7.0, &s),
    );
    close(
        &p["expected_order_value"],
        gg.conditional_expected_spend(&s),
    );
    close(
        &p["clv"],
        customer_lifetime_value(&bg, &gg, &s, 6, 0.02, TimeUnit::Week),
    );
    assert_eq!(a.body["historical"]["orders"], 3);
    assert_eq!(a.body["historical"]["total_revenue"], 90.0);
    // as_of earlier: only purchases up to it.
    let early = app
        .get(
            &format!("/api/v1/customers/{}/analytics?as_of=2025-01-20", ids[2]),
            &t,
        )
        .await;
    assert_eq!(early.body["prediction"]["frequency"], 0.0);
    // The tenant summary covers the eight customers.
    let sum = app.get("/api/v1/analytics/clv?at_risk_limit=3", &t).await;
    assert_eq!(sum.status, 200, "{}", sum.body);
    assert_eq!(sum.body["customers"], 8);
    assert!(sum.body["expected_value"].as_f64().unwrap() > 0.0);
    assert!(sum.body["at_risk"].as_array().unwrap().len() <= 3);
    // Bad input and isolation.
    app.get(
        &format!("/api/v1/customers/{}/analytics?horizon_months=0", ids[0]),
        &t,
    )
    .await
    .assert_problem(422);
    app.get(
        &format!("/api/v1/customers/{}/analytics?bogus=1", ids[0]),
        &t,
    )
    .await
    .assert_problem(400);
    app.post(
        "/api/v1/analytics/clv/fit",
        &t,
        json!({"calibration_end": "2025-12-31", "time_unit": "month"}),
    )
    .await
    .assert_problem(400);
    app.post(
        "/api/v1/analytics/clv/fit",
        &t,
        json!({"calibration_end": "tomorrow"}),
    )
    .await
    .assert_problem(422);
    app.get("/api/v1/analytics/clv", &other)
        .await
        .assert_problem(404);
    app.post(
        "/api/v1/analytics/clv/fit",
        &other,
        json!({"calibration_end": "2025-12-31"}),
    )
    .await
    .assert_problem(422);
}

on_both_backends!(
    rfm_recompute_gives_the_hand_computed_table,
    recompute_runs_as_a_job_and_needs_manage,
    clv_fit_and_predictions_follow_the_models,
    segments_follow_their_rules_and_members,
);

fn names(page: &Value) -> Vec<String> {
    let mut v: Vec<String> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

async fn segments_follow_their_rules_and_members(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("A").await;
    let t = app.token(tenant, "admin");
    let viewer = app.token(tenant, "viewer");
    let other = app.token(app.tenant("B").await, "admin");
    let ana = customer(&app, &t, "Ana").await;
    let bob = customer(&app, &t, "Bob").await;
    let cid = customer(&app, &t, "Cid").await;
    let theirs = customer(&app, &other, "Theirs").await;
    orders(&app, &t, &ana, "2026-01-10T00:00:00Z", 2, 3_000_000.0).await;

    // Auto: spent at least 1,000,000.
    let big = app
        .post(
            "/api/v1/customer-segments",
            &t,
            json!({"name": "Big spenders", "segment_type": "auto",
                   "filter": {"all": [{"field": "total_spent", "op": "gte", "value": "1000000"}]}}),
        )
        .await;
    assert_eq!(big.status, 201, "{}", big.body);
    assert_eq!(big.body["customer_count"], 1);
    assert_eq!(big.body["total_revenue"]["IDR"], "3000000");
    let big_id = big.body["id"].as_str().unwrap().to_owned();
    // Membership follows the data: Bob buys enough and is in.
    orders(&app, &t, &bob, "2026-01-11T00:00:00Z", 1, 1_500_000.0).await;
    let members = app
        .get(
            &format!("/api/v1/customer-segments/{big_id}/customers?sort=name"),
            &t,
        )
        .await;
    assert_eq!(names(&members.body), ["Ana", "Bob"]);
    // The list's filters combine with the rule.
    let only_b = app
        .get(
            &format!("/api/v1/customer-segments/{big_id}/customers?max_total_spent=2000000"),
            &t,
        )
        .await;
    assert_eq!(names(&only_b.body), ["Bob"]);

    // Manual: explicit members, all or nothing.
    let vip = app
        .post(
            "/api/v1/customer-segments",
            &t,
            json!({"name": "Hand picked", "segment_type": "manual"}),
        )
        .await;
    let vip_id = vip.body["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/api/v1/customer-segments/{vip_id}/members"),
        &t,
        json!({"customer_ids": [cid, theirs]}),
    )
    .await
    .assert_problem(422);
    assert_eq!(
        app.get(&format!("/api/v1/customer-segments/{vip_id}"), &t)
            .await
            .body["customer_count"],
        0
    );
    let added = app
        .post(
            &format!("/api/v1/customer-segments/{vip_id}/members"),
            &t,
            json!({"customer_ids": [cid, ana]}),
        )
        .await;
    assert_eq!(added.body["customer_count"], 2, "{}", added.body);
    let removed = app
        .post(
            &format!("/api/v1/customer-segments/{vip_id}/members/remove"),
            &t,
            json!({"customer_ids": [ana]}),
        )
        .await;
    assert_eq!(removed.body["customer_count"], 1);
    app.post(
        &format!("/api/v1/customer-segments/{big_id}/members"),
        &t,
        json!({"customer_ids": [cid]}),
    )
    .await
    .assert_problem(422);

    // RFM: champions after a recompute.
    recompute(&app, &t, "2026-02-01T00:00:00Z").await;
    let rfm = app
        .post(
            "/api/v1/customer-segments",
            &t,
            json!({"name": "Best", "segment_type": "rfm", "rfm_segments": ["champions", "loyal_customers"]}),
        )
        .await;
    assert_eq!(rfm.status, 201, "{}", rfm.body);
    let ana_rfm =
        app.get(&format!("/api/v1/customers/{ana}"), &t).await.body["rfm"]["segment"].clone();
    let expected = u64::from(ana_rfm == "champions" || ana_rfm == "loyal_customers");
    let bob_rfm =
        app.get(&format!("/api/v1/customers/{bob}"), &t).await.body["rfm"]["segment"].clone();
    let expected = expected + u64::from(bob_rfm == "champions" || bob_rfm == "loyal_customers");
    assert_eq!(rfm.body["customer_count"], expected);

    // Membership shown on the customer.
    let of_ana = app
        .get(&format!("/api/v1/customers/{ana}/segments"), &t)
        .await;
    let seg_names: Vec<&str> = of_ana
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(seg_names.contains(&"Big spenders"), "{seg_names:?}");
    assert!(!seg_names.contains(&"Hand picked"));
    let of_cid = app
        .get(&format!("/api/v1/customers/{cid}/segments"), &t)
        .await;
    assert_eq!(of_cid.body.as_array().unwrap().len(), 1);

    // Rules are checked; names are unique; writing needs customers.manage.
    let bad = app
        .post("/api/v1/customer-segments", &t,
              json!({"name": "Bad", "segment_type": "auto", "filter": {"all": [{"field": "shoe", "op": "eq", "value": 1}]}}))
        .await;
    bad.assert_problem(422);
    assert_eq!(bad.error_field(), Some("filter.all[0].field"));
    app.post(
        "/api/v1/customer-segments",
        &t,
        json!({"name": "Big spenders", "segment_type": "manual"}),
    )
    .await
    .assert_problem(409);
    app.post(
        "/api/v1/customer-segments",
        &viewer,
        json!({"name": "X", "segment_type": "manual"}),
    )
    .await
    .assert_problem(403);
    assert_eq!(
        app.get("/api/v1/customer-segments", &viewer)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Another tenant sees none of it.
    assert!(
        app.get("/api/v1/customer-segments", &other)
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    for path in [
        format!("/api/v1/customer-segments/{big_id}"),
        format!("/api/v1/customer-segments/{big_id}/customers"),
        format!("/api/v1/customers/{ana}/segments"),
    ] {
        app.get(&path, &other).await.assert_problem(404);
    }
    // A same-rule segment of the other tenant counts only its own customers.
    let mirror = app
        .post(
            "/api/v1/customer-segments",
            &other,
            json!({"name": "All", "segment_type": "auto", "filter": {"all": []}}),
        )
        .await;
    assert_eq!(mirror.body["customer_count"], 1, "{}", mirror.body);
    let _ = theirs;
    // Deleting a segment keeps its customers.
    assert_eq!(
        app.call(
            "DELETE",
            &format!("/api/v1/customer-segments/{vip_id}"),
            Some(&t),
            None,
            &[]
        )
        .await
        .status,
        204
    );
    assert_eq!(
        app.get(&format!("/api/v1/customers/{cid}"), &t)
            .await
            .status,
        200
    );
}
