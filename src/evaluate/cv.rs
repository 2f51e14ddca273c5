//! k-fold cross-validation of the whole pipeline: each fold is held out once while a model is
//! trained on the others (analysis, vocabulary and idf included, so nothing of the held-out
//! fold leaks into its model), then evaluated like `dtag eval` would.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::calibrate::fold_assignment;
use crate::corpus::Corpus;
use crate::error::{Error, Result};
use crate::evaluate::{evaluate, EvalReport};
use crate::predict::{DecisionRule, Suggester};
use crate::progress::{NoProgress, Progress};
use crate::train::ValidTrainParams;

/// Mean and sample standard deviation of one figure over the folds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricSummary {
    pub mean: f64,
    pub sd: f64,
}

/// What cross-validation measured.
#[derive(Debug, Clone, Serialize)]
pub struct CvReport {
    pub folds: usize,
    pub documents: usize,
    /// Every numeric figure of [`EvalReport`], by its JSON key.
    pub summary: BTreeMap<String, MetricSummary>,
    pub per_fold: Vec<EvalReport>,
}

/// Checks a fold count of [`cross_validate`] (callers may check before reading the corpus).
pub fn check_folds(folds: usize) -> Result<()> {
    // `cv_folds`, not `folds`: that is the tuning's (`TuneParams::folds`), checked as well.
    if folds < 2 {
        return Err(Error::param("cv_folds", "must be at least 2"));
    }
    Ok(())
}

/// Cross-validates `params` on `corpus` with `folds` folds.
pub fn cross_validate(
    params: &ValidTrainParams,
    corpus: &Corpus,
    thesaurus: Option<&crate::thesaurus::Thesaurus>,
    folds: usize,
    seed: u64,
    rule: &DecisionRule,
    progress: &dyn Progress,
) -> Result<CvReport> {
    check_folds(folds)?;
    let n_docs = corpus.documents.len();
    if n_docs < folds {
        return Err(Error::param(
            "cv_folds",
            format!("{folds} folds need at least {folds} documents, the corpus has {n_docs}"),
        ));
    }
    let ids: BTreeMap<&str, u32> = corpus
        .descriptor_set()
        .into_iter()
        .enumerate()
        .map(|(i, d)| (d, i as u32))
        .collect();
    let rows: Vec<Vec<u32>> = corpus
        .documents
        .iter()
        .map(|d| d.descriptors.iter().map(|x| ids[x.as_str()]).collect())
        .collect();
    let fold = fold_assignment(&rows, ids.len(), folds, seed);

    let bar = progress.stage("folds", folds as u64);
    let mut per_fold = Vec::with_capacity(folds);
    for f in 0..folds {
        let (held_out, kept): (Vec<_>, Vec<_>) = corpus
            .documents
            .iter()
            .zip(&fold)
            .partition(|(_, &k)| k == f);
        let subset = |docs: Vec<(&crate::corpus::Document, &usize)>| Corpus {
            documents: docs.into_iter().map(|(d, _)| d.clone()).collect(),
            sources: corpus.sources,
        };
        let (model, _) = params.fit(&subset(kept), thesaurus, &NoProgress)?;
        let suggester = Suggester::new(model)?;
        per_fold.push(evaluate(&suggester, &subset(held_out), rule));
        bar.advance(1);
    }
    bar.finish();
    Ok(CvReport {
        folds,
        documents: n_docs,
        summary: summarise(&per_fold),
        per_fold,
    })
}

/// Mean and sample standard deviation of every figure of the reports.
fn summarise(reports: &[EvalReport]) -> BTreeMap<String, MetricSummary> {
    let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for report in reports {
        for figure in report.figures() {
            values
                .entry(figure.key.to_string())
                .or_default()
                .push(figure.value);
        }
    }
    values
        .into_iter()
        .map(|(key, v)| (key, mean_and_sd(&v)))
        .collect()
}

fn mean_and_sd(values: &[f64]) -> MetricSummary {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n.max(1.0);
    let sd = if values.len() < 2 {
        0.0
    } else {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    };
    MetricSummary { mean, sd }
}

impl CvReport {
    /// A readable table: one line per figure, mean ± sd.
    pub fn to_table(&self) -> String {
        let width = self.summary.keys().map(String::len).max().unwrap_or(0);
        let mut out = format!(
            "{}-fold cross-validation on {} documents (mean ± sample sd over folds)\n",
            self.folds, self.documents
        );
        for (key, s) in &self.summary {
            let integer = self.per_fold.first().is_some_and(|r| {
                r.figures()
                    .iter()
                    .any(|f| f.key == key.as_str() && f.is_count)
            });
            if integer {
                out.push_str(&format!("{key:<width$}  {:>10.1} ± {:.1}\n", s.mean, s.sd));
            } else {
                out.push_str(&format!("{key:<width$}  {:>10.4} ± {:.4}\n", s.mean, s.sd));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_standard_deviation() {
        let s = mean_and_sd(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert!((s.mean - 5.0).abs() < 1e-12);
        // Sample (n − 1) variance: 32 / 7.
        assert!((s.sd - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert_eq!(mean_and_sd(&[3.0]).sd, 0.0);
    }

    #[test]
    fn summary_covers_every_numeric_figure() {
        let a = EvalReport {
            micro_f1: 0.5,
            docs: 10,
            ..EvalReport::default()
        };
        let b = EvalReport {
            micro_f1: 0.7,
            docs: 12,
            ..EvalReport::default()
        };
        let summary = summarise(&[a, b]);
        assert!((summary["micro_f1"].mean - 0.6).abs() < 1e-12);
        assert!((summary["docs"].mean - 11.0).abs() < 1e-12);
        assert!(summary.contains_key("ece") && summary.contains_key("macro_f1_seen"));
        assert!(!summary.contains_key("limit") && !summary.contains_key("thresholds"));
    }
}
