//! Constraint violations, described the way AWS's request validation describes them.
//!
//! AWS renders each violation as
//! `Value '<value>' at '<field>' failed to satisfy constraint: <constraint>` and joins several
//! with `; ` under `N validation error(s) detected: `. A [`Violation`] keeps the three parts;
//! [`render`] builds that text.

use std::fmt::Write;

/// How a violation shows the offending value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// `Value '<v>' at ...`.
    Quoted(String),
    /// `Value null at ...`: the member was missing.
    Null,
    /// `Value at ...`: AWS does not echo sensitive values (environment variables).
    Hidden,
}

/// One failed constraint on one request member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub value: Shown,
    /// The member path in lower camel case, e.g. `functionName`, `routingConfig.additionalVersionWeights`.
    pub field: String,
    pub constraint: String,
}

impl Violation {
    pub fn new(value: impl Into<String>, field: &str, constraint: impl Into<String>) -> Violation {
        Violation { value: Shown::Quoted(value.into()), field: field.to_owned(), constraint: constraint.into() }
    }

    pub fn pattern(value: &str, field: &str, pattern: &str) -> Violation {
        Violation::new(value, field, format!("Member must satisfy regular expression pattern: {pattern}"))
    }

    pub fn len_max(value: &str, field: &str, max: usize) -> Violation {
        Violation::new(value, field, format!("Member must have length less than or equal to {max}"))
    }

    pub fn len_min(value: &str, field: &str, min: usize) -> Violation {
        Violation::new(value, field, format!("Member must have length greater than or equal to {min}"))
    }

    pub fn value_max(value: i64, field: &str, max: i64) -> Violation {
        Violation::new(value.to_string(), field, format!("Member must have value less than or equal to {max}"))
    }

    pub fn value_min(value: i64, field: &str, min: i64) -> Violation {
        Violation::new(value.to_string(), field, format!("Member must have value greater than or equal to {min}"))
    }

    pub fn enum_set(value: &str, field: &str, set: &[&str]) -> Violation {
        Violation::new(value, field, format!("Member must satisfy enum value set: [{}]", set.join(", ")))
    }

    pub fn not_null(field: &str) -> Violation {
        Violation { value: Shown::Null, field: field.to_owned(), constraint: "Member must not be null".to_owned() }
    }

    /// A violation that does not echo the value.
    pub fn hidden(field: &str, constraint: impl Into<String>) -> Violation {
        Violation { value: Shown::Hidden, field: field.to_owned(), constraint: constraint.into() }
    }

    /// `Value '<v>' at '<field>' failed to satisfy constraint: <constraint>`.
    pub fn describe(&self) -> String {
        match &self.value {
            Shown::Quoted(v) => {
                format!("Value '{}' at '{}' failed to satisfy constraint: {}", v, self.field, self.constraint)
            }
            Shown::Null => format!("Value null at '{}' failed to satisfy constraint: {}", self.field, self.constraint),
            Shown::Hidden => format!("Value at '{}' failed to satisfy constraint: {}", self.field, self.constraint),
        }
    }
}

/// The full message for a list of violations, e.g.
/// `1 validation error detected: Value '2024' at 'name' failed to satisfy constraint: ...`.
pub fn render(violations: &[Violation]) -> String {
    let n = violations.len();
    let mut s = format!("{n} validation error{} detected: ", if n == 1 { "" } else { "s" });
    for (i, v) in violations.iter().enumerate() {
        if i > 0 {
            s.push_str("; ");
        }
        let _ = write!(s, "{}", v.describe());
    }
    s
}

/// Renders a list of strings the way AWS prints a list value: `[a, b]`.
pub fn list_value(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

/// Whether `c` is in Java's regular-expression class `\s` (`[ \t\n\x0B\f\r]`): AWS's patterns
/// such as `[^\s]+` are Java's, where `\s` is ASCII only.
pub fn is_java_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r')
}

/// Whether Java's `.` matches `c`: anything but a line terminator.
pub fn is_java_dot(c: char) -> bool {
    !matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// Renders a double the way Java's `Double.toString` does for the values AWS echoes in
/// messages: `2.0`, `0.5`, `1.0E-4`, `1.0E7`.
pub fn java_double(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let a = x.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        let s = format!("{x}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        // Rust prints `1e-4` / `1.5e7`; Java prints `1.0E-4` / `1.5E7`.
        let s = format!("{x:e}");
        let (mantissa, exp) = s.split_once('e').expect("exponent formatting has an e");
        let mantissa = if mantissa.contains('.') { mantissa.to_owned() } else { format!("{mantissa}.0") };
        format!("{mantissa}E{exp}")
    }
}

/// The compact JSON encoding of a string-to-string map, as Lambda measures environment
/// variables: `{"K":"V",...}` with JSON string escaping.
pub fn compact_json_map<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(&mut out, k);
        out.push(':');
        json_string(&mut out, v);
    }
    out.push('}');
    out
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_like_java() {
        assert_eq!(java_double(2.0), "2.0");
        assert_eq!(java_double(0.5), "0.5");
        assert_eq!(java_double(-1.0), "-1.0");
        assert_eq!(java_double(0.0001), "1.0E-4");
        assert_eq!(java_double(12345678.0), "1.2345678E7");
    }

    #[test]
    fn compact_json() {
        assert_eq!(compact_json_map([("A", "b\"c"), ("D", "")]), r#"{"A":"b\"c","D":""}"#);
    }

    #[test]
    fn renders_like_aws() {
        let one = [Violation::pattern("2024", "name", "(?!^[0-9]+$)([a-zA-Z0-9-_]+)")];
        assert_eq!(
            render(&one),
            "1 validation error detected: Value '2024' at 'name' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"
        );
        let two = [Violation::value_min(0, "timeout", 1), Violation::not_null("role")];
        assert_eq!(
            render(&two),
            "2 validation errors detected: Value '0' at 'timeout' failed to satisfy constraint: \
             Member must have value greater than or equal to 1; Value null at 'role' failed to \
             satisfy constraint: Member must not be null"
        );
    }
}
