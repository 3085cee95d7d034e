//! Writing exports as CSV or XLSX, row by row, with cells guarded against formula injection.
//!
//! Streaming: an [`ExportWriter`] writes to any [`Write`]. CSV goes out as it is written:
//! [`ExportWriter::flush`] pushes the buffered rows into the sink, so an HTTP handler can write
//! into a [`SharedBuffer`] and send [`SharedBuffer::take`] as one chunk of the response body
//! every few hundred rows (or give a sink that forwards each write to the response channel).
//! XLSX is a ZIP archive whose parts are only assembled at the end: rows are written to a
//! temporary file as they come (`rust_xlsxwriter`'s constant-memory mode, so memory does not
//! grow with the rows), and the workbook reaches the sink in [`ExportWriter::finish`].
//!
//! [`SheetFiles`] implements the domain's export port (`crm_domain::export::SheetWriters`) on
//! top of [`ExportWriter`]: CSV into a [`SharedBuffer`] drained after each page, XLSX into an
//! anonymous temporary file that is read back once the workbook is complete.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::{Arc, Mutex, PoisonError};

use crm_domain::export::{SheetError, SheetWriter, SheetWriters};
use rust_xlsxwriter::{Workbook, XlsxError};

pub use crm_domain::export::{ExportFormat, neutralise};

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportFileError {
    /// The sink failed.
    #[error("cannot write the export: {0}")]
    Io(#[from] io::Error),
    /// The workbook could not be built (its temporary file, a cell over Excel's 32,767
    /// characters, ...).
    #[error("cannot write the workbook: {0}")]
    Xlsx(String),
    /// More rows or columns than a worksheet holds (1,048,576 × 16,384).
    #[error("the export has more rows or columns than a worksheet holds")]
    TooLarge,
}

impl From<XlsxError> for ExportFileError {
    fn from(e: XlsxError) -> Self {
        match e {
            XlsxError::RowColumnLimitError => ExportFileError::TooLarge,
            other => ExportFileError::Xlsx(other.to_string()),
        }
    }
}

impl From<csv::Error> for ExportFileError {
    fn from(e: csv::Error) -> Self {
        match e.into_kind() {
            csv::ErrorKind::Io(io) => ExportFileError::Io(io),
            other => ExportFileError::Io(io::Error::other(format!("{other:?}"))),
        }
    }
}

/// A growable byte buffer shared between an [`ExportWriter`] (which writes into a clone) and
/// the code that drains it chunk by chunk with [`SharedBuffer::take`].
#[derive(Debug, Clone, Default)]
pub struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes and returns everything written so far.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// How many bytes are waiting.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes an export row by row into a sink `W` (a file, a `Vec<u8>`, a [`SharedBuffer`], ...):
/// [`write_header`](Self::write_header) once, [`write_row`](Self::write_row) per record (each
/// cell [`neutralise`]d), then [`finish`](Self::finish), which returns the sink. See the module
/// documentation for how each format streams.
pub struct ExportWriter<W: Write + Send> {
    inner: Inner<W>,
}

enum Inner<W: Write + Send> {
    Csv(Box<csv::Writer<W>>),
    Xlsx {
        workbook: Box<Workbook>,
        out: W,
        next_row: u32,
    },
}

impl<W: Write + Send> std::fmt::Debug for ExportWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let format = match self.inner {
            Inner::Csv(_) => ExportFormat::Csv,
            Inner::Xlsx { .. } => ExportFormat::Xlsx,
        };
        f.debug_struct("ExportWriter")
            .field("format", &format)
            .finish_non_exhaustive()
    }
}

impl<W: Write + Send> ExportWriter<W> {
    /// A writer of `format` into `out`: [`ExportWriter::csv`] or [`ExportWriter::xlsx`].
    ///
    /// # Errors
    /// As [`ExportWriter::xlsx`].
    pub fn new(format: ExportFormat, out: W) -> Result<Self, ExportFileError> {
        match format {
            ExportFormat::Csv => Ok(Self::csv(out)),
            ExportFormat::Xlsx => Self::xlsx(out),
        }
    }

    /// A CSV writer: comma-separated, UTF-8 without a byte-order mark, CRLF line ends, fields
    /// quoted only when they hold the delimiter, a quote or a line break.
    pub fn csv(out: W) -> Self {
        Self {
            inner: Inner::Csv(Box::new(
                csv::WriterBuilder::new()
                    .terminator(csv::Terminator::CRLF)
                    .from_writer(out),
            )),
        }
    }

    /// A CSV writer with another `delimiter` (`;` is what Excel expects where `,` is the
    /// decimal separator) and, when `bom`, a UTF-8 byte-order mark first, which makes Excel
    /// read the file as UTF-8 rather than the local ANSI code page.
    ///
    /// # Errors
    /// Writing the byte-order mark failed.
    pub fn csv_with(mut out: W, delimiter: u8, bom: bool) -> Result<Self, ExportFileError> {
        if bom {
            out.write_all(b"\xEF\xBB\xBF")?;
        }
        Ok(Self {
            inner: Inner::Csv(Box::new(
                csv::WriterBuilder::new()
                    .delimiter(delimiter)
                    .terminator(csv::Terminator::CRLF)
                    .from_writer(out),
            )),
        })
    }

    /// An XLSX writer: one worksheet in constant-memory mode (rows go to a temporary file as
    /// they are written); every cell is a text cell.
    ///
    /// # Errors
    /// The temporary file could not be created.
    pub fn xlsx(out: W) -> Result<Self, ExportFileError> {
        let mut workbook = Box::new(Workbook::new());
        workbook.add_worksheet_with_constant_memory()?;
        Ok(Self {
            inner: Inner::Xlsx {
                workbook,
                out,
                next_row: 0,
            },
        })
    }

    /// Writes the header row (as given: header names are not neutralised).
    ///
    /// # Errors
    /// The sink or the workbook failed.
    pub fn write_header(&mut self, headers: &[&str]) -> Result<(), ExportFileError> {
        self.write_cells(headers.iter().map(|h| Cow::Borrowed(*h)))
    }

    /// Writes one row, each cell [`neutralise`]d.
    ///
    /// # Errors
    /// The sink or the workbook failed; an XLSX export has more than 1,048,576 rows
    /// ([`ExportFileError::TooLarge`]) or a cell longer than 32,767 characters.
    pub fn write_row(&mut self, cells: &[String]) -> Result<(), ExportFileError> {
        self.write_cells(cells.iter().map(|c| neutralise(c)))
    }

    fn write_cells<'a>(
        &mut self,
        cells: impl Iterator<Item = Cow<'a, str>>,
    ) -> Result<(), ExportFileError> {
        match &mut self.inner {
            Inner::Csv(w) => {
                w.write_record(cells.map(|c| c.into_owned()))?;
                Ok(())
            }
            Inner::Xlsx {
                workbook, next_row, ..
            } => {
                let sheet = workbook.worksheet_from_index(0)?;
                for (col, cell) in cells.enumerate() {
                    let col = u16::try_from(col).map_err(|_| ExportFileError::TooLarge)?;
                    sheet.write_string(*next_row, col, cell)?;
                }
                *next_row = next_row.checked_add(1).ok_or(ExportFileError::TooLarge)?;
                Ok(())
            }
        }
    }

    /// CSV: pushes the rows written so far into the sink (and flushes it), so that they can
    /// be sent. XLSX: nothing (the workbook is only complete at [`finish`](Self::finish)).
    ///
    /// # Errors
    /// The sink failed.
    pub fn flush(&mut self) -> Result<(), ExportFileError> {
        match &mut self.inner {
            Inner::Csv(w) => Ok(w.flush()?),
            Inner::Xlsx { .. } => Ok(()),
        }
    }

    /// Writes what remains (for XLSX: the whole workbook) and returns the sink.
    ///
    /// # Errors
    /// The sink or the workbook failed.
    pub fn finish(self) -> Result<W, ExportFileError> {
        match self.inner {
            Inner::Csv(w) => w
                .into_inner()
                .map_err(|e| ExportFileError::Io(io::Error::new(e.error().kind(), e.to_string()))),
            Inner::Xlsx {
                mut workbook,
                mut out,
                ..
            } => {
                workbook.save_to_writer(&mut out)?;
                out.flush()?;
                Ok(out)
            }
        }
    }
}

impl From<ExportFileError> for SheetError {
    fn from(e: ExportFileError) -> Self {
        match e {
            ExportFileError::TooLarge => SheetError::TooLarge,
            other => SheetError::Failed(other.to_string()),
        }
    }
}

/// The export port of the domain ([`SheetWriters`]) on [`ExportWriter`]: CSV rows are handed
/// out as they are written ([`SheetWriter::take_ready`]); an XLSX workbook is written to an
/// anonymous temporary file (deleted when closed) and read back by
/// [`SheetWriter::finish`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SheetFiles;

impl SheetWriters for SheetFiles {
    fn open(&self, format: ExportFormat) -> Result<Box<dyn SheetWriter>, SheetError> {
        Ok(match format {
            ExportFormat::Csv => {
                let buffer = SharedBuffer::new();
                Box::new(CsvSheet {
                    writer: ExportWriter::csv(buffer.clone()),
                    buffer,
                })
            }
            ExportFormat::Xlsx => {
                let file = tempfile::tempfile().map_err(ExportFileError::Io)?;
                Box::new(XlsxSheet {
                    writer: ExportWriter::xlsx(file)?,
                })
            }
        })
    }
}

struct CsvSheet {
    writer: ExportWriter<SharedBuffer>,
    buffer: SharedBuffer,
}

impl SheetWriter for CsvSheet {
    fn write_header(&mut self, headers: &[&str]) -> Result<(), SheetError> {
        Ok(self.writer.write_header(headers)?)
    }

    fn write_row(&mut self, cells: &[String]) -> Result<(), SheetError> {
        Ok(self.writer.write_row(cells)?)
    }

    fn take_ready(&mut self) -> Result<Vec<u8>, SheetError> {
        self.writer.flush()?;
        Ok(self.buffer.take())
    }

    fn finish(self: Box<Self>) -> Result<Box<dyn Read + Send>, SheetError> {
        let rest = self.writer.finish()?.take();
        Ok(Box::new(io::Cursor::new(rest)))
    }
}

struct XlsxSheet {
    writer: ExportWriter<File>,
}

impl SheetWriter for XlsxSheet {
    fn write_header(&mut self, headers: &[&str]) -> Result<(), SheetError> {
        Ok(self.writer.write_header(headers)?)
    }

    fn write_row(&mut self, cells: &[String]) -> Result<(), SheetError> {
        Ok(self.writer.write_row(cells)?)
    }

    fn take_ready(&mut self) -> Result<Vec<u8>, SheetError> {
        Ok(Vec::new())
    }

    fn finish(self: Box<Self>) -> Result<Box<dyn Read + Send>, SheetError> {
        let mut file = self.writer.finish()?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| SheetError::Failed(format!("cannot rewind the workbook: {e}")))?;
        Ok(Box::new(file))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};

    use super::*;
    use crate::import_file::{FileKind, SheetReader, sniff};

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn read_back(bytes: &[u8]) -> (Vec<String>, Vec<(u64, Vec<String>)>) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f.flush().unwrap();
        let mut r = SheetReader::open(
            f.path(),
            sniff(f.path()),
            None,
            false,
            crate::import_file::XlsxLimits::default(),
        )
        .unwrap();
        let rows = std::iter::from_fn(|| r.next_row())
            .map(Result::unwrap)
            .collect();
        (r.headers().to_vec(), rows)
    }

    #[test]
    fn every_formula_prefix_is_neutralised() {
        for cell in ["=1+1", "+62 812 3456", "-5", "@SUM(A1)", "\tTAB", "\rCR"] {
            assert_eq!(neutralise(cell), format!("'{cell}"), "{cell:?}");
        }
        for cell in ["Budi", "", "1+1", " =1", "a=b", "'quoted"] {
            assert!(
                matches!(neutralise(cell), Cow::Borrowed(c) if c == cell),
                "{cell:?}"
            );
        }
    }

    #[test]
    fn a_csv_export_round_trips_quotes_and_newlines() {
        let buf = SharedBuffer::new();
        let mut w = ExportWriter::csv(buf.clone());
        w.write_header(&["name", "notes", "phone"]).unwrap();
        w.write_row(&strings(&[
            "Budi \"Bud\" S.",
            "line 1\nline 2, with comma",
            "+6281234567890",
        ]))
        .unwrap();
        w.flush().unwrap();
        let first = buf.take();
        assert!(first.ends_with(b"\r\n"));
        assert!(buf.is_empty());
        w.write_row(&strings(&["=HYPERLINK(\"http://x\")", "", "0812"]))
            .unwrap();
        w.finish().unwrap();
        let mut bytes = first;
        bytes.extend(buf.take());
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            "name,notes,phone\r\n\
             \"Budi \"\"Bud\"\" S.\",\"line 1\nline 2, with comma\",'+6281234567890\r\n\
             \"'=HYPERLINK(\"\"http://x\"\")\",,0812\r\n"
        );
        let (headers, rows) = read_back(&bytes);
        assert_eq!(headers, ["name", "notes", "phone"]);
        assert_eq!(
            rows,
            vec![
                (
                    2,
                    strings(&[
                        "Budi \"Bud\" S.",
                        "line 1\nline 2, with comma",
                        "'+6281234567890"
                    ])
                ),
                (4, strings(&["'=HYPERLINK(\"http://x\")", "", "0812"])),
            ]
        );
    }

    #[test]
    fn a_csv_export_for_excel_has_a_bom_and_semicolons() {
        let mut w = ExportWriter::csv_with(Vec::new(), b';', true).unwrap();
        w.write_header(&["nama", "jumlah"]).unwrap();
        w.write_row(&strings(&["Siti", "1.500,50"])).unwrap();
        let bytes = w.finish().unwrap();
        assert_eq!(bytes, b"\xEF\xBB\xBFnama;jumlah\r\nSiti;1.500,50\r\n");
        let (headers, rows) = read_back(&bytes);
        assert_eq!(headers, ["nama", "jumlah"]);
        assert_eq!(rows, vec![(2, strings(&["Siti", "1.500,50"]))]);
    }

    #[test]
    fn an_xlsx_export_reads_back_with_the_import_reader() {
        let mut w = ExportWriter::new(ExportFormat::Xlsx, Vec::new()).unwrap();
        w.write_header(&["name", "notes", "total"]).unwrap();
        w.write_row(&strings(&["Budi", "line 1\nline 2", "1500.50"]))
            .unwrap();
        w.write_row(&strings(&["@evil", "", "-5"])).unwrap();
        w.flush().unwrap();
        let bytes = w.finish().unwrap();
        assert!(bytes.starts_with(b"PK\x03\x04"));
        let (headers, rows) = read_back(&bytes);
        assert_eq!(headers, ["name", "notes", "total"]);
        assert_eq!(
            rows,
            vec![
                (2, strings(&["Budi", "line 1\nline 2", "1500.50"])),
                (3, strings(&["'@evil", "", "'-5"])),
            ]
        );
        assert_eq!(ExportFormat::Xlsx.extension(), "xlsx");
        assert_eq!(FileKind::Xlsx, sniff_bytes(&bytes));
    }

    #[test]
    fn the_sheet_port_streams_csv_and_rewinds_the_workbook() {
        let mut csv = SheetFiles.open(ExportFormat::Csv).unwrap();
        csv.write_header(&["name", "phone"]).unwrap();
        csv.write_row(&strings(&["Budi", "+62812"])).unwrap();
        assert_eq!(csv.take_ready().unwrap(), b"name,phone\r\nBudi,'+62812\r\n");
        assert!(csv.take_ready().unwrap().is_empty());
        csv.write_row(&strings(&["@Siti", ""])).unwrap();
        let mut rest = Vec::new();
        csv.finish().unwrap().read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"'@Siti,\r\n");

        let mut xlsx = SheetFiles.open(ExportFormat::Xlsx).unwrap();
        xlsx.write_header(&["name"]).unwrap();
        xlsx.write_row(&strings(&["=1+1"])).unwrap();
        assert!(xlsx.take_ready().unwrap().is_empty());
        let mut bytes = Vec::new();
        xlsx.finish().unwrap().read_to_end(&mut bytes).unwrap();
        let (headers, rows) = read_back(&bytes);
        assert_eq!(headers, ["name"]);
        assert_eq!(rows, vec![(2, strings(&["'=1+1"]))]);
    }

    fn sniff_bytes(bytes: &[u8]) -> FileKind {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        sniff(f.path())
    }
}
