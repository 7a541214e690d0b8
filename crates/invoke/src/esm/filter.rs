//! FilterCriteria patterns (event-sources.md §2.8): the EventBridge pattern subset AWS records
//! for event source mappings — exact values, `prefix`, `suffix`, `exists`, `numeric`,
//! `anything-but`, nested objects (and), several filters (or).

use serde_json::Value;

/// Whether `doc` matches any of `patterns` (each a JSON object); no patterns match everything.
pub fn matches_any(patterns: &[Value], doc: &Value) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| matches(p, doc))
}

/// Whether `doc` matches one pattern object.
pub fn matches(pattern: &Value, doc: &Value) -> bool {
    let Some(fields) = pattern.as_object() else { return false };
    fields.iter().all(|(key, rule)| {
        let value = doc.get(key);
        match rule {
            Value::Object(_) => value.is_some_and(|v| matches(rule, v)),
            Value::Array(options) => options.iter().any(|o| matches_value(o, value)),
            _ => false,
        }
    })
}

/// One option of a field's array against the field's value (absent: `None`). An array value
/// matches when any of its elements does.
fn matches_value(option: &Value, value: Option<&Value>) -> bool {
    if let Some(Value::Object(op)) = Some(option)
        && let Some(exists) = op.get("exists").and_then(Value::as_bool)
    {
        return exists == value.is_some();
    }
    let Some(value) = value else { return false };
    if let Value::Array(items) = value {
        return items.iter().any(|v| matches_value(option, Some(v)));
    }
    match option {
        Value::Object(op) => {
            if let Some(p) = op.get("prefix").and_then(Value::as_str) {
                return value.as_str().is_some_and(|s| s.starts_with(p));
            }
            if let Some(p) = op.get("suffix").and_then(Value::as_str) {
                return value.as_str().is_some_and(|s| s.ends_with(p));
            }
            if let Some(Value::Array(conds)) = op.get("numeric") {
                return value.as_f64().is_some_and(|x| numeric(conds, x));
            }
            if let Some(but) = op.get("anything-but") {
                return match but {
                    Value::Array(list) => !list.iter().any(|b| equal(b, value)),
                    Value::Object(inner) => match inner.get("prefix").and_then(Value::as_str) {
                        Some(p) => value.as_str().is_some_and(|s| !s.starts_with(p)),
                        None => false,
                    },
                    b => !equal(b, value),
                };
            }
            false
        }
        o => equal(o, value),
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// `[">", 0, "<=", 5]`, `["=", 3]`.
fn numeric(conds: &[Value], x: f64) -> bool {
    conds.chunks(2).all(|c| match (c.first().and_then(Value::as_str), c.get(1).and_then(Value::as_f64)) {
        (Some("<"), Some(n)) => x < n,
        (Some("<="), Some(n)) => x <= n,
        (Some(">"), Some(n)) => x > n,
        (Some(">="), Some(n)) => x >= n,
        (Some("="), Some(n)) => x == n,
        _ => false,
    })
}

/// The patterns of a mapping's `FilterCriteria` (patterns that do not parse never match).
pub fn patterns(mapping: &Value) -> Vec<Value> {
    mapping["FilterCriteria"]["Filters"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .map(|f| f["Pattern"].as_str().and_then(|p| serde_json::from_str(p).ok()).unwrap_or(Value::Null))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn patterns_match_as_eventbridge_does() {
        let doc = json!({"body": {"k": 1, "name": "order-7", "tags": ["a", "b"], "n": 12.5},
                         "eventName": "INSERT",
                         "dynamodb": {"NewImage": {"status": {"S": "ready"}}}});
        for (p, want) in [
            (json!({"body": {"k": [1]}}), true),
            (json!({"body": {"k": [2]}}), false),
            (json!({"body": {"name": [{"prefix": "order-"}]}}), true),
            (json!({"body": {"name": [{"suffix": "-7"}]}}), true),
            (json!({"body": {"missing": [{"exists": false}]}}), true),
            (json!({"body": {"k": [{"exists": true}]}}), true),
            (json!({"body": {"n": [{"numeric": [">", 10, "<=", 12.5]}]}}), true),
            (json!({"body": {"n": [{"numeric": ["<", 10]}]}}), false),
            (json!({"body": {"name": [{"anything-but": ["x"]}]}}), true),
            (json!({"body": {"name": [{"anything-but": "order-7"}]}}), false),
            (json!({"body": {"tags": ["b"]}}), true),
            (json!({"eventName": ["INSERT", "MODIFY"], "dynamodb": {"NewImage": {"status": {"S": ["ready"]}}}}), true),
            (json!({"eventName": ["REMOVE"]}), false),
        ] {
            assert_eq!(matches(&p, &doc), want, "{p}");
        }
        assert!(matches_any(&[], &doc));
        assert!(matches_any(&[json!({"eventName": ["REMOVE"]}), json!({"eventName": ["INSERT"]})], &doc));
    }
}
