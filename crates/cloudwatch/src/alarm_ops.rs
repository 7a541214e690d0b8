//! The alarm operations: each turns its request into a call of `alarms::Alarms` (the alarm
//! engine: definitions, evaluation, history, tags) and the answer into its output shape.

use alarms::{Alarm, AlarmError, DescribeQuery, ForMetricQuery, HistoryQuery, PutAlarm};

use crate::doc::{Error, Input, Value};
use crate::{CloudWatch, Context};

fn engine(cw: &CloudWatch) -> Result<&alarms::Alarms, Error> {
    cw.alarms.as_ref().ok_or_else(Error::internal)
}

fn error(e: AlarmError) -> Error {
    Error { code: e.code, message: e.message }
}

fn owned(v: Vec<&str>) -> Vec<String> {
    v.into_iter().map(str::to_owned).collect()
}

fn pairs(input: &Input<'_>, list: &str, key: &str, value: &str) -> Result<Vec<(String, String)>, Error> {
    input
        .elements(list)?
        .iter()
        .map(|e| Ok((e.required_str(key)?.to_owned(), e.str(value)?.unwrap_or_default().to_owned())))
        .collect()
}

fn strs(v: &[String]) -> Value {
    Value::List(v.iter().map(|s| Value::str(s.clone())).collect())
}

fn dims(v: &[(String, String)]) -> Value {
    Value::List(
        v.iter()
            .map(|(k, val)| Value::map([("Name", Value::str(k.clone())), ("Value", Value::str(val.clone()))]))
            .collect(),
    )
}

fn metric_alarm(a: Alarm) -> Value {
    Value::map([
        ("AlarmName", Value::str(a.alarm_name)),
        ("AlarmArn", Value::str(a.alarm_arn)),
        ("AlarmDescription", Value::opt_str(a.alarm_description)),
        ("AlarmConfigurationUpdatedTimestamp", Value::Time(a.alarm_configuration_updated_ms)),
        ("ActionsEnabled", Value::Bool(a.actions_enabled)),
        ("OKActions", strs(&a.ok_actions)),
        ("AlarmActions", strs(&a.alarm_actions)),
        ("InsufficientDataActions", strs(&a.insufficient_data_actions)),
        ("StateValue", Value::str(a.state_value)),
        ("StateReason", Value::str(a.state_reason)),
        ("StateReasonData", Value::opt_str(a.state_reason_data)),
        ("StateUpdatedTimestamp", Value::Time(a.state_updated_ms)),
        ("MetricName", Value::str(a.metric_name)),
        ("Namespace", Value::str(a.namespace)),
        ("Statistic", Value::opt_str(a.statistic)),
        ("ExtendedStatistic", Value::opt_str(a.extended_statistic)),
        ("Dimensions", dims(&a.dimensions)),
        ("Period", Value::Int(a.period)),
        ("Unit", Value::opt_str(a.unit)),
        ("EvaluationPeriods", Value::Int(a.evaluation_periods)),
        ("DatapointsToAlarm", a.datapoints_to_alarm.map_or(Value::Null, Value::Int)),
        ("Threshold", Value::Float(a.threshold)),
        ("ComparisonOperator", Value::str(a.comparison_operator)),
        ("TreatMissingData", Value::opt_str(a.treat_missing_data)),
        ("EvaluateLowSampleCountPercentile", Value::opt_str(a.evaluate_low_sample_count_percentile)),
        ("StateTransitionedTimestamp", Value::Time(a.state_transitioned_ms)),
    ])
}

pub async fn put_metric_alarm(cw: &CloudWatch, ctx: &Context, input: Input<'_>) -> Result<Option<Value>, Error> {
    let put = PutAlarm {
        alarm_name: input.string("AlarmName")?,
        alarm_description: input.string("AlarmDescription")?,
        actions_enabled: input.bool("ActionsEnabled")?,
        ok_actions: owned(input.strings("OKActions")?),
        alarm_actions: owned(input.strings("AlarmActions")?),
        insufficient_data_actions: owned(input.strings("InsufficientDataActions")?),
        metric_name: input.string("MetricName")?,
        namespace: input.string("Namespace")?,
        statistic: input.string("Statistic")?,
        extended_statistic: input.string("ExtendedStatistic")?,
        dimensions: pairs(&input, "Dimensions", "Name", "Value")?,
        period: input.i64("Period")?,
        unit: input.string("Unit")?,
        evaluation_periods: input.i64("EvaluationPeriods")?,
        datapoints_to_alarm: input.i64("DatapointsToAlarm")?,
        threshold: input.f64("Threshold")?,
        comparison_operator: input.string("ComparisonOperator")?,
        treat_missing_data: input.string("TreatMissingData")?,
        evaluate_low_sample_count_percentile: input.string("EvaluateLowSampleCountPercentile")?,
        has_metrics: !input.list("Metrics")?.is_empty(),
        threshold_metric_id: input.string("ThresholdMetricId")?,
        tags: pairs(&input, "Tags", "Key", "Value")?,
    };
    engine(cw)?.put_metric_alarm(&ctx.account, &ctx.region, put).await.map_err(error)?;
    Ok(None)
}

pub async fn describe_alarms(cw: &CloudWatch, ctx: &Context, input: Input<'_>) -> Result<Option<Value>, Error> {
    let q = DescribeQuery {
        alarm_names: owned(input.strings("AlarmNames")?),
        alarm_name_prefix: input.string("AlarmNamePrefix")?,
        alarm_types: owned(input.strings("AlarmTypes")?),
        state_value: input.string("StateValue")?,
        action_prefix: input.string("ActionPrefix")?,
        max_records: input.i64("MaxRecords")?,
        next_token: input.string("NextToken")?,
    };
    let page = engine(cw)?.describe_alarms(&ctx.account, &ctx.region, q).await.map_err(error)?;
    Ok(Some(Value::map([
        ("MetricAlarms", Value::List(page.items.into_iter().map(metric_alarm).collect())),
        ("CompositeAlarms", Value::List(Vec::new())),
        ("NextToken", Value::opt_str(page.next_token)),
    ])))
}

pub async fn describe_alarms_for_metric(
    cw: &CloudWatch,
    ctx: &Context,
    input: Input<'_>,
) -> Result<Option<Value>, Error> {
    let q = ForMetricQuery {
        metric_name: input.string("MetricName")?,
        namespace: input.string("Namespace")?,
        statistic: input.string("Statistic")?,
        extended_statistic: input.string("ExtendedStatistic")?,
        dimensions: pairs(&input, "Dimensions", "Name", "Value")?,
        period: input.i64("Period")?,
        unit: input.string("Unit")?,
    };
    let alarms = engine(cw)?.describe_alarms_for_metric(&ctx.account, &ctx.region, q).await.map_err(error)?;
    Ok(Some(Value::map([("MetricAlarms", Value::List(alarms.into_iter().map(metric_alarm).collect()))])))
}

pub async fn delete_alarms(cw: &CloudWatch, ctx: &Context, input: Input<'_>) -> Result<Option<Value>, Error> {
    let names = owned(input.strings("AlarmNames")?);
    engine(cw)?.delete_alarms(&ctx.account, &ctx.region, names).await.map_err(error)?;
    Ok(None)
}

pub async fn set_alarm_state(cw: &CloudWatch, ctx: &Context, input: Input<'_>) -> Result<Option<Value>, Error> {
    let name = input.required_str("AlarmName")?.to_owned();
    let value = input.required_str("StateValue")?.to_owned();
    let reason = input.required_str("StateReason")?.to_owned();
    let data = input.string("StateReasonData")?;
    engine(cw)?.set_alarm_state(&ctx.account, &ctx.region, name, value, reason, data).await.map_err(error)?;
    Ok(None)
}

pub async fn describe_alarm_history(cw: &CloudWatch, ctx: &Context, input: Input<'_>) -> Result<Option<Value>, Error> {
    let q = HistoryQuery {
        alarm_name: input.string("AlarmName")?,
        alarm_types: owned(input.strings("AlarmTypes")?),
        history_item_type: input.string("HistoryItemType")?,
        start_ms: input.time_ms("StartDate")?,
        end_ms: input.time_ms("EndDate")?,
        max_records: input.i64("MaxRecords")?,
        scan_by: input.string("ScanBy")?,
        next_token: input.string("NextToken")?,
    };
    let page = engine(cw)?.describe_alarm_history(&ctx.account, &ctx.region, q).await.map_err(error)?;
    let items = page
        .items
        .into_iter()
        .map(|i| {
            Value::map([
                ("AlarmName", Value::str(i.alarm_name)),
                ("AlarmType", Value::str(i.alarm_type)),
                ("Timestamp", Value::Time(i.timestamp_ms)),
                ("HistoryItemType", Value::str(i.history_item_type)),
                ("HistorySummary", Value::str(i.history_summary)),
                ("HistoryData", Value::str(i.history_data)),
            ])
        })
        .collect();
    Ok(Some(Value::map([("AlarmHistoryItems", Value::List(items)), ("NextToken", Value::opt_str(page.next_token))])))
}

pub async fn enable_alarm_actions(cw: &CloudWatch, ctx: &Context, input: Input<'_>) -> Result<Option<Value>, Error> {
    let names = owned(input.strings("AlarmNames")?);
    engine(cw)?.set_actions_enabled(&ctx.account, &ctx.region, names, true).await.map_err(error)?;
    Ok(None)
}

pub async fn disable_alarm_actions(cw: &CloudWatch, ctx: &Context, input: Input<'_>) -> Result<Option<Value>, Error> {
    let names = owned(input.strings("AlarmNames")?);
    engine(cw)?.set_actions_enabled(&ctx.account, &ctx.region, names, false).await.map_err(error)?;
    Ok(None)
}

pub async fn tag_resource(cw: &CloudWatch, ctx: &Context, input: Input<'_>) -> Result<Option<Value>, Error> {
    let arn = input.required_str("ResourceARN")?;
    let tags = pairs(&input, "Tags", "Key", "Value")?;
    engine(cw)?.tag_resource(&ctx.account, &ctx.region, arn, tags).await.map_err(error)?;
    Ok(Some(Value::map([])))
}

pub async fn untag_resource(cw: &CloudWatch, ctx: &Context, input: Input<'_>) -> Result<Option<Value>, Error> {
    let arn = input.required_str("ResourceARN")?;
    let keys = owned(input.strings("TagKeys")?);
    engine(cw)?.untag_resource(&ctx.account, &ctx.region, arn, keys).await.map_err(error)?;
    Ok(Some(Value::map([])))
}

pub async fn list_tags_for_resource(cw: &CloudWatch, ctx: &Context, input: Input<'_>) -> Result<Option<Value>, Error> {
    let arn = input.required_str("ResourceARN")?;
    let tags = engine(cw)?.list_tags_for_resource(&ctx.account, &ctx.region, arn).await.map_err(error)?;
    let tags = tags.into_iter().map(|(k, v)| Value::map([("Key", Value::str(k)), ("Value", Value::str(v))])).collect();
    Ok(Some(Value::map([("Tags", Value::List(tags))])))
}
