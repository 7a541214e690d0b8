//! Turning the `FunctionName` and `Qualifier` parameters into a function name and qualifier of
//! the caller's own account and region (reference §6.2).

use model::arn::function_arn;
use model::limits;
use model::name::{self, FunctionRef, NameShape};
use model::scope::Scope;
use model::validate::Violation;

use crate::{ControlError, Result};

/// A `FunctionName` parameter that passed validation and names a function of the caller's
/// account and region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub name: String,
    /// The qualifier carried in the name itself (`fn:prod`, `arn:...:fn:3`).
    pub qualifier: Option<String>,
}

/// Checks `input` against the pattern and length of `shape`; violations are reported under
/// `functionName`.
pub(crate) fn check_function_name(input: &str, shape: NameShape, out: &mut Vec<Violation>) -> Option<FunctionRef> {
    if input.is_empty() {
        out.push(Violation::len_min(input, "functionName", 1));
        return None;
    }
    let parsed = FunctionRef::parse(input, shape);
    if parsed.is_none() {
        out.push(Violation::pattern(input, "functionName", shape.pattern()));
    }
    if input.len() > shape.len_max() {
        out.push(Violation::len_max(input, "functionName", shape.len_max()));
    }
    if out.is_empty() { parsed } else { None }
}

/// Checks that a parsed name belongs to the caller's region and account.
pub(crate) fn check_scope(scope: &Scope, r: &FunctionRef) -> Result<()> {
    if let Some(region) = &r.region
        && region != scope.region.as_str()
    {
        return Err(ControlError::ResourceNotFound(format!(
            "Functions from '{region}' are not reachable in this region ('{}')",
            scope.region
        )));
    }
    if let Some(account) = &r.account
        && account != scope.account.as_str()
    {
        return Err(ControlError::AccessDenied(String::new()));
    }
    Ok(())
}

/// Checks a `Qualifier` parameter of the `NumericLatestPublishedOrAliasQualifier` shape
/// (GetFunction*, DeleteFunction, Invoke).
/// Length constraints first, then the pattern, as AWS lists them.
pub(crate) fn check_qualifier(q: &str, out: &mut Vec<Violation>) {
    if q.is_empty() {
        out.push(Violation::len_min(q, "qualifier", 1));
    }
    if q.len() > limits::QUALIFIER_LEN_MAX {
        out.push(Violation::len_max(q, "qualifier", limits::QUALIFIER_LEN_MAX));
    }
    let ok = q == "$LATEST.PUBLISHED" || (!q.is_empty() && name::is_valid_qualifier(q));
    if !ok {
        out.push(Violation::pattern(q, "qualifier", name::NUMERIC_LATEST_PUBLISHED_OR_ALIAS_QUALIFIER_PATTERN));
    }
}

/// Resolves a `FunctionName` plus an optional `Qualifier` parameter into a target whose
/// qualifier is the one both agree on.
pub(crate) fn resolve_qualified(
    scope: &Scope,
    input: &str,
    shape: NameShape,
    qualifier: Option<&str>,
) -> Result<Target> {
    let mut v = Vec::new();
    let parsed = check_function_name(input, shape, &mut v);
    if let Some(q) = qualifier {
        check_qualifier(q, &mut v);
    }
    crate::validation(v)?;
    let parsed = parsed.expect("a name without violations parses");
    check_scope(scope, &parsed)?;
    let qualifier = match (parsed.qualifier, qualifier) {
        (Some(derived), Some(given)) if derived != given => {
            return Err(ControlError::InvalidParameterValue(
                "The derived qualifier from the function name does not match the specified qualifier.".to_owned(),
            ));
        }
        (Some(derived), _) => Some(derived),
        (None, given) => given.map(str::to_owned),
    };
    Ok(Target { name: parsed.name, qualifier })
}

/// `Function not found: <unqualified arn>`.
pub(crate) fn function_not_found(scope: &Scope, name: &str) -> ControlError {
    ControlError::ResourceNotFound(format!("Function not found: {}", function_arn(scope, name)))
}

/// `Function not found: <arn>:<qualifier>`.
pub(crate) fn qualified_not_found(scope: &Scope, name: &str, qualifier: &str) -> ControlError {
    ControlError::ResourceNotFound(format!("Function not found: {}:{qualifier}", function_arn(scope, name)))
}

/// Whether a function by this name can exist at all. Names the patterns accept but no function
/// can have (too long, or with dots) are simply not found.
pub(crate) fn can_exist(name: &str) -> bool {
    name::is_valid_function_name(name)
}
