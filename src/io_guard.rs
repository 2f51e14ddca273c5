//! File safety: every file dtag reads whole goes through [`read_input`], every file it writes
//! through [`write_atomically`], and every output path a command is given is checked up front
//! by an [`OutputGuard`].
//!
//! Why one place: the ways of losing a user's data or memory are the same for every command —
//! an output path that names one of the inputs (`train --corpus c.txt --model c.txt`), a
//! symlink replaced by a regular file, `/dev/stdout` turned into a file, a temporary file that
//! another user can plant or predict, a FIFO or `/dev/zero` read "whole". Fixing them once here
//! keeps every command, present and future, safe by the same rules:
//!
//! - `-` is standard output wherever a file is written (and standard input where read);
//! - an output may not be an input of the same command (same device and inode, so hard links
//!   and other spellings of a path count), nor a directory, a device, a pipe or a socket;
//! - an output path through symlinks is written at the symlink's target, and the symlink
//!   stays;
//! - the directory of an output must exist and be writable *before any work*, so a typo is
//!   reported at once rather than after an hour of training;
//! - writes go to an unpredictable temporary name created exclusively (`O_CREAT|O_EXCL`,
//!   which never follows a symlink) beside the target, which keeps its permissions, and are
//!   renamed over it; leftovers of a killed run are recognised by name and removed by the next
//!   write of the same file.

use std::collections::hash_map::RandomState;
use std::ffi::OsString;
use std::fs::{File, Metadata, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{ErrorKind, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

// ------------------------------------------------------------------------------------------
// Reading

/// The 1-based line of byte `offset` in `bytes` (where invalid UTF-8 starts, say), for
/// messages about what was read.
pub fn line_of(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1
}

/// The default bound on one document's size (`--max-document-bytes`): 16 MiB.
pub const DEFAULT_MAX_DOCUMENT_BYTES: u64 = 16 << 20;

static MAX_DOCUMENT_BYTES: AtomicU64 = AtomicU64::new(DEFAULT_MAX_DOCUMENT_BYTES);

/// Sets the bound on one document's size for the whole process (the command line's
/// `--max-document-bytes`; [`DEFAULT_MAX_DOCUMENT_BYTES`] until set). Every reader of
/// documents checks it: a draft file before reading it, a document of a corpus as it is
/// parsed, a file `dtag index` reads before opening it.
pub fn set_max_document_bytes(bytes: u64) {
    MAX_DOCUMENT_BYTES.store(bytes.max(1), Ordering::Relaxed);
}

/// The bound on one document's size (see [`set_max_document_bytes`]).
pub fn max_document_bytes() -> u64 {
    MAX_DOCUMENT_BYTES.load(Ordering::Relaxed)
}

/// What is wrong with a document of `len` bytes, if it is over the bound.
pub fn oversized_document(len: u64) -> Option<String> {
    let max = max_document_bytes();
    (len > max).then(|| {
        format!(
            "a document of {len} bytes is over the bound of {max} bytes \
             (--max-document-bytes; raise it to read it)"
        )
    })
}

/// Refuses a file that is one document when it is over the bound, before reading it.
pub fn check_document_size(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    match oversized_document(meta.len()).filter(|_| meta.is_file()) {
        Some(why) => Err(Error::io(
            path,
            std::io::Error::new(ErrorKind::InvalidData, why),
        )),
        None => Ok(()),
    }
}

/// The first `n` bytes (or fewer) of a regular file, to tell its format before reading it.
pub fn read_prefix(path: &Path, n: u64) -> Result<Vec<u8>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(n)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    Ok(bytes)
}

/// Reads an input named on the command line whole: a regular file, or a pipe or socket (so
/// `<(zcat corpus.gz)` keeps working, as `-` does). A directory or a device is refused before
/// anything is read, since "reading" `/dev/zero` or `/dev/urandom` never ends. A regular file
/// is read up to the size it had when opened, into a buffer reserved for exactly that size (a
/// file too large for memory is an error, not an abort), and a file that grows meanwhile is an
/// error rather than an unbounded read.
pub fn read_input(path: &Path) -> Result<Vec<u8>> {
    // Refuse by type before opening: opening a FIFO blocks until someone writes to it, and a
    // device may have effects on open.
    let before = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    refuse_special(path, &before, "use `-` for standard input")?;
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    refuse_special(path, &meta, "use `-` for standard input")?;
    if !meta.is_file() {
        // A pipe or socket: its length is unknown, as with standard input.
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| Error::io(path, e))?;
        return Ok(bytes);
    }
    read_regular(path, &mut file, meta.len())
}

/// Reads exactly `len` bytes of an open regular file (refusing more, and reserving memory for
/// them before reading).
pub(crate) fn read_regular(path: &Path, file: &mut File, len: u64) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    usize::try_from(len)
        .ok()
        .and_then(|n| bytes.try_reserve_exact(n).ok())
        .ok_or_else(|| {
            Error::io(
                path,
                std::io::Error::new(
                    ErrorKind::OutOfMemory,
                    format!("{len} bytes do not fit in memory"),
                ),
            )
        })?;
    file.take(len.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > len {
        return Err(Error::io(
            path,
            std::io::Error::other("the file grew while it was being read"),
        ));
    }
    Ok(bytes)
}

/// Refuses directories and devices (block or character); regular files, pipes and sockets
/// pass. `hint` says what to do instead.
fn refuse_special(path: &Path, meta: &Metadata, hint: &str) -> Result<()> {
    let kind = special_kind(meta);
    match kind {
        Some(kind @ ("a directory" | "a device")) => Err(Error::io(
            path,
            std::io::Error::new(
                ErrorKind::InvalidInput,
                format!("is {kind}, not a file ({hint})"),
            ),
        )),
        _ => Ok(()),
    }
}

/// What a non-regular file is, for messages; `None` for a regular file.
pub(crate) fn special_kind(meta: &Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a pipe");
        }
        if t.is_socket() {
            return Some("a socket");
        }
        if t.is_block_device() || t.is_char_device() {
            return Some("a device");
        }
    }
    Some("not a regular file")
}

// ------------------------------------------------------------------------------------------
// Output paths

/// A writer that can seek: what [`Output::write_with`] hands its writer.
pub trait SeekWrite: std::io::Write + std::io::Seek {}
impl<T: std::io::Write + std::io::Seek> SeekWrite for T {}

/// Where a command writes one of its outputs, once checked by an [`OutputGuard`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// `-` (or `/dev/stdout` and other names of descriptor 1).
    Stdout,
    /// A file: `target` is where the bytes go (symlinks resolved), `given` names it in
    /// messages.
    File { given: PathBuf, target: PathBuf },
}

impl Output {
    pub fn is_stdout(&self) -> bool {
        matches!(self, Output::Stdout)
    }

    /// The path as given, `None` for standard output.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Output::Stdout => None,
            Output::File { given, .. } => Some(given),
        }
    }

    /// Writes `bytes`: to standard output, or atomically to the file.
    pub fn write(&self, bytes: &[u8]) -> Result<()> {
        match self {
            Output::Stdout => {
                let stdout = std::io::stdout();
                let mut out = stdout.lock();
                out.write_all(bytes)
                    .and_then(|_| out.flush())
                    .map_err(|e| Error::io("<stdout>", e))
            }
            Output::File { target, given } => {
                write_atomically(target, bytes).map_err(|e| rename_path(e, target, given))
            }
        }
    }

    /// Writes what `write` writes: streamed to a file (atomically), through a buffer to
    /// standard output (which cannot seek).
    pub fn write_with(
        &self,
        write: impl FnOnce(&mut dyn SeekWrite) -> std::io::Result<()>,
    ) -> Result<()> {
        match self {
            Output::Stdout => {
                let mut buffer = std::io::Cursor::new(Vec::new());
                write(&mut buffer).map_err(|e| Error::io("<stdout>", e))?;
                self.write(&buffer.into_inner())
            }
            Output::File { target, given } => write_atomically_with(target, |file| write(file))
                .map_err(|e| rename_path(e, target, given)),
        }
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::Stdout => f.write_str("standard output"),
            Output::File { given, .. } => write!(f, "{}", given.display()),
        }
    }
}

/// Errors about the resolved target name the path the user gave.
fn rename_path(error: Error, target: &Path, given: &Path) -> Error {
    match error {
        Error::Io { path, error } if path == target => Error::Io {
            path: given.to_path_buf(),
            error,
        },
        other => other,
    }
}

/// The identity of an existing file: device and inode (a file reached by two spellings or a
/// hard link is the same file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId(u64, u64);

#[cfg(unix)]
fn file_id(meta: &Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some(FileId(meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_id(_meta: &Metadata) -> Option<FileId> {
    None
}

struct GuardedInput {
    flag: String,
    given: PathBuf,
    id: Option<FileId>,
    /// The canonical path of an input directory (files below it are inputs too).
    dir: Option<PathBuf>,
    canonical: Option<PathBuf>,
}

/// Checks a command's output paths against its inputs and the file system, before any work.
///
/// ```no_run
/// # fn main() -> dtag::Result<()> {
/// use dtag::io_guard::OutputGuard;
/// use std::path::PathBuf;
/// let corpus = vec![PathBuf::from("c.txt")];
/// let mut guard = OutputGuard::new();
/// guard.inputs("--corpus", &corpus);
/// let model = guard.file("--model", "m.dtag".as_ref())?; // refused if it were c.txt
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct OutputGuard {
    inputs: Vec<GuardedInput>,
    /// Outputs already claimed (two outputs of one command may not be the same file).
    claimed: Vec<(String, PathBuf)>,
    /// Directories an earlier output will create (`eval --report DIR --per-label DIR/x.tsv`).
    planned_dirs: Vec<PathBuf>,
}

impl OutputGuard {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the inputs given with `flag`. `-` (standard input) and paths that do not
    /// exist are skipped: the former cannot be overwritten, the latter are reported by the
    /// reader.
    pub fn inputs<P: AsRef<Path>>(
        &mut self,
        flag: &str,
        paths: impl IntoIterator<Item = P>,
    ) -> &mut Self {
        for path in paths {
            let path = path.as_ref();
            if path.as_os_str() == "-" {
                continue;
            }
            let Ok(meta) = std::fs::metadata(path) else {
                continue;
            };
            let canonical = std::fs::canonicalize(path).ok();
            self.inputs.push(GuardedInput {
                flag: flag.to_string(),
                given: path.to_path_buf(),
                id: file_id(&meta),
                dir: if meta.is_dir() {
                    canonical.clone()
                } else {
                    None
                },
                canonical,
            });
        }
        self
    }

    /// Checks an output file path (see the module documentation) and returns where to write.
    pub fn file(&mut self, flag: &str, path: &Path) -> Result<Output> {
        let refuse = |reason: String| Error::Output {
            flag: flag.to_string(),
            path: path.to_path_buf(),
            reason,
        };
        if path.as_os_str() == "-" {
            return self.claim_stdout(flag, path);
        }
        let target = match resolve_symlinks(path).map_err(|e| refuse(e.to_string()))? {
            Resolved::Stdout => return self.claim_stdout(flag, path),
            Resolved::Descriptor => {
                return Err(refuse(
                    "names an open file descriptor, which cannot be replaced safely; use `-` \
                     for standard output"
                        .into(),
                ))
            }
            Resolved::Path(target) => target,
        };
        if path.as_os_str().is_empty() || target.file_name().is_none() {
            return Err(refuse("is not a file name".into()));
        }
        match std::fs::metadata(&target) {
            Ok(meta) => {
                if let Some(kind) = special_kind(&meta) {
                    return Err(refuse(format!(
                        "is {kind}, not a regular file; give a file name (or `-` for standard \
                         output)"
                    )));
                }
                self.refuse_inputs(&target, Some(&meta), &refuse)?;
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.refuse_inputs(&target, None, &refuse)?
            }
            Err(e) => return Err(refuse(e.to_string())),
        }
        let dir = parent_dir(&target);
        if !self.is_planned(&dir) {
            check_writable_dir(&dir).map_err(refuse)?;
        }
        let key = canonical_target(&target);
        if let Some((other, _)) = self.claimed.iter().find(|(_, p)| *p == key) {
            return Err(refuse(format!("is also the output of {other}")));
        }
        self.claimed.push((flag.to_string(), key));
        Ok(Output::File {
            given: path.to_path_buf(),
            target,
        })
    }

    /// Checks an output directory that the command creates or fills: `-` is refused, an
    /// existing path must be a directory (and empty when `must_be_empty`), and the directory
    /// that will hold it must be writable. Returns the path to write (symlinks resolved).
    pub fn directory(&mut self, flag: &str, path: &Path, must_be_empty: bool) -> Result<PathBuf> {
        let refuse = |reason: String| Error::Output {
            flag: flag.to_string(),
            path: path.to_path_buf(),
            reason,
        };
        if path.as_os_str() == "-" {
            return Err(refuse(
                "standard output cannot hold a directory; give a directory path".into(),
            ));
        }
        let target = match resolve_symlinks(path).map_err(|e| refuse(e.to_string()))? {
            Resolved::Path(target) => target,
            _ => return Err(refuse("is not a directory".into())),
        };
        match std::fs::metadata(&target) {
            Ok(meta) if meta.is_dir() => {
                if must_be_empty {
                    let empty = std::fs::read_dir(&target)
                        .map_err(|e| refuse(e.to_string()))?
                        .next()
                        .is_none();
                    if !empty {
                        return Err(refuse(
                            "exists and is not empty (a document directory is written whole)"
                                .into(),
                        ));
                    }
                }
                check_writable_dir(&target).map_err(refuse)?;
            }
            Ok(meta) => {
                let kind = special_kind(&meta).unwrap_or("a file");
                return Err(refuse(format!("is {kind}, not a directory")));
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // Created by the command: the nearest existing ancestor must take it.
                let mut ancestor = parent_dir(&target);
                while !ancestor.exists() {
                    match ancestor.parent() {
                        Some(p) if !p.as_os_str().is_empty() => ancestor = p.to_path_buf(),
                        _ => ancestor = PathBuf::from("."),
                    }
                }
                check_writable_dir(&ancestor).map_err(refuse)?;
            }
            Err(e) => return Err(refuse(e.to_string())),
        }
        self.planned_dirs.push(canonical_target(&target));
        Ok(target)
    }

    /// Records that `what` (say `--json`) prints on standard output, so that no output path
    /// may be `-` as well.
    pub fn stdout_used_by(&mut self, what: &str) -> &mut Self {
        self.claimed.push((what.to_string(), PathBuf::from("-")));
        self
    }

    /// [`OutputGuard::file`] for binary data (a model): standard output is refused when it is
    /// a terminal, which binary data would only garble.
    pub fn binary_file(&mut self, flag: &str, path: &Path) -> Result<Output> {
        use std::io::IsTerminal;
        let output = self.file(flag, path)?;
        if output.is_stdout() && std::io::stdout().is_terminal() {
            return Err(Error::Output {
                flag: flag.to_string(),
                path: path.to_path_buf(),
                reason: "standard output is a terminal; redirect it to a file or a pipe".into(),
            });
        }
        Ok(output)
    }

    fn claim_stdout(&mut self, flag: &str, path: &Path) -> Result<Output> {
        if let Some((other, _)) = self.claimed.iter().find(|(_, p)| p.as_os_str() == "-") {
            return Err(Error::Output {
                flag: flag.to_string(),
                path: path.to_path_buf(),
                reason: format!("standard output is already the output of {other}"),
            });
        }
        self.claimed.push((flag.to_string(), PathBuf::from("-")));
        Ok(Output::Stdout)
    }

    fn is_planned(&self, dir: &Path) -> bool {
        let dir = canonical_target(dir);
        self.planned_dirs.contains(&dir)
    }

    fn refuse_inputs(
        &self,
        target: &Path,
        meta: Option<&Metadata>,
        refuse: &dyn Fn(String) -> Error,
    ) -> Result<()> {
        let id = meta.and_then(file_id);
        let canonical = meta.and_then(|_| std::fs::canonicalize(target).ok());
        for input in &self.inputs {
            let same = match (id, input.id) {
                (Some(a), Some(b)) => a == b,
                _ => canonical.is_some() && canonical == input.canonical,
            };
            if same {
                return Err(refuse(format!(
                    "is the same file as the input {} {}; writing it would destroy the input",
                    input.flag,
                    input.given.display()
                )));
            }
            let inside = match (&canonical, &input.dir) {
                (Some(c), Some(dir)) => c.starts_with(dir),
                _ => false,
            };
            if inside {
                return Err(refuse(format!(
                    "is a file inside the input directory {} {}; writing it would replace one \
                     of the inputs",
                    input.flag,
                    input.given.display()
                )));
            }
        }
        Ok(())
    }
}

/// True when both paths exist and are the same file (by device and inode).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => match (file_id(&x), file_id(&y)) {
            (Some(i), Some(j)) => i == j,
            _ => std::fs::canonicalize(a).ok() == std::fs::canonicalize(b).ok(),
        },
        _ => false,
    }
}

/// Where a path leads once its symlinks are followed.
enum Resolved {
    Path(PathBuf),
    /// Standard output under another name (`/dev/stdout`, `/proc/self/fd/1`).
    Stdout,
    /// Another open file descriptor (`/dev/stderr`, `/dev/fd/3`, `/proc/…/fd/…`).
    Descriptor,
}

/// At most this many symlinks are followed (as Linux's `MAXSYMLINKS`).
const MAX_SYMLINKS: usize = 40;

/// Follows the symlinks of the last component of `path` (a new file behind a dangling symlink
/// is created at the symlink's target). Names of open descriptors are recognised rather than
/// followed: their "targets" are not paths (`pipe:[1234]`), and replacing the file behind one
/// would pull it from under whatever else writes to it (the shell's `>> log`).
fn resolve_symlinks(path: &Path) -> std::io::Result<Resolved> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_SYMLINKS {
        if let Some(fd) = descriptor_number(&current) {
            return Ok(if fd == 1 {
                Resolved::Stdout
            } else {
                Resolved::Descriptor
            });
        }
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = std::fs::read_link(&current)?;
                current = if link.is_absolute() {
                    link
                } else {
                    parent_dir(&current).join(link)
                };
            }
            Ok(_) => return Ok(Resolved::Path(current)),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Resolved::Path(current)),
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// The descriptor a path names: `/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, `/proc/PID/fd/N`.
fn descriptor_number(path: &Path) -> Option<u32> {
    let parts: Vec<&std::ffi::OsStr> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s),
            _ => None,
        })
        .collect();
    if !path.is_absolute() {
        return None;
    }
    let text: Vec<&str> = parts.iter().map(|s| s.to_str().unwrap_or("")).collect();
    match text.as_slice() {
        ["dev", "stdin"] => Some(0),
        ["dev", "stdout"] => Some(1),
        ["dev", "stderr"] => Some(2),
        ["dev", "fd", n] => n.parse().ok(),
        ["proc", pid, "fd", n]
            if *pid == "self"
                || *pid == "thread-self"
                || *pid == std::process::id().to_string() =>
        {
            n.parse().ok()
        }
        // Another process's descriptors are never standard output.
        ["proc", _, "fd", _] | ["proc", _, "task", _, "fd", _] => Some(u32::MAX),
        _ => None,
    }
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A path for comparing outputs: the canonical directory plus the file name.
fn canonical_target(path: &Path) -> PathBuf {
    let dir = std::fs::canonicalize(parent_dir(path)).unwrap_or_else(|_| parent_dir(path));
    match path.file_name() {
        Some(name) => dir.join(name),
        None => dir,
    }
}

/// The name whose temporary files probe a directory for writing.
const WRITE_PROBE: &str = "write-test";

/// An existing, writable directory, or why not. Writability is tested by creating (and
/// removing) a temporary file, the only test that is right for root, ACLs, read-only mounts
/// and full quotas alike.
fn check_writable_dir(dir: &Path) -> std::result::Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("{} is not a directory", dir.display())),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(format!("the directory {} does not exist", dir.display()))
        }
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    }
    // The probe's own name, so that a run killed between creating and removing it leaves
    // nothing the next run does not clean.
    remove_leftovers(dir, WRITE_PROBE);
    match create_temp(dir, WRITE_PROBE) {
        Ok((path, file)) => {
            drop(file);
            let _ = std::fs::remove_file(path);
            Ok(())
        }
        Err(e) => Err(format!("cannot write in {}: {e}", dir.display())),
    }
}

// ------------------------------------------------------------------------------------------
// Atomic writes

/// Temporary files of `NAME` are `.NAME.dtag-tmp-PID-RANDOM`: recognisable (and attributable
/// to a process) when a killed run leaves one behind, unpredictable to anyone else.
const TEMP_MARK: &str = ".dtag-tmp-";

fn temp_prefix(name: &str) -> String {
    format!(".{name}{TEMP_MARK}")
}

/// 64 unpredictable bits: std's `RandomState` is keyed from the operating system's random
/// source, and time, process id and a counter make every call differ.
fn random_suffix() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(now);
    hasher.write_u32(std::process::id());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

fn temp_name(name: &str) -> String {
    format!(
        "{}{}-{:016x}",
        temp_prefix(name),
        std::process::id(),
        random_suffix()
    )
}

/// Creates a new file with an unpredictable name in `dir`. `create_new` is `O_CREAT|O_EXCL`:
/// it fails on any existing name, a symlink included (even a dangling one), so a planted link
/// can never redirect the write.
fn create_temp(dir: &Path, name: &str) -> std::io::Result<(PathBuf, File)> {
    for _ in 0..16 {
        let path = dir.join(temp_name(name));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        ErrorKind::AlreadyExists,
        "no unused temporary file name",
    ))
}

/// Creates a new directory with an unpredictable name beside `path`, for writing a directory
/// whole and renaming it (`mkdir` never follows a symlink either). Leftovers of killed runs are
/// removed first.
pub fn create_temp_dir_beside(path: &Path) -> Result<PathBuf> {
    let dir = parent_dir(path);
    let name = file_name(path)?;
    remove_leftovers(&dir, &name);
    for _ in 0..16 {
        let tmp = dir.join(temp_name(&name));
        match std::fs::create_dir(&tmp) {
            Ok(()) => return Ok(tmp),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(&tmp, e)),
        }
    }
    Err(Error::io(
        path,
        std::io::Error::new(ErrorKind::AlreadyExists, "no unused temporary name"),
    ))
}

fn file_name(path: &Path) -> Result<String> {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::io(path, std::io::Error::other("not a file path")))
}

/// Removes what killed runs left of writes to `NAME` in `dir`: temporary files whose process
/// is gone (on systems without `/proc`, those older than a day). Returns what was removed.
/// Files of a live process are another write in progress and are left alone.
fn remove_leftovers(dir: &Path, name: &str) -> Vec<PathBuf> {
    let prefix = temp_prefix(name);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let file_name: OsString = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() || process_alive(pid, &entry.path()) {
            continue;
        }
        let path = entry.path();
        // symlink_metadata: a planted symlink is removed as a link, never followed.
        let gone = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path).is_ok(),
            Ok(_) => std::fs::remove_file(&path).is_ok(),
            Err(_) => false,
        };
        if gone {
            removed.push(path);
        }
    }
    if !removed.is_empty() {
        let names: Vec<String> = removed.iter().map(|p| p.display().to_string()).collect();
        eprintln!(
            "note: removed {} temporary file(s) left by an interrupted write: {}",
            removed.len(),
            names.join(", ")
        );
    }
    removed
}

fn process_alive(pid: u32, temp: &Path) -> bool {
    let proc = Path::new("/proc");
    if proc.join("self").exists() {
        return proc.join(pid.to_string()).exists();
    }
    // No /proc: only a day-old leftover is surely dead.
    std::fs::symlink_metadata(temp)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_none_or(|age| age < std::time::Duration::from_secs(24 * 3600))
}

/// Writes `bytes` to `path` so that a reader sees the old file or the new one, never a half,
/// and a failure leaves the old file as it was. Through a symlink, the symlink's target is
/// written and the symlink stays. An existing target keeps its permissions (and, where the
/// process may, its owner). A directory, a device, a pipe or a socket is refused.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically_with(path, |file| file.write_all(bytes))
}

/// [`write_atomically`] of what `write` writes to the new file (from its start; it may seek
/// within what it wrote): a large output is streamed instead of built in memory first.
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<()> {
    write_atomically_at(path, true, write)
}

/// [`write_atomically`] that never follows a symlink: the new file takes the place of
/// whatever name `path` is, a symlink included (its target is neither read nor written). For
/// outputs written into a directory others may write to, such as `dtag index`'s suggestion
/// files, where a planted link must not lead a write outside.
pub fn write_atomically_in_place(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically_at(path, false, |file| file.write_all(bytes))
}

fn write_atomically_at(
    path: &Path,
    follow: bool,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<()> {
    let resolved = if follow {
        resolve_symlinks(path).map_err(|e| Error::io(path, e))?
    } else {
        Resolved::Path(path.to_path_buf())
    };
    let target = match resolved {
        Resolved::Path(target) => target,
        Resolved::Stdout | Resolved::Descriptor => {
            return Err(Error::io(
                path,
                std::io::Error::new(
                    ErrorKind::InvalidInput,
                    "names an open file descriptor, which cannot be replaced safely",
                ),
            ))
        }
    };
    let existing = match if follow {
        std::fs::metadata(&target)
    } else {
        std::fs::symlink_metadata(&target)
    } {
        Ok(meta) if !follow && meta.file_type().is_symlink() => None,
        Ok(meta) => {
            if let Some(kind) = special_kind(&meta) {
                return Err(Error::io(
                    path,
                    std::io::Error::new(
                        ErrorKind::InvalidInput,
                        format!("is {kind}, not a regular file"),
                    ),
                ));
            }
            Some(meta)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(path, e)),
    };
    let dir = parent_dir(&target);
    let name = file_name(&target)?;
    remove_leftovers(&dir, &name);
    let (tmp, mut file) = create_temp(&dir, &name).map_err(|e| Error::io(path, e))?;
    let result = (|| {
        write(&mut file)?;
        if let Some(meta) = &existing {
            keep_owner_and_permissions(&file, meta)?;
        }
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, &target)?;
        // Make the rename itself durable (best effort: not every system can sync a directory).
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e: std::io::Error| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// The new file takes the old one's mode; its owner too when the process may change it (root
/// rewriting a user's model must not hand it to root). Ownership is best effort, the mode is
/// not: a 0600 model must never become readable by others.
fn keep_owner_and_permissions(file: &File, old: &Metadata) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let new = file.metadata()?;
        if (new.uid(), new.gid()) != (old.uid(), old.gid()) {
            let _ = std::os::unix::fs::fchown(file, Some(old.uid()), Some(old.gid()));
        }
    }
    file.set_permissions(old.permissions())
}

#[cfg(test)]
#[path = "io_guard_tests.rs"]
mod tests;
