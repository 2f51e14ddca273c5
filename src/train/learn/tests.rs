use super::*;
use crate::analysis::{AnalyzerConfig, SegmenterKind};
use crate::corpus::Origin;
use crate::features::TfidfParams;
use crate::progress::NoProgress;
use crate::train::TrainParams;

fn corpus(docs: &[(&[&str], &str)]) -> Corpus {
    let source: std::sync::Arc<str> = std::sync::Arc::from("new.txt");
    Corpus {
        documents: docs
            .iter()
            .enumerate()
            .map(|(i, (labels, body))| Document {
                descriptors: labels.iter().map(|s| s.to_string()).collect(),
                body: body.to_string(),
                origin: Origin {
                    source: source.clone(),
                    line: 3 * i + 1,
                },
            })
            .collect(),
        sources: 1,
    }
}

fn params() -> TrainParams {
    TrainParams {
        analyzer: AnalyzerConfig {
            segmenter: SegmenterKind::Whitespace,
            ..Default::default()
        },
        tfidf: TfidfParams {
            min_df: 1,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn train_on(docs: &[(&[&str], &str)]) -> Model {
    params()
        .check()
        .unwrap()
        .fit(&corpus(docs), None, &NoProgress)
        .unwrap()
        .0
}

const FIRST: &[(&[&str], &str)] = &[
    (&["PEACE"], "troops ceasefire mission patrol"),
    (&["PEACE"], "mission troops patrol border"),
    (&["FOOD"], "harvest hunger crops famine"),
    (&["FOOD"], "crops famine hunger aid"),
];
const SECOND: &[(&[&str], &str)] = &[
    (&["PEACE", "WATER"], "troops mission border aid"),
    (&["WATER"], "aid hunger border crops"),
    (&["FOOD"], "harvest crops aid famine"),
];

fn learn(model: &Model, docs: &[(&[&str], &str)]) -> Result<(Model, LearnReport)> {
    LearnParams {
        holdout: 0.0,
        ..LearnParams::default()
    }
    .check()
    .unwrap()
    .learn(model, &LearnBatch::from(corpus(docs)), &NoProgress)
}

#[test]
fn learning_runs_training_over_every_document() {
    let model = train_on(FIRST);
    let (learned, report) = learn(&model, SECOND).unwrap();
    let all: Vec<(&[&str], &str)> = FIRST.iter().chain(SECOND).copied().collect();
    let retrained = train_on(&all);
    assert_eq!(learned.descriptors, retrained.descriptors);
    assert_eq!(learned.info.label_documents, retrained.info.label_documents);
    assert_eq!(learned.info.documents, 7);
    assert_eq!(report.descriptors_added, vec!["WATER"]);
    assert_eq!((report.learned, report.model_documents), (3, 7));
    // The vocabulary is the first run's; the ranking is the retrained model's.
    assert_eq!(learned.vectorizer.state(), model.vectorizer.state());
    let (a, b) = (
        crate::predict::Suggester::new(learned).unwrap(),
        crate::predict::Suggester::new(retrained).unwrap(),
    );
    for text in [
        "troops border",
        "hunger crops",
        "aid border",
        "mission patrol",
    ] {
        let (pa, pb) = (a.top_probabilities(text, 1), b.top_probabilities(text, 1));
        assert_eq!(pa[0].0, pb[0].0, "{text}: {pa:?} vs {pb:?}");
    }
    let memory = a.model().memory.as_ref().unwrap();
    assert_eq!((memory.learned_documents, memory.updates), (3, 1));
    assert_eq!(memory.vocabulary_documents, 4);
}

#[test]
fn a_document_learned_again_counts_once() {
    let model = train_on(FIRST);
    let (once, _) = learn(&model, SECOND).unwrap();
    let (twice, report) = learn(&once, SECOND).unwrap();
    assert_eq!((report.learned, report.already_learned), (0, 3));
    assert_eq!(twice.info.documents, once.info.documents);
    // The same text with other descriptors corrects them: no second copy of the text.
    let (corrected, report) = learn(&once, &[(&["FOOD", "WATER"], SECOND[1].1)]).unwrap();
    assert_eq!((report.learned, report.relabelled), (0, 1));
    assert_eq!(corrected.info.documents, 7);
    let food = corrected
        .descriptors
        .iter()
        .position(|d| d == "FOOD")
        .unwrap();
    assert_eq!(corrected.info.label_documents[food], 4);
    // A document of the training corpus counts once too.
    let (_, report) = learn(&model, &FIRST[..1]).unwrap();
    assert_eq!(report.learned, 0);
}

#[test]
fn blank_texts_and_texts_without_known_terms_are_refused_where_they_stand() {
    let model = train_on(FIRST);
    let e = learn(
        &model,
        &[
            (&["SPAM"], "   "),
            (&["PEACE"], "troops mission border"),
            (&["SPAM"], "lorem ipsum troops"),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("new.txt:1: cannot be learned: the text is empty"),
        "{e}"
    );
    assert!(
        e.contains("new.txt:7: cannot be learned: only 1 distinct term"),
        "{e}"
    );
    assert!(!e.contains("new.txt:4"), "{e}");
}

#[test]
fn the_memory_survives_the_model_file() {
    let model = train_on(FIRST);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.dtag");
    model.save(&path).unwrap();
    let loaded = Model::load(&path).unwrap();
    let (a, b) = (model.memory.unwrap(), loaded.memory.unwrap());
    assert_eq!(a.labels, b.labels);
    assert_eq!(a.digests, b.digests);
    assert_eq!(a.names, b.names);
    let rows = |m: &TrainingMemory| -> Vec<(Vec<u32>, Vec<f32>)> {
        let rows = m.rows.as_ref().expect("no neighbour index holds them");
        rows.iter().map(|(i, v)| (i.to_vec(), v.to_vec())).collect()
    };
    assert_eq!(rows(&a), rows(&b));
    assert_eq!(a.settings, b.settings);
}
