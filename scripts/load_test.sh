#!/usr/bin/env bash
# Bounded load test of `dtag serve` on loopback with wrk (apt-get install -y wrk):
#
#   scripts/load_test.sh [REQUESTS=10000] [CONCURRENCY=32]
#
# Sends REQUESTS suggest calls for data/drafts/draft_01.txt over CONCURRENCY keep-alive
# connections (2 wrk threads, each stopping after its share; a 600 s cap bounds the time), and
# reports wrk's p50/p99 latency, throughput and errors, plus the server's resident memory
# sampled against the number of requests it has served and its peak (VmHWM). Fails when any
# request errs or when memory grows by more than 10% (+4 MiB) between the first quarter of
# the run and its end: memory must stay flat under load.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REQUESTS=${1:-10000}
CONCURRENCY=${2:-32}
THREADS=2
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dtag-load.XXXXXX")
SERVER_PID=
SAMPLER_PID=

cleanup() {
  [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null || true
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk is missing (apt-get install -y wrk)" >&2; exit 2; }
cargo build --release --quiet
DTAG=$TARGET_DIR/release/dtag
"$DTAG" --quiet train --corpus data/train.txt --model "$WORK/demo.dtag" 2>"$WORK/train.log" \
  || { cat "$WORK/train.log" >&2; exit 1; }

# wrk and the sampler all connect from 127.0.0.1: one client, which must be allowed all of
# wrk's connections plus the sampler's.
PER_CLIENT=$(( CONCURRENCY + 8 ))
"$DTAG" serve --model "demo=$WORK/demo.dtag" --bind 127.0.0.1:0 \
  --max-connections-per-client "$PER_CLIENT" --max-connections "$(( PER_CLIENT > 256 ? PER_CLIENT : 256 ))" \
  >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!
ADDRESS=
for _ in $(seq 300); do
  ADDRESS=$(sed -n 's|^listening on http://||p' "$WORK/serve.out")
  [ -n "$ADDRESS" ] && break
  sleep 0.1
done
[ -n "$ADDRESS" ] || { echo "dtag serve did not start" >&2; cat "$WORK/serve.err" >&2; exit 1; }

python3 - data/drafts/draft_01.txt "$WORK/body" <<'PY'
import sys, urllib.parse
text = open(sys.argv[1], encoding="utf-8").read()
open(sys.argv[2], "w").write(urllib.parse.urlencode({"text": text, "limit": 10, "threshold": 0}))
PY
cat > "$WORK/suggest.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local file = io.open(os.getenv("DTAG_LOAD_BODY"), "rb")
wrk.body = file:read("*a")
file:close()
local quota = tonumber(os.getenv("DTAG_LOAD_PER_THREAD"))
local answered = 0
function response(status, headers, body)
  answered = answered + 1
  if answered >= quota then wrk.thread:stop() end
end
LUA

# Memory against requests served, ten times a second.
(
  while kill -0 "$SERVER_PID" 2>/dev/null; do
    served=$(curl -s "http://$ADDRESS/healthz" | sed -n 's/.*"requests_served":\([0-9]*\).*/\1/p')
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null)
    echo "${served:-?} ${rss:-?}"
    sleep 0.1
  done
) >"$WORK/rss.samples" &
SAMPLER_PID=$!

served() {
  curl -s "http://$ADDRESS/healthz" | sed -n 's/.*"requests_served":\([0-9]*\).*/\1/p'
}
RSS_BEFORE=$(awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
echo "dtag serve on $ADDRESS, RSS before load: $((RSS_BEFORE / 1024)) MiB"
echo "load: $REQUESTS suggest requests for draft_01 ($(wc -c <"$WORK/body") bytes each), $CONCURRENCY connections"
# wrk runs for a duration, not a count: each thread stops itself after its share, and wrk is
# interrupted (it then prints its statistics) once the server has answered them all.
GOAL=$(( $(served) + REQUESTS ))
DTAG_LOAD_BODY=$WORK/body DTAG_LOAD_PER_THREAD=$((REQUESTS / THREADS)) \
  wrk -t"$THREADS" -c"$CONCURRENCY" -d600s --timeout 30s --latency -s "$WORK/suggest.lua" \
  "http://$ADDRESS/v1/projects/demo/suggest" >"$WORK/wrk.out" 2>&1 &
WRK_PID=$!
while kill -0 "$WRK_PID" 2>/dev/null; do
  if [ "$(served)" -ge "$GOAL" ]; then
    kill -INT "$WRK_PID" 2>/dev/null || true
    break
  fi
  sleep 0.1
done
wait "$WRK_PID" || true
cat "$WORK/wrk.out"
sleep 1
kill "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=
PEAK=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
RSS_AFTER=$(awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status")

python3 - "$WORK/wrk.out" "$WORK/rss.samples" "$REQUESTS" "$RSS_BEFORE" "$RSS_AFTER" "$PEAK" <<'PY'
import re, sys
wrk_out, samples_file, requests, before, after, peak = sys.argv[1], sys.argv[2], int(sys.argv[3]), *map(int, sys.argv[4:])
text = open(wrk_out).read()
def latency(pct):
    m = re.search(rf"^\s*{pct}%\s+(\S+)", text, re.M)
    return m.group(1) if m else "?"
done = re.search(r"(\d+) requests in ([\d.]+\w+)", text)
rps = re.search(r"Requests/sec:\s+(\S+)", text)
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
samples = []
for line in open(samples_file):
    parts = line.split()
    if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
        samples.append((int(parts[0]), int(parts[1])))
quarter = next((rss for served, rss in samples if served >= requests // 4), None)
print("== load test summary")
print(f"requests: {done.group(1) if done else '?'} in {done.group(2) if done else '?'}, {rps.group(1) if rps else '?'} req/s")
print(f"latency: p50 {latency(50)}, p90 {latency(90)}, p99 {latency(99)}")
print(f"errors: {errors} (non-2xx {non2xx.group(1) if non2xx else 0}, socket {sock.groups() if sock else (0, 0, 0, 0)})")
print(f"server RSS: before {before/1024:.1f} MiB, after a quarter {quarter/1024 if quarter else float('nan'):.1f} MiB, "
      f"at the end {after/1024:.1f} MiB, peak (VmHWM) {peak/1024:.1f} MiB")
if samples:
    step = max(1, len(samples) // 8)
    print("RSS by requests served: " + ", ".join(f"{s}: {r/1024:.1f} MiB" for s, r in samples[::step]))
failed = False
if errors:
    print("FAILED: requests failed", file=sys.stderr); failed = True
if quarter is not None and after > quarter * 1.10 + 4096:
    print(f"FAILED: memory grew from {quarter} KiB to {after} KiB under steady load", file=sys.stderr); failed = True
sys.exit(1 if failed else 0)
PY
