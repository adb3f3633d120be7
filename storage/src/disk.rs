//! Free space of the data directory's filesystem, for admission: writes are
//! refused while less than the configured reserve is free. `statvfs` is called
//! at most once a second; admissions in between use the cached value.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::{Result, StorageError};

const REFRESH: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct DiskSpace {
    path: PathBuf,
    reserve: u64,
    /// (when measured, free bytes)
    cached: Mutex<Option<(Instant, u64)>>,
}

impl DiskSpace {
    pub fn new(path: PathBuf, reserve: u64) -> Self {
        Self { path, reserve, cached: Mutex::new(None) }
    }

    /// Fails with [`StorageError::DiskFull`] when free space is below the reserve.
    pub fn check(&self) -> Result<()> {
        if self.reserve == 0 {
            return Ok(());
        }
        let free = self.free_bytes()?;
        if free < self.reserve {
            return Err(StorageError::DiskFull { path: self.path.clone(), free, reserve: self.reserve });
        }
        Ok(())
    }

    /// Bytes available to unprivileged users, at most a second old.
    pub fn free_bytes(&self) -> Result<u64> {
        let mut cached = self.cached.lock();
        if let Some((at, free)) = *cached {
            if at.elapsed() < REFRESH {
                return Ok(free);
            }
        }
        let free = statvfs_free(&self.path)?;
        *cached = Some((Instant::now(), free));
        Ok(free)
    }
}

fn statvfs_free(path: &Path) -> Result<u64> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| StorageError::InvalidInput(format!("path contains NUL: {}", path.display())))?;
    // SAFETY: `statvfs` is plain old data; all-zero is a valid value and the call fills it in.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a valid NUL-terminated string and `stat` a valid, writable struct.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) };
    if rc != 0 {
        return Err(StorageError::io(path, std::io::Error::last_os_error()));
    }
    #[allow(clippy::useless_conversion)] // the field widths differ between platforms
    Ok(u64::from(stat.f_bavail).saturating_mul(u64::from(stat.f_frsize)))
}

#[cfg(test)]
mod tests;
