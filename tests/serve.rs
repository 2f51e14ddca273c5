//! `dtag serve` driven over loopback with a plain `TcpStream` HTTP/1.1 client: the Annif
//! endpoints, agreement with `dtag suggest`, and 4xx problem+json answers (never a crash or a
//! 5xx) to malformed, oversized, non-UTF-8 and slow requests; 503 when saturated; SIGTERM.
//! Under attack: bursts with stderr full or broken, slow and silent clients from one address
//! and from many (clients connect from chosen 127/8 addresses so that "another client" is
//! real), idle timeouts, refusal counts, and memory after large bodies.

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
        Server::start_with_stderr(extra, Stdio::piped())
    }

    /// Starts the server with stderr going to `stderr` instead of a pipe read at exit.
    fn start_with_stderr(extra: &[&str], stderr: impl Into<Stdio>) -> Server {
        Server::start_model(demo_model(), extra, stderr)
    }

    /// Starts the server on `model` as project `demo`.
    fn start_model(model: &Path, extra: &[&str], stderr: impl Into<Stdio>) -> Server {
        let mut args = vec!["--model".to_string(), format!("demo={}", model.display())];
        args.extend(extra.iter().map(|a| a.to_string()));
        Server::start_args(&args, stderr)
    }

    /// Starts `dtag serve` with `args` (and a free port).
    fn start_args(args: &[String], stderr: impl Into<Stdio>) -> Server {
        let mut child = Command::new(DTAG)
            .arg("serve")
            // Every client address on 127/8 reaches a server bound there (Linux).
            .args(["--bind", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr.into())
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

    /// A connection whose client address is `source` (any address of 127/8).
    fn connect_from(&self, source: &str) -> TcpStream {
        self.try_connect_from(source)
            .unwrap_or_else(|e| panic!("cannot connect from {source}: {e}"))
    }

    fn try_connect_from(&self, source: &str) -> std::io::Result<TcpStream> {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        let source: SocketAddr = format!("{source}:0").parse().unwrap();
        socket.bind(&source.into())?;
        // Bounded: a server that stopped accepting fills its backlog, and connecting then
        // waits for minutes.
        socket.connect_timeout(&self.addr.into(), Duration::from_secs(5))?;
        let stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(stream)
    }

    /// `GET /healthz` from `source`, answered within `within` or panics.
    fn health_from(&self, source: &str, within: Duration) -> Value {
        let mut stream = self.connect_from(source);
        stream.set_read_timeout(Some(within)).unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        let response = try_read_response(&mut stream)
            .unwrap_or_else(|e| panic!("no answer to /healthz within {within:?}: {e}"));
        assert_eq!(response.status, 200);
        response.json()
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
    try_read_response(stream).unwrap()
}

/// Reads one response; an error when the connection ends or times out before it is whole.
fn try_read_response(stream: &mut TcpStream) -> std::io::Result<Response> {
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let Some(status) = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
    else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("no status line: {status_line:?}"),
        ));
    };
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
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
    reader.read_exact(&mut body)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn form_encode(text: &str) -> String {
    dtag::serve::request::percent_encode(text)
}

/// `dtag suggest --format json` for one file: (descriptor, score) pairs; without `threshold`,
/// the default decision (the model's tuned thresholds).
fn cli_suggestions(
    model: &Path,
    file: &str,
    limit: usize,
    threshold: Option<f32>,
) -> Vec<(String, f64)> {
    let mut args = vec![
        "--model".to_string(),
        model.display().to_string(),
        "--limit".to_string(),
        limit.to_string(),
    ];
    if let Some(t) = threshold {
        args.extend(["--threshold".to_string(), t.to_string()]);
    }
    suggest_json(&args, file)
}

/// `dtag suggest ARGS --format json FILE`: (descriptor, score) pairs of the one file.
fn suggest_json<S: AsRef<std::ffi::OsStr>>(args: &[S], file: &str) -> Vec<(String, f64)> {
    let out = Command::new(DTAG)
        .arg("suggest")
        .args(args)
        .args(["--format", "json", file])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
        let cli = cli_suggestions(
            demo_model(),
            "data/drafts/draft_01.txt",
            limit,
            Some(threshold),
        );
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
        ("GET on learn", server.get("/v1/projects/demo/learn"), 405),
        ("unknown project action", server.post("/v1/projects/demo/unlearn", "application/json", b"[]"), 404),
        ("detect-language without languages", server.post("/v1/detect-language", "application/json", b"{\"text\":\"a\",\"languages\":[]}"), 400),
        ("detect-language of an unsupported language", server.post("/v1/detect-language", "application/json", b"{\"text\":\"a\",\"languages\":[\"sv\"]}"), 400),
        ("detect-language as a form", server.post("/v1/detect-language", form, b"text=a"), 415),
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
    // Empty and blank texts get no descriptor (ranked, they would get the fusion's favourite).
    for blank in ["text=", "text=+%0A%09+", "text=%E3%80%82+2005"] {
        let answer = server.suggest_form(blank);
        assert_eq!(answer.status, 200, "{blank}");
        assert_eq!(answer.json()["results"], serde_json::json!([]), "{blank}");
    }
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
    // One request at a time on one scoring thread; request A, a batch of large documents,
    // holds the only slot while it is scored.
    let server = Server::start(&[
        "--max-in-flight",
        "1",
        "--threads",
        "1",
        "--max-body-bytes",
        "8388608",
        "--max-body-memory",
        "8388608",
    ]);
    let draft = std::fs::read_to_string("data/drafts/draft_01.txt").unwrap();
    let document = draft.repeat(120_000 / draft.len() + 1);
    let documents: Vec<Value> = (0..32)
        .map(|_| serde_json::json!({ "text": document }))
        .collect();
    let body = serde_json::json!({ "documents": documents }).to_string();
    let mut busy = server.connect();
    write!(
        busy,
        "POST /v1/projects/demo/suggest-batch HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    busy.write_all(body.as_bytes()).unwrap();
    // Wait until the server counts A as in flight.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.get("/healthz").json()["in_flight"] != 1 {
        assert!(Instant::now() < deadline, "request A never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    let refused = server.suggest_form("text=a");
    refused.assert_problem(503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    let finished = read_response(&mut busy);
    assert_eq!(finished.status, 200);
    assert_eq!(finished.json().as_array().unwrap().len(), 32);
    assert_eq!(server.suggest_form("text=a").status, 200);
}

#[test]
fn slow_bodies_time_out_with_408() {
    let server = Server::start(&["--body-timeout", "1"]);
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
    // Receiving its body (not yet in flight).
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.get("/healthz").json()["receiving"] != 1 {
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
    assert!(run(&["--model", "a b=x.dtag"]).contains("project id"));
    assert!(run(&["--model", "..=x.dtag"]).contains("project id `..`"));
    assert!(
        run(&["--model", "demo=x.dtag", "--trusted-proxy", "10.0.0.0/33"])
            .contains("--trusted-proxy")
    );
    let model = format!("demo={}", demo_model().display());
    assert!(run(&["--model", &model, "--model", &model]).contains("twice"));
    assert!(run(&["--model", &model, "--language", "zh-Hans"]).contains("language"));
    assert!(run(&["--model", &model, "--max-in-flight", "0"]).contains("max-in-flight"));
    assert!(
        run(&["--model", &model, "--max-connections-per-client", "0"])
            .contains("max-connections-per-client")
    );
    assert!(run(&["--model", &model, "--idle-timeout", "0"]).contains("idle-timeout"));
    assert!(run(&["--model", &model, "--max-body-memory", "2000"]).contains("max-body-memory"));
}

/// A pipe for the server's stderr that nobody reads, already full: the server's first write
/// to stderr would block for ever. Returns the write end for the server and the read end,
/// which must stay open (or the pipe would be broken instead of full).
fn full_stderr_pipe() -> (std::io::PipeWriter, std::io::PipeReader) {
    use std::os::fd::AsRawFd;
    let (reader, mut writer) = std::io::pipe().unwrap();
    let fd = writer.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own, changing only its O_NONBLOCK flag.
    let set_nonblocking = |on: bool| unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        let flags = if on {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        assert_eq!(libc::fcntl(fd, libc::F_SETFL, flags), 0);
    };
    set_nonblocking(true);
    let filler = [b'x'; 4096];
    loop {
        match writer.write(&filler) {
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("filling the pipe: {e}"),
        }
    }
    // The flag belongs to the open pipe, which the server shares: its writes must block.
    set_nonblocking(false);
    (writer, reader)
}

/// `connections` suggest requests at once from 127.0.0.1, each on its own connection; the
/// status of each answer, or `None` for a connection that ended (or stalled 10 s) without one.
fn burst(server: &Server, connections: usize) -> Vec<Option<u16>> {
    let body = format!("text={}", form_encode("维持和平行动与儿童保护"));
    let request = format!(
        "POST /v1/projects/demo/suggest HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..connections)
            .map(|_| {
                scope.spawn(|| {
                    let mut stream = server.try_connect_from("127.0.0.1").ok()?;
                    stream
                        .set_read_timeout(Some(Duration::from_secs(10)))
                        .unwrap();
                    let _ = stream.write_all(request.as_bytes());
                    try_read_response(&mut stream).ok().map(|r| r.status)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn assert_all_answered(statuses: &[Option<u16>]) {
    let unanswered = statuses.iter().filter(|s| s.is_none()).count();
    let mut seen: Vec<u16> = statuses.iter().flatten().copied().collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(
        unanswered,
        0,
        "{unanswered} of {} connections got no answer (statuses seen: {seen:?})",
        statuses.len()
    );
    assert!(
        statuses
            .iter()
            .flatten()
            .all(|s| matches!(s, 200 | 429 | 503)),
        "{seen:?}"
    );
}

#[test]
fn a_stderr_nobody_reads_does_not_stop_the_server() {
    let (stderr, _unread) = full_stderr_pipe();
    // One request at a time: most of the burst is refused, and every refusal used to be
    // written to stderr from the async threads, which then blocked on the full pipe.
    let mut server = Server::start_with_stderr(&["--max-in-flight", "1"], stderr);
    let statuses = burst(&server, 256);
    assert_all_answered(&statuses);
    server.health_from("127.0.0.2", Duration::from_secs(2));
    // (Not from 127.0.0.1, whose slots may not all be given back yet.)
    assert_eq!(suggest_from(&server, "127.0.0.3").status, 200);
    // Even the last line cannot be written; the server exits anyway.
    server.sigterm();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "stuck at exit on a full stderr");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_broken_stderr_loses_log_lines_not_requests() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let server = Server::start_with_stderr(&["--max-in-flight", "1"], writer);
    let statuses = burst(&server, 256);
    assert_all_answered(&statuses);
    server.health_from("127.0.0.2", Duration::from_secs(2));
}

/// A request that has sent its headers and part of its body, from `source`.
fn slow_upload(server: &Server, source: &str) -> TcpStream {
    let mut stream = server.connect_from(source);
    stream
        .write_all(
            b"POST /v1/projects/demo/suggest HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ntext=",
        )
        .unwrap();
    stream
}

/// Polls `/healthz` from 127.0.0.2 until `connections` connections are open (the poll's own
/// included).
fn wait_for_connections(server: &Server, connections: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let open = server.health_from("127.0.0.2", Duration::from_secs(5))["connections"]
            .as_u64()
            .expect("healthz reports open connections");
        if open >= connections {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{open} of {connections} connections open"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn suggest_from(server: &Server, source: &str) -> Response {
    let mut stream = server.connect_from(source);
    stream
        .write_all(b"POST /v1/projects/demo/suggest HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 6\r\n\r\ntext=a")
        .unwrap();
    read_response(&mut stream)
}

#[test]
fn slow_uploads_from_one_address_do_not_lock_out_another() {
    // Defaults: 64 requests in flight, 256 connections, 32 per client.
    let server = Server::start(&[]);
    let mut slow = Vec::new();
    for _ in 0..64 {
        slow.push(slow_upload(&server, "127.0.0.1"));
    }
    // Half of them are over the per-client limit and refused with 429.
    wait_for_connections(&server, 33);
    let ok = suggest_from(&server, "127.0.0.2");
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    // The refusals were written when the connections were accepted, before the request
    // from 127.0.0.2 (behind them in the accept queue) was answered: they are waiting to be
    // read, while the held connections have nothing to read.
    let mut refused = 0;
    for stream in &mut slow {
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        if let Ok(response) = try_read_response(stream) {
            response.assert_problem(429);
            refused += 1;
        }
    }
    assert_eq!(refused, 32);
}

#[test]
fn slow_uploads_from_many_addresses_do_not_hold_the_request_slots() {
    // 64 requests in flight by default: 64 uploads that never finish, each from its own
    // address, used to hold all of them (every other request got 503 until they timed out).
    let server = Server::start(&[]);
    let slow: Vec<TcpStream> = (1..=64)
        .map(|i| slow_upload(&server, &format!("127.0.1.{i}")))
        .collect();
    wait_for_connections(&server, 65);
    let ok = suggest_from(&server, "127.0.0.2");
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    drop(slow);
}

#[test]
fn silent_connections_of_one_address_do_not_lock_out_another() {
    // 256 connections that send nothing (or stopped sending headers) used to fill every
    // connection slot until the 30 s header timeout.
    let server = Server::start(&[]);
    let mut silent = Vec::new();
    for i in 0..256 {
        let mut stream = server.connect_from("127.0.0.1");
        if i % 2 == 0 {
            stream
                .write_all(b"GET /v1/projects HTTP/1.1\r\nHo")
                .unwrap();
        }
        silent.push(stream);
    }
    wait_for_connections(&server, 33);
    let ok = suggest_from(&server, "127.0.0.2");
    assert_eq!(ok.status, 200);
}

#[test]
fn idle_and_stalled_connections_are_closed_after_the_idle_timeout() {
    let server = Server::start(&["--idle-timeout", "0.5", "--header-timeout", "30"]);
    let closed_within = |stream: &mut TcpStream, within: Duration| {
        stream.set_read_timeout(Some(within)).unwrap();
        let started = Instant::now();
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
        assert!(
            started.elapsed() < within,
            "connection still open after {within:?}"
        );
    };
    // Never sends a byte.
    let mut silent = server.connect();
    closed_within(&mut silent, Duration::from_secs(5));
    // Stops in the middle of its headers.
    let mut stalled = server.connect();
    stalled.write_all(b"GET /healthz HTTP/1.1\r\nHo").unwrap();
    closed_within(&mut stalled, Duration::from_secs(5));
    // Kept alive after an answer, then idle.
    let mut kept = server.connect();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut kept).status, 200);
    closed_within(&mut kept, Duration::from_secs(5));
    // A connection that keeps sending, slowly but steadily, is not idle: it gets its answer.
    let body = b"text=%E7%BB%B4%E6%8C%81";
    let mut steady = server.connect();
    write!(
        steady,
        "POST /v1/projects/demo/suggest HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    for chunk in body.chunks(8) {
        std::thread::sleep(Duration::from_millis(300));
        steady.write_all(chunk).unwrap();
    }
    assert_eq!(read_response(&mut steady).status, 200);
}

#[test]
fn the_shutdown_line_counts_every_refusal() {
    let mut server = Server::start(&[
        "--max-connections",
        "3",
        "--max-connections-per-client",
        "2",
        "--max-body-bytes",
        "4096",
        "--max-body-memory",
        "6000",
    ]);
    // Body memory: one upload holds 4000 bytes of the 6000; a 3000-byte body does not fit.
    // From its own address, so that the requests below (from 127.0.0.1, whose previous
    // connection the server may not have closed yet) never meet the per-client cap.
    let mut holding = server.connect_from("127.0.0.5");
    write!(
        holding,
        "POST /v1/projects/demo/suggest HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4005\r\n\r\ntext={}",
        "a".repeat(3995)
    )
    .unwrap();
    // Wait until the server is receiving that upload, so the budget it holds is counted.
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.get("/healthz").json()["receiving"] != 1 {
        assert!(
            Instant::now() < deadline,
            "the holding upload never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    loop {
        let big = format!("text={}", "b".repeat(2995));
        let response = server.suggest_form(&big);
        if response.status == 503 {
            break;
        }
        // The first bytes of the holding upload may not have been taken yet.
        assert_eq!(response.status, 200);
        assert!(Instant::now() < deadline, "the budget never filled");
        std::thread::sleep(Duration::from_millis(20));
    }
    holding.write_all(b"aaaaa").unwrap();
    assert_eq!(read_response(&mut holding).status, 200);
    drop(holding);

    // Connections: two held from one address (its limit), one from another (the server's).
    // The server closes its side of the connections above just after answering; the third
    // connection asks, kept alive, until it is the only one open.
    let mut third = server.connect_from("127.0.0.8");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        third
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        if read_response(&mut third).json()["connections"] == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "connections of the first part stay open"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| {
            // An answer on each proves it is served, not refused.
            let mut stream = server.connect_from("127.0.0.7");
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                .unwrap();
            assert_eq!(read_response(&mut stream).status, 200);
            stream
        })
        .collect();
    held.push(third);
    for _ in 0..2 {
        let mut over_client = server.connect_from("127.0.0.7");
        read_response(&mut over_client).assert_problem(429);
    }
    for _ in 0..3 {
        let mut over_server = server.connect_from("127.0.0.9");
        read_response(&mut over_server).assert_problem(503);
    }
    drop(held);
    server.sigterm();
    let (status, stderr) = server.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("stopped after"))
        .unwrap_or_else(|| panic!("no shutdown line in {stderr}"));
    assert!(
        line.contains(
            "(6 refused: 0 at --max-in-flight, 1 at the body memory budget, \
3 connections at --max-connections, 2 at --max-connections-per-client)"
        ),
        "{line}"
    );
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn memory_falls_back_after_a_burst_of_large_bodies() {
    // The budget is raised so that every body is taken: this is about what stays behind.
    let server = Server::start(&["--max-body-memory", "1073741824"]);
    // limit=0: the bodies are received and decoded but not scored, which keeps the test fast.
    let text = "%E7%BB%B4%E6%8C%81%E5%92%8C%E5%B9%B3".repeat(4_000_000 / 36);
    let body = format!("limit=0&text={text}");
    let request = format!(
        "POST /v1/projects/demo/suggest HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(server.suggest_form("text=a").status, 200);
    let before = rss_kib(server.child.id());
    for _ in 0..3 {
        std::thread::scope(|scope| {
            for i in 1..=32 {
                let request = &request;
                let server = &server;
                scope.spawn(move || {
                    // Each from its own address, to stay within the per-client limit.
                    let mut stream = server.connect_from(&format!("127.0.2.{i}"));
                    stream.write_all(request.as_bytes()).unwrap();
                    assert_eq!(read_response(&mut stream).status, 200);
                });
            }
        });
    }
    let after = rss_kib(server.child.id());
    // 96 bodies of 4 MB went through, up to 32 at once (about 256 MB at the peak); the server
    // used to keep 75–90 MB of that resident afterwards.
    assert!(
        after < before + 40 * 1024,
        "resident memory grew from {} MiB to {} MiB",
        before / 1024,
        after / 1024
    );
}

// ------------------------------------------------------------------------------------------
// Annif's whole surface: vocabularies, learning while serving, language detection, concept
// URIs and labels, tuned thresholds, and models replaced on disk.

mod common;

/// Trains `data/train.txt` into `model` with extra flags.
fn train(model: &Path, extra: &[&str]) {
    let out = Command::new(DTAG)
        .args(["--quiet", "train", "--corpus", "data/train.txt", "--model"])
        .arg(model)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Polls `/healthz` until `key` reaches `at_least`, for at most 15 s.
fn wait_for_health(server: &Server, key: &str, at_least: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let health = server.get("/healthz").json();
        if health[key].as_u64().unwrap() >= at_least {
            return health;
        }
        assert!(
            Instant::now() < deadline,
            "{key} did not reach {at_least}: {health}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn learn_body(text: &str, subjects: Value, copies: usize) -> Vec<u8> {
    let document = serde_json::json!({"text": text, "subjects": subjects});
    serde_json::to_vec(&vec![document; copies]).unwrap()
}

#[test]
fn without_threshold_the_api_decides_as_dtag_suggest_does_by_default() {
    let server = Server::start(&[]);
    for draft in ["data/drafts/draft_01.txt", "data/drafts/draft_03.txt"] {
        let text = std::fs::read_to_string(draft).unwrap();
        for limit in [10, 2] {
            let response =
                server.suggest_form(&format!("text={}&limit={limit}", form_encode(&text)));
            assert_eq!(response.status, 200);
            let api = api_suggestions(&response.json()["results"]);
            let cli = cli_suggestions(demo_model(), draft, limit, None);
            assert_eq!(
                api.iter().map(|a| &a.0).collect::<Vec<_>>(),
                cli.iter().map(|c| &c.0).collect::<Vec<_>>()
            );
            // The tuned thresholds cut the list: not every descriptor up to the limit.
            assert!(!api.is_empty() && api.len() < 10, "{api:?}");
        }
    }
    // Annif's vocabulary list, and the language detector of the analyzers' languages.
    let vocabs = server.get("/v1/vocabs");
    assert_eq!(vocabs.status, 200);
    let vocabs = vocabs.json();
    assert_eq!(vocabs["vocabs"][0]["vocab_id"], "demo");
    assert_eq!(vocabs["vocabs"][0]["size"], 17);
    assert_eq!(vocabs["vocabs"][0]["languages"], serde_json::json!(["zh"]));
    let body = serde_json::json!({
        "text": std::fs::read_to_string("data/drafts/draft_01.txt").unwrap(),
        "languages": ["en", "zh", "ru"],
    });
    let detected = server.post(
        "/v1/detect-language",
        "application/json",
        body.to_string().as_bytes(),
    );
    assert_eq!(detected.status, 200);
    let results = detected.json()["results"].clone();
    assert_eq!(results.as_array().unwrap().len(), 4);
    assert_eq!(results[0]["language"], "zh");
    assert!(results[0]["score"].as_f64().unwrap() > 0.5);
    assert!(results
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["language"].is_null()));
}

/// `dtag suggest --config CONFIG --project ID --format json` for one file, with `extra`
/// flags: (descriptor, score) pairs.
fn cli_project_suggestions(
    config: &Path,
    project: &str,
    file: &str,
    extra: &[&str],
) -> Vec<(String, f64)> {
    let mut args: Vec<std::ffi::OsString> = vec![
        "--config".into(),
        config.into(),
        "--project".into(),
        project.into(),
    ];
    args.extend(extra.iter().map(Into::into));
    suggest_json(&args, file)
}

#[test]
fn projects_file_limit_and_threshold_apply_when_the_request_sets_neither() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-project-defaults");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("dtag.toml");
    let model = demo_model().display().to_string();
    std::fs::write(
        &config,
        format!(
            "[plain]\nmodel = {model:?}\n\n[one]\nname = \"One descriptor\"\n\
             model = {model:?}\nlimit = 1\n\n[low]\nmodel = {model:?}\nthreshold = 0.01\n"
        ),
    )
    .unwrap();
    let server = Server::start_args(
        &["--config".to_string(), config.display().to_string()],
        Stdio::piped(),
    );
    let draft = "data/drafts/draft_01.txt";
    let text = form_encode(&std::fs::read_to_string(draft).unwrap());
    let ask = |project: &str, options: &str| {
        let response = server.post(
            &format!("/v1/projects/{project}/suggest"),
            "application/x-www-form-urlencoded",
            format!("text={text}{options}").as_bytes(),
        );
        assert_eq!(
            response.status,
            200,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        api_suggestions(&response.json()["results"])
    };
    let labels = |s: &[(String, f64)]| s.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
    let plain = ask("plain", "");
    let low = ask("low", "");
    // Each project answers as `dtag suggest --project ID` does.
    for (project, answer) in [("plain", &plain), ("one", &ask("one", "")), ("low", &low)] {
        assert_eq!(
            labels(answer),
            labels(&cli_project_suggestions(&config, project, draft, &[])),
            "project {project}"
        );
    }
    assert_eq!(ask("one", "").len(), 1);
    assert!(plain.len() > 1, "{plain:?}");
    // The file's `name` is shown; a project without one is named by its id.
    assert_eq!(
        server.get("/v1/projects/one").json()["name"],
        "One descriptor"
    );
    assert_eq!(server.get("/v1/projects/plain").json()["name"], "plain");
    // The project's low threshold proposes more than the model's tuned thresholds do.
    assert!(low.len() > plain.len(), "{low:?} vs {plain:?}");
    assert!(low.iter().all(|(_, score)| *score >= 0.01));
    // What the request sets wins over the project's defaults.
    assert_eq!(ask("one", "&limit=3"), ask("plain", "&limit=3"));
    assert_eq!(
        labels(&ask("one", "&limit=3")),
        labels(&cli_project_suggestions(
            &config,
            "one",
            draft,
            &["--limit", "3"]
        ))
    );
    let filtered = ask("low", "&threshold=0.5");
    assert_eq!(filtered, ask("plain", "&threshold=0.5"));
    assert!(filtered.iter().all(|(_, score)| *score >= 0.5));
    assert!(filtered.len() < low.len());
}

#[test]
fn learn_is_refused_with_403_unless_the_server_learns() {
    let server = Server::start(&[]);
    let body = learn_body("安全理事会", serde_json::json!([{"label": "AFRICA"}]), 1);
    let refused = server.post("/v1/projects/demo/learn", "application/json", &body);
    let problem = refused.assert_problem(403);
    assert!(problem["detail"].as_str().unwrap().contains("--learn"));
    server
        .post("/v1/projects/nope/learn", "application/json", &body)
        .assert_problem(404);
    assert_eq!(server.get("/healthz").json()["learned_documents"], 0);
}

/// A suggestion request from `source` forwarded for `forwarded_for` (`X-Forwarded-For`);
/// with `stall`, only its headers and the start of its body are sent.
fn forwarded_suggest(server: &Server, source: &str, forwarded_for: &str, stall: bool) -> TcpStream {
    let mut stream = server.connect_from(source);
    let body = if stall { "text=" } else { "text=a" };
    let length = if stall { 1000 } else { body.len() };
    stream
        .write_all(
            format!(
                "POST /v1/projects/demo/suggest HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\n\
                 X-Forwarded-For: {forwarded_for}\r\nContent-Length: {length}\r\n\r\n{body}"
            )
            .as_bytes(),
        )
        .unwrap();
    stream
}

#[test]
fn behind_a_trusted_proxy_clients_are_limited_by_their_forwarded_address() {
    let mut server = Server::start(&[
        "--trusted-proxy",
        "127.0.0.1/32",
        "--max-connections-per-client",
        "4",
    ]);
    // The proxy (127.0.0.1) forwards 8 uploads of one client that never finish: 4 are held,
    // 4 refused with 429; the proxy's own connections are not limited per client.
    let mut stalled: Vec<TcpStream> = (0..8)
        .map(|_| forwarded_suggest(&server, "127.0.0.1", "203.0.113.7", true))
        .collect();
    let mut refused = 0;
    for stream in &mut stalled {
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        if let Ok(response) = try_read_response(stream) {
            response.assert_problem(429);
            assert_eq!(response.header("retry-after"), Some("1"));
            refused += 1;
        }
    }
    assert_eq!(refused, 4);
    let answer = |source: &str, forwarded_for: &str| {
        read_response(&mut forwarded_suggest(
            &server,
            source,
            forwarded_for,
            false,
        ))
    };
    let other = answer("127.0.0.1", "198.51.100.9");
    assert_eq!(
        other.status,
        200,
        "{}",
        String::from_utf8_lossy(&other.body)
    );
    answer("127.0.0.1", "203.0.113.7").assert_problem(429);
    // Only the last untrusted address counts: what a client writes itself is not believed.
    answer("127.0.0.1", "198.51.100.9, 203.0.113.7").assert_problem(429);
    assert_eq!(answer("127.0.0.1", "203.0.113.7, 198.51.100.9").status, 200);
    // From an address that is not a trusted proxy the header is ignored: 127.0.0.3 is one
    // client, whichever clients it names (healthz polls come from 127.0.0.2).
    let own: Vec<TcpStream> = (0..4)
        .map(|i| forwarded_suggest(&server, "127.0.0.3", &format!("192.0.2.{i}"), true))
        .collect();
    wait_for_connections(&server, 9);
    answer("127.0.0.3", "192.0.2.200").assert_problem(429);
    drop(own);
    // The held uploads give their places back when they go.
    drop(stalled);
    let deadline = Instant::now() + Duration::from_secs(10);
    while answer("127.0.0.1", "203.0.113.7").status != 200 {
        assert!(Instant::now() < deadline, "203.0.113.7 still refused");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The log names the forwarded client, not the proxy.
    server.sigterm();
    let (status, stderr) = server.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "client 203.0.113.7 (forwarded by 127.0.0.1) refused at --max-connections-per-client"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("client 127.0.0.3 refused at --max-connections-per-client"),
        "{stderr}"
    );
    assert!(!stderr.contains("client 192.0.2."), "{stderr}");
}

/// `POST …/learn` of `body`, with `Authorization: Bearer TOKEN` when a token is given.
fn learn_with(server: &Server, token: Option<&str>, body: &[u8]) -> Response {
    let authorization = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let mut request = format!(
        "POST /v1/projects/demo/learn HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
         Content-Type: application/json\r\n{authorization}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    server.raw(&request)
}

#[test]
fn with_learn_tokens_only_indexers_teach_and_the_file_is_read_again_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("demo.dtag");
    std::fs::copy(demo_model(), &model).unwrap();
    let tokens = dir.path().join("tokens");
    let (alice, bob, carol) = (
        "alice-secret-0123456789",
        "bob-secret-9876543210",
        "carol-secret-5555555555",
    );
    // Bob's line holds only the hash of his token.
    std::fs::write(
        &tokens,
        format!(
            "# indexers\nalice {alice}\nbob {}\n",
            dtag::serve::tokens::token_hash(bob)
        ),
    )
    .unwrap();
    let tokens_arg = tokens.display().to_string();
    let mut server = Server::start_model(
        &model,
        &["--learn", "--learn-tokens", &tokens_arg],
        Stdio::piped(),
    );
    let body = learn_body(
        "安全理事会 维持和平行动",
        serde_json::json!([{"label": "AFRICA"}]),
        1,
    );
    let missing = learn_with(&server, None, &body);
    let problem = missing.assert_problem(401);
    assert!(problem["detail"].as_str().unwrap().contains("Bearer"));
    assert_eq!(
        missing.header("www-authenticate"),
        Some("Bearer realm=\"dtag learn\"")
    );
    let wrong = learn_with(&server, Some("alice-secret-0123456780"), &body);
    wrong.assert_problem(401);
    assert!(wrong
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"invalid_token\""));
    assert_eq!(learn_with(&server, Some(alice), &body).status, 204);
    let other = learn_body(
        "安全理事会 维持和平行动 非洲 部署",
        serde_json::json!([{"label": "AFRICA"}]),
        1,
    );
    assert_eq!(learn_with(&server, Some(bob), &other).status, 204);
    assert_eq!(server.get("/healthz").json()["learned_documents"], 2);
    // Suggesting stays open, as Annif's API is.
    assert_eq!(server.suggest_form("text=a").status, 200);
    // SIGHUP reads the file again: carol's token works, alice's no longer does.
    std::fs::write(&tokens, format!("carol {carol}\n")).unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while learn_with(&server, Some(carol), &body).status != 204 {
        assert!(Instant::now() < deadline, "carol's token not taken");
        std::thread::sleep(Duration::from_millis(100));
    }
    learn_with(&server, Some(alice), &body).assert_problem(401);
    server.sigterm();
    let (status, stderr) = server.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "{stderr}");
    for indexer in ["alice", "bob", "carol"] {
        assert!(
            stderr.contains(&format!("taught by indexer {indexer} (client 127.0.0.1)")),
            "{stderr}"
        );
    }
    assert!(
        stderr.contains("learn tokens read again (SIGHUP): 1 indexer(s)"),
        "{stderr}"
    );
    assert!(!stderr.contains("anyone who can reach"), "{stderr}");
    for secret in [alice, bob, carol, "alice-secret-0123456780"] {
        assert!(!stderr.contains(secret), "a token in the log: {stderr}");
    }
}

#[test]
fn learning_without_tokens_warns_once_and_bad_token_files_name_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("demo.dtag");
    std::fs::copy(demo_model(), &model).unwrap();
    let mut server = Server::start_model(&model, &["--learn"], Stdio::piped());
    let body = learn_body("安全理事会", serde_json::json!([{"label": "AFRICA"}]), 1);
    assert_eq!(learn_with(&server, None, &body).status, 204);
    server.sigterm();
    let (_, stderr) = server.wait_exit(Duration::from_secs(15));
    assert_eq!(
        stderr
            .matches("anyone who can reach this server can teach")
            .count(),
        1,
        "{stderr}"
    );
    let run = |args: &[&str]| {
        let out = Command::new(DTAG)
            .arg("serve")
            .args(["--model", &format!("demo={}", model.display())])
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "alice a-long-enough-token-1\nbob short1\n").unwrap();
    let tokens_arg = tokens.display().to_string();
    let short = run(&["--learn", "--learn-tokens", &tokens_arg]);
    assert!(short.contains("tokens:2:"), "{short}");
    assert!(
        !short.contains("short1") && !short.contains("a-long-enough"),
        "{short}"
    );
    let without_learn = run(&["--learn-tokens", &tokens_arg]);
    assert!(without_learn.contains("--learn"), "{without_learn}");
}

#[test]
fn a_project_speaks_its_model_language_and_a_reload_in_another_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let finnish = dir.path().join("fi.dtag");
    train(&finnish, &["--language", "fi", "--no-ensemble"]);
    // No projects file, no --language: the model's own language.
    let server = Server::start_model(&finnish, &[], Stdio::piped());
    let project = server.get("/v1/projects/demo").json();
    assert_eq!(project["language"], "fi");
    assert_eq!(project["vocab_language"], "fi");
    drop(server);
    // A Chinese project whose file is replaced by the Finnish model keeps serving Chinese.
    let model = dir.path().join("demo.dtag");
    std::fs::copy(demo_model(), &model).unwrap();
    let mut server = Server::start_model(&model, &[], Stdio::piped());
    let replacement = dir.path().join("replacement.dtag");
    std::fs::copy(&finnish, &replacement).unwrap();
    std::fs::rename(&replacement, &model).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let health = server.get("/healthz").json();
    assert_eq!(health["model_reloads"], 0, "{health}");
    assert_eq!(server.get("/v1/projects/demo").json()["language"], "zh");
    server.sigterm();
    let (_, stderr) = server.wait_exit(Duration::from_secs(15));
    assert!(
        stderr.contains("is a model of language `fi`, the project serves `zh`: refused"),
        "{stderr}"
    );
}

#[test]
fn serve_honours_a_projects_thesaurus_and_refuses_ids_outside_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("demo.dtag");
    std::fs::copy(demo_model(), &model).unwrap();
    let ttl = common::root().join("tests/fixtures/unbis_demo.ttl");
    let config = dir.path().join("dtag.toml");
    std::fs::write(
        &config,
        format!(
            "[demo]\nmodel = \"demo.dtag\"\nthesaurus = \"{}\"\n",
            ttl.display()
        ),
    )
    .unwrap();
    let config_arg = config.display().to_string();
    let mut server = Server::start_args(&["--config".into(), config_arg.clone()], Stdio::piped());
    let draft = std::fs::read_to_string("data/drafts/draft_01.txt").unwrap();
    let uris = |server: &Server| -> Vec<String> {
        server
            .suggest_form(&format!("text={}", form_encode(&draft)))
            .json()["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["uri"].as_str().unwrap().to_string())
            .collect()
    };
    let served = uris(&server);
    assert!(!served.is_empty());
    assert!(
        served
            .iter()
            .all(|u| u.starts_with("http://metadata.un.org/thesaurus/")),
        "{served:?}"
    );
    // As `dtag suggest --project` names them.
    let by_cli = Command::new(DTAG)
        .args(["suggest", "--project", "demo", "--config", &config_arg])
        .args(["--format", "json", "data/drafts/draft_01.txt"])
        .output()
        .unwrap();
    assert!(by_cli.status.success());
    let by_cli: Value = serde_json::from_slice(&by_cli.stdout).unwrap();
    let cli_uris: Vec<&str> = by_cli[0]["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["uri"].as_str().unwrap())
        .collect();
    assert_eq!(served, cli_uris);
    // A reload keeps the project's thesaurus.
    let status = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_for_health(&server, "model_reloads", 1);
    assert_eq!(uris(&server), served);
    server.sigterm();
    server.wait_exit(Duration::from_secs(15));

    // One rule for ids, with the file and line.
    for id in ["\".\"", "\"..\"", "\"a.b\"", "\"维和\""] {
        std::fs::write(
            &config,
            format!("[ok]\nmodel = \"demo.dtag\"\n\n[{id}]\nmodel = \"demo.dtag\"\n"),
        )
        .unwrap();
        let out = Command::new(DTAG)
            .args(["serve", "--config", &config_arg])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains("dtag.toml:4:"), "{id}: {stderr}");
        assert!(!stderr.contains("--model"), "{id}: {stderr}");
    }
}

#[test]
fn a_thesaurus_model_serves_concept_uris_and_learns_a_draft_it_did_not_suggest() {
    let thesaurus = "../shared/corpora/unbis_thesaurus/concepts.tsv";
    if !common::shared_or_skip(
        "a_thesaurus_model_serves_concept_uris_and_learns_a_draft_it_did_not_suggest",
        &[thesaurus],
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("un.dtag");
    train(&model, &["--thesaurus", thesaurus]);
    let draft = std::fs::read_to_string("data/drafts/draft_01.txt").unwrap();
    let suggest = |server: &Server, extra: &str| -> Value {
        let response = server.suggest_form(&format!("text={}{extra}", form_encode(&draft)));
        assert_eq!(response.status, 200);
        response.json()["results"].clone()
    };
    let unbis = "http://metadata.un.org/thesaurus/";

    // Served read-only: UNBIS URIs and Chinese labels; learning refused.
    let (all, top3_before) = {
        let server = Server::start_model(&model, &[], Stdio::piped());
        let results = suggest(&server, "");
        for r in results.as_array().unwrap() {
            assert!(r["uri"].as_str().unwrap().starts_with(unbis), "{r}");
        }
        assert!(results
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["label"] == "维持和平行动"));
        let english = suggest(&server, "&language=en");
        assert!(english
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["label"] == "PEACEKEEPING OPERATIONS"));
        assert_eq!(server.get("/v1/vocabs").status, 200);
        let body = learn_body(
            &draft,
            serde_json::json!([{"uri": format!("{unbis}1001030")}]),
            1,
        );
        server
            .post("/v1/projects/demo/learn", "application/json", &body)
            .assert_problem(403);
        let all = suggest(&server, "&limit=40&threshold=0");
        let top3: Vec<String> = all.as_array().unwrap()[..3]
            .iter()
            .map(|r| r["uri"].as_str().unwrap().to_string())
            .collect();
        (all, top3)
    };
    // A descriptor of the training corpus the draft is far from: ranked below the top 3.
    let corpus = std::fs::read_to_string("data/train.txt").unwrap();
    let trained: std::collections::BTreeSet<&str> = corpus
        .lines()
        .filter_map(|l| l.strip_prefix("%%%"))
        .flat_map(|h| h.split('|').map(str::trim).filter(|d| !d.is_empty()))
        .collect();
    let target = all
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|r| {
            let uri = r["uri"].as_str().unwrap().to_string();
            !top3_before.contains(&uri) && trained.contains(english_label_of(&model, &uri).as_str())
        })
        .expect("a trained descriptor outside the top 3")
        .clone();
    let target_uri = target["uri"].as_str().unwrap().to_string();

    // Learning: the draft labelled with it (by UNBIS URI and label), once: its neighbour in
    // the model is itself, and the correction shows at once.
    let server = Server::start_model(&model, &["--learn"], Stdio::piped());
    let vocabulary_size =
        |server: &Server| server.get("/v1/vocabs").json()["vocabs"][0]["size"].clone();
    let size_before = vocabulary_size(&server);
    let body = learn_body(
        &draft,
        serde_json::json!([{"uri": target_uri, "label": target["label"]}]),
        1,
    );
    let learned = server.post("/v1/projects/demo/learn", "application/json", &body);
    assert_eq!(
        learned.status,
        204,
        "{}",
        String::from_utf8_lossy(&learned.body)
    );
    let after = suggest(&server, "&limit=3");
    let top3_after: Vec<&str> = after
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert!(
        top3_after.contains(&target_uri.as_str()),
        "{target_uri} not in the top 3 after learning: {after}"
    );
    assert_eq!(server.get("/healthz").json()["learned_documents"], 1);
    // The thesaurus is carried over whole.
    assert_eq!(vocabulary_size(&server), size_before);
    drop(server);
    // Written to the model file: a new server has learned it too.
    let restarted = Server::start_model(&model, &[], Stdio::piped());
    let again = suggest(&restarted, "&limit=3");
    assert!(again
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["uri"] == target_uri.as_str()));
}

/// The model's name of the concept `uri` (its English label), through `dtag suggest`.
fn english_label_of(model: &Path, uri: &str) -> String {
    let out = Command::new(DTAG)
        .arg("suggest")
        .arg("--model")
        .arg(model)
        .args(["--limit", "1000", "--threshold", "0", "--format", "json"])
        .arg("data/drafts/draft_01.txt")
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    json[0]["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["uri"] == uri)
        .map(|s| s["descriptor"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

#[test]
fn learning_rejects_malformed_documents_and_counts_what_it_learns() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("demo.dtag");
    std::fs::copy(demo_model(), &model).unwrap();
    let server = Server::start_model(&model, &["--learn"], Stdio::piped());
    let json = "application/json";
    for (body, status) in [
        (&br#"{"documents":[]}"#[..], 400),
        (br#"[{"text":"a"}]"#, 400),
        (br#"[{"text":"a","subjects":[]}]"#, 400),
        (br#"[{"text":"a","subjects":[{"notation":"1"}]}]"#, 400),
        (
            b"[{\"text\":\"a\",\"subjects\":[{\"label\":\"A\\u202eB\"}]}]",
            400,
        ),
        (b"[", 400),
    ] {
        server
            .post("/v1/projects/demo/learn", json, body)
            .assert_problem(status);
    }
    server
        .post("/v1/projects/demo/learn", "text/plain", b"[]")
        .assert_problem(415);
    let before = std::fs::read(&model).unwrap();
    // Nothing to learn is a success that changes nothing.
    assert_eq!(
        server.post("/v1/projects/demo/learn", json, b"[]").status,
        204
    );
    assert_eq!(std::fs::read(&model).unwrap(), before);
    // Subjects by label and by the URIs this server gives descriptors, in three requests.
    let draft = std::fs::read_to_string("data/drafts/draft_02.txt").unwrap();
    for (subjects, copies) in [
        (serde_json::json!([{"label": "CLIMATE CHANGE"}]), 3),
        (
            serde_json::json!([{"uri": "urn:dtag:descriptor:FOOD%20SECURITY"}]),
            2,
        ),
        (serde_json::json!([{"label": "WATER"}]), 4),
    ] {
        let response = server.post(
            "/v1/projects/demo/learn",
            json,
            &learn_body(&draft, subjects, copies),
        );
        assert_eq!(response.status, 204);
    }
    // One text: learned once, then its descriptors corrected twice (copies count once).
    let health = server.get("/healthz").json();
    assert_eq!(health["learned_documents"], 1);
    assert_eq!(health["learn_queued"], 0);
    assert_ne!(std::fs::read(&model).unwrap(), before);
    // A descriptor new to the model (the last correction's) joins its vocabulary.
    assert_eq!(server.get("/v1/vocabs").json()["vocabs"][0]["size"], 18);
}

#[test]
fn a_model_file_replaced_on_disk_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("demo.dtag");
    std::fs::copy(demo_model(), &model).unwrap();
    let server = Server::start_model(&model, &[], Stdio::piped());
    let draft = std::fs::read_to_string("data/drafts/draft_01.txt").unwrap();
    let scores = |server: &Server| {
        api_suggestions(
            &server
                .suggest_form(&format!("text={}&threshold=0", form_encode(&draft)))
                .json()["results"],
        )
    };
    let before = scores(&server);
    // Replaced as `train` replaces a model: atomically, by a rename.
    let other = dir.path().join("other.dtag");
    train(&other, &["--c", "1", "--no-ensemble"]);
    std::fs::rename(&other, &model).unwrap();
    wait_for_health(&server, "model_reloads", 1);
    let after = scores(&server);
    assert_ne!(before, after);
    assert_eq!(
        after,
        api_suggestions(&serde_json::json!(cli_suggestions_of(&model)))
    );
    // A file that is not a model keeps the model served; the log says why.
    std::fs::write(&model, b"not a model").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(scores(&server), after);
    // SIGHUP reads the file again even when it did not change.
    std::fs::copy(demo_model(), &model).unwrap();
    let reloads = wait_for_health(&server, "model_reloads", 2)["model_reloads"]
        .as_u64()
        .unwrap();
    assert_eq!(scores(&server), before);
    let status = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_for_health(&server, "model_reloads", reloads + 1);
    assert_eq!(scores(&server), before);
}

/// `dtag suggest --threshold 0 --format json` of draft 1 as API results.
fn cli_suggestions_of(model: &Path) -> Value {
    let out = Command::new(DTAG)
        .arg("suggest")
        .arg("--model")
        .arg(model)
        .args([
            "--threshold",
            "0",
            "--format",
            "json",
            "data/drafts/draft_01.txt",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    Value::Array(
        json[0]["suggestions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| serde_json::json!({"label": s["descriptor"], "score": s["score"]}))
            .collect(),
    )
}

#[test]
fn a_full_learning_queue_answers_503_and_loses_no_accepted_document() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("demo.dtag");
    std::fs::copy(demo_model(), &model).unwrap();
    let server = Server::start_model(&model, &["--learn", "--learn-queue", "1"], Stdio::piped());
    let draft = std::fs::read_to_string("data/drafts/draft_03.txt").unwrap();
    let body = learn_body(&draft, serde_json::json!([{"label": "SANCTIONS"}]), 300);
    let barrier = std::sync::Barrier::new(12);
    let statuses: Vec<(u16, Option<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..12)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let r = server.post("/v1/projects/demo/learn", "application/json", &body);
                    if r.status == 503 {
                        let problem = r.assert_problem(503);
                        assert!(problem["detail"].as_str().unwrap().contains("queue"));
                    }
                    (r.status, r.header("retry-after").map(str::to_string))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let learned = statuses.iter().filter(|(s, _)| *s == 204).count() as u64;
    let refused = statuses.iter().filter(|(s, _)| *s == 503).count();
    assert_eq!(learned as usize + refused, 12, "{statuses:?}");
    assert!(learned >= 1 && refused >= 1, "{statuses:?}");
    assert!(statuses
        .iter()
        .all(|(s, retry)| *s == 204 || retry.as_deref() == Some("1")));
    // Every request held the same document: it counts once.
    let health = server.get("/healthz").json();
    assert_eq!(health["learned_documents"], learned.min(1));
    assert_eq!(health["learn_queued"], 0);
}

#[test]
fn one_corrected_document_teaches_its_draft_and_nothing_else_and_is_logged_once() {
    let dir = tempfile::tempdir().unwrap();
    let (base, model, log) = (
        dir.path().join("base.dtag"),
        dir.path().join("demo.dtag"),
        dir.path().join("learned.jsonl"),
    );
    std::fs::copy(demo_model(), &base).unwrap();
    std::fs::copy(&base, &model).unwrap();
    let server = Server::start_model(
        &model,
        &["--learn", "--learn-log", log.to_str().unwrap()],
        Stdio::piped(),
    );
    let json = "application/json";
    // Empty, blank and unknown texts teach nothing: 400, naming the document.
    for text in ["", "   ", "lorem ipsum dolor"] {
        let body = learn_body(text, serde_json::json!([{"label": "SPAM"}]), 1);
        let problem = server
            .post("/v1/projects/demo/learn", json, &body)
            .assert_problem(400);
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("learn request document:1"),
            "{problem}"
        );
    }
    let top3 = |server: &Server, draft: &str| -> Vec<String> {
        let text = std::fs::read_to_string(draft).unwrap();
        server
            .suggest_form(&format!("text={}&limit=3", form_encode(&text)))
            .json()["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["label"].as_str().unwrap().to_string())
            .collect()
    };
    let other_before = top3(&server, "data/drafts/draft_01.txt");
    // One correction: draft 2 is about WATER, a descriptor new to the model.
    let draft = std::fs::read_to_string("data/drafts/draft_02.txt").unwrap();
    let body = learn_body(&draft, serde_json::json!([{"label": "WATER"}]), 1);
    for _retry in 0..2 {
        assert_eq!(
            server.post("/v1/projects/demo/learn", json, &body).status,
            204
        );
    }
    assert!(top3(&server, "data/drafts/draft_02.txt").contains(&"WATER".to_string()));
    assert_eq!(top3(&server, "data/drafts/draft_01.txt"), other_before);
    let health = server.get("/healthz").json();
    assert_eq!(
        health["learned_documents"], 1,
        "the retry counts once: {health}"
    );
    assert_eq!(health["learn_log"], true);
    assert_eq!(health["updates_kept_out"], 0);
    assert!(health["learn_guard"].as_str().unwrap().contains("kept out"));
    drop(server);
    // The log: both requests, the second found nothing new; replayed, the served model.
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let verdicts: Vec<&str> = lines
        .iter()
        .filter(|l| l["kind"] == "batch")
        .map(|l| l["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["applied", "nothing_new"]);
    assert_eq!(lines[0]["subjects"][0]["descriptor"], "WATER");
    assert_eq!(lines[0]["client"], "127.0.0.1");
    let replayed = dir.path().join("replayed.dtag");
    let status = Command::new(DTAG)
        .args(["-q", "learn", "--model"])
        .arg(&base)
        .arg("--replay")
        .arg(&log)
        .args(["--log-project", "demo", "--output"])
        .arg(&replayed)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        std::fs::read(&replayed).unwrap(),
        std::fs::read(&model).unwrap()
    );
}

#[test]
fn a_restart_applies_the_logged_batches_the_model_file_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let (model, log) = (
        dir.path().join("demo.dtag"),
        dir.path().join("learned.jsonl"),
    );
    std::fs::copy(demo_model(), &model).unwrap();
    let draft = std::fs::read_to_string("data/drafts/draft_02.txt").unwrap();
    // A log whose last batch never reached the model file (kill -9 after the log was synced).
    let line = serde_json::json!({
        "kind": "document", "time": "2026-12-07T00:00:00Z", "project": "demo", "batch": 1,
        "text_hash": dtag::digest::text_digest(&draft), "text": draft,
        "subjects": [{"descriptor": "WATER", "label": "WATER"}],
    });
    std::fs::write(&log, format!("{line}\n")).unwrap();
    let before = std::fs::read(&model).unwrap();
    let server = Server::start_model(
        &model,
        &["--learn", "--learn-log", log.to_str().unwrap()],
        Stdio::piped(),
    );
    assert_ne!(std::fs::read(&model).unwrap(), before);
    let text = form_encode(&draft);
    let results = server.suggest_form(&format!("text={text}&limit=3")).json()["results"].clone();
    assert!(
        results
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["label"] == "WATER"),
        "{results}"
    );
    drop(server);
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.contains("\"verdict\":\"applied\""), "{log_text}");
}

/// A Word document whose body holds `text`'s lines as paragraphs.
fn docx_of(text: &str) -> Vec<u8> {
    let paragraphs: String = text
        .lines()
        .map(|l| {
            let escaped = l.replace('&', "&amp;").replace('<', "&lt;");
            format!("<w:p><w:r><w:t xml:space=\"preserve\">{escaped}</w:t></w:r></w:p>")
        })
        .collect();
    let xml = format!(
        "<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\
         <w:body>{paragraphs}</w:body></w:document>"
    );
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    writer
        .start_file(
            "word/document.xml",
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated),
        )
        .unwrap();
    writer.write_all(xml.as_bytes()).unwrap();
    writer.finish().unwrap().into_inner()
}

#[test]
fn the_desk_completes_explains_reads_word_drafts_and_logs_rejections() {
    let dir = tempfile::tempdir().unwrap();
    let (model, log) = (
        dir.path().join("demo.dtag"),
        dir.path().join("learned.jsonl"),
    );
    std::fs::copy(demo_model(), &model).unwrap();
    let server = Server::start_model(
        &model,
        &["--learn", "--learn-log", log.to_str().unwrap()],
        Stdio::piped(),
    );
    // Completion: the model's descriptors (no thesaurus here), whole labels first.
    let found = server
        .get("/v1/projects/demo/complete?q=child&limit=3")
        .json();
    let first = &found["results"][0];
    assert_eq!(first["descriptor"], "CHILDREN", "{found}");
    assert_eq!(first["uri"], "urn:dtag:descriptor:CHILDREN");
    assert_eq!(first["known"], true);
    assert!(found["results"].as_array().unwrap().len() <= 3);
    let peace = server.get("/v1/projects/demo/complete?q=keeping").json();
    assert_eq!(peace["results"][0]["descriptor"], "PEACEKEEPING OPERATIONS");
    for bad in [
        "/v1/projects/demo/complete",
        "/v1/projects/demo/complete?q=a&limit=0",
        "/v1/projects/demo/complete?q=a&limit=51",
        "/v1/projects/demo/complete?q=a&q=b",
        "/v1/projects/demo/complete?q=a&x=1",
        &format!("/v1/projects/demo/complete?q={}", "a".repeat(101)),
    ] {
        server.get(bad).assert_problem(400);
    }
    server
        .get("/v1/projects/nope/complete?q=a")
        .assert_problem(404);
    server
        .post("/v1/projects/demo/complete?q=a", "text/plain", b"")
        .assert_problem(405);

    // Explain: suggest's results, with the descriptor, its English label and the reasons.
    let draft = std::fs::read_to_string("data/drafts/draft_01.txt").unwrap();
    let form = format!("text={}&limit=5&threshold=0.05", form_encode(&draft));
    let suggested = server.suggest_form(&form).json();
    let explained = server
        .post(
            "/v1/projects/demo/explain",
            "application/x-www-form-urlencoded",
            form.as_bytes(),
        )
        .json();
    let results = explained["results"].as_array().unwrap();
    assert_eq!(
        api_suggestions(&suggested["results"]),
        api_suggestions(&explained["results"]),
        "{explained}"
    );
    for r in results {
        assert_eq!(r["descriptor"], r["label"]);
        assert!(!r["explanation"]["positive"].as_array().unwrap().is_empty());
    }

    // A Word draft's text, as the page uploads it; bad ones are refused naming the file.
    let docx = docx_of(&draft);
    let read = server
        .post(
            "/v1/extract-text?name=draft%2001.docx",
            "application/octet-stream",
            &docx,
        )
        .json();
    assert_eq!(read["name"], "draft 01.docx");
    assert_eq!(read["text"].as_str().unwrap(), draft.trim_end());
    let text = server
        .post(
            "/v1/extract-text?name=a.txt",
            "text/plain",
            draft.as_bytes(),
        )
        .json();
    assert_eq!(text["text"].as_str().unwrap(), draft);
    let problem = server
        .post(
            "/v1/extract-text?name=broken.docx",
            "application/octet-stream",
            &docx[..docx.len() / 2],
        )
        .assert_problem(400);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("broken.docx: "),
        "{problem}"
    );
    server
        .post("/v1/extract-text?name=a.txt", "text/plain", b"\xff\xfe")
        .assert_problem(400);
    server
        .post("/v1/extract-text?name=a.pdf", "application/pdf", b"%PDF")
        .assert_problem(415);
    server
        .post("/v1/extract-text", "text/plain", b"x")
        .assert_problem(400);

    // Saving from the desk: the rejected subjects go to the learning log, not the model.
    let body = serde_json::json!([{
        "text": draft,
        "subjects": [{"uri": "urn:dtag:descriptor:CHILDREN", "label": "CHILDREN"}, {"label": "WATER"}],
        "rejected": [{"uri": "urn:dtag:descriptor:AFRICA", "label": "AFRICA"}],
    }]);
    let answer = server.post(
        "/v1/projects/demo/learn",
        "application/json",
        body.to_string().as_bytes(),
    );
    assert_eq!(answer.status, 204);
    let logged: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &Value| e["kind"] == "document")
        .collect();
    assert_eq!(logged.len(), 1);
    let names = |key: &str| -> Vec<String> {
        logged[0][key]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["descriptor"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("subjects"), ["CHILDREN", "WATER"]);
    assert_eq!(names("rejected"), ["AFRICA"]);
    // The completion knows the descriptor the model learned.
    let water = server.get("/v1/projects/demo/complete?q=water").json();
    assert_eq!(water["results"][0]["descriptor"], "WATER", "{water}");
    // A rejected subject is checked like a subject.
    let bad =
        serde_json::json!([{"text": draft, "subjects": [{"label": "WATER"}], "rejected": [{}]}]);
    let problem = server
        .post(
            "/v1/projects/demo/learn",
            "application/json",
            bad.to_string().as_bytes(),
        )
        .assert_problem(400);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("rejected subject 1"),
        "{problem}"
    );
}
