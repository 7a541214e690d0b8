//! Property tests of S3's parsers of untrusted input: XML request bodies (and the parsers of
//! each document), `multipart/form-data` POST bodies, `aws-chunked` bodies, Range headers, bucket
//! names, keys, continuation tokens, copy sources, hosts and routes. Arbitrary and mutated input
//! gets an error or a value, never a panic; the incremental parsers answer the same however
//! the body is cut into frames; valid input round-trips.

use axum::http::Method;
use propkit::proptest;
use propkit::proptest::prelude::*;

use crate::chunked::{ChunkError, Decoder};
use crate::error::ApiError;
use crate::form::{self, Event, FormError, FormParser};
use crate::limits::{CHUNK_HEADER_BYTES_MAX, DELETE_OBJECTS_KEYS_MAX, FORM_FIELDS_BYTES_MAX, XML_DEPTH_MAX};
use crate::xml::{self, Element};

/// Cases of each property.
const CASES: u32 = 256;

/// The codes the XML body parsers may answer with.
fn xml_error(e: &ApiError) -> bool {
    matches!(e.code(), "MalformedXML" | "InvalidArgument")
}

// ---------------------------------------------------------------------------------------------
// XML

/// An element tree: names of letters, text only in leaves (text between children is dropped by
/// nothing, but whitespace-only text is what writers put there).
fn element() -> impl Strategy<Value = Element> {
    let leaf = ("[A-Za-z][A-Za-z0-9]{0,7}", any::<String>()).prop_map(|(name, text)| Element {
        name,
        children: Vec::new(),
        text,
    });
    leaf.prop_recursive(4, 32, 5, |inner| {
        ("[A-Za-z][A-Za-z0-9]{0,7}", proptest::collection::vec(inner, 1..5)).prop_map(|(name, children)| Element {
            name,
            children,
            text: String::new(),
        })
    })
}

fn write(el: &Element, out: &mut String) {
    out.push('<');
    out.push_str(&el.name);
    out.push('>');
    out.push_str(&xml::escape(&el.text));
    for c in &el.children {
        write(c, out);
    }
    out.push_str("</");
    out.push_str(&el.name);
    out.push('>');
}

/// Characters XML 1.0 can carry (as text or as a character reference).
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

const DELETE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object><Object><Key>c/d.txt</Key><VersionId>null</VersionId></Object></Delete>"#;
const COMPLETE: &str = r#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><PartNumber>1</PartNumber><ETag>"0cc175b9c0f1b6a831c399e269772661"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>92eb5ffee6ae2fec3ad71c777531578f</ETag></Part></CompleteMultipartUpload>"#;
const CREATE_BUCKET: &str = r#"<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"#;
const NOTIFICATION: &str = r#"<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><CloudFunctionConfiguration><Id>one</Id><CloudFunction>arn:aws:lambda:us-east-1:123456789012:function:f:live</CloudFunction><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>uploads/</Value></FilterRule><FilterRule><Name>Suffix</Name><Value>.jpg</Value></FilterRule></S3Key></Filter></CloudFunctionConfiguration><QueueConfiguration><Queue>arn:aws:sqs:us-east-1:123456789012:q</Queue><Event>s3:ObjectRemoved:Delete</Event></QueueConfiguration><EventBridgeConfiguration/></NotificationConfiguration>"#;

fn xml_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => propkit::mutated_one_of(
            [DELETE, COMPLETE, CREATE_BUCKET, NOTIFICATION].iter().map(|d| d.as_bytes().to_vec()).collect()
        ),
        1 => propkit::bytes(256),
        1 => element().prop_map(|e| {
            let mut s = String::new();
            write(&e, &mut s);
            s.into_bytes()
        }),
        1 => (1..XML_DEPTH_MAX * 4).prop_map(|n| format!("{}{}", "<a>".repeat(n), "</a>".repeat(n)).into_bytes()),
    ]
}

/// The destinations of notification configurations, as the parser keeps them.
fn destination() -> impl Strategy<Value = crate::notify::Destination> {
    use crate::notify::{Destination, Target};
    let target = prop_oneof![Just(Target::Lambda), Just(Target::Queue), Just(Target::Topic)];
    let events = proptest::collection::vec(
        proptest::sample::select(&["s3:ObjectCreated:Put", "s3:ObjectRemoved:*", "s3:ObjectTagging:Delete"][..]),
        1..3,
    );
    (
        target,
        "[A-Za-z0-9+/=]{1,20}",
        "[a-z0-9-]{1,20}",
        events,
        proptest::option::of(".{0,10}"),
        proptest::option::of(".{0,10}"),
    )
        .prop_map(|(target, id, name, events, prefix, suffix)| {
            let arn = match target {
                Target::Lambda => format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
                Target::Queue => format!("arn:aws:sqs:us-east-1:123456789012:{name}"),
                Target::Topic => format!("arn:aws:sns:us-east-1:123456789012:{name}"),
            };
            Destination { target, id, arn, events: events.into_iter().map(str::to_owned).collect(), prefix, suffix }
        })
}

proptest! {
    #![proptest_config(propkit::config(CASES))]

    /// Any body: the tree parser and each document parser answer, with S3's error codes.
    #[test]
    fn xml_bodies_never_panic(body in xml_body()) {
        if let Ok(root) = xml::parse(&body) {
            prop_assert!(!root.name.is_empty());
            if let Err(e) = crate::notify::parse(&root, "us-east-1") {
                prop_assert!(xml_error(&e), "{:?}", e);
            }
        }
        for result in [
            crate::objects::parse_delete(&body).map(|(_, keys)| {
                assert!(!keys.is_empty() && keys.len() <= DELETE_OBJECTS_KEYS_MAX);
            }),
            crate::multipart::parse_complete(&body).map(|parts| assert!(!parts.is_empty())),
            crate::buckets::location_constraint(&body).map(|_| ()),
        ] {
            if let Err(e) = result {
                prop_assert!(xml_error(&e), "{:?}", e);
            }
        }
    }

    /// Element trees written with `xml::escape` parse back to themselves (text of any
    /// character XML can carry, `\r` and control characters included).
    #[test]
    fn xml_round_trips(root in element()) {
        let mut clean = root.clone();
        fn strip(e: &mut Element) {
            e.text.retain(xml_char);
            e.children.iter_mut().for_each(strip);
        }
        strip(&mut clean);
        let mut doc = String::from(xml::DECLARATION);
        write(&clean, &mut doc);
        prop_assert_eq!(xml::parse(doc.as_bytes()), Ok(clean));
    }

    /// DeleteObjects keys round-trip, whatever their characters.
    #[test]
    fn delete_keys_round_trip(keys in proptest::collection::vec(".{1,40}", 1..5), quiet in any::<bool>()) {
        let keys: Vec<String> = keys.into_iter().map(|k| k.chars().filter(|c| xml_char(*c)).collect()).collect();
        let mut doc = format!("<Delete><Quiet>{quiet}</Quiet>");
        for k in &keys {
            doc.push_str(&format!("<Object><Key>{}</Key></Object>", xml::escape(k)));
        }
        doc.push_str("</Delete>");
        let (q, parsed) = crate::objects::parse_delete(doc.as_bytes()).unwrap();
        prop_assert_eq!(q, quiet);
        prop_assert_eq!(parsed.into_iter().map(|(k, _)| k).collect::<Vec<_>>(), keys);
    }

    /// Notification configurations GetBucketNotificationConfiguration renders parse back to
    /// themselves (when S3's overlap rule lets them in at all).
    #[test]
    fn notifications_round_trip(destinations in proptest::collection::vec(destination(), 0..4), event_bridge in any::<bool>()) {
        let mut config = crate::notify::Config { destinations, event_bridge };
        for d in &mut config.destinations {
            d.prefix = d.prefix.as_ref().map(|p| p.chars().filter(|c| xml_char(*c)).collect());
            d.suffix = d.suffix.as_ref().map(|p| p.chars().filter(|c| xml_char(*c)).collect());
        }
        let doc = crate::notify::render(&config);
        let root = xml::parse(doc.as_bytes()).unwrap();
        match crate::notify::parse(&root, "us-east-1") {
            Ok(parsed) => prop_assert_eq!(parsed, config),
            Err(e) => prop_assert_eq!(e.code(), "InvalidArgument"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// multipart/form-data

type Form = (Vec<(String, String)>, Option<(Option<String>, Vec<u8>)>, bool);

/// Runs the parser over `frames` as `post` does: fields, the file, and whether the form ended
/// properly (`finish`).
fn parse_form(frames: &[&[u8]], boundary: &str, max: usize) -> Result<Form, FormError> {
    let mut p = FormParser::new(boundary, max);
    let (mut fields, mut file, mut ended) = (Vec::new(), None, false);
    for frame in frames {
        p.push(frame);
        while let Some(ev) = p.next()? {
            match ev {
                Event::Field { name, value } => fields.push((name, value)),
                Event::FileStart { filename } => file = Some((filename, Vec::new())),
                Event::FileData(d) => {
                    assert!(!ended, "data after the file's end");
                    file.as_mut().expect("data after FileStart").1.extend_from_slice(&d);
                }
                Event::FileEnd => ended = true,
            }
        }
    }
    let finished = p.finish();
    Ok((fields, file, finished.is_ok()))
}

fn form_body(boundary: &str, fields: &[(String, Vec<u8>)], file: Option<(&str, &[u8])>) -> Vec<u8> {
    let mut out = b"preamble\r\n".to_vec();
    for (name, value) in fields {
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
        );
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if let Some((filename, content)) = file {
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: text/plain\r\n\r\n")
                .as_bytes(),
        );
        out.extend_from_slice(content);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\nepilogue").as_bytes());
    out
}

/// Content that contains pieces of the delimiter: CRLFs, dashes, the boundary's own text.
fn tricky_bytes(boundary: String) -> impl Strategy<Value = Vec<u8>> {
    let pieces =
        vec![b"\r\n".to_vec(), b"--".to_vec(), b"-".to_vec(), b"\r".to_vec(), boundary.into_bytes(), b"x".to_vec()];
    proptest::collection::vec(prop_oneof![proptest::sample::select(pieces), propkit::bytes(6)], 0..12)
        .prop_map(|v| v.concat())
}

/// A boundary, fields before the file, and the file (name, content).
type ValidForm = (String, Vec<(String, Vec<u8>)>, Option<(String, Vec<u8>)>);

fn valid_form() -> impl Strategy<Value = ValidForm> {
    "[A-Za-z0-9'()+_,./:=?-]{1,40}".prop_flat_map(|boundary| {
        let b = boundary.clone();
        (
            Just(boundary),
            proptest::collection::vec(("[a-z-]{1,12}", tricky_bytes(b.clone())), 0..4),
            proptest::option::of(("[a-zA-Z0-9 ._-]{0,12}", tricky_bytes(b))),
        )
            // Content never contains its delimiter (a sender picks a boundary that way).
            .prop_filter("content contains the delimiter", |(boundary, fields, file)| {
                let delimiter = format!("\r\n--{boundary}").into_bytes();
                let clean = |v: &[u8]| !v.windows(delimiter.len()).any(|w| w == delimiter);
                fields.iter().all(|(_, v)| clean(v)) && file.as_ref().is_none_or(|(_, c)| clean(c))
            })
    })
}

proptest! {
    #![proptest_config(propkit::config(CASES))]

    /// A well-formed form gives its fields and file, however it is cut into frames.
    #[test]
    fn forms_parse_the_same_in_any_framing((boundary, fields, file) in valid_form(), cuts in propkit::splits(4096)) {
        // A field named `file` is the file part; such names are not fields.
        let fields: Vec<(String, Vec<u8>)> = fields.into_iter().filter(|(n, _)| n != "file").collect();
        let body = form_body(&boundary, &fields, file.as_ref().map(|(n, c)| (n.as_str(), c.as_slice())));
        let whole = parse_form(&[&body], &boundary, FORM_FIELDS_BYTES_MAX).unwrap();
        let expected_fields: Vec<(String, String)> =
            fields.iter().map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned())).collect();
        prop_assert_eq!(&whole.0, &expected_fields);
        prop_assert_eq!(&whole.1, &file.map(|(n, c)| (Some(n), c)));
        prop_assert!(whole.2);
        let cuts: Vec<usize> = cuts.into_iter().map(|c| c % (body.len() + 1)).collect();
        let mut sorted = cuts.clone();
        sorted.sort_unstable();
        prop_assert_eq!(parse_form(&propkit::frames(&body, &sorted), &boundary, FORM_FIELDS_BYTES_MAX), Ok(whole));
    }

    /// Mutated and arbitrary bodies: an answer, never a panic, and the same answer in any
    /// framing (the bound on the data before the file included).
    #[test]
    fn mutated_forms_answer_the_same_in_any_framing(
        body in prop_oneof![
            4 => propkit::mutated(form_body("XyZ", &[("key".into(), b"k".to_vec())], Some(("a.txt", b"data\r\n--Xy")))),
            1 => propkit::bytes(300),
        ],
        cuts in propkit::splits(600),
        max in prop_oneof![Just(FORM_FIELDS_BYTES_MAX), 0usize..200],
    ) {
        let whole = parse_form(&[&body], "XyZ", max);
        let cuts: Vec<usize> = {
            let mut c: Vec<usize> = cuts.into_iter().map(|c| c % (body.len() + 1)).collect();
            c.sort_unstable();
            c
        };
        prop_assert_eq!(parse_form(&propkit::frames(&body, &cuts), "XyZ", max), whole);
    }

    /// Content-Type values: a boundary, none, or a clear error.
    #[test]
    fn content_types_never_panic(ct in prop_oneof![
        propkit::mutated_text("multipart/form-data; boundary=\"a b;c\"; charset=utf-8"),
        any::<String>(),
    ]) {
        if let Ok(Some(b)) = form::boundary(&ct) {
            prop_assert!(!b.is_empty() && !b.contains(['\r', '\n']));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// aws-chunked

type Decoded = (Vec<u8>, Vec<(String, String)>);

fn decode(frames: &[&[u8]]) -> Result<Decoded, ChunkError> {
    let mut d = Decoder::new();
    let mut out = Vec::new();
    for frame in frames {
        let mut input = *frame;
        while let Some(data) = d.decode(&mut input)? {
            out.extend_from_slice(data);
        }
    }
    Ok((out, d.finish()?))
}

/// An `aws-chunked` encoding of `payload` in chunks of the given sizes, signed or not, with
/// trailers or not.
fn encode(payload: &[u8], sizes: &[usize], signed: bool, trailers: &[(String, String)]) -> Vec<u8> {
    let sig = |out: &mut Vec<u8>| {
        if signed {
            out.extend_from_slice(b";chunk-signature=");
            out.extend_from_slice(&[b'a'; 64]);
        }
    };
    let mut out = Vec::new();
    let mut rest = payload;
    for size in sizes.iter().copied().chain(std::iter::once(usize::MAX)) {
        if rest.is_empty() {
            break;
        }
        let n = size.clamp(1, rest.len());
        out.extend_from_slice(format!("{n:x}").as_bytes());
        sig(&mut out);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
    }
    out.push(b'0');
    sig(&mut out);
    out.extend_from_slice(b"\r\n");
    for (name, value) in trailers {
        out.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn sorted_cuts(cuts: Vec<usize>, len: usize) -> Vec<usize> {
    let mut c: Vec<usize> = cuts.into_iter().map(|c| c % (len + 1)).collect();
    c.sort_unstable();
    c
}

proptest! {
    #![proptest_config(propkit::config(CASES))]

    /// Any valid encoding decodes to its payload and trailers, in any framing.
    #[test]
    fn chunked_bodies_decode_in_any_framing(
        payload in propkit::bytes(512),
        sizes in proptest::collection::vec(1usize..200, 0..8),
        signed in any::<bool>(),
        trailers in proptest::collection::vec(("x-amz-[a-z0-9-]{1,20}", "[A-Za-z0-9+/=]{0,44}"), 0..3),
        cuts in propkit::splits(2048),
    ) {
        let body = encode(&payload, &sizes, signed, &trailers);
        let cuts = sorted_cuts(cuts, body.len());
        let (data, got) = decode(&propkit::frames(&body, &cuts)).unwrap();
        prop_assert_eq!(data, payload);
        prop_assert_eq!(got, trailers);
    }

    /// Mutated encodings and garbage: a `ChunkError` or a result, never a panic, the same in
    /// any framing; the decoded payload is never longer than the body.
    #[test]
    fn mutated_chunked_bodies_answer_the_same_in_any_framing(
        body in prop_oneof![
            4 => propkit::mutated(encode(b"hello world, hello chunks", &[5, 7], true, &[("x-amz-checksum-crc32".into(), "AAAAAA==".into())])),
            1 => propkit::bytes(300),
        ],
        cuts in propkit::splits(600),
    ) {
        let whole = decode(&[&body]);
        if let Ok((data, _)) = &whole {
            prop_assert!(data.len() <= body.len());
        }
        let cuts = sorted_cuts(cuts, body.len());
        prop_assert_eq!(decode(&propkit::frames(&body, &cuts)), whole);
    }

    /// Chunk header lines and trailer sections are bounded, however they arrive.
    #[test]
    fn chunk_headers_are_bounded(extra in 1usize..64, step in 1usize..512) {
        let mut body = vec![b'1'; 1];
        body.extend(std::iter::repeat_n(b';', CHUNK_HEADER_BYTES_MAX + extra));
        body.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        let frames: Vec<&[u8]> = body.chunks(step).collect();
        prop_assert!(matches!(decode(&frames), Err(ChunkError::Malformed(_))));
    }
}

// ---------------------------------------------------------------------------------------------
// Headers, names, keys, tokens, routes

proptest! {
    #![proptest_config(propkit::config(CASES))]

    /// Range headers: parsed ranges resolve inside the object, printed ranges parse back.
    #[test]
    fn ranges(header in prop_oneof![any::<String>(), propkit::mutated_text("bytes=0-99"), "bytes=[0-9]{0,21}-[0-9]{0,21}"], size in any::<u64>(), a in any::<u64>(), b in any::<u64>()) {
        use crate::range::{ByteRange, parse, resolve};
        if let Some(r) = parse(&header)
            && let Some((first, last)) = resolve(r, size)
        {
            prop_assert!(first <= last && last < size);
        }
        let (a, b) = (a.min(b), a.max(b));
        prop_assert_eq!(parse(&format!("bytes={a}-{b}")), Some(ByteRange::FromTo(a, b)));
        prop_assert_eq!(parse(&format!("bytes={a}-")), Some(ByteRange::From(a)));
        prop_assert_eq!(parse(&format!("bytes=-{b}")), Some(ByteRange::Suffix(b)));
    }

    /// Bucket names against the rules written as a regular expression plus the exceptions.
    #[test]
    fn bucket_names(name in prop_oneof!["[a-z0-9.-]{1,65}", "[a-zA-Z0-9._ -]{0,70}", any::<String>(), "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}", "(xn--|sthree-)?[a-z0-9]{1,10}(-s3alias|--ol-s3|\\.mrap|--x-s3)?"]) {
        let re = regex_lite::Regex::new(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$").unwrap();
        let ip = regex_lite::Regex::new(r"^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$").unwrap();
        let reserved = ["xn--", "sthree-", "amzn-s3-demo-"].iter().any(|p| name.starts_with(p))
            || ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"].iter().any(|s| name.ends_with(s));
        let expected = re.is_match(&name) && !name.contains("..") && !ip.is_match(&name) && !reserved;
        prop_assert_eq!(crate::names::is_valid_bucket_name(&name), expected, "{:?}", name);
    }

    /// Hosts, keys, tokens, copy sources, digests: no panic on anything; encodings round-trip.
    #[test]
    fn small_parsers(s in prop_oneof![any::<String>(), propkit::mutated_text("/bucket/a%20key?versionId=null")], key in any::<String>()) {
        if let Some(b) = crate::names::bucket_from_host(&s) {
            prop_assert!(!b.is_empty());
        }
        let _ = crate::objects::check_key(&s);
        let _ = crate::objects::parse_copy_source(&s);
        let _ = crate::headers::parse_content_md5(&s);
        let _ = crate::list::After::from_token(&s);
        let _ = crate::encode::percent_decode(&s);
        let _ = crate::encode::form_encode_key(&s);
        prop_assert_eq!(crate::encode::percent_decode(&crate::encode::path_encode_key(&key)), Some(key.clone()));
        prop_assert_eq!(crate::encode::percent_decode(&crate::encode::uri_encode(&key)), Some(key.clone()));
        for is_prefix in [false, true] {
            let a = crate::list::After { name: key.clone(), is_prefix };
            prop_assert_eq!(crate::list::After::from_token(&a.token()), Some(a));
        }
        let pairs = [("x-amz-meta-".to_owned() + &s, key.clone()), ("content-encoding".to_owned(), s.clone())];
        let _ = crate::headers::meta_from_pairs(&pairs);
    }

    /// Routing any method, path and query answers an operation or an S3 error.
    #[test]
    fn routes_never_panic(
        method in prop_oneof![
            3 => proptest::sample::select(vec![Method::GET, Method::PUT, Method::POST, Method::DELETE, Method::HEAD, Method::OPTIONS]),
            1 => "[A-Za-z!#$%&'*+.^_`|~0-9-]{1,12}".prop_map(|m| Method::from_bytes(m.as_bytes()).expect("a token is a method")),
        ],
        path in prop_oneof!["(/[a-z0-9%.-]{0,12}){0,4}", any::<String>(), propkit::mutated_text("/bucket/key%2Fwith%20space")],
        query in proptest::option::of(prop_oneof!["[a-z=&%0-9-]{0,30}", any::<String>(), propkit::mutated_text("uploads&uploadId=abc&partNumber=1&list-type=2")]),
        copy in any::<bool>(),
        host in proptest::option::of("[a-z0-9.]{1,10}"),
    ) {
        let q = crate::router::Query::parse(query.as_deref());
        if let Ok(r) = crate::router::route(&method, &path, &q, copy, host.as_deref()) {
            let _ = r.endpoint;
        }
    }
}
