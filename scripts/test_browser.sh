#!/usr/bin/env bash
# Browser test of the web page, the indexer's desk: Debian's chromium + chromium-driver
# (apt-get install -y chromium chromium-driver), headless, with a fresh profile, driven over
# WebDriver's HTTP API by scripts/browser_check.py (Python standard library only). Trains the
# demo model with the UNBIS thesaurus (../shared/corpora), starts `dtag serve --learn
# --learn-tokens FILE --learn-log FILE` and chromedriver on free loopback ports, then:
# - types data/drafts/draft_01.txt, presses Suggest and asserts the draft's two descriptors
#   (PEACEKEEPING OPERATIONS and CHILDREN, in either order, one other allowed) lead the results;
# - on data/drafts/draft_02.txt: rejects the first suggestion, accepts the second, adds
#   CHILDREN by typing 儿童 + Enter, copies, saves (the indexer's token asked once, a wrong
#   one asked again); the learning log must hold exactly that one document, with the
#   accepted and added descriptors and the rejected one apart, and the draft's next
#   suggestions show CHILDREN;
# - drops draft_01 as a Word document (.docx, made here) and checks its suggestions equal
#   the text's.
# Always stops the server and chromedriver; leaves screenshots at target/browser-test.png
# and target/browser-desk.png.
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
THESAURUS=../shared/corpora/unbis_thesaurus/concepts.tsv
[ -f "$THESAURUS" ] || { echo "$THESAURUS is missing (the shared corpora beside the clone)" >&2; exit 2; }
"$DTAG" --quiet train --corpus data/train.txt --model "$WORK/demo.dtag" --thesaurus "$THESAURUS" \
  2>"$WORK/train.log" || { cat "$WORK/train.log" >&2; exit 1; }

# The first draft as a Word document: one paragraph per line, split in runs as Word does.
python3 - data/drafts/draft_01.txt "$WORK/draft_01.docx" <<'PY'
import sys, zipfile
from xml.sax.saxutils import escape
text = open(sys.argv[1], encoding="utf-8").read().rstrip("\n")
paragraphs = "".join(
    f'<w:p><w:r><w:t xml:space="preserve">{escape(line[:len(line)//2])}</w:t></w:r>'
    f'<w:r><w:rPr><w:i/></w:rPr><w:t xml:space="preserve">{escape(line[len(line)//2:])}</w:t></w:r></w:p>'
    for line in text.split("\n"))
xml = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
       '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
       f'<w:body>{paragraphs}<w:sectPr/></w:body></w:document>')
with zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>')
    z.writestr("word/document.xml", xml)
PY

# Learning needs an indexer's token: the page asks for it once and keeps it for the session.
TOKEN=browser-test-token-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf 'indexer %s\n' "$TOKEN" >"$WORK/tokens"
"$DTAG" serve --model "demo=$WORK/demo.dtag" --bind 127.0.0.1:0 --learn --learn-tokens "$WORK/tokens" \
  --learn-log "$WORK/learn.jsonl" \
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
  data/drafts/draft_01.txt "PEACEKEEPING OPERATIONS,CHILDREN" "$WORK/profile" "$ROOT/target/browser-test.png" \
  --token "$TOKEN" --desk-draft data/drafts/draft_02.txt --learn-log "$WORK/learn.jsonl" \
  --desk-screenshot "$ROOT/target/browser-desk.png" \
  --docx "$WORK/draft_01.docx" --docx-text data/drafts/draft_01.txt \
  || { echo "--- chromedriver log (tail)" >&2; tail -n 30 "$WORK/chromedriver.log" >&2; exit 1; }
