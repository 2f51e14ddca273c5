//! Ranking arithmetic every stage shares: the best `k` of a score vector and the ranking
//! figures (P@k, nDCG@k), defined once for evaluation, tuning and the ensemble's choice.

use serde::Serialize;

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

/// Binary-gain nDCG@k with a log2 discount; the ideal ranking puts all gold labels first.
pub fn ndcg(ranked: &[usize], is_gold: &dyn Fn(usize) -> bool, n_gold: usize, k: usize) -> f64 {
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

/// Share of the first `k` ranked labels that are gold (a shorter list counts its gaps as
/// misses, as P@k does for a document with fewer than `k` suggestions).
pub fn precision_at(ranked: &[usize], is_gold: &dyn Fn(usize) -> bool, k: usize) -> f64 {
    ranked.iter().take(k).filter(|&&l| is_gold(l)).count() as f64 / k as f64
}

/// The ranking figures that choose between rankings, averaged over documents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RankingFigures {
    pub p_at_1: f64,
    pub p_at_5: f64,
    pub ndcg_at_5: f64,
}

impl RankingFigures {
    /// Figures of per-document rankings (`(label, value)`, best first) against gold labels.
    pub fn measure(ranked: &[Vec<(u32, f32)>], gold: &[Vec<u32>]) -> RankingFigures {
        let mut sum = RankingFigures::default();
        for (list, gold) in ranked.iter().zip(gold) {
            let labels: Vec<usize> = list.iter().map(|&(l, _)| l as usize).collect();
            let is_gold = |l: usize| gold.contains(&(l as u32));
            sum.p_at_1 += precision_at(&labels, &is_gold, 1);
            sum.p_at_5 += precision_at(&labels, &is_gold, 5);
            sum.ndcg_at_5 += ndcg(&labels, &is_gold, gold.len(), 5);
        }
        let n = ranked.len().max(1) as f64;
        RankingFigures {
            p_at_1: sum.p_at_1 / n,
            p_at_5: sum.p_at_5 / n,
            ndcg_at_5: sum.ndcg_at_5 / n,
        }
    }

    /// Better by the sum of P@1, P@5 and nDCG@5 (the headline figures of subject indexing).
    pub fn beats(&self, other: &RankingFigures) -> bool {
        let score = |f: &RankingFigures| f.p_at_1 + f.p_at_5 + f.ndcg_at_5;
        score(self) > score(other)
    }
}

/// F1 from precision and recall (0 when both are 0).
pub fn f1(precision: f64, recall: f64) -> f64 {
    if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    }
}

/// F1 of `hits` correct proposals among `proposed`, with `gold` to be found:
/// `2·hits / (proposed + gold)`, 0 when there is nothing proposed and nothing to find. The one
/// definition behind every F1 of dtag (micro, macro, per document, per descriptor, F1@5).
pub fn f1_of_counts(hits: u64, proposed: u64, gold: u64) -> f64 {
    if proposed + gold == 0 {
        0.0
    } else {
        2.0 * hits as f64 / (proposed + gold) as f64
    }
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
    fn ndcg_is_one_for_a_perfect_ranking() {
        let is_gold = |l: usize| l == 3 || l == 1;
        assert!((ndcg(&[3, 1, 0], &is_gold, 2, 5) - 1.0).abs() < 1e-12);
        let worse = ndcg(&[0, 3, 1], &is_gold, 2, 5);
        assert!(worse < 1.0 && worse > 0.0);
        assert_eq!(ndcg(&[0, 2], &is_gold, 2, 5), 0.0);
    }

    #[test]
    fn ranking_figures_average_over_documents() {
        let ranked = vec![vec![(1, 0.9), (2, 0.5)], vec![(0, 0.8)]];
        let gold = vec![vec![1], vec![2]];
        let f = RankingFigures::measure(&ranked, &gold);
        assert!((f.p_at_1 - 0.5).abs() < 1e-12);
        assert!((f.p_at_5 - 0.1).abs() < 1e-12);
        assert!(f.beats(&RankingFigures::default()));
    }
}
