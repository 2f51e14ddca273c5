#!/usr/bin/env bash
# Runs the cargo-fuzz targets one after another (not in CI: it takes a while and needs nightly).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Defaults: 600 seconds each for corpus_parser, model_file, request_decoder and turtle_parser.
# Seeds are made from data/ and tests/fixtures/ (a small model is trained with the release
# binary). libFuzzer's summary line gives the executions per target; crashes land in
# fuzz/artifacts/<target>/ and make the script exit non-zero. Keep a fixed crash input as a
# regression test by copying it to tests/fuzz_inputs/<target>/ (tests/fuzz_inputs.rs replays
# every file there).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_PER_TARGET=${1:-600}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(corpus_parser model_file request_decoder turtle_parser)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
FUZZ_TARGET_DIR=$TARGET_DIR/fuzz
WORK=$TARGET_DIR/fuzz-work
mkdir -p "$WORK"

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2; exit 2; }
rustup toolchain list | grep -q '^nightly' || { echo "a nightly toolchain is needed: rustup toolchain install nightly" >&2; exit 2; }
command -v zstd >/dev/null || { echo "zstd is missing (apt-get install zstd)" >&2; exit 2; }

# --- seeds -------------------------------------------------------------------------------
cargo build --release --quiet
DTAG=$TARGET_DIR/release/dtag
seed() { # seed TARGET NAME: stdin becomes fuzz/corpus/TARGET/NAME
  mkdir -p "fuzz/corpus/$1"
  cat > "fuzz/corpus/$1/$2"
}
head -n 12 data/train.txt | seed corpus_parser train_head
head -n 6 data/test.txt | seed corpus_parser test_head
printf '\xEF\xBB\xBF%%%%%%A|B|\r\n\r\nbody one\r\n%%%%%%||\n\nx\n%%%%%%A|A|\nbody\nstray\n%%%%%%C|' | seed corpus_parser edge_cases

head -n 30 data/train.txt > "$WORK/small.txt"
"$DTAG" train --quiet --corpus "$WORK/small.txt" --model "$WORK/jieba.dtag" --min-label-docs 1 >/dev/null 2>&1
"$DTAG" train --quiet --corpus "$WORK/small.txt" --model "$WORK/ngrams.dtag" --min-label-docs 1 \
  --analyzer whitespace --char-ngrams 1-2 --max-features 300 >/dev/null 2>&1
for m in jieba ngrams; do
  { printf '\x00'; cat "$WORK/$m.dtag"; } | seed model_file "${m}_file"
  { printf '\x01'; tail -c +33 "$WORK/$m.dtag" | zstd -dcq; } | seed model_file "${m}_payload"
done

printf '\x01/v1/projects/demo/suggest\x00\x00application/x-www-form-urlencoded\x00text=%%E7%%BB%%B4%%E6%%8C%%81+a&limit=5&threshold=0.5' | seed request_decoder suggest
printf '\x01/v1/projects/demo/suggest-batch\x00limit=3&threshold=0.1&language=zh\x00application/json; charset=utf-8\x00{"documents":[{"text":"a","document_id":"d1"},{"text":"b","metadata":{"k":"v"}}]}' | seed request_decoder batch
printf '\x00/v1/projects/un%%20zh' | seed request_decoder project
printf '\x00/healthz' | seed request_decoder health

seed turtle_parser unbis_demo < tests/fixtures/unbis_demo.ttl
printf '@base <http://e/> .\nPREFIX : <#>\n_:b :p [ :q ( 1 -2.5e3 "s"@en """l\\n""" ) ], <r> ;\n  a :C .\n' | seed turtle_parser features

# --- runs --------------------------------------------------------------------------------
status=0
summary=()
for target in "${TARGETS[@]}"; do
  log=$WORK/$target.log
  echo "== fuzzing $target for ${SECONDS_PER_TARGET}s (log: $log)"
  set +e
  cargo +nightly fuzz run --target-dir "$FUZZ_TARGET_DIR" "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
    >"$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -oE '^Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -1 || true)
  crashes=$(find "fuzz/artifacts/$target" -type f 2>/dev/null | wc -l)
  summary+=("$target: ${runs:-?} executions, exit $rc, $crashes artifact(s) in fuzz/artifacts/$target")
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    status=1
    tail -n 40 "$log"
  fi
done
echo "== summary"
printf '%s\n' "${summary[@]}"
exit $status
