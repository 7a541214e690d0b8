//! Function logs: capturing an environment's output, the platform's START/END/REPORT lines and
//! the per-invocation tail. Lines go to the log store ([`::logs::Logs`]) in batches, in the
//! function's log group and the environment's stream.

use std::sync::{Arc, Mutex};

use model::scope::Scope;
use tokio::net::unix::pipe;

/// Bytes of one invocation's log kept for `LogType=Tail` (AWS returns the last 4 KB).
pub const TAIL_BYTES: usize = 4096;
/// Longest line stored; longer output is split.
const LINE_BYTES_MAX: usize = 256 * 1024;
/// Lines a sink holds before handing them to the store even in the middle of an invocation.
const PENDING_LINES_MAX: usize = 256;
/// Bytes a sink holds before handing them to the store even in the middle of an invocation.
const PENDING_BYTES_MAX: usize = 256 * 1024;

/// Where one environment's output goes.
pub(crate) struct Sink {
    store: ::logs::Logs,
    scope: Scope,
    group: String,
    stream: String,
    /// The running invocation's log, when one runs (bounded to the tail).
    pub invocation: Option<Vec<u8>>,
    /// What the runtime printed during its init phase, kept until it is ready (bounded to the
    /// tail): it goes to the stream before the first START, and is shown again in the first
    /// invocation's log when the init fails.
    pub init: Option<Vec<u8>>,
    partial: Vec<u8>,
    /// Lines not yet handed to the store: they go at the end of each invocation (the REPORT
    /// line) or when the bounds above are reached, so an invocation costs one append.
    pending: Vec<(i64, String)>,
    pending_bytes: usize,
    /// The buffer the environment's output is read through (empty until the first read).
    read_buf: Box<[u8]>,
}

impl Sink {
    pub(crate) fn new(store: ::logs::Logs, scope: Scope, group: String, stream: String) -> Sink {
        Sink {
            store,
            scope,
            group,
            stream,
            invocation: None,
            init: None,
            partial: Vec::new(),
            pending: Vec::new(),
            pending_bytes: 0,
            read_buf: Box::default(),
        }
    }

    /// Output of the function (whole lines go to the store).
    pub(crate) fn output(&mut self, bytes: &[u8]) {
        if let Some(buf) = self.invocation.as_mut().or(self.init.as_mut()) {
            buf.extend_from_slice(bytes);
            keep_tail(buf);
        }
        self.partial.extend_from_slice(bytes);
        while let Some(i) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            self.store_line(String::from_utf8_lossy(&line[..line.len() - 1]).into_owned());
        }
        if self.partial.len() > LINE_BYTES_MAX {
            let line = std::mem::take(&mut self.partial);
            self.store_line(String::from_utf8_lossy(&line).into_owned());
        }
    }

    fn store_line(&mut self, line: String) {
        self.pending_bytes += line.len();
        self.pending.push((stdx::time::now_ms(), line));
        if self.pending.len() >= PENDING_LINES_MAX || self.pending_bytes >= PENDING_BYTES_MAX {
            self.hand_over();
        }
    }

    /// Hands the pending lines to the store (which never blocks).
    pub(crate) fn hand_over(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let events = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        self.store.append(self.scope.account.as_str(), self.scope.region.as_str(), &self.group, &self.stream, events);
    }

    /// Opens an invocation's log (the tail); a partial line printed before it belongs to what
    /// came before.
    pub(crate) fn open_invocation(&mut self) {
        self.finish_partial();
        self.invocation = Some(Vec::new());
    }

    /// Ends a partial line of the function's, so that the next line does not run into it.
    pub(crate) fn finish_partial(&mut self) {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.store_line(String::from_utf8_lossy(&rest).into_owned());
            if let Some(buf) = self.invocation.as_mut().or(self.init.as_mut()) {
                buf.push(b'\n');
            }
        }
    }

    /// A line of the platform's own (START, END, REPORT, errors).
    pub(crate) fn platform(&mut self, line: String) {
        self.finish_partial();
        if let Some(inv) = &mut self.invocation {
            inv.extend_from_slice(line.as_bytes());
            inv.push(b'\n');
            keep_tail(inv);
        }
        let report = line.starts_with("REPORT ");
        self.store_line(line);
        if report {
            self.hand_over();
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.store_line(String::from_utf8_lossy(&rest).into_owned());
        }
        self.hand_over();
    }
}

fn keep_tail(buf: &mut Vec<u8>) {
    if buf.len() > 4 * TAIL_BYTES {
        let cut = buf.len() - TAIL_BYTES;
        buf.drain(..cut);
    }
}

/// The last [`TAIL_BYTES`] of an invocation's log.
pub(crate) fn tail(log: &[u8]) -> Vec<u8> {
    log[log.len().saturating_sub(TAIL_BYTES)..].to_vec()
}

/// Reads an environment's output pipe into its [`Sink`] until the pipe closes.
///
/// Every read of the pipe happens with the sink locked, by the capture task when the pipe is
/// readable or by [`Capture::flush`], so output reaches the sink in order and a flush needs no
/// round trip to the task (it runs once per invocation, before END).
pub(crate) struct Capture {
    pipe: Arc<pipe::Receiver>,
    sink: Arc<Mutex<Sink>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Bytes read from the pipe at once.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// Moves what the pipe holds now into the sink (the caller holds the sink's lock); `false` once
/// the pipe is closed. Reads through the sink's own buffer, made once per environment (a
/// zeroed 16 KiB buffer per invocation's flush showed in the warm path's profile).
fn drain(pipe: &pipe::Receiver, sink: &mut Sink) -> bool {
    let mut buf = std::mem::take(&mut sink.read_buf);
    if buf.is_empty() {
        buf = vec![0u8; READ_CHUNK_BYTES].into_boxed_slice();
    }
    let open = loop {
        match pipe.try_read(&mut buf) {
            Ok(0) => break false,
            Ok(n) => sink.output(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break true,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break false,
        }
    };
    sink.read_buf = buf;
    open
}

impl Capture {
    pub(crate) fn start(pipe: pipe::Receiver, sink: Arc<Mutex<Sink>>) -> Capture {
        let pipe = Arc::new(pipe);
        let (reader, out) = (pipe.clone(), sink.clone());
        let task = tokio::spawn(async move {
            loop {
                if reader.readable().await.is_err() {
                    break;
                }
                let open = drain(&reader, &mut out.lock().unwrap_or_else(|e| e.into_inner()));
                if !open {
                    break;
                }
            }
        });
        Capture { pipe, sink, task }
    }

    /// Moves everything the environment wrote so far into the sink.
    pub(crate) async fn flush(&self) {
        drain(&self.pipe, &mut self.sink.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// `INIT_START Runtime Version: python:3.12.v1\tRuntime Version ARN: arn:aws:lambda:…`, the
/// first line of every environment's stream (Lambda's shape; fields separated by a tab).
pub(crate) fn init_start_line(runtime: &str, region: &str) -> String {
    format!(
        "INIT_START Runtime Version: {}\tRuntime Version ARN: {}",
        model::runtime::runtime_version(runtime),
        model::runtime::runtime_version_arn(region, runtime)
    )
}

/// `INIT_REPORT Init Duration: 12.34 ms\tPhase: init\tStatus: error\tError Type: …`, after an
/// init phase that failed (`status` is `error` or `timeout`).
pub(crate) fn init_report_line(duration_ms: f64, status: &str, error_type: Option<&str>) -> String {
    let mut s = format!("INIT_REPORT Init Duration: {duration_ms:.2} ms\tPhase: init\tStatus: {status}");
    if let Some(t) = error_type {
        s.push_str(&format!("\tError Type: {t}"));
    }
    s
}

/// `START RequestId: <id> Version: <version>`.
pub(crate) fn start_line(request_id: &str, version: &str) -> String {
    let mut s = String::with_capacity(36 + request_id.len() + version.len());
    s.push_str("START RequestId: ");
    s.push_str(request_id);
    s.push_str(" Version: ");
    s.push_str(version);
    s
}

pub(crate) fn end_line(request_id: &str) -> String {
    let mut s = String::with_capacity(16 + request_id.len());
    s.push_str("END RequestId: ");
    s.push_str(request_id);
    s
}

/// Appends `n` in decimal.
fn push_u64(s: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    s.push_str(std::str::from_utf8(&digits[i..]).expect("ASCII digits"));
}

/// Appends a non-negative number of milliseconds with two decimals (`12.30`), as `{:.2}` would
/// print it (rounded to the nearest hundredth).
fn push_ms_2dp(s: &mut String, ms: f64) {
    let hundredths = (ms.max(0.0) * 100.0).round();
    if !hundredths.is_finite() || hundredths >= 1e18 {
        s.push_str(&format!("{ms:.2}"));
        return;
    }
    let hundredths = hundredths as u64;
    push_u64(s, hundredths / 100);
    let frac = hundredths % 100;
    s.push('.');
    s.push(char::from(b'0' + (frac / 10) as u8));
    s.push(char::from(b'0' + (frac % 10) as u8));
}

/// `REPORT RequestId: … Duration: … Billed Duration: … Memory Size: … Max Memory Used: …`,
/// with `Init Duration` on a cold start. Fields are tab-separated, with a trailing tab.
pub(crate) fn report_line(
    request_id: &str,
    duration_ms: f64,
    memory_mb: u32,
    max_memory_used_mb: u64,
    init_duration_ms: Option<f64>,
) -> String {
    let billed = duration_ms.ceil().max(1.0) as u64;
    let mut s = String::with_capacity(160 + request_id.len());
    s.push_str("REPORT RequestId: ");
    s.push_str(request_id);
    s.push_str("\tDuration: ");
    push_ms_2dp(&mut s, duration_ms);
    s.push_str(" ms\tBilled Duration: ");
    push_u64(&mut s, billed);
    s.push_str(" ms\tMemory Size: ");
    push_u64(&mut s, u64::from(memory_mb));
    s.push_str(" MB\tMax Memory Used: ");
    push_u64(&mut s, max_memory_used_mb);
    s.push_str(" MB\t");
    if let Some(init) = init_duration_ms {
        s.push_str("Init Duration: ");
        push_ms_2dp(&mut s, init);
        s.push_str(" ms\t");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_line_has_lambdas_shape() {
        assert_eq!(
            report_line("r1", 1.234, 128, 35, Some(120.5)),
            "REPORT RequestId: r1\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 35 MB\tInit Duration: 120.50 ms\t"
        );
        assert_eq!(
            report_line("r1", 0.2, 256, 10, None),
            "REPORT RequestId: r1\tDuration: 0.20 ms\tBilled Duration: 1 ms\tMemory Size: 256 MB\tMax Memory Used: 10 MB\t"
        );
    }

    #[test]
    fn report_line_prints_what_format_would() {
        for ms in [0.0, 0.004, 0.005, 0.2, 0.994, 0.996, 1.0, 1.234, 9.999, 78.456, 120.5, 1234.5678, 899_999.99] {
            let line = report_line("r", ms, 128, 1, Some(ms));
            let want = format!(
                "REPORT RequestId: r\tDuration: {ms:.2} ms\tBilled Duration: {} ms\tMemory Size: 128 MB\tMax Memory \
                 Used: 1 MB\tInit Duration: {ms:.2} ms\t",
                ms.ceil().max(1.0) as u64
            );
            assert_eq!(line, want, "{ms}");
        }
        assert_eq!(start_line("id", "$LATEST"), "START RequestId: id Version: $LATEST");
        assert_eq!(end_line("id"), "END RequestId: id");
    }

    #[test]
    fn init_lines_have_lambdas_shape() {
        let line = init_start_line("python3.12", "eu-south-1");
        let (version, arn) = line.split_once('\t').unwrap();
        assert_eq!(version, format!("INIT_START Runtime Version: python:3.12.v{}", model::runtime::RUNTIME_REVISION));
        assert_eq!(
            arn,
            format!("Runtime Version ARN: {}", model::runtime::runtime_version_arn("eu-south-1", "python3.12"))
        );
        assert_eq!(
            init_report_line(78.456, "error", Some("Runtime.ImportModuleError")),
            "INIT_REPORT Init Duration: 78.46 ms\tPhase: init\tStatus: error\tError Type: Runtime.ImportModuleError"
        );
        assert_eq!(
            init_report_line(10000.0, "timeout", None),
            "INIT_REPORT Init Duration: 10000.00 ms\tPhase: init\tStatus: timeout"
        );
    }

    #[tokio::test]
    async fn init_output_is_kept_apart_from_the_invocations_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = ::logs::Logs::open(&dir.path().join("logs.db"), ::logs::LogLimits::default()).unwrap();
        let scope = Scope {
            account: model::scope::AccountId::from_access_key("test"),
            region: model::scope::Region::parse("us-east-1").unwrap(),
        };
        let mut sink = Sink::new(store, scope, "g".into(), "s".into());
        sink.init = Some(Vec::new());
        sink.platform("INIT_START Runtime Version: python:3.12.v1".to_owned());
        sink.output(b"loading\n");
        assert_eq!(sink.init.as_deref(), Some(&b"loading\n"[..]), "platform lines are not init output");
        // A partial line left by the init phase does not reach the invocation's log.
        sink.output(b"no newline");
        sink.init = None;
        sink.open_invocation();
        sink.platform("START".to_owned());
        sink.output(b"handling\n");
        assert_eq!(sink.invocation.take().unwrap(), b"START\nhandling\n");
    }

    #[tokio::test]
    async fn sink_splits_lines_keeps_the_tail_and_stores_each_invocation() {
        let dir = tempfile::tempdir().unwrap();
        let store = ::logs::Logs::open(&dir.path().join("logs.db"), ::logs::LogLimits::default()).unwrap();
        let scope = Scope {
            account: model::scope::AccountId::from_access_key("test"),
            region: model::scope::Region::parse("us-east-1").unwrap(),
        };
        let mut sink = Sink::new(store.clone(), scope, "g".into(), "s".into());
        sink.invocation = Some(Vec::new());
        sink.platform("START".to_owned());
        sink.output(b"hello\nwor");
        sink.output(b"ld\npartial");
        sink.platform("END".to_owned());
        assert_eq!(sink.invocation.take().unwrap(), b"START\nhello\nworld\npartial\nEND\n");
        // Nothing reaches the store before the invocation's REPORT line.
        let read = || async {
            store.flush().await.unwrap();
            let r = store
                .handle(
                    "000000000000",
                    "us-east-1",
                    "Logs_20140328.GetLogEvents",
                    br#"{"logGroupName":"g","logStreamName":"s","startFromHead":true}"#,
                )
                .await;
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            v["events"]
                .as_array()
                .map(|a| a.iter().map(|e| e["message"].as_str().unwrap().to_owned()).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        assert!(read().await.is_empty());
        sink.platform("REPORT RequestId: r".to_owned());
        assert_eq!(read().await, ["START", "hello", "world", "partial", "END", "REPORT RequestId: r"]);
        sink.output(b"after");
        drop(sink);
        assert_eq!(read().await.last().unwrap(), "after");
    }
}
