//! The model file: a fixed header, then a zstd-compressed postcard payload.
//!
//! ```text
//! offset  size  field
//! 0       8     magic  "DTAGMODL"
//! 8       4     format version (u32 LE)
//! 12      8     uncompressed payload length (u64 LE)
//! 20      8     compressed payload length (u64 LE)
//! 28      4     CRC-32 of bytes 8..28 and the compressed payload (u32 LE)
//! 32      …     payload
//! ```
//! Every field is checked on load, so a truncated, corrupted or foreign file gives an error
//! that says which, never a panic. Files are written to a temporary name and renamed.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::{Model, ModelData};
use crate::analysis::{Analyzer, AnalyzerConfig};
use crate::error::{Error, Result};
use crate::io_guard::{read_regular, special_kind, write_atomically_with};

pub const MAGIC: &[u8; 8] = b"DTAGMODL";
/// The magic of a partial model: one shard of a training run (`dtag train --shard`), framed
/// like a model file with its own magic and version.
pub const PART_MAGIC: &[u8; 8] = b"DTAGPART";
/// Version 2 added optional tuning (calibration and thresholds), version 3 the optional
/// concept table; both sit at the end of the payload. Version 5 weighs character n-grams by
/// presence and names the scripts they are taken from. Version 6 adds the analyzer's language,
/// the optional ensemble (neighbours, lexicon, fusion) and one shared calibration. Version 7
/// adds the training memory (what an update learns with). Version 8 adds the fusion of unseen
/// concepts and the rarity of a label's words (a sixteenth fusion feature, kept with every
/// mention), for models of a thesaurus alone and small corpora. Version 9 adds how common a
/// descriptor's mention is across the training texts (a seventeenth fusion feature).
pub const FORMAT_VERSION: u32 = 9;
const HEADER_LEN: usize = 32;
/// A payload is believed to be at most this many times its compressed size. Models compress
/// 1.2 to 1.5 times (measured on the demo, pruned, synthetic and cail2018 models: weights are
/// floats, the vocabulary is text), so a factor of 32 leaves ample room while refusing forged
/// headers; see [`from_bytes`].
const MAX_COMPRESSION_RATIO: u64 = 32;
/// ... plus this much, so that a model of a few descriptors is never refused for its ratio.
const PAYLOAD_SLACK: u64 = 1 << 20;
/// zstd's fastest regular level. *Why not its default (3):* a model is mostly floats, which
/// compress little at any level (cail2018's 9.9 MB payload: 1.23 times at level 1, 1.29 at
/// 3), while level 1 compresses 2.2 times faster (280 against 125 MB/s), and saving is the
/// last step of every `train` and `learn`, with nothing to do beside it (cail2018: 135 → 60
/// ms of a 1.8 s `train`). Reading is as fast at either level.
const ZSTD_LEVEL: i32 = 1;

/// What a framed file is: its magic, format version and how messages name it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Framing {
    pub magic: &'static [u8; 8],
    pub version: u32,
    /// "model file", "partial model file".
    pub file: &'static str,
    /// "model", "partial model".
    pub what: &'static str,
    /// What to do about another format version.
    pub remedy: &'static str,
    /// The file of this kind that bears the other magic, and what to do with it.
    pub other: (&'static [u8; 8], &'static str),
}

/// Model files.
pub(crate) const MODEL: Framing = Framing {
    magic: MAGIC,
    version: FORMAT_VERSION,
    file: "model file",
    what: "model",
    remedy: "retrain the model",
    other: (
        PART_MAGIC,
        "is a partial model (one shard of a training run), not a model: join every shard's \
         part with `dtag merge`",
    ),
};

/// Serialises a model to bytes in the file format.
pub fn to_bytes(model: &Model) -> Result<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    write_sealed(&model.as_data(), MODEL, &mut out).map_err(|e| Error::Training(e.to_string()))?;
    Ok(out.into_inner())
}

/// Writes `model` in the file format to `out`, streamed (see [`write_sealed`]).
pub fn write_model<W: Write + Seek + ?Sized>(model: &Model, out: &mut W) -> std::io::Result<()> {
    write_sealed(&model.as_data(), MODEL, out)
}

/// Writes `value` framed as `framing` says to `out`, from its current position: the header,
/// then the postcard payload compressed. The payload is streamed through the compressor to
/// `out` and the header written last over a placeholder, so neither the serialised nor the
/// compressed form is ever held whole in memory (for a model of a million documents they are
/// gigabytes each). The one framing path: files and byte buffers (`Cursor`) alike.
pub(crate) fn write_sealed<T: serde::Serialize + Sync, W: Write + Seek + ?Sized>(
    value: &T,
    framing: Framing,
    out: &mut W,
) -> std::io::Result<()> {
    let what = framing.what;
    let start = out.stream_position()?;
    out.write_all(&[0u8; HEADER_LEN])?;
    let (payload_len, stored_len, stored_crc) = {
        let mut stored = Counted::new(std::io::BufWriter::with_capacity(1 << 20, &mut *out));
        let payload_len = {
            let mut encoder = zstd::stream::write::Encoder::new(&mut stored, ZSTD_LEVEL)?;
            let n = compress_serialised(value, what, Counted::new(&mut encoder))?;
            encoder.finish()?;
            n
        };
        stored.inner.flush()?;
        (payload_len, stored.len, stored.crc.clone())
    };
    // Never write what `from_bytes` would refuse as a forgery (models compress 1.3-1.5 times;
    // this cannot happen short of a bug, and then an error now beats an unloadable file).
    if payload_len > max_payload(stored_len) {
        return Err(std::io::Error::other(format!(
            "the {what} compresses {} times, beyond the {MAX_COMPRESSION_RATIO} times its loader \
             accepts",
            payload_len / stored_len.max(1)
        )));
    }
    let mut head = Vec::with_capacity(HEADER_LEN);
    head.extend_from_slice(framing.magic);
    head.extend_from_slice(&framing.version.to_le_bytes());
    head.extend_from_slice(&payload_len.to_le_bytes());
    head.extend_from_slice(&stored_len.to_le_bytes());
    // The checksum covers the header fields, then the stored bytes (see `checksum`).
    let mut crc = crc32fast::Hasher::new();
    crc.update(&head[MAGIC.len()..]);
    crc.combine(&stored_crc);
    head.extend_from_slice(&crc.finalize().to_le_bytes());
    let end = out.stream_position()?;
    out.seek(SeekFrom::Start(start))?;
    out.write_all(&head)?;
    out.seek(SeekFrom::Start(end))?;
    out.flush()
}

/// Bytes of the serialised payload handed from the serialising thread to the compressor at a
/// time, and how many such chunks may wait between them.
const PAYLOAD_CHUNK: usize = 1 << 16;
const CHUNKS_IN_FLIGHT: usize = 8;

/// Serialises `value` on a thread of its own while this one writes the bytes to `payload` (the
/// compressor) as they come; returns how many were written.
///
/// *Why two threads:* serialising and compressing a model take about as long as each other,
/// and saving runs when nothing else does (cail2018_sample: 0.15 s of a 1.8 s `train`, one core
/// idle). The compressor gets the same bytes in the same chunks as from one thread, so the
/// file is the same.
fn compress_serialised<T: serde::Serialize + Sync, W: Write>(
    value: &T,
    what: &str,
    mut payload: Counted<W>,
) -> std::io::Result<u64> {
    std::thread::scope(|scope| {
        let (send, receive) = std::sync::mpsc::sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
        let serialiser = scope.spawn(move || {
            let mut chunks = ChunkSender {
                chunk: Vec::with_capacity(PAYLOAD_CHUNK),
                send,
            };
            postcard::to_io(value, &mut chunks)
                .map_err(|e| std::io::Error::other(format!("cannot serialise the {what}: {e}")))?;
            chunks.flush()
        });
        let written = receive
            .iter()
            .try_for_each(|chunk| payload.write_all(&chunk));
        // A failed write stops the reading: the serialiser's next send then fails and it ends.
        drop(receive);
        let serialised = serialiser
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        written?;
        serialised?;
        payload.flush()?;
        Ok(payload.len)
    })
}

/// A writer that sends what is written to it in chunks of [`PAYLOAD_CHUNK`] bytes (postcard
/// writes a few bytes at a time).
struct ChunkSender {
    chunk: Vec<u8>,
    send: std::sync::mpsc::SyncSender<Vec<u8>>,
}

impl ChunkSender {
    fn send_chunk(&mut self) -> std::io::Result<()> {
        let full = std::mem::replace(&mut self.chunk, Vec::with_capacity(PAYLOAD_CHUNK));
        self.send
            .send(full)
            .map_err(|_| std::io::Error::other("the model's writer stopped"))
    }
}

impl Write for ChunkSender {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(PAYLOAD_CHUNK - self.chunk.len());
        self.chunk.extend_from_slice(&buf[..n]);
        if self.chunk.len() == PAYLOAD_CHUNK {
            self.send_chunk()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.chunk.is_empty() {
            self.send_chunk()?;
        }
        Ok(())
    }
}

/// A writer that counts and checksums what passes through it.
struct Counted<W: Write> {
    inner: W,
    len: u64,
    crc: crc32fast::Hasher,
}

impl<W: Write> Counted<W> {
    fn new(inner: W) -> Self {
        Counted {
            inner,
            len: 0,
            crc: crc32fast::Hasher::new(),
        }
    }
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.len += n as u64;
        self.crc.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// CRC-32 over the header fields after the magic and the payload, so a damaged length or
/// version is caught as surely as a damaged payload.
fn checksum(header_fields: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header_fields);
    hasher.update(payload);
    hasher.finalize()
}

/// Recomputes the checksum of a model file's bytes in place, for tools and tests that patch
/// a file on purpose.
pub fn reseal(bytes: &mut [u8]) {
    if bytes.len() >= HEADER_LEN {
        let crc = checksum(&bytes[MAGIC.len()..28], &bytes[HEADER_LEN..]);
        bytes[28..32].copy_from_slice(&crc.to_le_bytes());
    }
}

/// The fixed header's fields, checked against the length of the file.
struct Header {
    raw_len: u64,
    stored_len: u64,
    crc: u32,
}

/// Reads and checks the header: magic, version, and that the file holds exactly the payload
/// it announces (`file_len` is the length of the whole file). Needs only the first
/// [`HEADER_LEN`] bytes, so a loader can refuse a foreign or truncated file before reading it.
fn header(bytes: &[u8], file_len: u64, path: &Path, framing: Framing) -> Result<Header> {
    let bad = |reason: String| Error::ModelFile {
        path: path.to_path_buf(),
        reason,
    };
    let Framing { file, what, .. } = framing;
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != framing.magic {
        let (other, reason) = framing.other;
        if bytes.len() >= HEADER_LEN && &bytes[..MAGIC.len()] == other {
            return Err(bad(reason.into()));
        }
        return Err(bad(format!("not a dtag {file} (wrong magic bytes)")));
    }
    if bytes.len() < HEADER_LEN {
        return Err(bad(format!("truncated {file} (incomplete header)")));
    }
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
    let version = u32_at(8);
    if version != framing.version {
        let (expected, remedy) = (framing.version, framing.remedy);
        return Err(bad(format!(
            "{what} format version {version}; this dtag reads version {expected} ({remedy})"
        )));
    }
    let header = Header {
        raw_len: u64_at(12),
        stored_len: u64_at(20),
        crc: u32_at(28),
    };
    let body_len = file_len - HEADER_LEN as u64;
    if body_len < header.stored_len {
        return Err(bad(format!(
            "truncated {file} ({} of {} payload bytes)",
            body_len, header.stored_len
        )));
    }
    if body_len > header.stored_len {
        return Err(bad(format!("{file} has trailing bytes after its payload")));
    }
    Ok(header)
}

/// Parses a model from bytes; `path` only names the file in errors.
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Model> {
    from_payload(&unseal(bytes, path, MODEL)?, path)
}

/// The model of a decompressed payload.
fn from_payload(payload: &[u8], path: &Path) -> Result<Model> {
    let bad = |reason: String| Error::ModelFile {
        path: path.to_path_buf(),
        reason,
    };
    let data: ModelData =
        postcard::from_bytes(payload).map_err(|e| bad(format!("corrupted model payload: {e}")))?;
    Model::from_data(data).map_err(|reason| bad(format!("inconsistent model: {reason}")))
}

/// Checks a framed file's header and checksum and returns its payload, decompressed.
pub(crate) fn unseal(bytes: &[u8], path: &Path, framing: Framing) -> Result<Vec<u8>> {
    let bad = |reason: String| Error::ModelFile {
        path: path.to_path_buf(),
        reason,
    };
    let Framing { file, what, .. } = framing;
    let Header {
        raw_len,
        stored_len,
        crc,
    } = header(bytes, bytes.len() as u64, path, framing)?;
    let body = &bytes[HEADER_LEN..];
    if checksum(&bytes[MAGIC.len()..28], body) != crc {
        return Err(bad(format!("corrupted {file} (checksum mismatch)")));
    }
    // The CRC only catches accidents: anyone can forge a header with a matching checksum, so
    // the announced size is believed only as far as zstd could plausibly expand the stored
    // bytes. This bounds the memory a file can make the loader use by its own size, however
    // large a payload it claims (a 145 KB forgery announcing 4 GB is refused up front).
    let limit = max_payload(stored_len);
    if raw_len > limit {
        return Err(bad(format!(
            "corrupted {file}: a payload of {raw_len} bytes cannot come from {stored_len} \
             compressed bytes (at most {limit})"
        )));
    }
    let mut payload = Vec::new();
    payload.try_reserve_exact(raw_len as usize).map_err(|_| {
        bad(format!(
            "a payload of {raw_len} bytes does not fit in memory"
        ))
    })?;
    zstd::stream::read::Decoder::new(body)
        .and_then(|d| d.take(raw_len + 1).read_to_end(&mut payload))
        .map_err(|e| bad(format!("corrupted {what} payload: {e}")))?;
    if payload.len() as u64 != raw_len {
        return Err(bad(format!("corrupted {what} payload (wrong length)")));
    }
    Ok(payload)
}

/// The largest payload `stored_len` compressed bytes are believed to hold:
/// [`MAX_COMPRESSION_RATIO`] times as much, plus [`PAYLOAD_SLACK`] for tiny models.
fn max_payload(stored_len: u64) -> u64 {
    stored_len
        .saturating_mul(MAX_COMPRESSION_RATIO)
        .saturating_add(PAYLOAD_SLACK)
}

impl Model {
    /// Writes the model atomically (see [`write_atomically_with`]), streamed to the file.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomically_with(path, |file| write_sealed(&self.as_data(), MODEL, file))
    }

    /// Loads a model file. Only a regular file is read (a directory, a FIFO or `/dev/zero`
    /// is refused before reading), and only after its header has been checked against the
    /// file's size: a foreign or truncated file, however large, costs 32 bytes to refuse.
    pub fn load(path: &Path) -> Result<Model> {
        from_bytes(&read_framed_file(path, MODEL)?, path)
    }

    /// [`Self::load`] with the model's analyzer, whose building starts as soon as its
    /// settings are read (the payload's first field): a segmenter's dictionary then loads
    /// on its own thread while the rest of the model is decoded, instead of after it.
    pub fn load_with_analyzer(path: &Path) -> Result<(Model, Analyzer)> {
        let file = read_framed_file(path, MODEL)?;
        // The settings are read from the payload's first bytes, before the whole payload is
        // checked and decompressed (20 ms for cail2018's model), so that the dictionary
        // loads meanwhile. Read unchecked, they only start an analyzer early: it is kept
        // only if it has the checked model's settings. A payload too corrupt to read them
        // from is refused just below, with the reason; an analyzer that cannot be built is
        // built again for its error.
        let settings = |payload: &[u8]| {
            postcard::take_from_bytes::<AnalyzerConfig>(payload)
                .ok()
                .map(|(config, _)| config)
        };
        let mut early = settings(&payload_prefix(&file)).and_then(|c| Analyzer::new(c).ok());
        let payload = unseal(&file, path, MODEL)?;
        drop(file);
        if early.is_none() {
            early = settings(&payload).and_then(|c| Analyzer::new(c).ok());
        }
        let model = from_payload(&payload, path)?;
        drop(payload);
        let analyzer = match early {
            Some(analyzer) if analyzer.config() == &model.analyzer => analyzer,
            _ => Analyzer::new(model.analyzer.clone())?,
        };
        Ok((model, analyzer))
    }
}

/// At most this many bytes of a payload are decompressed ahead of the rest, for the
/// analyzer's settings (its first field; a user dictionary of a large thesaurus is in them).
const SETTINGS_PREFIX: u64 = 1 << 20;

/// The first [`SETTINGS_PREFIX`] bytes of a framed file's payload, unchecked (fewer if the
/// payload is shorter or they cannot be decompressed).
fn payload_prefix(file: &[u8]) -> Vec<u8> {
    let mut prefix = Vec::new();
    if let Some(stored) = file.get(HEADER_LEN..) {
        if let Ok(decoder) = zstd::stream::read::Decoder::new(stored) {
            // An error leaves what was decompressed before it.
            let _ = decoder.take(SETTINGS_PREFIX).read_to_end(&mut prefix);
        }
    }
    prefix
}

/// Reads a framed file whole once its type, magic, version and length are right.
pub(crate) fn read_framed_file(path: &Path, framing: Framing) -> Result<Vec<u8>> {
    let not_a_file = |kind: &str| Error::ModelFile {
        path: path.to_path_buf(),
        reason: format!("is {kind}, not a {}", framing.file),
    };
    // By type first: opening a FIFO would block until something writes to it.
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if let Some(kind) = special_kind(&meta) {
        return Err(not_a_file(kind));
    }
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if let Some(kind) = special_kind(&meta) {
        return Err(not_a_file(kind));
    }
    let mut head = Vec::with_capacity(HEADER_LEN);
    (&mut file)
        .take(HEADER_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    header(&head, meta.len().max(head.len() as u64), path, framing)?;
    let rest = read_regular(path, &mut file, meta.len() - head.len() as u64)?;
    head.extend_from_slice(&rest);
    Ok(head)
}

/// Kept under its old name for callers: there is one atomic write, in [`crate::io_guard`].
pub use crate::io_guard::write_atomically;

#[cfg(test)]
mod tests {
    use super::*;

    /// A file that takes `room` bytes, then fails every write.
    struct FullDisk {
        written: std::io::Cursor<Vec<u8>>,
        room: usize,
    }

    impl Write for FullDisk {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.written.get_ref().len() + buf.len() > self.room {
                return Err(std::io::Error::other("no space left on device"));
            }
            self.written.write(buf)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Seek for FullDisk {
        fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
            self.written.seek(to)
        }
    }

    /// Several megabytes compressed, so that a failing write stops the pipeline midway (the
    /// compressed bytes reach the file a mebibyte at a time).
    fn large_value() -> Vec<(u32, String, f32)> {
        let mut rng = crate::classifier::logistic::XorShift(5);
        (0..400_000u32)
            .map(|i| (i, format!("term {}", i % 977), rng.next_u64() as f32))
            .collect()
    }

    #[test]
    fn the_payload_is_the_serialised_value_whatever_thread_serialises_it() {
        let value = large_value();
        let mut out = std::io::Cursor::new(Vec::new());
        write_sealed(&value, MODEL, &mut out).unwrap();
        let bytes = out.into_inner();
        assert!(bytes.len() > 2 << 20, "{} bytes", bytes.len());
        let payload = unseal(&bytes, Path::new("test"), MODEL).unwrap();
        assert_eq!(payload, postcard::to_allocvec(&value).unwrap());
    }

    #[test]
    fn a_write_that_fails_midway_is_an_error_not_a_hang() {
        let value = large_value();
        for room in [0, 100, 1 << 16, 1 << 20] {
            let mut disk = FullDisk {
                written: std::io::Cursor::new(Vec::new()),
                room,
            };
            let err = write_sealed(&value, MODEL, &mut disk).unwrap_err();
            assert!(err.to_string().contains("no space left"), "{room}: {err}");
        }
    }
}
