//! Code signing configurations, of which Versa has none (reference §1.4): the
//! `CodeSigningConfigArn` members are checked against the model and then not found, and the
//! read operations answer as for an account without any.

use model::name::NameShape;
use model::scope::{RegionPattern, Scope};
use model::validate::Violation;
use store::FunctionKey;

use crate::{Control, ControlError, Result, names, validation};

/// The model's `CodeSigningConfigArn` pattern.
pub const CODE_SIGNING_CONFIG_ARN_PATTERN: &str = r"arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\d{1}:\d{12}:code-signing-config:csc-[a-z0-9]{17}";
/// The model's `CodeSigningConfigArn` max length.
const CODE_SIGNING_CONFIG_ARN_LEN_MAX: usize = 200;

/// Whether all of `s` matches [`CODE_SIGNING_CONFIG_ARN_PATTERN`].
fn is_code_signing_config_arn(s: &str) -> bool {
    // No group before the id contains ':', so the colons delimit them.
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts.as_slice() else { return false };
    *arn == "arn"
        && model::arn::is_partition(partition)
        && *service == "lambda"
        && RegionPattern::ISO_B.matches(region)
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource
            .strip_prefix("code-signing-config:csc-")
            .is_some_and(|id| id.len() == 17 && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

/// The model constraints of a `CodeSigningConfigArn` member: length, then pattern.
pub(crate) fn check_arn(arn: &str, field: &str, v: &mut Vec<Violation>) {
    if arn.len() > CODE_SIGNING_CONFIG_ARN_LEN_MAX {
        v.push(Violation::len_max(arn, field, CODE_SIGNING_CONFIG_ARN_LEN_MAX));
    }
    if !is_code_signing_config_arn(arn) {
        v.push(Violation::pattern(arn, field, CODE_SIGNING_CONFIG_ARN_PATTERN));
    }
}

/// What CreateFunction answers for a well-formed code signing config ARN (the text is
/// LocalStack's; AWS's is unrecorded).
pub(crate) fn config_not_found(arn: &str) -> ControlError {
    ControlError::CodeSigningConfigNotFound(format!(
        "The code signing configuration cannot be found. Check that the provided configuration is not deleted: {arn}."
    ))
}

impl Control {
    /// GetFunctionCodeSigningConfig: the function's name, for an answer with an empty
    /// `CodeSigningConfigArn` (no function has one).
    pub async fn get_function_code_signing_config(&self, scope: &Scope, function_name: &str) -> Result<String> {
        let t = names::resolve_qualified(scope, function_name, NameShape::Plain, None)?;
        if !names::can_exist(&t.name) {
            return Err(names::function_not_found(scope, &t.name));
        }
        let (s, n) = (scope.clone(), t.name.clone());
        let f = self.store.read(move |tx| tx.function(&FunctionKey { scope: s, name: n })).await?;
        f.map(|f| f.name).ok_or_else(|| names::function_not_found(scope, &t.name))
    }

    /// GetCodeSigningConfig and ListFunctionsByCodeSigningConfig: a malformed ARN is a
    /// ValidationException; any other names a config that does not exist. The model lists
    /// ResourceNotFoundException (not CodeSigningConfigNotFoundException) for these two.
    pub fn find_code_signing_config(&self, arn: &str) -> Result<std::convert::Infallible> {
        let mut v = Vec::new();
        check_arn(arn, "codeSigningConfigArn", &mut v);
        validation(v)?;
        Err(ControlError::ResourceNotFound(format!("The Lambda code signing configuration {arn} can not be found.")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_signing_config_arns() {
        for ok in [
            "arn:aws:lambda:us-east-1:123456789012:code-signing-config:csc-0123456789abcdefg",
            "arn::lambda:us-isob-east-1:123456789012:code-signing-config:csc-0123456789abcdefg",
            "arn:aws-cn:lambda:cn-north-1:123456789012:code-signing-config:csc-aaaaaaaaaaaaaaaaa",
        ] {
            assert!(is_code_signing_config_arn(ok), "{ok}");
        }
        for bad in [
            "",
            "garbage",
            "arn:aws:lambda:us-east-1:123456789012:code-signing-config:csc-0123456789abcdef",
            "arn:aws:lambda:us-east-1:123456789012:code-signing-config:csc-0123456789ABCDEFG",
            "arn:aws:lambda:us-isoe-east-1:123456789012:code-signing-config:csc-0123456789abcdefg",
            "arn:aws:s3:us-east-1:123456789012:code-signing-config:csc-0123456789abcdefg",
            "arn:aws:lambda:us-east-1:12345678901:code-signing-config:csc-0123456789abcdefg",
        ] {
            assert!(!is_code_signing_config_arn(bad), "{bad}");
        }
    }
}
