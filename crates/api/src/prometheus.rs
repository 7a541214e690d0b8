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
    let now = stdx::time::now_ms();
    let read = state
        .control
        .store()
        .read(move |tx| {
            let queued = tx.queued_events()?.events;
            let oldest = tx.oldest_queued_event_ms()?;
            // One more than is rendered, so a cut is visible in the logs.
            let aliases = tx.all_aliases(metrics::MAX_PROM_SERIES + 1)?;
            let alarms = tx.alarm_states(metrics::MAX_PROM_ALARMS + 1)?;
            let deployments =
                tx.cd_deployments_shown(now - metrics::PROM_DEPLOYMENT_RECENT_MS, metrics::MAX_PROM_DEPLOYMENTS)?;
            Ok::<_, store::StoreError>((queued, oldest, aliases, alarms, deployments))
        })
        .await;
    let (queued, oldest, aliases, alarms, deployments) = read.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read the queue, aliases, alarms and deployments for /metrics");
        (0, None, Vec::new(), Vec::new(), Vec::new())
    });
    if aliases.len() > metrics::MAX_PROM_SERIES {
        tracing::warn!(limit = metrics::MAX_PROM_SERIES, "too many aliases; routing weights cut");
    }
    if alarms.len() > metrics::MAX_PROM_ALARMS {
        tracing::warn!(limit = metrics::MAX_PROM_ALARMS, "too many alarms; alarm states cut");
    }
    let (warm, busy) = state.engine.environments();
    let gauges = metrics::Gauges {
        concurrent_executions: state.engine.running_invocations(),
        environments_warm: warm as u64,
        environments_busy: busy as u64,
        async_events_queued: queued,
        async_oldest_event_age_seconds: oldest.map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0),
        routing: aliases.iter().flat_map(routing_weights).collect(),
        alarms: alarms
            .into_iter()
            .map(|a| metrics::AlarmGauge { account: a.account, region: a.region, alarm: a.name, state: a.state })
            .collect(),
        deployments: deployments.iter().filter_map(deployment_gauge).collect(),
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain; version=0.0.4")
        .body(Body::from(recorder.prometheus(&gauges)))
        .unwrap_or_default()
}

/// An alias's versions and their shares: the primary gets 1 − the additional version's weight.
fn routing_weights(row: &store::AliasRow) -> Vec<metrics::RoutingWeight> {
    let weight = |version: String, weight: f64| metrics::RoutingWeight {
        account: row.scope.account.as_str().to_owned(),
        region: row.scope.region.as_str().to_owned(),
        function: row.function_name.clone(),
        alias: row.alias.name.clone(),
        version,
        weight,
    };
    let extra = row.alias.routing.map_or(0.0, |r| r.weight);
    let mut out = vec![weight(row.alias.function_version.to_string(), 1.0 - extra)];
    if let Some(r) = row.alias.routing {
        out.push(weight(r.version.to_string(), r.weight));
    }
    out
}

/// A deployment's status and, while it is active, its target version's share of the alias.
fn deployment_gauge(row: &store::CdDeploymentRow) -> Option<metrics::DeploymentGauge> {
    let d = codedeploy::engine::Deployment::parse(row)
        .inspect_err(|e| tracing::warn!(error = %e, "cannot read a deployment for /metrics"))
        .ok()?;
    let (function, alias) = d.spec.as_ref().map(|s| (s.function.clone(), s.alias.clone())).unwrap_or_default();
    let target = d.spec.as_ref().filter(|_| d.active()).map(|spec| {
        let weight = match d.alias_state {
            Some(s) if s.primary == spec.target => 1.0,
            Some(s) => s.weight.filter(|(v, _)| *v == spec.target).map_or(0.0, |(_, w)| w),
            None => 0.0,
        };
        (spec.target.to_string(), weight)
    });
    Some(metrics::DeploymentGauge {
        account: d.account,
        region: d.region,
        deployment_id: d.id,
        application: d.application,
        deployment_group: d.group,
        function,
        alias,
        status: d.status,
        target,
    })
}
