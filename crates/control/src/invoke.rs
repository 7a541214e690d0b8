//! Which version an invocation runs: qualifier resolution and weighted alias routing.

use model::arn::{function_arn, qualified_arn};
use model::function::{FunctionId, VersionRecord};
use model::name::{NameShape, Qualifier, Version};
use model::scope::Scope;
use store::{FunctionKey, StoreError};

use crate::names;
use crate::{Control, Result};

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
}

impl Control {
    /// Resolves an Invoke's `FunctionName` and `Qualifier` to the version to run. Reads the
    /// committed state, so an invocation that starts after an UpdateAlias answered runs the
    /// alias's new target.
    pub async fn resolve_invoke(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<InvokeTarget> {
        let t = names::resolve_qualified(scope, function_name, NameShape::Namespaced, qualifier)?;
        let shown = t.qualifier.clone().unwrap_or_else(|| Version::LATEST.to_owned());
        if !names::can_exist(&t.name) {
            return Err(names::qualified_not_found(scope, &t.name, &shown));
        }
        let (s, n, q) = (scope.clone(), t.name.clone(), t.qualifier.clone());
        let draw = random_unit();
        let found = self
            .store
            .read(move |tx| {
                let Some(f) = tx.function(&FunctionKey { scope: s, name: n })? else {
                    return Ok::<_, StoreError>(None);
                };
                let picked = match q.as_deref().map(Qualifier::classify) {
                    None | Some(Qualifier::Latest) => Some((Version::Latest, f.latest.clone())),
                    Some(Qualifier::Version(text)) => match Version::parse(&text) {
                        Some(Version::Published(v)) => tx.version(f.id, v)?.map(|r| (Version::Published(v), r)),
                        _ => None,
                    },
                    Some(Qualifier::Alias(a)) => match tx.alias(f.id, &a)? {
                        None => None,
                        Some(alias) => {
                            let version = match alias.routing {
                                Some(r) if draw < r.weight => Version::Published(r.version),
                                _ => alias.function_version,
                            };
                            match version {
                                Version::Latest => Some((Version::Latest, f.latest.clone())),
                                Version::Published(v) => tx.version(f.id, v)?.map(|r| (version, r)),
                            }
                        }
                    },
                };
                Ok(picked.map(|(version, record)| (f.id, version, record)))
            })
            .await?;
        let Some((function_id, version, record)) = found else {
            return Err(names::qualified_not_found(scope, &t.name, &shown));
        };
        let invoked_arn = match &t.qualifier {
            Some(q) => qualified_arn(scope, &t.name, q),
            None => function_arn(scope, &t.name),
        };
        Ok(InvokeTarget { function_id, function_name: t.name, version, record, invoked_arn })
    }
}

/// A uniformly distributed number in `[0, 1)` from the system's random source.
fn random_unit() -> f64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut n = [0u8; 8];
    n.copy_from_slice(&bytes[..8]);
    // 53 random bits make every double in [0, 1) with that spacing equally likely.
    (u64::from_le_bytes(n) >> 11) as f64 / (1u64 << 53) as f64
}
