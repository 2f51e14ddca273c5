//! `dtag` suggests thesaurus descriptors for documents.
//!
//! The pipeline, one module per stage:
//! [`corpus`] (labelled documents) → [`analysis`] (tokens) → [`features`] (TF-IDF rows in
//! [`sparse`] form) → [`model`] (one-vs-rest logistic regression) → [`suggest`] (ranked
//! descriptors) → [`eval`] (precision and recall). [`train`] runs the first four stages;
//! [`synth`] writes synthetic corpora for measuring cost at scale.

pub mod analysis;
pub mod corpus;
pub mod error;
pub mod eval;
pub mod explain;
pub mod features;
pub mod formats;
pub mod learn;
pub mod model;
pub mod sparse;
pub mod suggest;
pub mod synth;
pub mod thesaurus;
pub mod train;

pub use error::{Error, Result};
