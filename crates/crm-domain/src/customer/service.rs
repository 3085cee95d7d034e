//! Use cases on customers.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::bulk::{BulkAction, BulkResult, BulkTarget, MAX_BULK_IDS};
use super::error::{CustomerErased, DeleteCustomerError, OPEN_ORDERS_LISTED};
use super::events::{checked_status_reason, created_events, deletion_event, update_events};
use super::input::{CustomerInput, NestedInput, NestedReplace, ValidationContext};
use super::model::{Customer, CustomerProfile, CustomerStatus, NewCustomer, UniqueField};
use super::ownership::assignee;
use super::patch::CustomerPatch;
use super::ports::{
    CustomerAggregates, CustomerQuery, CustomerRepository, Deleted, DeletionChange, IdempotencyKey,
    IdempotencyRecord, MemberChanges, Position, ProfileUpdate, SortField, SortKey,
};
use crate::access::{Actor, Permission, Visibility};
use crate::contact::nested_contacts;
use crate::error::{DomainError, FieldError, RepositoryError};
use crate::ids::{CustomerId, TenantId};
use crate::ports::{Clock, IdGenerator};
use crate::tenant::{Tenant, TenantRepository};

/// Most rows of one list page.
pub const MAX_PAGE_SIZE: u32 = 200;
/// Rows of a list page when the caller names no limit.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
/// Attempts of a write that the caller did not make conditional before giving up.
const WRITE_ATTEMPTS: usize = 3;
/// Attempts of a PATCH without `If-Match` (last writer wins): orders change a customer's
/// version as they settle, so a busy customer may need several; then 503 (retry), never 412.
pub const PATCH_ATTEMPTS: usize = 8;

/// The result of a create.
#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    /// The customer.
    pub customer: Customer,
    /// True when an earlier request with the same idempotency key created it.
    pub replayed: bool,
}

/// One page of a customer list: the shared [`crate::page::Page`] whose next page starts after
/// a [`Position`].
pub type Page<T> = crate::page::Page<T, Position>;

/// Statistics of a set of customers.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerStats {
    /// Counts and sums.
    pub aggregates: CustomerAggregates,
    /// Σ total_orders / customers (2 decimals).
    pub average_purchases: rust_decimal::Decimal,
    /// The 10 customers with the highest total_spent.
    pub top_by_spending: Vec<Customer>,
    /// The 10 most recently created customers.
    pub most_recent: Vec<Customer>,
}

/// Use cases on customers. Every method takes the [`Actor`], checks its permission and scopes
/// every read and write to the actor's tenant and to the customers the actor reaches there
/// ([`Visibility`]: with the tenant setting `sales_scope: "assigned"`, a `sales` user reaches
/// only the customers assigned to them; any other is "not found").
pub struct CustomerService {
    customers: Arc<dyn CustomerRepository>,
    tenants: Arc<dyn TenantRepository>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl CustomerService {
    /// Wires the service.
    pub fn new(
        customers: Arc<dyn CustomerRepository>,
        tenants: Arc<dyn TenantRepository>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self {
            customers,
            tenants,
            clock,
            ids,
        }
    }

    /// Creates a customer (needs `customers.create`). With an idempotency key, a repeat of the
    /// same request returns the customer the first one created, with `replayed` set.
    ///
    /// A caller restricted to their own customers ([`Visibility::AssignedTo`]) creates customers
    /// assigned to themself: `assigned_to` absent means them, another user is refused
    /// ([`assignee`](super::assignee)).
    ///
    /// # Errors
    /// [`DomainError::Validation`] for broken rules (including an unknown `referred_by`, and
    /// `assigned_to` naming another user for a restricted caller),
    /// [`DomainError::Conflict`] naming the field and the existing customer when e-mail, phone,
    /// mobile phone or external_ref is taken in the tenant, [`DomainError::IdempotencyKeyReused`]
    /// when the key came with another body, [`DomainError::Forbidden`].
    #[tracing::instrument(name = "CustomerService::create", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn create(
        &self,
        actor: &Actor,
        input: CustomerInput,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Created, DomainError> {
        self.create_nested(actor, input, NestedInput::default(), idempotency)
            .await
    }

    /// As [`CustomerService::create`], with addresses and contacts written in the same
    /// transaction as the customer (the nested create of `POST /customers`; rules of
    /// [`crate::address::new_addresses`] and [`crate::contact::nested_contacts`]: the first
    /// address of a type is its default, the first contact or the one marked `is_primary` is
    /// the primary). One invalid element refuses the whole request and writes nothing; its
    /// errors are named by the element's path (`addresses[1].postal_code`, `contacts[0].email`)
    /// beside the customer's own.
    ///
    /// # Errors
    /// As [`CustomerService::create`].
    #[tracing::instrument(name = "CustomerService::create_nested", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn create_nested(
        &self,
        actor: &Actor,
        input: CustomerInput,
        nested: NestedInput,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Created, DomainError> {
        actor.require(Permission::CustomersCreate)?;
        let visibility = self.visibility(actor).await?;
        let Some(key) = idempotency else {
            return self
                .create_new(actor, &visibility, input, nested, None)
                .await;
        };
        if key.key.is_empty()
            || key.key.len() > 255
            || !key.key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(DomainError::invalid(
                "Idempotency-Key",
                "invalid",
                "must be 1..=255 visible ASCII characters",
            ));
        }
        if let Some(replay) = self.replay(actor.tenant_id, &visibility, &key).await? {
            return Ok(replay);
        }
        match self
            .create_new(actor, &visibility, input, nested, Some(&key))
            .await
        {
            // A concurrent request with the same key committed first and this one ran into
            // its customer (e-mail, phone) or its key: answer as that request did.
            Err(conflict @ DomainError::Conflict { .. }) => {
                match self.replay(actor.tenant_id, &visibility, &key).await? {
                    Some(replay) => Ok(replay),
                    None => Err(conflict),
                }
            }
            other => other,
        }
    }

    async fn create_new(
        &self,
        actor: &Actor,
        visibility: &Visibility,
        input: CustomerInput,
        nested: NestedInput,
        key: Option<&IdempotencyKey>,
    ) -> Result<Created, DomainError> {
        let tenant_id = actor.tenant_id;
        let tenant = self.tenant(tenant_id).await?;
        let now = self.clock.now();
        let id = CustomerId(self.ids.new_id());
        let addresses = crate::address::new_addresses(
            nested.addresses,
            tenant.default_country,
            tenant_id,
            id,
            Some(actor.user_id.clone()),
            now,
            || self.ids.new_id(),
        );
        // A new customer's status is no change: a reason is optional, but bounded.
        let reason = checked_status_reason(
            "status_reason",
            None,
            CustomerStatus::Active,
            input.status_reason.as_deref(),
        );
        let profile = self.validate(&tenant, visibility, input, None).await;
        let contacts_country = match &profile {
            Ok(p) => p.country.or(tenant.default_country),
            Err(_) => tenant.default_country,
        };
        let contacts = nested_contacts(
            nested.contacts,
            tenant_id,
            id,
            contacts_country,
            Some(&actor.user_id),
            now,
            self.ids.as_ref(),
        );
        // Every broken rule at once: the customer's, then each element's by its path.
        let mut errors = Vec::new();
        let profile = match profile {
            Ok(p) => Some(p),
            Err(DomainError::Validation(e)) => {
                errors.extend(e);
                None
            }
            Err(e) => return Err(e),
        };
        let addresses = addresses.unwrap_or_else(|e| {
            errors.extend(e);
            Vec::new()
        });
        let contacts = match contacts {
            Ok(c) => c,
            Err(DomainError::Validation(e)) => {
                errors.extend(e);
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        if let Err(DomainError::Validation(e)) = reason {
            errors.extend(e);
        }
        let profile = match profile {
            Some(p) if errors.is_empty() => p,
            _ => return Err(DomainError::Validation(errors)),
        };
        let new = NewCustomer {
            id,
            tenant_id,
            profile,
            created_by: Some(actor.user_id.clone()),
            created_at: now,
            addresses,
            contacts,
        };
        let record = key.map(|k| IdempotencyRecord {
            key: k.key.clone(),
            fingerprint: k.fingerprint.clone(),
            customer_id: new.id,
            created_at: now,
        });
        let profile = new.profile.clone();
        let events = created_events(actor, &new, now);
        match self.customers.create(new, record, events).await {
            Ok(customer) => Ok(Created {
                customer,
                replayed: false,
            }),
            Err(RepositoryError::Conflict { field }) if field == "idempotency_key" => {
                Err(DomainError::Conflict {
                    message:
                        "a concurrent request with this Idempotency-Key is being served; retry"
                            .into(),
                    field: "Idempotency-Key".into(),
                    existing_id: None,
                })
            }
            Err(e) => Err(self
                .explain_conflict(tenant_id, visibility, &profile, None, e)
                .await),
        }
    }

    /// The live customer with this id (needs `customers.view`).
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when absent, deleted, another tenant's or outside the caller's
    /// [`Visibility`].
    #[tracing::instrument(name = "CustomerService::get", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customer_id = %id))]
    pub async fn get(&self, actor: &Actor, id: CustomerId) -> Result<Customer, DomainError> {
        actor.require(Permission::CustomersView)?;
        let visibility = self.visibility(actor).await?;
        self.live(actor.tenant_id, &visibility, id).await
    }

    /// As [`CustomerService::get`], with the parts the customer's answer shows (its default
    /// billing and shipping addresses and primary contact), read together.
    ///
    /// # Errors
    /// As [`CustomerService::get`].
    pub async fn get_with_parts(
        &self,
        actor: &Actor,
        id: CustomerId,
    ) -> Result<(Customer, super::CustomerParts), DomainError> {
        actor.require(Permission::CustomersView)?;
        let visibility = self.visibility(actor).await?;
        self.customers
            .find_with_parts(actor.tenant_id, id)
            .await?
            .filter(|(c, _)| visibility.allows(c.profile.assigned_to.as_ref()))
            .ok_or(DomainError::NotFound { entity: "customer" })
    }

    /// Which customers `actor` reaches: [`crate::tenant::visibility`].
    ///
    /// # Errors
    /// As [`crate::tenant::visibility`].
    pub async fn visibility(&self, actor: &Actor) -> Result<Visibility, DomainError> {
        crate::tenant::visibility(self.tenants.as_ref(), actor).await
    }

    /// Replaces every editable field of a live customer (needs `customers.edit`). With
    /// `expected_version` the write happens only on that version; without it, a concurrent
    /// change is retried on the fresh version.
    ///
    /// A caller restricted to their own customers reaches only those, and keeps them assigned
    /// to themself (as [`CustomerService::create`]).
    ///
    /// # Errors
    /// As [`CustomerService::create`], plus [`DomainError::NotFound`] (also for a customer
    /// outside the caller's [`Visibility`]), [`DomainError::PreconditionFailed`] when
    /// `expected_version` is stale, and [`CustomerErased`] (409) when the customer was erased.
    #[tracing::instrument(name = "CustomerService::replace", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customer_id = %id))]
    pub async fn replace(
        &self,
        actor: &Actor,
        id: CustomerId,
        input: CustomerInput,
        expected_version: Option<i64>,
    ) -> Result<Customer, DomainError> {
        self.replace_nested(actor, id, input, NestedReplace::default(), expected_version)
            .await
    }

    /// As [`CustomerService::replace`], with the customer's addresses and contacts replaced
    /// in the same transaction when `nested` names them (the nested replace of `PUT
    /// /customers/{id}`): each given member is the full new set, merged with the stored one
    /// by [`crate::address::replace_addresses`] and [`crate::contact::replace_contacts`]
    /// (defaults, the primary, the limits, e-mails unique among the contacts). Every
    /// created, updated and removed address and contact appends its event
    /// (`address.added`, ..., `contact.removed`) with the customer's. One invalid element
    /// refuses the whole request and writes nothing; its errors are named by its path
    /// (`addresses[1].postal_code`, `contacts[0].id`).
    ///
    /// # Errors
    /// As [`CustomerService::replace`].
    #[tracing::instrument(name = "CustomerService::replace_nested", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customer_id = %id))]
    pub async fn replace_nested(
        &self,
        actor: &Actor,
        id: CustomerId,
        input: CustomerInput,
        nested: NestedReplace,
        expected_version: Option<i64>,
    ) -> Result<Customer, DomainError> {
        actor.require(Permission::CustomersEdit)?;
        let tenant = self.tenant(actor.tenant_id).await?;
        let visibility = tenant.visibility_of(actor)?;
        self.replace_visible(
            actor,
            &tenant,
            &visibility,
            id,
            input,
            &nested,
            expected_version,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn replace_visible(
        &self,
        actor: &Actor,
        tenant: &Tenant,
        visibility: &Visibility,
        id: CustomerId,
        input: CustomerInput,
        nested: &NestedReplace,
        expected_version: Option<i64>,
    ) -> Result<Customer, DomainError> {
        let tenant_id = actor.tenant_id;
        let reason = input.status_reason.clone();
        let profile = self.validate(tenant, visibility, input, Some(id)).await?;
        for _ in 0..WRITE_ATTEMPTS {
            let current = self.live(tenant_id, visibility, id).await?;
            CustomerErased::check(&current)?;
            check_version(expected_version, current.version)?;
            let reason = checked_status_reason(
                "status_reason",
                Some(current.profile.status),
                profile.status,
                reason.as_deref(),
            )?;
            let now = self.clock.now();
            let members = self
                .member_changes(actor, tenant, &profile, id, nested, now)
                .await?;
            let mut events = update_events(actor, &current, &profile, reason.as_deref(), now);
            events.extend(member_events(actor, &members, now));
            let update = ProfileUpdate {
                tenant_id,
                id,
                profile: profile.clone(),
                updated_by: Some(actor.user_id.clone()),
                updated_at: now,
                expected_version: current.version,
                events,
                members,
            };
            match self.customers.update_profile(update).await {
                Ok(c) => return Ok(c),
                Err(RepositoryError::Stale) => continue,
                Err(e) => {
                    return Err(self
                        .explain_conflict(tenant_id, visibility, &profile, Some(id), e)
                        .await);
                }
            }
        }
        Err(DomainError::Unavailable(
            "the customer is being changed too often; retry".into(),
        ))
    }

    /// The writes that turn the customer's stored addresses and contacts into the sets
    /// `nested` gives (nothing for a member it leaves out).
    async fn member_changes(
        &self,
        actor: &Actor,
        tenant: &Tenant,
        profile: &CustomerProfile,
        id: CustomerId,
        nested: &NestedReplace,
        now: DateTime<Utc>,
    ) -> Result<MemberChanges, DomainError> {
        if nested.is_empty() {
            return Ok(MemberChanges::default());
        }
        let (addresses, contacts) = self.customers.members(tenant.id, id).await?;
        let mut errors = Vec::new();
        let mut changes = MemberChanges::default();
        if let Some(set) = &nested.addresses {
            match crate::address::replace_addresses(
                &addresses,
                set.clone(),
                tenant.default_country,
                tenant.id,
                id,
                Some(actor.user_id.clone()),
                now,
                || self.ids.new_id(),
            ) {
                Ok(c) => changes.addresses = c,
                Err(e) => errors.extend(e),
            }
        }
        if let Some(set) = &nested.contacts {
            match crate::contact::replace_contacts(
                &contacts,
                set.clone(),
                tenant.id,
                id,
                profile.country.or(tenant.default_country),
                Some(&actor.user_id),
                now,
                self.ids.as_ref(),
            ) {
                Ok(c) => changes.contacts = c,
                Err(DomainError::Validation(e)) => errors.extend(e),
                Err(e) => return Err(e),
            }
        }
        if errors.is_empty() {
            Ok(changes)
        } else {
            Err(DomainError::Validation(errors))
        }
    }

    /// Changes some editable fields of a live customer (needs `customers.view` to read it and
    /// `customers.edit` to write it): `patch` is applied to the version read and the result
    /// replaces it ([`CustomerService::replace`]). With `expected_version` the write happens
    /// only on that version; without it, when another writer changed the customer in between,
    /// the patch is applied again to the fresh version, up to [`PATCH_ATTEMPTS`] attempts: the
    /// caller asked for last-writer-wins, so it never gets a 412.
    ///
    /// # Errors
    /// As [`CustomerService::replace`] and [`CustomerPatch::apply`]:
    /// [`DomainError::PreconditionFailed`] only when `expected_version` is stale;
    /// [`DomainError::Unavailable`] (503, retry) when, without it, other writers won every
    /// attempt; [`CustomerErased`] (409) when the customer was erased.
    #[tracing::instrument(name = "CustomerService::patch", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customer_id = %id))]
    pub async fn patch(
        &self,
        actor: &Actor,
        id: CustomerId,
        patch: &dyn CustomerPatch,
        expected_version: Option<i64>,
    ) -> Result<Customer, DomainError> {
        actor.require(Permission::CustomersView)?;
        actor.require(Permission::CustomersEdit)?;
        let tenant = self.tenant(actor.tenant_id).await?;
        let visibility = tenant.visibility_of(actor)?;
        for _ in 0..PATCH_ATTEMPTS {
            let current = self.live(actor.tenant_id, &visibility, id).await?;
            CustomerErased::check(&current)?;
            check_version(expected_version, current.version)?;
            let input = patch.apply(&current)?;
            match self
                .replace_visible(
                    actor,
                    &tenant,
                    &visibility,
                    id,
                    input,
                    &NestedReplace::default(),
                    Some(current.version),
                )
                .await
            {
                // Someone else wrote in between: patch their version, unless the caller pinned one.
                Err(DomainError::PreconditionFailed { .. }) if expected_version.is_none() => {
                    continue;
                }
                result => return result,
            }
        }
        Err(DomainError::Unavailable(format!(
            "the customer was changed by other writers during each of {PATCH_ATTEMPTS} attempts; retry"
        )))
    }

    /// Soft-deletes a live customer (needs `customers.delete`): it disappears from reads and
    /// lists and frees its e-mail, phones and external_ref, until restored. A customer with
    /// open orders (pending, or completed and unpaid) cannot be deleted.
    ///
    /// # Errors
    /// [`DomainError::NotFound`], [`DomainError::PreconditionFailed`], [`DomainError::Forbidden`],
    /// [`DeleteCustomerError::OpenOrders`] (as [`DomainError::Rule`]), naming up to
    /// [`OPEN_ORDERS_LISTED`] open orders.
    #[tracing::instrument(name = "CustomerService::delete", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customer_id = %id))]
    pub async fn delete(
        &self,
        actor: &Actor,
        id: CustomerId,
        expected_version: Option<i64>,
    ) -> Result<(), DomainError> {
        actor.require(Permission::CustomersDelete)?;
        let visibility = self.visibility(actor).await?;
        for _ in 0..WRITE_ATTEMPTS {
            let current = self.live(actor.tenant_id, &visibility, id).await?;
            check_version(expected_version, current.version)?;
            let open = self.open_orders(actor.tenant_id, id).await?;
            if !open.is_empty() {
                return Err(open_orders_refusal(id, open));
            }
            match self
                .customers
                .set_deleted(self.deletion(actor, &current, true))
                .await
            {
                Ok(_) => return Ok(()),
                Err(RepositoryError::Stale) => continue,
                // An order arrived between the check above and the delete's lock.
                Err(RepositoryError::Conflict { field }) if field == "orders" => {
                    let open = self.open_orders(actor.tenant_id, id).await?;
                    return Err(open_orders_refusal(id, open));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(DomainError::Unavailable(
            "the customer is being changed too often; retry".into(),
        ))
    }

    /// Restores a soft-deleted customer (needs `customers.delete`); restoring a live customer
    /// returns it unchanged.
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; [`DomainError::Conflict`] when a live customer took its
    /// e-mail, phone, mobile phone or external_ref meanwhile.
    #[tracing::instrument(name = "CustomerService::restore", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customer_id = %id))]
    pub async fn restore(&self, actor: &Actor, id: CustomerId) -> Result<Customer, DomainError> {
        actor.require(Permission::CustomersDelete)?;
        let tenant_id = actor.tenant_id;
        let visibility = self.visibility(actor).await?;
        for _ in 0..WRITE_ATTEMPTS {
            let current = self
                .customers
                .find(tenant_id, id, true)
                .await?
                .filter(|c| visibility.allows(c.profile.assigned_to.as_ref()))
                .ok_or(DomainError::NotFound { entity: "customer" })?;
            if current.deleted_at.is_none() {
                return Ok(current);
            }
            self.check_unique(tenant_id, &visibility, &current.profile, Some(id))
                .await?;
            match self
                .customers
                .set_deleted(self.deletion(actor, &current, false))
                .await
            {
                Ok(c) => return Ok(c),
                Err(RepositoryError::Stale) => continue,
                Err(e) => {
                    return Err(self
                        .explain_conflict(tenant_id, &visibility, &current.profile, Some(id), e)
                        .await);
                }
            }
        }
        Err(DomainError::Unavailable(
            "the customer is being changed too often; retry".into(),
        ))
    }

    /// A page of the customers inside the caller's [`Visibility`] matching `query` (needs
    /// `customers.view`; deleted customers need `customers.manage`), with the exact total (of
    /// those customers) when `include_total`.
    ///
    /// # Errors
    /// [`DomainError::Validation`] when `limit` is outside 1..=200, the position does not fit
    /// the sort, or the filter breaks a limit of the filter language (`filter`, `too_many` or
    /// `too_long` with the limit, see [`super::filter`]); [`DomainError::Forbidden`].
    #[tracing::instrument(name = "CustomerService::list", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn list(
        &self,
        actor: &Actor,
        query: CustomerQuery,
        include_total: bool,
    ) -> Result<Page<Customer>, DomainError> {
        actor.require(Permission::CustomersView)?;
        if query.deleted != Deleted::Exclude {
            actor.require(Permission::CustomersManage)?;
        }
        check_filter(&query)?;
        if !(1..=MAX_PAGE_SIZE).contains(&query.limit) {
            return Err(DomainError::invalid(
                "limit",
                "out_of_range",
                format!("must be between 1 and {MAX_PAGE_SIZE}"),
            ));
        }
        if query.search.is_none() && query.sort.iter().any(|k| k.field == SortField::Relevance) {
            return Err(DomainError::invalid(
                "sort",
                "invalid",
                "`relevance` needs a search text `q`",
            ));
        }
        let distance_at = query
            .sort_keys()
            .iter()
            .position(|k| k.field == SortField::Distance);
        if distance_at.is_some() && query.filter.near().is_none() {
            return Err(DomainError::invalid(
                "sort",
                "invalid",
                "`distance` needs a radius search (`near` and `within_km`, or `address.near`)",
            ));
        }
        if query
            .after
            .as_ref()
            .is_some_and(|p| p.values.len() != query.sort_keys().len())
        {
            return Err(DomainError::invalid(
                "cursor",
                "mismatch",
                "the cursor was issued for another sort",
            ));
        }
        let probe = CustomerQuery {
            limit: query.limit + 1,
            ..query.clone()
        };
        let visibility = self.visibility(actor).await?;
        let rows = self
            .customers
            .list(actor.tenant_id, &visibility, &probe)
            .await?;
        let mut page = Page::from_probe(rows, query.limit, |c| query.position_of(c));
        if let (Some(at), Some(next)) = (distance_at, page.next.as_mut()) {
            let key = self
                .customers
                .distance_key(actor.tenant_id, next.id, &query)
                .await?
                .ok_or_else(|| DomainError::Internal("distance key without near".into()))?;
            if let Some(v) = next.values.get_mut(at) {
                *v = super::ports::SortValue::Real(key.to_bits());
            }
        }
        if include_total {
            page.total = Some(
                self.customers
                    .count(actor.tenant_id, &visibility, &query)
                    .await?,
            );
        }
        Ok(page)
    }

    /// The service clock's time: the instant a list's relative conditions
    /// ([`Filter::follow_up_due`](super::filter::Filter::follow_up_due), [`CustomerQuery::now`])
    /// are judged at.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Statistics of the customers inside the caller's [`Visibility`] that `query` matches
    /// (needs `customers.view`): counts by status,
    /// type, stage and tier, VIPs, new this and last calendar month (UTC), revenue (Σ total_spent)
    /// and customers per currency, average purchases per customer (Σ total_orders / customers,
    /// 2 decimals), the 10 top customers by total_spent and the 10 most recent.
    ///
    /// # Errors
    /// As [`CustomerService::list`].
    #[tracing::instrument(name = "CustomerService::stats", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn stats(
        &self,
        actor: &Actor,
        query: CustomerQuery,
    ) -> Result<CustomerStats, DomainError> {
        use chrono::{Datelike, TimeZone};
        actor.require(Permission::CustomersView)?;
        if query.deleted != Deleted::Exclude {
            actor.require(Permission::CustomersManage)?;
        }
        check_filter(&query)?;
        let now = self.clock.now();
        let month_start = Utc
            .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
            .single()
            .ok_or_else(|| DomainError::Internal("calendar".into()))?;
        let (py, pm) = if now.month() == 1 {
            (now.year() - 1, 12)
        } else {
            (now.year(), now.month() - 1)
        };
        let last_month_start = Utc
            .with_ymd_and_hms(py, pm, 1, 0, 0, 0)
            .single()
            .ok_or_else(|| DomainError::Internal("calendar".into()))?;
        let tenant = actor.tenant_id;
        let visibility = self.visibility(actor).await?;
        let agg = self
            .customers
            .aggregates(tenant, &visibility, &query, month_start, last_month_start)
            .await?;
        let base = CustomerQuery {
            limit: 10,
            after: None,
            offset: None,
            ..query
        };
        let top = CustomerQuery {
            sort: vec![SortKey {
                field: SortField::TotalSpent,
                descending: true,
            }],
            ..base.clone()
        };
        let recent = CustomerQuery {
            sort: vec![SortKey::NEWEST_FIRST],
            ..base
        };
        let per_customer = |sum: rust_decimal::Decimal| {
            if agg.count == 0 {
                rust_decimal::Decimal::ZERO
            } else {
                (sum / rust_decimal::Decimal::from(agg.count)).round_dp(2)
            }
        };
        Ok(CustomerStats {
            average_purchases: per_customer(rust_decimal::Decimal::from(agg.total_orders)),
            top_by_spending: self.customers.list(tenant, &visibility, &top).await?,
            most_recent: self.customers.list(tenant, &visibility, &recent).await?,
            aggregates: agg,
        })
    }

    /// Applies one action to many customers in one transaction: all change or none does
    /// (needs `customers.edit`; `Delete` needs `customers.delete`). Walks the matching customers
    /// inside the caller's [`Visibility`] in batches of 500 by id; a restricted caller's `Assign`
    /// follows [`assignee`](super::assignee).
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when an id is not a live customer of the tenant the caller
    /// reaches; [`DomainError::Validation`] on `action.assigned_to` when a restricted caller
    /// assigns to another user, and on `filter` when the filter breaks a limit of the filter
    /// language;
    /// [`DeleteCustomerError::OpenOrders`] (as [`DomainError::Rule`]) when deleting customers
    /// with open orders, naming up to [`OPEN_ORDERS_LISTED`] of them;
    /// [`DomainError::Validation`] for bad tags or too many ids.
    #[tracing::instrument(name = "CustomerService::bulk", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn bulk(
        &self,
        actor: &Actor,
        target: BulkTarget,
        action: BulkAction,
    ) -> Result<BulkResult, DomainError> {
        actor.require(if action == BulkAction::Delete {
            Permission::CustomersDelete
        } else {
            Permission::CustomersEdit
        })?;
        let visibility = self.visibility(actor).await?;
        let action = match action.validated()? {
            BulkAction::Assign(user) => BulkAction::Assign(
                assignee(&visibility, user, "action.assigned_to")
                    .map_err(|e| DomainError::Validation(vec![e]))?,
            ),
            other => other,
        };
        let (filter, ids) = match target {
            BulkTarget::Filter(f) => {
                f.check_limits("filter")
                    .map_err(|e| DomainError::Validation(vec![e]))?;
                (f, None)
            }
            BulkTarget::Ids(ids) => {
                if ids.is_empty() || ids.len() > MAX_BULK_IDS {
                    return Err(DomainError::invalid(
                        "ids",
                        "out_of_range",
                        format!("1..={MAX_BULK_IDS} ids"),
                    ));
                }
                let unique: std::collections::BTreeSet<_> = ids.into_iter().collect();
                (
                    super::filter::Filter::default(),
                    Some(unique.into_iter().collect::<Vec<_>>()),
                )
            }
        };
        let now = self.clock.now();
        let mut tx = self.customers.begin_batch(actor.tenant_id).await?;
        let mut result = BulkResult::default();
        let mut after = None;
        loop {
            let mut batch = tx
                .next(
                    actor.tenant_id,
                    &visibility,
                    &filter,
                    ids.clone(),
                    after,
                    500,
                )
                .await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.id);
            result.matched += batch.len() as u64;
            if action == BulkAction::Delete {
                let open = tx
                    .open_orders(actor.tenant_id, batch.iter().map(|c| c.id).collect())
                    .await?;
                if !open.is_empty() {
                    return Err(DeleteCustomerError::OpenOrders { orders: open }.into());
                }
            }
            let mut events = Vec::new();
            for c in &mut batch {
                let before = c.clone();
                if action.apply(c, now)? {
                    c.updated_by = Some(actor.user_id.clone());
                    c.updated_at = now;
                    tx.save(c).await?;
                    result.updated += 1;
                    match &action {
                        BulkAction::Delete => events.push(deletion_event(actor, c, true, now)),
                        BulkAction::UpdateStatus(_, reason) => events.extend(update_events(
                            actor,
                            &before,
                            &c.profile,
                            reason.as_deref(),
                            now,
                        )),
                        _ => events.extend(update_events(actor, &before, &c.profile, None, now)),
                    }
                }
            }
            tx.append_events(&events).await?;
        }
        if let Some(ids) = ids
            && result.matched != ids.len() as u64
        {
            return Err(DomainError::NotFound { entity: "customer" });
        }
        tx.commit().await?;
        Ok(result)
    }

    async fn tenant(&self, id: TenantId) -> Result<Tenant, DomainError> {
        crate::tenant::load(self.tenants.as_ref(), id).await
    }

    async fn live(
        &self,
        tenant: TenantId,
        visibility: &Visibility,
        id: CustomerId,
    ) -> Result<Customer, DomainError> {
        super::load_visible(self.customers.as_ref(), tenant, visibility, id).await
    }

    /// Up to [`OPEN_ORDERS_LISTED`] refs of the customer's open orders, oldest first.
    async fn open_orders(
        &self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Vec<String>, DomainError> {
        Ok(self
            .customers
            .open_order_refs(tenant, id, OPEN_ORDERS_LISTED)
            .await?)
    }

    fn deletion(&self, actor: &Actor, current: &Customer, delete: bool) -> DeletionChange {
        let now = self.clock.now();
        DeletionChange {
            tenant_id: actor.tenant_id,
            id: current.id,
            deleted_at: delete.then_some(now),
            updated_by: Some(actor.user_id.clone()),
            updated_at: now,
            expected_version: current.version,
            events: vec![deletion_event(actor, current, delete, now)],
        }
    }

    /// The answer to a repeat of the request that stored `key`. A customer the caller does not
    /// reach (another sales user's, under `sales_scope: "assigned"`) is not replayed: the key
    /// counts as used by another request.
    async fn replay(
        &self,
        tenant: TenantId,
        visibility: &Visibility,
        key: &IdempotencyKey,
    ) -> Result<Option<Created>, DomainError> {
        let Some(record) = self.customers.find_idempotency(tenant, &key.key).await? else {
            return Ok(None);
        };
        if record.fingerprint != key.fingerprint {
            return Err(DomainError::IdempotencyKeyReused);
        }
        let customer = self
            .customers
            .find(tenant, record.customer_id, true)
            .await?
            .ok_or(DomainError::NotFound { entity: "customer" })?;
        if !visibility.allows(customer.profile.assigned_to.as_ref()) {
            return Err(DomainError::IdempotencyKeyReused);
        }
        Ok(Some(Created {
            customer,
            replayed: true,
        }))
    }

    /// Validates the input, then who it may be assigned to ([`assignee`]), then the rules that
    /// need storage: `referred_by` names a live customer of the tenant (not `this`), and the
    /// unique keys are free.
    async fn validate(
        &self,
        tenant: &Tenant,
        visibility: &Visibility,
        input: CustomerInput,
        this: Option<CustomerId>,
    ) -> Result<CustomerProfile, DomainError> {
        let ctx = ValidationContext {
            default_country: tenant.default_country,
            default_currency: tenant.default_currency,
            today: self.clock.now().date_naive(),
        };
        let mut profile = input.validate(&ctx).map_err(DomainError::Validation)?;
        profile.assigned_to = assignee(visibility, profile.assigned_to.take(), "assigned_to")
            .map_err(|e| DomainError::Validation(vec![e]))?;
        if let Some(referrer) = profile.referred_by {
            let exists = referrer != this.unwrap_or(CustomerId(uuid::Uuid::nil()))
                && self
                    .customers
                    .find(tenant.id, referrer, false)
                    .await?
                    .is_some();
            if !exists {
                return Err(DomainError::Validation(vec![FieldError::new(
                    "referred_by",
                    "unknown_customer",
                    format!("{referrer} is not another customer of this tenant"),
                )]));
            }
        }
        self.check_unique(tenant.id, visibility, &profile, this)
            .await?;
        Ok(profile)
    }

    async fn check_unique(
        &self,
        tenant: TenantId,
        visibility: &Visibility,
        profile: &CustomerProfile,
        this: Option<CustomerId>,
    ) -> Result<(), DomainError> {
        for field in UniqueField::ALL {
            let Some(value) = field.value_in(profile) else {
                continue;
            };
            if let Some(existing) = self.customers.find_by_unique(tenant, field, value).await?
                && Some(existing) != this
            {
                return Err(self.conflict(tenant, visibility, field, existing).await);
            }
        }
        Ok(())
    }

    /// The conflict on `field`, naming the customer holding the value when the caller reaches
    /// it; a holder outside the caller's [`Visibility`] is not named (uniqueness is per tenant,
    /// so the conflict itself stands).
    async fn conflict(
        &self,
        tenant: TenantId,
        visibility: &Visibility,
        field: UniqueField,
        existing: CustomerId,
    ) -> DomainError {
        let named = match visibility {
            Visibility::All => true,
            Visibility::AssignedTo(_) => {
                super::load_visible(self.customers.as_ref(), tenant, visibility, existing)
                    .await
                    .is_ok()
            }
        };
        if named {
            conflict(field, existing)
        } else {
            DomainError::Conflict {
                field: field.as_str().to_owned(),
                message: format!(
                    "another customer of the tenant already has this {}",
                    field.as_str()
                ),
                existing_id: None,
            }
        }
    }

    /// Turns a unique violation met while writing (a concurrent writer took the value after
    /// [`Self::check_unique`]) into a conflict naming the customer that holds it.
    async fn explain_conflict(
        &self,
        tenant: TenantId,
        visibility: &Visibility,
        profile: &CustomerProfile,
        this: Option<CustomerId>,
        error: RepositoryError,
    ) -> DomainError {
        let RepositoryError::Conflict { field } = &error else {
            return error.into();
        };
        let Some(unique) = UniqueField::from_field(field) else {
            return error.into();
        };
        if let Some(value) = unique.value_in(profile)
            && let Ok(Some(existing)) = self.customers.find_by_unique(tenant, unique, value).await
            && Some(existing) != this
        {
            return self.conflict(tenant, visibility, unique, existing).await;
        }
        error.into()
    }
}

fn conflict(field: UniqueField, existing: CustomerId) -> DomainError {
    DomainError::Conflict {
        field: field.as_str().to_owned(),
        message: format!("customer {existing} already has this {}", field.as_str()),
        existing_id: Some(existing.0),
    }
}

/// The events of a replace's member writes: `address.removed`, `address.updated`,
/// `address.added`, then the same of contacts (updates that change nothing visible have none).
fn member_events(
    actor: &Actor,
    members: &MemberChanges,
    now: DateTime<Utc>,
) -> Vec<crate::event::NewEvent> {
    use crate::{address, contact};
    let a = &members.addresses;
    let c = &members.contacts;
    let mut events = Vec::new();
    events.extend(
        a.removed
            .iter()
            .map(|x| address::removed_event(actor, x, now)),
    );
    events.extend(
        a.updated
            .iter()
            .filter_map(|(before, after)| address::updated_event(actor, before, after, now)),
    );
    events.extend(a.added.iter().map(|x| address::added_event(actor, x, now)));
    events.extend(
        c.removed
            .iter()
            .map(|x| contact::removed_event(actor, x, now)),
    );
    events.extend(
        c.updated
            .iter()
            .filter_map(|(before, after)| contact::updated_event(actor, before, after, now)),
    );
    events.extend(c.added.iter().map(|x| contact::added_event(actor, x, now)));
    events
}

fn check_version(expected: Option<i64>, current: i64) -> Result<(), DomainError> {
    match expected {
        Some(expected) if expected != current => {
            Err(DomainError::PreconditionFailed { expected, current })
        }
        _ => Ok(()),
    }
}

/// The refusal to delete customer `id`, naming its open orders `refs`.
fn open_orders_refusal(id: CustomerId, refs: Vec<String>) -> DomainError {
    DeleteCustomerError::OpenOrders {
        orders: refs.into_iter().map(|r| (id, r)).collect(),
    }
    .into()
}

/// The query's filter within the filter language's limits
/// ([`Filter::check_limits`](super::filter::Filter::check_limits)), whichever path built it:
/// query parameters, a JSON filter, a saved view, a segment's rule ANDed with parameters.
fn check_filter(query: &CustomerQuery) -> Result<(), DomainError> {
    query
        .filter
        .check_limits("filter")
        .map_err(|e| DomainError::Validation(vec![e]))
}
