//! Spaces between Chinese characters, removed before jieba segments a text: a body someone
//! word-segmented with spaces (`区域 组织`) is then segmented like the raw body (`区域组织`), so
//! features and label matches do not depend on who segmented the text.

use std::borrow::Cow;

use super::script::is_unified_ideograph;

/// `text` without the whitespace that stands between two unified ideographs (borrowed, and
/// scanned once without allocating, when there is none).
pub(crate) fn join_han_runs(text: Cow<'_, str>) -> Cow<'_, str> {
    match joined(&text) {
        Some(joined) => Cow::Owned(joined),
        None => text,
    }
}

fn joined(text: &str) -> Option<String> {
    let mut out: Option<String> = None;
    // `text[copied..]` is what `out` still lacks.
    let mut copied = 0;
    let mut previous: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c.is_whitespace() && previous.is_some_and(is_unified_ideograph) {
            let mut end = at + c.len_utf8();
            while let Some(&(next_at, next)) = chars.peek() {
                if !next.is_whitespace() {
                    break;
                }
                end = next_at + next.len_utf8();
                chars.next();
            }
            if chars
                .peek()
                .is_some_and(|&(_, next)| is_unified_ideograph(next))
            {
                let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
                out.push_str(&text[copied..at]);
                copied = end;
            }
            previous = None;
            continue;
        }
        previous = Some(c);
    }
    out.map(|mut out| {
        out.push_str(&text[copied..]);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_gaps_between_two_chinese_characters_go() {
        let join = |t: &str| join_han_runs(Cow::Borrowed(t)).into_owned();
        assert_eq!(join("UN 区域 组织 2005 年"), "UN 区域组织 2005 年");
        assert_eq!(join("安全 \t 理事会"), "安全理事会");
        assert_eq!(join("区域 UN 组织"), "区域 UN 组织");
        assert_eq!(join("区域 "), "区域 ");
        assert!(matches!(
            join_han_runs(Cow::Borrowed("区域组织 and more")),
            Cow::Borrowed(_)
        ));
    }
}
