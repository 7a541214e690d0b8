//! Provisioned concurrency across nodes (scale-out.md §5): one planner at a time (the HRW owner
//! of [`PLANNER_KEY`] among live nodes; its writes also take a transaction-scoped advisory lock
//! on PostgreSQL, so two nodes that both think they plan during a membership change write one
//! after the other) splits each config's `requested` over the top m HRW nodes of its version's
//! key, m = ⌈requested / per-node capacity⌉ (a node's capacity is its `--max-environments`),
//! into `provisioned_allocations`, and notifies `versa_fn` for the function so that every
//! node's reconciler (`invoke::provisioned`) re-applies its own share. It re-plans a function
//! when it changes, and everything when the live nodes change (a dead node's share moves to
//! live ones) and every [`SWEEP_EVERY`]. Each node reports how many of its share are ready;
//! GetProvisionedConcurrencyConfig is `READY` when the live nodes' ready environments of the
//! config as it is now add up to `requested`. The planner's nodes are the version's top HRW
//! nodes, so forwarded invocations reach the node holding the first share, then the others.

use std::sync::Arc;
use std::time::{Duration, Instant};

use control::{Control, ProvisionedView};
use invoke::Engine;
use invoke::provisioned::{SetStatus, Status};
use model::name::Version;
use model::scope::Scope;
use store::{Channel, FunctionKey, ProvisionedAllocation, StoreError};

use crate::{Cluster, Peer, hrw};

/// The key whose HRW owner among live nodes plans provisioned concurrency.
pub const PLANNER_KEY: &str = "provisioned-planner";
/// Every function with provisioned concurrency is re-planned at least this often.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Splits `requested` over the nodes in HRW order `ranked` (id, capacity): as few nodes as
/// hold it (m = ⌈requested / capacity⌉, capacities added up in rank order), evenly, the
/// earlier ranks taking the remainder; what no node has room for goes to the first.
pub fn split(requested: u32, ranked: &[(String, u32)]) -> Vec<(String, u32)> {
    if requested == 0 || ranked.is_empty() {
        return Vec::new();
    }
    let mut m = 0;
    let mut room = 0u64;
    for (_, cap) in ranked {
        m += 1;
        room += u64::from((*cap).max(1));
        if room >= u64::from(requested) {
            break;
        }
    }
    let chosen = &ranked[..m];
    let mut shares: Vec<(String, u32)> = chosen.iter().map(|(id, _)| (id.clone(), 0)).collect();
    let mut left = requested;
    // Even rounds, each node up to its capacity.
    while left > 0 {
        let open: Vec<usize> = (0..m).filter(|&i| shares[i].1 < chosen[i].1.max(1)).collect();
        if open.is_empty() {
            shares[0].1 += left;
            break;
        }
        let each = (left / open.len() as u32).max(1);
        for i in open {
            let give = each.min(left).min(chosen[i].1.max(1) - shares[i].1);
            shares[i].1 += give;
            left -= give;
            if left == 0 {
                break;
            }
        }
    }
    shares.retain(|(_, n)| *n > 0);
    shares
}

impl Cluster {
    fn live_peers(&self) -> Vec<Peer> {
        self.nodes().iter().filter(|p| p.live).cloned().collect()
    }

    /// Plans one function's provisioned concurrency over the live nodes; whether it changed.
    async fn plan_function(&self, control: &Control, scope: &Scope, name: &str) -> Result<bool, String> {
        let plan = control.provisioned_plan(scope, name).await.map_err(|e| e.to_string())?;
        let Some(function) = plan.first().map(|p| p.function_id) else { return Ok(false) };
        let live = self.live_peers();
        if live.is_empty() {
            return Ok(false);
        }
        let mut shares = Vec::new();
        for p in &plan {
            let Some(Version::Published(n)) = p.parts.first().map(|x| x.version) else { continue };
            let key = hrw::Key { function_id: function.0, version: n, revision: 0 };
            let ranked: Vec<(String, u32)> = hrw::ranked(live.iter().map(|x| x.id.as_str()), &key, live.len())
                .into_iter()
                .map(|i| (live[i].id.clone(), live[i].capacity))
                .collect();
            let requested: u32 = p.parts.iter().map(|x| x.count).sum();
            for (node, count) in split(requested, &ranked) {
                shares.push((p.config.qualifier.clone(), node, count));
            }
        }
        let notice = store::function_notice(&FunctionKey { scope: scope.clone(), name: name.to_owned() });
        self.inner
            .store
            .write(move |tx| {
                let changed = tx.plan_provisioned(function, &shares)?;
                if changed {
                    tx.notify(Channel::Function, &notice)?;
                }
                Ok::<_, StoreError>(changed)
            })
            .await
            .map_err(|e| e.to_string())
    }

    async fn plan_all(&self, control: &Control) {
        if let Err(e) = self.inner.store.write(|tx| tx.drop_orphan_allocations()).await {
            tracing::warn!(error = %e, "cannot drop stale provisioned allocations");
        }
        let functions = match control.functions_with_provisioned().await {
            Ok(f) => f,
            Err(e) => return tracing::warn!(error = %e, "cannot list provisioned concurrency configs"),
        };
        for (scope, name) in functions {
            match self.plan_function(control, &scope, &name).await {
                Ok(true) => tracing::info!(function = %name, "provisioned concurrency re-planned over the live nodes"),
                Ok(false) => {}
                Err(e) => tracing::warn!(function = %name, error = %e, "cannot plan provisioned concurrency"),
            }
        }
    }

    /// Whether this node plans now.
    fn plans(&self) -> bool {
        use stdx::duty::Duties as _;
        self.owns(PLANNER_KEY)
    }

    /// The planner (acting while this node is [`PLANNER_KEY`]'s owner) and the reporter of this
    /// node's ready environments.
    pub(crate) fn start_provisioned(
        &self,
        control: Arc<Control>,
        engine: Arc<Engine>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let me = self.clone();
        let c = control.clone();
        let planner = tokio::spawn(async move {
            let mut changes = c.changes();
            let mut tick = tokio::time::interval(me.inner.options.heartbeat);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_live: Vec<(String, u32)> = Vec::new();
            let mut swept = Instant::now();
            loop {
                let mut everything = false;
                tokio::select! {
                    changed = changes.recv() => match changed {
                        Ok(ch) => {
                            if me.plans()
                                && let Err(e) = me.plan_function(&c, &ch.scope, &ch.function).await
                            {
                                tracing::warn!(function = %ch.function, error = %e, "cannot plan provisioned concurrency");
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => everything = true,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    },
                    _ = tick.tick() => {
                        let mut live: Vec<(String, u32)> =
                            me.live_peers().into_iter().map(|p| (p.id, p.capacity)).collect();
                        live.sort();
                        if live != last_live || swept.elapsed() >= SWEEP_EVERY {
                            everything = true;
                            last_live = live;
                        }
                    }
                }
                if everything && me.plans() {
                    swept = Instant::now();
                    me.plan_all(&c).await;
                }
            }
        });
        let me = self.clone();
        let reporter = tokio::spawn(async move {
            let mut tick = tokio::time::interval(me.inner.options.heartbeat);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = me.report_ready(&control, &engine).await {
                    tracing::debug!(error = %e, "cannot report provisioned environments");
                }
            }
        });
        vec![planner, reporter]
    }

    /// Writes this node's ready counts where they differ from what its allocations say.
    async fn report_ready(&self, control: &Control, engine: &Engine) -> Result<(), StoreError> {
        let me = self.inner.id.clone();
        let rows = self.inner.store.read(move |tx| tx.node_allocations(&me)).await?;
        if rows.is_empty() {
            return Ok(());
        }
        let held = engine.provisioned_held();
        let mut updates = Vec::new();
        for r in rows {
            let h = held.iter().find(|h| h.function_id == r.function_id && h.qualifier == r.qualifier);
            let (ready, applied_ms, failed) = h.map_or((0, 0, None), |h| (h.ready, h.applied_ms, h.failed.clone()));
            match h {
                // A share this node has not applied (a lost notice): apply it now.
                Some(h) if h.requested != r.count => control.provisioned_changed(&h.scope, &h.function_name),
                _ => {}
            }
            if (ready, applied_ms, &failed) != (r.ready, r.applied_ms, &r.failed) {
                updates.push(ProvisionedAllocation { ready, applied_ms, failed, ..r });
            }
        }
        if updates.is_empty() {
            return Ok(());
        }
        let me = self.inner.id.clone();
        self.inner.store.write(move |tx| tx.report_allocations(&me, &updates)).await
    }

    /// GetProvisionedConcurrencyConfig's status across the nodes: `READY` when the live nodes'
    /// ready environments of the config as it is now add up to `requested`; `FAILED` when a
    /// node's could not start; `IN_PROGRESS` otherwise (being planned, started or moved).
    pub async fn provisioned_status(&self, engine: &Engine, view: &ProvisionedView) -> Option<SetStatus> {
        // Nothing to keep (an alias on `$LATEST`): as one node reports it.
        if view.versions.is_empty() {
            return engine.provisioned_status(view);
        }
        let function = view.function_id;
        let rows = self.inner.store.read(move |tx| tx.provisioned_allocations(function)).await.ok()?;
        let live = self.live_peers();
        let current =
            |a: &&ProvisionedAllocation| a.qualifier == view.config.qualifier && live.iter().any(|p| p.id == a.node_id);
        let requested = view.config.requested;
        let mut planned = 0u32;
        let mut ready = 0u32;
        for a in rows.iter().filter(current) {
            planned += a.count;
            if a.applied_ms == view.config.last_modified_ms {
                if let Some(reason) = &a.failed {
                    return Some(SetStatus {
                        status: Status::Failed,
                        available: 0,
                        allocated: 0,
                        reason: Some(reason.clone()),
                    });
                }
                ready += a.ready.min(a.count);
            }
        }
        Some(if planned >= requested && ready >= requested {
            SetStatus { status: Status::Ready, available: requested, allocated: requested, reason: None }
        } else {
            SetStatus { status: Status::InProgress, available: 0, allocated: 0, reason: None }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    fn nodes(caps: &[u32]) -> Vec<(String, u32)> {
        caps.iter().enumerate().map(|(i, c)| (format!("n{i}"), *c)).collect()
    }

    #[test]
    fn split_uses_as_few_nodes_as_hold_it_evenly() {
        assert_eq!(split(3, &nodes(&[8, 8, 8])), vec![("n0".to_owned(), 3)]);
        assert_eq!(split(10, &nodes(&[4, 4, 4])), vec![("n0".into(), 4), ("n1".into(), 3), ("n2".into(), 3)]);
        assert_eq!(split(6, &nodes(&[4, 4, 4])), vec![("n0".into(), 3), ("n1".into(), 3)]);
        assert_eq!(split(5, &nodes(&[2, 8])), vec![("n0".into(), 2), ("n1".into(), 3)]);
        // More than every node holds: the first takes the rest (it reports the failure).
        assert_eq!(split(7, &nodes(&[2, 2])), vec![("n0".into(), 5), ("n1".into(), 2)]);
        assert!(split(0, &nodes(&[2])).is_empty());
        assert!(split(3, &[]).is_empty());
        let total: u32 = split(17, &nodes(&[5, 5, 5, 5])).iter().map(|x| x.1).sum();
        assert_eq!(total, 17);
    }
}
