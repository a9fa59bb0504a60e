//! Text → token ids: a Hugging Face `tokenizer.json`, a byte-level BPE rebuilt from GGUF
//! metadata, or raw bytes (ids 0..=255) for tests and toy models.

use std::path::Path;

use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, Tokenizer};

use crate::error::{Result, TrainerError};

/// A tokenizer the trainer can use.
#[derive(Clone)]
pub enum TextTokenizer {
    /// A `tokenizers` pipeline (from `tokenizer.json` or GGUF metadata).
    Hf(Box<Tokenizer>),
    /// Each UTF-8 byte is one token id; for tests and byte-level toy models.
    Bytes,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Hf(t) => write!(f, "TextTokenizer::Hf(vocab {})", t.get_vocab_size(true)),
            Self::Bytes => write!(f, "TextTokenizer::Bytes"),
        }
    }
}

impl TextTokenizer {
    /// Loads a `tokenizer.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let t = Tokenizer::from_file(path)
            .map_err(|e| TrainerError::Tokenizer(format!("{}: {e}", path.display())))?;
        Ok(Self::Hf(Box::new(t)))
    }

    /// Token ids of `text`, without adding special tokens (SmolLM2 adds no BOS either).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match self {
            Self::Hf(t) => Ok(t
                .encode(text, false)
                .map_err(|e| TrainerError::Tokenizer(e.to_string()))?
                .get_ids()
                .to_vec()),
            Self::Bytes => Ok(text.bytes().map(u32::from).collect()),
        }
    }

    /// Text of token ids (for logs and demos).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        match self {
            Self::Hf(t) => t
                .decode(ids, false)
                .map_err(|e| TrainerError::Tokenizer(e.to_string())),
            Self::Bytes => Ok(String::from_utf8_lossy(
                &ids.iter().map(|&i| i.min(255) as u8).collect::<Vec<_>>(),
            )
            .into_owned()),
        }
    }

    /// Largest id this tokenizer can emit, plus one.
    pub fn vocab_size(&self) -> usize {
        match self {
            Self::Hf(t) => t.get_vocab_size(true),
            Self::Bytes => 256,
        }
    }

    /// Id of a token by its text, if the vocabulary has it.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        match self {
            Self::Hf(t) => t.token_to_id(token),
            Self::Bytes => None,
        }
    }
}

/// GPT-2's reversible map from bytes to printable characters, in byte order.
pub fn byte_to_char_table() -> Vec<char> {
    let mut printable: Vec<u32> = ('!' as u32..='~' as u32).collect();
    printable.extend('¡' as u32..='¬' as u32);
    printable.extend('®' as u32..='ÿ' as u32);
    let mut extra = 0;
    (0u32..256)
        .map(|b| {
            if printable.contains(&b) {
                char::from_u32(b).expect("byte values are valid chars")
            } else {
                extra += 1;
                char::from_u32(255 + extra).expect("256..=324 are valid chars")
            }
        })
        .collect()
}

/// A GPT-2 style byte-level BPE from a vocabulary (id = position) and merge list, as stored in
/// GGUF metadata. `pre` is GGUF's `tokenizer.ggml.pre`: `smollm` splits digits individually
/// before the byte-level regex, as SmolLM2's `tokenizer.json` does. `special` lists tokens matched
/// whole before BPE (e.g. `<|im_start|>`).
pub fn byte_level_bpe(
    tokens: &[String],
    merges: Vec<(String, String)>,
    pre: &str,
    special: &[String],
) -> Result<Tokenizer> {
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| TrainerError::Tokenizer(format!("cannot build BPE: {e}")))?;
    let mut tok = Tokenizer::new(bpe);
    let byte_level = ByteLevel::new(false, true, true);
    let pre_tok: PreTokenizerWrapper = match pre {
        "smollm" => Sequence::new(vec![Digits::new(true).into(), byte_level.into()]).into(),
        _ => byte_level.into(),
    };
    tok.with_pre_tokenizer(Some(pre_tok));
    tok.with_decoder(Some(ByteLevel::default()));
    if !special.is_empty() {
        let added: Vec<AddedToken> = special
            .iter()
            .map(|s| AddedToken::from(s.clone(), true))
            .collect();
        tok.add_special_tokens(added)
            .map_err(|e| TrainerError::Tokenizer(format!("cannot add special tokens: {e}")))?;
    }
    Ok(tok)
}

/// A byte-level BPE over the 256 byte symbols plus `merges`, with `<|endoftext|>` as the last
/// id: a real `tokenizers` pipeline small enough for test models.
pub fn tiny_bpe(merges: &[(&str, &str)]) -> Result<Tokenizer> {
    let table = byte_to_char_table();
    let mut tokens: Vec<String> = table.iter().map(|c| c.to_string()).collect();
    let mut merge_list = Vec::new();
    for (a, b) in merges {
        tokens.push(format!("{a}{b}"));
        merge_list.push((a.to_string(), b.to_string()));
    }
    tokens.push("<|endoftext|>".into());
    byte_level_bpe(&tokens, merge_list, "gpt2", &["<|endoftext|>".to_string()])
}

/// Learns a byte-level BPE of `vocab_size` tokens (including the 256 byte symbols and
/// `<|endoftext|>`) from `texts`, for base models trained from scratch.
pub fn learn_byte_level_bpe(texts: &[&str], vocab_size: usize) -> Result<Tokenizer> {
    use tokenizers::models::bpe::BpeTrainerBuilder;
    use tokenizers::models::TrainerWrapper;
    if vocab_size < 257 {
        return Err(TrainerError::Tokenizer(format!(
            "a byte-level BPE needs at least 257 tokens (256 bytes and <|endoftext|>), got {vocab_size}"
        )));
    }
    let mut tok = Tokenizer::new(BPE::default());
    tok.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tok.with_decoder(Some(ByteLevel::default()));
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .special_tokens(vec![AddedToken::from("<|endoftext|>", true)])
        .build()
        .into();
    tok.train(&mut trainer, texts.iter())
        .map_err(|e| TrainerError::Tokenizer(format!("cannot learn a BPE: {e}")))?;
    Ok(tok)
}
