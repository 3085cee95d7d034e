//! Documents (issue 13): files attached to a customer (contracts, invoices, quotations, ID
//! cards, tax certificates, business licences), their bytes in an object store behind the
//! [`DocumentStore`] port and their metadata in rows behind [`DocumentRepository`].
//!
//! Rules ([`DocumentService`]): the content type is sniffed from the bytes and must be on the
//! allow-list ([`classify`]: PDF, PNG, JPEG, WebP, DOCX, XLSX, CSV, plain text); the object
//! key is built from ids only ([`object_key`]); the stored file name is sanitised
//! ([`safe_file_name`]). A row and its object never outlive each other: the object is written
//! first under its final key, then the row (with its `document.attached` event) in a
//! transaction, and the object is deleted when that transaction fails; a delete removes the
//! row (with `document.deleted`) and then the object (a failure there leaves an orphan object,
//! which [`DocumentService::check_orphans`] reports). A row whose object is missing answers
//! [`DocumentError::ContentMissing`]. Documents are read and written with the customer's
//! permissions and visibility: a soft-deleted customer's documents are hidden until a
//! restore, another tenant's are not found.

mod error;
mod model;
mod ports;
mod service;
#[cfg(test)]
mod service_tests;

pub use error::DocumentError;
pub use model::{
    DEFAULT_MAX_DOCUMENT_BYTES, Document, DocumentCategory, DocumentId, DocumentMeta,
    DocumentPosition, DocumentType, ExpiryPosition, MAX_FILE_NAME_CHARS, MAX_TITLE_CHARS,
    OBJECT_KEY_PREFIX, OrphanReport, ReceivedFile, SNIFF_BYTES, classify, object_key,
    safe_file_name,
};
pub use ports::{DocumentRepository, DocumentStore, DocumentTransaction, ObjectReader};
#[cfg(any(test, feature = "mock"))]
pub use ports::{MockDocumentRepository, MockDocumentStore, MockDocumentTransaction};
pub use service::{DocumentService, Download, MAX_DOCUMENT_PAGE};
