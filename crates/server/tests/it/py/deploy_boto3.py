"""Drives CodeDeploy (compute platform Lambda) through boto3 against a Versa endpoint, with
real functions, hooks and alarms (deployments.md §6.3). Asserts as it goes; prints a timeline
of the canary run and one JSON document of what it observed.

Usage: deploy_boto3.py ENDPOINT story
       deploy_boto3.py ENDPOINT durable-start   (leaves a canary at weight 0.5; prints its id)
       deploy_boto3.py ENDPOINT durable-finish ID
"""
import io
import json
import sys
import time
import urllib.request
import zipfile

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, WaiterError

endpoint, mode = sys.argv[1], sys.argv[2]
kw = dict(
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
    config=Config(retries={"max_attempts": 1}),
)
lam = boto3.client("lambda", **kw)
cd = boto3.client("codedeploy", **kw)
cw = boto3.client("cloudwatch", **kw)
logs = boto3.client("logs", **kw)
T0 = time.time()
timeline = []


def note(what):
    line = f"{time.time() - T0:7.2f}s {what}"
    timeline.append(line)
    print(line, file=sys.stderr)


def zipped(code):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as f:
        f.writestr("index.py", code)
    return b.getvalue()


VERSION = 'def handler(e, c):\n    return "{v}"\n'
FAILING = 'def handler(e, c):\n    raise Exception("v2 is broken")\n'
HOOK = '''import json, os, urllib.request
def handler(event, context):
    print("HOOK " + json.dumps(event, sort_keys=True))
    status = os.environ.get("CALLBACK")
    if status:
        body = json.dumps({"deploymentId": event["DeploymentId"],
            "lifecycleEventHookExecutionId": event["LifecycleEventHookExecutionId"], "status": status}).encode()
        req = urllib.request.Request(os.environ["AWS_ENDPOINT_URL"] + "/", data=body, headers={
            "X-Amz-Target": "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus",
            "Content-Type": "application/x-amz-json-1.1"})
        urllib.request.urlopen(req).read()
'''
ROLE = "arn:aws:iam::000000000000:role/r"


def create(name, code, env=None):
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="index.handler",
                        Code={"ZipFile": zipped(code)}, Environment={"Variables": env or {}})


def function_with_versions(name, v2_code=None):
    """`name` with versions 1 and 2 and alias `live` on 1."""
    create(name, VERSION.format(v="v1"))
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    lam.update_function_code(FunctionName=name, ZipFile=zipped(v2_code or VERSION.format(v="v2")))
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")


def raw(op, body):
    """A call botocore's model cannot make (the Versa-only `versaIntervalUnit`)."""
    req = urllib.request.Request(endpoint + "/", data=json.dumps(body).encode(), headers={
        "X-Amz-Target": "CodeDeploy_20141006." + op, "Content-Type": "application/x-amz-json-1.1"})
    return json.loads(urllib.request.urlopen(req).read())


def seconds_config(name, kind, pct, interval):
    key = "timeBasedCanary" if kind == "TimeBasedCanary" else "timeBasedLinear"
    p = "canary" if kind == "TimeBasedCanary" else "linear"
    raw("CreateDeploymentConfig", {"deploymentConfigName": name, "computePlatform": "Lambda",
        "trafficRoutingConfig": {"type": kind, key: {p + "Percentage": pct, p + "Interval": interval}},
        "versaIntervalUnit": "SECONDS"})


def appspec(fn, pre=None, post=None, current=1, target=2):
    s = (f"version: 0.0\nResources:\n  - myLambdaFunction:\n      Type: AWS::Lambda::Function\n"
         f"      Properties:\n        Name: \"{fn}\"\n        Alias: \"live\"\n"
         f"        CurrentVersion: \"{current}\"\n        TargetVersion: {target}\n")
    hooks = [(k, v) for k, v in (("BeforeAllowTraffic", pre), ("AfterAllowTraffic", post)) if v]
    if hooks:
        s += "Hooks:\n" + "".join(f"  - {k}: \"{v}\"\n" for k, v in hooks)
    return s


def group(name, config, alarms=None, rollback=None):
    args = dict(applicationName="app", deploymentGroupName=name, serviceRoleArn=ROLE, deploymentConfigName=config,
                deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"})
    if alarms:
        args["alarmConfiguration"] = {"enabled": True, "alarms": [{"name": a} for a in alarms]}
    if rollback:
        args["autoRollbackConfiguration"] = {"enabled": True, "events": rollback}
    cd.create_deployment_group(**args)


def deploy(grp, spec):
    return cd.create_deployment(applicationName="app", deploymentGroupName=grp,
                                revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": spec}})["deploymentId"]


def info(d):
    return cd.get_deployment(deploymentId=d)["deploymentInfo"]


def alias(fn):
    a = lam.get_alias(FunctionName=fn, Name="live")
    return a["FunctionVersion"], a.get("RoutingConfig", {}).get("AdditionalVersionWeights") or {}


def wait(pred, what, limit=30.0):
    end = time.time() + limit
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def done(d, limit=30.0):
    return wait(lambda: (i := info(d))["status"] in ("Succeeded", "Failed", "Stopped") and i, f"{d} to end", limit)


def error(f):
    try:
        f()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"].get("Message"), e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("no error")


def hook_events(fn):
    try:
        ev = logs.filter_log_events(logGroupName=f"/aws/lambda/{fn}")["events"]
    except ClientError:
        return []
    return [json.loads(e["message"].strip()[5:]) for e in ev if e["message"].startswith("HOOK ")]


def executed_versions(fn, n):
    counts = {}
    for _ in range(n):
        r = lam.invoke(FunctionName=fn, Qualifier="live", Payload=b"{}")
        counts[r["ExecutedVersion"]] = counts.get(r["ExecutedVersion"], 0) + 1
    return counts


def story():
    out = {}
    # §6.3 1: applications.
    cd.create_application(applicationName="app", computePlatform="Lambda")
    assert cd.get_application(applicationName="app")["application"]["computePlatform"] == "Lambda"
    assert error(lambda: cd.create_application(applicationName="app", computePlatform="Lambda"))[0] == "ApplicationAlreadyExistsException"
    assert error(lambda: cd.get_application(applicationName="nope")) == (
        "ApplicationDoesNotExistException", "No application found for name: nope", 400)
    # §6.3 2: configs.
    names = cd.list_deployment_configs()["deploymentConfigsList"]
    lambda_configs = [n for n in names if n.startswith("CodeDeployDefault.Lambda")]
    assert len(lambda_configs) == 9 and len(names) == 17, names
    c = cd.get_deployment_config(deploymentConfigName="CodeDeployDefault.LambdaCanary10Percent5Minutes")["deploymentConfigInfo"]
    assert c["trafficRoutingConfig"] == {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 10, "canaryInterval": 5}}
    cd.create_deployment_config(deploymentConfigName="canary50-1m", computePlatform="Lambda", trafficRoutingConfig={
        "type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 50, "canaryInterval": 1}})
    c = cd.get_deployment_config(deploymentConfigName="canary50-1m")["deploymentConfigInfo"]
    assert c["trafficRoutingConfig"]["timeBasedCanary"] == {"canaryPercentage": 50, "canaryInterval": 1}
    assert error(lambda: cd.get_deployment_config(deploymentConfigName="nope")) == (
        "DeploymentConfigDoesNotExistException", "No deployment configuration found for name: nope", 400)
    seconds_config("canary50-3s", "TimeBasedCanary", 50, 3)
    assert raw("GetDeploymentConfig", {"deploymentConfigName": "canary50-3s"})["deploymentConfigInfo"]["versaIntervalUnit"] == "SECONDS"
    seconds_config("canary50-6s", "TimeBasedCanary", 50, 6)
    seconds_config("linear25-1s", "TimeBasedLinear", 25, 1)

    # §6.3 3-6: a seconds canary with both hooks; the pre-hook gates the shift.
    function_with_versions("fn")
    create("pre", HOOK)
    create("post", HOOK, {"CALLBACK": "Succeeded"})
    group("canary", "canary50-3s")
    spec = appspec("fn", pre="pre", post="post")
    d = deploy("canary", spec)
    note(f"CreateDeployment {d}")
    assert len(d) == 11 and d.startswith("d-") and d[2:].isalnum() and d[2:].upper() == d[2:], d
    i = info(d)
    assert "content" not in i["revision"]["appSpecContent"] and len(i["revision"]["appSpecContent"]["sha256"]) == 64
    rev = cd.get_application_revision(applicationName="app", revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": spec}})
    assert rev["revision"]["appSpecContent"]["content"] == spec
    assert error(lambda: deploy("canary", spec))[0] == "DeploymentLimitExceededException"
    pre = wait(lambda: hook_events("pre"), "the pre-traffic hook")
    note(f"BeforeAllowTraffic hook invoked: {sorted(pre[0])}")
    assert len(pre) == 1 and sorted(pre[0]) == ["DeploymentId", "LifecycleEventHookExecutionId"] and pre[0]["DeploymentId"] == d
    time.sleep(1.5)
    assert alias("fn") == ("1", {}), alias("fn")
    assert info(d)["status"] == "InProgress"
    token = pre[0]["LifecycleEventHookExecutionId"]
    assert error(lambda: cd.put_lifecycle_event_hook_execution_status(deploymentId=d, lifecycleEventHookExecutionId=token, status="Pending"))[0] == "InvalidLifecycleEventHookExecutionStatusException"
    cd.put_lifecycle_event_hook_execution_status(deploymentId=d, lifecycleEventHookExecutionId=token, status="Succeeded")
    note("BeforeAllowTraffic reported Succeeded")
    assert error(lambda: cd.put_lifecycle_event_hook_execution_status(deploymentId=d, lifecycleEventHookExecutionId=token, status="Succeeded"))[0] == "LifecycleEventAlreadyCompletedException"
    wait(lambda: alias("fn") == ("1", {"2": 0.5}), "weight 0.5", 5)
    note("alias (1, {2: 0.5}) seen by GetAlias")
    t = cd.get_deployment_target(deploymentId=d, targetId="fn:live")["deploymentTarget"]
    assert t["deploymentTargetType"] == "LambdaTarget"
    assert t["lambdaTarget"]["lambdaFunctionInfo"] == {"functionName": "fn", "functionAlias": "live", "currentVersion": "1", "targetVersion": "2", "targetVersionWeight": 0.5}
    assert cd.list_deployment_targets(deploymentId=d)["targetIds"] == ["fn:live"]
    counts = executed_versions("fn", 60)
    out["canary_counts"] = counts
    note(f"60 invokes of fn:live during the canary: ExecutedVersion {counts}")
    assert counts.get("1", 0) > 0 and counts.get("2", 0) > 0, counts
    cd.get_waiter("deployment_successful").wait(deploymentId=d, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    note(f"{d} Succeeded (waiter returned)")
    assert alias("fn") == ("2", {})
    note("alias (2, {}) seen by GetAlias")
    assert len(hook_events("post")) == 1
    assert len(hook_events("pre")) == 1
    g = cd.get_deployment_group(applicationName="app", deploymentGroupName="canary")["deploymentGroupInfo"]
    assert g["lastSuccessfulDeployment"]["deploymentId"] == d
    events = {e["lifecycleEventName"]: e["status"] for e in cd.get_deployment_target(deploymentId=d, targetId="fn:live")["deploymentTarget"]["lambdaTarget"]["lifecycleEvents"]}
    assert events == {"BeforeAllowTraffic": "Succeeded", "AllowTraffic": "Succeeded", "AfterAllowTraffic": "Succeeded"}, events
    i = info(d)
    out["canary"] = {k: i.get(k) for k in ("createTime", "startTime", "completeTime")}
    for k in out["canary"]:
        out["canary"][k] = out["canary"][k].timestamp()
    assert d in cd.list_deployments(applicationName="app", deploymentGroupName="canary", includeOnlyStatuses=["Succeeded"])["deployments"]

    # Linear 25 %/1 s: (1,{2:.25}) → (1,{2:.5}) → (1,{2:.75}) → (2,{}), each seen by GetAlias.
    function_with_versions("lin")
    group("linear", "linear25-1s")
    d = deploy("linear", appspec("lin"))
    seen = []
    end = time.time() + 15
    while time.time() < end and (not seen or seen[-1] != ("2", {})):
        a = alias("lin")
        if not seen or seen[-1] != a:
            seen.append(a)
        time.sleep(0.05)
    assert seen == [("1", {}), ("1", {"2": 0.25}), ("1", {"2": 0.5}), ("1", {"2": 0.75}), ("2", {})], seen
    assert done(d)["status"] == "Succeeded"

    # §6.3 3: bad input fails asynchronously with AWS's texts.
    function_with_versions("bad")
    group("bad", "CodeDeployDefault.LambdaAllAtOnce")
    d = deploy("bad", appspec("bad", current=2, target=1))
    i = done(d)
    assert i["status"] == "Failed" and i["errorInformation"] == {"code": "INVALID_LAMBDA_CONFIGURATION", "message":
        "The deployment failed because the AppSpec file that specifies the AWS Lambda deployment configuration is missing or has an invalid configuration. The Lambda function alias version does not match the current version in AppSpec file."}, i
    d = deploy("bad", appspec("bad", current=1, target=1))
    assert done(d)["errorInformation"]["code"] == "INVALID_LAMBDA_CONFIGURATION"
    d = deploy("bad", appspec("bad", current=1, target=7))
    assert done(d)["errorInformation"]["code"] == "INVALID_LAMBDA_FUNCTION"
    d = deploy("bad", "Resources: [")
    assert done(d)["status"] == "Failed"
    # A hook that is not a function fails the deployment before any traffic moves.
    d = deploy("bad", appspec("bad", pre="no-such-hook"))
    i = done(d)
    assert i["status"] == "Failed" and i["errorInformation"]["code"] == "HOOK_EXECUTION_FAILURE", i
    assert "no-such-hook" in i["errorInformation"]["message"], i
    assert alias("bad") == ("1", {})
    # An unknown deployment config is refused at once.
    assert error(lambda: cd.create_deployment(
        applicationName="app", deploymentGroupName="bad", deploymentConfigName="nope",
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec("bad")}})) == (
        "DeploymentConfigDoesNotExistException", "No deployment configuration found for name: nope", 400)
    assert error(lambda: cd.create_deployment(applicationName="app", deploymentGroupName="bad", revision={
        "revisionType": "AppSpecContent", "appSpecContent": {"content": "x", "sha256": "00"}}))[0] == "InvalidRevisionException"
    assert error(lambda: cd.create_deployment(applicationName="app", deploymentGroupName="nope", revision={
        "revisionType": "String", "string": {"content": "x"}}))[0] == "DeploymentGroupDoesNotExistException"

    # §6.3 8: a pre-hook that reports Failed; one that never calls back.
    function_with_versions("hooked")
    create("fails", HOOK, {"CALLBACK": "Failed"})
    create("silent", HOOK)
    group("hooked", "canary50-3s", rollback=["DEPLOYMENT_FAILURE"])
    d = deploy("hooked", appspec("hooked", pre="fails"))
    i = done(d)
    assert i["status"] == "Failed" and i["errorInformation"]["code"] == "HOOK_EXECUTION_FAILURE", i
    assert alias("hooked") == ("1", {})
    # DEPLOYMENT_FAILURE: a rollback deployment; the group takes the next one once it ends.
    assert done(i["rollbackInfo"]["rollbackDeploymentId"])["status"] == "Succeeded"
    assert executed_versions("hooked", 10) == {"1": 10}, "no invoke ever ran v2"
    d = deploy("hooked", appspec("hooked", pre="silent"))
    t = time.time()
    i = done(d, 30)
    out["hook_timeout_seconds"] = round(time.time() - t, 1)
    assert i["status"] == "Failed" and i["errorInformation"]["code"] == "HOOK_EXECUTION_FAILURE", i
    assert alias("hooked") == ("1", {})

    # §6.3 10: StopDeployment with and without rollback.
    function_with_versions("stop")
    group("stop", "canary50-6s")
    d = deploy("stop", appspec("stop"))
    wait(lambda: alias("stop") == ("1", {"2": 0.5}), "weight 0.5")
    r = cd.stop_deployment(deploymentId=d, autoRollbackEnabled=True)
    assert r["status"] == "Succeeded", r
    i = info(d)
    assert i["status"] == "Stopped" and i["errorInformation"]["code"] == "MANUAL_STOP", i
    assert alias("stop") == ("1", {})
    rb = i["rollbackInfo"]["rollbackDeploymentId"]
    r = done(rb)
    assert r["creator"] == "codeDeployRollback" and r["status"] == "Succeeded" and r["rollbackInfo"]["rollbackTriggeringDeploymentId"] == d
    d = deploy("stop", appspec("stop"))
    wait(lambda: alias("stop") == ("1", {"2": 0.5}), "weight 0.5")
    cd.stop_deployment(deploymentId=d, autoRollbackEnabled=False)
    assert info(d)["status"] == "Stopped" and "rollbackInfo" not in info(d)
    time.sleep(1)
    assert alias("stop") == ("1", {"2": 0.5}), "a stop without rollback leaves the alias weighted"
    assert error(lambda: cd.stop_deployment(deploymentId=d))[0] == "DeploymentAlreadyCompletedException"

    # §6.3 7: a v2 that errors, an Errors alarm on fn:live's executed version 2, rollback.
    function_with_versions("broken", FAILING)
    cw.put_metric_alarm(AlarmName="broken-errors", Namespace="AWS/Lambda", MetricName="Errors", Statistic="Sum",
                        Dimensions=[{"Name": "FunctionName", "Value": "broken"}, {"Name": "Resource", "Value": "broken:live"},
                                    {"Name": "ExecutedVersion", "Value": "2"}],
                        Period=10, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
                        TreatMissingData="notBreaching")
    group("broken", "canary50-1m", alarms=["broken-errors"], rollback=["DEPLOYMENT_STOP_ON_ALARM"])
    d = deploy("broken", appspec("broken"))
    wait(lambda: alias("broken") == ("1", {"2": 0.5}), "weight 0.5")
    t = time.time()
    # Traffic goes on until the alarm stops the deployment (its 10-second periods need data).
    while info(d)["status"] == "InProgress" and time.time() - t < 55:
        executed_versions("broken", 5)
    i = done(d, 5)
    out["alarm_rollback_seconds"] = round(time.time() - t, 1)
    assert i["status"] == "Stopped" and i["errorInformation"]["code"] == "ALARM_ACTIVE", i
    # The overview counts the one target with the status GetDeploymentTarget gives it.
    tgt = cd.get_deployment_target(deploymentId=d, targetId="broken:live")["deploymentTarget"]["lambdaTarget"]
    assert tgt["status"] == "Failed" and i["deploymentOverview"]["Failed"] == 1 and i["deploymentOverview"]["Skipped"] == 0, (tgt, i)
    a = cw.describe_alarms(AlarmNames=["broken-errors"])["MetricAlarms"][0]
    assert a["StateValue"] == "ALARM" and a["StateReason"].startswith("Threshold Crossed:"), a
    h = cw.describe_alarm_history(AlarmName="broken-errors", HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert any(x["HistorySummary"].endswith("to ALARM") for x in h), h
    r = done(i["rollbackInfo"]["rollbackDeploymentId"])
    assert r["creator"] == "codeDeployRollback" and r["status"] == "Succeeded", r
    assert alias("broken") == ("1", {})
    assert executed_versions("broken", 30) == {"1": 30}
    try:
        cd.get_waiter("deployment_successful").wait(deploymentId=d, WaiterConfig={"Delay": 1, "MaxAttempts": 3})
        raise AssertionError("the waiter returned on a stopped deployment")
    except WaiterError:
        pass

    # §6.3 9: an alarm already in ALARM (SetAlarmState, no data, ignore) blocks the shift.
    function_with_versions("blocked")
    cw.put_metric_alarm(AlarmName="manual", Namespace="Custom", MetricName="None", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
                        TreatMissingData="ignore")
    cw.set_alarm_state(AlarmName="manual", StateValue="ALARM", StateReason="forced")
    group("blocked", "linear25-1s", alarms=["manual"], rollback=["DEPLOYMENT_STOP_ON_ALARM"])
    d = deploy("blocked", appspec("blocked"))
    i = done(d)
    assert i["status"] == "Stopped" and i["errorInformation"]["code"] == "ALARM_ACTIVE", i
    assert alias("blocked") == ("1", {})

    # Tags by ARN (Terraform), groups listed, the catalogue's errors.
    arn = "arn:aws:codedeploy:us-east-1:000000000000:application:app"
    cd.tag_resource(ResourceArn=arn, Tags=[{"Key": "k", "Value": "v"}])
    assert cd.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "k", "Value": "v"}]
    cd.untag_resource(ResourceArn=arn, TagKeys=["k"])
    assert cd.list_tags_for_resource(ResourceArn=arn)["Tags"] == []
    assert sorted(cd.list_deployment_groups(applicationName="app")["deploymentGroups"]) == ["bad", "blocked", "broken", "canary", "hooked", "linear", "stop"]
    assert error(lambda: cd.get_deployment_group(applicationName="app", deploymentGroupName="nope"))[0] == "DeploymentGroupDoesNotExistException"
    assert error(lambda: cd.get_deployment(deploymentId="d-AAAAAAAAA"))[0] == "DeploymentDoesNotExistException"
    assert error(lambda: cd.delete_deployment_config(deploymentConfigName="canary50-3s"))[0] == "DeploymentConfigInUseException"
    out["timeline"] = timeline
    print(json.dumps(out))


def durable_start():
    cd.create_application(applicationName="app", computePlatform="Lambda")
    seconds_config("canary50-8s", "TimeBasedCanary", 50, 8)
    function_with_versions("fn")
    create("pre", HOOK, {"CALLBACK": "Succeeded"})
    group("g", "canary50-8s")
    d = deploy("g", appspec("fn", pre="pre"))
    wait(lambda: alias("fn") == ("1", {"2": 0.5}), "weight 0.5")
    print(json.dumps({"id": d, "weighted_at": time.time()}))


def durable_linear_start():
    """Linear 25 %/2 s, left at its first step (the server is then killed and kept down)."""
    cd.create_application(applicationName="app", computePlatform="Lambda")
    seconds_config("linear25-2s", "TimeBasedLinear", 25, 2)
    function_with_versions("fn")
    group("g", "linear25-2s")
    d = deploy("g", appspec("fn"))
    wait(lambda: alias("fn") == ("1", {"2": 0.25}), "weight 0.25")
    print(json.dumps({"id": d}))


def durable_linear_finish(d):
    """After a restart past several due times: one step per tick, one interval apart."""
    seen = []
    end = time.time() + 30
    while time.time() < end and (not seen or seen[-1][1] != ("2", {})):
        a = alias("fn")
        if not seen or seen[-1][1] != a:
            seen.append((time.time(), a))
        time.sleep(0.05)
    states = [a for _, a in seen]
    assert states == [("1", {"2": 0.25}), ("1", {"2": 0.5}), ("1", {"2": 0.75}), ("2", {})] or states == [
        ("1", {"2": 0.5}), ("1", {"2": 0.75}), ("2", {})], states
    # The first state was there when polling began; the changes seen after it are writes.
    changes = seen[1:]
    gaps = [round(b[0] - a[0], 2) for a, b in zip(changes, changes[1:])]
    assert gaps and all(g >= 1.8 for g in gaps), gaps
    assert done(d)["status"] == "Succeeded"
    print(json.dumps({"states": [str(s) for s in states], "gaps": gaps}))


def durable_finish(d):
    i = info(d)
    assert i["status"] == "InProgress", i
    assert alias("fn") == ("1", {"2": 0.5}), alias("fn")
    i = done(d, 30)
    assert i["status"] == "Succeeded", i
    assert alias("fn") == ("2", {})
    pre = hook_events("pre")
    assert len(pre) == 1, pre
    print(json.dumps({"completed_at": i["completeTime"].timestamp()}))


def minute():
    """§6.3 5-6 with AWS's own units: a custom TimeBasedCanary{50, 1} (minutes)."""
    cd.create_application(applicationName="app", computePlatform="Lambda")
    cd.create_deployment_config(deploymentConfigName="canary50-1m", computePlatform="Lambda", trafficRoutingConfig={
        "type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 50, "canaryInterval": 1}})
    function_with_versions("fn")
    group("g", "canary50-1m")
    d = deploy("g", appspec("fn"))
    note(f"CreateDeployment {d} (TimeBasedCanary 50%/1 minute)")
    wait(lambda: alias("fn") == ("1", {"2": 0.5}), "weight 0.5", 5)
    weighted = time.time()
    note("alias (1, {2: 0.5})")
    counts = executed_versions("fn", 100)
    note(f"100 invokes of fn:live: ExecutedVersion {counts}")
    assert 25 <= counts.get("2", 0) <= 75, counts
    time.sleep(max(0.0, weighted + 50 - time.time()))
    assert alias("fn") == ("1", {"2": 0.5}) and info(d)["status"] == "InProgress", "still weighted 50 s in"
    note("still (1, {2: 0.5}) and InProgress 50 s after the first write")
    cd.get_waiter("deployment_successful").wait(deploymentId=d, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    shifted = time.time() - weighted
    note(f"{d} Succeeded, alias {alias('fn')}, {shifted:.1f} s after the first write")
    assert alias("fn") == ("2", {}) and 59 <= shifted <= 64, shifted
    assert cd.get_deployment_group(applicationName="app", deploymentGroupName="g")["deploymentGroupInfo"]["lastSuccessfulDeployment"]["deploymentId"] == d
    print(json.dumps({"timeline": timeline, "shifted_after": shifted}))


def catalogue():
    """Tags given at create time, the tag operations' ARN checks, BatchGetDeploymentGroups with a
    missing name, and the List operations' input checks (deployments.md §1.2)."""
    cd.create_application(applicationName="tagged", computePlatform="Lambda", tags=[{"Key": "team", "Value": "a"}])
    cd.create_deployment_group(applicationName="tagged", deploymentGroupName="g", serviceRoleArn=ROLE,
                               tags=[{"Key": "tier", "Value": "prod"}, {"Key": "empty", "Value": ""}])
    app_arn = "arn:aws:codedeploy:us-east-1:000000000000:application:tagged"
    group_arn = "arn:aws:codedeploy:us-east-1:000000000000:deploymentgroup:tagged/g"
    assert cd.list_tags_for_resource(ResourceArn=app_arn)["Tags"] == [{"Key": "team", "Value": "a"}]
    tags = sorted(cd.list_tags_for_resource(ResourceArn=group_arn)["Tags"], key=lambda t: t["Key"])
    assert tags == [{"Key": "empty", "Value": ""}, {"Key": "tier", "Value": "prod"}], tags
    # TagResource and UntagResource name an existing application or group; ListTagsForResource
    # checks the ARN's shape only.
    missing = "arn:aws:codedeploy:us-east-1:000000000000:deploymentgroup:tagged/nope"
    assert error(lambda: cd.tag_resource(ResourceArn=missing, Tags=[{"Key": "k", "Value": "v"}])) == (
        "DeploymentGroupDoesNotExistException", "No Deployment Group found for name: nope", 400)
    assert error(lambda: cd.untag_resource(ResourceArn=app_arn.replace("tagged", "gone"), TagKeys=["k"])) == (
        "ApplicationDoesNotExistException", "No application found for name: gone", 400)
    assert error(lambda: cd.tag_resource(ResourceArn="garbage", Tags=[{"Key": "k", "Value": "v"}]))[0] == "InvalidArnException"
    assert error(lambda: cd.list_tags_for_resource(ResourceArn="garbage"))[0] == "InvalidArnException"
    config_arn = "arn:aws:codedeploy:us-east-1:000000000000:deploymentconfig:CodeDeployDefault.LambdaAllAtOnce"
    assert error(lambda: cd.tag_resource(ResourceArn=config_arn, Tags=[{"Key": "k", "Value": "v"}]))[0] == "ArnNotSupportedException"
    assert cd.list_tags_for_resource(ResourceArn=missing)["Tags"] == []
    # A missing group is reported beside the ones found.
    b = cd.batch_get_deployment_groups(applicationName="tagged", deploymentGroupNames=["g", "nope"])
    assert [g["deploymentGroupName"] for g in b["deploymentGroupsInfo"]] == ["g"], b
    assert b["errorMessage"] == "No Deployment Group found for name: nope", b
    # Tokens a List did not hand out, and statuses that do not exist.
    for call in (lambda: cd.list_applications(nextToken="garbage"),
                 lambda: cd.list_deployment_groups(applicationName="tagged", nextToken="garbage"),
                 lambda: cd.list_deployment_configs(nextToken="garbage"),
                 lambda: cd.list_deployments(nextToken="garbage")):
        assert error(call)[0] == "InvalidNextTokenException"
    assert error(lambda: cd.list_deployments(includeOnlyStatuses=["Bogus"]))[0] == "InvalidDeploymentStatusException"
    assert cd.list_deployments(includeOnlyStatuses=["Succeeded", "Baking"])["deployments"] == []
    # Renaming a group, then its application, keeps its deployments (by the new names).
    cd.create_application(applicationName="app", computePlatform="Lambda")
    function_with_versions("ren")
    group("rg", "CodeDeployDefault.LambdaAllAtOnce")
    d = deploy("rg", appspec("ren"))
    assert done(d)["status"] == "Succeeded"
    cd.update_deployment_group(applicationName="app", currentDeploymentGroupName="rg", newDeploymentGroupName="rg2")
    assert cd.list_deployments(applicationName="app", deploymentGroupName="rg2")["deployments"] == [d]
    g = cd.get_deployment_group(applicationName="app", deploymentGroupName="rg2")["deploymentGroupInfo"]
    assert g["lastSuccessfulDeployment"]["deploymentId"] == d, g
    assert info(d)["deploymentGroupName"] == "rg2"
    cd.update_application(applicationName="app", newApplicationName="app2")
    assert cd.list_deployments(applicationName="app2", deploymentGroupName="rg2")["deployments"] == [d]
    assert (info(d)["applicationName"], info(d)["deploymentGroupName"]) == ("app2", "rg2")
    revision = {"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec("ren")}}
    assert cd.get_application_revision(applicationName="app2", revision=revision)["revisionInfo"]["deploymentGroups"] == ["rg2"]
    # Tags go with a rename and with a delete.
    cd.update_application(applicationName="tagged", newApplicationName="renamed")
    renamed_group = group_arn.replace(":tagged/", ":renamed/")
    assert cd.list_tags_for_resource(ResourceArn=app_arn.replace("tagged", "renamed"))["Tags"] == [{"Key": "team", "Value": "a"}]
    assert len(cd.list_tags_for_resource(ResourceArn=renamed_group)["Tags"]) == 2
    assert cd.list_tags_for_resource(ResourceArn=app_arn)["Tags"] == []
    cd.delete_application(applicationName="renamed")
    cd.create_application(applicationName="renamed", computePlatform="Lambda")
    assert cd.list_tags_for_resource(ResourceArn=app_arn.replace("tagged", "renamed"))["Tags"] == []
    assert cd.list_tags_for_resource(ResourceArn=renamed_group)["Tags"] == []
    print(json.dumps({"group_tags": tags, "batch": b["errorMessage"]}))


if mode == "story":
    story()
elif mode == "catalogue":
    catalogue()
elif mode == "minute":
    minute()
elif mode == "durable-start":
    durable_start()
elif mode == "durable-linear-start":
    durable_linear_start()
elif mode == "durable-linear-finish":
    durable_linear_finish(sys.argv[3])
else:
    durable_finish(sys.argv[3])
