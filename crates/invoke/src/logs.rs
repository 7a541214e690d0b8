//! Function logs: capturing an environment's output, the platform's START/END/REPORT lines,
//! the per-invocation tail, and a bounded store per function (read by the logs API later).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};

/// Bytes of one invocation's log kept for `LogType=Tail` (AWS returns the last 4 KB).
pub const TAIL_BYTES: usize = 4096;
/// Most bytes of log kept per function in memory.
pub const STORE_BYTES_PER_FUNCTION: usize = 1024 * 1024;
/// Most functions whose logs are kept; the least recently written are dropped first.
pub const STORE_FUNCTIONS_MAX: usize = 1024;
/// Longest line stored; longer output is split.
const LINE_BYTES_MAX: usize = 256 * 1024;

/// One stored log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    pub timestamp_ms: i64,
    pub stream: String,
    pub message: String,
}

/// The logs of every function, bounded per function and in number of functions.
#[derive(Debug, Default)]
pub struct LogStore {
    inner: Mutex<StoreInner>,
}

#[derive(Debug, Default)]
struct StoreInner {
    functions: HashMap<String, FunctionLog>,
    clock: u64,
}

#[derive(Debug, Default)]
struct FunctionLog {
    events: VecDeque<LogEvent>,
    bytes: usize,
    touched: u64,
}

impl LogStore {
    pub fn append(&self, group: &str, stream: &str, message: String) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        s.clock += 1;
        let clock = s.clock;
        if !s.functions.contains_key(group)
            && s.functions.len() >= STORE_FUNCTIONS_MAX
            && let Some(oldest) = s.functions.iter().min_by_key(|(_, f)| f.touched).map(|(k, _)| k.clone())
        {
            s.functions.remove(&oldest);
        }
        let f = s.functions.entry(group.to_owned()).or_default();
        f.touched = clock;
        f.bytes += message.len();
        f.events.push_back(LogEvent { timestamp_ms: stdx::time::now_ms(), stream: stream.to_owned(), message });
        while f.bytes > STORE_BYTES_PER_FUNCTION {
            match f.events.pop_front() {
                Some(e) => f.bytes -= e.message.len(),
                None => break,
            }
        }
    }

    /// The stored lines of a log group, oldest first.
    pub fn events(&self, group: &str) -> Vec<LogEvent> {
        let s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        s.functions.get(group).map(|f| f.events.iter().cloned().collect()).unwrap_or_default()
    }
}

/// Where one environment's output goes.
pub(crate) struct Sink {
    pub store: Arc<LogStore>,
    pub group: String,
    pub stream: String,
    /// The running invocation's log, when one runs (bounded to the tail).
    pub invocation: Option<Vec<u8>>,
    partial: Vec<u8>,
}

impl Sink {
    pub(crate) fn new(store: Arc<LogStore>, group: String, stream: String) -> Sink {
        Sink { store, group, stream, invocation: None, partial: Vec::new() }
    }

    /// Output of the function (whole lines go to the store).
    fn output(&mut self, bytes: &[u8]) {
        if let Some(inv) = &mut self.invocation {
            inv.extend_from_slice(bytes);
            keep_tail(inv);
        }
        self.partial.extend_from_slice(bytes);
        while let Some(i) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            self.store_line(&line[..line.len() - 1]);
        }
        if self.partial.len() > LINE_BYTES_MAX {
            let line = std::mem::take(&mut self.partial);
            self.store_line(&line);
        }
    }

    fn store_line(&self, line: &[u8]) {
        self.store.append(&self.group, &self.stream, String::from_utf8_lossy(line).into_owned());
    }

    /// A line of the platform's own (START, END, REPORT, errors).
    pub(crate) fn platform(&mut self, line: &str) {
        // Finish a partial line of the function's first, so the two do not run together.
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.store_line(&rest);
            if let Some(inv) = &mut self.invocation {
                inv.push(b'\n');
            }
        }
        if let Some(inv) = &mut self.invocation {
            inv.extend_from_slice(line.as_bytes());
            inv.push(b'\n');
            keep_tail(inv);
        }
        self.store.append(&self.group, &self.stream, line.to_owned());
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
pub(crate) struct Capture {
    flush: mpsc::Sender<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Capture {
    pub(crate) fn start(mut pipe: pipe::Receiver, sink: Arc<Mutex<Sink>>) -> Capture {
        let (flush, mut requests) = mpsc::channel::<oneshot::Sender<()>>(4);
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                tokio::select! {
                    read = pipe.read(&mut buf) => match read {
                        Ok(0) | Err(_) => break,
                        Ok(n) => sink.lock().unwrap_or_else(|e| e.into_inner()).output(&buf[..n]),
                    },
                    Some(done) = requests.recv() => {
                        // Everything written before the request is already in the pipe.
                        loop {
                            match pipe.try_read(&mut buf) {
                                Ok(n) if n > 0 => sink.lock().unwrap_or_else(|e| e.into_inner()).output(&buf[..n]),
                                _ => break,
                            }
                        }
                        let _ = done.send(());
                    }
                }
            }
            // The pipe closed: answer any flush still waiting.
            while let Ok(done) = requests.try_recv() {
                let _ = done.send(());
            }
        });
        Capture { flush, task }
    }

    /// Waits until everything the environment wrote so far is in the sink.
    pub(crate) async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.flush.send(tx).await.is_ok() {
            let _ = tokio::time::timeout(std::time::Duration::from_millis(200), rx).await;
        }
    }
}

/// `START RequestId: <id> Version: <version>`.
pub(crate) fn start_line(request_id: &str, version: &str) -> String {
    format!("START RequestId: {request_id} Version: {version}")
}

pub(crate) fn end_line(request_id: &str) -> String {
    format!("END RequestId: {request_id}")
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
    let mut s = format!(
        "REPORT RequestId: {request_id}\tDuration: {duration_ms:.2} ms\tBilled Duration: {billed} ms\tMemory Size: \
         {memory_mb} MB\tMax Memory Used: {max_memory_used_mb} MB\t"
    );
    if let Some(init) = init_duration_ms {
        s.push_str(&format!("Init Duration: {init:.2} ms\t"));
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
    fn store_is_bounded() {
        let s = LogStore::default();
        for i in 0..3000 {
            s.append("/aws/lambda/f", "stream", format!("{i:0>1000}"));
        }
        let events = s.events("/aws/lambda/f");
        assert!(events.len() <= STORE_BYTES_PER_FUNCTION / 1000);
        assert!(events.last().unwrap().message.ends_with("2999"));
    }

    #[test]
    fn sink_splits_lines_and_keeps_the_tail() {
        let store = Arc::new(LogStore::default());
        let mut sink = Sink::new(store.clone(), "g".into(), "s".into());
        sink.invocation = Some(Vec::new());
        sink.platform("START");
        sink.output(b"hello\nwor");
        sink.output(b"ld\npartial");
        sink.platform("END");
        let msgs: Vec<String> = store.events("g").into_iter().map(|e| e.message).collect();
        assert_eq!(msgs, ["START", "hello", "world", "partial", "END"]);
        assert_eq!(sink.invocation.unwrap(), b"START\nhello\nworld\npartial\nEND\n");
    }
}
