"""Calls `dtag serve` through annif-client and compares it with `dtag suggest --format json`.

Usage: annif_client_check.py API_BASE PROJECT DTAG MODEL DRAFT... (run by test_annif_client.sh)
Exits 1 on any mismatch, printing what differed.
"""

import json
import subprocess
import sys

from annif_client import AnnifClient

TOLERANCE = 1e-4


def cli_suggestions(dtag, model, drafts, limit, threshold):
    out = subprocess.run(
        [dtag, "suggest", "--model", model, "--format", "json",
         "--limit", str(limit), "--threshold", str(threshold), *drafts],
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

    for limit, threshold in [(10, 0.0), (3, 0.5)]:
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

    if failures:
        print("\nFAILED:\n" + "\n".join(failures), file=sys.stderr)
        sys.exit(1)
    print("annif-client agrees with dtag suggest")


if __name__ == "__main__":
    main()
