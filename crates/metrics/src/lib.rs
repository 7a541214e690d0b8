//! Platform metrics.
//!
//! [`Recorder`] is a cheap clonable handle the invocation paths call. Recording never awaits
//! and never touches the store: it updates, under a short mutex, the open 1-minute aggregate
//! (sum, count, min, max and a percentile [`Sketch`]) of each series the event belongs to, and
//! the in-memory Prometheus counters (`prom.rs`). A flusher task (`Recorder::start_flusher`)
//! merges the open aggregates into the store's `metric_points` table every [`FLUSH_EVERY`]
//! and deletes points older than [`RETENTION_MS`]. Metrics are not acknowledged writes: a crash
//! loses at most the aggregates of the last unflushed seconds; a graceful shutdown flushes.
//!
//! Values recorded at high resolution ([`Recorder::record_high_resolution`], PutMetricData's
//! `StorageResolution=1`) also go into 1-second aggregates, stored in a sibling table for
//! [`HIGH_RESOLUTION_RETENTION_MS`] (3 hours, as CloudWatch); they are always added to their
//! minute too, so after 3 hours they are still there as minute data.
//!
//! Bounds: at most [`MAX_SERIES`] series recorded by one process, [`MAX_OPEN_POINTS`] open
//! aggregates between flushes, [`MAX_STORED_SERIES`] series in the store; beyond them, new
//! series or points are dropped and counted ([`Recorder::dropped`]).

mod prom;
mod sketch;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use store::{MetricPoint, MetricSeries, Store, StoreError};

pub use crate::prom::{
    AlarmGauge, DeploymentGauge, Gauges, MAX_PROM_ALARMS, MAX_PROM_DEPLOYMENTS, MAX_PROM_SERIES, Outcome,
    PROM_DEPLOYMENT_RECENT_MS, RoutingWeight,
};
pub use crate::sketch::{RELATIVE_ERROR, Sketch};

/// The namespace of the metrics Lambda emits.
pub const LAMBDA: &str = "AWS/Lambda";
/// The aggregation period of stored points.
pub const PERIOD_MS: i64 = 60_000;
/// How often open aggregates are merged into the store.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);
/// How long stored points are kept (CloudWatch keeps 1-minute points 15 days).
pub const RETENTION_MS: i64 = 15 * 24 * 3600 * 1000;
/// Most distinct series one process records; beyond, new series are dropped and counted.
pub const MAX_SERIES: usize = 20_000;
/// Most open aggregates (series × minute) between flushes; beyond, points are dropped.
pub const MAX_OPEN_POINTS: usize = 100_000;
/// Most distinct series in the store; beyond, new series are not stored (dropped, counted).
pub const MAX_STORED_SERIES: u64 = 100_000;
/// The aggregation period of high-resolution points.
pub const HIGH_RESOLUTION_PERIOD_MS: i64 = 1_000;
/// How long 1-second points are kept (CloudWatch: 3 hours; the minute points stay).
pub const HIGH_RESOLUTION_RETENTION_MS: i64 = 3 * 3600 * 1000;
/// Most series with 1-second points (in memory, and in the store); beyond, new series get
/// minute points only (counted in [`Dropped::series`]). 1,000 series × 3 hours of seconds
/// is at most ~11 million stored rows.
pub const MAX_HIGH_RESOLUTION_SERIES: usize = 1_000;
/// How often, at most, the set of series with stored 1-second points is re-read once it is
/// full (series whose seconds all aged out leave it then).
const HIGH_RESOLUTION_RESEED: Duration = Duration::from_secs(600);
/// The periods statistics answer from 1-second points (CloudWatch's high-resolution periods).
pub const HIGH_RESOLUTION_PERIODS_MS: [i64; 5] = [1_000, 5_000, 10_000, 20_000, 30_000];

/// A fast non-cryptographic hasher for the in-memory maps (keys are Versa's own series names,
/// bounded in number, so flooding is not a concern): the recording path hashes ~16 keys per
/// invocation, and SipHash was most of its cost.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

/// Separates a dimension's name from its value, and the dimensions, in the canonical encoding.
const NAME_END: char = '\u{1f}';
const DIM_END: char = '\u{1e}';

/// A dimension set, sorted by name (the canonical order CloudWatch compares in).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dims(Vec<(String, String)>);

impl Dims {
    pub fn new(mut dims: Vec<(String, String)>) -> Dims {
        dims.sort();
        Dims(dims)
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The store's encoding: `name US value RS name US value …`.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                s.push(DIM_END);
            }
            s.push_str(k);
            s.push(NAME_END);
            s.push_str(v);
        }
        s
    }

    pub fn decode(s: &str) -> Dims {
        if s.is_empty() {
            return Dims::default();
        }
        Dims(
            s.split(DIM_END)
                .map(|d| match d.split_once(NAME_END) {
                    Some((k, v)) => (k.to_owned(), v.to_owned()),
                    None => (d.to_owned(), String::new()),
                })
                .collect(),
        )
    }
}

/// Sum, count, min, max and percentile sketch of the values of one series over one period.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub sum: f64,
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub sketch: Sketch,
}

impl Default for Aggregate {
    fn default() -> Self {
        Aggregate { sum: 0.0, count: 0, min: f64::INFINITY, max: f64::NEG_INFINITY, sketch: Sketch::default() }
    }
}

impl Aggregate {
    pub fn add(&mut self, v: f64) {
        self.sum += v;
        self.count += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sketch.add(v);
    }

    pub fn merge(&mut self, other: &Aggregate) {
        self.sum += other.sum;
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sketch.merge(&other.sketch);
    }

    pub fn average(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// The `p`-th percentile (0–100), within [`RELATIVE_ERROR`], clamped to `[min, max]`; the
    /// lowest and highest ranks are the exact minimum and maximum (p100 = Maximum, and the p99
    /// of fewer than 100 samples is their maximum, as on AWS).
    pub fn percentile(&self, p: f64) -> Option<f64> {
        let v = self.sketch.quantile(p / 100.0)?;
        let total = self.sketch.count();
        Some(match crate::sketch::rank(p / 100.0, total) {
            0 => self.min,
            r if r + 1 == total => self.max,
            _ => v.clamp(self.min, self.max),
        })
    }

    fn to_point(&self, start_ms: i64) -> MetricPoint {
        MetricPoint {
            start_ms,
            sum: self.sum,
            count: self.count,
            min: self.min,
            max: self.max,
            sketch: self.sketch.encode(),
        }
    }

    fn from_point(p: &MetricPoint) -> Aggregate {
        let sketch = Sketch::decode(&p.sketch).unwrap_or_else(|| {
            tracing::warn!(start_ms = p.start_ms, "unreadable percentile sketch in a stored metric point; ignored");
            Sketch::default()
        });
        Aggregate { sum: p.sum, count: p.count, min: p.min, max: p.max, sketch }
    }
}

/// One statistics datapoint: the aggregate of a series over `[timestamp_ms, + period)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoint {
    pub timestamp_ms: i64,
    pub aggregate: Aggregate,
}

/// Most executed versions [`Recorder::alias_traffic`] reads (each is two series reads).
pub const ALIAS_TRAFFIC_VERSIONS_MAX: usize = 16;

/// What one executed version of an alias answered over a window ([`Recorder::alias_traffic`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionTraffic {
    pub version: String,
    pub invocations: u64,
    pub errors: u64,
}

/// What one invocation was, for [`Recorder::invocation`].
#[derive(Debug, Clone, Copy)]
pub struct Invocation<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub function: &'a str,
    /// The qualifier the caller named (`None`: unqualified): an alias, a version, `$LATEST`.
    pub qualifier: Option<&'a str>,
    /// The version that ran.
    pub executed_version: &'a str,
    /// When the invocation started (the metrics' timestamp).
    pub start_ms: i64,
    /// Handler time, milliseconds (REPORT's `Duration`).
    pub duration_ms: f64,
    pub outcome: Outcome,
    /// Invocations running in the engine when this one started.
    pub concurrent: u64,
    /// `Some(true)`: it ran on a provisioned environment; `Some(false)`: the function has
    /// provisioned concurrency but this one spilled over; `None`: no provisioned concurrency.
    pub provisioned: Option<bool>,
}

/// One invocation on a provisioned environment, for [`Recorder::provisioned`].
#[derive(Debug, Clone, Copy)]
pub struct ProvisionedUse<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub function: &'a str,
    /// The alias or version the provisioned concurrency is configured on.
    pub qualifier: &'a str,
    /// When the invocation started.
    pub ts_ms: i64,
    /// Provisioned environments of that config busy now, this invocation's included.
    pub in_use: u32,
    /// Environments the config has allocated.
    pub allocated: u32,
    /// Busy provisioned environments of the whole function, and of its account and region.
    pub function_in_use: u32,
    pub account_in_use: u32,
}

/// Names an invocation's function as the asynchronous metrics need it.
#[derive(Debug, Clone, Copy)]
pub struct FunctionAt<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub function: &'a str,
    pub qualifier: Option<&'a str>,
}

/// Points and series dropped at the bounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// New series beyond [`MAX_SERIES`] (in memory) or [`MAX_STORED_SERIES`] (store).
    pub series: u64,
    /// Values not aggregated because [`MAX_OPEN_POINTS`] aggregates were open.
    pub points: u64,
}

/// One recorded series: its key, and its open aggregates by minute start.
struct Slot {
    key: MetricSeries,
    minutes: Vec<(i64, Aggregate)>,
}

#[derive(Default)]
struct Open {
    /// By the series' key string (account, region, namespace, metric, dims joined).
    series: FastMap<String, Slot>,
    /// Open aggregates, minutes and seconds.
    points: usize,
    /// The series recorded at high resolution by this process (by the key of `series`), and
    /// their open aggregates by second start.
    high_resolution: FastMap<String, Vec<(i64, Aggregate)>>,
}

/// The series with stored 1-second points, as last read (see [`HIGH_RESOLUTION_RESEED`]).
#[derive(Default)]
struct StoredHighResolution {
    read_at: Option<std::time::Instant>,
    series: HashSet<MetricSeries>,
}

struct Inner {
    store: Store,
    open: Mutex<Open>,
    stored_hr: Arc<Mutex<StoredHighResolution>>,
    prom: Mutex<prom::Prom>,
    dropped_series: AtomicU64,
    dropped_points: AtomicU64,
}

/// The recording handle; clones share the aggregates.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

/// What is added to an aggregate: one value, or a whole aggregate.
#[derive(Clone, Copy)]
enum Values<'a> {
    One(f64),
    Many(&'a Aggregate),
}

impl Values<'_> {
    fn add_to(self, a: &mut Aggregate) {
        match self {
            Values::One(v) => a.add(v),
            Values::Many(other) => a.merge(other),
        }
    }
}

/// An open aggregate taken for the store: its series, period start and values.
type Taken = (MetricSeries, i64, Aggregate);

/// The key of a series in the open aggregates: account, region, namespace, metric, dims.
fn series_key(series: &MetricSeries) -> String {
    let mut key = String::with_capacity(128);
    for part in [&series.account, &series.region, &series.namespace, &series.metric] {
        key.push_str(part);
        key.push('\u{0}');
    }
    key.push_str(&series.dims);
    key
}

/// The minute a timestamp falls in.
pub fn minute_of(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(PERIOD_MS) * PERIOD_MS
}

/// The dimension sets AWS emits an invocation's metrics under (deployments.md §3.5):
/// `{}` and `{FunctionName}` always; an alias adds `{FunctionName, Resource}` and
/// `{FunctionName, Resource, ExecutedVersion}`; a version adds `{FunctionName, Resource}`.
/// Each set is written in the canonical encoding, by `write` into `buf`.
fn dim_sets(function: &str, qualifier: Option<&str>, executed: Option<&str>, mut each: impl FnMut(&str)) {
    let mut buf = String::with_capacity(96);
    each("");
    buf.push_str("FunctionName");
    buf.push(NAME_END);
    buf.push_str(function);
    each(&buf);
    let Some(q) = qualifier else { return };
    let is_alias = q != "$LATEST" && !q.bytes().all(|b| b.is_ascii_digit());
    // Sorted by name: ExecutedVersion < FunctionName < Resource.
    buf.push(DIM_END);
    buf.push_str("Resource");
    buf.push(NAME_END);
    buf.push_str(function);
    buf.push(':');
    buf.push_str(q);
    each(&buf);
    if is_alias && let Some(v) = executed {
        let mut with_version = String::with_capacity(buf.len() + v.len() + 17);
        with_version.push_str("ExecutedVersion");
        with_version.push(NAME_END);
        with_version.push_str(v);
        with_version.push(DIM_END);
        with_version.push_str(&buf);
        each(&with_version);
    }
}

impl Recorder {
    pub fn new(store: Store) -> Recorder {
        Recorder {
            inner: Arc::new(Inner {
                store,
                open: Mutex::default(),
                stored_hr: Arc::default(),
                prom: Mutex::default(),
                dropped_series: AtomicU64::new(0),
                dropped_points: AtomicU64::new(0),
            }),
        }
    }

    /// Records one value of a series (any namespace; see [`Recorder::lambda_series`]) at `ts_ms`.
    pub fn record(&self, series: &MetricSeries, ts_ms: i64, v: f64) {
        let mut open = self.inner.open.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = String::with_capacity(128);
        let head = [series.account.as_str(), &series.region, &series.namespace, &series.metric];
        self.add(&mut open, &mut key, head, &series.dims, ts_ms, v);
    }

    /// Merges a whole aggregate into a series at `ts_ms` (CloudWatch's PutMetricData with
    /// `Values`/`Counts` or `StatisticValues`), under the same bounds as [`Recorder::record`];
    /// an empty aggregate records nothing.
    pub fn record_aggregate(&self, series: &MetricSeries, ts_ms: i64, a: &Aggregate) {
        if a.count == 0 {
            return;
        }
        let mut open = self.inner.open.lock().unwrap_or_else(|e| e.into_inner());
        let key = series_key(series);
        let minute = minute_of(ts_ms);
        let full = open.points >= MAX_OPEN_POINTS;
        if !open.series.contains_key(key.as_str()) {
            if open.series.len() >= MAX_SERIES {
                self.drop_series(&series.metric);
                return;
            }
            if full {
                self.inner.dropped_points.fetch_add(1, Ordering::Relaxed);
                return;
            }
            open.series.insert(key.clone(), Slot { key: series.clone(), minutes: Vec::new() });
        }
        let Some(slot) = open.series.get_mut(key.as_str()) else { return };
        match slot.minutes.iter_mut().find(|m| m.0 == minute) {
            Some(m) => m.1.merge(a),
            None if full => {
                self.inner.dropped_points.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                slot.minutes.push((minute, a.clone()));
                open.points += 1;
            }
        }
    }

    /// Adds `v` to the open aggregate of the series; `key` is a scratch buffer.
    fn add(&self, open: &mut Open, key: &mut String, head: [&str; 4], dims: &str, ts_ms: i64, v: f64) {
        key.clear();
        for part in head {
            key.push_str(part);
            key.push('\u{0}');
        }
        key.push_str(dims);
        let minute = minute_of(ts_ms);
        let full = open.points >= MAX_OPEN_POINTS;
        // One hash per value on the common path: a series already open.
        if let Some(slot) = open.series.get_mut(key.as_str()) {
            if self.add_point(&mut slot.minutes, minute, Values::One(v), full) {
                open.points += 1;
            }
            return;
        }
        if open.series.len() >= MAX_SERIES || full {
            if open.series.len() >= MAX_SERIES {
                self.drop_series(head[3]);
            } else {
                self.inner.dropped_points.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        let mut slot = Slot {
            key: MetricSeries {
                account: head[0].to_owned(),
                region: head[1].to_owned(),
                namespace: head[2].to_owned(),
                metric: head[3].to_owned(),
                dims: dims.to_owned(),
            },
            minutes: Vec::new(),
        };
        if self.add_point(&mut slot.minutes, minute, Values::One(v), full) {
            open.points += 1;
        }
        open.series.insert(key.clone(), slot);
    }

    fn drop_series(&self, metric: &str) {
        let before = self.inner.dropped_series.fetch_add(1, Ordering::Relaxed);
        if before.is_power_of_two() || before == 0 {
            tracing::warn!(
                metric,
                limit = MAX_SERIES,
                dropped = before + 1,
                "too many metric series; new series dropped"
            );
        }
    }

    /// Records one value at high resolution (PutMetricData's `StorageResolution=1`): into the
    /// series' 1-second aggregate (kept [`HIGH_RESOLUTION_RETENTION_MS`]) and its minute.
    /// Beyond [`MAX_HIGH_RESOLUTION_SERIES`], a new series gets its minute only.
    pub fn record_high_resolution(&self, series: &MetricSeries, ts_ms: i64, v: f64) {
        let mut open = self.inner.open.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = String::with_capacity(128);
        let head = [series.account.as_str(), &series.region, &series.namespace, &series.metric];
        self.add(&mut open, &mut key, head, &series.dims, ts_ms, v);
        self.add_second(&mut open, &key, &series.metric, ts_ms, Values::One(v));
    }

    /// [`Recorder::record_aggregate`] at high resolution (PutMetricData's `Values`/`Counts` or
    /// `StatisticValues` with `StorageResolution=1`): into the 1-second aggregate and the minute.
    pub fn record_aggregate_high_resolution(&self, series: &MetricSeries, ts_ms: i64, a: &Aggregate) {
        if a.count == 0 {
            return;
        }
        self.record_aggregate(series, ts_ms, a);
        let mut open = self.inner.open.lock().unwrap_or_else(|e| e.into_inner());
        let key = series_key(series);
        self.add_second(&mut open, &key, &series.metric, ts_ms, Values::Many(a));
    }

    /// Adds to the open 1-second aggregate of the series `key` (already recorded in its minute,
    /// unless dropped at a bound), under [`MAX_HIGH_RESOLUTION_SERIES`].
    fn add_second(&self, open: &mut Open, key: &str, metric: &str, ts_ms: i64, values: Values<'_>) {
        if !open.series.contains_key(key) {
            return; // dropped at a bound
        }
        if !open.high_resolution.contains_key(key) {
            if open.high_resolution.len() >= MAX_HIGH_RESOLUTION_SERIES {
                self.drop_series(metric);
                return;
            }
            open.high_resolution.insert(key.to_owned(), Vec::new());
        }
        let second = ts_ms.div_euclid(HIGH_RESOLUTION_PERIOD_MS) * HIGH_RESOLUTION_PERIOD_MS;
        let full = open.points >= MAX_OPEN_POINTS;
        let Some(seconds) = open.high_resolution.get_mut(key) else { return };
        if self.add_point(seconds, second, values, full) {
            open.points += 1;
        }
    }

    /// Adds `values` to the aggregate starting at `start` among `points`, opening it unless
    /// `full` (then they are dropped and counted). Returns whether an aggregate was opened.
    fn add_point(&self, points: &mut Vec<(i64, Aggregate)>, start: i64, values: Values<'_>, full: bool) -> bool {
        // The newest first: values mostly arrive in time order.
        if let Some(m) = points.iter_mut().rev().find(|m| m.0 == start) {
            values.add_to(&mut m.1);
            return false;
        }
        if full {
            self.inner.dropped_points.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let mut a = Aggregate::default();
        values.add_to(&mut a);
        points.push((start, a));
        true
    }

    /// Records an invocation that ran (success or function error): Invocations, Errors,
    /// Duration, ConcurrentExecutions and the provisioned-concurrency counts, under each of
    /// AWS's dimension sets; and the Prometheus counters.
    pub fn invocation(&self, i: &Invocation<'_>) {
        let error = if matches!(i.outcome, Outcome::Success) { 0.0 } else { 1.0 };
        let mut values: [(&str, f64); 5] = [
            ("Invocations", 1.0),
            ("Errors", error),
            ("Duration", i.duration_ms),
            ("ConcurrentExecutions", i.concurrent as f64),
            ("", 0.0),
        ];
        match i.provisioned {
            Some(true) => values[4] = ("ProvisionedConcurrencyInvocations", 1.0),
            Some(false) => values[4] = ("ProvisionedConcurrencySpilloverInvocations", 1.0),
            None => {}
        }
        {
            let mut open = self.inner.open.lock().unwrap_or_else(|e| e.into_inner());
            let mut key = String::with_capacity(128);
            dim_sets(i.function, i.qualifier, Some(i.executed_version), |dims| {
                for (metric, v) in values {
                    if !metric.is_empty() {
                        self.add(&mut open, &mut key, [i.account, i.region, LAMBDA, metric], dims, i.start_ms, v);
                    }
                }
            });
        }
        let resource = resource(i.function, i.qualifier);
        let mut p = self.inner.prom.lock().unwrap_or_else(|e| e.into_inner());
        let f = FunctionAt { account: i.account, region: i.region, function: i.function, qualifier: i.qualifier };
        p.invocation(&f, &resource, i.executed_version, i.outcome, i.duration_ms / 1000.0);
    }

    /// Records a throttled invocation (429): Throttles, not Invocations.
    pub fn throttle(&self, f: &FunctionAt<'_>, ts_ms: i64) {
        self.lambda(f, "Throttles", ts_ms, 1.0);
        let resource = resource(f.function, f.qualifier);
        self.inner.prom.lock().unwrap_or_else(|e| e.into_inner()).throttle(f, &resource);
    }

    /// An `Event` invocation was queued (at `ts_ms`).
    pub fn async_received(&self, f: &FunctionAt<'_>, ts_ms: i64) {
        self.lambda(f, "AsyncEventsReceived", ts_ms, 1.0);
        self.inner.prom.lock().unwrap_or_else(|e| e.into_inner()).async_received(f);
    }

    /// An attempt of a queued event starts (at `ts_ms`), `age_ms` after it was queued.
    pub fn async_age(&self, f: &FunctionAt<'_>, ts_ms: i64, age_ms: f64) {
        self.lambda(f, "AsyncEventAge", ts_ms, age_ms);
        self.inner.prom.lock().unwrap_or_else(|e| e.into_inner()).async_age(f, age_ms / 1000.0);
    }

    /// A queued event ended without success and without a destination taking it.
    pub fn async_dropped(&self, f: &FunctionAt<'_>, ts_ms: i64) {
        self.lambda(f, "AsyncEventsDropped", ts_ms, 1.0);
        self.inner.prom.lock().unwrap_or_else(|e| e.into_inner()).async_dropped(f);
    }

    /// A destination record could not be delivered.
    pub fn destination_failure(&self, f: &FunctionAt<'_>, ts_ms: i64) {
        self.lambda(f, "DestinationDeliveryFailures", ts_ms, 1.0);
        self.inner.prom.lock().unwrap_or_else(|e| e.into_inner()).destination_failure(f);
    }

    /// A failed event could not be sent to the function's dead-letter queue.
    pub fn dead_letter_error(&self, f: &FunctionAt<'_>, ts_ms: i64) {
        self.lambda(f, "DeadLetterErrors", ts_ms, 1.0);
        self.inner.prom.lock().unwrap_or_else(|e| e.into_inner()).dead_letter_error(f);
    }

    /// An invocation of a function without reserved concurrency was admitted at `ts_ms`, with
    /// `in_use` such invocations running in its account and region (this one included):
    /// `UnreservedConcurrentExecutions`, account level (no dimensions).
    pub fn unreserved_concurrency(&self, account: &str, region: &str, ts_ms: i64, in_use: u64) {
        let mut open = self.inner.open.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = String::with_capacity(64);
        let head = [account, region, LAMBDA, "UnreservedConcurrentExecutions"];
        self.add(&mut open, &mut key, head, "", ts_ms, in_use as f64);
    }

    /// An invocation took a provisioned environment: `ProvisionedConcurrentExecutions` (under
    /// `{FunctionName, Resource}` of the config, `{FunctionName}` and `{}`) and
    /// `ProvisionedConcurrencyUtilization` (in use / allocated, under `{FunctionName, Resource}`).
    pub fn provisioned(&self, p: &ProvisionedUse<'_>) {
        let mut open = self.inner.open.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = String::with_capacity(128);
        let mut function = String::with_capacity(64);
        function.push_str("FunctionName");
        function.push(NAME_END);
        function.push_str(p.function);
        let resource = format!("{function}{DIM_END}Resource{NAME_END}{}:{}", p.function, p.qualifier);
        let head = |metric| [p.account, p.region, LAMBDA, metric];
        let executions = "ProvisionedConcurrentExecutions";
        self.add(&mut open, &mut key, head(executions), &resource, p.ts_ms, f64::from(p.in_use));
        self.add(&mut open, &mut key, head(executions), &function, p.ts_ms, f64::from(p.function_in_use));
        self.add(&mut open, &mut key, head(executions), "", p.ts_ms, f64::from(p.account_in_use));
        if p.allocated > 0 {
            let utilization = f64::from(p.in_use) / f64::from(p.allocated);
            self.add(&mut open, &mut key, head("ProvisionedConcurrencyUtilization"), &resource, p.ts_ms, utilization);
        }
    }

    /// Drops the Prometheus series of a deleted function (`qualifier` `None`), alias or
    /// version (deployments.md §5). The stored CloudWatch points stay until retention, as on AWS.
    pub fn forget(&self, account: &str, region: &str, function: &str, qualifier: Option<&str>) {
        self.inner.prom.lock().unwrap_or_else(|e| e.into_inner()).forget(account, region, function, qualifier);
    }

    fn lambda(&self, f: &FunctionAt<'_>, metric: &str, ts_ms: i64, v: f64) {
        let mut open = self.inner.open.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = String::with_capacity(128);
        dim_sets(f.function, f.qualifier, None, |dims| {
            self.add(&mut open, &mut key, [f.account, f.region, LAMBDA, metric], dims, ts_ms, v);
        });
    }

    /// Series and points dropped at the bounds so far.
    pub fn dropped(&self) -> Dropped {
        Dropped {
            series: self.inner.dropped_series.load(Ordering::Relaxed),
            points: self.inner.dropped_points.load(Ordering::Relaxed),
        }
    }

    /// The Prometheus text exposition (format 0.0.4) of the counters since process start and
    /// of `gauges`, read now by the caller.
    pub fn prometheus(&self, gauges: &Gauges) -> String {
        let p = self.inner.prom.lock().unwrap_or_else(|e| e.into_inner());
        p.render(gauges, self.dropped())
    }

    /// Takes the open aggregates out (the flusher merges them into the store).
    /// Minutes and seconds apart.
    fn take(&self) -> (Vec<Taken>, Vec<Taken>) {
        let mut open = self.inner.open.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::with_capacity(open.points);
        for slot in open.series.values_mut() {
            for (minute, a) in slot.minutes.drain(..) {
                out.push((slot.key.clone(), minute, a));
            }
        }
        let mut seconds = Vec::new();
        let Open { series, high_resolution, .. } = &mut *open;
        for (key, points) in high_resolution.iter_mut() {
            let Some(slot) = series.get(key) else { continue };
            for (second, a) in points.drain(..) {
                seconds.push((slot.key.clone(), second, a));
            }
        }
        open.points = 0;
        (out, seconds)
    }

    /// Merges the open aggregates into the store and deletes points past retention.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (taken, seconds) = self.take();
        let now = stdx::time::now_ms();
        let cut = now - RETENTION_MS;
        let hr_cut = now - HIGH_RESOLUTION_RETENTION_MS;
        let stored_hr = Arc::clone(&self.inner.stored_hr);
        let (stored, dropped) = self
            .inner
            .store
            .write(move |tx| {
                let mut series = tx.metric_series_count()?;
                let mut dropped = 0u64;
                let mut stored = 0usize;
                for (key, minute, mut a) in taken {
                    match tx.metric_point(&key, minute)? {
                        Some(p) => a.merge(&Aggregate::from_point(&p)),
                        None if !tx.has_metric_series(&key)? => {
                            if series >= MAX_STORED_SERIES {
                                dropped += 1;
                                continue;
                            }
                            series += 1;
                        }
                        None => {}
                    }
                    tx.put_metric_point(&key, &a.to_point(minute))?;
                    stored += 1;
                }
                tx.delete_metric_points_before(minute_of(cut))?;
                if !seconds.is_empty() {
                    let mut known = stored_hr.lock().unwrap_or_else(|e| e.into_inner());
                    let stale = known.read_at.is_none_or(|t| {
                        known.series.len() >= MAX_HIGH_RESOLUTION_SERIES && t.elapsed() >= HIGH_RESOLUTION_RESEED
                    });
                    if stale {
                        known.series = tx.metric_series_hr(MAX_HIGH_RESOLUTION_SERIES)?.into_iter().collect();
                        known.read_at = Some(std::time::Instant::now());
                    }
                    for (key, second, mut a) in seconds {
                        if second < hr_cut {
                            continue;
                        }
                        if !known.series.contains(&key) {
                            if known.series.len() >= MAX_HIGH_RESOLUTION_SERIES {
                                dropped += 1;
                                continue;
                            }
                            known.series.insert(key.clone());
                        }
                        if let Some(p) = tx.metric_point_hr(&key, second)? {
                            a.merge(&Aggregate::from_point(&p));
                        }
                        tx.put_metric_point_hr(&key, &a.to_point(second))?;
                        stored += 1;
                    }
                }
                tx.delete_metric_points_hr_before(hr_cut)?;
                Ok::<_, StoreError>((stored, dropped))
            })
            .await?;
        if dropped > 0 {
            self.inner.dropped_series.fetch_add(dropped, Ordering::Relaxed);
            tracing::warn!(dropped, limit = MAX_STORED_SERIES, "too many stored metric series; new series not stored");
        }
        tracing::trace!(stored, "flushed metric aggregates");
        Ok(())
    }

    /// Flushes every [`FLUSH_EVERY`] until the task is aborted (flush once more at shutdown
    /// with [`Recorder::flush`]).
    pub fn start_flusher(&self) -> tokio::task::JoinHandle<()> {
        let recorder = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = recorder.flush().await {
                    tracing::error!(error = %e, "cannot flush metric aggregates; they are lost");
                }
            }
        })
    }

    /// Aggregates of one series over `[from_ms, to_ms)` by `period_ms`, from the store and the
    /// not yet flushed aggregates; periods without values are left out. A period of 1, 5, 10,
    /// 20 or 30 seconds ([`HIGH_RESOLUTION_PERIODS_MS`]) is answered from the 1-second points;
    /// a minute without any (values recorded at standard resolution, or seconds past their
    /// 3 hours) counts as one value at its start. Any other period is answered from the minutes
    /// (shorter ones count as a minute).
    pub async fn statistics(
        &self,
        series: &MetricSeries,
        from_ms: i64,
        to_ms: i64,
        period_ms: i64,
    ) -> Result<Vec<Datapoint>, StoreError> {
        let high_resolution = HIGH_RESOLUTION_PERIODS_MS.contains(&period_ms);
        let period = if high_resolution { period_ms } else { period_ms.max(PERIOD_MS) };
        let s = series.clone();
        let (stored_minutes, stored_seconds) = self
            .inner
            .store
            .read(move |tx| {
                let seconds = if high_resolution { tx.metric_points_hr(&s, from_ms, to_ms)? } else { Vec::new() };
                Ok::<_, StoreError>((tx.metric_points(&s, from_ms, to_ms)?, seconds))
            })
            .await?;
        let in_range = |start: &i64| (from_ms..to_ms).contains(start);
        let mut minutes: Vec<(i64, Aggregate)> =
            stored_minutes.iter().map(|p| (p.start_ms, Aggregate::from_point(p))).collect();
        let mut seconds: Vec<(i64, Aggregate)> =
            stored_seconds.iter().map(|p| (p.start_ms, Aggregate::from_point(p))).collect();
        {
            let open = self.inner.open.lock().unwrap_or_else(|e| e.into_inner());
            let key = series_key(series);
            if let Some(slot) = open.series.get(&key) {
                minutes.extend(slot.minutes.iter().filter(|(m, _)| in_range(m)).cloned());
            }
            if high_resolution && let Some(open_seconds) = open.high_resolution.get(&key) {
                seconds.extend(open_seconds.iter().filter(|(m, _)| in_range(m)).cloned());
            }
        }
        let mut by_period: std::collections::BTreeMap<i64, Aggregate> = std::collections::BTreeMap::new();
        let bucket = |start: i64| from_ms + (start - from_ms).div_euclid(period) * period;
        // A minute with 1-second points holds the same values: it is left out.
        let covered: HashSet<i64> = seconds.iter().map(|(s, _)| minute_of(*s)).collect();
        for (start, a) in seconds.iter().chain(minutes.iter().filter(|(m, _)| !covered.contains(m))) {
            by_period.entry(bucket(*start)).or_default().merge(a);
        }
        Ok(by_period.into_iter().map(|(timestamp_ms, aggregate)| Datapoint { timestamp_ms, aggregate }).collect())
    }

    /// Invocations and errors of an alias (`at.qualifier`; none: nothing) per executed version
    /// over `[from_ms, to_ms)` (the `{FunctionName, Resource, ExecutedVersion}` series, minute
    /// points and the unflushed ones), one entry per version of `versions` that ran at least
    /// once, in the order given.
    /// The caller names the candidate versions: those the alias pointed at during the window
    /// (its routing now and the before/after of its history since `from_ms`), at most
    /// [`ALIAS_TRAFFIC_VERSIONS_MAX`] (the rest are ignored).
    pub async fn alias_traffic(
        &self,
        at: &FunctionAt<'_>,
        versions: &[String],
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<VersionTraffic>, StoreError> {
        let (account, region, function) = (at.account, at.region, at.function);
        let mut out = Vec::new();
        let Some(alias) = at.qualifier else { return Ok(out) };
        for version in versions.iter().take(ALIAS_TRAFFIC_VERSIONS_MAX) {
            let dims = Dims::new(vec![
                ("ExecutedVersion".to_owned(), version.clone()),
                ("FunctionName".to_owned(), function.to_owned()),
                ("Resource".to_owned(), format!("{function}:{alias}")),
            ]);
            let sum = |points: Vec<Datapoint>| points.iter().map(|p| p.aggregate.sum).sum::<f64>().round() as u64;
            let invocations = Recorder::lambda_series(account, region, "Invocations", &dims);
            let invocations = sum(self.statistics(&invocations, from_ms, to_ms, PERIOD_MS).await?);
            if invocations == 0 {
                continue;
            }
            let errors = Recorder::lambda_series(account, region, "Errors", &dims);
            let errors = sum(self.statistics(&errors, from_ms, to_ms, PERIOD_MS).await?);
            out.push(VersionTraffic { version: version.clone(), invocations, errors });
        }
        Ok(out)
    }

    /// The `AWS/Lambda` series key of a function's metric under `dims`.
    pub fn lambda_series(account: &str, region: &str, metric: &str, dims: &Dims) -> MetricSeries {
        MetricSeries {
            account: account.to_owned(),
            region: region.to_owned(),
            namespace: LAMBDA.to_owned(),
            metric: metric.to_owned(),
            dims: dims.encode(),
        }
    }
}

/// The `resource` label: `fn` unqualified, else `fn:qualifier`.
fn resource(function: &str, qualifier: Option<&str>) -> String {
    match qualifier {
        Some(q) => {
            let mut r = String::with_capacity(function.len() + 1 + q.len());
            r.push_str(function);
            r.push(':');
            r.push_str(q);
            r
        }
        None => function.to_owned(),
    }
}

#[cfg(test)]
mod tests;
