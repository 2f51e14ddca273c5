//! One-vs-rest: one binary logistic model per descriptor, trained in parallel on one shared
//! sparse matrix, stored feature-major so scoring a draft touches only its own terms' weights.

use linfa::dataset::DatasetBase;
use linfa::traits::{Fit, PredictInplace};
use ndarray::Array2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::logistic::{
    sigmoid, squared_norms, BinaryLogistic, HeldOutFolds, LogisticParams, ValidLogisticParams,
    WarmStart, BLOCK,
};
use crate::error::{Error, Result};
use crate::features::sparse::CsrMatrix;
use crate::progress::{NoProgress, Stage};

/// Targets: for every document, the indices of its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSets {
    pub n_labels: usize,
    pub rows: Vec<Vec<u32>>,
}

impl LabelSets {
    /// Documents carrying each label.
    pub fn documents_per_label(&self) -> Vec<Vec<u32>> {
        let mut docs = vec![Vec::new(); self.n_labels];
        for (d, labels) in self.rows.iter().enumerate() {
            for &l in labels {
                docs[l as usize].push(d as u32);
            }
        }
        docs
    }
}

/// One label's sparse `(feature, weight)` pairs and intercept.
pub type LabelWeights = (Vec<(u32, f32)>, f32);

/// Turns one label's held-out decision values (label index, one value per document) into
/// what the caller keeps of them.
pub type HeldOutReducer<'a, T> = dyn Fn(usize, Vec<f32>) -> T + Sync + 'a;

/// One-vs-rest settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneVsRestParams {
    pub logistic: LogisticParams,
    /// Weights with smaller magnitude are dropped from the stored model.
    pub prune_below: f32,
}

impl Default for OneVsRestParams {
    fn default() -> Self {
        OneVsRestParams {
            logistic: LogisticParams::default(),
            // Half the weights of 0.01, at the same accuracy (cail2018 and reuters21578 test
            // micro-F1 within ±0.0005), so models load and score faster.
            prune_below: 0.05,
        }
    }
}

/// Validated [`OneVsRestParams`].
#[derive(Debug, Clone)]
pub struct ValidOneVsRestParams {
    logistic: ValidLogisticParams,
    prune_below: f32,
}

impl OneVsRestParams {
    pub fn check(self) -> Result<ValidOneVsRestParams> {
        if !(self.prune_below.is_finite() && self.prune_below >= 0.0) {
            return Err(Error::param("prune_below", "must be 0 or positive"));
        }
        Ok(ValidOneVsRestParams {
            logistic: self.logistic.check()?,
            prune_below: self.prune_below,
        })
    }
}

impl ValidOneVsRestParams {
    pub fn logistic(&self) -> &ValidLogisticParams {
        &self.logistic
    }

    /// Trains every label; `progress` advances once per label.
    pub fn fit_with_progress(
        &self,
        x: &CsrMatrix,
        y: &LabelSets,
        progress: &dyn Stage,
    ) -> Result<OneVsRest> {
        self.fit_warm(x, y, &[], progress)
    }

    /// Like [`Self::fit_with_progress`], but label `l` starts from `warm[l]` (sparse weights and
    /// intercept) when given: with `x` holding new documents only, that updates an existing
    /// model (see [`ValidLogisticParams::fit_many`]). `warm` is empty or has one entry per label.
    pub fn fit_warm(
        &self,
        x: &CsrMatrix,
        y: &LabelSets,
        warm: &[Option<LabelWeights>],
        progress: &dyn Stage,
    ) -> Result<OneVsRest> {
        let none: Option<(HeldOutFolds, &HeldOutReducer<'_, ()>)> = None;
        Ok(self.fit_blocks(x, y, warm, progress, none)?.0)
    }

    /// Trains every label (from `warm`, as [`Self::fit_warm`]) and also estimates, for every
    /// document, the decision value a model not trained on it would give (see
    /// [`ValidLogisticParams::fit_many_held_out`]).
    /// Each label's held-out values (one per row of `x`) go through `reduce` as soon as the
    /// label is solved, so only what it keeps stays in memory; the results come in label order.
    pub fn fit_held_out<T: Send>(
        &self,
        x: &CsrMatrix,
        y: &LabelSets,
        warm: &[Option<LabelWeights>],
        folds: HeldOutFolds,
        progress: &dyn Stage,
        reduce: &HeldOutReducer<'_, T>,
    ) -> Result<(OneVsRest, Vec<T>)> {
        let (model, reduced) = self.fit_blocks(x, y, warm, progress, Some((folds, reduce)))?;
        Ok((model, reduced.into_iter().flatten().collect()))
    }

    fn fit_blocks<T: Send>(
        &self,
        x: &CsrMatrix,
        y: &LabelSets,
        warm: &[Option<LabelWeights>],
        progress: &dyn Stage,
        held_out: Option<(HeldOutFolds, &HeldOutReducer<'_, T>)>,
    ) -> Result<(OneVsRest, Vec<Option<T>>)> {
        let solved = self.solve_blocks(x, y, warm, &Self::blocks(y), progress, held_out)?;
        OneVsRest::join(x.n_cols(), y.n_labels, solved)
    }

    /// The blocks of labels solved together, in the order they start: labels by descending
    /// document count (ties by index), [`BLOCK`] at a time, so that threads finish together.
    ///
    /// A block's solution depends only on its labels, the rows and the settings (every block
    /// draws its sample and coordinate order from the same seed), never on which other blocks
    /// run, where, or in what order: solving a subset of these blocks gives exactly the
    /// labels a whole run gives, which is what descriptor shards rely on.
    pub fn blocks(y: &LabelSets) -> Vec<Vec<usize>> {
        let mut counts = vec![0usize; y.n_labels];
        for row in &y.rows {
            for &l in row {
                counts[l as usize] += 1;
            }
        }
        let mut order: Vec<usize> = (0..y.n_labels).collect();
        order.sort_by_key(|&l| std::cmp::Reverse(counts[l]));
        order.chunks(BLOCK).map(<[usize]>::to_vec).collect()
    }

    /// Solves the labels of `blocks` (some or all of [`Self::blocks`]`(y)`), from `warm` as
    /// [`Self::fit_warm`], with held-out values reduced as [`Self::fit_held_out`] when asked
    /// for; returns them by ascending label. `progress` advances once per label.
    pub fn solve_blocks<T: Send>(
        &self,
        x: &CsrMatrix,
        y: &LabelSets,
        warm: &[Option<LabelWeights>],
        blocks: &[Vec<usize>],
        progress: &dyn Stage,
        held_out: Option<(HeldOutFolds, &HeldOutReducer<'_, T>)>,
    ) -> Result<Vec<SolvedLabel<T>>> {
        if !warm.is_empty() && warm.len() != y.n_labels {
            return Err(Error::Training(format!(
                "{} warm starts for {} labels",
                warm.len(),
                y.n_labels
            )));
        }
        if x.n_rows() != y.rows.len() {
            return Err(Error::Training(format!(
                "{} feature rows but {} label rows",
                x.n_rows(),
                y.rows.len()
            )));
        }
        if blocks.iter().flatten().any(|&l| l >= y.n_labels) {
            return Err(Error::Training("a block names an unknown label".into()));
        }
        if let Some((folds, _)) = &held_out {
            if folds.fold_of.len() != x.n_rows() || folds.fold_of.iter().any(|&f| f >= folds.folds)
            {
                return Err(Error::Training(
                    "the fold assignment does not match the documents".into(),
                ));
            }
        }
        let norms = squared_norms(x);
        let docs_per_label = y.documents_per_label();
        let mut trained: Vec<SolvedLabel<T>> = blocks
            .par_iter()
            .flat_map_iter(|block| {
                let positives: Vec<&[u32]> = block
                    .iter()
                    .map(|&l| docs_per_label[l].as_slice())
                    .collect();
                // Dense starting weights for this block only, to bound memory.
                let dense: Vec<Option<(Vec<f64>, f64)>> = if warm.is_empty() {
                    Vec::new()
                } else {
                    block
                        .iter()
                        .map(|&l| {
                            warm[l].as_ref().map(|(weights, intercept)| {
                                let mut w = vec![0.0f64; x.n_cols()];
                                for &(j, v) in weights {
                                    w[j as usize] = v as f64;
                                }
                                (w, *intercept as f64)
                            })
                        })
                        .collect()
                };
                let starts: Vec<Option<WarmStart>> = dense
                    .iter()
                    .map(|d| {
                        d.as_ref().map(|(weights, intercept)| WarmStart {
                            weights,
                            intercept: *intercept,
                        })
                    })
                    .collect();
                let models: Vec<(BinaryLogistic, Option<T>)> = match held_out {
                    Some((folds, reduce)) => self
                        .logistic
                        .fit_many_held_out(x, &norms, &positives, &starts, folds)
                        .into_iter()
                        .zip(block)
                        .map(|((model, values), &label)| (model, Some(reduce(label, values))))
                        .collect(),
                    None => self
                        .logistic
                        .fit_many(x, &norms, &positives, &starts)
                        .into_iter()
                        .map(|model| (model, None))
                        .collect(),
                };
                progress.advance(block.len() as u64);
                let prune = self.prune_below;
                block
                    .iter()
                    .zip(models)
                    .map(move |(&label, (model, reduced))| {
                        let kept: Vec<(u32, f32)> = model
                            .weights
                            .iter()
                            .enumerate()
                            .filter(|(_, w)| w.abs() as f32 >= prune && **w != 0.0)
                            .map(|(j, &w)| (j as u32, w as f32))
                            .collect();
                        SolvedLabel {
                            label,
                            weights: kept,
                            intercept: model.intercept as f32,
                            held_out: reduced,
                        }
                    })
            })
            .collect();
        trained.sort_by_key(|t| t.label);
        Ok(trained)
    }
}

/// One solved label: its index, kept `(feature, weight)` pairs, intercept and what the
/// held-out reducer made of its held-out values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SolvedLabel<T> {
    pub label: usize,
    pub weights: Vec<(u32, f32)>,
    pub intercept: f32,
    pub held_out: Option<T>,
}

impl Fit<CsrMatrix, LabelSets, Error> for ValidOneVsRestParams {
    type Object = OneVsRest;

    fn fit(&self, dataset: &DatasetBase<CsrMatrix, LabelSets>) -> Result<OneVsRest> {
        self.fit_with_progress(&dataset.records, &dataset.targets, &NoProgress)
    }
}

/// The fitted one-vs-rest model, weights stored by feature (column) for fast scoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneVsRest {
    n_features: usize,
    n_labels: usize,
    /// `feature_ptr[j]..feature_ptr[j+1]` are the entries of feature `j`.
    feature_ptr: Vec<u64>,
    labels: Vec<u32>,
    weights: Vec<f32>,
    intercepts: Vec<f32>,
    /// The weights of the features most labels weigh, as full rows, built on first use
    /// (derived from the fields above, never stored).
    #[serde(skip)]
    dense: DenseRows,
}

/// The rows of the features that at least a [`DENSE_SHARE`] of the labels weigh, each with a
/// weight for every label (0 for the labels it has none for).
///
/// *Why:* the features a draft has are mostly the common ones, and those are weighed by
/// nearly every label (on cail2018, 1,000 of its 16,836 features carry 80 % or more of the
/// 248 labels). Added to the logits as one contiguous row, in vector registers, they cost a
/// fraction of a scatter through their labels. The sums are the same: each label still gets
/// `w · x` for each feature, in feature order, and a label a feature does not weigh gets
/// `0 · x`, which leaves its sum as it was (a `−0.0` sum becomes `+0.0`, an equal number).
#[derive(Debug, Clone, Default)]
struct DenseRows(std::sync::OnceLock<DenseTable>);

#[derive(Debug, Clone)]
struct DenseTable {
    /// Per feature: its row in `weights`, or `u32::MAX` when it is scored sparsely.
    row_of: Vec<u32>,
    /// Rows of `n_labels` weights.
    weights: Vec<f32>,
}

/// How many of the labels a feature must weigh to be scored as a full row: from a quarter
/// on, a full row takes at most twice the memory of its sparse entries (4 bytes a label
/// against 8 an entry).
const DENSE_SHARE: (usize, usize) = (1, 4);

impl PartialEq for DenseRows {
    /// Always: the rows are a function of the weights, which the model compares.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl OneVsRest {
    /// The [`DenseRows`] of this model, built on the first call.
    fn dense_table(&self) -> &DenseTable {
        self.dense.0.get_or_init(|| {
            let mut row_of = vec![u32::MAX; self.n_features];
            let mut weights = Vec::new();
            let mut rows = 0u32;
            for (j, row) in row_of.iter_mut().enumerate() {
                let (s, e) = (
                    self.feature_ptr[j] as usize,
                    self.feature_ptr[j + 1] as usize,
                );
                if (e - s) * DENSE_SHARE.1 < self.n_labels * DENSE_SHARE.0 || e == s {
                    continue;
                }
                *row = rows;
                rows += 1;
                let start = weights.len();
                weights.resize(start + self.n_labels, 0f32);
                for (&l, &w) in self.labels[s..e].iter().zip(&self.weights[s..e]) {
                    weights[start + l as usize] = w;
                }
            }
            DenseTable { row_of, weights }
        })
    }

    /// Joins solved labels (every label `0..n_labels` once, by ascending index, as
    /// [`ValidOneVsRestParams::solve_blocks`] returns them or several of its results
    /// concatenated and sorted) into one model, and returns what each label's reducer kept.
    pub fn join<T>(
        n_features: usize,
        n_labels: usize,
        solved: Vec<SolvedLabel<T>>,
    ) -> Result<(OneVsRest, Vec<Option<T>>)> {
        if solved.len() != n_labels || solved.iter().enumerate().any(|(i, s)| s.label != i) {
            return Err(Error::Training(format!(
                "{} solved labels do not cover the {n_labels} labels once each",
                solved.len()
            )));
        }
        if solved
            .iter()
            .flat_map(|s| &s.weights)
            .any(|&(j, _)| j as usize >= n_features)
        {
            return Err(Error::Training(
                "a solved label has weights beyond the vocabulary".into(),
            ));
        }
        let mut reduced = Vec::with_capacity(n_labels);
        let per_label: Vec<LabelWeights> = solved
            .into_iter()
            .map(|s| {
                reduced.push(s.held_out);
                (s.weights, s.intercept)
            })
            .collect();
        Ok((
            OneVsRest::from_label_weights(n_features, per_label),
            reduced,
        ))
    }

    /// Builds the feature-major layout from per-label sparse weights.
    pub fn from_label_weights(n_features: usize, per_label: Vec<(Vec<(u32, f32)>, f32)>) -> Self {
        let n_labels = per_label.len();
        let mut counts = vec![0u64; n_features + 1];
        for (weights, _) in &per_label {
            for &(j, _) in weights {
                counts[j as usize + 1] += 1;
            }
        }
        for j in 0..n_features {
            counts[j + 1] += counts[j];
        }
        let nnz = counts[n_features] as usize;
        let mut next = counts.clone();
        let mut labels = vec![0u32; nnz];
        let mut weights = vec![0f32; nnz];
        let mut intercepts = Vec::with_capacity(n_labels);
        for (label, (label_weights, intercept)) in per_label.into_iter().enumerate() {
            intercepts.push(intercept);
            for (j, w) in label_weights {
                let slot = next[j as usize] as usize;
                labels[slot] = label as u32;
                weights[slot] = w;
                next[j as usize] += 1;
            }
        }
        OneVsRest {
            n_features,
            n_labels,
            feature_ptr: counts,
            labels,
            weights,
            intercepts,
            dense: DenseRows::default(),
        }
    }

    pub fn n_labels(&self) -> usize {
        self.n_labels
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Stored (non-pruned) weights.
    pub fn nnz(&self) -> usize {
        self.weights.len()
    }

    /// Checks internal consistency after loading from a file.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let nnz = self.weights.len();
        let ok = self.feature_ptr.len() == self.n_features + 1
            && self.labels.len() == nnz
            && self.intercepts.len() == self.n_labels
            && self.feature_ptr.first() == Some(&0)
            && self.feature_ptr.last() == Some(&(nnz as u64))
            && self.feature_ptr.windows(2).all(|w| w[0] <= w[1])
            && self.labels.iter().all(|&l| (l as usize) < self.n_labels);
        ok.then_some(())
            .ok_or_else(|| "classifier tables are inconsistent".to_string())
    }

    /// The `(label, weight)` entries of one feature.
    pub fn feature_weights(&self, feature: usize) -> impl Iterator<Item = (usize, f32)> + '_ {
        let (s, e) = (
            self.feature_ptr[feature] as usize,
            self.feature_ptr[feature + 1] as usize,
        );
        self.labels[s..e]
            .iter()
            .zip(&self.weights[s..e])
            .map(|(&l, &w)| (l as usize, w))
    }

    /// The intercept of one label.
    pub fn intercept(&self, label: usize) -> f32 {
        self.intercepts[label]
    }

    /// Every label's sparse weights and intercept (label-major, features ascending): the
    /// inverse of [`OneVsRest::from_label_weights`].
    pub fn label_weights(&self) -> Vec<LabelWeights> {
        let mut out: Vec<LabelWeights> = self.intercepts.iter().map(|&b| (Vec::new(), b)).collect();
        for j in 0..self.n_features {
            for (l, w) in self.feature_weights(j) {
                out[l].0.push((j as u32, w));
            }
        }
        out
    }

    /// Decision values (logits) of every label for one row, written into `out`.
    pub fn decision_into(&self, indices: &[u32], values: &[f32], out: &mut [f32]) {
        out.copy_from_slice(&self.intercepts);
        let dense = self.dense_table();
        for (&j, &x) in indices.iter().zip(values) {
            let j = j as usize;
            if j >= self.n_features {
                continue;
            }
            let row = dense.row_of[j];
            if row != u32::MAX {
                let start = row as usize * self.n_labels;
                let weights = &dense.weights[start..start + self.n_labels];
                for (o, &w) in out.iter_mut().zip(weights) {
                    *o += w * x;
                }
                continue;
            }
            let (s, e) = (
                self.feature_ptr[j] as usize,
                self.feature_ptr[j + 1] as usize,
            );
            for (&l, &w) in self.labels[s..e].iter().zip(&self.weights[s..e]) {
                out[l as usize] += w * x;
            }
        }
    }

    /// Probabilities of every label for one row.
    pub fn probabilities(&self, indices: &[u32], values: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; self.n_labels];
        self.decision_into(indices, values, &mut out);
        out.iter_mut().for_each(|z| *z = sigmoid(*z as f64) as f32);
        out
    }
}

impl PredictInplace<CsrMatrix, Array2<f32>> for OneVsRest {
    /// Fills `y[[doc, label]]` with probabilities.
    fn predict_inplace(&self, x: &CsrMatrix, y: &mut Array2<f32>) {
        assert_eq!(
            y.dim(),
            (x.n_rows(), self.n_labels),
            "target has the wrong shape"
        );
        y.axis_iter_mut(ndarray::Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(i, mut row)| {
                let (idx, val) = x.row(i);
                let probs = self.probabilities(idx, val);
                row.iter_mut().zip(probs).for_each(|(o, p)| *o = p);
            });
    }

    fn default_target(&self, x: &CsrMatrix) -> Array2<f32> {
        Array2::zeros((x.n_rows(), self.n_labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linfa::traits::Predict;

    #[test]
    fn learns_two_labels_and_predicts_through_linfa_traits() {
        let x = CsrMatrix::from_dense(&[
            vec![1.0, 0.0, 0.0],
            vec![0.9, 0.1, 0.0],
            vec![0.0, 1.0, 0.1],
            vec![0.0, 0.9, 0.0],
            vec![0.5, 0.5, 0.0],
        ]);
        let y = LabelSets {
            n_labels: 2,
            rows: vec![vec![0], vec![0], vec![1], vec![1], vec![0, 1]],
        };
        let params = OneVsRestParams {
            logistic: LogisticParams {
                c: 10.0,
                ..Default::default()
            },
            ..Default::default()
        };
        let data = DatasetBase::new(x, y);
        let model = params.check().unwrap().fit(&data).unwrap();
        model.validate().unwrap();
        let probs: Array2<f32> = model.predict(&data);
        assert!(probs[[0, 0]] > 0.5 && probs[[0, 1]] < 0.5);
        assert!(probs[[2, 1]] > 0.5 && probs[[2, 0]] < 0.5);
    }

    #[test]
    fn full_rows_and_sparse_entries_give_the_scatters_sums() {
        // Eight labels: feature 0 weighed by all (a full row), feature 1 by one (sparse),
        // feature 2 by three (a quarter or more: a full row with zeros), feature 3 by none.
        let per_label: Vec<LabelWeights> = (0..8u32)
            .map(|l| {
                let mut w = vec![(0, 0.3 * l as f32 - 1.1)];
                if l == 5 {
                    w.push((1, 2.5));
                }
                if l % 3 == 0 {
                    w.push((2, -0.7 - l as f32));
                }
                (w, 0.1 * l as f32)
            })
            .collect();
        let model = OneVsRest::from_label_weights(4, per_label.clone());
        let dense = model.dense_table();
        assert_ne!(dense.row_of[0], u32::MAX);
        assert_eq!(dense.row_of[1], u32::MAX);
        assert_ne!(dense.row_of[2], u32::MAX);
        assert_eq!(dense.row_of[3], u32::MAX);
        let (indices, values) = ([0u32, 1, 2, 3, 9], [0.4f32, 0.25, 1.5, 0.3, 1.0]);
        let mut out = vec![0f32; 8];
        model.decision_into(&indices, &values, &mut out);
        for (l, (weights, intercept)) in per_label.iter().enumerate() {
            let mut expected = *intercept;
            for (&j, &x) in indices.iter().zip(&values) {
                if let Some(&(_, w)) = weights.iter().find(|&&(f, _)| f == j) {
                    expected += w * x;
                }
            }
            assert_eq!(out[l].to_bits(), expected.to_bits(), "label {l}");
        }
    }
}
