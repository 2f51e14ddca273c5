#!/usr/bin/env bash
# Browser test of the web page: Debian's chromium + chromium-driver (apt-get install -y chromium
# chromium-driver), headless, with a fresh profile, driven over WebDriver's HTTP API by
# scripts/browser_check.py (Python standard library only). Trains the demo model, starts
# `dtag serve` and chromedriver on free loopback ports, types data/drafts/draft_01.txt into the
# page, presses Suggest and asserts the draft's two descriptors (PEACEKEEPING OPERATIONS and
# CHILDREN, in either order) lead the results. The server learns with --learn-tokens: the
# page then teaches the draft, asking for the indexer's token once (a wrong one is asked
# again) and keeping it in sessionStorage for the next learn request.
# Always stops the server and chromedriver; leaves a screenshot at target/browser-test.png.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dtag-browser.XXXXXX")
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in chromium chromedriver python3; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install -y chromium chromium-driver)" >&2; exit 2; }
done

cargo build --release --quiet
DTAG=$TARGET_DIR/release/dtag
"$DTAG" --quiet train --corpus data/train.txt --model "$WORK/demo.dtag" 2>"$WORK/train.log" \
  || { cat "$WORK/train.log" >&2; exit 1; }

# Learning needs an indexer's token: the page asks for it once and keeps it for the session.
TOKEN=browser-test-token-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf 'indexer %s\n' "$TOKEN" >"$WORK/tokens"
"$DTAG" serve --model "demo=$WORK/demo.dtag" --bind 127.0.0.1:0 --learn --learn-tokens "$WORK/tokens" \
  >"$WORK/serve.out" 2>"$WORK/serve.err" &
PIDS+=($!)
ADDRESS=
for _ in $(seq 300); do
  ADDRESS=$(sed -n 's|^listening on http://||p' "$WORK/serve.out")
  [ -n "$ADDRESS" ] && break
  sleep 0.1
done
[ -n "$ADDRESS" ] || { echo "dtag serve did not start" >&2; cat "$WORK/serve.err" >&2; exit 1; }

DRIVER_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
chromedriver --port="$DRIVER_PORT" --allowed-ips=127.0.0.1 >"$WORK/chromedriver.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  python3 - "$DRIVER_PORT" <<'PY' && break
import json, sys, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/status", timeout=1) as r:
        sys.exit(0 if json.load(r)["value"]["ready"] else 1)
except Exception:
    sys.exit(1)
PY
  sleep 0.1
done

mkdir -p "$ROOT/target"
python3 scripts/browser_check.py "http://127.0.0.1:$DRIVER_PORT" "http://$ADDRESS/" \
  data/drafts/draft_01.txt "PEACEKEEPING OPERATIONS,CHILDREN" "$WORK/profile" "$ROOT/target/browser-test.png" "$TOKEN" \
  || { echo "--- chromedriver log (tail)" >&2; tail -n 30 "$WORK/chromedriver.log" >&2; exit 1; }
