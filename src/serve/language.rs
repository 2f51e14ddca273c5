//! `POST /v1/detect-language`: which of the candidate languages a text is in, on `whatlang`.
//!
//! Only the languages dtag's analyzers support are candidates (`zh`, `en`, `fi`, `fr`, `es`,
//! `ru`, `ar`); another is a 400 naming those. whatlang picks one language among the allowed
//! ones with a confidence in [0, 1]; to score every candidate, as Annif's answer does, the
//! detection is repeated without the languages already ranked: the best gets its confidence,
//! the next its confidence times what the first left (`1 − score₁`), and so on, so the scores
//! fall with the rank and sum to at most 1. What is left is the score of `null` (an unknown
//! language). A text in a script none of the candidates uses (Chinese text, candidates `en`
//! and `fi`) gives every candidate 0 and `null` 1.

use serde::Serialize;
use whatlang::{Detector, Lang};

use super::problem::Problem;
use super::request::{DetectCall, LanguageTag};

/// The languages of dtag's analyzers, with whatlang's name for each.
const SUPPORTED: [(&str, Lang); 7] = [
    ("zh", Lang::Cmn),
    ("en", Lang::Eng),
    ("fi", Lang::Fin),
    ("fr", Lang::Fra),
    ("es", Lang::Spa),
    ("ru", Lang::Rus),
    ("ar", Lang::Ara),
];

/// One candidate's score; `language: null` is "none of them".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LanguageScore {
    pub language: Option<String>,
    pub score: f64,
}

/// Annif's answer: every candidate and `null`, best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectedLanguages {
    pub results: Vec<LanguageScore>,
}

fn whatlang_of(tag: &LanguageTag) -> Option<Lang> {
    SUPPORTED
        .iter()
        .find(|(code, _)| *code == tag.as_str())
        .map(|&(_, lang)| lang)
}

/// Scores the call's candidates (see the module documentation).
pub fn detect(call: &DetectCall) -> Result<DetectedLanguages, Problem> {
    let mut remaining = Vec::with_capacity(call.languages.len());
    for tag in &call.languages {
        let lang = whatlang_of(tag).ok_or_else(|| {
            let codes: Vec<&str> = SUPPORTED.iter().map(|(c, _)| *c).collect();
            Problem::bad_request(format!(
                "language \"{}\" is not supported (supported: {})",
                tag.as_str(),
                codes.join(", ")
            ))
        })?;
        remaining.push((tag.as_str().to_string(), lang));
    }
    let mut results = Vec::with_capacity(remaining.len() + 1);
    let mut left = 1.0f64;
    while !remaining.is_empty() {
        let allowed: Vec<Lang> = remaining.iter().map(|&(_, l)| l).collect();
        let Some(info) = Detector::with_allowlist(allowed).detect(&call.text) else {
            break;
        };
        let Some(at) = remaining.iter().position(|&(_, l)| l == info.lang()) else {
            break;
        };
        let (code, _) = remaining.remove(at);
        let score = left * info.confidence().clamp(0.0, 1.0);
        left -= score;
        results.push(LanguageScore {
            language: Some(code),
            score: round(score),
        });
    }
    results.extend(remaining.into_iter().map(|(code, _)| LanguageScore {
        language: Some(code),
        score: 0.0,
    }));
    results.push(LanguageScore {
        language: None,
        score: round(left.max(0.0)),
    });
    results.sort_by(|a, b| b.score.total_cmp(&a.score));
    Ok(DetectedLanguages { results })
}

/// Four decimals, as Annif prints them: more would be noise.
fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(text: &str, languages: &[&str]) -> DetectCall {
        DetectCall {
            text: text.into(),
            languages: languages
                .iter()
                .map(|l| LanguageTag::parse(l).unwrap())
                .collect(),
        }
    }

    fn best(text: &str, languages: &[&str]) -> Option<String> {
        detect(&call(text, languages)).unwrap().results[0]
            .language
            .clone()
    }

    #[test]
    fn ranks_the_candidates_of_the_analyzers() {
        let en = "The Security Council reaffirms its commitment to the sovereignty and \
                  territorial integrity of the country and calls for a ceasefire.";
        let fr = "Le Conseil de sécurité réaffirme son attachement à la souveraineté et à \
                  l'intégrité territoriale du pays et demande un cessez-le-feu.";
        let zh = "安全理事会重申其对该国主权和领土完整的承诺，并呼吁停火。";
        assert_eq!(best(en, &["fr", "en", "fi"]).as_deref(), Some("en"));
        assert_eq!(best(fr, &["fr", "en", "es"]).as_deref(), Some("fr"));
        assert_eq!(best(zh, &["en", "zh"]).as_deref(), Some("zh"));
        let scored = detect(&call(en, &["fr", "en", "fi"])).unwrap().results;
        assert_eq!(scored.len(), 4);
        let total: f64 = scored.iter().map(|s| s.score).sum();
        assert!((total - 1.0).abs() < 1e-3, "{scored:?}");
        assert!(scored.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[test]
    fn text_in_no_candidate_script_is_unknown() {
        let scored = detect(&call("安全理事会重申其承诺", &["en", "fi"]))
            .unwrap()
            .results;
        assert_eq!(scored[0].language, None);
        assert_eq!(scored[0].score, 1.0);
        assert!(scored[1..].iter().all(|s| s.score == 0.0));
        let empty = detect(&call("", &["en"])).unwrap().results;
        assert_eq!(empty[0].language, None);
    }

    #[test]
    fn unsupported_languages_are_refused_by_name() {
        let problem = detect(&call("hello", &["en", "sv"])).unwrap_err();
        assert_eq!(problem.status, 400);
        assert!(problem.detail.contains("\"sv\""), "{}", problem.detail);
    }
}
