//! The new documents of an update, analysed once: rows in the model's fixed vocabulary, the
//! words the label lexicon is matched in, and what the vocabulary lacks.

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::analysis::{Analyzer, Term, CHAR_NGRAM_PREFIX, COORDINATOR_MARK};
use crate::features::sparse::SparseRow;
use crate::features::TfidfVectorizer;
use crate::progress::Stage;

/// A new document analysed with the model's analyzer and vocabulary.
pub(super) struct AnalysedDocument {
    pub(super) row: SparseRow,
    /// The words the label lexicon is matched in.
    pub(super) words: Vec<String>,
    /// Distinct terms known to the vocabulary.
    pub(super) known_terms: usize,
}

/// The new documents analysed, with the counts of out-of-vocabulary tokens.
pub(super) struct Analysed {
    pub(super) documents: Vec<AnalysedDocument>,
    pub(super) tokens: u64,
    pub(super) ignored_tokens: u64,
    /// Out-of-vocabulary term → documents it occurs in.
    pub(super) ignored: FxHashMap<String, u32>,
}

/// Analyses `texts` once each: their rows in the fixed vocabulary, their words, and the
/// tokens the vocabulary lacks.
pub(super) fn analyse(
    vectorizer: &TfidfVectorizer,
    analyzer: &Analyzer,
    texts: &[&str],
    progress: &dyn Stage,
) -> Analysed {
    let chunk_size = texts
        .len()
        .div_ceil(rayon::current_num_threads() * 8)
        .max(1);
    let parts: Vec<Analysed> = texts
        .par_chunks(chunk_size)
        .map(|chunk| {
            let mut part = Analysed {
                documents: Vec::with_capacity(chunk.len()),
                tokens: 0,
                ignored_tokens: 0,
                ignored: FxHashMap::default(),
            };
            let mut counts: FxHashMap<u32, u32> = FxHashMap::default();
            let mut unknown: FxHashSet<String> = FxHashSet::default();
            for text in chunk {
                counts.clear();
                let mut words: Vec<String> = Vec::new();
                let mut count = |column: Option<u32>, term: &dyn Fn() -> String| {
                    part.tokens += 1;
                    match column {
                        Some(c) => *counts.entry(c).or_insert(0) += 1,
                        None => {
                            part.ignored_tokens += 1;
                            let term = term();
                            if !unknown.contains(&term) {
                                unknown.insert(term);
                            }
                        }
                    }
                };
                // The tokens `Analyzer::for_each_token` gives (words, then character
                // n-grams; the order does not matter to counts), with the n-grams of one
                // ideograph looked up by character.
                let normalized = analyzer.normalize(text);
                analyzer.for_each_word_of_normalized(&normalized, &mut |t| match t {
                    Term::Text(w) => {
                        words.push(w.to_string());
                        count(vectorizer.column(w), &|| w.to_string());
                    }
                    Term::Coordinator => words.push(COORDINATOR_MARK.to_string()),
                    Term::Han(_) => {}
                });
                analyzer.for_each_ngram_of_normalized(&normalized, &mut |t| match t {
                    Term::Text(t) => count(vectorizer.column(t), &|| t.to_string()),
                    Term::Han(c) => count(vectorizer.han_column(c), &|| {
                        format!("{CHAR_NGRAM_PREFIX}{c}")
                    }),
                    Term::Coordinator => {}
                });
                for term in unknown.drain() {
                    *part.ignored.entry(term).or_insert(0) += 1;
                }
                let known_terms = counts.len();
                part.documents.push(AnalysedDocument {
                    row: vectorizer.weigh(counts.drain().collect()),
                    words,
                    known_terms,
                });
            }
            progress.advance(chunk.len() as u64);
            part
        })
        .collect();
    let mut all = Analysed {
        documents: Vec::with_capacity(texts.len()),
        tokens: 0,
        ignored_tokens: 0,
        ignored: FxHashMap::default(),
    };
    for part in parts {
        all.documents.extend(part.documents);
        all.tokens += part.tokens;
        all.ignored_tokens += part.ignored_tokens;
        for (term, n) in part.ignored {
            *all.ignored.entry(term).or_insert(0) += n;
        }
    }
    all
}
