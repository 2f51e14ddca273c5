use super::Segmenter;
use crate::analysis::script::is_word_char;

/// Runs of letters and digits; everything else separates words.
pub struct WordsSegmenter;

impl Segmenter for WordsSegmenter {
    fn segment<'a>(&self, chunk: &'a str, emit: &mut dyn FnMut(&'a str)) {
        chunk
            .split(|c: char| !is_word_char(c))
            .filter(|w| !w.is_empty())
            .for_each(emit);
    }
}
