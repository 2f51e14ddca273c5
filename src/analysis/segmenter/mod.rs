//! Segmenters: how a chunk of normalised text is split into candidate words.

mod jieba;
mod whitespace;
mod words;

pub use jieba::JiebaSegmenter;
pub use whitespace::WhitespaceSegmenter;
pub use words::WordsSegmenter;

/// Splits normalised text into candidate words.
pub trait Segmenter: Send + Sync {
    fn segment<'a>(&self, chunk: &'a str, emit: &mut dyn FnMut(&'a str));
}
