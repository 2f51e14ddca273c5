//! Text analysis: turning a body into the tokens the features are counted from.
//!
//! Shaped like tantivy's analyzers: a [`Segmenter`] splits normalised text into words, then a
//! chain of [`TokenFilter`]s drops or rewrites each word. The whole configuration is plain data
//! ([`AnalyzerConfig`]) stored in the model, so a draft is analysed at suggestion time exactly as
//! the training corpus was.

use std::path::Path;

use jieba_rs::Jieba;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};

/// Prefix of character n-gram features, so they never collide with word features
/// (filters drop tokens without letters or digits, so no word starts with it).
pub const CHAR_NGRAM_PREFIX: char = '#';

/// How words are found in a chunk of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SegmenterKind {
    /// jieba-rs word segmentation (HMM on) inside each whitespace-separated chunk.
    #[default]
    Jieba,
    /// Whitespace-separated tokens as they stand, for already tokenized text.
    Whitespace,
    /// Runs of letters and digits (Unicode), for alphabetic languages: punctuation and
    /// symbols split words, so `tarot-kortit` and `(kortit)` give the words a reader sees.
    Words,
}

/// The language of the documents, as an Annif project has one: it chooses the segmenter,
/// the stop words and the stemmer. Stored in the model with the rest of the analyzer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Language {
    /// Chinese: jieba segmentation, no stemming.
    #[default]
    Zh,
    En,
    Fi,
    Fr,
    Es,
    Ru,
    Ar,
}

impl Language {
    pub const ALL: [Language; 7] = [
        Language::Zh,
        Language::En,
        Language::Fi,
        Language::Fr,
        Language::Es,
        Language::Ru,
        Language::Ar,
    ];

    /// ISO 639-1 code, as in `--language` and thesaurus language tags.
    pub fn code(self) -> &'static str {
        match self {
            Language::Zh => "zh",
            Language::En => "en",
            Language::Fi => "fi",
            Language::Fr => "fr",
            Language::Es => "es",
            Language::Ru => "ru",
            Language::Ar => "ar",
        }
    }

    pub fn parse(code: &str) -> std::result::Result<Language, String> {
        let code = code.trim().to_ascii_lowercase();
        Language::ALL
            .into_iter()
            .find(|l| l.code() == code)
            .ok_or_else(|| {
                let known: Vec<&str> = Language::ALL.iter().map(|l| l.code()).collect();
                format!("unknown language `{code}` (known: {})", known.join(", "))
            })
    }

    /// The segmenter text in this language needs: jieba for Chinese, word runs otherwise.
    pub fn default_segmenter(self) -> SegmenterKind {
        match self {
            Language::Zh => SegmenterKind::Jieba,
            _ => SegmenterKind::Words,
        }
    }

    /// Snowball stemmer of the language (Chinese has no inflection to remove).
    fn stemmer(self) -> Option<rust_stemmers::Algorithm> {
        use rust_stemmers::Algorithm;
        match self {
            Language::Zh => None,
            Language::En => Some(Algorithm::English),
            Language::Fi => Some(Algorithm::Finnish),
            Language::Fr => Some(Algorithm::French),
            Language::Es => Some(Algorithm::Spanish),
            Language::Ru => Some(Algorithm::Russian),
            Language::Ar => Some(Algorithm::Arabic),
        }
    }

    /// Function words dropped before stemming (NLTK's lists); none for Chinese, where
    /// `MinChars` already drops the one-character function words.
    fn stop_words(self) -> &'static [&'static str] {
        match self {
            Language::Zh => &[],
            other => stop_words::lookup(other.code()).unwrap_or(&[]),
        }
    }
}

/// A word for the segmenter's dictionary, as in a jieba user dictionary line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserWord {
    pub word: String,
    pub freq: Option<usize>,
    pub tag: Option<String>,
}

/// Everything that determines the tokens of a text. Stored in the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalyzerConfig {
    pub segmenter: SegmenterKind,
    /// Extra words kept whole by the segmenter.
    pub user_words: Vec<UserWord>,
    /// Character n-grams added as a second feature block (weighted by presence, not count).
    pub char_ngrams: Option<CharNgrams>,
    /// Words shorter than this many characters are dropped (single Chinese characters are
    /// mostly function words: 的, 在, 被).
    pub min_word_chars: usize,
    /// Stop words and stemming follow the language.
    pub language: Language,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig {
            segmenter: SegmenterKind::Jieba,
            user_words: Vec::new(),
            char_ngrams: CharNgrams::default_for(SegmenterKind::Jieba),
            min_word_chars: 2,
            language: Language::Zh,
        }
    }
}

impl AnalyzerConfig {
    /// The defaults for text in `language`: its segmenter, and the character n-grams that
    /// segmenter wants.
    pub fn for_language(language: Language) -> Self {
        let segmenter = language.default_segmenter();
        AnalyzerConfig {
            segmenter,
            char_ngrams: CharNgrams::default_for(segmenter),
            language,
            ..AnalyzerConfig::default()
        }
    }
}

/// Which runs of characters character n-grams are taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CharScripts {
    /// Runs of Chinese characters (CJK Unified Ideographs) only.
    Han,
    /// Every run of letters and digits.
    All,
}

/// Character n-gram features: lengths `min..=max` of the runs of `scripts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CharNgrams {
    pub min: usize,
    pub max: usize,
    pub scripts: CharScripts,
}

impl CharNgrams {
    /// Single Chinese characters for text jieba segments: they carry what segmentation hides
    /// (the one-character words the word filter drops, such as 刀 or 抢, and the parts of
    /// words it got wrong); on cail2018 they lift 5-fold cross-validated micro-F1 from 0.833
    /// to 0.845 and are inert on text without Chinese. Tokens given by whitespace are taken
    /// as they stand.
    pub fn default_for(segmenter: SegmenterKind) -> Option<CharNgrams> {
        match segmenter {
            SegmenterKind::Jieba => Some(CharNgrams {
                min: 1,
                max: 1,
                scripts: CharScripts::Han,
            }),
            SegmenterKind::Whitespace | SegmenterKind::Words => None,
        }
    }

    /// Parses `MIN-MAX` (every script), `han:MIN-MAX` or `all:MIN-MAX`; `none` is `None`.
    pub fn parse(spec: &str) -> std::result::Result<Option<CharNgrams>, String> {
        let spec = spec.trim();
        if spec == "none" {
            return Ok(None);
        }
        let (scripts, range) = match spec.split_once(':') {
            Some(("han", r)) => (CharScripts::Han, r),
            Some(("all", r)) => (CharScripts::All, r),
            Some((other, _)) => {
                return Err(format!(
                    "unknown script `{other}` in `{spec}` (expected han or all)"
                ))
            }
            None => (CharScripts::All, spec),
        };
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        let num = |x: &str| {
            x.trim()
                .parse::<usize>()
                .map_err(|_| format!("`{spec}` is not [han:|all:]MIN-MAX or none"))
        };
        let grams = CharNgrams {
            min: num(a)?,
            max: num(b)?,
            scripts,
        };
        grams.check().map_err(|e| e.to_string())?;
        Ok(Some(grams))
    }

    fn check(&self) -> Result<()> {
        if self.min == 0 || self.min > self.max || self.max > 8 {
            return Err(Error::param(
                "char_ngrams",
                format!(
                    "expected 1 <= min <= max <= 8, got {}-{}",
                    self.min, self.max
                ),
            ));
        }
        Ok(())
    }
}

impl AnalyzerConfig {
    pub fn check(&self) -> Result<()> {
        self.char_ngrams.as_ref().map_or(Ok(()), CharNgrams::check)
    }
}

/// Reads a jieba user dictionary: one `word [freq] [tag]` per line; `#` starts a comment.
pub fn read_user_dict(path: &Path) -> Result<Vec<UserWord>> {
    let text = crate::io_guard::read_input(path)?;
    let mut words = Vec::new();
    for (index, raw) in text.split(|&b| b == b'\n').enumerate() {
        let bad = |reason: &str| Error::UserDict {
            path: path.to_path_buf(),
            line: index + 1,
            reason: reason.to_string(),
        };
        let line = std::str::from_utf8(raw).map_err(|_| bad("line is not valid UTF-8"))?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let word = fields.next().unwrap_or_default().to_string();
        let freq = match fields.next() {
            Some(f) => Some(
                f.parse::<usize>()
                    .map_err(|_| bad(&format!("frequency `{f}` is not a whole number")))?,
            ),
            None => None,
        };
        let tag = fields.next().map(str::to_string);
        if fields.next().is_some() {
            return Err(bad("expected `word [freq] [tag]`"));
        }
        words.push(UserWord { word, freq, tag });
    }
    Ok(words)
}

/// Splits normalised text into candidate words.
pub trait Segmenter: Send + Sync {
    fn segment<'a>(&self, chunk: &'a str, emit: &mut dyn FnMut(&'a str));
}

/// Rewrites or drops one token; returns `None` to drop it.
pub trait TokenFilter: Send + Sync {
    fn apply<'a>(&self, token: std::borrow::Cow<'a, str>) -> Option<std::borrow::Cow<'a, str>>;
}

/// jieba-rs segmentation with its HMM for unknown words.
///
/// Its dictionary (about 350,000 words) takes a tenth of a second or more to load, so `new`
/// loads it on a thread of its own and returns at once; the first text to segment waits for
/// it. Whatever runs in between (reading a corpus, normalising text, counting character
/// n-grams) hides the load.
pub struct JiebaSegmenter {
    jieba: std::sync::OnceLock<Jieba>,
    loading: std::sync::Mutex<Option<std::thread::JoinHandle<Jieba>>>,
}

impl JiebaSegmenter {
    pub fn new(user_words: &[UserWord]) -> Self {
        let words = user_words.to_vec();
        let load = move || {
            let mut jieba = Jieba::new();
            for w in &words {
                jieba.add_word(&w.word, w.freq, w.tag.as_deref());
            }
            jieba
        };
        let jieba = std::sync::OnceLock::new();
        let loading = match std::thread::Builder::new()
            .name("dtag-jieba-load".into())
            .spawn(load.clone())
        {
            Ok(handle) => Some(handle),
            Err(_) => {
                // No thread to spare: load it here.
                let _ = jieba.set(load());
                None
            }
        };
        JiebaSegmenter {
            jieba,
            loading: std::sync::Mutex::new(loading),
        }
    }

    /// The loaded dictionary, waiting for its thread the first time.
    fn jieba(&self) -> &Jieba {
        self.jieba.get_or_init(|| {
            let handle = self
                .loading
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .expect("the jieba dictionary is loaded once");
            match handle.join() {
                Ok(jieba) => jieba,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

impl Segmenter for JiebaSegmenter {
    fn segment<'a>(&self, chunk: &'a str, emit: &mut dyn FnMut(&'a str)) {
        for token in self.jieba().cut(chunk, true) {
            emit(token.word);
        }
    }
}

/// Each whitespace-separated chunk is one word.
pub struct WhitespaceSegmenter;

impl Segmenter for WhitespaceSegmenter {
    fn segment<'a>(&self, chunk: &'a str, emit: &mut dyn FnMut(&'a str)) {
        emit(chunk);
    }
}

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

/// The basic block of CJK Unified Ideographs, where nearly all Chinese text lies: letters,
/// never digits or uppercase, and unchanged by NFKC. Checking it first spares most Chinese
/// characters the slower Unicode table lookups; Han character n-grams are taken from it.
#[inline]
/// Whether `c` is a unified Chinese ideograph (the characters jieba segments).
pub fn is_han(c: char) -> bool {
    is_unified_ideograph(c)
}

fn is_unified_ideograph(c: char) -> bool {
    ('\u{4E00}'..='\u{9FFF}').contains(&c)
}

/// Whether `word` is one or more characters of the basic unified block (U+4E00..=U+9FFF),
/// tested on the UTF-8 bytes: each is three bytes led by 0xE4 (from 0xE4 0xB8, U+4E00) to
/// 0xE9 (U+9FFF is 0xE9 0xBF 0xBF).
#[inline]
fn is_unified_ideographs(word: &str) -> bool {
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
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || is_unified_ideograph(c) || (!c.is_ascii() && c.is_alphanumeric())
}

/// Strips punctuation and symbols from both ends; drops tokens with no letter or digit.
pub struct TrimPunctuation;

impl TokenFilter for TrimPunctuation {
    fn apply<'a>(&self, token: std::borrow::Cow<'a, str>) -> Option<std::borrow::Cow<'a, str>> {
        let trimmed = token.trim_matches(|c: char| !is_word_char(c));
        if trimmed.is_empty() {
            return None;
        }
        if trimmed.len() == token.len() {
            return Some(token);
        }
        Some(match token {
            std::borrow::Cow::Borrowed(s) => {
                std::borrow::Cow::Borrowed(s.trim_matches(|c: char| !is_word_char(c)))
            }
            std::borrow::Cow::Owned(_) => std::borrow::Cow::Owned(trimmed.to_string()),
        })
    }
}

/// Drops numbers (`2005`, `3.5`, `1,000`): they identify documents, not subjects.
pub struct DropNumbers;

impl TokenFilter for DropNumbers {
    fn apply<'a>(&self, token: std::borrow::Cow<'a, str>) -> Option<std::borrow::Cow<'a, str>> {
        let is_number = token.chars().all(|c| {
            c.is_ascii_digit()
                || matches!(c, '.' | ',' | '%')
                || (!c.is_ascii() && !is_unified_ideograph(c) && c.is_numeric())
        });
        (!is_number).then_some(token)
    }
}

/// Drops words shorter than a number of characters.
pub struct MinChars(pub usize);

impl TokenFilter for MinChars {
    fn apply<'a>(&self, token: std::borrow::Cow<'a, str>) -> Option<std::borrow::Cow<'a, str>> {
        (token.chars().nth(self.0.saturating_sub(1)).is_some()).then_some(token)
    }
}

/// Lowercases tokens that have uppercase letters.
pub struct Lowercase;

impl TokenFilter for Lowercase {
    fn apply<'a>(&self, token: std::borrow::Cow<'a, str>) -> Option<std::borrow::Cow<'a, str>> {
        let has_upper = if token.is_ascii() {
            token.bytes().any(|b| b.is_ascii_uppercase())
        } else {
            token
                .chars()
                .any(|c| !is_unified_ideograph(c) && c.is_uppercase())
        };
        if has_upper {
            Some(std::borrow::Cow::Owned(token.to_lowercase()))
        } else {
            Some(token)
        }
    }
}

/// Drops the language's function words (tokens are lowercase by then).
pub struct StopWords(rustc_hash::FxHashSet<&'static str>);

impl TokenFilter for StopWords {
    fn apply<'a>(&self, token: std::borrow::Cow<'a, str>) -> Option<std::borrow::Cow<'a, str>> {
        (!self.0.contains(token.as_ref())).then_some(token)
    }
}

/// Reduces words to their Snowball stem, so inflected forms (`kirjastossa`, `kirjastoon`)
/// count as one feature and match one thesaurus label.
pub struct Stem(rust_stemmers::Stemmer);

impl TokenFilter for Stem {
    fn apply<'a>(&self, token: std::borrow::Cow<'a, str>) -> Option<std::borrow::Cow<'a, str>> {
        match self.0.stem(&token) {
            std::borrow::Cow::Borrowed(s) if s.len() == token.len() => Some(token),
            stem => Some(std::borrow::Cow::Owned(stem.into_owned())),
        }
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
}

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
        })
    }

    /// The NFKC normalisation every token of `text` is taken from.
    /// For jieba, whitespace between two Chinese characters is removed as well: a body
    /// word-segmented with spaces (区域 组织) is segmented again like the raw body (区域组织), so
    /// features and label matches do not depend on who segmented the text.
    pub(crate) fn normalize<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        let text = nfkc(text);
        if self.config.segmenter != SegmenterKind::Jieba {
            return text;
        }
        join_han_runs(text)
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
        for chunk in normalized.split_whitespace() {
            self.segmenter.segment(chunk, &mut |word| {
                if let Some(token) = self.filter(word) {
                    emit(Term::Text(&token));
                }
            });
        }
    }

    fn analyze_terms(&self, text: &str, with_ngrams: bool, emit: &mut dyn FnMut(Term<'_>)) {
        let normalized = self.normalize(text);
        let grams = self.config.char_ngrams.as_ref().filter(|_| with_ngrams);
        for chunk in normalized.split_whitespace() {
            self.segmenter.segment(chunk, &mut |word| {
                if let Some(token) = self.filter(word) {
                    emit(Term::Text(&token));
                }
            });
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

    /// The tokens of `text`, collected.
    pub fn tokens(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.for_each_token(text, &mut |t| out.push(t.to_string()));
        out
    }
}

/// NFKC normalisation with a fast path for the characters Chinese documents are made of.
///
/// ASCII, CJK ideographs and the common CJK punctuation are NFKC-stable, and full-width ASCII
/// forms map to ASCII by a fixed offset; only runs of other characters go through the general
/// algorithm, together with the character before them, which a combining mark may compose with.
/// No character of the fast set composes with what precedes it, so the pieces normalise
/// independently and the result equals NFKC of the whole text.
/// `text` without the whitespace that stands between two unified ideographs (borrowed when
/// there is none).
fn join_han_runs(text: std::borrow::Cow<'_, str>) -> std::borrow::Cow<'_, str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out: Option<String> = None;
    let mut previous: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        if c.is_whitespace() {
            let end = chars[i..]
                .iter()
                .position(|(_, c)| !c.is_whitespace())
                .map_or(chars.len(), |p| i + p);
            let next = chars.get(end).map(|&(_, c)| c);
            let joins = previous.is_some_and(is_unified_ideograph)
                && next.is_some_and(is_unified_ideograph);
            if joins {
                out.get_or_insert_with(|| text[..at].to_string());
            } else if let Some(o) = out.as_mut() {
                o.extend(chars[i..end].iter().map(|&(_, c)| c));
            }
            i = end;
            continue;
        }
        if let Some(o) = out.as_mut() {
            o.push(c);
        }
        previous = Some(c);
        i += 1;
    }
    match out {
        Some(o) => std::borrow::Cow::Owned(o),
        None => text,
    }
}

fn nfkc(text: &str) -> std::borrow::Cow<'_, str> {
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

/// Emits the lowercased character n-grams of every run of `grams.scripts` in `chunk`; the
/// n-gram of one unified ideograph as [`Term::Han`], any other as text.
fn char_ngrams(chunk: &str, grams: &CharNgrams, emit: &mut dyn FnMut(Term<'_>)) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
        // Only gaps between two Chinese characters go: other words stay apart.
        assert_eq!(a.normalize("UN 区域 组织 2005 年"), "UN 区域组织 2005 年");
        assert!(matches!(
            a.normalize("区域组织"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
