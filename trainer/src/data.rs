//! Local text → packed token windows: read a file or a directory of text files, tokenize,
//! join documents with the end-of-text token, and cut the stream into fixed-length windows.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::error::{Result, TrainerError};
use crate::tokenizer::TextTokenizer;

/// Reads `path` (a file, or every `.txt` file below a directory, in sorted order).
pub fn read_texts(path: &Path) -> Result<Vec<(PathBuf, String)>> {
    let mut files = Vec::new();
    if path.is_dir() {
        collect_txt(path, &mut files)?;
        files.sort();
        if files.is_empty() {
            return Err(TrainerError::Data(format!(
                "{} holds no .txt files",
                path.display()
            )));
        }
    } else {
        files.push(path.to_path_buf());
    }
    files
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(&f).map_err(|e| TrainerError::io(&f, e))?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            Ok((f, text))
        })
        .collect()
}

fn collect_txt(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| TrainerError::io(dir, e))? {
        let p = entry.map_err(|e| TrainerError::io(dir, e))?.path();
        if p.is_dir() {
            collect_txt(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "txt") {
            out.push(p);
        }
    }
    Ok(())
}

/// Tokenizes documents and joins them into one stream, with `separator` (usually EOS) between.
pub fn tokenize_documents(
    docs: &[(PathBuf, String)],
    tokenizer: &TextTokenizer,
    separator: Option<u32>,
) -> Result<Vec<u32>> {
    let mut out = Vec::new();
    for (i, (_, text)) in docs.iter().enumerate() {
        if i > 0 {
            if let Some(s) = separator {
                out.push(s);
            }
        }
        out.extend(tokenizer.encode(text)?);
    }
    Ok(out)
}

/// A token stream cut into training windows of `seq_len + 1` tokens (inputs plus the shifted
/// targets); consecutive windows overlap by one token so every token is predicted once.
#[derive(Debug, Clone)]
pub struct PackedData {
    tokens: Vec<u32>,
    seq_len: usize,
    windows: usize,
}

impl PackedData {
    /// Packs `tokens` into full windows, failing when there is not even one.
    pub fn new(tokens: Vec<u32>, seq_len: usize) -> Result<Self> {
        if seq_len == 0 || tokens.len() < seq_len + 1 {
            return Err(TrainerError::Data(format!(
                "the text has {} tokens; training with seq_len {seq_len} needs at least {}",
                tokens.len(),
                seq_len + 1
            )));
        }
        let windows = (tokens.len() - 1) / seq_len;
        Ok(Self {
            tokens,
            seq_len,
            windows,
        })
    }

    /// Number of full windows.
    pub fn num_windows(&self) -> usize {
        self.windows
    }

    /// Tokens predicted in one pass over the windows.
    pub fn num_target_tokens(&self) -> usize {
        self.windows * self.seq_len
    }

    /// Window `i` (`seq_len + 1` tokens).
    pub fn window(&self, i: usize) -> &[u32] {
        let start = i * self.seq_len;
        &self.tokens[start..start + self.seq_len + 1]
    }

    /// The shuffled order of windows in `epoch`, fixed by `seed`.
    pub fn epoch_order(&self, seed: u64, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.windows).collect();
        let mut rng =
            StdRng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        order.shuffle(&mut rng);
        order
    }

    /// Batch number `step` (B, seq_len + 1): a pure function of (seed, step), so a resumed run
    /// sees exactly the batches it would have seen.
    pub fn batch(
        &self,
        step: usize,
        batch_size: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Tensor> {
        let mut flat = Vec::with_capacity(batch_size * (self.seq_len + 1));
        let mut cached: Option<(usize, Vec<usize>)> = None;
        for j in 0..batch_size {
            let g = step * batch_size + j;
            let (epoch, pos) = (g / self.windows, g % self.windows);
            if cached.as_ref().map(|c| c.0) != Some(epoch) {
                cached = Some((epoch, self.epoch_order(seed, epoch)));
            }
            let order = &cached.as_ref().expect("set just above").1;
            flat.extend_from_slice(self.window(order[pos]));
        }
        Ok(Tensor::from_vec(
            flat,
            (batch_size, self.seq_len + 1),
            device,
        )?)
    }
}

/// Evaluation windows of up to `seq_len + 1` tokens (the last may be shorter, but has at least
/// 2); consecutive windows share one token, so every token but the first is scored exactly once.
pub fn eval_windows(tokens: &[u32], seq_len: usize) -> Vec<Vec<u32>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start + 1 < tokens.len() {
        let end = (start + seq_len + 1).min(tokens.len());
        out.push(tokens[start..end].to_vec());
        start = end - 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_windows_score_every_token_but_the_first_once() {
        let tokens: Vec<u32> = (0..23).collect();
        let w = eval_windows(&tokens, 5);
        let scored: Vec<u32> = w.iter().flat_map(|w| w[1..].to_vec()).collect();
        assert_eq!(scored, (1..23).collect::<Vec<u32>>());
        assert!(w.iter().all(|w| w.len() >= 2 && w.len() <= 6));
    }

    #[test]
    fn batches_are_a_pure_function_of_seed_and_step() {
        let data = PackedData::new((0..100).collect(), 8).unwrap();
        assert_eq!(data.num_windows(), 12);
        let dev = Device::Cpu;
        let a = data
            .batch(5, 3, 42, &dev)
            .unwrap()
            .to_vec2::<u32>()
            .unwrap();
        let b = data
            .batch(5, 3, 42, &dev)
            .unwrap()
            .to_vec2::<u32>()
            .unwrap();
        assert_eq!(a, b);
        // One epoch visits every window once.
        let mut firsts: Vec<u32> = (0..4)
            .flat_map(|s| {
                data.batch(s, 3, 42, &dev)
                    .unwrap()
                    .to_vec2::<u32>()
                    .unwrap()
            })
            .map(|w| w[0])
            .collect();
        firsts.sort();
        assert_eq!(firsts, (0..12).map(|i| i * 8).collect::<Vec<u32>>());
        assert!(PackedData::new(vec![1, 2, 3], 8).is_err());
    }
}
