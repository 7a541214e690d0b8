//! The logs API: function logs in `/aws/lambda/<name>`, one stream per environment named with
//! the version that ran, read with the CloudWatch Logs SDK on the same endpoint.

use std::time::Duration;

use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use testkit::TestServer;

use crate::invoke::create_py;

pub const PRINTER: &str =
    "def handler(e, c):\n    print('marker', e['marker'], 'ran', c.function_version)\n    return 'ok'\n";

/// Waits until FilterLogEvents finds `term` in `group`; returns (stream, message) of each hit.
pub async fn find(logs: &aws_sdk_cloudwatchlogs::Client, group: &str, term: &str) -> Vec<(String, String)> {
    let start = std::time::Instant::now();
    loop {
        let mut hits = Vec::new();
        let mut token = None;
        loop {
            let r = logs
                .filter_log_events()
                .log_group_name(group)
                .filter_pattern(format!("\"{term}\""))
                .set_next_token(token)
                .send()
                .await;
            let r = match r {
                Ok(r) => r,
                // The group appears with the function's first log line.
                Err(e) if e.code() == Some("ResourceNotFoundException") => break,
                Err(e) => panic!("FilterLogEvents: {e:?}"),
            };
            for e in r.events() {
                hits.push((e.log_stream_name().unwrap().to_owned(), e.message().unwrap().to_owned()));
            }
            token = r.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        if !hits.is_empty() {
            return hits;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no log event with {term:?} in {group}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `YYYY/MM/DD/[<version>]<32 hex>`, as Lambda names streams; returns the version.
pub fn stream_version(stream: &str) -> &str {
    let (date, rest) = stream.split_at(11);
    let d: Vec<&str> = date.trim_end_matches('/').split('/').collect();
    assert!(
        d.len() == 3 && d[0].len() == 4 && d[1].len() == 2 && d[2].len() == 2,
        "stream {stream:?} does not start with YYYY/MM/DD/"
    );
    assert!(d.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())), "{stream:?}");
    let rest = rest.strip_prefix('[').unwrap_or_else(|| panic!("{stream:?}"));
    let (version, id) = rest.split_once(']').unwrap_or_else(|| panic!("{stream:?}"));
    assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{stream:?}");
    version
}

async fn event(c: &aws_sdk_lambda::Client, name: &str, qualifier: &str, marker: &str) {
    let r = c
        .invoke()
        .function_name(name)
        .qualifier(qualifier)
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(format!(r#"{{"marker":"{marker}"}}"#)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status_code(), 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_invoke_logs_are_found_in_a_stream_named_with_the_version_that_ran() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let logs = server.logs();
    create_py(&c, "printer", PRINTER).await;
    c.publish_version().function_name("printer").send().await.unwrap();
    c.update_function_configuration().function_name("printer").description("v2").send().await.unwrap();
    c.publish_version().function_name("printer").send().await.unwrap();
    c.create_alias().function_name("printer").name("prod").function_version("1").send().await.unwrap();

    event(&c, "printer", "prod", "first-event").await;
    let hits = find(&logs, "/aws/lambda/printer", "first-event").await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(stream_version(&hits[0].0), "1");
    assert_eq!(hits[0].1.trim_end(), "marker first-event ran 1");
    let first_stream = hits[0].0.clone();

    // prod moves: the next event runs version 2, in a stream of its own.
    c.update_alias().function_name("printer").name("prod").function_version("2").send().await.unwrap();
    event(&c, "printer", "prod", "second-event").await;
    let hits = find(&logs, "/aws/lambda/printer", "second-event").await;
    assert_eq!(stream_version(&hits[0].0), "2");
    assert_eq!(hits[0].1.trim_end(), "marker second-event ran 2");

    // The stream holds the environment's init phase, then the invocation's whole log: START,
    // the function's line, END, REPORT.
    let got = logs
        .get_log_events()
        .log_group_name("/aws/lambda/printer")
        .log_stream_name(&first_stream)
        .start_from_head(true)
        .send()
        .await
        .unwrap();
    // (A host without the function's exact runtime adds Versa's notice after INIT_START.)
    let messages: Vec<&str> =
        got.events().iter().map(|e| e.message().unwrap()).filter(|m| !m.starts_with("INIT_NOTICE ")).collect();
    assert_eq!(messages.len(), 5, "{messages:?}");
    assert!(messages[0].starts_with("INIT_START Runtime Version: python:3.12.v"), "{messages:?}");
    assert!(messages[1].starts_with("START RequestId: ") && messages[1].ends_with(" Version: 1"), "{messages:?}");
    assert_eq!(messages[2].trim_end(), "marker first-event ran 1");
    assert!(messages[3].starts_with("END RequestId: "), "{messages:?}");
    assert!(messages[4].starts_with("REPORT RequestId: ") && messages[4].contains("Init Duration"), "{messages:?}");
    assert!(got.events().windows(2).all(|w| w[0].timestamp() <= w[1].timestamp()));

    // The group and both streams are listed.
    let groups = logs.describe_log_groups().log_group_name_prefix("/aws/lambda/").send().await.unwrap();
    let names: Vec<&str> = groups.log_groups().iter().map(|g| g.log_group_name().unwrap()).collect();
    assert_eq!(names, ["/aws/lambda/printer"]);
    assert_eq!(
        groups.log_groups()[0].arn(),
        Some("arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/printer:*")
    );
    let streams = logs.describe_log_streams().log_group_name("/aws/lambda/printer").send().await.unwrap();
    let mut versions: Vec<&str> =
        streams.log_streams().iter().map(|s| stream_version(s.log_stream_name().unwrap())).collect();
    versions.sort();
    assert_eq!(versions, ["1", "2"]);

    // Logs are scoped by account and region like everything else.
    let elsewhere = testkit::logs_client(&server.endpoint(), "test", "eu-west-1");
    let other = elsewhere.describe_log_groups().send().await.unwrap();
    assert!(other.log_groups().is_empty());
}

/// The messages of a log group's only stream, once one of them starts with `last`.
pub async fn stream_messages(logs: &aws_sdk_cloudwatchlogs::Client, group: &str, last: &str) -> Vec<String> {
    let start = std::time::Instant::now();
    loop {
        if let Ok(streams) = logs.describe_log_streams().log_group_name(group).send().await
            && let [stream] = streams.log_streams()
        {
            let got = logs
                .get_log_events()
                .log_group_name(group)
                .log_stream_name(stream.log_stream_name().unwrap())
                .start_from_head(true)
                .send()
                .await
                .unwrap();
            let messages: Vec<String> = got.events().iter().map(|e| e.message().unwrap().to_owned()).collect();
            if messages.iter().any(|m| m.starts_with(last)) {
                return messages;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no stream of {group} with a line starting {last:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_logs_its_init_phase_in_the_stream_before_start_and_outside_the_tail() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let logs = server.logs();
    let code = "import sys\nprint('loading the model')\nsys.stdout.write('no newline')\ndef handler(e, c):\n    print('handling')\n    return 'ok'\n";
    create_py(&c, "chatty", code).await;
    let r = c.invoke().function_name("chatty").log_type(aws_sdk_lambda::types::LogType::Tail).send().await.unwrap();
    use base64::Engine;
    let tail =
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(r.log_result().unwrap()).unwrap()).unwrap();
    let lines: Vec<&str> = tail.lines().collect();
    assert!(lines[0].starts_with("START RequestId: ") && lines[0].ends_with(" Version: $LATEST"), "{tail}");
    assert_eq!(lines[1], "handling", "{tail}");
    assert!(
        !tail.contains("loading the model") && !tail.contains("INIT_"),
        "init output stays out of the tail: {tail}"
    );
    assert!(!tail.contains("no newline"), "{tail}");

    let messages = stream_messages(&logs, "/aws/lambda/chatty", "REPORT ").await;
    let messages: Vec<&str> = messages.iter().map(|m| m.as_str()).filter(|m| !m.starts_with("INIT_NOTICE ")).collect();
    // INIT_START carries the runtime version and the ARN GetFunction reports.
    let f = c.get_function_configuration().function_name("chatty").send().await.unwrap();
    let arn = f.runtime_version_config().unwrap().runtime_version_arn().unwrap();
    let (version, rest) = messages[0].split_once('\t').unwrap_or_else(|| panic!("{messages:?}"));
    assert!(version.starts_with("INIT_START Runtime Version: python:3.12.v"), "{messages:?}");
    assert!(version["INIT_START Runtime Version: python:3.12.v".len()..].parse::<u32>().is_ok(), "{messages:?}");
    assert_eq!(rest, format!("Runtime Version ARN: {arn}"));
    assert_eq!(messages[1..3], ["loading the model", "no newline"]);
    assert!(messages[3].starts_with("START RequestId: "), "{messages:?}");
    assert_eq!(messages[4], "handling");
    assert!(messages[5].starts_with("END RequestId: "), "{messages:?}");
    assert!(messages[6].starts_with("REPORT RequestId: ") && messages[6].contains("\tInit Duration: "), "{messages:?}");
    assert_eq!(messages.len(), 7, "{messages:?}");

    // A warm invoke opens no init phase.
    c.invoke().function_name("chatty").send().await.unwrap();
    let start = std::time::Instant::now();
    let messages = loop {
        let m = stream_messages(&logs, "/aws/lambda/chatty", "REPORT ").await;
        if m.iter().filter(|m| m.starts_with("REPORT ")).count() == 2 || start.elapsed() > Duration::from_secs(20) {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(messages.iter().filter(|m| m.starts_with("INIT_START ")).count(), 1, "{messages:?}");
    assert_eq!(messages.iter().filter(|m| m.starts_with("START ")).count(), 2, "{messages:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletion_and_errors() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let logs = server.logs();
    create_py(&c, "short", PRINTER).await;
    c.invoke().function_name("short").payload(Blob::new(r#"{"marker":"sync-call"}"#)).send().await.unwrap();
    find(&logs, "/aws/lambda/short", "sync-call").await;

    logs.put_retention_policy().log_group_name("/aws/lambda/short").retention_in_days(7).send().await.unwrap();
    let groups = logs.describe_log_groups().log_group_name_prefix("/aws/lambda/short").send().await.unwrap();
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(7));

    let e = logs.put_retention_policy().log_group_name("/aws/lambda/short").retention_in_days(2).send().await;
    let e = e.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterException"), "{e:?}");
    let e = logs.put_retention_policy().log_group_name("/aws/lambda/nope").retention_in_days(7).send().await;
    let e = e.unwrap_err();
    assert_eq!(e.code(), Some("ResourceNotFoundException"));
    assert_eq!(e.message(), Some("The specified log group does not exist."));

    logs.delete_log_group().log_group_name("/aws/lambda/short").send().await.unwrap();
    let groups = logs.describe_log_groups().send().await.unwrap();
    assert!(groups.log_groups().is_empty());
    let e = logs.get_log_events().log_group_name("/aws/lambda/short").log_stream_name("x").send().await;
    assert_eq!(e.unwrap_err().code(), Some("ResourceNotFoundException"));
    let e = logs.delete_log_group().log_group_name("/aws/lambda/short").send().await;
    assert_eq!(e.unwrap_err().code(), Some("ResourceNotFoundException"));

    // The function's next invocation creates the group again.
    c.invoke().function_name("short").payload(Blob::new(r#"{"marker":"after-delete"}"#)).send().await.unwrap();
    find(&logs, "/aws/lambda/short", "after-delete").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_dispatched_by_the_signed_service() {
    let server = TestServer::start().await;
    let mut http = testkit::http::Client::new(server.addr);
    let sign = |service: &str| {
        format!(
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
        )
    };
    // A service Versa does not serve gets a JSON error naming it.
    let r = http.send("POST", "/", &[("authorization", &sign("kinesis"))], b"{}").await.unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.header("x-amzn-errortype"), Some("UnknownServiceException"));
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["__type"], "UnknownServiceException");
    assert!(body["message"].as_str().unwrap().contains("'kinesis'"), "{body}");

    // Logs requests, signed or recognised by their target, reach the logs API.
    let target = ("x-amz-target", "Logs_20140328.DescribeLogGroups");
    let r = http.send("POST", "/", &[("authorization", &sign("logs")), target], b"{}").await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&r.body).unwrap(), serde_json::json!({"logGroups": []}));
    let r = http.send("POST", "/", &[target], b"{}").await.unwrap();
    assert_eq!(r.status, 200);
    // Garbage JSON and unknown targets get CloudWatch's errors.
    let r = http.send("POST", "/", &[target], b"{not json").await.unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.header("x-amzn-errortype"), Some("SerializationException"));
    let r = http.send("POST", "/", &[("x-amz-target", "Logs_20140328.Nope")], b"{}").await.unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.header("x-amzn-errortype"), Some("UnknownOperationException"));
    // Lambda's API is unaffected.
    let r = http.send("GET", "/2015-03-31/functions/", &[("authorization", &sign("lambda"))], b"").await.unwrap();
    assert_eq!(r.status, 200);
}
