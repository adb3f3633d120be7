//! Parquet footers *with their page indexes* kept in memory across queries.
//!
//! DataFusion's `CachedParquetFileReaderFactory` caches whatever a reader's `get_metadata`
//! fetched. But its Parquet opener asks for the footer alone (`PageIndexPolicy::Skip`) and loads
//! the page index afterwards through the reader's byte ranges, which bypasses the cache. So every
//! query read and decoded the page index of every file it opened again: that was a quarter of
//! the CPU of a trace lookup through SQL (BENCHMARKS.md, issue 6).
//!
//! The readers made here ask for the page index together with the footer. The cache then holds
//! both, and the opener finds the page index already loaded. The cache's size is
//! `query.metadata_cache_bytes`; past it, least recently used files are evicted.
//!
//! [`warm`] loads the entries of live files before any query asks, newest first, up to three
//! quarters of the cache: otherwise the first query to open each file after a start or a flush
//! reads and decodes its footer and page index (~1 ms a file), and a trace lookup that lands on
//! a file nobody opened yet takes half as long again as one that does not.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::{CachedParquetFileReaderFactory, ParquetFileReaderFactory};
use datafusion::error::Result as DfResult;
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::execution::cache::CacheValue;
use datafusion::physical_plan::metrics::{
    Count, ExecutionPlanMetricsSet, Label, MetricBuilder, MetricCategory, MetricType,
};
use futures::future::{self, BoxFuture, FutureExt as _};
use object_store::ObjectStore;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::ParquetError;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};

use crate::Storage;

/// Makes readers whose metadata comes from (and goes to) the shared cache with the page index,
/// and which read small byte ranges in place ([`LocalReader`]).
#[derive(Debug)]
pub struct PageIndexedReaderFactory(CachedParquetFileReaderFactory);

impl PageIndexedReaderFactory {
    pub fn new(store: Arc<dyn ObjectStore>, cache: Arc<FileMetadataCache>) -> Self {
        Self(CachedParquetFileReaderFactory::new(store, cache))
    }
}

impl ParquetFileReaderFactory for PageIndexedReaderFactory {
    fn create_reader(
        &self,
        partition_index: usize,
        file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> DfResult<Box<dyn AsyncFileReader + Send>> {
        // Files are on the local filesystem (`ObjectStoreUrl::local_filesystem()`), located from `/`.
        let path = PathBuf::from(format!("/{}", file.object_meta.location));
        let bytes_scanned = MetricBuilder::new(metrics)
            .with_label(Label::new("filename", file.object_meta.location.to_string()))
            .with_type(MetricType::Summary)
            .with_category(MetricCategory::Bytes)
            .counter("bytes_scanned", partition_index);
        let inner = self.0.create_reader(partition_index, file, metadata_size_hint, metrics)?;
        Ok(Box::new(LocalReader { inner, path, file: None, bytes_scanned }))
    }
}

/// A reader of a local Parquet file that asks for the page index with the footer, and reads
/// small byte ranges in place.
///
/// `object_store`'s local files run every read on tokio's blocking pool, a thread hand-off and
/// back per read; a trace lookup makes a few reads of a few KiB each (bloom filter, id pages,
/// the trace's pages of the other columns), from the page cache in microseconds, and the
/// hand-offs cost more than the reads: in place, 10–19 % less CPU per lookup (BENCHMARKS.md,
/// issue 6). Reads of more than [`IN_PLACE_READ_BYTES`] (scans of whole column chunks) still
/// go to the blocking pool, so a large read from a cold disk does not hold a query thread.
struct LocalReader {
    inner: Box<dyn AsyncFileReader + Send>,
    path: PathBuf,
    /// Opened at the first read in place.
    file: Option<File>,
    /// DataFusion's counter of the same name, for the bytes read in place (the inner reader
    /// counts its own).
    bytes_scanned: Count,
}

/// Reads (all ranges of one call together) of at most this many bytes are made in place.
const IN_PLACE_READ_BYTES: u64 = 1 << 20;

impl LocalReader {
    fn in_place(ranges: &[Range<u64>]) -> bool {
        ranges.iter().map(|r| r.end.saturating_sub(r.start)).sum::<u64>() <= IN_PLACE_READ_BYTES
    }

    fn read_in_place(&mut self, range: Range<u64>) -> parquet::errors::Result<Bytes> {
        let external = |e: std::io::Error| ParquetError::External(Box::new(e));
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(File::open(&self.path).map_err(external)?),
        };
        let mut buf = vec![0u8; range.end.saturating_sub(range.start) as usize];
        file.read_exact_at(&mut buf, range.start).map_err(external)?;
        self.bytes_scanned.add(buf.len());
        Ok(Bytes::from(buf))
    }
}

impl AsyncFileReader for LocalReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        if !Self::in_place(std::slice::from_ref(&range)) {
            return self.inner.get_bytes(range);
        }
        future::ready(self.read_in_place(range)).boxed()
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        if !Self::in_place(&ranges) {
            return self.inner.get_byte_ranges(ranges);
        }
        future::ready(ranges.into_iter().map(|r| self.read_in_place(r)).collect()).boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        let options = options.cloned().unwrap_or_default().with_page_index_policy(PageIndexPolicy::Optional);
        async move { self.inner.get_metadata(Some(&options)).await }.boxed()
    }
}

/// Share of the cache [`warm`] fills: the rest is left to entries queries load themselves (e.g.
/// of files the warm-up found no room for), so warming never evicts what queries use.
const WARM_SHARE: (usize, usize) = (3, 4);

/// What one [`warm`] pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Warmed {
    /// Entries loaded into the cache.
    pub files: usize,
    /// Their size, as the cache counts it.
    pub bytes: usize,
}

/// Loads the footers and page indexes of `storage`'s live files not in `cache` yet, newest first,
/// as a query opening them would, until the cache holds [`WARM_SHARE`] of its limit. A file that
/// cannot be read is skipped (a query will report it). Run it after start and after flushes.
pub async fn warm(storage: &Storage, store: Arc<dyn ObjectStore>, cache: Arc<FileMetadataCache>) -> Warmed {
    let mut used: usize = cache.list_entries().values().map(|e| e.size_bytes).sum();
    let room = cache.cache_limit() / WARM_SHARE.1 * WARM_SHARE.0;
    let mut files = storage.files();
    files.sort_by_key(|f| std::cmp::Reverse(f.max_time_ns));
    let factory = PageIndexedReaderFactory::new(store, Arc::clone(&cache));
    let metrics = ExecutionPlanMetricsSet::new();
    let mut warmed = Warmed::default();
    for file in files {
        if used >= room {
            break;
        }
        let part = crate::table::partitioned_file(storage.data_dir(), &file);
        let key = part.object_meta.location.clone();
        if cache.contains_key(&key) {
            continue;
        }
        let Ok(mut reader) = factory.create_reader(0, part, None, &metrics) else { continue };
        if let Err(e) = reader.get_metadata(None).await {
            tracing::debug!(file = %file.path, error = %e, "metadata cache warm-up skipped a file");
            continue;
        }
        if let Some(entry) = cache.get(&key) {
            let bytes = CacheValue::size(&entry);
            used += bytes;
            warmed.bytes += bytes;
            warmed.files += 1;
        }
    }
    warmed
}

#[cfg(test)]
mod tests;
