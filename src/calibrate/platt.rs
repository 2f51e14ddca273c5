//! Platt scaling: the shared map from decision values to probabilities, and each descriptor's
//! own map pulled toward it.

use super::*;

/// Blends two probabilities on the logit scale: `w = 1` gives `own`, `w = 0` gives `prior`.
pub(super) fn blend_probabilities(own: f64, prior: f64, w: f64) -> f64 {
    let logit = |p: f64| {
        let p = p.clamp(1e-6, 1.0 - 1e-6);
        (p / (1.0 - p)).ln()
    };
    sigmoid(w * logit(own) + (1.0 - w) * logit(prior))
}

/// A descriptor's calibration: probability `σ(a·z + b)` of decision value `z`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Platt {
    pub a: f32,
    pub b: f32,
}

impl Platt {
    pub const IDENTITY: Platt = Platt { a: 1.0, b: 0.0 };

    #[inline]
    pub fn probability(&self, z: f32) -> f32 {
        sigmoid(self.a as f64 * z as f64 + self.b as f64) as f32
    }

    /// The decision value whose probability is `p` (the inverse of [`Self::probability`]).
    pub fn value_at(&self, p: f32) -> f32 {
        let p = (p as f64).clamp(1e-7, 1.0 - 1e-7);
        (((p / (1.0 - p)).ln() - self.b as f64) / self.a as f64) as f32
    }
}

/// One point of a Platt fit: decision value, target probability, weight.
pub(super) type PlattPoint = (f64, f64, f64);

/// Minimises `Σ w·[log(1+e^s) − t·s] + λ/2·‖(a,b) − prior‖²` with `s = a·z + b` by Newton's
/// method with backtracking. The slope is kept positive so probabilities stay monotone.
pub(super) fn fit_platt(points: &[PlattPoint], prior: Platt, lambda: f64) -> Platt {
    let (a0, b0) = (prior.a as f64, prior.b as f64);
    let objective = |a: f64, b: f64| {
        let [loss] = sum_in_order(points, |&(z, t, w)| {
            let s = a * z + b;
            [w * (log1p_exp(s) - t * s)]
        });
        loss + 0.5 * lambda * ((a - a0).powi(2) + (b - b0).powi(2))
    };
    let (mut a, mut b) = (a0, b0);
    let mut current = objective(a, b);
    for _ in 0..100 {
        let [mut ga, mut gb, mut haa, hab, mut hbb] = sum_in_order(points, |&(z, t, w)| {
            let p = sigmoid(a * z + b);
            let d = w * (p - t);
            let h = w * p * (1.0 - p);
            [d * z, d, h * z * z, h * z, h]
        });
        ga += lambda * (a - a0);
        gb += lambda * (b - b0);
        // A tiny ridge keeps the system solvable when every point is saturated.
        haa += lambda + 1e-9;
        hbb += lambda + 1e-9;
        let det = haa * hbb - hab * hab;
        if !(det.is_finite() && det > 0.0) {
            break;
        }
        let da = -(hbb * ga - hab * gb) / det;
        let db = -(haa * gb - hab * ga) / det;
        let mut step = 1.0;
        let mut improved = false;
        while step > 1e-8 {
            let (na, nb) = ((a + step * da).max(1e-3), b + step * db);
            let value = objective(na, nb);
            if value <= current + 1e-12 {
                let gain = current - value;
                a = na;
                b = nb;
                current = value;
                improved = gain > 1e-10 * (1.0 + current.abs());
                break;
            }
            step *= 0.5;
        }
        if !improved {
            break;
        }
    }
    Platt {
        a: a as f32,
        b: b as f32,
    }
}

/// Points from which [`sum_in_order`] computes its terms in parallel.
const PARALLEL_POINTS: usize = 1 << 14;

/// `Σ term(point)` over `points` in their order, each of the `N` sums from `0.0`. The terms of
/// many points are computed in parallel (the shared fit's 100,000 points on cail2018: an
/// exponential and a logarithm each, 16 ms of a serial tail), then added in order, so the
/// sums are bit for bit those of one loop.
fn sum_in_order<const N: usize>(
    points: &[PlattPoint],
    term: impl Fn(&PlattPoint) -> [f64; N] + Sync,
) -> [f64; N] {
    let mut total = [0.0; N];
    let add = |t: [f64; N]| {
        for (sum, t) in total.iter_mut().zip(t) {
            *sum += t;
        }
    };
    if points.len() < PARALLEL_POINTS {
        points.iter().map(&term).for_each(add);
    } else {
        let terms: Vec<[f64; N]> = points.par_iter().map(&term).collect();
        terms.into_iter().for_each(add);
    }
    total
}

/// One Platt fit over every descriptor's out-of-fold scores (no prior).
pub(super) fn fit_shared_platt(
    per_label: &[Vec<(f32, bool)>],
    dropped: &[DroppedNegatives],
) -> Platt {
    let mut points: Vec<PlattPoint> = per_label
        .iter()
        .flatten()
        .map(|&(z, gold)| (z as f64, if gold { 1.0 } else { 0.0 }, 1.0))
        .collect();
    points.extend(
        dropped
            .iter()
            .filter(|d| d.count > 0)
            .map(|d| (d.logit_sum / d.count as f64, 0.0, d.count as f64)),
    );
    fit_platt(&points, Platt::IDENTITY, 0.0)
}

/// A descriptor's own Platt fit, with Platt's smoothed targets and a prior on `shared`.
pub(super) fn fit_label_platt(
    pairs: &[(f32, bool)],
    dropped: &DroppedNegatives,
    shared: Platt,
    prior_strength: f64,
) -> Platt {
    let n_pos = pairs.iter().filter(|p| p.1).count() as f64;
    let n_neg = (pairs.len() as f64 - n_pos) + dropped.count as f64;
    let t_pos = (n_pos + 1.0) / (n_pos + 2.0);
    let t_neg = 1.0 / (n_neg + 2.0);
    let mut points: Vec<PlattPoint> = pairs
        .iter()
        .map(|&(z, gold)| (z as f64, if gold { t_pos } else { t_neg }, 1.0))
        .collect();
    if dropped.count > 0 {
        points.push((
            dropped.logit_sum / dropped.count as f64,
            t_neg,
            dropped.count as f64,
        ));
    }
    fit_platt(&points, shared, prior_strength)
}
