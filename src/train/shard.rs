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

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::ValidTrainParams;
use super::{lexicon_labels, Prepared, ReadCorpus, TrainInputs, TrainParams, TrainReport};
use crate::analysis::Analyzer;
use crate::calibrate::{LabelHeldOut, TuningSummary};
use crate::classifier::ensemble::{KnnIndex, Vote};
use crate::classifier::{OneVsRest, SolvedLabel, ValidOneVsRestParams};
use crate::corpus::Corpus;
use crate::digest::Fnv as Fnv128;
use crate::error::{Error, Result};
use crate::features::TfidfVectorizer;
use crate::formats::CorpusFormat;
use crate::io_guard::write_atomically_with;
use crate::model::file::{read_framed_file, unseal, write_sealed, Framing, MAGIC, PART_MAGIC};
use crate::model::Model;
use crate::progress::Progress;
use crate::thesaurus::Thesaurus;

/// Format version of partial models.
pub const PART_FORMAT_VERSION: u32 = 1;

const PART: Framing = Framing {
    magic: PART_MAGIC,
    version: PART_FORMAT_VERSION,
    file: "partial model file",
    what: "partial model",
    remedy: "train the shards again with this dtag",
    other: (
        MAGIC,
        "is a whole model, not a partial model: `dtag merge` joins the parts written by \
         `dtag train --shard K/N`",
    ),
};

/// Shard `index` of `count` (both from 1: `--shard 2/3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSpec {
    index: u32,
    count: u32,
}

impl ShardSpec {
    pub fn new(index: u32, count: u32) -> Result<ShardSpec> {
        if count == 0 || index == 0 || index > count {
            return Err(Error::param(
                "shard",
                format!("{index}/{count} is no shard: K/N needs 1 ≤ K ≤ N"),
            ));
        }
        Ok(ShardSpec { index, count })
    }

    /// Reads `K/N`.
    pub fn parse(s: &str) -> Result<ShardSpec> {
        let bad = || {
            Error::param(
                "shard",
                format!("{s:?} is not K/N (shard K of N, counted from 1, e.g. 2/3)"),
            )
        };
        let (k, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let k: u32 = k.trim().parse().map_err(|_| bad())?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        ShardSpec::new(k, n)
    }

    /// K, from 1.
    pub fn index(self) -> u32 {
        self.index
    }

    /// N.
    pub fn count(self) -> u32 {
        self.count
    }
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard (from 1) of each of `blocks` blocks: dealt in a snake order, 1, 2, …, N, N, …,
/// 2, 1, 1, 2, …, so that the frequent (costly) blocks at the front spread over every shard.
pub fn shard_of_blocks(blocks: usize, shards: u32) -> Vec<u32> {
    let n = shards.max(1) as usize;
    (0..blocks)
        .map(|b| {
            let (round, place) = (b / n, b % n);
            let from_zero = if round % 2 == 0 { place } else { n - 1 - place };
            from_zero as u32 + 1
        })
        .collect()
}

/// The documents whose neighbours' votes `shard` computes: every N-th from the K-th.
pub fn shard_documents(documents: usize, shard: ShardSpec) -> Vec<usize> {
    (shard.index as usize - 1..documents)
        .step_by(shard.count as usize)
        .collect()
}

/// A 128-bit FNV-1a digest: it catches a part of another corpus, vocabulary or thesaurus by
/// accident, not by design (nothing here defends against forged parts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint(pub u128);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl Serialize for FingerprintHex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

/// A fingerprint shown in hexadecimal in JSON reports.
#[derive(Debug, Clone, Copy)]
pub struct FingerprintHex(pub Fingerprint);

/// Hashes as [`Fingerprint`]s.
struct Fnv(Fnv128);

impl Fnv {
    fn new() -> Fnv {
        Fnv(Fnv128::new())
    }

    fn raw(&mut self, bytes: &[u8]) {
        self.0.raw(bytes)
    }

    fn u64(&mut self, v: u64) {
        self.0.u64(v)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.0.bytes(bytes)
    }

    fn finish(self) -> Fingerprint {
        Fingerprint(self.0.finish())
    }
}

/// What a part was trained on and with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprints {
    /// Every document's descriptors (as named after the thesaurus) and body, in order.
    pub corpus: Fingerprint,
    /// The vocabulary and its idf: the analyzer and TF-IDF settings at work on the corpus.
    pub vocabulary: Fingerprint,
    /// The settings (also stored whole).
    pub settings: Fingerprint,
    /// What the model takes from the thesaurus: the lexicon's labels and the concept table.
    pub thesaurus: Fingerprint,
}

fn corpus_fingerprint(corpus: &Corpus) -> Fingerprint {
    let mut h = Fnv::new();
    h.u64(corpus.documents.len() as u64);
    for d in &corpus.documents {
        h.u64(d.descriptors.len() as u64);
        for desc in &d.descriptors {
            h.bytes(desc.as_bytes());
        }
        h.bytes(d.body.as_bytes());
    }
    h.finish()
}

fn vocabulary_fingerprint(vectorizer: &TfidfVectorizer) -> Fingerprint {
    let state = vectorizer.state();
    let mut h = Fnv::new();
    h.u64(state.terms.len() as u64);
    for (term, idf) in state.terms.iter().zip(&state.idf) {
        h.bytes(term.as_bytes());
        h.raw(&idf.to_bits().to_le_bytes());
    }
    h.u64(state.sublinear_tf as u64);
    h.u64(state.n_train_docs as u64);
    h.finish()
}

fn serialized_fingerprint(value: &impl Serialize) -> Result<Fingerprint> {
    let bytes = postcard::to_stdvec(value)
        .map_err(|e| Error::Training(format!("cannot serialise for a fingerprint: {e}")))?;
    let mut h = Fnv::new();
    h.bytes(&bytes);
    Ok(h.finish())
}

fn thesaurus_fingerprint(
    trained: &[String],
    thesaurus: Option<&Thesaurus>,
    language: &str,
) -> Result<Fingerprint> {
    let (new_names, labels) = lexicon_labels(trained, thesaurus, language);
    let mut all = trained.to_vec();
    all.extend(new_names.iter().cloned());
    // The tables without the file's name: the merge may read the same thesaurus elsewhere.
    let table = |t: &Thesaurus, names: &[String]| {
        let mut table = t.concept_table(names);
        table.source.clear();
        table
    };
    let tables = thesaurus.map(|t| (table(t, trained), table(t, &all)));
    serialized_fingerprint(&(new_names, labels, tables))
}

fn fingerprints(
    params: &ValidTrainParams,
    corpus: &Corpus,
    prepared: &Prepared,
    thesaurus: Option<&Thesaurus>,
) -> Result<Fingerprints> {
    let trained: Vec<String> = prepared.kept.iter().map(|(d, _)| d.clone()).collect();
    Ok(Fingerprints {
        corpus: corpus_fingerprint(corpus),
        vocabulary: vocabulary_fingerprint(&prepared.vectorizer),
        settings: serialized_fingerprint(params.params())?,
        thesaurus: thesaurus_fingerprint(&trained, thesaurus, params.analyzer.language.code())?,
    })
}

/// Where a training run read its corpus and thesaurus, so that the merge can read them again
/// (absolute paths: the shards and the merge may run in other directories).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredInputs {
    /// `-`: standard input, which the merge must be given again.
    pub corpus: Vec<PathBuf>,
    pub format: Option<CorpusFormat>,
    pub thesaurus: Option<PathBuf>,
    /// How the model names the thesaurus (its path as the shards were given it): the merge
    /// names it so too, as a whole run would.
    pub thesaurus_source: Option<String>,
    pub strict_thesaurus: bool,
}

impl StoredInputs {
    /// `corpus`, `format` and `strict_thesaurus` of `inputs`, and the thesaurus's path.
    pub fn of(inputs: &TrainInputs, thesaurus: Option<&Path>) -> StoredInputs {
        let absolute = |p: &Path| {
            if p == Path::new("-") {
                p.to_path_buf()
            } else {
                std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
            }
        };
        StoredInputs {
            corpus: inputs.corpus.iter().map(|p| absolute(p)).collect(),
            format: inputs.format,
            thesaurus: thesaurus.map(absolute),
            thesaurus_source: inputs.thesaurus.map(|t| t.source.clone()),
            strict_thesaurus: inputs.strict_thesaurus,
        }
    }

    /// Names `thesaurus` (read by the merge, perhaps from another path) as the shards named
    /// theirs, so that the model stores what a whole run stores.
    pub fn name_as_the_shards(&self, thesaurus: &mut Thesaurus) {
        if let Some(source) = &self.thesaurus_source {
            thesaurus.source = source.clone();
        }
    }

    /// Whether the corpus came from standard input (the merge cannot read it again).
    pub fn reads_stdin(&self) -> bool {
        self.corpus.iter().any(|p| p == Path::new("-"))
    }
}

/// One shard of a training run: what `dtag merge` needs of its descriptors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Part {
    pub dtag_version: String,
    pub shard: ShardSpec,
    /// The settings as given (the merge trains nothing, but fits the ensemble and tunes with
    /// them, and analyses the corpus again).
    pub settings: TrainParams,
    pub inputs: StoredInputs,
    pub fingerprints: Fingerprints,
    pub documents: usize,
    /// Descriptors of the whole run (every shard's).
    pub descriptors: usize,
    pub features: usize,
    /// Tuning asked for but not done (too few documents): the merge does not tune either.
    pub tuning_skipped: Option<String>,
    /// This shard's descriptors (indices into the whole run's sorted descriptors), with their
    /// weights and, when tuning, what tuning keeps of their out-of-fold values.
    pub labels: Vec<SolvedLabel<LabelHeldOut>>,
    /// The neighbours' leave-one-out votes of this shard's share of the documents (those `d`
    /// with `d mod N = K − 1`), when the ensemble is fitted with neighbours: the costliest
    /// part of fitting the ensemble, spread over the shards like the descriptors.
    pub votes: Option<Vec<Vec<Vote>>>,
    /// Seconds of the shard's stages.
    pub seconds: BTreeMap<String, f64>,
}

impl Part {
    /// Writes the part atomically (see [`write_atomically_with`]), streamed to the file.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomically_with(path, |file| write_sealed(self, PART, file))
    }

    /// The part in its file format (a model file's framing, with its own magic).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = std::io::Cursor::new(Vec::new());
        write_sealed(self, PART, &mut out).map_err(|e| Error::Training(e.to_string()))?;
        Ok(out.into_inner())
    }

    /// Reads a part written by [`Part::save`]; every failure names the file.
    pub fn load(path: &Path) -> Result<Part> {
        let bytes = read_framed_file(path, PART)?;
        let payload = unseal(&bytes, path, PART)?;
        let bad = |reason: String| Error::ModelFile {
            path: path.to_path_buf(),
            reason,
        };
        let part: Part = postcard::from_bytes(&payload)
            .map_err(|e| bad(format!("corrupted partial model payload: {e}")))?;
        ShardSpec::new(part.shard.index, part.shard.count)
            .map_err(|_| bad(format!("inconsistent partial model: shard {}", part.shard)))?;
        Ok(part)
    }

    /// Out-of-fold values kept for tuning, over all of the part's descriptors.
    pub fn held_out_values(&self) -> usize {
        self.labels
            .iter()
            .filter_map(|l| l.held_out.as_ref())
            .map(|h| h.kept.len())
            .sum()
    }
}

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
    pub seconds: BTreeMap<&'static str, f64>,
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
        let reading = started.elapsed().as_secs_f64();
        let stored = StoredInputs::of(inputs, thesaurus_path);
        let (part, mut report) = self.fit_shard(
            &analyzer,
            &read.corpus,
            inputs.thesaurus,
            shard,
            stored,
            progress,
        )?;
        report.seconds.insert("reading", reading);
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
        let owners = shard_of_blocks(blocks.len(), shard.count);
        let mine: Vec<Vec<usize>> = blocks
            .into_iter()
            .zip(owners)
            .filter(|&(_, owner)| owner == shard.index)
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
        prepared
            .seconds
            .insert("training", start.elapsed().as_secs_f64());

        let votes = match (&self.ensemble, tune) {
            (Some(e), Some(_)) if e.neighbours > 0 => {
                let start = Instant::now();
                // The part needs no rows after this: the index takes them.
                let x = std::mem::take(&mut prepared.x);
                let knn = KnnIndex::new(x, &prepared.labels.rows, e.neighbours);
                let docs = shard_documents(prepared.labels.rows.len(), shard);
                let votes = knn.leave_one_out_votes_of(&docs, e.candidates);
                prepared
                    .seconds
                    .insert("neighbours", start.elapsed().as_secs_f64());
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
            seconds: prepared
                .seconds
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
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
            if part.shard.count != first.shard.count {
                return Err(Error::ModelFile {
                    path: path.clone(),
                    reason: format!(
                        "is shard {} of a run split in {} shards, but {} is shard {}",
                        part.shard,
                        part.shard.count,
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
        let n = first.shard.count as usize;
        let mut by_index: Vec<Option<&Path>> = vec![None; n];
        for (path, part) in &parts {
            let slot = &mut by_index[part.shard.index as usize - 1];
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
        parts.sort_by_key(|(_, p)| p.shard.index);
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
        self.parts[0].1.shard.count
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
        let reading = started.elapsed().as_secs_f64();
        let (mut model, mut report) =
            self.merge(&params, &analyzer, &read.corpus, inputs.thesaurus, progress)?;
        if let Some(t) = inputs.thesaurus {
            model.attach_thesaurus(t);
        }
        report.seconds.insert("reading", reading);
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
                .filter(|&(_, &o)| o == part.shard.index)
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
                shard_training += part.seconds.get(key).copied().unwrap_or(0.0);
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
        let votes = voting.then_some(votes);
        let (model, mut report) = params.finish(prepared, joined, votes)?;
        report.seconds.insert("shards_summed", shard_training);
        Ok((model, report))
    }
}

/// Whether a run on `n_docs` documents tunes (and so may fit the ensemble).
fn tuning_active(params: &ValidTrainParams, n_docs: usize) -> bool {
    params
        .tune
        .as_ref()
        .is_some_and(|t| t.too_few_documents(n_docs).is_none())
}

fn list_paths(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    joined_at_most(&names, 5)
}

/// The first `most` items joined with commas, and how many more there are.
fn joined_at_most(items: &[String], most: usize) -> String {
    let mut text = items[..items.len().min(most)].join(", ");
    if items.len() > most {
        text.push_str(&format!(" … and {} more", items.len() - most));
    }
    text
}

/// Which groups of settings differ, for the error message.
fn settings_difference(a: &TrainParams, b: &TrainParams) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_specs_are_k_of_n_from_one() {
        let s = ShardSpec::parse("2/3").unwrap();
        assert_eq!((s.index(), s.count()), (2, 3));
        assert_eq!(s.to_string(), "2/3");
        for bad in ["0/3", "4/3", "1/0", "3", "a/b", "1/3/4", "-1/3"] {
            assert!(ShardSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn blocks_are_dealt_in_snake_order_to_every_shard() {
        assert_eq!(shard_of_blocks(7, 3), vec![1, 2, 3, 3, 2, 1, 1]);
        assert_eq!(shard_of_blocks(3, 1), vec![1, 1, 1]);
        // Depends on nothing but the block count and N.
        assert_eq!(shard_of_blocks(5, 2), shard_of_blocks(5, 2));
    }

    #[test]
    fn every_document_votes_in_one_shard() {
        let n = 3;
        let mut all: Vec<usize> = (1..=n)
            .flat_map(|k| shard_documents(8, ShardSpec::new(k, n).unwrap()))
            .collect();
        assert_eq!(
            shard_documents(8, ShardSpec::new(2, 3).unwrap()),
            vec![1, 4, 7]
        );
        all.sort_unstable();
        assert_eq!(all, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn fingerprints_separate_fields() {
        let mut a = Fnv::new();
        a.bytes(b"ab");
        a.bytes(b"c");
        let mut b = Fnv::new();
        b.bytes(b"a");
        b.bytes(b"bc");
        assert_ne!(a.finish(), b.finish());
    }
}
