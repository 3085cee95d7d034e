//! Segment use cases: CRUD, members of manual segments, sizes and revenue, a segment's customers
//! and a customer's segments.

use std::sync::Arc;

use serde_json::json;

use super::model::{MAX_MEMBER_CHANGE, Segment, SegmentInput, SegmentType, validate};
use super::ports::SegmentRepository;
use crate::access::{Actor, Permission, Visibility};
use crate::customer::filter::{Condition, Field, Filter, Op, Operand};
use crate::customer::{CustomerQuery, CustomerRepository, Deleted};
use crate::error::DomainError;
use crate::ids::{CustomerId, SegmentId};
use crate::ports::{Clock, IdGenerator, truncate_to_micros};
use crate::tenant::TenantRepository;
use crate::values::AmountTotal;

/// A segment with its current size and value.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentWithTotals {
    /// The segment.
    pub segment: Segment,
    /// Live customers in it now.
    pub customer_count: u64,
    /// Σ total_spent of those customers per currency (exact sums).
    pub total_revenue: Vec<(String, AmountTotal)>,
}

/// Segment use cases. Reading needs `customers.view`; writing `customers.manage`. Sizes,
/// revenue, members and memberships count only the customers inside the caller's
/// [`Visibility`] (under `sales_scope: "assigned"`, a sales user's own customers).
pub struct SegmentService {
    repo: Arc<dyn SegmentRepository>,
    customers: Arc<dyn CustomerRepository>,
    tenants: Arc<dyn TenantRepository>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl SegmentService {
    /// Wires the service.
    pub fn new(
        repo: Arc<dyn SegmentRepository>,
        customers: Arc<dyn CustomerRepository>,
        tenants: Arc<dyn TenantRepository>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self {
            repo,
            customers,
            tenants,
            clock,
            ids,
        }
    }

    async fn visibility(&self, actor: &Actor) -> Result<Visibility, DomainError> {
        crate::tenant::visibility(self.tenants.as_ref(), actor).await
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

    async fn totals(
        &self,
        visibility: &Visibility,
        segment: Segment,
    ) -> Result<SegmentWithTotals, DomainError> {
        let q = self.query(segment.filter()?);
        let now = self.clock.now();
        let a = self
            .customers
            .aggregates(segment.tenant_id, visibility, &q, now, now)
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
    #[tracing::instrument(name = "SegmentService::list", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn list(&self, actor: &Actor) -> Result<Vec<SegmentWithTotals>, DomainError> {
        actor.require(Permission::CustomersView)?;
        let visibility = self.visibility(actor).await?;
        let mut out = Vec::new();
        for s in self.repo.list(actor.tenant_id).await? {
            out.push(self.totals(&visibility, s).await?);
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
    #[tracing::instrument(name = "SegmentService::get", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, segment_id = %id))]
    pub async fn get(
        &self,
        actor: &Actor,
        id: SegmentId,
    ) -> Result<SegmentWithTotals, DomainError> {
        actor.require(Permission::CustomersView)?;
        let s = self.load(actor, id).await?;
        self.totals(&self.visibility(actor).await?, s).await
    }

    /// The filter selecting a segment's customers (for listing them with the list's options).
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when absent or another tenant's.
    #[tracing::instrument(name = "SegmentService::filter", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, segment_id = %id))]
    pub async fn filter(&self, actor: &Actor, id: SegmentId) -> Result<Filter, DomainError> {
        actor.require(Permission::CustomersView)?;
        self.load(actor, id).await?.filter()
    }

    /// Creates a segment.
    ///
    /// # Errors
    /// [`DomainError::Validation`] naming the field; [`DomainError::Conflict`] on `name`.
    #[tracing::instrument(name = "SegmentService::create", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
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
        let event = super::events::segment_event(actor, "created", &s, now);
        let dropped = super::events::DroppedMembers::new(actor, &s, now);
        self.repo.save(&s, &[event], &dropped).await?;
        self.totals(&self.visibility(actor).await?, s).await
    }

    /// Replaces a segment's name, description and rule. Changing a manual segment's type drops
    /// its members, each with its `segment.member_removed` event.
    ///
    /// # Errors
    /// As [`SegmentService::create`]; [`DomainError::NotFound`].
    #[tracing::instrument(name = "SegmentService::replace", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, segment_id = %id))]
    pub async fn replace(
        &self,
        actor: &Actor,
        id: SegmentId,
        input: SegmentInput,
    ) -> Result<SegmentWithTotals, DomainError> {
        actor.require(Permission::CustomersManage)?;
        let old = self.load(actor, id).await?;
        let (name, description, rule) = validate(input)?;
        let now = truncate_to_micros(self.clock.now());
        let s = Segment {
            name,
            description,
            rule,
            updated_at: now,
            ..old.clone()
        };
        let event = super::events::segment_updated_event(actor, &old, &s, now);
        let dropped = super::events::DroppedMembers::new(actor, &old, now);
        self.repo.save(&s, &[event], &dropped).await?;
        self.totals(&self.visibility(actor).await?, s).await
    }

    /// Deletes a segment (members of a manual one go with it, each with its
    /// `segment.member_removed` event; customers stay).
    ///
    /// # Errors
    /// [`DomainError::NotFound`].
    #[tracing::instrument(name = "SegmentService::delete", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, segment_id = %id))]
    pub async fn delete(&self, actor: &Actor, id: SegmentId) -> Result<(), DomainError> {
        actor.require(Permission::CustomersManage)?;
        let s = self.load(actor, id).await?;
        let now = self.clock.now();
        let event = super::events::segment_event(actor, "deleted", &s, now);
        let dropped = super::events::DroppedMembers::new(actor, &s, now);
        Ok(self
            .repo
            .delete(actor.tenant_id, id, &[event], &dropped)
            .await?)
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
    /// or too long list, or ids that are not live customers of the tenant inside the caller's
    /// [`Visibility`] (named in the message); [`DomainError::NotFound`] for the segment.
    #[tracing::instrument(name = "SegmentService::add_members", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, segment_id = %id))]
    pub async fn add_members(
        &self,
        actor: &Actor,
        id: SegmentId,
        ids: Vec<CustomerId>,
    ) -> Result<SegmentWithTotals, DomainError> {
        actor.require(Permission::CustomersManage)?;
        let s = self.load(actor, id).await?;
        Self::check_change(&s, &ids)?;
        let visibility = self.visibility(actor).await?;
        let (ids, out_of_reach) = self.within_reach(actor, &visibility, ids).await?;
        let now = truncate_to_micros(self.clock.now());
        let events = super::events::member_events(actor, "member_added", &s, &ids, now);
        let missing = self
            .repo
            .add_members(actor.tenant_id, id, ids, now, events)
            .await?;
        let missing: Vec<CustomerId> = missing.into_iter().chain(out_of_reach).collect();
        if !missing.is_empty() {
            return Err(DomainError::invalid(
                "customer_ids",
                "not_found",
                format!(
                    "not customers of this tenant you reach: {}",
                    missing
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        self.totals(&visibility, s).await
    }

    /// Removes customers from a manual segment (ids that are not members are ignored).
    ///
    /// # Errors
    /// As [`SegmentService::add_members`], without the unknown-id check.
    #[tracing::instrument(name = "SegmentService::remove_members", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, segment_id = %id))]
    pub async fn remove_members(
        &self,
        actor: &Actor,
        id: SegmentId,
        ids: Vec<CustomerId>,
    ) -> Result<SegmentWithTotals, DomainError> {
        actor.require(Permission::CustomersManage)?;
        let s = self.load(actor, id).await?;
        Self::check_change(&s, &ids)?;
        let visibility = self.visibility(actor).await?;
        // Customers out of the caller's reach are left alone, as non-members are.
        let (ids, _) = self.within_reach(actor, &visibility, ids).await?;
        if !ids.is_empty() {
            let events =
                super::events::member_events(actor, "member_removed", &s, &ids, self.clock.now());
            self.repo
                .remove_members(actor.tenant_id, id, ids, events)
                .await?;
        }
        self.totals(&visibility, s).await
    }

    /// Splits `ids` into those the caller may change memberships of and those outside their
    /// [`Visibility`] (live customers assigned to someone else, for a restricted caller; ids
    /// of no live customer are left for the repository to report).
    async fn within_reach(
        &self,
        actor: &Actor,
        visibility: &Visibility,
        ids: Vec<CustomerId>,
    ) -> Result<(Vec<CustomerId>, Vec<CustomerId>), DomainError> {
        if *visibility == Visibility::All {
            return Ok((ids, Vec::new()));
        }
        let all = |ids: &[CustomerId]| {
            Filter::all(vec![Condition {
                field: Field::Id,
                op: Op::In,
                value: Operand::List(ids.iter().map(|c| Operand::Id(c.0)).collect()),
            }])
        };
        let limit = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        let mut q = self.query(all(&ids));
        q.limit = limit;
        let live = self
            .customers
            .list(actor.tenant_id, &Visibility::All, &q)
            .await?;
        let others: std::collections::BTreeSet<CustomerId> = live
            .into_iter()
            .filter(|c| !visibility.allows(c.profile.assigned_to.as_ref()))
            .map(|c| c.id)
            .collect();
        Ok(ids.into_iter().partition(|id| !others.contains(id)))
    }

    /// The segments a customer belongs to now, by name.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for a missing or another tenant's customer, or one outside the
    /// caller's [`Visibility`].
    #[tracing::instrument(name = "SegmentService::of_customer", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customer_id = %customer))]
    pub async fn of_customer(
        &self,
        actor: &Actor,
        customer: CustomerId,
    ) -> Result<Vec<Segment>, DomainError> {
        actor.require(Permission::CustomersView)?;
        let visibility = self.visibility(actor).await?;
        crate::customer::load_visible(
            self.customers.as_ref(),
            actor.tenant_id,
            &visibility,
            customer,
        )
        .await?;
        let this = Filter::parse(
            &json!({"all": [{"field": "id", "op": "eq", "value": customer.0.to_string()}]}),
            "id",
        )
        .map_err(|_| DomainError::invalid("id", "invalid", "not a customer id"))?;
        let mut out = Vec::new();
        for s in self.repo.list(actor.tenant_id).await? {
            let q = self.query(s.filter()?.and(this.clone()));
            if self
                .customers
                .count(actor.tenant_id, &visibility, &q)
                .await?
                > 0
            {
                out.push(s);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;
    use crate::segment::SegmentRule;
    use chrono::Utc;

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
