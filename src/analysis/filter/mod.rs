//! Token filters: each rewrites or drops one word, in the order the analyzer chains them.

mod drop_numbers;
mod lowercase;
mod min_chars;
mod stem;
mod stop_words;
mod trim_punctuation;

pub use drop_numbers::DropNumbers;
pub use lowercase::Lowercase;
pub use min_chars::MinChars;
pub use stem::Stem;
pub use stop_words::StopWords;
pub use trim_punctuation::TrimPunctuation;

/// Rewrites or drops one token; returns `None` to drop it.
pub trait TokenFilter: Send + Sync {
    fn apply<'a>(&self, token: std::borrow::Cow<'a, str>) -> Option<std::borrow::Cow<'a, str>>;
}
