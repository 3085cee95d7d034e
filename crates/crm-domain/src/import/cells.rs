//! Reading one cell: the exporter's `'` guard, numbers with decimal and thousands separators
//! and currency marks, booleans, dates and date-times, and choice values with their English and
//! Indonesian synonyms.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rust_decimal::Decimal;

use super::options::DecimalSeparator;

/// A cell as read: trimmed, with the exporter's `'` guard removed.
pub(super) fn clean(cell: &str) -> &str {
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
pub(super) const ISO_DATETIMES: &[&str] = &[
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
pub(super) fn parse_plain_date(s: &str, defaults: bool) -> Option<NaiveDate> {
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
pub(super) fn normalise_choice(raw: &str) -> String {
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

pub(super) const CUSTOMER_TYPE_SYNONYMS: &[(&str, &str)] = &[
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

pub(super) const CUSTOMER_STATUS_SYNONYMS: &[(&str, &str)] = &[
    ("aktif", "active"),
    ("tidak_aktif", "inactive"),
    ("nonaktif", "inactive"),
    ("non_aktif", "inactive"),
    ("blokir", "blocked"),
    ("diblokir", "blocked"),
    ("arsip", "archived"),
    ("diarsipkan", "archived"),
];

pub(super) const STAGE_SYNONYMS: &[(&str, &str)] =
    &[("pelanggan", "customer"), ("prospek", "prospect")];

pub(super) const SOURCE_SYNONYMS: &[(&str, &str)] = &[
    ("walkin", "walk_in"),
    ("social", "social_media"),
    ("ads", "advertising"),
    ("iklan", "advertising"),
    ("referensi", "referral"),
    ("lainnya", "other"),
];

pub(super) const GENDER_SYNONYMS: &[(&str, &str)] = &[
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

pub(super) const ORDER_STATUS_SYNONYMS: &[(&str, &str)] = &[
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
