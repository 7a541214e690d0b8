//! The CloudWatch API (service `monitoring`, deployments.md §3): metric operations over the
//! platform metrics (`metrics::Recorder`) and alarm operations over the alarm engine
//! (`alarms::Alarms`, `alarm_ops.rs`), in the three wire protocols clients speak — AWS
//! JSON 1.0 (boto3, aws CLI v1), Smithy RPC v2 CBOR (AWS SDK for Rust, Go SDK v2) and query
//! (aws CLI v2, older SDKs).
//!
//! A request flows: [`Protocol::of`] (path and headers) → `wire::decode` into one
//! protocol-neutral [`Value`] document → the operation (found in [`OPERATIONS`]) reads it
//! through [`doc::Input`] and answers a document or an [`Error`] → `wire::encode`/`wire::error`
//! in the request's protocol. Operations never see a protocol.
//!
//! **Adding an operation:** write `async fn run(cw: &CloudWatch, ctx: &Context, input: Input<'_>)
//! -> Result<Option<Value>, Error>` in a module (return `None` for an operation without
//! output), and add one row to [`OPERATIONS`] with the [`op!`] macro. Read members with the
//! `Input` getters (they accept every protocol's spelling: JSON numbers, CBOR tag-1 times,
//! query strings and `member.N` lists) and name them in messages with `Input::name`, which
//! gives AWS's query-style paths (`MetricData.member.1.Value`). Errors use CloudWatch's query
//! codes (`InvalidParameterValue`, `MissingParameter`, `ResourceNotFound`, …); `wire.rs` maps
//! them to each protocol's `__type`, status and `x-amzn-query-error`.

mod alarm_ops;
mod cbor;
pub mod doc;
mod metric_ops;
#[cfg(test)]
mod proptests;
pub mod wire;

use std::future::Future;
use std::pin::Pin;

pub use crate::doc::{Error, Input, Value};
pub use crate::wire::{CBOR_PATH_PREFIX, REQUEST_BYTES_MAX, TARGET_PREFIX};

/// The SigV4 signing name.
pub const SERVICE: &str = "monitoring";

/// A request's wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// AWS JSON 1.0, `X-Amz-Target: GraniteServiceVersion20100801.<Op>`.
    Json,
    /// Smithy RPC v2 CBOR, `POST /service/GraniteServiceVersion20100801/operation/<Op>`.
    Cbor,
    /// The query protocol: a form body with `Action=<Op>`.
    Query,
}

impl Protocol {
    /// The protocol of a CloudWatch request, from its path and `X-Amz-Target`.
    pub fn of(path: &str, target: Option<&str>) -> Protocol {
        if path.starts_with(CBOR_PATH_PREFIX) {
            Protocol::Cbor
        } else if target.is_some_and(|t| t.starts_with(TARGET_PREFIX)) {
            Protocol::Json
        } else {
            Protocol::Query
        }
    }
}

/// Whether an unsigned request is CloudWatch's by its shape: the CBOR operation path, or a
/// JSON 1.0 target of CloudWatch's prefix.
pub fn is_cloudwatch_request(path: &str, target: Option<&str>) -> bool {
    path.starts_with(CBOR_PATH_PREFIX) || target.is_some_and(|t| t.starts_with(TARGET_PREFIX))
}

/// What the HTTP layer tells about a request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// `X-Amz-Target`.
    pub target: Option<String>,
    /// `x-amzn-query-mode: true`: not-found answers 404.
    pub query_mode: bool,
    /// `Content-Encoding: gzip`.
    pub gzip: bool,
    /// The body, as read (at most [`REQUEST_BYTES_MAX`] bytes).
    pub body: Vec<u8>,
}

/// Who asks.
#[derive(Debug, Clone)]
pub struct Context {
    pub account: String,
    pub region: String,
    pub request_id: String,
}

/// An answer: status, headers (lower-case names), body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

type OpFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<Value>, Error>> + Send + 'a>>;
type OpFn = for<'a> fn(&'a CloudWatch, &'a Context, Input<'a>) -> OpFuture<'a>;

/// One operation: its name and how it runs.
pub struct Operation {
    pub name: &'static str,
    pub run: OpFn,
}

/// A row of [`OPERATIONS`]: `op!("Name", module::run)`.
macro_rules! op {
    ($name:literal, $run:path) => {{
        fn boxed<'a>(cw: &'a CloudWatch, ctx: &'a Context, input: Input<'a>) -> OpFuture<'a> {
            Box::pin($run(cw, ctx, input))
        }
        Operation { name: $name, run: boxed }
    }};
}

/// Every operation served, by name.
pub static OPERATIONS: &[Operation] = &[
    op!("PutMetricData", metric_ops::put_metric_data),
    op!("GetMetricStatistics", metric_ops::get_metric_statistics),
    op!("GetMetricData", metric_ops::get_metric_data),
    op!("ListMetrics", metric_ops::list_metrics),
    op!("PutMetricAlarm", alarm_ops::put_metric_alarm),
    op!("DescribeAlarms", alarm_ops::describe_alarms),
    op!("DescribeAlarmsForMetric", alarm_ops::describe_alarms_for_metric),
    op!("DeleteAlarms", alarm_ops::delete_alarms),
    op!("SetAlarmState", alarm_ops::set_alarm_state),
    op!("DescribeAlarmHistory", alarm_ops::describe_alarm_history),
    op!("EnableAlarmActions", alarm_ops::enable_alarm_actions),
    op!("DisableAlarmActions", alarm_ops::disable_alarm_actions),
    op!("TagResource", alarm_ops::tag_resource),
    op!("UntagResource", alarm_ops::untag_resource),
    op!("ListTagsForResource", alarm_ops::list_tags_for_resource),
];

/// The CloudWatch service: a cheap clonable handle.
#[derive(Clone)]
pub struct CloudWatch {
    store: store::Store,
    recorder: metrics::Recorder,
    /// The alarm engine the alarm operations call (`None`: they answer InternalServiceError).
    alarms: Option<alarms::Alarms>,
    /// The unit each custom series was last put with.
    units: metric_ops::Units,
}

impl std::fmt::Debug for CloudWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudWatch").finish_non_exhaustive()
    }
}

impl CloudWatch {
    pub fn new(store: store::Store, recorder: metrics::Recorder) -> CloudWatch {
        CloudWatch { store, recorder, alarms: None, units: metric_ops::Units::default() }
    }

    /// Serves the alarm operations with `alarms` (which PutMetricData also wakes).
    pub fn with_alarms(mut self, alarms: alarms::Alarms) -> CloudWatch {
        self.alarms = Some(alarms);
        self
    }

    pub fn recorder(&self) -> &metrics::Recorder {
        &self.recorder
    }

    pub fn store(&self) -> &store::Store {
        &self.store
    }

    /// Serves one request in its protocol.
    pub async fn handle(&self, ctx: &Context, req: Request) -> Response {
        let protocol = Protocol::of(&req.path, req.target.as_deref());
        let query_mode = req.query_mode;
        match self.answer(ctx, protocol, req).await {
            Ok(r) => r,
            Err(e) => {
                if e.code == "InternalServiceError" {
                    tracing::error!(message = ?e.message, "CloudWatch request failed");
                }
                error_response(protocol, query_mode, &e, &ctx.request_id)
            }
        }
    }

    async fn answer(&self, ctx: &Context, protocol: Protocol, req: Request) -> Result<Response, Error> {
        if req.method != "POST" {
            return Err(Error::new("InvalidAction", "CloudWatch requests are POSTs."));
        }
        let body = if req.gzip { wire::inflate(&req.body)? } else { req.body };
        if body.len() > REQUEST_BYTES_MAX {
            return Err(wire::too_large());
        }
        let path_op = req.path.strip_prefix(CBOR_PATH_PREFIX).map(str::to_owned);
        let target_op = req.target.as_deref().and_then(|t| t.strip_prefix(TARGET_PREFIX)).map(str::to_owned);
        // The operation is checked before the body is decoded (an unknown one is refused even
        // with a body that would not parse).
        let named = match protocol {
            Protocol::Cbor => path_op,
            Protocol::Json => target_op,
            Protocol::Query => None,
        };
        if let Some(name) = &named {
            operation(name)?;
        }
        let (doc, action) = wire::decode(protocol, &body)?;
        let name = match named.or(action) {
            Some(n) => n,
            None => return Err(Error::new("MissingAction", "The request must contain the parameter Action.")),
        };
        let op = operation(&name)?;
        let output = (op.run)(self, ctx, Input::root(&doc)).await?;
        Ok(wire::encode(protocol, op.name, output.as_ref(), &ctx.request_id))
    }
}

fn operation(name: &str) -> Result<&'static Operation, Error> {
    OPERATIONS.iter().find(|o| o.name == name).ok_or_else(|| {
        let shown: String = name.chars().take(128).collect();
        Error::new("InvalidAction", format!("The action {shown} is not valid for this web service."))
    })
}

/// An error answer in `protocol`'s shape (also for refusals the HTTP layer makes, such as
/// authentication).
pub fn error_response(protocol: Protocol, query_mode: bool, e: &Error, request_id: &str) -> Response {
    wire::error(protocol, query_mode, e, request_id)
}

#[cfg(test)]
mod send_check {
    fn is_send<T: Send>(_: &T) {}

    #[allow(dead_code)]
    fn handle_is_send(cw: &super::CloudWatch, ctx: &super::Context, req: super::Request) {
        let f = cw.handle(ctx, req);
        is_send(&f);
    }
}
