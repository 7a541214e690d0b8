//! The services' tables on PostgreSQL (metrics, alarms, alias history, CodeDeploy, schedules,
//! SQS, API Gateway, event source mappings). Stubs until their PostgreSQL side lands.

use postgres::Transaction;

use crate::{
    AlarmHistoryFilter, AlarmHistoryRow, AlarmRecord, AlarmStateRow, AliasHistoryRow, ApigwRow, CdDeploymentQuery,
    CdDeploymentRow, EsmRow, MetricPoint, MetricSeries, ScheduleRow, SqsCounts, SqsMessageRow, SqsQueueRow, StoreError,
};
use model::function::FunctionId;

/// The services' tables (migration 2).
pub(super) const SCHEMA: &str = "SELECT 1";

fn not_yet() -> StoreError {
    StoreError::Database("not yet on PostgreSQL".into())
}

pub(super) fn metric_point(
    _t: &mut Transaction<'_>,
    _series: &MetricSeries,
    _start_ms: i64,
) -> Result<Option<MetricPoint>, StoreError> {
    Err(not_yet())
}

pub(super) fn metric_points(
    _t: &mut Transaction<'_>,
    _series: &MetricSeries,
    _from_ms: i64,
    _to_ms: i64,
) -> Result<Vec<MetricPoint>, StoreError> {
    Err(not_yet())
}

pub(super) fn metric_points_hr(
    _t: &mut Transaction<'_>,
    _series: &MetricSeries,
    _from_ms: i64,
    _to_ms: i64,
) -> Result<Vec<MetricPoint>, StoreError> {
    Err(not_yet())
}

pub(super) fn metric_point_hr(
    _t: &mut Transaction<'_>,
    _series: &MetricSeries,
    _start_ms: i64,
) -> Result<Option<MetricPoint>, StoreError> {
    Err(not_yet())
}

pub(super) fn metric_series_hr(_t: &mut Transaction<'_>, _limit: usize) -> Result<Vec<MetricSeries>, StoreError> {
    Err(not_yet())
}

pub(super) fn metric_series(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _namespace: Option<&str>,
    _after: Option<&MetricSeries>,
    _limit: usize,
) -> Result<Vec<MetricSeries>, StoreError> {
    Err(not_yet())
}

pub(super) fn has_metric_series(_t: &mut Transaction<'_>, _series: &MetricSeries) -> Result<bool, StoreError> {
    Err(not_yet())
}

pub(super) fn metric_series_count(_t: &mut Transaction<'_>) -> Result<u64, StoreError> {
    Err(not_yet())
}

pub(super) fn alarm(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _name: &str,
) -> Result<Option<AlarmRecord>, StoreError> {
    Err(not_yet())
}

pub(super) fn alarms(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _after: Option<&str>,
    _limit: usize,
) -> Result<Vec<AlarmRecord>, StoreError> {
    Err(not_yet())
}

pub(super) fn alarm_count(_t: &mut Transaction<'_>, _account: &str, _region: &str) -> Result<u64, StoreError> {
    Err(not_yet())
}

pub(super) fn alarms_due(
    _t: &mut Transaction<'_>,
    _now_ms: i64,
    _limit: usize,
) -> Result<Vec<AlarmRecord>, StoreError> {
    Err(not_yet())
}

pub(super) fn alarm_states(_t: &mut Transaction<'_>, _limit: usize) -> Result<Vec<AlarmStateRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn next_alarm_due(_t: &mut Transaction<'_>) -> Result<Option<i64>, StoreError> {
    Err(not_yet())
}

pub(super) fn alarm_history(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _filter: &AlarmHistoryFilter,
    _limit: usize,
) -> Result<Vec<AlarmHistoryRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn alarm_tags(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _name: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    Err(not_yet())
}

pub(super) fn alias_history(
    _t: &mut Transaction<'_>,
    _id: FunctionId,
    _alias: &str,
    _before_id: Option<i64>,
    _limit: usize,
) -> Result<Vec<AliasHistoryRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn cd_object(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _kind: &str,
    _name: &str,
) -> Result<Option<String>, StoreError> {
    Err(not_yet())
}

pub(super) fn cd_objects(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _kind: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    Err(not_yet())
}

pub(super) fn cd_deployment(_t: &mut Transaction<'_>, _id: &str) -> Result<Option<CdDeploymentRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn cd_deployments_page(
    _t: &mut Transaction<'_>,
    _q: &CdDeploymentQuery,
) -> Result<Vec<CdDeploymentRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn cd_active_deployments(
    _t: &mut Transaction<'_>,
    _limit: usize,
) -> Result<Vec<CdDeploymentRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn cd_group_active(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _application: &str,
    _group: &str,
) -> Result<Option<CdDeploymentRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn cd_group_latest(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _application: &str,
    _group: &str,
    _status: Option<&str>,
) -> Result<Option<CdDeploymentRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn cd_deployments_shown(
    _t: &mut Transaction<'_>,
    _since_ms: i64,
    _limit: usize,
) -> Result<Vec<CdDeploymentRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn cd_tags(_t: &mut Transaction<'_>, _arn: &str) -> Result<Vec<(String, String)>, StoreError> {
    Err(not_yet())
}

pub(super) fn schedule_row(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _kind: &str,
    _name: &str,
) -> Result<Option<ScheduleRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn schedule_rows(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _kind: &str,
    _prefix: &str,
    _after: Option<&str>,
    _limit: usize,
) -> Result<Vec<ScheduleRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn schedule_count(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _kind: &str,
) -> Result<u64, StoreError> {
    Err(not_yet())
}

pub(super) fn schedules_due(
    _t: &mut Transaction<'_>,
    _now_ms: i64,
    _limit: usize,
) -> Result<Vec<ScheduleRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn next_schedule_due(_t: &mut Transaction<'_>) -> Result<Option<i64>, StoreError> {
    Err(not_yet())
}

pub(super) fn sqs_queue(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _name: &str,
) -> Result<Option<SqsQueueRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn sqs_queue_by_id(_t: &mut Transaction<'_>, _id: i64) -> Result<Option<SqsQueueRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn sqs_queues(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _prefix: &str,
    _after: Option<&str>,
    _limit: usize,
) -> Result<Vec<SqsQueueRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn sqs_queue_count(_t: &mut Transaction<'_>, _account: &str, _region: &str) -> Result<u64, StoreError> {
    Err(not_yet())
}

pub(super) fn sqs_message(_t: &mut Transaction<'_>, _seq: i64) -> Result<Option<SqsMessageRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn sqs_candidates(
    _t: &mut Transaction<'_>,
    _queue_id: i64,
    _now_ms: i64,
    _fifo: bool,
    _limit: usize,
) -> Result<Vec<SqsMessageRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn sqs_next_visible(
    _t: &mut Transaction<'_>,
    _queue_id: i64,
    _now_ms: i64,
) -> Result<Option<i64>, StoreError> {
    Err(not_yet())
}

pub(super) fn sqs_counts(_t: &mut Transaction<'_>, _queue_id: i64, _now_ms: i64) -> Result<SqsCounts, StoreError> {
    Err(not_yet())
}

pub(super) fn sqs_dedup(
    _t: &mut Transaction<'_>,
    _queue_id: i64,
    _key: &str,
    _now_ms: i64,
) -> Result<Option<(String, i64)>, StoreError> {
    Err(not_yet())
}

pub(super) fn apigw_api(_t: &mut Transaction<'_>, _id: &str) -> Result<Option<ApigwRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn apigw_apis(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _kind: &str,
    _limit: usize,
) -> Result<Vec<ApigwRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn esm(_t: &mut Transaction<'_>, _uuid: &str) -> Result<Option<EsmRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn esms(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _limit: usize,
) -> Result<Vec<EsmRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn all_esms(_t: &mut Transaction<'_>, _limit: usize) -> Result<Vec<EsmRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn esm_checkpoints(_t: &mut Transaction<'_>, _uuid: &str) -> Result<Vec<(String, String)>, StoreError> {
    Err(not_yet())
}

pub(super) fn put_metric_point(
    _t: &mut Transaction<'_>,
    _series: &MetricSeries,
    _point: &MetricPoint,
) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn put_metric_point_hr(
    _t: &mut Transaction<'_>,
    _series: &MetricSeries,
    _point: &MetricPoint,
) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn delete_metric_points_hr_before(_t: &mut Transaction<'_>, _before_ms: i64) -> Result<u64, StoreError> {
    Err(not_yet())
}

pub(super) fn delete_metric_points_before(_t: &mut Transaction<'_>, _before_ms: i64) -> Result<u64, StoreError> {
    Err(not_yet())
}

pub(super) fn put_cd_object(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _kind: &str,
    _name: &str,
    _doc: &str,
) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn delete_cd_object(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _kind: &str,
    _name: &str,
) -> Result<bool, StoreError> {
    Err(not_yet())
}

pub(super) fn put_cd_deployment(_t: &mut Transaction<'_>, _d: &CdDeploymentRow) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn trim_cd_deployments(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _application: &str,
    _group: &str,
    _keep: usize,
) -> Result<usize, StoreError> {
    Err(not_yet())
}

pub(super) fn put_cd_tags(_t: &mut Transaction<'_>, _arn: &str, _tags: &[(String, String)]) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn put_apigw_api(_t: &mut Transaction<'_>, _api: &ApigwRow) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn delete_apigw_api(_t: &mut Transaction<'_>, _id: &str) -> Result<bool, StoreError> {
    Err(not_yet())
}

pub(super) fn put_esm(_t: &mut Transaction<'_>, _row: &EsmRow) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn delete_esm(_t: &mut Transaction<'_>, _uuid: &str) -> Result<bool, StoreError> {
    Err(not_yet())
}

pub(super) fn put_esm_checkpoint(
    _t: &mut Transaction<'_>,
    _uuid: &str,
    _shard: &str,
    _sequence: &str,
) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn put_alarm(_t: &mut Transaction<'_>, _alarm: &AlarmRecord) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn delete_alarm(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _name: &str,
) -> Result<bool, StoreError> {
    Err(not_yet())
}

pub(super) fn set_alarm_due(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _name: &str,
    _next_eval_ms: i64,
) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn insert_alarm_history(_t: &mut Transaction<'_>, _item: &AlarmHistoryRow) -> Result<i64, StoreError> {
    Err(not_yet())
}

pub(super) fn trim_alarm_history(
    _t: &mut Transaction<'_>,
    _before_ms: i64,
    _keep_per_alarm: usize,
    _keep_total: usize,
) -> Result<u64, StoreError> {
    Err(not_yet())
}

pub(super) fn insert_alias_history(
    _t: &mut Transaction<'_>,
    _row: &AliasHistoryRow,
    _keep_per_alias: usize,
    _keep_total: usize,
) -> Result<i64, StoreError> {
    Err(not_yet())
}

pub(super) fn put_alarm_tags(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _name: &str,
    _tags: &[(String, String)],
) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn put_schedule_row(_t: &mut Transaction<'_>, _row: &ScheduleRow) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn delete_schedule_row(
    _t: &mut Transaction<'_>,
    _account: &str,
    _region: &str,
    _kind: &str,
    _name: &str,
) -> Result<bool, StoreError> {
    Err(not_yet())
}

pub(super) fn advance_schedule_due(
    _t: &mut Transaction<'_>,
    _row: &ScheduleRow,
    _from_ms: i64,
    _to_ms: Option<i64>,
) -> Result<bool, StoreError> {
    Err(not_yet())
}

pub(super) fn sqs_insert_queue(_t: &mut Transaction<'_>, _queue: &SqsQueueRow) -> Result<i64, StoreError> {
    Err(not_yet())
}

pub(super) fn sqs_update_queue(_t: &mut Transaction<'_>, _id: i64, _doc: &str) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn sqs_delete_queue(_t: &mut Transaction<'_>, _id: i64) -> Result<bool, StoreError> {
    Err(not_yet())
}

pub(super) fn sqs_insert_message(_t: &mut Transaction<'_>, _message: &SqsMessageRow) -> Result<i64, StoreError> {
    Err(not_yet())
}

pub(super) fn sqs_update_message(_t: &mut Transaction<'_>, _message: &SqsMessageRow) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn sqs_delete_message(_t: &mut Transaction<'_>, _seq: i64) -> Result<bool, StoreError> {
    Err(not_yet())
}

pub(super) fn sqs_move_message(
    _t: &mut Transaction<'_>,
    _seq: i64,
    _to_queue: i64,
    _visible_ms: i64,
) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn sqs_purge(_t: &mut Transaction<'_>, _queue_id: i64) -> Result<u64, StoreError> {
    Err(not_yet())
}

pub(super) fn sqs_put_dedup(
    _t: &mut Transaction<'_>,
    _queue_id: i64,
    _key: &str,
    _message_id: &str,
    _seq: i64,
    _expires_ms: i64,
) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn sqs_expire(_t: &mut Transaction<'_>, _now_ms: i64, _limit: usize) -> Result<u64, StoreError> {
    Err(not_yet())
}
