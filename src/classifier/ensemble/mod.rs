//! The ensemble: members that score descriptors in different ways, fused into one ranking.
//!
//! Members:
//! - the one-vs-rest logistic models ([`crate::classifier::ovr`]): what each descriptor's own
//!   training documents taught it;
//! - nearest neighbours ([`knn`]): the descriptors of the most similar training documents, so
//!   rare descriptors borrow the strength of the documents they came with;
//! - the label lexicon ([`lexicon`]): thesaurus labels found in the text, which can propose
//!   descriptors no training document carried.
//!
//! Each member proposes its best candidates for a document; every candidate gets the
//! evidence of all members ([`fusion::Features`]), and one logistic regression
//! ([`fusion::Fusion`]), fitted on out-of-fold evidence of the training corpus, turns it into a
//! decision value comparable across descriptors. Ranking is by that value alone; calibration
//! and thresholds ([`crate::calibrate`]) only decide how much of the ranking to propose.

pub mod fusion;
pub mod knn;
pub mod lexicon;

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::features::sparse::{CsrMatrix, SparseRow};
use crate::metrics::RankingFigures;
pub use fusion::{
    corpus_share, lexical_only, prior_weights, Features, Fusion, Member, FEATURES, N_FEATURES,
};
pub use knn::{KnnData, KnnIndex, KnnRows, Vote};
pub use lexicon::{Lexicon, LexiconData, Mention, WordSequence};

/// Decision values below this are not candidates of the one-vs-rest member (probability
/// under 0.001); the same floor stands for "no one-vs-rest evidence" in the features.
pub const OVR_FLOOR: f32 = -6.9;
/// At most this many candidate rows fit the fusion (a fixed, evenly spaced share of the
/// documents beyond it): eighteen weights need far fewer.
const MAX_FUSION_ROWS: usize = 1_000_000;
/// Leave-one-out votes of the neighbour member found before [`Ensemble::fit`].
pub enum GivenVotes {
    /// Found by shards ([`KnnIndex::leave_one_out_votes_of`]); the index is built again.
    Votes(Vec<Vec<Vote>>),
    /// Found with this index of the training rows (beside the one-vs-rest fits), which the
    /// ensemble keeps.
    Indexed(Box<KnnIndex>, Vec<Vec<Vote>>),
}

/// Below this many training documents the fused ranking is kept without comparing it with
/// one-vs-rest alone: out-of-fold figures of a few dozen documents are noise, the fusion is
/// mostly its prior there, and without it the thesaurus's concepts could not be proposed.
pub const ALWAYS_FUSE_BELOW: usize = 200;

/// Whether a corpus of `documents` is measured as a whole: how common a mention is across its
/// texts (`lex_corpus_share`) and the level of the concepts none of them carried
/// ([`fusion::level_shift`]). Not below [`ALWAYS_FUSE_BELOW`]: on fewer texts, what is common
/// in them, and how often a held-out concept was chosen, is chance as much as the domain.
fn measured_as_a_whole(documents: usize) -> bool {
    documents >= ALWAYS_FUSE_BELOW
}

/// Ensemble settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleParams {
    /// Neighbours that vote (0: no nearest-neighbour member).
    pub neighbours: usize,
    /// Match descriptor labels in the text.
    pub lexicon: bool,
    /// Candidates each ranked member proposes per document.
    pub candidates: usize,
    /// Strength of the pull of the fusion's weights toward the prior ([`Fusion::fit`]).
    pub ridge: f64,
}

impl Default for EnsembleParams {
    fn default() -> Self {
        EnsembleParams {
            neighbours: knn::DEFAULT_NEIGHBOURS,
            lexicon: true,
            candidates: 30,
            ridge: 50.0,
        }
    }
}

impl EnsembleParams {
    pub fn check(self) -> Result<EnsembleParams> {
        if self.candidates == 0 {
            return Err(Error::param("candidates", "must be at least 1"));
        }
        if !(self.ridge.is_finite() && self.ridge >= 0.0) {
            return Err(Error::param("ridge", "must be 0 or positive"));
        }
        Ok(self)
    }
}

/// The stored form of an [`Ensemble`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnsembleData {
    pub knn: Option<KnnData>,
    pub lexicon: Option<LexiconData>,
    pub fusion: Fusion,
    /// The fusion of candidates no training document carried (lexical evidence only).
    pub unseen: Fusion,
    /// The held-out mentions `unseen` was fitted on, and how many were gold.
    pub unseen_evidence: (usize, usize),
    /// How open the corpus's indexing is ([`openness`]).
    pub openness: f32,
    pub candidates: usize,
    /// Descriptors `0..trained` have one-vs-rest models; the others come from the lexicon.
    pub trained: usize,
    /// Per descriptor: training documents that carry it, and the number of documents.
    pub label_documents: Vec<u32>,
    pub documents: usize,
}

/// [`EnsembleData`] borrowed from an [`Ensemble`], for saving (same fields, same order).
#[derive(Debug, Serialize)]
pub struct EnsembleDataRef<'a> {
    pub knn: Option<&'a KnnData>,
    pub lexicon: Option<&'a LexiconData>,
    pub fusion: &'a Fusion,
    pub unseen: &'a Fusion,
    pub unseen_evidence: (usize, usize),
    pub openness: f32,
    pub candidates: usize,
    pub trained: usize,
    pub label_documents: &'a [u32],
    pub documents: usize,
}

/// How openly a corpus's indexers choose from the thesaurus: the share of its trained
/// descriptors (`label_documents`, documents per descriptor) that only one document carries.
/// *Why:* where indexers keep choosing concepts not chosen before (kirjastonhoitaja: most
/// descriptors of a few hundred documents are used once), a concept whose label training
/// texts mention without its ever being chosen is a concept that does not fit them; where
/// every document draws from a closed set (the demo corpus: 17 descriptors, none used once),
/// such a record says nothing about the thesaurus's other concepts, which could never be
/// chosen. The record of an unseen concept counts in proportion.
pub fn openness(label_documents: &[u32]) -> f32 {
    let once = label_documents.iter().filter(|&&n| n == 1).count();
    once as f32 / label_documents.len().max(1) as f32
}

/// Whether a candidate's features are those of a concept no training document carried (no
/// one-vs-rest model: [`FEATURES`]' `ovr_trained` is off).
pub fn is_unseen(f: &Features) -> bool {
    f[2] == 0.0
}

/// What the two fusions learn from: the held-out candidates of every `stride`-th training
/// document, in document and candidate order.
#[derive(Default)]
struct FusionRows {
    rows: Vec<Features>,
    is_gold: Vec<bool>,
    unseen_rows: Vec<Features>,
    unseen_gold: Vec<bool>,
}

impl FusionRows {
    /// Documents per task when the rows are gathered in parallel (they are joined in order).
    const DOCUMENTS_PER_TASK: usize = 256;

    fn of(per_doc: &[Vec<(u32, Features)>], gold: &[Vec<u32>], stride: usize) -> Self {
        let documents: Vec<usize> = (0..per_doc.len()).step_by(stride).collect();
        let parts: Vec<FusionRows> = documents
            .par_chunks(Self::DOCUMENTS_PER_TASK)
            .map(|documents| {
                let mut part = FusionRows::default();
                for &d in documents {
                    part.add(&per_doc[d], &gold[d]);
                }
                part
            })
            .collect();
        let mut all = FusionRows::default();
        let rows: usize = parts.iter().map(|p| p.rows.len()).sum();
        let unseen_rows: usize = parts.iter().map(|p| p.unseen_rows.len()).sum();
        all.rows.reserve_exact(rows);
        all.is_gold.reserve_exact(rows);
        all.unseen_rows.reserve_exact(unseen_rows);
        all.unseen_gold.reserve_exact(unseen_rows);
        for part in parts {
            all.rows.extend(part.rows);
            all.is_gold.extend(part.is_gold);
            all.unseen_rows.extend(part.unseen_rows);
            all.unseen_gold.extend(part.unseen_gold);
        }
        all
    }

    fn add(&mut self, candidates: &[(u32, Features)], gold: &[u32]) {
        for (l, f) in candidates {
            // Unseen candidates teach neither fusion's weights: a thesaurus concept no
            // training document carries is never gold here by construction, and one only
            // this document carries always is. Together they set the unseen level below.
            if is_unseen(f) {
                continue;
            }
            let is = gold.contains(l);
            self.rows.push(*f);
            self.is_gold.push(is);
            // A mention of a trained descriptor, its other evidence hidden, is what an
            // unseen concept's mention looks like: the unseen fusion learns from these
            // how reliable a mention is.
            if f[6] > 0.0 {
                self.unseen_rows.push(lexical_only(f));
                self.unseen_gold.push(is);
            }
        }
    }
}

/// A fitted ensemble.
#[derive(Debug, Clone)]
pub struct Ensemble {
    knn: Option<KnnIndex>,
    lexicon: Option<Lexicon>,
    fusion: Fusion,
    unseen: Fusion,
    unseen_evidence: (usize, usize),
    openness: f32,
    candidates: usize,
    trained: usize,
    label_documents: Vec<u32>,
    documents: usize,
}

/// What a document's one-vs-rest scores are known as.
pub enum OvrScores<'a> {
    /// Every trained descriptor's decision value (a draft).
    All(&'a [f32]),
    /// The kept out-of-fold values, best first (a training document).
    Kept(&'a [(u32, f32)]),
}

/// Everything the members say about one document.
pub struct Evidence<'a> {
    pub ovr: OvrScores<'a>,
    pub votes: Vec<Vote>,
    pub mentions: Vec<Mention>,
    /// For a training document scored out of sample: its own descriptors, whose counts are
    /// left out of the lexicon's record and the descriptor frequencies.
    pub leave_out: Option<&'a [u32]>,
}

/// A candidate with its fused decision value and evidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub label: u32,
    pub value: f32,
    pub features: Features,
}

/// The fused out-of-fold values of the training documents.
#[derive(Debug, Clone)]
pub struct FusedOutOfFold {
    /// Per document: `(descriptor, fused value)` of its candidates, best first.
    pub docs: Vec<Vec<(u32, f32)>>,
    /// Per descriptor: gold assignments that were no candidate.
    pub missed: Vec<u64>,
}

/// What fitting the ensemble found, for the training summary.
#[derive(Debug, Clone, Serialize)]
pub struct EnsembleReport {
    /// Whether the fused ranking beat one-vs-rest alone out of fold and is used.
    pub chosen: bool,
    pub neighbours: usize,
    pub lexicon_labels: usize,
    /// Descriptors only the lexicon can propose (never seen in training).
    pub lexicon_only_descriptors: usize,
    pub candidates_per_document: f64,
    /// Out-of-fold ranking figures of one-vs-rest alone and of the fused ranking.
    pub one_vs_rest: RankingFigures,
    pub fused: RankingFigures,
    /// Fitted weight of every feature.
    pub weights: Vec<(String, f32)>,
    /// How concepts no training document carried are scored.
    pub unseen: UnseenScoring,
}

/// How the ensemble scores a concept no training document carried (a thesaurus concept the
/// lexicon alone proposes): the `--json` and `inspect` account of it.
#[derive(Debug, Clone, Serialize)]
pub struct UnseenScoring {
    /// In words.
    pub how: String,
    /// Held-out mentions of trained descriptors' labels the weights were fitted on, and how
    /// many of them were gold (0: the prior as it stands).
    pub mentions: usize,
    pub gold_mentions: usize,
    /// The weight of every feature it reads (bias and lexical).
    pub weights: Vec<(String, f32)>,
}

/// Whether held-out mentions of trained descriptors' labels (`mentions`, `gold` of them gold)
/// can teach the unseen fusion: each kind, gold and not, must count at least as many
/// mentions as the fusion has weights (the bias and the lexical features). *Why:* the weights
/// say which mention is right, and that only mentions of both kinds can show. A closed
/// corpus's are all gold (data/train.txt: 155 of 155, since every mention of its 17
/// descriptors is of one its documents carry); fitted on them, every lexical weight grew
/// and lifted every thesaurus concept the example UN resolution names (10 suggested by
/// default, 5 correct; with the prior 8, the same 5).
pub fn unseen_evidence_teaches(mentions: usize, gold: usize) -> bool {
    let weights = FEATURES
        .iter()
        .filter(|(_, m)| matches!(m, Member::Bias | Member::Lexical))
        .count();
    gold.min(mentions.saturating_sub(gold)) >= weights
}

impl UnseenScoring {
    fn of(unseen: &Fusion, mentions: usize, gold_mentions: usize) -> UnseenScoring {
        let how = if mentions == 0 {
            "by the prior (dtag's documented weights of the lexical evidence: mentions of the \
             concept's labels, how often, early and spread, label length and rarity), since no \
             training document shows how reliable a mention is"
                .to_string()
        } else if !unseen_evidence_teaches(mentions, gold_mentions) {
            format!(
                "by the prior (dtag's documented weights of the lexical evidence: mentions of \
                 the concept's labels, how often, early and spread, label length and rarity), \
                 since the {mentions} held-out mentions of trained descriptors' labels \
                 ({gold_mentions} of them gold) hold too few of one kind to tell a right \
                 mention from a wrong one"
            )
        } else {
            format!(
                "by the lexical evidence alone (mentions of the concept's labels, how often, \
                 early and spread, label length and rarity), weighted as {mentions} held-out \
                 mentions of trained descriptors' labels showed ({gold_mentions} of them gold), \
                 pulled toward the prior, at the level of the held-out concepts no other \
                 training document carried (from 200 documents on, as far as the corpus's \
                 indexers choose freely); never by its own record in training, which cannot \
                 contain it"
            )
        };
        UnseenScoring {
            how,
            mentions,
            gold_mentions,
            weights: FEATURES
                .iter()
                .zip(&unseen.weights)
                .filter(|((_, m), _)| matches!(m, Member::Bias | Member::Lexical))
                .map(|((name, _), &w)| (name.to_string(), w))
                .collect(),
        }
    }
}

impl Ensemble {
    /// The stored form, borrowed: serialised exactly as the [`EnsembleData`] it stands for,
    /// without copying the neighbours' rows (gigabytes on a large corpus) to save them.
    pub fn as_data(&self) -> EnsembleDataRef<'_> {
        EnsembleDataRef {
            knn: self.knn.as_ref().map(KnnIndex::data),
            lexicon: self.lexicon.as_ref().map(Lexicon::data),
            fusion: &self.fusion,
            unseen: &self.unseen,
            unseen_evidence: self.unseen_evidence,
            openness: self.openness,
            candidates: self.candidates,
            trained: self.trained,
            label_documents: &self.label_documents,
            documents: self.documents,
        }
    }

    /// Rebuilds an ensemble from its stored form, checked against the model's shape.
    pub fn from_data(
        data: EnsembleData,
        n_features: usize,
        n_descriptors: usize,
        trained: usize,
    ) -> std::result::Result<Self, String> {
        data.fusion.validate()?;
        data.unseen.validate()?;
        if data.trained != trained
            || data.label_documents.len() != n_descriptors
            || data.candidates == 0
        {
            return Err("the ensemble does not match the descriptors".into());
        }
        if let Some(k) = &data.knn {
            KnnIndex::validate(k, n_features, n_descriptors)?;
        }
        if let Some(l) = &data.lexicon {
            Lexicon::validate(l, n_descriptors)?;
        }
        Ok(Ensemble {
            knn: data.knn.map(KnnIndex::from_data),
            lexicon: data.lexicon.map(Lexicon::from_data),
            fusion: data.fusion,
            unseen: data.unseen,
            unseen_evidence: data.unseen_evidence,
            openness: data.openness,
            candidates: data.candidates,
            trained: data.trained,
            label_documents: data.label_documents,
            documents: data.documents,
        })
    }

    pub fn fusion(&self) -> &Fusion {
        &self.fusion
    }

    /// The fusion of concepts no training document carried.
    pub fn unseen_fusion(&self) -> &Fusion {
        &self.unseen
    }

    /// The fusion that scores a candidate with these features: the unseen one when it has
    /// no one-vs-rest model (a concept no training document carried), else the main one.
    pub fn fusion_for(&self, features: &Features) -> &Fusion {
        if is_unseen(features) {
            &self.unseen
        } else {
            &self.fusion
        }
    }

    /// A candidate's fused value (see [`Self::fusion_for`]).
    pub fn value(&self, features: &Features) -> f32 {
        self.fusion_for(features).logit(features)
    }

    /// How concepts no training document carried are scored.
    pub fn unseen_scoring(&self) -> UnseenScoring {
        let (mentions, gold) = self.unseen_evidence;
        UnseenScoring::of(&self.unseen, mentions, gold)
    }

    pub fn lexicon(&self) -> Option<&Lexicon> {
        self.lexicon.as_ref()
    }

    /// The training rows the neighbour index holds, if it has one.
    pub fn training_rows(&self) -> Option<&KnnRows> {
        self.knn.as_ref().map(|k| &k.data().rows)
    }

    /// Gives back the training rows the neighbour index holds (the ensemble is not used
    /// after this).
    pub fn into_training_rows(self) -> Option<CsrMatrix> {
        self.knn.map(|k| k.into_data().rows.0)
    }

    pub fn neighbours(&self) -> usize {
        self.knn.as_ref().map_or(0, |k| k.data().neighbours)
    }

    /// Gathers the evidence of the neighbour and lexicon members for a draft: its row, its
    /// one-vs-rest values, and its words as the lexicon's ids ([`Lexicon::word_id`], read
    /// while the row was made: [`crate::features::TfidfVectorizer::analyse`]).
    pub fn evidence<'a>(
        &self,
        row: &SparseRow,
        logits: &'a [f32],
        words: &WordSequence,
    ) -> Evidence<'a> {
        let votes = self
            .knn
            .as_ref()
            .map_or_else(Vec::new, |k| k.votes(row, None));
        self.evidence_with_votes(votes, logits, words)
    }

    /// [`Self::evidence`] with the neighbours' votes found already ([`Self::votes_of_many`]).
    pub fn evidence_with_votes<'a>(
        &self,
        votes: Vec<Vote>,
        logits: &'a [f32],
        words: &WordSequence,
    ) -> Evidence<'a> {
        Evidence {
            ovr: OvrScores::All(logits),
            votes,
            mentions: self
                .lexicon
                .as_ref()
                .map_or_else(Vec::new, |l| l.mentions_of_sequence(words)),
            leave_out: None,
        }
    }

    /// The neighbours' votes of many drafts, as [`Self::evidence`] finds them one by one
    /// ([`KnnIndex::votes_of_many`]); none without a neighbour member.
    pub fn votes_of_many(&self, rows: &[&SparseRow]) -> Vec<Vec<Vote>> {
        match &self.knn {
            Some(k) => k.votes_of_many(rows),
            None => vec![Vec::new(); rows.len()],
        }
    }

    /// Every candidate of a document with its fused value, best first.
    pub fn rank(&self, evidence: &Evidence) -> Vec<Candidate> {
        let mut ranked: Vec<Candidate> = self
            .candidates(evidence)
            .into_iter()
            .map(|(label, features)| Candidate {
                label,
                value: self.value(&features),
                features,
            })
            .collect();
        ranked.sort_unstable_by(|a, b| b.value.total_cmp(&a.value).then(a.label.cmp(&b.label)));
        ranked
    }

    /// The candidates the members propose, with their evidence, in label order.
    fn candidates(&self, ev: &Evidence) -> Vec<(u32, Features)> {
        let mut ovr_of: FxHashMap<u32, f32> = FxHashMap::default();
        let mut proposed: Vec<u32> = Vec::new();
        match ev.ovr {
            OvrScores::All(logits) => {
                for (l, z) in crate::metrics::top_k(logits, self.candidates) {
                    if z >= OVR_FLOOR {
                        proposed.push(l as u32);
                    }
                }
            }
            OvrScores::Kept(kept) => {
                for &(l, z) in kept {
                    ovr_of.insert(l, z);
                }
                proposed.extend(
                    kept.iter()
                        .filter(|&&(_, z)| z >= OVR_FLOOR)
                        .take(self.candidates)
                        .map(|&(l, _)| l),
                );
            }
        }
        let ovr_value = |l: u32| -> f32 {
            let z = match ev.ovr {
                OvrScores::All(logits) => logits.get(l as usize).copied(),
                OvrScores::Kept(_) => ovr_of.get(&l).copied(),
            };
            z.unwrap_or(OVR_FLOOR).clamp(OVR_FLOOR, 12.0)
        };
        let mut features: FxHashMap<u32, Features> = FxHashMap::default();
        let trained = self.trained;
        let documents = ev.leave_out.map_or(self.documents, |_| self.documents - 1);
        let log_documents = ((documents + 1) as f32).ln().max(1.0);
        let gold = |l: u32| ev.leave_out.is_some_and(|g| g.contains(&l));
        let base = |l: u32| -> Features {
            let mut f = [0f32; N_FEATURES];
            // Left out, a descriptor only this document carries is one training never saw,
            // as the lexicon-only descriptors are for a draft.
            let docs = self.label_documents[l as usize] - gold(l) as u32;
            let has_model = (l as usize) < trained && docs > 0;
            f[0] = 1.0;
            f[1] = if has_model { ovr_value(l) } else { OVR_FLOOR };
            f[2] = has_model as u8 as f32;
            f[14] = (docs as f32 + 1.0).ln() / log_documents;
            f
        };
        for l in proposed {
            features.entry(l).or_insert_with(|| base(l));
        }
        for vote in ev.votes.iter().take(self.candidates) {
            let f = features
                .entry(vote.label)
                .or_insert_with(|| base(vote.label));
            f[3] = vote.share;
            f[4] = vote.share.sqrt();
            f[5] = vote.nearest;
            f[16] = fusion::near_duplicate(vote.nearest);
        }
        if let Some(lexicon) = &self.lexicon {
            for m in &ev.mentions {
                let f = features
                    .entry(m.descriptor)
                    .or_insert_with(|| base(m.descriptor));
                // A concept no training document carried has a record of mentions that were
                // never gold: evidence that its label does not make it a subject only as far
                // as the corpus's indexers choose freely from the thesaurus ([`openness`]).
                let leave_out = ev.leave_out.map(|_| gold(m.descriptor));
                let precision = if is_unseen(f) {
                    lexicon.precision_weighted(m.descriptor, leave_out, self.openness)
                } else {
                    lexicon.precision(m.descriptor, leave_out)
                }
                .clamp(1e-4, 1.0 - 1e-4);
                f[6] = 1.0;
                f[7] = (1.0 + m.count as f32).ln();
                f[8] = 1.0 - m.first;
                f[9] = m.last - m.first;
                f[10] = m.words.min(4) as f32 / 4.0;
                f[11] = (precision / (1.0 - precision)).ln();
                f[12] = m.preferred as u8 as f32;
                f[13] = 1.0 / m.ambiguity.max(1) as f32;
                f[15] = m.rarity;
                // The corpus without this document, when it is a training document scored
                // out of sample (it mentions the descriptor: that is how it got here).
                if measured_as_a_whole(self.documents) {
                    let mentioned_elsewhere = lexicon.data().mentioned_in[m.descriptor as usize]
                        .saturating_sub(ev.leave_out.is_some() as u32);
                    f[17] = fusion::corpus_share(mentioned_elsewhere, documents);
                }
            }
        }
        let mut out: Vec<(u32, Features)> = features.into_iter().collect();
        out.sort_unstable_by_key(|&(l, _)| l);
        out
    }

    /// The members as given, scored by the prior's fusions until a fit replaces them.
    fn with_prior(
        knn: Option<KnnIndex>,
        lexicon: Option<Lexicon>,
        params: &EnsembleParams,
        label_documents: Vec<u32>,
        trained: usize,
        documents: usize,
    ) -> Ensemble {
        Ensemble {
            knn,
            lexicon,
            fusion: Fusion::prior(),
            unseen: Fusion::unseen_prior(),
            unseen_evidence: (0, 0),
            openness: openness(&label_documents[..trained]),
            candidates: params.candidates,
            trained,
            label_documents,
            documents,
        }
    }

    /// The ensemble of a corpus too small to hold anything out (no document, or one): its
    /// neighbours and lexicon as [`Self::fit`] builds them, both fusions the prior. `x` and
    /// `gold`: the training rows and labels (none for a model of the thesaurus alone).
    pub fn from_prior(
        params: &EnsembleParams,
        x: CsrMatrix,
        gold: &[Vec<u32>],
        lexicon: Option<(Lexicon, Vec<Vec<Mention>>)>,
        label_documents: Vec<u32>,
        trained: usize,
    ) -> Result<(Ensemble, EnsembleReport)> {
        let n_descriptors = label_documents.len();
        if x.n_rows() != gold.len() || lexicon.as_ref().is_some_and(|(_, m)| m.len() != gold.len())
        {
            return Err(Error::Training(
                "the ensemble's inputs do not match the corpus".into(),
            ));
        }
        let knn = (params.neighbours > 0 && !gold.is_empty())
            .then(|| KnnIndex::new(x, gold, params.neighbours));
        let lexicon = lexicon.map(|(mut lex, found)| {
            lex.count_training_mentions(&found, gold);
            lex
        });
        let ensemble =
            Ensemble::with_prior(knn, lexicon, params, label_documents, trained, gold.len());
        let report = EnsembleReport {
            chosen: true,
            neighbours: if ensemble.knn.is_some() {
                params.neighbours
            } else {
                0
            },
            lexicon_labels: ensemble.lexicon.as_ref().map_or(0, Lexicon::n_labels),
            lexicon_only_descriptors: n_descriptors - trained,
            candidates_per_document: 0.0,
            one_vs_rest: RankingFigures::default(),
            fused: RankingFigures::default(),
            weights: ensemble.fusion.named_weights(),
            unseen: ensemble.unseen_scoring(),
        };
        Ok((ensemble, report))
    }

    /// Fits the ensemble on the training corpus from the one-vs-rest model's out-of-fold
    /// scores (`oof`, per document best first): neighbours vote with each document left out,
    /// the lexicon's record leaves each document's own mentions out, and the fusion is fitted
    /// on the evidence of every candidate. `lexicon`: the label lexicon with every training
    /// document's mentions ([`Lexicon::mentions_of_words`], found while the corpus was
    /// analysed), or none for no lexicon member. Returns the ensemble, the fused out-of-fold
    /// values (per document best first) with, per descriptor, its gold assignments no member
    /// proposed, and the report. `votes`, when given, are the neighbours' leave-one-out votes
    /// computed beforehand ([`GivenVotes`]): they must be those of
    /// `KnnIndex::new(x, gold, params.neighbours)`.
    #[allow(clippy::too_many_arguments)]
    pub fn fit(
        params: &EnsembleParams,
        x: CsrMatrix,
        gold: &[Vec<u32>],
        oof: &[Vec<(u32, f32)>],
        lexicon: Option<(Lexicon, Vec<Vec<Mention>>)>,
        label_documents: Vec<u32>,
        trained: usize,
        votes: Option<GivenVotes>,
    ) -> Result<(Ensemble, FusedOutOfFold, EnsembleReport)> {
        let n_descriptors = label_documents.len();
        let mentions_match = lexicon.as_ref().is_none_or(|(_, m)| m.len() == gold.len());
        if x.n_rows() != gold.len() || oof.len() != gold.len() || !mentions_match {
            return Err(Error::Training(
                "the ensemble's inputs do not match the corpus".into(),
            ));
        }
        let (knn, votes) = match votes {
            _ if params.neighbours == 0 => (None, vec![Vec::new(); gold.len()]),
            Some(GivenVotes::Indexed(index, votes)) => (Some(*index), votes),
            Some(GivenVotes::Votes(votes)) => {
                (Some(KnnIndex::new(x, gold, params.neighbours)), votes)
            }
            None => {
                let index = KnnIndex::new(x, gold, params.neighbours);
                let votes = index.leave_one_out_votes(params.candidates);
                (Some(index), votes)
            }
        };
        let indexed_rows = knn.as_ref().map_or(gold.len(), |k| k.data().rows.len());
        if votes.len() != gold.len() || indexed_rows != gold.len() {
            return Err(Error::Training(
                "the neighbours' votes do not match the corpus".into(),
            ));
        }
        let (lexicon, mentions) = match lexicon {
            Some((mut lex, found)) => {
                lex.count_training_mentions(&found, gold);
                (Some(lex), found)
            }
            None => (None, vec![Vec::new(); gold.len()]),
        };
        let mut ensemble =
            Ensemble::with_prior(knn, lexicon, params, label_documents, trained, gold.len());
        let per_doc: Vec<Vec<(u32, Features)>> = (0..gold.len())
            .into_par_iter()
            .map(|d| {
                ensemble.candidates(&Evidence {
                    ovr: OvrScores::Kept(&oof[d]),
                    votes: votes[d].clone(),
                    mentions: mentions[d].clone(),
                    leave_out: Some(&gold[d]),
                })
            })
            .collect();
        let total: usize = per_doc.iter().map(Vec::len).sum();
        let stride = total.div_ceil(MAX_FUSION_ROWS).max(1);
        let FusionRows {
            rows,
            is_gold,
            unseen_rows,
            unseen_gold,
        } = FusionRows::of(&per_doc, gold, stride);
        // The pull toward the prior fades as documents come: at `ALWAYS_FUSE_BELOW`
        // documents and under it, full strength; at ten times as many, a tenth. *Why:* the
        // log-loss grows with the corpus anyway, but on corpora of thousands the prior still
        // cost a point of P@1 (cail2018_sample: 0.890 against 0.905 at full strength).
        let ridge = params.ridge * (ALWAYS_FUSE_BELOW as f64 / gold.len().max(1) as f64).min(1.0);
        ensemble.fusion = Fusion::fit(&rows, &is_gold, ridge, &Fusion::prior(), false);
        ensemble.unseen_evidence = (
            unseen_rows.len(),
            unseen_gold.iter().filter(|&&g| g).count(),
        );
        if unseen_evidence_teaches(ensemble.unseen_evidence.0, ensemble.unseen_evidence.1) {
            ensemble.unseen = Fusion::fit(
                &unseen_rows,
                &unseen_gold,
                ridge,
                &Fusion::unseen_prior(),
                true,
            );
        }
        // The unseen fusion's level, from the held-out candidates no other training document
        // carried: the concepts only this document carries (gold) and those no document
        // carries (never gold), the mix a draft's thesaurus-only candidates are drawn from.
        // They count as far as the corpus's indexers choose freely ([`openness`]): in a
        // closed corpus they are never gold because nothing outside its set could be. Only
        // for a corpus measured as a whole (the first 100 of kirjastonhoitaja: P@1 0.465 →
        // 0.449 with it).
        let level_shift = if measured_as_a_whole(gold.len()) {
            let unseen = &ensemble.unseen;
            let (values, was_gold): (Vec<f32>, Vec<bool>) = per_doc
                .iter()
                .enumerate()
                .step_by(stride)
                .flat_map(|(d, candidates)| {
                    candidates
                        .iter()
                        .filter(|(_, f)| is_unseen(f))
                        .map(move |(l, f)| (unseen.logit(f), gold[d].contains(l)))
                })
                .unzip();
            fusion::level_shift(&values, &was_gold, ensemble.openness as f64)
        } else {
            0.0
        };
        ensemble.unseen.weights[0] += level_shift as f32;

        let fused: Vec<Vec<(u32, f32)>> = per_doc
            .par_iter()
            .map(|candidates| {
                let mut list: Vec<(u32, f32)> = candidates
                    .iter()
                    .map(|(l, f)| (*l, ensemble.value(f)))
                    .collect();
                list.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                list
            })
            .collect();
        let missed = || {
            let mut missed = vec![0u64; n_descriptors];
            for (candidates, gold) in per_doc.iter().zip(gold) {
                for &g in gold {
                    if candidates.binary_search_by_key(&g, |&(l, _)| l).is_err() {
                        missed[g as usize] += 1;
                    }
                }
            }
            missed
        };
        // One-vs-rest alone, as it would rank at suggestion time: only values above the floor.
        let one_vs_rest = || {
            let ovr_only: Vec<Vec<(u32, f32)>> = oof
                .iter()
                .map(|l| l.iter().copied().filter(|&(_, z)| z >= OVR_FLOOR).collect())
                .collect();
            RankingFigures::measure(&ovr_only, gold)
        };
        let ((missed, one_vs_rest), fused_figures) = rayon::join(
            || rayon::join(missed, one_vs_rest),
            || RankingFigures::measure(&fused, gold),
        );
        let report = EnsembleReport {
            chosen: fused_figures.beats(&one_vs_rest) || gold.len() < ALWAYS_FUSE_BELOW,
            neighbours: params.neighbours,
            lexicon_labels: ensemble.lexicon.as_ref().map_or(0, Lexicon::n_labels),
            lexicon_only_descriptors: n_descriptors - trained,
            candidates_per_document: total as f64 / gold.len().max(1) as f64,
            one_vs_rest,
            fused: fused_figures,
            weights: ensemble.fusion.named_weights(),
            unseen: ensemble.unseen_scoring(),
        };
        Ok((
            ensemble,
            FusedOutOfFold {
                docs: fused,
                missed,
            },
            report,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Analyzer, AnalyzerConfig, Language};

    /// The `lex_corpus_share` feature of every candidate of `evidence`.
    fn corpus_shares(ensemble: &Ensemble, evidence: &Evidence) -> FxHashMap<u32, f32> {
        let at = FEATURES
            .iter()
            .position(|(n, _)| *n == "lex_corpus_share")
            .unwrap();
        ensemble
            .rank(evidence)
            .iter()
            .map(|c| (c.label, c.features[at]))
            .collect()
    }

    #[test]
    fn the_unseen_fusion_learns_only_from_mentions_of_both_kinds() {
        // A closed corpus: every held-out mention was gold.
        assert!(!unseen_evidence_teaches(155, 155));
        assert!(!unseen_evidence_teaches(0, 0));
        assert!(!unseen_evidence_teaches(400, 3));
        // kirjastonhoitaja's first 30 and 100 documents.
        assert!(unseen_evidence_teaches(81, 23));
        assert!(unseen_evidence_teaches(398, 83));
        let how = UnseenScoring::of(&Fusion::unseen_prior(), 155, 155).how;
        assert!(
            how.starts_with("by the prior") && how.contains("155"),
            "{how}"
        );
    }

    #[test]
    fn a_label_most_training_texts_mention_counts_as_common_whether_chosen_or_not() {
        let analyzer = Analyzer::new(AnalyzerConfig::for_language(Language::Fi)).unwrap();
        // Descriptor 0 is trained; 1 and 2 are thesaurus concepts no document carries.
        let labels = [
            (0, "kirjastot", true),
            (1, "tarot", true),
            (2, "lainat", true),
        ];
        let lexicon = Lexicon::build(&analyzer, labels, 3);
        // `copies` times four texts: every one mentions lainat, three kirjastot, and only
        // the third of the first copy tarot.
        let corpus = |copies: usize| {
            let mut texts = Vec::new();
            let mut gold = Vec::new();
            for copy in 0..copies {
                let third = if copy == 0 {
                    "kirjastot, lainat ja tarot"
                } else {
                    "kirjastot ja lainat"
                };
                texts.extend(["kirjastot ja lainat", "lainat", third, "kirjastot, lainat"]);
                gold.extend([vec![0], vec![], vec![], vec![0]]);
            }
            let found: Vec<Vec<Mention>> = texts
                .iter()
                .map(|t| lexicon.mentions(&analyzer, t))
                .collect();
            let n = texts.len();
            let params = EnsembleParams {
                neighbours: 0,
                ..EnsembleParams::default()
            };
            let (ensemble, _) = Ensemble::from_prior(
                &params,
                CsrMatrix::from_rows(vec![SparseRow::default(); n], 1),
                &gold,
                Some((lexicon.clone(), found.clone())),
                vec![(copies * 2) as u32, 0, 0],
                1,
            )
            .unwrap();
            (ensemble, found, gold)
        };
        let draft_of = |ensemble: &Ensemble| Evidence {
            ovr: OvrScores::All(&[0.0]),
            votes: Vec::new(),
            mentions: ensemble
                .lexicon()
                .unwrap()
                .mentions(&analyzer, "Kirjastot, tarot ja lainat"),
            leave_out: None,
        };

        let copies = ALWAYS_FUSE_BELOW / 4;
        let n = copies * 4;
        let (ensemble, found, gold) = corpus(copies);
        let share = corpus_shares(&ensemble, &draft_of(&ensemble));
        // Mentioned by three quarters, all and one of the texts, chosen or not.
        assert!((share[&0] - corpus_share(3 * copies as u32, n)).abs() < 1e-6);
        assert!((share[&2] - 1.0).abs() < 1e-6, "{share:?}");
        assert!((share[&1] - corpus_share(1, n)).abs() < 1e-6, "{share:?}");
        assert!(share[&2] > share[&0] && share[&0] > share[&1] && share[&1] > 0.0);

        // A training document scored out of sample is not part of its own corpus.
        let third = Evidence {
            ovr: OvrScores::Kept(&[]),
            votes: Vec::new(),
            mentions: found[2].clone(),
            leave_out: Some(&gold[2]),
        };
        let held_out = corpus_shares(&ensemble, &third);
        assert_eq!(held_out[&1], 0.0, "only this document mentions tarot");
        assert!(
            (held_out[&2] - corpus_share(n as u32 - 1, n - 1)).abs() < 1e-6,
            "{held_out:?}"
        );

        // Below `ALWAYS_FUSE_BELOW` documents the share is not read at all.
        let (small, _, _) = corpus(1);
        let share = corpus_shares(&small, &draft_of(&small));
        assert!(share.values().all(|&s| s == 0.0), "{share:?}");
    }
}
