//! The Runtime API as a runtime sees it: raw HTTP against a real endpoint.

use std::time::Duration;

use runtime_api::{Endpoint, Invocation, Outcome, Start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

fn invocation(id: &str) -> Invocation {
    Invocation {
        request_id: id.to_owned(),
        payload: axum::body::Bytes::from_static(br#"{"k":"v"}"#),
        deadline_ms: 1_700_000_000_000,
        invoked_function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f:prod".to_owned(),
        trace_id: "Root=1-5f0b0b0b-000000000000000000000000;Parent=0000000000000000;Sampled=0".to_owned(),
        client_context: Some(r#"{"custom":{"a":1}}"#.to_owned()),
        cognito_identity: None,
    }
}

fn endpoint() -> (Endpoint, std::net::SocketAddr) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    (Endpoint::serve(l).unwrap(), addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_response_and_the_errors_of_the_reference() {
    let (ep, addr) = endpoint();
    let rx = tokio::spawn(async move {
        // The runtime polls first; the invocation arrives while it waits.
        let next = tokio::spawn(http(addr, "GET", "/2018-06-01/runtime/invocation/next", &[], b""));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let rx = ep.invoke(invocation("req-1")).await.unwrap();
        let (status, head, body) = next.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, r#"{"k":"v"}"#);
        for h in [
            "lambda-runtime-aws-request-id: req-1",
            "lambda-runtime-deadline-ms: 1700000000000",
            "lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:000000000000:function:f:prod",
            "lambda-runtime-trace-id: root=1-5f0b0b0b",
            r#"lambda-runtime-client-context: {"custom":{"a":1}}"#,
        ] {
            assert!(head.contains(&h.to_ascii_lowercase()), "{h} in {head}");
        }
        assert_eq!(ep.started().await, Some(Start::Ready));
        (ep, rx)
    });
    let (ep, rx) = rx.await.unwrap();

    // A second /next before answering is an invalid state transition.
    let (status, _, body) = http(addr, "GET", "/2018-06-01/runtime/invocation/next", &[], b"").await;
    assert_eq!(status, 403);
    assert!(body.contains(r#""errorType":"InvalidStateTransition""#), "{body}");
    // Unknown request ids are refused.
    let (status, _, body) = http(addr, "POST", "/2018-06-01/runtime/invocation/nope/response", &[], b"{}").await;
    assert_eq!(
        (status, body.as_str()),
        (400, r#"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#)
    );
    let (status, _, body) = http(
        addr,
        "POST",
        "/2018-06-01/runtime/invocation/req-1/response",
        &[("lambda-runtime-function-response-mode", "sideways")],
        b"{}",
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("InvalidFunctionResponseMode"));
    let (status, _, body) = http(addr, "POST", "/2018-06-01/runtime/invocation/req-1/response", &[], b"\"ok\"").await;
    assert_eq!((status, body.as_str()), (202, r#"{"status":"OK"}"#));
    assert_eq!(rx.await.unwrap(), Outcome::Response(axum::body::Bytes::from_static(b"\"ok\"")));
    // Answered once: the id is no longer current.
    let (status, _, _) = http(addr, "POST", "/2018-06-01/runtime/invocation/req-1/response", &[], b"\"again\"").await;
    assert_eq!(status, 400);

    // Errors and oversized responses.
    let next = tokio::spawn(http(addr, "GET", "/2018-06-01/runtime/invocation/next", &[], b""));
    let rx = ep.invoke(invocation("req-2")).await.unwrap();
    next.await.unwrap();
    let (status, _, _) = http(
        addr,
        "POST",
        "/2018-06-01/runtime/invocation/req-2/error",
        &[("lambda-runtime-function-error-type", "Runtime.Custom")],
        br#"{"errorMessage":"boom","errorType":"Custom"}"#,
    )
    .await;
    assert_eq!(status, 202);
    match rx.await.unwrap() {
        Outcome::Error { error_type, body } => {
            assert_eq!(error_type.as_deref(), Some("Runtime.Custom"));
            assert_eq!(&body[..], br#"{"errorMessage":"boom","errorType":"Custom"}"#);
        }
        other => panic!("{other:?}"),
    }
    let next = tokio::spawn(http(addr, "GET", "/2018-06-01/runtime/invocation/next", &[], b""));
    let rx = ep.invoke(invocation("req-3")).await.unwrap();
    next.await.unwrap();
    let big = vec![b'x'; runtime_api::RESPONSE_BYTES_MAX + 1];
    let (status, _, body) = http(addr, "POST", "/2018-06-01/runtime/invocation/req-3/response", &[], &big).await;
    assert_eq!(status, 413);
    assert_eq!(
        body,
        r#"{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).","errorType":"RequestEntityTooLarge"}"#
    );
    assert_eq!(rx.await.unwrap(), Outcome::ResponseTooLarge);
    // init/error after the runtime started is refused.
    let (status, _, _) = http(addr, "POST", "/2018-06-01/runtime/init/error", &[], b"{}").await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_errors_are_reported_as_the_start() {
    let (ep, addr) = endpoint();
    let (status, _, body) = http(
        addr,
        "POST",
        "/2018-06-01/runtime/init/error",
        &[("lambda-runtime-function-error-type", "Runtime.ImportModuleError")],
        br#"{"errorMessage":"Unable to import module","errorType":"Runtime.ImportModuleError"}"#,
    )
    .await;
    assert_eq!((status, body.as_str()), (202, r#"{"status":"OK"}"#));
    match ep.started().await {
        Some(Start::InitError { error_type, .. }) => {
            assert_eq!(error_type.as_deref(), Some("Runtime.ImportModuleError"))
        }
        other => panic!("{other:?}"),
    }
}
