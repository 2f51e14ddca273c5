//! `dtag` suggests thesaurus descriptors for documents.
//!
//! The pipeline, one module per stage:
//! [`corpus`] (labelled documents) → [`analysis`] (tokens) → [`features`] (TF-IDF rows in
//! [`sparse`] form) → [`model`] (one-vs-rest logistic regression) → [`suggest`] (ranked
//! descriptors) → [`eval`] (precision and recall). [`train`] runs the first four stages;
//! [`synth`] writes synthetic corpora for measuring cost at scale.
//! [`tune`] cross-validates to calibrate scores and learn per-descriptor thresholds, [`cv`]
//! cross-validates the whole pipeline, and [`report`] writes evaluations for people.
//! [`io_guard`] keeps every file read bounded and every file written safe (atomic, never an
//! input). [`serve`] answers suggestion requests over HTTP (Annif's REST API and a web page).

pub mod analysis;
pub mod corpus;
pub mod cv;
pub mod ensemble;
pub mod error;
pub mod eval;
pub mod explain;
pub mod features;
pub mod formats;
#[doc(hidden)]
pub mod fuzzing;
pub mod io_guard;
pub mod learn;
pub mod metrics;
pub mod model;
pub mod report;
pub mod serve;
pub mod sparse;
pub mod suggest;
pub mod synth;
pub mod thesaurus;
pub mod train;
pub mod tune;

pub use error::{Error, Result};
