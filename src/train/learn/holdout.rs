//! The held-out check of an update, and how well a batch represents the model's documents.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::Serialize;

use rustc_hash::FxHashSet;

use super::{MIN_HOLDOUT_DOCS, UNREPRESENTATIVE_BY, WORSE_BY};
use crate::analysis::Analyzer;
use crate::model::Model;
use crate::predict::{ranking_of, DecisionRule};

/// Set figures of a model on held-out documents, decided as `suggest` and `eval` decide by
/// default (the model's tuned thresholds, or 0.5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HeldOutFigures {
    pub documents: usize,
    pub micro_f1: f64,
    pub p_at_1: f64,
}

/// How well the new documents represent what the model was trained on (a batch of new
/// topics lacks most of the model's descriptors). An update trains on the model's documents
/// as well, so it forgets none of them; this says what kind of batch it was.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coverage {
    /// The model's descriptors that no new document has.
    pub absent_descriptors: usize,
    /// Their share of the model's training assignments.
    pub absent_share: f64,
    /// The share a random sample of as many of the model's training documents would lack.
    pub expected_absent_share: f64,
    /// `absent_share` exceeds the expected by more than [`UNREPRESENTATIVE_BY`].
    pub unrepresentative: bool,
}

impl Coverage {
    pub(super) fn measure(
        model: &Model,
        new_counts: &BTreeMap<&str, u32>,
        n_new: usize,
    ) -> Coverage {
        let total: f64 = model.info.label_documents.iter().map(|&m| m as f64).sum();
        let n_docs = model.info.documents.max(1) as f64;
        let (mut absent, mut absent_share, mut expected) = (0, 0.0, 0.0);
        for (d, &m) in model.descriptors.iter().zip(&model.info.label_documents) {
            let share = m as f64 / total.max(1.0);
            // A sample of n documents misses a descriptor of m in N with probability
            // about (1 − m/N)^n.
            expected += share * (1.0 - (m as f64 / n_docs).min(1.0)).powi(n_new as i32);
            if !new_counts.contains_key(d.as_str()) {
                absent += 1;
                absent_share += share;
            }
        }
        Coverage {
            absent_descriptors: absent,
            absent_share,
            expected_absent_share: expected,
            unrepresentative: absent_share > expected + UNREPRESENTATIVE_BY,
        }
    }
}

/// An update made without the held-out documents, against the model it started from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HoldoutCheck {
    /// On every held-out document.
    pub before: HeldOutFigures,
    pub after: HeldOutFigures,
    /// On the held-out documents whose descriptors the model already had: what it knew
    /// before, and may have forgotten (absent when fewer than [`MIN_HOLDOUT_DOCS`]).
    pub known_before: Option<HeldOutFigures>,
    pub known_after: Option<HeldOutFigures>,
    /// A micro-F1 dropped by more than [`WORSE_BY`].
    pub worse: bool,
}

impl HoldoutCheck {
    /// One line for people: the figures and the verdict.
    pub fn describe(&self) -> String {
        let known = match (&self.known_before, &self.known_after) {
            (Some(b), Some(a)) => format!(
                "; on the {} whose descriptors the model had: {:.4} -> {:.4}",
                a.documents, b.micro_f1, a.micro_f1
            ),
            _ => String::new(),
        };
        format!(
            "micro-F1 on {} held-out new documents: {:.4} before the update, {:.4} after{known}",
            self.after.documents, self.before.micro_f1, self.after.micro_f1
        )
    }
}

/// Measures `before` and `after` on held-out rows (vectorised with the vocabulary both
/// share), on all of them and on those whose descriptors `before` already had.
pub(super) fn compare(
    before: &Model,
    after: &Model,
    analyzer: &Analyzer,
    texts: &[&str],
    gold: &[&[String]],
) -> HoldoutCheck {
    let known_names: FxHashSet<&str> = before.descriptors.iter().map(String::as_str).collect();
    let known: Vec<usize> = (0..texts.len())
        .filter(|&i| gold[i].iter().all(|d| known_names.contains(d.as_str())))
        .collect();
    let all: Vec<usize> = (0..texts.len()).collect();
    let figures =
        |model: &Model, ids: &[usize]| held_out_figures(model, analyzer, texts, gold, ids);
    let (before_all, after_all) = (figures(before, &all), figures(after, &all));
    let (known_before, known_after) = if known.len() >= MIN_HOLDOUT_DOCS {
        (Some(figures(before, &known)), Some(figures(after, &known)))
    } else {
        (None, None)
    };
    let dropped = |b: &HeldOutFigures, a: &HeldOutFigures| a.micro_f1 < b.micro_f1 - WORSE_BY;
    let worse = dropped(&before_all, &after_all)
        || matches!((&known_before, &known_after), (Some(b), Some(a)) if dropped(b, a));
    HoldoutCheck {
        before: before_all,
        after: after_all,
        known_before,
        known_after,
        worse,
    }
}

/// Micro-F1 and P@1 of `model` on the texts `ids`, with the decisions `suggest` makes by
/// default: its ranking, the best [`DecisionRule::default`] `limit`, the model's thresholds.
pub(super) fn held_out_figures(
    model: &Model,
    analyzer: &Analyzer,
    texts: &[&str],
    gold: &[&[String]],
    ids: &[usize],
) -> HeldOutFigures {
    let rule = DecisionRule::default();
    let thresholds = model.label_thresholds();
    let counts: Vec<(u64, u64, u64, u64)> = ids
        .par_iter()
        .map(|&i| {
            let ranked: Vec<(usize, f32)> = ranking_of(model, analyzer, texts[i], rule.limit)
                .ranked
                .iter()
                .map(|r| (r.label, model.probability(r.decision_value)))
                .collect();
            let is_gold = |l: usize| gold[i].iter().any(|g| *g == model.descriptors[l]);
            let decided = rule.decide(&ranked, thresholds);
            let tp = decided.iter().filter(|&&(l, _)| is_gold(l)).count() as u64;
            let first = ranked.first().is_some_and(|&(l, _)| is_gold(l)) as u64;
            (
                tp,
                decided.len() as u64 - tp,
                gold[i].len() as u64 - tp,
                first,
            )
        })
        .collect();
    let (tp, fp, fn_, first) = counts.iter().fold((0, 0, 0, 0), |a, c| {
        (a.0 + c.0, a.1 + c.1, a.2 + c.2, a.3 + c.3)
    });
    let micro_f1 = if tp == 0 {
        0.0
    } else {
        2.0 * tp as f64 / (2 * tp + fp + fn_) as f64
    };
    HeldOutFigures {
        documents: ids.len(),
        micro_f1,
        p_at_1: first as f64 / ids.len().max(1) as f64,
    }
}
