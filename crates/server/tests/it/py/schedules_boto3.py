"""Drives EventBridge rules and EventBridge Scheduler through boto3 against a Versa server
started with the hidden `--schedule-seconds` (rate(1 minute) ticks every second), with real
functions whose versions print the events they receive. Asserts as it goes; prints one JSON
document of what it observed.

Usage: schedules_boto3.py ENDPOINT rules|events|scheduler
       schedules_boto3.py ENDPOINT durable-start      (a rate(10 minutes) rule on fn:prod, ticking: every 10 s)
       schedules_boto3.py ENDPOINT durable-count      (the ticks the function received so far)
       schedules_boto3.py ENDPOINT signed KEY SECRET  (under --auth sigv4: signed requests work, bad ones are refused)
"""
import io
import json
import os
import sys
import time
import zipfile

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, mode = sys.argv[1], sys.argv[2]
key, secret = (sys.argv[3], sys.argv[4]) if mode == "signed" else ("test", "test")
kw = dict(
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id=key,
    aws_secret_access_key=secret,
    config=Config(retries={"max_attempts": 1}),
)
lam = boto3.client("lambda", **kw)
events = boto3.client("events", **kw)
sched = boto3.client("scheduler", **kw)
logs = boto3.client("logs", **kw)
T0 = time.time()
ROLE = "arn:aws:iam::000000000000:role/r"
# How long an invocation queued before a rule stopped may still take to run and log (a cold
# start on a busy machine), before counting the events that followed.
SETTLE = 3
PRINTER = 'import json, os\ndef handler(e, c):\n    print("EVENT " + os.environ["AWS_LAMBDA_FUNCTION_VERSION"] + " " + json.dumps(e))\n'


def note(what):
    print(f"{time.time() - T0:7.2f}s {what}", file=sys.stderr)


def zipped(code):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as f:
        f.writestr("index.py", code)
    return b.getvalue()


def function_with_versions(name):
    """`name` with versions 1 and 2 (both print their events) and alias `prod` on 1."""
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="index.handler",
                        Code={"ZipFile": zipped(PRINTER)})
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    lam.update_function_code(FunctionName=name, ZipFile=zipped(PRINTER + "# v2\n"))
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    return lam.create_alias(FunctionName=name, Name="prod", FunctionVersion="1")["AliasArn"]


def received(name):
    """(version, event) of every event `name` printed, oldest first."""
    out = []
    try:
        streams = logs.describe_log_streams(logGroupName=f"/aws/lambda/{name}")["logStreams"]
    except ClientError:
        return out
    for s in streams:
        for e in logs.get_log_events(logGroupName=f"/aws/lambda/{name}", logStreamName=s["logStreamName"],
                                     startFromHead=True)["events"]:
            if e["message"].startswith("EVENT "):
                _, version, body = e["message"].rstrip("\n").split(" ", 2)
                out.append((e["timestamp"], version, json.loads(body)))
    out.sort(key=lambda x: x[0])
    return [(v, b) for _, v, b in out]


def wait_for(what, check, limit=30):
    deadline = time.time() + limit
    while time.time() < deadline:
        got = check()
        if got:
            note(what)
            return got
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def error(fn, **args):
    try:
        fn(**args)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{fn.__name__} {args} succeeded")


def allow(name, rule_arn, qualifier="prod", sid="events"):
    lam.add_permission(FunctionName=name, Qualifier=qualifier, StatementId=sid, Action="lambda:InvokeFunction",
                       Principal="events.amazonaws.com", SourceArn=rule_arn)


def rules():
    out = {}
    alias_arn = function_with_versions("sched-rules")
    # Bad input: AWS's errors, nothing stored.
    for bad in ["cron(0 1 * * * *)", "rate(10 seconds)", "rate(1 minutes)", "cron(INVALID)"]:
        assert error(events.put_rule, Name="bad", ScheduleExpression=bad) == (
            "ValidationException", "Parameter ScheduleExpression is not valid.", 400), bad
    code, message, _ = error(events.put_rule, Name="bad", EventPattern='{"source": []}')
    assert (code, message) == ("InvalidEventPatternException",
                               "Event pattern is not valid. Reason: Empty arrays are not allowed"), message
    assert error(events.put_rule, Name="bad")[1] == "Parameter(s) EventPattern or ScheduleExpression must be specified."
    assert error(events.describe_rule, Name="bad")[:2] == (
        "ResourceNotFoundException", "Rule bad does not exist on EventBus default.")
    assert error(events.put_rule, Name="a/b", ScheduleExpression="rate(1 minute)")[0] == "ValidationException"

    rule_arn = events.put_rule(Name="every-minute", ScheduleExpression="rate(1 minute)")["RuleArn"]
    assert rule_arn == "arn:aws:events:us-east-1:000000000000:rule/every-minute", rule_arn
    d = events.describe_rule(Name="every-minute")
    assert (d["State"], d["ScheduleExpression"], d["EventBusName"], d["Arn"]) == (
        "ENABLED", "rate(1 minute)", "default", rule_arn), d
    allow("sched-rules", rule_arn)
    r = events.put_targets(Rule="every-minute", Targets=[{"Id": "prod", "Arn": alias_arn}])
    assert r["FailedEntryCount"] == 0 and r["FailedEntries"] == [], r
    bad_id = error(events.put_targets, Rule="every-minute", Targets=[{"Id": "!@#$@!#$", "Arn": alias_arn}])
    assert bad_id[1] == ("1 validation error detected: Value '!@#$@!#$' at 'targets.1.member.id' failed to satisfy "
                         "constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+"), bad_id
    too_many = error(events.put_targets, Rule="every-minute",
                     Targets=[{"Id": "r", "Arn": alias_arn, "RetryPolicy": {"MaximumRetryAttempts": 186}}])
    assert too_many[1] == ("1 validation error detected: Value '186' at 'targets.1.member.retryPolicy.maximumRetryAttempts' "
                           "failed to satisfy constraint: Member must have value less than or equal to 185"), too_many
    assert events.list_targets_by_rule(Rule="every-minute")["Targets"] == [{"Id": "prod", "Arn": alias_arn}]

    # The tick arrives at version 1, as AWS records it.
    v1 = wait_for("a tick on version 1", lambda: [e for v, e in received("sched-rules") if v == "1"])
    e = v1[0]
    assert (e["detail-type"], e["source"], e["resources"], e["detail"], e["account"], e["region"], e["version"]) == (
        "Scheduled Event", "aws.events", [rule_arn], {}, "000000000000", "us-east-1", "0"), e
    assert len(e["time"]) == 20 and e["time"].endswith("Z"), e
    # Promotion: the next ticks run version 2.
    lam.update_alias(FunctionName="sched-rules", Name="prod", FunctionVersion="2")
    promoted = time.time()
    v2 = wait_for("a tick on version 2 after the promotion", lambda: [e for v, e in received("sched-rules") if v == "2"])
    out["promotion_to_v2_seconds"] = time.time() - promoted
    times = [e["time"] for _, e in received("sched-rules")]
    assert len(times) == len(set(times)), f"a tick fired twice: {times}"

    # Disable stops the ticks; Enable resumes them.
    events.disable_rule(Name="every-minute")
    assert events.describe_rule(Name="every-minute")["State"] == "DISABLED"
    time.sleep(SETTLE)
    before = len(received("sched-rules"))
    time.sleep(2.5)
    assert len(received("sched-rules")) == before, "a disabled rule ticked"
    events.enable_rule(Name="every-minute")
    wait_for("ticks again after EnableRule", lambda: len(received("sched-rules")) > before)

    # A constant Input replaces the event; InputPath picks part of it.
    lam.add_permission(FunctionName="sched-rules", Qualifier="prod", StatementId="events-input",
                       Action="lambda:InvokeFunction", Principal="events.amazonaws.com",
                       SourceArn="arn:aws:events:us-east-1:000000000000:rule/with-input")
    events.put_rule(Name="with-input", ScheduleExpression="rate(1 minute)")
    events.put_targets(Rule="with-input", Targets=[
        {"Id": "const", "Arn": alias_arn, "Input": '{"k": "v"}'},
        {"Id": "path", "Arn": alias_arn, "InputPath": "$.detail-type"},
    ])
    wait_for("the constant Input", lambda: [e for _, e in received("sched-rules") if e == {"k": "v"}])
    wait_for("the InputPath value", lambda: [e for _, e in received("sched-rules") if e == "Scheduled Event"])

    # Without an events.amazonaws.com statement for the rule: no invocation, no API error.
    function_with_versions("sched-noperm")
    events.put_rule(Name="no-permission", ScheduleExpression="rate(1 minute)")
    events.put_targets(Rule="no-permission", Targets=[{"Id": "t", "Arn": alias_arn.replace("sched-rules", "sched-noperm")}])

    # Deleting needs the targets removed first; then the ticks stop.
    for name in ["every-minute", "with-input"]:
        assert error(events.delete_rule, Name=name)[1] == "Rule can't be deleted since it has targets."
        ids = [t["Id"] for t in events.list_targets_by_rule(Rule=name)["Targets"]]
        assert events.remove_targets(Rule=name, Ids=ids)["FailedEntryCount"] == 0
        events.delete_rule(Name=name)
    time.sleep(SETTLE)
    before = len(received("sched-rules"))
    time.sleep(3)
    assert len(received("sched-rules")) == before, "a deleted rule ticked"
    assert received("sched-noperm") == [], "a target without permission was invoked"
    cw = boto3.client("cloudwatch", **kw)

    def failed_invocations():
        points = cw.get_metric_statistics(
            Namespace="AWS/Events", MetricName="FailedInvocations", Statistics=["Sum"], Period=60,
            Dimensions=[{"Name": "RuleName", "Value": "no-permission"}],
            StartTime=time.time() - 600, EndTime=time.time() + 60)["Datapoints"]
        return sum(p["Sum"] for p in points)
    out["failed_invocations"] = wait_for("FailedInvocations of the rule without permission", failed_invocations)
    noperm_arn = alias_arn.replace("sched-rules", "sched-noperm")
    assert events.list_rule_names_by_target(TargetArn=noperm_arn)["RuleNames"] == ["no-permission"]
    assert events.describe_event_bus()["Arn"] == "arn:aws:events:us-east-1:000000000000:event-bus/default"
    names = [r["Name"] for r in events.list_rules()["Rules"]]
    assert names == ["no-permission"], names
    page = events.list_rules(NamePrefix="no-", Limit=1)
    assert [r["Name"] for r in page["Rules"]] == ["no-permission"] and "NextToken" not in page, page
    out["ticks"] = len(received("sched-rules"))
    return out


def patterns():
    alias_arn = function_with_versions("sched-events")
    pattern = {"source": ["shop"], "detail": {"amount": [{"numeric": [">", 100]}], "kind": [{"prefix": "ord"}]}}
    rule_arn = events.put_rule(Name="big-orders", EventPattern=json.dumps(pattern))["RuleArn"]
    d = events.describe_rule(Name="big-orders")
    assert json.loads(d["EventPattern"]) == pattern and "ScheduleExpression" not in d, d
    allow("sched-events", rule_arn)
    events.put_targets(Rule="big-orders", Targets=[{"Id": "t", "Arn": alias_arn}])
    r = events.put_events(Entries=[
        {"Source": "shop", "DetailType": "order", "Detail": json.dumps({"amount": 300, "kind": "order"}),
         "Resources": ["arn:aws:s3:::b"]},
        {"Source": "shop", "DetailType": "order", "Detail": json.dumps({"amount": 5, "kind": "order"})},
        {"Source": "other", "DetailType": "order", "Detail": json.dumps({"amount": 300, "kind": "order"})},
        {"DetailType": "order", "Detail": "{}"},
        {"Source": "shop", "DetailType": "order", "Detail": "not json"},
    ])
    assert r["FailedEntryCount"] == 2, r
    assert [set(e) for e in r["Entries"][:3]] == [{"EventId"}] * 3, r
    assert r["Entries"][3] == {"ErrorCode": "InvalidArgument",
                               "ErrorMessage": "Parameter Source is not valid. Reason: Source is a required argument."}
    assert r["Entries"][4] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}, r
    got = wait_for("the matching event", lambda: received("sched-events"))
    time.sleep(1)
    got = received("sched-events")
    assert len(got) == 1, got
    version, e = got[0]
    assert version == "1"
    assert (e["source"], e["detail-type"], e["detail"], e["resources"], e["id"]) == (
        "shop", "order", {"amount": 300, "kind": "order"}, ["arn:aws:s3:::b"], r["Entries"][0]["EventId"]), e
    t = events.test_event_pattern(EventPattern=json.dumps(pattern), Event=json.dumps(
        {"id": "1", "source": "shop", "detail-type": "x", "account": "000000000000", "time": "2026-01-01T00:00:00Z",
         "region": "us-east-1", "resources": [], "detail": {"amount": 101, "kind": "order"}}))
    assert t["Result"] is True, t
    code, message, _ = error(events.test_event_pattern, EventPattern='{"a": [{"EXISTS": true}]}', Event="{}")
    assert message == "Event pattern is not valid. Reason: Unrecognized match type EXISTS", message
    return {"delivered": len(got)}


# An IANA zone read from the host's tz database, or a fixed offset where there is none.
ZONE = "Europe/Paris" if os.path.exists("/usr/share/zoneinfo/Europe/Paris") else "Etc/GMT-1"


def scheduler():
    alias_arn = function_with_versions("sched-scheduler")
    for bad in ["rate(10 seconds)", "cron(0 1 * * * *)", "at(2021-12-31)"]:
        code, message, status = error(sched.create_schedule, Name="bad", ScheduleExpression=bad,
                                      FlexibleTimeWindow={"Mode": "OFF"}, Target={"Arn": alias_arn, "RoleArn": ROLE})
        assert (code, message, status) == ("ValidationException", f"Invalid Schedule Expression {bad}.", 400), message
    assert error(sched.get_schedule, Name="bad")[:3] == ("ResourceNotFoundException", "Schedule bad does not exist.", 404)
    arn = sched.create_schedule(Name="every-minute", ScheduleExpression="rate(1 minute)",
                                FlexibleTimeWindow={"Mode": "OFF"},
                                Target={"Arn": alias_arn, "RoleArn": ROLE, "Input": '{"k":"v"}'})["ScheduleArn"]
    assert arn == "arn:aws:scheduler:us-east-1:000000000000:schedule/default/every-minute", arn
    assert error(sched.create_schedule, Name="every-minute", ScheduleExpression="rate(1 minute)",
                 FlexibleTimeWindow={"Mode": "OFF"}, Target={"Arn": alias_arn, "RoleArn": ROLE})[::2] == (
        "ConflictException", 409)
    too_old = error(sched.create_schedule, Name="bad-retry", ScheduleExpression="rate(1 minute)",
                    FlexibleTimeWindow={"Mode": "OFF"},
                    Target={"Arn": alias_arn, "RoleArn": ROLE, "RetryPolicy": {"MaximumEventAgeInSeconds": 86401}})
    assert too_old == ("ValidationException", "1 validation error detected: Value '86401' at "
                       "'target.retryPolicy.maximumEventAgeInSeconds' failed to satisfy constraint: Member must have "
                       "value less than or equal to 86400", 400), too_old
    code, message, _ = error(sched.create_schedule, Name="bad-zone", ScheduleExpression="rate(1 minute)",
                             ScheduleExpressionTimezone="Mars/Olympus", FlexibleTimeWindow={"Mode": "OFF"},
                             Target={"Arn": alias_arn, "RoleArn": ROLE})
    assert code == "ValidationException", (code, message)
    g = sched.get_schedule(Name="every-minute")
    assert (g["Arn"], g["GroupName"], g["State"], g["Target"]["Input"], g["FlexibleTimeWindow"]) == (
        arn, "default", "ENABLED", '{"k":"v"}', {"Mode": "OFF"}), g
    got = wait_for("the schedule's Input", lambda: received("sched-scheduler"))
    assert got[0] == ("1", {"k": "v"}), got
    # Update (full replace): no Input → the default notification, through a promotion.
    lam.update_alias(FunctionName="sched-scheduler", Name="prod", FunctionVersion="2")
    sched.update_schedule(Name="every-minute", ScheduleExpression="rate(1 minute)",
                          ScheduleExpressionTimezone=ZONE,
                          FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 5},
                          Target={"Arn": alias_arn, "RoleArn": ROLE})
    default = wait_for("the default notification on version 2",
                       lambda: [e for v, e in received("sched-scheduler") if v == "2" and e != {"k": "v"}])[0]
    assert (default["source"], default["detail-type"], default["detail"], default["resources"]) == (
        "aws.scheduler", "Scheduled Event", "{}", [arn]), default
    assert sched.get_schedule(Name="every-minute")["ScheduleExpressionTimezone"] == ZONE
    assert [g["Name"] for g in sched.list_schedule_groups()["ScheduleGroups"]] == ["default"]
    assert sched.get_schedule_group(Name="default")["State"] == "ACTIVE"
    assert error(sched.get_schedule_group, Name="other")[::2] == ("ResourceNotFoundException", 404)
    listed = sched.list_schedules()["Schedules"]
    assert [(s["Name"], s["State"], s["Target"]["Arn"]) for s in listed] == [("every-minute", "ENABLED", alias_arn)]
    assert sched.delete_schedule(Name="every-minute")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert error(sched.delete_schedule, Name="every-minute")[::2] == ("ResourceNotFoundException", 404)
    time.sleep(SETTLE)
    before = len(received("sched-scheduler"))
    time.sleep(3)
    assert len(received("sched-scheduler")) == before, "a deleted schedule fired"
    # A one-time schedule three seconds ahead, deleted after it fires.
    at = time.gmtime(time.time() + 3)
    sched.create_schedule(Name="once", ScheduleExpression=time.strftime("at(%Y-%m-%dT%H:%M:%S)", at),
                          FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion="DELETE",
                          Target={"Arn": alias_arn, "RoleArn": ROLE, "Input": '{"once": "<aws.scheduler.schedule-arn>"}'})
    wait_for("the at() schedule", lambda: [e for _, e in received("sched-scheduler") if "once" in e])
    wait_for("the at() schedule deleted", lambda: sched.list_schedules()["Schedules"] == [])
    return {"events": len(received("sched-scheduler"))}


def durable_start():
    alias_arn = function_with_versions("sched-durable")
    rule_arn = events.put_rule(Name="durable", ScheduleExpression="rate(10 minutes)")["RuleArn"]
    allow("sched-durable", rule_arn)
    events.put_targets(Rule="durable", Targets=[{"Id": "t", "Arn": alias_arn}])
    wait_for("two ticks", lambda: len(received("sched-durable")) >= 2, limit=40)
    return {"times": [e["time"] for _, e in received("sched-durable")]}


def durable_count():
    return {"times": [e["time"] for _, e in received("sched-durable")]}


def signed():
    arn = events.put_rule(Name="signed", ScheduleExpression="rate(1 day)")["RuleArn"]
    assert [r["Arn"] for r in events.list_rules()["Rules"]] == [arn]
    target = arn.replace(":events:", ":lambda:").replace(":rule/signed", ":function:nothing:prod")
    s_arn = sched.create_schedule(Name="signed", ScheduleExpression="rate(1 day)", FlexibleTimeWindow={"Mode": "OFF"},
                                  Target={"Arn": target, "RoleArn": ROLE})["ScheduleArn"]
    assert sched.get_schedule(Name="signed")["Arn"] == s_arn
    sched.delete_schedule(Name="signed")
    events.delete_rule(Name="signed")
    forged = dict(kw, aws_secret_access_key=secret + "x")
    refused = {}
    for service, call in [("events", lambda c: c.list_rules()), ("scheduler", lambda c: c.list_schedules())]:
        try:
            call(boto3.client(service, **forged))
            raise AssertionError(f"{service} accepted a forged signature")
        except ClientError as e:
            refused[service] = (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"])
    return {"refused": refused}


result = {"signed": signed, "rules": rules, "events": patterns, "scheduler": scheduler, "durable-start": durable_start,
          "durable-count": durable_count}[mode]()
print(json.dumps(result))
