//! FilterCriteria patterns (event-sources.md §2.8): EventBridge's pattern language, matched by
//! the one matcher EventBridge rules use (`eventpattern`).

use eventpattern::Pattern;
use serde_json::Value;

/// Whether `doc` matches any of `patterns`; no patterns match everything. A pattern that did not
/// parse (`None`; control refuses them, so only a record written before that check) never matches.
pub fn matches_any(patterns: &[Option<Pattern>], doc: &Value) -> bool {
    patterns.is_empty() || patterns.iter().flatten().any(|p| p.matches(doc))
}

/// The patterns of a mapping's `FilterCriteria`, parsed once per batch.
pub fn patterns(mapping: &Value) -> Vec<Option<Pattern>> {
    mapping["FilterCriteria"]["Filters"]
        .as_array()
        .map(|fs| fs.iter().map(|f| f["Pattern"].as_str().and_then(|p| Pattern::parse(p).ok())).collect())
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
            let parsed = Pattern::parse(&p.to_string()).expect("pattern");
            assert_eq!(parsed.matches(&doc), want, "{p}");
        }
        assert!(matches_any(&[], &doc));
        let two = [r#"{"eventName": ["REMOVE"]}"#, r#"{"eventName": ["INSERT"]}"#].map(|p| Pattern::parse(p).ok());
        assert!(matches_any(&two, &doc));
        assert!(!matches_any(&two[..1], &doc));
    }
}
