//! The manifest: an append-only log of small JSON deltas,
//! `manifest/<version:020>.json`, each published atomically (temp file, fsync,
//! rename, fsync directory). The fold of all deltas is the live file set and the
//! WAL checkpoint (the first segment whose rows are not in Parquet yet).
//!
//! Not done yet: checkpointing the log (folding old deltas into one snapshot
//! file) — deltas are tiny and one is written per flush, so the fold stays cheap
//! for a long time.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, StorageError};

pub const DIR: &str = "manifest";
/// Suffix of files being written; never live, deleted on open.
pub const TEMP_SUFFIX: &str = ".tmp";

/// A Parquet file as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the data directory, `/`-separated.
    pub path: String,
    pub table: String,
    pub tenant: String,
    /// Start of the hour the file's rows belong to, unix seconds.
    pub partition_hour_unix: i64,
    pub min_time_ns: i64,
    pub max_time_ns: i64,
    pub rows: u64,
    pub bytes: u64,
}

/// One published change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    pub version: u64,
    pub added: Vec<FileEntry>,
    pub removed: Vec<String>,
    pub wal_checkpoint: u64,
}

/// The fold of all deltas.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestState {
    /// Last published version (0 = none).
    pub version: u64,
    pub files: BTreeMap<String, FileEntry>,
    pub wal_checkpoint: u64,
}

impl ManifestState {
    fn apply(&mut self, delta: Delta) {
        for path in &delta.removed {
            self.files.remove(path);
        }
        for file in delta.added {
            self.files.insert(file.path.clone(), file);
        }
        self.wal_checkpoint = self.wal_checkpoint.max(delta.wal_checkpoint);
        self.version = delta.version;
    }
}

/// Writer of the delta log. One flush publishes at a time (the caller serializes).
#[derive(Debug)]
pub struct Manifest {
    dir: PathBuf,
    state: ManifestState,
}

impl Manifest {
    /// Folds every delta in `data_dir/manifest` (creating the directory) and
    /// deletes stray temp files. A delta that does not parse fails the open:
    /// ignoring it would make its files look like orphans and delete them.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join(DIR);
        fs::create_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
        let mut versions = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| StorageError::io(&dir, e))? {
            let entry = entry.map_err(|e| StorageError::io(&dir, e))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(TEMP_SUFFIX) {
                tracing::warn!(path = %path.display(), "removing unpublished manifest temp file");
                fs::remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
                continue;
            }
            match name.strip_suffix(".json").and_then(|v| v.parse::<u64>().ok()) {
                Some(version) => versions.push((version, path)),
                None => tracing::warn!(path = %path.display(), "ignoring unknown file in the manifest directory"),
            }
        }
        versions.sort();
        let mut state = ManifestState::default();
        for (version, path) in versions {
            let text = fs::read(&path).map_err(|e| StorageError::io(&path, e))?;
            let delta: Delta = serde_json::from_slice(&text)
                .map_err(|e| StorageError::Corrupt(format!("manifest delta {}: {e}", path.display())))?;
            if delta.version != version {
                return Err(StorageError::Corrupt(format!(
                    "manifest delta {} says version {}",
                    path.display(),
                    delta.version
                )));
            }
            state.apply(delta);
        }
        tracing::info!(
            version = state.version,
            files = state.files.len(),
            wal_checkpoint = state.wal_checkpoint,
            "manifest loaded"
        );
        Ok(Self { dir, state })
    }

    pub fn state(&self) -> &ManifestState {
        &self.state
    }

    /// Publishes a delta atomically and applies it to the in-memory state.
    pub fn publish(&mut self, added: Vec<FileEntry>, removed: Vec<String>, wal_checkpoint: u64) -> Result<Delta> {
        let delta = Delta { version: self.state.version + 1, added, removed, wal_checkpoint };
        let json = serde_json::to_vec_pretty(&delta)
            .map_err(|e| StorageError::Internal(format!("serializing manifest delta: {e}")))?;
        let name = format!("{:020}.json", delta.version);
        write_atomically(&self.dir, &name, &json)?;
        self.state.apply(delta.clone());
        tracing::info!(version = delta.version, added = delta.added.len(), wal_checkpoint, "manifest delta published");
        Ok(delta)
    }
}

/// Writes `dir/name` so that it either exists complete or not at all:
/// temp file, fsync, rename, fsync directory.
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let temp = dir.join(format!("{name}{TEMP_SUFFIX}"));
    let target = dir.join(name);
    let mut file = fs::File::create(&temp).map_err(|e| StorageError::io(&temp, e))?;
    file.write_all(bytes).map_err(|e| StorageError::io(&temp, e))?;
    file.sync_all().map_err(|e| StorageError::io(&temp, e))?;
    drop(file);
    fs::rename(&temp, &target).map_err(|e| StorageError::io(&target, e))?;
    sync_dir(dir)
}

/// fsyncs a directory so that renames and new entries in it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StorageError::io(dir, e))
}

/// Deletes Parquet files under `data_dir/<table>/` that `live` does not list
/// (written before a crash, never published; their rows are still in the WAL)
/// and temp files. Returns how many files were removed.
pub fn remove_orphans(data_dir: &Path, table_dirs: &[&str], live: &BTreeMap<String, FileEntry>) -> Result<usize> {
    let mut removed = 0;
    for table in table_dirs {
        let root = data_dir.join(table);
        if !root.exists() {
            continue;
        }
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).map_err(|e| StorageError::io(&dir, e))? {
                let entry = entry.map_err(|e| StorageError::io(&dir, e))?;
                let path = entry.path();
                let kind = entry.file_type().map_err(|e| StorageError::io(&path, e))?;
                if kind.is_dir() {
                    stack.push(path);
                    continue;
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                let relative = relative_path(data_dir, &path);
                let orphan = name.ends_with(TEMP_SUFFIX)
                    || (name.ends_with(".parquet") && !relative.as_ref().is_some_and(|r| live.contains_key(r)));
                if orphan {
                    tracing::warn!(path = %path.display(), "removing file not listed in the manifest");
                    fs::remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
                    removed += 1;
                }
            }
        }
    }
    Ok(removed)
}

/// `path` relative to `base`, `/`-separated, as the manifest stores it.
pub fn relative_path(base: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(base).ok()?;
    let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests;
