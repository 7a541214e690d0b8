"""Drives boto3's CloudWatch client in JSON 1.0 (its default) and in the query protocol
against a Versa endpoint; prints one JSON document of what each call answered.

Usage: cloudwatch_boto3.py ENDPOINT NAMESPACE_PREFIX
"""
import datetime
import json
import sys

import boto3
import botocore.parsers
import botocore.serialize
from botocore.exceptions import ClientError

endpoint, prefix = sys.argv[1], sys.argv[2]


def client(protocol):
    c = boto3.client(
        "cloudwatch",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    if protocol != "json":
        # deployments.md §3.1 "Test technique": swap the serializer and parser.
        c.meta.service_model.resolved_protocol = protocol
        c._serializer = botocore.serialize.create_serializer(protocol, include_validation=True)
        c._response_parser = botocore.parsers.create_parser(protocol)
    c.meta.events.register("before-send.cloudwatch.PutMetricData", record_encoding)
    return c


ENCODINGS = []


def record_encoding(request, **_):
    ENCODINGS.append(request.headers.get("Content-Encoding"))


def error(f):
    try:
        f()
    except ClientError as e:
        meta = e.response["ResponseMetadata"]
        return {
            "code": e.response["Error"]["Code"],
            "message": e.response["Error"].get("Message"),
            "status": meta["HTTPStatusCode"],
            "query_error": meta["HTTPHeaders"].get("x-amzn-query-error"),
        }
    return None


def run(protocol):
    c = client(protocol)
    ns = f"{prefix}/{protocol}"
    now = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(minutes=5)
    dims = [{"Name": "Service", "Value": "api"}]
    c.put_metric_data(
        Namespace=ns,
        MetricData=[
            {"MetricName": "Latency", "Dimensions": dims, "Value": 10.0, "Unit": "Milliseconds", "Timestamp": now},
            {"MetricName": "Latency", "Dimensions": dims, "Values": [20.0, 30.0], "Counts": [1.0, 2.0], "Timestamp": now},
            {
                "MetricName": "Latency",
                "Dimensions": dims,
                "StatisticValues": {"SampleCount": 2, "Sum": 10, "Minimum": 4, "Maximum": 6},
                "Timestamp": now,
            },
        ],
    )
    # 1000 metrics: botocore gzips a body this large (Content-Encoding: gzip).
    ENCODINGS.clear()
    c.put_metric_data(
        Namespace=ns,
        MetricData=[
            {"MetricName": "Bulk", "Dimensions": [{"Name": "Shard", "Value": str(i % 4)}], "Value": 1.0, "Timestamp": now}
            for i in range(1000)
        ],
    )
    gzipped = ENCODINGS == [b"gzip"] or ENCODINGS == ["gzip"]
    stats = c.get_metric_statistics(
        Namespace=ns,
        MetricName="Latency",
        Dimensions=dims,
        StartTime=start,
        EndTime=end,
        Period=600,
        Statistics=["SampleCount", "Sum", "Average", "Minimum", "Maximum"],
    )
    pct = c.get_metric_statistics(
        Namespace=ns, MetricName="Latency", Dimensions=dims, StartTime=start, EndTime=end, Period=600,
        ExtendedStatistics=["p50", "p99"],
    )
    data = c.get_metric_data(
        MetricDataQueries=[
            {"Id": "sum", "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "Latency", "Dimensions": dims}, "Period": 60, "Stat": "Sum"}},
            {"Id": "shard0", "Label": "zero", "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "Bulk", "Dimensions": [{"Name": "Shard", "Value": "0"}]}, "Period": 60, "Stat": "SampleCount"}},
        ],
        StartTime=start,
        EndTime=end,
    )
    listed = c.list_metrics(Namespace=ns)
    filtered = c.list_metrics(Namespace=ns, MetricName="Bulk", Dimensions=[{"Name": "Shard", "Value": "1"}])
    errors = {
        "period": error(lambda: c.get_metric_statistics(Namespace=ns, MetricName="Latency", StartTime=start, EndTime=end, Period=90, Statistics=["Sum"])),
        "reserved": error(lambda: c.put_metric_data(Namespace="AWS/Lambda", MetricData=[{"MetricName": "M", "Value": 1.0}])),
        "both": error(lambda: c.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "Bad", "Value": 1.0, "Values": [1.0]}])),
        "counts": error(lambda: c.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "Bad", "Values": [1.0, 2.0], "Counts": [1.0]}])),
        "range": error(lambda: c.get_metric_statistics(Namespace=ns, MetricName="Latency", StartTime=end, EndTime=start, Period=60, Statistics=["Sum"])),
        "too_many": error(lambda: c.get_metric_statistics(Namespace=ns, MetricName="Latency", StartTime=now - datetime.timedelta(days=1, minutes=1), EndTime=now, Period=60, Statistics=["Sum"])),
        "math": error(lambda: c.get_metric_data(MetricDataQueries=[{"Id": "e", "Expression": "SUM(METRICS())"}], StartTime=start, EndTime=end)),
    }
    after_errors = c.list_metrics(Namespace=ns, MetricName="Bad")
    point = stats["Datapoints"][0] if stats["Datapoints"] else {}
    return {
        "label": stats["Label"],
        "stats": {k: point.get(k) for k in ["SampleCount", "Sum", "Average", "Minimum", "Maximum", "Unit"]},
        "datapoints": len(stats["Datapoints"]),
        "percentiles": pct["Datapoints"][0].get("ExtendedStatistics") if pct["Datapoints"] else None,
        "data": [
            {"Id": r["Id"], "Label": r["Label"], "Values": r["Values"], "StatusCode": r["StatusCode"], "Timestamps": [t.timestamp() for t in r["Timestamps"]]}
            for r in data["MetricDataResults"]
        ],
        "listed": sorted((m["MetricName"], json.dumps(m["Dimensions"], sort_keys=True)) for m in listed["Metrics"]),
        "filtered": [m["Dimensions"] for m in filtered["Metrics"]],
        "errors": errors,
        "bad_listed": len(after_errors["Metrics"]),
        "minute": now.timestamp(),
        "gzipped": gzipped,
    }


print(json.dumps({p: run(p) for p in ["json", "query"]}, indent=1))
