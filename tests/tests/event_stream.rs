//! The live event stream and its polling twin (issue 14), as a client sees them, on SQLite
//! and PostgreSQL: creates, updates and orders arrive in order (filtered by type and
//! customer); a client that reconnects with
//! `Last-Event-ID` loses nothing and sees nothing twice; another tenant's events never reach
//! a stream; `customers.view` is checked before streaming (403); hostile parameters are named;
//! the per-tenant stream limit answers 429 and frees its place when a client goes away.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crm_blackbox_tests::{DbBackend, TestApp, on_both_backends};
use serde_json::{Value, json};

/// How long a test waits for an expected message.
const WAIT: Duration = Duration::from_secs(15);

/// A server whose streams poll every 50 ms and send heartbeats every 200 ms.
async fn spawn(backend: DbBackend, max_streams: usize) -> Option<TestApp> {
    TestApp::spawn_with(backend, |c| {
        c.event_stream_poll_interval = Duration::from_millis(50);
        c.event_stream_heartbeat = Duration::from_millis(200);
        c.event_stream_max_per_tenant = max_streams;
    })
    .await
}

/// One SSE message.
#[derive(Debug, Clone)]
struct Message {
    id: i64,
    event: String,
    data: Value,
}

/// An open stream, read message by message.
struct Sse {
    res: reqwest::Response,
    buf: String,
    comments: Vec<String>,
}

/// Opens `/api/v1/events/stream{query}`; the status and the stream (when 200).
async fn open(
    app: &TestApp,
    token: &str,
    query: &str,
    last_event_id: Option<i64>,
) -> (u16, Option<Sse>, Value) {
    open_at(&app.base, token, query, last_event_id).await
}

/// As [`open`], on the server at `base`.
async fn open_at(
    base: &str,
    token: &str,
    query: &str,
    last_event_id: Option<i64>,
) -> (u16, Option<Sse>, Value) {
    // No overall timeout: reads are bounded one by one.
    let client = reqwest::Client::new();
    let mut req = client
        .get(format!("{base}/api/v1/events/stream{query}"))
        .bearer_auth(token);
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id.to_string());
    }
    let res = tokio::time::timeout(WAIT, req.send())
        .await
        .expect("the stream's head in time")
        .expect("request sent");
    let status = res.status().as_u16();
    if status != 200 {
        let body = res.json::<Value>().await.unwrap_or(Value::Null);
        return (status, None, body);
    }
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    (
        status,
        Some(Sse {
            res,
            buf: String::new(),
            comments: Vec::new(),
        }),
        Value::Null,
    )
}

impl Sse {
    /// The next event message within `wait` (comments are kept aside), or `None`.
    async fn next(&mut self, wait: Duration) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf[..end].to_owned();
                self.buf.drain(..end + 2);
                let mut id = None;
                let mut event = None;
                let mut data = None;
                for line in block.lines() {
                    if let Some(c) = line.strip_prefix(':') {
                        self.comments.push(c.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.parse::<i64>().unwrap());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        event = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str::<Value>(v).unwrap());
                    }
                }
                if let (Some(id), Some(event), Some(data)) = (id, event, data) {
                    return Some(Message { id, event, data });
                }
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.res.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    /// Exactly `n` messages (each within [`WAIT`]).
    async fn take(&mut self, n: usize) -> Vec<Message> {
        let mut out = Vec::new();
        for i in 0..n {
            let m = self
                .next(WAIT)
                .await
                .unwrap_or_else(|| panic!("message {i} of {n} did not arrive: {out:?}"));
            out.push(m);
        }
        out
    }
}

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

async fn rename(app: &TestApp, token: &str, id: &str, name: &str) {
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/customers/{id}"),
            Some(token),
            Some(json!({"display_name": name})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Creates and updates arrive in commit order, each with its id, type and the timeline JSON.
async fn the_stream_receives_creates_and_updates_in_order(backend: DbBackend) {
    let Some(app) = spawn(backend, 20).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let admin = app.token(tenant, "admin");
    let (status, sse, body) = open(&app, &admin, "?types=customer.*", None).await;
    assert_eq!(status, 200, "{body}");
    let mut sse = sse.unwrap();
    let a = customer(&app, &admin, "Maju Jaya").await;
    rename(&app, &admin, &a, "Maju").await;
    let b = customer(&app, &admin, "Sinar Terang").await;
    let got = sse.take(3).await;
    let seen: Vec<(&str, &str)> = got
        .iter()
        .map(|m| {
            (
                m.event.as_str(),
                m.data["entity_id"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("customer.created", a.as_str()),
            ("customer.updated", a.as_str()),
            ("customer.created", b.as_str()),
        ]
    );
    assert!(got.windows(2).all(|w| w[0].id < w[1].id), "{got:?}");
    for m in &got {
        assert_eq!(m.data["id"], m.id);
        assert_eq!(m.data["type"], m.event.as_str());
        assert!(m.data["summary"].is_string(), "{}", m.data);
    }
    // The polling twin returns the same events from the start of the log.
    let page = app
        .get("/api/v1/events?types=customer.*&limit=200", &admin)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let polled: Vec<i64> = page.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    let streamed: Vec<i64> = got.iter().map(|m| m.id).collect();
    assert_eq!(polled, streamed);
    assert_eq!(page.body["next_after"], *streamed.last().unwrap());
    // A read after the last event is empty and keeps `after`.
    let after = streamed[2];
    let empty = app
        .get(&format!("/api/v1/events?after={after}"), &admin)
        .await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert_eq!(empty.body["data"], json!([]));
    assert_eq!(empty.body["next_after"], after);
    // Order events, filtered by type and customer: only B's order reaches this stream.
    let (_, orders, _) = open(
        &app,
        &admin,
        &format!("?types=order.placed&customer_id={b}"),
        None,
    )
    .await;
    let mut orders = orders.unwrap();
    for (c, order_ref) in [(&a, "POS-A"), (&b, "POS-B")] {
        let r = app
            .post(
                &format!("/api/v1/customers/{c}/orders"),
                &admin,
                json!({"order_ref": order_ref, "total_amount": "2500000"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let placed = orders.take(1).await.remove(0);
    assert_eq!(placed.event, "order.placed");
    assert_eq!(placed.data["customer_id"], b.as_str());
    assert!(orders.next(Duration::from_millis(600)).await.is_none());
}

/// A client that reconnects with `Last-Event-ID` receives every later event once: nothing
/// lost while it was away, nothing repeated.
async fn resume_with_last_event_id_loses_and_repeats_nothing(backend: DbBackend) {
    let Some(app) = spawn(backend, 20).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let admin = app.token(tenant, "admin");
    let (_, sse, _) = open(&app, &admin, "?types=customer.created", None).await;
    let mut sse = sse.unwrap();
    let mut made = Vec::new();
    for i in 0..3 {
        made.push(customer(&app, &admin, &format!("Toko Satu {i}")).await);
    }
    let first = sse.take(2).await;
    drop(sse);
    for i in 3..6 {
        made.push(customer(&app, &admin, &format!("Toko Satu {i}")).await);
    }
    let resume = first[1].id;
    let (status, sse, body) = open(&app, &admin, "?types=customer.created", Some(resume)).await;
    assert_eq!(status, 200, "{body}");
    let mut sse = sse.unwrap();
    let rest = sse.take(4).await;
    assert!(
        sse.next(Duration::from_millis(600)).await.is_none(),
        "nothing more"
    );
    let all: Vec<String> = first
        .iter()
        .chain(&rest)
        .map(|m| m.data["entity_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(all, made, "every customer once, in order");
    // `after` in the query resumes the same way.
    let (_, sse, _) = open(
        &app,
        &admin,
        &format!("?types=customer.created&after={resume}"),
        None,
    )
    .await;
    let again = sse.unwrap().take(4).await;
    let ids = |v: &[Message]| v.iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(ids(&again), ids(&rest));
}

/// A client resumes on a restarted server (a new process on the same database) with
/// `Last-Event-ID`: the events written while it was away arrive, once each.
async fn resume_on_a_restarted_server(backend: DbBackend) {
    let Some(app) = spawn(backend, 20).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let admin = app.token(tenant, "admin");
    let (_, sse, _) = open(&app, &admin, "?types=customer.created", None).await;
    let mut sse = sse.unwrap();
    let first = customer(&app, &admin, "Toko Awal").await;
    let seen = sse.take(1).await.remove(0);
    assert_eq!(seen.data["entity_id"], first.as_str());
    drop(sse);
    let mut later = Vec::new();
    for i in 0..3 {
        later.push(customer(&app, &admin, &format!("Toko Nanti {i}")).await);
    }
    let restarted = app
        .spawn_peer(|c| c.event_stream_poll_interval = Duration::from_millis(50))
        .await;
    let (status, sse, body) =
        open_at(&restarted, &admin, "?types=customer.created", Some(seen.id)).await;
    assert_eq!(status, 200, "{body}");
    let mut sse = sse.unwrap();
    let rest = sse.take(3).await;
    let got: Vec<&str> = rest
        .iter()
        .map(|m| m.data["entity_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, later.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(sse.next(Duration::from_millis(600)).await.is_none());
}

/// Another tenant's writes never reach a stream, and a resume id of another tenant is unknown.
async fn another_tenants_events_never_reach_a_stream(backend: DbBackend) {
    let Some(app) = spawn(backend, 20).await else {
        return;
    };
    let mine = app.tenant("Mine").await;
    let other = app.tenant("Other").await;
    let admin = app.token(mine, "admin");
    let stranger = app.token(other, "admin");
    let (_, sse, _) = open(&app, &admin, "", None).await;
    let mut sse = sse.unwrap();
    let theirs = customer(&app, &stranger, "Their Shop").await;
    let ours = customer(&app, &admin, "Our Shop").await;
    let m = sse.take(1).await.remove(0);
    assert_eq!(m.data["entity_id"], ours.as_str());
    assert!(sse.next(Duration::from_millis(600)).await.is_none());
    let _ = theirs;
    // Their event ids are not ours to resume from.
    let page = app.get("/api/v1/events", &stranger).await;
    let their_id = page.body["data"][0]["id"].as_i64().unwrap();
    let (status, _, body) = open(&app, &admin, "", Some(their_id)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "Last-Event-ID");
    let polled = app
        .get(&format!("/api/v1/events?after={their_id}"), &admin)
        .await;
    polled.assert_problem(422);
    assert_eq!(polled.error_field(), Some("after"));
}

/// `customers.view` is checked before anything is streamed; hostile parameters are named.
async fn permissions_and_hostile_parameters(backend: DbBackend) {
    let Some(app) = spawn(backend, 20).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let nobody = app.token_for(tenant, "nobody", &[], &[]);
    let viewer = app.token(tenant, "viewer");
    let (status, _, body) = open(&app, &nobody, "", None).await;
    assert_eq!(status, 403, "{body}");
    app.get("/api/v1/events", &nobody).await.assert_problem(403);
    let (status, sse, _) = open(&app, &viewer, "", None).await;
    assert_eq!(status, 200);
    drop(sse);
    for (query, code, field) in [
        ("?types=Customer.*", 422, "types[0]"),
        ("?types=a.b.c", 422, "types[0]"),
        ("?customer_id=nope", 400, "customer_id"),
        ("?after=-1", 400, "after"),
        ("?after=abc", 400, "after"),
        ("?limit=5", 400, "limit"),
        ("?bogus=1", 400, "bogus"),
    ] {
        let (status, _, body) = open(&app, &viewer, query, None).await;
        assert_eq!(status, code, "{query}: {body}");
        assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
    }
    let long = format!("?types={}", "a,".repeat(5_000));
    let (status, _, body) = open(&app, &viewer, &long, None).await;
    assert_eq!(
        (status, &body["errors"][0]["field"]),
        (400, &json!("types"))
    );
    let many: Vec<String> = (0..51).map(|i| format!("t{}", "x".repeat(i))).collect();
    let (status, _, body) = open(&app, &viewer, &format!("?types={}", many.join(",")), None).await;
    assert_eq!(
        (status, &body["errors"][0]["code"]),
        (422, &json!("too_many"))
    );
    let r = app
        .call(
            "GET",
            "/api/v1/events/stream",
            Some(&viewer),
            None,
            &[("Last-Event-ID", "x1")],
        )
        .await;
    r.assert_problem(400);
    assert_eq!(r.error_field(), Some("Last-Event-ID"));
    for query in ["?limit=0", "?limit=201", "?after=0", "?types=*.x"] {
        let r = app.get(&format!("/api/v1/events{query}"), &viewer).await;
        assert!(r.status == 400 || r.status == 422, "{query}: {}", r.body);
        assert!(r.error_field().is_some(), "{query}: {}", r.body);
    }
}

/// At most N streams per tenant: 429 beyond; a closed stream gives its place back.
async fn streams_per_tenant_are_limited(backend: DbBackend) {
    let Some(app) = spawn(backend, 1).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let other = app.tenant("Other").await;
    let admin = app.token(tenant, "admin");
    let (status, first, _) = open(&app, &admin, "", None).await;
    assert_eq!(status, 200);
    let (status, _, body) = open(&app, &admin, "", None).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["type"], "/problems/too-many-streams");
    assert_eq!(body["limit"], 1);
    // Another tenant's count is its own.
    let (status, _, _) = open(&app, &app.token(other, "admin"), "", None).await;
    assert_eq!(status, 200);
    // Heartbeats keep coming on an idle stream.
    let mut first = first.unwrap();
    assert!(first.next(Duration::from_millis(700)).await.is_none());
    assert!(
        first.comments.iter().any(|c| c == "keep-alive"),
        "{:?}",
        first.comments
    );
    drop(first);
    // The server notices the closed connection at its next write (a heartbeat).
    let mut status = 0;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = open(&app, &admin, "", None).await.0;
        if status == 200 {
            break;
        }
    }
    assert_eq!(status, 200, "the slot was given back");
}

/// A follow-up whose due time has passed reaches an open stream as `follow_up.due`, once,
/// from the server's own reminder run (`CRM_REMINDER_INTERVAL_SECS`).
async fn a_due_follow_up_reaches_the_stream_once(backend: DbBackend) {
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.event_stream_poll_interval = Duration::from_millis(50);
        c.event_stream_heartbeat = Duration::from_millis(200);
        c.reminder_interval_secs = 1;
    })
    .await
    else {
        return;
    };
    let token = app.token(app.tenant("Remind").await, "admin");
    let (status, sse, body) = open(&app, &token, "?types=follow_up.due", None).await;
    assert_eq!(status, 200, "{body}");
    let mut sse = sse.unwrap();
    let c = customer(&app, &token, "Due Soon").await;
    let due_at = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let r = app
        .post(
            &format!("/api/v1/customers/{c}/follow-ups"),
            &token,
            json!({"title": "Call back", "due_at": due_at}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let m = sse.next(WAIT).await.expect("follow_up.due on the stream");
    assert_eq!(m.event, "follow_up.due");
    assert_eq!(m.data["customer_id"], c.as_str());
    assert_eq!(m.data["actor"]["sub"], "system");
    assert_eq!(m.data["data"]["title"], "Call back");
    assert!(
        sse.next(Duration::from_secs(3)).await.is_none(),
        "the reminder fires once"
    );
}

on_both_backends!(
    a_due_follow_up_reaches_the_stream_once,
    the_stream_receives_creates_and_updates_in_order,
    resume_with_last_event_id_loses_and_repeats_nothing,
    resume_on_a_restarted_server,
    another_tenants_events_never_reach_a_stream,
    permissions_and_hostile_parameters,
    streams_per_tenant_are_limited,
);
