//! Webhooks (issue 14), as a client and a receiver see them, on SQLite and PostgreSQL: the
//! subscription API (secret shown once, ETag / If-Match, merge patch, rotation, cursor pages,
//! closed bodies), a loopback receiver that gets a signed delivery and verifies it the way a
//! receiver would (`crm_domain::webhook::verify`), the delivery log and a manual retry of a
//! failing receiver, another tenant's events never delivered, and `webhooks.manage` (403 for
//! a viewer and a manager).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use crm_blackbox_tests::{DbBackend, TestApp, on_both_backends};
use crm_domain::webhook::{WebhookSecret, verify};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// A server that accepts loopback targets and runs deliveries every 100 ms.
async fn spawn(backend: DbBackend) -> Option<TestApp> {
    TestApp::spawn_with(backend, |c| {
        c.webhooks_allow_private = true;
        c.webhooks_delivery_interval = Duration::from_millis(100);
    })
    .await
}

/// A request the receiver got: headers (lower-case names) and the raw body.
#[derive(Debug)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A loopback HTTP receiver answering `status` (changeable) to every POST.
struct Receiver {
    url: String,
    status: Arc<AtomicU16>,
    rx: mpsc::UnboundedReceiver<Received>,
}

impl Receiver {
    async fn start(status: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/crm", listener.local_addr().unwrap());
        let status = Arc::new(AtomicU16::new(status));
        let answer = status.clone();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let tx = tx.clone();
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    let head_end = loop {
                        let n = socket.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let headers: Vec<(String, String)> = head
                        .lines()
                        .skip(1)
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                        .collect();
                    let len: usize = headers
                        .iter()
                        .find(|(k, _)| k == "content-length")
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = buf[head_end + 4..].to_vec();
                    while body.len() < len {
                        let n = socket.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        body.extend_from_slice(&chunk[..n]);
                    }
                    let code = answer.load(Ordering::SeqCst);
                    let reply = format!(
                        "HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = socket.write_all(reply.as_bytes()).await;
                    let _ = tx.send(Received { headers, body });
                });
            }
        });
        Self { url, status, rx }
    }

    /// The next request within 15 s.
    async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(15), self.rx.recv())
            .await
            .expect("a delivery in time")
            .expect("the receiver runs")
    }

    /// Whether a request arrives within `wait`.
    async fn quiet_for(&mut self, wait: Duration) -> Option<Received> {
        tokio::time::timeout(wait, self.rx.recv())
            .await
            .ok()
            .flatten()
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

async fn subscribe(app: &TestApp, token: &str, url: &str, types: Value) -> Value {
    let r = app
        .post(
            "/api/v1/webhooks",
            token,
            json!({"url": url, "event_types": types, "description": "test receiver"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

/// A receiver gets a signed Standard Webhooks delivery and verifies it as a receiver would;
/// the delivery log shows it succeeded.
async fn a_receiver_verifies_a_signed_delivery(backend: DbBackend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let admin = app.token(tenant, "admin");
    let mut receiver = Receiver::start(204).await;
    let hook = subscribe(&app, &admin, &receiver.url, json!(["customer.*"])).await;
    let secret = WebhookSecret::parse(hook["secret"].as_str().unwrap()).unwrap();
    let c = customer(&app, &admin, "Maju Jaya").await;
    let got = receiver.next().await;
    let now = chrono::Utc::now().timestamp();
    verify(&secret, &got.headers, &got.body, now, 300).expect("the signature verifies");
    // A receiver refuses a body changed on the way, and a signature by another secret.
    let mut forged = got.body.clone();
    forged.push(b' ');
    assert!(verify(&secret, &got.headers, &forged, now, 300).is_err());
    let rotated = app
        .call(
            "POST",
            &format!(
                "/api/v1/webhooks/{}/rotate-secret",
                hook["id"].as_str().unwrap()
            ),
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let new_secret = WebhookSecret::parse(rotated.body["secret"].as_str().unwrap()).unwrap();
    assert_ne!(new_secret, secret);
    assert!(verify(&new_secret, &got.headers, &got.body, now, 300).is_err());
    let payload = got.json();
    assert_eq!(payload["type"], "customer.created");
    assert_eq!(payload["data"]["entity_id"], c.as_str());
    assert!(payload["timestamp"].is_string(), "{payload}");
    let message_id = got
        .headers
        .iter()
        .find(|(k, _)| k == "webhook-id")
        .map(|(_, v)| v.clone())
        .unwrap();
    // The delivery log: succeeded on the first attempt with the receiver's status.
    let path = format!(
        "/api/v1/webhooks/{}/deliveries",
        hook["id"].as_str().unwrap()
    );
    let mut log = Value::Null;
    for _ in 0..50 {
        log = app.get(&path, &admin).await.body;
        if log["data"][0]["status"] == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let d = &log["data"][0];
    assert_eq!(d["status"], "succeeded", "{log}");
    assert_eq!(d["attempts"], 1);
    assert_eq!(d["last_response_code"], 204);
    assert_eq!(d["event_id"], payload["data"]["id"]);
    assert!(d["last_latency_ms"].is_u64(), "{d}");
    assert_eq!(d["next_attempt_at"], Value::Null);
    assert_eq!(
        message_id,
        format!("msg_{}", d["id"].as_str().unwrap().replace('-', ""))
    );
}

/// A failing receiver: the delivery stays pending with the answer's code and a next attempt;
/// a manual retry makes it due now, and once the receiver answers 2xx it succeeds.
async fn a_failing_receiver_is_retried(backend: DbBackend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let admin = app.token(tenant, "admin");
    let mut receiver = Receiver::start(500).await;
    let hook = subscribe(&app, &admin, &receiver.url, json!(["customer.created"])).await;
    let id = hook["id"].as_str().unwrap();
    customer(&app, &admin, "Maju Jaya").await;
    let first = receiver.next().await;
    let path = format!("/api/v1/webhooks/{id}/deliveries");
    let mut d = Value::Null;
    for _ in 0..50 {
        d = app.get(&path, &admin).await.body["data"][0].clone();
        if d["attempts"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        (&d["status"], &d["attempts"], &d["last_response_code"]),
        (&json!("pending"), &json!(1), &json!(500)),
        "{d}"
    );
    assert!(d["next_attempt_at"].is_string(), "{d}");
    assert_eq!(d["last_error"], "HTTP 500");
    receiver.status.store(200, Ordering::SeqCst);
    let retry = app
        .call(
            "POST",
            &format!("{path}/{}/retry", d["id"].as_str().unwrap()),
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(retry.status, 200, "{}", retry.body);
    assert_eq!(retry.body["status"], "pending");
    let second = receiver.next().await;
    // Every attempt of one delivery carries the same message id.
    let id_of = |r: &Received| {
        r.headers
            .iter()
            .find(|(k, _)| k == "webhook-id")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(id_of(&first), id_of(&second));
    let mut status = Value::Null;
    for _ in 0..50 {
        status = app.get(&path, &admin).await.body["data"][0]["status"].clone();
        if status == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "succeeded");
    // Unknown delivery of this webhook: 404.
    app.call(
        "POST",
        &format!("{path}/{}/retry", uuid::Uuid::now_v7()),
        Some(&admin),
        None,
        &[],
    )
    .await
    .assert_problem(404);
}

/// An inactive subscription gets nothing; activated again, it receives what happens next.
async fn an_inactive_subscription_receives_nothing(backend: DbBackend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let admin = app.token(tenant, "admin");
    let mut receiver = Receiver::start(200).await;
    let hook = subscribe(&app, &admin, &receiver.url, json!(["customer.created"])).await;
    let path = format!("/api/v1/webhooks/{}", hook["id"].as_str().unwrap());
    let off = app
        .call(
            "PATCH",
            &path,
            Some(&admin),
            Some(json!({"active": false})),
            &[],
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.body);
    customer(&app, &admin, "Sepi").await;
    assert!(
        receiver
            .quiet_for(Duration::from_millis(1_000))
            .await
            .is_none(),
        "an inactive subscription got a delivery"
    );
    let on = app
        .call(
            "PATCH",
            &path,
            Some(&admin),
            Some(json!({"active": true})),
            &[],
        )
        .await;
    assert_eq!(on.status, 200, "{}", on.body);
    let c = customer(&app, &admin, "Ramai").await;
    let got = receiver.next().await.json();
    assert_eq!(got["data"]["entity_id"], c.as_str());
}

/// Another tenant's events never reach a subscription.
async fn another_tenants_events_never_reach_a_webhook(backend: DbBackend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let mine = app.tenant("Mine").await;
    let other = app.tenant("Other").await;
    let admin = app.token(mine, "admin");
    let stranger = app.token(other, "admin");
    let mut receiver = Receiver::start(200).await;
    subscribe(&app, &admin, &receiver.url, json!(["*"])).await;
    for i in 0..3 {
        customer(&app, &stranger, &format!("Their Shop {i}")).await;
    }
    let ours = customer(&app, &admin, "Our Shop").await;
    let mut seen = Vec::new();
    loop {
        let got = receiver.next().await.json();
        let entity = got["data"]["entity_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        seen.push(got);
        if entity == ours {
            break;
        }
    }
    while let Some(r) = receiver.quiet_for(Duration::from_millis(800)).await {
        seen.push(r.json());
    }
    for p in &seen {
        assert!(
            p["type"] != "customer.created" || p["data"]["entity_id"] == ours.as_str(),
            "another tenant's event was delivered: {p}"
        );
    }
    // Their subscriptions list does not show ours, and ours is 404 to them.
    let theirs = app.get("/api/v1/webhooks", &stranger).await;
    assert_eq!(theirs.body["data"], json!([]));
    let list = app.get("/api/v1/webhooks", &admin).await;
    let id = list.body["data"][0]["id"].as_str().unwrap().to_owned();
    app.get(&format!("/api/v1/webhooks/{id}"), &stranger)
        .await
        .assert_problem(404);
}

/// The subscription API: secret once, ETag and If-Match, merge patch, rotation, pages,
/// delete; hostile bodies are named 422s.
async fn the_subscription_api(backend: DbBackend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let admin = app.token(tenant, "admin");
    let created = app
        .post(
            "/api/v1/webhooks",
            &admin,
            json!({"url": "https://hooks.example.com/crm", "event_types": ["customer.*", "order.placed"]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/webhooks/{id}");
    assert_eq!(created.header("location"), Some(path.as_str()));
    assert!(
        created.body["secret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    assert_eq!(created.body["active"], true);
    assert_eq!(created.body["version"], 1);
    let got = app.get(&path, &admin).await;
    assert_eq!((got.status, got.header("etag")), (200, Some("\"1\"")));
    assert!(got.body.get("secret").is_none(), "the secret is shown once");
    let patch = |body: Value, etag: &'static str| {
        let app = &app;
        let admin = admin.clone();
        let path = path.clone();
        async move {
            app.call(
                "PATCH",
                &path,
                Some(&admin),
                Some(body),
                &[("If-Match", etag)],
            )
            .await
        }
    };
    let r = patch(json!({"active": false, "description": "paused"}), "\"1\"").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (
            &r.body["active"],
            &r.body["version"],
            &r.body["description"]
        ),
        (&json!(false), &json!(2), &json!("paused"))
    );
    assert_eq!(r.body["event_types"], json!(["customer.*", "order.placed"]));
    patch(json!({"active": true}), "\"1\"")
        .await
        .assert_problem(412);
    let r = patch(json!({"description": null}), "\"2\"").await;
    assert_eq!(
        (r.status, &r.body["description"]),
        (200, &Value::Null),
        "{}",
        r.body
    );
    for (body, field) in [
        (json!({"url": "ftp://example.com/"}), "url"),
        (json!({"url": null}), "url"),
        (json!({"event_types": []}), "event_types"),
        (json!({"event_types": ["Bad"]}), "event_types[0]"),
        (json!({"secret": "whsec_x"}), "secret"),
        (json!({"active": "yes"}), "active"),
        (json!({"description": "x".repeat(501)}), "description"),
    ] {
        let r = patch(body.clone(), "\"3\"").await;
        r.assert_problem(422);
        assert_eq!(r.error_field(), Some(field), "{body}: {}", r.body);
    }
    for (body, field) in [
        (json!({"event_types": ["*"]}), "url"),
        (json!({"url": "https://example.com/"}), "event_types"),
        (
            json!({"url": "https://u:p@example.com/", "event_types": ["*"]}),
            "url",
        ),
        (
            json!({"url": "https://example.com/", "event_types": ["*"], "extra": 1}),
            "extra",
        ),
    ] {
        let r = app.post("/api/v1/webhooks", &admin, body.clone()).await;
        r.assert_problem(422);
        assert_eq!(r.error_field(), Some(field), "{body}: {}", r.body);
    }
    app.call(
        "PATCH",
        &path,
        Some(&admin),
        Some(json!({})),
        &[("If-Match", "3")],
    )
    .await
    .assert_problem(400);
    // Pages: three more, two per page, oldest first, nothing skipped or repeated.
    let mut made = vec![id.clone()];
    for i in 0..3 {
        let b = app
            .post(
                "/api/v1/webhooks",
                &admin,
                json!({"url": format!("https://hooks{i}.example.com/"), "event_types": ["*"]}),
            )
            .await;
        made.push(b.body["id"].as_str().unwrap().to_owned());
    }
    let mut listed = Vec::new();
    let mut url = "/api/v1/webhooks?limit=2".to_owned();
    loop {
        let page = app.get(&url, &admin).await;
        assert_eq!(page.status, 200, "{}", page.body);
        for w in page.body["data"].as_array().unwrap() {
            assert!(w.get("secret").is_none());
            listed.push(w["id"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => url = format!("/api/v1/webhooks?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(listed, made);
    app.get("/api/v1/webhooks?cursor=forged", &admin)
        .await
        .assert_problem(400);
    // Delete with a stale version is 412; then 204 and gone.
    app.call(
        "DELETE",
        &path,
        Some(&admin),
        None,
        &[("If-Match", "\"1\"")],
    )
    .await
    .assert_problem(412);
    let gone = app
        .call(
            "DELETE",
            &path,
            Some(&admin),
            None,
            &[("If-Match", "\"3\"")],
        )
        .await;
    assert_eq!(gone.status, 204, "{}", gone.body);
    app.get(&path, &admin).await.assert_problem(404);
}

/// `webhooks.manage` is the admins': a viewer and a manager get 403 everywhere.
async fn only_webhooks_manage_reaches_webhooks(backend: DbBackend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let admin = app.token(tenant, "admin");
    let hook = subscribe(&app, &admin, "https://hooks.example.com/", json!(["*"])).await;
    let path = format!("/api/v1/webhooks/{}", hook["id"].as_str().unwrap());
    for role in ["viewer", "manager"] {
        let token = app.token(tenant, role);
        app.get("/api/v1/webhooks", &token)
            .await
            .assert_problem(403);
        app.post(
            "/api/v1/webhooks",
            &token,
            json!({"url": "https://x.example.com/", "event_types": ["*"]}),
        )
        .await
        .assert_problem(403);
        // Checked before the body: a malformed body is still a 403.
        app.post("/api/v1/webhooks", &token, json!({"bogus": 1}))
            .await
            .assert_problem(403);
        app.get(&path, &token).await.assert_problem(403);
        app.call(
            "PATCH",
            &path,
            Some(&token),
            Some(json!({"active": false})),
            &[],
        )
        .await
        .assert_problem(403);
        app.call("DELETE", &path, Some(&token), None, &[])
            .await
            .assert_problem(403);
        app.call(
            "POST",
            &format!("{path}/rotate-secret"),
            Some(&token),
            None,
            &[],
        )
        .await
        .assert_problem(403);
        app.get(&format!("{path}/deliveries"), &token)
            .await
            .assert_problem(403);
    }
}

on_both_backends!(
    a_receiver_verifies_a_signed_delivery,
    a_failing_receiver_is_retried,
    an_inactive_subscription_receives_nothing,
    another_tenants_events_never_reach_a_webhook,
    the_subscription_api,
    only_webhooks_manage_reaches_webhooks,
);
