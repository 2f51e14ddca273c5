#!/usr/bin/env bash
# Mixed suggest/learn load on loopback (see scripts/load_test_learn.py): bounded in time,
# checks that no learned document is lost and that memory stays bounded.
# Usage: scripts/load_test_learn.sh [SECONDS] [SUGGESTERS]
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --quiet
DTAG=$TARGET_DIR/release/dtag
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dtag-load.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
"$DTAG" --quiet train --corpus data/train.txt --model "$WORK/demo.dtag"
python3 scripts/load_test_learn.py "$DTAG" "$WORK/demo.dtag" "${1:-20}" "${2:-8}"
