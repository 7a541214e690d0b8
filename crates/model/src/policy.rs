//! Resource-based policies (AddPermission's statements) and function URL configurations, and
//! the rules for who may invoke.
//!
//! Each of {the unqualified function, each published version, each alias} has its own policy;
//! a statement authorizes invocations through exactly the ARN of the policy it belongs to
//! (reference §9.2). [`Statement::allows`] is the whole evaluation: principal, action and every
//! condition must match the [`Caller`].

/// Who a statement names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `"*"`: anyone.
    Any,
    /// A service principal such as `s3.amazonaws.com`.
    Service(String),
    /// An IAM principal ARN (`arn:aws:iam::<account>:root` for an account id).
    Aws(String),
}

impl Principal {
    /// Parses AddPermission's `Principal` as Lambda does; `None` is an invalid principal.
    pub fn parse(s: &str) -> Option<Principal> {
        if s == "*" {
            return Some(Principal::Any);
        }
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            return Some(Principal::Aws(format!("arn:aws:iam::{s}:root")));
        }
        if let Some(service) = s.strip_suffix(".amazonaws.com")
            && !service.is_empty()
            && service.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Some(Principal::Service(s.to_owned()));
        }
        if let Some(rest) = s.strip_prefix("arn:aws:iam::")
            && let Some((account, resource)) = rest.split_once(':')
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && (resource == "root" || resource.starts_with("user/") || resource.starts_with("role/"))
        {
            return Some(Principal::Aws(s.to_owned()));
        }
        None
    }

    /// The account an `Aws` principal belongs to.
    fn account(&self) -> Option<&str> {
        match self {
            Principal::Aws(arn) => arn.strip_prefix("arn:aws:iam::").and_then(|r| r.split(':').next()),
            _ => None,
        }
    }
}

/// One statement of a function's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: String,
    pub principal: Principal,
    /// As given: `lambda:InvokeFunction`, `lambda:InvokeFunctionUrl`, `lambda:*`, `*`, ...
    pub action: String,
    /// The function ARN, qualified for a version's or alias's policy.
    pub resource: String,
    pub source_account: Option<String>,
    pub source_arn: Option<String>,
    pub principal_org_id: Option<String>,
    pub function_url_auth_type: Option<String>,
    pub event_source_token: Option<String>,
    pub invoked_via_function_url: Option<bool>,
}

/// One policy document: the statements of one qualifier, in the order they were added.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    /// For a version's or alias's policy, its own revision id; the unqualified function's
    /// policy shares `$LATEST`'s (so this is ignored there).
    pub revision_id: String,
    pub statements: Vec<Statement>,
}

/// Who is invoking, and how: what statements are matched against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub principal: CallerPrincipal,
    /// `lambda:InvokeFunction` or `lambda:InvokeFunctionUrl`.
    pub action: &'static str,
    pub source_account: Option<String>,
    pub source_arn: Option<String>,
    /// `NONE` or `AWS_IAM` when the invocation comes through a function URL.
    pub function_url_auth_type: Option<&'static str>,
}

/// The identity behind a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerPrincipal {
    /// An AWS service (`s3.amazonaws.com`) acting on a resource it names in `source_arn`.
    Service(String),
    /// A signed request of this account.
    Account(String),
    /// An unsigned request (a function URL with AuthType `NONE`).
    Anonymous,
}

pub const ACTION_INVOKE: &str = "lambda:InvokeFunction";
pub const ACTION_INVOKE_URL: &str = "lambda:InvokeFunctionUrl";

impl Statement {
    /// Whether this statement lets `caller` do its action.
    pub fn allows(&self, caller: &Caller) -> bool {
        let principal = match (&self.principal, &caller.principal) {
            (Principal::Any, _) => true,
            (Principal::Service(s), CallerPrincipal::Service(c)) => s == c,
            (p @ Principal::Aws(_), CallerPrincipal::Account(a)) => p.account() == Some(a.as_str()),
            _ => false,
        };
        let action = self.action == "*"
            || self.action.eq_ignore_ascii_case("lambda:*")
            || self.action.eq_ignore_ascii_case(caller.action);
        principal
            && action
            && condition(&self.source_account, &caller.source_account, |want, got| want == got)
            && condition(&self.source_arn, &caller.source_arn, arn_like)
            && condition(&self.function_url_auth_type, &caller.function_url_auth_type.map(str::to_owned), |w, g| {
                w == g
            })
            // Versa has no organizations and no event source tokens: such conditions never hold.
            && self.principal_org_id.is_none()
            && self.event_source_token.is_none()
            && self.invoked_via_function_url.is_none_or(|v| v == caller.function_url_auth_type.is_some())
    }
}

/// A condition on a key holds when the statement does not set it, or when the caller has the
/// key and it matches (a missing key fails, as in IAM).
fn condition(want: &Option<String>, got: &Option<String>, matches: impl Fn(&str, &str) -> bool) -> bool {
    match (want, got) {
        (None, _) => true,
        (Some(w), Some(g)) => matches(w, g),
        (Some(_), None) => false,
    }
}

/// IAM's `ArnLike`: `*` matches any run of characters and `?` any one, within the whole ARN.
pub fn arn_like(pattern: &str, value: &str) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    let (mut pi, mut vi) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// A function URL's authentication type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlAuthType {
    None,
    AwsIam,
}

impl UrlAuthType {
    pub fn parse(s: &str) -> Option<UrlAuthType> {
        match s {
            "NONE" => Some(UrlAuthType::None),
            "AWS_IAM" => Some(UrlAuthType::AwsIam),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UrlAuthType::None => "NONE",
            UrlAuthType::AwsIam => "AWS_IAM",
        }
    }
}

/// A function URL's CORS settings, as given (members absent stay absent).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cors {
    pub allow_credentials: Option<bool>,
    pub allow_headers: Option<Vec<String>>,
    pub allow_methods: Option<Vec<String>>,
    pub allow_origins: Option<Vec<String>>,
    pub expose_headers: Option<Vec<String>>,
    pub max_age: Option<i64>,
}

/// One function URL: for the unqualified function or for an alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionUrl {
    /// 32 characters `[a-z0-9]`; never changes.
    pub url_id: String,
    pub auth_type: UrlAuthType,
    pub cors: Option<Cors>,
    /// `BUFFERED` or `RESPONSE_STREAM`, when it was given.
    pub invoke_mode: Option<String>,
    pub creation_ms: i64,
    pub last_modified_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3_statement() -> Statement {
        Statement {
            sid: "s3".into(),
            principal: Principal::Service("s3.amazonaws.com".into()),
            action: ACTION_INVOKE.into(),
            resource: "arn:aws:lambda:us-east-1:000000000000:function:f:prod".into(),
            source_account: Some("000000000000".into()),
            source_arn: Some("arn:aws:s3:::uploads*".into()),
            principal_org_id: None,
            function_url_auth_type: None,
            event_source_token: None,
            invoked_via_function_url: None,
        }
    }

    fn s3_caller(bucket: &str, account: &str) -> Caller {
        Caller {
            principal: CallerPrincipal::Service("s3.amazonaws.com".into()),
            action: ACTION_INVOKE,
            source_account: Some(account.into()),
            source_arn: Some(format!("arn:aws:s3:::{bucket}")),
            function_url_auth_type: None,
        }
    }

    #[test]
    fn principals_parse_as_lambda_renders_them() {
        assert_eq!(Principal::parse("*"), Some(Principal::Any));
        assert_eq!(Principal::parse("s3.amazonaws.com"), Some(Principal::Service("s3.amazonaws.com".into())));
        assert_eq!(Principal::parse("123456789012"), Some(Principal::Aws("arn:aws:iam::123456789012:root".into())));
        assert_eq!(
            Principal::parse("arn:aws:iam::123456789012:role/r"),
            Some(Principal::Aws("arn:aws:iam::123456789012:role/r".into()))
        );
        assert_eq!(Principal::parse("invalid.nonaws.com"), None);
        assert_eq!(Principal::parse("12345"), None);
    }

    #[test]
    fn conditions_must_all_hold() {
        let st = s3_statement();
        assert!(st.allows(&s3_caller("uploads", "000000000000")));
        assert!(st.allows(&s3_caller("uploads-2", "000000000000")));
        assert!(!st.allows(&s3_caller("other", "000000000000")), "SourceArn");
        assert!(!st.allows(&s3_caller("uploads", "111111111111")), "SourceAccount");
        let mut no_arn = s3_caller("uploads", "000000000000");
        no_arn.source_arn = None;
        assert!(!st.allows(&no_arn), "a missing key fails its condition");
        let mut sqs = s3_caller("uploads", "000000000000");
        sqs.principal = CallerPrincipal::Service("sqs.amazonaws.com".into());
        assert!(!st.allows(&sqs), "another service");
        let mut url = s3_caller("uploads", "000000000000");
        url.action = ACTION_INVOKE_URL;
        assert!(!st.allows(&url), "another action");
    }

    #[test]
    fn url_statements() {
        let st = Statement {
            sid: "url".into(),
            principal: Principal::Any,
            action: ACTION_INVOKE_URL.into(),
            resource: "arn".into(),
            source_account: None,
            source_arn: None,
            principal_org_id: None,
            function_url_auth_type: Some("NONE".into()),
            event_source_token: None,
            invoked_via_function_url: None,
        };
        let anonymous = Caller {
            principal: CallerPrincipal::Anonymous,
            action: ACTION_INVOKE_URL,
            source_account: None,
            source_arn: None,
            function_url_auth_type: Some("NONE"),
        };
        assert!(st.allows(&anonymous));
        assert!(!st.allows(&Caller { function_url_auth_type: Some("AWS_IAM"), ..anonymous.clone() }));
        assert!(!st.allows(&Caller { action: ACTION_INVOKE, function_url_auth_type: None, ..anonymous }));
    }

    #[test]
    fn arn_like_wildcards() {
        assert!(arn_like("arn:aws:s3:::b", "arn:aws:s3:::b"));
        assert!(arn_like("arn:aws:s3:::*", "arn:aws:s3:::b"));
        assert!(arn_like("arn:aws:s3:::b?", "arn:aws:s3:::b1"));
        assert!(!arn_like("arn:aws:s3:::b", "arn:aws:s3:::bb"));
        assert!(!arn_like("arn:aws:s3:::b?", "arn:aws:s3:::b"));
        assert!(arn_like("*", ""));
    }
}
