//! The listing walk shared by ListObjects and ListObjectsV2: keys in byte order under a prefix,
//! rolled up into common prefixes at a delimiter, resumed after a marker, one page at a time.
//! Pure over a `fetch` function so it is tested without a database.

use crate::store::ObjectRow;

/// Where a page starts: after `name`. When `name` is a common prefix (it ends at the delimiter),
/// every key under it is skipped too, so a page never repeats the last page's common prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    pub name: String,
    pub is_prefix: bool,
}

impl After {
    /// A user-given marker or start-after: a common prefix if it is one under `prefix` and
    /// `delimiter`.
    pub fn marker(name: &str, prefix: &str, delimiter: Option<&str>) -> After {
        let is_prefix = delimiter.is_some_and(|d| common_prefix(name, prefix, d).as_deref() == Some(name));
        After { name: name.to_owned(), is_prefix }
    }

    /// The opaque ListObjectsV2 continuation token for resuming after this entry.
    pub fn token(&self) -> String {
        use base64::Engine as _;
        let tagged = format!("{}{}", if self.is_prefix { 'p' } else { 'o' }, self.name);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tagged)
    }

    pub fn from_token(token: &str) -> Option<After> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
        let s = String::from_utf8(bytes).ok()?;
        let mut chars = s.chars();
        let is_prefix = match chars.next()? {
            'p' => true,
            'o' => false,
            _ => return None,
        };
        Some(After { name: chars.as_str().to_owned(), is_prefix })
    }
}

/// One listed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Object(ObjectRow),
    Prefix(String),
}

impl Entry {
    pub fn name(&self) -> &str {
        match self {
            Entry::Object(o) => &o.key,
            Entry::Prefix(p) => p,
        }
    }

    /// The marker that resumes the listing after this entry.
    pub fn after(&self) -> After {
        After { name: self.name().to_owned(), is_prefix: matches!(self, Entry::Prefix(_)) }
    }
}

/// One page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub entries: Vec<Entry>,
    /// More entries follow the last one.
    pub truncated: bool,
}

/// The common prefix of `key` (up to and including the first `delimiter` after `prefix`).
pub fn common_prefix(key: &str, prefix: &str, delimiter: &str) -> Option<String> {
    let rest = key.strip_prefix(prefix)?;
    let i = rest.find(delimiter)?;
    Some(key[..prefix.len() + i + delimiter.len()].to_owned())
}

/// The smallest byte string greater than every string that starts with `p` (`p` is UTF-8, whose
/// bytes are never 0xFF, so incrementing the last byte suffices).
fn successor(p: &str) -> Vec<u8> {
    let mut v = p.as_bytes().to_vec();
    if let Some(last) = v.last_mut() {
        *last += 1;
    }
    v
}

/// Lists up to `max` entries. `fetch(from, inclusive, limit)` returns objects in key order
/// starting at `from`.
pub fn list<E>(
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&After>,
    max: usize,
    mut fetch: impl FnMut(&[u8], bool, usize) -> Result<Vec<ObjectRow>, E>,
) -> Result<Page, E> {
    let mut page = Page { entries: Vec::new(), truncated: false };
    if max == 0 {
        return Ok(page);
    }
    let delimiter = delimiter.filter(|d| !d.is_empty());
    // The cursor: list keys >= (or >) this.
    let (mut from, mut inclusive) = (prefix.as_bytes().to_vec(), true);
    if let Some(a) = after {
        let (f, inc) = if a.is_prefix { (successor(&a.name), true) } else { (a.name.as_bytes().to_vec(), false) };
        if f.as_slice() >= from.as_slice() {
            (from, inclusive) = (f, inc);
        }
    }
    let batch = (max + 1).min(1000);
    loop {
        let rows = fetch(&from, inclusive, batch)?;
        let exhausted = rows.len() < batch;
        let mut restart = false;
        for row in rows {
            if !row.key.starts_with(prefix) {
                // Keys are sorted and start at or after `prefix`: we are past it.
                return Ok(page);
            }
            let entry = match delimiter.and_then(|d| common_prefix(&row.key, prefix, d)) {
                Some(cp) => Entry::Prefix(cp),
                None => Entry::Object(row),
            };
            if page.entries.len() == max {
                page.truncated = true;
                return Ok(page);
            }
            match &entry {
                Entry::Prefix(cp) => {
                    (from, inclusive) = (successor(cp), true);
                    page.entries.push(entry);
                    restart = true;
                    break;
                }
                Entry::Object(o) => {
                    (from, inclusive) = (o.key.as_bytes().to_vec(), false);
                    page.entries.push(entry);
                }
            }
        }
        if exhausted && !restart {
            return Ok(page);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Meta;

    fn obj(key: &str) -> ObjectRow {
        ObjectRow {
            key: key.into(),
            file: String::new(),
            size: 0,
            etag: String::new(),
            modified_ms: 0,
            meta: Meta::default(),
        }
    }

    /// A sorted in-memory bucket.
    fn fetcher(keys: &[&str]) -> impl FnMut(&[u8], bool, usize) -> Result<Vec<ObjectRow>, ()> {
        let mut keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        keys.sort();
        move |from, inclusive, limit| {
            Ok(keys
                .iter()
                .filter(|k| if inclusive { k.as_bytes() >= from } else { k.as_bytes() > from })
                .take(limit)
                .map(|k| obj(k))
                .collect())
        }
    }

    fn names(p: &Page) -> Vec<&str> {
        p.entries.iter().map(Entry::name).collect()
    }

    const KEYS: &[&str] = &["a.txt", "dir/1", "dir/2", "dir/sub/3", "docs/x", "e", "z/1", "z/2"];

    #[test]
    fn lists_with_prefix_and_delimiter() {
        let p = list("", Some("/"), None, 1000, fetcher(KEYS)).unwrap();
        assert_eq!(names(&p), ["a.txt", "dir/", "docs/", "e", "z/"]);
        assert!(!p.truncated);
        let p = list("dir/", Some("/"), None, 1000, fetcher(KEYS)).unwrap();
        assert_eq!(names(&p), ["dir/1", "dir/2", "dir/sub/"]);
        let p = list("d", None, None, 1000, fetcher(KEYS)).unwrap();
        assert_eq!(names(&p), ["dir/1", "dir/2", "dir/sub/3", "docs/x"]);
        let p = list("nothing", Some("/"), None, 1000, fetcher(KEYS)).unwrap();
        assert!(p.entries.is_empty() && !p.truncated);
    }

    #[test]
    fn pages_never_repeat_or_skip_entries() {
        for max in 1..=6 {
            let mut all = Vec::new();
            let mut after: Option<After> = None;
            loop {
                let p = list("", Some("/"), after.as_ref(), max, fetcher(KEYS)).unwrap();
                all.extend(names(&p).into_iter().map(str::to_owned));
                if !p.truncated {
                    break;
                }
                after = Some(p.entries.last().unwrap().after());
                // Resuming through the opaque token gives the same marker.
                let a = after.as_ref().unwrap();
                assert_eq!(After::from_token(&a.token()).as_ref(), Some(a));
            }
            assert_eq!(all, ["a.txt", "dir/", "docs/", "e", "z/"], "max {max}");
        }
    }

    #[test]
    fn truncation_is_exact() {
        let p = list("", None, None, 8, fetcher(KEYS)).unwrap();
        assert!(!p.truncated);
        let p = list("", None, None, 7, fetcher(KEYS)).unwrap();
        assert!(p.truncated);
        let p = list("", Some("/"), None, 5, fetcher(KEYS)).unwrap();
        assert!(!p.truncated);
        let p = list("", None, None, 0, fetcher(KEYS)).unwrap();
        assert!(p.entries.is_empty() && !p.truncated);
    }

    #[test]
    fn markers_are_exclusive_and_skip_their_common_prefix() {
        let m = After::marker("dir/", "", Some("/"));
        assert!(m.is_prefix);
        let p = list("", Some("/"), Some(&m), 1000, fetcher(KEYS)).unwrap();
        assert_eq!(names(&p), ["docs/", "e", "z/"]);
        let m = After::marker("dir/1", "", None);
        let p = list("", None, Some(&m), 2, fetcher(KEYS)).unwrap();
        assert_eq!(names(&p), ["dir/2", "dir/sub/3"]);
        // A marker before the prefix starts at the prefix.
        let p = list("z/", None, Some(&After::marker("a", "z/", None)), 1000, fetcher(KEYS)).unwrap();
        assert_eq!(names(&p), ["z/1", "z/2"]);
        assert_eq!(After::from_token("!!"), None);
    }
}
