//! Hostile input as a client sends it, on SQLite and PostgreSQL: NUL and other control
//! characters in any text answer the same 422 naming the field on both backends (PostgreSQL
//! refuses NUL in `text` and `jsonb`, so they once answered 500 there), and `/metrics` keeps a
//! bounded set of label values whatever methods and paths clients send.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crm_blackbox_tests::{DbBackend, TestApp, on_both_backends};
use serde_json::{Value, json};

async fn customer(app: &TestApp, token: &str) -> String {
    let email = format!("{}@example.com", uuid::Uuid::now_v7());
    let r = app
        .post(
            "/api/v1/customers",
            token,
            json!({"name": "Budi", "email": email}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// Asserts a 422 problem whose errors name `field` with code `invalid_characters`.
fn assert_refused(r: &crm_blackbox_tests::Reply, field: &str, what: &str) {
    assert_eq!(r.status, 422, "{what}: {}", r.body);
    r.assert_problem(422);
    let errors = r.body["errors"].as_array().cloned().unwrap_or_default();
    assert!(
        errors
            .iter()
            .any(|e| e["field"] == json!(field) && e["code"] == json!("invalid_characters")),
        "{what}: expected {field} invalid_characters in {}",
        r.body
    );
}

async fn nul_and_control_characters_answer_422_naming_the_field(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    let email = || format!("{}@example.com", uuid::Uuid::now_v7());

    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"name": "Bu\u{0}di", "email": email()}),
            "name",
            "NUL in a name",
        ),
        (
            json!({"name": "Bu\u{1b}[31mdi", "email": email()}),
            "name",
            "ESC in a name",
        ),
        (
            json!({"name": "Budi", "email": email(), "company": "A\nB"}),
            "company",
            "a line break in a single-line field",
        ),
        (
            json!({"name": "Budi", "email": email(), "tags": ["vip", "ja\u{0}karta"]}),
            "tags[1]",
            "NUL in a tag",
        ),
        (
            json!({"name": "Budi", "email": email(), "metadata": {"k": "v\u{0}"}}),
            "metadata.k",
            "NUL in a metadata value",
        ),
        (
            json!({"name": "Budi", "email": email(), "metadata": {"a": {"b": ["x", "\u{0}"]}}}),
            "metadata.a.b[1]",
            "NUL deep in metadata",
        ),
        (
            json!({"name": "Budi", "email": email(), "metadata": {"k\u{0}": 1}}),
            "metadata",
            "NUL in a metadata key",
        ),
        (
            json!({"name": "Budi", "email": email(), "notes": "a\u{0}b"}),
            "notes",
            "NUL in notes",
        ),
        (
            json!({"name": "Budi", "external_ref": "R\u{0}1"}),
            "external_ref",
            "NUL in a reference",
        ),
    ];
    for (body, field, what) in cases {
        let r = app.post("/api/v1/customers", &t, body).await;
        assert_refused(&r, field, what);
    }

    // Multi-line text keeps its tabs and line breaks, the same on both backends.
    let r = app
        .post(
            "/api/v1/customers",
            &t,
            json!({"name": "Budi", "email": email(), "notes": "line 1\n\tline 2\r\nend", "metadata": {"k": "a\nb"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["notes"], json!("line 1\n\tline 2\r\nend"));
    assert_eq!(r.body["metadata"]["k"], json!("a\nb"));

    // A PATCH goes through the same rule.
    let id = customer(&app, &t).await;
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/customers/{id}"),
            Some(&t),
            Some(json!({"display_name": "x\u{0}"})),
            &[],
        )
        .await;
    assert_refused(&r, "display_name", "NUL in a patched display name");

    let r = app
        .post(
            &format!("/api/v1/customers/{id}/orders"),
            &t,
            json!({"order_ref": "INV\u{0}1", "total_amount": "1000"}),
        )
        .await;
    assert_refused(&r, "order_ref", "NUL in an order ref");

    let r = app
        .post(
            "/api/v1/customer-segments",
            &t,
            json!({"name": "S\u{0}", "segment_type": "auto", "filter": {"all": []}}),
        )
        .await;
    assert_refused(&r, "name", "NUL in a segment name");

    let r = app
        .post(
            "/api/v1/customer-views",
            &t,
            json!({"name": "V\u{0}", "filter": {"all": []}}),
        )
        .await;
    assert_refused(&r, "name", "NUL in a view name");

    let filter = json!({"all": [{"field": "name", "op": "contains", "value": "a\u{0}"}]});
    let r = app
        .post("/api/v1/customers/search", &t, json!({"filter": filter}))
        .await;
    assert_refused(&r, "filter.all[0].value", "NUL in a filter value");
    let r = app
        .post(
            "/api/v1/customer-segments",
            &t,
            json!({"name": "S", "segment_type": "auto", "filter": filter}),
        )
        .await;
    assert_refused(&r, "filter.all[0].value", "NUL in a segment's filter value");

    let r = app
        .post("/api/v1/customers/search", &t, json!({"q": "bu\u{0}di"}))
        .await;
    assert_refused(&r, "q", "NUL in the search text");

    // Query-string operands: a malformed query parameter is a 400 naming it, as elsewhere.
    for (query, field) in [
        ("q=bu%00di", "q"),
        ("industry=re%00tail", "industry"),
        ("tag=v%00ip", "tag"),
        ("assigned_to=x%00", "assigned_to"),
    ] {
        let r = app.get(&format!("/api/v1/customers?{query}"), &t).await;
        assert!(r.status == 400 || r.status == 422, "{query}: {}", r.body);
        r.assert_problem(r.status);
        assert_eq!(r.error_field(), Some(field), "{query}: {}", r.body);
    }
}

async fn metrics_labels_stay_bounded_whatever_clients_send(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let series = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("crm_http_requests_total{"))
            .count()
    };
    for i in 0..150 {
        // Random extension methods and random unknown paths, unauthenticated.
        let method = format!("ZQ{i}X");
        app.call(
            &method,
            &format!("/api/v1/customers/{i}/zz{i}"),
            None,
            None,
            &[],
        )
        .await;
        app.call("GET", &format!("/nowhere-{i}"), None, None, &[])
            .await;
    }
    let text = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        series(&text) <= 10,
        "{} series after 300 hostile requests:\n{text}",
        series(&text)
    );
    assert!(!text.contains("ZQ"), "a raw method became a label");
    assert!(!text.contains("nowhere"), "a raw path became a label");
    assert!(text.contains("method=\"other\""), "{text}");
}

/// `POST /api/v1/imports?wait=true` with a CSV file; the status and the job.
async fn import(app: &TestApp, token: &str, csv: &str, options: Value) -> (u16, Value) {
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("x.csv"),
        )
        .text("options", options.to_string());
    let r = app
        .http
        .post(format!("{}/api/v1/imports?wait=true", app.base))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn imported_cells_with_nul_fail_their_row_only(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    let csv = "name,email,notes\n\
Ani,ani@example.com,\"two\nlines\"\n\
Bu\u{0}di,budi@example.com,x\n\
Citra,citra@example.com,a\u{0}b\n";
    let (status, job) = import(&app, &t, csv, json!({"kind": "customers"})).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["state"], "completed", "{job}");
    let p = &job["progress"];
    assert_eq!(
        (p["created"].as_u64(), p["failed"].as_u64()),
        (Some(1), Some(2)),
        "{job}"
    );

    // Orders: a NUL in the customer key or the order ref fails the row, not the import.
    let csv = "customer_id,date,order_ref,dollar_value\n\
00001,19970101,A-1,11.77\n\
00\u{0}02,19970112,A-2,12.00\n\
00003,19970112,A\u{0}3,77.00\n";
    let options = json!({"kind": "orders", "default_currency": "USD"});
    let (status, job) = import(&app, &t, csv, options).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["state"], "completed", "{job}");
    let p = &job["progress"];
    assert_eq!(
        (p["created"].as_u64(), p["failed"].as_u64()),
        (Some(1), Some(2)),
        "{job}"
    );
}

on_both_backends!(
    nul_and_control_characters_answer_422_naming_the_field,
    imported_cells_with_nul_fail_their_row_only,
    metrics_labels_stay_bounded_whatever_clients_send,
);
