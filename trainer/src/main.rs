//! `fairshare-trainer`: train, evaluate, perplexity. See `fairshare-trainer --help`.

use clap::Parser;
use fairshare_trainer::cli::{run, Cli};

fn main() -> std::process::ExitCode {
    // Before any thread exists: candle's own pool must not spin beside rayon's (BENCHMARKS.md).
    fairshare_trainer::model::init_cpu_threads();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_else(|_| report.to_string())
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
