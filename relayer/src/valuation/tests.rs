//! The valuation's table and report agree with the contract's checks, and a no-show is a null
//! player: φ exactly 0, everyone else valued as if it were not there.

use std::path::Path;

use candle_core::{DType, Device};
use fairshare_trainer::bundle::{read_bundle, write_bundle, BundleInfo};
use fairshare_trainer::model::load_model;
use fairshare_trainer::testing::{random_adapter, tiny_config, write_tiny_model};

use super::*;

/// A tiny random model written to `dir` (HF layout with a tokenizer): `(model, its hash)`.
pub(crate) fn tiny_model(dir: &Path) -> (LlamaModel, String) {
    write_tiny_model(dir, &tiny_config(false), 3).expect("tiny model written");
    let l = load_model(dir, DType::F32, &Device::Cpu).expect("tiny model loads");
    (l.model, l.base_model_hash)
}

/// A bundle of a random adapter (seed `seed`) for `model` in `dir`, for `participant`.
pub(crate) fn tiny_bundle(
    dir: &Path,
    model: &LlamaModel,
    base_hash: &str,
    round: u64,
    participant: &str,
    seed: u64,
) -> String {
    let lora = fairshare_trainer::config::LoraConfig {
        r: 2,
        ..Default::default()
    };
    // The round's shared A (the relayer refuses any other), a random B.
    let a_seed = fairshare_trainer::lora::round_init_seed(round, base_hash, None);
    let a =
        fairshare_trainer::testing::round_adapter(model.config(), &lora, a_seed, seed, DType::F32)
            .expect("adapter");
    write_bundle(
        dir,
        &a,
        &BundleInfo {
            round,
            base_model_hash: base_hash.into(),
            global_adapter_hash: None,
            num_training_tokens: 100 + seed,
            participant: participant.into(),
        },
    )
    .expect("bundle written")
    .update_hash
}

/// Validation tokens for the tiny model (byte-level text).
pub(crate) fn tiny_text() -> String {
    "the other thing there, the weather. ".repeat(12)
}

/// The tiny model written under `dir/model`, its hash, and [`tiny_text`] in its tokens.
fn tiny_model_and_text(dir: &Path) -> (LlamaModel, String, Vec<u32>) {
    let (model, hash) = tiny_model(&dir.join("model"));
    let tokens =
        fairshare_trainer::tokenizer::TextTokenizer::from_file(&dir.join("model/tokenizer.json"))
            .expect("tokenizer")
            .encode(&tiny_text())
            .expect("tokens");
    (model, hash, tokens)
}

/// A valuation whose φ and ΔU follow from `utilities`.
pub(crate) fn valuation(utilities: Vec<f64>, estimator: Estimator, n: usize) -> Valuation {
    let (values, delta_u) = from_table(&utilities, estimator, n).expect("a table");
    Valuation {
        method: "test".into(),
        estimator,
        utilities,
        values,
        std_errors: vec![0.0; n],
        dof: 7,
        delta_u,
        alone: vec![],
        evaluations: 0,
        aggregate_hash: [1; 32],
        subsets: vec![],
    }
}

/// `n` made-up addresses.
pub(crate) fn addrs(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("wasm1p{i}")).collect()
}

#[test]
fn an_honest_report_follows_from_its_table_exactly() {
    // Utilities with more digits than the table keeps: φ comes from the rounded table.
    let u = vec![0.0, 0.1234567891234, 0.0333333333333, 0.2000000004999];
    let v = valuation(u, Estimator::Exact, 2);
    let table = to_table(&v, &addrs(2), [0; 32]).expect("table");
    let r = to_report(&v, &table).expect("report");
    assert_eq!(r.table_hash.as_slice(), table.hash().as_slice());
    assert!(report::check(&r, &table).expect("checkable").is_empty());
    assert_eq!(r.delta_u, SignedDecimal::from_str("0.2").expect("decimal"));
    assert!(r
        .scores
        .iter()
        .all(|s| s.std_error >= std_error(0.0).expect("floor")));
}

#[test]
fn a_sampled_report_follows_from_its_permutations() {
    // An additive game sampled along the seed's permutations.
    let n = 10;
    let w: Vec<f64> = (0..n).map(|i| 0.001 * i as f64 - 0.002).collect();
    let estimator = Estimator::Permutations { seed: 9, count: 5 };
    let mut u = vec![];
    for k in 0..5 {
        let mut acc = 0.0;
        for p in report::permutation(9, k, n) {
            acc += w[p];
            u.push(acc);
        }
    }
    let v = valuation(u, estimator, n);
    for (got, want) in v.values.iter().zip(&w) {
        assert!((got - want).abs() < 1e-8, "{got} vs {want}");
    }
    let table = to_table(&v, &addrs(n), [0; 32]).expect("table");
    let r = to_report(&v, &table).expect("report");
    assert!(report::check(&r, &table).expect("checkable").is_empty());
}

#[test]
fn the_estimator_is_exact_up_to_the_limit_and_sampled_above() {
    assert_eq!(choose_estimator(1), Plan::Exact);
    assert_eq!(choose_estimator(EXACT_MAX), Plan::Exact);
    match choose_estimator(EXACT_MAX + 1) {
        Plan::RegressionAdjusted { max_count } => {
            assert!(max_count as u64 >= fairshare_protocol::sampled::min_count(EXACT_MAX + 1));
            assert!(max_count as usize <= MAX_SAMPLED_UTILITIES);
        }
        p => panic!("{p:?}"),
    }
    // Beyond what a regression-adjusted table can hold: permutations.
    assert!(matches!(choose_estimator(64), Plan::Permutations { .. }));
}

/// Above [`EXACT_MAX`] the table is regression-adjusted on the round seed's coalitions: the
/// report follows from it (the contract's check), no-shows are null players with φ exactly 0,
/// and the method line says how many coalitions and what standard error.
#[test]
fn a_large_round_is_valued_by_the_regression_adjusted_table() {
    let t = tempfile::tempdir().expect("tempdir");
    let (model, hash, tokens) = tiny_model_and_text(t.path());
    let n = EXACT_MAX + 2;
    let present: Vec<bool> = (0..n).map(|i| i != 4).collect();
    let bundles: Vec<Bundle> = (0..n - 1)
        .map(|i| {
            let dir = t.path().join(format!("b{i}"));
            tiny_bundle(&dir, &model, &hash, 1, &format!("p{i}"), 20 + i as u64);
            read_bundle(&dir, model.config(), DType::F32, &Device::Cpu).expect("reads")
        })
        .collect();
    let job = Job {
        name: "test",
        model: &model,
        validation: &tokens,
        seq_len: 16,
        batch_windows: 2,
        seed: 7,
        progress: false,
    };
    let v = value_round(&job, bundles, &present, &Groups::singletons(n - 1)).expect("values");
    let Estimator::RegressionAdjusted {
        seed,
        count,
        absent,
    } = v.estimator
    else {
        panic!("{:?}", v.estimator);
    };
    assert_eq!(
        (seed, absent),
        (7, 1 << 4),
        "the no-show is declared absent"
    );
    assert!(v
        .method
        .starts_with(&format!("regression-adjusted ({count} coalitions, ")));
    assert_eq!(v.utilities.len(), count as usize);
    assert!(
        v.evaluations <= count as usize,
        "no coalition model evaluated twice"
    );
    assert_eq!(v.values[4], 0.0, "the no-show is a null player");
    assert!(v.std_errors.iter().all(|s| s.is_finite()));
    let table = to_table(&v, &addrs(n), [0; 32]).expect("table");
    let r = to_report(&v, &table).expect("report");
    assert!(report::check(&r, &table).expect("checkable").is_empty());
    let sum: f64 = v.values.iter().sum();
    assert!((sum - v.delta_u).abs() < 1e-6);
}

#[test]
fn a_no_show_is_a_null_player_and_changes_nobody_elses_value() {
    let t = tempfile::tempdir().expect("tempdir");
    let (model, hash, tokens) = tiny_model_and_text(t.path());
    let bundles: Vec<Bundle> = (0..2)
        .map(|i| {
            let dir = t.path().join(format!("b{i}"));
            tiny_bundle(&dir, &model, &hash, 1, &format!("p{i}"), 10 + i);
            read_bundle(&dir, model.config(), DType::F32, &Device::Cpu).expect("reads")
        })
        .collect();
    let job = Job {
        name: "test",
        model: &model,
        validation: &tokens,
        seq_len: 16,
        batch_windows: 2,
        seed: 5,
        progress: false,
    };
    let without = value_round(&job, bundles.clone(), &[true, true], &Groups::singletons(2))
        .expect("values two");
    // The same two players with a no-show between them.
    let with = value_round(&job, bundles, &[true, false, true], &Groups::singletons(2))
        .expect("values three");
    assert_eq!(with.values.len(), 3);
    assert_eq!(with.values[1], 0.0, "a null player's φ is exactly 0");
    assert_eq!(with.alone[1], 0.0);
    assert!((with.values[0] - without.values[0]).abs() < 1e-9);
    assert!((with.values[2] - without.values[1]).abs() < 1e-9);
    assert!((with.delta_u - without.delta_u).abs() < 1e-9);
    assert_ne!(without.values[0], 0.0, "a random update changes the loss");
    let table = to_table(&with, &addrs(3), [0; 32]).expect("table");
    assert_eq!(
        table.participants.len(),
        3,
        "the no-show stays in the table"
    );
    let r = to_report(&with, &table).expect("report");
    assert!(report::check(&r, &table).expect("checkable").is_empty());
    // Everyone a no-show: a valid all-zero report.
    let none =
        value_round(&job, vec![], &[false, false], &Groups::singletons(0)).expect("values nobody");
    let table = to_table(&none, &addrs(2), [0; 32]).expect("table");
    let r = to_report(&none, &table).expect("report");
    assert!(report::check(&r, &table).expect("checkable").is_empty());
    assert_eq!(r.delta_u, SignedDecimal::zero());
}

/// A bundle whose update is exactly null: the random adapter of `seed` with every B zeroed
/// (ΔW = 0), or with `tokens` training tokens.
fn null_bundle(dir: &Path, model: &LlamaModel, base_hash: &str, seed: u64, tokens: u64) -> Bundle {
    let lora = fairshare_trainer::config::LoraConfig {
        r: 2,
        ..Default::default()
    };
    let a = random_adapter(model.config(), &lora, seed, DType::F32).expect("adapter");
    let zero_b = tokens > 0;
    let modules = a
        .modules
        .iter()
        .map(|(k, p)| {
            let b = if zero_b {
                p.b.zeros_like().expect("zeros")
            } else {
                p.b.clone()
            };
            (
                k.clone(),
                fairshare_trainer::lora::LoraPair { a: p.a.clone(), b },
            )
        })
        .collect();
    let adapter = fairshare_trainer::lora::LoraAdapter::from_modules(a.config.clone(), modules);
    write_bundle(
        dir,
        &adapter,
        &BundleInfo {
            round: 1,
            base_model_hash: base_hash.into(),
            global_adapter_hash: None,
            num_training_tokens: tokens,
            participant: "null".into(),
        },
    )
    .expect("bundle written");
    read_bundle(dir, model.config(), DType::F32, &Device::Cpu).expect("reads")
}

/// A participant whose update is exactly null (B all zero, or no tokens while others have
/// some) is declared absent like a no-show: φ exactly 0 (never a small negative estimate that
/// would call it a free-rider), in exact and in regression-adjusted tables, and the report
/// still follows from the table (the contract's check).
#[test]
fn an_exactly_null_update_is_declared_absent_and_valued_exactly_zero() {
    let t = tempfile::tempdir().expect("tempdir");
    let (model, hash, tokens) = tiny_model_and_text(t.path());
    let job = Job {
        name: "test",
        model: &model,
        validation: &tokens,
        seq_len: 16,
        batch_windows: 2,
        seed: 11,
        progress: false,
    };
    let real = |i: u64| {
        let dir = t.path().join(format!("b{i}"));
        tiny_bundle(&dir, &model, &hash, 1, &format!("p{i}"), 30 + i);
        read_bundle(&dir, model.config(), DType::F32, &Device::Cpu).expect("reads")
    };
    let zero_delta = null_bundle(&t.path().join("zero"), &model, &hash, 3, 100);
    let no_tokens = null_bundle(&t.path().join("none"), &model, &hash, 4, 0);
    assert!(is_null_update(&zero_delta, true).expect("readable"));
    assert!(is_null_update(&no_tokens, true).expect("readable"));
    assert!(
        !is_null_update(&no_tokens, false).expect("readable"),
        "with no tokens anywhere the weights are uniform: not null"
    );
    assert!(!is_null_update(&real(0), true).expect("readable"));

    // Exact: three players, the middle one's ΔW is zero.
    let small = vec![real(0), zero_delta.clone(), real(1)];
    let v = value_round(&job, small, &[true; 3], &Groups::singletons(3)).expect("values");
    assert_eq!(v.estimator, Estimator::Exact);
    assert_eq!(v.values[1], 0.0, "a null update's φ is exactly 0");
    assert_ne!(v.values[0], 0.0);
    // The coalitions are listed by who is in them, the null player included (the demo's
    // calibration filters them by member), and it changes no utility.
    let with_null = v
        .subsets
        .iter()
        .find(|(m, _)| *m == [true, true, false])
        .expect("{0, 1} is listed with its null member");
    let without = v
        .subsets
        .iter()
        .find(|(m, _)| *m == [true, false, false])
        .expect("{0} is listed");
    assert_eq!(with_null.1, without.1);
    assert_eq!(v.subsets.len(), 7);
    let table = to_table(&v, &addrs(3), [0; 32]).expect("table");
    let rep = to_report(&v, &table).expect("report");
    assert!(report::check(&rep, &table).expect("checkable").is_empty());
    // The null player's score is certain (no floor on its error), the others keep theirs.
    assert!(rep.scores[1].std_error.is_zero(), "{:?}", rep.scores[1]);
    assert!(rep.scores[0].std_error >= std_error(RESOLUTION_NATS).expect("decimal"));

    // Regression-adjusted: a no-show (2), a zero update (5) and a zero-token update (7).
    let n = EXACT_MAX + 2;
    let present: Vec<bool> = (0..n).map(|i| i != 2).collect();
    let bundles: Vec<Bundle> = (0..n as u64)
        .filter(|&i| i != 2)
        .map(|i| match i {
            5 => zero_delta.clone(),
            7 => no_tokens.clone(),
            _ => real(i),
        })
        .collect();
    let v = value_round(&job, bundles, &present, &Groups::singletons(n - 1)).expect("values");
    let Estimator::RegressionAdjusted { absent, count, .. } = v.estimator else {
        panic!("{:?}", v.estimator);
    };
    assert_eq!(
        absent,
        1 << 2 | 1 << 5 | 1 << 7,
        "no-show and null updates declared"
    );
    for i in [2, 5, 7] {
        assert_eq!(v.values[i], 0.0, "player {i}");
        assert_eq!(v.alone[i], 0.0, "player {i}");
    }
    assert!(v.values.iter().filter(|x| **x != 0.0).count() == n - 3);
    assert!(
        v.evaluations < count as usize,
        "coalitions that differ only by null players are one model"
    );
    let table = to_table(&v, &addrs(n), [0; 32]).expect("table");
    let r = to_report(&v, &table).expect("report");
    assert!(report::check(&r, &table).expect("checkable").is_empty());
}
