//! Pure alarm evaluation (deployments.md §3.3) and AWS's reason texts (§3.4): no IO, no clock.
//!
//! [`evaluate`] takes the rule, the datapoints of the evaluation range, the time and the
//! previous state, and says what the state is now (or that it is kept).

use metrics::Aggregate;
use serde::Serialize;

/// An alarm state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateValue {
    Ok,
    Alarm,
    InsufficientData,
}

impl StateValue {
    pub fn as_str(self) -> &'static str {
        match self {
            StateValue::Ok => "OK",
            StateValue::Alarm => "ALARM",
            StateValue::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    pub fn parse(s: &str) -> Option<StateValue> {
        match s {
            "OK" => Some(StateValue::Ok),
            "ALARM" => Some(StateValue::Alarm),
            "INSUFFICIENT_DATA" => Some(StateValue::InsufficientData),
            _ => None,
        }
    }
}

/// The four threshold comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    GreaterThanOrEqual,
    GreaterThan,
    LessThan,
    LessThanOrEqual,
}

impl Op {
    pub fn parse(s: &str) -> Option<Op> {
        match s {
            "GreaterThanOrEqualToThreshold" => Some(Op::GreaterThanOrEqual),
            "GreaterThanThreshold" => Some(Op::GreaterThan),
            "LessThanThreshold" => Some(Op::LessThan),
            "LessThanOrEqualToThreshold" => Some(Op::LessThanOrEqual),
            _ => None,
        }
    }

    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::GreaterThanOrEqual => value >= threshold,
            Op::GreaterThan => value > threshold,
            Op::LessThan => value < threshold,
            Op::LessThanOrEqual => value <= threshold,
        }
    }

    fn phrase(self) -> &'static str {
        match self {
            Op::GreaterThanOrEqual => "greater than or equal to",
            Op::GreaterThan => "greater than",
            Op::LessThan => "less than",
            Op::LessThanOrEqual => "less than or equal to",
        }
    }
}

/// TreatMissingData.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Missing,
    Ignore,
    Breaching,
    NotBreaching,
}

impl Missing {
    pub fn parse(s: &str) -> Option<Missing> {
        match s {
            "missing" => Some(Missing::Missing),
            "ignore" => Some(Missing::Ignore),
            "breaching" => Some(Missing::Breaching),
            "notBreaching" => Some(Missing::NotBreaching),
            _ => None,
        }
    }
}

/// The statistic a datapoint's value is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    SampleCount,
    Average,
    Sum,
    Minimum,
    Maximum,
    /// `pNN`: the percentile (0–100).
    Percentile(f64),
}

impl Stat {
    pub fn parse_statistic(s: &str) -> Option<Stat> {
        match s {
            "SampleCount" => Some(Stat::SampleCount),
            "Average" => Some(Stat::Average),
            "Sum" => Some(Stat::Sum),
            "Minimum" => Some(Stat::Minimum),
            "Maximum" => Some(Stat::Maximum),
            _ => None,
        }
    }

    /// `p0`–`p100` with up to 2 decimals (`p99`, `p99.9`); the other extended statistics are
    /// not supported.
    pub fn parse_percentile(s: &str) -> Option<Stat> {
        let n = s.strip_prefix('p')?;
        let ok = !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && n.split_once('.').is_none_or(|(i, d)| !i.is_empty() && !d.is_empty() && d.len() <= 2);
        let p: f64 = n.parse().ok().filter(|_| ok)?;
        (0.0..=100.0).contains(&p).then_some(Stat::Percentile(p))
    }

    pub fn value(self, a: &Aggregate) -> Option<f64> {
        if a.count == 0 {
            return None;
        }
        match self {
            Stat::SampleCount => Some(a.count as f64),
            Stat::Average => a.average(),
            Stat::Sum => Some(a.sum),
            Stat::Minimum => Some(a.min),
            Stat::Maximum => Some(a.max),
            Stat::Percentile(p) => a.percentile(p),
        }
    }
}

/// What evaluation needs of an alarm's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub stat: Stat,
    /// `Statistic` or `ExtendedStatistic` as configured (for the reason data).
    pub stat_name: String,
    pub extended: bool,
    /// The configured period, seconds.
    pub period_s: i64,
    pub evaluation_periods: usize,
    /// `DatapointsToAlarm` as configured (`None`: N, and the "N datapoints" reason form).
    pub datapoints_to_alarm: Option<usize>,
    pub threshold: f64,
    pub op: Op,
    pub missing: Missing,
    /// `EvaluateLowSampleCountPercentile=ignore`.
    pub low_sample_ignore: bool,
    pub unit: Option<String>,
}

impl Rule {
    fn m(&self) -> usize {
        self.datapoints_to_alarm.unwrap_or(self.evaluation_periods)
    }

    /// The length of one datapoint, ms: the period. 10, 20 and 30 s are read from the 1-second
    /// points of values put with `StorageResolution=1` (a minute without any counts as one
    /// datapoint at its start, see [`metrics::Recorder::statistics`]); any other period under a
    /// minute (refused at PutMetricAlarm) would be a minute.
    pub fn bucket_ms(&self) -> i64 {
        let ms = self.period_s.saturating_mul(1000);
        if metrics::HIGH_RESOLUTION_PERIODS_MS.contains(&ms) { ms } else { ms.max(metrics::PERIOD_MS) }
    }

    /// How many periods the evaluation range holds: more than N, like CloudWatch (N=3 → 5).
    pub fn range_len(&self) -> usize {
        self.evaluation_periods + 2
    }

    /// The evaluation range at `now_ms`: `[from, to)`, the newest period being the current,
    /// possibly partial one.
    pub fn range(&self, now_ms: i64) -> (i64, i64) {
        let b = self.bucket_ms();
        let current = now_ms.div_euclid(b) * b;
        (current - (self.range_len() as i64 - 1) * b, current + b)
    }
}

/// One datapoint of the range: the aggregate of `[timestamp_ms, + period)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub timestamp_ms: i64,
    pub aggregate: Aggregate,
}

/// The new state, with AWS's `StateReason` and `StateReasonData`.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub state: StateValue,
    pub reason: String,
    pub reason_data: Option<String>,
}

/// One slot of the range: its start, and its value and sample count if it has data.
#[derive(Debug, Clone, Copy)]
struct Slot {
    ts: i64,
    real: Option<(f64, f64)>,
}

/// Evaluates `rule` over `points` (any order; those outside the range are ignored) at
/// `now_ms`. `None`: the state is kept (TreatMissingData `ignore` without enough data, a
/// premature breach, or too few samples for a percentile under `ignore`).
pub fn evaluate(rule: &Rule, points: &[Point], now_ms: i64, _previous: StateValue) -> Option<Outcome> {
    let (from, _) = rule.range(now_ms);
    let b = rule.bucket_ms();
    let r = rule.range_len();
    // Newest first.
    let mut slots: Vec<Slot> = (0..r).map(|i| Slot { ts: from + (r - 1 - i) as i64 * b, real: None }).collect();
    for p in points {
        if p.timestamp_ms < from {
            continue;
        }
        let age = (slots[0].ts - p.timestamp_ms).div_euclid(b);
        if let Ok(i) = usize::try_from(age)
            && let Some(slot) = slots.get_mut(i)
            && let Some(v) = rule.stat.value(&p.aggregate)
        {
            slot.real = Some((v, p.aggregate.count as f64));
        }
    }
    if rule.low_sample_ignore
        && let Stat::Percentile(p) = rule.stat
    {
        let needed = 10.0 / (1.0 - p / 100.0);
        if slots.iter().any(|s| s.real.is_some_and(|(_, n)| n < needed)) {
            return None;
        }
    }
    let n = rule.evaluation_periods;
    let m = rule.m();
    let breaches = |s: &Slot| s.real.is_some_and(|(v, _)| rule.op.breaches(v, rule.threshold));
    let real: Vec<Slot> = slots.iter().copied().filter(|s| s.real.is_some()).collect();
    let data = |evaluated: &[Slot], filled: &[Slot]| reason_data(rule, now_ms, from, &slots, evaluated, filled);

    if real.len() >= n {
        // Enough real datapoints: the newest N decide; TreatMissingData plays no part.
        let evaluated = &real[..n];
        let bad: Vec<Slot> = evaluated.iter().copied().filter(|s| breaches(s)).collect();
        let good: Vec<Slot> = evaluated.iter().copied().filter(|s| !breaches(s)).collect();
        let alarm = bad.len() >= m;
        let (counted, count) = if alarm { (&bad, bad.len()) } else { (&good, good.len()) };
        return Some(Outcome {
            state: if alarm { StateValue::Alarm } else { StateValue::Ok },
            reason: threshold_reason(rule, alarm, counted, count, None),
            reason_data: Some(data(evaluated, &[])),
        });
    }
    let fill = n - real.len();
    let missing_slots: Vec<Slot> = slots.iter().copied().filter(|s| s.real.is_none()).take(fill).collect();
    if real.is_empty() {
        let plural = |k: usize, one: &'static str, many: &'static str| if k == 1 { one } else { many };
        return match rule.missing {
            Missing::Ignore => None,
            Missing::Missing => Some(Outcome {
                state: StateValue::InsufficientData,
                reason: format!(
                    "Insufficient Data: {n} {} {} unknown.",
                    plural(n, "datapoint", "datapoints"),
                    plural(n, "was", "were")
                ),
                reason_data: Some(data(&[], &missing_slots)),
            }),
            Missing::Breaching | Missing::NotBreaching => {
                let breaching = rule.missing == Missing::Breaching;
                // M ≤ N filled points: breaching fills always alarm.
                Some(Outcome {
                    state: if breaching { StateValue::Alarm } else { StateValue::Ok },
                    reason: format!(
                        "Threshold Crossed: no datapoints were received for {n} {} and {n} missing {} {} treated as [{}].",
                        plural(n, "period", "periods"),
                        plural(n, "datapoint", "datapoints"),
                        plural(n, "was", "were"),
                        if breaching { "Breaching" } else { "NonBreaching" }
                    ),
                    reason_data: Some(data(&[], &missing_slots)),
                })
            }
        };
    }
    // Some real datapoints, fewer than N: all of them count, and as few filled ones as needed.
    let bad: Vec<Slot> = real.iter().copied().filter(|s| breaches(s)).collect();
    let good: Vec<Slot> = real.iter().copied().filter(|s| !breaches(s)).collect();
    match rule.missing {
        Missing::Breaching | Missing::NotBreaching => {
            let breaching = rule.missing == Missing::Breaching;
            let bad_count = bad.len() + if breaching { fill } else { 0 };
            let alarm = bad_count >= m;
            let (counted, count) = if alarm { (&bad, bad_count) } else { (&good, n - bad_count) };
            let filled_clause = (breaching == alarm).then_some((fill, breaching));
            Some(Outcome {
                state: if alarm { StateValue::Alarm } else { StateValue::Ok },
                reason: threshold_reason(rule, alarm, counted, count, filled_clause),
                reason_data: Some(data(&real, &missing_slots)),
            })
        }
        Missing::Missing | Missing::Ignore => {
            let premature = rule.missing == Missing::Missing && premature_alarm(&slots, m, &breaches);
            if bad.len() >= m || premature {
                Some(Outcome {
                    state: StateValue::Alarm,
                    reason: threshold_reason(rule, true, &bad, bad.len(), None),
                    reason_data: Some(data(&real, &[])),
                })
            } else if bad.len() + fill < m {
                // Even if every missing point breached, it would not alarm.
                Some(Outcome {
                    state: StateValue::Ok,
                    reason: threshold_reason(rule, false, &good, good.len(), None),
                    reason_data: Some(data(&real, &[])),
                })
            } else {
                None
            }
        }
    }
}

/// The premature-alarm rule for TreatMissingData `missing`: the oldest breaching point of
/// the range is at least M points old and every newer point breaches or is missing.
fn premature_alarm(newest_first: &[Slot], m: usize, breaches: &dyn Fn(&Slot) -> bool) -> bool {
    let Some(oldest) = newest_first.iter().rposition(breaches) else { return false };
    oldest + 1 >= m && newest_first[..oldest].iter().all(|s| s.real.is_none() || breaches(s))
}

/// `Threshold Crossed: …` (deployments.md §3.4). `counted` are the real points the sentence
/// is about (newest first), `count` how many points it counts (filled ones included).
fn threshold_reason(rule: &Rule, alarm: bool, counted: &[Slot], count: usize, filled: Option<(usize, bool)>) -> String {
    let n = rule.evaluation_periods;
    let mut s = String::from("Threshold Crossed: ");
    if rule.datapoints_to_alarm.is_some() {
        s.push_str(&format!("{count} out of the last {n} datapoints"));
    } else {
        s.push_str(&format!("{count} {}", if count == 1 { "datapoint" } else { "datapoints" }));
    }
    let list: Vec<String> = counted
        .iter()
        .filter_map(|p| p.real.map(|(v, _)| format!("{} ({})", java_double(v), reason_stamp(p.ts))))
        .collect();
    s.push_str(&format!(" [{}]", list.join(", ")));
    s.push_str(if count == 1 { " was " } else { " were " });
    if !alarm {
        s.push_str("not ");
    }
    s.push_str(rule.op.phrase());
    s.push_str(&format!(" the threshold ({})", java_double(rule.threshold)));
    if let Some((k, breaching)) = filled
        && k > 0
    {
        s.push_str(&format!(
            " and {k} missing {} {} treated as [{}]",
            if k == 1 { "datapoint" } else { "datapoints" },
            if k == 1 { "was" } else { "were" },
            if breaching { "Breaching" } else { "NonBreaching" }
        ));
    }
    if let Some(m) = rule.datapoints_to_alarm {
        let (needed, transition) = if alarm { (m, "OK -> ALARM") } else { (n + 1 - m, "ALARM -> OK") };
        s.push_str(&format!(
            " (minimum {needed} {} for {transition} transition)",
            if needed == 1 { "datapoint" } else { "datapoints" }
        ));
    }
    s.push('.');
    s
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReasonData<'a> {
    version: &'static str,
    query_date: String,
    start_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    statistic: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extended_statistic: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<&'a str>,
    period: i64,
    recent_datapoints: Vec<f64>,
    threshold: f64,
    evaluated_datapoints: Vec<EvaluatedPoint>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EvaluatedPoint {
    timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    sample_count: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<f64>,
}

/// `StateReasonData`: the range's real values (oldest first) and the evaluated points
/// (newest first; filled missing points carry only their timestamp).
fn reason_data(rule: &Rule, now_ms: i64, from: i64, slots: &[Slot], evaluated: &[Slot], filled: &[Slot]) -> String {
    let mut points: Vec<Slot> = evaluated.iter().chain(filled).copied().collect();
    points.sort_by_key(|s| std::cmp::Reverse(s.ts));
    let data = ReasonData {
        version: "1.0",
        query_date: stdx::time::format_lambda_ms(now_ms),
        start_date: stdx::time::format_lambda_ms(from),
        statistic: (!rule.extended).then_some(rule.stat_name.as_str()),
        extended_statistic: rule.extended.then_some(rule.stat_name.as_str()),
        unit: rule.unit.as_deref(),
        period: rule.period_s,
        recent_datapoints: slots.iter().rev().filter_map(|s| s.real.map(|(v, _)| v)).collect(),
        threshold: rule.threshold,
        evaluated_datapoints: points
            .iter()
            .map(|s| EvaluatedPoint {
                timestamp: stdx::time::format_lambda_ms(s.ts),
                sample_count: s.real.map(|(_, n)| n),
                value: s.real.map(|(v, _)| v),
            })
            .collect(),
    };
    serde_json::to_string(&data).unwrap_or_default()
}

/// `dd/mm/yy HH:MM:SS`, the datapoint stamps in a reason.
pub fn reason_stamp(ms: i64) -> String {
    let c = stdx::time::Civil::from_epoch_ms(ms);
    format!("{:02}/{:02}/{:02} {:02}:{:02}:{:02}", c.day, c.month, c.year.rem_euclid(100), c.hour, c.minute, c.second)
}

/// A double as Java prints it (`21.5`, `30.0`, `1.0E7`, `1.0E-4`), as CloudWatch's texts do.
pub fn java_double(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let a = v.abs();
    if v == 0.0 || (1e-3..1e7).contains(&a) {
        let s = format!("{v}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        let s = format!("{v:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mant = if mant.contains('.') { mant.to_owned() } else { format!("{mant}.0") };
        format!("{mant}E{exp}")
    }
}
