//! The HTTP server against hostile clients (`api::listener`): header-read and idle timeouts,
//! bounds on the head, stalled bodies, the connection limit making room for new clients, and
//! TLS. Timeouts are shortened through `Config::http` so each test takes about a second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use testkit::TestServer;
use testkit::http::Client;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The shortened timeouts of these tests.
const SHORT: Duration = Duration::from_millis(500);
/// Longest wait for something that should happen after `SHORT`.
const PATIENCE: Duration = Duration::from_secs(10);

const HALF_HEAD: &[u8] = b"GET /_versa/health HTTP/1.1\r\nhost: localhost\r\nx-slow: ";

/// How reading a connection to its end went.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The server closed the connection (FIN) after sending these bytes.
    Closed(String),
    /// The connection was reset after these bytes.
    Reset(String),
    /// Still open after `PATIENCE`, with these bytes.
    Open(String),
}

async fn read_to_end<S: AsyncRead + Unpin>(s: &mut S, patience: Duration) -> End {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return End::Open(String::from_utf8_lossy(&got).into_owned()),
            Ok(Ok(0)) => return End::Closed(String::from_utf8_lossy(&got).into_owned()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(_)) => return End::Reset(String::from_utf8_lossy(&got).into_owned()),
        }
    }
}

async fn start(tweak: impl FnOnce(&mut api::listener::Limits)) -> TestServer {
    TestServer::start_with(|c| {
        c.sandbox = false;
        tweak(&mut c.http);
    })
    .await
}

async fn slow_client(server: &TestServer) -> TcpStream {
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(HALF_HEAD).await.unwrap();
    s
}

/// Whether the server closes `s` within `PATIENCE` (reading returns EOF or an error). For the
/// positive claim, so a loaded machine cannot make it fail.
async fn is_closed(s: &mut TcpStream) -> bool {
    !matches!(read_to_end(s, PATIENCE).await, End::Open(_))
}

/// Whether `s` is still open after a short look (300 ms). For the negative claim: a slow
/// server cannot make an open connection look closed.
async fn stays_open(s: &mut TcpStream) -> bool {
    matches!(read_to_end(s, Duration::from_millis(300)).await, End::Open(_))
}

/// Reads one whole answer with a `content-length` body, waiting up to `PATIENCE`, and leaves
/// the connection open.
async fn read_answer(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return text;
            }
        }
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            other => panic!("no whole answer: {other:?} after {text:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_head_is_closed_without_an_answer_after_the_header_timeout() {
    let server = start(|l| l.header_read_timeout = SHORT).await;
    let mut s = slow_client(&server).await;
    let t = Instant::now();
    assert_eq!(read_to_end(&mut s, PATIENCE).await, End::Closed(String::new()));
    assert!(t.elapsed() >= SHORT - Duration::from_millis(50), "closed after {:?}", t.elapsed());

    // A byte now and then does not help: the timeout covers the whole head.
    let mut s = slow_client(&server).await;
    let t = Instant::now();
    let dribble = async {
        for _ in 0..20 {
            tokio::time::sleep(SHORT / 5).await;
            if s.write_all(b"a").await.is_err() {
                break;
            }
        }
    };
    dribble.await;
    assert!(!stays_open(&mut s).await, "still open after {:?} of dribbling", t.elapsed());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let server = start(|l| l.header_read_timeout = SHORT).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /_versa/health HTTP/1.1\r\nhost: localhost\r\n\r\n").await.unwrap();
    // The answer, then nothing until the server closes the idle connection.
    let t = Instant::now();
    let End::Closed(text) = read_to_end(&mut s, PATIENCE).await else { panic!("not closed") };
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("\"tls\":false"), "{text}");
    assert!(t.elapsed() >= SHORT - Duration::from_millis(50), "closed after {:?}", t.elapsed());

    // A keep-alive client that keeps asking is served on the same connection throughout.
    let mut client = Client::new(server.addr);
    for _ in 0..5 {
        assert_eq!(client.send("GET", "/_versa/health", &[], b"").await.unwrap().status, 200);
        tokio::time::sleep(SHORT / 3).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_or_too_large_headers_get_431_and_the_connection_closes() {
    let server = start(|_| {}).await;
    let answer_431 = "HTTP/1.1 431 Request Header Fields Too Large\r\n";

    // 100 headers (with host) are served; 101 are not.
    let head = |n: usize| {
        let mut h = "GET /_versa/health HTTP/1.1\r\nhost: localhost\r\n".to_owned();
        for i in 1..n {
            h.push_str(&format!("x-h{i}: v\r\n"));
        }
        h.push_str("connection: close\r\n\r\n");
        h
    };
    for (headers, served) in [(api::listener::HEADERS_MAX - 1, true), (api::listener::HEADERS_MAX, false)] {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        // `connection: close` is one more header.
        s.write_all(head(headers).as_bytes()).await.unwrap();
        let End::Closed(text) = read_to_end(&mut s, PATIENCE).await else { panic!("not closed") };
        if served {
            assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        } else {
            assert!(text.starts_with(answer_431), "{text}");
            assert!(text.contains("connection: close\r\ncontent-length: 0\r\n"), "{text}");
        }
    }

    // A 32 KiB header is served; a head that reaches 64 KiB unfinished gets 431.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let big = format!(
        "GET /_versa/health HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\nx-big: {}\r\n\r\n",
        "a".repeat(32 * 1024)
    );
    s.write_all(big.as_bytes()).await.unwrap();
    let End::Closed(text) = read_to_end(&mut s, PATIENCE).await else { panic!("not closed") };
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");

    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let mut huge = HALF_HEAD.to_vec();
    huge.resize(api::listener::HEAD_BYTES_MAX, b'a');
    s.write_all(&huge).await.unwrap();
    let End::Closed(text) = read_to_end(&mut s, PATIENCE).await else { panic!("not closed") };
    // hyper's answer: the status, `connection: close`, an empty body and a date; nothing else.
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert_eq!(format!("{}\r\n", lines[0]), answer_431);
    assert_eq!(lines[1..3], ["connection: close", "content-length: 0"]);
    assert!(lines[3].starts_with("date: "), "{text}");
    assert_eq!(lines[4..], ["", ""]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_body_is_dropped_after_the_frame_timeout() {
    let server = start(|l| l.body_frame_timeout = SHORT).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(
        b"POST /2015-03-31/functions HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
          content-length: 1000\r\n\r\n{\"FunctionName\":",
    )
    .await
    .unwrap();
    let t = Instant::now();
    let end = read_to_end(&mut s, PATIENCE).await;
    assert!(t.elapsed() >= SHORT - Duration::from_millis(50), "ended after {:?}", t.elapsed());
    // Dropped: no answer (the handler would have mistaken the failed body for a large one).
    assert_eq!(end, End::Closed(String::new()));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_a_large_answer_loses_its_connection() {
    let server = start(|l| l.response_stall_timeout = SHORT).await;
    let s3 = crate::support::s3_client(&server);
    s3.create_bucket().bucket("big").send().await.unwrap();
    // Far more than the socket buffers hold, so the server must wait for the client to read.
    const SIZE: usize = 48 * 1024 * 1024;
    let body = aws_sdk_s3::primitives::ByteStream::from(vec![7u8; SIZE]);
    s3.put_object().bucket("big").key("object").body(body).send().await.unwrap();

    let mut reader = TcpStream::connect(server.addr).await.unwrap();
    reader.write_all(b"GET /big/object HTTP/1.1\r\nhost: localhost\r\n\r\n").await.unwrap();
    let mut first = [0u8; 1024];
    let n = reader.read(&mut first).await.unwrap();
    assert!(first[..n].starts_with(b"HTTP/1.1 200 OK"), "{}", String::from_utf8_lossy(&first[..n]));
    // Stop reading for longer than the stall timeout, then read what is left.
    tokio::time::sleep(SHORT * 4).await;
    let mut rest = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, reader.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(k)) => rest += k,
            Err(_) => panic!("the connection stayed open after {rest} more bytes"),
        }
    }
    assert!(n + rest < SIZE, "the whole answer arrived ({} bytes): the stalled connection was not closed", n + rest);

    // A client that keeps reading gets the whole object.
    let o = s3.get_object().bucket("big").key("object").send().await.unwrap();
    assert_eq!(o.body.collect().await.unwrap().into_bytes().len(), SIZE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_limit_slow_then_idle_connections_make_room_for_new_clients() {
    let server = start(|l| l.connections_max = 3).await;
    // A keep-alive client, idle after its request; then two slow heads.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /_versa/health HTTP/1.1\r\nhost: localhost\r\n\r\n").await.unwrap();
    let text = read_answer(&mut idle).await;
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    let mut slow1 = slow_client(&server).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut slow2 = slow_client(&server).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Full: each new client is answered; the oldest slow head goes first, then the next one,
    // though the idle connection is older.
    let t = Instant::now();
    let mut first = Client::new(server.addr);
    assert_eq!(first.send("GET", "/_versa/health", &[], b"").await.unwrap().status, 200);
    assert!(is_closed(&mut slow1).await);
    assert!(stays_open(&mut slow2).await);
    let mut second = Client::new(server.addr);
    assert_eq!(second.send("GET", "/2015-03-31/functions/", &[], b"").await.unwrap().status, 200);
    assert!(is_closed(&mut slow2).await);
    assert!(stays_open(&mut idle).await);
    // Only idle connections now: the one idle the longest goes.
    let mut third = Client::new(server.addr);
    assert_eq!(third.send("GET", "/_versa/health", &[], b"").await.unwrap().status, 200);
    assert!(is_closed(&mut idle).await);
    assert!(t.elapsed() < PATIENCE);
    // The evicted keep-alive clients reconnect (the raw client does) and are served again.
    assert_eq!(first.send("GET", "/_versa/health", &[], b"").await.unwrap().status, 200);
    server.stop().await;
}

/// The test certificate (`tests/fixtures/tls`): a CA and a server certificate for 127.0.0.1
/// and localhost, valid until 2126.
fn fixture(name: &str) -> std::path::PathBuf {
    crate::support::manifest_dir().join("tests/fixtures/tls").join(name)
}

fn tls_connector() -> tokio_rustls::TlsConnector {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(fixture("ca.pem")).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    #[allow(deprecated)] // ring, as the server (no post-quantum key exchange; fine for a test)
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, request: &str) -> End {
    s.write_all(request.as_bytes()).await.unwrap();
    read_to_end(s, PATIENCE).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_the_api_and_health_says_so() {
    let server = TestServer::start_with(|c| {
        c.sandbox = false;
        c.http.tls_handshake_timeout = SHORT;
        c.tls = Some(server::TlsFiles { cert: fixture("cert.pem"), key: fixture("key.pem") });
    })
    .await;
    let connector = tls_connector();
    for name in ["localhost", "127.0.0.1"] {
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let domain = rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap();
        let mut tls = connector.connect(domain, tcp).await.unwrap();
        let End::Closed(text) =
            exchange(&mut tls, "GET /_versa/health HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").await
        else {
            panic!("not closed")
        };
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("\"tls\":true"), "{text}");
    }
    // ListFunctions over TLS.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let mut tls = connector.connect("localhost".try_into().unwrap(), tcp).await.unwrap();
    let End::Closed(text) =
        exchange(&mut tls, "GET /2015-03-31/functions/ HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").await
    else {
        panic!("not closed")
    };
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n") && text.contains("\"Functions\":[]"), "{text}");

    // URLs in answers to a TLS request say https (Code.Location of GetFunction).
    use base64::Engine;
    let zip = base64::engine::general_purpose::STANDARD.encode(testkit::zip::hello());
    let body = format!(
        r#"{{"FunctionName":"tls-fn","Runtime":"provided.al2023","Role":"arn:aws:iam::123456789012:role/r","Handler":"bootstrap","Code":{{"ZipFile":"{zip}"}}}}"#
    );
    for request in [
        format!(
            "POST /2015-03-31/functions HTTP/1.1\r\nhost: localhost\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ),
        "GET /2015-03-31/functions/tls-fn HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n".to_owned(),
    ] {
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let mut tls = connector.connect("localhost".try_into().unwrap(), tcp).await.unwrap();
        let End::Closed(text) = exchange(&mut tls, &request).await else { panic!("not closed") };
        assert!(text.starts_with("HTTP/1.1 20"), "{text}");
        if request.starts_with("GET") {
            assert!(text.contains("\"Location\":\"https://localhost/_versa/code/"), "{text}");
        }
    }

    // Plain HTTP on the TLS port is not served: the handshake fails and the server closes.
    let mut plain = TcpStream::connect(server.addr).await.unwrap();
    let end = exchange(&mut plain, "GET /_versa/health HTTP/1.1\r\nhost: localhost\r\n\r\n").await;
    assert!(matches!(&end, End::Closed(t) | End::Reset(t) if !t.contains("200 OK")), "{end:?}");

    // A client that never starts the handshake is closed after the handshake timeout.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let t = Instant::now();
    assert_eq!(read_to_end(&mut silent, PATIENCE).await, End::Closed(String::new()));
    assert!(t.elapsed() >= SHORT - Duration::from_millis(50), "closed after {:?}", t.elapsed());
    server.stop().await;
}
