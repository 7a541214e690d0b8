"""Drives Lambda event source mappings through boto3 against a Versa endpoint (event-sources.md
§2, §7 checks 2 and 5). Asserts as it goes; prints one JSON document of what it observed.

Usage: esm_boto3.py ENDPOINT api

The queue and the stream are real when Versa serves SQS and DynamoDB (then their absence is an
error too); otherwise their ARNs are only named.
"""
import io
import json
import re
import sys
import time
import zipfile

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, mode = sys.argv[1], sys.argv[2]
kw = dict(
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
    config=Config(retries={"max_attempts": 1}),
)
lam = boto3.client("lambda", **kw)
sqs = boto3.client("sqs", **kw)
ddb = boto3.client("dynamodb", **kw)
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"
FN_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fn"
CODE = '''import json
def handler(event, context):
    print(json.dumps({"version": context.function_version, "event": event}))
    return {}
'''


def zipped(code):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as f:
        f.writestr("index.py", code)
    return b.getvalue()


def function(name, timeout=3):
    """`name` with versions 1 and 2 and alias prod→1."""
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="index.handler",
                        Code={"ZipFile": zipped(CODE)}, Timeout=timeout)
    for v in ("1", "2"):
        lam.update_function_configuration(FunctionName=name, Description=f"v{v}")
        lam.get_waiter("function_updated_v2").wait(FunctionName=name)
        assert lam.publish_version(FunctionName=name)["Version"] == v
    lam.create_alias(FunctionName=name, Name="prod", FunctionVersion="1")


def error(fn, **kw):
    try:
        fn(**kw)
    except ClientError as e:
        r = e.response
        return {"code": r["Error"]["Code"], "message": r["Error"]["Message"],
                "status": r["ResponseMetadata"]["HTTPStatusCode"]}
    raise AssertionError(f"expected an error from {kw}")


def wait_state(uuid, want, limit=10.0):
    deadline = time.time() + limit
    while True:
        try:
            got = lam.get_event_source_mapping(UUID=uuid)
        except ClientError as e:
            if want is None and e.response["Error"]["Code"] == "ResourceNotFoundException":
                return None
            raise
        if got["State"] == want:
            return got
        assert time.time() < deadline, f"{uuid} stuck in {got['State']}, wanted {want}"
        time.sleep(0.1)


def queue(name, **attrs):
    """A real queue's ARN when Versa serves SQS, else only its name as an ARN."""
    try:
        url = sqs.create_queue(QueueName=name, Attributes={k: str(v) for k, v in attrs.items()})["QueueUrl"]
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"], True
    except ClientError:
        return f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}", False


def stream(name):
    try:
        t = ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                             BillingMode="PAY_PER_REQUEST",
                             StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        return t["TableDescription"]["LatestStreamArn"], True
    except ClientError:
        return f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{name}/stream/2026-12-05T00:00:00.000", False


def api():
    out = {}
    function("fn", timeout=3)
    q, real_sqs = queue("q", VisibilityTimeout=30)
    s, real_ddb = stream("tab")
    out["real"] = {"sqs": real_sqs, "dynamodb": real_ddb}

    # Check 2 (SQS flavour): 202 Creating, the alias kept, §2.3's SQS shape; Enabled soon.
    m = lam.create_event_source_mapping(FunctionName="fn:prod", EventSourceArn=q)
    assert m["ResponseMetadata"]["HTTPStatusCode"] == 202, m
    assert m["State"] == "Creating", m
    assert m["FunctionArn"] == FN_ARN + ":prod", m
    assert m["StateTransitionReason"] == "USER_INITIATED", m
    assert (m["BatchSize"], m["MaximumBatchingWindowInSeconds"], m["FunctionResponseTypes"]) == (10, 0, []), m
    for absent in ("StartingPosition", "LastProcessingResult", "ScalingConfig", "FilterCriteria", "DestinationConfig"):
        assert absent not in m, (absent, m)
    assert re.fullmatch(r"arn:aws:lambda:us-east-1:\d{12}:event-source-mapping:[0-9a-f-]{36}", m["EventSourceMappingArn"])
    assert m["EventSourceMappingArn"].endswith(m["UUID"])
    sqs_uuid = m["UUID"]
    enabled = wait_state(sqs_uuid, "Enabled")
    out["sqs_mapping"] = {k: v for k, v in enabled.items() if k != "ResponseMetadata"}

    # Check 5: duplicate, missing function/alias, batch window, and nothing changed after them.
    e = error(lam.create_event_source_mapping, FunctionName="fn:prod", EventSourceArn=q)
    assert e["status"] == 409 and e["code"] == "ResourceConflictException", e
    assert e["message"] == (f'An event source mapping with SQS arn (" {q} ") and function (" fn ") already exists. '
                            f"Please update or delete the existing mapping with UUID {sqs_uuid}"), e
    for name in ("fn:nope", "nope", "fn:7"):
        e = error(lam.create_event_source_mapping, FunctionName=name, EventSourceArn=q)
        assert (e["status"], e["code"], e["message"]) == (400, "InvalidParameterValueException",
                                                          "Function does not exist"), (name, e)
    e = error(lam.create_event_source_mapping, FunctionName="fn", EventSourceArn=q, BatchSize=11)
    assert e["message"] == ("Maximum batch window in seconds must be greater than 0 if maximum batch size is "
                            "greater than 10"), e
    e = error(lam.create_event_source_mapping, FunctionName="fn")
    assert (e["code"], e["message"]) == ("InvalidParameterValueException", "Unrecognized event source."), e
    e = error(lam.create_event_source_mapping, FunctionName="fn", EventSourceArn=q,
              FilterCriteria={"Filters": [{"Pattern": "{"}]})
    assert e["message"] == "Invalid filter pattern definition.", e
    e = error(lam.create_event_source_mapping, FunctionName="fn", EventSourceArn=q,
              DestinationConfig={"OnFailure": {"Destination": q}})
    assert e["message"] == "Unsupported DestinationConfig parameter for given event source mapping type.", e
    e = error(lam.create_event_source_mapping, FunctionName="fn", EventSourceArn=q, BatchSize=10001)
    assert e["code"] == "ValidationException" and "batchSize" in e["message"], e
    if real_sqs:
        e = error(lam.create_event_source_mapping, FunctionName="fn", EventSourceArn=q[:-1] + "nope")
        assert e["message"] == ("Error occurred while ReceiveMessage. SQS Error Code: "
                                "AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue "
                                "does not exist."), e
        short, _ = queue("short", VisibilityTimeout=2)
        e = error(lam.create_event_source_mapping, FunctionName="fn", EventSourceArn=short)
        assert e["message"] == "Queue visibility timeout: 2 seconds is less than Function timeout: 3 seconds", e
    assert len(lam.list_event_source_mappings()["EventSourceMappings"]) == 1

    # Stream errors, then a stream mapping with §2.3's defaults.
    e = error(lam.create_event_source_mapping, FunctionName="fn:prod", EventSourceArn=s)
    assert e["message"] == ("1 validation error detected: Value null at 'startingPosition' failed to satisfy "
                            "constraint: Member must not be null."), e
    e = error(lam.create_event_source_mapping, FunctionName="fn:prod", EventSourceArn=s,
              StartingPosition="AT_TIMESTAMP", StartingPositionTimestamp=1)
    assert e["message"] == f"Unsupported starting position for arn type: {s}", e
    e = error(lam.create_event_source_mapping, FunctionName="fn:prod", EventSourceArn=s, StartingPosition="invalid")
    assert e["code"] == "ValidationException", e
    assert e["message"] == ("1 validation error detected: Value 'invalid' at 'startingPosition' failed to satisfy "
                            "constraint: Member must satisfy enum value set: [LATEST, AT_TIMESTAMP, TRIM_HORIZON]"), e
    if real_ddb:
        gone = s.replace("table/tab/", "table/gone/")
        e = error(lam.create_event_source_mapping, FunctionName="fn:prod", EventSourceArn=gone,
                  StartingPosition="TRIM_HORIZON")
        assert e["message"] == f"Stream not found: {gone}", e
        # The label counts: a made-up one names no stream (the table's stream is another).
        stale = s.rsplit("/stream/", 1)[0] + "/stream/1999-01-01T00:00:00.000"
        e = error(lam.create_event_source_mapping, FunctionName="fn:prod", EventSourceArn=stale,
                  StartingPosition="TRIM_HORIZON")
        assert e["message"] == f"Stream not found: {stale}", e
    m = lam.create_event_source_mapping(FunctionName=f"{FN_ARN}:prod", EventSourceArn=s,
                                        StartingPosition="TRIM_HORIZON", FilterCriteria={"Filters": []})
    assert m["State"] == "Creating" and m["StateTransitionReason"] == "User action", m
    assert m["FunctionArn"] == FN_ARN + ":prod", m
    want = {"BatchSize": 100, "MaximumBatchingWindowInSeconds": 0, "StartingPosition": "TRIM_HORIZON",
            "ParallelizationFactor": 1, "DestinationConfig": {"OnFailure": {}}, "MaximumRecordAgeInSeconds": -1,
            "BisectBatchOnFunctionError": False, "MaximumRetryAttempts": -1, "TumblingWindowInSeconds": 0,
            "LastProcessingResult": "No records processed", "FunctionResponseTypes": []}
    for k, v in want.items():
        assert m[k] == v, (k, m)
    assert "FilterCriteria" not in m, m
    stream_uuid = m["UUID"]
    e = error(lam.create_event_source_mapping, FunctionName="fn:prod", EventSourceArn=s, StartingPosition="LATEST")
    assert e["message"] == (f'The event source arn (" {s} ") and function (" fn ") provided mapping already exists. '
                            f"Please update or delete the existing mapping with UUID {stream_uuid}"), e
    wait_state(stream_uuid, "Enabled")

    # The same queue on the unqualified function is another mapping; disabled from the start.
    m = lam.create_event_source_mapping(FunctionName="fn", EventSourceArn=q, Enabled=False,
                                        ScalingConfig={"MaximumConcurrency": 2},
                                        FilterCriteria={"Filters": [{"Pattern": '{"body": {"k": [1]}}'}]})
    assert (m["State"], m["FunctionArn"]) == ("Disabled", FN_ARN), m
    assert m["ScalingConfig"] == {"MaximumConcurrency": 2} and len(m["FilterCriteria"]["Filters"]) == 1, m
    plain_uuid = m["UUID"]

    # Filters: FunctionName normalised like Create, compared exactly; unknown names give [].
    def listed(**kw):
        return sorted(x["UUID"] for x in lam.list_event_source_mappings(**kw)["EventSourceMappings"])
    assert listed(FunctionName="fn:prod") == sorted([sqs_uuid, stream_uuid])
    assert listed(FunctionName=f"{FN_ARN}:prod") == sorted([sqs_uuid, stream_uuid])
    assert listed(FunctionName="fn") == [plain_uuid]
    assert listed(FunctionName="doesnotexist") == []
    assert listed(EventSourceArn=q) == sorted([sqs_uuid, plain_uuid])
    assert listed(EventSourceArn=q, FunctionName="fn:prod") == [sqs_uuid]
    page = lam.list_event_source_mappings(MaxItems=2)
    assert len(page["EventSourceMappings"]) == 2 and "NextMarker" in page, page
    rest = lam.list_event_source_mappings(Marker=page["NextMarker"])
    assert len(rest["EventSourceMappings"]) == 1 and "NextMarker" not in rest, rest
    pages = [x["UUID"] for p in lam.get_paginator("list_event_source_mappings").paginate(PaginationConfig={"PageSize": 1})
             for x in p["EventSourceMappings"]]
    assert sorted(pages) == sorted([sqs_uuid, stream_uuid, plain_uuid]), pages

    # Updates: Updating → Enabled, Disabling → Disabled, Enabling → Enabled, re-pointing.
    before = lam.get_event_source_mapping(UUID=sqs_uuid)
    u = lam.update_event_source_mapping(UUID=sqs_uuid, BatchSize=5, FunctionResponseTypes=["ReportBatchItemFailures"])
    assert u["ResponseMetadata"]["HTTPStatusCode"] == 202 and u["State"] == "Updating", u
    assert (u["BatchSize"], u["FunctionResponseTypes"]) == (5, ["ReportBatchItemFailures"]), u
    assert u["LastModified"] >= before["LastModified"]
    wait_state(sqs_uuid, "Enabled")
    e = error(lam.update_event_source_mapping, UUID=sqs_uuid, BatchSize=20)
    assert e["message"].startswith("Maximum batch window in seconds must be greater than 0"), e
    assert lam.get_event_source_mapping(UUID=sqs_uuid)["BatchSize"] == 5
    assert lam.update_event_source_mapping(UUID=sqs_uuid, Enabled=False)["State"] == "Disabling"
    wait_state(sqs_uuid, "Disabled")
    assert lam.update_event_source_mapping(UUID=sqs_uuid, Enabled=True)["State"] == "Enabling"
    wait_state(sqs_uuid, "Enabled")
    e = error(lam.update_event_source_mapping, UUID=sqs_uuid, FunctionName="fn:nope")
    assert e["message"] == "Function does not exist", e
    e = error(lam.update_event_source_mapping, UUID=sqs_uuid, FunctionName="fn")
    assert e["code"] == "ResourceConflictException" and plain_uuid in e["message"], e
    u = lam.update_event_source_mapping(UUID=stream_uuid, FunctionName="fn:1", MaximumRetryAttempts=1,
                                        BisectBatchOnFunctionError=True,
                                        DestinationConfig={"OnFailure": {"Destination": q}})
    assert (u["FunctionArn"], u["MaximumRetryAttempts"], u["BisectBatchOnFunctionError"]) == (FN_ARN + ":1", 1, True)
    assert u["DestinationConfig"] == {"OnFailure": {"Destination": q}}, u
    wait_state(stream_uuid, "Enabled")

    # Unknown UUIDs; Delete answers the mapping Deleting, then it is gone.
    missing = "00000000-0000-4000-8000-000000000000"
    for call in (lam.get_event_source_mapping, lam.delete_event_source_mapping):
        e = error(call, UUID=missing)
        assert (e["status"], e["code"], e["message"]) == (404, "ResourceNotFoundException",
                                                          "The resource you requested does not exist."), e
    e = error(lam.update_event_source_mapping, UUID=missing, BatchSize=1)
    assert e["status"] == 404, e
    d = lam.delete_event_source_mapping(UUID=plain_uuid)
    assert d["ResponseMetadata"]["HTTPStatusCode"] == 202 and d["State"] == "Deleting", d
    assert d["UUID"] == plain_uuid and d["FunctionArn"] == FN_ARN
    wait_state(plain_uuid, None)
    assert listed() == sorted([sqs_uuid, stream_uuid])
    # Mappings survive DeleteFunction (AWS leaves them Enabled).
    lam.delete_function(FunctionName="fn")
    assert lam.get_event_source_mapping(UUID=sqs_uuid)["State"] == "Enabled"
    out["uuids"] = {"sqs": sqs_uuid, "stream": stream_uuid}
    return out


SQS_CODE = '''import json
def handler(event, context):
    recs = event["Records"]
    print("ESM " + json.dumps({"version": context.function_version, "records": [
        {"id": r["messageId"], "body": r["body"], "count": r["attributes"]["ApproximateReceiveCount"],
         "source": r["eventSource"], "arn": r["eventSourceARN"], "md5": r["md5OfBody"]} for r in recs]}))
    if any(r["body"] == "blank" and r["attributes"]["ApproximateReceiveCount"] == "1" for r in recs):
        return {"batchItemFailures": [{"itemIdentifier": ""}]}
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in recs if r["body"].startswith("fail")]}
'''


def invocations(group="/aws/lambda/fn"):
    """Every batch the function logged, oldest first."""
    logs = boto3.client("logs", **kw)
    out, token = [], None
    while True:
        args = {"logGroupName": group}
        if token:
            args["nextToken"] = token
        try:
            page = logs.filter_log_events(**args)
        except ClientError:
            return []
        for e in page["events"]:
            if e["message"].startswith("ESM "):
                out.append((e["timestamp"], json.loads(e["message"][4:])))
        token = page.get("nextToken")
        if not token:
            break
    return [b for _, b in sorted(out, key=lambda x: x[0])]


def until(what, check, limit=30.0):
    deadline = time.time() + limit
    while True:
        got = check()
        if got:
            return got
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def sqs_story():
    """§7 checks 8 and 10, and a promotion seen at the next batch."""
    lam.create_function(FunctionName="fn", Runtime="python3.12", Role=ROLE, Handler="index.handler",
                        Code={"ZipFile": zipped(SQS_CODE)}, Timeout=3)
    for v in ("1", "2"):
        lam.update_function_configuration(FunctionName="fn", Description=f"v{v}")
        lam.get_waiter("function_updated_v2").wait(FunctionName="fn")
        assert lam.publish_version(FunctionName="fn")["Version"] == v
    lam.create_alias(FunctionName="fn", Name="prod", FunctionVersion="1")
    dlq_url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName="q", Attributes={
        "VisibilityTimeout": "5",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})})["QueueUrl"]
    q = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bodies = ["ok-1", "fail-1", "ok-2", "fail-2"]
    sent = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)])
    ids = {e["MessageId"]: bodies[int(e["Id"])] for e in sent["Successful"]}
    # Messages queued before the mapping exists are delivered.
    m = lam.create_event_source_mapping(FunctionName="fn:prod", EventSourceArn=q, BatchSize=10,
                                        MaximumBatchingWindowInSeconds=1,
                                        FunctionResponseTypes=["ReportBatchItemFailures"])
    uuid = m["UUID"]

    def dlq_holds_two():
        got = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                  VisibilityTimeout=60).get("Messages", [])
        return got if len(got) == 2 else None
    dead = until("the two failures in the DLQ", dlq_holds_two, limit=40)
    batches = invocations()
    assert sorted(r["body"] for r in batches[0]["records"]) == sorted(bodies), batches
    assert all(r["count"] == "1" and r["source"] == "aws:sqs" and r["arn"] == q for r in batches[0]["records"])
    seen = [(r["body"], r["count"]) for b in batches for r in b["records"]]
    assert seen.count(("ok-1", "1")) == 1 and seen.count(("ok-2", "1")) == 1, seen
    assert [s for s in seen if s[0].startswith("ok")] == [("ok-1", "1"), ("ok-2", "1")] or \
        sorted(s for s in seen if s[0].startswith("ok")) == [("ok-1", "1"), ("ok-2", "1")], seen
    assert sorted(s for s in seen if s[0].startswith("fail")) == [
        ("fail-1", "1"), ("fail-1", "2"), ("fail-2", "1"), ("fail-2", "2")], seen
    assert all(b["version"] == "1" for b in batches), batches
    assert sorted((d["MessageId"], d["Body"]) for d in dead) == sorted(
        (i, b) for i, b in ids.items() if b.startswith("fail")), dead
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                   "ApproximateNumberOfMessagesNotVisible"])
    assert counts["Attributes"] == {"ApproximateNumberOfMessages": "0",
                                    "ApproximateNumberOfMessagesNotVisible": "0"}, counts

    # Promotion: the next batch runs the new version; the mapping itself is untouched.
    before = lam.get_event_source_mapping(UUID=uuid)
    lam.update_alias(FunctionName="fn", Name="prod", FunctionVersion="2")
    sqs.send_message(QueueUrl=url, MessageBody="after-promotion")
    b = until("the batch after the promotion",
              lambda: [b for b in invocations() if b["records"][0]["body"] == "after-promotion"])
    assert b[0]["version"] == "2", b
    assert lam.get_event_source_mapping(UUID=uuid)["LastModified"] == before["LastModified"]

    # Check 10: an empty itemIdentifier fails the whole batch, which comes back (ReceiveCount 2).
    sqs.send_message(QueueUrl=url, MessageBody="blank")
    got = until("the blank batch twice",
                lambda: [r["count"] for b in invocations() for r in b["records"] if r["body"] == "blank"]
                if len([1 for b in invocations() for r in b["records"] if r["body"] == "blank"]) >= 2 else None)
    assert got == ["1", "2"], got
    return {"batches": len(invocations()), "uuid": uuid}


def sqs_more():
    """§7 check 9 (an UpdateAlias halfway through 50 messages: each handled once, each batch on
    one version) and FIFO order per message group."""
    lam.create_function(FunctionName="fn", Runtime="python3.12", Role=ROLE, Handler="index.handler",
                        Code={"ZipFile": zipped(SQS_CODE)}, Timeout=3)
    for v in ("1", "2"):
        lam.update_function_configuration(FunctionName="fn", Description=f"v{v}")
        lam.get_waiter("function_updated_v2").wait(FunctionName="fn")
        assert lam.publish_version(FunctionName="fn")["Version"] == v
    lam.create_alias(FunctionName="fn", Name="prod", FunctionVersion="1")
    url = sqs.create_queue(QueueName="half")["QueueUrl"]
    q = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lam.create_event_source_mapping(FunctionName="fn:prod", EventSourceArn=q, BatchSize=5)

    def send(lo, hi):
        for i in range(lo, hi, 10):
            sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": f"m{j:02}"}
                                                          for j in range(i, min(i + 10, hi))])

    def bodies(prefix):
        return [(r["body"], b["version"]) for b in invocations() for r in b["records"] if r["body"].startswith(prefix)]
    send(0, 25)
    until("the first 25", lambda: len(bodies("m")) >= 25)
    lam.update_alias(FunctionName="fn", Name="prod", FunctionVersion="2")
    send(25, 50)
    until("all 50", lambda: len(bodies("m")) >= 50)
    time.sleep(1)
    got = bodies("m")
    assert sorted(b for b, _ in got) == [f"m{j:02}" for j in range(50)], got
    assert all(v == ("1" if int(b[1:]) < 25 else "2") for b, v in got), got
    for batch in invocations():
        assert len({batch["version"]}) == 1

    furl = sqs.create_queue(QueueName="f.fifo", Attributes={"FifoQueue": "true",
                                                             "ContentBasedDeduplication": "true"})["QueueUrl"]
    fq = sqs.get_queue_attributes(QueueUrl=furl, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for i in range(6):
        for g in ("g1", "g2"):
            sqs.send_message(QueueUrl=furl, MessageBody=f"{g}-{i}", MessageGroupId=g)
    lam.create_event_source_mapping(FunctionName="fn", EventSourceArn=fq, BatchSize=2)
    until("12 FIFO messages", lambda: len(bodies("g")) >= 12)
    got = [b for b, _ in bodies("g")]
    for g in ("g1", "g2"):
        assert [b for b in got if b.startswith(g)] == [f"{g}-{i}" for i in range(6)], got
    return {"fifo": got}


STREAM_CODE = '''import json
def handler(event, context):
    recs = event["Records"]
    print("ESM " + json.dumps({"version": context.function_version, "records": [
        {"name": r["eventName"], "key": r["dynamodb"]["Keys"]["k"]["S"], "seq": r["dynamodb"]["SequenceNumber"],
         "arn": r["eventSourceARN"], "size": r["dynamodb"].get("SizeBytes"),
         "t": r["dynamodb"].get("ApproximateCreationDateTime")} for r in recs]}))
    if any(r["dynamodb"]["Keys"]["k"]["S"] == "poison" for r in recs):
        raise Exception("poison")
    return {}
'''


# The kill -9 story's function also writes every record it handles into the table `seen`
# (through Versa's own API, from inside the sandbox), before it answers: DynamoDB writes are
# durable, unlike the log lines the other stories read, whose writer may lose its last lines to
# the kill. A record's processing is then a fact the test can count after the restart.
KILL_CODE = STREAM_CODE.replace("def handler(event, context):", """import time, uuid, boto3
seen = boto3.client("dynamodb")
def handler(event, context):
    for i, r in enumerate(event["Records"]):
        seen.put_item(TableName="seen", Item={"id": {"S": str(uuid.uuid4())},
            "key": {"S": r["dynamodb"]["Keys"]["k"]["S"]}, "seq": {"S": r["dynamodb"]["SequenceNumber"]},
            "t": {"N": str(time.time_ns())}, "i": {"N": str(i)}})""")


# The parallel stories' function: each batch sleeps, then writes each record it handled, with
# the batch's start and end, into `seen` (durable across kill -9, like KILL_CODE).
PAR_CODE = """import time, uuid, boto3
seen = boto3.client("dynamodb")
def handler(event, context):
    t0 = time.time()
    time.sleep(0.4)
    t1 = time.time()
    for i, r in enumerate(event["Records"]):
        seen.put_item(TableName="seen", Item={"id": {"S": str(uuid.uuid4())},
            "key": {"S": r["dynamodb"]["Keys"]["k"]["S"]}, "seq": {"S": r["dynamodb"]["SequenceNumber"]},
            "v": {"N": r["dynamodb"]["NewImage"]["v"]["N"]}, "t0": {"N": repr(t0)}, "t1": {"N": repr(t1)},
            "t": {"N": str(time.time_ns())}, "i": {"N": str(i)}})
    return {}
"""


def seen_items():
    items, start = [], None
    while True:
        args = {"TableName": "seen"}
        if start:
            args["ExclusiveStartKey"] = start
        page = ddb.scan(**args)
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    items.sort(key=lambda it: (int(it["t"]["N"]), int(it["i"]["N"])))
    return items


def seen_table():
    ddb.create_table(TableName="seen", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])


def write_versions(keys, versions):
    for v in versions:
        for k in keys:
            ddb.put_item(TableName="tab", Item={"k": {"S": k}, "v": {"N": str(v)}})


def per_key_order(items, keys, versions):
    """Every (key, version) handled; per key, the versions first seen in written order."""
    want = {(k, v) for k in keys for v in versions}
    got = {(it["key"]["S"], int(it["v"]["N"])) for it in items}
    assert want <= got, f"missing {sorted(want - got)[:10]}"
    for k in keys:
        firsts = []
        for it in items:
            v = int(it["v"]["N"])
            if it["key"]["S"] == k and v not in firsts:
                firsts.append(v)
        assert firsts == sorted(firsts), (k, firsts)
    return len(items) - len(want)


def overlap(items):
    """The most batches running at one instant."""
    spans = {(float(it["t0"]["N"]), float(it["t1"]["N"])) for it in items}
    return max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)


def stream_parallel():
    """ParallelizationFactor 4: batches of one shard run at once, each key's records in order."""
    seen_table()
    keys, versions = [f"p{i}" for i in range(8)], range(3)
    s, uuid = stream_setup(code=PAR_CODE, ParallelizationFactor=4, BatchSize=2)
    write_versions(keys, versions)
    until("every version of every key", lambda: len({(it["key"]["S"], it["v"]["N"]) for it in seen_items()}) >= 24,
          limit=60)
    items = seen_items()
    dups = per_key_order(items, keys, versions)
    most = overlap(items)
    assert most >= 2, f"no two batches ran at once: {most}"
    assert lam.get_event_source_mapping(UUID=uuid)["ParallelizationFactor"] == 4
    return {"overlap": most, "duplicates": dups}


def stream_parallel_kill_start():
    seen_table()
    s, uuid = stream_setup(code=PAR_CODE, ParallelizationFactor=3, BatchSize=4)
    write_versions([f"q{i:02}" for i in range(20)], range(3))
    time.sleep(1.5)  # batches in flight at the kill
    return {"stream": s, "uuid": uuid}


def stream_parallel_kill_finish():
    keys = [f"q{i:02}" for i in range(20)]
    write_versions(keys, range(3, 5))
    until("every version of every key", lambda: len({(it["key"]["S"], it["v"]["N"]) for it in seen_items()}) >= 100,
          limit=90)
    dups = per_key_order(seen_items(), keys, range(5))
    return {"duplicates": dups}


def durable_records():
    """Every record the kill story's function handled, in the order it handled them."""
    items, start = [], None
    while True:
        args = {"TableName": "seen"}
        if start:
            args["ExclusiveStartKey"] = start
        page = ddb.scan(**args)
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    items.sort(key=lambda it: (int(it["t"]["N"]), int(it["i"]["N"])))
    return [{"key": it["key"]["S"], "seq": it["seq"]["S"]} for it in items]


def stream_setup(start="TRIM_HORIZON", code=STREAM_CODE, **mapping):
    lam.create_function(FunctionName="fn", Runtime="python3.12", Role=ROLE, Handler="index.handler",
                        Code={"ZipFile": zipped(code)}, Timeout=3)
    for v in ("1", "2"):
        lam.update_function_configuration(FunctionName="fn", Description=f"v{v}")
        lam.get_waiter("function_updated_v2").wait(FunctionName="fn")
        assert lam.publish_version(FunctionName="fn")["Version"] == v
    lam.create_alias(FunctionName="fn", Name="prod", FunctionVersion="1")
    s, real = stream("tab")
    assert real, "DynamoDB is not served"
    m = lam.create_event_source_mapping(FunctionName="fn:prod", EventSourceArn=s, StartingPosition=start,
                                        **mapping)
    assert m["StateTransitionReason"] == "User action" and m["FunctionArn"].endswith(":prod"), m
    wait_state(m["UUID"], "Enabled")
    return s, m["UUID"]


def records():
    return [dict(r, version=b["version"]) for b in invocations() for r in b["records"]]


def stream_story():
    """Done when: INSERT/MODIFY/REMOVE in order on prod; promotion at the next batch; §7 check 6."""
    dlq_url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s, uuid = stream_setup(MaximumRetryAttempts=1, DestinationConfig={"OnFailure": {"Destination": dlq}})
    ddb.put_item(TableName="tab", Item={"k": {"S": "k1"}, "v": {"N": "1"}})
    ddb.update_item(TableName="tab", Key={"k": {"S": "k1"}}, UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": {"N": "2"}})
    ddb.delete_item(TableName="tab", Key={"k": {"S": "k1"}})
    got = until("three records of k1", lambda: [r for r in records() if r["key"] == "k1"]
                if len([r for r in records() if r["key"] == "k1"]) >= 3 else None)
    assert [r["name"] for r in got] == ["INSERT", "MODIFY", "REMOVE"], got
    assert all(r["version"] == "1" and r["arn"] == s for r in got), got
    assert [int(r["seq"]) for r in got] == sorted(int(r["seq"]) for r in got), got
    # Whole epoch seconds, an integer in the event (event-sources.md §3.2).
    assert isinstance(got[0]["t"], int) and got[0]["size"] > 0, got
    until("LastProcessingResult OK", lambda: lam.get_event_source_mapping(UUID=uuid)["LastProcessingResult"] == "OK")
    # Promotion: the next batch runs version 2, the mapping unchanged.
    before = lam.get_event_source_mapping(UUID=uuid)["LastModified"]
    lam.update_alias(FunctionName="fn", Name="prod", FunctionVersion="2")
    ddb.put_item(TableName="tab", Item={"k": {"S": "k2"}})
    got = until("k2", lambda: [r for r in records() if r["key"] == "k2"])
    assert [r["version"] for r in got] == ["2"], got
    assert lam.get_event_source_mapping(UUID=uuid)["LastModified"] == before
    # A poison record: MaximumRetryAttempts 1 → two invocations, then the OnFailure record; later records flow.
    ddb.put_item(TableName="tab", Item={"k": {"S": "poison"}})
    dead = until("the OnFailure record", lambda: sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages"))
    body = json.loads(dead[0]["Body"])
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted", body
    assert body["requestContext"]["approximateInvokeCount"] == 2, body
    assert body["requestContext"]["functionArn"] == FN_ARN + ":prod", body
    assert body["responseContext"]["functionError"] == "Unhandled", body
    assert body["responseContext"]["executedVersion"] == "2", body
    assert body["DDBStreamBatchInfo"]["streamArn"] == s and body["DDBStreamBatchInfo"]["batchSize"] == 1, body
    ddb.put_item(TableName="tab", Item={"k": {"S": "k3"}})
    until("k3 after the poison record", lambda: [r for r in records() if r["key"] == "k3"])
    poisoned = [r for r in records() if r["key"] == "poison"]
    assert len(poisoned) == 2, poisoned
    return {"stream": s, "uuid": uuid}


def stream_kill_start():
    ddb.create_table(TableName="seen", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    s, uuid = stream_setup(BatchSize=7, code=KILL_CODE)
    for i in range(100):
        ddb.put_item(TableName="tab", Item={"k": {"S": f"k{i:03}"}})
    return {"stream": s, "uuid": uuid}


def stream_kill_finish():
    for i in range(100, 200):
        ddb.put_item(TableName="tab", Item={"k": {"S": f"k{i:03}"}})
    want = {f"k{i:03}" for i in range(200)}
    try:
        until("every key", lambda: want <= {r["key"] for r in durable_records()}, limit=60)
    except AssertionError:
        got = durable_records()
        missing = sorted(want - {r["key"] for r in got})
        raise AssertionError(f"missing {len(missing)}: {missing[:20]}...; {len(got)} records, last {got[-3:]}")
    seen = durable_records()
    # Per shard order: sequence numbers never go back, except a replay from the last checkpoint.
    seqs = [int(r["seq"]) for r in seen]
    firsts = []
    for r in seen:
        if r["key"] not in {f["key"] for f in firsts}:
            firsts.append(r)
    assert [int(f["seq"]) for f in firsts] == sorted(int(f["seq"]) for f in firsts), "reordered"
    dups = len(seen) - len(want)
    return {"records": len(seen), "duplicates": dups, "backsteps": sum(1 for a, b in zip(seqs, seqs[1:]) if b < a)}


def stream_latest_start():
    """LATEST is fixed when the poller first reads the shard and recorded at once: a record written
    while the mapping is disabled and the server down is delivered after it comes back (no record
    was processed before, so only that first checkpoint keeps the position)."""
    s, uuid = stream_setup(start="LATEST")
    time.sleep(3)  # the poller has read the shard at LATEST (it rescans every second)
    lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    wait_state(uuid, "Disabled")
    ddb.put_item(TableName="tab", Item={"k": {"S": "while-down"}})
    return {"stream": s, "uuid": uuid}


def stream_latest_finish():
    uuid = sys.argv[3]
    lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    ddb.put_item(TableName="tab", Item={"k": {"S": "after"}})
    until("both records", lambda: {"while-down", "after"} <= {r["key"] for r in records()})
    time.sleep(1)
    keys = [r["key"] for r in records()]
    assert keys == ["while-down", "after"], keys
    return {"keys": keys}


def stream_latest_create():
    """LATEST is where the stream was when CreateEventSourceMapping answered, recorded with the
    mapping: a record written right after the answer is delivered even though no poller has read
    the shard yet (the mapping is created disabled, so none will until it is enabled); a record
    written before the Create is not."""
    lam.create_function(FunctionName="fn", Runtime="python3.12", Role=ROLE, Handler="index.handler",
                        Code={"ZipFile": zipped(STREAM_CODE)}, Timeout=3)
    s, real = stream("tab")
    assert real, "DynamoDB is not served"
    ddb.put_item(TableName="tab", Item={"k": {"S": "before"}})
    m = lam.create_event_source_mapping(FunctionName="fn", EventSourceArn=s, StartingPosition="LATEST",
                                        Enabled=False)
    ddb.put_item(TableName="tab", Item={"k": {"S": "after-create"}})
    time.sleep(1.5)  # the supervisor rescans; a disabled mapping has no poller
    lam.update_event_source_mapping(UUID=m["UUID"], Enabled=True)
    wait_state(m["UUID"], "Enabled")
    ddb.put_item(TableName="tab", Item={"k": {"S": "enabled"}})
    until("two records", lambda: len(records()) >= 2)
    time.sleep(1)
    keys = [r["key"] for r in records()]
    assert keys == ["after-create", "enabled"], keys
    return {"keys": keys}


TUMBLE_CODE = """import json
def handler(event, context):
    st = event["state"]
    recs = event["Records"]
    print("ESM " + json.dumps({"window": event["window"], "final": event["isFinalInvokeForWindow"],
        "early": event["isWindowTerminatedEarly"], "state": st, "shard": event["shardId"],
        "arn": event["eventSourceARN"], "records": [{"key": r["dynamodb"]["Keys"]["k"]["S"],
        "t": r["dynamodb"]["ApproximateCreationDateTime"]} for r in recs]}))
    total = int(st.get("sum", "0")) + sum(int(r["dynamodb"]["NewImage"]["v"]["N"]) for r in recs)
    return {"state": {"sum": str(total), "n": str(int(st.get("n", "0")) + len(recs))}}
"""


def stream_tumbling():
    """TumblingWindowInSeconds 3: windows aligned to multiples of 3 s; the state the function
    returns comes back in the window's next invoke; a final invoke (no records,
    isFinalInvokeForWindow) ends each window; the next window starts with {}."""
    import datetime
    s, uuid = stream_setup(code=TUMBLE_CODE, TumblingWindowInSeconds=3, BatchSize=1)
    for i in range(1, 7):
        ddb.put_item(TableName="tab", Item={"k": {"S": f"t{i}"}, "v": {"N": str(i)}})
        time.sleep(0.4)
    finals = lambda: [b for b in invocations() if b["final"]]
    until("finals covering six records", lambda: sum(int(b["state"].get("n", "0")) for b in finals()) >= 6, limit=30)
    batches = invocations()
    parse = lambda t: datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    windows = {}
    for b in batches:
        start, end = parse(b["window"]["start"]), parse(b["window"]["end"])
        assert end - start == 3 and start % 3 == 0, b["window"]
        assert b["shard"] and b["arn"] == s and b["early"] is False, b
        for r in b["records"]:
            assert start <= r["t"] < end, (r, b["window"])
        windows.setdefault(start, []).append(b)
    total = 0
    for start, bs in sorted(windows.items()):
        *body, last = bs
        assert last["final"] and last["records"] == [], bs
        assert not any(b["final"] for b in body), bs
        # The state chain: each invoke sees what the one before returned; a window starts at {}.
        n = 0
        for b in body:
            assert int(b["state"].get("n", "0")) == n, (b, bs)
            n += len(b["records"])
        assert body[0]["state"] == {}, body
        assert int(last["state"]["n"]) == n, (last, bs)
        total += int(last["state"]["sum"])
    assert total == 21, windows
    keys = [r["key"] for b in batches for r in b["records"]]
    assert keys == [f"t{i}" for i in range(1, 7)], keys
    assert lam.get_event_source_mapping(UUID=uuid)["TumblingWindowInSeconds"] == 3
    return {"windows": len(windows), "sum": total}


def stream_window():
    """MaximumBatchingWindowInSeconds on a stream: records written 0.6 s apart come in one batch
    when the window is open; BatchSize still closes a batch first."""
    s, uuid = stream_setup(MaximumBatchingWindowInSeconds=3, BatchSize=100)
    for k in ("w1", "w2", "w3"):
        ddb.put_item(TableName="tab", Item={"k": {"S": k}})
        time.sleep(0.6)
    until("three records", lambda: len(records()) >= 3)
    time.sleep(1)
    batches = [[r["key"] for r in b["records"]] for b in invocations()]
    assert batches == [["w1", "w2", "w3"]], batches
    lam.update_event_source_mapping(UUID=uuid, BatchSize=2)
    wait_state(uuid, "Enabled")
    for k in ("x1", "x2", "x3", "x4", "x5"):
        ddb.put_item(TableName="tab", Item={"k": {"S": k}})
    until("eight records", lambda: len(records()) >= 8, limit=15)
    later = [[r["key"] for r in b["records"]] for b in invocations()][1:]
    assert [k for b in later for k in b] == ["x1", "x2", "x3", "x4", "x5"], later
    assert all(len(b) <= 2 for b in later), later
    return {"batches": batches + later}


def tags():
    """Tag/Untag/ListTags on a mapping ARN, Tags on Create; gone with the mapping."""
    lam.create_function(FunctionName="fn", Runtime="python3.12", Role=ROLE, Handler="index.handler",
                        Code={"ZipFile": zipped(CODE)})
    q, _ = queue("tq", VisibilityTimeout=30)
    m = lam.create_event_source_mapping(FunctionName="fn", EventSourceArn=q, Enabled=False, Tags={"a": "1"})
    arn = m["EventSourceMappingArn"]
    assert "Tags" not in m and "Tags" not in lam.get_event_source_mapping(UUID=m["UUID"]), m
    assert lam.list_tags(Resource=arn)["Tags"] == {"a": "1"}
    lam.tag_resource(Resource=arn, Tags={"b": "2", "c": "3"})
    lam.untag_resource(Resource=arn, TagKeys=["a", "c", "nope"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"b": "2"}
    lam.update_event_source_mapping(UUID=m["UUID"], BatchSize=5)
    assert lam.list_tags(Resource=arn)["Tags"] == {"b": "2"}
    assert "Tags" not in lam.list_event_source_mappings(FunctionName="fn")["EventSourceMappings"][0]
    too_many = error(lam.tag_resource, Resource=arn, Tags={f"k{i}": "v" for i in range(50)})
    assert too_many["code"] == "InvalidParameterValueException", too_many
    assert too_many["message"] == "Number of tags exceeds resource tag limit.", too_many
    assert lam.list_tags(Resource=arn)["Tags"] == {"b": "2"}
    lam.delete_event_source_mapping(UUID=m["UUID"])
    wait_state(m["UUID"], None)
    gone = {}
    for op, kw in (("list", dict(Resource=arn)), ("tag", dict(Resource=arn, Tags={"x": "y"})),
                   ("untag", dict(Resource=arn, TagKeys=["b"]))):
        fn = {"list": lam.list_tags, "tag": lam.tag_resource, "untag": lam.untag_resource}[op]
        gone[op] = error(fn, **kw)
        assert gone[op] == {"code": "ResourceNotFoundException", "status": 404,
                            "message": f"Event source mapping not found: {arn}"}, gone
    bad = error(lam.list_tags, Resource=arn + ":alias")
    assert bad["code"] == "ValidationException", bad
    return {"gone": gone}


def get():
    m = lam.get_event_source_mapping(UUID=sys.argv[3])
    m.pop("ResponseMetadata")
    return m


print(json.dumps({"api": api, "get": get, "sqs": sqs_story, "sqs-more": sqs_more, "stream": stream_story,
                  "stream-kill-start": stream_kill_start, "stream-kill-finish": stream_kill_finish,
                  "stream-latest-start": stream_latest_start, "stream-latest-create": stream_latest_create,
                  "stream-parallel": stream_parallel, "stream-tumbling": stream_tumbling, "stream-parallel-kill-start": stream_parallel_kill_start,
                  "stream-parallel-kill-finish": stream_parallel_kill_finish, "tags": tags, "stream-window": stream_window, "stream-latest-finish": stream_latest_finish}[mode](), default=str))
