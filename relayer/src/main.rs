//! `fairshare`: the chain side of Fairshare.

use clap::Parser;

fn main() {
    let cli = fairshare_relayer::cli::Cli::parse();
    if let Err(e) = fairshare_relayer::cli::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
