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

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dtag::analysis::Analyzer;
use dtag::classifier::ensemble::knn::LANES;
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

#[test]
#[ignore = "a measurement: run with DTAG_PROFILE_MODEL and DTAG_PROFILE_DRAFTS"]
fn where_a_suggestion_spends_its_time() {
    let (Some(model), Some(drafts)) = (
        std::env::var_os("DTAG_PROFILE_MODEL"),
        std::env::var_os("DTAG_PROFILE_DRAFTS"),
    ) else {
        eprintln!("set DTAG_PROFILE_MODEL and DTAG_PROFILE_DRAFTS");
        return;
    };
    let start = Instant::now();
    let model = Model::load(&PathBuf::from(model)).expect("model");
    let loaded = start.elapsed();
    let start = Instant::now();
    let analyzer = Analyzer::new(model.analyzer.clone()).expect("analyzer");
    let dictionary = start.elapsed();
    let (corpus, _, _) =
        dtag::formats::read_corpus(&[PathBuf::from(drafts)], None, None, false).expect("drafts");
    let texts = corpus.bodies();
    let n = texts.len();
    let ensemble = model.ensemble.as_ref();
    let lexicon = ensemble.and_then(|e| e.lexicon());

    let (analysis, analysed) = time(|| {
        texts
            .iter()
            .map(|t| {
                let mut words: Vec<u32> = Vec::new();
                let mut observe = |w: &str| words.push(lexicon.map_or(u32::MAX, |l| l.word_id(w)));
                let observer: Option<&mut dyn FnMut(&str)> = match lexicon {
                    Some(_) => Some(&mut observe),
                    None => None,
                };
                let (row, _) = model.vectorizer.analyse(&analyzer, t, observer);
                (row, words)
            })
            .collect::<Vec<(SparseRow, Vec<u32>)>>()
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
            rows.chunks(LANES)
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
                .map(|(_, words)| lexicon.map_or_else(Vec::new, |l| l.mentions_of_ids(words)))
                .collect::<Vec<_>>()
        });
        let (fusion, _) = time(|| {
            let mut kept = 0usize;
            for ((v, l), m) in votes.iter().zip(&logits).zip(&found) {
                let mut ev = e.evidence_with_votes(v.clone(), l, &[]);
                ev.mentions = m.clone();
                kept += e.rank(&ev).len();
            }
            kept
        });
        lines.push(format!(
            "neighbours, blocks of {LANES} {:.1} µs/draft",
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
