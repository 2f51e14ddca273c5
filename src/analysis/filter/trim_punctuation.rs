use super::TokenFilter;
use crate::analysis::script::is_word_char;

/// Strips punctuation and symbols from both ends; drops tokens with no letter or digit.
pub struct TrimPunctuation;

impl TokenFilter for TrimPunctuation {
    fn apply<'a>(&self, token: std::borrow::Cow<'a, str>) -> Option<std::borrow::Cow<'a, str>> {
        let trimmed = token.trim_matches(|c: char| !is_word_char(c));
        if trimmed.is_empty() {
            return None;
        }
        if trimmed.len() == token.len() {
            return Some(token);
        }
        Some(match token {
            std::borrow::Cow::Borrowed(s) => {
                std::borrow::Cow::Borrowed(s.trim_matches(|c: char| !is_word_char(c)))
            }
            std::borrow::Cow::Owned(_) => std::borrow::Cow::Owned(trimmed.to_string()),
        })
    }
}
