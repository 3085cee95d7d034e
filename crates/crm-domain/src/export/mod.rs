//! Exports: the filtered customer list as a spreadsheet (CSV or XLSX), and everything stored
//! about one customer as one document (a data subject's access request, GDPR art. 15 and
//! Indonesia's personal-data protection law art. 7).
//!
//! The rules live here: exporting needs `customers.manage` (exports take personal data out of
//! the system in bulk), the list is read in keyset pages of [`EXPORT_PAGE_SIZE`] so the set is
//! never held in memory, and a customer's document holds every order (with lines), every points
//! ledger entry and every tier change, walking all pages. Writing the file is a port
//! ([`SheetWriters`]): the infrastructure writes CSV or XLSX and guards each cell against formula
//! injection.
//!
//! - `address_columns`: the optional default billing / shipping address columns
//!   ([`ADDRESS_COLUMNS`]: `billing_address_line1`, `billing_city`, ...) and their cells;
//! - `model`: [`neutralise`] and [`FORMULA_STARTS`], [`ExportFormat`], [`SheetError`];
//! - `ports`: [`SheetWriters`], [`SheetWriter`] and [`ExportSink`];
//! - `service`: [`ExportService`], [`CustomerSheet`] and [`CustomerData`].

mod address_columns;
mod model;
mod ports;
mod service;

pub use address_columns::{ADDRESS_COLUMNS, address_cell, is_address_column};
pub use model::{EXPORT_PAGE_SIZE, ExportFormat, FORMULA_STARTS, SheetError, neutralise};
pub use ports::{ExportSink, SheetWriter, SheetWriters};
#[cfg(any(test, feature = "mock"))]
pub use ports::{MockExportSink, MockSheetWriter, MockSheetWriters};
pub use service::{CustomerData, CustomerRow, CustomerSheet, ExportService};
