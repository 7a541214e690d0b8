//! The CloudWatch metrics API (issue 10 point 2): the AWS SDK for Rust (Smithy RPC v2 CBOR),
//! boto3 in JSON 1.0 and in the query protocol, the aws CLI, and raw malformed requests.

// JUSTIFICATION: the boto3 test runs the real `python3` with boto3.
#![allow(clippy::disallowed_methods)]

use crate::support::boto3_available;
use std::time::SystemTime;

use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, DimensionFilter, Metric, MetricDataQuery, MetricDatum, MetricStat, StandardUnit, Statistic, StatisticSet,
};
use aws_sdk_lambda::primitives::Blob;
use testkit::TestServer;

use crate::support::*;

fn cloudwatch_with(endpoint: &str, id: &str, secret: &str) -> aws_sdk_cloudwatch::Client {
    cloudwatch_client(endpoint, id, secret)
}

fn cloudwatch(server: &TestServer) -> aws_sdk_cloudwatch::Client {
    cloudwatch_with(&server.endpoint(), "test", "test")
}

fn dim(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

fn at(ms: i64) -> DateTime {
    DateTime::from_millis(ms)
}

/// (code, "message status") of an SDK error.
fn code<E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<
        impl std::fmt::Debug,
        aws_sdk_cloudwatch::error::SdkError<E, aws_sdk_cloudwatch::config::http::HttpResponse>,
    >,
) -> (String, String) {
    let e = r.expect_err("an error");
    let status = e.raw_response().map_or(0, |r| r.status().as_u16());
    (e.code().unwrap_or_default().to_owned(), format!("{} {status}", e.message().unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_sdk_round_trips_metrics_over_cbor() {
    let server = TestServer::start().await;
    let cw = cloudwatch(&server);
    let minute = metrics::minute_of(stdx::time::now_ms());
    let dims = [dim("Service", "api"), dim("Stage", "prod")];
    cw.put_metric_data()
        .namespace("App")
        .metric_data(
            MetricDatum::builder()
                .metric_name("Latency")
                .set_dimensions(Some(dims.to_vec()))
                .value(10.0)
                .timestamp(at(minute))
                .build(),
        )
        .metric_data(
            MetricDatum::builder()
                .metric_name("Latency")
                .set_dimensions(Some(dims.to_vec()))
                .values(20.0)
                .values(30.0)
                .counts(1.0)
                .counts(2.0)
                .timestamp(at(minute + 1000))
                .build(),
        )
        .metric_data(
            MetricDatum::builder()
                .metric_name("Latency")
                .set_dimensions(Some(dims.to_vec()))
                .statistic_values(StatisticSet::builder().sample_count(2.0).sum(10.0).minimum(4.0).maximum(6.0).build())
                .timestamp(at(minute + 2000))
                .build(),
        )
        .metric_data(MetricDatum::builder().metric_name("Other").value(1.0).build())
        .send()
        .await
        .unwrap();

    let stats = cw
        .get_metric_statistics()
        .namespace("App")
        .metric_name("Latency")
        .set_dimensions(Some(dims.to_vec()))
        .start_time(at(minute - 300_000))
        .end_time(at(minute + 300_000))
        .period(60)
        .statistics(Statistic::SampleCount)
        .statistics(Statistic::Sum)
        .statistics(Statistic::Average)
        .statistics(Statistic::Minimum)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .unwrap();
    assert_eq!(stats.label(), Some("Latency"));
    let points = stats.datapoints();
    assert_eq!(points.len(), 1, "{points:?}");
    let p = &points[0];
    assert_eq!(p.timestamp().unwrap().to_millis().unwrap(), minute);
    assert_eq!(p.sample_count(), Some(6.0));
    assert_eq!(p.sum(), Some(100.0));
    assert_eq!(p.minimum(), Some(4.0));
    assert_eq!(p.maximum(), Some(30.0));
    assert!((p.average().unwrap() - 100.0 / 6.0).abs() < 1e-9);
    let pct = cw
        .get_metric_statistics()
        .namespace("App")
        .metric_name("Latency")
        .set_dimensions(Some(dims.to_vec()))
        .start_time(at(minute - 300_000))
        .end_time(at(minute + 300_000))
        .period(60)
        .extended_statistics("p99")
        .extended_statistics("p50")
        .send()
        .await
        .unwrap();
    let ext = pct.datapoints()[0].extended_statistics().unwrap();
    assert_eq!(ext["p99"], 30.0);
    // 5, 5, 10, 20, 30, 30: the median within the sketch's 1 %.
    assert!((ext["p50"] - 10.0).abs() <= 0.1, "{ext:?}");

    let data = cw
        .get_metric_data()
        .metric_data_queries(
            MetricDataQuery::builder()
                .id("latency")
                .metric_stat(
                    MetricStat::builder()
                        .metric(
                            Metric::builder()
                                .namespace("App")
                                .metric_name("Latency")
                                .set_dimensions(Some(dims.to_vec()))
                                .build(),
                        )
                        .period(60)
                        .stat("Maximum")
                        .build(),
                )
                .build(),
        )
        .start_time(at(minute - 300_000))
        .end_time(at(minute + 300_000))
        .send()
        .await
        .unwrap();
    let r = &data.metric_data_results()[0];
    assert_eq!(r.id(), Some("latency"));
    assert_eq!(r.label(), Some("Latency"), "the default label is the metric name");
    assert_eq!(r.values(), &[30.0]);
    assert_eq!(r.timestamps()[0].to_millis().unwrap(), minute);
    assert_eq!(r.status_code().map(|s| s.as_str()), Some("Complete"));

    let listed = cw.list_metrics().namespace("App").send().await.unwrap();
    let names: Vec<_> = listed.metrics().iter().map(|m| (m.metric_name().unwrap(), m.dimensions().len())).collect();
    assert_eq!(names, [("Latency", 2), ("Other", 0)]);
    let filtered = cw
        .list_metrics()
        .namespace("App")
        .dimensions(DimensionFilter::builder().name("Stage").build())
        .send()
        .await
        .unwrap();
    assert_eq!(filtered.metrics().len(), 1);

    // GetMetricData pages by MaxDatapoints: two queries of one point each.
    let stat = |id: &str, s: &str| {
        MetricDataQuery::builder()
            .id(id)
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace("App")
                            .metric_name("Latency")
                            .set_dimensions(Some(dims.to_vec()))
                            .build(),
                    )
                    .period(60)
                    .stat(s)
                    .build(),
            )
            .build()
    };
    let page = |token: Option<String>| {
        cw.get_metric_data()
            .metric_data_queries(stat("a", "Sum"))
            .metric_data_queries(stat("b", "SampleCount"))
            .start_time(at(minute - 300_000))
            .end_time(at(minute + 300_000))
            .max_datapoints(1)
            .set_next_token(token)
            .send()
    };
    let first = page(None).await.unwrap();
    let values: Vec<_> = first.metric_data_results().iter().map(|r| r.values().to_vec()).collect();
    assert_eq!(values, [vec![100.0], vec![]]);
    let second = page(first.next_token().map(str::to_owned)).await.unwrap();
    let values: Vec<_> = second.metric_data_results().iter().map(|r| r.values().to_vec()).collect();
    assert_eq!(values, [vec![], vec![6.0]]);
    assert_eq!(second.next_token(), None);

    // ListMetrics pages by 500.
    let mut put = cw.put_metric_data().namespace("Many");
    for i in 0..600 {
        put = put.metric_data(MetricDatum::builder().metric_name(format!("m{i:03}")).value(1.0).build());
    }
    put.send().await.unwrap();
    let first = cw.list_metrics().namespace("Many").send().await.unwrap();
    assert_eq!(first.metrics().len(), 500);
    let rest = cw.list_metrics().namespace("Many").next_token(first.next_token().unwrap()).send().await.unwrap();
    assert_eq!(rest.metrics().len(), 100);
    assert_eq!(rest.metrics()[0].metric_name(), Some("m500"));
    assert_eq!(rest.next_token(), None);

    // Errors carry their query code (the SDK reads `x-amzn-query-error`).
    let (c, m) = code(
        cw.put_metric_data()
            .namespace("AWS/Lambda")
            .metric_data(MetricDatum::builder().metric_name("M").value(1.0).build())
            .send()
            .await,
    );
    assert_eq!(c, "InvalidParameterValue", "{m}");
    // High resolution: values put with StorageResolution=1 answer 1-second periods.
    let hr = |ms: i64, v: f64| {
        MetricDatum::builder().metric_name("Fine").value(v).storage_resolution(1).timestamp(at(ms)).build()
    };
    let put = cw.put_metric_data().namespace("App").metric_data(hr(minute + 1_200, 1.0));
    put.metric_data(hr(minute + 1_700, 2.0)).metric_data(hr(minute + 9_000, 4.0)).send().await.unwrap();
    let fine = |period: i32| {
        cw.get_metric_statistics()
            .namespace("App")
            .metric_name("Fine")
            .start_time(at(minute))
            .end_time(at(minute + 60_000))
            .period(period)
            .statistics(Statistic::Sum)
            .send()
    };
    let mut points: Vec<(i64, f64)> = fine(1)
        .await
        .unwrap()
        .datapoints()
        .iter()
        .map(|d| (d.timestamp().unwrap().to_millis().unwrap() - minute, d.sum().unwrap()))
        .collect();
    points.sort_by_key(|p| p.0);
    assert_eq!(points, [(1_000, 3.0), (9_000, 4.0)]);
    let minute_sum: Vec<f64> = fine(60).await.unwrap().datapoints().iter().map(|d| d.sum().unwrap()).collect();
    assert_eq!(minute_sum, [7.0], "also in the minute");
    let (c, m) = code(
        cw.get_metric_statistics()
            .namespace("App")
            .metric_name("Latency")
            .start_time(at(minute))
            .end_time(at(minute + 60_000))
            .period(45)
            .statistics(Statistic::Sum)
            .send()
            .await,
    );
    assert_eq!(c, "InvalidParameterValue");
    assert!(m.contains("multiple of 60"), "{m}");
    let (c, m) = code(
        cw.get_metric_statistics()
            .namespace("App")
            .metric_name("Latency")
            .start_time(at(minute - 86_400_000 * 2))
            .end_time(at(minute))
            .period(60)
            .statistics(Statistic::Sum)
            .send()
            .await,
    );
    assert_eq!(c, "InvalidParameterCombination");
    assert!(m.starts_with("You have requested up to 2880 datapoints, which exceeds the limit of 1440."), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_metrics_are_read_per_resource_and_executed_version() {
    let server = TestServer::start().await;
    let c = server.lambda();
    crate::invoke::create_py(
        &c,
        "cwf",
        "def handler(e, c):\n    if e.get('fail'):\n        raise Exception('asked to fail')\n    return 'ok'\n",
    )
    .await;
    c.publish_version().function_name("cwf").send().await.unwrap();
    c.create_alias().function_name("cwf").name("prod").function_version("1").send().await.unwrap();
    let start = stdx::time::now_ms();
    for i in 0..6 {
        let payload = if i % 3 == 0 { r#"{"fail": true}"# } else { "{}" };
        c.invoke().function_name("cwf:prod").payload(Blob::new(payload)).send().await.unwrap();
    }
    let cw = cloudwatch(&server);
    let metric = |name: &str| {
        Metric::builder()
            .namespace("AWS/Lambda")
            .metric_name(name)
            .dimensions(dim("FunctionName", "cwf"))
            .dimensions(dim("Resource", "cwf:prod"))
            .dimensions(dim("ExecutedVersion", "1"))
            .build()
    };
    let query = |id: &str, name: &str| {
        MetricDataQuery::builder()
            .id(id)
            .metric_stat(MetricStat::builder().metric(metric(name)).period(3600).stat("Sum").build())
            .build()
    };
    let from = start.div_euclid(3_600_000) * 3_600_000;
    let data = cw
        .get_metric_data()
        .metric_data_queries(query("invocations", "Invocations"))
        .metric_data_queries(query("errors", "Errors"))
        .start_time(at(from))
        .end_time(at(from + 2 * 3_600_000))
        .send()
        .await
        .unwrap();
    let sum = |i: usize| data.metric_data_results()[i].values().iter().sum::<f64>();
    assert_eq!(sum(0), 6.0);
    assert_eq!(sum(1), 2.0);
    // The dimension set must match exactly: two of the three dimensions name another series.
    let listed = cw
        .list_metrics()
        .namespace("AWS/Lambda")
        .metric_name("Invocations")
        .dimensions(DimensionFilter::builder().name("ExecutedVersion").value("1").build())
        .send()
        .await
        .unwrap();
    assert_eq!(listed.metrics().len(), 1, "{listed:?}");
    // AWS publishes Invocations in Count and Duration in Milliseconds: statistics say so, and
    // another unit selects nothing (units separate data).
    let stats = |name: &str, unit: Option<StandardUnit>| {
        cw.get_metric_statistics()
            .namespace("AWS/Lambda")
            .metric_name(name)
            .dimensions(dim("FunctionName", "cwf"))
            .start_time(at(from))
            .end_time(at(from + 2 * 3_600_000))
            .period(3600)
            .statistics(Statistic::Maximum)
            .set_unit(unit)
            .send()
    };
    for (name, unit) in [("Invocations", StandardUnit::Count), ("Duration", StandardUnit::Milliseconds)] {
        let got = stats(name, None).await.unwrap();
        assert_eq!(got.datapoints()[0].unit(), Some(&unit), "{name}");
        assert_eq!(stats(name, Some(unit)).await.unwrap().datapoints().len(), 1, "{name}");
        assert!(stats(name, Some(StandardUnit::Bytes)).await.unwrap().datapoints().is_empty(), "{name}");
    }
}

/// A raw request to the server.
async fn raw(server: &TestServer, path: &str, headers: &[(&str, &str)], body: &[u8]) -> testkit::http::Response {
    let mut http = testkit::http::Client::new(server.addr);
    http.send("POST", path, headers, body).await.unwrap()
}

const CBOR_PATH: &str = "/service/GraniteServiceVersion20100801/operation/";
/// An Authorization header naming the `monitoring` scope (the server runs with `--auth off`).
const SIGNED: &str =
    "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/monitoring/aws4_request, SignedHeaders=host, Signature=abc";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_aws_shaped_errors_and_store_nothing() {
    let server = TestServer::start().await;
    // CBOR: truncated body, a body that is not a map; the answer says its protocol.
    let cbor =
        [("smithy-protocol", "rpc-v2-cbor"), ("content-type", "application/cbor"), ("x-amzn-query-mode", "true")];
    for body in [&[0xa2, 0x69, b'N'][..], &[0x01][..], &[0xff][..]] {
        let r = raw(&server, &format!("{CBOR_PATH}PutMetricData"), &cbor, body).await;
        assert_eq!(r.status, 400, "{body:?}");
        assert_eq!(r.header("smithy-protocol"), Some("rpc-v2-cbor"));
        assert_eq!(r.header("x-amzn-query-error"), Some("SerializationException;Sender"));
    }
    let r = raw(&server, &format!("{CBOR_PATH}DeleteEverything"), &cbor, &[0xa0]).await;
    assert_eq!((r.status, r.header("x-amzn-query-error")), (400, Some("InvalidAction;Sender")));
    // Without the Smithy header the same path is S3 path-style (bucket `service`).
    let r = raw(&server, &format!("{CBOR_PATH}ListMetrics"), &[], &[0xa0]).await;
    assert_ne!(r.header("x-amzn-query-error"), Some("InvalidAction;Sender"));

    // JSON 1.0.
    let json = |op: &'static str| {
        [("x-amz-target", op), ("content-type", "application/x-amz-json-1.0"), ("x-amzn-query-mode", "true")]
    };
    let r = raw(&server, "/", &json("GraniteServiceVersion20100801.PutMetricData"), b"{\"Namespace\": \"Bad\", ").await;
    assert_eq!((r.status, r.header("x-amzn-query-error")), (400, Some("SerializationException;Sender")));
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.0"));
    let r = raw(&server, "/", &json("GraniteServiceVersion20100801.Nope"), b"{}").await;
    assert_eq!((r.status, r.header("x-amzn-query-error")), (400, Some("InvalidAction;Sender")));
    assert_eq!(r.json()["__type"], "com.amazon.coral.service#UnknownOperationException");
    let body =
        br#"{"Namespace":"Bad","MetricData":[{"MetricName":"Ok","Value":1},{"MetricName":"Huge","Value":1e109}]}"#;
    let r = raw(&server, "/", &json("GraniteServiceVersion20100801.PutMetricData"), body).await;
    assert_eq!((r.status, r.header("x-amzn-query-error")), (400, Some("InvalidParameterValue;Sender")), "{}", r.text());
    assert_eq!(r.json()["__type"], "com.amazonaws.cloudwatch.v2010_08_01#InvalidParameterValueException");
    let body = br#"{"Namespace":"Bad","MetricData":[{"MetricName":"Ok","Value":1},{"MetricName":"Old","Value":1,"Timestamp":1000}]}"#;
    let r = raw(&server, "/", &json("GraniteServiceVersion20100801.PutMetricData"), body).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "The parameter MetricData.member.2.Timestamp must specify a time no more than two weeks in the past."
    );
    let r =
        raw(&server, "/", &json("GraniteServiceVersion20100801.GetMetricStatistics"), b"{\"Namespace\":\"Bad\"}").await;
    assert_eq!(r.json()["message"], "The parameter MetricName is required.");
    assert_eq!(r.header("x-amzn-query-error"), Some("MissingParameter;Sender"));
    let body = br#"{"Namespace":"Bad","MetricName":"M","StartTime":1,"EndTime":2,"Period":60,"Statistics":["Sum"],"ExtendedStatistics":["p99"]}"#;
    let r = raw(&server, "/", &json("GraniteServiceVersion20100801.GetMetricStatistics"), body).await;
    assert_eq!(r.header("x-amzn-query-error"), Some("InvalidParameterCombination;Sender"));

    // Query: a malformed form body, an unknown action, the XML error shape.
    let form = [("authorization", SIGNED), ("content-type", "application/x-www-form-urlencoded; charset=utf-8")];
    let r =
        raw(&server, "/", &form, b"Action=PutMetricData&Version=2010-08-01&Namespace=Bad&MetricData.member.x.Value=1")
            .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("<Code>MalformedQueryString</Code>"), "{}", r.text());
    let r = raw(&server, "/", &form, b"Action=Nope&Version=2010-08-01").await;
    let text = r.text();
    assert_eq!(r.status, 400);
    assert!(text.starts_with("<ErrorResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"><Error><Type>Sender</Type><Code>InvalidAction</Code>"), "{text}");
    assert!(text.contains("<RequestId>"), "{text}");
    let r = raw(
        &server,
        "/",
        &form,
        b"Action=PutMetricData&Version=2010-08-01&Namespace=Bad&MetricData.member.1.MetricName=Ok&MetricData.member.1.Value=1\
&MetricData.member.2.MetricName=Big&MetricData.member.2.Value=1e109",
    )
    .await;
    assert!(r.text().contains("<Code>InvalidParameterValue</Code>"), "{}", r.text());

    // Nothing of the refused requests was stored.
    let listed = cloudwatch(&server).list_metrics().namespace("Bad").send().await.unwrap();
    assert!(listed.metrics().is_empty(), "{listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_signatures_take_cloudwatchs_shape() {
    let server = TestServer::start_sigv4().await;
    let root = server.root_key().await;
    let good = cloudwatch_with(&server.endpoint(), &root.id, &root.secret);
    good.list_metrics().send().await.unwrap();
    let (c, m) = code(cloudwatch_with(&server.endpoint(), &root.id, "wrong").list_metrics().send().await);
    assert_eq!(c, "SignatureDoesNotMatch", "{m}");
    assert!(m.ends_with(" 403"), "{m}");
    let (c, _) = code(cloudwatch_with(&server.endpoint(), "AKIAUNKNOWN000000000", "x").list_metrics().send().await);
    assert_eq!(c, "InvalidClientTokenId");
    let r = raw(&server, &format!("{CBOR_PATH}ListMetrics"), &[("smithy-protocol", "rpc-v2-cbor")], &[0xa0]).await;
    assert_eq!((r.status, r.header("x-amzn-query-error")), (403, Some("MissingAuthenticationToken;Sender")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_in_json_and_in_query_gets_the_same_answers() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start().await;
    let mut v = boto3_script("cloudwatch_boto3.py", &[&server.endpoint(), "Py"]).await;
    let json = v["json"].clone();
    assert_eq!(json["label"], "Latency");
    assert_eq!(
        json["stats"],
        serde_json::json!({"SampleCount": 6.0, "Sum": 100.0, "Average": 100.0 / 6.0, "Minimum": 4.0, "Maximum": 30.0, "Unit": "None"})
    );
    assert_eq!(json["percentiles"]["p99"], 30.0);
    assert_eq!(json["data"][0]["Label"], "Latency");
    assert_eq!(json["data"][0]["Values"], serde_json::json!([100.0]));
    assert_eq!(json["data"][1]["Label"], "zero");
    assert_eq!(json["data"][1]["Values"], serde_json::json!([250.0]), "1000 gzipped metrics over 4 shards");
    assert_eq!(json["data"][0]["Timestamps"][0], json["minute"]);
    assert_eq!(json["listed"].as_array().unwrap().len(), 5);
    assert_eq!(json["filtered"], serde_json::json!([[{"Name": "Shard", "Value": "1"}]]));
    assert_eq!(json["bad_listed"], 0, "refused metrics are not stored");
    assert_eq!(json["gzipped"], true, "botocore gzipped the large PutMetricData");
    let expect = [
        ("period", "InvalidParameterValue", "The parameter Period must be a multiple of 60."),
        ("reserved", "InvalidParameterValue", "The value AWS/Lambda for parameter Namespace is invalid."),
        (
            "both",
            "InvalidParameterCombination",
            "The parameters MetricData.member.1.Value and MetricData.member.1.Values are mutually exclusive and you have specified both.",
        ),
        (
            "counts",
            "InvalidParameterValue",
            "The parameters MetricData.member.1.Values and MetricData.member.1.Counts must be of the same size.",
        ),
        ("range", "InvalidParameterValue", "The parameter StartTime must be less than the parameter EndTime."),
    ];
    for (case, code, message) in expect {
        let e = &json["errors"][case];
        assert_eq!(
            (e["code"].as_str(), e["message"].as_str(), e["status"].as_u64()),
            (Some(code), Some(message), Some(400)),
            "{case}"
        );
        assert_eq!(e["query_error"], format!("{code};Sender"), "{case}");
    }
    assert!(
        json["errors"]["too_many"]["message"].as_str().unwrap().starts_with("You have requested up to 1441 datapoints")
    );
    // The query protocol answers the same, without the JSON-only header.
    for e in v["json"]["errors"].as_object_mut().unwrap().values_mut() {
        e["query_error"] = serde_json::Value::Null;
    }
    assert_eq!(v["json"], v["query"]);
}

/// `py/cloudwatch_conformance.py`: every operation over json, query and rpc-v2-cbor, each
/// answer checked against botocore's model (types, no unknown members, MetricAlarm's members),
/// AWS's error codes, statuses and `x-amzn-query-error`, the paginators and `alarm_exists`, and
/// the three protocols' answers compared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_answers_match_the_model_in_all_three_protocols() {
    if !boto3_available() {
        return;
    }
    let server = TestServer::start().await;
    let v = boto3_script("cloudwatch_conformance.py", &[&server.endpoint()]).await;
    let problems: Vec<&str> = v["problems"].as_array().unwrap().iter().filter_map(|p| p.as_str()).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(v["calls"].as_u64().unwrap() > 150, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_puts_reads_and_lists_metrics() {
    if !crate::cli::aws_available() {
        return;
    }
    let server = TestServer::start().await;
    let aws = crate::cli::Aws { endpoint: server.endpoint(), home: tempfile::tempdir().unwrap() };
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
    let minute = now - now % 60;
    let ts = minute.to_string();
    for v in ["3", "5"] {
        aws.json(&[
            "cloudwatch",
            "put-metric-data",
            "--namespace",
            "Cli",
            "--metric-name",
            "Jobs",
            "--value",
            v,
            "--unit",
            "Count",
            "--dimensions",
            "Queue=high",
            "--timestamp",
            &ts,
        ])
        .await;
    }
    let stats = aws
        .json(&[
            "cloudwatch",
            "get-metric-statistics",
            "--namespace",
            "Cli",
            "--metric-name",
            "Jobs",
            "--dimensions",
            "Name=Queue,Value=high",
            "--statistics",
            "Sum",
            "Maximum",
            "--period",
            "60",
            "--start-time",
            &(minute - 120).to_string(),
            "--end-time",
            &(minute + 120).to_string(),
        ])
        .await;
    let p = &stats["Datapoints"][0];
    assert_eq!((p["Sum"].as_f64(), p["Maximum"].as_f64()), (Some(8.0), Some(5.0)), "{stats}");
    assert_eq!(p["Unit"], "Count", "the unit the data was put with");
    // The p99 of two samples is the larger (nearest rank), not the smaller.
    let (from, to) = ((minute - 120).to_string(), (minute + 120).to_string());
    let pct = aws
        .json(&[
            "cloudwatch",
            "get-metric-statistics",
            "--namespace",
            "Cli",
            "--metric-name",
            "Jobs",
            "--dimensions",
            "Name=Queue,Value=high",
            "--extended-statistics",
            "p99",
            "--period",
            "60",
            "--start-time",
            &from,
            "--end-time",
            &to,
        ])
        .await;
    assert_eq!(pct["Datapoints"][0]["ExtendedStatistics"]["p99"].as_f64(), Some(5.0), "{pct}");
    let listed = aws.json(&["cloudwatch", "list-metrics", "--namespace", "Cli"]).await;
    assert_eq!(
        listed["Metrics"],
        serde_json::json!([{"Namespace": "Cli", "MetricName": "Jobs", "Dimensions": [{"Name": "Queue", "Value": "high"}]}])
    );
    let bad = aws
        .run(&[
            "cloudwatch",
            "get-metric-statistics",
            "--namespace",
            "Cli",
            "--metric-name",
            "Jobs",
            "--statistics",
            "Sum",
            "--period",
            "61",
            "--start-time",
            &(minute - 120).to_string(),
            "--end-time",
            &minute.to_string(),
        ])
        .await;
    assert!(!bad.ok);
    assert!(bad.stderr.contains("InvalidParameterValue"), "{}", bad.stderr);
}
