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

use std::sync::Arc;

use bytes::Bytes;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::{CachedParquetFileReaderFactory, ParquetFileReaderFactory};
use datafusion::error::Result as DfResult;
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::future::{BoxFuture, FutureExt as _};
use object_store::ObjectStore;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};

/// Makes readers whose metadata comes from (and goes to) the shared cache with the page index.
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
        let reader = self.0.create_reader(partition_index, file, metadata_size_hint, metrics)?;
        Ok(Box::new(WithPageIndex(reader)))
    }
}

/// A reader that always asks for the page index with the footer.
struct WithPageIndex(Box<dyn AsyncFileReader + Send>);

impl AsyncFileReader for WithPageIndex {
    fn get_bytes(&mut self, range: std::ops::Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.0.get_bytes(range)
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        self.0.get_byte_ranges(ranges)
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        let options = options.cloned().unwrap_or_default().with_page_index_policy(PageIndexPolicy::Optional);
        async move { self.0.get_metadata(Some(&options)).await }.boxed()
    }
}

#[cfg(test)]
mod tests;
