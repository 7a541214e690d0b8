//! The Prometheus view (`GET /metrics`, text exposition format 0.0.4): counters and histograms
//! kept in memory since process start, plus gauges the caller reads at scrape time. Label
//! cardinality is bounded by [`MAX_PROM_SERIES`]; series beyond it are not exported and are
//! counted in `versa_metrics_series_dropped_total`. Per-function series carry `account` and
//! `region` labels (functions of several accounts share a server); those of a deleted function,
//! alias or version are dropped ([`crate::Recorder::forget`]).

use std::fmt::Write as _;

use crate::{Dropped, FastMap, FunctionAt};

/// Most labelled series kept for the Prometheus view, all metric families together.
pub const MAX_PROM_SERIES: usize = 5_000;

/// Most alarms whose state is exported (three series each, see [`AlarmGauge`]).
pub const MAX_PROM_ALARMS: usize = MAX_PROM_SERIES / 3;

/// Most deployments `versa_deployment_status` shows: the active ones first, then the newest.
pub const MAX_PROM_DEPLOYMENTS: usize = 500;

/// How long a finished deployment stays in `versa_deployment_status`, counted from its
/// creation (milliseconds: one hour).
pub const PROM_DEPLOYMENT_RECENT_MS: i64 = 3_600_000;

/// The state values of `versa_alarm_state`, in AWS's order.
const ALARM_STATES: [&str; 3] = ["INSUFFICIENT_DATA", "ALARM", "OK"];

/// Upper bounds of the duration and event-age histograms, seconds (5 ms … 900 s).
const BUCKETS_S: [f64; 15] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0];

/// How an invocation that ran ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The function returned an error, crashed, or failed its init.
    FunctionError,
    /// The function ran past its timeout.
    Timeout,
}

const OUTCOMES: [&str; 3] = ["success", "function_error", "timeout"];

impl Outcome {
    fn index(self) -> usize {
        match self {
            Outcome::Success => 0,
            Outcome::FunctionError => 1,
            Outcome::Timeout => 2,
        }
    }
}

/// Values the server reads at scrape time.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    /// Invocations running now.
    pub concurrent_executions: u64,
    /// Environments alive and idle.
    pub environments_warm: u64,
    /// Environments alive and running an invocation.
    pub environments_busy: u64,
    /// Events waiting in the asynchronous queue.
    pub async_events_queued: u64,
    /// How long the oldest queued event has waited, seconds (0 when the queue is empty).
    pub async_oldest_event_age_seconds: f64,
    /// The share of each alias's traffic each of its versions gets (at most
    /// [`MAX_PROM_SERIES`] rendered).
    pub routing: Vec<RoutingWeight>,
    /// Every alarm's state (at most [`MAX_PROM_ALARMS`] rendered).
    pub alarms: Vec<AlarmGauge>,
    /// Active and recent CodeDeploy deployments (at most [`MAX_PROM_DEPLOYMENTS`] rendered).
    pub deployments: Vec<DeploymentGauge>,
}

/// One CodeDeploy deployment: `versa_deployment_status` (1, its status a label) and, while it
/// shifts traffic, `versa_deployment_target_weight` (the target version's share).
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentGauge {
    pub account: String,
    pub region: String,
    pub deployment_id: String,
    pub application: String,
    pub deployment_group: String,
    pub function: String,
    pub alias: String,
    /// AWS's status (`Created`, `InProgress`, `Succeeded`, `Failed`, `Stopped`, …).
    pub status: String,
    /// The target version and its current weight, while the deployment is active.
    pub target: Option<(String, f64)>,
}

/// One CloudWatch alarm's state: `versa_alarm_state`, 1 for its state value and 0 for the
/// other two (kube-state-metrics' convention).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmGauge {
    pub account: String,
    pub region: String,
    pub alarm: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
}

/// One version's share of an alias's traffic: `versa_alias_routing_weight`.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingWeight {
    pub account: String,
    pub region: String,
    pub function: String,
    pub alias: String,
    pub version: String,
    pub weight: f64,
}

/// The labels every per-function series starts with.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Owner {
    account: String,
    region: String,
    function: String,
}

impl Owner {
    fn of(f: &FunctionAt<'_>) -> Owner {
        Owner { account: f.account.to_owned(), region: f.region.to_owned(), function: f.function.to_owned() }
    }

    fn is(&self, account: &str, region: &str, function: &str) -> bool {
        self.account == account && self.region == region && self.function == function
    }

    fn labels(&self) -> [(&str, &str); 3] {
        [("account", &self.account), ("region", &self.region), ("function", &self.function)]
    }
}

/// The key of a per-function series in the maps: the owner and more labels, NUL-separated.
fn key_of(f: &FunctionAt<'_>, more: &[&str]) -> String {
    let mut k = String::with_capacity(64);
    for part in [f.account, f.region, f.function].iter().chain(more) {
        k.push_str(part);
        k.push('\u{0}');
    }
    k
}

#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Per bucket (not cumulative; rendered cumulative), then above the last bound.
    counts: [u64; BUCKETS_S.len() + 1],
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        let i = BUCKETS_S.iter().position(|b| v <= *b).unwrap_or(BUCKETS_S.len());
        self.counts[i] += 1;
        self.sum += v;
    }
}

#[derive(Debug, Default)]
struct Invocations {
    owner: Owner,
    resource: String,
    executed_version: String,
    outcomes: [u64; 3],
    duration: Histogram,
}

#[derive(Debug, Default)]
struct Throttles {
    owner: Owner,
    resource: String,
    n: u64,
}

#[derive(Debug, Default)]
struct Async {
    owner: Owner,
    received: u64,
    dropped: u64,
    destination_failures: u64,
    dead_letter_errors: u64,
    age: Histogram,
}

/// A counter of [`Async`]: its name, help text and value.
type AsyncCounter = (&'static str, &'static str, fn(&Async) -> u64);

#[derive(Debug, Default)]
pub(crate) struct Prom {
    /// By `account NUL region NUL function NUL resource NUL executed_version NUL`.
    invocations: FastMap<String, Invocations>,
    /// By `account NUL region NUL function NUL resource NUL`.
    throttles: FastMap<String, Throttles>,
    /// By `account NUL region NUL function NUL`.
    asyncs: FastMap<String, Async>,
    dropped: u64,
}

impl Prom {
    fn series(&self) -> usize {
        self.invocations.len() + self.throttles.len() + self.asyncs.len()
    }

    fn full(&mut self) -> bool {
        let full = self.series() >= MAX_PROM_SERIES;
        if full {
            self.dropped += 1;
        }
        full
    }

    pub(crate) fn invocation(
        &mut self,
        f: &FunctionAt<'_>,
        resource: &str,
        version: &str,
        outcome: Outcome,
        secs: f64,
    ) {
        let key = key_of(f, &[resource, version]);
        let count = |s: &mut Invocations| {
            s.outcomes[outcome.index()] += 1;
            s.duration.observe(secs);
        };
        // One hash on the common path: a series already there.
        if let Some(s) = self.invocations.get_mut(&key) {
            count(s);
            return;
        }
        if self.full() {
            return;
        }
        let mut series = Invocations {
            owner: Owner::of(f),
            resource: resource.to_owned(),
            executed_version: version.to_owned(),
            ..Invocations::default()
        };
        count(&mut series);
        self.invocations.insert(key, series);
    }

    pub(crate) fn throttle(&mut self, f: &FunctionAt<'_>, resource: &str) {
        let key = key_of(f, &[resource]);
        if !self.throttles.contains_key(&key) {
            if self.full() {
                return;
            }
            let t = Throttles { owner: Owner::of(f), resource: resource.to_owned(), n: 0 };
            self.throttles.insert(key.clone(), t);
        }
        if let Some(t) = self.throttles.get_mut(&key) {
            t.n += 1;
        }
    }

    fn asyncs(&mut self, f: &FunctionAt<'_>) -> Option<&mut Async> {
        let key = key_of(f, &[]);
        if !self.asyncs.contains_key(&key) {
            if self.full() {
                return None;
            }
            self.asyncs.insert(key.clone(), Async { owner: Owner::of(f), ..Async::default() });
        }
        self.asyncs.get_mut(&key)
    }

    pub(crate) fn async_received(&mut self, f: &FunctionAt<'_>) {
        if let Some(a) = self.asyncs(f) {
            a.received += 1;
        }
    }

    pub(crate) fn async_dropped(&mut self, f: &FunctionAt<'_>) {
        if let Some(a) = self.asyncs(f) {
            a.dropped += 1;
        }
    }

    pub(crate) fn destination_failure(&mut self, f: &FunctionAt<'_>) {
        if let Some(a) = self.asyncs(f) {
            a.destination_failures += 1;
        }
    }

    pub(crate) fn dead_letter_error(&mut self, f: &FunctionAt<'_>) {
        if let Some(a) = self.asyncs(f) {
            a.dead_letter_errors += 1;
        }
    }

    pub(crate) fn async_age(&mut self, f: &FunctionAt<'_>, secs: f64) {
        if let Some(a) = self.asyncs(f) {
            a.age.observe(secs);
        }
    }

    /// Drops the series of a deleted function (`None`), alias, or version (a number: the
    /// series invoked as `fn:N` and those where `N` ran, under any resource).
    pub(crate) fn forget(&mut self, account: &str, region: &str, function: &str, qualifier: Option<&str>) {
        let resource = qualifier.map(|q| format!("{function}:{q}"));
        let version = qualifier.filter(|q| q.bytes().all(|b| b.is_ascii_digit()));
        let gone = |owner: &Owner, r: &str, executed: Option<&str>| {
            owner.is(account, region, function)
                && match &resource {
                    None => true,
                    Some(res) => r == res || (version.is_some() && executed == version),
                }
        };
        self.invocations.retain(|_, s| !gone(&s.owner, &s.resource, Some(&s.executed_version)));
        self.throttles.retain(|_, t| !gone(&t.owner, &t.resource, None));
        if qualifier.is_none() {
            self.asyncs.retain(|_, a| !a.owner.is(account, region, function));
        }
    }

    pub(crate) fn render(&self, gauges: &Gauges, dropped: Dropped) -> String {
        let mut out = String::with_capacity(4096);
        let mut inv: Vec<&Invocations> = self.invocations.values().collect();
        inv.sort_by(|a, b| {
            (&a.owner, &a.resource, &a.executed_version).cmp(&(&b.owner, &b.resource, &b.executed_version))
        });
        header(
            &mut out,
            "versa_function_invocations_total",
            "counter",
            "Invocations that ran (not throttled), by outcome.",
        );
        for s in &inv {
            let [a, r, f] = s.owner.labels();
            for (i, outcome) in OUTCOMES.iter().enumerate() {
                let labels = [
                    a,
                    r,
                    f,
                    ("resource", &s.resource),
                    ("executed_version", &s.executed_version),
                    ("outcome", outcome),
                ];
                sample(&mut out, "versa_function_invocations_total", &labels, s.outcomes[i] as f64);
            }
        }
        header(&mut out, "versa_function_duration_seconds", "histogram", "Handler time of invocations that ran.");
        for s in &inv {
            let [a, r, f] = s.owner.labels();
            let labels = [a, r, f, ("resource", &s.resource), ("executed_version", &s.executed_version)];
            histogram(&mut out, "versa_function_duration_seconds", &labels, &s.duration);
        }
        let mut throttles: Vec<&Throttles> = self.throttles.values().collect();
        throttles.sort_by(|a, b| (&a.owner, &a.resource).cmp(&(&b.owner, &b.resource)));
        header(
            &mut out,
            "versa_function_throttles_total",
            "counter",
            "Invocations refused with 429 (TooManyRequests).",
        );
        for t in throttles {
            let [a, r, f] = t.owner.labels();
            sample(&mut out, "versa_function_throttles_total", &[a, r, f, ("resource", &t.resource)], t.n as f64);
        }
        let mut asyncs: Vec<&Async> = self.asyncs.values().collect();
        asyncs.sort_by(|a, b| a.owner.cmp(&b.owner));
        let counters: [AsyncCounter; 4] = [
            ("versa_async_events_received_total", "Event invocations queued.", |a| a.received),
            (
                "versa_async_events_dropped_total",
                "Queued events that ended without success and without a destination.",
                |a| a.dropped,
            ),
            (
                "versa_async_destination_delivery_failures_total",
                "Destination records that could not be delivered.",
                |a| a.destination_failures,
            ),
            (
                "versa_async_dead_letter_errors_total",
                "Failed events that could not be sent to the dead-letter queue.",
                |a| a.dead_letter_errors,
            ),
        ];
        for (name, help, value) in counters {
            header(&mut out, name, "counter", help);
            for a in &asyncs {
                sample(&mut out, name, &a.owner.labels(), value(a) as f64);
            }
        }
        header(&mut out, "versa_async_event_age_seconds", "histogram", "Time from queueing to each attempt.");
        for a in &asyncs {
            histogram(&mut out, "versa_async_event_age_seconds", &a.owner.labels(), &a.age);
        }
        header(&mut out, "versa_function_concurrent_executions", "gauge", "Invocations running now.");
        sample(&mut out, "versa_function_concurrent_executions", &[], gauges.concurrent_executions as f64);
        header(&mut out, "versa_environments", "gauge", "Execution environments alive, by state.");
        sample(&mut out, "versa_environments", &[("state", "warm")], gauges.environments_warm as f64);
        sample(&mut out, "versa_environments", &[("state", "busy")], gauges.environments_busy as f64);
        header(&mut out, "versa_async_events_queued", "gauge", "Events waiting in the asynchronous queue.");
        sample(&mut out, "versa_async_events_queued", &[], gauges.async_events_queued as f64);
        header(
            &mut out,
            "versa_async_oldest_event_age_seconds",
            "gauge",
            "How long the oldest queued event has waited (0: the queue is empty).",
        );
        sample(&mut out, "versa_async_oldest_event_age_seconds", &[], gauges.async_oldest_event_age_seconds);
        header(&mut out, "versa_alias_routing_weight", "gauge", "The share of an alias's traffic each version gets.");
        for w in gauges.routing.iter().take(MAX_PROM_SERIES) {
            let labels = [
                ("account", w.account.as_str()),
                ("region", &w.region),
                ("function", &w.function),
                ("alias", &w.alias),
                ("version", &w.version),
            ];
            sample(&mut out, "versa_alias_routing_weight", &labels, w.weight);
        }
        header(
            &mut out,
            "versa_alarm_state",
            "gauge",
            "CloudWatch alarm states: 1 for the alarm's state value, 0 for the others.",
        );
        for a in gauges.alarms.iter().take(MAX_PROM_ALARMS) {
            for state in ALARM_STATES {
                let labels =
                    [("account", a.account.as_str()), ("region", &a.region), ("alarm", &a.alarm), ("state", state)];
                sample(&mut out, "versa_alarm_state", &labels, if a.state == state { 1.0 } else { 0.0 });
            }
        }
        header(
            &mut out,
            "versa_deployment_status",
            "gauge",
            "CodeDeploy deployments, active and recent: 1, by status.",
        );
        let shown = &gauges.deployments[..gauges.deployments.len().min(MAX_PROM_DEPLOYMENTS)];
        for d in shown {
            let labels = [
                ("account", d.account.as_str()),
                ("region", &d.region),
                ("deployment_id", &d.deployment_id),
                ("application", &d.application),
                ("deployment_group", &d.deployment_group),
                ("function", &d.function),
                ("alias", &d.alias),
                ("status", &d.status),
            ];
            sample(&mut out, "versa_deployment_status", &labels, 1.0);
        }
        header(
            &mut out,
            "versa_deployment_target_weight",
            "gauge",
            "The share of the alias's traffic an active deployment's target version gets.",
        );
        for d in shown {
            let Some((version, weight)) = &d.target else { continue };
            let labels = [
                ("account", d.account.as_str()),
                ("region", &d.region),
                ("deployment_id", &d.deployment_id),
                ("function", &d.function),
                ("alias", &d.alias),
                ("version", version),
            ];
            sample(&mut out, "versa_deployment_target_weight", &labels, *weight);
        }
        header(
            &mut out,
            "versa_metrics_series_dropped_total",
            "counter",
            "Series not kept because a cardinality bound was reached (Prometheus view and stored metrics).",
        );
        sample(&mut out, "versa_metrics_series_dropped_total", &[], (self.dropped + dropped.series) as f64);
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], v: f64) {
    out.push_str(name);
    labels_into(out, labels, None);
    let _ = writeln!(out, " {}", number(v));
}

fn histogram(out: &mut String, name: &str, labels: &[(&str, &str)], h: &Histogram) {
    let mut cumulative = 0;
    for (i, bound) in BUCKETS_S.iter().enumerate() {
        cumulative += h.counts[i];
        let _ = write!(out, "{name}_bucket");
        labels_into(out, labels, Some(&number(*bound)));
        let _ = writeln!(out, " {cumulative}");
    }
    cumulative += h.counts[BUCKETS_S.len()];
    let _ = write!(out, "{name}_bucket");
    labels_into(out, labels, Some("+Inf"));
    let _ = writeln!(out, " {cumulative}");
    let _ = write!(out, "{name}_sum");
    labels_into(out, labels, None);
    let _ = writeln!(out, " {}", number(h.sum));
    let _ = write!(out, "{name}_count");
    labels_into(out, labels, None);
    let _ = writeln!(out, " {cumulative}");
}

fn labels_into(out: &mut String, labels: &[(&str, &str)], le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (k, v) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(k);
        out.push_str("=\"");
        escape_into(out, v);
        out.push('"');
    }
    out.push('}');
}

/// A label value as the text format wants it: `\`, `"` and newline escaped.
pub(crate) fn escape_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn number(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if v.is_nan() {
        return "NaN".into();
    }
    format!("{v}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(function: &str) -> FunctionAt<'_> {
        FunctionAt { account: "123456789012", region: "us-east-1", function, qualifier: None }
    }

    const OWNER: &str = "account=\"123456789012\",region=\"us-east-1\",";

    #[test]
    fn label_values_are_escaped() {
        let mut s = String::new();
        escape_into(&mut s, "a\\b\"c\nd");
        assert_eq!(s, "a\\\\b\\\"c\\nd");
        let mut p = Prom::default();
        p.throttle(&at("f\"x"), "f\"x:1");
        let text = p.render(&Gauges::default(), Dropped::default());
        assert!(
            text.contains(&format!(
                "versa_function_throttles_total{{{OWNER}function=\"f\\\"x\",resource=\"f\\\"x:1\"}} 1\n"
            )),
            "{text}"
        );
    }

    #[test]
    fn histograms_are_cumulative_and_types_appear_once() {
        let mut p = Prom::default();
        for secs in [0.001, 0.02, 0.02, 3.0, 1000.0] {
            p.invocation(&at("f"), "f:prod", "1", Outcome::Success, secs);
        }
        p.invocation(&at("f"), "f:prod", "1", Outcome::FunctionError, 0.2);
        let text = p.render(&Gauges::default(), Dropped::default());
        assert!(text.contains(&format!(
            "versa_function_duration_seconds_bucket{{{OWNER}function=\"f\",resource=\"f:prod\",executed_version=\"1\",le=\"0.005\"}} 1\n"
        )));
        assert!(text.contains("le=\"0.025\"} 3\n"));
        assert!(text.contains("le=\"900\"} 5\n"));
        assert!(text.contains("le=\"+Inf\"} 6\n"));
        assert!(text.contains(&format!(
            "versa_function_duration_seconds_count{{{OWNER}function=\"f\",resource=\"f:prod\",executed_version=\"1\"}} 6\n"
        )));
        assert!(text.contains("outcome=\"function_error\"} 1\n"));
        assert!(text.contains("outcome=\"success\"} 5\n"));
        for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
            assert_eq!(text.matches(&format!("{line}\n")).count(), 1, "{line}");
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn cardinality_is_bounded() {
        let mut p = Prom::default();
        for i in 0..MAX_PROM_SERIES + 10 {
            p.invocation(&at(&format!("f{i}")), "r", "1", Outcome::Success, 0.1);
        }
        assert_eq!(p.series(), MAX_PROM_SERIES);
        let text = p.render(&Gauges::default(), Dropped::default());
        assert!(text.contains("versa_metrics_series_dropped_total 10\n"));
    }

    #[test]
    fn deleted_functions_aliases_and_versions_lose_their_series() {
        let mut p = Prom::default();
        let other = FunctionAt { account: "210987654321", ..at("f") };
        p.invocation(&at("f"), "f:prod", "1", Outcome::Success, 0.1);
        p.invocation(&at("f"), "f:prod", "2", Outcome::Success, 0.1);
        p.invocation(&at("f"), "f:2", "2", Outcome::Success, 0.1);
        p.invocation(&at("f"), "f", "$LATEST", Outcome::Success, 0.1);
        p.invocation(&other, "f:prod", "1", Outcome::Success, 0.1);
        p.throttle(&at("f"), "f:prod");
        p.async_received(&at("f"));
        // Version 2 goes: as resource `f:2` and where it ran under `f:prod`.
        p.forget("123456789012", "us-east-1", "f", Some("2"));
        let text = p.render(&Gauges::default(), Dropped::default());
        assert!(!text.contains("executed_version=\"2\""), "{text}");
        assert!(text.contains("resource=\"f:prod\",executed_version=\"1\""));
        // The alias goes: its throttles too; another account's same-named function stays.
        p.forget("123456789012", "us-east-1", "f", Some("prod"));
        let text = p.render(&Gauges::default(), Dropped::default());
        assert!(!text.contains(&format!("{OWNER}function=\"f\",resource=\"f:prod\"")), "{text}");
        assert!(text.contains("account=\"210987654321\",region=\"us-east-1\",function=\"f\",resource=\"f:prod\""));
        assert!(text.contains(&format!("versa_async_events_received_total{{{OWNER}function=\"f\"}} 1\n")));
        // The function goes: everything of it.
        p.forget("123456789012", "us-east-1", "f", None);
        let text = p.render(&Gauges::default(), Dropped::default());
        assert!(!text.contains(OWNER), "{text}");
        assert_eq!(p.series(), 1);
    }

    #[test]
    fn routing_weights_and_queue_age_render() {
        let w = |version: &str, weight: f64| RoutingWeight {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            function: "f".into(),
            alias: "prod".into(),
            version: version.into(),
            weight,
        };
        let gauges = Gauges {
            async_oldest_event_age_seconds: 2.5,
            routing: vec![w("1", 0.9), w("2", 0.1)],
            ..Gauges::default()
        };
        let text = Prom::default().render(&gauges, Dropped::default());
        assert!(text.contains("versa_async_oldest_event_age_seconds 2.5\n"));
        assert!(text.contains(&format!(
            "versa_alias_routing_weight{{{OWNER}function=\"f\",alias=\"prod\",version=\"1\"}} 0.9\n"
        )));
        assert!(text.contains("alias=\"prod\",version=\"2\"} 0.1\n"));
    }

    #[test]
    fn deployments_render_status_and_target_weight_and_are_bounded() {
        let d = |i: usize, target: Option<(String, f64)>| DeploymentGauge {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            deployment_id: format!("d-{i:09}"),
            application: "app".into(),
            deployment_group: "grp".into(),
            function: "fn".into(),
            alias: "live".into(),
            status: if target.is_some() { "InProgress".into() } else { "Succeeded".into() },
            target,
        };
        let text = Prom::default().render(
            &Gauges { deployments: vec![d(1, Some(("2".into(), 0.1))), d(0, None)], ..Gauges::default() },
            Dropped::default(),
        );
        assert!(text.contains(
            "versa_deployment_status{account=\"123456789012\",region=\"us-east-1\",deployment_id=\"d-000000001\",application=\"app\",deployment_group=\"grp\",function=\"fn\",alias=\"live\",status=\"InProgress\"} 1\n"
        ), "{text}");
        assert!(text.contains("deployment_id=\"d-000000000\",application=\"app\",deployment_group=\"grp\",function=\"fn\",alias=\"live\",status=\"Succeeded\"} 1\n"));
        assert!(text.contains(
            "versa_deployment_target_weight{account=\"123456789012\",region=\"us-east-1\",deployment_id=\"d-000000001\",function=\"fn\",alias=\"live\",version=\"2\"} 0.1\n"
        ));
        assert_eq!(text.lines().filter(|l| l.starts_with("versa_deployment_target_weight{")).count(), 1);
        let many =
            Gauges { deployments: (0..MAX_PROM_DEPLOYMENTS + 5).map(|i| d(i, None)).collect(), ..Gauges::default() };
        let text = Prom::default().render(&many, Dropped::default());
        assert_eq!(text.lines().filter(|l| l.starts_with("versa_deployment_status{")).count(), MAX_PROM_DEPLOYMENTS);
    }

    #[test]
    fn alarm_states_render_one_for_the_state_and_are_bounded() {
        let alarm = |i: usize, state: &str| AlarmGauge {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            alarm: format!("a{i}"),
            state: state.into(),
        };
        let gauges = Gauges { alarms: vec![alarm(0, "ALARM")], ..Gauges::default() };
        let text = Prom::default().render(&gauges, Dropped::default());
        for (state, v) in [("INSUFFICIENT_DATA", 0), ("ALARM", 1), ("OK", 0)] {
            let line = format!(
                "versa_alarm_state{{account=\"123456789012\",region=\"us-east-1\",alarm=\"a0\",state=\"{state}\"}} {v}\n"
            );
            assert!(text.contains(&line), "{line} in\n{text}");
        }
        let many = Gauges { alarms: (0..MAX_PROM_ALARMS + 5).map(|i| alarm(i, "OK")).collect(), ..Gauges::default() };
        let text = Prom::default().render(&many, Dropped::default());
        let samples = text.lines().filter(|l| l.starts_with("versa_alarm_state{")).count();
        assert_eq!(samples, 3 * MAX_PROM_ALARMS);
    }
}
