//! The trained artifact ([`Model`]): analyzer settings, vocabulary, classifier, ensemble,
//! tuning and thesaurus facts together, with its file format ([`file`]).

pub mod file;
pub mod memory;

use serde::{Deserialize, Serialize};

use crate::analysis::AnalyzerConfig;
use crate::calibrate::Tuning;
use crate::classifier::ensemble::{Ensemble, EnsembleData, EnsembleDataRef, KnnRows};
use crate::classifier::{logistic, OneVsRest};
use crate::features::{TfidfState, TfidfVectorizer};
use crate::thesaurus::{ConceptTable, Thesaurus};
pub use memory::{LearningSettings, StoredThesaurus, TrainingMemory};

/// What training recorded about itself, kept in the model for `dtag` and its users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    pub documents: usize,
    /// Training documents per trained descriptor (same order as `descriptors`).
    pub label_documents: Vec<u32>,
    /// Descriptors left out for having too few documents, with their counts.
    pub skipped: Vec<(String, u32)>,
    pub c: f64,
    pub dtag_version: String,
}

/// Everything needed to suggest descriptors for a new text.
#[derive(Debug, Clone)]
pub struct Model {
    pub analyzer: AnalyzerConfig,
    pub vectorizer: TfidfVectorizer,
    pub descriptors: Vec<String>,
    pub classifier: OneVsRest,
    pub info: TrainingInfo,
    /// URIs, labels and groups of the descriptors, when trained with a thesaurus.
    pub concepts: Option<ConceptTable>,
    /// Calibration and per-descriptor thresholds, when trained with threshold tuning.
    pub tuning: Option<Tuning>,
    /// Neighbours, label lexicon and their fusion with the one-vs-rest models, when training
    /// found that they rank better. Descriptors past `classifier.n_labels()` are proposed by
    /// the lexicon alone.
    pub ensemble: Option<Ensemble>,
    /// The training documents and settings an update learns with (see [`memory`]).
    pub memory: Option<TrainingMemory>,
}

/// The serialised form of [`Model`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ModelData {
    pub analyzer: AnalyzerConfig,
    pub tfidf: TfidfState,
    pub descriptors: Vec<String>,
    pub classifier: OneVsRest,
    pub info: TrainingInfo,
    pub concepts: Option<ConceptTable>,
    pub tuning: Option<Tuning>,
    pub ensemble: Option<EnsembleData>,
    pub memory: Option<TrainingMemory>,
}

/// [`ModelData`] borrowed from a [`Model`]: serialised exactly as `ModelData` (same fields,
/// same order; a reference serialises as what it refers to).
#[derive(Debug, Serialize)]
pub(crate) struct ModelDataRef<'a> {
    pub analyzer: &'a AnalyzerConfig,
    pub tfidf: &'a TfidfState,
    pub descriptors: &'a [String],
    pub classifier: &'a OneVsRest,
    pub info: &'a TrainingInfo,
    pub concepts: Option<&'a ConceptTable>,
    pub tuning: Option<&'a Tuning>,
    pub ensemble: Option<EnsembleDataRef<'a>>,
    pub memory: Option<&'a TrainingMemory>,
}

impl Model {
    /// The stored form, borrowed (saving a model copies none of it).
    pub(crate) fn as_data(&self) -> ModelDataRef<'_> {
        ModelDataRef {
            analyzer: &self.analyzer,
            tfidf: self.vectorizer.state(),
            descriptors: &self.descriptors,
            classifier: &self.classifier,
            info: &self.info,
            concepts: self.concepts.as_ref(),
            tuning: self.tuning.as_ref(),
            ensemble: self.ensemble.as_ref().map(Ensemble::as_data),
            memory: self.memory.as_ref(),
        }
    }

    pub(crate) fn from_data(data: ModelData) -> std::result::Result<Self, String> {
        data.classifier.validate()?;
        let trained = data.classifier.n_labels();
        let lexicon_only = trained != data.descriptors.len();
        if trained > data.descriptors.len()
            || (lexicon_only && data.ensemble.is_none())
            || data.info.label_documents.len() != data.descriptors.len()
        {
            return Err("descriptor list does not match the classifier".into());
        }
        if data.tfidf.terms.len() != data.tfidf.idf.len()
            || data.classifier.n_features() != data.tfidf.terms.len()
        {
            return Err("vocabulary does not match the classifier".into());
        }
        if data
            .concepts
            .as_ref()
            .is_some_and(|c| c.descriptors.len() != data.descriptors.len())
        {
            return Err("concept table does not match the descriptor list".into());
        }
        if let Some(tuning) = &data.tuning {
            tuning.validate(data.descriptors.len())?;
        }
        let ensemble = data
            .ensemble
            .map(|e| {
                Ensemble::from_data(e, data.tfidf.terms.len(), data.descriptors.len(), trained)
            })
            .transpose()?;
        if let Some(memory) = &data.memory {
            let held_by_index = ensemble
                .as_ref()
                .and_then(Ensemble::training_rows)
                .map(|rows| rows.len());
            memory.validate(data.tfidf.terms.len(), held_by_index)?;
        }
        Ok(Model {
            memory: data.memory,
            ensemble,
            analyzer: data.analyzer,
            vectorizer: TfidfVectorizer::from_state(data.tfidf),
            descriptors: data.descriptors,
            classifier: data.classifier,
            info: data.info,
            concepts: data.concepts,
            tuning: data.tuning,
        })
    }

    /// The probability shown for a ranking value (a one-vs-rest or fused decision value):
    /// calibrated when the model was tuned, the logistic sigmoid otherwise. The same map for
    /// every descriptor, so it never changes their order.
    pub fn probability(&self, value: f32) -> f32 {
        match &self.tuning {
            Some(t) => t.calibration.probability(value),
            None => logistic::sigmoid(value as f64) as f32,
        }
    }

    /// Descriptors with a one-vs-rest model (the others are proposed by the lexicon alone).
    pub fn trained_descriptors(&self) -> usize {
        self.classifier.n_labels()
    }

    /// Per-descriptor thresholds learned by tuning, if any.
    pub fn label_thresholds(&self) -> Option<&[f32]> {
        self.tuning.as_ref().map(|t| t.thresholds.as_slice())
    }

    /// Stores what `thesaurus` says about this model's descriptors (replacing what was stored),
    /// so suggestions carry URIs and labels.
    pub fn attach_thesaurus(&mut self, thesaurus: &Thesaurus) {
        self.concepts = Some(thesaurus.concept_table(&self.descriptors));
        if let Some(memory) = &mut self.memory {
            memory.thesaurus = Some(StoredThesaurus::of(thesaurus));
        }
    }

    /// The thesaurus facts stored in the model, as a [`Thesaurus`] to resolve corpora with.
    pub fn stored_thesaurus(&self) -> Option<Thesaurus> {
        self.concepts
            .as_ref()
            .map(|table| Thesaurus::from_concept_table(table, &self.descriptors))
    }

    /// The thesaurus to name a corpus's descriptors with: the one `given`, else the one the
    /// model stores ([`Self::full_thesaurus`]), so `--thesaurus` need not be repeated after
    /// `train`. Every command and the server name descriptors through this (the file given
    /// comes from [`crate::projects::Project::with_overrides`]: a flag, else the project's).
    pub fn thesaurus_or_stored<'a>(
        &self,
        given: Option<&'a Thesaurus>,
    ) -> Option<std::borrow::Cow<'a, Thesaurus>> {
        match given {
            Some(t) => Some(std::borrow::Cow::Borrowed(t)),
            None => self.full_thesaurus().map(std::borrow::Cow::Owned),
        }
    }

    /// The TF-IDF rows of the training documents, when the model keeps them (in its
    /// neighbour index, or in its memory).
    pub fn training_rows(&self) -> Option<&KnnRows> {
        let memory = self.memory.as_ref()?;
        memory
            .rows
            .as_ref()
            .or_else(|| self.ensemble.as_ref().and_then(Ensemble::training_rows))
    }

    /// The thesaurus the model was trained with, whole (with the concepts updates added),
    /// else what its concept table knows of its descriptors.
    pub fn full_thesaurus(&self) -> Option<Thesaurus> {
        match self.memory.as_ref().and_then(|m| m.thesaurus.as_ref()) {
            Some(stored) => Some(stored.to_thesaurus()),
            None => self.stored_thesaurus(),
        }
    }

    /// Index of a descriptor, if the model knows it.
    pub fn descriptor_index(&self) -> rustc_hash::FxHashMap<&str, u32> {
        self.descriptors
            .iter()
            .enumerate()
            .map(|(i, d)| (d.as_str(), i as u32))
            .collect()
    }
}
