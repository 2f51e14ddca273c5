//! Completion of descriptor labels for the web page's "add a descriptor" box
//! (`GET /v1/projects/{id}/complete?q=…`): every label of every concept the model's thesaurus
//! knows, in any of its languages, preferred and alternative, plus the model's descriptors
//! that have no concept.
//!
//! *How it stays fast:* the folded labels ([`normalize_label`]) are laid end to end in one
//! string, separated by a byte no label holds, so one substring search over it (a few MB for
//! YSO's 27,784 concepts) finds every label containing the query; a match's label is found by
//! a binary search over the labels' start offsets. Each concept keeps its best match
//! (the whole label, then a prefix, then the start of a word, then anywhere; preferred labels
//! before alternative ones; shorter labels first), and only the best `limit` are described.
//! The index is built once per served model, on first use.

use serde::Serialize;

use crate::formats::catalogue::descriptor_uri;
use crate::model::Model;
use crate::thesaurus::{normalize_label, Thesaurus};

/// Queries longer than this (in characters) are refused: no label needs more to be found.
pub const MAX_QUERY_CHARS: usize = 100;
/// At most this many completions are returned.
pub const MAX_COMPLETIONS: usize = 50;
/// Completions returned when the request does not say.
pub const DEFAULT_COMPLETIONS: usize = 10;

/// Separates labels in the haystack; [`normalize_label`] never leaves a line break.
const SEPARATOR: char = '\n';

/// One concept (or plain descriptor) that can be added.
#[derive(Debug, Clone)]
struct Entry {
    /// The name the model gives its descriptor (what learning will name it).
    descriptor: String,
    uri: String,
    /// Preferred labels, `(primary language, label)`.
    pref: Vec<(String, String)>,
    /// The model has a descriptor of this name already.
    known: bool,
}

/// The labels of a model's thesaurus, ready to be searched.
#[derive(Debug)]
pub struct LabelIndex {
    entries: Vec<Entry>,
    /// Folded labels, each followed by [`SEPARATOR`].
    haystack: String,
    /// Per label: its start in `haystack`, its entry, whether it is a preferred label, and
    /// the label as written.
    starts: Vec<u32>,
    owners: Vec<u32>,
    preferred: Vec<bool>,
    written: Vec<String>,
}

/// A completion, as the page shows and adds it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Completion {
    pub uri: String,
    /// The descriptor's name in the model (the `%%%` header's name).
    pub descriptor: String,
    /// Its preferred label in the language asked for, else the descriptor's name.
    pub label: String,
    /// Its English preferred label, if it has one.
    pub label_en: Option<String>,
    /// The label the query matched, as written.
    pub matched: String,
    /// Whether the model knows the descriptor already (else learning adds it).
    pub known: bool,
}

impl LabelIndex {
    /// The index of `model`'s whole thesaurus (the one its training memory keeps, else its
    /// descriptors' concepts) and of its descriptors without a concept.
    pub fn of_model(model: &Model) -> LabelIndex {
        LabelIndex::of_thesaurus(model.full_thesaurus().as_ref(), &model.descriptors)
    }

    /// The index of every non-group concept of `thesaurus` and of the `descriptors` it lacks
    /// (a model's descriptor names: which concepts are known).
    pub fn of_thesaurus(thesaurus: Option<&Thesaurus>, descriptors: &[String]) -> LabelIndex {
        let known: rustc_hash::FxHashSet<&str> = descriptors.iter().map(String::as_str).collect();
        let mut index = LabelIndex {
            entries: Vec::new(),
            haystack: String::new(),
            starts: Vec::new(),
            owners: Vec::new(),
            preferred: Vec::new(),
            written: Vec::new(),
        };
        let mut named: rustc_hash::FxHashSet<String> = Default::default();
        if let Some(thesaurus) = thesaurus {
            for concept in thesaurus.concepts().iter().filter(|c| !c.is_group) {
                let descriptor = concept.descriptor_name().to_string();
                let entry = index.entries.len() as u32;
                let pref: Vec<(String, String)> = concept
                    .pref_labels
                    .iter()
                    .map(|(tag, label)| (primary(tag), label.clone()))
                    .collect();
                for (_, label) in &concept.pref_labels {
                    index.add_label(entry, label, true);
                }
                for (_, label) in &concept.alt_labels {
                    index.add_label(entry, label, false);
                }
                index.entries.push(Entry {
                    known: known.contains(descriptor.as_str()),
                    uri: concept.uri.clone(),
                    pref,
                    descriptor: descriptor.clone(),
                });
                named.insert(descriptor);
            }
        }
        for name in descriptors {
            if named.contains(name) {
                continue;
            }
            let entry = index.entries.len() as u32;
            index.add_label(entry, name, true);
            index.entries.push(Entry {
                descriptor: name.clone(),
                uri: descriptor_uri(name),
                pref: Vec::new(),
                known: true,
            });
        }
        index
    }

    fn add_label(&mut self, entry: u32, label: &str, preferred: bool) {
        let folded = normalize_label(label);
        if folded.is_empty() || self.haystack.len() + folded.len() + 1 > u32::MAX as usize {
            return;
        }
        self.starts.push(self.haystack.len() as u32);
        self.haystack.push_str(&folded);
        self.haystack.push(SEPARATOR);
        self.owners.push(entry);
        self.preferred.push(preferred);
        self.written.push(label.to_string());
    }

    /// Concepts (and plain descriptors) in the index.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Labels in the index.
    pub fn labels(&self) -> usize {
        self.starts.len()
    }

    /// The best `limit` completions of `query`, labelled in `language`. A URI (or the start
    /// of one) matches the concepts whose URI starts with it.
    pub fn complete(&self, query: &str, limit: usize, language: &str) -> Vec<Completion> {
        let folded = normalize_label(query);
        if folded.is_empty() || limit == 0 {
            return Vec::new();
        }
        // Rank per entry: (how it matched, alternative label, label length, label).
        let mut best: rustc_hash::FxHashMap<u32, (u8, bool, usize, u32)> = Default::default();
        let mut consider = |entry: u32, rank: (u8, bool, usize, u32)| {
            best.entry(entry)
                .and_modify(|r| {
                    if rank < *r {
                        *r = rank
                    }
                })
                .or_insert(rank);
        };
        if query.trim_start().starts_with("http") || query.trim_start().starts_with("urn:") {
            let uri = query.trim();
            for (i, e) in self.entries.iter().enumerate() {
                if e.uri.starts_with(uri) {
                    consider(
                        i as u32,
                        (u8::from(e.uri != uri), false, e.uri.len(), u32::MAX),
                    );
                }
            }
        } else {
            for (at, _) in self.haystack.match_indices(folded.as_str()) {
                let label = self.starts.partition_point(|&s| s as usize <= at) - 1;
                let start = self.starts[label] as usize;
                let end = self.haystack[start..]
                    .find(SEPARATOR)
                    .map_or(self.haystack.len(), |n| start + n);
                if at + folded.len() > end {
                    continue; // across a separator: cannot happen, the query has none
                }
                let how = if at == start && at + folded.len() == end {
                    0
                } else if at == start {
                    1
                } else if self.haystack[..at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| !c.is_alphanumeric())
                {
                    2
                } else {
                    3
                };
                consider(
                    self.owners[label],
                    (how, !self.preferred[label], end - start, label as u32),
                );
            }
        }
        let mut ranked: Vec<(u32, (u8, bool, usize, u32))> = best.into_iter().collect();
        ranked.sort_by(|a, b| {
            a.1.cmp(&b.1).then_with(|| {
                self.entries[a.0 as usize]
                    .uri
                    .cmp(&self.entries[b.0 as usize].uri)
            })
        });
        ranked.truncate(limit);
        ranked
            .into_iter()
            .map(|(entry, (_, _, _, label))| {
                let e = &self.entries[entry as usize];
                let pref = |lang: &str| {
                    e.pref
                        .iter()
                        .find(|(l, _)| l == lang)
                        .map(|(_, label)| label.clone())
                };
                Completion {
                    uri: e.uri.clone(),
                    descriptor: e.descriptor.clone(),
                    label: pref(language).unwrap_or_else(|| e.descriptor.clone()),
                    label_en: pref("en"),
                    matched: self
                        .written
                        .get(label as usize)
                        .cloned()
                        .unwrap_or_else(|| e.uri.clone()),
                    known: e.known,
                }
            })
            .collect()
    }
}

/// Primary subtag of a language tag, lowercased (`zh-Hans` → `zh`).
fn primary(tag: &str) -> String {
    tag.split('-').next().unwrap_or("").to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thesaurus::Concept;

    fn index() -> LabelIndex {
        let concept = |id: &str, en: &str, zh: &str, alt: &[&str]| Concept {
            id: id.into(),
            uri: format!("http://metadata.un.org/thesaurus/{id}"),
            pref_labels: vec![("en".into(), en.into()), ("zh".into(), zh.into())],
            alt_labels: alt.iter().map(|a| ("en".into(), a.to_string())).collect(),
            groups: Vec::new(),
            is_group: false,
        };
        let thesaurus = Thesaurus::new(
            "t".into(),
            vec![
                concept("1000952", "CHILDREN", "儿童", &["KIDS"]),
                concept("1000953", "CHILD SOLDIERS", "儿童兵", &[]),
                concept("1000954", "STREET CHILDREN", "流浪儿童", &[]),
                concept("1000955", "CHILDBIRTH", "分娩", &[]),
            ],
            Default::default(),
        );
        let known: Vec<String> = ["CHILDREN", "CHILD SOLDIERS", "STREET CHILDREN"]
            .map(String::from)
            .to_vec();
        LabelIndex::of_thesaurus(Some(&thesaurus), &known)
    }

    #[test]
    fn whole_labels_then_prefixes_then_words_then_anywhere() {
        let index = index();
        let names = |q: &str| -> Vec<String> {
            index
                .complete(q, 10, "zh")
                .into_iter()
                .map(|c| c.descriptor)
                .collect()
        };
        assert_eq!(
            names("儿童"),
            ["CHILDREN", "CHILD SOLDIERS", "STREET CHILDREN"]
        );
        assert_eq!(
            names("child"),
            [
                "CHILDREN",
                "CHILDBIRTH",
                "CHILD SOLDIERS",
                "STREET CHILDREN"
            ]
        );
        assert_eq!(names("children"), ["CHILDREN", "STREET CHILDREN"]);
        assert_eq!(names("ldre"), ["CHILDREN", "STREET CHILDREN"]);
        assert_eq!(names("kids"), ["CHILDREN"]);
        assert_eq!(
            names("http://metadata.un.org/thesaurus/1000953"),
            ["CHILD SOLDIERS"]
        );
        assert!(names("  ").is_empty());
        assert!(names("xyz").is_empty());
        let first = &index.complete("儿童", 1, "zh")[0];
        assert_eq!(first.label, "儿童");
        assert_eq!(first.label_en.as_deref(), Some("CHILDREN"));
        assert_eq!(first.uri, "http://metadata.un.org/thesaurus/1000952");
        assert!(first.known);
        assert!(!index.complete("birth", 1, "en")[0].known);
        assert_eq!(index.complete("child", 2, "en").len(), 2);
    }
}
