#!/usr/bin/env bash
# Learning while serving against learning in a new process, and against retraining.
#
# Splits ../shared/corpora/cail2018_sample/train.txt into a base (the first 2,037 documents)
# and 2,000 new documents, trains the base model, then for RUNS rounds (default 5), in an
# order that alternates between rounds, times on a fresh copy of the base model:
#   server     POST /v1/projects/cail/learn of the 2,000 documents (converted to Annif's
#              IndexedDocument JSON) to a running `dtag serve --learn`, until its 204 (the
#              documents are learned, the model file rewritten and the new model served).
#              The server is running in the issue's sense: it has answered a suggestion
#              request first, so its segmenter's dictionary is loaded (the server loads it on
#              a thread of its own after it starts listening; a request sent at once would wait
#              for it, 0.1-0.2 s, which is a start-up cost, not the update's);
#   learn      `dtag learn --model M --corpus new.txt` as a new process (defaults);
#   learn-h0   the same with `--holdout 0` (no held-out check: the server's default, so the
#              same work as the server's update);
#   retrain    `dtag train` on the merged corpus (base + new), defaults.
# Prints every time, the medians and the load average before and after (the machine may be
# shared: say so when quoting the figures). Usage: scripts/bench_serve_learn.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
CORPUS=../shared/corpora/cail2018_sample/train.txt
[ -f "$CORPUS" ] || { echo "$CORPUS not found (the shared corpora are beside the checkout)" >&2; exit 1; }
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --quiet
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dtag-bench-learn.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
exec python3 - "$TARGET_DIR/release/dtag" "$CORPUS" "$WORK" "$RUNS" <<'PY'
import json, os, shutil, statistics, subprocess, sys, time, http.client, urllib.parse

dtag, corpus, work, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
docs, cur = [], None
for line in open(corpus, encoding="utf-8"):
    line = line.rstrip("\n")
    if line.startswith("%%%"):
        cur = [line, None]
        docs.append(cur)
    elif line.strip() and cur is not None:
        cur[1] = line
base, new = docs[:-2000], docs[-2000:]
def write(path, part):
    with open(path, "w", encoding="utf-8") as f:
        for header, body in part:
            f.write(f"{header}\n\n{body}\n")
write(f"{work}/base.txt", base)
write(f"{work}/new.txt", new)
def subject(label):
    return {"uri": "urn:dtag:descriptor:" + urllib.parse.quote(label, safe="-._~"), "label": label}
indexed = [{"text": body, "subjects": [subject(d.strip()) for d in header[3:].split("|") if d.strip()]}
           for header, body in new]
payload = json.dumps(indexed, ensure_ascii=False).encode()
warm_up = "text=" + urllib.parse.quote(base[0][1][:200])
print(f"{len(base)} base documents, {len(new)} new ({len(payload)} bytes of IndexedDocument JSON)")
subprocess.run([dtag, "-q", "train", "--corpus", f"{work}/base.txt", "--model", f"{work}/base.dtag"], check=True)

def fresh(name):
    path = f"{work}/{name}.dtag"
    shutil.copyfile(f"{work}/base.dtag", path)
    return path

def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t

def server_learn():
    model = fresh("served")
    proc = subprocess.Popen([dtag, "serve", "--model", f"cail={model}", "--bind", "127.0.0.1:0",
                             "--learn", "--max-body-bytes", str(64 << 20), "--max-body-memory", str(64 << 20)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        address = proc.stdout.readline().strip().removeprefix("listening on http://")
        host, port = address.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=600)
        conn.request("GET", "/healthz"); conn.getresponse().read()  # connected and answering
        # One suggestion: it needs the segmenter, so it returns once the dictionary is loaded.
        conn.request("POST", "/v1/projects/cail/suggest", body=warm_up,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        warmed = conn.getresponse(); warmed.read()
        assert warmed.status == 200, warmed.status
        t = time.perf_counter()
        conn.request("POST", "/v1/projects/cail/learn", body=payload,
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse(); response.read()
        elapsed = time.perf_counter() - t
        assert response.status == 204, response.status
        conn.request("GET", "/healthz")
        learned = json.loads(conn.getresponse().read())["learned_documents"]
        assert learned == len(new), learned
        return elapsed
    finally:
        proc.terminate(); proc.wait()

jobs = {
    "server": server_learn,
    "learn": lambda: timed([dtag, "-q", "learn", "--model", fresh("learn"), "--corpus", f"{work}/new.txt"]),
    "learn-h0": lambda: timed([dtag, "-q", "learn", "--model", fresh("learn0"), "--corpus", f"{work}/new.txt", "--holdout", "0"]),
    "retrain": lambda: timed([dtag, "-q", "train", "--corpus", f"{work}/base.txt", f"{work}/new.txt", "--model", f"{work}/full.dtag"]),
}
load_before = open("/proc/loadavg").read().split()[:3]
times = {k: [] for k in jobs}
names = list(jobs)
for r in range(runs):
    order = names if r % 2 == 0 else names[::-1]
    for name in order:
        times[name].append(jobs[name]())
    print(f"run {r + 1}: " + ", ".join(f"{n} {times[n][-1]:.3f}s" for n in names), flush=True)
load_after = open("/proc/loadavg").read().split()[:3]
med = {k: statistics.median(v) for k, v in times.items()}
print(f"\nmedians of {runs} alternating runs on {os.cpu_count()} cores:")
for k in names:
    print(f"  {k:9} {med[k]:.3f}s")
print(f"  learn / server     {med['learn'] / med['server']:.2f}x")
print(f"  learn-h0 / server  {med['learn-h0'] / med['server']:.2f}x")
print(f"  retrain / server   {med['retrain'] / med['server']:.2f}x")
print(f"load average (1, 5, 15 min) before: {' '.join(load_before)}, after: {' '.join(load_after)}")
PY
