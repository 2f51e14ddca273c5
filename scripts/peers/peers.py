#!/usr/bin/env python3
"""Peer benchmark for dtag: dtag vs scikit-learn vs LibMultiLabel (linear) on one corpus.

Two sub-commands:
  bench  orchestrates one corpus: trains dtag and each peer in its own subprocess --runs times
         (default 5), the systems alternating run by run, warns when the load average before a
         run exceeds --max-load (default 0.5), then evaluates dtag once; prints a table of
         medians (wall and CPU seconds, peak RSS) and writes <out-dir>/peers-<corpus>.json with
         every run's times and load average.
  peer   runs one peer system in this process (called by `bench`), writes a JSON result.

Both peers use the same scikit-learn TF-IDF matrix (LibMultiLabel's own Preprocessor is not
used), so they differ only in the learner. Peer train seconds count only the fit call;
vectorising is timed separately. Peer throughput = test docs / (vectorise test + predict).
dtag's times are whole-process wall times (its analysis, I/O and model load included).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

QUICK_TRAIN_DOCS = 1500  # --quick: first N train docs
QUICK_TEST_DOCS = 500    # --quick: first N test docs


# ---------------------------------------------------------------------------- corpus I/O
def read_corpus(path: Path) -> list[tuple[list[str], str]]:
    """Reads a `%%%L1|L2|` corpus: header line, empty line, body line(s) until next header."""
    docs: list[tuple[list[str], list[str]]] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("%%%"):
                labels = [l.strip() for l in line[3:].split("|") if l.strip()]
                docs.append((labels, []))
            elif line.strip():
                if not docs:
                    raise ValueError(f"{path}: text before the first %%% header")
                docs[-1][1].append(line)
    return [(labels, " ".join(body)) for labels, body in docs]


def write_corpus(path: Path, docs: list[tuple[list[str], str]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for labels, body in docs:
            f.write("%%%" + "".join(l + "|" for l in labels) + "\n\n" + body + "\n")


# ---------------------------------------------------------------------------- peer systems
def cpu_seconds() -> float:
    """User+system CPU of this process, its live child processes (joblib workers) and its
    reaped children: a train-time figure that other load on the machine skews less."""
    import psutil
    me = psutil.Process()
    t = me.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for child in me.children(recursive=True):
        try:
            c = child.cpu_times()
            total += c.user + c.system
        except psutil.Error:
            pass
    return total


def run_peer(args: argparse.Namespace) -> None:
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import MultiLabelBinarizer
    from metrics import evaluate

    train = read_corpus(Path(args.train))
    test = read_corpus(Path(args.test))
    if args.max_train:
        train = train[: args.max_train]
    if args.max_test:
        test = test[: args.max_test]

    # Same features for both peers: whitespace tokens, sublinear tf, l2 norm.
    t0 = time.perf_counter()
    vec = TfidfVectorizer(token_pattern=r"\S+", sublinear_tf=True, min_df=args.min_df,
                          lowercase=True, dtype=np.float64)
    x_train = vec.fit_transform([b for _, b in train])
    vec_train_s = time.perf_counter() - t0

    mlb = MultiLabelBinarizer(sparse_output=True)
    y_train = mlb.fit_transform([l for l, _ in train]).tocsr()
    labels = [str(c) for c in mlb.classes_]
    gold = [l for l, _ in test]

    if args.system == "sklearn":
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from joblib import parallel_config
        clf = OneVsRestClassifier(LogisticRegression(solver="liblinear", C=args.C,
                                                     random_state=0),
                                  n_jobs=args.jobs)
        # max_nbytes=None: workers get pickled copies instead of read-only memmaps, which
        # sklearn's liblinear rejects ("WRITEBACKIFCOPY base is read-only", sklearn #25935).
        with parallel_config(backend=args.backend, max_nbytes=None):
            c0, t0 = cpu_seconds(), time.perf_counter()
            clf.fit(x_train, y_train)
            train_s, train_cpu_s = time.perf_counter() - t0, cpu_seconds() - c0

        t0 = time.perf_counter()
        x_test = vec.transform([b for _, b in test])
        scores = clf.predict_proba(x_test)
        predict_s = time.perf_counter() - t0
        decide = scores >= 0.5
        config = {"features": "sklearn TfidfVectorizer",
                  "learner": f"OneVsRestClassifier(LogisticRegression(solver='liblinear', "
                             f"C={args.C}), n_jobs={args.jobs}), joblib {args.backend}",
                  "decision": "probability >= 0.5"}
    elif args.system == "libmultilabel":
        from libmultilabel import linear
        c0, t0 = cpu_seconds(), time.perf_counter()
        # options MUST be a keyword: the third positional parameter is `multiclass`.
        model = linear.train_1vsrest(y_train, x_train, options=args.lml_options, verbose=False)
        train_s, train_cpu_s = time.perf_counter() - t0, cpu_seconds() - c0

        t0 = time.perf_counter()
        x_test = vec.transform([b for _, b in test])
        scores = np.asarray(linear.predict_values(model, x_test))
        predict_s = time.perf_counter() - t0
        decide = scores > 0
        config = {"features": "sklearn TfidfVectorizer (same matrix as the sklearn peer)",
                  "learner": f"libmultilabel.linear.train_1vsrest(options={args.lml_options!r})"
                             " (LIBLINEAR; without -s the solver is -s 1, L2-loss SVM dual)",
                  "decision": "decision value > 0"}
    else:
        raise SystemExit(f"unknown system {args.system}")

    result = {
        "system": args.system,
        "train_docs": len(train),
        "test_docs": len(test),
        "features": int(x_train.shape[1]),
        "labels": len(labels),
        "vectorize_train_seconds": vec_train_s,
        "train_seconds": train_s,
        "train_cpu_seconds": train_cpu_s,
        "predict_seconds": predict_s,  # vectorise test + predict
        "docs_per_second": len(test) / predict_s if predict_s > 0 else None,
        "config": {**config, "tfidf": f"token_pattern=\\S+, sublinear_tf, min_df={args.min_df}, "
                                      "lowercase, l2 norm"},
        "metrics": evaluate(scores, decide, labels, gold),
    }
    Path(args.out).write_text(json.dumps(result, indent=2, ensure_ascii=False))


# ---------------------------------------------------------------------------- measurement
def measure(cmd: list[str], stdout=subprocess.DEVNULL) -> dict:
    """Runs cmd; returns wall seconds, exit code, stderr tail and peak RSS (MiB).

    Peak RSS = max(ru_maxrss from wait4, sampled sum of RSS over the process tree): the
    latter catches multi-process peers (joblib/loky workers) whose memory adds up."""
    try:
        import psutil
    except ImportError:  # running outside the venv: fall back to ru_maxrss only
        psutil = None
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE)
    tree_peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal tree_peak
        if psutil is None:
            return
        try:
            root = psutil.Process(proc.pid)
        except psutil.Error:
            return
        while not stop.is_set():
            try:
                procs = [root] + root.children(recursive=True)
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                tree_peak = max(tree_peak, total)
            except psutil.Error:
                return
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stderr_chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read()), daemon=True)
    reader.start()
    _, status, rusage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    maxrss_mib = rusage.ru_maxrss / 1024  # Linux: KiB
    return {
        "wall_seconds": wall,
        "cpu_seconds": rusage.ru_utime + rusage.ru_stime,
        "returncode": proc.returncode,
        "stderr": b"".join(stderr_chunks).decode("utf-8", "replace"),
        "peak_rss_mib": max(maxrss_mib, tree_peak / 2**20),
        "ru_maxrss_mib": maxrss_mib,
    }


def cpu_busy_percent() -> float | None:
    """System-wide CPU use over the next second (others' work skews timings)."""
    try:
        import psutil
    except ImportError:
        return None
    return psutil.cpu_percent(interval=1.0)


def fail_reason(step: str, m: dict) -> str:
    lines = [l.strip() for l in m["stderr"].splitlines() if l.strip()]
    errors = [l for l in lines if "error" in l.lower()]  # clap/anyhow put the cause there
    tail = (errors or lines or ["no stderr"])[0 if errors else -1]
    return f"`dtag {step}` exited {m['returncode']}: {tail[:200]}"


# ---------------------------------------------------------------------------- dtag
def train_dtag(dtag: Path, train: Path, model: Path, extra_train_args: list[str]) -> dict:
    """One timed `dtag train` (whole process); returns the measurements or `unavailable`."""
    if not dtag.is_file():
        return {"unavailable": f"{dtag} not built"}
    model.parent.mkdir(parents=True, exist_ok=True)
    model.unlink(missing_ok=True)
    m = measure([str(dtag), "train", "--corpus", str(train), "--model", str(model),
                 *extra_train_args])
    if m["returncode"] != 0:
        return {"unavailable": fail_reason("train", m)}
    if not model.is_file():
        return {"unavailable": f"`dtag train` exited 0 but wrote no {model}"}
    return {"train_seconds": m["wall_seconds"], "train_cpu_seconds": m["cpu_seconds"],
            "train_peak_rss_mib": m["peak_rss_mib"]}


def eval_dtag(dtag: Path, row: dict, train: Path, test: Path, model: Path, test_docs: int,
              out_dir: Path, corpus: str, extra_train_args: list[str]) -> dict:
    """Adds `dtag eval` figures and `dtag suggest` throughput of the trained `model` to row."""
    eval_out = out_dir / f"{corpus}.dtag-eval.json"
    with open(eval_out, "wb") as f:
        m = measure([str(dtag), "eval", "--model", str(model), "--corpus", str(test), "--json"],
                    stdout=f)
    if m["returncode"] != 0:
        row["unavailable"] = fail_reason("eval", m)
        return row
    text = eval_out.read_text(encoding="utf-8").strip()
    try:
        # One JSON object; tolerate log lines before it.
        metrics = json.loads(text[text.index("{"):])
    except ValueError as e:
        row["unavailable"] = f"`dtag eval --json` printed no JSON object ({e})"
        return row
    row["metrics"] = metrics
    row["eval_seconds"] = m["wall_seconds"]

    sugg_out = out_dir / f"{corpus}.dtag-suggest.json"
    with open(sugg_out, "wb") as f:
        m = measure([str(dtag), "suggest", "--model", str(model), "--format", "json", str(test)],
                    stdout=f)
    if m["returncode"] != 0:
        row["unavailable"] = fail_reason("suggest", m)
        return row
    row["predict_seconds"] = m["wall_seconds"]
    row["docs_per_second"] = test_docs / m["wall_seconds"]
    row["suggest_peak_rss_mib"] = m["peak_rss_mib"]
    row["peak_rss_mib"] = max(row["train_peak_rss_mib"], m["peak_rss_mib"])
    row["config"] = {"train_corpus": str(train), "test_corpus": str(test),
                     "train_args": extra_train_args, "times": "whole-process wall time"}
    return row


def run_peer_once(args: argparse.Namespace, system: str, peer_train: Path, peer_test: Path,
                  out_dir: Path) -> dict:
    """One peer run in its own process (vectorise, train, predict); its train time is the fit."""
    res_path = out_dir / f"{args.corpus}.{system}.result.json"
    res_path.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "peer", "--system", system,
           "--train", str(peer_train), "--test", str(peer_test), "--out", str(res_path),
           "--C", str(args.C), "--min-df", str(args.min_df), "--jobs", str(args.jobs),
           "--backend", args.backend, "--lml-options", args.lml_options]
    m = measure(cmd)
    if m["returncode"] != 0 or not res_path.is_file():
        tail = (m["stderr"].strip().splitlines() or ["no stderr"])[-1]
        return {"system": system, "unavailable": f"exit {m['returncode']}: {tail}"}
    row = json.loads(res_path.read_text())
    row["process_wall_seconds"] = m["wall_seconds"]
    row["peak_rss_mib"] = m["peak_rss_mib"]
    row["ru_maxrss_mib"] = m["ru_maxrss_mib"]
    return row


def median(values: list[float]) -> float:
    v = sorted(values)
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


# ---------------------------------------------------------------------------- bench
def fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def print_table(corpus: str, rows: list[dict]) -> None:
    cols = ["system", "train_s", "cpu_s", "vec_s", "docs/s", "RSS_MiB", "P@1", "P@5", "nDCG@5",
            "microF1", "macroF1"]
    lines = []
    for r in rows:
        if "unavailable" in r:
            lines.append(None)
            continue
        m = r.get("metrics", {})
        lines.append([r["system"], fmt(r.get("train_seconds"), ".2f"),
                      fmt(r.get("train_cpu_seconds"), ".2f"),
                      fmt(r.get("vectorize_train_seconds"), ".2f"),
                      fmt(r.get("docs_per_second"), ".1f"), fmt(r.get("peak_rss_mib"), ".0f"),
                      *(fmt(m.get(k), ".4f") for k in
                        ("p_at_1", "p_at_5", "ndcg_at_5", "micro_f1", "macro_f1"))])
    widths = [max(len(c), *(len(l[i]) for l in lines if l)) if any(lines) else len(c)
              for i, c in enumerate(cols)]
    print(f"\n== {corpus} ==")
    print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                    enumerate(zip(cols, widths))))
    for r, l in zip(rows, lines):
        if l is None:
            print(f"{r['system']}: unavailable ({r['unavailable']})")
        else:
            print("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in
                            enumerate(zip(l, widths))))
    dtag = next((r for r in rows if r["system"] == "dtag" and "unavailable" not in r), None)
    for r in rows:
        if r["system"] == "dtag":
            continue
        if dtag and r.get("train_seconds", 0) > 0 and r.get("train_cpu_seconds", 0) > 0:
            ratio = dtag["train_seconds"] / r["train_seconds"]
            cpu_ratio = dtag["train_cpu_seconds"] / r["train_cpu_seconds"]
            r["dtag_train_time_ratio"] = ratio
            r["dtag_train_cpu_ratio"] = cpu_ratio
            runs = len(r.get("runs", [])) or 1
            print(f"dtag/{r['system']} train-time ratio: {ratio:.2f} (CPU time: {cpu_ratio:.2f}); "
                  f"medians of {runs} alternating runs")
        else:
            print(f"dtag/{r['system']} train-time ratio: n/a")


def bench(args: argparse.Namespace) -> None:
    root = Path(args.corpora_dir) / args.corpus
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seg = (root / "train.seg.txt").is_file()  # Chinese: peers read the jieba-segmented copy
    dtag_train, dtag_test = root / "train.txt", root / "test.txt"
    peer_train = root / ("train.seg.txt" if seg else "train.txt")
    peer_test = root / ("test.seg.txt" if seg else "test.txt")

    if args.quick:  # same first-N subset for every system
        qdir = out_dir / "quick" / args.corpus
        qdir.mkdir(parents=True, exist_ok=True)
        subsets = {}
        for src in {dtag_train, dtag_test, peer_train, peer_test}:
            n = QUICK_TRAIN_DOCS if src.name.startswith("train") else QUICK_TEST_DOCS
            dst = qdir / src.name
            write_corpus(dst, read_corpus(src)[:n])
            subsets[src] = dst
        dtag_train, dtag_test = subsets[dtag_train], subsets[dtag_test]
        peer_train, peer_test = subsets[peer_train], subsets[peer_test]

    test_docs = len(read_corpus(dtag_test))
    busy_before = cpu_busy_percent()
    if busy_before is not None and busy_before > 20:
        print(f"warning: CPUs {busy_before:.0f}% busy before the run: other work on this "
              "machine skews the timings", file=sys.stderr)
    print(f"[{args.corpus}] dtag reads {dtag_train.name}/{dtag_test.name}, peers read "
          f"{peer_train.name}/{peer_test.name}; {test_docs} test docs", file=sys.stderr)

    # Each system is trained `runs` times, the systems alternating run by run (dtag, sklearn,
    # libmultilabel, dtag, ...), so load that comes and goes skews them alike; the table shows
    # the median of each system's runs.
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    order = [s for s in ("dtag", "sklearn", "libmultilabel") if s in systems]
    model = out_dir / f"{args.corpus}.dtag"
    extra = shlex.split(args.dtag_train_args)
    runs: dict[str, list[dict]] = {s: [] for s in order}
    high_load = []
    for run in range(args.runs):
        for system in order:
            if runs[system] and "unavailable" in runs[system][-1]:
                continue
            load = os.getloadavg()[0]
            if load > args.max_load:
                high_load.append(load)
                print(f"warning: load average {load:.2f} > {args.max_load} before {system} run "
                      f"{run + 1}: other work shares the CPUs and skews this run",
                      file=sys.stderr)
            print(f"[{args.corpus}] {system} run {run + 1}/{args.runs} (load {load:.2f}) ...",
                  file=sys.stderr)
            if system == "dtag":
                r = train_dtag(Path(args.dtag), dtag_train, model, extra)
            else:
                r = run_peer_once(args, system, peer_train, peer_test, out_dir)
            r["loadavg_before"] = load
            runs[system].append(r)

    rows = []
    for system in order:
        done = [r for r in runs[system] if "unavailable" not in r]
        if not done:
            rows.append({"system": system, "unavailable": runs[system][-1]["unavailable"]})
            continue
        row = dict(done[-1])  # the last run's model and figures (training is deterministic)
        row["system"] = system
        for key in ("train_seconds", "train_cpu_seconds"):
            row[key] = median([r[key] for r in done])
        row["runs"] = [{"train_seconds": r["train_seconds"],
                        "train_cpu_seconds": r["train_cpu_seconds"],
                        "loadavg_before": r["loadavg_before"]} for r in done]
        if system == "dtag":
            row["train_peak_rss_mib"] = median([r["train_peak_rss_mib"] for r in done])
            row = eval_dtag(Path(args.dtag), row, dtag_train, dtag_test, model, test_docs,
                            out_dir, args.corpus, extra)
        rows.append(row)
    for row in rows:
        if "runs" in row:
            secs = ", ".join(f"{r['train_seconds']:.2f}" for r in row["runs"])
            loads = ", ".join(f"{r['loadavg_before']:.2f}" for r in row["runs"])
            print(f"[{args.corpus}] {row['system']} train seconds per run: {secs} "
                  f"(load average before each: {loads})", file=sys.stderr)
    if high_load:
        print(f"warning: {len(high_load)} run(s) started with a load average above "
              f"{args.max_load} (highest {max(high_load):.2f}): the times are not those of a "
              "quiet machine", file=sys.stderr)

    print_table(args.corpus, rows)
    out = out_dir / f"peers-{args.corpus}.json"
    out.write_text(json.dumps({"corpus": args.corpus, "quick": args.quick, "cores": os.cpu_count(),
                               "cpu_busy_percent_before": busy_before,
                               "runs": args.runs, "max_load": args.max_load,
                               "runs_over_max_load": len(high_load),
                               "loadavg_after": os.getloadavg()[0],
                               "rows": rows}, indent=2, ensure_ascii=False))
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--C", type=float, default=16.0,
                       help="sklearn LogisticRegression C (default: dtag train's default --c)")
        p.add_argument("--min-df", type=int, default=1, help="TF-IDF min_df (both peers)")
        p.add_argument("--jobs", type=int, default=2, help="sklearn OneVsRest n_jobs")
        p.add_argument("--backend", default="loky", choices=["loky", "threading"],
                       help="joblib backend for the sklearn peer")
        p.add_argument("--lml-options", default="-m 2",
                       help="LIBLINEAR options for LibMultiLabel train_1vsrest")

    b = sub.add_parser("bench", help="benchmark one corpus")
    b.add_argument("--corpus", required=True)
    b.add_argument("--corpora-dir", default="../shared/corpora")
    b.add_argument("--out-dir", default="target/bench")
    b.add_argument("--dtag", default="target/release/dtag")
    b.add_argument("--systems", default="dtag,sklearn,libmultilabel")
    b.add_argument("--dtag-train-args", default="", help="extra `dtag train` arguments")
    b.add_argument("--runs", type=int, default=5,
                   help="timed training runs per system, alternating (median reported; >= 1)")
    b.add_argument("--max-load", type=float, default=0.5,
                   help="warn when the 1-minute load average before a run exceeds this")
    b.add_argument("--quick", action="store_true",
                   help=f"first {QUICK_TRAIN_DOCS} train / {QUICK_TEST_DOCS} test docs only")
    common(b)

    p = sub.add_parser("peer", help="run one peer in this process")
    p.add_argument("--system", required=True, choices=["sklearn", "libmultilabel"])
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--max-train", type=int, default=0)
    p.add_argument("--max-test", type=int, default=0)
    common(p)

    args = ap.parse_args()
    if args.cmd == "bench" and args.runs < 1:
        ap.error("--runs must be at least 1")
    bench(args) if args.cmd == "bench" else run_peer(args)


if __name__ == "__main__":
    main()
