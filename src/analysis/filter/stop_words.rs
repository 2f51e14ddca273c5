use super::TokenFilter;

/// Drops the language's function words (tokens are lowercase by then).
pub struct StopWords(pub(crate) rustc_hash::FxHashSet<&'static str>);

impl TokenFilter for StopWords {
    fn apply<'a>(&self, token: std::borrow::Cow<'a, str>) -> Option<std::borrow::Cow<'a, str>> {
        (!self.0.contains(token.as_ref())).then_some(token)
    }
}
