//! [`DocumentRepository`] and its [`DocumentTransaction`] on SeaORM, in `customer_documents`,
//! and [`ObjectDocumentStore`], the [`DocumentStore`] on the `object_store` crate (a local
//! folder or any S3-compatible bucket).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_domain::access::Visibility;
use crm_domain::customer::Customer;
use crm_domain::document::{
    Document, DocumentCategory, DocumentId, DocumentPosition, DocumentRepository, DocumentStore,
    DocumentTransaction, DocumentType, ExpiryPosition, ObjectReader,
};
use crm_domain::event::NewEvent;
use crm_domain::{CustomerId, RepositoryError, TenantId, UserId};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseBackend, DatabaseTransaction, EntityTrait, Order,
    QueryFilter, QueryOrder, QuerySelect,
};
use tokio::io::AsyncReadExt;

use crate::customers::to_domain as customer_to_domain;
use crate::db::Database;
use crate::entity::{customer, customer_document};
use crate::error::{corrupt, exactly_one, map_db_err};

/// Document rows in `customer_documents`.
#[derive(Debug, Clone)]
pub struct SeaDocumentRepository {
    db: Database,
}

impl SeaDocumentRepository {
    /// Wraps a database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn to_domain(m: customer_document::Model) -> Result<Document, RepositoryError> {
    Ok(Document {
        id: DocumentId(m.id),
        tenant_id: TenantId(m.tenant_id),
        customer_id: CustomerId(m.customer_id),
        title: m.title,
        category: m
            .category
            .parse::<DocumentCategory>()
            .map_err(|_| corrupt("document category"))?,
        file_name: m.file_name,
        content_type: m
            .content_type
            .parse::<DocumentType>()
            .map_err(|_| corrupt("document content type"))?,
        size_bytes: u64::try_from(m.size_bytes).map_err(|_| corrupt("document size"))?,
        sha256: m.sha256,
        object_key: m.object_key,
        expires_at: m.expires_at,
        created_by: m.created_by.as_deref().and_then(UserId::parse),
        created_at: m.created_at,
    })
}

fn to_row(d: &Document) -> Result<customer_document::ActiveModel, RepositoryError> {
    Ok(customer_document::ActiveModel {
        tenant_id: Set(d.tenant_id.0),
        id: Set(d.id.0),
        customer_id: Set(d.customer_id.0),
        title: Set(d.title.clone()),
        category: Set(d.category.as_str().to_owned()),
        file_name: Set(d.file_name.clone()),
        content_type: Set(d.content_type.as_str().to_owned()),
        size_bytes: Set(i64::try_from(d.size_bytes)
            .map_err(|_| RepositoryError::Other("document size out of range".into()))?),
        sha256: Set(d.sha256.clone()),
        object_key: Set(d.object_key.clone()),
        expires_at: Set(d.expires_at),
        created_by: Set(d.created_by.as_ref().map(|u| u.as_str().to_owned())),
        created_at: Set(d.created_at),
    })
}

/// The tenant's live customers inside `visibility`, as a subquery.
fn live_customers(
    tenant: TenantId,
    visibility: &Visibility,
) -> sea_orm::sea_query::SelectStatement {
    let mut sub = Query::select();
    sub.column(customer::Column::Id)
        .from(customer::Entity)
        .and_where(customer::Column::TenantId.eq(tenant.0))
        .and_where(customer::Column::DeletedAt.is_null());
    if let Visibility::AssignedTo(user) = visibility {
        sub.and_where(customer::Column::AssignedTo.eq(user.as_str()));
    }
    sub.take()
}

#[async_trait]
impl DocumentRepository for SeaDocumentRepository {
    async fn get(
        &self,
        tenant: TenantId,
        id: DocumentId,
    ) -> Result<Option<Document>, RepositoryError> {
        use customer_document::Column as C;
        let conn = self.db.tenant_read(tenant).await?;
        let found = customer_document::Entity::find()
            .filter(C::TenantId.eq(tenant.0))
            .filter(C::Id.eq(id.0))
            .one(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        found.map(to_domain).transpose()
    }

    async fn list(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        after: Option<DocumentPosition>,
        limit: u64,
    ) -> Result<Vec<Document>, RepositoryError> {
        use customer_document::Column as C;
        let mut q = customer_document::Entity::find()
            .filter(C::TenantId.eq(tenant.0))
            .filter(C::CustomerId.eq(customer.0));
        if let Some((at, id)) = after {
            q = q.filter(
                Condition::any().add(C::CreatedAt.lt(at)).add(
                    Condition::all()
                        .add(C::CreatedAt.eq(at))
                        .add(C::Id.lt(id.0)),
                ),
            );
        }
        let conn = self.db.tenant_read(tenant).await?;
        let rows = q
            .order_by(C::CreatedAt, Order::Desc)
            .order_by(C::Id, Order::Desc)
            .limit(limit)
            .all(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        rows.into_iter().map(to_domain).collect()
    }

    async fn expiring(
        &self,
        tenant: TenantId,
        visibility: Visibility,
        before: Option<DateTime<Utc>>,
        category: Option<DocumentCategory>,
        after: Option<ExpiryPosition>,
        limit: u64,
    ) -> Result<Vec<Document>, RepositoryError> {
        use customer_document::Column as C;
        let mut q = customer_document::Entity::find()
            .filter(C::TenantId.eq(tenant.0))
            .filter(C::ExpiresAt.is_not_null())
            .filter(C::CustomerId.in_subquery(live_customers(tenant, &visibility)));
        if let Some(before) = before {
            q = q.filter(C::ExpiresAt.lt(before));
        }
        if let Some(category) = category {
            q = q.filter(C::Category.eq(category.as_str()));
        }
        if let Some((at, id)) = after {
            q = q.filter(
                Condition::any().add(C::ExpiresAt.gt(at)).add(
                    Condition::all()
                        .add(C::ExpiresAt.eq(at))
                        .add(C::Id.gt(id.0)),
                ),
            );
        }
        let conn = self.db.tenant_read(tenant).await?;
        let rows = q
            .order_by(C::ExpiresAt, Order::Asc)
            .order_by(C::Id, Order::Asc)
            .limit(limit)
            .all(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        rows.into_iter().map(to_domain).collect()
    }

    async fn object_keys(
        &self,
        after: Option<String>,
        limit: u64,
    ) -> Result<Vec<(TenantId, DocumentId, String)>, RepositoryError> {
        use customer_document::Column as C;
        let mut q = customer_document::Entity::find()
            .select_only()
            .column(C::TenantId)
            .column(C::Id)
            .column(C::ObjectKey);
        if let Some(after) = after {
            q = q.filter(Expr::col(C::ObjectKey).gt(after));
        }
        // Cross-tenant by nature (the orphan check): the system transaction opens the wall.
        let txn = self.db.system_tx().await?;
        let rows: Vec<(uuid::Uuid, uuid::Uuid, String)> = q
            .order_by(C::ObjectKey, Order::Asc)
            .limit(limit)
            .into_tuple()
            .all(&txn)
            .await
            .map_err(map_db_err)?;
        txn.commit().await.map_err(map_db_err)?;
        Ok(rows
            .into_iter()
            .map(|(t, id, key)| (TenantId(t), DocumentId(id), key))
            .collect())
    }

    async fn begin(
        &self,
        tenant: TenantId,
    ) -> Result<Box<dyn DocumentTransaction>, RepositoryError> {
        let txn = self.db.tenant_tx(tenant).await?;
        Ok(Box::new(SeaDocumentTransaction {
            txn,
            backend: self.db.backend(),
        }))
    }
}

/// One transaction of [`SeaDocumentRepository`].
pub struct SeaDocumentTransaction {
    txn: DatabaseTransaction,
    backend: DatabaseBackend,
}

impl std::fmt::Debug for SeaDocumentTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaDocumentTransaction")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl DocumentTransaction for SeaDocumentTransaction {
    async fn lock_customer(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Option<Customer>, RepositoryError> {
        let mut q = customer::Entity::find()
            .filter(customer::Column::TenantId.eq(tenant.0))
            .filter(customer::Column::Id.eq(id.0));
        if self.backend == DatabaseBackend::Postgres {
            // SQLite needs no lock: its one writer connection already serialises transactions.
            q = q.lock_exclusive();
        }
        q.one(&self.txn)
            .await
            .map_err(map_db_err)?
            .map(customer_to_domain)
            .transpose()
    }

    async fn get(
        &mut self,
        tenant: TenantId,
        id: DocumentId,
    ) -> Result<Option<Document>, RepositoryError> {
        use customer_document::Column as C;
        customer_document::Entity::find()
            .filter(C::TenantId.eq(tenant.0))
            .filter(C::Id.eq(id.0))
            .one(&self.txn)
            .await
            .map_err(map_db_err)?
            .map(to_domain)
            .transpose()
    }

    async fn insert(&mut self, document: &Document) -> Result<(), RepositoryError> {
        customer_document::Entity::insert(to_row(document)?)
            .exec_without_returning(&self.txn)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }

    async fn delete(&mut self, tenant: TenantId, id: DocumentId) -> Result<(), RepositoryError> {
        use customer_document::Column as C;
        let result = customer_document::Entity::delete_many()
            .filter(C::TenantId.eq(tenant.0))
            .filter(C::Id.eq(id.0))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        exactly_one(result.rows_affected)
    }

    async fn append_events(&mut self, events: &[NewEvent]) -> Result<(), RepositoryError> {
        crate::events::append(&self.txn, events).await
    }

    async fn commit(self: Box<Self>) -> Result<(), RepositoryError> {
        self.txn.commit().await.map_err(map_db_err)
    }
}

/// Bytes per part of a multipart upload to the store (S3's parts are at least 5 MiB).
const PART_BYTES: usize = 8 << 20;

/// Documents' bytes in an [`ObjectStore`]: a folder on this machine
/// ([`ObjectDocumentStore::local`]) or an S3-compatible bucket under a prefix
/// ([`ObjectDocumentStore::s3`]).
#[derive(Debug, Clone)]
pub struct ObjectDocumentStore {
    store: Arc<dyn ObjectStore>,
    /// Prepended to every key (`""` or `some/prefix/`).
    prefix: String,
    /// What the store is, for logs (`file:///srv/crm/documents`, `s3://bucket/prefix`).
    description: String,
}

impl ObjectDocumentStore {
    /// The folder `dir` (created when missing).
    ///
    /// # Errors
    /// The folder cannot be created or opened.
    pub fn local(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| format!("opening {}: {e}", dir.display()))?;
        Ok(Self {
            store: Arc::new(store),
            prefix: String::new(),
            description: format!("file://{}", dir.display()),
        })
    }

    /// The store of `url` = `s3://bucket/prefix` (the prefix optional), with the region,
    /// endpoint and credentials of the usual `AWS_*` variables (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT` for S3-compatible stores, ...).
    ///
    /// # Errors
    /// The URL is not `s3://bucket[/prefix]` or the store cannot be configured.
    pub fn s3(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("`{url}` is not an s3://bucket/prefix URL"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("`{url}` names no bucket"));
        }
        let store = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| format!("configuring the S3 store {url}: {e}"))?;
        let prefix = prefix.trim_matches('/');
        Ok(Self {
            store: Arc::new(store),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            description: format!("s3://{bucket}/{prefix}"),
        })
    }

    /// An in-memory store (tests).
    pub fn in_memory() -> Self {
        Self {
            store: Arc::new(object_store::memory::InMemory::new()),
            prefix: String::new(),
            description: "memory".into(),
        }
    }

    /// What the store is (`file:///...`, `s3://bucket/prefix`), for logs.
    pub fn description(&self) -> &str {
        &self.description
    }

    fn path(&self, key: &str) -> ObjectPath {
        ObjectPath::from(format!("{}{key}", self.prefix))
    }
}

fn store_err(e: object_store::Error) -> RepositoryError {
    RepositoryError::Unavailable(format!("document store: {e}"))
}

struct StreamReader(BoxStream<'static, object_store::Result<bytes::Bytes>>);

#[async_trait]
impl ObjectReader for StreamReader {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, RepositoryError> {
        match self.0.next().await {
            Some(Ok(b)) => Ok(Some(b.to_vec())),
            Some(Err(e)) => Err(store_err(e)),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl DocumentStore for ObjectDocumentStore {
    async fn put(&self, key: &str, file: &Path) -> Result<(), RepositoryError> {
        let io = |e: std::io::Error| RepositoryError::Other(format!("reading the upload: {e}"));
        let mut f = tokio::fs::File::open(file).await.map_err(io)?;
        let path = self.path(key);
        let mut first = vec![0u8; PART_BYTES];
        let n = read_full(&mut f, &mut first).await.map_err(io)?;
        if n < PART_BYTES {
            // Small: one request.
            first.truncate(n);
            self.store
                .put(&path, first.into())
                .await
                .map_err(store_err)?;
            return Ok(());
        }
        first.truncate(n);
        let mut upload = self.store.put_multipart(&path).await.map_err(store_err)?;
        let mut part = first;
        loop {
            if let Err(e) = upload.put_part(part.into()).await {
                let _ = upload.abort().await;
                return Err(store_err(e));
            }
            let mut next = vec![0u8; PART_BYTES];
            let n = match read_full(&mut f, &mut next).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = upload.abort().await;
                    return Err(io(e));
                }
            };
            if n == 0 {
                break;
            }
            next.truncate(n);
            part = next;
        }
        if let Err(e) = upload.complete().await {
            let _ = upload.abort().await;
            return Err(store_err(e));
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Box<dyn ObjectReader>>, RepositoryError> {
        match self.store.get(&self.path(key)).await {
            Ok(r) => Ok(Some(Box::new(StreamReader(r.into_stream())))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_err(e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), RepositoryError> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_err(e)),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, RepositoryError> {
        match self.store.head(&self.path(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(store_err(e)),
        }
    }

    async fn list(&self, prefix: &str, max: usize) -> Result<Vec<String>, RepositoryError> {
        let root = self.path(prefix.trim_end_matches('/'));
        let mut listing = self.store.list(Some(&root));
        let mut keys = Vec::new();
        while keys.len() < max {
            match listing.next().await {
                Some(Ok(meta)) => {
                    let full = meta.location.to_string();
                    if let Some(key) = full.strip_prefix(&self.prefix) {
                        keys.push(key.to_owned());
                    }
                }
                Some(Err(object_store::Error::NotFound { .. })) => break,
                Some(Err(e)) => return Err(store_err(e)),
                None => break,
            }
        }
        Ok(keys)
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
async fn read_full(f: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = f.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}
