"""Checks Versa's CloudWatch answers against botocore's service model, over the three
protocols boto3 can speak (json, its default; query and smithy-rpc-v2-cbor forced as
deployments.md §3.1 "Test technique" describes): every response member has the model's type,
no member is unknown to the model, MetricAlarm carries its always-present members, errors
have AWS's code, status and `x-amzn-query-error`, the paginators and the `alarm_exists`
waiter work, and the three protocols parse to identical results.

Prints one JSON document `{"problems": [...], "calls": N}`; the caller asserts no problems.

Usage: cloudwatch_conformance.py ENDPOINT
"""
import datetime
import json
import sys

import boto3
import botocore.config
import botocore.parsers
import botocore.serialize
from botocore.exceptions import ClientError

ENDPOINT = sys.argv[1]
PROTOCOLS = ["json", "query", "smithy-rpc-v2-cbor"]
PROBLEMS = []
CALLS = [0]


def problem(protocol, where, what):
    PROBLEMS.append(f"[{protocol}] {where}: {what}")


def client(protocol, validate=True):
    c = boto3.client(
        "cloudwatch",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=botocore.config.Config(parameter_validation=validate, retries={"max_attempts": 1}),
    )
    # deployments.md §3.1 "Test technique": swap the serializer and parser.
    c.meta.service_model.resolved_protocol = protocol
    c._serializer = botocore.serialize.create_serializer(protocol, include_validation=validate)
    c._response_parser = botocore.parsers.create_parser(protocol)
    return c


def check_shape(protocol, shape, value, path):
    """`value` (a parsed answer) has `shape`'s type, recursively; no unknown members."""
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            return problem(protocol, path, f"expected a structure, got {value!r}")
        for k, v in value.items():
            if path.count(".") == 0 and k == "ResponseMetadata":
                continue
            if k not in shape.members:
                problem(protocol, path, f"member {k} is not in the model")
            else:
                check_shape(protocol, shape.members[k], v, f"{path}.{k}")
    elif t == "list":
        if not isinstance(value, list):
            return problem(protocol, path, f"expected a list, got {value!r}")
        for i, v in enumerate(value):
            check_shape(protocol, shape.member, v, f"{path}[{i}]")
    elif t == "map":
        if not isinstance(value, dict):
            return problem(protocol, path, f"expected a map, got {value!r}")
        for k, v in value.items():
            check_shape(protocol, shape.value, v, f"{path}[{k}]")
    elif t == "timestamp":
        if not isinstance(value, datetime.datetime):
            problem(protocol, path, f"expected a timestamp, got {value!r}")
    elif t in ("double", "float"):
        if not isinstance(value, float):
            problem(protocol, path, f"expected a {t}, got {value!r}")
    elif t in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            problem(protocol, path, f"expected an {t}, got {value!r}")
    elif t == "boolean":
        if not isinstance(value, bool):
            problem(protocol, path, f"expected a boolean, got {value!r}")
    elif t == "string":
        if not isinstance(value, str):
            problem(protocol, path, f"expected a string, got {value!r}")
        elif shape.enum and value not in shape.enum:
            problem(protocol, path, f"{value!r} is not in the enum {shape.enum}")


def normal(v, protocol):
    """A parsed answer with what legitimately differs between runs made equal: timestamps
    become a marker (their type is checked elsewhere), the protocol's name is masked."""
    if isinstance(v, dict):
        return {k: normal(x, protocol) for k, x in v.items() if k != "ResponseMetadata"}
    if isinstance(v, list):
        return [normal(x, protocol) for x in v]
    if isinstance(v, datetime.datetime):
        return "<time>"
    if isinstance(v, str):
        return v.replace(protocol, "<p>")
    return v


class Run:
    def __init__(self, protocol):
        self.p = protocol
        self.c = client(protocol)
        self.raw = client(protocol, validate=False)
        self.model = self.c.meta.service_model
        self.results = {}

    def call(self, key, op, raw=False, **kw):
        """Calls `op`, type-checks the answer, records it under `key` for the comparison."""
        CALLS[0] += 1
        c = self.raw if raw else self.c
        try:
            out = getattr(c, op)(**kw)
        except ClientError as e:
            problem(self.p, key, f"{op} failed: {e}")
            return None
        except Exception as e:  # noqa: BLE001 - a parse failure is a finding
            problem(self.p, key, f"{op} raised {type(e).__name__}: {e}")
            return None
        name = self.c.meta.method_to_api_mapping[op]
        shape = self.model.operation_model(name).output_shape
        if shape is None:
            extra = {k: v for k, v in out.items() if k != "ResponseMetadata"}
            if extra:
                problem(self.p, key, f"an operation without output answered {extra}")
        else:
            check_shape(self.p, shape, out, key)
        self.results[key] = normal(out, self.p)
        return out

    def error(self, key, op, code, status, message=None, raw=True, **kw):
        """`op` fails with `code` (the query code), `status` and, outside the query protocol,
        `x-amzn-query-error: <code>;Sender`."""
        CALLS[0] += 1
        c = self.raw if raw else self.c
        try:
            getattr(c, op)(**kw)
        except ClientError as e:
            meta = e.response["ResponseMetadata"]
            got = (e.response["Error"]["Code"], meta["HTTPStatusCode"])
            if got != (code, status):
                problem(self.p, key, f"expected {(code, status)}, got {got}: {e.response['Error']}")
            # botocore reads AWS's `<Message/>` as None in query, a missing `message` as "" in JSON.
            got_message = e.response["Error"].get("Message") or ""
            if message is not None and got_message != message:
                problem(self.p, key, f"expected message {message!r}, got {e.response['Error'].get('Message')!r}")
            if self.p != "query":
                qe = meta["HTTPHeaders"].get("x-amzn-query-error")
                if qe != f"{code};Sender":
                    problem(self.p, key, f"x-amzn-query-error is {qe!r}")
            self.results[key] = normal({"code": got[0], "status": got[1], "message": got_message}, self.p)
            return
        except Exception as e:  # noqa: BLE001
            problem(self.p, key, f"{op} raised {type(e).__name__}: {e}")
            return
        problem(self.p, key, f"{op} succeeded; expected {code}")


def alarm_members(protocol, where, a, initial):
    for m in [
        "AlarmName",
        "AlarmArn",
        "AlarmConfigurationUpdatedTimestamp",
        "ActionsEnabled",
        "OKActions",
        "AlarmActions",
        "InsufficientDataActions",
        "StateValue",
        "StateReason",
        "StateUpdatedTimestamp",
        "StateTransitionedTimestamp",
        "MetricName",
        "Namespace",
        "Dimensions",
        "Period",
        "EvaluationPeriods",
        "Threshold",
        "ComparisonOperator",
    ]:
        if m not in a:
            problem(protocol, where, f"MetricAlarm lacks {m}")
    if initial:
        if "StateReasonData" in a:
            problem(protocol, where, "a new alarm has StateReasonData")
        if a.get("StateValue") != "INSUFFICIENT_DATA" or a.get("StateReason") != "Unchecked: Initial alarm creation":
            problem(protocol, where, f"a new alarm is {a.get('StateValue')} / {a.get('StateReason')!r}")
    arn = f"arn:aws:cloudwatch:us-east-1:{a.get('AlarmArn', '::::').split(':')[4]}:alarm:{a.get('AlarmName')}"
    if a.get("AlarmArn") != arn:
        problem(protocol, where, f"AlarmArn {a.get('AlarmArn')!r}")


def run(p):
    r = Run(p)
    now = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
    start, end = now - datetime.timedelta(minutes=10), now + datetime.timedelta(minutes=2)
    ns = f"Conf/{p}"
    dims = [{"Name": "Service", "Value": "api"}]

    # Metrics.
    r.call(
        "put",
        "put_metric_data",
        Namespace=ns,
        MetricData=[
            {"MetricName": "Lat", "Dimensions": dims, "Value": 10.0, "Unit": "Milliseconds", "Timestamp": now},
            {"MetricName": "Lat", "Dimensions": dims, "Values": [20.0, 30.0], "Counts": [1.0, 2.0], "Timestamp": now, "Unit": "Milliseconds"},
            {"MetricName": "Lat", "Dimensions": dims, "Value": 5.0, "Unit": "Milliseconds", "Timestamp": now - datetime.timedelta(minutes=1)},
            {"MetricName": "Fast", "Value": 1.0, "StorageResolution": 1, "Timestamp": now},
            {"MetricName": "NoDims", "StatisticValues": {"SampleCount": 2, "Sum": 10, "Minimum": 4, "Maximum": 6}},
        ]
        + [{"MetricName": f"Many{i}", "Value": 1.0} for i in range(5)],
    )
    r.call("stats", "get_metric_statistics", Namespace=ns, MetricName="Lat", Dimensions=dims, StartTime=start, EndTime=end, Period=60, Statistics=["SampleCount", "Sum", "Average", "Minimum", "Maximum"])
    out = r.results.get("stats") or {}
    if [d.get("Unit") for d in out.get("Datapoints", [])] != ["Milliseconds", "Milliseconds"]:
        problem(p, "stats", f"the unit put is not answered: {out.get('Datapoints')}")
    out = r.call("stats_other_unit", "get_metric_statistics", Namespace=ns, MetricName="Lat", Dimensions=dims, StartTime=start, EndTime=end, Period=600, Statistics=["Sum"], Unit="Seconds")
    if out and out["Datapoints"]:
        problem(p, "stats_other_unit", f"a unit never put selects data: {out['Datapoints']}")
    r.call("stats_unit", "get_metric_statistics", Namespace=ns, MetricName="Lat", Dimensions=dims, StartTime=start, EndTime=end, Period=600, Statistics=["Sum"], Unit="Milliseconds")
    r.call("stats_ext", "get_metric_statistics", Namespace=ns, MetricName="Lat", Dimensions=dims, StartTime=start, EndTime=end, Period=600, ExtendedStatistics=["p50", "p99", "p99.9"])
    # Datapoints follow StartTime (rounded down to the minute), not the period's clock multiples.
    out = r.call("stats_offset", "get_metric_statistics", Namespace=ns, MetricName="Lat", Dimensions=dims, StartTime=now - datetime.timedelta(minutes=2, seconds=-30), EndTime=now + datetime.timedelta(minutes=3), Period=300, Statistics=["SampleCount"])
    if out and [(d["Timestamp"], d["SampleCount"]) for d in out["Datapoints"]] != [(now - datetime.timedelta(minutes=2), 5.0)]:
        problem(p, "stats_offset", f"{out['Datapoints']}, expected one datapoint at StartTime's minute")
    r.call("stats_none", "get_metric_statistics", Namespace=ns, MetricName="Nothing", StartTime=start, EndTime=end, Period=60, Statistics=["Sum"])
    r.call("stats_fast", "get_metric_statistics", Namespace=ns, MetricName="Fast", StartTime=start, EndTime=end, Period=1, Statistics=["Sum"])
    q = lambda i, name, stat, **extra: {  # noqa: E731
        "Id": i,
        "MetricStat": {"Metric": {"Namespace": ns, "MetricName": name, "Dimensions": dims if name == "Lat" else []}, "Period": 60, "Stat": stat},
        **extra,
    }
    r.call("data", "get_metric_data", MetricDataQueries=[q("a", "Lat", "Sum"), q("b", "Lat", "p99", Label="lbl"), q("c", "Lat", "Maximum", ReturnData=False), q("d", "Nothing", "Sum")], StartTime=start, EndTime=end)
    r.call("data_asc", "get_metric_data", MetricDataQueries=[q("a", "Lat", "Average")], StartTime=start, EndTime=end, ScanBy="TimestampAscending")
    pages = list(r.c.get_paginator("get_metric_data").paginate(MetricDataQueries=[q("a", "Lat", "SampleCount")], StartTime=start, EndTime=end, PaginationConfig={"PageSize": 1}))
    r.results["data_pages"] = [normal(pg["MetricDataResults"], p) for pg in pages]
    if len(pages) != 2:
        problem(p, "data_pages", f"{len(pages)} pages of 1 datapoint for 2 datapoints")
    r.call("list", "list_metrics", Namespace=ns)
    r.call("list_name", "list_metrics", Namespace=ns, MetricName="Lat")
    r.call("list_dims", "list_metrics", Namespace=ns, Dimensions=[{"Name": "Service"}])
    r.call("list_recent", "list_metrics", Namespace=ns, RecentlyActive="PT3H")
    listed = [m for pg in r.c.get_paginator("list_metrics").paginate(Namespace=ns) for m in pg["Metrics"]]
    if len(listed) != 8:
        problem(p, "list_pages", f"{len(listed)} metrics listed, 8 put")

    # Alarms.
    name = f"conf-{p}"
    base = dict(AlarmName=name, Namespace=ns, MetricName="Lat", Statistic="Average", Period=60, EvaluationPeriods=2, Threshold=100.0, ComparisonOperator="GreaterThanThreshold", TreatMissingData="ignore")
    r.call("put_alarm", "put_metric_alarm", **base)
    r.c.get_waiter("alarm_exists").wait(AlarmNames=[name], WaiterConfig={"Delay": 1, "MaxAttempts": 3})
    out = r.call("describe", "describe_alarms", AlarmNames=[name])
    if out:
        if len(out["MetricAlarms"]) != 1:
            problem(p, "describe", f"{len(out['MetricAlarms'])} alarms")
        else:
            a = out["MetricAlarms"][0]
            alarm_members(p, "describe", a, initial=True)
            for m in ["OKActions", "AlarmActions", "InsufficientDataActions", "Dimensions"]:
                if a.get(m) != []:
                    problem(p, "describe", f"{m} is {a.get(m)!r}, expected []")
        if out.get("CompositeAlarms") != []:
            problem(p, "describe", f"CompositeAlarms is {out.get('CompositeAlarms')!r}")
    full = dict(
        AlarmName=f"full-{p}",
        AlarmDescription="all members",
        ActionsEnabled=True,
        OKActions=["arn:aws:lambda:us-east-1:000000000000:function:ok"],
        AlarmActions=["arn:aws:lambda:us-east-1:000000000000:function:alarm"],
        InsufficientDataActions=[],
        Namespace=ns,
        MetricName="Lat",
        Dimensions=dims,
        ExtendedStatistic="p99",
        Period=300,
        Unit="Milliseconds",
        EvaluationPeriods=3,
        DatapointsToAlarm=2,
        Threshold=1.5,
        ComparisonOperator="LessThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
        EvaluateLowSampleCountPercentile="ignore",
        Tags=[{"Key": "team", "Value": "a"}, {"Key": "empty", "Value": ""}],
    )
    r.call("put_full", "put_metric_alarm", **full)
    out = r.call("describe_full", "describe_alarms", AlarmNames=[f"full-{p}"])
    if out and out["MetricAlarms"]:
        a = out["MetricAlarms"][0]
        alarm_members(p, "describe_full", a, initial=True)
        for k, v in full.items():
            if k != "Tags" and a.get(k) != v:
                problem(p, "describe_full", f"{k} is {a.get(k)!r}, put {v!r}")
    r.call("describe_all", "describe_alarms", AlarmNamePrefix=f"conf-{p}")
    r.call("describe_types", "describe_alarms", AlarmNamePrefix=f"conf-{p}", AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    r.call("describe_composite", "describe_alarms", AlarmNamePrefix=f"conf-{p}", AlarmTypes=["CompositeAlarm"])
    r.call("describe_state", "describe_alarms", StateValue="INSUFFICIENT_DATA", AlarmNamePrefix="full-" + p)
    r.call("describe_action", "describe_alarms", ActionPrefix="arn:aws:lambda:us-east-1:000000000000:function:al")
    r.call("describe_unknown", "describe_alarms", AlarmNames=["nope-" + p])
    r.call("for_metric", "describe_alarms_for_metric", Namespace=ns, MetricName="Lat")
    r.call("for_metric_stat", "describe_alarms_for_metric", Namespace=ns, MetricName="Lat", Statistic="Average", Period=60)
    r.call("for_metric_ext", "describe_alarms_for_metric", Namespace=ns, MetricName="Lat", ExtendedStatistic="p99", Dimensions=dims)
    for i in range(3):
        r.call(f"put_page{i}", "put_metric_alarm", **{**base, "AlarmName": f"page-{p}-{i}"})
    pages = list(r.c.get_paginator("describe_alarms").paginate(AlarmNamePrefix=f"page-{p}-", PaginationConfig={"PageSize": 2}))
    got = [a["AlarmName"] for pg in pages for a in pg["MetricAlarms"]]
    if got != [f"page-{p}-{i}" for i in range(3)] or len(pages) != 2:
        problem(p, "describe_pages", f"{len(pages)} pages: {got}")
    r.call("set", "set_alarm_state", AlarmName=name, StateValue="ALARM", StateReason="by hand", StateReasonData='{"a":1}')
    out = r.call("describe_set", "describe_alarms", AlarmNames=[name])
    if out and out["MetricAlarms"]:
        a = out["MetricAlarms"][0]
        alarm_members(p, "describe_set", a, initial=False)
        if (a.get("StateValue"), a.get("StateReason"), a.get("StateReasonData")) != ("ALARM", "by hand", '{"a":1}'):
            problem(p, "describe_set", f"state {a.get('StateValue')} {a.get('StateReason')!r} {a.get('StateReasonData')!r}")
    r.call("history", "describe_alarm_history", AlarmName=name)
    r.call("history_state", "describe_alarm_history", AlarmName=name, HistoryItemType="StateUpdate")
    r.call("history_config", "describe_alarm_history", AlarmName=name, HistoryItemType="ConfigurationUpdate", ScanBy="TimestampAscending")
    r.call("history_range", "describe_alarm_history", AlarmName=name, StartDate=now - datetime.timedelta(hours=1), EndDate=now + datetime.timedelta(hours=1))
    r.call("history_types", "describe_alarm_history", AlarmName=name, AlarmTypes=["MetricAlarm"])
    items = [i for pg in r.c.get_paginator("describe_alarm_history").paginate(AlarmName=name, PaginationConfig={"PageSize": 1}) for i in pg["AlarmHistoryItems"]]
    if len(items) < 2:
        problem(p, "history_pages", f"{len(items)} items")
    r.call("disable", "disable_alarm_actions", AlarmNames=[f"full-{p}"])
    out = r.call("describe_disabled", "describe_alarms", AlarmNames=[f"full-{p}"])
    if out and out["MetricAlarms"] and out["MetricAlarms"][0]["ActionsEnabled"] is not False:
        problem(p, "disable", "ActionsEnabled is still true")
    r.call("enable", "enable_alarm_actions", AlarmNames=[f"full-{p}"])
    arn = f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:full-{p}"
    described = r.c.describe_alarms(AlarmNames=[f"full-{p}"])["MetricAlarms"]
    if described:
        arn = described[0]["AlarmArn"]
    r.call("tags", "list_tags_for_resource", ResourceARN=arn)
    r.call("tag", "tag_resource", ResourceARN=arn, Tags=[{"Key": "more", "Value": "x"}])
    r.call("untag", "untag_resource", ResourceARN=arn, TagKeys=["team"])
    r.call("tags_after", "list_tags_for_resource", ResourceARN=arn)

    # Errors.
    r.error("set_missing", "set_alarm_state", "ResourceNotFound", 404, "", AlarmName="nope", StateValue="OK", StateReason="r")
    r.error(
        "set_bad_state",
        "set_alarm_state",
        "ValidationError",
        400,
        "1 validation error detected: Value 'INVALID' at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]",
        AlarmName=name,
        StateValue="INVALID",
        StateReason="r",
    )
    r.error("set_bad_json", "set_alarm_state", "InvalidFormat", 400, AlarmName=name, StateValue="OK", StateReason="r", StateReasonData="{not json")
    r.error("stats_both", "get_metric_statistics", "InvalidParameterCombination", 400, "The parameters Statistics and ExtendedStatistics are mutually exclusive and you have specified both.", Namespace=ns, MetricName="Lat", StartTime=start, EndTime=end, Period=60, Statistics=["Sum"], ExtendedStatistics=["p90"])
    r.error("alarm_period", "put_metric_alarm", "InvalidParameterValue", 400, **{**base, "Period": 45})
    r.error("stats_range", "get_metric_statistics", "InvalidParameterValue", 400, "The parameter StartTime must be less than the parameter EndTime.", Namespace=ns, MetricName="Lat", StartTime=end, EndTime=start, Period=60, Statistics=["Sum"])
    r.error("data_token", "get_metric_data", "InvalidNextToken", 400, MetricDataQueries=[q("a", "Lat", "Sum")], StartTime=start, EndTime=end, NextToken="garbage")
    r.error("list_token", "list_metrics", "InvalidNextToken", 400, Namespace=ns, NextToken="garbage")
    r.error("describe_token", "describe_alarms", "InvalidNextToken", 400, NextToken="garbage")
    r.error("history_token", "describe_alarm_history", "InvalidNextToken", 400, NextToken="garbage")
    r.error("tags_missing", "list_tags_for_resource", "ResourceNotFoundException", 404, ResourceARN=f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:nope-{p}")
    r.error("put_no_namespace", "put_metric_data", "MissingParameter", 400, MetricData=[{"MetricName": "M", "Value": 1.0}])

    # Deletion: history survives.
    r.call("delete", "delete_alarms", AlarmNames=[name, f"full-{p}"] + [f"page-{p}-{i}" for i in range(3)])
    r.call("describe_deleted", "describe_alarms", AlarmNamePrefix=f"conf-{p}")
    r.call("history_deleted", "describe_alarm_history", AlarmName=name, HistoryItemType="StateUpdate")
    return r.results


results = {p: run(p) for p in PROTOCOLS}
base = results["json"]
for p in PROTOCOLS[1:]:
    for key in sorted(set(base) | set(results[p])):
        a, b = base.get(key), results[p].get(key)
        if a != b:
            problem(p, key, f"differs from json:\n  json: {json.dumps(a, default=str)}\n  {p}: {json.dumps(b, default=str)}")
print(json.dumps({"problems": PROBLEMS, "calls": CALLS[0]}, indent=1))
