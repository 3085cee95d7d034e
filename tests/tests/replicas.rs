//! Several replicas on one PostgreSQL (issue 14; `make fault`, so `#[ignore]`d by `make test`):
//! three real `crm-server` processes share a database of the fault suite's own cluster (no other
//! test's transactions in it, so the feed's wait for earlier transactions stays short).
//!
//! - Writes spread over the replicas, one stream client per replica: every client receives
//!   every event exactly once, and all in the same order.
//! - 1,000 events to one webhook receiver, the replicas' delivery loops claiming at once: each
//!   event delivered once (one `webhook-id` each), every signature verifying.
//! - A stream client resumes with `Last-Event-ID` after the server is killed and restarted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crm_blackbox_tests::fault::{ScratchPostgres, ServerProcess, create_database, token};
use crm_domain::webhook::{WebhookSecret, verify};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Settings of every replica: quick polls, private webhook targets (the loopback receiver).
const SETTINGS: &[(&str, &str)] = &[
    ("CRM_EVENT_STREAM_POLL_INTERVAL", "100ms"),
    ("CRM_WEBHOOKS_DELIVERY_INTERVAL", "200ms"),
    ("CRM_WEBHOOKS_ALLOW_PRIVATE", "true"),
];

async fn replicas(pg: &ScratchPostgres, db: &str, n: usize) -> Vec<ServerProcess> {
    create_database(&pg.url("postgres"), db).await;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(ServerProcess::start(&pg.url(db), SETTINGS).await);
    }
    out
}

/// Creates `n` customers, spread round-robin over `bases`, 16 at a time; their ids.
async fn create_spread(bases: &[String], token: &str, n: usize) -> Vec<String> {
    let http = reqwest::Client::new();
    let ids = Arc::new(Mutex::new(Vec::new()));
    let next = Arc::new(Mutex::new(0usize));
    let mut workers = Vec::new();
    for _ in 0..16 {
        let (http, ids, next, bases, token) = (
            http.clone(),
            ids.clone(),
            next.clone(),
            bases.to_vec(),
            token.to_owned(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let i = {
                    let mut k = next.lock().unwrap();
                    if *k >= n {
                        return;
                    }
                    *k += 1;
                    *k - 1
                };
                let base = &bases[i % bases.len()];
                let res = http
                    .post(format!("{base}/api/v1/customers"))
                    .bearer_auth(&token)
                    .json(&json!({"name": format!("Replica {i}"), "email": format!("r{i}-{}@example.com", uuid::Uuid::now_v7().simple())}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 201);
                let body: Value = res.json().await.unwrap();
                ids.lock()
                    .unwrap()
                    .push(body["id"].as_str().unwrap().to_owned());
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    Arc::try_unwrap(ids).unwrap().into_inner().unwrap()
}

/// Reads `customer.created` messages from a stream until `n` came (or `limit` passed): the
/// event ids and the customers' ids, in arrival order.
async fn read_stream(mut res: reqwest::Response, n: usize, limit: Duration) -> Vec<(i64, String)> {
    let deadline = Instant::now() + limit;
    let mut buf = String::new();
    let mut out = Vec::new();
    while out.len() < n && Instant::now() < deadline {
        let Ok(chunk) = tokio::time::timeout(Duration::from_secs(5), res.chunk()).await else {
            continue;
        };
        let Some(bytes) = chunk.unwrap() else { break };
        buf.push_str(&String::from_utf8_lossy(&bytes));
        while let Some(end) = buf.find("\n\n") {
            let message: String = buf.drain(..end + 2).collect();
            let (mut id, mut data) = (None, None);
            for line in message.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.trim().parse::<i64>().ok();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = serde_json::from_str::<Value>(v).ok();
                }
            }
            if let (Some(id), Some(data)) = (id, data) {
                let customer = data["customer_id"].as_str().unwrap_or_default().to_owned();
                out.push((id, customer));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "replica suite: make fault"]
async fn every_stream_on_every_replica_sees_every_event_once_in_one_order() {
    let pg = ScratchPostgres::start();
    let servers = replicas(&pg, "replicas_stream", 3).await;
    let admin = token(servers[0].tenant("Replicas"), "admin");
    let http = reqwest::Client::new();
    let mut streams = Vec::new();
    for s in &servers {
        let res = http
            .get(format!(
                "{}/api/v1/events/stream?types=customer.created",
                s.base
            ))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        streams.push(tokio::spawn(read_stream(res, 120, Duration::from_secs(60))));
    }
    // Let every stream reach its start position before the writes begin.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let created: HashSet<String> = create_spread(&bases, &admin, 120)
        .await
        .into_iter()
        .collect();
    let mut orders = Vec::new();
    for (i, s) in streams.into_iter().enumerate() {
        let got = s.await.unwrap();
        let customers: Vec<&String> = got.iter().map(|(_, c)| c).collect();
        let distinct: HashSet<&String> = customers.iter().copied().collect();
        assert_eq!(got.len(), 120, "replica {i}'s stream: {} events", got.len());
        assert_eq!(distinct.len(), 120, "replica {i}: an event twice");
        assert_eq!(
            distinct,
            created.iter().collect::<HashSet<_>>(),
            "replica {i} saw exactly the created customers"
        );
        orders.push(got.iter().map(|(id, _)| *id).collect::<Vec<_>>());
    }
    assert!(
        orders.windows(2).all(|w| w[0] == w[1]),
        "every replica's stream hands out the same order"
    );
}

/// What the receiver got: `webhook-id` → (event id in the body, times received).
type Received = Arc<Mutex<HashMap<String, (i64, usize)>>>;

/// A minimal HTTP/1.1 receiver on loopback (keep-alive, `content-length` bodies) that checks
/// each delivery's signature the way a receiver would and answers 204.
async fn receiver(
    secret: Arc<Mutex<Option<WebhookSecret>>>,
) -> (String, Received, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got: Received = Arc::default();
    let bad = Arc::new(Mutex::new(0usize));
    let (g, b) = (got.clone(), bad.clone());
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let (got, bad, secret) = (g.clone(), b.clone(), secret.clone());
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut reader = BufReader::new(read);
                loop {
                    let mut headers = Vec::new();
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':') {
                            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                        }
                    }
                    let len: usize = headers
                        .iter()
                        .find(|(k, _)| k == "content-length")
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0u8; len];
                    if reader.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let now = chrono::Utc::now().timestamp();
                    let verified = secret
                        .lock()
                        .unwrap()
                        .as_ref()
                        .is_some_and(|s| verify(s, &headers, &body, now, 300).is_ok());
                    if verified {
                        let id = headers
                            .iter()
                            .find(|(k, _)| k == "webhook-id")
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default();
                        let event: i64 = serde_json::from_slice::<Value>(&body)
                            .ok()
                            .and_then(|v| v["data"]["id"].as_i64())
                            .unwrap_or(-1);
                        got.lock().unwrap().entry(id).or_insert((event, 0)).1 += 1;
                    } else {
                        *bad.lock().unwrap() += 1;
                    }
                    let answer = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n";
                    if write.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, got, bad)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "replica suite: make fault"]
async fn a_thousand_events_reach_one_receiver_once_each_across_replicas() {
    let pg = ScratchPostgres::start();
    let servers = replicas(&pg, "replicas_hooks", 3).await;
    let admin = token(servers[0].tenant("Hooks"), "admin");
    let secret = Arc::new(Mutex::new(None));
    let (url, got, bad) = receiver(secret.clone()).await;
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/webhooks", servers[1].base))
        .bearer_auth(&admin)
        .json(&json!({"url": url, "event_types": ["customer.created"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    *secret.lock().unwrap() =
        Some(WebhookSecret::parse(created["secret"].as_str().unwrap()).unwrap());
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    create_spread(&bases, &admin, 1_000).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while got.lock().unwrap().len() < 1_000 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A little longer, so a duplicate would have time to arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = got.lock().unwrap();
    assert_eq!(*bad.lock().unwrap(), 0, "every delivery verifies");
    assert_eq!(got.len(), 1_000, "one webhook-id per event");
    let twice: Vec<_> = got.iter().filter(|(_, (_, n))| *n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let events: HashSet<i64> = got.values().map(|(e, _)| *e).collect();
    assert_eq!(events.len(), 1_000, "each event once");
}

/// A stream client resumes with `Last-Event-ID` after the server process is killed (SIGKILL)
/// and started again on the same database: the events written after the last one it read
/// (before the kill and after the restart) arrive, once each, and nothing it had already read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "replica suite: make fault"]
async fn a_stream_resumes_after_the_server_is_killed_and_restarted() {
    let pg = ScratchPostgres::start();
    let mut servers = replicas(&pg, "replicas_restart", 1).await;
    let server = &mut servers[0];
    let admin = token(server.tenant("Restart"), "admin");
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let open = |last: Option<i64>| {
        let mut req = http
            .get(format!(
                "{base}/api/v1/events/stream?types=customer.created"
            ))
            .bearer_auth(&admin);
        if let Some(id) = last {
            req = req.header("Last-Event-ID", id.to_string());
        }
        req.send()
    };
    let first = open(None).await.unwrap();
    assert_eq!(first.status(), 200);
    let reader = tokio::spawn(read_stream(first, 3, Duration::from_secs(30)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = create_spread(std::slice::from_ref(&base), &admin, 3).await;
    let seen = reader.await.unwrap();
    assert_eq!(seen.len(), 3);
    let last = seen[2].0;
    // Written after the client's last read, then the process dies.
    let unread = create_spread(std::slice::from_ref(&base), &admin, 2).await;
    // SIGKILL, then the same server (database, port) again.
    server.restart().await;
    let after = create_spread(std::slice::from_ref(&base), &admin, 2).await;
    let resumed = open(Some(last)).await.unwrap();
    assert_eq!(resumed.status(), 200);
    // Four are due; reading on for a fifth for a few seconds shows nothing more comes.
    let got = read_stream(resumed, 5, Duration::from_secs(5)).await;
    let got_customers: HashSet<String> = got.iter().map(|(_, c)| c.clone()).collect();
    let expected: HashSet<String> = unread.into_iter().chain(after).collect();
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(
        got_customers, expected,
        "the unread and the new ones, once each"
    );
    assert!(
        before.iter().all(|c| !got_customers.contains(c)),
        "nothing already read comes again"
    );
    assert!(got.windows(2).all(|w| w[0].0 != w[1].0));
}
