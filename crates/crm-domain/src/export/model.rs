//! The export model: the formula-injection rule ([`neutralise`]), the page size, the formats and
//! what can go wrong writing a sheet.

use crate::customer::MAX_PAGE_SIZE;
use crate::error::DomainError;

/// The characters that make a spreadsheet program read a cell as a formula (or, for tab and
/// carriage return, that can smuggle one past a naive check), per the OWASP CSV Injection
/// guidance.
pub const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A cell made safe to open in a spreadsheet program: one that starts with `=`, `+`, `-`, `@`,
/// tab or carriage return gets a leading `'`, so that Excel, LibreOffice and Google Sheets show
/// it as text instead of evaluating it as a formula (OWASP "CSV Injection": a formula such as
/// `=HYPERLINK(...)` or a DDE call in a customer's name would otherwise run on the exporting
/// user's machine). Other cells are returned as they are.
///
/// The price: values that legitimately start so (`+62 812...` phone numbers, `-5`) show the
/// `'` too. [`crate::import`] removes it again when such a file is imported.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// Customers (and orders, ledger entries) read per page by an export.
pub const EXPORT_PAGE_SIZE: u32 = MAX_PAGE_SIZE;

string_enum!(
    /// The file format of a spreadsheet export.
    ExportFormat {
        /// Comma-separated values, UTF-8, RFC 4180.
        Csv => "csv",
        /// An Office Open XML workbook with one worksheet.
        Xlsx => "xlsx",
    }
);

impl ExportFormat {
    /// The media type of the format.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        }
    }

    /// The file name extension, without the dot.
    pub fn extension(self) -> &'static str {
        self.as_str()
    }
}

/// Why a spreadsheet could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SheetError {
    /// More rows or columns than a worksheet holds (1,048,576 × 16,384).
    #[error("the export has more rows or columns than a worksheet holds")]
    TooLarge,
    /// The file could not be written (temporary file, I/O, a cell too long, ...).
    #[error("cannot write the export: {0}")]
    Failed(String),
}

impl From<SheetError> for DomainError {
    fn from(e: SheetError) -> Self {
        match e {
            SheetError::TooLarge => DomainError::invalid(
                "format",
                "too_large",
                "more customers than a worksheet holds (1,048,575 rows); export as CSV or \
                 narrow the filters",
            ),
            SheetError::Failed(m) => DomainError::Internal(m),
        }
    }
}
