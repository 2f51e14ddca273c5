//! Models: the binary sparse solver, one-vs-rest over descriptors, and the trained artifact
//! ([`Model`]) with its file format.

pub mod file;
pub mod logistic;
pub mod ovr;

use serde::{Deserialize, Serialize};

use crate::analysis::AnalyzerConfig;
use crate::features::{TfidfState, TfidfVectorizer};
use crate::thesaurus::ConceptTable;
use crate::tune::Tuning;
pub use logistic::{BinaryLogistic, LogisticParams, ValidLogisticParams};
pub use ovr::{LabelSets, LabelWeights, OneVsRest, OneVsRestParams, ValidOneVsRestParams};

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
}

impl Model {
    pub(crate) fn to_data(&self) -> ModelData {
        ModelData {
            analyzer: self.analyzer.clone(),
            tfidf: self.vectorizer.state().clone(),
            descriptors: self.descriptors.clone(),
            classifier: self.classifier.clone(),
            info: self.info.clone(),
            concepts: self.concepts.clone(),
            tuning: self.tuning.clone(),
        }
    }

    pub(crate) fn from_data(data: ModelData) -> std::result::Result<Self, String> {
        data.classifier.validate()?;
        if data.classifier.n_labels() != data.descriptors.len()
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
        Ok(Model {
            analyzer: data.analyzer,
            vectorizer: TfidfVectorizer::from_state(data.tfidf),
            descriptors: data.descriptors,
            classifier: data.classifier,
            info: data.info,
            concepts: data.concepts,
            tuning: data.tuning,
        })
    }

    /// Turns decision values (model order) into the probabilities shown to users: calibrated
    /// when the model was tuned, the logistic sigmoid otherwise.
    pub fn probabilities_from_logits(&self, scores: &mut [f32]) {
        match &self.tuning {
            Some(t) => scores
                .iter_mut()
                .zip(&t.calibration)
                .for_each(|(z, c)| *z = c.probability(*z)),
            None => scores
                .iter_mut()
                .for_each(|z| *z = logistic::sigmoid(*z as f64) as f32),
        }
    }

    /// Per-descriptor thresholds learned by tuning, if any.
    pub fn label_thresholds(&self) -> Option<&[f32]> {
        self.tuning.as_ref().map(|t| t.thresholds.as_slice())
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
