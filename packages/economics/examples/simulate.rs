//! `fairshare simulate` without the relayer: the same flags, the same report.
//!
//! `cargo run --release -p fairshare-economics --example simulate -- --out /tmp/sim-report`

use clap::Parser;
use fairshare_economics::cli::{run, SimulateArgs};

/// Strategic-agent simulation of Fairshare's allocation schemes.
#[derive(Parser)]
#[command(name = "simulate")]
struct Cli {
    #[command(flatten)]
    sim: SimulateArgs,
}

fn main() {
    let cli = Cli::parse();
    match run(&cli.sim) {
        Ok(v) => {
            if cli.sim.json {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
