//! Completion of descriptor labels for the web page (`GET /v1/projects/{id}/complete`) on the
//! largest vocabulary at hand: YSO, 27,784 concepts (`../shared/corpora/kirjastonhoitaja/
//! yso-fi.tsv`), and the UNBIS thesaurus (7,312 concepts in six languages). Skipped when the
//! shared corpora are not beside the clone.
//!
//! `cargo bench --bench complete`

use std::path::Path;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use dtag::serve::complete::LabelIndex;
use dtag::thesaurus::Thesaurus;

fn bench_vocabulary(c: &mut Criterion, name: &str, path: &str, queries: &[&str]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if !path.is_file() {
        eprintln!("{}: missing, {name} skipped", path.display());
        return;
    }
    let thesaurus = Thesaurus::load(&path).expect("the vocabulary loads");
    let started = std::time::Instant::now();
    let index = LabelIndex::of_thesaurus(Some(&thesaurus), &[]);
    eprintln!(
        "{name}: {} concepts, {} labels, index built in {:.1} ms",
        index.len(),
        index.labels(),
        started.elapsed().as_secs_f64() * 1e3
    );
    for query in queries {
        c.bench_function(&format!("complete {name} {query:?}"), |b| {
            b.iter(|| black_box(index.complete(black_box(query), 10, "fi")))
        });
    }
}

fn completion(c: &mut Criterion) {
    // A one-letter query matches nearly every label: the worst case.
    bench_vocabulary(
        c,
        "yso",
        "../shared/corpora/kirjastonhoitaja/yso-fi.tsv",
        &["a", "kirja", "lapset", "http://www.yso.fi/onto/yso/p100"],
    );
    bench_vocabulary(
        c,
        "unbis",
        "../shared/corpora/unbis_thesaurus/concepts.tsv",
        &["儿童", "child", "e"],
    );
}

criterion_group!(benches, completion);
criterion_main!(benches);
