//! The UNBIS table layout: `concepts.tsv` with a header row naming its columns —
//! `id`, `uri`, `pref_<lang>` (one per language), `alt_<lang>` (`;`-separated), `microthesauri`
//! (`;`-separated group codes), and others that are ignored (`linked_concepts`) — plus, when it
//! stands beside it, `microthesauri.tsv` (`code`, `code6`, `level`, `label_en`) naming the groups.

use std::collections::BTreeMap;
use std::path::Path;

use super::{last_segment, Concept, Group, GroupLevel, Thesaurus};
use crate::error::{Error, Result};

/// File of group names read from beside `concepts.tsv`.
pub const GROUPS_FILE: &str = "microthesauri.tsv";

fn bad(path: &Path, line: usize, reason: impl Into<String>) -> Error {
    Error::Thesaurus {
        path: path.to_path_buf(),
        line,
        reason: reason.into(),
    }
}

/// Splits a text into `(line number, fields)` rows, skipping empty lines.
fn rows(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.trim_start_matches('\u{feff}')
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| (n, l.split('\t').collect()))
}

fn list(field: &str) -> Vec<String> {
    field
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Reads `concepts.tsv` (already decoded) and its groups file when present.
pub fn read(path: &Path, text: &str) -> Result<Thesaurus> {
    let groups_path = path
        .parent()
        .map(|dir| dir.join(GROUPS_FILE))
        .filter(|p| p.is_file() && p.file_name() != path.file_name());
    let mut groups = match &groups_path {
        Some(p) => {
            let bytes = std::fs::read(p).map_err(|e| Error::io(p, e))?;
            let text = std::str::from_utf8(&bytes).map_err(|_| bad(p, 1, "not valid UTF-8"))?;
            read_groups(p, text)?
        }
        None => BTreeMap::new(),
    };
    let have_group_file = groups_path.is_some();

    let mut rows = rows(text);
    let Some((_, header)) = rows.next() else {
        return Err(bad(path, 1, "empty file (expected a header row)"));
    };
    let column = |name: &str| header.iter().position(|h| h.trim() == name);
    let uri_col = column("uri").ok_or_else(|| bad(path, 1, "the header has no `uri` column"))?;
    let id_col = column("id");
    let groups_col = column("microthesauri");
    let lang_columns = |prefix: &str| -> Vec<(String, usize)> {
        header
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                h.trim()
                    .strip_prefix(prefix)
                    .filter(|lang| !lang.is_empty())
                    .map(|lang| (lang.to_string(), i))
            })
            .collect()
    };
    let pref_cols = lang_columns("pref_");
    let alt_cols = lang_columns("alt_");
    if pref_cols.is_empty() {
        return Err(bad(
            path,
            1,
            "the header has no `pref_<language>` column (e.g. `pref_en`)",
        ));
    }

    let mut concepts = Vec::new();
    let mut seen_uris: BTreeMap<String, usize> = BTreeMap::new();
    for (line, fields) in rows {
        if fields.len() != header.len() {
            return Err(bad(
                path,
                line,
                format!(
                    "{} tab-separated fields, but the header has {}",
                    fields.len(),
                    header.len()
                ),
            ));
        }
        let uri = fields[uri_col].trim().to_string();
        if uri.is_empty() {
            return Err(bad(path, line, "empty `uri`"));
        }
        if let Some(first) = seen_uris.insert(uri.clone(), line) {
            return Err(bad(
                path,
                line,
                format!("URI {uri} was already listed on line {first}"),
            ));
        }
        let id = id_col
            .map(|c| fields[c].trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| last_segment(&uri).to_string());
        let pref_labels: Vec<(String, String)> = pref_cols
            .iter()
            .map(|(lang, c)| (lang.clone(), fields[*c].trim().to_string()))
            .filter(|(_, l)| !l.is_empty())
            .collect();
        if pref_labels.is_empty() {
            return Err(bad(
                path,
                line,
                format!("concept {id} has no preferred label"),
            ));
        }
        let alt_labels = alt_cols
            .iter()
            .flat_map(|(lang, c)| list(fields[*c]).into_iter().map(|l| (lang.clone(), l)))
            .collect();
        let memberships = groups_col.map(|c| list(fields[c])).unwrap_or_default();
        // Group rows: ids that name a group (from the groups file, else UNBIS' six digits).
        let is_group = if have_group_file {
            groups.contains_key(&id)
        } else {
            id.len() == 6 && id.bytes().all(|b| b.is_ascii_digit())
        };
        concepts.push(Concept {
            id,
            uri,
            pref_labels,
            alt_labels,
            groups: memberships,
            is_group,
        });
    }

    // Groups named only by memberships (no groups file) still exist, as microthesauri.
    for concept in &concepts {
        for code in &concept.groups {
            groups.entry(code.clone()).or_insert_with(|| Group {
                code: code.clone(),
                level: GroupLevel::Microthesaurus,
                label_en: None,
                label_zh: None,
                domain: None,
            });
        }
    }
    // Group labels from the group rows of the table (the groups file has English only).
    for concept in concepts.iter().filter(|c| c.is_group) {
        if let Some(group) = groups.get_mut(&concept.id) {
            if group.label_en.is_none() {
                group.label_en = concept.label_en().map(String::from);
            }
            if group.label_zh.is_none() {
                group.label_zh = concept.label_zh().map(String::from);
            }
        }
    }
    // Without a groups file, UNBIS' six-digit codes still give the domain: its first two.
    for group in groups.values_mut() {
        if group.level == GroupLevel::Microthesaurus
            && group.domain.is_none()
            && group.code.len() == 6
            && group.code.bytes().all(|b| b.is_ascii_digit())
        {
            group.domain = Some(group.code[..2].to_string());
        }
    }
    let missing_domains: Vec<String> = groups
        .values()
        .filter_map(|g| g.domain.clone())
        .filter(|d| !groups.contains_key(d))
        .collect();
    for code in missing_domains {
        groups.insert(
            code.clone(),
            Group {
                code,
                level: GroupLevel::Domain,
                label_en: None,
                label_zh: None,
                domain: None,
            },
        );
    }
    Ok(Thesaurus::new(path.display().to_string(), concepts, groups))
}

/// Reads `microthesauri.tsv`: `code` (`01.03.00`), `code6` (`010300`), `level`, `label_en`.
pub fn read_groups(path: &Path, text: &str) -> Result<BTreeMap<String, Group>> {
    let mut rows = rows(text);
    let Some((_, header)) = rows.next() else {
        return Err(bad(path, 1, "empty file (expected a header row)"));
    };
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| bad(path, 1, format!("the header has no `{name}` column")))
    };
    let (code_col, code6_col, level_col, label_col) = (
        column("code")?,
        column("code6")?,
        column("level")?,
        column("label_en")?,
    );
    let mut groups = BTreeMap::new();
    for (line, fields) in rows {
        if fields.len() != header.len() {
            return Err(bad(
                path,
                line,
                format!(
                    "{} tab-separated fields, but the header has {}",
                    fields.len(),
                    header.len()
                ),
            ));
        }
        let level = match fields[level_col].trim() {
            "domain" => GroupLevel::Domain,
            "microthesaurus" => GroupLevel::Microthesaurus,
            other => {
                return Err(bad(
                    path,
                    line,
                    format!("level `{other}` is neither `domain` nor `microthesaurus`"),
                ))
            }
        };
        let code = fields[code6_col].trim().to_string();
        if code.is_empty() {
            return Err(bad(path, line, "empty `code6`"));
        }
        let domain = match level {
            GroupLevel::Domain => None,
            GroupLevel::Microthesaurus => fields[code_col]
                .trim()
                .split('.')
                .next()
                .filter(|d| !d.is_empty())
                .map(String::from),
        };
        let label = fields[label_col].trim();
        let group = Group {
            code: code.clone(),
            level,
            label_en: (!label.is_empty()).then(|| label.to_string()),
            label_zh: None,
            domain,
        };
        if groups.insert(code.clone(), group).is_some() {
            return Err(bad(path, line, format!("group {code} is listed twice")));
        }
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONCEPTS: &str = "id\turi\tpref_en\tpref_zh\talt_en\tmicrothesauri\tlinked_concepts\n\
170100\thttp://t/170100\tAFRICA\t非洲\t\t\t\n\
1000099\thttp://t/1000099\tAFRICA\t非洲\t\t170100\t\n\
1000003\thttp://t/1000003\tABDUCTION\t绑架\tCHILD ABDUCTION;KIDNAPPING\t140402\t1001382\n";

    const GROUPS: &str = "code\tcode6\tlevel\tlabel_en\n\
17\t17\tdomain\tGEOGRAPHICAL DESCRIPTORS\n\
17.01.00\t170100\tmicrothesaurus\tAFRICA\n\
14\t14\tdomain\tHUMAN RIGHTS\n\
14.04.02\t140402\tmicrothesaurus\tCRIME\n";

    #[test]
    fn reads_concepts_with_groups_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("concepts.tsv");
        std::fs::write(&path, CONCEPTS).unwrap();
        std::fs::write(dir.path().join(GROUPS_FILE), GROUPS).unwrap();
        let t = Thesaurus::load(&path).unwrap();
        assert_eq!(t.concepts().len(), 3);
        let (africa, _) = t.lookup("Africa").unwrap();
        assert_eq!(africa.id, "1000099");
        assert_eq!(africa.groups, vec!["170100"]);
        let (abduction, _) = t.lookup("kidnapping").unwrap();
        assert_eq!(abduction.label_zh(), Some("绑架"));
        let group = t.group("170100").unwrap();
        assert_eq!(group.label_zh.as_deref(), Some("非洲"));
        assert_eq!(group.domain.as_deref(), Some("17"));
        assert_eq!(
            t.group("17").unwrap().label_en.as_deref(),
            Some("GEOGRAPHICAL DESCRIPTORS")
        );
        assert_eq!(
            t.domains_of(&abduction.groups)
                .into_iter()
                .collect::<Vec<_>>(),
            vec!["14"]
        );
    }

    #[test]
    fn without_groups_file_six_digit_codes_give_domains() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("concepts.tsv");
        std::fs::write(&path, CONCEPTS).unwrap();
        let t = Thesaurus::load(&path).unwrap();
        assert_eq!(t.lookup("AFRICA").unwrap().0.id, "1000099");
        assert_eq!(t.group("140402").unwrap().domain.as_deref(), Some("14"));
        assert_eq!(t.group("14").unwrap().level, GroupLevel::Domain);
    }

    #[test]
    fn malformed_rows_are_reported_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("concepts.tsv");
        let cases = [
            (
                "id\turi\tpref_en\n1\thttp://t/1\n",
                2,
                "2 tab-separated fields",
            ),
            ("id\turi\tpref_en\n1\t\tX\n", 2, "empty `uri`"),
            (
                "id\turi\tpref_en\n1\thttp://t/1\tX\n\n2\thttp://t/1\tY\n",
                4,
                "already listed on line 2",
            ),
            ("id\tpref_en\n1\tX\n", 1, "no `uri` column"),
            (
                "id\turi\tpref_en\n1\thttp://t/1\t\n",
                2,
                "no preferred label",
            ),
        ];
        for (text, line, what) in cases {
            std::fs::write(&path, text).unwrap();
            let err = Thesaurus::load(&path).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("concepts.tsv:{line}:")) && msg.contains(what),
                "{text:?}: {msg}"
            );
        }
        std::fs::write(&path, "id\turi\tpref_en\n").unwrap();
        assert!(Thesaurus::load(&path)
            .unwrap_err()
            .to_string()
            .contains("no concepts"));
        std::fs::write(&path, CONCEPTS).unwrap();
        std::fs::write(
            dir.path().join(GROUPS_FILE),
            "code\tcode6\tlevel\tlabel_en\n01\t01\tregion\tX\n",
        )
        .unwrap();
        let msg = Thesaurus::load(&path).unwrap_err().to_string();
        assert!(
            msg.contains("microthesauri.tsv:2:") && msg.contains("`region`"),
            "{msg}"
        );
    }
}
