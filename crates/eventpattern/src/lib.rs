//! Event patterns: EventBridge's matching language, compiled once per rule and matched against
//! each event of PutEvents (and TestEventPattern), and the language of Lambda event source
//! mappings' `FilterCriteria` (matched against each SQS message or stream record).
//!
//! Supported: exact values (strings, numbers compared as numbers, `true`, `false`, `null`),
//! `prefix` and `suffix` (also `{"equals-ignore-case": …}` inside), `equals-ignore-case`,
//! `anything-but` (values, or `prefix`/`suffix`/`equals-ignore-case`/`wildcard` inside),
//! `numeric` (one comparison or a `>`/`>=` … `<`/`<=` range), `exists`, `wildcard`, `cidr` and
//! `$or`.
//! Arrays in the event match when any element matches; the fields of an array of objects match
//! within one element (EventBridge's array consistency). Refusals carry AWS's
//! reasons (`Event pattern is not valid. Reason: …`), as LocalStack's parity tests recorded them.

use serde_json::{Map, Value};

/// Most characters in an event pattern (AWS: 4096… and more; Versa bounds it).
pub const PATTERN_BYTES_MAX: usize = 16 * 1024;
/// Most alternatives `$or` may expand a pattern to.
const BRANCHES_MAX: usize = 1_000;
/// Most `*` in one wildcard (AWS's complexity rule, approximated).
const WILDCARDS_MAX: usize = 5;

/// A compiled pattern: alternatives (from `$or`), each a tree of fields with the matchers one
/// of which must hold there.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    alternatives: Vec<Node>,
}

/// One level of an alternative: the matchers of the fields at this level, and the nested
/// objects.
#[derive(Debug, Clone, PartialEq, Default)]
struct Node {
    leaves: Vec<(String, Vec<Matcher>)>,
    children: Vec<(String, Node)>,
}

impl Node {
    fn insert(&mut self, path: &[String], matchers: Vec<Matcher>) {
        let Some((first, rest)) = path.split_first() else { return };
        if rest.is_empty() {
            self.leaves.push((first.clone(), matchers));
            return;
        }
        match self.children.iter_mut().find(|(k, _)| k == first) {
            Some((_, n)) => n.insert(rest, matchers),
            None => {
                let mut n = Node::default();
                n.insert(rest, matchers);
                self.children.push((first.clone(), n));
            }
        }
    }

    /// Whether `v` (the value at this level; `None` when absent) matches. An array matches
    /// when one of its elements matches the whole level, so the fields of an array of objects
    /// are matched within one element.
    fn matches(&self, v: Option<&Value>) -> bool {
        if let Some(Value::Array(items)) = v
            && !items.is_empty()
        {
            return items.iter().any(|i| self.matches(Some(i)));
        }
        let field = |k: &str| match v {
            Some(Value::Object(o)) => o.get(k),
            _ => None,
        };
        self.leaves.iter().all(|(k, ms)| {
            let mut found = Vec::new();
            if let Some(x) = field(k) {
                leaf_values(x, &mut found);
            }
            ms.iter().any(|m| m.holds(&found))
        }) && self.children.iter().all(|(k, n)| n.matches(field(k)))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Matcher {
    Exact(Value),
    Prefix(String, bool),
    Suffix(String, bool),
    IgnoreCase(String),
    Wildcard(String),
    Numeric(Vec<(Op, f64)>),
    Exists(bool),
    AnythingBut(Vec<Matcher>),
    /// An IP network: address bits and prefix length (IPv4 addresses as IPv4-mapped IPv6).
    Cidr(u128, u32),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

/// Why a pattern is refused: the text after `Event pattern is not valid. Reason: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError(pub String);

impl PatternError {
    /// AWS's whole message.
    pub fn message(&self) -> String {
        format!("Event pattern is not valid. Reason: {}", self.0)
    }
}

fn bad<T>(reason: impl Into<String>) -> Result<T, PatternError> {
    Err(PatternError(reason.into()))
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        if text.len() > PATTERN_BYTES_MAX {
            return bad("Filter is too long");
        }
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return bad(format!("Filter is not valid JSON: {e}")),
        };
        let Value::Object(o) = v else { return bad("Filter is not an object") };
        let branches = compile(&o, &[], vec![Vec::new()])?;
        let alternatives = branches
            .into_iter()
            .map(|b| {
                let mut n = Node::default();
                for (path, ms) in b {
                    n.insert(&path, ms);
                }
                n
            })
            .collect();
        Ok(Pattern { alternatives })
    }

    /// Whether `event` (an object) matches.
    pub fn matches(&self, event: &Value) -> bool {
        self.alternatives.iter().any(|n| n.matches(Some(event)))
    }
}

type Branches = Vec<Vec<(Vec<String>, Vec<Matcher>)>>;

fn compile(o: &Map<String, Value>, path: &[String], mut branches: Branches) -> Result<Branches, PatternError> {
    for (key, value) in o {
        if key == "$or"
            && let Value::Array(alts) = value
            && alts.len() > 1
            && alts.iter().all(Value::is_object)
        {
            let mut out = Vec::new();
            for alt in alts {
                let Value::Object(alt) = alt else { continue };
                out.extend(compile(alt, path, branches.clone())?);
                if out.len() > BRANCHES_MAX {
                    return bad("Rule is too complex");
                }
            }
            branches = out;
            continue;
        }
        let mut p = path.to_vec();
        p.push(key.clone());
        match value {
            Value::Object(inner) => branches = compile(inner, &p, branches)?,
            Value::Array(items) => {
                if items.is_empty() {
                    return bad("Empty arrays are not allowed");
                }
                let ms = items.iter().map(|i| matcher(i, false)).collect::<Result<Vec<_>, _>>()?;
                for b in &mut branches {
                    b.push((p.clone(), ms.clone()));
                }
            }
            _ => return bad(format!("\"{key}\" must be an object or an array")),
        }
    }
    Ok(branches)
}

fn strings(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_owned)).collect(),
        _ => None,
    }
}

fn wildcard(v: &Value) -> Result<String, PatternError> {
    let Some(s) = v.as_str() else { return bad("wildcard match pattern must be a string") };
    if let Some(i) = s.find("**") {
        return bad(format!("Consecutive wildcard characters at pos {}", i + 1));
    }
    if s.matches('*').count() > WILDCARDS_MAX {
        return bad(
            "Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a \
             wildcard character",
        );
    }
    Ok(s.to_owned())
}

fn matcher(v: &Value, in_anything_but: bool) -> Result<Matcher, PatternError> {
    let o = match v {
        Value::Null | Value::Bool(_) | Value::String(_) => return Ok(Matcher::Exact(v.clone())),
        Value::Number(n) => return Ok(Matcher::Exact(Value::from(n.as_f64().unwrap_or(f64::NAN)))),
        Value::Object(o) => o,
        Value::Array(_) => return bad("Match value must be String, number, true, false, or null"),
    };
    if o.len() != 1 {
        return bad("Only one key allowed in match expression");
    }
    let (op, value) = o.iter().next().expect("one key");
    match op.as_str() {
        "prefix" | "suffix" => {
            let make =
                |s: String, ic: bool| if op == "prefix" { Matcher::Prefix(s, ic) } else { Matcher::Suffix(s, ic) };
            if in_anything_but {
                if value.is_object() {
                    return bad("Value of anything-but must be an array or single string/number value.");
                }
                let Some(list) = strings(value) else { return bad("prefix/suffix match pattern must be a string") };
                if list.is_empty() || list.iter().any(String::is_empty) {
                    return bad("Null prefix/suffix not allowed");
                }
                return Ok(Matcher::AnythingBut(list.into_iter().map(|s| make(s, false)).collect()));
            }
            match value {
                Value::String(s) => Ok(make(s.clone(), false)),
                Value::Object(inner) => {
                    for k in inner.keys() {
                        if k != "equals-ignore-case" {
                            return bad(format!("Unsupported anything-but pattern: {k}"));
                        }
                    }
                    match inner.get("equals-ignore-case") {
                        Some(Value::String(s)) => Ok(make(s.clone(), true)),
                        _ => bad(format!("{op} match pattern must be a string")),
                    }
                }
                _ => bad(format!("{op} match pattern must be a string")),
            }
        }
        "equals-ignore-case" => {
            if in_anything_but {
                let Some(list) = strings(value) else {
                    return bad(
                        "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.",
                    );
                };
                return Ok(Matcher::AnythingBut(list.into_iter().map(Matcher::IgnoreCase).collect()));
            }
            match value {
                Value::String(s) => Ok(Matcher::IgnoreCase(s.clone())),
                _ => bad("equals-ignore-case match pattern must be a string"),
            }
        }
        "wildcard" => {
            if in_anything_but && let Value::Array(a) = value {
                return Ok(Matcher::AnythingBut(
                    a.iter().map(wildcard).map(|w| w.map(Matcher::Wildcard)).collect::<Result<_, _>>()?,
                ));
            }
            let w = Matcher::Wildcard(wildcard(value)?);
            Ok(if in_anything_but { Matcher::AnythingBut(vec![w]) } else { w })
        }
        "anything-but" => match value {
            Value::Array(items) => {
                let mut out = Vec::new();
                for i in items {
                    match matcher(i, false)? {
                        m @ Matcher::Exact(_) => out.push(m),
                        _ => return bad("Value of anything-but must be an array or single string/number value."),
                    }
                }
                Ok(Matcher::AnythingBut(out))
            }
            Value::Object(inner) => {
                for k in inner.keys() {
                    if !["prefix", "suffix", "equals-ignore-case", "wildcard"].contains(&k.as_str()) {
                        return bad(format!("Unsupported anything-but pattern: {k}"));
                    }
                }
                matcher(value, true)
            }
            scalar => Ok(Matcher::AnythingBut(vec![matcher(scalar, false)?])),
        },
        "exists" => match value {
            Value::Bool(b) => Ok(Matcher::Exists(*b)),
            _ => bad("exists match pattern must be either true or false."),
        },
        "numeric" => numeric(value),
        "cidr" => cidr(value),
        other => bad(format!("Unrecognized match type {other}")),
    }
}

fn numeric(value: &Value) -> Result<Matcher, PatternError> {
    let Value::Array(items) = value else { return bad("Value of numeric must be an array.") };
    if items.is_empty() {
        return bad("Invalid member in numeric match: ]");
    }
    let op = |v: &Value, first: bool| -> Result<Op, PatternError> {
        let Some(s) = v.as_str() else {
            let shown = v.to_string();
            return bad(if first {
                format!("Invalid member in numeric match: {shown}")
            } else {
                format!("Bad value in numeric range: {shown}")
            });
        };
        match (s, first) {
            ("<", _) => Ok(Op::Lt),
            ("<=", _) => Ok(Op::Le),
            ("=", true) => Ok(Op::Eq),
            (">=", true) => Ok(Op::Ge),
            (">", true) => Ok(Op::Gt),
            (s, true) => bad(format!("Unrecognized numeric range operator: {s}")),
            (s, false) => bad(format!("Bad numeric range operator: {s}")),
        }
    };
    let num = |v: Option<&Value>, o: &str| -> Result<f64, PatternError> {
        match v.and_then(Value::as_f64) {
            Some(n) => Ok(n),
            None => bad(format!("Value of {} must be numeric", if o == "=" { "equals" } else { o })),
        }
    };
    let first = op(&items[0], true)?;
    let first_name = items[0].as_str().unwrap_or_default();
    let a = num(items.get(1), first_name)?;
    let mut out = vec![(first, a)];
    if items.len() > 2 {
        if !matches!(first, Op::Gt | Op::Ge) {
            return bad("Too many elements in numeric expression");
        }
        let second = op(&items[2], false)?;
        let b = num(items.get(3), items[2].as_str().unwrap_or_default())?;
        if b <= a {
            return bad("Bottom must be less than top");
        }
        if items.len() > 4 {
            return bad("Too many terms in numeric range expression");
        }
        out.push((second, b));
    }
    Ok(Matcher::Numeric(out))
}

/// An address as 128 bits (IPv4 mapped into IPv6) and its family's width.
fn ip_bits(s: &str) -> Option<(u128, u32)> {
    match s.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(a) => Some((u128::from(a.to_ipv6_mapped()), 32)),
        std::net::IpAddr::V6(a) => Some((u128::from(a), 128)),
    }
}

fn cidr(value: &Value) -> Result<Matcher, PatternError> {
    let Some(s) = value.as_str() else { return bad("prefix match pattern must be a string") };
    let Some((ip, mask)) = s.split_once('/').filter(|(_, m)| !m.contains('/')) else {
        return bad("Malformed CIDR, one '/' required");
    };
    let Ok(mask) = mask.parse::<u32>() else { return bad("Malformed CIDR, mask bits must be an integer") };
    let nonstandard = || bad(format!("Nonstandard IP address: {ip}"));
    let Some((bits, width)) = ip_bits(ip) else { return nonstandard() };
    if mask > width {
        return nonstandard();
    }
    let prefix = 128 - width + mask;
    let host = if prefix >= 128 { 0 } else { u128::MAX >> prefix };
    if bits & host != 0 {
        return nonstandard();
    }
    Ok(Matcher::Cidr(bits, prefix))
}

/// The values a field holds: itself, or the elements of its (nested) arrays.
fn leaf_values<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => {
            for i in items {
                leaf_values(i, out);
            }
        }
        _ => out.push(v),
    }
}

fn glob(pattern: &str, s: &str) -> bool {
    // Split on unescaped `*`; `\*` and `\\` are literal.
    let mut parts = vec![String::new()];
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('*' | '\\')) => {
                parts.last_mut().expect("non-empty").push(chars.next().expect("peeked"))
            }
            '*' => parts.push(String::new()),
            c => parts.last_mut().expect("non-empty").push(c),
        }
    }
    if parts.len() == 1 {
        return parts[0] == s;
    }
    let (first, last) = (&parts[0], &parts[parts.len() - 1]);
    if !s.starts_with(first.as_str()) || s.len() < first.len() + last.len() || !s.ends_with(last.as_str()) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid.as_str()) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

impl Matcher {
    fn holds(&self, found: &[&Value]) -> bool {
        match self {
            Matcher::Exists(want) => found.is_empty() != *want,
            Matcher::AnythingBut(not) => found.iter().any(|v| !not.iter().any(|m| m.one(v))),
            m => found.iter().any(|v| m.one(v)),
        }
    }

    fn one(&self, v: &Value) -> bool {
        let s = v.as_str();
        match self {
            Matcher::Exact(Value::Number(n)) => v.as_f64().is_some_and(|x| Some(x) == n.as_f64()),
            Matcher::Exact(e) => e == v,
            Matcher::Prefix(p, false) => s.is_some_and(|s| s.starts_with(p.as_str())),
            Matcher::Prefix(p, true) => s.is_some_and(|s| s.to_lowercase().starts_with(&p.to_lowercase())),
            Matcher::Suffix(p, false) => s.is_some_and(|s| s.ends_with(p.as_str())),
            Matcher::Suffix(p, true) => s.is_some_and(|s| s.to_lowercase().ends_with(&p.to_lowercase())),
            Matcher::IgnoreCase(p) => s.is_some_and(|s| s.to_lowercase() == p.to_lowercase()),
            Matcher::Wildcard(p) => s.is_some_and(|s| glob(p, s)),
            Matcher::Numeric(ops) => v.as_f64().is_some_and(|x| {
                ops.iter().all(|(op, n)| match op {
                    Op::Lt => x < *n,
                    Op::Le => x <= *n,
                    Op::Eq => x == *n,
                    Op::Ge => x >= *n,
                    Op::Gt => x > *n,
                })
            }),
            Matcher::Cidr(net, prefix) => s.and_then(ip_bits).is_some_and(|(bits, _)| {
                let host = if *prefix >= 128 { 0 } else { u128::MAX >> prefix };
                bits & !host == *net
            }),
            Matcher::Exists(_) | Matcher::AnythingBut(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(p: &str, e: Value) -> bool {
        Pattern::parse(p).unwrap().matches(&e)
    }

    fn reason(p: &str) -> String {
        Pattern::parse(p).unwrap_err().0
    }

    #[test]
    fn matching() {
        let e = json!({"source": "shop", "detail-type": "order", "detail": {"amount": 300, "tags": ["a", "b"],
            "ip": "10.0.0.1", "name": "Alice", "file": "x.png", "nested": [{"k": 1}, {"k": 2}]}});
        assert!(m(r#"{"source": ["shop"]}"#, e.clone()));
        assert!(!m(r#"{"source": ["other"]}"#, e.clone()));
        assert!(m(r#"{"detail": {"amount": [300.0]}}"#, e.clone()));
        assert!(m(r#"{"detail": {"tags": ["b"]}}"#, e.clone()));
        assert!(m(r#"{"detail": {"name": [{"prefix": "Al"}]}}"#, e.clone()));
        assert!(m(r#"{"detail": {"name": [{"prefix": {"equals-ignore-case": "al"}}]}}"#, e.clone()));
        assert!(m(r#"{"detail": {"file": [{"suffix": ".png"}]}}"#, e.clone()));
        assert!(m(r#"{"detail": {"name": [{"equals-ignore-case": "ALICE"}]}}"#, e.clone()));
        assert!(m(r#"{"detail": {"name": [{"anything-but": ["Bob"]}]}}"#, e.clone()));
        assert!(!m(r#"{"detail": {"name": [{"anything-but": "Alice"}]}}"#, e.clone()));
        assert!(!m(r#"{"detail": {"name": [{"anything-but": {"prefix": "A"}}]}}"#, e.clone()));
        assert!(m(r#"{"detail": {"amount": [{"numeric": [">", 100, "<=", 300]}]}}"#, e.clone()));
        assert!(!m(r#"{"detail": {"amount": [{"numeric": ["<", 100]}]}}"#, e.clone()));
        assert!(m(r#"{"detail": {"missing": [{"exists": false}]}}"#, e.clone()));
        assert!(!m(r#"{"detail": {"missing": [{"exists": true}]}}"#, e.clone()));
        assert!(!m(r#"{"detail": {"missing": [{"anything-but": "x"}]}}"#, e.clone()));
        assert!(m(r#"{"detail": {"file": [{"wildcard": "*.p*g"}]}}"#, e.clone()));
        assert!(!m(r#"{"detail": {"file": [{"wildcard": "*.jpg"}]}}"#, e.clone()));
        assert!(m(r#"{"detail": {"nested": {"k": [2]}}}"#, e.clone()));
        // Fields of an array of objects match within one element.
        let orders = json!({"items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 5}]});
        assert!(m(r#"{"items": {"sku": ["b"], "qty": [{"numeric": [">", 2]}]}}"#, orders.clone()));
        assert!(!m(r#"{"items": {"sku": ["a"], "qty": [{"numeric": [">", 2]}]}}"#, orders.clone()));
        assert!(m(r#"{"items": {"missing": [{"exists": false}]}}"#, orders));
        assert!(m(r#"{"$or": [{"source": ["no"]}, {"detail": {"amount": [300]}}]}"#, e.clone()));
        assert!(!m(r#"{"$or": [{"source": ["no"]}, {"detail": {"amount": [1]}}]}"#, e.clone()));
        assert!(m(r#"{"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}"#, e.clone()));
        assert!(!m(r#"{"detail": {"ip": [{"cidr": "10.0.1.0/24"}]}}"#, e.clone()));
        assert!(!m(r#"{"detail": {"ip": [{"cidr": "2001:db8::/32"}]}}"#, e.clone()));
        assert!(m(r#"{"detail": {"ip": [{"cidr": "0.0.0.0/0"}]}}"#, e.clone()));
        assert!(m(r#"{}"#, e));
    }

    #[test]
    fn refusals_carry_aws_reasons() {
        assert_eq!(reason(r#"{"source": []}"#), "Empty arrays are not allowed");
        assert_eq!(reason(r#"{"source": "x"}"#), "\"source\" must be an object or an array");
        assert_eq!(reason(r#"{"a": [{"EXISTS": true}]}"#), "Unrecognized match type EXISTS");
        assert_eq!(reason(r#"{"a": [{"exists": "yes"}]}"#), "exists match pattern must be either true or false.");
        assert_eq!(reason(r#"{"a": [{"prefix": 1}]}"#), "prefix match pattern must be a string");
        assert_eq!(reason(r#"{"a": [{"numeric": [">", "x"]}]}"#), "Value of > must be numeric");
        assert_eq!(reason(r#"{"a": [{"numeric": ["=", 1, "<", 2]}]}"#), "Too many elements in numeric expression");
        assert_eq!(reason(r#"{"a": [{"numeric": [">", 5, "<", 2]}]}"#), "Bottom must be less than top");
        assert_eq!(reason(r#"{"a": [{"prefix": "a", "suffix": "b"}]}"#), "Only one key allowed in match expression");
        assert_eq!(reason(r#"{"a": [{"wildcard": "a**"}]}"#), "Consecutive wildcard characters at pos 2");
        assert_eq!(reason(r#"[1]"#), "Filter is not an object");
        assert_eq!(reason(r#"{"a": [{"cidr": "10.0.0.0"}]}"#), "Malformed CIDR, one '/' required");
        assert_eq!(reason(r#"{"a": [{"cidr": "10.0.0.0/x"}]}"#), "Malformed CIDR, mask bits must be an integer");
        assert_eq!(reason(r#"{"a": [{"cidr": "10.0.0.1/24"}]}"#), "Nonstandard IP address: 10.0.0.1");
        assert_eq!(reason(r#"{"a": [{"cidr": 1}]}"#), "prefix match pattern must be a string");
        assert!(reason("{").starts_with("Filter is not valid JSON"));
    }
}
