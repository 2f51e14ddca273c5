//! How the command line reports a failure: library parameters by the flags that set them,
//! and a closed standard output (`dtag … | head`) as the normal end it is.

use dtag::Error;

/// The flag that sets each library parameter (`Error::InvalidParam::name`). One table for
/// every subcommand, so an error names what the user typed wherever it is raised. A
/// parameter without a flag (e.g. `bias`) keeps its library name.
const PARAM_FLAGS: &[(&str, &str)] = &[
    // train, cv, learn
    ("c", "--c"),
    ("positive_weight", "--positive-weight"),
    ("tolerance", "--tolerance"),
    ("max_epochs", "--max-epochs"),
    ("negatives_per_positive", "--negatives-per-positive"),
    ("min_sampled_rows", "--min-sampled-rows"),
    ("prune_below", "--prune"),
    ("min_label_docs", "--min-label-docs"),
    ("holdout", "--holdout"),
    ("min_df", "--min-df"),
    ("max_df", "--max-df"),
    ("max_features", "--max-features"),
    ("char_ngrams", "--char-ngrams"),
    ("min_word_chars", "--min-word-chars"),
    ("shard", "--shard"),
    // threshold tuning
    ("folds", "--tune-folds"),
    ("refit_epochs", "--tune-epochs"),
    ("min_positives", "--threshold-min-docs"),
    ("calibration_prior", "--calibration-prior"),
    // cv
    ("cv_folds", "--folds"),
    // suggest, eval, cv
    ("limit", "--limit"),
    ("threshold", "--threshold"),
    ("min_score", "--min-score"),
    // index
    ("suffix", "--suffix"),
    // synth
    ("documents", "--documents"),
    ("descriptors", "--descriptors"),
    ("words_per_document", "--words"),
    ("vocabulary", "--vocabulary"),
    ("descriptors_per_document", "--descriptors-per-document"),
    // serve
    ("model", "--model"),
    ("language", "--language"),
    ("max_body_bytes", "--max-body-bytes"),
    ("max_in_flight", "--max-in-flight"),
    ("max_connections", "--max-connections"),
    ("request_timeout", "--request-timeout"),
];

/// The flag of a library parameter, if it has one.
pub fn flag_of(param: &str) -> Option<&'static str> {
    PARAM_FLAGS
        .iter()
        .find(|(name, _)| *name == param)
        .map(|&(_, flag)| flag)
}

/// The message of a failure, as `{err:#}` would print it (causes joined by `: `), with
/// invalid parameters named by their flags.
pub fn render(err: &anyhow::Error) -> String {
    err.chain()
        .map(|cause| match cause.downcast_ref::<Error>() {
            Some(Error::InvalidParam { name, reason }) => match flag_of(name) {
                Some(flag) => format!("invalid {flag}: {reason}"),
                None => cause.to_string(),
            },
            _ => cause.to_string(),
        })
        .collect::<Vec<_>>()
        .join(": ")
}

/// True when the failure is a write to a reader that went away (`dtag suggest … | head`):
/// the output was not wanted any further, which is not an error.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let io = match cause.downcast_ref::<Error>() {
            Some(Error::Io { error, .. }) => Some(error),
            _ => cause.downcast_ref::<std::io::Error>(),
        };
        io.is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_named_by_their_flags() {
        let err = anyhow::Error::from(
            dtag::features::TfidfParams {
                max_df: 1.5,
                ..Default::default()
            }
            .check()
            .unwrap_err(),
        );
        assert_eq!(render(&err), "invalid --max-df: must be in (0, 1]");
        let tune = anyhow::Error::from(
            dtag::calibrate::TuneParams {
                folds: 1,
                ..Default::default()
            }
            .check()
            .unwrap_err(),
        );
        assert_eq!(render(&tune), "invalid --tune-folds: must be at least 2");
    }

    #[test]
    fn a_closed_stdout_is_recognised_through_context() {
        let err = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("writing the suggestions");
        assert!(is_broken_pipe(&err));
        let other = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(!is_broken_pipe(&other));
    }
}
