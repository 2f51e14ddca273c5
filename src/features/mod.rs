//! TF-IDF features learned once on the training corpus and stored in the model.
//!
//! Unlike linfa-preprocessing's vectorizer, document frequencies are never recomputed at
//! transform time: a single draft gets exactly the row it would get inside a batch, because
//! both go through [`TfidfVectorizer::transform`].

pub mod sparse;

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::analysis::{Analyzer, Term, CHAR_NGRAM_PREFIX, COORDINATOR_MARK};
use crate::error::{Error, Result};
use crate::progress::Stage;
use sparse::{CsrMatrix, SparseRow};

/// Vectorizer settings as given by the user; [`TfidfParams::check`] validates them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TfidfParams {
    /// Keep terms found in at least this many training documents.
    pub min_df: usize,
    /// Drop terms found in more than this fraction of training documents.
    pub max_df: f64,
    /// Keep at most this many terms (the most frequent by document frequency).
    pub max_features: Option<usize>,
    /// Use `1 + ln(tf)` instead of raw counts.
    pub sublinear_tf: bool,
}

impl Default for TfidfParams {
    fn default() -> Self {
        TfidfParams {
            min_df: 2,
            max_df: 1.0,
            max_features: None,
            sublinear_tf: true,
        }
    }
}

/// Validated [`TfidfParams`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidTfidfParams(TfidfParams);

impl TfidfParams {
    pub fn check(self) -> Result<ValidTfidfParams> {
        if self.min_df == 0 {
            return Err(Error::param("min_df", "must be at least 1"));
        }
        if !(self.max_df > 0.0 && self.max_df <= 1.0) {
            return Err(Error::param("max_df", "must be in (0, 1]"));
        }
        if self.max_features == Some(0) {
            return Err(Error::param("max_features", "must be at least 1"));
        }
        Ok(ValidTfidfParams(self))
    }
}

impl ValidTfidfParams {
    /// Learns vocabulary and idf from `texts` and returns their rows, analysing each text
    /// once. `progress` advances once per text.
    pub fn fit_transform(
        &self,
        analyzer: &Analyzer,
        texts: &[&str],
        progress: &dyn Stage,
    ) -> Result<(TfidfVectorizer, CsrMatrix)> {
        let (vectorizer, x, _) =
            self.fit_transform_observing::<()>(analyzer, texts, progress, None)?;
        Ok((vectorizer, x))
    }

    /// [`Self::fit_transform`] that also hands every document's word sequence (the words
    /// [`Analyzer::for_each_word`] gives, in order) to `observe` and returns what it made of
    /// each, in the order of `texts`: a caller that reads the words (the label lexicon) needs
    /// no second segmentation of the corpus, and the texts are not needed after analysis.
    pub fn fit_transform_observing<T: Send>(
        &self,
        analyzer: &Analyzer,
        texts: &[&str],
        progress: &dyn Stage,
        observe: Option<&WordObserver<'_, T>>,
    ) -> Result<(TfidfVectorizer, CsrMatrix, Vec<T>)> {
        if texts.is_empty() {
            return Err(Error::Training(
                "no documents to learn features from".into(),
            ));
        }
        // Each chunk interns its own terms; chunks are merged once at the end, so threads
        // never contend on a shared dictionary.
        let chunk_size = texts
            .len()
            .div_ceil(rayon::current_num_threads() * 8)
            .max(1);
        // First what needs no segmenter (normalisation, character n-grams), then the words:
        // a segmenter still loading its dictionary (`JiebaSegmenter`) loads it meanwhile.
        let mut partial: Vec<PartialCounts> = texts
            .par_chunks(chunk_size)
            .map(|chunk| PartialCounts::ngrams(analyzer, chunk))
            .collect();
        let (chunks, observed): (Vec<ChunkCounts>, Vec<Vec<T>>) = partial
            .par_iter_mut()
            .map(|p| {
                let counts = p.words(analyzer, observe);
                progress.advance(counts.0.docs.len() as u64);
                counts
            })
            .unzip();

        let mut df: FxHashMap<&str, u32> = FxHashMap::default();
        for chunk in &chunks {
            for (term, &d) in chunk.terms.iter().zip(&chunk.df) {
                *df.entry(term.as_str()).or_insert(0) += d;
            }
        }
        if df.is_empty() {
            return Err(Error::Training(
                "the analyzer found no terms in any document".into(),
            ));
        }
        let most_common = df.values().copied().max().unwrap_or(0) as usize;
        let (terms, idf) = self.select_vocabulary(df, texts.len());
        // An empty vocabulary would make a model that suggests the same for every text; say
        // which setting emptied it.
        if terms.is_empty() {
            let p = &self.0;
            return Err(if most_common < p.min_df {
                Error::param(
                    "min_df",
                    format!(
                        "no term is in {} or more of the {} documents (the most common is in {most_common}), \
                         so the vocabulary would be empty",
                        p.min_df,
                        texts.len()
                    ),
                )
            } else {
                Error::param(
                    "max_df",
                    format!(
                        "every term in at least {} document(s) is in more than a fraction {} of the {} \
                         documents, so the vocabulary would be empty",
                        p.min_df,
                        p.max_df,
                        texts.len()
                    ),
                )
            });
        }
        let vectorizer = TfidfVectorizer::new(terms, idf, self.0.sublinear_tf, texts.len());

        // Each chunk's counts are freed as soon as its rows are weighed (on a large corpus
        // counts and rows are gigabytes each).
        let n_features = vectorizer.n_features();
        let parts: Vec<CsrMatrix> = chunks
            .into_par_iter()
            .map(|chunk| {
                let columns: Vec<Option<u32>> =
                    chunk.terms.iter().map(|t| vectorizer.column(t)).collect();
                let mut part = CsrMatrix::new(n_features);
                for doc in chunk.docs {
                    let row = vectorizer.weigh(
                        doc.iter()
                            .filter_map(|&(local, n)| columns[local as usize].map(|c| (c, n)))
                            .collect(),
                    );
                    part.push_row(&row.indices, &row.values);
                }
                part
            })
            .collect();
        Ok((
            vectorizer,
            CsrMatrix::stacked(parts, n_features),
            observed.into_iter().flatten().collect(),
        ))
    }

    /// Applies min_df, max_df and max_features; returns sorted terms and their idf.
    fn select_vocabulary(
        &self,
        df: FxHashMap<&str, u32>,
        n_docs: usize,
    ) -> (Vec<String>, Vec<f32>) {
        let p = &self.0;
        let max_df_docs = ((p.max_df * n_docs as f64).floor() as u32).max(1);
        let mut kept: Vec<(&str, u32)> = df
            .into_iter()
            .filter(|&(_, d)| d as usize >= p.min_df && d <= max_df_docs)
            .collect();
        if let Some(limit) = p.max_features {
            if kept.len() > limit {
                kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
                kept.truncate(limit);
            }
        }
        // Sorted terms make the model independent of thread scheduling and input format.
        kept.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let idf = kept
            .iter()
            .map(|&(_, d)| (((1 + n_docs) as f64 / (1 + d) as f64).ln() + 1.0) as f32)
            .collect();
        (kept.into_iter().map(|(t, _)| t.to_string()).collect(), idf)
    }
}

/// A draft analysed as far as [`TfidfVectorizer::count_ngrams`] goes: its normalised text and
/// the counts of its terms so far.
pub struct NgramCounts<'t> {
    normalized: std::borrow::Cow<'t, str>,
    /// Known terms by column.
    counts: FxHashMap<u32, u32>,
    /// Terms outside the vocabulary.
    unknown: rustc_hash::FxHashSet<String>,
    /// Unknown one-ideograph n-grams, by character (the same terms as `#c` strings).
    unknown_han: rustc_hash::FxHashSet<char>,
}

impl NgramCounts<'_> {
    /// Counts one term of the draft.
    fn add(&mut self, vectorizer: &TfidfVectorizer, term: Term<'_>) {
        let one_ideograph = match term {
            Term::Han(c) => Some(c),
            Term::Text(t) => one_ideograph_gram(t),
            Term::Coordinator => return,
        };
        if let Some(c) = one_ideograph {
            match vectorizer.han_column(c) {
                Some(col) => *self.counts.entry(col).or_insert(0) += 1,
                None => {
                    self.unknown_han.insert(c);
                }
            }
            return;
        }
        let Term::Text(t) = term else { return };
        match vectorizer.index.get(t) {
            Some(&col) => *self.counts.entry(col).or_insert(0) += 1,
            None => {
                if !self.unknown.contains(t) {
                    self.unknown.insert(t.to_string());
                }
            }
        }
    }
}

/// A text's distinct terms, and how many of them the vocabulary has
/// ([`TfidfVectorizer::overlap`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overlap {
    pub terms: usize,
    pub known: usize,
}

/// What [`ValidTfidfParams::fit_transform_observing`] calls with each document's words.
pub type WordObserver<'a, T> = dyn Fn(&[&str]) -> T + Sync + 'a;

/// Term counts of a run of documents, with terms interned locally.
struct ChunkCounts {
    terms: Vec<String>,
    df: Vec<u32>,
    /// Per document: (local term id, count).
    docs: Vec<Vec<(u32, u32)>>,
}

/// A run of documents half counted: normalised, character n-grams counted, words not yet.
struct PartialCounts<'t> {
    interner: Interner,
    normalized: Vec<std::borrow::Cow<'t, str>>,
    /// Per document, its character n-grams' `(term, count)`.
    ngrams: Vec<Vec<(u32, u32)>>,
}

impl<'t> PartialCounts<'t> {
    fn ngrams(analyzer: &Analyzer, texts: &[&'t str]) -> Self {
        let mut interner = Interner::default();
        let mut normalized = Vec::with_capacity(texts.len());
        let mut ngrams = Vec::with_capacity(texts.len());
        for text in texts {
            let text = analyzer.normalize(text);
            analyzer.for_each_ngram_of_normalized(&text, &mut |term| {
                let id = interner.id(term);
                interner.add(id);
            });
            ngrams.push(interner.finish_document());
            normalized.push(text);
        }
        PartialCounts {
            interner,
            normalized,
            ngrams,
        }
    }

    /// Adds the words; the n-gram terms and the word terms are disjoint (`#` starts no word),
    /// so a document's pairs are its n-grams' followed by its words'.
    fn words<T>(
        &mut self,
        analyzer: &Analyzer,
        observe: Option<&WordObserver<'_, T>>,
    ) -> (ChunkCounts, Vec<T>) {
        let interner = &mut self.interner;
        let mut docs = Vec::with_capacity(self.normalized.len());
        let mut observed = Vec::with_capacity(if observe.is_some() {
            docs.capacity()
        } else {
            0
        });
        let mut sequence: Vec<u32> = Vec::new();
        for (text, mut doc) in self.normalized.drain(..).zip(self.ngrams.drain(..)) {
            sequence.clear();
            analyzer.for_each_word_of_normalized(&text, &mut |term| {
                if term == Term::Coordinator {
                    if observe.is_some() {
                        sequence.push(COORDINATOR_IN_SEQUENCE);
                    }
                    return;
                }
                let id = interner.id(term);
                interner.add(id);
                if observe.is_some() {
                    sequence.push(id);
                }
            });
            if let Some(observe) = observe {
                let words: Vec<&str> = sequence
                    .iter()
                    .map(|&id| match id {
                        COORDINATOR_IN_SEQUENCE => COORDINATOR_MARK,
                        _ => interner.terms[id as usize].as_str(),
                    })
                    .collect();
                observed.push(observe(&words));
            }
            doc.extend(interner.finish_document());
            docs.push(doc);
        }
        let interner = std::mem::take(interner);
        (
            ChunkCounts {
                terms: interner.terms,
                df: interner.df,
                docs,
            },
            observed,
        )
    }
}

/// A coordinator's place in a document's sequence of local term ids (no term has this id).
const COORDINATOR_IN_SEQUENCE: u32 = u32::MAX;

/// The ideograph of a term that is the n-gram of one ideograph of the basic unified block
/// (`#` and the character), as a [`Term::Han`] gives it.
fn one_ideograph_gram(term: &str) -> Option<char> {
    let mut chars = term.chars();
    match (chars.next(), chars.next(), chars.next()) {
        (Some(CHAR_NGRAM_PREFIX), Some(c), None) if ('\u{4E00}'..='\u{9FFF}').contains(&c) => {
            Some(c)
        }
        _ => None,
    }
}

/// The first code point of the basic block of unified ideographs.
const FIRST_UNIFIED_IDEOGRAPH: u32 = 0x4E00;

/// Number of code points of the basic block of unified ideographs (U+4E00..=U+9FFF).
const UNIFIED_IDEOGRAPHS: usize = 0x5200;

/// Local term ids of a chunk and the counts of the document being read. Words up to 15 bytes
/// (nearly every Chinese word) are looked up by a 16-byte integer key, so a lookup hashes and
/// compares one integer; the n-gram of one ideograph is looked up by the character.
#[derive(Default)]
struct Interner {
    terms: Vec<String>,
    df: Vec<u32>,
    short: FxHashMap<u128, u32>,
    long: FxHashMap<String, u32>,
    /// Per unified ideograph `c`, the id of the term `#c` plus one (0: not seen yet).
    han: Vec<u32>,
    /// Per term, its count in the current document.
    counts: Vec<u32>,
    /// The current document's terms, in the order first seen.
    seen: Vec<u32>,
}

impl Interner {
    #[inline]
    fn id(&mut self, term: Term<'_>) -> u32 {
        match term {
            Term::Han(c) => self.han_id(c),
            Term::Coordinator => unreachable!("a coordinator is no term; callers pass it by"),
            Term::Text(t) => {
                // `#` and one ideograph is the same term whichever way it comes.
                if let Some(c) = one_ideograph_gram(t) {
                    return self.han_id(c);
                }
                match short_key(t) {
                    Some(key) => match self.short.get(&key) {
                        Some(&id) => id,
                        None => {
                            let id = self.push(t.to_string());
                            self.short.insert(key, id);
                            id
                        }
                    },
                    None => match self.long.get(t) {
                        Some(&id) => id,
                        None => {
                            let id = self.push(t.to_string());
                            self.long.insert(t.to_string(), id);
                            id
                        }
                    },
                }
            }
        }
    }

    #[inline]
    fn han_id(&mut self, c: char) -> u32 {
        if self.han.is_empty() {
            self.han = vec![0; UNIFIED_IDEOGRAPHS];
        }
        let slot = c as usize - 0x4E00;
        match self.han[slot] {
            0 => {
                let mut term = String::with_capacity(4);
                term.push(CHAR_NGRAM_PREFIX);
                term.push(c);
                let id = self.push(term);
                self.han[slot] = id + 1;
                id
            }
            stored => stored - 1,
        }
    }

    fn push(&mut self, term: String) -> u32 {
        let id = self.terms.len() as u32;
        self.terms.push(term);
        self.df.push(0);
        self.counts.push(0);
        id
    }

    #[inline]
    fn add(&mut self, id: u32) {
        let count = &mut self.counts[id as usize];
        if *count == 0 {
            self.seen.push(id);
        }
        *count += 1;
    }

    /// The current document's `(term, count)` pairs; counts start again from zero.
    fn finish_document(&mut self) -> Vec<(u32, u32)> {
        let doc = self
            .seen
            .iter()
            .map(|&id| {
                let count = std::mem::take(&mut self.counts[id as usize]);
                self.df[id as usize] += 1;
                (id, count)
            })
            .collect();
        self.seen.clear();
        doc
    }
}

/// A term of at most 15 bytes as one integer: its bytes, zero-padded, and its length in the
/// last byte (so `a` and `a\0` differ).
#[inline]
fn short_key(term: &str) -> Option<u128> {
    let bytes = term.as_bytes();
    if bytes.len() > 15 {
        return None;
    }
    let mut key = [0u8; 16];
    key[..bytes.len()].copy_from_slice(bytes);
    key[15] = bytes.len() as u8;
    Some(u128::from_le_bytes(key))
}

/// Stored form of a fitted vectorizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TfidfState {
    pub terms: Vec<String>,
    pub idf: Vec<f32>,
    pub sublinear_tf: bool,
    pub n_train_docs: usize,
}

/// A fitted vectorizer: vocabulary, idf and the term → column index.
#[derive(Debug, Clone)]
pub struct TfidfVectorizer {
    state: TfidfState,
    index: FxHashMap<String, u32>,
    /// Per character of the basic unified block, the column of its one-ideograph n-gram
    /// (`#` and the character) plus one, 0 outside the vocabulary; built on first use.
    /// *Why:* most of a Chinese text's tokens are these, and an array lookup spares hashing
    /// and comparing each as a string.
    han_columns: std::sync::OnceLock<Vec<u32>>,
    /// Columns of character n-grams, weighted by presence: a character's count mostly
    /// repeats the counts of the words it is part of, which the word columns already weigh.
    presence_only: Vec<bool>,
}

impl TfidfVectorizer {
    pub fn new(terms: Vec<String>, idf: Vec<f32>, sublinear_tf: bool, n_train_docs: usize) -> Self {
        Self::from_state(TfidfState {
            terms,
            idf,
            sublinear_tf,
            n_train_docs,
        })
    }

    pub fn from_state(state: TfidfState) -> Self {
        let index = state
            .terms
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let presence_only = state
            .terms
            .iter()
            .map(|t| t.starts_with(CHAR_NGRAM_PREFIX))
            .collect();
        TfidfVectorizer {
            state,
            index,
            han_columns: std::sync::OnceLock::new(),
            presence_only,
        }
    }

    /// The column of the n-gram of one ideograph `c` of the basic unified block (as
    /// [`Term::Han`] gives it): the same as [`Self::column`] of `#c`, without a string.
    pub(crate) fn han_column(&self, c: char) -> Option<u32> {
        let table = self.han_columns.get_or_init(|| {
            let mut key = String::with_capacity(4);
            (FIRST_UNIFIED_IDEOGRAPH..FIRST_UNIFIED_IDEOGRAPH + UNIFIED_IDEOGRAPHS as u32)
                .map(|c| {
                    let Some(c) = char::from_u32(c) else { return 0 };
                    key.clear();
                    key.push(CHAR_NGRAM_PREFIX);
                    key.push(c);
                    self.column(&key).map_or(0, |column| column + 1)
                })
                .collect()
        });
        match (c as u32)
            .checked_sub(FIRST_UNIFIED_IDEOGRAPH)
            .and_then(|slot| table.get(slot as usize))
        {
            Some(&slot) => slot.checked_sub(1),
            None => {
                let mut key = String::with_capacity(4);
                key.push(CHAR_NGRAM_PREFIX);
                key.push(c);
                self.column(&key)
            }
        }
    }

    pub fn state(&self) -> &TfidfState {
        &self.state
    }

    pub fn n_features(&self) -> usize {
        self.state.terms.len()
    }

    pub fn term(&self, column: usize) -> &str {
        &self.state.terms[column]
    }

    pub fn column(&self, term: &str) -> Option<u32> {
        self.index.get(term).copied()
    }

    /// How much of a text's vocabulary the model knows: its distinct terms, and those in the
    /// vocabulary. A text that shares (almost) none has nothing its suggestions could rest on.
    pub fn overlap(&self, analyzer: &Analyzer, text: &str) -> Overlap {
        self.analyse(analyzer, text, None).1
    }

    /// The l2-normalised TF-IDF row of one text. Terms outside the vocabulary are ignored.
    pub fn transform(&self, analyzer: &Analyzer, text: &str) -> SparseRow {
        self.analyse(analyzer, text, None).0
    }

    /// One analysis of a draft gives all it is needed for: its row ([`Self::transform`]),
    /// its [`Overlap`] with the vocabulary ([`Self::overlap`]), and to `words`, when given,
    /// its word sequence (the words [`Analyzer::for_each_word`] gives, in order), in which
    /// the label lexicon finds its labels. The text is normalised and segmented once.
    pub fn analyse(
        &self,
        analyzer: &Analyzer,
        text: &str,
        words: Option<&mut dyn FnMut(&str)>,
    ) -> (SparseRow, Overlap) {
        let ngrams = self.count_ngrams(analyzer, text);
        self.finish_analysis(analyzer, ngrams, words)
    }

    /// The first part of [`Self::analyse`], which needs no segmenter: the draft normalised and
    /// its character n-grams counted. *Why apart:* drafts can be counted this far while a
    /// segmenter's dictionary still loads (`Suggester::suggest` does, as training does).
    pub fn count_ngrams<'t>(&self, analyzer: &Analyzer, text: &'t str) -> NgramCounts<'t> {
        let mut counted = NgramCounts {
            normalized: analyzer.normalize(text),
            counts: FxHashMap::default(),
            unknown: Default::default(),
            unknown_han: Default::default(),
        };
        let normalized = std::mem::take(&mut counted.normalized);
        analyzer.for_each_ngram_of_normalized(&normalized, &mut |term| counted.add(self, term));
        counted.normalized = normalized;
        counted
    }

    /// The rest of [`Self::analyse`]: the words of a draft counted by [`Self::count_ngrams`]
    /// (words and character n-grams are disjoint terms, so counting the n-grams first gives
    /// the counts of `for_each_token`'s interleaved order), its row and overlap.
    pub fn finish_analysis(
        &self,
        analyzer: &Analyzer,
        mut counted: NgramCounts<'_>,
        mut words: Option<&mut dyn FnMut(&str)>,
    ) -> (SparseRow, Overlap) {
        let normalized = std::mem::take(&mut counted.normalized);
        analyzer.for_each_word_of_normalized(&normalized, &mut |term| match term {
            Term::Text(t) => {
                counted.add(self, term);
                if let Some(observe) = words.as_mut() {
                    observe(t);
                }
            }
            Term::Coordinator => {
                if let Some(observe) = words.as_mut() {
                    observe(COORDINATOR_MARK);
                }
            }
            Term::Han(_) => {}
        });
        let NgramCounts {
            counts,
            unknown,
            unknown_han,
            ..
        } = counted;
        let overlap = Overlap {
            terms: counts.len() + unknown.len() + unknown_han.len(),
            known: counts.len(),
        };
        (self.weigh(counts.into_iter().collect()), overlap)
    }

    /// Rows for many texts, computed in parallel; identical to calling [`Self::transform`].
    pub fn transform_batch(
        &self,
        analyzer: &Analyzer,
        texts: &[&str],
        progress: &dyn Stage,
    ) -> CsrMatrix {
        let rows: Vec<SparseRow> = texts
            .par_iter()
            .map(|t| {
                let row = self.transform(analyzer, t);
                progress.advance(1);
                row
            })
            .collect();
        CsrMatrix::from_rows(rows, self.n_features())
    }

    /// TF-IDF weights of `(column, count)` pairs, l2-normalised, sorted by column.
    pub(crate) fn weigh(&self, mut entries: Vec<(u32, u32)>) -> SparseRow {
        entries.sort_unstable_by_key(|&(c, _)| c);
        let mut row = SparseRow {
            indices: Vec::with_capacity(entries.len()),
            values: Vec::with_capacity(entries.len()),
        };
        let mut norm = 0.0f64;
        for (col, count) in entries {
            let tf = if self.presence_only[col as usize] {
                1.0
            } else if self.state.sublinear_tf {
                1.0 + (count as f64).ln()
            } else {
                count as f64
            };
            let w = tf * self.state.idf[col as usize] as f64;
            norm += w * w;
            row.indices.push(col);
            row.values.push(w as f32);
        }
        if norm > 0.0 {
            let inv = (1.0 / norm.sqrt()) as f32;
            row.values.iter_mut().for_each(|v| *v *= inv);
        }
        row
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{AnalyzerConfig, SegmenterKind};
    use crate::progress::NoProgress;

    fn whitespace() -> Analyzer {
        Analyzer::new(AnalyzerConfig {
            segmenter: SegmenterKind::Whitespace,
            min_word_chars: 1,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn observed_words_are_the_analyzers_words_in_order_for_every_text() {
        // The default analyzer: jieba words, character n-grams (which must not be observed),
        // NFKC normalisation (full-width letters) and stop words. 40 texts: several chunks.
        let a = Analyzer::new(AnalyzerConfig::default()).unwrap();
        let texts: Vec<String> = (0..40)
            .map(|i| format!("安理会第{i}号决议 呼吁 ＵＮ 非洲联盟 加强 区域 合作 的 和平 行动"))
            .collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let params = TfidfParams::default().check().unwrap();
        let observe = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        let (v, x, observed) = params
            .fit_transform_observing(&a, &texts, &NoProgress, Some(&observe))
            .unwrap();
        assert_eq!(observed.len(), texts.len());
        for (text, seen) in texts.iter().zip(&observed) {
            let mut words = Vec::new();
            a.for_each_word(text, &mut |w| words.push(w.to_string()));
            assert!(!words.is_empty());
            assert_eq!(seen, &words, "{text}");
        }
        // Observing changes nothing of the vectoriser's result.
        let (v_plain, x_plain) = params.fit_transform(&a, &texts, &NoProgress).unwrap();
        assert_eq!((v.n_features(), &x), (v_plain.n_features(), &x_plain));
    }

    #[test]
    fn a_run_of_coordinators_is_observed_as_one_mark() {
        let a = Analyzer::new(AnalyzerConfig::default()).unwrap();
        let texts = ["区域 和 与 和 合作 组织", "区域 和 与 和 合作 组织"];
        let params = TfidfParams::default().check().unwrap();
        let observe = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        let (v, _, observed) = params
            .fit_transform_observing(&a, &texts, &NoProgress, Some(&observe))
            .unwrap();
        let marks = |words: &[String]| words.iter().filter(|w| *w == COORDINATOR_MARK).count();
        assert_eq!(marks(&observed[0]), 1, "{:?}", observed[0]);
        // A draft's words are observed alike.
        let mut draft: Vec<String> = Vec::new();
        let mut push = |w: &str| draft.push(w.to_string());
        v.analyse(&a, texts[0], Some(&mut push));
        assert_eq!(draft, observed[0]);
    }

    #[test]
    fn one_ideograph_columns_are_the_columns_of_their_strings() {
        let a = Analyzer::new(AnalyzerConfig::default()).unwrap();
        // Each twice: the default vocabulary keeps terms of two documents or more.
        let texts = [
            "安理会 呼吁 区域 合作",
            "安理会 呼吁 区域 合作",
            "非洲 联盟 和平 行动",
            "非洲 联盟 和平 行动",
        ];
        let params = TfidfParams::default().check().unwrap();
        let (v, _) = params.fit_transform(&a, &texts, &NoProgress).unwrap();
        for c in "安理会呼吁区域合作非洲联盟和平行动龘一".chars() {
            let gram = format!("{CHAR_NGRAM_PREFIX}{c}");
            assert_eq!(v.han_column(c), v.column(&gram), "{c}");
        }
        assert!(v.han_column('安').is_some() && v.han_column('龘').is_none());
        // A text with a known and an unknown ideograph: the same row and overlap as the
        // string lookups give (the unknown one counts once among the text's terms).
        let (row, overlap) = v.analyse(&a, "安 龘 龘", None);
        assert_eq!(row, v.transform(&a, "安"));
        assert_eq!((overlap.known, overlap.terms), (1, 2));
    }

    #[test]
    fn single_draft_gets_the_same_row_as_in_a_batch() {
        let a = whitespace();
        let texts = [
            "peace keeping africa",
            "africa food aid aid",
            "climate change peace",
        ];
        let (v, fitted) = TfidfParams {
            min_df: 1,
            ..TfidfParams::default()
        }
        .check()
        .unwrap()
        .fit_transform(&a, &texts, &NoProgress)
        .unwrap();
        let batch = v.transform_batch(&a, &texts, &NoProgress);
        assert_eq!(fitted, batch);
        for (i, t) in texts.iter().enumerate() {
            let single = v.transform(&a, t);
            assert_eq!(batch.row(i), (&single.indices[..], &single.values[..]));
        }
        // A batch of one must not change the weights either (idf is fixed).
        let alone = v.transform_batch(&a, &texts[1..2], &NoProgress);
        assert_eq!(alone.row(0), batch.row(1));
    }

    #[test]
    fn idf_and_normalisation_follow_the_formula() {
        let a = whitespace();
        let texts = ["x y", "x"];
        let v = TfidfParams {
            min_df: 1,
            ..TfidfParams::default()
        }
        .check()
        .unwrap()
        .fit_transform(&a, &texts, &NoProgress)
        .unwrap()
        .0;
        assert_eq!(v.state().terms, vec!["x", "y"]);
        let idf_y = ((3.0f64 / 2.0).ln() + 1.0) as f32;
        assert!((v.state().idf[1] - idf_y).abs() < 1e-6);
        assert!((v.state().idf[0] - 1.0).abs() < 1e-6);
        let row = v.transform(&a, "x y y");
        let norm: f32 = row.values.iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        assert!(row.values[1] > row.values[0]);
    }

    #[test]
    fn character_ngrams_count_once_words_by_count() {
        let a = Analyzer::new(AnalyzerConfig {
            segmenter: SegmenterKind::Whitespace,
            min_word_chars: 1,
            char_ngrams: crate::analysis::CharNgrams::parse("han:1-1").unwrap(),
            ..Default::default()
        })
        .unwrap();
        let v = TfidfParams {
            min_df: 1,
            ..TfidfParams::default()
        }
        .check()
        .unwrap()
        .fit_transform(&a, &["刀 刀 刀 枪", "枪"], &NoProgress)
        .unwrap()
        .0;
        let row = v.transform(&a, "刀 刀 刀 枪");
        let value = |term: &str| {
            let col = v.column(term).unwrap();
            let at = row.indices.iter().position(|&c| c == col).unwrap();
            row.values[at] / v.state().idf[col as usize]
        };
        // The word 刀 weighs 1 + ln 3 against the word 枪's 1; the character #刀 weighs 1,
        // as #枪 does.
        assert!((value("刀") / value("枪") - (1.0 + 3f32.ln())).abs() < 1e-5);
        assert!((value("#刀") / value("#枪") - 1.0).abs() < 1e-6);
    }

    #[test]
    fn min_df_max_df_and_max_features_prune_the_vocabulary() {
        let a = whitespace();
        let texts = ["a b c", "a b", "a d"];
        let fit = |p: TfidfParams| {
            p.check()
                .unwrap()
                .fit_transform(&a, &texts, &NoProgress)
                .unwrap()
                .0
                .state()
                .terms
                .clone()
        };
        let base = TfidfParams {
            min_df: 1,
            ..TfidfParams::default()
        };
        assert_eq!(
            fit(TfidfParams {
                min_df: 2,
                ..base.clone()
            }),
            vec!["a", "b"]
        );
        assert_eq!(
            fit(TfidfParams {
                max_df: 0.7,
                ..base.clone()
            }),
            vec!["b", "c", "d"]
        );
        assert_eq!(
            fit(TfidfParams {
                max_features: Some(1),
                ..base.clone()
            }),
            vec!["a"]
        );
        assert!(TfidfParams { min_df: 0, ..base }.check().is_err());
    }
}
