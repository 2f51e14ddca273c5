//! Incremental updates: teaching an existing model new documents without retraining.
//!
//! The analyzer, vocabulary and idf stay as they are, so the model's features keep their
//! meaning (terms the model has never seen are counted and reported, not added). Every
//! descriptor the model has restarts its solver from its current weights `w₀` on the new
//! documents only; dual coordinate descent started there minimises
//! `½‖w − w₀‖² + C Σ_new loss`, so the old model acts as a prior that the new documents
//! adjust. Descriptors that first appear in the new documents are trained from zero on them.
//! Only the new documents are analysed, and each descriptor visits its new positives plus an
//! importance-weighted sample of the new negatives (the sampling training uses on large
//! corpora, with a lower floor: [`UPDATE_MIN_SAMPLED_ROWS`]), for at most [`UPDATE_EPOCHS`]
//! passes: the prior stands for everything the model learned before.
//!
//! An update can make a model worse (a batch of new topics pulls the weights of the old ones,
//! and re-tuning on the batch alone fits its thresholds to the batch). So before the update
//! is made on all new documents, a held-out share of them ([`LearnParams::holdout`]) measures
//! an update made without them against the model as it was ([`HoldoutCheck`]): on all
//! held-out documents, and on those whose descriptors the model already had (what it knew
//! before). The caller decides what a worse result means (`dtag learn` warns, or refuses with
//! `--strict`).

use std::collections::BTreeMap;
use std::time::Instant;

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use crate::analysis::{Analyzer, Term, CHAR_NGRAM_PREFIX};
use crate::calibrate::{fit_and_tune, fold_assignment, TuneParams, Tuning, TuningSummary};
use crate::classifier::{
    LabelSets, LabelWeights, LogisticParams, OneVsRest, OneVsRestParams, ValidOneVsRestParams,
};
use crate::corpus::Corpus;
use crate::error::{Error, Result};
use crate::features::sparse::{CsrMatrix, SparseRow};
use crate::features::TfidfVectorizer;
use crate::model::{Model, TrainingInfo};
use crate::predict::{score_text, DecisionRule};
use crate::progress::{Progress, Stage};
use crate::thesaurus::{ConceptTable, Thesaurus};

/// Passes over the new documents an update makes at most. The update need not be solved to
/// the end: the prior keeps it close to a good model; on cail2018_sample (half the training
/// documents learned into a model of the other half) 5 passes gave the P@1 of solving to
/// tolerance, 2 passes were within 1 point.
pub const UPDATE_EPOCHS: usize = 5;

/// The floor of negative subsampling in an update. Training samples negatives only on large
/// corpora (`LogisticParams::min_sampled_rows`); an update samples down to this many rows per
/// descriptor, since the model's current weights already carry what all earlier negatives
/// taught. On cail2018_sample this made the update's solver 3 times cheaper at the same P@1.
pub const UPDATE_MIN_SAMPLED_ROWS: usize = 200;

/// Folds of the cross-validation that re-tunes an update (training's default is 5). The fold
/// models of a warm-started update are refitted from its solution, one epoch each over the
/// rows near a boundary, and on a batch of new topics most rows are: with 5 folds the refits
/// cost as much as the update's own fit. With 3, `dtag learn` of the learning benchmark's
/// 2,000 cail2018_sample documents used 20% less processor time (median of 3×5 runs,
/// 0.79 s against 1.01 s), and its test micro-F1 moved by −0.31, −0.27 and −0.07 points on
/// three splits (the benchmark's, the halves reversed, alternate documents), P@1 unchanged:
/// within the noise of the test set. Two folds lost 2.6 points.
pub const UPDATE_TUNE_FOLDS: usize = 3;

/// Fewest new documents a tuned model is re-tuned on; with fewer it keeps its calibration
/// and thresholds. Fifty, as tuning's 5 folds of 10 documents asked for before updates
/// re-tuned on [`UPDATE_TUNE_FOLDS`]: folds of a dozen documents give thresholds fitted to
/// noise.
pub const MIN_RETUNE_DOCUMENTS: usize = 50;

/// The share of the new documents held out by default to check the update.
pub const HOLDOUT_SHARE: f64 = 0.1;

/// Fewer held-out documents than this measure too little to judge by: no check.
pub const MIN_HOLDOUT_DOCS: usize = 20;

/// The update counts as worse when a held-out micro-F1 drops by more than this. Below it,
/// differences on a few hundred documents are noise: on cail2018_sample, updates that help
/// (alternate halves) moved held-out figures by up to half a point either way.
pub const WORSE_BY: f64 = 0.01;

/// The new documents are unrepresentative ([`Coverage::unrepresentative`]) when descriptors
/// making up this much more of the model's training assignments than a random sample of as
/// many documents would lack are absent from them. On cail2018_sample, batches of the same
/// documents lack 2–16% more or less than expected; a batch of new topics (the training file's
/// later part) lacks 72–88% against an expected 1–5%.
pub const UNREPRESENTATIVE_BY: f64 = 0.25;

/// Settings of an update.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnParams {
    pub ovr: OneVsRestParams,
    /// Descriptors new to the model need this many new documents to be trained.
    pub min_label_docs: usize,
    /// Share of the new documents held out to compare an update without them with the model
    /// as it was (0: no check). The model returned is updated with every document.
    pub holdout: f64,
}

impl LearnParams {
    /// Defaults for updating `model`: its own C, [`UPDATE_EPOCHS`] passes, the library's other
    /// solver settings.
    pub fn for_model(model: &Model) -> Self {
        LearnParams {
            ovr: OneVsRestParams {
                logistic: LogisticParams {
                    c: model.info.c,
                    max_epochs: UPDATE_EPOCHS,
                    min_sampled_rows: UPDATE_MIN_SAMPLED_ROWS,
                    ..LogisticParams::default()
                },
                ..OneVsRestParams::default()
            },
            min_label_docs: 1,
            holdout: HOLDOUT_SHARE,
        }
    }

    pub fn check(self) -> Result<ValidLearnParams> {
        if self.min_label_docs == 0 {
            return Err(Error::param("min_label_docs", "must be at least 1"));
        }
        if !(0.0..=0.5).contains(&self.holdout) {
            return Err(Error::param("holdout", "must be in [0, 0.5]"));
        }
        Ok(ValidLearnParams {
            ovr: self.ovr.check()?,
            min_label_docs: self.min_label_docs,
            holdout: self.holdout,
        })
    }
}

/// Validated [`LearnParams`].
#[derive(Debug, Clone)]
pub struct ValidLearnParams {
    ovr: ValidOneVsRestParams,
    min_label_docs: usize,
    holdout: f64,
}

/// Set figures of a model on held-out documents, decided as `suggest` and `eval` decide by
/// default (the model's tuned thresholds, or 0.5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HeldOutFigures {
    pub documents: usize,
    pub micro_f1: f64,
    pub p_at_1: f64,
}

/// How well the new documents represent what the model was trained on. An update teaches a
/// descriptor the new documents lack only that they are not its own, and the held-out check
/// cannot measure it there: a batch of new topics can make the model forget old ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coverage {
    /// The model's descriptors that no new document has.
    pub absent_descriptors: usize,
    /// Their share of the model's training assignments.
    pub absent_share: f64,
    /// The share a random sample of as many of the model's training documents would lack.
    pub expected_absent_share: f64,
    /// `absent_share` exceeds the expected by more than [`UNREPRESENTATIVE_BY`].
    pub unrepresentative: bool,
}

impl Coverage {
    fn measure(model: &Model, new_counts: &BTreeMap<&str, u32>, n_new: usize) -> Coverage {
        let total: f64 = model.info.label_documents.iter().map(|&m| m as f64).sum();
        let n_docs = model.info.documents.max(1) as f64;
        let (mut absent, mut absent_share, mut expected) = (0, 0.0, 0.0);
        for (d, &m) in model.descriptors.iter().zip(&model.info.label_documents) {
            let share = m as f64 / total.max(1.0);
            // A sample of n documents misses a descriptor of m in N with probability
            // about (1 − m/N)^n.
            expected += share * (1.0 - (m as f64 / n_docs).min(1.0)).powi(n_new as i32);
            if !new_counts.contains_key(d.as_str()) {
                absent += 1;
                absent_share += share;
            }
        }
        Coverage {
            absent_descriptors: absent,
            absent_share,
            expected_absent_share: expected,
            unrepresentative: absent_share > expected + UNREPRESENTATIVE_BY,
        }
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        format!(
            "{} of the model's descriptors, with {:.0}% of its training assignments, are absent \
             from the new documents (a sample of the documents it was trained on would lack \
             about {:.0}%)",
            self.absent_descriptors,
            100.0 * self.absent_share,
            100.0 * self.expected_absent_share
        )
    }
}

/// An update made without the held-out documents, against the model it started from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HoldoutCheck {
    /// On every held-out document.
    pub before: HeldOutFigures,
    pub after: HeldOutFigures,
    /// On the held-out documents whose descriptors the model already had: what it knew
    /// before, and may have forgotten (absent when fewer than [`MIN_HOLDOUT_DOCS`]).
    pub known_before: Option<HeldOutFigures>,
    pub known_after: Option<HeldOutFigures>,
    /// A micro-F1 dropped by more than [`WORSE_BY`].
    pub worse: bool,
}

impl HoldoutCheck {
    /// One line for people: the figures and the verdict.
    pub fn describe(&self) -> String {
        let known = match (&self.known_before, &self.known_after) {
            (Some(b), Some(a)) => format!(
                "; on the {} whose descriptors the model had: {:.4} -> {:.4}",
                a.documents, b.micro_f1, a.micro_f1
            ),
            _ => String::new(),
        };
        format!(
            "micro-F1 on {} held-out new documents: {:.4} before the update, {:.4} after{known}",
            self.after.documents, self.before.micro_f1, self.after.micro_f1
        )
    }
}

/// What an update did (`dtag learn --json` prints it).
#[derive(Debug, Clone, Serialize)]
pub struct LearnReport {
    /// New documents learned from.
    pub documents: usize,
    pub assignments: usize,
    /// Descriptors the model had, all updated (also those absent from the new documents,
    /// for which the new documents are negative examples).
    pub descriptors_updated: usize,
    /// Descriptors new to the model, trained on the new documents alone.
    pub descriptors_added: Vec<String>,
    /// New descriptors left out for having fewer than `min_label_docs` new documents.
    pub descriptors_skipped: Vec<(String, u32)>,
    /// Tokens of the new documents, and those outside the fixed vocabulary (ignored).
    pub tokens: u64,
    pub ignored_tokens: u64,
    /// Distinct ignored terms, and the most frequent of them.
    pub ignored_terms: usize,
    pub top_ignored_terms: Vec<(String, u32)>,
    pub stored_weights: usize,
    pub seconds: BTreeMap<&'static str, f64>,
    /// Re-tuning of a tuned model on the new documents, or why it was not re-tuned.
    #[serde(flatten)]
    pub tuning: TuningSummary,
    /// Why the model's ensemble was not carried over (`null`: it had none).
    pub ensemble_dropped: Option<String>,
    /// When a tuned model could not be re-tuned: its calibration and thresholds are kept as
    /// they were (descriptors new to it use the global threshold), and this says so.
    pub tuning_kept: Option<String>,
    /// The update measured on held-out new documents against the model it started from.
    pub holdout_check: Option<HoldoutCheck>,
    /// Why there was no such check.
    pub holdout_skipped: Option<String>,
    /// How well the new documents represent what the model was trained on.
    pub coverage: Coverage,
}

/// How many of the most frequent ignored terms are named in the report.
const TOP_IGNORED: usize = 20;

/// Rows of the new documents plus the counts of out-of-vocabulary tokens, from one analysis.
struct Analysed {
    rows: Vec<SparseRow>,
    tokens: u64,
    ignored_tokens: u64,
    /// Out-of-vocabulary term → documents it occurs in.
    ignored: FxHashMap<String, u32>,
}

/// The model's columns of one-ideograph character n-grams (`#` and a character of the basic
/// unified block), by character: most of a Chinese text's tokens are these, and an array
/// lookup spares hashing each as a string.
struct HanColumns(Vec<u32>);

impl HanColumns {
    const FIRST: u32 = 0x4E00;
    const LAST: u32 = 0x9FFF;

    fn of(vectorizer: &TfidfVectorizer) -> HanColumns {
        let mut table = vec![0u32; (Self::LAST - Self::FIRST + 1) as usize];
        let mut key = String::with_capacity(4);
        for (slot, c) in table.iter_mut().zip(Self::FIRST..=Self::LAST) {
            let Some(c) = char::from_u32(c) else { continue };
            key.clear();
            key.push(CHAR_NGRAM_PREFIX);
            key.push(c);
            // Column + 1; 0: not in the vocabulary.
            *slot = vectorizer.column(&key).map_or(0, |col| col + 1);
        }
        HanColumns(table)
    }

    /// `Some(Some(column))` or `Some(None)` (outside the vocabulary) for a character of the
    /// block, `None` for another.
    #[inline]
    fn column(&self, c: char) -> Option<Option<u32>> {
        let slot = (c as u32).checked_sub(Self::FIRST)? as usize;
        self.0.get(slot).map(|&v| v.checked_sub(1))
    }
}

fn analyse(model: &Model, analyzer: &Analyzer, texts: &[&str], progress: &dyn Stage) -> Analysed {
    let vectorizer = &model.vectorizer;
    let han = HanColumns::of(vectorizer);
    let chunk_size = texts
        .len()
        .div_ceil(rayon::current_num_threads() * 8)
        .max(1);
    let parts: Vec<Analysed> = texts
        .par_chunks(chunk_size)
        .map(|chunk| {
            let mut part = Analysed {
                rows: Vec::with_capacity(chunk.len()),
                tokens: 0,
                ignored_tokens: 0,
                ignored: FxHashMap::default(),
            };
            let mut counts: FxHashMap<u32, u32> = FxHashMap::default();
            let mut unknown: FxHashSet<String> = FxHashSet::default();
            for text in chunk {
                counts.clear();
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
                let mut term = |t: Term<'_>| match t {
                    Term::Text(t) => count(vectorizer.column(t), &|| t.to_string()),
                    Term::Han(c) => match han.column(c) {
                        Some(column) => count(column, &|| format!("{CHAR_NGRAM_PREFIX}{c}")),
                        None => {
                            let gram = format!("{CHAR_NGRAM_PREFIX}{c}");
                            count(vectorizer.column(&gram), &|| gram.clone())
                        }
                    },
                };
                analyzer.for_each_word_of_normalized(&normalized, &mut term);
                analyzer.for_each_ngram_of_normalized(&normalized, &mut term);
                for term in unknown.drain() {
                    *part.ignored.entry(term).or_insert(0) += 1;
                }
                part.rows.push(vectorizer.weigh(counts.drain().collect()));
            }
            progress.advance(chunk.len() as u64);
            part
        })
        .collect();
    let mut all = Analysed {
        rows: Vec::with_capacity(texts.len()),
        tokens: 0,
        ignored_tokens: 0,
        ignored: FxHashMap::default(),
    };
    for part in parts {
        all.rows.extend(part.rows);
        all.tokens += part.tokens;
        all.ignored_tokens += part.ignored_tokens;
        for (term, n) in part.ignored {
            *all.ignored.entry(term).or_insert(0) += n;
        }
    }
    all
}

impl ValidLearnParams {
    /// Updates `model` with `corpus` (see the module documentation). `thesaurus`, when given,
    /// supplies URIs and labels for descriptors new to the model; otherwise what the model
    /// stores is kept.
    pub fn learn(
        &self,
        model: &Model,
        corpus: &Corpus,
        thesaurus: Option<&Thesaurus>,
        progress: &dyn Progress,
    ) -> Result<(Model, LearnReport)> {
        let docs = &corpus.documents;
        if docs.is_empty() {
            return Err(Error::Training("the new corpus has no documents".into()));
        }
        let analyzer = Analyzer::new(model.analyzer.clone())?;
        self.learn_with_analyzer(model, &analyzer, corpus, thesaurus, progress)
    }

    /// [`Self::learn`] with the model's analyzer already built (callers may build it while
    /// they read the corpus: loading the segmenter's dictionary takes a while).
    pub fn learn_with_analyzer(
        &self,
        model: &Model,
        analyzer: &Analyzer,
        corpus: &Corpus,
        thesaurus: Option<&Thesaurus>,
        progress: &dyn Progress,
    ) -> Result<(Model, LearnReport)> {
        let docs = &corpus.documents;
        if docs.is_empty() {
            return Err(Error::Training("the new corpus has no documents".into()));
        }
        if analyzer.config() != &model.analyzer {
            return Err(Error::Training(
                "the analyzer differs from the model's".into(),
            ));
        }
        let mut seconds = BTreeMap::new();

        // The descriptor list: the model's, plus new ones with enough new documents, sorted
        // by name as in training.
        // Descriptors the lexicon alone proposed have no model to update; the ensemble is
        // fitted to the old scores and is not carried over (the report says so).
        let trained = &model.descriptors[..model.trained_descriptors()];
        let old_index: FxHashMap<&str, u32> = trained
            .iter()
            .enumerate()
            .map(|(i, d)| (d.as_str(), i as u32))
            .collect();
        let mut new_counts: BTreeMap<&str, u32> = BTreeMap::new();
        for d in docs {
            for desc in &d.descriptors {
                *new_counts.entry(desc.as_str()).or_insert(0) += 1;
            }
        }
        type Counts<'a> = Vec<(&'a str, u32)>;
        let (added, skipped): (Counts, Counts) = new_counts
            .iter()
            .filter(|(d, _)| !old_index.contains_key(*d))
            .map(|(&d, &n)| (d, n))
            .partition(|&(_, n)| n as usize >= self.min_label_docs);
        let mut names: Vec<&str> = trained.iter().map(String::as_str).collect();
        names.extend(added.iter().map(|&(d, _)| d));
        names.sort_unstable();
        let index: FxHashMap<&str, u32> = names
            .iter()
            .enumerate()
            .map(|(i, &d)| (d, i as u32))
            .collect();
        let labels = LabelSets {
            n_labels: names.len(),
            rows: docs
                .iter()
                .map(|d| {
                    d.descriptors
                        .iter()
                        .filter_map(|x| index.get(x.as_str()).copied())
                        .collect()
                })
                .collect(),
        };

        let start = Instant::now();
        let texts = corpus.bodies();
        let bar = progress.stage("analysing", texts.len() as u64);
        let analysed = analyse(model, analyzer, &texts, bar.as_ref());
        bar.finish();
        let x = CsrMatrix::from_rows(analysed.rows, model.vectorizer.n_features());
        seconds.insert("analysis", start.elapsed().as_secs_f64());

        let old_weights = model.classifier.label_weights();
        let warm: Vec<Option<LabelWeights>> = names
            .iter()
            .map(|d| old_index.get(d).map(|&i| old_weights[i as usize].clone()))
            .collect();
        drop(old_weights);
        let descriptors: Vec<String> = names.iter().map(|d| d.to_string()).collect();

        // The check: an update without the held-out documents, against the model as it was.
        let (holdout_check, holdout_skipped) = match self.holdout_split(&labels) {
            Err(why) => (None, Some(why)),
            Ok(held_out) => {
                let kept: Vec<usize> = (0..docs.len()).filter(|i| !held_out[*i]).collect();
                let held: Vec<usize> = (0..docs.len()).filter(|i| held_out[*i]).collect();
                let subset = |ids: &[usize]| {
                    (
                        CsrMatrix::from_rows(ids.iter().map(|&i| row_of(&x, i)), x.n_cols()),
                        LabelSets {
                            n_labels: labels.n_labels,
                            rows: ids.iter().map(|&i| labels.rows[i].clone()).collect(),
                        },
                    )
                };
                let (x_kept, labels_kept) = subset(&kept);
                let mut check_seconds = BTreeMap::new();
                let (classifier, tuning, _, _) = self.fit(
                    model,
                    &x_kept,
                    &labels_kept,
                    &warm,
                    &descriptors,
                    progress,
                    "checking",
                    &mut check_seconds,
                )?;
                // Only what scoring reads matters; the rest is the old model's.
                let candidate = Model {
                    analyzer: model.analyzer.clone(),
                    vectorizer: model.vectorizer.clone(),
                    descriptors: descriptors.clone(),
                    classifier,
                    info: model.info.clone(),
                    concepts: None,
                    tuning,
                    ensemble: None,
                };
                let held_texts: Vec<&str> = held.iter().map(|&i| texts[i]).collect();
                let gold: Vec<&[String]> = held.iter().map(|&i| &docs[i].descriptors[..]).collect();
                seconds.insert("checking", check_seconds.values().sum::<f64>());
                (
                    Some(compare(model, &candidate, analyzer, &held_texts, &gold)),
                    None,
                )
            }
        };

        let (classifier, tuning, tuning_summary, tuning_kept) = self.fit(
            model,
            &x,
            &labels,
            &warm,
            &descriptors,
            progress,
            "learning",
            &mut seconds,
        )?;

        let label_documents = descriptors
            .iter()
            .map(|d| {
                let before = old_index
                    .get(d.as_str())
                    .map_or(0, |&i| model.info.label_documents[i as usize]);
                before + new_counts.get(d.as_str()).copied().unwrap_or(0)
            })
            .collect();
        let mut all_skipped: BTreeMap<String, u32> = model
            .info
            .skipped
            .iter()
            .filter(|(d, _)| !index.contains_key(d.as_str()))
            .cloned()
            .collect();
        for &(d, n) in &skipped {
            *all_skipped.entry(d.to_string()).or_insert(0) += n;
        }
        let concepts = match thesaurus {
            Some(t) => Some(t.concept_table(&descriptors)),
            None => model
                .concepts
                .as_ref()
                .map(|table| carry_over(table, &model.descriptors, &descriptors)),
        };

        let mut ignored: Vec<(String, u32)> = analysed.ignored.into_iter().collect();
        let ignored_terms = ignored.len();
        ignored.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ignored.truncate(TOP_IGNORED);
        let report = LearnReport {
            documents: docs.len(),
            assignments: corpus.assignments(),
            descriptors_updated: trained.len(),
            descriptors_added: added.iter().map(|&(d, _)| d.to_string()).collect(),
            descriptors_skipped: skipped.iter().map(|&(d, n)| (d.to_string(), n)).collect(),
            tokens: analysed.tokens,
            ignored_tokens: analysed.ignored_tokens,
            ignored_terms,
            top_ignored_terms: ignored,
            stored_weights: classifier.nnz(),
            seconds,
            tuning: tuning_summary,
            ensemble_dropped: model.ensemble.is_some().then(|| {
                "the model's ensemble (neighbours, lexicon, fusion) was fitted to the old \
scores and is not carried over: retrain with `dtag train` to fit it again"
                    .to_string()
            }),
            tuning_kept,
            holdout_check,
            holdout_skipped,
            coverage: Coverage::measure(model, &new_counts, docs.len()),
        };
        let updated = Model {
            analyzer: model.analyzer.clone(),
            vectorizer: model.vectorizer.clone(),
            descriptors,
            classifier,
            info: TrainingInfo {
                documents: model.info.documents + docs.len(),
                label_documents,
                skipped: all_skipped.into_iter().collect(),
                c: self.ovr.logistic().params().c,
                dtag_version: env!("CARGO_PKG_VERSION").to_string(),
            },
            concepts,
            tuning,
            ensemble: None,
        };
        Ok((updated, report))
    }
}

impl ValidLearnParams {
    /// Which documents to hold out (stratified like tuning's folds, so that every descriptor
    /// is represented in proportion), or why none are.
    fn holdout_split(&self, labels: &LabelSets) -> std::result::Result<Vec<bool>, String> {
        if self.holdout == 0.0 {
            return Err("no held-out check asked for (holdout 0)".into());
        }
        let n = labels.rows.len();
        let folds = (1.0 / self.holdout).round().max(2.0) as usize;
        if n / folds < MIN_HOLDOUT_DOCS {
            return Err(format!(
                "{n} new documents are too few to hold out {MIN_HOLDOUT_DOCS} of them \
                 (one in {folds}) and check the update"
            ));
        }
        let fold = fold_assignment(
            &labels.rows,
            labels.n_labels,
            folds,
            TuneParams::default().seed,
        );
        Ok(fold.into_iter().map(|f| f == 0).collect())
    }

    /// Fits the update (re-tuning a tuned model when the documents allow); when they are too
    /// few to re-tune, a tuned model keeps its calibration and thresholds, which is said.
    #[allow(clippy::too_many_arguments)]
    fn fit(
        &self,
        model: &Model,
        x: &CsrMatrix,
        labels: &LabelSets,
        warm: &[Option<LabelWeights>],
        descriptors: &[String],
        progress: &dyn Progress,
        stage: &str,
        seconds: &mut BTreeMap<&'static str, f64>,
    ) -> Result<(OneVsRest, Option<Tuning>, TuningSummary, Option<String>)> {
        // A tuned model is re-tuned on the new documents (its calibration and thresholds were
        // fitted to the old weights' scores, which the update changes).
        let tune = model.tuning.as_ref().map(|_| {
            TuneParams {
                folds: UPDATE_TUNE_FOLDS,
                ..TuneParams::default()
            }
            .check()
        });
        let mut tune = tune.transpose()?;
        let n_docs = labels.rows.len();
        let too_few = (tune.is_some() && n_docs < MIN_RETUNE_DOCUMENTS).then(|| {
            format!(
                "{n_docs} documents are too few to re-tune on (an update re-tunes on \
                 {MIN_RETUNE_DOCUMENTS} or more)"
            )
        });
        if too_few.is_some() {
            tune = None;
        }
        let (classifier, tuning, mut summary) = fit_and_tune(
            &self.ovr,
            tune.as_ref(),
            x,
            labels,
            warm,
            progress,
            stage,
            seconds,
        )?;
        if too_few.is_some() {
            summary.skipped = too_few;
        }
        match (&model.tuning, tuning) {
            // An ensemble's calibration and thresholds belong to its fused values, which the
            // updated model (one-vs-rest alone) no longer has: they cannot be kept.
            (Some(_), None) if model.ensemble.is_some() => {
                let note = "the model's tuned thresholds belonged to its ensemble, which is not \
                            carried over, and too few new documents to re-tune: the updated \
                            model has no tuning (scores cut at 0.5); retrain with `dtag train`"
                    .to_string();
                Ok((classifier, None, summary, Some(note)))
            }
            (Some(old), None) => {
                // Too few documents to re-tune. Dropping the tuning would turn every score
                // into a raw sigmoid cut at 0.5, a far larger change than a small update
                // makes to the scores the old calibration was fitted to: keep it.
                let (kept, added) = carry_over_tuning(old, &model.descriptors, descriptors);
                let note = format!(
                    "the model's tuned calibration and thresholds are kept as they were before \
                     this update{}",
                    if added > 0 {
                        format!(
                            "; {added} new descriptor(s) use the global threshold {:.3}",
                            old.global_threshold
                        )
                    } else {
                        String::new()
                    }
                );
                Ok((classifier, Some(kept), summary, Some(note)))
            }
            (_, tuning) => Ok((classifier, tuning, summary, None)),
        }
    }
}

/// A copy of row `i` of `x`.
fn row_of(x: &CsrMatrix, i: usize) -> SparseRow {
    let (indices, values) = x.row(i);
    SparseRow {
        indices: indices.to_vec(),
        values: values.to_vec(),
    }
}

/// The tuning re-indexed for a new descriptor list: descriptors the model had keep their
/// threshold, new ones get the global threshold; the shared calibration stays. Also returns
/// how many are new.
fn carry_over_tuning(old: &Tuning, old_names: &[String], new_names: &[String]) -> (Tuning, usize) {
    let by_name: FxHashMap<&str, usize> = old_names
        .iter()
        .enumerate()
        .map(|(i, d)| (d.as_str(), i))
        .collect();
    let mut added = 0;
    let thresholds = new_names
        .iter()
        .map(|d| match by_name.get(d.as_str()) {
            Some(&i) => old.thresholds[i],
            None => {
                added += 1;
                old.global_threshold
            }
        })
        .collect();
    (
        Tuning {
            thresholds,
            ..old.clone()
        },
        added,
    )
}

/// Measures `before` and `after` on held-out rows (vectorised with the vocabulary both
/// share), on all of them and on those whose descriptors `before` already had.
fn compare(
    before: &Model,
    after: &Model,
    analyzer: &Analyzer,
    texts: &[&str],
    gold: &[&[String]],
) -> HoldoutCheck {
    let known_names: FxHashSet<&str> = before.descriptors.iter().map(String::as_str).collect();
    let known: Vec<usize> = (0..texts.len())
        .filter(|&i| gold[i].iter().all(|d| known_names.contains(d.as_str())))
        .collect();
    let all: Vec<usize> = (0..texts.len()).collect();
    let figures =
        |model: &Model, ids: &[usize]| held_out_figures(model, analyzer, texts, gold, ids);
    let (before_all, after_all) = (figures(before, &all), figures(after, &all));
    let (known_before, known_after) = if known.len() >= MIN_HOLDOUT_DOCS {
        (Some(figures(before, &known)), Some(figures(after, &known)))
    } else {
        (None, None)
    };
    let dropped = |b: &HeldOutFigures, a: &HeldOutFigures| a.micro_f1 < b.micro_f1 - WORSE_BY;
    let worse = dropped(&before_all, &after_all)
        || matches!((&known_before, &known_after), (Some(b), Some(a)) if dropped(b, a));
    HoldoutCheck {
        before: before_all,
        after: after_all,
        known_before,
        known_after,
        worse,
    }
}

/// Micro-F1 and P@1 of `model` on the texts `ids`, with the decisions `suggest` makes by
/// default: its ranking, the best [`DecisionRule::default`] `limit`, the model's thresholds.
fn held_out_figures(
    model: &Model,
    analyzer: &Analyzer,
    texts: &[&str],
    gold: &[&[String]],
    ids: &[usize],
) -> HeldOutFigures {
    let rule = DecisionRule::default();
    let thresholds = model.label_thresholds();
    let counts: Vec<(u64, u64, u64, u64)> = ids
        .par_iter()
        .map(|&i| {
            let ranked: Vec<(usize, f32)> = score_text(model, analyzer, texts[i], rule.limit)
                .ranked
                .iter()
                .map(|r| (r.label, model.probability(r.value)))
                .collect();
            let is_gold = |l: usize| gold[i].iter().any(|g| *g == model.descriptors[l]);
            let decided = rule.decide(&ranked, thresholds);
            let tp = decided.iter().filter(|&&(l, _)| is_gold(l)).count() as u64;
            let first = ranked.first().is_some_and(|&(l, _)| is_gold(l)) as u64;
            (
                tp,
                decided.len() as u64 - tp,
                gold[i].len() as u64 - tp,
                first,
            )
        })
        .collect();
    let (tp, fp, fn_, first) = counts.iter().fold((0, 0, 0, 0), |a, c| {
        (a.0 + c.0, a.1 + c.1, a.2 + c.2, a.3 + c.3)
    });
    let micro_f1 = if tp == 0 {
        0.0
    } else {
        2.0 * tp as f64 / (2 * tp + fp + fn_) as f64
    };
    HeldOutFigures {
        documents: ids.len(),
        micro_f1,
        p_at_1: first as f64 / ids.len().max(1) as f64,
    }
}

/// The stored concept table re-indexed for a new descriptor list (new descriptors: `None`).
fn carry_over(table: &ConceptTable, old: &[String], new: &[String]) -> ConceptTable {
    let by_name: FxHashMap<&str, &Option<crate::thesaurus::ConceptInfo>> = old
        .iter()
        .map(String::as_str)
        .zip(&table.descriptors)
        .collect();
    ConceptTable {
        source: table.source.clone(),
        descriptors: new
            .iter()
            .map(|d| by_name.get(d.as_str()).and_then(|c| (*c).clone()))
            .collect(),
        groups: table.groups.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{AnalyzerConfig, SegmenterKind};
    use crate::corpus::{Document, Origin};
    use crate::features::TfidfParams;
    use crate::progress::NoProgress;
    use crate::train::TrainParams;

    fn corpus(docs: &[(&[&str], &str)]) -> Corpus {
        let origin = Origin {
            source: "t".into(),
            line: 1,
        };
        Corpus {
            documents: docs
                .iter()
                .map(|(labels, body)| Document {
                    descriptors: labels.iter().map(|s| s.to_string()).collect(),
                    body: body.to_string(),
                    origin: origin.clone(),
                })
                .collect(),
            sources: 1,
        }
    }

    /// A model of `docs` with `analyzer` and every term kept (`min_df` 1).
    fn train_on(analyzer: AnalyzerConfig, docs: &[(&[&str], &str)]) -> Model {
        TrainParams {
            analyzer,
            tfidf: TfidfParams {
                min_df: 1,
                ..Default::default()
            },
            ..Default::default()
        }
        .check()
        .unwrap()
        .fit(&corpus(docs), None, &NoProgress)
        .unwrap()
        .0
    }

    fn base_model() -> Model {
        train_on(
            AnalyzerConfig {
                segmenter: SegmenterKind::Whitespace,
                ..Default::default()
            },
            &[
                (&["PEACE"], "troops ceasefire mission"),
                (&["PEACE"], "mission troops patrol"),
                (&["FOOD"], "harvest hunger crops"),
                (&["FOOD"], "crops famine hunger"),
            ],
        )
    }

    #[test]
    fn keeps_the_vocabulary_updates_old_and_adds_new_descriptors() {
        let model = base_model();
        let new = corpus(&[
            (&["PEACE", "WATER"], "troops mission wells drought"),
            (&["WATER"], "drought wells hunger"),
            (&["RARE"], "mission"),
        ]);
        let params = LearnParams {
            min_label_docs: 2,
            ..LearnParams::for_model(&model)
        };
        let (updated, report) = params
            .check()
            .unwrap()
            .learn(&model, &new, None, &NoProgress)
            .unwrap();
        assert_eq!(updated.vectorizer.state(), model.vectorizer.state());
        assert_eq!(updated.descriptors, vec!["FOOD", "PEACE", "WATER"]);
        assert_eq!(report.descriptors_added, vec!["WATER"]);
        assert_eq!(report.descriptors_skipped, vec![("RARE".to_string(), 1)]);
        assert_eq!(updated.info.label_documents, vec![2, 3, 2]);
        assert_eq!(updated.info.documents, 7);
        // `wells` and `drought` are new terms: ignored and counted per document.
        assert_eq!(report.ignored_terms, 2);
        assert_eq!(report.ignored_tokens, 4);
        assert_eq!(report.top_ignored_terms[0], ("drought".to_string(), 2));
        // WATER has no features of its own, yet its training on `hunger` shows.
        let suggester = crate::predict::Suggester::new(updated).unwrap();
        let probs = suggester.probabilities("troops mission");
        assert!(probs[1] > 0.5, "PEACE still recognised: {probs:?}");
    }

    #[test]
    fn analysis_gives_the_rows_of_the_vectorizer_and_counts_unknown_terms() {
        // Whitespace-separated Chinese words with single-ideograph n-grams, as a jieba model
        // has them: the table by character must find the same columns as the vectorizer.
        let model = train_on(
            AnalyzerConfig {
                segmenter: SegmenterKind::Whitespace,
                char_ngrams: crate::analysis::CharNgrams::parse("han:1-2").unwrap(),
                ..Default::default()
            },
            &[
                (&["THEFT"], "盗窃 财物 被告人 盗窃"),
                (&["THEFT"], "盗窃 手机 被告人"),
                (&["FRAUD"], "诈骗 钱款 被告人"),
                (&["FRAUD"], "诈骗 电话 钱款"),
            ],
        );
        let analyzer = Analyzer::new(model.analyzer.clone()).unwrap();
        // Known words and characters, an unknown word (抢劫) with unknown characters, an
        // unknown two-character n-gram of known characters (#盗骗), Latin text.
        let texts = ["盗窃 抢劫 钱款 盗骗", "诈骗 被告人 ABC 抢劫"];
        let analysed = analyse(&model, &analyzer, &texts, &NoProgress);
        for (row, text) in analysed.rows.iter().zip(texts) {
            assert_eq!(row, &model.vectorizer.transform(&analyzer, text), "{text}");
        }
        // The counts of the tokens as `for_each_token` gives them, looked up by string.
        let (mut tokens, mut ignored_tokens) = (0, 0);
        let mut ignored: FxHashMap<String, u32> = FxHashMap::default();
        for text in texts {
            let all = analyzer.tokens(text);
            tokens += all.len() as u64;
            let unknown: FxHashSet<&String> = all
                .iter()
                .filter(|t| model.vectorizer.column(t).is_none())
                .collect();
            ignored_tokens += all
                .iter()
                .filter(|t| model.vectorizer.column(t).is_none())
                .count() as u64;
            for t in unknown {
                *ignored.entry(t.clone()).or_insert(0) += 1;
            }
        }
        assert_eq!(analysed.tokens, tokens);
        assert_eq!(analysed.ignored_tokens, ignored_tokens);
        assert_eq!(analysed.ignored, ignored);
        // Both kinds of one-ideograph n-grams occur: known (#盗) and unknown (#抢, twice).
        assert!(model.vectorizer.column("#盗").is_some());
        assert_eq!(analysed.ignored.get("#抢"), Some(&2));
        assert!(analysed.ignored.contains_key("abc"));
    }

    #[test]
    fn learning_nothing_new_keeps_the_model_close() {
        let model = base_model();
        let params = LearnParams::for_model(&model).check().unwrap();
        // A document the model already gets right barely moves it.
        let (updated, _) = params
            .learn(
                &model,
                &corpus(&[(&["FOOD"], "hunger crops")]),
                None,
                &NoProgress,
            )
            .unwrap();
        let before = crate::predict::Suggester::new(model).unwrap();
        let after = crate::predict::Suggester::new(updated).unwrap();
        for text in ["troops mission", "hunger famine"] {
            let (a, b) = (before.probabilities(text), after.probabilities(text));
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(x > &0.5, y > &0.5, "{text}: {a:?} vs {b:?}");
            }
        }
    }
}
