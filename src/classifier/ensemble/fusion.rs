//! Fusion: one logistic regression over the evidence of every member for a (document,
//! descriptor) candidate, fitted on out-of-sample evidence of the training corpus.
//!
//! *Why a model, not fixed weights:* the members' scores live on different scales (a logit,
//! a vote share, counts of mentions) and how much each is worth differs from corpus to corpus
//! (labels written in the text matter on a thesaurus corpus, hardly on charge codes). Fitted
//! on out-of-fold scores, the regression learns those weights from the corpus at hand and
//! gives one probability comparable across descriptors, which is what ranking needs.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::classifier::logistic::log1p_exp;

/// The evidence of one candidate, a fixed set of numbers (see [`FEATURES`]).
pub type Features = [f32; N_FEATURES];

pub const N_FEATURES: usize = 18;

/// Which member each feature belongs to, for explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Member {
    Bias,
    OneVsRest,
    Neighbours,
    Lexical,
    Prior,
}

impl Member {
    pub fn name(self) -> &'static str {
        match self {
            Member::Bias => "bias",
            Member::OneVsRest => "one-vs-rest",
            Member::Neighbours => "neighbours",
            Member::Lexical => "lexical",
            Member::Prior => "prior",
        }
    }

    pub const ALL: [Member; 5] = [
        Member::Bias,
        Member::OneVsRest,
        Member::Neighbours,
        Member::Lexical,
        Member::Prior,
    ];
}

/// Name and member of every feature, in feature order.
pub const FEATURES: [(&str, Member); N_FEATURES] = [
    ("bias", Member::Bias),
    ("ovr_logit", Member::OneVsRest),
    ("ovr_trained", Member::OneVsRest),
    ("knn_share", Member::Neighbours),
    ("knn_share_sqrt", Member::Neighbours),
    ("knn_nearest", Member::Neighbours),
    ("lex_mentioned", Member::Lexical),
    ("lex_log_count", Member::Lexical),
    ("lex_early", Member::Lexical),
    ("lex_spread", Member::Lexical),
    ("lex_label_words", Member::Lexical),
    ("lex_precision_logit", Member::Lexical),
    ("lex_preferred", Member::Lexical),
    ("lex_unambiguous", Member::Lexical),
    ("label_frequency", Member::Prior),
    ("lex_rarity", Member::Lexical),
    ("knn_duplicate", Member::Neighbours),
    ("lex_corpus_share", Member::Lexical),
];

/// How much the nearest neighbour carrying a descriptor is a copy of the text: 0 up to a
/// cosine similarity of 0.9, rising to 1 for the same text. *Why a feature of its own:* the
/// similarity itself enters linearly (`knn_nearest`), and a weight large enough to make a
/// copy decisive would let any neighbour of a one-document corpus decide.
pub fn near_duplicate(nearest: f32) -> f32 {
    ((nearest - 0.9) / 0.1).clamp(0.0, 1.0)
}

/// Features of the lexical member (and the bias): all a concept no training document carried
/// has, and all the fusion of such concepts ([`Fusion::unseen`]) reads.
pub fn lexical_only(f: &Features) -> Features {
    let mut out = [0f32; N_FEATURES];
    for (i, (_, member)) in FEATURES.iter().enumerate() {
        if matches!(member, Member::Bias | Member::Lexical) {
            out[i] = f[i];
        }
    }
    out
}

/// The prior: the fusion weights dtag starts from, before any training document, and that a
/// fusion fitted on few documents is pulled toward ([`Fusion::fit`]).
///
/// With no training document, a candidate is a concept whose label the text mentions, and
/// its score is the logit `−5.5 + 1.2·ln(1 + count) + 0.8·early + 1.0·spread +
/// 0.8·label_words + 0.6·preferred + 1.2·unambiguous + 2.4·rarity` (features as in
/// [`FEATURES`]: `early` is 1 for a first mention at the start of the text and 0 at its
/// end, `spread` the share of the text between the first and last mention, `label_words`
/// the longest matched label's words over 4, `rarity` how rare the label's words are among
/// the thesaurus's labels). How common the mention is across the training texts
/// (`lex_corpus_share`, [`corpus_share`]) has prior weight 0 and is 0 below
/// `ALWAYS_FUSE_BELOW` documents (`measured_as_a_whole`): on fewer texts, what is common in
/// them is chance as much as the domain (at kirjastonhoitaja's first 100 documents its
/// fitted weights were −0.4 and −0.3, and P@1 went 0.465 → 0.458); a fusion fitted on a
/// larger corpus weighs it as that corpus shows (kirjastonhoitaja's 2,625 documents: −5.3
/// in the main fusion, −1.9 in the unseen one). *Why these:* an indexer picks the concepts
/// a text is about, which it names often, early and throughout; a long or rare label is specific, a label shared by
/// several concepts or made of words many labels have is not. A single mention of a
/// one-word label, halfway through, of middling rarity scores about 0.25; a rare label
/// named three times from the first lines on about 0.8. The level is that of real indexing:
/// on kirjastonhoitaja's training corpus, 13 % of the held-out mentions of trained
/// descriptors' labels were of a gold descriptor, and the fusion fitted on them (with the
/// corpus's 2,625 documents, see `dtag train --json`, `ensemble.unseen`) has weights within
/// about 0.5 of these. The weights of the other members are of the order a corpus with them
/// fits: a one-vs-rest logit counts about as itself, a neighbours' vote share and a
/// mention's record in training as evidence of the same order. A near-duplicate neighbour
/// ([`near_duplicate`]) counts more than out-of-fold votes could teach: they seldom hold
/// one, while a deployment does (a draft corrected by an indexer, then revised or suggested
/// again), and a correction learned from a text should show on that text at once.
pub fn prior_weights() -> Features {
    let mut w = [0f32; N_FEATURES];
    let mut set = |name: &str, value: f32| {
        let i = FEATURES
            .iter()
            .position(|(n, _)| *n == name)
            .expect("a feature of FEATURES");
        w[i] = value;
    };
    set("bias", -5.5);
    set("ovr_logit", 0.8);
    set("ovr_trained", 0.0);
    set("knn_share", 2.0);
    set("knn_share_sqrt", 1.5);
    set("knn_nearest", 0.5);
    set("knn_duplicate", 3.0);
    set("lex_mentioned", 0.0);
    set("lex_log_count", 1.2);
    set("lex_early", 0.8);
    set("lex_spread", 1.0);
    set("lex_label_words", 0.8);
    set("lex_precision_logit", 0.5);
    set("lex_preferred", 0.6);
    set("lex_unambiguous", 1.2);
    set("label_frequency", 0.5);
    set("lex_rarity", 2.4);
    set("lex_corpus_share", 0.0);
    w
}

/// How common a mention of a descriptor's labels is across the training texts: `ln(1 + m) /
/// ln(1 + n)` for `m` of `n` training documents mentioning it, in `[0, 1]` (0 with no
/// document). *Why:* the corpus's counterpart of a label's rarity in the thesaurus, like a
/// word's idf — a label the domain's texts keep using (`kirjastot` in a library's questions,
/// 和平 in Security Council papers) says little about what one of them is about, whether or
/// not the corpus ever chose its concept. Unlike the record of mentions
/// ([`super::Lexicon::precision`]) it needs no gold, so it counts as much for a concept no
/// training document carried as for a trained one.
pub fn corpus_share(mentioned_in: u32, documents: usize) -> f32 {
    if documents == 0 {
        return 0.0;
    }
    ((1.0 + mentioned_in as f64).ln() / (1.0 + documents as f64).ln()).min(1.0) as f32
}

/// The shift of a fusion's bias that makes its probabilities over some rows (`values`, its
/// logits) match how often they were gold: the maximum of their log-likelihood, each row
/// counted at `weight`, minus `δ²/2` (a pull toward no shift). *Why:* the unseen fusion
/// learns its weights from mentions of trained descriptors, and those are chosen more often
/// than a concept no other indexed document carries; its level must be that of the held-out
/// candidates that were such concepts (see `Ensemble::fit`), which are what a draft's
/// thesaurus-only candidates are.
pub fn level_shift(values: &[f32], gold: &[bool], weight: f64) -> f64 {
    let mut shift = 0f64;
    for _ in 0..50 {
        let (mut gradient, mut curvature) = (shift, 1.0);
        for (&z, &y) in values.iter().zip(gold) {
            let p = 1.0 / (1.0 + (-(z as f64 + shift)).exp());
            gradient += weight * (p - y as u8 as f64);
            curvature += weight * (p * (1.0 - p)).max(1e-12);
        }
        // Newton on a concave one-dimensional likelihood; the clamp only guards the first
        // steps from a far start.
        let step = (gradient / curvature).clamp(-2.0, 2.0);
        shift -= step;
        if step.abs() < 1e-9 {
            break;
        }
    }
    shift
}

/// Fitted weights of the fusion regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fusion {
    pub weights: Vec<f32>,
}

impl Fusion {
    /// The [prior](prior_weights) as a fusion: how a model with no training document scores.
    pub fn prior() -> Fusion {
        Fusion {
            weights: prior_weights().to_vec(),
        }
    }

    /// The prior of the fusion of concepts no training document carried: its lexical part.
    pub fn unseen_prior() -> Fusion {
        Fusion {
            weights: lexical_only(&prior_weights()).to_vec(),
        }
    }

    /// Each feature's name with its weight, in feature order (for reports).
    pub fn named_weights(&self) -> Vec<(String, f32)> {
        FEATURES
            .iter()
            .zip(&self.weights)
            .map(|((name, _), &w)| (name.to_string(), w))
            .collect()
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.weights.len() != N_FEATURES || !self.weights.iter().all(|w| w.is_finite()) {
            return Err("the fusion weights do not match this version of dtag".into());
        }
        Ok(())
    }

    /// The fused decision value (a logit) of a candidate.
    pub fn logit(&self, f: &Features) -> f32 {
        self.weights.iter().zip(f).map(|(w, x)| w * x).sum()
    }

    /// The fused logit split by member: `(member, contribution)`, summing to [`Self::logit`].
    pub fn contributions(&self, f: &Features) -> Vec<(Member, f32)> {
        Member::ALL
            .iter()
            .map(|&member| {
                let sum = FEATURES
                    .iter()
                    .zip(self.weights.iter().zip(f))
                    .filter(|((_, m), _)| *m == member)
                    .map(|(_, (w, x))| w * x)
                    .sum();
                (member, sum)
            })
            .collect()
    }

    /// Fits the weights by Newton's method with backtracking on the log-loss plus a penalty
    /// `ridge/2 · ‖w − prior‖²` (not on the bias) pulling them toward `prior`. *Why toward the
    /// prior:* the log-loss sums over candidates while the penalty stays fixed, so a corpus of
    /// 30 documents (a few hundred positive candidates) moves the weights part of the way
    /// from the prior, and one of thousands fits them as its evidence says: shrinkage in
    /// proportion to the evidence. Eighteen weights over a few hundred thousand candidates:
    /// each step is one pass building an 18 × 18 system.
    ///
    /// `with_bias`: the bias is pulled toward the prior's too. The fusion of unseen concepts
    /// needs it: its level (how often a mention is right at all) comes from trained
    /// descriptors' mentions, which on a corpus of a few descriptors are nearly always gold,
    /// and an unpulled bias would make any mention of any concept certain.
    pub fn fit(
        rows: &[Features],
        gold: &[bool],
        ridge: f64,
        prior: &Fusion,
        with_bias: bool,
    ) -> Fusion {
        const STEPS: usize = 30;
        let n = N_FEATURES;
        let penalty = |i: usize| if i == 0 && !with_bias { 1e-6 } else { ridge };
        let center: Vec<f64> = (0..n)
            .map(|i| {
                if i == 0 && !with_bias {
                    0.0
                } else {
                    prior.weights[i] as f64
                }
            })
            .collect();
        let mut losses = Vec::with_capacity(rows.len());
        let mut objective = |w: &[f64]| -> f64 {
            let w: &Weights = w.try_into().expect("one weight per feature");
            // Each row's loss on any thread, summed here in row order: the same bits as a
            // sum on one thread.
            rows.par_iter()
                .zip(gold)
                .map(|(f, &y)| {
                    let z = decision(w, f);
                    log1p_exp(z) - if y { z } else { 0.0 }
                })
                .collect_into_vec(&mut losses);
            let loss: f64 = losses.iter().sum();
            loss + (0..n)
                .map(|i| 0.5 * penalty(i) * (w[i] - center[i]).powi(2))
                .sum::<f64>()
        };
        let mut w = center.clone();
        if rows.is_empty() {
            // No evidence at all: the prior as it is.
            return prior.clone();
        }
        if !with_bias {
            // Start the bias at the base rate: fewer steps, and safe when a class is missing.
            let positives = gold.iter().filter(|&&g| g).count() as f64;
            let rate = ((positives + 0.5) / (gold.len() as f64 + 1.0)).clamp(1e-6, 1.0 - 1e-6);
            w[0] = (rate / (1.0 - rate)).ln();
        }
        let mut current = objective(&w);
        for _ in 0..STEPS {
            let (mut gradient, mut hessian) = gradient_and_hessian(rows, gold, &w);
            for i in 0..n {
                for j in 0..i {
                    hessian[i * n + j] = hessian[j * n + i];
                }
                // The ridge also keeps the system solvable when a feature is always zero.
                gradient[i] += penalty(i) * (w[i] - center[i]);
                hessian[i * n + i] += penalty(i);
            }
            let Some(step) = solve(hessian, gradient) else {
                break;
            };
            // Halve the step until the objective decreases (Newton alone can overshoot where
            // the loss is nearly flat).
            let mut t = 1.0;
            let mut improved = None;
            while t > 1e-4 {
                let trial: Vec<f64> = w.iter().zip(&step).map(|(w, s)| w - t * s).collect();
                let value = objective(&trial);
                if value < current {
                    improved = Some((trial, value));
                    break;
                }
                t *= 0.5;
            }
            let Some((trial, value)) = improved else {
                break;
            };
            let settled = (current - value) < 1e-9 * current.abs().max(1.0);
            w = trial;
            current = value;
            if settled {
                break;
            }
        }
        Fusion {
            weights: w.into_iter().map(|x| x as f32).collect(),
        }
    }
}

/// The fusion's weights in `f64`, as [`Fusion::fit`] solves for them.
type Weights = [f64; N_FEATURES];

/// `wᵀf` of one row, summed in feature order.
#[inline(always)]
fn decision(w: &Weights, f: &Features) -> f64 {
    w.iter().zip(f).map(|(w, &x)| w * x as f64).sum()
}

/// Where the Hessian's rows are split between two threads (each row is as long as another).
const HESSIAN_SPLIT: usize = N_FEATURES / 2;

/// The log-loss's gradient and its Hessian at `w` (row-major, `N_FEATURES²`; only the upper
/// triangle is meant), each entry summed over the rows in row order.
///
/// *Why in two bands:* the Hessian is most of [`Fusion::fit`]'s time (cail2018_sample: 112,535
/// candidates, 171 products each per Newton step), and the fit runs when nothing else does.
/// Each band of Hessian rows is summed on its own thread over every candidate, in candidate
/// order, so every entry gets the same additions in the same order as on one thread: the
/// same bits on any number of threads.
fn gradient_and_hessian(rows: &[Features], gold: &[bool], w: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = N_FEATURES;
    let w: &Weights = w.try_into().expect("one weight per feature");
    let mut gradient = vec![0f64; n];
    let mut hessian = vec![0f64; n * n];
    let (low, high) = hessian.split_at_mut(HESSIAN_SPLIT * n);
    let (low_gradient, high_gradient) = gradient.split_at_mut(HESSIAN_SPLIT);
    rayon::join(
        || add_band_dispatch::<0, HESSIAN_SPLIT>(rows, gold, w, low_gradient, low),
        || add_band_dispatch::<HESSIAN_SPLIT, N_FEATURES>(rows, gold, w, high_gradient, high),
    );
    (gradient, hessian)
}

/// [`add_band`] with AVX2 when the processor has it: the same multiplies and adds (never
/// fused), so the same bits.
fn add_band_dispatch<const FROM: usize, const TO: usize>(
    rows: &[Features],
    gold: &[bool],
    w: &Weights,
    gradient: &mut [f64],
    hessian: &mut [f64],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor supports AVX2, checked just above.
            return unsafe { add_band_avx2::<FROM, TO>(rows, gold, w, gradient, hessian) };
        }
    }
    add_band::<FROM, TO>(rows, gold, w, gradient, hessian)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn add_band_avx2<const FROM: usize, const TO: usize>(
    rows: &[Features],
    gold: &[bool],
    w: &Weights,
    gradient: &mut [f64],
    hessian: &mut [f64],
) {
    add_band::<FROM, TO>(rows, gold, w, gradient, hessian)
}

/// Rows `FROM..TO` of [`gradient_and_hessian`]: `gradient[i − FROM]` and
/// `hessian[(i − FROM) · N_FEATURES + j]` for every `j`.
#[inline(always)]
fn add_band<const FROM: usize, const TO: usize>(
    rows: &[Features],
    gold: &[bool],
    w: &Weights,
    gradient_out: &mut [f64],
    hessian_out: &mut [f64],
) {
    let n = N_FEATURES;
    // Sums in arrays of fixed size, so that the loops below have constant bounds.
    let mut gradient = [0f64; N_FEATURES];
    let mut hessian = [[0f64; N_FEATURES]; N_FEATURES];
    for (f, &y) in rows.iter().zip(gold) {
        let z = decision(w, f);
        let p = 1.0 / (1.0 + (-z).exp());
        let r = p - y as u8 as f64;
        let s = (p * (1.0 - p)).max(1e-12);
        let x: Weights = std::array::from_fn(|j| f[j] as f64);
        // Every product, zeros included, in whole rows: straight vector code. A zero feature
        // adds ±0 to sums that are never −0 (they start at +0, and x + (−x) is +0), so the
        // sums are those of a loop that skips zeros; the part left of the diagonal is
        // replaced by its mirror image afterwards.
        for i in FROM..TO {
            gradient[i] += r * x[i];
            let sxi = s * x[i];
            for j in 0..n {
                hessian[i][j] += sxi * x[j];
            }
        }
    }
    gradient_out.copy_from_slice(&gradient[FROM..TO]);
    for (out, row) in hessian_out.chunks_exact_mut(n).zip(&hessian[FROM..TO]) {
        out.copy_from_slice(row);
    }
}

/// Solves `a x = b` for a small symmetric positive definite `a` (Cholesky); `None` when it is
/// not positive definite.
fn solve(mut a: Vec<f64>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
    }
    for i in 0..n {
        for k in 0..i {
            b[i] -= a[i * n + k] * b[k];
        }
        b[i] /= a[i * n + i];
    }
    for i in (0..n).rev() {
        for k in i + 1..n {
            b[i] -= a[k * n + i] * b[k];
        }
        b[i] /= a[i * n + i];
    }
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hessian_in_bands_is_the_one_pass_sum_bit_for_bit() {
        // Rows with zeros, negative weights and values of every size, as candidates have.
        let mut rng = crate::classifier::logistic::XorShift(17);
        let mut uniform = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let rows: Vec<Features> = (0..3_000)
            .map(|_| {
                std::array::from_fn(|_| match uniform() {
                    u if u < 0.4 => 0.0,
                    u if u < 0.5 => -((u - 0.4) * 20.0).exp() as f32,
                    u => ((u - 0.5) * 20.0).exp() as f32 * 1e-3,
                })
            })
            .collect();
        let gold: Vec<bool> = (0..rows.len()).map(|i| i % 7 == 0).collect();
        let w: Vec<f64> = (0..N_FEATURES).map(|i| (i as f64 - 8.0) * 0.13).collect();
        // The one-pass loop the bands replaced.
        let n = N_FEATURES;
        let mut gradient = vec![0f64; n];
        let mut hessian = vec![0f64; n * n];
        for (f, &y) in rows.iter().zip(&gold) {
            let z: f64 = w.iter().zip(f).map(|(w, &x)| w * x as f64).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let r = p - y as u8 as f64;
            let s = (p * (1.0 - p)).max(1e-12);
            for i in 0..n {
                let xi = f[i] as f64;
                if xi == 0.0 {
                    continue;
                }
                gradient[i] += r * xi;
                for j in i..n {
                    hessian[i * n + j] += s * xi * f[j] as f64;
                }
            }
        }
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let (g, h) = pool.install(|| gradient_and_hessian(&rows, &gold, &w));
            assert_eq!(bits(&g), bits(&gradient), "gradient on {threads} threads");
            let upper = |h: &[f64]| {
                let entries = (0..n).flat_map(|i| (i..n).map(move |j| h[i * n + j]));
                bits(&entries.collect::<Vec<_>>())
            };
            assert_eq!(upper(&h), upper(&hessian), "Hessian on {threads} threads");
        }
    }

    #[test]
    fn learns_which_feature_predicts_and_splits_the_logit_by_member() {
        // Gold exactly when the lexical feature is on; the one-vs-rest feature is noise.
        let mut rows = Vec::new();
        let mut gold = Vec::new();
        for i in 0..400 {
            let mut f = [0f32; N_FEATURES];
            f[0] = 1.0;
            f[1] = ((i * 7) % 11) as f32 / 11.0;
            let on = i % 3 == 0;
            f[6] = on as u8 as f32;
            rows.push(f);
            gold.push(on == (i % 10 != 0));
        }
        let zero = Fusion {
            weights: vec![0.0; N_FEATURES],
        };
        let fusion = Fusion::fit(&rows, &gold, 1.0, &zero, false);
        assert!(fusion.weights[6] > 2.0, "{:?}", fusion.weights);
        assert!(fusion.weights[1].abs() < 1.0, "{:?}", fusion.weights);
        let parts = fusion.contributions(&rows[0]);
        let total: f32 = parts.iter().map(|p| p.1).sum();
        assert!((total - fusion.logit(&rows[0])).abs() < 1e-5);
        assert_eq!(parts.len(), Member::ALL.len());
    }

    #[test]
    fn few_rows_stay_near_the_prior_and_many_follow_the_evidence() {
        // Evidence that the early-mention feature is worthless, against a prior that trusts it.
        let rows_of = |n: usize| {
            let mut rows = Vec::new();
            let mut gold = Vec::new();
            for i in 0..n {
                let mut f = [0f32; N_FEATURES];
                f[0] = 1.0;
                f[8] = ((i / 4) % 2) as f32;
                rows.push(f);
                gold.push(i % 4 == 0);
            }
            (rows, gold)
        };
        let prior = Fusion::prior();
        let (few, few_gold) = rows_of(8);
        let (many, many_gold) = rows_of(20_000);
        let small = Fusion::fit(&few, &few_gold, 20.0, &prior, false);
        let large = Fusion::fit(&many, &many_gold, 20.0, &prior, false);
        assert!(
            (small.weights[8] - prior.weights[8]).abs() < 0.2,
            "{small:?}"
        );
        assert!(large.weights[8].abs() < 0.1, "{large:?}");
        assert_eq!(Fusion::fit(&[], &[], 20.0, &prior, false), prior);
        // The unseen prior reads only the lexical member.
        let unseen = Fusion::unseen_prior();
        assert_eq!(unseen.weights[1], 0.0);
        assert_eq!(unseen.weights[15], prior.weights[15]);
    }

    #[test]
    fn the_level_shift_matches_the_gold_rate_of_the_rows_it_counts() {
        let rate = |values: &[f32], shift: f64| {
            values
                .iter()
                .map(|&z| 1.0 / (1.0 + (-(z as f64 + shift)).exp()))
                .sum::<f64>()
                / values.len() as f64
        };
        // Logits saying 50 %, of which 10 % were gold.
        let values = vec![0f32; 1000];
        let gold: Vec<bool> = (0..1000).map(|i| i % 10 == 0).collect();
        let shift = level_shift(&values, &gold, 1.0);
        assert!((rate(&values, shift) - 0.1).abs() < 0.01, "{shift}");
        // Counted at no weight, the rows move nothing; at a small one, part of the way.
        assert_eq!(level_shift(&values, &gold, 0.0), 0.0);
        let part = level_shift(&values, &gold, 0.001);
        assert!(shift < part && part < 0.0, "{shift} {part}");
        assert_eq!(level_shift(&[], &[], 1.0), 0.0);
    }

    #[test]
    fn corpus_share_grows_with_the_documents_that_mention_a_label() {
        assert_eq!(corpus_share(0, 0), 0.0, "no corpus, no evidence");
        assert_eq!(corpus_share(0, 100), 0.0);
        assert!((corpus_share(100, 100) - 1.0).abs() < 1e-6);
        let few = corpus_share(2, 100);
        let many = corpus_share(60, 100);
        assert!(0.0 < few && few < many && many < 1.0, "{few} {many}");
        // The prior leaves it to a fitted fusion: a model of the thesaurus alone scores as
        // before the feature existed.
        let i = FEATURES
            .iter()
            .position(|(n, _)| *n == "lex_corpus_share")
            .unwrap();
        assert_eq!(prior_weights()[i], 0.0);
        assert_eq!(FEATURES[i].1, Member::Lexical, "the unseen fusion reads it");
    }

    #[test]
    fn cholesky_solves_a_small_system() {
        let x = solve(vec![4.0, 2.0, 2.0, 3.0], vec![2.0, 1.0]).unwrap();
        assert!((x[0] - 0.5).abs() < 1e-12 && x[1].abs() < 1e-12);
        assert!(solve(vec![0.0, 0.0, 0.0, 0.0], vec![1.0, 1.0]).is_none());
    }
}
