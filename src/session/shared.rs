//! What sessions opened together share, being immutable: analyzers and models, each built or
//! read once (the server's projects; see [`super::Session::open_shared`]).

use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use crate::analysis::{Analyzer, AnalyzerConfig};
use crate::error::Result;
use crate::model::Model;

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
    /// When the file was last modified.
    pub fn modified(&self) -> Option<SystemTime> {
        self.modified
    }

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
