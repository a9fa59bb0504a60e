//! `fairshare-shapley`: Shapley values of a utility table or a built-in game, as JSON.

use anyhow::Context;
use clap::Parser;
use fairshare_shapley::cli::{run, ShapleyArgs};

/// Shapley values of a utility table or a built-in game, printed as JSON.
#[derive(Debug, Parser)]
#[command(name = "fairshare-shapley", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    args: ShapleyArgs,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let report = run(&cli.args).context("shapley valuation failed")?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
