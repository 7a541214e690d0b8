//! Which version an invocation runs: qualifier resolution and weighted alias routing, with a
//! cache of resolutions so warm invokes do not read the store.
//!
//! **Invariant:** the cache never answers with state older than the last write that has
//! answered. Every write to a function goes through [`Control::write`], which drops that
//! function's cached resolutions after the commit and before the write answers; a resolution
//! read from the store is only cached if no write happened while it was being read.
//!
//! Several nodes sharing a store: every such write also sends a [`store::Channel::Function`]
//! notice in its own transaction (delivered at commit); [`Control::apply_notice`] drops the
//! other nodes' entries when it arrives, and everything when the listener reconnects (notices
//! are not durable). As a bound for a lost or late notice, cached entries of a shared store
//! live at most [`SHARED_RESOLUTION_TTL`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use model::arn::{function_arn, qualified_arn};
use model::function::{FunctionId, VersionRecord};
use model::name::{NameShape, Qualifier, Version};
use model::scope::Scope;
use store::{FunctionKey, ReadTx, StoreError, WriteTx};

use crate::names;
use crate::{Control, Result};

/// Most cached resolutions; the cache is cleared when it is full.
pub(crate) const RESOLUTIONS_MAX: usize = 8192;

/// How long a cached resolution may be used when other nodes share the store: the staleness
/// bound if a notice is late or lost.
pub const SHARED_RESOLUTION_TTL: Duration = Duration::from_secs(1);

/// What an invocation runs.
#[derive(Debug, Clone)]
pub struct InvokeTarget {
    pub function_id: FunctionId,
    pub function_name: String,
    /// The version that runs; for a weighted alias, the one this request drew.
    pub version: Version,
    pub record: VersionRecord,
    /// The ARN the caller used: unqualified, or qualified as they qualified it.
    pub invoked_arn: String,
    /// The function's reserved concurrency, if any.
    pub reserved_concurrency: Option<u32>,
    /// The function's provisioned concurrency, all configs together: with a reservation,
    /// what is left of it for on-demand environments is the difference.
    pub provisioned_concurrency: u32,
}

/// A resolved qualifier: one version, or an alias's two with the additional one's weight.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // Kept behind an `Arc`; boxing would only add an indirection.
enum Pick {
    One(Version, VersionRecord),
    Weighted { primary: (Version, VersionRecord), additional: (Version, VersionRecord), weight: f64 },
}

#[derive(Debug)]
struct Resolution {
    function_id: FunctionId,
    reserved_concurrency: Option<u32>,
    provisioned_concurrency: u32,
    pick: Pick,
    /// When it was read, if cached entries expire (a shared store).
    read_at: Option<Instant>,
}

/// Cached resolutions, keyed by function and qualifier as the caller wrote it.
#[derive(Debug, Default)]
pub(crate) struct Resolutions {
    inner: Mutex<Inner>,
    /// Entries expire after this long (a shared store); `None`: they live until a write.
    ttl: Option<Duration>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Bumped by every write; a read that saw a different value must not be cached.
    generation: u64,
    entries: HashMap<(FunctionKey, Option<String>), Arc<Resolution>>,
}

impl Resolutions {
    pub(crate) fn new(shared: bool) -> Resolutions {
        Resolutions { inner: Mutex::default(), ttl: shared.then_some(SHARED_RESOLUTION_TTL) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, key: &(FunctionKey, Option<String>)) -> (u64, Option<Arc<Resolution>>) {
        let inner = self.lock();
        let found = inner.entries.get(key);
        let fresh = match (self.ttl, found) {
            (Some(ttl), Some(r)) => r.read_at.is_some_and(|at| at.elapsed() < ttl),
            _ => true,
        };
        (inner.generation, if fresh { found.cloned() } else { None })
    }

    fn insert(&self, key: (FunctionKey, Option<String>), value: Arc<Resolution>, read_at: u64) {
        let mut inner = self.lock();
        if inner.generation != read_at {
            return;
        }
        if inner.entries.len() >= RESOLUTIONS_MAX {
            inner.entries.clear();
        }
        inner.entries.insert(key, value);
    }

    /// Forgets everything cached about `key`'s function.
    pub(crate) fn invalidate(&self, key: &FunctionKey) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.retain(|(k, _), _| k != key);
    }

    /// Forgets everything (notices may have been missed).
    pub(crate) fn invalidate_all(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.clear();
    }
}

impl Control {
    /// Runs a write transaction that changes the function `key`, and drops what the
    /// resolution cache knows about it once the write is done (committed or not).
    pub(crate) async fn write<R, F>(&self, key: &FunctionKey, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn WriteTx) -> Result<R> + Send + 'static,
    {
        let notice = store::function_notice(key);
        let result = self
            .store
            .write(move |tx| {
                let r = f(tx)?;
                // Delivered to the other nodes at commit, never on rollback.
                tx.notify(store::Channel::Function, &notice)?;
                Ok(r)
            })
            .await;
        self.resolutions.invalidate(key);
        result
    }

    /// Applies another node's notice: a changed function's cached resolutions (and what
    /// depends on its aliases and provisioned concurrency) are dropped; after a listener
    /// reconnect, everything cached is; queued events wake the worker.
    pub fn apply_notice(&self, notice: &store::Notice) {
        match notice {
            store::Notice::Function(payload) => match store::parse_function_notice(payload) {
                Some(key) => {
                    self.resolutions.invalidate(&key);
                    self.changed(&key.scope, &key.name);
                }
                None => self.resolutions.invalidate_all(),
            },
            store::Notice::Events => self.events_queued.notify_one(),
            store::Notice::Keys(access_key_id) => {
                if let Some(keys) = self.keys.get() {
                    keys.apply_notice(Some(access_key_id));
                }
            }
            store::Notice::Reconnected => {
                self.resolutions.invalidate_all();
                self.forget_all_unreserved();
                if let Some(keys) = self.keys.get() {
                    keys.apply_notice(None);
                }
            }
        }
    }

    /// Wires the access keys in: other nodes' key notices (and listener reconnects) reach them.
    pub fn set_keys(&self, keys: Arc<crate::keys::Keys>) {
        let _ = self.keys.set(keys);
    }

    /// Resolves an Invoke's `FunctionName` and `Qualifier` to the version to run, drawing a
    /// weighted alias's version for this request. See the module docs for freshness.
    pub async fn resolve_invoke(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<InvokeTarget> {
        let t = names::resolve_qualified(scope, function_name, NameShape::Namespaced, qualifier)?;
        let resolution = self.resolution(scope, &t).await?;
        let (version, record) = match &resolution.pick {
            Pick::One(v, r) => (*v, r.clone()),
            Pick::Weighted { primary, additional, weight } => {
                let (v, r) = if random_unit() < *weight { additional } else { primary };
                (*v, r.clone())
            }
        };
        let invoked_arn = match &t.qualifier {
            Some(q) => qualified_arn(scope, &t.name, q),
            None => function_arn(scope, &t.name),
        };
        Ok(InvokeTarget {
            function_id: resolution.function_id,
            function_name: t.name,
            version,
            record,
            invoked_arn,
            reserved_concurrency: resolution.reserved_concurrency,
            provisioned_concurrency: resolution.provisioned_concurrency,
        })
    }
}

impl Control {
    /// The cached resolution of a parsed name and qualifier, read from the store when missing.
    async fn resolution(&self, scope: &Scope, t: &names::Target) -> Result<Arc<Resolution>> {
        let not_found = || {
            let shown = t.qualifier.clone().unwrap_or_else(|| Version::LATEST.to_owned());
            names::qualified_not_found(scope, &t.name, &shown)
        };
        if !names::can_exist(&t.name) {
            return Err(not_found());
        }
        let cache_key = (FunctionKey { scope: scope.clone(), name: t.name.clone() }, t.qualifier.clone());
        let (generation, cached) = self.resolutions.get(&cache_key);
        if let Some(r) = cached {
            return Ok(r);
        }
        let (key, q) = cache_key.clone();
        let expires = self.resolutions.ttl.is_some();
        let found = self.store.read_short(move |tx| read_resolution(tx, &key, q.as_deref(), expires)).await?;
        let Some(r) = found else { return Err(not_found()) };
        let r = Arc::new(r);
        self.resolutions.insert(cache_key, r.clone(), generation);
        Ok(r)
    }

    /// Checks that an `Event` invoke's target exists now, answering the function's id with the
    /// parsed name and qualifier: what [`Control::resolve_invoke`] answers, without drawing a
    /// version or copying its configuration (the worker resolves those when the event runs).
    pub(crate) async fn resolve_event_target(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<(FunctionId, names::Target)> {
        let t = names::resolve_qualified(scope, function_name, NameShape::Namespaced, qualifier)?;
        let resolution = self.resolution(scope, &t).await?;
        Ok((resolution.function_id, t))
    }
}

fn read_resolution(
    tx: &mut dyn ReadTx,
    key: &FunctionKey,
    qualifier: Option<&str>,
    expires: bool,
) -> std::result::Result<Option<Resolution>, StoreError> {
    let read_at = expires.then(Instant::now);
    let Some(f) = tx.function(key)? else { return Ok(None) };
    let version =
        |tx: &mut dyn ReadTx, v: Version| -> std::result::Result<Option<(Version, VersionRecord)>, StoreError> {
            Ok(match v {
                Version::Latest => Some((Version::Latest, f.latest.clone())),
                Version::Published(n) => tx.version(f.id, n)?.map(|r| (v, r)),
            })
        };
    let pick = match qualifier.map(Qualifier::classify) {
        None | Some(Qualifier::Latest) => version(tx, Version::Latest)?.map(|(v, r)| Pick::One(v, r)),
        Some(Qualifier::Version(text)) => match Version::parse(&text) {
            Some(v @ Version::Published(_)) => version(tx, v)?.map(|(v, r)| Pick::One(v, r)),
            _ => None,
        },
        Some(Qualifier::Alias(a)) => match tx.alias(f.id, &a)? {
            None => None,
            Some(alias) => {
                let primary = version(tx, alias.function_version)?;
                match (primary, alias.routing) {
                    (Some(p), Some(r)) => version(tx, Version::Published(r.version))?
                        .map(|additional| Pick::Weighted { primary: p, additional, weight: r.weight }),
                    (Some((v, r)), None) => Some(Pick::One(v, r)),
                    (None, _) => None,
                }
            }
        },
    };
    let Some(pick) = pick else { return Ok(None) };
    let provisioned: u64 = tx.provisioned_configs(f.id)?.iter().map(|c| u64::from(c.requested)).sum();
    Ok(Some(Resolution {
        function_id: f.id,
        reserved_concurrency: f.reserved_concurrency,
        provisioned_concurrency: u32::try_from(provisioned).unwrap_or(u32::MAX),
        pick,
        read_at,
    }))
}

/// A uniformly distributed number in `[0, 1)` from the system's random source.
fn random_unit() -> f64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut n = [0u8; 8];
    n.copy_from_slice(&bytes[..8]);
    // 53 random bits make every double in [0, 1) with that spacing equally likely.
    (u64::from_le_bytes(n) >> 11) as f64 / (1u64 << 53) as f64
}
