"""Drives boto3's CloudWatch alarm operations in JSON 1.0 (its default) and in the query
protocol against a Versa endpoint; prints one JSON document of what each call answered.

Usage: alarms_boto3.py ENDPOINT
"""
import datetime
import json
import sys
import time

import boto3
import botocore.parsers
import botocore.serialize
from botocore.exceptions import ClientError

endpoint = sys.argv[1]


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
    return c


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


def plain(alarm):
    return {k: (v.isoformat() if isinstance(v, datetime.datetime) else v) for k, v in alarm.items()}


def describe(c, name):
    return plain(c.describe_alarms(AlarmNames=[name])["MetricAlarms"][0])


def run(protocol):
    c = client(protocol)
    name = f"depth-{protocol}"
    ns = f"Py/{protocol}"
    common = dict(
        AlarmName=name,
        Namespace=ns,
        MetricName="Depth",
        Dimensions=[{"Name": "Queue", "Value": "q1"}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10.0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="ignore",
    )
    c.put_metric_alarm(**common, Tags=[{"Key": "k", "Value": "v"}])
    out = {"created": describe(c, name)}
    c.put_metric_data(
        Namespace=ns,
        MetricData=[{"MetricName": "Depth", "Dimensions": [{"Name": "Queue", "Value": "q1"}], "Value": 42.0}],
    )
    deadline = time.time() + 5
    while time.time() < deadline:
        a = describe(c, name)
        if a["StateValue"] == "ALARM":
            break
        time.sleep(0.05)
    out["alarmed"] = a
    items = c.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    out["history"] = [i["HistorySummary"] for i in items]
    # SetAlarmState holds until the next evaluation (here: at once, as there is data).
    c.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="by hand")
    items = c.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    out["set"] = any(i["HistorySummary"] == "Alarm updated from ALARM to OK" for i in items)
    arn = out["created"]["AlarmArn"]
    out["tags"] = c.list_tags_for_resource(ResourceARN=arn)["Tags"]
    out["errors"] = {
        "state": error(lambda: c.set_alarm_state(AlarmName=name, StateValue="MAYBE", StateReason="r")),
        "missing": error(lambda: c.set_alarm_state(AlarmName="nope", StateValue="OK", StateReason="r")),
        "period": error(lambda: c.put_metric_alarm(**{**common, "Period": 45})),
    }
    c.delete_alarms(AlarmNames=[name])
    out["deleted"] = len(c.describe_alarms(AlarmNames=[name])["MetricAlarms"])
    return out


print(json.dumps({"json": run("json"), "query": run("query")}))
