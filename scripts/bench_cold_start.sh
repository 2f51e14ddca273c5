#!/usr/bin/env bash
# Cold start: dtag trained on the first N documents of a corpus (N = 0: the thesaurus alone),
# beside Annif's MLLM trained on the same documents and Annif's YAKE (no training), all
# evaluated on the same test documents. Prints a Markdown table (docs/learning.md holds one).
#
# Usage: scripts/bench_cold_start.sh [CORPUS_DIR] [WORK_DIR] [--sizes "0 30 100"] [--no-build]
#
#   CORPUS_DIR  holds train.txt, test.txt (dtag `%%%` format, YSO Finnish labels) and yso-fi.tsv
#               (Annif TSV vocabulary); default ../shared/corpora/kirjastonhoitaja
#   WORK_DIR    everything the benchmark writes (the Annif venv, corpora cut to N documents,
#               Annif's data, dtag models, logs); default target/bench-cold
#   --sizes     the numbers of training documents, in file order (default "0 30 100"); "all"
#               is the whole training file
#   --no-build  do not run `cargo build --release` (DTAG=/path/to/dtag picks another binary)
#
# The first run installs 'annif[omikuji,yake]' from PyPI into WORK_DIR/venv (later runs reuse
# it); NLTK's tokenizer is satisfied offline by empty punkt_tab files under ~/nltk_data, as
# scripts/bench_annif.sh does. Only quality is measured (P@1, P@5, F1@5 with --limit 5 for
# Annif and dtag's ranking), not time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

CORPUS=""
WORK=""
SIZES="0 30 100"
BUILD=1
while (($#)); do
  case "$1" in
    --sizes) SIZES="${2:?--sizes needs a list}"; shift 2 ;;
    --sizes=*) SIZES="${1#--sizes=}"; shift ;;
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
for n in $SIZES; do
  [[ "$n" =~ ^([0-9]+|all)$ ]] || { echo "--sizes wants numbers or 'all', not '$n'" >&2; exit 2; }
done
CORPUS="$(realpath "${CORPUS:-../shared/corpora/kirjastonhoitaja}")"
mkdir -p "${WORK:=target/bench-cold}"
WORK="$(realpath "$WORK")"
for f in train.txt test.txt yso-fi.tsv; do
  [[ -f "$CORPUS/$f" ]] || { echo "missing $CORPUS/$f" >&2; exit 1; }
done
say() { printf '[bench_cold_start %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
LOGS="$WORK/logs"
mkdir -p "$LOGS"

if [[ -z "${DTAG:-}" ]]; then
  DTAG="${CARGO_TARGET_DIR:-$ROOT/target}/release/dtag"
  if ((BUILD)); then
    say "cargo build --release"
    cargo build --release --quiet
  fi
fi
DTAG="$(realpath "$DTAG")"
[[ -x "$DTAG" ]] || { echo "no dtag binary at $DTAG (build it, or set DTAG)" >&2; exit 1; }

VENV="$WORK/venv"
ANNIF="$VENV/bin/annif"
if [[ ! -x "$ANNIF" ]] || ! "$VENV/bin/python" -c 'import annif, yake' 2>/dev/null; then
  say "installing annif[omikuji,yake] into $VENV (once)"
  [[ -x "$VENV/bin/python" ]] || "${PYTHON:-python3}" -m venv "$VENV"
  if ! "$VENV/bin/python" -m pip install --quiet --no-cache-dir 'annif[omikuji,yake]' >"$LOGS/pip.log" 2>&1; then
    tail -20 "$LOGS/pip.log" >&2
    exit 1
  fi
fi
ANNIF_VERSION="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("annif"))')"
say "Annif $ANNIF_VERSION"
for lang in english finnish; do
  dir="$HOME/nltk_data/tokenizers/punkt_tab/$lang"
  mkdir -p "$dir"
  for f in collocations.tab sent_starters.txt abbrev_types.txt ortho_context.tab; do
    [[ -e "$dir/$f" ]] || : >"$dir/$f"
  done
done

ANNIF_HOME="$WORK/annif"
mkdir -p "$ANNIF_HOME"
export ANNIF_DATADIR="$ANNIF_HOME/data"
export ANNIF_PROJECTS="$WORK/projects.cfg"
annif() { (cd "$ANNIF_HOME" && "$ANNIF" "$@"); }

# The first N documents of the training file, in dtag's format and as Annif directories.
first() { # first N OUT
  if [[ "$1" == all ]]; then cp "$CORPUS/train.txt" "$2"
  else awk -v n="$1" '/^%%%/ { c++ } c <= n' "$CORPUS/train.txt" >"$2"
  fi
}
to_dir() { # to_dir CORPUS DIR
  rm -rf "$2"
  "$DTAG" convert -q --corpus "$1" --thesaurus "$CORPUS/yso-fi.tsv" --to annif-dir --output "$2" \
    >"$LOGS/convert-$(basename "$2").log" 2>&1
}
to_dir "$CORPUS/test.txt" "$WORK/test-dir"

{
  echo "# Written by scripts/bench_cold_start.sh: one MLLM project per training size, and YAKE."
  for n in $SIZES; do
    [[ "$n" == 0 ]] && continue
    printf '[mllm-%s]\nname=MLLM %s\nlanguage=fi\nbackend=mllm\nanalyzer=snowball(finnish)\nvocab=yso\nlimit=100\n\n' "$n" "$n"
  done
  printf '[yake-fi]\nname=YAKE\nlanguage=fi\nbackend=yake\nanalyzer=snowball(finnish)\nvocab=yso\nlimit=100\n'
} >"$ANNIF_PROJECTS"

if ! cmp -s "$CORPUS/yso-fi.tsv" "$WORK/yso-fi.loaded.tsv" || [[ ! -d "$ANNIF_DATADIR/vocabs/yso" ]]; then
  say "annif load-vocab yso"
  annif load-vocab --force --language fi yso "$CORPUS/yso-fi.tsv" >"$LOGS/load-vocab.log" 2>&1 \
    || { tail -20 "$LOGS/load-vocab.log" >&2; exit 1; }
  cp "$CORPUS/yso-fi.tsv" "$WORK/yso-fi.loaded.tsv"
fi

annif_eval() { # annif_eval PROJECT -> "P@1 P@5 F1@5"
  annif eval "$1" "$WORK/test-dir" --limit 5 >"$LOGS/eval-$1.log" 2>&1 \
    || { tail -20 "$LOGS/eval-$1.log" >&2; exit 1; }
  awk -F':' '
    { gsub(/[ \t]/, "", $2) }
    $1 == "Precision@1" { p1 = $2 } $1 == "Precision@5" { p5 = $2 } $1 == "F1@5" { f = $2 }
    END { printf "%.3f %.3f %.3f\n", p1, p5, f }' "$LOGS/eval-$1.log"
}
dtag_eval() { # dtag_eval MODEL -> "P@1 P@5 F1@5"
  "$DTAG" eval -q --model "$1" --corpus "$CORPUS/test.txt" --json >"$WORK/eval.json" 2>>"$LOGS/dtag.log"
  "$VENV/bin/python" -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.3f %.3f %.3f" % (d["p_at_1"], d["p_at_5"], d["f1_at_5"]))' "$WORK/eval.json"
}

say "annif eval yake-fi (no training)"
read -r Y1 Y5 YF <<<"$(annif_eval yake-fi)"
ROWS=()
for n in $SIZES; do
  model="$WORK/dtag-$n.dtag"
  if [[ "$n" == 0 ]]; then
    say "dtag train: the thesaurus alone"
    "$DTAG" train -q --model "$model" --language fi --thesaurus "$CORPUS/yso-fi.tsv" >>"$LOGS/dtag.log" 2>&1
    M1="-"; M5="-"; MF="-"
  else
    first "$n" "$WORK/first-$n.txt"
    say "dtag train: the first $n documents"
    "$DTAG" train -q --corpus "$WORK/first-$n.txt" --model "$model" --language fi \
      --thesaurus "$CORPUS/yso-fi.tsv" >>"$LOGS/dtag.log" 2>&1
    to_dir "$WORK/first-$n.txt" "$WORK/train-$n-dir"
    say "annif train mllm-$n"
    annif train "mllm-$n" "$WORK/train-$n-dir" >"$LOGS/train-mllm-$n.log" 2>&1 \
      || { tail -20 "$LOGS/train-mllm-$n.log" >&2; exit 1; }
    read -r M1 M5 MF <<<"$(annif_eval "mllm-$n")"
  fi
  read -r D1 D5 DF <<<"$(dtag_eval "$model")"
  ROWS+=("| $n | $D1 / $D5 / $DF | $M1 / $M5 / $MF | $Y1 / $Y5 / $YF |")
done

echo
echo "corpus: $CORPUS (test: $(grep -c '^%%%' "$CORPUS/test.txt") documents); Annif $ANNIF_VERSION; dtag $("$DTAG" --version | awk '{ print $NF }')"
echo
echo "| training documents | dtag P@1 / P@5 / F1@5 | Annif MLLM P@1 / P@5 / F1@5 | Annif YAKE (no training) P@1 / P@5 / F1@5 |"
echo "|---:|---|---|---|"
printf '%s\n' "${ROWS[@]}"
