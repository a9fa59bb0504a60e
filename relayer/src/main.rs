//! `fairshare`: the chain side of Fairshare.

use clap::Parser;

fn main() {
    // Before any thread exists: candle's own pool must not spin beside rayon's (BENCHMARKS.md).
    fairshare_trainer::model::init_cpu_threads();
    let cli = fairshare_relayer::cli::Cli::parse();
    if let Err(e) = fairshare_relayer::cli::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
