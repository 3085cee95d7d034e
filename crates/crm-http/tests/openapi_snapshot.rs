//! `docs/openapi.json` is the committed copy of the generated document: it must not drift.
#![allow(missing_docs, clippy::unwrap_used, clippy::panic)]

use serde_json::{Value, json};

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let generated = crm_http::openapi().to_pretty_json().unwrap();
    let committed = include_str!("../../../docs/openapi.json");
    assert!(
        generated.trim_end() == committed.trim_end(),
        "docs/openapi.json is stale: run `make openapi` and commit the result"
    );
}

#[test]
fn every_api_operation_documents_its_errors_as_problem_details() {
    let doc = serde_json::to_value(crm_http::openapi()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/api/v1/customers/{id}/restore"));
    for (path, item) in paths.iter().filter(|(p, _)| p.starts_with("/api/")) {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let problem = responses.iter().any(|(code, r)| {
                code.starts_with('4') && r["content"]["application/problem+json"].is_object()
            });
            assert!(problem, "{method} {path} documents no problem+json error");
            assert!(
                op["security"].is_array(),
                "{method} {path} documents no bearer security"
            );
        }
    }
}

/// The response object `r` stands for: itself, or the `components.responses` entry its `$ref`
/// names.
fn resolved<'a>(doc: &'a Value, r: &'a Value) -> &'a Value {
    match r["$ref"].as_str() {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/responses/")
                .unwrap_or_else(|| panic!("{reference} is not a response reference"));
            let target = &doc["components"]["responses"][name];
            assert!(target.is_object(), "{reference} names no response");
            target
        }
        None => r,
    }
}

/// Every operation as (`METHOD /path`, operation).
fn operations(doc: &Value) -> Vec<(String, &Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            all.push((format!("{} {path}", method.to_uppercase()), op));
        }
    }
    all
}

/// OpenAPI 3.1 (§4.8.17.1) requires a `description` on every response object; client
/// generators reject a document that lacks one.
#[test]
fn every_response_has_a_description() {
    let doc = serde_json::to_value(crm_http::openapi()).unwrap();
    let mut missing = Vec::new();
    for (name, op) in operations(&doc) {
        for (code, r) in op["responses"].as_object().unwrap() {
            if resolved(&doc, r)["description"]
                .as_str()
                .is_none_or(str::is_empty)
            {
                missing.push(format!("{name} {code}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "responses without a description: {missing:?}"
    );
}

/// Every error the service answers is an RFC 9457 problem: the document says so for every 4xx
/// and 5xx response (and nothing else), so a client validating content types accepts them.
#[test]
fn every_error_response_is_documented_as_a_problem() {
    let doc = serde_json::to_value(crm_http::openapi()).unwrap();
    let mut wrong = Vec::new();
    for (name, op) in operations(&doc) {
        for (code, r) in op["responses"].as_object().unwrap() {
            if !(code.starts_with('4') || code.starts_with('5')) {
                continue;
            }
            let content = &resolved(&doc, r)["content"];
            let expected = json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}});
            if content != &expected {
                wrong.push(format!("{name} {code}: {content}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "error responses not documented as problems: {wrong:#?}"
    );
}

/// The refusals that come with what an operation takes (a token, a path id, parameters, a
/// body) are documented on every operation that takes it: schemathesis (`make contract`)
/// found 401, 400 and 415 answered by operations that did not list them.
#[test]
fn every_operation_documents_the_refusals_of_what_it_takes() {
    let doc = serde_json::to_value(crm_http::openapi()).unwrap();
    let mut missing = Vec::new();
    for (name, op) in operations(&doc) {
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let has = |place: &str| params.iter().any(|p| p["in"] == place);
        let body = op["requestBody"].is_object();
        let secured = op["security"].is_array();
        let mut expected = vec!["500"];
        if secured {
            expected.extend(["401", "403", "503"]);
        }
        if has("path") {
            expected.extend(["400", "404"]);
        }
        if has("query") || has("header") {
            expected.push("400");
        }
        if has("query") {
            expected.push("422");
        }
        if body {
            expected.extend(["400", "413", "422"]);
        }
        let json_body = op["requestBody"]["content"]
            .as_object()
            .is_some_and(|c| c.keys().any(|t| t.ends_with("json")));
        if json_body {
            expected.push("415");
        }
        for code in expected {
            if op["responses"][code].is_null() {
                missing.push(format!("{name} {code}"));
            }
        }
        if name.contains(" /api/") {
            assert!(secured, "{name} documents no bearer security");
        }
    }
    missing.sort();
    missing.dedup();
    assert!(missing.is_empty(), "undocumented refusals: {missing:#?}");
}

/// A 401 says how to authenticate and a 503 when to retry: every such response documents the
/// header the server sends with it (`/health/ready`'s own 503 did not).
#[test]
fn every_401_and_503_documents_its_header() {
    let doc = serde_json::to_value(crm_http::openapi()).unwrap();
    let mut missing = Vec::new();
    for (name, op) in operations(&doc) {
        for (code, header) in [("401", "WWW-Authenticate"), ("503", "Retry-After")] {
            if let Some(r) = op["responses"].get(code)
                && !resolved(&doc, r)["headers"][header].is_object()
            {
                missing.push(format!("{name} {code} {header}"));
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}
