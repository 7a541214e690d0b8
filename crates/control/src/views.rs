//! What operations return: domain records plus the bits of presentation AWS decides per call
//! (which ARN form, which state fields).

use std::collections::BTreeMap;

use model::function::{Alias, Sha256, VersionRecord};

/// The state a response reports for a version. Stored versions are always settled
/// ([`Status::Active`]); the transitional states are what the mutating call itself answers,
/// exactly as Lambda answers them before its asynchronous work finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `State: Pending`, reason `Creating`: the answer of CreateFunction and of
    /// UpdateFunctionCode with `Publish`.
    Creating,
    /// `State: Active`, `LastUpdateStatus: InProgress`: the answer of UpdateFunction*.
    Updating,
    /// `State: Active`, `LastUpdateStatus: Successful`.
    Active,
}

/// One version as a response shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionView {
    pub function_name: String,
    /// The `FunctionArn` to show: unqualified or qualified, as the operation dictates.
    pub arn: String,
    pub record: VersionRecord,
    pub status: Status,
}

/// GetFunction: the configuration plus where the code is and the function's tags.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDetail {
    pub view: VersionView,
    pub code_sha256: Sha256,
    pub tags: BTreeMap<String, String>,
    /// The function's reserved concurrency (whatever the qualifier).
    pub reserved_concurrency: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VersionPage {
    pub versions: Vec<VersionView>,
    pub next_marker: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AliasView {
    pub alias_arn: String,
    pub alias: Alias,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AliasPage {
    pub aliases: Vec<AliasView>,
    pub next_marker: Option<String>,
}
