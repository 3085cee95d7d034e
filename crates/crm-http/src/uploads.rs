//! Where uploaded import files wait for their import: [`UploadDir`] (`CRM_UPLOAD_DIR`,
//! default `<data_dir>/uploads`).
//!
//! Each upload is a file `upload-<random>.part` created there and held, for as long as it
//! exists, with an exclusive advisory lock (`flock`) on its open handle. The file is deleted
//! when its [`Upload`] is dropped: when the upload fails, is refused (403, 413, 400, ...) or is
//! interrupted (the client disconnects and actix drops the handler), and when its import ends.
//! A crash leaves files behind: [`UploadDir::sweep`] at start-up deletes every upload file that
//! no process holds locked (the operating system releases a dead process's locks), and leaves
//! alone the files of imports another live process is running.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use actix_web::web;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::problem::ApiError;

/// Bytes of an upload handed to a blocking thread at a time (hashed and written there).
const PIECE: usize = 1 << 20;

/// The most leading bytes of an upload kept in memory for content sniffing.
const HEAD_BYTES: usize = 64 << 10;

/// The prefix and suffix of upload files.
const PREFIX: &str = "upload-";
const SUFFIX: &str = ".part";

/// The folder of uploads in progress and of files waiting for their import.
#[derive(Debug, Clone)]
pub struct UploadDir {
    path: PathBuf,
}

impl UploadDir {
    /// The folder at `path`, created when missing.
    ///
    /// # Errors
    /// The folder cannot be created.
    pub fn open(path: impl Into<PathBuf>) -> io::Result<Self> {
        let path = path.into();
        std::fs::create_dir_all(&path)?;
        Ok(Self { path })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new, empty, locked upload file (deleted when the [`Upload`] is dropped).
    ///
    /// # Errors
    /// The file cannot be created or locked.
    pub fn create(&self) -> io::Result<Upload> {
        let file = tempfile::Builder::new()
            .prefix(PREFIX)
            .suffix(SUFFIX)
            .tempfile_in(&self.path)?;
        file.as_file().try_lock().map_err(io::Error::other)?;
        Ok(Upload { file })
    }

    /// Deletes the upload files no live process holds (left by a crash); returns how many.
    /// Files of other names are left alone.
    ///
    /// # Errors
    /// The folder cannot be listed.
    pub fn sweep(&self) -> io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.path)? {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !(name.starts_with(PREFIX) && name.ends_with(SUFFIX)) {
                continue;
            }
            if !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let Ok(file) = std::fs::File::open(entry.path()) else {
                continue;
            };
            // Locked: a live process's upload or import. Unlocked: nobody holds it.
            if file.try_lock().is_ok() && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// An upload file, locked while it lives and deleted when dropped.
#[derive(Debug)]
pub struct Upload {
    file: tempfile::NamedTempFile,
}

impl Upload {
    /// The file's path, for the import to read.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Appends bytes.
    ///
    /// # Errors
    /// The write failed.
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)
    }

    /// Flushes what was written.
    ///
    /// # Errors
    /// The flush failed.
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A file part received into an [`Upload`] by [`receive_file`], with what was measured while
/// it streamed.
#[derive(Debug)]
pub struct Received {
    /// The file (deleted when dropped).
    pub upload: Upload,
    /// The name the client gave in the part's `Content-Disposition` (`upload` when none);
    /// unsanitised.
    pub file_name: String,
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256: String,
    /// Size, bytes.
    pub size: u64,
    /// The first bytes (at most 64 KiB), for content sniffing.
    pub head: Vec<u8>,
    /// Whether the whole file is valid UTF-8 without a NUL byte.
    pub utf8_text: bool,
}

/// Streams one multipart file part into a new upload file of `uploads`: created, hashed and
/// written on the blocking threads in pieces of up to 1 MiB (never file I/O on an actix
/// worker), counting bytes as they arrive. Beyond `limit` bytes it stops reading and answers
/// 413; the upload file is deleted on every failure (and when the [`Received`] is dropped).
///
/// # Errors
/// [`ApiError::PayloadTooLarge`] beyond `limit`; a 400 naming `field_name` when the part
/// breaks off; a 500 when the file cannot be written.
pub async fn receive_file(
    field: &mut actix_multipart::Field,
    uploads: &UploadDir,
    limit: usize,
    field_name: &str,
) -> Result<Received, ApiError> {
    let file_name = field
        .content_disposition()
        .and_then(|d| d.get_filename())
        .unwrap_or("upload")
        .to_owned();
    let dir = uploads.clone();
    let tmp = web::block(move || dir.create())
        .await
        .map_err(internal)?
        .map_err(internal)?;
    let mut sink = Some((tmp, Sha256::new()));
    let mut piece: Vec<u8> = Vec::with_capacity(PIECE);
    let mut size = 0usize;
    let mut head: Vec<u8> = Vec::new();
    let mut text = Utf8Scan::default();
    loop {
        let chunk = match field.next().await {
            Some(chunk) => {
                Some(chunk.map_err(|e| ApiError::bad(field_name, format!("upload failed: {e}")))?)
            }
            None => None,
        };
        if let Some(chunk) = &chunk {
            size = size.saturating_add(chunk.len());
            if size > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            if head.len() < HEAD_BYTES {
                let take = (HEAD_BYTES - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
            }
            text.feed(chunk);
            piece.extend_from_slice(chunk);
        }
        if piece.len() >= PIECE || (chunk.is_none() && !piece.is_empty()) {
            let (mut tmp, mut hash) = sink.take().ok_or_else(|| internal("the upload was lost"))?;
            let bytes = std::mem::replace(&mut piece, Vec::with_capacity(PIECE));
            sink = Some(
                web::block(move || {
                    hash.update(&bytes);
                    tmp.write_all(&bytes).map(|()| (tmp, hash))
                })
                .await
                .map_err(internal)?
                .map_err(internal)?,
            );
        }
        if chunk.is_none() {
            break;
        }
    }
    let (mut upload, hash) = sink.ok_or_else(|| internal("the upload was lost"))?;
    upload.flush().map_err(internal)?;
    let sha256 = hash
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    Ok(Received {
        upload,
        file_name,
        sha256,
        size: size as u64,
        head,
        utf8_text: text.finish(),
    })
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Domain(crm_domain::DomainError::Internal(e.to_string()))
}

/// Checks, piece by piece, that a byte stream is valid UTF-8 without NUL (a character split
/// between two pieces is carried over).
#[derive(Debug, Default)]
struct Utf8Scan {
    carry: Vec<u8>,
    broken: bool,
}

impl Utf8Scan {
    fn feed(&mut self, chunk: &[u8]) {
        if self.broken {
            return;
        }
        if chunk.contains(&0) {
            self.broken = true;
            return;
        }
        let mut buf = std::mem::take(&mut self.carry);
        buf.extend_from_slice(chunk);
        match std::str::from_utf8(&buf) {
            Ok(_) => {}
            // Incomplete at the end: keep the tail (at most 3 bytes) for the next piece.
            Err(e) if e.error_len().is_none() => {
                self.carry = buf[e.valid_up_to()..].to_vec();
            }
            Err(_) => self.broken = true,
        }
    }

    fn finish(self) -> bool {
        !self.broken && self.carry.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn utf8_split_across_pieces_is_text_and_nul_or_junk_is_not() {
        let mut s = super::Utf8Scan::default();
        let bytes = "Surat é ü".as_bytes();
        let (a, b) = bytes.split_at(8);
        s.feed(a);
        s.feed(b);
        assert!(s.finish());
        let mut s = super::Utf8Scan::default();
        s.feed(b"a\0b");
        assert!(!s.finish());
        let mut s = super::Utf8Scan::default();
        s.feed(&[0xff, 0x41]);
        assert!(!s.finish());
        let mut s = super::Utf8Scan::default();
        s.feed(&[0xc3]);
        assert!(!s.finish());
    }

    use super::*;

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn an_upload_is_deleted_when_dropped_and_the_sweep_spares_held_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = UploadDir::open(tmp.path().join("uploads")).unwrap();
        let mut held = dir.create().unwrap();
        held.write_all(b"name\nBudi\n").unwrap();
        held.flush().unwrap();
        let dropped = dir.create().unwrap();
        let dropped_path = dropped.path().to_owned();
        drop(dropped);
        assert!(!dropped_path.exists());
        // A crash's leftovers, and a file that is not an upload.
        std::fs::write(dir.path().join("upload-stale.part"), b"x").unwrap();
        std::fs::write(dir.path().join("keep.txt"), b"x").unwrap();
        assert_eq!(dir.sweep().unwrap(), 1);
        let held_name = held
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(files(dir.path()), vec!["keep.txt".to_owned(), held_name]);
        drop(held);
        assert_eq!(files(dir.path()), vec!["keep.txt".to_owned()]);
    }
}
