//! Text analysis: turning a body into the tokens the features are counted from.
//!
//! Shaped like tantivy's analyzers: a [`Segmenter`] splits normalised text into words, then a
//! chain of [`TokenFilter`]s drops or rewrites each word. The whole configuration is plain data
//! ([`AnalyzerConfig`]) stored in the model, so a draft is analysed at suggestion time exactly as
//! the training corpus was.
//!
//! One file a part: [`config`] (what is stored in the model), [`user_dict`] (reading a jieba
//! user dictionary), [`segmenter`] (jieba, whitespace, word runs), [`filter`] (the token
//! filters), [`nfkc`] (normalisation), [`ngrams`] (character n-grams) and [`script`] (which
//! characters are ideographs or word characters).

pub mod config;
pub mod filter;
mod han_spacing;
mod nfkc;
mod ngrams;
pub mod script;
pub mod segmenter;
pub mod user_dict;

pub use config::{AnalyzerConfig, CharNgrams, CharScripts, Language, SegmenterKind, UserWord};
pub use filter::{DropNumbers, Lowercase, MinChars, Stem, StopWords, TokenFilter, TrimPunctuation};
pub use script::{is_cjk_ideograph, is_han};
pub use segmenter::{JiebaSegmenter, Segmenter, WhitespaceSegmenter, WordsSegmenter};
pub use user_dict::read_user_dict;

use crate::error::Result;
use nfkc::nfkc;
use ngrams::char_ngrams;
use script::is_unified_ideographs;

/// Prefix of character n-gram features, so they never collide with word features
/// (filters drop tokens without letters or digits, so no word starts with it).
pub const CHAR_NGRAM_PREFIX: char = '#';

/// Longest run of text, in bytes, a segmenter is given at once: a longer whitespace-free
/// chunk is cut into pieces (each ending, where it can, after a character that is neither a
/// letter nor a digit). *Why:* jieba's word graph costs tens of bytes per character, so one
/// unbroken 20 MB chunk (a character repeated) cost close to a gigabyte; in pieces, memory
/// stays linear in the text with a small constant. Real chunks are far shorter (a whole
/// cail2018 document is a few kilobytes), so their words do not change.
pub const MAX_SEGMENT_BYTES: usize = 128 * 1024;

/// `chunk` in pieces of at most [`MAX_SEGMENT_BYTES`] (the chunk itself when it is short).
fn segment_pieces(chunk: &str, mut emit: impl FnMut(&str)) {
    let mut rest = chunk;
    while rest.len() > MAX_SEGMENT_BYTES {
        let mut cut = MAX_SEGMENT_BYTES;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        // Prefer a cut after punctuation or a symbol within the last few kilobytes.
        let mut window = cut.saturating_sub(4096);
        while !rest.is_char_boundary(window) {
            window += 1;
        }
        if let Some((i, c)) = rest[window..cut]
            .char_indices()
            .rev()
            .find(|&(_, c)| !c.is_alphanumeric())
        {
            cut = window + i + c.len_utf8();
        }
        emit(&rest[..cut]);
        rest = &rest[cut..];
    }
    if !rest.is_empty() {
        emit(rest);
    }
}

/// A configured analyzer: NFKC normalisation, segmentation, filters, optional char n-grams.
/// Cheap to share across rayon threads (`Send + Sync`, one segmenter for all).
pub struct Analyzer {
    config: AnalyzerConfig,
    segmenter: Box<dyn Segmenter>,
    filters: Vec<Box<dyn TokenFilter>>,
    /// The filters are the four every language has (no stop words, no stemmer), so a word of
    /// unified ideographs only needs its length checked ([`Analyzer::filter`]).
    plain_filters: bool,
}

/// A token as the analyzer hands it over inside the crate: text, or the character n-gram of
/// one unified ideograph (`#` and the character), given as the character so that counting
/// it needs no string ([`Analyzer::for_each_ngram_of_normalized`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Term<'a> {
    Text(&'a str),
    Han(char),
    /// A coordinating conjunction between words ([`Language::coordinators`]): no term (the
    /// filters drop it), but where it stood tells the label lexicon of elided words.
    Coordinator,
}

/// How a [`Term::Coordinator`] is written in a list of words handed over as strings (the
/// words a training document's labels are matched in): no analysed word can be it, since
/// the filters trim every word's non-alphanumeric ends.
pub const COORDINATOR_MARK: &str = "\u{1}";

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("config", &self.config)
            .finish()
    }
}

impl Analyzer {
    pub fn new(config: AnalyzerConfig) -> Result<Self> {
        config.check()?;
        let segmenter: Box<dyn Segmenter> = match config.segmenter {
            SegmenterKind::Jieba => Box::new(JiebaSegmenter::new(&config.user_words)),
            SegmenterKind::Whitespace => Box::new(WhitespaceSegmenter),
            SegmenterKind::Words => Box::new(WordsSegmenter),
        };
        let mut filters: Vec<Box<dyn TokenFilter>> = vec![
            Box::new(TrimPunctuation),
            Box::new(DropNumbers),
            Box::new(MinChars(config.min_word_chars)),
            Box::new(Lowercase),
        ];
        let stop_words = config.language.stop_words();
        if !stop_words.is_empty() {
            filters.push(Box::new(StopWords(stop_words.iter().copied().collect())));
        }
        if let Some(algorithm) = config.language.stemmer() {
            filters.push(Box::new(Stem(rust_stemmers::Stemmer::create(algorithm))));
        }
        let plain_filters = filters.len() == 4;
        Ok(Analyzer {
            segmenter,
            filters,
            config,
            plain_filters,
        })
    }

    pub fn config(&self) -> &AnalyzerConfig {
        &self.config
    }

    /// Calls `emit` for every token of `text`, in order: words, and after each chunk's words
    /// its character n-grams.
    pub fn for_each_token(&self, text: &str, emit: &mut dyn FnMut(&str)) {
        self.analyze(text, true, emit)
    }

    /// Calls `emit` for every word of `text`, in order, without character n-grams: the
    /// sequence thesaurus labels are matched in.
    pub fn for_each_word(&self, text: &str, emit: &mut dyn FnMut(&str)) {
        self.analyze(text, false, emit)
    }

    fn analyze(&self, text: &str, with_ngrams: bool, emit: &mut dyn FnMut(&str)) {
        let mut gram = String::new();
        self.analyze_terms(text, with_ngrams, &mut |term| match term {
            Term::Text(t) => emit(t),
            Term::Han(c) => {
                gram.clear();
                gram.push(CHAR_NGRAM_PREFIX);
                gram.push(c);
                emit(&gram);
            }
            Term::Coordinator => {}
        })
    }

    /// The NFKC normalisation every token of `text` is taken from. For jieba, whitespace
    /// between two Chinese characters is removed as well ([`han_spacing`]): a body segmented
    /// with spaces is segmented again like the raw body.
    pub(crate) fn normalize<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        let text = nfkc(text);
        if self.config.segmenter != SegmenterKind::Jieba {
            return text;
        }
        han_spacing::join_han_runs(text)
    }

    /// The character n-grams of a text already [normalised](Self::normalize), those
    /// [`Self::for_each_token`] gives (the n-gram of one unified ideograph as [`Term::Han`]);
    /// needs no segmenter.
    pub(crate) fn for_each_ngram_of_normalized(
        &self,
        normalized: &str,
        emit: &mut dyn FnMut(Term<'_>),
    ) {
        if let Some(grams) = self.config.char_ngrams.as_ref() {
            for chunk in normalized.split_whitespace() {
                char_ngrams(chunk, grams, emit);
            }
        }
    }

    /// The words of a text already [normalised](Self::normalize), those
    /// [`Self::for_each_token`] gives. With [`Self::for_each_ngram_of_normalized`], the same
    /// tokens as `for_each_token`, in another order.
    pub(crate) fn for_each_word_of_normalized(
        &self,
        normalized: &str,
        emit: &mut dyn FnMut(Term<'_>),
    ) {
        // A run of coordinators is one (`和 与 和`, or a text of nothing else): it joins the
        // same two words, and every reader of the word sequence keeps one mark per run.
        let mut after_coordinator = false;
        let mut once = |term: Term<'_>| {
            let coordinator = term == Term::Coordinator;
            if !(coordinator && after_coordinator) {
                emit(term);
            }
            after_coordinator = coordinator;
        };
        for chunk in normalized.split_whitespace() {
            self.segment(chunk, &mut once);
        }
    }

    /// The filtered words of one whitespace-free chunk, segmented in bounded pieces.
    fn segment(&self, chunk: &str, emit: &mut dyn FnMut(Term<'_>)) {
        segment_pieces(chunk, |piece| {
            self.segmenter
                .segment(piece, &mut |word| match self.filter(word) {
                    Some(token) => emit(Term::Text(&token)),
                    None if self.is_coordinator(word) => emit(Term::Coordinator),
                    None => {}
                })
        });
    }

    fn analyze_terms(&self, text: &str, with_ngrams: bool, emit: &mut dyn FnMut(Term<'_>)) {
        let normalized = self.normalize(text);
        let grams = self.config.char_ngrams.as_ref().filter(|_| with_ngrams);
        for chunk in normalized.split_whitespace() {
            self.segment(chunk, emit);
            if let Some(grams) = grams {
                char_ngrams(chunk, grams, emit);
            }
        }
    }

    /// A segmenter's word through the filters; `None` if one drops it.
    #[inline]
    fn filter<'a>(&self, word: &'a str) -> Option<std::borrow::Cow<'a, str>> {
        // A word of unified ideographs has nothing to trim, is no number and has no case:
        // of the four plain filters only the length can drop it.
        if self.plain_filters && is_unified_ideographs(word) {
            return (word.len() / 3 >= self.config.min_word_chars.max(1))
                .then_some(std::borrow::Cow::Borrowed(word));
        }
        let mut token = std::borrow::Cow::Borrowed(word);
        for filter in &self.filters {
            token = filter.apply(token)?;
        }
        Some(token)
    }

    /// Whether a word the filters dropped is one of the language's coordinating
    /// conjunctions.
    fn is_coordinator(&self, word: &str) -> bool {
        let coordinators = self.config.language.coordinators();
        if coordinators.contains(&word) {
            return true;
        }
        // Capitalised (`And`, `Ja`, `И` at a sentence's start): folded only then, since the
        // filters drop many words (every one-character Chinese word) and folding costs.
        match word.chars().next() {
            Some(first) if first.is_uppercase() => {
                let folded = word.to_lowercase();
                coordinators.contains(&folded.as_str())
            }
            _ => false,
        }
    }

    /// The tokens of `text`, collected.
    pub fn tokens(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.for_each_token(text, &mut |t| out.push(t.to_string()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_normalization::UnicodeNormalization;

    fn analyzer(segmenter: SegmenterKind) -> Analyzer {
        Analyzer::new(AnalyzerConfig {
            segmenter,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn jieba_drops_punctuation_and_numbers_and_lowercases() {
        let tokens = analyzer(SegmenterKind::Jieba).tokens("安全理事会，回顾2005年 UN 决议 1325。");
        assert!(tokens.contains(&"安全".to_string()) || tokens.contains(&"安全理事会".to_string()));
        assert!(tokens.contains(&"un".to_string()));
        assert!(!tokens.iter().any(|t| t == "1325" || t == "，" || t == ","));
    }

    #[test]
    fn segmented_and_raw_text_give_nearly_the_same_tokens() {
        let a = analyzer(SegmenterKind::Jieba);
        let raw = a.tokens("联合国维持和平行动在非洲提供人道主义援助");
        let seg = a.tokens("联合国 维持 和平 行动 在 非洲 提供 人道主义 援助");
        let shared = raw.iter().filter(|t| seg.contains(t)).count();
        assert!(shared * 2 >= raw.len(), "{raw:?} vs {seg:?}");
    }

    #[test]
    fn user_words_stay_whole() {
        let config = AnalyzerConfig {
            user_words: vec![UserWord {
                word: "维持和平行动".into(),
                freq: Some(100_000),
                tag: None,
            }],
            ..Default::default()
        };
        let tokens = Analyzer::new(config)
            .unwrap()
            .tokens("加强维持和平行动的能力");
        assert!(tokens.contains(&"维持和平行动".to_string()), "{tokens:?}");
    }

    #[test]
    fn whitespace_analyzer_trims_attached_punctuation() {
        let tokens = analyzer(SegmenterKind::Whitespace).tokens("Cocoa, prices (rose) 1987 -- ok");
        assert_eq!(tokens, vec!["cocoa", "prices", "rose", "ok"]);
    }

    /// Tokens of `text` split on whitespace, with the character n-grams of `spec`.
    fn tokens_with_ngrams(spec: &str, text: &str) -> Vec<String> {
        let config = AnalyzerConfig {
            segmenter: SegmenterKind::Whitespace,
            char_ngrams: CharNgrams::parse(spec).unwrap(),
            ..Default::default()
        };
        Analyzer::new(config).unwrap().tokens(text)
    }

    #[test]
    fn char_ngrams_form_a_separate_block() {
        let tokens = tokens_with_ngrams("2-2", "维和行动");
        assert!(tokens.contains(&"#维和".to_string()));
        assert!(tokens.contains(&"#行动".to_string()));
        assert!(tokens.contains(&"维和行动".to_string()));
    }

    #[test]
    fn han_ngrams_skip_other_scripts() {
        let tokens = tokens_with_ngrams("han:1-2", "UN维和 2005年");
        let grams: Vec<&str> = tokens
            .iter()
            .filter(|t| t.starts_with(CHAR_NGRAM_PREFIX))
            .map(String::as_str)
            .collect();
        assert_eq!(grams, ["#维", "#和", "#维和", "#年"]);
    }

    #[test]
    fn char_ngram_specs() {
        let han = CharNgrams::parse("han:1-1").unwrap().unwrap();
        assert_eq!((han.min, han.max, han.scripts), (1, 1, CharScripts::Han));
        let all = CharNgrams::parse("2-3").unwrap().unwrap();
        assert_eq!((all.min, all.max, all.scripts), (2, 3, CharScripts::All));
        assert_eq!(CharNgrams::parse("none").unwrap(), None);
        assert!(CharNgrams::parse("latin:1-2")
            .unwrap_err()
            .contains("unknown script"));
        assert!(CharNgrams::parse("3-2").is_err());
        assert!(CharNgrams::parse("x").is_err());
        assert_eq!(CharNgrams::default_for(SegmenterKind::Whitespace), None);
    }

    #[test]
    fn fast_nfkc_equals_the_general_algorithm() {
        let samples = [
            "安全理事会，回顾（A/RES/60/1）：２００５年",
            "e\u{301}te\u{301} cafe\u{301}，ＡＢＣ\u{301}",
            "한국어 ㄱㅏ 가\u{11A8} ﬁ ½ ㈱ ℡ Ⅻ ｶﾀｶﾅ",
            "“引号”《书名》、。〈〉【】\u{3000}全角空格",
            "\u{301}leading mark, Å vs A\u{30A}",
        ];
        for s in samples {
            let expected: String = s.nfkc().collect();
            assert_eq!(nfkc(s), expected, "{s:?}");
        }
    }

    #[test]
    fn finnish_words_are_stemmed_and_stop_words_dropped() {
        let a = Analyzer::new(AnalyzerConfig::for_language(Language::Fi)).unwrap();
        let tokens = a.tokens("Kirjastossa on tarot-kortteja, ja kirjastoon tuli kortteja.");
        // Inflected forms share a stem; `on` and `ja` are stop words; the hyphen splits.
        assert_eq!(tokens.len(), 6, "{tokens:?}");
        assert_eq!(tokens[0], tokens[3], "{tokens:?}");
        assert_eq!(tokens[2], tokens[5], "{tokens:?}");
        assert_eq!(tokens[0], "kirjasto", "{tokens:?}");
        assert!(!tokens.iter().any(|t| t == "on" || t == "ja"), "{tokens:?}");
    }

    #[test]
    fn mixed_script_text_keeps_every_script() {
        let a = Analyzer::new(AnalyzerConfig::for_language(Language::En)).unwrap();
        let tokens = a.tokens("Peacekeeping operations 维持和平行动 in Africa");
        assert!(tokens.contains(&"维持和平行动".to_string()), "{tokens:?}");
        assert!(tokens.contains(&"peacekeep".to_string()), "{tokens:?}");
        assert!(Language::parse("xx").unwrap_err().contains("known: zh, en"));
    }

    #[test]
    fn long_chunks_are_segmented_in_bounded_pieces() {
        let text = format!("{}。{}", "中".repeat(42_700), "a".repeat(300_000));
        let mut pieces = Vec::new();
        segment_pieces(&text, |p| pieces.push(p.len()));
        assert!(pieces.iter().all(|&n| n <= MAX_SEGMENT_BYTES), "{pieces:?}");
        assert_eq!(pieces.iter().sum::<usize>(), text.len());
        // The first cut falls after the full stop, not inside the run of letters.
        assert_eq!(pieces[0], 42_701 * 3);
        let short = "联合国维持和平行动";
        let mut one = Vec::new();
        segment_pieces(short, |p| one.push(p.to_string()));
        assert_eq!(one, [short]);
    }

    #[test]
    fn nfkc_folds_fullwidth_forms() {
        let tokens = analyzer(SegmenterKind::Whitespace).tokens("ＵＮＩＣＥＦ");
        assert_eq!(tokens, vec!["unicef"]);
    }

    #[test]
    fn jieba_segments_a_spaced_body_as_the_raw_one() {
        let a = analyzer(SegmenterKind::Jieba);
        let raw = a.tokens("安全理事会欢迎区域组织的合作, 2005 年");
        let spaced = a.tokens("安全 理事会 欢迎 区域 组织 的 合作 , 2005 年");
        assert_eq!(raw, spaced);
    }
}
