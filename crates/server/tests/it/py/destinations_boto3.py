"""Asynchronous invocation destinations on Versa's own SQS queues and EventBridge bus, and a
function's dead-letter queue (lambda-api.md §7.4), driven through boto3. Asserts as it goes;
prints one JSON document of what it observed.

Usage: destinations_boto3.py ENDPOINT
"""
import io
import json
import sys
import time
import zipfile

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
kw = dict(
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
    config=Config(retries={"max_attempts": 1}),
)
lam = boto3.client("lambda", **kw)
sqs = boto3.client("sqs", **kw)
events = boto3.client("events", **kw)
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"
BUS = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default"

WORKER = '''
def handler(event, context):
    if event.get("fail"):
        raise RuntimeError("asked to fail")
    return {"ok": True}
'''
# The bus rule's target: forwards the EventBridge event it got to the queue `bus-q`.
FORWARDER = '''
import json, boto3
def handler(event, context):
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName="bus-q")["QueueUrl"], MessageBody=json.dumps(event))
'''


def zipped(code):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as f:
        f.writestr("index.py", code)
    return b.getvalue()


def function(name, code, **extra):
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="index.handler",
                        Code={"ZipFile": zipped(code)}, Timeout=10, **extra)


def queue_arn(name, region="us-east-1"):
    return f"arn:aws:sqs:{region}:{ACCOUNT}:{name}"


def receive(name, limit=30.0):
    """The first message of queue `name`, with its message attributes, within `limit` seconds."""
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    start = time.time()
    while time.time() - start < limit:
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, MaxNumberOfMessages=10,
                                  MessageAttributeNames=["All"]).get("Messages", [])
        if got:
            assert len(got) == 1, got
            return got[0]
    raise AssertionError(f"nothing reached {name} in {limit} s")


def error(f):
    try:
        f()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    raise AssertionError("no error")


out = {}
for q in ("ok-q", "dlq", "bus-q"):
    sqs.create_queue(QueueName=q)
function("worker", WORKER, DeadLetterConfig={"TargetArn": queue_arn("dlq")})
function("forwarder", FORWARDER)
lam.put_function_event_invoke_config(
    FunctionName="worker", MaximumRetryAttempts=0,
    DestinationConfig={"OnSuccess": {"Destination": queue_arn("ok-q")}, "OnFailure": {"Destination": BUS}})
cfg = lam.get_function_event_invoke_config(FunctionName="worker")
assert cfg["DestinationConfig"] == {"OnSuccess": {"Destination": queue_arn("ok-q")},
                                    "OnFailure": {"Destination": BUS}}, cfg
rule = events.put_rule(Name="results", EventPattern=json.dumps({"source": ["lambda"]}))["RuleArn"]
lam.add_permission(FunctionName="forwarder", StatementId="results", Action="lambda:InvokeFunction",
                   Principal="events.amazonaws.com", SourceArn=rule)
events.put_targets(Rule="results", Targets=[
    {"Id": "f", "Arn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:forwarder"}])

# A success: its record is the body of a message on the OnSuccess queue.
r = lam.invoke(FunctionName="worker", InvocationType="Event", Payload=b'{"n": 1}')
assert r["StatusCode"] == 202, r
ok_id = r["ResponseMetadata"]["RequestId"]
record = json.loads(receive("ok-q")["Body"])
assert record["version"] == "1.0", record
assert record["requestContext"] == {
    "requestId": ok_id, "functionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:worker:$LATEST",
    "condition": "Success", "approximateInvokeCount": 1}, record
assert record["requestPayload"] == {"n": 1}, record
assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}, record
assert record["responsePayload"] == {"ok": True}, record
out["success_record"] = record

# A failure (no retries): its record reaches the bus as a `lambda` event, and the event itself
# the dead-letter queue.
r = lam.invoke(FunctionName="worker", InvocationType="Event", Payload=b'{"fail": true}')
fail_id = r["ResponseMetadata"]["RequestId"]
letter = receive("dlq")
assert letter["Body"] == '{"fail": true}', letter
attrs = letter["MessageAttributes"]
assert attrs["RequestID"] == {"StringValue": fail_id, "DataType": "String"}, attrs
assert attrs["ErrorCode"] == {"StringValue": "200", "DataType": "Number"}, attrs
assert attrs["ErrorMessage"] == {"StringValue": "asked to fail", "DataType": "String"}, attrs
out["dead_letter"] = letter
event = json.loads(receive("bus-q")["Body"])
assert event["source"] == "lambda", event
assert event["detail-type"] == "Lambda Function Invocation Result - Failure", event
assert event["resources"] == [BUS, f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:worker:$LATEST"], event
detail = event["detail"]
assert detail["requestContext"]["requestId"] == fail_id, detail
assert detail["requestContext"]["condition"] == "RetriesExhausted", detail
assert detail["requestPayload"] == {"fail": True}, detail
assert detail["responseContext"]["functionError"] == "Unhandled", detail
assert detail["responsePayload"]["errorMessage"] == "asked to fail", detail
out["bus_event"] = event

# A failure with an empty message, of an event with no payload: the dead letter still goes,
# without an ErrorMessage (SQS refuses empty values), its body Lambda's `{}`.
sqs.create_queue(QueueName="quiet-dlq")
function("quiet", "def handler(event, context):\n    raise Exception()\n",
         DeadLetterConfig={"TargetArn": queue_arn("quiet-dlq")})
lam.put_function_event_invoke_config(FunctionName="quiet", MaximumRetryAttempts=0)
r = lam.invoke(FunctionName="quiet", InvocationType="Event")
letter = receive("quiet-dlq")
assert letter["Body"] == "{}", letter
assert letter["MessageAttributes"]["RequestID"]["StringValue"] == r["ResponseMetadata"]["RequestId"], letter
assert "ErrorMessage" not in letter["MessageAttributes"], letter

# A queue of another region or account is not a destination; nothing changes.
other = queue_arn("ok-q", "eu-west-1")
code, message = error(lambda: lam.put_function_event_invoke_config(
    FunctionName="worker", DestinationConfig={"OnSuccess": {"Destination": other}}))
assert (code, message) == ("InvalidParameterValueException", f"The destination ARN {other} is invalid."), message
bad_bus = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/x"
code, message = error(lambda: lam.put_function_event_invoke_config(
    FunctionName="worker", DestinationConfig={"OnFailure": {"Destination": bad_bus}}))
assert (code, message) == ("InvalidParameterValueException", f"The destination ARN {bad_bus} is invalid."), message
assert lam.get_function_event_invoke_config(FunctionName="worker")["DestinationConfig"] == cfg["DestinationConfig"]
print(json.dumps(out))
