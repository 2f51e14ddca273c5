//! `dtag` suggests thesaurus descriptors for documents.
//!
//! The pipeline, one module per stage:
//! [`corpus`] (labelled documents) → [`analysis`] (tokens) → [`features`] (TF-IDF rows in
//! [`sparse`] form) → [`model`] (one-vs-rest logistic regression) → [`suggest`] (ranked
//! descriptors) → [`eval`] (precision and recall). [`train`] runs the first four stages;
//! [`serve`] answers suggestion requests over HTTP (Annif's REST API and a web page).

pub mod analysis;
pub mod corpus;
pub mod error;
pub mod eval;
pub mod features;
#[doc(hidden)]
pub mod fuzzing;
pub mod model;
pub mod serve;
pub mod sparse;
pub mod suggest;
pub mod train;

pub use error::{Error, Result};
