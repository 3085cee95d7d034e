//! Privacy (issue 16, GDPR): erasure of a person, consent records with their history, and the
//! consent columns of exports and the data-subject export, as a client sees them, on SQLite and
//! PostgreSQL.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crm_blackbox_tests::{DbBackend, Reply, TestApp, on_both_backends};
use serde_json::{Value, json};

/// The person erased in these tests: every personal field set.
fn wibisono() -> Value {
    json!({
        "name": "Wibisono Hartanto",
        "display_name": "Pak Wibi",
        "email": "wibisono.hartanto@example.co.id",
        "phone": "0812 7777 1234",
        "mobile_phone": "0813 8888 4321",
        "job_title": "Pemilik",
        "birth_date": "1980-05-17",
        "gender": "male",
        "tags": ["grosir", "jakarta-selatan"],
        "metadata": {"ktp": "3174051705800001", "alamat": "Jl. Melati 5"},
        "notes": "Suka dihubungi sore hari",
        "internal_notes": "Istrinya bernama Sari",
        "external_ref": "ERP-WIBI-0001",
        "credit_limit": "0",
    })
}

async fn create(app: &TestApp, token: &str, body: Value) -> String {
    let r = app.post("/api/v1/customers", token, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

async fn order(app: &TestApp, token: &str, customer: &str, body: Value) -> Value {
    let r = app
        .post(&format!("/api/v1/customers/{customer}/orders"), token, body)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

async fn erase(app: &TestApp, token: &str, customer: &str) -> Reply {
    app.call(
        "POST",
        &format!("/api/v1/customers/{customer}/erase"),
        Some(token),
        None,
        &[],
    )
    .await
}

async fn put_consent(
    app: &TestApp,
    token: &str,
    customer: &str,
    purpose: &str,
    body: Value,
) -> Reply {
    app.call(
        "PUT",
        &format!("/api/v1/customers/{customer}/consents/{purpose}"),
        Some(token),
        Some(body),
        &[],
    )
    .await
}

/// Names of the customers a search for `q` finds.
async fn search(app: &TestApp, token: &str, q: &str) -> Vec<String> {
    let q: String = url_encode(q);
    let r = app
        .get(&format!("/api/v1/customers?limit=200&q={q}"), token)
        .await;
    assert_eq!(r.status, 200, "{q}: {}", r.body);
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The searches that found Wibisono before the erasure: name, one typo in a name, display
/// name, e-mail, phone digits, tag.
const SEARCHES: [&str; 6] = [
    "wibisono",
    "hartantp",
    "pak wibi",
    "wibisono.hartanto@example",
    "0812 7777",
    "jakarta-selatan",
];

/// A dry-run import whose preview repeats the person's e-mail and phone: a derived copy.
async fn dry_run_import(app: &TestApp, token: &str) -> String {
    let csv = "name,email,phone\nWibisono H.,wibisono.hartanto@example.co.id,0812 7777 1234\n\
               Orang Lain,lain@example.co.id,\n";
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("people.csv"),
        )
        .text(
            "options",
            json!({"kind": "customers", "dry_run": true, "duplicate_policy": "update"}).to_string(),
        );
    let r = app
        .http
        .post(format!("{}/api/v1/imports?wait=true", app.base))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let job: Value = r.json().await.unwrap();
    let preview = job["progress"]["preview"].to_string();
    assert!(preview.contains("wibisono.hartanto@example.co.id"), "{job}");
    job["id"].as_str().unwrap().to_owned()
}

/// The erasure anonymises every personal field and its derived copies (search documents and
/// typo terms, an import preview, a points reason, a granted consent), keeps orders, amounts,
/// points and statistics, records who erased whom, is idempotent, and leaves the customer
/// closed to changes.
async fn erasure_anonymises_the_person_and_keeps_the_accounts(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let admin = app.token(app.tenant("A").await, "admin");
    let c = create(&app, &admin, wibisono()).await;
    let other = create(
        &app,
        &admin,
        json!({"name": "Siti Aminah", "email": "siti@example.co.id"}),
    )
    .await;
    order(
        &app,
        &admin,
        &c,
        json!({"order_ref": "INV-1", "total_amount": "1500000", "placed_at": "2026-01-10T10:00:00Z",
               "metadata": {"kirim_ke": "Jl. Melati 5, Jakarta"}}),
    )
    .await;
    order(
        &app,
        &admin,
        &c,
        json!({"order_ref": "INV-2", "placed_at": "2026-02-10T10:00:00Z", "lines": [
            {"sku": "KOPI", "name": "Kopi", "quantity": "2", "unit_price": "250000"}]}),
    )
    .await;
    let r = app
        .post(
            &format!("/api/v1/customers/{c}/loyalty/adjust"),
            &admin,
            json!({"points": 5, "reason": "Ulang tahun Wibisono Hartanto"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = put_consent(
        &app,
        &admin,
        &c,
        "marketing_email",
        json!({"status": "granted", "source": "web_form"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let job = dry_run_import(&app, &admin).await;
    for q in SEARCHES {
        assert_eq!(
            search(&app, &admin, q).await,
            ["Wibisono Hartanto"],
            "before: {q}"
        );
    }
    let before = app.get(&format!("/api/v1/customers/{c}"), &admin).await;
    assert_eq!(before.status, 200);
    let orders_before = app
        .get(&format!("/api/v1/customers/{c}/orders"), &admin)
        .await
        .body;

    let r = erase(&app, &admin, &c).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let erased = &r.body["customer"];
    let version = before.body["version"].as_i64().unwrap() + 1;
    assert_eq!(erased["version"], version, "{erased}");
    assert_eq!(r.header("etag"), Some(format!("\"{version}\"").as_str()));
    assert_eq!(r.body["erasure"]["customer_id"], c.as_str());
    assert_eq!(r.body["erasure"]["erased_by"], "admin-user");
    assert_eq!(r.body["already_erased"], false);

    // The record as everyone reads it now: anonymised, the accounts kept.
    let got = app.get(&format!("/api/v1/customers/{c}"), &admin).await;
    assert_eq!(got.status, 200);
    let got = got.body;
    assert_eq!(&got, erased);
    for field in [
        "display_name",
        "email",
        "phone",
        "mobile_phone",
        "job_title",
        "birth_date",
        "gender",
        "notes",
        "internal_notes",
        "external_ref",
    ] {
        assert_eq!(got[field], Value::Null, "{field}: {got}");
    }
    assert_ne!(got["name"], "Wibisono Hartanto");
    assert_eq!(got["tags"], json!([]));
    assert_eq!(got["metadata"], json!({}));
    assert_eq!(got["erased_by"], "admin-user");
    assert!(got["erased_at"].is_string(), "{got}");
    for field in [
        "customer_number",
        "customer_code",
        "total_orders",
        "total_spent",
        "average_order_value",
        "first_order_at",
        "last_order_at",
        "loyalty_points",
        "tier_id",
        "currency",
        "created_at",
    ] {
        assert_eq!(got[field], before.body[field], "{field}");
    }
    assert_eq!(got["total_spent"], "2000000");
    assert_eq!(got["loyalty_points"], 205);
    let text = got.to_string();
    for secret in [
        "Wibisono",
        "Hartanto",
        "wibisono.hartanto",
        "7777",
        "8888",
        "ERP-WIBI",
        "Melati",
        "Sari",
        "grosir",
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }

    // Orders and amounts stay for the accounts; their free-form metadata goes.
    let orders_after = app
        .get(&format!("/api/v1/customers/{c}/orders"), &admin)
        .await
        .body;
    let amounts = |page: &Value| -> Vec<(Value, Value, Value)> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["order_ref"].clone(),
                    o["total_amount"].clone(),
                    o["status"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(amounts(&orders_after), amounts(&orders_before));
    assert_eq!(amounts(&orders_after).len(), 2);
    assert!(
        !orders_after.to_string().contains("Melati"),
        "{orders_after}"
    );
    assert!(orders_after.to_string().contains("KOPI"));

    // Not found by anything it was found by; the other customer still is.
    for q in SEARCHES {
        assert!(search(&app, &admin, q).await.is_empty(), "after: {q}");
    }
    assert_eq!(search(&app, &admin, "siti").await, ["Siti Aminah"]);
    assert_eq!(search(&app, &admin, "aminha").await, ["Siti Aminah"]);

    // Derived copies: the dry run's preview, the points reason written by a person.
    let job = app.get(&format!("/api/v1/imports/{job}"), &admin).await;
    assert_eq!(job.status, 200, "{}", job.body);
    let preview = job.body["progress"]["preview"].to_string();
    assert!(!preview.contains("wibisono.hartanto"), "{preview}");
    assert!(!preview.contains("+6281277771234"), "{preview}");
    assert!(preview.contains("lain@example.co.id"), "{preview}");
    let loyalty = app
        .get(&format!("/api/v1/customers/{c}/loyalty"), &admin)
        .await;
    assert_eq!(loyalty.body["balance"], 205);
    assert!(
        !loyalty.body.to_string().contains("Wibisono"),
        "{}",
        loyalty.body
    );

    // A granted consent is withdrawn by the erasure.
    let consents = app
        .get(&format!("/api/v1/customers/{c}/consents"), &admin)
        .await;
    assert_eq!(consents.status, 200, "{}", consents.body);
    let email = consents.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["purpose"] == "marketing_email")
        .unwrap()
        .clone();
    assert_eq!(
        (&email["status"], &email["source"]),
        (&json!("withdrawn"), &json!("erasure"))
    );

    // Erasing again answers the same record; nothing changes.
    let again = erase(&app, &admin, &c).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["already_erased"], true);
    assert_eq!(again.body["erasure"], r.body["erasure"]);
    assert_eq!(again.body["customer"], got);

    // It cannot be changed back: PATCH, PUT and consent changes answer 409 naming the state.
    let patched = app
        .call(
            "PATCH",
            &format!("/api/v1/customers/{c}"),
            Some(&admin),
            Some(json!({"name": "Wibisono Hartanto"})),
            &[],
        )
        .await;
    patched.assert_problem(409);
    assert_eq!(patched.body["type"], "/problems/customer-erased");
    assert_eq!(patched.error_field(), Some("erased_at"));
    assert_eq!(patched.body["erased_at"], got["erased_at"]);
    app.call(
        "PUT",
        &format!("/api/v1/customers/{c}"),
        Some(&admin),
        Some(json!({"name": "Wibisono Hartanto", "email": "w@example.co.id"})),
        &[],
    )
    .await
    .assert_problem(409);
    put_consent(
        &app,
        &admin,
        &c,
        "marketing_sms",
        json!({"status": "granted", "source": "pos"}),
    )
    .await
    .assert_problem(409);
    assert_eq!(
        app.get(&format!("/api/v1/customers/{c}"), &admin)
            .await
            .body,
        got
    );
    // The other customer is untouched.
    let siti = app.get(&format!("/api/v1/customers/{other}"), &admin).await;
    assert_eq!(siti.body["email"], "siti@example.co.id");
    assert_eq!(siti.body["version"], 1);
}

/// Erasing needs `customers.manage`: a manager, sales user or viewer gets a 403 and nothing
/// changes; an erasure without a token is a 401; a stale `If-Match` is a 412.
async fn erasure_needs_manage_and_changes_nothing_without_it(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.tenant("A").await;
    let admin = app.token(t, "admin");
    let c = create(&app, &admin, wibisono()).await;
    let before = app
        .get(&format!("/api/v1/customers/{c}"), &admin)
        .await
        .body;
    for role in ["manager", "sales", "viewer"] {
        let r = erase(&app, &app.token(t, role), &c).await;
        r.assert_problem(403);
        assert_eq!(r.body["type"], "/problems/forbidden", "{role}");
    }
    app.call(
        "POST",
        &format!("/api/v1/customers/{c}/erase"),
        None,
        None,
        &[],
    )
    .await
    .assert_problem(401);
    app.call(
        "POST",
        &format!("/api/v1/customers/{c}/erase"),
        Some(&admin),
        None,
        &[("If-Match", "\"7\"")],
    )
    .await
    .assert_problem(412);
    assert_eq!(
        app.get(&format!("/api/v1/customers/{c}"), &admin)
            .await
            .body,
        before
    );
    assert_eq!(
        search(&app, &admin, "wibisono").await,
        ["Wibisono Hartanto"]
    );
    // The matching If-Match erases.
    let r = app
        .call(
            "POST",
            &format!("/api/v1/customers/{c}/erase"),
            Some(&admin),
            None,
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["customer"]["email"], Value::Null);
}

/// Consents: the current state of each purpose, grants and withdrawals appended to a history
/// read newest first in cursor pages; a backdated event joins the history without overriding a
/// later one; bad input is a problem naming the field.
async fn consents_keep_their_history_in_order(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.tenant("A").await;
    let (admin, sales, viewer) = (
        app.token(t, "admin"),
        app.token(t, "sales"),
        app.token(t, "viewer"),
    );
    let c = create(
        &app,
        &admin,
        json!({"name": "Budi", "email": "budi@example.co.id"}),
    )
    .await;
    let base = format!("/api/v1/customers/{c}/consents");
    let r = app.get(&base, &viewer).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let purposes: Vec<&Value> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["purpose"])
        .collect();
    assert_eq!(
        purposes,
        [
            &json!("marketing_email"),
            &json!("marketing_sms"),
            &json!("marketing_whatsapp")
        ]
    );
    assert!(
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["status"].is_null())
    );

    let steps = [
        (
            "marketing_email",
            json!({"status": "granted", "source": "web_form", "at": "2026-01-01T09:00:00Z"}),
        ),
        (
            "marketing_sms",
            json!({"status": "granted", "source": "pos", "at": "2026-01-02T09:00:00Z"}),
        ),
        (
            "marketing_email",
            json!({"status": "withdrawn", "source": "unsubscribe_link", "at": "2026-01-03T09:00:00Z"}),
        ),
        (
            "marketing_whatsapp",
            json!({"status": "granted", "source": "import", "at": "2026-01-04T09:00:00Z"}),
        ),
        // Backdated: recorded last, older than the email withdrawal, so it does not undo it.
        (
            "marketing_email",
            json!({"status": "granted", "source": "paper_form", "at": "2025-12-24T09:00:00Z"}),
        ),
    ];
    for (purpose, body) in &steps {
        let r = put_consent(&app, &sales, &c, purpose, body.clone()).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["event"]["purpose"], *purpose);
        assert_eq!(r.body["event"]["recorded_by"], "sales-user");
    }
    let r = app.get(&base, &viewer).await;
    let state: Vec<(Value, Value, Value)> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["status"].clone(), e["source"].clone(), e["at"].clone()))
        .collect();
    assert_eq!(
        state,
        [
            (
                json!("withdrawn"),
                json!("unsubscribe_link"),
                json!("2026-01-03T09:00:00Z")
            ),
            (
                json!("granted"),
                json!("pos"),
                json!("2026-01-02T09:00:00Z")
            ),
            (
                json!("granted"),
                json!("import"),
                json!("2026-01-04T09:00:00Z")
            ),
        ]
    );

    // The history, newest first, two per page.
    let mut seen = Vec::new();
    let mut url = format!("{base}/history?limit=2");
    loop {
        let r = app.get(&url, &viewer).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body["data"].as_array().unwrap().len() <= 2);
        for e in r.body["data"].as_array().unwrap() {
            seen.push((e["purpose"].clone(), e["status"].clone(), e["at"].clone()));
        }
        match r.body["next_cursor"].as_str() {
            Some(cursor) => url = format!("{base}/history?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let mut expected: Vec<(Value, Value, Value)> = steps
        .iter()
        .map(|(p, b)| (json!(p), b["status"].clone(), b["at"].clone()))
        .collect();
    expected.sort_by(|a, b| b.2.as_str().cmp(&a.2.as_str()));
    assert_eq!(seen, expected);
    let r = app
        .get(&format!("{base}/history?purpose=marketing_sms"), &viewer)
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1, "{}", r.body);

    // A consent without `at` is recorded now.
    let r = put_consent(
        &app,
        &admin,
        &c,
        "marketing_sms",
        json!({"status": "withdrawn", "source": "call_centre"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["current"]["status"], "withdrawn");
    assert_eq!(r.body["event"]["at"], r.body["event"]["recorded_at"]);

    // Permissions: viewers read, but do not change.
    put_consent(
        &app,
        &viewer,
        &c,
        "marketing_sms",
        json!({"status": "granted", "source": "pos"}),
    )
    .await
    .assert_problem(403);

    // Hostile input names the field; nothing is recorded.
    for (purpose, body, status, field) in [
        (
            "marketing_email",
            json!({"status": "maybe", "source": "pos"}),
            422,
            "status",
        ),
        (
            "marketing_email",
            json!({"status": "granted"}),
            422,
            "source",
        ),
        (
            "marketing_email",
            json!({"status": "granted", "source": ""}),
            422,
            "source",
        ),
        (
            "marketing_email",
            json!({"status": "granted", "source": "web\u{0}form"}),
            422,
            "source",
        ),
        (
            "marketing_email",
            json!({"status": "granted", "source": "x".repeat(65)}),
            422,
            "source",
        ),
        (
            "marketing_email",
            json!({"status": "granted", "source": "pos", "at": "2999-01-01T00:00:00Z"}),
            422,
            "at",
        ),
        (
            "marketing_email",
            json!({"status": "granted", "source": "pos", "at": "yesterday"}),
            422,
            "at",
        ),
        (
            "marketing_email",
            json!({"status": "granted", "source": "pos", "extra": 1}),
            422,
            "extra",
        ),
        (
            "marketing_fax",
            json!({"status": "granted", "source": "pos"}),
            400,
            "purpose",
        ),
    ] {
        let r = put_consent(&app, &admin, &c, purpose, body.clone()).await;
        r.assert_problem(status);
        assert_eq!(r.error_field(), Some(field), "{body}: {}", r.body);
    }
    for bad in [
        "limit=0",
        "limit=201",
        "cursor=abc",
        "purpose=fax",
        "sort=at",
    ] {
        let r = app.get(&format!("{base}/history?{bad}"), &viewer).await;
        r.assert_problem(400);
    }
    let r = app.get(&format!("{base}/history?limit=200"), &viewer).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 6);
}

/// The customer export has a column per consent purpose (in the default columns too), with the
/// current status or an empty cell.
async fn exports_carry_consent_columns(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let admin = app.token(app.tenant("A").await, "admin");
    let a = create(&app, &admin, json!({"name": "Ani", "email": "ani@x.id"})).await;
    create(&app, &admin, json!({"name": "Budi", "email": "budi@x.id"})).await;
    put_consent(
        &app,
        &admin,
        &a,
        "marketing_email",
        json!({"status": "granted", "source": "web_form"}),
    )
    .await;
    put_consent(
        &app,
        &admin,
        &a,
        "marketing_whatsapp",
        json!({"status": "withdrawn", "source": "pos"}),
    )
    .await;
    let csv = |query: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let res = app
                .http
                .get(format!("{}/api/v1/exports/customers?{query}", app.base))
                .bearer_auth(admin)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), 200);
            let bytes = res.bytes().await.unwrap();
            let mut reader = csv::Reader::from_reader(&bytes[..]);
            let headers: Vec<String> = reader
                .headers()
                .unwrap()
                .iter()
                .map(str::to_owned)
                .collect();
            let rows: Vec<Vec<String>> = reader
                .records()
                .map(|r| r.unwrap().iter().map(str::to_owned).collect())
                .collect();
            (headers, rows)
        }
    };
    let (headers, rows) = csv(
        "sort=name&columns=name,consent_marketing_email,consent_marketing_sms,consent_marketing_whatsapp",
    )
    .await;
    assert_eq!(
        headers,
        [
            "name",
            "consent_marketing_email",
            "consent_marketing_sms",
            "consent_marketing_whatsapp"
        ]
    );
    assert_eq!(
        rows,
        [
            vec!["Ani", "granted", "", "withdrawn"],
            vec!["Budi", "", "", ""]
        ]
    );
    let (headers, rows) = csv("sort=name").await;
    let at = headers
        .iter()
        .position(|h| h == "consent_marketing_email")
        .expect("a default column");
    assert_eq!(rows[0][at], "granted");
    assert_eq!(rows[1][at], "");
}

/// The data-subject export holds the consents, their whole history and the orders.
async fn the_data_subject_export_holds_consents_and_orders(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.tenant("A").await;
    let admin = app.token(t, "admin");
    let c = create(&app, &admin, wibisono()).await;
    order(
        &app,
        &admin,
        &c,
        json!({"order_ref": "INV-9", "total_amount": "750000"}),
    )
    .await;
    for (status, at) in [
        ("granted", "2026-01-01T00:00:00Z"),
        ("withdrawn", "2026-02-01T00:00:00Z"),
    ] {
        let r = put_consent(
            &app,
            &admin,
            &c,
            "marketing_sms",
            json!({"status": status, "source": "pos", "at": at}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = app
        .get(&format!("/api/v1/customers/{c}/data-export"), &admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let d = r.body;
    assert_eq!(d["customer"]["email"], "wibisono.hartanto@example.co.id");
    assert_eq!(d["orders"][0]["order_ref"], "INV-9");
    let sms = d["consents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["purpose"] == "marketing_sms")
        .unwrap();
    assert_eq!(sms["status"], "withdrawn");
    let history: Vec<(&Value, &Value)> = d["consent_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (&e["status"], &e["at"]))
        .collect();
    assert_eq!(
        history,
        [
            (&json!("withdrawn"), &json!("2026-02-01T00:00:00Z")),
            (&json!("granted"), &json!("2026-01-01T00:00:00Z"))
        ]
    );
    // Needs customers.manage.
    app.get(
        &format!("/api/v1/customers/{c}/data-export"),
        &app.token(t, "manager"),
    )
    .await
    .assert_problem(403);
}

/// Every privacy route answers 404 for another tenant's customer and changes nothing.
async fn other_tenants_get_404_on_every_privacy_route(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let mine = app.token(app.tenant("A").await, "admin");
    let theirs = app.token(app.tenant("B").await, "admin");
    let c = create(&app, &mine, wibisono()).await;
    put_consent(
        &app,
        &mine,
        &c,
        "marketing_email",
        json!({"status": "granted", "source": "pos"}),
    )
    .await;
    let before = app.get(&format!("/api/v1/customers/{c}"), &mine).await.body;
    let unknown = uuid::Uuid::now_v7().to_string();
    for id in [c.as_str(), unknown.as_str()] {
        erase(&app, &theirs, id).await.assert_problem(404);
        for path in ["consents", "consents/history", "data-export"] {
            app.get(&format!("/api/v1/customers/{id}/{path}"), &theirs)
                .await
                .assert_problem(404);
        }
        put_consent(
            &app,
            &theirs,
            id,
            "marketing_email",
            json!({"status": "withdrawn", "source": "pos"}),
        )
        .await
        .assert_problem(404);
    }
    assert_eq!(
        app.get(&format!("/api/v1/customers/{c}"), &mine).await.body,
        before
    );
    let consents = app
        .get(&format!("/api/v1/customers/{c}/consents"), &mine)
        .await;
    assert_eq!(consents.body["data"][0]["status"], "granted");
    let history = app
        .get(&format!("/api/v1/customers/{c}/consents/history"), &mine)
        .await;
    assert_eq!(history.body["data"].as_array().unwrap().len(), 1);
}

on_both_backends!(
    erasure_anonymises_the_person_and_keeps_the_accounts,
    erasure_needs_manage_and_changes_nothing_without_it,
    consents_keep_their_history_in_order,
    exports_carry_consent_columns,
    the_data_subject_export_holds_consents_and_orders,
    other_tenants_get_404_on_every_privacy_route,
);
