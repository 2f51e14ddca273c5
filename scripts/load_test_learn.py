"""Mixed suggest/learn traffic against `dtag serve --learn` on loopback, bounded in time.

Usage: load_test_learn.py DTAG MODEL [SECONDS] [SUGGESTERS]   (run by load_test_learn.sh)

Serves a copy of MODEL with --learn, then for SECONDS (default 20) runs SUGGESTERS threads
(default 8) posting data/drafts to /suggest on keep-alive connections while two threads post
learn requests of 1-20 documents (drafts labelled with their corpus descriptors) one after
another. Samples the server's resident memory every 0.25 s. Fails (exit 1) when a request
gets anything but 200/204 or a 503 (the learning queue is full), when the server's count of
learned documents differs from the documents of the learn requests it answered 204, or when
memory after the warm-up grows by more than 64 MiB.
"""

import http.client, json, random, shutil, subprocess, sys, tempfile, threading, time, urllib.parse

dtag, model = sys.argv[1], sys.argv[2]
seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0
suggesters = int(sys.argv[4]) if len(sys.argv) > 4 else 8

drafts = [open(f"data/drafts/draft_0{i}.txt", encoding="utf-8").read() for i in range(1, 5)]
labelled, cur = [], None
for line in open("data/train.txt", encoding="utf-8"):
    line = line.rstrip("\n")
    if line.startswith("%%%"):
        cur = [[d.strip() for d in line[3:].split("|") if d.strip()], None]
        labelled.append(cur)
    elif line.strip() and cur is not None:
        cur[1] = line

work = tempfile.mkdtemp(prefix="dtag-load-learn.")
served = f"{work}/model.dtag"
shutil.copyfile(model, served)
proc = subprocess.Popen([dtag, "serve", "--model", f"demo={served}", "--bind", "127.0.0.1:0", "--learn",
                         "--learn-queue", "2"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
host, port = proc.stdout.readline().strip().removeprefix("listening on http://").rsplit(":", 1)

def rss_kib():
    for line in open(f"/proc/{proc.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0

lock = threading.Lock()
counts = {"suggest": 0, "suggest_503": 0, "learn_204": 0, "learn_503": 0, "learned_docs": 0, "errors": []}
stop = time.monotonic() + seconds

def suggester():
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    while time.monotonic() < stop:
        body = "text=" + urllib.parse.quote(random.choice(drafts)) + "&limit=5"
        conn.request("POST", "/v1/projects/demo/suggest", body=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse(); r.read()
        with lock:
            if r.status == 200: counts["suggest"] += 1
            elif r.status == 503: counts["suggest_503"] += 1
            else: counts["errors"].append(f"suggest {r.status}")

def learner():
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    while time.monotonic() < stop:
        batch = random.sample(labelled, random.randint(1, 20))
        body = json.dumps([{"text": text, "subjects": [{"label": d} for d in ds]} for ds, text in batch],
                          ensure_ascii=False).encode()
        conn.request("POST", "/v1/projects/demo/learn", body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse(); r.read()
        with lock:
            if r.status == 204:
                counts["learn_204"] += 1; counts["learned_docs"] += len(batch)
            elif r.status == 503: counts["learn_503"] += 1
            else: counts["errors"].append(f"learn {r.status}")

threads = [threading.Thread(target=suggester) for _ in range(suggesters)] + [threading.Thread(target=learner) for _ in range(2)]
start_rss = rss_kib()
for t in threads: t.start()
samples = []
while any(t.is_alive() for t in threads):
    samples.append(rss_kib()); time.sleep(0.25)
for t in threads: t.join()
conn = http.client.HTTPConnection(host, int(port), timeout=10)
conn.request("GET", "/healthz")
health = json.loads(conn.getresponse().read())
proc.terminate(); proc.wait(); shutil.rmtree(work)

quarter = samples[len(samples) // 4] if samples else start_rss
peak, end = max(samples, default=start_rss), samples[-1] if samples else start_rss
print(f"{seconds:.0f} s, {suggesters} suggesting + 2 learning connections")
print(f"suggest: {counts['suggest']} answered 200 ({counts['suggest'] / seconds:.0f}/s), {counts['suggest_503']} 503")
print(f"learn: {counts['learn_204']} requests answered 204 with {counts['learned_docs']} documents, "
      f"{counts['learn_503']} 503; server counted {health['learned_documents']} learned documents")
print(f"server RSS: start {start_rss / 1024:.1f} MiB, after 1/4 {quarter / 1024:.1f}, end {end / 1024:.1f}, peak {peak / 1024:.1f}")
failures = list(counts["errors"][:10])
if health["learned_documents"] != counts["learned_docs"]:
    failures.append(f"learned documents: server {health['learned_documents']} != answered {counts['learned_docs']}")
if end - quarter > 64 * 1024:
    failures.append(f"memory grew by {(end - quarter) / 1024:.1f} MiB after the warm-up")
if failures:
    print("FAILED:\n  " + "\n  ".join(failures), file=sys.stderr); sys.exit(1)
print("ok: no lost learned document, memory bounded")
