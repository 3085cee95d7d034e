//! Use cases on contacts.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::input::ContactInput;
use super::model::{Contact, ContactChanges, ContactSummary, MAX_CONTACTS};
use super::ports::{ContactPatch, ContactRepository, ContactTransaction};
use crate::access::{Actor, Permission, Visibility};
use crate::customer::{Customer, CustomerErased, CustomerRepository, load_visible};
use crate::error::{DomainError, FieldError, RepositoryError};
use crate::ids::{ContactId, CustomerId, TenantId, UserId};
use crate::ports::{Clock, IdGenerator};
use crate::tenant::TenantRepository;
use crate::values::CountryCode;

/// Most customers one [`ContactService::primaries`] call reads (a list page holds at most 200).
const MAX_PRIMARIES: usize = 1000;

/// Use cases on a customer's contacts. Reading needs `customers.view`, writing
/// `customers.view` and `customers.edit`; the customer must be live and inside the caller's
/// [`Visibility`], else it (and its contacts) is not found. Every write runs in one
/// transaction that holds the customer's lock, so concurrent writes to one customer's
/// contacts serialise and the rules (one primary, unique e-mail, the limit) hold.
pub struct ContactService {
    contacts: Arc<dyn ContactRepository>,
    customers: Arc<dyn CustomerRepository>,
    tenants: Arc<dyn TenantRepository>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

/// A write transaction opened on one customer: the locked customer, the country its phone
/// numbers are read in, and its contacts, oldest first.
struct Opened {
    tx: Box<dyn ContactTransaction>,
    customer: Customer,
    country: Option<CountryCode>,
    contacts: Vec<Contact>,
}

impl ContactService {
    /// Wires the service.
    pub fn new(
        contacts: Arc<dyn ContactRepository>,
        customers: Arc<dyn CustomerRepository>,
        tenants: Arc<dyn TenantRepository>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self {
            contacts,
            customers,
            tenants,
            clock,
            ids,
        }
    }

    /// The contacts of a live customer the caller reaches, oldest first (needs
    /// `customers.view`).
    ///
    /// # Errors
    /// [`DomainError::NotFound`] (`customer`) when the customer is absent, deleted, another
    /// tenant's or outside the caller's visibility; [`DomainError::Forbidden`].
    #[tracing::instrument(name = "ContactService::list", skip_all, fields(tenant_id = %actor.tenant_id, customer_id = %customer))]
    pub async fn list(
        &self,
        actor: &Actor,
        customer: CustomerId,
    ) -> Result<Vec<Contact>, DomainError> {
        self.readable(actor, customer).await?;
        Ok(self.contacts.list(actor.tenant_id, customer).await?)
    }

    /// One contact of a live customer the caller reaches (needs `customers.view`).
    ///
    /// # Errors
    /// As [`ContactService::list`], and [`DomainError::NotFound`] (`contact`) when the
    /// customer has no such contact.
    #[tracing::instrument(name = "ContactService::get", skip_all, fields(tenant_id = %actor.tenant_id, customer_id = %customer, contact_id = %id))]
    pub async fn get(
        &self,
        actor: &Actor,
        customer: CustomerId,
        id: ContactId,
    ) -> Result<Contact, DomainError> {
        self.list(actor, customer)
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or(DomainError::NotFound { entity: "contact" })
    }

    /// The primary contacts of customers the caller has already read (a page of a list), in
    /// one storage call (needs `customers.view`). Customers without contacts are absent.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`]; [`DomainError::Validation`] for more than 1000 ids.
    pub async fn primaries(
        &self,
        actor: &Actor,
        customers: &[CustomerId],
    ) -> Result<HashMap<CustomerId, ContactSummary>, DomainError> {
        actor.require(Permission::CustomersView)?;
        if customers.is_empty() {
            return Ok(HashMap::new());
        }
        if customers.len() > MAX_PRIMARIES {
            return Err(DomainError::Validation(vec![
                FieldError::new(
                    "ids",
                    "too_many",
                    format!("at most {MAX_PRIMARIES} customers"),
                )
                .with_limit(MAX_PRIMARIES),
            ]));
        }
        Ok(self
            .contacts
            .primaries(actor.tenant_id, customers.to_vec())
            .await?
            .iter()
            .map(|c| (c.customer_id, ContactSummary::from(c)))
            .collect())
    }

    /// Adds a contact to a customer (needs `customers.view` and `customers.edit`). The
    /// customer's first contact becomes its primary; a contact created with `is_primary: true`
    /// takes the place of the current primary, which is demoted in the same transaction.
    ///
    /// # Errors
    /// As [`ContactService::list`]; [`DomainError::Validation`] for broken field rules, for the
    /// [`MAX_CONTACTS`] limit (field `contacts`, code `too_many`, with the limit) and for
    /// `is_primary: false` on a customer's first contact; [`DomainError::Conflict`] (field
    /// `email`, `existing_id` the holder contact) when another contact of the customer has the
    /// e-mail; [`CustomerErased`] (409) for an erased customer.
    #[tracing::instrument(name = "ContactService::create", skip_all, fields(tenant_id = %actor.tenant_id, customer_id = %customer))]
    pub async fn create(
        &self,
        actor: &Actor,
        customer: CustomerId,
        input: ContactInput,
    ) -> Result<Contact, DomainError> {
        let Opened {
            mut tx,
            customer,
            country,
            contacts,
        } = self.open(actor, customer).await?;
        if contacts.len() >= MAX_CONTACTS {
            return Err(too_many("contacts"));
        }
        let (details, primary) = input
            .validate("", country)
            .map_err(DomainError::Validation)?;
        if let Some(holder) = email_holder(&contacts, &details, None) {
            return Err(email_conflict(holder));
        }
        if contacts.is_empty() && primary == Some(false) {
            return Err(must_stay_primary("is_primary"));
        }
        let now = self.clock.now();
        let contact = Contact {
            id: ContactId(self.ids.new_id()),
            tenant_id: actor.tenant_id,
            customer_id: customer.id,
            details,
            is_primary: contacts.is_empty() || primary == Some(true),
            version: 1,
            created_by: Some(actor.user_id.clone()),
            updated_by: Some(actor.user_id.clone()),
            created_at: now,
            updated_at: now,
        };
        if contact.is_primary {
            demote_primary(tx.as_mut(), &contacts, None, actor, now).await?;
        }
        tx.insert(&contact).await.map_err(write_error)?;
        tx.append_events(&[super::events::added_event(actor, &contact, now)])
            .await?;
        tx.commit().await?;
        Ok(contact)
    }

    /// Changes a contact (needs `customers.view` and `customers.edit`): `patch` is applied to
    /// the stored contact and the result replaces it. `is_primary: true` makes it the primary
    /// (the previous one is demoted in the same transaction); `is_primary: false` on the
    /// primary is refused: a customer with contacts has exactly one primary, so make another
    /// contact primary instead. With `expected_version` the write happens only on that version.
    ///
    /// # Errors
    /// As [`ContactService::create`], [`DomainError::NotFound`] (`contact`), and
    /// [`DomainError::PreconditionFailed`] when `expected_version` is stale.
    #[tracing::instrument(name = "ContactService::patch", skip_all, fields(tenant_id = %actor.tenant_id, customer_id = %customer, contact_id = %id))]
    pub async fn patch(
        &self,
        actor: &Actor,
        customer: CustomerId,
        id: ContactId,
        patch: &dyn ContactPatch,
        expected_version: Option<i64>,
    ) -> Result<Contact, DomainError> {
        let Opened {
            mut tx,
            country,
            contacts,
            ..
        } = self.open(actor, customer).await?;
        let current = find(&contacts, id)?;
        check_version(expected_version, current.version)?;
        let (details, primary) = patch
            .apply(current)?
            .validate("", country)
            .map_err(DomainError::Validation)?;
        if let Some(holder) = email_holder(&contacts, &details, Some(id)) {
            return Err(email_conflict(holder));
        }
        let is_primary = match primary {
            Some(false) if current.is_primary => return Err(must_stay_primary("is_primary")),
            Some(p) => p,
            None => current.is_primary,
        };
        let now = self.clock.now();
        if is_primary && !current.is_primary {
            demote_primary(tx.as_mut(), &contacts, Some(id), actor, now).await?;
        }
        let updated = Contact {
            details,
            is_primary,
            version: current.version + 1,
            updated_by: Some(actor.user_id.clone()),
            updated_at: now,
            ..current.clone()
        };
        tx.update(&updated).await.map_err(write_error)?;
        if let Some(event) = super::events::updated_event(actor, current, &updated, now) {
            tx.append_events(&[event]).await?;
        }
        tx.commit().await?;
        Ok(updated)
    }

    /// Removes a contact (needs `customers.view` and `customers.edit`). When it was the
    /// primary, the oldest remaining contact becomes primary in the same transaction.
    ///
    /// # Errors
    /// As [`ContactService::patch`].
    #[tracing::instrument(name = "ContactService::delete", skip_all, fields(tenant_id = %actor.tenant_id, customer_id = %customer, contact_id = %id))]
    pub async fn delete(
        &self,
        actor: &Actor,
        customer: CustomerId,
        id: ContactId,
        expected_version: Option<i64>,
    ) -> Result<(), DomainError> {
        let Opened {
            mut tx, contacts, ..
        } = self.open(actor, customer).await?;
        let current = find(&contacts, id)?;
        check_version(expected_version, current.version)?;
        tx.delete(actor.tenant_id, customer, id).await?;
        let now = self.clock.now();
        tx.append_events(&[super::events::removed_event(actor, current, now)])
            .await?;
        if current.is_primary
            && let Some(oldest) = contacts.iter().find(|c| c.id != id)
        {
            let promoted = Contact {
                is_primary: true,
                version: oldest.version + 1,
                updated_by: Some(actor.user_id.clone()),
                updated_at: now,
                ..oldest.clone()
            };
            tx.update(&promoted).await.map_err(write_error)?;
            if let Some(event) = super::events::updated_event(actor, oldest, &promoted, now) {
                tx.append_events(&[event]).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The live customer `id` if the caller may read it.
    async fn readable(&self, actor: &Actor, id: CustomerId) -> Result<Customer, DomainError> {
        actor.require(Permission::CustomersView)?;
        let visibility = crate::tenant::visibility(self.tenants.as_ref(), actor).await?;
        load_visible(self.customers.as_ref(), actor.tenant_id, &visibility, id).await
    }

    /// Checks permissions, starts the transaction and locks the customer.
    async fn open(&self, actor: &Actor, id: CustomerId) -> Result<Opened, DomainError> {
        actor.require(Permission::CustomersView)?;
        actor.require(Permission::CustomersEdit)?;
        let tenant = crate::tenant::load(self.tenants.as_ref(), actor.tenant_id).await?;
        let visibility: Visibility = tenant.visibility_of(actor)?;
        let mut tx = self.contacts.begin(actor.tenant_id).await?;
        let customer = tx
            .lock_customer(actor.tenant_id, id)
            .await?
            .filter(|c| c.deleted_at.is_none() && visibility.allows(c.profile.assigned_to.as_ref()))
            .ok_or(DomainError::NotFound { entity: "customer" })?;
        CustomerErased::check(&customer)?;
        let contacts = tx.contacts(actor.tenant_id, id).await?;
        Ok(Opened {
            tx,
            country: customer.profile.country.or(tenant.default_country),
            customer,
            contacts,
        })
    }
}

/// The contacts of a customer created with it in one request (`contacts` of `POST
/// /customers`): [`replace_contacts`] over no stored contact, every element new. Each element
/// validated with its path (`contacts[1].email`), e-mails unique among them, at most one
/// marked primary (the first element not marked `is_primary: false` becomes primary when none
/// is), at most [`MAX_CONTACTS`]. Ids are new, created `now`, in the order given (the oldest
/// is the first element).
///
/// # Errors
/// As [`replace_contacts`].
#[allow(clippy::too_many_arguments)]
pub fn nested_contacts(
    inputs: Vec<ContactInput>,
    tenant: TenantId,
    customer: CustomerId,
    country: Option<CountryCode>,
    created_by: Option<&UserId>,
    now: DateTime<Utc>,
    ids: &dyn IdGenerator,
) -> Result<Vec<Contact>, DomainError> {
    let elements = inputs.into_iter().map(|i| (None, i)).collect();
    replace_contacts(
        &[],
        elements,
        tenant,
        customer,
        country,
        created_by,
        now,
        ids,
    )
    .map(|changes| changes.added)
}

/// The full new set of a customer's contacts (the `contacts` of `PUT /customers/{id}`)
/// against the stored ones (`current`): an element with an id updates that stored contact, one
/// without creates one (ids from `ids`, in order, created `now`), stored contacts not listed
/// are removed.
///
/// Rules, with errors named by the element's path (`contacts[i].field`): at most
/// [`MAX_CONTACTS`] elements; an id that is not one of `current` is `contacts[i].id`
/// `unknown_contact`, an id listed twice `contacts[i].id` `duplicate`; each element by
/// [`ContactInput::validate`] (phones read in `country`); e-mails unique among the elements.
/// Exactly one primary once there are contacts: the element marked `is_primary: true`, else
/// the stored primary when listed and not marked `false`, else the first element not marked
/// `false`.
///
/// # Errors
/// [`DomainError::Validation`] with every broken rule: the field errors of each element,
/// `contacts` `too_many` (with the limit), `contacts[i].id` as above, `contacts[i].email`
/// `duplicate`, `contacts[i].is_primary` `one_primary` (a second element marked primary) or
/// `contacts[0].is_primary` `must_be_primary` (every element marked `is_primary: false`).
#[allow(clippy::too_many_arguments)]
pub fn replace_contacts(
    current: &[Contact],
    inputs: Vec<(Option<ContactId>, ContactInput)>,
    tenant: TenantId,
    customer: CustomerId,
    country: Option<CountryCode>,
    by: Option<&UserId>,
    now: DateTime<Utc>,
    ids: &dyn IdGenerator,
) -> Result<ContactChanges, DomainError> {
    if inputs.len() > MAX_CONTACTS {
        return Err(too_many("contacts"));
    }
    let mut errors = Vec::new();
    let mut listed: Vec<ContactId> = Vec::new();
    // Validated elements: the stored contact (if any), the details, the `is_primary` mark.
    let mut checked: Vec<(Option<&Contact>, super::model::ContactDetails, Option<bool>)> =
        Vec::with_capacity(inputs.len());
    for (i, (id, input)) in inputs.into_iter().enumerate() {
        let stored = match id {
            None => None,
            Some(id) if listed.contains(&id) => {
                errors.push(FieldError::new(
                    format!("contacts[{i}].id"),
                    "duplicate",
                    format!("contact {id} is listed twice"),
                ));
                None
            }
            Some(id) => {
                listed.push(id);
                let found = current.iter().find(|c| c.id == id);
                if found.is_none() {
                    errors.push(FieldError::new(
                        format!("contacts[{i}].id"),
                        "unknown_contact",
                        format!("{id} is not a contact of this customer"),
                    ));
                }
                found
            }
        };
        match input.validate(&format!("contacts[{i}]."), country) {
            Ok((details, primary)) => {
                if details.email.is_some() && checked.iter().any(|c| c.1.email == details.email) {
                    errors.push(FieldError::new(
                        format!("contacts[{i}].email"),
                        "duplicate",
                        "another contact in this request has this e-mail",
                    ));
                }
                if primary == Some(true) && checked.iter().any(|c| c.2 == Some(true)) {
                    errors.push(FieldError::new(
                        format!("contacts[{i}].is_primary"),
                        "one_primary",
                        "only one contact can be the primary",
                    ));
                }
                checked.push((stored, details, primary));
            }
            Err(e) => errors.extend(e),
        }
    }
    if !errors.is_empty() {
        return Err(DomainError::Validation(errors));
    }
    let primary = checked
        .iter()
        .position(|c| c.2 == Some(true))
        .or_else(|| {
            checked
                .iter()
                .position(|c| c.2 != Some(false) && c.0.is_some_and(|s| s.is_primary))
        })
        .or_else(|| checked.iter().position(|c| c.2 != Some(false)));
    if primary.is_none() && !checked.is_empty() {
        return Err(must_stay_primary("contacts[0].is_primary"));
    }
    let mut changes = ContactChanges::default();
    for (k, (stored, details, _)) in checked.into_iter().enumerate() {
        let is_primary = primary == Some(k);
        match stored {
            Some(before) => {
                if before.details == details && before.is_primary == is_primary {
                    continue;
                }
                let after = Contact {
                    details,
                    is_primary,
                    version: before.version + 1,
                    updated_by: by.cloned(),
                    updated_at: now,
                    ..before.clone()
                };
                changes.updated.push((before.clone(), after));
            }
            None => changes.added.push(Contact {
                id: ContactId(ids.new_id()),
                tenant_id: tenant,
                customer_id: customer,
                details,
                is_primary,
                version: 1,
                created_by: by.cloned(),
                updated_by: by.cloned(),
                created_at: now,
                updated_at: now,
            }),
        }
    }
    changes.removed = current
        .iter()
        .filter(|c| !listed.contains(&c.id))
        .cloned()
        .collect();
    Ok(changes)
}

/// Demotes the customer's primary contact (other than `except`), if any.
async fn demote_primary(
    tx: &mut dyn ContactTransaction,
    contacts: &[Contact],
    except: Option<ContactId>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    for c in contacts
        .iter()
        .filter(|c| c.is_primary && Some(c.id) != except)
    {
        let demoted = Contact {
            is_primary: false,
            version: c.version + 1,
            updated_by: Some(actor.user_id.clone()),
            updated_at: now,
            ..c.clone()
        };
        tx.update(&demoted).await.map_err(write_error)?;
        if let Some(event) = super::events::updated_event(actor, c, &demoted, now) {
            tx.append_events(&[event]).await?;
        }
    }
    Ok(())
}

fn find(contacts: &[Contact], id: ContactId) -> Result<&Contact, DomainError> {
    contacts
        .iter()
        .find(|c| c.id == id)
        .ok_or(DomainError::NotFound { entity: "contact" })
}

/// The contact other than `this` that has the e-mail of `details`.
fn email_holder(
    contacts: &[Contact],
    details: &super::model::ContactDetails,
    this: Option<ContactId>,
) -> Option<ContactId> {
    let email = details.email.as_ref()?;
    contacts
        .iter()
        .find(|c| Some(c.id) != this && c.details.email.as_ref() == Some(email))
        .map(|c| c.id)
}

fn email_conflict(holder: ContactId) -> DomainError {
    DomainError::Conflict {
        field: "email".into(),
        message: format!("contact {holder} of this customer already has this e-mail"),
        existing_id: Some(holder.0),
    }
}

fn too_many(field: &str) -> DomainError {
    DomainError::Validation(vec![
        FieldError::new(
            field,
            "too_many",
            format!("a customer has at most {MAX_CONTACTS} contacts"),
        )
        .with_limit(MAX_CONTACTS),
    ])
}

fn must_stay_primary(field: &str) -> DomainError {
    DomainError::invalid(
        field,
        "must_be_primary",
        "a customer with contacts has exactly one primary contact; to change it, make another contact primary",
    )
}

/// A unique violation met while writing, though the customer's lock serialises writers: a
/// bug or a writer that bypassed the service.
fn write_error(e: RepositoryError) -> DomainError {
    match e {
        RepositoryError::Conflict { field } if field == "contacts.email" => DomainError::Conflict {
            field: "email".into(),
            message: "another contact of this customer already has this e-mail".into(),
            existing_id: None,
        },
        RepositoryError::Conflict { field } if field == "contacts.is_primary" => {
            DomainError::ConcurrentUpdate
        }
        other => other.into(),
    }
}

fn check_version(expected: Option<i64>, current: i64) -> Result<(), DomainError> {
    match expected {
        Some(expected) if expected != current => {
            Err(DomainError::PreconditionFailed { expected, current })
        }
        _ => Ok(()),
    }
}
