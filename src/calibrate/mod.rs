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

mod folds;
mod grid;
mod platt;
mod thresholds;

pub use folds::{fold_assignment, DroppedNegatives, LabelHeldOut, OutOfFold};
pub use grid::{GlobalGrid, GridPoint};
pub use platt::Platt;
use platt::*;
use thresholds::*;

use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::classifier::logistic::HeldOutFolds;
use crate::classifier::logistic::{log1p_exp, sigmoid, XorShift};
use crate::classifier::{LabelSets, LabelWeights, OneVsRest, SolvedLabel, ValidOneVsRestParams};
use crate::error::{Error, Result};
use crate::features::sparse::CsrMatrix;
use crate::metrics::top_k;
use crate::progress::{NoProgress, Progress, Stage};
use crate::stages::Stages;

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

/// Fewest documents per cross-validation fold for the folds asked for; a smaller corpus is
/// tuned with fewer folds ([`ValidTuneParams::folds_for`]).
pub const MIN_DOCS_PER_FOLD: usize = 10;
/// The folds of a corpus too small for the folds asked for, while it has
/// `SMALL_CORPUS_FOLDS × MIN_DOCS_PER_FOLD` documents; below that, leave-one-out.
pub const SMALL_CORPUS_FOLDS: usize = 3;

/// Passes of the micro-F1 coordinate ascent (it settles in two or three).
const MICRO_PASSES: usize = 4;

/// What the per-descriptor thresholds maximise out of fold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThresholdObjective {
    /// Micro-F1 over all descriptors together (fewer false positives from weak descriptors).
    MicroF1,
    /// Each descriptor's own F1 (favours recall of weak descriptors: macro-F1).
    DescriptorF1,
}

/// Tuning settings as given by the user; [`TuneParams::check`] validates them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

impl ValidTuneParams {
    pub fn params(&self) -> &TuneParams {
        &self.0
    }

    /// Why `n_docs` documents are too few to tune on, if they are: one document cannot be
    /// cross-validated (a smaller corpus is tuned with fewer folds, see [`Self::folds_for`]).
    pub fn too_few_documents(&self, n_docs: usize) -> Option<String> {
        (n_docs < 2)
            .then(|| format!("{n_docs} document(s) are too few to cross-validate (tuning needs 2)"))
    }

    /// The folds `n_docs` documents are cross-validated with: those asked for when every fold
    /// gets [`MIN_DOCS_PER_FOLD`] documents, else [`SMALL_CORPUS_FOLDS`] when they do, else
    /// one per document (leave-one-out). *Why not skip tuning:* a model of 30 documents
    /// needs its thresholds and its fusion more than one of 3,000, and every document held
    /// out once is all the evidence there is; fewer folds keep each fold model close to the
    /// whole one.
    pub fn folds_for(&self, n_docs: usize) -> usize {
        let k = self.0.folds;
        if n_docs >= k * MIN_DOCS_PER_FOLD {
            k
        } else if k > SMALL_CORPUS_FOLDS && n_docs >= SMALL_CORPUS_FOLDS * MIN_DOCS_PER_FOLD {
            SMALL_CORPUS_FOLDS
        } else {
            n_docs.max(2)
        }
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
        let shared_everywhere = vec![shared; n_labels];
        let (global, global_shared) = rayon::join(
            || best_global_threshold(&per_label, &calibration, total_positives),
            || best_global_threshold(&per_label, &shared_everywhere, total_positives),
        );
        // Each descriptor's own choice: the cut maximising its F1 …
        let own: Vec<Option<f32>> = (0..n_labels)
            .into_par_iter()
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
        // Ranking stays by decision value: one shared map turns values into the probabilities
        // shown, and each descriptor's threshold, chosen on its own calibrated scale, is moved
        // to the shared scale at the same decision value, so it cuts exactly where it did.
        // Too few positives to trust: the cut is blended toward the best single cut of the
        // shared scale, on that scale. *Why there and not on the descriptor's own scale:* the
        // own calibration of a descriptor with one or two documents is fitted to those alone
        // (a document no fold model could learn looks like "never right"), and moving even
        // the global cut through it could ask a one-document descriptor for 0.998. A
        // descriptor has no cut of its own when no fold model could rank one of its
        // documents: with one document, the fold holding it out trained without the
        // descriptor, so its out-of-fold value says nothing about where to cut.
        let min_positives = self.0.min_positives as f64;
        let mut own_thresholds = 0;
        let thresholds: Vec<f32> = own
            .iter()
            .zip(&calibration)
            .zip(&positives)
            .zip(&per_label)
            .map(|(((&t, own_scale), &n), pairs)| {
                let own_cut = shared.probability(own_scale.value_at(t));
                let ranked_a_positive = pairs.iter().any(|&(_, gold)| gold);
                let w = if ranked_a_positive && n >= 2 {
                    (n as f64 / min_positives).min(1.0)
                } else {
                    0.0
                };
                if w == 1.0 {
                    own_thresholds += 1;
                    own_cut
                } else {
                    blend_probabilities(own_cut as f64, global_shared as f64, w) as f32
                }
            })
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
            global_threshold: global_shared,
            folds: oof.folds,
            grid: grid.clone(),
        };
        let report = TuningReport {
            folds: oof.folds,
            global_threshold: global_shared,
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
/// Times the `training` and `tuning` stages in `stages`; `stage` names the training progress
/// bar.
#[allow(clippy::too_many_arguments)]
pub fn fit_and_tune(
    ovr: &ValidOneVsRestParams,
    tune: Option<&ValidTuneParams>,
    x: &CsrMatrix,
    labels: &LabelSets,
    warm: &[Option<LabelWeights>],
    progress: &dyn Progress,
    stage: &str,
    stages: &mut Stages,
) -> Result<(OneVsRest, Option<Tuning>, TuningSummary)> {
    let (classifier, held_out, mut summary) =
        fit_held_out_if_tuning(ovr, tune, x, labels, warm, progress, stage, stages)?;
    let Some((tune, oof)) = tune.zip(held_out) else {
        return Ok((classifier, None, summary));
    };
    let (tuning, report) = stages.time("tuning", || tune.tune(&oof, labels))?;
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
    stages: &mut Stages,
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
            let (classifier, oof) = t.fit_held_out(ovr, x, labels, warm, bar.as_ref())?;
            (classifier, Some(oof))
        }
        None => (ovr.fit_warm(x, labels, warm, bar.as_ref())?, None),
    };
    bar.finish();
    stages.since("training", start);
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
            let folds = tune.folds_for(labels.rows.len());
            let bar = progress.stage("cross-validating", folds as u64);
            let oof = tune.out_of_fold(x, labels, ovr, bar.as_ref())?;
            bar.finish();
            oof
        }
    };
    stages.since("tuning", start);
    Ok((classifier, Some(oof), summary))
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
        use crate::classifier::OneVsRestParams;
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
        let oof = params.out_of_fold(&x, &labels, &ovr, &NoProgress).unwrap();
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
