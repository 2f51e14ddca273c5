//! Thresholds: each descriptor's F1-optimal cut, the best global threshold, the micro-F1
//! coordinate ascent, and the out-of-fold figures of the thresholds chosen.

use super::*;
use crate::metrics::f1_of_counts;

/// Sweeps a cut-off down a list of `(score, is gold)` sorted best first and returns the
/// F1-maximising cut as the midpoint between the last score taken and the next one, or
/// `None` when no cut gives a positive F1. `positives` counts all gold, kept or not.
pub(super) fn best_cut(sorted: &[(f32, bool)], positives: u64, floor: f32) -> Option<(f32, f64)> {
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
        let f1 = f1_of_counts(tp, tp + fp, positives);
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
pub(super) fn best_label_threshold(pairs: &[(f32, bool)], positives: u64) -> Option<f32> {
    let mut sorted: Vec<(f32, bool)> = pairs
        .iter()
        .copied()
        .filter(|p| p.0 >= KEEP_LOGIT)
        .collect();
    sorted.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    best_cut(&sorted, positives, KEEP_LOGIT).map(|(z, _)| z)
}

/// The single calibrated-probability threshold that maximises micro-F1 out of fold.
pub(super) fn best_global_threshold(
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
pub(super) fn micro_optimal_thresholds(
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
                f1_of_counts(others_tp + tp, others_tp + others_fp + tp + fp, total_p)
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

/// Out-of-fold figures of the tuned per-descriptor thresholds (limit [`KEEP_TOP`], at least
/// one). Optimistic: the thresholds were chosen on these very scores.
pub(super) struct OofFigures {
    pub(super) micro_f1: f64,
    pub(super) macro_f1: f64,
    pub(super) doc_f1: f64,
}

impl OofFigures {
    pub(super) fn measure(
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
            doc_f1 += f1_of_counts(hits as u64, chosen.len() as u64, gold.len() as u64);
        }
        let f1 = |tp: u64, fp: u64, fn_: u64| f1_of_counts(tp, tp + fp, tp + fn_);
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
