//! Lambda layers: named, numbered archives that functions mount at `/opt`, and who may use them.
//!
//! A layer is a name within an account and region; each PublishLayerVersion adds an immutable
//! version numbered from 1, and numbers are never reused (the layer keeps counting after its
//! versions are deleted). A function references up to five layer versions by ARN, in order;
//! each version has its own resource policy, which is what lets other accounts use it.

use crate::function::CodeRef;
use crate::scope::{Scope, is_account_id};

/// The `LayerName` parameter's pattern, as AWS quotes it.
pub const LAYER_NAME_PATTERN: &str =
    r"(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+";
/// The pattern AWS quotes for each entry of a function's `Layers`.
pub const FUNCTION_LAYER_ARN_PATTERN: &str = r"(arn:[a-zA-Z0-9-]+:lambda:[a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\d{1}:\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)";
/// The pattern AWS quotes for GetLayerVersionByArn's `Arn`.
pub const LAYER_VERSION_ARN_PATTERN: &str =
    r"arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\d{1}:\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+";
/// AddLayerVersionPermission's `Principal` pattern.
pub const LAYER_PRINCIPAL_PATTERN: &str = r"\d{12}|\*|arn:(aws[a-zA-Z-]*):iam::\d{12}:root";
/// AddLayerVersionPermission's `OrganizationId` pattern.
pub const ORGANIZATION_ID_PATTERN: &str = "o-[a-z0-9]{10,32}";
/// The only action a layer version's policy grants.
pub const ACTION_GET_LAYER_VERSION: &str = "lambda:GetLayerVersion";

/// The database identity of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayerId(pub i64);

/// A layer: a name and the number its next version takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub id: LayerId,
    pub name: String,
    /// Only ever grows, so version numbers are never reused, even after every version was
    /// deleted.
    pub next_version: u32,
}

/// One published version of a layer. Immutable except for its policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerVersion {
    pub version: u32,
    pub description: String,
    pub compatible_runtimes: Vec<String>,
    pub compatible_architectures: Vec<String>,
    pub license_info: Option<String>,
    pub code: CodeRef,
    /// Epoch milliseconds of PublishLayerVersion.
    pub created_ms: i64,
    /// `None` until a permission is added, and again after the last one is removed.
    pub policy: Option<LayerPolicy>,
}

impl LayerVersion {
    /// Whether this version declares `runtime` and `architecture` (each when given), as the
    /// ListLayers and ListLayerVersions filters match.
    pub fn matches(&self, runtime: Option<&str>, architecture: Option<&str>) -> bool {
        runtime.is_none_or(|r| self.compatible_runtimes.iter().any(|c| c == r))
            && architecture.is_none_or(|a| self.compatible_architectures.iter().any(|c| c == a))
    }
}

/// The resource policy of one layer version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerPolicy {
    pub revision_id: String,
    pub statements: Vec<LayerStatement>,
}

/// One AddLayerVersionPermission statement. Its action is always `lambda:GetLayerVersion`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerStatement {
    pub sid: String,
    pub principal: LayerPrincipal,
    /// With principal `*`: only accounts of this organization. Versa has no organizations, so
    /// such a statement allows no one.
    pub organization_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerPrincipal {
    /// `*`: every account.
    Any,
    /// One 12-digit account.
    Account(String),
}

impl LayerPrincipal {
    /// Parses a `Principal` that matches [`LAYER_PRINCIPAL_PATTERN`].
    pub fn parse(s: &str) -> Option<LayerPrincipal> {
        if s == "*" {
            return Some(LayerPrincipal::Any);
        }
        if is_account_id(s) {
            return Some(LayerPrincipal::Account(s.to_owned()));
        }
        let rest = s.strip_prefix("arn:")?;
        let (partition, rest) = rest.split_once(':')?;
        let partition_ok =
            partition.starts_with("aws") && partition[3..].bytes().all(|b| b.is_ascii_alphabetic() || b == b'-');
        let account = rest.strip_prefix("iam::")?.strip_suffix(":root")?;
        (partition_ok && is_account_id(account)).then(|| LayerPrincipal::Account(account.to_owned()))
    }
}

impl LayerPolicy {
    /// Whether any statement lets `account` use (GetLayerVersion) the layer version.
    pub fn allows(&self, account: &str) -> bool {
        self.statements.iter().any(|s| {
            s.organization_id.is_none()
                && match &s.principal {
                    LayerPrincipal::Any => true,
                    LayerPrincipal::Account(a) => a == account,
                }
        })
    }
}

/// A layer version as a function version references it: its ARN and its code, copied when the
/// function is configured, so the function keeps its layers whatever happens to the layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionLayer {
    pub arn: String,
    pub code: CodeRef,
}

/// `arn:aws:lambda:<region>:<account>:layer:<name>`.
pub fn layer_arn(scope: &Scope, name: &str) -> String {
    format!("arn:aws:lambda:{}:{}:layer:{}", scope.region, scope.account, name)
}

/// `arn:aws:lambda:<region>:<account>:layer:<name>:<version>`.
pub fn layer_version_arn(scope: &Scope, name: &str, version: u32) -> String {
    format!("{}:{version}", layer_arn(scope, name))
}

fn is_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `[a-zA-Z0-9-_]+`: a layer name.
pub fn is_layer_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `[a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\d{1}`, matched in full.
fn is_layer_region(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 2 || !b[..2].iter().all(u8::is_ascii_lowercase) {
        return false;
    }
    let rest = &s[2..];
    let mut candidates = vec![rest];
    if let Some(r) = rest.strip_prefix("-gov") {
        candidates.push(r);
    }
    if let Some(r) = rest.strip_prefix("-iso") {
        candidates.push(r);
        if let Some(r) = r.strip_prefix('b') {
            candidates.push(r);
        }
    }
    candidates.into_iter().any(|r| {
        let Some(r) = r.strip_prefix('-') else { return false };
        let Some((word, digit)) = r.rsplit_once('-') else { return false };
        !word.is_empty() && word.bytes().all(|c| c.is_ascii_lowercase()) && digit.len() == 1 && is_digits(digit)
    })
}

/// A `LayerName` parameter: a bare name or a layer ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRef {
    /// Set when the parameter was an ARN.
    pub region: Option<String>,
    pub account: Option<String>,
    pub name: String,
}

impl LayerRef {
    /// Matches [`LAYER_NAME_PATTERN`] in full; length is checked separately.
    pub fn parse(s: &str) -> Option<LayerRef> {
        if is_layer_name(s) {
            return Some(LayerRef { region: None, account: None, name: s.to_owned() });
        }
        match s.split(':').collect::<Vec<_>>().as_slice() {
            ["arn", partition, "lambda", region, account, "layer", name]
                if is_word(partition) && is_word(region) && is_account_id(account) && is_layer_name(name) =>
            {
                Some(LayerRef {
                    region: Some((*region).to_owned()),
                    account: Some((*account).to_owned()),
                    name: (*name).to_owned(),
                })
            }
            _ => None,
        }
    }
}

/// What a function's `Layers` entry names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionLayerArn {
    /// A layer version of an account.
    Version(LayerVersionRef),
    /// The pattern's second form, `arn:<partition>:lambda:::awslayer:<name>`: a layer AWS
    /// provides, which Versa does not have.
    AwsLayer,
}

/// A layer version ARN as a function's `Layers` or GetLayerVersionByArn names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerVersionRef {
    pub partition: String,
    pub region: String,
    pub account: String,
    pub name: String,
    /// `None` when the number is too large for any version to have it.
    pub version: Option<u32>,
}

impl LayerVersionRef {
    fn split(s: &str) -> Option<LayerVersionRef> {
        match s.split(':').collect::<Vec<_>>().as_slice() {
            ["arn", partition, "lambda", region, account, "layer", name, version]
                if is_word(partition)
                    && is_layer_region(region)
                    && is_account_id(account)
                    && is_layer_name(name)
                    && is_digits(version) =>
            {
                Some(LayerVersionRef {
                    partition: (*partition).to_owned(),
                    region: (*region).to_owned(),
                    account: (*account).to_owned(),
                    name: (*name).to_owned(),
                    version: version.parse::<u32>().ok(),
                })
            }
            _ => None,
        }
    }

    /// Matches a function's `Layers` entry against [`FUNCTION_LAYER_ARN_PATTERN`]; `None`
    /// when it does not match.
    pub fn parse_function_layer(s: &str) -> Option<FunctionLayerArn> {
        if let Some(r) = Self::split(s) {
            return Some(FunctionLayerArn::Version(r));
        }
        match s.split(':').collect::<Vec<_>>().as_slice() {
            ["arn", partition, "lambda", "", "", "awslayer", name] if is_word(partition) && is_layer_name(name) => {
                Some(FunctionLayerArn::AwsLayer)
            }
            _ => None,
        }
    }

    /// Matches GetLayerVersionByArn's `Arn` against [`LAYER_VERSION_ARN_PATTERN`].
    pub fn parse_arn(s: &str) -> Option<LayerVersionRef> {
        Self::split(s).filter(|r| crate::arn::is_partition(&r.partition))
    }

    /// The layer's ARN (without the version).
    pub fn layer_arn(&self) -> String {
        format!("arn:{}:lambda:{}:{}:layer:{}", self.partition, self.region, self.account, self.name)
    }
}

/// The runtimes ListLayers and ListLayerVersions accept as `CompatibleRuntime`, in the order
/// AWS lists them in its "enum value set" message.
pub const LAYER_RUNTIMES: &[&str] = &[
    "ruby3.5",
    "ruby2.6",
    "dotnetcore1.0",
    "python3.7",
    "nodejs8.10",
    "nasa",
    "ruby2.7",
    "python2.7-greengrass",
    "dotnetcore2.0",
    "python3.8",
    "java21",
    "dotnet6",
    "dotnetcore2.1",
    "python3.9",
    "java11",
    "nodejs6.10",
    "provided",
    "dotnetcore3.1",
    "dotnet8",
    "java25",
    "java17",
    "nodejs",
    "nodejs4.3",
    "java8.al2",
    "go1.x",
    "dotnet10",
    "nodejs20.x",
    "go1.9",
    "byol",
    "nodejs10.x",
    "provided.al2023",
    "nodejs22.x",
    "python3.10",
    "java8",
    "nodejs12.x",
    "python3.11",
    "nodejs24.x",
    "nodejs8.x",
    "python3.12",
    "nodejs14.x",
    "nodejs8.9",
    "nodejs26.x",
    "python3.13",
    "python3.14",
    "nodejs16.x",
    "python3.15",
    "provided.al2",
    "nodejs4.3-edge",
    "nodejs18.x",
    "ruby3.2",
    "python3.4",
    "ruby3.3",
    "ruby3.4",
    "ruby2.5",
    "python3.6",
    "python2.7",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_names() {
        assert_eq!(LayerRef::parse("my-layer_1").unwrap().name, "my-layer_1");
        let r = LayerRef::parse("arn:aws:lambda:us-east-1:123456789012:layer:my-layer").unwrap();
        assert_eq!(
            (r.region.as_deref(), r.account.as_deref(), r.name.as_str()),
            (Some("us-east-1"), Some("123456789012"), "my-layer")
        );
        for bad in ["", "a:b", "my layer", "arn:aws:lambda:us-east-1:123456789012:layer:my-layer:1", "a.b"] {
            assert_eq!(LayerRef::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn layer_version_arns() {
        let Some(FunctionLayerArn::Version(r)) =
            LayerVersionRef::parse_function_layer("arn:aws:lambda:us-east-1:123456789012:layer:l:3")
        else {
            panic!("a layer version ARN")
        };
        assert_eq!(
            (r.name.as_str(), r.version, r.layer_arn()),
            ("l", Some(3), "arn:aws:lambda:us-east-1:123456789012:layer:l".to_owned())
        );
        assert_eq!(
            LayerVersionRef::parse_function_layer("arn:aws:lambda:::awslayer:AWSLambda-Python"),
            Some(FunctionLayerArn::AwsLayer)
        );
        assert!(LayerVersionRef::parse_function_layer("arn:aws:lambda:us-east-1:123456789012:layer:l").is_none());
        assert!(LayerVersionRef::parse_function_layer("arn:aws:lambda:useast1:123456789012:layer:l:1").is_none());
        assert!(
            LayerVersionRef::parse_function_layer("arn:aws:lambda:us-isob-east-1:123456789012:layer:l:1").is_some()
        );
        assert!(
            LayerVersionRef::parse_function_layer("arn:aws:lambda:us-isoc-east-1:123456789012:layer:l:1").is_none()
        );
        assert_eq!(
            LayerVersionRef::parse_function_layer("arn:aws:lambda:us-east-1:123456789012:layer:l:99999999999"),
            Some(FunctionLayerArn::Version(LayerVersionRef {
                partition: "aws".into(),
                region: "us-east-1".into(),
                account: "123456789012".into(),
                name: "l".into(),
                version: None
            }))
        );
        assert!(LayerVersionRef::parse_arn("arn:aws:lambda:us-east-1:123456789012:layer:l:1").is_some());
        assert!(LayerVersionRef::parse_arn("arn:xyz:lambda:us-east-1:123456789012:layer:l:1").is_none());
    }

    #[test]
    fn principals_and_policies() {
        assert_eq!(LayerPrincipal::parse("*"), Some(LayerPrincipal::Any));
        assert_eq!(LayerPrincipal::parse("123456789012"), Some(LayerPrincipal::Account("123456789012".into())));
        assert_eq!(
            LayerPrincipal::parse("arn:aws:iam::123456789012:root"),
            Some(LayerPrincipal::Account("123456789012".into()))
        );
        assert_eq!(LayerPrincipal::parse("arn:aws:iam::123456789012:user/x"), None);
        assert_eq!(LayerPrincipal::parse("12345"), None);
        let statement = |principal, organization_id| LayerStatement { sid: "s".into(), principal, organization_id };
        let p = LayerPolicy {
            revision_id: "r".into(),
            statements: vec![statement(LayerPrincipal::Account("111111111111".into()), None)],
        };
        assert!(p.allows("111111111111"));
        assert!(!p.allows("222222222222"));
        let org = LayerPolicy {
            revision_id: "r".into(),
            statements: vec![statement(LayerPrincipal::Any, Some("o-abcdefghij".into()))],
        };
        assert!(!org.allows("111111111111"), "Versa has no organizations");
        let any = LayerPolicy { revision_id: "r".into(), statements: vec![statement(LayerPrincipal::Any, None)] };
        assert!(any.allows("222222222222"));
    }
}
