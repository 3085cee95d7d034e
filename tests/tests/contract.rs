//! The served OpenAPI document is a contract the server keeps (issue 16, "a valid contract"):
//! every status an operation answers is one the document lists for it, with the documented
//! content type and a body that validates against the documented schema, on SQLite and
//! PostgreSQL. `make contract` fuzzes the same with schemathesis; these tests pin what it found.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crm_blackbox_tests::{DbBackend, Reply, TestApp, on_both_backends};
use serde_json::{Value, json};

/// The document the server serves at `/openapi.json`.
struct Contract {
    doc: Value,
}

/// One operation of the document.
struct Operation<'a> {
    method: String,
    path: &'a str,
    op: &'a Value,
}

impl Operation<'_> {
    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn has_param(&self, place: &str) -> bool {
        self.op["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["in"] == place))
    }

    fn body_types(&self) -> Vec<&str> {
        self.op["requestBody"]["content"]
            .as_object()
            .map(|c| c.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    fn secured(&self) -> bool {
        self.op["security"].is_array()
    }

    /// The path with every `{param}` replaced by `value`, except that a parameter whose schema
    /// (followed through `$ref`s in `doc`) is an enumeration gets its first value: a path the
    /// server routes to the operation's handler.
    fn valid_path(&self, doc: &Value, value: &str) -> String {
        let mut path = self.path.to_owned();
        for p in self.op["parameters"].as_array().into_iter().flatten() {
            if p["in"] != "path" {
                continue;
            }
            let mut schema = &p["schema"];
            while let Some(r) = schema["$ref"].as_str() {
                let name = r.rsplit('/').next().unwrap();
                schema = &doc["components"]["schemas"][name];
            }
            let name = p["name"].as_str().unwrap();
            let fill = schema["enum"][0].as_str().unwrap_or(value);
            path = path.replace(&format!("{{{name}}}"), fill);
        }
        Operation {
            method: self.method.clone(),
            path: &path,
            op: self.op,
        }
        .path_with(value)
    }

    /// The path with every `{param}` replaced by `value`.
    fn path_with(&self, value: &str) -> String {
        let mut out = String::new();
        let mut rest = self.path;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').unwrap() + start;
            out.push_str(value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

impl Contract {
    async fn load(app: &TestApp) -> Self {
        let r = app.call("GET", "/openapi.json", None, None, &[]).await;
        assert_eq!(r.status, 200);
        Self { doc: r.body }
    }

    fn operations(&self) -> Vec<Operation<'_>> {
        let mut all = Vec::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                all.push(Operation {
                    method: method.to_uppercase(),
                    path,
                    op,
                });
            }
        }
        assert!(
            all.len() > 50,
            "the document lists {} operations",
            all.len()
        );
        all
    }

    fn response<'a>(&'a self, r: &'a Value) -> &'a Value {
        match r["$ref"].as_str() {
            Some(reference) => {
                let name = reference.rsplit('/').next().unwrap();
                &self.doc["components"]["responses"][name]
            }
            None => r,
        }
    }

    /// Why `reply` to `method path` breaks the document, if it does: a status the operation
    /// does not list, another content type, or a body its schema refuses.
    fn violation(&self, method: &str, path: &str, reply: &Reply) -> Option<String> {
        let op = &self.doc["paths"][path][method.to_lowercase()];
        assert!(op.is_object(), "{method} {path} is not in the document");
        let status = reply.status.to_string();
        let Some(documented) = op["responses"].get(&status) else {
            let listed: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
            return Some(format!(
                "{method} {path}: status {status} is not documented (documented: {listed:?}); body {}",
                reply.body
            ));
        };
        let content = &self.response(documented)["content"];
        let Some(content) = content.as_object() else {
            return (!reply.body.is_null())
                .then(|| format!("{method} {path} {status}: a body where none is documented"));
        };
        let essence = |ct: &str| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        };
        let received = essence(reply.header("content-type").unwrap_or(""));
        let Some((_, media)) = content.iter().find(|(ct, _)| essence(ct) == received) else {
            let listed: Vec<&String> = content.keys().collect();
            return Some(format!(
                "{method} {path} {status}: content type `{received}` is not documented ({listed:?})"
            ));
        };
        if !(received == "application/json" || received.ends_with("+json")) {
            return None;
        }
        let mut schema = media["schema"].clone();
        schema
            .as_object_mut()
            .unwrap()
            .insert("components".into(), self.doc["components"].clone());
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&reply.body)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        (!errors.is_empty()).then(|| {
            format!(
                "{method} {path} {status}: the body breaks the schema: {errors:?}; body {}",
                reply.body
            )
        })
    }

    fn assert_kept(&self, method: &str, path: &str, reply: &Reply) {
        if let Some(v) = self.violation(method, path, reply) {
            panic!("{v}");
        }
    }
}

async fn setup(backend: DbBackend) -> Option<(TestApp, String, Contract)> {
    let app = TestApp::spawn(backend).await?;
    let token = app.token(app.tenant("A").await, "admin");
    let contract = Contract::load(&app).await;
    Some((app, token, contract))
}

/// Every operation behind the bearer token answers a request without one with a 401 it
/// documents (schemathesis found 53 operations that did not list it).
async fn a_request_without_a_token_gets_a_documented_401(backend: DbBackend) {
    let Some((app, _, contract)) = setup(backend).await else {
        return;
    };
    let id = uuid::Uuid::now_v7().to_string();
    let mut violations = Vec::new();
    for op in contract.operations().iter().filter(|o| o.secured()) {
        let r = app
            .call(
                &op.method,
                &op.valid_path(&contract.doc, &id),
                None,
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, 401, "{}: {}", op.name(), r.body);
        violations.extend(contract.violation(&op.method, op.path, &r));
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

/// A path id that is not a UUID is a 400 naming `id`, documented by every operation with one.
async fn a_malformed_path_id_gets_a_documented_400(backend: DbBackend) {
    let Some((app, token, contract)) = setup(backend).await else {
        return;
    };
    let mut violations = Vec::new();
    for op in contract.operations().iter().filter(|o| o.has_param("path")) {
        let body = (!op.body_types().is_empty()).then(|| json!({}));
        let r = app
            .call(
                &op.method,
                &op.path_with("not-a-uuid"),
                Some(&token),
                body,
                &[],
            )
            .await;
        assert_eq!(r.status, 400, "{}: {}", op.name(), r.body);
        assert_eq!(r.error_field(), Some("id"), "{}", op.name());
        violations.extend(contract.violation(&op.method, op.path, &r));
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

/// A body of another media type than JSON is a 415, documented by every operation that takes
/// a JSON body (schemathesis found 26 that did not list it; the RFM recompute parsed any body
/// as JSON whatever its type, a 400).
async fn a_body_of_another_media_type_gets_a_documented_415(backend: DbBackend) {
    let Some((app, token, contract)) = setup(backend).await else {
        return;
    };
    let id = uuid::Uuid::now_v7().to_string();
    let mut violations = Vec::new();
    let takes_json = |o: &&Operation| o.body_types().iter().any(|t| t.ends_with("json"));
    for op in contract.operations().iter().filter(takes_json) {
        let r = app
            .raw(
                &op.method,
                &op.valid_path(&contract.doc, &id),
                &token,
                "text/plain",
                b"name=x".to_vec(),
            )
            .await;
        assert_eq!(r.status, 415, "{}: {}", op.name(), r.body);
        r.assert_problem(415);
        violations.extend(contract.violation(&op.method, op.path, &r));
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

/// A JSON body beyond `CRM_MAX_BODY_BYTES` is a 413 problem, documented by every operation
/// that takes one (the RFM recompute read its optional body on its own, with actix's limit of
/// 256 KiB and none of the JSON body's rules).
async fn a_body_beyond_the_limit_gets_a_documented_413(backend: DbBackend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.max_body_bytes = 1024).await else {
        return;
    };
    let token = app.token(app.tenant("A").await, "admin");
    let contract = Contract::load(&app).await;
    let id = uuid::Uuid::now_v7().to_string();
    let body = json!({ "name": "x".repeat(2048) }).to_string().into_bytes();
    let mut violations = Vec::new();
    for op in contract.operations().iter() {
        let Some(media) = op.body_types().into_iter().find(|t| t.ends_with("json")) else {
            continue;
        };
        let r = app
            .raw(
                &op.method,
                &op.valid_path(&contract.doc, &id),
                &token,
                media,
                body.clone(),
            )
            .await;
        assert_eq!(r.status, 413, "{}: {}", op.name(), r.body);
        r.assert_problem(413);
        violations.extend(contract.violation(&op.method, op.path, &r));
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

/// A view saved without a filter answers `"filter": null`, which its schema must allow
/// (schemathesis: `null is not of type "object"` on every view operation).
async fn a_view_without_a_filter_matches_its_schema(backend: DbBackend) {
    let Some((app, token, contract)) = setup(backend).await else {
        return;
    };
    let r = app
        .post(
            "/api/v1/customer-views",
            &token,
            json!({"name": "All", "sort": ["name"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["filter"], Value::Null);
    contract.assert_kept("POST", "/api/v1/customer-views", &r);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/customer-views/{id}");
    contract.assert_kept(
        "GET",
        "/api/v1/customer-views/{id}",
        &app.get(&path, &token).await,
    );
    contract.assert_kept(
        "GET",
        "/api/v1/customer-views",
        &app.get("/api/v1/customer-views", &token).await,
    );
    let r = app
        .call(
            "PUT",
            &path,
            Some(&token),
            Some(json!({"name": "All"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    contract.assert_kept("PUT", "/api/v1/customer-views/{id}", &r);
}

/// Renaming a segment to another segment's name is a 409 naming `name`, documented by the
/// replace (schemathesis, seed 7: the replace listed no 409).
async fn renaming_a_segment_to_a_taken_name_gets_a_documented_409(backend: DbBackend) {
    let Some((app, token, contract)) = setup(backend).await else {
        return;
    };
    let mut ids = Vec::new();
    for name in ["Gold buyers", "Lapsed"] {
        let r = app
            .post(
                "/api/v1/customer-segments",
                &token,
                json!({"name": name, "segment_type": "manual"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let r = app
        .call(
            "PUT",
            &format!("/api/v1/customer-segments/{}", ids[1]),
            Some(&token),
            Some(json!({"name": "Gold buyers", "segment_type": "manual"})),
            &[],
        )
        .await;
    r.assert_problem(409);
    assert_eq!(r.error_field(), Some("name"));
    contract.assert_kept("PUT", "/api/v1/customer-segments/{id}", &r);
}

/// An import's answers, from the 202 at once to the finished job, match their schemas (the
/// multipart request, the `Location` to follow and the progress object on the way).
async fn an_accepted_import_matches_its_schema(backend: DbBackend) {
    let Some((app, token, contract)) = setup(backend).await else {
        return;
    };
    let csv = b"name;email\nBudi;budi@example.com\n".to_vec();
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(csv).file_name("customers.csv"),
        )
        .text("options", json!({"kind": "customers"}).to_string());
    let res = app
        .http
        .post(format!("{}/api/v1/imports", app.base))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body: Value = res.json().await.unwrap();
    assert!(matches!(status, 200 | 202), "{status}: {body}");
    let reply = Reply {
        status,
        headers,
        body,
    };
    contract.assert_kept("POST", "/api/v1/imports", &reply);
    let location = reply.header("location").unwrap().to_owned();
    for _ in 0..600 {
        let r = app.get(&location, &token).await;
        contract.assert_kept("GET", "/api/v1/imports/{id}", &r);
        if r.body["state"] != "running" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the import did not finish");
}

/// Query parameters that parse but break a rule are a 422 naming the parameter, documented by
/// the operation (schemathesis: `horizon_months=5769` on a customer's analytics).
async fn a_query_parameter_out_of_range_gets_a_documented_422(backend: DbBackend) {
    let Some((app, token, contract)) = setup(backend).await else {
        return;
    };
    let r = app
        .post(
            "/api/v1/customers",
            &token,
            json!({"name": "Budi", "email": "budi@example.com"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap();
    let r = app
        .get(
            &format!("/api/v1/customers/{id}/analytics?horizon_months=5769"),
            &token,
        )
        .await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("horizon_months"));
    contract.assert_kept("GET", "/api/v1/customers/{id}/analytics", &r);
}

on_both_backends!(
    a_request_without_a_token_gets_a_documented_401,
    a_malformed_path_id_gets_a_documented_400,
    a_body_of_another_media_type_gets_a_documented_415,
    a_body_beyond_the_limit_gets_a_documented_413,
    a_view_without_a_filter_matches_its_schema,
    an_accepted_import_matches_its_schema,
    renaming_a_segment_to_a_taken_name_gets_a_documented_409,
    a_query_parameter_out_of_range_gets_a_documented_422,
);
