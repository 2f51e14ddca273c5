#!/usr/bin/env bash
# Runs Annif (an ensemble of omikuji "bonsai" and mllm, as in the corpus README) and dtag on the
# same train/test split and prints their figures side by side as a Markdown table.
#
# Usage: scripts/bench_annif.sh [CORPUS_DIR] [WORK_DIR] [--runs N] [--no-build]
#
#   CORPUS_DIR  holds train.txt, test.txt (dtag `%%%` format, YSO Finnish labels) and yso-fi.tsv
#               (Annif TSV vocabulary); default ../shared/corpora/kirjastonhoitaja
#   WORK_DIR    everything the benchmark writes: the Annif venv, converted corpora, Annif's data
#               directory, the dtag model, logs; default target/bench-annif
#   --runs N    train both systems N times, alternately, and report the median train times
#               (default 1); the figures come from the models of the last run
#   --no-build  do not run `cargo build --release` (DTAG=/path/to/dtag picks another binary)
#
# Relative paths are taken from the repository root. The first run installs Annif ('annif[omikuji]'
# from PyPI) into WORK_DIR/venv; later runs reuse it. Annif's NLTK tokenizer is satisfied offline
# by empty punkt_tab stubs under ~/nltk_data (the only files written outside WORK_DIR).
# Train times are whole-process wall seconds (`/usr/bin/time`); CPU seconds (user + sys) are
# printed beside them, as they suffer less from other load on the machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

CORPUS=""
WORK=""
RUNS=1
BUILD=1
while (($#)); do
  case "$1" in
    --runs) RUNS="${2:?--runs needs a number}"; shift 2 ;;
    --runs=*) RUNS="${1#--runs=}"; shift ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    *)
      if [[ -z "$CORPUS" ]]; then CORPUS="$1"
      elif [[ -z "$WORK" ]]; then WORK="$1"
      else echo "too many arguments: $1" >&2; exit 2
      fi
      shift ;;
  esac
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "--runs wants a positive integer, not '$RUNS'" >&2; exit 2; }
CORPUS="$(realpath "${CORPUS:-../shared/corpora/kirjastonhoitaja}")"
mkdir -p "${WORK:=target/bench-annif}"
WORK="$(realpath "$WORK")"
for f in train.txt test.txt yso-fi.tsv; do
  [[ -f "$CORPUS/$f" ]] || { echo "missing $CORPUS/$f" >&2; exit 1; }
done

say() { printf '[bench_annif %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
load1() { cut -d' ' -f1 /proc/loadavg; }

# The load before this script adds its own: the figure that tells whether timings are trustworthy.
LOAD_BEFORE="$(uptime | sed 's/.*load average: //')"
LOAD1_BEFORE="$(load1)"
START_NS="$(date +%s%N)"
LOGS="$WORK/logs"
mkdir -p "$LOGS"

# ---------------------------------------------------------------------------------------------
# dtag
if [[ -z "${DTAG:-}" ]]; then
  DTAG="${CARGO_TARGET_DIR:-$ROOT/target}/release/dtag"
  if ((BUILD)); then
    say "cargo build --release"
    cargo build --release --quiet
  fi
fi
DTAG="$(realpath "$DTAG")"
[[ -x "$DTAG" ]] || { echo "no dtag binary at $DTAG (build it, or set DTAG)" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Annif in a venv of its own
VENV="$WORK/venv"
ANNIF="$VENV/bin/annif"
if [[ ! -x "$ANNIF" ]] || ! "$VENV/bin/python" -c 'import annif, omikuji' 2>/dev/null; then
  say "installing annif[omikuji] into $VENV (once)"
  [[ -x "$VENV/bin/python" ]] || "${PYTHON:-python3}" -m venv "$VENV"
  if ! "$VENV/bin/python" -m pip install --quiet --no-cache-dir 'annif[omikuji]' >"$LOGS/pip.log" 2>&1; then
    tail -20 "$LOGS/pip.log" >&2
    exit 1
  fi
fi
ANNIF_VERSION="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("annif"))')"
say "Annif $ANNIF_VERSION"

# NLTK looks for tokenizers/punkt_tab/<language>/ and reads these four files from it (nltk's
# PunktTokenizer); empty files give a tokenizer without learned abbreviations, and no download.
for lang in english finnish; do
  dir="$HOME/nltk_data/tokenizers/punkt_tab/$lang"
  mkdir -p "$dir"
  for f in collocations.tab sent_starters.txt abbrev_types.txt ortho_context.tab; do
    [[ -e "$dir/$f" ]] || : >"$dir/$f"
  done
done

# Annif keeps its data (vocabularies, trained projects) in ANNIF_DATADIR; it runs in ANNIF_HOME.
ANNIF_HOME="$WORK/annif"
mkdir -p "$ANNIF_HOME"
export ANNIF_DATADIR="$ANNIF_HOME/data"
export ANNIF_PROJECTS="$WORK/projects.cfg"
annif() { (cd "$ANNIF_HOME" && "$ANNIF" "$@"); }

# ---------------------------------------------------------------------------------------------
# Corpora in Annif's formats, written by dtag (labels -> YSO URIs through the vocabulary)
say "converting the corpus to Annif document directories"
rm -rf "$WORK/train-dir" "$WORK/test-dir"
"$DTAG" convert -q --corpus "$CORPUS/train.txt" --thesaurus "$CORPUS/yso-fi.tsv" \
  --to annif-dir --output "$WORK/train-dir" >"$LOGS/convert-train.log" 2>&1
"$DTAG" convert -q --corpus "$CORPUS/test.txt" --thesaurus "$CORPUS/yso-fi.tsv" \
  --to annif-dir --output "$WORK/test-dir" >"$LOGS/convert-test.log" 2>&1
grep -h 'thesaurus matches' "$LOGS"/convert-*.log >&2 || true

cat >"$ANNIF_PROJECTS" <<'EOF'
# Written by scripts/bench_annif.sh: the ensemble of the kirjastonhoitaja README.
[bonsai-fi]
name=Omikuji Bonsai Finnish
language=fi
backend=omikuji
analyzer=snowball(finnish)
vocab=yso
limit=100
cluster_k=100
max_depth=3
ngram=2
min_df=2

[mllm-fi]
name=MLLM Finnish
language=fi
backend=mllm
analyzer=snowball(finnish)
vocab=yso
limit=100

[ensemble-fi]
name=Ensemble Finnish
language=fi
backend=ensemble
sources=bonsai-fi:2,mllm-fi:1
vocab=yso
limit=100
EOF

# The vocabulary is loaded again only when the TSV differs from the one loaded last time.
if ! cmp -s "$CORPUS/yso-fi.tsv" "$WORK/yso-fi.loaded.tsv" || [[ ! -d "$ANNIF_DATADIR/vocabs/yso" ]]; then
  say "annif load-vocab yso"
  annif load-vocab --force --language "fi" yso "$CORPUS/yso-fi.tsv" >"$LOGS/load-vocab.log" 2>&1 \
    || { tail -20 "$LOGS/load-vocab.log" >&2; exit 1; }
  cp "$CORPUS/yso-fi.tsv" "$WORK/yso-fi.loaded.tsv"
fi

# ---------------------------------------------------------------------------------------------
# Training, timed (run in Annif's directory): each call appends "wall cpu" to $WORK/times/NAME
TIMES="$WORK/times"
rm -rf "$TIMES"
mkdir -p "$TIMES/raw"
timed() {
  local name="$1" log="$2"
  shift 2
  if ! (cd "$ANNIF_HOME" && /usr/bin/time -f '%e %U %S' -o "$TIMES/raw/$name" "$@") >"$log" 2>&1; then
    echo "failed: $* (log: $log)" >&2
    tail -20 "$log" >&2
    exit 1
  fi
  awk '{ printf "%s %.2f\n", $1, $2 + $3 }' "$TIMES/raw/$name" >>"$TIMES/$name"
}
median() { # median of column $2 of file $1
  sort -g -k"$2,$2" "$1" | awk -v c="$2" '{ v[NR] = $c } END {
    if (NR == 0) { print "-"; exit }
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.1f\n", m }'
}

MODEL="$WORK/dtag-kirjastonhoitaja.model"
for ((run = 1; run <= RUNS; run++)); do
  say "run $run/$RUNS: annif train bonsai-fi"
  timed bonsai "$LOGS/train-bonsai.log" "$ANNIF" train bonsai-fi "$WORK/train-dir"
  say "run $run/$RUNS: annif train mllm-fi"
  timed mllm "$LOGS/train-mllm.log" "$ANNIF" train mllm-fi "$WORK/train-dir"
  say "run $run/$RUNS: dtag train"
  timed dtag "$LOGS/train-dtag.log" "$DTAG" train -q --corpus "$CORPUS/train.txt" --model "$MODEL" \
    --language "fi" --thesaurus "$CORPUS/yso-fi.tsv"
done
paste -d' ' "$TIMES/bonsai" "$TIMES/mllm" | awk '{ print $1 + $3, $2 + $4 }' >"$TIMES/ensemble"

# ---------------------------------------------------------------------------------------------
# Evaluation: Annif's `eval` prints "Name:  value" lines
declare -A P1 P5 F15
for project in ensemble-fi bonsai-fi mllm-fi; do
  say "annif eval $project"
  annif eval "$project" "$WORK/test-dir" --limit 5 >"$LOGS/eval-$project.log" 2>&1 \
    || { tail -20 "$LOGS/eval-$project.log" >&2; exit 1; }
  field() { awk -F':' -v k="$1" '$1 == k { gsub(/[ \t]/, "", $2); v = $2 } END { print (v == "" ? "-" : v) }' \
    "$LOGS/eval-$project.log"; }
  P1[$project]="$(field 'Precision@1')"
  P5[$project]="$(field 'Precision@5')"
  F15[$project]="$(field 'F1@5')"
done

say "dtag eval"
"$DTAG" eval -q --model "$MODEL" --corpus "$CORPUS/test.txt" --thesaurus "$CORPUS/yso-fi.tsv" --json \
  >"$WORK/dtag-eval.json" 2>"$LOGS/eval-dtag.log" || { tail -20 "$LOGS/eval-dtag.log" >&2; exit 1; }
json_key() { # a top-level number of dtag's eval JSON, "-" when the build does not report it
  "$VENV/bin/python" - "$WORK/dtag-eval.json" "$1" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1])).get(sys.argv[2])
print("-" if v is None else f"{v:.4f}")
EOF
}
P1[dtag]="$(json_key p_at_1)"
P5[dtag]="$(json_key p_at_5)"
F15[dtag]="$(json_key f1_at_5)"

# ---------------------------------------------------------------------------------------------
ELAPSED="$(awk -v a="$START_NS" -v b="$(date +%s%N)" 'BEGIN { printf "%.0f", (b - a) / 1e9 }')"
LOAD_AFTER="$(uptime | sed 's/.*load average: //')"
row() { # row LABEL KEY TIMESFILE
  printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "${P1[$2]}" "${P5[$2]}" "${F15[$2]}" \
    "$(median "$TIMES/$3" 1)" "$(median "$TIMES/$3" 2)"
}
echo
echo "corpus: $CORPUS ($(grep -c '^%%%' "$CORPUS/train.txt") train / $(grep -c '^%%%' "$CORPUS/test.txt") test documents); runs: $RUNS (train times are medians)"
echo
echo "| system | P@1 | P@5 | F1@5 | train s | train CPU s |"
echo "| --- | --- | --- | --- | --- | --- |"
row "Annif $ANNIF_VERSION ensemble (bonsai:2 + mllm:1, snowball(finnish))" ensemble-fi ensemble
row "Annif omikuji bonsai (cluster_k 100, max_depth 3, ngram 2, min_df 2)" bonsai-fi bonsai
row "Annif mllm" mllm-fi mllm
row "dtag $("$DTAG" --version | awk '{ print $NF }') (--language fi)" dtag dtag
echo
echo "load average before: $LOAD_BEFORE; after: $LOAD_AFTER (after includes this benchmark); whole script: ${ELAPSED} s"
if awk -v l="$LOAD1_BEFORE" 'BEGIN { exit !(l >= 0.5) }'; then
  echo "WARNING: load average $LOAD1_BEFORE >= 0.5 before the run: other work shares the CPUs, wall times are noise (CPU seconds less so)"
fi
