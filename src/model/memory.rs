//! What a model keeps of its training documents so that it can learn more of them.
//!
//! *Why:* an update that fits only the new documents lets the last batch dominate (one
//! document per request made a model forget most of its descriptors), and an update that
//! skips the ensemble or the tuning is another model than training makes. A model that keeps
//! every training document's TF-IDF row, descriptors and label mentions, the settings it was
//! trained with and the whole thesaurus can learn by running training's own stages again over
//! its documents plus the new ones, without analysing the old texts again (their rows are
//! here) — see [`crate::train::learn`]. The rows are the neighbour index's when the model has
//! one (they are stored once), and kept here otherwise.

use serde::{Deserialize, Serialize};

use crate::analysis::AnalyzerConfig;
use crate::calibrate::TuneParams;
use crate::classifier::ensemble::{EnsembleParams, KnnRows, Mention};
use crate::classifier::OneVsRestParams;
use crate::thesaurus::{Concept, Group, Thesaurus};

/// The training settings an update runs with again: those of every stage after analysis
/// (the vocabulary and idf are the model's and stay as they are).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearningSettings {
    pub analyzer: AnalyzerConfig,
    pub ovr: OneVsRestParams,
    pub min_label_docs: usize,
    pub tune: Option<TuneParams>,
    pub ensemble: Option<EnsembleParams>,
}

/// A thesaurus as a model stores it: every concept and group, as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredThesaurus {
    pub source: String,
    pub concepts: Vec<Concept>,
    pub groups: Vec<Group>,
}

impl StoredThesaurus {
    pub fn of(thesaurus: &Thesaurus) -> Self {
        StoredThesaurus {
            source: thesaurus.source.clone(),
            concepts: thesaurus.concepts().to_vec(),
            groups: thesaurus.groups().values().cloned().collect(),
        }
    }

    pub fn to_thesaurus(&self) -> Thesaurus {
        Thesaurus::new(
            self.source.clone(),
            self.concepts.clone(),
            self.groups
                .iter()
                .map(|g| (g.code.clone(), g.clone()))
                .collect(),
        )
    }
}

/// Every training document of a model, as the stages after analysis need it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainingMemory {
    pub settings: LearningSettings,
    /// Documents the vocabulary and idf were learned from (the training run's).
    pub vocabulary_documents: usize,
    /// Files or streams the documents were read from, over training and every update.
    pub sources: usize,
    /// Documents learned by updates after training, and how many updates there were.
    pub learned_documents: usize,
    pub updates: u64,
    /// The last batch of the learning log this model has applied (0: none), so that a
    /// restart or a replay knows where to go on from.
    pub log_batch: u64,
    /// Every descriptor name the documents' labels and mentions refer to.
    pub names: Vec<String>,
    /// Per document: its descriptors (indices into `names`), trained or skipped.
    pub labels: Vec<Vec<u32>>,
    /// Per document: what the label lexicon found in it (`descriptor`: an index into
    /// `names`); empty lists without a lexicon.
    pub mentions: Vec<Vec<Mention>>,
    /// Per document: [`crate::digest::text_key`] of its text, so that a text learned again
    /// counts once (with other descriptors, they replace its own).
    pub digests: Vec<u64>,
    /// Per document: its TF-IDF row, unless the neighbour index holds the rows.
    pub rows: Option<KnnRows>,
    /// The thesaurus the model was trained with, whole, with the concepts updates added.
    pub thesaurus: Option<StoredThesaurus>,
}

impl TrainingMemory {
    pub fn documents(&self) -> usize {
        self.labels.len()
    }

    /// Checks a loaded memory against the model (`rows_elsewhere`: the rows the neighbour
    /// index holds, when it does).
    pub fn validate(
        &self,
        n_features: usize,
        rows_elsewhere: Option<usize>,
    ) -> std::result::Result<(), String> {
        let n = self.labels.len();
        let names = self.names.len();
        let in_range = |l: &u32| (*l as usize) < names;
        let rows_ok = match (&self.rows, rows_elsewhere) {
            (Some(rows), _) => {
                rows.len() == n
                    && rows.iter().all(|(i, v)| {
                        i.len() == v.len() && i.iter().all(|&f| (f as usize) < n_features)
                    })
            }
            (None, Some(elsewhere)) => elsewhere == n,
            (None, None) => false,
        };
        if self.mentions.len() != n
            || self.digests.len() != n
            || !rows_ok
            || !self.labels.iter().flatten().all(in_range)
            || !self
                .mentions
                .iter()
                .flatten()
                .all(|m| in_range(&m.descriptor))
        {
            return Err("the training memory does not match the model".into());
        }
        Ok(())
    }
}
