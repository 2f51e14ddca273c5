//! File safety and input robustness of the `dtag` binary (issue 11): output paths that would
//! destroy an input, symlinks, devices and `-`; atomic writes that cannot be redirected;
//! bounded reads of models and corpora; nesting in Turtle; `--threads`; control characters in
//! descriptors. Every test runs the real executable.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod common;
use common::{dtag, dtag_with_stdin, p, root, Run};

const TRAIN: &str = "data/train.txt";
const TEST: &str = "data/test.txt";
const DRAFT: &str = "data/drafts/draft_01.txt";

/// A small, fast model (no tuning), trained once and shared by the tests that only read it.
fn small_model() -> &'static Path {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("files-tests");
        std::fs::create_dir_all(&dir).unwrap();
        let model = dir.join("small.dtag");
        train_small(TRAIN, &model).ok();
        model
    })
}

fn train_small(corpus: &str, model: &Path) -> Run {
    dtag([
        "-q",
        "train",
        "--no-tune",
        "--corpus",
        corpus,
        "--model",
        &p(model),
    ])
}

/// A copy of the training corpus in `dir`.
fn corpus_copy(dir: &Path) -> PathBuf {
    let path = dir.join("c.txt");
    std::fs::copy(root().join(TRAIN), &path).unwrap();
    path
}

/// Runs `dtag` with a deadline, from the crate root, with a shell prefix (`ulimit …`): a test
/// of an unbounded read must fail, not hang the suite.
fn dtag_limited(shell_prefix: &str, args: &[&str], deadline: Duration) -> Run {
    let started = Instant::now();
    let quoted: Vec<String> = args
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let script = format!(
        "{shell_prefix} exec '{}' {}",
        env!("CARGO_BIN_EXE_dtag"),
        quoted.join(" ")
    );
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dtag {args:?} still running after {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        seconds: started.elapsed().as_secs_f64(),
    }
}

fn assert_mentions(run: &Run, words: &[&str]) {
    for w in words {
        assert!(
            run.stderr.contains(w),
            "stderr should mention `{w}`:\n{}",
            run.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------------
// the output-path guard

#[test]
fn train_refuses_its_corpus_as_model_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus_copy(dir.path());
    let original = std::fs::read(&corpus).unwrap();
    let c = p(&corpus);
    // The same path, another spelling of it, and a hard link to it.
    let other_spelling = p(&dir.path().join(".").join("c.txt"));
    let hard_link = dir.path().join("link.txt");
    std::fs::hard_link(&corpus, &hard_link).unwrap();
    for model in [c.clone(), other_spelling, p(&hard_link)] {
        let run = dtag(["train", "--corpus", &c, "--model", &model]).fails();
        assert_mentions(&run, &["--model", "same file as the input --corpus"]);
        assert!(
            !run.stderr.contains("read "),
            "refused before reading:\n{}",
            run.stderr
        );
        assert_eq!(std::fs::read(&corpus).unwrap(), original);
    }
    // A file inside a corpus directory is an input too.
    let run = dtag(["train", "--corpus", &p(dir.path()), "--model", &c]).fails();
    assert_mentions(&run, &["inside the input directory"]);
    assert_eq!(std::fs::read(&corpus).unwrap(), original);
}

#[test]
fn every_writing_command_refuses_an_input_as_output() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus_copy(dir.path());
    let original = std::fs::read(&corpus).unwrap();
    let c = p(&corpus);
    let m = p(small_model());
    let model_bytes = std::fs::read(small_model()).unwrap();
    let runs = [
        dtag(["learn", "--model", &m, "--corpus", &c, "--output", &c]),
        dtag(["convert", "--corpus", &c, "--to", "dtag", "--output", &c]),
        dtag(["eval", "--model", &m, "--corpus", &c, "--per-label", &c]),
        dtag(["eval", "--model", &m, "--corpus", &c, "--per-label", &m]),
    ];
    for run in runs {
        let run = run.fails();
        assert_mentions(&run, &["same file as the input"]);
    }
    assert_eq!(std::fs::read(&corpus).unwrap(), original);
    assert_eq!(std::fs::read(small_model()).unwrap(), model_bytes);
}

#[test]
fn a_missing_output_directory_is_reported_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let model = p(&dir.path().join("no/such/dir/m.dtag"));
    let run = dtag(["train", "--corpus", TRAIN, "--model", &model]).fails();
    assert_mentions(&run, &["--model", "does not exist"]);
    assert!(!run.stderr.contains("read "), "{}", run.stderr);
    let out = p(&dir.path().join("missing/c.jsonl"));
    let run = dtag([
        "convert",
        "--corpus",
        TEST,
        "--to",
        "annif-jsonl",
        "--output",
        &out,
    ])
    .fails();
    assert_mentions(&run, &["--output", "does not exist"]);
    assert!(!run.stderr.contains("read "), "{}", run.stderr);
}

#[test]
fn directories_and_devices_are_refused_as_output_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = p(dir.path());
    let run = dtag(["train", "--corpus", TRAIN, "--model", &d]).fails();
    assert_mentions(&run, &["is a directory"]);
    let run = dtag(["train", "--corpus", TRAIN, "--model", "/dev/null"]).fails();
    assert_mentions(&run, &["is a device"]);
    // --report names a directory, not a file.
    let m = p(small_model());
    let run = dtag([
        "eval",
        "--model",
        &m,
        "--corpus",
        TEST,
        "--report",
        "data/README.md",
    ])
    .fails();
    assert_mentions(&run, &["--report", "not a directory"]);
}

#[cfg(unix)]
#[test]
fn writes_go_through_a_symlink_which_stays() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.dtag");
    std::fs::copy(small_model(), &real).unwrap();
    let link = dir.path().join("link.dtag");
    std::os::unix::fs::symlink("real.dtag", &link).unwrap();
    dtag(["-q", "learn", "--model", &p(&link), "--corpus", TEST]).ok();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_ne!(
        std::fs::read(&real).unwrap(),
        std::fs::read(small_model()).unwrap(),
        "the link's target holds the updated model"
    );
}

#[test]
fn a_dash_is_standard_output_wherever_a_file_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.jsonl");
    dtag([
        "convert",
        "--corpus",
        TEST,
        "--to",
        "annif-jsonl",
        "--output",
        &p(&file),
    ])
    .ok();
    let run = dtag([
        "convert",
        "--corpus",
        TEST,
        "--to",
        "annif-jsonl",
        "--output",
        "-",
    ])
    .ok();
    assert_eq!(run.stdout, std::fs::read_to_string(&file).unwrap());
    assert!(!root().join("-").exists(), "no file named `-`");
    // Two things cannot both be standard output.
    let run = dtag([
        "eval",
        "--model",
        &p(small_model()),
        "--corpus",
        TEST,
        "--per-label",
        "-",
    ])
    .fails();
    assert_mentions(&run, &["--per-label", "standard output"]);
}

/// `/dev/stdout` (here through a symlink of our own, so that a failure cannot replace the
/// system's) is standard output, and the symlink is never replaced by a regular file.
#[cfg(target_os = "linux")]
#[test]
fn a_name_of_standard_output_writes_to_it_and_stays() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("out");
    std::os::unix::fs::symlink("/dev/stdout", &link).unwrap();
    let run = dtag([
        "convert",
        "--corpus",
        TEST,
        "--to",
        "annif-jsonl",
        "--output",
        &p(&link),
    ])
    .ok();
    assert_eq!(run.stdout.lines().count(), 28, "{}", run.stdout);
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    // Other descriptors cannot be written safely.
    let run = dtag([
        "convert",
        "--corpus",
        TEST,
        "--to",
        "annif-jsonl",
        "--output",
        "/dev/stderr",
    ])
    .fails();
    assert_mentions(&run, &["file descriptor"]);
}

// ---------------------------------------------------------------------------------------------
// atomic writes

#[cfg(unix)]
#[test]
fn retraining_keeps_the_mode_and_planted_temporary_names_redirect_nothing() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.dtag");
    std::fs::copy(small_model(), &model).unwrap();
    std::fs::set_permissions(&model, std::fs::Permissions::from_mode(0o600)).unwrap();
    // The old temporary name was `.m.dtag.tmp-PID`: plant it for every likely PID.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let next_pid = std::process::id();
    for pid in next_pid..next_pid + 2000 {
        symlink(&victim, dir.path().join(format!(".m.dtag.tmp-{pid}"))).unwrap();
    }
    dtag(["-q", "learn", "--model", &p(&model), "--corpus", TEST]).ok();
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    let mode = std::fs::metadata(&model).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
    // No temporary file of this run is left.
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("dtag-tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn leftovers_of_a_killed_run_are_removed_by_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.dtag");
    // PID 0 is never a running user process: its temporary file is a leftover.
    let leftover = dir.path().join(".m.dtag.dtag-tmp-0-0123456789abcdef");
    std::fs::write(&leftover, b"half a model").unwrap();
    let run = train_small(TRAIN, &model).ok();
    assert!(!leftover.exists());
    assert_mentions(&run, &["removed 1 temporary file", ".m.dtag.dtag-tmp-0-"]);
    assert!(model.exists());
}

// ---------------------------------------------------------------------------------------------
// bounded reads

#[cfg(unix)]
#[test]
fn non_regular_files_are_refused_as_models_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.dtag");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for (model, what) in [
        ("/dev/zero".to_string(), "is a device"),
        (p(&fifo), "is a pipe"),
        (p(dir.path()), "is a directory"),
    ] {
        let run = dtag_limited(
            "",
            &["suggest", "--model", &model, DRAFT],
            Duration::from_secs(20),
        )
        .fails();
        assert_mentions(&run, &[&model, what]);
    }
}

/// A model file whose header announces a 4 GiB payload, with a valid checksum and a zstd body
/// of ~150 KB that really decompresses to that much: refused in bounded memory.
#[cfg(unix)]
#[test]
fn a_forged_decompression_bomb_is_refused_in_bounded_memory() {
    const CHUNK: usize = 64 << 20;
    let frame = zstd::bulk::compress(&vec![0u8; CHUNK], 19).unwrap();
    let frames = 64; // 4 GiB
    let mut body = Vec::new();
    for _ in 0..frames {
        body.extend_from_slice(&frame);
    }
    let mut bytes = Vec::new();
    bytes.extend_from_slice(dtag::model::file::MAGIC);
    bytes.extend_from_slice(&dtag::model::file::FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&((CHUNK * frames) as u64).to_le_bytes());
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    bytes.extend_from_slice(&body);
    dtag::model::file::reseal(&mut bytes);
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.dtag");
    std::fs::write(&bomb, &bytes).unwrap();
    // 256 MiB of address space is far below the 4 GiB the payload claims.
    let run = dtag_limited(
        "ulimit -v 262144;",
        &["suggest", "--model", &p(&bomb), DRAFT],
        Duration::from_secs(30),
    )
    .fails();
    assert_mentions(&run, &[&p(&bomb), "cannot come from"]);
}

#[test]
fn a_large_foreign_file_is_refused_after_reading_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.bin");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(8 << 30).unwrap(); // sparse: 8 GiB of zeros, no disk used
    drop(file);
    let run = dtag_limited(
        "ulimit -v 262144;",
        &["suggest", "--model", &p(&big), DRAFT],
        Duration::from_secs(20),
    )
    .fails();
    assert_mentions(&run, &["not a dtag model"]);
}

#[test]
fn devices_are_refused_as_corpora_and_pipes_still_work() {
    let run = dtag_limited(
        "",
        &[
            "train",
            "--corpus",
            "/dev/zero",
            "--model",
            "/tmp/unused.dtag",
        ],
        Duration::from_secs(20),
    )
    .fails();
    assert_mentions(&run, &["/dev/zero", "is a device"]);
    // Standard input (a pipe) still reads whole.
    let bytes = std::fs::read(root().join(TEST)).unwrap();
    let run = dtag_with_stdin(
        [
            "eval",
            "--model",
            &p(small_model()),
            "--corpus",
            "-",
            "--json",
        ],
        Some(&bytes),
    )
    .ok();
    assert_eq!(run.json()["docs"], 28, "{}", run.stdout);
}

#[test]
fn a_gzip_bomb_is_refused() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("c.txt.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::best(),
    );
    let mut text = b"%%%A|\n\nbody\n".to_vec();
    text.resize(1 << 20, b' ');
    for _ in 0..256 {
        encoder.write_all(&text).unwrap(); // 256 MiB of mostly spaces
    }
    encoder.finish().unwrap();
    let out = p(&dir.path().join("c.jsonl"));
    let run = dtag_limited(
        "",
        &[
            "convert",
            "--corpus",
            &p(&gz),
            "--to",
            "annif-jsonl",
            "--output",
            &out,
        ],
        Duration::from_secs(60),
    )
    .fails();
    assert_mentions(&run, &["decompression bomb"]);
}

// ---------------------------------------------------------------------------------------------
// Turtle nesting, threads

#[test]
fn a_deeply_nested_turtle_thesaurus_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let ttl = dir.path().join("deep.ttl");
    let depth = 20_000;
    std::fs::write(
        &ttl,
        format!(
            "@prefix : <http://e/> .\n:s :p {}:o{} .\n",
            "[ :p ".repeat(depth),
            " ]".repeat(depth)
        ),
    )
    .unwrap();
    let model = p(&dir.path().join("m.dtag"));
    let run = dtag([
        "train",
        "--corpus",
        TRAIN,
        "--model",
        &model,
        "--thesaurus",
        &p(&ttl),
    ])
    .fails();
    assert_mentions(&run, &["deep.ttl:2:", "nested more than"]);
}

#[test]
fn threads_far_beyond_the_cores_are_refused() {
    let run = dtag([
        "--threads",
        "10000",
        "suggest",
        "--model",
        &p(small_model()),
        DRAFT,
    ])
    .fails();
    assert_mentions(&run, &["--threads 10000", "per core"]);
    assert!(run.seconds < 5.0, "{}", run.seconds);
    dtag([
        "--threads",
        "2",
        "suggest",
        "--model",
        &p(small_model()),
        DRAFT,
    ])
    .ok();
}

// ---------------------------------------------------------------------------------------------
// control characters in descriptors

#[test]
fn descriptors_with_control_characters_are_refused_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, String, &str); 7] = [
        ("esc.txt", "%%%A|B\u{1b}[31m|\n\nbody\n".into(), ":1:"),
        (
            "nul.txt",
            "%%%A|\n\nbody\n%%%B\u{0}C|\n\nbody\n".into(),
            ":4:",
        ),
        ("tab.txt", "%%%A\tB|\n\nbody\n".into(), ":1:"),
        ("rtl.txt", "%%%evil\u{202e}txt.exe|\n\nbody\n".into(), ":1:"),
        (
            "c.jsonl",
            "{\"text\": \"x\", \"subjects\": [{\"label\": \"A\"}]}\n\
             {\"text\": \"y\", \"subjects\": [{\"label\": \"B\\tC\"}]}\n"
                .into(),
            ":2:",
        ),
        ("c.tsv", "text\t<http://e/a\u{202e}b>\n".into(), ":1:"),
        (
            "c2.jsonl",
            "{\"text\": \"x\", \"subjects\": [{\"uri\": \"http://e/\\u001b\"}]}\n".into(),
            ":1:",
        ),
    ];
    for (name, text, line) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let model = p(&dir.path().join("m.dtag"));
        let run = dtag(["train", "--corpus", &p(&path), "--model", &model]).fails();
        assert_mentions(&run, &[&format!("{name}{line}"), "control"]);
        assert!(
            !run.stderr.contains('\u{1b}') && !run.stderr.contains('\u{202e}'),
            "the message itself shows them escaped:\n{}",
            run.stderr
        );
    }
    // Annif document directories: the subject file's line.
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(docs.join("a.txt"), "文本").unwrap();
    std::fs::write(docs.join("a.key"), "A\nB\u{7}\n").unwrap();
    let model = p(&dir.path().join("m.dtag"));
    let run = dtag(["train", "--corpus", &p(&docs), "--model", &model]).fails();
    assert_mentions(&run, &["a.key:2:", "U+0007"]);
}
