//! Imports through the API, for the black-box tests of the import columns (addresses,
//! contacts): upload and wait, the job's counts and rejected rows, a customer by e-mail.

use serde_json::{Value, json};

use crate::TestApp;

/// Posts `body` as the import file `name` with these options and waits for the job
/// (`?wait=true`); asserts it completed and answers the job.
pub async fn import_bytes(
    app: &TestApp,
    token: &str,
    name: &str,
    body: Vec<u8>,
    options: Value,
) -> Value {
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(body).file_name(name.to_owned()),
        )
        .text("options", options.to_string());
    let r = app
        .http
        .post(format!("{}/api/v1/imports?wait=true", app.base))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let job: Value = r.json().await.unwrap();
    assert_eq!(job["state"], "completed", "{job}");
    job
}

/// [`import_bytes`] of a CSV text named `customers.csv`.
pub async fn import(app: &TestApp, token: &str, body: &str, options: Value) -> Value {
    import_bytes(
        app,
        token,
        "customers.csv",
        body.as_bytes().to_vec(),
        options,
    )
    .await
}

/// The job's `rows_read`, `created`, `updated`, `skipped` and `failed`.
pub fn counts(job: &Value) -> [u64; 5] {
    let p = &job["progress"];
    ["rows_read", "created", "updated", "skipped", "failed"].map(|k| p[k].as_u64().unwrap())
}

/// The job's `warnings` count and its `warning_rows` as `(line, field)`.
pub fn warnings(job: &Value) -> (u64, Vec<(u64, String)>) {
    let p = &job["progress"];
    let rows = p["warning_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["line"].as_u64().unwrap(),
                w["field"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    (p["warnings"].as_u64().unwrap(), rows)
}

/// The job's rejected rows as `(line, field)` (`field` empty when the row names none).
pub async fn errors(app: &TestApp, token: &str, job: &Value) -> Vec<(u64, String)> {
    let id = job["id"].as_str().unwrap();
    let body = app
        .get(&format!("/api/v1/imports/{id}/errors"), token)
        .await
        .body;
    body.as_array()
        .unwrap_or_else(|| body["data"].as_array().unwrap())
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["field"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// The customer with this e-mail, as `GET /customers/{id}` shows it.
pub async fn customer(app: &TestApp, token: &str, email: &str) -> Value {
    let page = app
        .post(
            "/api/v1/customers/search",
            token,
            json!({"filter": {"all": [{"field": "email", "op": "eq", "value": email}]}}),
        )
        .await;
    let id = page.body["data"][0]["id"].as_str().unwrap().to_owned();
    let r = app.get(&format!("/api/v1/customers/{id}"), token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}
