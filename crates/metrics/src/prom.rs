//! The Prometheus view (`GET /metrics`, text exposition format 0.0.4): counters and histograms
//! kept in memory since process start, plus gauges the caller reads at scrape time. Label
//! cardinality is bounded by [`MAX_PROM_SERIES`]; series beyond it are not exported and are
//! counted in `versa_metrics_series_dropped_total`.

use std::fmt::Write as _;

use crate::{Dropped, FastMap};

/// Most labelled series kept for the Prometheus view, all metric families together.
pub const MAX_PROM_SERIES: usize = 5_000;

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
    function: String,
    resource: String,
    executed_version: String,
    outcomes: [u64; 3],
    duration: Histogram,
}

#[derive(Debug, Default)]
struct Async {
    received: u64,
    dropped: u64,
    age: Histogram,
}

#[derive(Debug, Default)]
pub(crate) struct Prom {
    /// By `function NUL resource NUL executed_version`.
    invocations: FastMap<String, Invocations>,
    /// By `(function, resource)`.
    throttles: FastMap<(String, String), u64>,
    /// By function.
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

    pub(crate) fn invocation(&mut self, function: &str, resource: &str, version: &str, outcome: Outcome, secs: f64) {
        let key = format!("{function}\u{0}{resource}\u{0}{version}");
        if !self.invocations.contains_key(&key) {
            if self.full() {
                return;
            }
            let series = Invocations {
                function: function.to_owned(),
                resource: resource.to_owned(),
                executed_version: version.to_owned(),
                ..Invocations::default()
            };
            self.invocations.insert(key.clone(), series);
        }
        if let Some(s) = self.invocations.get_mut(&key) {
            s.outcomes[outcome.index()] += 1;
            s.duration.observe(secs);
        }
    }

    pub(crate) fn throttle(&mut self, function: &str, resource: &str) {
        let key = (function.to_owned(), resource.to_owned());
        if !self.throttles.contains_key(&key) && self.full() {
            return;
        }
        *self.throttles.entry(key).or_default() += 1;
    }

    fn asyncs(&mut self, function: &str) -> Option<&mut Async> {
        if !self.asyncs.contains_key(function) {
            if self.full() {
                return None;
            }
            self.asyncs.insert(function.to_owned(), Async::default());
        }
        self.asyncs.get_mut(function)
    }

    pub(crate) fn async_received(&mut self, function: &str) {
        if let Some(a) = self.asyncs(function) {
            a.received += 1;
        }
    }

    pub(crate) fn async_dropped(&mut self, function: &str) {
        if let Some(a) = self.asyncs(function) {
            a.dropped += 1;
        }
    }

    pub(crate) fn async_age(&mut self, function: &str, secs: f64) {
        if let Some(a) = self.asyncs(function) {
            a.age.observe(secs);
        }
    }

    pub(crate) fn render(&self, gauges: &Gauges, dropped: Dropped) -> String {
        let mut out = String::with_capacity(4096);
        let mut inv: Vec<&Invocations> = self.invocations.values().collect();
        inv.sort_by(|a, b| {
            (&a.function, &a.resource, &a.executed_version).cmp(&(&b.function, &b.resource, &b.executed_version))
        });
        header(
            &mut out,
            "versa_function_invocations_total",
            "counter",
            "Invocations that ran (not throttled), by outcome.",
        );
        for s in &inv {
            for (i, outcome) in OUTCOMES.iter().enumerate() {
                let labels = [
                    ("function", s.function.as_str()),
                    ("resource", &s.resource),
                    ("executed_version", &s.executed_version),
                    ("outcome", outcome),
                ];
                sample(&mut out, "versa_function_invocations_total", &labels, s.outcomes[i] as f64);
            }
        }
        header(&mut out, "versa_function_duration_seconds", "histogram", "Handler time of invocations that ran.");
        for s in &inv {
            let labels = [
                ("function", s.function.as_str()),
                ("resource", &s.resource),
                ("executed_version", &s.executed_version),
            ];
            histogram(&mut out, "versa_function_duration_seconds", &labels, &s.duration);
        }
        let mut throttles: Vec<(&(String, String), &u64)> = self.throttles.iter().collect();
        throttles.sort();
        header(
            &mut out,
            "versa_function_throttles_total",
            "counter",
            "Invocations refused with 429 (TooManyRequests).",
        );
        for ((function, resource), n) in throttles {
            sample(
                &mut out,
                "versa_function_throttles_total",
                &[("function", function), ("resource", resource)],
                *n as f64,
            );
        }
        let mut asyncs: Vec<(&String, &Async)> = self.asyncs.iter().collect();
        asyncs.sort_by(|a, b| a.0.cmp(b.0));
        header(&mut out, "versa_async_events_received_total", "counter", "Event invocations queued.");
        for (function, a) in &asyncs {
            sample(&mut out, "versa_async_events_received_total", &[("function", function)], a.received as f64);
        }
        header(
            &mut out,
            "versa_async_events_dropped_total",
            "counter",
            "Queued events that ended without success and without a destination.",
        );
        for (function, a) in &asyncs {
            sample(&mut out, "versa_async_events_dropped_total", &[("function", function)], a.dropped as f64);
        }
        header(&mut out, "versa_async_event_age_seconds", "histogram", "Time from queueing to each attempt.");
        for (function, a) in &asyncs {
            histogram(&mut out, "versa_async_event_age_seconds", &[("function", function)], &a.age);
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

    #[test]
    fn label_values_are_escaped() {
        let mut s = String::new();
        escape_into(&mut s, "a\\b\"c\nd");
        assert_eq!(s, "a\\\\b\\\"c\\nd");
        let mut p = Prom::default();
        p.throttle("f\"x", "f\"x:1");
        let text = p.render(&Gauges::default(), Dropped::default());
        assert!(
            text.contains("versa_function_throttles_total{function=\"f\\\"x\",resource=\"f\\\"x:1\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn histograms_are_cumulative_and_types_appear_once() {
        let mut p = Prom::default();
        for secs in [0.001, 0.02, 0.02, 3.0, 1000.0] {
            p.invocation("f", "f:prod", "1", Outcome::Success, secs);
        }
        p.invocation("f", "f:prod", "1", Outcome::FunctionError, 0.2);
        let text = p.render(&Gauges::default(), Dropped::default());
        assert!(text.contains("versa_function_duration_seconds_bucket{function=\"f\",resource=\"f:prod\",executed_version=\"1\",le=\"0.005\"} 1\n"));
        assert!(text.contains("le=\"0.025\"} 3\n"));
        assert!(text.contains("le=\"900\"} 5\n"));
        assert!(text.contains("le=\"+Inf\"} 6\n"));
        assert!(text.contains(
            "versa_function_duration_seconds_count{function=\"f\",resource=\"f:prod\",executed_version=\"1\"} 6\n"
        ));
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
            p.invocation(&format!("f{i}"), "r", "1", Outcome::Success, 0.1);
        }
        assert_eq!(p.series(), MAX_PROM_SERIES);
        let text = p.render(&Gauges::default(), Dropped::default());
        assert!(text.contains("versa_metrics_series_dropped_total 10\n"));
    }
}
