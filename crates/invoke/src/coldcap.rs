//! The per-version cold-start cap (scale-out.md idea 4): at most [`COLD_STARTS_PER_VERSION`]
//! environments of one (function, version) start at once on this node. An invocation that
//! finds no idle environment and no free start waits for either — an environment returned
//! idle, or a start that ended — instead of starting one more: a burst of first invokes no
//! longer starts one environment per request when the first few would soon serve them all.
//! Starts, not environments, are capped: while requests keep waiting, a freed start is taken
//! again, so a sustained burst still scales out (as on Lambda), a couple of environments at a
//! time. A local invocation waits at most [`INIT_TIMEOUT`](crate::INIT_TIMEOUT) and then starts
//! anyway; a forwarded one waits at most [`FORWARDED_START_WAIT`] and is then answered busy,
//! so its sender offers it to the next node.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::env::Env;
use crate::{Engine, PoolKey};

/// Environments of one (function, version) being started at once on one node, at most.
pub const COLD_STARTS_PER_VERSION: usize = 2;
/// How long a forwarded invocation waits for an environment or a start before its node answers
/// busy: about one cold start; past that, a start on the next node is the cheaper wait.
pub const FORWARDED_START_WAIT: Duration = Duration::from_millis(1000);

/// Starts under way per pool key, and who waits for them.
#[derive(Default)]
pub(crate) struct Gates {
    map: Mutex<HashMap<PoolKey, Gate>>,
    /// Keys in `map`: returning an environment skips the lock at 0.
    pub(crate) keys: std::sync::atomic::AtomicUsize,
}

struct Gate {
    starting: usize,
    wake: Arc<tokio::sync::Notify>,
}

/// A start slot, given back when dropped (the start ended, well or not).
pub(crate) struct StartSlot {
    engine: Arc<Engine>,
    key: PoolKey,
}

impl Drop for StartSlot {
    fn drop(&mut self) {
        let gates = &self.engine.cold_gates;
        let mut map = gates.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(g) = map.get_mut(&self.key) {
            g.starting = g.starting.saturating_sub(1);
            g.wake.notify_waiters();
            // Only the map holds the waker: nobody waits, the entry can go.
            if g.starting == 0 && Arc::strong_count(&g.wake) == 1 {
                map.remove(&self.key);
                gates.keys.store(map.len(), Ordering::Relaxed);
            }
        }
    }
}

/// What a waiting invocation got.
pub(crate) enum Turn {
    Warm(Arc<Env>),
    Start(Option<StartSlot>),
    /// A forwarded invocation that waited its bound.
    Busy,
}

impl Engine {
    /// An idle environment of `key`, or a start slot, waiting for either as the module says.
    pub(crate) async fn warm_or_start(self: &Arc<Self>, key: &PoolKey, forwarded: bool) -> Turn {
        let deadline = Instant::now() + if forwarded { FORWARDED_START_WAIT } else { crate::INIT_TIMEOUT };
        loop {
            let wake = {
                let mut map = self.cold_gates.map.lock().unwrap_or_else(|e| e.into_inner());
                let fresh = !map.contains_key(key);
                let g = map
                    .entry(key.clone())
                    .or_insert_with(|| Gate { starting: 0, wake: Arc::new(tokio::sync::Notify::new()) });
                let taken = g.starting < COLD_STARTS_PER_VERSION;
                if taken {
                    g.starting += 1;
                }
                let wake = g.wake.clone();
                if fresh {
                    self.cold_gates.keys.store(map.len(), Ordering::Relaxed);
                }
                if taken {
                    return Turn::Start(Some(StartSlot { engine: self.clone(), key: key.clone() }));
                }
                wake
            };
            let timed_out = {
                let woken = wake.notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                // Returned while the slot was being looked at.
                if let Some(env) = self.take_idle(key) {
                    return Turn::Warm(env);
                }
                let left = deadline.saturating_duration_since(Instant::now());
                left.is_zero() || tokio::time::timeout(left, woken).await.is_err()
            };
            drop(wake);
            if let Some(env) = self.take_idle(key) {
                return Turn::Warm(env);
            }
            if timed_out {
                self.forget_gate_if_idle(key);
                return if forwarded { Turn::Busy } else { Turn::Start(None) };
            }
        }
    }

    fn forget_gate_if_idle(&self, key: &PoolKey) {
        let mut map = self.cold_gates.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(key).is_some_and(|g| g.starting == 0 && Arc::strong_count(&g.wake) == 1) {
            map.remove(key);
            self.cold_gates.keys.store(map.len(), Ordering::Relaxed);
        }
    }

    /// An environment of `key` went back idle: one waiter may take it.
    pub(crate) fn wake_waiters(&self, key: &PoolKey) {
        if self.cold_gates.keys.load(Ordering::Relaxed) == 0 {
            return;
        }
        let map = self.cold_gates.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(g) = map.get(key) {
            g.wake.notify_waiters();
        }
    }
}
