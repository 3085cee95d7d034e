//! Bulk import of customers and orders from spreadsheets (CSV or XLSX): the options of an
//! import, the mapping of the file's columns to API fields, and the conversion of one row of
//! text cells into a [`CustomerInput`](crate::customer::CustomerInput) or an [`OrderRow`].
//!
//! Pure: reading the file (encodings, delimiters, XLSX) is the infrastructure's job
//! (`crm_infra::import_file`), which hands over a header row and rows of text cells with their
//! line numbers. The flow of an import:
//!
//! 1. [`ImportOptions::validate`] the options;
//! 2. [`resolve_mapping`] the header row (an explicit [`ImportOptions::mapping`], or
//!    [`detect_mapping`] from English and Indonesian header names) into one target field per
//!    column;
//! 3. for each row, [`customer_row`] (then
//!    [`CustomerInput::validate`](crate::customer::CustomerInput::validate)) or [`order_row`]
//!    (then the order service), collecting failures as [`RowError`]s with the row's line number.
//!
//! Cell rules, for every target: cells are trimmed, an empty cell is an absent value; a cell
//! written by the exporter's CSV-injection guard (`'` before `=`, `+`, `-`, `@`, tab or carriage
//! return) is read without the `'`; numbers follow [`ImportOptions::decimal_separator`] with
//! thousands separators, currency symbols and codes (`Rp 1.500.000,-`, `$1,234.50`, `12.5%`)
//! removed; dates follow [`ImportOptions::date_format`]; booleans are `true`/`false`, `yes`/`no`,
//! `ya`/`tidak`, `y`/`n`, `1`/`0`; choice fields (`customer_type`, `status`, ...) take their API
//! values case-insensitively with spaces or hyphens for underscores, and a few English and
//! Indonesian synonyms (`perorangan`, `laki-laki`, `selesai`, ...).
//!
//! Where things are:
//! - `model`: [`ImportKind`] and the target fields of each kind ([`targets`]);
//! - `options`: [`ImportOptions`] and its enums ([`DuplicatePolicy`], [`MatchBy`],
//!   [`DecimalSeparator`]);
//! - `aliases`: the English and Indonesian header aliases
//!   (`No. HP`, `Nama Pelanggan`, ...), [`detect_mapping`] and [`resolve_mapping`];
//! - `cells`: cell parsing ([`parse_number`], [`parse_bool`], [`parse_date`],
//!   [`parse_datetime`], choice synonyms);
//! - `rows`: [`customer_row`], [`order_row`], [`RowError`];
//! - `address_rows`: [`address_row`], a row's flat address columns as the customer's default
//!   billing address (an `update` re-import puts them over the stored one, field by field);
//! - `contact_rows`: [`contact_row`], a row's contact columns as the customer's primary
//!   contact (an `update` re-import puts them over the stored one, field by field);
//! - `ports`: [`RowSource`], [`ImportFiles`] (opens a stored file as rows),
//!   [`ImportRepository`];
//! - `service`: [`ImportService`]: [`ImportService::accept`] checks an import (caller, options,
//!   the file's row count), starts its job and hands back the run, which records its progress
//!   as a [`crate::job::ImportOutcome`].

#[cfg(test)]
mod accept_tests;
mod address_rows;
mod aliases;
mod cells;
mod contact_rows;
mod model;
mod options;
mod ports;
mod rows;
mod service;
#[cfg(test)]
mod service_tests;
#[cfg(test)]
mod tests;

/// Counters of an import (kept on its job's [`crate::job::ImportOutcome`]).
pub use crate::job::ImportCounts;
pub use address_rows::address_row;
pub use aliases::{detect_mapping, normalise_header, resolve_mapping};
pub use cells::{parse_bool, parse_date, parse_datetime, parse_number};
pub use contact_rows::contact_row;
pub use model::{ADDRESS_TARGETS, CONTACT_TARGETS, ImportCheckpoint, ImportKind, targets};
pub use options::{DecimalSeparator, DuplicatePolicy, ImportOptions, MatchBy};
pub use ports::{
    BATCH_TEXT_BYTES, FileError, ImportFiles, ImportRepository, RowResult, RowSource,
    row_text_bytes, take_rows,
};
#[cfg(any(test, feature = "mock"))]
pub use ports::{MockImportFiles, MockImportRepository};
pub use rows::{CustomerKey, OrderRow, RowError, customer_row, derived_order_ref, order_row};
pub use service::{
    AcceptImportError, AcceptedImport, IMPORT_BATCH, ImportRequest, ImportService, PREVIEW_ROWS,
    WARNING_ROWS,
};
