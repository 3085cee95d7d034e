//! Use cases on documents.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::error::DocumentError;
use super::model::{
    Document, DocumentCategory, DocumentId, DocumentMeta, DocumentPosition, ExpiryPosition,
    MAX_TITLE_CHARS, OBJECT_KEY_PREFIX, OrphanReport, ReceivedFile, classify, object_key,
    safe_file_name,
};
use super::ports::{DocumentRepository, DocumentStore, DocumentTransaction, ObjectReader};
use crate::access::{Actor, Permission, Visibility};
use crate::customer::{Customer, CustomerErased, CustomerRepository, load_visible};
use crate::error::{DomainError, FieldError, RepositoryError};
use crate::event::{EntityType, NewEvent};
use crate::ids::CustomerId;
use crate::page::Page;
use crate::ports::{Clock, IdGenerator};
use crate::tenant::TenantRepository;
use crate::values::{TextKind, check_text};

/// The largest page of documents one read returns.
pub const MAX_DOCUMENT_PAGE: u32 = 200;

/// Rows read per storage call by the orphan check.
const KEY_PAGE: u64 = 1_000;

/// A document and a reader of its bytes, for a download.
pub struct Download {
    /// The metadata (content type, file name, size, SHA-256).
    pub document: Document,
    /// The bytes, piece by piece.
    pub content: Box<dyn ObjectReader>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("document", &self.document)
            .finish_non_exhaustive()
    }
}

/// Use cases on a customer's documents. Reading needs `customers.view`, attaching and
/// deleting `customers.view` and `customers.edit`; the customer must be live and inside the
/// caller's [`Visibility`], else it and its documents are not found (404).
pub struct DocumentService {
    documents: Arc<dyn DocumentRepository>,
    store: Arc<dyn DocumentStore>,
    customers: Arc<dyn CustomerRepository>,
    tenants: Arc<dyn TenantRepository>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    max_bytes: u64,
}

impl DocumentService {
    /// Wires the service; documents larger than `max_bytes` are refused.
    pub fn new(
        documents: Arc<dyn DocumentRepository>,
        store: Arc<dyn DocumentStore>,
        customers: Arc<dyn CustomerRepository>,
        tenants: Arc<dyn TenantRepository>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        max_bytes: u64,
    ) -> Self {
        Self {
            documents,
            store,
            customers,
            tenants,
            clock,
            ids,
            max_bytes,
        }
    }

    /// The largest document accepted, bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Whether the caller may attach a document to `customer` now: `customers.view` and
    /// `customers.edit`, and the customer live and visible. The HTTP adapter calls it before
    /// it reads a byte of the upload.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`]; [`DomainError::NotFound`] (`customer`).
    #[tracing::instrument(name = "DocumentService::authorize_upload", skip_all, fields(tenant_id = %actor.tenant_id, customer_id = %customer))]
    pub async fn authorize_upload(
        &self,
        actor: &Actor,
        customer: CustomerId,
    ) -> Result<(), DomainError> {
        actor.require(Permission::CustomersView)?;
        actor.require(Permission::CustomersEdit)?;
        let visibility = crate::tenant::visibility(self.tenants.as_ref(), actor).await?;
        let c = load_visible(
            self.customers.as_ref(),
            actor.tenant_id,
            &visibility,
            customer,
        )
        .await?;
        CustomerErased::check(&c)?;
        Ok(())
    }

    /// Attaches the received file to `customer` (needs `customers.view` and `customers.edit`):
    /// checks the metadata and the content type (sniffed from the bytes), stores the object
    /// under its final key, then the row and its `document.attached` event in one transaction;
    /// when that transaction fails the object is deleted again.
    ///
    /// # Errors
    /// As [`DocumentService::authorize_upload`]; [`DomainError::Validation`] for the metadata
    /// (`meta.title`, `meta.category`) and an empty file (`file`); [`DocumentError::TooLarge`]
    /// and [`DocumentError::UnsupportedType`] (as [`DomainError::Rule`]).
    #[tracing::instrument(name = "DocumentService::attach", skip_all, fields(tenant_id = %actor.tenant_id, customer_id = %customer))]
    pub async fn attach(
        &self,
        actor: &Actor,
        customer: CustomerId,
        meta: DocumentMeta,
        file: &ReceivedFile,
    ) -> Result<Document, DomainError> {
        actor.require(Permission::CustomersView)?;
        actor.require(Permission::CustomersEdit)?;
        if file.size > self.max_bytes {
            return Err(DocumentError::TooLarge {
                limit: self.max_bytes,
            }
            .into());
        }
        let file_name = safe_file_name(&file.file_name);
        let (title, category) = validate_meta(&meta, &file_name)?;
        if file.size == 0 {
            return Err(DomainError::invalid("file", "empty", "the file is empty"));
        }
        let content_type = classify(&file.head, file.utf8_text, &file_name)
            .map_err(|detected| DocumentError::UnsupportedType { detected })?;
        let tenant = crate::tenant::load(self.tenants.as_ref(), actor.tenant_id).await?;
        let visibility: Visibility = tenant.visibility_of(actor)?;
        let id = DocumentId(self.ids.new_id());
        let key = object_key(actor.tenant_id, customer, id);
        let document = Document {
            id,
            tenant_id: actor.tenant_id,
            customer_id: customer,
            title,
            category,
            file_name,
            content_type,
            size_bytes: file.size,
            sha256: file.sha256.clone(),
            object_key: key.clone(),
            expires_at: meta.expires_at,
            created_by: Some(actor.user_id.clone()),
            created_at: self.clock.now(),
        };
        self.store.put(&key, &file.path).await?;
        match self.insert_row(actor, &visibility, &document).await {
            Ok(()) => Ok(document),
            Err(e) => {
                // The row is not there: neither may the object be.
                if let Err(d) = self.store.delete(&key).await {
                    tracing::error!(error = %d, object_key = %key, "could not delete the object of a failed upload; `crm-server documents check` reports it");
                }
                Err(e)
            }
        }
    }

    async fn insert_row(
        &self,
        actor: &Actor,
        visibility: &Visibility,
        document: &Document,
    ) -> Result<(), DomainError> {
        let mut tx = self.documents.begin(actor.tenant_id).await?;
        lock_live(tx.as_mut(), actor, visibility, document.customer_id).await?;
        tx.insert(document).await?;
        let event = NewEvent::new(
            actor,
            "document.attached",
            EntityType::Document,
            document.id.0,
            document.created_at,
        )
        .customer(document.customer_id)
        .data(document.event_data());
        tx.append_events(&[event]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One document's metadata (needs `customers.view`).
    ///
    /// # Errors
    /// [`DomainError::NotFound`] (`document`) when it does not exist, is another tenant's, or
    /// its customer is deleted or outside the caller's visibility; [`DomainError::Forbidden`].
    #[tracing::instrument(name = "DocumentService::get", skip_all, fields(tenant_id = %actor.tenant_id, document_id = %id))]
    pub async fn get(&self, actor: &Actor, id: DocumentId) -> Result<Document, DomainError> {
        actor.require(Permission::CustomersView)?;
        let not_found = DomainError::NotFound { entity: "document" };
        let document = self
            .documents
            .get(actor.tenant_id, id)
            .await?
            .ok_or_else(|| not_found.clone())?;
        let visibility = crate::tenant::visibility(self.tenants.as_ref(), actor).await?;
        load_visible(
            self.customers.as_ref(),
            actor.tenant_id,
            &visibility,
            document.customer_id,
        )
        .await
        .map_err(|e| match e {
            DomainError::NotFound { .. } => not_found,
            other => other,
        })?;
        Ok(document)
    }

    /// A document's metadata and its bytes (needs `customers.view`).
    ///
    /// # Errors
    /// As [`DocumentService::get`]; [`DocumentError::ContentMissing`] when the object is
    /// missing from the store.
    #[tracing::instrument(name = "DocumentService::download", skip_all, fields(tenant_id = %actor.tenant_id, document_id = %id))]
    pub async fn download(&self, actor: &Actor, id: DocumentId) -> Result<Download, DomainError> {
        let document = self.get(actor, id).await?;
        match self.store.get(&document.object_key).await? {
            Some(content) => Ok(Download { document, content }),
            None => {
                tracing::warn!(object_key = %document.object_key, "a document's object is missing");
                Err(DocumentError::ContentMissing { id: id.0 }.into())
            }
        }
    }

    /// A page of a live, visible customer's documents, newest first (needs
    /// `customers.view`); `limit` is 1..=[`MAX_DOCUMENT_PAGE`].
    ///
    /// # Errors
    /// [`DomainError::NotFound`] (`customer`); [`DomainError::Forbidden`].
    #[tracing::instrument(name = "DocumentService::list", skip_all, fields(tenant_id = %actor.tenant_id, customer_id = %customer))]
    pub async fn list(
        &self,
        actor: &Actor,
        customer: CustomerId,
        after: Option<DocumentPosition>,
        limit: u32,
    ) -> Result<Page<Document, DocumentPosition>, DomainError> {
        actor.require(Permission::CustomersView)?;
        let visibility = crate::tenant::visibility(self.tenants.as_ref(), actor).await?;
        load_visible(
            self.customers.as_ref(),
            actor.tenant_id,
            &visibility,
            customer,
        )
        .await?;
        let limit = limit.clamp(1, MAX_DOCUMENT_PAGE);
        let rows = self
            .documents
            .list(actor.tenant_id, customer, after, u64::from(limit) + 1)
            .await?;
        Ok(Page::from_probe(rows, limit, |d| (d.created_at, d.id)))
    }

    /// A page of the tenant's expiring documents (contracts and licences to renew), soonest
    /// first: those with an `expires_at`, before `before` when given, of `category` when
    /// given, of live customers the caller reaches (needs `customers.view`).
    ///
    /// # Errors
    /// [`DomainError::Forbidden`].
    #[tracing::instrument(name = "DocumentService::expiring", skip_all, fields(tenant_id = %actor.tenant_id))]
    pub async fn expiring(
        &self,
        actor: &Actor,
        before: Option<DateTime<Utc>>,
        category: Option<DocumentCategory>,
        after: Option<ExpiryPosition>,
        limit: u32,
    ) -> Result<Page<Document, ExpiryPosition>, DomainError> {
        actor.require(Permission::CustomersView)?;
        let visibility = crate::tenant::visibility(self.tenants.as_ref(), actor).await?;
        let limit = limit.clamp(1, MAX_DOCUMENT_PAGE);
        let rows = self
            .documents
            .expiring(
                actor.tenant_id,
                visibility,
                before,
                category,
                after,
                u64::from(limit) + 1,
            )
            .await?;
        Ok(Page::from_probe(rows, limit, |d| {
            (d.expires_at.unwrap_or(d.created_at), d.id)
        }))
    }

    /// Deletes a document (needs `customers.view` and `customers.edit`): the row and its
    /// `document.deleted` event in one transaction, then the object. A failure to delete the
    /// object is logged and leaves an orphan object for the check to report; the document is
    /// gone either way.
    ///
    /// # Errors
    /// As [`DocumentService::get`].
    #[tracing::instrument(name = "DocumentService::delete", skip_all, fields(tenant_id = %actor.tenant_id, document_id = %id))]
    pub async fn delete(&self, actor: &Actor, id: DocumentId) -> Result<(), DomainError> {
        actor.require(Permission::CustomersView)?;
        actor.require(Permission::CustomersEdit)?;
        let not_found = || DomainError::NotFound { entity: "document" };
        let tenant = crate::tenant::load(self.tenants.as_ref(), actor.tenant_id).await?;
        let visibility: Visibility = tenant.visibility_of(actor)?;
        let mut tx = self.documents.begin(actor.tenant_id).await?;
        let document = tx.get(actor.tenant_id, id).await?.ok_or_else(not_found)?;
        lock_live(tx.as_mut(), actor, &visibility, document.customer_id)
            .await
            .map_err(|e| match e {
                DomainError::NotFound { .. } => not_found(),
                other => other,
            })?;
        tx.delete(actor.tenant_id, id).await.map_err(|e| match e {
            RepositoryError::Stale => not_found(),
            other => other.into(),
        })?;
        let event = NewEvent::new(
            actor,
            "document.deleted",
            EntityType::Document,
            id.0,
            self.clock.now(),
        )
        .customer(document.customer_id)
        .data(document.event_data());
        tx.append_events(&[event]).await?;
        tx.commit().await?;
        if let Err(e) = self.store.delete(&document.object_key).await {
            tracing::error!(error = %e, object_key = %document.object_key, "could not delete a deleted document's object; `crm-server documents check` reports it");
        }
        Ok(())
    }

    /// Compares every tenant's document rows with the store's objects, reading at most `max`
    /// of each: rows whose object is missing and objects no row names (a server operation:
    /// the start-up check and `crm-server documents check`, never a request).
    ///
    /// # Errors
    /// The storage's or the store's error.
    #[tracing::instrument(name = "DocumentService::check_orphans", skip_all)]
    pub async fn check_orphans(&self, max: usize) -> Result<OrphanReport, DomainError> {
        let max_rows = u64::try_from(max).unwrap_or(u64::MAX);
        let mut rows = Vec::new();
        let mut after = None;
        let mut rows_truncated = false;
        loop {
            let left = max_rows.saturating_sub(rows.len() as u64);
            if left == 0 {
                rows_truncated = true;
                break;
            }
            let page = self
                .documents
                .object_keys(after.clone(), left.min(KEY_PAGE))
                .await?;
            let done = (page.len() as u64) < left.min(KEY_PAGE);
            after = page.last().map(|(_, _, k)| k.clone());
            rows.extend(page);
            if done {
                break;
            }
        }
        // One more than the bound tells whether the listing was cut.
        let mut objects = self
            .store
            .list(OBJECT_KEY_PREFIX, max.saturating_add(1))
            .await?;
        let objects_truncated = objects.len() > max;
        objects.truncate(max);
        let object_set: HashSet<&str> = objects.iter().map(String::as_str).collect();
        let row_set: HashSet<&str> = rows.iter().map(|(_, _, k)| k.as_str()).collect();
        let mut report = OrphanReport {
            rows_checked: rows.len() as u64,
            objects_checked: objects.len() as u64,
            truncated: rows_truncated || objects_truncated,
            ..OrphanReport::default()
        };
        if !objects_truncated {
            report.rows_without_objects = rows
                .iter()
                .filter(|(_, _, k)| !object_set.contains(k.as_str()))
                .cloned()
                .collect();
        }
        if !rows_truncated {
            let mut orphans: Vec<String> = objects
                .iter()
                .filter(|k| !row_set.contains(k.as_str()))
                .cloned()
                .collect();
            orphans.sort();
            report.objects_without_rows = orphans;
        }
        Ok(report)
    }
}

/// Locks the customer in `tx` and checks that it is live, visible and not erased.
async fn lock_live(
    tx: &mut dyn DocumentTransaction,
    actor: &Actor,
    visibility: &Visibility,
    customer: CustomerId,
) -> Result<Customer, DomainError> {
    let c = tx
        .lock_customer(actor.tenant_id, customer)
        .await?
        .filter(|c| c.deleted_at.is_none() && visibility.allows(c.profile.assigned_to.as_ref()))
        .ok_or(DomainError::NotFound { entity: "customer" })?;
    CustomerErased::check(&c)?;
    Ok(c)
}

/// The title (default: the file name) and category (default `other`) of `meta`.
fn validate_meta(
    meta: &DocumentMeta,
    file_name: &str,
) -> Result<(String, DocumentCategory), DomainError> {
    let mut errors = Vec::new();
    let title = match meta.title.as_deref().map(str::trim) {
        Some(t) if !t.is_empty() => t.to_owned(),
        _ => file_name.to_owned(),
    };
    if title.chars().count() > MAX_TITLE_CHARS {
        errors.push(
            FieldError::new(
                "meta.title",
                "too_long",
                format!("at most {MAX_TITLE_CHARS} characters"),
            )
            .with_limit(MAX_TITLE_CHARS),
        );
    } else if let Err(e) = check_text("meta.title", &title, TextKind::SingleLine) {
        errors.push(e);
    }
    let category = match meta.category.as_deref().map(str::trim) {
        None | Some("") => DocumentCategory::Other,
        Some(raw) => match raw.parse::<DocumentCategory>() {
            Ok(c) => c,
            Err(message) => {
                errors.push(FieldError::new("meta.category", "invalid_value", message));
                DocumentCategory::Other
            }
        },
    };
    if errors.is_empty() {
        Ok((title, category))
    } else {
        Err(DomainError::Validation(errors))
    }
}
