//! The three wire protocols (deployments.md §3.1): decoding a request into a [`Value`] and
//! encoding a [`Value`] or an [`Error`] back, so operations never see a protocol.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read as _;

use crate::doc::{Error, Value, format_time};
use crate::{Protocol, Response};

/// The JSON 1.0 target prefix and the CBOR path's service segment.
pub const TARGET_PREFIX: &str = "GraniteServiceVersion20100801.";
/// The Smithy RPC v2 CBOR path prefix of an operation.
pub const CBOR_PATH_PREFIX: &str = "/service/GraniteServiceVersion20100801/operation/";
const XMLNS: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";
/// The JSON/CBOR `__type` namespace of CloudWatch's errors.
const ERROR_NAMESPACE: &str = "com.amazonaws.cloudwatch.v2010_08_01#";

/// Largest (inflated) request body: PutMetricData's 1 MB limit.
pub const REQUEST_BYTES_MAX: usize = 1024 * 1024;
/// Most `key=value` pairs of a query body.
pub const QUERY_PAIRS_MAX: usize = 100_000;
/// Largest `member.N` index of a query body.
pub const QUERY_INDEX_MAX: usize = 100_000;
/// Deepest member path of a query body (`MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name`).
pub const QUERY_DEPTH_MAX: usize = 16;

/// `Content-Encoding: gzip` bodies inflated, at most [`REQUEST_BYTES_MAX`] bytes.
pub fn inflate(body: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    let mut reader = flate2::read::GzDecoder::new(body).take(REQUEST_BYTES_MAX as u64 + 1);
    if reader.read_to_end(&mut out).is_err() {
        return Err(Error::new("InvalidFormat", "The request body is not valid gzip."));
    }
    if out.len() > REQUEST_BYTES_MAX {
        return Err(too_large());
    }
    Ok(out)
}

pub fn too_large() -> Error {
    Error::new("RequestEntityTooLarge", format!("Request size exceeded {REQUEST_BYTES_MAX} bytes"))
}

/// Decodes a JSON or CBOR body into the request document; the query protocol's body also
/// names the operation (`Action`), returned with the document.
pub fn decode(protocol: Protocol, body: &[u8]) -> Result<(Value, Option<String>), Error> {
    match protocol {
        Protocol::Json => {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok((Value::Map(vec![]), None));
            }
            let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
                Error::new("SerializationException", format!("The request body is not valid JSON: {e}"))
            })?;
            match from_json(v) {
                v @ Value::Map(_) => Ok((v, None)),
                _ => Err(Error::new("SerializationException", "The request body must be a JSON object.")),
            }
        }
        Protocol::Cbor => {
            if body.is_empty() {
                return Ok((Value::Map(vec![]), None));
            }
            match crate::cbor::decode(body) {
                Ok(v @ Value::Map(_)) => Ok((v, None)),
                Ok(_) => Err(Error::new("SerializationException", "The request body must be a CBOR map.")),
                Err(e) => {
                    Err(Error::new("SerializationException", format!("The request body is not valid CBOR: {}.", e.0)))
                }
            }
        }
        Protocol::Query => from_query(body),
    }
}

fn from_json(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::Str(s),
        serde_json::Value::Array(a) => Value::List(a.into_iter().map(from_json).collect()),
        serde_json::Value::Object(o) => Value::Map(o.into_iter().map(|(k, v)| (k, from_json(v))).collect()),
    }
}

/// A query body's tree before it becomes a document: leaves are strings; `X.member.N`
/// makes `X` a list (no per-operation table is needed for decoding: CloudWatch's lists are
/// all `member` lists, the only input maps (`entry.N.key`, in PutMetricData's
/// `EntityMetricData`) are not read, and operations read
/// numbers, booleans and timestamps from strings through `doc::Input`).
enum Node {
    Leaf(String),
    Struct(BTreeMap<String, Node>),
    List(BTreeMap<usize, Node>),
}

fn malformed(message: impl Into<String>) -> Error {
    Error::new("MalformedQueryString", message)
}

fn from_query(body: &[u8]) -> Result<(Value, Option<String>), Error> {
    let mut root: BTreeMap<String, Node> = BTreeMap::new();
    let mut action = None;
    for (n, (k, v)) in form_urlencoded::parse(body).enumerate() {
        if n >= QUERY_PAIRS_MAX {
            return Err(malformed(format!("The request has more than {QUERY_PAIRS_MAX} parameters.")));
        }
        match k.as_ref() {
            "Action" => action = Some(v.into_owned()),
            "Version" => {}
            key => insert(&mut root, key, v.into_owned())?,
        }
    }
    Ok((node_value(Node::Struct(root)), action))
}

fn insert(root: &mut BTreeMap<String, Node>, key: &str, value: String) -> Result<(), Error> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.len() > QUERY_DEPTH_MAX || parts.iter().any(|p| p.is_empty()) {
        return Err(malformed(format!("The parameter name {key} is not valid.")));
    }
    let mut node = root.entry(parts[0].to_owned()).or_insert_with(|| Node::Struct(BTreeMap::new()));
    let mut i = 1;
    while i < parts.len() {
        if parts[i] == "member" {
            let index: usize = parts
                .get(i + 1)
                .and_then(|n| n.parse().ok())
                .filter(|n| (1..=QUERY_INDEX_MAX).contains(n))
                .ok_or_else(|| malformed(format!("The parameter name {key} is not valid.")))?;
            if let Node::Struct(m) = node
                && m.is_empty()
            {
                *node = Node::List(BTreeMap::new());
            }
            if let Node::Leaf(s) = node
                && s.is_empty()
            {
                *node = Node::List(BTreeMap::new());
            }
            let Node::List(l) = node else {
                return Err(malformed(format!("The parameter name {key} is not valid.")));
            };
            node = l.entry(index).or_insert_with(|| Node::Struct(BTreeMap::new()));
            i += 2;
        } else {
            if let Node::Leaf(s) = node
                && s.is_empty()
            {
                *node = Node::Struct(BTreeMap::new());
            }
            let Node::Struct(m) = node else {
                return Err(malformed(format!("The parameter name {key} is not valid.")));
            };
            node = m.entry(parts[i].to_owned()).or_insert_with(|| Node::Struct(BTreeMap::new()));
            i += 1;
        }
    }
    match node {
        Node::Struct(m) if m.is_empty() => {
            *node = Node::Leaf(value);
            Ok(())
        }
        // `Dimensions=` next to `Dimensions.member.1…`: the empty list marker.
        _ if value.is_empty() => Ok(()),
        _ => Err(malformed(format!("The parameter {key} is given twice or conflicts with another."))),
    }
}

fn node_value(n: Node) -> Value {
    match n {
        Node::Leaf(s) => Value::Str(s),
        Node::Struct(m) => Value::Map(m.into_iter().map(|(k, v)| (k, node_value(v))).collect()),
        Node::List(l) => Value::List(l.into_values().map(node_value).collect()),
    }
}

/// The content type of a protocol's answers.
fn content_type(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Json => "application/x-amz-json-1.0",
        Protocol::Cbor => "application/cbor",
        Protocol::Query => "text/xml",
    }
}

fn response(protocol: Protocol, status: u16, body: Vec<u8>) -> Response {
    let mut headers = vec![("content-type", content_type(protocol).to_owned())];
    if protocol == Protocol::Cbor {
        headers.push(("smithy-protocol", "rpc-v2-cbor".to_owned()));
    }
    Response { status, headers, body }
}

/// An operation's answer. `None`: the operation has no output (an empty JSON object, an empty
/// CBOR body, no `…Result` element).
pub fn encode(protocol: Protocol, operation: &str, output: Option<&Value>, request_id: &str) -> Response {
    let body = match protocol {
        Protocol::Json => {
            let v = output.map_or_else(|| serde_json::json!({}), to_json);
            v.to_string().into_bytes()
        }
        Protocol::Cbor => output.map(crate::cbor::encode).unwrap_or_default(),
        Protocol::Query => {
            let mut x = format!("<{operation}Response xmlns=\"{XMLNS}\">");
            if let Some(v) = output {
                let _ = write!(x, "<{operation}Result>");
                xml_members(&mut x, v);
                let _ = write!(x, "</{operation}Result>");
            }
            let _ = write!(
                x,
                "<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{operation}Response>",
                escape(request_id)
            );
            x.into_bytes()
        }
    };
    response(protocol, 200, body)
}

/// HTTP status of an error: the model's, with not-found 404 only in query mode (§3.1).
fn status(code: &str, protocol: Protocol, query_mode: bool) -> u16 {
    match code {
        "ResourceNotFound" | "ResourceNotFoundException" if protocol == Protocol::Query || query_mode => 404,
        "InternalServiceError" => 500,
        "RequestEntityTooLarge" => 413,
        "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "MissingAuthenticationToken"
        | "ExpiredToken"
        | "AccessDenied" => 403,
        _ => 400,
    }
}

/// The JSON/CBOR `__type` of a query code: the model's error shape.
fn error_type(code: &str) -> String {
    let shape = match code {
        "ValidationError" => return "com.amazon.coral.validate#ValidationException".to_owned(),
        "SerializationException" => return "com.amazon.coral.service#SerializationException".to_owned(),
        "InvalidAction" => return "com.amazon.coral.service#UnknownOperationException".to_owned(),
        "InvalidParameterValue" => "InvalidParameterValueException",
        "InvalidParameterCombination" => "InvalidParameterCombinationException",
        "MissingParameter" => "MissingRequiredParameterException",
        "LimitExceeded" => "LimitExceededFault",
        "InvalidFormat" => "InvalidFormatFault",
        "InternalServiceError" => "InternalServiceFault",
        other => other,
    };
    format!("{ERROR_NAMESPACE}{shape}")
}

/// An error in the protocol's shape, with `x-amzn-query-error` for JSON and CBOR.
pub fn error(protocol: Protocol, query_mode: bool, e: &Error, request_id: &str) -> Response {
    let status = status(e.code, protocol, query_mode);
    let kind = if status >= 500 { "Receiver" } else { "Sender" };
    let mut r = match protocol {
        Protocol::Json | Protocol::Cbor => {
            let mut members = vec![("__type", Value::str(error_type(e.code)))];
            if let Some(m) = &e.message {
                members.push(("message", Value::str(m.clone())));
            }
            let v = Value::Map(members.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
            let body =
                if protocol == Protocol::Json { to_json(&v).to_string().into_bytes() } else { crate::cbor::encode(&v) };
            let mut r = response(protocol, status, body);
            r.headers.push(("x-amzn-query-error", format!("{};{kind}", e.code)));
            r
        }
        Protocol::Query => {
            let mut x = format!("<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>{kind}</Type><Code>{}</Code>", e.code);
            // AWS writes `<Message/>` when there is no message (a missing alarm in
            // SetAlarmState, §3.1 [V]); botocore then reads "" as it does from JSON.
            match &e.message {
                Some(m) => {
                    let _ = write!(x, "<Message>{}</Message>", escape(m));
                }
                None => x.push_str("<Message/>"),
            }
            let _ = write!(x, "</Error><RequestId>{}</RequestId></ErrorResponse>", escape(request_id));
            response(protocol, status, x.into_bytes())
        }
    };
    r.status = status;
    r
}

fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::Str(s) => s.clone().into(),
        Value::Time(ms) => {
            serde_json::Number::from_f64(*ms as f64 / 1000.0).map_or(serde_json::Value::Null, serde_json::Value::Number)
        }
        Value::List(l) => l.iter().map(to_json).collect(),
        Value::Map(m) | Value::Dict(m) => {
            m.iter().filter(|(_, v)| *v != Value::Null).map(|(k, v)| (k.clone(), to_json(v))).collect()
        }
    }
}

fn xml_members(x: &mut String, v: &Value) {
    match v {
        Value::Map(m) => {
            for (k, v) in m {
                if *v == Value::Null {
                    continue;
                }
                let _ = write!(x, "<{k}>");
                xml_members(x, v);
                let _ = write!(x, "</{k}>");
            }
        }
        Value::Dict(m) => {
            for (k, v) in m {
                let _ = write!(x, "<entry><key>{}</key><value>", escape(k));
                xml_members(x, v);
                x.push_str("</value></entry>");
            }
        }
        Value::List(l) => {
            for i in l {
                x.push_str("<member>");
                xml_members(x, i);
                x.push_str("</member>");
            }
        }
        Value::Null => {}
        Value::Bool(b) => x.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(x, "{i}");
        }
        Value::Float(f) => {
            let _ = write!(x, "{f:?}");
        }
        Value::Str(s) => x.push_str(&escape(s)),
        Value::Time(ms) => x.push_str(&format_time(*ms)),
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_bodies_become_documents() {
        let body = b"Action=PutMetricData&Version=2010-08-01&Namespace=App&MetricData.member.1.MetricName=M\
&MetricData.member.1.Value=1.5&MetricData.member.1.Dimensions.member.1.Name=A\
&MetricData.member.1.Dimensions.member.1.Value=x%20y&MetricData.member.2.MetricName=N&MetricData.member.2.Dimensions=";
        let (v, action) = decode(Protocol::Query, body).unwrap();
        assert_eq!(action.as_deref(), Some("PutMetricData"));
        let data = v.get("MetricData").unwrap();
        let Value::List(items) = data else { panic!("{data:?}") };
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].get("Value"), Some(&Value::str("1.5")));
        let dims = items[0].get("Dimensions").unwrap();
        assert_eq!(
            dims,
            &Value::List(vec![Value::Map(vec![("Name".into(), Value::str("A")), ("Value".into(), Value::str("x y"))])])
        );
        assert_eq!(items[1].get("Dimensions"), Some(&Value::str("")));
    }

    #[test]
    fn malformed_query_bodies_are_refused() {
        for body in ["A.member.x=1", "A.member.0=1", "A=1&A.B=2", "A..B=1", "A.member.100001=1"] {
            assert_eq!(decode(Protocol::Query, body.as_bytes()).unwrap_err().code, "MalformedQueryString", "{body}");
        }
    }

    #[test]
    fn errors_take_each_protocols_shape() {
        let e = Error::new("ResourceNotFound", "gone");
        let r = error(Protocol::Json, true, &e, "rid");
        assert_eq!(r.status, 404);
        assert!(r.headers.contains(&("x-amzn-query-error", "ResourceNotFound;Sender".to_owned())));
        assert_eq!(error(Protocol::Json, false, &e, "rid").status, 400);
        let r = error(Protocol::Query, false, &Error::invalid("a<b"), "rid");
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            format!(
                "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>Sender</Type><Code>InvalidParameterValue</Code><Message>a&lt;b</Message></Error><RequestId>rid</RequestId></ErrorResponse>"
            )
        );
        let none = Error { code: "ResourceNotFound", message: None };
        let r = error(Protocol::Query, false, &none, "rid");
        assert!(String::from_utf8(r.body).unwrap().contains("<Code>ResourceNotFound</Code><Message/></Error>"));
        let r = error(Protocol::Cbor, true, &Error::invalid("m"), "rid");
        assert!(r.headers.contains(&("smithy-protocol", "rpc-v2-cbor".to_owned())));
        let v = crate::cbor::decode(&r.body).unwrap();
        assert_eq!(
            v.get("__type"),
            Some(&Value::str("com.amazonaws.cloudwatch.v2010_08_01#InvalidParameterValueException"))
        );
    }

    #[test]
    fn gzip_bodies_are_inflated_within_the_bound() {
        use std::io::Write as _;
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&vec![b'a'; REQUEST_BYTES_MAX + 1]).unwrap();
        let bomb = z.finish().unwrap();
        assert_eq!(inflate(&bomb).unwrap_err().code, "RequestEntityTooLarge");
        assert_eq!(inflate(b"not gzip").unwrap_err().code, "InvalidFormat");
    }
}
