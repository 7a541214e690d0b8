//! Function names, qualifiers and alias names: how the `FunctionName` parameter is parsed.
//!
//! Lambda accepts a function as a bare name (`my-fn`), a name with a qualifier (`my-fn:prod`),
//! a partial ARN (`123456789012:function:my-fn[:q]`) or a full ARN
//! (`arn:aws:lambda:us-east-1:123456789012:function:my-fn[:q]`). The accepted set is defined by a
//! regular expression in the API model; [`FunctionRef::parse`] matches exactly that set, with
//! the same preferences a backtracking regex engine has when an input can be split two ways.

use std::fmt;

use crate::arn::is_partition;
use crate::limits;
use crate::scope::{is_account_id, is_region};

/// Which API shape a `FunctionName` parameter has. The two differ in length and alphabet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameShape {
    /// `FunctionName`: CreateFunction, UpdateFunction*, PublishVersion, aliases, tags.
    Plain,
    /// `NamespacedFunctionName`: GetFunction*, DeleteFunction, Invoke, ListVersionsByFunction.
    Namespaced,
}

impl NameShape {
    /// The regular expression AWS quotes in its ValidationException for this shape.
    pub fn pattern(self) -> &'static str {
        match self {
            NameShape::Plain => FUNCTION_NAME_PATTERN,
            NameShape::Namespaced => NAMESPACED_FUNCTION_NAME_PATTERN,
        }
    }

    /// The longest parameter value this shape accepts.
    pub fn len_max(self) -> usize {
        match self {
            NameShape::Plain => limits::FUNCTION_NAME_PARAM_LEN_MAX,
            NameShape::Namespaced => limits::NAMESPACED_FUNCTION_NAME_PARAM_LEN_MAX,
        }
    }
}

/// The `FunctionName` pattern as AWS quotes it today (recorded): the API model's, with the
/// optional `(eusc-)?` before the region.
pub const FUNCTION_NAME_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?";
/// The `NamespacedFunctionName` pattern as AWS quotes it today (recorded).
pub const NAMESPACED_FUNCTION_NAME_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?";
/// The `Qualifier` shape (most operations).
pub const QUALIFIER_PATTERN: &str = r"(|[a-zA-Z0-9$_-]+)";
/// The `NumericLatestPublishedOrAliasQualifier` shape (GetFunction*, DeleteFunction, Invoke).
pub const NUMERIC_LATEST_PUBLISHED_OR_ALIAS_QUALIFIER_PATTERN: &str = r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+";
pub const ALIAS_NAME_PATTERN: &str = r"(?!^[0-9]+$)([a-zA-Z0-9-_]+)";
/// The `VersionWithLatestPublished` shape (an alias's FunctionVersion, ListAliases' filter).
pub const FUNCTION_VERSION_PATTERN: &str = r"(\$LATEST(\.PUBLISHED)?|[0-9]+)";

/// A parsed `FunctionName` parameter. Nothing here has been checked against the caller's
/// account or region; see `control` for that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    /// The partition of a full ARN (`aws`, `aws-cn`, ... or empty).
    pub partition: Option<String>,
    pub region: Option<String>,
    pub account: Option<String>,
    /// The function name part. May be longer than a valid function name: the API pattern does
    /// not bound it, and what happens then differs per operation.
    pub name: String,
    pub qualifier: Option<String>,
}

impl FunctionRef {
    /// Matches `input` against the pattern of `shape` in full. `None` when it does not match.
    /// Length is not checked here.
    pub fn parse(input: &str, shape: NameShape) -> Option<FunctionRef> {
        let parts: Vec<&str> = input.split(':').collect();
        // The four optional prefixes of the pattern, tried greedily in order: the combination
        // that takes a group is tried before the one that skips it, exactly the order in which
        // a backtracking regex engine explores them.
        for mask in (0u8..16).rev() {
            let mut rest: &[&str] = &parts;
            let mut r =
                FunctionRef { partition: None, region: None, account: None, name: String::new(), qualifier: None };
            if mask & 8 != 0 {
                match rest {
                    ["arn", p, "lambda", tail @ ..] if is_partition(p) => {
                        r.partition = Some((*p).to_owned());
                        rest = tail;
                    }
                    _ => continue,
                }
            }
            if mask & 4 != 0 {
                match rest {
                    [reg, tail @ ..] if is_region(reg) => {
                        r.region = Some((*reg).to_owned());
                        rest = tail;
                    }
                    _ => continue,
                }
            }
            if mask & 2 != 0 {
                match rest {
                    [acct, tail @ ..] if is_account_id(acct) => {
                        r.account = Some((*acct).to_owned());
                        rest = tail;
                    }
                    _ => continue,
                }
            }
            if mask & 1 != 0 {
                match rest {
                    ["function", tail @ ..] => rest = tail,
                    _ => continue,
                }
            }
            let ok = match rest {
                [name] if is_name_part(name, shape) => {
                    r.name = (*name).to_owned();
                    true
                }
                [name, q] if is_name_part(name, shape) && is_qualifier_part(q, shape) => {
                    r.name = (*name).to_owned();
                    r.qualifier = Some((*q).to_owned());
                    true
                }
                _ => false,
            };
            if ok {
                return Some(r);
            }
        }
        None
    }

    /// Whether the input was a full ARN (`arn:...`).
    pub fn is_arn(&self) -> bool {
        self.partition.is_some()
    }
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn is_name_part(s: &str, shape: NameShape) -> bool {
    !s.is_empty() && s.bytes().all(|b| is_name_char(b) || (shape == NameShape::Namespaced && b == b'.'))
}

fn is_qualifier_part(s: &str, shape: NameShape) -> bool {
    s == "$LATEST"
        || (shape == NameShape::Namespaced && s == "$LATEST.PUBLISHED")
        || (!s.is_empty() && s.bytes().all(is_name_char))
}

/// Whether `s` is a valid bare function name: 1–64 characters of `[a-zA-Z0-9-_]`.
pub fn is_valid_function_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= limits::FUNCTION_NAME_LEN_MAX && s.bytes().all(is_name_char)
}

/// Whether `s` satisfies the syntactic `Qualifier` rule `(|[a-zA-Z0-9$_-]+)`. It says nothing
/// about whether such a version or alias exists: `$latest` passes and is then not found.
pub fn is_valid_qualifier(s: &str) -> bool {
    s.bytes().all(|b| is_name_char(b) || b == b'$')
}

/// Whether `s` is a valid alias name: `(?!^[0-9]+$)([a-zA-Z0-9-_]+)`. Length is separate.
pub fn is_valid_alias_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_name_char) && !s.bytes().all(|b| b.is_ascii_digit())
}

/// A version of a function: the mutable `$LATEST` or an immutable published number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    Latest,
    Published(u32),
}

impl Version {
    pub const LATEST: &'static str = "$LATEST";

    /// Parses `$LATEST` or a decimal version number. Numbers that do not fit are `None`: no such
    /// version can exist.
    pub fn parse(s: &str) -> Option<Version> {
        if s == Self::LATEST {
            return Some(Version::Latest);
        }
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse::<u32>().ok().filter(|n| *n > 0).map(Version::Published);
        }
        None
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Latest => f.write_str(Self::LATEST),
            Version::Published(n) => write!(f, "{n}"),
        }
    }
}

/// What a syntactically valid qualifier refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Qualifier {
    Latest,
    /// All digits. A number too large for any version is kept as text so that it can be named
    /// in the not-found message.
    Version(String),
    Alias(String),
}

impl Qualifier {
    pub fn classify(s: &str) -> Qualifier {
        if s == Version::LATEST {
            Qualifier::Latest
        } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            Qualifier::Version(s.to_owned())
        } else {
            Qualifier::Alias(s.to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Parts = (Option<String>, Option<String>, String, Option<String>);

    fn parse(s: &str) -> Option<Parts> {
        FunctionRef::parse(s, NameShape::Namespaced).map(|r| (r.region, r.account, r.name, r.qualifier))
    }

    fn s(x: &str) -> Option<String> {
        Some(x.to_owned())
    }

    #[test]
    fn every_accepted_form() {
        assert_eq!(parse("my-fn"), Some((None, None, "my-fn".into(), None)));
        assert_eq!(parse("my-fn:prod"), Some((None, None, "my-fn".into(), s("prod"))));
        assert_eq!(parse("my-fn:$LATEST"), Some((None, None, "my-fn".into(), s("$LATEST"))));
        assert_eq!(parse("my-fn:3"), Some((None, None, "my-fn".into(), s("3"))));
        assert_eq!(parse("123456789012:function:my-fn"), Some((None, s("123456789012"), "my-fn".into(), None)));
        assert_eq!(parse("function:my-fn:1"), Some((None, None, "my-fn".into(), s("1"))));
        assert_eq!(
            parse("arn:aws:lambda:us-west-2:123456789012:function:my-fn:live"),
            Some((s("us-west-2"), s("123456789012"), "my-fn".into(), s("live")))
        );
        assert_eq!(
            parse("arn:aws:lambda:us-west-2:123456789012:function:my-fn"),
            Some((s("us-west-2"), s("123456789012"), "my-fn".into(), None))
        );
    }

    #[test]
    fn eusc_regions() {
        assert_eq!(
            parse("arn:aws-eusc:lambda:eusc-de-east-1:123456789012:function:my-fn:live"),
            Some((s("eusc-de-east-1"), s("123456789012"), "my-fn".into(), s("live")))
        );
        // A region prefix is taken before the name, as the regular expression prefers.
        assert_eq!(parse("eusc-de-east-1:my-fn"), Some((s("eusc-de-east-1"), None, "my-fn".into(), None)));
        assert_eq!(parse("us-east-1:my-fn"), Some((s("us-east-1"), None, "my-fn".into(), None)));
        // Not a region: then it is a name with a qualifier.
        assert_eq!(parse("eusc-de:my-fn"), Some((None, None, "eusc-de".into(), s("my-fn"))));
        assert_eq!(parse("arn:aws:lambda:eusc-:123456789012:function:f"), None);
        assert!(NAMESPACED_FUNCTION_NAME_PATTERN.contains("((eusc-)?[a-z]{2}"));
        assert!(FUNCTION_NAME_PATTERN.contains("((eusc-)?[a-z]{2}"));
    }

    /// The parser against a real regex engine running the exact pattern AWS quotes: same inputs
    /// accepted, and the same parts captured (leftmost-first captures are the ones a
    /// backtracking engine finds).
    #[test]
    fn parser_agrees_with_the_quoted_patterns() {
        const SEGMENTS: &[&str] = &[
            "arn",
            "aws",
            "aws-cn",
            "aws-eusc",
            "",
            "lambda",
            "us-east-1",
            "eusc-de-east-1",
            "us-gov-west-1",
            "us-isob-east-1",
            "eu-isoe-west-1",
            "eusc-",
            "eusc",
            "de-east-1",
            "123456789012",
            "1234",
            "function",
            "fn",
            "my.fn",
            "a_b-C9",
            "$LATEST",
            "$LATEST.PUBLISHED",
            "$latest",
            "prod",
            "1",
            "a b",
        ];
        for shape in [NameShape::Plain, NameShape::Namespaced] {
            let re = regex_lite::Regex::new(&format!("^(?:{})$", shape.pattern())).expect("the pattern compiles");
            // A fixed linear congruential sequence: the same inputs on every run.
            let mut seed: u64 = 0x5eed;
            let mut next = |n: usize| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((seed >> 33) as usize) % n
            };
            for _ in 0..60_000 {
                let len = 1 + next(8);
                let input: Vec<&str> = (0..len).map(|_| SEGMENTS[next(SEGMENTS.len())]).collect();
                let input = input.join(":");
                let want = re.captures(&input).map(|c| {
                    let get = |i: usize| c.get(i).map(|m| m.as_str().to_owned());
                    let strip = |g: Option<String>| g.map(|g| g.trim_end_matches(':').to_owned());
                    FunctionRef {
                        partition: get(1).map(|_| get(2).unwrap_or_default()),
                        region: strip(get(3)),
                        account: strip(get(9)),
                        name: get(11).expect("the name group always takes part"),
                        qualifier: get(13),
                    }
                });
                assert_eq!(FunctionRef::parse(&input, shape), want, "{shape:?} {input:?}");
            }
        }
    }

    #[test]
    fn rejected_forms() {
        for bad in ["", "a b", "my-fn:", ":my-fn", "my-fn:a:b", "arn:aws:s3:::bucket", "fn:$latest!", "a/b"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        // Dots are allowed in namespaced names only.
        assert!(FunctionRef::parse("a.b", NameShape::Namespaced).is_some());
        assert!(FunctionRef::parse("a.b", NameShape::Plain).is_none());
        assert!(FunctionRef::parse("f:$LATEST.PUBLISHED", NameShape::Plain).is_none());
    }

    #[test]
    fn qualifiers_and_aliases() {
        assert!(is_valid_alias_name("2024-01-02"));
        assert!(is_valid_alias_name("live"));
        assert!(!is_valid_alias_name("2024"));
        assert!(!is_valid_alias_name("$LATEST"));
        assert!(is_valid_qualifier("$latest"));
        assert!(!is_valid_qualifier("invalid!"));
        assert_eq!(Qualifier::classify("$LATEST"), Qualifier::Latest);
        assert_eq!(Qualifier::classify("12"), Qualifier::Version("12".into()));
        assert_eq!(Qualifier::classify("prod"), Qualifier::Alias("prod".into()));
        assert_eq!(Version::parse("0"), None);
        assert_eq!(Version::parse("99999999999"), None);
        assert_eq!(Version::parse("7"), Some(Version::Published(7)));
    }
}
