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

/// Postings all leave-one-out queries of an index may read together: each query of an index
/// of `n` documents reads at most `READ_BUDGET_TOTAL / n` of them ([`KnnIndex::read_budget`]).
///
/// *Why:* exact cosine neighbours cost every query the postings of all its features, and a
/// common word's postings hold nearly every document, so leave-one-out votes grow with the
/// square of the corpus (a 100,000-document synthetic corpus spent minutes there; a million
/// would take days). Up to 65,536 documents a query may reach every document, and the index
/// has a dense tier instead ([`DENSE_FEATURE_SHARE`]); beyond, each query reads its
/// most distinctive features first, as Lucene's "more like this" queries keep a document's
/// top terms, and each feature keeps only its highest-weighted postings (static pruning):
/// the documents where a term weighs least are the least likely to be reached through it
/// alone. At a million documents a query reads about 34,000 postings.
pub const READ_BUDGET_TOTAL: u64 = 1 << 32;

/// The budget never falls below this many postings per query.
pub const MIN_READ_BUDGET: usize = 8_192;

/// Features in more than this share of the training documents are held densely (the
/// index's *dense tier*) rather than as postings.
///
/// *Why:* in a Chinese corpus most of a draft's similarity to a training document comes from
/// single characters that are each in most documents (cail2018_sample: the 197 features in
/// over a quarter of its 4,037 documents hold 42 % of all postings, and 84 % of what a
/// draft's query used to read). Reading those postings for every draft was half of a
/// suggestion's time. Instead the query reads the postings of its other features, keeps the
/// documents they bring closest as candidates, and adds the dense features' part for those
/// candidates only, from one contiguous row each.
pub const DENSE_FEATURE_SHARE: f64 = 0.25;

/// At most this many features form the dense tier (those in most documents first). An
/// index has a dense tier only while a query may read every document within the read
/// budget (up to 65,536 documents): so at most 64 MiB of dense rows.
pub const MAX_DENSE_FEATURES: usize = 256;

/// Candidates whose whole similarity is computed, per neighbour that votes: a draft with 30
/// neighbours rescores the 240 training documents closest by its sparse features.
///
/// *Why this many:* on cail2018_sample's test drafts, the exact 30 nearest neighbours are
/// among the 120 closest by sparse features 97.3 % of the time, among the 240 closest
/// 98.8 % and among the 480 closest 99.5 % (the rare misses are the farthest of the 30, whose
/// votes weigh least). 480 cost `dtag suggest` 6 % more time than 240 and moved no quality
/// figure (cail2018's test P@1 0.9018 at 480, 0.9027 at 240; the fused out-of-fold P@1 0.8890
/// and 0.8883; kirjastonhoitaja's figures identical). Smaller indexes, and drafts whose
/// sparse features reach fewer documents than this, rescore every document and are exact.
pub const RESCORED_PER_NEIGHBOUR: usize = 8;

/// The training rows with their descriptors and an inverted index over them.
#[derive(Debug, Clone)]
pub struct KnnIndex {
    data: KnnData,
    /// For each feature outside the dense tier, the `(document, value)` pairs of the rows
    /// that have it.
    postings_start: Vec<usize>,
    postings: Vec<(u32, f32)>,
    /// Postings one query reads at most ([`KnnIndex::read_budget`]).
    read_budget: usize,
    /// The features held densely ([`DENSE_FEATURE_SHARE`]); empty for a large index.
    dense: DenseTier,
}

/// The training rows' values on the features in most documents, one contiguous row per
/// document.
#[derive(Debug, Clone, Default)]
struct DenseTier {
    /// Per feature, its column in the tier (`u32::MAX`: not in the tier).
    column: Vec<u32>,
    /// Columns per row: the tier's features, padded to a multiple of [`DOT_LANES`].
    width: usize,
    /// Row `d` is `values[d * width..(d + 1) * width]`.
    values: Vec<f32>,
}

impl DenseTier {
    /// The tier of `rows`, whose features are in `documents[f]` rows each: the features in
    /// more than [`DENSE_FEATURE_SHARE`] of the rows (at most [`MAX_DENSE_FEATURES`], the
    /// most common first, ties by feature); none when a query may not read every row
    /// (`read_budget`). Larger indexes read their queries' most distinctive features under
    /// the budget.
    fn of(rows: &KnnRows, documents: &[usize], read_budget: usize) -> Self {
        let (n, n_features) = (rows.len(), documents.len());
        if n > read_budget || n == 0 {
            return DenseTier::default();
        }
        let mut common: Vec<u32> = (0..n_features as u32)
            .filter(|&f| documents[f as usize] as f64 > DENSE_FEATURE_SHARE * n as f64)
            .collect();
        common.sort_unstable_by(|&a, &b| {
            documents[b as usize]
                .cmp(&documents[a as usize])
                .then(a.cmp(&b))
        });
        common.truncate(MAX_DENSE_FEATURES);
        if common.is_empty() {
            return DenseTier::default();
        }
        common.sort_unstable();
        let mut column = vec![u32::MAX; n_features];
        for (c, &f) in common.iter().enumerate() {
            column[f as usize] = c as u32;
        }
        let width = common.len().div_ceil(DOT_LANES) * DOT_LANES;
        let mut values = vec![0f32; n * width];
        for (d, (indices, row_values)) in rows.iter().enumerate() {
            for (&f, &v) in indices.iter().zip(row_values) {
                let c = column[f as usize];
                if c != u32::MAX {
                    values[d * width + c as usize] = v;
                }
            }
        }
        DenseTier {
            column,
            width,
            values,
        }
    }

    /// Feature `f`'s column, if the tier holds it.
    fn column_of(&self, f: u32) -> Option<usize> {
        match self.column.get(f as usize) {
            Some(&c) if c != u32::MAX => Some(c as usize),
            _ => None,
        }
    }

    fn row(&self, d: usize) -> &[f32] {
        &self.values[d * self.width..(d + 1) * self.width]
    }
}

/// Per-query buffers, reused by the queries of one thread; zero between queries.
struct QueryScratch {
    /// Per training document, its similarity so far.
    similarity: Vec<f32>,
    /// The documents the query reached.
    touched: Vec<u32>,
    /// The query's values on the dense tier's columns.
    dense_query: Vec<f32>,
}

impl QueryScratch {
    fn new(index: &KnnIndex) -> Self {
        QueryScratch {
            similarity: vec![0.0; index.data.rows.len()],
            touched: Vec::new(),
            dense_query: vec![0.0; index.dense.width],
        }
    }
}

/// The stored part of a [`KnnIndex`] (the postings are rebuilt on load).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KnnData {
    pub neighbours: usize,
    pub n_features: usize,
    /// Per training document: its row (l2-normalised TF-IDF).
    pub rows: KnnRows,
    /// Per training document: its descriptors (model indices).
    pub labels: Vec<Vec<u32>>,
}

/// The training rows, held as one CSR matrix — the very matrix training vectorised, moved in
/// rather than copied (on a large corpus it is gigabytes) — and stored as a sequence of
/// [`SparseRow`]s, the form model files have always had.
#[derive(Debug, Clone, PartialEq)]
pub struct KnnRows(pub CsrMatrix);

impl KnnRows {
    pub fn len(&self) -> usize {
        self.0.n_rows()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `d` as column indices and values.
    pub fn row(&self, d: usize) -> (&[u32], &[f32]) {
        self.0.row(d)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u32], &[f32])> + '_ {
        (0..self.len()).map(|d| self.row(d))
    }
}

impl Serialize for KnnRows {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        /// A [`SparseRow`] borrowed: the same fields in the same order.
        #[derive(Serialize)]
        struct RowRef<'a> {
            indices: &'a [u32],
            values: &'a [f32],
        }
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for (indices, values) in self.iter() {
            seq.serialize_element(&RowRef { indices, values })?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for KnnRows {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Rows;
        impl<'de> serde::de::Visitor<'de> for Rows {
            type Value = KnnRows;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a sequence of sparse rows")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<KnnRows, A::Error> {
                // Any u32 column for now: `KnnIndex::validate` checks them against the
                // model's features.
                let mut m = CsrMatrix::new(u32::MAX as usize + 1);
                while let Some(row) = seq.next_element::<SparseRow>()? {
                    if row.indices.len() != row.values.len() {
                        return Err(serde::de::Error::custom(
                            "a neighbour row's indices and values differ in number",
                        ));
                    }
                    m.push_row(&row.indices, &row.values);
                }
                Ok(KnnRows(m))
            }
        }
        deserializer.deserialize_seq(Rows)
    }
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
    /// The index of the training rows `x` (moved in: the index keeps them).
    pub fn new(x: CsrMatrix, labels: &[Vec<u32>], neighbours: usize) -> Self {
        Self::from_data(KnnData {
            neighbours,
            n_features: x.n_cols(),
            rows: KnnRows(x),
            labels: labels.to_vec(),
        })
    }

    pub fn from_data(data: KnnData) -> Self {
        let budget = Self::read_budget(data.rows.len());
        Self::with_read_budget(data, budget)
    }

    /// [`Self::from_data`] with a given read budget (tests give small indexes small ones).
    fn with_read_budget(data: KnnData, read_budget: usize) -> Self {
        let mut documents = vec![0usize; data.n_features];
        for (indices, _) in data.rows.iter() {
            for &f in indices {
                documents[f as usize] += 1;
            }
        }
        let dense = DenseTier::of(&data.rows, &documents, read_budget);
        let in_postings = |f: u32| dense.column_of(f).is_none();
        // Where each feature's postings start (the dense tier's features have none).
        let mut counts = vec![0usize; data.n_features + 1];
        for f in 0..data.n_features {
            let own = if in_postings(f as u32) {
                documents[f]
            } else {
                0
            };
            counts[f + 1] = counts[f] + own;
        }
        let mut next = counts.clone();
        let mut postings = vec![(0u32, 0f32); counts[data.n_features]];
        for (d, (indices, values)) in data.rows.iter().enumerate() {
            for (&f, &v) in indices.iter().zip(values) {
                if in_postings(f) {
                    postings[next[f as usize]] = (d as u32, v);
                    next[f as usize] += 1;
                }
            }
        }
        let (postings_start, postings) = keep_highest_postings(counts, postings, read_budget);
        KnnIndex {
            data,
            postings_start,
            postings,
            read_budget,
            dense,
        }
    }

    /// Postings one query of an index of `documents` reads at most (see
    /// [`READ_BUDGET_TOTAL`]); no feature keeps more postings than this.
    pub fn read_budget(documents: usize) -> usize {
        let per_query = READ_BUDGET_TOTAL / documents.max(1) as u64;
        (per_query.min(usize::MAX as u64) as usize).max(MIN_READ_BUDGET)
    }

    /// The features of `row` a query reads, in increasing feature order with their values:
    /// its features by decreasing value (the most distinctive first, ties by feature) as long
    /// as their postings fit in the read budget; a feature whose postings would overrun it is
    /// passed over for the next ones. When everything fits (every small index), all of them.
    fn query_features(&self, (indices, values): (&[u32], &[f32])) -> Vec<(u32, f32)> {
        let mut features: Vec<(u32, f32)> = indices
            .iter()
            .copied()
            .zip(values.iter().copied())
            .collect();
        let total: usize = features
            .iter()
            .map(|&(f, _)| self.postings_of(f).len())
            .sum();
        let mut left = self.read_budget;
        if total <= left {
            return features;
        }
        features.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        features.retain(|&(f, _)| {
            let cost = self.postings_of(f).len();
            let fits = cost <= left;
            if fits {
                left -= cost;
            }
            fits
        });
        features.sort_unstable_by_key(|&(f, _)| f);
        features
    }

    pub fn data(&self) -> &KnnData {
        &self.data
    }

    pub fn into_data(self) -> KnnData {
        self.data
    }

    /// Checks a loaded index against the model it belongs to.
    pub fn validate(data: &KnnData, n_features: usize, n_labels: usize) -> Result<(), String> {
        let row_ok = |(indices, values): (&[u32], &[f32])| {
            indices.iter().all(|&f| (f as usize) < n_features)
                && values.iter().all(|v| v.is_finite())
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

    /// The training rows that have feature `f`, with their values (none for a feature
    /// outside the index).
    fn postings_of(&self, f: u32) -> &[(u32, f32)] {
        match self.postings_start.get(f as usize..f as usize + 2) {
            Some(r) => &self.postings[r[0]..r[1]],
            None => &[],
        }
    }

    /// The votes of the `neighbours` rows most similar (cosine) to `row`, best first;
    /// `exclude` leaves one training document out (its own out-of-sample score).
    ///
    /// The similarity is read in two parts. Features outside the dense tier are read from
    /// their postings (under the read budget: see [`Self::query_features`]); of the
    /// documents they reach, the [`Self::rescored`] closest are candidates, and the dense
    /// tier's part is added to theirs. When the sparse features reach fewer documents than
    /// that, every document is a candidate, and the neighbours are exact.
    pub fn votes(&self, row: &SparseRow, exclude: Option<usize>) -> Vec<Vote> {
        let row = (&row.indices[..], &row.values[..]);
        self.votes_with(row, exclude, &mut QueryScratch::new(self))
    }

    /// Documents whose whole similarity a query computes ([`RESCORED_PER_NEIGHBOUR`]).
    pub fn rescored(&self) -> usize {
        self.data.neighbours.saturating_mul(RESCORED_PER_NEIGHBOUR)
    }

    /// [`Self::votes`] with buffers that are zero again on return: queries in a row reuse
    /// them instead of clearing new ones.
    fn votes_with(
        &self,
        (indices, values): (&[u32], &[f32]),
        exclude: Option<usize>,
        scratch: &mut QueryScratch,
    ) -> Vec<Vote> {
        let QueryScratch {
            similarity,
            touched,
            dense_query,
        } = scratch;
        // Slices, not the vectors: the loops below then keep the buffers' addresses and
        // lengths in registers instead of reading them again after every store.
        let (similarity, dense_query) = (similarity.as_mut_slice(), dense_query.as_mut_slice());
        let mut sparse_indices = Vec::with_capacity(indices.len());
        let mut sparse_values = Vec::with_capacity(values.len());
        let mut has_dense = false;
        for (&f, &v) in indices.iter().zip(values) {
            match self.dense.column_of(f) {
                Some(c) => {
                    dense_query[c] = v;
                    has_dense = true;
                }
                None => {
                    sparse_indices.push(f);
                    sparse_values.push(v);
                }
            }
        }
        let n = self.data.rows.len();
        let features = self.query_features((&sparse_indices, &sparse_values));
        touched.clear();
        if n <= self.read_budget {
            // A query that may reach every document adds up its postings without noting
            // which documents are new (no branch, no dependency between postings), then
            // finds them by one pass over the similarities, in document order.
            for (f, v) in features {
                for &(d, w) in self.postings_of(f) {
                    similarity[d as usize] += v * w;
                }
            }
            touched.extend((0..n as u32).filter(|&d| similarity[d as usize] != 0.0));
        } else {
            // A query of a large index reaches a few of its documents: it lists them as it
            // reaches them.
            for (f, v) in features {
                for &(d, w) in self.postings_of(f) {
                    if similarity[d as usize] == 0.0 {
                        touched.push(d);
                    }
                    similarity[d as usize] += v * w;
                }
            }
        }
        let touched = &touched[..];
        let rescored = self.rescored();
        let mut near: Vec<(u32, f32)> = if has_dense && touched.len() < rescored.min(n) {
            // Too few documents reached to choose among: every one is a candidate.
            let all = (0..n as u32).map(|d| (d, similarity[d as usize])).collect();
            for &d in touched {
                similarity[d as usize] = 0.0;
            }
            all
        } else {
            let mut reached: Vec<(u32, f32)> = touched
                .iter()
                .map(|&d| (d, std::mem::take(&mut similarity[d as usize])))
                .collect();
            if reached.len() > rescored {
                let closest =
                    |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
                reached.select_nth_unstable_by(rescored - 1, closest);
                reached.truncate(rescored);
            }
            reached
        };
        if has_dense {
            add_dense_part(&self.dense, dense_query, &mut near);
            for &f in indices {
                if let Some(c) = self.dense.column_of(f) {
                    dense_query[c] = 0.0;
                }
            }
        }
        near.retain(|&(d, s)| s > 0.0 && Some(d as usize) != exclude);
        self.votes_of_nearest(near)
    }

    /// The votes of the best `neighbours` of `near` (documents with their similarity, in an
    /// order that depends on the query alone): one path for a draft and for the leave-one-out
    /// votes, so both rank and sum exactly alike.
    fn votes_of_nearest(&self, mut near: Vec<(u32, f32)>) -> Vec<Vote> {
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

    /// The votes of training documents `docs` with each left out (their best `keep`), in
    /// parallel: each document's votes are those [`Self::votes`] gives its row with itself
    /// excluded, so shards of the documents can compute them apart.
    pub fn leave_one_out_votes_of(&self, docs: &[usize], keep: usize) -> Vec<Vec<Vote>> {
        docs.par_iter()
            .map_init(
                || QueryScratch::new(self),
                |scratch, &d| {
                    best(
                        self.votes_with(self.data.rows.row(d), Some(d), scratch),
                        keep,
                    )
                },
            )
            .collect()
    }

    /// Every training document's votes with itself left out (its best `keep`), in parallel.
    pub fn leave_one_out_votes(&self, keep: usize) -> Vec<Vec<Vote>> {
        self.leave_one_out_votes_of(&(0..self.data.rows.len()).collect::<Vec<_>>(), keep)
    }

    /// The votes of many drafts (a batch of `dtag suggest`), each equal to [`Self::votes`]
    /// of its row, with one set of buffers for them all.
    pub fn votes_of_many(&self, rows: &[&SparseRow]) -> Vec<Vec<Vote>> {
        let mut scratch = QueryScratch::new(self);
        rows.iter()
            .map(|r| self.votes_with((&r.indices, &r.values), None, &mut scratch))
            .collect()
    }
}

/// The first `keep` of `votes` (best first), the rest freed: a training document's votes are
/// kept for the whole ensemble fit, and only the candidates' share of them is ever read.
fn best(mut votes: Vec<Vote>, keep: usize) -> Vec<Vote> {
    if votes.len() > keep {
        votes.truncate(keep);
        votes.shrink_to_fit();
    }
    votes
}

/// Drafts whose neighbours one call of [`KnnIndex::votes_of_many`] finds (`dtag suggest`
/// hands them out in blocks of this many, one block per worker at a time).
pub const QUERY_BLOCK: usize = 32;

/// Lanes of the dense tier's dot products: its rows are padded to a multiple of this.
const DOT_LANES: usize = 32;

/// Adds to each `(document, similarity)` of `near` its dense tier row's dot product with
/// `query` (the draft's values on the tier's columns).
fn add_dense_part(tier: &DenseTier, query: &[f32], near: &mut [(u32, f32)]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor supports AVX2, checked just above.
            return unsafe { add_dense_part_avx2(tier, query, near) };
        }
    }
    add_dense_part_portable(tier, query, near)
}

/// [`add_dense_part`] compiled for AVX2: the same operations in the same order (separate
/// multiplies and adds, never fused), so the same bits as without it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn add_dense_part_avx2(tier: &DenseTier, query: &[f32], near: &mut [(u32, f32)]) {
    add_dense_part_portable(tier, query, near)
}

#[inline(always)]
fn add_dense_part_portable(tier: &DenseTier, query: &[f32], near: &mut [(u32, f32)]) {
    // The candidates' rows are scattered over the tier (megabytes, beyond the core's own
    // caches): each row is fetched a few candidates ahead, so its reading overlaps the
    // dot products before it.
    const AHEAD: usize = 4;
    for &(d, _) in near.iter().take(AHEAD) {
        prefetch(tier.row(d as usize));
    }
    for i in 0..near.len() {
        if let Some(&(ahead, _)) = near.get(i + AHEAD) {
            prefetch(tier.row(ahead as usize));
        }
        let (d, similarity) = &mut near[i];
        *similarity += dot(query, tier.row(*d as usize));
    }
}

/// Asks the processor to bring `row` into its caches (a hint: no effect on any value).
#[inline(always)]
fn prefetch(row: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    for line in row.chunks(16) {
        // SAFETY: prefetching reads nothing and cannot fault; the pointer is in bounds.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr().cast::<i8>(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

/// `Σ a[i]·b[i]` over equal lengths that are multiples of [`DOT_LANES`], summed in
/// [`DOT_LANES`] lanes (four vector registers of independent sums) and then across them by
/// halves, always in this order.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; DOT_LANES];
    for (x, y) in a.chunks_exact(DOT_LANES).zip(b.chunks_exact(DOT_LANES)) {
        for i in 0..DOT_LANES {
            lanes[i] += x[i] * y[i];
        }
    }
    let mut width = DOT_LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            lanes[i] += lanes[i + width];
        }
    }
    lanes[0]
}

/// Keeps, of each feature's postings (`start[f]..start[f + 1]` of `postings`, in document
/// order), the `limit` of highest value (ties: the earlier document), still in document
/// order; the lists no longer than `limit` are left as they are. In place: the postings are
/// as large as the training rows, and a second copy would be the peak of a large run.
fn keep_highest_postings(
    mut start: Vec<usize>,
    mut postings: Vec<(u32, f32)>,
    limit: usize,
) -> (Vec<usize>, Vec<(u32, f32)>) {
    if start.windows(2).all(|w| w[1] - w[0] <= limit) {
        return (start, postings);
    }
    let mut write = 0;
    for f in 0..start.len() - 1 {
        let (from, to) = (start[f], start[f + 1]);
        let list = &mut postings[from..to];
        let kept = if list.len() > limit {
            list.select_nth_unstable_by(limit - 1, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            list[..limit].sort_unstable_by_key(|&(d, _)| d);
            limit
        } else {
            list.len()
        };
        // `write <= from`: the kept postings move down over what earlier lists gave up.
        postings.copy_within(from..from + kept, write);
        start[f] = write;
        write += kept;
    }
    *start
        .last_mut()
        .expect("one entry per feature and one more") = write;
    postings.truncate(write);
    postings.shrink_to_fit();
    (start, postings)
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
        let index = KnnIndex::new(x.clone(), &labels, 2);
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
        let loo = index.leave_one_out_votes(usize::MAX);
        assert!((loo[0][0].share - 1.0).abs() < 1e-6);
        assert_eq!(loo[0].len(), 2);
    }

    #[test]
    fn rows_are_stored_exactly_as_a_list_of_sparse_rows() {
        let x = CsrMatrix::from_dense(&[
            vec![0.5, 0.0, 0.25],
            vec![0.0, 0.0, 0.0],
            vec![0.0, 1.0, 0.0],
        ]);
        let as_list: Vec<SparseRow> = (0..x.n_rows())
            .map(|i| SparseRow {
                indices: x.row(i).0.to_vec(),
                values: x.row(i).1.to_vec(),
            })
            .collect();
        let rows = KnnRows(x.clone());
        let bytes = postcard::to_stdvec(&rows).unwrap();
        assert_eq!(bytes, postcard::to_stdvec(&as_list).unwrap());
        let back: KnnRows = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(
            back.iter().collect::<Vec<_>>(),
            rows.iter().collect::<Vec<_>>()
        );
        // A row whose indices and values differ in number is refused.
        let bad = vec![SparseRow {
            indices: vec![0, 1],
            values: vec![1.0],
        }];
        let bad = postcard::to_stdvec(&bad).unwrap();
        assert!(postcard::from_bytes::<KnnRows>(&bad).is_err());
    }

    #[test]
    fn a_pruned_query_reads_its_distinctive_features_and_the_highest_postings() {
        // Feature 0 is in every document (a common word), feature 1 only in documents 3 and
        // 4, feature 2 in document 4 with a high value and in 0..3 with low ones.
        let x = CsrMatrix::from_dense(&[
            vec![0.9, 0.0, 0.1],
            vec![0.9, 0.0, 0.2],
            vec![0.9, 0.0, 0.3],
            vec![0.5, 0.8, 0.0],
            vec![0.3, 0.7, 0.9],
        ]);
        let labels = vec![vec![0], vec![0], vec![0], vec![1], vec![1]];
        let index =
            KnnIndex::with_read_budget(KnnIndex::new(x.clone(), &labels, 1).data.clone(), 3);
        // Feature 0 keeps its three highest postings (documents 0, 1, 2), feature 2 its
        // three highest (4, 2, 1).
        assert_eq!(index.postings_of(0), &[(0, 0.9), (1, 0.9), (2, 0.9)]);
        assert_eq!(index.postings_of(2), &[(1, 0.2), (2, 0.3), (4, 0.9)]);
        // Document 3 reads its distinctive feature 1 (2 postings) and then cannot afford the
        // common feature 0 (3 more): its neighbour is document 4, not the documents that
        // share only the common word.
        let row = SparseRow {
            indices: vec![0, 1],
            values: vec![0.5, 0.8],
        };
        assert_eq!(
            index.query_features((&row.indices, &row.values)),
            vec![(1, 0.8)]
        );
        let votes = index.votes(&row, Some(3));
        assert_eq!(votes.len(), 1);
        assert_eq!(votes[0].label, 1);
        // An index within its budget is exact: every feature is read.
        let exact = KnnIndex::new(x.clone(), &labels, 1);
        assert_eq!(
            exact.query_features((&row.indices, &row.values)),
            vec![(0, 0.5), (1, 0.8)]
        );
        assert_eq!(KnnIndex::read_budget(4_037), (1usize << 32) / 4_037);
        assert_eq!(KnnIndex::read_budget(100_000_000), MIN_READ_BUDGET);
    }

    /// 53 documents over 40 features, the first 4 in nearly every document (as common
    /// characters are), the others in about a fifth; pseudo-random but fixed. Each
    /// document has one to three of 7 descriptors.
    fn corpus_with_common_features() -> (CsrMatrix, Vec<Vec<u32>>) {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let dense: Vec<Vec<f32>> = (0..53)
            .map(|_| {
                (0..40)
                    .map(|f| {
                        let keep = if f < 4 { 9 } else { 2 };
                        if next() % 10 < keep {
                            (next() % 1000) as f32 / 997.0 + 0.001
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect();
        let labels: Vec<Vec<u32>> = (0..53)
            .map(|_| (0..1 + next() % 3).map(|_| (next() % 7) as u32).collect())
            .map(|mut l: Vec<u32>| {
                l.sort_unstable();
                l.dedup();
                l
            })
            .collect();
        (CsrMatrix::from_dense(&dense), labels)
    }

    fn bits(votes: &[Vote]) -> Vec<(u32, u32, u32)> {
        votes
            .iter()
            .map(|v| (v.label, v.share.to_bits(), v.nearest.to_bits()))
            .collect()
    }

    #[test]
    fn leave_one_out_and_batched_votes_equal_lone_queries_bit_for_bit() {
        let (x, labels) = corpus_with_common_features();
        // Budgets: unlimited (a dense tier), one that reads every document (a dense tier
        // too) and one that prunes features and postings.
        for (neighbours, budget) in [(1, 0), (5, 0), (30, 0), (100, 0), (5, 120), (30, 40)] {
            let mut index = KnnIndex::new(x.clone(), &labels, neighbours);
            if budget > 0 {
                index = KnnIndex::with_read_budget(index.data, budget);
                // Queries that may not read every document have no dense tier (and then
                // the postings hold every feature).
                assert_eq!(index.dense.width > 0, budget >= 53);
                // 40 prunes the longest lists.
                if budget < 53 {
                    assert!(index.postings.len() < x.nnz());
                }
            }
            let loo = index.leave_one_out_votes(usize::MAX);
            assert_eq!(loo.len(), 53);
            let drafts: Vec<SparseRow> = (0..x.n_rows())
                .map(|d| SparseRow {
                    indices: x.row(d).0.to_vec(),
                    values: x.row(d).1.iter().map(|v| v * 0.5).collect(),
                })
                .collect();
            let refs: Vec<&SparseRow> = drafts.iter().collect();
            for (draft, many) in drafts.iter().zip(index.votes_of_many(&refs)) {
                assert_eq!(bits(&many), bits(&index.votes(draft, None)));
            }
            for (d, left_out) in loo.iter().enumerate() {
                let (indices, values) = x.row(d);
                let row = SparseRow {
                    indices: indices.to_vec(),
                    values: values.to_vec(),
                };
                let lone = index.votes(&row, Some(d));
                assert_eq!(
                    bits(left_out),
                    bits(&lone),
                    "document {d}, k = {neighbours}, budget {budget}"
                );
                let read: usize = index
                    .query_features((&row.indices, &row.values))
                    .iter()
                    .map(|&(f, _)| index.postings_of(f).len())
                    .sum();
                assert!(budget == 0 || read <= budget, "document {d} read {read}");
            }
        }
    }

    #[test]
    fn the_dense_tier_adds_up_to_the_exact_cosine_neighbours() {
        let (x, labels) = corpus_with_common_features();
        // k = 7 rescores 56 documents: all 53, so the neighbours are exact.
        let k = x.n_rows().div_ceil(RESCORED_PER_NEIGHBOUR);
        let index = KnnIndex::new(x.clone(), &labels, k);
        assert!(index.rescored() >= x.n_rows());
        // The features in more than a quarter of the documents are in the tier (padded to
        // a multiple of 32 columns), and no postings hold them.
        let mut documents = [0usize; 40];
        for d in 0..x.n_rows() {
            x.row(d).0.iter().for_each(|&f| documents[f as usize] += 1);
        }
        let common = documents.iter().filter(|&&n| n * 4 > 53).count();
        assert!((4..40).contains(&common));
        assert_eq!(index.dense.width, common.div_ceil(DOT_LANES) * DOT_LANES);
        for f in 0..40u32 {
            let dense = documents[f as usize] * 4 > 53;
            assert_eq!(index.dense.column_of(f).is_some(), dense, "feature {f}");
            assert_eq!(index.postings_of(f).is_empty(), dense, "feature {f}");
        }
        let dot_rows = |a: usize, b: usize| -> f32 {
            let (ia, va) = x.row(a);
            let (ib, vb) = x.row(b);
            let mut s = 0.0;
            for (i, &f) in ia.iter().enumerate() {
                if let Some(j) = ib.iter().position(|&g| g == f) {
                    s += va[i] * vb[j];
                }
            }
            s
        };
        for d in 0..x.n_rows() {
            let mut exact: Vec<(usize, f32)> = (0..x.n_rows())
                .filter(|&e| e != d)
                .map(|e| (e, dot_rows(d, e)))
                .filter(|&(_, s)| s > 0.0)
                .collect();
            exact.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            exact.truncate(k);
            let total: f32 = exact.iter().map(|e| e.1).sum();
            let mut share = [0f32; 7];
            for &(e, s) in &exact {
                for &l in &labels[e] {
                    share[l as usize] += s / total;
                }
            }
            let (indices, values) = x.row(d);
            let row = SparseRow {
                indices: indices.to_vec(),
                values: values.to_vec(),
            };
            let votes = index.votes(&row, Some(d));
            assert_eq!(votes.len(), share.iter().filter(|&&s| s > 0.0).count());
            for v in votes {
                assert!(
                    (v.share - share[v.label as usize]).abs() < 1e-5,
                    "document {d}"
                );
            }
        }
    }

    #[test]
    fn a_draft_rescores_the_documents_its_sparse_features_bring_closest() {
        // 100 documents share a common feature 0; documents 0..20 also have the rarer
        // feature 1, with decreasing weight. Document 99 has feature 0 alone: the most
        // similar to a draft made mostly of feature 0, but the draft's feature 1 reaches 20
        // documents, more than the 8 a single neighbour rescores, so the neighbour comes
        // from the closest of those.
        let rows: Vec<Vec<f32>> = (0..100)
            .map(|d| match d {
                0..20 => {
                    let rare = 0.9 - d as f32 * 0.01;
                    vec![(1.0 - rare * rare).sqrt(), rare]
                }
                99 => vec![1.0, 0.0],
                _ => vec![0.5, 0.0],
            })
            .collect();
        let labels: Vec<Vec<u32>> = (0..100).map(|d| vec![u32::from(d == 99)]).collect();
        let index = KnnIndex::new(CsrMatrix::from_dense(&rows), &labels, 1);
        assert_eq!(index.rescored(), 8);
        let draft = SparseRow {
            indices: vec![0, 1],
            values: vec![0.99, 0.14],
        };
        let votes = index.votes(&draft, None);
        assert_eq!(votes.len(), 1);
        assert_eq!(votes[0].label, 0);
        // A draft none of whose sparse features reach 8 documents rescores them all.
        let common_only = SparseRow {
            indices: vec![0],
            values: vec![1.0],
        };
        assert_eq!(index.votes(&common_only, None)[0].label, 1);
    }
}
