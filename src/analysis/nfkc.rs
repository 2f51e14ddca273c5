use unicode_normalization::UnicodeNormalization;

use super::script::is_unified_ideograph;

/// NFKC normalisation with a fast path for the characters Chinese documents are made of.
///
/// ASCII, CJK ideographs and the common CJK punctuation are NFKC-stable, and full-width ASCII
/// forms map to ASCII by a fixed offset; only runs of other characters go through the general
/// algorithm, together with the character before them, which a combining mark may compose with.
/// No character of the fast set composes with what precedes it, so the pieces normalise
/// independently and the result equals NFKC of the whole text.
pub(crate) fn nfkc(text: &str) -> std::borrow::Cow<'_, str> {
    if text
        .chars()
        .all(|c| c.is_ascii() || is_unified_ideograph(c))
    {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut slow = String::new();
    // Characters NFKC leaves alone are copied a run at a time: `text[run..]` up to the current
    // character is such a run not yet in `out` (always empty while `slow` is not).
    let mut run = 0;
    for (at, c) in text.char_indices() {
        let fast =
            if c.is_ascii() || is_unified_ideograph(c) || ('\u{3001}'..='\u{3011}').contains(&c) {
                Some(c)
            } else if ('\u{FF01}'..='\u{FF5E}').contains(&c) {
                char::from_u32(c as u32 - 0xFEE0)
            } else {
                None
            };
        match fast {
            Some(f) => {
                if !slow.is_empty() {
                    out.extend(slow.nfkc());
                    slow.clear();
                    run = at;
                }
                if f != c {
                    out.push_str(&text[run..at]);
                    out.push(f);
                    run = at + c.len_utf8();
                }
            }
            None => {
                if slow.is_empty() {
                    out.push_str(&text[run..at]);
                    // The previous character may compose with this one: normalise them together.
                    if let Some(prev) = out.pop() {
                        slow.push(prev);
                    }
                }
                slow.push(c);
                run = at + c.len_utf8();
            }
        }
    }
    if slow.is_empty() {
        out.push_str(&text[run..]);
    } else {
        out.extend(slow.nfkc());
    }
    std::borrow::Cow::Owned(out)
}
