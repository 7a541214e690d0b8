//! ARNs Versa prints: functions, versions and aliases.

use crate::scope::{RegionPattern, Scope, is_account_id};

/// `(aws[a-zA-Z-]*)?`: the partition of an ARN, which the patterns allow to be empty.
pub fn is_partition(s: &str) -> bool {
    s.is_empty() || (s.starts_with("aws") && s[3..].bytes().all(|b| b.is_ascii_alphabetic() || b == b'-'))
}

/// `arn:aws:lambda:<region>:<account>:function:<name>`.
pub fn function_arn(scope: &Scope, name: &str) -> String {
    format!("arn:aws:lambda:{}:{}:function:{}", scope.region, scope.account, name)
}

/// `arn:aws:lambda:<region>:<account>:function:<name>:<qualifier>`.
pub fn qualified_arn(scope: &Scope, name: &str, qualifier: &dyn std::fmt::Display) -> String {
    format!("arn:aws:lambda:{}:{}:function:{}:{}", scope.region, scope.account, name, qualifier)
}

/// `arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:(<region>)?:(\d{12})?:(.*)`, matched in full: the
/// shape of the API's generic ARN patterns (source ARNs, destinations), whose region
/// sub-pattern differs between them.
pub fn is_service_arn(s: &str, region: RegionPattern) -> bool {
    // No group before `(.*)` can contain ':', so the first five colons delimit them.
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [arn, partition, service, r, account, rest] = parts.as_slice() else { return false };
    *arn == "arn"
        && partition.strip_prefix("aws").is_some_and(|p| p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        && !service.is_empty()
        && service.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && (r.is_empty() || region.matches(r))
        && (account.is_empty() || is_account_id(account))
        && rest.chars().all(crate::validate::is_java_dot)
}

/// A taggable resource ARN as the tag operations accept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceArn {
    pub region: String,
    pub account: String,
    pub resource: TaggableResource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaggableResource {
    Function {
        name: String,
        qualifier: Option<String>,
    },
    /// Code signing configs, event source mappings and capacity providers: valid resource ARNs
    /// whose resources Versa does not have yet.
    Other,
}

/// Pattern of the tag operations' `Resource` parameter: the API model's `TaggableResource`
/// (no recording shows AWS quoting another; unlike the function-name patterns it has no `(eusc-)?`).
pub const TAGGABLE_RESOURCE_PATTERN: &str = r"arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:(function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?|code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|capacity-provider:[a-zA-Z0-9-_]+)";

impl ResourceArn {
    /// Parses a taggable resource ARN; `None` when it does not match the pattern.
    pub fn parse(s: &str) -> Option<ResourceArn> {
        let mut it = s.splitn(6, ':');
        let (Some("arn"), Some(partition), Some("lambda"), Some(region), Some(account), Some(rest)) =
            (it.next(), it.next(), it.next(), it.next(), it.next(), it.next())
        else {
            return None;
        };
        if partition.is_empty()
            || !is_partition(partition)
            || !RegionPattern::MODEL.matches(region)
            || !is_account_id(account)
        {
            return None;
        }
        let resource = if let Some(f) = rest.strip_prefix("function:") {
            // `function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?`
            let word =
                |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            let (name, qualifier) = match f.split_once(':') {
                None => (f, None),
                Some((n, q)) => (n, Some(q)),
            };
            if !word(name) || qualifier.is_some_and(|q| q != "$LATEST" && !word(q)) {
                return None;
            }
            TaggableResource::Function { name: name.to_owned(), qualifier: qualifier.map(str::to_owned) }
        } else if let Some(id) = rest.strip_prefix("code-signing-config:csc-") {
            let ok = id.len() == 17 && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
            if !ok {
                return None;
            }
            TaggableResource::Other
        } else if let Some(id) = rest.strip_prefix("event-source-mapping:") {
            if !is_uuid(id) {
                return None;
            }
            TaggableResource::Other
        } else if let Some(id) = rest.strip_prefix("capacity-provider:") {
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return None;
            }
            TaggableResource::Other
        } else {
            return None;
        };
        Some(ResourceArn { region: region.to_owned(), account: account.to_owned(), resource })
    }
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_arns() {
        let gov = RegionPattern::GOV_ONLY;
        assert!(is_service_arn("arn:aws:s3:::bucket", gov));
        assert!(is_service_arn("arn:aws-cn:sqs:cn-north-1:123456789012:q", gov));
        assert!(is_service_arn("arn:aws:sns:us-east-1::", gov));
        assert!(!is_service_arn("arn:aws:s3:us-iso-east-1::b", gov));
        assert!(is_service_arn("arn:aws:s3:us-iso-east-1::b", RegionPattern::ISO_B));
        assert!(!is_service_arn("arn:aws!:s3:::b", gov));
        assert!(!is_service_arn("arn:azure:s3:::b", gov));
        assert!(!is_service_arn("arn:aws::::b", gov));
        assert!(!is_service_arn("arn:aws:s3:::b\nc", gov));
        assert!(is_service_arn("arn:aws:s3:::", gov));
        assert!(!is_service_arn("arn:aws:s3:us-east-1:1234:b", gov));
    }

    /// The ARN parsers against a regex engine running the patterns AWS quotes (inputs without
    /// the line terminators on which Java's and the engine's `.` differ).
    #[test]
    fn arn_parsers_agree_with_the_quoted_patterns() {
        // Inputs shaped like ARNs, position by position, sometimes with a part missing.
        const POSITIONS: &[&[&str]] = &[
            &["arn", "arn", "arn", "nra"],
            &["aws", "aws-cn", "aws-us-gov", "aws1", "", "aws!", "azure"],
            &["lambda", "lambda", "s3", "sqs", "s_3", ""],
            &["us-east-1", "", "us-isob-east-1", "eu-isoe-west-1", "eusc-de-east-1", "us-gov-west-1", "us-east"],
            &["123456789012", "", "1234"],
            &["function", "code-signing-config", "event-source-mapping", "capacity-provider", "fn", "bucket/key"],
        ];
        const TAILS: &[&str] = &[
            "fn",
            "my_fn-2",
            "$LATEST",
            "prod",
            "my.fn",
            "csc-0123456789abcdefg",
            "csc-0123456789ABCDEFG",
            "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
            "0f1e2d3c-4b5a-6978-8a9b",
            "a b",
        ];
        let source = r"arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z]{2}(-gov)?-[a-z]+-\d{1})?:(\d{12})?:(.*)";
        let destination =
            r"arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\d{1})?:(\d{12})?:(.*)";
        type Parser = fn(&str) -> bool;
        let checks: [(&str, Parser); 3] = [
            (source, |s| is_service_arn(s, RegionPattern::GOV_ONLY)),
            (destination, |s| is_service_arn(s, RegionPattern::ISO_B)),
            (TAGGABLE_RESOURCE_PATTERN, |s| ResourceArn::parse(s).is_some()),
        ];
        for (text, parse) in checks {
            let re = regex_lite::Regex::new(&format!("^(?:{text})$")).unwrap();
            let mut seed: u64 = 0xa11;
            let mut next = |n: usize| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((seed >> 33) as usize) % n
            };
            let mut accepted = 0;
            for _ in 0..40_000 {
                let mut input: Vec<&str> = POSITIONS.iter().map(|p| p[next(p.len())]).collect();
                for _ in 0..next(3) {
                    input.push(TAILS[next(TAILS.len())]);
                }
                if next(10) == 0 {
                    input.remove(next(input.len()));
                }
                let input = input.join(":");
                let want = re.is_match(&input);
                accepted += usize::from(want);
                assert_eq!(parse(&input), want, "{text} {input:?}");
            }
            assert!(accepted > 50, "{text}: only {accepted} accepted inputs");
        }
    }

    #[test]
    fn resource_arns() {
        let a = ResourceArn::parse("arn:aws:lambda:us-east-1:123456789012:function:f").unwrap();
        assert_eq!(a.resource, TaggableResource::Function { name: "f".into(), qualifier: None });
        let a = ResourceArn::parse("arn:aws:lambda:us-east-1:123456789012:function:f:prod").unwrap();
        assert_eq!(a.resource, TaggableResource::Function { name: "f".into(), qualifier: Some("prod".into()) });
        assert!(ResourceArn::parse("f").is_none());
        assert!(ResourceArn::parse("arn:aws:lambda:us-east-1:1234:function:f").is_none());
        assert!(ResourceArn::parse("arn:aws:s3:us-east-1:123456789012:function:f").is_none());
        // The quoted pattern has no `(eusc-)?`, so neither does the parser.
        assert!(ResourceArn::parse("arn:aws-eusc:lambda:eusc-de-east-1:123456789012:function:f").is_none());
        assert!(ResourceArn::parse("arn:aws-iso-f:lambda:us-isof-south-1:123456789012:function:f").is_some());
        assert!(
            ResourceArn::parse(
                "arn:aws:lambda:us-east-1:123456789012:event-source-mapping:0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
            )
            .is_some()
        );
    }
}
