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

    /// A control plane over a fresh store, with function `f` at published versions 1 and 2.
    async fn control_with_versions(dir: &std::path::Path) -> (Control, Scope) {
        use std::io::Write;
        let backend = store::SqliteBackend::open(&store::SqliteOptions { path: dir.join("versa.db") }).unwrap();
        let blobs = blobs::FsBlobs::open(&dir.join("blobs")).unwrap();
        let c = Control::new(
            store::Store::new(std::sync::Arc::new(backend)),
            std::sync::Arc::new(blobs),
            crate::Settings::default(),
        );
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file("index.py", zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(b"def handler(e, c):\n    return e\n").unwrap();
        let zip = w.finish().unwrap().into_inner();
        let scope = Scope {
            account: model::scope::AccountId::parse("123456789012").unwrap(),
            region: model::scope::Region::parse("us-east-1").unwrap(),
        };
        let config = crate::ConfigPatch {
            runtime: Some("python3.12".into()),
            handler: Some("index.handler".into()),
            role: Some("arn:aws:iam::123456789012:role/r".into()),
            ..Default::default()
        };
        let input = crate::CreateFunction {
            function_name: Some("f".into()),
            code: Some(crate::CodeInput { zip_file: Some(zip), ..Default::default() }),
            config,
            ..Default::default()
        };
        c.create_function(&scope, input).await.unwrap();
        for n in 1..=2 {
            let patch = crate::ConfigPatch { description: Some(format!("v{n}")), ..Default::default() };
            c.update_function_configuration(&scope, "f", patch, None).await.unwrap();
            c.publish_version(&scope, "f", crate::PublishVersion::default()).await.unwrap();
        }
        (c, scope)
    }

    fn to(version: &str, weight: Option<(&str, f64)>) -> crate::AliasUpdate {
        let weights = weight.map(|(v, w)| std::collections::BTreeMap::from([(v.to_owned(), Some(w))]));
        crate::AliasUpdate {
            function_version: Some(version.into()),
            routing: Some(crate::RoutingInput { additional_version_weights: Some(weights.unwrap_or_default()) }),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn every_alias_write_records_its_actor_and_operation() {
        let dir = tempfile::tempdir().unwrap();
        let (c, s) = control_with_versions(dir.path()).await;
        let input =
            crate::AliasInput { name: Some("prod".into()), function_version: Some("1".into()), ..Default::default() };
        let key = Actor::Key { access_key_id: "AKIA1".into() };
        c.create_alias_as(&s, "f", input, key).await.unwrap();
        let step = Actor::Deployment { id: "d-1".into(), rollback: false };
        c.update_alias_as(&s, "f", "prod", to("1", Some(("2", 0.1))), step.clone()).await.unwrap();
        let back = Actor::Deployment { id: "d-1".into(), rollback: true };
        let view = c.update_alias_as(&s, "f", "prod", to("1", None), back).await.unwrap();
        // The methods without an actor record `System`.
        c.update_alias(&s, "f", "prod", to("2", None)).await.unwrap();
        // A refused write records nothing: a stale RevisionId, a missing version.
        let stale = crate::AliasUpdate { revision_id: Some(view.alias.revision_id.0.clone()), ..to("1", None) };
        assert!(matches!(
            c.update_alias_as(&s, "f", "prod", stale, step.clone()).await,
            Err(ControlError::PreconditionFailed(_))
        ));
        assert!(c.update_alias_as(&s, "f", "prod", to("9", None), step).await.is_err());
        c.delete_alias_as(&s, "f", "prod", Actor::Pipeline { run: "p-1".into() }).await.unwrap();

        let page = c.alias_history(&s, "f", "prod", None, None).await.unwrap();
        let seen: Vec<(&str, &str, &str)> =
            page.changes.iter().map(|c| (c.actor_kind.as_str(), c.actor_id.as_str(), c.operation.as_str())).collect();
        assert_eq!(
            seen,
            [
                ("Pipeline", "p-1", "DeleteAlias"),
                ("System", "", "UpdateAlias"),
                ("Deployment", "d-1", "Rollback"),
                ("Deployment", "d-1", "DeploymentStep"),
                ("Key", "AKIA1", "CreateAlias"),
            ]
        );
        let step = &page.changes[3];
        let target = |v: &str, w: &[(&str, f64)]| AliasTarget {
            function_version: v.into(),
            weights: w.iter().map(|(k, x)| ((*k).to_owned(), *x)).collect(),
        };
        assert_eq!(
            (step.before.clone(), step.after.clone()),
            (Some(target("1", &[])), Some(target("1", &[("2", 0.1)])))
        );
        assert_eq!(page.changes[2].revision_id.as_deref(), Some(view.alias.revision_id.0.as_str()));
        assert_eq!(page.next_marker, None);

        // Pages, bounds, unknown function.
        let first = c.alias_history(&s, "f", "prod", Some(2), None).await.unwrap();
        assert_eq!(first.changes, page.changes[..2]);
        let rest = c.alias_history(&s, "f", "prod", Some(100), first.next_marker.as_deref()).await.unwrap();
        assert_eq!(rest.changes, page.changes[2..]);
        assert!(matches!(c.alias_history(&s, "f", "prod", Some(101), None).await, Err(ControlError::Validation(_))));
        assert!(matches!(
            c.alias_history(&s, "f", "prod", None, Some("x")).await,
            Err(ControlError::InvalidParameterValue(_))
        ));
        assert!(matches!(c.alias_history(&s, "g", "prod", None, None).await, Err(ControlError::ResourceNotFound(_))));
    }
}
