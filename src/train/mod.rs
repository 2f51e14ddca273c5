//! Training: corpus → analysis → TF-IDF → one-vs-rest, with a report of every stage.

pub mod journal;
pub mod learn;
pub mod shard;

use crate::stages::Stages;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use serde::Serialize;

use crate::analysis::{Analyzer, AnalyzerConfig};
use crate::calibrate::{
    fit_held_out_if_tuning, DroppedNegatives, OutOfFold, TuneParams, TuningSummary, ValidTuneParams,
};
use crate::classifier::ensemble::{
    Ensemble, EnsembleParams, EnsembleReport, GivenVotes, KnnIndex, KnnRows, Lexicon, Mention,
};
use crate::classifier::{LabelSets, OneVsRest, OneVsRestParams, ValidOneVsRestParams};
use crate::corpus::Corpus;
use crate::digest::text_key;
use crate::error::{Error, Result};
use crate::features::sparse::CsrMatrix;
use crate::features::{TfidfParams, TfidfVectorizer, ValidTfidfParams, WordObserver};
use crate::formats::{CorpusFormat, RawSummary, ResolutionReport};
use crate::model::{LearningSettings, Model, TrainingInfo, TrainingMemory};
use crate::progress::Progress;
use crate::thesaurus::Thesaurus;

/// All training settings.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct TrainParams {
    pub analyzer: AnalyzerConfig,
    pub tfidf: TfidfParams,
    pub ovr: OneVsRestParams,
    /// Descriptors with fewer training documents are skipped (and listed).
    pub min_label_docs: usize,
    /// Cross-validate to calibrate scores and learn per-descriptor thresholds.
    pub tune: Option<TuneParams>,
    /// Fit neighbours and the label lexicon beside one-vs-rest and fuse them, when tuning's
    /// out-of-fold scores show the fused ranking is better (needs `tune`).
    pub ensemble: Option<EnsembleParams>,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            analyzer: AnalyzerConfig::default(),
            tfidf: TfidfParams::default(),
            ovr: OneVsRestParams::default(),
            min_label_docs: 1,
            tune: Some(TuneParams::default()),
            ensemble: Some(EnsembleParams::default()),
        }
    }
}

/// Validated [`TrainParams`].
#[derive(Debug, Clone)]
pub struct ValidTrainParams {
    /// The settings as given, which a partial model stores for the merge.
    given: TrainParams,
    analyzer: AnalyzerConfig,
    tfidf: ValidTfidfParams,
    ovr: ValidOneVsRestParams,
    min_label_docs: usize,
    tune: Option<ValidTuneParams>,
    ensemble: Option<EnsembleParams>,
}

impl TrainParams {
    /// Adds the thesaurus's Chinese labels to the segmenter's words, so that a label is one
    /// token (user dictionary words already given, which may carry frequencies, win);
    /// returns how many were added.
    pub fn add_thesaurus_words(&mut self, thesaurus: &Thesaurus) -> usize {
        let words = &mut self.analyzer.user_words;
        let known: std::collections::HashSet<String> =
            words.iter().map(|w| w.word.clone()).collect();
        let before = words.len();
        words.extend(
            thesaurus
                .segmenter_words()
                .into_iter()
                .filter(|w| !known.contains(&w.word)),
        );
        words.len() - before
    }

    pub fn check(self) -> Result<ValidTrainParams> {
        let given = self.clone();
        self.analyzer.check()?;
        if self.min_label_docs == 0 {
            return Err(Error::param("min_label_docs", "must be at least 1"));
        }
        Ok(ValidTrainParams {
            given,
            analyzer: self.analyzer,
            tfidf: self.tfidf.check()?,
            ovr: self.ovr.check()?,
            min_label_docs: self.min_label_docs,
            tune: self.tune.map(TuneParams::check).transpose()?,
            ensemble: self.ensemble.map(EnsembleParams::check).transpose()?,
        })
    }
}

/// What training did, for the closing summary (`--json` prints it as is).
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub documents: usize,
    pub sources: usize,
    pub assignments: usize,
    pub vocabulary: usize,
    pub descriptors_trained: usize,
    pub descriptors_skipped: usize,
    pub skipped: Vec<(String, u32)>,
    pub stored_weights: usize,
    pub seconds: Stages,
    #[serde(flatten)]
    pub tuning: TuningSummary,
    /// The ensemble fitted beside one-vs-rest and whether it is used (`null`: not fitted).
    pub ensemble: Option<EnsembleReport>,
}

/// What a training run reads: corpus inputs in any format, and the thesaurus that names their
/// descriptors (and whose labels become words of the segmenter and of the lexicon).
#[derive(Debug, Clone, Copy)]
pub struct TrainInputs<'a> {
    /// Files or directories (`-` for standard input).
    pub corpus: &'a [PathBuf],
    /// `None`: detect each input's format.
    pub format: Option<CorpusFormat>,
    pub thesaurus: Option<&'a Thesaurus>,
    /// Refuse corpus descriptors the thesaurus does not have (otherwise kept as written).
    pub strict_thesaurus: bool,
}

/// A labelled corpus as read for training, with how its descriptors were named.
#[derive(Debug, Clone)]
pub struct ReadCorpus {
    pub corpus: Corpus,
    pub resolution: ResolutionReport,
    pub summary: RawSummary,
}

impl<'a> TrainInputs<'a> {
    /// Reads the corpus through the one reader of every format.
    pub fn read(&self) -> Result<ReadCorpus> {
        let (corpus, resolution, summary) = crate::formats::read_corpus(
            self.corpus,
            self.format,
            self.thesaurus,
            self.strict_thesaurus,
        )?;
        Ok(ReadCorpus {
            corpus,
            resolution,
            summary,
        })
    }
}

impl ValidTrainParams {
    /// The settings as given to [`TrainParams::check`].
    pub fn params(&self) -> &TrainParams {
        &self.given
    }

    pub fn analyzer_config(&self) -> &AnalyzerConfig {
        &self.analyzer
    }

    /// `dtag train` as one call: starts the analyzer (whose segmenter loads its dictionary on
    /// its own thread while the corpus is read), reads the corpus, trains, and stores the thesaurus's facts in the model. `on_read` sees the corpus
    /// before training starts (the command line reports it there). Give the thesaurus's words
    /// to the segmenter first with [`TrainParams::add_thesaurus_words`], as `dtag train` does.
    pub fn fit_inputs(
        &self,
        inputs: &TrainInputs,
        progress: &dyn Progress,
        on_read: &mut dyn FnMut(&ReadCorpus),
    ) -> Result<(Model, TrainReport)> {
        let started = Instant::now();
        let analyzer = Analyzer::new(self.analyzer.clone())?;
        let mut read = inputs.read()?;
        on_read(&read);
        let mut reading = Stages::new();
        reading.since("reading", started);
        let prepared = self.prepare(&analyzer, &read.corpus, inputs.thesaurus, progress)?;
        // Analysed, the bodies are needed no more: a million documents' text is gigabytes.
        read.corpus.release_bodies();
        let (mut model, mut report) = self.fit_prepared(prepared, progress)?;
        if let Some(t) = inputs.thesaurus {
            model.attach_thesaurus(t);
        }
        report.seconds.merge(&reading);
        Ok((model, report))
    }

    /// A model of the thesaurus alone, before any indexed document: every concept with a
    /// label in the analyzer's language is a descriptor, proposed by the label lexicon and
    /// scored by the prior ([`crate::classifier::ensemble::prior_weights`]); there is no
    /// vocabulary, no one-vs-rest model, no neighbour and no tuning (probabilities are the
    /// prior's, cut at 0.5). Learning into it ([`learn`]) trains the supervised members on
    /// the documents learned. Needs the ensemble with its lexicon and tuning (the defaults).
    pub fn fit_thesaurus(
        &self,
        analyzer: &Analyzer,
        thesaurus: &Thesaurus,
    ) -> Result<(Model, TrainReport)> {
        self.check_analyzer(analyzer)?;
        if self.tune.is_none() || !self.ensemble.as_ref().is_some_and(|e| e.lexicon) {
            return Err(Error::Training(
                "a model of the thesaurus alone is its label lexicon: it needs the ensemble, \
                 its lexicon and tuning (drop --no-ensemble, --no-lexicon and --no-tune)"
                    .into(),
            ));
        }
        let start = Instant::now();
        let (lexicon_only, lexicon) = self.lexicon_for(analyzer, &[], Some(thesaurus));
        let Some(lexicon) = lexicon.filter(|_| !lexicon_only.is_empty()) else {
            return Err(Error::Training(format!(
                "the thesaurus {} has no concept with a label in {} (or without a language tag): \
                 nothing to propose",
                thesaurus.source,
                self.analyzer.language.code()
            )));
        };
        let mut seconds = Stages::new();
        seconds.since("lexicon", start);
        let vectorizer =
            TfidfVectorizer::new(Vec::new(), Vec::new(), self.given.tfidf.sublinear_tf, 0);
        let prepared = Prepared {
            kept: Vec::new(),
            skipped: Vec::new(),
            labels: LabelSets {
                n_labels: 0,
                rows: Vec::new(),
            },
            lexicon: Some((lexicon, Vec::new())),
            lexicon_only,
            vectorizer,
            x: CsrMatrix::new(0),
            seconds,
            documents: DocumentsSeen {
                names: Vec::new(),
                labels: Vec::new(),
                digests: Vec::new(),
                sources: 0,
                vocabulary_documents: 0,
                learned_documents: 0,
                updates: 0,
                log_batch: 0,
            },
        };
        let (classifier, _) = OneVsRest::join::<()>(0, 0, Vec::new())?;
        let untuned = TuningSummary {
            report: None,
            skipped: Some(
                "no training documents: the prior scores the thesaurus's concepts".into(),
            ),
        };
        let (mut model, report) = self.finish(prepared, (classifier, None, untuned), None)?;
        model.attach_thesaurus(thesaurus);
        Ok((model, report))
    }

    /// Trains a model on `corpus`; with a `thesaurus`, its labels in the analyzer's language
    /// feed the lexicon member of the ensemble.
    pub fn fit(
        &self,
        corpus: &Corpus,
        thesaurus: Option<&Thesaurus>,
        progress: &dyn Progress,
    ) -> Result<(Model, TrainReport)> {
        let analyzer = Analyzer::new(self.analyzer.clone())?;
        self.fit_with_analyzer(&analyzer, corpus, thesaurus, progress)
    }

    /// [`Self::fit`] with the analyzer already built (callers may build it while they read the
    /// corpus: loading the segmenter's dictionary takes a while).
    pub fn fit_with_analyzer(
        &self,
        analyzer: &Analyzer,
        corpus: &Corpus,
        thesaurus: Option<&Thesaurus>,
        progress: &dyn Progress,
    ) -> Result<(Model, TrainReport)> {
        let prepared = self.prepare(analyzer, corpus, thesaurus, progress)?;
        self.fit_prepared(prepared, progress)
    }

    /// Training after [`Self::prepare`]: one-vs-rest, then [`Self::finish`].
    fn fit_prepared(
        &self,
        prepared: Prepared,
        progress: &dyn Progress,
    ) -> Result<(Model, TrainReport)> {
        self.fit_prepared_as(prepared, progress, "training")
    }

    /// [`Self::fit_prepared`] with the one-vs-rest progress bar named `stage`.
    pub(crate) fn fit_prepared_as(
        &self,
        mut prepared: Prepared,
        progress: &dyn Progress,
        stage: &str,
    ) -> Result<(Model, TrainReport)> {
        let fit = |x: &CsrMatrix, labels: &LabelSets, seconds: &mut Stages| {
            fit_held_out_if_tuning(
                &self.ovr,
                self.tune.as_ref(),
                x,
                labels,
                &[],
                progress,
                stage,
                seconds,
            )
        };
        let Some(neighbours) = self.votes_alongside(&prepared) else {
            let fitted = fit(&prepared.x, &prepared.labels, &mut prepared.seconds)?;
            return self.finish(prepared, fitted, None);
        };
        // The neighbour index and its leave-one-out votes need the rows alone: they are
        // found while the one-vs-rest models train, each filling the other's idle moments
        // (the end of a block, of a fold), and the ensemble keeps them (`Ensemble::fit`).
        // The index holds a copy of the rows: small, as `votes_alongside` requires.
        let (fitted, (index, votes)) = rayon::join(
            || fit(&prepared.x, &prepared.labels, &mut prepared.seconds),
            || {
                let rows = prepared.x.clone();
                let index = KnnIndex::new(rows, &prepared.labels.rows, neighbours.neighbours);
                let votes = index.leave_one_out_votes(neighbours.candidates);
                (index, votes)
            },
        );
        let given = GivenVotes::Indexed(Box::new(index), votes);
        self.finish(prepared, fitted?, Some(given))
    }

    /// The ensemble's neighbour settings when its leave-one-out votes are computed beside the
    /// one-vs-rest fits: with tuning (the votes are only used on out-of-fold values) and an
    /// index a query may read whole ([`KnnIndex::read_budget`]), whose postings are then
    /// small enough to be held during the fits (a large corpus builds its index after them).
    fn votes_alongside(&self, prepared: &Prepared) -> Option<&EnsembleParams> {
        let n = prepared.labels.rows.len();
        let params = self.ensemble.as_ref().filter(|e| e.neighbours > 0)?;
        let tuned = self
            .tune
            .as_ref()
            .is_some_and(|t| t.too_few_documents(n).is_none());
        (tuned && n > 0 && n <= KnnIndex::read_budget(n)).then_some(params)
    }

    /// The first steps of every training run (whole, a shard, or a merge of shards): the
    /// descriptors trained and skipped, every document's labels, the TF-IDF rows and, when
    /// the ensemble has a lexicon member, the lexicon (the trained descriptors' names and the
    /// `thesaurus`'s labels) with its mentions in every document.
    pub(crate) fn prepare(
        &self,
        analyzer: &Analyzer,
        corpus: &Corpus,
        thesaurus: Option<&Thesaurus>,
        progress: &dyn Progress,
    ) -> Result<Prepared> {
        let mut seconds = Stages::new();
        let docs = &corpus.documents;
        if docs.is_empty() {
            return Err(Error::Training("the corpus has no documents".into()));
        }
        self.check_analyzer(analyzer)?;
        // Descriptors in sorted order so models do not depend on document order.
        let names: Vec<String> = corpus
            .descriptor_set()
            .into_iter()
            .map(str::to_string)
            .collect();
        let id: rustc_hash::FxHashMap<&str, u32> = names
            .iter()
            .enumerate()
            .map(|(i, d)| (d.as_str(), i as u32))
            .collect();
        let doc_names: Vec<Vec<u32>> = docs
            .iter()
            .map(|d| d.descriptors.iter().map(|x| id[x.as_str()]).collect())
            .collect();
        let plan = self.plan_descriptors(&names, &doc_names)?;
        let trained: Vec<String> = plan.kept.iter().map(|(d, _)| d.clone()).collect();
        let (lexicon_only, lexicon_labels) = self.lexicon_labels_for(&trained, thesaurus);
        // Built when the first document's words reach it: analysing the labels waits for the
        // segmenter's dictionary, and the documents' n-grams are counted meanwhile (the
        // dictionary takes 0.1-0.2 s to load; building the lexicon first left a core idle).
        let lexicon: OnceLock<Lexicon> = OnceLock::new();
        let observe = |words: &[&str]| match &lexicon_labels {
            Some(labels) => lexicon
                .get_or_init(|| labels.build(analyzer))
                .mentions_of_words(words),
            None => Vec::new(),
        };

        let texts = corpus.bodies();
        let digests = docs.iter().map(|d| text_key(&d.body)).collect();
        let (vectorizer, x, mentions) = seconds.time("analysis", || {
            let bar = progress.stage("analysing", texts.len() as u64);
            let fitted = self.tfidf.fit_transform_observing(
                analyzer,
                &texts,
                bar.as_ref(),
                lexicon_labels
                    .is_some()
                    .then_some(&observe as &WordObserver<'_, Vec<Mention>>),
            );
            bar.finish();
            fitted
        })?;
        Ok(Prepared {
            kept: plan.kept,
            skipped: plan.skipped,
            labels: plan.labels,
            lexicon_only,
            lexicon: lexicon_labels.map(|labels| {
                let lexicon = lexicon.into_inner();
                (lexicon.unwrap_or_else(|| labels.build(analyzer)), mentions)
            }),
            vectorizer,
            x,
            seconds,
            documents: DocumentsSeen {
                names,
                labels: doc_names,
                digests,
                sources: corpus.sources,
                vocabulary_documents: docs.len(),
                learned_documents: 0,
                updates: 0,
                log_batch: 0,
            },
        })
    }

    pub(crate) fn check_analyzer(&self, analyzer: &Analyzer) -> Result<()> {
        if analyzer.config() != &self.analyzer {
            return Err(Error::Training(
                "the analyzer differs from the training settings".into(),
            ));
        }
        Ok(())
    }

    /// The descriptors trained and skipped (`min_label_docs`), sorted by name, and every
    /// document's trained descriptors: `names` are every descriptor name, `docs` each
    /// document's descriptors as indices into them.
    pub(crate) fn plan_descriptors(
        &self,
        names: &[String],
        docs: &[Vec<u32>],
    ) -> Result<DescriptorPlan> {
        let mut counts = vec![0u32; names.len()];
        for d in docs {
            for &l in d {
                counts[l as usize] += 1;
            }
        }
        let mut by_name: Vec<(&str, u32, u32)> = names
            .iter()
            .zip(&counts)
            .enumerate()
            .filter(|&(_, (_, &n))| n > 0)
            .map(|(i, (d, &n))| (d.as_str(), n, i as u32))
            .collect();
        by_name.sort_unstable();
        let (kept, skipped): (Vec<_>, Vec<_>) = by_name
            .into_iter()
            .partition(|&(_, n, _)| n as usize >= self.min_label_docs);
        if kept.is_empty() {
            return Err(Error::Training(format!(
                "no descriptor has at least {} documents",
                self.min_label_docs
            )));
        }
        let mut index = vec![u32::MAX; names.len()];
        for (k, &(_, _, i)) in kept.iter().enumerate() {
            index[i as usize] = k as u32;
        }
        let owned = |list: Vec<(&str, u32, u32)>| {
            list.into_iter()
                .map(|(d, n, _)| (d.to_string(), n))
                .collect()
        };
        let labels = LabelSets {
            n_labels: kept.len(),
            rows: docs
                .iter()
                .map(|d| {
                    d.iter()
                        .map(|&l| index[l as usize])
                        .filter(|&k| k != u32::MAX)
                        .collect()
                })
                .collect(),
        };
        Ok(DescriptorPlan {
            kept: owned(kept),
            skipped: owned(skipped),
            labels,
        })
    }

    /// The label lexicon of a run whose trained descriptors are `trained` (when the
    /// ensemble has a lexicon member): their names and the `thesaurus`'s labels, matched in
    /// the words the vectoriser reads (no second segmentation). Also the thesaurus concepts
    /// that are no trained descriptor, which the lexicon alone proposes (none without a
    /// lexicon).
    pub(crate) fn lexicon_for(
        &self,
        analyzer: &Analyzer,
        trained: &[String],
        thesaurus: Option<&Thesaurus>,
    ) -> (Vec<String>, Option<Lexicon>) {
        let (lexicon_only, labels) = self.lexicon_labels_for(trained, thesaurus);
        (lexicon_only, labels.map(|l| l.build(analyzer)))
    }

    /// [`Self::lexicon_for`] before the labels are analysed: the lexicon-only descriptors and,
    /// when the run has a lexicon member, the labels it will be built from.
    fn lexicon_labels_for(
        &self,
        trained: &[String],
        thesaurus: Option<&Thesaurus>,
    ) -> (Vec<String>, Option<LexiconLabels>) {
        let (lexicon_only, labels) =
            lexicon_labels(trained, thesaurus, self.analyzer.language.code());
        let wants_lexicon = self.tune.is_some()
            && self.ensemble.as_ref().is_some_and(|e| e.lexicon)
            && !labels.is_empty();
        if !wants_lexicon {
            return (Vec::new(), None);
        }
        let n_descriptors = trained.len() + lexicon_only.len();
        (
            lexicon_only,
            Some(LexiconLabels {
                labels,
                n_descriptors,
            }),
        )
    }

    /// The steps after one-vs-rest that need every descriptor: the ensemble fitted on the
    /// out-of-fold values, tuning on whichever ranking it keeps, and the model. `votes`: the
    /// neighbours' leave-one-out votes when they were found before (see [`Ensemble::fit`]).
    pub(crate) fn finish(
        &self,
        prepared: Prepared,
        (classifier, held_out, mut tuning_summary): (OneVsRest, Option<OutOfFold>, TuningSummary),
        votes: Option<GivenVotes>,
    ) -> Result<(Model, TrainReport)> {
        let Prepared {
            kept,
            skipped,
            labels,
            lexicon,
            lexicon_only,
            vectorizer,
            x,
            mut seconds,
            documents: seen,
        } = prepared;
        let mut x = Some(x);
        // The lexicon's numbering: trained descriptors, then those only the lexicon proposes.
        let lexicon_names: Vec<String> = kept
            .iter()
            .map(|(d, _)| d.clone())
            .chain(lexicon_only.iter().cloned())
            .collect();
        let mentions: Vec<Vec<Mention>> = match &lexicon {
            Some((_, found)) => found.clone(),
            None => vec![Vec::new(); labels.rows.len()],
        };
        let mut descriptors: Vec<String> = kept.iter().map(|(d, _)| d.clone()).collect();
        let mut label_documents: Vec<u32> = kept.iter().map(|&(_, n)| n).collect();
        let mut ensemble = None;
        let mut ensemble_report = None;
        let tuning = match (self.tune.as_ref(), held_out) {
            (Some(tune), Some(mut oof)) => {
                let mut tuning_labels = labels.clone();
                if let Some(params) = &self.ensemble {
                    let start = Instant::now();
                    let new_names = lexicon_only;
                    let mut all_documents = label_documents.clone();
                    all_documents.resize(descriptors.len() + new_names.len(), 0);
                    // Without a neighbour member the rows are no index's: the memory keeps them.
                    let rows = match params.neighbours {
                        0 => x.clone(),
                        _ => x.take(),
                    };
                    let (fitted, fused, report) = Ensemble::fit(
                        params,
                        rows.expect("the rows are there until the ensemble takes them"),
                        &labels.rows,
                        &oof.docs,
                        lexicon,
                        all_documents.clone(),
                        descriptors.len(),
                        votes,
                    )?;
                    seconds.since("ensemble", start);
                    if report.chosen {
                        descriptors.extend(new_names);
                        label_documents = all_documents;
                        ensemble = Some(fitted);
                        tuning_labels.n_labels = descriptors.len();
                        // Calibration and thresholds learn from the trained descriptors: a
                        // concept no training document carries is never gold here, by
                        // construction, and would teach the calibration that what the
                        // lexicon proposes is wrong. Those concepts get the global threshold.
                        let trained = kept.len() as u32;
                        let docs = fused
                            .docs
                            .into_iter()
                            .map(|d| d.into_iter().filter(|&(l, _)| l < trained).collect())
                            .collect();
                        oof = OutOfFold {
                            n_labels: descriptors.len(),
                            docs,
                            missed: fused.missed,
                            dropped: vec![DroppedNegatives::default(); descriptors.len()],
                            folds: oof.folds,
                        };
                    } else if x.is_none() {
                        x = fitted.into_training_rows();
                    }
                    ensemble_report = Some(report);
                }
                let (tuning, report) =
                    seconds.time("tuning", || tune.tune(&oof, &tuning_labels))?;
                tuning_summary.report = Some(report);
                Some(tuning)
            }
            // Too few documents to hold any out: the ensemble still exists, with the prior's
            // fusion, so that the lexicon proposes the thesaurus's concepts from the first
            // document on (no tuning: probabilities are the prior's, cut at 0.5).
            (Some(_), None) => {
                if let Some(params) = self.ensemble.as_ref().filter(|_| lexicon.is_some()) {
                    let start = Instant::now();
                    let mut all_documents = label_documents.clone();
                    all_documents.resize(descriptors.len() + lexicon_only.len(), 0);
                    let rows = match params.neighbours {
                        0 => x.clone(),
                        _ => x.take(),
                    };
                    let (fitted, report) = Ensemble::from_prior(
                        params,
                        rows.expect("the rows are there until the ensemble takes them"),
                        &labels.rows,
                        lexicon,
                        all_documents.clone(),
                        descriptors.len(),
                    )?;
                    seconds.since("ensemble", start);
                    descriptors.extend(lexicon_only);
                    label_documents = all_documents;
                    // No neighbour index (no document): the memory keeps the (no) rows.
                    if x.is_none() && fitted.training_rows().is_none() {
                        x = Some(CsrMatrix::new(vectorizer.n_features()));
                    }
                    ensemble = Some(fitted);
                    ensemble_report = Some(report);
                }
                None
            }
            _ => None,
        };

        let documents = seen.labels.len();
        let assignments = seen.labels.iter().map(Vec::len).sum();
        let report = TrainReport {
            documents,
            sources: seen.sources,
            assignments,
            vocabulary: vectorizer.n_features(),
            descriptors_trained: kept.len(),
            descriptors_skipped: skipped.len(),
            skipped: skipped.clone(),
            stored_weights: classifier.nnz(),
            seconds,
            tuning: tuning_summary,
            ensemble: ensemble_report,
        };
        let memory = seen.into_memory(self.learning_settings(), &lexicon_names, mentions, x);
        let model = Model {
            analyzer: self.analyzer.clone(),
            vectorizer,
            descriptors,
            classifier,
            info: TrainingInfo {
                documents,
                label_documents,
                skipped,
                c: self.ovr.logistic().params().c,
                dtag_version: env!("CARGO_PKG_VERSION").to_string(),
            },
            concepts: None,
            tuning,
            ensemble,
            memory: Some(memory),
        };
        Ok((model, report))
    }

    /// The settings an update of a model of this run learns with.
    fn learning_settings(&self) -> LearningSettings {
        LearningSettings {
            analyzer: self.given.analyzer.clone(),
            ovr: self.given.ovr.clone(),
            min_label_docs: self.given.min_label_docs,
            tune: self.given.tune.clone(),
            ensemble: self.given.ensemble.clone(),
        }
    }
}

impl TrainParams {
    /// The settings of the run that trained a model, as its memory keeps them (the TF-IDF
    /// settings are the default's: an update keeps the model's vocabulary and idf).
    pub fn of_memory(settings: &LearningSettings) -> TrainParams {
        TrainParams {
            analyzer: settings.analyzer.clone(),
            tfidf: TfidfParams::default(),
            ovr: settings.ovr.clone(),
            min_label_docs: settings.min_label_docs,
            tune: settings.tune.clone(),
            ensemble: settings.ensemble.clone(),
        }
    }
}

/// The descriptors of a run ([`ValidTrainParams::plan_descriptors`]).
pub(crate) struct DescriptorPlan {
    /// Trained descriptors (sorted by name) and their document counts.
    pub kept: Vec<(String, u32)>,
    /// Descriptors with fewer than `min_label_docs` documents.
    pub skipped: Vec<(String, u32)>,
    /// Every document's trained descriptors.
    pub labels: LabelSets,
}

/// The documents of a run as the model's memory keeps them: every descriptor they carry
/// (trained or skipped), their digests, and the counts of training and updates.
pub(crate) struct DocumentsSeen {
    pub names: Vec<String>,
    /// Per document: indices into `names`.
    pub labels: Vec<Vec<u32>>,
    pub digests: Vec<u64>,
    pub sources: usize,
    pub vocabulary_documents: usize,
    pub learned_documents: usize,
    pub updates: u64,
    pub log_batch: u64,
}

impl DocumentsSeen {
    /// The memory of a model: these documents, their mentions (`mentions`, numbered as
    /// `lexicon_names`) and their rows (`rows`: `None` when the neighbour index holds them).
    fn into_memory(
        self,
        settings: LearningSettings,
        lexicon_names: &[String],
        mut mentions: Vec<Vec<Mention>>,
        rows: Option<CsrMatrix>,
    ) -> TrainingMemory {
        let mut names = self.names;
        let mut id: rustc_hash::FxHashMap<String, u32> = names
            .iter()
            .enumerate()
            .map(|(i, d)| (d.clone(), i as u32))
            .collect();
        let mut lexicon_id = vec![u32::MAX; lexicon_names.len()];
        for doc in &mut mentions {
            for m in doc.iter_mut() {
                let slot = &mut lexicon_id[m.descriptor as usize];
                if *slot == u32::MAX {
                    let name = &lexicon_names[m.descriptor as usize];
                    *slot = *id.entry(name.clone()).or_insert_with(|| {
                        names.push(name.clone());
                        (names.len() - 1) as u32
                    });
                }
                m.descriptor = *slot;
            }
        }
        TrainingMemory {
            settings,
            vocabulary_documents: self.vocabulary_documents,
            sources: self.sources,
            learned_documents: self.learned_documents,
            updates: self.updates,
            log_batch: self.log_batch,
            names,
            labels: self.labels,
            mentions,
            digests: self.digests,
            rows: rows.map(KnnRows),
            thesaurus: None,
        }
    }
}

/// What [`ValidTrainParams::prepare`] computes for the later steps.
/// The labels a run's lexicon member is built from (see [`ValidTrainParams::lexicon_for`]).
struct LexiconLabels {
    /// (descriptor, label, preferred) as [`lexicon_labels`] lists them.
    labels: Vec<(u32, String, bool)>,
    n_descriptors: usize,
}

impl LexiconLabels {
    fn build(&self, analyzer: &Analyzer) -> Lexicon {
        Lexicon::build(
            analyzer,
            self.labels.iter().map(|(d, l, p)| (*d, l.as_str(), *p)),
            self.n_descriptors,
        )
    }
}

pub(crate) struct Prepared {
    /// Trained descriptors (sorted by name) and their document counts.
    pub kept: Vec<(String, u32)>,
    /// Descriptors with fewer than `min_label_docs` documents.
    pub skipped: Vec<(String, u32)>,
    pub labels: LabelSets,
    /// The label lexicon and its mentions in every document (see [`ValidTrainParams::prepare`]).
    pub lexicon: Option<(Lexicon, Vec<Vec<Mention>>)>,
    /// Thesaurus concepts no training document carries, proposed by the lexicon alone (none
    /// without a lexicon).
    pub lexicon_only: Vec<String>,
    pub vectorizer: TfidfVectorizer,
    pub x: CsrMatrix,
    pub seconds: Stages,
    pub documents: DocumentsSeen,
}

/// The labels the lexicon member matches: every trained descriptor's own name and, with a
/// thesaurus, the labels in `language` (or untagged) of every concept. Concepts that are no
/// trained descriptor become new descriptors, proposed by the lexicon alone; their names are
/// returned in the order of their indices after `trained`.
pub fn lexicon_labels(
    trained: &[String],
    thesaurus: Option<&Thesaurus>,
    language: &str,
) -> (Vec<String>, Vec<(u32, String, bool)>) {
    let mut index: rustc_hash::FxHashMap<&str, u32> = trained
        .iter()
        .enumerate()
        .map(|(i, d)| (d.as_str(), i as u32))
        .collect();
    let mut labels: Vec<(u32, String, bool)> = trained
        .iter()
        .enumerate()
        .map(|(i, d)| (i as u32, d.clone(), true))
        .collect();
    let mut new_names: Vec<String> = Vec::new();
    for concept in thesaurus.map_or(&[][..], |t| t.concepts()) {
        if concept.is_group {
            continue;
        }
        let in_language: Vec<(&str, bool)> = concept.labels_in(language).collect();
        if in_language.is_empty() {
            continue;
        }
        let name = concept.descriptor_name();
        let descriptor = match index.get(name) {
            Some(&i) => i,
            None => {
                let i = (trained.len() + new_names.len()) as u32;
                new_names.push(name.to_string());
                index.insert(name, i);
                i
            }
        };
        for (label, preferred) in in_language {
            labels.push((descriptor, label.to_string(), preferred));
            if let Some(head) = without_qualifier(label) {
                labels.push((descriptor, head.to_string(), false));
            }
        }
    }
    (new_names, labels)
}

/// A label's head without its parenthesised qualifier (`lapset (ikäryhmät)` → `lapset`), if
/// it has one. *Why:* thesauri such as YSO and LCSH tell homonyms apart by a qualifier that
/// texts never write; the head alone is how the concept is mentioned, and the lexicon counts
/// the concepts sharing it as ambiguous.
fn without_qualifier(label: &str) -> Option<&str> {
    let trimmed = label.trim_end();
    if !trimmed.ends_with(')') {
        return None;
    }
    let open = trimmed.rfind(" (")?;
    let head = trimmed[..open].trim();
    (!head.is_empty()).then_some(head)
}
