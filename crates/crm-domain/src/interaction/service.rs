//! Use cases on interactions and follow-ups.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::input::{FollowUpInput, InteractionInput};
use super::model::{
    DerivedDates, FollowUp, FollowUpPosition, FollowUpQuery, FollowUpStatus, Interaction,
    InteractionPosition, InteractionQuery,
};
use super::ports::{
    FollowUpPatch, InteractionPatch, InteractionRepository, InteractionTransaction,
};
use crate::access::{Actor, Permission};
use crate::customer::{Customer, CustomerErased, CustomerRepository, load_visible};
use crate::error::{DomainError, FieldError};
use crate::event::{EntityType, NewEvent, field_changes};
use crate::ids::{CustomerId, FollowUpId, InteractionId, UserId};
use crate::page::Page;
use crate::ports::{Clock, IdGenerator};
use crate::tenant::TenantRepository;

/// The value of the work queue's `assignee` filter that means the caller.
pub const ASSIGNEE_ME: &str = "me";

/// Fields of the event states that do not count as changes.
const NOT_CHANGES: &[&str] = &["version"];

/// An interaction just logged, with the follow-up created with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedInteraction {
    /// The interaction.
    pub interaction: Interaction,
    /// The follow-up of its `follow_up` member, if any.
    pub follow_up: Option<FollowUp>,
}

/// Use cases on a customer's interactions and follow-ups. Reading needs `customers.view`,
/// writing `customers.view` and `customers.edit`; the customer must be live and inside the
/// caller's visibility, else it (and its history) is not found (404). Every write runs in one
/// transaction that holds the customer's lock, recomputes the customer's `last_contact_at`
/// (latest `occurred_at` of its interactions) and `next_follow_up_at` (earliest `due_at` of
/// its open follow-ups) from storage, writing them (and adding 1 to the customer's version)
/// when they moved, and appends the write's events.
pub struct InteractionService {
    repo: Arc<dyn InteractionRepository>,
    customers: Arc<dyn CustomerRepository>,
    tenants: Arc<dyn TenantRepository>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl InteractionService {
    /// Wires the service.
    pub fn new(
        repo: Arc<dyn InteractionRepository>,
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

    /// Now, by the service's clock (what `overdue` is judged at).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    // ---------------------------------------------------------------- interactions

    /// A page of a live customer's interactions the caller reaches, newest first (needs
    /// `customers.view`); `q.customer_id` is set to `customer`.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] (`customer`) when the customer is absent, deleted, another
    /// tenant's or outside the caller's visibility; [`DomainError::Forbidden`].
    #[tracing::instrument(name = "InteractionService::list_for_customer", skip_all, fields(tenant_id = %actor.tenant_id, customer_id = %customer))]
    pub async fn list_for_customer(
        &self,
        actor: &Actor,
        customer: CustomerId,
        mut q: InteractionQuery,
    ) -> Result<Page<Interaction, InteractionPosition>, DomainError> {
        self.readable(actor, customer).await?;
        q.customer_id = Some(customer);
        self.list(actor, q).await
    }

    /// A page of the tenant's interactions matching `q`, newest first (needs
    /// `customers.view`), of live customers inside the caller's visibility only.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`].
    #[tracing::instrument(name = "InteractionService::list", skip_all, fields(tenant_id = %actor.tenant_id))]
    pub async fn list(
        &self,
        actor: &Actor,
        mut q: InteractionQuery,
    ) -> Result<Page<Interaction, InteractionPosition>, DomainError> {
        actor.require(Permission::CustomersView)?;
        let visibility = crate::tenant::visibility(self.tenants.as_ref(), actor).await?;
        let limit = q.limit.clamp(1, crate::customer::MAX_PAGE_SIZE);
        q.limit = limit + 1;
        let rows = self
            .repo
            .list_interactions(actor.tenant_id, &visibility, &q)
            .await?;
        Ok(Page::from_probe(rows, limit, |i| {
            (i.details.occurred_at, i.id)
        }))
    }

    /// One interaction of a live customer the caller reaches (needs `customers.view`).
    ///
    /// # Errors
    /// [`DomainError::NotFound`] (`interaction`) when it is absent, another tenant's, or its
    /// customer is deleted or outside the caller's visibility; [`DomainError::Forbidden`].
    #[tracing::instrument(name = "InteractionService::get", skip_all, fields(tenant_id = %actor.tenant_id, interaction_id = %id))]
    pub async fn get(&self, actor: &Actor, id: InteractionId) -> Result<Interaction, DomainError> {
        actor.require(Permission::CustomersView)?;
        let found = self
            .repo
            .find_interaction(actor.tenant_id, id)
            .await?
            .ok_or(NOT_FOUND_INTERACTION)?;
        self.readable(actor, found.customer_id)
            .await
            .map_err(|e| hide(e, NOT_FOUND_INTERACTION))?;
        Ok(found)
    }

    /// Logs an interaction with a customer (needs `customers.view` and `customers.edit`),
    /// performed by the caller, and the follow-up of its `follow_up` member in the same
    /// transaction (that follow-up's `interaction_id` names it; a bad follow-up refuses both).
    ///
    /// # Errors
    /// As [`InteractionService::list_for_customer`]; [`DomainError::Validation`] for broken
    /// field rules (the follow-up's named `follow_up.<field>`), and `contact_id`
    /// `not_a_contact` when the contact is not one of this customer's; [`CustomerErased`]
    /// (409) for an erased customer.
    #[tracing::instrument(name = "InteractionService::create", skip_all, fields(tenant_id = %actor.tenant_id, customer_id = %customer))]
    pub async fn create(
        &self,
        actor: &Actor,
        customer: CustomerId,
        input: InteractionInput,
    ) -> Result<LoggedInteraction, DomainError> {
        let (mut tx, customer) = self.open(actor, customer).await?;
        let now = self.clock.now();
        let mut input = input;
        let follow_up = input
            .follow_up
            .take()
            .map(|f| check_new_follow_up(f, "follow_up.", &actor.user_id));
        let (details, follow_up) = match (input.validate(now), follow_up.transpose()) {
            (Ok((details, _)), Ok(follow_up)) => (details, follow_up),
            (Err(mut errors), Err(more)) => {
                errors.extend(more);
                return Err(DomainError::Validation(errors));
            }
            (Err(errors), _) | (_, Err(errors)) => return Err(DomainError::Validation(errors)),
        };
        if let Some(contact) = details.contact_id
            && !tx
                .is_contact_of(actor.tenant_id, customer.id, contact)
                .await?
        {
            return Err(not_a_contact());
        }
        let interaction = Interaction {
            id: InteractionId(self.ids.new_id()),
            tenant_id: actor.tenant_id,
            customer_id: customer.id,
            details,
            performed_by: actor.user_id.clone(),
            version: 1,
            updated_by: Some(actor.user_id.clone()),
            created_at: now,
            updated_at: now,
        };
        tx.insert_interaction(&interaction).await?;
        let mut events = vec![
            NewEvent::new(
                actor,
                "interaction.logged",
                EntityType::Interaction,
                interaction.id.0,
                now,
            )
            .customer(customer.id)
            .data(interaction.event_data()),
        ];
        let follow_up = match follow_up {
            Some(details) => {
                let f = FollowUp {
                    id: FollowUpId(self.ids.new_id()),
                    tenant_id: actor.tenant_id,
                    customer_id: customer.id,
                    details,
                    status: FollowUpStatus::Open,
                    completed_at: None,
                    completed_by: None,
                    interaction_id: Some(interaction.id),
                    version: 1,
                    created_by: Some(actor.user_id.clone()),
                    updated_by: Some(actor.user_id.clone()),
                    created_at: now,
                    updated_at: now,
                };
                tx.insert_follow_up(&f).await?;
                events.push(
                    NewEvent::new(
                        actor,
                        "follow_up.created",
                        EntityType::FollowUp,
                        f.id.0,
                        now,
                    )
                    .customer(customer.id)
                    .data(f.event_data()),
                );
                Some(f)
            }
            None => None,
        };
        finish(tx, &customer, &events).await?;
        Ok(LoggedInteraction {
            interaction,
            follow_up,
        })
    }

    /// Changes an interaction (needs `customers.view` and `customers.edit`): `patch` is
    /// applied to the stored interaction and the result replaces it, under the rules of
    /// [`InteractionService::create`] (`follow_up` is refused: create the follow-up on its
    /// own). `performed_by` stays. With `expected_version` the write happens only on that
    /// version. A patch that changes nothing writes nothing.
    ///
    /// # Errors
    /// As [`InteractionService::get`] and [`InteractionService::create`];
    /// [`DomainError::PreconditionFailed`] when `expected_version` is stale.
    #[tracing::instrument(name = "InteractionService::patch", skip_all, fields(tenant_id = %actor.tenant_id, interaction_id = %id))]
    pub async fn patch(
        &self,
        actor: &Actor,
        id: InteractionId,
        patch: &dyn InteractionPatch,
        expected_version: Option<i64>,
    ) -> Result<Interaction, DomainError> {
        let (mut tx, customer, current) = self.open_interaction(actor, id).await?;
        check_version(expected_version, current.version)?;
        let now = self.clock.now();
        let input = patch.apply(&current)?;
        if input.follow_up.is_some() {
            return Err(DomainError::invalid(
                "follow_up",
                "create_only",
                "a follow-up is created with the interaction or on its own (POST /customers/{id}/follow-ups)",
            ));
        }
        let (details, _) = input.validate(now).map_err(DomainError::Validation)?;
        if details == current.details {
            return Ok(current);
        }
        if let Some(contact) = details.contact_id
            && details.contact_id != current.details.contact_id
            && !tx
                .is_contact_of(actor.tenant_id, customer.id, contact)
                .await?
        {
            return Err(not_a_contact());
        }
        let updated = Interaction {
            details,
            version: current.version + 1,
            updated_by: Some(actor.user_id.clone()),
            updated_at: now,
            ..current.clone()
        };
        tx.update_interaction(&updated).await?;
        let event = NewEvent::new(
            actor,
            "interaction.updated",
            EntityType::Interaction,
            id.0,
            now,
        )
        .customer(customer.id)
        .data(updated.event_data())
        .changes(field_changes(
            &current.event_data(),
            &updated.event_data(),
            NOT_CHANGES,
        ));
        finish(tx, &customer, &[event]).await?;
        Ok(updated)
    }

    /// Deletes an interaction (needs `customers.view` and `customers.edit`); the follow-ups
    /// it created stay, without `interaction_id`.
    ///
    /// # Errors
    /// As [`InteractionService::patch`].
    #[tracing::instrument(name = "InteractionService::delete", skip_all, fields(tenant_id = %actor.tenant_id, interaction_id = %id))]
    pub async fn delete(
        &self,
        actor: &Actor,
        id: InteractionId,
        expected_version: Option<i64>,
    ) -> Result<(), DomainError> {
        let (mut tx, customer, current) = self.open_interaction(actor, id).await?;
        check_version(expected_version, current.version)?;
        tx.delete_interaction(actor.tenant_id, id).await?;
        let event = NewEvent::new(
            actor,
            "interaction.deleted",
            EntityType::Interaction,
            id.0,
            self.clock.now(),
        )
        .customer(customer.id)
        .data(current.event_data());
        finish(tx, &customer, &[event]).await
    }

    // ---------------------------------------------------------------- follow-ups

    /// A page of a live customer's follow-ups the caller reaches, by `due_at` (needs
    /// `customers.view`); `q.customer_id` is set to `customer`.
    ///
    /// # Errors
    /// As [`InteractionService::list_for_customer`].
    #[tracing::instrument(name = "InteractionService::list_follow_ups_for_customer", skip_all, fields(tenant_id = %actor.tenant_id, customer_id = %customer))]
    pub async fn list_follow_ups_for_customer(
        &self,
        actor: &Actor,
        customer: CustomerId,
        mut q: FollowUpQuery,
        assignee: Option<&str>,
    ) -> Result<Page<FollowUp, FollowUpPosition>, DomainError> {
        self.readable(actor, customer).await?;
        q.customer_id = Some(customer);
        self.list_follow_ups(actor, q, assignee).await
    }

    /// The work queue: a page of the tenant's follow-ups matching `q`, by `due_at` then id
    /// (needs `customers.view`), of live customers inside the caller's visibility only.
    /// `assignee` [`ASSIGNEE_ME`] (`me`) is the caller, any other value a user id; `q.now` is
    /// set from the clock (what `overdue` is judged at).
    ///
    /// # Errors
    /// [`DomainError::Forbidden`]; [`DomainError::Validation`] (`assignee`) for an empty or
    /// over-long user id.
    #[tracing::instrument(name = "InteractionService::list_follow_ups", skip_all, fields(tenant_id = %actor.tenant_id))]
    pub async fn list_follow_ups(
        &self,
        actor: &Actor,
        mut q: FollowUpQuery,
        assignee: Option<&str>,
    ) -> Result<Page<FollowUp, FollowUpPosition>, DomainError> {
        actor.require(Permission::CustomersView)?;
        q.assignee = match assignee {
            None => None,
            Some(ASSIGNEE_ME) => Some(actor.user_id.clone()),
            Some(other) => Some(UserId::parse(other).ok_or_else(|| {
                DomainError::invalid(
                    "assignee",
                    "invalid_value",
                    "`me` or a user id of 1..=255 characters",
                )
            })?),
        };
        let visibility = crate::tenant::visibility(self.tenants.as_ref(), actor).await?;
        q.now = self.clock.now();
        let limit = q.limit.clamp(1, crate::customer::MAX_PAGE_SIZE);
        q.limit = limit + 1;
        let rows = self
            .repo
            .list_follow_ups(actor.tenant_id, &visibility, &q)
            .await?;
        Ok(Page::from_probe(rows, limit, |f| (f.details.due_at, f.id)))
    }

    /// One follow-up of a live customer the caller reaches (needs `customers.view`).
    ///
    /// # Errors
    /// [`DomainError::NotFound`] (`follow_up`) as [`InteractionService::get`].
    #[tracing::instrument(name = "InteractionService::get_follow_up", skip_all, fields(tenant_id = %actor.tenant_id, follow_up_id = %id))]
    pub async fn get_follow_up(
        &self,
        actor: &Actor,
        id: FollowUpId,
    ) -> Result<FollowUp, DomainError> {
        actor.require(Permission::CustomersView)?;
        let found = self
            .repo
            .find_follow_up(actor.tenant_id, id)
            .await?
            .ok_or(NOT_FOUND_FOLLOW_UP)?;
        self.readable(actor, found.customer_id)
            .await
            .map_err(|e| hide(e, NOT_FOUND_FOLLOW_UP))?;
        Ok(found)
    }

    /// Creates an open follow-up on a customer (needs `customers.view` and
    /// `customers.edit`); `assignee` defaults to the caller.
    ///
    /// # Errors
    /// As [`InteractionService::list_for_customer`]; [`DomainError::Validation`] for broken
    /// field rules (a `status` other than `open` is `invalid_value`); [`CustomerErased`].
    #[tracing::instrument(name = "InteractionService::create_follow_up", skip_all, fields(tenant_id = %actor.tenant_id, customer_id = %customer))]
    pub async fn create_follow_up(
        &self,
        actor: &Actor,
        customer: CustomerId,
        input: FollowUpInput,
    ) -> Result<FollowUp, DomainError> {
        let (mut tx, customer) = self.open(actor, customer).await?;
        let details =
            check_new_follow_up(input, "", &actor.user_id).map_err(DomainError::Validation)?;
        let now = self.clock.now();
        let f = FollowUp {
            id: FollowUpId(self.ids.new_id()),
            tenant_id: actor.tenant_id,
            customer_id: customer.id,
            details,
            status: FollowUpStatus::Open,
            completed_at: None,
            completed_by: None,
            interaction_id: None,
            version: 1,
            created_by: Some(actor.user_id.clone()),
            updated_by: Some(actor.user_id.clone()),
            created_at: now,
            updated_at: now,
        };
        tx.insert_follow_up(&f).await?;
        let event = NewEvent::new(
            actor,
            "follow_up.created",
            EntityType::FollowUp,
            f.id.0,
            now,
        )
        .customer(customer.id)
        .data(f.event_data());
        finish(tx, &customer, &[event]).await?;
        Ok(f)
    }

    /// Changes a follow-up (needs `customers.view` and `customers.edit`): `patch` is applied
    /// to the stored follow-up and the result replaces it. A `status` change follows
    /// [`FollowUpStatus::can_become`]: to `done` sets `completed_at` (now) and `completed_by`
    /// (the caller), back to `open` (a reopen) clears them. The event is
    /// `follow_up.completed`, `.cancelled` or `.reopened` for a status change, else
    /// `follow_up.updated`, with every changed field. A patch that changes nothing writes
    /// nothing.
    ///
    /// # Errors
    /// As [`InteractionService::get_follow_up`]; [`DomainError::Validation`] for broken field
    /// rules and `status` `invalid_transition`; [`DomainError::PreconditionFailed`] when
    /// `expected_version` is stale.
    #[tracing::instrument(name = "InteractionService::patch_follow_up", skip_all, fields(tenant_id = %actor.tenant_id, follow_up_id = %id))]
    pub async fn patch_follow_up(
        &self,
        actor: &Actor,
        id: FollowUpId,
        patch: &dyn FollowUpPatch,
        expected_version: Option<i64>,
    ) -> Result<FollowUp, DomainError> {
        let (mut tx, customer, current) = self.open_follow_up(actor, id).await?;
        check_version(expected_version, current.version)?;
        let (details, status) = patch
            .apply(&current)?
            .validate("", &actor.user_id)
            .map_err(DomainError::Validation)?;
        let status = status.unwrap_or(current.status);
        if !current.status.can_become(status) {
            return Err(DomainError::invalid(
                "status",
                "invalid_transition",
                format!(
                    "a {} follow-up cannot become {}; reopen it first (status `open`)",
                    current.status, status
                ),
            ));
        }
        if details == current.details && status == current.status {
            return Ok(current);
        }
        let now = self.clock.now();
        let (completed_at, completed_by, event_type) = match (current.status, status) {
            (from, FollowUpStatus::Done) if from != FollowUpStatus::Done => (
                Some(now),
                Some(actor.user_id.clone()),
                "follow_up.completed",
            ),
            (from, FollowUpStatus::Cancelled) if from != FollowUpStatus::Cancelled => {
                (None, None, "follow_up.cancelled")
            }
            (from, FollowUpStatus::Open) if from != FollowUpStatus::Open => {
                (None, None, "follow_up.reopened")
            }
            _ => (
                current.completed_at,
                current.completed_by.clone(),
                "follow_up.updated",
            ),
        };
        let updated = FollowUp {
            details,
            status,
            completed_at,
            completed_by,
            version: current.version + 1,
            updated_by: Some(actor.user_id.clone()),
            updated_at: now,
            ..current.clone()
        };
        tx.update_follow_up(&updated).await?;
        let event = NewEvent::new(actor, event_type, EntityType::FollowUp, id.0, now)
            .customer(customer.id)
            .data(updated.event_data())
            .changes(field_changes(
                &current.event_data(),
                &updated.event_data(),
                NOT_CHANGES,
            ));
        finish(tx, &customer, &[event]).await?;
        Ok(updated)
    }

    /// Deletes a follow-up (needs `customers.view` and `customers.edit`).
    ///
    /// # Errors
    /// As [`InteractionService::patch_follow_up`].
    #[tracing::instrument(name = "InteractionService::delete_follow_up", skip_all, fields(tenant_id = %actor.tenant_id, follow_up_id = %id))]
    pub async fn delete_follow_up(
        &self,
        actor: &Actor,
        id: FollowUpId,
        expected_version: Option<i64>,
    ) -> Result<(), DomainError> {
        let (mut tx, customer, current) = self.open_follow_up(actor, id).await?;
        check_version(expected_version, current.version)?;
        tx.delete_follow_up(actor.tenant_id, id).await?;
        let event = NewEvent::new(
            actor,
            "follow_up.deleted",
            EntityType::FollowUp,
            id.0,
            self.clock.now(),
        )
        .customer(customer.id)
        .data(current.event_data());
        finish(tx, &customer, &[event]).await
    }

    // ---------------------------------------------------------------- helpers

    /// The live customer `id` if the caller may read it.
    async fn readable(&self, actor: &Actor, id: CustomerId) -> Result<Customer, DomainError> {
        actor.require(Permission::CustomersView)?;
        let visibility = crate::tenant::visibility(self.tenants.as_ref(), actor).await?;
        load_visible(self.customers.as_ref(), actor.tenant_id, &visibility, id).await
    }

    /// Checks permissions, starts the transaction and locks the live, visible, not erased
    /// customer.
    async fn open(
        &self,
        actor: &Actor,
        id: CustomerId,
    ) -> Result<(Box<dyn InteractionTransaction>, Customer), DomainError> {
        require_write(actor)?;
        let tenant = crate::tenant::load(self.tenants.as_ref(), actor.tenant_id).await?;
        let visibility = tenant.visibility_of(actor)?;
        let mut tx = self.repo.begin(actor.tenant_id).await?;
        let customer = tx
            .lock_customer(actor.tenant_id, id)
            .await?
            .filter(|c| c.deleted_at.is_none() && visibility.allows(c.profile.assigned_to.as_ref()))
            .ok_or(DomainError::NotFound { entity: "customer" })?;
        CustomerErased::check(&customer)?;
        Ok((tx, customer))
    }

    /// [`Self::open`] on the customer of interaction `id`, with the interaction read under
    /// the lock.
    async fn open_interaction(
        &self,
        actor: &Actor,
        id: InteractionId,
    ) -> Result<(Box<dyn InteractionTransaction>, Customer, Interaction), DomainError> {
        require_write(actor)?;
        let found = self
            .repo
            .find_interaction(actor.tenant_id, id)
            .await?
            .ok_or(NOT_FOUND_INTERACTION)?;
        let (mut tx, customer) = self
            .open(actor, found.customer_id)
            .await
            .map_err(|e| hide(e, NOT_FOUND_INTERACTION))?;
        let current = tx
            .interaction(actor.tenant_id, id)
            .await?
            .filter(|i| i.customer_id == customer.id)
            .ok_or(NOT_FOUND_INTERACTION)?;
        Ok((tx, customer, current))
    }

    /// [`Self::open`] on the customer of follow-up `id`, with the follow-up read under the
    /// lock.
    async fn open_follow_up(
        &self,
        actor: &Actor,
        id: FollowUpId,
    ) -> Result<(Box<dyn InteractionTransaction>, Customer, FollowUp), DomainError> {
        require_write(actor)?;
        let found = self
            .repo
            .find_follow_up(actor.tenant_id, id)
            .await?
            .ok_or(NOT_FOUND_FOLLOW_UP)?;
        let (mut tx, customer) = self
            .open(actor, found.customer_id)
            .await
            .map_err(|e| hide(e, NOT_FOUND_FOLLOW_UP))?;
        let current = tx
            .follow_up(actor.tenant_id, id)
            .await?
            .filter(|f| f.customer_id == customer.id)
            .ok_or(NOT_FOUND_FOLLOW_UP)?;
        Ok((tx, customer, current))
    }
}

const NOT_FOUND_INTERACTION: DomainError = DomainError::NotFound {
    entity: "interaction",
};
const NOT_FOUND_FOLLOW_UP: DomainError = DomainError::NotFound {
    entity: "follow_up",
};

fn require_write(actor: &Actor) -> Result<(), DomainError> {
    actor.require(Permission::CustomersView)?;
    actor.require(Permission::CustomersEdit)?;
    Ok(())
}

/// A record whose customer is out of reach is itself not found.
fn hide(e: DomainError, instead: DomainError) -> DomainError {
    match e {
        DomainError::NotFound { .. } => instead,
        other => other,
    }
}

/// The customer's dates as the history now gives them, written when they moved; then the
/// events, then the commit.
async fn finish(
    mut tx: Box<dyn InteractionTransaction>,
    customer: &Customer,
    events: &[NewEvent],
) -> Result<(), DomainError> {
    let dates = tx.derived_dates(customer.tenant_id, customer.id).await?;
    if dates != current_dates(customer) {
        tx.set_derived_dates(customer.tenant_id, customer.id, dates)
            .await?;
    }
    tx.append_events(events).await?;
    tx.commit().await?;
    Ok(())
}

fn current_dates(c: &Customer) -> DerivedDates {
    DerivedDates {
        last_contact_at: c.profile.last_contact_at,
        next_follow_up_at: c.profile.next_follow_up_at,
    }
}

/// A new follow-up's details: its input's rules, and a `status` (if given) of `open`.
fn check_new_follow_up(
    input: FollowUpInput,
    prefix: &str,
    caller: &UserId,
) -> Result<super::model::FollowUpDetails, Vec<FieldError>> {
    let (details, status) = input.validate(prefix, caller)?;
    match status {
        None | Some(FollowUpStatus::Open) => Ok(details),
        Some(_) => Err(vec![FieldError::new(
            format!("{prefix}status"),
            "invalid_value",
            "a new follow-up is open; complete or cancel it with a PATCH",
        )]),
    }
}

fn not_a_contact() -> DomainError {
    DomainError::invalid(
        "contact_id",
        "not_a_contact",
        "must be a contact of this interaction's customer",
    )
}

fn check_version(expected: Option<i64>, current: i64) -> Result<(), DomainError> {
    match expected {
        Some(expected) if expected != current => {
            Err(DomainError::PreconditionFailed { expected, current })
        }
        _ => Ok(()),
    }
}
