//! Use cases on notes.

use std::sync::Arc;

use serde_json::json;

use super::error::NoteError;
use super::model::{
    NOTE_PREVIEW_CHARS, Note, NoteFilter, NoteId, NoteInput, NotePosition, Resolution,
    TenantNotePosition,
};
use super::ports::{NotePatch, NoteRepository, NoteTransaction};
use crate::access::{Actor, Permission, Visibility};
use crate::customer::{Customer, CustomerErased, CustomerRepository, MAX_PAGE_SIZE, load_visible};
use crate::error::DomainError;
use crate::event::{
    EntityType, Event, EventFilter, EventId, EventRepository, NewEvent, field_changes,
};
use crate::ids::CustomerId;
use crate::page::Page;
use crate::ports::{Clock, IdGenerator};
use crate::tenant::TenantRepository;

/// The first [`NOTE_PREVIEW_CHARS`] characters of a body (what `note.added` and
/// `note.deleted` events carry).
pub fn body_preview(body: &str) -> String {
    body.chars().take(NOTE_PREVIEW_CHARS).collect()
}

/// Use cases on notes. Permissions are the customer's: `customers.view` to read,
/// `customers.edit` to write, and a note is changed or deleted only by its author or a caller
/// with `customers.manage` ([`NoteError::NotAuthor`], 403). The customer must be live (not
/// soft-deleted) and inside the caller's [`Visibility`], else its notes are not found (404),
/// as another tenant's. Every write runs in one [`NoteTransaction`] under the customer's lock
/// and appends its event (`note.added`, `note.updated`, `note.deleted`) in it.
pub struct NoteService {
    notes: Arc<dyn NoteRepository>,
    customers: Arc<dyn CustomerRepository>,
    tenants: Arc<dyn TenantRepository>,
    events: Arc<dyn EventRepository>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

/// `limit` within 1..=200.
fn page_size(limit: u32) -> u32 {
    limit.clamp(1, MAX_PAGE_SIZE)
}

impl NoteService {
    /// Wires the service.
    pub fn new(
        notes: Arc<dyn NoteRepository>,
        customers: Arc<dyn CustomerRepository>,
        tenants: Arc<dyn TenantRepository>,
        events: Arc<dyn EventRepository>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self {
            notes,
            customers,
            tenants,
            events,
            clock,
            ids,
        }
    }

    /// A page of the customer's notes, pinned first, then newest (needs `customers.view`);
    /// `limit` is clamped to 1..=200.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] (`customer`) for a customer absent, deleted, another tenant's
    /// or outside the caller's visibility; [`DomainError::Forbidden`].
    #[tracing::instrument(name = "NoteService::list_for_customer", skip_all, fields(tenant_id = %actor.tenant_id, customer_id = %customer))]
    pub async fn list_for_customer(
        &self,
        actor: &Actor,
        customer: CustomerId,
        after: Option<NotePosition>,
        limit: u32,
    ) -> Result<Page<Note, NotePosition>, DomainError> {
        actor.require(Permission::CustomersView)?;
        let visibility = crate::tenant::visibility(self.tenants.as_ref(), actor).await?;
        load_visible(
            self.customers.as_ref(),
            actor.tenant_id,
            &visibility,
            customer,
        )
        .await?;
        let limit = page_size(limit);
        let rows = self
            .notes
            .list_for_customer(actor.tenant_id, customer, after, limit + 1)
            .await?;
        Ok(Page::from_probe(rows, limit, |n| NotePosition {
            pinned: n.fields.pinned,
            created_at: n.created_at,
            id: n.id,
        }))
    }

    /// A page of the tenant's notes matching `filter`, newest first (needs `customers.view`):
    /// only notes of live customers inside the caller's visibility. Open complaints across the
    /// tenant are `category: complaint, resolution: open`.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`]; storage errors.
    #[tracing::instrument(name = "NoteService::list", skip_all, fields(tenant_id = %actor.tenant_id))]
    pub async fn list(
        &self,
        actor: &Actor,
        filter: NoteFilter,
    ) -> Result<Page<Note, TenantNotePosition>, DomainError> {
        actor.require(Permission::CustomersView)?;
        let visibility = crate::tenant::visibility(self.tenants.as_ref(), actor).await?;
        let limit = page_size(filter.limit);
        let probe = NoteFilter {
            limit: limit + 1,
            ..filter
        };
        let rows = self
            .notes
            .list(actor.tenant_id, &visibility, &probe)
            .await?;
        Ok(Page::from_probe(rows, limit, |n| (n.created_at, n.id)))
    }

    /// One note (needs `customers.view`).
    ///
    /// # Errors
    /// [`DomainError::NotFound`] (`note`) when the tenant has no such note or its customer is
    /// deleted or outside the caller's visibility; [`DomainError::Forbidden`].
    #[tracing::instrument(name = "NoteService::get", skip_all, fields(tenant_id = %actor.tenant_id, note_id = %id))]
    pub async fn get(&self, actor: &Actor, id: NoteId) -> Result<Note, DomainError> {
        actor.require(Permission::CustomersView)?;
        let note = self
            .notes
            .get(actor.tenant_id, id)
            .await?
            .ok_or(DomainError::NotFound { entity: "note" })?;
        let visibility = crate::tenant::visibility(self.tenants.as_ref(), actor).await?;
        load_visible(
            self.customers.as_ref(),
            actor.tenant_id,
            &visibility,
            note.customer_id,
        )
        .await
        .map_err(|e| match e {
            DomainError::NotFound { .. } => DomainError::NotFound { entity: "note" },
            other => other,
        })?;
        Ok(note)
    }

    /// The note's revisions, newest first, from the event log (needs `customers.view`): its
    /// `note.updated` events (each with `changes`: `body: [old, new]` in full and any other
    /// changed field), `limit` (clamped to 1..=200) before event `before`.
    ///
    /// # Errors
    /// As [`NoteService::get`].
    #[tracing::instrument(name = "NoteService::history", skip_all, fields(tenant_id = %actor.tenant_id, note_id = %id))]
    pub async fn history(
        &self,
        actor: &Actor,
        id: NoteId,
        before: Option<EventId>,
        limit: u32,
    ) -> Result<Page<Event, EventId>, DomainError> {
        self.get(actor, id).await?;
        let limit = page_size(limit);
        let filter = EventFilter {
            entity_type: Some(EntityType::Note),
            entity_id: Some(id.0),
            with_changes: true,
            before,
            ..Default::default()
        };
        let rows = self
            .events
            .list(actor.tenant_id, filter, u64::from(limit) + 1)
            .await?;
        Ok(Page::from_probe(rows, limit, |e| e.id))
    }

    /// Adds a note to a customer (needs `customers.view` and `customers.edit`); the caller is
    /// its author. Appends `note.added` (data: `note_id`, `category`, `resolution`,
    /// `is_internal`, `pinned`, `body_preview` (the first 200 characters) and `body_chars`).
    ///
    /// # Errors
    /// [`DomainError::Validation`] for broken input rules ([`NoteInput::validate`]);
    /// [`DomainError::NotFound`] (`customer`) as [`NoteService::list_for_customer`];
    /// [`CustomerErased`] (409); [`DomainError::Forbidden`].
    #[tracing::instrument(name = "NoteService::create", skip_all, fields(tenant_id = %actor.tenant_id, customer_id = %customer))]
    pub async fn create(
        &self,
        actor: &Actor,
        customer: CustomerId,
        input: NoteInput,
    ) -> Result<Note, DomainError> {
        let visibility = self.writer(actor).await?;
        let fields = input.validate().map_err(DomainError::Validation)?;
        let mut tx = self.notes.begin(actor.tenant_id).await?;
        let locked = tx.lock_customer(actor.tenant_id, customer).await?;
        writable(locked.as_ref(), &visibility, "customer")?;
        let now = self.clock.now();
        let note = Note {
            id: NoteId(self.ids.new_id()),
            tenant_id: actor.tenant_id,
            customer_id: customer,
            resolved_at: (fields.resolution == Some(Resolution::Resolved)).then_some(now),
            fields,
            author: actor.user_id.clone(),
            created_at: now,
            edited_at: None,
            updated_by: actor.user_id.clone(),
            updated_at: now,
            version: 1,
        };
        tx.insert(&note).await?;
        tx.append_events(&[
            NewEvent::new(actor, "note.added", EntityType::Note, note.id.0, now)
                .customer(customer)
                .data(summary(&note)),
        ])
        .await?;
        tx.commit().await?;
        Ok(note)
    }

    /// Changes a note (needs `customers.view`, `customers.edit`, and being its author or
    /// holding `customers.manage`): `patch` is applied to the stored note and the result
    /// replaces its fields. A new body sets `edited_at`; a complaint becoming `resolved` sets
    /// `resolved_at`, leaving `resolved` clears it. With `expected_version` the write happens
    /// only on that version. A patch that changes nothing writes nothing. Appends
    /// `note.updated` whose `changes` hold every changed field as `[old, new]`, the full old
    /// and new `body` included (the note's history).
    ///
    /// # Errors
    /// [`DomainError::NotFound`] (`note`) as [`NoteService::get`];
    /// [`NoteError::NotAuthor`] (403); [`DomainError::PreconditionFailed`] when
    /// `expected_version` is stale; [`DomainError::Validation`]; [`CustomerErased`] (409).
    #[tracing::instrument(name = "NoteService::patch", skip_all, fields(tenant_id = %actor.tenant_id, note_id = %id))]
    pub async fn patch(
        &self,
        actor: &Actor,
        id: NoteId,
        patch: &dyn NotePatch,
        expected_version: Option<i64>,
    ) -> Result<Note, DomainError> {
        let (mut tx, current) = self.open_note(actor, id, expected_version).await?;
        let fields = patch
            .apply(&current)?
            .validate()
            .map_err(DomainError::Validation)?;
        let now = self.clock.now();
        let resolved_at = match fields.resolution {
            Some(Resolution::Resolved)
                if current.fields.resolution == Some(Resolution::Resolved) =>
            {
                current.resolved_at
            }
            Some(Resolution::Resolved) => Some(now),
            _ => None,
        };
        let edited_at = if fields.body == current.fields.body {
            current.edited_at
        } else {
            Some(now)
        };
        let updated = Note {
            fields,
            resolved_at,
            edited_at,
            updated_by: actor.user_id.clone(),
            updated_at: now,
            version: current.version + 1,
            ..current.clone()
        };
        let changes = field_changes(&current.snapshot(), &updated.snapshot(), &["edited_at"]);
        if changes.is_empty() {
            return Ok(current);
        }
        tx.update(&updated).await?;
        tx.append_events(&[
            NewEvent::new(actor, "note.updated", EntityType::Note, id.0, now)
                .customer(updated.customer_id)
                .data(json!({
                    "note_id": id,
                    "category": updated.fields.category.as_str(),
                    "resolution": updated.fields.resolution.map(Resolution::as_str),
                    "is_internal": updated.fields.is_internal,
                    "pinned": updated.fields.pinned,
                }))
                .changes(changes),
        ])
        .await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Deletes a note for good (needs `customers.view`, `customers.edit`, and being its author
    /// or holding `customers.manage`); its events stay in the log. Appends `note.deleted`
    /// (data as `note.added`'s).
    ///
    /// # Errors
    /// As [`NoteService::patch`].
    #[tracing::instrument(name = "NoteService::delete", skip_all, fields(tenant_id = %actor.tenant_id, note_id = %id))]
    pub async fn delete(
        &self,
        actor: &Actor,
        id: NoteId,
        expected_version: Option<i64>,
    ) -> Result<(), DomainError> {
        let (mut tx, current) = self.open_note(actor, id, expected_version).await?;
        tx.delete(actor.tenant_id, id).await?;
        tx.append_events(&[NewEvent::new(
            actor,
            "note.deleted",
            EntityType::Note,
            id.0,
            self.clock.now(),
        )
        .customer(current.customer_id)
        .data(summary(&current))])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Checks the write permissions and returns the caller's visibility.
    async fn writer(&self, actor: &Actor) -> Result<Visibility, DomainError> {
        actor.require(Permission::CustomersView)?;
        actor.require(Permission::CustomersEdit)?;
        crate::tenant::visibility(self.tenants.as_ref(), actor).await
    }

    /// Starts a transaction on note `id` under its customer's lock and checks that the caller
    /// may change it, at `expected_version` when given.
    async fn open_note(
        &self,
        actor: &Actor,
        id: NoteId,
        expected_version: Option<i64>,
    ) -> Result<(Box<dyn NoteTransaction>, Note), DomainError> {
        let visibility = self.writer(actor).await?;
        let mut tx = self.notes.begin(actor.tenant_id).await?;
        let (note, customer) = tx
            .lock_note(actor.tenant_id, id)
            .await?
            .ok_or(DomainError::NotFound { entity: "note" })?;
        writable(Some(&customer), &visibility, "note")?;
        may_change(actor, &note)?;
        if let Some(expected) = expected_version
            && expected != note.version
        {
            return Err(DomainError::PreconditionFailed {
                expected,
                current: note.version,
            });
        }
        Ok((tx, note))
    }
}

/// The rule of who changes a note: its author, or a caller holding `customers.manage`.
///
/// # Errors
/// [`NoteError::NotAuthor`].
fn may_change(actor: &Actor, note: &Note) -> Result<(), NoteError> {
    if note.author == actor.user_id || actor.can(Permission::CustomersManage) {
        Ok(())
    } else {
        Err(NoteError::NotAuthor)
    }
}

/// The locked customer, if it is live and visible and not erased; else not found (`entity`).
fn writable(
    customer: Option<&Customer>,
    visibility: &Visibility,
    entity: &'static str,
) -> Result<(), DomainError> {
    let customer = customer
        .filter(|c| c.deleted_at.is_none() && visibility.allows(c.profile.assigned_to.as_ref()))
        .ok_or(DomainError::NotFound { entity })?;
    CustomerErased::check(customer)?;
    Ok(())
}

/// The data of `note.added` and `note.deleted`.
fn summary(note: &Note) -> serde_json::Value {
    let f = &note.fields;
    json!({
        "note_id": note.id,
        "category": f.category.as_str(),
        "resolution": f.resolution.map(Resolution::as_str),
        "is_internal": f.is_internal,
        "pinned": f.pinned,
        "author": note.author.as_str(),
        "body_preview": body_preview(&f.body),
        "body_chars": f.body.chars().count(),
    })
}
