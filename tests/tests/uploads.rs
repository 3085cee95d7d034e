//! Hostile uploads to `POST /api/v1/imports`, on SQLite and PostgreSQL: workbooks built to
//! exhaust memory (a far cell, a zip bomb), uploads without the permission, interrupted
//! uploads, and the upload folder left clean (issue 16, defect 1).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use crm_blackbox_tests::{DbBackend, TestApp, on_both_backends};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zip::write::SimpleFileOptions;

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#;
const ROOT_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
const WORKBOOK: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
const WORKBOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#;
const SHEET_HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#;
const SHEET_TAIL: &str = "</sheetData></worksheet>";

/// A minimal valid XLSX workbook: one sheet whose `<sheetData>` is written by `rows` (streamed
/// into the ZIP writer), and the shared strings `shared`.
fn xlsx(shared: &[&str], rows: impl FnOnce(&mut dyn std::io::Write)) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let deflated = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(6))
        .large_file(false);
    for (name, text) in [
        ("[Content_Types].xml", CONTENT_TYPES),
        ("_rels/.rels", ROOT_RELS),
        ("xl/workbook.xml", WORKBOOK),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
    ] {
        zip.start_file(name, deflated).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.start_file("xl/sharedStrings.xml", deflated).unwrap();
    let items: String = shared
        .iter()
        .map(|s| format!("<si><t>{s}</t></si>"))
        .collect();
    write!(
        zip,
        "<sst count=\"{0}\" uniqueCount=\"{0}\">{items}</sst>",
        shared.len()
    )
    .unwrap();
    zip.start_file("xl/worksheets/sheet1.xml", deflated)
        .unwrap();
    zip.write_all(SHEET_HEAD.as_bytes()).unwrap();
    rows(&mut zip);
    zip.write_all(SHEET_TAIL.as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}

/// `POST /api/v1/imports?wait=true` with the file and options `{"kind": "customers"}`.
async fn upload(app: &TestApp, token: &str, name: &str, bytes: Vec<u8>) -> (u16, Value) {
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
        )
        .text("options", json!({"kind": "customers"}).to_string());
    let r = app
        .http
        .post(format!("{}/api/v1/imports?wait=true", app.base))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The files in `dir`.
fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Waits (up to 10 s) until `dir` is empty; the files left otherwise.
async fn until_empty(dir: &Path) -> Vec<String> {
    for _ in 0..100 {
        if files_in(dir).is_empty() {
            return Vec::new();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    files_in(dir)
}

/// Opens a raw connection and sends the head of a multipart `POST /api/v1/imports` announcing
/// a body of `announced` bytes, then `sent` bytes of the file part (the rest never comes).
async fn partial_upload(
    app: &TestApp,
    token: &str,
    announced: usize,
    sent: usize,
) -> tokio::net::TcpStream {
    let addr = app.base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/imports HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=XBOUNDARY\r\nContent-Length: {announced}\r\n\r\n\
         --XBOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\
         Content-Type: text/csv\r\n\r\nname,email\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let line = b"Budi Santoso,budi@example.com\r\n";
    let mut body = Vec::with_capacity(sent + line.len());
    while body.len() < sent {
        body.extend_from_slice(line);
    }
    conn.write_all(&body).await.unwrap();
    conn.flush().await.unwrap();
    conn
}

/// The resident set of this process (the server runs in it), in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

async fn a_far_cell_is_refused_naming_the_column_limit_and_the_server_still_serves(
    backend: DbBackend,
) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Far").await;
    let admin = app.token(tenant, "admin");
    // A1 and XFD1048576: calamine sized a dense grid of 2^34 cells by them and aborted.
    let file = xlsx(&["name"], |w| {
        write!(
            w,
            r#"<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="1048576"><c r="XFD1048576"><v>1</v></c></row>"#
        )
        .unwrap();
    });
    assert!(file.len() < 4096, "{} bytes", file.len());
    let (status, body) = upload(&app, &admin, "far.xlsx", file).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["type"], "/problems/import-limit-exceeded", "{body}");
    assert_eq!(body["setting"], "CRM_MAX_IMPORT_COLUMNS", "{body}");
    assert_eq!(body["limit"], 200, "{body}");
    assert_eq!(body["errors"][0]["field"], "file", "{body}");
    assert!(body["detail"].as_str().unwrap().contains("XFD"), "{body}");
    assert_eq!(app.get("/health/live", &admin).await.status, 200);
    assert_eq!(until_empty(app.upload_dir()).await, Vec::<String>::new());
}

async fn a_zip_bomb_is_refused_quickly_with_bounded_memory(backend: DbBackend) {
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.max_import_unzipped_bytes = 32 << 20;
        c.max_import_bytes = 64 << 20;
    })
    .await
    else {
        return;
    };
    let tenant = app.tenant("Bomb").await;
    let admin = app.token(tenant, "admin");
    // ~1.1 GB of empty cells in rows, compressing to a few MB.
    let file = tokio::task::spawn_blocking(|| {
        xlsx(&["name"], |w| {
            w.write_all(br#"<row r="1"><c r="A1" t="s"><v>0</v></c></row>"#)
                .unwrap();
            let row = format!("<row>{}</row>", "<c/>".repeat(16_000));
            for _ in 0..(1_100_000_000 / row.len()) {
                w.write_all(row.as_bytes()).unwrap();
            }
        })
    })
    .await
    .unwrap();
    assert!(file.len() < 16 << 20, "{} bytes", file.len());
    let zipped = file.len();
    let before = rss();
    let started = Instant::now();
    let (status, body) = upload(&app, &admin, "bomb.xlsx", file).await;
    let took = started.elapsed();
    let grew = rss().saturating_sub(before);
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["setting"], "CRM_MAX_IMPORT_UNZIPPED_BYTES", "{body}");
    assert_eq!(body["limit"], 32 << 20, "{body}");
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert!(grew < 256 << 20, "the process grew by {grew} bytes");
    eprintln!(
        "zip bomb ({backend:?}, {zipped} bytes zipped): 413 in {took:?}, resident set grew by \
         {} KiB",
        grew / 1024
    );
    assert_eq!(app.get("/health/live", &admin).await.status, 200);
    assert_eq!(until_empty(app.upload_dir()).await, Vec::<String>::new());
}

async fn a_viewer_is_refused_before_the_body_is_read_and_nothing_is_stored(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Viewer").await;
    for role in ["viewer", "manager"] {
        let token = app.token(tenant, role);
        // 100 MB announced, 1 MB sent, the rest never: the answer must not wait for it.
        let mut conn = partial_upload(&app, &token, 100 << 20, 1 << 20).await;
        let mut answer = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut answer))
            .await
            .expect("the server waited for the body before refusing")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
        assert!(answer.starts_with("HTTP/1.1 403"), "{role}: {answer}");
        assert!(answer.contains("customers.manage"), "{role}: {answer}");
        drop(conn);
        assert!(files_in(app.upload_dir()).is_empty(), "{role}");
        // A complete upload is refused the same way.
        let (status, body) = upload(&app, &token, "c.csv", b"name\nBudi\n".to_vec()).await;
        assert_eq!(status, 403, "{role}: {body}");
    }
    assert!(files_in(app.upload_dir()).is_empty());
}

async fn an_interrupted_upload_leaves_no_file(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Cut").await;
    let admin = app.token(tenant, "admin");
    let conn = partial_upload(&app, &admin, 50 << 20, 2 << 20).await;
    // The upload is being stored...
    let mut seen = false;
    for _ in 0..100 {
        if !files_in(app.upload_dir()).is_empty() {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "the upload never reached the upload folder");
    // ... and the client goes away.
    drop(conn);
    assert_eq!(until_empty(app.upload_dir()).await, Vec::<String>::new());
    // An upload beyond the size limit leaves nothing either.
    let small = TestApp::spawn_with(backend, |c| c.max_import_bytes = 1 << 20)
        .await
        .unwrap();
    let tenant = small.tenant("Big").await;
    let admin = small.token(tenant, "admin");
    let big = "name\n".to_owned() + &"Budi Santoso\n".repeat(200_000);
    let (status, body) = upload(&small, &admin, "big.csv", big.into_bytes()).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(until_empty(small.upload_dir()).await, Vec::<String>::new());
}

async fn stale_uploads_are_removed_at_start_up_but_not_those_held_by_a_live_process(
    backend: DbBackend,
) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("upload-crashed.part"), b"name\nBudi\n").unwrap();
    // An upload another live process holds (its lock), and a file that is no upload.
    let held_path = dir.path().join("upload-live.part");
    let held = std::fs::File::create(&held_path).unwrap();
    held.lock().unwrap();
    std::fs::write(dir.path().join("README"), b"not an upload").unwrap();
    let uploads = dir.path().to_path_buf();
    let Some(app) = TestApp::spawn_with(backend, move |c| c.upload_dir = Some(uploads)).await
    else {
        return;
    };
    let mut left = files_in(app.upload_dir());
    left.sort();
    assert_eq!(left, ["README", "upload-live.part"]);
    drop(held);
}

async fn a_normal_workbook_still_imports(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Normal").await;
    let admin = app.token(tenant, "admin");
    let file = xlsx(&["Nama", "E-mail", "Budi Santoso"], |w| {
        write!(
            w,
            r#"<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>
<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2" t="inlineStr"><is><t>budi@example.com</t></is></c></row>
<row r="3"/>
<row r="4"><c r="A4" t="inlineStr"><is><r><t xml:space="preserve">Siti </t></r><r><t> &amp; Co</t></r></is></c><c r="B4" t="str"><v>siti@example.com</v></c></row>"#
        )
        .unwrap();
    });
    let (status, body) = upload(&app, &admin, "pelanggan.xlsx", file).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "completed", "{body}");
    let p = &body["progress"];
    assert_eq!(
        (p["rows_read"].as_u64(), p["created"].as_u64()),
        (Some(2), Some(2)),
        "{body}"
    );
    assert_eq!(p["last_line"], 4, "{body}");
    let list = app.get("/api/v1/customers?sort=name", &admin).await;
    let names: Vec<&str> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Budi Santoso", "Siti & Co"]);
    assert_eq!(until_empty(app.upload_dir()).await, Vec::<String>::new());
}

on_both_backends!(
    a_far_cell_is_refused_naming_the_column_limit_and_the_server_still_serves,
    a_zip_bomb_is_refused_quickly_with_bounded_memory,
    a_viewer_is_refused_before_the_body_is_read_and_nothing_is_stored,
    an_interrupted_upload_leaves_no_file,
    stale_uploads_are_removed_at_start_up_but_not_those_held_by_a_live_process,
    a_normal_workbook_still_imports,
);
