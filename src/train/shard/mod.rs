//! Descriptor shards: one training run split over machines by descriptor.
//!
//! `dtag train --shard K/N` reads and analyses the whole corpus, as a whole run does, but
//! solves only the one-vs-rest models of shard `K`'s descriptors, and writes a **partial
//! model** ([`Part`]): those descriptors' weights and what tuning keeps of their out-of-fold
//! decision values, the settings, where the corpus was read from, and fingerprints of the
//! corpus, the vocabulary and the thesaurus. `dtag merge` ([`Parts`]) checks that the parts
//! belong together and cover every shard once, reads the corpus again, joins the parts and
//! finishes what needs every descriptor: the ensemble fitted on out-of-fold evidence, the
//! shared calibration, the thresholds and the global grid.
//!
//! *Why the merged model is the whole one, byte for byte:* one-vs-rest solves descriptors in
//! blocks of eight ([`ValidOneVsRestParams::blocks`]), and a block's solution depends only on
//! its descriptors, the rows and the settings — every block draws its sample of negatives and
//! its coordinate order from the same seed, and the fold assignment of tuning depends on
//! every document's descriptors, which each shard knows. A shard solves whole blocks of the
//! whole run's plan, so each descriptor's weights and held-out values are exactly those of a
//! whole run, and the merge joins them through the same function a whole run uses.
//!
//! *Which shard a descriptor falls in:* the whole run's blocks, most frequent descriptors
//! first, are dealt to the shards in a snake order (1, 2, …, N, N, …, 2, 1, 1, 2, …), so each
//! shard gets a similar mix of costly frequent and cheap rare descriptors. It depends only on
//! the corpus's descriptor counts (and `min_label_docs`) and N: never on which shards run,
//! where, or in what order.
//!
//! *Why the merge reads the corpus again* rather than each part carrying what the ensemble
//! needs: the neighbours member keeps every training row and the lexicon counts label
//! mentions in every training text, so each part would hold a copy of the whole corpus's rows
//! (N copies on the shared volume). Analysing once more costs a fraction of the training the
//! shards took off the merge, and the fingerprints prove the merge saw what the shards saw.

mod merge;
mod part;
mod plan;

use crate::stages::Stages;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::ValidTrainParams;
use super::{ReadCorpus, TrainInputs};
use crate::analysis::Analyzer;
use crate::calibrate::LabelHeldOut;
use crate::classifier::ensemble::KnnIndex;
use crate::classifier::{SolvedLabel, ValidOneVsRestParams};
use crate::corpus::Corpus;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::thesaurus::Thesaurus;

/// Format version of partial models.
pub use merge::Parts;
use part::fingerprints;
pub use part::{
    Fingerprint, FingerprintHex, Fingerprints, Part, StoredInputs, PART_FORMAT_VERSION,
};
pub use plan::{shard_documents, shard_of_blocks, ShardSpec};

/// What a shard did, for its closing summary (`--json` prints it).
#[derive(Debug, Clone, Serialize)]
pub struct ShardReport {
    pub shard: String,
    pub documents: usize,
    pub vocabulary: usize,
    /// Descriptors of the whole run, and those this shard trained.
    pub descriptors_total: usize,
    pub descriptors_trained: usize,
    pub descriptors_skipped: usize,
    pub blocks: usize,
    pub stored_weights: usize,
    pub held_out_values: usize,
    pub tuning_skipped: Option<String>,
    pub corpus_fingerprint: FingerprintHex,
    pub seconds: Stages,
}

impl ValidTrainParams {
    /// [`Self::fit_inputs`] for one shard: reads the corpus (the analyzer loads meanwhile)
    /// and trains shard `shard`'s descriptors. `thesaurus_path` is where `inputs.thesaurus`
    /// came from, stored so that the merge can read it again.
    pub fn fit_shard_inputs(
        &self,
        inputs: &TrainInputs,
        thesaurus_path: Option<&Path>,
        shard: ShardSpec,
        progress: &dyn Progress,
        on_read: &mut dyn FnMut(&ReadCorpus),
    ) -> Result<(Part, ShardReport)> {
        self.shardable()?;
        let started = Instant::now();
        // The segmenter loads its dictionary on its own thread while the corpus is read.
        let analyzer = Analyzer::new(self.analyzer.clone())?;
        let read = inputs.read()?;
        on_read(&read);
        let mut reading = Stages::new();
        reading.since("reading", started);
        let stored = StoredInputs::of(inputs, thesaurus_path);
        let (part, mut report) = self.fit_shard(
            &analyzer,
            &read.corpus,
            inputs.thesaurus,
            shard,
            stored,
            progress,
        )?;
        report.seconds.merge(&reading);
        Ok((part, report))
    }

    /// Shards solve folds refitted from each descriptor's solution (`refit_epochs` ≥ 1): fold
    /// models trained from zero score every descriptor of a held-out document together.
    fn shardable(&self) -> Result<()> {
        if self
            .tune
            .as_ref()
            .is_some_and(|t| t.params().refit_epochs == 0)
        {
            return Err(Error::param(
                "refit_epochs",
                "must be at least 1 with descriptor shards (folds trained from zero score \
                 every descriptor of a document together)",
            ));
        }
        Ok(())
    }

    /// Trains shard `shard`'s descriptors of `corpus` (see the [module](self) documentation).
    pub fn fit_shard(
        &self,
        analyzer: &Analyzer,
        corpus: &Corpus,
        thesaurus: Option<&Thesaurus>,
        shard: ShardSpec,
        inputs: StoredInputs,
        progress: &dyn Progress,
    ) -> Result<(Part, ShardReport)> {
        self.shardable()?;
        let mut prepared = self.prepare(analyzer, corpus, thesaurus, progress)?;
        let fingerprints = fingerprints(self, corpus, &prepared, thesaurus)?;
        let blocks = ValidOneVsRestParams::blocks(&prepared.labels);
        let owners = shard_of_blocks(blocks.len(), shard.count());
        let mine: Vec<Vec<usize>> = blocks
            .into_iter()
            .zip(owners)
            .filter(|&(_, owner)| owner == shard.index())
            .map(|(b, _)| b)
            .collect();
        let n_mine: usize = mine.iter().map(Vec::len).sum();

        let tuning_skipped = self
            .tune
            .as_ref()
            .and_then(|t| t.too_few_documents(prepared.labels.rows.len()));
        let tune = self.tune.as_ref().filter(|_| tuning_skipped.is_none());
        let start = Instant::now();
        let bar = progress.stage("training", n_mine as u64);
        let labels: Vec<SolvedLabel<LabelHeldOut>> = match tune {
            Some(t) => t.fit_held_out_blocks(
                &self.ovr,
                &prepared.x,
                &prepared.labels,
                &[],
                &mine,
                bar.as_ref(),
            )?,
            None => self.ovr.solve_blocks(
                &prepared.x,
                &prepared.labels,
                &[],
                &mine,
                bar.as_ref(),
                None,
            )?,
        };
        bar.finish();
        prepared.seconds.since("training", start);

        let votes = match (&self.ensemble, tune) {
            (Some(e), Some(_)) if e.neighbours > 0 => {
                let start = Instant::now();
                // The part needs no rows after this: the index takes them.
                let x = std::mem::take(&mut prepared.x);
                let knn = KnnIndex::new(x, &prepared.labels.rows, e.neighbours);
                let docs = shard_documents(prepared.labels.rows.len(), shard);
                let votes = knn.leave_one_out_votes_of(&docs, e.candidates);
                prepared.seconds.since("neighbours", start);
                Some(votes)
            }
            _ => None,
        };

        let part = Part {
            dtag_version: env!("CARGO_PKG_VERSION").to_string(),
            shard,
            settings: self.params().clone(),
            inputs,
            fingerprints,
            documents: corpus.documents.len(),
            descriptors: prepared.labels.n_labels,
            features: prepared.vectorizer.n_features(),
            tuning_skipped: tuning_skipped.clone(),
            labels,
            votes,
            seconds: prepared.seconds.clone(),
        };
        let report = ShardReport {
            shard: shard.to_string(),
            documents: part.documents,
            vocabulary: part.features,
            descriptors_total: part.descriptors,
            descriptors_trained: part.labels.len(),
            descriptors_skipped: prepared.skipped.len(),
            blocks: mine.len(),
            stored_weights: part.labels.iter().map(|l| l.weights.len()).sum(),
            held_out_values: part.held_out_values(),
            tuning_skipped,
            corpus_fingerprint: FingerprintHex(part.fingerprints.corpus),
            seconds: prepared.seconds.clone(),
        };
        Ok((part, report))
    }
}

#[cfg(test)]
mod tests;
