//! Percent-decoding of path segments and query strings.

/// Decodes `%XX` escapes. With `plus_as_space`, `+` is a space (query strings). Invalid escapes
/// are kept literally, as most servers do; the result is then checked by whoever uses it.
pub(crate) fn percent_decode(s: &str, plus_as_space: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_as_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A parsed query string: every key/value pair, in order, decoded.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let mut pairs = Vec::new();
        for part in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            if let (Some(k), Some(v)) = (percent_decode(k, true), percent_decode(v, true)) {
                pairs.push((k, v));
            }
        }
        Query(pairs)
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated key (`tagKeys=a&tagKeys=b`).
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        assert_eq!(percent_decode("fn%3A%24LATEST", false).unwrap(), "fn:$LATEST");
        assert_eq!(percent_decode("a+b", false).unwrap(), "a+b");
        assert_eq!(percent_decode("a+b", true).unwrap(), "a b");
        assert_eq!(percent_decode("100%", false).unwrap(), "100%");
        assert_eq!(percent_decode("%zz", false).unwrap(), "%zz");
        assert_eq!(percent_decode("%ff", false), None);
        let q = Query::parse(Some("Qualifier=%24LATEST&tagKeys=a&tagKeys=b&empty"));
        assert_eq!(q.get("Qualifier"), Some("$LATEST"));
        assert_eq!(q.all("tagKeys"), ["a", "b"]);
        assert_eq!(q.get("empty"), Some(""));
    }
}
