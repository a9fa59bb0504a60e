//! `fairshare`: the chain side of Fairshare.

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "fairshare",
    version,
    about = "Fairshare: federated LoRA fine-tuning settled on a Cosmos chain"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Play one scripted round on the embedded chain and print every step and the balances.
    Demo,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Demo => fairshare_relayer::demo::run(&mut std::io::stdout()),
    }
}
