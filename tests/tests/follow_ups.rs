//! Follow-ups (issue 13), as a client sees them, on SQLite and PostgreSQL: the customer's
//! `next_follow_up_at` kept exact through create, edit, complete, cancel, reopen and delete
//! in any order, the status transitions and their `completed_*` fields, the derived
//! `overdue`, the work queue's order, filters and pages, soft-deleted customers, tenant
//! isolation and permissions.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Duration, SubsecRound, Utc};
use crm_blackbox_tests::{DbBackend, Reply, TestApp, on_both_backends};
use serde_json::{Value, json};

async fn customer(app: &TestApp, token: &str, name: &str) -> String {
    let r = app
        .post(
            "/api/v1/customers",
            token,
            json!({"name": name, "email": format!("{}@example.co.id", name.to_lowercase().replace(' ', "."))}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

fn path(customer: &str) -> String {
    format!("/api/v1/customers/{customer}/follow-ups")
}

/// `hours` from now (negative: in the past), RFC 3339.
fn due(hours: i64) -> String {
    (Utc::now().trunc_subsecs(0) + Duration::hours(hours)).to_rfc3339()
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .map(|s| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

fn ids(r: &Reply) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"].as_array().unwrap().iter().map(id).collect()
}

async fn create(app: &TestApp, token: &str, customer: &str, body: Value) -> Value {
    let r = app.post(&path(customer), token, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

async fn patch(app: &TestApp, token: &str, f: &Value, body: Value) -> Reply {
    app.call(
        "PATCH",
        &format!("/api/v1/follow-ups/{}", id(f)),
        Some(token),
        Some(body),
        &[],
    )
    .await
}

async fn next_follow_up(app: &TestApp, token: &str, c: &str) -> (Option<DateTime<Utc>>, String) {
    let r = app.get(&format!("/api/v1/customers/{c}"), token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    (
        time(&r.body["next_follow_up_at"]),
        r.header("etag").unwrap().to_owned(),
    )
}

/// `next_follow_up_at` is the earliest due time of the open follow-ups after every change:
/// create (earlier and later), complete the earliest, edit a later one to be earliest,
/// cancel, reopen, delete; null when none is open. The customer's ETag moves with it.
async fn next_follow_up_at_is_exact_after_every_change(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Maju Jaya").await;
    let (d1, d2, d3) = (due(24), due(48), due(72));
    let second = create(&app, &token, &c, json!({"title": "B", "due_at": d2})).await;
    let (next, etag1) = next_follow_up(&app, &token, &c).await;
    assert_eq!(next, time(&json!(d2)));
    let first = create(&app, &token, &c, json!({"title": "A", "due_at": d1})).await;
    let third = create(&app, &token, &c, json!({"title": "C", "due_at": d3})).await;
    let (next, etag2) = next_follow_up(&app, &token, &c).await;
    assert_eq!(next, time(&json!(d1)));
    assert_ne!(etag1, etag2);

    // Complete the earliest: the next one is the second.
    let r = patch(&app, &token, &first, json!({"status": "done"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(next_follow_up(&app, &token, &c).await.0, time(&json!(d2)));
    // Edit the third to be due before all.
    let d0 = due(2);
    let r = patch(&app, &token, &third, json!({"due_at": d0})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(next_follow_up(&app, &token, &c).await.0, time(&json!(d0)));
    // Cancel it: the second again.
    let r = patch(&app, &token, &third, json!({"status": "cancelled"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(next_follow_up(&app, &token, &c).await.0, time(&json!(d2)));
    // Reopen the first (done): it is the earliest again.
    let r = patch(&app, &token, &first, json!({"status": "open"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(next_follow_up(&app, &token, &c).await.0, time(&json!(d1)));
    // Delete it, then the second: only cancelled ones are left, so null.
    for f in [&first, &second] {
        let r = app
            .call(
                "DELETE",
                &format!("/api/v1/follow-ups/{}", id(f)),
                Some(&token),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.body);
    }
    assert_eq!(next_follow_up(&app, &token, &c).await.0, None);
}

/// open → done sets `completed_at` and `completed_by`; reopen clears them; done → cancelled
/// and cancelled → done are 422 `invalid_transition`; `overdue` is derived on every answer.
async fn status_transitions_and_overdue(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let manager = app.token(tenant, "manager");
    let c = customer(&app, &token, "Maju Jaya").await;
    let late = create(
        &app,
        &token,
        &c,
        json!({"title": "Late", "due_at": due(-1)}),
    )
    .await;
    assert_eq!(late["overdue"], true);
    assert_eq!(late["status"], "open");
    assert_eq!(late["assignee"], "sales-user");
    assert_eq!(late["priority"], "normal");
    assert_eq!(late["completed_at"], Value::Null);

    let before = Utc::now() - Duration::seconds(5);
    let r = patch(&app, &manager, &late, json!({"status": "done"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["completed_by"], "manager-user");
    assert!(time(&r.body["completed_at"]).unwrap() >= before);
    assert_eq!(r.body["overdue"], false, "a done follow-up is not overdue");
    let r = patch(&app, &token, &late, json!({"status": "cancelled"})).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.error_field(), Some("status"));
    assert_eq!(r.body["errors"][0]["code"], "invalid_transition");
    let r = patch(&app, &token, &late, json!({"status": "open"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["completed_at"], Value::Null);
    assert_eq!(r.body["completed_by"], Value::Null);
    assert_eq!(r.body["overdue"], true);
    let r = patch(&app, &token, &late, json!({"status": "cancelled"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = patch(&app, &token, &late, json!({"status": "done"})).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = patch(&app, &token, &late, json!({"status": "snoozed"})).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.error_field(), Some("status"));

    // Creation: only open, required title and due time, closed priority.
    for (body, field) in [
        (
            json!({"title": "X", "due_at": due(1), "status": "done"}),
            "status",
        ),
        (json!({"due_at": due(1)}), "title"),
        (json!({"title": "X"}), "due_at"),
        (
            json!({"title": "X", "due_at": due(1), "priority": "asap"}),
            "priority",
        ),
        (json!({"title": "t".repeat(256), "due_at": due(1)}), "title"),
        (
            json!({"title": "X", "due_at": "10000-01-01T00:00:00Z"}),
            "due_at",
        ),
    ] {
        let r = app.post(&path(&c), &token, body).await;
        assert_eq!(r.status, 422, "{field}: {}", r.body);
        assert_eq!(r.error_field(), Some(field), "{}", r.body);
    }
}

/// The work queue: by `due_at` then id; `assignee=me` and `assignee=USER`, `status`,
/// `due_before`, `overdue`, `priority`, `customer_id`; cursor pages without repeats or gaps;
/// a soft-deleted customer's follow-ups are left out (and back on restore).
async fn work_queue_order_filters_and_pages(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let sales = app.token(tenant, "sales");
    let admin = app.token(tenant, "admin");
    let a = customer(&app, &sales, "Maju Jaya").await;
    let b = customer(&app, &sales, "Sinar Abadi").await;
    // (customer, hours until due, assignee, priority)
    let specs = [
        (&a, 30, None, "normal"),
        (&b, -5, None, "urgent"),
        (&a, 10, Some("admin-user"), "high"),
        (&b, -20, Some("admin-user"), "low"),
        (&a, 50, None, "high"),
    ];
    let mut made = Vec::new();
    for (c, hours, assignee, priority) in specs {
        let mut body = json!({"title": "T", "due_at": due(hours), "priority": priority});
        if let Some(a) = assignee {
            body["assignee"] = json!(a);
        }
        made.push(id(&create(&app, &sales, c, body).await));
    }
    // The last one is done.
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/follow-ups/{}", made[4]),
            Some(&sales),
            Some(json!({"status": "done"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let pick = |idx: &[usize]| -> Vec<String> { idx.iter().map(|&i| made[i].clone()).collect() };
    let by_due = pick(&[3, 1, 2, 0, 4]);
    assert_eq!(ids(&app.get("/api/v1/follow-ups", &sales).await), by_due);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/api/v1/follow-ups?limit=2&cursor={c}"),
            None => "/api/v1/follow-ups?limit=2".to_owned(),
        };
        let r = app.get(&url, &sales).await;
        seen.extend(ids(&r));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, by_due);

    let before = due(20).replace('+', "%2B");
    for (token, query, expected) in [
        (&sales, "assignee=me", pick(&[1, 0, 4])),
        (&admin, "assignee=me", pick(&[3, 2])),
        (&sales, "assignee=admin-user", pick(&[3, 2])),
        (&sales, "assignee=me&status=open", pick(&[1, 0])),
        (&sales, "status=done", pick(&[4])),
        (&sales, "status=open,done", by_due.clone()),
        (&sales, "overdue=true", pick(&[3, 1])),
        (&sales, "overdue=false", pick(&[2, 0, 4])),
        (&sales, "priority=high,urgent", pick(&[1, 2, 4])),
        (&sales, &format!("due_before={before}"), pick(&[3, 1, 2])),
        (&sales, &format!("customer_id={b}"), pick(&[3, 1])),
        (&sales, "assignee=me&status=open&overdue=true", pick(&[1])),
    ] {
        let r = app.get(&format!("/api/v1/follow-ups?{query}"), token).await;
        assert_eq!(ids(&r), expected, "{query}");
    }
    for bad in [
        "overdue=maybe",
        "status=later",
        "priority=asap",
        "sort=due_at",
    ] {
        let r = app.get(&format!("/api/v1/follow-ups?{bad}"), &sales).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
    // The customer's own list, with the same filters.
    assert_eq!(
        ids(&app.get(&format!("{}?status=open", path(&a)), &sales).await),
        pick(&[2, 0])
    );
    // Overdue is derived in lists too.
    let r = app.get("/api/v1/follow-ups?overdue=true", &sales).await;
    assert!(
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["overdue"] == true)
    );

    // Soft-delete b: its follow-ups leave the queue and 404; restore brings them back.
    let r = app
        .call(
            "DELETE",
            &format!("/api/v1/customers/{b}"),
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        ids(&app.get("/api/v1/follow-ups", &sales).await),
        pick(&[2, 0, 4])
    );
    app.get(&format!("/api/v1/follow-ups/{}", made[1]), &sales)
        .await
        .assert_problem(404);
    app.get(&path(&b), &sales).await.assert_problem(404);
    let r = app
        .post(&format!("/api/v1/customers/{b}/restore"), &admin, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids(&app.get("/api/v1/follow-ups", &sales).await), by_due);
}

/// Another tenant's follow-ups are 404 on every route and absent from its queue; a viewer
/// reads but gets 403 on every write.
async fn other_tenants_and_viewers(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (t1, t2) = (app.tenant("One").await, app.tenant("Two").await);
    let (one, two) = (app.token(t1, "admin"), app.token(t2, "admin"));
    let c = customer(&app, &one, "Maju Jaya").await;
    let f = create(
        &app,
        &one,
        &c,
        json!({"title": "Call back", "due_at": due(1)}),
    )
    .await;
    let fpath = format!("/api/v1/follow-ups/{}", id(&f));
    app.get(&fpath, &two).await.assert_problem(404);
    app.get(&path(&c), &two).await.assert_problem(404);
    app.post(&path(&c), &two, json!({"title": "x", "due_at": due(1)}))
        .await
        .assert_problem(404);
    patch(&app, &two, &f, json!({"status": "done"}))
        .await
        .assert_problem(404);
    app.call("DELETE", &fpath, Some(&two), None, &[])
        .await
        .assert_problem(404);
    assert!(ids(&app.get("/api/v1/follow-ups", &two).await).is_empty());
    assert!(
        ids(&app
            .get("/api/v1/follow-ups?assignee=admin-user", &two)
            .await)
        .is_empty()
    );

    let viewer = app.token(t1, "viewer");
    assert_eq!(app.get(&fpath, &viewer).await.status, 200);
    assert_eq!(
        ids(&app.get("/api/v1/follow-ups", &viewer).await),
        vec![id(&f)]
    );
    app.post(&path(&c), &viewer, json!({"title": "x", "due_at": due(1)}))
        .await
        .assert_problem(403);
    patch(&app, &viewer, &f, json!({"status": "done"}))
        .await
        .assert_problem(403);
    app.call("DELETE", &fpath, Some(&viewer), None, &[])
        .await
        .assert_problem(403);
    let r = app.get(&fpath, &one).await;
    assert_eq!(r.body["status"], "open");
    assert_eq!(r.header("etag"), Some("\"1\""));
    app.call("DELETE", &fpath, Some(&one), None, &[("If-Match", "\"7\"")])
        .await
        .assert_problem(412);
}

on_both_backends!(
    next_follow_up_at_is_exact_after_every_change,
    status_transitions_and_overdue,
    work_queue_order_filters_and_pages,
    other_tenants_and_viewers,
);
