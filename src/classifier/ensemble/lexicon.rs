//! Lexical matching of thesaurus labels: finds the labels of descriptors (preferred and
//! alternative, in the model's language) in a text analysed like the training texts, and
//! describes each mention by what predicts that an indexer chose the descriptor: how often
//! and how early it occurs, how long and specific the label is, and how often a mention of
//! it in the training texts went with the descriptor.
//!
//! *Why:* indexers often choose the concept whose label the text uses (12 of the 27
//! descriptors of the example UN resolution appear verbatim in it), and a label can propose a
//! descriptor that no training document ever carried. Labels are analysed by the model's own
//! analyzer, so an inflected or segmented form of a label matches as the stem sequence of
//! the label itself.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::analysis::{Analyzer, Term, COORDINATOR_MARK};

/// Longest label, in words, that is matched (longer ones are rare and never the only label).
pub const MAX_LABEL_WORDS: usize = 8;

/// One label as a sequence of analysed words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LexLabel {
    pub words: Vec<u32>,
    pub descriptor: u32,
    pub preferred: bool,
}

/// The stored part of a [`Lexicon`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LexiconData {
    /// Word id → word.
    pub words: Vec<String>,
    pub labels: Vec<LexLabel>,
    /// Per descriptor: training documents that mention it, and how many of them carry it.
    pub mentioned_in: Vec<u32>,
    pub chosen_when_mentioned: Vec<u32>,
}

/// What a text says of one descriptor's labels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mention {
    pub descriptor: u32,
    /// Matches of any of its labels.
    pub count: u32,
    /// Position of the first and last match, as a fraction of the text's words.
    pub first: f32,
    pub last: f32,
    /// Words of the longest label matched.
    pub words: u8,
    /// A preferred label matched (not only an alternative one).
    pub preferred: bool,
    /// Descriptors sharing the best matched label (1: unambiguous).
    pub ambiguity: u16,
    /// How rare the words of the rarest matched label are among all labels, in `[0, 1]`
    /// (see [`Lexicon::rarity`]).
    pub rarity: f32,
}

/// A text's words as the lexicon reads them, built a word at a time ([`WordSequence::push`]):
/// their ids ([`Lexicon::word_id`]), and the labels a coordination spells out without
/// writing them.
///
/// *Why:* a coordination shares a modifier or a head between two words, and the label of
/// the pair it implies is never written. 维护国际和平与安全 names INTERNATIONAL SECURITY
/// (国际安全) nine times in the UN example without one occurrence of 国际安全, and
/// `regional and subregional organizations` are regional organizations. Where a
/// [coordinator](crate::analysis::Term::Coordinator) joins `A X` and `B` (a shared
/// modifier: 国际 和平 与 安全) or `A` and `Y B` (a shared head: 区域 和 次区域 组织), the
/// pair `A B` is read as well, at `A`'s place: as one word when both are Chinese (the
/// thesaurus's Chinese labels are single words to the segmenter), and as two words.
#[derive(Debug, Clone, Default)]
pub struct WordSequence {
    /// Per word (coordinators left out), its id (`u32::MAX`: in no label).
    ids: Vec<u32>,
    /// `(position, ids)`: words a coordination implies, read from the word at `position`.
    elided: Vec<(u32, Vec<u32>)>,
    /// The last two words, the latest last.
    recent: [String; 2],
    /// The latest coordinator: how many words came before it, and the two words before it.
    coordinator: Option<(usize, [String; 2])>,
}

impl WordSequence {
    /// Adds the next word of the text, or a coordinator ([`COORDINATOR_MARK`]).
    pub fn push(&mut self, lexicon: &Lexicon, word: &str) {
        if word == COORDINATOR_MARK {
            self.coordinator = Some((self.ids.len(), self.recent.clone()));
            return;
        }
        let at = self.ids.len();
        if let Some((after, before)) = self.coordinator.take() {
            if at == after && after >= 2 {
                // `A X & B`: B right after the coordinator, A two words before it.
                self.elide(lexicon, after - 2, &before[0], word);
            }
            if at == after + 1 && after >= 1 {
                // `A & Y B`: B the second word after it, A right before it.
                self.elide(lexicon, after - 1, &before[1], word);
            } else if at <= after {
                self.coordinator = Some((after, before));
            }
        }
        self.ids.push(lexicon.word_id(word));
        self.recent.swap(0, 1);
        self.recent[1].clear();
        self.recent[1].push_str(word);
    }

    /// Reads `a b` at `position`, as the one word they join into (Chinese) or as two.
    fn elide(&mut self, lexicon: &Lexicon, position: usize, a: &str, b: &str) {
        let han = |w: &str| !w.is_empty() && w.chars().all(crate::analysis::is_han);
        if han(a) && han(b) {
            let joined = lexicon.word_id(&format!("{a}{b}"));
            if joined != u32::MAX {
                self.elided.push((position as u32, vec![joined]));
            }
        }
        let (a, b) = (lexicon.word_id(a), lexicon.word_id(b));
        if a != u32::MAX && b != u32::MAX {
            self.elided.push((position as u32, vec![a, b]));
        }
    }
}

/// The labels as a trie over word ids: a text's mentions are found in one walk from each
/// word, however many labels start with it.
#[derive(Debug, Clone, Default)]
struct LabelTrie {
    /// First word → node.
    root: FxHashMap<u32, u32>,
    /// Per node: its children `(word, node)`, sorted by word.
    children: Vec<Vec<(u32, u32)>>,
    /// Per node: the labels whose words end there.
    ends: Vec<Vec<u32>>,
}

impl LabelTrie {
    fn build(labels: &[LexLabel]) -> Self {
        let mut trie = LabelTrie::default();
        for (i, label) in labels.iter().enumerate() {
            let mut node = trie.child_or_insert(None, label.words[0]);
            for &w in &label.words[1..] {
                node = trie.child_or_insert(Some(node), w);
            }
            trie.ends[node as usize].push(i as u32);
        }
        trie
    }

    fn child_or_insert(&mut self, parent: Option<u32>, word: u32) -> u32 {
        let next = self.children.len() as u32;
        let node = match parent {
            None => *self.root.entry(word).or_insert(next),
            Some(p) => {
                let list = &mut self.children[p as usize];
                match list.binary_search_by_key(&word, |&(w, _)| w) {
                    Ok(at) => list[at].1,
                    Err(at) => {
                        list.insert(at, (word, next));
                        next
                    }
                }
            }
        };
        if node == next {
            self.children.push(Vec::new());
            self.ends.push(Vec::new());
        }
        node
    }

    /// Calls `found` with every label that starts at the beginning of `ids`.
    #[inline]
    fn labels_at(&self, ids: &[u32], found: &mut impl FnMut(u32)) {
        let Some(&first) = ids.first().and_then(|w| self.root.get(w)) else {
            return;
        };
        let mut node = first as usize;
        let mut depth = 1;
        loop {
            for &label in &self.ends[node] {
                found(label);
            }
            let Some(&w) = ids.get(depth) else { return };
            let children = &self.children[node];
            match children.binary_search_by_key(&w, |&(c, _)| c) {
                Ok(at) => node = children[at].1 as usize,
                Err(_) => return,
            }
            depth += 1;
        }
    }
}

/// Labels in a trie over their words.
#[derive(Debug, Clone)]
pub struct Lexicon {
    data: LexiconData,
    word_ids: FxHashMap<String, u32>,
    trie: LabelTrie,
    /// Per label: how many labels have the same words.
    ambiguity: Vec<u16>,
    /// Per label: the rarity of its words among the labels ([`Self::rarity`]).
    rarity: Vec<f32>,
    /// The record of all mentions, which every descriptor's is smoothed toward (see
    /// [`Self::precision`]); kept, not summed over every descriptor at each call.
    base_precision: f64,
}

impl Lexicon {
    /// Analyses `labels` (`(descriptor, label, preferred)`) with `analyzer`; labels that
    /// analyse to no word, or to more than [`MAX_LABEL_WORDS`], are left out.
    pub fn build<'a>(
        analyzer: &Analyzer,
        labels: impl IntoIterator<Item = (u32, &'a str, bool)>,
        n_descriptors: usize,
    ) -> Lexicon {
        let mut word_ids: FxHashMap<String, u32> = FxHashMap::default();
        let mut words: Vec<String> = Vec::new();
        let mut seen: rustc_hash::FxHashSet<(Vec<u32>, u32)> = Default::default();
        let mut out: Vec<LexLabel> = Vec::new();
        for (descriptor, label, preferred) in labels {
            let mut ids = Vec::new();
            analyzer.for_each_word(label, &mut |w| {
                let next = words.len() as u32;
                let id = *word_ids.entry(w.to_string()).or_insert_with(|| {
                    words.push(w.to_string());
                    next
                });
                ids.push(id);
            });
            if ids.is_empty() || ids.len() > MAX_LABEL_WORDS {
                continue;
            }
            // A preferred label is listed before the alternative ones of its concept, so the
            // first of equal labels keeps the stronger kind.
            if seen.insert((ids.clone(), descriptor)) {
                out.push(LexLabel {
                    words: ids,
                    descriptor,
                    preferred,
                });
            }
        }
        Self::from_data(LexiconData {
            words,
            labels: out,
            mentioned_in: vec![0; n_descriptors],
            chosen_when_mentioned: vec![0; n_descriptors],
        })
    }

    pub fn from_data(data: LexiconData) -> Lexicon {
        let word_ids = data
            .words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as u32))
            .collect();
        let mut same: FxHashMap<&[u32], u16> = FxHashMap::default();
        for label in &data.labels {
            *same.entry(&label.words).or_default() += 1;
        }
        let ambiguity = data
            .labels
            .iter()
            .map(|l| same[l.words.as_slice()])
            .collect();
        let rarity = Self::rarity(&data);
        Lexicon {
            rarity,
            base_precision: Self::base_precision(&data),
            trie: LabelTrie::build(&data.labels),
            data,
            word_ids,
            ambiguity,
        }
    }

    /// Per label, how rare its words are among the labels: the mean over its units of
    /// `ln(L / n_u) / ln L`, for `L` labels of which `n_u` contain unit `u`. A unit is a word,
    /// or for a word of Chinese characters each pair of neighbouring characters: a Chinese
    /// label is one word to the segmenter (the thesaurus's labels are its user words), and
    /// its pairs tell a general label (和平, inside 维持和平行动, 建设和平, …) from a specific
    /// one. 1 for a label whose every unit is in no other label, near 0 for one of units
    /// most labels share. *Why:* a thesaurus's own labels tell which words are specific
    /// (`tarot`) and which are heads of whole families of concepts (`kirjastot`, 组织), with
    /// no corpus needed; a mention of a specific label says more about what a text is about.
    fn rarity(data: &LexiconData) -> Vec<f32> {
        let units_of = |w: u32| -> Vec<String> {
            let word = &data.words[w as usize];
            let chars: Vec<char> = word.chars().collect();
            if chars.len() >= 2 && chars.iter().all(|c| crate::analysis::is_han(*c)) {
                chars.windows(2).map(|p| p.iter().collect()).collect()
            } else {
                vec![word.clone()]
            }
        };
        let word_units: Vec<Vec<String>> = (0..data.words.len() as u32).map(units_of).collect();
        let mut containing: FxHashMap<&str, u32> = FxHashMap::default();
        for label in &data.labels {
            let mut units: Vec<&str> = label
                .words
                .iter()
                .flat_map(|&w| word_units[w as usize].iter().map(String::as_str))
                .collect();
            units.sort_unstable();
            units.dedup();
            for u in units {
                *containing.entry(u).or_insert(0) += 1;
            }
        }
        let n = data.labels.len().max(2) as f64;
        data.labels
            .iter()
            .map(|label| {
                let (sum, count) = label
                    .words
                    .iter()
                    .flat_map(|&w| word_units[w as usize].iter())
                    .fold((0.0, 0usize), |(sum, count), u| {
                        let n_u = containing.get(u.as_str()).copied().unwrap_or(1).max(1);
                        (sum + (n / n_u as f64).ln() / n.ln(), count + 1)
                    });
                (sum / count.max(1) as f64) as f32
            })
            .collect()
    }

    pub fn data(&self) -> &LexiconData {
        &self.data
    }

    /// Checks a loaded lexicon against the model's descriptor count.
    pub fn validate(data: &LexiconData, n_descriptors: usize) -> Result<(), String> {
        let ok = data.labels.iter().all(|l| {
            (l.descriptor as usize) < n_descriptors
                && !l.words.is_empty()
                && l.words.iter().all(|&w| (w as usize) < data.words.len())
        }) && data.mentioned_in.len() == n_descriptors
            && data.chosen_when_mentioned.len() == n_descriptors
            && data
                .mentioned_in
                .iter()
                .zip(&data.chosen_when_mentioned)
                .all(|(m, c)| c <= m);
        if ok {
            Ok(())
        } else {
            Err("the label lexicon does not match the descriptors".into())
        }
    }

    pub fn n_labels(&self) -> usize {
        self.data.labels.len()
    }

    /// The descriptors whose labels occur in `text`, in descriptor order.
    pub fn mentions(&self, analyzer: &Analyzer, text: &str) -> Vec<Mention> {
        let mut sequence = WordSequence::default();
        analyzer.for_each_word_of_normalized(&analyzer.normalize(text), &mut |term| match term {
            Term::Text(w) => sequence.push(self, w),
            Term::Coordinator => sequence.push(self, COORDINATOR_MARK),
            Term::Han(_) => {}
        });
        self.mentions_of_sequence(&sequence)
    }

    /// [`Self::mentions`] of a text whose words (the words [`Analyzer::for_each_word`]
    /// gives, with [`COORDINATOR_MARK`] where a coordinator stood) are known already:
    /// training reads them while it vectorises the corpus.
    pub fn mentions_of_words(&self, words: &[&str]) -> Vec<Mention> {
        let mut sequence = WordSequence::default();
        for w in words {
            sequence.push(self, w);
        }
        self.mentions_of_sequence(&sequence)
    }

    /// A word's id in the labels' vocabulary (`u32::MAX`: in no label).
    pub fn word_id(&self, word: &str) -> u32 {
        self.word_ids.get(word).copied().unwrap_or(u32::MAX)
    }

    /// [`Self::mentions`] of a text given as its [`WordSequence`]: a draft's words are read
    /// while the vectoriser counts them, one analysis for both.
    pub fn mentions_of_sequence(&self, sequence: &WordSequence) -> Vec<Mention> {
        let ids = &sequence.ids;
        let n = ids.len().max(1) as f32;
        let mut found: FxHashMap<u32, Mention> = FxHashMap::default();
        let mut elided = sequence.elided.iter().peekable();
        for i in 0..ids.len() {
            let mut from = |words: &[u32], whole: bool| {
                self.trie.labels_at(words, &mut |li| {
                    // An elided pair counts only for the labels it spells out whole.
                    if !whole || self.data.labels[li as usize].words.len() == words.len() {
                        self.note(&mut found, li, i as f32 / n);
                    }
                })
            };
            from(&ids[i..], false);
            while let Some((_, words)) = elided.next_if(|(at, _)| *at as usize == i) {
                from(words, true);
            }
        }
        let mut mentions: Vec<Mention> = found.into_values().collect();
        mentions.sort_unstable_by_key(|m| m.descriptor);
        mentions
    }

    /// Adds a match of label `li` at `position` to its descriptor's mention (positions come
    /// in increasing order).
    fn note(&self, found: &mut FxHashMap<u32, Mention>, li: u32, position: f32) {
        let label = &self.data.labels[li as usize];
        let ambiguity = self.ambiguity[li as usize];
        let m = found.entry(label.descriptor).or_insert(Mention {
            descriptor: label.descriptor,
            count: 0,
            first: position,
            last: position,
            words: 0,
            preferred: false,
            ambiguity,
            rarity: 0.0,
        });
        m.rarity = m.rarity.max(self.rarity[li as usize]);
        m.count += 1;
        m.last = position;
        m.words = m.words.max(label.words.len() as u8);
        m.preferred |= label.preferred;
        m.ambiguity = m.ambiguity.min(ambiguity);
    }

    /// Records, per descriptor, how many training documents mention it and how many of those
    /// carry it (`gold` holds each document's descriptors).
    pub fn count_training_mentions(&mut self, mentions: &[Vec<Mention>], gold: &[Vec<u32>]) {
        let data = &mut self.data;
        data.mentioned_in.iter_mut().for_each(|c| *c = 0);
        data.chosen_when_mentioned.iter_mut().for_each(|c| *c = 0);
        for (doc, labels) in mentions.iter().zip(gold) {
            for m in doc {
                data.mentioned_in[m.descriptor as usize] += 1;
                if labels.contains(&m.descriptor) {
                    data.chosen_when_mentioned[m.descriptor as usize] += 1;
                }
            }
        }
        self.base_precision = Self::base_precision(&self.data);
    }

    /// Estimated chance that a mention of `descriptor` goes with the descriptor: its training
    /// record, smoothed toward the record of all mentions. `leave_out` removes one training
    /// document's own mention (`Some(was it gold)`), for out-of-sample features.
    pub fn precision(&self, descriptor: u32, leave_out: Option<bool>) -> f32 {
        self.precision_weighted(descriptor, leave_out, 1.0)
    }

    /// [`Self::precision`] with the descriptor's own record counted at `weight` (in
    /// `[0, 1]`): 0 gives the record of all mentions, 1 the descriptor's own.
    pub fn precision_weighted(&self, descriptor: u32, leave_out: Option<bool>, weight: f32) -> f32 {
        let d = descriptor as usize;
        let mut mentioned = self.data.mentioned_in[d] as f64;
        let mut chosen = self.data.chosen_when_mentioned[d] as f64;
        if let Some(gold) = leave_out {
            mentioned = (mentioned - 1.0).max(0.0);
            chosen = (chosen - gold as u8 as f64).max(0.0);
        }
        let w = weight.clamp(0.0, 1.0) as f64;
        const PRIOR_WEIGHT: f64 = 2.0;
        let base = self.base_precision;
        ((w * chosen + PRIOR_WEIGHT * base) / (w * mentioned + PRIOR_WEIGHT)) as f32
    }

    /// The chance a mention goes with its descriptor when nothing is known of that
    /// descriptor's own record: the smoothed share of all training mentions that did.
    pub fn base_precision_of_all(&self) -> f32 {
        self.base_precision as f32
    }

    /// The smoothed share of all training mentions that went with their descriptor.
    fn base_precision(data: &LexiconData) -> f64 {
        let all_mentioned: f64 = data.mentioned_in.iter().map(|&c| c as f64).sum();
        let all_chosen: f64 = data.chosen_when_mentioned.iter().map(|&c| c as f64).sum();
        (all_chosen + 1.0) / (all_mentioned + 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{AnalyzerConfig, Language};

    #[test]
    fn finds_inflected_multiword_labels_and_counts_their_record() {
        let analyzer = Analyzer::new(AnalyzerConfig::for_language(Language::Fi)).unwrap();
        let labels = [
            (0, "tarot kirjastoon", true),
            (1, "kirjastoon", true),
            (2, "kortteja", false),
        ];
        let mut lexicon = Lexicon::build(&analyzer, labels, 3);
        // `kirjastossa` and `kirjastoon` share the stem `kirjasto`.
        let text = "Tarot kirjastossa: kortteja ja kirjastoon lisää.";
        let mentions = lexicon.mentions(&analyzer, text);
        let of = |d: u32| mentions.iter().find(|m| m.descriptor == d).copied();
        let both = of(0).expect("the two-word label matches in an inflected form");
        assert_eq!((both.count, both.words, both.preferred), (1, 2, true));
        assert_eq!(of(1).unwrap().count, 2);
        assert!(!of(2).unwrap().preferred);
        assert!(of(2).unwrap().first > of(1).unwrap().first);

        lexicon.count_training_mentions(&[mentions.clone(), mentions], &[vec![0], vec![]]);
        assert_eq!(lexicon.data().mentioned_in, vec![2, 2, 2]);
        assert_eq!(lexicon.data().chosen_when_mentioned, vec![1, 0, 0]);
        assert!(lexicon.precision(0, None) > lexicon.precision(1, None));
        // Leaving out the document that carried it removes its evidence.
        assert!(lexicon.precision(0, Some(true)) < lexicon.precision(0, None));
    }

    #[test]
    fn a_coordination_names_the_label_of_the_pair_it_implies() {
        // Chinese: the labels are the segmenter's user words, as training makes them.
        let user_words = ["国际安全", "区域组织", "和平"]
            .iter()
            .map(|w| crate::analysis::UserWord {
                word: w.to_string(),
                freq: Some(100_000),
                tag: None,
            })
            .collect();
        let zh = Analyzer::new(AnalyzerConfig {
            user_words,
            ..AnalyzerConfig::default()
        })
        .unwrap();
        let labels = [
            (0, "国际安全", true),
            (1, "区域组织", true),
            (2, "和平", true),
        ];
        let lexicon = Lexicon::build(&zh, labels, 3);
        let count = |mentions: &[Mention], d: u32| {
            mentions
                .iter()
                .find(|m| m.descriptor == d)
                .map_or(0, |m| m.count)
        };
        // A shared modifier (国际 … 与 安全), raw or segmented with spaces, and a shared head
        // (区域 和 次区域 组织); 和平 is still read where it is written.
        for text in [
            "安理会负有维护国际和平与安全的首要责任，区域和次区域组织发挥作用。",
            "安理会 负有 维护 国际 和平 与 安全 的 首要 责任 ， 区域 和 次区域 组织 发挥 作用 。",
        ] {
            let mentions = lexicon.mentions(&zh, text);
            assert_eq!(count(&mentions, 0), 1, "{text}: {mentions:?}");
            assert_eq!(count(&mentions, 1), 1, "{text}: {mentions:?}");
            assert_eq!(count(&mentions, 2), 1, "{text}: {mentions:?}");
        }
        // No coordinator, no elision: 国际和平的安全 names no 国际安全.
        assert_eq!(count(&lexicon.mentions(&zh, "维护国际和平的安全"), 0), 0);

        // English: two-word labels, with `and` a stop word.
        let en = Analyzer::new(AnalyzerConfig::for_language(Language::En)).unwrap();
        let labels = [
            (0, "international security", true),
            (1, "regional organizations", true),
        ];
        let lexicon = Lexicon::build(&en, labels, 2);
        let mentions = lexicon.mentions(
            &en,
            "International peace and security depend on regional and subregional organizations.",
        );
        assert_eq!(count(&mentions, 0), 1, "{mentions:?}");
        assert_eq!(count(&mentions, 1), 1, "{mentions:?}");
        let of = |d: u32| mentions.iter().find(|m| m.descriptor == d).unwrap();
        assert!(of(0).first < of(1).first);
        // Training reads the same from the words it observed, coordinators marked.
        let mut words: Vec<String> = Vec::new();
        en.for_each_word_of_normalized(
            &en.normalize("peace research and security studies"),
            &mut |t| match t {
                Term::Text(w) => words.push(w.to_string()),
                Term::Coordinator => words.push(COORDINATOR_MARK.to_string()),
                Term::Han(_) => {}
            },
        );
        assert!(words.contains(&COORDINATOR_MARK.to_string()), "{words:?}");
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        assert_eq!(
            lexicon.mentions_of_words(&words),
            lexicon.mentions(&en, "peace research and security studies")
        );
    }
}
