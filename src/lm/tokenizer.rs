//! Tokenizers through the `tokenizers` crate: a published `tokenizer.json` at paper scale, or
//! a byte-level BPE trained on the fine-tuning corpus for the mini profiles.

use std::path::Path;

use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use super::LmError;
use crate::provenance::{Digest, atomic};

pub(crate) const IM_START: &str = "<|im_start|>";
pub(crate) const IM_END: &str = "<|im_end|>";
pub(crate) const END_OF_TEXT: &str = "<|endoftext|>";

/// The trained BPE's word split: GPT-2's pattern with `_` as a letter, so a script key such as
/// `learning_rate` is one word and BPE can make it one token (with GPT-2's split it is three,
/// and a small policy recombines the pieces into keys that do not exist, `weight_rate`); and
/// numbers split into single digits (an optional leading space on the first), as Qwen2's
/// tokenizer does, so that a metric value never seen in training (`2.301840`) is still made of
/// trained tokens. paper/PROVENANCE.md, "Tokenizer".
pub const WORD_PATTERN: &str =
    r"'(?:[sdmt]|ll|ve|re)| ?[\p{L}_][\p{L}\p{N}_]*| ?\p{N}| ?[^\s\p{L}\p{N}_]+|\s+(?!\S)|\s+";

/// A tokenizer with the ChatML special tokens this project needs.
#[derive(Clone)]
pub struct ChatTokenizer {
    inner: Tokenizer,
    pub im_start: u32,
    pub im_end: u32,
    pub end_of_text: u32,
}

impl std::fmt::Debug for ChatTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTokenizer")
            .field("vocab_size", &self.vocab_size())
            .field("im_start", &self.im_start)
            .field("im_end", &self.im_end)
            .field("end_of_text", &self.end_of_text)
            .finish()
    }
}

fn tok_err(origin: &str, e: impl std::fmt::Display) -> LmError {
    LmError::Input(format!("tokenizer {origin}: {e}"))
}

impl ChatTokenizer {
    fn wrap(inner: Tokenizer, origin: &str) -> Result<Self, LmError> {
        let id = |t: &str| {
            inner
                .token_to_id(t)
                .ok_or_else(|| tok_err(origin, format!("has no special token {t}")))
        };
        Ok(Self {
            im_start: id(IM_START)?,
            im_end: id(IM_END)?,
            end_of_text: id(END_OF_TEXT)?,
            inner,
        })
    }

    /// Loads a `tokenizer.json` (e.g. Qwen2.5's), which must define the ChatML tokens.
    pub fn load(path: &Path) -> Result<Self, LmError> {
        let bytes = std::fs::read(path).map_err(|e| LmError::io(path, e))?;
        Self::from_json_bytes(&bytes, &path.display().to_string())
    }

    pub(crate) fn from_json_bytes(bytes: &[u8], origin: &str) -> Result<Self, LmError> {
        let inner = Tokenizer::from_bytes(bytes).map_err(|e| tok_err(origin, e))?;
        Self::wrap(inner, origin)
    }

    /// Trains a byte-level BPE (GPT-2/Qwen style: byte alphabet, no prefix space; words split
    /// by [`WORD_PATTERN`]) of `vocab_size` tokens, the three special tokens first (ids 0, 1, 2).
    pub fn train_bpe(corpus: &[String], vocab_size: usize) -> Result<Self, LmError> {
        let specials = [END_OF_TEXT, IM_START, IM_END]
            .iter()
            .map(|t| AddedToken::from(t.to_string(), true))
            .collect();
        let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
            .show_progress(false)
            .vocab_size(vocab_size)
            .min_frequency(2)
            .special_tokens(specials)
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build()
            .into();
        let mut inner = Tokenizer::new(BPE::default());
        let words = Split::new(
            SplitPattern::Regex(WORD_PATTERN.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| tok_err("word pattern", e))?;
        inner.with_pre_tokenizer(Some(Sequence::new(vec![
            PreTokenizerWrapper::Split(words),
            PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, false)),
        ])));
        inner.with_decoder(Some(ByteLevel::default()));
        inner
            .train(&mut trainer, corpus.iter())
            .map_err(|e| tok_err("training", e))?;
        Self::wrap(inner, "trained BPE")
    }

    /// The canonical `tokenizer.json` bytes (compact JSON: the vocabulary is written in id
    /// order and merges in rank order, so the same tokenizer gives the same bytes).
    pub fn to_json_bytes(&self) -> Result<Vec<u8>, LmError> {
        Ok(self
            .inner
            .to_string(false)
            .map_err(|e| tok_err("serialising", e))?
            .into_bytes())
    }

    pub fn digest(&self) -> Result<Digest, LmError> {
        Ok(Digest::of_bytes(&self.to_json_bytes()?))
    }

    /// Writes `tokenizer.json` atomically; returns its digest.
    pub fn save(&self, path: &Path) -> Result<Digest, LmError> {
        let bytes = self.to_json_bytes()?;
        atomic::write(path, &bytes)?;
        Ok(Digest::of_bytes(&bytes))
    }

    /// Token ids of `text`; special-token strings inside it map to their ids.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LmError> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| tok_err("encoding", e))?;
        Ok(enc.get_ids().to_vec())
    }

    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, LmError> {
        self.inner
            .decode(ids, skip_special)
            .map_err(|e| tok_err("decoding", e))
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
}
