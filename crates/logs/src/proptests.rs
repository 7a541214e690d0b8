//! Property tests of the Logs API's untrusted input: JSON request bodies of every operation
//! (arbitrary, and valid requests mutated) through [`Logs::handle`] on a real store, and filter
//! patterns. Every answer is a success or a JSON 1.1 client error; patterns parse or are refused,
//! and a parsed pattern matches as its terms say.

use propkit::proptest;
use propkit::proptest::prelude::*;
use serde_json::{Value, json};

use crate::pattern::FilterPattern;
use crate::{LogLimits, Logs};

/// Cases of each property.
const CASES: u32 = 256;
const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const GROUP: &str = "/aws/lambda/f";
const STREAM: &str = "2024/01/01/[$LATEST]a";
const T0: i64 = 1_700_000_000_000;

/// Every operation with a valid request, and the members its requests have.
fn requests() -> Vec<(&'static str, Value)> {
    let zeros = format!("{:056}", 0);
    vec![
        ("CreateLogGroup", json!({"logGroupName": "/aws/lambda/g"})),
        ("DeleteLogGroup", json!({"logGroupName": "/aws/lambda/g"})),
        ("PutRetentionPolicy", json!({"logGroupName": GROUP, "retentionInDays": 7})),
        ("DeleteRetentionPolicy", json!({"logGroupName": GROUP})),
        ("CreateLogStream", json!({"logGroupName": GROUP, "logStreamName": "s2"})),
        ("DeleteLogStream", json!({"logGroupName": GROUP, "logStreamName": "s2"})),
        (
            "PutLogEvents",
            json!({"logGroupName": GROUP, "logStreamName": STREAM,
                   "logEvents": [{"timestamp": T0, "message": "hello"}, {"timestamp": T0 + 1, "message": "ERROR x"}]}),
        ),
        ("DescribeLogGroups", json!({"logGroupNamePrefix": "/aws", "limit": 5, "nextToken": "g/2f"})),
        (
            "DescribeLogStreams",
            json!({"logGroupIdentifier": format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}:*"),
                   "orderBy": "LastEventTime", "descending": true, "limit": 3, "nextToken": "t/1/2"}),
        ),
        (
            "GetLogEvents",
            json!({"logGroupName": GROUP, "logStreamName": STREAM, "startTime": T0, "endTime": T0 + 10,
                   "limit": 10, "startFromHead": true, "nextToken": format!("f/{zeros}")}),
        ),
        (
            "FilterLogEvents",
            json!({"logGroupName": GROUP, "logStreamNames": [STREAM], "logStreamNamePrefix": "2024",
                   "filterPattern": "ERROR -debug ?\"a b\"", "startTime": T0, "endTime": T0 + 10, "limit": 10,
                   "nextToken": format!("e/{zeros}"), "interleaved": true}),
        ),
    ]
}

const MEMBERS: &[&str] = &[
    "logGroupName",
    "logGroupIdentifier",
    "logStreamName",
    "logStreamNames",
    "logStreamNamePrefix",
    "logGroupNamePrefix",
    "logGroupNamePattern",
    "retentionInDays",
    "logEvents",
    "timestamp",
    "message",
    "orderBy",
    "descending",
    "limit",
    "nextToken",
    "startTime",
    "endTime",
    "startFromHead",
    "filterPattern",
];

/// A store with one group and stream holding two events.
fn store(rt: &tokio::runtime::Runtime) -> (tempfile::TempDir, Logs) {
    let dir = tempfile::tempdir().unwrap();
    let logs = Logs::open(&dir.path().join("logs.db"), LogLimits::default()).unwrap();
    logs.append(ACCOUNT, REGION, GROUP, STREAM, vec![(T0, "START".into()), (T0 + 5, "ERROR boom".into())]);
    rt.block_on(logs.flush()).unwrap();
    (dir, logs)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A request: an operation (a real one, mostly) and a body for it.
fn request() -> impl Strategy<Value = (String, Vec<u8>)> {
    let ops: Vec<(&'static str, Value)> = requests();
    let op = proptest::sample::select(ops);
    prop_oneof![
        9 => op.prop_flat_map(|(name, valid)| (Just(name.to_owned()), propkit::json_body(valid, MEMBERS))),
        1 => (".{0,20}", propkit::bytes(64)),
    ]
}

/// Terms and the text of the pattern they make.
#[derive(Debug, Clone)]
struct Terms {
    required: Vec<String>,
    excluded: Vec<String>,
    any: Vec<String>,
    text: String,
}

fn term_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9]{1,4}",
        "[a-z \"\\\\{}\\[%?-]{1,5}".prop_filter("not only whitespace", |s| !s.trim().is_empty()),
        ".{1,4}".prop_filter("not only whitespace", |s| !s.trim().is_empty()),
    ]
}

/// One term written so that it parses back: quoted when it has whitespace, quotes, backslashes
/// or a leading character with a meaning.
fn written(text: &str) -> String {
    let plain = !text.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\')
        && !text.starts_with(['-', '?', '{', '[', '%']);
    if plain {
        return text.to_owned();
    }
    let mut out = String::from("\"");
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn terms() -> impl Strategy<Value = Terms> {
    proptest::collection::vec((0u8..3, term_text()), 0..5).prop_map(|ts| {
        let mut t = Terms { required: vec![], excluded: vec![], any: vec![], text: String::new() };
        for (kind, text) in ts {
            let (list, prefix) = match kind {
                0 => (&mut t.required, ""),
                1 => (&mut t.excluded, "-"),
                _ => (&mut t.any, "?"),
            };
            if !t.text.is_empty() {
                t.text.push(' ');
            }
            t.text.push_str(prefix);
            t.text.push_str(&written(&text));
            list.push(text);
        }
        t
    })
}

proptest! {
    #![proptest_config(propkit::config(CASES))]

    /// Any pattern text parses or is refused; a parsed pattern evaluates any message.
    #[test]
    fn patterns_never_panic(
        text in prop_oneof![any::<String>(), propkit::mutated_text("ERROR -\"debug mode\" ?warn ?\"a \\\"b\\\"\"")],
        message in any::<String>(),
    ) {
        match FilterPattern::parse(&text) {
            Ok(p) => {
                let _ = p.matches(&message);
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    /// Patterns written from terms parse back, and match exactly as the terms say: every
    /// required term, none of the excluded ones, one of the optional ones if there are any.
    #[test]
    fn patterns_match_as_their_terms_say(t in terms(), pieces in proptest::collection::vec(".{0,3}", 0..4), pick in any::<proptest::sample::Index>()) {
        let p = FilterPattern::parse(&t.text).unwrap();
        let all: Vec<&String> = t.required.iter().chain(&t.excluded).chain(&t.any).collect();
        // Messages made of some of the terms, so that they match now and then.
        let mut message = pieces.concat();
        if !all.is_empty() {
            message.push_str(all[pick.index(all.len())]);
        }
        message.push_str(&t.required.concat());
        let expected = t.required.iter().all(|r| message.contains(r.as_str()))
            && !t.excluded.iter().any(|x| message.contains(x.as_str()))
            && (t.any.is_empty() || t.any.iter().any(|a| message.contains(a.as_str())));
        prop_assert_eq!(p.matches(&message), expected, "{:?} on {:?}", t.text, message);
    }
}

/// Every operation, any body: a 200 with a JSON object, or a 400 JSON 1.1 error naming its type;
/// never a panic, never a server error. One store for all cases (opening one per case is what
/// would cost the time).
#[test]
fn request_bodies_get_json_answers() {
    let rt = runtime();
    let (_dir, logs) = store(&rt);
    let mut runner = proptest::test_runner::TestRunner::new(propkit::config(CASES * 4));
    runner
        .run(&request(), |(op, body)| {
            let r = rt.block_on(logs.handle(ACCOUNT, REGION, &format!("Logs_20140328.{op}"), &body));
            let value: Value = serde_json::from_slice(&r.body).unwrap();
            prop_assert!(value.is_object(), "{} {}", op, value);
            if r.status == 200 {
                prop_assert_eq!(r.error_type, None);
            } else {
                prop_assert_eq!(r.status, 400, "{} {:?} -> {}", op, String::from_utf8_lossy(&body), value);
                let code = value["__type"].as_str().unwrap_or_default();
                prop_assert_eq!(Some(code), r.error_type.as_deref());
                prop_assert!(value["message"].is_string());
            }
            Ok(())
        })
        .unwrap();
}
