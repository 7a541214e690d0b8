//! Durable state of the control plane: functions (with `$LATEST`), published versions, aliases
//! and tags; metric aggregates; CloudWatch alarms and their history.
//!
//! Callers run their logic inside a transaction: [`Store::read`] and [`Store::write`] take a
//! closure over [`ReadTx`] / [`WriteTx`], the small set of row-level operations every backend
//! implements. Domain rules (preconditions, version numbering) live in the closures, in
//! `control`; the store only guarantees that each write closure runs atomically and in
//! isolation, and that its effects are durable when `write` returns `Ok`.
//!
//! **Seam:** [`Backend`] is what a backend implements: [`SqliteBackend`] (embedded, one data
//! dir) and [`PgBackend`] (PostgreSQL, shared by several nodes). `WriteTx::lock_function` is
//! `SELECT ... FOR UPDATE` on PostgreSQL; the embedded backend serialises all writes on one
//! thread, so it needs no row locks. A unique key someone else took first is
//! [`StoreError::Conflict`]; "now" of the event queue's leases is the database's clock.
//!
//! **Invariant:** SQL exists only in this crate.

mod allocations;
mod cluster;
mod code_blobs;
mod codec;
mod leases;
pub mod pg;
mod sqlite;
mod sqs;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use model::function::{
    Alias, EventInvokeConfig, Function, FunctionId, ProvisionedConfig, QueuedEvent, Sha256, VersionRecord,
};
use model::layer::{Layer, LayerId, LayerPolicy, LayerVersion};
use model::policy::{FunctionUrl, Policy};
use model::scope::Scope;
use tokio::sync::oneshot;

pub use crate::pg::{PgBackend, PgOptions};
pub use crate::sqlite::{SqliteBackend, SqliteOptions};
pub use crate::sqs::{SqsCounts, SqsMessageRow, SqsQueueRow};

#[derive(Debug, thiserror::Error, Clone)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error("the store is shut down, or could not run the transaction")]
    Closed,
    #[error("a store transaction panicked")]
    Panicked,
    /// A unique key is taken: someone (another node, or a concurrent transaction) created the
    /// same thing first. Control maps it to `ResourceConflictException`.
    #[error("already exists: {0}")]
    Conflict(String),
    /// The backend did not answer within its call bound ([`Backend::call_timeout`]): the
    /// database is unreachable or stuck. A write's outcome is unknown (it was not acknowledged).
    #[error("the database did not answer within {0:?}")]
    TimedOut(std::time::Duration),
}

/// An event claimed from the queue, with the token that proves the claim when it is finished
/// or rescheduled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedEvent {
    pub event: QueuedEvent,
    pub token: String,
}

/// How many events of each function one claim may take: a node sharing the queue with other
/// nodes claims no more of a function than it can start now (its ramp's room), and leaves the
/// rest due for the others (reference §2.3, "Fairness": `row_number() OVER (PARTITION BY
/// function_id)` in the claim). A node alone claims without it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerFunctionMax {
    /// Most events of a function not listed in `of`.
    pub default: usize,
    /// Most events of each listed function; 0 takes none of it.
    pub of: Vec<(FunctionId, usize)>,
}

/// Most due events (the earliest, those of functions capped at 0 skipped) a claim with a
/// [`PerFunctionMax`] ranks per function to choose from. Functions claimed up to their caps
/// are at 0 on the next claim, so the claims after look past them; the bound keeps one claim's
/// ranking (a sort of this many rows) cheap however long the queue is.
pub const CLAIM_SCAN_MAX: usize = 1024;

/// What a node writes into `nodes` on each heartbeat (migration 18).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeBeat {
    /// A new uuid per start: a restarted node inherits no claims.
    pub id: String,
    /// The operator's name for it (`--node-id`), shown in health.
    pub name: String,
    /// Where other nodes reach its API (`host:port`).
    pub addr: String,
    /// Most invocations it runs at once, and how many run now.
    pub capacity: u32,
    pub busy: u32,
}

/// One node's share of a provisioned-concurrency config (see `crates/cluster`'s planner), and
/// what that node last reported about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedAllocation {
    pub function_id: FunctionId,
    /// The config's alias or version.
    pub qualifier: String,
    pub node_id: String,
    /// Environments the node keeps for the config.
    pub count: u32,
    /// Of them, ready (reported by the node).
    pub ready: u32,
    /// The config's `last_modified_ms` the node applied when it reported `ready` (0: not yet).
    pub applied_ms: i64,
    /// Why the node's environments could not start.
    pub failed: Option<String>,
}

/// Whether stored allocations differ from the planned `(qualifier, node, count)` shares.
pub(crate) fn allocation_differs(before: &[ProvisionedAllocation], shares: &[(String, String, u32)]) -> bool {
    before.len() != shares.len()
        || shares.iter().any(|(q, n, c)| !before.iter().any(|a| &a.qualifier == q && &a.node_id == n && a.count == *c))
}

/// A node as stored, with its liveness judged by the database's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub id: String,
    pub name: String,
    pub addr: String,
    pub started_ms: i64,
    pub heartbeat_ms: i64,
    pub capacity: u32,
    pub busy: u32,
    /// Its last heartbeat is younger than the dead interval asked for.
    pub live: bool,
}

/// A channel of notices between nodes sharing a store (PostgreSQL `LISTEN`/`NOTIFY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// A function, alias, version or config changed (payload: [`function_notice`] of its key).
    Function,
    /// Events were queued (no payload).
    Events,
    /// An access key was created or deleted (payload: its access key id).
    Keys,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Channel::Function => "versa_fn",
            Channel::Events => "versa_events",
            Channel::Keys => "versa_keys",
        }
    }
}

/// What a subscriber hears ([`Store::subscribe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The function with this key changed (decode with [`parse_function_notice`]).
    Function(String),
    /// Events were queued somewhere.
    Events,
    /// The access key with this id was created or deleted.
    Keys(String),
    /// The listener (re)connected: notices may have been missed before it.
    Reconnected,
}

/// The payload of a [`Channel::Function`] notice: account, region and name, one per line.
pub fn function_notice(key: &FunctionKey) -> String {
    format!("{}\n{}\n{}", key.scope.account.as_str(), key.scope.region.as_str(), key.name)
}

/// The key a [`Channel::Function`] payload names, if it is well formed.
pub fn parse_function_notice(payload: &str) -> Option<FunctionKey> {
    let mut parts = payload.splitn(3, '\n');
    let account = model::scope::AccountId::parse(parts.next()?)?;
    let region = model::scope::Region::parse(parts.next()?)?;
    let name = parts.next()?.to_owned();
    Some(FunctionKey { scope: Scope { account, region }, name })
}

/// Notices from other nodes, delivered in order; `None` from `recv` when the store closed.
pub type Subscription = tokio::sync::mpsc::Receiver<Notice>;

/// Identifies a function by name within an account and region.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunctionKey {
    pub scope: Scope,
    pub name: String,
}

/// Identifies a layer by name within an account and region.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LayerKey {
    pub scope: Scope,
    pub name: String,
}

/// How many of the first queued events (by id) [`ReadTx::oldest_queued_event_ms`] looks at.
pub const OLDEST_WINDOW: usize = 256;

/// What the event queue holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueTotals {
    pub events: u64,
    pub bytes: u64,
}

/// What an account uses, as GetAccountSettings reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountUsage {
    pub function_count: u64,
    /// Sum of the zipped code size of every version, `$LATEST` included, and of every layer
    /// version.
    pub total_code_size: u64,
}

/// An access key as stored: its secret sealed by `control` (the store never sees it in clear).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyRow {
    pub access_key_id: String,
    /// The 12-digit account its requests act in.
    pub account: String,
    pub sealed_secret: Vec<u8>,
    /// The key `versa server` created for the root account at its first start.
    pub root: bool,
    pub created_ms: i64,
    pub name: Option<String>,
    /// `versa keys disable`: kept, refused until enabled again.
    pub disabled: bool,
}

/// One metric time series: what the `metrics` crate aggregates, per account and region.
/// `dims` is the dimension set in the `metrics` crate's canonical encoding (opaque here).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricSeries {
    pub account: String,
    pub region: String,
    pub namespace: String,
    pub metric: String,
    pub dims: String,
}

/// An alias with the function it belongs to (see [`ReadTx::all_aliases`]).
#[derive(Debug, Clone, PartialEq)]
pub struct AliasRow {
    pub scope: Scope,
    pub function_name: String,
    pub alias: Alias,
}

/// One stored aggregate of a series over the period starting at `start_ms` (a minute).
/// `sketch` is the `metrics` crate's serialised percentile sketch (opaque here).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    pub start_ms: i64,
    pub sum: f64,
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub sketch: Vec<u8>,
}

/// One CloudWatch alarm as stored (the `alarms` crate's record). `config` is that crate's
/// serialised definition (opaque here); the rest are the columns queries and the evaluator use.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmRecord {
    pub account: String,
    pub region: String,
    pub name: String,
    pub config: String,
    pub config_updated_ms: i64,
    pub actions_enabled: bool,
    pub state: String,
    pub reason: String,
    pub reason_data: Option<String>,
    pub state_updated_ms: i64,
    pub state_transitioned_ms: i64,
    /// When the evaluator must look at the alarm next (epoch ms).
    pub next_eval_ms: i64,
}

/// An alarm's name and state value (see [`ReadTx::alarm_states`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmStateRow {
    pub account: String,
    pub region: String,
    pub name: String,
    pub state: String,
}

/// One alarm history item. Kept after the alarm is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmHistoryRow {
    /// Assigned by the store on insert (ignored there); increases with insertion order.
    pub id: i64,
    pub account: String,
    pub region: String,
    pub alarm_name: String,
    pub alarm_type: String,
    pub timestamp_ms: i64,
    pub item_type: String,
    pub summary: String,
    pub data: String,
}

/// Which history items [`ReadTx::alarm_history`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlarmHistoryFilter {
    pub alarm_name: Option<String>,
    pub item_type: Option<String>,
    /// `[from_ms, to_ms]`, inclusive.
    pub from_ms: i64,
    pub to_ms: i64,
    /// Newest first (`TimestampDescending`, the default) or oldest first.
    pub newest_first: bool,
    /// Continue after the item with this id (in the order asked).
    pub after_id: Option<i64>,
}

/// What an alias sends traffic to: its primary version (`$LATEST` or a number, as text) and the
/// additional versions' weights (at most one on Lambda today).
#[derive(Debug, Clone, PartialEq)]
pub struct AliasTargetRow {
    pub function_version: String,
    pub weights: Vec<(String, f64)>,
}

/// One change of an alias (migration 11). Kept after the alias is deleted; removed with its
/// function.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasHistoryRow {
    /// Assigned by the store on insert (ignored there); increases with insertion order.
    pub id: i64,
    pub function_id: FunctionId,
    pub scope: Scope,
    pub function_name: String,
    pub alias: String,
    pub time_ms: i64,
    /// `Key`, `Deployment`, `Pipeline`, `System`… (`control::Actor`).
    pub actor_kind: String,
    pub actor_id: String,
    pub operation: String,
    /// `None` for a creation.
    pub before: Option<AliasTargetRow>,
    /// `None` for a deletion.
    pub after: Option<AliasTargetRow>,
    /// The alias's RevisionId after the change (`None` after a deletion).
    pub revision_id: Option<String>,
}

/// Row-level reads, inside a transaction.
pub trait ReadTx {
    fn function(&mut self, key: &FunctionKey) -> Result<Option<Function>, StoreError>;
    /// Functions of a scope ordered by name, starting after `after`.
    fn functions(&mut self, scope: &Scope, after: Option<&str>, limit: usize) -> Result<Vec<Function>, StoreError>;
    fn version(&mut self, id: FunctionId, number: u32) -> Result<Option<VersionRecord>, StoreError>;
    /// Published versions in ascending order, starting after `after`.
    fn versions(&mut self, id: FunctionId, after: Option<u32>, limit: usize) -> Result<Vec<VersionRecord>, StoreError>;
    /// The published version with the highest number, if any remains.
    fn highest_version(&mut self, id: FunctionId) -> Result<Option<VersionRecord>, StoreError>;
    fn alias(&mut self, id: FunctionId, name: &str) -> Result<Option<Alias>, StoreError>;
    /// Aliases ordered by name, starting after `after`.
    fn aliases(&mut self, id: FunctionId, after: Option<&str>, limit: usize) -> Result<Vec<Alias>, StoreError>;
    /// Names of the aliases that route any traffic to published version `number`.
    fn aliases_referencing(&mut self, id: FunctionId, number: u32) -> Result<Vec<String>, StoreError>;
    /// How many versions (of any function, `$LATEST` included) use the code blob `sha`, as
    /// their code or as one of their layers, plus how many layer versions have it.
    fn code_references(&mut self, sha: &Sha256) -> Result<u64, StoreError>;
    /// Every code blob some function version (as code or layer) or layer version uses.
    fn referenced_code(&mut self) -> Result<Vec<Sha256>, StoreError>;
    fn account_usage(&mut self, scope: &Scope) -> Result<AccountUsage, StoreError>;
    /// The asynchronous-invocation config of one qualifier (`$LATEST` for the unqualified
    /// function).
    fn event_invoke_config(&mut self, id: FunctionId, qualifier: &str)
    -> Result<Option<EventInvokeConfig>, StoreError>;
    /// Every qualifier's config, ordered by qualifier, starting after `after`.
    fn event_invoke_configs(
        &mut self,
        id: FunctionId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, EventInvokeConfig)>, StoreError>;
    /// Reserved concurrency of every function of a scope, summed.
    fn reserved_concurrency_total(&mut self, scope: &Scope) -> Result<u64, StoreError>;
    /// Provisioned concurrency of the functions of a scope that have no reserved concurrency,
    /// summed: what they take from the account's unreserved pool.
    fn unreserved_provisioned_total(&mut self, scope: &Scope) -> Result<u64, StoreError>;
    /// Events in the queue, claimed or not, and their payload bytes (kept up to date by the
    /// database's triggers on `events`: one row is read, not the queue).
    fn queued_events(&mut self) -> Result<QueueTotals, StoreError>;
    /// When the next event becomes claimable, if any is queued.
    fn next_event_due(&mut self) -> Result<Option<i64>, StoreError>;
    /// The node ids holding claims, in order.
    fn claim_holders(&mut self) -> Result<Vec<String>, StoreError>;
    /// Whether event `id` is still claimed with `token` (not reaped, expired or finished).
    fn holds_claim(&mut self, id: i64, token: &str) -> Result<bool, StoreError>;
    /// When the oldest event still queued was received: the earliest among the
    /// [`OLDEST_WINDOW`] queued first (lowest ids), read through the primary key instead of
    /// every row. An event's id is given when its insert runs, after it was received and
    /// before it commits, so an event queued after the oldest was received no earlier than that
    /// event's acceptance took (its group commit); the answer is off by at most that.
    fn oldest_queued_event_ms(&mut self) -> Result<Option<i64>, StoreError>;
    /// Aliases of every function, by account, region, function name and alias name; at most `limit`.
    fn all_aliases(&mut self, limit: usize) -> Result<Vec<AliasRow>, StoreError>;
    /// A function's provisioned concurrency configs, ordered by qualifier.
    fn provisioned_configs(&mut self, id: FunctionId) -> Result<Vec<ProvisionedConfig>, StoreError>;
    /// Every function (scope and name) with provisioned concurrency, for startup.
    fn functions_with_provisioned(&mut self) -> Result<Vec<(Scope, String)>, StoreError>;
    /// The resource policy of one qualifier (`$LATEST` for the unqualified function).
    fn policy(&mut self, id: FunctionId, qualifier: &str) -> Result<Option<Policy>, StoreError>;
    /// The function URL of one qualifier (`$LATEST` for the unqualified function).
    fn function_url(&mut self, id: FunctionId, qualifier: &str) -> Result<Option<FunctionUrl>, StoreError>;
    /// A function's URLs ordered by qualifier, starting after `after`.
    fn function_urls(
        &mut self,
        id: FunctionId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, FunctionUrl)>, StoreError>;
    /// Which function and qualifier a URL id belongs to.
    fn function_url_target(&mut self, url_id: &str) -> Result<Option<UrlTarget>, StoreError>;
    fn layer(&mut self, key: &LayerKey) -> Result<Option<Layer>, StoreError>;
    /// Layers of a scope ordered by name, starting after `after` (with or without versions).
    fn layers(&mut self, scope: &Scope, after: Option<&str>, limit: usize) -> Result<Vec<Layer>, StoreError>;
    fn layer_version(&mut self, id: LayerId, version: u32) -> Result<Option<LayerVersion>, StoreError>;
    /// A layer's versions newest first, starting below `before`.
    fn layer_versions(
        &mut self,
        id: LayerId,
        before: Option<u32>,
        limit: usize,
    ) -> Result<Vec<LayerVersion>, StoreError>;
    fn access_key(&mut self, access_key_id: &str) -> Result<Option<AccessKeyRow>, StoreError>;
    /// Access keys in id order, at most `limit`.
    fn access_keys(&mut self, limit: usize) -> Result<Vec<AccessKeyRow>, StoreError>;
    /// The aggregate of `series` for the period starting at `start_ms`.
    fn metric_point(&mut self, series: &MetricSeries, start_ms: i64) -> Result<Option<MetricPoint>, StoreError>;
    /// The aggregates of `series` starting in `[from_ms, to_ms)`, oldest first.
    fn metric_points(
        &mut self,
        series: &MetricSeries,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<MetricPoint>, StoreError>;
    /// The 1-second (high-resolution) aggregates of `series` starting in `[from_ms, to_ms)`.
    fn metric_points_hr(
        &mut self,
        series: &MetricSeries,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<MetricPoint>, StoreError>;
    /// The 1-second aggregate of `series` for the second starting at `start_ms`.
    fn metric_point_hr(&mut self, series: &MetricSeries, start_ms: i64) -> Result<Option<MetricPoint>, StoreError>;
    /// The distinct series with 1-second aggregates, at most `limit`.
    fn metric_series_hr(&mut self, limit: usize) -> Result<Vec<MetricSeries>, StoreError>;
    /// The series of an account and region (of one namespace when given), in key order,
    /// after `after`, at most `limit`.
    fn metric_series(
        &mut self,
        account: &str,
        region: &str,
        namespace: Option<&str>,
        after: Option<&MetricSeries>,
        limit: usize,
    ) -> Result<Vec<MetricSeries>, StoreError>;
    /// Whether `series` has a stored point.
    fn has_metric_series(&mut self, series: &MetricSeries) -> Result<bool, StoreError>;
    /// How many series have stored points.
    fn metric_series_count(&mut self) -> Result<u64, StoreError>;
    /// One alarm of an account and region.
    fn alarm(&mut self, account: &str, region: &str, name: &str) -> Result<Option<AlarmRecord>, StoreError>;
    /// Alarms of an account and region ordered by name, starting after `after`.
    fn alarms(
        &mut self,
        account: &str,
        region: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AlarmRecord>, StoreError>;
    /// How many alarms an account has in a region.
    fn alarm_count(&mut self, account: &str, region: &str) -> Result<u64, StoreError>;
    /// Alarms (any account) due at `now_ms`, earliest due first, at most `limit`.
    fn alarms_due(&mut self, now_ms: i64, limit: usize) -> Result<Vec<AlarmRecord>, StoreError>;
    /// Every alarm's state value (any account), by account, region and name; at most `limit`.
    fn alarm_states(&mut self, limit: usize) -> Result<Vec<AlarmStateRow>, StoreError>;
    /// The earliest due time of any alarm.
    fn next_alarm_due(&mut self) -> Result<Option<i64>, StoreError>;
    /// History items of an account and region, at most `limit`.
    fn alarm_history(
        &mut self,
        account: &str,
        region: &str,
        filter: &AlarmHistoryFilter,
        limit: usize,
    ) -> Result<Vec<AlarmHistoryRow>, StoreError>;
    /// An alarm's tags, ordered by key.
    fn alarm_tags(&mut self, account: &str, region: &str, name: &str) -> Result<Vec<(String, String)>, StoreError>;
    /// The changes of one alias of a function, newest first, with ids below `before_id`; at
    /// most `limit`.
    fn alias_history(
        &mut self,
        id: FunctionId,
        alias: &str,
        before_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AliasHistoryRow>, StoreError>;
    /// A CodeDeploy catalogue document (`kind` application, group or config) by name.
    fn cd_object(&mut self, account: &str, region: &str, kind: &str, name: &str) -> Result<Option<String>, StoreError>;
    /// The CodeDeploy documents of one kind, `(name, doc)` ordered by name.
    fn cd_objects(&mut self, account: &str, region: &str, kind: &str) -> Result<Vec<(String, String)>, StoreError>;
    /// One deployment by id (any account).
    fn cd_deployment(&mut self, id: &str) -> Result<Option<CdDeploymentRow>, StoreError>;
    /// One page of an account and region's deployments, newest first (create time, then id).
    fn cd_deployments_page(&mut self, q: &CdDeploymentQuery) -> Result<Vec<CdDeploymentRow>, StoreError>;
    /// At most `limit` active deployments (any account), earliest due first.
    fn cd_active_deployments(&mut self, limit: usize) -> Result<Vec<CdDeploymentRow>, StoreError>;
    /// The active deployment of a deployment group, if any.
    fn cd_group_active(
        &mut self,
        account: &str,
        region: &str,
        application: &str,
        group: &str,
    ) -> Result<Option<CdDeploymentRow>, StoreError>;
    /// A group's newest deployment, optionally only among those with a status.
    fn cd_group_latest(
        &mut self,
        account: &str,
        region: &str,
        application: &str,
        group: &str,
        status: Option<&str>,
    ) -> Result<Option<CdDeploymentRow>, StoreError>;
    /// At most `limit` deployments (any account): the active ones, then those created at or
    /// after `since_ms`, newest first (the Prometheus view).
    fn cd_deployments_shown(&mut self, since_ms: i64, limit: usize) -> Result<Vec<CdDeploymentRow>, StoreError>;
    /// The tags of a CodeDeploy resource, by key.
    fn cd_tags(&mut self, arn: &str) -> Result<Vec<(String, String)>, StoreError>;
    /// One rule or schedule (migration 14).
    fn schedule_row(
        &mut self,
        account: &str,
        region: &str,
        kind: &str,
        name: &str,
    ) -> Result<Option<ScheduleRow>, StoreError>;
    /// Rules or schedules of a scope whose name starts with `prefix`, by name, after `after`.
    fn schedule_rows(
        &mut self,
        account: &str,
        region: &str,
        kind: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ScheduleRow>, StoreError>;
    /// How many rules or schedules a scope has.
    fn schedule_count(&mut self, account: &str, region: &str, kind: &str) -> Result<u64, StoreError>;
    /// Rules and schedules due at `now_ms`, earliest first.
    fn schedules_due(&mut self, now_ms: i64, limit: usize) -> Result<Vec<ScheduleRow>, StoreError>;
    /// The earliest due time of any rule or schedule.
    fn next_schedule_due(&mut self) -> Result<Option<i64>, StoreError>;
    /// An SQS queue by account, region and name.
    fn sqs_queue(&mut self, account: &str, region: &str, name: &str) -> Result<Option<SqsQueueRow>, StoreError>;
    /// An SQS queue by id.
    fn sqs_queue_by_id(&mut self, id: i64) -> Result<Option<SqsQueueRow>, StoreError>;
    /// The queues of an account and region whose name starts with `prefix`, by name, after
    /// `after`; at most `limit`.
    fn sqs_queues(
        &mut self,
        account: &str,
        region: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SqsQueueRow>, StoreError>;
    /// How many queues an account has in a region.
    fn sqs_queue_count(&mut self, account: &str, region: &str) -> Result<u64, StoreError>;
    /// One message by its sequence number.
    fn sqs_message(&mut self, seq: i64) -> Result<Option<SqsMessageRow>, StoreError>;
    /// At most `limit` messages receivable at `now_ms` (unexpired, visible; FIFO: in order,
    /// of groups with nothing in flight).
    fn sqs_candidates(
        &mut self,
        queue_id: i64,
        now_ms: i64,
        fifo: bool,
        limit: usize,
    ) -> Result<Vec<SqsMessageRow>, StoreError>;
    /// When the next message of a queue not visible at `now_ms` becomes visible.
    fn sqs_next_visible(&mut self, queue_id: i64, now_ms: i64) -> Result<Option<i64>, StoreError>;
    /// A queue's visible, in-flight and delayed messages at `now_ms`.
    fn sqs_counts(&mut self, queue_id: i64, now_ms: i64) -> Result<SqsCounts, StoreError>;
    /// The message id and sequence number a live deduplication key stands for.
    fn sqs_dedup(&mut self, queue_id: i64, key: &str, now_ms: i64) -> Result<Option<(String, i64)>, StoreError>;
    /// An API Gateway API (REST or HTTP) by its id, whatever its account.
    fn apigw_api(&mut self, id: &str) -> Result<Option<ApigwRow>, StoreError>;
    /// At most `limit` APIs of one kind (`rest` or `http`) in a scope, by id.
    fn apigw_apis(
        &mut self,
        account: &str,
        region: &str,
        kind: &str,
        limit: usize,
    ) -> Result<Vec<ApigwRow>, StoreError>;
    /// An event source mapping by UUID, whatever its account.
    fn esm(&mut self, uuid: &str) -> Result<Option<EsmRow>, StoreError>;
    /// At most `limit` event source mappings of a scope, by UUID.
    fn esms(&mut self, account: &str, region: &str, limit: usize) -> Result<Vec<EsmRow>, StoreError>;
    /// At most `limit` event source mappings of every scope, by UUID (the pollers).
    fn all_esms(&mut self, limit: usize) -> Result<Vec<EsmRow>, StoreError>;
    /// A stream mapping's checkpoints: (shard key, last sequence number processed for good).
    fn esm_checkpoints(&mut self, uuid: &str) -> Result<Vec<(String, String)>, StoreError>;
    /// Every node row, live or not by the database's clock (migration 18).
    fn nodes(&mut self, dead_after_ms: i64) -> Result<Vec<NodeRow>, StoreError>;
    /// The provisioned-concurrency allocations of a function, every config and node.
    fn provisioned_allocations(&mut self, function: FunctionId) -> Result<Vec<ProvisionedAllocation>, StoreError>;
    /// The provisioned-concurrency allocations of one node, every function.
    fn node_allocations(&mut self, node_id: &str) -> Result<Vec<ProvisionedAllocation>, StoreError>;
    /// A shared cluster setting, if some node created it.
    fn cluster_setting(&mut self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

/// One Lambda event source mapping: its whole configuration and state as one opaque document
/// of `control`; the columns are what lookups and the duplicate check need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsmRow {
    pub uuid: String,
    pub account: String,
    pub region: String,
    pub source_arn: String,
    /// As the mapping names it (keeps the qualifier).
    pub function_arn: String,
    pub doc: String,
}

/// One API Gateway API: its whole definition (resources or routes, integrations, deployments,
/// stages, tags) as one opaque document of the `apigateway` crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApigwRow {
    pub id: String,
    pub account: String,
    pub region: String,
    /// `rest` (API Gateway v1) or `http` (v2).
    pub kind: String,
    pub doc: String,
}

/// A page request of [`ReadTx::cd_deployments_page`]: filters, and where the previous page
/// ended (`(create_ms, id)` of its last row).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CdDeploymentQuery {
    pub account: String,
    pub region: String,
    pub application: Option<String>,
    pub group: Option<String>,
    /// Only these statuses (empty: any).
    pub statuses: Vec<String>,
    pub created_from_ms: Option<i64>,
    pub created_to_ms: Option<i64>,
    /// Only deployments of this revision (`sha256` of its content).
    pub sha256: Option<String>,
    pub before: Option<(i64, String)>,
    pub limit: usize,
}

/// One CodeDeploy deployment as stored (the `codedeploy` crate's record): its state machine is
/// in `doc`; activity and due time are columns (one active deployment per group, by index).
#[derive(Debug, Clone, PartialEq)]
pub struct CdDeploymentRow {
    pub id: String,
    pub account: String,
    pub region: String,
    pub application: String,
    pub group: String,
    pub active: bool,
    pub next_due_ms: Option<i64>,
    pub create_ms: i64,
    pub doc: String,
}

/// One EventBridge rule or Scheduler schedule as stored (migration 14; the `eventbridge`
/// crate's record). `doc` is that crate's JSON document (opaque here); `next_due_ms` is when the
/// ticker must fire it next (`None`: never — disabled, or a pattern rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRow {
    pub account: String,
    pub region: String,
    /// `rule` or `schedule`.
    pub kind: String,
    /// The rule's name, or `<group>/<name>` of a schedule.
    pub name: String,
    pub doc: String,
    pub next_due_ms: Option<i64>,
}

/// Where a function URL leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTarget {
    pub scope: Scope,
    pub function_id: FunctionId,
    pub function_name: String,
    /// `$LATEST` for the unqualified function's URL, else the alias name.
    pub qualifier: String,
    pub url: FunctionUrl,
}

/// Row-level writes, inside a transaction that commits only if the caller's closure succeeds.
pub trait WriteTx: ReadTx {
    /// Reads a function and locks it against concurrent writers until the transaction ends.
    fn lock_function(&mut self, key: &FunctionKey) -> Result<Option<Function>, StoreError>;
    /// Inserts a new function; `function.id` is ignored and the new id returned.
    fn insert_function(&mut self, scope: &Scope, function: &Function) -> Result<FunctionId, StoreError>;
    /// Replaces `$LATEST`, `next_version` and tags of an existing function.
    fn update_function(&mut self, function: &Function) -> Result<(), StoreError>;
    /// Deletes a function with all its versions and aliases.
    fn delete_function(&mut self, id: FunctionId) -> Result<(), StoreError>;
    fn insert_version(&mut self, id: FunctionId, version: &VersionRecord) -> Result<(), StoreError>;
    /// Deletes a published version and its policy.
    fn delete_version(&mut self, id: FunctionId, number: u32) -> Result<bool, StoreError>;
    fn put_alias(&mut self, id: FunctionId, alias: &Alias) -> Result<(), StoreError>;
    /// Deletes an alias with its policy and function URL.
    fn delete_alias(&mut self, id: FunctionId, name: &str) -> Result<bool, StoreError>;
    fn put_event_invoke_config(
        &mut self,
        id: FunctionId,
        qualifier: &str,
        config: &EventInvokeConfig,
    ) -> Result<(), StoreError>;
    fn delete_event_invoke_config(&mut self, id: FunctionId, qualifier: &str) -> Result<bool, StoreError>;
    /// Adds an event to the durable queue (its `id` is ignored); returns the new id.
    fn enqueue_event(&mut self, event: &QueuedEvent, not_before_ms: i64) -> Result<i64, StoreError>;
    /// Adds events to the durable queue, each due at its `received_ms` (a group commit of
    /// accepted invokes); all or none.
    fn enqueue_events(&mut self, events: &[QueuedEvent]) -> Result<(), StoreError> {
        for e in events {
            self.enqueue_event(e, e.received_ms)?;
        }
        Ok(())
    }
    /// Claims up to `limit` events visible now, for node `node_id`, for `lease_ms`: each gets a
    /// fresh claim token and stays invisible until the lease ends (a node that is alive but stuck
    /// loses it then; a dead node's claims are freed earlier by [`WriteTx::reap_claims`]). "Now"
    /// is the database's clock, never the node's. (PostgreSQL: `FOR UPDATE SKIP LOCKED` on
    /// `visible_at_ms`.) With `per_function`, at most that many of each function, chosen among
    /// the earliest [`CLAIM_SCAN_MAX`] due events of the functions it does not cap at 0; without
    /// it (a node alone), simply the earliest due.
    fn claim_events(
        &mut self,
        node_id: &str,
        lease_ms: i64,
        limit: usize,
        per_function: Option<&PerFunctionMax>,
    ) -> Result<Vec<ClaimedEvent>, StoreError>;
    /// Removes a finished event if `token` still holds its claim; whether it did (`false`: the
    /// claim was lost, to a reaper or an expired lease, and the caller drops its result).
    fn delete_event(&mut self, id: i64, token: &str) -> Result<bool, StoreError>;
    /// Unclaims an event and makes it visible again at `not_before_ms`, if `token` still holds
    /// its claim; whether it did.
    fn reschedule_event(&mut self, id: i64, token: &str, attempts: u32, not_before_ms: i64)
    -> Result<bool, StoreError>;
    /// Frees the claims held by the given (dead) nodes: their events become visible at once.
    /// Returns how many were freed.
    fn reap_claims(&mut self, dead_node_ids: &[String]) -> Result<u64, StoreError>;
    fn put_provisioned_config(&mut self, id: FunctionId, config: &ProvisionedConfig) -> Result<(), StoreError>;
    fn delete_provisioned_config(&mut self, id: FunctionId, qualifier: &str) -> Result<bool, StoreError>;
    /// Replaces (or, with no statements, deletes) one qualifier's policy.
    fn put_policy(&mut self, id: FunctionId, qualifier: &str, policy: &Policy) -> Result<(), StoreError>;
    /// Inserts or replaces one qualifier's URL; its `url_id` must be unique among all URLs.
    fn put_function_url(&mut self, id: FunctionId, qualifier: &str, url: &FunctionUrl) -> Result<(), StoreError>;
    fn delete_function_url(&mut self, id: FunctionId, qualifier: &str) -> Result<bool, StoreError>;
    /// Reads a layer and locks it against concurrent writers until the transaction ends.
    fn lock_layer(&mut self, key: &LayerKey) -> Result<Option<Layer>, StoreError>;
    /// Inserts a new layer; `layer.id` is ignored and the new id returned.
    fn insert_layer(&mut self, scope: &Scope, layer: &Layer) -> Result<LayerId, StoreError>;
    /// Stores a layer's `next_version`.
    fn update_layer(&mut self, layer: &Layer) -> Result<(), StoreError>;
    /// Inserts a layer version with its policy.
    fn insert_layer_version(&mut self, id: LayerId, version: &LayerVersion) -> Result<(), StoreError>;
    fn delete_layer_version(&mut self, id: LayerId, version: u32) -> Result<bool, StoreError>;
    /// Replaces (or, with `None`, removes) a layer version's policy.
    fn put_layer_version_policy(
        &mut self,
        id: LayerId,
        version: u32,
        policy: Option<&LayerPolicy>,
    ) -> Result<(), StoreError>;
    /// Inserts an access key; its id must be new.
    fn insert_access_key(&mut self, key: &AccessKeyRow) -> Result<(), StoreError>;
    fn delete_access_key(&mut self, access_key_id: &str) -> Result<bool, StoreError>;
    /// Disables or enables a key; whether it exists.
    fn set_access_key_disabled(&mut self, access_key_id: &str, disabled: bool) -> Result<bool, StoreError>;
    /// Writes (replaces) the aggregate of `series` for `point.start_ms`; the caller merges.
    fn put_metric_point(&mut self, series: &MetricSeries, point: &MetricPoint) -> Result<(), StoreError>;
    /// Writes (replaces) the 1-second aggregate of `series` for `point.start_ms`.
    fn put_metric_point_hr(&mut self, series: &MetricSeries, point: &MetricPoint) -> Result<(), StoreError>;
    /// Deletes the 1-second aggregates that start before `before_ms`; returns how many went.
    fn delete_metric_points_hr_before(&mut self, before_ms: i64) -> Result<u64, StoreError>;
    /// Deletes the points that start before `before_ms`, and series left without points;
    /// returns how many points went.
    fn delete_metric_points_before(&mut self, before_ms: i64) -> Result<u64, StoreError>;
    /// Inserts or replaces a CodeDeploy catalogue document.
    fn put_cd_object(
        &mut self,
        account: &str,
        region: &str,
        kind: &str,
        name: &str,
        doc: &str,
    ) -> Result<(), StoreError>;
    fn delete_cd_object(&mut self, account: &str, region: &str, kind: &str, name: &str) -> Result<bool, StoreError>;
    /// Inserts or replaces a deployment; a second active one in a group is refused (unique index).
    fn put_cd_deployment(&mut self, d: &CdDeploymentRow) -> Result<(), StoreError>;
    /// Replaces deployment `d.id` only if its stored document is still `expected` and its
    /// names are still `d`'s (a compare-and-set: the engine on one node and StopDeployment on
    /// another never overwrite each other's step, and a step read before a rename is retried
    /// under the new names); whether it did. (PostgreSQL: a concurrent writer's `UPDATE` makes
    /// this one wait and then re-check the document.)
    fn replace_cd_deployment(&mut self, d: &CdDeploymentRow, expected: &str) -> Result<bool, StoreError>;
    /// A renamed application (`group` `None`: all its deployments) or deployment group keeps
    /// its deployments: they move to `new_application` (and `new_group`). Only the indexed
    /// names change, not the documents, so an engine step in flight is not disturbed
    /// (`CdDeploymentRow`'s names are what a deployment shows). Returns how many moved.
    fn rename_cd_deployments(
        &mut self,
        account: &str,
        region: &str,
        application: &str,
        group: Option<&str>,
        new_application: &str,
        new_group: Option<&str>,
    ) -> Result<usize, StoreError>;
    /// Deletes a group's finished deployments beyond its `keep` newest (of all its
    /// deployments); returns how many went.
    fn trim_cd_deployments(
        &mut self,
        account: &str,
        region: &str,
        application: &str,
        group: &str,
        keep: usize,
    ) -> Result<usize, StoreError>;
    /// Replaces the tags of a CodeDeploy resource.
    fn put_cd_tags(&mut self, arn: &str, tags: &[(String, String)]) -> Result<(), StoreError>;
    /// Inserts or replaces an API Gateway API.
    fn put_apigw_api(&mut self, api: &ApigwRow) -> Result<(), StoreError>;
    /// Deletes an API Gateway API.
    fn delete_apigw_api(&mut self, id: &str) -> Result<bool, StoreError>;
    /// Inserts or replaces an event source mapping (its account and region never change).
    fn put_esm(&mut self, row: &EsmRow) -> Result<(), StoreError>;
    /// Deletes a mapping and its checkpoints.
    fn delete_esm(&mut self, uuid: &str) -> Result<bool, StoreError>;
    /// Records a stream checkpoint; nothing when the mapping is gone.
    fn put_esm_checkpoint(&mut self, uuid: &str, shard: &str, sequence: &str) -> Result<(), StoreError>;
    /// Inserts or replaces an alarm.
    fn put_alarm(&mut self, alarm: &AlarmRecord) -> Result<(), StoreError>;
    /// Deletes an alarm and its tags (not its history).
    fn delete_alarm(&mut self, account: &str, region: &str, name: &str) -> Result<bool, StoreError>;
    /// Sets when the evaluator looks at an alarm next.
    fn set_alarm_due(&mut self, account: &str, region: &str, name: &str, next_eval_ms: i64) -> Result<(), StoreError>;
    /// Appends a history item; returns its id.
    fn insert_alarm_history(&mut self, item: &AlarmHistoryRow) -> Result<i64, StoreError>;
    /// Deletes history items older than `before_ms`, of each alarm all but its newest
    /// `keep_per_alarm`, and beyond that all but the newest `keep_total`; returns how many went.
    fn trim_alarm_history(
        &mut self,
        before_ms: i64,
        keep_per_alarm: usize,
        keep_total: usize,
    ) -> Result<u64, StoreError>;
    /// Appends an alias change, then trims: of that alias all but its newest `keep_per_alias`
    /// rows, of all aliases the rows older than the last `keep_total` changes (so at most
    /// `keep_total` remain). Returns the new row's id.
    fn insert_alias_history(
        &mut self,
        row: &AliasHistoryRow,
        keep_per_alias: usize,
        keep_total: usize,
    ) -> Result<i64, StoreError>;
    /// Replaces an alarm's tags.
    fn put_alarm_tags(
        &mut self,
        account: &str,
        region: &str,
        name: &str,
        tags: &[(String, String)],
    ) -> Result<(), StoreError>;
    /// Inserts or replaces a rule or schedule.
    fn put_schedule_row(&mut self, row: &ScheduleRow) -> Result<(), StoreError>;
    fn delete_schedule_row(&mut self, account: &str, region: &str, kind: &str, name: &str) -> Result<bool, StoreError>;
    /// Moves a rule's or schedule's due time from `from_ms` to `to_ms`, only if it is still
    /// `from_ms` (a tick is fired once: whoever moves it first owns it). Whether it moved.
    fn advance_schedule_due(&mut self, row: &ScheduleRow, from_ms: i64, to_ms: Option<i64>)
    -> Result<bool, StoreError>;
    /// Inserts a queue (its `id`, `messages` and `bytes` are ignored); returns the new id.
    fn sqs_insert_queue(&mut self, queue: &SqsQueueRow) -> Result<i64, StoreError>;
    /// Replaces a queue's document.
    fn sqs_update_queue(&mut self, id: i64, doc: &str) -> Result<(), StoreError>;
    /// Deletes a queue with its messages and deduplication keys.
    fn sqs_delete_queue(&mut self, id: i64) -> Result<bool, StoreError>;
    /// Inserts a message (its `seq` is ignored); returns its sequence number.
    fn sqs_insert_message(&mut self, message: &SqsMessageRow) -> Result<i64, StoreError>;
    /// Writes a message's visibility, receive count, first receive time, receipt handle and
    /// attribute document.
    fn sqs_update_message(&mut self, message: &SqsMessageRow) -> Result<(), StoreError>;
    fn sqs_delete_message(&mut self, seq: i64) -> Result<bool, StoreError>;
    /// Moves a message to another queue (a dead-letter queue), visible at `visible_ms`.
    fn sqs_move_message(&mut self, seq: i64, to_queue: i64, visible_ms: i64) -> Result<(), StoreError>;
    /// Deletes every message of a queue; returns how many went.
    fn sqs_purge(&mut self, queue_id: i64) -> Result<u64, StoreError>;
    /// Records a deduplication key until `expires_ms`.
    fn sqs_put_dedup(
        &mut self,
        queue_id: i64,
        key: &str,
        message_id: &str,
        seq: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError>;
    /// Deletes at most `limit` messages past their retention, and expired deduplication keys;
    /// returns how many messages went.
    fn sqs_expire(&mut self, now_ms: i64, limit: usize) -> Result<u64, StoreError>;
    /// Records a node's heartbeat at the database's time (inserting its row on the first);
    /// returns that time.
    fn heartbeat_node(&mut self, beat: &NodeBeat) -> Result<i64, StoreError>;
    /// Removes a node's row (a graceful stop); whether it was there.
    fn delete_node(&mut self, id: &str) -> Result<bool, StoreError>;
    /// Removes the rows of nodes silent for longer than `dead_for_ms`; how many went.
    fn delete_dead_nodes(&mut self, dead_for_ms: i64) -> Result<u64, StoreError>;
    /// Stores `value` under `name` unless a value is there already (`ON CONFLICT DO NOTHING`),
    /// and returns the value stored: every node ends up with the first writer's.
    fn init_cluster_setting(&mut self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError>;
    /// Takes or renews the lease `name` for `holder` (a node id, no `/`) until `ttl_ms` from
    /// the database's now: granted when `holder` holds it already or it has ended (nobody
    /// renewed it in time). Granted: the lease's epoch (the fencing token), which grows at
    /// every takeover (another holder, or this one after its lease ended) and stays the same
    /// on a renewal; `None`: someone else holds it.
    fn acquire_lease(&mut self, name: &str, holder: &str, ttl_ms: i64) -> Result<Option<i64>, StoreError>;
    /// Gives the lease `name` up if `holder` holds it (its epoch stays); whether it did.
    fn release_lease(&mut self, name: &str, holder: &str) -> Result<bool, StoreError>;
    /// Whether `holder` still holds the lease `name` at `epoch` and it has not ended: the fence
    /// a singleton checks in its write transactions (a stale holder then writes nothing). On
    /// PostgreSQL the row is locked `FOR SHARE`, so a takeover waits for this transaction.
    fn lease_holds(&mut self, name: &str, holder: &str, epoch: i64) -> Result<bool, StoreError>;
    /// Replaces a function's provisioned-concurrency allocations with `shares`
    /// (`(qualifier, node id, count)`); whether anything changed. A node keeping its count keeps
    /// its report. On PostgreSQL, under the planner's transaction-scoped advisory lock.
    fn plan_provisioned(&mut self, function: FunctionId, shares: &[(String, String, u32)]) -> Result<bool, StoreError>;
    /// Removes allocations whose config is gone; how many.
    fn drop_orphan_allocations(&mut self) -> Result<u64, StoreError>;
    /// Records a node's `ready`, `applied_ms` and `failed` for its allocations in `rows`.
    fn report_allocations(&mut self, node_id: &str, rows: &[ProvisionedAllocation]) -> Result<(), StoreError>;
    /// Tells the other nodes, when this transaction commits (never on rollback), that
    /// something changed. A no-op for a store no other process shares.
    fn notify(&mut self, channel: Channel, payload: &str) -> Result<(), StoreError>;
    /// Records, by the database's clock, that the code blob `sha` is being uploaded or reused
    /// now (`code_blobs`). Called in its own transaction *before* the upload, so that the
    /// grace-period collector leaves the blob alone until the reference commits.
    fn touch_code_blob(&mut self, sha: &Sha256) -> Result<(), StoreError>;
    /// Adds a row, touched now, for each of `shas` that has none (blobs found in the bucket:
    /// what crashed uploads or older Versa versions left); returns how many were added.
    fn track_code_blobs(&mut self, shas: &[Sha256]) -> Result<u64, StoreError>;
    /// At most `limit` tracked blobs untouched for `grace_ms` that no version (code or layer)
    /// and no layer version references, oldest first. They stay locked against
    /// [`WriteTx::touch_code_blob`] until this transaction ends. Empty when another node is
    /// collecting (PostgreSQL: a transaction-scoped advisory lock).
    fn stale_code_blobs(&mut self, grace_ms: i64, limit: usize) -> Result<Vec<Sha256>, StoreError>;
    /// Deletes the rows of `shas` (after their objects); returns how many went.
    fn delete_code_blobs(&mut self, shas: &[Sha256]) -> Result<u64, StoreError>;
}

/// Runs the caller's closure in a write transaction. Returns whether to commit, and a
/// completion that the backend calls with the commit's outcome once it is durable (or failed).
pub type WriteJob = Box<dyn FnOnce(&mut dyn WriteTx) -> (bool, Completion) + Send>;
pub type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
pub type ReadJob = Box<dyn FnOnce(&mut dyn ReadTx) + Send>;
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a storage backend implements. Each job runs atomically; a write job that a caller
/// awaited has run before any job submitted after it. (The embedded backend runs writes in
/// submission order; PostgreSQL runs them on several connections, so only awaited order holds.)
pub trait Backend: Send + Sync + 'static {
    /// Queues a write job. Waits while the bounded queue is full.
    fn submit_write(&self, job: WriteJob) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Runs a read job on a consistent snapshot.
    fn submit_read(&self, job: ReadJob) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Runs a short read job on the calling thread, if this backend can without waiting
    /// (the embedded backend with a free read connection); otherwise hands the job back.
    fn read_here(&self, job: ReadJob) -> Result<Result<(), StoreError>, ReadJob> {
        Err(job)
    }
    /// Whether other processes (nodes) share this store: then caches need a staleness bound
    /// and invocations are placed across nodes. The embedded backend is never shared.
    fn shared(&self) -> bool {
        false
    }
    /// Starts listening to other nodes' notices ([`WriteTx::notify`]). `None`: nobody else
    /// can write (the embedded backend), so there is nothing to hear.
    fn subscribe(&self) -> Option<Subscription> {
        None
    }
    /// The most a caller waits for one job (queueing included) before it gets
    /// [`StoreError::TimedOut`]; `None`: no bound (the embedded backend cannot go away).
    fn call_timeout(&self) -> Option<std::time::Duration> {
        None
    }
}

/// A cheap, clonable handle to the store.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Store {
    pub fn new(backend: Arc<dyn Backend>) -> Store {
        Store { backend }
    }

    /// Runs `f` in a write transaction. If `f` returns `Ok`, its writes are committed and
    /// durable before this returns; if it returns `Err`, none of them happened.
    pub async fn write<R, E>(&self, f: impl FnOnce(&mut dyn WriteTx) -> Result<R, E> + Send + 'static) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<R, E>>();
        let job: WriteJob = Box::new(move |t| {
            // A caller that gave up (timed out) is told nothing: its writes must not happen
            // later behind its back, e.g. a backlog replayed after the database returns.
            if tx.is_closed() {
                return (false, Box::new(|_| {}) as Completion);
            }
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(t)));
            let result = result.unwrap_or_else(|_| Err(StoreError::Panicked.into()));
            let commit = result.is_ok();
            let done: Completion = Box::new(move |committed| {
                let out = match committed {
                    Ok(()) => result,
                    Err(e) => result.and_then(|_| Err(e.into())),
                };
                let _ = tx.send(out);
            });
            (commit, done)
        });
        let call = async move {
            self.backend.submit_write(job).await?;
            rx.await.unwrap_or_else(|_| Err(StoreError::Closed.into()))
        };
        match self.backend.call_timeout() {
            None => call.await,
            Some(limit) => tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
                tracing::warn!(kind = "write", "a store call timed out");
                Err(StoreError::TimedOut(limit).into())
            }),
        }
    }

    /// Whether other nodes share this store (see [`Backend::shared`]).
    pub fn shared(&self) -> bool {
        self.backend.shared()
    }

    /// Other nodes' notices, if any node can send them (see [`Backend::subscribe`]).
    pub fn subscribe(&self) -> Option<Subscription> {
        self.backend.subscribe()
    }

    /// Like [`Store::read`], for a short read — a few lookups by key, nothing that scans: run
    /// on the calling thread when the backend can do so without waiting (the embedded
    /// backend; no hop to a blocking thread and back), else exactly like [`Store::read`].
    pub async fn read_short<R, E>(
        &self,
        f: impl FnOnce(&mut dyn ReadTx) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let out = Arc::new(std::sync::Mutex::new(None::<Result<R, E>>));
        let slot = out.clone();
        let job: ReadJob = Box::new(move |t| {
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(t)));
            let result = result.unwrap_or_else(|_| Err(StoreError::Panicked.into()));
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        });
        match self.backend.read_here(job) {
            Ok(ran) => {
                let result = out.lock().unwrap_or_else(|e| e.into_inner()).take();
                match (ran, result) {
                    (Ok(()), Some(r)) => r,
                    (Err(e), _) => Err(e.into()),
                    (Ok(()), None) => Err(StoreError::Panicked.into()),
                }
            }
            Err(job) => {
                // The backend gave the job back: run it where reads run.
                let (tx, rx) = oneshot::channel::<()>();
                let wrapped: ReadJob = Box::new(move |t| {
                    if tx.is_closed() {
                        return;
                    }
                    job(t);
                    let _ = tx.send(());
                });
                let call = async move {
                    self.backend.submit_read(wrapped).await?;
                    rx.await.map_err(|_| StoreError::Closed)?;
                    Ok::<(), StoreError>(())
                };
                let ran = match self.backend.call_timeout() {
                    None => call.await,
                    Some(limit) => tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
                        tracing::warn!(kind = "read", "a store call timed out");
                        Err(StoreError::TimedOut(limit))
                    }),
                };
                ran?;
                out.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_else(|| Err(StoreError::Closed.into()))
            }
        }
    }

    /// Runs `f` on a consistent snapshot of committed data.
    pub async fn read<R, E>(&self, f: impl FnOnce(&mut dyn ReadTx) -> Result<R, E> + Send + 'static) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<R, E>>();
        let job: ReadJob = Box::new(move |t| {
            if tx.is_closed() {
                return;
            }
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(t)));
            let _ = tx.send(result.unwrap_or_else(|_| Err(StoreError::Panicked.into())));
        });
        let call = async move {
            self.backend.submit_read(job).await?;
            rx.await.unwrap_or_else(|_| Err(StoreError::Closed.into()))
        };
        match self.backend.call_timeout() {
            None => call.await,
            Some(limit) => tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
                tracing::warn!(kind = "read", "a store call timed out");
                Err(StoreError::TimedOut(limit).into())
            }),
        }
    }
}

#[cfg(test)]
mod tests;
