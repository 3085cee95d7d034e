//! Imports of customers and orders through `POST /api/v1/imports`, on SQLite and PostgreSQL.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crm_blackbox_tests::{DbBackend, TestApp, on_both_backends};
use serde_json::{Value, json};

/// BOM, semicolons, a quoted newline, mixed-case e-mails, local phones, a duplicate inside the
/// file (line 7 of line 2), a duplicate of a stored customer (line 8) and two invalid rows
/// (line 5: e-mail, line 6: no name).
const MESSY: &str = "\u{feff}Nama;E-mail;No HP;Tags;Catatan\n\
Budi Santoso;BUDI@Example.com;0812 3456 7890;vip,grosir;\"Line one\nline two\"\n\
Siti;siti@example.com;;;\n\
Ani;ani@example;;;\n\
;nobody@example.com;;;\n\
Budi S.;budi@example.com;;;\n\
Stored Person;stored@example.com;;;\n\
Dewi;dewi@example.com;0813-1111-2222;;\n";

async fn import(
    app: &TestApp,
    token: &str,
    name: &str,
    body: &str,
    options: Value,
) -> (u16, Value) {
    let r = post_import(app, token, "?wait=true", name, body, options).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `POST /api/v1/imports<query>` with the file and the options as a multipart form.
async fn post_import(
    app: &TestApp,
    token: &str,
    query: &str,
    name: &str,
    body: &str,
    options: Value,
) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(body.as_bytes().to_vec()).file_name(name.to_owned()),
        )
        .text("options", options.to_string());
    app.http
        .post(format!("{}/api/v1/imports{query}", app.base))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Starts an import without waiting (202) and polls `GET /imports/{id}` until it ends.
async fn import_and_follow(
    app: &TestApp,
    token: &str,
    name: &str,
    body: &str,
    options: Value,
) -> Value {
    let r = post_import(app, token, "", name, body, options).await;
    assert_eq!(r.status().as_u16(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    for _ in 0..1_200 {
        let job = app.get(&location, token).await.body;
        if job["state"] != "running" {
            assert_eq!(job["state"], "completed", "{job}");
            return job;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("the import did not finish in 5 minutes");
}

/// `GET path` as text (CSV answers).
async fn text(app: &TestApp, token: &str, path: &str) -> String {
    app.http
        .get(format!("{}{path}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn count(app: &TestApp, token: &str) -> u64 {
    app.get("/api/v1/customers?limit=1&include_total=true", token)
        .await
        .body["total"]
        .as_u64()
        .unwrap()
}

async fn by_email(app: &TestApp, token: &str, email: &str) -> Value {
    let page = app
        .post(
            "/api/v1/customers/search",
            token,
            json!({"filter": {"all": [{"field": "email", "op": "eq", "value": email}]}}),
        )
        .await;
    page.body["data"][0].clone()
}

fn counts(job: &Value) -> [u64; 5] {
    let p = &job["progress"];
    ["rows_read", "created", "updated", "skipped", "failed"].map(|k| p[k].as_u64().unwrap())
}

async fn a_messy_csv_gives_the_expected_counts_with_each_policy(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    for (policy, expected) in [
        ("skip", [7, 3, 0, 2, 2]),
        ("update", [7, 3, 2, 0, 2]),
        ("create", [7, 3, 0, 0, 4]),
    ] {
        let t = app.token(app.tenant(policy).await, "admin");
        let stored = app
            .post(
                "/api/v1/customers",
                &t,
                json!({"name": "Stored Original", "email": "stored@example.com"}),
            )
            .await;
        assert_eq!(stored.status, 201);
        let (status, job) = import(
            &app,
            &t,
            "messy.csv",
            MESSY,
            json!({"kind": "customers", "duplicate_policy": policy}),
        )
        .await;
        assert_eq!(status, 200, "{job}");
        assert_eq!(job["state"], "completed", "{job}");
        assert_eq!(counts(&job), expected, "{policy}: {job}");
        assert_eq!(count(&app, &t).await, 4, "{policy}");
        let budi = by_email(&app, &t, "budi@example.com").await;
        assert_eq!(budi["mobile_phone"], "+6281234567890");
        assert_eq!(budi["notes"], "Line one\nline two");
        let mut tags: Vec<&str> = budi["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        tags.sort();
        assert_eq!(tags, ["grosir", "vip"]);
        let stored_now = by_email(&app, &t, "stored@example.com").await;
        let expected_names = if policy == "update" {
            ("Budi S.", "Stored Person")
        } else {
            ("Budi Santoso", "Stored Original")
        };
        assert_eq!(
            (
                budi["name"].as_str().unwrap(),
                stored_now["name"].as_str().unwrap()
            ),
            expected_names,
            "{policy}"
        );
        // Every rejected row, with its line and field.
        let id = job["id"].as_str().unwrap();
        let errors = app
            .get(&format!("/api/v1/imports/{id}/errors"), &t)
            .await
            .body;
        let lines: Vec<(u64, Option<&str>)> = errors
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["line"].as_u64().unwrap(), e["field"].as_str()))
            .collect();
        let mut expected_lines = vec![(5, Some("email")), (6, Some("name"))];
        if policy == "create" {
            expected_lines.extend([(7, Some("email")), (8, Some("email"))]);
        }
        assert_eq!(lines, expected_lines, "{policy}: {errors}");
        let csv = text(&app, &t, &format!("/api/v1/imports/{id}/errors?format=csv")).await;
        assert!(csv.starts_with("line,field,reason\n5,email,"), "{csv}");
    }
}

async fn a_dry_run_writes_nothing_and_previews(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    let (status, job) = import(
        &app,
        &t,
        "messy.csv",
        MESSY,
        json!({"kind": "customers", "dry_run": true}),
    )
    .await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(counts(&job), [7, 4, 0, 1, 2]);
    assert_eq!(count(&app, &t).await, 0, "nothing written");
    let preview = job["progress"]["preview"].as_array().unwrap();
    assert_eq!(preview[0]["email"], "budi@example.com");
    assert_eq!(preview[0]["mobile_phone"], "+6281234567890");
    assert_eq!(preview[0]["action"], "create");
}

/// Issue 16, defect 8: an import's job (a dry run's preview holds names, e-mails and phones)
/// is read with `customers.manage` on every path, `GET /jobs/{id}` included; an RFM job stays
/// readable with `customers.view`.
async fn import_jobs_need_manage_on_every_path(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let a = app.tenant("A").await;
    let admin = app.token(a, "admin");
    let (status, job) = import(
        &app,
        &admin,
        "messy.csv",
        MESSY,
        json!({"kind": "customers", "dry_run": true}),
    )
    .await;
    assert_eq!(status, 200, "{job}");
    let id = job["id"].as_str().unwrap();
    for role in ["viewer", "sales", "manager"] {
        let token = app.token(a, role);
        for path in [
            format!("/api/v1/jobs/{id}"),
            format!("/api/v1/imports/{id}"),
        ] {
            let r = app.get(&path, &token).await;
            r.assert_problem(403);
            assert!(
                !r.body.to_string().contains("budi@example.com"),
                "{role} read {path}: {}",
                r.body
            );
        }
    }
    assert_eq!(
        app.get(&format!("/api/v1/jobs/{id}"), &admin).await.status,
        200
    );
    let rfm = app
        .post(
            "/api/v1/analytics/rfm/recompute?wait=true",
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(rfm.status, 200, "{}", rfm.body);
    let rfm_id = rfm.body["id"].as_str().unwrap();
    let viewer = app.token(a, "viewer");
    assert_eq!(
        app.get(&format!("/api/v1/jobs/{rfm_id}"), &viewer)
            .await
            .status,
        200
    );
}

async fn imports_are_tenant_isolated_and_checked(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let a = app.tenant("A").await;
    let t = app.token(a, "admin");
    let sales = app.token(a, "sales");
    let other = app.token(app.tenant("B").await, "admin");
    let (_, job) = import(&app, &t, "messy.csv", MESSY, json!({"kind": "customers"})).await;
    let id = job["id"].as_str().unwrap();
    app.get(&format!("/api/v1/imports/{id}"), &other)
        .await
        .assert_problem(404);
    app.get(&format!("/api/v1/imports/{id}/errors"), &other)
        .await
        .assert_problem(404);
    // The same file in B creates B's own customers: A's do not match.
    let (_, theirs) = import(
        &app,
        &other,
        "messy.csv",
        MESSY,
        json!({"kind": "customers"}),
    )
    .await;
    assert_eq!(counts(&theirs)[1], 4);
    let (status, _) = import(
        &app,
        &sales,
        "messy.csv",
        MESSY,
        json!({"kind": "customers"}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = import(
        &app,
        &t,
        "messy.csv",
        MESSY,
        json!({"kind": "customers", "duplicate_policy": "merge"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "options.duplicate_policy");
    let (status, body) = import(
        &app,
        &t,
        "x.csv",
        "Nama;E-mail\n",
        json!({"kind": "customers"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

/// Orders named by customer external ref (the CDNOW layout): customers are created, statistics
/// follow, and importing the same file again changes nothing.
async fn an_orders_file_creates_customers_and_is_idempotent(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    let file = "customer_id date number_of_cds dollar_value\n\
00001 19970101 1 11.77\n\
00002 19970112 1 12.00\n\
00002 19970112 5 77.00\n\
00003 19970102 2 20.76\n\
00003 19970330 2 20.76\n";
    let csv = file.replace(' ', ",");
    let options = json!({"kind": "orders", "default_currency": "USD"});
    let (status, job) = import(&app, &t, "cdnow.csv", &csv, options.clone()).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(counts(&job), [5, 5, 0, 0, 0], "{job}");
    let c3 = app
        .post(
            "/api/v1/customers/search",
            &t,
            json!({"filter": {"all": [{"field": "external_ref", "op": "eq", "value": "00003"}]}}),
        )
        .await
        .body["data"][0]
        .clone();
    assert_eq!(c3["total_orders"], 2);
    assert_eq!(c3["total_spent"], "41.52");
    assert_eq!(c3["currency"], "USD");
    assert_eq!(count(&app, &t).await, 3);
    let (_, again) = import(&app, &t, "cdnow.csv", &csv, options).await;
    assert_eq!(counts(&again), [5, 0, 0, 5, 0], "{again}");
    assert_eq!(count(&app, &t).await, 3);
}

/// A CDNOW file imported as orders into a new USD tenant (customers created from the CDNOW
/// ids): every row becomes an order, with `customers` customers and `revenue` USD in all.
/// Returns the tenant's admin token.
async fn import_cdnow(
    app: &TestApp,
    name: &str,
    file: &str,
    rows: u64,
    customers: u64,
    revenue: &str,
) -> String {
    let t = app.token(app.tenant_in("CDNOW", "US", "USD").await, "admin");
    let job = import_and_follow(app, &t, name, file, json!({"kind": "orders"})).await;
    assert_eq!(counts(&job), [rows, rows, 0, 0, 0], "{job}");
    println!("{name} imported in {} ms", job["progress"]["duration_ms"]);
    assert_eq!(count(app, &t).await, customers);
    let stats = app.get("/api/v1/customers/stats", &t).await.body;
    let usd = &stats["revenue_by_currency"][0];
    assert_eq!(
        (&usd["currency"], &usd["total_revenue"]),
        (&json!("USD"), &json!(revenue)),
        "{stats}"
    );
    t
}

/// The CDNOW sample (2,357 customers, 6,919 purchases) imported as orders through the API; the
/// models fitted through the API reproduce the published estimates (see
/// `crates/crm-domain/src/analytics/clv` and `../shared/data/cdnow/README.md`).
async fn the_cdnow_sample_imports_and_fits_the_published_models(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = import_cdnow(
        &app,
        "CDNOW_sample.csv",
        include_str!("../../examples/cdnow/CDNOW_sample.csv"),
        6_919,
        2_357,
        "244091.94",
    )
    .await;
    let fit = app
        .post(
            "/api/v1/analytics/clv/fit",
            &t,
            json!({"calibration_end": "1997-09-30", "time_unit": "week"}),
        )
        .await;
    assert_eq!(fit.status, 200, "{}", fit.body);
    let sig3 = |v: &Value, published: f64| {
        let x = v.as_f64().unwrap();
        let scale = 10f64.powi(2 - published.abs().log10().floor() as i32);
        assert_eq!(
            (x * scale).round(),
            (published * scale).round(),
            "{x} vs {published}"
        );
    };
    let bg = &fit.body["bgnbd"];
    sig3(&bg["r"], 0.243);
    sig3(&bg["alpha"], 4.414);
    sig3(&bg["a"], 0.793);
    sig3(&bg["b"], 2.426);
    let gg = &fit.body["gamma_gamma"];
    sig3(&gg["p"], 6.25);
    sig3(&gg["q"], 3.74);
    sig3(&gg["gamma"], 15.44);
    assert_eq!(fit.body["customers"], 2_357);
}

/// The whole CDNOW purchase history (69,659 purchases by 23,570 customers) imported as orders:
/// the counts and the revenue of `../shared/data/cdnow/README.md`.
async fn the_cdnow_master_file_yields_the_published_totals(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = import_cdnow(
        &app,
        "CDNOW_master.csv",
        include_str!("../../examples/cdnow/CDNOW_master.csv"),
        69_659,
        23_570,
        "2500315.63",
    )
    .await;
    // Σ total_orders over the exported customers counts the stored orders.
    let export = text(
        &app,
        &t,
        "/api/v1/exports/customers?format=csv&columns=total_orders",
    )
    .await;
    let orders: u64 = export
        .lines()
        .skip(1)
        .map(|l| l.trim().parse::<u64>().unwrap())
        .sum();
    assert_eq!(orders, 69_659);
}

/// What one customer's orders left behind: statistics, balance, tier, ledger and tier history
/// (orders sorted where one-by-one and batched writes may list equal times differently).
async fn outcome(app: &TestApp, token: &str, email: &str) -> Value {
    let c = by_email(app, token, email).await;
    let id = c["id"].as_str().unwrap();
    let loyalty = app
        .get(&format!("/api/v1/customers/{id}/loyalty"), token)
        .await
        .body;
    let mut ledger: Vec<String> = loyalty["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{} {} {}", e["kind"], e["points"], e["reason"]))
        .collect();
    ledger.sort();
    let mut history: Vec<String> = app
        .get(&format!("/api/v1/customers/{id}/tier-history"), token)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["reason"].as_str().unwrap().to_owned())
        .collect();
    history.sort();
    json!({
        "stats": [c["total_orders"], c["total_spent"], c["average_order_value"],
                  c["first_order_at"], c["last_order_at"], c["stage"], c["loyalty_points"]],
        "balance": loyalty["balance"],
        "tier": loyalty["tier"]["name"],
        "ledger": ledger,
        "history": history,
    })
}

/// An orders import (batched) leaves the statistics, points, ledger, tiers and tier history
/// that the same orders posted one by one leave, with a repeated ref, an invalid amount and a
/// ref of another customer's order in the file.
async fn an_orders_import_equals_the_orders_posted_one_by_one(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let a = app.token(app.tenant("A").await, "admin");
    let b = app.token(app.tenant("B").await, "admin");
    // email, name, ref, day, amount, status; Ani crosses Silver (2,000,000) then Gold.
    let rows = [
        "ani@example.com,Ani,A-1,2026-01-05,1500000,completed",
        "ani@example.com,Ani,A-2,2026-01-06,600000,completed",
        "budi@example.com,Budi,B-1,2026-01-07,200000,pending",
        "ani@example.com,Ani,A-3,2026-02-01,3000000,completed",
        "ani@example.com,Ani,A-2,2026-01-06,600000,completed",
        "budi@example.com,Budi,B-2,2026-02-02,abc,completed",
        "budi@example.com,Budi,A-1,2026-02-03,100,completed",
        "budi@example.com,Budi,B-3,2026-02-04,12345.67,completed",
    ];
    let file = format!(
        "customer_email,customer_name,order_ref,placed_at,total_amount,status\n{}\n",
        rows.join("\n")
    );
    let (status, job) = import(&app, &a, "orders.csv", &file, json!({"kind": "orders"})).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(counts(&job), [8, 5, 0, 1, 2], "{job}");
    let id = job["id"].as_str().unwrap();
    let errors = app
        .get(&format!("/api/v1/imports/{id}/errors"), &a)
        .await
        .body;
    let lines: Vec<_> = errors["data"]
        .as_array()
        .unwrap_or_else(|| errors.as_array().unwrap())
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["field"].clone()))
        .collect();
    assert_eq!(
        lines,
        [(7, json!("total_amount")), (8, json!("order_ref"))],
        "{errors}"
    );
    for (email, name) in [("ani@example.com", "Ani"), ("budi@example.com", "Budi")] {
        let r = app
            .post(
                "/api/v1/customers",
                &b,
                json!({"name": name, "email": email}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    for row in rows {
        let r: Vec<&str> = row.split(',').collect();
        let c = by_email(&app, &b, r[0]).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.post(
            &format!("/api/v1/customers/{c}/orders"),
            &b,
            json!({"order_ref": r[2], "placed_at": format!("{}T00:00:00Z", r[3]),
                   "total_amount": r[4], "status": r[5]}),
        )
        .await;
    }
    for email in ["ani@example.com", "budi@example.com"] {
        assert_eq!(
            outcome(&app, &a, email).await,
            outcome(&app, &b, email).await,
            "{email}"
        );
    }
    let ani = outcome(&app, &a, "ani@example.com").await;
    assert_eq!(ani["tier"], "Gold", "{ani}");
    assert_eq!(ani["history"].as_array().unwrap().len(), 3, "{ani}");
}

/// More rows than one lookup takes (100 keys a query) and than one batch holds (1,000): a
/// second import of the same file finds every customer.
async fn a_large_file_is_matched_across_batches(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    let mut file = String::from("name,email\n");
    for i in 0..1_250 {
        file.push_str(&format!("Customer {i},c{i}@example.com\n"));
    }
    let (_, first) = import(&app, &t, "big.csv", &file, json!({"kind": "customers"})).await;
    assert_eq!(counts(&first), [1_250, 1_250, 0, 0, 0], "{first}");
    let (_, again) = import(&app, &t, "big.csv", &file, json!({"kind": "customers"})).await;
    assert_eq!(counts(&again), [1_250, 0, 0, 1_250, 0], "{again}");
    assert_eq!(count(&app, &t).await, 1_250);
}

on_both_backends!(
    the_cdnow_master_file_yields_the_published_totals,
    an_orders_import_equals_the_orders_posted_one_by_one,
    a_large_file_is_matched_across_batches,
    a_messy_csv_gives_the_expected_counts_with_each_policy,
    a_dry_run_writes_nothing_and_previews,
    imports_are_tenant_isolated_and_checked,
    import_jobs_need_manage_on_every_path,
    an_orders_file_creates_customers_and_is_idempotent,
    the_cdnow_sample_imports_and_fits_the_published_models,
);
