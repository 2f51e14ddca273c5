//! Evaluation: how precise and complete the suggestions are on a labelled corpus.
//!
//! Ranking metrics (P@k, R@k, nDCG@k) use the ranked scores; set metrics (micro/macro/document
//! F1) use the decisions of a [`DecisionRule`]. Gold descriptors the model never saw in training
//! are counted as misses in every headline figure and reported separately.

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::corpus::Corpus;
use crate::suggest::{DecisionRule, Suggester};

/// Depth of the ranking kept per document (covers every @k reported).
const RANK_DEPTH: usize = 10;

/// The evaluation figures; field names are the `--json` keys.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub docs: usize,
    pub p_at_1: f64,
    pub p_at_3: f64,
    pub p_at_5: f64,
    pub r_at_5: f64,
    pub ndcg_at_5: f64,
    pub micro_precision: f64,
    pub micro_recall: f64,
    pub micro_f1: f64,
    pub macro_f1: f64,
    pub doc_f1: f64,
    pub true_positives: u64,
    pub false_positives: u64,
    pub false_negatives: u64,
    /// Gold assignments in the test corpus.
    pub gold_assignments: u64,
    /// Descriptors with test support (denominator of `macro_f1`).
    pub descriptors_with_support: usize,
    /// Test descriptors the model never saw in training, and what they account for.
    pub unseen_descriptors: usize,
    pub unseen_docs: usize,
    pub unseen_assignments: u64,
    pub threshold: f32,
    pub limit: usize,
}

/// Per-document outcome, kept small so evaluation of large corpora stays cheap.
struct DocOutcome {
    ranked: Vec<usize>,
    decided: usize,
    gold: Vec<u32>,
    gold_unseen: usize,
}

/// Scores every document of `corpus` and computes the figures.
pub fn evaluate(suggester: &Suggester, corpus: &Corpus, rule: &DecisionRule) -> EvalReport {
    evaluate_detailed(suggester, corpus, rule).report
}

/// The figures with the per-document decisions behind them, for breakdowns (by domain …).
#[derive(Debug, Clone)]
pub struct EvalDetail {
    pub report: EvalReport,
    /// Label names: the model's descriptors, then gold descriptors it never saw.
    pub labels: Vec<String>,
    pub documents: Vec<DocDecision>,
}

/// One document's gold and proposed labels (indices into [`EvalDetail::labels`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocDecision {
    pub gold: Vec<u32>,
    pub proposed: Vec<u32>,
}

/// [`evaluate`], keeping the decisions.
pub fn evaluate_detailed(
    suggester: &Suggester,
    corpus: &Corpus,
    rule: &DecisionRule,
) -> EvalDetail {
    let model = suggester.model();
    let index = model.descriptor_index();
    let n_known = model.descriptors.len();
    // Unseen gold descriptors get indices after the known ones, so they count in macro-F1.
    let mut unseen: FxHashMap<&str, u32> = FxHashMap::default();
    let gold: Vec<(Vec<u32>, usize)> = corpus
        .documents
        .iter()
        .map(|d| {
            let mut ids = Vec::new();
            let mut n_unseen = 0;
            for desc in &d.descriptors {
                match index.get(desc.as_str()) {
                    Some(&i) => ids.push(i),
                    None => {
                        let next = (n_known + unseen.len()) as u32;
                        ids.push(*unseen.entry(desc.as_str()).or_insert(next));
                        n_unseen += 1;
                    }
                }
            }
            (ids, n_unseen)
        })
        .collect();

    let depth = RANK_DEPTH.max(rule.limit);
    let outcomes: Vec<DocOutcome> = corpus
        .documents
        .par_iter()
        .zip(gold)
        .map(|(doc, (gold, gold_unseen))| {
            let ranked = suggester.ranked(&doc.body, depth);
            let decided = rule.cut(&ranked);
            DocOutcome {
                ranked: ranked.into_iter().map(|(l, _)| l).collect(),
                decided,
                gold,
                gold_unseen,
            }
        })
        .collect();

    let n_labels = n_known + unseen.len();
    let mut tp = vec![0u64; n_labels];
    let mut fp = vec![0u64; n_labels];
    let mut support = vec![0u64; n_labels];
    let (mut p1, mut p3, mut p5, mut r5, mut ndcg5, mut doc_f1) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let mut unseen_docs = 0;
    let mut unseen_assignments = 0u64;
    for o in &outcomes {
        let is_gold = |l: usize| o.gold.contains(&(l as u32));
        let hits_at = |k: usize| o.ranked.iter().take(k).filter(|&&l| is_gold(l)).count() as f64;
        p1 += hits_at(1);
        p3 += hits_at(3) / 3.0;
        p5 += hits_at(5) / 5.0;
        r5 += hits_at(5) / o.gold.len() as f64;
        ndcg5 += ndcg(&o.ranked, &is_gold, o.gold.len(), 5);
        for &g in &o.gold {
            support[g as usize] += 1;
        }
        let mut doc_tp = 0;
        for &l in &o.ranked[..o.decided] {
            if is_gold(l) {
                tp[l] += 1;
                doc_tp += 1;
            } else {
                fp[l] += 1;
            }
        }
        doc_f1 += 2.0 * doc_tp as f64 / (o.decided + o.gold.len()) as f64;
        if o.gold_unseen > 0 {
            unseen_docs += 1;
            unseen_assignments += o.gold_unseen as u64;
        }
    }
    let n = outcomes.len().max(1) as f64;
    let total_tp: u64 = tp.iter().sum();
    let total_fp: u64 = fp.iter().sum();
    let gold_assignments: u64 = support.iter().sum();
    let total_fn = gold_assignments - total_tp;
    let micro_precision = ratio(total_tp, total_tp + total_fp);
    let micro_recall = ratio(total_tp, gold_assignments);
    let supported: Vec<usize> = (0..n_labels).filter(|&l| support[l] > 0).collect();
    let macro_f1 = supported
        .iter()
        .map(|&l| ratio(2 * tp[l], 2 * tp[l] + fp[l] + (support[l] - tp[l])))
        .sum::<f64>()
        / supported.len().max(1) as f64;

    let mut labels = model.descriptors.clone();
    let mut unseen_names: Vec<(&str, u32)> = unseen.iter().map(|(&n, &i)| (n, i)).collect();
    unseen_names.sort_unstable_by_key(|&(_, i)| i);
    labels.extend(unseen_names.into_iter().map(|(n, _)| n.to_string()));
    let documents = outcomes
        .iter()
        .map(|o| DocDecision {
            gold: o.gold.clone(),
            proposed: o.ranked[..o.decided].iter().map(|&l| l as u32).collect(),
        })
        .collect();
    let report = EvalReport {
        docs: outcomes.len(),
        p_at_1: p1 / n,
        p_at_3: p3 / n,
        p_at_5: p5 / n,
        r_at_5: r5 / n,
        ndcg_at_5: ndcg5 / n,
        micro_precision,
        micro_recall,
        micro_f1: f1(micro_precision, micro_recall),
        macro_f1,
        doc_f1: doc_f1 / n,
        true_positives: total_tp,
        false_positives: total_fp,
        false_negatives: total_fn,
        gold_assignments,
        descriptors_with_support: supported.len(),
        unseen_descriptors: unseen.len(),
        unseen_docs,
        unseen_assignments,
        threshold: rule.threshold,
        limit: rule.limit,
    };
    EvalDetail {
        report,
        labels,
        documents,
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

/// Binary-gain nDCG@k with a log2 discount; the ideal ranking puts all gold labels first.
fn ndcg(ranked: &[usize], is_gold: &dyn Fn(usize) -> bool, n_gold: usize, k: usize) -> f64 {
    let discount = |rank: usize| 1.0 / ((rank + 2) as f64).log2();
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .filter(|&(_, &l)| is_gold(l))
        .map(|(r, _)| discount(r))
        .sum();
    let ideal: f64 = (0..n_gold.min(k)).map(discount).sum();
    if ideal == 0.0 {
        0.0
    } else {
        dcg / ideal
    }
}

impl EvalReport {
    /// A readable table of the figures.
    pub fn to_table(&self) -> String {
        let rows: Vec<(&str, String)> = vec![
            ("documents", self.docs.to_string()),
            ("P@1", format!("{:.4}", self.p_at_1)),
            ("P@3", format!("{:.4}", self.p_at_3)),
            ("P@5", format!("{:.4}", self.p_at_5)),
            ("R@5", format!("{:.4}", self.r_at_5)),
            ("nDCG@5", format!("{:.4}", self.ndcg_at_5)),
            ("micro precision", format!("{:.4}", self.micro_precision)),
            ("micro recall", format!("{:.4}", self.micro_recall)),
            ("micro F1", format!("{:.4}", self.micro_f1)),
            (
                "macro F1",
                format!(
                    "{:.4}  (over {} descriptors with support)",
                    self.macro_f1, self.descriptors_with_support
                ),
            ),
            ("document F1", format!("{:.4}", self.doc_f1)),
            (
                "TP / FP / FN",
                format!(
                    "{} / {} / {}",
                    self.true_positives, self.false_positives, self.false_negatives
                ),
            ),
            (
                "unseen in training",
                format!(
                    "{} descriptors, {} assignments in {} documents (counted as misses)",
                    self.unseen_descriptors, self.unseen_assignments, self.unseen_docs
                ),
            ),
            (
                "decision rule",
                format!(
                    "p >= {}, at most {}, at least 1",
                    self.threshold, self.limit
                ),
            ),
        ];
        let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        rows.iter()
            .map(|(k, v)| format!("{k:<width$}  {v}\n"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndcg_is_one_for_a_perfect_ranking() {
        let gold = [3usize, 1];
        let is_gold = |l: usize| gold.contains(&l);
        assert!((ndcg(&[3, 1, 0], &is_gold, 2, 5) - 1.0).abs() < 1e-12);
        let worse = ndcg(&[0, 3, 1], &is_gold, 2, 5);
        assert!(worse < 1.0 && worse > 0.5);
        assert_eq!(ndcg(&[0, 2], &is_gold, 2, 5), 0.0);
    }
}
