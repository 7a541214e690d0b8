//! Resource-based policies: AddPermission, RemovePermission, GetPolicy (reference §2.3, §9.1,
//! §9.2), and [`Control::authorize`], which every invocation by a service principal or through a
//! function URL passes.
//!
//! Each of {the unqualified function, each version, each alias} has its own policy, stored under
//! its qualifier (`$LATEST` for the unqualified function). The unqualified policy's RevisionId is
//! `$LATEST`'s, and changing it gives `$LATEST` a new RevisionId; a version's or alias's policy
//! has its own.

use model::arn::{function_arn, qualified_arn};
use model::function::Function;
use model::name::{FunctionRef, NameShape, Qualifier, Version};
use model::policy::{Caller, Policy, Principal, Statement};
use model::scope::{RegionPattern, Scope};
use model::validate::Violation;
use serde_json::json;
use store::{FunctionKey, ReadTx, StoreError};

use crate::names;
use crate::{Control, ControlError, Result, new_revision, validation};

/// The largest policy document, in bytes of its JSON (AWS: 20 KB).
pub const POLICY_BYTES_MAX: usize = 20 * 1024;
const STATEMENT_ID_PATTERN: &str = "([a-zA-Z0-9-_]+)";
const STATEMENT_ID_REMOVE_PATTERN: &str = "([a-zA-Z0-9-_.]+)";
const STATEMENT_ID_LEN_MAX: usize = 100;
const ACTION_PATTERN: &str = "(lambda:[*]|lambda:[a-zA-Z]+|[*])";
const PRINCIPAL_PATTERN: &str = "[^\\s]+";
const SOURCE_ACCOUNT_PATTERN: &str = "\\d{12}";
/// The API model's `Arn` pattern (no recording quotes another).
const SOURCE_ARN_PATTERN: &str =
    r"arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z]{2}(-gov)?-[a-z]+-\d{1})?:(\d{12})?:(.*)";
const ORG_ID_PATTERN: &str = "o-[a-z0-9]{10,32}";
/// The model's `PrincipalOrgID` length bounds.
const ORG_ID_LEN_MIN: usize = 12;
const ORG_ID_LEN_MAX: usize = 34;
const EVENT_SOURCE_TOKEN_PATTERN: &str = "[a-zA-Z0-9._\\-]+";
const EVENT_SOURCE_TOKEN_LEN_MAX: usize = 256;
const URL_AUTH_TYPES: &[&str] = &["NONE", "AWS_IAM"];
const NO_SUCH_RESOURCE: &str = "The resource you requested does not exist.";
const POLICY_REVISION_MISMATCH: &str = "The Revision Id provided does not match the latest Revision Id. Call the \
                                        GetPolicy API to retrieve the latest Revision Id";

/// AddPermission's members, as given.
#[derive(Debug, Clone, Default)]
pub struct PermissionInput {
    pub statement_id: Option<String>,
    pub action: Option<String>,
    pub principal: Option<String>,
    pub source_arn: Option<String>,
    pub source_account: Option<String>,
    pub event_source_token: Option<String>,
    pub revision_id: Option<String>,
    pub principal_org_id: Option<String>,
    pub function_url_auth_type: Option<String>,
    pub invoked_via_function_url: Option<bool>,
}

/// GetPolicy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyView {
    /// The policy document as a JSON string.
    pub policy: String,
    pub revision_id: String,
}

fn is_match(value: &str, ok: impl Fn(u8) -> bool) -> bool {
    !value.is_empty() && value.bytes().all(ok)
}

fn is_statement_id(s: &str, dots: bool) -> bool {
    is_match(s, |b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (dots && b == b'.'))
}

fn is_action(s: &str) -> bool {
    s == "*" || s.strip_prefix("lambda:").is_some_and(|a| a == "*" || is_match(a, |b| b.is_ascii_alphabetic()))
}

/// [`SOURCE_ARN_PATTERN`], matched in full.
fn is_source_arn(s: &str) -> bool {
    model::arn::is_service_arn(s, RegionPattern::GOV_ONLY)
}

fn check_input(input: &PermissionInput, v: &mut Vec<Violation>) {
    match &input.statement_id {
        None => v.push(Violation::not_null("statementId")),
        // Length constraints first, then the pattern, as AWS lists them.
        Some(s) => {
            if s.is_empty() {
                v.push(Violation::len_min(s, "statementId", 1));
            }
            if s.len() > STATEMENT_ID_LEN_MAX {
                v.push(Violation::len_max(s, "statementId", STATEMENT_ID_LEN_MAX));
            }
            if !is_statement_id(s, false) {
                v.push(Violation::pattern(s, "statementId", STATEMENT_ID_PATTERN));
            }
        }
    }
    match &input.action {
        None => v.push(Violation::not_null("action")),
        Some(a) if !is_action(a) => v.push(Violation::pattern(a, "action", ACTION_PATTERN)),
        Some(_) => {}
    }
    match &input.principal {
        None => v.push(Violation::not_null("principal")),
        Some(p) if p.is_empty() || p.chars().any(model::validate::is_java_space) => {
            v.push(Violation::pattern(p, "principal", PRINCIPAL_PATTERN))
        }
        Some(_) => {}
    }
    if let Some(a) = &input.source_account
        && !(a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
    {
        v.push(Violation::pattern(a, "sourceAccount", SOURCE_ACCOUNT_PATTERN));
    }
    if let Some(a) = &input.source_arn
        && !is_source_arn(a)
    {
        v.push(Violation::pattern(a, "sourceArn", SOURCE_ARN_PATTERN));
    }
    if let Some(o) = &input.principal_org_id {
        if o.len() < ORG_ID_LEN_MIN {
            v.push(Violation::len_min(o, "principalOrgID", ORG_ID_LEN_MIN));
        }
        if o.len() > ORG_ID_LEN_MAX {
            v.push(Violation::len_max(o, "principalOrgID", ORG_ID_LEN_MAX));
        }
        let ok = o.strip_prefix("o-").is_some_and(|r| {
            (10..=32).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
        if !ok {
            v.push(Violation::pattern(o, "principalOrgID", ORG_ID_PATTERN));
        }
    }
    if let Some(t) = &input.event_source_token {
        if !is_match(t, |b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
            v.push(Violation::pattern(t, "eventSourceToken", EVENT_SOURCE_TOKEN_PATTERN));
        }
        if t.len() > EVENT_SOURCE_TOKEN_LEN_MAX {
            v.push(Violation::len_max(t, "eventSourceToken", EVENT_SOURCE_TOKEN_LEN_MAX));
        }
    }
    if let Some(t) = &input.function_url_auth_type
        && !URL_AUTH_TYPES.contains(&t.as_str())
    {
        v.push(Violation::enum_set(t, "functionUrlAuthType", URL_AUTH_TYPES));
    }
}

/// A statement as Lambda renders it, members in AWS's order.
pub(crate) fn statement_json(s: &Statement) -> String {
    let principal = match &s.principal {
        Principal::Any => json!("*"),
        Principal::Service(n) => json!({ "Service": n }),
        Principal::Aws(arn) => json!({ "AWS": arn }),
    };
    let mut text = format!(
        "{{\"Sid\":{},\"Effect\":\"Allow\",\"Principal\":{},\"Action\":{},\"Resource\":{}",
        json!(s.sid),
        principal,
        json!(s.action),
        json!(s.resource)
    );
    // Condition operators and keys in AWS's order.
    let mut equals: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = &s.source_account {
        equals.push(("AWS:SourceAccount", a));
    }
    if let Some(t) = &s.function_url_auth_type {
        equals.push(("lambda:FunctionUrlAuthType", t));
    }
    if let Some(o) = &s.principal_org_id {
        equals.push(("aws:PrincipalOrgID", o));
    }
    if let Some(t) = &s.event_source_token {
        equals.push(("lambda:EventSourceToken", t));
    }
    let mut operators: Vec<String> = Vec::new();
    let object = |pairs: &[(&str, &str)]| {
        let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{}:{}", json!(k), json!(v))).collect();
        format!("{{{}}}", inner.join(","))
    };
    if !equals.is_empty() {
        operators.push(format!("\"StringEquals\":{}", object(&equals)));
    }
    if let Some(arn) = &s.source_arn {
        operators.push(format!("\"ArnLike\":{}", object(&[("AWS:SourceArn", arn)])));
    }
    if let Some(via) = s.invoked_via_function_url {
        operators.push(format!(
            "\"Bool\":{}",
            object(&[("lambda:InvokedViaFunctionUrl", if via { "true" } else { "false" })])
        ));
    }
    if !operators.is_empty() {
        text.push_str(&format!(",\"Condition\":{{{}}}", operators.join(",")));
    }
    text.push('}');
    text
}

/// The policy document: `{"Version":"2012-10-17","Id":"default","Statement":[...]}`.
pub(crate) fn policy_json(p: &Policy) -> String {
    let statements: Vec<String> = p.statements.iter().map(statement_json).collect();
    format!("{{\"Version\":\"2012-10-17\",\"Id\":\"default\",\"Statement\":[{}]}}", statements.join(","))
}

/// The policy key and resource ARN of a qualifier, after checking that it exists; the error
/// for a missing version or alias is AWS's for `missing_alias` (AddPermission and
/// RemovePermission say "Cannot find alias arn", GetPolicy says nothing exists).
enum Key {
    Unqualified,
    Version(u32),
    Alias(String),
}

impl Key {
    fn store_key(&self) -> String {
        match self {
            Key::Unqualified => Version::LATEST.to_owned(),
            Key::Version(n) => n.to_string(),
            Key::Alias(a) => a.clone(),
        }
    }

    fn resource(&self, scope: &Scope, name: &str) -> String {
        match self {
            Key::Unqualified => function_arn(scope, name),
            Key::Version(n) => qualified_arn(scope, name, n),
            Key::Alias(a) => qualified_arn(scope, name, a),
        }
    }
}

/// What a qualifier names, if it exists: its policy key and the RevisionId a policy without
/// statements compares against.
fn locate(
    tx: &mut dyn ReadTx,
    f: &Function,
    qualifier: Option<&str>,
) -> std::result::Result<Option<(Key, String)>, StoreError> {
    Ok(match qualifier.map(Qualifier::classify) {
        None | Some(Qualifier::Latest) => Some((Key::Unqualified, f.latest.revision_id.0.clone())),
        Some(Qualifier::Version(n)) => match Version::parse(&n) {
            Some(Version::Published(num)) => tx.version(f.id, num)?.map(|r| (Key::Version(num), r.revision_id.0)),
            _ => None,
        },
        Some(Qualifier::Alias(a)) => tx.alias(f.id, &a)?.map(|al| (Key::Alias(a), al.revision_id.0)),
    })
}

impl Control {
    /// AddPermission: adds a statement to the policy of the function, a version or an alias,
    /// and returns the statement as JSON text.
    pub async fn add_permission(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
        input: PermissionInput,
    ) -> Result<String> {
        let mut v = Vec::new();
        let _ = names::check_function_name(function_name, NameShape::Namespaced, &mut v);
        if let Some(q) = qualifier {
            names::check_qualifier(q, &mut v);
        }
        check_input(&input, &mut v);
        validation(v)?;
        let t = names::resolve_qualified(scope, function_name, NameShape::Namespaced, qualifier)?;
        if t.qualifier.as_deref() == Some(Version::LATEST) {
            return Err(ControlError::InvalidParameterValue(
                "We currently do not support adding policies for $LATEST.".to_owned(),
            ));
        }
        let principal = Principal::parse(input.principal.as_deref().unwrap_or_default()).ok_or_else(|| {
            ControlError::InvalidParameterValue(
                "The provided principal was invalid. Please check the principal and try again.".to_owned(),
            )
        })?;
        if !names::can_exist(&t.name) {
            return Err(names::function_not_found(scope, &t.name));
        }
        let (s, n, q) = (scope.clone(), t.name.clone(), t.qualifier.clone());
        self.write(&FunctionKey { scope: s.clone(), name: n.clone() }, move |tx| {
            let Some(mut f) = tx.lock_function(&FunctionKey { scope: s.clone(), name: n.clone() })? else {
                return Err(names::function_not_found(&s, &n));
            };
            let Some((key, base_revision)) = locate(tx, &f, q.as_deref())? else {
                return Err(missing_qualifier(&s, &n, q.as_deref().unwrap_or_default()));
            };
            let mut policy = tx.policy(f.id, &key.store_key())?.unwrap_or_default();
            let current_revision = match key {
                Key::Unqualified => base_revision.clone(),
                _ if policy.statements.is_empty() => base_revision.clone(),
                _ => policy.revision_id.clone(),
            };
            if let Some(r) = &input.revision_id
                && *r != current_revision
            {
                return Err(ControlError::PreconditionFailed(POLICY_REVISION_MISMATCH.to_owned()));
            }
            let sid = input.statement_id.clone().unwrap_or_default();
            if policy.statements.iter().any(|st| st.sid == sid) {
                return Err(ControlError::ResourceConflict(format!(
                    "The statement id ({sid}) provided already exists. Please provide a new statement id, or remove \
                     the existing statement."
                )));
            }
            let statement = Statement {
                sid,
                principal,
                action: input.action.clone().unwrap_or_default(),
                resource: key.resource(&s, &n),
                source_account: input.source_account.clone(),
                source_arn: input.source_arn.clone(),
                principal_org_id: input.principal_org_id.clone(),
                function_url_auth_type: input.function_url_auth_type.clone(),
                event_source_token: input.event_source_token.clone(),
                invoked_via_function_url: input.invoked_via_function_url.filter(|v| *v),
            };
            let text = statement_json(&statement);
            policy.statements.push(statement);
            let size = policy_json(&policy).len();
            if size > POLICY_BYTES_MAX {
                return Err(ControlError::PolicyLengthExceeded(format!(
                    "The final policy size ({size}) is bigger than the limit ({POLICY_BYTES_MAX})."
                )));
            }
            policy.revision_id = new_revision().0;
            if let Key::Unqualified = key {
                f.latest.revision_id = model::function::RevisionId(policy.revision_id.clone());
                tx.update_function(&f)?;
            }
            tx.put_policy(f.id, &key.store_key(), &policy)?;
            Ok(text)
        })
        .await
    }

    /// RemovePermission: removes one statement; the last one takes the policy with it.
    pub async fn remove_permission(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
        statement_id: &str,
        revision_id: Option<String>,
    ) -> Result<()> {
        let mut v = Vec::new();
        let _ = names::check_function_name(function_name, NameShape::Namespaced, &mut v);
        if let Some(q) = qualifier {
            names::check_qualifier(q, &mut v);
        }
        if !is_statement_id(statement_id, true) {
            v.push(Violation::pattern(statement_id, "statementId", STATEMENT_ID_REMOVE_PATTERN));
        }
        if statement_id.len() > STATEMENT_ID_LEN_MAX {
            v.push(Violation::len_max(statement_id, "statementId", STATEMENT_ID_LEN_MAX));
        }
        validation(v)?;
        let t = names::resolve_qualified(scope, function_name, NameShape::Namespaced, qualifier)?;
        let no_policy_for =
            || ControlError::ResourceNotFound(format!("No policy found for: {}", function_arn(scope, &t.name)));
        if !names::can_exist(&t.name) {
            return Err(no_policy_for());
        }
        let (s, n, q, sid) = (scope.clone(), t.name.clone(), t.qualifier.clone(), statement_id.to_owned());
        self.write(&FunctionKey { scope: s.clone(), name: n.clone() }, move |tx| {
            let Some(mut f) = tx.lock_function(&FunctionKey { scope: s.clone(), name: n.clone() })? else {
                return Err(ControlError::ResourceNotFound(format!("No policy found for: {}", function_arn(&s, &n))));
            };
            let Some((key, _)) = locate(tx, &f, q.as_deref())? else {
                return Err(missing_qualifier(&s, &n, q.as_deref().unwrap_or_default()));
            };
            let Some(mut policy) = tx.policy(f.id, &key.store_key())? else {
                return Err(ControlError::ResourceNotFound(
                    "No policy is associated with the given resource.".to_owned(),
                ));
            };
            let current_revision = match key {
                Key::Unqualified => f.latest.revision_id.0.clone(),
                _ => policy.revision_id.clone(),
            };
            if let Some(r) = &revision_id
                && *r != current_revision
            {
                return Err(ControlError::PreconditionFailed(POLICY_REVISION_MISMATCH.to_owned()));
            }
            let before = policy.statements.len();
            policy.statements.retain(|st| st.sid != sid);
            if policy.statements.len() == before {
                return Err(ControlError::ResourceNotFound(format!(
                    "Statement {sid} is not found in resource policy."
                )));
            }
            policy.revision_id = new_revision().0;
            if let Key::Unqualified = key {
                f.latest.revision_id = model::function::RevisionId(policy.revision_id.clone());
                tx.update_function(&f)?;
            }
            tx.put_policy(f.id, &key.store_key(), &policy)?;
            Ok(())
        })
        .await
    }

    /// GetPolicy.
    pub async fn get_policy(&self, scope: &Scope, function_name: &str, qualifier: Option<&str>) -> Result<PolicyView> {
        let t = names::resolve_qualified(scope, function_name, NameShape::Namespaced, qualifier)?;
        let nothing = || ControlError::ResourceNotFound(NO_SUCH_RESOURCE.to_owned());
        if !names::can_exist(&t.name) {
            return Err(nothing());
        }
        let (s, n, q) = (scope.clone(), t.name.clone(), t.qualifier.clone());
        let found = self
            .store
            .read(move |tx| {
                let Some(f) = tx.function(&FunctionKey { scope: s, name: n })? else { return Ok(None) };
                let Some((key, _)) = locate(tx, &f, q.as_deref())? else { return Ok(None) };
                let policy = tx.policy(f.id, &key.store_key())?;
                Ok::<_, StoreError>(policy.map(|p| {
                    let revision = match key {
                        Key::Unqualified => f.latest.revision_id.0.clone(),
                        _ => p.revision_id.clone(),
                    };
                    PolicyView { policy: policy_json(&p), revision_id: revision }
                }))
            })
            .await?;
        found.ok_or_else(nothing)
    }

    /// Whether the policy of the qualifier a caller invokes through (the unqualified function's
    /// for none or `$LATEST`) lets `caller` invoke. A missing function or qualifier is `false`.
    pub async fn authorize(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
        caller: &Caller,
    ) -> Result<bool> {
        let Ok(t) = names::resolve_qualified(scope, function_name, NameShape::Namespaced, qualifier) else {
            return Ok(false);
        };
        if !names::can_exist(&t.name) {
            return Ok(false);
        }
        let (s, n, q) = (scope.clone(), t.name.clone(), t.qualifier.clone());
        let policy = self
            .store
            .read(move |tx| {
                let Some(f) = tx.function(&FunctionKey { scope: s, name: n })? else { return Ok(None) };
                let Some((key, _)) = locate(tx, &f, q.as_deref())? else { return Ok(None) };
                tx.policy(f.id, &key.store_key())
            })
            .await?;
        Ok(policy.is_some_and(|p| p.statements.iter().any(|st| st.allows(caller))))
    }
}

/// What a cross-account request acts on.
#[derive(Debug, Clone, Copy)]
pub enum Foreign<'a> {
    /// The function, version or alias a `FunctionName` (with the `Qualifier` parameter, if any)
    /// names: GetFunction, Invoke, DeleteFunction, GetPolicy... Its own policy decides.
    Function { function_name: &'a str, qualifier: Option<&'a str> },
    /// The function as a whole, whatever qualifier its name carries (the operation ignores it):
    /// UpdateFunctionCode, PublishVersion, the alias operations... The unqualified function's
    /// policy decides, so a grant on one alias never opens the whole function.
    WholeFunction { function_name: &'a str },
    /// A tag operation's `Resource` ARN (tags are function-level).
    Resource(&'a str),
}

impl Control {
    /// The scope an operation acts in. A request acts in its caller's account, unless its
    /// function (or tag resource) ARN names another account: then it acts in that account if
    /// the resource policy of the named function, version or alias lets the caller's account do
    /// `action` (reference §6.2: the operations AWS lists for resource-based policies), and is
    /// refused with 403 `AccessDeniedException` otherwise — also when the function does not
    /// exist, so another account learns nothing from the refusal.
    ///
    /// Names that do not parse, or that name another region, are left to the operation, which
    /// reports them exactly as it does for its own account.
    pub async fn acting_scope(&self, caller: Scope, target: Foreign<'_>, action: &'static str) -> Result<Scope> {
        let (account, region, name, qualifier) = match target {
            // A bare name (the common case) is always the caller's own.
            Foreign::Function { function_name, .. } | Foreign::WholeFunction { function_name }
                if !function_name.contains(':') =>
            {
                return Ok(caller);
            }
            Foreign::Function { function_name, qualifier } => {
                let Some(r) = FunctionRef::parse(function_name, NameShape::Namespaced) else { return Ok(caller) };
                // A qualifier in the name wins; a different `Qualifier` parameter is the
                // operation's own error, after authorization.
                let q = r.qualifier.or_else(|| qualifier.map(str::to_owned));
                (r.account, r.region, r.name, q)
            }
            Foreign::WholeFunction { function_name } => {
                let Some(r) = FunctionRef::parse(function_name, NameShape::Namespaced) else { return Ok(caller) };
                (r.account, r.region, r.name, None)
            }
            Foreign::Resource(arn) => match model::arn::ResourceArn::parse(arn) {
                Some(model::arn::ResourceArn {
                    account,
                    region,
                    resource: model::arn::TaggableResource::Function { name, .. },
                }) => (Some(account), Some(region), name, None),
                _ => return Ok(caller),
            },
        };
        let Some(account) = account.filter(|a| a != caller.account.as_str()) else { return Ok(caller) };
        if region.is_some_and(|r| r != caller.region.as_str()) {
            return Ok(caller);
        }
        let Some(account) = model::scope::AccountId::parse(&account) else { return Ok(caller) };
        let owner = Scope { account, region: caller.region.clone() };
        let who = Caller {
            principal: model::policy::CallerPrincipal::Account(caller.account.as_str().to_owned()),
            action,
            source_account: None,
            source_arn: None,
            function_url_auth_type: None,
        };
        let allowed = names::can_exist(&name) && self.authorize(&owner, &name, qualifier.as_deref(), &who).await?;
        if allowed { Ok(owner) } else { Err(ControlError::AccessDenied(String::new())) }
    }
}

/// AddPermission/RemovePermission on a version or alias that does not exist.
fn missing_qualifier(scope: &Scope, name: &str, qualifier: &str) -> ControlError {
    match Qualifier::classify(qualifier) {
        Qualifier::Alias(a) => {
            ControlError::ResourceNotFound(format!("Cannot find alias arn: {}", qualified_arn(scope, name, &a)))
        }
        _ => names::qualified_not_found(scope, name, qualifier),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_render_in_aws_order() {
        let st = Statement {
            sid: "s3".into(),
            principal: Principal::Service("s3.amazonaws.com".into()),
            action: "lambda:InvokeFunction".into(),
            resource: "arn:aws:lambda:us-east-1:000000000000:function:f:prod".into(),
            source_account: Some("000000000000".into()),
            source_arn: Some("arn:aws:s3:::b".into()),
            principal_org_id: None,
            function_url_auth_type: None,
            event_source_token: None,
            invoked_via_function_url: None,
        };
        assert_eq!(
            statement_json(&st),
            r#"{"Sid":"s3","Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:000000000000:function:f:prod","Condition":{"StringEquals":{"AWS:SourceAccount":"000000000000"},"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::b"}}}"#
        );
        let plain = Statement { source_account: None, source_arn: None, principal: Principal::Any, ..st };
        let v: serde_json::Value = serde_json::from_str(&statement_json(&plain)).unwrap();
        assert_eq!(v["Principal"], "*");
        assert!(v.get("Condition").is_none());
    }

    #[test]
    fn inputs_are_checked_with_the_models_patterns() {
        assert!(is_action("lambda:InvokeFunction") && is_action("lambda:*") && is_action("*"));
        assert!(!is_action("lambda:Invoke-Function") && !is_action("s3:GetObject"));
        assert!(is_source_arn("arn:aws:s3:::bucket") && is_source_arn("arn:aws:sns:us-east-1:123456789012:topic"));
        assert!(!is_source_arn("bucket") && !is_source_arn("arn:aws:s3:::"[..11].as_ref()));
        assert!(is_statement_id("a-b_c", false) && !is_statement_id("a.b", false) && is_statement_id("a.b", true));
    }
}
