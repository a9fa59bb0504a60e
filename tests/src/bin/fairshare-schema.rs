//! Writes every contract's JSON schema into the folder given as the only argument: one folder
//! per contract, `<dir>/<contract>/<contract>.json`, plus the CW20 hook payloads under
//! `<dir>/<contract>/raw/`. Files this generator does not write are removed from `<dir>`.

use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "schema".into()));
    std::fs::create_dir_all(&dir)?;
    let files = fairshare_integration_tests::schemas();
    for stale in json_files(&dir)? {
        let rel = stale
            .strip_prefix(&dir)?
            .to_string_lossy()
            .replace('\\', "/");
        if !files.iter().any(|(name, _)| *name == rel) {
            std::fs::remove_file(&stale)?;
            println!("removed {}", stale.display());
        }
    }
    for (name, json) in files {
        let path = dir.join(&name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, json)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Every `.json` file under `dir`, recursively.
fn json_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(json_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(out)
}
