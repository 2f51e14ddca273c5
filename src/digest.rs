//! FNV-1a digests: fingerprints of corpora, vocabularies and settings (shards and their
//! merge), and of documents (what a model has learned, and the learning log).
//!
//! They catch accidents (a part of another corpus, a document sent twice), not forgeries:
//! nothing here defends against a crafted collision. A leaf module: it imports nothing of the
//! crate.

/// A 128-bit FNV-1a hash in progress.
pub struct Fnv(u128);

impl Fnv {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013b;

    pub fn new() -> Fnv {
        Fnv(Self::OFFSET)
    }

    pub fn raw(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u128;
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    pub fn u64(&mut self, v: u64) {
        self.raw(&v.to_le_bytes());
    }

    /// Length first, so that consecutive fields cannot run into each other.
    pub fn bytes(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.raw(bytes);
    }

    pub fn finish(self) -> u128 {
        self.0
    }
}

impl Default for Fnv {
    fn default() -> Self {
        Fnv::new()
    }
}

/// The identity of a document's text: a model keeps one set of descriptors per text, so a
/// text learned again with the same descriptors changes nothing, and with others corrects
/// them.
pub fn text_key(text: &str) -> u64 {
    let mut h = Fnv::new();
    h.bytes(text.as_bytes());
    let full = h.finish();
    (full as u64) ^ ((full >> 64) as u64)
}

/// A text's digest, as the learning log names texts (16 hexadecimal digits).
pub fn text_digest(text: &str) -> String {
    format!("{:016x}", text_key(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_told_apart_by_every_byte() {
        assert_eq!(text_key("text"), text_key("text"));
        assert_ne!(text_key("text"), text_key("text "));
        assert_eq!(text_digest("x"), format!("{:016x}", text_key("x")));
        assert_eq!(text_digest("x").len(), 16);
    }
}
