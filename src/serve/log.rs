//! The server's counters and its stderr log, kept off the request path.
//!
//! Writing to stderr can block for as long as whoever reads it pleases (a full pipe nobody
//! reads blocks forever) and fails when the reader is gone; `eprintln!` then blocks the async
//! threads or panics inside a request. So requests never write: they bump [`Stats`] counters,
//! and a dedicated thread ([`Log`]) turns the counters into at most one summary line per
//! interval, plus the few messages worth a line of their own (a 500, a failed accept), which
//! go through a bounded queue that drops (and counts) what does not fit. If stderr blocks, only
//! that thread waits; if it is broken, lines are lost, never requests.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Messages waiting for the log thread; more are dropped and counted.
const QUEUE: usize = 64;

/// What the server counts. Every refused or cut-off request or connection is counted exactly
/// once, under the reason it was refused for.
#[derive(Debug, Default)]
pub struct Stats {
    /// Responses produced by the request handler (of any status).
    pub served: AtomicU64,
    /// 503: `--max-in-flight` requests were already being worked on.
    pub refused_in_flight: AtomicU64,
    /// 503: the request bodies held in memory would exceed the body memory budget.
    pub refused_body_memory: AtomicU64,
    /// Connections refused because `--max-connections` were open.
    pub refused_connections: AtomicU64,
    /// Connections refused because their client had `--max-connections-per-client` open.
    pub refused_per_client: AtomicU64,
    /// Refused connections closed without an answer because too many refusals were already
    /// being written (also counted under their reason above).
    pub refused_unanswered: AtomicU64,
    /// 408: a body did not arrive within `--body-timeout`.
    pub body_timeouts: AtomicU64,
    /// Connections closed because the request headers did not arrive within `--header-timeout`.
    pub header_timeouts: AtomicU64,
    /// Connections closed after `--idle-timeout` without a byte moving.
    pub idle_closed: AtomicU64,
    /// 500 answers (a bug).
    pub internal_errors: AtomicU64,
    /// Failed `accept` calls (out of file descriptors and the like).
    pub accept_errors: AtomicU64,
    /// Log messages dropped because the log thread was behind.
    pub dropped_messages: AtomicU64,
    /// Clients refused at their limit since the last summary, each named once per interval
    /// (at most [`NAMED_CLIENTS`]; more are only counted).
    named_clients: std::sync::Mutex<std::collections::HashSet<std::net::IpAddr>>,
}

/// Clients named in the log per interval, at most.
pub const NAMED_CLIENTS: usize = 256;

/// A copy of the counters at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub served: u64,
    pub refused_in_flight: u64,
    pub refused_body_memory: u64,
    pub refused_connections: u64,
    pub refused_per_client: u64,
    pub refused_unanswered: u64,
    pub body_timeouts: u64,
    pub header_timeouts: u64,
    pub idle_closed: u64,
    pub internal_errors: u64,
    pub accept_errors: u64,
    pub dropped_messages: u64,
}

impl Stats {
    /// Adds one to `counter`; returns the new count.
    pub fn count(counter: &AtomicU64) -> u64 {
        counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Whether the `n`th occurrence of something gets a line of its own: the 1st, 2nd, 4th,
    /// 8th… so a condition that repeats (out of file descriptors, a bug hit by every request)
    /// shows its message early but writes only about log2(n) lines; the summaries count them.
    pub fn worth_a_line(n: u64) -> bool {
        n.is_power_of_two()
    }

    /// Whether a refusal of `client` deserves a line naming it: its first in this interval
    /// (so a client refused again and again is named once per interval, and many clients at
    /// most [`NAMED_CLIENTS`] times).
    pub fn first_refusal_of(&self, client: std::net::IpAddr) -> bool {
        let mut named = self.named_clients.lock().unwrap_or_else(|e| e.into_inner());
        named.len() < NAMED_CLIENTS && named.insert(client)
    }

    fn new_interval(&self) {
        self.named_clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn snapshot(&self) -> Snapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            served: get(&self.served),
            refused_in_flight: get(&self.refused_in_flight),
            refused_body_memory: get(&self.refused_body_memory),
            refused_connections: get(&self.refused_connections),
            refused_per_client: get(&self.refused_per_client),
            refused_unanswered: get(&self.refused_unanswered),
            body_timeouts: get(&self.body_timeouts),
            header_timeouts: get(&self.header_timeouts),
            idle_closed: get(&self.idle_closed),
            internal_errors: get(&self.internal_errors),
            accept_errors: get(&self.accept_errors),
            dropped_messages: get(&self.dropped_messages),
        }
    }
}

impl Snapshot {
    /// Requests and connections refused, for every reason.
    pub fn refused(&self) -> u64 {
        self.refused_in_flight
            + self.refused_body_memory
            + self.refused_connections
            + self.refused_per_client
    }

    fn since(&self, earlier: &Snapshot) -> Snapshot {
        Snapshot {
            served: self.served - earlier.served,
            refused_in_flight: self.refused_in_flight - earlier.refused_in_flight,
            refused_body_memory: self.refused_body_memory - earlier.refused_body_memory,
            refused_connections: self.refused_connections - earlier.refused_connections,
            refused_per_client: self.refused_per_client - earlier.refused_per_client,
            refused_unanswered: self.refused_unanswered - earlier.refused_unanswered,
            body_timeouts: self.body_timeouts - earlier.body_timeouts,
            header_timeouts: self.header_timeouts - earlier.header_timeouts,
            idle_closed: self.idle_closed - earlier.idle_closed,
            internal_errors: self.internal_errors - earlier.internal_errors,
            accept_errors: self.accept_errors - earlier.accept_errors,
            dropped_messages: self.dropped_messages - earlier.dropped_messages,
        }
    }

    /// The refusals and failures, as `N what, M what` (empty when there were none). Closed idle
    /// connections are normal keep-alive housekeeping and are not mentioned here.
    pub fn troubles(&self) -> String {
        let mut out = String::new();
        let mut item = |n: u64, what: &str| {
            if n > 0 {
                if !out.is_empty() {
                    out.push_str(", ");
                }
                let _ = write!(out, "{n} {what}");
            }
        };
        item(self.refused_in_flight, "refused at --max-in-flight (503)");
        item(
            self.refused_body_memory,
            "refused at the body memory budget (503)",
        );
        item(
            self.refused_connections,
            "connections refused at --max-connections (503)",
        );
        item(
            self.refused_per_client,
            "connections refused at --max-connections-per-client (429)",
        );
        item(
            self.refused_unanswered,
            "of those refused connections closed without an answer",
        );
        item(self.body_timeouts, "body timeouts (408)");
        item(self.header_timeouts, "header timeouts");
        item(self.internal_errors, "internal errors (500)");
        item(self.accept_errors, "failed accepts");
        item(self.dropped_messages, "log messages dropped");
        out
    }

    /// The line printed when the server stops.
    pub fn final_line(&self) -> String {
        let mut line = format!(
            "dtag serve: stopped after {} requests ({} refused: {} at --max-in-flight, {} at the \
body memory budget, {} connections at --max-connections, {} at --max-connections-per-client); \
{} idle connections closed",
            self.served,
            self.refused(),
            self.refused_in_flight,
            self.refused_body_memory,
            self.refused_connections,
            self.refused_per_client,
            self.idle_closed,
        );
        let mut other = Snapshot {
            // Already spelt out above.
            refused_in_flight: 0,
            refused_body_memory: 0,
            refused_connections: 0,
            refused_per_client: 0,
            ..*self
        }
        .troubles();
        if !other.is_empty() {
            other.insert_str(0, "; ");
            line.push_str(&other);
        }
        line
    }
}

enum Message {
    Line(String),
    /// Write the final line, then answer on the channel and stop.
    Finish(String, SyncSender<()>),
}

/// Longest line written: anything longer (a learn request's megabyte of a label, named among
/// its new descriptors) is cut, saying how long it was.
pub const MAX_LINE_BYTES: usize = 2048;
/// Longest value [`clip`] keeps whole.
pub const MAX_VALUE_BYTES: usize = 200;

/// `value`, or its first [`MAX_VALUE_BYTES`] (on a character boundary) followed by
/// `…(N bytes)`: what a line says of a value that comes from a client.
pub fn clip(value: &str) -> std::borrow::Cow<'_, str> {
    if value.len() <= MAX_VALUE_BYTES {
        return std::borrow::Cow::Borrowed(value);
    }
    let cut = floor_char_boundary(value, MAX_VALUE_BYTES);
    std::borrow::Cow::Owned(format!("{}…({} bytes)", &value[..cut], value.len()))
}

/// `line` cut to [`MAX_LINE_BYTES`], saying how long it was.
pub fn bounded_line(line: String) -> String {
    if line.len() <= MAX_LINE_BYTES {
        return line;
    }
    let cut = floor_char_boundary(&line, MAX_LINE_BYTES);
    format!("{}…(line of {} bytes cut)", &line[..cut], line.len())
}

fn floor_char_boundary(text: &str, at: usize) -> usize {
    (0..=at.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

/// The way to queue a line for the log thread; cheap to clone into every task.
#[derive(Clone)]
pub struct Logger {
    stats: Arc<Stats>,
    queue: SyncSender<Message>,
}

impl Logger {
    /// Queues one line for stderr; never waits. When the queue is full the line is dropped
    /// and counted (the next summary says how many).
    pub fn line(&self, line: String) {
        let line = bounded_line(line);
        if self.queue.try_send(Message::Line(line)).is_err() {
            Stats::count(&self.stats.dropped_messages);
        }
    }
}

/// The log thread.
pub struct Log {
    logger: Logger,
    thread: Option<JoinHandle<()>>,
}

impl Log {
    /// Starts the log thread, which writes a summary of what went wrong at most once per
    /// `interval` (nothing when nothing did).
    pub fn start(stats: Arc<Stats>, interval: Duration) -> std::io::Result<Log> {
        let (queue, messages) = mpsc::sync_channel(QUEUE);
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("dtag-serve-log".into())
            .spawn(move || log_thread(&thread_stats, &messages, interval))?;
        Ok(Log {
            logger: Logger { stats, queue },
            thread: Some(thread),
        })
    }

    pub fn logger(&self) -> Logger {
        self.logger.clone()
    }

    /// Writes the final line and stops the thread, waiting at most `patience` in all for
    /// stderr to take it: a stderr nobody reads must not keep the process from exiting.
    pub fn finish(mut self, patience: Duration) {
        let deadline = Instant::now() + patience;
        let line = self.logger.stats.snapshot().final_line();
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        let mut message = Message::Finish(line, done_tx);
        // The queue may be full of lines the thread cannot write yet: retry until the deadline
        // rather than block on it.
        let queued = loop {
            match self.logger.queue.try_send(message) {
                Ok(()) => break true,
                Err(TrySendError::Disconnected(_)) => break false,
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    message = back;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(TrySendError::Full(_)) => break false,
            }
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if queued && done_rx.recv_timeout(left).is_ok() {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
        // Otherwise the thread is stuck in a write; it is detached and ends with the process.
    }
}

fn log_thread(stats: &Stats, messages: &Receiver<Message>, interval: Duration) {
    let mut reported = stats.snapshot();
    let mut stderr = std::io::stderr();
    // Write errors are ignored on purpose: with stderr gone there is nobody to tell.
    let mut write = |line: &str| {
        let _ = writeln!(stderr, "{line}");
    };
    let mut next_summary = Instant::now() + interval;
    loop {
        let wait = next_summary.saturating_duration_since(Instant::now());
        match messages.recv_timeout(wait) {
            Ok(Message::Line(line)) => write(&line),
            Ok(Message::Finish(line, done)) => {
                write(&line);
                let _ = done.send(());
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                let now = stats.snapshot();
                let troubles = now.since(&reported).troubles();
                if !troubles.is_empty() {
                    write(&format!(
                        "dtag serve: in the last {}s: {troubles}",
                        interval.as_secs()
                    ));
                }
                reported = now;
                stats.new_interval();
                next_summary = Instant::now() + interval;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_name_only_what_happened() {
        let stats = Stats::default();
        assert_eq!(stats.snapshot().troubles(), "");
        for _ in 0..3 {
            Stats::count(&stats.refused_in_flight);
        }
        Stats::count(&stats.refused_per_client);
        Stats::count(&stats.idle_closed);
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.refused(), 4);
        assert_eq!(
            snapshot.troubles(),
            "3 refused at --max-in-flight (503), \
1 connections refused at --max-connections-per-client (429)"
        );
        let line = snapshot.final_line();
        assert!(line.contains("(4 refused: 3 at --max-in-flight"), "{line}");
        assert!(line.contains("1 idle connections closed"), "{line}");
        assert!(!line.contains("; 3 refused"), "{line}");
        let lines = (1..=1000).filter(|&n| Stats::worth_a_line(n)).count();
        assert_eq!(lines, 10);
    }

    #[test]
    fn long_values_and_lines_are_cut_saying_their_length() {
        assert_eq!(clip("short"), "short");
        let label = "维".repeat(400_000);
        let clipped = clip(&label);
        assert!(clipped.len() < MAX_VALUE_BYTES + 32, "{}", clipped.len());
        assert!(clipped.ends_with("…(1200000 bytes)"), "{clipped}");
        let line = bounded_line(format!("dtag serve: new descriptors: {label}"));
        assert!(line.len() <= MAX_LINE_BYTES + 40, "{}", line.len());
        assert!(
            line.ends_with("…(line of 1200029 bytes cut)"),
            "{}",
            &line[line.len() - 40..]
        );
        assert_eq!(bounded_line("ok".into()), "ok");
        // Through the logger too.
        let stats = Arc::new(Stats::default());
        let (queue, messages) = mpsc::sync_channel(QUEUE);
        Logger { stats, queue }.line("x".repeat(1 << 20));
        match messages.try_recv() {
            Ok(Message::Line(line)) => assert!(line.len() < MAX_LINE_BYTES + 64),
            _ => panic!("no line"),
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let stats = Arc::new(Stats::default());
        let (queue, _messages) = mpsc::sync_channel(QUEUE);
        // No thread reads the queue: the producer must still never block.
        let log = Logger {
            stats: stats.clone(),
            queue,
        };
        for i in 0..QUEUE + 10 {
            log.line(format!("line {i}"));
        }
        assert_eq!(stats.snapshot().dropped_messages, 10);
    }
}
