//! What a server's data directory holds on disk, for the benchmarks' bytes-per-item figures.

use std::path::Path;

/// Bytes of the files under `dir` (recursively) whose name ends with `suffix` (`""`: all);
/// 0 when `dir` does not exist.
pub fn bytes_under(dir: &Path, suffix: &str) -> std::io::Result<u64> {
    if !dir.exists() {
        return Ok(0);
    }
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            total += bytes_under(&entry.path(), suffix)?;
        } else if entry.file_name().to_string_lossy().ends_with(suffix) {
            total += meta.len();
        }
    }
    Ok(total)
}
