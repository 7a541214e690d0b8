//! XML in and out: a small element tree for request bodies (parsed with `quick-xml`, bounded
//! in depth), and a string writer for responses.

use std::fmt::Write as _;

use quick_xml::events::Event;

use crate::limits::XML_DEPTH_MAX;

/// S3's XML namespace, on the root element of every response document.
pub const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
/// The declaration every S3 XML response starts with.
pub const DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// Why a request body is not usable XML (→ `MalformedXML`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed XML: {0}")]
pub struct XmlError(pub String);

/// One element: its local name (namespace prefixes dropped), child elements, and its text
/// (character data directly inside it, entities resolved).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub name: String,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children named `name`, in document order.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child named `name`.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

/// Parses a whole document into its root element. Rejects: non-UTF-8, a DTD, mismatched or
/// unclosed tags, text or a second element outside the root, nesting deeper than
/// [`XML_DEPTH_MAX`], unknown entities.
pub fn parse(body: &[u8]) -> Result<Element, XmlError> {
    let text = std::str::from_utf8(body).map_err(|_| XmlError("not UTF-8".into()))?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader.read_event().map_err(|e| XmlError(e.to_string()))?;
        match event {
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return Err(XmlError("more than one root element".into()));
            }
            Event::Start(start) => {
                if stack.len() >= XML_DEPTH_MAX {
                    return Err(XmlError("nested too deeply".into()));
                }
                stack.push(Element { name: start.local_name().as_ref().to_owned(), ..Element::default() });
            }
            Event::Empty(start) => {
                let el = Element { name: start.local_name().as_ref().to_owned(), ..Element::default() };
                close(&mut stack, &mut root, el);
            }
            Event::End(_) => {
                // quick-xml checks that the end tag matches the open one.
                let el = stack.pop().ok_or_else(|| XmlError("unexpected end tag".into()))?;
                close(&mut stack, &mut root, el);
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                push_text(&mut stack, &content)?;
            }
            Event::CData(c) => push_text(&mut stack, &c.xml10_content())?,
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref().map_err(|e| XmlError(e.to_string()))? {
                    Some(c) => c,
                    None => match r.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => return Err(XmlError(format!("unknown entity &{other};"))),
                    },
                };
                push_text(&mut stack, ch.encode_utf8(&mut [0; 4]))?;
            }
            Event::DocType(_) => return Err(XmlError("DTDs are not allowed".into())),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError("unclosed element".into()));
    }
    root.ok_or_else(|| XmlError("no root element".into()))
}

fn close(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

fn push_text(stack: &mut [Element], s: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(el) => {
            el.text.push_str(s);
            Ok(())
        }
        None if s.trim().is_empty() => Ok(()),
        None => Err(XmlError("text outside the root element".into())),
    }
}

/// Escapes text for element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // A raw CR would reach the client as LF (XML parsers normalise line ends), so it is
            // a character reference, as S3 writes it.
            '\r' => out.push_str("&#xD;"),
            // Characters XML 1.0 cannot carry even escaped are written as character references
            // that S3 also uses (keys may contain any UTF-8, control characters included).
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n') => {
                let _ = write!(out, "&#x{:X};", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Builds a response document: `Writer::new("ListBucketResult")` writes the declaration and the
/// namespaced root; `finish` closes it.
pub struct Writer {
    buf: String,
    root: &'static str,
}

impl Writer {
    pub fn new(root: &'static str) -> Writer {
        let mut buf = String::with_capacity(512);
        buf.push_str(DECLARATION);
        let _ = write!(buf, r#"<{root} xmlns="{NS}">"#);
        Writer { buf, root }
    }

    /// `<name>escaped text</name>`.
    pub fn elem(&mut self, name: &str, text: &str) -> &mut Writer {
        let _ = write!(self.buf, "<{name}>{}</{name}>", escape(text));
        self
    }

    /// `<name>` (no escaping needed for names).
    pub fn open(&mut self, name: &str) -> &mut Writer {
        let _ = write!(self.buf, "<{name}>");
        self
    }

    pub fn close(&mut self, name: &str) -> &mut Writer {
        let _ = write!(self.buf, "</{name}>");
        self
    }

    pub fn finish(mut self) -> String {
        let _ = write!(self.buf, "</{}>", self.root);
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_elements_text_and_entities() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
            <Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Quiet>true</Quiet>
              <Object><Key>a &amp; b&#x41;&#66;<![CDATA[<c>]]></Key></Object>
              <Object><Key>x</Key><VersionId/></Object>
            </Delete>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "Delete");
        assert_eq!(root.child_text("Quiet"), Some("true"));
        let keys: Vec<&str> = root.children_named("Object").filter_map(|o| o.child_text("Key")).collect();
        assert_eq!(keys, ["a & bAB<c>", "x"]);
        assert_eq!(root.children_named("Object").nth(1).unwrap().child_text("VersionId"), Some(""));
    }

    #[test]
    fn drops_namespace_prefixes() {
        let root = parse(br#"<s3:A xmlns:s3="urn:x"><s3:B>1</s3:B></s3:A>"#).unwrap();
        assert_eq!(root.name, "A");
        assert_eq!(root.child_text("B"), Some("1"));
    }

    #[test]
    fn rejects_malformed_documents() {
        for bad in [
            &b""[..],
            b"   ",
            b"<a>",
            b"<a></b>",
            b"<a></a><b/>",
            b"text<a/>",
            b"<a>&bogus;</a>",
            b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
            b"\xff\xfe<a/>",
            b"<a><b></a>",
            b"</a>",
        ] {
            assert!(parse(bad).is_err(), "{:?} should be rejected", String::from_utf8_lossy(bad));
        }
        let deep = format!("{}{}", "<a>".repeat(XML_DEPTH_MAX + 1), "</a>".repeat(XML_DEPTH_MAX + 1));
        assert!(parse(deep.as_bytes()).is_err());
        let ok = format!("{}{}", "<a>".repeat(XML_DEPTH_MAX), "</a>".repeat(XML_DEPTH_MAX));
        assert!(parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn writer_escapes() {
        let mut w = Writer::new("R");
        w.open("C").elem("Key", "a<b>&\"'\u{1}").close("C");
        assert_eq!(
            w.finish(),
            format!(r#"{DECLARATION}<R xmlns="{NS}"><C><Key>a&lt;b&gt;&amp;&quot;&apos;&#x1;</Key></C></R>"#)
        );
    }

    /// Found by the property tests: a key with a CR was written raw, and XML parsers (this one,
    /// the SDKs') read it back as LF, so a listed key named another object.
    #[test]
    fn carriage_returns_survive_a_round_trip() {
        let mut w = Writer::new("R");
        w.elem("Key", "a\rb\r\nc");
        let doc = w.finish();
        assert!(doc.contains("<Key>a&#xD;b&#xD;\nc</Key>"), "{doc}");
        assert_eq!(parse(doc.as_bytes()).unwrap().child_text("Key"), Some("a\rb\r\nc"));
    }
}
