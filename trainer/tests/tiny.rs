//! Tests on tiny random-weight models that the tests write themselves: gradients, training,
//! bundles, aggregation, coalition utilities and RoPE layouts.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use fairshare_trainer::aggregate::{aggregate, dense_deltas};
use fairshare_trainer::bundle::{read_bundle, update_hash, write_bundle, BundleInfo};
use fairshare_trainer::config::{LoraConfig, RopeLayout, TrainConfig, LORA_MODULES};
use fairshare_trainer::eval::{coalition_from_mask, evaluate_loss, CoalitionEvaluator, Weighting};
use fairshare_trainer::lora::LoraAdapter;
use fairshare_trainer::model::{load_model, LlamaModel};
use fairshare_trainer::testing::{
    random_adapter, random_weights, randomize_b, tiny_config, write_tiny_model,
};
use fairshare_trainer::TrainerError;

const TEXT: &str = "the cat sat on the mat. the dog sat on the log. ";

fn all_modules(r: usize) -> LoraConfig {
    LoraConfig {
        r,
        alpha: 2.0 * r as f64,
        dropout: 0.0,
        target_modules: LORA_MODULES.iter().map(|s| s.to_string()).collect(),
    }
}

fn tiny_model(dtype: DType, tied: bool) -> LlamaModel {
    let cfg = tiny_config(tied);
    let w = random_weights(&cfg, 7).expect("random weights");
    LlamaModel::from_weights(cfg, w, dtype, &Device::Cpu).expect("tiny model builds")
}

fn batch(model: &LlamaModel) -> Tensor {
    let ids: Vec<u32> = TEXT.bytes().map(u32::from).take(2 * 17).collect();
    Tensor::from_vec(ids, (2, 17), model.device()).expect("batch")
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

#[test]
fn every_lora_tensor_receives_a_nonzero_gradient() {
    for tied in [false, true] {
        let model = tiny_model(DType::F32, tied);
        let adapter =
            LoraAdapter::init(model.config(), &all_modules(4), 1, DType::F32, &Device::Cpu)
                .unwrap();
        // With B = 0 (PEFT's init) A gets no gradient at the first step; give B values.
        randomize_b(&adapter, 0.1, 2).unwrap();
        let loss = model.loss(&batch(&model), Some(&adapter), None).unwrap();
        let grads = loss.backward().unwrap();
        assert_eq!(
            adapter.vars().len(),
            2 * 7 * model.config().num_hidden_layers
        );
        for (key, pair) in &adapter.modules {
            for (t, which) in [(&pair.a, "A"), (&pair.b, "B")] {
                let g = grads.get(t).unwrap_or_else(|| {
                    panic!("{} lora_{which} has no gradient", key.peft_prefix())
                });
                let norm = g
                    .sqr()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                assert!(
                    norm > 0.0,
                    "{} lora_{which} gradient is zero",
                    key.peft_prefix()
                );
            }
        }
    }
}

#[test]
fn finite_differences_agree_with_autograd() {
    let model = tiny_model(DType::F64, false);
    let adapter =
        LoraAdapter::init(model.config(), &all_modules(2), 3, DType::F64, &Device::Cpu).unwrap();
    randomize_b(&adapter, 0.1, 4).unwrap();
    let tokens = batch(&model);
    let loss = model.loss(&tokens, Some(&adapter), None).unwrap();
    let grads = loss.backward().unwrap();
    let eps = 1e-6;
    let mut checked = 0;
    for (vi, var) in adapter.vars().iter().enumerate().step_by(5) {
        let g = grads
            .get(var.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let orig = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        for idx in [0, orig.len() / 2, orig.len() - 1] {
            let eval_at = |delta: f64| {
                let mut v = orig.clone();
                v[idx] += delta;
                var.set(&Tensor::from_vec(v, var.shape(), var.device()).unwrap())
                    .unwrap();
                let l = model.loss(&tokens, Some(&adapter), None).unwrap();
                l.to_scalar::<f64>().unwrap()
            };
            let numeric = (eval_at(eps) - eval_at(-eps)) / (2.0 * eps);
            var.set(&Tensor::from_vec(orig.clone(), var.shape(), var.device()).unwrap())
                .unwrap();
            let tol = 1e-6 + 1e-4 * numeric.abs().max(g[idx].abs());
            assert!(
                (numeric - g[idx]).abs() < tol,
                "var {vi} entry {idx}: finite difference {numeric} vs autograd {}",
                g[idx]
            );
            checked += 1;
        }
    }
    assert!(checked >= 9);
}

#[test]
fn interleaved_rope_on_gguf_order_equals_split_half_on_hf_order() {
    let cfg = tiny_config(false);
    let w = random_weights(&cfg, 11).unwrap();
    let hf = LlamaModel::from_weights(cfg.clone(), w.clone(), DType::F32, &Device::Cpu).unwrap();
    let mut permuted: HashMap<String, Tensor> = w.clone();
    for (name, t) in w.iter() {
        if name.ends_with("q_proj.weight") {
            permuted.insert(
                name.clone(),
                fairshare_trainer::gguf::permute_qk(t, cfg.num_attention_heads).unwrap(),
            );
        } else if name.ends_with("k_proj.weight") {
            permuted.insert(
                name.clone(),
                fairshare_trainer::gguf::permute_qk(t, cfg.kv_heads()).unwrap(),
            );
        }
    }
    let mut icfg = cfg.clone();
    icfg.rope_layout = RopeLayout::Interleaved;
    let inter = LlamaModel::from_weights(icfg, permuted.clone(), DType::F32, &Device::Cpu).unwrap();
    let wrong = LlamaModel::from_weights(cfg.clone(), permuted, DType::F32, &Device::Cpu).unwrap();
    let ids = batch(&hf);
    let a = hf.forward(&ids, None, None).unwrap();
    let b = inter.forward(&ids, None, None).unwrap();
    let c = wrong.forward(&ids, None, None).unwrap();
    assert!(
        max_abs_diff(&a, &b) < 1e-4,
        "layouts disagree: {}",
        max_abs_diff(&a, &b)
    );
    assert!(
        max_abs_diff(&a, &c) > 1e-3,
        "mixing layouts should change the logits"
    );
    // Undoing the permutation restores Hugging Face order exactly.
    let q = &w["model.layers.0.self_attn.q_proj.weight"];
    let back = fairshare_trainer::gguf::unpermute_qk(
        &fairshare_trainer::gguf::permute_qk(q, 4).unwrap(),
        4,
    )
    .unwrap();
    assert_eq!(max_abs_diff(q, &back), 0.0);
}

fn write_corpus(dir: &std::path::Path) -> std::path::PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("more")).unwrap();
    std::fs::write(data.join("a.txt"), TEXT.repeat(12)).unwrap();
    std::fs::write(
        data.join("more/b.txt"),
        "the mat is on the cat. ".repeat(12),
    )
    .unwrap();
    data
}

fn train_config(dir: &std::path::Path, out: &str) -> TrainConfig {
    let mut cfg = TrainConfig::new(dir.join("model"), write_corpus(dir), dir.join(out));
    cfg.lora = all_modules(4);
    cfg.seq_len = 32;
    cfg.batch_size = 4;
    cfg.steps = 30;
    cfg.learning_rate = 1e-2;
    cfg.warmup_steps = 3;
    cfg.seed = 5;
    cfg.progress = false;
    cfg.round = 3;
    cfg.participant = "wasm1alice".into();
    cfg
}

#[test]
fn training_lowers_the_loss_and_writes_a_bundle() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(&dir.path().join("model"), &tiny_config(false), 21).unwrap();
    let cfg = train_config(dir.path(), "bundle");
    let report = fairshare_trainer::train::train(&cfg).unwrap();
    assert_eq!(report.steps, 30);
    assert!(report.final_loss < report.first_loss, "{report:?}");

    let loaded = load_model(&cfg.model, DType::F32, &Device::Cpu).unwrap();
    let bundle = read_bundle(&cfg.output, loaded.model.config(), DType::F32, &Device::Cpu).unwrap();
    let docs = fairshare_trainer::data::read_texts(&cfg.data).unwrap();
    let tokens =
        fairshare_trainer::data::tokenize_documents(&docs, &loaded.tokenizer, None).unwrap();
    let before = evaluate_loss(&loaded.model, None, &tokens, 32, 8).unwrap();
    let after = evaluate_loss(&loaded.model, Some(&bundle.adapter), &tokens, 32, 8).unwrap();
    assert!(
        after.mean_loss < before.mean_loss - 0.2,
        "loss {} -> {}",
        before.mean_loss,
        after.mean_loss
    );
    let m = &bundle.manifest;
    assert_eq!((m.round, m.participant.as_str()), (3, "wasm1alice"));
    assert_eq!(m.num_training_tokens, 30 * 4 * 32);
    assert_eq!(m.base_model_hash, loaded.base_model_hash);
    let bytes = std::fs::read(cfg.output.join("adapter_model.safetensors")).unwrap();
    assert_eq!(m.update_hash, hex::encode(update_hash(&bytes)));
    let peft: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(cfg.output.join("adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(peft["peft_type"], "LORA");
    assert_eq!(peft["r"], 4);
}

#[test]
fn resumed_training_matches_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(&dir.path().join("model"), &tiny_config(true), 22).unwrap();
    let mut cfg = train_config(dir.path(), "straight");
    cfg.steps = 6;
    cfg.lora.dropout = 0.1;
    let straight = fairshare_trainer::train::train(&cfg).unwrap();

    let mut first = cfg.clone();
    first.output = dir.path().join("first");
    first.checkpoint_every = 3;
    first.checkpoint_dir = Some(dir.path().join("ckpt"));
    fairshare_trainer::train::train(&first).unwrap();
    let mut resumed = first.clone();
    resumed.output = dir.path().join("resumed");
    resumed.resume = true;
    let r = fairshare_trainer::train::train(&resumed).unwrap();
    assert_eq!(
        r.steps_this_run, 3,
        "the resumed run starts at the checkpoint"
    );
    assert_eq!(r.manifest.update_hash, straight.manifest.update_hash);

    let mut other = resumed.clone();
    other.seed = 99;
    let err = fairshare_trainer::train::train(&other).unwrap_err();
    assert!(
        err.to_string().contains("different LoRA config or seed"),
        "{err}"
    );
}

#[test]
fn bundle_round_trips_bit_exactly() {
    let cfg = tiny_config(false);
    let lora = LoraConfig {
        r: 3,
        alpha: 5.0,
        dropout: 0.05,
        target_modules: vec!["q_proj".into(), "v_proj".into(), "down_proj".into()],
    };
    let adapter = random_adapter(&cfg, &lora, 8, DType::F32).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let info = BundleInfo {
        round: 1,
        base_model_hash: "ab".repeat(32),
        global_adapter_hash: None,
        num_training_tokens: 1234,
        participant: "wasm1bob".into(),
    };
    let m = write_bundle(dir.path(), &adapter, &info).unwrap();
    let back = read_bundle(dir.path(), &cfg, DType::F32, &Device::Cpu).unwrap();
    assert_eq!(back.manifest, m);
    assert_eq!(back.adapter.config, lora);
    assert_eq!(back.adapter.modules.len(), adapter.modules.len());
    for (k, p) in &adapter.modules {
        let q = &back.adapter.modules[k];
        for (x, y) in [(&p.a, &q.a), (&p.b, &q.b)] {
            let xs = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let ys = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert!(xs.iter().zip(&ys).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }
    // Writing again gives the same bytes, hence the same update hash.
    let dir2 = tempfile::tempdir().unwrap();
    let m2 = write_bundle(dir2.path(), &back.adapter, &info).unwrap();
    assert_eq!(m2.update_hash, m.update_hash);
    // A tampered file no longer matches its manifest.
    let f = dir.path().join("adapter_model.safetensors");
    let mut bytes = std::fs::read(&f).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&f, bytes).unwrap();
    let err = read_bundle(dir.path(), &cfg, DType::F32, &Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
}

#[test]
fn nan_adapter_is_refused_with_a_clear_error() {
    let cfg = tiny_config(false);
    let adapter = random_adapter(&cfg, &LoraConfig::default(), 9, DType::F32).unwrap();
    let mut modules = adapter.modules.clone();
    let first = modules.values_mut().next().unwrap();
    first.b = (&first.b * f64::NAN).unwrap();
    let bad = LoraAdapter::from_modules(adapter.config.clone(), modules);
    let dir = tempfile::tempdir().unwrap();
    let err = write_bundle(dir.path(), &bad, &BundleInfo::default()).unwrap_err();
    assert!(matches!(err, TrainerError::NonFinite(_)));
    assert!(err.to_string().contains("NaN"), "{err}");

    // A NaN-filled file written by someone else is refused on reading.
    write_bundle(dir.path(), &adapter, &BundleInfo::default()).unwrap();
    std::fs::remove_file(dir.path().join("manifest.json")).unwrap();
    fairshare_trainer::bundle::write_safetensors(
        &dir.path().join("adapter_model.safetensors"),
        &bad.peft_tensors().unwrap(),
    )
    .unwrap();
    let err = read_bundle(dir.path(), &cfg, DType::F32, &Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("NaN or infinite"), "{err}");
}

#[test]
fn aggregation_equals_the_weighted_average_of_delta_w() {
    let cfg = tiny_config(false);
    let targets = vec![
        "q_proj".to_string(),
        "v_proj".to_string(),
        "up_proj".to_string(),
    ];
    let adapters: Vec<LoraAdapter> = [(2, 4.0), (4, 8.0), (3, 1.5)]
        .iter()
        .enumerate()
        .map(|(i, &(r, alpha))| {
            let lora = LoraConfig {
                r,
                alpha,
                dropout: 0.0,
                target_modules: targets.clone(),
            };
            random_adapter(&cfg, &lora, 100 + i as u64, DType::F32).unwrap()
        })
        .collect();
    let weights = [0.5, 0.3, 0.2];
    let refs: Vec<&LoraAdapter> = adapters.iter().collect();
    let agg = aggregate(&refs, &weights).unwrap().unwrap();
    assert_eq!(agg.config.r, 9);
    assert_eq!(agg.scaling(), 1.0);
    let got = dense_deltas(&agg).unwrap();
    let parts: Vec<_> = adapters.iter().map(|a| dense_deltas(a).unwrap()).collect();
    for (key, d) in &got {
        let mut want = (&parts[0][key] * weights[0]).unwrap();
        for i in 1..3 {
            want = (want + (&parts[i][key] * weights[i]).unwrap()).unwrap();
        }
        let err = max_abs_diff(d, &want);
        assert!(err < 1e-6, "{}: {err}", key.peft_prefix());
    }
    assert!(aggregate(&refs, &[0.0, 0.0, 0.0]).unwrap().is_none());

    // The aggregate is an ordinary PEFT adapter: it survives a bundle round trip.
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path(), &agg, &BundleInfo::default()).unwrap();
    let back = read_bundle(dir.path(), &cfg, DType::F32, &Device::Cpu).unwrap();
    assert_eq!(back.adapter.config.r, 9);

    // Adapters on different projections cannot be stacked.
    let other = random_adapter(&cfg, &LoraConfig::default(), 5, DType::F32).unwrap();
    assert!(aggregate(&[&adapters[0], &other], &[0.5, 0.5]).is_err());
}

#[test]
fn coalition_utilities_rebuild_models_from_updates() {
    let cfg = tiny_config(false);
    let w = random_weights(&cfg, 31).unwrap();
    let model = LlamaModel::from_weights(cfg.clone(), w, DType::F32, &Device::Cpu).unwrap();
    let lora = LoraConfig::default();
    let bundles: Vec<_> = (0..3u64)
        .map(|i| fairshare_trainer::bundle::Bundle {
            adapter: random_adapter(&cfg, &lora, 40 + i, DType::F32).unwrap(),
            manifest: fairshare_trainer::bundle::Manifest {
                format: "fairshare-update/1".into(),
                round: 1,
                base_model_hash: String::new(),
                global_adapter_hash: None,
                num_training_tokens: 100 * (i + 1),
                participant: format!("p{i}"),
                update_hash: String::new(),
            },
        })
        .collect();
    let tokens: Vec<u32> = TEXT.repeat(3).bytes().map(u32::from).collect();
    let eval = CoalitionEvaluator::new(
        model.clone(),
        &tokens,
        24,
        4,
        bundles.clone(),
        Weighting::Tokens,
    )
    .unwrap();
    let all: Vec<Vec<bool>> = (0..8).map(|m| coalition_from_mask(m, 3)).collect();
    let u = eval.utilities(&all).unwrap();
    assert_eq!(u[0], 0.0, "U(empty) = 0");
    assert!(u.iter().all(|x| x.is_finite()));
    assert!(u[1..].iter().any(|&x| x != 0.0), "updates change the loss");
    assert_eq!(eval.evaluations(), 8);
    assert_eq!(
        eval.utilities(&all).unwrap(),
        u,
        "cached results are stable"
    );
    assert_eq!(
        eval.coalition_weights(&[true, false, true]),
        vec![0.25, 0.0, 0.75]
    );

    // Coalition {0, 2} = base + 0.25 ΔW0 + 0.75 ΔW2, merged densely into the weights.
    let mut merged = model.clone();
    for (i, wgt) in [(0usize, 0.25), (2, 0.75)] {
        let one = aggregate(&[&bundles[i].adapter], &[wgt]).unwrap().unwrap();
        merged.merge_adapter(&one).unwrap();
    }
    let dense = evaluate_loss(&merged, None, &tokens, 24, 4).unwrap();
    let direct = eval.coalition_loss(&[true, false, true]).unwrap();
    assert!((dense.mean_loss - direct.mean_loss).abs() < 1e-5);
    assert!((eval.global_loss().mean_loss - direct.mean_loss - u[0b101]).abs() < 1e-12);
    assert!(
        eval.utility(&[true, false]).is_err(),
        "wrong coalition length is an error"
    );
}

#[test]
fn a_zero_update_is_a_null_player_with_round_weights_but_dilutes_with_fedavg() {
    let cfg = tiny_config(false);
    let w = random_weights(&cfg, 32).unwrap();
    let model = LlamaModel::from_weights(cfg.clone(), w, DType::F32, &Device::Cpu).unwrap();
    let lora = LoraConfig::default();
    let bundle = |adapter, tokens: u64| fairshare_trainer::bundle::Bundle {
        adapter,
        manifest: fairshare_trainer::bundle::Manifest {
            format: "fairshare-update/1".into(),
            round: 1,
            base_model_hash: String::new(),
            global_adapter_hash: None,
            num_training_tokens: tokens,
            participant: String::new(),
            update_hash: String::new(),
        },
    };
    // B = 0: the untrained adapter a free-rider would submit.
    let zero = fairshare_trainer::lora::LoraAdapter::init(&cfg, &lora, 5, DType::F32, &Device::Cpu)
        .unwrap();
    let bundles = vec![
        bundle(random_adapter(&cfg, &lora, 41, DType::F32).unwrap(), 300),
        bundle(zero, 300),
    ];
    let tokens: Vec<u32> = TEXT.repeat(3).bytes().map(u32::from).collect();
    let round = CoalitionEvaluator::new(
        model.clone(),
        &tokens,
        24,
        4,
        bundles.clone(),
        Weighting::RoundTokens,
    )
    .unwrap();
    assert_eq!(round.coalition_weights(&[true, false]), vec![0.5, 0.0]);
    let u = |e: &CoalitionEvaluator, m: &[bool]| e.utility(m).unwrap();
    assert!(
        u(&round, &[false, true]).abs() < 1e-9,
        "the zero update alone"
    );
    assert!((u(&round, &[true, true]) - u(&round, &[true, false])).abs() < 1e-9);
    let fedavg =
        CoalitionEvaluator::new(model, &tokens, 24, 4, bundles, Weighting::Tokens).unwrap();
    assert!(
        (u(&fedavg, &[true, true]) - u(&fedavg, &[true, false])).abs() > 1e-6,
        "under FedAvg the zero update halves the other's step"
    );
}

#[test]
fn tiny_tokenizer_round_trips_and_uses_merges() {
    let tok = fairshare_trainer::tokenizer::TextTokenizer::Hf(Box::new(
        fairshare_trainer::tokenizer::tiny_bpe(&fairshare_trainer::testing::TINY_MERGES).unwrap(),
    ));
    let ids = tok.encode("the other 12").unwrap();
    assert!(ids.contains(&257), "`the` is merged: {ids:?}");
    assert_eq!(tok.decode(&ids).unwrap(), "the other 12");
    assert_eq!(tok.token_id("<|endoftext|>"), Some(260));
}

#[test]
fn config_errors_are_plain() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("train.toml");
    std::fs::write(
        &p,
        "model = \"m\"\ndata = \"d\"\noutput = \"o\"\n[lora]\nr = 4\ntarget_modules = [\"qq_proj\"]\n",
    )
    .unwrap();
    let cfg = TrainConfig::from_toml_file(&p).unwrap();
    let err = cfg.validate().unwrap_err().to_string();
    assert!(
        err.contains("unknown LoRA target module `qq_proj`"),
        "{err}"
    );
    let err = load_model(&dir.path().join("missing"), DType::F32, &Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn shapley_values_of_a_round_are_efficient_and_reproducible() {
    use fairshare_shapley::{estimate, Method, SamplerOptions, StopRule, Utility};
    let cfg = tiny_config(false);
    let w = random_weights(&cfg, 77).unwrap();
    let model = LlamaModel::from_weights(cfg.clone(), w, DType::F32, &Device::Cpu).unwrap();
    let lora = LoraConfig::default();
    let bundles: Vec<_> = (0..4u64)
        .map(|i| fairshare_trainer::bundle::Bundle {
            adapter: random_adapter(&cfg, &lora, 90 + i, DType::F32).unwrap(),
            manifest: fairshare_trainer::bundle::Manifest {
                format: "fairshare-update/1".into(),
                round: 1,
                base_model_hash: String::new(),
                global_adapter_hash: None,
                num_training_tokens: 50 * (i + 1),
                participant: format!("p{i}"),
                update_hash: String::new(),
            },
        })
        .collect();
    let tokens: Vec<u32> = TEXT.repeat(2).bytes().map(u32::from).collect();
    let eval = CoalitionEvaluator::new(model, &tokens, 24, 4, bundles, Weighting::Tokens).unwrap();
    assert_eq!(Utility::n_players(&eval), 4);
    let opts = SamplerOptions {
        seed: 7,
        stop: StopRule {
            max_evaluations: Some(10_000),
            ..StopRule::default()
        },
    };
    let exact = estimate(&eval, &Method::Exact, &opts).unwrap();
    let grand = eval.utility(&[true; 4]).unwrap();
    let sum: f64 = exact.values.iter().sum();
    assert!(
        (sum - grand).abs() < 1e-9,
        "efficiency: Σφ = U(N) ({sum} vs {grand})"
    );
    assert_eq!(
        eval.evaluations(),
        16,
        "exact needs each of the 2^4 coalitions once"
    );
    let again = estimate(&eval, &Method::Exact, &opts).unwrap();
    assert_eq!(
        again.values, exact.values,
        "cached utilities give identical values"
    );
}
