//! Nearest neighbours over TF-IDF rows: a descriptor is proposed when the training documents
//! most like the draft carry it.
//!
//! *Why:* a one-vs-rest model of a descriptor with one or two training documents has almost
//! nothing to learn from, while the neighbours of a draft vote with every descriptor they
//! carry; a rare descriptor then borrows the strength of the whole document it came with. This
//! is the sharing across rare descriptors that label trees give Annif's Omikuji backend, at
//! the cost of keeping the training rows in the model.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::features::sparse::{CsrMatrix, SparseRow};

/// Neighbours that vote.
pub const DEFAULT_NEIGHBOURS: usize = 30;

/// The training rows with their descriptors and an inverted index over them.
#[derive(Debug, Clone)]
pub struct KnnIndex {
    data: KnnData,
    /// For each feature, the `(document, value)` pairs of the rows that have it.
    postings_start: Vec<usize>,
    postings: Vec<(u32, f32)>,
}

/// The stored part of a [`KnnIndex`] (the postings are rebuilt on load).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KnnData {
    pub neighbours: usize,
    pub n_features: usize,
    /// Per training document: its row (l2-normalised TF-IDF).
    pub rows: Vec<SparseRow>,
    /// Per training document: its descriptors (model indices).
    pub labels: Vec<Vec<u32>>,
}

/// One descriptor's vote among a draft's neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    pub label: u32,
    /// Similarity-weighted share of the neighbours that carry the descriptor, in `[0, 1]`.
    pub share: f32,
    /// Similarity of the nearest neighbour that carries it.
    pub nearest: f32,
}

impl KnnIndex {
    pub fn new(x: &CsrMatrix, labels: &[Vec<u32>], neighbours: usize) -> Self {
        let rows = (0..x.n_rows())
            .map(|i| {
                let (indices, values) = x.row(i);
                SparseRow {
                    indices: indices.to_vec(),
                    values: values.to_vec(),
                }
            })
            .collect();
        Self::from_data(KnnData {
            neighbours,
            n_features: x.n_cols(),
            rows,
            labels: labels.to_vec(),
        })
    }

    pub fn from_data(data: KnnData) -> Self {
        let mut counts = vec![0usize; data.n_features + 1];
        for row in &data.rows {
            for &f in &row.indices {
                counts[f as usize + 1] += 1;
            }
        }
        for f in 0..data.n_features {
            counts[f + 1] += counts[f];
        }
        let mut next = counts.clone();
        let mut postings = vec![(0u32, 0f32); counts[data.n_features]];
        for (d, row) in data.rows.iter().enumerate() {
            for (&f, &v) in row.indices.iter().zip(&row.values) {
                postings[next[f as usize]] = (d as u32, v);
                next[f as usize] += 1;
            }
        }
        KnnIndex {
            data,
            postings_start: counts,
            postings,
        }
    }

    pub fn data(&self) -> &KnnData {
        &self.data
    }

    /// Checks a loaded index against the model it belongs to.
    pub fn validate(data: &KnnData, n_features: usize, n_labels: usize) -> Result<(), String> {
        let row_ok = |r: &SparseRow| {
            r.indices.len() == r.values.len()
                && r.indices.iter().all(|&f| (f as usize) < n_features)
                && r.values.iter().all(|v| v.is_finite())
        };
        if data.n_features != n_features
            || data.rows.len() != data.labels.len()
            || !data.rows.iter().all(row_ok)
            || !data
                .labels
                .iter()
                .flatten()
                .all(|&l| (l as usize) < n_labels)
            || data.neighbours == 0
        {
            return Err("the neighbour index does not match the model".into());
        }
        Ok(())
    }

    /// The votes of the `neighbours` rows most similar (cosine) to `row`, best first;
    /// `exclude` leaves one training document out (its own out-of-sample score).
    pub fn votes(&self, row: &SparseRow, exclude: Option<usize>) -> Vec<Vote> {
        let n = self.data.rows.len();
        let mut similarity = vec![0f32; n];
        let mut touched: Vec<u32> = Vec::new();
        for (&f, &v) in row.indices.iter().zip(&row.values) {
            let Some(range) = self
                .postings_start
                .get(f as usize..f as usize + 2)
                .map(|r| r[0]..r[1])
            else {
                continue;
            };
            for &(d, w) in &self.postings[range] {
                if similarity[d as usize] == 0.0 {
                    touched.push(d);
                }
                similarity[d as usize] += v * w;
            }
        }
        if let Some(e) = exclude {
            similarity[e] = 0.0;
        }
        let mut near: Vec<(u32, f32)> = touched
            .iter()
            .map(|&d| (d, similarity[d as usize]))
            .filter(|&(_, s)| s > 0.0)
            .collect();
        let by_similarity =
            |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        let k = self.data.neighbours.min(near.len());
        if k == 0 {
            return Vec::new();
        }
        if k < near.len() {
            near.select_nth_unstable_by(k - 1, by_similarity);
            near.truncate(k);
        }
        let total: f32 = near.iter().map(|&(_, s)| s).sum();
        let mut votes: rustc_hash::FxHashMap<u32, Vote> = rustc_hash::FxHashMap::default();
        for &(d, s) in &near {
            for &label in &self.data.labels[d as usize] {
                let vote = votes.entry(label).or_insert(Vote {
                    label,
                    share: 0.0,
                    nearest: 0.0,
                });
                vote.share += s / total;
                vote.nearest = vote.nearest.max(s);
            }
        }
        let mut votes: Vec<Vote> = votes.into_values().collect();
        votes.sort_unstable_by(|a, b| b.share.total_cmp(&a.share).then(a.label.cmp(&b.label)));
        votes
    }

    /// The votes of training documents `docs` with each left out, in parallel: each
    /// document's votes are those [`Self::leave_one_out_votes`] gives it, so shards of the
    /// documents can compute them apart.
    pub fn leave_one_out_votes_of(&self, docs: &[usize]) -> Vec<Vec<Vote>> {
        docs.par_iter()
            .map(|&d| self.votes(&self.data.rows[d], Some(d)))
            .collect()
    }

    /// Every training document's votes with itself left out, in parallel.
    pub fn leave_one_out_votes(&self) -> Vec<Vec<Vote>> {
        self.data
            .rows
            .par_iter()
            .enumerate()
            .map(|(d, row)| self.votes(row, Some(d)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_vote_with_their_descriptors() {
        let x = CsrMatrix::from_dense(&[
            vec![1.0, 0.0, 0.0],
            vec![0.8, 0.6, 0.0],
            vec![0.0, 0.0, 1.0],
        ]);
        let labels = vec![vec![0], vec![0, 1], vec![2]];
        let index = KnnIndex::new(&x, &labels, 2);
        let query = SparseRow {
            indices: vec![0],
            values: vec![1.0],
        };
        let votes = index.votes(&query, None);
        // Rows 0 (similarity 1) and 1 (0.8) are the neighbours; row 2 shares nothing.
        assert_eq!(votes[0].label, 0);
        assert!((votes[0].share - 1.0).abs() < 1e-6);
        assert_eq!(votes[1].label, 1);
        assert!((votes[1].share - 0.8 / 1.8).abs() < 1e-6);
        assert!((votes[1].nearest - 0.8).abs() < 1e-6);
        assert!(!votes.iter().any(|v| v.label == 2));
        // Left out, row 0 is only its neighbour row 1's.
        let loo = index.leave_one_out_votes();
        assert!((loo[0][0].share - 1.0).abs() < 1e-6);
        assert_eq!(loo[0].len(), 2);
    }
}
