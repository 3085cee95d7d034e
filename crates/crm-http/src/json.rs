//! A JSON body extractor whose failures are problem details naming the offending field.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use crm_domain::{DomainError, FieldError};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::problem::ApiError;
use crate::state::AppState;

/// A JSON request body of type `T`.
///
/// - not `application/json` (or `application/*+json`) → 415;
/// - longer than the configured limit → 413;
/// - not JSON at all → 400 with the line and column;
/// - JSON of the wrong shape (wrong type, unknown enum value, unknown or missing field) → 422
///   naming the field by its path (`tags[2]`, `metadata`).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limits = BodyLimits::of(req);
        let payload = payload.take();
        Box::pin(async move { limits.read(payload).await.map(JsonBody) })
    }
}

/// An optional JSON request body of type `T`: `None` when the body is empty (or only
/// whitespace), whatever its content type; otherwise as [`JsonBody`] (415, 413, 400, 422).
#[derive(Debug)]
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limits = BodyLimits::of(req);
        let payload = payload.take();
        Box::pin(async move {
            let is_json = limits.is_json;
            let bytes = limits.read_bytes(payload).await?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJsonBody(None));
            }
            if !is_json {
                return Err(ApiError::UnsupportedMediaType);
            }
            parse_json(&bytes).map(|v| OptionalJsonBody(Some(v)))
        })
    }
}

/// Reads a JSON body of type `T` by the rules of [`JsonBody`], for a handler that checks
/// something first (a permission) and reads the body only then.
///
/// # Errors
/// As [`JsonBody`]: 415, 413, 400, or 422 naming the field.
pub async fn read_json<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, ApiError> {
    BodyLimits::of(req).read(payload).await
}

/// Whether a `Content-Type` names JSON: `application/json` or `application/<anything>+json`,
/// parameters (`; charset=utf-8`) and case aside.
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// What a request says about its body, and the configured limit.
struct BodyLimits {
    limit: usize,
    is_json: bool,
    declared_len: Option<usize>,
}

impl BodyLimits {
    fn of(req: &HttpRequest) -> Self {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map_or(1 << 20, |s| s.max_body_bytes);
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json);
        let declared_len = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        Self {
            limit,
            is_json,
            declared_len,
        }
    }

    /// 415 unless the body declares JSON (before a byte is read), then the body as `T`.
    async fn read<T, S, E>(self, payload: S) -> Result<T, ApiError>
    where
        T: DeserializeOwned,
        S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        if !self.is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_json(&self.read_bytes(payload).await?)
    }

    /// The body up to the configured limit: 413 beyond it, by `Content-Length` before reading
    /// or by the bytes read.
    async fn read_bytes<S, E>(self, mut payload: S) -> Result<web::BytesMut, ApiError>
    where
        S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let limit = self.limit;
        if self.declared_len.is_some_and(|n| n > limit) {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| ApiError::BadRequest {
                detail: format!("reading the body failed: {e}"),
                field: None,
            })?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Deserialises `bytes`, reporting shape errors with the path of the field.
///
/// # Errors
/// [`ApiError::BadRequest`] for bytes that are not JSON; a 422 validation error naming the
/// field for JSON of the wrong shape.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(shape_error)?;
    de.end().map_err(|e| ApiError::BadRequest {
        detail: format!("the body is not valid JSON: {e}"),
        field: None,
    })?;
    Ok(value)
}

/// Deserialises an already-parsed JSON value, reporting errors as [`parse_json`] does.
///
/// # Errors
/// A 422 validation error naming the field.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(shape_error)
}

fn shape_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    if matches!(
        inner.classify(),
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof
    ) {
        return ApiError::BadRequest {
            detail: format!("the body is not valid JSON: {inner}"),
            field: None,
        };
    }
    let message = strip_position(&inner.to_string());
    // serde names unknown and missing fields in the message, not in the path.
    let named = backticked(&message)
        .filter(|_| message.starts_with("unknown field") || message.starts_with("missing field"));
    let field = match (named, path.as_str()) {
        (Some(name), "." | "") => name.to_owned(),
        (Some(name), p) if p == name || p.ends_with(&format!(".{name}")) => p.to_owned(),
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, "." | "") => "body".to_owned(),
        (None, p) => p.to_owned(),
    };
    let code = if message.starts_with("unknown field") {
        "unknown_field"
    } else if message.starts_with("missing field") {
        "required"
    } else if message.starts_with("unknown variant") {
        "unknown_value"
    } else {
        "invalid_type"
    };
    ApiError::Domain(DomainError::Validation(vec![FieldError::new(
        field, code, message,
    )]))
}

fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        tags: Option<Vec<String>>,
    }

    fn field_of(err: ApiError) -> (String, &'static str) {
        match err {
            ApiError::Domain(DomainError::Validation(e)) => (e[0].field.clone(), e[0].code),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn syntax_errors_are_bad_requests() {
        assert!(matches!(
            parse_json::<Body>(b"{\"name\": "),
            Err(ApiError::BadRequest { .. })
        ));
        assert!(matches!(
            parse_json::<Body>(br#"{"name": "a"} trailing"#),
            Err(ApiError::BadRequest { .. })
        ));
    }

    #[test]
    fn wrong_types_name_the_field_path() {
        let err = parse_json::<Body>(br#"{"name": "a", "tags": ["x", 5]}"#).unwrap_err();
        assert_eq!(field_of(err), ("tags[1]".into(), "invalid_type"));
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        let err = parse_json::<Body>(br#"{"name": "a", "nmae": 1}"#).unwrap_err();
        assert_eq!(field_of(err), ("nmae".into(), "unknown_field"));
        let err = parse_json::<Body>(br#"{}"#).unwrap_err();
        assert_eq!(field_of(err), ("name".into(), "required"));
    }
}
