//! Privacy use cases: erase a customer, read and change consents, read the consent history.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::event::{EntityType, NewEvent};

use super::model::{
    Consent, ConsentEvent, ConsentHistoryQuery, ConsentInput, ConsentPosition, ConsentPurpose,
    ConsentSource, ConsentStatus, ERASED_CONTACT_NAME, ERASED_TEXT, ErasedCustomer, ErasureRecord,
    PurposeState, anonymise, identifiers, purpose_states, redact_preview,
};
use super::ports::{PrivacyRepository, PrivacyTransaction};
use crate::access::{Actor, Permission};
use crate::customer::{Customer, CustomerErased, CustomerRepository, MAX_PAGE_SIZE};
use crate::error::{DomainError, RepositoryError};
use crate::ids::{ConsentEventId, CustomerId, ErasureId};
use crate::job::JobOutcome;
use crate::ports::{Clock, IdGenerator};
use crate::tenant::TenantRepository;

/// One page of a consent history.
pub type ConsentPage = crate::page::Page<ConsentEvent, ConsentPosition>;

/// The result of an erasure.
#[derive(Debug, Clone, PartialEq)]
pub struct Erasure {
    /// Who erased the customer, when.
    pub record: ErasureRecord,
    /// The customer as it is now: anonymised.
    pub customer: Customer,
    /// True when the customer had been erased before this request (nothing changed).
    pub already_erased: bool,
}

/// The result of a consent change.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentChange {
    /// The event recorded.
    pub event: ConsentEvent,
    /// The purpose's current state after it (another, later event when this one was
    /// backdated before it).
    pub current: Consent,
}

/// Privacy use cases. Every method takes the [`Actor`], checks its permission and scopes every
/// read and write to the actor's tenant: another tenant's customer is not found.
pub struct PrivacyService {
    privacy: Arc<dyn PrivacyRepository>,
    customers: Arc<dyn CustomerRepository>,
    tenants: Arc<dyn TenantRepository>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl PrivacyService {
    /// Wires the service.
    pub fn new(
        privacy: Arc<dyn PrivacyRepository>,
        customers: Arc<dyn CustomerRepository>,
        tenants: Arc<dyn TenantRepository>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self {
            privacy,
            customers,
            tenants,
            clock,
            ids,
        }
    }

    /// The live customer `id` if the caller reaches it (the tenant's `sales_scope`:
    /// [`crate::tenant::visibility`]); otherwise not found, as another tenant's.
    async fn customer(&self, actor: &Actor, id: CustomerId) -> Result<Customer, DomainError> {
        let visibility = crate::tenant::visibility(self.tenants.as_ref(), actor).await?;
        crate::customer::load_visible(self.customers.as_ref(), actor.tenant_id, &visibility, id)
            .await
    }

    /// Erases a customer, live or soft-deleted (needs `customers.manage`), irreversibly and in
    /// one transaction under the customer's lock:
    /// - the profile becomes [`anonymise`]'s (name [`super::ERASED_NAME`], no contact data,
    ///   notes, tags or metadata), with its search document and typo terms;
    /// - its orders lose their free-form metadata (refs, amounts, lines and statuses stay, as do
    ///   points, tiers and purchase statistics);
    /// - reasons people wrote on its points ledger and tier changes become
    ///   [`ERASED_TEXT`];
    /// - import previews and rejected-row reasons that mention its identifiers
    ///   ([`super::identifiers`]) are redacted; its idempotency keys are forgotten;
    /// - its contacts are anonymised (name [`ERASED_CONTACT_NAME`], every other personal
    ///   field cleared);
    /// - its granted consents are withdrawn (source `erasure`; the history stays, as proof of
    ///   what was consented to, and holds no personal data);
    /// - `erased_at` and `erased_by` are set, the version goes up by one, and an
    ///   [`ErasureRecord`] says who erased whom.
    ///
    /// Idempotent: erasing an erased customer changes nothing and returns the same record
    /// and customer with `already_erased` set. With `expected_version`, a customer not yet
    /// erased is erased only on that version.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] without `customers.manage` (checked before anything is
    /// read); [`DomainError::NotFound`] for no such customer in the tenant;
    /// [`DomainError::PreconditionFailed`] for a stale `expected_version`.
    #[tracing::instrument(name = "PrivacyService::erase", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customer_id = %id))]
    pub async fn erase(
        &self,
        actor: &Actor,
        id: CustomerId,
        expected_version: Option<i64>,
    ) -> Result<Erasure, DomainError> {
        actor.require(Permission::CustomersManage)?;
        let tenant = actor.tenant_id;
        let mut tx = self.privacy.begin(tenant).await?;
        let customer = tx
            .lock_customer(tenant, id)
            .await?
            .ok_or(DomainError::NotFound { entity: "customer" })?;
        if customer.erased_at.is_some() {
            let record = tx.erasure_of(tenant, id).await?.ok_or_else(|| {
                DomainError::Internal(format!("customer {id} is erased without a record"))
            })?;
            return Ok(Erasure {
                record,
                customer,
                already_erased: true,
            });
        }
        if let Some(expected) = expected_version
            && expected != customer.version
        {
            return Err(DomainError::PreconditionFailed {
                expected,
                current: customer.version,
            });
        }
        let now = self.clock.now();
        let needles = identifiers(&customer);
        let erased = tx
            .anonymise_customer(&ErasedCustomer {
                tenant_id: tenant,
                id,
                profile: anonymise(&customer.profile),
                erased_at: now,
                erased_by: actor.user_id.clone(),
                expected_version: customer.version,
            })
            .await
            .map_err(|e| match e {
                // The row is locked: another version means a bug, not a race; say so.
                RepositoryError::Stale => DomainError::ConcurrentUpdate,
                other => other.into(),
            })?;
        tx.clear_order_metadata(tenant, id).await?;
        tx.redact_loyalty_reasons(tenant, id, ERASED_TEXT).await?;
        tx.anonymise_addresses(tenant, id, ERASED_TEXT).await?;
        tx.forget_idempotency_keys(tenant, id).await?;
        tx.anonymise_contacts(tenant, id, ERASED_CONTACT_NAME)
            .await?;
        redact_imports(tx.as_mut(), actor, &needles).await?;
        let mut log = Vec::new();
        for consent in tx.current_consents(tenant, id).await? {
            if consent.status == ConsentStatus::Granted {
                let event = ConsentEvent {
                    id: ConsentEventId(self.ids.new_id()),
                    tenant_id: tenant,
                    customer_id: id,
                    purpose: consent.purpose,
                    status: ConsentStatus::Withdrawn,
                    at: now.max(consent.at),
                    source: ConsentSource::erasure(),
                    recorded_by: Some(actor.user_id.clone()),
                    recorded_at: now,
                };
                let current = event.supersedes(Some(&consent));
                tx.append_consent(&event, current).await?;
                log.push(consent_changed(actor, &event, now));
            }
        }
        let record = ErasureRecord {
            id: ErasureId(self.ids.new_id()),
            tenant_id: tenant,
            customer_id: id,
            erased_at: now,
            erased_by: actor.user_id.clone(),
        };
        tx.insert_erasure(&record).await?;
        // The erasure's event names no personal data: ids only.
        log.insert(
            0,
            NewEvent::new(actor, "customer.erased", EntityType::Customer, id.0, now)
                .customer(id)
                .data(serde_json::json!({"id": id.0, "erasure_id": record.id.0})),
        );
        tx.append_events(&log).await?;
        tx.commit().await?;
        tracing::info!(erasure_id = %record.id, "customer erased");
        Ok(Erasure {
            record,
            customer: erased,
            already_erased: false,
        })
    }

    /// The current state of each consent purpose of a live customer (needs `customers.view`),
    /// in [`ConsentPurpose::ALL`] order; a purpose never recorded has no state.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`]; [`DomainError::NotFound`] for no such live customer in the
    /// tenant.
    #[tracing::instrument(name = "PrivacyService::consents", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customer_id = %id))]
    pub async fn consents(
        &self,
        actor: &Actor,
        id: CustomerId,
    ) -> Result<Vec<PurposeState>, DomainError> {
        actor.require(Permission::CustomersView)?;
        self.customer(actor, id).await?;
        let current = self.privacy.consents(actor.tenant_id, id).await?;
        Ok(purpose_states(&current))
    }

    /// The consent states of up to [`MAX_PAGE_SIZE`] customers (needs `customers.view`), by
    /// customer; customers without any consent recorded (or of another tenant) are absent.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`]; [`DomainError::Validation`] on `ids` for more than
    /// [`MAX_PAGE_SIZE`] ids.
    #[tracing::instrument(name = "PrivacyService::consents_of", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customers = ids.len()))]
    pub async fn consents_of(
        &self,
        actor: &Actor,
        ids: Vec<CustomerId>,
    ) -> Result<BTreeMap<CustomerId, Vec<Consent>>, DomainError> {
        actor.require(Permission::CustomersView)?;
        if ids.len() > MAX_PAGE_SIZE as usize {
            return Err(DomainError::invalid(
                "ids",
                "out_of_range",
                format!("at most {MAX_PAGE_SIZE} customers at a time"),
            ));
        }
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut out: BTreeMap<CustomerId, Vec<Consent>> = BTreeMap::new();
        for (customer, consent) in self.privacy.consents_of(actor.tenant_id, ids).await? {
            out.entry(customer).or_default().push(consent);
        }
        Ok(out)
    }

    /// Records that a live customer granted or withdrew consent for `purpose` (needs
    /// `customers.edit`): the event is appended to the history and becomes the purpose's
    /// current state unless a later event is already recorded (a backdated change only joins
    /// the history). `input.at` defaults to now. One transaction under the customer's lock.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`]; [`DomainError::Validation`] naming `source` or `at`
    /// ([`super::ConsentInputError`]); [`DomainError::NotFound`] for no such live customer in
    /// the tenant; [`CustomerErased`] (409) for an erased customer.
    #[tracing::instrument(name = "PrivacyService::set_consent", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customer_id = %id, purpose = %purpose))]
    pub async fn set_consent(
        &self,
        actor: &Actor,
        id: CustomerId,
        purpose: ConsentPurpose,
        input: ConsentInput,
    ) -> Result<ConsentChange, DomainError> {
        actor.require(Permission::CustomersEdit)?;
        let now = self.clock.now();
        let (source, at) = input.validate(now)?;
        let visibility = crate::tenant::visibility(self.tenants.as_ref(), actor).await?;
        let tenant = actor.tenant_id;
        let mut tx = self.privacy.begin(tenant).await?;
        let customer = tx
            .lock_customer(tenant, id)
            .await?
            .filter(|c| c.deleted_at.is_none())
            .filter(|c| visibility.allows(c.profile.assigned_to.as_ref()))
            .ok_or(DomainError::NotFound { entity: "customer" })?;
        if let Some(erased_at) = customer.erased_at {
            return Err(CustomerErased { id, erased_at }.into());
        }
        let event = ConsentEvent {
            id: ConsentEventId(self.ids.new_id()),
            tenant_id: tenant,
            customer_id: id,
            purpose,
            status: input.status,
            at,
            source,
            recorded_by: Some(actor.user_id.clone()),
            recorded_at: now,
        };
        let before = tx
            .current_consents(tenant, id)
            .await?
            .into_iter()
            .find(|c| c.purpose == purpose);
        let supersedes = event.supersedes(before.as_ref());
        tx.append_consent(&event, supersedes).await?;
        tx.append_events(&[consent_changed(actor, &event, now)])
            .await?;
        tx.commit().await?;
        let current = match before {
            Some(before) if !supersedes => before,
            _ => Consent::from(&event),
        };
        Ok(ConsentChange { event, current })
    }

    /// A page of a live customer's consent history, newest first by `at` then record (needs
    /// `customers.view`).
    ///
    /// # Errors
    /// [`DomainError::Forbidden`]; [`DomainError::Validation`] on `limit` outside 1..=200;
    /// [`DomainError::NotFound`] for no such live customer in the tenant.
    #[tracing::instrument(name = "PrivacyService::consent_history", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customer_id = %id))]
    pub async fn consent_history(
        &self,
        actor: &Actor,
        id: CustomerId,
        query: ConsentHistoryQuery,
    ) -> Result<ConsentPage, DomainError> {
        actor.require(Permission::CustomersView)?;
        if !(1..=MAX_PAGE_SIZE).contains(&query.limit) {
            return Err(DomainError::invalid(
                "limit",
                "out_of_range",
                format!("must be between 1 and {MAX_PAGE_SIZE}"),
            ));
        }
        self.customer(actor, id).await?;
        let probe = ConsentHistoryQuery {
            limit: query.limit + 1,
            ..query
        };
        let rows = self
            .privacy
            .consent_history(actor.tenant_id, id, probe)
            .await?;
        Ok(crate::page::Page::from_probe(
            rows,
            query.limit,
            ConsentPosition::of,
        ))
    }
}

/// Redacts the import previews and rejected-row reasons that mention `needles` (a customer's
/// identifiers).
async fn redact_imports(
    tx: &mut dyn PrivacyTransaction,
    actor: &Actor,
    needles: &[String],
) -> Result<(), DomainError> {
    if needles.is_empty() {
        return Ok(());
    }
    let tenant = actor.tenant_id;
    for mut job in tx.import_jobs_mentioning(tenant, needles.to_vec()).await? {
        let Some(JobOutcome::Import(outcome)) = job.result.as_mut() else {
            continue;
        };
        let Some(preview) = outcome.preview.as_mut() else {
            continue;
        };
        if redact_preview(preview, needles) > 0 {
            tx.save_job_result(&job).await?;
        }
    }
    tx.redact_import_errors(tenant, needles.to_vec(), ERASED_TEXT)
        .await?;
    Ok(())
}

/// `consent.changed` of a consent record (on the customer: `entity_type` `customer`; `data`:
/// `purpose`, `status`, `at`, `source`, `consent_event_id`).
fn consent_changed(
    actor: &Actor,
    e: &ConsentEvent,
    now: chrono::DateTime<chrono::Utc>,
) -> NewEvent {
    NewEvent::new(
        actor,
        "consent.changed",
        EntityType::Customer,
        e.customer_id.0,
        now,
    )
    .customer(e.customer_id)
    .data(serde_json::json!({
        "purpose": e.purpose.as_str(),
        "status": e.status.as_str(),
        "at": e.at,
        "source": e.source.as_str(),
        "consent_event_id": e.id.0,
    }))
}
