//! `queue`: inspect and administer job queues from a shell. See the crate's README.md.

mod cli;
mod commands;
mod duration;
mod error;
mod listing;
mod output;
mod secret;
mod time;

use std::io::Write;

use clap::error::ErrorKind;
use clap::Parser;
// Link both drivers so `Queue::connect` finds them by URL scheme.
use queue_memory as _;
use queue_redis as _;

use cli::Cli;
use commands::{Context, Report};
use error::{CliError, CliResult};
use output::{Paint, Style};
use secret::Secrets;

fn main() {
    let cli = Cli::try_parse().unwrap_or_else(|error| usage_exit(error));
    let url = cli
        .url
        .clone()
        .or_else(|| std::env::var(queue_core::URL_ENV).ok())
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| "memory://".to_string());
    let secrets = Secrets::of_url(&url);
    let json = cli.json;
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("could not start the async runtime: {e}")))
        .and_then(|runtime| runtime.block_on(run(cli, &url)));
    let stderr = Style::for_stderr();
    match outcome {
        Ok(report) => {
            for note in &report.notes {
                eprintln!(
                    "{} {}",
                    stderr.paint(Some(Paint::Yellow), "note:"),
                    secrets.mask(note)
                );
            }
            let text = if json && report.json.is_null() {
                // A command that printed as it went (`queue events`).
                String::new()
            } else if json {
                let mut text =
                    serde_json::to_string_pretty(&report.json).expect("a JSON value serializes");
                text.push('\n');
                text
            } else {
                report.text
            };
            // A closed pipe (`queue jobs ... | head`) is not an error worth reporting.
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        }
        Err(error) => {
            let line = secrets.mask(&error.to_string());
            eprintln!("{} {line}", stderr.paint(Some(Paint::Red), "error:"));
            std::process::exit(error.code());
        }
    }
}

async fn run(cli: Cli, url: &str) -> CliResult<Report> {
    let in_memory = url.starts_with("memory:");
    if in_memory {
        eprintln!(
            "note: memory:// keeps jobs inside one process only, so this command sees and \
             changes none of another program's jobs; pass --url or set {}",
            queue_core::URL_ENV
        );
    }
    let queue = queue_core::Queue::connect(url).await?;
    let cx = Context {
        queue,
        style: Style::for_stdout(cli.json),
        in_memory,
        json: cli.json,
        secrets: Secrets::of_url(url).words().to_vec(),
    };
    commands::run(&cx, cli.command).await
}

/// Ends the process for a command line clap refused: help and version as clap prints them,
/// a value that does not parse (a bad duration, a priority out of range) as one line naming
/// it, other usage errors with clap's usage text. Exit code 2 for errors. Clap quotes what was
/// typed (`unexpected argument 'redis://:pw@host'`), so passwords of URLs in it are masked.
fn usage_exit(error: clap::Error) -> ! {
    let rendered = error.render().to_string();
    let rendered = Secrets::of_urls_in(&rendered).mask(&rendered);
    let stderr = Style::for_stderr();
    match error.kind() {
        // Help text holds nothing the user typed.
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => error.exit(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            let line = rendered
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid value")
                .trim();
            let line = line.strip_prefix("error:").unwrap_or(line).trim();
            eprintln!("{} {line}", stderr.paint(Some(Paint::Red), "error:"));
        }
        _ => eprint!("{rendered}"),
    }
    std::process::exit(error::USAGE);
}
