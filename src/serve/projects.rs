//! Loaded models as Annif "projects": their descriptions, vocabularies, descriptor URIs and
//! labels, and the model each serves now (replaced whole when it learns or is reloaded).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::SystemTime;

use serde::Serialize;

use super::request::{percent_decode, LanguageTag};
use crate::analysis::{Analyzer, AnalyzerConfig};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::predict::{ProjectDecision, Suggester, Suggestion};
use crate::thesaurus::Thesaurus;

// One URI rule for the server and the catalogue lines of `dtag suggest --output-format`.
pub use crate::formats::catalogue::{descriptor_uri, DESCRIPTOR_URI_PREFIX};

/// The label of a [`descriptor_uri`], if `uri` is one.
pub fn label_of_descriptor_uri(uri: &str) -> Option<String> {
    percent_decode(uri.strip_prefix(DESCRIPTOR_URI_PREFIX)?, false).ok()
}

/// What identifies the version of a file on disk: a file replaced by a rename has another
/// inode, one rewritten in place another length or modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileIdentity {
    device: u64,
    inode: u64,
    length: u64,
    modified: Option<SystemTime>,
}

impl FileIdentity {
    /// The identity of the file at `path` (through symlinks), if it can be read.
    pub fn of(path: &Path) -> Option<FileIdentity> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        Some(FileIdentity {
            device: meta.dev(),
            inode: meta.ino(),
            length: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// What the projects of one server share, being immutable: one analyzer (with its
/// segmenter's dictionary, tens of megabytes for jieba) per analyzer settings, and one model
/// per model file (the same file, in the same version, named by several projects). A
/// project's memory is then about its model's size, or nothing when its model is shared.
#[derive(Debug, Default)]
pub struct SharedResources {
    analyzers: Mutex<Vec<Arc<Analyzer>>>,
    /// Models by the file version they were read from; held weakly, so a model no project
    /// serves any more is freed.
    models: Mutex<Vec<(FileIdentity, Weak<Model>)>>,
}

impl SharedResources {
    /// The analyzer of `config`, built the first time it is asked for.
    pub fn analyzer(&self, config: &AnalyzerConfig) -> Result<Arc<Analyzer>> {
        let mut analyzers = self.analyzers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(a) = analyzers.iter().find(|a| a.config() == config) {
            return Ok(Arc::clone(a));
        }
        let analyzer = Arc::new(Analyzer::new(config.clone())?);
        analyzers.push(Arc::clone(&analyzer));
        Ok(analyzer)
    }

    /// The model of the file at `path`, read the first time this version of the file is
    /// asked for, with the file's identity.
    pub fn model(&self, path: &Path) -> Result<(Arc<Model>, Option<FileIdentity>)> {
        let identity = FileIdentity::of(path);
        let mut models = self.models.lock().unwrap_or_else(|e| e.into_inner());
        models.retain(|(_, m)| m.strong_count() > 0);
        if let Some(model) = identity.and_then(|id| {
            models
                .iter()
                .find(|(known, _)| *known == id)
                .and_then(|(_, m)| m.upgrade())
        }) {
            return Ok((model, identity));
        }
        let model = Arc::new(Model::load(path)?);
        // Shared only when the file did not change while it was read.
        if let Some(id) = identity.filter(|&id| FileIdentity::of(path) == Some(id)) {
            models.push((id, Arc::downgrade(&model)));
        }
        Ok((model, identity))
    }
}

/// A model as loaded (or learned), with what is known about its file.
#[derive(Debug)]
pub struct Loaded {
    pub suggester: Suggester,
    /// Modification time of the model file it was read from or written to (RFC 3339, UTC).
    pub modified: Option<String>,
    /// The file it was read from or written to, to notice a replacement.
    pub identity: Option<FileIdentity>,
    /// The labels of its thesaurus for completion, built on first use (most models are
    /// never asked).
    pub completion: std::sync::OnceLock<super::complete::LabelIndex>,
}

impl Loaded {
    /// The completion index of the model, built on first use.
    pub fn completion(&self) -> &super::complete::LabelIndex {
        self.completion
            .get_or_init(|| super::complete::LabelIndex::of_model(self.suggester.model()))
    }
}

impl Loaded {
    /// Loads `path`; `reuse` is the model served now, whose analyzer is kept when it has the
    /// model's settings (building one loads the segmenter's dictionary). A replacement in
    /// another language than the model served is refused: the project would answer in a
    /// language its clients did not choose, and a projects file's `language` would lie.
    pub fn read(path: &Path, reuse: Option<&Suggester>) -> Result<Loaded> {
        let identity = FileIdentity::of(path);
        let model = Model::load(path)?;
        if let Some(served) = reuse {
            let (old, new) = (served.model().analyzer.language, model.analyzer.language);
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
        }
        Loaded::with_model(model, identity, reuse)
    }

    /// Loads `path` through `shared`: its model and analyzer are those of the other
    /// projects that use the same file and settings.
    pub fn read_shared(path: &Path, shared: &SharedResources) -> Result<Loaded> {
        let (model, identity) = shared.model(path)?;
        let analyzer = shared.analyzer(&model.analyzer)?;
        Ok(Loaded {
            suggester: Suggester::shared(model, analyzer)?,
            modified: identity.and_then(|i| i.modified).and_then(rfc3339_utc),
            identity,
            completion: std::sync::OnceLock::new(),
        })
    }

    /// `model`, written to a file of `identity`.
    pub fn with_model(
        model: Model,
        identity: Option<FileIdentity>,
        reuse: Option<&Suggester>,
    ) -> Result<Loaded> {
        let suggester = match reuse {
            Some(old) if old.analyzer().config() == &model.analyzer => {
                Suggester::with_analyzer(model, old.shared_analyzer())?
            }
            _ => Suggester::new(model)?,
        };
        Ok(Loaded {
            suggester,
            modified: identity.and_then(|i| i.modified).and_then(rfc3339_utc),
            identity,
            completion: std::sync::OnceLock::new(),
        })
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
    /// The limit and threshold of suggestion requests that do not set them.
    pub decision: ProjectDecision,
    /// A thesaurus given for the project (a projects file's `thesaurus`), which names the
    /// descriptors of every model it serves, as `dtag suggest --project` names them.
    thesaurus: Option<Thesaurus>,
}

impl Project {
    /// Loads the model of `settings` as a served project. Its language is `language` when
    /// one is given (the project's own or `--language`), else the model's; `thesaurus` (the
    /// project's) names its descriptors instead of the one stored in the model; requests that
    /// set no limit or threshold get the project's ([`crate::projects::Project::decision`]).
    pub fn load(
        settings: &crate::projects::Project,
        language: Option<LanguageTag>,
        thesaurus: Option<Thesaurus>,
        shared: &SharedResources,
    ) -> Result<Project> {
        check_project_id(&settings.id)?;
        let path = &settings.model;
        let mut loaded = Loaded::read_shared(path, shared)?;
        if let Some(thesaurus) = &thesaurus {
            loaded = with_thesaurus(loaded, thesaurus)?;
        }
        let language = match language {
            Some(language) => language,
            None => model_language(loaded.suggester.model()),
        };
        Ok(Project {
            id: settings.id.clone(),
            name: settings.name.clone(),
            language,
            path: path.to_path_buf(),
            current: RwLock::new(Arc::new(loaded)),
            learned_documents: AtomicU64::new(0),
            kept_out_updates: AtomicU64::new(0),
            learn_queued: AtomicUsize::new(0),
            reloads: AtomicU64::new(0),
            decision: settings.decision,
            thesaurus,
        })
    }

    /// The model served now. Requests hold it as long as they need it; a replacement serves
    /// the requests that come after.
    pub fn current(&self) -> Arc<Loaded> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Serves `loaded` from now on (its descriptors named by the project's thesaurus, when
    /// it has one).
    pub fn replace(&self, loaded: Loaded) {
        let loaded = match &self.thesaurus {
            // Attaching only builds a table; it cannot fail for a model that was served.
            Some(thesaurus) => match with_thesaurus(loaded, thesaurus) {
                Ok(loaded) => loaded,
                Err(_) => return,
            },
            None => loaded,
        };
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
        let model = loaded.suggester.model();
        Vocabulary {
            vocab_id: self.id.clone(),
            languages: self.label_languages(model),
            size: model.descriptors.len(),
            loaded: true,
        }
    }
}

/// `loaded` with its descriptors named by `thesaurus`.
fn with_thesaurus(loaded: Loaded, thesaurus: &Thesaurus) -> Result<Loaded> {
    let analyzer = loaded.suggester.shared_analyzer();
    let mut model = loaded.suggester.into_model();
    model.attach_thesaurus(thesaurus);
    Ok(Loaded {
        suggester: Suggester::with_analyzer(model, analyzer)?,
        // Another thesaurus: other labels to complete.
        completion: std::sync::OnceLock::new(),
        ..loaded
    })
}

/// The language a model was trained in, as a project's language.
pub fn model_language(model: &Model) -> LanguageTag {
    LanguageTag::parse(model.analyzer.language.code()).expect("analyzer languages are codes")
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
