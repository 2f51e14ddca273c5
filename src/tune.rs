//! Decisions learned from data: out-of-fold scores from k-fold cross-validation, calibrated
//! probabilities, a threshold per descriptor, and the Annif-style global limit/threshold grid.
//!
//! 1. The training documents are split into `k` folds (rare descriptors spread over folds).
//!    For each fold, one-vs-rest is trained on the other folds and scores the fold, so every
//!    document gets decision values from a model that never saw it. The fold models reuse the
//!    TF-IDF rows of the full training corpus: vocabulary and idf therefore include the
//!    held-out fold, a small optimistic effect accepted to analyse the corpus only once.
//! 2. Each descriptor's probability is `σ(a·z + b)` for its decision value `z` (Platt
//!    scaling). A shared `(a, b)` is fitted on all out-of-fold scores; each descriptor's own
//!    fit is pulled toward it by a Gaussian prior, so rare descriptors get the shared map.
//!    This undoes the over-confidence of class weighting and weak regularisation.
//! 3. Each descriptor's threshold maximises its out-of-fold F1; it is blended toward the best
//!    global threshold with weight `n / (n + prior)` for `n` positives, so a descriptor with
//!    one or two examples does not get a threshold fitted to them alone.

use std::collections::BTreeMap;
use std::time::Instant;

use indicatif::ProgressBar;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::metrics::top_k;
use crate::model::logistic::HeldOutFolds;
use crate::model::logistic::{log1p_exp, sigmoid, XorShift};
use crate::model::{LabelSets, LabelWeights, OneVsRest, ValidOneVsRestParams};
use crate::sparse::CsrMatrix;
use crate::train::Progress;

/// Decision values below this (probability < 0.001 before calibration) are not kept for a
/// document unless the descriptor is gold or among its best [`KEEP_TOP`]; every threshold
/// chosen lies above it.
pub const KEEP_LOGIT: f32 = -6.9;
/// Per document, the best descriptors kept whatever their score (covers the grid's limits).
pub const KEEP_TOP: usize = 10;
/// Limits tried by the global grid.
pub const GRID_LIMITS: std::ops::RangeInclusive<usize> = 1..=KEEP_TOP;
/// Thresholds tried by the global grid: 0.00, 0.05, …, 0.95.
pub const GRID_STEPS: usize = 20;

/// Fewest documents per cross-validation fold for threshold tuning to run.
pub const MIN_DOCS_PER_FOLD: usize = 10;

/// Passes of the micro-F1 coordinate ascent (it settles in two or three).
const MICRO_PASSES: usize = 4;

/// What the per-descriptor thresholds maximise out of fold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdObjective {
    /// Micro-F1 over all descriptors together (fewer false positives from weak descriptors).
    MicroF1,
    /// Each descriptor's own F1 (favours recall of weak descriptors: macro-F1).
    DescriptorF1,
}

/// Tuning settings as given by the user; [`TuneParams::check`] validates them.
#[derive(Debug, Clone, PartialEq)]
pub struct TuneParams {
    /// Cross-validation folds.
    pub folds: usize,
    /// 0: each fold's model is trained from zero. Otherwise it starts from the model trained
    /// on every fold, with the held-out fold's part removed, and runs this many epochs.
    pub refit_epochs: usize,
    /// Seed of the fold assignment.
    pub seed: u64,
    /// What the per-descriptor thresholds maximise.
    pub objective: ThresholdObjective,
    /// Descriptors with fewer training documents get a threshold blended toward the global
    /// one, with weight `positives / min_positives` on their own.
    pub min_positives: usize,
    /// Strength of the prior pulling each descriptor's calibration toward the shared one.
    pub calibration_prior: f64,
}

impl Default for TuneParams {
    fn default() -> Self {
        TuneParams {
            folds: 5,
            refit_epochs: 1,
            seed: 0xf01d,
            objective: ThresholdObjective::MicroF1,
            min_positives: 3,
            calibration_prior: 10.0,
        }
    }
}

/// Validated [`TuneParams`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidTuneParams(TuneParams);

impl TuneParams {
    pub fn check(self) -> Result<ValidTuneParams> {
        if self.folds < 2 {
            return Err(Error::param("folds", "must be at least 2"));
        }
        if self.min_positives == 0 {
            return Err(Error::param("min_positives", "must be at least 1"));
        }
        if !(self.calibration_prior.is_finite() && self.calibration_prior >= 0.0) {
            return Err(Error::param(
                "calibration_prior",
                format!("must be 0 or positive, got {}", self.calibration_prior),
            ));
        }
        Ok(ValidTuneParams(self))
    }
}

/// Assigns every document to one of `folds` folds, balancing fold sizes and spreading the
/// documents of each rare descriptor over different folds: documents are ordered by their
/// rarest descriptor (ties shuffled by `seed`) and dealt round-robin.
pub fn fold_assignment(rows: &[Vec<u32>], n_labels: usize, folds: usize, seed: u64) -> Vec<usize> {
    let mut freq = vec![0u32; n_labels];
    for row in rows {
        for &l in row {
            freq[l as usize] += 1;
        }
    }
    let rarest = |row: &Vec<u32>| {
        row.iter()
            .map(|&l| (freq[l as usize], l))
            .min()
            .unwrap_or((u32::MAX, u32::MAX))
    };
    let mut order: Vec<usize> = (0..rows.len()).collect();
    XorShift(seed | 1).shuffle(&mut order);
    // Stable sort: documents sharing a rarest descriptor stay in shuffled order.
    order.sort_by_key(|&d| rarest(&rows[d]));
    let mut fold = vec![0; rows.len()];
    for (position, &d) in order.iter().enumerate() {
        fold[d] = position % folds;
    }
    fold
}

/// Negatives of one descriptor whose decision values were too low to keep individually.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DroppedNegatives {
    pub count: u64,
    pub logit_sum: f64,
}

/// Keeps what tuning needs of one label's held-out decision values (one per document):
/// the values of its positive documents (`positives`, sorted) and those at or above
/// [`KEEP_LOGIT`]; the other negatives are only summed.
fn keep_held_out(positives: &[u32], values: &[f32]) -> LabelHeldOut {
    let mut kept = LabelHeldOut::default();
    let mut next_positive = positives.iter().peekable();
    for (d, &z) in values.iter().enumerate() {
        let positive = next_positive.next_if(|&&p| p as usize == d).is_some();
        if positive || z >= KEEP_LOGIT {
            kept.kept.push((d as u32, z));
        } else {
            kept.dropped.count += 1;
            kept.dropped.logit_sum += z as f64;
        }
    }
    kept
}

/// What tuning keeps of one label's held-out decision values.
#[derive(Debug, Clone, Default)]
pub struct LabelHeldOut {
    /// `(document, decision value)` of positives and of values at or above [`KEEP_LOGIT`].
    pub kept: Vec<(u32, f32)>,
    pub dropped: DroppedNegatives,
}

/// Kept entries of a run of held-out documents (by document index), and its dropped sums.
type ScoredChunk = (Vec<(usize, Vec<(u32, f32)>)>, Vec<DroppedNegatives>);

/// Out-of-fold decision values of every training document.
#[derive(Debug, Clone)]
pub struct OutOfFold {
    pub n_labels: usize,
    /// Per document: `(descriptor, decision value)` kept (see [`KEEP_LOGIT`]), best first.
    pub docs: Vec<Vec<(u32, f32)>>,
    /// Per descriptor: the negatives not kept in `docs`.
    pub dropped: Vec<DroppedNegatives>,
    /// Per descriptor: gold assignments with no value at all (no ensemble member proposed
    /// them); they count against recall but cannot shape calibration.
    pub missed: Vec<u64>,
    pub folds: usize,
}

impl ValidTuneParams {
    pub fn params(&self) -> &TuneParams {
        &self.0
    }

    /// Trains one-vs-rest on all folds but one, `folds` times, and scores each held-out fold.
    /// `progress` advances once per fold.
    pub fn out_of_fold(
        &self,
        x: &CsrMatrix,
        labels: &LabelSets,
        ovr: &ValidOneVsRestParams,
        progress: &ProgressBar,
    ) -> Result<OutOfFold> {
        let k = self.0.folds;
        let n_docs = labels.rows.len();
        if x.n_rows() != n_docs {
            return Err(Error::Training(format!(
                "{} feature rows but {} label rows",
                x.n_rows(),
                n_docs
            )));
        }
        if n_docs < k {
            return Err(Error::param(
                "folds",
                format!("{k} folds need at least {k} documents, the corpus has {n_docs}"),
            ));
        }
        let fold = fold_assignment(&labels.rows, labels.n_labels, k, self.0.seed);
        let n_labels = labels.n_labels;
        let mut docs: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n_docs];
        let mut dropped = vec![DroppedNegatives::default(); n_labels];
        for f in 0..k {
            let (held_out, kept): (Vec<usize>, Vec<usize>) =
                (0..n_docs).partition(|&d| fold[d] == f);
            let train_labels = LabelSets {
                n_labels,
                rows: kept.iter().map(|&d| labels.rows[d].clone()).collect(),
            };
            let model = ovr.fit_with_progress(
                &x.select_rows(&kept),
                &train_labels,
                &ProgressBar::hidden(),
            )?;
            // Chunks bound the per-thread sums of dropped negatives.
            let chunk = held_out
                .len()
                .div_ceil(rayon::current_num_threads() * 4)
                .max(1);
            let scored: Vec<ScoredChunk> = held_out
                .par_chunks(chunk)
                .map(|chunk| {
                    let mut sums = vec![DroppedNegatives::default(); n_labels];
                    let mut logits = vec![0f32; n_labels];
                    let rows = chunk
                        .iter()
                        .map(|&d| {
                            let (idx, val) = x.row(d);
                            model.decision_into(idx, val, &mut logits);
                            let gold = &labels.rows[d];
                            let mut keep = vec![false; n_labels];
                            for (l, _) in top_k(&logits, KEEP_TOP) {
                                keep[l] = true;
                            }
                            for &g in gold {
                                keep[g as usize] = true;
                            }
                            let mut entries = Vec::new();
                            for (l, &z) in logits.iter().enumerate() {
                                if keep[l] || z >= KEEP_LOGIT {
                                    entries.push((l as u32, z));
                                } else {
                                    sums[l].count += 1;
                                    sums[l].logit_sum += z as f64;
                                }
                            }
                            entries
                                .sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                            (d, entries)
                        })
                        .collect();
                    (rows, sums)
                })
                .collect();
            for (rows, sums) in scored {
                for (d, entries) in rows {
                    docs[d] = entries;
                }
                for (total, part) in dropped.iter_mut().zip(sums) {
                    total.count += part.count;
                    total.logit_sum += part.logit_sum;
                }
            }
            progress.inc(1);
        }
        Ok(OutOfFold {
            missed: vec![0; labels.n_labels],
            n_labels,
            docs,
            dropped,
            folds: k,
        })
    }

    /// Why `n_docs` documents are too few to tune on, if they are: folds of a handful of
    /// documents give thresholds fitted to noise.
    pub fn too_few_documents(&self, n_docs: usize) -> Option<String> {
        let folds = self.0.folds;
        (n_docs < folds * MIN_DOCS_PER_FOLD).then(|| {
            format!(
                "{n_docs} documents are too few for {folds} folds (tuning needs {MIN_DOCS_PER_FOLD} per fold)"
            )
        })
    }

    /// Trains `ovr` on `x` (starting from `warm`, as [`ValidOneVsRestParams::fit_warm`]) and
    /// scores every document out of sample in the same run: each fold's model is refitted
    /// from the solution for `refit_epochs` epochs (see
    /// [`crate::model::logistic::ValidLogisticParams::fit_many_held_out`]). Unlike the scores
    /// of [`Self::out_of_fold`], a document's list is not topped up to its [`KEEP_TOP`] best
    /// descriptors: values below [`KEEP_LOGIT`] are only summed.
    pub fn fit_held_out(
        &self,
        ovr: &ValidOneVsRestParams,
        x: &CsrMatrix,
        labels: &LabelSets,
        warm: &[Option<LabelWeights>],
        progress: &ProgressBar,
    ) -> Result<(OneVsRest, OutOfFold)> {
        let t = &self.0;
        if t.refit_epochs == 0 {
            return Err(Error::param(
                "refit_epochs",
                "must be at least 1 to refit folds",
            ));
        }
        let positives = labels.documents_per_label();
        let keep = |l: usize, values: Vec<f32>| keep_held_out(&positives[l], &values);
        let fold_of = fold_assignment(&labels.rows, labels.n_labels, t.folds, t.seed);
        let folds = HeldOutFolds {
            fold_of: &fold_of,
            folds: t.folds,
            epochs: t.refit_epochs,
        };
        let (model, per_label) = ovr.fit_held_out(x, labels, warm, folds, progress, &keep)?;
        let n_labels = per_label.len();
        let mut docs: Vec<Vec<(u32, f32)>> = vec![Vec::new(); x.n_rows()];
        let mut dropped = Vec::with_capacity(n_labels);
        for (l, label) in per_label.into_iter().enumerate() {
            for (d, z) in label.kept {
                docs[d as usize].push((l as u32, z));
            }
            dropped.push(label.dropped);
        }
        docs.par_iter_mut().for_each(|entries| {
            entries.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        });
        let oof = OutOfFold {
            missed: vec![0; n_labels],
            n_labels,
            docs,
            dropped,
            folds: t.folds,
        };
        Ok((model, oof))
    }

    /// Calibration, thresholds and the global grid from out-of-fold scores.
    pub fn tune(&self, oof: &OutOfFold, labels: &LabelSets) -> Result<(Tuning, TuningReport)> {
        let n_labels = oof.n_labels;
        if labels.n_labels != n_labels || labels.rows.len() != oof.docs.len() {
            return Err(Error::Training(
                "out-of-fold scores do not match the labels".into(),
            ));
        }
        // Per descriptor: its kept (decision value, is gold) pairs.
        let mut per_label: Vec<Vec<(f32, bool)>> = vec![Vec::new(); n_labels];
        for (entries, gold) in oof.docs.iter().zip(&labels.rows) {
            for &(l, z) in entries {
                per_label[l as usize].push((z, gold.contains(&l)));
            }
        }
        if oof.missed.len() != n_labels {
            return Err(Error::Training(
                "out-of-fold scores do not match the labels".into(),
            ));
        }
        let positives: Vec<u64> = per_label
            .iter()
            .zip(&oof.missed)
            .map(|(pairs, missed)| pairs.iter().filter(|p| p.1).count() as u64 + missed)
            .collect();

        let shared = fit_shared_platt(&per_label, &oof.dropped);
        let calibration: Vec<Platt> = per_label
            .par_iter()
            .zip(&oof.dropped)
            .map(|(pairs, dropped)| {
                fit_label_platt(pairs, dropped, shared, self.0.calibration_prior)
            })
            .collect();

        let total_positives: u64 = positives.iter().sum();
        let global = best_global_threshold(&per_label, &calibration, total_positives);
        // Each descriptor's own choice: the cut maximising its F1 …
        let own: Vec<Option<f32>> = (0..n_labels)
            .map(|l| {
                best_label_threshold(&per_label[l], positives[l])
                    .map(|z| calibration[l].probability(z))
            })
            .collect();
        let mut own: Vec<f32> = own.iter().map(|t| t.unwrap_or(global)).collect();
        // … or, for micro-F1, the cuts that together maximise out-of-fold micro-F1.
        if self.0.objective == ThresholdObjective::MicroF1 {
            own = micro_optimal_thresholds(&per_label, &calibration, &positives, &own);
        }
        // Too few positives to trust: blend toward the global threshold.
        let min_positives = self.0.min_positives as f64;
        let mut own_thresholds = 0;
        let thresholds: Vec<f32> = own
            .iter()
            .zip(&positives)
            .map(|(&t, &n)| {
                let w = (n as f64 / min_positives).min(1.0);
                own_thresholds += (w == 1.0) as usize;
                blend_probabilities(t as f64, global as f64, w) as f32
            })
            .collect();
        // Ranking stays by decision value: one shared map turns values into the probabilities
        // shown, and each descriptor's threshold, chosen on its own calibrated scale, is moved
        // to the shared scale at the same decision value, so it cuts exactly where it did.
        let thresholds: Vec<f32> = thresholds
            .iter()
            .zip(&calibration)
            .map(|(&t, own)| shared.probability(own.value_at(t)))
            .collect();
        let probs: Vec<Vec<(u32, f32)>> = oof
            .docs
            .par_iter()
            .map(|entries| {
                entries
                    .iter()
                    .map(|&(l, z)| (l, shared.probability(z)))
                    .collect()
            })
            .collect();
        let grid = GlobalGrid::search(&probs, &labels.rows);
        let oof_figures = OofFigures::measure(&probs, &labels.rows, &thresholds, n_labels);
        let tuning = Tuning {
            calibration: shared,
            thresholds,
            global_threshold: global,
            folds: oof.folds,
            grid: grid.clone(),
        };
        let report = TuningReport {
            folds: oof.folds,
            global_threshold: global,
            shared_calibration: shared,
            descriptors_with_own_threshold: own_thresholds,
            best_for_micro_f1: grid.best_micro,
            best_for_doc_f1: grid.best_doc,
            oof_micro_f1: oof_figures.micro_f1,
            oof_macro_f1: oof_figures.macro_f1,
            oof_doc_f1: oof_figures.doc_f1,
        };
        Ok((tuning, report))
    }
}

/// What tuning did in a training run; the train and learn summaries carry it under the keys
/// `tuning` and `tuning_skipped`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TuningSummary {
    /// Present when the model was tuned.
    #[serde(rename = "tuning")]
    pub report: Option<TuningReport>,
    /// Why tuning was asked for but not done (a corpus too small to cross-validate).
    #[serde(rename = "tuning_skipped")]
    pub skipped: Option<String>,
}

/// Trains `ovr` on `x` (starting from `warm`, as [`ValidOneVsRestParams::fit_warm`]) and, with
/// `tune` and enough documents, tunes thresholds and calibration on out-of-sample scores: from
/// refitted folds of the same run, or from folds trained from zero when `refit_epochs` is 0.
/// Records the `training` and `tuning` seconds; `stage` names the training progress bar.
#[allow(clippy::too_many_arguments)]
pub fn fit_and_tune(
    ovr: &ValidOneVsRestParams,
    tune: Option<&ValidTuneParams>,
    x: &CsrMatrix,
    labels: &LabelSets,
    warm: &[Option<LabelWeights>],
    progress: &dyn Progress,
    stage: &str,
    seconds: &mut BTreeMap<&'static str, f64>,
) -> Result<(OneVsRest, Option<Tuning>, TuningSummary)> {
    let (classifier, held_out, mut summary) =
        fit_held_out_if_tuning(ovr, tune, x, labels, warm, progress, stage, seconds)?;
    let Some((tune, oof)) = tune.zip(held_out) else {
        return Ok((classifier, None, summary));
    };
    let start = Instant::now();
    let (tuning, report) = tune.tune(&oof, labels)?;
    *seconds.entry("tuning").or_insert(0.0) += start.elapsed().as_secs_f64();
    summary.report = Some(report);
    Ok((classifier, Some(tuning), summary))
}

/// The first half of [`fit_and_tune`]: trains `ovr` and, when tuning is asked for and the
/// corpus is large enough, returns every document's out-of-fold decision values (best
/// first), for tuning or for fitting an ensemble on.
#[allow(clippy::too_many_arguments)]
pub fn fit_held_out_if_tuning(
    ovr: &ValidOneVsRestParams,
    tune: Option<&ValidTuneParams>,
    x: &CsrMatrix,
    labels: &LabelSets,
    warm: &[Option<LabelWeights>],
    progress: &dyn Progress,
    stage: &str,
    seconds: &mut BTreeMap<&'static str, f64>,
) -> Result<(OneVsRest, Option<OutOfFold>, TuningSummary)> {
    let summary = TuningSummary {
        report: None,
        skipped: tune.and_then(|t| t.too_few_documents(labels.rows.len())),
    };
    let tune = tune.filter(|_| summary.skipped.is_none());
    let start = Instant::now();
    let bar = progress.stage(stage, labels.n_labels as u64);
    let (classifier, held_out) = match tune.filter(|t| t.params().refit_epochs > 0) {
        Some(t) => {
            let (classifier, oof) = t.fit_held_out(ovr, x, labels, warm, &bar)?;
            (classifier, Some(oof))
        }
        None => (ovr.fit_warm(x, labels, warm, &bar)?, None),
    };
    bar.finish_and_clear();
    seconds.insert("training", start.elapsed().as_secs_f64());
    let Some(tune) = tune else {
        return Ok((classifier, None, summary));
    };
    let start = Instant::now();
    let oof = match held_out {
        Some(oof) => oof,
        None if !warm.is_empty() => {
            return Err(Error::param(
                "refit_epochs",
                "folds trained from zero cannot start from an existing model",
            ))
        }
        None => {
            let bar = progress.stage("cross-validating", tune.params().folds as u64);
            let oof = tune.out_of_fold(x, labels, ovr, &bar)?;
            bar.finish_and_clear();
            oof
        }
    };
    seconds.insert("tuning", start.elapsed().as_secs_f64());
    Ok((classifier, Some(oof), summary))
}

/// Blends two probabilities on the logit scale: `w = 1` gives `own`, `w = 0` gives `prior`.
fn blend_probabilities(own: f64, prior: f64, w: f64) -> f64 {
    let logit = |p: f64| {
        let p = p.clamp(1e-6, 1.0 - 1e-6);
        (p / (1.0 - p)).ln()
    };
    sigmoid(w * logit(own) + (1.0 - w) * logit(prior))
}

/// A descriptor's calibration: probability `σ(a·z + b)` of decision value `z`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Platt {
    pub a: f32,
    pub b: f32,
}

impl Platt {
    pub const IDENTITY: Platt = Platt { a: 1.0, b: 0.0 };

    #[inline]
    pub fn probability(&self, z: f32) -> f32 {
        sigmoid(self.a as f64 * z as f64 + self.b as f64) as f32
    }

    /// The decision value whose probability is `p` (the inverse of [`Self::probability`]).
    pub fn value_at(&self, p: f32) -> f32 {
        let p = (p as f64).clamp(1e-7, 1.0 - 1e-7);
        (((p / (1.0 - p)).ln() - self.b as f64) / self.a as f64) as f32
    }
}

/// One point of a Platt fit: decision value, target probability, weight.
type PlattPoint = (f64, f64, f64);

/// Minimises `Σ w·[log(1+e^s) − t·s] + λ/2·‖(a,b) − prior‖²` with `s = a·z + b` by Newton's
/// method with backtracking. The slope is kept positive so probabilities stay monotone.
fn fit_platt(points: &[PlattPoint], prior: Platt, lambda: f64) -> Platt {
    let (a0, b0) = (prior.a as f64, prior.b as f64);
    let objective = |a: f64, b: f64| {
        let loss: f64 = points
            .iter()
            .map(|&(z, t, w)| {
                let s = a * z + b;
                w * (log1p_exp(s) - t * s)
            })
            .sum();
        loss + 0.5 * lambda * ((a - a0).powi(2) + (b - b0).powi(2))
    };
    let (mut a, mut b) = (a0, b0);
    let mut current = objective(a, b);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for &(z, t, w) in points {
            let p = sigmoid(a * z + b);
            let d = w * (p - t);
            let h = w * p * (1.0 - p);
            ga += d * z;
            gb += d;
            haa += h * z * z;
            hab += h * z;
            hbb += h;
        }
        ga += lambda * (a - a0);
        gb += lambda * (b - b0);
        // A tiny ridge keeps the system solvable when every point is saturated.
        haa += lambda + 1e-9;
        hbb += lambda + 1e-9;
        let det = haa * hbb - hab * hab;
        if !(det.is_finite() && det > 0.0) {
            break;
        }
        let da = -(hbb * ga - hab * gb) / det;
        let db = -(haa * gb - hab * ga) / det;
        let mut step = 1.0;
        let mut improved = false;
        while step > 1e-8 {
            let (na, nb) = ((a + step * da).max(1e-3), b + step * db);
            let value = objective(na, nb);
            if value <= current + 1e-12 {
                let gain = current - value;
                a = na;
                b = nb;
                current = value;
                improved = gain > 1e-10 * (1.0 + current.abs());
                break;
            }
            step *= 0.5;
        }
        if !improved {
            break;
        }
    }
    Platt {
        a: a as f32,
        b: b as f32,
    }
}

/// One Platt fit over every descriptor's out-of-fold scores (no prior).
fn fit_shared_platt(per_label: &[Vec<(f32, bool)>], dropped: &[DroppedNegatives]) -> Platt {
    let mut points: Vec<PlattPoint> = per_label
        .iter()
        .flatten()
        .map(|&(z, gold)| (z as f64, if gold { 1.0 } else { 0.0 }, 1.0))
        .collect();
    points.extend(
        dropped
            .iter()
            .filter(|d| d.count > 0)
            .map(|d| (d.logit_sum / d.count as f64, 0.0, d.count as f64)),
    );
    fit_platt(&points, Platt::IDENTITY, 0.0)
}

/// A descriptor's own Platt fit, with Platt's smoothed targets and a prior on `shared`.
fn fit_label_platt(
    pairs: &[(f32, bool)],
    dropped: &DroppedNegatives,
    shared: Platt,
    prior_strength: f64,
) -> Platt {
    let n_pos = pairs.iter().filter(|p| p.1).count() as f64;
    let n_neg = (pairs.len() as f64 - n_pos) + dropped.count as f64;
    let t_pos = (n_pos + 1.0) / (n_pos + 2.0);
    let t_neg = 1.0 / (n_neg + 2.0);
    let mut points: Vec<PlattPoint> = pairs
        .iter()
        .map(|&(z, gold)| (z as f64, if gold { t_pos } else { t_neg }, 1.0))
        .collect();
    if dropped.count > 0 {
        points.push((
            dropped.logit_sum / dropped.count as f64,
            t_neg,
            dropped.count as f64,
        ));
    }
    fit_platt(&points, shared, prior_strength)
}

/// Sweeps a cut-off down a list of `(score, is gold)` sorted best first and returns the
/// F1-maximising cut as the midpoint between the last score taken and the next one, or
/// `None` when no cut gives a positive F1. `positives` counts all gold, kept or not.
fn best_cut(sorted: &[(f32, bool)], positives: u64, floor: f32) -> Option<(f32, f64)> {
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut best: Option<(usize, f64)> = None;
    for (i, &(score, gold)) in sorted.iter().enumerate() {
        if gold {
            tp += 1;
        } else {
            fp += 1;
        }
        // Only cut between distinct scores.
        if sorted.get(i + 1).is_some_and(|next| next.0 == score) {
            continue;
        }
        let f1 = 2.0 * tp as f64 / (tp + fp + positives) as f64;
        if f1 > best.map_or(0.0, |b| b.1) {
            best = Some((i, f1));
        }
    }
    best.map(|(i, f1)| {
        let taken = sorted[i].0;
        let next = sorted.get(i + 1).map_or(floor.min(taken - 1.0), |n| n.0);
        (0.5 * (taken + next), f1)
    })
}

/// The F1-optimal decision value of one descriptor, or `None` when no cut-off helps.
fn best_label_threshold(pairs: &[(f32, bool)], positives: u64) -> Option<f32> {
    let mut sorted: Vec<(f32, bool)> = pairs
        .iter()
        .copied()
        .filter(|p| p.0 >= KEEP_LOGIT)
        .collect();
    sorted.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    best_cut(&sorted, positives, KEEP_LOGIT).map(|(z, _)| z)
}

/// The single calibrated-probability threshold that maximises micro-F1 out of fold.
fn best_global_threshold(
    per_label: &[Vec<(f32, bool)>],
    calibration: &[Platt],
    positives: u64,
) -> f32 {
    let mut all: Vec<(f32, bool)> = per_label
        .iter()
        .zip(calibration)
        .flat_map(|(pairs, c)| {
            pairs
                .iter()
                .filter(|p| p.0 >= KEEP_LOGIT)
                .map(move |&(z, gold)| (c.probability(z), gold))
        })
        .collect();
    all.par_sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    best_cut(&all, positives, 0.0)
        .map(|(p, _)| p.max(0.0))
        .unwrap_or(0.5)
}

/// Per-descriptor thresholds that together maximise out-of-fold micro-F1: coordinate ascent
/// from `init`, each pass giving every descriptor the cut best for micro-F1 given the others.
fn micro_optimal_thresholds(
    per_label: &[Vec<(f32, bool)>],
    calibration: &[Platt],
    positives: &[u64],
    init: &[f32],
) -> Vec<f32> {
    let n_labels = per_label.len();
    let sorted: Vec<Vec<(f32, bool)>> = per_label
        .iter()
        .zip(calibration)
        .map(|(pairs, c)| {
            let mut v: Vec<(f32, bool)> = pairs
                .iter()
                .filter(|p| p.0 >= KEEP_LOGIT)
                .map(|&(z, g)| (c.probability(z), g))
                .collect();
            v.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
            v
        })
        .collect();
    let counts = |l: usize, t: f32| {
        let (mut tp, mut fp) = (0u64, 0u64);
        for &(_, g) in sorted[l].iter().take_while(|e| e.0 >= t) {
            if g {
                tp += 1
            } else {
                fp += 1
            }
        }
        (tp, fp)
    };
    let mut thresholds = init.to_vec();
    let mut tpfp: Vec<(u64, u64)> = (0..n_labels).map(|l| counts(l, thresholds[l])).collect();
    let total_p: u64 = positives.iter().sum();
    let (mut all_tp, mut all_fp) = tpfp
        .iter()
        .fold((0u64, 0u64), |s, x| (s.0 + x.0, s.1 + x.1));
    for _ in 0..MICRO_PASSES {
        for l in 0..n_labels {
            let others_tp = all_tp - tpfp[l].0;
            let others_fp = all_fp - tpfp[l].1;
            let objective = |tp: u64, fp: u64| {
                2.0 * (others_tp + tp) as f64 / (others_tp + others_fp + tp + fp + total_p) as f64
            };
            let mut best = (objective(0, 0), 1.0f32, 0u64, 0u64);
            let (mut tp, mut fp) = (0u64, 0u64);
            let v = &sorted[l];
            for (i, &(p, g)) in v.iter().enumerate() {
                if g {
                    tp += 1
                } else {
                    fp += 1
                }
                if v.get(i + 1).is_some_and(|n| n.0 == p) {
                    continue;
                }
                let value = objective(tp, fp);
                if value > best.0 {
                    let next = v.get(i + 1).map_or(0.0, |n| n.0);
                    best = (value, 0.5 * (p + next), tp, fp);
                }
            }
            thresholds[l] = best.1;
            tpfp[l] = (best.2, best.3);
            all_tp = others_tp + best.2;
            all_fp = others_fp + best.3;
        }
    }
    thresholds
}

/// A point of the global grid and the F1 it reaches out of fold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GridPoint {
    pub limit: usize,
    pub threshold: f32,
    pub f1: f64,
}

/// Best global `--limit`/`--threshold` pairs, as Annif's hyperparameter optimisation finds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalGrid {
    pub best_micro: GridPoint,
    pub best_doc: GridPoint,
}

impl GlobalGrid {
    /// Tries every limit in [`GRID_LIMITS`] with every threshold 0.00, 0.05, …, 0.95, always
    /// proposing at least the best descriptor, as `suggest` does.
    pub fn search(probs: &[Vec<(u32, f32)>], gold: &[Vec<u32>]) -> GlobalGrid {
        let total_gold: u64 = gold.iter().map(|g| g.len() as u64).sum();
        let n_docs = probs.len().max(1) as f64;
        let points: Vec<(GridPoint, GridPoint)> = GRID_LIMITS
            .flat_map(|limit| (0..GRID_STEPS).map(move |s| (limit, s as f32 / GRID_STEPS as f32)))
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|(limit, threshold)| {
                let (mut tp, mut proposed, mut doc_f1) = (0u64, 0u64, 0.0);
                for (ranked, gold) in probs.iter().zip(gold) {
                    let mut n = ranked
                        .iter()
                        .take(limit)
                        .take_while(|e| e.1 >= threshold)
                        .count();
                    if n == 0 {
                        n = ranked.len().min(1);
                    }
                    let hits = ranked[..n].iter().filter(|e| gold.contains(&e.0)).count();
                    tp += hits as u64;
                    proposed += n as u64;
                    doc_f1 += 2.0 * hits as f64 / (n + gold.len()).max(1) as f64;
                }
                let micro = 2.0 * tp as f64 / (proposed + total_gold).max(1) as f64;
                (
                    GridPoint {
                        limit,
                        threshold,
                        f1: micro,
                    },
                    GridPoint {
                        limit,
                        threshold,
                        f1: doc_f1 / n_docs,
                    },
                )
            })
            .collect();
        let best = |pick: fn(&(GridPoint, GridPoint)) -> GridPoint| {
            points
                .iter()
                .map(pick)
                .fold(None::<GridPoint>, |best, p| match best {
                    Some(b) if b.f1 >= p.f1 => Some(b),
                    _ => Some(p),
                })
                .expect("the grid is not empty")
        };
        GlobalGrid {
            best_micro: best(|p| p.0),
            best_doc: best(|p| p.1),
        }
    }
}

/// Out-of-fold figures of the tuned per-descriptor thresholds (limit [`KEEP_TOP`], at least
/// one). Optimistic: the thresholds were chosen on these very scores.
struct OofFigures {
    micro_f1: f64,
    macro_f1: f64,
    doc_f1: f64,
}

impl OofFigures {
    fn measure(
        probs: &[Vec<(u32, f32)>],
        gold: &[Vec<u32>],
        thresholds: &[f32],
        n_labels: usize,
    ) -> Self {
        let mut tp = vec![0u64; n_labels];
        let mut fp = vec![0u64; n_labels];
        let mut support = vec![0u64; n_labels];
        let mut doc_f1 = 0.0;
        for (ranked, gold) in probs.iter().zip(gold) {
            let mut chosen: Vec<u32> = ranked
                .iter()
                .take(KEEP_TOP)
                .filter(|e| e.1 >= thresholds[e.0 as usize])
                .map(|e| e.0)
                .collect();
            if chosen.is_empty() {
                chosen.extend(ranked.first().map(|e| e.0));
            }
            let mut hits = 0;
            for &l in &chosen {
                if gold.contains(&l) {
                    tp[l as usize] += 1;
                    hits += 1;
                } else {
                    fp[l as usize] += 1;
                }
            }
            for &g in gold {
                support[g as usize] += 1;
            }
            doc_f1 += 2.0 * hits as f64 / (chosen.len() + gold.len()).max(1) as f64;
        }
        let f1 = |tp: u64, fp: u64, fn_: u64| {
            if tp == 0 {
                0.0
            } else {
                2.0 * tp as f64 / (2 * tp + fp + fn_) as f64
            }
        };
        let (all_tp, all_fp, all_support) = (
            tp.iter().sum::<u64>(),
            fp.iter().sum::<u64>(),
            support.iter().sum::<u64>(),
        );
        let with_support: Vec<usize> = (0..n_labels).filter(|&l| support[l] > 0).collect();
        OofFigures {
            micro_f1: f1(all_tp, all_fp, all_support - all_tp),
            macro_f1: with_support
                .iter()
                .map(|&l| f1(tp[l], fp[l], support[l] - tp[l]))
                .sum::<f64>()
                / with_support.len().max(1) as f64,
            doc_f1: doc_f1 / probs.len().max(1) as f64,
        }
    }
}

/// What tuning stores in the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    /// Decision value → probability shown, one map for every descriptor so that calibration
    /// never reorders a document's descriptors.
    pub calibration: Platt,
    /// Per descriptor: propose when the calibrated probability reaches this.
    pub thresholds: Vec<f32>,
    /// The best single threshold, the fallback of descriptors with too few positives.
    pub global_threshold: f32,
    pub folds: usize,
    pub grid: GlobalGrid,
}

impl Tuning {
    /// Checks a loaded tuning against the model's descriptor count.
    pub fn validate(&self, n_labels: usize) -> std::result::Result<(), String> {
        if self.thresholds.len() != n_labels {
            return Err("tuned thresholds do not match the descriptors".into());
        }
        let probability = |p: f32| (0.0..=1.0).contains(&p);
        if !self.thresholds.iter().all(|&t| probability(t)) || !probability(self.global_threshold) {
            return Err("a tuned threshold is not a probability".into());
        }
        let c = &self.calibration;
        if !(c.a.is_finite() && c.a > 0.0 && c.b.is_finite()) {
            return Err("a calibration is not finite and increasing".into());
        }
        Ok(())
    }
}

/// What tuning found, for the training summary.
#[derive(Debug, Clone, Serialize)]
pub struct TuningReport {
    pub folds: usize,
    pub global_threshold: f32,
    pub shared_calibration: Platt,
    /// Descriptors with enough positives for a threshold of their own (the others are
    /// blended toward `global_threshold`).
    pub descriptors_with_own_threshold: usize,
    pub best_for_micro_f1: GridPoint,
    pub best_for_doc_f1: GridPoint,
    pub oof_micro_f1: f64,
    pub oof_macro_f1: f64,
    pub oof_doc_f1: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_cut_maximises_f1_between_distinct_scores() {
        // Three gold, one of them not kept. Cutting after 0.9 gives F1 = 2/(1+3) = 0.5, after
        // 0.8 gives 2·2/(2+3) = 0.8 (best), after 0.7 gives 4/(3+3), after 0.2 gives 4/(4+3).
        let sorted = [(0.9, true), (0.8, true), (0.7, false), (0.2, false)];
        let (cut, f1) = best_cut(&sorted, 3, 0.0).unwrap();
        assert!((cut - 0.75).abs() < 1e-6);
        assert!((f1 - 0.8).abs() < 1e-12);
        // Ties are never split: both 0.8s are in or out together.
        let tied = [(0.8, true), (0.8, false), (0.1, false)];
        let (cut, _) = best_cut(&tied, 1, 0.0).unwrap();
        assert!((cut - 0.45).abs() < 1e-6);
        // No positive above any negative and none kept: nothing to choose.
        assert!(best_cut(&[(0.5, false)], 1, 0.0).is_none());
    }

    #[test]
    fn few_positives_pull_the_threshold_toward_the_global_one() {
        let w = |n: f64, prior: f64| n / (n + prior);
        let p = blend_probabilities(0.05, 0.4, w(1.0, 2.0));
        assert!(p > 0.05 && p < 0.4);
        assert!((blend_probabilities(0.05, 0.4, 1.0) - 0.05).abs() < 1e-9);
        assert!((blend_probabilities(0.05, 0.4, 0.0) - 0.4).abs() < 1e-9);
        // More positives: closer to the descriptor's own choice.
        assert!(blend_probabilities(0.05, 0.4, w(50.0, 2.0)) < p);
    }

    #[test]
    fn platt_recovers_a_known_map() {
        // Targets are exactly σ(2z − 1): the fit must find a = 2, b = −1.
        let points: Vec<PlattPoint> = (-30..=30)
            .map(|i| {
                let z = i as f64 / 10.0;
                (z, sigmoid(2.0 * z - 1.0), 1.0)
            })
            .collect();
        let fit = fit_platt(&points, Platt::IDENTITY, 0.0);
        assert!(
            (fit.a - 2.0).abs() < 1e-3 && (fit.b + 1.0).abs() < 1e-3,
            "{fit:?}"
        );
        // A strong prior keeps the prior's values.
        let held = fit_platt(&points, Platt { a: 1.0, b: 0.0 }, 1e9);
        assert!(
            (held.a - 1.0).abs() < 1e-3 && held.b.abs() < 1e-3,
            "{held:?}"
        );
    }

    #[test]
    fn folds_spread_rare_descriptors_and_balance_sizes() {
        // Label 0 on 3 documents, label 1 on all others.
        let mut rows = vec![vec![0u32], vec![0], vec![0, 1]];
        rows.extend((0..27).map(|_| vec![1u32]));
        let fold = fold_assignment(&rows, 2, 3, 7);
        let mut folds_of_rare: Vec<usize> = fold[..3].to_vec();
        folds_of_rare.sort_unstable();
        assert_eq!(folds_of_rare, vec![0, 1, 2]);
        for f in 0..3 {
            assert_eq!(fold.iter().filter(|&&x| x == f).count(), 10);
        }
    }

    #[test]
    fn out_of_fold_scores_every_document_once_and_tuning_is_consistent() {
        use crate::model::OneVsRestParams;
        // Feature l marks label l; feature 3 is noise. Label 2: documents with neither 0 nor 1.
        let indicator = |on: bool| if on { 1.0 } else { 0.0 };
        let dense: Vec<Vec<f32>> = (0..40)
            .map(|i| {
                vec![
                    indicator(i % 2 == 0),
                    indicator(i % 3 == 0),
                    indicator(i % 2 != 0 && i % 3 != 0),
                    (i % 5) as f32 / 5.0,
                ]
            })
            .collect();
        let rows: Vec<Vec<u32>> = (0..40)
            .map(|i| {
                let mut r = Vec::new();
                if i % 2 == 0 {
                    r.push(0);
                }
                if i % 3 == 0 {
                    r.push(1);
                }
                if r.is_empty() {
                    r.push(2);
                }
                r
            })
            .collect();
        let labels = LabelSets { n_labels: 3, rows };
        let x = CsrMatrix::from_dense(&dense);
        let ovr = OneVsRestParams::default().check().unwrap();
        let params = TuneParams {
            folds: 4,
            ..TuneParams::default()
        }
        .check()
        .unwrap();
        let oof = params
            .out_of_fold(&x, &labels, &ovr, &ProgressBar::hidden())
            .unwrap();
        for l in 0..3u32 {
            let kept = oof
                .docs
                .iter()
                .filter(|e| e.iter().any(|&(m, _)| m == l))
                .count() as u64;
            assert_eq!(kept + oof.dropped[l as usize].count, 40);
        }
        for (entries, gold) in oof.docs.iter().zip(&labels.rows) {
            assert!(gold.iter().all(|g| entries.iter().any(|e| e.0 == *g)));
            assert!(entries.windows(2).all(|w| w[0].1 >= w[1].1), "best first");
        }
        let (tuning, report) = params.tune(&oof, &labels).unwrap();
        tuning.validate(3).unwrap();
        // The problem is separable: out of fold, tuned thresholds get every label right.
        assert!(report.oof_micro_f1 > 0.95, "{report:?}");
        assert!(tuning.validate(2).is_err());
        let broken = Tuning {
            thresholds: vec![0.5, 1.5, 0.5],
            ..tuning
        };
        assert!(broken.validate(3).is_err());
    }

    #[test]
    fn grid_finds_the_limit_and_threshold_that_fit_the_data() {
        // Every document has two gold descriptors, ranked first with p 0.9 and 0.6; a wrong
        // one follows at 0.3. Best: threshold in (0.3, 0.6] or limit 2, F1 = 1.
        let probs: Vec<Vec<(u32, f32)>> = (0..10)
            .map(|_| vec![(0, 0.9), (1, 0.6), (2, 0.3)])
            .collect();
        let gold: Vec<Vec<u32>> = (0..10).map(|_| vec![0, 1]).collect();
        let grid = GlobalGrid::search(&probs, &gold);
        assert!((grid.best_micro.f1 - 1.0).abs() < 1e-12);
        assert!((grid.best_doc.f1 - 1.0).abs() < 1e-12);
        let p = grid.best_micro;
        assert!(
            p.limit == 2 || (p.threshold > 0.3 && p.threshold <= 0.6),
            "{p:?}"
        );
    }
}
