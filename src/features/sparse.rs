//! Sparse rows and a compressed-sparse-row matrix: the data layout every later stage shares.

use serde::{Deserialize, Serialize};

/// One sparse vector: strictly increasing `u32` column indices with `f32` values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SparseRow {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseRow {
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (usize, f32)> + '_ {
        self.indices
            .iter()
            .zip(&self.values)
            .map(|(&i, &v)| (i as usize, v))
    }
}

/// Rows stored back to back (CSR). Rows are documents, columns are features.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CsrMatrix {
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
    n_cols: usize,
}

impl CsrMatrix {
    pub fn new(n_cols: usize) -> Self {
        CsrMatrix {
            indptr: vec![0],
            indices: Vec::new(),
            values: Vec::new(),
            n_cols,
        }
    }

    pub fn from_rows(rows: impl IntoIterator<Item = SparseRow>, n_cols: usize) -> Self {
        let mut m = CsrMatrix::new(n_cols);
        for row in rows {
            m.push_row(&row.indices, &row.values);
        }
        m
    }

    /// The rows of `parts`, one part after another (all of `n_cols` columns). *Why:* rows
    /// weighed in parallel go into one part per thread's run, and joining the parts is a few
    /// block copies, where pushing every row into one matrix was a serial step of training
    /// (cail2018_sample: 21 ms, with a core idle).
    pub fn stacked(parts: Vec<CsrMatrix>, n_cols: usize) -> Self {
        let nnz: usize = parts.iter().map(CsrMatrix::nnz).sum();
        let n_rows: usize = parts.iter().map(CsrMatrix::n_rows).sum();
        let mut m = CsrMatrix::new(n_cols);
        m.indices.reserve_exact(nnz);
        m.values.reserve_exact(nnz);
        m.indptr.reserve_exact(n_rows);
        for part in parts {
            debug_assert_eq!(part.n_cols, n_cols);
            let offset = m.indices.len();
            m.indptr
                .extend(part.indptr[1..].iter().map(|&end| offset + end));
            m.indices.extend_from_slice(&part.indices);
            m.values.extend_from_slice(&part.values);
        }
        m
    }

    /// Builds a matrix from dense rows, keeping the non-zero entries.
    pub fn from_dense(rows: &[Vec<f32>]) -> Self {
        let n_cols = rows.first().map_or(0, Vec::len);
        let mut m = CsrMatrix::new(n_cols);
        for row in rows {
            let (indices, values): (Vec<u32>, Vec<f32>) = row
                .iter()
                .enumerate()
                .filter(|(_, &v)| v != 0.0)
                .map(|(i, &v)| (i as u32, v))
                .unzip();
            m.push_row(&indices, &values);
        }
        m
    }

    pub fn push_row(&mut self, indices: &[u32], values: &[f32]) {
        debug_assert_eq!(indices.len(), values.len());
        debug_assert!(indices.iter().all(|&i| (i as usize) < self.n_cols));
        self.indices.extend_from_slice(indices);
        self.values.extend_from_slice(values);
        self.indptr.push(self.indices.len());
    }

    pub fn n_rows(&self) -> usize {
        self.indptr.len() - 1
    }

    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Column indices and values of row `i`.
    #[inline]
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let (start, end) = (self.indptr[i], self.indptr[i + 1]);
        (&self.indices[start..end], &self.values[start..end])
    }

    /// A new matrix holding the given rows, in that order.
    pub fn select_rows(&self, rows: &[usize]) -> CsrMatrix {
        let mut m = CsrMatrix::new(self.n_cols);
        for &r in rows {
            let (idx, val) = self.row(r);
            m.push_row(idx, val);
        }
        m
    }
}

impl linfa::dataset::Records for CsrMatrix {
    type Elem = f32;

    fn nsamples(&self) -> usize {
        self.n_rows()
    }

    fn nfeatures(&self) -> usize {
        self.n_cols
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip() {
        let m = CsrMatrix::from_dense(&[vec![0.0, 1.0, 0.0], vec![2.0, 0.0, 3.0]]);
        assert_eq!(m.n_rows(), 2);
        assert_eq!(m.nnz(), 3);
        assert_eq!(m.row(1), (&[0u32, 2][..], &[2.0f32, 3.0][..]));
        let s = m.select_rows(&[1]);
        assert_eq!(s.row(0), m.row(1));
    }

    #[test]
    fn stacked_parts_are_their_rows_in_order() {
        let rows = [
            vec![0.0, 1.0, 0.0],
            vec![0.0, 0.0, 0.0],
            vec![2.0, 0.0, 3.0],
            vec![0.0, 4.0, 5.0],
        ];
        let whole = CsrMatrix::from_dense(&rows);
        let parts = vec![
            CsrMatrix::from_dense(&rows[..2]),
            CsrMatrix::new(3),
            CsrMatrix::from_dense(&rows[2..3]),
            CsrMatrix::from_dense(&rows[3..]),
        ];
        assert_eq!(CsrMatrix::stacked(parts, 3), whole);
        assert_eq!(CsrMatrix::stacked(Vec::new(), 3), CsrMatrix::new(3));
    }
}
