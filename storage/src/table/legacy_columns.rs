//! The spans' dedicated columns (`spans::dedicated`) for Parquet files written before
//! they existed. DataFusion adapts each file's predicate and projection to the file's
//! own schema through a [`PhysicalExprAdapter`]; the default one reads a column the
//! file lacks as NULL, which would make `http_status_code = 500` miss every matching
//! span of such a file. This adapter first replaces a missing dedicated column by its
//! definition over the attribute map the file does have, `attributes['key']` (text
//! form) or `TRY_CAST(attributes['key'] AS DOUBLE)` (number form), then hands the
//! result to the default adapter. Statistics cannot prune such a file on that
//! predicate, so it is read as before the columns existed: slower, never wrong.

use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::physical_expr::expressions::{Column, Literal, TryCastExpr};
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr};
use datafusion::physical_expr_adapter::{
    DefaultPhysicalExprAdapterFactory, PhysicalExprAdapter, PhysicalExprAdapterFactory,
};

use crate::spans::col::ATTRIBUTES;
use crate::spans::dedicated::{by_column, Form};

#[derive(Debug)]
pub struct LegacyColumnsFactory;

impl PhysicalExprAdapterFactory for LegacyColumnsFactory {
    fn create(
        &self,
        logical_file_schema: SchemaRef,
        physical_file_schema: SchemaRef,
    ) -> DfResult<Arc<dyn PhysicalExprAdapter>> {
        let inner =
            DefaultPhysicalExprAdapterFactory.create(logical_file_schema.clone(), physical_file_schema.clone())?;
        Ok(Arc::new(LegacyColumns { inner, logical: logical_file_schema, physical: physical_file_schema }))
    }
}

#[derive(Debug)]
struct LegacyColumns {
    inner: Arc<dyn PhysicalExprAdapter>,
    logical: SchemaRef,
    physical: SchemaRef,
}

impl PhysicalExprAdapter for LegacyColumns {
    fn rewrite(&self, expr: Arc<dyn PhysicalExpr>) -> DfResult<Arc<dyn PhysicalExpr>> {
        let expr = expr
            .transform(|e| {
                let Some(column) = e.downcast_ref::<Column>() else {
                    return Ok(Transformed::no(e));
                };
                match self.definition(column.name())? {
                    Some(defined) => Ok(Transformed::yes(defined)),
                    None => Ok(Transformed::no(e)),
                }
            })
            .data()?;
        self.inner.rewrite(expr)
    }
}

impl LegacyColumns {
    /// The definition of `name` over the attribute map, when it is a dedicated column this
    /// file lacks (and the file has the map).
    fn definition(&self, name: &str) -> DfResult<Option<Arc<dyn PhysicalExpr>>> {
        let Some(dedicated) = by_column(name) else {
            return Ok(None);
        };
        if self.physical.index_of(name).is_ok() || self.physical.index_of(ATTRIBUTES).is_err() {
            return Ok(None);
        }
        let map: Arc<dyn PhysicalExpr> = Arc::new(Column::new(ATTRIBUTES, self.logical.index_of(ATTRIBUTES)?));
        let key: Arc<dyn PhysicalExpr> = Arc::new(Literal::new(ScalarValue::Utf8(Some(dedicated.key.to_string()))));
        let text: Arc<dyn PhysicalExpr> = Arc::new(ScalarFunctionExpr::try_new(
            datafusion::functions::core::get_field(),
            vec![map, key],
            &self.logical,
            Arc::new(ConfigOptions::default()),
        )?);
        Ok(Some(match dedicated.form {
            Form::Text => text,
            Form::Number => Arc::new(TryCastExpr::new(text, DataType::Float64)),
        }))
    }
}
