//! The customer API as a client sees it, on SQLite and on PostgreSQL.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crm_blackbox_tests::{DbBackend, TestApp, on_both_backends};
use serde_json::{Value, json};

fn budi() -> Value {
    json!({"name": "Budi Santoso", "email": "Budi@Example.co.id", "phone": "0812 3456 7890", "tags": ["VIP", "jakarta"]})
}

async fn full_crud_round_trip(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.tenant("A").await;
    let admin = app.token(t, "admin");

    let created = app.post("/api/v1/customers", &admin, budi()).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v1/customers/{id}").as_str())
    );
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(created.body["email"], "budi@example.co.id");
    assert_eq!(created.body["phone"], "+6281234567890");
    assert_eq!(created.body["tags"], json!(["jakarta", "vip"]));
    assert_eq!(created.body["customer_number"], 1);
    assert!(
        created.body["customer_code"]
            .as_str()
            .unwrap()
            .ends_with("-0001")
    );

    let path = format!("/api/v1/customers/{id}");
    let got = app.get(&path, &admin).await;
    assert_eq!((got.status, got.header("etag")), (200, Some("\"1\"")));
    assert_eq!(got.body, created.body, "{} vs {}", got.body, created.body);

    let patched = app
        .call(
            "PATCH",
            &path,
            Some(&admin),
            Some(
                json!({"display_name": "Pak Budi", "tags": ["gold"], "credit_limit": "2500000.50"}),
            ),
            &[],
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["version"], 2);
    assert_eq!(patched.body["name"], "Budi Santoso", "absent members stay");
    assert_eq!(patched.body["tags"], json!(["gold"]));
    assert_eq!(patched.body["credit_limit"], "2500000.5");
    let cleared = app
        .call(
            "PATCH",
            &path,
            Some(&admin),
            Some(json!({"display_name": null})),
            &[("If-Match", "\"2\"")],
        )
        .await;
    assert_eq!(
        (cleared.status, &cleared.body["display_name"]),
        (200, &Value::Null)
    );

    let replaced = app
        .call(
            "PUT",
            &path,
            Some(&admin),
            Some(json!({"name": "Budi S.", "mobile_phone": "+62 812 3456 7891"})),
            &[],
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(
        replaced.body["email"],
        Value::Null,
        "PUT replaces every field"
    );
    assert_eq!(replaced.body["tags"], json!([]));
    assert_eq!(replaced.body["version"], 4);
    assert_eq!(replaced.header("etag"), Some("\"4\""));

    let list = app.get("/api/v1/customers", &admin).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);

    let deleted = app.call("DELETE", &path, Some(&admin), None, &[]).await;
    assert_eq!(deleted.status, 204);
    app.get(&path, &admin).await.assert_problem(404);
    assert!(
        app.get("/api/v1/customers", &admin).await.body["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let restored = app
        .call("POST", &format!("{path}/restore"), Some(&admin), None, &[])
        .await;
    assert_eq!(
        (restored.status, &restored.body["deleted_at"]),
        (200, &Value::Null)
    );
    assert_eq!(app.get(&path, &admin).await.status, 200);
}

async fn another_tenant_cannot_see_or_touch_a_customer(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let a = app.token(app.tenant("A").await, "admin");
    let b = app.token(app.tenant("B").await, "admin");
    let id = app.post("/api/v1/customers", &a, budi()).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/customers/{id}");

    app.get(&path, &b).await.assert_problem(404);
    app.call(
        "PATCH",
        &path,
        Some(&b),
        Some(json!({"name": "Hijacked"})),
        &[],
    )
    .await
    .assert_problem(404);
    app.call(
        "PUT",
        &path,
        Some(&b),
        Some(json!({"name": "Hijacked", "email": "x@example.com"})),
        &[],
    )
    .await
    .assert_problem(404);
    app.call("DELETE", &path, Some(&b), None, &[])
        .await
        .assert_problem(404);
    app.call("POST", &format!("{path}/restore"), Some(&b), None, &[])
        .await
        .assert_problem(404);
    assert!(
        app.get("/api/v1/customers", &b).await.body["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Untouched for its owner.
    let own = app.get(&path, &a).await;
    assert_eq!(
        (own.status, &own.body["name"], &own.body["version"]),
        (200, &json!("Budi Santoso"), &json!(1))
    );
}

async fn permissions_and_authentication_are_enforced(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.tenant("A").await;
    let viewer = app.token(t, "viewer");
    let sales = app.token(t, "sales");

    app.post("/api/v1/customers", &viewer, budi())
        .await
        .assert_problem(403);
    let id = app.post("/api/v1/customers", &sales, budi()).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get(&format!("/api/v1/customers/{id}"), &viewer)
            .await
            .status,
        200
    );
    app.call(
        "DELETE",
        &format!("/api/v1/customers/{id}"),
        Some(&sales),
        None,
        &[],
    )
    .await
    .assert_problem(403);

    let anonymous = app.call("GET", "/api/v1/customers", None, None, &[]).await;
    anonymous.assert_problem(401);
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
    app.get("/api/v1/customers", "not-a-jwt")
        .await
        .assert_problem(401);
    let unknown_tenant = app.token(crm_domain::TenantId(uuid::Uuid::now_v7()), "admin");
    app.get("/api/v1/customers", &unknown_tenant)
        .await
        .assert_problem(401);
}

async fn duplicate_email_conflicts_within_a_tenant_only(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let a = app.token(app.tenant("A").await, "admin");
    let b = app.token(app.tenant("B").await, "admin");
    let first = app
        .post(
            "/api/v1/customers",
            &a,
            json!({"name": "One", "email": "same@example.com"}),
        )
        .await;
    let dup = app
        .post(
            "/api/v1/customers",
            &a,
            json!({"name": "Two", "email": "SAME@example.com"}),
        )
        .await;
    dup.assert_problem(409);
    assert_eq!(dup.error_field(), Some("email"));
    assert_eq!(dup.body["existing_id"], first.body["id"]);
    let phone_dup = app
        .post(
            "/api/v1/customers",
            &a,
            json!({"name": "Three", "phone": "0812 0000 1111"}),
        )
        .await;
    assert_eq!(phone_dup.status, 201);
    let again = app
        .post(
            "/api/v1/customers",
            &a,
            json!({"name": "Four", "phone": "+6281200001111"}),
        )
        .await;
    again.assert_problem(409);
    assert_eq!(again.error_field(), Some("phone"));
    assert_eq!(
        app.post(
            "/api/v1/customers",
            &b,
            json!({"name": "One", "email": "same@example.com"})
        )
        .await
        .status,
        201
    );
}

async fn a_stale_if_match_is_a_failed_precondition(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let a = app.token(app.tenant("A").await, "admin");
    let id = app.post("/api/v1/customers", &a, budi()).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/customers/{id}");
    assert_eq!(
        app.call(
            "PATCH",
            &path,
            Some(&a),
            Some(json!({"notes": "v2"})),
            &[("If-Match", "\"1\"")]
        )
        .await
        .status,
        200
    );
    let stale = app
        .call(
            "PATCH",
            &path,
            Some(&a),
            Some(json!({"notes": "lost"})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    stale.assert_problem(412);
    app.call(
        "PUT",
        &path,
        Some(&a),
        Some(budi()),
        &[("If-Match", "\"1\"")],
    )
    .await
    .assert_problem(412);
    app.call("DELETE", &path, Some(&a), None, &[("If-Match", "\"1\"")])
        .await
        .assert_problem(412);
    assert_eq!(
        app.get(&path, &a).await.body["notes"],
        "v2",
        "nothing written by stale requests"
    );
}

async fn a_replayed_idempotency_key_creates_one_customer(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let a = app.token(app.tenant("A").await, "admin");
    let key = [("Idempotency-Key", "order-7f3c")];
    let first = app
        .call("POST", "/api/v1/customers", Some(&a), Some(budi()), &key)
        .await;
    let second = app
        .call("POST", "/api/v1/customers", Some(&a), Some(budi()), &key)
        .await;
    assert_eq!((first.status, second.status), (201, 201));
    assert_eq!(second.body["id"], first.body["id"]);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        app.get("/api/v1/customers", &a).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let reused = app
        .call(
            "POST",
            "/api/v1/customers",
            Some(&a),
            Some(json!({"name": "Other", "email": "o@example.com"})),
            &key,
        )
        .await;
    reused.assert_problem(422);
    assert_eq!(reused.error_field(), Some("Idempotency-Key"));
    // Concurrent retries of one request also create exactly one customer.
    let racing = [("Idempotency-Key", "race-1")];
    let body = json!({"name": "Racer", "email": "racer@example.com"});
    let (r1, r2, r3) = tokio::join!(
        app.call(
            "POST",
            "/api/v1/customers",
            Some(&a),
            Some(body.clone()),
            &racing
        ),
        app.call(
            "POST",
            "/api/v1/customers",
            Some(&a),
            Some(body.clone()),
            &racing
        ),
        app.call(
            "POST",
            "/api/v1/customers",
            Some(&a),
            Some(body.clone()),
            &racing
        ),
    );
    assert_eq!((r1.status, r2.status, r3.status), (201, 201, 201));
    assert!(r1.body["id"] == r2.body["id"] && r2.body["id"] == r3.body["id"]);
}

async fn bad_input_gets_a_problem_naming_the_field(backend: DbBackend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.max_body_bytes = 4096).await else {
        return;
    };
    let a = app.token(app.tenant("A").await, "admin");
    let cases: Vec<(Value, &str)> = vec![
        (json!({"email": "x@example.com"}), "name"),
        (json!({"name": "X"}), "email"),
        (json!({"name": "X", "email": "not-an-email"}), "email"),
        (json!({"name": "X", "phone": "12"}), "phone"),
        (
            json!({"name": "X", "email": "x@example.com", "customer_type": "alien"}),
            "customer_type",
        ),
        (
            json!({"name": "X", "email": "x@example.com", "customer_type": "business"}),
            "company",
        ),
        (json!({"name": 42, "email": "x@example.com"}), "name"),
        (
            json!({"name": "X", "email": "x@example.com", "tags": ["ok", 7]}),
            "tags[1]",
        ),
        (
            json!({"name": "X", "email": "x@example.com", "colour": "red"}),
            "colour",
        ),
        (
            json!({"name": "X", "email": "x@example.com", "credit_limit": "-5"}),
            "credit_limit",
        ),
        (
            json!({"name": "X", "email": "x@example.com", "currency": "XYZ"}),
            "currency",
        ),
        (
            json!({"name": "X", "email": "x@example.com", "is_blacklisted": true}),
            "blacklist_reason",
        ),
        (
            json!({"name": "X", "email": "x@example.com", "referred_by": uuid::Uuid::now_v7()}),
            "referred_by",
        ),
    ];
    for (body, field) in cases {
        let r = app.post("/api/v1/customers", &a, body.clone()).await;
        r.assert_problem(422);
        assert_eq!(r.error_field(), Some(field), "{body} -> {}", r.body);
    }
    app.raw(
        "POST",
        "/api/v1/customers",
        &a,
        "application/json",
        b"{\"name\": ".to_vec(),
    )
    .await
    .assert_problem(400);
    app.raw(
        "POST",
        "/api/v1/customers",
        &a,
        "text/plain",
        b"name=x".to_vec(),
    )
    .await
    .assert_problem(415);
    let big = json!({"name": "X", "email": "x@example.com", "notes": "n".repeat(5000)});
    app.raw(
        "POST",
        "/api/v1/customers",
        &a,
        "application/json",
        big.to_string().into_bytes(),
    )
    .await
    .assert_problem(413);
    let bad_id = app.get("/api/v1/customers/not-a-uuid", &a).await;
    bad_id.assert_problem(400);
    assert_eq!(bad_id.error_field(), Some("id"));
    for (query, field) in [
        ("?sort=shoe_size", "sort"),
        ("?q_x=1", "q_x"),
        ("?status=gone", "status"),
        ("?limit=500", "limit"),
        ("?cursor=forged", "cursor"),
    ] {
        let r = app.get(&format!("/api/v1/customers{query}"), &a).await;
        r.assert_problem(400);
        assert_eq!(r.error_field(), Some(field));
    }
    assert!(
        app.get("/api/v1/customers", &a).await.body["data"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing was stored"
    );
}

async fn the_list_pages_by_cursor_and_filters(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let a = app.token(app.tenant("A").await, "admin");
    let mut ids = Vec::new();
    for i in 0..5 {
        let status = if i % 2 == 0 { "active" } else { "inactive" };
        let r = app.post("/api/v1/customers", &a, json!({"name": format!("C{i}"), "email": format!("c{i}@example.com"), "status": status, "tags": [format!("t{i}")]})).await;
        ids.push(r.body["id"].clone());
    }
    let mut seen = Vec::new();
    let mut url = "/api/v1/customers?limit=2".to_owned();
    loop {
        let page = app.get(&url, &a).await;
        assert_eq!(page.status, 200, "{}", page.body);
        seen.extend(
            page.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].clone()),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => url = format!("/api/v1/customers?limit=2&cursor={c}"),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, no repeats, no gaps");
    let inactive = app.get("/api/v1/customers?status=inactive", &a).await;
    assert_eq!(inactive.body["data"].as_array().unwrap().len(), 2);
    let tagged = app.get("/api/v1/customers?tag=t0&tag=t3", &a).await;
    assert_eq!(tagged.body["data"].as_array().unwrap().len(), 2);
    let both = app
        .get("/api/v1/customers?tag=t0,t3&status=active", &a)
        .await;
    assert_eq!(both.body["data"].as_array().unwrap().len(), 1);
}

async fn operations_endpoints_answer(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    for path in ["/health/live", "/health/ready"] {
        let r = app.call("GET", path, None, None, &[]).await;
        assert_eq!((r.status, &r.body["status"]), (200, &json!("ok")), "{path}");
    }
    let spec = app.call("GET", "/openapi.json", None, None, &[]).await;
    assert_eq!(spec.status, 200);
    assert!(spec.body["paths"]["/api/v1/customers/{id}"]["patch"].is_object());
    let docs = app
        .http
        .get(format!("{}/docs/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status().as_u16(), 200);
    assert!(
        docs.text().await.unwrap().contains("swagger"),
        "Swagger UI is served"
    );
    let metrics = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "crm_http_requests_total{method=\"GET\",route=\"/health/live\",status=\"200\"}"
        ),
        "{metrics}"
    );
    app.call("GET", "/nowhere", None, None, &[])
        .await
        .assert_problem(404);
}

on_both_backends!(
    full_crud_round_trip,
    another_tenant_cannot_see_or_touch_a_customer,
    permissions_and_authentication_are_enforced,
    duplicate_email_conflicts_within_a_tenant_only,
    a_stale_if_match_is_a_failed_precondition,
    a_replayed_idempotency_key_creates_one_customer,
    bad_input_gets_a_problem_naming_the_field,
    the_list_pages_by_cursor_and_filters,
    operations_endpoints_answer,
);
