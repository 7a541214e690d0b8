//! The PostgreSQL side of the services' tables: metric aggregates (migrations 7 and 9), alarms
//! (8), CodeDeploy (10, 12), alias history (11), API Gateway (13), rules and schedules (14), SQS
//! (15) and event source mappings (16). One free function per trait method, each named after
//! it and taking the write or read transaction; `PgTx` delegates to them.
//!
//! The SQL mirrors `sqlite.rs`/`sqs.rs` statement for statement, with these translations, so
//! that every answer (rows, order, counts) is the embedded backend's:
//! - text keys are `COLLATE "C"`: SQLite compares bytes, whatever the database's locale;
//! - `INSERT OR REPLACE` is `INSERT … ON CONFLICT (primary key) DO UPDATE`;
//! - SQLite sorts NULL first, PostgreSQL last: the one order over a nullable column
//!   (`cd_active_deployments`) says `NULLS FIRST`, and ties in due-time orders are broken by the
//!   primary key, which is what SQLite's index walk yields;
//! - a limit of `usize::MAX` (SQLite reads `-1` as "no limit") saturates to `i64::MAX`.
//!
//! **SQS under several writers.** SQLite has one writer; here several transactions (and nodes)
//! touch one queue at once. Every function that reads for a write or writes a queue's messages
//! (`sqs_candidates`, `sqs_dedup`, `sqs_insert_message`, `sqs_update_message`,
//! `sqs_delete_message`, `sqs_move_message`, `sqs_purge`, `sqs_delete_queue`, `sqs_expire`)
//! first takes the queue's transaction-scoped advisory lock, so a queue's receives, sends and
//! deletes run one at a time as on SQLite: a FIFO group never has two batches in flight, a
//! deduplication id is checked and recorded atomically, and sequence numbers commit in the order
//! they were drawn. (An advisory lock is allowed in a read-only transaction, where these reads
//! may also run.) A receive that moves a message to a dead-letter queue touches the other queue's
//! counters only.
//!
//! **Metric flushes** read a point, merge and write it back; [`metric_point`] and
//! [`metric_point_hr`] first take one advisory lock, so flushes of several nodes run one at a time
//! and none loses another's merge.

use model::function::FunctionId;
use model::scope::{AccountId, Region, Scope};
use postgres::Transaction;
use postgres::types::ToSql;

use crate::codec;
use crate::{
    AlarmHistoryFilter, AlarmHistoryRow, AlarmRecord, AlarmStateRow, AliasHistoryRow, ApigwRow, CdDeploymentQuery,
    CdDeploymentRow, EsmRow, MetricPoint, MetricSeries, ScheduleRow, SqsCounts, SqsMessageRow, SqsQueueRow, StoreError,
};

/// Tables and indexes of the services (PostgreSQL migration 2).
pub(super) const SCHEMA: &str = r#"
    CREATE TABLE metric_series (
        account         text COLLATE "C" NOT NULL,
        region          text COLLATE "C" NOT NULL,
        namespace       text COLLATE "C" NOT NULL,
        metric          text COLLATE "C" NOT NULL,
        dims            text COLLATE "C" NOT NULL,
        PRIMARY KEY (account, region, namespace, metric, dims)
    );
    CREATE TABLE metric_points (
        account         text COLLATE "C" NOT NULL,
        region          text COLLATE "C" NOT NULL,
        namespace       text COLLATE "C" NOT NULL,
        metric          text COLLATE "C" NOT NULL,
        dims            text COLLATE "C" NOT NULL,
        start_ms        bigint NOT NULL,
        sum             double precision NOT NULL,
        count           bigint NOT NULL,
        min             double precision NOT NULL,
        max             double precision NOT NULL,
        sketch          bytea NOT NULL,
        PRIMARY KEY (account, region, namespace, metric, dims, start_ms)
    );
    CREATE INDEX metric_points_start ON metric_points (start_ms);

    CREATE TABLE alarms (
        account                 text COLLATE "C" NOT NULL,
        region                  text COLLATE "C" NOT NULL,
        name                    text COLLATE "C" NOT NULL,
        config                  text NOT NULL,
        config_updated_ms       bigint NOT NULL,
        actions_enabled         boolean NOT NULL,
        state                   text NOT NULL,
        reason                  text NOT NULL,
        reason_data             text,
        state_updated_ms        bigint NOT NULL,
        state_transitioned_ms   bigint NOT NULL,
        next_eval_ms            bigint NOT NULL,
        PRIMARY KEY (account, region, name)
    );
    CREATE INDEX alarms_due ON alarms (next_eval_ms, account, region, name);
    CREATE TABLE alarm_tags (
        account         text COLLATE "C" NOT NULL,
        region          text COLLATE "C" NOT NULL,
        name            text COLLATE "C" NOT NULL,
        key             text COLLATE "C" NOT NULL,
        value           text NOT NULL,
        PRIMARY KEY (account, region, name, key)
    );
    CREATE TABLE alarm_history (
        id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        account         text COLLATE "C" NOT NULL,
        region          text COLLATE "C" NOT NULL,
        alarm_name      text COLLATE "C" NOT NULL,
        alarm_type      text NOT NULL,
        timestamp_ms    bigint NOT NULL,
        item_type       text COLLATE "C" NOT NULL,
        summary         text NOT NULL,
        data            text NOT NULL
    );
    CREATE INDEX alarm_history_alarm ON alarm_history (account, region, alarm_name, id);
    CREATE INDEX alarm_history_time ON alarm_history (timestamp_ms);

    CREATE TABLE metric_points_hr (
        account         text COLLATE "C" NOT NULL,
        region          text COLLATE "C" NOT NULL,
        namespace       text COLLATE "C" NOT NULL,
        metric          text COLLATE "C" NOT NULL,
        dims            text COLLATE "C" NOT NULL,
        start_ms        bigint NOT NULL,
        sum             double precision NOT NULL,
        count           bigint NOT NULL,
        min             double precision NOT NULL,
        max             double precision NOT NULL,
        sketch          bytea NOT NULL,
        PRIMARY KEY (account, region, namespace, metric, dims, start_ms)
    );
    CREATE INDEX metric_points_hr_start ON metric_points_hr (start_ms);

    CREATE TABLE cd_objects (
        account         text COLLATE "C" NOT NULL,
        region          text COLLATE "C" NOT NULL,
        kind            text COLLATE "C" NOT NULL,
        name            text COLLATE "C" NOT NULL,
        doc             text NOT NULL,
        PRIMARY KEY (account, region, kind, name)
    );
    CREATE TABLE cd_deployments (
        id              text COLLATE "C" PRIMARY KEY,
        account         text COLLATE "C" NOT NULL,
        region          text COLLATE "C" NOT NULL,
        application     text COLLATE "C" NOT NULL,
        deployment_group text COLLATE "C" NOT NULL,
        active          boolean NOT NULL,
        next_due_ms     bigint,
        create_ms       bigint NOT NULL,
        doc             text NOT NULL
    );
    CREATE UNIQUE INDEX cd_deployments_one_active
        ON cd_deployments (account, region, application, deployment_group) WHERE active;
    CREATE INDEX cd_deployments_scope ON cd_deployments (account, region, create_ms);
    CREATE TABLE cd_tags (
        arn             text COLLATE "C" NOT NULL,
        key             text COLLATE "C" NOT NULL,
        value           text NOT NULL,
        PRIMARY KEY (arn, key)
    );

    CREATE TABLE alias_history (
        id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        function_id     bigint NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
        account         text NOT NULL,
        region          text NOT NULL,
        function_name   text NOT NULL,
        alias           text COLLATE "C" NOT NULL,
        time_ms         bigint NOT NULL,
        actor_kind      text NOT NULL,
        actor_id        text NOT NULL,
        operation       text NOT NULL,
        before          text,
        after           text,
        revision_id     text
    );
    CREATE INDEX alias_history_alias ON alias_history (function_id, alias, id);

    CREATE INDEX cd_deployments_group
        ON cd_deployments (account, region, application, deployment_group, create_ms, id);
    CREATE INDEX cd_deployments_due ON cd_deployments (next_due_ms NULLS FIRST, create_ms, id) WHERE active;
    CREATE INDEX cd_deployments_created ON cd_deployments (create_ms);

    CREATE TABLE apigw_apis (
        id              text COLLATE "C" PRIMARY KEY,
        account         text COLLATE "C" NOT NULL,
        region          text COLLATE "C" NOT NULL,
        kind            text COLLATE "C" NOT NULL,
        doc             text NOT NULL
    );
    CREATE INDEX apigw_apis_scope ON apigw_apis (account, region, kind, id);

    CREATE TABLE schedules (
        account         text COLLATE "C" NOT NULL,
        region          text COLLATE "C" NOT NULL,
        kind            text COLLATE "C" NOT NULL,
        name            text COLLATE "C" NOT NULL,
        doc             text NOT NULL,
        next_due_ms     bigint,
        PRIMARY KEY (account, region, kind, name)
    );
    CREATE INDEX schedules_due ON schedules (next_due_ms, account, region, kind, name)
        WHERE next_due_ms IS NOT NULL;

    CREATE TABLE sqs_queues (
        id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        account         text COLLATE "C" NOT NULL,
        region          text COLLATE "C" NOT NULL,
        name            text COLLATE "C" NOT NULL,
        created_ms      bigint NOT NULL,
        doc             text NOT NULL,
        messages        bigint NOT NULL DEFAULT 0,
        bytes           bigint NOT NULL DEFAULT 0,
        UNIQUE (account, region, name)
    );
    CREATE TABLE sqs_messages (
        seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        queue_id        bigint NOT NULL REFERENCES sqs_queues(id) ON DELETE CASCADE,
        message_id      text NOT NULL,
        body            text NOT NULL,
        attrs           text NOT NULL,
        md5_body        text NOT NULL,
        md5_attrs       text,
        sent_ms         bigint NOT NULL,
        visible_ms      bigint NOT NULL,
        expires_ms      bigint NOT NULL,
        receive_count   bigint NOT NULL,
        first_receive_ms bigint,
        receipt         text,
        group_id        text COLLATE "C",
        dedup_id        text,
        size            bigint NOT NULL
    );
    CREATE INDEX sqs_messages_due ON sqs_messages (queue_id, visible_ms, seq);
    CREATE INDEX sqs_messages_order ON sqs_messages (queue_id, seq);
    CREATE INDEX sqs_messages_group ON sqs_messages (queue_id, group_id, visible_ms) WHERE group_id IS NOT NULL;
    CREATE INDEX sqs_messages_expiry ON sqs_messages (expires_ms);
    CREATE TABLE sqs_dedup (
        queue_id        bigint NOT NULL REFERENCES sqs_queues(id) ON DELETE CASCADE,
        key             text COLLATE "C" NOT NULL,
        message_id      text NOT NULL,
        seq             bigint NOT NULL,
        expires_ms      bigint NOT NULL,
        PRIMARY KEY (queue_id, key)
    );
    CREATE INDEX sqs_dedup_expiry ON sqs_dedup (expires_ms);

    CREATE TABLE esm_mappings (
        uuid            text COLLATE "C" PRIMARY KEY,
        account         text COLLATE "C" NOT NULL,
        region          text COLLATE "C" NOT NULL,
        source_arn      text NOT NULL,
        function_arn    text NOT NULL,
        doc             text NOT NULL
    );
    CREATE INDEX esm_mappings_scope ON esm_mappings (account, region, uuid);
    CREATE TABLE esm_checkpoints (
        uuid            text COLLATE "C" NOT NULL REFERENCES esm_mappings(uuid) ON DELETE CASCADE,
        shard           text COLLATE "C" NOT NULL,
        sequence        text NOT NULL,
        PRIMARY KEY (uuid, shard)
    );
"#;

/// The advisory-lock class of SQS queues (`pg_advisory_xact_lock(class, queue key)`).
const SQS_QUEUE_LOCK_CLASS: i32 = 0x5153_0001;
/// The advisory lock that serialises metric flushes (read a point, merge, write it back) across
/// nodes: without it, two nodes flushing the same minute would each lose the other's merge.
const METRIC_FLUSH_LOCK: i64 = 0x7665_7273_615f_6d66;
/// How often a delete or move retries after the message changed queue under it.
const SQS_MOVED_RETRIES: usize = 3;

type Params<'a> = [&'a (dyn ToSql + Sync)];

fn db_err(e: postgres::Error) -> StoreError {
    super::pg_err(e)
}

/// A row limit or offset: `usize::MAX` (or anything past `i64::MAX`) means "no limit".
fn lim(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn rows<T>(
    t: &mut Transaction<'_>,
    sql: &str,
    params: &Params<'_>,
    f: impl Fn(&postgres::Row) -> Result<T, postgres::Error>,
) -> Result<Vec<T>, StoreError> {
    t.query(sql, params).map_err(db_err)?.iter().map(|r| f(r).map_err(db_err)).collect()
}

fn opt<T>(
    t: &mut Transaction<'_>,
    sql: &str,
    params: &Params<'_>,
    f: impl Fn(&postgres::Row) -> Result<T, postgres::Error>,
) -> Result<Option<T>, StoreError> {
    t.query_opt(sql, params).map_err(db_err)?.as_ref().map(|r| f(r).map_err(db_err)).transpose()
}

fn exec(t: &mut Transaction<'_>, sql: &str, params: &Params<'_>) -> Result<u64, StoreError> {
    t.execute(sql, params).map_err(db_err)
}

fn count(t: &mut Transaction<'_>, sql: &str, params: &Params<'_>) -> Result<u64, StoreError> {
    let n: i64 = t.query_one(sql, params).map_err(db_err)?.try_get(0).map_err(db_err)?;
    Ok(n as u64)
}

fn min_ms(t: &mut Transaction<'_>, sql: &str) -> Result<Option<i64>, StoreError> {
    t.query_one(sql, &[]).map_err(db_err)?.try_get(0).map_err(db_err)
}

fn u64_of(r: &postgres::Row, i: usize) -> Result<u64, postgres::Error> {
    Ok(r.try_get::<_, i64>(i)? as u64)
}

fn scope_of(account: &str, region: &str) -> Result<Scope, StoreError> {
    Ok(Scope {
        account: AccountId::parse(account).ok_or_else(|| StoreError::Corrupt(format!("account {account}")))?,
        region: Region::parse(region).ok_or_else(|| StoreError::Corrupt(format!("region {region}")))?,
    })
}

// ---------------------------------------------------------------------------------------------
// Metric aggregates.

/// `table` is `metric_points` or `metric_points_hr`. The read of a read-merge-write: it first
/// takes [`METRIC_FLUSH_LOCK`] (held until the transaction ends; taking it again is cheap), and
/// only then reads, so it sees what another node's flush committed meanwhile.
fn read_metric_point(
    t: &mut Transaction<'_>,
    table: &str,
    s: &MetricSeries,
    start_ms: i64,
) -> Result<Option<MetricPoint>, StoreError> {
    exec(t, "SELECT pg_advisory_xact_lock($1)", &[&METRIC_FLUSH_LOCK])?;
    opt(
        t,
        &format!(
            "SELECT start_ms, sum, count, min, max, sketch FROM {table} \
             WHERE account = $1 AND region = $2 AND namespace = $3 AND metric = $4 AND dims = $5 AND start_ms = $6"
        ),
        &[&s.account, &s.region, &s.namespace, &s.metric, &s.dims, &start_ms],
        point_of,
    )
}

fn read_metric_points(
    t: &mut Transaction<'_>,
    table: &str,
    s: &MetricSeries,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<MetricPoint>, StoreError> {
    rows(
        t,
        &format!(
            "SELECT start_ms, sum, count, min, max, sketch FROM {table} \
             WHERE account = $1 AND region = $2 AND namespace = $3 AND metric = $4 AND dims = $5 \
             AND start_ms >= $6 AND start_ms < $7 ORDER BY start_ms"
        ),
        &[&s.account, &s.region, &s.namespace, &s.metric, &s.dims, &from_ms, &to_ms],
        point_of,
    )
}

fn write_metric_point(
    t: &mut Transaction<'_>,
    table: &str,
    s: &MetricSeries,
    p: &MetricPoint,
) -> Result<(), StoreError> {
    exec(
        t,
        &format!(
            "INSERT INTO {table} (account, region, namespace, metric, dims, start_ms, sum, count, min, max, sketch) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (account, region, namespace, metric, dims, start_ms) DO UPDATE SET \
             sum = excluded.sum, count = excluded.count, min = excluded.min, max = excluded.max, \
             sketch = excluded.sketch"
        ),
        &[
            &s.account,
            &s.region,
            &s.namespace,
            &s.metric,
            &s.dims,
            &p.start_ms,
            &p.sum,
            &(p.count as i64),
            &p.min,
            &p.max,
            &p.sketch,
        ],
    )?;
    Ok(())
}

fn point_of(r: &postgres::Row) -> Result<MetricPoint, postgres::Error> {
    Ok(MetricPoint {
        start_ms: r.try_get(0)?,
        sum: r.try_get(1)?,
        count: u64_of(r, 2)?,
        min: r.try_get(3)?,
        max: r.try_get(4)?,
        sketch: r.try_get(5)?,
    })
}

pub(super) fn metric_point(
    t: &mut Transaction<'_>,
    series: &MetricSeries,
    start_ms: i64,
) -> Result<Option<MetricPoint>, StoreError> {
    read_metric_point(t, "metric_points", series, start_ms)
}

pub(super) fn metric_points(
    t: &mut Transaction<'_>,
    series: &MetricSeries,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<MetricPoint>, StoreError> {
    read_metric_points(t, "metric_points", series, from_ms, to_ms)
}

pub(super) fn metric_points_hr(
    t: &mut Transaction<'_>,
    series: &MetricSeries,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<MetricPoint>, StoreError> {
    read_metric_points(t, "metric_points_hr", series, from_ms, to_ms)
}

pub(super) fn metric_point_hr(
    t: &mut Transaction<'_>,
    series: &MetricSeries,
    start_ms: i64,
) -> Result<Option<MetricPoint>, StoreError> {
    read_metric_point(t, "metric_points_hr", series, start_ms)
}

pub(super) fn metric_series_hr(t: &mut Transaction<'_>, limit: usize) -> Result<Vec<MetricSeries>, StoreError> {
    rows(
        t,
        "SELECT DISTINCT account, region, namespace, metric, dims FROM metric_points_hr \
         ORDER BY account, region, namespace, metric, dims LIMIT $1",
        &[&lim(limit)],
        |r| {
            Ok(MetricSeries {
                account: r.try_get(0)?,
                region: r.try_get(1)?,
                namespace: r.try_get(2)?,
                metric: r.try_get(3)?,
                dims: r.try_get(4)?,
            })
        },
    )
}

pub(super) fn metric_series(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    namespace: Option<&str>,
    after: Option<&MetricSeries>,
    limit: usize,
) -> Result<Vec<MetricSeries>, StoreError> {
    let (a_ns, a_metric, a_dims) = match after {
        Some(s) => (s.namespace.as_str(), s.metric.as_str(), s.dims.as_str()),
        None => ("", "", ""),
    };
    rows(
        t,
        "SELECT namespace, metric, dims FROM metric_series WHERE account = $1 AND region = $2 \
         AND ($3::text IS NULL OR namespace = $3) AND (namespace, metric, dims) > ($4, $5, $6) \
         ORDER BY namespace, metric, dims LIMIT $7",
        &[&account, &region, &namespace, &a_ns, &a_metric, &a_dims, &lim(limit)],
        |r| {
            Ok(MetricSeries {
                account: account.to_owned(),
                region: region.to_owned(),
                namespace: r.try_get(0)?,
                metric: r.try_get(1)?,
                dims: r.try_get(2)?,
            })
        },
    )
}

pub(super) fn has_metric_series(t: &mut Transaction<'_>, s: &MetricSeries) -> Result<bool, StoreError> {
    Ok(opt(
        t,
        "SELECT 1 FROM metric_series \
         WHERE account = $1 AND region = $2 AND namespace = $3 AND metric = $4 AND dims = $5",
        &[&s.account, &s.region, &s.namespace, &s.metric, &s.dims],
        |_| Ok(()),
    )?
    .is_some())
}

pub(super) fn metric_series_count(t: &mut Transaction<'_>) -> Result<u64, StoreError> {
    count(t, "SELECT count(*) FROM metric_series", &[])
}

pub(super) fn put_metric_point(
    t: &mut Transaction<'_>,
    series: &MetricSeries,
    point: &MetricPoint,
) -> Result<(), StoreError> {
    let s = series;
    exec(
        t,
        "INSERT INTO metric_series (account, region, namespace, metric, dims) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT DO NOTHING",
        &[&s.account, &s.region, &s.namespace, &s.metric, &s.dims],
    )?;
    write_metric_point(t, "metric_points", series, point)
}

pub(super) fn put_metric_point_hr(
    t: &mut Transaction<'_>,
    series: &MetricSeries,
    point: &MetricPoint,
) -> Result<(), StoreError> {
    write_metric_point(t, "metric_points_hr", series, point)
}

pub(super) fn delete_metric_points_hr_before(t: &mut Transaction<'_>, before_ms: i64) -> Result<u64, StoreError> {
    exec(t, "DELETE FROM metric_points_hr WHERE start_ms < $1", &[&before_ms])
}

pub(super) fn delete_metric_points_before(t: &mut Transaction<'_>, before_ms: i64) -> Result<u64, StoreError> {
    let n = exec(t, "DELETE FROM metric_points WHERE start_ms < $1", &[&before_ms])?;
    if n > 0 {
        exec(
            t,
            "DELETE FROM metric_series s WHERE NOT EXISTS (SELECT 1 FROM metric_points p \
             WHERE p.account = s.account AND p.region = s.region AND p.namespace = s.namespace \
             AND p.metric = s.metric AND p.dims = s.dims)",
            &[],
        )?;
    }
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// Alarms.

const ALARM_COLUMNS: &str = "account, region, name, config, config_updated_ms, actions_enabled, state, reason, \
     reason_data, state_updated_ms, state_transitioned_ms, next_eval_ms";

fn alarm_of(r: &postgres::Row) -> Result<AlarmRecord, postgres::Error> {
    Ok(AlarmRecord {
        account: r.try_get(0)?,
        region: r.try_get(1)?,
        name: r.try_get(2)?,
        config: r.try_get(3)?,
        config_updated_ms: r.try_get(4)?,
        actions_enabled: r.try_get(5)?,
        state: r.try_get(6)?,
        reason: r.try_get(7)?,
        reason_data: r.try_get(8)?,
        state_updated_ms: r.try_get(9)?,
        state_transitioned_ms: r.try_get(10)?,
        next_eval_ms: r.try_get(11)?,
    })
}

pub(super) fn alarm(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    name: &str,
) -> Result<Option<AlarmRecord>, StoreError> {
    opt(
        t,
        &format!("SELECT {ALARM_COLUMNS} FROM alarms WHERE account = $1 AND region = $2 AND name = $3"),
        &[&account, &region, &name],
        alarm_of,
    )
}

pub(super) fn alarms(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<AlarmRecord>, StoreError> {
    rows(
        t,
        &format!(
            "SELECT {ALARM_COLUMNS} FROM alarms WHERE account = $1 AND region = $2 AND name > $3 \
             ORDER BY name LIMIT $4"
        ),
        &[&account, &region, &after.unwrap_or(""), &lim(limit)],
        alarm_of,
    )
}

pub(super) fn alarm_count(t: &mut Transaction<'_>, account: &str, region: &str) -> Result<u64, StoreError> {
    count(t, "SELECT count(*) FROM alarms WHERE account = $1 AND region = $2", &[&account, &region])
}

pub(super) fn alarms_due(t: &mut Transaction<'_>, now_ms: i64, limit: usize) -> Result<Vec<AlarmRecord>, StoreError> {
    rows(
        t,
        &format!(
            "SELECT {ALARM_COLUMNS} FROM alarms WHERE next_eval_ms <= $1 \
             ORDER BY next_eval_ms, account, region, name LIMIT $2"
        ),
        &[&now_ms, &lim(limit)],
        alarm_of,
    )
}

pub(super) fn alarm_states(t: &mut Transaction<'_>, limit: usize) -> Result<Vec<AlarmStateRow>, StoreError> {
    rows(
        t,
        "SELECT account, region, name, state FROM alarms ORDER BY account, region, name LIMIT $1",
        &[&lim(limit)],
        |r| {
            Ok(AlarmStateRow {
                account: r.try_get(0)?,
                region: r.try_get(1)?,
                name: r.try_get(2)?,
                state: r.try_get(3)?,
            })
        },
    )
}

pub(super) fn next_alarm_due(t: &mut Transaction<'_>) -> Result<Option<i64>, StoreError> {
    min_ms(t, "SELECT min(next_eval_ms) FROM alarms")
}

pub(super) fn alarm_history(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    filter: &AlarmHistoryFilter,
    limit: usize,
) -> Result<Vec<AlarmHistoryRow>, StoreError> {
    let (cmp, order) = if filter.newest_first { ("<", "DESC") } else { (">", "ASC") };
    let after = filter.after_id.unwrap_or(if filter.newest_first { i64::MAX } else { i64::MIN });
    rows(
        t,
        &format!(
            "SELECT id, account, region, alarm_name, alarm_type, timestamp_ms, item_type, summary, data \
             FROM alarm_history WHERE account = $1 AND region = $2 \
             AND ($3::text IS NULL OR alarm_name = $3) AND ($4::text IS NULL OR item_type = $4) \
             AND timestamp_ms >= $5 AND timestamp_ms <= $6 AND id {cmp} $7 \
             ORDER BY timestamp_ms {order}, id {order} LIMIT $8"
        ),
        &[
            &account,
            &region,
            &filter.alarm_name,
            &filter.item_type,
            &filter.from_ms,
            &filter.to_ms,
            &after,
            &lim(limit),
        ],
        |r| {
            Ok(AlarmHistoryRow {
                id: r.try_get(0)?,
                account: r.try_get(1)?,
                region: r.try_get(2)?,
                alarm_name: r.try_get(3)?,
                alarm_type: r.try_get(4)?,
                timestamp_ms: r.try_get(5)?,
                item_type: r.try_get(6)?,
                summary: r.try_get(7)?,
                data: r.try_get(8)?,
            })
        },
    )
}

pub(super) fn alarm_tags(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    name: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    rows(
        t,
        "SELECT key, value FROM alarm_tags WHERE account = $1 AND region = $2 AND name = $3 ORDER BY key",
        &[&account, &region, &name],
        |r| Ok((r.try_get(0)?, r.try_get(1)?)),
    )
}

pub(super) fn put_alarm(t: &mut Transaction<'_>, a: &AlarmRecord) -> Result<(), StoreError> {
    exec(
        t,
        &format!(
            "INSERT INTO alarms ({ALARM_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (account, region, name) DO UPDATE SET config = excluded.config, \
             config_updated_ms = excluded.config_updated_ms, actions_enabled = excluded.actions_enabled, \
             state = excluded.state, reason = excluded.reason, reason_data = excluded.reason_data, \
             state_updated_ms = excluded.state_updated_ms, state_transitioned_ms = excluded.state_transitioned_ms, \
             next_eval_ms = excluded.next_eval_ms"
        ),
        &[
            &a.account,
            &a.region,
            &a.name,
            &a.config,
            &a.config_updated_ms,
            &a.actions_enabled,
            &a.state,
            &a.reason,
            &a.reason_data,
            &a.state_updated_ms,
            &a.state_transitioned_ms,
            &a.next_eval_ms,
        ],
    )?;
    Ok(())
}

pub(super) fn delete_alarm(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    name: &str,
) -> Result<bool, StoreError> {
    exec(t, "DELETE FROM alarm_tags WHERE account = $1 AND region = $2 AND name = $3", &[&account, &region, &name])?;
    let n =
        exec(t, "DELETE FROM alarms WHERE account = $1 AND region = $2 AND name = $3", &[&account, &region, &name])?;
    Ok(n > 0)
}

pub(super) fn set_alarm_due(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    name: &str,
    next_eval_ms: i64,
) -> Result<(), StoreError> {
    exec(
        t,
        "UPDATE alarms SET next_eval_ms = $4 WHERE account = $1 AND region = $2 AND name = $3",
        &[&account, &region, &name, &next_eval_ms],
    )?;
    Ok(())
}

pub(super) fn insert_alarm_history(t: &mut Transaction<'_>, h: &AlarmHistoryRow) -> Result<i64, StoreError> {
    t.query_one(
        "INSERT INTO alarm_history (account, region, alarm_name, alarm_type, timestamp_ms, item_type, summary, data) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        &[&h.account, &h.region, &h.alarm_name, &h.alarm_type, &h.timestamp_ms, &h.item_type, &h.summary, &h.data],
    )
    .map_err(db_err)?
    .try_get(0)
    .map_err(db_err)
}

pub(super) fn trim_alarm_history(
    t: &mut Transaction<'_>,
    before_ms: i64,
    keep_per_alarm: usize,
    keep_total: usize,
) -> Result<u64, StoreError> {
    let old = exec(t, "DELETE FROM alarm_history WHERE timestamp_ms < $1", &[&before_ms])?;
    let over = exec(
        t,
        "DELETE FROM alarm_history WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER \
         (PARTITION BY account, region, alarm_name ORDER BY id DESC) AS n FROM alarm_history) ranked WHERE n > $1)",
        &[&lim(keep_per_alarm)],
    )?;
    let beyond = exec(
        t,
        "DELETE FROM alarm_history WHERE id <= (SELECT id FROM alarm_history ORDER BY id DESC LIMIT 1 OFFSET $1)",
        &[&lim(keep_total)],
    )?;
    Ok(old + over + beyond)
}

pub(super) fn put_alarm_tags(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    name: &str,
    tags: &[(String, String)],
) -> Result<(), StoreError> {
    exec(t, "DELETE FROM alarm_tags WHERE account = $1 AND region = $2 AND name = $3", &[&account, &region, &name])?;
    for (k, v) in tags {
        exec(
            t,
            "INSERT INTO alarm_tags (account, region, name, key, value) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (account, region, name, key) DO UPDATE SET value = excluded.value",
            &[&account, &region, &name, k, v],
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Alias history.

pub(super) fn alias_history(
    t: &mut Transaction<'_>,
    id: FunctionId,
    alias: &str,
    before_id: Option<i64>,
    limit: usize,
) -> Result<Vec<AliasHistoryRow>, StoreError> {
    let raw = t
        .query(
            "SELECT id, account, region, function_name, time_ms, actor_kind, actor_id, operation, before, after, \
             revision_id FROM alias_history WHERE function_id = $1 AND alias = $2 AND id < $3 \
             ORDER BY id DESC LIMIT $4",
            &[&id.0, &alias, &before_id.unwrap_or(i64::MAX), &lim(limit)],
        )
        .map_err(db_err)?;
    raw.iter()
        .map(|r| {
            let account: String = r.try_get(1).map_err(db_err)?;
            let region: String = r.try_get(2).map_err(db_err)?;
            let before: Option<String> = r.try_get(8).map_err(db_err)?;
            let after: Option<String> = r.try_get(9).map_err(db_err)?;
            Ok(AliasHistoryRow {
                id: r.try_get(0).map_err(db_err)?,
                function_id: id,
                scope: scope_of(&account, &region)?,
                function_name: r.try_get(3).map_err(db_err)?,
                alias: alias.to_owned(),
                time_ms: r.try_get(4).map_err(db_err)?,
                actor_kind: r.try_get(5).map_err(db_err)?,
                actor_id: r.try_get(6).map_err(db_err)?,
                operation: r.try_get(7).map_err(db_err)?,
                before: before.as_deref().map(codec::decode_alias_target).transpose()?,
                after: after.as_deref().map(codec::decode_alias_target).transpose()?,
                revision_id: r.try_get(10).map_err(db_err)?,
            })
        })
        .collect()
}

pub(super) fn insert_alias_history(
    t: &mut Transaction<'_>,
    h: &AliasHistoryRow,
    keep_per_alias: usize,
    keep_total: usize,
) -> Result<i64, StoreError> {
    let id: i64 = t
        .query_one(
            "INSERT INTO alias_history (function_id, account, region, function_name, alias, time_ms, actor_kind, \
             actor_id, operation, before, after, revision_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            &[
                &h.function_id.0,
                &h.scope.account.as_str(),
                &h.scope.region.as_str(),
                &h.function_name,
                &h.alias,
                &h.time_ms,
                &h.actor_kind,
                &h.actor_id,
                &h.operation,
                &h.before.as_ref().map(codec::encode_alias_target),
                &h.after.as_ref().map(codec::encode_alias_target),
                &h.revision_id,
            ],
        )
        .map_err(db_err)?
        .try_get(0)
        .map_err(db_err)?;
    // As on SQLite: the alias's trim walks its index from the newest row; the total one compares
    // ids with the newest.
    exec(
        t,
        "DELETE FROM alias_history WHERE function_id = $1 AND alias = $2 AND id <= (SELECT id FROM alias_history \
         WHERE function_id = $1 AND alias = $2 ORDER BY id DESC LIMIT 1 OFFSET $3)",
        &[&h.function_id.0, &h.alias, &lim(keep_per_alias)],
    )?;
    exec(t, "DELETE FROM alias_history WHERE id <= $1::bigint - $2::bigint", &[&id, &lim(keep_total)])?;
    Ok(id)
}

// ---------------------------------------------------------------------------------------------
// CodeDeploy.

const CD_DEPLOYMENT_COLUMNS: &str =
    "id, account, region, application, deployment_group, active, next_due_ms, create_ms, doc";

fn cd_deployment_of(r: &postgres::Row) -> Result<CdDeploymentRow, postgres::Error> {
    Ok(CdDeploymentRow {
        id: r.try_get(0)?,
        account: r.try_get(1)?,
        region: r.try_get(2)?,
        application: r.try_get(3)?,
        group: r.try_get(4)?,
        active: r.try_get(5)?,
        next_due_ms: r.try_get(6)?,
        create_ms: r.try_get(7)?,
        doc: r.try_get(8)?,
    })
}

pub(super) fn cd_object(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    kind: &str,
    name: &str,
) -> Result<Option<String>, StoreError> {
    opt(
        t,
        "SELECT doc FROM cd_objects WHERE account = $1 AND region = $2 AND kind = $3 AND name = $4",
        &[&account, &region, &kind, &name],
        |r| r.try_get(0),
    )
}

pub(super) fn cd_objects(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    kind: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    rows(
        t,
        "SELECT name, doc FROM cd_objects WHERE account = $1 AND region = $2 AND kind = $3 ORDER BY name",
        &[&account, &region, &kind],
        |r| Ok((r.try_get(0)?, r.try_get(1)?)),
    )
}

pub(super) fn cd_deployment(t: &mut Transaction<'_>, id: &str) -> Result<Option<CdDeploymentRow>, StoreError> {
    opt(t, &format!("SELECT {CD_DEPLOYMENT_COLUMNS} FROM cd_deployments WHERE id = $1"), &[&id], cd_deployment_of)
}

pub(super) fn cd_deployments_page(
    t: &mut Transaction<'_>,
    q: &CdDeploymentQuery,
) -> Result<Vec<CdDeploymentRow>, StoreError> {
    let (before_ms, before_id) = q.before.clone().unzip();
    rows(
        t,
        &format!(
            "SELECT {CD_DEPLOYMENT_COLUMNS} FROM cd_deployments WHERE account = $1 AND region = $2 \
             AND ($3::text IS NULL OR application = $3) AND ($4::text IS NULL OR deployment_group = $4) \
             AND (cardinality($5::text[]) = 0 OR (doc::jsonb ->> 'status') = ANY($5)) \
             AND ($6::bigint IS NULL OR create_ms >= $6) AND ($7::bigint IS NULL OR create_ms <= $7) \
             AND ($8::bigint IS NULL OR create_ms < $8 OR (create_ms = $8 AND id < $9)) \
             AND ($11::text IS NULL OR (doc::jsonb ->> 'sha256') = $11) \
             ORDER BY create_ms DESC, id DESC LIMIT $10"
        ),
        &[
            &q.account,
            &q.region,
            &q.application,
            &q.group,
            &q.statuses,
            &q.created_from_ms,
            &q.created_to_ms,
            &before_ms,
            &before_id,
            &lim(q.limit),
            &q.sha256,
        ],
        cd_deployment_of,
    )
}

pub(super) fn cd_active_deployments(t: &mut Transaction<'_>, limit: usize) -> Result<Vec<CdDeploymentRow>, StoreError> {
    rows(
        t,
        &format!(
            "SELECT {CD_DEPLOYMENT_COLUMNS} FROM cd_deployments WHERE active \
             ORDER BY next_due_ms NULLS FIRST, create_ms, id LIMIT $1"
        ),
        &[&lim(limit)],
        cd_deployment_of,
    )
}

pub(super) fn cd_group_active(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    application: &str,
    group: &str,
) -> Result<Option<CdDeploymentRow>, StoreError> {
    opt(
        t,
        &format!(
            "SELECT {CD_DEPLOYMENT_COLUMNS} FROM cd_deployments WHERE account = $1 AND region = $2 \
             AND application = $3 AND deployment_group = $4 AND active"
        ),
        &[&account, &region, &application, &group],
        cd_deployment_of,
    )
}

pub(super) fn cd_group_latest(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    application: &str,
    group: &str,
    status: Option<&str>,
) -> Result<Option<CdDeploymentRow>, StoreError> {
    opt(
        t,
        &format!(
            "SELECT {CD_DEPLOYMENT_COLUMNS} FROM cd_deployments WHERE account = $1 AND region = $2 \
             AND application = $3 AND deployment_group = $4 \
             AND ($5::text IS NULL OR (doc::jsonb ->> 'status') = $5) \
             ORDER BY create_ms DESC, id DESC LIMIT 1"
        ),
        &[&account, &region, &application, &group, &status],
        cd_deployment_of,
    )
}

pub(super) fn cd_deployments_shown(
    t: &mut Transaction<'_>,
    since_ms: i64,
    limit: usize,
) -> Result<Vec<CdDeploymentRow>, StoreError> {
    rows(
        t,
        &format!(
            "SELECT {CD_DEPLOYMENT_COLUMNS} FROM cd_deployments WHERE active \
             UNION SELECT {CD_DEPLOYMENT_COLUMNS} FROM cd_deployments WHERE create_ms >= $1 \
             ORDER BY active DESC, create_ms DESC, id DESC LIMIT $2"
        ),
        &[&since_ms, &lim(limit)],
        cd_deployment_of,
    )
}

pub(super) fn cd_tags(t: &mut Transaction<'_>, arn: &str) -> Result<Vec<(String, String)>, StoreError> {
    rows(t, "SELECT key, value FROM cd_tags WHERE arn = $1 ORDER BY key", &[&arn], |r| {
        Ok((r.try_get(0)?, r.try_get(1)?))
    })
}

pub(super) fn put_cd_object(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    kind: &str,
    name: &str,
    doc: &str,
) -> Result<(), StoreError> {
    exec(
        t,
        "INSERT INTO cd_objects (account, region, kind, name, doc) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (account, region, kind, name) DO UPDATE SET doc = excluded.doc",
        &[&account, &region, &kind, &name, &doc],
    )?;
    Ok(())
}

pub(super) fn delete_cd_object(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    kind: &str,
    name: &str,
) -> Result<bool, StoreError> {
    let n = exec(
        t,
        "DELETE FROM cd_objects WHERE account = $1 AND region = $2 AND kind = $3 AND name = $4",
        &[&account, &region, &kind, &name],
    )?;
    Ok(n > 0)
}

pub(super) fn put_cd_deployment(t: &mut Transaction<'_>, d: &CdDeploymentRow) -> Result<(), StoreError> {
    // An upsert by id only: a second active deployment of a group violates the one-active index.
    exec(
        t,
        &format!(
            "INSERT INTO cd_deployments ({CD_DEPLOYMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO UPDATE SET account = excluded.account, region = excluded.region, \
             application = excluded.application, deployment_group = excluded.deployment_group, \
             active = excluded.active, next_due_ms = excluded.next_due_ms, create_ms = excluded.create_ms, \
             doc = excluded.doc"
        ),
        &[&d.id, &d.account, &d.region, &d.application, &d.group, &d.active, &d.next_due_ms, &d.create_ms, &d.doc],
    )?;
    Ok(())
}

pub(super) fn trim_cd_deployments(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    application: &str,
    group: &str,
    keep: usize,
) -> Result<usize, StoreError> {
    let n = exec(
        t,
        "DELETE FROM cd_deployments WHERE NOT active AND id IN (SELECT id FROM cd_deployments \
         WHERE account = $1 AND region = $2 AND application = $3 AND deployment_group = $4 \
         ORDER BY create_ms DESC, id DESC OFFSET $5)",
        &[&account, &region, &application, &group, &lim(keep)],
    )?;
    Ok(n as usize)
}

pub(super) fn put_cd_tags(t: &mut Transaction<'_>, arn: &str, tags: &[(String, String)]) -> Result<(), StoreError> {
    exec(t, "DELETE FROM cd_tags WHERE arn = $1", &[&arn])?;
    for (k, v) in tags {
        exec(
            t,
            "INSERT INTO cd_tags (arn, key, value) VALUES ($1, $2, $3) \
             ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value",
            &[&arn, k, v],
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// EventBridge rules and Scheduler schedules.

const SCHEDULE_COLUMNS: &str = "account, region, kind, name, doc, next_due_ms";

fn schedule_of(r: &postgres::Row) -> Result<ScheduleRow, postgres::Error> {
    Ok(ScheduleRow {
        account: r.try_get(0)?,
        region: r.try_get(1)?,
        kind: r.try_get(2)?,
        name: r.try_get(3)?,
        doc: r.try_get(4)?,
        next_due_ms: r.try_get(5)?,
    })
}

pub(super) fn schedule_row(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    kind: &str,
    name: &str,
) -> Result<Option<ScheduleRow>, StoreError> {
    opt(
        t,
        &format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE account = $1 AND region = $2 AND kind = $3 AND name = $4"
        ),
        &[&account, &region, &kind, &name],
        schedule_of,
    )
}

pub(super) fn schedule_rows(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    kind: &str,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<ScheduleRow>, StoreError> {
    rows(
        t,
        &format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE account = $1 AND region = $2 AND kind = $3 \
             AND starts_with(name, $4) AND ($5::text IS NULL OR name > $5) ORDER BY name LIMIT $6"
        ),
        &[&account, &region, &kind, &prefix, &after, &lim(limit)],
        schedule_of,
    )
}

pub(super) fn schedule_count(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    kind: &str,
) -> Result<u64, StoreError> {
    count(
        t,
        "SELECT count(*) FROM schedules WHERE account = $1 AND region = $2 AND kind = $3",
        &[&account, &region, &kind],
    )
}

pub(super) fn schedules_due(
    t: &mut Transaction<'_>,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<ScheduleRow>, StoreError> {
    rows(
        t,
        &format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE next_due_ms IS NOT NULL AND next_due_ms <= $1 \
             ORDER BY next_due_ms, account, region, kind, name LIMIT $2"
        ),
        &[&now_ms, &lim(limit)],
        schedule_of,
    )
}

pub(super) fn next_schedule_due(t: &mut Transaction<'_>) -> Result<Option<i64>, StoreError> {
    min_ms(t, "SELECT min(next_due_ms) FROM schedules")
}

pub(super) fn put_schedule_row(t: &mut Transaction<'_>, row: &ScheduleRow) -> Result<(), StoreError> {
    exec(
        t,
        &format!(
            "INSERT INTO schedules ({SCHEDULE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (account, region, kind, name) DO UPDATE SET doc = excluded.doc, \
             next_due_ms = excluded.next_due_ms"
        ),
        &[&row.account, &row.region, &row.kind, &row.name, &row.doc, &row.next_due_ms],
    )?;
    Ok(())
}

pub(super) fn delete_schedule_row(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    kind: &str,
    name: &str,
) -> Result<bool, StoreError> {
    let n = exec(
        t,
        "DELETE FROM schedules WHERE account = $1 AND region = $2 AND kind = $3 AND name = $4",
        &[&account, &region, &kind, &name],
    )?;
    Ok(n > 0)
}

/// A compare-and-set: under READ COMMITTED a second node's UPDATE waits for the first one's
/// commit, re-reads the row, no longer matches `from_ms`, and reports `false`.
pub(super) fn advance_schedule_due(
    t: &mut Transaction<'_>,
    row: &ScheduleRow,
    from_ms: i64,
    to_ms: Option<i64>,
) -> Result<bool, StoreError> {
    let n = exec(
        t,
        "UPDATE schedules SET next_due_ms = $6 WHERE account = $1 AND region = $2 AND kind = $3 \
         AND name = $4 AND next_due_ms = $5",
        &[&row.account, &row.region, &row.kind, &row.name, &from_ms, &to_ms],
    )?;
    Ok(n > 0)
}

// ---------------------------------------------------------------------------------------------
// SQS.

const QUEUE_COLUMNS: &str = "id, account, region, name, created_ms, doc, messages, bytes";

fn queue_of(r: &postgres::Row) -> Result<SqsQueueRow, postgres::Error> {
    Ok(SqsQueueRow {
        id: r.try_get(0)?,
        account: r.try_get(1)?,
        region: r.try_get(2)?,
        name: r.try_get(3)?,
        created_ms: r.try_get(4)?,
        doc: r.try_get(5)?,
        messages: u64_of(r, 6)?,
        bytes: u64_of(r, 7)?,
    })
}

const MESSAGE_COLUMNS: &str = "seq, queue_id, message_id, body, attrs, md5_body, md5_attrs, sent_ms, visible_ms, \
     expires_ms, receive_count, first_receive_ms, receipt, group_id, dedup_id, size";

fn message_of(r: &postgres::Row) -> Result<SqsMessageRow, postgres::Error> {
    Ok(SqsMessageRow {
        seq: r.try_get(0)?,
        queue_id: r.try_get(1)?,
        message_id: r.try_get(2)?,
        body: r.try_get(3)?,
        attrs: r.try_get(4)?,
        md5_body: r.try_get(5)?,
        md5_attrs: r.try_get(6)?,
        sent_ms: r.try_get(7)?,
        visible_ms: r.try_get(8)?,
        expires_ms: r.try_get(9)?,
        receive_count: r.try_get::<_, i64>(10)? as u32,
        first_receive_ms: r.try_get(11)?,
        receipt: r.try_get(12)?,
        group_id: r.try_get(13)?,
        dedup_id: r.try_get(14)?,
        size: u64_of(r, 15)?,
    })
}

/// Serialises the message writes of one queue until the transaction ends (see the module doc).
fn lock_queue(t: &mut Transaction<'_>, queue_id: i64) -> Result<(), StoreError> {
    let key = (queue_id & i64::from(i32::MAX)) as i32;
    exec(t, "SELECT pg_advisory_xact_lock($1, $2)", &[&SQS_QUEUE_LOCK_CLASS, &key])?;
    Ok(())
}

fn add_counts(t: &mut Transaction<'_>, queue_id: i64, messages: i64, bytes: i64) -> Result<(), StoreError> {
    exec(
        t,
        "UPDATE sqs_queues SET messages = messages + $2, bytes = bytes + $3 WHERE id = $1",
        &[&queue_id, &messages, &bytes],
    )?;
    Ok(())
}

pub(super) fn sqs_queue(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    name: &str,
) -> Result<Option<SqsQueueRow>, StoreError> {
    opt(
        t,
        &format!("SELECT {QUEUE_COLUMNS} FROM sqs_queues WHERE account = $1 AND region = $2 AND name = $3"),
        &[&account, &region, &name],
        queue_of,
    )
}

pub(super) fn sqs_queue_by_id(t: &mut Transaction<'_>, id: i64) -> Result<Option<SqsQueueRow>, StoreError> {
    opt(t, &format!("SELECT {QUEUE_COLUMNS} FROM sqs_queues WHERE id = $1"), &[&id], queue_of)
}

pub(super) fn sqs_queues(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<SqsQueueRow>, StoreError> {
    rows(
        t,
        &format!(
            "SELECT {QUEUE_COLUMNS} FROM sqs_queues WHERE account = $1 AND region = $2 AND name > $3 \
             AND starts_with(name, $4) ORDER BY name LIMIT $5"
        ),
        &[&account, &region, &after.unwrap_or(""), &prefix, &lim(limit)],
        queue_of,
    )
}

pub(super) fn sqs_queue_count(t: &mut Transaction<'_>, account: &str, region: &str) -> Result<u64, StoreError> {
    count(t, "SELECT count(*) FROM sqs_queues WHERE account = $1 AND region = $2", &[&account, &region])
}

pub(super) fn sqs_message(t: &mut Transaction<'_>, seq: i64) -> Result<Option<SqsMessageRow>, StoreError> {
    opt(t, &format!("SELECT {MESSAGE_COLUMNS} FROM sqs_messages WHERE seq = $1"), &[&seq], message_of)
}

pub(super) fn sqs_candidates(
    t: &mut Transaction<'_>,
    queue_id: i64,
    now_ms: i64,
    fifo: bool,
    limit: usize,
) -> Result<Vec<SqsMessageRow>, StoreError> {
    lock_queue(t, queue_id)?;
    // FIFO: in sending order, skipping every group with a message in flight (one in-flight
    // batch per group). Standard: whatever became visible first.
    let sql = if fifo {
        format!(
            "SELECT {MESSAGE_COLUMNS} FROM sqs_messages m WHERE m.queue_id = $1 AND m.visible_ms <= $2 \
             AND m.expires_ms > $2 AND NOT EXISTS (SELECT 1 FROM sqs_messages o WHERE o.queue_id = $1 \
             AND o.group_id = m.group_id AND o.visible_ms > $2 AND o.receive_count > 0) ORDER BY m.seq LIMIT $3"
        )
    } else {
        format!(
            "SELECT {MESSAGE_COLUMNS} FROM sqs_messages WHERE queue_id = $1 AND visible_ms <= $2 \
             AND expires_ms > $2 ORDER BY visible_ms, seq LIMIT $3"
        )
    };
    rows(t, &sql, &[&queue_id, &now_ms, &lim(limit)], message_of)
}

pub(super) fn sqs_next_visible(t: &mut Transaction<'_>, queue_id: i64, now_ms: i64) -> Result<Option<i64>, StoreError> {
    t.query_one(
        "SELECT min(visible_ms) FROM sqs_messages WHERE queue_id = $1 AND visible_ms > $2",
        &[&queue_id, &now_ms],
    )
    .map_err(db_err)?
    .try_get(0)
    .map_err(db_err)
}

pub(super) fn sqs_counts(t: &mut Transaction<'_>, queue_id: i64, now_ms: i64) -> Result<SqsCounts, StoreError> {
    let r = t
        .query_one(
            "SELECT count(*) FILTER (WHERE visible_ms <= $2), \
             count(*) FILTER (WHERE visible_ms > $2 AND receive_count > 0), \
             count(*) FILTER (WHERE visible_ms > $2 AND receive_count = 0) FROM sqs_messages WHERE queue_id = $1",
            &[&queue_id, &now_ms],
        )
        .map_err(db_err)?;
    Ok(SqsCounts {
        visible: u64_of(&r, 0).map_err(db_err)?,
        in_flight: u64_of(&r, 1).map_err(db_err)?,
        delayed: u64_of(&r, 2).map_err(db_err)?,
    })
}

pub(super) fn sqs_dedup(
    t: &mut Transaction<'_>,
    queue_id: i64,
    key: &str,
    now_ms: i64,
) -> Result<Option<(String, i64)>, StoreError> {
    lock_queue(t, queue_id)?;
    opt(
        t,
        "SELECT message_id, seq FROM sqs_dedup WHERE queue_id = $1 AND key = $2 AND expires_ms > $3",
        &[&queue_id, &key, &now_ms],
        |r| Ok((r.try_get(0)?, r.try_get(1)?)),
    )
}

pub(super) fn sqs_insert_queue(t: &mut Transaction<'_>, q: &SqsQueueRow) -> Result<i64, StoreError> {
    t.query_one(
        "INSERT INTO sqs_queues (account, region, name, created_ms, doc) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        &[&q.account, &q.region, &q.name, &q.created_ms, &q.doc],
    )
    .map_err(db_err)?
    .try_get(0)
    .map_err(db_err)
}

pub(super) fn sqs_update_queue(t: &mut Transaction<'_>, id: i64, doc: &str) -> Result<(), StoreError> {
    exec(t, "UPDATE sqs_queues SET doc = $2 WHERE id = $1", &[&id, &doc])?;
    Ok(())
}

pub(super) fn sqs_delete_queue(t: &mut Transaction<'_>, id: i64) -> Result<bool, StoreError> {
    lock_queue(t, id)?;
    Ok(exec(t, "DELETE FROM sqs_queues WHERE id = $1", &[&id])? > 0)
}

pub(super) fn sqs_insert_message(t: &mut Transaction<'_>, m: &SqsMessageRow) -> Result<i64, StoreError> {
    // The queue's lock first: its sequence numbers then commit in the order they are drawn.
    lock_queue(t, m.queue_id)?;
    add_counts(t, m.queue_id, 1, m.size as i64)?;
    t.query_one(
        "INSERT INTO sqs_messages (queue_id, message_id, body, attrs, md5_body, md5_attrs, sent_ms, visible_ms, \
         expires_ms, receive_count, first_receive_ms, receipt, group_id, dedup_id, size) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING seq",
        &[
            &m.queue_id,
            &m.message_id,
            &m.body,
            &m.attrs,
            &m.md5_body,
            &m.md5_attrs,
            &m.sent_ms,
            &m.visible_ms,
            &m.expires_ms,
            &i64::from(m.receive_count),
            &m.first_receive_ms,
            &m.receipt,
            &m.group_id,
            &m.dedup_id,
            &(m.size as i64),
        ],
    )
    .map_err(db_err)?
    .try_get(0)
    .map_err(db_err)
}

pub(super) fn sqs_update_message(t: &mut Transaction<'_>, m: &SqsMessageRow) -> Result<(), StoreError> {
    lock_queue(t, m.queue_id)?;
    exec(
        t,
        "UPDATE sqs_messages SET visible_ms = $2, receive_count = $3, first_receive_ms = $4, receipt = $5, \
         attrs = $6 WHERE seq = $1",
        &[&m.seq, &m.visible_ms, &i64::from(m.receive_count), &m.first_receive_ms, &m.receipt, &m.attrs],
    )?;
    Ok(())
}

/// The queue a message is in, with that queue locked; `None` when the message is gone.
fn lock_message_queue(t: &mut Transaction<'_>, seq: i64) -> Result<Option<i64>, StoreError> {
    let Some(queue_id) = opt(t, "SELECT queue_id FROM sqs_messages WHERE seq = $1", &[&seq], |r| r.try_get(0))? else {
        return Ok(None);
    };
    lock_queue(t, queue_id)?;
    Ok(Some(queue_id))
}

pub(super) fn sqs_delete_message(t: &mut Transaction<'_>, seq: i64) -> Result<bool, StoreError> {
    for _ in 0..SQS_MOVED_RETRIES {
        let Some(queue_id) = lock_message_queue(t, seq)? else { return Ok(false) };
        let gone = opt(
            t,
            "DELETE FROM sqs_messages WHERE seq = $1 AND queue_id = $2 RETURNING size",
            &[&seq, &queue_id],
            |r| r.try_get::<_, i64>(0),
        )?;
        if let Some(size) = gone {
            add_counts(t, queue_id, -1, -size)?;
            return Ok(true);
        }
    }
    Err(StoreError::Database(format!("SQS message {seq} keeps moving between queues")))
}

pub(super) fn sqs_move_message(
    t: &mut Transaction<'_>,
    seq: i64,
    to_queue: i64,
    visible_ms: i64,
) -> Result<(), StoreError> {
    for _ in 0..SQS_MOVED_RETRIES {
        let Some(queue_id) = lock_message_queue(t, seq)? else { return Ok(()) };
        let moved = opt(
            t,
            "UPDATE sqs_messages SET queue_id = $3, visible_ms = $4, receipt = NULL \
             WHERE seq = $1 AND queue_id = $2 RETURNING size",
            &[&seq, &queue_id, &to_queue, &visible_ms],
            |r| r.try_get::<_, i64>(0),
        )?;
        if let Some(size) = moved {
            add_counts(t, queue_id, -1, -size)?;
            return add_counts(t, to_queue, 1, size);
        }
    }
    Err(StoreError::Database(format!("SQS message {seq} keeps moving between queues")))
}

pub(super) fn sqs_purge(t: &mut Transaction<'_>, queue_id: i64) -> Result<u64, StoreError> {
    lock_queue(t, queue_id)?;
    let n = exec(t, "DELETE FROM sqs_messages WHERE queue_id = $1", &[&queue_id])?;
    exec(t, "UPDATE sqs_queues SET messages = 0, bytes = 0 WHERE id = $1", &[&queue_id])?;
    Ok(n)
}

pub(super) fn sqs_put_dedup(
    t: &mut Transaction<'_>,
    queue_id: i64,
    key: &str,
    message_id: &str,
    seq: i64,
    expires_ms: i64,
) -> Result<(), StoreError> {
    exec(
        t,
        "INSERT INTO sqs_dedup (queue_id, key, message_id, seq, expires_ms) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (queue_id, key) DO UPDATE SET message_id = excluded.message_id, seq = excluded.seq, \
         expires_ms = excluded.expires_ms",
        &[&queue_id, &key, &message_id, &seq, &expires_ms],
    )?;
    Ok(())
}

pub(super) fn sqs_expire(t: &mut Transaction<'_>, now_ms: i64, limit: usize) -> Result<u64, StoreError> {
    let seqs = rows(
        t,
        "SELECT seq FROM sqs_messages WHERE expires_ms <= $1 ORDER BY expires_ms, seq LIMIT $2",
        &[&now_ms, &lim(limit)],
        |r| r.try_get::<_, i64>(0),
    )?;
    let mut gone = 0;
    for seq in seqs {
        // Received or deleted meanwhile, a message counts only if this call deleted it.
        if sqs_delete_message(t, seq)? {
            gone += 1;
        }
    }
    exec(
        t,
        "DELETE FROM sqs_dedup WHERE (queue_id, key) IN \
         (SELECT queue_id, key FROM sqs_dedup WHERE expires_ms <= $1 LIMIT $2)",
        &[&now_ms, &lim(limit)],
    )?;
    Ok(gone)
}

// ---------------------------------------------------------------------------------------------
// API Gateway.

fn apigw_of(r: &postgres::Row) -> Result<ApigwRow, postgres::Error> {
    Ok(ApigwRow {
        id: r.try_get(0)?,
        account: r.try_get(1)?,
        region: r.try_get(2)?,
        kind: r.try_get(3)?,
        doc: r.try_get(4)?,
    })
}

pub(super) fn apigw_api(t: &mut Transaction<'_>, id: &str) -> Result<Option<ApigwRow>, StoreError> {
    opt(t, "SELECT id, account, region, kind, doc FROM apigw_apis WHERE id = $1", &[&id], apigw_of)
}

pub(super) fn apigw_apis(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    kind: &str,
    limit: usize,
) -> Result<Vec<ApigwRow>, StoreError> {
    rows(
        t,
        "SELECT id, account, region, kind, doc FROM apigw_apis \
         WHERE account = $1 AND region = $2 AND kind = $3 ORDER BY id LIMIT $4",
        &[&account, &region, &kind, &lim(limit)],
        apigw_of,
    )
}

pub(super) fn put_apigw_api(t: &mut Transaction<'_>, api: &ApigwRow) -> Result<(), StoreError> {
    exec(
        t,
        "INSERT INTO apigw_apis (id, account, region, kind, doc) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET account = excluded.account, region = excluded.region, \
         kind = excluded.kind, doc = excluded.doc",
        &[&api.id, &api.account, &api.region, &api.kind, &api.doc],
    )?;
    Ok(())
}

pub(super) fn delete_apigw_api(t: &mut Transaction<'_>, id: &str) -> Result<bool, StoreError> {
    Ok(exec(t, "DELETE FROM apigw_apis WHERE id = $1", &[&id])? > 0)
}

// ---------------------------------------------------------------------------------------------
// Event source mappings.

fn esm_of(r: &postgres::Row) -> Result<EsmRow, postgres::Error> {
    Ok(EsmRow {
        uuid: r.try_get(0)?,
        account: r.try_get(1)?,
        region: r.try_get(2)?,
        source_arn: r.try_get(3)?,
        function_arn: r.try_get(4)?,
        doc: r.try_get(5)?,
    })
}

pub(super) fn esm(t: &mut Transaction<'_>, uuid: &str) -> Result<Option<EsmRow>, StoreError> {
    opt(
        t,
        "SELECT uuid, account, region, source_arn, function_arn, doc FROM esm_mappings WHERE uuid = $1",
        &[&uuid],
        esm_of,
    )
}

pub(super) fn esms(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    limit: usize,
) -> Result<Vec<EsmRow>, StoreError> {
    rows(
        t,
        "SELECT uuid, account, region, source_arn, function_arn, doc FROM esm_mappings \
         WHERE account = $1 AND region = $2 ORDER BY uuid LIMIT $3",
        &[&account, &region, &lim(limit)],
        esm_of,
    )
}

pub(super) fn all_esms(t: &mut Transaction<'_>, limit: usize) -> Result<Vec<EsmRow>, StoreError> {
    rows(
        t,
        "SELECT uuid, account, region, source_arn, function_arn, doc FROM esm_mappings ORDER BY uuid LIMIT $1",
        &[&lim(limit)],
        esm_of,
    )
}

pub(super) fn esm_checkpoints(t: &mut Transaction<'_>, uuid: &str) -> Result<Vec<(String, String)>, StoreError> {
    rows(t, "SELECT shard, sequence FROM esm_checkpoints WHERE uuid = $1 ORDER BY shard", &[&uuid], |r| {
        Ok((r.try_get(0)?, r.try_get(1)?))
    })
}

pub(super) fn put_esm(t: &mut Transaction<'_>, row: &EsmRow) -> Result<(), StoreError> {
    exec(
        t,
        "INSERT INTO esm_mappings (uuid, account, region, source_arn, function_arn, doc) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (uuid) DO UPDATE SET \
         source_arn = excluded.source_arn, function_arn = excluded.function_arn, doc = excluded.doc",
        &[&row.uuid, &row.account, &row.region, &row.source_arn, &row.function_arn, &row.doc],
    )?;
    Ok(())
}

pub(super) fn delete_esm(t: &mut Transaction<'_>, uuid: &str) -> Result<bool, StoreError> {
    exec(t, "DELETE FROM esm_checkpoints WHERE uuid = $1", &[&uuid])?;
    Ok(exec(t, "DELETE FROM esm_mappings WHERE uuid = $1", &[&uuid])? > 0)
}

/// The mapping row is share-locked, so a concurrent delete either commits first (nothing is
/// written) or waits for this transaction (and then takes the checkpoint along).
pub(super) fn put_esm_checkpoint(
    t: &mut Transaction<'_>,
    uuid: &str,
    shard: &str,
    sequence: &str,
) -> Result<(), StoreError> {
    exec(
        t,
        "INSERT INTO esm_checkpoints (uuid, shard, sequence) \
         SELECT $1::text, $2::text, $3::text WHERE EXISTS \
         (SELECT 1 FROM esm_mappings WHERE uuid = $1::text FOR KEY SHARE) \
         ON CONFLICT (uuid, shard) DO UPDATE SET sequence = excluded.sequence",
        &[&uuid, &shard, &sequence],
    )?;
    Ok(())
}
