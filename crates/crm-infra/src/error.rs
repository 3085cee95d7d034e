//! Mapping of driver errors into the domain's [`RepositoryError`].

use crm_domain::RepositoryError;
use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// Unique indexes and the API field each guards, as both backends name them in errors
/// (PostgreSQL: the index name; SQLite: `table.column`). Longer names first, so that
/// `mobile_phone` is not taken for `phone`.
const UNIQUE_FIELDS: [(&str, &str, &str); 9] = [
    // Contacts first: their SQLite messages name `customer_contacts.<column>`.
    (
        "ux_customer_contacts_email",
        "customer_contacts.email",
        "contacts.email",
    ),
    (
        "ux_customer_contacts_primary",
        "customer_contacts.customer_id",
        "contacts.is_primary",
    ),
    (
        "ux_customers_mobile_phone",
        "customers.mobile_phone",
        "mobile_phone",
    ),
    (
        "ux_customers_external_ref",
        "customers.external_ref",
        "external_ref",
    ),
    ("ux_customers_email", "customers.email", "email"),
    ("ux_customers_phone", "customers.phone", "phone"),
    ("idempotency_keys", "idempotency_keys.", "idempotency_key"),
    (
        "ux_customer_addresses_default",
        "customer_addresses.",
        "is_default",
    ),
    (
        "ux_customer_segments_name",
        "customer_segments.name",
        "name",
    ),
];

/// A stored value that no longer reads as its domain type (`what` names it): corrupt data or a
/// bug, never the caller's fault.
pub(crate) fn corrupt(what: &str) -> RepositoryError {
    RepositoryError::Other(format!("stored {what} is invalid"))
}

/// A version-checked (or keyed) write's result: exactly one row written is success; none means
/// the row's version moved on or the row is gone ([`RepositoryError::Stale`]).
///
/// # Errors
/// [`RepositoryError::Stale`] when `rows_affected` is not 1.
pub(crate) fn exactly_one(rows_affected: u64) -> Result<(), RepositoryError> {
    if rows_affected == 1 {
        Ok(())
    } else {
        Err(RepositoryError::Stale)
    }
}

/// What a driver error says when the database is unreachable, restarting, shutting down or
/// overloaded: the request may succeed if retried, so it is a 503, not a 500. PostgreSQL's
/// class 57 (operator intervention: `57P01` admin shutdown, `57P02` crash shutdown, `57P03`
/// cannot connect now) and `57014` (statement timeout) included.
const UNAVAILABLE_SIGNS: &[&str] = &[
    "database is locked",
    "PoolTimedOut",
    "PoolClosed",
    "connection refused",
    "Connection refused",
    "Connection reset",
    "Broken pipe",
    "terminating connection",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "57P01",
    "57P02",
    "57P03",
    "57014",
    "canceling statement due to statement timeout",
];

/// The SQLSTATE of a database error (PostgreSQL; SQLite reports its result code), when the
/// driver has one.
fn sql_state(err: &DbErr) -> Option<String> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => match e.as_ref() {
            sea_orm::sqlx::Error::Database(d) => d.code().map(|c| c.into_owned()),
            _ => None,
        },
        _ => None,
    }
}

/// Whether a SQLSTATE says "retry later": class 57 (operator intervention: `57014`
/// query_canceled, which a `statement_timeout` raises, `57P01` admin shutdown, `57P02` crash
/// shutdown, `57P03` cannot connect now) and class 53 (insufficient resources:
/// `53300` too many connections, out of memory or disk).
fn is_transient_state(state: &str) -> bool {
    state.starts_with("57") || state.starts_with("53")
}

/// Maps a SeaORM error: unique violations to [`RepositoryError::Conflict`], connection
/// failures, cancelled statements (a statement timeout) and shutdowns to
/// [`RepositoryError::Unavailable`] (the driver's text, for the log: the client reads the
/// domain's sentence), the rest to [`RepositoryError::Other`].
pub fn map_db_err(err: DbErr) -> RepositoryError {
    if sql_state(&err).is_some_and(|s| is_transient_state(&s)) {
        return RepositoryError::Unavailable(err.to_string());
    }
    if let Some(SqlErr::UniqueConstraintViolation(message)) = err.sql_err() {
        for (index, column, field) in UNIQUE_FIELDS {
            if message.contains(index) || message.contains(column) {
                return RepositoryError::Conflict {
                    field: field.to_owned(),
                };
            }
        }
        return RepositoryError::Other(format!("unexpected unique violation: {message}"));
    }
    match err {
        DbErr::ConnectionAcquire(e) => RepositoryError::Unavailable(e.to_string()),
        DbErr::Conn(e) => RepositoryError::Unavailable(e.to_string()),
        other => {
            let text = other.to_string();
            if UNAVAILABLE_SIGNS.iter().any(|sign| text.contains(sign)) {
                RepositoryError::Unavailable(text)
            } else {
                RepositoryError::Other(text)
            }
        }
    }
}

#[cfg(test)]
mod unavailable_tests {
    use super::*;

    #[test]
    fn an_administrator_shutdown_or_restart_is_unavailable_not_a_bug() {
        for text in [
            "error returned from database: terminating connection due to administrator command",
            "error returned from database: the database system is shutting down",
            "pool timed out while waiting for an open connection (PoolTimedOut)",
        ] {
            assert!(
                matches!(
                    map_db_err(DbErr::Custom(text.into())),
                    RepositoryError::Unavailable(_)
                ),
                "{text}"
            );
        }
        assert!(matches!(
            map_db_err(DbErr::Custom("syntax error at or near".into())),
            RepositoryError::Other(_)
        ));
    }
}
