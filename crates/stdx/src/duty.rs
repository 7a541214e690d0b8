//! Which background work this process does when several nodes share one store: a cluster-wide
//! singleton runs where its lease is held ([`Duties::leads`]); partitioned work (one event source
//! mapping's pollers) runs on the HRW owner of its key ([`Duties::owns`]). One node alone
//! ([`Local`]) does everything. `crates/cluster` answers for a cluster.

use std::sync::Arc;

/// The cluster-wide singleton tasks, by lease name.
pub mod task {
    /// The CloudWatch alarm evaluator (`crates/alarms`).
    pub const ALARMS: &str = "alarms";
    /// The CodeDeploy deployment engine (`crates/codedeploy`).
    pub const CODEDEPLOY: &str = "codedeploy";
    /// Every singleton, in the order they are renewed.
    pub const ALL: [&str; 2] = [ALARMS, CODEDEPLOY];
}

pub trait Duties: Send + Sync {
    /// Whether this node runs the singleton `task` now (holds its lease, and is not fenced).
    fn leads(&self, task: &str) -> bool;
    /// Whether this node does the work partitioned by `key` now (it is the key's owner among
    /// the live nodes).
    fn owns(&self, key: &str) -> bool;
    /// Whether this node's files hold the DynamoDB tables (the DynamoDB home): DynamoDB
    /// stream mappings are polled there. One node alone is its own home.
    fn hosts_dynamodb(&self) -> bool {
        true
    }
}

/// One node: every duty is its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct Local;

impl Duties for Local {
    fn leads(&self, _task: &str) -> bool {
        true
    }

    fn owns(&self, _key: &str) -> bool {
        true
    }
}

/// [`Local`] behind the trait object the tasks keep.
pub fn local() -> Arc<dyn Duties> {
    Arc::new(Local)
}
