//! Running the `dtag` binary from integration tests, shared by the test files that need it.
#![allow(dead_code)] // each test file uses its own subset

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

/// What a run of the binary left behind.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub seconds: f64,
}

impl Run {
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code,
            Some(0),
            "dtag failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// A clean failure: an exit code (no signal), an `error` line on stderr (warnings may
    /// come first), no panic.
    pub fn fails(self) -> Self {
        assert!(
            self.code.is_some() && self.code != Some(0),
            "expected a non-zero exit, got {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        assert!(
            !self.stderr.contains("panicked"),
            "dtag panicked:\n{}",
            self.stderr
        );
        assert!(
            self.stderr.lines().any(|l| l.starts_with("error")),
            "stderr should have an error message:\n{}",
            self.stderr
        );
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// `paths` (relative to the crate root, under `../shared`) when they all exist. When one is
/// missing the test skips, saying so, unless `DTAG_REQUIRE_CORPORA` is set (as CI sets it):
/// then it fails, so that a CI run without the corpora cannot pass by skipping.
pub fn shared_or_skip(test: &str, paths: &[&str]) -> bool {
    let missing: Vec<&str> = paths
        .iter()
        .copied()
        .filter(|p| !root().join(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var_os("DTAG_REQUIRE_CORPORA").is_some_and(|v| !v.is_empty()) {
        panic!("{test}: DTAG_REQUIRE_CORPORA is set but {missing:?} is missing");
    }
    eprintln!(
        "SKIPPED {test}: {missing:?} not found (the shared corpora are not beside this checkout)"
    );
    false
}

/// The crate root: tests run the binary from there so `data/` and `../shared` resolve.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `dtag` with `args` from the crate root, with no standard input.
pub fn dtag<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    dtag_with_stdin(args, None)
}

/// Runs `dtag` with `args` from the crate root, feeding it `stdin` when given.
pub fn dtag_with_stdin<I, S>(args: I, stdin: Option<&[u8]>) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dtag"))
        .current_dir(root())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("cannot start dtag");
    if let Some(bytes) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().unwrap();
        let bytes = bytes.to_vec();
        // Write from a thread so a full stdout pipe can never deadlock the test.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    let out = child.wait_with_output().expect("dtag did not finish");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// A path as a command-line argument.
pub fn p(path: &Path) -> String {
    path.to_str().unwrap().to_string()
}

/// Asserts that a `train` or `learn` JSON report left the model untuned, and that its reason
/// names `documents` (e.g. "20 documents").
pub fn assert_untuned_for_too_few(report: &Value, documents: &str) {
    assert!(report["tuning"].is_null(), "{report}");
    assert!(
        report["tuning_skipped"]
            .as_str()
            .is_some_and(|r| r.contains(documents)),
        "{report}"
    );
}

/// Runs `dtag -q train --corpus CORPUS --model MODEL EXTRA…`.
pub fn train(corpus: &str, model: &Path, extra: &[&str]) -> Run {
    let model = p(model);
    let mut args = vec!["-q", "train", "--corpus", corpus, "--model", &model];
    args.extend_from_slice(extra);
    dtag(args)
}

/// Runs `dtag train --corpus CORPUS --model MODEL EXTRA…` without `-q`, for tests that read
/// the summaries on stderr (`-q` silences them).
pub fn train_verbose(corpus: &str, model: &Path, extra: &[&str]) -> Run {
    let model = p(model);
    let mut args = vec!["train", "--corpus", corpus, "--model", &model];
    args.extend_from_slice(extra);
    dtag(args)
}
