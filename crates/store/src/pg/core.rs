//! Core tables on PostgreSQL: functions, versions, aliases, configs, the event queue,
//! provisioned concurrency, policies, URLs, layers, access keys.

use postgres::Transaction;

use model::function::{
    Alias, EventInvokeConfig, Function, FunctionId, ProvisionedConfig, QueuedEvent, Sha256, VersionRecord,
};
use model::layer::{Layer, LayerId, LayerPolicy, LayerVersion};
use model::policy::{FunctionUrl, Policy};
use model::scope::Scope;

use crate::{
    AccessKeyRow, AccountUsage, AliasRow, ClaimedEvent, FunctionKey, LayerKey, QueueTotals, StoreError, UrlTarget,
};

pub(super) const SCHEMA: &str = "SELECT 1";

fn not_yet() -> StoreError {
    StoreError::Database("not yet on PostgreSQL".into())
}

pub(super) fn function(_t: &mut Transaction<'_>, _key: &FunctionKey) -> Result<Option<Function>, StoreError> {
    Err(not_yet())
}

pub(super) fn functions(
    _t: &mut Transaction<'_>,
    _scope: &Scope,
    _after: Option<&str>,
    _limit: usize,
) -> Result<Vec<Function>, StoreError> {
    Err(not_yet())
}

pub(super) fn version(
    _t: &mut Transaction<'_>,
    _id: FunctionId,
    _number: u32,
) -> Result<Option<VersionRecord>, StoreError> {
    Err(not_yet())
}

pub(super) fn versions(
    _t: &mut Transaction<'_>,
    _id: FunctionId,
    _after: Option<u32>,
    _limit: usize,
) -> Result<Vec<VersionRecord>, StoreError> {
    Err(not_yet())
}

pub(super) fn highest_version(_t: &mut Transaction<'_>, _id: FunctionId) -> Result<Option<VersionRecord>, StoreError> {
    Err(not_yet())
}

pub(super) fn alias(_t: &mut Transaction<'_>, _id: FunctionId, _name: &str) -> Result<Option<Alias>, StoreError> {
    Err(not_yet())
}

pub(super) fn aliases(
    _t: &mut Transaction<'_>,
    _id: FunctionId,
    _after: Option<&str>,
    _limit: usize,
) -> Result<Vec<Alias>, StoreError> {
    Err(not_yet())
}

pub(super) fn aliases_referencing(
    _t: &mut Transaction<'_>,
    _id: FunctionId,
    _number: u32,
) -> Result<Vec<String>, StoreError> {
    Err(not_yet())
}

pub(super) fn code_references(_t: &mut Transaction<'_>, _sha: &Sha256) -> Result<u64, StoreError> {
    Err(not_yet())
}

pub(super) fn referenced_code(_t: &mut Transaction<'_>) -> Result<Vec<Sha256>, StoreError> {
    Err(not_yet())
}

pub(super) fn account_usage(_t: &mut Transaction<'_>, _scope: &Scope) -> Result<AccountUsage, StoreError> {
    Err(not_yet())
}

pub(super) fn event_invoke_config(
    _t: &mut Transaction<'_>,
    _id: FunctionId,
    _qualifier: &str,
) -> Result<Option<EventInvokeConfig>, StoreError> {
    Err(not_yet())
}

pub(super) fn event_invoke_configs(
    _t: &mut Transaction<'_>,
    _id: FunctionId,
    _after: Option<&str>,
    _limit: usize,
) -> Result<Vec<(String, EventInvokeConfig)>, StoreError> {
    Err(not_yet())
}

pub(super) fn reserved_concurrency_total(_t: &mut Transaction<'_>, _scope: &Scope) -> Result<u64, StoreError> {
    Err(not_yet())
}

pub(super) fn unreserved_provisioned_total(_t: &mut Transaction<'_>, _scope: &Scope) -> Result<u64, StoreError> {
    Err(not_yet())
}

pub(super) fn queued_events(_t: &mut Transaction<'_>) -> Result<QueueTotals, StoreError> {
    Err(not_yet())
}

pub(super) fn next_event_due(_t: &mut Transaction<'_>) -> Result<Option<i64>, StoreError> {
    Err(not_yet())
}

pub(super) fn claim_holders(_t: &mut Transaction<'_>) -> Result<Vec<String>, StoreError> {
    Err(not_yet())
}

pub(super) fn oldest_queued_event_ms(_t: &mut Transaction<'_>) -> Result<Option<i64>, StoreError> {
    Err(not_yet())
}

pub(super) fn all_aliases(_t: &mut Transaction<'_>, _limit: usize) -> Result<Vec<AliasRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn provisioned_configs(
    _t: &mut Transaction<'_>,
    _id: FunctionId,
) -> Result<Vec<ProvisionedConfig>, StoreError> {
    Err(not_yet())
}

pub(super) fn functions_with_provisioned(_t: &mut Transaction<'_>) -> Result<Vec<(Scope, String)>, StoreError> {
    Err(not_yet())
}

pub(super) fn policy(
    _t: &mut Transaction<'_>,
    _id: FunctionId,
    _qualifier: &str,
) -> Result<Option<Policy>, StoreError> {
    Err(not_yet())
}

pub(super) fn function_url(
    _t: &mut Transaction<'_>,
    _id: FunctionId,
    _qualifier: &str,
) -> Result<Option<FunctionUrl>, StoreError> {
    Err(not_yet())
}

pub(super) fn function_urls(
    _t: &mut Transaction<'_>,
    _id: FunctionId,
    _after: Option<&str>,
    _limit: usize,
) -> Result<Vec<(String, FunctionUrl)>, StoreError> {
    Err(not_yet())
}

pub(super) fn function_url_target(_t: &mut Transaction<'_>, _url_id: &str) -> Result<Option<UrlTarget>, StoreError> {
    Err(not_yet())
}

pub(super) fn layer(_t: &mut Transaction<'_>, _key: &LayerKey) -> Result<Option<Layer>, StoreError> {
    Err(not_yet())
}

pub(super) fn layers(
    _t: &mut Transaction<'_>,
    _scope: &Scope,
    _after: Option<&str>,
    _limit: usize,
) -> Result<Vec<Layer>, StoreError> {
    Err(not_yet())
}

pub(super) fn layer_version(
    _t: &mut Transaction<'_>,
    _id: LayerId,
    _version: u32,
) -> Result<Option<LayerVersion>, StoreError> {
    Err(not_yet())
}

pub(super) fn layer_versions(
    _t: &mut Transaction<'_>,
    _id: LayerId,
    _before: Option<u32>,
    _limit: usize,
) -> Result<Vec<LayerVersion>, StoreError> {
    Err(not_yet())
}

pub(super) fn access_key(_t: &mut Transaction<'_>, _access_key_id: &str) -> Result<Option<AccessKeyRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn access_keys(_t: &mut Transaction<'_>, _limit: usize) -> Result<Vec<AccessKeyRow>, StoreError> {
    Err(not_yet())
}

pub(super) fn lock_function(_t: &mut Transaction<'_>, _key: &FunctionKey) -> Result<Option<Function>, StoreError> {
    Err(not_yet())
}

pub(super) fn insert_function(
    _t: &mut Transaction<'_>,
    _scope: &Scope,
    _function: &Function,
) -> Result<FunctionId, StoreError> {
    Err(not_yet())
}

pub(super) fn update_function(_t: &mut Transaction<'_>, _function: &Function) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn delete_function(_t: &mut Transaction<'_>, _id: FunctionId) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn insert_version(
    _t: &mut Transaction<'_>,
    _id: FunctionId,
    _version: &VersionRecord,
) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn delete_version(_t: &mut Transaction<'_>, _id: FunctionId, _number: u32) -> Result<bool, StoreError> {
    Err(not_yet())
}

pub(super) fn put_alias(_t: &mut Transaction<'_>, _id: FunctionId, _alias: &Alias) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn delete_alias(_t: &mut Transaction<'_>, _id: FunctionId, _name: &str) -> Result<bool, StoreError> {
    Err(not_yet())
}

pub(super) fn put_event_invoke_config(
    _t: &mut Transaction<'_>,
    _id: FunctionId,
    _qualifier: &str,
    _config: &EventInvokeConfig,
) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn delete_event_invoke_config(
    _t: &mut Transaction<'_>,
    _id: FunctionId,
    _qualifier: &str,
) -> Result<bool, StoreError> {
    Err(not_yet())
}

pub(super) fn enqueue_event(
    _t: &mut Transaction<'_>,
    _event: &QueuedEvent,
    _not_before_ms: i64,
) -> Result<i64, StoreError> {
    Err(not_yet())
}

pub(super) fn claim_events(
    _t: &mut Transaction<'_>,
    _node_id: &str,
    _lease_ms: i64,
    _limit: usize,
) -> Result<Vec<ClaimedEvent>, StoreError> {
    Err(not_yet())
}

pub(super) fn delete_event(_t: &mut Transaction<'_>, _id: i64, _token: &str) -> Result<bool, StoreError> {
    Err(not_yet())
}

pub(super) fn reschedule_event(
    _t: &mut Transaction<'_>,
    _id: i64,
    _token: &str,
    _attempts: u32,
    _not_before_ms: i64,
) -> Result<bool, StoreError> {
    Err(not_yet())
}

pub(super) fn reap_claims(_t: &mut Transaction<'_>, _dead_node_ids: &[String]) -> Result<u64, StoreError> {
    Err(not_yet())
}

pub(super) fn put_provisioned_config(
    _t: &mut Transaction<'_>,
    _id: FunctionId,
    _config: &ProvisionedConfig,
) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn delete_provisioned_config(
    _t: &mut Transaction<'_>,
    _id: FunctionId,
    _qualifier: &str,
) -> Result<bool, StoreError> {
    Err(not_yet())
}

pub(super) fn put_policy(
    _t: &mut Transaction<'_>,
    _id: FunctionId,
    _qualifier: &str,
    _policy: &Policy,
) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn put_function_url(
    _t: &mut Transaction<'_>,
    _id: FunctionId,
    _qualifier: &str,
    _url: &FunctionUrl,
) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn delete_function_url(
    _t: &mut Transaction<'_>,
    _id: FunctionId,
    _qualifier: &str,
) -> Result<bool, StoreError> {
    Err(not_yet())
}

pub(super) fn lock_layer(_t: &mut Transaction<'_>, _key: &LayerKey) -> Result<Option<Layer>, StoreError> {
    Err(not_yet())
}

pub(super) fn insert_layer(_t: &mut Transaction<'_>, _scope: &Scope, _layer: &Layer) -> Result<LayerId, StoreError> {
    Err(not_yet())
}

pub(super) fn update_layer(_t: &mut Transaction<'_>, _layer: &Layer) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn insert_layer_version(
    _t: &mut Transaction<'_>,
    _id: LayerId,
    _version: &LayerVersion,
) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn delete_layer_version(_t: &mut Transaction<'_>, _id: LayerId, _version: u32) -> Result<bool, StoreError> {
    Err(not_yet())
}

pub(super) fn put_layer_version_policy(
    _t: &mut Transaction<'_>,
    _id: LayerId,
    _version: u32,
    _policy: Option<&LayerPolicy>,
) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn insert_access_key(_t: &mut Transaction<'_>, _key: &AccessKeyRow) -> Result<(), StoreError> {
    Err(not_yet())
}

pub(super) fn delete_access_key(_t: &mut Transaction<'_>, _access_key_id: &str) -> Result<bool, StoreError> {
    Err(not_yet())
}
