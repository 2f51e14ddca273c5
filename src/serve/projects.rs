//! Loaded models as Annif "projects": their descriptions, vocabularies, descriptor URIs and
//! labels, and the model each serves now (replaced whole when it learns or is reloaded).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, RwLock};

use serde::Serialize;

use super::request::{percent_decode, LanguageTag};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::predict::Suggestion;
use crate::session::Session;

// One URI rule for the server and the catalogue lines of `dtag suggest --output-format`.
pub use crate::formats::catalogue::{descriptor_uri, DESCRIPTOR_URI_PREFIX};

/// The label of a [`descriptor_uri`], if `uri` is one.
pub fn label_of_descriptor_uri(uri: &str) -> Option<String> {
    percent_decode(uri.strip_prefix(DESCRIPTOR_URI_PREFIX)?, false).ok()
}

pub use crate::session::{FileIdentity, SharedResources};

/// A model as loaded (or learned), with what is known about its file.
#[derive(Debug)]
pub struct Loaded {
    /// The project opened over this version of its model.
    pub session: Session,
    /// Modification time of the model file it was read from or written to (RFC 3339, UTC).
    pub modified: Option<String>,
    /// The file it was read from or written to, to notice a replacement.
    pub identity: Option<FileIdentity>,
    /// The labels of its thesaurus for completion, built on first use (most models are
    /// never asked).
    pub completion: std::sync::OnceLock<super::complete::LabelIndex>,
}

impl Loaded {
    fn new(session: Session, identity: Option<FileIdentity>) -> Loaded {
        Loaded {
            session,
            modified: identity.and_then(|i| i.modified()).and_then(rfc3339_utc),
            identity,
            completion: std::sync::OnceLock::new(),
        }
    }

    /// The completion index of the model, built on first use.
    pub fn completion(&self) -> &super::complete::LabelIndex {
        self.completion
            .get_or_init(|| super::complete::LabelIndex::of_model(self.session.model()))
    }

    /// The project's model file read again, as the model after `self` (its analyzer is kept
    /// when it has the model's settings). A replacement in another language than the model
    /// served is refused: the project would answer in a language its clients did not choose,
    /// and a projects file's `language` would lie.
    pub fn read_again(&self) -> Result<Loaded> {
        let path = &self.session.project().model;
        let identity = FileIdentity::of(path);
        let model = Model::load(path)?;
        let (old, new) = (
            self.session.model().analyzer.language,
            model.analyzer.language,
        );
        if old != new {
            return Err(Error::ModelFile {
                path: path.to_path_buf(),
                reason: format!(
                    "is a model of language `{}`, the project serves `{}`: refused (serve \
                     it as another project, or restart the server to change the project's \
                     language)",
                    new.code(),
                    old.code()
                ),
            });
        }
        self.followed_by(model, identity)
    }

    /// `model` (learned, or read again), written to a file of `identity`, as the model
    /// after `self`.
    pub fn followed_by(&self, model: Model, identity: Option<FileIdentity>) -> Result<Loaded> {
        Ok(Loaded::new(self.session.with_model(model)?, identity))
    }
}

/// A model served under a project id.
#[derive(Debug)]
pub struct Project {
    pub id: String,
    /// Shown to people (`/v1/projects`, the page): a projects file's `name`, else the id.
    pub name: String,
    pub language: LanguageTag,
    pub path: PathBuf,
    current: RwLock<Arc<Loaded>>,
    /// Documents learned through the API since the server started.
    pub learned_documents: AtomicU64,
    /// Updates the held-out check kept out of the model (their documents are in the log).
    pub kept_out_updates: AtomicU64,
    /// Learn requests waiting for (or in) the learner.
    pub learn_queued: AtomicUsize,
    /// Times the model file was read again after it was replaced on disk (or on SIGHUP).
    pub reloads: AtomicU64,
}

impl Project {
    /// Opens `settings` as a served project ([`Session::open_shared`]): its language is its
    /// own (or the server's `--language`, applied as an override), else its model's; its
    /// thesaurus names the descriptors of every model it serves; requests that set no limit
    /// or threshold get its own ([`crate::projects::Project::rule`]).
    pub fn load(settings: crate::projects::Project, shared: &SharedResources) -> Result<Project> {
        check_project_id(&settings.id)?;
        let (session, identity) = Session::open_shared(settings, shared)?;
        let language = LanguageTag::parse(&session.language()).ok_or_else(|| {
            Error::param(
                "language",
                format!(
                    "project `{}`: `{}` is not a language code such as `zh` or `en`",
                    session.project().id,
                    session.language()
                ),
            )
        })?;
        let settings = session.project();
        Ok(Project {
            id: settings.id.clone(),
            name: settings.name.clone(),
            language,
            path: settings.model.clone(),
            current: RwLock::new(Arc::new(Loaded::new(session, identity))),
            learned_documents: AtomicU64::new(0),
            kept_out_updates: AtomicU64::new(0),
            learn_queued: AtomicUsize::new(0),
            reloads: AtomicU64::new(0),
        })
    }

    /// The model served now. Requests hold it as long as they need it; a replacement serves
    /// the requests that come after.
    pub fn current(&self) -> Arc<Loaded> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Serves `loaded` from now on.
    pub fn replace(&self, loaded: Loaded) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded);
    }

    /// Languages the project can label suggestions in: its own, and English and Chinese when
    /// its model stores thesaurus concepts (which carry both labels).
    pub fn label_languages(&self, model: &Model) -> Vec<String> {
        let mut languages = vec![self.language.as_str().to_string()];
        if model.concepts.is_some() {
            for extra in ["en", "zh"] {
                if !languages.iter().any(|l| l == extra) {
                    languages.push(extra.to_string());
                }
            }
        }
        languages
    }

    /// The project as Annif describes one (`GET /v1/projects/{id}`).
    pub fn describe(&self) -> ProjectInfo {
        let loaded = self.current();
        ProjectInfo {
            project_id: self.id.clone(),
            name: self.name.clone(),
            language: self.language.as_str().to_string(),
            backend: Backend {
                backend_id: "dtag-logistic",
            },
            vocab: self.vocabulary(&loaded),
            vocab_language: self.language.as_str().to_string(),
            is_trained: true,
            modification_time: loaded.modified.clone(),
        }
    }

    /// The project's vocabulary as Annif describes one (`GET /v1/vocabs`): the descriptors
    /// its model knows.
    pub fn vocabulary(&self, loaded: &Loaded) -> Vocabulary {
        let model = loaded.session.model();
        Vocabulary {
            vocab_id: self.id.clone(),
            languages: self.label_languages(model),
            size: model.descriptors.len(),
            loaded: true,
        }
    }
}

/// A suggestion as an Annif result: the concept's URI when the model stores its thesaurus
/// concept (else the descriptor's `urn:dtag:` URI), and its label in `language` when the
/// concept has one (else the descriptor's name, the label the model was trained with).
pub fn uri_and_label(suggestion: &Suggestion, language: &str) -> (String, String) {
    let uri = suggestion
        .uri
        .clone()
        .unwrap_or_else(|| descriptor_uri(&suggestion.descriptor));
    let label = match language {
        "zh" => suggestion.label_zh.clone(),
        "en" => suggestion.label_en.clone(),
        _ => None,
    }
    .unwrap_or_else(|| suggestion.descriptor.clone());
    (uri, label)
}

/// Project ids appear in URLs and file names: the one rule of [`crate::projects::check_id`].
pub fn check_project_id(id: &str) -> Result<()> {
    crate::projects::check_id(id).map_err(|why| Error::param("model", why))
}

#[derive(Serialize)]
pub struct ProjectInfo {
    project_id: String,
    name: String,
    language: String,
    backend: Backend,
    vocab: Vocabulary,
    vocab_language: String,
    is_trained: bool,
    modification_time: Option<String>,
}

#[derive(Serialize)]
struct Backend {
    backend_id: &'static str,
}

#[derive(Serialize)]
pub struct Vocabulary {
    vocab_id: String,
    languages: Vec<String>,
    size: usize,
    loaded: bool,
}

pub use crate::clock::rfc3339_utc;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn descriptor_uris_are_stable_and_reversible() {
        assert_eq!(
            descriptor_uri("PEACEKEEPING OPERATIONS"),
            "urn:dtag:descriptor:PEACEKEEPING%20OPERATIONS"
        );
        assert_eq!(
            descriptor_uri("COUNTER-TERRORISM"),
            "urn:dtag:descriptor:COUNTER-TERRORISM"
        );
        let uri = descriptor_uri("维持和平行动");
        assert!(uri.is_ascii());
        assert_eq!(label_of_descriptor_uri(&uri).unwrap(), "维持和平行动");
        assert_eq!(label_of_descriptor_uri("http://x/1"), None);
    }

    #[test]
    fn results_carry_the_concept_uri_and_the_label_in_the_language() {
        let mut s = Suggestion {
            descriptor: "PEACEKEEPING OPERATIONS".into(),
            score: 0.9,
            uri: Some("http://metadata.un.org/thesaurus/1004700".into()),
            label_en: Some("PEACEKEEPING OPERATIONS".into()),
            label_zh: Some("维持和平行动".into()),
        };
        let (uri, zh) = uri_and_label(&s, "zh");
        assert_eq!(uri, "http://metadata.un.org/thesaurus/1004700");
        assert_eq!(zh, "维持和平行动");
        assert_eq!(uri_and_label(&s, "en").1, "PEACEKEEPING OPERATIONS");
        assert_eq!(uri_and_label(&s, "fi").1, "PEACEKEEPING OPERATIONS");
        s.uri = None;
        s.label_zh = None;
        let (uri, label) = uri_and_label(&s, "zh");
        assert_eq!(uri, "urn:dtag:descriptor:PEACEKEEPING%20OPERATIONS");
        assert_eq!(label, "PEACEKEEPING OPERATIONS");
    }

    #[test]
    fn formats_utc_timestamps() {
        let at = |s: u64| rfc3339_utc(UNIX_EPOCH + Duration::from_secs(s)).unwrap();
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_589_906_562), "2020-05-19T16:42:42Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
    }

    #[test]
    fn project_ids_must_be_url_safe() {
        assert!(check_project_id("demo-zh_1").is_ok());
        for bad in ["", ".", "..", "a.b", "a b", "a/b", "维和", &"x".repeat(65)] {
            assert!(check_project_id(bad).is_err(), "{bad}");
        }
    }
}
