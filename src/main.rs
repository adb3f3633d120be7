//! `osprey`: one binary that runs everything. This file only wires the crates
//! together: config → storage → collector and query → servers → shutdown.

mod cli;
mod config;
mod logging;
mod ops;
mod sql_client;

use std::process::ExitCode;
use std::sync::Arc;

use axum::serve::ListenerExt;
use clap::Parser;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use cli::{Cli, Command, ConfigCommand, IndexCommand};
use config::Config;

/// jemalloc instead of glibc malloc: RSS stays near what the memory budget accounts for
/// (see the `tikv-jemallocator` note in `Cargo.toml`).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options (the `_RJEM_MALLOC_CONF` environment variable overrides them): return
/// freed pages to the OS after 1 s instead of 10 s, from a background thread. Ingest churns
/// through several kB per span (decode, Arrow, WAL frame); with the default decay those freed
/// pages stayed resident and RSS under overload sat ~300 MB above the memory budget. At 100 ms
/// (sessions 2–14) a hipstershop metrics replay spent 14 % of the server's CPU faulting in pages
/// freed a moment before; 1 s gave 1.03–1.10× the points per CPU-second with peak RSS under span
/// overload still below the 1 GiB budget, where 5 s passed it (BENCHMARKS.md, issue 5, session 15).
#[cfg(not(target_env = "msvc"))]
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8; 60] = b"dirty_decay_ms:1000,muzzy_decay_ms:0,background_thread:true\0";

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = match Config::load(args.config.as_deref(), std::env::vars()) {
                Ok(mut config) => {
                    if let Some(dir) = args.data_dir {
                        config.storage.data_dir = dir;
                    }
                    config
                }
                Err(e) => {
                    eprintln!("osprey: invalid configuration: {e}");
                    return ExitCode::from(2);
                }
            };
            logging::init(&config.log);
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("osprey: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "osprey stopped with an error");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Sql(args) => sql_client::main(&args),
        Command::Index(IndexCommand::Rebuild(args)) => {
            let storage = match Config::load(args.config.as_deref(), std::env::vars()) {
                Ok(config) => config.storage,
                Err(e) => {
                    eprintln!("osprey: invalid configuration: {e}");
                    return ExitCode::from(2);
                }
            };
            let data_dir = args.data_dir.unwrap_or(storage.data_dir);
            match osprey_storage::log_index::rebuild_all(&data_dir, storage.flush.logs_index_positions) {
                Ok((files, rows)) => {
                    println!("rebuilt the log index of {files} files ({rows} rows) in {}", data_dir.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("osprey index rebuild: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Config(ConfigCommand::Check { file }) => match Config::load(Some(&file), std::env::vars()) {
            Ok(_) => {
                println!("{}: ok", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn serve(config: Config) -> Result<(), BoxError> {
    tracing::info!(data_dir = %config.storage.data_dir.display(), "starting osprey");
    // The collector writes some WAL frames as the requests it received; replay converts them again.
    let replay: Arc<dyn osprey_storage::SourceDecoder> = Arc::new(osprey_collector::replay::Replay);
    let storage = osprey_storage::Storage::open_with(config.storage.clone(), Some(replay)).await?;

    let collector = osprey_collector::Collector::new(config.collector.clone(), storage.clone())?;
    let query = osprey_query::QueryService::for_storage(storage.clone(), config.query.clone())?;

    let scraper = osprey_collector::scrape::Scraper::start(&config.scrape_configs, collector.metrics_ingest())?;

    let mut registry = Registry::default();
    storage.register_metrics(&mut registry);
    collector.register_metrics(&mut registry);
    scraper.register_metrics(&mut registry);
    registry.register_collector(Box::new(ops::ProcessMemory));
    let registry = Arc::new(registry);

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let shutdown = move || {
        let mut rx = shutdown_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };

    let grpc_listener = TcpListener::bind(config.collector.grpc_listen).await?;
    let http_listener = TcpListener::bind(config.collector.http_listen).await?;
    let api_listener = TcpListener::bind(config.server.listen).await?;
    let flight_sql = &config.query.flight_sql;
    let flight_listener = match flight_sql.enabled {
        true => Some(TcpListener::bind(flight_sql.listen).await?),
        false => None,
    };
    tracing::info!(
        otlp_grpc = %grpc_listener.local_addr()?,
        otlp_http = %http_listener.local_addr()?,
        api = %api_listener.local_addr()?,
        flight_sql = ?flight_listener.as_ref().and_then(|l| l.local_addr().ok()),
        "listening"
    );
    let flight = osprey_query::flight_sql::OspreyFlightSql::new(query.clone())?;

    let api = osprey_query::router(query).merge(ops::router(ops::OpsState { storage: storage.clone(), registry }));
    let mut servers = tokio::task::JoinSet::new();
    let (grpc, grpc_shutdown) = (collector.clone(), shutdown());
    servers.spawn(async move { grpc.serve_grpc(grpc_listener, grpc_shutdown).await.map_err(BoxError::from) });
    let (http, http_shutdown) = (collector.clone(), shutdown());
    servers.spawn(async move { http.serve_http(http_listener, http_shutdown).await.map_err(BoxError::from) });
    let api_shutdown = shutdown();
    servers.spawn(async move {
        // No Nagle: a response's last small write must not wait for the client's delayed ACK.
        let api_listener = api_listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(api_listener, api).with_graceful_shutdown(api_shutdown).await.map_err(BoxError::from)
    });
    if let Some(listener) = flight_listener {
        let flight_shutdown = shutdown();
        servers.spawn(async move {
            osprey_query::flight_sql::serve(flight, listener, flight_shutdown).await.map_err(BoxError::from)
        });
    }

    let mut first_error = None;
    tokio::select! {
        _ = termination() => tracing::info!("shutdown requested"),
        Some(result) = servers.join_next() => {
            first_error = server_error(result);
            tracing::error!("a server stopped unexpectedly; shutting down");
        }
    }
    let _ = shutdown_tx.send(true);
    scraper.stop().await;
    while let Some(result) = servers.join_next().await {
        if let Some(e) = server_error(result) {
            first_error.get_or_insert(e);
        }
    }
    storage.close().await?;
    tracing::info!("osprey stopped");
    first_error.map_or(Ok(()), Err)
}

fn server_error(result: Result<Result<(), BoxError>, tokio::task::JoinError>) -> Option<BoxError> {
    match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(e) => Some(Box::new(e)),
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn termination() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
