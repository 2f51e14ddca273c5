//! Evaluation: how precise and complete the suggestions are on a labelled corpus.
//!
//! Ranking metrics (P@k, R@k, nDCG@k) use the ranked scores; set metrics (micro/macro/document
//! F1) use the decisions of a [`DecisionRule`]. Gold descriptors the model never saw in training
//! are counted as misses in every headline figure and reported separately.

pub mod cv;
pub mod report;
pub mod rollup;

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::corpus::Corpus;
use crate::metrics::{f1, f1_of_counts, ndcg};
use crate::predict::{DecisionRule, Suggester};

/// Depth of the ranking kept per document (covers every @k reported).
const RANK_DEPTH: usize = 10;

/// The evaluation figures; field names are the `--json` keys.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EvalReport {
    pub docs: usize,
    pub p_at_1: f64,
    pub p_at_3: f64,
    pub p_at_5: f64,
    pub r_at_5: f64,
    pub ndcg_at_5: f64,
    /// Annif's F1@5: F1 of each document's top 5 against its gold set, averaged over documents.
    pub f1_at_5: f64,
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
    /// How the decisions were made: `per-descriptor` (tuned thresholds of the model) or
    /// `global` (`threshold` for every descriptor).
    pub thresholds: String,
    pub r_at_1: f64,
    pub r_at_3: f64,
    pub ndcg_at_3: f64,
    pub ndcg_at_10: f64,
    /// Averages over descriptors with test support (like `macro_f1`).
    pub macro_precision: f64,
    pub macro_recall: f64,
    /// Macro-F1 over descriptors with test support that the model was trained on.
    pub macro_f1_seen: f64,
    pub descriptors_seen_with_support: usize,
    /// Averages over documents (like `doc_f1`).
    pub doc_precision: f64,
    pub doc_recall: f64,
    /// Per-descriptor figures averaged with test support as weight.
    pub weighted_precision: f64,
    pub weighted_recall: f64,
    pub weighted_f1: f64,
    /// Expected calibration error of the scores of each document's ranked descriptors.
    pub ece: f64,
    pub reliability: Vec<ReliabilityBin>,
}

/// One figure of an evaluation, by its `--json` key: what cross-validation averages over folds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figure {
    pub key: &'static str,
    pub value: f64,
    /// A count (documents, assignments), shown without decimals.
    pub is_count: bool,
}

impl EvalReport {
    /// Every figure of the report, by the key `--json` gives it; the decision settings
    /// (`threshold`, `limit`, `thresholds`) and the reliability table are not figures. Listed
    /// beside the fields so that a new field is added to both in one place.
    pub fn figures(&self) -> Vec<Figure> {
        let rate = |key, value| Figure {
            key,
            value,
            is_count: false,
        };
        let count = |key, value: u64| Figure {
            key,
            value: value as f64,
            is_count: true,
        };
        vec![
            count("docs", self.docs as u64),
            rate("p_at_1", self.p_at_1),
            rate("p_at_3", self.p_at_3),
            rate("p_at_5", self.p_at_5),
            rate("r_at_5", self.r_at_5),
            rate("ndcg_at_5", self.ndcg_at_5),
            rate("f1_at_5", self.f1_at_5),
            rate("micro_precision", self.micro_precision),
            rate("micro_recall", self.micro_recall),
            rate("micro_f1", self.micro_f1),
            rate("macro_f1", self.macro_f1),
            rate("doc_f1", self.doc_f1),
            count("true_positives", self.true_positives),
            count("false_positives", self.false_positives),
            count("false_negatives", self.false_negatives),
            count("gold_assignments", self.gold_assignments),
            count(
                "descriptors_with_support",
                self.descriptors_with_support as u64,
            ),
            count("unseen_descriptors", self.unseen_descriptors as u64),
            count("unseen_docs", self.unseen_docs as u64),
            count("unseen_assignments", self.unseen_assignments),
            rate("r_at_1", self.r_at_1),
            rate("r_at_3", self.r_at_3),
            rate("ndcg_at_3", self.ndcg_at_3),
            rate("ndcg_at_10", self.ndcg_at_10),
            rate("macro_precision", self.macro_precision),
            rate("macro_recall", self.macro_recall),
            rate("macro_f1_seen", self.macro_f1_seen),
            count(
                "descriptors_seen_with_support",
                self.descriptors_seen_with_support as u64,
            ),
            rate("doc_precision", self.doc_precision),
            rate("doc_recall", self.doc_recall),
            rate("weighted_precision", self.weighted_precision),
            rate("weighted_recall", self.weighted_recall),
            rate("weighted_f1", self.weighted_f1),
            rate("ece", self.ece),
        ]
    }
}

/// Depth of the ranking whose scores the calibration figures cover.
pub const CALIBRATION_DEPTH: usize = RANK_DEPTH;
/// Equal-width score bins of the reliability table.
pub const RELIABILITY_BINS: usize = 10;

/// One row of the reliability table: scores in `[lower, upper)` and how often they were right.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReliabilityBin {
    pub lower: f64,
    pub upper: f64,
    pub count: u64,
    pub mean_score: f64,
    pub fraction_correct: f64,
}

/// Test figures of one descriptor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelOutcome {
    pub descriptor: String,
    /// Training documents, `None` for descriptors the model never saw.
    pub train_docs: Option<u32>,
    pub support: u64,
    pub true_positives: u64,
    pub false_positives: u64,
    pub false_negatives: u64,
    /// The threshold applied to this descriptor (`None` when unseen).
    pub threshold: Option<f32>,
}

impl LabelOutcome {
    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    pub fn recall(&self) -> f64 {
        ratio(self.true_positives, self.support)
    }

    pub fn f1(&self) -> f64 {
        ratio(
            2 * self.true_positives,
            2 * self.true_positives + self.false_positives + self.false_negatives,
        )
    }
}

/// Everything an evaluation measured: the figures, per-descriptor outcomes, and the scores of
/// every document's ranked descriptors with whether each was gold (for curves).
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub report: EvalReport,
    /// The model's descriptors, then gold descriptors it never saw.
    pub labels: Vec<LabelOutcome>,
    pub scored: Vec<(f32, bool)>,
    /// Per document, gold and proposed labels as indices into `labels`, for breakdowns.
    pub documents: Vec<DocDecision>,
}

impl Evaluation {
    /// Names of `labels`, in order.
    pub fn label_names(&self) -> Vec<String> {
        self.labels.iter().map(|l| l.descriptor.clone()).collect()
    }
}

/// One document's gold and proposed labels (indices into [`Evaluation::labels`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocDecision {
    pub gold: Vec<u32>,
    pub proposed: Vec<u32>,
}

/// Per-document outcome, kept small so evaluation of large corpora stays cheap.
struct DocOutcome {
    ranked: Vec<(usize, f32)>,
    decided: Vec<usize>,
    gold: Vec<u32>,
    gold_unseen: usize,
}

/// Scores every document of `corpus` and computes the figures.
pub fn evaluate(suggester: &Suggester, corpus: &Corpus, rule: &DecisionRule) -> EvalReport {
    evaluate_detailed(suggester, corpus, rule).report
}

/// Like [`evaluate`], keeping per-descriptor outcomes and ranked scores.
pub fn evaluate_detailed(
    suggester: &Suggester,
    corpus: &Corpus,
    rule: &DecisionRule,
) -> Evaluation {
    let model = suggester.model();
    let index = model.descriptor_index();
    let n_known = model.descriptors.len();
    // Unseen gold descriptors get indices after the known ones, so they count in macro-F1.
    let mut unseen: FxHashMap<&str, u32> = FxHashMap::default();
    let mut unseen_names: Vec<&str> = Vec::new();
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
                        let id = *unseen.entry(desc.as_str()).or_insert_with(|| {
                            unseen_names.push(desc.as_str());
                            next
                        });
                        ids.push(id);
                        n_unseen += 1;
                    }
                }
            }
            (ids, n_unseen)
        })
        .collect();

    let label_thresholds = suggester.label_thresholds(rule);
    let depth = RANK_DEPTH.max(rule.limit);
    let outcomes: Vec<DocOutcome> = corpus
        .documents
        .par_iter()
        .zip(gold)
        .map(|(doc, (gold, gold_unseen))| {
            let ranked = suggester.top_probabilities(&doc.body, depth);
            let decided = rule
                .decide(&ranked, label_thresholds)
                .into_iter()
                .map(|(l, _)| l)
                .collect();
            DocOutcome {
                ranked,
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
    let (mut r1, mut r3, mut ndcg3, mut ndcg10, mut doc_p, mut doc_r) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let mut f1_5 = 0.0;
    let mut unseen_docs = 0;
    let mut unseen_assignments = 0u64;
    let mut scored = Vec::with_capacity(outcomes.len() * CALIBRATION_DEPTH);
    for o in &outcomes {
        let is_gold = |l: usize| o.gold.contains(&(l as u32));
        let labels: Vec<usize> = o.ranked.iter().map(|&(l, _)| l).collect();
        let hits_at = |k: usize| labels.iter().take(k).filter(|&&l| is_gold(l)).count() as f64;
        let n_gold = o.gold.len() as f64;
        p1 += hits_at(1);
        p3 += hits_at(3) / 3.0;
        p5 += hits_at(5) / 5.0;
        r1 += hits_at(1) / n_gold;
        r3 += hits_at(3) / n_gold;
        r5 += hits_at(5) / n_gold;
        ndcg3 += ndcg(&labels, &is_gold, o.gold.len(), 3);
        ndcg5 += ndcg(&labels, &is_gold, o.gold.len(), 5);
        ndcg10 += ndcg(&labels, &is_gold, o.gold.len(), 10);
        f1_5 += f1_of_counts(
            hits_at(5) as u64,
            labels.len().min(5) as u64,
            o.gold.len() as u64,
        );
        scored.extend(
            o.ranked
                .iter()
                .take(CALIBRATION_DEPTH)
                .map(|&(l, p)| (p, is_gold(l))),
        );
        for &g in &o.gold {
            support[g as usize] += 1;
        }
        let mut doc_tp = 0;
        for &l in &o.decided {
            if is_gold(l) {
                tp[l] += 1;
                doc_tp += 1;
            } else {
                fp[l] += 1;
            }
        }
        doc_f1 += f1_of_counts(doc_tp, o.decided.len() as u64, o.gold.len() as u64);
        doc_p += ratio(doc_tp, o.decided.len() as u64);
        doc_r += doc_tp as f64 / n_gold;
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

    let labels: Vec<LabelOutcome> = (0..n_labels)
        .map(|l| LabelOutcome {
            descriptor: if l < n_known {
                model.descriptors[l].clone()
            } else {
                unseen_names[l - n_known].to_string()
            },
            train_docs: (l < n_known).then(|| model.info.label_documents[l]),
            support: support[l],
            true_positives: tp[l],
            false_positives: fp[l],
            false_negatives: support[l] - tp[l],
            threshold: (l < n_known).then(|| label_thresholds.map_or(rule.threshold, |t| t[l])),
        })
        .collect();
    let supported: Vec<&LabelOutcome> = labels.iter().filter(|o| o.support > 0).collect();
    // Folds from +0.0: `Sum` of no floats is -0.0, which would print as `-0.0`.
    let mean = |pick: &dyn Fn(&LabelOutcome) -> f64, set: &[&LabelOutcome]| {
        set.iter().fold(0.0, |sum, o| sum + pick(o)) / set.len().max(1) as f64
    };
    let weighted = |pick: &dyn Fn(&LabelOutcome) -> f64| {
        supported
            .iter()
            .fold(0.0, |sum, o| sum + o.support as f64 * pick(o))
            / gold_assignments.max(1) as f64
    };
    let seen: Vec<&LabelOutcome> = supported
        .iter()
        .copied()
        .filter(|o| o.train_docs.is_some())
        .collect();
    let (reliability, ece) = reliability_table(&scored, RELIABILITY_BINS);

    let report = EvalReport {
        docs: outcomes.len(),
        p_at_1: p1 / n,
        p_at_3: p3 / n,
        p_at_5: p5 / n,
        r_at_5: r5 / n,
        ndcg_at_5: ndcg5 / n,
        f1_at_5: f1_5 / n,
        micro_precision,
        micro_recall,
        micro_f1: f1(micro_precision, micro_recall),
        macro_f1: mean(&LabelOutcome::f1, &supported),
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
        thresholds: if label_thresholds.is_some() {
            "per-descriptor".into()
        } else {
            "global".into()
        },
        r_at_1: r1 / n,
        r_at_3: r3 / n,
        ndcg_at_3: ndcg3 / n,
        ndcg_at_10: ndcg10 / n,
        macro_precision: mean(&LabelOutcome::precision, &supported),
        macro_recall: mean(&LabelOutcome::recall, &supported),
        macro_f1_seen: mean(&LabelOutcome::f1, &seen),
        descriptors_seen_with_support: seen.len(),
        doc_precision: doc_p / n,
        doc_recall: doc_r / n,
        weighted_precision: weighted(&LabelOutcome::precision),
        weighted_recall: weighted(&LabelOutcome::recall),
        weighted_f1: weighted(&LabelOutcome::f1),
        ece,
        reliability,
    };
    let documents = outcomes
        .iter()
        .map(|o| DocDecision {
            gold: o.gold.clone(),
            proposed: o.decided.iter().map(|&l| l as u32).collect(),
        })
        .collect();
    Evaluation {
        report,
        labels,
        scored,
        documents,
    }
}

/// Reliability table of `(score, correct)` pairs in `bins` equal-width bins, and the expected
/// calibration error `Σ_b (n_b / N)·|fraction correct_b − mean score_b|`.
pub fn reliability_table(scored: &[(f32, bool)], bins: usize) -> (Vec<ReliabilityBin>, f64) {
    let mut count = vec![0u64; bins];
    let mut score_sum = vec![0f64; bins];
    let mut correct = vec![0u64; bins];
    for &(p, gold) in scored {
        let b = ((p as f64 * bins as f64) as usize).min(bins - 1);
        count[b] += 1;
        score_sum[b] += p as f64;
        correct[b] += gold as u64;
    }
    let total = scored.len().max(1) as f64;
    let mut ece = 0.0;
    let table = (0..bins)
        .map(|b| {
            let n = count[b].max(1) as f64;
            let (mean_score, fraction_correct) = (score_sum[b] / n, correct[b] as f64 / n);
            ece += count[b] as f64 / total * (fraction_correct - mean_score).abs();
            ReliabilityBin {
                lower: b as f64 / bins as f64,
                upper: (b + 1) as f64 / bins as f64,
                count: count[b],
                mean_score,
                fraction_correct,
            }
        })
        .collect();
    (table, ece)
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

impl EvalReport {
    /// A readable table of the figures.
    pub fn to_table(&self) -> String {
        let prf = |p: f64, r: f64, f: f64| format!("{p:.4}  {r:.4}  {f:.4}");
        let mut rows: Vec<(&str, String)> = vec![
            ("documents", self.docs.to_string()),
            (
                "P@1 / P@3 / P@5",
                format!("{:.4}  {:.4}  {:.4}", self.p_at_1, self.p_at_3, self.p_at_5),
            ),
            (
                "R@1 / R@3 / R@5",
                format!("{:.4}  {:.4}  {:.4}", self.r_at_1, self.r_at_3, self.r_at_5),
            ),
            (
                "nDCG@3 / @5 / @10",
                format!(
                    "{:.4}  {:.4}  {:.4}",
                    self.ndcg_at_3, self.ndcg_at_5, self.ndcg_at_10
                ),
            ),
            ("F1@5 (Annif)", format!("{:.4}", self.f1_at_5)),
            ("", "P       R       F1".to_string()),
            (
                "micro",
                prf(self.micro_precision, self.micro_recall, self.micro_f1),
            ),
            (
                "macro",
                format!(
                    "{}  (over {} descriptors with support)",
                    prf(self.macro_precision, self.macro_recall, self.macro_f1),
                    self.descriptors_with_support
                ),
            ),
            (
                "document average",
                prf(self.doc_precision, self.doc_recall, self.doc_f1),
            ),
            (
                "support-weighted",
                prf(
                    self.weighted_precision,
                    self.weighted_recall,
                    self.weighted_f1,
                ),
            ),
            (
                "macro F1 (seen)",
                format!(
                    "{:.4}  (over {} descriptors seen in training)",
                    self.macro_f1_seen, self.descriptors_seen_with_support
                ),
            ),
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
                if self.thresholds == "per-descriptor" {
                    format!(
                        "tuned per-descriptor thresholds, at most {}, at least 1",
                        self.limit
                    )
                } else {
                    format!(
                        "p >= {}, at most {}, at least 1",
                        self.threshold, self.limit
                    )
                },
            ),
            (
                "calibration (ECE)",
                format!(
                    "{:.4}  (scores of the top {} per document)",
                    self.ece, CALIBRATION_DEPTH
                ),
            ),
            ("", "scores      count  mean score  correct".to_string()),
        ];
        for bin in &self.reliability {
            rows.push((
                "",
                format!(
                    "{:.1}-{:.1}  {:>9}  {:>10.4}  {:>7.4}",
                    bin.lower, bin.upper, bin.count, bin.mean_score, bin.fraction_correct
                ),
            ));
        }
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
    fn ece_of_known_scores() {
        // Bin 0.8-0.9: four scores of 0.8, three right (0.75 vs 0.8). Bin 0.2-0.3: four of
        // 0.2, one right (0.25 vs 0.2). ECE = ½·0.05 + ½·0.05 = 0.05.
        let mut scored = vec![(0.8, true), (0.8, true), (0.8, true), (0.8, false)];
        scored.extend([(0.2, true), (0.2, false), (0.2, false), (0.2, false)]);
        let (table, ece) = reliability_table(&scored, 10);
        assert!((ece - 0.05).abs() < 1e-6, "{ece}");
        assert_eq!(table[8].count, 4);
        assert!((table[8].fraction_correct - 0.75).abs() < 1e-12);
        assert_eq!(table[2].count, 4);
        // Perfectly calibrated scores have no error; a score of 1.0 lands in the last bin.
        let (table, ece) = reliability_table(&[(1.0, true), (0.0, false)], 10);
        assert_eq!(ece, 0.0);
        assert_eq!(table[9].count, 1);
    }

    #[test]
    fn per_label_figures_follow_the_formulas() {
        let o = LabelOutcome {
            descriptor: "X".into(),
            train_docs: Some(3),
            support: 4,
            true_positives: 2,
            false_positives: 1,
            false_negatives: 2,
            threshold: Some(0.5),
        };
        assert!((o.precision() - 2.0 / 3.0).abs() < 1e-12);
        assert!((o.recall() - 0.5).abs() < 1e-12);
        assert!((o.f1() - 4.0 / 7.0).abs() < 1e-12);
        let none = LabelOutcome {
            true_positives: 0,
            false_positives: 0,
            ..o
        };
        assert_eq!(none.precision(), 0.0);
        assert_eq!(none.f1(), 0.0);
    }
}
