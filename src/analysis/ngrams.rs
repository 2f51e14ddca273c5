use super::config::{CharNgrams, CharScripts};
use super::script::{is_unified_ideograph, is_word_char};
use super::{Term, CHAR_NGRAM_PREFIX};

/// Emits the lowercased character n-grams of every run of `grams.scripts` in `chunk`; the
/// n-gram of one unified ideograph as [`Term::Han`], any other as text.
pub(crate) fn char_ngrams(chunk: &str, grams: &CharNgrams, emit: &mut dyn FnMut(Term<'_>)) {
    if grams.min == 1 && grams.max == 1 && grams.scripts == CharScripts::Han {
        // The default: every unified ideograph of the chunk, in order.
        chunk
            .chars()
            .filter(|&c| is_unified_ideograph(c))
            .for_each(|c| emit(Term::Han(c)));
        return;
    }
    let in_run = match grams.scripts {
        CharScripts::Han => is_unified_ideograph,
        CharScripts::All => is_word_char,
    };
    let mut gram = String::new();
    let mut chars: Vec<char> = Vec::new();
    for run in chunk.split(|c: char| !in_run(c)).filter(|r| !r.is_empty()) {
        chars.clear();
        match grams.scripts {
            // Ideographs have no case.
            CharScripts::Han => chars.extend(run.chars()),
            CharScripts::All => chars.extend(run.chars().flat_map(char::to_lowercase)),
        }
        for n in grams.min..=grams.max {
            for window in chars.windows(n) {
                if n == 1 && is_unified_ideograph(window[0]) {
                    emit(Term::Han(window[0]));
                    continue;
                }
                gram.clear();
                gram.push(CHAR_NGRAM_PREFIX);
                gram.extend(window);
                emit(Term::Text(&gram));
            }
        }
    }
}
