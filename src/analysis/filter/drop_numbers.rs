use super::TokenFilter;
use crate::analysis::script::is_unified_ideograph;

/// Drops numbers (`2005`, `3.5`, `1,000`): they identify documents, not subjects.
pub struct DropNumbers;

impl TokenFilter for DropNumbers {
    fn apply<'a>(&self, token: std::borrow::Cow<'a, str>) -> Option<std::borrow::Cow<'a, str>> {
        let is_number = token.chars().all(|c| {
            c.is_ascii_digit()
                || matches!(c, '.' | ',' | '%')
                || (!c.is_ascii() && !is_unified_ideograph(c) && c.is_numeric())
        });
        (!is_number).then_some(token)
    }
}
