//! How long the stages of a run took: one recorder, passed to each step of a run, instead of
//! maps of seconds threaded by hand.
//!
//! A [`Stages`] holds seconds per stage name, in the names' order (so the JSON of every
//! report and the closing line of every command list them alike); a stage timed twice adds
//! up (tuning after training, then after the ensemble). It serialises as the plain map of
//! names to seconds the reports have always printed, and a shard's part stores it the same
//! way.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Seconds per stage of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Stages(BTreeMap<String, f64>);

impl Stages {
    pub fn new() -> Stages {
        Stages::default()
    }

    /// Runs `work`, adding the time it took to stage `name`.
    pub fn time<T>(&mut self, name: &str, work: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let value = work();
        self.add(name, started.elapsed().as_secs_f64());
        value
    }

    /// Adds the time since `started` to stage `name` (for work that cannot be a closure, such
    /// as a whole command from its first line).
    pub fn since(&mut self, name: &str, started: Instant) {
        self.add(name, started.elapsed().as_secs_f64());
    }

    /// Adds `seconds` to stage `name`.
    pub fn add(&mut self, name: &str, seconds: f64) {
        *self.0.entry(name.to_string()).or_insert(0.0) += seconds;
    }

    /// Forgets stage `name` (a step's own `total`, which the whole command's replaces).
    pub fn remove(&mut self, name: &str) {
        self.0.remove(name);
    }

    /// The seconds of stage `name`, if it was timed.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.get(name).copied()
    }

    /// Adds every stage of `other` to this one's.
    pub fn merge(&mut self, other: &Stages) {
        for (name, &seconds) in &other.0 {
            self.add(name, seconds);
        }
    }

    /// The stages and their seconds, in the names' order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0
            .iter()
            .map(|(name, &seconds)| (name.as_str(), seconds))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_add_up_merge_and_serialise_as_a_map() {
        let mut stages = Stages::new();
        assert_eq!(stages.time("training", || 7), 7);
        stages.add("tuning", 1.0);
        stages.add("tuning", 0.5);
        assert_eq!(stages.get("tuning"), Some(1.5));
        let mut other = Stages::new();
        other.add("tuning", 1.0);
        other.add("analysis", 2.0);
        stages.merge(&other);
        let names: Vec<&str> = stages.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["analysis", "training", "tuning"]);
        let json = serde_json::to_value(&stages).unwrap();
        assert_eq!(json["tuning"], 2.5);
        assert_eq!(json["analysis"], 2.0);
        // The same bytes as the map it replaces, in a part file.
        let map: BTreeMap<String, f64> = serde_json::from_value(json).unwrap();
        let again: Stages = postcard::from_bytes(&postcard::to_allocvec(&map).unwrap()).unwrap();
        assert_eq!(again, stages);
    }
}
