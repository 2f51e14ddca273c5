//! Suggestion: scoring a text against every descriptor and choosing which to propose.

use rayon::prelude::*;
use serde::Serialize;

use crate::analysis::Analyzer;
use crate::error::{Error, Result};
use crate::model::logistic::sigmoid;
use crate::model::Model;

/// Which descriptors to propose from the ranked scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecisionRule {
    /// Propose at most this many.
    pub limit: usize,
    /// Propose those with at least this probability …
    pub threshold: f32,
    /// … but always at least the best one.
    pub at_least_one: bool,
    /// Use the model's per-descriptor thresholds (when it has them) instead of `threshold`.
    pub use_model_thresholds: bool,
    /// Never propose a score below this, not even as the best one: a draft nothing fits
    /// gets no suggestion (0 keeps the rule above).
    pub min_score: f32,
}

impl Default for DecisionRule {
    fn default() -> Self {
        DecisionRule {
            limit: 10,
            threshold: 0.5,
            at_least_one: true,
            use_model_thresholds: true,
            min_score: 0.0,
        }
    }
}

impl DecisionRule {
    pub fn check(self) -> Result<Self> {
        if self.limit == 0 {
            return Err(Error::param("limit", "must be at least 1"));
        }
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(Error::param("threshold", "must be a probability in [0, 1]"));
        }
        if !(0.0..=1.0).contains(&self.min_score) {
            return Err(Error::param("min_score", "must be a probability in [0, 1]"));
        }
        Ok(self)
    }

    /// How many of the ranked (descending) scores to propose.
    pub fn cut(&self, ranked: &[(usize, f32)]) -> usize {
        let above = ranked
            .iter()
            .take(self.limit)
            .take_while(|&&(_, p)| p >= self.threshold && p >= self.min_score)
            .count();
        if above == 0 && self.at_least_one {
            ranked
                .iter()
                .take(1)
                .filter(|&&(_, p)| p >= self.min_score)
                .count()
        } else {
            above
        }
    }

    /// Which of the ranked (descending) scores to propose, in rank order: among the best
    /// `limit`, those reaching their descriptor's threshold (`label_thresholds[label]`, or
    /// the global `threshold` when `None`), else the best one if `at_least_one`.
    pub fn decide(
        &self,
        ranked: &[(usize, f32)],
        label_thresholds: Option<&[f32]>,
    ) -> Vec<(usize, f32)> {
        let threshold = |label: usize| label_thresholds.map_or(self.threshold, |t| t[label]);
        let mut chosen: Vec<(usize, f32)> = ranked
            .iter()
            .take(self.limit)
            .filter(|&&(l, p)| p >= threshold(l) && p >= self.min_score)
            .copied()
            .collect();
        if chosen.is_empty() && self.at_least_one {
            chosen.extend(ranked.first().filter(|&&(_, p)| p >= self.min_score));
        }
        chosen
    }
}

/// One proposed descriptor; URI and labels when the model knows its concept.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub descriptor: String,
    pub score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_en: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_zh: Option<String>,
}

/// A loaded model with its analyzer, ready to score texts.
#[derive(Debug)]
pub struct Suggester {
    analyzer: Analyzer,
    model: Model,
}

impl Suggester {
    pub fn new(model: Model) -> Result<Self> {
        Ok(Suggester {
            analyzer: Analyzer::new(model.analyzer.clone())?,
            model,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// Probability of every descriptor (model order), calibrated when the model was tuned.
    pub fn probabilities(&self, text: &str) -> Vec<f32> {
        let row = self.model.vectorizer.transform(&self.analyzer, text);
        let mut scores = vec![0f32; self.model.classifier.n_labels()];
        self.model
            .classifier
            .decision_into(&row.indices, &row.values, &mut scores);
        self.model.probabilities_from_logits(&mut scores);
        scores
    }

    /// The `k` best descriptors as `(index, probability)`, best first.
    pub fn ranked(&self, text: &str, k: usize) -> Vec<(usize, f32)> {
        if self.model.tuning.is_some() {
            // Calibration differs per descriptor, so rank the probabilities themselves.
            return top_k(&self.probabilities(text), k);
        }
        let row = self.model.vectorizer.transform(&self.analyzer, text);
        self.ranked_row(&row, k)
    }

    /// [`Suggester::ranked`] for a row already vectorised.
    pub fn ranked_row(&self, row: &crate::sparse::SparseRow, k: usize) -> Vec<(usize, f32)> {
        let mut logits = vec![0f32; self.model.classifier.n_labels()];
        self.model
            .classifier
            .decision_into(&row.indices, &row.values, &mut logits);
        top_k(&logits, k)
            .into_iter()
            .map(|(l, z)| (l, sigmoid(z as f64) as f32))
            .collect()
    }

    /// The per-descriptor thresholds `rule` applies, if any.
    pub fn label_thresholds(&self, rule: &DecisionRule) -> Option<&[f32]> {
        if rule.use_model_thresholds {
            self.model.label_thresholds()
        } else {
            None
        }
    }

    /// The proposed descriptors for one text.
    pub fn suggest(&self, text: &str, rule: &DecisionRule) -> Vec<Suggestion> {
        let ranked = self.ranked(text, rule.limit);
        rule.decide(&ranked, self.label_thresholds(rule))
            .iter()
            .map(|&(l, p)| self.suggestion(l, p))
            .collect()
    }

    /// The suggestion of descriptor `label` with `score`, with its concept's URI and labels.
    pub fn suggestion(&self, label: usize, score: f32) -> Suggestion {
        let concept = self
            .model
            .concepts
            .as_ref()
            .and_then(|c| c.descriptors[label].as_ref());
        Suggestion {
            descriptor: self.model.descriptors[label].clone(),
            score,
            uri: concept.map(|c| c.uri.clone()),
            label_en: concept.and_then(|c| c.label_en.clone()),
            label_zh: concept.and_then(|c| c.label_zh.clone()),
        }
    }

    /// Suggestions for many texts, in parallel, in input order.
    pub fn suggest_batch(&self, texts: &[&str], rule: &DecisionRule) -> Vec<Vec<Suggestion>> {
        texts.par_iter().map(|t| self.suggest(t, rule)).collect()
    }
}

/// Indices and values of the `k` largest entries, largest first (ties: lower index first).
pub fn top_k(values: &[f32], k: usize) -> Vec<(usize, f32)> {
    let k = k.min(values.len());
    if k == 0 {
        return Vec::new();
    }
    let by_score = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    let mut all: Vec<(usize, f32)> = values.iter().copied().enumerate().collect();
    if k < all.len() {
        all.select_nth_unstable_by(k - 1, by_score);
        all.truncate(k);
    }
    all.sort_unstable_by(by_score);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_and_breaks_ties_by_index() {
        assert_eq!(
            top_k(&[0.1, 0.9, 0.5, 0.9], 3),
            vec![(1, 0.9), (3, 0.9), (2, 0.5)]
        );
        assert_eq!(top_k(&[0.3], 5), vec![(0, 0.3)]);
    }

    #[test]
    fn decision_rule_keeps_the_best_even_below_threshold() {
        let rule = DecisionRule::default();
        assert_eq!(rule.cut(&[(0, 0.3), (1, 0.2)]), 1);
        assert_eq!(rule.cut(&[(0, 0.9), (1, 0.6), (2, 0.4)]), 2);
        let capped = DecisionRule { limit: 1, ..rule };
        assert_eq!(capped.cut(&[(0, 0.9), (1, 0.6)]), 1);
        assert!(DecisionRule {
            threshold: 1.5,
            ..rule
        }
        .check()
        .is_err());
    }

    #[test]
    fn per_descriptor_thresholds_choose_within_the_limit() {
        let rule = DecisionRule {
            limit: 3,
            ..DecisionRule::default()
        };
        let ranked = [(0, 0.6), (1, 0.4), (2, 0.3), (3, 0.2)];
        // Descriptor 0 needs 0.7, 1 needs 0.35, 2 needs 0.5, 3 would pass but is past the limit.
        let thresholds = [0.7, 0.35, 0.5, 0.1];
        assert_eq!(rule.decide(&ranked, Some(&thresholds)), vec![(1, 0.4)]);
        // The global threshold reproduces `cut`.
        assert_eq!(rule.decide(&ranked, None), vec![(0, 0.6)]);
        assert_eq!(rule.decide(&ranked, None).len(), rule.cut(&ranked));
        // Nothing passes: the best one still comes.
        let strict = [0.9; 4];
        assert_eq!(rule.decide(&ranked, Some(&strict)), vec![(0, 0.6)]);
    }

    #[test]
    fn min_score_lets_a_draft_get_nothing() {
        let rule = DecisionRule {
            min_score: 0.5,
            ..DecisionRule::default()
        };
        let weak = [(0, 0.3), (1, 0.2)];
        assert_eq!(rule.decide(&weak, None), vec![]);
        assert_eq!(rule.cut(&weak), 0);
        // The floor also cuts what a lower threshold would keep.
        let low = DecisionRule {
            threshold: 0.1,
            ..rule
        };
        assert_eq!(low.decide(&weak, Some(&[0.1, 0.1])), vec![]);
        let fits = [(0, 0.7), (1, 0.4)];
        assert_eq!(low.decide(&fits, None), vec![(0, 0.7)]);
        assert_eq!(low.cut(&fits), 1);
        assert!(DecisionRule {
            min_score: -0.1,
            ..rule
        }
        .check()
        .is_err());
    }
}
