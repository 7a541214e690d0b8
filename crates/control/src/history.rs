//! Alias history: who moved an alias, when, from what to what. Every alias write records one
//! row in its own transaction (so the history never disagrees with the alias); rows stay
//! after the alias is deleted and go with the function (a function created again under the
//! same name starts afresh, as its ARN names a new resource).

use model::function::Alias;
use model::name::NameShape;
use model::scope::Scope;
use model::validate::Violation;
use store::{AliasHistoryRow, AliasTargetRow, FunctionKey, WriteTx};

use crate::names;
use crate::{Control, ControlError, Result, validation};

/// Most changes kept per alias; older ones are trimmed as new ones come.
pub const ALIAS_HISTORY_PER_ALIAS_MAX: usize = 1_000;
/// Most changes kept in all; the oldest are trimmed first.
pub const ALIAS_HISTORY_MAX: usize = 100_000;
/// Most changes one read answers with.
pub const ALIAS_HISTORY_PAGE_MAX: usize = 100;
/// Changes one read answers with when the caller does not say.
pub const ALIAS_HISTORY_PAGE_DEFAULT: usize = 50;

/// Who changed an alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An API caller, by the access key id its request was signed with (verified under
    /// `--auth sigv4`; as sent under `--auth off`).
    Key { access_key_id: String },
    /// An unsigned API request (possible under `--auth off` only).
    Anonymous,
    /// A deployment moving traffic (`rollback: false`) or moving it back (`rollback: true`).
    Deployment { id: String, rollback: bool },
    /// A promotion pipeline's run.
    Pipeline { run: String },
    /// Versa itself, or a caller that did not say.
    System,
}

impl Actor {
    /// `Key`, `Anonymous`, `Deployment`, `Pipeline` or `System`.
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::Key { .. } => "Key",
            Actor::Anonymous => "Anonymous",
            Actor::Deployment { .. } => "Deployment",
            Actor::Pipeline { .. } => "Pipeline",
            Actor::System => "System",
        }
    }

    /// The access key id, deployment id or pipeline run; empty for the others.
    pub fn id(&self) -> &str {
        match self {
            Actor::Key { access_key_id } => access_key_id,
            Actor::Deployment { id, .. } => id,
            Actor::Pipeline { run } => run,
            Actor::Anonymous | Actor::System => "",
        }
    }

    /// What a change by this actor is recorded as: the API operation, except for an update by a
    /// deployment (`DeploymentStep`, `Rollback`) or a pipeline (`Promotion`).
    fn operation(&self, api: &'static str) -> &'static str {
        match (self, api) {
            (Actor::Deployment { rollback: false, .. }, "UpdateAlias") => "DeploymentStep",
            (Actor::Deployment { rollback: true, .. }, "UpdateAlias") => "Rollback",
            (Actor::Pipeline { .. }, "UpdateAlias") => "Promotion",
            _ => api,
        }
    }
}

/// What an alias sends traffic to.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasTarget {
    /// `$LATEST` or a version number.
    pub function_version: String,
    /// Additional versions and their weights (`[0, 1]`).
    pub weights: Vec<(String, f64)>,
}

/// One recorded change of an alias.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasChange {
    pub time_ms: i64,
    pub actor_kind: String,
    pub actor_id: String,
    pub operation: String,
    /// `None` for a creation.
    pub before: Option<AliasTarget>,
    /// `None` for a deletion.
    pub after: Option<AliasTarget>,
    /// The alias's RevisionId after the change (`None` after a deletion).
    pub revision_id: Option<String>,
}

/// A page of changes, newest first; `next_marker` continues with older ones.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasHistoryPage {
    pub changes: Vec<AliasChange>,
    pub next_marker: Option<String>,
}

fn target_row(a: &Alias) -> AliasTargetRow {
    AliasTargetRow {
        function_version: a.function_version.to_string(),
        weights: a.routing.iter().map(|r| (r.version.to_string(), r.weight)).collect(),
    }
}

/// Records one change of `alias_name`, inside the transaction that makes it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record(
    tx: &mut dyn WriteTx,
    scope: &Scope,
    function_id: model::function::FunctionId,
    function_name: &str,
    alias_name: &str,
    actor: &Actor,
    api: &'static str,
    before: Option<&Alias>,
    after: Option<&Alias>,
) -> Result<()> {
    let row = AliasHistoryRow {
        id: 0,
        function_id,
        scope: scope.clone(),
        function_name: function_name.to_owned(),
        alias: alias_name.to_owned(),
        time_ms: stdx::time::now_ms(),
        actor_kind: actor.kind().to_owned(),
        actor_id: actor.id().to_owned(),
        operation: actor.operation(api).to_owned(),
        before: before.map(target_row),
        after: after.map(target_row),
        revision_id: after.map(|a| a.revision_id.0.clone()),
    };
    tx.insert_alias_history(&row, ALIAS_HISTORY_PER_ALIAS_MAX, ALIAS_HISTORY_MAX)?;
    Ok(())
}

fn change(r: AliasHistoryRow) -> AliasChange {
    let target = |t: AliasTargetRow| AliasTarget { function_version: t.function_version, weights: t.weights };
    AliasChange {
        time_ms: r.time_ms,
        actor_kind: r.actor_kind,
        actor_id: r.actor_id,
        operation: r.operation,
        before: r.before.map(target),
        after: r.after.map(target),
        revision_id: r.revision_id,
    }
}

fn invalid_marker() -> ControlError {
    ControlError::InvalidParameterValue("The marker provided is not valid.".to_owned())
}

impl Control {
    /// The changes of `alias` of a function, newest first: at most `limit` (default
    /// [`ALIAS_HISTORY_PAGE_DEFAULT`], at most [`ALIAS_HISTORY_PAGE_MAX`]), older than the
    /// change `before` names (a previous page's `next_marker`). An alias that never existed (or
    /// whose history was trimmed away) has an empty history; an unknown function is
    /// `ResourceNotFoundException`.
    pub async fn alias_history(
        &self,
        scope: &Scope,
        function_name: &str,
        alias: &str,
        limit: Option<i64>,
        before: Option<&str>,
    ) -> Result<AliasHistoryPage> {
        let mut v = Vec::new();
        let parsed = names::check_function_name(function_name, NameShape::Plain, &mut v);
        if !model::name::is_valid_alias_name(alias) || alias.len() > model::limits::ALIAS_NAME_LEN_MAX {
            v.push(Violation::pattern(alias, "alias", model::name::ALIAS_NAME_PATTERN));
        }
        if let Some(l) = limit
            && !(1..=ALIAS_HISTORY_PAGE_MAX as i64).contains(&l)
        {
            v.push(Violation::new(
                l.to_string(),
                "limit",
                format!("Member must have value between 1 and {ALIAS_HISTORY_PAGE_MAX}"),
            ));
        }
        validation(v)?;
        let parsed = parsed.expect("validated");
        names::check_scope(scope, &parsed)?;
        let fname = parsed.name;
        if !names::can_exist(&fname) {
            return Err(names::function_not_found(scope, &fname));
        }
        let before_id = match before {
            Some(m) => Some(m.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(invalid_marker)?),
            None => None,
        };
        let limit = limit.map_or(ALIAS_HISTORY_PAGE_DEFAULT, |l| l as usize);
        let (s, n, a) = (scope.clone(), fname.clone(), alias.to_owned());
        let rows = self
            .store
            .read(move |tx| {
                let Some(f) = tx.function(&FunctionKey { scope: s.clone(), name: n.clone() })? else {
                    return Err(names::function_not_found(&s, &n));
                };
                Ok(tx.alias_history(f.id, &a, before_id, limit + 1)?)
            })
            .await?;
        let more = rows.len() > limit;
        let rows: Vec<AliasHistoryRow> = rows.into_iter().take(limit).collect();
        let next_marker = if more { rows.last().map(|r| r.id.to_string()) } else { None };
        Ok(AliasHistoryPage { changes: rows.into_iter().map(change).collect(), next_marker })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_name_themselves_and_their_operations() {
        let key = Actor::Key { access_key_id: "AKIA1".into() };
        assert_eq!((key.kind(), key.id(), key.operation("UpdateAlias")), ("Key", "AKIA1", "UpdateAlias"));
        let step = Actor::Deployment { id: "d-1".into(), rollback: false };
        assert_eq!((step.kind(), step.id(), step.operation("UpdateAlias")), ("Deployment", "d-1", "DeploymentStep"));
        let back = Actor::Deployment { id: "d-1".into(), rollback: true };
        assert_eq!(back.operation("UpdateAlias"), "Rollback");
        assert_eq!(back.operation("CreateAlias"), "CreateAlias");
        let run = Actor::Pipeline { run: "p-7".into() };
        assert_eq!((run.kind(), run.id(), run.operation("UpdateAlias")), ("Pipeline", "p-7", "Promotion"));
        assert_eq!((Actor::System.kind(), Actor::System.id()), ("System", ""));
        assert_eq!(Actor::Anonymous.kind(), "Anonymous");
    }
}
