//! PutMetricData, GetMetricStatistics, GetMetricData and ListMetrics over `metrics::Recorder`
//! (deployments.md §3.2). Points are stored as 1-minute aggregates, and as 1-second ones too
//! when put with `StorageResolution=1` (kept 3 hours; periods of 1, 5, 10, 20 and 30 s read
//! them); units are validated and, per series, remembered in memory only (docs/compat.md).

use metrics::{Aggregate, Dims};
use store::MetricSeries;

use crate::doc::{Error, Input, Value};
use crate::{CloudWatch, Context};

/// PutMetricData: most metrics per request.
pub const METRIC_DATA_MAX: usize = 1000;
/// Most dimensions of a metric.
pub const DIMENSIONS_MAX: usize = 30;
/// Most dimension filters of ListMetrics / dimensions of a query.
pub const LIST_DIMENSIONS_MAX: usize = 10;
/// Most `Values` of one metric.
pub const VALUES_MAX: usize = 150;
/// Longest namespace, metric name, dimension name.
pub const NAME_CHARS_MAX: usize = 255;
/// Longest dimension value.
pub const DIMENSION_VALUE_CHARS_MAX: usize = 1024;
/// Largest magnitude of a value: 2^360.
pub const VALUE_ABS_MAX: f64 = 2.348_542_582_773_833_2e108;
/// Oldest timestamp accepted: two weeks back.
pub const PAST_MS_MAX: i64 = 14 * 24 * 3600 * 1000;
/// Newest timestamp accepted: two hours ahead.
pub const FUTURE_MS_MAX: i64 = 2 * 3600 * 1000;
/// Most datapoints GetMetricStatistics answers.
pub const DATAPOINTS_MAX: i64 = 1440;
/// Most statistics / extended statistics of GetMetricStatistics.
pub const STATISTICS_MAX: usize = 5;
pub const EXTENDED_STATISTICS_MAX: usize = 10;
/// Most queries of GetMetricData.
pub const QUERIES_MAX: usize = 500;
/// GetMetricData's default and largest MaxDatapoints.
pub const MAX_DATAPOINTS_DEFAULT: i64 = 100_800;
/// ListMetrics page size.
pub const LIST_PAGE: usize = 500;
/// Series read from the store per round while filtering ListMetrics.
const LIST_SCAN_BATCH: usize = 2000;
/// StartTime older than this is rounded down to 5 minutes (else to the minute).
const START_FIVE_MINUTE_ROUNDING_AGE_MS: i64 = 15 * 24 * 3600 * 1000;
/// StartTime older than this is rounded down to the hour.
const START_HOUR_ROUNDING_AGE_MS: i64 = 63 * 24 * 3600 * 1000;
/// The storage period: the finest Period served.
const PERIOD_MS: i64 = metrics::PERIOD_MS;

const STATISTICS: [&str; 5] = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"];
const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

fn name_ok(input: &Input<'_>, member: &str, s: &str, max: usize) -> Result<(), Error> {
    let n = s.chars().count();
    if n == 0 || n > max {
        return Err(Error::invalid(format!(
            "The parameter {} must be between 1 and {max} characters long.",
            input.name(member)
        )));
    }
    // The store's dimension encoding separates with control characters; AWS names are text.
    if s.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "The parameter {} must not contain control characters.",
            input.name(member)
        )));
    }
    Ok(())
}

fn namespace(input: &Input<'_>, required: bool) -> Result<Option<String>, Error> {
    let ns = if required { Some(input.required_str("Namespace")?) } else { input.str("Namespace")? };
    if let Some(ns) = ns {
        name_ok(input, "Namespace", ns, NAME_CHARS_MAX)?;
        if ns.starts_with(':') {
            return Err(Error::invalid(format!("The value {ns} for parameter Namespace is invalid.")));
        }
    }
    Ok(ns.map(str::to_owned))
}

fn unit(input: &Input<'_>) -> Result<Option<&'static str>, Error> {
    match input.str("Unit")? {
        None => Ok(None),
        Some(u) => UNITS.iter().copied().find(|x| *x == u).map(Some).ok_or_else(|| {
            Error::invalid(format!(
                "The parameter {} must be a value in the set [ {} ].",
                input.name("Unit"),
                UNITS.join(", ")
            ))
        }),
    }
}

/// The units each custom series was put with (AWS keeps units with the data; Versa's stored
/// points have none): GetMetricStatistics answers the last one when no `Unit` is asked, and a
/// `Unit` the series was never put with selects no data. Kept in memory, at most
/// [`UNITS_REMEMBERED_MAX`] series (then new series are unknown), and lost on restart
/// (docs/compat.md); an unknown series answers `None` and any `Unit` selects its data.
#[derive(Debug, Clone, Default)]
pub struct Units(std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, SeriesUnits>>>);

/// The units put to one series: a bit per [`UNITS`] entry, and the last one.
#[derive(Debug, Clone, Copy)]
struct SeriesUnits {
    seen: u32,
    last: &'static str,
}

/// Most series whose units [`Units`] remembers.
pub const UNITS_REMEMBERED_MAX: usize = 100_000;

fn unit_bit(unit: &str) -> u32 {
    UNITS.iter().position(|u| *u == unit).map_or(0, |i| 1 << i)
}

impl Units {
    fn key(s: &MetricSeries) -> String {
        [s.account.as_str(), &s.region, &s.namespace, &s.metric, &s.dims].join("\u{1}")
    }

    fn remember(&self, s: &MetricSeries, unit: &'static str) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let key = Units::key(s);
        if let Some(u) = m.get_mut(&key) {
            u.seen |= unit_bit(unit);
            u.last = unit;
        } else if m.len() < UNITS_REMEMBERED_MAX {
            m.insert(key, SeriesUnits { seen: unit_bit(unit), last: unit });
        }
    }

    fn get(&self, s: &MetricSeries) -> Option<SeriesUnits> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(&Units::key(s)).copied()
    }

    /// The unit last put to the series.
    fn of(&self, s: &MetricSeries) -> Option<&'static str> {
        self.get(s).map(|u| u.last)
    }

    /// Whether the series is known never to have been put with `unit`.
    fn never_put_with(&self, s: &MetricSeries, unit: &str) -> bool {
        self.get(s).is_some_and(|u| u.seen & unit_bit(unit) == 0)
    }
}

/// The unit AWS publishes an `AWS/Lambda` metric in (Versa's series carry no unit, but these
/// are known): GetMetricStatistics answers it, and a `Unit` filter naming another unit selects
/// no data, as on AWS where units separate data.
fn lambda_unit(namespace: &str, metric: &str) -> Option<&'static str> {
    if namespace != metrics::LAMBDA {
        return None;
    }
    match metric {
        "Duration" | "PostRuntimeExtensionsDuration" | "IteratorAge" | "AsyncEventAge" => Some("Milliseconds"),
        "Invocations"
        | "Errors"
        | "Throttles"
        | "DeadLetterErrors"
        | "DestinationDeliveryFailures"
        | "ProvisionedConcurrencyInvocations"
        | "ProvisionedConcurrencySpilloverInvocations"
        | "RecursiveInvocationsDropped"
        | "AsyncEventsReceived"
        | "AsyncEventsDropped"
        | "ConcurrentExecutions"
        | "UnreservedConcurrentExecutions"
        | "ProvisionedConcurrentExecutions"
        | "ClaimedAccountConcurrency" => Some("Count"),
        _ => None,
    }
}

/// Whether a `Unit` filter excludes a series' data: only when the series' units are known
/// ([`lambda_unit`], [`Units`]) and do not include it.
fn unit_excludes(cw: &CloudWatch, series: &MetricSeries, filter: Option<&str>) -> bool {
    let Some(f) = filter else { return false };
    match lambda_unit(&series.namespace, &series.metric) {
        Some(known) => known != f,
        None => cw.units.never_put_with(series, f),
    }
}

/// `Dimensions`: names and values, at most `max`, no name twice.
fn dimensions(input: &Input<'_>, max: usize, value_required: bool) -> Result<Vec<(String, Option<String>)>, Error> {
    let items = input.elements("Dimensions")?;
    if items.len() > max {
        return Err(Error::invalid(format!(
            "The collection {} must not have a size greater than {max}.",
            input.name("Dimensions")
        )));
    }
    let mut out: Vec<(String, Option<String>)> = Vec::with_capacity(items.len());
    for d in &items {
        let name = d.required_str("Name")?;
        name_ok(d, "Name", name, NAME_CHARS_MAX)?;
        let value = if value_required { Some(d.required_str("Value")?) } else { d.str("Value")? };
        if let Some(v) = value {
            name_ok(d, "Value", v, DIMENSION_VALUE_CHARS_MAX)?;
        }
        if out.iter().any(|(n, _)| n == name) {
            return Err(Error::invalid(format!("No metric may have two dimensions named {name}.")));
        }
        out.push((name.to_owned(), value.map(str::to_owned)));
    }
    Ok(out)
}

fn dims_of(pairs: Vec<(String, Option<String>)>) -> Dims {
    Dims::new(pairs.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect())
}

fn series(ctx: &Context, namespace: &str, metric: &str, dims: &Dims) -> MetricSeries {
    MetricSeries {
        account: ctx.account.clone(),
        region: ctx.region.clone(),
        namespace: namespace.to_owned(),
        metric: metric.to_owned(),
        dims: dims.encode(),
    }
}

fn value_ok(input: &Input<'_>, member: &str, v: f64) -> Result<(), Error> {
    if !v.is_finite() || v.abs() > VALUE_ABS_MAX {
        return Err(Error::invalid(format!("The value {v} for parameter {} is invalid.", input.name(member))));
    }
    Ok(())
}

/// One validated metric of PutMetricData, before it is recorded.
struct Datum {
    series: MetricSeries,
    ts_ms: i64,
    aggregate: Aggregate,
    /// `StorageResolution=1`.
    high_resolution: bool,
    unit: &'static str,
}

pub async fn put_metric_data(cw: &CloudWatch, ctx: &Context, input: Input<'_>) -> Result<Option<Value>, Error> {
    let ns = namespace(&input, true)?.unwrap_or_default();
    if ns.starts_with("AWS/") {
        return Err(Error::invalid(format!("The value {ns} for parameter Namespace is invalid.")));
    }
    let items = input.elements("MetricData")?;
    if items.is_empty() {
        return Err(Error::missing("MetricData"));
    }
    if items.len() > METRIC_DATA_MAX {
        return Err(Error::invalid(format!(
            "The collection MetricData must not have a size greater than {METRIC_DATA_MAX}."
        )));
    }
    let now = stdx::time::now_ms();
    let mut data = Vec::with_capacity(items.len());
    for m in &items {
        let metric = m.required_str("MetricName")?;
        name_ok(m, "MetricName", metric, NAME_CHARS_MAX)?;
        let dims = dims_of(dimensions(m, DIMENSIONS_MAX, true)?);
        let put_unit = unit(m)?.unwrap_or("None");
        let resolution = m.i64("StorageResolution")?;
        if let Some(r) = resolution
            && r != 1
            && r != 60
        {
            return Err(Error::invalid(format!(
                "The value {r} for parameter {} is invalid. Valid values are 1 and 60.",
                m.name("StorageResolution")
            )));
        }
        let high_resolution = resolution == Some(1);
        let ts_ms = m.time_ms("Timestamp")?.unwrap_or(now);
        if ts_ms < now - PAST_MS_MAX {
            return Err(Error::invalid(format!(
                "The parameter {} must specify a time no more than two weeks in the past.",
                m.name("Timestamp")
            )));
        }
        if ts_ms > now + FUTURE_MS_MAX {
            return Err(Error::invalid(format!(
                "The parameter {} must specify a time no more than two hours in the future.",
                m.name("Timestamp")
            )));
        }
        let value = m.f64("Value")?;
        let has_values = m.has("Values");
        let has_stats = m.has("StatisticValues");
        if value.is_some() && has_values {
            return Err(Error::combination(format!(
                "The parameters {} and {} are mutually exclusive and you have specified both.",
                m.name("Value"),
                m.name("Values")
            )));
        }
        if has_stats && (value.is_some() || has_values) {
            let other = if value.is_some() { "Value" } else { "Values" };
            return Err(Error::combination(format!(
                "The parameters {} and {} are mutually exclusive and you have specified both.",
                m.name(other),
                m.name("StatisticValues")
            )));
        }
        let mut a = Aggregate::default();
        if let Some(v) = value {
            value_ok(m, "Value", v)?;
            a.add(v);
        } else if has_values {
            let values = m.numbers("Values")?;
            let counts = m.numbers("Counts")?;
            if values.len() > VALUES_MAX {
                return Err(Error::invalid(format!(
                    "The collection {} must not have a size greater than {VALUES_MAX}.",
                    m.name("Values")
                )));
            }
            if m.has("Counts") && counts.len() != values.len() {
                return Err(Error::invalid(format!(
                    "The parameters {} and {} must be of the same size.",
                    m.name("Values"),
                    m.name("Counts")
                )));
            }
            for (i, v) in values.iter().enumerate() {
                value_ok(m, &format!("Values.member.{}", i + 1), *v)?;
                let c = counts.get(i).copied().unwrap_or(1.0);
                if !(0.0..=VALUE_ABS_MAX).contains(&c) {
                    return Err(Error::invalid(format!(
                        "The value {c} for parameter {} is invalid.",
                        m.name(&format!("Counts.member.{}", i + 1))
                    )));
                }
                let n = c.round() as u64;
                if n > 0 {
                    a.sum += v * n as f64;
                    a.count += n;
                    a.min = a.min.min(*v);
                    a.max = a.max.max(*v);
                    a.sketch.add_n(*v, n);
                }
            }
        } else if let Some(s) = m.nested("StatisticValues")? {
            let get = |name: &str| -> Result<f64, Error> {
                let v = s.f64(name)?.ok_or_else(|| Error::missing(&s.name(name)))?;
                value_ok(&s, name, v)?;
                Ok(v)
            };
            let (count, sum, min, max) = (get("SampleCount")?, get("Sum")?, get("Minimum")?, get("Maximum")?);
            if count <= 0.0 {
                return Err(Error::invalid(format!(
                    "The value {count} for parameter {} is invalid.",
                    s.name("SampleCount")
                )));
            }
            if min > max {
                return Err(Error::invalid(format!(
                    "The parameter {} must be less than or equal to the parameter {}.",
                    s.name("Minimum"),
                    s.name("Maximum")
                )));
            }
            let n = count.round().max(1.0) as u64;
            a.sum = sum;
            a.count = n;
            a.min = min;
            a.max = max;
            // No distribution is known: the mean stands for every sample (percentiles are
            // clamped to [min, max]).
            a.sketch.add_n(sum / count, n);
        } else {
            return Err(Error::missing(&m.name("Value")));
        }
        data.push(Datum {
            series: series(ctx, &ns, metric, &dims),
            ts_ms,
            aggregate: a,
            high_resolution,
            unit: put_unit,
        });
    }
    // Everything validated: nothing is stored for a request with one bad metric.
    for d in &data {
        cw.units.remember(&d.series, d.unit);
        if d.high_resolution {
            cw.recorder.record_aggregate_high_resolution(&d.series, d.ts_ms, &d.aggregate);
        } else {
            cw.recorder.record_aggregate(&d.series, d.ts_ms, &d.aggregate);
        }
    }
    // Alarms on these metrics are evaluated now rather than at their next round.
    if let Some(alarms) = &cw.alarms {
        alarms.poke();
    }
    Ok(None)
}

/// Period in seconds: a high-resolution period (1, 5, 10, 20 or 30) or a multiple of 60.
fn period_ms(input: &Input<'_>, member: &str, period: i64) -> Result<i64, Error> {
    if period <= 0 {
        return Err(Error::invalid(format!("The parameter {} must be greater than 0.", input.name(member))));
    }
    if metrics::HIGH_RESOLUTION_PERIODS_MS.contains(&(period * 1000)) {
        return Ok(period * 1000);
    }
    if period % 60 != 0 {
        return Err(Error::invalid(format!("The parameter {} must be a multiple of 60.", input.name(member))));
    }
    Ok(period * 1000)
}

/// A percentile statistic `pNN` / `pNN.NN` → its percent.
fn percentile(stat: &str) -> Option<f64> {
    let p = stat.strip_prefix('p')?;
    let (int, frac) = p.split_once('.').unwrap_or((p, ""));
    let ok = !int.is_empty()
        && int.len() <= 3
        && int.bytes().all(|c| c.is_ascii_digit())
        && frac.len() <= 2
        && frac.bytes().all(|c| c.is_ascii_digit())
        && !(p.contains('.') && frac.is_empty());
    let v: f64 = p.parse().ok()?;
    (ok && (0.0..=100.0).contains(&v)).then_some(v)
}

fn statistic_value(a: &Aggregate, stat: &str) -> Option<f64> {
    match stat {
        "SampleCount" => Some(a.count as f64),
        "Average" => a.average(),
        "Sum" => Some(a.sum),
        "Minimum" => Some(a.min),
        "Maximum" => Some(a.max),
        other => a.percentile(percentile(other)?),
    }
}

/// The time range, aligned down to the period, and its checks.
fn range(input: &Input<'_>) -> Result<(i64, i64), Error> {
    let start = input.required_time_ms("StartTime")?;
    let end = input.required_time_ms("EndTime")?;
    if start >= end {
        return Err(Error::invalid("The parameter StartTime must be less than the parameter EndTime."));
    }
    Ok((start, end))
}

/// What AWS rounds StartTime down to, from which datapoints follow every Period [D: the
/// StartTime documentation]: a sub-minute period's own division of the minute; else the whole
/// minute (so Period=300 from 12:07 answers 12:07, 12:12, …, not 12:05, 12:10), the 5-minute
/// clock interval from 15 days back, the hour from 63 days back.
fn start_rounding(start: i64, period: i64) -> i64 {
    let age = stdx::time::now_ms() - start;
    if period < PERIOD_MS {
        period
    } else if age > START_HOUR_ROUNDING_AGE_MS {
        3_600_000
    } else if age > START_FIVE_MINUTE_ROUNDING_AGE_MS {
        300_000
    } else {
        PERIOD_MS
    }
}

async fn datapoints(
    cw: &CloudWatch,
    series: &MetricSeries,
    start: i64,
    end: i64,
    period: i64,
) -> Result<Vec<metrics::Datapoint>, Error> {
    let from = start.div_euclid(start_rounding(start, period)) * start_rounding(start, period);
    cw.recorder.statistics(series, from, end, period).await.map_err(|e| {
        tracing::error!(error = %e, "cannot read metric points");
        Error::internal()
    })
}

pub async fn get_metric_statistics(cw: &CloudWatch, ctx: &Context, input: Input<'_>) -> Result<Option<Value>, Error> {
    let ns = namespace(&input, true)?.unwrap_or_default();
    let metric = input.required_str("MetricName")?;
    name_ok(&input, "MetricName", metric, NAME_CHARS_MAX)?;
    let dims = dims_of(dimensions(&input, DIMENSIONS_MAX, true)?);
    let (start, end) = range(&input)?;
    let period_secs = input.i64("Period")?.ok_or_else(|| Error::missing("Period"))?;
    let period = period_ms(&input, "Period", period_secs)?;
    let stats = input.strings("Statistics")?;
    let extended = input.strings("ExtendedStatistics")?;
    if stats.is_empty() && extended.is_empty() {
        return Err(Error::missing("Statistics or ExtendedStatistics"));
    }
    if !stats.is_empty() && !extended.is_empty() {
        return Err(Error::combination(
            "The parameters Statistics and ExtendedStatistics are mutually exclusive and you have specified both.",
        ));
    }
    if stats.len() > STATISTICS_MAX {
        return Err(Error::invalid(format!(
            "The collection Statistics must not have a size greater than {STATISTICS_MAX}."
        )));
    }
    if extended.len() > EXTENDED_STATISTICS_MAX {
        return Err(Error::invalid(format!(
            "The collection ExtendedStatistics must not have a size greater than {EXTENDED_STATISTICS_MAX}."
        )));
    }
    for (i, s) in stats.iter().enumerate() {
        if !STATISTICS.contains(s) {
            return Err(Error::invalid(format!(
                "The parameter Statistics.member.{} must be a value in the set [ {} ].",
                i + 1,
                STATISTICS.join(", ")
            )));
        }
    }
    for (i, s) in extended.iter().enumerate() {
        if percentile(s).is_none() {
            return Err(Error::invalid(format!(
                "The value {s} for parameter ExtendedStatistics.member.{} is invalid: Versa serves percentiles pNN.NN only.",
                i + 1
            )));
        }
    }
    let unit = unit(&input)?;
    let requested = (end - start + period - 1) / period;
    if requested > DATAPOINTS_MAX {
        return Err(Error::combination(format!(
            "You have requested up to {requested} datapoints, which exceeds the limit of {DATAPOINTS_MAX}. \
             You may reduce the datapoints requested by increasing Period, or decreasing the time range."
        )));
    }
    let series = series(ctx, &ns, metric, &dims);
    let points =
        if unit_excludes(cw, &series, unit) { Vec::new() } else { datapoints(cw, &series, start, end, period).await? };
    let unit = unit.or(lambda_unit(&ns, metric)).or_else(|| cw.units.of(&series)).unwrap_or("None");
    let mut out = Vec::with_capacity(points.len());
    for p in points {
        let a = &p.aggregate;
        let mut members: Vec<(String, Value)> = vec![("Timestamp".to_owned(), Value::Time(p.timestamp_ms))];
        for s in STATISTICS {
            if stats.contains(&s)
                && let Some(v) = statistic_value(a, s)
            {
                members.push((s.to_owned(), Value::Float(v)));
            }
        }
        if !extended.is_empty() {
            let ext = extended
                .iter()
                .filter_map(|s| statistic_value(a, s).map(|v| ((*s).to_owned(), Value::Float(v))))
                .collect();
            members.push(("ExtendedStatistics".to_owned(), Value::Dict(ext)));
        }
        members.push(("Unit".to_owned(), Value::str(unit)));
        out.push(Value::Map(members));
    }
    Ok(Some(Value::map([("Label", Value::str(metric)), ("Datapoints", Value::List(out))])))
}

/// One MetricStat query of GetMetricData, validated.
struct Query {
    id: String,
    label: String,
    series: MetricSeries,
    period: i64,
    stat: String,
    return_data: bool,
    /// `MetricStat.Unit`.
    unit: Option<String>,
}

fn query(ctx: &Context, q: &Input<'_>) -> Result<Query, Error> {
    let id = q.required_str("Id")?;
    let b = id.as_bytes();
    if b.is_empty()
        || b.len() > NAME_CHARS_MAX
        || !b[0].is_ascii_lowercase()
        || !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
    {
        return Err(Error::invalid(format!(
            "The value {id} for parameter {} is invalid: it must start with a lowercase letter and contain only letters, numbers and underscores.",
            q.name("Id")
        )));
    }
    if q.has("Expression") {
        return Err(Error::invalid(format!(
            "The parameter {} is not supported: Versa does not evaluate metric math expressions; use MetricStat.",
            q.name("Expression")
        )));
    }
    let stat = q.nested("MetricStat")?.ok_or_else(|| Error::missing(&q.name("MetricStat")))?;
    let metric = stat.nested("Metric")?.ok_or_else(|| Error::missing(&stat.name("Metric")))?;
    let ns = namespace(&metric, true)?.unwrap_or_default();
    let name = metric.required_str("MetricName")?;
    name_ok(&metric, "MetricName", name, NAME_CHARS_MAX)?;
    let dims = dims_of(dimensions(&metric, DIMENSIONS_MAX, true)?);
    let period_secs = stat.i64("Period")?.ok_or_else(|| Error::missing(&stat.name("Period")))?;
    let period = period_ms(&stat, "Period", period_secs)?;
    let s = stat.required_str("Stat")?;
    if !STATISTICS.contains(&s) && percentile(s).is_none() {
        return Err(Error::invalid(format!(
            "The value {s} for parameter {} is invalid: Versa serves SampleCount, Average, Sum, Minimum, Maximum and pNN.NN.",
            stat.name("Stat")
        )));
    }
    let unit = unit(&stat)?.map(str::to_owned);
    let label = q.str("Label")?.unwrap_or(name).to_owned();
    Ok(Query {
        id: id.to_owned(),
        label,
        series: series(ctx, &ns, name, &dims),
        period,
        stat: s.to_owned(),
        return_data: q.bool("ReturnData")?.unwrap_or(true),
        unit,
    })
}

pub async fn get_metric_data(cw: &CloudWatch, ctx: &Context, input: Input<'_>) -> Result<Option<Value>, Error> {
    let items = input.elements("MetricDataQueries")?;
    if items.is_empty() {
        return Err(Error::missing("MetricDataQueries"));
    }
    if items.len() > QUERIES_MAX {
        return Err(Error::invalid(format!(
            "The collection MetricDataQueries must not have a size greater than {QUERIES_MAX}."
        )));
    }
    let (start, end) = range(&input)?;
    let ascending = match input.str("ScanBy")? {
        None | Some("TimestampDescending") => false,
        Some("TimestampAscending") => true,
        Some(other) => {
            return Err(Error::invalid(format!(
                "The value {other} for parameter ScanBy is invalid: it must be TimestampDescending or TimestampAscending."
            )));
        }
    };
    let max = input.i64("MaxDatapoints")?.unwrap_or(MAX_DATAPOINTS_DEFAULT);
    if max <= 0 {
        return Err(Error::invalid("The parameter MaxDatapoints must be greater than 0."));
    }
    let skip: i64 = match input.str("NextToken")? {
        None => 0,
        Some(t) => t
            .strip_prefix("dp-")
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| Error::new("InvalidNextToken", "The NextToken is not valid."))?,
    };
    let mut queries = Vec::with_capacity(items.len());
    for q in &items {
        let q = query(ctx, q)?;
        if queries.iter().any(|o: &Query| o.id == q.id) {
            return Err(Error::invalid(format!("The value {} for parameter Id is used by more than one query.", q.id)));
        }
        queries.push(q);
    }
    let mut results = Vec::with_capacity(queries.len());
    // Datapoints are counted across queries in order; a page holds at most `max`.
    let (mut seen, mut taken, mut more) = (0i64, 0i64, false);
    for q in queries.iter().filter(|q| q.return_data) {
        let found = if unit_excludes(cw, &q.series, q.unit.as_deref()) {
            Vec::new()
        } else {
            datapoints(cw, &q.series, start, end, q.period).await?
        };
        let mut points: Vec<(i64, f64)> =
            found.iter().filter_map(|p| statistic_value(&p.aggregate, &q.stat).map(|v| (p.timestamp_ms, v))).collect();
        if !ascending {
            points.reverse();
        }
        let mut page = Vec::new();
        let mut partial = false;
        for p in points {
            seen += 1;
            if seen <= skip {
                continue;
            }
            if taken >= max {
                more = true;
                partial = true;
                break;
            }
            taken += 1;
            page.push(p);
        }
        results.push(Value::map([
            ("Id", Value::str(q.id.clone())),
            ("Label", Value::str(q.label.clone())),
            ("Timestamps", Value::List(page.iter().map(|p| Value::Time(p.0)).collect())),
            ("Values", Value::List(page.iter().map(|p| Value::Float(p.1)).collect())),
            ("StatusCode", Value::str(if partial { "PartialData" } else { "Complete" })),
        ]));
    }
    Ok(Some(Value::map([
        ("MetricDataResults", Value::List(results)),
        ("NextToken", if more { Value::str(format!("dp-{}", skip + taken)) } else { Value::Null }),
        ("Messages", Value::List(vec![])),
    ])))
}

/// The ListMetrics token: the last series listed, hex-encoded.
fn list_token(s: &MetricSeries) -> String {
    stdx::hex::encode(format!("{}\u{0}{}\u{0}{}", s.namespace, s.metric, s.dims).as_bytes())
}

fn parse_list_token(ctx: &Context, t: &str) -> Option<MetricSeries> {
    let raw = String::from_utf8(stdx::hex::decode(t)?).ok()?;
    let mut parts = raw.split('\u{0}');
    let (namespace, metric, dims) = (parts.next()?, parts.next()?, parts.next()?);
    Some(MetricSeries {
        account: ctx.account.clone(),
        region: ctx.region.clone(),
        namespace: namespace.to_owned(),
        metric: metric.to_owned(),
        dims: dims.to_owned(),
    })
}

pub async fn list_metrics(cw: &CloudWatch, ctx: &Context, input: Input<'_>) -> Result<Option<Value>, Error> {
    let ns = namespace(&input, false)?;
    let metric = input.string("MetricName")?;
    let filters = dimensions(&input, LIST_DIMENSIONS_MAX, false)?;
    if let Some(r) = input.str("RecentlyActive")?
        && r != "PT3H"
    {
        return Err(Error::invalid(format!("The value {r} for parameter RecentlyActive is invalid: it must be PT3H.")));
    }
    let mut after = match input.str("NextToken")? {
        None => None,
        Some(t) => Some(
            parse_list_token(ctx, t).ok_or_else(|| Error::new("InvalidNextToken", "The NextToken is not valid."))?,
        ),
    };
    // Series recorded in the last seconds are not in the store yet; ListMetrics shows them.
    if let Err(e) = cw.recorder.flush().await {
        tracing::warn!(error = %e, "cannot flush metric aggregates before ListMetrics");
    }
    let mut found: Vec<MetricSeries> = Vec::new();
    let mut more = false;
    loop {
        let (account, region, ns2, after2) = (ctx.account.clone(), ctx.region.clone(), ns.clone(), after.clone());
        let batch = cw
            .store
            .read(move |tx| tx.metric_series(&account, &region, ns2.as_deref(), after2.as_ref(), LIST_SCAN_BATCH))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot list metric series");
                Error::internal()
            })?;
        let exhausted = batch.len() < LIST_SCAN_BATCH;
        for s in batch {
            after = Some(s.clone());
            let dims = Dims::decode(&s.dims);
            let matches = metric.as_deref().is_none_or(|m| m == s.metric)
                && filters
                    .iter()
                    .all(|(n, v)| dims.pairs().iter().any(|(dn, dv)| dn == n && v.as_deref().is_none_or(|v| v == dv)));
            if matches {
                if found.len() == LIST_PAGE {
                    more = true;
                    break;
                }
                found.push(s);
            }
        }
        if more || exhausted {
            break;
        }
    }
    let next = if more { found.last().map(list_token) } else { None };
    let metrics: Vec<Value> = found
        .iter()
        .map(|s| {
            let dims = Dims::decode(&s.dims)
                .pairs()
                .iter()
                .map(|(k, v)| Value::map([("Name", Value::str(k.clone())), ("Value", Value::str(v.clone()))]))
                .collect();
            Value::map([
                ("Namespace", Value::str(s.namespace.clone())),
                ("MetricName", Value::str(s.metric.clone())),
                ("Dimensions", Value::List(dims)),
            ])
        })
        .collect();
    Ok(Some(Value::map([("Metrics", Value::List(metrics)), ("NextToken", Value::opt_str(next))])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_pnn_nn() {
        assert_eq!(percentile("p99"), Some(99.0));
        assert_eq!(percentile("p99.9"), Some(99.9));
        assert_eq!(percentile("p50.00"), Some(50.0));
        assert_eq!(percentile("p100"), Some(100.0));
        for bad in ["p", "p101", "p9.", "p99.999", "tm99", "P99", "p-1"] {
            assert_eq!(percentile(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_value_bound_is_two_to_the_360() {
        assert_eq!(VALUE_ABS_MAX, 2f64.powi(360));
    }

    /// The answer to a JSON 1.0 request.
    fn send(cw: &CloudWatch, op: &str, body: serde_json::Value) -> crate::Response {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let ctx = Context { account: "123456789012".into(), region: "us-east-1".into(), request_id: "rid".into() };
        let req = crate::Request {
            method: "POST".into(),
            path: "/".into(),
            target: Some(format!("{}{op}", crate::TARGET_PREFIX)),
            query_mode: true,
            gzip: false,
            body: body.to_string().into_bytes(),
        };
        rt.block_on(cw.handle(&ctx, req))
    }

    /// (status, query code, message) of a JSON 1.0 request.
    fn call(cw: &CloudWatch, op: &str, body: serde_json::Value) -> (u16, String, String) {
        let r = send(cw, op, body);
        let code =
            r.headers.iter().find(|(k, _)| *k == "x-amzn-query-error").map(|(_, v)| v.clone()).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        (r.status, code.trim_end_matches(";Sender").to_owned(), v["message"].as_str().unwrap_or_default().to_owned())
    }

    fn call_ok(cw: &CloudWatch, op: &str, body: serde_json::Value) -> serde_json::Value {
        let r = send(cw, op, body);
        assert_eq!(r.status, 200);
        serde_json::from_slice(&r.body).unwrap()
    }

    fn service(dir: &tempfile::TempDir) -> CloudWatch {
        let path = dir.path().join("versa.db");
        let backend = store::SqliteBackend::open(&store::SqliteOptions { path }).unwrap();
        let store = store::Store::new(std::sync::Arc::new(backend));
        CloudWatch::new(store.clone(), metrics::Recorder::new(store))
    }

    #[test]
    fn limits_are_awss_and_a_refused_request_stores_nothing() {
        use serde_json::json;
        let dir = tempfile::tempdir().unwrap();
        let cw = service(&dir);
        let now = stdx::time::now_ms() / 1000;
        let ok = json!({"MetricName": "Ok", "Value": 1});
        let put = |metric: serde_json::Value| json!({"Namespace": "N", "MetricData": [ok.clone(), metric]});
        let dims: Vec<_> = (0..31).map(|i| json!({"Name": format!("d{i}"), "Value": "v"})).collect();
        let cases = [
            (
                json!({"Namespace": "N", "MetricData": vec![ok.clone(); 1001]}),
                "InvalidParameterValue",
                "The collection MetricData must not have a size greater than 1000.",
            ),
            (
                put(json!({"MetricName": "M", "Value": 1, "Dimensions": dims})),
                "InvalidParameterValue",
                "The collection MetricData.member.2.Dimensions must not have a size greater than 30.",
            ),
            (
                put(json!({"MetricName": "M", "Value": 1, "Timestamp": now + 3 * 3600})),
                "InvalidParameterValue",
                "The parameter MetricData.member.2.Timestamp must specify a time no more than two hours in the future.",
            ),
            (
                put(json!({"MetricName": "M", "Value": 1, "StorageResolution": 5})),
                "InvalidParameterValue",
                "The value 5 for parameter MetricData.member.2.StorageResolution is invalid. Valid values are 1 and 60.",
            ),
            (
                put(
                    json!({"MetricName": "M", "Value": 1, "Dimensions": [{"Name": "a", "Value": "1"}, {"Name": "a", "Value": "2"}]}),
                ),
                "InvalidParameterValue",
                "No metric may have two dimensions named a.",
            ),
            (put(json!({"MetricName": "M", "Value": 1, "Unit": "Parsecs"})), "InvalidParameterValue", ""),
            (
                put(json!({"MetricName": "M"})),
                "MissingParameter",
                "The parameter MetricData.member.2.Value is required.",
            ),
            (
                put(json!({"MetricName": "M", "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1}})),
                "MissingParameter",
                "The parameter MetricData.member.2.StatisticValues.Maximum is required.",
            ),
            (
                put(json!({"MetricName": "M", "Values": [1, 2], "Counts": [1, -1]})),
                "InvalidParameterValue",
                "The value -1 for parameter MetricData.member.2.Counts.member.2 is invalid.",
            ),
            (
                put(json!({"MetricName": "", "Value": 1})),
                "InvalidParameterValue",
                "The parameter MetricData.member.2.MetricName must be between 1 and 255 characters long.",
            ),
            (
                json!({"Namespace": ":x", "MetricData": [ok.clone()]}),
                "InvalidParameterValue",
                "The value :x for parameter Namespace is invalid.",
            ),
            (json!({"Namespace": "N"}), "MissingParameter", "The parameter MetricData is required."),
        ];
        for (body, code, message) in cases {
            let (status, c, m) = call(&cw, "PutMetricData", body);
            assert_eq!((status, c.as_str()), (400, code), "{m}");
            if !message.is_empty() {
                assert_eq!(m, message);
            }
        }
        let (status, _, _) = call(&cw, "ListMetrics", json!({}));
        assert_eq!(status, 200);
        let listed = call_ok(&cw, "ListMetrics", json!({}));
        assert_eq!(listed["Metrics"], json!([]), "nothing of the refused requests was stored");

        let stat = |stat: &str, period: i64| {
            json!({"MetricDataQueries": [{"Id": "q", "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "Ok"}, "Period": period, "Stat": stat}}],
                   "StartTime": now - 60, "EndTime": now})
        };
        let (_, c, m) = call(&cw, "GetMetricData", stat("tm99", 60));
        assert_eq!(c, "InvalidParameterValue", "{m}");
        let (_, c, m) = call(&cw, "GetMetricData", stat("Sum", 90));
        assert_eq!(
            (c.as_str(), m.as_str()),
            (
                "InvalidParameterValue",
                "The parameter MetricDataQueries.member.1.MetricStat.Period must be a multiple of 60."
            )
        );
        let mut bad_id = stat("Sum", 60);
        bad_id["MetricDataQueries"][0]["Id"] = json!("Upper");
        assert_eq!(call(&cw, "GetMetricData", bad_id).1, "InvalidParameterValue");
        let (_, c, _) = call(
            &cw,
            "GetMetricData",
            json!({"MetricDataQueries": [{"Id": "q", "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "Ok"}, "Period": 60, "Stat": "Sum"}}], "StartTime": now - 60, "EndTime": now, "NextToken": "nope"}),
        );
        assert_eq!(c, "InvalidNextToken");
        let (_, c, _) = call(&cw, "ListMetrics", json!({"NextToken": "zz"}));
        assert_eq!(c, "InvalidNextToken");
        let (_, c, m) = call(
            &cw,
            "GetMetricStatistics",
            json!({"Namespace": "N", "MetricName": "Ok", "StartTime": now - 60, "EndTime": now, "Period": 60, "Statistics": ["Median"]}),
        );
        assert_eq!(
            (c.as_str(), m.as_str()),
            (
                "InvalidParameterValue",
                "The parameter Statistics.member.1 must be a value in the set [ SampleCount, Average, Sum, Minimum, Maximum ]."
            )
        );
    }
}
