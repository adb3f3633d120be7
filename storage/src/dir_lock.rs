//! One process per data directory: an exclusive `flock` on `<data_dir>/LOCK`, held as long as
//! the storage engine (or an offline tool such as `osprey index rebuild`) uses the directory.
//! Two writers on one WAL and manifest would corrupt both; the second one is refused at start
//! with an error that says so. The kernel drops the lock when the process dies, `kill -9`
//! included, so a crash never leaves a stale lock behind.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::{Result, StorageError};

pub const LOCK_FILE: &str = "LOCK";

/// The held lock; dropping it (closing the file) releases it.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock of `data_dir` (which must exist), or fails at once if another process holds it.
    pub fn acquire(data_dir: &Path) -> Result<DirLock> {
        let path = data_dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StorageError::io(&path, e))?;
        // SAFETY: flock on a file descriptor we own for the duration of the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let error = std::io::Error::last_os_error();
            return Err(match error.raw_os_error() {
                Some(libc::EWOULDBLOCK) => StorageError::InvalidInput(format!(
                    "data directory {} is in use by another Osprey process (lock {})",
                    data_dir.display(),
                    path.display()
                )),
                _ => StorageError::io(&path, error),
            });
        }
        Ok(DirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().expect("dir");
        let first = DirLock::acquire(dir.path()).expect("first");
        let err = DirLock::acquire(dir.path()).expect_err("second");
        assert!(err.to_string().contains("in use by another Osprey process"), "{err}");
        drop(first);
        DirLock::acquire(dir.path()).expect("free again");
    }
}
