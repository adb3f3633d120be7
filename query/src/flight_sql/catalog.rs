//! What Flight SQL's catalog commands list: the session's own catalog, walked
//! at the time of the call, so a table registered in the session (`spans`,
//! `logs`, `metrics`, …) is listed without being named here. With
//! `information_schema` on (as [`crate::QueryService`] sets it), its views are
//! listed too, as SQL can query them.

use arrow::datatypes::SchemaRef;
use datafusion::catalog::SchemaProvider;
use datafusion::common::TableReference;
use datafusion::datasource::TableType;
use datafusion::prelude::SessionContext;
use std::sync::Arc;

use crate::error::Result;

/// The schema name of DataFusion's information schema.
const INFORMATION_SCHEMA: &str = "information_schema";

/// One table as Flight SQL lists it.
#[derive(Debug)]
pub struct ListedTable {
    pub catalog: String,
    pub schema: String,
    pub name: String,
    /// Flight SQL's (JDBC's) table type: `TABLE`, `VIEW` or `LOCAL TEMPORARY`.
    pub table_type: &'static str,
    pub arrow_schema: SchemaRef,
}

/// Every `(catalog, schema)` of the session, in name order.
pub fn schemas(ctx: &SessionContext) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for catalog in sorted(ctx.catalog_names()) {
        for schema in schema_providers(ctx, &catalog) {
            out.push((catalog.clone(), schema.0));
        }
    }
    out
}

/// Every table of the session, in (catalog, schema, name) order.
pub async fn tables(ctx: &SessionContext) -> Result<Vec<ListedTable>> {
    let mut out = Vec::new();
    for catalog in sorted(ctx.catalog_names()) {
        for (schema, provider) in schema_providers(ctx, &catalog) {
            for name in sorted(provider.table_names()) {
                let Some(table) = provider.table(&name).await? else { continue };
                out.push(ListedTable {
                    catalog: catalog.clone(),
                    schema: schema.clone(),
                    name,
                    table_type: table_type(table.table_type()),
                    arrow_schema: table.schema(),
                });
            }
        }
    }
    Ok(out)
}

/// The table types the catalog can hold, as [`ListedTable::table_type`] names them.
pub const TABLE_TYPES: [&str; 3] = ["LOCAL TEMPORARY", "TABLE", "VIEW"];

fn table_type(t: TableType) -> &'static str {
    match t {
        TableType::Base => "TABLE",
        TableType::View => "VIEW",
        TableType::Temporary => "LOCAL TEMPORARY",
    }
}

/// The schemas of one catalog, with the information schema when the session has it on.
fn schema_providers(ctx: &SessionContext, catalog: &str) -> Vec<(String, Arc<dyn SchemaProvider>)> {
    let Some(provider) = ctx.catalog(catalog) else { return Vec::new() };
    let mut out: Vec<(String, Arc<dyn SchemaProvider>)> = sorted(provider.schema_names())
        .into_iter()
        .filter_map(|name| provider.schema(&name).map(|schema| (name, schema)))
        .collect();
    let state = ctx.state();
    if state.config().information_schema() && !out.iter().any(|(name, _)| name == INFORMATION_SCHEMA) {
        if let Ok(info) = state.schema_for_ref(TableReference::full(catalog, INFORMATION_SCHEMA, "tables")) {
            out.push((INFORMATION_SCHEMA.to_string(), info));
            out.sort_by(|a, b| a.0.cmp(&b.0));
        }
    }
    out
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}
