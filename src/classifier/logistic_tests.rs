//! Tests of the sparse logistic solver (`super::logistic`), against linfa-logistic among others.

use super::*;

fn toy() -> (CsrMatrix, Vec<bool>) {
    let rows = vec![
        vec![1.0, 0.0, 0.2],
        vec![0.9, 0.1, 0.0],
        vec![0.0, 1.0, 0.3],
        vec![0.1, 0.8, 0.0],
        vec![0.7, 0.0, 0.5],
        vec![0.0, 0.6, 0.6],
    ];
    (
        CsrMatrix::from_dense(&rows),
        vec![true, true, false, false, true, false],
    )
}

/// A noisy two-label problem on `n` rows of `d` features.
fn noisy_problem(n: usize, d: usize) -> (CsrMatrix, Vec<Vec<u32>>) {
    let mut rng = XorShift(42);
    let mut unit = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let mut rows = Vec::new();
    let mut positives = vec![Vec::new(), Vec::new()];
    for i in 0..n {
        let row: Vec<f32> = (0..d)
            .map(|_| if unit() < 0.3 { unit() as f32 } else { 0.0 })
            .collect();
        for (l, docs) in positives.iter_mut().enumerate() {
            let signal = row[l] + row[l + 2] - row[l + 4];
            if signal as f64 + 0.4 * (unit() - 0.5) > 0.2 {
                docs.push(i as u32);
            }
        }
        rows.push(row);
    }
    (CsrMatrix::from_dense(&rows), positives)
}

#[test]
fn refitted_folds_match_models_trained_without_them() {
    let (x, positives) = noisy_problem(240, 12);
    let params = LogisticParams {
        c: 2.0,
        tolerance: 1e-6,
        ..Default::default()
    }
    .check()
    .unwrap();
    let norms = squared_norms(&x);
    let fold_of: Vec<usize> = (0..x.n_rows()).map(|i| i % 4).collect();
    let labels: Vec<&[u32]> = positives.iter().map(Vec::as_slice).collect();
    let folds = HeldOutFolds {
        fold_of: &fold_of,
        folds: 4,
        epochs: 200,
    };
    let held_out = params.fit_many_held_out(&x, &norms, &labels, &[], folds);
    for f in 0..4 {
        let kept: Vec<usize> = (0..x.n_rows()).filter(|&i| fold_of[i] != f).collect();
        let sub = x.select_rows(&kept);
        for (l, docs) in positives.iter().enumerate() {
            let sub_positive: Vec<bool> =
                kept.iter().map(|i| docs.contains(&(*i as u32))).collect();
            let cold = params.fit_rows(&sub, &squared_norms(&sub), &sub_positive);
            for i in (0..x.n_rows()).filter(|&i| fold_of[i] == f) {
                let (idx, val) = x.row(i);
                let (expected, got) = (cold.decision(idx, val), held_out[l].1[i] as f64);
                assert!(
                    (expected - got).abs() < 1e-3,
                    "label {l}, row {i}: {got} from the refit, {expected} trained without it"
                );
            }
        }
    }
}

#[test]
fn separates_a_toy_problem() {
    let (x, y) = toy();
    let params = LogisticParams {
        c: 10.0,
        ..Default::default()
    };
    let model = params.check().unwrap().fit_rows(&x, &squared_norms(&x), &y);
    for (i, &positive) in y.iter().enumerate() {
        let (idx, val) = x.row(i);
        assert_eq!(model.probability(idx, val) >= 0.5, positive);
    }
}

#[test]
fn tighter_tolerance_lowers_the_objective() {
    let (x, y) = toy();
    let loose = LogisticParams {
        tolerance: 0.5,
        ..Default::default()
    };
    let tight = LogisticParams {
        tolerance: 1e-8,
        ..Default::default()
    };
    let norms = squared_norms(&x);
    let f_loose = primal_objective(
        &x,
        &y,
        &loose.clone().check().unwrap().fit_rows(&x, &norms, &y),
        &loose,
    );
    let f_tight = primal_objective(
        &x,
        &y,
        &tight.clone().check().unwrap().fit_rows(&x, &norms, &y),
        &tight,
    );
    assert!(f_tight <= f_loose + 1e-12);
}

#[test]
fn warm_start_from_the_optimum_stays_there() {
    let (x, y) = toy();
    let params = LogisticParams {
        tolerance: 1e-6,
        ..Default::default()
    };
    let valid = params.clone().check().unwrap();
    let norms = squared_norms(&x);
    let docs: Vec<u32> = (0..y.len() as u32).filter(|&i| y[i as usize]).collect();
    let cold = valid.fit_many(&x, &norms, &[&docs], &[]).pop().unwrap();
    let start = WarmStart {
        weights: &cold.weights,
        intercept: cold.intercept,
    };
    // The same problem from the dual point the optimum implies: already solved.
    let warm = valid
        .fit_many(&x, &norms, &[&docs], &[Some(start)])
        .pop()
        .unwrap();
    for (a, b) in warm.weights.iter().zip(&cold.weights) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
    assert!((warm.intercept - cold.intercept).abs() < 1e-4);
    assert!(
        warm.epochs < cold.epochs,
        "{} vs {}",
        warm.epochs,
        cold.epochs
    );
}

#[test]
fn coordinate_steps_reach_the_root_from_far_below_it() {
    // Root of a(z − old) + s·b + ln(z/(c − z)) by bisection, for comparison.
    let root = |a: f64, b: f64, c: f64, old: f64, s: f64| {
        let g = |z: f64| a * (z - old) + s * b + (z / (c - z)).ln();
        let (mut lo, mut hi) = (1e-300, c * (1.0 - 1e-15));
        for _ in 0..400 {
            let mid = 0.5 * (lo + hi);
            if g(mid) < 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    };
    // (a, margin b, C): well classified rows whose variable starts near 0, as after a
    // warm start, and harder ones.
    for &(a, b, c) in &[
        (2.0, 5.0, 48.0),
        (2.0, 0.5, 48.0),
        (1.5, 12.0, 72.0),
        (2.0, -3.0, 48.0),
        (0.3, 8.0, 1.0),
    ] {
        let a0 = 1e-8;
        let mut pair = [a0, c - a0];
        let outcome = solve_coordinate(a, b, c, &mut pair, 1e-10);
        let s = if 0.5 * a * (c - 2.0 * a0) + b < 0.0 {
            -1.0
        } else {
            1.0
        };
        let want = if s > 0.0 {
            root(a, b, c, a0, 1.0)
        } else {
            c - root(a, b, c, c - a0, -1.0)
        };
        assert!(
            (pair[0] - want).abs() <= 1e-7 * want.max(1e-3),
            "a={a} b={b} c={c}: {} vs {want}",
            pair[0]
        );
        assert!((pair[0] + pair[1] - c).abs() < 1e-9);
        assert!(outcome.newton_steps < 20, "{} steps", outcome.newton_steps);
    }
}

#[test]
fn rejects_bad_parameters() {
    assert!(LogisticParams {
        c: 0.0,
        ..Default::default()
    }
    .check()
    .is_err());
    assert!(LogisticParams {
        bias: -1.0,
        ..Default::default()
    }
    .check()
    .is_err());
    assert!(LogisticParams {
        max_epochs: 0,
        ..Default::default()
    }
    .check()
    .is_err());
}
