//! A streaming reader of the first worksheet of an XLSX workbook, bounded by [`XlsxLimits`].
//!
//! The workbook is opened with the `zip` crate only to find its parts (the central directory,
//! refused beyond [`MAX_ZIP_ENTRIES`] entries or when it is ZIP64); each part is then inflated
//! straight from the file, and every inflated byte counts against
//! [`XlsxLimits::max_unzipped_bytes`] while it is read (the sizes the ZIP directory declares
//! are never trusted). In order:
//!
//! 1. `xl/workbook.xml` (the first `<sheet>`, and whether dates count from 1904) and
//!    `xl/_rels/workbook.xml.rels` (where that sheet's part is);
//! 2. `xl/styles.xml`, when present: which cell formats are dates (as calamine decides:
//!    built-in date formats, and custom format codes with date or time letters outside quotes
//!    and brackets; `[h]:mm` durations stay numbers);
//! 3. `xl/sharedStrings.xml`, when present, kept in memory up to
//!    [`XlsxLimits::max_shared_strings_bytes`] (text bytes plus 24 bytes per string);
//! 4. the sheet, streamed with `quick-xml` one `<row>` at a time: each cell is placed at the
//!    column of its `r` reference (or after the previous cell), and a cell with a value at or
//!    beyond [`XlsxLimits::max_columns`] stops the reading with an error naming the limit, so
//!    a row is never wider than that. Nothing is sized by the sheet's declared dimensions.
//!
//! One XML event (a start tag, a text run) may be at most [`XlsxLimits::max_element_bytes`],
//! and so may the text of one cell and of one row. Cell text follows calamine's conventions
//! (which the importer used before): rich text runs concatenated without phonetic runs, `<t>`
//! text trimmed of ASCII white space unless `xml:space="preserve"`, Excel's `_xHHHH_` escapes
//! decoded; see the parent module for how numbers, dates and booleans print.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use chrono::{Duration, NaiveDate};
use quick_xml::events::{BytesRef, BytesStart, Event};

use super::{ImportFileError, float_text};

/// Most entries the ZIP directory of a workbook may list (a workbook has a few dozen).
pub const MAX_ZIP_ENTRIES: u64 = 10_000;
/// Most cell formats (`<xf>` of `<cellXfs>`) and custom number formats read from the styles
/// (Excel's own limit is 64,000); formats beyond count as not dates.
const MAX_FORMATS: usize = 65_536;
/// Bytes each shared string counts for on top of its text (its `String`).
const SHARED_STRING_OVERHEAD: u64 = 24;
/// Read buffer of the XML parser, and so the slack of the per-event limit.
const XML_BUFFER: usize = 64 * 1024;

/// The limits of the XLSX reader (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XlsxLimits {
    /// Most columns of a row: a cell with a value in a column beyond is an error
    /// (`CRM_MAX_IMPORT_COLUMNS`).
    pub max_columns: usize,
    /// Most bytes inflated from the workbook's parts, all together
    /// (`CRM_MAX_IMPORT_UNZIPPED_BYTES`).
    pub max_unzipped_bytes: u64,
    /// Most bytes of shared strings kept in memory (`CRM_MAX_IMPORT_SHARED_STRINGS_BYTES`).
    pub max_shared_strings_bytes: u64,
    /// Most bytes of one XML event (tag or text run), of one cell's text and of one row's
    /// text (not configurable).
    pub max_element_bytes: u64,
}

impl Default for XlsxLimits {
    /// 200 columns, 1 GiB unzipped, 64 MiB of shared strings, 1 MiB per element.
    fn default() -> Self {
        Self {
            max_columns: 200,
            max_unzipped_bytes: 1 << 30,
            max_shared_strings_bytes: 64 << 20,
            max_element_bytes: 1 << 20,
        }
    }
}

/// The setting names the limits are reported under.
const COLUMNS: &str = "CRM_MAX_IMPORT_COLUMNS";
const UNZIPPED: &str = "CRM_MAX_IMPORT_UNZIPPED_BYTES";
const SHARED: &str = "CRM_MAX_IMPORT_SHARED_STRINGS_BYTES";
const ELEMENT: &str = "max_element_bytes";

fn beyond(setting: &'static str, limit: u64, detail: String) -> ImportFileError {
    ImportFileError::Limit {
        setting,
        limit,
        detail,
    }
}

fn bad(message: impl Into<String>) -> ImportFileError {
    ImportFileError::Xlsx(message.into())
}

/// Where a part of the workbook is stored in the file.
#[derive(Debug, Clone, Copy)]
struct Part {
    data_start: u64,
    compressed_size: u64,
    deflated: bool,
}

/// The parts of interest, by lower-case name.
struct Parts {
    path: PathBuf,
    parts: HashMap<String, Part>,
}

/// Inflated bytes of a part, counted against the workbook's budget and the per-event limit.
struct Capped {
    inner: Box<dyn Read + Send>,
    /// Bytes inflated from the whole workbook so far.
    used: u64,
    max_used: u64,
    /// Bytes inflated since the last [`Capped::mark`].
    since_mark: u64,
    max_since_mark: u64,
    /// The limit that stopped the reading.
    hit: Option<ImportFileError>,
    element_limit: u64,
}

impl Read for Capped {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.hit.is_some() {
            return Err(io::Error::other("a limit of the reader was reached"));
        }
        let n = self.inner.read(buf)?;
        self.used = self.used.saturating_add(n as u64);
        self.since_mark = self.since_mark.saturating_add(n as u64);
        if self.used > self.max_used {
            self.hit = Some(beyond(
                UNZIPPED,
                self.max_used,
                format!(
                    "the workbook unzips to more than {} bytes (CRM_MAX_IMPORT_UNZIPPED_BYTES)",
                    self.max_used
                ),
            ));
        } else if self.since_mark > self.max_since_mark {
            self.hit = Some(element_error(self.element_limit));
        }
        if self.hit.is_some() {
            return Err(io::Error::other("a limit of the reader was reached"));
        }
        Ok(n)
    }
}

impl Capped {
    fn mark(&mut self) {
        self.since_mark = 0;
    }
}

fn element_error(limit: u64) -> ImportFileError {
    beyond(
        ELEMENT,
        limit,
        format!("the workbook has an XML element, cell or row of more than {limit} bytes"),
    )
}

type Xml = quick_xml::Reader<BufReader<Capped>>;

impl Parts {
    /// Lists the parts of the workbook at `path`.
    fn open(path: &Path) -> Result<Self, ImportFileError> {
        let mut file = File::open(path)?;
        check_directory(&mut file)?;
        let mut archive = zip::ZipArchive::new(file)
            .map_err(|e| bad(format!("it is not a valid XLSX (ZIP) file: {e}")))?;
        if archive.len() as u64 > MAX_ZIP_ENTRIES {
            return Err(bad(format!(
                "the workbook has more than {MAX_ZIP_ENTRIES} parts"
            )));
        }
        let mut parts = HashMap::new();
        for i in 0..archive.len() {
            let entry = archive
                .by_index_raw(i)
                .map_err(|e| bad(format!("a part of the workbook is unreadable: {e}")))?;
            let Ok(name) = entry
                .name()
                .map(|n| n.replace('\\', "/").to_ascii_lowercase())
            else {
                continue;
            };
            if !(name.starts_with("xl/") || name == "[content_types].xml") {
                continue;
            }
            let deflated = match entry.compression() {
                zip::CompressionMethod::Stored => false,
                zip::CompressionMethod::Deflated => true,
                other => {
                    return Err(bad(format!(
                        "part {name} uses the compression {other:?}; only Deflate is supported"
                    )));
                }
            };
            if entry.encrypted() {
                return Err(bad("the workbook is encrypted"));
            }
            let data_start = entry
                .data_start()
                .ok_or_else(|| bad(format!("part {name} has no data")))?;
            parts.insert(
                name,
                Part {
                    data_start,
                    compressed_size: entry.compressed_size(),
                    deflated,
                },
            );
        }
        Ok(Self {
            path: path.to_owned(),
            parts,
        })
    }

    fn has(&self, name: &str) -> bool {
        self.parts.contains_key(&name.to_ascii_lowercase())
    }

    /// An XML reader over the inflated part `name`, counting from `used` bytes.
    fn xml(&self, name: &str, used: u64, limits: &XlsxLimits) -> Result<Xml, ImportFileError> {
        let part = *self
            .parts
            .get(&name.to_ascii_lowercase())
            .ok_or_else(|| bad(format!("the workbook has no part {name}")))?;
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(part.data_start))?;
        let raw = BufReader::new(file.take(part.compressed_size));
        let inner: Box<dyn Read + Send> = if part.deflated {
            Box::new(flate2::bufread::DeflateDecoder::new(raw))
        } else {
            Box::new(raw)
        };
        let capped = Capped {
            inner,
            used,
            max_used: limits.max_unzipped_bytes,
            since_mark: 0,
            max_since_mark: limits
                .max_element_bytes
                .saturating_add(2 * XML_BUFFER as u64),
            hit: None,
            element_limit: limits.max_element_bytes,
        };
        let mut xml = quick_xml::Reader::from_reader(BufReader::with_capacity(XML_BUFFER, capped));
        let config = xml.config_mut();
        config.trim_text(false);
        config.check_end_names = false;
        config.expand_empty_elements = false;
        Ok(xml)
    }
}

/// Refuses a ZIP whose end-of-central-directory record is missing, lists more than
/// [`MAX_ZIP_ENTRIES`] entries, or announces ZIP64 (which no workbook of an accepted upload
/// size needs), before the `zip` crate reads the directory into memory.
fn check_directory(file: &mut File) -> Result<(), ImportFileError> {
    const EOCD: &[u8] = b"PK\x05\x06";
    const ZIP64_LOCATOR: &[u8] = b"PK\x06\x07";
    let len = file.seek(SeekFrom::End(0))?;
    let tail_len = len.min(22 + 65_535 + 20);
    file.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = Vec::with_capacity(usize::try_from(tail_len).unwrap_or(0));
    (&mut *file).take(tail_len).read_to_end(&mut tail)?;
    let at = tail
        .windows(4)
        .rposition(|w| w == EOCD)
        .ok_or_else(|| bad("it is not a valid XLSX (ZIP) file: no central directory"))?;
    let field = |offset: usize| -> u64 {
        let b = tail
            .get(at + offset..at + offset + 2)
            .unwrap_or(&[0xFF, 0xFF]);
        u64::from(u16::from_le_bytes([b[0], b[1]]))
    };
    let entries = field(10);
    if entries == 0xFFFF
        || at
            .checked_sub(20)
            .and_then(|l| tail.get(l..l + 4))
            .is_some_and(|w| w == ZIP64_LOCATOR)
    {
        return Err(bad("ZIP64 workbooks are not supported"));
    }
    if entries > MAX_ZIP_ENTRIES {
        return Err(bad(format!(
            "the workbook has more than {MAX_ZIP_ENTRIES} parts"
        )));
    }
    file.seek(SeekFrom::Start(0))?;
    Ok(())
}

/// Reads the next event into `buf`, enforcing the limits: a limit the input broke wins over
/// the XML error it caused.
fn next<'b>(xml: &mut Xml, buf: &'b mut Vec<u8>) -> Result<Event<'b>, ImportFileError> {
    buf.clear();
    xml.get_mut().get_mut().mark();
    match xml.read_event_into(buf) {
        Ok(e) => Ok(e),
        Err(e) => Err(xml
            .get_mut()
            .get_mut()
            .hit
            .take()
            .unwrap_or_else(|| bad(format!("the workbook's XML is invalid: {e}")))),
    }
}

/// The value of the attribute whose local name is `name`.
fn attr(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, ImportFileError> {
    for a in e.attributes().with_checks(false) {
        let a = a.map_err(|err| bad(format!("the workbook's XML is invalid: {err}")))?;
        if a.key.local_name().as_ref() == name {
            let v = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|err| bad(format!("the workbook's XML is invalid: {err}")))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// Appends the text of an entity reference (`&amp;`, `&#xA0;`).
fn push_ref(e: &BytesRef<'_>, out: &mut String) -> Result<(), ImportFileError> {
    let name: &str = e.as_ref();
    if let Some(text) = quick_xml::escape::resolve_xml_entity(name) {
        out.push_str(text);
        return Ok(());
    }
    match e.resolve_char_ref() {
        Ok(Some(c)) => {
            out.push(c);
            Ok(())
        }
        _ => Err(bad(format!(
            "the workbook's XML has an unknown entity &{name};"
        ))),
    }
}

/// Appends text, keeping `out` within `limit` bytes.
fn push_text(out: &mut String, text: &str, limit: u64) -> Result<(), ImportFileError> {
    if (out.len() as u64).saturating_add(text.len() as u64) > limit {
        return Err(element_error(limit));
    }
    out.push_str(text);
    Ok(())
}

/// What the workbook part says about its first sheet.
struct Workbook {
    /// The relationship id of the first sheet.
    first_sheet: Option<String>,
    date1904: bool,
}

fn read_workbook(xml: &mut Xml) -> Result<Workbook, ImportFileError> {
    let mut buf = Vec::new();
    let mut wb = Workbook {
        first_sheet: None,
        date1904: false,
    };
    loop {
        match next(xml, &mut buf)? {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                "workbookPr" => {
                    wb.date1904 = matches!(
                        attr(&e, "date1904")?.as_deref().map(str::trim),
                        Some("1" | "true")
                    );
                }
                "sheet" if wb.first_sheet.is_none() => {
                    wb.first_sheet = attr(&e, "id")?;
                }
                _ => {}
            },
            Event::Eof => return Ok(wb),
            _ => {}
        }
    }
}

/// The part name of relationship `id` in a `.rels` part of `xl/`.
fn read_target(xml: &mut Xml, id: &str) -> Result<Option<String>, ImportFileError> {
    let mut buf = Vec::new();
    loop {
        match next(xml, &mut buf)? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "Relationship" => {
                if attr(&e, "Id")?.as_deref() == Some(id)
                    && let Some(target) = attr(&e, "Target")?
                {
                    let target = target.replace('\\', "/");
                    return Ok(Some(match target.strip_prefix('/') {
                        Some(absolute) => absolute.to_owned(),
                        None => format!("xl/{}", target.trim_start_matches("./")),
                    }));
                }
            }
            Event::Eof => return Ok(None),
            _ => {}
        }
    }
}

/// Whether each cell format (by its index, the `s` of a cell) is a date format.
fn read_styles(xml: &mut Xml) -> Result<Vec<bool>, ImportFileError> {
    let mut buf = Vec::new();
    let mut custom: HashMap<u32, bool> = HashMap::new();
    let mut formats: Vec<u32> = Vec::new();
    let mut in_cell_xfs = false;
    loop {
        match next(xml, &mut buf)? {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                "numFmt" if custom.len() < MAX_FORMATS => {
                    if let (Some(id), Some(code)) = (attr(&e, "numFmtId")?, attr(&e, "formatCode")?)
                        && let Ok(id) = id.trim().parse()
                    {
                        custom.insert(id, is_date_format(&code));
                    }
                }
                "cellXfs" => in_cell_xfs = true,
                "xf" if in_cell_xfs && formats.len() < MAX_FORMATS => {
                    let id = attr(&e, "numFmtId")?
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    formats.push(id);
                }
                _ => {}
            },
            Event::End(e) if e.local_name().as_ref() == "cellXfs" => in_cell_xfs = false,
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(formats
        .into_iter()
        .map(|id| {
            custom
                .get(&id)
                .copied()
                .unwrap_or_else(|| is_builtin_date(id))
        })
        .collect())
}

/// The built-in number formats that are dates or times (not the `[h]:mm:ss` duration, 46).
fn is_builtin_date(id: u32) -> bool {
    matches!(id, 14..=22 | 27..=36 | 45 | 47 | 50..=58)
}

/// Whether a custom number format code shows a date or time (calamine's rule): a date or
/// time letter in the first section, outside quotes, brackets and escapes; `[h]`, `[m]`,
/// `[s]` make a duration, which is not a date.
fn is_date_format(format: &str) -> bool {
    let mut escaped = false;
    let mut quoted = false;
    let mut brackets = 0u8;
    let mut prev = ' ';
    let mut hms = false;
    let mut ap = false;
    for c in format.chars() {
        if escaped {
            escaped = false;
        } else if quoted {
            if c == '"' {
                quoted = false;
            }
        } else {
            match c {
                '_' | '\\' | '*' => escaped = true,
                '"' => quoted = true,
                ';' => return false,
                '[' => brackets = brackets.saturating_add(1),
                ']' if brackets == 1 && hms => return false,
                ']' => brackets = brackets.saturating_sub(1),
                'a' | 'A' if !ap && brackets == 0 => ap = true,
                'p' | 'm' | '/' | 'P' | 'M' if ap && brackets == 0 => return true,
                'd' | 'm' | 'h' | 'y' | 's' | 'D' | 'M' | 'H' | 'Y' | 'S'
                    if !ap && brackets == 0 =>
                {
                    return true;
                }
                _ => {
                    if !(hms && c.eq_ignore_ascii_case(&prev)) {
                        hms = prev == '[' && matches!(c, 'm' | 'h' | 's' | 'M' | 'H' | 'S');
                    }
                }
            }
        }
        prev = c;
    }
    false
}

/// Reads the text of a string item (`<si>`, `<is>`) up to its end tag `end`: its `<t>` runs
/// (not those of phonetic `<rPh>` runs), each trimmed unless `xml:space="preserve"`.
fn read_string_item(xml: &mut Xml, end: &str, limit: u64) -> Result<String, ImportFileError> {
    let mut buf = Vec::new();
    let mut out = String::new();
    let mut phonetic = false;
    loop {
        match next(xml, &mut buf)? {
            Event::Start(e) if e.local_name().as_ref() == "rPh" => phonetic = true,
            Event::End(e) if e.local_name().as_ref() == "rPh" => phonetic = false,
            Event::Start(e) if e.local_name().as_ref() == "t" && !phonetic => {
                let preserve = attr(&e, "space")?.as_deref() == Some("preserve");
                let mut text = String::new();
                let mut inner = Vec::new();
                loop {
                    match next(xml, &mut inner)? {
                        Event::Text(t) => push_text(&mut text, &t.xml10_content(), limit)?,
                        Event::CData(t) => push_text(&mut text, &t.xml10_content(), limit)?,
                        Event::GeneralRef(r) => {
                            push_ref(&r, &mut text)?;
                            if text.len() as u64 > limit {
                                return Err(element_error(limit));
                            }
                        }
                        Event::End(e) if e.local_name().as_ref() == "t" => break,
                        Event::Eof => return Err(bad("the workbook's XML ends inside a text")),
                        _ => {}
                    }
                }
                let text = if preserve {
                    text.as_str()
                } else {
                    text.trim_matches([' ', '\t', '\r', '\n'])
                };
                push_text(&mut out, &unescape_excel(text), limit)?;
            }
            Event::End(e) if e.local_name().as_ref() == end => return Ok(out),
            Event::Eof => return Err(bad("the workbook's XML ends inside a string")),
            _ => {}
        }
    }
}

fn read_shared_strings(xml: &mut Xml, limits: &XlsxLimits) -> Result<Vec<String>, ImportFileError> {
    let mut buf = Vec::new();
    let mut strings = Vec::new();
    let mut total = 0u64;
    loop {
        match next(xml, &mut buf)? {
            Event::Start(e) if e.local_name().as_ref() == "si" => {
                let s = read_string_item(xml, "si", limits.max_element_bytes)?;
                total = total
                    .saturating_add(s.len() as u64)
                    .saturating_add(SHARED_STRING_OVERHEAD);
                if total > limits.max_shared_strings_bytes {
                    return Err(beyond(
                        SHARED,
                        limits.max_shared_strings_bytes,
                        format!(
                            "the workbook's shared strings take more than {} bytes \
                             (CRM_MAX_IMPORT_SHARED_STRINGS_BYTES)",
                            limits.max_shared_strings_bytes
                        ),
                    ));
                }
                strings.push(s);
            }
            Event::Empty(e) if e.local_name().as_ref() == "si" => {
                total = total.saturating_add(SHARED_STRING_OVERHEAD);
                if total > limits.max_shared_strings_bytes {
                    return Err(beyond(
                        SHARED,
                        limits.max_shared_strings_bytes,
                        format!(
                            "the workbook's shared strings take more than {} bytes \
                             (CRM_MAX_IMPORT_SHARED_STRINGS_BYTES)",
                            limits.max_shared_strings_bytes
                        ),
                    ));
                }
                strings.push(String::new());
            }
            Event::Eof => return Ok(strings),
            _ => {}
        }
    }
}

/// Decodes Excel's `_xHHHH_` escapes (UTF-16 code units; `_x005F_` escapes a `_`).
fn unescape_excel(s: &str) -> std::borrow::Cow<'_, str> {
    fn unit_at(s: &str, i: usize) -> Option<u16> {
        let b = s.as_bytes().get(i..i + 7)?;
        if b[0] != b'_' || b[1] != b'x' || b[6] != b'_' {
            return None;
        }
        let hex = std::str::from_utf8(&b[2..6]).ok()?;
        if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        u16::from_str_radix(hex, 16).ok()
    }
    if !s.contains("_x") {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if let Some(unit) = unit_at(s, i) {
            i += 7;
            let c = match unit {
                0xD800..=0xDBFF => match unit_at(s, i) {
                    Some(low @ 0xDC00..=0xDFFF) => {
                        i += 7;
                        char::from_u32(
                            0x10000
                                + ((u32::from(unit) - 0xD800) << 10)
                                + (u32::from(low) - 0xDC00),
                        )
                    }
                    _ => None,
                },
                _ => char::from_u32(u32::from(unit)),
            };
            out.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
        } else {
            let Some(c) = s.get(i..).and_then(|r| r.chars().next()) else {
                break;
            };
            out.push(c);
            i += c.len_utf8();
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The 0-based column and 1-based row of a cell reference (`B3`); `None` for the row when
/// the reference has none.
fn cell_ref(r: &str) -> Option<(u64, Option<u64>)> {
    let letters = r.bytes().take_while(u8::is_ascii_alphabetic).count();
    if letters == 0 || letters > 3 {
        return None;
    }
    let mut col = 0u64;
    for b in r.bytes().take(letters) {
        col = col * 26 + u64::from(b.to_ascii_uppercase() - b'A' + 1);
    }
    let digits = r.get(letters..)?;
    let row = if digits.is_empty() {
        None
    } else {
        Some(digits.parse().ok()?)
    };
    Some((col - 1, row))
}

/// The letters of a 0-based column (`0` → `A`).
fn column_name(mut col: u64) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The first worksheet of a workbook, row by row.
pub(super) struct XlsxRows {
    xml: Xml,
    strings: Vec<String>,
    dates: Vec<bool>,
    date1904: bool,
    limits: XlsxLimits,
    /// The line of the last row read.
    last_line: u64,
    done: bool,
}

impl XlsxRows {
    /// Opens the workbook at `path` and reads everything up to its first sheet's rows.
    pub(super) fn open(path: &Path, limits: XlsxLimits) -> Result<Self, ImportFileError> {
        let parts = Parts::open(path)?;
        if !parts.has("xl/workbook.xml") {
            return Err(bad(
                "it is not a valid XLSX file: it has no xl/workbook.xml",
            ));
        }
        let mut xml = parts.xml("xl/workbook.xml", 0, &limits)?;
        let workbook = read_workbook(&mut xml)?;
        let mut used = xml.get_ref().get_ref().used;
        let mut sheet = None;
        if let Some(id) = &workbook.first_sheet
            && parts.has("xl/_rels/workbook.xml.rels")
        {
            let mut xml = parts.xml("xl/_rels/workbook.xml.rels", used, &limits)?;
            sheet = read_target(&mut xml, id)?;
            used = xml.get_ref().get_ref().used;
        }
        let sheet = match sheet {
            Some(s) if parts.has(&s) => s,
            _ if parts.has("xl/worksheets/sheet1.xml") => "xl/worksheets/sheet1.xml".to_owned(),
            _ => return Err(bad("the workbook has no worksheet")),
        };
        let mut dates = Vec::new();
        if parts.has("xl/styles.xml") {
            let mut xml = parts.xml("xl/styles.xml", used, &limits)?;
            dates = read_styles(&mut xml)?;
            used = xml.get_ref().get_ref().used;
        }
        let mut strings = Vec::new();
        if parts.has("xl/sharedStrings.xml") {
            let mut xml = parts.xml("xl/sharedStrings.xml", used, &limits)?;
            strings = read_shared_strings(&mut xml, &limits)?;
            used = xml.get_ref().get_ref().used;
        }
        let xml = parts.xml(&sheet, used, &limits)?;
        Ok(Self {
            xml,
            strings,
            dates,
            date1904: workbook.date1904,
            limits,
            last_line: 0,
            done: false,
        })
    }

    /// The next row (blank or not) as `(line, cells)`; `None` at the end of the sheet. After
    /// an error, the reader ends.
    pub(super) fn next_row(&mut self) -> Option<Result<(u64, Vec<String>), ImportFileError>> {
        if self.done {
            return None;
        }
        let row = self.read_row();
        if !matches!(row, Some(Ok(_))) {
            self.done = true;
        }
        row
    }

    fn read_row(&mut self) -> Option<Result<(u64, Vec<String>), ImportFileError>> {
        let mut buf = Vec::new();
        loop {
            let event = match next(&mut self.xml, &mut buf) {
                Ok(e) => e,
                Err(e) => return Some(Err(e)),
            };
            match event {
                Event::Start(e) if e.local_name().as_ref() == "row" => {
                    let line = match self.row_line(&e) {
                        Ok(l) => l,
                        Err(e) => return Some(Err(e)),
                    };
                    return Some(self.read_cells(line).map(|cells| (line, cells)));
                }
                Event::Empty(e) if e.local_name().as_ref() == "row" => match self.row_line(&e) {
                    Ok(line) => return Some(Ok((line, Vec::new()))),
                    Err(e) => return Some(Err(e)),
                },
                Event::End(e) if e.local_name().as_ref() == "sheetData" => return None,
                Event::Eof => return None,
                _ => {}
            }
        }
    }

    fn row_line(&mut self, e: &BytesStart<'_>) -> Result<u64, ImportFileError> {
        let line = match attr(e, "r")? {
            Some(r) => r
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| bad(format!("the sheet has a row numbered `{r}`")))?,
            None => self.last_line.saturating_add(1),
        };
        self.last_line = line;
        Ok(line)
    }

    /// The cells of the row just started, up to its `</row>`.
    fn read_cells(&mut self, line: u64) -> Result<Vec<String>, ImportFileError> {
        let mut buf = Vec::new();
        let mut cells: Vec<String> = Vec::new();
        let mut row_bytes = 0u64;
        // The column of the next cell without a reference.
        let mut next_col = 0u64;
        loop {
            match next(&mut self.xml, &mut buf)? {
                Event::Start(e) if e.local_name().as_ref() == "c" => {
                    let (col, kind, style) = self.cell_attrs(&e, next_col)?;
                    next_col = col.saturating_add(1);
                    let text = self.read_cell(kind.as_deref(), style, line, col)?;
                    if text.is_empty() {
                        continue;
                    }
                    if col >= self.limits.max_columns as u64 {
                        return Err(self.too_wide(line, col));
                    }
                    row_bytes = row_bytes.saturating_add(text.len() as u64);
                    if row_bytes > self.limits.max_element_bytes {
                        return Err(element_error(self.limits.max_element_bytes));
                    }
                    let col = usize::try_from(col).unwrap_or(usize::MAX);
                    if cells.len() <= col {
                        cells.resize(col + 1, String::new());
                    }
                    if let Some(cell) = cells.get_mut(col) {
                        *cell = text;
                    }
                }
                Event::Empty(e) if e.local_name().as_ref() == "c" => {
                    // No value: only its column matters (for a next cell without `r`).
                    next_col = match attr(&e, "r")? {
                        Some(r) => cell_ref(r.trim())
                            .ok_or_else(|| bad(format!("the sheet has a cell reference `{r}`")))?
                            .0
                            .saturating_add(1),
                        None => next_col.saturating_add(1),
                    };
                }
                Event::End(e) if e.local_name().as_ref() == "row" => return Ok(cells),
                Event::Eof => return Err(bad("the sheet's XML ends inside a row")),
                _ => {}
            }
        }
    }

    fn too_wide(&self, line: u64, col: u64) -> ImportFileError {
        let max = self.limits.max_columns as u64;
        beyond(
            COLUMNS,
            max,
            format!(
                "row {line} has a value in column {} (number {}): a sheet may have at most \
                 {max} columns (CRM_MAX_IMPORT_COLUMNS)",
                column_name(col),
                col.saturating_add(1)
            ),
        )
    }

    /// The column, type (`t`) and style (`s`) of a cell.
    fn cell_attrs(
        &self,
        e: &BytesStart<'_>,
        next_col: u64,
    ) -> Result<(u64, Option<String>, Option<usize>), ImportFileError> {
        let col = match attr(e, "r")? {
            Some(r) => {
                cell_ref(r.trim())
                    .ok_or_else(|| bad(format!("the sheet has a cell reference `{r}`")))?
                    .0
            }
            None => next_col,
        };
        let style = attr(e, "s")?.and_then(|s| s.trim().parse().ok());
        Ok((col, attr(e, "t")?, style))
    }

    /// The text of the cell just started, up to its `</c>`.
    fn read_cell(
        &mut self,
        kind: Option<&str>,
        style: Option<usize>,
        line: u64,
        col: u64,
    ) -> Result<String, ImportFileError> {
        let limit = self.limits.max_element_bytes;
        let mut buf = Vec::new();
        let mut value: Option<String> = None;
        let mut inline: Option<String> = None;
        loop {
            match next(&mut self.xml, &mut buf)? {
                Event::Start(e) if e.local_name().as_ref() == "v" => {
                    let mut v = String::new();
                    let mut inner = Vec::new();
                    loop {
                        match next(&mut self.xml, &mut inner)? {
                            Event::Text(t) => push_text(&mut v, &t.xml10_content(), limit)?,
                            Event::CData(t) => push_text(&mut v, &t.xml10_content(), limit)?,
                            Event::GeneralRef(r) => {
                                push_ref(&r, &mut v)?;
                                if v.len() as u64 > limit {
                                    return Err(element_error(limit));
                                }
                            }
                            Event::End(e) if e.local_name().as_ref() == "v" => break,
                            Event::Eof => return Err(bad("the sheet's XML ends inside a value")),
                            _ => {}
                        }
                    }
                    value = Some(v);
                }
                Event::Start(e) if e.local_name().as_ref() == "is" => {
                    inline = Some(read_string_item(&mut self.xml, "is", limit)?);
                }
                Event::Start(e) if e.local_name().as_ref() == "f" => {
                    // The formula: its cached value is in <v>.
                    let mut inner = Vec::new();
                    loop {
                        match next(&mut self.xml, &mut inner)? {
                            Event::End(e) if e.local_name().as_ref() == "f" => break,
                            Event::Eof => return Err(bad("the sheet's XML ends inside a formula")),
                            _ => {}
                        }
                    }
                }
                Event::End(e) if e.local_name().as_ref() == "c" => break,
                Event::Eof => return Err(bad("the sheet's XML ends inside a cell")),
                _ => {}
            }
        }
        if matches!(kind, Some("inlineStr" | "is")) {
            return Ok(inline.unwrap_or_default());
        }
        let Some(v) = value else {
            return Ok(inline.unwrap_or_default());
        };
        let at = || format!("{}{line}", column_name(col));
        Ok(match kind {
            Some("s") => {
                if v.trim().is_empty() {
                    return Ok(String::new());
                }
                let index: usize = v
                    .trim()
                    .parse()
                    .map_err(|_| bad(format!("cell {} refers to shared string `{v}`", at())))?;
                self.strings.get(index).cloned().ok_or_else(|| {
                    bad(format!(
                        "cell {} refers to shared string {index}; the workbook has {}",
                        at(),
                        self.strings.len()
                    ))
                })?
            }
            Some("b") => match v.trim() {
                "" => String::new(),
                "1" => "true".into(),
                "0" => "false".into(),
                t if t.eq_ignore_ascii_case("true") => "true".into(),
                t if t.eq_ignore_ascii_case("false") => "false".into(),
                _ => return Err(bad(format!("cell {} has the boolean `{v}`", at()))),
            },
            Some("d" | "e") => v,
            Some("str") => unescape_excel(&v).into_owned(),
            Some("n") | None => {
                if v.is_empty() {
                    return Ok(String::new());
                }
                match v.trim().parse::<f64>() {
                    Ok(n) => {
                        let date = match style {
                            Some(s) => self.dates.get(s).copied().unwrap_or(false),
                            None => false,
                        };
                        if date {
                            date_text(n, self.date1904)
                        } else {
                            float_text(n)
                        }
                    }
                    Err(_) if kind.is_none() => v,
                    Err(_) => return Err(bad(format!("cell {} has the number `{v}`", at()))),
                }
            }
            Some(other) => return Err(bad(format!("cell {} has the type `{other}`", at()))),
        })
    }
}

/// An Excel serial date as text: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[.mmm]Z` with a time, or
/// `HH:MM:SS` for a time of day without a date (serial below 1); a number as
/// [`float_text`] when it is no date.
fn date_text(serial: f64, date1904: bool) -> String {
    let fallback = || float_text(serial);
    if !serial.is_finite() || serial < 0.0 {
        return fallback();
    }
    let days = if date1904 { serial + 1462.0 } else { serial };
    // Excel counts 1900-02-29, which did not exist: serials before it are one day off.
    let days = if days >= 60.0 { days } else { days + 1.0 };
    let ms = (days * 86_400_000.0).round();
    if ms > 1e15 {
        return fallback();
    }
    let Some(epoch) = NaiveDate::from_ymd_opt(1899, 12, 30).and_then(|d| d.and_hms_opt(0, 0, 0))
    else {
        return fallback();
    };
    let Some(dt) = epoch.checked_add_signed(Duration::milliseconds(ms as i64)) else {
        return fallback();
    };
    use chrono::{Datelike, Timelike};
    let (h, mi, s) = (dt.hour(), dt.minute(), dt.second());
    let milli = dt.nanosecond() / 1_000_000;
    if (0.0..1.0).contains(&serial) {
        format!("{h:02}:{mi:02}:{s:02}")
    } else if (h, mi, s, milli) == (0, 0, 0, 0) {
        format!("{:04}-{:02}-{:02}", dt.year(), dt.month(), dt.day())
    } else if milli == 0 {
        format!(
            "{:04}-{:02}-{:02}T{h:02}:{mi:02}:{s:02}Z",
            dt.year(),
            dt.month(),
            dt.day()
        )
    } else {
        format!(
            "{:04}-{:02}-{:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z",
            dt.year(),
            dt.month(),
            dt.day()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_references_and_column_names() {
        assert_eq!(cell_ref("A1"), Some((0, Some(1))));
        assert_eq!(cell_ref("XFD1048576"), Some((16_383, Some(1_048_576))));
        assert_eq!(cell_ref("b"), Some((1, None)));
        assert_eq!(cell_ref("ABCD1"), None);
        assert_eq!(cell_ref("12"), None);
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(16_383), "XFD");
    }

    #[test]
    fn date_formats_are_detected_as_calamine_does() {
        for code in [
            "yyyy-mm-dd",
            "DD/MM/YY",
            "H:MM:SS;@",
            "m/d/yy h:mm",
            "[$-409]mmm d",
        ] {
            assert!(is_date_format(code), "{code}");
        }
        for code in [
            "0.00",
            "#,##0",
            "\"Date\" 0",
            "[h]:mm:ss",
            "[Red]0",
            "@",
            "0;\"d\"",
        ] {
            assert!(!is_date_format(code), "{code}");
        }
        assert!(is_builtin_date(14) && is_builtin_date(22) && !is_builtin_date(46));
    }

    #[test]
    fn serial_dates_print_as_before() {
        assert_eq!(date_text(45_322.0, false), "2024-01-31");
        assert_eq!(
            date_text(45_351.573_032_407_4, false),
            "2024-02-29T13:45:10Z"
        );
        assert_eq!(date_text(0.5, false), "12:00:00");
        assert_eq!(date_text(1.0, true), "1904-01-02");
        assert_eq!(date_text(1e300, false), float_text(1e300));
    }

    #[test]
    fn excel_escapes_are_decoded() {
        assert_eq!(unescape_excel("a_x000D_b"), "a\rb");
        assert_eq!(unescape_excel("_x005F_x000D_"), "_x000D_");
        assert_eq!(unescape_excel("_xD83D__xDCF7_"), "\u{1F4F7}");
        assert_eq!(unescape_excel("plain_x"), "plain_x");
    }

    use std::io::Write as _;

    use zip::write::SimpleFileOptions;

    const WORKBOOK: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><workbookPr date1904="false"/><sheets><sheet name="Data" sheetId="1" r:id="rId7"/><sheet name="Other" sheetId="2" r:id="rId1"/></sheets></workbook>"#;
    const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="x" Target="worksheets/sheet1.xml"/><Relationship Id="rId7" Type="x" Target="/xl/worksheets/data.xml"/></Relationships>"#;

    /// A workbook whose first sheet (`xl/worksheets/data.xml`) holds `rows` (the inside of
    /// `<sheetData>`), with `shared` strings (the inside of `<sst>`).
    pub(crate) fn workbook(rows: &str, shared: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let mut zip = zip::ZipWriter::new(f.as_file_mut());
        let deflated =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        let mut part = |name: &str, text: &str| {
            zip.start_file(name, deflated).unwrap();
            zip.write_all(text.as_bytes()).unwrap();
        };
        part("xl/workbook.xml", WORKBOOK);
        part("xl/_rels/workbook.xml.rels", RELS);
        part(
            "xl/styles.xml",
            r#"<styleSheet><numFmts count="1"><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/></numFmts><cellStyleXfs><xf numFmtId="14"/></cellStyleXfs><cellXfs><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="46"/></cellXfs></styleSheet>"#,
        );
        part("xl/sharedStrings.xml", &format!("<sst>{shared}</sst>"));
        part(
            "xl/worksheets/sheet1.xml",
            r#"<worksheet><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>wrong sheet</t></is></c></row></sheetData></worksheet>"#,
        );
        part(
            "xl/worksheets/data.xml",
            &format!(
                "<worksheet><dimension ref=\"A1:XFD1048576\"/><sheetData>{rows}</sheetData></worksheet>"
            ),
        );
        zip.finish().unwrap();
        f
    }

    fn read_all(
        f: &tempfile::NamedTempFile,
        limits: XlsxLimits,
    ) -> Result<Vec<(u64, Vec<String>)>, ImportFileError> {
        let mut rows = XlsxRows::open(f.path(), limits)?;
        std::iter::from_fn(|| rows.next_row()).collect()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn every_kind_of_cell_reads_as_text_from_the_first_sheet() {
        let f = workbook(
            r#"<row r="2"><c r="A2" t="s"><v>0</v></c><c r="C2" t="s"><v>1</v></c><c t="inlineStr"><is><r><t xml:space="preserve">Tom </t></r><r><t>&amp; Jerry</t></r></is></c></row>
               <row r="4"><c r="A4" t="b"><v>1</v></c><c r="B4" t="e"><v>#N/A</v></c><c r="C4" t="str"><f>A1</f><v>a_x000D_b</v></c><c r="D4" s="1"><v>45322</v></c><c r="E4" s="2"><v>1.5</v></c><c r="F4"><v>0.1</v></c><c r="G4" t="d"><v>2024-01-31T00:00:00</v></c></row>
               <row r="5"><c r="A5" s="1"/><c r="B5"><v></v></c></row>
               <row/>"#,
            r#"<si><t> Budi </t></si><si><r><t>Si</t></r><r><t>ti</t></r><rPh><t>ignored</t></rPh></si>"#,
        );
        assert_eq!(
            read_all(&f, XlsxLimits::default()).unwrap(),
            vec![
                (2, strings(&["Budi", "", "Siti", "Tom & Jerry"])),
                (
                    4,
                    strings(&[
                        "true",
                        "#N/A",
                        "a\rb",
                        "2024-01-31",
                        "1.5",
                        "0.1",
                        "2024-01-31T00:00:00"
                    ])
                ),
                (5, Vec::new()),
                (6, Vec::new()),
            ]
        );
    }

    #[test]
    fn a_far_cell_is_an_error_naming_the_column_limit_not_a_huge_row() {
        let f = workbook(
            r#"<row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c></row><row r="1048576"><c r="XFD1048576"><v>1</v></c></row>"#,
            "",
        );
        let err = read_all(&f, XlsxLimits::default()).unwrap_err();
        let ImportFileError::Limit {
            setting,
            limit,
            detail,
        } = err
        else {
            panic!("{err}");
        };
        assert_eq!((setting, limit), (COLUMNS, 200));
        assert!(
            detail.contains("row 1048576") && detail.contains("XFD"),
            "{detail}"
        );
        // Empty styled cells far right are no values: they do not count.
        let f = workbook(
            r#"<row r="1"><c r="A1"><v>1</v></c><c r="XFD1" s="1"/></row>"#,
            "",
        );
        assert_eq!(
            read_all(&f, XlsxLimits::default()).unwrap(),
            vec![(1, strings(&["1"]))]
        );
    }

    #[test]
    fn the_unzipped_size_is_counted_while_reading() {
        let rows = "<row><c/></row>".repeat(20_000);
        let f = workbook(&rows, "");
        assert!(std::fs::metadata(f.path()).unwrap().len() < 64 * 1024);
        let limits = XlsxLimits {
            max_unzipped_bytes: 100_000,
            ..XlsxLimits::default()
        };
        let err = read_all(&f, limits).unwrap_err();
        assert!(
            matches!(
                err,
                ImportFileError::Limit {
                    setting: UNZIPPED,
                    limit: 100_000,
                    ..
                }
            ),
            "{err}"
        );
        assert!(read_all(&f, XlsxLimits::default()).is_ok());
    }

    #[test]
    fn shared_strings_and_elements_are_bounded() {
        let shared: String = (0..1_000)
            .map(|i| format!("<si><t>string number {i}</t></si>"))
            .collect();
        let f = workbook("", &shared);
        let limits = XlsxLimits {
            max_shared_strings_bytes: 10_000,
            ..XlsxLimits::default()
        };
        let err = read_all(&f, limits).unwrap_err();
        assert!(
            matches!(
                err,
                ImportFileError::Limit {
                    setting: SHARED,
                    limit: 10_000,
                    ..
                }
            ),
            "{err}"
        );
        let long = "x".repeat(300_000);
        let f = workbook(
            &format!(r#"<row r="1"><c r="A1" t="inlineStr"><is><t>{long}</t></is></c></row>"#),
            "",
        );
        let limits = XlsxLimits {
            max_element_bytes: 100_000,
            ..XlsxLimits::default()
        };
        let err = read_all(&f, limits).unwrap_err();
        assert!(
            matches!(
                err,
                ImportFileError::Limit {
                    setting: ELEMENT,
                    ..
                }
            ),
            "{err}"
        );
        // Many small entity references add up in one cell too.
        let refs = "&amp;".repeat(30_000);
        let f = workbook(
            &format!(r#"<row r="1"><c r="A1" t="str"><v>{refs}</v></c></row>"#),
            "",
        );
        let limits = XlsxLimits {
            max_element_bytes: 10_000,
            ..XlsxLimits::default()
        };
        let err = read_all(&f, limits).unwrap_err();
        assert!(
            matches!(
                err,
                ImportFileError::Limit {
                    setting: ELEMENT,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn broken_workbooks_are_errors_not_panics() {
        let f = workbook(r#"<row r="1"><c r="A1" t="s"><v>7</v></c></row>"#, "");
        assert!(matches!(
            read_all(&f, XlsxLimits::default()),
            Err(ImportFileError::Xlsx(_))
        ));
        let f = workbook(r#"<row r="1"><c r="1A"><v>1</v></c></row>"#, "");
        assert!(matches!(
            read_all(&f, XlsxLimits::default()),
            Err(ImportFileError::Xlsx(_))
        ));
        let f = workbook(r#"<row r="1"><c r="A1"><v>1</v></c>"#, "");
        assert!(matches!(
            read_all(&f, XlsxLimits::default()),
            Err(ImportFileError::Xlsx(_))
        ));
        let mut bytes = std::fs::read(workbook("", "").path()).unwrap();
        bytes.truncate(bytes.len() - 10);
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&bytes).unwrap();
        assert!(matches!(
            XlsxRows::open(f.path(), XlsxLimits::default()),
            Err(ImportFileError::Xlsx(_))
        ));
    }
}
