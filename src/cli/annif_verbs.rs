//! What an Annif user types, answered in dtag's terms: Annif's subcommands that dtag spells
//! differently (or needs no counterpart for) get a hint instead of clap's bare "unrecognized
//! subcommand".

/// Annif's verb → what to do in dtag.
const HINTS: &[(&str, &str)] = &[
    (
        "load-vocab",
        "dtag reads the thesaurus with --thesaurus FILE (UNBIS table, SKOS Turtle or Annif's \
         TSV vocabulary) when it trains, and stores it in the model: `dtag train --corpus C \
         --model M --thesaurus FILE`",
    ),
    (
        "list-vocabs",
        "a dtag model stores its thesaurus: `dtag inspect --model M` shows it, and `dtag serve` \
         answers GET /v1/vocabs",
    ),
    (
        "list-projects",
        "projects are the tables of a projects file (dtag.toml); `dtag serve --config \
         dtag.toml` lists them at GET /v1/projects",
    ),
    (
        "show-project",
        "`dtag inspect --project ID` (or `--model M`) shows a project's model",
    ),
    (
        "clear",
        "a dtag project is its model file: train again to replace it, or delete the file",
    ),
    (
        "run",
        "`dtag serve --config dtag.toml` (or `--model ID=FILE`) serves Annif's REST API",
    ),
    (
        "optimize",
        "`dtag train` tunes thresholds out of fold by default and reports the best global \
         --limit/--threshold; `dtag cv` cross-validates every figure",
    ),
    (
        "hyperopt",
        "`dtag train` tunes thresholds out of fold by default and reports the best global \
         --limit/--threshold; `dtag cv` cross-validates every figure",
    ),
    (
        "detect-language",
        "`dtag serve` answers POST /v1/detect-language; training takes --language",
    ),
    (
        "upgrade",
        "a dtag model of another format version is refused with a clear message: train it \
         again with this dtag",
    ),
];

/// The hint for `verb` when it is one of Annif's that dtag has no subcommand for.
pub fn hint(verb: &str) -> Option<&'static str> {
    HINTS.iter().find(|(v, _)| *v == verb).map(|(_, h)| *h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annif_verbs_get_hints_and_dtag_verbs_do_not() {
        assert!(hint("load-vocab").unwrap().contains("--thesaurus"));
        assert!(hint("train").is_none());
        assert!(hint("index").is_none());
    }
}
