//! A small bounded CBOR (RFC 8949) decoder and encoder for Smithy RPC v2 CBOR bodies.
//!
//! Hand-written rather than a crate: requests are untrusted, and what Smithy sends is a small
//! subset (maps with text keys, arrays, text, integers, floats of 16/32/64 bits, booleans,
//! null, tag 1 timestamps). The decoder bounds nesting ([`DEPTH_MAX`]) and never allocates
//! more than the input can fill (every item takes at least one input byte), so a body of `n`
//! bytes costs O(n) memory whatever its declared lengths.

use crate::doc::Value;

/// Deepest nesting of arrays and maps accepted.
pub const DEPTH_MAX: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CborError(pub String);

/// Decodes one CBOR data item that must fill `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Value, CborError> {
    let mut d = Decoder { b: bytes, at: 0 };
    let v = d.item(0)?;
    if d.at != bytes.len() {
        return Err(CborError(format!("{} bytes after the data item", bytes.len() - d.at)));
    }
    Ok(v)
}

struct Decoder<'a> {
    b: &'a [u8],
    at: usize,
}

/// A decoded item or the `break` stop code of an indefinite-length container.
enum Item {
    Value(Value),
    Break,
}

impl Decoder<'_> {
    fn err<T>(&self, what: &str) -> Result<T, CborError> {
        Err(CborError(format!("{what} at byte {}", self.at)))
    }

    fn byte(&mut self) -> Result<u8, CborError> {
        match self.b.get(self.at) {
            Some(&c) => {
                self.at += 1;
                Ok(c)
            }
            None => self.err("unexpected end of input"),
        }
    }

    fn take(&mut self, n: u64) -> Result<&[u8], CborError> {
        let left = (self.b.len() - self.at) as u64;
        if n > left {
            return self.err("length beyond the end of input");
        }
        let s = &self.b[self.at..self.at + n as usize];
        self.at += n as usize;
        Ok(s)
    }

    /// The argument of an initial byte's additional information; `None` for indefinite length.
    fn argument(&mut self, info: u8) -> Result<Option<u64>, CborError> {
        let n = match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.byte()?),
            25 => u64::from(u16::from_be_bytes(self.take(2)?.try_into().unwrap_or_default())),
            26 => u64::from(u32::from_be_bytes(self.take(4)?.try_into().unwrap_or_default())),
            27 => u64::from_be_bytes(self.take(8)?.try_into().unwrap_or_default()),
            31 => return Ok(None),
            _ => return self.err("reserved additional information"),
        };
        Ok(Some(n))
    }

    fn item(&mut self, depth: usize) -> Result<Value, CborError> {
        match self.any(depth)? {
            Item::Value(v) => Ok(v),
            Item::Break => self.err("unexpected break"),
        }
    }

    fn any(&mut self, depth: usize) -> Result<Item, CborError> {
        if depth > DEPTH_MAX {
            return self.err("nesting too deep");
        }
        let initial = self.byte()?;
        let (major, info) = (initial >> 5, initial & 0x1f);
        let v = match major {
            0 => match self.argument(info)? {
                Some(n) => match i64::try_from(n) {
                    Ok(i) => Value::Int(i),
                    Err(_) => Value::Float(n as f64),
                },
                None => return self.err("indefinite integer"),
            },
            1 => match self.argument(info)? {
                Some(n) => match i64::try_from(n) {
                    Ok(i) => Value::Int(-1 - i),
                    Err(_) => Value::Float(-1.0 - n as f64),
                },
                None => return self.err("indefinite integer"),
            },
            2 => return self.err("byte strings are not accepted"),
            3 => Value::Str(self.text(info)?),
            4 => {
                let mut items = Vec::new();
                match self.argument(info)? {
                    Some(n) => {
                        self.room(n)?;
                        for _ in 0..n {
                            items.push(self.item(depth + 1)?);
                        }
                    }
                    None => {
                        while let Item::Value(v) = self.any(depth + 1)? {
                            items.push(v);
                        }
                    }
                }
                Value::List(items)
            }
            5 => {
                let mut members = Vec::new();
                match self.argument(info)? {
                    Some(n) => {
                        self.room(n.saturating_mul(2))?;
                        for _ in 0..n {
                            let k = self.key(depth)?;
                            let v = self.item(depth + 1)?;
                            members.push((k, v));
                        }
                    }
                    None => loop {
                        match self.any(depth + 1)? {
                            Item::Break => break,
                            Item::Value(Value::Str(k)) => {
                                let v = self.item(depth + 1)?;
                                members.push((k, v));
                            }
                            Item::Value(_) => return self.err("map key that is not text"),
                        }
                    },
                }
                Value::Map(members)
            }
            6 => {
                let tag = match self.argument(info)? {
                    Some(t) => t,
                    None => return self.err("indefinite tag"),
                };
                let inner = self.item(depth + 1)?;
                match (tag, inner) {
                    (1, Value::Int(secs)) => Value::Time(secs.saturating_mul(1000)),
                    (1, Value::Float(secs)) if secs.is_finite() && secs.abs() < 1.0e13 => {
                        Value::Time((secs * 1000.0).round() as i64)
                    }
                    (1, _) => return self.err("tag 1 without an epoch time"),
                    _ => return self.err("unsupported tag"),
                }
            }
            _ => match info {
                20 => Value::Bool(false),
                21 => Value::Bool(true),
                22 | 23 => Value::Null,
                25 => Value::Float(f16(u16::from_be_bytes(self.take(2)?.try_into().unwrap_or_default()))),
                26 => Value::Float(f64::from(f32::from_be_bytes(self.take(4)?.try_into().unwrap_or_default()))),
                27 => Value::Float(f64::from_be_bytes(self.take(8)?.try_into().unwrap_or_default())),
                31 => return Ok(Item::Break),
                _ => return self.err("unsupported simple value"),
            },
        };
        Ok(Item::Value(v))
    }

    /// A declared count of items must fit in what is left (each takes at least a byte).
    fn room(&self, n: u64) -> Result<(), CborError> {
        if n > (self.b.len() - self.at) as u64 { self.err("count beyond the end of input") } else { Ok(()) }
    }

    fn key(&mut self, depth: usize) -> Result<String, CborError> {
        match self.item(depth + 1)? {
            Value::Str(k) => Ok(k),
            _ => self.err("map key that is not text"),
        }
    }

    fn text(&mut self, info: u8) -> Result<String, CborError> {
        match self.argument(info)? {
            Some(n) => match std::str::from_utf8(self.take(n)?) {
                Ok(s) => Ok(s.to_owned()),
                Err(_) => self.err("text that is not UTF-8"),
            },
            None => {
                let mut s = String::new();
                loop {
                    let initial = self.byte()?;
                    if initial == 0xff {
                        return Ok(s);
                    }
                    if initial >> 5 != 3 || initial & 0x1f == 31 {
                        return self.err("bad chunk in indefinite text");
                    }
                    s.push_str(&self.text(initial & 0x1f)?);
                }
            }
        }
    }
}

/// An IEEE 754 half-precision float.
fn f16(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

/// Encodes a document; `Null` members of structures are left out; timestamps are tag 1 + float64.
pub fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    put(&mut out, v);
    out
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n <= u64::from(u8::MAX) {
        out.extend([m | 24, n as u8]);
    } else if n <= u64::from(u16::MAX) {
        out.push(m | 25);
        out.extend((n as u16).to_be_bytes());
    } else if n <= u64::from(u32::MAX) {
        out.push(m | 26);
        out.extend((n as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend(n.to_be_bytes());
    }
}

fn put(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(0xf6),
        Value::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
        Value::Int(i) if *i >= 0 => head(out, 0, *i as u64),
        Value::Int(i) => head(out, 1, (-1 - *i) as u64),
        Value::Float(f) => {
            out.push(0xfb);
            out.extend(f.to_be_bytes());
        }
        Value::Str(s) => {
            head(out, 3, s.len() as u64);
            out.extend(s.as_bytes());
        }
        Value::Time(ms) => {
            out.extend([0xc1, 0xfb]);
            out.extend((*ms as f64 / 1000.0).to_be_bytes());
        }
        Value::List(items) => {
            head(out, 4, items.len() as u64);
            for i in items {
                put(out, i);
            }
        }
        Value::Map(members) | Value::Dict(members) => {
            let present: Vec<_> = members.iter().filter(|(_, v)| *v != Value::Null).collect();
            head(out, 5, present.len() as u64);
            for (k, v) in present {
                head(out, 3, k.len() as u64);
                out.extend(k.as_bytes());
                put(out, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_shapes_smithy_sends() {
        let v = Value::Map(vec![
            ("Namespace".into(), Value::str("App")),
            ("N".into(), Value::Int(-3)),
            ("Big".into(), Value::Int(70_000)),
            ("F".into(), Value::Float(1.5)),
            ("T".into(), Value::Time(1_765_977_780_000)),
            ("L".into(), Value::List(vec![Value::Bool(true), Value::Map(vec![])])),
        ]);
        assert_eq!(decode(&encode(&v)).unwrap(), v);
    }

    #[test]
    fn decodes_half_and_single_floats_and_indefinite_containers() {
        // {_ "a": [_ 1.5(f16), 2.5(f32)] }
        let b = [0xbf, 0x61, b'a', 0x9f, 0xf9, 0x3e, 0x00, 0xfa, 0x40, 0x20, 0x00, 0x00, 0xff, 0xff];
        let v = decode(&b).unwrap();
        assert_eq!(v, Value::Map(vec![("a".into(), Value::List(vec![Value::Float(1.5), Value::Float(2.5)]))]));
    }

    #[test]
    fn refuses_hostile_input() {
        // A map declaring 2^32 members in 6 bytes.
        assert!(decode(&[0xba, 0xff, 0xff, 0xff, 0xff]).is_err());
        // Nesting beyond the bound.
        assert!(decode(&[0x81; 100]).is_err());
        // Truncated, trailing bytes, byte strings, unknown tags, non-text keys.
        assert!(decode(&[0x63, b'a']).is_err());
        assert!(decode(&[0xa0, 0x00]).is_err());
        assert!(decode(&[0x41, 0x00]).is_err());
        assert!(decode(&[0xc2, 0x41, 0x00]).is_err());
        assert!(decode(&[0xa1, 0x01, 0x01]).is_err());
        assert!(decode(&[]).is_err());
        assert!(decode(&[0xff]).is_err());
    }

    #[test]
    fn every_prefix_of_a_valid_body_is_refused_cleanly() {
        let body = encode(&Value::Map(vec![("Namespace".into(), Value::str("App")), ("T".into(), Value::Time(1000))]));
        for n in 0..body.len() {
            assert!(decode(&body[..n]).is_err(), "{n}");
        }
    }
}
