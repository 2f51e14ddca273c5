//! Why a descriptor was suggested, and what a descriptor's model has learned.
//!
//! A descriptor's logit is `intercept + Σ_j x_j·w_j` over the draft's terms, with `x_j` the
//! term's TF-IDF weight in the draft and `w_j` the model's weight, so each term's share of the
//! decision is exactly `x_j·w_j`. [`explain_row`] lists the largest positive and negative
//! shares for chosen descriptors (what `dtag suggest --explain` and the web API show);
//! [`descriptor_profile`] lists a descriptor's largest weights over the whole vocabulary
//! (`dtag inspect`).

use serde::Serialize;

use crate::features::sparse::SparseRow;
use crate::model::Model;
use crate::predict::{DecisionRule, Suggester, Suggestion};
use crate::thesaurus::normalize_label;

/// One term's share of a descriptor's decision on a draft.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TermContribution {
    pub term: String,
    /// The term's TF-IDF weight in the draft.
    pub tfidf: f32,
    /// The descriptor model's weight of the term.
    pub weight: f32,
    /// `tfidf × weight`: what the term adds to the logit.
    pub contribution: f32,
}

/// The decision of one descriptor on one draft, taken apart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    pub intercept: f32,
    /// `intercept` plus the contributions of all the draft's terms (not only those listed).
    pub logit: f32,
    /// Largest positive contributions, largest first.
    pub positive: Vec<TermContribution>,
    /// Largest negative contributions, most negative first.
    pub negative: Vec<TermContribution>,
    /// With an ensemble: each member's share of the fused decision value, which ranked the
    /// descriptor (`logit` above is then the one-vs-rest member's own decision value).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberContribution>,
}

/// One ensemble member's share of a descriptor's fused decision value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberContribution {
    pub member: &'static str,
    pub contribution: f32,
}

/// Explains the decisions of `labels` (descriptor indices) on a vectorised draft, listing at
/// most `top` terms each way. One pass over the draft's terms serves every label.
pub fn explain_row(
    model: &Model,
    row: &SparseRow,
    labels: &[usize],
    top: usize,
) -> Vec<Explanation> {
    let classifier = &model.classifier;
    let mut slot = vec![usize::MAX; classifier.n_labels()];
    for (i, &l) in labels.iter().enumerate() {
        // Descriptors proposed by the lexicon alone have no term weights.
        if let Some(s) = slot.get_mut(l) {
            *s = i;
        }
    }
    let mut shares: Vec<Vec<(usize, f32, f32)>> = vec![Vec::new(); labels.len()];
    for (j, x) in row.iter() {
        if j >= classifier.n_features() {
            continue;
        }
        for (l, w) in classifier.feature_weights(j) {
            if let Some(s) = shares.get_mut(slot[l]) {
                s.push((j, x, w));
            }
        }
    }
    labels
        .iter()
        .zip(shares)
        .map(|(&l, mut terms)| {
            let intercept = if l < classifier.n_labels() {
                classifier.intercept(l)
            } else {
                0.0
            };
            let logit = intercept + terms.iter().map(|&(_, x, w)| x * w).sum::<f32>();
            let entry = |&(j, x, w): &(usize, f32, f32)| TermContribution {
                term: model.vectorizer.term(j).to_string(),
                tfidf: x,
                weight: w,
                contribution: x * w,
            };
            // Ties broken by column, so explanations are deterministic.
            terms.sort_by(|a, b| (b.1 * b.2).total_cmp(&(a.1 * a.2)).then(a.0.cmp(&b.0)));
            let positive = terms
                .iter()
                .take_while(|t| t.1 * t.2 > 0.0)
                .take(top)
                .map(entry)
                .collect();
            let negative = terms
                .iter()
                .rev()
                .take_while(|t| t.1 * t.2 < 0.0)
                .take(top)
                .map(entry)
                .collect();
            Explanation {
                intercept,
                logit,
                positive,
                negative,
                members: Vec::new(),
            }
        })
        .collect()
}

/// A suggestion with the reasons for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExplainedSuggestion {
    #[serde(flatten)]
    pub suggestion: Suggestion,
    pub explanation: Explanation,
}

/// The suggestions for `text` under `rule` (as [`Suggester::suggest`] decides), each explained by at
/// most `top` terms each way.
pub fn suggest_explained(
    suggester: &Suggester,
    text: &str,
    rule: &DecisionRule,
    top: usize,
) -> Vec<ExplainedSuggestion> {
    let model = suggester.model();
    let ranking = suggester.ranking(text, rule.limit);
    let ranked: Vec<(usize, f32)> = ranking
        .ranked
        .iter()
        .map(|r| (r.label, model.probability(r.decision_value)))
        .collect();
    let chosen = rule.decide(&ranked, suggester.label_thresholds(rule));
    let labels: Vec<usize> = chosen.iter().map(|&(l, _)| l).collect();
    let explanations = explain_row(model, &ranking.row, &labels, top);
    chosen
        .iter()
        .zip(explanations)
        .map(|(&(l, p), mut explanation)| {
            let evidence = ranking
                .ranked
                .iter()
                .find(|r| r.label == l)
                .and_then(|r| r.evidence);
            if let (Some(ensemble), Some(features)) = (&model.ensemble, evidence) {
                explanation.members = ensemble
                    .fusion()
                    .contributions(&features)
                    .into_iter()
                    .map(|(member, contribution)| MemberContribution {
                        member: member.name(),
                        contribution,
                    })
                    .collect();
            }
            ExplainedSuggestion {
                suggestion: suggester.suggestion(l, p),
                explanation,
            }
        })
        .collect()
}

/// One term's weight in a descriptor's model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TermWeight {
    pub term: String,
    pub weight: f32,
    /// The term's idf: rarer terms weigh more in a draft's TF-IDF row.
    pub idf: f32,
}

/// What a descriptor's model has learned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DescriptorProfile {
    pub descriptor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_zh: Option<String>,
    /// Training documents carrying the descriptor.
    pub documents: u32,
    /// False for a thesaurus concept no training document carried: only the ensemble's
    /// lexicon proposes it, and it has no weights.
    pub has_model: bool,
    pub intercept: f32,
    /// Terms with a stored (non-pruned) weight.
    pub stored_weights: usize,
    /// Largest weights, largest first.
    pub positive: Vec<TermWeight>,
    /// Most negative weights, most negative first.
    pub negative: Vec<TermWeight>,
}

/// The strongest `top` terms each way of descriptor `label`.
pub fn descriptor_profile(model: &Model, label: usize, top: usize) -> DescriptorProfile {
    let classifier = &model.classifier;
    let mut weights: Vec<(usize, f32)> = (0..classifier.n_features())
        .flat_map(|j| {
            classifier
                .feature_weights(j)
                .filter(move |&(l, _)| l == label)
                .map(move |(_, w)| (j, w))
        })
        .collect();
    weights.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let idf = &model.vectorizer.state().idf;
    let entry = |&(j, w): &(usize, f32)| TermWeight {
        term: model.vectorizer.term(j).to_string(),
        weight: w,
        idf: idf[j],
    };
    let concept = model
        .concepts
        .as_ref()
        .and_then(|c| c.descriptors[label].as_ref());
    DescriptorProfile {
        descriptor: model.descriptors[label].clone(),
        uri: concept.map(|c| c.uri.clone()),
        label_zh: concept.and_then(|c| c.label_zh.clone()),
        documents: model.info.label_documents[label],
        intercept: if label < classifier.n_labels() {
            classifier.intercept(label)
        } else {
            0.0
        },
        has_model: label < classifier.n_labels(),
        stored_weights: weights.len(),
        positive: weights
            .iter()
            .take_while(|w| w.1 > 0.0)
            .take(top)
            .map(entry)
            .collect(),
        negative: weights
            .iter()
            .rev()
            .take_while(|w| w.1 < 0.0)
            .take(top)
            .map(entry)
            .collect(),
    }
}

/// Finds a descriptor by name (exactly, then ignoring case), or by its concept's URI or
/// Chinese label when the model stores them.
pub fn find_descriptor(model: &Model, query: &str) -> Option<usize> {
    let query = query.trim();
    if let Some(i) = model.descriptors.iter().position(|d| d == query) {
        return Some(i);
    }
    let folded = normalize_label(query);
    if let Some(i) = model
        .descriptors
        .iter()
        .position(|d| normalize_label(d) == folded)
    {
        return Some(i);
    }
    let table = model.concepts.as_ref()?;
    let bare = crate::thesaurus::strip_angle_brackets(query);
    table.descriptors.iter().position(|c| {
        c.as_ref().is_some_and(|c| {
            c.uri == bare
                || c.label_zh.as_deref().map(normalize_label) == Some(folded.clone())
                || c.label_en.as_deref().map(normalize_label) == Some(folded.clone())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{AnalyzerConfig, SegmenterKind};
    use crate::corpus::{Corpus, Document, Origin};
    use crate::features::TfidfParams;
    use crate::progress::NoProgress;
    use crate::train::TrainParams;

    fn model() -> Model {
        let origin = Origin {
            source: "t".into(),
            line: 1,
        };
        let doc = |labels: &[&str], body: &str| Document {
            descriptors: labels.iter().map(|s| s.to_string()).collect(),
            body: body.into(),
            origin: origin.clone(),
        };
        let corpus = Corpus {
            documents: vec![
                doc(&["THEFT"], "stole wallet night shop"),
                doc(&["THEFT"], "stole phone shop street"),
                doc(&["THEFT"], "stole bicycle night"),
                doc(&["ASSAULT"], "hit victim injury street"),
                doc(&["ASSAULT"], "hit injury night fight"),
                doc(&["ASSAULT"], "fight injury shop"),
            ],
            sources: 1,
        };
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
        .check()
        .unwrap()
        .fit(&corpus, None, &NoProgress)
        .unwrap()
        .0
    }

    #[test]
    fn contributions_add_up_to_the_logit_and_name_the_right_terms() {
        let model = model();
        let suggester = Suggester::new(model).unwrap();
        let rule = DecisionRule {
            limit: 2,
            threshold: 0.0,
            at_least_one: true,
            use_model_thresholds: false,
            min_score: 0.0,
        };
        let explained = suggest_explained(&suggester, "stole injury shop", &rule, 10);
        assert_eq!(explained.len(), 2);
        let theft = explained
            .iter()
            .find(|e| e.suggestion.descriptor == "THEFT")
            .unwrap();
        assert_eq!(theft.explanation.positive[0].term, "stole");
        assert!(theft
            .explanation
            .negative
            .iter()
            .any(|t| t.term == "injury"));
        let row = suggester
            .model()
            .vectorizer
            .transform(suggester.analyzer(), "stole injury shop");
        let mut logits = vec![0f32; 2];
        suggester
            .model()
            .classifier
            .decision_into(&row.indices, &row.values, &mut logits);
        let l = find_descriptor(suggester.model(), "theft").unwrap();
        assert!((theft.explanation.logit - logits[l]).abs() < 1e-5);
        let p = crate::classifier::logistic::sigmoid(theft.explanation.logit as f64) as f32;
        assert!((p - theft.suggestion.score).abs() < 1e-5);
        // Sorted: positives decreasing, negatives increasing.
        for e in &explained {
            let pos: Vec<f32> = e
                .explanation
                .positive
                .iter()
                .map(|t| t.contribution)
                .collect();
            assert!(pos.windows(2).all(|w| w[0] >= w[1]) && pos.iter().all(|&c| c > 0.0));
            let neg: Vec<f32> = e
                .explanation
                .negative
                .iter()
                .map(|t| t.contribution)
                .collect();
            assert!(neg.windows(2).all(|w| w[0] <= w[1]) && neg.iter().all(|&c| c < 0.0));
        }
    }

    #[test]
    fn profiles_list_the_strongest_weights() {
        let model = model();
        let theft = find_descriptor(&model, "THEFT").unwrap();
        let profile = descriptor_profile(&model, theft, 2);
        assert_eq!(profile.positive[0].term, "stole");
        assert_eq!(profile.positive.len(), 2);
        assert!(profile
            .negative
            .iter()
            .any(|t| t.term == "injury" || t.term == "hit"));
        assert_eq!(profile.documents, 3);
        assert!(find_descriptor(&model, "NOTHING").is_none());
    }
}
