use jieba_rs::Jieba;

use super::Segmenter;
use crate::analysis::config::UserWord;

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
