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

use std::collections::BTreeMap;
use std::time::Instant;

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use crate::analysis::Analyzer;
use crate::corpus::Corpus;
use crate::error::{Error, Result};
use crate::model::{
    LabelSets, LabelWeights, LogisticParams, Model, OneVsRestParams, TrainingInfo,
    ValidOneVsRestParams,
};
use crate::sparse::{CsrMatrix, SparseRow};
use crate::thesaurus::{ConceptTable, Thesaurus};
use crate::train::Progress;
use crate::tune::{fit_and_tune, TuneParams, TuningSummary};

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

/// Settings of an update.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnParams {
    pub ovr: OneVsRestParams,
    /// Descriptors new to the model need this many new documents to be trained.
    pub min_label_docs: usize,
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
        }
    }

    pub fn check(self) -> Result<ValidLearnParams> {
        if self.min_label_docs == 0 {
            return Err(Error::param("min_label_docs", "must be at least 1"));
        }
        Ok(ValidLearnParams {
            ovr: self.ovr.check()?,
            min_label_docs: self.min_label_docs,
        })
    }
}

/// Validated [`LearnParams`].
#[derive(Debug, Clone)]
pub struct ValidLearnParams {
    ovr: ValidOneVsRestParams,
    min_label_docs: usize,
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
    /// Re-tuning of a tuned model on the new documents, or why its tuning was dropped.
    #[serde(flatten)]
    pub tuning: TuningSummary,
    /// Why the model's ensemble was not carried over (`null`: it had none).
    pub ensemble_dropped: Option<String>,
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

fn analyse(
    model: &Model,
    analyzer: &Analyzer,
    texts: &[&str],
    progress: &indicatif::ProgressBar,
) -> Analysed {
    let vectorizer = &model.vectorizer;
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
            for text in chunk {
                let mut counts: FxHashMap<u32, u32> = FxHashMap::default();
                let mut unknown: FxHashSet<String> = FxHashSet::default();
                analyzer.for_each_token(text, &mut |t| {
                    part.tokens += 1;
                    match vectorizer.column(t) {
                        Some(c) => *counts.entry(c).or_insert(0) += 1,
                        None => {
                            part.ignored_tokens += 1;
                            if !unknown.contains(t) {
                                unknown.insert(t.to_string());
                            }
                        }
                    }
                });
                for term in unknown {
                    *part.ignored.entry(term).or_insert(0) += 1;
                }
                part.rows
                    .push(vectorizer.weigh(counts.into_iter().collect()));
            }
            progress.inc(chunk.len() as u64);
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
        let start = Instant::now();
        let analyzer = Analyzer::new(model.analyzer.clone())?;
        let load_seconds = start.elapsed().as_secs_f64();
        let (updated, mut report) =
            self.learn_with_analyzer(model, &analyzer, corpus, thesaurus, progress)?;
        report.seconds.insert("load_segmenter", load_seconds);
        Ok((updated, report))
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
        let analysed = analyse(model, analyzer, &texts, &bar);
        bar.finish_and_clear();
        let x = CsrMatrix::from_rows(analysed.rows, model.vectorizer.n_features());
        seconds.insert("analysis", start.elapsed().as_secs_f64());

        let mut old_weights: Vec<Option<LabelWeights>> = model
            .classifier
            .label_weights()
            .into_iter()
            .map(Some)
            .collect();
        let warm: Vec<Option<LabelWeights>> = names
            .iter()
            .map(|d| {
                old_index
                    .get(d)
                    .and_then(|&i| old_weights[i as usize].take())
            })
            .collect();
        // A tuned model is re-tuned on the new documents (its calibration and thresholds were
        // fitted to the old weights' scores, which the update changes); when they are too few
        // to cross-validate, tuning is dropped rather than silently misapplied.
        let tune = model.tuning.as_ref().map(|t| {
            TuneParams {
                folds: t.folds.max(2),
                ..TuneParams::default()
            }
            .check()
        });
        let tune = tune.transpose()?;
        let (classifier, tuning, tuning_summary) = fit_and_tune(
            &self.ovr,
            tune.as_ref(),
            &x,
            &labels,
            &warm,
            progress,
            "learning",
            &mut seconds,
        )?;

        let descriptors: Vec<String> = names.iter().map(|d| d.to_string()).collect();
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
    use crate::train::{NoProgress, TrainParams};

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

    fn base_model() -> Model {
        TrainParams {
            analyzer: AnalyzerConfig {
                segmenter: SegmenterKind::Whitespace,
                ..Default::default()
            },
            tfidf: TfidfParams {
                min_df: 1,
                ..Default::default()
            },
            ..Default::default()
        }
        .check()
        .unwrap()
        .fit(
            &corpus(&[
                (&["PEACE"], "troops ceasefire mission"),
                (&["PEACE"], "mission troops patrol"),
                (&["FOOD"], "harvest hunger crops"),
                (&["FOOD"], "crops famine hunger"),
            ]),
            None,
            &NoProgress,
        )
        .unwrap()
        .0
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
        let suggester = crate::suggest::Suggester::new(updated).unwrap();
        let probs = suggester.probabilities("troops mission");
        assert!(probs[1] > 0.5, "PEACE still recognised: {probs:?}");
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
        let before = crate::suggest::Suggester::new(model).unwrap();
        let after = crate::suggest::Suggester::new(updated).unwrap();
        for text in ["troops mission", "hunger famine"] {
            let (a, b) = (before.probabilities(text), after.probabilities(text));
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(x > &0.5, y > &0.5, "{text}: {a:?} vs {b:?}");
            }
        }
    }
}
