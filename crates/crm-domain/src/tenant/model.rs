//! The tenant model.

use chrono::{DateTime, Utc};

use serde_json::{Map, Value};

use crate::access::{Actor, SalesScope, Visibility};
use crate::error::{DomainError, FieldError};
use crate::ids::TenantId;
use crate::values::{CountryCode, CurrencyCode};

/// A tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    /// Id (UUID v7).
    pub id: TenantId,
    /// Display name, 1..=255 characters.
    pub name: String,
    /// Country national phone numbers are read in when a customer has none.
    pub default_country: Option<CountryCode>,
    /// Currency of customers that name none.
    pub default_currency: CurrencyCode,
    /// Tenant settings (JSON object): `points_unit` and `tier_downgrade`
    /// ([`crate::loyalty::LoyaltySettings`]), `sales_scope` ([`Tenant::sales_scope`]).
    pub settings: Map<String, Value>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl Tenant {
    /// The tenant's `sales_scope` setting ([`SalesScope`]; `all` when absent). It was checked
    /// when saved, so a value that no longer parses is an internal error.
    ///
    /// # Errors
    /// [`DomainError::Internal`] naming the tenant when the stored value is not `all` or
    /// `assigned`.
    pub fn sales_scope(&self) -> Result<SalesScope, DomainError> {
        sales_scope_setting(&self.settings).map_err(|e| {
            DomainError::Internal(format!(
                "tenant {} has an invalid sales_scope: {}",
                self.id, e.message
            ))
        })
    }

    /// Which of this tenant's customers `actor` (one of its callers) reaches:
    /// [`Visibility::of`] the actor and [`Tenant::sales_scope`]. The setting is read only when
    /// it can restrict the actor ([`Visibility::may_restrict`]).
    ///
    /// # Errors
    /// As [`Tenant::sales_scope`].
    pub fn visibility_of(&self, actor: &Actor) -> Result<Visibility, DomainError> {
        if Visibility::may_restrict(actor) {
            Ok(Visibility::of(actor, self.sales_scope()?))
        } else {
            Ok(Visibility::All)
        }
    }
}

/// Reads the `sales_scope` key of a settings object: absent or `null` is [`SalesScope::All`];
/// otherwise the string `all` or `assigned`.
///
/// # Errors
/// A [`FieldError`] on `sales_scope` (code `invalid`) quoting any other value.
pub fn sales_scope_setting(settings: &Map<String, Value>) -> Result<SalesScope, FieldError> {
    match settings.get(SalesScope::SETTING) {
        None | Some(Value::Null) => Ok(SalesScope::All),
        Some(v) => v.as_str().and_then(SalesScope::parse).ok_or_else(|| {
            FieldError::new(
                SalesScope::SETTING,
                "invalid",
                format!("{v} is not a sales scope: use \"all\" or \"assigned\""),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(v: Value) -> Map<String, Value> {
        let Value::Object(m) = v else { panic!() };
        m
    }

    #[test]
    fn sales_scope_defaults_to_all_and_reads_assigned() {
        assert_eq!(sales_scope_setting(&Map::new()), Ok(SalesScope::All));
        assert_eq!(
            sales_scope_setting(&settings(json!({"sales_scope": null}))),
            Ok(SalesScope::All)
        );
        assert_eq!(
            sales_scope_setting(&settings(json!({"sales_scope": "assigned"}))),
            Ok(SalesScope::Assigned)
        );
    }

    #[test]
    fn any_other_sales_scope_names_the_field_and_quotes_the_value() {
        for bad in [
            json!("mine"),
            json!(true),
            json!(["assigned"]),
            json!("ALL"),
        ] {
            let e = sales_scope_setting(&settings(json!({"sales_scope": bad}))).unwrap_err();
            assert_eq!((e.field.as_str(), e.code), ("sales_scope", "invalid"));
            assert!(e.message.contains(&bad.to_string()), "{}", e.message);
        }
    }
}
