"""Checks dtag behind nginx (scripts/test_proxy.sh): per-client limits by forwarded address,
and learning with indexers' tokens through the proxy. Standard library only.

Usage: proxy_check.py NGINX_PORT PROJECT DRAFT_FILE TOKEN
Exits 1, saying why, when the server behind the proxy does not behave.
"""

import json
import socket
import sys
import time
import urllib.parse

STALLED = "203.0.113.7"
OTHER = "198.51.100.9"


def request(port, method, path, body=b"", headers=None, timeout=30):
    """One request on its own connection; returns (status, headers, body)."""
    head = [f"{method} {path} HTTP/1.1", "Host: dtag.test", "Connection: close",
            f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return status, fields, rest


def form(text):
    return urllib.parse.urlencode({"text": text, "limit": "3"}).encode()


def main():
    port, project, draft_file, token = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    text = open(draft_file, encoding="utf-8").read()
    suggest = f"/v1/projects/{project}/suggest"
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    failures = []

    def expect(what, got, wanted):
        ok = got == wanted
        print(f"{'ok' if ok else 'FAIL'}: {what}: {got}" + ("" if ok else f" (expected {wanted})"))
        if not ok:
            failures.append(what)

    # 8 uploads from one client that send their headers and a little of the body, then stall.
    stalled = []
    for _ in range(8):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall((f"POST {suggest} HTTP/1.1\r\nHost: dtag.test\r\n"
                   "Content-Type: application/x-www-form-urlencoded\r\n"
                   f"X-Forwarded-For: {STALLED}\r\nContent-Length: 100000\r\n\r\ntext=").encode())
        stalled.append(s)
        time.sleep(0.1)
    # dtag holds 4 of them (--max-connections-per-client 4) and answers the rest 429.
    refused = 0
    for s in stalled:
        s.settimeout(2)
        try:
            first = s.recv(4096)
        except socket.timeout:
            continue
        if first.startswith(b"HTTP/1.1 429"):
            refused += 1
    expect(f"stalled uploads from {STALLED} refused with 429 beyond the 4 held", refused, 4)

    status, _, body = request(port, "POST", suggest, form(text),
                              {**form_type, "X-Forwarded-For": OTHER})
    expect(f"a suggestion from {OTHER} while {STALLED} stalls", status, 200)
    if status == 200:
        results = json.loads(body)["results"]
        print("   ", [r["label"] for r in results])
    status, fields, _ = request(port, "POST", suggest, form(text),
                                {**form_type, "X-Forwarded-For": STALLED})
    expect(f"the next request of {STALLED}", status, 429)
    expect("its Retry-After", fields.get("retry-after"), "1")
    health = json.loads(request(port, "GET", "/healthz")[2])
    expect("uploads dtag is receiving (the 4 held)", health["receiving"], 4)

    # Learning through the proxy: only with an indexer's token.
    learn = f"/v1/projects/{project}/learn"
    document = json.dumps([{"text": text, "subjects": [{"label": "CHILDREN"}]}]).encode()
    json_type = {"Content-Type": "application/json", "X-Forwarded-For": OTHER}
    status, fields, _ = request(port, "POST", learn, document, json_type)
    expect("learn without a token", status, 401)
    expect("its WWW-Authenticate", fields.get("www-authenticate", "").split()[0:1], ["Bearer"])
    status, _, _ = request(port, "POST", learn, document,
                           {**json_type, "Authorization": "Bearer not-the-token-at-all"})
    expect("learn with a wrong token", status, 401)
    status, _, _ = request(port, "POST", learn, document,
                           {**json_type, "Authorization": f"Bearer {token}"}, timeout=120)
    expect("learn with an indexer's token", status, 204)

    for s in stalled:
        s.close()
    # The held slots come back once the uploads are gone.
    deadline = time.time() + 10
    while time.time() < deadline:
        status, _, _ = request(port, "POST", suggest, form(text),
                               {**form_type, "X-Forwarded-For": STALLED})
        if status == 200:
            break
        time.sleep(0.2)
    expect(f"{STALLED} once its uploads closed", status, 200)
    if failures:
        print(f"{len(failures)} check(s) failed: {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
