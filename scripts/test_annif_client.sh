#!/usr/bin/env bash
# Real-client test: annif-client (from PyPI, in a venv under target/) against `dtag serve`.
# Trains the demo model, serves it on a free loopback port, and checks through the client that
# projects are listed and that suggest and suggest-batch return the descriptors and scores of
# `dtag suggest --format json` (scores within 1e-4) for the demo drafts, the Chinese
# data/drafts/draft_01.txt first; then (annif_client_check.py) serves a copy of the model with
# --learn and checks a learn request through the client (204, counted, the model file
# rewritten, the labelled descriptor in the top 3). Exits non-zero on any mismatch; always
# stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
VENV=$ROOT/target/venv-annif-client
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dtag-annif.XXXXXX")
SERVER_PID=

cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release --quiet
DTAG=$TARGET_DIR/release/dtag

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check annif-client
echo "annif-client $("$VENV/bin/python" -c 'from importlib import metadata; print(metadata.version("annif-client"))')"

"$DTAG" --quiet train --corpus data/train.txt --model "$WORK/demo.dtag" 2>"$WORK/train.log" \
  || { cat "$WORK/train.log" >&2; exit 1; }

"$DTAG" serve --model "demo=$WORK/demo.dtag" --bind 127.0.0.1:0 >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!
ADDRESS=
for _ in $(seq 300); do
  ADDRESS=$(sed -n 's|^listening on http://||p' "$WORK/serve.out")
  [ -n "$ADDRESS" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.err" >&2; exit 1; }
  sleep 0.1
done
[ -n "$ADDRESS" ] || { echo "dtag serve did not start" >&2; cat "$WORK/serve.err" >&2; exit 1; }
echo "dtag serve on $ADDRESS"

"$VENV/bin/python" scripts/annif_client_check.py "http://$ADDRESS/v1/" demo "$DTAG" "$WORK/demo.dtag" \
  data/drafts/draft_01.txt data/drafts/draft_02.txt data/drafts/draft_03.txt data/drafts/draft_04.txt
