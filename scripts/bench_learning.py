#!/usr/bin/env python3
"""Learning benchmark: does a model that learns end where retraining ends, and at what cost?

For each corpus, the training file (in file order) is cut in tenths. A model is trained on the
first half; then it grows by a tenth at a time to the whole file in three ways:
  - `dtag learn` with each tenth;
  - `dtag serve --learn`, each tenth sent as learn requests of 10 documents (several requests
    in flight, as several indexers would send them);
  - `dtag train` on everything up to that tenth.
After every step each model is evaluated on test.txt (P@1, P@5, micro-F1) and the step's
seconds are recorded. Then the cost of one update is timed against a retrain: the first 80 %
trained, the last 20 % learned, against training on 100 %, in alternating runs; medians.

Writes docs/learning.md (tables and an SVG plot, docs/learning.svg). Run it on a quiet machine
(load average < 0.5, nothing else running): scripts/bench_learning.sh.
"""
import argparse
import concurrent.futures
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DTAG = ROOT / "target" / "release" / "dtag"
CORPORA = {
    "kirjastonhoitaja": {
        "dir": ROOT / "../shared/corpora/kirjastonhoitaja",
        "train": ["--language", "fi", "--thesaurus", "{dir}/yso-fi.tsv"],
    },
    "cail2018_sample": {"dir": ROOT / "../shared/corpora/cail2018_sample", "train": []},
}


def documents(path):
    text = Path(path).read_text(encoding="utf-8")
    return [d for d in re.split(r"(?m)^(?=%%%)", text) if d.strip()]


def parse(doc):
    header, _, rest = doc.partition("\n")
    labels = [d.strip() for d in header[3:].split("|") if d.strip()]
    body = rest.strip("\n")
    return labels, body


def write(path, docs):
    Path(path).write_text("".join(d if d.endswith("\n") else d + "\n" for d in docs), encoding="utf-8")


def run(args, **kw):
    started = time.monotonic()
    out = subprocess.run([str(DTAG), *args], capture_output=True, text=True, **kw)
    if out.returncode != 0:
        sys.exit(f"dtag {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout, time.monotonic() - started


def evaluate(model, test):
    out, _ = run(["-q", "eval", "--model", str(model), "--corpus", str(test), "--json"])
    f = json.loads(out)
    return {k: f[k] for k in ("p_at_1", "p_at_5", "micro_f1")}


class Server:
    def __init__(self, model, project="p"):
        self.proc = subprocess.Popen(
            [str(DTAG), "serve", "--model", f"{project}={model}", "--learn", "--bind", "127.0.0.1:0",
             "--learn-queue", "64", "--max-body-bytes", str(64 << 20)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        match = re.search(r"http://(\S+)", line)
        if not match:
            sys.exit(f"the server did not start: {line}")
        self.base = f"http://{match.group(1)}"
        self.project = project

    def learn(self, docs):
        body = json.dumps([{"text": b, "subjects": [{"label": l} for l in labels]} for labels, b in docs])
        request = urllib.request.Request(
            f"{self.base}/v1/projects/{self.project}/learn", data=body.encode(),
            headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=3600) as response:
            assert response.status == 204, response.status

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


def growth(name, spec, work, in_flight):
    d = spec["dir"]
    flags = [f.format(dir=d) for f in spec["train"]]
    docs = documents(d / "train.txt")
    test = d / "test.txt"
    n = len(docs)
    cut = lambda tenth: n * tenth // 10
    rows = []
    half = work / "half.txt"
    write(half, docs[: cut(5)])
    learned, served, retrained = work / "learned.dtag", work / "served.dtag", work / "retrained.dtag"
    _, seconds = run(["-q", "train", "--corpus", str(half), "--model", str(learned), *flags])
    rows.append({"share": 50, "method": "trained", "seconds": seconds, **evaluate(learned, test)})
    served.write_bytes(learned.read_bytes())
    server = Server(served)
    try:
        for tenth in range(6, 11):
            step = docs[cut(tenth - 1): cut(tenth)]
            part = work / f"step{tenth}.txt"
            write(part, step)
            _, seconds = run(["-q", "learn", "--model", str(learned), "--corpus", str(part)])
            rows.append({"share": tenth * 10, "method": "dtag learn", "seconds": seconds, **evaluate(learned, test)})
            requests = [[parse(x) for x in step[i: i + 10]] for i in range(0, len(step), 10)]
            started = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(in_flight) as pool:
                list(pool.map(server.learn, requests))
            seconds = time.monotonic() - started
            rows.append({"share": tenth * 10, "method": "serve, requests of 10", "seconds": seconds,
                         **evaluate(served, test)})
            upto = work / f"upto{tenth}.txt"
            write(upto, docs[: cut(tenth)])
            _, seconds = run(["-q", "train", "--corpus", str(upto), "--model", str(retrained), *flags])
            rows.append({"share": tenth * 10, "method": "retrained", "seconds": seconds, **evaluate(retrained, test)})
            for r in rows[-3:]:
                print(f"{name} {r['share']}% {r['method']}: P@1 {r['p_at_1']:.4f} P@5 {r['p_at_5']:.4f} "
                      f"micro-F1 {r['micro_f1']:.4f} {r['seconds']:.1f}s", flush=True)
    finally:
        server.stop()
    return rows


def update_cost(name, spec, work, runs):
    d = spec["dir"]
    flags = [f.format(dir=d) for f in spec["train"]]
    docs = documents(d / "train.txt")
    cut = len(docs) * 8 // 10
    head, tail = work / "head.txt", work / "tail.txt"
    write(head, docs[:cut])
    write(tail, docs[cut:])
    base, model, full = work / "base.dtag", work / "m.dtag", work / "full.dtag"
    run(["-q", "train", "--corpus", str(head), "--model", str(base), *flags])
    learn_s, learn_nocheck_s, train_s = [], [], []
    for _ in range(runs):
        model.write_bytes(base.read_bytes())
        learn_s.append(run(["-q", "learn", "--model", str(model), "--corpus", str(tail)])[1])
        model.write_bytes(base.read_bytes())
        learn_nocheck_s.append(run(["-q", "learn", "--model", str(model), "--corpus", str(tail), "--holdout", "0"])[1])
        train_s.append(run(["-q", "train", "--corpus", str(d / "train.txt"), "--model", str(full), *flags])[1])
    med = statistics.median
    return {
        "corpus": name, "runs": runs, "learn": med(learn_s), "learn_no_check": med(learn_nocheck_s),
        "train": med(train_s), "ratio": med(learn_s) / med(train_s),
        "ratio_no_check": med(learn_nocheck_s) / med(train_s),
    }


def svg(results):
    """P@1 against the share of the training file, one panel per corpus."""
    colours = {"dtag learn": "#1f77b4", "serve, requests of 10": "#ff7f0e", "retrained": "#2ca02c"}
    w, h, pad = 360, 240, 44
    panels = []
    for k, (name, rows) in enumerate(results.items()):
        ys = [r["p_at_1"] for r in rows]
        lo, hi = min(ys) - 0.01, max(ys) + 0.01
        x = lambda s: pad + (s - 50) / 50 * (w - 2 * pad)
        y = lambda v: h - pad - (v - lo) / (hi - lo) * (h - 2 * pad)
        g = [f'<g transform="translate({k * w},0)">',
             f'<text x="{w / 2}" y="18" text-anchor="middle" font-size="13">{name}: P@1 on test.txt</text>',
             f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#444"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#444"/>']
        for s in range(50, 101, 10):
            g.append(f'<text x="{x(s):.1f}" y="{h - pad + 16}" text-anchor="middle" font-size="10">{s}%</text>')
        for v in (lo + 0.01, (lo + hi) / 2, hi - 0.01):
            g.append(f'<text x="{pad - 4}" y="{y(v) + 3:.1f}" text-anchor="end" font-size="10">{v:.3f}</text>')
        start = [r for r in rows if r["method"] == "trained"]
        for m, c in colours.items():
            pts = start + [r for r in rows if r["method"] == m]
            path = " ".join(f"{x(r['share']):.1f},{y(r['p_at_1']):.1f}" for r in pts)
            g.append(f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="2"/>')
        for i, (m, c) in enumerate(colours.items()):
            g.append(f'<rect x="{pad + 8}" y="{pad + 4 + 14 * i}" width="10" height="3" fill="{c}"/>'
                     f'<text x="{pad + 22}" y="{pad + 9 + 14 * i}" font-size="10">{m}</text>')
        g.append("</g>")
        panels.append("\n".join(g))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w * len(results)}" height="{h}" '
            f'font-family="sans-serif">\n' + "\n".join(panels) + "\n</svg>\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpora", default=",".join(CORPORA))
    ap.add_argument("--runs", type=int, default=5, help="alternating runs of the update-cost timing")
    ap.add_argument("--in-flight", type=int, default=4, help="learn requests in flight at once")
    ap.add_argument("--out", default=str(ROOT / "docs" / "learning.md"))
    a = ap.parse_args()
    load = os.getloadavg()[0]
    results, costs = {}, []
    for name in a.corpora.split(","):
        spec = CORPORA[name]
        if not (spec["dir"] / "train.txt").exists():
            sys.exit(f"{spec['dir']} is missing")
        with tempfile.TemporaryDirectory() as t:
            results[name] = growth(name, spec, Path(t), a.in_flight)
        with tempfile.TemporaryDirectory() as t:
            costs.append(update_cost(name, spec, Path(t), a.runs))
            c = costs[-1]
            print(f"{name}: learn 20 % {c['learn']:.2f}s (no check {c['learn_no_check']:.2f}s), "
                  f"train 100 % {c['train']:.2f}s: ratio {c['ratio']:.2f} ({c['ratio_no_check']:.2f})", flush=True)
    out = Path(a.out)
    out.with_suffix(".svg").write_text(svg(results), encoding="utf-8")
    lines = [
        "# Learning: updates against retraining",
        "",
        "Written by `scripts/bench_learning.sh` "
        f"({time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, load average at start {load:.2f}, "
        f"{os.cpu_count()} cores). See the module documentation of `src/train/learn.rs` for how an",
        "update works: it runs training's stages over the model's own documents and the new ones.",
        "",
        "Each corpus's training file, in file order, is cut in tenths. A model trained on the first",
        "half grows a tenth at a time: by `dtag learn`, by `dtag serve --learn` in requests of 10",
        f"documents ({a.in_flight} in flight), and by retraining on everything so far. Figures on test.txt.",
        "",
        f"![P@1 as the models grow]({out.with_suffix('.svg').name})",
        "",
    ]
    for name, rows in results.items():
        lines += [f"## {name}", "", "| share | method | P@1 | P@5 | micro-F1 | seconds |", "|---:|---|---:|---:|---:|---:|"]
        for r in rows:
            lines.append(f"| {r['share']} % | {r['method']} | {r['p_at_1']:.4f} | {r['p_at_5']:.4f} | "
                         f"{r['micro_f1']:.4f} | {r['seconds']:.1f} |")
        lines.append("")
    lines += [
        "## The cost of an update",
        "",
        f"The first 80 % trained, the last 20 % learned (`dtag learn`, whole command: model read and",
        "written), against `dtag train` on 100 %; medians of alternating runs. With the held-out",
        "check (the default) the update is made twice: once without the held-out tenth of the new",
        "documents, to measure it, and once with every document.",
        "",
        "| corpus | runs | learn 20 % (s) | learn, no check (s) | train 100 % (s) | ratio | ratio, no check |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in costs:
        lines.append(f"| {c['corpus']} | {c['runs']} | {c['learn']:.2f} | {c['learn_no_check']:.2f} | "
                     f"{c['train']:.2f} | {c['ratio']:.2f} | {c['ratio_no_check']:.2f} |")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out} and {out.with_suffix('.svg')}")


if __name__ == "__main__":
    main()
