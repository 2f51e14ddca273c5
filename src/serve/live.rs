//! Keeping each project's model current: learning while serving, and reading the model file
//! again when it is replaced on disk.
//!
//! Every project has one worker thread, which alone replaces the project's model. Learn
//! requests reach it through a bounded queue (a full queue is a 503 at once, never a wait);
//! the worker takes every request waiting, learns their documents in one update with the
//! library's own warm-started update (`dtag learn`'s, [`crate::learn`]) on the model served
//! now, writes the updated model over the model file atomically
//! ([`crate::io_guard::write_atomically`], through `Model::save`), and only then serves it
//! and answers the requests. Suggestions never wait for it: they score the model that was
//! current when they started, and a learned (or reloaded) model is swapped in whole.
//!
//! The worker also watches the model file: when its identity (inode, length, modification
//! time) is no longer that of the file it read or wrote last, or on SIGHUP, it reads the file
//! again and serves it. A replacement noticed in the middle of an update is read first and the
//! update made again on it, so that learned documents are neither lost nor written over the
//! replacement. A file that cannot be read (half-copied, not a model) keeps the model served
//! and is tried again when it changes.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::log::Logger;
use super::problem::Problem;
use super::projects::{label_of_descriptor_uri, FileIdentity, Loaded, Project};
use super::request::LearnDocument;
use crate::corpus::Origin;
use crate::formats::{self, RawCorpus, RawDocument, Subject};
use crate::progress::NoProgress;
use crate::train::learn::LearnParams;

/// How often the worker looks at the model file.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// How the server learns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LearnSettings {
    /// `POST …/learn` is allowed (`--learn`); otherwise it is a 403.
    pub enabled: bool,
    /// Learn requests waiting at most, per project (`--learn-queue`); more get 503.
    pub queue: usize,
    /// Share of each update's documents held out to check it, as `dtag learn --holdout`
    /// (0: no check; the update itself always uses every document).
    pub holdout: f64,
}

/// What the worker is asked to do.
enum Message {
    Learn(LearnJob),
    /// Read the model file again (SIGHUP); also sets the project's flag.
    Reload,
}

/// Documents to learn and where to say how it went.
struct LearnJob {
    documents: Vec<LearnDocument>,
    done: tokio::sync::oneshot::Sender<Result<usize, Problem>>,
}

/// The handle of a project's worker.
pub struct Worker {
    sender: SyncSender<Message>,
    project: Arc<Project>,
    /// A reload was asked for and not yet done.
    reload_wanted: Arc<AtomicBool>,
    queue: usize,
}

impl Worker {
    /// Starts the worker of `project`.
    pub fn start(
        project: Arc<Project>,
        settings: LearnSettings,
        log: Logger,
    ) -> std::io::Result<Worker> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(settings.queue.max(1));
        let reload_wanted = Arc::new(AtomicBool::new(false));
        let state = WorkerState {
            project: project.clone(),
            settings,
            log,
            reload_wanted: reload_wanted.clone(),
            // What is known of the file: that of the model loaded at start, or of a version
            // that could not be read (tried again only once it changes).
            known: project.current().identity,
        };
        std::thread::Builder::new()
            .name(format!("dtag-model-{}", project.id))
            .spawn(move || state.run(receiver))?;
        Ok(Worker {
            sender,
            project,
            reload_wanted,
            queue: settings.queue,
        })
    }

    /// Queues `documents` for learning; the answer comes once they are learned and written
    /// (the number learned), or why not. A full queue is refused at once with a 503.
    pub async fn learn(&self, documents: Vec<LearnDocument>) -> Result<usize, Problem> {
        let (done, answer) = tokio::sync::oneshot::channel();
        self.project.learn_queued.fetch_add(1, Ordering::Relaxed);
        match self
            .sender
            .try_send(Message::Learn(LearnJob { documents, done }))
        {
            Ok(()) => {}
            Err(e) => {
                self.project.learn_queued.fetch_sub(1, Ordering::Relaxed);
                return Err(match e {
                    TrySendError::Full(_) => Problem::unavailable(format!(
                        "the learning queue of project '{}' is full ({} requests waiting); \
                         retry later",
                        self.project.id, self.queue
                    )),
                    TrySendError::Disconnected(_) => Problem::unavailable(format!(
                        "the learner of project '{}' has stopped",
                        self.project.id
                    )),
                });
            }
        }
        answer.await.unwrap_or_else(|_| {
            Err(Problem::internal(
                "the learner stopped before answering".to_string(),
            ))
        })
    }

    /// Asks the worker to read the model file again (SIGHUP).
    pub fn reload(&self) {
        self.reload_wanted.store(true, Ordering::SeqCst);
        // A full queue wakes the worker anyway, and it looks at the flag before every update.
        let _ = self.sender.try_send(Message::Reload);
    }
}

struct WorkerState {
    project: Arc<Project>,
    settings: LearnSettings,
    log: Logger,
    reload_wanted: Arc<AtomicBool>,
    known: Option<FileIdentity>,
}

impl WorkerState {
    fn run(mut self, receiver: Receiver<Message>) {
        loop {
            let message = match receiver.recv_timeout(WATCH_INTERVAL) {
                Ok(message) => Some(message),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let mut jobs = Vec::new();
            let mut take = |message| match message {
                Message::Learn(job) => jobs.push(job),
                Message::Reload => {}
            };
            if let Some(message) = message {
                take(message);
                // Everything already waiting is learned in the same update.
                while let Ok(message) = receiver.try_recv() {
                    take(message);
                }
            }
            self.reload_if_needed();
            if !jobs.is_empty() {
                self.learn(jobs);
            }
        }
    }

    /// Whether the file is no longer the version known.
    fn file_changed(&self) -> bool {
        FileIdentity::of(&self.project.path) != self.known
    }

    /// Reads the model file again when asked to or when it changed.
    fn reload_if_needed(&mut self) {
        let asked = self.reload_wanted.swap(false, Ordering::SeqCst);
        if asked || self.file_changed() {
            self.reload(if asked { "SIGHUP" } else { "changed on disk" });
        }
    }

    fn reload(&mut self, why: &str) -> bool {
        let path = &self.project.path;
        let before = FileIdentity::of(path);
        let current = self.project.current();
        let loaded = Loaded::read(path, Some(&current.suggester));
        // Still being written (copied in place): wait until it settles.
        if FileIdentity::of(path) != before {
            return false;
        }
        self.known = before;
        match loaded {
            Ok(loaded) => {
                self.project.replace(loaded);
                self.project.reloads.fetch_add(1, Ordering::Relaxed);
                self.log.line(format!(
                    "dtag serve: project '{}': model {} read again ({why})",
                    self.project.id,
                    path.display()
                ));
                true
            }
            Err(e) => {
                self.log.line(format!(
                    "dtag serve: project '{}': {} {why} but cannot be read, still serving the \
                     model read before: {e}",
                    self.project.id,
                    path.display()
                ));
                false
            }
        }
    }

    /// Learns the documents of `jobs` in one update and answers each; should the update fail,
    /// each request is learned alone, so one request's failure is not another's.
    fn learn(&mut self, jobs: Vec<LearnJob>) {
        let all: Vec<&LearnDocument> = jobs.iter().flat_map(|j| &j.documents).collect();
        match self.update(&all) {
            Ok(_) => {
                for job in jobs {
                    let n = job.documents.len();
                    self.answer(job, Ok(n));
                }
            }
            Err(problem) if jobs.len() == 1 => {
                let job = jobs.into_iter().next().expect("one job");
                self.answer(job, Err(problem));
            }
            Err(_) => {
                for job in jobs {
                    let documents: Vec<&LearnDocument> = job.documents.iter().collect();
                    let outcome = self.update(&documents).map(|_| job.documents.len());
                    self.answer(job, outcome);
                }
            }
        }
    }

    /// Answers a request, which leaves the queue first (a client that reads the counters
    /// after its answer sees itself gone).
    fn answer(&self, job: LearnJob, outcome: Result<usize, Problem>) {
        self.project.learn_queued.fetch_sub(1, Ordering::Relaxed);
        let _ = job.done.send(outcome);
    }

    /// Updates the model served with `documents`, writes it over the model file and serves it.
    fn update(&mut self, documents: &[&LearnDocument]) -> Result<usize, Problem> {
        if documents.is_empty() {
            return Ok(0);
        }
        let started = Instant::now();
        // A replacement on disk wins over the model in memory: learn on it. Should the file
        // change while learning, the update is made again on the new file.
        for _attempt in 0..3 {
            self.reload_if_needed();
            let current = self.project.current();
            let (updated, mut notes) = learn_on(&current, documents, self.settings.holdout)?;
            if self.file_changed() {
                continue;
            }
            let saving = Instant::now();
            updated.save(&self.project.path).map_err(|e| {
                Problem::unavailable(format!(
                    "the documents were not learned: cannot write the model file: {e}"
                ))
            })?;
            notes.push(format!(
                "model written in {:.2}s",
                saving.elapsed().as_secs_f64()
            ));
            let identity = FileIdentity::of(&self.project.path);
            self.known = identity;
            let loaded = Loaded::with_model(updated, identity, Some(&current.suggester))
                .map_err(|e| Problem::internal(format!("cannot serve the learned model: {e}")))?;
            self.project.replace(loaded);
            self.project
                .learned_documents
                .fetch_add(documents.len() as u64, Ordering::Relaxed);
            let mut line = format!(
                "dtag serve: project '{}': learned {} documents in {:.2}s",
                self.project.id,
                documents.len(),
                started.elapsed().as_secs_f64()
            );
            for note in notes {
                line.push_str("; ");
                line.push_str(&note);
            }
            self.log.line(line);
            return Ok(documents.len());
        }
        Err(Problem::unavailable(
            "the model file kept changing while the documents were learned; retry later",
        ))
    }
}

/// The update of `current`'s model with `documents`, as `dtag learn` makes it (the model's
/// stored thesaurus names the subjects; the model's own C; `holdout` checks it), and what
/// deserves a note in the log.
fn learn_on(
    current: &Loaded,
    documents: &[&LearnDocument],
    holdout: f64,
) -> Result<(crate::model::Model, Vec<String>), Problem> {
    let model = current.suggester.model();
    let source: Arc<str> = Arc::from("learn request");
    let raw = RawCorpus {
        documents: documents
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let origin = Origin {
                    source: source.clone(),
                    line: i + 1,
                };
                RawDocument {
                    text: d.text.clone(),
                    subjects: d
                        .subjects
                        .iter()
                        .map(|s| subject(s.uri.as_deref(), s.label.as_deref(), origin.clone()))
                        .collect(),
                    origin,
                }
            })
            .collect(),
        ..RawCorpus::default()
    };
    let thesaurus = model.stored_thesaurus();
    let (corpus, _resolution) = formats::resolve(raw, thesaurus.as_ref(), false)
        .map_err(|e| Problem::bad_request(format!("cannot name the subjects: {e}")))?;
    let params = LearnParams {
        holdout,
        ..LearnParams::for_model(model)
    }
    .check()
    .map_err(|e| Problem::internal(format!("learning settings: {e}")))?;
    let (updated, report) = params
        .learn_with_analyzer(
            model,
            current.suggester.analyzer(),
            &corpus,
            None,
            &NoProgress,
        )
        .map_err(|e| Problem::unavailable(format!("the documents were not learned: {e}")))?;
    let stages: Vec<String> = report
        .seconds
        .iter()
        .map(|(stage, s)| format!("{stage} {s:.2}s"))
        .collect();
    let mut notes = vec![format!("update: {}", stages.join(", "))];
    if !report.descriptors_added.is_empty() {
        notes.push(format!(
            "new descriptors: {}",
            report.descriptors_added.join(", ")
        ));
    }
    if let Some(check) = report.holdout_check.as_ref().filter(|c| c.worse) {
        notes.push(format!(
            "warning: the update made the model worse: {}",
            check.describe()
        ));
    }
    if report.coverage.unrepresentative {
        notes.push(format!(
            "warning: the documents are not a sample of what the model was trained on: {}",
            report.coverage.describe()
        ));
    }
    if let Some(dropped) = &report.ensemble_dropped {
        notes.push(format!("note: {dropped}"));
    }
    Ok((updated, notes))
}

/// A subject as the corpus readers give it. A dtag descriptor URI (`urn:dtag:descriptor:…`,
/// what this server sends for descriptors without a concept) names its label.
fn subject(uri: Option<&str>, label: Option<&str>, origin: Origin) -> Subject {
    if let Some(own) = uri.and_then(label_of_descriptor_uri) {
        return Subject {
            uri: None,
            label: Some(own),
            origin,
        };
    }
    Subject {
        uri: uri.map(|u| crate::thesaurus::strip_angle_brackets(u).to_string()),
        label: label.map(str::to_string),
        origin,
    }
}

/// Whether `path` can be written by the server (checked at start with `--learn`, so a
/// read-only model is an error then, not at the first learn request).
pub fn check_writable(path: &Path) -> crate::error::Result<()> {
    crate::io_guard::OutputGuard::new()
        .binary_file("--learn", path)
        .map(|_| ())
}
