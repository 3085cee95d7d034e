//! Mapping of driver errors into the domain's [`RepositoryError`].

use crm_domain::RepositoryError;
use sea_orm::{DbErr, SqlErr};

/// Unique indexes and the API field each guards, as both backends name them in errors
/// (PostgreSQL: the index name; SQLite: `table.column`). Longer names first, so that
/// `mobile_phone` is not taken for `phone`.
const UNIQUE_FIELDS: [(&str, &str, &str); 6] = [
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
        "ux_customer_segments_name",
        "customer_segments.name",
        "name",
    ),
];

/// Maps a SeaORM error: unique violations to [`RepositoryError::Conflict`], connection
/// failures to [`RepositoryError::Unavailable`], the rest to [`RepositoryError::Other`].
pub fn map_db_err(err: DbErr) -> RepositoryError {
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
            if text.contains("database is locked")
                || text.contains("PoolTimedOut")
                || text.contains("connection refused")
            {
                RepositoryError::Unavailable(text)
            } else {
                RepositoryError::Other(text)
            }
        }
    }
}
