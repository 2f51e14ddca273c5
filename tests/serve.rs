//! `dtag serve` driven over loopback with a plain `TcpStream` HTTP/1.1 client: the Annif
//! endpoints, agreement with `dtag suggest`, and 4xx problem+json answers (never a crash or a
//! 5xx) to malformed, oversized, non-UTF-8 and slow requests; 503 when saturated; SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

const DTAG: &str = env!("CARGO_BIN_EXE_dtag");

/// The demo model, trained once per test run (into cargo's scratch directory for tests).
fn demo_model() -> &'static Path {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL.get_or_init(|| {
        let model = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-demo.dtag");
        let out = Command::new(DTAG)
            .args(["--quiet", "train", "--corpus", "data/train.txt", "--model"])
            .arg(&model)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        model
    })
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let mut child = Command::new(DTAG)
            .arg("serve")
            .arg("--model")
            .arg(format!("demo={}", demo_model().display()))
            .args(["--bind", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        Server { child, addr }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream
    }

    /// Sends raw bytes on a new connection and reads the whole response.
    fn raw(&self, request: &[u8]) -> Response {
        let mut stream = self.connect();
        // The server may answer (413) and close before reading everything we send.
        let _ = stream.write_all(request);
        read_response(&mut stream)
    }

    fn get(&self, path: &str) -> Response {
        self.raw(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
    }

    fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Response {
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        self.raw(&request)
    }

    fn suggest_form(&self, body: &str) -> Response {
        self.post(
            "/v1/projects/demo/suggest",
            "application/x-www-form-urlencoded",
            body.as_bytes(),
        )
    }

    fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait_exit(&mut self, within: Duration) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut stderr = String::new();
                self.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut stderr)
                    .unwrap();
                return (status, stderr);
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts an RFC 9457 problem with this status.
    fn assert_problem(&self, status: u16) -> Value {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        let problem = self.json();
        assert_eq!(problem["status"], status);
        assert!(problem["title"].is_string());
        assert!(!problem["detail"].as_str().unwrap().is_empty());
        problem
    }
}

/// Reads one response (Content-Length framed) from the stream.
fn read_response(stream: &mut TcpStream) -> Response {
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no status line: {status_line:?}"))
        .parse()
        .unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    Response {
        status,
        headers,
        body,
    }
}

fn form_encode(text: &str) -> String {
    dtag::serve::request::percent_encode(text)
}

/// `dtag suggest --format json` for one file: (descriptor, score) pairs.
fn cli_suggestions(file: &str, limit: usize, threshold: f32) -> Vec<(String, f64)> {
    let out = Command::new(DTAG)
        .arg("suggest")
        .arg("--model")
        .arg(demo_model())
        .args([
            "--limit",
            &limit.to_string(),
            "--threshold",
            &threshold.to_string(),
        ])
        .args(["--format", "json", file])
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    json[0]["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["descriptor"].as_str().unwrap().to_string(),
                s["score"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn api_suggestions(results: &Value) -> Vec<(String, f64)> {
    results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["label"].as_str().unwrap().to_string(),
                r["score"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn annif_endpoints_describe_projects_and_match_dtag_suggest() {
    let server = Server::start(&[]);

    let projects = server.get("/v1/projects");
    assert_eq!(projects.status, 200);
    assert_eq!(projects.header("content-type"), Some("application/json"));
    let list = projects.json();
    assert_eq!(list["projects"].as_array().unwrap().len(), 1);
    let project = &list["projects"][0];
    assert_eq!(project["project_id"], "demo");
    assert_eq!(project["language"], "zh");
    assert_eq!(project["is_trained"], true);
    assert_eq!(project["vocab"]["size"], 17);
    assert_eq!(&server.get("/v1/projects/demo").json(), project);
    server.get("/v1/projects/nope").assert_problem(404);
    assert_eq!(
        server.get("/v1/").json()["version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(server.get("/healthz").json()["status"], "ok");
    let page = server.get("/");
    assert_eq!(page.status, 200);
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains("<textarea") && html.contains("v1/projects"));

    // Same descriptors and scores as the CLI, for two decision rules.
    let draft = std::fs::read_to_string("data/drafts/draft_01.txt").unwrap();
    for (limit, threshold) in [(10, 0.0f32), (3, 0.5)] {
        let response = server.suggest_form(&format!(
            "text={}&limit={limit}&threshold={threshold}",
            form_encode(&draft)
        ));
        assert_eq!(response.status, 200);
        let results = &response.json()["results"];
        let api = api_suggestions(results);
        let cli = cli_suggestions("data/drafts/draft_01.txt", limit, threshold);
        assert!(!api.is_empty());
        assert_eq!(api.len(), cli.len(), "{api:?} vs {cli:?}");
        for ((a_label, a_score), (c_label, c_score)) in api.iter().zip(&cli) {
            assert_eq!(a_label, c_label);
            assert!((a_score - c_score).abs() < 1e-6);
        }
        // The draft's two intended descriptors lead, each with its descriptor URI.
        let mut top: Vec<&str> = (0..2)
            .map(|i| results[i]["label"].as_str().unwrap())
            .collect();
        top.sort_unstable();
        assert_eq!(top, ["CHILDREN", "PEACEKEEPING OPERATIONS"]);
        let expected_uri = format!(
            "urn:dtag:descriptor:{}",
            results[0]["label"].as_str().unwrap().replace(' ', "%20")
        );
        assert_eq!(results[0]["uri"], expected_uri.as_str());
        assert!(results[0]["notation"].is_null());
    }
    // Annif's threshold filters: nothing reaches 0.999, so nothing is returned; limit 0 too.
    let none = server.suggest_form(&format!("text={}&threshold=0.999", form_encode(&draft)));
    assert_eq!(none.json()["results"], serde_json::json!([]));
    let zero = server.suggest_form(&format!("text={}&limit=0", form_encode(&draft)));
    assert_eq!(zero.json()["results"], serde_json::json!([]));

    // A batch gives each document what `suggest` gives it, with its id.
    let draft3 = std::fs::read_to_string("data/drafts/draft_03.txt").unwrap();
    let body = serde_json::json!({"documents": [
        {"text": draft, "document_id": "d1"},
        {"text": draft3},
    ]});
    let batch = server.post(
        "/v1/projects/demo/suggest-batch?limit=4&threshold=0.05",
        "application/json",
        body.to_string().as_bytes(),
    );
    assert_eq!(batch.status, 200);
    let batch = batch.json();
    assert_eq!(batch[0]["document_id"], "d1");
    assert!(batch[1]["document_id"].is_null());
    let single = server.suggest_form(&format!(
        "text={}&limit=4&threshold=0.05",
        form_encode(&draft3)
    ));
    assert_eq!(batch[1]["results"], single.json()["results"]);
    assert_eq!(
        api_suggestions(&batch[1]["results"])[0].0,
        "NUCLEAR NON-PROLIFERATION"
    );
}

#[test]
fn malformed_and_non_utf8_requests_get_4xx_problem_json() {
    let server = Server::start(&[]);
    let form = "application/x-www-form-urlencoded";
    let cases: Vec<(&str, Response, u16)> = vec![
        ("raw non-UTF-8 form", server.post("/v1/projects/demo/suggest", form, b"text=\xff\xfe\xfd"), 400),
        ("escaped non-UTF-8", server.suggest_form("text=%C3%28"), 400),
        ("truncated escape", server.suggest_form("text=abc%E7"), 400),
        ("bad escape", server.suggest_form("text=100%zz"), 400),
        ("missing text", server.suggest_form("limit=3"), 400),
        ("text twice", server.suggest_form("text=a&text=b"), 400),
        ("negative limit", server.suggest_form("text=a&limit=-1"), 400),
        ("huge limit", server.suggest_form("text=a&limit=99999999999999999999999"), 400),
        ("threshold above 1", server.suggest_form("text=a&threshold=2"), 400),
        ("threshold NaN", server.suggest_form("text=a&threshold=nan"), 400),
        ("unknown field", server.suggest_form("text=a&treshold=0.5"), 400),
        ("wrong language", server.suggest_form("text=a&language=fi"), 400),
        ("JSON to suggest", server.post("/v1/projects/demo/suggest", "application/json", b"{\"text\":\"a\"}"), 415),
        ("latin-1 charset", server.post("/v1/projects/demo/suggest", "application/x-www-form-urlencoded; charset=iso-8859-1", b"text=a"), 415),
        ("no content type", server.raw(b"POST /v1/projects/demo/suggest HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 6\r\n\r\ntext=a"), 415),
        ("invalid JSON", server.post("/v1/projects/demo/suggest-batch", "application/json", b"{\"documents\": [}"), 400),
        ("non-UTF-8 JSON", server.post("/v1/projects/demo/suggest-batch", "application/json", b"{\"documents\":[{\"text\":\"\xc3\x28\"}]}"), 400),
        ("document without text", server.post("/v1/projects/demo/suggest-batch", "application/json", b"{\"documents\":[{\"document_id\":\"x\"}]}"), 400),
        ("deeply nested JSON", server.post("/v1/projects/demo/suggest-batch", "application/json", "[".repeat(100_000).as_bytes()), 400),
        ("33 documents", server.post("/v1/projects/demo/suggest-batch", "application/json",
            format!("{{\"documents\":[{}]}}", vec!["{\"text\":\"a\"}"; 33].join(",")).as_bytes()), 400),
        ("bad batch query", server.post("/v1/projects/demo/suggest-batch?limit=%FF", "application/json", b"{\"documents\":[]}"), 400),
        ("unknown project", server.post("/v1/projects/nope/suggest", form, b"text=a"), 404),
        ("non-UTF-8 project id", server.get("/v1/projects/%ff%fe"), 400),
        ("unknown path", server.get("/v1/projects/demo/learn"), 404),
        ("unknown root path", server.get("/admin"), 404),
        ("GET on suggest", server.get("/v1/projects/demo/suggest"), 405),
        ("DELETE a project", server.raw(b"DELETE /v1/projects/demo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"), 405),
        ("non-ASCII header", server.raw(b"POST /v1/projects/demo/suggest HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\xff\r\nContent-Length: 6\r\n\r\ntext=a"), 400),
    ];
    for (name, response, status) in cases {
        println!("{name}: {}", String::from_utf8_lossy(&response.body));
        let problem = response.assert_problem(status);
        assert!(problem["detail"].is_string(), "{name}");
    }
    let not_allowed = server.get("/v1/projects/demo/suggest");
    assert_eq!(not_allowed.header("allow"), Some("POST"));
    // Empty documents list and empty text are valid requests.
    let empty = server.post(
        "/v1/projects/demo/suggest-batch",
        "application/json",
        b"{\"documents\":[]}",
    );
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json(), serde_json::json!([]));
    assert_eq!(server.suggest_form("text=").status, 200);
    // Garbage that is not HTTP at all is refused by the HTTP layer; the server lives on.
    let mut stream = server.connect();
    stream.write_all(b"\x00\x01\x02 garbage\r\n\r\n").unwrap();
    let mut sink = Vec::new();
    let _ = stream.read_to_end(&mut sink);
    assert!(!String::from_utf8_lossy(&sink).starts_with("HTTP/1.1 5"));
    assert_eq!(server.get("/healthz").status, 200);
}

#[test]
fn oversized_bodies_get_413_before_being_read() {
    let server = Server::start(&["--max-body-bytes", "4096"]);
    // Declared too large: refused from the headers alone.
    let declared = server.raw(
        b"POST /v1/projects/demo/suggest HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000000000\r\n\r\n",
    );
    declared.assert_problem(413);
    // Chunked, growing past the limit: refused once the limit is crossed.
    let mut chunked = b"POST /v1/projects/demo/suggest-batch HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        chunked.extend_from_slice(format!("800\r\n{}\r\n", "a".repeat(0x800)).as_bytes());
    }
    server.raw(&chunked).assert_problem(413);
    // Just under the limit is fine.
    let text = format!("text={}", "a".repeat(4000));
    assert_eq!(server.suggest_form(&text).status, 200);
}

#[test]
fn saturated_server_answers_503_and_stays_healthy() {
    let server = Server::start(&["--max-in-flight", "1"]);
    // Request A holds the only slot while its body trickles in.
    let body = b"text=%E7%BB%B4%E6%8C%81%E5%92%8C%E5%B9%B3";
    let mut slow = server.connect();
    write!(
        slow,
        "POST /v1/projects/demo/suggest HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    slow.write_all(&body[..5]).unwrap();
    // Wait until the server counts A as in flight.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.get("/healthz").json()["in_flight"] != 1 {
        assert!(Instant::now() < deadline, "request A never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let refused = server.suggest_form("text=a");
    refused.assert_problem(503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    slow.write_all(&body[5..]).unwrap();
    let finished = read_response(&mut slow);
    assert_eq!(finished.status, 200);
    assert_eq!(server.suggest_form("text=a").status, 200);
}

#[test]
fn slow_bodies_time_out_with_408() {
    let server = Server::start(&["--request-timeout", "1"]);
    let mut slow = server.connect();
    slow.write_all(
        b"POST /v1/projects/demo/suggest HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ntext=",
    )
    .unwrap();
    let started = Instant::now();
    read_response(&mut slow).assert_problem(408);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn connections_over_the_limit_get_503() {
    let server = Server::start(&["--max-connections", "2"]);
    let _held: Vec<TcpStream> = (0..2).map(|_| server.connect()).collect();
    std::thread::sleep(Duration::from_millis(200));
    server.get("/healthz").assert_problem(503);
}

#[test]
fn sigterm_finishes_requests_in_progress_then_exits() {
    let mut server = Server::start(&[]);
    let body = b"text=%E7%BB%B4%E6%8C%81%E5%92%8C%E5%B9%B3";
    let mut in_progress = server.connect();
    write!(
        in_progress,
        "POST /v1/projects/demo/suggest HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    in_progress.write_all(&body[..3]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.get("/healthz").json()["in_flight"] != 1 {
        assert!(Instant::now() < deadline, "request never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.sigterm();
    std::thread::sleep(Duration::from_millis(300));
    in_progress.write_all(&body[3..]).unwrap();
    let response = read_response(&mut in_progress);
    assert_eq!(response.status, 200);
    assert!(response.json()["results"].as_array().is_some());
    let (status, stderr) = server.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("SIGTERM received"), "{stderr}");
    assert!(
        TcpStream::connect(server.addr).is_err(),
        "still accepting after shutdown"
    );
}

#[test]
fn bad_serve_arguments_fail_with_a_clear_message() {
    let run = |args: &[&str]| {
        let out = Command::new(DTAG).arg("serve").args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    assert!(run(&["--model", "nofile"]).contains("NAME=FILE"));
    assert!(run(&["--model", "demo=/nonexistent/model.dtag"]).contains("/nonexistent/model.dtag"));
    assert!(run(&["--model", "a b=x.dtag"]).contains("project name"));
    let model = format!("demo={}", demo_model().display());
    assert!(run(&["--model", &model, "--model", &model]).contains("twice"));
    assert!(run(&["--model", &model, "--language", "zh-Hans"]).contains("language"));
    assert!(run(&["--model", &model, "--max-in-flight", "0"]).contains("max_in_flight"));
}
