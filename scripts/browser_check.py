"""Drives the dtag web page in headless Chromium through chromedriver's W3C WebDriver HTTP API
(standard library only): types a draft, sets limit and threshold, presses Suggest, and reads
the results from the page.

With LEARN_TOKEN (a server started with --learn --learn-tokens), also teaches the draft
through the page: the page asks for the indexer's token once (a wrong one is asked again),
keeps it in sessionStorage, and learns again without asking.

Usage: browser_check.py CHROMEDRIVER_URL PAGE_URL DRAFT_FILE EXPECTED_TOP[,…] PROFILE_DIR SCREENSHOT [LEARN_TOKEN]
Exits 1 when the page does not show the expected results.
"""

import base64
import json
import sys
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1200,1400",
]


class WebDriver:
    def __init__(self, base, profile_dir):
        self.base = base.rstrip("/")
        args = CHROMIUM_ARGS + [f"--user-data-dir={profile_dir}"]
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
        }}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.load(response)["value"]
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"{method} {path}: {err.code} {err.read().decode(errors='replace')}")

    def s(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def find(self, css):
        return self.s("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def find_all(self, css):
        return [e[ELEMENT] for e in self.s("POST", "/elements", {"using": "css selector", "value": css})]

    def type(self, css, text):
        element = self.find(css)
        self.s("POST", f"/element/{element}/clear", {})
        self.s("POST", f"/element/{element}/value", {"text": text})

    def click(self, css):
        self.s("POST", f"/element/{self.find(css)}/click", {})

    def text(self, element):
        return self.s("GET", f"/element/{element}/text")

    def attribute(self, element, name):
        return self.s("GET", f"/element/{element}/attribute/{name}")

    def quit(self):
        try:
            self.s("DELETE", "")
        except Exception:  # the browser may already be gone
            pass


def wait_for(what, predicate, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def run(driver, page_url, draft, expected_top, screenshot):
    failures = []
    driver.s("POST", "/url", {"url": page_url})
    # The model chooser is filled from /v1/projects.
    wait_for("the model list", lambda: driver.find_all("#model option"))
    options = [driver.text(o) for o in driver.find_all("#model option")]
    print(f"models offered: {options}")
    driver.click("#model option")

    driver.type("#draft", draft)
    typed = driver.s("POST", "/execute/sync",
                     {"script": "return document.getElementById('draft').value;", "args": []})
    if typed != draft:
        failures.append(f"the text box holds {len(typed)} characters, not the {len(draft)} typed")
    limit, threshold = 5, 0.05
    driver.type("#limit", str(limit))
    driver.type("#threshold", str(threshold))
    driver.click("#suggest")

    rows = wait_for("results", lambda: driver.find_all("#results tr.result"))
    results = []
    for row in rows:
        descriptor = driver.attribute(row, "data-descriptor")
        score = float(driver.attribute(row, "data-score"))
        shown = driver.text(driver.s("POST", f"/element/{row}/element",
                                     {"using": "css selector", "value": ".value"})[ELEMENT])
        width = driver.s("POST", "/execute/sync", {
            "script": "return arguments[0].querySelector('.fill').style.width;",
            "args": [{ELEMENT: row}],
        })
        results.append((descriptor, score, shown, width))
    status = driver.text(driver.find("#status"))
    print(f"status line: {status}")
    for descriptor, score, shown, width in results:
        print(f"  {descriptor:28s} {shown}  bar {width}")

    leading = sorted(r[0] for r in results[:len(expected_top)])
    if leading != sorted(expected_top):
        failures.append(f"leading descriptors {leading}, expected {sorted(expected_top)}")
    if len(results) > limit:
        failures.append(f"{len(results)} results for limit {limit}")
    scores = [r[1] for r in results]
    if scores != sorted(scores, reverse=True) or any(s < threshold for s in scores):
        failures.append(f"scores not descending or below the threshold: {scores}")
    for descriptor, score, shown, width in results:
        if shown != f"{score:.4f}" or abs(float(width.rstrip("%")) - score * 100) > 0.06:
            failures.append(f"{descriptor}: shown {shown}, bar {width} for score {score}")

    png = driver.s("GET", "/screenshot")
    with open(screenshot, "wb") as f:
        f.write(base64.b64decode(png))
    print(f"screenshot: {screenshot}")

    # A refused request shows the server's problem detail instead of results.
    driver.type("#limit", "-1")
    driver.click("#suggest")
    error = wait_for("the error message",
                     lambda: "limit" in driver.text(driver.find("#status")) and driver.text(driver.find("#status")))
    print(f"error shown for limit -1: {error}")
    if "error" not in (driver.attribute(driver.find("#status"), "class") or ""):
        failures.append("the error message is not marked as an error")
    return failures


def script(driver, code):
    return driver.s("POST", "/execute/sync", {"script": code, "args": []})


def learn(driver, token):
    """Teaches the draft in the text box through the page; returns what went wrong."""
    failures = []
    learn_status = lambda: driver.text(driver.find("#learn-status"))
    token_asked = lambda: script(driver, "return !document.getElementById('token-box').hidden;")
    driver.type("#subjects", "CHILDREN\nAFRICA")
    driver.click("#learn")
    wait_for("the token question", token_asked)
    print(f"learning without a token: {learn_status()}")
    driver.type("#token", "not-the-indexer-token-000")
    driver.click("#token-save")
    wait_for("the token asked again", lambda: "refused" in learn_status() and token_asked())
    print(f"a wrong token: {learn_status()}")
    driver.type("#token", token)
    driver.click("#token-save")
    wait_for("the documents learned", lambda: learn_status().startswith("Learned"))
    print(f"the indexer's token: {learn_status()}")
    if script(driver, "return sessionStorage.getItem('dtag-learn-token');") != token:
        failures.append("the token is not kept in sessionStorage")
    if script(driver, "return localStorage.length;") != 0:
        failures.append("something was written to localStorage")
    # Again: the token kept for the session is sent without asking.
    script(driver, "document.getElementById('learn-status').textContent = '';")
    driver.click("#learn")
    wait_for("learned again", lambda: learn_status().startswith("Learned"))
    if token_asked():
        failures.append("the token was asked for a second time")
    print(f"learning again, no question asked: {learn_status()}")
    return failures


def main():
    driver_url, page_url, draft_file, expected, profile_dir, screenshot = sys.argv[1:7]
    token = sys.argv[7] if len(sys.argv) > 7 else None
    # The descriptors expected to lead the results, in any order: "A,B".
    expected_top = expected.split(",")
    with open(draft_file, encoding="utf-8") as f:
        draft = f.read().strip()
    driver = WebDriver(driver_url, profile_dir)
    try:
        failures = run(driver, page_url, draft, expected_top, screenshot)
        if token:
            failures += learn(driver, token)
    finally:
        driver.quit()
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)
    print(f"browser test passed: the page suggests {', '.join(expected_top)} first")


if __name__ == "__main__":
    main()
