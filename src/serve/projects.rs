//! Loaded models as Annif "projects": their descriptions and descriptor URIs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::request::{percent_encode, LanguageTag};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::predict::Suggester;

/// Prefix of the URIs dtag gives descriptors, which are plain labels in its models.
pub const DESCRIPTOR_URI_PREFIX: &str = "urn:dtag:descriptor:";

/// The stable URI of a descriptor label: [`DESCRIPTOR_URI_PREFIX`] followed by the label's
/// UTF-8 bytes percent-encoded (everything but `A-Z a-z 0-9 - . _ ~`), so the same label
/// always has the same URI, in every model, and the label can be read back from it.
pub fn descriptor_uri(label: &str) -> String {
    format!("{DESCRIPTOR_URI_PREFIX}{}", percent_encode(label))
}

/// A model served under a project id.
#[derive(Debug)]
pub struct Project {
    pub id: String,
    pub language: LanguageTag,
    pub path: PathBuf,
    /// Modification time of the model file when it was loaded (RFC 3339, UTC).
    pub modified: Option<String>,
    pub suggester: Arc<Suggester>,
}

impl Project {
    /// Loads `path` as project `id`.
    pub fn load(id: &str, path: &Path, language: LanguageTag) -> Result<Project> {
        check_project_id(id)?;
        let model = Model::load(path)?;
        let modified = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(rfc3339_utc);
        Ok(Project {
            id: id.to_string(),
            language,
            path: path.to_path_buf(),
            modified,
            suggester: Arc::new(Suggester::new(model)?),
        })
    }

    /// The project as Annif describes one (`GET /v1/projects/{id}`).
    pub fn describe(&self) -> ProjectInfo<'_> {
        let model = self.suggester.model();
        ProjectInfo {
            project_id: &self.id,
            name: &self.id,
            language: self.language.as_str(),
            backend: Backend {
                backend_id: "dtag-logistic",
            },
            vocab: Vocabulary {
                vocab_id: &self.id,
                languages: [self.language.as_str()],
                size: model.descriptors.len(),
                loaded: true,
            },
            vocab_language: self.language.as_str(),
            is_trained: true,
            modification_time: self.modified.as_deref(),
        }
    }
}

/// Project ids appear in URLs: letters, digits, `-`, `_` and `.`, at most 64.
pub fn check_project_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::param(
            "model",
            format!("project name `{id}` must be 1-64 letters, digits, `-`, `_` or `.`"),
        ))
    }
}

#[derive(Serialize)]
pub struct ProjectInfo<'a> {
    project_id: &'a str,
    name: &'a str,
    language: &'a str,
    backend: Backend,
    vocab: Vocabulary<'a>,
    vocab_language: &'a str,
    is_trained: bool,
    modification_time: Option<&'a str>,
}

#[derive(Serialize)]
struct Backend {
    backend_id: &'static str,
}

#[derive(Serialize)]
struct Vocabulary<'a> {
    vocab_id: &'a str,
    languages: [&'a str; 1],
    size: usize,
    loaded: bool,
}

/// `2024-05-19T16:42:42Z` for a time after the epoch.
pub fn rfc3339_utc(time: SystemTime) -> Option<String> {
    let seconds = time.duration_since(UNIX_EPOCH).ok()?.as_secs();
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    ))
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn descriptor_uris_are_stable_and_reversible() {
        assert_eq!(
            descriptor_uri("PEACEKEEPING OPERATIONS"),
            "urn:dtag:descriptor:PEACEKEEPING%20OPERATIONS"
        );
        assert_eq!(
            descriptor_uri("COUNTER-TERRORISM"),
            "urn:dtag:descriptor:COUNTER-TERRORISM"
        );
        let uri = descriptor_uri("维持和平行动");
        assert!(uri.is_ascii());
        let back = super::super::request::percent_decode(
            uri.strip_prefix(DESCRIPTOR_URI_PREFIX).unwrap(),
            false,
        );
        assert_eq!(back.unwrap(), "维持和平行动");
    }

    #[test]
    fn formats_utc_timestamps() {
        let at = |s: u64| rfc3339_utc(UNIX_EPOCH + Duration::from_secs(s)).unwrap();
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_589_906_562), "2020-05-19T16:42:42Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
    }

    #[test]
    fn project_ids_must_be_url_safe() {
        assert!(check_project_id("demo-zh_1.0").is_ok());
        for bad in ["", "a b", "a/b", "维和", &"x".repeat(65)] {
            assert!(check_project_id(bad).is_err(), "{bad}");
        }
    }
}
