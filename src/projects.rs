//! Projects: named settings — model file, language, thesaurus, limit and threshold — read from
//! a small TOML file, in the spirit of Annif's `projects.cfg`, so that commands and the server
//! need only a project id (`--project ID`, `dtag serve --config FILE`).
//!
//! ```toml
//! [unbis-zh]                 # the project id
//! name = "UNBIS descriptors (Chinese)"
//! language = "zh"
//! model = "models/unbis.dtag"   # relative paths are relative to this file
//! thesaurus = "concepts.tsv"    # optional: the model's stored thesaurus is used otherwise
//! limit = 10                    # optional decision settings
//! threshold = 0.3
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::predict::{DecisionRequest, DecisionRule, ProjectDecision};

/// The file `--project` reads when `--config` is not given, in the working directory.
pub const DEFAULT_CONFIG: &str = "dtag.toml";

/// One project as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: Option<String>,
    language: Option<String>,
    model: PathBuf,
    thesaurus: Option<PathBuf>,
    limit: Option<usize>,
    threshold: Option<f32>,
}

/// A project: what a command needs to know besides its inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub id: String,
    /// Shown to people (the id when the file gives none).
    pub name: String,
    /// Language code of the documents and labels, when the file gives one.
    pub language: Option<String>,
    /// The model file, resolved against the file's directory.
    pub model: PathBuf,
    pub thesaurus: Option<PathBuf>,
    /// The limit and threshold of requests and commands that do not set them.
    pub decision: ProjectDecision,
}

impl Project {
    /// A project known only by its id and model file (`dtag serve --model ID=FILE`): named
    /// by its id, in its model's language, with its model's thesaurus and the defaults.
    pub fn of_model(id: &str, model: &Path) -> Result<Project> {
        check_id(id).map_err(|why| Error::param("model", why))?;
        Ok(Project {
            id: id.to_string(),
            name: id.to_string(),
            language: None,
            model: model.to_path_buf(),
            thesaurus: None,
            decision: ProjectDecision::default(),
        })
    }

    /// The decision rule of `asked` for this project: what is asked, else the project's
    /// limit and threshold, else the defaults ([`DecisionRequest::resolve`]); `None`: no
    /// suggestions at all (a limit of 0, which Annif's API allows).
    pub fn rule(&self, asked: &DecisionRequest) -> Result<Option<DecisionRule>> {
        asked.resolve(&self.decision)
    }

    /// [`Self::rule`] for a command, which is asked for suggestions: a limit of 0 is refused
    /// (projects files refuse one too), as the library refuses any rule without a limit.
    pub fn command_rule(&self, asked: &DecisionRequest) -> Result<DecisionRule> {
        match self.rule(asked)? {
            Some(rule) => Ok(rule),
            None => Err(crate::predict::decision::check_limit(0).expect_err("0 is no limit")),
        }
    }

    /// A model file alone as a project (`--model FILE`): named by the file's name without
    /// its extension (the project a learning log names), with the model's own language and
    /// thesaurus and the default decision.
    pub fn of_model_file(model: &Path) -> Project {
        let stem = model
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        Project {
            id: stem.clone(),
            name: stem,
            language: None,
            model: model.to_path_buf(),
            thesaurus: None,
            decision: ProjectDecision::default(),
        }
    }

    /// The project a command works on: the model file given, else project `id` of the
    /// projects file `config` (`--model FILE` or `--project ID`).
    pub fn choose(model: Option<&Path>, id: Option<&str>, config: &Path) -> Result<Project> {
        match (model, id) {
            (Some(model), _) => Ok(Project::of_model_file(model)),
            (None, Some(id)) => Ok(Projects::load(config)?.get(id)?.clone()),
            (None, None) => Err(Error::param("model", "give --model FILE or --project ID")),
        }
    }
}

/// The projects of one file, by id.
#[derive(Debug, Clone, PartialEq)]
pub struct Projects {
    pub source: PathBuf,
    pub projects: BTreeMap<String, Project>,
}

impl Projects {
    /// Reads a projects file; every problem names the file and line.
    pub fn load(path: &Path) -> Result<Projects> {
        let bytes = crate::io_guard::read_input(path)?;
        let text = std::str::from_utf8(&bytes).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            line: crate::io_guard::line_of(&bytes, e.valid_up_to()),
            reason: "not valid UTF-8".into(),
        })?;
        Projects::parse(path, text)
    }

    /// Parses the text of a projects file read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Projects> {
        let problem = |line: usize, reason: String| Error::Config {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let entries: BTreeMap<String, Entry> = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |span| {
                crate::io_guard::line_of(text.as_bytes(), span.start)
            });
            problem(line, e.message().to_string())
        })?;
        if entries.is_empty() {
            return Err(problem(0, "no projects (expected `[ID]` tables)".into()));
        }
        let base = path.parent().unwrap_or(Path::new(""));
        let mut projects = BTreeMap::new();
        for (id, entry) in entries {
            let line = line_of_table(text, &id);
            check_id(&id).map_err(|why| problem(line, why))?;
            let decision = ProjectDecision {
                limit: entry.limit,
                threshold: entry.threshold,
            };
            decision.check().map_err(|e| match e {
                Error::InvalidParam { name, reason } => {
                    problem(line, format!("[{id}] {name} {reason}"))
                }
                other => other,
            })?;
            projects.insert(
                id.clone(),
                Project {
                    name: entry.name.unwrap_or_else(|| id.clone()),
                    id,
                    language: entry.language,
                    model: base.join(entry.model),
                    thesaurus: entry.thesaurus.map(|t| base.join(t)),
                    decision,
                },
            );
        }
        Ok(Projects {
            source: path.to_path_buf(),
            projects,
        })
    }

    /// The project `id`, or an error that lists the ids the file has.
    pub fn get(&self, id: &str) -> Result<&Project> {
        self.projects.get(id).ok_or_else(|| Error::Config {
            path: self.source.clone(),
            line: 0,
            reason: format!(
                "no project `{id}` (the file has: {})",
                self.projects.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        })
    }
}

/// Longest project id.
pub const MAX_ID_BYTES: usize = 64;

/// The one rule of project ids, wherever they come from (a projects file, `serve --model
/// NAME=FILE`, a URL): 1 to 64 ASCII letters, digits, `-` and `_`. Ids become URL path
/// segments and parts of file names, so `.`, `..`, `/`, spaces and non-ASCII letters (which
/// look alike across scripts) are refused. Returns why an id is refused.
pub fn check_id(id: &str) -> std::result::Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        let shown: String = id.chars().take(80).collect();
        Err(format!(
            "project id `{}`{}: use 1-{MAX_ID_BYTES} ASCII letters, digits, `-` or `_`",
            shown.escape_debug(),
            if shown.len() < id.len() { "…" } else { "" }
        ))
    }
}

/// The line of the `[id]` header, for messages (0 when not found as written).
fn line_of_table(text: &str, id: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim();
            l == format!("[{id}]") || l == format!("[\"{id}\"]")
        })
        .map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_resolve_paths_against_the_file_and_keep_their_settings() {
        let text = "[unbis-zh]\nname = \"UNBIS\"\nlanguage = \"zh\"\nmodel = \"m/u.dtag\"\n\
                    thesaurus = \"c.tsv\"\nlimit = 5\nthreshold = 0.25\n\n[plain]\nmodel = \"/abs/p.dtag\"\n";
        let projects = Projects::parse(Path::new("conf/dtag.toml"), text).unwrap();
        let u = projects.get("unbis-zh").unwrap();
        assert_eq!(u.name, "UNBIS");
        assert_eq!(u.model, Path::new("conf/m/u.dtag"));
        assert_eq!(u.thesaurus.as_deref(), Some(Path::new("conf/c.tsv")));
        assert_eq!(
            (u.decision.limit, u.decision.threshold),
            (Some(5), Some(0.25))
        );
        let p = projects.get("plain").unwrap();
        assert_eq!(
            (p.name.as_str(), p.model.as_path()),
            ("plain", Path::new("/abs/p.dtag"))
        );
        let missing = projects.get("nope").unwrap_err().to_string();
        assert!(missing.contains("no project `nope`") && missing.contains("plain, unbis-zh"));
    }

    #[test]
    fn mistakes_name_the_file_and_line() {
        let err = |text: &str| {
            Projects::parse(Path::new("dtag.toml"), text)
                .unwrap_err()
                .to_string()
        };
        let unknown = err("[a]\nmodel = \"m\"\nlimt = 3\n");
        assert!(
            unknown.starts_with("dtag.toml:3:") && unknown.contains("limt"),
            "{unknown}"
        );
        let no_model = err("[a]\nname = \"x\"\n");
        assert!(no_model.contains("model"), "{no_model}");
        let threshold = err("\n[a]\nmodel = \"m\"\nthreshold = 2.0\n");
        assert!(threshold.starts_with("dtag.toml:2:"), "{threshold}");
        assert!(err("").contains("no projects"));
        for id in ["\".\"", "\"..\"", "\"a.b\"", "\"维和\""] {
            let text = format!(
                "[ok]\nmodel = \"m\"\n\n{}\nmodel = \"m\"\n",
                format_args!("[{id}]")
            );
            let bad = err(&text);
            assert!(bad.starts_with("dtag.toml:4:"), "{id}: {bad}");
            assert!(bad.contains("ASCII letters"), "{id}: {bad}");
        }
        assert!(check_id("unbis-zh_2").is_ok());
    }
}
