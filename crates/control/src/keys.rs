//! Access keys (`--auth sigv4`): long-term keys per account, kept in the store with their
//! secrets sealed, and the temporary keys each execution environment gets, kept in memory.
//!
//! SigV4 needs the secret itself (the verifier recomputes the HMAC), so secrets cannot be
//! hashed; they are sealed with a key that lives outside the database on a single node
//! (`<data dir>/keys.seal`, created by the server): a copy of `versa.db` alone does not reveal
//! them. Nodes sharing a store (PostgreSQL) share the seal key through its `cluster_settings`
//! (created once by the first node), so there the database's access control protects it. The
//! seal is HMAC-SHA256 in counter mode with an HMAC-SHA256 tag over nonce and ciphertext
//! (encrypt-then-MAC), bound to the key id.
//!
//! **Invariant (one node):** the server is the only writer of a data dir (its lock), so the
//! in-memory copy of the keys is the truth while it runs; `versa keys` writes a data dir
//! directly only when no server holds it, and otherwise asks the server.
//!
//! **Several nodes:** every create and delete sends a `versa_keys` notice in its transaction;
//! the other nodes re-read that one key ([`Keys::apply_notice`], [`Keys::start_sync`]). A
//! request with an id this node does not know reads the store once ([`Keys::fetch`]; misses
//! are remembered for [`MISS_REMEMBERED`] and at most [`MISS_READS_PER_WINDOW`] such reads run per
//! [`MISS_WINDOW`]), and every [`REFRESH_EVERY`] the whole set is re-read, which bounds how long
//! a lost notice can keep a deleted key valid. Temporary keys stay on the node whose sandbox
//! holds them: a sandbox's SDK talks to its own node (`AWS_ENDPOINT_URL` is the sandbox's
//! `127.0.0.1:4566`, served by that node).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use model::scope::AccountId;
use store::{AccessKeyRow, Channel, Store};

use crate::{ControlError, Result};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Most long-term access keys (all accounts together).
pub const KEYS_MAX: usize = 10_000;
/// Most temporary keys alive at once (one per execution environment, plus the recently revoked).
pub const TEMPORARY_KEYS_MAX: usize = 65_536;
/// How long a revoked temporary key is remembered, so that its late use says "expired".
pub const REVOKED_REMEMBERED: Duration = Duration::from_secs(3600);
/// Longest name a key may carry.
pub const KEY_NAME_LEN_MAX: usize = 64;
/// Length of the sealing key in bytes.
pub const SEAL_KEY_BYTES: usize = 32;

/// Several nodes: how often every node re-reads the whole set of keys (the bound on how long a
/// key deleted elsewhere stays valid here when its notice was lost).
pub const REFRESH_EVERY: Duration = Duration::from_secs(5);
/// Several nodes: how long an access key id the store did not have is answered unknown without
/// reading the store again.
pub const MISS_REMEMBERED: Duration = Duration::from_secs(2);
/// Several nodes: most remembered misses (then the expired ones go, then all).
pub const MISSES_MAX: usize = 4096;
/// Several nodes: most store reads for unknown ids per [`MISS_WINDOW`]; beyond them an unknown
/// id is answered unknown at once (a key created elsewhere arrives by notice or refresh).
pub const MISS_READS_PER_WINDOW: u32 = 64;
pub const MISS_WINDOW: Duration = Duration::from_secs(1);
/// Several nodes: most key ids waiting to be re-read after notices; beyond them the whole set
/// is re-read.
pub const NOTICES_PENDING_MAX: usize = 1024;

/// Several nodes: the cluster setting naming the first root key, so that nodes starting
/// together create one.
pub const ROOT_SETTING: &str = "keys_root";

/// The account of the root key `versa server` creates at its first start with `--auth sigv4`.
pub const ROOT_ACCOUNT: &str = "000000000000";

const ID_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const NONCE_BYTES: usize = 16;
const TAG_BYTES: usize = 32;

/// What a request's access key id stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A key Versa knows: sign with `secret`, act in `account`.
    Found(KeySecret),
    /// Not a key Versa issued (or one that was deleted).
    Unknown,
    /// A temporary key whose environment has ended.
    Expired,
}

/// A key's secret and what it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySecret {
    pub account: AccountId,
    pub secret: String,
    /// Temporary keys only: the session token the request must carry.
    pub session_token: Option<String>,
    /// The root account's key (`--auth sigv4` creates it), allowed to manage keys.
    pub root: bool,
}

/// A key just created; the only moment its secret is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub account: String,
    pub name: Option<String>,
}

/// A key as `versa keys list` shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub access_key_id: String,
    pub account: String,
    pub root: bool,
    pub created_ms: i64,
    pub name: Option<String>,
    /// Refused (as an unknown key) until enabled again.
    pub disabled: bool,
}

/// Credentials handed to one execution environment: valid until dropped (the environment
/// ended), then answered as expired.
#[derive(Debug)]
pub struct TemporaryCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    keys: Arc<Keys>,
}

impl Drop for TemporaryCredentials {
    fn drop(&mut self) {
        self.keys.revoke(&self.access_key_id);
    }
}

#[derive(Debug)]
struct Temporary {
    secret: KeySecret,
    revoked: Option<Instant>,
}

/// A stored key, unsealed.
#[derive(Debug, Clone)]
struct LongTerm {
    info: KeyInfo,
    secret: KeySecret,
    /// As stored: a re-read row with the same bytes needs no unsealing.
    sealed: Vec<u8>,
}

/// Ids the store did not have (several nodes), and the budget of reads for unknown ids.
#[derive(Debug, Default)]
struct Misses {
    seen: HashMap<String, Instant>,
    window_start: Option<Instant>,
    reads: u32,
}

/// What other nodes' notices asked to re-read.
#[derive(Debug, Default)]
struct Pending {
    ids: std::collections::HashSet<String>,
    everything: bool,
}

/// The access keys: long-term ones (stored) and temporary ones (memory).
pub struct Keys {
    store: Store,
    seal: [u8; SEAL_KEY_BYTES],
    long_term: RwLock<HashMap<String, LongTerm>>,
    temporary: Mutex<HashMap<String, Temporary>>,
    misses: Mutex<Misses>,
    pending: Mutex<Pending>,
    wake: tokio::sync::Notify,
    /// While a whole re-read runs: the ids changed here since it began (newer than what it
    /// read, so it keeps them as they are). Changed only with `long_term` write-locked.
    touched: Mutex<Option<std::collections::HashSet<String>>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").finish_non_exhaustive()
    }
}

impl Keys {
    /// Loads every stored key (unsealing its secret with `seal`).
    pub async fn open(store: Store, seal: [u8; SEAL_KEY_BYTES]) -> Result<Keys> {
        let rows = store.read(|tx| tx.access_keys(KEYS_MAX)).await?;
        let mut long_term = HashMap::with_capacity(rows.len());
        for row in rows {
            let entry = unsealed(&seal, &row, None)?;
            long_term.insert(row.access_key_id, entry);
        }
        Ok(Keys {
            store,
            seal,
            long_term: RwLock::new(long_term),
            temporary: Mutex::new(HashMap::new()),
            misses: Mutex::default(),
            pending: Mutex::default(),
            wake: tokio::sync::Notify::new(),
            touched: Mutex::default(),
        })
    }

    /// Whether other nodes share the keys (a shared store).
    pub fn shared(&self) -> bool {
        self.store.shared()
    }

    /// Several nodes: what `access_key_id` stands for, reading the store once when this node
    /// does not know it (bounded: see [`MISS_REMEMBERED`], [`MISS_READS_PER_WINDOW`]). On one
    /// node it is [`Keys::lookup`].
    pub async fn fetch(&self, access_key_id: &str) -> Lookup {
        let known = self.lookup(access_key_id);
        if known != Lookup::Unknown || !self.store.shared() || !plausible_id(access_key_id) {
            return known;
        }
        {
            let mut m = self.misses.lock().expect("keys lock");
            let now = Instant::now();
            if m.seen.get(access_key_id).is_some_and(|at| now.duration_since(*at) < MISS_REMEMBERED) {
                return Lookup::Unknown;
            }
            if m.window_start.is_none_or(|s| now.duration_since(s) >= MISS_WINDOW) {
                m.window_start = Some(now);
                m.reads = 0;
            }
            if m.reads >= MISS_READS_PER_WINDOW {
                return Lookup::Unknown;
            }
            m.reads += 1;
        }
        match self.reread(access_key_id).await {
            Ok(true) => self.lookup(access_key_id),
            Ok(false) => {
                let mut m = self.misses.lock().expect("keys lock");
                if m.seen.len() >= MISSES_MAX {
                    let now = Instant::now();
                    m.seen.retain(|_, at| now.duration_since(*at) < MISS_REMEMBERED);
                    if m.seen.len() >= MISSES_MAX {
                        m.seen.clear();
                    }
                }
                m.seen.insert(access_key_id.to_owned(), Instant::now());
                Lookup::Unknown
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read an access key");
                Lookup::Unknown
            }
        }
    }

    /// Re-reads one key: present → known here, absent → forgotten here. Whether it exists.
    async fn reread(&self, access_key_id: &str) -> Result<bool> {
        let id = access_key_id.to_owned();
        let row = self.store.read(move |tx| tx.access_key(&id)).await?;
        let mut keys = self.long_term.write().expect("keys lock");
        self.touch(access_key_id);
        match row {
            Some(row) => {
                let entry = unsealed(&self.seal, &row, keys.get(access_key_id))?;
                keys.insert(row.access_key_id, entry);
                Ok(true)
            }
            None => {
                keys.remove(access_key_id);
                Ok(false)
            }
        }
    }

    /// Notes a change of `access_key_id` for a whole re-read under way (call with `long_term`
    /// write-locked).
    fn touch(&self, access_key_id: &str) {
        if let Some(t) = self.touched.lock().expect("keys lock").as_mut() {
            t.insert(access_key_id.to_owned());
        }
    }

    /// Re-reads every key: the set becomes the store's, except keys changed here meanwhile.
    async fn reload(&self) -> Result<()> {
        {
            let _keys = self.long_term.write().expect("keys lock");
            *self.touched.lock().expect("keys lock") = Some(std::collections::HashSet::new());
        }
        let rows = self.store.read(|tx| tx.access_keys(KEYS_MAX)).await;
        let rows = match rows {
            Ok(r) => r,
            Err(e) => {
                let _keys = self.long_term.write().expect("keys lock");
                *self.touched.lock().expect("keys lock") = None;
                return Err(e.into());
            }
        };
        let mut next = HashMap::with_capacity(rows.len());
        {
            let keys = self.long_term.read().expect("keys lock");
            for row in rows {
                match unsealed(&self.seal, &row, keys.get(&row.access_key_id)) {
                    Ok(entry) => {
                        next.insert(row.access_key_id, entry);
                    }
                    Err(e) => tracing::warn!(error = %e, "an access key is skipped"),
                }
            }
        }
        let mut keys = self.long_term.write().expect("keys lock");
        let touched = self.touched.lock().expect("keys lock").take().unwrap_or_default();
        for id in touched {
            match keys.remove(&id) {
                Some(now) => next.insert(id, now),
                None => next.remove(&id),
            };
        }
        *keys = next;
        Ok(())
    }

    /// Another node's notice: the key `access_key_id` changed (`None`: notices may have been
    /// missed, so everything is re-read). The work is done by [`Keys::start_sync`]'s task.
    pub fn apply_notice(&self, access_key_id: Option<&str>) {
        {
            let mut p = self.pending.lock().expect("keys lock");
            match access_key_id {
                Some(id) if p.ids.len() < NOTICES_PENDING_MAX => {
                    p.ids.insert(id.to_owned());
                }
                _ => {
                    p.ids.clear();
                    p.everything = true;
                }
            }
        }
        if let Some(id) = access_key_id {
            self.misses.lock().expect("keys lock").seen.remove(id);
        }
        self.wake.notify_one();
    }

    /// Several nodes: starts the task that applies notices and re-reads every key each
    /// [`REFRESH_EVERY`]. `None` on one node (memory is the truth there).
    pub fn start_sync(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        if !self.store.shared() {
            return None;
        }
        let me = self.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFRESH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let everything = tokio::select! {
                    _ = tick.tick() => true,
                    () = me.wake.notified() => false,
                };
                let (ids, everything) = {
                    let mut p = me.pending.lock().expect("keys lock");
                    let all = std::mem::take(&mut p.everything) || everything;
                    (std::mem::take(&mut p.ids), all)
                };
                let done = if everything {
                    me.reload().await
                } else {
                    let mut r = Ok(());
                    for id in ids {
                        if let Err(e) = me.reread(&id).await {
                            r = Err(e);
                        }
                    }
                    r
                };
                if let Err(e) = done {
                    tracing::warn!(error = %e, "cannot re-read the access keys");
                }
            }
        }))
    }

    /// What `access_key_id` stands for. Memory only: no store access on the request path.
    pub fn lookup(&self, access_key_id: &str) -> Lookup {
        if let Some(k) = self.long_term.read().expect("keys lock").get(access_key_id) {
            // A disabled key is refused as IAM refuses an inactive one: as a key it does not know.
            return if k.info.disabled { Lookup::Unknown } else { Lookup::Found(k.secret.clone()) };
        }
        match self.temporary.lock().expect("keys lock").get(access_key_id) {
            Some(t) if t.revoked.is_some() => Lookup::Expired,
            Some(t) => Lookup::Found(t.secret.clone()),
            None => Lookup::Unknown,
        }
    }

    /// The root key, if one exists (the oldest when there are several).
    pub fn root_key(&self) -> Option<(String, String)> {
        let keys = self.long_term.read().expect("keys lock");
        keys.values()
            .filter(|k| k.info.root && !k.info.disabled)
            .min_by_key(|k| (k.info.created_ms, k.info.access_key_id.clone()))
            .map(|k| (k.info.access_key_id.clone(), k.secret.secret.clone()))
    }

    /// Creates the root account's key unless one exists; returns it when created.
    pub async fn ensure_root(&self) -> Result<Option<NewKey>> {
        if self.root_key().is_some() {
            return Ok(None);
        }
        // Nodes starting together: the one whose id lands in `ROOT_SETTING` first creates it.
        match self.insert_guarded(ROOT_ACCOUNT, Some("root".to_owned()), true, None, self.store.shared()).await? {
            Ok(created) => Ok(Some(created)),
            Err(winner) if self.reread(&winner).await? => Ok(None),
            // The first root key was deleted since (only through the database): a new one.
            Err(_) => self.insert(ROOT_ACCOUNT, Some("root".to_owned()), true, None).await.map(Some),
        }
    }

    /// Stores a root key given from outside (`VERSA_ROOT_ACCESS_KEY_ID`/`_SECRET_ACCESS_KEY`)
    /// unless a key with that id exists.
    pub async fn ensure_given_root(&self, access_key_id: &str, secret: &str) -> Result<bool> {
        if self.long_term.read().expect("keys lock").contains_key(access_key_id) {
            return Ok(false);
        }
        check_given(access_key_id, secret)?;
        let given = Some((access_key_id.to_owned(), secret.to_owned()));
        match self.insert(ROOT_ACCOUNT, Some("root".to_owned()), true, given).await {
            Ok(_) => Ok(true),
            // Another node sharing the store stored the same key a moment ago.
            Err(ControlError::ResourceConflict(_)) if self.store.shared() && self.reread(access_key_id).await? => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// `versa keys create`: a new key for `account`.
    pub async fn create(&self, account: &str, name: Option<String>) -> Result<NewKey> {
        if AccountId::parse(account).is_none() {
            return Err(ControlError::InvalidParameterValue(format!(
                "The account '{account}' is not a 12-digit account id."
            )));
        }
        if let Some(n) = &name
            && (n.is_empty() || n.len() > KEY_NAME_LEN_MAX || n.chars().any(|c| c.is_control()))
        {
            return Err(ControlError::InvalidParameterValue(format!(
                "A key name has 1 to {KEY_NAME_LEN_MAX} printable characters."
            )));
        }
        self.insert(account, name, false, None).await
    }

    async fn insert(
        &self,
        account: &str,
        name: Option<String>,
        root: bool,
        given: Option<(String, String)>,
    ) -> Result<NewKey> {
        let inserted = self.insert_guarded(account, name, root, given, false).await?;
        Ok(inserted.expect("unguarded inserts always insert"))
    }

    /// Stores a new key. `guard`: only if the cluster setting [`ROOT_SETTING`] can be set to its
    /// id in the same transaction; `Err(id)` names the key another node created instead.
    async fn insert_guarded(
        &self,
        account: &str,
        name: Option<String>,
        root: bool,
        given: Option<(String, String)>,
        guard: bool,
    ) -> Result<std::result::Result<NewKey, String>> {
        if self.long_term.read().expect("keys lock").len() >= KEYS_MAX {
            return Err(ControlError::ResourceConflict(format!(
                "Versa holds at most {KEYS_MAX} access keys; delete one first."
            )));
        }
        let (access_key_id, secret) = given.unwrap_or_else(|| (random_id("VKIA"), random_secret()));
        let row = AccessKeyRow {
            access_key_id: access_key_id.clone(),
            account: account.to_owned(),
            sealed_secret: seal(&self.seal, &access_key_id, &secret),
            root,
            created_ms: stdx::time::now_ms(),
            name: name.clone(),
            disabled: false,
        };
        let stored = row.clone();
        let lost = self
            .store
            .write(move |tx| {
                if guard {
                    let winner = tx.init_cluster_setting(ROOT_SETTING, stored.access_key_id.as_bytes())?;
                    if winner != stored.access_key_id.as_bytes() {
                        return Ok::<_, store::StoreError>(Some(String::from_utf8_lossy(&winner).into_owned()));
                    }
                }
                tx.insert_access_key(&stored)?;
                // Delivered to the other nodes at commit (a no-op on one node).
                tx.notify(Channel::Keys, &stored.access_key_id)?;
                Ok(None)
            })
            .await?;
        if let Some(winner) = lost {
            return Ok(Err(winner));
        }
        let account_id = AccountId::parse(account).expect("checked above");
        let info = info_of(&row);
        let s = KeySecret { account: account_id, secret: secret.clone(), session_token: None, root };
        let entry = LongTerm { info, secret: s, sealed: row.sealed_secret };
        let mut keys = self.long_term.write().expect("keys lock");
        self.touch(&access_key_id);
        keys.insert(access_key_id.clone(), entry);
        Ok(Ok(NewKey { access_key_id, secret_access_key: secret, account: account.to_owned(), name }))
    }

    /// `versa keys list`: every long-term key, by id.
    pub fn list(&self) -> Vec<KeyInfo> {
        let mut all: Vec<KeyInfo> =
            self.long_term.read().expect("keys lock").values().map(|k| k.info.clone()).collect();
        all.sort_by(|a, b| a.access_key_id.cmp(&b.access_key_id));
        all
    }

    /// `versa keys delete`. The root account's last key stays: without it nobody could manage
    /// keys through the server.
    pub async fn delete(&self, access_key_id: &str) -> Result<()> {
        {
            let keys = self.long_term.read().expect("keys lock");
            let Some(key) = keys.get(access_key_id) else {
                return Err(ControlError::ResourceNotFound(format!("The access key {access_key_id} does not exist.")));
            };
            let root_keys = keys.values().filter(|k| k.info.root).count();
            if key.info.root && root_keys == 1 {
                return Err(ControlError::ResourceConflict(format!(
                    "The access key {access_key_id} is the last key of the root account ({ROOT_ACCOUNT}); create \
                     another before deleting it."
                )));
            }
        }
        let id = access_key_id.to_owned();
        self.store
            .write(move |tx| {
                tx.delete_access_key(&id)?;
                tx.notify(Channel::Keys, &id)
            })
            .await?;
        let mut keys = self.long_term.write().expect("keys lock");
        self.touch(access_key_id);
        keys.remove(access_key_id);
        Ok(())
    }

    /// `versa keys disable` / `enable`: a disabled key is kept and refused until enabled. The
    /// root account keeps one enabled key (nobody could manage keys through the server else).
    pub async fn set_disabled(&self, access_key_id: &str, disabled: bool) -> Result<()> {
        {
            let keys = self.long_term.read().expect("keys lock");
            let Some(key) = keys.get(access_key_id) else {
                return Err(ControlError::ResourceNotFound(format!("The access key {access_key_id} does not exist.")));
            };
            let enabled_roots = keys.values().filter(|k| k.info.root && !k.info.disabled).count();
            if disabled && key.info.root && !key.info.disabled && enabled_roots == 1 {
                return Err(ControlError::ResourceConflict(format!(
                    "The access key {access_key_id} is the last enabled key of the root account ({ROOT_ACCOUNT}); \
                     create another before disabling it."
                )));
            }
        }
        let id = access_key_id.to_owned();
        let found = self
            .store
            .write(move |tx| {
                let found = tx.set_access_key_disabled(&id, disabled)?;
                tx.notify(Channel::Keys, &id)?;
                Ok::<_, store::StoreError>(found)
            })
            .await?;
        if !found {
            return Err(ControlError::ResourceNotFound(format!("The access key {access_key_id} does not exist.")));
        }
        let mut keys = self.long_term.write().expect("keys lock");
        self.touch(access_key_id);
        if let Some(k) = keys.get_mut(access_key_id) {
            k.info.disabled = disabled;
        }
        Ok(())
    }

    /// Mints credentials for one execution environment of `account`; they stay valid until
    /// the returned value is dropped. `None` when too many are alive.
    pub fn mint_temporary(self: &Arc<Self>, account: &AccountId) -> Option<TemporaryCredentials> {
        let id = random_id("VSIA");
        let secret = random_secret();
        let token = random_token();
        let mut temporary = self.temporary.lock().expect("keys lock");
        if temporary.len() >= TEMPORARY_KEYS_MAX {
            temporary.retain(|_, t| t.revoked.is_none_or(|at| at.elapsed() < REVOKED_REMEMBERED));
            if temporary.len() >= TEMPORARY_KEYS_MAX {
                // Forget the revoked ones early rather than refuse a live environment.
                temporary.retain(|_, t| t.revoked.is_none());
            }
            if temporary.len() >= TEMPORARY_KEYS_MAX {
                return None;
            }
        }
        let s = KeySecret {
            account: account.clone(),
            secret: secret.clone(),
            session_token: Some(token.clone()),
            root: false,
        };
        temporary.insert(id.clone(), Temporary { secret: s, revoked: None });
        Some(TemporaryCredentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: token,
            keys: self.clone(),
        })
    }

    fn revoke(&self, access_key_id: &str) {
        let mut temporary = self.temporary.lock().expect("keys lock");
        if let Some(t) = temporary.get_mut(access_key_id) {
            t.revoked = Some(Instant::now());
        }
    }
}

/// A stored row unsealed (`known`: the entry this node has, reused when the row is the same).
fn unsealed(seal: &[u8; SEAL_KEY_BYTES], row: &AccessKeyRow, known: Option<&LongTerm>) -> Result<LongTerm> {
    if let Some(k) = known
        && k.sealed == row.sealed_secret
        && k.info.account == row.account
        && k.info.root == row.root
    {
        let mut k = k.clone();
        k.info = info_of(row);
        return Ok(k);
    }
    let secret = unseal(seal, &row.access_key_id, &row.sealed_secret).ok_or_else(|| {
        ControlError::Service(format!(
            "the secret of access key {} cannot be unsealed: the seal key (the data dir's keys.seal file, or the \
             shared store's keys_seal cluster setting) is not the one it was sealed with",
            row.access_key_id
        ))
    })?;
    let account = AccountId::parse(&row.account)
        .ok_or_else(|| ControlError::Service(format!("access key {} has no valid account", row.access_key_id)))?;
    Ok(LongTerm {
        info: info_of(row),
        secret: KeySecret { account, secret, session_token: None, root: row.root },
        sealed: row.sealed_secret.clone(),
    })
}

/// Whether an id could be a stored key (generated or given): anything else is never looked up.
fn plausible_id(id: &str) -> bool {
    (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn info_of(row: &AccessKeyRow) -> KeyInfo {
    KeyInfo {
        access_key_id: row.access_key_id.clone(),
        account: row.account.clone(),
        root: row.root,
        created_ms: row.created_ms,
        name: row.name.clone(),
        disabled: row.disabled,
    }
}

/// An access key id and secret given from outside must look like AWS's.
fn check_given(id: &str, secret: &str) -> Result<()> {
    let id_ok = (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric());
    let secret_ok = (16..=128).contains(&secret.len()) && secret.bytes().all(|b| b.is_ascii_graphic());
    if id_ok && secret_ok {
        Ok(())
    } else {
        Err(ControlError::InvalidParameterValue(
            "A root access key id has 16 to 128 letters and digits, its secret 16 to 128 printable characters."
                .to_owned(),
        ))
    }
}

/// Random bytes from the operating system's generator (through `uuid`'s v4, 122 bits each).
fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 16);
    while out.len() < n {
        out.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    out.truncate(n);
    out
}

fn random_from(alphabet: &[u8], len: usize) -> String {
    // Both alphabets have a power-of-two size, so `byte % len` is unbiased.
    debug_assert!(alphabet.len().is_power_of_two());
    random_bytes(len).into_iter().map(|b| alphabet[b as usize % alphabet.len()] as char).collect()
}

/// `prefix` + 16 base32 characters: shaped like AWS's `AKIA…`/`ASIA…` ids.
fn random_id(prefix: &str) -> String {
    format!("{prefix}{}", random_from(ID_ALPHABET, 16))
}

fn random_secret() -> String {
    random_from(SECRET_ALPHABET, 40)
}

fn random_token() -> String {
    random_from(SECRET_ALPHABET, 128)
}

/// A fresh sealing key, for a data dir that has none.
pub fn new_seal_key() -> [u8; SEAL_KEY_BYTES] {
    random_bytes(SEAL_KEY_BYTES).try_into().expect("32 bytes")
}

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

fn keystream_xor(key: &[u8], nonce: &[u8], data: &mut [u8]) {
    for (block, chunk) in data.chunks_mut(32).enumerate() {
        let pad = mac(key, &[b"versa-seal-stream", nonce, &(block as u64).to_be_bytes()]);
        for (d, p) in chunk.iter_mut().zip(pad) {
            *d ^= p;
        }
    }
}

/// nonce ‖ ciphertext ‖ tag.
fn seal(key: &[u8; SEAL_KEY_BYTES], access_key_id: &str, secret: &str) -> Vec<u8> {
    let nonce = random_bytes(NONCE_BYTES);
    let mut body = secret.as_bytes().to_vec();
    keystream_xor(key, &nonce, &mut body);
    let tag = mac(key, &[b"versa-seal-tag", access_key_id.as_bytes(), &nonce, &body]);
    [nonce.as_slice(), &body, &tag].concat()
}

fn unseal(key: &[u8; SEAL_KEY_BYTES], access_key_id: &str, sealed: &[u8]) -> Option<String> {
    if sealed.len() < NONCE_BYTES + TAG_BYTES {
        return None;
    }
    let (nonce, rest) = sealed.split_at(NONCE_BYTES);
    let (body, tag) = rest.split_at(rest.len() - TAG_BYTES);
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for p in [b"versa-seal-tag".as_slice(), access_key_id.as_bytes(), nonce, body] {
        m.update(p);
    }
    m.verify_slice(tag).ok()?;
    let mut plain = body.to_vec();
    keystream_xor(key, nonce, &mut plain);
    String::from_utf8(plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_round_trips_and_detects_tampering() {
        let key = new_seal_key();
        let secret = random_secret();
        let sealed = seal(&key, "VKIAONE", &secret);
        assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_bytes()), "the secret is not in clear");
        assert_eq!(unseal(&key, "VKIAONE", &sealed).as_deref(), Some(secret.as_str()));
        assert_eq!(unseal(&key, "VKIATWO", &sealed), None, "bound to its key id");
        assert_eq!(unseal(&new_seal_key(), "VKIAONE", &sealed), None, "another seal key");
        let mut bad = sealed.clone();
        bad[NONCE_BYTES] ^= 1;
        assert_eq!(unseal(&key, "VKIAONE", &bad), None);
        assert_eq!(unseal(&key, "VKIAONE", &sealed[..10]), None);
        assert_ne!(seal(&key, "VKIAONE", &secret), sealed, "a fresh nonce every time");
    }

    #[test]
    fn ids_and_secrets_look_like_aws_ones() {
        let id = random_id("VKIA");
        assert_eq!(id.len(), 20);
        assert!(id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        let s = random_secret();
        assert_eq!(s.len(), 40);
        assert_ne!(random_secret(), s);
    }
}
