//! The deployment engine: one scheduler task walks every active deployment's durable state
//! machine (reference §1.6, §6.1).
//!
//! A deployment is one store row: `doc` holds the state (phase, step, due time, hook
//! executions, the RevisionId of Versa's last alias write), `active`/`next_due_ms` are columns
//! (one active deployment per group, by unique index). Every transition is one write; the
//! scheduler sleeps until the earliest due time and is woken early by hook callbacks,
//! StopDeployment, new deployments and alarm transitions. After a restart, alarms are
//! evaluated first; each overdue deployment then takes one step per tick (no 10% → 100% jump).

use std::sync::Arc;
use std::time::Duration;

use control::{AliasUpdate, RoutingInput};
use control::{Control, ControlError};
use model::name::Version;
use model::scope::Scope;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use store::{CdDeploymentRow, Store, StoreError};
use tokio::sync::{Mutex, Notify};

use crate::Error;
use crate::appspec::Spec;
use crate::configs::{AliasState, Plan};

/// The first sentence of AWS's INVALID_LAMBDA_CONFIGURATION message [V].
pub const INVALID_CONFIG: &str = "The deployment failed because the AppSpec file that specifies the AWS Lambda deployment configuration is missing or has an invalid configuration.";
/// AWS's text when the alias is not at CurrentVersion [V: SAM#291].
pub const ALIAS_MISMATCH: &str =
    "The Lambda function alias version does not match the current version in AppSpec file.";
/// How often a node that is not the deployment engine looks for the engine's lease.
const FOLLOWER_TICK: Duration = Duration::from_secs(1);
/// Longest sleep of the scheduler with nothing due.
const IDLE_SLEEP: Duration = Duration::from_secs(60);
/// The same with several nodes (the API call may land on a node that does not run the engine).
const SHARED_IDLE_SLEEP: Duration = Duration::from_secs(1);
/// Poll interval while any deployment is active (alarms are also checked on every tick).
const ACTIVE_TICK: Duration = Duration::from_secs(1);

pub(crate) struct Inner {
    pub store: Store,
    pub control: Arc<Control>,
    pub wake: Notify,
    /// Serialises the scheduler's passes with API mutations of deployments.
    pub lock: Mutex<()>,
    pub hook_timeout_ms: i64,
    /// Whether this node walks deployments (several nodes: the holder of the `codedeploy`
    /// lease); unset is one node alone.
    pub duties: std::sync::OnceLock<Arc<dyn stdx::duty::Duties>>,
}

impl Inner {
    pub fn new(store: Store, control: Arc<Control>, hook_timeout: Duration) -> Inner {
        let hook_timeout_ms = i64::try_from(hook_timeout.as_millis()).unwrap_or(i64::MAX);
        Inner {
            store,
            control,
            wake: Notify::new(),
            lock: Mutex::new(()),
            hook_timeout_ms,
            duties: std::sync::OnceLock::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Created,
    PreHook,
    Shifting,
    PostHook,
    Done,
}

/// One hook execution: invoked at most once (`invoked_ms` is written before the invoke).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hook {
    pub event: String,
    pub function: String,
    pub token: String,
    pub invoked_ms: Option<i64>,
    pub deadline_ms: Option<i64>,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleEvent {
    pub name: String,
    pub status: String,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
}

/// A deployment's durable state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub id: String,
    pub account: String,
    pub region: String,
    pub application: String,
    pub group: String,
    pub config_name: String,
    pub plan: Plan,
    /// Snapshots taken at create time.
    pub alarm_config: Value,
    pub rollback_config: Value,
    pub override_alarms: bool,
    pub creator: String,
    pub description: Option<String>,
    /// The revision as sent (content removed when shown by GetDeployment).
    pub revision: Value,
    pub content: String,
    pub sha256: String,
    pub spec: Option<Spec>,
    pub spec_error: Option<String>,
    pub status: String,
    pub phase: Phase,
    pub error: Option<(String, String)>,
    pub rollback_deployment_id: Option<String>,
    pub rollback_triggering_id: Option<String>,
    pub rollback_message: Option<String>,
    pub create_ms: i64,
    pub start_ms: Option<i64>,
    pub complete_ms: Option<i64>,
    pub next_due_ms: Option<i64>,
    /// The alias writes of the shift and how many are done.
    pub steps: Vec<AliasState>,
    pub step: usize,
    /// The alias as Versa last wrote it.
    pub alias_state: Option<AliasState>,
    pub last_revision: Option<String>,
    pub hooks: Vec<Hook>,
    pub events: Vec<LifecycleEvent>,
    pub messages: Vec<String>,
    /// A rollback deployment (creator `codeDeployRollback`): AllAtOnce to `spec.target`, no hooks.
    pub is_rollback: bool,
    /// The document as read from the store: a save replaces only that (compare-and-set), so
    /// the engine and a StopDeployment on another node never overwrite each other's step.
    /// `None`: a new deployment.
    #[serde(skip)]
    pub stored: Option<String>,
    /// Set when the engine's pass read it: the engine's lease, checked in its saves (a stale
    /// engine writes nothing). `None`: an API call's write (CAS only).
    #[serde(skip)]
    pub fence: Option<stdx::duty::Fence>,
}

/// Why a save changed nothing.
enum Saved {
    Done,
    /// The engine's lease moved to another node (or ended) since this pass began.
    Fenced,
    /// Someone else saved the deployment since it was read.
    Moved,
}

impl Deployment {
    /// Who the alias history names for this deployment's alias writes.
    fn actor(&self, rollback: bool) -> control::Actor {
        control::Actor::Deployment { id: self.id.clone(), rollback }
    }

    pub fn row(&self) -> CdDeploymentRow {
        CdDeploymentRow {
            id: self.id.clone(),
            account: self.account.clone(),
            region: self.region.clone(),
            application: self.application.clone(),
            group: self.group.clone(),
            active: self.phase != Phase::Done,
            next_due_ms: self.next_due_ms,
            create_ms: self.create_ms,
            doc: serde_json::to_string(self).unwrap_or_default(),
        }
    }

    pub fn parse(row: &CdDeploymentRow) -> Result<Deployment, StoreError> {
        let mut d: Deployment =
            serde_json::from_str(&row.doc).map_err(|e| StoreError::Corrupt(format!("deployment {}: {e}", row.id)))?;
        // The row's names win: a renamed application or group moves its deployments by them
        // alone (`WriteTx::rename_cd_deployments`), leaving the documents as they were.
        (d.application, d.group) = (row.application.clone(), row.group.clone());
        d.stored = Some(row.doc.clone());
        Ok(d)
    }

    pub fn scope(&self) -> Option<Scope> {
        Some(Scope {
            account: model::scope::AccountId::parse(&self.account)?,
            region: model::scope::Region::parse(&self.region)?,
        })
    }

    pub fn active(&self) -> bool {
        self.phase != Phase::Done
    }

    fn event_mut(&mut self, name: &str) -> Option<&mut LifecycleEvent> {
        self.events.iter_mut().find(|e| e.name == name)
    }

    fn set_event(&mut self, name: &str, status: &str, now: i64) {
        if let Some(e) = self.event_mut(name) {
            if e.start_ms.is_none() {
                e.start_ms = Some(now);
            }
            if status != "InProgress" {
                e.end_ms = Some(now);
            }
            e.status = status.to_owned();
        }
    }

    /// Whether a rollback is configured for `event` (DEPLOYMENT_FAILURE, …).
    pub fn rolls_back_on(&self, event: &str) -> bool {
        self.rollback_config["enabled"].as_bool() == Some(true)
            && self.rollback_config["events"].as_array().is_some_and(|a| a.iter().any(|e| e.as_str() == Some(event)))
    }

    /// The alarms to watch (the group's or the override), if enabled.
    pub fn alarm_names(&self) -> Vec<String> {
        if self.alarm_config["enabled"].as_bool() != Some(true) {
            return Vec::new();
        }
        self.alarm_config["alarms"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["name"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

/// A new deployment id: `d-` and 9 of `[A-Z0-9]`.
pub fn new_deployment_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let tail: String = bytes.iter().take(9).map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect();
    format!("d-{tail}")
}

/// An opaque hook execution id, shaped like AWS's (base64 of a JSON object).
pub fn new_hook_token() -> String {
    use base64::Engine as _;
    let inner = json!({
        "encryptedData": uuid::Uuid::new_v4().simple().to_string(),
        "ivParameterSpec": uuid::Uuid::new_v4().simple().to_string(),
        "materialSetSerial": 1,
    });
    base64::engine::general_purpose::STANDARD.encode(inner.to_string())
}

/// THE alias write of the engine: every deployment step and rollback goes through here, with
/// the control plane's own UpdateAlias (weights visible to GetAlias and invocations; the
/// resolution cache dropped). `expect`: the RevisionId the alias must still have.
pub(crate) async fn write_alias(
    control: &Control,
    scope: &Scope,
    function: &str,
    alias: &str,
    state: AliasState,
    expect: Option<String>,
    actor: control::Actor,
) -> Result<String, ControlError> {
    let weights = state.weight.map(|(v, w)| [(v.to_string(), Some(w))].into_iter().collect());
    let input = AliasUpdate {
        function_version: Some(state.primary.to_string()),
        description: None,
        routing: Some(RoutingInput { additional_version_weights: Some(weights.unwrap_or_default()) }),
        revision_id: expect,
    };
    let view = control.update_alias_as(scope, function, alias, input, actor).await?;
    Ok(view.alias.revision_id.0)
}

/// Reads the alias as `(state, revision)`.
async fn read_alias(
    control: &Control,
    scope: &Scope,
    function: &str,
    alias: &str,
) -> Result<(AliasState, String), ControlError> {
    let view = control.get_alias(scope, function, alias).await?;
    let a = view.alias;
    let primary = match a.function_version {
        Version::Published(n) => n,
        Version::Latest => 0,
    };
    let weight = a.routing.filter(|r| r.weight > 0.0).map(|r| (r.version, r.weight));
    Ok((AliasState { primary, weight }, a.revision_id.0))
}

fn same(a: &AliasState, b: &AliasState) -> bool {
    a.primary == b.primary
        && match (a.weight, b.weight) {
            (None, None) => true,
            (Some((v, w)), Some((v2, w2))) => v == v2 && (w - w2).abs() < 1e-9,
            _ => false,
        }
}

/// The error code of a save that changed nothing (see [`crate::CodeDeploy::save`]).
pub(crate) const MOVED: &str = "InvalidDeploymentStatusException";

/// What a tick decided to do after its durable write.
enum Effect {
    None,
    InvokeHook { function: String, payload: Vec<u8> },
}

impl crate::CodeDeploy {
    /// Starts the scheduler: alarms are evaluated first (after a restart, overdue alarms decide
    /// before any deployment resumes), then deployments are walked.
    pub fn start(&self, alarms: alarms::Alarms) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = alarms.evaluate_round().await {
                tracing::warn!("deployments: cannot evaluate alarms before resuming: {e:?}");
            }
            let mut changes = alarms.subscribe();
            loop {
                if !this.leads() {
                    // Another node walks the deployments; look again for the lease soon.
                    tokio::select! {
                        () = tokio::time::sleep(FOLLOWER_TICK) => {}
                        () = this.inner.wake.notified() => {}
                    }
                    continue;
                }
                let next = match this.pass().await {
                    Ok(next) => next,
                    Err(e) => {
                        tracing::warn!("deployments: {e:?}");
                        Some(stdx::time::now_ms() + 1_000)
                    }
                };
                let now = stdx::time::now_ms();
                let sleep = match next {
                    Some(due) => Duration::from_millis(u64::try_from(due - now).unwrap_or(0)).min(ACTIVE_TICK),
                    // Several nodes: a deployment created on another node pokes that node,
                    // not this one, so the engine looks at the store again soon.
                    None if this.inner.duties.get().is_some() => SHARED_IDLE_SLEEP,
                    None => IDLE_SLEEP,
                };
                tokio::select! {
                    () = tokio::time::sleep(sleep) => {}
                    () = this.inner.wake.notified() => {}
                    r = changes.recv() => {
                        if let Err(tokio::sync::broadcast::error::RecvError::Closed) = r {
                            changes = alarms.subscribe();
                        }
                    }
                }
            }
        })
    }

    /// Several nodes: walk deployments only while `duties` leads
    /// [`stdx::duty::task::CODEDEPLOY`] (set before [`crate::CodeDeploy::start`]; once).
    pub fn set_duties(&self, duties: Arc<dyn stdx::duty::Duties>) {
        let _ = self.inner.duties.set(duties);
    }

    /// Whether this node's scheduler walks the deployments now.
    pub fn leads(&self) -> bool {
        self.inner.duties.get().is_none_or(|d| d.leads(stdx::duty::task::CODEDEPLOY))
    }

    /// Wakes the scheduler.
    pub fn poke(&self) {
        self.inner.wake.notify_one();
    }

    /// One pass over the active deployments; the earliest due time left.
    pub async fn pass(&self) -> Result<Option<i64>, Error> {
        let _guard = self.inner.lock.lock().await;
        let rows = self.inner.store.read(|tx| tx.cd_active_deployments(crate::ACTIVE_PER_PASS_MAX)).await?;
        // A full pass may have left due deployments behind: go again at once.
        let mut next: Option<i64> = (rows.len() >= crate::ACTIVE_PER_PASS_MAX).then(stdx::time::now_ms);
        let fence = self.inner.duties.get().and_then(|d| d.fence(stdx::duty::task::CODEDEPLOY));
        for row in rows {
            let mut d = Deployment::parse(&row)?;
            d.fence = fence.clone();
            if let Err(e) = self.tick(&mut d).await {
                tracing::warn!(deployment = %d.id, "deployment tick: {e:?}");
            }
            if d.active() {
                let due = d.next_due_ms.unwrap_or(i64::MAX);
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        Ok(next)
    }

    /// Saves `d` (and `also`, a new rollback deployment) in one transaction: only if `d` is
    /// still what was read (compare-and-set) and, for the engine, only while this node holds
    /// the engine's lease at the epoch the pass began with (fencing).
    pub(crate) async fn save(&self, d: &mut Deployment, also: Option<Deployment>) -> Result<(), Error> {
        let (row, other) = (d.row(), also.map(|o| o.row()));
        let (expected, fence, doc) = (d.stored.clone(), d.fence.clone(), row.doc.clone());
        let saved = self
            .inner
            .store
            .write(move |tx| {
                if let Some(f) = &fence
                    && !tx.lease_holds(stdx::duty::task::CODEDEPLOY, &f.holder, f.epoch)?
                {
                    return Ok::<_, StoreError>(Saved::Fenced);
                }
                match &expected {
                    Some(e) => {
                        if !tx.replace_cd_deployment(&row, e)? {
                            return Ok(Saved::Moved);
                        }
                    }
                    None => tx.put_cd_deployment(&row)?,
                }
                if let Some(o) = other {
                    tx.put_cd_deployment(&o)?;
                }
                Ok(Saved::Done)
            })
            .await?;
        match saved {
            Saved::Done => {
                d.stored = Some(doc);
                Ok(())
            }
            Saved::Fenced => {
                tracing::warn!(deployment = %d.id, epoch = d.fence.as_ref().map_or(0, |f| f.epoch), "the deployment engine's lease moved on: this node's step is dropped");
                Err(Error::new(MOVED, "The deployment engine moved to another node; try again."))
            }
            Saved::Moved => {
                tracing::warn!(deployment = %d.id, "the deployment changed meanwhile (another node); this step is dropped");
                Err(Error::new(MOVED, format!("The deployment {} changed meanwhile; try again.", d.id)))
            }
        }
    }

    /// The first alarm of the deployment in ALARM. A missing alarm counts as OK (reference
    /// §1.6), with a warning in `deploymentStatusMessages` (saved with the next transition).
    async fn alarm_firing(&self, d: &mut Deployment) -> Result<Option<String>, Error> {
        let names = d.alarm_names();
        if names.is_empty() {
            return Ok(None);
        }
        let (account, region) = (d.account.clone(), d.region.clone());
        let (firing, missing) = self
            .inner
            .store
            .read(move |tx| {
                let mut missing = Vec::new();
                for n in names {
                    match tx.alarm(&account, &region, &n)? {
                        Some(a) if a.state == "ALARM" => return Ok::<_, StoreError>((Some(n), missing)),
                        Some(_) => {}
                        None => missing.push(n),
                    }
                }
                Ok((None, missing))
            })
            .await?;
        for n in missing {
            let m = format!("The alarm {n} does not exist; it is treated as OK, so the deployment may not roll back.");
            if !d.messages.contains(&m) {
                d.messages.push(m);
            }
        }
        Ok(firing)
    }

    /// Advances one deployment by at most one step.
    async fn tick(&self, d: &mut Deployment) -> Result<(), Error> {
        let now = stdx::time::now_ms();
        if !d.is_rollback
            && let Some(alarm) = self.alarm_firing(d).await?
        {
            let message = format!(
                "One or more alarms have been activated according to the Amazon CloudWatch metrics you selected, and the affected deployments have been stopped. Activated alarms: <{alarm}>"
            );
            return self
                .end(d, "Stopped", "ALARM_ACTIVE", &message, d.rolls_back_on("DEPLOYMENT_STOP_ON_ALARM"), true)
                .await;
        }
        let Some(scope) = d.scope() else { return Ok(()) };
        let due = d.next_due_ms.is_none_or(|t| t <= now);
        let effect = match d.phase {
            Phase::Done => return Ok(()),
            Phase::Created => {
                self.start_deployment(d, &scope, now).await?;
                Effect::None
            }
            Phase::PreHook | Phase::PostHook => {
                let event = if d.phase == Phase::PreHook { "BeforeAllowTraffic" } else { "AfterAllowTraffic" };
                let Some(i) = d.hooks.iter().position(|h| h.event == event) else {
                    self.after_hook(d, now).await?;
                    return Ok(());
                };
                let hook = d.hooks[i].clone();
                match (hook.invoked_ms, hook.status.as_str()) {
                    (None, _) => {
                        // At most once: the invocation is recorded before it is queued.
                        d.hooks[i].invoked_ms = Some(now);
                        d.hooks[i].deadline_ms = Some(now + self.inner.hook_timeout_ms);
                        d.hooks[i].status = "InProgress".to_owned();
                        d.set_event(event, "InProgress", now);
                        d.next_due_ms = d.hooks[i].deadline_ms;
                        let payload = json!({"DeploymentId": d.id, "LifecycleEventHookExecutionId": hook.token});
                        Effect::InvokeHook { function: hook.function, payload: payload.to_string().into_bytes() }
                    }
                    (Some(_), "Succeeded") => {
                        d.set_event(event, "Succeeded", now);
                        self.after_hook(d, now).await?;
                        return Ok(());
                    }
                    (Some(_), "Failed") => {
                        d.set_event(event, "Failed", now);
                        let m =
                            format!("The deployment failed because a specified lifecycle event hook ({event}) failed.");
                        return self
                            .end(d, "Failed", "HOOK_EXECUTION_FAILURE", &m, d.rolls_back_on("DEPLOYMENT_FAILURE"), true)
                            .await;
                    }
                    (Some(_), _) if hook.deadline_ms.is_some_and(|t| t <= now) => {
                        d.hooks[i].status = "Failed".to_owned();
                        d.set_event(event, "Failed", now);
                        let m = format!(
                            "The deployment failed because a specified lifecycle event hook ({event}) did not report its status within the time allowed (the hook timed out)."
                        );
                        return self
                            .end(d, "Failed", "HOOK_EXECUTION_FAILURE", &m, d.rolls_back_on("DEPLOYMENT_FAILURE"), true)
                            .await;
                    }
                    _ => return Ok(()),
                }
            }
            Phase::Shifting => {
                if !due {
                    return Ok(());
                }
                self.shift(d, &scope, now).await?;
                Effect::None
            }
        };
        self.save(d, None).await?;
        if let Effect::InvokeHook { function, payload } = effect {
            let request_id = uuid::Uuid::new_v4().to_string();
            if let Err(e) = self.inner.control.enqueue_invoke(&scope, &function, None, payload, &request_id).await {
                let event = if d.phase == Phase::PreHook { "BeforeAllowTraffic" } else { "AfterAllowTraffic" };
                d.set_event(event, "Failed", now);
                let m = format!(
                    "The deployment failed because the lifecycle event hook function {function} could not be invoked: {e}"
                );
                return self
                    .end(d, "Failed", "HOOK_EXECUTION_FAILURE", &m, d.rolls_back_on("DEPLOYMENT_FAILURE"), true)
                    .await;
            }
        }
        Ok(())
    }

    /// Created → validation → PreHook or Shifting.
    async fn start_deployment(&self, d: &mut Deployment, scope: &Scope, now: i64) -> Result<(), Error> {
        d.status = "InProgress".to_owned();
        d.start_ms = Some(now);
        if let Some(e) = d.spec_error.clone() {
            tracing::debug!(deployment = %d.id, "bad AppSpec: {e}");
            return self.end(d, "Failed", "INVALID_LAMBDA_CONFIGURATION", INVALID_CONFIG, false, false).await;
        }
        let Some(spec) = d.spec.clone() else { return Ok(()) };
        if spec.current == spec.target && !d.is_rollback {
            return self.end(d, "Failed", "INVALID_LAMBDA_CONFIGURATION", INVALID_CONFIG, false, false).await;
        }
        let control = &self.inner.control;
        for v in [spec.current, spec.target] {
            if let Err(e) = control.get_function(scope, &spec.function, Some(&v.to_string())).await {
                let m = format!(
                    "The deployment failed because the AWS Lambda function {}:{v} cannot be found: {e}",
                    spec.function
                );
                return self.end(d, "Failed", "INVALID_LAMBDA_FUNCTION", &m, false, false).await;
            }
        }
        let (alias, revision) = match read_alias(control, scope, &spec.function, &spec.alias).await {
            Ok(a) => a,
            Err(e) => {
                let m = format!(
                    "The deployment failed because the alias {} of the AWS Lambda function {} cannot be found: {e}",
                    spec.alias, spec.function
                );
                return self.end(d, "Failed", "INVALID_LAMBDA_FUNCTION", &m, false, false).await;
            }
        };
        if alias.primary != spec.current && !d.is_rollback {
            let m = format!("{INVALID_CONFIG} {ALIAS_MISMATCH}");
            return self.end(d, "Failed", "INVALID_LAMBDA_CONFIGURATION", &m, false, false).await;
        }
        d.last_revision = Some(revision);
        d.alias_state = Some(alias);
        d.steps = if d.is_rollback {
            vec![AliasState { primary: spec.target, weight: None }]
        } else {
            d.plan.steps(spec.current, spec.target)
        };
        d.step = 0;
        d.next_due_ms = Some(now);
        d.phase =
            if d.hooks.iter().any(|h| h.event == "BeforeAllowTraffic") { Phase::PreHook } else { Phase::Shifting };
        if d.phase == Phase::Shifting {
            d.set_event("BeforeAllowTraffic", "Skipped", now);
        }
        Ok(())
    }

    /// A hook phase succeeded (or had no hook): on to shifting, or to the end.
    async fn after_hook(&self, d: &mut Deployment, now: i64) -> Result<(), Error> {
        if d.phase == Phase::PreHook {
            d.phase = Phase::Shifting;
            d.next_due_ms = Some(now);
            self.save(d, None).await?;
            self.poke();
            return Ok(());
        }
        if !d.hooks.iter().any(|h| h.event == "AfterAllowTraffic") {
            d.set_event("AfterAllowTraffic", "Skipped", now);
        }
        // Alarms were checked at the start of this tick, just before Succeeded.
        d.phase = Phase::Done;
        d.status = "Succeeded".to_owned();
        d.complete_ms = Some(now);
        d.next_due_ms = None;
        self.save(d, None).await?;
        tracing::info!(deployment = %d.id, "deployment succeeded");
        Ok(())
    }

    /// One alias write of the shift, conditional on the alias being what Versa last wrote.
    async fn shift(&self, d: &mut Deployment, scope: &Scope, now: i64) -> Result<(), Error> {
        let Some(spec) = d.spec.clone() else { return Ok(()) };
        let Some(&want) = d.steps.get(d.step) else { return Ok(()) };
        let control = &self.inner.control;
        let current = read_alias(control, scope, &spec.function, &spec.alias).await;
        let revision = match current {
            // A write done just before a crash (the doc was not saved): adopt it.
            Ok((state, rev)) if same(&state, &want) => Some(rev),
            Ok((_, rev)) if d.is_rollback || Some(&rev) == d.last_revision.as_ref() => {
                match write_alias(control, scope, &spec.function, &spec.alias, want, Some(rev), d.actor(d.is_rollback))
                    .await
                {
                    Ok(r) => Some(r),
                    Err(ControlError::PreconditionFailed(_)) => None,
                    Err(e) => return Err(Error::new("InternalFailure", e.to_string())),
                }
            }
            _ => None,
        };
        let Some(revision) = revision else {
            let m = format!("{INVALID_CONFIG} The Lambda function alias was changed during the deployment.");
            return self
                .end(d, "Failed", "INVALID_LAMBDA_CONFIGURATION", &m, d.rolls_back_on("DEPLOYMENT_FAILURE"), false)
                .await;
        };
        tracing::info!(deployment = %d.id, step = d.step, primary = want.primary, weight = ?want.weight, "alias written");
        d.last_revision = Some(revision);
        d.alias_state = Some(want);
        d.step += 1;
        if d.step == 1 {
            d.set_event("AllowTraffic", "InProgress", now);
        }
        if d.step >= d.steps.len() {
            d.set_event("AllowTraffic", "Succeeded", now);
            d.phase = Phase::PostHook;
            d.next_due_ms = Some(now);
        } else {
            // Catch-up rule: the next step is one interval after this write, never sooner.
            d.next_due_ms = Some(now + d.plan.interval_ms());
        }
        Ok(())
    }

    /// Ends a deployment: `(C,{})` when traffic moved (`restore`), and a rollback deployment
    /// when `rollback`. Both records are written in one transaction.
    pub(crate) async fn end(
        &self,
        d: &mut Deployment,
        status: &str,
        code: &str,
        message: &str,
        rollback: bool,
        restore: bool,
    ) -> Result<(), Error> {
        let now = stdx::time::now_ms();
        if let (true, Some(spec), Some(scope)) = (restore, d.spec.clone(), d.scope()) {
            let moved = d.alias_state.is_some_and(|s| s.primary != spec.current || s.weight.is_some());
            if moved {
                let back = AliasState { primary: spec.current, weight: None };
                match write_alias(
                    &self.inner.control,
                    &scope,
                    &spec.function,
                    &spec.alias,
                    back,
                    d.last_revision.clone(),
                    d.actor(true),
                )
                .await
                {
                    Ok(r) => {
                        d.last_revision = Some(r);
                        d.alias_state = Some(back);
                    }
                    Err(e) => d.messages.push(format!("The alias was not moved back: {e}")),
                }
            }
        }
        d.status = status.to_owned();
        d.error = Some((code.to_owned(), message.to_owned()));
        d.phase = Phase::Done;
        d.complete_ms = Some(now);
        d.next_due_ms = None;
        if d.start_ms.is_none() {
            d.start_ms = Some(now);
        }
        for e in &mut d.events {
            if e.status == "Pending" {
                e.status = "Skipped".to_owned();
            } else if e.status == "InProgress" {
                e.status = if status == "Stopped" { "Skipped".to_owned() } else { "Failed".to_owned() };
                e.end_ms = Some(now);
            }
        }
        let rollback_deployment = match (rollback, &d.spec) {
            (true, Some(spec)) => {
                let id = new_deployment_id();
                d.rollback_deployment_id = Some(id.clone());
                let mut r = d.clone();
                r.id = id;
                r.creator = "codeDeployRollback".to_owned();
                r.spec = Some(Spec {
                    current: spec.target,
                    target: spec.current,
                    before_allow_traffic: None,
                    after_allow_traffic: None,
                    ..spec.clone()
                });
                r.plan = Plan { routing: crate::configs::Routing::AllAtOnce, seconds: false };
                r.config_name = "CodeDeployDefault.LambdaAllAtOnce".to_owned();
                r.status = "Created".to_owned();
                r.phase = Phase::Created;
                r.error = None;
                r.rollback_deployment_id = None;
                r.rollback_triggering_id = Some(d.id.clone());
                r.rollback_message = Some(format!("Rollback deployment for {}", d.id));
                r.create_ms = now;
                r.start_ms = None;
                r.complete_ms = None;
                r.next_due_ms = Some(now);
                r.steps = Vec::new();
                r.step = 0;
                r.hooks = Vec::new();
                r.events = new_events();
                r.messages = Vec::new();
                r.is_rollback = true;
                d.rollback_message = Some(format!("Deployment {} was rolled back by {}", d.id, r.id));
                Some(r)
            }
            _ => None,
        };
        self.save(d, rollback_deployment).await?;
        tracing::info!(deployment = %d.id, status, code, "deployment ended");
        self.poke();
        Ok(())
    }
}

/// The three Lambda lifecycle events, pending.
pub fn new_events() -> Vec<LifecycleEvent> {
    ["BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"]
        .iter()
        .map(|n| LifecycleEvent { name: (*n).to_owned(), status: "Pending".to_owned(), start_ms: None, end_ms: None })
        .collect()
}
