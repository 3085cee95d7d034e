//! `docs/openapi.json` is the committed copy of the generated document: it must not drift.
#![allow(missing_docs, clippy::unwrap_used)]

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

/// OpenAPI 3.1 (§4.8.17.1) requires a `description` on every response object; client
/// generators reject a document that lacks one.
#[test]
fn every_response_has_a_description() {
    let doc = serde_json::to_value(crm_http::openapi()).unwrap();
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (code, r) in op["responses"].as_object().unwrap() {
                if r["description"].as_str().is_none_or(str::is_empty) {
                    missing.push(format!("{} {path} {code}", method.to_uppercase()));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "responses without a description: {missing:?}"
    );
}
