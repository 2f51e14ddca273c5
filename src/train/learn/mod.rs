//! Learning: a model updated with new documents is the model training makes of its own
//! documents plus the new ones.
//!
//! An update runs training's own stages ([`ValidTrainParams::plan_descriptors`],
//! [`ValidTrainParams::lexicon_for`], [`ValidTrainParams::fit_prepared`]: one-vs-rest with
//! its out-of-fold values, the ensemble, tuning) over every document the model keeps in its
//! memory ([`TrainingMemory`]) plus the new ones, with the settings the model was trained
//! with. Only the new documents are analysed (the others' rows and label mentions are in the
//! memory), and every descriptor's solver starts from its current weights: the problem solved
//! is the whole corpus's, so `learn(train(A), B)` ranks like `train(A ∪ B)`. What differs:
//! - the vocabulary and idf stay those of the training run (terms first seen in learned
//!   documents are ignored and reported; idf does not count learned documents);
//! - earlier documents' label mentions are not searched again for the labels of descriptors
//!   that first appear in the new documents.
//!
//! Learning is safe to repeat and hard to poison:
//! - a document (text and descriptors) the model has learned already counts once;
//! - an empty text, or one with fewer known terms than [`MIN_KNOWN_TERMS`], is refused with
//!   where it stands;
//! - one document moves the model as one training document does: a descriptor it brings is a
//!   descriptor of one training document, ranked through the same fusion as any rare one.
//!
//! Before an update is made, a held-out share of the new documents ([`LearnParams::holdout`])
//! measures an update made without them against the model as it was ([`HoldoutCheck`]); the
//! caller decides what a worse result means (`dtag learn` refuses to write it without
//! `--accept-worse`, the server keeps it out).

mod analyse;
mod holdout;

use std::collections::BTreeMap;

use crate::stages::Stages;
use std::time::Instant;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use super::{DocumentsSeen, Prepared, TrainParams, TrainReport, ValidTrainParams};
use crate::analysis::Analyzer;
use crate::calibrate::{fold_assignment, TuneParams};
use crate::classifier::ensemble::Mention;
use crate::corpus::{Corpus, Document};
use crate::digest::text_key;
use crate::error::{CorpusProblem, Error, ProblemKind, Result};
use crate::features::sparse::CsrMatrix;
use crate::model::{Model, StoredThesaurus, TrainingMemory};
use crate::progress::Progress;
use crate::thesaurus::{Concept, Thesaurus};
use analyse::{analyse, Analysed, AnalysedDocument};
use holdout::compare;
pub use holdout::{Coverage, HeldOutFigures, HoldoutCheck};

/// Fewest distinct terms known to the model a document needs to be learned: `suggest`'s
/// warning threshold (`--min-known-terms`). A text with fewer has nothing a model could learn
/// from but its descriptors, which would then be proposed for any text.
pub const MIN_KNOWN_TERMS: usize = 3;

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

/// How many of the most frequent ignored terms are named in the report.
const TOP_IGNORED: usize = 20;

/// Settings of an update (the training settings are the model's own).
#[derive(Debug, Clone, PartialEq)]
pub struct LearnParams {
    /// Share of the new documents held out to compare an update without them with the model
    /// as it was (0: no check). The model returned is updated with every document.
    pub holdout: f64,
    /// Documents with fewer distinct known terms are refused.
    pub min_known_terms: usize,
}

impl Default for LearnParams {
    fn default() -> Self {
        LearnParams {
            holdout: HOLDOUT_SHARE,
            min_known_terms: MIN_KNOWN_TERMS,
        }
    }
}

impl LearnParams {
    pub fn check(self) -> Result<ValidLearnParams> {
        if !(0.0..=0.5).contains(&self.holdout) {
            return Err(Error::param("holdout", "must be in [0, 0.5]"));
        }
        if self.min_known_terms == 0 {
            return Err(Error::param("min_known_terms", "must be at least 1"));
        }
        Ok(ValidLearnParams(self))
    }
}

/// Validated [`LearnParams`].
#[derive(Debug, Clone)]
pub struct ValidLearnParams(LearnParams);

/// New labelled documents, and concepts their descriptors name that the model's thesaurus
/// lacks (a subject sent with a URI the thesaurus does not have keeps that URI).
#[derive(Debug, Clone, Default)]
pub struct LearnBatch {
    pub corpus: Corpus,
    pub new_concepts: Vec<Concept>,
    /// The batch of the learning log these documents are (the model records it).
    pub log_batch: Option<u64>,
}

impl From<Corpus> for LearnBatch {
    fn from(corpus: Corpus) -> Self {
        LearnBatch {
            corpus,
            new_concepts: Vec::new(),
            log_batch: None,
        }
    }
}

/// A batch analysed with a model's vocabulary and found learnable ([`ValidLearnParams::check`]).
pub struct CheckedBatch<'b> {
    batch: &'b LearnBatch,
    analysed: Analysed,
    started: Instant,
    analysis: f64,
}

/// What is fixed at training time and so differs from retraining on every document.
#[derive(Debug, Clone, Serialize)]
pub struct FixedVocabulary {
    /// Documents the vocabulary and idf were learned from.
    pub documents: usize,
    pub terms: usize,
    /// Tokens of the new documents, and those outside the vocabulary (ignored).
    pub tokens: u64,
    pub ignored_tokens: u64,
    /// Distinct ignored terms, and the most frequent of them (documents they occur in).
    pub ignored_terms: usize,
    pub top_ignored_terms: Vec<(String, u32)>,
    /// What an update cannot do that retraining on every document would.
    pub differs_from_retraining: String,
}

/// What an update did (`dtag learn --json` prints it).
#[derive(Debug, Clone, Serialize)]
pub struct LearnReport {
    /// Documents given.
    pub documents: usize,
    /// New documents learned; texts the model had whose descriptors were replaced (an
    /// indexer's correction); and documents the model had learned already (counted once).
    pub learned: usize,
    pub relabelled: usize,
    pub already_learned: usize,
    pub assignments: usize,
    /// Descriptors the model trains now that it did not before.
    pub descriptors_added: Vec<String>,
    /// The model's documents after the update, those learned since training, and updates.
    pub model_documents: usize,
    pub learned_documents: usize,
    pub updates: u64,
    pub vocabulary: FixedVocabulary,
    /// The training stages of the update (`null`: nothing new to learn).
    pub training: Option<TrainReport>,
    pub seconds: Stages,
    /// The update measured on held-out new documents against the model it started from.
    pub holdout_check: Option<HoldoutCheck>,
    /// Why there was no such check.
    pub holdout_skipped: Option<String>,
    /// How well the new documents represent what the model was trained on.
    pub coverage: Coverage,
}

impl LearnReport {
    /// The held-out check found the update worse than the model as it was.
    pub fn worse(&self) -> bool {
        self.holdout_check.as_ref().is_some_and(|c| c.worse)
    }
}

impl ValidLearnParams {
    pub fn params(&self) -> &LearnParams {
        &self.0
    }

    /// Updates `model` with `batch` (see the module documentation), building the model's
    /// analyzer first.
    pub fn learn(
        &self,
        model: &Model,
        batch: &LearnBatch,
        progress: &dyn Progress,
    ) -> Result<(Model, LearnReport)> {
        let analyzer = Analyzer::new(model.analyzer.clone())?;
        self.learn_with_analyzer(model, &analyzer, batch, progress)
    }

    /// [`Self::learn`] with the model's analyzer already built (callers may build it while
    /// they read the corpus: loading the segmenter's dictionary takes a while). With nothing
    /// new to learn, the model returned is `model` as it was.
    pub fn learn_with_analyzer(
        &self,
        model: &Model,
        analyzer: &Analyzer,
        batch: &LearnBatch,
        progress: &dyn Progress,
    ) -> Result<(Model, LearnReport)> {
        let checked = self.check(model, analyzer, batch, progress)?;
        self.learn_checked(model, analyzer, checked, progress)
    }

    /// Analyses `batch` once with the model's vocabulary and refuses documents the model
    /// cannot learn from (each named by where it stands): the first half of
    /// [`Self::learn_with_analyzer`], which a caller logging the documents before the update
    /// runs first ([`crate::train::journal::teach`]).
    pub fn check<'b>(
        &self,
        model: &Model,
        analyzer: &Analyzer,
        batch: &'b LearnBatch,
        progress: &dyn Progress,
    ) -> Result<CheckedBatch<'b>> {
        let started = Instant::now();
        let docs = &batch.corpus.documents;
        if docs.is_empty() {
            return Err(Error::Training("there are no documents to learn".into()));
        }
        if analyzer.config() != &model.analyzer {
            return Err(Error::Training(
                "the analyzer differs from the model's".into(),
            ));
        }
        let texts: Vec<&str> = docs.iter().map(|d| d.body.as_str()).collect();
        let bar = progress.stage("analysing", texts.len() as u64);
        let analysed = analyse(&model.vectorizer, analyzer, &texts, bar.as_ref());
        bar.finish();
        self.refuse_unlearnable(docs, &analysed.documents)?;
        Ok(CheckedBatch {
            batch,
            analysed,
            started,
            analysis: started.elapsed().as_secs_f64(),
        })
    }

    /// The second half of [`Self::learn_with_analyzer`]: the update of `model` with a batch
    /// [`Self::check`] analysed.
    pub fn learn_checked(
        &self,
        model: &Model,
        analyzer: &Analyzer,
        checked: CheckedBatch<'_>,
        progress: &dyn Progress,
    ) -> Result<(Model, LearnReport)> {
        let CheckedBatch {
            batch,
            analysed,
            started,
            analysis,
        } = checked;
        let docs = &batch.corpus.documents;
        let texts: Vec<&str> = docs.iter().map(|d| d.body.as_str()).collect();
        let memory = model.memory.as_ref().ok_or_else(|| {
            Error::Training(
                "the model keeps no training documents to learn with (it was made by an \
                 earlier dtag, or merged from an older part): train it again with `dtag train`"
                    .into(),
            )
        })?;
        let settings = TrainParams::of_memory(&memory.settings).check()?;
        settings.check_analyzer(analyzer)?;
        let mut seconds = Stages::new();
        seconds.add("analysis", analysis);

        // A text the model has is not learned again: with the same descriptors it changes
        // nothing, with others they replace its own (an indexer's correction). A text given
        // twice in the batch counts once, with its last descriptors.
        let known: FxHashMap<u64, usize> = memory
            .digests
            .iter()
            .enumerate()
            .map(|(m, &key)| (key, m))
            .collect();
        let mut last: FxHashMap<u64, usize> = FxHashMap::default();
        for (i, d) in docs.iter().enumerate() {
            last.insert(text_key(&d.body), i);
        }
        let (mut fresh, mut digests, mut relabelled) = (Vec::new(), Vec::new(), Vec::new());
        for (i, d) in docs.iter().enumerate() {
            let key = text_key(&d.body);
            if last[&key] != i {
                continue;
            }
            match known.get(&key) {
                None => {
                    fresh.push(i);
                    digests.push(key);
                }
                Some(&m) => {
                    let mut had: Vec<&str> = memory.labels[m]
                        .iter()
                        .map(|&l| memory.names[l as usize].as_str())
                        .collect();
                    let mut now: Vec<&str> = d.descriptors.iter().map(String::as_str).collect();
                    had.sort_unstable();
                    now.sort_unstable();
                    now.dedup();
                    if had != now {
                        relabelled.push((m, i));
                    }
                }
            }
        }
        let mut thesaurus = model.full_thesaurus();
        if let Some(t) = &mut thesaurus {
            with_new_concepts(t, &batch.new_concepts);
        } else if !batch.new_concepts.is_empty() {
            thesaurus = Some(Thesaurus::new(
                "learned subjects".into(),
                batch.new_concepts.clone(),
                Default::default(),
            ));
        }
        let new_counts = descriptor_counts(fresh.iter().map(|&i| &docs[i]));
        let coverage = Coverage::measure(model, &new_counts, fresh.len());
        let vocabulary = fixed_vocabulary(model, memory, &analysed);
        let mut report = LearnReport {
            documents: docs.len(),
            learned: fresh.len(),
            relabelled: relabelled.len(),
            already_learned: docs.len() - fresh.len() - relabelled.len(),
            assignments: fresh.iter().map(|&i| docs[i].descriptors.len()).sum(),
            descriptors_added: Vec::new(),
            model_documents: memory.documents(),
            learned_documents: memory.learned_documents,
            updates: memory.updates,
            vocabulary,
            training: None,
            seconds,
            holdout_check: None,
            holdout_skipped: None,
            coverage,
        };
        if fresh.is_empty() && relabelled.is_empty() {
            report.holdout_skipped = Some("nothing new to learn".into());
            report.seconds.since("total", started);
            return Ok((model.clone(), report));
        }
        let update = Update {
            settings: &settings,
            model,
            memory,
            analyzer,
            docs,
            analysed: &analysed.documents,
            digests: &digests,
            relabelled: &relabelled,
            thesaurus: thesaurus.as_ref(),
            sources: batch.corpus.sources,
            log_batch: batch.log_batch,
        };

        // The check: an update without the held-out documents, against the model as it was.
        match self.holdout_split(&fresh, docs) {
            Err(why) => report.holdout_skipped = Some(why),
            Ok(held_out) => {
                let start = Instant::now();
                let kept: Vec<usize> = (0..fresh.len()).filter(|&k| !held_out[k]).collect();
                let (candidate, _) = update.run(&fresh, &kept, progress, "checking")?;
                let held: Vec<usize> = (0..fresh.len())
                    .filter(|&k| held_out[k])
                    .map(|k| fresh[k])
                    .collect();
                let held_texts: Vec<&str> = held.iter().map(|&i| texts[i]).collect();
                let gold: Vec<&[String]> = held.iter().map(|&i| &docs[i].descriptors[..]).collect();
                report.holdout_check =
                    Some(compare(model, &candidate, analyzer, &held_texts, &gold));
                report.seconds.since("checking", start);
            }
        }

        let start = Instant::now();
        let all: Vec<usize> = (0..fresh.len()).collect();
        let (updated, training) = update.run(&fresh, &all, progress, "learning")?;
        report.seconds.since("update", start);
        let before: FxHashSet<&str> = model.descriptors[..model.trained_descriptors()]
            .iter()
            .map(String::as_str)
            .collect();
        report.descriptors_added = updated.descriptors[..updated.trained_descriptors()]
            .iter()
            .filter(|d| !before.contains(d.as_str()))
            .cloned()
            .collect();
        let after = updated.memory.as_ref().expect("an update keeps its memory");
        report.model_documents = after.documents();
        report.learned_documents = after.learned_documents;
        report.updates = after.updates;
        report.training = Some(training);
        report.seconds.since("total", started);
        Ok((updated, report))
    }

    /// Refuses documents a model cannot learn from: no descriptors, a blank text, or too few
    /// terms the model knows (each named by where it stands).
    fn refuse_unlearnable(&self, docs: &[Document], analysed: &[AnalysedDocument]) -> Result<()> {
        let min = self.0.min_known_terms;
        let problems: Vec<CorpusProblem> = docs
            .iter()
            .zip(analysed)
            .filter_map(|(d, a)| {
                let why = if d.descriptors.is_empty() {
                    "the document has no descriptors to learn".to_string()
                } else if d.body.trim().is_empty() {
                    "the text is empty: there is nothing to learn the descriptors from".to_string()
                } else if a.known_terms < min {
                    format!(
                        "only {} distinct term(s) of the text are known to the model (at least \
                         {min} are needed to learn from it)",
                        a.known_terms
                    )
                } else {
                    return None;
                };
                Some(CorpusProblem {
                    origin: d.origin.clone(),
                    kind: ProblemKind::Unlearnable(why),
                })
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Corpus(problems))
        }
    }

    /// Which of the `fresh` documents to hold out (stratified like tuning's folds, so that
    /// every descriptor is represented in proportion), or why none are.
    fn holdout_split(
        &self,
        fresh: &[usize],
        docs: &[Document],
    ) -> std::result::Result<Vec<bool>, String> {
        let share = self.0.holdout;
        if share == 0.0 {
            return Err("no held-out check asked for (holdout 0)".into());
        }
        let n = fresh.len();
        let folds = (1.0 / share).round().max(2.0) as usize;
        if n / folds < MIN_HOLDOUT_DOCS {
            return Err(format!(
                "{n} new documents are too few to hold out {MIN_HOLDOUT_DOCS} of them \
                 (one in {folds}) and check the update"
            ));
        }
        let mut id: FxHashMap<&str, u32> = FxHashMap::default();
        let rows: Vec<Vec<u32>> = fresh
            .iter()
            .map(|&i| {
                docs[i]
                    .descriptors
                    .iter()
                    .map(|d| {
                        let next = id.len() as u32;
                        *id.entry(d.as_str()).or_insert(next)
                    })
                    .collect()
            })
            .collect();
        let fold = fold_assignment(&rows, id.len(), folds, TuneParams::default().seed);
        Ok(fold.into_iter().map(|f| f == 0).collect())
    }
}

/// One update's inputs: the model, its memory and settings, and the new documents.
///
/// *Why one-vs-rest starts from zero and not from the model's weights:* the solver can start
/// from the dual point current weights imply ([`crate::classifier::ValidLogisticParams::fit_many`]),
/// but from zero it converges in 5–6 passes, and started from a model of 80 % of the rows it
/// needed as many or more (and two passes to set up): on kirjastonhoitaja and cail2018_sample,
/// learning the last 20 % into a model of the first 80 % spent 3.6 s and 1.2 s in one-vs-rest
/// from zero, 4.7 s and 2.0 s warm-started, with the same test figures (±0.1 point).
struct Update<'a> {
    settings: &'a ValidTrainParams,
    model: &'a Model,
    memory: &'a TrainingMemory,
    analyzer: &'a Analyzer,
    docs: &'a [Document],
    analysed: &'a [AnalysedDocument],
    digests: &'a [u64],
    /// `(memory document, batch document)`: known texts whose descriptors are replaced.
    relabelled: &'a [(usize, usize)],
    thesaurus: Option<&'a Thesaurus>,
    sources: usize,
    log_batch: Option<u64>,
}

impl Update<'_> {
    /// Training's stages over the memory's documents plus `fresh[k]` for each `k` of `take`
    /// (indices into the batch), one-vs-rest warm-started from the model's weights.
    fn run(
        &self,
        fresh: &[usize],
        take: &[usize],
        progress: &dyn Progress,
        stage: &'static str,
    ) -> Result<(Model, TrainReport)> {
        let memory = self.memory;
        let new: Vec<usize> = take.iter().map(|&k| fresh[k]).collect();

        // Names and labels: the memory's, then those of the new documents.
        let mut names = memory.names.clone();
        let mut id: FxHashMap<String, u32> = names
            .iter()
            .enumerate()
            .map(|(i, d)| (d.clone(), i as u32))
            .collect();
        let mut labels = memory.labels.clone();
        let mut ids_of = |i: usize| -> Vec<u32> {
            self.docs[i]
                .descriptors
                .iter()
                .map(|d| {
                    *id.entry(d.clone()).or_insert_with(|| {
                        names.push(d.clone());
                        (names.len() - 1) as u32
                    })
                })
                .collect()
        };
        for &(m, i) in self.relabelled {
            labels[m] = ids_of(i);
        }
        for &i in &new {
            labels.push(ids_of(i));
        }
        let plan = self.settings.plan_descriptors(&names, &labels)?;
        let trained: Vec<String> = plan.kept.iter().map(|(d, _)| d.clone()).collect();
        let (lexicon_only, lexicon) =
            self.settings
                .lexicon_for(self.analyzer, &trained, self.thesaurus);

        // Mentions: the memory's renumbered as this run's lexicon numbers descriptors, the
        // new documents' found in their words.
        let lexicon = lexicon.map(|lexicon| {
            let number: FxHashMap<&str, u32> = trained
                .iter()
                .chain(&lexicon_only)
                .enumerate()
                .map(|(i, d)| (d.as_str(), i as u32))
                .collect();
            let renumber: Vec<Option<u32>> = names
                .iter()
                .map(|d| number.get(d.as_str()).copied())
                .collect();
            let mut mentions: Vec<Vec<Mention>> = memory
                .mentions
                .iter()
                .map(|doc| {
                    let mut list: Vec<Mention> = doc
                        .iter()
                        .filter_map(|m| {
                            let descriptor = renumber[m.descriptor as usize]?;
                            Some(Mention { descriptor, ..*m })
                        })
                        .collect();
                    list.sort_unstable_by_key(|m| m.descriptor);
                    list
                })
                .collect();
            mentions.extend(new.iter().map(|&i| {
                let words: Vec<&str> = self.analysed[i].words.iter().map(String::as_str).collect();
                lexicon.mentions_of_words(&words)
            }));
            (lexicon, mentions)
        });

        let rows = self
            .model
            .training_rows()
            .expect("a model with a memory keeps its rows");
        let mut x = CsrMatrix::new(self.model.vectorizer.n_features());
        for (indices, values) in rows.iter() {
            x.push_row(indices, values);
        }
        for &i in &new {
            let row = &self.analysed[i].row;
            x.push_row(&row.indices, &row.values);
        }
        let mut digests = memory.digests.clone();
        digests.extend(take.iter().map(|&k| self.digests[k]));

        let prepared = Prepared {
            kept: plan.kept,
            skipped: plan.skipped,
            labels: plan.labels,
            lexicon,
            lexicon_only,
            vectorizer: self.model.vectorizer.clone(),
            x,
            seconds: Stages::new(),
            documents: DocumentsSeen {
                names,
                labels,
                digests,
                sources: memory.sources + self.sources,
                vocabulary_documents: memory.vocabulary_documents,
                learned_documents: memory.learned_documents + new.len(),
                updates: memory.updates + 1,
                log_batch: self.log_batch.unwrap_or(memory.log_batch),
            },
        };
        let (mut updated, report) = self.settings.fit_prepared_as(prepared, progress, stage)?;
        if let Some(t) = self.thesaurus {
            updated.attach_thesaurus(t);
        }
        Ok((updated, report))
    }
}

/// Adds to `thesaurus` the concepts it lacks of `new` (by URI).
fn with_new_concepts(thesaurus: &mut Thesaurus, new: &[Concept]) {
    let missing: Vec<Concept> = new
        .iter()
        .filter(|c| thesaurus.by_uri(&c.uri).is_none())
        .cloned()
        .collect();
    if missing.is_empty() {
        return;
    }
    let mut stored = StoredThesaurus::of(thesaurus);
    stored.concepts.extend(missing);
    *thesaurus = stored.to_thesaurus();
}

fn descriptor_counts<'a>(docs: impl Iterator<Item = &'a Document>) -> BTreeMap<&'a str, u32> {
    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    for d in docs {
        for desc in &d.descriptors {
            *counts.entry(desc.as_str()).or_insert(0) += 1;
        }
    }
    counts
}

fn fixed_vocabulary(
    model: &Model,
    memory: &TrainingMemory,
    analysed: &Analysed,
) -> FixedVocabulary {
    let mut ignored: Vec<(String, u32)> = analysed
        .ignored
        .iter()
        .map(|(t, &n)| (t.clone(), n))
        .collect();
    let ignored_terms = ignored.len();
    ignored.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ignored.truncate(TOP_IGNORED);
    FixedVocabulary {
        documents: memory.vocabulary_documents,
        terms: model.vectorizer.n_features(),
        tokens: analysed.tokens,
        ignored_tokens: analysed.ignored_tokens,
        ignored_terms,
        top_ignored_terms: ignored,
        differs_from_retraining: format!(
            "the vocabulary and idf are those of the {} documents the model was trained on: \
             terms first seen in learned documents are ignored ({ignored_terms} distinct \
             here) and idf does not count learned documents; earlier documents are not \
             searched again for the labels of descriptors that first appear in new ones. \
             Everything else is trained as `dtag train` trains it, on every document",
            memory.vocabulary_documents
        ),
    }
}

#[cfg(test)]
mod tests;
