//! Provisioned concurrency configs (reference §2.5, §11.2), and the change feed the engine
//! follows to keep provisioned environments on the right version.

use model::arn::qualified_arn;
use model::function::{Alias, Function, FunctionId, ProvisionedConfig, VersionRecord};
use model::name::{NameShape, Qualifier, Version};
use model::scope::Scope;
use model::validate::Violation;
use store::{FunctionKey, ReadTx, StoreError};

use crate::functions::{check_max_items, decode_marker, encode_marker};
use crate::names;
use crate::{Control, ControlError, Result, validation};

/// Largest `MaxItems` of ListProvisionedConcurrencyConfigs.
const PAGE_MAX: i64 = 50;

/// Something changed about a function's aliases or provisioned concurrency (or it was
/// deleted): whoever keeps provisioned environments re-reads its plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub scope: Scope,
    pub function: String,
}

/// One provisioned config with the versions it currently applies to.
#[derive(Debug, Clone)]
pub struct ProvisionedPlan {
    pub function_id: FunctionId,
    pub function_name: String,
    pub config: ProvisionedConfig,
    /// The versions to keep environments of, and how many of each: the version itself, or
    /// the alias's version; a weighted alias splits the count between its two versions
    /// ([`ProvisionedConfig::split`]). Versions with nothing to keep are left out.
    pub parts: Vec<ProvisionedPart>,
    pub reserved_concurrency: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct ProvisionedPart {
    pub version: Version,
    pub record: VersionRecord,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedView {
    pub function_id: FunctionId,
    /// Qualified with the alias or version.
    pub function_arn: String,
    pub config: ProvisionedConfig,
    /// The versions it applies to now (see [`ProvisionedPlan::parts`]), so that its status
    /// is only reported for environments of those versions.
    pub versions: Vec<Version>,
}

fn latest_not_allowed() -> ControlError {
    ControlError::InvalidParameterValue(
        "The function resource provided must be an alias or a published version.".to_owned(),
    )
}

fn check(function_name: &str, qualifier: Option<&str>, v: &mut Vec<Violation>) -> Option<model::name::FunctionRef> {
    let parsed = names::check_function_name(function_name, NameShape::Plain, v);
    match qualifier {
        None => v.push(Violation::not_null("qualifier")),
        Some(q) => {
            if !model::name::is_valid_qualifier(q) {
                v.push(Violation::pattern(q, "qualifier", model::name::QUALIFIER_PATTERN));
            }
            if q.len() > model::limits::QUALIFIER_LEN_MAX {
                v.push(Violation::len_max(q, "qualifier", model::limits::QUALIFIER_LEN_MAX));
            }
        }
    }
    parsed
}

/// An alias or version qualifier's version and record (and the alias), or the error AWS gives.
type TargetOf = std::result::Result<(Version, VersionRecord, Option<Alias>), ControlError>;

/// The version an alias or version qualifier stands for, or the 404 AWS gives.
fn target_of(
    tx: &mut dyn ReadTx,
    scope: &Scope,
    name: &str,
    f: Option<&Function>,
    qualifier: &str,
) -> std::result::Result<TargetOf, StoreError> {
    let alias_missing =
        || ControlError::ResourceNotFound(format!("Cannot find alias arn: {}", qualified_arn(scope, name, &qualifier)));
    let version_missing = || names::qualified_not_found(scope, name, qualifier);
    let Some(f) = f else {
        return Ok(Err(match Qualifier::classify(qualifier) {
            Qualifier::Alias(_) => alias_missing(),
            _ => version_missing(),
        }));
    };
    Ok(match Qualifier::classify(qualifier) {
        Qualifier::Latest => Err(latest_not_allowed()),
        Qualifier::Version(n) => match Version::parse(&n) {
            Some(v @ Version::Published(num)) => match tx.version(f.id, num)? {
                Some(r) => Ok((v, r, None)),
                None => Err(version_missing()),
            },
            _ => Err(version_missing()),
        },
        Qualifier::Alias(a) => match tx.alias(f.id, &a)? {
            None => Err(alias_missing()),
            Some(alias) => match alias.function_version {
                Version::Latest => Ok((Version::Latest, f.latest.clone(), Some(alias))),
                v @ Version::Published(num) => match tx.version(f.id, num)? {
                    Some(r) => Ok((v, r, Some(alias))),
                    None => Err(version_missing()),
                },
            },
        },
    })
}

/// The versions a config applies to now and how many environments of each: its version, or
/// its alias's version(s) split by weight. `None` when its alias or version is gone.
fn parts_of(
    tx: &mut dyn ReadTx,
    scope: &Scope,
    name: &str,
    f: &Function,
    config: &ProvisionedConfig,
) -> std::result::Result<Option<Vec<ProvisionedPart>>, StoreError> {
    let Ok((version, record, alias)) = target_of(tx, scope, name, Some(f), &config.qualifier)? else {
        return Ok(None);
    };
    let additional = match alias.and_then(|a| a.routing) {
        Some(r) => tx.version(f.id, r.version)?.map(|record| (r.weight, record)),
        None => None,
    };
    let mut parts = match additional {
        Some((weight, additional)) => {
            let (primary_count, additional_count) = config.split(weight);
            vec![
                ProvisionedPart { version, record, count: primary_count },
                ProvisionedPart { version: additional.version, record: additional, count: additional_count },
            ]
        }
        None => vec![ProvisionedPart { version, record, count: config.requested }],
    };
    // Only published versions are provisioned: an alias moved to `$LATEST` keeps its config
    // but has no environments (they could not follow code updates).
    parts.retain(|p| p.count > 0 && p.version != Version::Latest);
    Ok(Some(parts))
}

fn versions_of(parts: Option<Vec<ProvisionedPart>>) -> Vec<Version> {
    parts.unwrap_or_default().into_iter().map(|p| p.version).collect()
}

impl Control {
    /// Subscribes to [`Changed`] notices.
    pub fn changes(&self) -> tokio::sync::broadcast::Receiver<Changed> {
        self.changes.subscribe()
    }

    /// Announces a change of a function's aliases or provisioned concurrency (or its
    /// deletion). The account's unreserved concurrency depends on them, so it is re-read.
    /// Re-applies a function's provisioned concurrency (several nodes: its allocation moved).
    pub fn provisioned_changed(&self, scope: &Scope, function: &str) {
        let _ = self.changes.send(Changed { scope: scope.clone(), function: function.to_owned() });
    }

    pub(crate) fn changed(&self, scope: &Scope, function: &str) {
        self.forget_unreserved(scope);
        let _ = self.changes.send(Changed { scope: scope.clone(), function: function.to_owned() });
    }

    /// PutProvisionedConcurrencyConfig.
    pub async fn put_provisioned(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
        requested: Option<i64>,
    ) -> Result<ProvisionedView> {
        let mut v = Vec::new();
        let parsed = check(function_name, qualifier, &mut v);
        match requested {
            None => v.push(Violation::not_null("provisionedConcurrentExecutions")),
            Some(n) if n < 1 => v.push(Violation::value_min(n, "provisionedConcurrentExecutions", 1)),
            _ => {}
        }
        validation(v)?;
        let parsed = parsed.expect("validated");
        names::check_scope(scope, &parsed)?;
        let q = qualifier.expect("validated").to_owned();
        let unpublished = || {
            ControlError::InvalidParameterValue(
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions.".to_owned(),
            )
        };
        if q == Version::LATEST {
            return Err(unpublished());
        }
        let requested = u32::try_from(requested.expect("validated")).unwrap_or(u32::MAX);
        let account_limit = self.settings.account_concurrency;
        let (s, n) = (scope.clone(), parsed.name.clone());
        let view = self
            .write(&FunctionKey { scope: s.clone(), name: n.clone() }, move |tx| {
                let f = tx.lock_function(&FunctionKey { scope: s.clone(), name: n.clone() })?;
                let (version, _, alias) = match target_of(tx, &s, &n, f.as_ref(), &q)? {
                    Ok(t) => t,
                    Err(e) => return Err(e),
                };
                let f = f.expect("a target implies the function");
                // An alias on `$LATEST` names an unpublished version too.
                if version == Version::Latest {
                    return Err(unpublished());
                }
                let configs = tx.provisioned_configs(f.id)?;
                // A version is provisioned either directly or through one alias, never both.
                for other in configs.iter().filter(|c| c.qualifier != q) {
                    let other_version = match Qualifier::classify(&other.qualifier) {
                        Qualifier::Alias(a) => tx.alias(f.id, &a)?.map(|a| a.function_version),
                        _ => Version::parse(&other.qualifier),
                    };
                    if other_version == Some(version) {
                        let other_is_alias = matches!(Qualifier::classify(&other.qualifier), Qualifier::Alias(_));
                        return Err(ControlError::ResourceConflict(
                            if alias.is_some() && !other_is_alias {
                                "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version"
                            } else {
                                "Version is pointed by a Provisioned Concurrency alias"
                            }
                            .to_owned(),
                        ));
                    }
                }
                let total: u64 = configs.iter().filter(|c| c.qualifier != q).map(|c| u64::from(c.requested)).sum::<u64>()
                    + u64::from(requested);
                match f.reserved_concurrency {
                    Some(reserved) => {
                        if total > u64::from(reserved) {
                            return Err(ControlError::InvalidParameterValue(
                                "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function"
                                    .to_owned(),
                            ));
                        }
                    }
                    // Without a reservation, provisioned concurrency comes out of the account's
                    // unreserved pool, which must keep its minimum.
                    None => {
                        let replaced = configs.iter().find(|c| c.qualifier == q).map_or(0, |c| u64::from(c.requested));
                        let taken = tx.reserved_concurrency_total(&s)? + tx.unreserved_provisioned_total(&s)? - replaced;
                        let unreserved = u64::from(account_limit).saturating_sub(taken);
                        // Both refusals come without `Type`, as recorded.
                        if u64::from(requested) > unreserved {
                            return Err(ControlError::InvalidParameterValueUntyped(format!(
                                "Specified ConcurrentExecutions for function is greater than account's unreserved concurrency [{unreserved}]."
                            )));
                        }
                        if unreserved - u64::from(requested) < u64::from(model::limits::UNRESERVED_CONCURRENCY_MIN) {
                            return Err(ControlError::InvalidParameterValueUntyped(format!(
                                "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution \
                                 below its minimum value of [{}].",
                                model::limits::UNRESERVED_CONCURRENCY_MIN
                            )));
                        }
                    }
                }
                let config = ProvisionedConfig { qualifier: q.clone(), requested, last_modified_ms: stdx::time::now_ms() };
                tx.put_provisioned_config(f.id, &config)?;
                let versions = versions_of(parts_of(tx, &s, &n, &f, &config)?);
                Ok(ProvisionedView { function_id: f.id, function_arn: qualified_arn(&s, &n, &q), config, versions })
            })
            .await?;
        self.changed(scope, &parsed.name);
        Ok(view)
    }

    /// GetProvisionedConcurrencyConfig.
    pub async fn get_provisioned(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<ProvisionedView> {
        let mut v = Vec::new();
        let parsed = check(function_name, qualifier, &mut v);
        validation(v)?;
        let parsed = parsed.expect("validated");
        names::check_scope(scope, &parsed)?;
        let q = qualifier.expect("validated").to_owned();
        if q == Version::LATEST {
            return Err(latest_not_allowed());
        }
        let (s, n) = (scope.clone(), parsed.name.clone());
        self.store
            .read(move |tx| {
                let f = tx.function(&FunctionKey { scope: s.clone(), name: n.clone() })?;
                target_of(tx, &s, &n, f.as_ref(), &q)??;
                let f = f.expect("a target implies the function");
                let config = tx.provisioned_configs(f.id)?.into_iter().find(|c| c.qualifier == q).ok_or_else(|| {
                    ControlError::ProvisionedConcurrencyConfigNotFound(
                        "No Provisioned Concurrency Config found for this function".to_owned(),
                    )
                })?;
                let versions = versions_of(parts_of(tx, &s, &n, &f, &config)?);
                Ok(ProvisionedView { function_id: f.id, function_arn: qualified_arn(&s, &n, &q), config, versions })
            })
            .await
    }

    /// DeleteProvisionedConcurrencyConfig: 204 even when there is none.
    pub async fn delete_provisioned(&self, scope: &Scope, function_name: &str, qualifier: Option<&str>) -> Result<()> {
        let mut v = Vec::new();
        let parsed = check(function_name, qualifier, &mut v);
        validation(v)?;
        let parsed = parsed.expect("validated");
        names::check_scope(scope, &parsed)?;
        let q = qualifier.expect("validated").to_owned();
        if q == Version::LATEST {
            return Err(latest_not_allowed());
        }
        let (s, n) = (scope.clone(), parsed.name.clone());
        self.write(&FunctionKey { scope: s.clone(), name: n.clone() }, move |tx| {
            let f = tx.lock_function(&FunctionKey { scope: s.clone(), name: n.clone() })?;
            target_of(tx, &s, &n, f.as_ref(), &q)??;
            let f = f.expect("a target implies the function");
            tx.delete_provisioned_config(f.id, &q)?;
            Ok(())
        })
        .await?;
        self.changed(scope, &parsed.name);
        Ok(())
    }

    /// ListProvisionedConcurrencyConfigs.
    pub async fn list_provisioned(
        &self,
        scope: &Scope,
        function_name: &str,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<(Vec<ProvisionedView>, Option<String>)> {
        let mut v = Vec::new();
        let parsed = names::check_function_name(function_name, NameShape::Plain, &mut v);
        check_max_items(max_items, &mut v);
        if let Some(m) = max_items.filter(|m| *m > PAGE_MAX) {
            v.retain(|x| x.field != "maxItems");
            v.push(Violation::value_max(m, "maxItems", PAGE_MAX));
        }
        validation(v)?;
        let parsed = parsed.expect("validated");
        names::check_scope(scope, &parsed)?;
        let limit = max_items.map_or(PAGE_MAX as usize, |m| m.clamp(1, PAGE_MAX) as usize);
        let after = marker.map(decode_marker).transpose()?;
        let (s, n) = (scope.clone(), parsed.name.clone());
        let (views, more) = self
            .store
            .read(move |tx| {
                let Some(f) = tx.function(&FunctionKey { scope: s.clone(), name: n.clone() })? else {
                    return Err(names::function_not_found(&s, &n));
                };
                let mut configs = tx.provisioned_configs(f.id)?;
                configs.retain(|c| after.as_deref().is_none_or(|a| c.qualifier.as_str() > a));
                let more = configs.len() > limit;
                configs.truncate(limit);
                let mut views = Vec::with_capacity(configs.len());
                for config in configs {
                    let versions = versions_of(parts_of(tx, &s, &n, &f, &config)?);
                    let function_arn = qualified_arn(&s, &n, &config.qualifier);
                    views.push(ProvisionedView { function_id: f.id, function_arn, config, versions });
                }
                Ok((views, more))
            })
            .await?;
        let next = if more { views.last().map(|v| encode_marker(&v.config.qualifier)) } else { None };
        Ok((views, next))
    }

    /// What should be provisioned for a function now: each config with the version it
    /// applies to. Empty when the function is gone.
    pub async fn provisioned_plan(&self, scope: &Scope, function: &str) -> Result<Vec<ProvisionedPlan>> {
        let (s, n) = (scope.clone(), function.to_owned());
        self.store
            .read(move |tx| {
                let Some(f) = tx.function(&FunctionKey { scope: s.clone(), name: n.clone() })? else {
                    return Ok::<_, ControlError>(Vec::new());
                };
                let mut plan = Vec::new();
                for config in tx.provisioned_configs(f.id)? {
                    let Some(parts) = parts_of(tx, &s, &n, &f, &config)? else { continue };
                    plan.push(ProvisionedPlan {
                        function_id: f.id,
                        function_name: f.name.clone(),
                        config,
                        parts,
                        reserved_concurrency: f.reserved_concurrency,
                    });
                }
                Ok(plan)
            })
            .await
    }

    /// Every function with provisioned concurrency (at startup).
    pub async fn functions_with_provisioned(&self) -> Result<Vec<(Scope, String)>> {
        Ok(self.store.read(|tx| tx.functions_with_provisioned()).await?)
    }
}
