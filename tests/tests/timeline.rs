//! The event log's reads (issue 13) as a client sees them, on SQLite and PostgreSQL: every
//! customer-side write (customers, nested parts, addresses, contacts, bulk, imports, privacy)
//! puts its event with the caller as actor and the field changes on the customer's timeline;
//! status changes need a reason; the timeline pages 2,000 events without gaps or repeats and
//! filters by type; the history holds the customer record's changes; the audit search needs
//! `customers.manage`; another tenant's customers and events are invisible.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crm_blackbox_tests::{DbBackend, TestApp, on_both_backends};
use serde_json::{Value, json};

async fn customer(app: &TestApp, token: &str, body: Value) -> String {
    let r = app.post("/api/v1/customers", token, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// The whole timeline of `id` (every page of 200), newest first.
async fn timeline(app: &TestApp, token: &str, id: &str, query: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/customers/{id}/timeline?limit=200{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = app.get(&path, token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        all.extend(r.body["data"].as_array().unwrap().iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return all,
        }
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

async fn patch(app: &TestApp, token: &str, id: &str, body: Value) -> u16 {
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/customers/{id}"),
            Some(token),
            Some(body),
            &[],
        )
        .await;
    r.status
}

/// Create (with a nested address and contact), PATCH, status change, delete and restore:
/// each its event, by the caller (sub, role, request id), with the changes of an update.
async fn customer_writes_put_their_events_on_the_timeline(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.tenant("Toko").await;
    let sales = app.token(t, "sales");
    let manager = app.token(t, "manager");
    let id = customer(
        &app,
        &sales,
        json!({"name": "Budi", "email": "budi@x.id",
               "addresses": [{"type": "billing", "line1": "Jl. Merdeka 1", "city": "Bandung"}],
               "contacts": [{"name": "Sari", "email": "sari@x.id"}]}),
    )
    .await;
    assert_eq!(
        patch(
            &app,
            &sales,
            &id,
            json!({"email": "budi@y.id", "phone": "0812 1111 2222"})
        )
        .await,
        200
    );
    let events = timeline(&app, &sales, &id, "").await;
    assert_eq!(
        types(&events),
        [
            "customer.updated",
            "contact.added",
            "address.added",
            "customer.created"
        ]
    );
    let updated = &events[0];
    assert_eq!(
        updated["changes"],
        json!({"email": ["budi@x.id", "budi@y.id"], "phone": [null, "+6281211112222"]})
    );
    assert_eq!(updated["actor"]["sub"], "sales-user");
    assert_eq!(updated["actor"]["role"], "sales");
    assert!(
        updated["actor"]["request_id"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    assert_ne!(
        updated["actor"]["request_id"],
        events[3]["actor"]["request_id"]
    );
    assert_eq!(updated["customer_id"], id.as_str());
    assert_eq!(updated["entity_type"], "customer");
    assert_eq!(
        updated["summary"],
        "sales-user (sales) changed email and phone"
    );
    assert_eq!(events[3]["data"]["name"], "Budi");
    assert_eq!(events[2]["data"]["city"], "Bandung");
    assert_eq!(events[2]["entity_type"], "address");
    assert_eq!(events[1]["data"]["is_primary"], true);
    // The created event's request made all three.
    assert_eq!(
        events[1]["actor"]["request_id"],
        events[3]["actor"]["request_id"]
    );

    // Delete and restore (manager), then the timeline shows both.
    let r = app
        .call(
            "DELETE",
            &format!("/api/v1/customers/{id}"),
            Some(&manager),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    // A deleted customer's timeline is 404, as its other sub-resources.
    let r = app
        .get(&format!("/api/v1/customers/{id}/timeline"), &manager)
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = app
        .post(
            &format!("/api/v1/customers/{id}/restore"),
            &manager,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = timeline(&app, &manager, &id, "").await;
    assert_eq!(
        types(&events)[..2],
        ["customer.restored", "customer.deleted"]
    );
    assert_eq!(events[1]["actor"]["role"], "manager");
}

/// A change of status to inactive, blocked or archived without `status_reason` is a 422 naming
/// it (PATCH, PUT, bulk); with it, `customer.status_changed` carries the reason.
async fn a_status_change_needs_a_reason_and_its_event_carries_it(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.tenant("Toko").await;
    let sales = app.token(t, "sales");
    let id = customer(&app, &sales, json!({"name": "Ani", "email": "ani@x.id"})).await;
    for status in ["inactive", "blocked", "archived"] {
        let r = app
            .call(
                "PATCH",
                &format!("/api/v1/customers/{id}"),
                Some(&sales),
                Some(json!({"status": status})),
                &[],
            )
            .await;
        assert_eq!(r.status, 422, "{status}: {}", r.body);
        assert_eq!(r.error_field(), Some("status_reason"), "{}", r.body);
    }
    let r = app
        .call(
            "PUT",
            &format!("/api/v1/customers/{id}"),
            Some(&sales),
            Some(json!({"name": "Ani", "email": "ani@x.id", "status": "blocked"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.error_field(), Some("status_reason"));
    let long = "x".repeat(501);
    assert_eq!(
        patch(
            &app,
            &sales,
            &id,
            json!({"status": "blocked", "status_reason": long})
        )
        .await,
        422
    );
    assert_eq!(
        patch(
            &app,
            &sales,
            &id,
            json!({"status": "blocked", "status_reason": "Unpaid invoices", "job_title": "Owner"})
        )
        .await,
        200
    );
    let r = app.get(&format!("/api/v1/customers/{id}"), &sales).await;
    assert_eq!(r.body["status"], "blocked");
    assert!(
        r.body.get("status_reason").is_none(),
        "not stored: {}",
        r.body
    );
    let events = timeline(&app, &sales, &id, "").await;
    let changed = of_type(&events, "customer.status_changed");
    assert_eq!(changed.len(), 1);
    assert_eq!(
        changed[0]["data"],
        json!({"from": "active", "to": "blocked", "reason": "Unpaid invoices"})
    );
    assert_eq!(
        changed[0]["changes"],
        json!({"status": ["active", "blocked"]})
    );
    // The other field of the same PATCH is a customer.updated without the status.
    assert_eq!(
        of_type(&events, "customer.updated")[0]["changes"],
        json!({"job_title": [null, "Owner"]})
    );
    // Back to active needs no reason.
    assert_eq!(
        patch(&app, &sales, &id, json!({"status": "active"})).await,
        200
    );

    // Bulk: refused without the reason; with it, one event per changed customer.
    let other = customer(&app, &sales, json!({"name": "Dewi", "email": "dewi@x.id"})).await;
    let bulk = |body: Value| {
        let app = &app;
        let sales = &sales;
        async move { app.post("/api/v1/customers/bulk", sales, body).await }
    };
    let r = bulk(
        json!({"ids": [id, other], "action": {"type": "update_status", "status": "archived"}}),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.error_field(), Some("action.status_reason"));
    let r = bulk(json!({"ids": [id, other], "action": {"type": "update_status", "status": "archived", "status_reason": "Closed"}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for c in [&id, &other] {
        let events = timeline(&app, &sales, c, "&types=customer.status_changed").await;
        assert_eq!(events[0]["data"]["to"], "archived");
        assert_eq!(events[0]["data"]["reason"], "Closed");
    }
}

/// Address and contact writes: added, updated (a default or primary move as `is_default` /
/// `is_primary` changes), removed.
async fn address_and_contact_writes_put_their_events_on_the_timeline(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.tenant("Toko").await;
    let sales = app.token(t, "sales");
    let id = customer(&app, &sales, json!({"name": "Maju", "email": "maju@x.id"})).await;
    let a1 = app
        .post(
            &format!("/api/v1/customers/{id}/addresses"),
            &sales,
            json!({"type": "billing", "line1": "Jl. A 1", "city": "Bandung"}),
        )
        .await;
    assert_eq!(a1.status, 201, "{}", a1.body);
    let a2 = app
        .post(
            &format!("/api/v1/customers/{id}/addresses"),
            &sales,
            json!({"type": "billing", "line1": "Jl. B 2", "city": "Jakarta", "is_default": true}),
        )
        .await;
    assert_eq!(a2.status, 201, "{}", a2.body);
    let c = app
        .post(
            &format!("/api/v1/customers/{id}/contacts"),
            &sales,
            json!({"name": "Sari", "email": "sari@maju.id"}),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.body);
    let cid = c.body["id"].as_str().unwrap();
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/customers/{id}/contacts/{cid}"),
            Some(&sales),
            Some(json!({"job_title": "Buyer"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .call(
            "DELETE",
            &format!("/api/v1/customers/{id}/contacts/{cid}"),
            Some(&sales),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let events = timeline(&app, &sales, &id, "&types=address.*,contact.*").await;
    assert_eq!(
        types(&events),
        [
            "contact.removed",
            "contact.updated",
            "contact.added",
            "address.added",
            "address.updated",
            "address.added"
        ]
    );
    assert_eq!(events[1]["changes"], json!({"job_title": [null, "Buyer"]}));
    assert_eq!(events[4]["entity_id"], a1.body["id"]);
    assert_eq!(events[4]["changes"], json!({"is_default": [true, false]}));
    assert_eq!(events[3]["entity_id"], a2.body["id"]);
    assert!(events.iter().all(|e| e["actor"]["sub"] == "sales-user"));
}

/// An import appends one `customer.created` per new row and one `customer.updated` (with
/// changes) per updated row, by the importing user; the job's `import.started` and
/// `import.completed` are in the audit log.
async fn imports_put_one_event_per_written_row(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.tenant("Toko").await;
    let admin = app.token(t, "admin");
    let known = customer(&app, &admin, json!({"name": "Budi", "email": "budi@x.id"})).await;
    let csv = "name,email\nBudi Santoso,budi@x.id\nAni,ani@x.id\n";
    let job = crm_blackbox_tests::imports::import(
        &app,
        &admin,
        csv,
        json!({"kind": "customers", "duplicate_policy": "update"}),
    )
    .await;
    assert_eq!(
        crm_blackbox_tests::imports::counts(&job)[1..3],
        [1, 1],
        "{job}"
    );
    let events = timeline(&app, &admin, &known, "").await;
    assert_eq!(types(&events)[0], "customer.updated");
    assert_eq!(
        events[0]["changes"]["name"],
        json!(["Budi", "Budi Santoso"])
    );
    assert_eq!(events[0]["actor"]["sub"], "admin-user");
    let ani = crm_blackbox_tests::imports::customer(&app, &admin, "ani@x.id").await;
    let events = timeline(&app, &admin, ani["id"].as_str().unwrap(), "").await;
    assert_eq!(types(&events)[..1], ["customer.created"]);
    let r = app
        .get("/api/v1/audit-events?entity_type=import&limit=10", &admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let audit = r.body["data"].as_array().unwrap();
    assert_eq!(types(audit), ["import.completed", "import.started"]);
    assert_eq!(audit[0]["entity_id"], job["id"]);
    assert_eq!(audit[0]["data"]["counts"]["created"], 1);
}

/// 2,000 events (PATCHes through the API, the rest appended straight into the log in one
/// transaction, which is cheaper) walked 50 at a time: none skipped, none repeated, newest
/// first; `types=` filters.
async fn the_timeline_pages_2000_events_without_gaps_or_repeats(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.tenant("Toko").await;
    let sales = app.token(t, "sales");
    let id = customer(&app, &sales, json!({"name": "Budi", "email": "budi@x.id"})).await;
    for i in 0..20 {
        assert_eq!(
            patch(&app, &sales, &id, json!({"job_title": format!("T{i}")})).await,
            200
        );
    }
    // 1 created + 20 updated so far; 1,979 more straight into the log.
    let actor = crm_domain::Actor::new(
        t,
        crm_domain::UserId::parse("loader").unwrap(),
        ["admin"],
        [],
    );
    let cid = crm_domain::CustomerId(id.parse().unwrap());
    let more: Vec<crm_domain::event::NewEvent> = (0..1979)
        .map(|i| {
            crm_domain::event::NewEvent::new(
                &actor,
                if i % 2 == 0 {
                    "note.added"
                } else {
                    "interaction.logged"
                },
                crm_domain::event::EntityType::Note,
                uuid::Uuid::now_v7(),
                chrono::Utc::now(),
            )
            .customer(cid)
            .data(json!({"n": i}))
        })
        .collect();
    let txn = app.database().system_tx().await.unwrap();
    crm_infra::events::append(&txn, &more).await.unwrap();
    txn.commit().await.unwrap();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("/api/v1/customers/{id}/timeline?limit=50");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = app.get(&path, &sales).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let data = r.body["data"].as_array().unwrap();
        assert!(data.len() <= 50);
        seen.extend(data.iter().map(|e| e["id"].as_i64().unwrap()));
        pages += 1;
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 40);
    assert_eq!(seen.len(), 2000);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats"
    );
    let all = timeline(&app, &sales, &id, "").await;
    let ids: Vec<i64> = all.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, seen);

    let notes = timeline(&app, &sales, &id, "&types=note.added").await;
    assert_eq!(notes.len(), 990);
    assert!(notes.iter().all(|e| e["type"] == "note.added"));
    let customer_events = timeline(&app, &sales, &id, "&types=customer.*").await;
    assert_eq!(customer_events.len(), 21);
    let both = timeline(&app, &sales, &id, "&types=customer.created,interaction.*").await;
    assert_eq!(both.len(), 1 + 989);
    // The history: the customer record's own changes only.
    let r = app
        .get(&format!("/api/v1/customers/{id}/history?limit=200"), &sales)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let history = r.body["data"].as_array().unwrap();
    assert_eq!(history.len(), 20);
    assert_eq!(history[0]["changes"], json!({"job_title": ["T18", "T19"]}));
    // Malformed filters and bounds.
    for bad in ["Note.added", "note.", "a.b.c", "%25", "note.*x"] {
        let r = app
            .get(
                &format!("/api/v1/customers/{id}/timeline?types={bad}"),
                &sales,
            )
            .await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
        assert_eq!(r.error_field(), Some("types"));
    }
    let many: Vec<String> = (0..21).map(|i| format!("t{}.x", "a".repeat(i))).collect();
    let r = app
        .get(
            &format!("/api/v1/customers/{id}/timeline?types={}", many.join(",")),
            &sales,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    for q in ["limit=0", "limit=201", "cursor=abc", "since=1"] {
        let r = app
            .get(&format!("/api/v1/customers/{id}/timeline?{q}"), &sales)
            .await;
        assert_eq!(r.status, 400, "{q}: {}", r.body);
    }
}

/// The audit search needs `customers.manage` (a manager is refused) and filters by actor,
/// type and entity; another tenant's customers' timelines are 404 and its events never appear.
async fn the_audit_needs_manage_and_tenants_never_see_each_other(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.tenant("Toko").await;
    let other = app.tenant("Lain").await;
    let admin = app.token(t, "admin");
    let sales = app.token(t, "sales");
    let stranger = app.token(other, "admin");
    let mine = customer(&app, &sales, json!({"name": "Budi", "email": "budi@x.id"})).await;
    let theirs = customer(&app, &stranger, json!({"name": "Eko", "email": "eko@x.id"})).await;
    assert_eq!(
        patch(&app, &stranger, &theirs, json!({"job_title": "CEO"})).await,
        200
    );

    for role in ["viewer", "sales", "manager"] {
        let r = app.get("/api/v1/audit-events", &app.token(t, role)).await;
        assert_eq!(r.status, 403, "{role}: {}", r.body);
    }
    let r = app.get("/api/v1/audit-events?limit=200", &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let all = r.body["data"].as_array().unwrap();
    assert_eq!(types(all), ["customer.created"]);
    assert_eq!(all[0]["customer_id"], mine.as_str());
    // Filters: by actor, type pattern, entity; another tenant's record id finds nothing.
    for (q, n) in [
        ("actor=sales-user", 1),
        ("actor=admin-user", 0),
        ("type=customer.*", 1),
        ("type=order.*", 0),
        (&*format!("entity_type=customer&entity_id={mine}"), 1),
        (&*format!("entity_id={theirs}"), 0),
        ("from=2000-01-01T00:00:00Z&to=2001-01-01T00:00:00Z", 0),
    ] {
        let r = app.get(&format!("/api/v1/audit-events?{q}"), &admin).await;
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        assert_eq!(
            r.body["data"].as_array().unwrap().len(),
            n,
            "{q}: {}",
            r.body
        );
    }
    let r = app.get("/api/v1/audit-events?type=bad-type", &admin).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.error_field(), Some("type"));
    let r = app
        .get("/api/v1/audit-events?entity_type=planet", &admin)
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // Another tenant's customer: 404 on both reads, for every role.
    for path in ["timeline", "history"] {
        let r = app
            .get(&format!("/api/v1/customers/{theirs}/{path}"), &admin)
            .await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
    }
    // And the other tenant sees only its own two events.
    let r = app.get("/api/v1/audit-events", &stranger).await;
    assert_eq!(
        types(r.body["data"].as_array().unwrap()),
        ["customer.updated", "customer.created"]
    );
}

on_both_backends!(
    customer_writes_put_their_events_on_the_timeline,
    a_status_change_needs_a_reason_and_its_event_carries_it,
    address_and_contact_writes_put_their_events_on_the_timeline,
    imports_put_one_event_per_written_row,
    the_timeline_pages_2000_events_without_gaps_or_repeats,
    the_audit_needs_manage_and_tenants_never_see_each_other,
);
