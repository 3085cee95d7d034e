//! Query-string parsing shared by list endpoints: unknown parameters and malformed values are
//! a 400 naming the parameter, never ignored.

use chrono::{DateTime, Utc};

use crate::problem::ApiError;

/// Calls `f(name, value)` for each parameter; a name not in `known` is a 400.
///
/// # Errors
/// The first error of `f`, or the unknown parameter.
pub fn each_param(
    query: &str,
    known: &[&str],
    mut f: impl FnMut(&str, &str) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if !known.contains(&name.as_ref()) {
            return Err(ApiError::bad(
                name.as_ref(),
                format!(
                    "unknown query parameter `{name}`; known: {}",
                    known.join(", ")
                ),
            ));
        }
        f(&name, &value)?;
    }
    Ok(())
}

/// A page size: 1..=200.
///
/// # Errors
/// A 400 naming `limit`.
pub fn limit(value: &str) -> Result<u32, ApiError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=crm_domain::customer::MAX_PAGE_SIZE).contains(n))
        .ok_or_else(|| {
            ApiError::bad(
                "limit",
                format!("`{value}` is not a number between 1 and 200"),
            )
        })
}

/// An RFC 3339 time.
///
/// # Errors
/// A 400 naming the parameter.
pub fn time(name: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::bad(
                name,
                format!("`{value}` is not an RFC 3339 time such as 2026-01-31T00:00:00Z"),
            )
        })
}

/// Comma-separated (or repeated) values of an enum, appended to `out`.
///
/// # Errors
/// A 400 naming the parameter for an unknown value.
pub fn values<T: std::str::FromStr<Err = String>>(
    name: &str,
    raw: &str,
    out: &mut Vec<T>,
) -> Result<(), ApiError> {
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        out.push(part.parse().map_err(|e: String| ApiError::bad(name, e))?);
    }
    Ok(())
}
