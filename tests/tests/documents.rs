//! Documents of customers (issue 13), as a client sees them, on SQLite and PostgreSQL: the
//! upload and download round trip (identical bytes and SHA-256), the content-type allow-list
//! (a renamed `.exe` is 415), the size limit (413, nothing left behind), hostile file names,
//! tenant isolation on every path, the missing-object 404, the expiring list, permission
//! before the body, soft deletion of the customer, and deletion.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use crm_blackbox_tests::{DbBackend, Reply, TestApp, on_both_backends};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

/// A small but real-looking PDF: the signature, then `n` bytes of every value.
fn pdf(n: usize) -> Vec<u8> {
    let mut b = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    b.extend((0..n).map(|i| (i * 7 % 256) as u8));
    b.extend_from_slice(b"\n%%EOF\n");
    b
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// `POST /customers/{c}/documents` with `file` (named `name`, sent with the client type
/// `client_type`) and, when given, `meta`.
async fn upload(
    app: &TestApp,
    token: &str,
    c: &str,
    name: &str,
    client_type: &str,
    bytes: Vec<u8>,
    meta: Option<Value>,
) -> Reply {
    let mut form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str(client_type)
            .unwrap(),
    );
    if let Some(meta) = meta {
        form = form.text("meta", meta.to_string());
    }
    let res = app
        .http
        .post(format!("{}/api/v1/customers/{c}/documents", app.base))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.unwrap_or_default();
    Reply {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

async fn uploaded(app: &TestApp, token: &str, c: &str, name: &str, meta: Value) -> Value {
    let r = upload(
        app,
        token,
        c,
        name,
        "application/pdf",
        pdf(1000),
        Some(meta),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

/// A raw GET: status, headers, body bytes.
async fn fetch(
    app: &TestApp,
    token: &str,
    path: &str,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let res = app
        .http
        .get(format!("{}{path}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.bytes().await.unwrap().to_vec())
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// Every file under `dir`, as paths relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p: PathBuf = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

async fn list(app: &TestApp, token: &str, c: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/api/v1/customers/{c}/documents"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"].as_array().unwrap().clone()
}

/// Upload, read back: identical bytes and SHA-256, the stored type, download headers.
async fn a_round_trip_returns_identical_bytes_and_sha256(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Maju Jaya").await;
    // Over several pieces of the upload stream (1 MiB each).
    let bytes = pdf(3 << 20);
    let digest = sha256_hex(&bytes);
    let r = upload(
        &app,
        &token,
        &c,
        "Kontrak Sewa é.pdf",
        // The client's type is ignored: the bytes say PDF.
        "text/plain",
        bytes.clone(),
        Some(json!({"title": "Kontrak sewa 2026", "category": "contract",
                    "expires_at": "2027-01-31T00:00:00Z"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = r.body.clone();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/documents/{}", id(&d)).as_str())
    );
    assert_eq!(d["sha256"], digest);
    assert_eq!(d["size_bytes"], bytes.len());
    assert_eq!(d["content_type"], "application/pdf");
    assert_eq!(d["category"], "contract");
    assert_eq!(d["title"], "Kontrak sewa 2026");
    assert_eq!(d["file_name"], "Kontrak Sewa é.pdf");
    assert_eq!(d["customer_id"], c);
    assert_eq!(d["expires_at"], "2027-01-31T00:00:00Z");

    let meta = app
        .get(&format!("/api/v1/documents/{}", id(&d)), &token)
        .await;
    assert_eq!(meta.status, 200);
    assert_eq!(meta.body, d);
    let etag = format!("\"{digest}\"");
    assert_eq!(meta.header("etag"), Some(etag.as_str()));

    let (status, headers, body) = fetch(
        &app,
        &token,
        &format!("/api/v1/documents/{}/content", id(&d)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body.len(), bytes.len());
    assert!(body == bytes, "the downloaded bytes differ");
    assert_eq!(sha256_hex(&body), digest);
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["etag"], etag.as_str());
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"Kontrak Sewa _.pdf\"; filename*=UTF-8''Kontrak%20Sewa%20%C3%A9.pdf"
    );
    let listed = list(&app, &token, &c).await;
    assert_eq!(listed, vec![d]);
}

/// A Windows executable renamed `.pdf` and sent as `application/pdf` is a 415 naming what it
/// is; nothing is stored.
async fn a_renamed_executable_is_refused_as_415(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Maju Jaya").await;
    let mut exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00".to_vec();
    exe.extend(std::iter::repeat_n(0u8, 4096));
    let r = upload(
        &app,
        &token,
        &c,
        "invoice.pdf",
        "application/pdf",
        exe,
        None,
    )
    .await;
    r.assert_problem(415);
    assert_eq!(r.body["type"], "/problems/unsupported-document-type");
    assert_eq!(
        r.body["detected_type"],
        "application/vnd.microsoft.portable-executable"
    );
    assert!(list(&app, &token, &c).await.is_empty());
    assert_eq!(files_under(app.document_dir()), Vec::<String>::new());
    assert_eq!(files_under(app.upload_dir()), Vec::<String>::new());
}

/// A 26 MiB upload (the limit is 25 MiB) is a 413 and leaves no row, no object and no
/// temporary file.
async fn an_upload_beyond_the_limit_is_413_and_leaves_nothing(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Maju Jaya").await;
    let big = pdf(26 << 20);
    let r = upload(&app, &token, &c, "big.pdf", "application/pdf", big, None).await;
    r.assert_problem(413);
    assert!(list(&app, &token, &c).await.is_empty());
    assert_eq!(files_under(app.document_dir()), Vec::<String>::new());
    // The temporary file goes when the request ends.
    for _ in 0..50 {
        if files_under(app.upload_dir()).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(files_under(app.upload_dir()), Vec::<String>::new());
}

/// `../../etc/passwd.pdf` is stored under the ids-only key; the name is kept without its path
/// and offered safely on download.
async fn a_path_traversal_name_is_stored_safely(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Maju Jaya").await;
    let d = uploaded(&app, &token, &c, "../../etc/passwd.pdf", json!({})).await;
    assert_eq!(d["file_name"], "passwd.pdf");
    assert_eq!(d["title"], "passwd.pdf");
    assert_eq!(
        files_under(app.document_dir()),
        vec![format!("tenants/{tenant}/customers/{c}/{}", id(&d))]
    );
    // Nothing landed beside the store.
    let parent = app.document_dir().parent().unwrap();
    assert!(!parent.join("etc").exists());
    let (status, headers, _) = fetch(
        &app,
        &token,
        &format!("/api/v1/documents/{}/content", id(&d)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"passwd.pdf\"; filename*=UTF-8''passwd.pdf"
    );
}

/// Another tenant's documents are 404 on every path, downloads included, and never listed.
async fn another_tenants_documents_are_invisible_on_every_path(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (a, b) = (app.tenant("A").await, app.tenant("B").await);
    let (ta, tb) = (app.token(a, "admin"), app.token(b, "admin"));
    let c = customer(&app, &ta, "Maju Jaya").await;
    let d = uploaded(
        &app,
        &ta,
        &c,
        "k.pdf",
        json!({"category": "contract", "expires_at": "2027-01-01T00:00:00Z"}),
    )
    .await;
    let doc = format!("/api/v1/documents/{}", id(&d));
    app.get(&doc, &tb).await.assert_problem(404);
    let (status, _, body) = fetch(&app, &tb, &format!("{doc}/content")).await;
    assert_eq!(status, 404);
    assert!(!body.starts_with(b"%PDF"));
    app.call("DELETE", &doc, Some(&tb), None, &[])
        .await
        .assert_problem(404);
    app.get(&format!("/api/v1/customers/{c}/documents"), &tb)
        .await
        .assert_problem(404);
    let r = upload(&app, &tb, &c, "x.pdf", "application/pdf", pdf(10), None).await;
    r.assert_problem(404);
    let r = app.get("/api/v1/documents", &tb).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"], json!([]));
    // Still there for its own tenant.
    assert_eq!(app.get(&doc, &ta).await.status, 200);
    assert_eq!(
        app.get("/api/v1/documents", &ta).await.body["data"][0]["id"],
        d["id"]
    );
}

/// A row whose object is missing answers 404 `document-content-missing` on download.
async fn a_row_without_its_object_is_a_clear_404(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Maju Jaya").await;
    let d = uploaded(&app, &token, &c, "k.pdf", json!({})).await;
    let object = app
        .document_dir()
        .join(format!("tenants/{tenant}/customers/{c}/{}", id(&d)));
    std::fs::remove_file(&object).unwrap();
    let r = app
        .get(&format!("/api/v1/documents/{}/content", id(&d)), &token)
        .await;
    r.assert_problem(404);
    assert_eq!(r.body["type"], "/problems/document-content-missing");
    assert_eq!(r.body["document_id"], d["id"]);
    // The metadata is still there.
    assert_eq!(
        app.get(&format!("/api/v1/documents/{}", id(&d)), &token)
            .await
            .status,
        200
    );
}

/// `GET /documents` lists documents with an expiry, soonest first, filtered by
/// `expires_before` and `category`, in cursor pages.
async fn expiring_documents_come_soonest_first(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c1 = customer(&app, &token, "Maju Jaya").await;
    let c2 = customer(&app, &token, "Sinar Abadi").await;
    let late = uploaded(
        &app,
        &token,
        &c1,
        "a.pdf",
        json!({"category": "contract", "expires_at": "2027-06-01T00:00:00Z"}),
    )
    .await;
    let soon = uploaded(
        &app,
        &token,
        &c2,
        "b.pdf",
        json!({"category": "business_license", "expires_at": "2026-12-15T00:00:00Z"}),
    )
    .await;
    let mid = uploaded(
        &app,
        &token,
        &c1,
        "c.pdf",
        json!({"category": "contract", "expires_at": "2027-02-01T00:00:00Z"}),
    )
    .await;
    // No expiry: never listed.
    uploaded(&app, &token, &c2, "d.pdf", json!({"category": "contract"})).await;
    let ids = |r: &Reply| -> Vec<Value> {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].clone())
            .collect()
    };
    let r = app.get("/api/v1/documents", &token).await;
    assert_eq!(
        ids(&r),
        vec![soon["id"].clone(), mid["id"].clone(), late["id"].clone()]
    );
    let r = app
        .get(
            "/api/v1/documents?expires_before=2027-03-01T00:00:00Z",
            &token,
        )
        .await;
    assert_eq!(ids(&r), vec![soon["id"].clone(), mid["id"].clone()]);
    let r = app.get("/api/v1/documents?category=contract", &token).await;
    assert_eq!(ids(&r), vec![mid["id"].clone(), late["id"].clone()]);
    // Page by page, none skipped or repeated.
    let mut seen = Vec::new();
    let mut path = "/api/v1/documents?limit=1".to_owned();
    loop {
        let r = app.get(&path, &token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        seen.extend(ids(&r));
        match r.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/documents?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        vec![soon["id"].clone(), mid["id"].clone(), late["id"].clone()]
    );
    app.get("/api/v1/documents?category=poem", &token)
        .await
        .assert_problem(400);
}

/// A viewer's upload is a 403 answered before the body is read: the server answers while
/// most of the announced body has not been sent, and stores nothing.
async fn a_viewer_is_refused_before_the_body_is_read(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let sales = app.token(tenant, "sales");
    let viewer = app.token(tenant, "viewer");
    let c = customer(&app, &sales, "Maju Jaya").await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/customers/{c}/documents HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {viewer}\r\n\
         Content-Type: multipart/form-data; boundary=XBOUNDARY\r\nContent-Length: {}\r\n\r\n\
         --XBOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"k.pdf\"\r\n\
         Content-Type: application/pdf\r\n\r\n%PDF-1.7\n",
        20 << 20
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.flush().await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut answer))
        .await
        .expect("the server answers before the body arrives")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    drop(conn);
    assert!(list(&app, &sales, &c).await.is_empty());
    assert_eq!(files_under(app.document_dir()), Vec::<String>::new());
    // The same viewer reads documents.
    let d = uploaded(&app, &sales, &c, "k.pdf", json!({})).await;
    assert_eq!(
        app.get(&format!("/api/v1/documents/{}", id(&d)), &viewer)
            .await
            .status,
        200
    );
    app.call(
        "DELETE",
        &format!("/api/v1/documents/{}", id(&d)),
        Some(&viewer),
        None,
        &[],
    )
    .await
    .assert_problem(403);
}

/// A soft-deleted customer's documents are 404 (metadata, content, lists) and come back on
/// restore.
async fn documents_follow_the_customer_through_delete_and_restore(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "admin");
    let c = customer(&app, &token, "Maju Jaya").await;
    let d = uploaded(
        &app,
        &token,
        &c,
        "k.pdf",
        json!({"expires_at": "2027-01-01T00:00:00Z"}),
    )
    .await;
    let doc = format!("/api/v1/documents/{}", id(&d));
    let r = app
        .call(
            "DELETE",
            &format!("/api/v1/customers/{c}"),
            Some(&token),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    app.get(&doc, &token).await.assert_problem(404);
    app.get(&format!("{doc}/content"), &token)
        .await
        .assert_problem(404);
    app.get(&format!("/api/v1/customers/{c}/documents"), &token)
        .await
        .assert_problem(404);
    assert_eq!(
        app.get("/api/v1/documents", &token).await.body["data"],
        json!([])
    );
    let r = app
        .post(&format!("/api/v1/customers/{c}/restore"), &token, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(app.get(&doc, &token).await.body, d);
    assert_eq!(
        app.get("/api/v1/documents", &token).await.body["data"][0],
        d
    );
}

/// Deleting a document removes its row and its object.
async fn deleting_a_document_removes_row_and_object(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Maju Jaya").await;
    let d = uploaded(&app, &token, &c, "k.pdf", json!({})).await;
    let keep = uploaded(&app, &token, &c, "keep.pdf", json!({})).await;
    let doc = format!("/api/v1/documents/{}", id(&d));
    let r = app.call("DELETE", &doc, Some(&token), None, &[]).await;
    assert_eq!(r.status, 204, "{}", r.body);
    app.get(&doc, &token).await.assert_problem(404);
    app.call("DELETE", &doc, Some(&token), None, &[])
        .await
        .assert_problem(404);
    assert_eq!(
        files_under(app.document_dir()),
        vec![format!("tenants/{tenant}/customers/{c}/{}", id(&keep))]
    );
    assert_eq!(list(&app, &token, &c).await, vec![keep]);
}

/// The orphan check (start-up, `crm-server documents check`) reports rows whose object is
/// missing and objects no row names, across tenants.
async fn the_orphan_check_reports_both_ways(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Maju Jaya").await;
    let lost = uploaded(&app, &token, &c, "lost.pdf", json!({})).await;
    let kept = uploaded(&app, &token, &c, "kept.pdf", json!({})).await;
    let lost_key = format!("tenants/{tenant}/customers/{c}/{}", id(&lost));
    std::fs::remove_file(app.document_dir().join(&lost_key)).unwrap();
    let stray_key = format!("tenants/{tenant}/customers/{c}/{}", uuid::Uuid::now_v7());
    std::fs::write(app.document_dir().join(&stray_key), b"%PDF-1.7 stray").unwrap();
    // The server's wiring, on the same database and document folder.
    let store = crm_infra::ObjectDocumentStore::local(app.document_dir()).unwrap();
    let services = crm_server::services_with(
        app.database(),
        crm_server::job_leases(
            app.database(),
            crm_server::Config::default().job_leases().unwrap(),
        ),
        crm_server::Config::default().xlsx_limits(),
        crm_server::DocumentWiring {
            store: std::sync::Arc::new(store),
            max_bytes: 1 << 20,
        },
        crm_server::Config::default().webhooks(),
    );
    let report = services.documents.check_orphans(1_000).await.unwrap();
    assert_eq!((report.rows_checked, report.objects_checked), (2, 2));
    assert!(!report.truncated);
    let rows: Vec<String> = report
        .rows_without_objects
        .iter()
        .map(|(_, _, k)| k.clone())
        .collect();
    assert_eq!(rows, vec![lost_key]);
    assert_eq!(report.objects_without_rows, vec![stray_key]);
    assert_ne!(kept["id"], lost["id"]);
}

on_both_backends!(
    a_round_trip_returns_identical_bytes_and_sha256,
    a_renamed_executable_is_refused_as_415,
    an_upload_beyond_the_limit_is_413_and_leaves_nothing,
    a_path_traversal_name_is_stored_safely,
    another_tenants_documents_are_invisible_on_every_path,
    a_row_without_its_object_is_a_clear_404,
    expiring_documents_come_soonest_first,
    a_viewer_is_refused_before_the_body_is_read,
    documents_follow_the_customer_through_delete_and_restore,
    deleting_a_document_removes_row_and_object,
    the_orphan_check_reports_both_ways,
);
