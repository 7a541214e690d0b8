//! PutMetricAlarm's checks, in AWS's vocabulary: model constraints first (`ValidationError`,
//! all reported together), then the semantic rules (`InvalidParameterValue`,
//! `InvalidParameterCombination`, `MissingParameter`).

use crate::eval::{Missing, Op, Stat};
use crate::{AlarmError, Config, PutAlarm};

/// Longest alarm name and description.
pub const ALARM_NAME_MAX: usize = 255;
pub const DESCRIPTION_MAX: usize = 1024;
/// Most actions per state.
pub const ACTIONS_MAX: usize = 5;
/// Longest action ARN.
pub const ACTION_ARN_MAX: usize = 1024;
/// Most dimensions of a metric.
pub const DIMENSIONS_MAX: usize = 30;
/// Most tags on an alarm, and their key and value lengths.
pub const TAGS_MAX: usize = 50;
pub const TAG_KEY_MAX: usize = 128;
pub const TAG_VALUE_MAX: usize = 256;
/// Period × EvaluationPeriods bounds, seconds.
pub const SPAN_MAX_S: i64 = 7 * 24 * 3600;
pub const SHORT_PERIOD_SPAN_MAX_S: i64 = 24 * 3600;

const OPERATORS: &str = "[GreaterThanOrEqualToThreshold, GreaterThanThreshold, LessThanThreshold, \
LessThanOrEqualToThreshold, LessThanLowerOrGreaterThanUpperThreshold, LessThanLowerThreshold, \
GreaterThanUpperThreshold]";
const ANOMALY_OPERATORS: [&str; 3] =
    ["LessThanLowerOrGreaterThanUpperThreshold", "LessThanLowerThreshold", "GreaterThanUpperThreshold"];
const STATISTICS: &str = "[SampleCount, Average, Sum, Minimum, Maximum]";

/// `Value '…' at '…' failed to satisfy constraint: …` violations, joined AWS's way.
struct Violations(Vec<String>);

impl Violations {
    fn push(&mut self, value: &str, member: &str, constraint: &str) {
        self.0.push(format!("Value {value} at '{member}' failed to satisfy constraint: {constraint}"));
    }

    fn into_error(self) -> Option<AlarmError> {
        if self.0.is_empty() {
            return None;
        }
        let n = self.0.len();
        let s = if n == 1 { "" } else { "s" };
        Some(AlarmError::new("ValidationError", format!("{n} validation error{s} detected: {}", self.0.join("; "))))
    }
}

fn quoted(s: &str) -> String {
    format!("'{s}'")
}

fn list(v: &[String]) -> String {
    format!("'[{}]'", v.join(", "))
}

/// Checks `input` and turns it into the stored configuration (without the alarm's id).
pub fn put_alarm(input: &PutAlarm) -> Result<(String, Config), AlarmError> {
    let mut v = Violations(Vec::new());
    match &input.alarm_name {
        None => v.push("null", "alarmName", "Member must not be null"),
        Some(n) if n.is_empty() => {
            v.push(&quoted(n), "alarmName", "Member must have length greater than or equal to 1")
        }
        Some(n) if n.chars().count() > ALARM_NAME_MAX => {
            v.push(&quoted(n), "alarmName", "Member must have length less than or equal to 255")
        }
        Some(_) => {}
    }
    if let Some(d) = &input.alarm_description
        && d.chars().count() > DESCRIPTION_MAX
    {
        v.push(&quoted(d), "alarmDescription", "Member must have length less than or equal to 1024");
    }
    for (member, actions) in [
        ("oKActions", &input.ok_actions),
        ("alarmActions", &input.alarm_actions),
        ("insufficientDataActions", &input.insufficient_data_actions),
    ] {
        if actions.len() > ACTIONS_MAX {
            v.push(&list(actions), member, "Member must have length less than or equal to 5");
        }
    }
    if input.evaluation_periods.is_none() {
        v.push("null", "evaluationPeriods", "Member must not be null");
    }
    if let Some(e) = input.evaluation_periods
        && e < 1
    {
        v.push(&quoted(&e.to_string()), "evaluationPeriods", "Member must have value greater than or equal to 1");
    }
    if let Some(d) = input.datapoints_to_alarm
        && d < 1
    {
        v.push(&quoted(&d.to_string()), "datapointsToAlarm", "Member must have value greater than or equal to 1");
    }
    if let Some(p) = input.period
        && p < 1
    {
        v.push(&quoted(&p.to_string()), "period", "Member must have value greater than or equal to 1");
    }
    match &input.comparison_operator {
        None => v.push("null", "comparisonOperator", "Member must not be null"),
        Some(o) if Op::parse(o).is_none() && !ANOMALY_OPERATORS.contains(&o.as_str()) => {
            v.push(&quoted(o), "comparisonOperator", &format!("Member must satisfy enum value set: {OPERATORS}"))
        }
        Some(_) => {}
    }
    if let Some(s) = &input.statistic
        && Stat::parse_statistic(s).is_none()
    {
        v.push(&quoted(s), "statistic", &format!("Member must satisfy enum value set: {STATISTICS}"));
    }
    if let Some(n) = &input.metric_name
        && (n.is_empty() || n.chars().count() > 255)
    {
        v.push(&quoted(n), "metricName", "Member must have length between 1 and 255");
    }
    if let Some(n) = &input.namespace
        && (n.is_empty() || n.chars().count() > 255 || n.starts_with(':'))
    {
        v.push(&quoted(n), "namespace", "Member must satisfy regular expression pattern: [^:].*");
    }
    if input.dimensions.len() > DIMENSIONS_MAX {
        v.push("'[…]'", "dimensions", "Member must have length less than or equal to 30");
    }
    if let Some(err) = v.into_error() {
        return Err(err);
    }

    let name = input.alarm_name.clone().unwrap_or_default();
    let op_name = input.comparison_operator.clone().unwrap_or_default();
    if input.has_metrics {
        return Err(AlarmError::new(
            "InvalidParameterValue",
            "Versa does not support metric math alarms (Metrics); specify MetricName, Namespace and Statistic or ExtendedStatistic."
                .to_owned(),
        ));
    }
    if ANOMALY_OPERATORS.contains(&op_name.as_str()) || input.threshold_metric_id.is_some() {
        return Err(AlarmError::new(
            "InvalidParameterValue",
            format!(
                "Versa does not support anomaly detection alarms (ComparisonOperator {op_name}, ThresholdMetricId)."
            ),
        ));
    }
    let Some(metric_name) = input.metric_name.clone() else {
        return Err(AlarmError::missing("MetricName"));
    };
    let Some(namespace) = input.namespace.clone() else {
        return Err(AlarmError::missing("Namespace"));
    };
    let stat = match (&input.statistic, &input.extended_statistic) {
        (Some(_), Some(_)) => {
            return Err(AlarmError::new(
                "InvalidParameterCombination",
                "The parameters Statistic and ExtendedStatistic are mutually exclusive and you have specified both."
                    .to_owned(),
            ));
        }
        (None, None) => {
            return Err(AlarmError::new(
                "MissingParameter",
                "One of the parameters Statistic or ExtendedStatistic must be specified.".to_owned(),
            ));
        }
        (Some(s), None) => Stat::parse_statistic(s),
        (None, Some(e)) => Stat::parse_percentile(e),
    };
    if stat.is_none() {
        return Err(AlarmError::new(
            "InvalidParameterValue",
            format!(
                "The value {} for parameter ExtendedStatistic is not supported: Versa supports percentiles p0 to p100.",
                input.extended_statistic.as_deref().unwrap_or_default()
            ),
        ));
    }
    let Some(period) = input.period else { return Err(AlarmError::missing("Period")) };
    if !(period == 10 || period == 20 || period == 30 || period % 60 == 0) {
        return Err(AlarmError::new(
            "InvalidParameterValue",
            "The parameter Period must be 10, 20, 30, or a multiple of 60.".to_owned(),
        ));
    }
    let Some(threshold) = input.threshold else { return Err(AlarmError::missing("Threshold")) };
    if !threshold.is_finite() {
        return Err(AlarmError::new("InvalidParameterValue", "The parameter Threshold must be a number.".to_owned()));
    }
    let n = input.evaluation_periods.unwrap_or(1);
    let span = period.saturating_mul(n);
    if period < 3600 && span > SHORT_PERIOD_SPAN_MAX_S {
        return Err(AlarmError::new(
            "InvalidParameterCombination",
            "Metrics cannot be checked across more than a day (EvaluationPeriods * Period must be <= 86400)."
                .to_owned(),
        ));
    }
    if span > SPAN_MAX_S {
        return Err(AlarmError::new(
            "InvalidParameterCombination",
            "Metrics cannot be checked across more than 7 days (EvaluationPeriods * Period must be <= 604800)."
                .to_owned(),
        ));
    }
    if let Some(m) = input.datapoints_to_alarm
        && m > n
    {
        return Err(AlarmError::new(
            "InvalidParameterCombination",
            "DatapointsToAlarm must be less than or equal to EvaluationPeriods.".to_owned(),
        ));
    }
    if let Some(t) = &input.treat_missing_data
        && Missing::parse(t).is_none()
    {
        return Err(AlarmError::new(
            "InvalidParameterValue",
            format!(
                "Invalid value {t} for TreatMissingData. Valid values are: missing, ignore, breaching, notBreaching."
            ),
        ));
    }
    if let Some(e) = &input.evaluate_low_sample_count_percentile {
        if e != "evaluate" && e != "ignore" {
            return Err(AlarmError::new(
                "InvalidParameterValue",
                format!("Invalid value {e} for EvaluateLowSampleCountPercentile. Valid values are: evaluate, ignore."),
            ));
        }
        if input.extended_statistic.is_none() {
            return Err(AlarmError::new(
                "InvalidParameterCombination",
                "EvaluateLowSampleCountPercentile can only be used with a percentile ExtendedStatistic.".to_owned(),
            ));
        }
    }
    for arn in input.ok_actions.iter().chain(&input.alarm_actions).chain(&input.insufficient_data_actions) {
        check_action(arn)?;
    }
    tags(&input.tags)?;
    let config = Config {
        id: String::new(),
        description: input.alarm_description.clone(),
        ok_actions: input.ok_actions.clone(),
        alarm_actions: input.alarm_actions.clone(),
        insufficient_data_actions: input.insufficient_data_actions.clone(),
        metric_name,
        namespace,
        statistic: input.statistic.clone(),
        extended_statistic: input.extended_statistic.clone(),
        dimensions: input.dimensions.clone(),
        period,
        unit: input.unit.clone(),
        evaluation_periods: n,
        datapoints_to_alarm: input.datapoints_to_alarm,
        threshold,
        comparison_operator: op_name,
        treat_missing_data: input.treat_missing_data.clone(),
        evaluate_low_sample_count_percentile: input.evaluate_low_sample_count_percentile.clone(),
    };
    Ok((name, config))
}

/// The kinds of alarm action ARN CloudWatch takes. Lambda function ARNs are executed;
/// the others are recorded only (docs/compat.md).
fn check_action(arn: &str) -> Result<(), AlarmError> {
    let invalid = || AlarmError::new("InvalidParameterValue", format!("Invalid arn syntax: {arn}"));
    if arn.len() > ACTION_ARN_MAX {
        return Err(invalid());
    }
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() < 6 || parts[0] != "arn" || parts[1].is_empty() {
        return Err(invalid());
    }
    match parts[2] {
        "lambda" => lambda_function(arn).map(|_| ()).ok_or_else(invalid),
        "sns" | "automate" | "swf" | "autoscaling" | "ssm" | "ssm-incidents" | "ec2" => Ok(()),
        _ => Err(invalid()),
    }
}

/// `arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]` → (region, account).
pub fn lambda_function(arn: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ok = (parts.len() == 7 || parts.len() == 8)
        && parts[0] == "arn"
        && parts[2] == "lambda"
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5] == "function"
        && !parts[6].is_empty()
        && parts.get(7).is_none_or(|q| !q.is_empty());
    ok.then(|| (parts[3], parts[4]))
}

/// Tag limits.
pub fn tags(tags: &[(String, String)]) -> Result<(), AlarmError> {
    if tags.len() > TAGS_MAX {
        return Err(AlarmError::new("InvalidParameterValue", format!("An alarm can have at most {TAGS_MAX} tags.")));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > TAG_KEY_MAX || v.chars().count() > TAG_VALUE_MAX || k.starts_with("aws:")
        {
            return Err(AlarmError::new(
                "InvalidParameterValue",
                format!(
                    "The tag {k} is not valid: keys are 1 to 128 characters and do not start with aws:, values at most 256 characters."
                ),
            ));
        }
    }
    Ok(())
}
