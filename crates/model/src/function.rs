//! Functions, their versions and aliases, as Versa stores and reasons about them.

use std::collections::BTreeMap;
use std::fmt;

use crate::name::Version;

/// The database identity of a function. A function that is deleted and created again under
/// the same name gets a new id (and starts its version numbers at 1 again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunctionId(pub i64);

/// A SHA-256 digest of a deployment package: the key of the code blob store.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    /// Lower-case hex, 64 characters: how blobs are named on disk and in URLs.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 15)]));
        }
        s
    }

    pub fn from_hex(s: &str) -> Option<Sha256> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            let hi = hex_val(pair[0])?;
            let lo = hex_val(pair[1])?;
            out[i] = (hi << 4) | lo;
        }
        Some(Sha256(out))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({})", self.to_hex())
    }
}

/// A deployment package as a version references it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeRef {
    pub sha256: Sha256,
    /// Zipped size in bytes (`CodeSize`).
    pub size: u64,
    /// Unzipped size in bytes, as measured when the package was accepted.
    pub unzipped_size: u64,
}

/// An opaque, random revision id (a UUID v4 in text). Minted by the caller; never derived.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RevisionId(pub String);

impl fmt::Display for RevisionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    X86_64,
    Arm64,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }

    pub fn parse(s: &str) -> Option<Architecture> {
        match s {
            "x86_64" => Some(Architecture::X86_64),
            "arm64" => Some(Architecture::Arm64),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TracingMode {
    PassThrough,
    Active,
}

impl TracingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TracingMode::PassThrough => "PassThrough",
            TracingMode::Active => "Active",
        }
    }

    pub fn parse(s: &str) -> Option<TracingMode> {
        match s {
            "PassThrough" => Some(TracingMode::PassThrough),
            "Active" => Some(TracingMode::Active),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapStartApplyOn {
    None,
    PublishedVersions,
}

impl SnapStartApplyOn {
    pub fn as_str(self) -> &'static str {
        match self {
            SnapStartApplyOn::None => "None",
            SnapStartApplyOn::PublishedVersions => "PublishedVersions",
        }
    }

    pub fn parse(s: &str) -> Option<SnapStartApplyOn> {
        match s {
            "None" => Some(SnapStartApplyOn::None),
            "PublishedVersions" => Some(SnapStartApplyOn::PublishedVersions),
            _ => None,
        }
    }
}

/// `LoggingConfig`. `log_group` is `None` for the default `/aws/lambda/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggingConfig {
    /// `Text` or `JSON`.
    pub log_format: String,
    /// Only meaningful with the JSON format.
    pub application_log_level: Option<String>,
    pub system_log_level: Option<String>,
    pub log_group: Option<String>,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            log_format: "Text".to_owned(),
            application_log_level: None,
            system_log_level: None,
            log_group: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VpcConfig {
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub ipv6_allowed_for_dual_stack: bool,
}

/// Everything about a version that UpdateFunctionConfiguration can change, and that
/// PublishVersion freezes.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionConfig {
    pub runtime: Option<String>,
    pub handler: Option<String>,
    pub role: String,
    pub description: String,
    pub timeout_s: u32,
    pub memory_mb: u32,
    /// `None` when never set; `Some(empty)` when set to no variables (they render differently).
    pub environment: Option<BTreeMap<String, String>>,
    pub architecture: Architecture,
    pub ephemeral_storage_mb: u32,
    pub tracing_mode: TracingMode,
    pub dead_letter_target_arn: Option<String>,
    pub kms_key_arn: Option<String>,
    pub logging: LoggingConfig,
    pub vpc: Option<VpcConfig>,
    pub snap_start: SnapStartApplyOn,
    /// The layer versions mounted at `/opt`, in order (later ones over earlier ones).
    pub layers: Vec<crate::layer::FunctionLayer>,
}

/// `State` of a function version, as the waiters poll it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Active,
}

/// `LastUpdateStatus` of a function version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateStatus {
    InProgress,
    Successful,
}

/// One version of a function: `$LATEST` or a published, immutable one.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRecord {
    pub version: Version,
    pub config: FunctionConfig,
    pub code: CodeRef,
    pub revision_id: RevisionId,
    /// Epoch milliseconds of the last change (creation for published versions).
    pub last_modified_ms: i64,
    /// Bumped by every code or configuration update of `$LATEST`; a published version keeps the
    /// value it was cut from. PublishVersion is a no-op when the newest published version was
    /// cut from the current value.
    pub config_rev: u64,
}

/// A function: its mutable `$LATEST` and the function-level state around it. Published versions
/// and aliases are stored separately and loaded on demand.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub id: FunctionId,
    pub name: String,
    pub latest: VersionRecord,
    /// The number the next PublishVersion takes. Only ever grows, so numbers are never reused,
    /// even after the highest version is deleted.
    pub next_version: u32,
    pub tags: BTreeMap<String, String>,
    /// Reserved concurrency (PutFunctionConcurrency); `None` draws from the unreserved pool.
    pub reserved_concurrency: Option<u32>,
}

/// The one additional version of a weighted alias and the share of traffic it gets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdditionalVersion {
    pub version: u32,
    /// In `[0.0, 1.0]`.
    pub weight: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alias {
    pub name: String,
    pub function_version: Version,
    pub description: String,
    pub routing: Option<AdditionalVersion>,
    pub revision_id: RevisionId,
}

impl Alias {
    /// Whether this alias sends any traffic to published version `n`, as primary or as the
    /// additional version.
    pub fn references(&self, n: u32) -> bool {
        self.function_version == Version::Published(n) || self.routing.is_some_and(|r| r.version == n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha_hex_round_trip() {
        let mut b = [0u8; 32];
        for (i, x) in b.iter_mut().enumerate() {
            *x = (i * 7) as u8;
        }
        let s = Sha256(b);
        assert_eq!(Sha256::from_hex(&s.to_hex()), Some(s));
        assert_eq!(Sha256::from_hex("zz"), None);
    }

    #[test]
    fn weighted_provisioned_concurrency_is_split_by_weight() {
        let split = |n, w| ProvisionedConfig { qualifier: "a".into(), requested: n, last_modified_ms: 0 }.split(w);
        assert_eq!(split(10, 0.1), (9, 1));
        assert_eq!(split(1, 0.1), (1, 0));
        assert_eq!(split(1, 0.5), (1, 0));
        assert_eq!(split(5, 0.5), (3, 2));
        assert_eq!(split(2, 0.9), (0, 2));
        assert_eq!(split(4, 0.0), (4, 0));
        assert_eq!(split(4, 1.0), (0, 4));
        assert_eq!(split(u32::MAX, 0.25).0 as u64 + split(u32::MAX, 0.25).1 as u64, u64::from(u32::MAX));
    }
}

/// Asynchronous-invocation settings of one qualifier (PutFunctionEventInvokeConfig). Absent
/// members keep Lambda's defaults (2 retries, 6 hours).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventInvokeConfig {
    pub maximum_retry_attempts: Option<u32>,
    pub maximum_event_age_s: Option<u32>,
    /// Destination ARN for successful invocations.
    pub on_success: Option<String>,
    /// Destination ARN for events that failed for good.
    pub on_failure: Option<String>,
    pub last_modified_ms: i64,
}

impl EventInvokeConfig {
    pub const RETRIES_DEFAULT: u32 = 2;
    pub const EVENT_AGE_S_DEFAULT: u32 = 21_600;
}

/// An asynchronous invocation waiting in the durable queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedEvent {
    pub id: i64,
    pub scope: crate::scope::Scope,
    pub function_id: FunctionId,
    pub function_name: String,
    /// The qualifier the caller invoked (`None`: unqualified), resolved when the event runs.
    pub qualifier: Option<String>,
    pub request_id: String,
    pub payload: Vec<u8>,
    pub received_ms: i64,
    /// Invocations attempted so far.
    pub attempts: u32,
}

/// Provisioned concurrency of one alias or published version (PutProvisionedConcurrencyConfig).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedConfig {
    /// The alias name or version number it applies to.
    pub qualifier: String,
    pub requested: u32,
    pub last_modified_ms: i64,
}

impl ProvisionedConfig {
    /// How a weighted alias's provisioned concurrency is shared between its versions, as
    /// `(primary, additional)`: the primary version gets `round(requested × (1 − weight))`
    /// (halves round up), the additional version the rest. AWS documents that it splits by
    /// weight, not how it rounds.
    pub fn split(&self, additional_weight: f64) -> (u32, u32) {
        let weight = additional_weight.clamp(0.0, 1.0);
        let primary = (f64::from(self.requested) * (1.0 - weight)).round().min(f64::from(self.requested)) as u32;
        (primary, self.requested - primary)
    }
}
