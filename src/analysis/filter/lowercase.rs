use super::TokenFilter;
use crate::analysis::script::is_unified_ideograph;

/// Lowercases tokens that have uppercase letters.
pub struct Lowercase;

impl TokenFilter for Lowercase {
    fn apply<'a>(&self, token: std::borrow::Cow<'a, str>) -> Option<std::borrow::Cow<'a, str>> {
        let has_upper = if token.is_ascii() {
            token.bytes().any(|b| b.is_ascii_uppercase())
        } else {
            token
                .chars()
                .any(|c| !is_unified_ideograph(c) && c.is_uppercase())
        };
        if has_upper {
            Some(std::borrow::Cow::Owned(token.to_lowercase()))
        } else {
            Some(token)
        }
    }
}
