//! Which characters are ideographs and which make words.

/// The basic block of CJK Unified Ideographs, where nearly all Chinese text lies: letters,
/// never digits or uppercase, and unchanged by NFKC. Checking it first spares most Chinese
/// characters the slower Unicode table lookups; Han character n-grams are taken from it.
#[inline]
pub(crate) fn is_unified_ideograph(c: char) -> bool {
    ('\u{4E00}'..='\u{9FFF}').contains(&c)
}

/// Whether `word` is one or more characters of the basic unified block (U+4E00..=U+9FFF),
/// tested on the UTF-8 bytes: each is three bytes led by 0xE4 (from 0xE4 0xB8, U+4E00) to
/// 0xE9 (U+9FFF is 0xE9 0xBF 0xBF).
#[inline]
pub(crate) fn is_unified_ideographs(word: &str) -> bool {
    let bytes = word.as_bytes();
    !bytes.is_empty()
        && bytes.len().is_multiple_of(3)
        && bytes
            .chunks_exact(3)
            .all(|c| matches!(c[0], 0xE5..=0xE9) || (c[0] == 0xE4 && c[1] >= 0xB8))
}

/// Any CJK ideograph: the unified block, its extensions and the compatibility block (which
/// NFKC maps into the unified block, so the fast paths above must not take it).
pub fn is_cjk_ideograph(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

#[inline]
pub(crate) fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || is_unified_ideograph(c) || (!c.is_ascii() && c.is_alphanumeric())
}

/// Whether `c` is a unified Chinese ideograph (the characters jieba segments).
pub fn is_han(c: char) -> bool {
    is_unified_ideograph(c)
}
