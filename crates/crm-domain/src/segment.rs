//! Customer segments (the product documents' `customer_segments`): named groups of a tenant's
//! customers of three types.
//!
//! - `manual`: members are added and removed explicitly.
//! - `auto`: a rule in the filter language of the customer list (see
//!   [`crate::customer::filter`]), RFM fields included; evaluated by the database on every read,
//!   so membership follows data changes.
//! - `rfm`: one or more RFM segments (see [`crate::analytics::rfm`]); as `auto` with the rule
//!   `rfm_segment in [...]`.
//!
//! Every type yields one [`Filter`], so listing a segment's customers, counting them and testing
//! a customer's membership are ordinary filtered customer queries.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::access::{Actor, Permission};
use crate::analytics::rfm::RfmSegment;
use crate::customer::filter::Filter;
use crate::customer::{CustomerQuery, CustomerRepository, Deleted};
use crate::error::{DomainError, FieldError, RepositoryError};
use crate::ids::{CustomerId, SegmentId, TenantId, UserId};
use crate::ports::{Clock, IdGenerator, truncate_to_micros};
use crate::values::Amount;

/// Most customers added or removed in one request.
pub const MAX_MEMBER_CHANGE: usize = 1_000;

string_enum!(
    /// How a segment's members are decided.
    SegmentType {
        /// Explicit members.
        Manual => "manual",
        /// A filter-language rule.
        Auto => "auto",
        /// RFM segments.
        Rfm => "rfm",
    }
);

/// The rule of a segment.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentRule {
    /// Explicit members.
    Manual,
    /// A filter in the filter language (as stored JSON).
    Auto(Value),
    /// One or more RFM segments.
    Rfm(Vec<RfmSegment>),
}

/// A stored segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Id.
    pub id: SegmentId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// 1..=100 characters, unique in the tenant.
    pub name: String,
    /// Free text, at most 1,000 characters.
    pub description: Option<String>,
    /// The rule.
    pub rule: SegmentRule,
    /// Creator.
    pub created_by: Option<UserId>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Segment {
    /// Its type.
    pub fn segment_type(&self) -> SegmentType {
        match self.rule {
            SegmentRule::Manual => SegmentType::Manual,
            SegmentRule::Auto(_) => SegmentType::Auto,
            SegmentRule::Rfm(_) => SegmentType::Rfm,
        }
    }

    /// The customers of the segment as a filter.
    ///
    /// # Errors
    /// A stored rule that no longer parses (reported as a repository error).
    pub fn filter(&self) -> Result<Filter, DomainError> {
        let json = match &self.rule {
            SegmentRule::Manual => {
                json!({"all": [{"field": "segment", "op": "eq", "value": self.id.0.to_string()}]})
            }
            SegmentRule::Auto(rule) => rule.clone(),
            SegmentRule::Rfm(segments) => json!({"all": [{"field": "rfm_segment", "op": "in",
                "value": segments.iter().map(|s| s.as_str()).collect::<Vec<_>>()}]}),
        };
        Filter::parse(&json, "filter").map_err(|_| {
            DomainError::Internal(format!("segment {}: stored rule is invalid", self.id))
        })
    }
}

/// A segment as submitted.
#[derive(Debug, Clone, Default)]
pub struct SegmentInput {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// `manual`, `auto` or `rfm`.
    pub segment_type: Option<String>,
    /// The rule of an `auto` segment.
    pub filter: Option<Value>,
    /// The RFM segments of an `rfm` segment.
    pub rfm_segments: Option<Vec<String>>,
}

fn validate(input: SegmentInput) -> Result<(String, Option<String>, SegmentRule), DomainError> {
    let mut errors = Vec::new();
    let name = input
        .name
        .as_deref()
        .map(str::trim)
        .unwrap_or("")
        .to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new(
            "name",
            "required",
            "name is 1..=100 characters",
        ));
    }
    let description = input.description.filter(|d| !d.trim().is_empty());
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 1_000)
    {
        errors.push(FieldError::new(
            "description",
            "too_long",
            "description is at most 1,000 characters",
        ));
    }
    let kind = match input.segment_type.as_deref().map(str::parse::<SegmentType>) {
        Some(Ok(k)) => Some(k),
        Some(Err(e)) => {
            errors.push(FieldError::new("segment_type", "invalid", e));
            None
        }
        None => {
            errors.push(FieldError::new(
                "segment_type",
                "required",
                "segment_type is manual, auto or rfm",
            ));
            None
        }
    };
    let rule = match kind {
        Some(SegmentType::Manual) => Some(SegmentRule::Manual),
        Some(SegmentType::Auto) => match &input.filter {
            None => {
                errors.push(FieldError::new(
                    "filter",
                    "required",
                    "an auto segment needs a filter",
                ));
                None
            }
            Some(f) => match Filter::parse(f, "filter") {
                Ok(_) => Some(SegmentRule::Auto(f.clone())),
                Err(e) => {
                    errors.extend(e);
                    None
                }
            },
        },
        Some(SegmentType::Rfm) => {
            let names = input.rfm_segments.clone().unwrap_or_default();
            let mut segments = Vec::new();
            for (i, n) in names.iter().enumerate() {
                match n.parse::<RfmSegment>() {
                    Ok(s) if !segments.contains(&s) => segments.push(s),
                    Ok(_) => {}
                    Err(e) => {
                        errors.push(FieldError::new(format!("rfm_segments[{i}]"), "invalid", e))
                    }
                }
            }
            if names.is_empty() {
                errors.push(FieldError::new(
                    "rfm_segments",
                    "required",
                    "an rfm segment needs one or more RFM segments",
                ));
            }
            Some(SegmentRule::Rfm(segments))
        }
        None => None,
    };
    if kind != Some(SegmentType::Auto) && input.filter.is_some() {
        errors.push(FieldError::new(
            "filter",
            "not_allowed",
            "only auto segments have a filter",
        ));
    }
    if kind != Some(SegmentType::Rfm) && input.rfm_segments.is_some() {
        errors.push(FieldError::new(
            "rfm_segments",
            "not_allowed",
            "only rfm segments have rfm_segments",
        ));
    }
    match rule {
        Some(rule) if errors.is_empty() => Ok((name, description, rule)),
        _ => Err(DomainError::Validation(errors)),
    }
}

/// Storage of segments and of manual segments' members.
///
/// # Errors
/// [`RepositoryError::Conflict`] on `name` when another segment of the tenant has it.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait SegmentRepository: Send + Sync {
    /// The tenant's segments by name.
    async fn list(&self, tenant: TenantId) -> Result<Vec<Segment>, RepositoryError>;
    /// One segment.
    async fn find(
        &self,
        tenant: TenantId,
        id: SegmentId,
    ) -> Result<Option<Segment>, RepositoryError>;
    /// Inserts or replaces a segment.
    async fn save(&self, segment: &Segment) -> Result<(), RepositoryError>;
    /// Deletes a segment and its members.
    async fn delete(&self, tenant: TenantId, id: SegmentId) -> Result<(), RepositoryError>;
    /// Adds live customers of the tenant to a manual segment (already members are kept), in one
    /// transaction; returns the ids that are not live customers of the tenant (nothing is
    /// added then).
    async fn add_members(
        &self,
        tenant: TenantId,
        id: SegmentId,
        customers: Vec<CustomerId>,
        at: DateTime<Utc>,
    ) -> Result<Vec<CustomerId>, RepositoryError>;
    /// Removes customers from a manual segment; returns how many were members.
    async fn remove_members(
        &self,
        tenant: TenantId,
        id: SegmentId,
        customers: Vec<CustomerId>,
    ) -> Result<u64, RepositoryError>;
}

/// A segment with its current size and value.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentWithTotals {
    /// The segment.
    pub segment: Segment,
    /// Live customers in it now.
    pub customer_count: u64,
    /// Σ total_spent of those customers per currency.
    pub total_revenue: Vec<(String, Amount)>,
}

/// Segment use cases. Reading needs `customers.view`; writing `customers.manage`.
pub struct SegmentService {
    repo: Arc<dyn SegmentRepository>,
    customers: Arc<dyn CustomerRepository>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl SegmentService {
    /// Wires the service.
    pub fn new(
        repo: Arc<dyn SegmentRepository>,
        customers: Arc<dyn CustomerRepository>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self {
            repo,
            customers,
            clock,
            ids,
        }
    }

    fn query(&self, filter: Filter) -> CustomerQuery {
        CustomerQuery {
            filter,
            sort: vec![],
            deleted: Deleted::Exclude,
            limit: 1,
            after: None,
            offset: None,
            now: self.clock.now(),
            search: None,
        }
    }

    async fn totals(&self, segment: Segment) -> Result<SegmentWithTotals, DomainError> {
        let q = self.query(segment.filter()?);
        let now = self.clock.now();
        let a = self
            .customers
            .aggregates(segment.tenant_id, &q, now, now)
            .await?;
        Ok(SegmentWithTotals {
            segment,
            customer_count: a.count,
            total_revenue: a.by_currency.into_iter().map(|(c, _, s)| (c, s)).collect(),
        })
    }

    /// The tenant's segments with their sizes, by name.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`].
    pub async fn list(&self, actor: &Actor) -> Result<Vec<SegmentWithTotals>, DomainError> {
        actor.require(Permission::CustomersView)?;
        let mut out = Vec::new();
        for s in self.repo.list(actor.tenant_id).await? {
            out.push(self.totals(s).await?);
        }
        Ok(out)
    }

    async fn load(&self, actor: &Actor, id: SegmentId) -> Result<Segment, DomainError> {
        self.repo
            .find(actor.tenant_id, id)
            .await?
            .ok_or(DomainError::NotFound { entity: "segment" })
    }

    /// One segment with its size.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when absent or another tenant's.
    pub async fn get(
        &self,
        actor: &Actor,
        id: SegmentId,
    ) -> Result<SegmentWithTotals, DomainError> {
        actor.require(Permission::CustomersView)?;
        let s = self.load(actor, id).await?;
        self.totals(s).await
    }

    /// The filter selecting a segment's customers (for listing them with the list's options).
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when absent or another tenant's.
    pub async fn filter(&self, actor: &Actor, id: SegmentId) -> Result<Filter, DomainError> {
        actor.require(Permission::CustomersView)?;
        self.load(actor, id).await?.filter()
    }

    /// Creates a segment.
    ///
    /// # Errors
    /// [`DomainError::Validation`] naming the field; [`DomainError::Conflict`] on `name`.
    pub async fn create(
        &self,
        actor: &Actor,
        input: SegmentInput,
    ) -> Result<SegmentWithTotals, DomainError> {
        actor.require(Permission::CustomersManage)?;
        let (name, description, rule) = validate(input)?;
        let now = truncate_to_micros(self.clock.now());
        let s = Segment {
            id: SegmentId(self.ids.new_id()),
            tenant_id: actor.tenant_id,
            name,
            description,
            rule,
            created_by: Some(actor.user_id.clone()),
            created_at: now,
            updated_at: now,
        };
        self.repo.save(&s).await?;
        self.totals(s).await
    }

    /// Replaces a segment's name, description and rule. Changing a manual segment's type drops
    /// its members.
    ///
    /// # Errors
    /// As [`SegmentService::create`]; [`DomainError::NotFound`].
    pub async fn replace(
        &self,
        actor: &Actor,
        id: SegmentId,
        input: SegmentInput,
    ) -> Result<SegmentWithTotals, DomainError> {
        actor.require(Permission::CustomersManage)?;
        let old = self.load(actor, id).await?;
        let (name, description, rule) = validate(input)?;
        let s = Segment {
            name,
            description,
            rule,
            updated_at: truncate_to_micros(self.clock.now()),
            ..old
        };
        self.repo.save(&s).await?;
        self.totals(s).await
    }

    /// Deletes a segment (members of a manual one go with it; customers stay).
    ///
    /// # Errors
    /// [`DomainError::NotFound`].
    pub async fn delete(&self, actor: &Actor, id: SegmentId) -> Result<(), DomainError> {
        actor.require(Permission::CustomersManage)?;
        self.load(actor, id).await?;
        Ok(self.repo.delete(actor.tenant_id, id).await?)
    }

    fn check_change(segment: &Segment, ids: &[CustomerId]) -> Result<(), DomainError> {
        if segment.segment_type() != SegmentType::Manual {
            return Err(DomainError::invalid(
                "customer_ids",
                "not_manual",
                "members are added to and removed from manual segments only",
            ));
        }
        if ids.is_empty() || ids.len() > MAX_MEMBER_CHANGE {
            return Err(DomainError::invalid(
                "customer_ids",
                "out_of_range",
                format!("1..={MAX_MEMBER_CHANGE} customer ids"),
            ));
        }
        Ok(())
    }

    /// Adds customers to a manual segment, all or nothing.
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `customer_ids` for a segment that is not manual, an empty
    /// or too long list, or ids that are not live customers of the tenant (named in the
    /// message); [`DomainError::NotFound`] for the segment.
    pub async fn add_members(
        &self,
        actor: &Actor,
        id: SegmentId,
        ids: Vec<CustomerId>,
    ) -> Result<SegmentWithTotals, DomainError> {
        actor.require(Permission::CustomersManage)?;
        let s = self.load(actor, id).await?;
        Self::check_change(&s, &ids)?;
        let missing = self
            .repo
            .add_members(
                actor.tenant_id,
                id,
                ids,
                truncate_to_micros(self.clock.now()),
            )
            .await?;
        if !missing.is_empty() {
            return Err(DomainError::invalid(
                "customer_ids",
                "not_found",
                format!(
                    "not customers of this tenant: {}",
                    missing
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        self.totals(s).await
    }

    /// Removes customers from a manual segment (ids that are not members are ignored).
    ///
    /// # Errors
    /// As [`SegmentService::add_members`], without the unknown-id check.
    pub async fn remove_members(
        &self,
        actor: &Actor,
        id: SegmentId,
        ids: Vec<CustomerId>,
    ) -> Result<SegmentWithTotals, DomainError> {
        actor.require(Permission::CustomersManage)?;
        let s = self.load(actor, id).await?;
        Self::check_change(&s, &ids)?;
        self.repo.remove_members(actor.tenant_id, id, ids).await?;
        self.totals(s).await
    }

    /// The segments a customer belongs to now, by name.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for a missing or another tenant's customer.
    pub async fn of_customer(
        &self,
        actor: &Actor,
        customer: CustomerId,
    ) -> Result<Vec<Segment>, DomainError> {
        actor.require(Permission::CustomersView)?;
        crate::customer::load_live(self.customers.as_ref(), actor.tenant_id, customer).await?;
        let this = Filter::parse(
            &json!({"all": [{"field": "id", "op": "eq", "value": customer.0.to_string()}]}),
            "id",
        )
        .map_err(|_| DomainError::invalid("id", "invalid", "not a customer id"))?;
        let mut out = Vec::new();
        for s in self.repo.list(actor.tenant_id).await? {
            let q = self.query(s.filter()?.and(this.clone()));
            if self.customers.count(actor.tenant_id, &q).await? > 0 {
                out.push(s);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(kind: &str) -> SegmentInput {
        SegmentInput {
            name: Some("Big spenders".into()),
            segment_type: Some(kind.into()),
            ..Default::default()
        }
    }

    #[test]
    fn each_type_needs_its_own_rule_and_nothing_else() {
        assert!(validate(input("manual")).is_ok());
        let errors = |i| match validate(i) {
            Err(DomainError::Validation(e)) => e.into_iter().map(|e| e.field).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(errors(input("auto")), ["filter"]);
        assert_eq!(errors(input("rfm")), ["rfm_segments"]);
        assert_eq!(errors(input("weekly")), ["segment_type"]);
        let mut bad = input("rfm");
        bad.rfm_segments = Some(vec!["champions".into(), "heroes".into()]);
        assert_eq!(errors(bad), ["rfm_segments[1]"]);
        let mut bad = input("auto");
        bad.filter = Some(json!({"all": [{"field": "shoe_size", "op": "eq", "value": 1}]}));
        assert_eq!(errors(bad), ["filter.all[0].field"]);
        let mut bad = input("manual");
        bad.filter = Some(json!({}));
        assert_eq!(errors(bad), ["filter"]);
    }

    #[test]
    fn the_rule_becomes_one_filter() {
        let (name, _, rule) = validate(SegmentInput {
            rfm_segments: Some(vec!["champions".into(), "at_risk".into()]),
            ..input("rfm")
        })
        .unwrap();
        let s = Segment {
            id: SegmentId(uuid::Uuid::nil()),
            tenant_id: TenantId(uuid::Uuid::nil()),
            name,
            description: None,
            rule,
            created_by: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let f = s.filter().unwrap();
        assert_eq!(f.groups.len(), 1);
        assert!(f.mentions(crate::customer::filter::Field::RfmSegment));
        let manual = Segment {
            rule: SegmentRule::Manual,
            ..s
        };
        assert!(
            manual
                .filter()
                .unwrap()
                .mentions(crate::customer::filter::Field::Segment)
        );
    }
}
