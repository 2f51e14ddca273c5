//! The partial model a shard writes, and the fingerprints that prove the parts belong together.

use crate::stages::Stages;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::super::ValidTrainParams;
use super::super::{lexicon_labels, Prepared, TrainInputs, TrainParams};
use crate::calibrate::LabelHeldOut;
use crate::classifier::ensemble::Vote;
use crate::classifier::SolvedLabel;
use crate::corpus::Corpus;
use crate::digest::Fnv as Fnv128;
use crate::error::{Error, Result};
use crate::features::TfidfVectorizer;
use crate::formats::CorpusFormat;
use crate::io_guard::write_atomically_with;
use crate::model::file::{read_framed_file, unseal, write_sealed, Framing, MAGIC, PART_MAGIC};
use crate::thesaurus::Thesaurus;

use super::plan::ShardSpec;

/// Format version of partial models.
pub const PART_FORMAT_VERSION: u32 = 1;

pub(super) const PART: Framing = Framing {
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
pub(super) struct Fnv(Fnv128);

impl Fnv {
    pub(super) fn new() -> Fnv {
        Fnv(Fnv128::new())
    }

    pub(super) fn raw(&mut self, bytes: &[u8]) {
        self.0.raw(bytes)
    }

    pub(super) fn u64(&mut self, v: u64) {
        self.0.u64(v)
    }

    pub(super) fn bytes(&mut self, bytes: &[u8]) {
        self.0.bytes(bytes)
    }

    pub(super) fn finish(self) -> Fingerprint {
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

pub(super) fn corpus_fingerprint(corpus: &Corpus) -> Fingerprint {
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

pub(super) fn vocabulary_fingerprint(vectorizer: &TfidfVectorizer) -> Fingerprint {
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

pub(super) fn serialized_fingerprint(value: &impl Serialize) -> Result<Fingerprint> {
    let bytes = postcard::to_stdvec(value)
        .map_err(|e| Error::Training(format!("cannot serialise for a fingerprint: {e}")))?;
    let mut h = Fnv::new();
    h.bytes(&bytes);
    Ok(h.finish())
}

pub(super) fn thesaurus_fingerprint(
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

pub(super) fn fingerprints(
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
    pub seconds: Stages,
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
        ShardSpec::new(part.shard.index(), part.shard.count())
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
