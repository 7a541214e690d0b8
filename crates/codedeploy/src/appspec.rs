//! The AppSpec of a Lambda deployment (reference §1.4): YAML or JSON, keys case-insensitive,
//! versions as numbers or strings.
//!
//! YAML is read by a tight subset parser (block mappings and sequences, `- key: value` items,
//! one-line flow mappings and sequences, quoted and plain scalars, comments): an AppSpec uses
//! nothing else, and no maintained YAML crate is in the tree (docs/compat.md).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What a Lambda AppSpec asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub function: String,
    pub alias: String,
    pub current: u32,
    pub target: u32,
    pub before_allow_traffic: Option<String>,
    pub after_allow_traffic: Option<String>,
}

/// Largest AppSpec document read.
pub const CONTENT_BYTES_MAX: usize = 64 * 1024;
/// Deepest YAML nesting read.
const DEPTH_MAX: usize = 16;

/// Parses AppSpec content (JSON when it starts with `{`, else YAML).
pub fn parse(content: &str) -> Result<Spec, String> {
    if content.len() > CONTENT_BYTES_MAX {
        return Err(format!("the AppSpec is larger than {CONTENT_BYTES_MAX} bytes"));
    }
    let doc = if content.trim_start().starts_with('{') {
        serde_json::from_str::<Value>(content).map_err(|e| format!("the AppSpec is not valid JSON: {e}"))?
    } else {
        yaml(content)?
    };
    spec(&doc)
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn version(v: Option<&Value>, name: &str) -> Result<u32, String> {
    let s = v.and_then(text).ok_or_else(|| format!("{name} is missing"))?;
    match s.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{name} must be a positive integer, not {s:?}")),
    }
}

fn spec(doc: &Value) -> Result<Spec, String> {
    let resources = get(doc, "resources").and_then(Value::as_array).ok_or("Resources is missing")?;
    if resources.len() != 1 {
        return Err("Resources must name exactly one Lambda function".to_owned());
    }
    let logical = resources[0].as_object().filter(|o| o.len() == 1).ok_or("a resource must be one named entry")?;
    let (_, resource) = logical.iter().next().ok_or("empty resource")?;
    let kind = get(resource, "type").and_then(text).unwrap_or_default();
    if kind != "AWS::Lambda::Function" {
        return Err(format!("the resource type must be AWS::Lambda::Function, not {kind:?}"));
    }
    let props = get(resource, "properties").ok_or("Properties is missing")?;
    let field = |k: &str| get(props, k).and_then(text).filter(|s| !s.is_empty());
    let function = field("name").ok_or("Name is missing")?;
    let alias = field("alias").ok_or("Alias is missing")?;
    let current = version(get(props, "currentversion"), "CurrentVersion")?;
    let target = version(get(props, "targetversion"), "TargetVersion")?;
    let mut before = None;
    let mut after = None;
    if let Some(hooks) = get(doc, "hooks") {
        let items: Vec<&Value> = match hooks {
            Value::Array(a) => a.iter().collect(),
            Value::Object(_) => vec![hooks],
            Value::Null => vec![],
            _ => return Err("Hooks must be a list".to_owned()),
        };
        for item in items {
            let Some(o) = item.as_object() else { return Err("a hook must be `Event: function`".to_owned()) };
            for (k, v) in o {
                let f = text(v).filter(|s| !s.is_empty()).ok_or("a hook must name a function")?;
                if k.eq_ignore_ascii_case("BeforeAllowTraffic") {
                    before = Some(f);
                } else if k.eq_ignore_ascii_case("AfterAllowTraffic") {
                    after = Some(f);
                } else {
                    return Err(format!("{k} is not a Lambda lifecycle hook"));
                }
            }
        }
    }
    Ok(Spec { function, alias, current, target, before_allow_traffic: before, after_allow_traffic: after })
}

struct Line<'a> {
    indent: usize,
    text: &'a str,
}

/// The YAML subset an AppSpec uses, as a JSON value (scalars as strings).
pub fn yaml(content: &str) -> Result<Value, String> {
    let mut lines = Vec::new();
    for raw in content.lines() {
        let t = strip_comment(raw).trim_end();
        if t.trim().is_empty() || t.trim() == "---" {
            continue;
        }
        let text = t.trim_start_matches(' ');
        if text.starts_with('\t') {
            return Err("tabs are not allowed for indentation".to_owned());
        }
        lines.push(Line { indent: t.len() - text.len(), text });
    }
    if lines.is_empty() {
        return Err("the AppSpec is empty".to_owned());
    }
    let mut pos = 0;
    // Owned copies of the lines, since sequence items are re-read as deeper lines.
    let mut owned: Vec<(usize, String)> = lines.iter().map(|l| (l.indent, l.text.to_owned())).collect();
    let v = block(&mut owned, &mut pos, lines[0].indent, 0)?;
    if pos != owned.len() {
        return Err(format!("unexpected YAML at {:?}", owned[pos].1));
    }
    Ok(v)
}

fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '#') if i == 0 || line[..i].ends_with(' ') => return &line[..i],
            _ => {}
        }
    }
    line
}

fn block(lines: &mut Vec<(usize, String)>, pos: &mut usize, indent: usize, depth: usize) -> Result<Value, String> {
    if depth > DEPTH_MAX {
        return Err("the AppSpec is nested too deeply".to_owned());
    }
    let first = &lines[*pos].1;
    if first == "-" || first.starts_with("- ") {
        let mut items = Vec::new();
        while *pos < lines.len() && lines[*pos].0 == indent && (lines[*pos].1 == "-" || lines[*pos].1.starts_with("- "))
        {
            let rest = lines[*pos].1[1..].trim_start().to_owned();
            if rest.is_empty() {
                *pos += 1;
                if *pos < lines.len() && lines[*pos].0 > indent {
                    let child = lines[*pos].0;
                    items.push(block(lines, pos, child, depth + 1)?);
                } else {
                    items.push(Value::Null);
                }
            } else {
                // `- key: value` opens a mapping at the item's column.
                let col = indent + (lines[*pos].1.len() - rest.len());
                lines[*pos] = (col, rest);
                items.push(block(lines, pos, col, depth + 1)?);
            }
        }
        return Ok(Value::Array(items));
    }
    if !first.contains(':')
        || first.starts_with('{')
        || first.starts_with('[')
        || first.starts_with('"') && !has_key(first)
    {
        let v = scalar(first)?;
        *pos += 1;
        return Ok(v);
    }
    let mut map = Map::new();
    while *pos < lines.len() && lines[*pos].0 == indent {
        let line = lines[*pos].1.clone();
        let Some((k, v)) = split_key(&line) else { return Err(format!("expected `key: value`, got {line:?}")) };
        *pos += 1;
        let value = if v.is_empty() {
            if *pos < lines.len() && lines[*pos].0 > indent {
                let child = lines[*pos].0;
                block(lines, pos, child, depth + 1)?
            } else if *pos < lines.len() && lines[*pos].0 == indent && lines[*pos].1.starts_with("- ") {
                block(lines, pos, indent, depth + 1)?
            } else {
                Value::Null
            }
        } else {
            scalar(v)?
        };
        map.insert(k, value);
    }
    if *pos < lines.len() && lines[*pos].0 > indent {
        return Err(format!("unexpected indentation at {:?}", lines[*pos].1));
    }
    Ok(Value::Object(map))
}

fn has_key(s: &str) -> bool {
    split_key(s).is_some()
}

fn split_key(line: &str) -> Option<(String, &str)> {
    let (key, rest) = if let Some(q) = line.strip_prefix('"') {
        let end = q.find('"')?;
        (q[..end].to_owned(), q[end + 1..].strip_prefix(':')?)
    } else if let Some(q) = line.strip_prefix('\'') {
        let end = q.find('\'')?;
        (q[..end].to_owned(), q[end + 1..].strip_prefix(':')?)
    } else {
        let i = line.find(": ").or_else(|| line.ends_with(':').then(|| line.len() - 1))?;
        (line[..i].trim().to_owned(), &line[i + 1..])
    };
    if !rest.is_empty() && !rest.starts_with(' ') {
        return None;
    }
    Some((key, rest.trim()))
}

fn scalar(s: &str) -> Result<Value, String> {
    flow(s, 0)
}

fn flow(s: &str, depth: usize) -> Result<Value, String> {
    if depth > DEPTH_MAX {
        return Err("the AppSpec is nested too deeply".to_owned());
    }
    let s = s.trim();
    if let Some(inner) = s.strip_prefix('{') {
        let inner = inner.strip_suffix('}').ok_or("unclosed flow mapping")?;
        let mut map = Map::new();
        for part in split_flow(inner) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let i = part.find(':').ok_or("bad flow mapping")?;
            map.insert(unquote(&part[..i]), flow(&part[i + 1..], depth + 1)?);
        }
        return Ok(Value::Object(map));
    }
    if let Some(inner) = s.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or("unclosed flow sequence")?;
        let items =
            split_flow(inner).into_iter().filter(|p| !p.trim().is_empty()).map(scalar).collect::<Result<_, _>>()?;
        return Ok(Value::Array(items));
    }
    Ok(Value::String(unquote(s)))
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    if s.len() >= 2 && (s.starts_with('"') && s.ends_with('"') || s.starts_with('\'') && s.ends_with('\'')) {
        s[1..s.len() - 1].to_owned()
    } else {
        s.to_owned()
    }
}

/// Splits a flow collection's inside at top-level commas.
fn split_flow(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0);
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if q == c => quote = None,
            (None, '{' | '[') => depth += 1,
            (None, '}' | ']') => depth -= 1,
            (None, ',') if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "version: 0.0\nResources:\n  - myLambdaFunction:   # logical name\n      Type: AWS::Lambda::Function\n      Properties:\n        Name: \"myFn\"\n        Alias: \"live\"\n        CurrentVersion: \"1\"\n        TargetVersion: 2\nHooks:\n  - BeforeAllowTraffic: \"CodeDeployHook_pre\"\n  - AfterAllowTraffic: CodeDeployHook_post\n";

    fn expected() -> Spec {
        Spec {
            function: "myFn".into(),
            alias: "live".into(),
            current: 1,
            target: 2,
            before_allow_traffic: Some("CodeDeployHook_pre".into()),
            after_allow_traffic: Some("CodeDeployHook_post".into()),
        }
    }

    #[test]
    fn yaml_and_json_agree() {
        assert_eq!(parse(YAML).unwrap(), expected());
        let json = r#"{"version": 0.0, "Resources": [{"myLambdaFunction": {"Type": "AWS::Lambda::Function",
   "Properties": {"Name": "myFn", "Alias": "live", "CurrentVersion": "1", "TargetVersion": 2}}}],
 "Hooks": [{"BeforeAllowTraffic": "CodeDeployHook_pre"}, {"AfterAllowTraffic": "CodeDeployHook_post"}]}"#;
        assert_eq!(parse(json).unwrap(), expected());
        let lower = "version: '0.0'\nresources:\n- f:\n    type: AWS::Lambda::Function\n    properties: {name: myFn, alias: live, currentversion: 1, targetversion: \"2\"}\nhooks:\n- beforeallowtraffic: CodeDeployHook_pre\n- afterallowtraffic: CodeDeployHook_post\n";
        assert_eq!(parse(lower).unwrap(), expected());
    }

    #[test]
    fn hostile_input_is_refused_without_panicking() {
        let deep = format!("a: {}{}", "{b: ".repeat(10_000), "}".repeat(10_000));
        assert!(yaml(&deep).is_err());
        let deep = format!("a: {}", "[".repeat(10_000));
        assert!(yaml(&deep).is_err());
        let deep: String = (0..10_000).map(|i| format!("{}- \n", " ".repeat(i % 200))).collect();
        let _ = yaml(&deep);
        // Random documents over YAML's punctuation: any answer, never a panic.
        let alphabet: Vec<char> = "ab:- \n{}[],'\"#é\t0".chars().collect();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut doc = String::new();
            for _ in 0..(x % 40) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                doc.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            x = x.wrapping_add(1);
            let _ = parse(&doc);
        }
    }

    #[test]
    fn bad_specs_are_refused() {
        assert!(parse("version: 0.0\n").is_err());
        assert!(parse(&YAML.replace("TargetVersion: 2", "TargetVersion: zero")).is_err());
        assert!(parse(&YAML.replace("AWS::Lambda::Function", "AWS::S3::Bucket")).is_err());
        assert!(parse("{not json").is_err());
        assert!(parse(&YAML.replace("AfterAllowTraffic", "AfterInstall")).is_err());
    }
}
