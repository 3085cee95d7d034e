//! Documents: files attached to a customer (contracts, invoices, licences), their metadata
//! and the pure rules about them (the content-type allow-list, the object key, the stored
//! file name).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{CustomerId, TenantId, UserId};

/// Default largest document, bytes (25 MiB; `CRM_MAX_DOCUMENT_BYTES`).
pub const DEFAULT_MAX_DOCUMENT_BYTES: u64 = 25 << 20;
/// Longest title, characters.
pub const MAX_TITLE_CHARS: usize = 255;
/// Longest stored file name, characters (longer names keep their end, the extension).
pub const MAX_FILE_NAME_CHARS: usize = 200;
/// The most leading bytes content sniffing looks at.
pub const SNIFF_BYTES: usize = 64 << 10;

/// A document's id (UUID v7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DocumentId(pub Uuid);

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

string_enum! {
    /// What a document is (`category` on the wire and in storage).
    DocumentCategory {
        /// A contract.
        Contract => "contract",
        /// An invoice.
        Invoice => "invoice",
        /// A quotation.
        Quotation => "quotation",
        /// An identity card (KTP, passport).
        IdCard => "id_card",
        /// A tax registration certificate (NPWP).
        TaxCertificate => "tax_certificate",
        /// A business licence (NIB, SIUP).
        BusinessLicense => "business_license",
        /// Anything else.
        Other => "other",
    }
}

string_enum! {
    /// The content types a document may have: the allow-list, decided from the bytes
    /// ([`classify`]), never from the client's header.
    DocumentType {
        /// PDF.
        Pdf => "application/pdf",
        /// PNG image.
        Png => "image/png",
        /// JPEG image.
        Jpeg => "image/jpeg",
        /// WebP image.
        Webp => "image/webp",
        /// Word document (Office Open XML).
        Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        /// Excel workbook (Office Open XML).
        Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        /// CSV: valid UTF-8 without NUL bytes, named `*.csv`.
        Csv => "text/csv",
        /// Plain text: valid UTF-8 without NUL bytes.
        Text => "text/plain",
    }
}

impl Serialize for DocumentCategory {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Serialize for DocumentType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A stored document's metadata (the bytes are in the [`super::DocumentStore`] under
/// `object_key`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Document {
    /// Id.
    pub id: DocumentId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// The customer it is attached to.
    pub customer_id: CustomerId,
    /// Title, 1..=255 characters.
    pub title: String,
    /// Category.
    pub category: DocumentCategory,
    /// The uploaded file name, sanitised ([`safe_file_name`]): what a download suggests.
    pub file_name: String,
    /// The content type sniffed from the bytes.
    pub content_type: DocumentType,
    /// Size, bytes.
    pub size_bytes: u64,
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256: String,
    /// Where the bytes are: [`object_key`] of tenant, customer and id.
    pub object_key: String,
    /// When it expires (a contract's end, a licence's validity), if it does.
    pub expires_at: Option<DateTime<Utc>>,
    /// Who attached it.
    pub created_by: Option<UserId>,
    /// When it was attached.
    pub created_at: DateTime<Utc>,
}

impl Document {
    /// The payload of its `document.attached` and `document.deleted` events: the key fields
    /// as the API shows them.
    pub fn event_data(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "customer_id": self.customer_id,
            "title": self.title,
            "category": self.category.as_str(),
            "file_name": self.file_name,
            "content_type": self.content_type.as_str(),
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "expires_at": self.expires_at,
        })
    }
}

/// The metadata a client sends with an upload (the `meta` part), unvalidated.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentMeta {
    /// Title; default the file name.
    pub title: Option<String>,
    /// Category; default `other`.
    pub category: Option<String>,
    /// Expiry instant, if any.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A file received for a document (streamed to a temporary file by the adapter, within the
/// size limit): where it is, what the client called it, and what was measured while it
/// streamed.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedFile {
    /// The temporary file holding the bytes.
    pub path: std::path::PathBuf,
    /// The name the client gave (unsanitised; may be hostile).
    pub file_name: String,
    /// Size, bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
    /// The first bytes (at most [`SNIFF_BYTES`]), for sniffing.
    pub head: Vec<u8>,
    /// Whether the whole file is valid UTF-8 without a NUL byte.
    pub utf8_text: bool,
}

/// The content type of a file from its bytes: `head` (its first bytes), whether the whole file
/// is UTF-8 text without NUL (`utf8_text`), and its name (only to tell CSV from plain text).
/// Binary formats are recognised by their signatures (the `infer` crate); a file no signature
/// matches is text when `utf8_text`.
///
/// # Errors
/// The detected type (a MIME type, or `application/octet-stream` when nothing matched) when it
/// is not on the allow-list: a Windows executable renamed `.pdf` is `application/vnd.microsoft.portable-executable`.
pub fn classify(head: &[u8], utf8_text: bool, file_name: &str) -> Result<DocumentType, String> {
    if let Some(kind) = infer::get(head) {
        return match kind.mime_type() {
            "application/pdf" => Ok(DocumentType::Pdf),
            "image/png" => Ok(DocumentType::Png),
            "image/jpeg" => Ok(DocumentType::Jpeg),
            "image/webp" => Ok(DocumentType::Webp),
            m if m == DocumentType::Docx.as_str() => Ok(DocumentType::Docx),
            m if m == DocumentType::Xlsx.as_str() => Ok(DocumentType::Xlsx),
            other => Err(other.to_owned()),
        };
    }
    if utf8_text && !head.is_empty() {
        let csv = file_name.to_ascii_lowercase().ends_with(".csv");
        return Ok(if csv {
            DocumentType::Csv
        } else {
            DocumentType::Text
        });
    }
    Err("application/octet-stream".to_owned())
}

/// Where a document's bytes are stored: `tenants/<tenant>/customers/<customer>/<document>`,
/// built from ids only (never the uploaded file name, so no name can reach another path).
pub fn object_key(tenant: TenantId, customer: CustomerId, id: DocumentId) -> String {
    format!("tenants/{tenant}/customers/{customer}/{id}")
}

/// The prefix of every document object key.
pub const OBJECT_KEY_PREFIX: &str = "tenants/";

/// The uploaded file name made safe to store and to offer in a download: its last path
/// component (after `/` or `\`), without control characters, quotes, `;` or leading dots and
/// spaces, at most [`MAX_FILE_NAME_CHARS`] characters (keeping the end, where the extension
/// is); `document` when nothing is left.
pub fn safe_file_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\'' | ';' | '`'))
        .collect();
    let trimmed = cleaned
        .trim_start_matches(['.', ' '])
        .trim_end_matches([' ', '.']);
    let count = trimmed.chars().count();
    let kept: String = if count > MAX_FILE_NAME_CHARS {
        trimmed.chars().skip(count - MAX_FILE_NAME_CHARS).collect()
    } else {
        trimmed.to_owned()
    };
    if kept.is_empty() {
        "document".to_owned()
    } else {
        kept
    }
}

/// The result of comparing the document rows with the stored objects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrphanReport {
    /// Rows read (at most the check's bound).
    pub rows_checked: u64,
    /// Objects listed (at most the check's bound).
    pub objects_checked: u64,
    /// Rows whose object is missing: `(tenant, document id, object key)`. Empty when the
    /// object listing was cut at the bound (nothing can be concluded then).
    pub rows_without_objects: Vec<(TenantId, DocumentId, String)>,
    /// Object keys no row names. Empty when the row listing was cut at the bound.
    pub objects_without_rows: Vec<String>,
    /// Whether a listing reached the bound (the check is then partial).
    pub truncated: bool,
}

/// Where a page of a customer's documents starts: the last row's `created_at` and id
/// (newest first).
pub type DocumentPosition = (DateTime<Utc>, DocumentId);

/// Where a page of expiring documents starts: the last row's `expires_at` and id (soonest
/// first).
pub type ExpiryPosition = (DateTime<Utc>, DocumentId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_decide_the_type_not_the_name() {
        assert_eq!(
            classify(b"%PDF-1.7\n...", false, "x.txt"),
            Ok(DocumentType::Pdf)
        );
        assert_eq!(
            classify(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", false, "x.pdf"),
            Ok(DocumentType::Png)
        );
        // A Windows executable renamed `.pdf`.
        let exe = classify(
            b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff",
            false,
            "invoice.pdf",
        );
        assert_eq!(
            exe,
            Err("application/vnd.microsoft.portable-executable".to_owned())
        );
    }

    #[test]
    fn text_is_csv_by_its_name_and_binary_junk_is_refused() {
        assert_eq!(
            classify(b"a,b\n1,2\n", true, "List.CSV"),
            Ok(DocumentType::Csv)
        );
        assert_eq!(
            classify(b"hello", true, "notes.pdf"),
            Ok(DocumentType::Text)
        );
        assert_eq!(
            classify(b"\x01\x02\x03", false, "x.txt"),
            Err("application/octet-stream".into())
        );
        assert!(classify(b"", true, "empty.txt").is_err());
    }

    #[test]
    fn the_key_is_made_of_ids_only() {
        let (t, c, d) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        assert_eq!(
            object_key(TenantId(t), CustomerId(c), DocumentId(d)),
            format!("tenants/{t}/customers/{c}/{d}")
        );
    }

    #[test]
    fn file_names_lose_paths_controls_and_quotes() {
        assert_eq!(safe_file_name("../../etc/passwd.pdf"), "passwd.pdf");
        assert_eq!(safe_file_name("C:\\Users\\x\\kontrak.pdf"), "kontrak.pdf");
        assert_eq!(safe_file_name("a\"b;\r\nc.pdf"), "abc.pdf");
        assert_eq!(safe_file_name(".."), "document");
        assert_eq!(safe_file_name(".hidden"), "hidden");
        assert_eq!(
            safe_file_name("Surat Perjanjian é.pdf"),
            "Surat Perjanjian é.pdf"
        );
        let long = format!("{}.pdf", "a".repeat(300));
        let kept = safe_file_name(&long);
        assert_eq!(kept.chars().count(), MAX_FILE_NAME_CHARS);
        assert!(kept.ends_with(".pdf"));
    }
}
