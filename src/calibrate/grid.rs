//! The global `--limit`/`--threshold` grid, as Annif's hyperparameter optimisation searches it.

use super::*;
use crate::metrics::f1_of_counts;

/// A point of the global grid and the F1 it reaches out of fold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GridPoint {
    pub limit: usize,
    pub threshold: f32,
    pub f1: f64,
}

/// Best global `--limit`/`--threshold` pairs, as Annif's hyperparameter optimisation finds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalGrid {
    pub best_micro: GridPoint,
    pub best_doc: GridPoint,
}

impl GlobalGrid {
    /// Tries every limit in [`GRID_LIMITS`] with every threshold 0.00, 0.05, …, 0.95, always
    /// proposing at least the best descriptor, as `suggest` does.
    pub fn search(probs: &[Vec<(u32, f32)>], gold: &[Vec<u32>]) -> GlobalGrid {
        let total_gold: u64 = gold.iter().map(|g| g.len() as u64).sum();
        let n_docs = probs.len().max(1) as f64;
        let points: Vec<(GridPoint, GridPoint)> = GRID_LIMITS
            .flat_map(|limit| (0..GRID_STEPS).map(move |s| (limit, s as f32 / GRID_STEPS as f32)))
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|(limit, threshold)| {
                let (mut tp, mut proposed, mut doc_f1) = (0u64, 0u64, 0.0);
                for (ranked, gold) in probs.iter().zip(gold) {
                    let mut n = ranked
                        .iter()
                        .take(limit)
                        .take_while(|e| e.1 >= threshold)
                        .count();
                    if n == 0 {
                        n = ranked.len().min(1);
                    }
                    let hits = ranked[..n].iter().filter(|e| gold.contains(&e.0)).count();
                    tp += hits as u64;
                    proposed += n as u64;
                    doc_f1 += f1_of_counts(hits as u64, n as u64, gold.len() as u64);
                }
                let micro = f1_of_counts(tp, proposed, total_gold);
                (
                    GridPoint {
                        limit,
                        threshold,
                        f1: micro,
                    },
                    GridPoint {
                        limit,
                        threshold,
                        f1: doc_f1 / n_docs,
                    },
                )
            })
            .collect();
        let best = |pick: fn(&(GridPoint, GridPoint)) -> GridPoint| {
            points
                .iter()
                .map(pick)
                .fold(None::<GridPoint>, |best, p| match best {
                    Some(b) if b.f1 >= p.f1 => Some(b),
                    _ => Some(p),
                })
                .expect("the grid is not empty")
        };
        GlobalGrid {
            best_micro: best(|p| p.0),
            best_doc: best(|p| p.1),
        }
    }
}
