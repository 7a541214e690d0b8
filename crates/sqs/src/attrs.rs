//! Queue attributes (names, ranges, defaults, the redrive policy) and message attributes
//! (validation, size, MD5 as the SDKs check it).

use std::collections::BTreeMap;

use base64::Engine;
use md5::{Digest, Md5};
use serde_json::{Map, Value, json};

use crate::Error;

/// `(name, min, max, default)` of the numeric attributes a queue is created with.
pub(crate) const NUMERIC: &[(&str, i64, i64, i64)] = &[
    ("DelaySeconds", 0, 900, 0),
    ("MaximumMessageSize", 1024, 1_048_576, 1_048_576),
    ("MessageRetentionPeriod", 60, 1_209_600, 345_600),
    ("ReceiveMessageWaitTimeSeconds", 0, 20, 0),
    ("VisibilityTimeout", 0, 43_200, 30),
];
/// KMS data key reuse (accepted, not used: no KMS).
const KMS_REUSE: (i64, i64) = (60, 86_400);
/// Attributes GetQueueAttributes computes.
pub(crate) const COMPUTED: &[&str] = &[
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
];
/// Attributes that can be set (FifoQueue only at creation).
const SETTABLE: &[&str] = &[
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "Policy",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];
/// Most receives `maxReceiveCount` allows (AWS: 1000).
pub(crate) const MAX_RECEIVE_COUNT_MAX: i64 = 1_000;
/// Message attributes per message (AWS: 10).
pub(crate) const MESSAGE_ATTRIBUTES_MAX: usize = 10;
/// Longest message attribute name and data type (AWS: 256).
const ATTRIBUTE_NAME_LEN_MAX: usize = 256;

/// Whether `name` is an attribute GetQueueAttributes knows.
pub(crate) fn known(name: &str) -> bool {
    name == "All" || COMPUTED.contains(&name) || SETTABLE.contains(&name)
}

/// The request's `Attributes` map as strings.
pub(crate) fn input_map(v: &Value) -> Result<BTreeMap<String, String>, Error> {
    let mut out = BTreeMap::new();
    let Some(m) = v.as_object() else { return Ok(out) };
    for (k, val) in m {
        let s = match val {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(Error::attribute_value(format!("Invalid value for the parameter {k}."))),
        };
        out.insert(k.clone(), s);
    }
    Ok(out)
}

/// A queue's redrive policy.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Redrive {
    pub(crate) dlq_arn: String,
    pub(crate) max_receive_count: u32,
}

pub(crate) fn redrive(attrs: &BTreeMap<String, String>) -> Option<Redrive> {
    let v: Value = serde_json::from_str(attrs.get("RedrivePolicy")?).ok()?;
    Some(Redrive {
        dlq_arn: v["deadLetterTargetArn"].as_str()?.to_owned(),
        max_receive_count: v["maxReceiveCount"].as_u64()? as u32,
    })
}

/// `arn:aws:sqs:<region>:<account>:<name>` → (region, account, name).
pub(crate) fn parse_arn(arn: &str) -> Option<(&str, &str, &str)> {
    let rest = arn.strip_prefix("arn:aws:sqs:")?;
    let mut parts = rest.splitn(3, ':');
    let region = parts.next()?;
    let account = parts.next()?;
    let name = parts.next()?;
    (!region.is_empty() && account.len() == 12 && !name.is_empty()).then_some((region, account, name))
}

/// What the caller asks to set, validated (without the dead-letter queue's existence, which
/// the caller checks); `creating` allows FifoQueue. Returns the normalised values (an empty
/// RedrivePolicy removes it).
pub(crate) fn validate(
    given: &BTreeMap<String, String>,
    fifo: bool,
    creating: bool,
) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    for (name, value) in given {
        if !SETTABLE.contains(&name.as_str()) || (!creating && name == "FifoQueue") {
            return Err(Error::attribute_name(format!("Unknown Attribute {name}.")));
        }
        let bad = || Error::attribute_value(format!("Invalid value for the parameter {name}."));
        if let Some((_, min, max, _)) = NUMERIC.iter().find(|(n, ..)| n == name) {
            let n: i64 = value.trim().parse().map_err(|_| bad())?;
            if n < *min || n > *max {
                return Err(bad());
            }
            out.push((name.clone(), n.to_string()));
            continue;
        }
        match name.as_str() {
            "FifoQueue" => {
                let b = boolean(value).ok_or_else(bad)?;
                if b != fifo && b {
                    return Err(Error::invalid_parameter(
                        "The name of a FIFO queue can only include alphanumeric characters, hyphens, or \
                         underscores, must end with .fifo suffix and be 1 to 80 in length.",
                    ));
                }
                if fifo && !b {
                    return Err(bad());
                }
                if b {
                    out.push((name.clone(), "true".to_owned()));
                }
            }
            "ContentBasedDeduplication" | "DeduplicationScope" | "FifoThroughputLimit" if !fifo => {
                return Err(Error::attribute_name(format!(
                    "You can specify the {name} only when FifoQueue is set to true."
                )));
            }
            "ContentBasedDeduplication" | "SqsManagedSseEnabled" => {
                out.push((name.clone(), boolean(value).ok_or_else(bad)?.to_string()));
            }
            "DeduplicationScope" => {
                if !matches!(value.as_str(), "messageGroup" | "queue") {
                    return Err(bad());
                }
                out.push((name.clone(), value.clone()));
            }
            "FifoThroughputLimit" => {
                if !matches!(value.as_str(), "perQueue" | "perMessageGroupId") {
                    return Err(bad());
                }
                out.push((name.clone(), value.clone()));
            }
            "KmsDataKeyReusePeriodSeconds" => {
                let n: i64 = value.trim().parse().map_err(|_| bad())?;
                if n < KMS_REUSE.0 || n > KMS_REUSE.1 {
                    return Err(bad());
                }
                out.push((name.clone(), n.to_string()));
            }
            "RedrivePolicy" => out.push((name.clone(), redrive_policy(value)?)),
            "Policy" | "RedriveAllowPolicy" => {
                if !value.is_empty() && serde_json::from_str::<Map<String, Value>>(value).is_err() {
                    return Err(bad());
                }
                out.push((name.clone(), value.clone()));
            }
            _ => out.push((name.clone(), value.clone())),
        }
    }
    Ok(out)
}

fn boolean(v: &str) -> Option<bool> {
    if v.eq_ignore_ascii_case("true") {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// The redrive policy normalised to AWS's rendering, or "" to remove it.
fn redrive_policy(value: &str) -> Result<String, Error> {
    if value.is_empty() {
        return Ok(String::new());
    }
    let bad = |reason: &str| Error::parameter_value(value, "RedrivePolicy", reason);
    let v: Map<String, Value> =
        serde_json::from_str(value).map_err(|_| bad("Redrive policy is not a valid JSON map."))?;
    let Some(arn) = v.get("deadLetterTargetArn").and_then(Value::as_str) else {
        return Err(bad("Redrive policy does not contain mandatory attribute: deadLetterTargetArn."));
    };
    let Some(count) = v.get("maxReceiveCount") else {
        return Err(bad("Redrive policy does not contain mandatory attribute: maxReceiveCount."));
    };
    let count = match count {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse::<i64>().ok(),
        _ => None,
    };
    let count = count.filter(|c| (1..=MAX_RECEIVE_COUNT_MAX).contains(c)).ok_or_else(|| {
        bad(&format!(
            "Invalid value for maxReceiveCount: {}, valid values are from 1 to {MAX_RECEIVE_COUNT_MAX} both inclusive.",
            v["maxReceiveCount"]
        ))
    })?;
    if parse_arn(arn).is_none() {
        return Err(bad("Invalid value for deadLetterTargetArn."));
    }
    Ok(json!({"deadLetterTargetArn": arn, "maxReceiveCount": count}).to_string())
}

/// Applies validated values (an empty one removes the attribute), then the rules between
/// attributes: one server-side encryption at a time (a KMS key turns SSE-SQS off unless this
/// very call also asks for it, which is refused as recorded), and `perMessageGroupId`
/// throughput only with `messageGroup` deduplication (the model's rule; the text is [U]).
pub(crate) fn apply(attrs: &mut BTreeMap<String, String>, set: Vec<(String, String)>) -> Result<(), Error> {
    let asked = |name: &str| set.iter().any(|(k, _)| k == name);
    let (sse_asked, throughput_asked) =
        (asked("SqsManagedSseEnabled"), asked("FifoThroughputLimit") || asked("DeduplicationScope"));
    for (k, v) in set {
        if v.is_empty() {
            attrs.remove(&k);
        } else {
            attrs.insert(k, v);
        }
    }
    let kms = attrs.get("KmsMasterKeyId").is_some_and(|k| !k.is_empty());
    if kms && attrs.get("SqsManagedSseEnabled").is_some_and(|v| v == "true") {
        if sse_asked {
            return Err(Error::attribute_name(
                "You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or SQS SSE.",
            ));
        }
        attrs.insert("SqsManagedSseEnabled".to_owned(), "false".to_owned());
    }
    if throughput_asked
        && attrs.get("FifoThroughputLimit").is_some_and(|v| v == "perMessageGroupId")
        && attrs.get("DeduplicationScope").is_none_or(|v| v != "messageGroup")
    {
        return Err(Error::attribute_value(
            "Invalid value for the parameter FifoThroughputLimit. Reason: perMessageGroupId is allowed only when \
             DeduplicationScope is messageGroup.",
        ));
    }
    Ok(())
}

/// The attributes a new queue starts with.
pub(crate) fn defaults(fifo: bool) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = NUMERIC.iter().map(|(n, .., d)| ((*n).to_owned(), d.to_string())).collect();
    m.insert("SqsManagedSseEnabled".to_owned(), "true".to_owned());
    if fifo {
        m.insert("FifoQueue".to_owned(), "true".to_owned());
        m.insert("ContentBasedDeduplication".to_owned(), "false".to_owned());
        m.insert("DeduplicationScope".to_owned(), "queue".to_owned());
        m.insert("FifoThroughputLimit".to_owned(), "perQueue".to_owned());
    }
    m
}

pub(crate) fn number(attrs: &BTreeMap<String, String>, name: &str) -> i64 {
    attrs
        .get(name)
        .and_then(|v| v.parse().ok())
        .or_else(|| NUMERIC.iter().find(|(n, ..)| *n == name).map(|(.., d)| *d))
        .unwrap_or(0)
}

/// One message attribute, validated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Attr {
    pub(crate) data_type: String,
    pub(crate) string: Option<String>,
    pub(crate) binary: Option<Vec<u8>>,
}

/// Reads and validates `MessageAttributes` (`system`: MessageSystemAttributes, where only
/// AWSTraceHeader exists).
pub(crate) fn message_attributes(v: &Value, system: bool) -> Result<BTreeMap<String, Attr>, Error> {
    let mut out = BTreeMap::new();
    let Some(m) = v.as_object() else { return Ok(out) };
    if !system && m.len() > MESSAGE_ATTRIBUTES_MAX {
        return Err(Error::invalid_parameter(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MESSAGE_ATTRIBUTES_MAX}].",
            m.len()
        )));
    }
    for (name, a) in m {
        if system {
            if name != "AWSTraceHeader" {
                return Err(Error::invalid_parameter(format!("Message system attribute name '{name}' is invalid.")));
            }
        } else {
            check_name(name)?;
        }
        let data_type = a["DataType"].as_str().unwrap_or("");
        let kind = data_type.split('.').next().unwrap_or("");
        if data_type.is_empty() {
            return Err(Error::invalid_parameter(format!(
                "The message attribute '{name}' must contain non-empty message attribute type."
            )));
        }
        if !matches!(kind, "String" | "Number" | "Binary") || data_type.len() > ATTRIBUTE_NAME_LEN_MAX {
            return Err(Error::invalid_parameter(format!(
                "The type of message (user) attribute '{name}' is invalid. You must use only the following \
                 supported type prefixes: Binary, Number, String."
            )));
        }
        let attr = if kind == "Binary" {
            let b = a["BinaryValue"]
                .as_str()
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                .filter(|b| !b.is_empty())
                .ok_or_else(|| {
                    Error::invalid_parameter(format!(
                        "The message attribute '{name}' with type 'Binary' must use field 'Binary'."
                    ))
                })?;
            Attr { data_type: data_type.to_owned(), string: None, binary: Some(b) }
        } else {
            let s = a["StringValue"].as_str().ok_or_else(|| {
                Error::invalid_parameter(format!(
                    "The message attribute '{name}' with type '{kind}' must use field 'String'."
                ))
            })?;
            if s.is_empty() {
                return Err(Error::invalid_parameter(format!(
                    "Message (user) attribute '{name}' must contain a non-empty value of type '{kind}'."
                )));
            }
            if kind == "Number" && !is_number(s.trim()) {
                return Err(Error::invalid_parameter(format!(
                    "Can't cast the value of message (user) attribute '{name}' to a number."
                )));
            }
            if let Some(c) = s.chars().find(|c| !valid_char(*c)) {
                return Err(Error::invalid_parameter(format!(
                    "Message (user) attribute '{name}' contains an invalid character (U+{:04X}).",
                    c as u32
                )));
            }
            Attr { data_type: data_type.to_owned(), string: Some(s.to_owned()), binary: None }
        };
        out.insert(name.clone(), attr);
    }
    Ok(out)
}

fn check_name(name: &str) -> Result<(), Error> {
    let lower = name.to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= ATTRIBUTE_NAME_LEN_MAX
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.");
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_parameter(format!(
            "Message (user) attribute name '{name}' is invalid. The attribute name can contain only \
             alphanumeric characters, hyphens (-), underscores (_), and periods (.). The name must not start or \
             end with a period, and it should not have successive periods. The name is case-sensitive and \
             must be unique among all attribute names for the message. The name can be up to 256 characters \
             long. The name can't start with \"AWS.\" or \"Amazon.\" (or any casing variations), because \
             these prefixes are reserved for use by Amazon Web Services."
        )))
    }
}

/// SQS's Number: decimal digits with an optional sign, point and exponent (no `NaN` or
/// `inf`), at most [`NUMBER_DIGITS_MAX`] significant digits, and zero or between 10^-128 and
/// 10^+126 in magnitude.
fn is_number(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(at) => (&s[..at], Some(&s[at + 1..])),
        None => (s, None),
    };
    let exponent: i64 = match exponent {
        None => 0,
        Some(e) => {
            let digits = e.strip_prefix(['-', '+']).unwrap_or(e);
            if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            e.parse().unwrap_or(i64::MAX)
        }
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return false;
    }
    let digits = format!("{int}{frac}");
    let Some(first) = digits.find(|c| c != '0') else { return true };
    let significant = digits[first..].trim_end_matches('0');
    // The power of ten of the first significant digit.
    let magnitude = exponent + int.len() as i64 - first as i64 - 1;
    significant.len() <= NUMBER_DIGITS_MAX && (-128..=126).contains(&magnitude)
}

/// Most significant digits of a Number attribute.
const NUMBER_DIGITS_MAX: usize = 38;

/// The characters a message may contain.
pub(crate) fn valid_char(c: char) -> bool {
    matches!(c as u32, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// Bytes the attributes add to a message's size.
pub(crate) fn size(attrs: &BTreeMap<String, Attr>) -> usize {
    attrs
        .iter()
        .map(|(n, a)| {
            n.len()
                + a.data_type.len()
                + a.string.as_ref().map_or(0, String::len)
                + a.binary.as_ref().map_or(0, Vec::len)
        })
        .sum()
}

/// The MD5 the SDKs verify (reference §3.1): per name in order, length-prefixed name, type,
/// and a transport byte with the length-prefixed value. `None` without attributes.
pub(crate) fn md5_of(attrs: &BTreeMap<String, Attr>) -> Option<String> {
    if attrs.is_empty() {
        return None;
    }
    let mut buf = Vec::new();
    let put = |b: &[u8], buf: &mut Vec<u8>| {
        buf.extend_from_slice(&(b.len() as u32).to_be_bytes());
        buf.extend_from_slice(b);
    };
    for (name, a) in attrs {
        put(name.as_bytes(), &mut buf);
        put(a.data_type.as_bytes(), &mut buf);
        if let Some(b) = &a.binary {
            buf.push(2);
            put(b, &mut buf);
        } else {
            buf.push(1);
            put(a.string.as_deref().unwrap_or("").as_bytes(), &mut buf);
        }
    }
    Some(md5_hex(&buf))
}

pub(crate) fn md5_hex(b: &[u8]) -> String {
    stdx::hex::encode(&Md5::digest(b))
}

/// The attributes as the wire shows them.
pub(crate) fn to_wire(attrs: &BTreeMap<String, Attr>) -> Value {
    let mut m = Map::new();
    for (name, a) in attrs {
        let mut v = Map::new();
        v.insert("DataType".to_owned(), json!(a.data_type));
        if let Some(s) = &a.string {
            v.insert("StringValue".to_owned(), json!(s));
        }
        if let Some(b) = &a.binary {
            v.insert("BinaryValue".to_owned(), json!(base64::engine::general_purpose::STANDARD.encode(b)));
        }
        m.insert(name.clone(), Value::Object(v));
    }
    Value::Object(m)
}

/// Reads back what [`to_wire`] wrote (stored documents are trusted).
pub(crate) fn from_wire(v: &Value) -> BTreeMap<String, Attr> {
    let mut out = BTreeMap::new();
    if let Some(m) = v.as_object() {
        for (name, a) in m {
            out.insert(
                name.clone(),
                Attr {
                    data_type: a["DataType"].as_str().unwrap_or("String").to_owned(),
                    string: a["StringValue"].as_str().map(str::to_owned),
                    binary: a["BinaryValue"]
                        .as_str()
                        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok()),
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_decimal_and_bounded() {
        for ok in [
            "0",
            "-0.0",
            "1",
            "+12.5",
            "1e126",
            "9.9E-128",
            "1e-128",
            "123456789012345678901234567890123456780000",
            ".5",
            "5.",
        ] {
            assert!(is_number(ok), "{ok}");
        }
        for bad in [
            "NaN",
            "inf",
            "-Infinity",
            "1e400",
            "1e127",
            "1e-129",
            "0x10",
            "",
            ".",
            "1e",
            "1.2.3",
            "12345678901234567890123456789012345678901",
        ] {
            assert!(!is_number(bad), "{bad}");
        }
    }

    fn s(t: &str, v: &str) -> Attr {
        Attr { data_type: t.to_owned(), string: Some(v.to_owned()), binary: None }
    }

    #[test]
    fn md5_matches_the_recorded_vectors() {
        let a: BTreeMap<String, Attr> = [
            ("Author".to_owned(), s("String", "John Grisham")),
            ("Title".to_owned(), s("String", "The Whistler")),
            ("WeeksOn".to_owned(), s("Number", "6")),
        ]
        .into();
        assert_eq!(md5_of(&a).unwrap(), "d25a6aea97eb8f585bfa92d314504a92");
        let b: BTreeMap<String, Attr> = [
            ("General".to_owned(), s("String", "Kenobi")),
            ("Hello".to_owned(), s("String", "There")),
            ("Help.Me".to_owned(), s("String", "Me")),
        ]
        .into();
        assert_eq!(md5_of(&b).unwrap(), "4c360f3fdafd970e05fae2f149d997f5");
        assert_eq!(md5_hex(b"msg"), "6e2baaf3b97dbeef01c0043275f9a0e7");
    }
}
