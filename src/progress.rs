//! How long work reports how far it has got, without the library knowing how (or whether) it
//! is drawn: the command line draws bars through these traits, a library user may log, and
//! [`NoProgress`] shows nothing.

/// Starts a [`Stage`] for each long step of a run (analysing, training, cross-validating).
pub trait Progress: Sync {
    /// A stage named `name` of `len` steps.
    fn stage(&self, name: &str, len: u64) -> Box<dyn Stage>;
}

/// One stage under way; shared by the threads that do its steps.
pub trait Stage: Send + Sync {
    /// `steps` more steps are done.
    fn advance(&self, steps: u64);
    /// The stage is over (whatever it drew can go).
    fn finish(&self);
}

/// Reports nothing: the default for library callers and for inner runs (folds) whose outer
/// stage is already reported.
pub struct NoProgress;

impl Progress for NoProgress {
    fn stage(&self, _name: &str, _len: u64) -> Box<dyn Stage> {
        Box::new(NoProgress)
    }
}

impl Stage for NoProgress {
    fn advance(&self, _steps: u64) {}
    fn finish(&self) {}
}
