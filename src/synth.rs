//! A synthetic corpus generator for measuring cost at scale (not accuracy).
//!
//! Documents follow the shapes that drive training cost in real indexing corpora: a Zipfian
//! vocabulary of Chinese-looking words, long-tailed descriptor frequencies, several descriptors
//! per document, and descriptor-specific vocabulary mixed into each body. Bodies are written
//! pre-segmented (space-separated words), like the example UN resolution.

use std::io::Write;

use crate::classifier::logistic::XorShift;
use crate::error::{Error, Result};

/// Generator settings as given by the user.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthParams {
    pub documents: usize,
    pub descriptors: usize,
    /// Mean words per document (actual lengths vary from half to one and a half times this).
    pub words_per_document: usize,
    pub vocabulary: usize,
    /// Mean descriptors per document.
    pub descriptors_per_document: f64,
    /// Share of a body drawn from its descriptors' own vocabularies.
    pub topical_share: f64,
    pub seed: u64,
}

impl Default for SynthParams {
    fn default() -> Self {
        SynthParams {
            documents: 10_000,
            descriptors: 200,
            words_per_document: 300,
            vocabulary: 50_000,
            descriptors_per_document: 2.5,
            topical_share: 0.3,
            seed: 42,
        }
    }
}

/// Validated [`SynthParams`].
#[derive(Debug, Clone)]
pub struct ValidSynthParams(SynthParams);

impl SynthParams {
    pub fn check(self) -> Result<ValidSynthParams> {
        let positive = |name, v: usize| {
            if v == 0 {
                Err(Error::param(name, "must be at least 1"))
            } else {
                Ok(())
            }
        };
        positive("documents", self.documents)?;
        positive("descriptors", self.descriptors)?;
        positive("words_per_document", self.words_per_document)?;
        if self.vocabulary < 100 {
            return Err(Error::param("vocabulary", "must be at least 100"));
        }
        if !(1.0..=20.0).contains(&self.descriptors_per_document) {
            return Err(Error::param(
                "descriptors_per_document",
                "must be in [1, 20]",
            ));
        }
        if !(0.0..=1.0).contains(&self.topical_share) {
            return Err(Error::param("topical_share", "must be in [0, 1]"));
        }
        Ok(ValidSynthParams(self))
    }
}

/// Samples indices with probability proportional to `1 / (rank + 1)^exponent`.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, exponent: f64) -> Self {
        let mut total = 0.0;
        let cumulative = (0..n)
            .map(|r| {
                total += 1.0 / ((r + 1) as f64).powf(exponent);
                total
            })
            .collect();
        Zipf { cumulative }
    }

    fn sample(&self, rng: &mut XorShift) -> usize {
        let total = *self.cumulative.last().expect("non-empty");
        let u = unit(rng) * total;
        self.cumulative
            .partition_point(|&c| c < u)
            .min(self.cumulative.len() - 1)
    }
}

fn unit(rng: &mut XorShift) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A pronounceable-looking Chinese word for vocabulary rank `rank` (2–4 characters).
fn word(rank: usize) -> String {
    // Common CJK range; the mapping is a bijection on ranks, so words are distinct.
    const BASE: u32 = 0x4E00;
    const SPAN: usize = 0x9FA5 - 0x4E00;
    let mut n = rank;
    let mut w = String::new();
    loop {
        w.push(char::from_u32(BASE + (n % SPAN) as u32).expect("valid CJK code point"));
        n /= SPAN;
        if n == 0 {
            break;
        }
    }
    // Pad to at least two characters so the default analyzer keeps every word.
    if w.chars().count() < 2 {
        w.push('之');
    }
    w
}

impl ValidSynthParams {
    /// Writes the corpus to `out` and returns how many documents were written.
    pub fn write(&self, out: &mut dyn Write) -> std::io::Result<usize> {
        let p = &self.0;
        let mut rng = XorShift(p.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let general = Zipf::new(p.vocabulary, 1.05);
        let descriptor_popularity = Zipf::new(p.descriptors, 1.1);
        // Each descriptor owns a slice of the vocabulary tail, reached through its own Zipf.
        let topic_size = (p.vocabulary / p.descriptors).clamp(20, 400);
        let topic_words = Zipf::new(topic_size, 0.9);
        let topic_offset = |d: usize| (d * 7919 * topic_size) % (p.vocabulary - topic_size);

        let mut body = String::new();
        let mut chosen: Vec<usize> = Vec::new();
        for _ in 0..p.documents {
            chosen.clear();
            let wanted =
                1 + (unit(&mut rng) * 2.0 * (p.descriptors_per_document - 1.0)).round() as usize;
            let wanted = wanted.min(p.descriptors);
            while chosen.len() < wanted {
                let d = descriptor_popularity.sample(&mut rng);
                if !chosen.contains(&d) {
                    chosen.push(d);
                }
            }
            let length = (p.words_per_document as f64 * (0.5 + unit(&mut rng))) as usize;
            body.clear();
            for _ in 0..length.max(1) {
                let rank = if unit(&mut rng) < p.topical_share {
                    let d = chosen[(rng.next_u64() % chosen.len() as u64) as usize];
                    topic_offset(d) + topic_words.sample(&mut rng)
                } else {
                    general.sample(&mut rng)
                };
                body.push(' ');
                body.push_str(&word(rank));
            }
            write!(out, "%%%")?;
            for d in &chosen {
                write!(out, "DESCRIPTOR {:04}|", d + 1)?;
            }
            writeln!(out, "\n\n{body}")?;
        }
        Ok(p.documents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::parse_corpus;

    #[test]
    fn writes_a_valid_long_tailed_corpus() {
        let params = SynthParams {
            documents: 400,
            descriptors: 30,
            words_per_document: 40,
            vocabulary: 2_000,
            ..Default::default()
        };
        let mut bytes = Vec::new();
        let n = params.check().unwrap().write(&mut bytes).unwrap();
        let parsed = parse_corpus("synth", &bytes);
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems.first());
        assert_eq!(parsed.documents.len(), n);
        let mut counts = std::collections::HashMap::new();
        for d in &parsed.documents {
            for l in &d.descriptors {
                *counts.entry(l.clone()).or_insert(0usize) += 1;
            }
        }
        let mut freq: Vec<usize> = counts.into_values().collect();
        freq.sort_unstable_by(|a, b| b.cmp(a));
        assert!(freq[0] > 5 * freq[freq.len() / 2], "long tail: {freq:?}");
    }

    #[test]
    fn words_are_distinct_per_rank() {
        let words: std::collections::HashSet<String> = (0..50_000).map(word).collect();
        assert_eq!(words.len(), 50_000);
    }
}
