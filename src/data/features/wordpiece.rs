//! BERT's uncased WordPiece tokenizer, as Hugging Face `tokenizers` runs it for
//! all-MiniLM-L6-v2 (`BertNormalizer` with lower-casing and accent stripping,
//! `BertPreTokenizer`, `WordPiece` with `##` continuations, `[CLS] ... [SEP]`), in plain
//! Rust so that it runs in the browser too.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use unicode_general_category::{GeneralCategory, get_general_category};
use unicode_normalization::UnicodeNormalization;

use crate::error::{MlaError, Result};

/// Words longer than this many characters become `[UNK]` (as in `tokenizers`).
const MAX_WORD_CHARS: usize = 100;

/// A WordPiece vocabulary (id = position) and a sequence length.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WordPiece {
    /// Tokens in id order (`vocab.txt`).
    pub vocab: Vec<String>,
    /// Sequences are cut (keeping `[SEP]`) or padded to this many ids.
    pub max_len: usize,
}

impl WordPiece {
    /// Reads `vocab.txt` (one token per line) and checks the special tokens.
    pub fn from_vocab_txt(text: &str, max_len: usize) -> Result<Self> {
        let vocab: Vec<String> = text
            .lines()
            .map(|l| l.trim_end_matches('\r').to_string())
            .collect();
        let tokenizer = Self { vocab, max_len };
        tokenizer.encoder()?;
        Ok(tokenizer)
    }

    /// The same vocabulary with another sequence length.
    pub fn with_max_len(&self, max_len: usize) -> Self {
        Self {
            vocab: self.vocab.clone(),
            max_len,
        }
    }

    /// An encoder that looks tokens up in a hash map; an error when a special token
    /// is missing from the vocabulary or `max_len < 2`.
    pub fn encoder(&self) -> Result<WordPieceEncoder<'_>> {
        let index: HashMap<&str, u32> = self
            .vocab
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), i as u32))
            .collect();
        let special = |t: &str| {
            index.get(t).copied().ok_or_else(|| {
                MlaError::Model(format!("the WordPiece vocabulary has no `{t}` token"))
            })
        };
        if self.max_len < 2 {
            return Err(MlaError::config(
                "max_tokens",
                "a WordPiece sequence needs at least 2 tokens ([CLS] and [SEP])",
            ));
        }
        Ok(WordPieceEncoder {
            max_len: self.max_len,
            unk: special("[UNK]")?,
            cls: special("[CLS]")?,
            sep: special("[SEP]")?,
            pad: special("[PAD]")?,
            index,
        })
    }
}

/// Encodes text with a [`WordPiece`] vocabulary.
pub struct WordPieceEncoder<'a> {
    index: HashMap<&'a str, u32>,
    max_len: usize,
    unk: u32,
    cls: u32,
    sep: u32,
    pad: u32,
}

impl WordPieceEncoder<'_> {
    /// `[CLS]`, the text's tokens (cut to fit), `[SEP]`, then `[PAD]` up to `max_len`.
    pub fn ids(&self, text: &str) -> Vec<u32> {
        let mut ids = vec![self.cls];
        for word in pre_tokenize(&normalize(text)) {
            if ids.len() >= self.max_len - 1 {
                break;
            }
            self.word_pieces(&word, &mut ids);
        }
        ids.truncate(self.max_len - 1);
        ids.push(self.sep);
        ids.resize(self.max_len, self.pad);
        ids
    }

    /// The same as exact `f32`s, the data set's storage.
    pub fn encode(&self, text: &str) -> Vec<f32> {
        self.ids(text).into_iter().map(|i| i as f32).collect()
    }

    /// Greedy longest-match-first pieces of one word, or `[UNK]` when some part of it
    /// matches nothing.
    fn word_pieces(&self, word: &str, out: &mut Vec<u32>) {
        let chars: Vec<(usize, char)> = word.char_indices().collect();
        if chars.len() > MAX_WORD_CHARS {
            out.push(self.unk);
            return;
        }
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < chars.len() {
            let mut end = chars.len();
            let mut found = None;
            while end > start {
                let from = chars[start].0;
                let to = chars.get(end).map_or(word.len(), |c| c.0);
                let piece = &word[from..to];
                let id = if start > 0 {
                    self.index.get(format!("##{piece}").as_str())
                } else {
                    self.index.get(piece)
                };
                if let Some(&id) = id {
                    found = Some(id);
                    break;
                }
                end -= 1;
            }
            match found {
                Some(id) => pieces.push(id),
                None => {
                    out.push(self.unk);
                    return;
                }
            }
            start = end;
        }
        out.extend(pieces);
    }
}

/// `BertNormalizer`: drops control characters and U+FFFD, turns whitespace into
/// spaces, puts spaces around CJK ideographs, strips accents (NFD, then no combining
/// marks) and lower-cases.
pub fn normalize(text: &str) -> String {
    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\0' || c == '\u{fffd}' || is_control(c) {
            continue;
        }
        if is_whitespace(c) {
            cleaned.push(' ');
        } else if is_cjk(c) {
            cleaned.push(' ');
            cleaned.push(c);
            cleaned.push(' ');
        } else {
            cleaned.push(c);
        }
    }
    let stripped: String = cleaned
        .nfd()
        .filter(|&c| get_general_category(c) != GeneralCategory::NonspacingMark)
        .collect();
    stripped.to_lowercase()
}

/// `BertPreTokenizer`: split on whitespace, and every punctuation character is a word
/// of its own.
pub fn pre_tokenize(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if c.is_whitespace() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
        } else if is_punctuation(c) {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            words.push(c.to_string());
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
        || get_general_category(c) == GeneralCategory::SpaceSeparator
}

fn is_control(c: char) -> bool {
    use GeneralCategory::*;
    if matches!(c, '\t' | '\n' | '\r') {
        return false;
    }
    matches!(
        get_general_category(c),
        Control | Format | Unassigned | PrivateUse | Surrogate
    )
}

fn is_punctuation(c: char) -> bool {
    use GeneralCategory::*;
    c.is_ascii_punctuation()
        || matches!(
            get_general_category(c),
            ConnectorPunctuation
                | DashPunctuation
                | OpenPunctuation
                | ClosePunctuation
                | InitialPunctuation
                | FinalPunctuation
                | OtherPunctuation
        )
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B920..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> WordPiece {
        let vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nun\n##aff\n##able\nrun\n##ning\n,\n!\ncafe\n中";
        WordPiece::from_vocab_txt(vocab, 12).unwrap()
    }

    #[test]
    fn greedy_longest_match_with_continuations_and_unknown_words() {
        let t = toy();
        let e = t.encoder().unwrap();
        // [CLS] un ##aff ##able , running -> run ##ning ! zzz -> [UNK] [SEP]
        assert_eq!(
            e.ids("Unaffable, RUNNING! zzz"),
            vec![2, 4, 5, 6, 9, 7, 8, 10, 1, 3, 0, 0]
        );
        // Accents are stripped before lookup; a CJK character is a word of its own.
        assert_eq!(
            e.ids("Café中run"),
            vec![2, 11, 12, 7, 3, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn long_texts_are_cut_before_sep() {
        let t = toy().with_max_len(4);
        let e = t.encoder().unwrap();
        assert_eq!(e.ids("run run run run"), vec![2, 7, 7, 3]);
        assert_eq!(e.ids(""), vec![2, 3, 0, 0]);
    }

    #[test]
    fn normalizer_cleans_and_splits_like_berts() {
        assert_eq!(normalize("A\u{0}b\tC\u{200b}é"), "ab ce");
        assert_eq!(
            pre_tokenize("hi,there  (x)"),
            ["hi", ",", "there", "(", "x", ")"]
        );
    }

    #[test]
    fn missing_special_tokens_are_an_error() {
        let e = WordPiece::from_vocab_txt("[PAD]\n[UNK]\n[CLS]", 8).unwrap_err();
        assert!(e.to_string().contains("`[SEP]`"), "{e}");
    }
}
