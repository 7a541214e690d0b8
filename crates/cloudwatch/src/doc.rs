//! The protocol-neutral document every request is decoded into and every response encoded
//! from, the error an operation answers, and typed reads of request members.

use std::fmt::Write as _;

/// A request or response document. Members are kept in order (responses are written in the
/// order operations build them).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A timestamp, epoch milliseconds.
    Time(i64),
    List(Vec<Value>),
    /// A structure.
    Map(Vec<(String, Value)>),
    /// A map shape (string keys): like a structure in JSON and CBOR, `entry/key/value` in XML.
    Dict(Vec<(String, Value)>),
}

impl Value {
    /// A structure from `(name, value)` pairs; `Null` members are left out.
    pub fn map<const N: usize>(members: [(&str, Value); N]) -> Value {
        Value::Map(members.into_iter().filter(|(_, v)| *v != Value::Null).map(|(k, v)| (k.to_owned(), v)).collect())
    }

    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    pub fn opt_str(s: Option<impl Into<String>>) -> Value {
        s.map_or(Value::Null, |s| Value::Str(s.into()))
    }

    /// The member `name` of a structure.
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Map(m) | Value::Dict(m) => m.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// An error in CloudWatch's query vocabulary (its `x-amzn-query-error` code); each protocol
/// renders it in its own shape (see `wire.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub code: &'static str,
    pub message: Option<String>,
}

impl Error {
    pub fn new(code: &'static str, message: impl Into<String>) -> Error {
        Error { code, message: Some(message.into()) }
    }

    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new("InvalidParameterValue", message)
    }

    pub fn combination(message: impl Into<String>) -> Error {
        Error::new("InvalidParameterCombination", message)
    }

    pub fn missing(name: &str) -> Error {
        Error::new("MissingParameter", format!("The parameter {name} is required."))
    }

    pub fn internal() -> Error {
        Error::new("InternalServiceError", "An internal error occurred; please retry.")
    }
}

/// A structure of a request, with its path for messages (`MetricData.member.1`), in the
/// query protocol's spelling AWS uses in its messages whatever the protocol.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub value: &'a Value,
    pub path: String,
}

impl<'a> Input<'a> {
    pub fn root(value: &'a Value) -> Input<'a> {
        Input { value, path: String::new() }
    }

    /// The query-style name of a member: `MetricData.member.1.Value`.
    pub fn name(&self, member: &str) -> String {
        if self.path.is_empty() { member.to_owned() } else { format!("{}.{member}", self.path) }
    }

    fn raw(&self, member: &str) -> Option<&'a Value> {
        match self.value.get(member) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    pub fn has(&self, member: &str) -> bool {
        self.raw(member).is_some()
    }

    fn wrong(&self, member: &str, what: &str) -> Error {
        Error::invalid(format!("The value for parameter {} is not a valid {what}.", self.name(member)))
    }

    pub fn str(&self, member: &str) -> Result<Option<&'a str>, Error> {
        match self.raw(member) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s)),
            Some(_) => Err(self.wrong(member, "string")),
        }
    }

    /// [`Input::str`], owned.
    pub fn string(&self, member: &str) -> Result<Option<String>, Error> {
        Ok(self.str(member)?.map(str::to_owned))
    }

    pub fn required_str(&self, member: &str) -> Result<&'a str, Error> {
        self.str(member)?.ok_or_else(|| Error::missing(&self.name(member)))
    }

    pub fn f64(&self, member: &str) -> Result<Option<f64>, Error> {
        match self.raw(member) {
            None => Ok(None),
            Some(Value::Float(f)) => Ok(Some(*f)),
            Some(Value::Int(i)) => Ok(Some(*i as f64)),
            Some(Value::Str(s)) => parse_f64(s).map(Some).ok_or_else(|| self.wrong(member, "number")),
            Some(_) => Err(self.wrong(member, "number")),
        }
    }

    pub fn i64(&self, member: &str) -> Result<Option<i64>, Error> {
        match self.raw(member) {
            None => Ok(None),
            Some(Value::Int(i)) => Ok(Some(*i)),
            Some(Value::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(*f as i64)),
            Some(Value::Str(s)) => s.trim().parse().map(Some).map_err(|_| self.wrong(member, "integer")),
            Some(_) => Err(self.wrong(member, "integer")),
        }
    }

    pub fn bool(&self, member: &str) -> Result<Option<bool>, Error> {
        match self.raw(member) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::Str(s)) if s == "true" => Ok(Some(true)),
            Some(Value::Str(s)) if s == "false" => Ok(Some(false)),
            Some(_) => Err(self.wrong(member, "boolean")),
        }
    }

    /// A timestamp, epoch milliseconds: epoch seconds (JSON), CBOR tag 1, or ISO 8601 (query).
    pub fn time_ms(&self, member: &str) -> Result<Option<i64>, Error> {
        let ms = |secs: f64| -> Option<i64> {
            (secs.is_finite() && secs.abs() < 1.0e13).then(|| (secs * 1000.0).round() as i64)
        };
        match self.raw(member) {
            None => Ok(None),
            Some(Value::Time(t)) => Ok(Some(*t)),
            Some(Value::Int(i)) => ms(*i as f64).map(Some).ok_or_else(|| self.wrong(member, "timestamp")),
            Some(Value::Float(f)) => ms(*f).map(Some).ok_or_else(|| self.wrong(member, "timestamp")),
            Some(Value::Str(s)) => parse_time_ms(s).map(Some).ok_or_else(|| self.wrong(member, "timestamp")),
            Some(_) => Err(self.wrong(member, "timestamp")),
        }
    }

    pub fn required_time_ms(&self, member: &str) -> Result<i64, Error> {
        self.time_ms(member)?.ok_or_else(|| Error::missing(&self.name(member)))
    }

    /// A list member (absent: empty). The query protocol's `Member=` (empty string) is an empty list.
    pub fn list(&self, member: &str) -> Result<&'a [Value], Error> {
        match self.raw(member) {
            None => Ok(&[]),
            Some(Value::List(l)) => Ok(l),
            Some(Value::Str(s)) if s.is_empty() => Ok(&[]),
            Some(_) => Err(self.wrong(member, "list")),
        }
    }

    /// A list of strings.
    pub fn strings(&self, member: &str) -> Result<Vec<&'a str>, Error> {
        let mut out = Vec::new();
        for (i, v) in self.list(member)?.iter().enumerate() {
            match v {
                Value::Str(s) => out.push(s.as_str()),
                _ => {
                    return Err(Error::invalid(format!(
                        "The value for parameter {}.member.{} is not a valid string.",
                        self.name(member),
                        i + 1
                    )));
                }
            }
        }
        Ok(out)
    }

    /// A list of numbers.
    pub fn numbers(&self, member: &str) -> Result<Vec<f64>, Error> {
        let mut out = Vec::new();
        for (i, v) in self.list(member)?.iter().enumerate() {
            let n = match v {
                Value::Float(f) => Some(*f),
                Value::Int(i) => Some(*i as f64),
                Value::Str(s) => parse_f64(s),
                _ => None,
            };
            match n {
                Some(n) => out.push(n),
                None => {
                    return Err(Error::invalid(format!(
                        "The value for parameter {}.member.{} is not a valid number.",
                        self.name(member),
                        i + 1
                    )));
                }
            }
        }
        Ok(out)
    }

    /// A structure member (absent: `None`).
    pub fn nested(&self, member: &str) -> Result<Option<Input<'a>>, Error> {
        match self.raw(member) {
            None => Ok(None),
            Some(v @ Value::Map(_)) => Ok(Some(Input { value: v, path: self.name(member) })),
            Some(_) => Err(self.wrong(member, "structure")),
        }
    }

    /// The elements of a list of structures.
    pub fn elements(&self, member: &str) -> Result<Vec<Input<'a>>, Error> {
        let list = self.list(member)?;
        let mut out = Vec::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            let path = element_path(&self.name(member), i);
            match v {
                Value::Map(_) => out.push(Input { value: v, path }),
                _ => return Err(Error::invalid(format!("The value for parameter {path} is not a valid structure."))),
            }
        }
        Ok(out)
    }
}

/// The paths of the elements of a list member: `Name.member.1`, …
pub fn element_path(list: &str, index: usize) -> String {
    format!("{list}.member.{}", index + 1)
}

/// A decimal number as the query protocol writes it (also `NaN`/`Infinity`, which the
/// operations then refuse with their own message).
fn parse_f64(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok()
}

/// ISO 8601 in UTC or with an offset: `2025-01-02T03:04:05Z`, `…05.123Z`, `…05+01:00`, or a date.
pub fn parse_time_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        // Epoch seconds, as some clients send them in the query protocol.
        return s
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && f.abs() < 1.0e13)
            .map(|f| (f * 1000.0).round() as i64);
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut ms = days_from_civil(year, month, day) * 86_400_000;
    let mut rest = &s[10..];
    if rest.is_empty() {
        return Some(ms);
    }
    if !(rest.starts_with('T') || rest.starts_with('t') || rest.starts_with(' ')) || rest.len() < 9 {
        return None;
    }
    let t = &rest[1..];
    let tn = |from: usize| -> Option<i64> {
        let part = t.get(from..from + 2)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    if t.as_bytes().get(2) != Some(&b':') || t.as_bytes().get(5) != Some(&b':') {
        return None;
    }
    let (h, mi, sec) = (tn(0)?, tn(3)?, tn(6)?);
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    ms += (h * 3600 + mi * 60 + sec) * 1000;
    rest = &t[8..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let mut millis = 0i64;
        for (i, c) in frac.bytes().take(3).enumerate() {
            if i < digits {
                millis = millis * 10 + i64::from(c - b'0');
            }
        }
        for _ in digits.min(3)..3 {
            millis *= 10;
        }
        ms += millis;
        rest = &frac[digits..];
    }
    match rest {
        "Z" | "z" | "" => Some(ms),
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => -1,
                b'-' => 1,
                _ => return None,
            };
            let off = rest[1..].replace(':', "");
            if off.len() != 4 || !off.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let oh: i64 = off[..2].parse().ok()?;
            let om: i64 = off[2..].parse().ok()?;
            Some(ms + sign * (oh * 3600 + om * 60) * 1000)
        }
    }
}

/// `YYYY-MM-DDThh:mm:ssZ`, with `.SSS` only when there are milliseconds (AWS's query form).
pub fn format_time(ms: i64) -> String {
    let c = stdx::time::Civil::from_epoch_ms(ms);
    let mut s = format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", c.year, c.month, c.day, c.hour, c.minute, c.second);
    if c.millis != 0 {
        let _ = write!(s, ".{:03}", c.millis);
    }
    s.push('Z');
    s
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
