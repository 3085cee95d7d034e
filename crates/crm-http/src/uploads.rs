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

#[cfg(test)]
mod tests {
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
