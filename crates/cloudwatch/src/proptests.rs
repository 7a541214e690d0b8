//! Property tests of the CloudWatch API's untrusted input: every operation's valid request,
//! mutated, in each of the three protocols (JSON documents, raw CBOR and query bytes), through
//! [`CloudWatch::handle`] on a real store. Every answer is a success or a client error in the
//! request's protocol; nothing panics, nothing answers 5xx.

use std::sync::Arc;

use propkit::proptest;
use propkit::proptest::prelude::*;
use serde_json::{Value as Json, json};

use crate::{CloudWatch, Context, Request};

/// Cases of each property.
const CASES: u32 = 192;

fn now_secs() -> i64 {
    stdx::time::now_ms() / 1000
}

/// Every operation with a valid JSON request.
fn requests() -> Vec<(&'static str, Json)> {
    let now = now_secs();
    let dims = json!([{"Name": "Service", "Value": "api"}]);
    let metric = json!({"Namespace": "App", "MetricName": "Latency", "Dimensions": dims});
    vec![
        (
            "PutMetricData",
            json!({"Namespace": "App", "MetricData": [
                {"MetricName": "Latency", "Dimensions": dims, "Value": 1.5, "Unit": "Milliseconds", "Timestamp": now},
                {"MetricName": "Latency", "Values": [1.0, 2.0], "Counts": [1.0, 3.0], "StorageResolution": 60},
                {"MetricName": "Latency", "StatisticValues": {"SampleCount": 2, "Sum": 3, "Minimum": 1, "Maximum": 2}}]}),
        ),
        (
            "GetMetricStatistics",
            json!({"Namespace": "App", "MetricName": "Latency", "Dimensions": dims, "StartTime": now - 600,
                   "EndTime": now + 60, "Period": 60, "Statistics": ["Sum", "Average"], "Unit": "Count"}),
        ),
        (
            "GetMetricData",
            json!({"MetricDataQueries": [{"Id": "a", "Label": "L", "ReturnData": true,
                     "MetricStat": {"Metric": metric, "Period": 60, "Stat": "p99"}}],
                   "StartTime": now - 600, "EndTime": now + 60, "ScanBy": "TimestampAscending",
                   "MaxDatapoints": 10, "NextToken": "dp-1"}),
        ),
        (
            "ListMetrics",
            json!({"Namespace": "App", "MetricName": "Latency", "Dimensions": [{"Name": "Service"}],
                   "RecentlyActive": "PT3H", "NextToken": "417070004c6174656e637900"}),
        ),
    ]
}

const MEMBERS: &[&str] = &[
    "Namespace",
    "MetricName",
    "MetricData",
    "Dimensions",
    "Name",
    "Value",
    "Values",
    "Counts",
    "StatisticValues",
    "Timestamp",
    "StartTime",
    "EndTime",
    "Period",
    "Statistics",
    "ExtendedStatistics",
    "MetricDataQueries",
    "MetricStat",
    "Metric",
    "Stat",
    "Id",
    "Expression",
    "NextToken",
    "MaxDatapoints",
];

/// A JSON document as the query protocol spells it (`A.member.1.B=…`).
fn form(prefix: &str, v: &Json, out: &mut Vec<(String, String)>) {
    match v {
        Json::Object(m) => {
            for (k, v) in m {
                let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                form(&name, v, out);
            }
        }
        Json::Array(a) if a.is_empty() => out.push((prefix.to_owned(), String::new())),
        Json::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                form(&format!("{prefix}.member.{}", i + 1), v, out);
            }
        }
        Json::String(s) => out.push((prefix.to_owned(), s.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

fn query_body(op: &str, v: &Json) -> Vec<u8> {
    let mut pairs = vec![("Action".to_owned(), op.to_owned()), ("Version".to_owned(), "2010-08-01".to_owned())];
    form("", v, &mut pairs);
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish().into_bytes()
}

fn cbor_body(v: &Json) -> Vec<u8> {
    fn doc(v: &Json) -> crate::Value {
        match v {
            Json::Null => crate::Value::Null,
            Json::Bool(b) => crate::Value::Bool(*b),
            Json::Number(n) => n.as_i64().map_or(crate::Value::Float(n.as_f64().unwrap_or(0.0)), crate::Value::Int),
            Json::String(s) => crate::Value::str(s.clone()),
            Json::Array(a) => crate::Value::List(a.iter().map(doc).collect()),
            Json::Object(m) => crate::Value::Map(m.iter().map(|(k, v)| (k.clone(), doc(v))).collect()),
        }
    }
    crate::cbor::encode(&doc(v))
}

/// A request in one of the protocols: (protocol 0 JSON / 1 CBOR / 2 query, operation, body).
fn request() -> impl Strategy<Value = (u8, String, Vec<u8>)> {
    let op = proptest::sample::select(requests());
    prop_oneof![
        3 => op.clone().prop_flat_map(|(name, valid)| (Just(0u8), Just(name.to_owned()), propkit::json_body(valid, MEMBERS))),
        2 => op.clone().prop_flat_map(|(name, valid)| {
            (Just(1u8), Just(name.to_owned()), propkit::mutated_json(valid, MEMBERS).prop_map(|v| cbor_body(&v)))
        }),
        2 => op.clone().prop_flat_map(|(name, valid)| (Just(1u8), Just(name.to_owned()), propkit::mutated(cbor_body(&valid)))),
        2 => op.clone().prop_flat_map(|(name, valid)| {
            (Just(2u8), Just(name.to_owned()), propkit::mutated_json(valid, MEMBERS).prop_map(move |v| query_body(name, &v)))
        }),
        2 => op.prop_flat_map(|(name, valid)| (Just(2u8), Just(name.to_owned()), propkit::mutated(query_body(name, &valid)))),
        1 => (0u8..3, ".{0,20}", propkit::bytes(64)),
    ]
}

fn service(dir: &tempfile::TempDir) -> CloudWatch {
    let backend = store::SqliteBackend::open(&store::SqliteOptions { path: dir.path().join("versa.db") }).unwrap();
    let store = store::Store::new(Arc::new(backend));
    CloudWatch::new(store.clone(), metrics::Recorder::new(store))
}

#[test]
fn every_request_gets_an_answer_in_its_protocol() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cw = service(&dir);
    let ctx = Context { account: "123456789012".into(), region: "us-east-1".into(), request_id: "rid".into() };
    let answered: std::cell::Cell<[u32; 2]> = std::cell::Cell::new([0, 0]);
    proptest!(propkit::config(CASES), |((protocol, op, body) in request())| {
        let (path, target) = match protocol {
            0 => ("/".to_owned(), Some(format!("{}{op}", crate::TARGET_PREFIX))),
            1 => (format!("{}{op}", crate::CBOR_PATH_PREFIX), None),
            _ => ("/".to_owned(), None),
        };
        let req = Request { method: "POST".into(), path, target, query_mode: true, gzip: false, body };
        let r = rt.block_on(cw.handle(&ctx, req));
        let mut n = answered.get();
        n[usize::from(r.status != 200)] += 1;
        answered.set(n);
        prop_assert!(r.status == 200 || (400..500).contains(&r.status), "status {}: {}", r.status, String::from_utf8_lossy(&r.body));
        match protocol {
            0 => {
                let v: Json = serde_json::from_slice(&r.body).expect("a JSON answer");
                if r.status != 200 {
                    prop_assert!(v["__type"].is_string());
                    prop_assert!(r.headers.iter().any(|(k, _)| *k == "x-amzn-query-error"));
                }
            }
            1 => {
                prop_assert!(r.headers.iter().any(|(k, v)| *k == "smithy-protocol" && v == "rpc-v2-cbor"));
                if r.status != 200 || !r.body.is_empty() {
                    let v = crate::cbor::decode(&r.body).expect("a CBOR answer");
                    if r.status != 200 {
                        prop_assert!(matches!(v.get("__type"), Some(crate::Value::Str(_))));
                    }
                }
            }
            _ => {
                let text = String::from_utf8(r.body).expect("UTF-8 XML");
                let root = if r.status == 200 { "Response xmlns=" } else { "<ErrorResponse" };
                prop_assert!(text.contains(root), "{}", text);
            }
        }
    });
    // Both kinds of answer were exercised.
    let [ok, refused] = answered.get();
    assert!(ok >= CASES / 10 && refused >= CASES / 10, "{ok} answered, {refused} refused");
}
