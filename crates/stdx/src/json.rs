//! JSON request bodies of the AWS JSON protocols.

use serde_json::{Map, Value};

/// The JSON object a request body holds: a blank body is the empty object (the SDKs send none
/// for an operation without input); `None` for anything that is not one JSON object.
pub fn object_body(body: &[u8]) -> Option<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(Value::Object(Map::new()));
    }
    match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_is_empty_and_only_objects_pass() {
        assert_eq!(object_body(b" \n"), Some(serde_json::json!({})));
        assert_eq!(object_body(br#"{"a":1}"#), Some(serde_json::json!({"a": 1})));
        for bad in [&b"[]"[..], b"1", b"\"s\"", b"{", b"null"] {
            assert_eq!(object_body(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
