//! linfa-logistic is the oracle for the sparse solver: on small dense data both must reach the
//! same objective and make the same predictions.

use dtag::classifier::logistic::{log1p_exp, squared_norms, LogisticParams};
use dtag::features::sparse::CsrMatrix;
use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};

/// A reproducible, noisy, not linearly separable problem.
fn problem(n: usize, d: usize, seed: u64) -> (Array2<f64>, Vec<bool>) {
    let mut state = seed;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let truth: Vec<f64> = (0..d).map(|_| uniform() * 4.0 - 2.0).collect();
    let x = Array2::from_shape_fn((n, d), |_| if uniform() < 0.4 { uniform() } else { 0.0 });
    let y = (0..n)
        .map(|i| {
            let z: f64 = (0..d).map(|j| x[[i, j]] * truth[j]).sum::<f64>() - 0.3;
            uniform() < 1.0 / (1.0 + (-3.0 * z).exp())
        })
        .collect();
    (x, y)
}

/// `Σ log(1 + exp(−y wᵀx)) + α/2 ‖w‖²`, linfa's objective without intercept.
fn linfa_objective(x: &Array2<f64>, y: &[bool], w: &Array1<f64>, alpha: f64) -> f64 {
    let loss: f64 = (0..x.nrows())
        .map(|i| {
            let z = x.row(i).dot(w);
            log1p_exp(if y[i] { -z } else { z })
        })
        .sum();
    loss + 0.5 * alpha * w.dot(w)
}

#[test]
fn sparse_dual_solver_matches_linfa_logistic() {
    for (seed, c) in [(7u64, 1.0f64), (11, 10.0), (23, 0.1)] {
        let (x, y) = problem(200, 12, seed);
        let alpha = 1.0 / c;

        let labels: Array1<&str> = y.iter().map(|&p| if p { "pos" } else { "neg" }).collect();
        let dataset = Dataset::new(x.clone(), labels);
        let oracle = LogisticRegression::default()
            .alpha(alpha)
            .with_intercept(false)
            .gradient_tolerance(1e-10)
            .max_iterations(10_000)
            .fit(&dataset)
            .expect("linfa-logistic fits");
        // linfa makes one class its positive class; express its weights for "pos".
        let oracle_w = if oracle.labels().pos.class == "pos" {
            oracle.params().clone()
        } else {
            -oracle.params()
        };

        let rows: Vec<Vec<f32>> = x
            .rows()
            .into_iter()
            .map(|r| r.iter().map(|&v| v as f32).collect())
            .collect();
        let sparse = CsrMatrix::from_dense(&rows);
        let ours = LogisticParams {
            c,
            positive_weight: 1.0,
            bias: 0.0,
            tolerance: 1e-8,
            max_epochs: 100_000,
            ..Default::default()
        }
        .check()
        .unwrap()
        .fit_rows(&sparse, &squared_norms(&sparse), &y);
        let our_w = Array1::from(ours.weights.clone());

        // Compare on the same f32-rounded inputs both see in production.
        let x32 = x.mapv(|v| v as f32 as f64);
        let f_oracle = linfa_objective(&x32, &y, &oracle_w, alpha);
        let f_ours = linfa_objective(&x32, &y, &our_w, alpha);
        let relative = (f_ours - f_oracle).abs() / f_oracle.abs();
        assert!(
            relative < 1e-4,
            "seed {seed}, C {c}: objective {f_ours} vs linfa {f_oracle} (relative {relative:e})"
        );

        let disagreements = (0..x.nrows())
            .filter(|&i| (x32.row(i).dot(&our_w) >= 0.0) != (x32.row(i).dot(&oracle_w) >= 0.0))
            .count();
        assert_eq!(disagreements, 0, "seed {seed}, C {c}: predictions differ");
    }
}
