//! CloudWatch metric alarms: definitions, state, history and tags (durable, in the store),
//! evaluation on durable due times, state-change subscriptions, and actions (Lambda).
//!
//! No wire protocol here: `crates/cloudwatch` turns requests into the calls of [`Alarms`] and
//! renders [`AlarmError`]. Evaluation itself is pure ([`eval::evaluate`]); the evaluator task
//! (`evaluator.rs`) reads datapoints from [`metrics::Recorder::statistics`] (stored and not yet
//! flushed aggregates, the current partial period included), commits each state change with its
//! history item in one transaction, then publishes a [`StateChange`] and runs the actions.
//!
//! Bounds: [`ALARMS_MAX`] alarms per account and region, [`HISTORY_PER_ALARM_MAX`] history
//! items per alarm name and [`HISTORY_MAX`] in all, kept [`HISTORY_RETENTION_MS`], [`BROADCAST_CAPACITY`] state changes
//! buffered per subscriber, [`ROUND_MAX`] alarms per evaluation round.

pub mod eval;
mod evaluator;
pub mod validate;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use store::{AlarmHistoryFilter, AlarmHistoryRow, AlarmRecord, Store, StoreError};
use tokio::sync::{Notify, broadcast};

use crate::eval::{Missing, Op, Rule, Stat, StateValue};

/// Most alarms per account and region (`LimitExceeded` beyond).
pub const ALARMS_MAX: u64 = 5_000;
/// History items kept per alarm name; older ones are trimmed.
pub const HISTORY_PER_ALARM_MAX: usize = 1_000;
/// History items kept in all (deleted alarms' included).
pub const HISTORY_MAX: usize = 1_000_000;
/// How long history items are kept (CloudWatch: 2 weeks).
pub const HISTORY_RETENTION_MS: i64 = 15 * 24 * 3600 * 1000;
/// State changes buffered per subscriber (a slower one loses the oldest).
pub const BROADCAST_CAPACITY: usize = 1_024;
/// Most alarms evaluated in one round of the evaluator (the soonest due first).
pub const ROUND_MAX: usize = 2_000;
/// Most items in one DescribeAlarms / DescribeAlarmHistory page, and the defaults.
pub const DESCRIBE_MAX_RECORDS: i64 = 100;
pub const DESCRIBE_DEFAULT_RECORDS: i64 = 50;
pub const HISTORY_DEFAULT_RECORDS: i64 = 100;
/// Most names in one DescribeAlarms / DeleteAlarms / Enable / DisableAlarmActions call.
pub const NAMES_MAX: usize = 100;
/// Longest StateReason and StateReasonData of SetAlarmState.
pub const STATE_REASON_MAX: usize = 1023;
pub const STATE_REASON_DATA_MAX: usize = 4000;

/// An error in CloudWatch's query vocabulary; `crates/cloudwatch` renders it per protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmError {
    /// ResourceNotFound, ResourceNotFoundException (tag operations), InvalidParameterValue,
    /// InvalidParameterCombination, MissingParameter, LimitExceeded, InvalidNextToken,
    /// InvalidFormat, ValidationError, InternalServiceError.
    pub code: &'static str,
    pub message: Option<String>,
}

impl AlarmError {
    pub fn new(code: &'static str, message: String) -> AlarmError {
        AlarmError { code, message: Some(message) }
    }

    fn missing(parameter: &str) -> AlarmError {
        AlarmError::new("MissingParameter", format!("The parameter {parameter} is required."))
    }

    fn not_found() -> AlarmError {
        AlarmError { code: "ResourceNotFound", message: None }
    }
}

impl std::fmt::Display for AlarmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message.as_deref().unwrap_or(""))
    }
}

impl From<StoreError> for AlarmError {
    fn from(e: StoreError) -> AlarmError {
        tracing::error!(error = %e, "alarm store operation failed");
        AlarmError { code: "InternalServiceError", message: None }
    }
}

/// A page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

/// PutMetricAlarm's input as sent (enums as the wire strings).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PutAlarm {
    pub alarm_name: Option<String>,
    pub alarm_description: Option<String>,
    pub actions_enabled: Option<bool>,
    pub ok_actions: Vec<String>,
    pub alarm_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    pub metric_name: Option<String>,
    pub namespace: Option<String>,
    pub statistic: Option<String>,
    pub extended_statistic: Option<String>,
    pub dimensions: Vec<(String, String)>,
    pub period: Option<i64>,
    pub unit: Option<String>,
    pub evaluation_periods: Option<i64>,
    pub datapoints_to_alarm: Option<i64>,
    pub threshold: Option<f64>,
    pub comparison_operator: Option<String>,
    pub treat_missing_data: Option<String>,
    pub evaluate_low_sample_count_percentile: Option<String>,
    /// `Metrics[]` was sent (metric math): refused clearly.
    pub has_metrics: bool,
    pub threshold_metric_id: Option<String>,
    pub tags: Vec<(String, String)>,
}

/// A MetricAlarm as DescribeAlarms returns it (timestamps in epoch ms).
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub alarm_name: String,
    pub alarm_arn: String,
    pub alarm_description: Option<String>,
    pub alarm_configuration_updated_ms: i64,
    pub actions_enabled: bool,
    pub ok_actions: Vec<String>,
    pub alarm_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    pub state_value: String,
    pub state_reason: String,
    pub state_reason_data: Option<String>,
    pub state_updated_ms: i64,
    pub state_transitioned_ms: i64,
    pub metric_name: String,
    pub namespace: String,
    pub statistic: Option<String>,
    pub extended_statistic: Option<String>,
    pub dimensions: Vec<(String, String)>,
    pub period: i64,
    pub unit: Option<String>,
    pub evaluation_periods: i64,
    pub datapoints_to_alarm: Option<i64>,
    pub threshold: f64,
    pub comparison_operator: String,
    pub treat_missing_data: Option<String>,
    pub evaluate_low_sample_count_percentile: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DescribeQuery {
    pub alarm_names: Vec<String>,
    pub alarm_name_prefix: Option<String>,
    pub alarm_types: Vec<String>,
    pub state_value: Option<String>,
    pub action_prefix: Option<String>,
    pub max_records: Option<i64>,
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ForMetricQuery {
    pub metric_name: Option<String>,
    pub namespace: Option<String>,
    pub statistic: Option<String>,
    pub extended_statistic: Option<String>,
    pub dimensions: Vec<(String, String)>,
    pub period: Option<i64>,
    pub unit: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryQuery {
    pub alarm_name: Option<String>,
    pub alarm_types: Vec<String>,
    pub history_item_type: Option<String>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub max_records: Option<i64>,
    pub scan_by: Option<String>,
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryItem {
    pub alarm_name: String,
    pub alarm_type: String,
    pub timestamp_ms: i64,
    pub history_item_type: String,
    pub history_summary: String,
    pub history_data: String,
}

/// Published on every state change (evaluation or SetAlarmState), after it is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    pub account: String,
    pub region: String,
    pub alarm_name: String,
    pub old_state: String,
    pub new_state: String,
    pub reason: String,
    pub at_ms: i64,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What an alarm action does; the server implements it (Lambda ARNs → an Event invoke).
pub trait Actions: Send + Sync {
    /// Queues an asynchronous invocation of `function_arn` with `event` (AWS's alarm event
    /// for Lambda). `Err` carries why it was refused, for the history item.
    fn invoke_lambda<'a>(
        &'a self,
        account: &'a str,
        region: &'a str,
        function_arn: &'a str,
        event: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// The stored configuration of an alarm (serialised into `AlarmRecord::config`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// A stable id (the Lambda alarm event's `metrics[].id`).
    pub id: String,
    pub description: Option<String>,
    pub ok_actions: Vec<String>,
    pub alarm_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    pub metric_name: String,
    pub namespace: String,
    pub statistic: Option<String>,
    pub extended_statistic: Option<String>,
    pub dimensions: Vec<(String, String)>,
    pub period: i64,
    pub unit: Option<String>,
    pub evaluation_periods: i64,
    pub datapoints_to_alarm: Option<i64>,
    pub threshold: f64,
    pub comparison_operator: String,
    pub treat_missing_data: Option<String>,
    pub evaluate_low_sample_count_percentile: Option<String>,
}

impl Config {
    fn parse(record: &AlarmRecord) -> Result<Config, StoreError> {
        serde_json::from_str(&record.config).map_err(|e| StoreError::Corrupt(format!("alarm {}: {e}", record.name)))
    }

    fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The evaluation rule (the configuration was validated when it was put).
    pub fn rule(&self) -> Rule {
        let (stat, stat_name, extended) = match (&self.statistic, &self.extended_statistic) {
            (Some(s), _) => (Stat::parse_statistic(s).unwrap_or(Stat::Sum), s.clone(), false),
            (None, Some(e)) => (Stat::parse_percentile(e).unwrap_or(Stat::Percentile(100.0)), e.clone(), true),
            (None, None) => (Stat::Sum, "Sum".to_owned(), false),
        };
        Rule {
            stat,
            stat_name,
            extended,
            period_s: self.period,
            evaluation_periods: self.evaluation_periods.max(1) as usize,
            datapoints_to_alarm: self.datapoints_to_alarm.map(|m| m.max(1) as usize),
            threshold: self.threshold,
            op: Op::parse(&self.comparison_operator).unwrap_or(Op::GreaterThanOrEqual),
            missing: self.treat_missing_data.as_deref().and_then(Missing::parse).unwrap_or(Missing::Missing),
            low_sample_ignore: self.evaluate_low_sample_count_percentile.as_deref() == Some("ignore"),
            unit: self.unit.clone(),
        }
    }

    /// The actions of a state.
    fn actions(&self, state: StateValue) -> &[String] {
        match state {
            StateValue::Ok => &self.ok_actions,
            StateValue::Alarm => &self.alarm_actions,
            StateValue::InsufficientData => &self.insufficient_data_actions,
        }
    }

    /// The alarm as history items show it (`createdAlarm`, `updatedAlarm`, …).
    fn history_view(&self, name: &str, arn: &str, actions_enabled: bool) -> serde_json::Value {
        let dims: Vec<serde_json::Value> =
            self.dimensions.iter().map(|(k, v)| serde_json::json!({"name": k, "value": v})).collect();
        let mut v = serde_json::json!({
            "alarmName": name,
            "alarmArn": arn,
            "actionsEnabled": actions_enabled,
            "oKActions": self.ok_actions,
            "alarmActions": self.alarm_actions,
            "insufficientDataActions": self.insufficient_data_actions,
            "metricName": self.metric_name,
            "namespace": self.namespace,
            "dimensions": dims,
            "period": self.period,
            "evaluationPeriods": self.evaluation_periods,
            "threshold": self.threshold,
            "comparisonOperator": self.comparison_operator,
        });
        let map = v.as_object_mut().expect("an object");
        for (key, value) in [
            ("alarmDescription", &self.description),
            ("statistic", &self.statistic),
            ("extendedStatistic", &self.extended_statistic),
            ("unit", &self.unit),
            ("treatMissingData", &self.treat_missing_data),
            ("evaluateLowSampleCountPercentile", &self.evaluate_low_sample_count_percentile),
        ] {
            if let Some(s) = value {
                map.insert(key.to_owned(), serde_json::Value::String(s.clone()));
            }
        }
        if let Some(m) = self.datapoints_to_alarm {
            map.insert("datapointsToAlarm".to_owned(), m.into());
        }
        v
    }
}

/// `arn:aws:cloudwatch:<region>:<account>:alarm:<name>`.
pub fn alarm_arn(account: &str, region: &str, name: &str) -> String {
    format!("arn:aws:cloudwatch:{region}:{account}:alarm:{name}")
}

struct Inner {
    store: Store,
    recorder: metrics::Recorder,
    wake: Notify,
    changes: broadcast::Sender<StateChange>,
    actions: OnceLock<Arc<dyn Actions>>,
    /// Whether this node evaluates (several nodes: the holder of the `alarms` lease); unset is
    /// one node alone.
    duties: OnceLock<Arc<dyn stdx::duty::Duties>>,
}

/// The alarm engine; clones share it.
#[derive(Clone)]
pub struct Alarms {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Alarms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alarms").finish_non_exhaustive()
    }
}

const ALARM_TYPE: &str = "MetricAlarm";
const TOKEN_PREFIX: &str = "v1.";

fn encode_token(s: &str) -> String {
    format!("{TOKEN_PREFIX}{}", stdx::hex::encode(s.as_bytes()))
}

fn decode_token(t: &str) -> Result<String, AlarmError> {
    t.strip_prefix(TOKEN_PREFIX)
        .and_then(stdx::hex::decode)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| AlarmError::new("InvalidNextToken", "The service couldn't process the NextToken.".to_owned()))
}

fn max_records(v: Option<i64>, default: i64) -> Result<usize, AlarmError> {
    match v {
        None => Ok(default as usize),
        Some(n) if (1..=DESCRIBE_MAX_RECORDS).contains(&n) => Ok(n as usize),
        Some(n) => Err(AlarmError::new(
            "ValidationError",
            format!(
                "1 validation error detected: Value '{n}' at 'maxRecords' failed to satisfy constraint: Member must have value {}",
                if n < 1 { "greater than or equal to 1" } else { "less than or equal to 100" }
            ),
        )),
    }
}

/// The alarm as DescribeAlarms shows it.
fn view(record: &AlarmRecord) -> Result<Alarm, StoreError> {
    let c = Config::parse(record)?;
    Ok(Alarm {
        alarm_name: record.name.clone(),
        alarm_arn: alarm_arn(&record.account, &record.region, &record.name),
        alarm_description: c.description,
        alarm_configuration_updated_ms: record.config_updated_ms,
        actions_enabled: record.actions_enabled,
        ok_actions: c.ok_actions,
        alarm_actions: c.alarm_actions,
        insufficient_data_actions: c.insufficient_data_actions,
        state_value: record.state.clone(),
        state_reason: record.reason.clone(),
        state_reason_data: record.reason_data.clone(),
        state_updated_ms: record.state_updated_ms,
        state_transitioned_ms: record.state_transitioned_ms,
        metric_name: c.metric_name,
        namespace: c.namespace,
        statistic: c.statistic,
        extended_statistic: c.extended_statistic,
        dimensions: c.dimensions,
        period: c.period,
        unit: c.unit,
        evaluation_periods: c.evaluation_periods,
        datapoints_to_alarm: c.datapoints_to_alarm,
        threshold: c.threshold,
        comparison_operator: c.comparison_operator,
        treat_missing_data: c.treat_missing_data,
        evaluate_low_sample_count_percentile: c.evaluate_low_sample_count_percentile,
    })
}

/// Reads every alarm of an account and region (bounded by [`ALARMS_MAX`]).
fn all_alarms(tx: &mut dyn store::ReadTx, account: &str, region: &str) -> Result<Vec<AlarmRecord>, StoreError> {
    const PAGE: usize = 500;
    let mut out: Vec<AlarmRecord> = Vec::new();
    loop {
        let after = out.last().map(|a| a.name.clone());
        let page = tx.alarms(account, region, after.as_deref(), PAGE)?;
        let done = page.len() < PAGE;
        out.extend(page);
        if done || out.len() as u64 >= ALARMS_MAX {
            return Ok(out);
        }
    }
}

fn config_history(
    account: &str,
    region: &str,
    name: &str,
    now: i64,
    kind: &str,
    data: serde_json::Value,
) -> AlarmHistoryRow {
    let verb = match kind {
        "Create" => "created",
        "Update" => "updated",
        _ => "deleted",
    };
    AlarmHistoryRow {
        id: 0,
        account: account.to_owned(),
        region: region.to_owned(),
        alarm_name: name.to_owned(),
        alarm_type: ALARM_TYPE.to_owned(),
        timestamp_ms: now,
        item_type: "ConfigurationUpdate".to_owned(),
        summary: format!("Alarm \"{name}\" {verb}"),
        data: data.to_string(),
    }
}

impl Alarms {
    pub fn new(store: Store, recorder: metrics::Recorder) -> Alarms {
        let (changes, _) = broadcast::channel(BROADCAST_CAPACITY);
        Alarms {
            inner: Arc::new(Inner {
                store,
                recorder,
                wake: Notify::new(),
                changes,
                actions: OnceLock::new(),
                duties: OnceLock::new(),
            }),
        }
    }

    /// Starts the evaluator (durable due times; evaluates overdue alarms first after a
    /// restart). Actions run through `actions`.
    pub fn start(&self, actions: Arc<dyn Actions>) -> tokio::task::JoinHandle<()> {
        let _ = self.inner.actions.set(actions);
        let me = self.clone();
        tokio::spawn(async move { me.run().await })
    }

    /// Several nodes: evaluate only while `duties` leads [`stdx::duty::task::ALARMS`] (set
    /// before [`Alarms::start`]; once).
    pub fn set_duties(&self, duties: Arc<dyn stdx::duty::Duties>) {
        let _ = self.inner.duties.set(duties);
    }

    /// Whether this node is the evaluator now.
    pub fn leads(&self) -> bool {
        self.inner.duties.get().is_none_or(|d| d.leads(stdx::duty::task::ALARMS))
    }

    /// The fence the evaluator's writes check (several nodes); `None` on one node.
    pub(crate) fn fence(&self) -> Option<stdx::duty::Fence> {
        self.inner.duties.get().and_then(|d| d.fence(stdx::duty::task::ALARMS))
    }

    /// Wakes the evaluator early (after PutMetricData, or a write to an alarm).
    pub fn poke(&self) {
        self.inner.wake.notify_one();
    }

    /// Runs one evaluator round now (what the evaluator task does about every second): for
    /// callers that must see alarms evaluated before they act (and for measurements).
    /// On a node that is not the evaluator this does nothing: the evaluator's rounds decide.
    pub async fn evaluate_round(&self) -> Result<(), AlarmError> {
        if !self.leads() {
            return Ok(());
        }
        Ok(self.round(stdx::time::now_ms()).await?)
    }

    /// State changes, published after their commit.
    pub fn subscribe(&self) -> broadcast::Receiver<StateChange> {
        self.inner.changes.subscribe()
    }

    pub async fn put_metric_alarm(&self, account: &str, region: &str, input: PutAlarm) -> Result<(), AlarmError> {
        let (name, mut config) = validate::put_alarm(&input)?;
        let actions_enabled = input.actions_enabled.unwrap_or(true);
        let tags = input.tags.clone();
        let (account, region) = (account.to_owned(), region.to_owned());
        let now = stdx::time::now_ms();
        self.inner
            .store
            .write(move |tx| {
                let arn = alarm_arn(&account, &region, &name);
                let existing = tx.alarm(&account, &region, &name)?;
                let record = match existing {
                    Some(old) => {
                        let old_config = Config::parse(&old)?;
                        config.id = old_config.id.clone();
                        let data = serde_json::json!({
                            "version": "1.0",
                            "type": "Update",
                            "originalUpdatedAlarm": old_config.history_view(&name, &arn, old.actions_enabled),
                            "updatedAlarm": config.history_view(&name, &arn, actions_enabled),
                        });
                        tx.insert_alarm_history(&config_history(&account, &region, &name, now, "Update", data))?;
                        // An update keeps the state; tags of an update are ignored (as AWS).
                        AlarmRecord {
                            config: config.encode(),
                            config_updated_ms: now,
                            actions_enabled,
                            next_eval_ms: now,
                            ..old
                        }
                    }
                    None => {
                        if tx.alarm_count(&account, &region)? >= ALARMS_MAX {
                            return Err(AlarmError::new(
                                "LimitExceeded",
                                format!("The maximum number of alarms ({ALARMS_MAX}) for this account and region has been reached."),
                            ));
                        }
                        config.id = uuid::Uuid::new_v4().to_string();
                        let data = serde_json::json!({
                            "version": "1.0",
                            "type": "Create",
                            "createdAlarm": config.history_view(&name, &arn, actions_enabled),
                        });
                        tx.insert_alarm_history(&config_history(&account, &region, &name, now, "Create", data))?;
                        tx.put_alarm_tags(&account, &region, &name, &tags)?;
                        AlarmRecord {
                            account: account.clone(),
                            region: region.clone(),
                            name: name.clone(),
                            config: config.encode(),
                            config_updated_ms: now,
                            actions_enabled,
                            state: StateValue::InsufficientData.as_str().to_owned(),
                            reason: "Unchecked: Initial alarm creation".to_owned(),
                            reason_data: None,
                            state_updated_ms: now,
                            state_transitioned_ms: now,
                            next_eval_ms: now,
                        }
                    }
                };
                tx.put_alarm(&record)?;
                Ok(())
            })
            .await?;
        self.poke();
        Ok(())
    }

    pub async fn describe_alarms(
        &self,
        account: &str,
        region: &str,
        q: DescribeQuery,
    ) -> Result<Page<Alarm>, AlarmError> {
        let limit = max_records(q.max_records, DESCRIBE_DEFAULT_RECORDS)?;
        if q.alarm_names.len() > NAMES_MAX {
            return Err(AlarmError::new(
                "ValidationError",
                "1 validation error detected: Value at 'alarmNames' failed to satisfy constraint: Member must have length less than or equal to 100".to_owned(),
            ));
        }
        if let Some(s) = &q.state_value
            && StateValue::parse(s).is_none()
        {
            return Err(state_enum_error(s));
        }
        let after = q.next_token.as_deref().map(decode_token).transpose()?;
        if !q.alarm_types.is_empty() && !q.alarm_types.iter().any(|t| t == ALARM_TYPE) {
            return Ok(Page { items: Vec::new(), next_token: None });
        }
        let (account, region) = (account.to_owned(), region.to_owned());
        let records = self.inner.store.read(move |tx| all_alarms(tx, &account, &region)).await?;
        let mut items = Vec::new();
        let mut next_token = None;
        for r in records {
            if after.as_deref().is_some_and(|a| r.name.as_str() <= a)
                || (!q.alarm_names.is_empty() && !q.alarm_names.contains(&r.name))
                || q.alarm_name_prefix.as_deref().is_some_and(|p| !r.name.starts_with(p))
                || q.state_value.as_deref().is_some_and(|s| r.state != s)
            {
                continue;
            }
            let alarm = view(&r)?;
            if let Some(p) = &q.action_prefix {
                let all = alarm.ok_actions.iter().chain(&alarm.alarm_actions).chain(&alarm.insufficient_data_actions);
                if !all.clone().any(|a| a.starts_with(p.as_str())) {
                    continue;
                }
            }
            if items.len() == limit {
                next_token = items.last().map(|a: &Alarm| encode_token(&a.alarm_name));
                break;
            }
            items.push(alarm);
        }
        Ok(Page { items, next_token })
    }

    pub async fn describe_alarms_for_metric(
        &self,
        account: &str,
        region: &str,
        q: ForMetricQuery,
    ) -> Result<Vec<Alarm>, AlarmError> {
        let Some(metric_name) = q.metric_name.clone() else { return Err(AlarmError::missing("MetricName")) };
        let Some(namespace) = q.namespace.clone() else { return Err(AlarmError::missing("Namespace")) };
        let (account, region) = (account.to_owned(), region.to_owned());
        let records = self.inner.store.read(move |tx| all_alarms(tx, &account, &region)).await?;
        let mut want_dims = q.dimensions.clone();
        want_dims.sort();
        let mut out = Vec::new();
        for r in records {
            let a = view(&r)?;
            let mut dims = a.dimensions.clone();
            dims.sort();
            if a.metric_name != metric_name
                || a.namespace != namespace
                || q.statistic.as_ref().is_some_and(|s| a.statistic.as_ref() != Some(s))
                || q.extended_statistic.as_ref().is_some_and(|s| a.extended_statistic.as_ref() != Some(s))
                || (!want_dims.is_empty() && dims != want_dims)
                || q.period.is_some_and(|p| a.period != p)
                || q.unit.as_ref().is_some_and(|u| a.unit.as_ref() != Some(u))
            {
                continue;
            }
            out.push(a);
        }
        Ok(out)
    }

    /// Deletes the named alarms that exist (unknown names are skipped); their history stays.
    pub async fn delete_alarms(&self, account: &str, region: &str, names: Vec<String>) -> Result<(), AlarmError> {
        if names.len() > NAMES_MAX {
            return Err(AlarmError::new(
                "ValidationError",
                "1 validation error detected: Value at 'alarmNames' failed to satisfy constraint: Member must have length less than or equal to 100".to_owned(),
            ));
        }
        let (account, region) = (account.to_owned(), region.to_owned());
        let now = stdx::time::now_ms();
        self.inner
            .store
            .write(move |tx| {
                for name in &names {
                    let Some(old) = tx.alarm(&account, &region, name)? else { continue };
                    let config = Config::parse(&old)?;
                    let arn = alarm_arn(&account, &region, name);
                    let data = serde_json::json!({
                        "version": "1.0",
                        "type": "Delete",
                        "deletedAlarm": config.history_view(name, &arn, old.actions_enabled),
                    });
                    tx.insert_alarm_history(&config_history(&account, &region, name, now, "Delete", data))?;
                    tx.delete_alarm(&account, &region, name)?;
                }
                Ok::<_, AlarmError>(())
            })
            .await
    }

    /// SetAlarmState: sets the state until the next evaluation recomputes it; runs the
    /// actions of the new state like an evaluated change.
    pub async fn set_alarm_state(
        &self,
        account: &str,
        region: &str,
        name: String,
        state_value: String,
        state_reason: String,
        state_reason_data: Option<String>,
    ) -> Result<(), AlarmError> {
        let Some(state) = StateValue::parse(&state_value) else { return Err(state_enum_error(&state_value)) };
        if state_reason.chars().count() > STATE_REASON_MAX {
            return Err(AlarmError::new(
                "ValidationError",
                format!(
                    "1 validation error detected: Value '{state_reason}' at 'stateReason' failed to satisfy constraint: Member must have length less than or equal to 1023"
                ),
            ));
        }
        if let Some(d) = &state_reason_data {
            if d.chars().count() > STATE_REASON_DATA_MAX {
                return Err(AlarmError::new(
                    "ValidationError",
                    format!(
                        "1 validation error detected: Value '{d}' at 'stateReasonData' failed to satisfy constraint: Member must have length less than or equal to 4000"
                    ),
                ));
            }
            if serde_json::from_str::<serde_json::Value>(d).is_err() {
                return Err(AlarmError::new("InvalidFormat", "Data was not syntactically valid JSON".to_owned()));
            }
        }
        let outcome = eval::Outcome { state, reason: state_reason, reason_data: state_reason_data };
        let (account, region) = (account.to_owned(), region.to_owned());
        let Some(record) = self
            .inner
            .store
            .read({
                let (a, r, n) = (account.clone(), region.clone(), name.clone());
                move |tx| tx.alarm(&a, &r, &n)
            })
            .await?
        else {
            return Err(AlarmError::not_found());
        };
        match self.transition(&record, outcome, stdx::time::now_ms(), false).await? {
            evaluator::Applied::Gone => Err(AlarmError::not_found()),
            _ => Ok(()),
        }
    }

    pub async fn describe_alarm_history(
        &self,
        account: &str,
        region: &str,
        q: HistoryQuery,
    ) -> Result<Page<HistoryItem>, AlarmError> {
        let limit = max_records(q.max_records, HISTORY_DEFAULT_RECORDS)?;
        const TYPES: [&str; 5] =
            ["ConfigurationUpdate", "StateUpdate", "Action", "AlarmContributorStateUpdate", "AlarmContributorAction"];
        if let Some(t) = &q.history_item_type
            && !TYPES.contains(&t.as_str())
        {
            return Err(AlarmError::new(
                "ValidationError",
                format!(
                    "1 validation error detected: Value '{t}' at 'historyItemType' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                    TYPES.join(", ")
                ),
            ));
        }
        let newest_first = match q.scan_by.as_deref() {
            None | Some("TimestampDescending") => true,
            Some("TimestampAscending") => false,
            Some(s) => {
                return Err(AlarmError::new(
                    "ValidationError",
                    format!(
                        "1 validation error detected: Value '{s}' at 'scanBy' failed to satisfy constraint: Member must satisfy enum value set: [TimestampDescending, TimestampAscending]"
                    ),
                ));
            }
        };
        if !q.alarm_types.is_empty() && !q.alarm_types.iter().any(|t| t == ALARM_TYPE) {
            return Ok(Page { items: Vec::new(), next_token: None });
        }
        let after_id = match q.next_token.as_deref() {
            None => None,
            Some(t) => Some(decode_token(t)?.parse::<i64>().map_err(|_| {
                AlarmError::new("InvalidNextToken", "The service couldn't process the NextToken.".to_owned())
            })?),
        };
        let filter = AlarmHistoryFilter {
            alarm_name: q.alarm_name.clone(),
            item_type: q.history_item_type.clone(),
            from_ms: q.start_ms.unwrap_or(i64::MIN),
            to_ms: q.end_ms.unwrap_or(i64::MAX),
            newest_first,
            after_id,
        };
        let (account, region) = (account.to_owned(), region.to_owned());
        let mut rows = self.inner.store.read(move |tx| tx.alarm_history(&account, &region, &filter, limit + 1)).await?;
        let next_token = (rows.len() > limit).then(|| encode_token(&rows[limit - 1].id.to_string()));
        rows.truncate(limit);
        let items = rows
            .into_iter()
            .map(|r| HistoryItem {
                alarm_name: r.alarm_name,
                alarm_type: r.alarm_type,
                timestamp_ms: r.timestamp_ms,
                history_item_type: r.item_type,
                history_summary: r.summary,
                history_data: r.data,
            })
            .collect();
        Ok(Page { items, next_token })
    }

    /// EnableAlarmActions / DisableAlarmActions (unknown names are skipped).
    pub async fn set_actions_enabled(
        &self,
        account: &str,
        region: &str,
        names: Vec<String>,
        enabled: bool,
    ) -> Result<(), AlarmError> {
        if names.len() > NAMES_MAX {
            return Err(AlarmError::new(
                "ValidationError",
                "1 validation error detected: Value at 'alarmNames' failed to satisfy constraint: Member must have length less than or equal to 100".to_owned(),
            ));
        }
        let (account, region) = (account.to_owned(), region.to_owned());
        self.inner
            .store
            .write(move |tx| {
                for name in &names {
                    if let Some(mut a) = tx.alarm(&account, &region, name)? {
                        a.actions_enabled = enabled;
                        tx.put_alarm(&a)?;
                    }
                }
                Ok::<_, AlarmError>(())
            })
            .await
    }

    pub async fn tag_resource(
        &self,
        account: &str,
        region: &str,
        arn: &str,
        tags: Vec<(String, String)>,
    ) -> Result<(), AlarmError> {
        validate::tags(&tags)?;
        let name = self.alarm_of_arn(account, region, arn)?;
        let (account, region) = (account.to_owned(), region.to_owned());
        self.inner
            .store
            .write(move |tx| {
                if tx.alarm(&account, &region, &name)?.is_none() {
                    return Err(resource_not_found(&name));
                }
                let mut current = tx.alarm_tags(&account, &region, &name)?;
                for (k, v) in tags {
                    match current.iter_mut().find(|(ck, _)| *ck == k) {
                        Some(t) => t.1 = v,
                        None => current.push((k, v)),
                    }
                }
                validate::tags(&current)?;
                tx.put_alarm_tags(&account, &region, &name, &current)?;
                Ok(())
            })
            .await
    }

    pub async fn untag_resource(
        &self,
        account: &str,
        region: &str,
        arn: &str,
        keys: Vec<String>,
    ) -> Result<(), AlarmError> {
        let name = self.alarm_of_arn(account, region, arn)?;
        let (account, region) = (account.to_owned(), region.to_owned());
        self.inner
            .store
            .write(move |tx| {
                if tx.alarm(&account, &region, &name)?.is_none() {
                    return Err(resource_not_found(&name));
                }
                let mut current = tx.alarm_tags(&account, &region, &name)?;
                current.retain(|(k, _)| !keys.contains(k));
                tx.put_alarm_tags(&account, &region, &name, &current)?;
                Ok(())
            })
            .await
    }

    pub async fn list_tags_for_resource(
        &self,
        account: &str,
        region: &str,
        arn: &str,
    ) -> Result<Vec<(String, String)>, AlarmError> {
        let name = self.alarm_of_arn(account, region, arn)?;
        let (account, region) = (account.to_owned(), region.to_owned());
        self.inner
            .store
            .read(move |tx| {
                if tx.alarm(&account, &region, &name)?.is_none() {
                    return Err(resource_not_found(&name));
                }
                Ok(tx.alarm_tags(&account, &region, &name)?)
            })
            .await
    }

    /// The alarm name an ARN of this account and region names.
    fn alarm_of_arn(&self, account: &str, region: &str, arn: &str) -> Result<String, AlarmError> {
        let prefix = format!("arn:aws:cloudwatch:{region}:{account}:alarm:");
        match arn.strip_prefix(&prefix) {
            Some(name) if !name.is_empty() => Ok(name.to_owned()),
            _ => Err(AlarmError::new("ResourceNotFoundException", format!("The resource {arn} does not exist."))),
        }
    }
}

fn resource_not_found(name: &str) -> AlarmError {
    AlarmError::new("ResourceNotFoundException", format!("The alarm {name} does not exist."))
}

fn state_enum_error(value: &str) -> AlarmError {
    AlarmError::new(
        "ValidationError",
        format!(
            "1 validation error detected: Value '{value}' at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]"
        ),
    )
}

#[cfg(test)]
mod tests;

/// Whether the evaluator's write may go ahead: no fence (one node), or this node still holds
/// the evaluator's lease at the epoch it took (checked in the write's own transaction). A
/// stale holder's write is dropped and logged.
pub(crate) fn holds(tx: &mut dyn store::WriteTx, fence: Option<&stdx::duty::Fence>) -> Result<bool, StoreError> {
    let Some(f) = fence else { return Ok(true) };
    let held = tx.lease_holds(stdx::duty::task::ALARMS, &f.holder, f.epoch)?;
    if !held {
        tracing::warn!(epoch = f.epoch, "the alarm evaluator's lease moved on: this node's write is dropped");
    }
    Ok(held)
}
