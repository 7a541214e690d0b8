"""SQS against a real Versa server with boto3 (driven by tests/it/sqs.rs).

Usage: sqs_boto3.py <endpoint> <part>, part one of: core, fifo, dlq, batch, longpoll, errors,
concurrent, tags, kill-before, kill-after. Each part asserts as it goes and prints one JSON document of what it saw.
"""

import json
import os
import sys
import time

import boto3
from botocore.config import Config

endpoint, part = sys.argv[1], sys.argv[2]
sqs = boto3.client(
    "sqs",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id=os.environ.get("SQS_KEY_ID", "test"),
    aws_secret_access_key=os.environ.get("SQS_SECRET", "test"),
    config=Config(retries={"max_attempts": 0}, read_timeout=40),
)
out = {}


def error_of(f, **kw):
    try:
        f(**kw)
    except sqs.exceptions.ClientError as e:
        err = e.response["Error"]
        return {
            "Code": err.get("Code"),
            "QueryErrorCode": err.get("QueryErrorCode"),
            "Type": err.get("Type"),
            "Message": err.get("Message"),
            "Status": e.response["ResponseMetadata"]["HTTPStatusCode"],
        }
    raise AssertionError(f"{f.__name__} {kw} succeeded")


def attrs(url, *names):
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(names) or ["All"])["Attributes"]


BOOK = {
    "Author": {"DataType": "String", "StringValue": "John Grisham"},
    "Title": {"DataType": "String", "StringValue": "The Whistler"},
    "WeeksOn": {"DataType": "Number", "StringValue": "6"},
}

if part == "core":
    url = sqs.create_queue(QueueName="core", Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
    assert url.endswith("/000000000000/core"), url
    assert sqs.create_queue(QueueName="core", Attributes={"VisibilityTimeout": "2"})["QueueUrl"] == url
    assert sqs.get_queue_url(QueueName="core")["QueueUrl"] == url
    a = attrs(url)
    out["attributes"] = sorted(a)
    assert a["VisibilityTimeout"] == "2" and a["DelaySeconds"] == "0" and a["MessageRetentionPeriod"] == "345600"
    assert a["MaximumMessageSize"] == "1048576" and a["QueueArn"] == "arn:aws:sqs:us-east-1:000000000000:core"
    sent = sqs.send_message(QueueUrl=url, MessageBody="msg", MessageAttributes=BOOK)
    assert sent["MD5OfMessageBody"] == "6e2baaf3b97dbeef01c0043275f9a0e7", sent
    assert sent["MD5OfMessageAttributes"] == "d25a6aea97eb8f585bfa92d314504a92", sent
    assert attrs(url, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == "1"
    got = sqs.receive_message(
        QueueUrl=url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert len(got) == 1 and got[0]["Body"] == "msg" and got[0]["MessageId"] == sent["MessageId"]
    m = got[0]
    assert m["Attributes"]["ApproximateReceiveCount"] == "1", m
    assert m["MD5OfMessageAttributes"] == "d25a6aea97eb8f585bfa92d314504a92"
    assert m["MessageAttributes"]["WeeksOn"] == {"DataType": "Number", "StringValue": "6"}, m
    a = attrs(url, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
    assert a == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "1"}, a
    # Invisible now: an immediate receive gets nothing (no Messages key).
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    # After the visibility timeout it is back, received a second time, with a new handle.
    time.sleep(2.2)
    again = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    assert again["Attributes"] == {"ApproximateReceiveCount": "2"}, again
    assert again["ReceiptHandle"] != m["ReceiptHandle"]
    # The stale handle deletes nothing (and succeeds); the new one deletes.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert attrs(url, "ApproximateNumberOfMessagesNotVisible")["ApproximateNumberOfMessagesNotVisible"] == "1"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])
    a = attrs(url, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
    assert a == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}, a
    # Visibility: a received message made visible at once comes back.
    sqs.send_message(QueueUrl=url, MessageBody="again")
    h = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=h, VisibilityTimeout=0)
    back = sqs.receive_message(QueueUrl=url, VisibilityTimeout=30)["Messages"][0]
    assert back["Body"] == "again"
    # Delay: a delayed message is counted as delayed until due.
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    assert attrs(url, "ApproximateNumberOfMessagesDelayed")["ApproximateNumberOfMessagesDelayed"] == "1"
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    time.sleep(1.1)
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "later"
    # A 1 MiB message (the largest) goes through whole.
    big = "x" * 1048576
    sqs.send_message(QueueUrl=url, MessageBody=big)
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"][0]
    assert got["Body"] == big
    # Set, list, purge, delete.
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "5", "ReceiveMessageWaitTimeSeconds": "1"})
    assert attrs(url, "DelaySeconds")["DelaySeconds"] == "5"
    other = sqs.create_queue(QueueName="core-two")["QueueUrl"]
    listed = sqs.list_queues(QueueNamePrefix="core")["QueueUrls"]
    assert listed == [url, other], listed
    page = sqs.list_queues(QueueNamePrefix="core", MaxResults=1)
    assert page["QueueUrls"] == [url] and "NextToken" in page
    assert sqs.list_queues(QueueNamePrefix="core", MaxResults=1, NextToken=page["NextToken"])["QueueUrls"] == [other]
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix="nothing")
    sqs.purge_queue(QueueUrl=url)
    out["purge_again"] = error_of(sqs.purge_queue, QueueUrl=url)
    sqs.delete_queue(QueueUrl=other)
    out["deleted"] = error_of(sqs.get_queue_url, QueueName="core-two")
    out["ok"] = True

elif part == "errors":
    out["no_queue"] = error_of(sqs.get_queue_url, QueueName="nope")
    try:
        sqs.get_queue_url(QueueName="nope")
    except sqs.exceptions.QueueDoesNotExist:
        out["modelled"] = True
    url = sqs.create_queue(QueueName="errs")["QueueUrl"]
    before = attrs(url)
    out["exists"] = error_of(sqs.create_queue, QueueName="errs", Attributes={"DelaySeconds": "3"})
    out["bad_name"] = error_of(sqs.create_queue, QueueName="bad name")
    out["fifo_name"] = error_of(sqs.create_queue, QueueName="nofifo", Attributes={"FifoQueue": "true"})
    out["fifo_attr"] = error_of(sqs.create_queue, QueueName="std", Attributes={"ContentBasedDeduplication": "true"})
    out["bad_vt"] = error_of(sqs.create_queue, QueueName="vt", Attributes={"VisibilityTimeout": "43201"})
    out["unknown_attr"] = error_of(sqs.set_queue_attributes, QueueUrl=url, Attributes={"Colour": "blue"})
    out["bad_delay"] = error_of(sqs.set_queue_attributes, QueueUrl=url, Attributes={"DelaySeconds": "901"})
    out["get_unknown"] = error_of(sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["Colour"])
    out["too_big"] = error_of(sqs.send_message, QueueUrl=url, MessageBody="x" * 1048577)
    out["empty_body"] = error_of(sqs.send_message, QueueUrl=url, MessageBody="")
    out["bad_chars"] = error_of(sqs.send_message, QueueUrl=url, MessageBody="a\u0001b")
    out["attr_type"] = error_of(
        sqs.send_message, QueueUrl=url, MessageBody="m", MessageAttributes={"a": {"DataType": "Int", "StringValue": "1"}}
    )
    out["attr_number"] = error_of(
        sqs.send_message, QueueUrl=url, MessageBody="m", MessageAttributes={"a": {"DataType": "Number", "StringValue": "x"}}
    )
    out["max_messages"] = error_of(sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=11)
    out["wait"] = error_of(sqs.receive_message, QueueUrl=url, WaitTimeSeconds=21)
    out["garbage_handle"] = error_of(sqs.delete_message, QueueUrl=url, ReceiptHandle="garbage")
    out["no_queue_send"] = error_of(
        sqs.send_message, QueueUrl=url.replace("/errs", "/gone"), MessageBody="m"
    )
    out["redrive_missing"] = error_of(
        sqs.set_queue_attributes,
        QueueUrl=url,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:none", "maxReceiveCount": 2})},
    )
    # Nothing above changed the queue or put a message in it.
    after = attrs(url)
    assert {k: v for k, v in after.items() if k != "LastModifiedTimestamp"} == {
        k: v for k, v in before.items() if k != "LastModifiedTimestamp"
    }, (before, after)
    assert after["ApproximateNumberOfMessages"] == "0"
    names = {u.rsplit("/", 1)[1] for u in sqs.list_queues().get("QueueUrls", [])}
    assert "errs" in names and not names & {"nofifo", "std", "vt", "gone"}, names
    # The visibility of a deleted message cannot change.
    sqs.send_message(QueueUrl=url, MessageBody="m")
    h = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=h)
    out["visibility_deleted"] = error_of(sqs.change_message_visibility, QueueUrl=url, ReceiptHandle=h, VisibilityTimeout=5)

elif part == "fifo":
    url = sqs.create_queue(QueueName="orders.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    a = attrs(url)
    assert a["FifoQueue"] == "true" and a["ContentBasedDeduplication"] == "false", a
    out["no_group"] = error_of(sqs.send_message, QueueUrl=url, MessageBody="m", MessageDeduplicationId="d")
    out["no_dedup"] = error_of(sqs.send_message, QueueUrl=url, MessageBody="m", MessageGroupId="g")
    out["delay"] = error_of(
        sqs.send_message, QueueUrl=url, MessageBody="m", MessageGroupId="g", MessageDeduplicationId="d", DelaySeconds=2
    )
    seqs = []
    for i in range(6):
        r = sqs.send_message(
            QueueUrl=url, MessageBody=f"{'ab'[i % 2]}{i}", MessageGroupId="ab"[i % 2], MessageDeduplicationId=f"d{i}"
        )
        seqs.append(int(r["SequenceNumber"]))
    assert seqs == sorted(seqs) and len(r["SequenceNumber"]) == 20, seqs
    # A duplicate within the window is accepted and dropped, with the original's id.
    dup = sqs.send_message(QueueUrl=url, MessageBody="a0", MessageGroupId="a", MessageDeduplicationId="d0")
    assert int(dup["SequenceNumber"]) == seqs[0]
    assert attrs(url, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == "6"
    # Per group in order; a group with a message in flight gives nothing more.
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, AttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in first] == ["a0", "b1"], first
    assert first[0]["Attributes"]["MessageGroupId"] == "a" and first[0]["Attributes"]["MessageDeduplicationId"] == "d0"
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    for m in first:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    rest = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in rest] == ["a2", "b3", "a4", "b5"], rest
    # Content-based deduplication.
    cb = sqs.create_queue(
        QueueName="cb.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    one = sqs.send_message(QueueUrl=cb, MessageBody="same", MessageGroupId="g")
    two = sqs.send_message(QueueUrl=cb, MessageBody="same", MessageGroupId="g")
    assert one["MessageId"] == two["MessageId"]
    assert attrs(cb, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == "1"
    out["ok"] = True

elif part == "dlq":
    dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
    dlq_arn = attrs(dlq, "QueueArn")["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
    q = sqs.create_queue(QueueName="work", Attributes={"VisibilityTimeout": "1", "RedrivePolicy": policy})["QueueUrl"]
    assert json.loads(attrs(q, "RedrivePolicy")["RedrivePolicy"]) == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}
    sent = sqs.send_message(QueueUrl=q, MessageBody="poison")
    counts = []
    for _ in range(2):
        m = sqs.receive_message(QueueUrl=q, WaitTimeSeconds=3, AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
        counts.append(m["Attributes"]["ApproximateReceiveCount"])
    assert counts == ["1", "2"], counts
    time.sleep(1.1)
    # The third receive moves it to the dead-letter queue instead of returning it.
    assert "Messages" not in sqs.receive_message(QueueUrl=q)
    dead = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=2, AttributeNames=["All"])["Messages"][0]
    assert dead["MessageId"] == sent["MessageId"] and dead["Body"] == "poison", dead
    assert dead["Attributes"]["DeadLetterQueueSourceArn"] == "arn:aws:sqs:us-east-1:000000000000:work", dead
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [q]
    assert attrs(q, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == "0"
    out["ok"] = True

elif part == "batch":
    url = sqs.create_queue(QueueName="batch")["QueueUrl"]
    r = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": f"e{i}", "MessageBody": f"m{i}"} for i in range(9)] + [{"Id": "bad", "MessageBody": ""}],
    )
    assert len(r["Successful"]) == 9 and [f["Id"] for f in r["Failed"]] == ["bad"], r
    out["entry_failure"] = r["Failed"][0]
    out["too_many"] = error_of(
        sqs.send_message_batch, QueueUrl=url, Entries=[{"Id": f"e{i}", "MessageBody": "m"} for i in range(11)]
    )
    out["empty"] = error_of(sqs.send_message_batch, QueueUrl=url, Entries=[])
    out["bad_id"] = error_of(sqs.send_message_batch, QueueUrl=url, Entries=[{"Id": "a b", "MessageBody": "m"}])
    out["repeated"] = error_of(
        sqs.send_message_batch, QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "m"}, {"Id": "a", "MessageBody": "n"}]
    )
    out["too_long"] = error_of(
        sqs.send_message_batch,
        QueueUrl=url,
        Entries=[{"Id": "a", "MessageBody": "x" * 600000}, {"Id": "b", "MessageBody": "y" * 600000}],
    )
    assert attrs(url, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == "9"
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)["Messages"]
    assert len(got) == 9
    ch = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[{"Id": "v0", "ReceiptHandle": got[0]["ReceiptHandle"], "VisibilityTimeout": 0},
                 {"Id": "v1", "ReceiptHandle": "garbage", "VisibilityTimeout": 0}],
    )
    assert [s["Id"] for s in ch["Successful"]] == ["v0"] and ch["Failed"][0]["Code"] == "ReceiptHandleIsInvalid", ch
    d = sqs.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got[1:])]
    )
    assert len(d["Successful"]) == 8 and d["Failed"] == [], d
    assert attrs(url, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == "1"
    out["ok"] = True

elif part == "longpoll":
    url = sqs.create_queue(QueueName="poll")["QueueUrl"]
    import threading

    def later():
        time.sleep(1.0)
        boto3.client(
            "sqs", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
        ).send_message(QueueUrl=url, MessageBody="woken")

    threading.Thread(target=later).start()
    t0 = time.time()
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)["Messages"]
    waited = time.time() - t0
    assert got[0]["Body"] == "woken" and 0.9 < waited < 3, waited
    out["woken_after"] = round(waited, 2)
    t0 = time.time()
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)
    waited = time.time() - t0
    assert 1.9 < waited < 4, waited
    out["empty_after"] = round(waited, 2)
    # A long poll also sees a message becoming visible (a delay running out).
    sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=1)
    t0 = time.time()
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    assert got[0]["Body"] == "delayed" and time.time() - t0 < 3
    out["ok"] = True

elif part == "concurrent":
    # Five receivers drain 60 messages: each message is received exactly once.
    import threading

    url = sqs.create_queue(QueueName="shared", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    for i in range(0, 60, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": f"e{j}", "MessageBody": f"m{i + j}"} for j in range(10)])
    seen, lock = [], threading.Lock()

    def drain():
        c = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                         aws_secret_access_key="test")
        while True:
            got = c.receive_message(QueueUrl=url, MaxNumberOfMessages=3, WaitTimeSeconds=1).get("Messages", [])
            if not got:
                return
            with lock:
                seen.extend(m["Body"] for m in got)

    threads = [threading.Thread(target=drain) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == sorted(f"m{i}" for i in range(60)), sorted(seen)
    # Binary attributes and the trace header come back as sent.
    sent = sqs.send_message(
        QueueUrl=url, MessageBody="bin",
        MessageAttributes={"raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
                           "n.x": {"DataType": "Number.int", "StringValue": "42"}},
        MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}},
    )
    got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["n.*"], AttributeNames=["AWSTraceHeader"])["Messages"][0]
    assert got["MessageAttributes"] == {"n.x": {"DataType": "Number.int", "StringValue": "42"}}, got
    assert got["Attributes"] == {"AWSTraceHeader": "Root=1-abc"}, got
    assert "MD5OfMessageSystemAttributes" in sent
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=got["ReceiptHandle"], VisibilityTimeout=0)
    got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"][0]
    assert got["MessageAttributes"]["raw"]["BinaryValue"] == b"\x00\x01\xff", got
    assert got["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    out["ok"] = True

elif part == "signed":
    # Under --auth sigv4 (the key in SQS_KEY_ID/SQS_SECRET): served in the key's account.
    url = sqs.create_queue(QueueName="signed")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="signed")
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "signed"
    out["url"] = url
    forged = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=os.environ["SQS_KEY_ID"], aws_secret_access_key="wrong",
                          config=Config(retries={"max_attempts": 0}))
    out["forged"] = error_of(forged.send_message, QueueUrl=url, MessageBody="forged")
    # On the wire: the authentication layer's type in the body, the query code in the header.
    import urllib.error, urllib.request
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    raw = AWSRequest(method="POST", url=endpoint + "/", data=json.dumps({"QueueUrl": url}).encode(), headers={
        "X-Amz-Target": "AmazonSQS.GetQueueAttributes", "Content-Type": "application/x-amz-json-1.0"})
    SigV4Auth(Credentials(os.environ["SQS_KEY_ID"], "wrong"), "sqs", "us-east-1").add_auth(raw)
    try:
        urllib.request.urlopen(urllib.request.Request(raw.url, data=raw.body, headers=dict(raw.headers), method="POST"))
        raise AssertionError("a forged request was served")
    except urllib.error.HTTPError as e:
        body = json.loads(e.read())
        out["forged_wire"] = {"status": e.code, "type": body["__type"], "query": e.headers["x-amzn-query-error"]}
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"] == {
        "ApproximateNumberOfMessages": "0"}

elif part == "poll-through-stop":
    # A 20-second long poll on an empty queue while the server is told to stop.
    url = sqs.create_queue(QueueName="stopping")["QueueUrl"]
    print("polling", file=sys.stderr, flush=True)
    if len(sys.argv) > 3:
        # Tells the test the poll is about to start (a fixed wait is too short on a loaded machine).
        open(sys.argv[3], "w").close()
    t0 = time.time()
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
    out["messages"] = len(got.get("Messages", []))
    out["waited"] = time.time() - t0

elif part == "tags":
    url = sqs.create_queue(QueueName="tagged", tags={"team": "core"})["QueueUrl"]
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "core"}
    sqs.tag_queue(QueueUrl=url, Tags={"env": "dev"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "core", "env": "dev"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "dev"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["env"])
    assert "Tags" not in sqs.list_queue_tags(QueueUrl=url)
    out["ok"] = True

elif part == "leftovers":
    # The 12-hour limit of one receive's visibility, counted from the receive.
    url = sqs.create_queue(QueueName="vis")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="m")
    h = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]
    time.sleep(1.1)
    e = error_of(sqs.change_message_visibility, QueueUrl=url, ReceiptHandle=h, VisibilityTimeout=43200)
    assert e["QueryErrorCode"] == "InvalidParameterValue" or e["Code"] == "InvalidParameterValue", e
    assert e["Message"] == ("Value 43200 for parameter VisibilityTimeout is invalid. Reason: Total "
                            "VisibilityTimeout for the message is beyond the limit [43200 seconds]"), e
    out["visibility_cap"] = e
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=h, VisibilityTimeout=43000)
    batch = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": "a", "ReceiptHandle": h, "VisibilityTimeout": 43199}])
    assert batch["Failed"][0]["Code"] == "InvalidParameterValue", batch

    # QueueDeletedRecently: the same name within 60 s of DeleteQueue; another name is fine.
    sqs.delete_queue(QueueUrl=url)
    e = error_of(sqs.create_queue, QueueName="vis")
    assert e["QueryErrorCode"] == "AWS.SimpleQueueService.QueueDeletedRecently" or \
        e["Code"] == "AWS.SimpleQueueService.QueueDeletedRecently", e
    assert e["Message"] == ("You must wait 60 seconds after deleting a queue before you can create another "
                            "with the same name."), e
    assert e["Status"] == 400, e
    out["deleted_recently"] = e
    error_of(sqs.get_queue_url, QueueName="vis")  # and nothing was created
    sqs.create_queue(QueueName="vis2")

    # AddPermission / RemovePermission: statements of the queue's Policy.
    url = sqs.create_queue(QueueName="perm")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.add_permission(QueueUrl=url, Label="send", AWSAccountIds=["111122223333"], Actions=["SendMessage"])
    sqs.add_permission(QueueUrl=url, Label="all", AWSAccountIds=["444455556666", "777788889999"],
                       Actions=["SendMessage", "ReceiveMessage"])
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert (policy["Version"], policy["Id"]) == ("2008-10-17", f"{arn}/SQSDefaultPolicy"), policy
    assert [s["Sid"] for s in policy["Statement"]] == ["send", "all"], policy
    # As recorded on AWS: one account or action is a string, several a list.
    assert policy["Statement"][0] == {"Sid": "send", "Effect": "Allow",
                                      "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                                      "Action": "SQS:SendMessage", "Resource": arn}, policy
    assert policy["Statement"][1]["Principal"] == {"AWS": ["arn:aws:iam::444455556666:root", "arn:aws:iam::777788889999:root"]}, policy
    assert policy["Statement"][1]["Action"] == ["SQS:SendMessage", "SQS:ReceiveMessage"], policy
    dup = error_of(sqs.add_permission, QueueUrl=url, Label="send", AWSAccountIds=["111122223333"],
                   Actions=["SendMessage"])
    assert dup["Message"] == "Value send for parameter Label is invalid. Reason: Already exists.", dup
    sqs.remove_permission(QueueUrl=url, Label="send")
    gone = error_of(sqs.remove_permission, QueueUrl=url, Label="send")
    assert gone["Message"] == "Value send for parameter Label is invalid. Reason: can't find label.", gone
    sqs.remove_permission(QueueUrl=url, Label="all")
    assert "Policy" not in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    out["permissions"] = {"duplicate": dup, "missing": gone}

    # ReceiveRequestAttemptId on FIFO: a retry answers the same messages and handles while they
    # are in flight; after a delete it is a new receive.
    furl = sqs.create_queue(QueueName="att.fifo", Attributes={"FifoQueue": "true",
                                                              "ContentBasedDeduplication": "true"})["QueueUrl"]
    for b in ("f1", "f2", "f3"):
        sqs.send_message(QueueUrl=furl, MessageBody=b, MessageGroupId="g")
    first = sqs.receive_message(QueueUrl=furl, MaxNumberOfMessages=2, ReceiveRequestAttemptId="try-1")["Messages"]
    again = sqs.receive_message(QueueUrl=furl, MaxNumberOfMessages=2, ReceiveRequestAttemptId="try-1")["Messages"]
    assert [(m["Body"], m["ReceiptHandle"]) for m in first] == [(m["Body"], m["ReceiptHandle"]) for m in again], \
        (first, again)
    assert [m["Body"] for m in first] == ["f1", "f2"], first
    # Another attempt id finds the group in flight: nothing.
    assert "Messages" not in sqs.receive_message(QueueUrl=furl, ReceiveRequestAttemptId="try-2")
    for m in first:
        sqs.delete_message(QueueUrl=furl, ReceiptHandle=m["ReceiptHandle"])
    after = sqs.receive_message(QueueUrl=furl, MaxNumberOfMessages=2, ReceiveRequestAttemptId="try-1")["Messages"]
    assert [m["Body"] for m in after] == ["f3"], after
    bad = error_of(sqs.receive_message, QueueUrl=furl, ReceiveRequestAttemptId="x" * 129)
    assert "ReceiveRequestAttemptId" in bad["Message"], bad
    out["attempt"] = [m["Body"] for m in first]

    # SenderId is the account (Versa's keys are the account's own, as root's are on AWS).
    sqs.send_message(QueueUrl=furl, MessageBody="who", MessageGroupId="h")
    m = sqs.receive_message(QueueUrl=furl, MessageSystemAttributeNames=["SenderId"])["Messages"][0]
    out["sender"] = m["Attributes"]["SenderId"]
    assert out["sender"] == "000000000000", m

elif part == "moves":
    # DLQ redrive: a message move task sends a dead-letter queue's messages back to their source.
    dlq = sqs.create_queue(QueueName="mv-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    src = sqs.create_queue(QueueName="mv-src", Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})})["QueueUrl"]
    src_arn = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    ids = {sqs.send_message(QueueUrl=src, MessageBody=f"m{i}")["MessageId"] for i in range(3)}
    sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=10, VisibilityTimeout=0)
    assert "Messages" not in sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=10), "moved to the DLQ"
    assert attrs(dlq, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == "3"
    not_dlq = error_of(sqs.start_message_move_task, SourceArn=src_arn)
    assert not_dlq["Message"] == "Source queue must be configured as a Dead Letter Queue.", not_dlq
    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    deadline = time.time() + 10
    while True:
        task = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]
        if task["Status"] == "COMPLETED":
            break
        assert time.time() < deadline, task
        time.sleep(0.1)
    assert task["ApproximateNumberOfMessagesMoved"] == 3 and task["SourceArn"] == dlq_arn, task
    assert "TaskHandle" not in task, task
    back = sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert {m["MessageId"] for m in back} == ids, back
    assert all(m["Attributes"]["ApproximateReceiveCount"] == "1" for m in back), back
    assert all("DeadLetterQueueSourceArn" not in m["Attributes"] for m in back), back
    assert attrs(dlq, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == "0"
    gone = error_of(sqs.cancel_message_move_task, TaskHandle=handle)
    assert gone["Code"] == "ResourceNotFoundException", gone
    out["moves"] = task

elif part == "shapes":
    # ReceiveMessage's attribute-name filters: `prefix.*` is every name starting with the
    # prefix, `*` and `All` every name (recorded with these three attributes and their MD5s).
    url = sqs.create_queue(QueueName="filters")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="msg", MessageAttributes={
        "General": {"DataType": "String", "StringValue": "Kenobi"},
        "Hello": {"DataType": "String", "StringValue": "There"},
        "Help.Me": {"DataType": "String", "StringValue": "Me"}})
    for names, want, md5 in ((["Hel.*"], ["Hello", "Help.Me"], "83fee93c1bcd8b9a5a923ffacdc636c7"),
                             (["*"], ["General", "Hello", "Help.Me"], "4c360f3fdafd970e05fae2f149d997f5"),
                             (["Help.*"], ["Help.Me"], None)):
        m = sqs.receive_message(QueueUrl=url, MessageAttributeNames=names, VisibilityTimeout=0)["Messages"][0]
        assert sorted(m.get("MessageAttributes", {})) == want, (names, m)
        assert md5 is None or m["MD5OfMessageAttributes"] == md5, (names, m)
    # Number attributes are decimal numbers in SQS's range; an empty value is refused as recorded.
    for bad in ["NaN", "inf", "-Infinity", "1e400"]:
        e = error_of(sqs.send_message, QueueUrl=url, MessageBody="x",
                     MessageAttributes={"n": {"DataType": "Number", "StringValue": bad}})
        assert e["Message"] == "Can't cast the value of message (user) attribute 'n' to a number.", (bad, e)
    e = error_of(sqs.send_message, QueueUrl=url, MessageBody="x",
                 MessageAttributes={"ErrorDetails": {"DataType": "String", "StringValue": ""}})
    assert (e["Code"], e["Message"]) == ("InvalidParameterValue", "Message (user) attribute 'ErrorDetails' must contain a non-empty value of type 'String'."), e
    # A FIFO batch with an entry lacking its group or deduplication id sends nothing.
    fifo = sqs.create_queue(QueueName="shapes.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    e = error_of(sqs.send_message_batch, QueueUrl=fifo, Entries=[
        {"Id": "a", "MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": "d1"},
        {"Id": "b", "MessageBody": "x", "MessageDeduplicationId": "d2"}])
    assert (e["Code"], e["Status"], e["Message"]) == ("InvalidParameterValue", 400, "The request must contain the parameter MessageGroupId."), e
    e = error_of(sqs.send_message_batch, QueueUrl=fifo, Entries=[
        {"Id": "a", "MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": "d3"},
        {"Id": "b", "MessageBody": "x", "MessageGroupId": "g"}])
    assert (e["Code"], e["Message"]) == ("InvalidParameterValue", "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly"), e
    assert attrs(fifo, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == "0"
    # One server-side encryption at a time: a KMS key turns SSE-SQS off; asking for both is refused.
    kms = sqs.create_queue(QueueName="kms", Attributes={"KmsMasterKeyId": "testKeyId", "KmsDataKeyReusePeriodSeconds": "6000"})["QueueUrl"]
    got = attrs(kms, "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled")
    assert got == {"KmsDataKeyReusePeriodSeconds": "6000", "KmsMasterKeyId": "testKeyId", "SqsManagedSseEnabled": "false"}, got
    e = error_of(sqs.set_queue_attributes, QueueUrl=kms, Attributes={"SqsManagedSseEnabled": "true"})
    assert (e["Code"], e["Message"]) == ("InvalidAttributeName", "You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or SQS SSE."), e
    assert attrs(kms, "SqsManagedSseEnabled")["SqsManagedSseEnabled"] == "false"
    # perMessageGroupId throughput needs messageGroup deduplication.
    e = error_of(sqs.create_queue, QueueName="hs.fifo", Attributes={
        "FifoQueue": "true", "DeduplicationScope": "queue", "FifoThroughputLimit": "perMessageGroupId"})
    assert e["Code"] == "InvalidAttributeValue", e
    sqs.create_queue(QueueName="hs.fifo", Attributes={
        "FifoQueue": "true", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"})
    out["ok"] = True

elif part == "kill-before":
    url = sqs.create_queue(QueueName="durable", Attributes={"VisibilityTimeout": "3"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="in-flight")
    m = sqs.receive_message(QueueUrl=url)["Messages"][0]
    sent = sqs.send_message(QueueUrl=url, MessageBody="acknowledged")
    out["in_flight"] = m["MessageId"]
    out["acknowledged"] = sent["MessageId"]
    out["received_at"] = time.time()

elif part == "kill-after":
    url = sqs.get_queue_url(QueueName="durable")["QueueUrl"]
    seen = {}
    deadline = time.time() + 10
    while time.time() < deadline and len(seen) < 2:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                     AttributeNames=["ApproximateReceiveCount"]).get("Messages", []):
            seen[m["MessageId"]] = {"body": m["Body"], "count": m["Attributes"]["ApproximateReceiveCount"],
                                    "at": time.time()}
    out["seen"] = seen

else:
    raise SystemExit(f"unknown part {part}")

print(json.dumps(out))
