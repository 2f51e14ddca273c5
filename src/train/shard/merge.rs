//! Joining the parts of every shard into the model a whole run makes.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::super::ValidTrainParams;
use super::super::{ReadCorpus, TrainInputs, TrainParams, TrainReport};
use crate::analysis::Analyzer;
use crate::calibrate::TuningSummary;
use crate::classifier::ensemble::{GivenVotes, Vote};
use crate::classifier::{OneVsRest, ValidOneVsRestParams};
use crate::corpus::Corpus;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::progress::Progress;
use crate::stages::Stages;
use crate::thesaurus::Thesaurus;

use super::part::{fingerprints, Part, StoredInputs};
use super::plan::{shard_documents, shard_of_blocks};

/// Every shard's part of one training run, checked to belong together: read them with
/// [`Parts::load`], then [`Parts::merge_inputs`] (or [`Parts::merge`]) makes the model.
#[derive(Debug)]
pub struct Parts {
    /// By shard index.
    parts: Vec<(PathBuf, Part)>,
}

impl Parts {
    /// Reads the parts and checks that they come from the same dtag, settings, corpus,
    /// vocabulary and thesaurus, and cover every shard of their run exactly once. Errors name
    /// the part file at fault.
    pub fn load(paths: &[PathBuf]) -> Result<Parts> {
        if paths.is_empty() {
            return Err(Error::Training("no partial model to merge".into()));
        }
        let mut parts = Vec::with_capacity(paths.len());
        for path in paths {
            parts.push((path.clone(), Part::load(path)?));
        }
        Parts::check(parts)
    }

    /// [`Parts::load`]'s checks on parts already read (`path` names each in errors).
    pub fn check(parts: Vec<(PathBuf, Part)>) -> Result<Parts> {
        let Some((first_path, first)) = parts.first() else {
            return Err(Error::Training("no partial model to merge".into()));
        };
        let mismatch = |path: &Path, what: String| Error::ModelFile {
            path: path.to_path_buf(),
            reason: format!("{what} than {}", first_path.display()),
        };
        for (path, part) in &parts[1..] {
            if part.dtag_version != first.dtag_version {
                return Err(mismatch(
                    path,
                    format!("was written by dtag {}, other", part.dtag_version),
                ));
            }
            if part.shard.count() != first.shard.count() {
                return Err(Error::ModelFile {
                    path: path.clone(),
                    reason: format!(
                        "is shard {} of a run split in {} shards, but {} is shard {}",
                        part.shard,
                        part.shard.count(),
                        first_path.display(),
                        first.shard
                    ),
                });
            }
            if part.settings != first.settings
                || part.fingerprints.settings != first.fingerprints.settings
            {
                return Err(mismatch(
                    path,
                    format!(
                        "was trained with other settings ({})",
                        settings_difference(&part.settings, &first.settings)
                    ),
                ));
            }
            let f = (&part.fingerprints, &first.fingerprints);
            if f.0.corpus != f.1.corpus || part.documents != first.documents {
                return Err(mismatch(
                    path,
                    format!(
                        "was trained on another corpus ({} documents, fingerprint {}, against \
                         {} documents, fingerprint {})",
                        part.documents, f.0.corpus, first.documents, f.1.corpus
                    ),
                ));
            }
            if f.0.vocabulary != f.1.vocabulary || part.features != first.features {
                return Err(mismatch(path, "has another vocabulary".into()));
            }
            if f.0.thesaurus != f.1.thesaurus {
                return Err(mismatch(path, "was trained with another thesaurus".into()));
            }
            if part.descriptors != first.descriptors {
                return Err(mismatch(path, "has another number of descriptors".into()));
            }
        }
        // Every shard once.
        let n = first.shard.count() as usize;
        let mut by_index: Vec<Option<&Path>> = vec![None; n];
        for (path, part) in &parts {
            let slot = &mut by_index[part.shard.index() as usize - 1];
            if let Some(other) = slot {
                return Err(Error::ModelFile {
                    path: path.clone(),
                    reason: format!(
                        "is shard {} again ({} is that shard too): give each shard once",
                        part.shard,
                        other.display()
                    ),
                });
            }
            *slot = Some(path);
        }
        let missing: Vec<String> = by_index
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_none())
            .map(|(k, _)| format!("{}/{n}", k + 1))
            .collect();
        if !missing.is_empty() {
            let given: Vec<String> = parts
                .iter()
                .map(|(p, part)| format!("{}: shard {}", p.display(), part.shard))
                .collect();
            return Err(Error::Training(crate::error::list_at_most(
                format!(
                    "{} of {n} shards missing ({}): the merge needs every shard once; given:",
                    missing.len(),
                    joined_at_most(&missing, 20)
                ),
                &given,
                crate::error::MAX_LISTED,
            )));
        }
        let mut parts = parts;
        parts.sort_by_key(|(_, p)| p.shard.index());
        Ok(Parts { parts })
    }

    /// The settings the shards were trained with.
    pub fn params(&self) -> Result<ValidTrainParams> {
        self.parts[0].1.settings.clone().check()
    }

    /// Where the shards read their corpus and thesaurus.
    pub fn inputs(&self) -> &StoredInputs {
        &self.parts[0].1.inputs
    }

    /// The shard count.
    pub fn shards(&self) -> u32 {
        self.parts[0].1.shard.count()
    }

    /// [`Self::merge`] reading the corpus from `inputs` (the analyzer loads meanwhile), with
    /// the thesaurus's facts stored in the model as `dtag train` stores them.
    pub fn merge_inputs(
        self,
        inputs: &TrainInputs,
        progress: &dyn Progress,
        on_read: &mut dyn FnMut(&ReadCorpus),
    ) -> Result<(Model, TrainReport)> {
        let params = self.params()?;
        let started = Instant::now();
        // The segmenter loads its dictionary on its own thread while the corpus is read.
        let analyzer = Analyzer::new(params.analyzer.clone())?;
        let read = inputs.read()?;
        on_read(&read);
        let mut reading = Stages::new();
        reading.since("reading", started);
        let (mut model, mut report) =
            self.merge(&params, &analyzer, &read.corpus, inputs.thesaurus, progress)?;
        if let Some(t) = inputs.thesaurus {
            model.attach_thesaurus(t);
        }
        report.seconds.merge(&reading);
        Ok((model, report))
    }

    /// Joins the parts into the model a whole run on `corpus` gives: analyses the corpus
    /// again, checks it is what the shards saw, then fits the ensemble and tunes as
    /// [`ValidTrainParams::fit`] does. `params` are [`Self::params`].
    pub fn merge(
        self,
        params: &ValidTrainParams,
        analyzer: &Analyzer,
        corpus: &Corpus,
        thesaurus: Option<&Thesaurus>,
        progress: &dyn Progress,
    ) -> Result<(Model, TrainReport)> {
        let first = &self.parts[0].1;
        if params.params() != &first.settings {
            return Err(Error::Training(
                "the merge's settings differ from the parts'".into(),
            ));
        }
        let prepared = params.prepare(analyzer, corpus, thesaurus, progress)?;
        let found = fingerprints(params, corpus, &prepared, thesaurus)?;
        let expected = &first.fingerprints;
        let read_from = self.inputs().corpus.clone();
        if found.corpus != expected.corpus {
            return Err(Error::Training(format!(
                "the corpus read for the merge ({} documents, fingerprint {}) is not the one \
                 the shards were trained on ({} documents, fingerprint {}; they read {})",
                corpus.documents.len(),
                found.corpus,
                first.documents,
                expected.corpus,
                list_paths(&read_from)
            )));
        }
        if found.vocabulary != expected.vocabulary {
            return Err(Error::Training(
                "the merge's analysis gives another vocabulary than the shards' (another \
                 segmenter dictionary?)"
                    .into(),
            ));
        }
        if found.thesaurus != expected.thesaurus {
            return Err(Error::Training(format!(
                "the thesaurus of the merge ({}) is not the one the shards were trained with ({})",
                if thesaurus.is_some() { "given" } else { "none" },
                match &self.inputs().thesaurus {
                    Some(p) => p.display().to_string(),
                    None => "none".into(),
                }
            )));
        }

        // Each part must hold exactly its shard's descriptors.
        let blocks = ValidOneVsRestParams::blocks(&prepared.labels);
        let owners = shard_of_blocks(blocks.len(), self.shards());
        let mut solved = Vec::with_capacity(prepared.labels.n_labels);
        let mut shard_training = 0.0;
        let n_docs = prepared.labels.rows.len();
        let tuned = tuning_active(params, n_docs);
        let voting = tuned && params.ensemble.as_ref().is_some_and(|e| e.neighbours > 0);
        let mut votes: Vec<Vec<Vote>> = if voting {
            vec![Vec::new(); n_docs]
        } else {
            Vec::new()
        };
        for (path, part) in self.parts {
            let mut expected: Vec<usize> = blocks
                .iter()
                .zip(&owners)
                .filter(|&(_, &o)| o == part.shard.index())
                .flat_map(|(b, _)| b.iter().copied())
                .collect();
            expected.sort_unstable();
            let held: Vec<usize> = part.labels.iter().map(|l| l.label).collect();
            if held != expected || part.labels.iter().any(|l| l.held_out.is_some() != tuned) {
                return Err(Error::ModelFile {
                    path,
                    reason: format!(
                        "does not hold the descriptors of shard {} of this corpus",
                        part.shard
                    ),
                });
            }
            let docs = shard_documents(n_docs, part.shard);
            match part.votes {
                Some(part_votes) if voting && part_votes.len() == docs.len() => {
                    for (d, v) in docs.into_iter().zip(part_votes) {
                        votes[d] = v;
                    }
                }
                None if !voting => {}
                _ => {
                    return Err(Error::ModelFile {
                        path,
                        reason: format!(
                            "does not hold the neighbours' votes of shard {} of this corpus",
                            part.shard
                        ),
                    })
                }
            }
            for key in ["training", "neighbours"] {
                shard_training += part.seconds.get(key).unwrap_or(0.0);
            }
            solved.extend(part.labels);
        }
        solved.sort_by_key(|l| l.label);

        let tuning_skipped = params
            .tune
            .as_ref()
            .and_then(|t| t.too_few_documents(prepared.labels.rows.len()));
        let tuning_summary = TuningSummary {
            report: None,
            skipped: tuning_skipped.clone(),
        };
        let n_features = prepared.x.n_cols();
        let joined = match params.tune.as_ref().filter(|_| tuning_skipped.is_none()) {
            Some(t) => {
                let (classifier, oof) = t.join_held_out(n_features, &prepared.labels, solved)?;
                (classifier, Some(oof), tuning_summary)
            }
            None => {
                let (classifier, _) =
                    OneVsRest::join(n_features, prepared.labels.n_labels, solved)?;
                (classifier, None, tuning_summary)
            }
        };
        let votes = voting.then_some(GivenVotes::Votes(votes));
        let (model, mut report) = params.finish(prepared, joined, votes)?;
        report.seconds.add("shards_summed", shard_training);
        Ok((model, report))
    }
}

/// Whether a run on `n_docs` documents tunes (and so may fit the ensemble).
pub(super) fn tuning_active(params: &ValidTrainParams, n_docs: usize) -> bool {
    params
        .tune
        .as_ref()
        .is_some_and(|t| t.too_few_documents(n_docs).is_none())
}

pub(super) fn list_paths(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    joined_at_most(&names, 5)
}

/// The first `most` items joined with commas, and how many more there are.
pub(super) fn joined_at_most(items: &[String], most: usize) -> String {
    let mut text = items[..items.len().min(most)].join(", ");
    if items.len() > most {
        text.push_str(&format!(" … and {} more", items.len() - most));
    }
    text
}

/// Which groups of settings differ, for the error message.
pub(super) fn settings_difference(a: &TrainParams, b: &TrainParams) -> String {
    let mut differ = Vec::new();
    if a.analyzer != b.analyzer {
        differ.push("analyzer");
    }
    if a.tfidf != b.tfidf {
        differ.push("TF-IDF");
    }
    if a.ovr != b.ovr {
        differ.push("solver");
    }
    if a.min_label_docs != b.min_label_docs {
        differ.push("--min-label-docs");
    }
    if a.tune != b.tune {
        differ.push("tuning");
    }
    if a.ensemble != b.ensemble {
        differ.push("ensemble");
    }
    if differ.is_empty() {
        "fingerprint".into()
    } else {
        differ.join(", ")
    }
}
