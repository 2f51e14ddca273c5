"""Calls `dtag serve` through annif-client and compares it with `dtag suggest --format json`.

Usage: annif_client_check.py API_BASE PROJECT DTAG MODEL DRAFT... (run by test_annif_client.sh)
Then starts a second server with `--learn` on a copy of MODEL and learns through the client.
Exits 1 on any mismatch, printing what differed.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

import requests

from annif_client import AnnifClient

TOLERANCE = 1e-4


def cli_suggestions(dtag, model, drafts, limit, threshold):
    rule = ["--limit", str(limit)] + ([] if threshold is None else ["--threshold", str(threshold)])
    out = subprocess.run(
        [dtag, "suggest", "--model", model, "--format", "json", *rule, *drafts],
        check=True, capture_output=True, text=True,
    ).stdout
    return [[(s["descriptor"], s["score"]) for s in doc["suggestions"]] for doc in json.loads(out)]


def compare(what, api, cli, failures):
    api_pairs = [(r["label"], r["score"]) for r in api]
    ok = len(api_pairs) == len(cli) and all(
        a[0] == c[0] and abs(a[1] - c[1]) <= TOLERANCE for a, c in zip(api_pairs, cli)
    )
    status = "ok" if ok else "MISMATCH"
    print(f"{status}: {what}: {len(api_pairs)} descriptors, top {api_pairs[:1]}")
    if not ok:
        failures.append(f"{what}\n  api: {api_pairs}\n  cli: {cli}")


def main():
    api_base, project_id, dtag, model, *drafts = sys.argv[1:]
    client = AnnifClient(api_base=api_base)
    failures = []

    info = client.api_info
    print(f"api: {info['title']} {info['version']}")
    projects = client.projects
    ids = [p["project_id"] for p in projects]
    print(f"projects: {ids}")
    if project_id not in ids:
        failures.append(f"project {project_id} not listed: {ids}")
    project = client.get_project(project_id)
    if project["project_id"] != project_id or not project["is_trained"]:
        failures.append(f"unexpected project description {project}")
    try:
        client.get_project("no-such-project")
        failures.append("an unknown project did not give 404")
    except ValueError as err:
        print(f"unknown project: {err}")

    texts = []
    for path in drafts:
        with open(path, encoding="utf-8") as f:
            texts.append(f.read())

    # (limit, None): no threshold sent, so the model's tuned thresholds decide, as they do
    # for `dtag suggest` without --threshold.
    for limit, threshold in [(10, 0.0), (3, 0.5), (10, None)]:
        expected = cli_suggestions(dtag, model, drafts, limit, threshold)
        for path, text, cli in zip(drafts, texts, expected):
            api = client.suggest(project_id, text, limit=limit, threshold=threshold)
            for r in api:
                if not r["uri"].startswith("urn:dtag:descriptor:") or "notation" not in r:
                    failures.append(f"unexpected result shape {r}")
            compare(f"suggest {path} limit={limit} threshold={threshold}", api, cli, failures)
        batch = client.suggest_batch(
            project_id,
            [{"document_id": path, "text": text} for path, text in zip(drafts, texts)],
            limit=limit, threshold=threshold,
        )
        for path, result, cli in zip(drafts, batch, expected):
            if result["document_id"] != path:
                failures.append(f"batch document_id {result['document_id']} != {path}")
            compare(f"suggest-batch {path} limit={limit} threshold={threshold}",
                    result["results"], cli, failures)

    # The rest of Annif's surface: vocabularies, language detection, and learning, which a
    # server started without --learn refuses with 403.
    vocabs = requests.get(api_base + "vocabs", timeout=10)
    if vocabs.status_code != 200 or vocabs.json()["vocabs"][0]["vocab_id"] != project_id:
        failures.append(f"GET vocabs: {vocabs.status_code} {vocabs.text}")
    else:
        print(f"vocabs: {vocabs.json()['vocabs']}")
    detected = client.detect_language(texts[0], ["en", "zh", "fr"])
    print(f"detect-language: {detected['results']}")
    if detected["results"][0]["language"] != "zh":
        failures.append(f"detect-language did not find zh first: {detected}")
    try:
        client.learn(project_id, [{"text": texts[0], "subjects": [{"uri": "urn:dtag:descriptor:AFRICA", "label": "AFRICA"}]}])
        failures.append("learn without --learn was not refused")
    except requests.HTTPError as err:
        status = err.response.status_code
        print(f"learn without --learn: {status} {err.response.json()['detail']}")
        if status != 403:
            failures.append(f"learn without --learn gave {status}, not 403")

    check_learning(dtag, model, project_id, texts[0], failures)

    if failures:
        print("\nFAILED:\n" + "\n".join(failures), file=sys.stderr)
        sys.exit(1)
    print("annif-client agrees with dtag suggest")


def check_learning(dtag, model, project_id, text, failures):
    """Serves a copy of `model` with --learn and teaches it, through annif-client's `learn`,
    30 copies of `text` labelled with a descriptor outside the text's top 3: the request must
    get 204, the server count the documents, the model file change, and the descriptor rank
    in the top 3 of the next suggestion."""
    work = tempfile.mkdtemp(prefix="dtag-annif-learn.")
    copy = os.path.join(work, "learn.dtag")
    shutil.copyfile(model, copy)
    with open(os.path.join(work, "serve.err"), "w") as err:
        server = subprocess.Popen(
            [dtag, "serve", "--model", f"{project_id}={copy}", "--bind", "127.0.0.1:0", "--learn"],
            stdout=subprocess.PIPE, stderr=err, text=True,
        )
    try:
        line = server.stdout.readline().strip()
        if not line.startswith("listening on http://"):
            failures.append(f"dtag serve --learn did not start: {line!r}")
            return
        api_base = line.removeprefix("listening on ") + "/v1/"
        client = AnnifClient(api_base=api_base)
        ranked = [r["label"] for r in client.suggest(project_id, text, limit=100, threshold=0.0)]
        # The descriptor ranked fifth: known to the model, yet not among the draft's top 3.
        target = ranked[4]
        with open(copy, "rb") as f:
            before = f.read()
        subject = {"uri": "urn:dtag:descriptor:" + urllib.parse.quote(target, safe="-._~"),
                   "label": target}
        # One correction, sent twice as a client retrying after a lost answer: learned once.
        for attempt in ("", ", again"):
            started = time.perf_counter()
            answer = client.learn(project_id, [{"text": text, "subjects": [subject]}])
            print(f"learn with --learn{attempt}: {answer.status_code} in "
                  f"{time.perf_counter() - started:.2f}s (the first draft labelled {target!r}, "
                  f"ranked 5th before)")
            if answer.status_code != 204:
                failures.append(f"learn with --learn gave {answer.status_code}, not 204")
        learned = requests.get(api_base.removesuffix("v1/") + "healthz", timeout=10).json()
        if learned["learned_documents"] != 1:
            failures.append(f"the server counts {learned['learned_documents']} learned documents, not 1")
        with open(copy, "rb") as f:
            if f.read() == before:
                failures.append("learning did not rewrite the model file")
        top3 = [r["label"] for r in client.suggest(project_id, text, limit=3)]
        print(f"top 3 after learning: {top3}")
        if target not in top3:
            failures.append(f"{target!r} not in the top 3 after learning: {top3}")
    except Exception as err:  # report it with the rest, and still stop the server
        failures.append(f"learning through annif-client failed: {err!r}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        with open(os.path.join(work, "serve.err")) as f:
            log = f.read()
        if failures:
            print(log, file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
