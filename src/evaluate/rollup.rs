//! Evaluation rolled up to microthesauri and domains (`dtag eval --by-domain`).
//!
//! Two views. **Per group**: every descriptor decision (a proposal that is right or wrong, a
//! gold descriptor missed) is counted in each microthesaurus the descriptor belongs to, and
//! once in each of their domains, giving precision, recall and F1 per group: where in the
//! thesaurus the model is reliable. **Group level**: each document's gold and proposed
//! descriptors are mapped to sets of groups and compared as sets, giving micro precision,
//! recall and F1 of "the suggestions land in the right area". Descriptors with no group (not in
//! the thesaurus, or without memberships) are counted under [`NO_GROUP`], never dropped.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::evaluate::DocDecision;
use crate::metrics::f1;
use crate::thesaurus::{GroupLevel, Thesaurus};

/// Code of the bucket for descriptors without a group.
pub const NO_GROUP: &str = "-";

/// Figures of one group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupFigures {
    pub code: String,
    pub label_en: Option<String>,
    pub label_zh: Option<String>,
    /// Distinct descriptors of the group that were gold or proposed.
    pub descriptors: usize,
    pub gold: u64,
    pub true_positives: u64,
    pub false_positives: u64,
    pub false_negatives: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// Set agreement of documents' groups.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetFigures {
    pub true_positives: u64,
    pub false_positives: u64,
    pub false_negatives: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// The whole roll-up; field names are the `--json` keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupRollup {
    pub thesaurus: String,
    /// Descriptors (gold or proposed) with no group.
    pub descriptors_without_group: usize,
    pub microthesaurus_level: SetFigures,
    pub domain_level: SetFigures,
    /// Most gold assignments first.
    pub microthesauri: Vec<GroupFigures>,
    pub domains: Vec<GroupFigures>,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

#[derive(Default)]
struct Counts {
    descriptors: BTreeSet<u32>,
    gold: u64,
    tp: u64,
    fp: u64,
}

/// Rolls evaluation decisions up through `thesaurus` (the file, or the one a model stores);
/// `labels` are [`crate::evaluate::Evaluation::label_names`], `documents` its `documents`.
pub fn rollup(labels: &[String], documents: &[DocDecision], thesaurus: &Thesaurus) -> GroupRollup {
    // Per label: its microthesauri and its domains (each at most once).
    let mut without_group = BTreeSet::new();
    let groups: Vec<(Vec<String>, Vec<String>)> = labels
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let memberships = thesaurus
                .lookup(name)
                .map(|(c, _)| c.groups.clone())
                .unwrap_or_default();
            let micro: Vec<String> = memberships
                .iter()
                .filter(|g| {
                    thesaurus
                        .group(g)
                        .is_none_or(|g| g.level == GroupLevel::Microthesaurus)
                })
                .cloned()
                .collect();
            let domains: Vec<String> = thesaurus.domains_of(&memberships).into_iter().collect();
            if micro.is_empty() && domains.is_empty() {
                without_group.insert(i);
            }
            let or_none = |v: Vec<String>| {
                if v.is_empty() {
                    vec![NO_GROUP.to_string()]
                } else {
                    v
                }
            };
            (or_none(micro), or_none(domains))
        })
        .collect();

    let mut micro: BTreeMap<String, Counts> = BTreeMap::new();
    let mut domain: BTreeMap<String, Counts> = BTreeMap::new();
    let (mut micro_set, mut domain_set) = ([0u64; 3], [0u64; 3]);
    let mut in_use = BTreeSet::new();
    for doc in documents {
        for (table, pick) in [(&mut micro, 0usize), (&mut domain, 1)] {
            let of = |l: u32| -> &Vec<String> {
                if pick == 0 {
                    &groups[l as usize].0
                } else {
                    &groups[l as usize].1
                }
            };
            for &g in &doc.gold {
                for code in of(g) {
                    let c = table.entry(code.clone()).or_default();
                    c.gold += 1;
                    c.descriptors.insert(g);
                }
            }
            for &p in &doc.proposed {
                let right = doc.gold.contains(&p);
                for code in of(p) {
                    let c = table.entry(code.clone()).or_default();
                    c.descriptors.insert(p);
                    if right {
                        c.tp += 1;
                    } else {
                        c.fp += 1;
                    }
                }
            }
        }
        in_use.extend(doc.gold.iter().chain(&doc.proposed).copied());
        for (pick, set) in [(0usize, &mut micro_set), (1, &mut domain_set)] {
            let collect = |labels: &[u32]| -> BTreeSet<&String> {
                labels
                    .iter()
                    .flat_map(|&l| {
                        if pick == 0 {
                            &groups[l as usize].0
                        } else {
                            &groups[l as usize].1
                        }
                    })
                    .filter(|c| c.as_str() != NO_GROUP)
                    .collect()
            };
            let (gold, proposed) = (collect(&doc.gold), collect(&doc.proposed));
            let tp = gold.intersection(&proposed).count() as u64;
            set[0] += tp;
            set[1] += proposed.len() as u64 - tp;
            set[2] += gold.len() as u64 - tp;
        }
    }

    let figures = |table: BTreeMap<String, Counts>| -> Vec<GroupFigures> {
        let mut out: Vec<GroupFigures> = table
            .into_iter()
            .map(|(code, c)| {
                let group = thesaurus.group(&code);
                let precision = ratio(c.tp, c.tp + c.fp);
                let recall = ratio(c.tp, c.gold);
                GroupFigures {
                    label_en: group.and_then(|g| g.label_en.clone()),
                    label_zh: group.and_then(|g| g.label_zh.clone()),
                    code,
                    descriptors: c.descriptors.len(),
                    gold: c.gold,
                    true_positives: c.tp,
                    false_positives: c.fp,
                    false_negatives: c.gold - c.tp,
                    precision,
                    recall,
                    f1: f1(precision, recall),
                }
            })
            .collect();
        out.sort_by(|a, b| b.gold.cmp(&a.gold).then_with(|| a.code.cmp(&b.code)));
        out
    };
    let set_figures = |[tp, fp, fn_]: [u64; 3]| {
        let precision = ratio(tp, tp + fp);
        let recall = ratio(tp, tp + fn_);
        SetFigures {
            true_positives: tp,
            false_positives: fp,
            false_negatives: fn_,
            precision,
            recall,
            f1: f1(precision, recall),
        }
    };
    GroupRollup {
        thesaurus: thesaurus.source.clone(),
        descriptors_without_group: without_group
            .iter()
            .filter(|&&i| in_use.contains(&(i as u32)))
            .count(),
        microthesaurus_level: set_figures(micro_set),
        domain_level: set_figures(domain_set),
        microthesauri: figures(micro),
        domains: figures(domain),
    }
}

impl GroupRollup {
    /// A readable table: group-level agreement, then one row per domain and microthesaurus.
    pub fn to_table(&self) -> String {
        let mut out = format!("\nby domain (thesaurus {}):\n", self.thesaurus);
        for (name, s) in [
            ("microthesaurus level", &self.microthesaurus_level),
            ("domain level", &self.domain_level),
        ] {
            out.push_str(&format!(
                "  {name:<21} P {:.4}  R {:.4}  F1 {:.4}  (TP {} FP {} FN {})\n",
                s.precision, s.recall, s.f1, s.true_positives, s.false_positives, s.false_negatives
            ));
        }
        if self.descriptors_without_group > 0 {
            out.push_str(&format!(
                "  {} descriptor(s) have no group; they are counted under `{NO_GROUP}`\n",
                self.descriptors_without_group
            ));
        }
        for (title, rows) in [
            ("domains", &self.domains),
            ("microthesauri", &self.microthesauri),
        ] {
            out.push_str(&format!(
                "\n{title}:\ncode\tdescriptors\tgold\tTP\tFP\tFN\tP\tR\tF1\tlabel\n"
            ));
            for g in rows {
                let label = match (&g.label_en, &g.label_zh) {
                    (Some(en), Some(zh)) => format!("{en} / {zh}"),
                    (Some(l), None) | (None, Some(l)) => l.clone(),
                    (None, None) => String::new(),
                };
                out.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{:.4}\t{:.4}\t{:.4}\t{}\n",
                    g.code,
                    g.descriptors,
                    g.gold,
                    g.true_positives,
                    g.false_positives,
                    g.false_negatives,
                    g.precision,
                    g.recall,
                    g.f1,
                    label
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thesaurus::{Concept, Group};

    #[test]
    fn counts_decisions_per_group_and_as_group_sets() {
        let concept = |id: &str, en: &str, groups: &[&str]| Concept {
            id: id.into(),
            uri: format!("http://t/{id}"),
            pref_labels: vec![("en".into(), en.into())],
            alt_labels: vec![],
            groups: groups.iter().map(|g| g.to_string()).collect(),
            is_group: false,
        };
        let group = |code: &str, level, domain: Option<&str>| {
            (
                code.to_string(),
                Group {
                    code: code.into(),
                    level,
                    label_en: Some(format!("G{code}")),
                    label_zh: None,
                    domain: domain.map(String::from),
                },
            )
        };
        let t = Thesaurus::new(
            "t".into(),
            vec![
                concept("1", "A", &["010100"]),
                concept("2", "B", &["010200", "020100"]),
                concept("3", "C", &["010100"]),
            ],
            [
                group("01", GroupLevel::Domain, None),
                group("02", GroupLevel::Domain, None),
                group("010100", GroupLevel::Microthesaurus, Some("01")),
                group("010200", GroupLevel::Microthesaurus, Some("01")),
                group("020100", GroupLevel::Microthesaurus, Some("02")),
            ]
            .into_iter()
            .collect(),
        );
        // labels: 0 A, 1 B, 2 C, 3 X (unknown)
        let labels: Vec<String> = vec!["A".into(), "B".into(), "C".into(), "X".into()];
        let documents = vec![
            // gold A, B; proposed A, C: A right, C wrong (same microthesaurus as A), B missed.
            DocDecision {
                gold: vec![0, 1],
                proposed: vec![0, 2],
            },
            // gold X (no group); proposed B (wrong).
            DocDecision {
                gold: vec![3],
                proposed: vec![1],
            },
        ];
        let r = rollup(&labels, &documents, &t);
        let m = |code: &str| r.microthesauri.iter().find(|g| g.code == code).unwrap();
        assert_eq!(
            (
                m("010100").gold,
                m("010100").true_positives,
                m("010100").false_positives
            ),
            (1, 1, 1)
        );
        assert_eq!(
            (
                m("010200").gold,
                m("010200").false_negatives,
                m("010200").false_positives
            ),
            (1, 1, 1)
        );
        assert_eq!((m(NO_GROUP).gold, m(NO_GROUP).false_negatives), (1, 1));
        let d = |code: &str| r.domains.iter().find(|g| g.code == code).unwrap();
        // Domain 01: gold A, B (2), proposed A (tp), C (fp), B (fp, doc 2).
        assert_eq!(
            (
                d("01").gold,
                d("01").true_positives,
                d("01").false_positives
            ),
            (2, 1, 2)
        );
        assert_eq!(d("01").descriptors, 3);
        // Group sets, microthesauri: doc 1 gold {010100, 010200, 020100}, proposed {010100}:
        // 1 TP, 2 FN; doc 2 gold {}, proposed {010200, 020100}: 2 FP.
        assert_eq!(
            (
                r.microthesaurus_level.true_positives,
                r.microthesaurus_level.false_positives,
                r.microthesaurus_level.false_negatives
            ),
            (1, 2, 2)
        );
        assert_eq!(r.descriptors_without_group, 1);
        assert!(r.to_table().contains("G010100"));
    }
}
