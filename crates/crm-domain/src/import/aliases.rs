//! The columns of an import file: the English and Indonesian header aliases (`No. HP`,
//! `Nama Pelanggan`, `Tanggal Lahir`, ...), header detection and the check of an explicit
//! mapping. The target fields themselves are in `model`.

use std::collections::BTreeMap;

use super::model::{CUSTOMER_READ_ONLY, ImportKind, ORDER_CUSTOMER_KEYS, targets};
use super::options::{DuplicatePolicy, ImportOptions, MatchBy};
use crate::error::FieldError;

/// Header names recognised for each customer target besides the target's own name, English and
/// Indonesian. Compared after [`normalise_header`].
pub(super) const CUSTOMER_ALIASES: &[(&str, &[&str])] = &[
    (
        "name",
        &[
            "full name",
            "customer name",
            "client name",
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

/// Header names recognised for the default billing address's targets
/// ([`ADDRESS_TARGETS`](super::model::ADDRESS_TARGETS)), English and Indonesian, and the
/// address columns of a customer export (`billing_city`, ...), so an export imports back.
/// `country` / `negara` stay the customer's own `country`, which the address takes when the
/// file has no address country column (see [`address_row`](super::address_row)).
pub(super) const ADDRESS_ALIASES: &[(&str, &[&str])] = &[
    (
        "address.line1",
        &[
            "address",
            "address 1",
            "address line 1",
            "street",
            "street address",
            "alamat",
            "alamat 1",
            "alamat lengkap",
            "alamat jalan",
            "jalan",
            "billing address",
            "billing_address_line1",
        ],
    ),
    (
        "address.line2",
        &[
            "address 2",
            "address line 2",
            "alamat 2",
            "billing_address_line2",
        ],
    ),
    (
        "address.district",
        &["district", "kecamatan", "kec", "billing_district"],
    ),
    (
        "address.city",
        &[
            "city",
            "town",
            "kota",
            "kabupaten",
            "kota/kabupaten",
            "kabupaten/kota",
            "billing_city",
        ],
    ),
    (
        "address.region",
        &[
            "province",
            "provinsi",
            "propinsi",
            "state",
            "region",
            "billing_region",
        ],
    ),
    (
        "address.postal_code",
        &[
            "postal code",
            "postcode",
            "post code",
            "zip",
            "zip code",
            "zipcode",
            "kode pos",
            "billing_postal_code",
        ],
    ),
    (
        "address.country",
        &["address country", "negara alamat", "billing_country"],
    ),
];

/// Header names recognised for the primary contact's targets
/// ([`CONTACT_TARGETS`](super::model::CONTACT_TARGETS)), English and Indonesian (a PIC, "person
/// in charge", is who a business customer's contact is called in Indonesia). `HP` (handphone)
/// columns of the contact are its `phone`, the number the customer's `primary_contact` shows.
pub(super) const CONTACT_ALIASES: &[(&str, &[&str])] = &[
    (
        "contact.name",
        &[
            "contact name",
            "contact person",
            "pic",
            "pic name",
            "person in charge",
            "nama kontak",
            "nama pic",
            "narahubung",
        ],
    ),
    (
        "contact.email",
        &[
            "contact email",
            "contact e-mail",
            "email kontak",
            "e-mail kontak",
            "email pic",
            "e-mail pic",
            "pic email",
        ],
    ),
    (
        "contact.phone",
        &[
            "contact phone",
            "contact phone number",
            "telepon kontak",
            "telp kontak",
            "no telp kontak",
            "telepon pic",
            "telp pic",
            "no telp pic",
            "pic phone",
            "no hp pic",
            "hp pic",
            "nomor hp pic",
            "hp kontak",
            "no hp kontak",
        ],
    ),
    (
        "contact.mobile_phone",
        &[
            "contact mobile",
            "contact mobile phone",
            "whatsapp pic",
            "wa pic",
        ],
    ),
    (
        "contact.job_title",
        &[
            "contact job title",
            "contact title",
            "jabatan pic",
            "jabatan kontak",
        ],
    ),
];

/// Header names recognised for each order target besides its own name.
pub(super) const ORDER_ALIASES: &[(&str, &[&str])] = &[
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
pub(super) fn detect_target(kind: ImportKind, header: &str) -> Option<&'static str> {
    let n = normalise_header(header);
    if n.is_empty() {
        return None;
    }
    let aliases: &[&[(&str, &[&str])]] = match kind {
        ImportKind::Customers => &[CUSTOMER_ALIASES, ADDRESS_ALIASES, CONTACT_ALIASES],
        ImportKind::Orders => &[ORDER_ALIASES],
    };
    targets(kind)
        .iter()
        .copied()
        .find(|t| normalise_header(t) == n)
        .or_else(|| {
            aliases
                .iter()
                .flat_map(|list| list.iter())
                .find(|(_, names)| names.iter().any(|a| normalise_header(a) == n))
                .map(|(t, _)| *t)
        })
}

/// Detects the target field of each column from its header: case, spaces and punctuation do
/// not matter (`No. HP`, `no_hp` and `NO HP` are the same), and common English and Indonesian
/// names are known (`Full Name`, `Nama Pelanggan` → `name`; `No. Telp` → `phone`; `WhatsApp` →
/// `mobile_phone`; for orders `Invoice` → `order_ref`, `Tanggal` → `placed_at`, `Jumlah` →
/// `total_amount`, `customer_id` → `customer_external_ref`, ...; the default billing address's
/// `Alamat` → `address.line1`, `Kota` → `address.city`, `Provinsi` → `address.region`,
/// `Kode Pos` → `address.postal_code`, ...; the primary contact's `Nama PIC` →
/// `contact.name`, `Email PIC` → `contact.email`, `HP PIC` → `contact.phone`, ...). Columns that name nothing are ignored: `None`, and so are the read-only fields of a customer export
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
pub(super) fn check_mapping(
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
