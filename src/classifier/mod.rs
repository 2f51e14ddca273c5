//! What scores descriptors for a TF-IDF row: the sparse binary logistic solver
//! ([`logistic`]), one model per descriptor ([`ovr`]), and the [`ensemble`] that fuses them
//! with nearest neighbours and the thesaurus's labels found in the text.

pub mod ensemble;
pub mod logistic;
pub mod ovr;

pub use logistic::{BinaryLogistic, LogisticParams, ValidLogisticParams};
pub use ovr::{
    LabelSets, LabelWeights, OneVsRest, OneVsRestParams, SolvedLabel, ValidOneVsRestParams,
};
