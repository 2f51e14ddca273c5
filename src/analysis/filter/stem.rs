use super::TokenFilter;

/// Reduces words to their Snowball stem, so inflected forms (`kirjastossa`, `kirjastoon`)
/// count as one feature and match one thesaurus label.
pub struct Stem(pub(crate) rust_stemmers::Stemmer);

impl TokenFilter for Stem {
    fn apply<'a>(&self, token: std::borrow::Cow<'a, str>) -> Option<std::borrow::Cow<'a, str>> {
        match self.0.stem(&token) {
            std::borrow::Cow::Borrowed(s) if s.len() == token.len() => Some(token),
            stem => Some(std::borrow::Cow::Owned(stem.into_owned())),
        }
    }
}
