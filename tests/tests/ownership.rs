//! Ownership (issue 16, "raising the floor"): with the tenant setting `sales_scope: "assigned"`,
//! a user whose strongest role is `sales` reaches only the customers assigned to them, on every
//! path (list, search, stats, saved views, segments, exports, orders, loyalty, pricing,
//! analytics, bulk actions), and keeps the customers they write assigned to themself; with
//! `all` (the default), and for admins, managers, viewers and sales users who are also
//! managers, every customer of the tenant is visible. Both backends.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crm_blackbox_tests::{DbBackend, TestApp, on_both_backends};
use crm_domain::TenantId;
use serde_json::{Value, json};

/// One tenant with four customers: Ana (assigned to alice, one completed order), Andi
/// (created by alice herself), Budi (assigned to bob, one completed order), Umar (nobody's).
struct World {
    tenant: TenantId,
    admin: String,
    alice: String,
    bob: String,
    ana: String,
    andi: String,
    budi: String,
    umar: String,
    budi_order: String,
}

async fn customer(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app.post("/api/v1/customers", token, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

async fn set_scope(app: &TestApp, admin: &str, scope: Value) -> Value {
    let r = app
        .call(
            "PATCH",
            "/api/v1/tenant/settings",
            Some(admin),
            Some(json!({"sales_scope": scope})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

async fn order(app: &TestApp, token: &str, customer: &str, total: &str) -> String {
    let r = app
        .post(
            &format!("/api/v1/customers/{customer}/orders"),
            token,
            json!({"total_amount": total}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

async fn world(app: &TestApp, scope: Option<&str>) -> World {
    let tenant = app.tenant("Toko").await;
    let admin = app.token_for(tenant, "root", &["admin"], &[]);
    let alice = app.token_for(tenant, "alice", &["sales"], &[]);
    let bob = app.token_for(tenant, "bob", &["sales"], &[]);
    if let Some(scope) = scope {
        set_scope(app, &admin, json!(scope)).await;
    }
    let id = |v: Value| v["id"].as_str().unwrap().to_owned();
    let ana = id(customer(
        app,
        &admin,
        json!({"name": "Toko Ana", "email": "ana@example.com", "assigned_to": "alice"}),
    )
    .await);
    let andi = id(customer(
        app,
        &alice,
        json!({"name": "Toko Andi", "email": "andi@example.com"}),
    )
    .await);
    let budi = id(customer(
        app,
        &admin,
        json!({"name": "Toko Budi", "email": "budi@example.com", "assigned_to": "bob"}),
    )
    .await);
    let umar = id(customer(
        app,
        &admin,
        json!({"name": "Toko Umar", "email": "umar@example.com"}),
    )
    .await);
    order(app, &admin, &ana, "100").await;
    let budi_order = order(app, &admin, &budi, "250").await;
    World {
        tenant,
        admin,
        alice,
        bob,
        ana,
        andi,
        budi,
        umar,
        budi_order,
    }
}

/// The `name`s of a list page (`data`) or of a plain array, sorted.
fn names(body: &Value) -> Vec<String> {
    let rows = body["data"].as_array().or(body.as_array()).unwrap();
    let mut names: Vec<String> = rows
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn ids_of(body: &Value) -> Vec<String> {
    let mut ids: Vec<String> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

const ALICES: [&str; 2] = ["Toko Ana", "Toko Andi"];
const EVERYONE: [&str; 4] = ["Toko Ana", "Toko Andi", "Toko Budi", "Toko Umar"];

/// Every customer read of `token` sees exactly `visible` of the world's customers.
async fn sees(app: &TestApp, w: &World, token: &str, visible: &[&str]) {
    let list = app.get("/api/v1/customers?include_total=true", token).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(names(&list.body), visible);
    assert_eq!(list.body["total"], visible.len());
    let found = app
        .get("/api/v1/customers?q=toko&include_total=true", token)
        .await;
    assert_eq!(names(&found.body), visible, "search");
    assert_eq!(found.body["total"], visible.len());
    let stats = app.get("/api/v1/customers/stats", token).await;
    assert_eq!(stats.body["total"], visible.len(), "{}", stats.body);
    for (id, name) in [
        (&w.ana, "Toko Ana"),
        (&w.andi, "Toko Andi"),
        (&w.budi, "Toko Budi"),
        (&w.umar, "Toko Umar"),
    ] {
        let r = app.get(&format!("/api/v1/customers/{id}"), token).await;
        if visible.contains(&name) {
            assert_eq!(r.status, 200, "{name}: {}", r.body);
        } else {
            r.assert_problem(404);
        }
    }
}

async fn with_assigned_a_sales_user_reaches_only_their_customers(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let w = world(&app, Some("assigned")).await;
    let (alice, admin) = (w.alice.as_str(), w.admin.as_str());
    sees(&app, &w, alice, &ALICES).await;
    sees(&app, &w, &w.bob, &["Toko Budi"]).await;

    // Search: free text, typo-tolerant text and the filter language, a filter naming another
    // owner included.
    for body in [
        json!({"q": "budi"}),
        json!({"q": "budy"}),
        json!({"filter": {"all": [{"field": "assigned_to", "op": "eq", "value": "bob"}]}}),
        json!({"filter": {"all": [{"field": "assigned_to", "op": "is_null"}]}}),
    ] {
        let r = app
            .post("/api/v1/customers/search", alice, body.clone())
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(names(&r.body), Vec::<String>::new(), "{body}");
    }
    let typo = app
        .post("/api/v1/customers/search", admin, json!({"q": "budy"}))
        .await;
    assert_eq!(
        names(&typo.body),
        ["Toko Budi"],
        "the typo finds Budi for the admin"
    );
    let r = app
        .post(
            "/api/v1/customers/search",
            alice,
            json!({"q": "toko", "include_total": true}),
        )
        .await;
    assert_eq!(
        (names(&r.body), &r.body["total"]),
        (vec!["Toko Ana".into(), "Toko Andi".into()], &json!(2))
    );

    // Statistics: only Ana's order counts.
    let stats = app.get("/api/v1/customers/stats", alice).await.body;
    assert_eq!(
        stats["revenue_by_currency"][0]["total_revenue"], "100",
        "{stats}"
    );
    assert_eq!(names(&json!(stats["top_customers"])), ALICES);
    let all = app.get("/api/v1/customers/stats", admin).await.body;
    assert_eq!(
        all["revenue_by_currency"][0]["total_revenue"], "350",
        "{all}"
    );

    // A shared saved view shows the reader's own customers.
    let view = app
        .post(
            "/api/v1/customer-views",
            admin,
            json!({"name": "Toko", "shared": true,
                   "filter": {"all": [{"field": "name", "op": "starts_with", "value": "toko"}]}}),
        )
        .await;
    assert_eq!(view.status, 201, "{}", view.body);
    let views = app.get("/api/v1/customer-views", alice).await.body;
    let filter = views[0]["filter"].clone();
    let r = app
        .post("/api/v1/customers/search", alice, json!({"filter": filter}))
        .await;
    assert_eq!(names(&r.body), ALICES);

    // Segments: sizes, revenue, members and memberships.
    let seg = app
        .post(
            "/api/v1/customer-segments",
            admin,
            json!({"name": "Buyers", "segment_type": "auto",
                   "filter": {"all": [{"field": "total_orders", "op": "gte", "value": 1}]}}),
        )
        .await;
    assert_eq!(seg.status, 201, "{}", seg.body);
    assert_eq!(seg.body["customer_count"], 2);
    let sid = seg.body["id"].as_str().unwrap();
    let one = app
        .get(&format!("/api/v1/customer-segments/{sid}"), alice)
        .await
        .body;
    assert_eq!(
        (&one["customer_count"], &one["total_revenue"]["IDR"]),
        (&json!(1), &json!("100")),
        "{one}"
    );
    let listed = app.get("/api/v1/customer-segments", alice).await.body;
    assert_eq!(listed[0]["customer_count"], 1, "{listed}");
    let members = app
        .get(&format!("/api/v1/customer-segments/{sid}/customers"), alice)
        .await;
    assert_eq!(names(&members.body), ["Toko Ana"]);
    app.get(&format!("/api/v1/customers/{}/segments", w.budi), alice)
        .await
        .assert_problem(404);
    let mine = app
        .get(&format!("/api/v1/customers/{}/segments", w.ana), alice)
        .await;
    assert_eq!(mine.status, 200, "{}", mine.body);

    // Orders.
    let orders = app.get("/api/v1/orders", alice).await;
    assert_eq!(
        orders.body["data"].as_array().unwrap().len(),
        1,
        "{}",
        orders.body
    );
    assert_eq!(orders.body["data"][0]["customer_id"], json!(w.ana));
    assert_eq!(
        ids_of(&app.get("/api/v1/orders", admin).await.body).len(),
        2
    );
    let budi = &w.budi;
    for path in [
        format!("/api/v1/orders/{}", w.budi_order),
        format!("/api/v1/customers/{budi}/orders"),
        format!("/api/v1/customers/{budi}/purchase-stats"),
        format!("/api/v1/customers/{budi}/loyalty"),
        format!("/api/v1/customers/{budi}/tier-history"),
        format!("/api/v1/customers/{budi}/analytics"),
    ] {
        app.get(&path, alice).await.assert_problem(404);
        assert_eq!(app.get(&path, admin).await.status, 200, "{path}");
    }
    app.call(
        "PATCH",
        &format!("/api/v1/orders/{}", w.budi_order),
        Some(alice),
        Some(json!({"payment_status": "paid"})),
        &[],
    )
    .await
    .assert_problem(404);
    app.post(
        &format!("/api/v1/customers/{budi}/orders"),
        alice,
        json!({"total_amount": "1"}),
    )
    .await
    .assert_problem(404);
    app.post(
        &format!("/api/v1/customers/{budi}/loyalty/redeem"),
        alice,
        json!({"points": 1, "reason": "voucher"}),
    )
    .await
    .assert_problem(404);
    app.post(
        "/api/v1/pricing/quote",
        alice,
        json!({"customer_id": budi, "lines": [{"sku": "X", "quantity": "1", "unit_price": "1"}]}),
    )
    .await
    .assert_problem(404);
    // Her own customers' sub-resources answer.
    order(&app, alice, &w.andi, "5").await;
    for path in [
        format!("/api/v1/customers/{}/orders", w.ana),
        format!("/api/v1/customers/{}/loyalty", w.ana),
        format!("/api/v1/customers/{}/analytics", w.ana),
    ] {
        assert_eq!(app.get(&path, alice).await.status, 200, "{path}");
    }

    // Writes: another sales user's customer is not found, and nothing changes.
    let before = app
        .get(&format!("/api/v1/customers/{budi}"), admin)
        .await
        .body;
    app.call(
        "PATCH",
        &format!("/api/v1/customers/{budi}"),
        Some(alice),
        Some(json!({"is_vip": true})),
        &[],
    )
    .await
    .assert_problem(404);
    app.call(
        "PUT",
        &format!("/api/v1/customers/{budi}"),
        Some(alice),
        Some(json!({"name": "Mine now", "email": "mine@example.com"})),
        &[],
    )
    .await
    .assert_problem(404);
    app.post(
        "/api/v1/customers/bulk",
        alice,
        json!({"ids": [w.ana, budi], "action": {"type": "set_vip", "is_vip": true}}),
    )
    .await
    .assert_problem(404);
    let bulk = app
        .post(
            "/api/v1/customers/bulk",
            alice,
            json!({"filter": {}, "action": {"type": "add_tags", "tags": ["mine"]}}),
        )
        .await;
    assert_eq!(
        (bulk.status, &bulk.body["matched"]),
        (200, &json!(2)),
        "{}",
        bulk.body
    );
    let tagged = app.get("/api/v1/customers?tags_all=mine", admin).await;
    assert_eq!(names(&tagged.body), ALICES);
    let after = app
        .get(&format!("/api/v1/customers/{budi}"), admin)
        .await
        .body;
    assert_eq!(before, after, "Budi is untouched");
    assert_eq!(
        (&after["is_vip"], &after["tags"]),
        (&json!(false), &json!([]))
    );

    // RFM distribution: scored customers Alice reaches.
    let r = app
        .post(
            "/api/v1/analytics/rfm/recompute?wait=true",
            admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        app.get("/api/v1/analytics/rfm", admin).await.body["scored"],
        3
    );
    assert_eq!(
        app.get("/api/v1/analytics/rfm", alice).await.body["scored"],
        2
    );

    // Exports: a sales user granted customers.manage is still held to their own customers.
    let exporter = app.token_for(w.tenant, "alice", &["sales"], &["customers.manage"]);
    let csv = app
        .http
        .get(format!(
            "{}/api/v1/exports/customers?format=csv&columns=name",
            app.base
        ))
        .bearer_auth(&exporter)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.unwrap();
    let mut rows: Vec<&str> = text.lines().skip(1).collect();
    rows.sort_unstable();
    assert_eq!(rows, ALICES, "{text}");
    app.get(&format!("/api/v1/customers/{budi}/export"), &exporter)
        .await
        .assert_problem(404);
    let own = app
        .get(&format!("/api/v1/customers/{}/export", w.ana), &exporter)
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
}

async fn a_restricted_sales_user_keeps_their_customers_assigned_to_themself(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let w = world(&app, Some("assigned")).await;
    let (alice, admin) = (w.alice.as_str(), w.admin.as_str());
    let before = app
        .get(&format!("/api/v1/customers/{}", w.ana), admin)
        .await
        .body;
    // A customer created without an owner is hers.
    let andi = app
        .get(&format!("/api/v1/customers/{}", w.andi), admin)
        .await
        .body;
    assert_eq!(andi["assigned_to"], "alice", "{andi}");
    let own = customer(
        &app,
        alice,
        json!({"name": "Sari", "email": "sari@example.com", "assigned_to": "alice"}),
    )
    .await;
    assert_eq!(own["assigned_to"], "alice");
    // Naming another owner is refused, naming the field.
    let r = app
        .post(
            "/api/v1/customers",
            alice,
            json!({"name": "Gift", "email": "gift@example.com", "assigned_to": "bob"}),
        )
        .await;
    r.assert_problem(422);
    assert_eq!(
        (r.error_field(), &r.body["errors"][0]["code"]),
        (Some("assigned_to"), &json!("not_assignable")),
        "{}",
        r.body
    );
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/customers/{}", w.ana),
            Some(alice),
            Some(json!({"assigned_to": "bob"})),
            &[],
        )
        .await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("assigned_to"));
    let r = app
        .post(
            "/api/v1/customers/bulk",
            alice,
            json!({"ids": [w.ana], "action": {"type": "assign", "assigned_to": "bob"}}),
        )
        .await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("action.assigned_to"));
    let ana = app
        .get(&format!("/api/v1/customers/{}", w.ana), admin)
        .await
        .body;
    assert_eq!(ana, before, "nothing was handed over");
    // Her other edits go through; clearing the owner keeps her as the owner.
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/customers/{}", w.ana),
            Some(alice),
            Some(json!({"is_vip": true, "assigned_to": null})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (&r.body["is_vip"], &r.body["assigned_to"]),
        (&json!(true), &json!("alice"))
    );
    // An e-mail another sales user's customer holds is a conflict that does not name it.
    let r = app
        .post(
            "/api/v1/customers",
            alice,
            json!({"name": "Copy", "email": "budi@example.com"}),
        )
        .await;
    r.assert_problem(409);
    assert_eq!(r.error_field(), Some("email"));
    assert!(r.body["existing_id"].is_null(), "{}", r.body);
    assert!(!r.body.to_string().contains(&w.budi), "{}", r.body);
    // Admins hand customers over; the new owner then reaches them, the old one does not.
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/customers/{}", w.andi),
            Some(admin),
            Some(json!({"assigned_to": "bob"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    app.get(&format!("/api/v1/customers/{}", w.andi), alice)
        .await
        .assert_problem(404);
    assert_eq!(
        app.get(&format!("/api/v1/customers/{}", w.andi), &w.bob)
            .await
            .status,
        200
    );
}

async fn with_all_and_for_other_roles_every_customer_is_visible(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    // Default: no setting is `all`.
    let w = world(&app, None).await;
    let t = w.tenant;
    sees(&app, &w, &w.alice, &EVERYONE).await;
    assert_eq!(
        app.get("/api/v1/orders", &w.alice).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let created = customer(
        &app,
        &w.alice,
        json!({"name": "Nobody's", "email": "nobody@example.com"}),
    )
    .await;
    assert!(created["assigned_to"].is_null(), "{created}");
    app.call(
        "DELETE",
        &format!("/api/v1/customers/{}", created["id"].as_str().unwrap()),
        Some(&w.admin),
        None,
        &[],
    )
    .await;

    set_scope(&app, &w.admin, json!("assigned")).await;
    for (who, token) in [
        ("admin", w.admin.clone()),
        ("manager", app.token_for(t, "mia", &["manager"], &[])),
        ("viewer", app.token_for(t, "vic", &["viewer"], &[])),
        (
            "sales and manager",
            app.token_for(t, "alice", &["sales", "manager"], &[]),
        ),
        (
            "permissions only",
            app.token_for(t, "pat", &[], &["customers.view"]),
        ),
    ] {
        let r = app
            .get("/api/v1/customers?include_total=true", &token)
            .await;
        assert_eq!(r.body["total"], 4, "{who}: {}", r.body);
        sees(&app, &w, &token, &EVERYONE).await;
    }
    // Back to `all`, or the key removed: every customer again.
    set_scope(&app, &w.admin, json!("all")).await;
    sees(&app, &w, &w.alice, &EVERYONE).await;
    set_scope(&app, &w.admin, json!("assigned")).await;
    // Andi was created (by Alice) while every customer was everyone's: nobody's, so out of reach.
    sees(&app, &w, &w.alice, &["Toko Ana"]).await;
    let t = set_scope(&app, &w.admin, Value::Null).await;
    assert!(t["settings"].get("sales_scope").is_none(), "{t}");
    sees(&app, &w, &w.alice, &EVERYONE).await;
}

async fn the_setting_is_checked_and_set_by_admins_only(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.tenant("Toko").await;
    let admin = app.token_for(t, "root", &["admin"], &[]);
    for bad in [
        json!("mine"),
        json!("ASSIGNED"),
        json!(true),
        json!(["assigned"]),
    ] {
        let r = app
            .call(
                "PATCH",
                "/api/v1/tenant/settings",
                Some(&admin),
                Some(json!({"sales_scope": bad})),
                &[],
            )
            .await;
        r.assert_problem(422);
        assert_eq!(r.error_field(), Some("sales_scope"), "{bad}: {}", r.body);
    }
    let manager = app.token_for(t, "mia", &["manager"], &[]);
    app.call(
        "PATCH",
        "/api/v1/tenant/settings",
        Some(&manager),
        Some(json!({"sales_scope": "assigned"})),
        &[],
    )
    .await
    .assert_problem(403);
    let tenant = app.get("/api/v1/tenant", &admin).await.body;
    assert!(tenant["settings"].get("sales_scope").is_none(), "{tenant}");
    set_scope(&app, &admin, json!("assigned")).await;
    let tenant = app.get("/api/v1/tenant", &manager).await.body;
    assert_eq!(tenant["settings"]["sales_scope"], "assigned");
}

/// The privacy routes (merged beside ownership) agree: another sales user's customer's consents
/// are not found, read or written, and nothing is recorded.
async fn consents_follow_the_sales_scope(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let w = world(&app, Some("assigned")).await;
    let grant = json!({"status": "granted", "source": "web_form"});
    for path in ["consents", "consents/history"] {
        app.get(&format!("/api/v1/customers/{}/{path}", w.budi), &w.alice)
            .await
            .assert_problem(404);
        let own = app
            .get(&format!("/api/v1/customers/{}/{path}", w.ana), &w.alice)
            .await;
        assert_eq!(own.status, 200, "{}", own.body);
    }
    app.call(
        "PUT",
        &format!("/api/v1/customers/{}/consents/marketing_email", w.budi),
        Some(&w.alice),
        Some(grant.clone()),
        &[],
    )
    .await
    .assert_problem(404);
    let history = app
        .get(
            &format!("/api/v1/customers/{}/consents/history", w.budi),
            &w.admin,
        )
        .await;
    assert_eq!(history.body["data"], json!([]), "{}", history.body);
    let own = app
        .call(
            "PUT",
            &format!("/api/v1/customers/{}/consents/marketing_email", w.ana),
            Some(&w.alice),
            Some(grant),
            &[],
        )
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
}

on_both_backends!(
    consents_follow_the_sales_scope,
    with_assigned_a_sales_user_reaches_only_their_customers,
    a_restricted_sales_user_keeps_their_customers_assigned_to_themself,
    with_all_and_for_other_roles_every_customer_is_visible,
    the_setting_is_checked_and_set_by_admins_only,
);
