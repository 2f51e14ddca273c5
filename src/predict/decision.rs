//! Where a decision rule comes from: what the caller asks, else the project's settings, else
//! dtag's defaults. The command line and the server both resolve their rule here, so "flag or
//! request, else project, else default" has one meaning and one place.

use super::DecisionRule;
use crate::error::{Error, Result};

/// A project's default limit and threshold (a projects file's `limit` and `threshold`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProjectDecision {
    pub limit: Option<usize>,
    pub threshold: Option<f32>,
}

impl ProjectDecision {
    /// Checked as a rule's limit and threshold are ([`check_limit`], [`check_probability`]).
    pub fn check(&self) -> Result<()> {
        if let Some(limit) = self.limit {
            check_limit(limit)?;
        }
        if let Some(threshold) = self.threshold {
            check_probability("threshold", threshold)?;
        }
        Ok(())
    }
}

/// What a threshold the caller gives means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AskedThreshold {
    /// `dtag suggest --threshold P`: descriptors reaching P, and the best one anyway.
    AtLeastTheBest,
    /// Annif's API `threshold=P`: only descriptors reaching P, none when nothing does.
    Filter,
}

/// What a caller asks of the decision: any of it may be left to the project and the defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecisionRequest {
    pub limit: Option<usize>,
    pub threshold: Option<f32>,
    pub min_score: f32,
    pub threshold_means: AskedThreshold,
}

impl DecisionRequest {
    /// The rule of this request for `project`: its limit, else the project's, else
    /// [`DecisionRule::default`]'s; its threshold (meaning [`Self::threshold_means`]), else the
    /// project's threshold (with at least the best descriptor), else the model's tuned
    /// per-descriptor thresholds (0.5 for an untuned model), with at least the best one.
    /// `None` when the limit is 0: no suggestions at all (Annif's `limit=0`).
    pub fn resolve(&self, project: &ProjectDecision) -> Result<Option<DecisionRule>> {
        let default = DecisionRule::default();
        let limit = self.limit.or(project.limit).unwrap_or(default.limit);
        if limit == 0 {
            return Ok(None);
        }
        let (threshold, at_least_one) = match (self.threshold, project.threshold) {
            (Some(t), _) => (
                Some(t),
                self.threshold_means == AskedThreshold::AtLeastTheBest,
            ),
            (None, Some(t)) => (Some(t), true),
            (None, None) => (None, true),
        };
        DecisionRule {
            limit,
            threshold: threshold.unwrap_or(default.threshold),
            at_least_one,
            use_model_thresholds: threshold.is_none(),
            min_score: self.min_score,
        }
        .check()
        .map(Some)
    }
}

/// A limit of suggestions must allow at least one.
pub fn check_limit(limit: usize) -> Result<()> {
    if limit == 0 {
        return Err(Error::param("limit", "must be at least 1"));
    }
    Ok(())
}

/// A threshold or score must be a probability.
pub fn check_probability(name: &'static str, value: f32) -> Result<()> {
    if !(0.0..=1.0).contains(&value) {
        return Err(Error::param(name, "must be a probability in [0, 1]"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(limit: Option<usize>, threshold: Option<f32>, means: AskedThreshold) -> DecisionRequest {
        DecisionRequest {
            limit,
            threshold,
            min_score: 0.0,
            threshold_means: means,
        }
    }

    #[test]
    fn request_else_project_else_defaults() {
        let project = ProjectDecision {
            limit: Some(5),
            threshold: Some(0.3),
        };
        let none = ProjectDecision::default();
        let cli = AskedThreshold::AtLeastTheBest;
        let api = AskedThreshold::Filter;
        // Nothing asked, nothing set: the model's tuned thresholds, at least the best one.
        let rule = ask(None, None, cli).resolve(&none).unwrap().unwrap();
        assert_eq!(rule, DecisionRule::default());
        // The project's settings where nothing is asked, in either meaning.
        for means in [cli, api] {
            let rule = ask(None, None, means).resolve(&project).unwrap().unwrap();
            assert_eq!((rule.limit, rule.threshold), (5, 0.3));
            assert!(rule.at_least_one && !rule.use_model_thresholds);
        }
        // What is asked wins; a threshold asked of the API filters.
        let rule = ask(Some(2), Some(0.7), api)
            .resolve(&project)
            .unwrap()
            .unwrap();
        assert_eq!(
            (rule.limit, rule.threshold, rule.at_least_one),
            (2, 0.7, false)
        );
        let rule = ask(Some(2), Some(0.7), cli)
            .resolve(&project)
            .unwrap()
            .unwrap();
        assert!(rule.at_least_one);
        // limit 0: no suggestions; bad values: the flag named.
        assert_eq!(ask(Some(0), None, api).resolve(&project).unwrap(), None);
        let err = ask(None, Some(1.5), cli).resolve(&none).unwrap_err();
        assert!(err.to_string().contains("threshold"), "{err}");
        assert!(ProjectDecision {
            limit: Some(0),
            threshold: None
        }
        .check()
        .is_err());
    }
}
