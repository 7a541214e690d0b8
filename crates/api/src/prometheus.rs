//! `GET /metrics`: the Prometheus text exposition of the platform's metrics (see the
//! `metrics` crate). Unsigned, like `/_versa/health`; a signed `GET /metrics` stays S3's
//! ListObjects of a bucket named `metrics`.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Response, StatusCode, header};

use crate::ApiState;
use crate::query::Query;

/// Whether the request is a scrape: `GET /metrics` without a SigV4 signature.
pub(crate) fn is_scrape(method: &Method, path: &str, headers: &HeaderMap, query: &Query) -> bool {
    method == Method::GET
        && path == "/metrics"
        && !headers.contains_key(header::AUTHORIZATION)
        && query.get("X-Amz-Signature").is_none()
}

pub(crate) async fn serve(state: &ApiState) -> Response<Body> {
    let Some(recorder) = state.engine.metrics() else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from("metrics are not recorded\n"))
            .unwrap_or_default();
    };
    let queued = state.control.store().read(|tx| tx.queued_events()).await.map(|t| t.events).unwrap_or(0);
    let (warm, busy) = state.engine.environments();
    let gauges = metrics::Gauges {
        concurrent_executions: state.engine.running_invocations(),
        environments_warm: warm as u64,
        environments_busy: busy as u64,
        async_events_queued: queued,
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain; version=0.0.4")
        .body(Body::from(recorder.prometheus(&gauges)))
        .unwrap_or_default()
}
