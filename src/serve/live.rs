//! Keeping each project's model current: learning while serving, and reading the model file
//! again when it is replaced on disk.
//!
//! Every project has one worker thread, which alone replaces the project's model. Learn
//! requests reach it through a bounded queue (a full queue is a 503 at once, never a wait);
//! the worker takes every request waiting, refuses (400) each request with a document that
//! cannot be learned, and teaches the documents of the others in one update, through the
//! path `dtag learn` takes ([`crate::train::journal::teach`]): the documents are appended to
//! the learning log (`--learn-log`) and synced, the update runs training's stages over the
//! model's documents and the new ones, the held-out check decides (an update it finds worse
//! is kept out of the model and counted in `/healthz`), the updated model is written over the
//! model file atomically ([`crate::io_guard::write_atomically`], through `Model::save`), and
//! only then served and the requests answered. At start, batches of the log that the model
//! file lacks (a crash between the log and the model) are applied again. Suggestions never wait for it: they score the model that was
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
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::log::Logger;
use super::problem::Problem;
use super::projects::{label_of_descriptor_uri, FileIdentity, Loaded, Project};
use super::request::{LearnDocument, LearnSubject};
use crate::corpus::Origin;
use crate::formats::{self, RawCorpus, RawDocument, Subject};
use crate::progress::NoProgress;
use crate::session::Teaching;
use crate::train::journal::{self, Journal, Lesson, LoggedSubject, Replay, Teacher, Verdict};
use crate::train::learn::LearnParams;

/// How often the worker looks at the model file.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// How the server learns.
#[derive(Debug, Clone)]
pub struct LearnSettings {
    /// `POST …/learn` is allowed (`--learn`); otherwise it is a 403.
    pub enabled: bool,
    /// Learn requests waiting at most, per project (`--learn-queue`); more get 503.
    pub queue: usize,
    /// Share of each update's documents held out to check it, as `dtag learn --holdout`
    /// (0: no check; the update itself always uses every document).
    pub holdout: f64,
    /// The learning log every project's documents are appended to (`--learn-log`).
    pub journal: Option<Arc<Mutex<Journal>>>,
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
    teacher: Teacher,
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
        let queue = settings.queue;
        let mut state = WorkerState {
            project: project.clone(),
            settings,
            log,
            reload_wanted: reload_wanted.clone(),
            // What is known of the file: that of the model loaded at start, or of a version
            // that could not be read (tried again only once it changes).
            known: project.current().identity,
        };
        state.recover();
        std::thread::Builder::new()
            .name(format!("dtag-model-{}", project.id))
            .spawn(move || state.run(receiver))?;
        Ok(Worker {
            sender,
            project,
            reload_wanted,
            queue,
        })
    }

    /// Queues `documents` for learning; the answer comes once they are learned and written
    /// (the number learned), or why not. A full queue is refused at once with a 503.
    pub async fn learn(
        &self,
        documents: Vec<LearnDocument>,
        client: Option<String>,
        indexer: Option<String>,
    ) -> Result<usize, Problem> {
        let (done, answer) = tokio::sync::oneshot::channel();
        self.project.learn_queued.fetch_add(1, Ordering::Relaxed);
        let teacher = Teacher { client, indexer };
        match self.sender.try_send(Message::Learn(LearnJob {
            documents,
            teacher,
            done,
        })) {
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
        let loaded = current.read_again();
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

    /// Applies the batches of the learning log the model file lacks (a crash after the log
    /// was written and before the model was), as they were decided or as they would have
    /// been, and logs the verdicts the log lacks.
    fn recover(&mut self) {
        let Some(journal) = self.settings.journal.clone() else {
            return;
        };
        let mut journal = journal.lock().unwrap_or_else(|e| e.into_inner());
        let entries = match journal::read(journal.path()) {
            Ok(entries) => entries,
            Err(e) => {
                self.log.line(format!(
                    "dtag serve: project '{}': cannot read the learning log: {e}",
                    self.project.id
                ));
                return;
            }
        };
        let current = self.project.current();
        let model = current.session.model();
        let after = model.memory.as_ref().map_or(0, |m| m.log_batch);
        if journal::batches(&entries, &self.project.id, after).is_empty() {
            return;
        }
        let params = match self.params() {
            Ok(p) => p,
            Err(problem) => {
                self.log.line(format!("dtag serve: {}", problem.detail));
                return;
            }
        };
        let replay = Replay {
            params: &params,
            analyzer: current.session.suggester().analyzer(),
            project: &self.project.id,
            source: "learning log",
        };
        let outcome = replay
            .run(model.clone(), &entries, &NoProgress)
            .and_then(|(model, done)| {
                if done.batches_applied > 0 {
                    model.save(&self.project.path)?;
                }
                Ok((model, done))
            });
        match outcome {
            Ok((model, done)) => {
                for &(batch, verdict) in &done.undecided {
                    let _ = journal.append(&[journal::Entry::Batch(journal::LoggedBatch {
                        time: crate::clock::rfc3339_utc(std::time::SystemTime::now())
                            .unwrap_or_default(),
                        project: self.project.id.clone(),
                        batch,
                        documents: 0,
                        verdict,
                        note: Some("decided when the server started again".into()),
                    })]);
                }
                if done.batches_applied > 0 {
                    let identity = FileIdentity::of(&self.project.path);
                    self.known = identity;
                    match current.followed_by(model, identity) {
                        Ok(loaded) => self.project.replace(loaded),
                        Err(e) => self.log.line(format!("dtag serve: {e}")),
                    }
                }
                self.log.line(format!(
                    "dtag serve: project '{}': applied {} batch(es) of the learning log the \
                     model file lacked ({} kept out)",
                    self.project.id, done.batches_applied, done.batches_kept_out
                ));
            }
            Err(e) => self.log.line(format!(
                "dtag serve: project '{}': cannot apply the learning log's later batches: {e}",
                self.project.id
            )),
        }
    }

    fn params(&self) -> Result<crate::train::learn::ValidLearnParams, Problem> {
        LearnParams {
            holdout: self.settings.holdout,
            ..LearnParams::default()
        }
        .check()
        .map_err(|e| Problem::internal(format!("learning settings: {e}")))
    }

    /// Learns the documents of `jobs` in one update and answers each. Should it fail (a
    /// document that cannot be learned is refused before anything is logged), each request
    /// is learned alone, so one request's failure is not another's: the documents are
    /// analysed once when all is well, and again only for a batch that was refused.
    fn learn(&mut self, jobs: Vec<LearnJob>) {
        let current = self.project.current();
        let mut accepted: Vec<(LearnJob, Vec<Lesson>)> = Vec::new();
        for job in jobs {
            match lessons(&current, &job.documents, &job.teacher) {
                Ok(lessons) => accepted.push((job, lessons)),
                Err(problem) => self.answer(job, Err(problem)),
            }
        }
        if accepted.is_empty() {
            return;
        }
        let all: Vec<Lesson> = accepted.iter().flat_map(|(_, l)| l.clone()).collect();
        match self.update(&all) {
            Ok(_) => {
                for (job, _) in accepted {
                    let n = job.documents.len();
                    self.answer(job, Ok(n));
                }
            }
            Err(problem) if accepted.len() == 1 => {
                let (job, _) = accepted.into_iter().next().expect("one job");
                self.answer(job, Err(problem));
            }
            Err(_) => {
                for (job, lessons) in accepted {
                    let outcome = self.update(&lessons).map(|_| job.documents.len());
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

    /// Teaches `lessons` to the model served, writes it over the model file and serves it.
    fn update(&mut self, lessons: &[Lesson]) -> Result<usize, Problem> {
        if lessons.is_empty() {
            return Ok(0);
        }
        let started = Instant::now();
        let params = self.params()?;
        // A replacement on disk wins over the model in memory: learn on it. Should the file
        // change while learning, the update is made again on the new file.
        for _attempt in 0..3 {
            self.reload_if_needed();
            let current = self.project.current();
            let path = self.project.path.clone();
            let journal = self.settings.journal.clone();
            let mut guard = journal
                .as_ref()
                .map(|j| j.lock().unwrap_or_else(|e| e.into_inner()));
            let mut saved_at = None;
            // Set when the file was replaced on disk while learning: the update is made again
            // on the replacement rather than written over it.
            let mut replaced = false;
            let file_changed = || FileIdentity::of(&path) != self.known;
            let taught = current.session.learn(
                lessons,
                Teaching {
                    params: &params,
                    journal: guard.as_deref_mut(),
                    accept_worse: false,
                    progress: &NoProgress,
                },
                &mut |model| {
                    if file_changed() {
                        replaced = true;
                        return Err(crate::error::Error::Training(
                            "the model file changed while learning".into(),
                        ));
                    }
                    let saving = Instant::now();
                    model.save(&path)?;
                    saved_at = Some(saving.elapsed().as_secs_f64());
                    Ok(())
                },
            );
            drop(guard);
            let taught = match taught {
                Ok(t) => t,
                Err(_) if replaced => continue,
                Err(crate::error::Error::Corpus(problems)) => {
                    return Err(Problem::bad_request(format!(
                        "the documents were not learned: {}",
                        crate::error::Error::Corpus(problems)
                    )))
                }
                Err(e) => {
                    return Err(Problem::unavailable(format!(
                        "the documents were not learned: {e}"
                    )))
                }
            };
            let report = &taught.report;
            let mut line = format!(
                "dtag serve: project '{}': {} documents ({} new) in {:.2}s{}: ",
                self.project.id,
                lessons.len(),
                report.learned,
                started.elapsed().as_secs_f64(),
                taught_by(lessons)
            );
            match (taught.verdict, taught.model) {
                (Verdict::Applied, Some(updated)) => {
                    let identity = FileIdentity::of(&self.project.path);
                    self.known = identity;
                    let loaded = current.followed_by(updated, identity).map_err(|e| {
                        Problem::internal(format!("cannot serve the learned model: {e}"))
                    })?;
                    self.project.replace(loaded);
                    self.project
                        .learned_documents
                        .fetch_add(report.learned as u64, Ordering::Relaxed);
                    line.push_str(&format!(
                        "learned, model written in {:.2}s",
                        saved_at.unwrap_or(0.0)
                    ));
                }
                (Verdict::KeptOut, _) => {
                    self.project
                        .kept_out_updates
                        .fetch_add(1, Ordering::Relaxed);
                    line.push_str(
                        "kept out: the held-out check found the update worse (the documents \
                         stay in the learning log for a later retrain)",
                    );
                }
                _ => line.push_str("nothing new: every document had been learned before"),
            }
            for note in notes(report) {
                line.push_str("; ");
                line.push_str(&note);
            }
            self.log.line(line);
            return Ok(lessons.len());
        }
        Err(Problem::unavailable(
            "the model file kept changing while the documents were learned; retry later",
        ))
    }
}

/// `, taught by indexer NAME (client ADDRESS)` for each indexer of `lessons` (none without
/// `--learn-tokens`).
fn taught_by(lessons: &[Lesson]) -> String {
    let mut teachers: Vec<&Teacher> = Vec::new();
    for l in lessons {
        if l.teacher.indexer.is_some() && !teachers.contains(&&l.teacher) {
            teachers.push(&l.teacher);
        }
    }
    teachers
        .iter()
        .map(|t| {
            format!(
                ", taught by indexer {} (client {})",
                t.indexer.as_deref().unwrap_or_default(),
                t.client.as_deref().unwrap_or("unknown")
            )
        })
        .collect()
}

/// What of an update deserves a note in the log.
fn notes(report: &crate::train::learn::LearnReport) -> Vec<String> {
    let stages: Vec<String> = report
        .seconds
        .iter()
        .map(|(stage, s)| format!("{stage} {s:.2}s"))
        .collect();
    let mut notes = vec![format!("update: {}", stages.join(", "))];
    if report.already_learned > 0 {
        notes.push(format!(
            "{} document(s) had been learned before and count once",
            report.already_learned
        ));
    }
    if !report.descriptors_added.is_empty() {
        notes.push(format!(
            "new descriptors: {}",
            report.descriptors_added.join(", ")
        ));
    }
    match (&report.holdout_check, &report.holdout_skipped) {
        (Some(check), _) => notes.push(format!("held-out check: {}", check.describe())),
        (None, Some(why)) => notes.push(format!("no held-out check: {why}")),
        _ => {}
    }
    if let Some(skipped) = report
        .training
        .as_ref()
        .and_then(|t| t.tuning.skipped.as_ref())
    {
        notes.push(format!("not tuned: {skipped}"));
    }
    notes
}

/// The documents of a request as lessons: subjects named as the model names them, with the
/// URI and label each was sent with.
fn lessons(
    current: &Loaded,
    documents: &[LearnDocument],
    teacher: &Teacher,
) -> Result<Vec<Lesson>, Problem> {
    let model = current.session.model();
    let source: Arc<str> = Arc::from("learn request document");
    let origin = |i: usize| Origin {
        source: source.clone(),
        line: i + 1,
    };
    // One subject per resolved document, so that every subject's name is known by position.
    let raw = RawCorpus {
        documents: documents
            .iter()
            .enumerate()
            .flat_map(|(i, d)| d.subjects.iter().chain(&d.rejected).map(move |s| (i, s)))
            .map(|(i, s)| RawDocument {
                text: String::new(),
                subjects: vec![subject(s.uri.as_deref(), s.label.as_deref(), origin(i))],
                origin: origin(i),
            })
            .collect(),
        ..RawCorpus::default()
    };
    let thesaurus = model.thesaurus_or_stored(None);
    let (named, _resolution) = formats::resolve(raw, thesaurus.as_deref(), false)
        .map_err(|e| Problem::bad_request(format!("cannot name the subjects: {e}")))?;
    let mut names = named.documents.into_iter().map(|d| d.descriptors);
    Ok(documents
        .iter()
        .enumerate()
        .map(|(i, d)| {
            // Named in the order given: the document's subjects, then those it rejected.
            let mut name_all = |given: &[LearnSubject]| {
                let mut named: Vec<LoggedSubject> = Vec::with_capacity(given.len());
                for s in given {
                    let descriptor = names
                        .next()
                        .and_then(|n| n.into_iter().next())
                        .unwrap_or_default();
                    if named.iter().any(|k| k.descriptor == descriptor) {
                        continue;
                    }
                    named.push(LoggedSubject {
                        descriptor,
                        uri: s
                            .uri
                            .as_deref()
                            .filter(|u| label_of_descriptor_uri(u).is_none())
                            .map(|u| crate::thesaurus::strip_angle_brackets(u).to_string()),
                        label: s.label.clone(),
                    });
                }
                named
            };
            let subjects = name_all(&d.subjects);
            let mut rejected = name_all(&d.rejected);
            // A subject both given and rejected is given (the indexer's last word is the
            // subject list).
            rejected.retain(|r| !subjects.iter().any(|s| s.descriptor == r.descriptor));
            Lesson {
                text: d.text.clone(),
                subjects,
                rejected,
                origin: origin(i),
                teacher: teacher.clone(),
            }
        })
        .collect())
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
