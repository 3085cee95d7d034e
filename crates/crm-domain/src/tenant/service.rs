//! Use cases on tenants: creation (operators: the CLI), reading one, and its settings.

use std::sync::Arc;

use super::model::Tenant;
use super::ports::{TenantRepository, load};
use crate::access::{Actor, Permission};
use crate::error::{DomainError, FieldError};
use crate::ids::{TenantId, TierId};
use crate::loyalty::{LoyaltySettings, Tier, default_tiers};
use crate::ports::{Clock, IdGenerator};
use crate::values::{Amount, CountryCode, CurrencyCode};

/// What is needed to create a tenant.
#[derive(Debug, Clone, Default)]
pub struct NewTenant {
    /// Name, 1..=255 characters.
    pub name: String,
    /// ISO 3166-1 alpha-2 country, optional.
    pub country: Option<String>,
    /// ISO 4217 currency; `USD` when absent.
    pub currency: Option<String>,
}

/// Use cases on tenants (operators only: the CLI, not the tenant-scoped HTTP API).
pub struct TenantService {
    repo: Arc<dyn TenantRepository>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl TenantService {
    /// Wires the service.
    pub fn new(
        repo: Arc<dyn TenantRepository>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self { repo, clock, ids }
    }

    /// Creates a tenant with the default tiers ([`default_tiers`]).
    ///
    /// # Errors
    /// [`DomainError::Validation`] for an empty name or an unknown country or currency code.
    #[tracing::instrument(name = "TenantService::create", skip_all)]
    pub async fn create(&self, input: NewTenant) -> Result<Tenant, DomainError> {
        let mut errors = Vec::new();
        let name = input.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 255 {
            errors.push(FieldError::new(
                "name",
                "required",
                "name must be 1..=255 characters",
            ));
        } else if let Err(e) =
            crate::values::check_text("name", &name, crate::values::TextKind::SingleLine)
        {
            errors.push(e);
        }
        let default_country = match input.country.as_deref() {
            None => None,
            Some(c) => {
                let parsed = CountryCode::parse(c);
                if parsed.is_none() {
                    errors.push(FieldError::new(
                        "country",
                        "invalid_country",
                        format!("`{c}` is not an ISO 3166-1 alpha-2 code"),
                    ));
                }
                parsed
            }
        };
        let currency_raw = input.currency.as_deref().unwrap_or("USD");
        let default_currency = CurrencyCode::parse(currency_raw);
        if default_currency.is_none() {
            errors.push(FieldError::new(
                "currency",
                "invalid_currency",
                format!("`{currency_raw}` is not an ISO 4217 code"),
            ));
        }
        let (Some(default_currency), true) = (default_currency, errors.is_empty()) else {
            return Err(DomainError::Validation(errors));
        };
        let tenant = Tenant {
            id: TenantId(self.ids.new_id()),
            name,
            default_country,
            default_currency,
            settings: serde_json::Map::new(),
            created_at: self.clock.now(),
        };
        let tiers: Vec<Tier> = default_tiers()
            .into_iter()
            .map(|(name, level, min_spend, percent, colour)| Tier {
                id: TierId(self.ids.new_id()),
                tenant_id: tenant.id,
                name: name.to_owned(),
                level,
                min_spend: Amount::from_scaled(min_spend * 10_000),
                discount_percent: rust_decimal::Decimal::from(percent),
                benefits: serde_json::Map::new(),
                colour: Some(colour.to_owned()),
            })
            .collect();
        self.repo.insert(&tenant, &tiers).await?;
        Ok(tenant)
    }

    /// Merges `patch` into the caller's tenant settings (RFC 7396: `null` removes a key) and
    /// checks the loyalty keys (`points_unit`, `tier_downgrade`; see
    /// [`crate::loyalty::LoyaltySettings`]) and `sales_scope` (`all` or `assigned`; see
    /// [`super::sales_scope_setting`]). Needs `customers.manage`.
    ///
    /// # Errors
    /// [`DomainError::Validation`] naming the bad key; [`DomainError::Forbidden`].
    #[tracing::instrument(name = "TenantService::update_settings", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn update_settings(
        &self,
        actor: &Actor,
        patch: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Tenant, DomainError> {
        actor.require(Permission::CustomersManage)?;
        for (key, value) in &patch {
            crate::values::check_text("settings", key, crate::values::TextKind::SingleLine)
                .and_then(|()| crate::values::check_json_text(key, value))
                .map_err(|e| DomainError::Validation(vec![e]))?;
        }
        let mut tenant = self.get(actor.tenant_id).await?;
        let old = tenant.settings.clone();
        for (key, value) in patch {
            if value.is_null() {
                tenant.settings.remove(&key);
            } else {
                tenant.settings.insert(key, value);
            }
        }
        let errors: Vec<FieldError> = [
            LoyaltySettings::from_settings(&tenant.settings).err(),
            super::model::sales_scope_setting(&tenant.settings).err(),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        let changes = crate::event::field_changes(&old, &tenant.settings, &[]);
        let event = crate::event::NewEvent::new(
            actor,
            "tenant.settings_updated",
            crate::event::EntityType::Tenant,
            tenant.id.0,
            self.clock.now(),
        )
        .data(serde_json::json!({
            "tenant_id": tenant.id.0,
            "keys": changes.keys().collect::<Vec<_>>(),
        }))
        .changes(changes);
        self.repo
            .save_settings(tenant.id, &tenant.settings, &[event])
            .await?;
        Ok(tenant)
    }

    /// The caller's own tenant (needs `customers.view`).
    ///
    /// # Errors
    /// [`DomainError::Forbidden`]; [`DomainError::NotFound`] when the token names a tenant that
    /// does not exist.
    #[tracing::instrument(name = "TenantService::current", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn current(&self, actor: &Actor) -> Result<Tenant, DomainError> {
        actor.require(Permission::CustomersView)?;
        self.get(actor.tenant_id).await
    }

    /// The tenant with this id (operators: the CLI; the API uses [`TenantService::current`]).
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when there is none.
    #[tracing::instrument(name = "TenantService::get", skip_all, fields(tenant_id = %id))]
    pub async fn get(&self, id: TenantId) -> Result<Tenant, DomainError> {
        load(self.repo.as_ref(), id).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::ports::MockTenantRepository;
    use super::*;
    use crate::testing::{clock, ids};
    use chrono::Utc;

    fn service(repo: MockTenantRepository) -> TenantService {
        TenantService::new(Arc::new(repo), Arc::new(clock(Utc::now)), Arc::new(ids()))
    }

    #[tokio::test]
    async fn create_stores_a_tenant_with_its_defaults() {
        let mut repo = MockTenantRepository::new();
        repo.expect_insert()
            .withf(|t, tiers| {
                t.name == "Toko Maju"
                    && t.default_country.map(|c| c.as_str()) == Some("ID")
                    && t.default_currency.as_str() == "IDR"
                    && tiers.iter().map(|x| x.name.as_str()).collect::<Vec<_>>()
                        == ["Bronze", "Silver", "Gold", "Platinum"]
                    && tiers.iter().all(|x| x.tenant_id == t.id)
            })
            .times(1)
            .returning(|_, _| Ok(()));
        let t = service(repo)
            .create(NewTenant {
                name: " Toko Maju ".into(),
                country: Some("id".into()),
                currency: Some("idr".into()),
            })
            .await
            .unwrap();
        assert_eq!(t.name, "Toko Maju");
    }

    #[tokio::test]
    async fn create_refuses_unknown_codes_without_storing() {
        let mut repo = MockTenantRepository::new();
        repo.expect_insert().never();
        let err = service(repo)
            .create(NewTenant {
                name: "X".into(),
                country: Some("XX".into()),
                currency: Some("ABC".into()),
            })
            .await
            .unwrap_err();
        let DomainError::Validation(errors) = err else {
            panic!("{err:?}")
        };
        assert_eq!(
            errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            vec!["country", "currency"]
        );
    }

    fn settings(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        let serde_json::Value::Object(m) = v else {
            panic!("{v}")
        };
        m
    }

    #[tokio::test]
    async fn sales_scope_is_saved_when_all_or_assigned_and_refused_otherwise() {
        let mut repo = crate::testing::tenants(Utc::now);
        repo.expect_save_settings()
            .withf(|_, s, _| s.get("sales_scope") == Some(&serde_json::json!("assigned")))
            .times(1)
            .returning(|_, _, _| Ok(()));
        let svc = service(repo);
        let admin = crate::testing::actor("admin");
        let t = svc
            .update_settings(
                &admin,
                settings(serde_json::json!({"sales_scope": "assigned"})),
            )
            .await
            .unwrap();
        assert_eq!(t.sales_scope(), Ok(crate::access::SalesScope::Assigned));
        let err = svc
            .update_settings(&admin, settings(serde_json::json!({"sales_scope": "mine"})))
            .await
            .unwrap_err();
        assert_eq!(
            crate::testing::field_codes(err),
            [("sales_scope".to_owned(), "invalid")]
        );
        let err = svc
            .update_settings(
                &crate::testing::actor("manager"),
                settings(serde_json::json!({"sales_scope": "all"})),
            )
            .await
            .unwrap_err();
        assert_eq!(err, DomainError::Forbidden(Permission::CustomersManage));
    }

    #[tokio::test]
    async fn a_settings_update_hands_tenant_settings_updated_with_its_changes_to_the_save() {
        let mut repo = crate::testing::tenants(Utc::now);
        repo.expect_save_settings()
            .withf(|id, _, events| {
                let [e] = events else { return false };
                e.event_type == "tenant.settings_updated"
                    && e.entity_type == crate::event::EntityType::Tenant
                    && e.entity_id == id.0
                    && e.customer_id.is_none()
                    && e.actor.sub == "user-1"
                    && e.actor.role.as_deref() == Some("admin")
                    && e.data["keys"] == serde_json::json!(["points_unit"])
                    && e.changes["points_unit"]
                        == [serde_json::Value::Null, serde_json::json!("5000")]
                    && e.changes.len() == 1
            })
            .times(1)
            .returning(|_, _, _| Ok(()));
        service(repo)
            .update_settings(
                &crate::testing::actor("admin"),
                settings(serde_json::json!({"points_unit": "5000"})),
            )
            .await
            .unwrap();
    }
}
