//! Browser-form POST uploads ("POST Object"): multipart/form-data bodies built by hand and sent
//! as raw HTTP, the objects then read with the SDK; answers, redirects, events, policies'
//! content-length-range, errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Event, LambdaFunctionConfiguration, NotificationConfiguration};
use md5::Digest as _;
use s3::S3Limits;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::{ACCOUNT, HEAVY, RawResponse, TestS3, bytes, code, keys, md5_b64, md5_hex};

const BOUNDARY: &str = "----VersaFormBoundary7MA4YWxkTrZu0gW";

/// A multipart/form-data body, built part by part as a browser would.
struct Form {
    boundary: String,
    body: Vec<u8>,
}

impl Form {
    fn new() -> Form {
        Form::with_boundary(BOUNDARY)
    }

    fn with_boundary(boundary: &str) -> Form {
        Form { boundary: boundary.to_owned(), body: Vec::new() }
    }

    fn field(mut self, name: &str, value: &str) -> Form {
        let part = format!("--{}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n", self.boundary);
        self.body.extend_from_slice(part.as_bytes());
        self
    }

    /// The `file` field, with a file name (as browsers send it) or without (a text value).
    fn file(mut self, filename: Option<&str>, data: &[u8]) -> Form {
        let disposition = match filename {
            Some(f) => format!("form-data; name=\"file\"; filename=\"{f}\""),
            None => "form-data; name=\"file\"".to_owned(),
        };
        let head =
            format!("--{}\r\nContent-Disposition: {disposition}\r\nContent-Type: image/png\r\n\r\n", self.boundary);
        self.body.extend_from_slice(head.as_bytes());
        self.body.extend_from_slice(data);
        self.body.extend_from_slice(b"\r\n");
        self
    }

    /// `(content type, body)`.
    fn finish(mut self) -> (String, Vec<u8>) {
        self.body.extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        (format!("multipart/form-data; boundary={}", self.boundary), self.body)
    }
}

async fn post(t: &TestS3, target: &str, form: Form) -> RawResponse {
    let (content_type, body) = form.finish();
    t.raw("POST", target, &[("content-type", &content_type)], &body).await
}

async fn bucket(t: &TestS3, name: &str) -> aws_sdk_s3::Client {
    let c = t.client();
    c.create_bucket().bucket(name).send().await.unwrap();
    c
}

async fn get(c: &aws_sdk_s3::Client, b: &str, k: &str) -> Vec<u8> {
    c.get_object().bucket(b).key(k).send().await.unwrap().body.collect().await.unwrap().into_bytes().to_vec()
}

/// The text of the first `<name>` element, entities resolved.
fn xml_text(r: &RawResponse, name: &str) -> Option<String> {
    let t = r.xml(name)?;
    Some(
        t.replace("&apos;", "'")
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

fn policy(conditions: &str) -> String {
    use base64::Engine as _;
    let doc = format!(r#"{{"expiration":"2030-01-01T00:00:00.000Z","conditions":[{conditions}]}}"#);
    base64::engine::general_purpose::STANDARD.encode(doc)
}

/// Nothing stored and no temp file left behind.
async fn nothing_stored(t: &TestS3, c: &aws_sdk_s3::Client, bucket: &str) {
    assert!(keys(c, bucket).await.is_empty());
    assert_eq!(std::fs::read_dir(t.path().join("tmp")).unwrap().count(), 0);
}

#[tokio::test]
async fn status_201_answers_a_post_response_and_the_object_reads_back() {
    let t = TestS3::start().await;
    let c = bucket(&t, "forms").await;
    let data = b"hello from a browser form\r\n--not a boundary\r\n";
    let form = Form::new()
        .field("key", "uploads/${filename}")
        .field("acl", "private")
        .field("Content-Type", "text/plain")
        .field("Cache-Control", "max-age=60")
        .field("Content-Disposition", "attachment; filename=\"${filename}\"")
        .field("x-amz-meta-Color", "blue")
        .field("success_action_status", "201")
        .field(
            "policy",
            &policy(r#"{"bucket":"forms"},["starts-with","$key","uploads/"],["content-length-range",1,1024]"#),
        )
        .field("x-amz-algorithm", "AWS4-HMAC-SHA256")
        .field("x-amz-credential", "AKIDEXAMPLE/20240101/us-east-1/s3/aws4_request")
        .field("x-amz-date", "20240101T000000Z")
        .field("x-amz-signature", "not-checked")
        .field("Content-MD5", &md5_b64(data))
        .file(Some("notes.txt"), data);
    let r = post(&t, "/forms", form).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let etag = md5_hex(data);
    let location = format!("http://{}/forms/uploads%2Fnotes.txt", t.addr);
    assert_eq!(r.header("content-type"), Some("application/xml"));
    assert_eq!(r.header("etag"), Some(format!("\"{etag}\"").as_str()));
    assert_eq!(r.header("location"), Some(location.as_str()));
    assert_eq!(
        r.text(),
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><PostResponse><Location>{location}</Location><Bucket>forms</Bucket><Key>uploads/notes.txt</Key><ETag>&quot;{etag}&quot;</ETag></PostResponse>"#
        )
    );

    let got = c.get_object().bucket("forms").key("uploads/notes.txt").send().await.unwrap();
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(got.cache_control(), Some("max-age=60"));
    assert_eq!(got.content_disposition(), Some("attachment; filename=\"notes.txt\""));
    assert_eq!(got.metadata().unwrap().get("color").map(String::as_str), Some("blue"));
    assert_eq!(got.e_tag(), Some(format!("\"{etag}\"").as_str()));
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), data);
}

#[tokio::test]
async fn default_204_then_200_and_fields_after_the_file_are_ignored() {
    let t = TestS3::start().await;
    let c = bucket(&t, "plain").await;
    // No success_action_status: 204. No Content-Type field: the file part's own type is not
    // used. A path in the file name counts only after its last backslash.
    let form = Form::new()
        .field("KEY", "in/${filename}")
        .file(Some(r"C:\Users\me\photo 1.png"), b"first")
        .field("x-amz-meta-late", "ignored")
        .field("success_action_status", "201");
    let r = post(&t, "/plain", form).await;
    assert_eq!((r.status, r.body.len()), (204, 0), "{}", r.text());
    assert_eq!(r.header("etag"), Some(format!("\"{}\"", md5_hex(b"first")).as_str()));
    assert_eq!(r.header("location"), Some(format!("http://{}/plain/in%2Fphoto%201.png", t.addr).as_str()));
    let head = c.head_object().bucket("plain").key("in/photo 1.png").send().await.unwrap();
    assert_eq!(head.content_type(), Some("binary/octet-stream"));
    assert!(head.metadata().unwrap().is_empty(), "{:?}", head.metadata());

    // 200 overwrites, with an empty body; the file may be a plain text value.
    let form = Form::new().field("key", "in/photo 1.png").field("success_action_status", "200").file(None, b"second");
    let r = post(&t, "/plain", form).await;
    assert_eq!((r.status, r.body.len()), (200, 0), "{}", r.text());
    assert_eq!(get(&c, "plain", "in/photo 1.png").await, b"second");

    // An invalid status is the default; an empty file is an empty object.
    let form = Form::new().field("key", "empty").field("success_action_status", "404").file(Some("e"), b"");
    let r = post(&t, "/plain", form).await;
    assert_eq!(r.status, 204);
    assert_eq!(get(&c, "plain", "empty").await, b"");
    assert_eq!(keys(&c, "plain").await, ["empty", "in/photo 1.png"]);
}

#[tokio::test]
async fn success_action_redirect_answers_303() {
    let t = TestS3::start().await;
    let c = bucket(&t, "redir").await;
    let form = Form::new()
        .field("key", "a b.txt")
        .field("success_action_redirect", "https://example.com/done?from=form")
        .field("success_action_status", "201")
        .file(Some("x"), b"redirected");
    let r = post(&t, "/redir", form).await;
    let etag = md5_hex(b"redirected");
    assert_eq!((r.status, r.body.len()), (303, 0), "{}", r.text());
    assert_eq!(
        r.header("location"),
        Some(format!("https://example.com/done?from=form&bucket=redir&key=a%20b.txt&etag=%22{etag}%22").as_str())
    );
    assert_eq!(r.header("etag"), Some(format!("\"{etag}\"").as_str()));
    assert_eq!(get(&c, "redir", "a b.txt").await, b"redirected");

    // The deprecated `redirect`; a URL S3 cannot interpret is as if absent.
    let form = Form::new().field("key", "k2").field("redirect", "http://localhost:9/x").file(Some("x"), b"2");
    let r = post(&t, "/redir", form).await;
    assert_eq!(r.status, 303);
    assert!(r.header("location").unwrap().starts_with("http://localhost:9/x?bucket=redir&key=k2&etag=%22"));
    let form = Form::new()
        .field("key", "k3")
        .field("success_action_redirect", "not a url")
        .field("success_action_status", "201")
        .file(Some("x"), b"3");
    let r = post(&t, "/redir", form).await;
    assert_eq!((r.status, r.xml("Key").as_deref()), (201, Some("k3")));
}

#[tokio::test]
async fn virtual_hosted_post_to_the_root() {
    let t = TestS3::start().await;
    let c = bucket(&t, "vhost").await;
    let host = format!("vhost.s3.localhost:{}", t.addr.port());
    let (content_type, body) = Form::new()
        .field("key", "dir/v.txt")
        .field("success_action_status", "201")
        .file(Some("v"), b"virtual")
        .finish();
    let r = t.raw("POST", "/", &[("host", &host), ("content-type", &content_type)], &body).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.xml("Location"), Some(format!("http://{host}/dir%2Fv.txt")));
    assert_eq!(r.xml("Bucket").as_deref(), Some("vhost"));
    assert_eq!(get(&c, "vhost", "dir/v.txt").await, b"virtual");
}

const ON_POST: &str = "arn:aws:lambda:us-east-1:000000000000:function:on-post";
const ON_PUT: &str = "arn:aws:lambda:us-east-1:000000000000:function:on-put";
const ON_ANY: &str = "arn:aws:lambda:us-east-1:000000000000:function:on-any";

fn lambda(id: &str, arn: &str, event: Event, prefix: &str) -> LambdaFunctionConfiguration {
    use aws_sdk_s3::types::{FilterRule, FilterRuleName, NotificationConfigurationFilter, S3KeyFilter};
    let rule = FilterRule::builder().name(FilterRuleName::Prefix).value(prefix).build();
    LambdaFunctionConfiguration::builder()
        .id(id)
        .lambda_function_arn(arn)
        .events(event)
        .filter(
            NotificationConfigurationFilter::builder().key(S3KeyFilter::builder().filter_rules(rule).build()).build(),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn post_uploads_emit_object_created_post() {
    let t = TestS3::start().await;
    let c = bucket(&t, "notified").await;
    c.put_bucket_notification_configuration()
        .bucket("notified")
        .notification_configuration(
            NotificationConfiguration::builder()
                .lambda_function_configurations(lambda("posts", ON_POST, Event::S3ObjectCreatedPost, "p/"))
                .lambda_function_configurations(lambda("puts", ON_PUT, Event::S3ObjectCreatedPut, "p/"))
                .lambda_function_configurations(lambda("all", ON_ANY, Event::S3ObjectCreated, "any/"))
                .build(),
        )
        .send()
        .await
        .unwrap();

    let r = post(&t, "/notified", Form::new().field("key", "p/red flower@1.jpg").file(Some("f"), b"petals")).await;
    assert_eq!(r.status, 204, "{}", r.text());
    // Delivered before the answer: no waiting.
    let got = t.notifier.delivered_to(ON_POST);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(t.notifier.delivered_to(ON_PUT).is_empty(), "a POST is not a Put");
    let records = got[0]["Records"].as_array().unwrap();
    assert_eq!(records.len(), 1);
    let rec = &records[0];
    assert_eq!(rec["eventVersion"], "2.1");
    assert_eq!(rec["eventSource"], "aws:s3");
    assert_eq!(rec["awsRegion"], "us-east-1");
    assert_eq!(rec["eventName"], "ObjectCreated:Post");
    assert_eq!(rec["userIdentity"]["principalId"], format!("AWS:{ACCOUNT}"));
    assert_eq!(rec["requestParameters"]["sourceIPAddress"], "127.0.0.1");
    assert_eq!(rec["responseElements"]["x-amz-request-id"], r.header("x-amz-request-id").unwrap());
    assert_eq!(rec["responseElements"]["x-amz-id-2"], r.header("x-amz-id-2").unwrap());
    assert_eq!(rec["s3"]["configurationId"], "posts");
    assert_eq!(rec["s3"]["bucket"]["name"], "notified");
    assert_eq!(rec["s3"]["object"]["key"], "p/red+flower%401.jpg");
    assert_eq!(rec["s3"]["object"]["size"], 6);
    assert_eq!(rec["s3"]["object"]["eTag"], md5_hex(b"petals"));
    let post_seq = rec["s3"]["object"]["sequencer"].as_str().unwrap().to_owned();

    // The same key by PutObject goes to the Put configuration only; `ObjectCreated:*` matches
    // a POST too.
    c.put_object().bucket("notified").key("p/x").body(ByteStream::from_static(b"x")).send().await.unwrap();
    assert_eq!(t.notifier.delivered_to(ON_PUT).len(), 1);
    assert_eq!(t.notifier.delivered_to(ON_POST).len(), 1);
    let r = post(&t, "/notified", Form::new().field("key", "any/y").file(Some("f"), b"y")).await;
    assert_eq!(r.status, 204);
    let any = t.notifier.delivered_to(ON_ANY);
    assert_eq!(any.len(), 1);
    assert_eq!(any[0]["Records"][0]["eventName"], "ObjectCreated:Post");
    assert!(any[0]["Records"][0]["s3"]["object"]["sequencer"].as_str().unwrap() > post_seq.as_str());

    // A rejected upload emits nothing.
    let r =
        post(&t, "/notified", Form::new().field("key", "p/z").field("tagging", "<Tagging/>").file(None, b"z")).await;
    assert_eq!(r.status, 501);
    assert_eq!(t.notifier.delivered_to(ON_POST).len(), 1);
}

#[tokio::test]
async fn content_length_range_bounds_the_upload() {
    let t = TestS3::start().await;
    let c = bucket(&t, "ranged").await;
    let p = policy(r#"["content-length-range", 10, 100]"#);
    let form = |data: &[u8]| Form::new().field("key", "k").field("Policy", &p).file(Some("f"), data);

    let r = post(&t, "/ranged", form(&[7u8; 101])).await;
    assert_eq!((r.status, r.xml("Code").as_deref()), (400, Some("EntityTooLarge")), "{}", r.text());
    assert_eq!(r.xml("Message").as_deref(), Some("Your proposed upload exceeds the maximum allowed size"));
    assert_eq!(r.xml("MaxSizeAllowed").as_deref(), Some("100"));
    assert_eq!(r.xml("ProposedSize").as_deref(), Some("101"));
    let r = post(&t, "/ranged", form(&[7u8; 5000])).await;
    assert_eq!(r.xml("Code").as_deref(), Some("EntityTooLarge"));
    let r = post(&t, "/ranged", form(b"tiny")).await;
    assert_eq!((r.status, r.xml("Code").as_deref()), (400, Some("EntityTooSmall")), "{}", r.text());
    assert_eq!(r.xml("Message").as_deref(), Some("Your proposed upload is smaller than the minimum allowed size"));
    assert_eq!(r.xml("ProposedSize").as_deref(), Some("4"));
    assert_eq!(r.xml("MinSizeAllowed").as_deref(), Some("10"));
    nothing_stored(&t, &c, "ranged").await;

    for size in [10, 100] {
        let r = post(&t, "/ranged", form(&vec![1u8; size])).await;
        assert_eq!(r.status, 204, "{size}: {}", r.text());
    }
    // A policy that does not parse bounds nothing (policies are not verified).
    let r = post(&t, "/ranged", Form::new().field("key", "k").field("policy", "%%%").file(Some("f"), b"x")).await;
    assert_eq!(r.status, 204);
}

#[tokio::test]
async fn the_object_size_limit_applies() {
    let t = TestS3::start_with(S3Limits { object_bytes_max: 1024, ..S3Limits::default() }).await;
    let c = bucket(&t, "limited").await;
    let r = post(&t, "/limited", Form::new().field("key", "k").file(Some("f"), &[0u8; 1025])).await;
    assert_eq!((r.xml("Code").as_deref(), r.xml("MaxSizeAllowed").as_deref()), (Some("EntityTooLarge"), Some("1024")));
    // A policy cannot raise it.
    let p = policy(r#"["content-length-range", 0, 1000000]"#);
    let r = post(&t, "/limited", Form::new().field("key", "k").field("policy", &p).file(Some("f"), &[0u8; 2000])).await;
    assert_eq!((r.xml("Code").as_deref(), r.xml("MaxSizeAllowed").as_deref()), (Some("EntityTooLarge"), Some("1024")));
    nothing_stored(&t, &c, "limited").await;
}

#[tokio::test]
async fn errors() {
    let t = TestS3::start().await;
    let c = bucket(&t, "errs").await;

    let missing_key =
        "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.";
    let r = post(&t, "/errs", Form::new().field("acl", "private").file(Some("f"), b"x")).await;
    assert_eq!((r.status, r.xml("Code").as_deref()), (400, Some("InvalidArgument")), "{}", r.text());
    assert_eq!(xml_text(&r, "Message").as_deref(), Some(missing_key));
    assert_eq!(r.xml("ArgumentName").as_deref(), Some("key"));
    // The key after the file is not seen.
    let r = post(&t, "/errs", Form::new().file(Some("f"), b"x").field("key", "late")).await;
    assert_eq!(xml_text(&r, "Message").as_deref(), Some(missing_key));

    let r = post(&t, "/errs", Form::new().field("key", "k").field("acl", "private")).await;
    assert_eq!((r.status, r.xml("Code").as_deref()), (400, Some("InvalidArgument")), "{}", r.text());
    assert_eq!(r.xml("Message").as_deref(), Some("POST requires exactly one file upload per request."));
    assert_eq!((r.xml("ArgumentName").as_deref(), r.xml("ArgumentValue").as_deref()), (Some("file"), Some("0")));

    let r = post(&t, "/no-such-bucket", Form::new().field("key", "k").file(Some("f"), b"x")).await;
    assert_eq!((r.status, r.xml("Code").as_deref()), (404, Some("NoSuchBucket")));
    assert_eq!(r.xml("BucketName").as_deref(), Some("no-such-bucket"));

    let r = t.raw("POST", "/errs", &[("content-type", "application/x-www-form-urlencoded")], b"key=k&file=x").await;
    assert_eq!((r.status, r.xml("Code").as_deref()), (412, Some("PreconditionFailed")), "{}", r.text());
    assert_eq!(r.xml("Condition").as_deref(), Some("Bucket POST must be of the enclosure-type multipart/form-data"));
    let r = t.raw("POST", "/errs", &[], b"").await;
    assert_eq!(r.status, 412);

    let malformed = "The body of your POST request is not well-formed multipart/form-data.";
    let (_, body) = Form::new().field("key", "k").file(Some("f"), b"x").finish();
    let r = t.raw("POST", "/errs", &[("content-type", "multipart/form-data")], &body).await;
    assert_eq!((r.status, r.xml("Code").as_deref()), (400, Some("MalformedPOSTRequest")));
    assert_eq!(r.xml("Message").as_deref(), Some(malformed));
    let (content_type, body) = Form::new().field("key", "k").file(Some("f"), b"cut short").finish();
    let truncated = &body[..body.len() - 12];
    let r = t.raw("POST", "/errs", &[("content-type", &content_type)], truncated).await;
    assert_eq!(r.xml("Code").as_deref(), Some("MalformedPOSTRequest"), "{}", r.text());

    let big = "v".repeat(21 << 10);
    let r = post(&t, "/errs", Form::new().field("key", "k").field("x-amz-meta-big", &big).file(Some("f"), b"x")).await;
    assert_eq!((r.status, r.xml("Code").as_deref()), (400, Some("MaxPostPreDataLengthExceededError")));
    assert_eq!(r.xml("Message").as_deref(), Some("Your POST request fields preceding the upload file were too large."));
    // Under the form limit but over S3's metadata limit.
    let meta = "v".repeat(3000);
    let r = post(&t, "/errs", Form::new().field("key", "k").field("x-amz-meta-m", &meta).file(Some("f"), b"x")).await;
    assert_eq!(r.xml("Code").as_deref(), Some("MetadataTooLarge"));

    let r = post(&t, "/errs", Form::new().field("key", "k").field("tagging", "<Tagging/>").file(Some("f"), b"x")).await;
    assert_eq!(
        (r.status, r.xml("Code").as_deref(), r.xml("Header").as_deref()),
        (501, Some("NotImplemented"), Some("tagging"))
    );
    let r = post(&t, "/errs", Form::new().field("key", "k").field("content-md5", &md5_b64(b"y")).file(Some("f"), b"x"))
        .await;
    assert_eq!(r.xml("Code").as_deref(), Some("BadDigest"));
    let r = post(&t, "/errs", Form::new().field("key", &"k".repeat(1025)).file(Some("f"), b"x")).await;
    assert_eq!(r.xml("Code").as_deref(), Some("KeyTooLongError"));
    let r = post(&t, "/errs?replication", Form::new().field("key", "k").file(Some("f"), b"x")).await;
    assert_eq!(r.status, 501);

    // Another account's bucket.
    let other = t.client_as("111111111111", "us-east-1");
    other.create_bucket().bucket("theirs").send().await.unwrap();
    let r = post(&t, "/theirs", Form::new().field("key", "k").file(Some("f"), b"x")).await;
    assert_eq!((r.status, r.xml("Code").as_deref()), (403, Some("AccessDenied")));

    nothing_stored(&t, &c, "errs").await;
    let e = c.get_object().bucket("errs").key("k").send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "NoSuchKey");
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A 64 MiB file, generated while it is sent, goes up by POST without the server holding it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_post_uploads_stream_through() {
    const MIB: usize = 1 << 20;
    const SIZE: usize = 64 * MIB;
    let _heavy = HEAVY.lock().await;
    let t = TestS3::start().await;
    let c = bucket(&t, "bigpost").await;

    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nbig.bin\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n"
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    let length = head.len() + SIZE + tail.len();

    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let baseline = rss_kib();
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };

    let mut s = tokio::net::TcpStream::connect(t.addr).await.unwrap();
    let request = format!(
        "POST /bigpost HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-type: multipart/form-data; boundary={BOUNDARY}\r\ncontent-length: {length}\r\n\r\n{head}",
        t.addr
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut md5 = md5::Md5::new();
    for i in 0..SIZE / MIB {
        let chunk = bytes(MIB, i as u64 + 7);
        md5.update(&chunk);
        s.write_all(&chunk).await.unwrap();
    }
    s.write_all(tail.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.unwrap();
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();

    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    let digest: [u8; 16] = md5.finalize().into();
    let etag = digest.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert!(answer.starts_with("http/1.1 204"), "{answer}");
    assert!(answer.contains(&format!("etag: \"{etag}\"")), "{answer}");
    let head = c.head_object().bucket("bigpost").key("big.bin").send().await.unwrap();
    assert_eq!(head.content_length(), Some(SIZE as i64));

    let growth_mib = peak.load(Ordering::Relaxed).saturating_sub(baseline) / 1024;
    eprintln!("large POST: resident memory grew by {growth_mib} MiB for a 64 MiB file");
    assert!(growth_mib < 32, "resident memory grew by {growth_mib} MiB while streaming a 64 MiB POST");
}
