//! Amazon SQS (reference event-sources.md §1, §5.1): AWS JSON 1.0 in query-compatible mode
//! (`X-Amz-Target: AmazonSQS.<Op>`, errors with `__type` and `x-amzn-query-error`), one
//! [`Sqs::handle`] entry; and [`QueueClient`], the same operations in process for the event
//! source mapping poller.
//!
//! State lives in the main store (migration 15): queues with their attributes and tags,
//! messages with their visibility, receive count and receipt handle, FIFO deduplication keys.
//! A receive is one write transaction (make visible messages invisible for the visibility
//! timeout, count the receive, issue a new receipt handle, move a message received
//! `maxReceiveCount` times to its dead-letter queue instead). Long polls wait outside the
//! store, woken by the commit of a send to their queue ([`waiters`]).

mod attrs;
mod client;
mod moves;
mod ops;
#[cfg(test)]
mod proptests;
mod waiters;

use std::sync::Arc;

use serde_json::json;
use store::Store;

pub use crate::client::{InProcess, Message, MessageAttribute, QueueClient, QueueInfo};

/// The SigV4 service name.
pub const SERVICE: &str = "sqs";
/// The `X-Amz-Target` prefix of every operation.
pub const TARGET_PREFIX: &str = "AmazonSQS.";
/// Largest message: body plus attributes (AWS: 1 MiB since 2025).
pub const MESSAGE_BYTES_MAX: usize = 1_048_576;
/// Largest batch request: the sum of its messages.
pub const BATCH_BYTES_MAX: usize = 1_048_576;
/// Largest request body read: a full batch of 1 MiB in JSON (escaping can double it) and its
/// envelope.
pub const REQUEST_BYTES_MAX: usize = 3 * 1_048_576;
/// Entries in one batch request.
pub const BATCH_ENTRIES_MAX: usize = 10;
/// Queues per account and region (Versa's bound; AWS has none).
pub const QUEUES_MAX: u64 = 1_000;
/// Messages per queue (Versa's bound): a send beyond it is refused with `OverLimit`.
pub const MESSAGES_PER_QUEUE_MAX: u64 = 100_000;
/// Message bytes per queue (Versa's bound).
pub const QUEUE_BYTES_MAX: u64 = 1 << 30;
/// Tags per queue (AWS: 50).
pub const TAGS_MAX: usize = 50;
/// Queue URLs per ListQueues page (AWS: 1000).
pub const LIST_PAGE_MAX: usize = 1_000;
/// Longest long poll (AWS: 20 s).
pub const WAIT_SECONDS_MAX: i64 = 20;
/// Long polls waiting at once; beyond it a long poll answers at once (empty when nothing is
/// there).
pub const WAITERS_MAX: usize = 4_096;
/// How long a FIFO deduplication id is remembered (AWS: 5 minutes).
pub const DEDUP_WINDOW_MS: i64 = 5 * 60 * 1000;
/// How often the retention purge runs, and how many messages one pass deletes at most.
pub const RETENTION_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
pub const RETENTION_PASS_MAX: usize = 1_000;
/// The time between two purges of one queue (AWS: 60 s).
pub const PURGE_INTERVAL_MS: i64 = 60_000;
/// How long after DeleteQueue a queue of the same name cannot be created (AWS: 60 s).
pub const DELETED_RECENTLY_MS: i64 = 60_000;
/// How long a FIFO ReceiveRequestAttemptId answers its first receive again (AWS: 5 minutes).
pub const ATTEMPT_ID_WINDOW_MS: i64 = 5 * 60_000;
/// Most remembered deleted queues and receive attempts (older ones are forgotten first).
pub const REMEMBERED_MAX: usize = 10_000;
/// A message's visibility may end at most this long after the receive (AWS: 12 hours).
pub const TOTAL_VISIBILITY_MS: i64 = 43_200_000;

/// An SQS error: its modelled shape (`__type`), its query code (`x-amzn-query-error`), status.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub shape: &'static str,
    pub query_code: &'static str,
    pub status: u16,
    pub message: String,
}

impl Error {
    fn new(shape: &'static str, query_code: &'static str, message: impl Into<String>) -> Error {
        Error { shape, query_code, status: 400, message: message.into() }
    }

    /// The JSON `__type`: SQS's shape, or a full `namespace#Shape` as given (the
    /// authentication layer's, `com.amazon.coral.service#…`).
    fn json_type(&self) -> String {
        if self.shape.contains('#') { self.shape.to_owned() } else { format!("com.amazonaws.sqs#{}", self.shape) }
    }

    pub fn no_queue() -> Error {
        Error::new(
            "QueueDoesNotExist",
            "AWS.SimpleQueueService.NonExistentQueue",
            "The specified queue does not exist.",
        )
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Error {
        Error::new("InvalidParameterValueException", "InvalidParameterValue", message)
    }

    pub fn missing(parameter: &str) -> Error {
        Error::new(
            "MissingRequiredParameterException",
            "MissingParameter",
            format!("The request must contain the parameter {parameter}."),
        )
    }

    pub fn attribute_name(message: impl Into<String>) -> Error {
        Error::new("InvalidAttributeName", "InvalidAttributeName", message)
    }

    pub fn attribute_value(message: impl Into<String>) -> Error {
        Error::new("InvalidAttributeValue", "InvalidAttributeValue", message)
    }

    /// `Value <v> for parameter <p> is invalid. Reason: <reason>`.
    pub fn parameter_value(value: impl std::fmt::Display, parameter: &str, reason: &str) -> Error {
        Error::invalid_parameter(format!("Value {value} for parameter {parameter} is invalid. Reason: {reason}"))
    }

    pub fn receipt_invalid(handle: &str) -> Error {
        Error::new(
            "ReceiptHandleIsInvalid",
            "ReceiptHandleIsInvalid",
            format!("The input receipt handle \"{handle}\" is not a valid receipt handle."),
        )
    }

    pub(crate) fn service(shape: &'static str, query_code: &'static str, message: impl Into<String>) -> Error {
        Error::new(shape, query_code, message)
    }

    fn internal(message: impl Into<String>) -> Error {
        Error { shape: "InternalError", query_code: "InternalError", status: 500, message: message.into() }
    }

    /// Whether the caller is at fault (`SenderFault`, the `;Sender` of the query error).
    pub fn sender_fault(&self) -> bool {
        self.status < 500
    }
}

impl From<store::StoreError> for Error {
    fn from(e: store::StoreError) -> Error {
        Error::internal(format!("internal error: {e}"))
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.shape, self.query_code, self.message)
    }
}

/// Who asks, and where the answer's queue URLs point.
#[derive(Debug, Clone)]
pub struct Context {
    pub account: String,
    pub region: String,
    /// The request's `Host` (queue URLs are `<scheme>://<host>/<account>/<name>`).
    pub host: String,
    pub scheme: &'static str,
    /// `SenderId` of the messages sent: the caller's account id (AWS reports it for root
    /// credentials; Versa's keys are the account's own).
    pub sender_id: String,
}

/// An answer: status, extra headers, JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub const CONTENT_TYPE: &'static str = "application/x-amz-json-1.0";

    /// The error in AWS JSON 1.0 with the query-compatible header.
    pub fn error(e: &Error) -> Response {
        let fault = if e.sender_fault() { "Sender" } else { "Receiver" };
        Response {
            status: e.status,
            headers: vec![("x-amzn-query-error", format!("{};{fault}", e.query_code))],
            body: json!({"__type": e.json_type(), "message": e.message}).to_string().into_bytes(),
        }
    }
}

/// The SQS service over the main store. Clonable.
#[derive(Clone)]
pub struct Sqs {
    pub(crate) inner: Arc<Inner>,
}

/// A bounded in-memory map of recent facts (see `ops::remember`).
pub(crate) type Remembered<K, V> = std::sync::Mutex<std::collections::HashMap<K, V>>;

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) waiters: waiters::Waiters,
    /// Queues deleted in the last [`DELETED_RECENTLY_MS`]: (account, region, name) → when.
    pub(crate) deleted: Remembered<(String, String, String), i64>,
    /// FIFO ReceiveRequestAttemptIds of the last [`ATTEMPT_ID_WINDOW_MS`]: (queue, id) → the
    /// receipt handles that receive returned, and when.
    pub(crate) attempts: Remembered<(i64, String), (Vec<String>, i64)>,
    /// Message move tasks (see `moves`).
    pub(crate) moves: std::sync::Arc<moves::Tasks>,
    /// Set when the server stops: long polls answer at once (with what is there).
    pub(crate) stopping: std::sync::atomic::AtomicBool,
    pub(crate) stopped: tokio::sync::Notify,
}

impl std::fmt::Debug for Sqs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sqs").finish_non_exhaustive()
    }
}

impl Sqs {
    pub fn new(store: Store) -> Sqs {
        Sqs {
            inner: Arc::new(Inner {
                store,
                waiters: waiters::Waiters::default(),
                deleted: std::sync::Mutex::default(),
                attempts: std::sync::Mutex::default(),
                moves: moves::new_tasks(),
                stopping: std::sync::atomic::AtomicBool::new(false),
                stopped: tokio::sync::Notify::new(),
            }),
        }
    }

    /// Ends every long poll now and makes later ones answer at once, so that a graceful stop
    /// does not wait up to 20 s for them.
    pub fn stop_long_polls(&self) {
        self.inner.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        self.inner.stopped.notify_waiters();
    }

    /// Serves one request: `target` is the `X-Amz-Target` header, `body` the JSON input.
    pub async fn handle(&self, ctx: &Context, target: Option<&str>, body: &[u8]) -> Response {
        let Some(op) = target.and_then(|t| t.strip_prefix(TARGET_PREFIX)) else {
            return Response::error(&Error::service(
                "UnsupportedOperation",
                "AWS.SimpleQueueService.UnsupportedOperation",
                "Missing or unknown X-Amz-Target",
            ));
        };
        let Some(input) = stdx::json::object_body(body) else {
            return Response::error(&Error::new(
                "SerializationException",
                "SerializationException",
                "Start of structure or map found where not expected.",
            ));
        };
        match ops::dispatch(self, ctx, op, &input).await {
            Ok(v) => Response { status: 200, headers: vec![], body: v.to_string().into_bytes() },
            Err(e) => Response::error(&e),
        }
    }

    /// Deletes messages past their retention period, every [`RETENTION_EVERY`], until aborted.
    pub fn start_retention(&self) -> tokio::task::JoinHandle<()> {
        let store = self.inner.store.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RETENTION_EVERY).await;
                let now = stdx::time::now_ms();
                let r = store.write(move |tx| tx.sqs_expire(now, RETENTION_PASS_MAX)).await;
                match r {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(deleted = n, "SQS retention purge"),
                    Err(e) => tracing::warn!("SQS retention purge failed: {e}"),
                }
            }
        })
    }

    /// The in-process client of this service (what an event source mapping polls with).
    pub fn client(&self) -> InProcess {
        InProcess { sqs: self.clone() }
    }
}
