//! `dtag` suggests thesaurus descriptors for documents.
//!
//! The pipeline, one module per stage:
//! [`corpus`] (labelled documents) → [`analysis`] (tokens) → [`features`] (TF-IDF rows in
//! [`sparse`] form) → [`model`] (one-vs-rest logistic regression) → [`suggest`] (ranked
//! descriptors) → [`eval`] (precision and recall). [`train`] runs the first four stages;
//! [`tune`] cross-validates to calibrate scores and learn per-descriptor thresholds, [`cv`]
//! cross-validates the whole pipeline, and [`report`] writes evaluations for people.

pub mod analysis;
pub mod corpus;
pub mod cv;
pub mod error;
pub mod eval;
pub mod features;
pub mod model;
pub mod report;
pub mod sparse;
pub mod suggest;
pub mod train;
pub mod tune;

pub use error::{Error, Result};
