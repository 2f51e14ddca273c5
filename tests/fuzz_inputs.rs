//! Stable-toolchain side of the fuzzing (`fuzz/` holds the `cargo fuzz` targets, run by
//! `scripts/fuzz.sh` on nightly): every input kept under `tests/fuzz_inputs/<target>/` is
//! replayed through the same entry point as the fuzz target, and a short seeded mutational
//! run exercises each target on every `cargo test`.

use std::path::Path;
use std::process::Command;

use dtag::fuzzing;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 4] = [
    ("corpus_parser", fuzzing::corpus_parser),
    ("model_file", fuzzing::model_file),
    ("request_decoder", fuzzing::request_decoder),
    ("turtle_parser", fuzzing::turtle_parser),
];

#[test]
fn kept_fuzz_inputs_replay_without_panics() {
    let mut replayed = 0;
    for (name, target) in TARGETS {
        let dir = Path::new("tests/fuzz_inputs").join(name);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            println!("{name}: {}", path.display());
            target(&bytes);
            replayed += 1;
        }
    }
    println!("replayed {replayed} kept input(s)");
    assert!(replayed > 0, "tests/fuzz_inputs/ holds no inputs");
}

/// xorshift64*: a fixed-seed generator, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A libFuzzer-like mutation: flip, overwrite, insert, erase, duplicate or splice bytes.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>, other: &[u8]) {
    const INTERESTING: [u8; 10] = [0, 0xff, 0x7f, 0x80, b'%', b'|', b'\n', b'&', b'=', b'"'];
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(input.len() + 1);
        match rng.below(7) {
            0 if at < input.len() => input[at] ^= 1 << rng.below(8),
            1 if at < input.len() => input[at] = INTERESTING[rng.below(INTERESTING.len())],
            2 => input.insert(at, rng.next() as u8),
            3 if at < input.len() => {
                let end = (at + 1 + rng.below(16)).min(input.len());
                input.drain(at..end);
            }
            4 if at < input.len() => {
                let end = (at + 1 + rng.below(32)).min(input.len());
                let piece = input[at..end].to_vec();
                let to = rng.below(input.len() + 1);
                input.splice(to..to, piece);
            }
            5 if !other.is_empty() => {
                let from = rng.below(other.len());
                let end = (from + 1 + rng.below(64)).min(other.len());
                input.splice(at..at, other[from..end].iter().copied());
            }
            _ => {
                let at = at.min(input.len());
                let value = rng.next().to_le_bytes();
                let end = (at + 8).min(input.len());
                input.splice(at..end, value);
            }
        }
    }
}

fn mutational_run(target: Target, seeds: &[Vec<u8>], iterations: usize, seed: u64) {
    let mut rng = Rng(seed);
    for seed_input in seeds {
        target(seed_input);
    }
    for _ in 0..iterations {
        let base = &seeds[rng.below(seeds.len())];
        let other = &seeds[rng.below(seeds.len())];
        let mut input = base.clone();
        mutate(&mut rng, &mut input, other);
        target(&input);
    }
}

#[test]
fn mutated_corpora_never_panic() {
    let train = std::fs::read("data/train.txt").unwrap();
    let head: Vec<u8> = train
        .split(|&b| b == b'\n')
        .take(12)
        .collect::<Vec<_>>()
        .join(&b'\n');
    let seeds = vec![
        head,
        b"\xEF\xBB\xBF%%%A|B|\r\n\r\nbody\r\n%%%||\n\nx\n%%%A|A|\nbody\nstray\n%%%C|".to_vec(),
    ];
    mutational_run(fuzzing::corpus_parser, &seeds, 20_000, 1);
}

#[test]
fn mutated_turtle_never_panics() {
    let demo = std::fs::read("tests/fixtures/unbis_demo.ttl").unwrap();
    let seeds = vec![
        demo,
        br#"@base <http://e/> . PREFIX : <#> _:b :p [ :q ( 1 -2.5e3 "s"@en """l\n""" ) ], <r> ; a :C ."#
            .to_vec(),
        [&b"<s> <p> "[..], &b"([".repeat(100), &b"]"[..]].concat(),
    ];
    mutational_run(fuzzing::turtle_parser, &seeds, 3_000, 4);
}

#[test]
fn mutated_requests_never_panic_or_5xx() {
    let seeds: Vec<Vec<u8>> = [
        &b"\x01/v1/projects/demo/suggest\x00\x00application/x-www-form-urlencoded\x00text=%E7%BB%B4+a&limit=5&threshold=0.5"[..],
        b"\x01/v1/projects/demo/suggest-batch\x00limit=3&language=zh\x00application/json\x00{\"documents\":[{\"text\":\"a\",\"document_id\":\"d\"},{\"text\":\"b\",\"metadata\":{\"k\":\"v\"}}]}",
        b"\x00/v1/projects/un%20zh",
        b"\x00/healthz",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect();
    mutational_run(fuzzing::request_decoder, &seeds, 50_000, 2);
}

#[test]
fn mutated_model_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("small.txt");
    let train = std::fs::read_to_string("data/train.txt").unwrap();
    std::fs::write(
        &corpus,
        train.lines().take(30).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    let model = dir.path().join("small.dtag");
    let out = Command::new(env!("CARGO_BIN_EXE_dtag"))
        .args([
            "--quiet",
            "train",
            "--min-label-docs",
            "1",
            "--analyzer",
            "whitespace",
        ])
        .args(["--char-ngrams", "1-2", "--max-features", "300", "--corpus"])
        .arg(&corpus)
        .arg("--model")
        .arg(&model)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = std::fs::read(&model).unwrap();
    let payload = zstd::decode_all(&file[32..]).unwrap();
    // The seeds must load (so mutations start from a valid model on both paths).
    assert!(dtag::model::file::from_bytes(&file, &model).is_ok());
    assert!(dtag::model::file::from_bytes(&fuzzing::wrap_payload(&payload), &model).is_ok());
    let seeds = vec![
        [&[0u8][..], &file].concat(),
        [&[1u8][..], &payload].concat(),
    ];
    mutational_run(fuzzing::model_file, &seeds, 3_000, 3);
}
