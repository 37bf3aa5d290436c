//! Text to token ids: lower-cased words, a vocabulary fitted on training text.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Id of padding (also "no token").
pub const PAD: usize = 0;
/// Id of words outside the vocabulary.
pub const UNKNOWN: usize = 1;

/// Splits text into lower-case words of letters and digits.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// The tokens of one word: the word, then (with `subwords`) its character n-grams of
/// lengths 3 to 5 with `<` and `>` marking its ends, as fastText has them (`cat` ->
/// `cat`, `<ca`, `cat`... without repeating the word itself).
fn word_tokens(word: String, subwords: bool) -> Vec<String> {
    if !subwords {
        return vec![word];
    }
    let chars: Vec<char> = format!("<{word}>").chars().collect();
    let mut out = vec![word.clone()];
    for n in 3..=5 {
        for w in chars.windows(n) {
            let gram: String = w.iter().collect();
            if gram != word {
                out.push(format!("#{gram}"));
            }
        }
    }
    out
}

/// A fitted vocabulary and a fixed sequence length. Token `vocab[i]` has id `i + 2`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tokenizer {
    /// Words (and, with `subwords`, `#`-prefixed character n-grams), most frequent first.
    pub vocab: Vec<String>,
    /// Sequences are cut or padded to this many tokens.
    pub max_len: usize,
    /// Each word also brings its character n-grams.
    #[serde(default)]
    pub subwords: bool,
}

impl Tokenizer {
    /// Keeps the `max_vocab` most frequent tokens of `texts` (ties: alphabetical).
    pub fn fit<'a>(
        texts: impl IntoIterator<Item = &'a str>,
        max_vocab: usize,
        max_len: usize,
        subwords: bool,
    ) -> Self {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for t in texts {
            for w in words(t).flat_map(|w| word_tokens(w, subwords)) {
                *counts.entry(w).or_default() += 1;
            }
        }
        let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Tokenizer {
            vocab: ranked.into_iter().take(max_vocab).map(|(w, _)| w).collect(),
            max_len,
            subwords,
        }
    }

    /// Ids in use: padding, unknown and the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len() + 2
    }

    /// An encoder that looks words up in a hash map.
    pub fn encoder(&self) -> TextEncoder<'_> {
        TextEncoder {
            tokenizer: self,
            index: self
                .vocab
                .iter()
                .enumerate()
                .map(|(i, w)| (w.as_str(), i + 2))
                .collect(),
        }
    }
}

/// Encodes text with a [`Tokenizer`].
pub struct TextEncoder<'a> {
    tokenizer: &'a Tokenizer,
    index: HashMap<&'a str, usize>,
}

impl TextEncoder<'_> {
    /// `max_len` ids (as exact `f32`s, the data set's storage), padded with [`PAD`].
    pub fn encode(&self, text: &str) -> Vec<f32> {
        let mut ids: Vec<f32> = words(text)
            .flat_map(|w| word_tokens(w, self.tokenizer.subwords))
            .take(self.tokenizer.max_len)
            .map(|w| *self.index.get(w.as_str()).unwrap_or(&UNKNOWN) as f32)
            .collect();
        ids.resize(self.tokenizer.max_len, PAD as f32);
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_by_frequency_and_encodes_with_pad_and_unknown() {
        let t = Tokenizer::fit(["The red ball", "a RED cube", "red, red!"], 3, 4, false);
        assert_eq!(t.vocab, vec!["red", "a", "ball"]);
        assert_eq!(t.vocab_size(), 5);
        let e = t.encoder();
        assert_eq!(e.encode("Red ball zebra"), vec![2.0, 4.0, 1.0, 0.0]);
        assert_eq!(e.encode("red red red red red"), vec![2.0; 4]);
        assert_eq!(e.encode(""), vec![0.0; 4]);
    }

    #[test]
    fn subwords_add_each_words_character_ngrams() {
        assert_eq!(
            word_tokens("cat".into(), true),
            ["cat", "#<ca", "#at>", "#<cat", "#cat>", "#<cat>"]
        );
        assert_eq!(word_tokens("cat".into(), false), ["cat"]);
        // `cats` was never seen, but shares its n-grams with `cat`.
        let t = Tokenizer::fit(["cat", "dog"], 100, 8, true);
        let ids = t.encoder().encode("cats");
        assert_eq!(ids[0], UNKNOWN as f32);
        assert!(
            ids[1..].iter().filter(|&&i| i > UNKNOWN as f32).count() >= 2,
            "{ids:?}"
        );
    }

    #[test]
    fn words_handle_unicode_and_punctuation() {
        let w: Vec<String> = words("Über-große  Kätzchen, 42!").collect();
        assert_eq!(w, vec!["über", "große", "kätzchen", "42"]);
    }
}
