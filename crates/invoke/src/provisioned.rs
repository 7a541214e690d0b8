//! Provisioned concurrency: environments started ahead of traffic for an alias or a
//! published version, initialized with `AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency`.
//!
//! The engine keeps one [`Set`] per (function, qualifier). [`start`] follows the control
//! plane's change notices and re-applies a function's plan whenever its aliases or configs
//! change, so the environments follow an alias to its new version. Invocations through the
//! qualifier take a provisioned environment first and spill over to on-demand ones; a
//! provisioned environment that dies is replaced.

use std::collections::HashMap;
use std::sync::Arc;

use control::{Control, ProvisionedPlan};
use model::function::FunctionId;
use model::name::Version;
use model::scope::Scope;

use crate::env::Env;
use crate::{ColdStart, Engine, Target};

/// Environments of one set started at once.
const START_PARALLEL_MAX: usize = 4;

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

/// The environments of one provisioned config.
pub(crate) struct Set {
    scope: Scope,
    function_name: String,
    version: Version,
    /// What its environments run, to start replacements.
    target: Target,
    requested: u32,
    /// Bumped when the set is rebuilt; environments of an older generation are not returned.
    generation: u64,
    idle: Vec<Arc<Env>>,
    /// Ready environments, idle or busy.
    alive: u32,
    status: Status,
    reason: Option<String>,
}

impl Set {
    pub(crate) fn kill_idle(self) {
        for env in self.idle {
            env.kill();
        }
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

impl Engine {
    /// The state of a config's environments; `None` before the engine has seen it.
    pub fn provisioned_status(&self, function: FunctionId, qualifier: &str) -> Option<SetStatus> {
        let sets = self.provisioned.lock().unwrap_or_else(|e| e.into_inner());
        sets.get(&(function, qualifier.to_owned())).map(|s| SetStatus {
            status: s.status,
            available: s.alive,
            allocated: s.alive,
            reason: s.reason.clone(),
        })
    }

    /// An idle provisioned environment of `qualifier`, if it serves `version`, with the set's
    /// generation.
    pub(crate) fn take_provisioned(
        &self,
        function: FunctionId,
        qualifier: &str,
        version: Version,
    ) -> Option<(u64, Arc<Env>)> {
        let mut sets = self.provisioned.lock().unwrap_or_else(|e| e.into_inner());
        let set = sets.get_mut(&(function, qualifier.to_owned()))?;
        if set.version != version {
            return None;
        }
        while let Some(env) = set.idle.pop() {
            if env.is_alive() {
                return Some((set.generation, env));
            }
            env.kill();
            set.alive -= 1;
            self.pools.lock().unwrap_or_else(|e| e.into_inner()).live -= 1;
        }
        None
    }

    /// Returns a provisioned environment after an invocation; a dead one is replaced.
    pub(crate) fn release_provisioned(
        self: &Arc<Self>,
        key: (FunctionId, String),
        generation: u64,
        env: Arc<Env>,
        healthy: bool,
    ) {
        let mut sets = self.provisioned.lock().unwrap_or_else(|e| e.into_inner());
        match sets.get_mut(&key) {
            Some(set) if set.generation == generation => {
                if healthy && env.is_alive() {
                    set.idle.push(env);
                    return;
                }
                env.kill();
                set.alive -= 1;
                self.pools.lock().unwrap_or_else(|e| e.into_inner()).live -= 1;
                let target = set.target.clone();
                drop(sets);
                self.fill(key, generation, target, 1);
            }
            _ => {
                env.kill();
                self.pools.lock().unwrap_or_else(|e| e.into_inner()).live -= 1;
            }
        }
    }

    /// Makes a function's provisioned environments match `plan`: stops sets that are no
    /// longer wanted or point at another version, and starts the missing ones.
    pub fn apply_provisioned(self: &Arc<Self>, scope: &Scope, function: &str, plan: Vec<ProvisionedPlan>) {
        let mut sets = self.provisioned.lock().unwrap_or_else(|e| e.into_inner());
        let wanted: HashMap<(FunctionId, String), &ProvisionedPlan> =
            plan.iter().map(|p| ((p.function_id, p.config.qualifier.clone()), p)).collect();
        let stale: Vec<(FunctionId, String)> = sets
            .iter()
            .filter(|(k, s)| {
                s.scope == *scope
                    && s.function_name == function
                    && wanted.get(*k).is_none_or(|p| p.version != s.version || p.config.requested != s.requested)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            if let Some(set) = sets.remove(&key) {
                let idle = set.idle.len();
                for env in set.idle {
                    env.kill();
                }
                self.pools.lock().unwrap_or_else(|e| e.into_inner()).live -= idle;
            }
        }
        let mut to_fill = Vec::new();
        for (key, p) in wanted {
            if sets.contains_key(&key) {
                continue;
            }
            let generation = GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let target = Target {
                scope: scope.clone(),
                function_id: p.function_id,
                function_name: p.function_name.clone(),
                version: p.version,
                record: p.record.clone(),
                invoked_arn: model::arn::qualified_arn(scope, function, &key.1),
                reserved_concurrency: p.reserved_concurrency,
                unreserved_concurrency: u32::MAX,
                qualifier: Some(key.1.clone()),
            };
            sets.insert(
                key.clone(),
                Set {
                    scope: scope.clone(),
                    function_name: function.to_owned(),
                    version: p.version,
                    target: target.clone(),
                    requested: p.config.requested,
                    generation,
                    idle: Vec::new(),
                    alive: 0,
                    status: Status::InProgress,
                    reason: None,
                },
            );
            to_fill.push((key, generation, target, p.config.requested));
        }
        drop(sets);
        for (key, generation, target, n) in to_fill {
            self.fill(key, generation, target, n);
        }
    }

    /// Starts `n` environments for a set, in the background.
    fn fill(self: &Arc<Self>, key: (FunctionId, String), generation: u64, target: Target, n: u32) {
        let engine = Arc::clone(self);
        tokio::spawn(async move {
            let runtime = target.record.config.runtime.clone().unwrap_or_else(|| "provided.al2023".to_owned());
            let launch = match engine.runtimes.resolve(&runtime) {
                Ok(l) => l,
                Err(why) => return engine.set_failed(&key, generation, why),
            };
            let mut left = n;
            while left > 0 {
                let batch = left.min(START_PARALLEL_MAX as u32);
                left -= batch;
                let mut starting = tokio::task::JoinSet::new();
                for _ in 0..batch {
                    {
                        let mut pools = engine.pools.lock().unwrap_or_else(|e| e.into_inner());
                        if pools.live >= engine.config.max_environments {
                            drop(pools);
                            return engine.set_failed(
                                &key,
                                generation,
                                "too many execution environments on this host".to_owned(),
                            );
                        }
                        pools.live += 1;
                    }
                    let (engine, target, launch) = (engine.clone(), target.clone(), launch.clone());
                    starting.spawn(async move { engine.spawn_env(&target, &launch, "provisioned-concurrency").await });
                }
                while let Some(started) = starting.join_next().await {
                    match started {
                        Ok(Ok(ColdStart::Ready(env))) => engine.add_ready(&key, generation, env),
                        Ok(Ok(ColdStart::Failed { payload, env, log: _ })) => {
                            if let Some(env) = env {
                                env.kill();
                            }
                            engine.pools.lock().unwrap_or_else(|e| e.into_inner()).live -= 1;
                            let reason = serde_json::from_slice::<serde_json::Value>(&payload)
                                .ok()
                                .and_then(|v| v["errorMessage"].as_str().map(str::to_owned))
                                .unwrap_or_else(|| String::from_utf8_lossy(&payload).into_owned());
                            engine.set_failed(&key, generation, reason);
                        }
                        Ok(Err(e)) => {
                            engine.pools.lock().unwrap_or_else(|e| e.into_inner()).live -= 1;
                            engine.set_failed(&key, generation, e.to_string());
                        }
                        Err(_) => {
                            engine.pools.lock().unwrap_or_else(|e| e.into_inner()).live -= 1;
                        }
                    }
                }
            }
        });
    }

    fn add_ready(&self, key: &(FunctionId, String), generation: u64, env: Arc<Env>) {
        let mut sets = self.provisioned.lock().unwrap_or_else(|e| e.into_inner());
        match sets.get_mut(key) {
            Some(set) if set.generation == generation && set.status != Status::Failed => {
                set.idle.push(env);
                set.alive += 1;
                if set.alive >= set.requested {
                    set.status = Status::Ready;
                }
            }
            _ => {
                env.kill();
                self.pools.lock().unwrap_or_else(|e| e.into_inner()).live -= 1;
            }
        }
    }

    fn set_failed(&self, key: &(FunctionId, String), generation: u64, reason: String) {
        let mut sets = self.provisioned.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(set) = sets.get_mut(key).filter(|s| s.generation == generation) {
            set.status = Status::Failed;
            set.reason = Some(reason);
            let idle = std::mem::take(&mut set.idle);
            set.alive -= idle.len() as u32;
            self.pools.lock().unwrap_or_else(|e| e.into_inner()).live -= idle.len();
            for env in idle {
                env.kill();
            }
        }
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
                let sets = engine.provisioned.lock().unwrap_or_else(|e| e.into_inner());
                sets.values().map(|s| (s.scope.clone(), s.function_name.clone())).collect()
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
    match control.provisioned_plan(scope, function).await {
        Ok(plan) => engine.apply_provisioned(scope, function, plan),
        Err(e) => tracing::warn!(function, error = %e, "cannot read the provisioned concurrency plan"),
    }
}
