//! Membership tiers of a tenant: the tier catalogue's use cases (the rules of tiers themselves
//! are in [`super::rules`]).

use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::error::DeleteTierError;
use super::model::Tier;
use super::ports::TierRepository;
use crate::access::{Actor, Permission};
use crate::error::{DomainError, FieldError, RepositoryError};
use crate::ids::{TenantId, TierId};
use crate::ports::{Clock, IdGenerator};
use crate::values::Amount;
use crate::values::Percent;
use crate::values::{TextKind, check_json_text, check_text};

/// A tier as submitted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TierInput {
    /// 1..=100 characters, unique per tenant.
    pub name: Option<String>,
    /// Rank, unique per tenant, 1..=1000.
    pub level: Option<i32>,
    /// Minimum `total_spent` to qualify, in the tenant currency.
    pub min_spend: Option<Decimal>,
    /// Discount, percent 0..=100 (2 decimals).
    pub discount_percent: Option<Decimal>,
    /// Benefits (JSON object).
    pub benefits: Option<Value>,
    /// `#RRGGBB`.
    pub colour: Option<String>,
}

impl TierInput {
    /// Checks the fields (all but `benefits` and `colour` are required).
    ///
    /// # Errors
    /// Every broken rule.
    pub fn validate(self, id: TierId, tenant: TenantId) -> Result<Tier, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = self
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty() && n.chars().count() <= 100);
        if name.is_none() {
            errors.push(FieldError::new("name", "required", "1..=100 characters"));
        } else if let Some(Err(e)) = name
            .as_deref()
            .map(|n| check_text("name", n, TextKind::SingleLine))
        {
            errors.push(e);
        }
        let level = self.level.filter(|l| (1..=1000).contains(l));
        if level.is_none() {
            errors.push(FieldError::new("level", "required", "an integer 1..=1000"));
        }
        let min_spend = self.min_spend.and_then(|m| Amount::new(m).ok());
        if min_spend.is_none() {
            errors.push(FieldError::new(
                "min_spend",
                "required",
                "an amount ≥ 0 with at most 4 decimals",
            ));
        }
        let discount = match self.discount_percent {
            None => {
                errors.push(FieldError::new(
                    "discount_percent",
                    "required",
                    "a percentage 0..=100",
                ));
                None
            }
            Some(p) => Percent::for_field("discount_percent", p)
                .map(|p| p.value())
                .map_err(|e| errors.push(e))
                .ok(),
        };
        let benefits = match self.benefits {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => {
                if let Err(e) = check_json_text("benefits", &Value::Object(m.clone())) {
                    errors.push(e);
                }
                m
            }
            Some(_) => {
                errors.push(FieldError::new(
                    "benefits",
                    "not_an_object",
                    "must be a JSON object",
                ));
                Map::new()
            }
        };
        let colour = self
            .colour
            .map(|c| c.trim().to_uppercase())
            .filter(|c| !c.is_empty());
        if colour.as_ref().is_some_and(|c| {
            c.len() != 7 || !c.starts_with('#') || !c[1..].chars().all(|x| x.is_ascii_hexdigit())
        }) {
            errors.push(FieldError::new("colour", "invalid", "must be #RRGGBB"));
        }
        match (name, level, min_spend, discount, errors.is_empty()) {
            (Some(name), Some(level), Some(min_spend), Some(discount_percent), true) => Ok(Tier {
                id,
                tenant_id: tenant,
                name,
                level,
                min_spend,
                discount_percent,
                benefits,
                colour,
            }),
            _ => Err(errors),
        }
    }
}

/// Use cases on tiers: listing needs `customers.view`, changes `customers.manage`. Each change
/// appends its `tier.created` / `tier.updated` / `tier.deleted` event in the write's
/// transaction ([`super::events`]).
pub struct TierService {
    tiers: Arc<dyn TierRepository>,
    ids: Arc<dyn IdGenerator>,
    clock: Arc<dyn Clock>,
}

fn taken(e: RepositoryError) -> DomainError {
    match e {
        RepositoryError::Conflict { field } => DomainError::Conflict {
            message: format!("another tier of this tenant has this {field}"),
            field,
            existing_id: None,
        },
        other => other.into(),
    }
}

impl TierService {
    /// Wires the service; `clock` dates the events.
    pub fn new(
        tiers: Arc<dyn TierRepository>,
        ids: Arc<dyn IdGenerator>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { tiers, ids, clock }
    }

    /// The tenant's tiers by level.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`].
    #[tracing::instrument(name = "TierService::list", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn list(&self, actor: &Actor) -> Result<Vec<Tier>, DomainError> {
        actor.require(Permission::CustomersView)?;
        Ok(self.tiers.list(actor.tenant_id).await?)
    }

    /// One tier.
    ///
    /// # Errors
    /// [`DomainError::NotFound`].
    #[tracing::instrument(name = "TierService::get", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, tier_id = %id))]
    pub async fn get(&self, actor: &Actor, id: TierId) -> Result<Tier, DomainError> {
        actor.require(Permission::CustomersView)?;
        self.tiers
            .find(actor.tenant_id, id)
            .await?
            .ok_or(DomainError::NotFound { entity: "tier" })
    }

    /// Creates a tier.
    ///
    /// # Errors
    /// [`DomainError::Validation`]; [`DomainError::Conflict`] on `name` or `level`.
    #[tracing::instrument(name = "TierService::create", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn create(&self, actor: &Actor, input: TierInput) -> Result<Tier, DomainError> {
        actor.require(Permission::CustomersManage)?;
        let tier = input
            .validate(TierId(self.ids.new_id()), actor.tenant_id)
            .map_err(DomainError::Validation)?;
        let event = super::events::tier_event(actor, "created", &tier, self.clock.now());
        self.tiers.insert(&tier, &[event]).await.map_err(taken)?;
        Ok(tier)
    }

    /// Replaces a tier's fields. Customers keep their tier; the new thresholds apply from
    /// their next purchase.
    ///
    /// # Errors
    /// As [`TierService::create`], plus [`DomainError::NotFound`].
    #[tracing::instrument(name = "TierService::replace", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, tier_id = %id))]
    pub async fn replace(
        &self,
        actor: &Actor,
        id: TierId,
        input: TierInput,
    ) -> Result<Tier, DomainError> {
        actor.require(Permission::CustomersManage)?;
        let old = self.get(actor, id).await?;
        let tier = input
            .validate(id, actor.tenant_id)
            .map_err(DomainError::Validation)?;
        let event = super::events::tier_updated_event(actor, &old, &tier, self.clock.now());
        self.tiers.update(&tier, &[event]).await.map_err(taken)?;
        Ok(tier)
    }

    /// Deletes a tier no customer holds.
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; [`DeleteTierError::InUse`] (as [`DomainError::Rule`], with
    /// the number of customers) when customers hold it.
    #[tracing::instrument(name = "TierService::delete", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, tier_id = %id))]
    pub async fn delete(&self, actor: &Actor, id: TierId) -> Result<(), DomainError> {
        actor.require(Permission::CustomersManage)?;
        let tier = self.get(actor, id).await?;
        let event = super::events::tier_event(actor, "deleted", &tier, self.clock.now());
        match self
            .tiers
            .delete_unused(actor.tenant_id, id, &[event])
            .await?
        {
            0 => Ok(()),
            customers => Err(DeleteTierError::InUse { customers }.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn input() -> TierInput {
        TierInput {
            name: Some("Diamond".into()),
            level: Some(5),
            min_spend: Some(Decimal::from(50_000_000)),
            discount_percent: Some(Decimal::from(25)),
            benefits: None,
            colour: Some("#b9f2ff".into()),
        }
    }

    #[test]
    fn a_tier_needs_name_level_minimum_and_discount() {
        let errs = TierInput::default()
            .validate(TierId(Uuid::nil()), TenantId(Uuid::nil()))
            .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec!["name", "level", "min_spend", "discount_percent"]
        );
        let t = input()
            .validate(TierId(Uuid::nil()), TenantId(Uuid::nil()))
            .unwrap();
        assert_eq!(t.colour.as_deref(), Some("#B9F2FF"));
    }

    #[test]
    fn colours_are_hex_and_discounts_percentages() {
        let bad = TierInput {
            colour: Some("blue".into()),
            discount_percent: Some(Decimal::from(101)),
            ..input()
        };
        let fields: Vec<_> = bad
            .validate(TierId(Uuid::nil()), TenantId(Uuid::nil()))
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, vec!["discount_percent", "colour"]);
    }

    fn tiers_holding(holders: u64) -> TierService {
        let mut repo = crate::loyalty::MockTierRepository::new();
        repo.expect_find().returning(|tenant, id| {
            Ok(Some(
                input()
                    .validate(id, tenant)
                    .map_err(|e| RepositoryError::Other(format!("{e:?}")))?,
            ))
        });
        repo.expect_delete_unused()
            .times(1)
            .returning(move |_, _, _| Ok(holders));
        let mut ids = crate::ports::MockIdGenerator::new();
        ids.expect_new_id().returning(Uuid::now_v7);
        TierService::new(
            std::sync::Arc::new(repo),
            std::sync::Arc::new(ids),
            std::sync::Arc::new(crate::testing::clock(chrono::Utc::now)),
        )
    }

    fn admin() -> Actor {
        Actor::new(
            TenantId(Uuid::from_u128(1)),
            crate::ids::UserId::parse("u").unwrap(),
            ["admin"],
            [],
        )
    }

    #[tokio::test]
    async fn a_tier_customers_hold_is_not_deleted_and_the_error_counts_them() {
        let err = tiers_holding(3)
            .delete(&admin(), TierId(Uuid::from_u128(7)))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            DomainError::from(DeleteTierError::InUse { customers: 3 })
        );
        let DomainError::Rule(v) = err else {
            panic!("{err:?}")
        };
        assert_eq!(
            (v.rule, v.field.as_str()),
            (crate::error::Rule::TierInUse, "tier_id")
        );
        assert_eq!(v.facts["customers"], 3);
    }

    #[tokio::test]
    async fn a_tier_nobody_holds_is_deleted() {
        tiers_holding(0)
            .delete(&admin(), TierId(Uuid::from_u128(7)))
            .await
            .unwrap();
    }
}
