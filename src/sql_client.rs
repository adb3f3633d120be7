//! `osprey sql "SELECT …"`: POSTs the statement to a running Osprey's
//! `/api/v1/sql` and prints the answer: a table (from the Arrow IPC answer,
//! with arrow's pretty printer) or the JSON / CSV body as-is.

use std::process::ExitCode;

use arrow::ipc::reader::StreamReader;
use arrow::record_batch::RecordBatch;

use crate::cli::{SqlArgs, SqlFormat};

#[derive(Debug, thiserror::Error)]
pub enum SqlClientError {
    #[error("cannot reach {url}: {source}")]
    Request { url: String, source: reqwest::Error },
    #[error("{status}: {message}")]
    Refused { status: u16, message: String },
    #[error("unreadable answer: {0}")]
    Answer(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs the subcommand: exit 0 with the answer on stdout, 1 with the error on stderr.
pub fn main(args: &SqlArgs) -> ExitCode {
    match run(args) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("osprey sql: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &SqlArgs) -> Result<String, SqlClientError> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(SqlClientError::Runtime)?;
    runtime.block_on(query(args))
}

async fn query(args: &SqlArgs) -> Result<String, SqlClientError> {
    let url = format!("{}/api/v1/sql", args.api.trim_end_matches('/'));
    let accept = match args.format {
        SqlFormat::Table => "application/vnd.apache.arrow.stream",
        SqlFormat::Json => "application/json",
        SqlFormat::Csv => "text/csv",
    };
    let response = reqwest::Client::new()
        .post(&url)
        .header("content-type", "text/plain; charset=utf-8")
        .header("accept", accept)
        .body(args.sql.clone())
        .send()
        .await
        .map_err(|source| SqlClientError::Request { url: url.clone(), source })?;
    let status = response.status();
    let rows = header(&response, "x-osprey-row-count");
    let elapsed = header(&response, "x-osprey-elapsed-ms");
    let body = response.bytes().await.map_err(|source| SqlClientError::Request { url: url.clone(), source })?;
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        return Err(SqlClientError::Refused { status: status.as_u16(), message });
    }
    match args.format {
        SqlFormat::Json | SqlFormat::Csv => {
            let mut text = String::from_utf8_lossy(&body).into_owned();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            Ok(text)
        }
        SqlFormat::Table => {
            let batches = decode(&body)?;
            let table = arrow::util::pretty::pretty_format_batches(&batches)
                .map_err(|e| SqlClientError::Answer(e.to_string()))?;
            let rows = rows.unwrap_or_else(|| batches.iter().map(RecordBatch::num_rows).sum::<usize>().to_string());
            let plural = if rows == "1" { "" } else { "s" };
            let timing = elapsed.map(|ms| format!(" in {ms} ms")).unwrap_or_default();
            Ok(format!("{table}\n({rows} row{plural}{timing})\n"))
        }
    }
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn decode(body: &[u8]) -> Result<Vec<RecordBatch>, SqlClientError> {
    let reader = StreamReader::try_new(body, None).map_err(|e| SqlClientError::Answer(e.to_string()))?;
    reader.collect::<Result<Vec<_>, _>>().map_err(|e| SqlClientError::Answer(e.to_string()))
}
