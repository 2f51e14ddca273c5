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
/// would take days). Below about 8,000 documents the budget exceeds what any query reads and
/// the neighbours are exact (cail2018_sample, reuters21578); beyond, each query reads its
/// most distinctive features first, as Lucene's "more like this" queries keep a document's
/// top terms, and each feature keeps only its highest-weighted postings (static pruning):
/// the documents where a term weighs least are the least likely to be reached through it
/// alone. At a million documents a query reads about 34,000 postings.
pub const READ_BUDGET_TOTAL: u64 = 1 << 32;

/// The budget never falls below this many postings per query.
pub const MIN_READ_BUDGET: usize = 8_192;

/// The training rows with their descriptors and an inverted index over them.
#[derive(Debug, Clone)]
pub struct KnnIndex {
    data: KnnData,
    /// For each feature, the `(document, value)` pairs of the rows that have it.
    postings_start: Vec<usize>,
    postings: Vec<(u32, f32)>,
    /// Postings one query reads at most ([`KnnIndex::read_budget`]).
    read_budget: usize,
    /// Every posting's value is positive, so blocks of queries can tell a document reached
    /// by a bit rather than by a similarity still zero ([`Self::leave_one_out_votes`]).
    positive: bool,
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
        let mut counts = vec![0usize; data.n_features + 1];
        for (indices, _) in data.rows.iter() {
            for &f in indices {
                counts[f as usize + 1] += 1;
            }
        }
        for f in 0..data.n_features {
            counts[f + 1] += counts[f];
        }
        let mut next = counts.clone();
        let mut postings = vec![(0u32, 0f32); counts[data.n_features]];
        for (d, (indices, values)) in data.rows.iter().enumerate() {
            for (&f, &v) in indices.iter().zip(values) {
                postings[next[f as usize]] = (d as u32, v);
                next[f as usize] += 1;
            }
        }
        let (postings_start, postings) = keep_highest_postings(counts, postings, read_budget);
        let positive = postings.iter().all(|&(_, w)| w.is_finite() && w >= 1e-18);
        KnnIndex {
            data,
            postings_start,
            postings,
            read_budget,
            positive,
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

    /// The votes of the `neighbours` rows most similar (cosine, over the features and postings
    /// the read budget lets the query read: see [`Self::query_features`]) to `row`, best first;
    /// `exclude` leaves one training document out (its own out-of-sample score).
    pub fn votes(&self, row: &SparseRow, exclude: Option<usize>) -> Vec<Vote> {
        let row = (&row.indices[..], &row.values[..]);
        self.votes_with(row, exclude, &mut vec![0f32; self.data.rows.len()])
    }

    /// [`Self::votes`] with a similarity buffer of one zero per training document, zero
    /// again on return: queries in a row reuse it instead of clearing a new one each.
    fn votes_with(
        &self,
        row: (&[u32], &[f32]),
        exclude: Option<usize>,
        similarity: &mut [f32],
    ) -> Vec<Vote> {
        let mut touched: Vec<u32> = Vec::new();
        for (f, v) in self.query_features(row) {
            for &(d, w) in self.postings_of(f) {
                if similarity[d as usize] == 0.0 {
                    touched.push(d);
                }
                similarity[d as usize] += v * w;
            }
        }
        if let Some(e) = exclude {
            similarity[e] = 0.0;
        }
        let near: Vec<(u32, f32)> = touched
            .iter()
            .map(|&d| (d, std::mem::take(&mut similarity[d as usize])))
            .filter(|&(_, s)| s > 0.0)
            .collect();
        self.votes_of_nearest(near)
    }

    /// The votes of the best `neighbours` of `near` (documents with their similarity, in the
    /// order they were first reached): one path for a draft and for the leave-one-out votes,
    /// so both rank and sum exactly alike.
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

    /// The votes of training documents `docs` with each left out, in parallel: each
    /// document's votes are those [`Self::leave_one_out_votes`] gives it, so shards of the
    /// documents can compute them apart.
    pub fn leave_one_out_votes_of(&self, docs: &[usize], keep: usize) -> Vec<Vec<Vote>> {
        let n = self.data.rows.len();
        docs.par_iter()
            .map_init(
                || vec![0f32; n],
                |similarity, &d| {
                    best(
                        self.votes_with(self.data.rows.row(d), Some(d), similarity),
                        keep,
                    )
                },
            )
            .collect()
    }

    /// Every training document's votes with itself left out (its best `keep`), in parallel.
    ///
    /// Equal to `votes(row, Some(d))` for every row `d`, bit for bit, but computed for
    /// [`LANES`] documents per pass over the postings: a feature that several of them share
    /// (a common character is in nearly every document) is read once for all of them, and
    /// each of its postings updates their similarities to that document with a few vector
    /// operations. Every similarity is still summed feature by feature in increasing order,
    /// and each document's neighbours are listed in the order a lone query reaches them, so
    /// selection and sums are those of [`Self::votes`].
    pub fn leave_one_out_votes(&self, keep: usize) -> Vec<Vec<Vote>> {
        let n = self.data.rows.len();
        // The blocked pass knows a document is reached by whether it was reached before,
        // where a lone query tests for a similarity still zero: the same when every product
        // of two values is positive (TF-IDF rows always are).
        let positive = self.positive;
        // Blocks pay off where queries share most of what they read: when a query may reach
        // every document. Under a read budget smaller than the corpus, queries read their
        // own distinctive features, a block would move 32 lanes for one, and lone queries
        // over a 4-byte similarity per document are faster.
        if !positive || self.read_budget < n {
            return self.leave_one_out_votes_of(&(0..n).collect::<Vec<_>>(), keep);
        }
        let blocks: Vec<Vec<Vec<Vote>>> = (0..n.div_ceil(LANES))
            .into_par_iter()
            .map_init(
                || BlockScratch::new(n),
                |scratch, b| {
                    let queries = b * LANES..n.min((b + 1) * LANES);
                    self.block_leave_one_out(queries, scratch, keep)
                },
            )
            .collect();
        blocks.into_iter().flatten().collect()
    }

    /// The leave-one-out votes of the documents `queries` (at most [`LANES`]).
    fn block_leave_one_out(
        &self,
        queries: std::ops::Range<usize>,
        scratch: &mut BlockScratch,
        keep: usize,
    ) -> Vec<Vec<Vote>> {
        let rows: Vec<Query<'_>> = queries.map(|q| (self.data.rows.row(q), Some(q))).collect();
        self.block_votes(&rows, scratch, keep)
    }

    /// The votes of many drafts (a batch of `dtag suggest`), equal to [`Self::votes`] of each
    /// bit for bit, computed [`LANES`] drafts per pass over the postings as the leave-one-out
    /// votes are: a common feature's postings are read once for all the drafts that have it.
    pub fn votes_of_many(&self, rows: &[&SparseRow]) -> Vec<Vec<Vote>> {
        let positive = |r: &&SparseRow| r.values.iter().all(|&v| v.is_finite() && v >= 1e-18);
        // As for the leave-one-out votes: under a read budget smaller than the corpus,
        // queries share little of what they read, and lone queries are faster.
        let n = self.data.rows.len();
        if rows.len() < 2 || !self.positive || self.read_budget < n || !rows.iter().all(positive) {
            return rows.iter().map(|r| self.votes(r, None)).collect();
        }
        thread_local! {
            static SCRATCH: std::cell::RefCell<Option<BlockScratch>> =
                const { std::cell::RefCell::new(None) };
        }
        SCRATCH.with(|cell| {
            let mut cell = cell.borrow_mut();
            if cell.as_ref().is_none_or(|s| s.reached.len() != n) {
                *cell = Some(BlockScratch::new(n));
            }
            let scratch = cell.as_mut().expect("made just above");
            let mut votes = Vec::with_capacity(rows.len());
            for block in rows.chunks(LANES) {
                let queries: Vec<Query<'_>> = block
                    .iter()
                    .map(|r| ((&r.indices[..], &r.values[..]), None))
                    .collect();
                votes.extend(self.block_votes(&queries, scratch, usize::MAX));
            }
            votes
        })
    }

    /// The votes of `queries` (at most [`LANES`] rows, each with the training document it
    /// leaves out, if any) in one pass over the postings.
    fn block_votes(
        &self,
        queries: &[Query<'_>],
        scratch: &mut BlockScratch,
        keep: usize,
    ) -> Vec<Vec<Vote>> {
        let BlockScratch {
            similarity,
            reached,
            touched,
            entries,
        } = scratch;
        // The block's features in increasing order, each with its value in every lane
        // (0 where that document lacks it).
        entries.clear();
        for (lane, &(row, _)) in queries.iter().enumerate() {
            let features = self.query_features(row);
            entries.extend(features.into_iter().map(|(f, v)| (f, lane as u32, v)));
        }
        entries.sort_unstable_by_key(|&(f, lane, _)| (f, lane));
        let mut at = 0;
        while at < entries.len() {
            let f = entries[at].0;
            let mut query = Lanes::default();
            let mut lanes = 0u32;
            while at < entries.len() && entries[at].0 == f {
                let (_, lane, v) = entries[at];
                query.0[lane as usize] = v;
                lanes |= 1 << lane;
                at += 1;
            }
            let postings = self.postings_of(f);
            accumulate(postings, &query, lanes, similarity, reached, touched);
        }
        let votes = queries
            .iter()
            .enumerate()
            .map(|(lane, &(_, exclude))| {
                if let Some(q) = exclude {
                    similarity[q].0[lane] = 0.0; // the document itself is left out
                }
                let near: Vec<(u32, f32)> = touched[lane]
                    .iter()
                    .map(|&d| (d, similarity[d as usize].0[lane]))
                    .filter(|&(_, s)| s > 0.0)
                    .collect();
                best(self.votes_of_nearest(near), keep)
            })
            .collect();
        for list in touched.iter_mut() {
            for &d in list.iter() {
                similarity[d as usize] = Lanes::default();
                reached[d as usize] = 0;
            }
            list.clear();
        }
        votes
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

/// A query of a block: a row (columns and values) and the training document it leaves out,
/// if any.
type Query<'a> = ((&'a [u32], &'a [f32]), Option<usize>);

/// Documents whose leave-one-out similarities are computed in one pass over the postings.
pub const LANES: usize = 32;

/// One training document's similarity to each query of a block (two cache lines).
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Lanes([f32; LANES]);

impl Default for Lanes {
    fn default() -> Self {
        Lanes([0.0; LANES])
    }
}

/// Per-thread buffers of [`KnnIndex::leave_one_out_votes`].
struct BlockScratch {
    /// Per training document, its similarity to each query of the block.
    similarity: Vec<Lanes>,
    /// Per training document, the queries (bits) that have reached it.
    reached: Vec<u32>,
    /// Per query, the documents it reached, in the order it reached them.
    touched: Vec<Vec<u32>>,
    /// The block's `(feature, lane, value)` entries.
    entries: Vec<(u32, u32, f32)>,
}

impl BlockScratch {
    fn new(n: usize) -> Self {
        BlockScratch {
            similarity: vec![Lanes::default(); n],
            reached: vec![0; n],
            touched: vec![Vec::new(); LANES],
            entries: Vec::new(),
        }
    }
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

/// Adds one feature's contribution to the block's similarities: for each posting `(d, w)`,
/// `similarity[d][lane] += query[lane] * w` in every lane (a lane without the feature adds
/// `0 · w = 0`, which changes nothing), and a document that a lane with the feature reaches
/// for the first time is listed for that lane, in the order [`KnnIndex::votes`] lists it.
fn accumulate(
    postings: &[(u32, f32)],
    query: &Lanes,
    lanes: u32,
    similarity: &mut [Lanes],
    reached: &mut [u32],
    touched: &mut [Vec<u32>],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor supports AVX2, checked just above.
            return unsafe {
                accumulate_avx2(postings, query, lanes, similarity, reached, touched)
            };
        }
    }
    for &(d, w) in postings {
        let new = lanes & !reached[d as usize];
        if new != 0 {
            reach(d, new, reached, touched);
        }
        // Separate multiply and add (never fused), exactly as the lone query computes them.
        for (s, &q) in similarity[d as usize].0.iter_mut().zip(&query.0) {
            *s += q * w;
        }
    }
}

/// [`accumulate`] with explicit AVX: the lanes are four registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn accumulate_avx2(
    postings: &[(u32, f32)],
    query: &Lanes,
    lanes: u32,
    similarity: &mut [Lanes],
    reached: &mut [u32],
    touched: &mut [Vec<u32>],
) {
    use std::arch::x86_64::*;
    const _: () = assert!(LANES == 32);
    let q = query.0.as_ptr();
    let (q0, q1, q2, q3) = (
        _mm256_load_ps(q),
        _mm256_load_ps(q.add(8)),
        _mm256_load_ps(q.add(16)),
        _mm256_load_ps(q.add(24)),
    );
    for &(d, w) in postings {
        let new = lanes & !reached[d as usize];
        if new != 0 {
            reach(d, new, reached, touched);
        }
        // `Lanes` is 64-byte aligned: aligned loads and stores. Separate multiply and add
        // (never fused), exactly as the lone query computes them.
        let p = similarity[d as usize].0.as_mut_ptr();
        let w = _mm256_set1_ps(w);
        _mm256_store_ps(p, _mm256_add_ps(_mm256_load_ps(p), _mm256_mul_ps(q0, w)));
        let p8 = p.add(8);
        _mm256_store_ps(p8, _mm256_add_ps(_mm256_load_ps(p8), _mm256_mul_ps(q1, w)));
        let p16 = p.add(16);
        _mm256_store_ps(
            p16,
            _mm256_add_ps(_mm256_load_ps(p16), _mm256_mul_ps(q2, w)),
        );
        let p24 = p.add(24);
        _mm256_store_ps(
            p24,
            _mm256_add_ps(_mm256_load_ps(p24), _mm256_mul_ps(q3, w)),
        );
    }
}

/// Lists document `d` for the lanes `new` that reach it for the first time.
#[cold]
#[inline(never)]
fn reach(d: u32, new: u32, reached: &mut [u32], touched: &mut [Vec<u32>]) {
    reached[d as usize] |= new;
    let mut bits = new;
    while bits != 0 {
        touched[bits.trailing_zeros() as usize].push(d);
        bits &= bits - 1;
    }
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

    #[test]
    fn blocked_leave_one_out_votes_equal_lone_queries_bit_for_bit() {
        // 53 documents (four blocks, the last one partial) over 40 features, a few of them in
        // nearly every document, as common characters are; pseudo-random but fixed.
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
        let x = CsrMatrix::from_dense(&dense);
        // Budgets: unlimited (exact), and two that prune features and postings.
        for (neighbours, budget) in [(1, 0), (5, 0), (30, 0), (100, 0), (5, 120), (30, 40)] {
            let mut index = KnnIndex::new(x.clone(), &labels, neighbours);
            if budget > 0 {
                index = KnnIndex::with_read_budget(index.data, budget);
                // 120 prunes only features (no list is that long), 40 postings as well.
                assert_eq!(index.postings.len() < x.nnz(), budget < 53);
            }
            let loo = index.leave_one_out_votes(usize::MAX);
            assert_eq!(loo.len(), 53);
            // Drafts in a batch (two blocks and a part) get a lone query's votes.
            let drafts: Vec<SparseRow> = (0..x.n_rows())
                .map(|d| SparseRow {
                    indices: x.row(d).0.to_vec(),
                    values: x.row(d).1.iter().map(|v| v * 0.5).collect(),
                })
                .collect();
            let refs: Vec<&SparseRow> = drafts.iter().collect();
            for (draft, many) in drafts.iter().zip(index.votes_of_many(&refs)) {
                let lone = index.votes(draft, None);
                let bits = |v: &[Vote]| -> Vec<(u32, u32, u32)> {
                    v.iter()
                        .map(|v| (v.label, v.share.to_bits(), v.nearest.to_bits()))
                        .collect()
                };
                assert_eq!(
                    bits(&many),
                    bits(&lone),
                    "k = {neighbours}, budget {budget}"
                );
            }
            for (d, blocked) in loo.iter().enumerate() {
                let (indices, values) = x.row(d);
                let row = SparseRow {
                    indices: indices.to_vec(),
                    values: values.to_vec(),
                };
                let lone = index.votes(&row, Some(d));
                let bits = |v: &[Vote]| -> Vec<(u32, u32, u32)> {
                    v.iter()
                        .map(|v| (v.label, v.share.to_bits(), v.nearest.to_bits()))
                        .collect()
                };
                assert_eq!(
                    bits(blocked),
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
}
