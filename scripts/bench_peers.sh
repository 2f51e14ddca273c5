#!/usr/bin/env bash
# Benchmarks dtag against scikit-learn and LibMultiLabel (linear) on the shared corpora.
# Run from anywhere; paths are resolved from the repository root. See --help.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/bench_peers.sh [options]

Trains and evaluates three systems on the same train/test split of each corpus and prints,
per system: train seconds (median of --runs alternating runs, default 5: dtag, sklearn,
libmultilabel, dtag, ...; wall, with CPU seconds beside it, less skewed by other load),
vectorising seconds (peers), suggestion throughput (test docs/s),
peak RSS (MiB), P@1, P@5, nDCG@5, micro-F1, macro-F1, then dtag's train-time ratio to each
peer (median dtag seconds / median peer seconds). Every run's seconds and the load average
before it go to target/bench/peers-<corpus>.json; a run that starts with a 1-minute load
average above --max-load (default 0.5) is warned about: its times are not a quiet machine's.

  dtag           target/release/dtag train/eval/suggest on train.txt/test.txt (raw text,
                 also for Chinese: dtag segments itself); whole-process wall times.
  sklearn        TfidfVectorizer(\S+, sublinear_tf) + OneVsRest(LogisticRegression liblinear)
  libmultilabel  the same TF-IDF matrix + linear.train_1vsrest(y, x, options=...) (LIBLINEAR)
Peers read *.seg.txt (jieba-segmented) where present; their train time is the fit call only.

Options:
  --corpus NAME       only this corpus (default: cail2018_sample and reuters21578)
  --quick             first 1500 train / 500 test documents only
  --scale N           (repeatable) a synthetic corpus of N training documents from `dtag synth`
                      instead of the shared corpora (add --corpus NAME to run both)
  --systems LIST      comma list of dtag,sklearn,libmultilabel (default: all three)
  --runs N            timed training runs per system, alternating (default 5; medians shown)
  --max-load F        warn when the load average before a run exceeds F (default 0.5)
  --dtag PATH         the dtag binary (default: $CARGO_TARGET_DIR/release/dtag, else
                      target/release/dtag)
  --no-build          do not run `cargo build --release`
  --dtag-train-args S extra `dtag train` arguments, e.g. "--analyzer whitespace"
  --C VALUE           sklearn LogisticRegression C (default 16, dtag train's default --c)
  --min-df N          TF-IDF min_df for the peers (default 1)
  --lml-options STR   LIBLINEAR options for LibMultiLabel (default "-m 2": solver -s 1)
  --backend NAME      joblib backend for sklearn's n_jobs=2: loky (default) or threading
  -h, --help          this text

Environment: PYTHON (default python3) creates the venv at target/peers-venv.
EOF
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

corpora=(cail2018_sample reuters21578)
DTAG="${CARGO_TARGET_DIR:-target}/release/dtag"
scales=()
explicit_corpus=0
build=1
py_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --corpus) corpora=("${2:?--corpus needs a name}"); explicit_corpus=1; shift 2 ;;
    --quick) py_args+=(--quick); shift ;;
    --scale) scales+=("${2:?--scale needs a number of documents}"); shift 2 ;;
    --no-build) build=0; shift ;;
    --dtag) DTAG="${2:?--dtag needs a path}"; shift 2 ;;
    --systems|--C|--min-df|--lml-options|--backend|--dtag-train-args|--runs|--max-load)
      py_args+=("$1=${2?$1 needs a value}"); shift 2 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done

# 1. Python venv with the peers (idempotent). `pip install libmultilabel` pulls no torch:
#    torch/lightning/transformers are only in its "nn" extra.
VENV=target/peers-venv
VPY="$VENV/bin/python"
CHECK='import numpy, scipy, sklearn, psutil; from libmultilabel import linear'
if ! { [[ -x "$VPY" ]] && "$VPY" -c "$CHECK" 2>/dev/null; }; then
  echo "setting up $VENV ..." >&2
  "${PYTHON:-python3}" -m venv "$VENV"
  "$VPY" -m pip install --quiet --disable-pip-version-check \
    numpy scipy scikit-learn libmultilabel psutil
  "$VPY" -c 'from libmultilabel import linear' # fail loudly if the install is unusable
fi

# 2. Build dtag; a failed build only makes the dtag rows unavailable.
if [[ $build -eq 1 ]]; then
  if ! cargo build --release >&2; then
    echo "warning: cargo build --release failed; dtag rows will be unavailable" >&2
  fi
fi

# 3. One corpus at a time: the systems' training runs alternate (dtag, sklearn, libmultilabel,
#    dtag, ...), each in its own process; medians are reported, with a warning for every run that
#    starts while the load average is above --max-load.
echo "load average before the benchmark: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)" >&2
# --scale N: synthetic corpora from `dtag synth` (N training documents, N/5 test documents,
# 500 descriptors, 300 pre-segmented words each), so dtag uses its whitespace analyzer.
if [[ ${#scales[@]} -gt 0 ]]; then
  for n in "${scales[@]}"; do
    dir="target/bench/corpora/synth-$n"
    mkdir -p "$dir"
    [[ -f "$dir/train.txt" ]] || "$DTAG" synth --documents "$n" --descriptors 500 \
      --words 300 --seed 42 --output "$dir/train.txt"
    [[ -f "$dir/test.txt" ]] || "$DTAG" synth --documents $((n / 5)) --descriptors 500 \
      --words 300 --seed 43 --output "$dir/test.txt"
    "$VPY" scripts/peers/peers.py bench --corpus "synth-$n" \
      --corpora-dir target/bench/corpora --out-dir target/bench --dtag "$DTAG" \
      ${py_args[@]+"${py_args[@]}"} "--dtag-train-args=--analyzer whitespace"
  done
  [[ $explicit_corpus -eq 1 ]] || exit 0
fi
for corpus in "${corpora[@]}"; do
  if [[ ! -f "../shared/corpora/$corpus/train.txt" ]]; then
    echo "no such corpus: ../shared/corpora/$corpus" >&2; exit 2
  fi
  "$VPY" scripts/peers/peers.py bench --corpus "$corpus" \
    --corpora-dir ../shared/corpora --out-dir target/bench --dtag "$DTAG" \
    ${py_args[@]+"${py_args[@]}"}
done
