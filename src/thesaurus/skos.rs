//! SKOS vocabularies in Turtle.
//!
//! Concepts are subjects typed `skos:Concept`, or carrying a `skos:prefLabel` without being a
//! concept scheme or group. Labels come from `skos:prefLabel` and `skos:altLabel` in any
//! language. Groups follow the EuroVoc schema that UNBIS uses: subjects typed `eu:Domain` or
//! `eu:MicroThesaurus`, a microthesaurus naming its domain with `eu:domain`; a concept belongs
//! to the groups it names with `skos:inScheme` and to those that list it with `skos:member`.
//! A group's code is the last segment of its IRI.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::turtle::{self, Term, RDF};
use super::{last_segment, Concept, Group, GroupLevel, Thesaurus};
use crate::error::{Error, Result};

const SKOS: &str = "http://www.w3.org/2004/02/skos/core#";
const EU: &str = "http://eurovoc.europa.eu/schema#";

/// Everything said about one subject IRI.
#[derive(Default)]
struct Subject {
    line: usize,
    types: BTreeSet<String>,
    pref: Vec<(String, String)>,
    alt: Vec<(String, String)>,
    in_scheme: Vec<String>,
    members: Vec<String>,
    domain: Option<String>,
}

/// Parses Turtle text into a thesaurus; `path` names the file in errors.
pub fn read(path: &Path, text: &str) -> Result<Thesaurus> {
    let triples = turtle::parse(text).map_err(|e| Error::Thesaurus {
        path: path.to_path_buf(),
        line: e.line,
        reason: format!("column {}: {}", e.column, e.reason),
    })?;
    let rdf_type = format!("{RDF}type");
    let skos = |local: &str| format!("{SKOS}{local}");
    let (pref, alt, in_scheme, member) = (
        skos("prefLabel"),
        skos("altLabel"),
        skos("inScheme"),
        skos("member"),
    );
    let eu_domain = format!("{EU}domain");

    // Subjects in order of first appearance, so the thesaurus order follows the file.
    let mut order: Vec<String> = Vec::new();
    let mut subjects: BTreeMap<String, Subject> = BTreeMap::new();
    for t in triples {
        let Term::Iri(s) = &t.subject else { continue };
        let entry = subjects.entry(s.clone()).or_insert_with(|| {
            order.push(s.clone());
            Subject {
                line: t.line,
                ..Subject::default()
            }
        });
        let p = t.predicate.as_str();
        match (&t.object, p) {
            (Term::Iri(o), _) if p == rdf_type => {
                entry.types.insert(o.clone());
            }
            (Term::Literal { value, lang, .. }, _) if p == pref || p == alt => {
                let label = (lang.clone().unwrap_or_default(), value.trim().to_string());
                if label.1.is_empty() {
                    continue;
                }
                if p == pref {
                    entry.pref.push(label);
                } else {
                    entry.alt.push(label);
                }
            }
            (Term::Iri(o), _) if p == in_scheme => entry.in_scheme.push(o.clone()),
            (Term::Iri(o), _) if p == member => entry.members.push(o.clone()),
            (Term::Iri(o), _) if p == eu_domain => entry.domain = Some(o.clone()),
            _ => {}
        }
    }

    let level_of = |s: &Subject| {
        if s.types.contains(&format!("{EU}Domain")) {
            Some(GroupLevel::Domain)
        } else if s.types.contains(&format!("{EU}MicroThesaurus")) {
            Some(GroupLevel::Microthesaurus)
        } else {
            None
        }
    };
    let label_in = |labels: &[(String, String)], lang: &str| {
        labels
            .iter()
            .find(|(tag, _)| {
                tag.split('-')
                    .next()
                    .unwrap_or("")
                    .eq_ignore_ascii_case(lang)
            })
            .map(|(_, l)| l.clone())
    };

    let mut groups = BTreeMap::new();
    // Group IRI → code, for memberships.
    let mut group_codes: BTreeMap<&str, String> = BTreeMap::new();
    for iri in &order {
        let s = &subjects[iri];
        if let Some(level) = level_of(s) {
            let code = last_segment(iri).to_string();
            group_codes.insert(iri.as_str(), code.clone());
            groups.insert(
                code.clone(),
                Group {
                    code,
                    level,
                    label_en: label_in(&s.pref, "en"),
                    label_zh: label_in(&s.pref, "zh"),
                    domain: s.domain.as_deref().map(|d| last_segment(d).to_string()),
                },
            );
        }
    }
    // Memberships stated by the groups (`skos:member`).
    let mut listed_by_group: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (iri, code) in &group_codes {
        for m in &subjects[*iri].members {
            listed_by_group
                .entry(m.as_str())
                .or_default()
                .push(code.clone());
        }
    }

    let concept_type = format!("{SKOS}Concept");
    let scheme_type = format!("{SKOS}ConceptScheme");
    let mut concepts = Vec::new();
    for iri in &order {
        let s = &subjects[iri];
        let is_group = level_of(s).is_some();
        let is_concept = s.types.contains(&concept_type)
            || (!s.pref.is_empty() && !is_group && !s.types.contains(&scheme_type));
        if !is_concept {
            continue;
        }
        if s.pref.is_empty() {
            return Err(Error::Thesaurus {
                path: path.to_path_buf(),
                line: s.line,
                reason: format!("concept <{iri}> has no skos:prefLabel"),
            });
        }
        let mut memberships: Vec<String> = s
            .in_scheme
            .iter()
            .filter_map(|scheme| group_codes.get(scheme.as_str()).cloned())
            .collect();
        memberships.extend(
            listed_by_group
                .get(iri.as_str())
                .into_iter()
                .flatten()
                .cloned(),
        );
        let mut seen = BTreeSet::new();
        memberships.retain(|m| seen.insert(m.clone()));
        concepts.push(Concept {
            id: last_segment(iri).to_string(),
            uri: iri.clone(),
            pref_labels: s.pref.clone(),
            alt_labels: s.alt.clone(),
            groups: memberships,
            is_group,
        });
    }
    Ok(Thesaurus::new(path.display().to_string(), concepts, groups))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixture in the shape of the UNBIS SKOS export.
    const FIXTURE: &str = r#"
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix eu: <http://eurovoc.europa.eu/schema#> .
@prefix unbist: <http://metadata.un.org/thesaurus/> .

unbist:17 a eu:Domain ; skos:prefLabel "GEOGRAPHICAL DESCRIPTORS"@en, "地理描述词"@zh .
unbist:170100 a skos:ConceptScheme, eu:MicroThesaurus ;
    eu:domain unbist:17 ;
    skos:prefLabel "AFRICA"@en, "非洲"@zh .
unbist:1000099 a skos:Concept ;
    skos:inScheme unbist:170100 ;
    skos:prefLabel "AFRICA"@en, "非洲"@zh, "AFRIQUE"@fr ;
    skos:altLabel "African continent"@en, "非洲大陆"@zh-Hans .
unbist:1004779 a skos:Concept ;
    skos:prefLabel "PEACEKEEPING OPERATIONS"@en , "维持和平行动"@zh ;
    skos:altLabel "PEACE-KEEPING OPERATIONS"@en .
unbist:010300 a eu:MicroThesaurus ; skos:member unbist:1004779 ;
    skos:prefLabel "MAINTENANCE OF PEACE AND SECURITY"@en .
"#;

    fn load(text: &str) -> Result<Thesaurus> {
        read(Path::new("fixture.ttl"), text)
    }

    #[test]
    fn reads_concepts_labels_and_groups() {
        let t = load(FIXTURE).unwrap();
        assert_eq!(t.concepts().len(), 2);
        let (africa, _) = t.lookup("africa").unwrap();
        assert_eq!(africa.uri, "http://metadata.un.org/thesaurus/1000099");
        assert_eq!(africa.label_zh(), Some("非洲"));
        assert_eq!(africa.groups, vec!["170100"]);
        assert_eq!(t.lookup("African Continent").unwrap().0.id, "1000099");
        let (pk, _) = t.lookup("peace-keeping operations").unwrap();
        assert_eq!(pk.groups, vec!["010300"]);
        assert_eq!(t.group("170100").unwrap().domain.as_deref(), Some("17"));
        assert_eq!(
            t.group("17").unwrap().label_zh.as_deref(),
            Some("地理描述词")
        );
        let words: Vec<String> = t.segmenter_words().into_iter().map(|w| w.word).collect();
        assert!(words.contains(&"非洲大陆".to_string()));
        assert!(words.contains(&"维持和平行动".to_string()));
    }

    #[test]
    fn errors_name_the_line() {
        let err = load("@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n\n<http://x/1> skos:prefLabel \"A\"@en\n<http://x/2> skos:prefLabel \"B\"@en .\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("fixture.ttl:4:"), "{err}");
        let err = load("@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n<http://x/1> a skos:Concept .\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("fixture.ttl:2:") && err.contains("no skos:prefLabel"),
            "{err}"
        );
    }
}
