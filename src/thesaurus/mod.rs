//! Thesaurus: concepts with URIs, labels in several languages, and their microthesaurus and
//! domain groups (the UNBIS Thesaurus layout).
//!
//! Two inputs are read: the UNBIS table (`concepts.tsv`, with `microthesauri.tsv` beside it when
//! present; see [`table`]) and SKOS in Turtle ([`skos`], on the parser in [`turtle`]). Corpus
//! descriptors are matched to concepts by URI or by English label, case-insensitively
//! ([`Thesaurus::lookup`]); a model keeps what it needs about its own descriptors in a
//! [`ConceptTable`], so suggestions show URIs and Chinese labels without the thesaurus file.

pub mod skos;
pub mod table;
pub mod turtle;
pub mod vocab;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::analysis::{is_cjk_ideograph, UserWord};
use crate::error::{Error, Result};

/// Level of a concept group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GroupLevel {
    Domain,
    Microthesaurus,
}

impl GroupLevel {
    pub fn name(self) -> &'static str {
        match self {
            GroupLevel::Domain => "domain",
            GroupLevel::Microthesaurus => "microthesaurus",
        }
    }
}

/// A domain or microthesaurus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Code as used in concept memberships (`010300`, or `01` for a domain).
    pub code: String,
    pub level: GroupLevel,
    pub label_en: Option<String>,
    pub label_zh: Option<String>,
    /// For a microthesaurus: the code of its domain, when known.
    pub domain: Option<String>,
}

/// One concept of the thesaurus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Concept {
    /// Short identifier (`1000099`), the last segment of the URI when the input has none.
    pub id: String,
    pub uri: String,
    /// Preferred labels by language tag as written (`en`, `zh`, `zh-Hans`).
    pub pref_labels: Vec<(String, String)>,
    /// Alternative labels ("used for" terms), `(language, label)`.
    pub alt_labels: Vec<(String, String)>,
    /// Codes of the groups (microthesauri, or domains) the concept belongs to.
    pub groups: Vec<String>,
    /// The concept stands for a group itself (UNBIS lists microthesauri as rows too).
    pub is_group: bool,
}

/// Primary subtag of a language tag, lowercased (`zh-Hans` → `zh`).
fn primary_language(tag: &str) -> String {
    tag.split('-').next().unwrap_or("").to_ascii_lowercase()
}

impl Concept {
    /// The first preferred label in a language (by primary subtag).
    pub fn pref_label(&self, lang: &str) -> Option<&str> {
        self.pref_labels
            .iter()
            .find(|(tag, _)| primary_language(tag) == lang)
            .map(|(_, label)| label.as_str())
    }

    /// Preferred then alternative labels in a language (by primary subtag) or untagged, with
    /// whether each is preferred: the labels a text in that language may use.
    pub fn labels_in<'a>(&'a self, lang: &'a str) -> impl Iterator<Item = (&'a str, bool)> + 'a {
        let pref = self.pref_labels.iter().map(|l| (l, true));
        let alt = self.alt_labels.iter().map(|l| (l, false));
        pref.chain(alt)
            .filter_map(move |((tag, label), preferred)| {
                let tag = primary_language(tag);
                (tag == lang || tag.is_empty()).then_some((label.as_str(), preferred))
            })
    }

    /// English preferred label, else an untagged one.
    pub fn label_en(&self) -> Option<&str> {
        self.pref_label("en").or_else(|| self.pref_label(""))
    }

    pub fn label_zh(&self) -> Option<&str> {
        self.pref_label("zh")
    }

    /// The name a descriptor of this concept has in corpora and models: the English
    /// preferred label, else any preferred label, else the URI.
    pub fn descriptor_name(&self) -> &str {
        self.label_en()
            .or_else(|| self.pref_labels.first().map(|(_, l)| l.as_str()))
            .unwrap_or(&self.uri)
    }
}

/// How a label matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchKind {
    Uri,
    PrefLabel,
    AltLabel,
}

/// A loaded thesaurus with its lookup indexes.
#[derive(Debug, Clone)]
pub struct Thesaurus {
    /// Where it was read from (shown in messages, stored in models).
    pub source: String,
    concepts: Vec<Concept>,
    groups: BTreeMap<String, Group>,
    by_uri: FxHashMap<String, usize>,
    /// Normalised label → (rank, concept). Lower ranks win; see [`Thesaurus::new`].
    by_label: FxHashMap<String, ((bool, MatchKind, usize), usize)>,
}

/// Folds a label for matching: NFKC, lowercase, inner whitespace collapsed.
pub fn normalize_label(label: &str) -> String {
    let folded: String = label.nfkc().collect::<String>().to_lowercase();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// True when a subject is written as an IRI rather than a label.
pub fn looks_like_iri(s: &str) -> bool {
    let s = s.trim();
    (s.starts_with('<') && s.ends_with('>'))
        || s.starts_with("http://")
        || s.starts_with("https://")
        || s.starts_with("urn:")
}

/// `<iri>` → `iri`.
pub fn strip_angle_brackets(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('<')
        .and_then(|r| r.strip_suffix('>'))
        .unwrap_or(s)
}

impl Thesaurus {
    /// Builds the indexes. When several concepts share a label, a descriptor beats a group
    /// node (UNBIS lists AFRICA as descriptor 1000099 and as microthesaurus 170100), a
    /// preferred label beats an alternative one, and then the earlier concept wins.
    pub fn new(source: String, concepts: Vec<Concept>, groups: BTreeMap<String, Group>) -> Self {
        let mut by_uri = FxHashMap::default();
        let mut by_label: FxHashMap<String, ((bool, MatchKind, usize), usize)> =
            FxHashMap::default();
        for (i, concept) in concepts.iter().enumerate() {
            by_uri.entry(concept.uri.clone()).or_insert(i);
            let labels = concept
                .pref_labels
                .iter()
                .map(|l| (MatchKind::PrefLabel, l))
                .chain(concept.alt_labels.iter().map(|l| (MatchKind::AltLabel, l)));
            for (kind, (lang, label)) in labels {
                // Descriptors are English labels; untagged labels count as English.
                let lang = primary_language(lang);
                if lang != "en" && !lang.is_empty() {
                    continue;
                }
                let rank = (concept.is_group, kind, i);
                let key = normalize_label(label);
                if key.is_empty() {
                    continue;
                }
                match by_label.get_mut(&key) {
                    Some(existing) if existing.0 <= rank => {}
                    Some(existing) => *existing = (rank, i),
                    None => {
                        by_label.insert(key, (rank, i));
                    }
                }
            }
        }
        Thesaurus {
            source,
            concepts,
            groups,
            by_uri,
            by_label,
        }
    }

    /// Reads a thesaurus file: Annif's TSV vocabulary (`<URI>\tlabel` lines), the UNBIS table
    /// (`.tsv`, or text starting with a tab-separated header) or SKOS Turtle (anything else).
    pub fn load(path: &Path) -> Result<Thesaurus> {
        let bytes = crate::io_guard::read_input(path)?;
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            let line = crate::io_guard::line_of(&bytes, e.valid_up_to());
            Error::Thesaurus {
                path: path.to_path_buf(),
                line,
                reason: "not valid UTF-8".into(),
            }
        })?;
        let is_table = path.extension().is_some_and(|e| e == "tsv")
            || text
                .trim_start_matches('\u{feff}')
                .lines()
                .next()
                .is_some_and(|first| first.contains('\t') && !first.trim_start().starts_with('@'));
        let thesaurus = if vocab::looks_like_vocab(text) {
            vocab::read(path, text)?
        } else if is_table {
            table::read(path, text)?
        } else {
            skos::read(path, text)?
        };
        if thesaurus.concepts.is_empty() {
            return Err(Error::Thesaurus {
                path: path.to_path_buf(),
                line: 1,
                reason: "no concepts found".into(),
            });
        }
        Ok(thesaurus)
    }

    pub fn concepts(&self) -> &[Concept] {
        &self.concepts
    }

    pub fn groups(&self) -> &BTreeMap<String, Group> {
        &self.groups
    }

    pub fn group(&self, code: &str) -> Option<&Group> {
        self.groups.get(code)
    }

    pub fn by_uri(&self, uri: &str) -> Option<&Concept> {
        self.by_uri.get(uri).map(|&i| &self.concepts[i])
    }

    /// The concept with this English (or untagged) preferred or alternative label.
    pub fn by_label(&self, label: &str) -> Option<(&Concept, MatchKind)> {
        self.by_label
            .get(&normalize_label(label))
            .map(|&((_, kind, _), i)| (&self.concepts[i], kind))
    }

    /// Resolves a subject as written in a corpus: an IRI (bare or in `<…>`) by URI first, then
    /// anything by label.
    pub fn lookup(&self, subject: &str) -> Option<(&Concept, MatchKind)> {
        if looks_like_iri(subject) {
            if let Some(c) = self.by_uri(strip_angle_brackets(subject)) {
                return Some((c, MatchKind::Uri));
            }
        }
        self.by_label(subject)
    }

    /// The domain codes a concept belongs to, through its microthesauri (or directly).
    pub fn domains_of(&self, groups: &[String]) -> BTreeSet<String> {
        domains_of(&self.groups, groups)
    }

    /// Chinese preferred and alternative labels as segmenter words, so multi-character terms
    /// stay whole. Labels are NFKC-normalised as the analyzer normalises text, and split at
    /// spaces and punctuation (`资源 （一般意义上的）` gives two words); pieces need two
    /// characters and at least one CJK ideograph.
    pub fn segmenter_words(&self) -> Vec<UserWord> {
        let mut words = BTreeSet::new();
        for concept in &self.concepts {
            let labels = concept.pref_labels.iter().chain(&concept.alt_labels);
            for (lang, label) in labels {
                if primary_language(lang) != "zh" {
                    continue;
                }
                let normalized: String = label.nfkc().collect();
                for piece in normalized.split(|c: char| !c.is_alphanumeric()) {
                    if piece.chars().nth(1).is_some() && piece.chars().any(is_cjk_ideograph) {
                        words.insert(piece.to_string());
                    }
                }
            }
        }
        words
            .into_iter()
            .map(|word| UserWord {
                word,
                freq: None,
                tag: None,
            })
            .collect()
    }

    /// What a model keeps about its descriptors: the concept of each (looked up by name), and
    /// every group those concepts belong to, with their domains.
    pub fn concept_table(&self, descriptors: &[String]) -> ConceptTable {
        let infos: Vec<Option<ConceptInfo>> = descriptors
            .iter()
            .map(|d| self.lookup(d).map(|(c, _)| ConceptInfo::of(c)))
            .collect();
        let mut codes = BTreeSet::new();
        for info in infos.iter().flatten() {
            for g in &info.groups {
                codes.insert(g.clone());
                if let Some(domain) = self.groups.get(g).and_then(|g| g.domain.clone()) {
                    codes.insert(domain);
                }
            }
        }
        ConceptTable {
            source: self.source.clone(),
            descriptors: infos,
            groups: codes
                .into_iter()
                .filter_map(|c| self.groups.get(&c).cloned())
                .collect(),
        }
    }

    /// A thesaurus holding only what a model's concept table knows, so corpora can be
    /// resolved against a model when the thesaurus file is not given again.
    pub fn from_concept_table(table: &ConceptTable, descriptors: &[String]) -> Thesaurus {
        let concepts = table
            .descriptors
            .iter()
            .zip(descriptors)
            .filter_map(|(info, name)| {
                let info = info.as_ref()?;
                let mut pref_labels = vec![("en".to_string(), name.clone())];
                if let Some(en) = &info.label_en {
                    if en != name {
                        pref_labels.push(("en".to_string(), en.clone()));
                    }
                }
                if let Some(zh) = &info.label_zh {
                    pref_labels.push(("zh".to_string(), zh.clone()));
                }
                Some(Concept {
                    id: last_segment(&info.uri).to_string(),
                    uri: info.uri.clone(),
                    pref_labels,
                    alt_labels: Vec::new(),
                    groups: info.groups.clone(),
                    is_group: false,
                })
            })
            .collect();
        let groups = table
            .groups
            .iter()
            .map(|g| (g.code.clone(), g.clone()))
            .collect();
        Thesaurus::new(
            format!("{} (as stored in the model)", table.source),
            concepts,
            groups,
        )
    }
}

fn domains_of(groups_table: &BTreeMap<String, Group>, groups: &[String]) -> BTreeSet<String> {
    groups
        .iter()
        .filter_map(|code| {
            let group = groups_table.get(code)?;
            match group.level {
                GroupLevel::Domain => Some(group.code.clone()),
                GroupLevel::Microthesaurus => group.domain.clone(),
            }
        })
        .collect()
}

/// The last path or fragment segment of an IRI (`…/thesaurus/1000099` → `1000099`).
pub fn last_segment(iri: &str) -> &str {
    iri.trim_end_matches(['/', '#'])
        .rsplit(['/', '#'])
        .next()
        .unwrap_or(iri)
}

/// What a model keeps about one descriptor's concept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConceptInfo {
    pub uri: String,
    pub label_en: Option<String>,
    pub label_zh: Option<String>,
    /// Group codes (microthesauri).
    pub groups: Vec<String>,
}

impl ConceptInfo {
    pub fn of(concept: &Concept) -> Self {
        ConceptInfo {
            uri: concept.uri.clone(),
            label_en: concept.label_en().map(String::from),
            label_zh: concept.label_zh().map(String::from),
            groups: concept.groups.clone(),
        }
    }
}

/// The thesaurus facts a model stores: one entry per descriptor (model order; `None` for a
/// descriptor the thesaurus does not have) and the groups they belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConceptTable {
    /// The thesaurus file the facts came from.
    pub source: String,
    pub descriptors: Vec<Option<ConceptInfo>>,
    pub groups: Vec<Group>,
}

impl ConceptTable {
    pub fn group(&self, code: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.code == code)
    }

    /// Number of descriptors with a concept.
    pub fn resolved(&self) -> usize {
        self.descriptors.iter().filter(|d| d.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concept(id: &str, en: &str, zh: &str, alt: &[&str], is_group: bool) -> Concept {
        Concept {
            id: id.into(),
            uri: format!("http://metadata.un.org/thesaurus/{id}"),
            pref_labels: vec![("en".into(), en.into()), ("zh".into(), zh.into())],
            alt_labels: alt.iter().map(|a| ("en".into(), a.to_string())).collect(),
            groups: Vec::new(),
            is_group,
        }
    }

    fn sample() -> Thesaurus {
        Thesaurus::new(
            "t".into(),
            vec![
                concept("170100", "AFRICA", "非洲", &[], true),
                concept("1000099", "AFRICA", "非洲", &[], false),
                concept(
                    "1004779",
                    "PEACEKEEPING OPERATIONS",
                    "维持和平行动",
                    &["PEACE-KEEPING"],
                    false,
                ),
                concept("1000001", "ONE", "一 （二）", &["AFRICA"], false),
            ],
            BTreeMap::new(),
        )
    }

    #[test]
    fn descriptor_rows_win_over_group_rows_and_pref_over_alt() {
        let t = sample();
        let (africa, kind) = t.lookup("africa").unwrap();
        assert_eq!(africa.id, "1000099");
        assert_eq!(kind, MatchKind::PrefLabel);
        let (pk, kind) = t.lookup("  peace-keeping ").unwrap();
        assert_eq!(pk.id, "1004779");
        assert_eq!(kind, MatchKind::AltLabel);
        let (by_uri, kind) = t
            .lookup("<http://metadata.un.org/thesaurus/170100>")
            .unwrap();
        assert_eq!((by_uri.id.as_str(), kind), ("170100", MatchKind::Uri));
        assert!(t.lookup("NOWHERE").is_none());
    }

    #[test]
    fn segmenter_words_are_split_at_punctuation() {
        let words: Vec<String> = sample()
            .segmenter_words()
            .into_iter()
            .map(|w| w.word)
            .collect();
        assert!(words.contains(&"维持和平行动".to_string()));
        assert!(words.contains(&"非洲".to_string()));
        // `一 （二）` has no piece of two characters.
        assert!(!words.iter().any(|w| w.contains('一') || w.contains('二')));
    }

    #[test]
    fn concept_tables_round_trip_through_a_thesaurus() {
        let t = sample();
        let names = vec!["AFRICA".to_string(), "UNKNOWN".to_string()];
        let table = t.concept_table(&names);
        assert_eq!(table.resolved(), 1);
        assert_eq!(
            table.descriptors[0].as_ref().unwrap().label_zh.as_deref(),
            Some("非洲")
        );
        let back = Thesaurus::from_concept_table(&table, &names);
        assert_eq!(
            back.lookup("http://metadata.un.org/thesaurus/1000099")
                .unwrap()
                .0
                .descriptor_name(),
            "AFRICA"
        );
    }

    #[test]
    fn last_segment_of_iris() {
        assert_eq!(last_segment("http://x/thesaurus/1000099"), "1000099");
        assert_eq!(last_segment("http://x/ns#Concept"), "Concept");
        assert_eq!(last_segment("http://x/a/"), "a");
    }
}
