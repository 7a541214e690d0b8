//! Provisioned concurrency: environments started ahead of traffic for an alias or a
//! published version, initialized with `AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency`.
//!
//! Configs are kept per (function, qualifier), as the API shows them; their environments per
//! (function, version), as invocations take them: an environment provisioned through an alias
//! serves its version however that version is invoked (through the alias, by its number, or
//! through another alias). A config's environments form one [`Slice`] per version it applies
//! to: one, or two for a weighted alias, which splits its count by weight.
//!
//! [`start`] follows the control plane's change notices and re-applies a function's plan
//! whenever its aliases or configs change: slices of versions no longer wanted are stopped, a
//! changed count grows or shrinks a slice in place, so its environments keep serving. An
//! invocation takes an idle provisioned environment of its version first and otherwise runs on
//! demand; a provisioned environment that dies is replaced.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use control::{Control, ProvisionedPlan, ProvisionedView};
use model::function::FunctionId;
use model::name::Version;
use model::scope::Scope;

use crate::env::Env;
use crate::{ColdStart, Engine, Target};

/// Environments of one slice started at once.
const START_PARALLEL_MAX: usize = 4;

/// `StatusReason` of a config whose environments could not initialize (AWS's text).
pub const INIT_FAILURE: &str = "FUNCTION_ERROR_INIT_FAILURE";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    InProgress,
    Ready,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "IN_PROGRESS",
            Status::Ready => "READY",
            Status::Failed => "FAILED",
        }
    }
}

/// Every provisioned config the engine knows of, and their environments.
#[derive(Default)]
pub(crate) struct Provisioned {
    /// Per (function, alias or version), as configured.
    configs: HashMap<(FunctionId, String), Config>,
    /// Per (function, version): the slices of every config that applies to that version.
    slices: HashMap<(FunctionId, Version), Vec<Slice>>,
}

/// A config as last applied.
struct Config {
    scope: Scope,
    function_name: String,
    requested: u32,
    last_modified_ms: i64,
    /// The versions its slices run.
    versions: Vec<Version>,
}

/// The environments of one version kept for one config.
struct Slice {
    /// The config's alias or version.
    qualifier: String,
    /// Unique per slice; environments of a slice that is gone are not returned to another.
    generation: u64,
    /// What its environments run, to start more.
    target: Target,
    wanted: u32,
    idle: Vec<Arc<Env>>,
    /// Ready environments, idle or busy.
    alive: u32,
    /// Environments being started.
    starting: u32,
    /// All wanted environments were ready once since the count last grew.
    ready: bool,
    /// Why environments could not be started; nothing more is started.
    failed: Option<String>,
}

impl Slice {
    /// How many more environments to start to reach `wanted`, counted as starting.
    fn start_more(&mut self) -> u32 {
        if self.failed.is_some() {
            return 0;
        }
        let more = self.wanted.saturating_sub(self.alive + self.starting);
        self.starting += more;
        more
    }

    /// Stops the idle environments; returns how many.
    fn kill_idle(&mut self) -> usize {
        let idle = std::mem::take(&mut self.idle);
        self.alive -= idle.len() as u32;
        for env in &idle {
            env.kill();
        }
        idle.len()
    }
}

impl Provisioned {
    fn slice(&mut self, function: FunctionId, version: Version, generation: u64) -> Option<&mut Slice> {
        self.slices.get_mut(&(function, version))?.iter_mut().find(|s| s.generation == generation)
    }

    fn slice_count(&self) -> usize {
        self.slices.values().map(Vec::len).sum()
    }
}

/// What GetProvisionedConcurrencyConfig reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetStatus {
    pub status: Status,
    pub available: u32,
    pub allocated: u32,
    pub reason: Option<String>,
}

static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// What provisioned environments are busy when an invocation takes one (for the metrics).
#[derive(Debug, Clone)]
pub(crate) struct InUse {
    /// The alias or version of the config whose environment it took.
    pub(crate) qualifier: String,
    /// Busy environments of that config (this invocation's included), and what it allocates.
    pub(crate) config: u32,
    pub(crate) allocated: u32,
    /// Busy provisioned environments of the function, and of its account and region.
    pub(crate) function: u32,
    pub(crate) account: u32,
}

/// A slice's identity, to find it again when its environments come back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SliceId {
    function: FunctionId,
    version: Version,
    generation: u64,
}

impl Engine {
    fn provisioned_lock(&self) -> std::sync::MutexGuard<'_, Provisioned> {
        self.provisioned.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The part of a function's provisioned concurrency that holds nothing because its
    /// environments failed to initialize: nothing is allocated for it, so it is not carved out
    /// of the function's reservation.
    pub(crate) fn provisioned_failed(&self, function: FunctionId) -> u32 {
        if self.provisioned_slices.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        let p = self.provisioned_lock();
        p.slices
            .iter()
            .filter(|((f, _), _)| *f == function)
            .flat_map(|(_, slices)| slices)
            .filter(|s| s.failed.is_some())
            .map(|s| s.wanted)
            .sum()
    }

    fn forget_environments(&self, n: usize) {
        if n > 0 {
            self.pools.lock().unwrap_or_else(|e| e.into_inner()).live -= n;
        }
    }

    /// The state of a config's environments; `None` while the engine has not applied the
    /// config as it is now (its last change, or its alias's versions). `IN_PROGRESS` until every
    /// wanted environment was ready, with nothing allocated (as AWS reports it); `READY` with
    /// the requested number allocated.
    pub fn provisioned_status(&self, view: &ProvisionedView) -> Option<SetStatus> {
        let (function, qualifier) = (view.function_id, view.config.qualifier.as_str());
        let p = self.provisioned_lock();
        let c = p.configs.get(&(function, qualifier.to_owned()))?;
        if c.last_modified_ms != view.config.last_modified_ms || c.versions != view.versions {
            return None;
        }
        let requested = c.requested;
        let mut status = Status::Ready;
        for &version in &c.versions {
            let slice = p.slices.get(&(function, version)).and_then(|v| v.iter().find(|s| s.qualifier == qualifier));
            match slice {
                Some(s) if s.failed.is_some() => {
                    return Some(SetStatus {
                        status: Status::Failed,
                        available: 0,
                        allocated: 0,
                        reason: s.failed.clone(),
                    });
                }
                Some(s) if s.ready => {}
                _ => status = Status::InProgress,
            }
        }
        let allocated = if status == Status::Ready { requested } else { 0 };
        Some(SetStatus { status, available: allocated, allocated, reason: None })
    }

    /// An idle provisioned environment of the target's version, whichever config it was
    /// started for, and what is busy then (counted only when metrics are recorded). A dead one
    /// found on the way is replaced.
    pub(crate) fn take_provisioned(self: &Arc<Self>, target: &Target) -> Option<(SliceId, Arc<Env>, Option<InUse>)> {
        // Most functions have no provisioned concurrency: their invokes skip the lock.
        if self.provisioned_slices.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut found = None;
        let mut config = None;
        let mut in_use = None;
        let mut dead = 0;
        let mut refill = Vec::new();
        {
            let mut p = self.provisioned_lock();
            let p = &mut *p;
            let slices = p.slices.get_mut(&(target.function_id, target.version))?;
            for s in slices.iter_mut() {
                // A changed `$LATEST` never meets an environment of its old revision.
                if target.version == Version::Latest && s.target.record.config_rev != target.record.config_rev {
                    continue;
                }
                let id = SliceId { function: target.function_id, version: target.version, generation: s.generation };
                while let Some(env) = s.idle.pop() {
                    if env.is_alive() {
                        found = Some((id, env));
                        break;
                    }
                    env.kill();
                    s.alive -= 1;
                    dead += 1;
                }
                if dead > 0 {
                    let more = s.start_more();
                    if more > 0 {
                        refill.push((id, s.target.clone(), more));
                    }
                }
                if found.is_some() {
                    if self.config.metrics.is_some() {
                        config = Some(s.qualifier.clone());
                    }
                    break;
                }
            }
            if let Some(qualifier) = config {
                in_use = Some(Self::in_use(p, target, qualifier));
            }
        }
        self.forget_environments(dead);
        for (id, target, n) in refill {
            self.fill(id, target, n);
        }
        found.map(|(id, env)| (id, env, in_use))
    }

    /// Busy provisioned environments of the config `qualifier` of the target's function, of the
    /// function and of its account and region (bounded by the slices: one per config and version).
    fn in_use(p: &Provisioned, target: &Target, qualifier: String) -> InUse {
        let mut u = InUse { qualifier, config: 0, allocated: 0, function: 0, account: 0 };
        for ((function, _), slices) in &p.slices {
            for s in slices {
                if s.target.scope != target.scope {
                    continue;
                }
                let busy = s.alive.saturating_sub(s.idle.len() as u32);
                u.account += busy;
                if *function == target.function_id {
                    u.function += busy;
                    if s.qualifier == u.qualifier {
                        u.config += busy;
                    }
                }
            }
        }
        u.allocated = p.configs.get(&(target.function_id, u.qualifier.clone())).map_or(0, |c| c.requested);
        u
    }

    /// Returns a provisioned environment after an invocation; one that died is replaced.
    pub(crate) fn release_provisioned(self: &Arc<Self>, id: SliceId, env: Arc<Env>, healthy: bool) {
        let mut p = self.provisioned_lock();
        let Some(s) = p.slice(id.function, id.version, id.generation) else {
            drop(p);
            env.kill();
            self.forget_environments(1);
            return;
        };
        // A slice that shrank keeps only what it wants now.
        if healthy && env.is_alive() && s.failed.is_none() && s.alive <= s.wanted {
            s.idle.push(env);
            return;
        }
        env.kill();
        s.alive -= 1;
        let more = s.start_more();
        let target = s.target.clone();
        drop(p);
        self.forget_environments(1);
        if more > 0 {
            self.fill(id, target, more);
        }
    }

    /// Makes a function's provisioned environments match `plan`: stops slices of versions
    /// no longer wanted, resizes the others, and starts the missing ones.
    pub fn apply_provisioned(self: &Arc<Self>, scope: &Scope, function: &str, plan: Vec<ProvisionedPlan>) {
        let mut p = self.provisioned_lock();
        let ours = |s: &Scope, name: &str| s == scope && name == function;
        // What each config was when last applied, to retry a failed one that was put again.
        let mut before: HashMap<String, i64> = HashMap::new();
        p.configs.retain(|(_, q), c| {
            if !ours(&c.scope, &c.function_name) {
                return true;
            }
            before.insert(q.clone(), c.last_modified_ms);
            false
        });
        // Slices wanted: (function, version, qualifier) → (count, target).
        let mut wanted: HashMap<(FunctionId, Version, String), (u32, Target)> = HashMap::new();
        for plan in &plan {
            let q = &plan.config.qualifier;
            p.configs.insert(
                (plan.function_id, q.clone()),
                Config {
                    scope: scope.clone(),
                    function_name: function.to_owned(),
                    requested: plan.config.requested,
                    last_modified_ms: plan.config.last_modified_ms,
                    versions: plan.parts.iter().map(|part| part.version).collect(),
                },
            );
            for part in &plan.parts {
                let target = Target {
                    scope: scope.clone(),
                    function_id: plan.function_id,
                    function_name: plan.function_name.clone(),
                    version: part.version,
                    record: part.record.clone(),
                    invoked_arn: model::arn::qualified_arn(scope, function, q),
                    reserved_concurrency: plan.reserved_concurrency,
                    unreserved_concurrency: u32::MAX,
                    provisioned_concurrency: 0,
                };
                wanted.insert((plan.function_id, part.version, q.clone()), (part.count, target));
            }
        }
        let modified: Vec<String> = plan
            .iter()
            .filter(|plan| before.get(&plan.config.qualifier).is_some_and(|t| *t != plan.config.last_modified_ms))
            .map(|plan| plan.config.qualifier.clone())
            .collect();

        let mut killed = 0;
        let mut to_fill = Vec::new();
        for ((function_id, version), slices) in p.slices.iter_mut() {
            slices.retain_mut(|s| {
                if !ours(&s.target.scope, &s.target.function_name) {
                    return true;
                }
                let key = (*function_id, *version, s.qualifier.clone());
                let keep = wanted.get(&key).is_some_and(|(_, t)| {
                    t.record.config_rev == s.target.record.config_rev
                        && !(s.failed.is_some() && modified.contains(&s.qualifier))
                });
                if !keep {
                    killed += s.kill_idle();
                    return false;
                }
                let (count, _) = wanted.remove(&key).expect("kept slices are wanted");
                if count > s.wanted {
                    s.wanted = count;
                    s.ready = false;
                } else if count < s.wanted {
                    s.wanted = count;
                    while s.alive > s.wanted {
                        let Some(env) = s.idle.pop() else { break };
                        env.kill();
                        s.alive -= 1;
                        killed += 1;
                    }
                }
                if s.alive >= s.wanted {
                    s.ready = true;
                }
                let more = s.start_more();
                if more > 0 {
                    let id = SliceId { function: *function_id, version: *version, generation: s.generation };
                    to_fill.push((id, s.target.clone(), more));
                }
                true
            });
        }
        p.slices.retain(|_, v| !v.is_empty());
        for ((function_id, version, qualifier), (count, target)) in wanted {
            let generation = GENERATIONS.fetch_add(1, Ordering::Relaxed);
            let mut slice = Slice {
                qualifier,
                generation,
                target: target.clone(),
                wanted: count,
                idle: Vec::new(),
                alive: 0,
                starting: 0,
                ready: false,
                failed: None,
            };
            let more = slice.start_more();
            p.slices.entry((function_id, version)).or_default().push(slice);
            to_fill.push((SliceId { function: function_id, version, generation }, target, more));
        }
        self.provisioned_slices.store(p.slice_count(), Ordering::Relaxed);
        drop(p);
        self.forget_environments(killed);
        for (id, target, n) in to_fill {
            self.fill(id, target, n);
        }
    }

    /// Starts `n` environments for a slice (already counted as starting), in the background.
    fn fill(self: &Arc<Self>, id: SliceId, target: Target, n: u32) {
        let engine = Arc::clone(self);
        tokio::spawn(async move {
            let runtime = target.record.config.runtime.clone().unwrap_or_else(|| "provided.al2023".to_owned());
            let launch = match engine.runtimes.resolve(&runtime) {
                Ok(l) => l,
                Err(why) => {
                    tracing::warn!(function = %target.function_name, version = %target.version, %why, "provisioned concurrency failed");
                    return engine.slice_failed(id, INIT_FAILURE.to_owned(), n);
                }
            };
            let mut left = n;
            while left > 0 {
                // A slice that failed (or is gone) starts nothing more.
                if !engine.slice_open(id) {
                    return engine.slice_failed(id, String::new(), left);
                }
                let batch = left.min(START_PARALLEL_MAX as u32);
                let mut starting = tokio::task::JoinSet::new();
                for _ in 0..batch {
                    {
                        let mut pools = engine.pools.lock().unwrap_or_else(|e| e.into_inner());
                        if pools.live >= engine.config.max_environments {
                            drop(pools);
                            // What this batch started still arrives below; the rest never starts.
                            let never = left - starting.len() as u32;
                            engine.slice_failed(id, "too many execution environments on this host".to_owned(), never);
                            left = starting.len() as u32;
                            break;
                        }
                        pools.live += 1;
                    }
                    let (engine, target, launch) = (engine.clone(), target.clone(), launch.clone());
                    starting.spawn(async move { engine.spawn_env(&target, &launch, "provisioned-concurrency").await });
                }
                left -= starting.len() as u32;
                while let Some(started) = starting.join_next().await {
                    match started {
                        Ok(Ok(ColdStart::Ready(env))) => engine.add_ready(id, env),
                        Ok(Ok(ColdStart::Failed { payload, env, log: _ })) => {
                            if let Some(env) = env {
                                env.kill();
                            }
                            engine.forget_environments(1);
                            tracing::warn!(
                                function = %target.function_name,
                                version = %target.version,
                                error = %String::from_utf8_lossy(&payload),
                                "a provisioned environment failed to initialize"
                            );
                            engine.slice_failed(id, INIT_FAILURE.to_owned(), 1);
                        }
                        Ok(Err(e)) => {
                            engine.forget_environments(1);
                            engine.slice_failed(id, e.to_string(), 1);
                        }
                        Err(_) => {
                            engine.forget_environments(1);
                            engine.slice_failed(id, "the environment's start was cancelled".to_owned(), 1);
                        }
                    }
                }
            }
        });
    }

    fn add_ready(&self, id: SliceId, env: Arc<Env>) {
        let mut p = self.provisioned_lock();
        if let Some(s) = p.slice(id.function, id.version, id.generation) {
            s.starting = s.starting.saturating_sub(1);
            if s.failed.is_none() && s.alive < s.wanted {
                s.idle.push(env);
                s.alive += 1;
                if s.alive >= s.wanted {
                    s.ready = true;
                }
                return;
            }
        }
        drop(p);
        env.kill();
        self.forget_environments(1);
    }

    /// Whether a slice still exists and has not failed.
    fn slice_open(&self, id: SliceId) -> bool {
        self.provisioned_lock().slice(id.function, id.version, id.generation).is_some_and(|s| s.failed.is_none())
    }

    /// Marks a slice failed: its idle environments stop and nothing more is started, until
    /// the config is put again or its alias moves. `not_started` environments counted as
    /// starting will not arrive.
    fn slice_failed(&self, id: SliceId, reason: String, not_started: u32) {
        let mut p = self.provisioned_lock();
        let Some(s) = p.slice(id.function, id.version, id.generation) else { return };
        s.starting = s.starting.saturating_sub(not_started);
        if s.failed.is_none() {
            s.failed = Some(reason);
            let killed = s.kill_idle();
            drop(p);
            self.forget_environments(killed);
        }
    }

    /// Stops every idle provisioned environment (server shutdown).
    pub(crate) fn stop_provisioned(&self) {
        let mut p = self.provisioned_lock();
        for (_, slices) in p.slices.drain() {
            for mut s in slices {
                s.kill_idle();
            }
        }
        p.configs.clear();
        self.provisioned_slices.store(0, Ordering::Relaxed);
    }
}

/// Follows the control plane's change notices and keeps provisioned environments in line
/// with every function's plan. Runs until the returned task is aborted.
pub fn start(control: Arc<Control>, engine: Arc<Engine>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut changes = control.changes();
        let reconcile_all = |control: Arc<Control>, engine: Arc<Engine>| async move {
            let mut functions = control.functions_with_provisioned().await.unwrap_or_default();
            let known: Vec<(Scope, String)> = {
                let p = engine.provisioned_lock();
                p.configs.values().map(|c| (c.scope.clone(), c.function_name.clone())).collect()
            };
            functions.extend(known);
            functions.sort_by(|a, b| {
                (a.0.account.as_str(), a.0.region.as_str(), &a.1).cmp(&(
                    b.0.account.as_str(),
                    b.0.region.as_str(),
                    &b.1,
                ))
            });
            functions.dedup();
            for (scope, name) in functions {
                reconcile(&control, &engine, &scope, &name).await;
            }
        };
        reconcile_all(control.clone(), engine.clone()).await;
        loop {
            match changes.recv().await {
                Ok(c) => reconcile(&control, &engine, &c.scope, &c.function).await,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    reconcile_all(control.clone(), engine.clone()).await;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    })
}

async fn reconcile(control: &Control, engine: &Arc<Engine>, scope: &Scope, function: &str) {
    let plan = match control.provisioned_plan(scope, function).await {
        Ok(plan) => plan,
        Err(e) => return tracing::warn!(function, error = %e, "cannot read the provisioned concurrency plan"),
    };
    let plan = match engine.node_id() {
        None => plan,
        Some(me) => match own_share(control, me, plan).await {
            Ok(plan) => plan,
            Err(e) => return tracing::warn!(function, error = %e, "cannot read the provisioned allocations"),
        },
    };
    engine.apply_provisioned(scope, function, plan);
}

/// Several nodes: the part of each config the planner allocated to this node (none until it
/// has planned), its versions' counts scaled down alike.
async fn own_share(
    control: &Control,
    me: &str,
    mut plan: Vec<ProvisionedPlan>,
) -> Result<Vec<ProvisionedPlan>, store::StoreError> {
    let Some(function) = plan.first().map(|p| p.function_id) else { return Ok(plan) };
    let rows = control.store().read(move |tx| tx.provisioned_allocations(function)).await?;
    plan.retain_mut(|p| {
        let share = rows
            .iter()
            .find(|a| a.qualifier == p.config.qualifier && a.node_id == me)
            .map_or(0, |a| a.count.min(p.config.requested));
        let total: u32 = p.parts.iter().map(|x| x.count).sum();
        p.config.requested = share;
        let mut left = share;
        let n = p.parts.len();
        for (i, part) in p.parts.iter_mut().enumerate() {
            let c = if i + 1 == n || total == 0 {
                left
            } else {
                (u64::from(part.count) * u64::from(share) / u64::from(total)) as u32
            };
            part.count = c.min(left);
            left -= part.count;
        }
        p.parts.retain(|x| x.count > 0);
        share > 0
    });
    Ok(plan)
}

/// What this node has of each provisioned config it keeps (several nodes: its report in the
/// allocations table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub scope: Scope,
    pub function_name: String,
    pub function_id: FunctionId,
    pub qualifier: String,
    /// What this node keeps of it.
    pub requested: u32,
    /// The config's `last_modified_ms` as applied.
    pub applied_ms: i64,
    /// Ready environments (idle or busy), at most what is wanted.
    pub ready: u32,
    pub failed: Option<String>,
}

impl Engine {
    /// Every provisioned config this node keeps, with its ready environments.
    pub fn provisioned_held(&self) -> Vec<Held> {
        let p = self.provisioned_lock();
        let mut held = Vec::with_capacity(p.configs.len());
        for ((function, qualifier), c) in &p.configs {
            let mut h = Held {
                scope: c.scope.clone(),
                function_name: c.function_name.clone(),
                function_id: *function,
                qualifier: qualifier.clone(),
                requested: c.requested,
                applied_ms: c.last_modified_ms,
                ready: 0,
                failed: None,
            };
            for version in &c.versions {
                for s in p.slices.get(&(*function, *version)).into_iter().flatten() {
                    if &s.qualifier == qualifier {
                        h.ready += s.alive.min(s.wanted);
                        if s.failed.is_some() {
                            h.failed = s.failed.clone();
                        }
                    }
                }
            }
            held.push(h);
        }
        held
    }
}
