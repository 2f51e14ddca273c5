//! The application layer: what a command or a served project works on, resolved once, and
//! the work it does — suggest, explain, evaluate, learn and index — over the one decision
//! path of [`crate::predict::Suggester`].
//!
//! A [`Session`] is opened from a [`Project`] (a projects-file entry, or a model file alone,
//! [`Project::choose`]) with its [`Overrides`] applied (thesaurus, language, the id a learning
//! log names). Everything that is policy lives here: which thesaurus names the descriptors
//! ("given, else the project's, else the model's own"), the language ("the project's, else
//! the model's"), the decision rule ("asked, else the project's, else the defaults",
//! [`Session::rule`]) and the verdict on an update ([`Session::learn`], through
//! [`crate::train::journal::teach`]). The command line and the server parse their inputs into
//! these calls and render what comes back; neither knows anything the other lacks. Nothing
//! here knows of flags or HTTP.

pub mod index;
pub mod shared;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use crate::analysis::Analyzer;
use crate::corpus::Corpus;
use crate::error::Result;
use crate::evaluate::Evaluation;
use crate::features::Overlap;
use crate::model::Model;
use crate::predict::explain::ExplainedSuggestion;
use crate::predict::{DecisionRequest, DecisionRule, Suggested, Suggester};
use crate::progress::Progress;
use crate::projects::Project;
use crate::thesaurus::Thesaurus;
use crate::train::journal::{self, Journal, Lesson, Replay, Replayed, Taught, Teacher};
use crate::train::learn::ValidLearnParams;
pub use shared::{FileIdentity, SharedResources};

/// What a caller sets over a project's own settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// A thesaurus file that names the descriptors instead of the project's.
    pub thesaurus: Option<PathBuf>,
    /// The language of documents and labels, when the project gives none.
    pub language: Option<String>,
    /// The project id a learning log names (`dtag learn --log-project`).
    pub id: Option<String>,
}

impl Project {
    /// `self` with `overrides` applied: a thesaurus given replaces the project's; a
    /// language given applies where the project has none of its own (a projects file's
    /// `language` wins over a server-wide `--language`).
    pub fn with_overrides(mut self, overrides: &Overrides) -> Project {
        if let Some(thesaurus) = &overrides.thesaurus {
            self.thesaurus = Some(thesaurus.clone());
        }
        if self.language.is_none() {
            self.language = overrides.language.clone();
        }
        if let Some(id) = &overrides.id {
            self.id = id.clone();
        }
        self
    }
}

/// What a given thesaurus does in a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// It names the suggestions (URIs and labels): it is attached to the model served.
    Suggestions,
    /// It names only the corpus read; the model stays as its file has it, so an update
    /// writes what it learned and nothing else ([`Session::learn`]).
    CorpusOnly,
}

/// A project opened: its settings, the thesaurus it was given, and its model ready to rank.
#[derive(Debug)]
pub struct Session {
    project: Arc<Project>,
    /// The thesaurus file the project names (given or its own), loaded once.
    thesaurus: Option<Arc<Thesaurus>>,
    naming: Naming,
    suggester: Suggester,
    /// Seconds reading the thesaurus took (0 without one).
    thesaurus_seconds: f64,
}

impl Session {
    /// Opens `project`: reads its thesaurus (if it names one) and its model.
    pub fn open(project: Project, naming: Naming) -> Result<Session> {
        let (thesaurus, thesaurus_seconds) = load_thesaurus(&project)?;
        let (model, analyzer) = Model::load_with_analyzer(&project.model)?;
        Session::assemble(
            Arc::new(project),
            thesaurus,
            naming,
            model,
            Some(Arc::new(analyzer)),
        )
        .map(|s| s.timed(thesaurus_seconds))
    }

    /// Opens `project` through `shared`, as the server opens its projects: one analyzer per
    /// settings and one model per file for all of them.
    pub fn open_shared(
        project: Project,
        shared: &SharedResources,
    ) -> Result<(Session, Option<FileIdentity>)> {
        let (thesaurus, thesaurus_seconds) = load_thesaurus(&project)?;
        let (model, identity) = shared.model(&project.model)?;
        let analyzer = shared.analyzer(&model.analyzer)?;
        let project = Arc::new(project);
        let suggester = match &thesaurus {
            // Naming copies the model: it is no longer the one other projects share.
            Some(t) => {
                let mut model = Arc::unwrap_or_clone(model);
                model.attach_thesaurus(t);
                Suggester::with_analyzer(model, analyzer)?
            }
            None => Suggester::shared(model, analyzer)?,
        };
        let session = Session {
            project,
            thesaurus,
            naming: Naming::Suggestions,
            suggester,
            thesaurus_seconds,
        };
        Ok((session, identity))
    }

    /// The same project over another version of its model (learned, or read again): its
    /// thesaurus names it as before, and the analyzer is kept when the settings are the same.
    pub fn with_model(&self, model: Model) -> Result<Session> {
        Session::assemble(
            Arc::clone(&self.project),
            self.thesaurus.clone(),
            self.naming,
            model,
            Some(self.suggester.shared_analyzer()),
        )
        .map(|s| s.timed(0.0))
    }

    fn assemble(
        project: Arc<Project>,
        thesaurus: Option<Arc<Thesaurus>>,
        naming: Naming,
        mut model: Model,
        analyzer: Option<Arc<Analyzer>>,
    ) -> Result<Session> {
        if let (Naming::Suggestions, Some(t)) = (naming, &thesaurus) {
            model.attach_thesaurus(t);
        }
        let suggester = match analyzer {
            Some(analyzer) if analyzer.config() == &model.analyzer => {
                Suggester::with_analyzer(model, analyzer)?
            }
            _ => Suggester::new(model)?,
        };
        Ok(Session {
            project,
            thesaurus,
            naming,
            suggester,
            thesaurus_seconds: 0.0,
        })
    }

    fn timed(mut self, thesaurus_seconds: f64) -> Session {
        self.thesaurus_seconds = thesaurus_seconds;
        self
    }

    pub fn project(&self) -> &Project {
        &self.project
    }

    pub fn suggester(&self) -> &Suggester {
        &self.suggester
    }

    pub fn model(&self) -> &Model {
        self.suggester.model()
    }

    /// The model back (a copy when another session shares it).
    pub fn into_model(self) -> Model {
        self.suggester.into_model()
    }

    /// The thesaurus file the session was given (an override or the project's), loaded, and
    /// the seconds reading it took.
    pub fn given_thesaurus(&self) -> Option<(&Path, &Thesaurus, f64)> {
        let path = self.project.thesaurus.as_deref()?;
        let thesaurus = self.thesaurus.as_deref()?;
        Some((path, thesaurus, self.thesaurus_seconds))
    }

    /// The thesaurus that names a corpus's descriptors: the one given, else the model's own
    /// ([`Model::thesaurus_or_stored`]).
    pub fn corpus_thesaurus(&self) -> Option<Cow<'_, Thesaurus>> {
        self.model().thesaurus_or_stored(self.thesaurus.as_deref())
    }

    /// The language of the project's documents and labels: its own, else its model's.
    pub fn language(&self) -> String {
        match &self.project.language {
            Some(code) => code.clone(),
            None => self.model().analyzer.language.code().to_string(),
        }
    }

    /// Whether labels are shown in Chinese (the language of the model's analyzer), else in
    /// English: the catalogue lines and subject files a command writes.
    pub fn labels_in_chinese(&self) -> bool {
        self.model().analyzer.language == crate::analysis::Language::Zh
    }

    /// The decision rule of `asked` for this project: what is asked, else the project's
    /// limit and threshold, else the defaults ([`DecisionRequest::resolve`]); `None`: no
    /// suggestions at all (a limit of 0).
    pub fn rule(&self, asked: &DecisionRequest) -> Result<Option<DecisionRule>> {
        self.project.rule(asked)
    }

    /// Suggestions for each text, in order (in parallel; each text as if alone).
    pub fn suggest(&self, texts: &[&str], rule: &DecisionRule) -> Vec<Suggested> {
        self.suggester.suggest(texts, rule)
    }

    /// Suggestions for each text, each explained by at most `terms` terms each way, with
    /// each text's overlap with the vocabulary.
    pub fn explain(
        &self,
        texts: &[&str],
        rule: &DecisionRule,
        terms: usize,
    ) -> Vec<(Vec<ExplainedSuggestion>, Overlap)> {
        texts
            .par_iter()
            .map(|t| {
                (
                    crate::predict::explain::suggest_explained(&self.suggester, t, rule, terms),
                    self.suggester.overlap(t),
                )
            })
            .collect()
    }

    /// The model measured on a labelled corpus under `rule`.
    pub fn evaluate(&self, corpus: &Corpus, rule: &DecisionRule) -> Evaluation {
        crate::evaluate::evaluate_detailed(&self.suggester, corpus, rule)
    }

    /// The documents of a labelled corpus as lessons: their descriptors, with the URI the
    /// session's thesaurus gives each.
    pub fn lessons(&self, corpus: Corpus, teacher: &Teacher) -> Vec<Lesson> {
        journal::lessons_of_corpus(corpus, self.corpus_thesaurus().as_deref(), teacher)
    }

    /// Teaches `lessons` to the model, the one path of every update
    /// ([`crate::train::journal::teach`]): the verdict comes back in [`Taught::verdict`], and
    /// `save` writes an applied model. A learning log names the project's id.
    pub fn learn(
        &self,
        lessons: &[Lesson],
        how: Teaching<'_>,
        save: &mut dyn FnMut(&Model) -> Result<()>,
    ) -> Result<Taught> {
        let id = self.project.id.as_str();
        journal::teach(
            how.params,
            self.model(),
            self.suggester.analyzer(),
            lessons,
            how.journal.map(|j| (j, id)),
            how.accept_worse,
            how.progress,
            save,
        )
    }

    /// The model with a learning log's batches of this project applied after its own
    /// ([`Replay`]), as they were applied.
    pub fn replay(
        self,
        entries: &[journal::Entry],
        params: &ValidLearnParams,
        source: &str,
        progress: &dyn Progress,
    ) -> Result<(Model, Replayed)> {
        let analyzer = self.suggester.shared_analyzer();
        let project = Arc::clone(&self.project);
        let replay = Replay {
            params,
            analyzer: &analyzer,
            project: &project.id,
            source,
        };
        replay.run(self.suggester.into_model(), entries, progress)
    }
}

/// How an update is taught.
pub struct Teaching<'a> {
    pub params: &'a ValidLearnParams,
    /// The learning log the documents and the verdict are appended to.
    pub journal: Option<&'a mut Journal>,
    /// Apply an update the held-out check finds worse.
    pub accept_worse: bool,
    pub progress: &'a dyn Progress,
}

/// The thesaurus file `project` names, read, and the seconds it took.
fn load_thesaurus(project: &Project) -> Result<(Option<Arc<Thesaurus>>, f64)> {
    let started = Instant::now();
    let thesaurus = match &project.thesaurus {
        Some(path) => Some(Arc::new(Thesaurus::load(path)?)),
        None => None,
    };
    Ok((thesaurus, started.elapsed().as_secs_f64()))
}
