//! Annif's TSV vocabulary: one `<URI>\tlabel` per line, no header (as `yso-fi.tsv`). A URI
//! listed again adds an alternative label; labels carry no language tag, so they count as the
//! language of the model that uses them.

use std::collections::BTreeMap;
use std::path::Path;

use rustc_hash::FxHashMap;

use super::{last_segment, strip_angle_brackets, Concept, Thesaurus};
use crate::error::{Error, Result};

/// True when the first non-empty line looks like `<URI>\tlabel`.
pub fn looks_like_vocab(text: &str) -> bool {
    text.trim_start_matches('\u{feff}')
        .lines()
        .find(|l| !l.trim().is_empty())
        .and_then(|first| first.split('\t').next())
        .is_some_and(|uri| {
            let uri = uri.trim();
            uri.starts_with('<') && uri.ends_with('>') && first_has_label(text)
        })
}

fn first_has_label(text: &str) -> bool {
    text.trim_start_matches('\u{feff}')
        .lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.contains('\t'))
}

pub fn read(path: &Path, text: &str) -> Result<Thesaurus> {
    let mut concepts: Vec<Concept> = Vec::new();
    let mut by_uri: FxHashMap<String, usize> = FxHashMap::default();
    for (i, line) in text.trim_start_matches('\u{feff}').split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: &str| Error::Thesaurus {
            path: path.to_path_buf(),
            line: i + 1,
            reason: reason.to_string(),
        };
        let mut fields = line.split('\t');
        let uri = fields.next().unwrap_or_default().trim();
        let label = fields
            .next()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| bad("expected `<URI>\\tlabel`"))?;
        if !(uri.starts_with('<') && uri.ends_with('>')) || uri.len() < 3 {
            return Err(bad("the URI must be written in angle brackets, as `<URI>`"));
        }
        let uri = strip_angle_brackets(uri).to_string();
        match by_uri.get(&uri) {
            Some(&c) => {
                let concept = &mut concepts[c];
                let known = concept
                    .pref_labels
                    .iter()
                    .chain(&concept.alt_labels)
                    .any(|(_, l)| l == label);
                if !known {
                    concept.alt_labels.push((String::new(), label.to_string()));
                }
            }
            None => {
                by_uri.insert(uri.clone(), concepts.len());
                concepts.push(Concept {
                    id: last_segment(&uri).to_string(),
                    uri,
                    pref_labels: vec![(String::new(), label.to_string())],
                    alt_labels: Vec::new(),
                    groups: Vec::new(),
                    is_group: false,
                });
            }
        }
    }
    Ok(Thesaurus::new(
        path.display().to_string(),
        concepts,
        BTreeMap::new(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_uris_and_labels_with_repeats_as_alternatives() {
        let text = "<http://www.yso.fi/onto/yso/p1>\ttarot\n\
                    <http://www.yso.fi/onto/yso/p2>\tennustaminen\n\
                    <http://www.yso.fi/onto/yso/p1>\ttarot-kortit\n";
        assert!(looks_like_vocab(text));
        let t = read(Path::new("v.tsv"), text).unwrap();
        assert_eq!(t.concepts().len(), 2);
        let (c, _) = t.lookup("tarot-kortit").unwrap();
        assert_eq!(c.uri, "http://www.yso.fi/onto/yso/p1");
        assert_eq!(c.descriptor_name(), "tarot");
        let (c, _) = t.lookup("<http://www.yso.fi/onto/yso/p2>").unwrap();
        assert_eq!(c.descriptor_name(), "ennustaminen");
        let err = read(Path::new("v.tsv"), "<a>\tx\nno tab here\n").unwrap_err();
        assert!(
            err.to_string().contains("line 2") || err.to_string().contains(":2"),
            "{err}"
        );
    }
}
