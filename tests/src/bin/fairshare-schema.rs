//! Writes every contract's JSON schema into the folder given as the only argument.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "schema".into()));
    std::fs::create_dir_all(&dir)?;
    for (name, json) in fairshare_integration_tests::schemas() {
        let path = dir.join(name);
        std::fs::write(&path, json)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
