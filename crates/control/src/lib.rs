//! The control plane: every management operation of the Lambda API as an async method on
//! [`Control`], over the store and the blob backend.
//!
//! Operations take the caller's [`Scope`] and plain, unvalidated inputs (strings and numbers as
//! the client sent them) and return domain views or a [`ControlError`] that names the AWS
//! error and carries AWS's exact message. Validation happens here, in AWS's order: model
//! constraints first (all of them, reported together), then lookups, then semantic rules.
//!
//! **Invariant:** a failed operation changes nothing. Each write is one store transaction;
//! code blobs are written before the transaction that references them and collected only
//! after the transaction that drops the last reference.

mod aliases;
mod code_signing;
mod config;
mod esm;
mod events;
mod functions;
mod gc;
mod history;
mod invoke;
pub mod keys;
mod layers;
mod names;
mod permissions;
mod provisioned;
mod tags;
mod urls;
mod views;

use std::sync::Arc;

use blobs::BlobBackend;
use model::validate::{Violation, render};
use store::{Store, StoreError};
use tokio::sync::RwLock;

pub use crate::aliases::{AliasInput, AliasUpdate, RoutingInput};
pub use crate::config::{CodeInput, ConfigPatch, LoggingPatch, VpcPatch};
pub use crate::esm::{
    ESMS_MAX, ESMS_PER_SCOPE_MAX, EsmInput, EsmPage, EsmSources, LIST_PAGE_MAX as ESM_LIST_PAGE_MAX,
    SETTLE_DELAY as ESM_SETTLE_DELAY, SHARD_START, SourceCheck, SourceKind, shard_key,
};
pub use crate::events::{ACCEPT_BATCH_MAX, EventConfigInput, EventConfigPage, EventConfigView, EventFinish};
pub use crate::functions::{CreateFunction, FunctionList, PublishVersion, UpdateCode, base64_sha};
pub use crate::gc::{CODE_GC_BATCH, CODE_GC_GRACE_DEFAULT, CODE_GC_INTERVAL, CodeGc};
pub use crate::history::{
    ALIAS_HISTORY_MAX, ALIAS_HISTORY_PAGE_DEFAULT, ALIAS_HISTORY_PAGE_MAX, ALIAS_HISTORY_PER_ALIAS_MAX, Actor,
    AliasChange, AliasHistoryPage, AliasTarget,
};
pub use crate::invoke::InvokeTarget;
pub use crate::keys::{Keys, Lookup};
pub use crate::layers::{
    LayerListItem, LayerPage, LayerPermissionInput, LayerPolicyText, LayerVersionPage, LayerVersionView, PublishLayer,
};
pub use crate::permissions::{Foreign, POLICY_BYTES_MAX, PermissionInput, PolicyView};
pub use crate::provisioned::{Changed, ProvisionedPart, ProvisionedPlan, ProvisionedView};
pub use crate::urls::{UrlInput, UrlView};
pub use crate::views::{AliasPage, AliasView, FunctionDetail, Status, VersionPage, VersionView};
pub use store::UrlTarget;

pub use model::scope::Scope;

/// Errors of control-plane operations. Each variant is one AWS error code; `api` maps it to
/// the HTTP status and body. The strings are AWS's messages, exactly.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ControlError {
    /// `ValidationException`: model constraints the request violates.
    #[error("{}", render(.0))]
    Validation(Vec<Violation>),
    /// `InvalidParameterValueException`.
    #[error("{0}")]
    InvalidParameterValue(String),
    /// `InvalidParameterValueException` that AWS sends without the `Type` member.
    #[error("{0}")]
    InvalidParameterValueUntyped(String),
    /// `ResourceNotFoundException`.
    #[error("{0}")]
    ResourceNotFound(String),
    /// `ResourceConflictException`.
    #[error("{0}")]
    ResourceConflict(String),
    /// `PreconditionFailedException`.
    #[error("{0}")]
    PreconditionFailed(String),
    /// `RequestEntityTooLargeException` (the model's `RequestTooLargeException`).
    #[error("{0}")]
    RequestTooLarge(String),
    /// `AccessDeniedException`.
    #[error("{0}")]
    AccessDenied(String),
    /// `PolicyLengthExceededException`.
    #[error("{0}")]
    PolicyLengthExceeded(String),
    /// `ProvisionedConcurrencyConfigNotFoundException`.
    #[error("{0}")]
    ProvisionedConcurrencyConfigNotFound(String),
    /// `CodeSigningConfigNotFoundException`.
    #[error("{0}")]
    CodeSigningConfigNotFound(String),
    /// `TooManyRequestsException` (`Rate Exceeded.`) with this `Reason`.
    #[error("Rate Exceeded.")]
    TooManyRequests(&'static str),
    /// `ServiceException`: our fault, not the caller's.
    #[error("{0}")]
    Service(String),
}

impl From<StoreError> for ControlError {
    fn from(e: StoreError) -> Self {
        // A unique key someone else took first (another node, a concurrent request): what
        // this request would have created already exists.
        if let StoreError::Conflict(what) = &e {
            tracing::info!(conflict = %what, "concurrent create refused");
            return ControlError::ResourceConflict(format!("The resource already exists: {what}"));
        }
        tracing::error!(error = %e, "store failure");
        ControlError::Service(format!("the store failed: {e}"))
    }
}

pub type Result<T, E = ControlError> = std::result::Result<T, E>;

/// Whether a runtime can run on this host; the error names what is missing.
pub type RuntimeCheck = Arc<dyn Fn(&str) -> std::result::Result<(), String> + Send + Sync>;

/// Why a code object could not be read from Versa's S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3CodeError {
    NoSuchBucket,
    NoSuchKey,
    /// Larger than a package can be unzipped.
    TooLarge,
    Other(String),
}

/// Reads `Code.S3Bucket`/`S3Key`(/`S3ObjectVersion`) from Versa's own S3, at most
/// `limits::CODE_SIZE_UNZIPPED_MAX` bytes.
pub type S3CodeFetch = Arc<
    dyn Fn(String, String, Option<String>) -> store::BoxFuture<'static, std::result::Result<Vec<u8>, S3CodeError>>
        + Send
        + Sync,
>;

/// Settings of the control plane that come from the server configuration.
#[derive(Clone)]
pub struct Settings {
    /// The account concurrency limit reported by GetAccountSettings.
    pub account_concurrency: u32,
    /// Consulted by CreateFunction and UpdateFunctionConfiguration, so a function whose
    /// runtime cannot run here is refused up front. `None` accepts every runtime.
    pub runtime_check: Option<RuntimeCheck>,
    /// Where `Code.S3Bucket`/`S3Key` are read from; `None`: every bucket is missing.
    pub s3_code: Option<S3CodeFetch>,
    /// Most events the asynchronous queue holds; Event invokes beyond it get 429.
    pub queued_events_max: u64,
    /// Most payload bytes the asynchronous queue holds; Event invokes beyond it get 429.
    pub queued_event_bytes_max: u64,
    /// Records `AsyncEventsReceived` for each queued Event invocation.
    pub metrics: Option<metrics::Recorder>,
    /// How unreferenced code blobs are collected: at once under a process-local gate (the
    /// embedded file backend), or after a grace period through the store (a shared bucket).
    pub code_gc: CodeGc,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings").field("account_concurrency", &self.account_concurrency).finish_non_exhaustive()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            account_concurrency: model::limits::ACCOUNT_CONCURRENCY_DEFAULT,
            runtime_check: None,
            s3_code: None,
            queued_events_max: QUEUED_EVENTS_MAX,
            queued_event_bytes_max: QUEUED_EVENT_BYTES_MAX,
            metrics: None,
            code_gc: CodeGc::Local,
        }
    }
}

/// The control plane. Cheap to share behind an `Arc`.
pub struct Control {
    store: Store,
    blobs: Arc<dyn BlobBackend>,
    /// Orders blob writes against garbage collection ([`CodeGc::Local`] only): whoever writes
    /// a blob holds a read guard until the transaction referencing it has committed; the
    /// collector holds the write guard while it checks references and deletes. So a blob is
    /// never collected between being written and being referenced. (A shared blob store
    /// uses the store's `code_blobs` table instead: see `gc.rs`.)
    blob_gate: RwLock<()>,
    /// Woken when references to code blobs were dropped ([`CodeGc::Shared`]): the collector
    /// runs a round once the grace period has passed.
    code_gc_wake: Arc<tokio::sync::Notify>,
    settings: Settings,
    /// Cached qualifier resolutions for Invoke; see `invoke.rs`.
    resolutions: crate::invoke::Resolutions,
    /// Woken when an event is queued.
    events_queued: tokio::sync::Notify,
    /// Woken when this node queued an event, for the other nodes (see `events_announce`).
    events_announce: tokio::sync::Notify,
    /// Accepted events waiting to join the next group commit (see `events.rs`).
    accepts: std::sync::Arc<crate::events::Accepts>,
    /// What the event queue held when last counted, plus what was queued since.
    queue_totals: std::sync::Mutex<Option<(std::time::Instant, store::QueueTotals)>>,
    /// Unreserved concurrency per scope; dropped when a reservation or provisioned
    /// concurrency changes (see `events.rs`).
    unreserved: std::sync::Mutex<crate::events::UnreservedCache>,
    /// Notices of alias and provisioned-concurrency changes (see `provisioned.rs`).
    changes: tokio::sync::broadcast::Sender<crate::provisioned::Changed>,
    /// The SQS and DynamoDB Streams services, for event source mapping checks (see `esm.rs`).
    esm_sources: std::sync::OnceLock<EsmSources>,
    /// Woken after every event source mapping change.
    esm_changed: Arc<tokio::sync::Notify>,
    /// The access keys, told of other nodes' key changes (see [`Control::set_keys`]).
    keys: std::sync::OnceLock<Arc<crate::keys::Keys>>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Control {
    pub fn new(store: Store, blobs: Arc<dyn BlobBackend>, settings: Settings) -> Control {
        let resolutions = crate::invoke::Resolutions::new(store.shared());
        Control {
            store,
            blobs,
            blob_gate: RwLock::new(()),
            code_gc_wake: Arc::new(tokio::sync::Notify::new()),
            settings,
            resolutions,
            events_queued: tokio::sync::Notify::new(),
            events_announce: tokio::sync::Notify::new(),
            accepts: Default::default(),
            queue_totals: std::sync::Mutex::new(None),
            unreserved: Default::default(),
            changes: tokio::sync::broadcast::channel(CHANGES_MAX).0,
            esm_sources: std::sync::OnceLock::new(),
            keys: std::sync::OnceLock::new(),
            esm_changed: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// The store, for the asynchronous-invocation worker's queue operations.
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

/// Most change notices buffered for a slow subscriber (which then re-reads everything).
pub const CHANGES_MAX: usize = 1024;
/// Default for [`Settings::queued_events_max`].
pub const QUEUED_EVENTS_MAX: u64 = 1_000_000;
/// Default for [`Settings::queued_event_bytes_max`] (4 GiB: 16,384 events of the largest size).
pub const QUEUED_EVENT_BYTES_MAX: u64 = 4 * 1024 * 1024 * 1024;

/// The 412 message of a RevisionId precondition on functions, versions and aliases.
pub(crate) const REVISION_MISMATCH: &str = "The Revision Id provided does not match the latest Revision Id. Call \
                                            the GetFunction/GetAlias API to retrieve the latest Revision Id";

/// A fresh random revision id.
fn new_revision() -> model::function::RevisionId {
    model::function::RevisionId(uuid::Uuid::new_v4().to_string())
}

fn validation(violations: Vec<Violation>) -> Result<()> {
    if violations.is_empty() { Ok(()) } else { Err(ControlError::Validation(violations)) }
}

/// Runs blocking blob IO off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> std::io::Result<T> + Send + 'static) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ControlError::Service(format!("code storage failed: {e}"))),
        Err(_) => Err(ControlError::Service("code storage task panicked".to_owned())),
    }
}
