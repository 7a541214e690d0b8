//! Access keys (`--auth sigv4`): long-term keys per account, kept in the store with their
//! secrets sealed, and the temporary keys each execution environment gets, kept in memory.
//!
//! SigV4 needs the secret itself (the verifier recomputes the HMAC), so secrets cannot be
//! hashed; they are sealed with a key that lives outside the database (`<data dir>/keys.seal`,
//! created by the server): a copy of `versa.db` alone does not reveal them. The seal is
//! HMAC-SHA256 in counter mode with an HMAC-SHA256 tag over nonce and ciphertext
//! (encrypt-then-MAC), bound to the key id.
//!
//! **Invariant:** the server is the only writer of a data dir (its lock), so the in-memory
//! copy of the keys is the truth while it runs; `versa keys` writes a data dir directly only
//! when no server holds it, and otherwise asks the server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use model::scope::AccountId;
use store::{AccessKeyRow, Store};

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

/// The access keys: long-term ones (stored) and temporary ones (memory).
pub struct Keys {
    store: Store,
    seal: [u8; SEAL_KEY_BYTES],
    long_term: RwLock<HashMap<String, (KeyInfo, KeySecret)>>,
    temporary: Mutex<HashMap<String, Temporary>>,
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
            let secret = unseal(&seal, &row.access_key_id, &row.sealed_secret).ok_or_else(|| {
                ControlError::Service(format!(
                    "the secret of access key {} cannot be unsealed: the data dir's keys.seal file is not the one it \
                     was sealed with",
                    row.access_key_id
                ))
            })?;
            let account = AccountId::parse(&row.account).ok_or_else(|| {
                ControlError::Service(format!("access key {} has no valid account", row.access_key_id))
            })?;
            let info = info_of(&row);
            let secret = KeySecret { account, secret, session_token: None, root: row.root };
            long_term.insert(row.access_key_id, (info, secret));
        }
        Ok(Keys { store, seal, long_term: RwLock::new(long_term), temporary: Mutex::new(HashMap::new()) })
    }

    /// What `access_key_id` stands for. Memory only: no store access on the request path.
    pub fn lookup(&self, access_key_id: &str) -> Lookup {
        if let Some((_, s)) = self.long_term.read().expect("keys lock").get(access_key_id) {
            return Lookup::Found(s.clone());
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
            .filter(|(i, _)| i.root)
            .min_by_key(|(i, _)| (i.created_ms, i.access_key_id.clone()))
            .map(|(i, s)| (i.access_key_id.clone(), s.secret.clone()))
    }

    /// Creates the root account's key unless one exists; returns it when created.
    pub async fn ensure_root(&self) -> Result<Option<NewKey>> {
        if self.root_key().is_some() {
            return Ok(None);
        }
        self.insert(ROOT_ACCOUNT, Some("root".to_owned()), true, None).await.map(Some)
    }

    /// Stores a root key given from outside (`VERSA_ROOT_ACCESS_KEY_ID`/`_SECRET_ACCESS_KEY`)
    /// unless a key with that id exists.
    pub async fn ensure_given_root(&self, access_key_id: &str, secret: &str) -> Result<bool> {
        if self.long_term.read().expect("keys lock").contains_key(access_key_id) {
            return Ok(false);
        }
        check_given(access_key_id, secret)?;
        self.insert(ROOT_ACCOUNT, Some("root".to_owned()), true, Some((access_key_id.to_owned(), secret.to_owned())))
            .await?;
        Ok(true)
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
        };
        let stored = row.clone();
        self.store.write(move |tx| tx.insert_access_key(&stored)).await?;
        let account_id = AccountId::parse(account).expect("checked above");
        let info = info_of(&row);
        let s = KeySecret { account: account_id, secret: secret.clone(), session_token: None, root };
        self.long_term.write().expect("keys lock").insert(access_key_id.clone(), (info, s));
        Ok(NewKey { access_key_id, secret_access_key: secret, account: account.to_owned(), name })
    }

    /// `versa keys list`: every long-term key, by id.
    pub fn list(&self) -> Vec<KeyInfo> {
        let mut all: Vec<KeyInfo> =
            self.long_term.read().expect("keys lock").values().map(|(i, _)| i.clone()).collect();
        all.sort_by(|a, b| a.access_key_id.cmp(&b.access_key_id));
        all
    }

    /// `versa keys delete`. The root account's last key stays: without it nobody could manage
    /// keys through the server.
    pub async fn delete(&self, access_key_id: &str) -> Result<()> {
        {
            let keys = self.long_term.read().expect("keys lock");
            let Some((info, _)) = keys.get(access_key_id) else {
                return Err(ControlError::ResourceNotFound(format!("The access key {access_key_id} does not exist.")));
            };
            let root_keys = keys.values().filter(|(i, _)| i.root).count();
            if info.root && root_keys == 1 {
                return Err(ControlError::ResourceConflict(format!(
                    "The access key {access_key_id} is the last key of the root account ({ROOT_ACCOUNT}); create \
                     another before deleting it."
                )));
            }
        }
        let id = access_key_id.to_owned();
        self.store.write(move |tx| tx.delete_access_key(&id)).await?;
        self.long_term.write().expect("keys lock").remove(access_key_id);
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

fn info_of(row: &AccessKeyRow) -> KeyInfo {
    KeyInfo {
        access_key_id: row.access_key_id.clone(),
        account: row.account.clone(),
        root: row.root,
        created_ms: row.created_ms,
        name: row.name.clone(),
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
