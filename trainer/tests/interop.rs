//! Interoperability with Hugging Face transformers and PEFT (`make interop`; ignored by plain
//! `cargo test` because it needs the Python venv that `make venv` builds).
//!
//! For tiny models written here (separate and tied output embeddings), transformers must give
//! candle's logits, and PEFT with our adapters (a trained-shape adapter and a rank-stacked
//! aggregate) must give candle's logits with them, within 1e-4.

use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::{DType, Device, Tensor};
use fairshare_trainer::aggregate::aggregate;
use fairshare_trainer::bundle::{write_bundle, BundleInfo};
use fairshare_trainer::config::LoraConfig;
use fairshare_trainer::lora::LoraAdapter;
use fairshare_trainer::model::load_model;
use fairshare_trainer::testing::{random_adapter, tiny_config, write_tiny_model};

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("FAIRSHARE_PYTHON") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("FAIRSHARE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(&std::env::var_os("HOME").unwrap_or_default()).join(".cache/fairshare")
        });
    let p = cache.join("venv/bin/python");
    assert!(
        p.is_file(),
        "{} not found: run `make venv` (or set FAIRSHARE_PYTHON)",
        p.display()
    );
    p
}

fn logits_json(t: &Tensor) -> serde_json::Value {
    serde_json::to_value(t.to_vec3::<f32>().unwrap()).unwrap()
}

#[test]
#[ignore = "needs the Python venv: run `make interop`"]
fn transformers_and_peft_match_candle() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/interop_check.py");
    for tied in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let model_dir = dir.path().join("model");
        let cfg = tiny_config(tied);
        write_tiny_model(&model_dir, &cfg, 77 + tied as u64).unwrap();
        let loaded = load_model(&model_dir, DType::F32, &Device::Cpu).unwrap();
        let model = &loaded.model;

        let all = LoraConfig {
            r: 4,
            alpha: 8.0,
            dropout: 0.1,
            target_modules: fairshare_trainer::config::LORA_MODULES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        };
        let qv = LoraConfig {
            r: 2,
            alpha: 16.0,
            ..LoraConfig::default()
        };
        let qv2 = LoraConfig {
            r: 3,
            alpha: 3.0,
            ..LoraConfig::default()
        };
        let single = random_adapter(&cfg, &all, 1, DType::F32).unwrap();
        let a = random_adapter(&cfg, &qv, 2, DType::F32).unwrap();
        let b = random_adapter(&cfg, &qv2, 3, DType::F32).unwrap();
        let agg = aggregate(&[&a, &b], &[0.6, 0.4]).unwrap().unwrap();

        let text = "the other one is there, though the rest are not.";
        let ids: Vec<u32> = loaded.tokenizer.encode(text).unwrap();
        let t = ids.len().min(24);
        let batch: Vec<u32> = ids[..t]
            .iter()
            .chain(ids[ids.len() - t..].iter())
            .copied()
            .collect();
        let input = Tensor::from_vec(batch.clone(), (2, t), &Device::Cpu).unwrap();

        let mut logits = serde_json::Map::new();
        logits.insert(
            "base".into(),
            logits_json(&model.forward(&input, None, None).unwrap()),
        );
        let mut args: Vec<String> = Vec::new();
        for (name, adapter) in [("all_modules", &single), ("aggregate", &agg)] {
            let out = dir.path().join(name);
            write_bundle(&out, adapter as &LoraAdapter, &BundleInfo::default()).unwrap();
            logits.insert(
                name.into(),
                logits_json(&model.forward(&input, Some(adapter), None).unwrap()),
            );
            args.push("--adapter".into());
            args.push(format!("{name}={}", out.display()));
        }
        let ids_2d: Vec<Vec<u32>> = batch.chunks(t).map(|c| c.to_vec()).collect();
        let json = serde_json::json!({ "ids": ids_2d, "logits": logits });
        let candle_path = dir.path().join("candle.json");
        std::fs::write(&candle_path, json.to_string()).unwrap();

        let out = Command::new(python())
            .arg(&script)
            .arg("--model")
            .arg(&model_dir)
            .arg("--candle")
            .arg(&candle_path)
            .args(&args)
            .output()
            .expect("the venv's python runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        eprintln!("tied = {tied}: {stdout}");
        assert!(
            out.status.success(),
            "interop check failed (tied = {tied}):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
