//! Command line: `osprey serve`, `osprey config check FILE`.

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
