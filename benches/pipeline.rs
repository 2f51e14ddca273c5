//! Benchmarks of each pipeline stage: `cargo bench`.
//!
//! Uses `../shared/corpora/cail2018_sample` (real Chinese documents) when present, else the
//! demo corpus in `data/`, so the figures are comparable with the peer benchmark.

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dtag::analysis::{Analyzer, AnalyzerConfig};
use dtag::classifier::logistic::{squared_norms, LogisticParams};
use dtag::corpus::Corpus;
use dtag::features::TfidfParams;
use dtag::model::Model;
use dtag::predict::{DecisionRule, Suggester};
use dtag::progress::NoProgress;
use dtag::train::TrainParams;

/// A corpus through the reader every command uses.
fn read_corpus(path: PathBuf) -> dtag::Result<Corpus> {
    dtag::formats::read_corpus(&[path], None, None, false).map(|(corpus, _, _)| corpus)
}

fn corpora() -> (Corpus, Corpus, &'static str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cail = root.join("../shared/corpora/cail2018_sample");
    let (train, test, name): (PathBuf, PathBuf, _) = if cail.is_dir() {
        (cail.join("train.txt"), cail.join("test.txt"), "cail2018")
    } else {
        eprintln!("../shared/corpora/cail2018_sample absent: benchmarking on data/");
        (
            root.join("data/train.txt"),
            root.join("data/test.txt"),
            "demo",
        )
    };
    (
        read_corpus(train).expect("train corpus"),
        read_corpus(test).expect("test corpus"),
        name,
    )
}

fn stages(c: &mut Criterion) {
    let (train, test, name) = corpora();
    let texts = train.bodies();
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    let analyzer = Analyzer::new(AnalyzerConfig::default()).unwrap();

    let mut group = c.benchmark_group(format!("{name}/analysis"));
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("tokenize_corpus_1_thread", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for t in &texts {
                analyzer.for_each_token(t, &mut |_| n += 1);
            }
            n
        })
    });
    group.finish();

    let tfidf = TfidfParams::default().check().unwrap();
    let mut group = c.benchmark_group(format!("{name}/features"));
    group.sample_size(10);
    group.throughput(Throughput::Elements(texts.len() as u64));
    group.bench_function("fit_transform_corpus", |b| {
        b.iter(|| tfidf.fit_transform(&analyzer, &texts, &NoProgress).unwrap())
    });
    group.finish();

    let (_, x) = tfidf.fit_transform(&analyzer, &texts, &NoProgress).unwrap();
    let norms = squared_norms(&x);
    let most_frequent = {
        let mut counts = std::collections::HashMap::<&str, Vec<u32>>::new();
        for (i, d) in train.documents.iter().enumerate() {
            for l in &d.descriptors {
                counts.entry(l).or_default().push(i as u32);
            }
        }
        counts.into_values().max_by_key(Vec::len).unwrap()
    };
    let positive: Vec<bool> = {
        let mut p = vec![false; x.n_rows()];
        most_frequent.iter().for_each(|&i| p[i as usize] = true);
        p
    };
    let logistic = LogisticParams::default().check().unwrap();
    let mut group = c.benchmark_group(format!("{name}/training"));
    group.sample_size(10);
    group.bench_function("one_descriptor_most_frequent", |b| {
        b.iter(|| logistic.fit_rows(&x, &norms, &positive))
    });
    let block: Vec<&[u32]> = vec![most_frequent.as_slice(); 8];
    group.bench_function("block_of_8_descriptors", |b| {
        b.iter(|| logistic.fit_many(&x, &norms, &block, &[]))
    });
    group.bench_function("whole_model", |b| {
        let params = TrainParams::default().check().unwrap();
        b.iter(|| params.fit(&train, None, &NoProgress).unwrap())
    });
    group.finish();

    let (model, _) = TrainParams::default()
        .check()
        .unwrap()
        .fit(&train, None, &NoProgress)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.dtag");
    model.save(&path).unwrap();
    let mut group = c.benchmark_group(format!("{name}/model"));
    group.sample_size(10);
    group.bench_function("load_with_segmenter", |b| {
        b.iter(|| Suggester::new(Model::load(&path).unwrap()).unwrap())
    });
    group.finish();

    let suggester = Suggester::new(model).unwrap();
    let rule = DecisionRule::default();
    let drafts = test.bodies();
    let mut group = c.benchmark_group(format!("{name}/suggest"));
    group.throughput(Throughput::Elements(1));
    let mut next = 0;
    group.bench_function("one_draft", |b| {
        b.iter_batched(
            || {
                next = (next + 1) % drafts.len();
                drafts[next]
            },
            |d| suggester.suggest(&[d], &rule),
            BatchSize::SmallInput,
        )
    });
    group.throughput(Throughput::Elements(drafts.len() as u64));
    group.sample_size(10);
    group.bench_function("test_set_batch", |b| {
        b.iter(|| suggester.suggest(&drafts, &rule))
    });
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
