//! `dtag` suggests thesaurus descriptors for documents.
//!
//! The pipeline, one module per stage, each using only the stages before it:
//! [`corpus`] and [`formats`] (labelled documents in every format) → [`analysis`] (tokens) →
//! [`features`] (TF-IDF rows, sparse matrices) → [`classifier`] (the sparse logistic solver,
//! one-vs-rest, and the ensemble members: neighbours, label lexicon, fusion) → [`calibrate`]
//! (out-of-fold scores, Platt scaling, thresholds) → [`model`] (the trained artifact and its
//! file) → [`predict`] (the one ranking and decision path: suggestions and explanations) →
//! [`train`] (the whole training run, and updates of a model with new documents) →
//! [`evaluate`] (figures, reports, roll-ups, cross-validation).
//! Beside the stages: [`thesaurus`] (vocabularies), [`metrics`] (ranking measures),
//! [`progress`] (how long work reports itself), [`projects`] (named settings from a
//! projects file), [`session`] (the application layer: a project opened, and the suggest,
//! explain, evaluate, learn and index of every command and of the server), [`stages`] (seconds per stage of a run), [`io_guard`] (bounded reads, atomic writes
//! that never replace an input), [`digest`] (fingerprints of documents and corpora), [`clock`] (RFC 3339 times), [`error`], [`synth`] (synthetic corpora) and, with the `serve`
//! feature, [`serve`] (Annif's REST API and a web page over HTTP).

pub mod analysis;
pub mod calibrate;
pub mod classifier;
pub mod clock;
pub mod corpus;
pub mod digest;
pub mod error;
pub mod evaluate;
pub mod features;
pub mod formats;
#[doc(hidden)]
pub mod fuzzing;
pub mod io_guard;
pub mod metrics;
pub mod model;
pub mod predict;
pub mod progress;
pub mod projects;
#[cfg(feature = "serve")]
pub mod serve;
pub mod session;
pub mod stages;
pub mod synth;
pub mod thesaurus;
pub mod train;

pub use error::{Error, Result};
