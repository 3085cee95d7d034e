//! Contacts of a customer (issue 12), as a client sees them, on SQLite and PostgreSQL: CRUD
//! with ETags, field validation, exactly one primary (under concurrent promotions too),
//! promotion when the primary is deleted, unique e-mail within the customer, the 100 limit,
//! the customer's `primary_contact`, nested creation rolled back whole, soft deletion, and
//! tenant isolation.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crm_blackbox_tests::{DbBackend, Reply, TestApp, on_both_backends};
use serde_json::{Value, json};

async fn customer(app: &TestApp, token: &str, name: &str) -> String {
    let r = app
        .post(
            "/api/v1/customers",
            token,
            json!({"name": name, "customer_type": "business", "company": name,
                   "email": format!("{}@example.co.id", name.to_lowercase().replace(' ', "."))}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

fn contacts_path(customer: &str) -> String {
    format!("/api/v1/customers/{customer}/contacts")
}

async fn add(app: &TestApp, token: &str, customer: &str, body: Value) -> Reply {
    app.post(&contacts_path(customer), token, body).await
}

async fn added(app: &TestApp, token: &str, customer: &str, body: Value) -> Value {
    let r = add(app, token, customer, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

async fn patch(app: &TestApp, token: &str, path: &str, body: Value, etag: Option<&str>) -> Reply {
    let headers: Vec<(&str, &str)> = etag.map(|e| ("If-Match", e)).into_iter().collect();
    app.call("PATCH", path, Some(token), Some(body), &headers)
        .await
}

async fn list(app: &TestApp, token: &str, customer: &str) -> Vec<Value> {
    let r = app.get(&contacts_path(customer), token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"].as_array().unwrap().clone()
}

fn primaries(contacts: &[Value]) -> Vec<String> {
    contacts
        .iter()
        .filter(|c| c["is_primary"] == true)
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// Create, read (with ETag), patch (with If-Match, 412 when stale), delete.
async fn contacts_have_crud_with_etags(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Maju Jaya").await;
    assert!(list(&app, &token, &c).await.is_empty());

    let r = add(
        &app,
        &token,
        &c,
        json!({
            "name": "  Sari Wulandari ",
            "job_title": "Purchasing manager",
            "department": "Procurement",
            "email": "Sari@Maju.co.id",
            "phone": "0812 3456 7890",
            "mobile_phone": "+62 813 1111 2222",
            "roles": ["purchasing", "decision_maker", "purchasing"],
            "preferred_channel": "whatsapp",
            "language": "id",
            "notes": "Line one\nLine two",
            "portal_access": true,
        }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let sari = r.body.clone();
    assert_eq!(r.header("etag"), Some("\"1\""));
    assert_eq!(
        r.header("location").unwrap(),
        format!("/api/v1/customers/{c}/contacts/{}", id(&sari))
    );
    assert_eq!(sari["name"], "Sari Wulandari");
    assert_eq!(sari["email"], "sari@maju.co.id");
    assert_eq!(sari["phone"], "+6281234567890");
    assert_eq!(sari["mobile_phone"], "+6281311112222");
    assert_eq!(sari["roles"], json!(["decision_maker", "purchasing"]));
    assert_eq!(sari["is_primary"], true, "the first contact is the primary");
    assert_eq!(sari["portal_access"], true);
    assert_eq!(sari["notes"], "Line one\nLine two");

    let path = format!("{}/{}", contacts_path(&c), id(&sari));
    let r = app.get(&path, &token).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("etag"), Some("\"1\""));
    assert_eq!(r.body, sari);

    let r = patch(
        &app,
        &token,
        &path,
        json!({"job_title": "Director"}),
        Some("\"7\""),
    )
    .await;
    r.assert_problem(412);
    let r = patch(
        &app,
        &token,
        &path,
        json!({"job_title": "Director", "department": null}),
        Some("\"1\""),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("etag"), Some("\"2\""));
    assert_eq!(r.body["job_title"], "Director");
    assert_eq!(r.body["department"], Value::Null);
    assert_eq!(r.body["email"], "sari@maju.co.id", "absent members stay");

    let r = app
        .call(
            "DELETE",
            &path,
            Some(&token),
            None,
            &[("If-Match", "\"1\"")],
        )
        .await;
    r.assert_problem(412);
    let r = app.call("DELETE", &path, Some(&token), None, &[]).await;
    assert_eq!(r.status, 204);
    app.get(&path, &token).await.assert_problem(404);
    assert!(list(&app, &token, &c).await.is_empty());

    // A viewer reads but does not write.
    let viewer = app.token(tenant, "viewer");
    assert!(list(&app, &viewer, &c).await.is_empty());
    add(&app, &viewer, &c, json!({"name": "X"}))
        .await
        .assert_problem(403);
}

/// Every invalid field is a 422 naming it.
async fn invalid_fields_are_named(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Maju Jaya").await;
    for (body, field, code) in [
        (json!({"email": "a@b.co"}), "name", "required"),
        (
            json!({"name": "A", "email": "not-an-email"}),
            "email",
            "invalid_email",
        ),
        (
            json!({"name": "A", "phone": "12"}),
            "phone",
            "invalid_phone",
        ),
        (
            json!({"name": "A", "roles": ["boss"]}),
            "roles[0]",
            "invalid_value",
        ),
        (
            json!({"name": "A", "roles": ["other", "other", "other", "other", "other", "other", "other"]}),
            "roles",
            "too_many",
        ),
        (
            json!({"name": "A", "preferred_channel": "pigeon"}),
            "preferred_channel",
            "invalid_value",
        ),
        (
            json!({"name": "A", "language": "english please"}),
            "language",
            "invalid_language",
        ),
        (json!({"name": "A\u{0}B"}), "name", "invalid_characters"),
        (
            json!({"name": "A", "notes": "bell\u{7}"}),
            "notes",
            "invalid_characters",
        ),
        (json!({"name": "x".repeat(256)}), "name", "too_long"),
    ] {
        let r = add(&app, &token, &c, body.clone()).await;
        r.assert_problem(422);
        assert_eq!(r.error_field(), Some(field), "{body}: {}", r.body);
        assert_eq!(r.body["errors"][0]["code"], code, "{body}: {}", r.body);
    }
    let r = add(&app, &token, &c, json!({"name": "A", "shoe_size": 42})).await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("shoe_size"));
    assert!(list(&app, &token, &c).await.is_empty());
}

/// One primary: a new primary swaps, the primary cannot be demoted, deleting it promotes the
/// oldest remaining contact; the customer shows its primary contact.
async fn exactly_one_primary(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Maju Jaya").await;
    let r = app.get(&format!("/api/v1/customers/{c}"), &token).await;
    assert_eq!(r.body["primary_contact"], Value::Null);
    assert!(r.body.as_object().unwrap().contains_key("primary_contact"));

    let a = added(
        &app,
        &token,
        &c,
        json!({"name": "A", "email": "a@maju.co.id", "phone": "0812 1111 0001"}),
    )
    .await;
    let b = added(&app, &token, &c, json!({"name": "B"})).await;
    let cc = added(&app, &token, &c, json!({"name": "C"})).await;
    assert_eq!(
        (a["is_primary"].clone(), b["is_primary"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(primaries(&list(&app, &token, &c).await), vec![id(&a)]);

    let r = app.get(&format!("/api/v1/customers/{c}"), &token).await;
    assert_eq!(
        r.body["primary_contact"],
        json!({"id": id(&a), "name": "A", "email": "a@maju.co.id", "phone": "+6281211110001"})
    );
    let page = app.get("/api/v1/customers", &token).await;
    assert_eq!(page.body["data"][0]["primary_contact"]["id"], id(&a));

    // Demoting the primary directly is refused: there must be one.
    let a_path = format!("{}/{}", contacts_path(&c), id(&a));
    let r = patch(&app, &token, &a_path, json!({"is_primary": false}), None).await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("is_primary"));
    assert_eq!(r.body["errors"][0]["code"], "must_be_primary");

    // Promoting C demotes A (its version moves on).
    let c_path = format!("{}/{}", contacts_path(&c), id(&cc));
    let r = patch(
        &app,
        &token,
        &c_path,
        json!({"is_primary": true}),
        Some("\"1\""),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let now = list(&app, &token, &c).await;
    assert_eq!(primaries(&now), vec![id(&cc)]);
    assert_eq!(now[0]["version"], 2, "A was demoted: {now:?}");
    // A new contact marked primary takes the place too.
    let d = added(&app, &token, &c, json!({"name": "D", "is_primary": true})).await;
    assert_eq!(primaries(&list(&app, &token, &c).await), vec![id(&d)]);

    // Deleting the primary promotes the oldest remaining contact (A).
    let r = app
        .call(
            "DELETE",
            &format!("{}/{}", contacts_path(&c), id(&d)),
            Some(&token),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(primaries(&list(&app, &token, &c).await), vec![id(&a)]);
    let r = app.get(&format!("/api/v1/customers/{c}"), &token).await;
    assert_eq!(r.body["primary_contact"]["id"], id(&a));
    // Deleting every contact leaves none and no primary.
    for x in [&a, &b, &cc] {
        let r = app
            .call(
                "DELETE",
                &format!("{}/{}", contacts_path(&c), id(x)),
                Some(&token),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, 204);
    }
    let r = app.get(&format!("/api/v1/customers/{c}"), &token).await;
    assert_eq!(r.body["primary_contact"], Value::Null);
}

/// Concurrent promotions of different contacts: every one is served, and at the end exactly
/// one contact is primary, the last one written, with consistent versions.
async fn concurrent_promotions_leave_one_primary(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Maju Jaya").await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(id(&added(
            &app,
            &token,
            &c,
            json!({"name": format!("P{i}")}),
        )
        .await));
    }
    let promotions = ids.iter().chain(ids.iter()).map(|contact| {
        let path = format!("{}/{contact}", contacts_path(&c));
        let (app, token) = (&app, &token);
        async move {
            patch(app, token, &path, json!({"is_primary": true}), None)
                .await
                .status
        }
    });
    let statuses = futures_util::future::join_all(promotions).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let now = list(&app, &token, &c).await;
    assert_eq!(primaries(&now).len(), 1, "{now:?}");
    let primary = &now.iter().find(|c| c["is_primary"] == true).unwrap();
    let r = app.get(&format!("/api/v1/customers/{c}"), &token).await;
    assert_eq!(r.body["primary_contact"]["id"], primary["id"]);
    // Versions count the writes: each of the 12 promotions wrote its contact once, and each
    // that changed the primary also wrote the demoted one; no write was lost.
    let writes: i64 = now.iter().map(|c| c["version"].as_i64().unwrap() - 1).sum();
    assert!((12..=24).contains(&writes), "{writes}: {now:?}");
    for contact in &now {
        let v = contact["version"].as_i64().unwrap();
        // At most 2 promotions and 3 demotions (P0 starts as the primary).
        assert!((1..=6).contains(&v), "{contact}");
    }
}

/// An e-mail is unique within the customer (case-insensitive), 409 naming the holder; another
/// customer's contact may have it.
async fn duplicate_email_is_a_conflict_naming_the_holder(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Maju Jaya").await;
    let other = customer(&app, &token, "Sinar Abadi").await;
    let sari = added(
        &app,
        &token,
        &c,
        json!({"name": "Sari", "email": "sari@maju.co.id"}),
    )
    .await;
    let r = add(
        &app,
        &token,
        &c,
        json!({"name": "Sari 2", "email": "SARI@maju.co.id"}),
    )
    .await;
    r.assert_problem(409);
    assert_eq!(r.body["existing_id"], sari["id"]);
    assert_eq!(r.error_field(), Some("email"));
    added(
        &app,
        &token,
        &other,
        json!({"name": "Sari", "email": "sari@maju.co.id"}),
    )
    .await;
    let b = added(&app, &token, &c, json!({"name": "Budi"})).await;
    let r = patch(
        &app,
        &token,
        &format!("{}/{}", contacts_path(&c), id(&b)),
        json!({"email": "Sari@Maju.co.id"}),
        None,
    )
    .await;
    r.assert_problem(409);
    assert_eq!(r.body["existing_id"], sari["id"]);
}

/// At most 100 contacts per customer (422 with the limit), in one request or one by one.
async fn a_customer_has_at_most_100_contacts(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let many = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| json!({"name": format!("Contact {i}")}))
            .collect()
    };
    let r = app
        .post(
            "/api/v1/customers",
            &token,
            json!({"name": "Too Many", "email": "too@many.co.id", "contacts": many(101)}),
        )
        .await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("contacts"));
    assert_eq!(r.body["errors"][0]["limit"], 100);
    let r = app
        .post(
            "/api/v1/customers",
            &token,
            json!({"name": "Full", "email": "full@many.co.id", "contacts": many(100)}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let c = id(&r.body);
    assert_eq!(r.body["primary_contact"]["name"], "Contact 0");
    assert_eq!(list(&app, &token, &c).await.len(), 100);
    let r = add(&app, &token, &c, json!({"name": "One more"})).await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("contacts"));
    assert_eq!(r.body["errors"][0]["code"], "too_many");
    assert_eq!(r.body["errors"][0]["limit"], 100);
}

/// `POST /customers` with `contacts`: stored in the same transaction; one bad element rejects
/// the whole request, naming its path, and nothing is stored.
async fn nested_create_is_all_or_nothing(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "admin");
    let body = |second_email: &str| {
        json!({
            "name": "PT Maju Jaya", "customer_type": "business", "company": "PT Maju Jaya",
            "email": "info@maju.co.id",
            "contacts": [
                {"name": "Sari", "email": "sari@maju.co.id", "roles": ["purchasing"]},
                {"name": "Budi", "email": second_email, "phone": "0812 2222 3333", "is_primary": true},
            ],
        })
    };
    let r = app
        .post("/api/v1/customers", &token, body("not-an-email"))
        .await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("contacts[1].email"));
    let r = app
        .post(
            "/api/v1/customers",
            &token,
            json!({"name": "X", "email": "x@x.co.id", "contacts": [{"name": "A", "shoe": 1}]}),
        )
        .await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("contacts[0].shoe"));
    let r = app
        .get("/api/v1/customers?include_total=true", &token)
        .await;
    assert_eq!(r.body["data"], json!([]), "rolled back whole: {}", r.body);

    let r = app
        .post("/api/v1/customers", &token, body("budi@maju.co.id"))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let c = id(&r.body);
    assert_eq!(r.body["primary_contact"]["name"], "Budi");
    assert_eq!(r.body["primary_contact"]["phone"], "+6281222223333");
    let contacts = list(&app, &token, &c).await;
    let names: Vec<&str> = contacts
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Sari", "Budi"]);
    assert_eq!(primaries(&contacts), vec![id(&contacts[1])]);
}

/// A soft-deleted customer's contacts are 404 with it and come back on restore.
async fn contacts_follow_the_customer_through_delete_and_restore(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "admin");
    let c = customer(&app, &token, "Maju Jaya").await;
    let sari = added(&app, &token, &c, json!({"name": "Sari"})).await;
    let r = app
        .call(
            "DELETE",
            &format!("/api/v1/customers/{c}"),
            Some(&token),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 204);
    app.get(&contacts_path(&c), &token)
        .await
        .assert_problem(404);
    app.get(&format!("{}/{}", contacts_path(&c), id(&sari)), &token)
        .await
        .assert_problem(404);
    add(&app, &token, &c, json!({"name": "B"}))
        .await
        .assert_problem(404);
    let r = app
        .post(&format!("/api/v1/customers/{c}/restore"), &token, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["primary_contact"]["id"], sari["id"]);
    assert_eq!(list(&app, &token, &c).await.len(), 1);
}

/// Another tenant's customer and contacts are 404 on every route, and a contact id is only
/// found under its own customer.
async fn other_tenants_contacts_are_invisible(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (t1, t2) = (app.tenant("One").await, app.tenant("Two").await);
    let (one, two) = (app.token(t1, "admin"), app.token(t2, "admin"));
    let c = customer(&app, &one, "Maju Jaya").await;
    let sari = added(
        &app,
        &one,
        &c,
        json!({"name": "Sari", "email": "sari@maju.co.id"}),
    )
    .await;
    let path = format!("{}/{}", contacts_path(&c), id(&sari));
    app.get(&contacts_path(&c), &two).await.assert_problem(404);
    app.get(&path, &two).await.assert_problem(404);
    add(&app, &two, &c, json!({"name": "X"}))
        .await
        .assert_problem(404);
    patch(&app, &two, &path, json!({"name": "X"}), None)
        .await
        .assert_problem(404);
    app.call("DELETE", &path, Some(&two), None, &[])
        .await
        .assert_problem(404);
    // Tenant two's own customer does not reach tenant one's contact by id either.
    let mine = customer(&app, &two, "Sinar").await;
    app.get(&format!("{}/{}", contacts_path(&mine), id(&sari)), &two)
        .await
        .assert_problem(404);
    let r = app.get("/api/v1/customers", &two).await;
    assert_eq!(r.body["data"][0]["primary_contact"], Value::Null);
    // Unchanged for tenant one.
    let r = app.get(&path, &one).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["name"], "Sari");
}

/// The data-subject export holds every contact; the erasure anonymises them, and an erased
/// customer takes no new contact.
async fn data_export_holds_contacts_and_erasure_anonymises_them(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "admin");
    let c = customer(&app, &token, "Maju Jaya").await;
    let sari = added(
        &app,
        &token,
        &c,
        json!({"name": "Sari", "email": "sari@maju.co.id", "phone": "0812 3456 7890",
               "roles": ["billing"], "notes": "Rumah di Jl. Melati 5", "language": "id"}),
    )
    .await;
    added(
        &app,
        &token,
        &c,
        json!({"name": "Budi", "mobile_phone": "0813 1111 2222"}),
    )
    .await;
    let r = app
        .get(&format!("/api/v1/customers/{c}/export"), &token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let names: Vec<&str> = r.body["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Sari", "Budi"]);
    assert_eq!(r.body["contacts"][0]["email"], "sari@maju.co.id");
    assert_eq!(r.body["customer"]["primary_contact"]["id"], sari["id"]);

    let r = app
        .call(
            "POST",
            &format!("/api/v1/customers/{c}/erase"),
            Some(&token),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let after = list(&app, &token, &c).await;
    assert_eq!(after.len(), 2);
    for contact in &after {
        assert_eq!(contact["name"], "Erased contact", "{contact}");
        for field in [
            "email",
            "phone",
            "mobile_phone",
            "notes",
            "language",
            "job_title",
        ] {
            assert_eq!(contact[field], Value::Null, "{field}: {contact}");
        }
        assert_eq!(contact["roles"], json!([]));
        assert_eq!(contact["version"], 2);
    }
    assert_eq!(primaries(&after), vec![id(&sari)]);
    let text = app
        .get(&format!("/api/v1/customers/{c}/export"), &token)
        .await
        .body
        .to_string();
    for personal in [
        "sari@maju.co.id",
        "6281234567890",
        "Melati",
        "\"Sari\"",
        "Budi",
    ] {
        assert!(!text.contains(personal), "{personal} in {text}");
    }
    add(&app, &token, &c, json!({"name": "New"}))
        .await
        .assert_problem(409);
}

/// Names of the customers a search `q` finds, in rank order, walking every page of 1.
async fn found(app: &TestApp, token: &str, q: &str) -> Vec<String> {
    let q: String = q
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect();
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => format!("/api/v1/customers?limit=1&q={q}"),
            Some(c) => format!("/api/v1/customers?limit=1&q={q}&cursor={c}"),
        };
        let r = app.get(&path, token).await;
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        for c in r.body["data"].as_array().unwrap() {
            names.push(c["name"].as_str().unwrap().to_owned());
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return names,
        }
        assert!(names.len() < 50, "{names:?}");
    }
}

/// `q` finds a customer by its contacts' names, e-mails and phone digits (national or
/// international), ranked after the customers found by their own fields; a change or deletion
/// of the contact is seen at once; another tenant's contacts never match.
async fn search_finds_customers_by_their_contacts(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (t1, t2) = (app.tenant("One").await, app.tenant("Two").await);
    let (token, other) = (app.token(t1, "admin"), app.token(t2, "admin"));
    let maju = customer(&app, &token, "Maju Jaya").await;
    customer(&app, &token, "Wulandari Store").await;
    let sari = added(
        &app,
        &token,
        &maju,
        json!({"name": "Sari Wulandari", "email": "sari.w@majujaya.co.id", "mobile_phone": "0813 7777 4321"}),
    )
    .await;
    let elsewhere = customer(&app, &other, "Lain").await;
    added(
        &app,
        &other,
        &elsewhere,
        json!({"name": "Sari Wulandari", "phone": "0813 7777 4321"}),
    )
    .await;

    assert_eq!(found(&app, &token, "sari wulan").await, ["Maju Jaya"]);
    assert_eq!(found(&app, &token, "sari.w@majujaya").await, ["Maju Jaya"]);
    assert_eq!(found(&app, &token, "0813-7777-4321").await, ["Maju Jaya"]);
    assert_eq!(found(&app, &token, "+62 813 7777").await, ["Maju Jaya"]);
    // Found by its own name first (rank 3), then through a contact (rank 1).
    assert_eq!(
        found(&app, &token, "wulandari").await,
        ["Wulandari Store", "Maju Jaya"]
    );
    assert_eq!(found(&app, &other, "majujaya").await, Vec::<String>::new());

    let path = format!("{}/{}", contacts_path(&maju), id(&sari));
    let r = patch(
        &app,
        &token,
        &path,
        json!({"name": "Ratna", "mobile_phone": null}),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        found(&app, &token, "sari wulan").await,
        Vec::<String>::new()
    );
    assert_eq!(found(&app, &token, "0813 7777").await, Vec::<String>::new());
    assert_eq!(found(&app, &token, "ratna").await, ["Maju Jaya"]);
    let r = app.call("DELETE", &path, Some(&token), None, &[]).await;
    assert_eq!(r.status, 204);
    assert_eq!(found(&app, &token, "ratna").await, Vec::<String>::new());
}

/// The list export can carry the primary contact's name, e-mail and phone.
async fn the_list_export_has_primary_contact_columns(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "admin");
    let c = customer(&app, &token, "Maju Jaya").await;
    customer(&app, &token, "Sinar").await;
    added(
        &app,
        &token,
        &c,
        json!({"name": "Sari", "email": "sari@maju.co.id", "mobile_phone": "0813 7777 4321"}),
    )
    .await;
    let r = app
        .http
        .get(format!(
            "{}/api/v1/exports/customers?format=csv&sort=name&columns=name,primary_contact_name,primary_contact_email,primary_contact_phone",
            app.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let text = r.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "name,primary_contact_name,primary_contact_email,primary_contact_phone",
            // A cell a spreadsheet would run as a formula gets a leading `'`.
            "Maju Jaya,Sari,sari@maju.co.id,'+6281377774321",
            "Sinar,,,",
        ]
    );
}

on_both_backends!(
    the_list_export_has_primary_contact_columns,
    search_finds_customers_by_their_contacts,
    data_export_holds_contacts_and_erasure_anonymises_them,
    contacts_have_crud_with_etags,
    invalid_fields_are_named,
    exactly_one_primary,
    concurrent_promotions_leave_one_primary,
    duplicate_email_is_a_conflict_naming_the_holder,
    a_customer_has_at_most_100_contacts,
    nested_create_is_all_or_nothing,
    contacts_follow_the_customer_through_delete_and_restore,
    other_tenants_contacts_are_invisible,
);
