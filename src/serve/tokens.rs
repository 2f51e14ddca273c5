//! Who may teach: `dtag serve --learn --learn-tokens FILE`.
//!
//! The file has a line per indexer, `NAME TOKEN` or `NAME sha256:HEX` (the SHA-256 digest of
//! the token, so the file need not hold the token itself); empty lines and lines starting
//! with `#` are ignored. A learn request must then carry `Authorization: Bearer TOKEN`; the
//! token's digest is compared with every entry's in constant time (no early exit, no
//! comparison of the tokens themselves), and the request learns as that NAME. Tokens are never
//! logged or put in a message: a line the file cannot hold is named by its number only.
//! SIGHUP reads the file again; a file that cannot be read keeps the tokens read before.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Tokens shorter than this are refused: a learn token guards every model the server has.
pub const MIN_TOKEN_BYTES: usize = 16;
/// Names appear in logs: short, and of letters, digits and `-_.@` only.
pub const MAX_NAME_BYTES: usize = 64;

/// One indexer: a name and the digest of its token.
#[derive(Clone)]
struct Entry {
    name: Arc<str>,
    digest: [u8; 32],
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The digest is as good as the token against a server that compares digests.
        f.debug_struct("Entry").field("name", &self.name).finish()
    }
}

/// The indexers allowed to teach, read from a file and read again on SIGHUP.
#[derive(Debug)]
pub struct LearnTokens {
    path: PathBuf,
    entries: RwLock<Arc<Vec<Entry>>>,
}

impl LearnTokens {
    /// Reads `path`; every problem names the file and line.
    pub fn load(path: &Path) -> Result<LearnTokens> {
        Ok(LearnTokens {
            path: path.to_path_buf(),
            entries: RwLock::new(Arc::new(read(path)?)),
        })
    }

    /// Reads the file again; on failure the tokens read before stay. Returns how many
    /// indexers it now names.
    pub fn reload(&self) -> Result<usize> {
        let entries = read(&self.path)?;
        let n = entries.len();
        *self.entries.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(entries);
        Ok(n)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Indexers named by the file.
    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name of the indexer whose token `token` is, if any. The time taken does not depend
    /// on which entry matches, nor on how much of a token is right.
    pub fn indexer(&self, token: &str) -> Option<Arc<str>> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let entries = self
            .entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut found = None;
        for entry in entries.iter() {
            if constant_time_eq(&entry.digest, &digest) && found.is_none() {
                found = Some(entry.name.clone());
            }
        }
        found
    }
}

/// Whether `a` and `b` are equal, looking at every byte whatever the first difference.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut difference = 0u8;
    for (x, y) in a.iter().zip(b) {
        difference |= x ^ y;
    }
    // black_box: the compiler must not turn the loop back into an early exit.
    std::hint::black_box(difference) == 0
}

/// The SHA-256 digest of `token` as the file may hold it: `sha256:` and 64 hex digits.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut text = String::from("sha256:");
    for byte in digest {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

fn read(path: &Path) -> Result<Vec<Entry>> {
    let bytes = crate::io_guard::read_input(path)?;
    let problem = |line: usize, reason: String| Error::Config {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        problem(
            crate::io_guard::line_of(&bytes, e.valid_up_to()),
            "not valid UTF-8".into(),
        )
    })?;
    let mut entries: Vec<Entry> = Vec::new();
    let mut lines_of: Vec<usize> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(name), Some(secret), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(problem(
                number,
                "expected `NAME TOKEN` or `NAME sha256:HEX` (two fields)".into(),
            ));
        };
        let name_ok = name.len() <= MAX_NAME_BYTES
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
        if !name_ok {
            return Err(problem(
                number,
                format!(
                    "the name must be 1-{MAX_NAME_BYTES} letters, digits, `-`, `_`, `.` or `@`"
                ),
            ));
        }
        let digest = match secret.strip_prefix("sha256:") {
            Some(hex) => parse_hex_digest(hex).ok_or_else(|| {
                problem(number, "`sha256:` must be followed by 64 hex digits".into())
            })?,
            None => {
                if secret.len() < MIN_TOKEN_BYTES {
                    return Err(problem(
                        number,
                        format!("the token of `{name}` is shorter than {MIN_TOKEN_BYTES} bytes"),
                    ));
                }
                Sha256::digest(secret.as_bytes()).into()
            }
        };
        if let Some(j) = entries.iter().position(|e| &*e.name == name) {
            return Err(problem(
                number,
                format!("`{name}` is named again (line {})", lines_of[j]),
            ));
        }
        if let Some(j) = entries.iter().position(|e| e.digest == digest) {
            return Err(problem(
                number,
                format!(
                    "`{name}` has the token of `{}` (line {}): give each indexer its own",
                    entries[j].name, lines_of[j]
                ),
            ));
        }
        entries.push(Entry {
            name: Arc::from(name),
            digest,
        });
        lines_of.push(number);
    }
    if entries.is_empty() {
        return Err(problem(
            0,
            "no tokens (expected lines `NAME TOKEN`): nobody could teach".into(),
        ));
    }
    Ok(entries)
}

fn parse_hex_digest(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(digest)
}

/// The token of an `Authorization: Bearer TOKEN` header value.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn tokens_and_hashes_name_their_indexer() {
        let hashed = token_hash("second-indexer-secret");
        let (_dir, path) = file(&format!(
            "# indexers\nalice  first-indexer-secret\n\nbob {hashed}\n"
        ));
        let tokens = LearnTokens::load(&path).unwrap();
        assert_eq!(tokens.len(), 2);
        assert_eq!(
            tokens.indexer("first-indexer-secret").as_deref(),
            Some("alice")
        );
        assert_eq!(
            tokens.indexer("second-indexer-secret").as_deref(),
            Some("bob")
        );
        assert_eq!(tokens.indexer("first-indexer-secreT"), None);
        assert_eq!(tokens.indexer(""), None);
        assert_eq!(tokens.indexer(&hashed), None);
        // Read again: a new token works, the old one no longer does.
        std::fs::write(&path, "carol third-indexer-secret\n").unwrap();
        assert_eq!(tokens.reload().unwrap(), 1);
        assert_eq!(tokens.indexer("first-indexer-secret"), None);
        assert_eq!(
            tokens.indexer("third-indexer-secret").as_deref(),
            Some("carol")
        );
        // A broken file keeps what was read before.
        std::fs::write(&path, "dave\n").unwrap();
        assert!(tokens.reload().is_err());
        assert!(tokens.indexer("third-indexer-secret").is_some());
    }

    #[test]
    fn mistakes_name_the_line_and_never_the_token() {
        let err = |text: &str| {
            let (_dir, path) = file(text);
            LearnTokens::load(&path).unwrap_err().to_string()
        };
        let short = err("alice short-secret\n");
        assert!(short.contains("tokens:1:"), "{short}");
        assert!(!short.contains("short-secret"), "{short}");
        let three = err("# x\nalice a-long-enough-secret extra\n");
        assert!(three.contains("tokens:2:"), "{three}");
        assert!(!three.contains("a-long-enough-secret"), "{three}");
        let again = err("alice a-long-enough-secret\nalice another-long-secret\n");
        assert!(again.contains(":2:") && again.contains("line 1"), "{again}");
        let shared = err("alice a-long-enough-secret\nbob a-long-enough-secret\n");
        assert!(
            shared.contains(":2:") && !shared.contains("a-long-enough"),
            "{shared}"
        );
        assert!(err("alice sha256:abc\n").contains("64 hex digits"));
        assert!(err("al/ice a-long-enough-secret\n").contains("name"));
        assert!(err("# nobody\n").contains("no tokens"));
    }

    #[test]
    fn bearer_tokens_are_read_from_the_header() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer   abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
