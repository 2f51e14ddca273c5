//! Suggestion: scoring a text against every descriptor and choosing which to propose.

pub mod decision;
pub mod explain;

use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;

use crate::analysis::Analyzer;
use crate::classifier::ensemble::knn::QUERY_BLOCK;
use crate::classifier::ensemble::{Features, WordSequence};
use crate::error::{Error, Result};
use crate::features::sparse::SparseRow;
use crate::features::{NgramCounts, Overlap};
use crate::metrics::top_k;
use crate::model::Model;
pub use decision::{AskedThreshold, DecisionRequest, ProjectDecision};

/// Which descriptors to propose from the ranked scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecisionRule {
    /// Propose at most this many.
    pub limit: usize,
    /// Propose those with at least this probability …
    pub threshold: f32,
    /// … but always at least the best one.
    pub at_least_one: bool,
    /// Use the model's per-descriptor thresholds (when it has them) instead of `threshold`.
    pub use_model_thresholds: bool,
    /// Never propose a score below this, not even as the best one: a draft nothing fits
    /// gets no suggestion (0 keeps the rule above).
    pub min_score: f32,
}

impl Default for DecisionRule {
    fn default() -> Self {
        DecisionRule {
            limit: 10,
            threshold: 0.5,
            at_least_one: true,
            use_model_thresholds: true,
            min_score: 0.0,
        }
    }
}

impl DecisionRule {
    pub fn check(self) -> Result<Self> {
        decision::check_limit(self.limit)?;
        decision::check_probability("threshold", self.threshold)?;
        decision::check_probability("min_score", self.min_score)?;
        Ok(self)
    }

    /// Which of the ranked (descending) scores to propose, in rank order: among the best
    /// `limit`, those reaching their descriptor's threshold (`label_thresholds[label]`, or
    /// the global `threshold` when `None`), else the best one if `at_least_one`.
    pub fn decide(
        &self,
        ranked: &[(usize, f32)],
        label_thresholds: Option<&[f32]>,
    ) -> Vec<(usize, f32)> {
        let threshold = |label: usize| label_thresholds.map_or(self.threshold, |t| t[label]);
        let mut chosen: Vec<(usize, f32)> = ranked
            .iter()
            .take(self.limit)
            .filter(|&&(l, p)| p >= threshold(l) && p >= self.min_score)
            .copied()
            .collect();
        if chosen.is_empty() && self.at_least_one {
            chosen.extend(ranked.first().filter(|&&(_, p)| p >= self.min_score));
        }
        chosen
    }
}

/// One proposed descriptor; URI and labels when the model knows its concept.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub descriptor: String,
    pub score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_en: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_zh: Option<String>,
}

/// One ranked descriptor: its decision value and, with an ensemble, the members' evidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranked {
    pub label: usize,
    /// What ranks it: the one-vs-rest logit, or with an ensemble the fused value. Not a
    /// probability: [`Model::probability`] maps it to one.
    pub decision_value: f32,
    pub evidence: Option<Features>,
}

/// A text's analysed row and its best descriptors by decision value.
#[derive(Debug, Clone)]
pub struct Ranking {
    pub row: SparseRow,
    pub ranked: Vec<Ranked>,
    /// How much of the text's vocabulary the model knows.
    pub overlap: Overlap,
}

/// Whether `text` is blank: no letter at all (empty, whitespace, or only digits, punctuation
/// and symbols). Such a text has no word to judge by, so it gets no descriptor: ranked, it
/// would get the descriptors the fusion favours for any text (its bias and priors).
pub fn is_blank(text: &str) -> bool {
    !text.chars().any(char::is_alphabetic)
}

/// A text's suggestions, and how much of its vocabulary the model knows (from the same
/// analysis, to warn about drafts the model knows nothing of without analysing them again).
#[derive(Debug, Clone)]
pub struct Suggested {
    pub suggestions: Vec<Suggestion>,
    pub overlap: Overlap,
}

/// The `k` best descriptors of `text` by decision value (see [`Suggester::ranking`]), for
/// the crate's callers that hold a model and its analyzer apart; none for a [blank](is_blank)
/// text.
pub(crate) fn ranking_of(model: &Model, analyzer: &Analyzer, text: &str, k: usize) -> Ranking {
    let analysed = analyse(model, analyzer, text);
    let votes = model.ensemble.as_ref().map(|e| {
        e.votes_of_many(&[&analysed.row])
            .pop()
            .expect("one row, one list of votes")
    });
    rank(model, analysed, votes, k)
}

/// [`ranking_of`] of many texts, in order, identical to ranking each alone: the neighbours
/// of a block of drafts share one set of query buffers
/// ([`crate::classifier::ensemble::KnnIndex::votes_of_many`]).
/// The drafts come with their n-grams counted
/// ([`crate::features::TfidfVectorizer::count_ngrams`]).
fn rankings_of(
    model: &Model,
    analyzer: &Analyzer,
    drafts: Vec<(&str, NgramCounts<'_>)>,
    k: usize,
) -> Vec<Ranking> {
    let analysed: Vec<Analysed> = drafts
        .into_iter()
        .map(|(text, counted)| analyse_counted(model, analyzer, text, counted))
        .collect();
    let votes: Vec<Option<Vec<crate::classifier::ensemble::Vote>>> = match &model.ensemble {
        Some(e) => {
            let rows: Vec<&SparseRow> = analysed.iter().map(|a| &a.row).collect();
            e.votes_of_many(&rows).into_iter().map(Some).collect()
        }
        None => vec![None; analysed.len()],
    };
    analysed
        .into_iter()
        .zip(votes)
        .map(|(a, v)| rank(model, a, v, k))
        .collect()
}

/// Drafts of one `suggest` call whose n-grams are counted before any of them is segmented
/// (see [`Suggester::suggest`]): a bound on the normalised texts held at once.
const NGRAM_BATCH: usize = 16_384;

/// What one analysis of a draft gives.
struct Analysed {
    /// The text has no letter ([`is_blank`]): it gets no descriptor.
    blank: bool,
    row: SparseRow,
    overlap: Overlap,
    /// Its words as the lexicon reads them (empty without a lexicon).
    words: WordSequence,
}

/// One analysis: the row, the overlap and, for the lexicon, the word sequence.
fn analyse(model: &Model, analyzer: &Analyzer, text: &str) -> Analysed {
    analyse_counted(
        model,
        analyzer,
        text,
        model.vectorizer.count_ngrams(analyzer, text),
    )
}

/// [`analyse`] of a draft whose n-grams are counted.
fn analyse_counted(
    model: &Model,
    analyzer: &Analyzer,
    text: &str,
    counted: NgramCounts<'_>,
) -> Analysed {
    let lexicon = model.ensemble.as_ref().and_then(|e| e.lexicon());
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
    let (row, overlap) = model
        .vectorizer
        .finish_analysis(analyzer, counted, observer);
    Analysed {
        blank: is_blank(text),
        row,
        overlap,
        words,
    }
}

/// The `k` best descriptors of an analysed draft; `votes`: its neighbours' votes, with an
/// ensemble.
fn rank(
    model: &Model,
    analysed: Analysed,
    votes: Option<Vec<crate::classifier::ensemble::Vote>>,
    k: usize,
) -> Ranking {
    let Analysed {
        blank,
        row,
        overlap,
        words,
    } = analysed;
    if blank {
        return Ranking {
            row,
            ranked: Vec::new(),
            overlap,
        };
    }
    let mut logits = vec![0f32; model.classifier.n_labels()];
    model
        .classifier
        .decision_into(&row.indices, &row.values, &mut logits);
    let ranked = match &model.ensemble {
        Some(ensemble) => {
            let evidence = ensemble.evidence_with_votes(votes.unwrap_or_default(), &logits, &words);
            let mut candidates = ensemble.rank(&evidence);
            candidates.truncate(k);
            candidates
                .into_iter()
                .map(|c| Ranked {
                    label: c.label as usize,
                    decision_value: c.value,
                    evidence: Some(c.features),
                })
                .collect()
        }
        None => top_k(&logits, k)
            .into_iter()
            .map(|(label, decision_value)| Ranked {
                label,
                decision_value,
                evidence: None,
            })
            .collect(),
    };
    Ranking {
        row,
        ranked,
        overlap,
    }
}

/// A loaded model with its analyzer, ready to score texts.
#[derive(Debug)]
pub struct Suggester {
    analyzer: Arc<Analyzer>,
    /// Shared, immutable: a server's projects that name the same model file hold one copy.
    model: Arc<Model>,
}

impl Suggester {
    pub fn new(model: Model) -> Result<Self> {
        Ok(Suggester {
            analyzer: Arc::new(Analyzer::new(model.analyzer.clone())?),
            model: Arc::new(model),
        })
    }

    /// A suggester for `model` reusing an analyzer already built (building one loads the
    /// segmenter's dictionary, which takes a while); refused when it is not the model's.
    pub fn with_analyzer(model: Model, analyzer: Arc<Analyzer>) -> Result<Self> {
        Self::shared(Arc::new(model), analyzer)
    }

    /// [`Self::with_analyzer`] for a model that other suggesters may share.
    pub fn shared(model: Arc<Model>, analyzer: Arc<Analyzer>) -> Result<Self> {
        if analyzer.config() != &model.analyzer {
            return Err(Error::Training(
                "the analyzer differs from the model's".into(),
            ));
        }
        Ok(Suggester { analyzer, model })
    }

    /// The model, shared.
    pub fn shared_model(&self) -> Arc<Model> {
        Arc::clone(&self.model)
    }

    /// The analyzer, to share with another suggester of a model with the same settings.
    pub fn shared_analyzer(&self) -> Arc<Analyzer> {
        Arc::clone(&self.analyzer)
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The model back, to change it (its analyzer can be reused through
    /// [`Suggester::shared_analyzer`]).
    /// (A copy when another suggester shares it.)
    pub fn into_model(self) -> Model {
        Arc::unwrap_or_clone(self.model)
    }

    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// The `k` best descriptors of `text` by decision value (one-vs-rest logits, or the
    /// fused values of the ensemble), best first, with the row and evidence behind them.
    /// Every command ranks through this one function.
    pub fn ranking(&self, text: &str, k: usize) -> Ranking {
        ranking_of(&self.model, &self.analyzer, text, k)
    }

    /// The `k` best descriptors as `(index, probability)`, best first.
    pub fn top_probabilities(&self, text: &str, k: usize) -> Vec<(usize, f32)> {
        self.with_probabilities(&self.ranking(text, k))
    }

    /// The probabilities of a ranking, in its order (one calibration for every descriptor,
    /// so they never reorder it).
    fn with_probabilities(&self, ranking: &Ranking) -> Vec<(usize, f32)> {
        ranking
            .ranked
            .iter()
            .map(|r| (r.label, self.model.probability(r.decision_value)))
            .collect()
    }

    /// The decision of `rule` on ranked probabilities, as suggestions.
    fn decided(&self, ranked: &[(usize, f32)], rule: &DecisionRule) -> Vec<Suggestion> {
        rule.decide(ranked, self.label_thresholds(rule))
            .iter()
            .map(|&(l, p)| self.suggestion(l, p))
            .collect()
    }

    /// How much of `text`'s vocabulary the model knows.
    pub fn overlap(&self, text: &str) -> Overlap {
        self.model.vectorizer.analyse(&self.analyzer, text, None).1
    }

    /// The per-descriptor thresholds `rule` applies, if any.
    pub fn label_thresholds(&self, rule: &DecisionRule) -> Option<&[f32]> {
        if rule.use_model_thresholds {
            self.model.label_thresholds()
        } else {
            None
        }
    }

    /// The suggestion of descriptor `label` with `score`, with its concept's URI and labels.
    pub fn suggestion(&self, label: usize, score: f32) -> Suggestion {
        let concept = self
            .model
            .concepts
            .as_ref()
            .and_then(|c| c.descriptors[label].as_ref());
        Suggestion {
            descriptor: self.model.descriptors[label].clone(),
            score,
            uri: concept.map(|c| c.uri.clone()),
            label_en: concept.and_then(|c| c.label_en.clone()),
            label_zh: concept.and_then(|c| c.label_zh.clone()),
        }
    }

    /// The proposed descriptors of each text under `rule`, with its overlap with the
    /// vocabulary: in parallel, in input order, each text as if alone.
    pub fn suggest(&self, texts: &[&str], rule: &DecisionRule) -> Vec<Suggested> {
        let mut suggested = Vec::with_capacity(texts.len());
        for batch in texts.chunks(NGRAM_BATCH) {
            // The n-grams of a batch first: they need no segmenter, so the first batch is
            // counted while a segmenter's dictionary loads (one core of two was idle then).
            let counted: Vec<NgramCounts> = batch
                .par_iter()
                .map(|text| self.model.vectorizer.count_ngrams(&self.analyzer, text))
                .collect();
            // Blocks of drafts share their neighbour query's buffers (see [`rankings_of`]).
            let mut drafts = batch.iter().copied().zip(counted);
            let blocks: Vec<Vec<(&str, NgramCounts)>> = std::iter::from_fn(|| {
                let block: Vec<_> = drafts.by_ref().take(QUERY_BLOCK).collect();
                (!block.is_empty()).then_some(block)
            })
            .collect();
            let batch_suggested: Vec<Suggested> = blocks
                .into_par_iter()
                .flat_map_iter(|block| {
                    rankings_of(&self.model, &self.analyzer, block, rule.limit)
                        .into_iter()
                        .map(|ranking| Suggested {
                            suggestions: self.decided(&self.with_probabilities(&ranking), rule),
                            overlap: ranking.overlap,
                        })
                })
                .collect();
            suggested.extend(batch_suggested);
        }
        suggested
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_rule_keeps_the_best_even_below_threshold() {
        let rule = DecisionRule::default();
        assert_eq!(rule.decide(&[(0, 0.3), (1, 0.2)], None).len(), 1);
        assert_eq!(rule.decide(&[(0, 0.9), (1, 0.6), (2, 0.4)], None).len(), 2);
        let capped = DecisionRule { limit: 1, ..rule };
        assert_eq!(capped.decide(&[(0, 0.9), (1, 0.6)], None).len(), 1);
        assert!(DecisionRule {
            threshold: 1.5,
            ..rule
        }
        .check()
        .is_err());
    }

    #[test]
    fn per_descriptor_thresholds_choose_within_the_limit() {
        let rule = DecisionRule {
            limit: 3,
            ..DecisionRule::default()
        };
        let ranked = [(0, 0.6), (1, 0.4), (2, 0.3), (3, 0.2)];
        // Descriptor 0 needs 0.7, 1 needs 0.35, 2 needs 0.5, 3 would pass but is past the limit.
        let thresholds = [0.7, 0.35, 0.5, 0.1];
        assert_eq!(rule.decide(&ranked, Some(&thresholds)), vec![(1, 0.4)]);
        // The global threshold reproduces `cut`.
        assert_eq!(rule.decide(&ranked, None), vec![(0, 0.6)]);
        // Nothing passes: the best one still comes.
        let strict = [0.9; 4];
        assert_eq!(rule.decide(&ranked, Some(&strict)), vec![(0, 0.6)]);
    }

    #[test]
    fn min_score_lets_a_draft_get_nothing() {
        let rule = DecisionRule {
            min_score: 0.5,
            ..DecisionRule::default()
        };
        let weak = [(0, 0.3), (1, 0.2)];
        assert_eq!(rule.decide(&weak, None), vec![]);
        assert_eq!(rule.decide(&weak, None).len(), 0);
        // The floor also cuts what a lower threshold would keep.
        let low = DecisionRule {
            threshold: 0.1,
            ..rule
        };
        assert_eq!(low.decide(&weak, Some(&[0.1, 0.1])), vec![]);
        let fits = [(0, 0.7), (1, 0.4)];
        assert_eq!(low.decide(&fits, None), vec![(0, 0.7)]);
        assert_eq!(low.decide(&fits, None).len(), 1);
        assert!(DecisionRule {
            min_score: -0.1,
            ..rule
        }
        .check()
        .is_err());
    }
}
