//! The fault suite (`make fault`; every test here is `#[ignore]`d so `make test` skips it): the
//! real `crm-server` binary as a child process against a PostgreSQL cluster of the suite's own,
//! so that the database can be restarted and the server killed without disturbing anything else.
//!
//! - PostgreSQL restarted under a write load: 503 with `Retry-After` while it is down, then
//!   recovery, and every acknowledged write present.
//! - SIGTERM under load: requests in flight finish, then the process exits cleanly.
//! - The pool saturated by slow queries: other requests get 503 within the acquire timeout,
//!   readiness says so, and everything recovers when the slow queries end.
//! - The server killed during an import: no half batch, a checkpoint that matches what is stored,
//!   and the rerun completes without duplicates.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crm_blackbox_tests::fault::{ScratchPostgres, ServerProcess, create_database, token};
use sea_orm::{ConnectionTrait, Database, TransactionTrait};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// A client that opens a fresh connection per request, so a request is never sent on a
/// keep-alive connection the server is closing.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn new_customer(http: &reqwest::Client, base: &str, token: &str) -> reqwest::Response {
    http.post(format!("{base}/api/v1/customers"))
        .bearer_auth(token)
        .json(&json!({
            "name": "Fault Load",
            "email": format!("{}@example.com", uuid::Uuid::now_v7()),
        }))
        .send()
        .await
        .expect("request sent")
}

async fn fresh_server(pg: &ScratchPostgres, db: &str, extra: &[(&str, &str)]) -> ServerProcess {
    create_database(&pg.url("postgres"), db).await;
    ServerProcess::start(&pg.url(db), extra).await
}

#[derive(Default)]
struct Tally {
    acknowledged: Vec<(String, Instant)>,
    unavailable: usize,
    unavailable_without_retry_after: usize,
    unexpected: Vec<(u16, String)>,
    dropped: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "fault suite: make fault"]
async fn a_postgresql_restart_under_write_load_loses_no_acknowledged_write() {
    let pg = ScratchPostgres::start();
    let server = fresh_server(&pg, "restart", &[]).await;
    let admin = token(server.tenant("Restart"), "admin");
    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));

    let mut writers = Vec::new();
    for _ in 0..8 {
        let (tally, stop, base, admin) = (
            tally.clone(),
            stop.clone(),
            server.base.clone(),
            admin.clone(),
        );
        writers.push(tokio::spawn(async move {
            let http = client();
            while !stop.load(Ordering::Relaxed) {
                let sent = http
                    .post(format!("{base}/api/v1/customers"))
                    .bearer_auth(&admin)
                    .json(&json!({
                        "name": "Fault Load",
                        "email": format!("{}@example.com", uuid::Uuid::now_v7()),
                    }))
                    .send()
                    .await;
                let mut t = tally.lock().await;
                match sent {
                    Err(e) => t.dropped.push(e.to_string()),
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let retry_after = r.headers().contains_key("retry-after");
                        let body: Value = r.json().await.unwrap_or(Value::Null);
                        match status {
                            201 => t
                                .acknowledged
                                .push((body["id"].as_str().unwrap().to_owned(), Instant::now())),
                            503 => {
                                t.unavailable += 1;
                                if !retry_after {
                                    t.unavailable_without_retry_after += 1;
                                }
                            }
                            s => t.unexpected.push((s, body.to_string())),
                        }
                    }
                }
                drop(t);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }

    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.restart();
    let restarted = Instant::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }

    let t = tally.lock().await;
    assert!(
        t.unexpected.is_empty(),
        "unexpected answers: {:?}",
        t.unexpected
    );
    assert!(t.dropped.is_empty(), "dropped requests: {:?}", t.dropped);
    assert_eq!(
        t.unavailable_without_retry_after, 0,
        "every 503 carries Retry-After"
    );
    let after = t
        .acknowledged
        .iter()
        .filter(|(_, at)| *at > restarted)
        .count();
    assert!(after > 0, "writes are acknowledged again after the restart");
    let http = client();
    for (id, _) in &t.acknowledged {
        let r = http
            .get(format!("{}/api/v1/customers/{id}", server.base))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged customer {id} is stored");
    }
    eprintln!(
        "restart: {} acknowledged ({} after the restart), {} answered 503",
        t.acknowledged.len(),
        after,
        t.unavailable
    );
}

/// Holds `LOCK TABLE customers` in a transaction of its own until dropped or released, so every
/// statement of the server that reads customers waits: a stand-in for slow queries.
async fn lock_customers(url: &str) -> sea_orm::DatabaseTransaction {
    let db = Database::connect(url).await.unwrap();
    let tx = db.begin().await.unwrap();
    tx.execute_unprepared("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    tx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "fault suite: make fault"]
async fn sigterm_under_load_lets_requests_in_flight_finish() {
    let pg = ScratchPostgres::start();
    let mut server = fresh_server(&pg, "sigterm", &[("CRM_DB_MAX_CONNECTIONS", "20")]).await;
    let admin = token(server.tenant("Sigterm"), "admin");
    let http = client();
    for _ in 0..3 {
        assert_eq!(
            new_customer(&http, &server.base, &admin).await.status(),
            201
        );
    }

    // Sixteen requests stuck behind the lock: certainly in flight when SIGTERM arrives.
    let lock = lock_customers(&pg.url("sigterm")).await;
    let mut in_flight = Vec::new();
    for _ in 0..16 {
        let (http, base, admin) = (http.clone(), server.base.clone(), admin.clone());
        in_flight.push(tokio::spawn(async move {
            let r = http
                .get(format!("{base}/api/v1/customers?limit=10"))
                .bearer_auth(&admin)
                .send()
                .await?;
            let status = r.status().as_u16();
            let body: Value = r.json().await?;
            Ok::<_, reqwest::Error>((status, body))
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.terminate();
    tokio::time::sleep(Duration::from_millis(700)).await;
    lock.rollback().await.unwrap();

    for r in in_flight {
        let (status, body) = r
            .await
            .unwrap()
            .expect("a request in flight at SIGTERM gets its answer");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"].as_array().unwrap().len(), 3, "{body}");
    }
    let exit = server
        .wait_exit(Duration::from_secs(40))
        .await
        .expect("the server exits after SIGTERM");
    assert!(exit.success(), "clean exit, got {exit:?}");
    assert!(
        http.get(format!("{}/health/live", server.base))
            .send()
            .await
            .is_err(),
        "nothing listens after the shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "fault suite: make fault"]
async fn a_saturated_pool_answers_503_within_the_timeout_and_recovers() {
    let pg = ScratchPostgres::start();
    let server = fresh_server(
        &pg,
        "saturate",
        // Slow statements outlast the acquire timeout (5 s) here; the statement time limit has
        // tests of its own (filters_hostile.rs).
        &[
            ("CRM_DB_MAX_CONNECTIONS", "3"),
            ("CRM_DB_STATEMENT_TIMEOUT", "60s"),
        ],
    )
    .await;
    let admin = token(server.tenant("Saturate"), "admin");
    let http = client();
    let created: Value = new_customer(&http, &server.base, &admin)
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();

    let lock = lock_customers(&pg.url("saturate")).await;
    // Enough slow requests to hold every pooled connection.
    let mut slow = Vec::new();
    for _ in 0..6 {
        let (http, base, admin) = (http.clone(), server.base.clone(), admin.clone());
        slow.push(tokio::spawn(async move {
            http.get(format!("{base}/api/v1/customers"))
                .bearer_auth(&admin)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = Instant::now();
    let other = http
        .get(format!("{}/api/v1/customers/{id}", server.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(
        other.status(),
        503,
        "another request while the pool is held"
    );
    assert!(other.headers().contains_key("retry-after"));
    assert!(
        waited < Duration::from_secs(15),
        "answered within the acquire timeout, took {waited:?}"
    );
    let ready = http
        .get(format!("{}/health/ready", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ready.status(),
        503,
        "readiness says the service cannot serve"
    );

    lock.rollback().await.unwrap();
    for s in slow {
        let status = s
            .await
            .unwrap()
            .expect("an answer, never a dropped connection");
        assert!(
            status == 200 || status == 503,
            "slow request answered {status}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ready = http
            .get(format!("{}/health/ready", server.base))
            .send()
            .await
            .unwrap();
        if ready.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "readiness recovers");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let again = http
        .get(format!("{}/api/v1/customers/{id}", server.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200, "requests succeed again");
}

async fn customers_total(http: &reqwest::Client, base: &str, token: &str) -> u64 {
    let body: Value = http
        .get(format!(
            "{base}/api/v1/customers?limit=1&include_total=true"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["total"].as_u64().unwrap()
}

async fn start_import(http: &reqwest::Client, base: &str, token: &str, file: &str) -> String {
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(file.as_bytes().to_vec()).file_name("people.csv"),
        )
        .text("options", json!({"kind": "customers"}).to_string());
    let r = http
        .post(format!("{base}/api/v1/imports"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let job: Value = r.json().await.unwrap();
    format!("{base}/api/v1/jobs/{}", job["id"].as_str().unwrap())
}

async fn job(http: &reqwest::Client, url: &str, token: &str) -> Value {
    http.get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "fault suite: make fault"]
async fn a_server_killed_during_an_import_leaves_whole_batches_and_a_true_checkpoint() {
    const N: usize = 30_000;
    let pg = ScratchPostgres::start();
    let leases = [("CRM_JOB_HEARTBEAT_SECS", "1"), ("CRM_JOB_LEASE_SECS", "3")];
    let mut server = fresh_server(&pg, "killed", &leases).await;
    let admin = token(server.tenant("Killed"), "admin");
    let http = client();
    let mut file = String::from("name,email\n");
    for i in 0..N {
        file.push_str(&format!("Customer {i},c{i}@example.com\n"));
    }
    let location = start_import(&http, &server.base, &admin, &file).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let j = job(&http, &location, &admin).await;
        if j["result"]["last_line"].as_u64().unwrap_or(0) > 1 {
            assert_eq!(j["state"], "running", "killed mid-import: {j}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the import made no progress: {j}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();

    // Another process starts on the same database: it fails the job once its lease runs out.
    server.restart().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let swept = loop {
        let j = job(&http, &location, &admin).await;
        if j["state"] != "running" {
            break j;
        }
        assert!(
            Instant::now() < deadline,
            "the killed job stays running: {j}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(swept["state"], "failed", "{swept}");
    let created = swept["result"]["created"].as_u64().unwrap();
    let stored = customers_total(&http, &server.base, &admin).await;
    assert_eq!(
        stored, created,
        "the checkpoint counts what is stored: {swept}"
    );
    assert_eq!(
        swept["result"]["last_line"].as_u64().unwrap(),
        created + 1,
        "the checkpoint's line follows the stored rows: {swept}"
    );
    assert_eq!(stored % 1_000, 0, "whole batches only, got {stored}");
    assert!(stored < N as u64, "killed before the end, got {stored}");

    // The rerun completes: the stored customers match by e-mail, nothing is duplicated.
    let rerun = start_import(&http, &server.base, &admin, &file).await;
    let deadline = Instant::now() + Duration::from_secs(300);
    let done = loop {
        let j = job(&http, &rerun, &admin).await;
        if j["state"] != "running" {
            break j;
        }
        assert!(Instant::now() < deadline, "the rerun did not finish: {j}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(
        customers_total(&http, &server.base, &admin).await,
        N as u64,
        "every row once: {done}"
    );
    eprintln!(
        "killed import: {stored} rows stored at the kill, rerun {}",
        done["result"]
    );
}
