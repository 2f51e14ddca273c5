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

use std::io::{Read, Write};
use std::path::Path;

use super::{Model, ModelData};
use crate::error::{Error, Result};

pub const MAGIC: &[u8; 8] = b"DTAGMODL";
/// Version 2 added optional tuning (calibration and thresholds), version 3 the optional
/// concept table; both sit at the end of the payload. Version 5 weighs character n-grams by
/// presence and names the scripts they are taken from. Version 6 adds the analyzer's language,
/// the optional ensemble (neighbours, lexicon, fusion) and one shared calibration.
pub const FORMAT_VERSION: u32 = 6;
const HEADER_LEN: usize = 32;
/// Refuse payloads that claim to be larger than this when decompressed.
const MAX_PAYLOAD: u64 = 32 << 30;
const ZSTD_LEVEL: i32 = 3;

/// Serialises a model to bytes in the file format.
pub fn to_bytes(model: &Model) -> Result<Vec<u8>> {
    let payload = postcard::to_stdvec(&model.to_data())
        .map_err(|e| Error::Training(format!("cannot serialise the model: {e}")))?;
    let compressed = zstd::bulk::compress(&payload, ZSTD_LEVEL)
        .map_err(|e| Error::Training(format!("cannot compress the model: {e}")))?;
    let mut out = Vec::with_capacity(HEADER_LEN + compressed.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&(compressed.len() as u64).to_le_bytes());
    let crc = checksum(&out[MAGIC.len()..], &compressed);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&compressed);
    Ok(out)
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

/// Parses a model from bytes; `path` only names the file in errors.
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Model> {
    let bad = |reason: String| Error::ModelFile {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(bad("not a dtag model file (wrong magic bytes)".into()));
    }
    if bytes.len() < HEADER_LEN {
        return Err(bad("truncated model file (incomplete header)".into()));
    }
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
    let version = u32_at(8);
    if version != FORMAT_VERSION {
        return Err(bad(format!(
            "model format version {version}; this dtag reads version {FORMAT_VERSION} (retrain the model)"
        )));
    }
    let raw_len = u64_at(12);
    let stored_len = u64_at(20);
    let crc = u32_at(28);
    let body = &bytes[HEADER_LEN..];
    if (body.len() as u64) < stored_len {
        return Err(bad(format!(
            "truncated model file ({} of {} payload bytes)",
            body.len(),
            stored_len
        )));
    }
    if (body.len() as u64) > stored_len {
        return Err(bad("model file has trailing bytes after its payload".into()));
    }
    if checksum(&bytes[MAGIC.len()..28], body) != crc {
        return Err(bad("corrupted model file (checksum mismatch)".into()));
    }
    if raw_len > MAX_PAYLOAD {
        return Err(bad(format!(
            "payload of {raw_len} bytes is implausibly large"
        )));
    }
    // The checksum vouches for raw_len, but reserve no more than zstd could plausibly expand
    // to, so even a forged header cannot make the loader allocate wildly up front.
    let mut payload = Vec::with_capacity(raw_len.min(stored_len.saturating_mul(64)) as usize);
    zstd::stream::read::Decoder::new(body)
        .and_then(|d| d.take(raw_len + 1).read_to_end(&mut payload))
        .map_err(|e| bad(format!("corrupted model payload: {e}")))?;
    if payload.len() as u64 != raw_len {
        return Err(bad("corrupted model payload (wrong length)".into()));
    }
    let data: ModelData =
        postcard::from_bytes(&payload).map_err(|e| bad(format!("corrupted model payload: {e}")))?;
    Model::from_data(data).map_err(|reason| bad(format!("inconsistent model: {reason}")))
}

impl Model {
    /// Writes the model atomically: a temporary file in the same directory, then a rename.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomically(path, &to_bytes(self)?)
    }

    pub fn load(path: &Path) -> Result<Model> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        from_bytes(&bytes, path)
    }
}

/// Writes `bytes` to `path` via a temporary file in the same directory and a rename, so a
/// reader never sees a half-written file and a failed write leaves the old file intact.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::io(path, std::io::Error::other("not a file path")))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}
