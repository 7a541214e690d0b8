//! Aliases: CreateAlias, GetAlias, UpdateAlias, DeleteAlias, ListAliases (reference §5).

use std::collections::BTreeMap;

use model::arn::function_arn;
use model::function::{AdditionalVersion, Alias, Function};
use model::limits;
use model::name::{self, NameShape, Version};
use model::scope::Scope;
use model::validate::{Violation, java_double};
use store::{FunctionKey, WriteTx};

use crate::functions::{check_max_items, decode_marker, encode_marker, page_size};
use crate::history::{self, Actor};
use crate::names;
use crate::views::{AliasPage, AliasView};
use crate::{Control, ControlError, Result, new_revision, validation};

/// `RoutingConfig` as sent: `AdditionalVersionWeights`, if present. A `None` weight is a JSON
/// `null`.
#[derive(Debug, Clone, Default)]
pub struct RoutingInput {
    pub additional_version_weights: Option<BTreeMap<String, Option<f64>>>,
}

/// CreateAlias's input, unvalidated.
#[derive(Debug, Clone, Default)]
pub struct AliasInput {
    pub name: Option<String>,
    pub function_version: Option<String>,
    pub description: Option<String>,
    pub routing: Option<RoutingInput>,
}

/// UpdateAlias's input, unvalidated. Only members present change.
#[derive(Debug, Clone, Default)]
pub struct AliasUpdate {
    pub function_version: Option<String>,
    pub description: Option<String>,
    pub routing: Option<RoutingInput>,
    pub revision_id: Option<String>,
}

/// Length constraints first, then the pattern, as AWS lists them.
fn check_alias_name(n: &str, v: &mut Vec<Violation>) {
    if n.is_empty() {
        v.push(Violation::len_min(n, "name", 1));
    }
    if n.len() > limits::ALIAS_NAME_LEN_MAX {
        v.push(Violation::len_max(n, "name", limits::ALIAS_NAME_LEN_MAX));
    }
    if !name::is_valid_alias_name(n) {
        v.push(Violation::pattern(n, "name", name::ALIAS_NAME_PATTERN));
    }
}

fn check_function_version(fv: &str, v: &mut Vec<Violation>) {
    let ok = fv == "$LATEST" || fv == "$LATEST.PUBLISHED" || (!fv.is_empty() && fv.bytes().all(|b| b.is_ascii_digit()));
    if !ok {
        v.push(Violation::pattern(fv, "functionVersion", name::FUNCTION_VERSION_PATTERN));
    }
    if fv.len() > 1024 {
        v.push(Violation::len_max(fv, "functionVersion", 1024));
    }
}

/// Java's `Map.toString` of the weights, as AWS echoes them: `{2=0.5}`.
fn show_weights(w: &BTreeMap<String, Option<f64>>) -> String {
    let items: Vec<String> =
        w.iter().map(|(k, v)| format!("{k}={}", v.map_or_else(|| "null".to_owned(), java_double))).collect();
    format!("{{{}}}", items.join(", "))
}

fn check_routing(r: &RoutingInput, v: &mut Vec<Violation>) {
    let Some(w) = &r.additional_version_weights else { return };
    let field = "routingConfig.additionalVersionWeights";
    let key_ok = |k: &String| !k.is_empty() && k.len() <= 1024 && k.bytes().all(|b| b.is_ascii_digit());
    if !w.keys().all(key_ok) {
        v.push(Violation::new(
            show_weights(w),
            field,
            "Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have \
             length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]",
        ));
    }
    if !w.values().all(|x| x.is_some_and(|x| (0.0..=1.0).contains(&x))) {
        v.push(Violation::new(
            show_weights(w),
            field,
            "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have \
             value greater than or equal to 0.0, Member must not be null]",
        ));
    }
}

fn alias_arn(scope: &Scope, function: &str, alias: &str) -> String {
    format!("{}:{alias}", function_arn(scope, function))
}

fn view(scope: &Scope, function: &str, alias: Alias) -> AliasView {
    AliasView { alias_arn: alias_arn(scope, function, &alias.name), alias }
}

/// Checks that a version (as the client wrote it) exists; answers with the parsed version.
fn existing_version(tx: &mut dyn WriteTx, s: &Scope, f: &Function, text: &str) -> Result<Version> {
    let missing = || names::qualified_not_found(s, &f.name, text);
    match Version::parse(text) {
        Some(Version::Latest) => Ok(Version::Latest),
        Some(Version::Published(n)) => match tx.version(f.id, n)? {
            Some(_) => Ok(Version::Published(n)),
            None => Err(missing()),
        },
        None => Err(missing()),
    }
}

/// The semantic routing rules of §5, for an alias whose primary is `primary`.
fn routing_rules(
    tx: &mut dyn WriteTx,
    s: &Scope,
    f: &Function,
    primary: Version,
    weights: &BTreeMap<String, Option<f64>>,
) -> Result<Option<AdditionalVersion>> {
    if weights.is_empty() {
        return Ok(None);
    }
    if weights.len() > 1 {
        return Err(ControlError::InvalidParameterValue(
            "Number of items in AdditionalVersionWeights cannot be greater than 1".to_owned(),
        ));
    }
    let (key, weight) = weights.iter().next().expect("one entry");
    if Version::parse(key) == Some(primary) {
        return Err(ControlError::InvalidParameterValue(format!(
            "Invalid function version {key}. Function version {key} is already included in routing configuration."
        )));
    }
    if primary == Version::Latest {
        return Err(ControlError::InvalidParameterValueUntyped(
            "$LATEST is not supported for an alias pointing to more than 1 version".to_owned(),
        ));
    }
    let Version::Published(n) = existing_version(tx, s, f, key)? else { unreachable!("routing keys are all digits") };
    Ok(Some(AdditionalVersion { version: n, weight: weight.expect("validated") }))
}

impl Control {
    fn alias_target(scope: &Scope, function_name: &str, alias: Option<&str>) -> Result<(String, Vec<Violation>)> {
        let mut v = Vec::new();
        let parsed = names::check_function_name(function_name, NameShape::Plain, &mut v);
        if let Some(a) = alias {
            check_alias_name(a, &mut v);
        }
        if let Some(p) = &parsed
            && v.is_empty()
        {
            names::check_scope(scope, p)?;
        }
        Ok((parsed.map(|p| p.name).unwrap_or_default(), v))
    }

    /// CreateAlias, recorded in the alias history as done by [`Actor::System`].
    pub async fn create_alias(&self, scope: &Scope, function_name: &str, input: AliasInput) -> Result<AliasView> {
        self.create_alias_as(scope, function_name, input, Actor::System).await
    }

    /// CreateAlias by `actor`: the alias and its history row commit together.
    pub async fn create_alias_as(
        &self,
        scope: &Scope,
        function_name: &str,
        input: AliasInput,
        actor: Actor,
    ) -> Result<AliasView> {
        let mut v = Vec::new();
        let parsed = names::check_function_name(function_name, NameShape::Plain, &mut v);
        match &input.name {
            Some(n) => check_alias_name(n, &mut v),
            None => v.push(Violation::not_null("name")),
        }
        match &input.function_version {
            Some(fv) => check_function_version(fv, &mut v),
            None => v.push(Violation::not_null("functionVersion")),
        }
        if let Some(d) = &input.description {
            crate::config::check_description(d, &mut v);
        }
        if let Some(r) = &input.routing {
            check_routing(r, &mut v);
        }
        validation(v)?;
        let parsed = parsed.expect("validated");
        names::check_scope(scope, &parsed)?;
        let (fname, alias_name, fv) =
            (parsed.name, input.name.expect("validated"), input.function_version.expect("validated"));
        if !names::can_exist(&fname) {
            return Err(names::qualified_not_found(scope, &fname, &fv));
        }
        let (s, n) = (scope.clone(), fname.clone());
        let weights = input.routing.and_then(|r| r.additional_version_weights).unwrap_or_default();
        let description = input.description.unwrap_or_default();
        let alias = self
            .write(&FunctionKey { scope: s.clone(), name: n.clone() }, move |tx| {
                let Some(f) = tx.lock_function(&FunctionKey { scope: s.clone(), name: n.clone() })? else {
                    return Err(names::qualified_not_found(&s, &n, &fv));
                };
                let primary = existing_version(tx, &s, &f, &fv)?;
                let routing = routing_rules(tx, &s, &f, primary, &weights)?;
                if tx.alias(f.id, &alias_name)?.is_some() {
                    return Err(ControlError::ResourceConflict(format!(
                        "Alias already exists: {}",
                        alias_arn(&s, &n, &alias_name)
                    )));
                }
                let alias = Alias {
                    name: alias_name,
                    function_version: primary,
                    description,
                    routing,
                    revision_id: new_revision(),
                };
                tx.put_alias(f.id, &alias)?;
                history::record(tx, &s, f.id, &n, &alias.name, &actor, "CreateAlias", None, Some(&alias))?;
                Ok(alias)
            })
            .await?;
        Ok(view(scope, &fname, alias))
    }

    pub async fn get_alias(&self, scope: &Scope, function_name: &str, alias: &str) -> Result<AliasView> {
        let (fname, v) = Self::alias_target(scope, function_name, Some(alias))?;
        validation(v)?;
        if !names::can_exist(&fname) {
            return Err(names::function_not_found(scope, &fname));
        }
        let (s, n, a) = (scope.clone(), fname.clone(), alias.to_owned());
        let found = self
            .store
            .read_short(move |tx| {
                let Some(f) = tx.function(&FunctionKey { scope: s.clone(), name: n.clone() })? else {
                    return Err(names::function_not_found(&s, &n));
                };
                Ok(tx.alias(f.id, &a)?)
            })
            .await?;
        match found {
            Some(a) => Ok(view(scope, &fname, a)),
            None => Err(ControlError::ResourceNotFound(format!(
                "Cannot find alias arn: {}",
                alias_arn(scope, &fname, alias)
            ))),
        }
    }

    /// UpdateAlias, recorded in the alias history as done by [`Actor::System`].
    pub async fn update_alias(
        &self,
        scope: &Scope,
        function_name: &str,
        alias: &str,
        input: AliasUpdate,
    ) -> Result<AliasView> {
        self.update_alias_as(scope, function_name, alias, input, Actor::System).await
    }

    /// UpdateAlias by `actor` (recorded as `UpdateAlias`, or `DeploymentStep`/`Rollback` for a
    /// deployment, `Promotion` for a pipeline): the alias and its history row commit together,
    /// and a refused update (RevisionId, validation) records nothing.
    pub async fn update_alias_as(
        &self,
        scope: &Scope,
        function_name: &str,
        alias: &str,
        input: AliasUpdate,
        actor: Actor,
    ) -> Result<AliasView> {
        let (fname, mut v) = Self::alias_target(scope, function_name, Some(alias))?;
        if let Some(fv) = &input.function_version {
            check_function_version(fv, &mut v);
        }
        if let Some(d) = &input.description {
            crate::config::check_description(d, &mut v);
        }
        if let Some(r) = &input.routing {
            check_routing(r, &mut v);
        }
        validation(v)?;
        if !names::can_exist(&fname) {
            return Err(names::function_not_found(scope, &fname));
        }
        let (s, n, a) = (scope.clone(), fname.clone(), alias.to_owned());
        let updated = self
            .write(&FunctionKey { scope: s.clone(), name: n.clone() }, move |tx| {
                let Some(f) = tx.lock_function(&FunctionKey { scope: s.clone(), name: n.clone() })? else {
                    return Err(names::function_not_found(&s, &n));
                };
                let Some(mut alias) = tx.alias(f.id, &a)? else {
                    return Err(ControlError::ResourceNotFound(format!("Alias not found: {}", alias_arn(&s, &n, &a))));
                };
                if let Some(r) = &input.revision_id
                    && *r != alias.revision_id.0
                {
                    return Err(ControlError::PreconditionFailed(crate::REVISION_MISMATCH.to_owned()));
                }
                let before = alias.clone();
                if let Some(fv) = &input.function_version {
                    alias.function_version = existing_version(tx, &s, &f, fv)?;
                }
                let weights: BTreeMap<String, Option<f64>> = match input.routing {
                    Some(r) => r.additional_version_weights.unwrap_or_default(),
                    None => alias.routing.iter().map(|r| (r.version.to_string(), Some(r.weight))).collect(),
                };
                alias.routing = routing_rules(tx, &s, &f, alias.function_version, &weights)?;
                let provisioned = tx.provisioned_configs(f.id)?.iter().any(|c| c.qualifier == a);
                // Provisioned concurrency needs a published version: an alias that has some
                // cannot move to `$LATEST` (its environments could not follow code updates).
                if provisioned && alias.function_version == Version::Latest {
                    return Err(ControlError::InvalidParameterValue(
                        "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
                            .to_owned(),
                    ));
                }
                if let Some(d) = input.description {
                    alias.description = d;
                }
                alias.revision_id = new_revision();
                tx.put_alias(f.id, &alias)?;
                history::record(tx, &s, f.id, &n, &a, &actor, "UpdateAlias", Some(&before), Some(&alias))?;
                Ok((alias, provisioned))
            })
            .await?;
        let (updated, provisioned) = updated;
        // Only an alias with provisioned concurrency has environments to move.
        if provisioned {
            self.changed(scope, &fname);
        }
        Ok(view(scope, &fname, updated))
    }

    /// DeleteAlias, recorded in the alias history as done by [`Actor::System`].
    pub async fn delete_alias(&self, scope: &Scope, function_name: &str, alias: &str) -> Result<()> {
        self.delete_alias_as(scope, function_name, alias, Actor::System).await
    }

    /// DeleteAlias by `actor`. Deleting an alias that does not exist records nothing.
    pub async fn delete_alias_as(&self, scope: &Scope, function_name: &str, alias: &str, actor: Actor) -> Result<()> {
        let (fname, v) = Self::alias_target(scope, function_name, Some(alias))?;
        validation(v)?;
        if !names::can_exist(&fname) {
            return Err(names::function_not_found(scope, &fname));
        }
        let (s, n, a) = (scope.clone(), fname.clone(), alias.to_owned());
        self.write(&FunctionKey { scope: s.clone(), name: n.clone() }, move |tx| {
            let Some(f) = tx.lock_function(&FunctionKey { scope: s.clone(), name: n.clone() })? else {
                return Err(names::function_not_found(&s, &n));
            };
            // Deleting an alias that does not exist succeeds, as on AWS. Its provisioned
            // concurrency goes with it.
            let before = tx.alias(f.id, &a)?;
            tx.delete_alias(f.id, &a)?;
            if let Some(before) = before {
                history::record(tx, &s, f.id, &n, &a, &actor, "DeleteAlias", Some(&before), None)?;
            }
            Ok(tx.delete_provisioned_config(f.id, &a)?)
        })
        .await
        .map(|provisioned| {
            if provisioned {
                self.changed(scope, &fname);
            }
            if let Some(m) = &self.settings.metrics {
                m.forget(scope.account.as_str(), scope.region.as_str(), &fname, Some(alias));
            }
        })
    }

    pub async fn list_aliases(
        &self,
        scope: &Scope,
        function_name: &str,
        function_version: Option<&str>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<AliasPage> {
        let (fname, mut v) = Self::alias_target(scope, function_name, None)?;
        if let Some(fv) = function_version {
            check_function_version(fv, &mut v);
        }
        check_max_items(max_items, &mut v);
        validation(v)?;
        if !names::can_exist(&fname) {
            return Err(names::function_not_found(scope, &fname));
        }
        let limit = page_size(max_items);
        let after = marker.map(decode_marker).transpose()?;
        let filter = function_version.map(str::to_owned);
        let (s, n) = (scope.clone(), fname.clone());
        let (aliases, more) = self
            .store
            .read(move |tx| {
                let Some(f) = tx.function(&FunctionKey { scope: s.clone(), name: n.clone() })? else {
                    return Err(names::function_not_found(&s, &n));
                };
                let mut out = Vec::new();
                let mut cursor = after;
                loop {
                    let batch = tx.aliases(f.id, cursor.as_deref(), limit + 1)?;
                    let exhausted = batch.len() <= limit;
                    for a in batch {
                        cursor = Some(a.name.clone());
                        if filter.as_deref().is_none_or(|fv| a.function_version.to_string() == fv) {
                            out.push(a);
                        }
                    }
                    if out.len() > limit || exhausted {
                        break;
                    }
                }
                let more = out.len() > limit;
                out.truncate(limit);
                Ok::<_, ControlError>((out, more))
            })
            .await?;
        let next_marker = if more { aliases.last().map(|a| encode_marker(&a.name)) } else { None };
        Ok(AliasPage { aliases: aliases.into_iter().map(|a| view(scope, &fname, a)).collect(), next_marker })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_shown_like_java_maps() {
        let w = BTreeMap::from([("2".to_owned(), Some(2.0))]);
        assert_eq!(show_weights(&w), "{2=2.0}");
        let w = BTreeMap::from([("$LATEST".to_owned(), Some(0.5))]);
        assert_eq!(show_weights(&w), "{$LATEST=0.5}");
        let w = BTreeMap::from([("1".to_owned(), None)]);
        assert_eq!(show_weights(&w), "{1=null}");
    }
}
