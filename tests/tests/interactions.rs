//! Interactions with a customer (issue 13), as a client sees them, on SQLite and PostgreSQL:
//! the customer's `last_contact_at` kept exact through creates, edits and deletes in any
//! order (and its ETag moving with it), a nested follow-up created in the same transaction,
//! field validation (future `occurred_at`, a contact of another customer, the 64 KiB body,
//! closed enums), the tenant-wide list's filters and cursor pages, soft-deleted customers,
//! tenant isolation and permissions.
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
    format!("/api/v1/customers/{customer}/interactions")
}

fn at(minutes_ago: i64) -> String {
    (Utc::now().trunc_subsecs(0) - Duration::minutes(minutes_ago)).to_rfc3339()
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .map(|s| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
}

async fn log(app: &TestApp, token: &str, customer: &str, body: Value) -> Value {
    let r = app.post(&path(customer), token, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

async fn get_customer(app: &TestApp, token: &str, id: &str) -> Reply {
    let r = app.get(&format!("/api/v1/customers/{id}"), token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r
}

/// The customer's `last_contact_at`, and its ETag.
async fn last_contact(app: &TestApp, token: &str, id: &str) -> (Option<DateTime<Utc>>, String) {
    let r = get_customer(app, token, id).await;
    (
        time(&r.body["last_contact_at"]),
        r.header("etag").unwrap().to_owned(),
    )
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

fn ids(r: &Reply) -> Vec<String> {
    r.body["data"].as_array().unwrap().iter().map(id).collect()
}

/// Three interactions; `last_contact_at` is the latest `occurred_at` after each create; it
/// falls back when the latest is deleted, moves forward when the oldest is edited to be the
/// latest, and is null once none is left. Every move changes the customer's ETag.
async fn last_contact_at_is_exact_after_create_edit_delete(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Maju Jaya").await;
    let (none, etag0) = last_contact(&app, &token, &c).await;
    assert_eq!(none, None);

    let (t3, t2, t1) = (at(180), at(120), at(60));
    let middle = log(&app, &token, &c, json!({"type": "call", "occurred_at": t2})).await;
    let oldest = log(
        &app,
        &token,
        &c,
        json!({"type": "email", "occurred_at": t3}),
    )
    .await;
    let (last, etag1) = last_contact(&app, &token, &c).await;
    assert_eq!(last, time(&json!(t2)), "an older one does not move it back");
    assert_ne!(etag0, etag1, "the customer's version moved");
    let latest = log(
        &app,
        &token,
        &c,
        json!({"type": "visit", "occurred_at": t1}),
    )
    .await;
    assert_eq!(last_contact(&app, &token, &c).await.0, time(&json!(t1)));

    // Delete the latest: back to the middle one.
    let r = app
        .call(
            "DELETE",
            &format!("/api/v1/interactions/{}", id(&latest)),
            Some(&token),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let (last, etag2) = last_contact(&app, &token, &c).await;
    assert_eq!(last, time(&json!(t2)));
    // Edit the oldest to be later than all.
    let t0 = at(10);
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/interactions/{}", id(&oldest)),
            Some(&token),
            Some(json!({"occurred_at": t0})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["version"], 2);
    let (last, etag3) = last_contact(&app, &token, &c).await;
    assert_eq!(last, time(&json!(t0)));
    assert_ne!(etag2, etag3);
    // Edit it back, earlier than the middle one: the middle one is the latest again.
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/interactions/{}", id(&oldest)),
            Some(&token),
            Some(json!({"occurred_at": t3})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(last_contact(&app, &token, &c).await.0, time(&json!(t2)));
    // Delete the rest: null.
    for i in [&middle, &oldest] {
        let r = app
            .call(
                "DELETE",
                &format!("/api/v1/interactions/{}", id(i)),
                Some(&token),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, 204);
    }
    assert_eq!(last_contact(&app, &token, &c).await.0, None);
}

/// An interaction with `follow_up` creates both in one transaction (the follow-up names the
/// interaction, the customer's `next_follow_up_at` is its due time); a bad follow-up refuses
/// both and names `follow_up.<field>`.
async fn nested_follow_up_is_created_with_the_interaction_or_neither(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Maju Jaya").await;

    let r = app
        .post(
            &path(&c),
            &token,
            json!({"type": "call", "subject": "Quote", "outcome": "follow_up_needed",
                   "follow_up": {"title": "Send quote"}}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.error_field(), Some("follow_up.due_at"));
    let r = app
        .post(
            &path(&c),
            &token,
            json!({"type": "fax", "follow_up": {"title": "", "due_at": at(-60)}}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"type") && fields.contains(&"follow_up.title"),
        "{fields:?}"
    );
    assert!(ids(&app.get(&path(&c), &token).await).is_empty());
    let fu = app
        .get(&format!("/api/v1/customers/{c}/follow-ups"), &token)
        .await;
    assert_eq!(fu.body["data"], json!([]), "nothing was written");
    assert_eq!(
        get_customer(&app, &token, &c).await.body["last_contact_at"],
        Value::Null
    );

    let due = at(-24 * 60);
    let i = log(
        &app,
        &token,
        &c,
        json!({"type": "call", "subject": "Quote", "outcome": "follow_up_needed",
               "follow_up": {"title": "Send quote", "due_at": due, "priority": "high"}}),
    )
    .await;
    assert_eq!(i["follow_up"]["interaction_id"], i["id"]);
    assert_eq!(i["follow_up"]["assignee"], "sales-user");
    assert_eq!(i["follow_up"]["status"], "open");
    assert_eq!(i["follow_up"]["overdue"], false);
    assert_eq!(i["performed_by"], "sales-user");
    let cust = get_customer(&app, &token, &c).await.body;
    assert_eq!(time(&cust["next_follow_up_at"]), time(&json!(due)));
    assert_eq!(time(&cust["last_contact_at"]), time(&i["occurred_at"]));
    let fu = app
        .get(
            &format!("/api/v1/follow-ups/{}", id(&i["follow_up"])),
            &token,
        )
        .await;
    assert_eq!(fu.status, 200, "{}", fu.body);
}

/// `occurred_at` more than 5 minutes ahead is a 422 naming it; a minute ahead (clock skew)
/// is accepted; absent is now.
async fn future_occurred_at_is_refused(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Maju Jaya").await;
    let r = app
        .post(
            &path(&c),
            &token,
            json!({"type": "call", "occurred_at": at(-10)}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.error_field(), Some("occurred_at"));
    assert_eq!(r.body["errors"][0]["code"], "in_future");
    log(
        &app,
        &token,
        &c,
        json!({"type": "call", "occurred_at": at(-1)}),
    )
    .await;
    let before = Utc::now() - Duration::seconds(5);
    let now = log(&app, &token, &c, json!({"type": "call"})).await;
    assert!(time(&now["occurred_at"]).unwrap() >= before);
    // A PATCH into the future too.
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/interactions/{}", id(&now)),
            Some(&token),
            Some(json!({"occurred_at": at(-60)})),
            &[],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.error_field(), Some("occurred_at"));
}

/// `contact_id` must be a contact of the same customer: another customer's contact (or an
/// unknown id) is a 422 naming `contact_id`; its own is accepted and filterable.
async fn a_contact_of_another_customer_is_refused(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let a = customer(&app, &token, "Maju Jaya").await;
    let b = customer(&app, &token, "Sinar Abadi").await;
    let contact_of = |c: String| {
        let app = &app;
        let token = &token;
        async move {
            let r = app
                .post(
                    &format!("/api/v1/customers/{c}/contacts"),
                    token,
                    json!({"name": "Sari"}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
            id(&r.body)
        }
    };
    let of_a = contact_of(a.clone()).await;
    let of_b = contact_of(b.clone()).await;
    for wrong in [of_b.clone(), uuid::Uuid::now_v7().to_string()] {
        let r = app
            .post(
                &path(&a),
                &token,
                json!({"type": "call", "contact_id": wrong}),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(r.error_field(), Some("contact_id"));
    }
    let i = log(
        &app,
        &token,
        &a,
        json!({"type": "call", "contact_id": of_a}),
    )
    .await;
    assert_eq!(i["contact_id"], json!(of_a));
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/interactions/{}", id(&i)),
            Some(&token),
            Some(json!({"contact_id": of_b})),
            &[],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.error_field(), Some("contact_id"));
    let r = app
        .get(&format!("/api/v1/interactions?contact_id={of_a}"), &token)
        .await;
    assert_eq!(ids(&r), vec![id(&i)]);
}

/// Bounds and closed sets: body over 64 KiB, duration beyond a day, an unknown type (the
/// message lists the allowed ones), a long subject, a missing type.
async fn fields_are_bounded_and_named(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Maju Jaya").await;
    for (body, field) in [
        (
            json!({"type": "call", "body": "x".repeat(64 * 1024 + 1)}),
            "body",
        ),
        (
            json!({"type": "call", "duration_seconds": 86_401}),
            "duration_seconds",
        ),
        (
            json!({"type": "call", "duration_seconds": -1}),
            "duration_seconds",
        ),
        (json!({"type": "fax"}), "type"),
        (json!({"type": "call", "outcome": "maybe"}), "outcome"),
        (
            json!({"type": "call", "direction": "sideways"}),
            "direction",
        ),
        (
            json!({"type": "call", "subject": "s".repeat(256)}),
            "subject",
        ),
        (json!({"subject": "no type"}), "type"),
        (
            json!({"type": "call", "occurred_at": "yesterday"}),
            "occurred_at",
        ),
    ] {
        let r = app.post(&path(&c), &token, body).await;
        assert_eq!(r.status, 422, "{field}: {}", r.body);
        assert_eq!(r.error_field(), Some(field), "{}", r.body);
    }
    let r = app.post(&path(&c), &token, json!({"type": "fax"})).await;
    let message = r.body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("call") && message.contains("meeting"),
        "{message}"
    );
    let i = log(
        &app,
        &token,
        &c,
        json!({"type": "meeting", "direction": "inbound", "body": "é".repeat(32 * 1024),
               "duration_seconds": 86_400, "outcome": "successful"}),
    )
    .await;
    assert_eq!(i["duration_seconds"], 86_400);
    assert_eq!(i["body"].as_str().unwrap().len(), 64 * 1024);
}

/// The tenant-wide list: newest first, each filter, cursor pages without repeats or gaps, a
/// soft-deleted customer's interactions left out (404 on its routes) and back on restore.
async fn tenant_wide_list_filters_pages_and_hides_deleted_customers(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let sales = app.token(tenant, "sales");
    let admin = app.token(tenant, "admin");
    let a = customer(&app, &sales, "Maju Jaya").await;
    let b = customer(&app, &sales, "Sinar Abadi").await;
    let mut logged = Vec::new();
    for (n, (c, kind, outcome, token)) in [
        (&a, "call", "successful", &sales),
        (&b, "email", "no_answer", &admin),
        (&a, "meeting", "successful", &admin),
        (&b, "call", "voicemail", &sales),
        (&a, "call", "no_answer", &sales),
    ]
    .into_iter()
    .enumerate()
    {
        let minutes = 100 - i64::try_from(n).unwrap() * 10;
        let i = log(
            &app,
            token,
            c,
            json!({"type": kind, "outcome": outcome, "occurred_at": at(minutes)}),
        )
        .await;
        logged.push(id(&i));
    }
    let newest_first: Vec<String> = logged.iter().rev().cloned().collect();
    let all = app.get("/api/v1/interactions", &sales).await;
    assert_eq!(ids(&all), newest_first);
    // Pages of 2.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/api/v1/interactions?limit=2&cursor={c}"),
            None => "/api/v1/interactions?limit=2".to_owned(),
        };
        let r = app.get(&url, &sales).await;
        assert_eq!(r.status, 200, "{}", r.body);
        seen.extend(ids(&r));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, newest_first);
    let pick =
        |idx: &[usize]| -> Vec<String> { idx.iter().rev().map(|&i| logged[i].clone()).collect() };
    for (query, expected) in [
        ("type=call", pick(&[0, 3, 4])),
        ("type=email,meeting", pick(&[1, 2])),
        ("outcome=no_answer", pick(&[1, 4])),
        ("performed_by=admin-user", pick(&[1, 2])),
        (&*format!("customer_id={b}"), pick(&[1, 3])),
        (
            &*format!(
                "occurred_from={}&occurred_to={}",
                at(85).replace('+', "%2B"),
                at(65).replace('+', "%2B")
            ),
            pick(&[2, 3]),
        ),
        ("type=call&outcome=no_answer", pick(&[4])),
    ] {
        let r = app
            .get(&format!("/api/v1/interactions?{query}"), &sales)
            .await;
        assert_eq!(r.status, 200, "{query}: {}", r.body);
        assert_eq!(ids(&r), expected, "{query}");
    }
    let r = app.get("/api/v1/interactions?type=fax", &sales).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = app.get("/api/v1/interactions?cursor=forged", &sales).await;
    assert_eq!(r.status, 400, "{}", r.body);
    // The customer's own list.
    assert_eq!(ids(&app.get(&path(&a), &sales).await), pick(&[0, 2, 4]));

    // Soft delete b: its interactions leave the lists and 404; restore brings them back.
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
        ids(&app.get("/api/v1/interactions", &sales).await),
        pick(&[0, 2, 4])
    );
    app.get(&path(&b), &sales).await.assert_problem(404);
    app.get(&format!("/api/v1/interactions/{}", logged[1]), &sales)
        .await
        .assert_problem(404);
    app.call(
        "PATCH",
        &format!("/api/v1/interactions/{}", logged[1]),
        Some(&sales),
        Some(json!({"subject": "x"})),
        &[],
    )
    .await
    .assert_problem(404);
    let r = app
        .post(&format!("/api/v1/customers/{b}/restore"), &admin, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        ids(&app.get("/api/v1/interactions", &sales).await),
        newest_first
    );
}

/// Another tenant's interactions are 404 on every route and absent from its lists; a viewer
/// reads but gets 403 on every write.
async fn other_tenants_and_viewers(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (t1, t2) = (app.tenant("One").await, app.tenant("Two").await);
    let (one, two) = (app.token(t1, "admin"), app.token(t2, "admin"));
    let c = customer(&app, &one, "Maju Jaya").await;
    let i = log(&app, &one, &c, json!({"type": "call"})).await;
    let ipath = format!("/api/v1/interactions/{}", id(&i));
    app.get(&ipath, &two).await.assert_problem(404);
    app.get(&path(&c), &two).await.assert_problem(404);
    app.post(&path(&c), &two, json!({"type": "call"}))
        .await
        .assert_problem(404);
    app.call(
        "PATCH",
        &ipath,
        Some(&two),
        Some(json!({"subject": "x"})),
        &[],
    )
    .await
    .assert_problem(404);
    app.call("DELETE", &ipath, Some(&two), None, &[])
        .await
        .assert_problem(404);
    assert!(ids(&app.get("/api/v1/interactions", &two).await).is_empty());
    assert!(
        ids(&app
            .get(&format!("/api/v1/interactions?customer_id={c}"), &two)
            .await)
        .is_empty()
    );
    assert_eq!(app.get(&ipath, &one).await.status, 200);

    let viewer = app.token(t1, "viewer");
    assert_eq!(app.get(&ipath, &viewer).await.status, 200);
    assert_eq!(ids(&app.get(&path(&c), &viewer).await), vec![id(&i)]);
    app.post(&path(&c), &viewer, json!({"type": "call"}))
        .await
        .assert_problem(403);
    app.call(
        "PATCH",
        &ipath,
        Some(&viewer),
        Some(json!({"subject": "x"})),
        &[],
    )
    .await
    .assert_problem(403);
    app.call("DELETE", &ipath, Some(&viewer), None, &[])
        .await
        .assert_problem(403);
    // Nothing changed.
    let r = app.get(&ipath, &one).await;
    assert_eq!(r.body["version"], 1);
}

/// GET returns the ETag; a stale If-Match is a 412 on PATCH and DELETE.
async fn stale_if_match_is_412(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Maju Jaya").await;
    let i = log(&app, &token, &c, json!({"type": "call", "subject": "a"})).await;
    let ipath = format!("/api/v1/interactions/{}", id(&i));
    let r = app.get(&ipath, &token).await;
    assert_eq!(r.header("etag"), Some("\"1\""));
    let r = app
        .call(
            "PATCH",
            &ipath,
            Some(&token),
            Some(json!({"subject": "b"})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    app.call(
        "PATCH",
        &ipath,
        Some(&token),
        Some(json!({"subject": "c"})),
        &[("If-Match", "\"1\"")],
    )
    .await
    .assert_problem(412);
    app.call(
        "DELETE",
        &ipath,
        Some(&token),
        None,
        &[("If-Match", "\"1\"")],
    )
    .await
    .assert_problem(412);
    let r = app
        .call(
            "DELETE",
            &ipath,
            Some(&token),
            None,
            &[("If-Match", "\"2\"")],
        )
        .await;
    assert_eq!(r.status, 204);
    app.get(&ipath, &token).await.assert_problem(404);
}

/// Under `sales_scope: assigned`, a salesperson reaches only their own customers' history:
/// another salesperson's customer's interactions and follow-ups are 404 and left out of the
/// tenant-wide lists, while a manager sees all.
async fn sales_scope_assigned_limits_history_to_own_customers(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let admin = app.token(tenant, "admin");
    let r = app
        .call(
            "PATCH",
            "/api/v1/tenant/settings",
            Some(&admin),
            Some(json!({"sales_scope": "assigned"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sari = app.token_for(tenant, "sari", &["sales"], &[]);
    let budi = app.token_for(tenant, "budi", &["sales"], &[]);
    let manager = app.token(tenant, "manager");
    let mine = customer(&app, &sari, "Maju Jaya").await;
    let theirs = customer(&app, &budi, "Sinar Abadi").await;
    let i = log(
        &app,
        &budi,
        &theirs,
        json!({"type": "call",
        "follow_up": {"title": "Call back", "due_at": at(-60)}}),
    )
    .await;
    let own = log(&app, &sari, &mine, json!({"type": "visit"})).await;
    app.get(&format!("/api/v1/interactions/{}", id(&i)), &sari)
        .await
        .assert_problem(404);
    app.get(
        &format!("/api/v1/follow-ups/{}", id(&i["follow_up"])),
        &sari,
    )
    .await
    .assert_problem(404);
    app.post(&path(&theirs), &sari, json!({"type": "call"}))
        .await
        .assert_problem(404);
    app.call(
        "DELETE",
        &format!("/api/v1/interactions/{}", id(&i)),
        Some(&sari),
        None,
        &[],
    )
    .await
    .assert_problem(404);
    assert_eq!(
        ids(&app.get("/api/v1/interactions", &sari).await),
        vec![id(&own)]
    );
    assert!(ids(&app.get("/api/v1/follow-ups", &sari).await).is_empty());
    assert_eq!(
        ids(&app.get("/api/v1/interactions", &manager).await).len(),
        2
    );
    assert_eq!(ids(&app.get("/api/v1/follow-ups", &manager).await).len(), 1);
}

on_both_backends!(
    sales_scope_assigned_limits_history_to_own_customers,
    last_contact_at_is_exact_after_create_edit_delete,
    nested_follow_up_is_created_with_the_interaction_or_neither,
    future_occurred_at_is_refused,
    a_contact_of_another_customer_is_refused,
    fields_are_bounded_and_named,
    tenant_wide_list_filters_pages_and_hides_deleted_customers,
    other_tenants_and_viewers,
    stale_if_match_is_412,
);
