//! Use cases on customers' addresses.

use std::sync::Arc;

use super::error::AddressError;
use super::model::{Address, AddressFields, AddressId, AddressInput, MAX_ADDRESSES_PER_CUSTOMER};
use super::ports::{AddressRepository, AddressTransaction};
use crate::access::{Actor, Permission, Visibility};
use crate::customer::{Customer, CustomerErased, CustomerRepository};
use crate::error::DomainError;
use crate::ids::{CustomerId, TenantId};
use crate::ports::{Clock, IdGenerator};
use crate::tenant::{Tenant, TenantRepository};

/// Most customers one [`AddressService::defaults_of`] call reads (a list page's maximum).
pub const MAX_DEFAULTS_OF: usize = 200;

/// A change to an address, applied to the version read inside the transaction (a JSON merge
/// patch in the HTTP adapter).
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait AddressPatch: Send + Sync {
    /// The input that replaces `current`'s fields. `is_default` absent keeps its state.
    ///
    /// # Errors
    /// [`DomainError::Validation`] when the patch does not read as an address.
    fn apply(&self, current: &Address) -> Result<AddressInput, DomainError>;
}

/// Use cases on addresses. Permissions are the customer's: `customers.view` to read,
/// `customers.edit` to write; the customer must be live (not soft-deleted) and inside the
/// caller's [`Visibility`], else every address operation answers
/// [`DomainError::NotFound`] (`customer`), as for another tenant's customer.
///
/// Defaults: a customer has at most one default address per type, and exactly one while it
/// has addresses of that type:
/// - the first address of a type becomes its default;
/// - making an address the default (`is_default: true`) unsets the previous default of its
///   type in the same transaction;
/// - `is_default: false` on the default is refused ([`AddressError::DefaultRequired`]): make
///   another address the default instead;
/// - deleting the default (or moving it to another type) promotes the oldest remaining
///   address of that type (by creation time, then id), or none when no address of the type
///   is left.
///
/// Every write runs in one [`AddressTransaction`] under the customer's lock, and the database
/// holds "at most one default per customer and type" with a partial unique index too.
pub struct AddressService {
    customers: Arc<dyn CustomerRepository>,
    addresses: Arc<dyn AddressRepository>,
    tenants: Arc<dyn TenantRepository>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl AddressService {
    /// Wires the service.
    pub fn new(
        customers: Arc<dyn CustomerRepository>,
        addresses: Arc<dyn AddressRepository>,
        tenants: Arc<dyn TenantRepository>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self {
            customers,
            addresses,
            tenants,
            clock,
            ids,
        }
    }

    /// The customer's addresses, oldest first (needs `customers.view`).
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for a customer absent, deleted, another tenant's or outside
    /// the caller's visibility; [`DomainError::Forbidden`].
    #[tracing::instrument(name = "AddressService::list", skip_all, fields(tenant_id = %actor.tenant_id, customer_id = %customer))]
    pub async fn list(
        &self,
        actor: &Actor,
        customer: CustomerId,
    ) -> Result<Vec<Address>, DomainError> {
        actor.require(Permission::CustomersView)?;
        self.visible_customer(actor, customer).await?;
        Ok(self.addresses.list(actor.tenant_id, customer).await?)
    }

    /// Every address of the customer for its data-subject export (needs `customers.manage`,
    /// as the export does), oldest first.
    ///
    /// # Errors
    /// As [`AddressService::list`], with `customers.manage` for the permission.
    pub async fn for_export(
        &self,
        actor: &Actor,
        customer: CustomerId,
    ) -> Result<Vec<Address>, DomainError> {
        actor.require(Permission::CustomersManage)?;
        self.visible_customer(actor, customer).await?;
        Ok(self.addresses.list(actor.tenant_id, customer).await?)
    }

    /// One address of the customer (needs `customers.view`).
    ///
    /// # Errors
    /// As [`AddressService::list`]; [`DomainError::NotFound`] (`address`) when the customer
    /// has no such address.
    #[tracing::instrument(name = "AddressService::get", skip_all, fields(tenant_id = %actor.tenant_id, customer_id = %customer))]
    pub async fn get(
        &self,
        actor: &Actor,
        customer: CustomerId,
        id: AddressId,
    ) -> Result<Address, DomainError> {
        self.list(actor, customer)
            .await?
            .into_iter()
            .find(|a| a.id == id)
            .ok_or(DomainError::NotFound { entity: "address" })
    }

    /// The default billing and shipping addresses of these customers (at most
    /// [`MAX_DEFAULTS_OF`]), which the caller already read (needs `customers.view`): one
    /// storage read for a whole page.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`]; storage errors.
    pub async fn defaults_of(
        &self,
        actor: &Actor,
        customers: &[CustomerId],
    ) -> Result<Vec<Address>, DomainError> {
        actor.require(Permission::CustomersView)?;
        if customers.is_empty() {
            return Ok(Vec::new());
        }
        let mut all = Vec::new();
        for chunk in customers.chunks(MAX_DEFAULTS_OF) {
            all.extend(
                self.addresses
                    .defaults_of(actor.tenant_id, chunk.to_vec())
                    .await?,
            );
        }
        Ok(all)
    }

    /// Adds an address to the customer (needs `customers.edit`). It becomes the default of its
    /// type when it is the first of that type or when `is_default` is true (the previous
    /// default then is unset in the same transaction).
    ///
    /// # Errors
    /// [`DomainError::Validation`] for broken input rules (see [`AddressInput::validate`]) and
    /// [`AddressError::TooMany`] beyond [`MAX_ADDRESSES_PER_CUSTOMER`];
    /// [`DomainError::NotFound`] as [`AddressService::list`]; [`CustomerErased`] (409);
    /// [`DomainError::Forbidden`].
    #[tracing::instrument(name = "AddressService::create", skip_all, fields(tenant_id = %actor.tenant_id, customer_id = %customer))]
    pub async fn create(
        &self,
        actor: &Actor,
        customer: CustomerId,
        input: AddressInput,
    ) -> Result<Address, DomainError> {
        actor.require(Permission::CustomersEdit)?;
        let tenant = self.tenant(actor.tenant_id).await?;
        let visibility = tenant.visibility_of(actor)?;
        let (fields, want_default) = input
            .validate("", tenant.default_country)
            .map_err(DomainError::Validation)?;
        let mut tx = self.addresses.begin(actor.tenant_id).await?;
        lock_writable(tx.as_mut(), actor.tenant_id, &visibility, customer).await?;
        let existing = tx.addresses(actor.tenant_id, customer).await?;
        let address = self
            .add(
                tx.as_mut(),
                actor,
                customer,
                &existing,
                fields,
                want_default,
            )
            .await?;
        tx.commit().await?;
        Ok(address)
    }

    /// Adds `fields` to `customer`'s addresses (`existing`, read in `tx`) under the default
    /// rules, inside `tx`; the caller commits. The customer's lock is held.
    ///
    /// # Errors
    /// [`AddressError::TooMany`]; storage errors.
    pub async fn add(
        &self,
        tx: &mut dyn AddressTransaction,
        actor: &Actor,
        customer: CustomerId,
        existing: &[Address],
        fields: AddressFields,
        want_default: Option<bool>,
    ) -> Result<Address, DomainError> {
        if existing.len() >= MAX_ADDRESSES_PER_CUSTOMER {
            return Err(AddressError::too_many().into());
        }
        let now = self.clock.now();
        let current_default = existing
            .iter()
            .find(|a| a.fields.address_type == fields.address_type && a.is_default);
        let is_default = want_default == Some(true) || current_default.is_none();
        if is_default && let Some(previous) = current_default {
            self.set_default(tx, actor, previous, false).await?;
        }
        let address = Address {
            id: AddressId(self.ids.new_id()),
            tenant_id: actor.tenant_id,
            customer_id: customer,
            fields,
            is_default,
            created_by: Some(actor.user_id.clone()),
            updated_by: Some(actor.user_id.clone()),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        tx.insert(&address).await?;
        tx.append_events(&[super::events::added_event(actor, &address, now)])
            .await?;
        Ok(address)
    }

    /// Changes an address (needs `customers.view` and `customers.edit`): `patch` is applied
    /// to the version read under the customer's lock. With `expected_version` the write
    /// happens only on that version; without it, the last writer wins. Defaults move as the
    /// service's rules say.
    ///
    /// # Errors
    /// As [`AddressService::create`]; [`DomainError::NotFound`] (`address`);
    /// [`DomainError::PreconditionFailed`] when `expected_version` is stale;
    /// [`AddressError::DefaultRequired`].
    #[tracing::instrument(name = "AddressService::patch", skip_all, fields(tenant_id = %actor.tenant_id, customer_id = %customer))]
    pub async fn patch(
        &self,
        actor: &Actor,
        customer: CustomerId,
        id: AddressId,
        patch: &dyn AddressPatch,
        expected_version: Option<i64>,
    ) -> Result<Address, DomainError> {
        actor.require(Permission::CustomersView)?;
        actor.require(Permission::CustomersEdit)?;
        let tenant = self.tenant(actor.tenant_id).await?;
        let visibility = tenant.visibility_of(actor)?;
        let mut tx = self.addresses.begin(actor.tenant_id).await?;
        lock_writable(tx.as_mut(), actor.tenant_id, &visibility, customer).await?;
        let existing = tx.addresses(actor.tenant_id, customer).await?;
        let current = find(&existing, id)?;
        check_version(expected_version, current.version)?;
        let (fields, want_default) = patch
            .apply(current)?
            .validate("", tenant.default_country)
            .map_err(DomainError::Validation)?;
        let old_type = current.fields.address_type;
        let new_type = fields.address_type;
        let other_default = existing
            .iter()
            .find(|a| a.id != id && a.fields.address_type == new_type && a.is_default);
        let is_default = match want_default {
            Some(true) => true,
            Some(false) if other_default.is_none() => {
                return Err(AddressError::DefaultRequired(new_type).into());
            }
            Some(false) => false,
            None if old_type == new_type => current.is_default,
            None => other_default.is_none(),
        };
        if is_default && let Some(previous) = other_default {
            self.set_default(tx.as_mut(), actor, previous, false)
                .await?;
        }
        let updated = Address {
            fields,
            is_default,
            updated_by: Some(actor.user_id.clone()),
            updated_at: self.clock.now(),
            version: current.version + 1,
            ..current.clone()
        };
        tx.update(&updated, current.version).await?;
        if let Some(event) =
            super::events::updated_event(actor, current, &updated, updated.updated_at)
        {
            tx.append_events(&[event]).await?;
        }
        if current.is_default && old_type != new_type {
            self.promote(tx.as_mut(), actor, &existing, current).await?;
        }
        tx.commit().await?;
        Ok(updated)
    }

    /// Deletes an address (needs `customers.edit`). Deleting the default of a type promotes
    /// the oldest remaining address of that type (by creation time, then id), or none when
    /// it was the last. With `expected_version`, only that version is deleted.
    ///
    /// # Errors
    /// As [`AddressService::patch`].
    #[tracing::instrument(name = "AddressService::delete", skip_all, fields(tenant_id = %actor.tenant_id, customer_id = %customer))]
    pub async fn delete(
        &self,
        actor: &Actor,
        customer: CustomerId,
        id: AddressId,
        expected_version: Option<i64>,
    ) -> Result<(), DomainError> {
        actor.require(Permission::CustomersEdit)?;
        let visibility = crate::tenant::visibility(self.tenants.as_ref(), actor).await?;
        let mut tx = self.addresses.begin(actor.tenant_id).await?;
        lock_writable(tx.as_mut(), actor.tenant_id, &visibility, customer).await?;
        let existing = tx.addresses(actor.tenant_id, customer).await?;
        let current = find(&existing, id)?;
        check_version(expected_version, current.version)?;
        tx.delete(actor.tenant_id, id).await?;
        tx.append_events(&[super::events::removed_event(
            actor,
            current,
            self.clock.now(),
        )])
        .await?;
        if current.is_default {
            self.promote(tx.as_mut(), actor, &existing, current).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Makes the oldest address of `leaving`'s type other than `leaving` the default.
    async fn promote(
        &self,
        tx: &mut dyn AddressTransaction,
        actor: &Actor,
        existing: &[Address],
        leaving: &Address,
    ) -> Result<(), DomainError> {
        let heir = existing
            .iter()
            .filter(|a| a.id != leaving.id && a.fields.address_type == leaving.fields.address_type)
            .min_by_key(|a| (a.created_at, a.id));
        if let Some(heir) = heir {
            self.set_default(tx, actor, heir, true).await?;
        }
        Ok(())
    }

    async fn set_default(
        &self,
        tx: &mut dyn AddressTransaction,
        actor: &Actor,
        address: &Address,
        is_default: bool,
    ) -> Result<(), DomainError> {
        let changed = Address {
            is_default,
            updated_by: Some(actor.user_id.clone()),
            updated_at: self.clock.now(),
            version: address.version + 1,
            ..address.clone()
        };
        tx.update(&changed, address.version).await?;
        if let Some(event) =
            super::events::updated_event(actor, address, &changed, changed.updated_at)
        {
            tx.append_events(&[event]).await?;
        }
        Ok(())
    }

    async fn tenant(&self, id: TenantId) -> Result<Tenant, DomainError> {
        crate::tenant::load(self.tenants.as_ref(), id).await
    }

    async fn visible_customer(
        &self,
        actor: &Actor,
        customer: CustomerId,
    ) -> Result<Customer, DomainError> {
        let visibility = crate::tenant::visibility(self.tenants.as_ref(), actor).await?;
        crate::customer::load_visible(
            self.customers.as_ref(),
            actor.tenant_id,
            &visibility,
            customer,
        )
        .await
    }
}

/// Locks the customer in `tx` and checks it may take address writes: live, inside
/// `visibility`, not erased.
///
/// # Errors
/// [`DomainError::NotFound`] (`customer`); [`CustomerErased`].
pub async fn lock_writable(
    tx: &mut dyn AddressTransaction,
    tenant: TenantId,
    visibility: &Visibility,
    customer: CustomerId,
) -> Result<Customer, DomainError> {
    let c = tx
        .lock_customer(tenant, customer)
        .await?
        .filter(|c| c.deleted_at.is_none() && visibility.allows(c.profile.assigned_to.as_ref()))
        .ok_or(DomainError::NotFound { entity: "customer" })?;
    CustomerErased::check(&c)?;
    Ok(c)
}

fn find(existing: &[Address], id: AddressId) -> Result<&Address, DomainError> {
    existing
        .iter()
        .find(|a| a.id == id)
        .ok_or(DomainError::NotFound { entity: "address" })
}

fn check_version(expected: Option<i64>, current: i64) -> Result<(), DomainError> {
    match expected {
        Some(expected) if expected != current => {
            Err(DomainError::PreconditionFailed { expected, current })
        }
        _ => Ok(()),
    }
}
