use super::TokenFilter;

/// Drops words shorter than a number of characters.
pub struct MinChars(pub usize);

impl TokenFilter for MinChars {
    fn apply<'a>(&self, token: std::borrow::Cow<'a, str>) -> Option<std::borrow::Cow<'a, str>> {
        (token.chars().nth(self.0.saturating_sub(1)).is_some()).then_some(token)
    }
}
