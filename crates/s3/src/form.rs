//! Incremental parsing of `multipart/form-data` request bodies (RFC 7578, with RFC 2046's
//! framing), for browser-form POST uploads.
//!
//! ```text
//! [preamble]--B\r\n
//! Content-Disposition: form-data; name="key"\r\n
//! \r\n
//! uploads/${filename}\r\n
//! --B\r\n
//! Content-Disposition: form-data; name="file"; filename="a.txt"\r\n
//! Content-Type: text/plain\r\n
//! \r\n
//! <the file's bytes>\r\n
//! --B--\r\n
//! ```
//!
//! The body is pushed as it arrives ([`FormParser::push`], split anywhere, even inside a
//! delimiter); [`FormParser::next`] yields the fields before the file, then the file part's
//! start, its content in pieces, and its end. The content is never buffered whole: of what was
//! pushed, everything but a tail that could be the start of the closing delimiter is handed
//! out. The part named `file` (any case) is the file, with or without a `filename`; everything
//! after it is ignored, as S3 does. The fields, boundaries and part headers before the file's
//! content are bounded (S3: 20 KB).

use bytes::{Buf as _, Bytes, BytesMut};

use crate::limits::FORM_BOUNDARY_BYTES_MAX;

/// The form field holding the object.
const FILE_FIELD: &str = "file";

/// Why a body is not a usable form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("malformed multipart/form-data: {0}")]
    Malformed(&'static str),
    #[error("the form data before the file exceeds {0} bytes")]
    FieldsTooLarge(usize),
}

/// What the parser found next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A field before the file: its name as sent, its value (UTF-8, invalid bytes replaced).
    Field { name: String, value: String },
    /// The file part begins: its `filename` parameter reduced to the text after the last `/`
    /// or `\` (`None` when the part has none).
    FileStart { filename: Option<String> },
    /// The next piece of the file's content.
    FileData(Bytes),
    /// The file's content ended (its delimiter was seen); the rest of the body is ignored.
    FileEnd,
}

/// The boundary of a `multipart/form-data` Content-Type: `Ok(None)` when the media type is not
/// `multipart/form-data` (or there is none); `Err` when it is but without a usable boundary.
pub fn boundary(content_type: &str) -> Result<Option<String>, FormError> {
    let (media_type, params) = split_params(content_type);
    if !media_type.trim().eq_ignore_ascii_case("multipart/form-data") {
        return Ok(None);
    }
    match params.into_iter().find(|(n, _)| n == "boundary") {
        Some((_, b)) if !b.is_empty() && b.len() <= FORM_BOUNDARY_BYTES_MAX && !b.contains(['\r', '\n']) => Ok(Some(b)),
        _ => Err(FormError::Malformed("no usable boundary in the Content-Type")),
    }
}

/// Splits `value; a=b; c="d;e"` into the leading value and its parameters, names lowercased.
/// Quoted values are unquoted; inside them `\"` is a quote and any other backslash is kept
/// (browsers send `filename="C:\dir\a.txt"` unescaped).
fn split_params(s: &str) -> (&str, Vec<(String, String)>) {
    let (value, mut rest) = s.split_once(';').unwrap_or((s, ""));
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            break;
        }
        let name_end = rest.find(['=', ';']).unwrap_or(rest.len());
        let name = rest[..name_end].trim().to_ascii_lowercase();
        rest = &rest[name_end..];
        let mut param = String::new();
        if let Some(after) = rest.strip_prefix('=') {
            rest = after.trim_start_matches([' ', '\t']);
            if let Some(quoted) = rest.strip_prefix('"') {
                let mut end = quoted.len();
                let mut chars = quoted.char_indices().peekable();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' if chars.peek().is_some_and(|(_, n)| *n == '"') => {
                            param.push('"');
                            chars.next();
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => param.push(c),
                    }
                }
                rest = &quoted[end..];
            } else {
                let end = rest.find(';').unwrap_or(rest.len());
                param = rest[..end].trim().to_owned();
                rest = &rest[end..];
            }
        }
        if !name.is_empty() {
            params.push((name, param));
        }
    }
    (value, params)
}

/// The text after the last `/` or `\` of a client-side file name (S3 uses only that).
fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

#[derive(Debug)]
enum State {
    /// Before the first boundary.
    Preamble,
    /// After a `--<boundary>`: `--` ends the form; otherwise padding and a line end.
    AfterBoundary,
    /// Reading a part's header lines.
    Headers { name: Option<String>, filename: Option<String> },
    /// Inside the value of a field before the file.
    Value { name: String },
    /// Inside the file's content.
    File,
    /// After the file's content or the closing delimiter: input is dropped.
    Ignore,
}

/// The incremental parser of one form body.
#[derive(Debug)]
pub struct FormParser {
    /// `\r\n--<boundary>`, which ends every part's content.
    delimiter: Vec<u8>,
    buf: BytesMut,
    state: State,
    /// Bytes consumed before the file's content: preamble, boundaries, fields, part headers.
    fields_bytes: usize,
    fields_max: usize,
    file_seen: bool,
}

impl FormParser {
    /// A parser for the `boundary` of the body's Content-Type; at most `fields_max` bytes of
    /// form data before the file's content.
    pub fn new(boundary: &str, fields_max: usize) -> FormParser {
        FormParser {
            delimiter: [b"\r\n--", boundary.as_bytes()].concat(),
            buf: BytesMut::new(),
            state: State::Preamble,
            fields_bytes: 0,
            fields_max,
            file_seen: false,
        }
    }

    /// Appends the next bytes of the body (dropped once the file has ended).
    pub fn push(&mut self, data: &[u8]) {
        if !matches!(self.state, State::Ignore) {
            self.buf.extend_from_slice(data);
        }
    }

    /// Bytes of the body before the file's content (valid once the file has started).
    pub fn fields_bytes(&self) -> usize {
        self.fields_bytes
    }

    /// Length of what ends a body right after the file's content: `\r\n--<boundary>--\r\n`.
    pub fn closing_len(&self) -> usize {
        self.delimiter.len() + 4
    }

    /// The next event from what was pushed, or `Ok(None)` when more input is needed (or the
    /// rest is ignored). Call until it returns `None`, then push more.
    pub fn next(&mut self) -> Result<Option<Event>, FormError> {
        loop {
            match std::mem::replace(&mut self.state, State::Ignore) {
                State::Preamble => {
                    let dash_boundary = &self.delimiter[2..];
                    if self.buf.len() < dash_boundary.len() && dash_boundary.starts_with(&self.buf) {
                        self.state = State::Preamble;
                        return self.need_more();
                    }
                    let skip = if self.buf.starts_with(dash_boundary) {
                        dash_boundary.len()
                    } else if let Some(i) = find(&self.buf, &self.delimiter) {
                        i + self.delimiter.len()
                    } else {
                        self.state = State::Preamble;
                        return self.need_more();
                    };
                    self.consume(skip)?;
                    self.state = State::AfterBoundary;
                }
                State::AfterBoundary => {
                    if self.buf.len() < 2 {
                        self.state = State::AfterBoundary;
                        return self.need_more();
                    }
                    if self.buf.starts_with(b"--") {
                        // The closing delimiter: the form ends (the epilogue is ignored).
                        self.buf.clear();
                        return Ok(None);
                    }
                    let padding = |c: &u8| matches!(c, b' ' | b'\t' | b'\r');
                    let Some(i) = self.buf.iter().position(|c| *c == b'\n') else {
                        if !self.buf.iter().all(padding) {
                            return Err(FormError::Malformed("text after a boundary"));
                        }
                        self.state = State::AfterBoundary;
                        return self.need_more();
                    };
                    if !self.buf[..i].iter().all(padding) {
                        return Err(FormError::Malformed("text after a boundary"));
                    }
                    self.consume(i + 1)?;
                    self.state = State::Headers { name: None, filename: None };
                }
                State::Headers { mut name, mut filename } => {
                    let Some(i) = self.buf.iter().position(|c| *c == b'\n') else {
                        self.state = State::Headers { name, filename };
                        return self.need_more();
                    };
                    let line = self.buf[..i].strip_suffix(b"\r").unwrap_or(&self.buf[..i]);
                    if line.is_empty() {
                        self.consume(i + 1)?;
                        let name = name.ok_or(FormError::Malformed("a part without a name"))?;
                        if name.eq_ignore_ascii_case(FILE_FIELD) {
                            self.file_seen = true;
                            self.state = State::File;
                            return Ok(Some(Event::FileStart { filename }));
                        }
                        self.state = State::Value { name };
                        continue;
                    }
                    let line = String::from_utf8_lossy(line);
                    let (header, value) =
                        line.split_once(':').ok_or(FormError::Malformed("a part header without a colon"))?;
                    if header.trim().eq_ignore_ascii_case("content-disposition") {
                        let (_, params) = split_params(value);
                        for (param, v) in params {
                            match param.as_str() {
                                "name" => name = Some(v),
                                "filename" => filename = Some(base_name(&v).to_owned()),
                                _ => {}
                            }
                        }
                    }
                    self.consume(i + 1)?;
                    self.state = State::Headers { name, filename };
                }
                State::Value { name } => {
                    let Some(i) = find(&self.buf, &self.delimiter) else {
                        self.state = State::Value { name };
                        return self.need_more();
                    };
                    let value = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                    self.consume(i + self.delimiter.len())?;
                    self.state = State::AfterBoundary;
                    return Ok(Some(Event::Field { name, value }));
                }
                State::File => match find(&self.buf, &self.delimiter) {
                    Some(0) => {
                        self.buf.clear();
                        return Ok(Some(Event::FileEnd));
                    }
                    Some(i) => {
                        self.state = State::File;
                        return Ok(Some(Event::FileData(self.buf.split_to(i).freeze())));
                    }
                    None => {
                        self.state = State::File;
                        let ready = self.buf.len() - partial_suffix(&self.buf, &self.delimiter);
                        if ready == 0 {
                            return Ok(None);
                        }
                        return Ok(Some(Event::FileData(self.buf.split_to(ready).freeze())));
                    }
                },
                State::Ignore => {
                    self.buf.clear();
                    return Ok(None);
                }
            }
        }
    }

    /// Ends the body: `Ok(true)` if the file was read whole, `Ok(false)` if the form was
    /// closed without a file; an error if the body stopped inside the form.
    pub fn finish(&self) -> Result<bool, FormError> {
        match self.state {
            State::Ignore => Ok(self.file_seen),
            _ => Err(FormError::Malformed("the body ended inside the form")),
        }
    }

    /// Drops `n` bytes of form data before the file, counting them against the bound.
    fn consume(&mut self, n: usize) -> Result<(), FormError> {
        self.buf.advance(n);
        self.fields_bytes += n;
        if self.fields_bytes > self.fields_max {
            return Err(FormError::FieldsTooLarge(self.fields_max));
        }
        Ok(())
    }

    /// More input is needed before the file: what is buffered already counts against the bound.
    fn need_more(&self) -> Result<Option<Event>, FormError> {
        if self.fields_bytes + self.buf.len() > self.fields_max {
            return Err(FormError::FieldsTooLarge(self.fields_max));
        }
        Ok(None)
    }
}

/// The first position of `needle` (not empty) in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(p) = hay[from..].iter().position(|c| *c == needle[0]) {
        let i = from + p;
        if hay.len() - i < needle.len() {
            return None;
        }
        if &hay[i..i + needle.len()] == needle {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

/// The length of the longest end of `hay` that is a proper beginning of `needle`: bytes that
/// may turn out to be the delimiter once more input arrives.
fn partial_suffix(hay: &[u8], needle: &[u8]) -> usize {
    let start = hay.len().saturating_sub(needle.len() - 1);
    (start..hay.len()).find(|i| needle.starts_with(&hay[*i..])).map_or(0, |i| hay.len() - i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fields, the file's name and content (`None`: no file part), from `body` pushed in pieces
    /// of `step` bytes.
    type Parsed = (Vec<(String, String)>, Option<(Option<String>, Vec<u8>)>);

    fn parse_in_steps(body: &[u8], boundary: &str, step: usize, max: usize) -> Result<Parsed, FormError> {
        let mut p = FormParser::new(boundary, max);
        let (mut fields, mut file, mut ended) = (Vec::new(), None, false);
        for piece in body.chunks(step) {
            p.push(piece);
            while let Some(ev) = p.next()? {
                match ev {
                    Event::Field { name, value } => fields.push((name, value)),
                    Event::FileStart { filename } => file = Some((filename, Vec::new())),
                    Event::FileData(d) => {
                        assert!(!ended, "no data after the file's end");
                        file.as_mut().expect("data after FileStart").1.extend_from_slice(&d);
                    }
                    Event::FileEnd => ended = true,
                }
            }
        }
        let had_file = p.finish()?;
        assert_eq!(had_file, ended);
        assert_eq!(had_file, file.is_some());
        Ok((fields, file))
    }

    fn body(boundary: &str, parts: &[(&str, &[u8])], epilogue: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for (headers, content) in parts {
            out.extend_from_slice(format!("--{boundary}\r\n{headers}\r\n\r\n").as_bytes());
            out.extend_from_slice(content);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{boundary}--{epilogue}").as_bytes());
        out
    }

    fn field(name: &str) -> String {
        format!("Content-Disposition: form-data; name=\"{name}\"")
    }

    /// A file content with CRLFs, dashes, near-misses of the delimiter `\r\n--XyZ`, the
    /// boundary not preceded by CRLF, and an end that is a beginning of the delimiter.
    const TRICKY: &[u8] = b"line1\r\nline2\r\n--\r\n-\r\n--Xy\r\n-XyZ a--XyZ\r\n\r\n--xyZ\r\n--X";

    #[test]
    fn fields_and_a_file_split_anywhere() {
        let file_headers =
            "Content-Disposition: form-data; name=\"file\"; filename=\"photo.jpg\"\r\nContent-Type: image/jpeg";
        let b = body(
            "XyZ",
            &[(&field("key"), b"uploads/${filename}"), (&field("Content-Type"), b"image/png"), (file_headers, TRICKY)],
            "\r\n",
        );
        for step in 1..=b.len() {
            let (fields, file) = parse_in_steps(&b, "XyZ", step, 20 << 10).unwrap();
            assert_eq!(
                fields,
                [("key".to_owned(), "uploads/${filename}".to_owned()), ("Content-Type".into(), "image/png".into())],
                "step {step}"
            );
            assert_eq!(file, Some((Some("photo.jpg".to_owned()), TRICKY.to_vec())), "step {step}");
        }
    }

    #[test]
    fn content_with_crlfs_and_boundary_look_alikes_survives_tiny_pieces() {
        // A binary file: every byte value, CRLFs, dashes, near-misses of the delimiter, and an
        // end that is a beginning of it.
        let mut content: Vec<u8> = (0..=255u8).collect();
        content.extend_from_slice(b"\r\n\r\n--b0undarY\r\n-b0undary--XyZ--\r\n\r-\n");
        content.extend_from_slice(b"--B0UNDARY\r\n--b0undar");
        let b = body("b0undary", &[(&field("key"), b"k"), (&field("file"), &content)], "");
        for step in [1, 2, 3, 5, 7, 13, 64, b.len()] {
            let (_, file) = parse_in_steps(&b, "b0undary", step, 20 << 10).unwrap();
            assert_eq!(file.unwrap().1, content, "step {step}");
        }
    }

    #[test]
    fn crlf_handling_preamble_padding_and_bare_lf_headers() {
        // A preamble, transport padding after boundaries, LF-only header lines, an empty value
        // and an empty file.
        let b = b"ignored preamble\r\n--B  \t\r\nContent-Disposition: form-data; name=key\n\nk\r\n--B\r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\r\n--B--";
        for step in 1..=b.len() {
            let (fields, file) = parse_in_steps(b, "B", step, 1000).unwrap();
            assert_eq!(fields, [("key".to_owned(), "k".to_owned()), ("empty".to_owned(), String::new())]);
            assert_eq!(file, Some((None, Vec::new())));
        }
        // A value's own CRLFs are part of it; only the CRLF before the delimiter is not.
        let b = body("B", &[(&field("x-amz-meta-note"), b"a\r\nb\r\n"), (&field("file"), b"\r\n")], "\r\n");
        let (fields, file) = parse_in_steps(&b, "B", 3, 1000).unwrap();
        assert_eq!(fields[0].1, "a\r\nb\r\n");
        assert_eq!(file.unwrap().1, b"\r\n");
    }

    #[test]
    fn boundaries_quoted_and_unquoted() {
        let ct = "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW";
        assert_eq!(boundary(ct).unwrap().as_deref(), Some("----WebKitFormBoundary7MA4YWxkTrZu0gW"));
        assert_eq!(boundary("Multipart/Form-Data;charset=utf-8;BOUNDARY=\"a b;c\"").unwrap().as_deref(), Some("a b;c"));
        assert_eq!(boundary("multipart/form-data ; boundary = xyz ").unwrap().as_deref(), Some("xyz"));
        assert_eq!(boundary("application/x-www-form-urlencoded").unwrap(), None);
        assert_eq!(boundary("").unwrap(), None);
        assert_eq!(boundary("multipart/mixed; boundary=x").unwrap(), None);
        assert!(boundary("multipart/form-data").is_err());
        assert!(boundary("multipart/form-data; boundary=\"\"").is_err());
        assert!(
            boundary(&format!("multipart/form-data; boundary={}", "x".repeat(FORM_BOUNDARY_BYTES_MAX + 1))).is_err()
        );

        // A quoted boundary with a space parses the body it delimits.
        let b = body("a b;c", &[(&field("key"), b"k"), (&field("file"), b"data")], "");
        let (_, file) = parse_in_steps(&b, "a b;c", 4, 1000).unwrap();
        assert_eq!(file.unwrap().1, b"data");
    }

    #[test]
    fn file_names_and_parameters() {
        let (_, p) = split_params(r#"form-data; name="file"; filename="a;b \"c\".txt""#);
        assert_eq!(p, [("name".to_owned(), "file".to_owned()), ("filename".to_owned(), "a;b \"c\".txt".to_owned())]);
        let (_, p) = split_params(r#"form-data; NAME=file; filename="C:\Users\me\report.pdf""#);
        assert_eq!(p[1].1, r"C:\Users\me\report.pdf");
        assert_eq!(base_name(&p[1].1), "report.pdf");
        assert_eq!(base_name("dir/sub/x.png"), "x.png");
        assert_eq!(base_name("plain"), "plain");

        let headers = "Content-Disposition: form-data; name=\"FILE\"; filename=\"C:\\tmp\\up load.txt\"";
        let b = body("B", &[(&field("key"), b"k"), (headers, b"x")], "");
        let (_, file) = parse_in_steps(&b, "B", 5, 1000).unwrap();
        assert_eq!(file, Some((Some("up load.txt".to_owned()), b"x".to_vec())), "the file field's name is any case");
    }

    #[test]
    fn fields_after_the_file_are_ignored() {
        let b = body(
            "B",
            &[(&field("key"), b"k"), (&field("file"), b"content"), (&field("acl"), b"public-read"), ("garbage", b"")],
            "epilogue",
        );
        let (fields, file) = parse_in_steps(&b, "B", 2, 1000).unwrap();
        assert_eq!(fields, [("key".to_owned(), "k".to_owned())]);
        assert_eq!(file.unwrap().1, b"content");
    }

    #[test]
    fn missing_file_and_missing_key_are_the_callers_to_judge() {
        // No file: the form is well-formed and ends without one.
        let b = body("B", &[(&field("key"), b"k")], "\r\n");
        assert_eq!(parse_in_steps(&b, "B", 3, 1000).unwrap(), (vec![("key".to_owned(), "k".to_owned())], None));
        // No key: the fields seen before the file are all there is.
        let b = body("B", &[(&field("file"), b"x"), (&field("key"), b"late")], "");
        let (fields, file) = parse_in_steps(&b, "B", 3, 1000).unwrap();
        assert!(fields.is_empty());
        assert_eq!(file.unwrap().1, b"x");
    }

    #[test]
    fn oversized_fields_are_refused_before_the_file() {
        let big = vec![b'v'; 1000];
        let b = body("B", &[(&field("x-amz-meta-big"), &big), (&field("file"), &[b'f'; 5000])], "");
        for step in [1, 100, b.len()] {
            assert_eq!(parse_in_steps(&b, "B", step, 900), Err(FormError::FieldsTooLarge(900)), "step {step}");
        }
        // The bound counts form data before the file's content, not the content itself.
        let (_, file) = parse_in_steps(&b, "B", 100, 1200).unwrap();
        assert_eq!(file.unwrap().1.len(), 5000);
        // A preamble, or a header section, without end is bounded too.
        assert_eq!(parse_in_steps(&[b'x'; 2000], "B", 64, 900), Err(FormError::FieldsTooLarge(900)));
        let endless_headers = [b"--B\r\n".as_slice(), &[b'h'; 2000]].concat();
        assert_eq!(parse_in_steps(&endless_headers, "B", 64, 900), Err(FormError::FieldsTooLarge(900)));
    }

    #[test]
    fn malformed_and_truncated_bodies() {
        let malformed = |b: &[u8]| matches!(parse_in_steps(b, "B", 4, 1000), Err(FormError::Malformed(_)));
        assert!(malformed(b""), "empty body");
        assert!(malformed(b"--B\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc"), "no end");
        assert!(malformed(b"--B\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk"), "field without end");
        assert!(malformed(b"--Bjunk\r\n"), "text after a boundary");
        assert!(malformed(b"--B\r\nno colon here\r\n\r\nx\r\n--B--"), "header without a colon");
        assert!(malformed(b"--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--"), "part without a name");
        assert!(malformed(b"--B\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--B"), "no closing --");
    }

    #[test]
    fn big_file_is_streamed_not_buffered() {
        let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let b = body("B", &[(&field("key"), b"k"), (&field("file"), &content)], "");
        let mut p = FormParser::new("B", 1000);
        let mut got = Vec::new();
        for piece in b.chunks(8192) {
            p.push(piece);
            while let Some(ev) = p.next().unwrap() {
                if let Event::FileData(d) = ev {
                    got.extend_from_slice(&d);
                }
            }
            assert!(
                p.buf.len() < p.delimiter.len() || !matches!(p.state, State::File),
                "only a delimiter-sized tail waits"
            );
        }
        assert!(p.finish().unwrap());
        assert_eq!(got, content);
        assert!(p.fields_bytes() > 0 && p.fields_bytes() < 200);
    }
}
