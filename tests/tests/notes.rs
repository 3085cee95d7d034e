//! Notes and complaints (issue 13), as a client sees them, on SQLite and PostgreSQL: an edit
//! keeps the old body in the note's history, only the author (or `customers.manage`) edits,
//! complaint states and the tenant-wide open-complaints list, pinned first, cursor pages, the
//! 64 KiB body limit, soft deletion of the customer, tenant isolation, and the viewer's 403.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crm_blackbox_tests::{DbBackend, Reply, TestApp, on_both_backends};
use serde_json::{Value, json};

async fn customer(app: &TestApp, token: &str, name: &str) -> String {
    let r = app
        .post(
            "/api/v1/customers",
            token,
            json!({"name": name,
                   "email": format!("{}@example.co.id", name.to_lowercase().replace(' ', "."))}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

fn notes_path(customer: &str) -> String {
    format!("/api/v1/customers/{customer}/notes")
}

fn note_path(note: &Value) -> String {
    format!("/api/v1/notes/{}", note["id"].as_str().unwrap())
}

async fn add(app: &TestApp, token: &str, customer: &str, body: Value) -> Reply {
    app.post(&notes_path(customer), token, body).await
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

async fn delete(app: &TestApp, token: &str, path: &str) -> Reply {
    app.call("DELETE", path, Some(token), None, &[]).await
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every id of a paged list, following `next_cursor` (`path` already has a `?`).
async fn walk(app: &TestApp, token: &str, path: &str, limit: u32) -> Vec<String> {
    let mut all = Vec::new();
    let mut url = format!("{path}&limit={limit}");
    for _ in 0..100 {
        let r = app.get(&url, token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let page = ids(&r.body);
        assert!(page.len() <= limit as usize);
        all.extend(page);
        match r.body["next_cursor"].as_str() {
            Some(c) => url = format!("{path}&limit={limit}&cursor={c}"),
            None => return all,
        }
    }
    panic!("more than 100 pages");
}

/// An edit of the body keeps the old body: `/notes/{id}/history` shows old and new in full,
/// with the time and the actor; `edited_at` is set; a stale `If-Match` is 412.
async fn a_note_edit_shows_old_and_new_body_in_history(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let ana = app.token_for(tenant, "ana", &["sales"], &[]);
    let c = customer(&app, &ana, "Maju Jaya").await;
    let old_body = format!("# Call\n\nWill pay **Friday**.\n{}", "x".repeat(3000));
    let n = added(&app, &ana, &c, json!({"body": old_body})).await;
    assert_eq!(n["author"], "ana");
    assert_eq!(n["category"], "general");
    assert_eq!(n["edited_at"], Value::Null);
    assert_eq!(n["version"], 1);
    let path = note_path(&n);
    let r = app.get(&path, &ana).await;
    assert_eq!((r.status, r.header("etag")), (200, Some("\"1\"")));
    assert_eq!(r.body["body"], old_body.as_str());

    let r = app.get(&format!("{path}/history"), &ana).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"], json!([]), "no revision before an edit");

    patch(&app, &ana, &path, json!({"body": "stale"}), Some("\"9\""))
        .await
        .assert_problem(412);
    let r = patch(
        &app,
        &ana,
        &path,
        json!({"body": "Paid on Friday."}),
        Some("\"1\""),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("etag"), Some("\"2\""));
    assert_eq!(r.body["body"], "Paid on Friday.");
    assert!(r.body["edited_at"].is_string());
    assert_eq!(r.body["author"], "ana");

    let r = patch(&app, &ana, &path, json!({"pinned": true}), None).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let r = app.get(&format!("{path}/history"), &ana).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let revisions = r.body["data"].as_array().unwrap();
    assert_eq!(revisions.len(), 2, "{}", r.body);
    assert_eq!(revisions[0]["changes"], json!({"pinned": [false, true]}));
    let edit = &revisions[1];
    assert_eq!(
        edit["changes"]["body"],
        json!([old_body, "Paid on Friday."])
    );
    assert_eq!(edit["actor"]["sub"], "ana");
    assert_eq!(edit["actor"]["role"], "sales");
    assert!(edit["at"].is_string());
    assert_eq!(r.body["next_cursor"], Value::Null);

    // One revision per page, newest first, then the end.
    let r = app.get(&format!("{path}/history?limit=1"), &ana).await;
    assert_eq!(r.body["data"][0]["event_id"], revisions[0]["event_id"]);
    let cursor = r.body["next_cursor"].as_str().unwrap().to_owned();
    let r = app
        .get(&format!("{path}/history?limit=1&cursor={cursor}"), &ana)
        .await;
    assert_eq!(r.body["data"][0]["event_id"], edit["event_id"]);
}

/// Only the author or a caller with `customers.manage` edits or deletes a note: another
/// salesperson and a manager get 403, an admin may.
async fn only_the_author_or_customers_manage_edits_a_note(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let ana = app.token_for(tenant, "ana", &["sales"], &[]);
    let budi = app.token_for(tenant, "budi", &["sales"], &[]);
    let manager = app.token(tenant, "manager");
    let admin = app.token(tenant, "admin");
    let c = customer(&app, &ana, "Maju Jaya").await;
    let n = added(&app, &ana, &c, json!({"body": "Ana's note"})).await;
    let path = note_path(&n);
    for other in [&budi, &manager] {
        patch(&app, other, &path, json!({"body": "hijacked"}), None)
            .await
            .assert_problem(403);
        delete(&app, other, &path).await.assert_problem(403);
    }
    assert_eq!(app.get(&path, &ana).await.body["body"], "Ana's note");
    let r = patch(&app, &admin, &path, json!({"body": "Fixed by admin"}), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["author"], "ana", "the author stays");
    assert_eq!(r.body["updated_by"], "admin-user");
    let r = patch(&app, &ana, &path, json!({"body": "Ana again"}), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = delete(&app, &ana, &path).await;
    assert_eq!(r.status, 204, "{}", r.body);
    app.get(&path, &ana).await.assert_problem(404);
}

/// A complaint starts open, moves through in_progress and resolved (`resolved_at` set, then
/// cleared when reopened); a resolution on another category is a 422 naming it; the
/// tenant-wide list of open complaints holds exactly the open complaints of every customer.
async fn complaint_states_and_the_open_complaints_list(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let a = customer(&app, &token, "Maju Jaya").await;
    let b = customer(&app, &token, "Sinar Abadi").await;

    let r = add(&app, &token, &a, json!({"body": "x", "resolution": "open"})).await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("resolution"));
    let r = add(&app, &token, &a, json!({"body": "x", "category": "rant"})).await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("category"));

    let late = added(
        &app,
        &token,
        &a,
        json!({"body": "Late delivery", "category": "complaint"}),
    )
    .await;
    assert_eq!(late["resolution"], "open");
    assert_eq!(late["resolved_at"], Value::Null);
    let broken = added(
        &app,
        &token,
        &b,
        json!({"body": "Broken seal", "category": "complaint"}),
    )
    .await;
    let done = added(
        &app,
        &token,
        &b,
        json!({"body": "Wrong size", "category": "complaint", "resolution": "resolved"}),
    )
    .await;
    assert!(done["resolved_at"].is_string());
    added(
        &app,
        &token,
        &a,
        json!({"body": "Nice people", "category": "feedback"}),
    )
    .await;

    let open = "/api/v1/notes?category=complaint&resolution=open";
    let r = app.get(open, &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        ids(&r.body),
        ids(&json!({"data": [broken, late]})),
        "newest first"
    );

    let path = note_path(&late);
    let r = patch(
        &app,
        &token,
        &path,
        json!({"resolution": "in_progress"}),
        None,
    )
    .await;
    assert_eq!(
        (r.body["resolution"].as_str(), &r.body["resolved_at"]),
        (Some("in_progress"), &Value::Null)
    );
    let r = patch(&app, &token, &path, json!({"resolution": "resolved"}), None).await;
    assert_eq!(r.body["resolution"], "resolved");
    assert!(r.body["resolved_at"].is_string(), "{}", r.body);
    assert_eq!(
        ids(&app.get(open, &token).await.body),
        vec![broken["id"].as_str().unwrap().to_owned()]
    );
    let r = patch(&app, &token, &path, json!({"resolution": "open"}), None).await;
    assert_eq!(
        (r.body["resolution"].as_str(), &r.body["resolved_at"]),
        (Some("open"), &Value::Null)
    );
    assert_eq!(ids(&app.get(open, &token).await.body).len(), 2);

    // Leaving `complaint` drops the resolution; a resolution on it afterwards is a 422.
    let r = patch(&app, &token, &path, json!({"category": "feedback"}), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["resolution"], Value::Null);
    let r = patch(&app, &token, &path, json!({"resolution": "open"}), None).await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("resolution"));

    let r = app.get("/api/v1/notes?category=complaint", &token).await;
    assert_eq!(ids(&r.body).len(), 2, "{}", r.body);
    let r = app
        .get(
            &format!("/api/v1/notes?customer_id={b}&resolution=resolved"),
            &token,
        )
        .await;
    assert_eq!(ids(&r.body), vec![done["id"].as_str().unwrap().to_owned()]);
    app.get("/api/v1/notes?resolution=closed", &token)
        .await
        .assert_problem(400);
    app.get("/api/v1/notes?colour=red", &token)
        .await
        .assert_problem(400);
}

/// A customer's notes come pinned first, then newest; pinning an old note moves it up.
async fn pinned_notes_come_first(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Maju Jaya").await;
    let mut made = Vec::new();
    for (i, pinned) in [false, true, false, true].into_iter().enumerate() {
        let n = added(
            &app,
            &token,
            &c,
            json!({"body": format!("note {i}"), "pinned": pinned}),
        )
        .await;
        made.push(n["id"].as_str().unwrap().to_owned());
    }
    let r = app.get(&notes_path(&c), &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let order = |ix: &[usize]| ix.iter().map(|&i| made[i].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&r.body), order(&[3, 1, 2, 0]));
    let path = format!("/api/v1/notes/{}", made[0]);
    assert_eq!(
        patch(&app, &token, &path, json!({"pinned": true}), None)
            .await
            .status,
        200
    );
    let r = app.get(&notes_path(&c), &token).await;
    assert_eq!(ids(&r.body), order(&[3, 1, 0, 2]));
}

/// Paging the customer's list (across the pinned/unpinned boundary) and the tenant-wide list
/// returns every note once, in the order of one big page; a forged cursor is a 400.
async fn cursor_pages_skip_and_repeat_nothing(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Maju Jaya").await;
    let d = customer(&app, &token, "Sinar Abadi").await;
    for i in 0..9 {
        added(
            &app,
            &token,
            &c,
            json!({"body": format!("c {i}"), "pinned": i % 3 == 0}),
        )
        .await;
        added(&app, &token, &d, json!({"body": format!("d {i}")})).await;
    }
    let customer_list = format!("{}?", notes_path(&c));
    let whole = walk(&app, &token, &customer_list, 200).await;
    assert_eq!(whole.len(), 9);
    for limit in [1, 2, 4] {
        assert_eq!(
            walk(&app, &token, &customer_list, limit).await,
            whole,
            "limit {limit}"
        );
    }
    let tenant_list = "/api/v1/notes?";
    let everything = walk(&app, &token, tenant_list, 200).await;
    assert_eq!(everything.len(), 18);
    let mut unique = everything.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 18);
    assert_eq!(walk(&app, &token, tenant_list, 5).await, everything);

    // A cursor of one list is refused by the other, and an edited one everywhere.
    let r = app.get(&format!("{customer_list}limit=2"), &token).await;
    let cursor = r.body["next_cursor"].as_str().unwrap().to_owned();
    app.get(&format!("/api/v1/notes?cursor={cursor}"), &token)
        .await
        .assert_problem(400);
    app.get(&format!("{customer_list}cursor=x{cursor}"), &token)
        .await
        .assert_problem(400);
    app.get(&format!("{customer_list}limit=201"), &token)
        .await
        .assert_problem(400);
}

/// A body over 64 KiB (65,536 bytes of UTF-8) is a 422 naming `body`; exactly 64 KiB is
/// stored; a blank body, and fields the server sets, are refused.
async fn a_body_over_64_kib_is_422(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Maju Jaya").await;
    let r = add(&app, &token, &c, json!({"body": "a".repeat(65_537)})).await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("body"));
    assert_eq!(r.body["errors"][0]["code"], "too_long");
    let r = add(&app, &token, &c, json!({"body": "é".repeat(32_769)})).await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("body"));
    let n = added(&app, &token, &c, json!({"body": "a".repeat(65_536)})).await;
    assert_eq!(n["body"].as_str().unwrap().len(), 65_536);
    let r = patch(
        &app,
        &token,
        &note_path(&n),
        json!({"body": "b".repeat(65_537)}),
        None,
    )
    .await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("body"));
    for bad in [
        json!({"body": "  \n "}),
        json!({}),
        json!({"body": "a\u{0}b"}),
    ] {
        let r = add(&app, &token, &c, bad).await;
        r.assert_problem(422);
        assert_eq!(r.error_field(), Some("body"));
    }
    let r = add(
        &app,
        &token,
        &c,
        json!({"body": "x", "author": "someone-else"}),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.error_field(), Some("author"));
}

/// A soft-deleted customer's notes are 404 and out of every list with it; they return on
/// restore.
async fn notes_follow_the_customer_through_delete_and_restore(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "admin");
    let c = customer(&app, &token, "Maju Jaya").await;
    let n = added(
        &app,
        &token,
        &c,
        json!({"body": "Late", "category": "complaint"}),
    )
    .await;
    let r = delete(&app, &token, &format!("/api/v1/customers/{c}")).await;
    assert_eq!(r.status, 204, "{}", r.body);
    app.get(&note_path(&n), &token).await.assert_problem(404);
    app.get(&format!("{}/history", note_path(&n)), &token)
        .await
        .assert_problem(404);
    app.get(&notes_path(&c), &token).await.assert_problem(404);
    patch(&app, &token, &note_path(&n), json!({"body": "x"}), None)
        .await
        .assert_problem(404);
    add(&app, &token, &c, json!({"body": "x"}))
        .await
        .assert_problem(404);
    let r = app.get("/api/v1/notes?category=complaint", &token).await;
    assert_eq!(r.body["data"], json!([]));
    let r = app
        .post(&format!("/api/v1/customers/{c}/restore"), &token, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(app.get(&note_path(&n), &token).await.status, 200);
    let r = app.get("/api/v1/notes?category=complaint", &token).await;
    assert_eq!(ids(&r.body), vec![n["id"].as_str().unwrap().to_owned()]);
}

/// Another tenant's notes are 404 on every path and never in a list.
async fn other_tenants_notes_are_invisible(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let one = app.token(app.tenant("Toko").await, "admin");
    let two = app.token(app.tenant("Lain").await, "admin");
    let c = customer(&app, &one, "Maju Jaya").await;
    let n = added(
        &app,
        &one,
        &c,
        json!({"body": "Secret", "category": "complaint"}),
    )
    .await;
    let path = note_path(&n);
    app.get(&path, &two).await.assert_problem(404);
    app.get(&format!("{path}/history"), &two)
        .await
        .assert_problem(404);
    patch(&app, &two, &path, json!({"body": "x"}), None)
        .await
        .assert_problem(404);
    delete(&app, &two, &path).await.assert_problem(404);
    app.get(&notes_path(&c), &two).await.assert_problem(404);
    add(&app, &two, &c, json!({"body": "x"}))
        .await
        .assert_problem(404);
    for list in [
        "/api/v1/notes".to_owned(),
        "/api/v1/notes?category=complaint&resolution=open".to_owned(),
        format!("/api/v1/notes?customer_id={c}"),
    ] {
        let r = app.get(&list, &two).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["data"], json!([]), "{list}");
    }
    assert_eq!(app.get(&path, &one).await.body["body"], "Secret");
}

/// A viewer reads notes but every write is a 403 (checked before the body is read).
async fn a_viewer_reads_but_cannot_write(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let sales = app.token(tenant, "sales");
    let viewer = app.token(tenant, "viewer");
    let c = customer(&app, &sales, "Maju Jaya").await;
    let n = added(&app, &sales, &c, json!({"body": "Hello"})).await;
    let path = note_path(&n);
    add(&app, &viewer, &c, json!({"body": "x"}))
        .await
        .assert_problem(403);
    patch(&app, &viewer, &path, json!({"body": "x"}), None)
        .await
        .assert_problem(403);
    delete(&app, &viewer, &path).await.assert_problem(403);
    assert_eq!(app.get(&path, &viewer).await.status, 200);
    assert_eq!(app.get(&notes_path(&c), &viewer).await.status, 200);
    assert_eq!(
        app.get(&format!("{path}/history"), &viewer).await.status,
        200
    );
    assert_eq!(app.get(&path, &sales).await.body["version"], 1);
}

on_both_backends!(
    a_note_edit_shows_old_and_new_body_in_history,
    only_the_author_or_customers_manage_edits_a_note,
    complaint_states_and_the_open_complaints_list,
    pinned_notes_come_first,
    cursor_pages_skip_and_repeat_nothing,
    a_body_over_64_kib_is_422,
    notes_follow_the_customer_through_delete_and_restore,
    other_tenants_notes_are_invisible,
    a_viewer_reads_but_cannot_write,
);
