//! Tests of the import rules: options, header detection, cells and rows.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveTime, Utc};
use rust_decimal::Decimal;

use super::aliases::*;
use super::cells::*;
use super::model::*;
use super::options::*;
use super::rows::*;
use crate::customer::ValidationContext;
use crate::customer::{AcquisitionSource, CustomerType, Gender};
use crate::error::FieldError;
use crate::order::OrderStatus;
use crate::values::{CountryCode, CurrencyCode};

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
            // The default billing address's columns.
            Some("address.line1"),
            Some("address.city"),
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
    let m = detect_mapping(ImportKind::Customers, &strings(&["customer_code", "name"])).unwrap();
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
            Some("address.line1"),
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
        serde_json::from_str::<ImportOptions>(r#"{"kind":"customers","delimiter":";;"}"#).is_err()
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
    assert_eq!(targets(ImportKind::Customers).len(), 40 + 7 + 5);
    assert!(targets(ImportKind::Orders).contains(&"customer_external_ref"));
    for (t, _) in CUSTOMER_ALIASES {
        assert!(CUSTOMER_TARGETS.contains(t), "{t}");
    }
    for (t, _) in ADDRESS_ALIASES {
        assert!(ADDRESS_TARGETS.contains(t), "{t}");
        assert!(targets(ImportKind::Customers).contains(t), "{t}");
    }
    for (t, _) in CONTACT_ALIASES {
        assert!(CONTACT_TARGETS.contains(t), "{t}");
        assert!(targets(ImportKind::Customers).contains(t), "{t}");
    }
    for (t, _) in ORDER_ALIASES {
        assert!(ORDER_TARGETS.contains(t), "{t}");
    }
}

#[test]
fn no_alias_names_two_targets() {
    for kind in ImportKind::ALL {
        let aliases: Vec<&(&str, &[&str])> = match kind {
            ImportKind::Customers => CUSTOMER_ALIASES.iter().chain(ADDRESS_ALIASES).collect(),
            ImportKind::Orders => ORDER_ALIASES.iter().collect(),
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
