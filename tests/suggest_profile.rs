//! Where a suggestion's time goes, stage by stage, on one thread (ignored: a measurement, not a
//! check). Run with a model and drafts of your own:
//!
//! ```sh
//! DTAG_PROFILE_MODEL=cail.dtag DTAG_PROFILE_DRAFTS=../shared/corpora/cail2018_sample/test.txt \
//!   cargo test --release --test suggest_profile -- --ignored --nocapture
//! ```
//!
//! Stages, as `dtag suggest` runs them per block of drafts: analysis (normalising, segmenting,
//! counting, TF-IDF weighing, the lexicon's word ids), one-vs-rest decision values, the
//! neighbours' votes (batched as `suggest` does, and one query at a time), the lexicon's
//! mentions, and the fusion's candidates and ranking.
//!
//! `the_ensembles_candidates_with_their_evidence` writes, for labelled drafts, every
//! candidate's fused value and features with whether it is gold (to `DTAG_PROFILE_OUT`):
//! `scripts/fusion_ceiling.py` reads it to show how far any reweighting of that evidence
//! could rank (docs/learning.md).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dtag::analysis::Analyzer;
use dtag::classifier::ensemble::knn::{DENSE_FEATURE_SHARE, QUERY_BLOCK, RESCORED_PER_NEIGHBOUR};
use dtag::classifier::ensemble::WordSequence;
use dtag::features::sparse::SparseRow;
use dtag::model::Model;

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

/// The median of five runs of `f`.
fn time<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut runs = Vec::new();
    let mut out = None;
    for _ in 0..5 {
        let start = Instant::now();
        let value = f();
        runs.push(start.elapsed());
        out = Some(value);
    }
    (median(runs), out.expect("five runs"))
}

/// The model and drafts named by `DTAG_PROFILE_MODEL` and `DTAG_PROFILE_DRAFTS` (none, with a
/// word on what to set, when either is missing).
fn measured_files() -> Option<(PathBuf, PathBuf)> {
    match (
        std::env::var_os("DTAG_PROFILE_MODEL"),
        std::env::var_os("DTAG_PROFILE_DRAFTS"),
    ) {
        (Some(model), Some(drafts)) => Some((model.into(), drafts.into())),
        _ => {
            eprintln!("set DTAG_PROFILE_MODEL and DTAG_PROFILE_DRAFTS");
            None
        }
    }
}

#[test]
#[ignore = "a measurement: run with DTAG_PROFILE_MODEL and DTAG_PROFILE_DRAFTS"]
fn where_a_suggestion_spends_its_time() {
    let Some((model, drafts)) = measured_files() else {
        return;
    };
    let start = Instant::now();
    let model = Model::load(&model).expect("model");
    let loaded = start.elapsed();
    let start = Instant::now();
    let analyzer = Analyzer::new(model.analyzer.clone()).expect("analyzer");
    let dictionary = start.elapsed();
    let (corpus, _, _) = dtag::formats::read_corpus(&[drafts], None, None, false).expect("drafts");
    let texts = corpus.bodies();
    let n = texts.len();
    let ensemble = model.ensemble.as_ref();
    let lexicon = ensemble.and_then(|e| e.lexicon());

    let (analysis, analysed) = time(|| {
        texts
            .iter()
            .map(|t| {
                let mut words = WordSequence::default();
                let mut observe = |w: &str| {
                    if let Some(l) = lexicon {
                        words.push(l, w)
                    }
                };
                let observer: Option<&mut dyn FnMut(&str)> = match lexicon {
                    Some(_) => Some(&mut observe),
                    None => None,
                };
                let (row, _) = model.vectorizer.analyse(&analyzer, t, observer);
                (row, words)
            })
            .collect::<Vec<(SparseRow, WordSequence)>>()
    });
    let (ovr, logits) = time(|| {
        analysed
            .iter()
            .map(|(row, _)| {
                let mut out = vec![0f32; model.classifier.n_labels()];
                model
                    .classifier
                    .decision_into(&row.indices, &row.values, &mut out);
                out
            })
            .collect::<Vec<Vec<f32>>>()
    });
    let rows: Vec<&SparseRow> = analysed.iter().map(|(row, _)| row).collect();
    let mut lines = vec![
        format!("{n} drafts, one thread, medians of 5 runs"),
        format!("model load {:.1} ms", loaded.as_secs_f64() * 1e3),
        format!(
            "analyzer (dictionary) {:.1} ms",
            dictionary.as_secs_f64() * 1e3
        ),
    ];
    let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    lines.push(format!("analysis {:.1} µs/draft", per(analysis)));
    lines.push(format!("one-vs-rest {:.1} µs/draft", per(ovr)));
    if let Some(e) = ensemble {
        let (batched, votes) = time(|| {
            rows.chunks(QUERY_BLOCK)
                .flat_map(|block| e.votes_of_many(block))
                .collect::<Vec<_>>()
        });
        let (lone, _) = time(|| {
            rows.iter()
                .map(|r| e.votes_of_many(&[r]))
                .collect::<Vec<_>>()
        });
        let (mentions, found) = time(|| {
            analysed
                .iter()
                .map(|(_, words)| lexicon.map_or_else(Vec::new, |l| l.mentions_of_sequence(words)))
                .collect::<Vec<_>>()
        });
        let (fusion, _) = time(|| {
            let mut kept = 0usize;
            for ((v, l), m) in votes.iter().zip(&logits).zip(&found) {
                let mut ev = e.evidence_with_votes(v.clone(), l, &WordSequence::default());
                ev.mentions = m.clone();
                kept += e.rank(&ev).len();
            }
            kept
        });
        lines.push(format!(
            "neighbours, blocks of {QUERY_BLOCK} {:.1} µs/draft",
            per(batched)
        ));
        lines.push(format!("neighbours, one by one {:.1} µs/draft", per(lone)));
        lines.push(format!("lexicon mentions {:.1} µs/draft", per(mentions)));
        lines.push(format!(
            "fusion (candidates, ranking) {:.1} µs/draft",
            per(fusion)
        ));
    }
    eprintln!("{}", lines.join("\n"));
}

/// How often the exact nearest neighbours of a draft are among the candidates that its
/// features outside the dense tier bring closest (what a neighbour query rescores): per
/// share of documents above which a feature is dense, and per number of candidates. Run
/// with the same variables as above (a model with neighbours).
#[test]
#[ignore = "a measurement: run with DTAG_PROFILE_MODEL and DTAG_PROFILE_DRAFTS"]
fn neighbour_candidates_hold_the_exact_neighbours() {
    let Some((model, drafts)) = measured_files() else {
        return;
    };
    let model = Model::load(&model).expect("model");
    let analyzer = Analyzer::new(model.analyzer.clone()).expect("analyzer");
    let (corpus, _, _) = dtag::formats::read_corpus(&[drafts], None, None, false).expect("drafts");
    let ensemble = model.ensemble.as_ref().expect("an ensemble model");
    let data = ensemble.as_data();
    let knn = data.knn.expect("a model with neighbours");
    let (n, k) = (knn.rows.len(), knn.neighbours);
    let mut documents = vec![0usize; knn.n_features];
    for (indices, _) in knn.rows.iter() {
        indices.iter().for_each(|&f| documents[f as usize] += 1);
    }
    let rows: Vec<SparseRow> = corpus
        .bodies()
        .iter()
        .map(|t| model.vectorizer.analyse(&analyzer, t, None).0)
        .collect();
    let candidates = [
        k,
        2 * k,
        4 * k,
        200,
        k * RESCORED_PER_NEIGHBOUR,
        400,
        16 * k,
    ];
    let mut dense_query = vec![0f32; knn.n_features];
    for share in [0.5, DENSE_FEATURE_SHARE, 0.125] {
        let dense = |f: u32| documents[f as usize] as f64 > share * n as f64;
        let mut found = vec![0usize; candidates.len()];
        let mut sparse_postings = 0usize;
        for row in &rows {
            for (&f, &v) in row.indices.iter().zip(&row.values) {
                dense_query[f as usize] = v;
                if !dense(f) {
                    sparse_postings += documents[f as usize];
                }
            }
            // (document, whole similarity, the part of the features outside the tier)
            let mut all: Vec<(usize, f32, f32)> = (0..n)
                .map(|d| {
                    let (indices, values) = knn.rows.row(d);
                    let (mut whole, mut sparse) = (0f32, 0f32);
                    for (&f, &w) in indices.iter().zip(values) {
                        let product = dense_query[f as usize] * w;
                        whole += product;
                        if !dense(f) {
                            sparse += product;
                        }
                    }
                    (d, whole, sparse)
                })
                .collect();
            row.indices
                .iter()
                .for_each(|&f| dense_query[f as usize] = 0.0);
            all.sort_by(|a, b| b.1.total_cmp(&a.1));
            let nearest: Vec<usize> = all[..k.min(n)].iter().map(|a| a.0).collect();
            all.sort_by(|a, b| b.2.total_cmp(&a.2));
            for (c, found) in candidates.iter().zip(found.iter_mut()) {
                let held = &all[..(*c).min(n)];
                *found += nearest
                    .iter()
                    .filter(|d| held.iter().any(|h| h.0 == **d))
                    .count();
            }
        }
        let total = (rows.len() * k.min(n)) as f64;
        let shares: Vec<String> = candidates
            .iter()
            .zip(&found)
            .map(|(c, &f)| format!("{c}: {:.3}", f as f64 / total))
            .collect();
        eprintln!(
            "dense above {share} of documents: {} postings per draft outside the tier; \
             exact neighbours among the candidates: {}",
            sparse_postings / rows.len().max(1),
            shares.join(", ")
        );
    }
}

#[test]
#[ignore = "a measurement: run with DTAG_PROFILE_MODEL, DTAG_PROFILE_DRAFTS (labelled) and DTAG_PROFILE_OUT"]
fn the_ensembles_candidates_with_their_evidence() {
    let Some((model, drafts)) = measured_files() else {
        return;
    };
    let Some(out) = std::env::var_os("DTAG_PROFILE_OUT") else {
        eprintln!("set DTAG_PROFILE_OUT");
        return;
    };
    let model = Model::load(&model).expect("model");
    let names = model.descriptors.clone();
    let suggester = dtag::predict::Suggester::new(model).expect("analyzer");
    let (corpus, _, _) = dtag::formats::read_corpus(&[drafts], None, None, false).expect("drafts");
    // One line per candidate: document, fused value, gold (0/1), then every feature in
    // `FEATURES` order; one `#gold` line per document with its number of descriptors.
    let mut table = String::from("document\tvalue\tgold");
    for (name, _) in dtag::classifier::ensemble::FEATURES {
        table.push('\t');
        table.push_str(name);
    }
    table.push('\n');
    for (d, doc) in corpus.documents.iter().enumerate() {
        for ranked in suggester.ranking(&doc.body, 200).ranked {
            let Some(features) = ranked.evidence else {
                panic!("a model with an ensemble");
            };
            let gold = doc.descriptors.contains(&names[ranked.label]) as u8;
            table.push_str(&format!("{d}\t{}\t{gold}", ranked.decision_value));
            for x in features {
                table.push_str(&format!("\t{x}"));
            }
            table.push('\n');
        }
        table.push_str(&format!("#gold\t{d}\t{}\n", doc.descriptors.len()));
    }
    std::fs::write(&out, table).expect("the table written");
}
