//! Command line: `osprey serve`, `osprey config check FILE`, `osprey sql "SELECT …"`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "osprey", version, about = "Observability backend: OTLP in, Parquet on disk, SQL and trace APIs out")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run Osprey: OTLP receivers, storage, and the query API.
    Serve(ServeArgs),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run read-only SQL on a running Osprey (POST /api/v1/sql) and print the answer.
    Sql(SqlArgs),
    /// The full-text index of the logs (derived data).
    #[command(subcommand)]
    Index(IndexCommand),
}

#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Recreate the tantivy index of every logs Parquet file from the Parquet itself. Run it with
    /// Osprey stopped (it refuses while the data directory is in use).
    Rebuild(ServeArgs),
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The statement: SELECT, WITH, EXPLAIN, SHOW or DESCRIBE.
    pub sql: String,
    /// Base URL of Osprey's API port.
    #[arg(long, env = "OSPREY_API", default_value = "http://127.0.0.1:3200")]
    pub api: String,
    /// `table` (aligned text), `json` or `csv` (the API's answer as-is).
    #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
    pub format: SqlFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SqlFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The config file (YAML). Without it, defaults apply; `OSPREY_…` env variables override either.
    #[arg(long, short, env = "OSPREY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory; overrides `storage.data_dir`.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a config file (and the current `OSPREY_…` overrides); errors name the line.
    Check { file: PathBuf },
}
