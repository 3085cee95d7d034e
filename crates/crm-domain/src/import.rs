//! Bulk import of customers and orders from spreadsheets (CSV or XLSX): the options of an
//! import, the mapping of the file's columns to API fields, and the conversion of one row of
//! text cells into a [`CustomerInput`] or an [`OrderRow`].
//!
//! Pure: reading the file (encodings, delimiters, XLSX) is the infrastructure's job
//! (`crm_infra::import_file`), which hands over a header row and rows of text cells with their
//! line numbers. The flow of an import:
//!
//! 1. [`ImportOptions::validate`] the options;
//! 2. [`resolve_mapping`] the header row (an explicit [`ImportOptions::mapping`], or
//!    [`detect_mapping`] from English and Indonesian header names) into one target field per
//!    column;
//! 3. for each row, [`customer_row`] (then [`CustomerInput::validate`]) or [`order_row`] (then
//!    the order service), collecting failures as [`RowError`]s with the row's line number.
//!
//! Cell rules, for every target: cells are trimmed, an empty cell is an absent value; a cell
//! written by the exporter's CSV-injection guard (`'` before `=`, `+`, `-`, `@`, tab or carriage
//! return) is read without the `'`; numbers follow [`ImportOptions::decimal_separator`] with
//! thousands separators, currency symbols and codes (`Rp 1.500.000,-`, `$1,234.50`, `12.5%`)
//! removed; dates follow [`ImportOptions::date_format`]; booleans are `true`/`false`, `yes`/`no`,
//! `ya`/`tidak`, `y`/`n`, `1`/`0`; choice fields (`customer_type`, `status`, ...) take their API
//! values case-insensitively with spaces or hyphens for underscores, and a few English and
//! Indonesian synonyms (`perorangan`, `laki-laki`, `selesai`, ...).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::str::FromStr;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::customer::{
    AcquisitionSource, CustomerInput, CustomerStatus, CustomerType, Gender, LifecycleStage,
};
use crate::error::FieldError;
use crate::order::{OrderInput, OrderStatus};
use crate::values::{CountryCode, CurrencyCode};

string_enum!(
    /// What an import file holds.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    ImportKind {
        /// One customer per row.
        Customers => "customers",
        /// One order per row, naming its customer.
        Orders => "orders",
    }
);

string_enum!(
    /// What to do with a customer row that matches an existing customer (see [`MatchBy`]).
    /// Orders are matched by `order_ref` and never changed by an import: for them only `skip`
    /// is allowed, so re-importing a file is a no-op.
    #[derive(Default, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    DuplicatePolicy {
        /// Leave the existing customer as it is and count the row as skipped. The default.
        #[default]
        Skip => "skip",
        /// Update the existing customer: the row's non-empty mapped cells replace the stored
        /// values, everything else is kept.
        Update => "update",
        /// Create a new customer anyway (unique fields such as `email` may then conflict).
        Create => "create",
    }
);

string_enum!(
    /// The field that finds the existing customer a row is about.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    MatchBy {
        /// `external_ref`, the id in the system the file comes from.
        ExternalRef => "external_ref",
        /// `email` (compared lower-cased).
        Email => "email",
        /// `phone` or `mobile_phone` (compared in E.164).
        Phone => "phone",
    }
);

string_enum!(
    /// The decimal separator of numbers written as text; the other of `.` and `,` is then a
    /// thousands separator.
    #[derive(Default, Serialize, Deserialize)]
    DecimalSeparator {
        /// `1,234.56`. The default.
        #[default]
        #[serde(rename = ".", alias = "dot")]
        Dot => ".",
        /// `1.234,56`, as in Indonesia and most of Europe.
        #[serde(rename = ",", alias = "comma")]
        Comma => ",",
    }
);

impl DecimalSeparator {
    /// The separator character.
    pub fn as_char(self) -> char {
        match self {
            DecimalSeparator::Dot => '.',
            DecimalSeparator::Comma => ',',
        }
    }
}

/// How to read one import file. JSON field names are the Rust ones; unknown fields are
/// refused. Only `kind` is required.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ImportOptions {
    /// What the file holds.
    pub kind: ImportKind,
    /// Explicit mapping from header (as written in the file) to target field (see
    /// [`targets`]). When given, it replaces header detection and columns it does not name are
    /// ignored. `None` (default): detect from the headers ([`detect_mapping`]).
    #[serde(default)]
    pub mapping: Option<BTreeMap<String, String>>,
    /// CSV field delimiter; `None` (default) detects among comma, semicolon and tab. In JSON a
    /// one-character string (`";"`, `"\t"`), a name (`comma`, `semicolon`, `tab`, `pipe`) or a
    /// byte value.
    #[serde(default, deserialize_with = "deserialize_delimiter")]
    pub delimiter: Option<u8>,
    /// chrono `strftime` format of dates and times (`%d/%m/%Y`, `%m/%d/%Y %H:%M`). ISO dates
    /// (`YYYY-MM-DD`, RFC 3339, as the XLSX reader prints date cells) are accepted as well.
    /// `None` (default): RFC 3339, `YYYY-MM-DD[ HH:MM[:SS]]`, `YYYYMMDD` and `DD/MM/YYYY`.
    /// Dates without a time are midnight UTC.
    #[serde(default)]
    pub date_format: Option<String>,
    /// Decimal separator of numbers written as text. The XLSX reader prints number cells with
    /// `.` and no thousands separators, so XLSX files are read with [`DecimalSeparator::Dot`].
    #[serde(default)]
    pub decimal_separator: DecimalSeparator,
    /// ISO 3166-1 alpha-2 country for rows without a `country` (customers): also the country
    /// national phone numbers are read in.
    #[serde(default)]
    pub default_country: Option<String>,
    /// ISO 4217 currency for rows without a `currency` (customers and orders).
    #[serde(default)]
    pub default_currency: Option<String>,
    /// What to do with a row that matches an existing record; default `skip`.
    #[serde(default)]
    pub duplicate_policy: DuplicatePolicy,
    /// How an existing customer is found. `None` (default): by `email` for customers; for
    /// orders, by the first of the row's customer external ref, email and phone that is present
    /// (see [`CustomerKey::lookup`]).
    #[serde(default)]
    pub match_by: Option<MatchBy>,
    /// Check every row and report what would happen, storing nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Orders: create the customer an order names when none matches (from the row's customer
    /// columns, see [`OrderRow::new_customer`]); default `true`. When `false` such rows fail.
    #[serde(default = "default_true")]
    pub create_missing_customers: bool,
    /// The CSV file is Latin-1 (Windows-1252) rather than UTF-8.
    #[serde(default)]
    pub latin1: bool,
}

fn default_true() -> bool {
    true
}

/// Accepts a byte, a one-character ASCII string or a delimiter name.
fn deserialize_delimiter<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Byte(u8),
        Text(String),
    }
    let Some(raw) = Option::<Raw>::deserialize(d)? else {
        return Ok(None);
    };
    match raw {
        Raw::Byte(b) => Ok(Some(b)),
        Raw::Text(t) => match t.as_str() {
            "comma" => Ok(Some(b',')),
            "semicolon" => Ok(Some(b';')),
            "tab" | "\\t" => Ok(Some(b'\t')),
            "pipe" => Ok(Some(b'|')),
            s if s.len() == 1 && s.is_ascii() => Ok(s.bytes().next()),
            other => Err(serde::de::Error::custom(format!(
                "`{other}` is not a delimiter: use one ASCII character or comma, semicolon, tab, pipe"
            ))),
        },
    }
}

impl ImportOptions {
    /// The default options for a kind of file.
    pub fn new(kind: ImportKind) -> Self {
        Self {
            kind,
            mapping: None,
            delimiter: None,
            date_format: None,
            decimal_separator: DecimalSeparator::Dot,
            default_country: None,
            default_currency: None,
            duplicate_policy: DuplicatePolicy::Skip,
            match_by: None,
            dry_run: false,
            create_missing_customers: true,
            latin1: false,
        }
    }

    /// The field existing customers are matched by for a customers file: `match_by`, default
    /// `email`.
    pub fn customer_match_by(&self) -> MatchBy {
        self.match_by.unwrap_or(MatchBy::Email)
    }

    /// Checks the options on their own (the headers are checked by [`resolve_mapping`]).
    ///
    /// # Errors
    /// Every problem, as a [`FieldError`] named `options.<field>`: an unknown mapping target
    /// (`options.mapping.<header>`, `unknown_target`) or one named twice (`duplicate_target`);
    /// a delimiter that is a quote, a line break, a letter or digit, or not ASCII; an invalid
    /// `date_format`; a `default_country` or `default_currency` not in its ISO list; a
    /// `duplicate_policy` other than `skip` for orders.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Some(mapping) = &self.mapping {
            let allowed = targets(self.kind);
            let mut seen = BTreeSet::new();
            for (header, target) in mapping {
                let field = format!("options.mapping.{header}");
                if !allowed.contains(&target.as_str()) {
                    errors.push(FieldError::new(
                        field,
                        "unknown_target",
                        format!(
                            "`{target}` is not a {} field; expected one of {}",
                            self.kind,
                            allowed.join(", ")
                        ),
                    ));
                } else if !seen.insert(target.as_str()) {
                    errors.push(FieldError::new(
                        field,
                        "duplicate_target",
                        format!("another column is already mapped to `{target}`"),
                    ));
                }
            }
        }
        if let Some(d) = self.delimiter
            && !valid_delimiter(d)
        {
            errors.push(FieldError::new(
                "options.delimiter",
                "invalid",
                "a delimiter is one ASCII punctuation character or tab, not a quote",
            ));
        }
        if let Some(f) = &self.date_format
            && (f.trim().is_empty() || StrftimeItems::new(f).any(|i| matches!(i, Item::Error)))
        {
            errors.push(FieldError::new(
                "options.date_format",
                "invalid",
                format!("`{f}` is not a chrono strftime format such as %d/%m/%Y"),
            ));
        }
        if let Some(c) = &self.default_country
            && CountryCode::parse(c).is_none()
        {
            errors.push(FieldError::new(
                "options.default_country",
                "invalid_country",
                format!("`{c}` is not an ISO 3166-1 alpha-2 country code"),
            ));
        }
        if let Some(c) = &self.default_currency
            && CurrencyCode::parse(c).is_none()
        {
            errors.push(FieldError::new(
                "options.default_currency",
                "invalid_currency",
                format!("`{c}` is not an ISO 4217 currency code"),
            ));
        }
        if self.kind == ImportKind::Orders && self.duplicate_policy != DuplicatePolicy::Skip {
            errors.push(FieldError::new(
                "options.duplicate_policy",
                "invalid",
                "orders are matched by order_ref and never changed by an import: use skip",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn valid_delimiter(d: u8) -> bool {
    d == b'\t' || (d.is_ascii_punctuation() && d != b'"')
}

/// Every target field of a customers file: the customer API's field names.
const CUSTOMER_TARGETS: &[&str] = &[
    "name",
    "display_name",
    "email",
    "phone",
    "mobile_phone",
    "customer_type",
    "company",
    "company_legal_name",
    "tax_id",
    "business_license",
    "job_title",
    "website",
    "industry",
    "company_size",
    "annual_revenue",
    "status",
    "stage",
    "source",
    "assigned_to",
    "currency",
    "country",
    "language",
    "timezone",
    "birth_date",
    "gender",
    "credit_limit",
    "payment_terms_days",
    "tags",
    "metadata",
    "notes",
    "internal_notes",
    "is_vip",
    "is_blacklisted",
    "blacklist_reason",
    "referred_by",
    "acquisition_cost",
    "external_ref",
    "last_contact_at",
    "next_follow_up_at",
    "discount_percent",
];

/// Fields of the customer API that an import does not write (a customer export has them). A
/// column named so is ignored when another column names exactly the target its name is an alias
/// of (see [`detect_mapping`]).
const CUSTOMER_READ_ONLY: &[&str] = &[
    "id",
    "customer_number",
    "customer_code",
    "total_orders",
    "total_spent",
    "average_order_value",
    "first_order_at",
    "last_order_at",
    "created_by",
    "updated_by",
    "created_at",
    "updated_at",
    "deleted_at",
    "tier_id",
    "tier_since",
    "loyalty_points",
    "rfm",
    "version",
];

/// Every target field of an orders file.
const ORDER_TARGETS: &[&str] = &[
    "customer_external_ref",
    "customer_email",
    "customer_phone",
    "customer_name",
    "order_ref",
    "placed_at",
    "status",
    "total_amount",
    "currency",
    "quantity",
];

/// The customer columns of an orders file that identify the customer.
const ORDER_CUSTOMER_KEYS: &[&str] = &["customer_external_ref", "customer_email", "customer_phone"];

/// The fields a column of a file of `kind` can be mapped to. Customers: every field of the
/// customer API (`tags` is one cell of tags separated by `,` or `;`; `metadata` a JSON object).
/// Orders: `customer_external_ref`, `customer_email`, `customer_phone`, `customer_name`,
/// `order_ref`, `placed_at`, `status`, `total_amount`, `currency`, `quantity`.
pub fn targets(kind: ImportKind) -> &'static [&'static str] {
    match kind {
        ImportKind::Customers => CUSTOMER_TARGETS,
        ImportKind::Orders => ORDER_TARGETS,
    }
}

/// Header names recognised for each customer target besides the target's own name, English and
/// Indonesian. Compared after [`normalise_header`].
const CUSTOMER_ALIASES: &[(&str, &[&str])] = &[
    (
        "name",
        &[
            "full name",
            "customer name",
            "client name",
            "contact name",
            "nama",
            "nama lengkap",
            "nama pelanggan",
            "nama customer",
            "nama konsumen",
        ],
    ),
    (
        "display_name",
        &["nickname", "nama tampilan", "nama panggilan"],
    ),
    (
        "email",
        &[
            "e-mail",
            "e-mail address",
            "email address",
            "mail",
            "surel",
            "alamat email",
            "alamat surel",
        ],
    ),
    (
        "phone",
        &[
            "telephone",
            "phone number",
            "tel",
            "telp",
            "telepon",
            "telpon",
            "no telp",
            "no. telp",
            "no telepon",
            "nomor telepon",
            "nomor telp",
        ],
    ),
    (
        "mobile_phone",
        &[
            "mobile",
            "mobile number",
            "cell",
            "cell phone",
            "cellphone",
            "hp",
            "no hp",
            "no. hp",
            "nomor hp",
            "handphone",
            "ponsel",
            "whatsapp",
            "wa",
            "no wa",
            "nomor wa",
        ],
    ),
    (
        "customer_type",
        &["type", "tipe", "jenis", "tipe pelanggan", "jenis pelanggan"],
    ),
    (
        "company",
        &[
            "company name",
            "organisation",
            "organization",
            "perusahaan",
            "nama perusahaan",
        ],
    ),
    (
        "company_legal_name",
        &["legal name", "nama badan hukum", "nama resmi perusahaan"],
    ),
    ("tax_id", &["tax number", "vat number", "npwp"]),
    (
        "business_license",
        &["business licence", "nib", "siup", "nomor induk berusaha"],
    ),
    ("job_title", &["title", "position", "jabatan"]),
    ("website", &["web", "url", "situs", "situs web"]),
    (
        "industry",
        &["sector", "industri", "sektor", "bidang usaha"],
    ),
    (
        "company_size",
        &["size", "employees", "ukuran perusahaan", "jumlah karyawan"],
    ),
    (
        "annual_revenue",
        &["revenue", "pendapatan", "pendapatan tahunan", "omzet"],
    ),
    ("status", &["customer status", "status pelanggan"]),
    ("stage", &["lifecycle stage", "tahap"]),
    (
        "source",
        &[
            "acquisition source",
            "lead source",
            "sumber",
            "sumber pelanggan",
        ],
    ),
    ("assigned_to", &["owner", "account owner"]),
    ("currency", &["mata uang"]),
    ("country", &["country code", "negara", "kode negara"]),
    ("language", &["bahasa"]),
    ("timezone", &["time zone", "zona waktu"]),
    (
        "birth_date",
        &[
            "birth date",
            "birthdate",
            "birthday",
            "date of birth",
            "dob",
            "tanggal lahir",
            "tgl lahir",
            "tgl. lahir",
        ],
    ),
    ("gender", &["sex", "jenis kelamin"]),
    ("credit_limit", &["batas kredit", "limit kredit", "plafon"]),
    (
        "payment_terms_days",
        &["payment terms", "termin", "termin pembayaran", "tempo"],
    ),
    ("tags", &["tag", "label", "labels"]),
    (
        "notes",
        &["note", "remarks", "comments", "catatan", "keterangan"],
    ),
    ("internal_notes", &["catatan internal"]),
    ("is_vip", &["vip"]),
    (
        "is_blacklisted",
        &["blacklisted", "blacklist", "daftar hitam"],
    ),
    ("blacklist_reason", &["alasan blacklist"]),
    ("referred_by", &["referrer", "direferensikan oleh"]),
    ("acquisition_cost", &["biaya akuisisi"]),
    (
        "external_ref",
        &[
            "id",
            "customer id",
            "customer_id",
            "external id",
            "external ref",
            "ref",
            "reference",
            "customer code",
            "kode",
            "kode pelanggan",
            "id pelanggan",
        ],
    ),
    (
        "last_contact_at",
        &["last contact", "last contacted", "kontak terakhir"],
    ),
    (
        "next_follow_up_at",
        &["next follow up", "follow up", "tindak lanjut"],
    ),
    (
        "discount_percent",
        &["discount", "discount %", "diskon", "diskon %"],
    ),
];

/// Header names recognised for each order target besides its own name.
const ORDER_ALIASES: &[(&str, &[&str])] = &[
    (
        "customer_external_ref",
        &[
            "customer id",
            "customer_id",
            "customer ref",
            "customer code",
            "id pelanggan",
            "kode pelanggan",
        ],
    ),
    (
        "customer_email",
        &[
            "email",
            "e-mail",
            "email address",
            "e-mail address",
            "surel",
            "email pelanggan",
        ],
    ),
    (
        "customer_phone",
        &[
            "phone",
            "phone number",
            "telephone",
            "mobile",
            "telepon",
            "telp",
            "no telp",
            "no. telp",
            "nomor telepon",
            "hp",
            "no hp",
            "no. hp",
            "handphone",
            "whatsapp",
            "wa",
            "telepon pelanggan",
        ],
    ),
    (
        "customer_name",
        &[
            "name",
            "full name",
            "nama",
            "nama pelanggan",
            "nama lengkap",
        ],
    ),
    (
        "order_ref",
        &[
            "id",
            "order id",
            "order number",
            "order no",
            "invoice",
            "invoice number",
            "invoice no",
            "no invoice",
            "nomor invoice",
            "no. invoice",
            "faktur",
            "no faktur",
            "nomor pesanan",
            "no pesanan",
            "transaction id",
            "id transaksi",
            "no transaksi",
        ],
    ),
    (
        "placed_at",
        &[
            "date",
            "order date",
            "purchase date",
            "transaction date",
            "tanggal",
            "tgl",
            "tanggal order",
            "tanggal pesanan",
            "tanggal transaksi",
            "tanggal pembelian",
        ],
    ),
    ("status", &["order status", "status pesanan"]),
    (
        "total_amount",
        &[
            "amount",
            "total",
            "grand total",
            "order total",
            "dollar_value",
            "value",
            "jumlah",
            "nominal",
            "total harga",
            "total bayar",
            "total belanja",
        ],
    ),
    ("currency", &["mata uang"]),
    (
        "quantity",
        &[
            "qty",
            "number_of_cds",
            "items",
            "jumlah barang",
            "kuantitas",
            "jml",
        ],
    ),
];

/// A header as compared: lower-case letters and digits only (`No. Telp` → `notelp`,
/// `customer_id` → `customerid`).
pub fn normalise_header(header: &str) -> String {
    header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The target a header names for a kind of file, if any.
fn detect_target(kind: ImportKind, header: &str) -> Option<&'static str> {
    let n = normalise_header(header);
    if n.is_empty() {
        return None;
    }
    let aliases = match kind {
        ImportKind::Customers => CUSTOMER_ALIASES,
        ImportKind::Orders => ORDER_ALIASES,
    };
    targets(kind)
        .iter()
        .copied()
        .find(|t| normalise_header(t) == n)
        .or_else(|| {
            aliases
                .iter()
                .find(|(_, names)| names.iter().any(|a| normalise_header(a) == n))
                .map(|(t, _)| *t)
        })
}

/// Detects the target field of each column from its header: case, spaces and punctuation do
/// not matter (`No. HP`, `no_hp` and `NO HP` are the same), and common English and Indonesian
/// names are known (`Full Name`, `Nama Pelanggan` → `name`; `No. Telp` → `phone`; `WhatsApp` →
/// `mobile_phone`; for orders `Invoice` → `order_ref`, `Tanggal` → `placed_at`, `Jumlah` →
/// `total_amount`, `customer_id` → `customer_external_ref`, ...). Columns that name nothing
/// (an address, say) are ignored: `None`, and so are the read-only fields of a customer export
/// (`id`, `customer_code`) when the file also has the column their name is an alias of
/// (`external_ref`), so an export imports as it was written.
///
/// # Errors
/// `options.mapping.<header>` `duplicate_target` when two columns name the same field;
/// `options.mapping` `missing_column` when a customers file has no `name` column, or an orders
/// file no `total_amount` column or no customer column (external ref, email or phone).
pub fn detect_mapping(
    kind: ImportKind,
    headers: &[String],
) -> Result<Vec<Option<String>>, Vec<FieldError>> {
    let mut mapping: Vec<Option<String>> = headers
        .iter()
        .map(|h| detect_target(kind, h).map(str::to_owned))
        .collect();
    if kind == ImportKind::Customers {
        // An exported file has `id`, `customer_code` and `external_ref`: the first two are
        // aliases of `external_ref`, but the column named `external_ref` is the one meant.
        let named = |target: &str| {
            headers
                .iter()
                .any(|h| normalise_header(h) == normalise_header(target))
        };
        for (header, target) in headers.iter().zip(mapping.iter_mut()) {
            let read_only = CUSTOMER_READ_ONLY
                .iter()
                .any(|f| normalise_header(f) == normalise_header(header));
            if read_only && target.as_deref().is_some_and(named) {
                *target = None;
            }
        }
    }
    check_mapping(kind, headers, mapping)
}

/// The mapping an import uses: [`ImportOptions::mapping`] when given (each key is a header of
/// the file, compared exactly, else case- and space-insensitively; other columns are ignored),
/// otherwise [`detect_mapping`]. Also checks that the column [`ImportOptions::match_by`] needs is
/// there.
///
/// # Errors
/// Those of [`detect_mapping`]; `options.mapping.<header>` `unknown_column` for a mapping key
/// that is no header of the file, `unknown_target` for a target that is not in [`targets`];
/// `options.match_by` `missing_column` when customers are matched (policy other than `create`)
/// by a field the file has no column for, or orders by a customer key the file lacks.
pub fn resolve_mapping(
    opts: &ImportOptions,
    headers: &[String],
) -> Result<Vec<Option<String>>, Vec<FieldError>> {
    let mapping = match &opts.mapping {
        None => detect_mapping(opts.kind, headers)?,
        Some(explicit) => {
            let mut errors = Vec::new();
            let mut mapping: Vec<Option<String>> = vec![None; headers.len()];
            for (key, target) in explicit {
                let field = format!("options.mapping.{key}");
                if !targets(opts.kind).contains(&target.as_str()) {
                    errors.push(FieldError::new(
                        field,
                        "unknown_target",
                        format!("`{target}` is not a {} field", opts.kind),
                    ));
                    continue;
                }
                let column = headers.iter().position(|h| h == key).or_else(|| {
                    let k = key.trim().to_lowercase();
                    headers.iter().position(|h| h.trim().to_lowercase() == k)
                });
                match column.and_then(|i| mapping.get_mut(i)) {
                    Some(slot) => *slot = Some(target.clone()),
                    None => errors.push(FieldError::new(
                        field,
                        "unknown_column",
                        format!("the file has no column `{key}`"),
                    )),
                }
            }
            if !errors.is_empty() {
                return Err(errors);
            }
            check_mapping(opts.kind, headers, mapping)?
        }
    };
    let has = |t: &str| mapping.iter().any(|m| m.as_deref() == Some(t));
    let missing_match = match opts.kind {
        ImportKind::Customers if opts.duplicate_policy != DuplicatePolicy::Create => {
            match opts.customer_match_by() {
                MatchBy::ExternalRef => (!has("external_ref")).then_some("external_ref"),
                MatchBy::Email => (!has("email")).then_some("email"),
                MatchBy::Phone => {
                    (!has("phone") && !has("mobile_phone")).then_some("phone or mobile_phone")
                }
            }
        }
        ImportKind::Customers => None,
        ImportKind::Orders => match opts.match_by {
            None => None,
            Some(MatchBy::ExternalRef) => {
                (!has("customer_external_ref")).then_some("customer_external_ref")
            }
            Some(MatchBy::Email) => (!has("customer_email")).then_some("customer_email"),
            Some(MatchBy::Phone) => (!has("customer_phone")).then_some("customer_phone"),
        },
    };
    match missing_match {
        Some(column) => Err(vec![FieldError::new(
            "options.match_by",
            "missing_column",
            format!(
                "existing customers are matched by {column} but the file has no such column; \
                 set match_by (external_ref, email, phone) or map a column to it"
            ),
        )]),
        None => Ok(mapping),
    }
}

/// Duplicate targets and required columns.
fn check_mapping(
    kind: ImportKind,
    headers: &[String],
    mapping: Vec<Option<String>>,
) -> Result<Vec<Option<String>>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut first: BTreeMap<&str, &str> = BTreeMap::new();
    for (target, header) in mapping.iter().zip(headers) {
        let Some(target) = target else { continue };
        if let Some(previous) = first.insert(target, header) {
            first.insert(target, previous);
            errors.push(FieldError::new(
                format!("options.mapping.{header}"),
                "duplicate_target",
                format!(
                    "columns `{previous}` and `{header}` both map to `{target}`; \
                     give an explicit mapping"
                ),
            ));
        }
    }
    let has = |t: &str| first.contains_key(t);
    match kind {
        ImportKind::Customers if !has("name") => errors.push(FieldError::new(
            "options.mapping",
            "missing_column",
            "a customers file needs a name column (name, full name, nama, ...)",
        )),
        ImportKind::Customers => {}
        ImportKind::Orders => {
            if !has("total_amount") {
                errors.push(FieldError::new(
                    "options.mapping",
                    "missing_column",
                    "an orders file needs an amount column (total_amount, amount, total, jumlah, ...)",
                ));
            }
            if !ORDER_CUSTOMER_KEYS.iter().any(|k| has(k)) {
                errors.push(FieldError::new(
                    "options.mapping",
                    "missing_column",
                    "an orders file needs a customer column: customer_external_ref, \
                     customer_email or customer_phone",
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(mapping)
    } else {
        Err(errors)
    }
}

/// One row that could not be imported, as reported to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// Line of the file (1-based; the header is line 1); for a CSV record spanning lines, the
    /// line it starts on.
    pub line: u64,
    /// The field at fault (`email`, `tags[1]`, `total_amount`), when one is.
    pub field: Option<String>,
    /// What is wrong, for people.
    pub reason: String,
}

impl RowError {
    /// A problem with the whole row (an unreadable record, a storage conflict, ...).
    pub fn row(line: u64, reason: impl Into<String>) -> Self {
        Self {
            line,
            field: None,
            reason: reason.into(),
        }
    }

    /// One row error per field error of the row at `line`.
    pub fn from_field_errors(line: u64, errors: Vec<FieldError>) -> Vec<Self> {
        errors
            .into_iter()
            .map(|e| Self {
                line,
                field: Some(e.field),
                reason: e.message,
            })
            .collect()
    }
}

/// A cell as read: trimmed, with the exporter's `'` guard removed.
fn clean(cell: &str) -> &str {
    let t = cell.trim();
    match t.strip_prefix('\'') {
        Some(rest) if rest.starts_with(crate::export::FORMULA_STARTS) => rest.trim(),
        _ => t,
    }
}

/// Parses a number written as text with `separator` as its decimal separator: the other of `.`
/// and `,` may group thousands (in groups of three), as may spaces, `'` and `_`; a sign may lead;
/// currency symbols and codes around the number (`Rp`, `IDR`, `$`, `€`, ...), a trailing `%` and
/// the Indonesian `,-` ("no cents") are ignored. `1.234,56` with `,` is 1234.56; `1,234.56` with
/// `.` is 1234.56; `1.234,56` with `.` is not a number.
pub fn parse_number(raw: &str, separator: DecimalSeparator) -> Option<Decimal> {
    let is_currency = |c: char| c.is_alphabetic() || "$€£¥₹".contains(c);
    let mut s = clean(raw);
    // Leading currency (`Rp.`, `US$`), then the sign.
    let without = s.trim_start_matches(is_currency);
    if without.len() != s.len() {
        s = without.strip_prefix('.').unwrap_or(without).trim_start();
    }
    let (negative, rest) = match s.strip_prefix('-').or_else(|| s.strip_prefix('−')) {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let mut s = rest.trim_start();
    let without = s.trim_start_matches(is_currency);
    if without.len() != s.len() {
        s = without.strip_prefix('.').unwrap_or(without).trim_start();
    }
    // Trailing currency, percent and `,-` / `.-`.
    let s = s.trim_end_matches(is_currency).trim_end();
    let s = s.strip_suffix('%').unwrap_or(s).trim_end();
    let s = s
        .strip_suffix(",-")
        .or_else(|| s.strip_suffix(".-"))
        .unwrap_or(s);
    let s: String = s
        .chars()
        .filter(|c| !(c.is_whitespace() || *c == '\'' || *c == '_'))
        .collect();
    let decimal = separator.as_char();
    let thousands = match separator {
        DecimalSeparator::Dot => ',',
        DecimalSeparator::Comma => '.',
    };
    let (int_part, frac_part) = match s.split_once(decimal) {
        Some((i, f)) => (i, Some(f)),
        None => (s.as_str(), None),
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let int_ok = if int_part.contains(thousands) {
        let mut groups = int_part.split(thousands);
        groups.next().is_some_and(|g| digits(g) && g.len() <= 3)
            && groups.all(|g| digits(g) && g.len() == 3)
    } else {
        int_part.is_empty() || digits(int_part)
    };
    let frac_ok = match frac_part {
        None => !int_part.is_empty(),
        Some("") => !int_part.is_empty(),
        Some(f) => digits(f),
    };
    if !int_ok || !frac_ok {
        return None;
    }
    let mut text = String::with_capacity(s.len() + 2);
    if negative {
        text.push('-');
    }
    text.extend(int_part.chars().filter(|c| *c != thousands));
    if text.is_empty() || text == "-" {
        text.push('0');
    }
    if let Some(f) = frac_part.filter(|f| !f.is_empty()) {
        text.push('.');
        text.push_str(f);
    }
    Decimal::from_str(&text).ok()
}

/// Parses a boolean: `true`/`false`, `yes`/`no`, `y`/`n`, `ya`/`tidak`, `1`/`0`, any case.
pub fn parse_bool(raw: &str) -> Option<bool> {
    match clean(raw).to_lowercase().as_str() {
        "true" | "yes" | "y" | "ya" | "1" => Some(true),
        "false" | "no" | "n" | "tidak" | "0" => Some(false),
        _ => None,
    }
}

/// Datetimes without an offset, tried when no format is given (and always after it).
const ISO_DATETIMES: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

/// Parses a date and time: with `format`, that chrono strftime format (with an offset, without
/// one as UTC, or a date as midnight UTC) or else ISO; without, RFC 3339,
/// `YYYY-MM-DD[ HH:MM[:SS]]` as UTC, or a date ([`parse_date`]) at midnight UTC.
pub fn parse_datetime(raw: &str, format: Option<&str>) -> Option<DateTime<Utc>> {
    let s = clean(raw);
    if let Some(f) = format {
        if let Ok(d) = DateTime::parse_from_str(s, f) {
            return Some(d.with_timezone(&Utc));
        }
        if let Ok(d) = NaiveDateTime::parse_from_str(s, f) {
            return Some(d.and_utc());
        }
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return Some(d.and_time(NaiveTime::MIN).and_utc());
        }
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    if let Some(d) = ISO_DATETIMES
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    {
        return Some(d.and_utc());
    }
    parse_plain_date(s, format.is_none()).map(|d| d.and_time(NaiveTime::MIN).and_utc())
}

/// Parses a date: with `format`, that chrono strftime format (a datetime gives its date) or
/// else ISO; without, `YYYY-MM-DD`, `YYYYMMDD`, `DD/MM/YYYY`, or the date part of an RFC 3339
/// or ISO datetime.
pub fn parse_date(raw: &str, format: Option<&str>) -> Option<NaiveDate> {
    let s = clean(raw);
    if let Some(f) = format {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return Some(d);
        }
        if let Ok(d) = NaiveDateTime::parse_from_str(s, f) {
            return Some(d.date());
        }
        if let Ok(d) = DateTime::parse_from_str(s, f) {
            return Some(d.date_naive());
        }
    }
    if let Some(d) = parse_plain_date(s, format.is_none()) {
        return Some(d);
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.date_naive());
    }
    ISO_DATETIMES
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|d| d.date())
}

/// `YYYY-MM-DD` always; `YYYYMMDD` and `DD/MM/YYYY` when no format is given.
fn parse_plain_date(s: &str, defaults: bool) -> Option<NaiveDate> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d);
    }
    if !defaults {
        return None;
    }
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        return NaiveDate::parse_from_str(s, "%Y%m%d").ok();
    }
    NaiveDate::parse_from_str(s, "%d/%m/%Y").ok()
}

/// A choice value as compared: lower case, runs of anything but letters and digits as `_`.
fn normalise_choice(raw: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in raw.chars() {
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.extend(c.to_lowercase());
        } else {
            gap = true;
        }
    }
    out
}

const CUSTOMER_TYPE_SYNONYMS: &[(&str, &str)] = &[
    ("person", "individual"),
    ("personal", "individual"),
    ("individu", "individual"),
    ("perorangan", "individual"),
    ("pribadi", "individual"),
    ("company", "business"),
    ("corporate", "business"),
    ("bisnis", "business"),
    ("perusahaan", "business"),
    ("nonprofit", "non_profit"),
    ("ngo", "non_profit"),
    ("nirlaba", "non_profit"),
    ("yayasan", "non_profit"),
    ("gov", "government"),
    ("pemerintah", "government"),
    ("pemerintahan", "government"),
];

const CUSTOMER_STATUS_SYNONYMS: &[(&str, &str)] = &[
    ("aktif", "active"),
    ("tidak_aktif", "inactive"),
    ("nonaktif", "inactive"),
    ("non_aktif", "inactive"),
    ("blokir", "blocked"),
    ("diblokir", "blocked"),
    ("arsip", "archived"),
    ("diarsipkan", "archived"),
];

const STAGE_SYNONYMS: &[(&str, &str)] = &[("pelanggan", "customer"), ("prospek", "prospect")];

const SOURCE_SYNONYMS: &[(&str, &str)] = &[
    ("walkin", "walk_in"),
    ("social", "social_media"),
    ("ads", "advertising"),
    ("iklan", "advertising"),
    ("referensi", "referral"),
    ("lainnya", "other"),
];

const GENDER_SYNONYMS: &[(&str, &str)] = &[
    ("m", "male"),
    ("l", "male"),
    ("man", "male"),
    ("pria", "male"),
    ("laki_laki", "male"),
    ("lakilaki", "male"),
    ("f", "female"),
    ("p", "female"),
    ("woman", "female"),
    ("wanita", "female"),
    ("perempuan", "female"),
    ("lainnya", "other"),
];

const ORDER_STATUS_SYNONYMS: &[(&str, &str)] = &[
    ("complete", "completed"),
    ("done", "completed"),
    ("success", "completed"),
    ("selesai", "completed"),
    ("sukses", "completed"),
    ("berhasil", "completed"),
    ("menunggu", "pending"),
    ("tertunda", "pending"),
    ("canceled", "cancelled"),
    ("cancel", "cancelled"),
    ("batal", "cancelled"),
    ("dibatalkan", "cancelled"),
    ("refund", "refunded"),
    ("dikembalikan", "refunded"),
];

/// The cells of one row by target field, and the errors found converting them.
struct Row<'a> {
    values: BTreeMap<&'a str, String>,
    opts: &'a ImportOptions,
    errors: Vec<FieldError>,
}

impl<'a> Row<'a> {
    fn new(mapping: &'a [Option<String>], cells: &[String], opts: &'a ImportOptions) -> Self {
        let mut values = BTreeMap::new();
        for (target, cell) in mapping.iter().zip(cells) {
            if let Some(t) = target {
                let v = clean(cell);
                if !v.is_empty() {
                    values.insert(t.as_str(), v.to_owned());
                }
            }
        }
        Self {
            values,
            opts,
            errors: Vec::new(),
        }
    }

    fn fail(&mut self, field: &str, code: &'static str, message: String) {
        self.errors.push(FieldError::new(field, code, message));
    }

    fn text(&mut self, field: &str) -> Option<String> {
        self.values.remove(field)
    }

    fn parse<T>(
        &mut self,
        field: &str,
        code: &'static str,
        what: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let v = self.text(field)?;
        let parsed = parse(&v);
        if parsed.is_none() {
            self.fail(field, code, format!("`{v}` is not {what}"));
        }
        parsed
    }

    fn decimal(&mut self, field: &str) -> Option<Decimal> {
        let sep = self.opts.decimal_separator;
        let what = format!("a number (decimal separator `{sep}`)");
        self.parse(field, "invalid_number", &what, |v| parse_number(v, sep))
    }

    fn integer(&mut self, field: &str) -> Option<i32> {
        let sep = self.opts.decimal_separator;
        self.parse(field, "invalid_integer", "a whole number", |v| {
            parse_number(v, sep)
                .filter(|d| d.fract().is_zero())
                .and_then(|d| d.to_i32())
        })
    }

    fn boolean(&mut self, field: &str) -> Option<bool> {
        self.parse(
            field,
            "invalid_boolean",
            "a yes/no value (true, false, yes, no, ya, tidak, 1, 0)",
            parse_bool,
        )
    }

    fn date(&mut self, field: &str) -> Option<NaiveDate> {
        let format = self.opts.date_format.clone();
        let what = date_what(format.as_deref());
        self.parse(field, "invalid_date", &what, |v| {
            parse_date(v, format.as_deref())
        })
    }

    fn datetime(&mut self, field: &str) -> Option<DateTime<Utc>> {
        let format = self.opts.date_format.clone();
        let what = date_what(format.as_deref());
        self.parse(field, "invalid_date", &what, |v| {
            parse_datetime(v, format.as_deref())
        })
    }

    fn choice<T>(&mut self, field: &str, synonyms: &[(&str, &str)]) -> Option<T>
    where
        T: FromStr,
        T::Err: Display,
    {
        let v = self.text(field)?;
        let n = normalise_choice(&v);
        let n = synonyms
            .iter()
            .find(|(from, _)| *from == n)
            .map_or(n.as_str(), |(_, to)| *to);
        match T::from_str(n) {
            Ok(t) => Some(t),
            Err(e) => {
                self.fail(field, "invalid_value", e.to_string());
                None
            }
        }
    }

    fn tags(&mut self, field: &str) -> Option<Vec<String>> {
        let v = self.text(field)?;
        Some(
            v.split([',', ';'])
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    fn json(&mut self, field: &str) -> Option<serde_json::Value> {
        self.parse(field, "invalid_json", "a JSON object", |v| {
            serde_json::from_str::<serde_json::Value>(v)
                .ok()
                .filter(serde_json::Value::is_object)
        })
    }

    fn uuid(&mut self, field: &str) -> Option<Uuid> {
        self.parse(field, "invalid_uuid", "a customer id (UUID)", |v| {
            Uuid::parse_str(v).ok()
        })
    }
}

fn date_what(format: Option<&str>) -> String {
    match format {
        Some(f) => format!("a date in the format {f}"),
        None => "a date (YYYY-MM-DD, YYYYMMDD, DD/MM/YYYY or RFC 3339)".to_owned(),
    }
}

/// Converts one row of a customers file into a [`CustomerInput`], to be checked with
/// [`CustomerInput::validate`]. `mapping` is the target of each column ([`resolve_mapping`]);
/// `cells` may be shorter or longer than it (missing cells are empty). `currency` and `country`
/// come from the row, else [`ImportOptions::default_currency`] /
/// [`ImportOptions::default_country`].
///
/// # Errors
/// Every cell that cannot be read as its field's type, as a [`FieldError`] naming the field
/// (`invalid_number`, `invalid_integer`, `invalid_date`, `invalid_boolean`, `invalid_value`,
/// `invalid_json`, `invalid_uuid`).
pub fn customer_row(
    mapping: &[Option<String>],
    cells: &[String],
    opts: &ImportOptions,
) -> Result<CustomerInput, Vec<FieldError>> {
    let mut r = Row::new(mapping, cells, opts);
    let input = CustomerInput {
        name: r.text("name"),
        display_name: r.text("display_name"),
        email: r.text("email"),
        phone: r.text("phone"),
        mobile_phone: r.text("mobile_phone"),
        customer_type: r.choice::<CustomerType>("customer_type", CUSTOMER_TYPE_SYNONYMS),
        company: r.text("company"),
        company_legal_name: r.text("company_legal_name"),
        tax_id: r.text("tax_id"),
        business_license: r.text("business_license"),
        job_title: r.text("job_title"),
        website: r.text("website"),
        industry: r.text("industry"),
        company_size: r.text("company_size"),
        annual_revenue: r.decimal("annual_revenue"),
        status: r.choice::<CustomerStatus>("status", CUSTOMER_STATUS_SYNONYMS),
        stage: r.choice::<LifecycleStage>("stage", STAGE_SYNONYMS),
        source: r.choice::<AcquisitionSource>("source", SOURCE_SYNONYMS),
        assigned_to: r.text("assigned_to"),
        currency: r.text("currency").or_else(|| opts.default_currency.clone()),
        country: r.text("country").or_else(|| opts.default_country.clone()),
        language: r.text("language"),
        timezone: r.text("timezone"),
        birth_date: r.date("birth_date"),
        gender: r.choice::<Gender>("gender", GENDER_SYNONYMS),
        credit_limit: r.decimal("credit_limit"),
        payment_terms_days: r.integer("payment_terms_days"),
        tags: r.tags("tags"),
        metadata: r.json("metadata"),
        notes: r.text("notes"),
        internal_notes: r.text("internal_notes"),
        is_vip: r.boolean("is_vip"),
        is_blacklisted: r.boolean("is_blacklisted"),
        blacklist_reason: r.text("blacklist_reason"),
        referred_by: r.uuid("referred_by"),
        acquisition_cost: r.decimal("acquisition_cost"),
        external_ref: r.text("external_ref"),
        last_contact_at: r.datetime("last_contact_at"),
        next_follow_up_at: r.datetime("next_follow_up_at"),
        discount_percent: r.decimal("discount_percent"),
    };
    if r.errors.is_empty() {
        Ok(input)
    } else {
        Err(r.errors)
    }
}

/// The values an order row gives to find its customer. Email is lower-cased; the phone is as
/// written (the caller normalises it to E.164 with the tenant's country before comparing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerKey {
    /// `customer_external_ref`: the customer's `external_ref`.
    pub external_ref: Option<String>,
    /// `customer_email`.
    pub email: Option<String>,
    /// `customer_phone`: compared with both `phone` and `mobile_phone`.
    pub phone: Option<String>,
}

impl CustomerKey {
    /// Whether the row names no customer at all.
    pub fn is_empty(&self) -> bool {
        self.external_ref.is_none() && self.email.is_none() && self.phone.is_none()
    }

    /// The field and value to look the customer up by: `match_by`'s value when given (`None`
    /// if the row lacks it), else the first present of external ref, email and phone.
    pub fn lookup(&self, match_by: Option<MatchBy>) -> Option<(MatchBy, &str)> {
        let get = |m: MatchBy| {
            match m {
                MatchBy::ExternalRef => self.external_ref.as_deref(),
                MatchBy::Email => self.email.as_deref(),
                MatchBy::Phone => self.phone.as_deref(),
            }
            .map(|v| (m, v))
        };
        match match_by {
            Some(m) => get(m),
            None => MatchBy::ALL.iter().find_map(|m| get(*m)),
        }
    }
}

/// One row of an orders file.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRow {
    /// How to find the customer. Never empty.
    pub customer: CustomerKey,
    /// `customer_name`, used when the customer is created.
    pub customer_name: Option<String>,
    /// The order: `order_ref` always set (given or [`derived_order_ref`]), `status` default
    /// `completed`, `placed_at` as read (dates at midnight UTC; `None` = now), `currency` from
    /// the row or [`ImportOptions::default_currency`] (`None` = the customer's), `total_amount`
    /// always set.
    pub order: OrderInput,
    /// `quantity`: how many items the order had, when the file says (informative; the order
    /// has no lines).
    pub quantity: Option<Decimal>,
}

impl OrderRow {
    /// The customer to create when none matches (`create_missing_customers`): the row's name
    /// (else the key's value), external ref, email and phone, and the options' default country
    /// and currency. [`CustomerInput::validate`] still applies: a customer needs an email or a
    /// phone, so a row that names its customer by external ref only cannot create one.
    pub fn new_customer(&self, opts: &ImportOptions) -> CustomerInput {
        let name = self
            .customer_name
            .clone()
            .or_else(|| self.customer.lookup(None).map(|(_, v)| v.to_owned()));
        CustomerInput {
            name,
            email: self.customer.email.clone(),
            phone: self.customer.phone.clone(),
            external_ref: self.customer.external_ref.clone(),
            currency: self
                .order
                .currency
                .clone()
                .or_else(|| opts.default_currency.clone()),
            country: opts.default_country.clone(),
            ..CustomerInput::default()
        }
    }
}

/// The `order_ref` of an order row that has none: `imp-<first 12 hex digits of the file's
/// SHA-256>-<line>`. It depends only on the file's content and the row's line, so importing
/// the same file again finds every order already there (order refs are unique per tenant) and
/// changes nothing. A file that was edited (even one byte) gets new refs: its rows are new
/// orders.
pub fn derived_order_ref(file_fingerprint: &str, line: u64) -> String {
    let prefix: String = file_fingerprint
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .flat_map(|c| c.to_lowercase())
        .collect();
    format!("imp-{prefix}-{line}")
}

/// Converts one row of an orders file at `line` of the file whose SHA-256 (hex) is
/// `file_fingerprint`. `mapping` and `cells` as for [`customer_row`].
///
/// # Errors
/// Unreadable cells as for [`customer_row`]; `total_amount` `required` when the amount cell is
/// empty; the first mapped customer column (`customer_external_ref`, `customer_email`,
/// `customer_phone`) `required` when the row names no customer.
pub fn order_row(
    mapping: &[Option<String>],
    cells: &[String],
    opts: &ImportOptions,
    file_fingerprint: &str,
    line: u64,
) -> Result<OrderRow, Vec<FieldError>> {
    let mut r = Row::new(mapping, cells, opts);
    let customer = CustomerKey {
        external_ref: r.text("customer_external_ref"),
        email: r.text("customer_email").map(|e| e.to_lowercase()),
        phone: r.text("customer_phone"),
    };
    if customer.is_empty() {
        let field = ORDER_CUSTOMER_KEYS
            .iter()
            .find(|k| mapping.iter().any(|m| m.as_deref() == Some(**k)))
            .copied()
            .unwrap_or("customer_external_ref");
        r.fail(
            field,
            "required",
            "the row names no customer (customer external ref, email or phone)".to_owned(),
        );
    }
    let customer_name = r.text("customer_name");
    let order_ref = r
        .text("order_ref")
        .unwrap_or_else(|| derived_order_ref(file_fingerprint, line));
    let placed_at = r.datetime("placed_at");
    let status = r
        .choice::<OrderStatus>("status", ORDER_STATUS_SYNONYMS)
        .or(Some(OrderStatus::Completed));
    let amount_given = r.values.contains_key("total_amount");
    let total_amount = r.decimal("total_amount");
    if !amount_given {
        r.fail(
            "total_amount",
            "required",
            "the order amount is empty".to_owned(),
        );
    }
    let currency = r
        .text("currency")
        .map(|c| c.to_uppercase())
        .or_else(|| opts.default_currency.clone());
    let quantity = r.decimal("quantity");
    if !r.errors.is_empty() {
        return Err(r.errors);
    }
    Ok(OrderRow {
        customer,
        customer_name,
        order: OrderInput {
            order_ref: Some(order_ref),
            placed_at,
            status,
            currency,
            total_amount,
            ..OrderInput::default()
        },
        quantity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::ValidationContext;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn targets_of(m: &[Option<String>]) -> Vec<Option<&str>> {
        m.iter().map(Option::as_deref).collect()
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn customers() -> ImportOptions {
        ImportOptions::new(ImportKind::Customers)
    }

    fn orders() -> ImportOptions {
        ImportOptions::new(ImportKind::Orders)
    }

    fn codes(errors: Vec<FieldError>) -> Vec<(String, &'static str)> {
        errors.into_iter().map(|e| (e.field, e.code)).collect()
    }

    #[test]
    fn english_customer_headers_are_detected() {
        let headers = strings(&[
            "Full Name",
            "E-mail Address",
            "Phone Number",
            "Mobile",
            "Company Name",
            "Customer ID",
            "Tags",
            "Type",
            "Notes",
            "Date of Birth",
            "Address",
            "City",
        ]);
        let m = detect_mapping(ImportKind::Customers, &headers).unwrap();
        assert_eq!(
            targets_of(&m),
            vec![
                Some("name"),
                Some("email"),
                Some("phone"),
                Some("mobile_phone"),
                Some("company"),
                Some("external_ref"),
                Some("tags"),
                Some("customer_type"),
                Some("notes"),
                Some("birth_date"),
                None,
                None
            ]
        );
    }

    #[test]
    fn a_customer_export_is_detected_with_its_external_ref() {
        let headers = strings(&[
            "id",
            "customer_number",
            "customer_code",
            "name",
            "email",
            "mobile_phone",
            "tags",
            "total_spent",
            "created_at",
            "external_ref",
        ]);
        let m = detect_mapping(ImportKind::Customers, &headers).unwrap();
        assert_eq!(
            targets_of(&m),
            vec![
                None,
                None,
                None,
                Some("name"),
                Some("email"),
                Some("mobile_phone"),
                Some("tags"),
                None,
                None,
                Some("external_ref"),
            ]
        );
        // Without an external_ref column, a code or an id is the file's external ref.
        let m =
            detect_mapping(ImportKind::Customers, &strings(&["customer_code", "name"])).unwrap();
        assert_eq!(targets_of(&m), vec![Some("external_ref"), Some("name")]);
    }

    #[test]
    fn indonesian_customer_headers_are_detected() {
        let headers = strings(&[
            "Nama Pelanggan",
            "Surel",
            "No. Telp",
            "No HP",
            "Nama Perusahaan",
            "Kode Pelanggan",
            "Label",
            "Jenis",
            "Catatan",
            "Tanggal Lahir",
            "Alamat",
            "Jenis Kelamin",
        ]);
        let m = detect_mapping(ImportKind::Customers, &headers).unwrap();
        assert_eq!(
            targets_of(&m),
            vec![
                Some("name"),
                Some("email"),
                Some("phone"),
                Some("mobile_phone"),
                Some("company"),
                Some("external_ref"),
                Some("tags"),
                Some("customer_type"),
                Some("notes"),
                Some("birth_date"),
                None,
                Some("gender")
            ]
        );
        for (h, t) in [
            ("nama", "name"),
            ("NAMA LENGKAP", "name"),
            ("telepon", "phone"),
            ("nomor telepon", "phone"),
            ("WhatsApp", "mobile_phone"),
            ("wa", "mobile_phone"),
            ("handphone", "mobile_phone"),
            ("perusahaan", "company"),
            ("tipe", "customer_type"),
            ("e-mail", "email"),
            ("customer_id", "external_ref"),
            ("mobile_phone", "mobile_phone"),
            ("DOB", "birth_date"),
        ] {
            assert_eq!(
                detect_target(ImportKind::Customers, h),
                Some(t),
                "header {h}"
            );
        }
    }

    #[test]
    fn order_headers_are_detected_in_both_languages() {
        let cdnow = strings(&["customer_id", "date", "number_of_cds", "dollar_value"]);
        let m = detect_mapping(ImportKind::Orders, &cdnow).unwrap();
        assert_eq!(
            targets_of(&m),
            vec![
                Some("customer_external_ref"),
                Some("placed_at"),
                Some("quantity"),
                Some("total_amount")
            ]
        );
        let id = strings(&[
            "No Invoice",
            "Tanggal",
            "Nama",
            "Telepon",
            "Email",
            "Jumlah",
            "Jumlah Barang",
            "Mata Uang",
            "Status",
        ]);
        let m = detect_mapping(ImportKind::Orders, &id).unwrap();
        assert_eq!(
            targets_of(&m),
            vec![
                Some("order_ref"),
                Some("placed_at"),
                Some("customer_name"),
                Some("customer_phone"),
                Some("customer_email"),
                Some("total_amount"),
                Some("quantity"),
                Some("currency"),
                Some("status")
            ]
        );
    }

    #[test]
    fn an_explicit_mapping_overrides_detection() {
        let headers = strings(&["Nama", "Kolom A", "Email", "Telepon"]);
        let mut opts = customers();
        opts.mapping = Some(BTreeMap::from([
            ("Kolom A".to_owned(), "name".to_owned()),
            ("email".to_owned(), "email".to_owned()),
        ]));
        opts.validate().unwrap();
        let m = resolve_mapping(&opts, &headers).unwrap();
        assert_eq!(
            targets_of(&m),
            vec![None, Some("name"), Some("email"), None]
        );

        opts.mapping = Some(BTreeMap::from([
            ("Kolom A".to_owned(), "name".to_owned()),
            ("Kolom B".to_owned(), "email".to_owned()),
        ]));
        assert_eq!(
            codes(resolve_mapping(&opts, &headers).unwrap_err()),
            vec![("options.mapping.Kolom B".to_owned(), "unknown_column")]
        );
    }

    #[test]
    fn unknown_and_repeated_mapping_targets_are_option_errors() {
        let mut opts = customers();
        opts.mapping = Some(BTreeMap::from([
            ("A".to_owned(), "name".to_owned()),
            ("B".to_owned(), "shoe_size".to_owned()),
            ("C".to_owned(), "name".to_owned()),
        ]));
        assert_eq!(
            codes(opts.validate().unwrap_err()),
            vec![
                ("options.mapping.B".to_owned(), "unknown_target"),
                ("options.mapping.C".to_owned(), "duplicate_target")
            ]
        );
        let mut opts = orders();
        opts.mapping = Some(BTreeMap::from([("A".to_owned(), "email".to_owned())]));
        assert_eq!(
            codes(opts.validate().unwrap_err()),
            vec![("options.mapping.A".to_owned(), "unknown_target")]
        );
    }

    #[test]
    fn two_columns_detected_as_one_field_are_an_error() {
        let headers = strings(&["Name", "Email", "E-mail"]);
        assert_eq!(
            codes(detect_mapping(ImportKind::Customers, &headers).unwrap_err()),
            vec![("options.mapping.E-mail".to_owned(), "duplicate_target")]
        );
    }

    #[test]
    fn required_columns_are_checked() {
        let no_name = strings(&["Email", "Phone"]);
        assert_eq!(
            codes(detect_mapping(ImportKind::Customers, &no_name).unwrap_err()),
            vec![("options.mapping".to_owned(), "missing_column")]
        );
        let no_amount = strings(&["customer_id", "date"]);
        assert_eq!(
            codes(detect_mapping(ImportKind::Orders, &no_amount).unwrap_err()),
            vec![("options.mapping".to_owned(), "missing_column")]
        );
        let no_customer = strings(&["Nama", "Total"]);
        assert_eq!(
            codes(detect_mapping(ImportKind::Orders, &no_customer).unwrap_err()),
            vec![("options.mapping".to_owned(), "missing_column")]
        );
    }

    #[test]
    fn the_match_by_column_must_be_mapped() {
        let headers = strings(&["Nama", "No HP"]);
        assert_eq!(
            codes(resolve_mapping(&customers(), &headers).unwrap_err()),
            vec![("options.match_by".to_owned(), "missing_column")]
        );
        let mut by_phone = customers();
        by_phone.match_by = Some(MatchBy::Phone);
        assert!(resolve_mapping(&by_phone, &headers).is_ok());
        let mut create = customers();
        create.duplicate_policy = DuplicatePolicy::Create;
        assert!(resolve_mapping(&create, &headers).is_ok());
    }

    #[test]
    fn options_deserialise_with_defaults_and_refuse_unknown_fields() {
        let o: ImportOptions = serde_json::from_str(r#"{"kind":"orders"}"#).unwrap();
        assert_eq!(o, orders());
        assert!(o.create_missing_customers);
        let o: ImportOptions = serde_json::from_str(
            r#"{"kind":"customers","delimiter":";","decimal_separator":",",
                "date_format":"%d/%m/%Y","default_country":"ID","default_currency":"IDR",
                "duplicate_policy":"update","match_by":"external_ref","dry_run":true,
                "latin1":true,"mapping":{"Nama":"name"}}"#,
        )
        .unwrap();
        assert_eq!(o.delimiter, Some(b';'));
        assert_eq!(o.decimal_separator, DecimalSeparator::Comma);
        assert_eq!(o.duplicate_policy, DuplicatePolicy::Update);
        assert_eq!(o.match_by, Some(MatchBy::ExternalRef));
        o.validate().unwrap();
        let tab: ImportOptions =
            serde_json::from_str(r#"{"kind":"customers","delimiter":"tab"}"#).unwrap();
        assert_eq!(tab.delimiter, Some(b'\t'));
        assert!(serde_json::from_str::<ImportOptions>(r#"{"kind":"customers","x":1}"#).is_err());
        assert!(
            serde_json::from_str::<ImportOptions>(r#"{"kind":"customers","delimiter":";;"}"#)
                .is_err()
        );
    }

    #[test]
    fn invalid_options_name_their_field() {
        let mut o = orders();
        o.delimiter = Some(b'"');
        o.date_format = Some("%Q".into());
        o.default_country = Some("XX".into());
        o.default_currency = Some("ABC".into());
        o.duplicate_policy = DuplicatePolicy::Update;
        let fields: Vec<String> = o
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            vec![
                "options.delimiter",
                "options.date_format",
                "options.default_country",
                "options.default_currency",
                "options.duplicate_policy"
            ]
        );
    }

    #[test]
    fn numbers_honour_the_decimal_separator() {
        use DecimalSeparator::*;
        assert_eq!(parse_number("1.234,56", Comma), Some(d("1234.56")));
        assert_eq!(parse_number("1,234.56", Dot), Some(d("1234.56")));
        assert_eq!(parse_number("Rp 1.500.000,-", Comma), Some(d("1500000")));
        assert_eq!(parse_number("Rp. 1.500.000", Comma), Some(d("1500000")));
        assert_eq!(parse_number("$1,234.50", Dot), Some(d("1234.50")));
        assert_eq!(parse_number("-12,5", Comma), Some(d("-12.5")));
        assert_eq!(parse_number("12.5%", Dot), Some(d("12.5")));
        assert_eq!(parse_number("1 234 567", Dot), Some(d("1234567")));
        assert_eq!(parse_number("150000 IDR", Dot), Some(d("150000")));
        assert_eq!(parse_number(".5", Dot), Some(d("0.5")));
        assert_eq!(parse_number("1234.56", Dot), Some(d("1234.56")));
        assert_eq!(parse_number("1,234", Comma), Some(d("1.234")));
        assert_eq!(parse_number("1.234,56", Dot), None);
        assert_eq!(parse_number("12,34,5", Dot), None);
        assert_eq!(parse_number("abc", Dot), None);
        assert_eq!(parse_number("1.2.3", Dot), None);
        assert_eq!(parse_number("", Dot), None);
    }

    #[test]
    fn dates_follow_the_format_or_the_accepted_defaults() {
        let day = NaiveDate::from_ymd_opt(1997, 3, 25).unwrap();
        for s in [
            "1997-03-25",
            "19970325",
            "25/03/1997",
            "1997-03-25T10:00:00+07:00",
        ] {
            assert_eq!(parse_date(s, None), Some(day), "{s}");
        }
        assert_eq!(parse_date("03/25/1997", None), None);
        assert_eq!(parse_date("03/25/1997", Some("%m/%d/%Y")), Some(day));
        assert_eq!(parse_date("1997-03-25", Some("%m/%d/%Y")), Some(day));
        assert_eq!(parse_date("19970325", Some("%m/%d/%Y")), None);
        let midnight = day.and_time(NaiveTime::MIN).and_utc();
        assert_eq!(parse_datetime("19970325", None), Some(midnight));
        assert_eq!(parse_datetime("25/03/1997", None), Some(midnight));
        assert_eq!(
            parse_datetime("1997-03-25T10:30:00+07:00", None),
            Some(midnight + chrono::Duration::minutes(210))
        );
        assert_eq!(
            parse_datetime("1997-03-25 03:30", None),
            Some(midnight + chrono::Duration::minutes(210))
        );
        assert_eq!(
            parse_datetime("25.03.1997 03:30", Some("%d.%m.%Y %H:%M")),
            Some(midnight + chrono::Duration::minutes(210))
        );
        assert_eq!(
            parse_datetime("25.03.1997", Some("%d.%m.%Y")),
            Some(midnight)
        );
        assert_eq!(parse_datetime("yesterday", None), None);
    }

    #[test]
    fn booleans_in_english_and_indonesian() {
        for t in ["true", "TRUE", "yes", "Y", "ya", "1"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["false", "no", "N", "tidak", "Tidak", "0"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("maybe"), None);
    }

    fn mapping(targets: &[&str]) -> Vec<Option<String>> {
        targets
            .iter()
            .map(|t| (!t.is_empty()).then(|| (*t).to_owned()))
            .collect()
    }

    #[test]
    fn a_customer_row_converts_every_kind_of_cell() {
        let m = mapping(&[
            "name",
            "email",
            "tags",
            "is_vip",
            "credit_limit",
            "birth_date",
            "customer_type",
            "gender",
            "payment_terms_days",
            "",
            "phone",
            "source",
        ]);
        let cells = strings(&[
            "  Budi Santoso ",
            "Budi@Example.co.id",
            "vip; jakarta,  grosir ,",
            "ya",
            "1.500.000,50",
            "25/03/1990",
            "Perorangan",
            "Laki-laki",
            "30",
            "Jl. Sudirman 1",
            "'+62 812 3456 7890",
            "Walk-In",
        ]);
        let mut opts = customers();
        opts.decimal_separator = DecimalSeparator::Comma;
        opts.default_currency = Some("IDR".into());
        opts.default_country = Some("ID".into());
        let input = customer_row(&m, &cells, &opts).unwrap();
        assert_eq!(input.name.as_deref(), Some("Budi Santoso"));
        assert_eq!(
            input.tags,
            Some(vec!["vip".to_owned(), "jakarta".into(), "grosir".into()])
        );
        assert_eq!(input.is_vip, Some(true));
        assert_eq!(input.credit_limit, Some(d("1500000.50")));
        assert_eq!(input.birth_date, NaiveDate::from_ymd_opt(1990, 3, 25));
        assert_eq!(input.customer_type, Some(CustomerType::Individual));
        assert_eq!(input.gender, Some(Gender::Male));
        assert_eq!(input.payment_terms_days, Some(30));
        assert_eq!(input.phone.as_deref(), Some("+62 812 3456 7890"));
        assert_eq!(input.source, Some(AcquisitionSource::WalkIn));
        assert_eq!(input.currency.as_deref(), Some("IDR"));
        assert_eq!(input.country.as_deref(), Some("ID"));
        let ctx = ValidationContext {
            default_country: CountryCode::parse("ID"),
            default_currency: CurrencyCode::parse("IDR").unwrap(),
            today: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        };
        let profile = input.validate(&ctx).unwrap();
        assert_eq!(profile.email.unwrap().as_str(), "budi@example.co.id");
        assert_eq!(profile.phone.unwrap().as_str(), "+6281234567890");
    }

    #[test]
    fn empty_and_missing_cells_are_absent() {
        let m = mapping(&["name", "email", "is_vip", "credit_limit"]);
        let input = customer_row(&m, &strings(&["Siti", "  "]), &customers()).unwrap();
        assert_eq!(input.name.as_deref(), Some("Siti"));
        assert_eq!(
            (input.email, input.is_vip, input.credit_limit),
            (None, None, None)
        );
        assert_eq!(input.currency, None);
    }

    #[test]
    fn unreadable_cells_name_their_field() {
        let m = mapping(&[
            "name",
            "credit_limit",
            "birth_date",
            "is_vip",
            "customer_type",
            "metadata",
            "referred_by",
            "payment_terms_days",
        ]);
        let cells = strings(&[
            "Siti",
            "lots",
            "31/02/1990",
            "maybe",
            "alien",
            "[1]",
            "nope",
            "7.5",
        ]);
        assert_eq!(
            codes(customer_row(&m, &cells, &customers()).unwrap_err()),
            vec![
                ("customer_type".to_owned(), "invalid_value"),
                ("birth_date".to_owned(), "invalid_date"),
                ("credit_limit".to_owned(), "invalid_number"),
                ("payment_terms_days".to_owned(), "invalid_integer"),
                ("metadata".to_owned(), "invalid_json"),
                ("is_vip".to_owned(), "invalid_boolean"),
                ("referred_by".to_owned(), "invalid_uuid"),
            ]
        );
    }

    #[test]
    fn an_order_row_without_ref_gets_a_stable_derived_one() {
        let m = mapping(&[
            "customer_external_ref",
            "placed_at",
            "quantity",
            "total_amount",
        ]);
        let cells = strings(&["00001", "19970101", "1", "11.77"]);
        let fp = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
        let opts = orders();
        let row = order_row(&m, &cells, &opts, fp, 2).unwrap();
        assert_eq!(row.order.order_ref.as_deref(), Some("imp-9f86d081884c-2"));
        assert_eq!(row, order_row(&m, &cells, &opts, fp, 2).unwrap());
        assert_ne!(
            order_row(&m, &cells, &opts, fp, 3).unwrap().order.order_ref,
            row.order.order_ref
        );
        assert_eq!(derived_order_ref(fp, 2), "imp-9f86d081884c-2");
        assert_eq!(row.customer.external_ref.as_deref(), Some("00001"));
        assert_eq!(
            row.order.placed_at,
            Some(
                NaiveDate::from_ymd_opt(1997, 1, 1)
                    .unwrap()
                    .and_time(NaiveTime::MIN)
                    .and_utc()
            )
        );
        assert_eq!(row.order.status, Some(OrderStatus::Completed));
        assert_eq!(row.order.total_amount, Some(d("11.77")));
        assert_eq!(row.quantity, Some(d("1")));
        assert_eq!(
            row.customer.lookup(None),
            Some((MatchBy::ExternalRef, "00001"))
        );
    }

    #[test]
    fn an_order_row_keeps_its_ref_and_defaults_the_currency() {
        let m = mapping(&[
            "order_ref",
            "customer_email",
            "customer_name",
            "total_amount",
            "status",
            "currency",
        ]);
        let mut opts = orders();
        opts.decimal_separator = DecimalSeparator::Comma;
        opts.default_currency = Some("IDR".into());
        let row = order_row(
            &m,
            &strings(&["INV-1", "Ani@Mail.com", "Ani", "Rp 150.000", "Selesai", ""]),
            &opts,
            "ab",
            9,
        )
        .unwrap();
        assert_eq!(row.order.order_ref.as_deref(), Some("INV-1"));
        assert_eq!(row.customer.email.as_deref(), Some("ani@mail.com"));
        assert_eq!(row.order.total_amount, Some(d("150000")));
        assert_eq!(row.order.status, Some(OrderStatus::Completed));
        assert_eq!(row.order.currency.as_deref(), Some("IDR"));
        assert_eq!(row.customer.lookup(Some(MatchBy::Phone)), None);
        let new = row.new_customer(&opts);
        assert_eq!(new.name.as_deref(), Some("Ani"));
        assert_eq!(new.email.as_deref(), Some("ani@mail.com"));
        let valid = row
            .order
            .validate(CurrencyCode::parse("IDR").unwrap(), Utc::now())
            .unwrap();
        assert_eq!(valid.order_ref.as_deref(), Some("INV-1"));
    }

    #[test]
    fn an_order_row_needs_a_customer_and_an_amount() {
        let m = mapping(&["customer_email", "customer_phone", "total_amount", "status"]);
        assert_eq!(
            codes(order_row(&m, &strings(&["", "", "", "lost"]), &orders(), "ab", 5).unwrap_err()),
            vec![
                ("customer_email".to_owned(), "required"),
                ("status".to_owned(), "invalid_value"),
                ("total_amount".to_owned(), "required"),
            ]
        );
    }

    #[test]
    fn row_errors_carry_the_line() {
        let errors = RowError::from_field_errors(
            7,
            vec![FieldError::new("email", "invalid_email", "bad email")],
        );
        assert_eq!(
            serde_json::to_value(&errors).unwrap(),
            serde_json::json!([{"line": 7, "field": "email", "reason": "bad email"}])
        );
        assert_eq!(RowError::row(3, "x").field, None);
    }

    #[test]
    fn targets_cover_the_customer_api() {
        assert_eq!(targets(ImportKind::Customers).len(), 40);
        assert!(targets(ImportKind::Orders).contains(&"customer_external_ref"));
        for (t, _) in CUSTOMER_ALIASES {
            assert!(CUSTOMER_TARGETS.contains(t), "{t}");
        }
        for (t, _) in ORDER_ALIASES {
            assert!(ORDER_TARGETS.contains(t), "{t}");
        }
    }

    #[test]
    fn no_alias_names_two_targets() {
        for kind in ImportKind::ALL {
            let aliases = match kind {
                ImportKind::Customers => CUSTOMER_ALIASES,
                ImportKind::Orders => ORDER_ALIASES,
            };
            let mut seen = BTreeMap::new();
            for t in targets(*kind) {
                seen.insert(normalise_header(t), *t);
            }
            for (t, names) in aliases {
                for a in *names {
                    if let Some(other) = seen.insert(normalise_header(a), *t) {
                        assert_eq!(other, *t, "{kind}: `{a}` names {other} and {t}");
                    }
                }
            }
        }
    }
}
