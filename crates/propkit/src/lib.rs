//! Test-only: what the property tests on Versa's parsers of untrusted input share.
//!
//! - [`config`]: a fixed seed, a bounded number of cases, no regression files written into the
//!   tree, bounded shrinking, so every run feeds the same inputs and takes the same time.
//! - Mutators of valid input: [`mutated`] (bytes: bit flips, overwrites, inserted tokens,
//!   deletions, truncation, spliced copies of the input's own pieces), [`mutated_json`]
//!   (documents: members dropped, added, or replaced by values of another type), and
//!   [`json_value`] (arbitrary documents).
//! - [`splits`]: arbitrary framing of one body (cut points), for the incremental parsers whose
//!   answer must not depend on how the body arrived.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};
use serde_json::Value;

pub use proptest;

/// The seed of every property test: the same inputs on every run.
pub const SEED: u64 = 0x7e57_5eed;
/// Most mutations applied to one valid input.
pub const MUTATIONS_MAX: usize = 6;
/// Most shrinking steps after a failure (a failure is reported, shrunk or not, within seconds).
const SHRINK_ITERS_MAX: u32 = 2_000;
/// Longest run of bytes one mutation inserts.
const INSERT_BYTES_MAX: usize = 16;
/// Most cut points of one framing.
pub const SPLITS_MAX: usize = 12;
/// Depth and size of the arbitrary JSON documents.
const JSON_DEPTH_MAX: u32 = 4;
const JSON_NODES_MAX: u32 = 48;
const JSON_BRANCH_MAX: u32 = 6;

/// The configuration of a property test running `cases` inputs.
pub fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(SEED),
        max_shrink_iters: SHRINK_ITERS_MAX,
        ..Config::default()
    }
}

/// Bytes that often change a parser's mind when inserted: separators, quotes, line ends, path
/// climbing, NUL, non-UTF-8, big numbers.
pub const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\0",
    b"\xff",
    b"\xc3",
    b"..",
    b"../",
    b"/",
    b"\\",
    b":",
    b";",
    b"=",
    b"&",
    b"%",
    b"%zz",
    b"%00",
    b"\"",
    b"'",
    b"<",
    b">",
    b"</",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b"-",
    b"--",
    b"*",
    b"?",
    b"$",
    b" ",
    b"\t",
    b"0",
    b"-1",
    b"18446744073709551616",
    b"99999999999999999999999",
    b"1e999",
    b"ffffffffffffffff",
];

/// One change to a byte string; positions are [`Index`]es so they fit any length.
#[derive(Debug, Clone)]
pub enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    Insert(Index, Vec<u8>),
    InsertToken(Index, Index),
    Delete(Index, usize),
    Truncate(Index),
    /// Copies `len` bytes from the first position to the second (repeated headers, spliced
    /// records).
    Splice(Index, usize, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        (any::<Index>(), proptest::collection::vec(any::<u8>(), 1..=INSERT_BYTES_MAX))
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Mutation::InsertToken(i, t)),
        (any::<Index>(), 1usize..=64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), 1usize..=256, any::<Index>()).prop_map(|(a, n, b)| Mutation::Splice(a, n, b)),
    ]
}

/// Applies `m` to `data`.
pub fn apply(data: &mut Vec<u8>, m: &Mutation) {
    let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len) };
    match m {
        Mutation::FlipBit(i, bit) if !data.is_empty() => {
            let p = at(i, data.len());
            data[p] ^= 1 << bit;
        }
        Mutation::SetByte(i, b) if !data.is_empty() => {
            let p = at(i, data.len());
            data[p] = *b;
        }
        Mutation::Insert(i, bytes) => {
            let p = at(i, data.len() + 1);
            data.splice(p..p, bytes.iter().copied());
        }
        Mutation::InsertToken(i, t) => {
            let p = at(i, data.len() + 1);
            data.splice(p..p, TOKENS[t.index(TOKENS.len())].iter().copied());
        }
        Mutation::Delete(i, n) if !data.is_empty() => {
            let p = at(i, data.len());
            let end = (p + n).min(data.len());
            data.drain(p..end);
        }
        Mutation::Truncate(i) => {
            let p = at(i, data.len() + 1);
            data.truncate(p);
        }
        Mutation::Splice(from, n, to) if !data.is_empty() => {
            let a = at(from, data.len());
            let piece: Vec<u8> = data[a..(a + n).min(data.len())].to_vec();
            let b = at(to, data.len() + 1);
            data.splice(b..b, piece);
        }
        _ => {}
    }
}

/// `valid` with 1 to [`MUTATIONS_MAX`] mutations applied.
pub fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(mutation(), 1..=MUTATIONS_MAX).prop_map(move |ms| {
        let mut data = valid.clone();
        for m in &ms {
            apply(&mut data, m);
        }
        data
    })
}

/// One of `valid`, mutated.
pub fn mutated_one_of(valid: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    proptest::sample::select(valid).prop_flat_map(mutated)
}

/// `valid` mutated, as text (invalid UTF-8 replaced): for parsers that take a `&str`.
pub fn mutated_text(valid: &str) -> impl Strategy<Value = String> {
    mutated(valid.as_bytes().to_vec()).prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Arbitrary bytes, up to `len_max`.
pub fn bytes(len_max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..=len_max)
}

/// Up to [`SPLITS_MAX`] cut points in a body of `len` bytes, sorted (repeats allowed: an empty
/// frame).
pub fn splits(len: usize) -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0..=len, 0..=SPLITS_MAX).prop_map(|mut v| {
        v.sort_unstable();
        v
    })
}

/// `data` cut at `points` (sorted, each ≤ `data.len()`).
pub fn frames<'a>(data: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(points.len() + 1);
    let mut from = 0;
    for &p in points {
        let p = p.clamp(from, data.len());
        out.push(&data[from..p]);
        from = p;
    }
    out.push(&data[from..]);
    out
}

/// Scalar JSON values that tend to break conversions: wrong types, extremes, odd strings.
pub fn json_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![Just(0.5f64), Just(-0.0), Just(1e300), Just(-1e300), Just(f64::MIN_POSITIVE), any::<f64>()]
            .prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        prop_oneof![
            Just(String::new()),
            Just("$LATEST".to_owned()),
            Just("arn:aws:lambda:us-east-1:123456789012:function:f".to_owned()),
            Just("../../etc/passwd".to_owned()),
            Just("a".repeat(5000)),
            ".{0,24}",
        ]
        .prop_map(Value::String),
    ]
}

/// An arbitrary JSON document (bounded depth and size).
pub fn json_value() -> impl Strategy<Value = Value> {
    json_scalar().prop_recursive(JSON_DEPTH_MAX, JSON_NODES_MAX, JSON_BRANCH_MAX, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..JSON_BRANCH_MAX as usize).prop_map(Value::Array),
            proptest::collection::vec(("[A-Za-z]{1,12}", inner), 0..JSON_BRANCH_MAX as usize)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// One change to a JSON document, at a member chosen by index among all of them.
#[derive(Debug, Clone)]
pub enum JsonMutation {
    /// Replace the value at a node by another (often of another type).
    Replace(Index, Value),
    /// Remove an object member or array element.
    Remove(Index),
    /// Add a member (known or not) to an object.
    Add(Index, String, Value),
}

fn json_mutation(names: Vec<String>) -> impl Strategy<Value = JsonMutation> {
    let name = prop_oneof![proptest::sample::select(names), "[A-Za-z]{1,10}"];
    prop_oneof![
        (any::<Index>(), json_value()).prop_map(|(i, v)| JsonMutation::Replace(i, v)),
        any::<Index>().prop_map(JsonMutation::Remove),
        (any::<Index>(), name, json_value()).prop_map(|(i, n, v)| JsonMutation::Add(i, n, v)),
    ]
}

/// Every node of `v` in pre-order, as paths (object keys or array positions).
fn paths(v: &Value, path: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    out.push(path.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                path.push(PathStep::Key(k.clone()));
                paths(c, path, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                path.push(PathStep::At(i));
                paths(c, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum PathStep {
    Key(String),
    At(usize),
}

fn node<'a>(v: &'a mut Value, path: &[PathStep]) -> Option<&'a mut Value> {
    let mut cur = v;
    for step in path {
        cur = match (step, cur) {
            (PathStep::Key(k), Value::Object(m)) => m.get_mut(k)?,
            (PathStep::At(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Applies `m` to `doc`.
pub fn apply_json(doc: &mut Value, m: &JsonMutation) {
    let mut all = Vec::new();
    paths(doc, &mut Vec::new(), &mut all);
    match m {
        JsonMutation::Replace(i, v) => {
            if let Some(n) = node(doc, &all[i.index(all.len())]) {
                *n = v.clone();
            }
        }
        JsonMutation::Remove(i) => {
            let path = &all[i.index(all.len())];
            let Some((last, parent)) = path.split_last() else { return };
            match (node(doc, parent), last) {
                (Some(Value::Object(m)), PathStep::Key(k)) => {
                    m.remove(k);
                }
                (Some(Value::Array(a)), PathStep::At(i)) if *i < a.len() => {
                    a.remove(*i);
                }
                _ => {}
            }
        }
        JsonMutation::Add(i, name, v) => {
            if let Some(Value::Object(m)) = node(doc, &all[i.index(all.len())]) {
                m.insert(name.clone(), v.clone());
            }
        }
    }
}

/// `valid` with 1 to [`MUTATIONS_MAX`] structural changes: members dropped, added (`names` are
/// the members the request knows, so added members are often real ones), or replaced by values
/// of any type.
pub fn mutated_json(valid: Value, names: &[&str]) -> impl Strategy<Value = Value> {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let names = if names.is_empty() { vec!["Name".to_owned()] } else { names };
    proptest::collection::vec(json_mutation(names), 1..=MUTATIONS_MAX).prop_map(move |ms| {
        let mut doc = valid.clone();
        for m in &ms {
            apply_json(&mut doc, m);
        }
        doc
    })
}

/// A request body: a mutated valid document, an arbitrary document, its text mutated as bytes,
/// or arbitrary bytes.
pub fn json_body(valid: Value, names: &[&str]) -> impl Strategy<Value = Vec<u8>> {
    let text = serde_json::to_vec(&valid).expect("a document serializes");
    prop_oneof![
        4 => mutated_json(valid, names).prop_map(|v| serde_json::to_vec(&v).expect("a document serializes")),
        2 => json_value().prop_map(|v| serde_json::to_vec(&v).expect("a document serializes")),
        2 => mutated(text),
        1 => bytes(256),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cover_the_body_in_order() {
        let data = b"0123456789";
        let f = frames(data, &[0, 3, 3, 7, 10]);
        assert_eq!(f.concat(), data);
        assert_eq!(f.len(), 6);
    }

    #[test]
    fn mutations_stay_in_bounds() {
        let mut runner = proptest::test_runner::TestRunner::new(config(256));
        runner
            .run(&(mutated(b"hello".to_vec()), mutated(Vec::new())), |(a, b)| {
                prop_assert!(a.len() <= 5 + MUTATIONS_MAX * 256);
                prop_assert!(b.len() <= MUTATIONS_MAX * 256);
                Ok(())
            })
            .unwrap();
        runner.run(&mutated_json(serde_json::json!({"A": [1, {"B": 2}]}), &["A"]), |_| Ok(())).unwrap();
    }
}
