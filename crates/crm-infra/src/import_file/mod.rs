//! Reading import files (CSV or XLSX) from disk as a header row and rows of text cells, each
//! with its line number, for `crm_domain::import` to map and convert.
//!
//! - CSV is streamed record by record (the `csv` crate: quoted fields may hold delimiters,
//!   quotes and line breaks; rows may have more or fewer cells than the header). UTF-8 with or
//!   without a byte-order mark, or Latin-1 when asked (decoded as Windows-1252, the superset
//!   of ISO-8859-1 that spreadsheet programs write, as the WHATWG Encoding Standard does for
//!   the `latin1` label); a UTF-8 BOM wins over the Latin-1 option. The delimiter is given, or
//!   detected from the header line: the most frequent of comma, semicolon and tab outside
//!   quotes (comma when none). A record's line number is the line it starts on, so a quoted
//!   field with line breaks does not shift the numbers of the rows after it. Memory per
//!   record is bounded only by the record's size: callers bound the upload's size.
//! - XLSX: the first worksheet is streamed one row at a time by [`xlsx`] (ZIP parts inflated
//!   as they are read, XML parsed with `quick-xml`), within [`XlsxLimits`]: columns, unzipped
//!   bytes, shared strings, one XML element; nothing is sized by the sheet's declared
//!   dimensions. Line numbers are the sheet's row numbers. Number cells print without thousands separators and with `.` as decimal
//!   separator (`1234.5`), whole numbers without `.0`; date cells as `YYYY-MM-DD`, or
//!   `YYYY-MM-DDTHH:MM:SS[.mmm]Z` (RFC 3339; Excel has no time zone, so UTC) when they have a
//!   time; booleans as `true` / `false`; error cells as Excel shows them (`#N/A`).
//!
//! The first non-empty row is the header (trimmed). Rows whose cells are all blank are skipped
//! in both formats (spreadsheets often end in some).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use sha2::{Digest, Sha256};

pub mod xlsx;

pub use xlsx::XlsxLimits;

/// The UTF-8 byte-order mark.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
/// The start of every ZIP file, so of every XLSX file.
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// The start of an OLE2 compound file: a legacy `.xls` workbook.
const OLE2_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0";
/// How much of a CSV file delimiter detection looks at, at most.
const SNIFF_BYTES: u64 = 64 * 1024;

/// The format of an import file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// Delimited text.
    Csv,
    /// An Office Open XML workbook.
    Xlsx,
}

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ImportFileError {
    /// The file could not be opened or read.
    #[error("cannot read the file: {0}")]
    Io(#[from] io::Error),
    /// A CSV record could not be read.
    #[error("line {line}: {message}")]
    Csv {
        /// Line the record starts on.
        line: u64,
        /// What went wrong.
        message: String,
    },
    /// A CSV record is not valid UTF-8 (and Latin-1 was not asked for).
    #[error("line {line} is not valid UTF-8: save the file as CSV UTF-8, or import it as Latin-1")]
    Encoding {
        /// Line the record starts on.
        line: u64,
    },
    /// The workbook could not be read.
    #[error("cannot read the workbook: {0}")]
    Xlsx(String),
    /// The workbook breaks one of the reader's [`XlsxLimits`].
    #[error("{detail}")]
    Limit {
        /// The setting holding the limit (`CRM_MAX_IMPORT_COLUMNS`, ...).
        setting: &'static str,
        /// The limit's value.
        limit: u64,
        /// What broke it.
        detail: String,
    },
    /// The file is in a format this reader does not take.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The file has no header row.
    #[error("the file is empty: it has no header row")]
    Empty,
}

/// The kind of the file at `path`: XLSX when it starts like a ZIP file (`PK\x03\x04`), else
/// CSV; when it cannot be read, XLSX when its name ends in `.xlsx` or `.xlsm`, else CSV.
pub fn sniff(path: &Path) -> FileKind {
    let mut head = [0u8; 4];
    let read = File::open(path).and_then(|mut f| f.read_exact(&mut head));
    match read {
        Ok(()) if head == ZIP_MAGIC => FileKind::Xlsx,
        Ok(()) => FileKind::Csv,
        Err(_) => {
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            match ext.as_deref() {
                Some("xlsx" | "xlsm") => FileKind::Xlsx,
                _ => FileKind::Csv,
            }
        }
    }
}

/// The SHA-256 of the file's bytes, as 64 lower-case hex digits: what
/// `crm_domain::import::derived_order_ref` derives refs from.
///
/// # Errors
/// The file cannot be read.
pub fn fingerprint(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// A header row and then the rows of an import file, read one at a time with
/// [`SheetReader::next_row`] (see the module documentation for each format).
pub struct SheetReader {
    headers: Vec<String>,
    source: Source,
}

enum Source {
    Csv {
        reader: Box<csv::Reader<Tee>>,
        record: csv::ByteRecord,
        latin1: bool,
        /// Set after an I/O error: reading further would fail again.
        failed: bool,
    },
    Xlsx(Box<xlsx::XlsxRows>),
}

impl std::fmt::Debug for SheetReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SheetReader")
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl SheetReader {
    /// Opens the file at `path` as `kind` (see [`sniff`]) and reads its header row.
    /// `delimiter` (CSV only): `None` detects it. `latin1` (CSV only): the file is Latin-1
    /// rather than UTF-8. `limits` (XLSX only): the reader's limits.
    ///
    /// # Errors
    /// The file cannot be read; it has no header row ([`ImportFileError::Empty`]); its header
    /// is not valid UTF-8; it is a legacy `.xls` workbook or UTF-16 text
    /// ([`ImportFileError::Unsupported`]); the workbook is not valid XLSX, or breaks a limit
    /// before its header ends ([`ImportFileError::Limit`]).
    pub fn open(
        path: &Path,
        kind: FileKind,
        delimiter: Option<u8>,
        latin1: bool,
        limits: XlsxLimits,
    ) -> Result<Self, ImportFileError> {
        match kind {
            FileKind::Csv => Self::open_csv(path, delimiter, latin1),
            FileKind::Xlsx => Self::open_xlsx(path, limits),
        }
    }

    /// The header row, cells trimmed.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The next row that is not all blank, with its 1-based line number in the file (the header
    /// is line 1 when it is the first line; a CSV record spanning lines has the line it starts
    /// on); `None` at the end. Rows keep their cells untrimmed and may have more or fewer cells
    /// than the header.
    ///
    /// # Errors
    /// A record that is not valid UTF-8 ([`ImportFileError::Encoding`]; reading may go on with
    /// the next row), an I/O error, an invalid workbook or a broken limit (after which the
    /// reader ends).
    pub fn next_row(&mut self) -> Option<Result<(u64, Vec<String>), ImportFileError>> {
        match &mut self.source {
            Source::Csv {
                reader,
                record,
                latin1,
                failed,
            } => loop {
                if *failed {
                    return None;
                }
                match read_csv_record(reader, record, *latin1) {
                    Ok(None) => return None,
                    Ok(Some((_, cells))) if all_blank(&cells) => continue,
                    Ok(Some(row)) => return Some(Ok(row)),
                    Err(e @ ImportFileError::Encoding { .. }) => return Some(Err(e)),
                    Err(e) => {
                        *failed = true;
                        return Some(Err(e));
                    }
                }
            },
            Source::Xlsx(rows) => loop {
                match rows.next_row()? {
                    Ok((_, cells)) if all_blank(&cells) => continue,
                    // As wide as the header at least (as when the sheet was read whole).
                    Ok((line, mut cells)) => {
                        if cells.len() < self.headers.len() {
                            cells.resize(self.headers.len(), String::new());
                        }
                        return Some(Ok((line, cells)));
                    }
                    Err(e) => return Some(Err(e)),
                }
            },
        }
    }

    fn open_csv(path: &Path, delimiter: Option<u8>, latin1: bool) -> Result<Self, ImportFileError> {
        let mut file = File::open(path)?;
        let mut head = Vec::new();
        (&mut file).take(SNIFF_BYTES).read_to_end(&mut head)?;
        if head.starts_with(OLE2_MAGIC) {
            return Err(ImportFileError::Unsupported(
                "legacy .xls workbooks are not supported: save the file as .xlsx or CSV UTF-8",
            ));
        }
        if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
            return Err(ImportFileError::Unsupported(
                "UTF-16 text files are not supported: save the file as CSV UTF-8",
            ));
        }
        let bom = head.starts_with(UTF8_BOM);
        let skip = if bom { UTF8_BOM.len() } else { 0 };
        let delimiter =
            delimiter.unwrap_or_else(|| detect_delimiter(head.get(skip..).unwrap_or_default()));
        file.seek(SeekFrom::Start(skip as u64))?;
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(Tee {
                file,
                start: 0,
                window: VecDeque::new(),
            });
        let mut reader = Box::new(reader);
        let mut record = csv::ByteRecord::new();
        let latin1 = latin1 && !bom;
        let headers = loop {
            match read_csv_record(&mut reader, &mut record, latin1)? {
                None => return Err(ImportFileError::Empty),
                Some((_, cells)) if all_blank(&cells) => continue,
                Some((_, cells)) => break cells,
            }
        };
        Ok(Self {
            headers: headers.iter().map(|h| h.trim().to_owned()).collect(),
            source: Source::Csv {
                reader,
                record,
                latin1,
                failed: false,
            },
        })
    }

    fn open_xlsx(path: &Path, limits: XlsxLimits) -> Result<Self, ImportFileError> {
        let rows = xlsx::XlsxRows::open(path, limits)?;
        let mut reader = Self {
            headers: Vec::new(),
            source: Source::Xlsx(Box::new(rows)),
        };
        match reader.next_row() {
            Some(Ok((_, headers))) => {
                reader.headers = headers.iter().map(|h| h.trim().to_owned()).collect();
                Ok(reader)
            }
            Some(Err(e)) => Err(e),
            None => Err(ImportFileError::Empty),
        }
    }
}

fn all_blank(cells: &[String]) -> bool {
    cells.iter().all(|c| c.trim().is_empty())
}

/// The file under the CSV reader, keeping the bytes the reader has taken but not yet turned
/// into records, to find where each record really starts.
///
/// `csv` gives each record the position where the reader stood before it, which is before any
/// blank lines and, in CRLF files, before the `\n` of the previous line end: the record's line
/// is that position's line plus the line ends that follow it.
struct Tee {
    file: File,
    /// Offset (from where the reader began) of `window[0]`.
    start: u64,
    window: VecDeque<u8>,
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.window.extend(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

impl Tee {
    /// How many `\n` the run of line-end bytes at `offset` holds.
    fn line_ends_at(&self, offset: u64) -> u64 {
        let from = usize::try_from(offset.saturating_sub(self.start)).unwrap_or(usize::MAX);
        let run = self
            .window
            .range(from.min(self.window.len())..)
            .take_while(|b| matches!(b, b'\r' | b'\n'));
        run.filter(|b| **b == b'\n').count() as u64
    }

    /// Forgets the bytes before `offset`.
    fn release(&mut self, offset: u64) {
        let n = usize::try_from(offset.saturating_sub(self.start))
            .unwrap_or(usize::MAX)
            .min(self.window.len());
        self.window.drain(..n);
        self.start += n as u64;
    }
}

/// Reads the next CSV record as text cells with its starting line.
fn read_csv_record(
    reader: &mut csv::Reader<Tee>,
    record: &mut csv::ByteRecord,
    latin1: bool,
) -> Result<Option<(u64, Vec<String>)>, ImportFileError> {
    let before = reader.position().clone();
    let more = reader.read_byte_record(record).map_err(|e| {
        let line = e
            .position()
            .map_or_else(|| before.line(), csv::Position::line);
        match e.into_kind() {
            csv::ErrorKind::Io(io) => ImportFileError::Io(io),
            other => ImportFileError::Csv {
                line,
                message: format!("{other:?}"),
            },
        }
    })?;
    let line = before.line() + reader.get_ref().line_ends_at(before.byte());
    let end = reader.position().byte();
    reader.get_mut().release(end);
    if !more {
        return Ok(None);
    }
    let cells = record
        .iter()
        .map(|field| decode(field, latin1))
        .collect::<Option<Vec<String>>>()
        .ok_or(ImportFileError::Encoding { line })?;
    Ok(Some((line, cells)))
}

/// A field as text: UTF-8, or Latin-1 (Windows-1252) when asked.
fn decode(field: &[u8], latin1: bool) -> Option<String> {
    if latin1 {
        let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(field);
        Some(text.into_owned())
    } else {
        std::str::from_utf8(field).ok().map(str::to_owned)
    }
}

/// The most frequent of `,`, `;` and tab on the first line outside quotes (a quoted field may
/// span lines); `,` when none occurs, or on a tie with it.
fn detect_delimiter(head: &[u8]) -> u8 {
    let candidates = [b',', b';', b'\t'];
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in head {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            _ if !quoted => {
                if let Some(i) = candidates.iter().position(|c| *c == b)
                    && let Some(n) = counts.get_mut(i)
                {
                    *n += 1;
                }
            }
            _ => {}
        }
    }
    let mut best = 0;
    for (i, n) in counts.iter().enumerate() {
        if *n > counts.get(best).copied().unwrap_or(0) {
            best = i;
        }
    }
    candidates.get(best).copied().unwrap_or(b',')
}

/// A number as text: whole numbers without `.0`, others in the shortest form that reads back
/// exactly, never in exponent notation.
fn float_text(f: f64) -> String {
    // Below 2^53 every whole f64 is exact and fits an i64.
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn file(bytes: &[u8], suffix: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(suffix).tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f.flush().unwrap();
        f
    }

    fn rows(reader: &mut SheetReader) -> Vec<(u64, Vec<String>)> {
        std::iter::from_fn(|| reader.next_row())
            .map(Result::unwrap)
            .collect()
    }

    fn row(line: u64, cells: &[&str]) -> (u64, Vec<String>) {
        (line, cells.iter().map(|c| (*c).to_owned()).collect())
    }

    fn csv(bytes: &[u8]) -> SheetReader {
        let f = file(bytes, ".csv");
        assert_eq!(sniff(f.path()), FileKind::Csv);
        SheetReader::open(f.path(), FileKind::Csv, None, false, XlsxLimits::default()).unwrap()
    }

    #[test]
    fn a_utf8_bom_is_stripped() {
        let mut r = csv(b"\xEF\xBB\xBFname,email\nBudi,budi@example.com\n");
        assert_eq!(r.headers(), ["name", "email"]);
        assert_eq!(rows(&mut r), vec![row(2, &["Budi", "budi@example.com"])]);
    }

    #[test]
    fn semicolons_are_detected() {
        let mut r = csv(b"nama;email;jumlah\r\n\"Siti; Ani\";siti@x.id;1.500,50\r\n");
        assert_eq!(r.headers(), ["nama", "email", "jumlah"]);
        assert_eq!(
            rows(&mut r),
            vec![row(2, &["Siti; Ani", "siti@x.id", "1.500,50"])]
        );
    }

    #[test]
    fn tabs_are_detected_and_an_explicit_delimiter_wins() {
        let mut r = csv(b"name\temail, work\tphone\nBudi\tb@x.id\t0812\n");
        assert_eq!(r.headers(), ["name", "email, work", "phone"]);
        assert_eq!(rows(&mut r), vec![row(2, &["Budi", "b@x.id", "0812"])]);
        let f = file(b"a|b\n1|2\n", ".txt");
        let mut r = SheetReader::open(
            f.path(),
            FileKind::Csv,
            Some(b'|'),
            false,
            XlsxLimits::default(),
        )
        .unwrap();
        assert_eq!(r.headers(), ["a", "b"]);
        assert_eq!(rows(&mut r), vec![row(2, &["1", "2"])]);
    }

    #[test]
    fn quoted_newlines_keep_line_numbers_right() {
        let mut r = csv(b"name,notes,email\n\
              Budi,\"line one\nline two\nline three\",b@x.id\n\
              Siti,\"said \"\"hi\"\", left\",s@x.id\n\
              \n\
              ,,\n\
              \n\
              Ani,short\n");
        assert_eq!(
            rows(&mut r),
            vec![
                row(2, &["Budi", "line one\nline two\nline three", "b@x.id"]),
                row(5, &["Siti", "said \"hi\", left", "s@x.id"]),
                row(9, &["Ani", "short"]),
            ]
        );
        let mut crlf = csv(b"\r\nname,notes\r\n\r\nBudi,\"a\r\nb\"\r\nSiti,c\r\n");
        assert_eq!(crlf.headers(), ["name", "notes"]);
        assert_eq!(
            rows(&mut crlf),
            vec![row(4, &["Budi", "a\r\nb"]), row(6, &["Siti", "c"])]
        );
    }

    #[test]
    fn latin1_is_decoded_when_asked_and_refused_otherwise() {
        let bytes = b"nama,kota\nJos\xe9 M\xfcller,S\xe3o Paulo \x80\n";
        let f = file(bytes, ".csv");
        let mut r =
            SheetReader::open(f.path(), FileKind::Csv, None, true, XlsxLimits::default()).unwrap();
        assert_eq!(rows(&mut r), vec![row(2, &["José Müller", "São Paulo €"])]);
        let mut r =
            SheetReader::open(f.path(), FileKind::Csv, None, false, XlsxLimits::default()).unwrap();
        let err = r.next_row().unwrap().unwrap_err();
        assert!(
            matches!(err, ImportFileError::Encoding { line: 2 }),
            "{err}"
        );
        assert!(err.to_string().contains("line 2"));
        assert!(r.next_row().is_none());
    }

    #[test]
    fn empty_and_unsupported_files_are_errors() {
        let f = file(b"", ".csv");
        assert!(matches!(
            SheetReader::open(f.path(), FileKind::Csv, None, false, XlsxLimits::default()),
            Err(ImportFileError::Empty)
        ));
        let f = file(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1rest", ".xls");
        assert!(matches!(
            SheetReader::open(f.path(), FileKind::Csv, None, false, XlsxLimits::default()),
            Err(ImportFileError::Unsupported(_))
        ));
        let f = file(b"not a zip", ".xlsx");
        assert_eq!(sniff(f.path()), FileKind::Csv);
        assert!(matches!(
            SheetReader::open(f.path(), FileKind::Xlsx, None, false, XlsxLimits::default()),
            Err(ImportFileError::Xlsx(_))
        ));
        assert_eq!(sniff(Path::new("/nonexistent/x.XLSX")), FileKind::Xlsx);
        assert_eq!(sniff(Path::new("/nonexistent/x.csv")), FileKind::Csv);
    }

    #[test]
    fn the_fingerprint_is_the_sha256_of_the_bytes() {
        let f = file(b"abc", ".csv");
        assert_eq!(
            fingerprint(f.path()).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn delimiter_detection_ignores_quoted_text() {
        assert_eq!(detect_delimiter(b"\"a,b,c\";d;e\n1,2,3,4,5"), b';');
        assert_eq!(detect_delimiter(b"single"), b',');
        assert_eq!(detect_delimiter(b"a\tb\tc;d\n"), b'\t');
    }

    #[test]
    fn an_xlsx_workbook_reads_back_as_text() {
        use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        let date = Format::new().set_num_format("yyyy-mm-dd");
        let datetime = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
        // Header on row 2 of the sheet (line 2): line 1 is blank.
        for (c, h) in [" Name ", "Amount", "Qty", "Date", "Placed", "VIP", "Phone"]
            .iter()
            .enumerate()
        {
            ws.write_string(1, c as u16, *h).unwrap();
        }
        ws.write_string(2, 0, "Budi").unwrap();
        ws.write_number(2, 1, 1234.5).unwrap();
        ws.write_number(2, 2, 3.0).unwrap();
        ws.write_datetime_with_format(2, 3, ExcelDateTime::from_ymd(2024, 1, 31).unwrap(), &date)
            .unwrap();
        ws.write_datetime_with_format(
            2,
            4,
            ExcelDateTime::from_ymd(2024, 2, 29)
                .unwrap()
                .and_hms(13, 45, 10)
                .unwrap(),
            &datetime,
        )
        .unwrap();
        ws.write_boolean(2, 5, true).unwrap();
        ws.write_number(2, 6, 6281234567890.0).unwrap();
        // Row 4 blank, row 5 short.
        ws.write_string(4, 0, "Siti").unwrap();
        ws.write_number(4, 1, 0.1).unwrap();
        let f = file(&wb.save_to_buffer().unwrap(), ".bin");
        assert_eq!(sniff(f.path()), FileKind::Xlsx);
        let mut r = SheetReader::open(f.path(), FileKind::Xlsx, None, false, XlsxLimits::default())
            .unwrap();
        assert_eq!(
            r.headers(),
            ["Name", "Amount", "Qty", "Date", "Placed", "VIP", "Phone"]
        );
        assert_eq!(
            rows(&mut r),
            vec![
                row(
                    3,
                    &[
                        "Budi",
                        "1234.5",
                        "3",
                        "2024-01-31",
                        "2024-02-29T13:45:10Z",
                        "true",
                        "6281234567890"
                    ]
                ),
                row(5, &["Siti", "0.1", "", "", "", "", ""]),
            ]
        );
    }

    #[test]
    fn the_reader_can_move_between_threads() {
        fn send<T: Send>() {}
        send::<SheetReader>();
    }
}
