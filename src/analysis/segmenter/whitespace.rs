use super::Segmenter;

/// Each whitespace-separated chunk is one word.
pub struct WhitespaceSegmenter;

impl Segmenter for WhitespaceSegmenter {
    fn segment<'a>(&self, chunk: &'a str, emit: &mut dyn FnMut(&'a str)) {
        emit(chunk);
    }
}
