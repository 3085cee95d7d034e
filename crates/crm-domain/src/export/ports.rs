//! The export context's ports: spreadsheet writers (CSV, XLSX) the infrastructure implements,
//! and the sink that takes a file's bytes as they are ready.

use std::io::Read;

use async_trait::async_trait;

use super::model::{ExportFormat, SheetError};

/// A spreadsheet being written row by row: the header once, then the rows, then
/// [`finish`](SheetWriter::finish). Every row cell is guarded against formula injection (a cell
/// starting with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`).
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait SheetWriter: Send {
    /// Writes the header row, as given.
    ///
    /// # Errors
    /// The file could not be written.
    #[allow(clippy::needless_lifetimes)] // mockall's mock needs the lifetime named
    fn write_header<'a>(&mut self, headers: &[&'a str]) -> Result<(), SheetError>;

    /// Writes one row of text cells.
    ///
    /// # Errors
    /// The file could not be written; [`SheetError::TooLarge`].
    fn write_row(&mut self, cells: &[String]) -> Result<(), SheetError>;

    /// The bytes that can be sent now and have not been taken yet: for CSV the rows written
    /// since the last call; for XLSX nothing (a workbook is only complete at the end).
    ///
    /// # Errors
    /// The file could not be written.
    fn take_ready(&mut self) -> Result<Vec<u8>, SheetError>;

    /// Completes the file and returns a reader of the bytes not taken yet (for XLSX the whole
    /// workbook, from a temporary file).
    ///
    /// # Errors
    /// The file could not be written.
    fn finish(self: Box<Self>) -> Result<Box<dyn Read + Send>, SheetError>;
}

/// Opens spreadsheet writers (the port the infrastructure implements).
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait SheetWriters: Send + Sync {
    /// A new, empty spreadsheet of `format`.
    ///
    /// # Errors
    /// The temporary file of an XLSX workbook could not be created.
    fn open(&self, format: ExportFormat) -> Result<Box<dyn SheetWriter>, SheetError>;
}

/// Where the bytes of an export go as they are ready, in order (a streamed response body).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ExportSink: Send {
    /// Takes the next bytes of the file.
    ///
    /// # Errors
    /// [`SheetError::Failed`] when nobody takes them any more (the client went away): the
    /// export stops.
    async fn send(&mut self, bytes: Vec<u8>) -> Result<(), SheetError>;
}
