//! jieba user dictionaries: words the segmenter keeps whole.

use std::path::Path;

use super::config::UserWord;
use crate::error::{Error, Result};

/// Reads a jieba user dictionary: one `word [freq] [tag]` per line; `#` starts a comment.
pub fn read_user_dict(path: &Path) -> Result<Vec<UserWord>> {
    let text = crate::io_guard::read_input(path)?;
    let mut words = Vec::new();
    for (index, raw) in text.split(|&b| b == b'\n').enumerate() {
        let bad = |reason: &str| Error::UserDict {
            path: path.to_path_buf(),
            line: index + 1,
            reason: reason.to_string(),
        };
        let line = std::str::from_utf8(raw).map_err(|_| bad("line is not valid UTF-8"))?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let word = fields.next().unwrap_or_default().to_string();
        let freq = match fields.next() {
            Some(f) => Some(
                f.parse::<usize>()
                    .map_err(|_| bad(&format!("frequency `{f}` is not a whole number")))?,
            ),
            None => None,
        };
        let tag = fields.next().map(str::to_string);
        if fields.next().is_some() {
            return Err(bad("expected `word [freq] [tag]`"));
        }
        words.push(UserWord { word, freq, tag });
    }
    Ok(words)
}
