//! The evaluator task: rounds over the alarms (soonest due first, so overdue alarms come
//! first after a restart), each state change committed with its history item, then
//! published, then its actions run.
//!
//! Due times are durable (`next_eval_ms`): an alarm is due every [`CADENCE_MS`] (every
//! [`SHORT_CADENCE_MS`] for periods under a minute). Between due times a round runs every
//! [`TICK`] and whenever [`Alarms::poke`] is called, so a breach recorded now is seen within
//! about a second (the deployment engine relies on that); only due alarms have their due
//! time moved on. After each round the task rests [`PACE`] times the round's length, which
//! bounds its CPU use (1,000 alarms: a round takes about 0.2–0.35 s, so they are evaluated
//! every 2–3.5 s).

use std::time::Duration;

use metrics::Dims;
use store::{AlarmHistoryRow, AlarmRecord, MetricSeries, StoreError};

use crate::eval::{self, Outcome, Point, StateValue};
use crate::{
    ALARM_TYPE, AlarmError, Alarms, Config, HISTORY_MAX, HISTORY_PER_ALARM_MAX, HISTORY_RETENTION_MS, ROUND_MAX,
    StateChange, alarm_arn,
};

/// How often an alarm is due (periods of a minute or more), and for shorter periods.
pub const CADENCE_MS: i64 = 60_000;
pub const SHORT_CADENCE_MS: i64 = 10_000;
/// The longest sleep between rounds.
pub const TICK: Duration = Duration::from_secs(1);
/// The shortest pause between rounds (a store that keeps failing is not spun on).
const MIN_PAUSE: Duration = Duration::from_millis(100);
/// How much longer than a round the evaluator rests after it.
const PACE: u32 = 9;
/// How often old history is trimmed.
const TRIM_EVERY_MS: i64 = 10 * 60_000;

/// What a state change did.
pub(crate) enum Applied {
    /// The alarm no longer exists.
    Gone,
    /// The alarm changed since it was evaluated: the next round decides.
    Stale,
    /// This node's lease on the evaluator was taken over (or ended) since it was read: the
    /// write changed nothing (see [`crate::Alarms::fence`]).
    Fenced,
    /// Already in that state.
    Same,
    Changed,
}

fn cadence_ms(config: &Config) -> i64 {
    if config.period < 60 { SHORT_CADENCE_MS } else { CADENCE_MS }
}

fn reason_json(data: &Option<String>) -> Option<serde_json::Value> {
    data.as_deref().and_then(|d| serde_json::from_str(d).ok())
}

fn state_json(value: &str, reason: &str, data: &Option<String>) -> serde_json::Value {
    let mut v = serde_json::json!({"stateValue": value, "stateReason": reason});
    if let Some(d) = reason_json(data) {
        v["stateReasonData"] = d;
    }
    v
}

impl Alarms {
    pub(crate) async fn run(self) {
        let mut last_trim = i64::MIN;
        loop {
            if !self.leads() {
                // Another node evaluates; look again for the lease at the next tick.
                tokio::select! {
                    _ = tokio::time::sleep(TICK) => {}
                    _ = self.inner.wake.notified() => {}
                }
                continue;
            }
            let now = stdx::time::now_ms();
            let started = std::time::Instant::now();
            if let Err(e) = self.round(now).await {
                tracing::error!(error = %e, "alarm evaluation round failed");
            }
            // Pacing: with many alarms a round takes long; rest PACE times as long, whatever
            // pokes come, so the evaluator takes at most about 1 / (1 + PACE) of a core.
            tokio::time::sleep(started.elapsed() * PACE).await;
            if now.saturating_sub(last_trim) >= TRIM_EVERY_MS {
                last_trim = now;
                let cut = now - HISTORY_RETENTION_MS;
                match self
                    .inner
                    .store
                    .write(move |tx| tx.trim_alarm_history(cut, HISTORY_PER_ALARM_MAX, HISTORY_MAX))
                    .await
                {
                    Ok(n) if n > 0 => tracing::debug!(trimmed = n, "trimmed alarm history"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "cannot trim alarm history"),
                }
            }
            let next = self.inner.store.read(|tx| tx.next_alarm_due()).await.ok().flatten();
            let until_due = next.map(|d| Duration::from_millis(d.saturating_sub(stdx::time::now_ms()).max(0) as u64));
            let pause = until_due.unwrap_or(TICK).clamp(MIN_PAUSE, TICK);
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = self.inner.wake.notified() => {}
            }
        }
    }

    /// Evaluates every alarm (up to [`ROUND_MAX`], soonest due first) at `now`, and moves on
    /// the due time of those that were due.
    pub(crate) async fn round(&self, now: i64) -> Result<(), StoreError> {
        let alarms = self.inner.store.read(|tx| tx.alarms_due(i64::MAX, ROUND_MAX)).await?;
        let mut due = Vec::new();
        for record in &alarms {
            let cadence = match self.evaluate_record(record, now).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(alarm = %record.name, error = %e, "cannot evaluate alarm");
                    CADENCE_MS
                }
            };
            if record.next_eval_ms <= now {
                due.push((record.account.clone(), record.region.clone(), record.name.clone(), now + cadence));
            }
        }
        if !due.is_empty() {
            let fence = self.fence();
            self.inner
                .store
                .write(move |tx| {
                    if !crate::holds(tx, fence.as_ref())? {
                        return Ok(());
                    }
                    for (account, region, name, at) in &due {
                        tx.set_alarm_due(account, region, name, *at)?;
                    }
                    Ok::<_, StoreError>(())
                })
                .await?;
        }
        Ok(())
    }

    /// Computes the alarm's state now and applies a change; returns its cadence.
    async fn evaluate_record(&self, record: &AlarmRecord, now: i64) -> Result<i64, AlarmError> {
        let config = Config::parse(record)?;
        let previous = StateValue::parse(&record.state).unwrap_or(StateValue::InsufficientData);
        let Some(outcome) = self.compute(record, &config, now, previous).await? else {
            return Ok(cadence_ms(&config));
        };
        if outcome.state != previous {
            // Confirm with a second read: a flush of the open aggregates between the store
            // read and the in-memory read could hide the newest data for an instant.
            let again = self.compute(record, &config, now, previous).await?;
            if again.as_ref().map(|o| o.state) == Some(outcome.state) {
                self.transition(record, outcome, now, true).await?;
            }
        }
        Ok(cadence_ms(&config))
    }

    async fn compute(
        &self,
        record: &AlarmRecord,
        config: &Config,
        now: i64,
        previous: StateValue,
    ) -> Result<Option<Outcome>, AlarmError> {
        let rule = config.rule();
        let (from, to) = rule.range(now);
        let series = MetricSeries {
            account: record.account.clone(),
            region: record.region.clone(),
            namespace: config.namespace.clone(),
            metric: config.metric_name.clone(),
            dims: Dims::new(config.dimensions.clone()).encode(),
        };
        let points = self.inner.recorder.statistics(&series, from, to, rule.bucket_ms()).await?;
        let points: Vec<Point> =
            points.into_iter().map(|d| Point { timestamp_ms: d.timestamp_ms, aggregate: d.aggregate }).collect();
        Ok(eval::evaluate(&rule, &points, now, previous))
    }

    /// Commits a state change with its history item (one transaction), then publishes it and
    /// runs the new state's actions. `evaluated`: the change comes from an evaluation of
    /// `record`, and is dropped if the alarm changed since.
    pub(crate) async fn transition(
        &self,
        record: &AlarmRecord,
        outcome: Outcome,
        now: i64,
        evaluated: bool,
    ) -> Result<Applied, AlarmError> {
        let (account, region, name) = (record.account.clone(), record.region.clone(), record.name.clone());
        let expected = record.clone();
        let new = outcome.clone();
        let fence = if evaluated { self.fence() } else { None };
        let applied = self
            .inner
            .store
            .write(move |tx| {
                if !crate::holds(tx, fence.as_ref())? {
                    return Ok((Applied::Fenced, None));
                }
                let Some(current) = tx.alarm(&account, &region, &name)? else { return Ok((Applied::Gone, None)) };
                if evaluated
                    && (current.config_updated_ms != expected.config_updated_ms
                        || current.state != expected.state
                        || current.state_updated_ms != expected.state_updated_ms)
                {
                    return Ok((Applied::Stale, None));
                }
                let state = new.state.as_str();
                if current.state == state {
                    if !evaluated {
                        tx.put_alarm(&AlarmRecord {
                            reason: new.reason,
                            reason_data: new.reason_data,
                            state_updated_ms: now,
                            ..current
                        })?;
                    }
                    return Ok((Applied::Same, None));
                }
                let data = serde_json::json!({
                    "version": "1.0",
                    "oldState": state_json(&current.state, &current.reason, &current.reason_data),
                    "newState": state_json(state, &new.reason, &new.reason_data),
                });
                tx.insert_alarm_history(&AlarmHistoryRow {
                    id: 0,
                    account: account.clone(),
                    region: region.clone(),
                    alarm_name: name.clone(),
                    alarm_type: ALARM_TYPE.to_owned(),
                    timestamp_ms: now,
                    item_type: "StateUpdate".to_owned(),
                    summary: format!("Alarm updated from {} to {state}", current.state),
                    data: data.to_string(),
                })?;
                let updated = AlarmRecord {
                    state: state.to_owned(),
                    reason: new.reason,
                    reason_data: new.reason_data,
                    state_updated_ms: now,
                    state_transitioned_ms: now,
                    ..current.clone()
                };
                tx.put_alarm(&updated)?;
                Ok::<_, AlarmError>((Applied::Changed, Some((current, updated))))
            })
            .await?;
        let (applied, Some((old, new))) = applied else { return Ok(applied.0) };
        tracing::info!(alarm = %new.name, from = %old.state, to = %new.state, "alarm state changed");
        let _ = self.inner.changes.send(StateChange {
            account: new.account.clone(),
            region: new.region.clone(),
            alarm_name: new.name.clone(),
            old_state: old.state.clone(),
            new_state: new.state.clone(),
            reason: new.reason.clone(),
            at_ms: now,
        });
        if new.actions_enabled {
            self.run_actions(&old, &new, now).await;
        }
        Ok(applied)
    }

    /// Runs the actions of `new`'s state and records an `Action` history item for each.
    async fn run_actions(&self, old: &AlarmRecord, new: &AlarmRecord, now: i64) {
        let Ok(config) = Config::parse(new) else { return };
        let state = StateValue::parse(&new.state).unwrap_or(StateValue::InsufficientData);
        let arns = config.actions(state).to_vec();
        if arns.is_empty() {
            return;
        }
        let event = lambda_event(old, new, &config, now);
        let mut items = Vec::new();
        for arn in arns {
            let result = if crate::validate::lambda_function(&arn).is_some() {
                match self.inner.actions.get() {
                    Some(actions) => actions.invoke_lambda(&new.account, &new.region, &arn, event.clone()).await,
                    None => Err("the alarm evaluator is not started".to_owned()),
                }
            } else {
                Err("Versa records this action but does not execute it (only Lambda function actions run)".to_owned())
            };
            let (summary, action_state) = match &result {
                Ok(()) => (format!("Successfully executed action {arn}"), "Succeeded"),
                Err(e) => {
                    tracing::warn!(alarm = %new.name, action = %arn, error = %e, "alarm action not executed");
                    (format!("Failed to execute action {arn}. Received error: \"{e}\""), "Failed")
                }
            };
            let mut data = serde_json::json!({
                "actionState": action_state,
                "stateUpdateTimestamp": now,
                "notificationResource": arn,
            });
            if let Err(e) = &result {
                data["error"] = e.clone().into();
            }
            items.push(AlarmHistoryRow {
                id: 0,
                account: new.account.clone(),
                region: new.region.clone(),
                alarm_name: new.name.clone(),
                alarm_type: ALARM_TYPE.to_owned(),
                timestamp_ms: stdx::time::now_ms(),
                item_type: "Action".to_owned(),
                summary,
                data: data.to_string(),
            });
        }
        let written = self
            .inner
            .store
            .write(move |tx| {
                for item in &items {
                    tx.insert_alarm_history(item)?;
                }
                Ok::<_, StoreError>(())
            })
            .await;
        if let Err(e) = written {
            tracing::error!(error = %e, "cannot record alarm action history");
        }
    }
}

fn state_event(record: &AlarmRecord, timestamp_ms: i64) -> serde_json::Value {
    let mut v = serde_json::json!({
        "value": record.state,
        "reason": record.reason,
        "timestamp": stdx::time::format_lambda_ms(timestamp_ms),
    });
    if let Some(d) = &record.reason_data {
        v["reasonData"] = d.clone().into();
    }
    v
}

/// The event a Lambda alarm action receives (AWS's "Lambda alarm actions" event).
pub(crate) fn lambda_event(old: &AlarmRecord, new: &AlarmRecord, config: &Config, now: i64) -> Vec<u8> {
    let dims: serde_json::Map<String, serde_json::Value> =
        config.dimensions.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect();
    let mut metric_stat = serde_json::json!({
        "metric": {"namespace": config.namespace, "name": config.metric_name, "dimensions": dims},
        "period": config.period,
        "stat": config.statistic.clone().or_else(|| config.extended_statistic.clone()).unwrap_or_default(),
    });
    if let Some(u) = &config.unit {
        metric_stat["unit"] = u.clone().into();
    }
    let mut configuration = serde_json::json!({
        "metrics": [{"id": config.id, "metricStat": metric_stat, "returnData": true}],
    });
    if let Some(d) = &config.description {
        configuration["description"] = d.clone().into();
    }
    let event = serde_json::json!({
        "source": "aws.cloudwatch",
        "alarmArn": alarm_arn(&new.account, &new.region, &new.name),
        "accountId": new.account,
        "time": stdx::time::format_lambda_ms(now),
        "region": new.region,
        "alarmData": {
            "alarmName": new.name,
            "state": state_event(new, now),
            "previousState": state_event(old, old.state_updated_ms),
            "configuration": configuration,
        },
    });
    event.to_string().into_bytes()
}
