//! Folds and out-of-fold decision values: every training document scored by a model that
//! never saw it, keeping only what tuning needs.

use super::*;

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
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DroppedNegatives {
    pub count: u64,
    pub logit_sum: f64,
}

/// Keeps what tuning needs of one label's held-out decision values (one per document):
/// the values of its positive documents (`positives`, sorted) and those at or above
/// [`KEEP_LOGIT`]; the other negatives are only summed.
pub(super) fn keep_held_out(positives: &[u32], values: &[f32]) -> LabelHeldOut {
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LabelHeldOut {
    /// `(document, decision value)` of positives and of values at or above [`KEEP_LOGIT`].
    pub kept: Vec<(u32, f32)>,
    pub dropped: DroppedNegatives,
}

/// Kept entries of a run of held-out documents (by document index), and its dropped sums.
pub(super) type ScoredChunk = (Vec<(usize, Vec<(u32, f32)>)>, Vec<DroppedNegatives>);

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
    /// Trains one-vs-rest on all folds but one, `folds` times, and scores each held-out fold.
    /// `progress` advances once per fold.
    pub fn out_of_fold(
        &self,
        x: &CsrMatrix,
        labels: &LabelSets,
        ovr: &ValidOneVsRestParams,
        progress: &dyn Stage,
    ) -> Result<OutOfFold> {
        let n_docs = labels.rows.len();
        let k = self.folds_for(n_docs);
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
            let model = ovr.fit_with_progress(&x.select_rows(&kept), &train_labels, &NoProgress)?;
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
            progress.advance(1);
        }
        Ok(OutOfFold {
            missed: vec![0; labels.n_labels],
            n_labels,
            docs,
            dropped,
            folds: k,
        })
    }

    /// Trains `ovr` on `x` (starting from `warm`, as [`ValidOneVsRestParams::fit_warm`]) and
    /// scores every document out of sample in the same run: each fold's model is refitted
    /// from the solution for `refit_epochs` epochs (see
    /// [`crate::classifier::logistic::ValidLogisticParams::fit_many_held_out`]). Unlike the scores
    /// of [`Self::out_of_fold`], a document's list is not topped up to its [`KEEP_TOP`] best
    /// descriptors: values below [`KEEP_LOGIT`] are only summed.
    pub fn fit_held_out(
        &self,
        ovr: &ValidOneVsRestParams,
        x: &CsrMatrix,
        labels: &LabelSets,
        warm: &[Option<LabelWeights>],
        progress: &dyn Stage,
    ) -> Result<(OneVsRest, OutOfFold)> {
        let blocks = ValidOneVsRestParams::blocks(labels);
        let solved = self.fit_held_out_blocks(ovr, x, labels, warm, &blocks, progress)?;
        self.join_held_out(x.n_cols(), labels, solved)
    }

    /// The part of [`Self::fit_held_out`] that solves some blocks of labels (see
    /// [`ValidOneVsRestParams::blocks`]): each label's weights and what tuning keeps of its
    /// held-out values. The fold assignment depends on every label of `labels`, never on
    /// `blocks`, so a label's values are the same whichever blocks are solved with it.
    pub fn fit_held_out_blocks(
        &self,
        ovr: &ValidOneVsRestParams,
        x: &CsrMatrix,
        labels: &LabelSets,
        warm: &[Option<LabelWeights>],
        blocks: &[Vec<usize>],
        progress: &dyn Stage,
    ) -> Result<Vec<SolvedLabel<LabelHeldOut>>> {
        let t = &self.0;
        if t.refit_epochs == 0 {
            return Err(Error::param(
                "refit_epochs",
                "must be at least 1 to refit folds",
            ));
        }
        let positives = labels.documents_per_label();
        let keep = |l: usize, values: Vec<f32>| keep_held_out(&positives[l], &values);
        let k = self.folds_for(labels.rows.len());
        let fold_of = fold_assignment(&labels.rows, labels.n_labels, k, t.seed);
        let folds = HeldOutFolds {
            fold_of: &fold_of,
            folds: k,
            epochs: t.refit_epochs,
        };
        ovr.solve_blocks(x, labels, warm, blocks, progress, Some((folds, &keep)))
    }

    /// Joins solved labels (all of `labels`' labels, by ascending index: the results of
    /// [`Self::fit_held_out_blocks`] over every block) into the model and the out-of-fold
    /// values of every document.
    pub fn join_held_out(
        &self,
        n_features: usize,
        labels: &LabelSets,
        solved: Vec<SolvedLabel<LabelHeldOut>>,
    ) -> Result<(OneVsRest, OutOfFold)> {
        let (model, per_label) = OneVsRest::join(n_features, labels.n_labels, solved)?;
        let n_labels = per_label.len();
        let mut docs: Vec<Vec<(u32, f32)>> = vec![Vec::new(); labels.rows.len()];
        let mut dropped = Vec::with_capacity(n_labels);
        for (l, label) in per_label.into_iter().enumerate() {
            let label = label.ok_or_else(|| {
                Error::Training(format!("label {l} has no held-out decision values"))
            })?;
            for (d, z) in label.kept {
                let entries = docs.get_mut(d as usize).ok_or_else(|| {
                    Error::Training("held-out values name a document beyond the corpus".into())
                })?;
                entries.push((l as u32, z));
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
            folds: self.folds_for(labels.rows.len()),
        };
        Ok((model, oof))
    }
}
