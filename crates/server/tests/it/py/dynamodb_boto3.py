"""Drives DynamoDB and DynamoDB Streams through boto3 against a Versa endpoint (issue 14 points 1
and 2, event-sources.md §5.2, §5.3 and acceptance check 1 of §7). Asserts as it goes; prints one
JSON document of what it observed.

Usage: dynamodb_boto3.py ENDPOINT story
       dynamodb_boto3.py ENDPOINT durable-write N   (creates table `durable`, writes N items)
       dynamodb_boto3.py ENDPOINT durable-read      (reads them back with their stream records)
       dynamodb_boto3.py ENDPOINT signed KEY_ID SECRET  (under --auth sigv4: both targets signed `dynamodb`)
"""
import json
import re
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, mode = sys.argv[1], sys.argv[2]
key_id, secret = (sys.argv[3], sys.argv[4]) if mode == "signed" else ("test", "test")
kw = dict(
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id=key_id,
    aws_secret_access_key=secret,
    config=Config(retries={"max_attempts": 1}),
)
ddb = boto3.client("dynamodb", **kw)
streams = boto3.client("dynamodbstreams", **kw)


def error(fn, **args):
    """The (code, message) a call fails with; fails the script if it succeeds."""
    try:
        fn(**args)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"], e.response
    raise AssertionError(f"{fn.__name__} {args} succeeded")


ENVELOPE = "1 validation error detected: "


def expect(fn, code, message, **args):
    """AWS's exact error; a ValidationException may carry the envelope AWS is rolling out
    region by region (event-sources.md §5.2)."""
    c, m, _ = error(fn, **args)
    if code == "ValidationException" and m.startswith(ENVELOPE) and not message.startswith(ENVELOPE):
        m = m[len(ENVELOPE):]
    assert (c, m) == (code, message), f"{fn.__name__}: got {c!r} {m!r}, expected {code!r} {message!r}"


def records(stream_arn, kind="TRIM_HORIZON", seq=None):
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    args = dict(StreamArn=stream_arn, ShardId=shard, ShardIteratorType=kind)
    if seq:
        args["SequenceNumber"] = seq
    it = streams.get_shard_iterator(**args)["ShardIterator"]
    out = []
    while True:
        r = streams.get_records(ShardIterator=it, Limit=1000)
        out += r["Records"]
        if not r["Records"] or "NextShardIterator" not in r:
            return out
        it = r["NextShardIterator"]


def create(name, view="NEW_AND_OLD_IMAGES", **extra):
    args = dict(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    if view:
        args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view}
    args.update(extra)
    return ddb.create_table(**args)["TableDescription"]


def story():
    seen = {}
    # Tables: create (CREATING), the waiter, describe ACTIVE, list; acceptance check 1.
    t = create(
        "orders",
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_status",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "status", "AttributeType": "S"},
        ],
    )
    stream_arn = t["LatestStreamArn"]
    assert t["TableStatus"] == "CREATING", t["TableStatus"]
    assert re.search(r":table/orders/stream/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$", stream_arn), stream_arn
    assert stream_arn.startswith("arn:aws:dynamodb:us-east-1:"), stream_arn
    ddb.get_waiter("table_exists").wait(TableName="orders", WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    d = ddb.describe_table(TableName="orders")["Table"]
    assert d["TableStatus"] == "ACTIVE" and d["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    s = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]
    assert s["StreamStatus"] == "ENABLED" and len(s["Shards"]) == 1 and len(s["Shards"][0]["ShardId"]) >= 28, s
    assert "orders" in ddb.list_tables()["TableNames"]
    expect(ddb.create_table, "ResourceInUseException", "Table already exists: orders",
           TableName="orders", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
           AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    expect(ddb.describe_table, "ResourceNotFoundException", "Requested resource not found: Table: nope not found",
           TableName="nope")

    # Items: put, conditions, updates, return values.
    ddb.put_item(TableName="orders", Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "status": {"S": "new"}, "n": {"N": "1"}})
    c, m, r = error(ddb.put_item, TableName="orders", Item={"pk": {"S": "a"}, "sk": {"N": "1"}},
                    ConditionExpression="attribute_not_exists(pk)", ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert (c, m) == ("ConditionalCheckFailedException", "The conditional request failed"), (c, m)
    assert r["Item"]["status"] == {"S": "new"}, r
    u = ddb.update_item(
        TableName="orders", Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
        UpdateExpression="SET #s = :s, n = n + :one, tags = list_append(if_not_exists(tags, :empty), :t) REMOVE gone ADD c :one",
        ConditionExpression="#s = :old",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "paid"}, ":old": {"S": "new"}, ":one": {"N": "1"},
                                   ":empty": {"L": []}, ":t": {"L": [{"S": "x"}]}},
        ReturnValues="ALL_NEW",
    )["Attributes"]
    assert u["n"] == {"N": "2"} and u["status"] == {"S": "paid"} and u["tags"] == {"L": [{"S": "x"}]} and u["c"] == {"N": "1"}, u
    g = ddb.get_item(TableName="orders", Key={"pk": {"S": "a"}, "sk": {"N": "1"}}, ProjectionExpression="n, #s",
                     ExpressionAttributeNames={"#s": "status"})["Item"]
    assert g == {"n": {"N": "2"}, "status": {"S": "paid"}}, g
    assert "Item" not in ddb.get_item(TableName="orders", Key={"pk": {"S": "zz"}, "sk": {"N": "1"}})

    # Bad input: AWS's errors, and nothing changes.
    before = ddb.get_item(TableName="orders", Key={"pk": {"S": "a"}, "sk": {"N": "1"}})["Item"]
    expect(ddb.update_item, "ValidationException", 'Invalid UpdateExpression: Syntax error; token: "INVALID", near: "INVALID SYNTAX"',
           TableName="orders", Key={"pk": {"S": "a"}, "sk": {"N": "1"}}, UpdateExpression="INVALID SYNTAX")
    c, m, _ = error(ddb.update_item, TableName="orders", Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
                    UpdateExpression="SET n = :nope")
    assert c == "ValidationException" and "An expression attribute value used in expression is not defined; attribute value: :nope" in m, m
    c, m, _ = error(ddb.update_item, TableName="orders", Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
                    UpdateExpression="SET status = :s", ExpressionAttributeValues={":s": {"S": "x"}})
    assert c == "ValidationException" and m.endswith("Attribute name is a reserved keyword; reserved keyword: status"), m
    expect(ddb.put_item, "ValidationException",
           "One or more parameter values were invalid: Type mismatch for key sk expected: N actual: S",
           TableName="orders", Item={"pk": {"S": "a"}, "sk": {"S": "1"}})
    expect(ddb.get_item, "ValidationException", "The provided key element does not match the schema",
           TableName="orders", Key={"pk": {"S": "a"}})
    expect(ddb.put_item, "ValidationException", "One or more parameter values were invalid: Missing the key sk in the item",
           TableName="orders", Item={"pk": {"S": "a"}})
    c, m, _ = error(ddb.put_item, TableName="orders",
                    Item={"pk": {"S": "big"}, "sk": {"N": "1"}, "blob": {"S": "x" * (400 * 1024)}})
    assert (c, m) == ("ValidationException", "Item size has exceeded the maximum allowed size"), (c, m)
    expect(ddb.update_item, "ValidationException",
           "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key",
           TableName="orders", Key={"pk": {"S": "a"}, "sk": {"N": "1"}}, UpdateExpression="SET pk = :v",
           ExpressionAttributeValues={":v": {"S": "b"}})
    expect(ddb.put_item, "ResourceNotFoundException", "Requested resource not found",
           TableName="nope", Item={"pk": {"S": "a"}})
    c, m, _ = error(ddb.delete_item, TableName="orders", Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
                    ConditionExpression="n = :v", ExpressionAttributeValues={":v": {"N": "99"}})
    assert c == "ConditionalCheckFailedException", c
    after = ddb.get_item(TableName="orders", Key={"pk": {"S": "a"}, "sk": {"N": "1"}})["Item"]
    assert before == after, (before, after)
    assert "Item" not in ddb.get_item(TableName="orders", Key={"pk": {"S": "big"}, "sk": {"N": "1"}})

    # Query / Scan: pagination, filters, projections, the index, COUNT.
    with_batch = [{"PutRequest": {"Item": {"pk": {"S": "q"}, "sk": {"N": str(i)}, "status": {"S": "odd" if i % 2 else "even"}}}}
                  for i in range(25)]
    assert ddb.batch_write_item(RequestItems={"orders": with_batch})["UnprocessedItems"] == {}
    p = ddb.get_paginator("query")
    pages = list(p.paginate(TableName="orders", KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
                            ExpressionAttributeValues={":p": {"S": "q"}, ":a": {"N": "0"}, ":b": {"N": "19"}},
                            ScanIndexForward=False, PaginationConfig={"PageSize": 7}))
    keys = [int(i["sk"]["N"]) for pg in pages for i in pg["Items"]]
    assert keys == list(range(19, -1, -1)) and len(pages) >= 3, (keys, len(pages))
    f = ddb.query(TableName="orders", KeyConditionExpression="pk = :p", FilterExpression="#s = :o",
                  ExpressionAttributeNames={"#s": "status"},
                  ExpressionAttributeValues={":p": {"S": "q"}, ":o": {"S": "odd"}}, Select="COUNT")
    assert f["Count"] == 12 and f["ScannedCount"] == 25, f
    ix = ddb.query(TableName="orders", IndexName="by_status", KeyConditionExpression="#s = :e",
                   ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":e": {"S": "even"}})
    assert ix["Count"] == 13, ix["Count"]
    expect(ddb.query, "ValidationException", "Query condition missed key schema element: pk",
           TableName="orders", KeyConditionExpression="sk = :a", ExpressionAttributeValues={":a": {"N": "1"}})
    scanned = [i for pg in ddb.get_paginator("scan").paginate(TableName="orders", PaginationConfig={"PageSize": 4},
                                                               ProjectionExpression="pk, sk") for i in pg["Items"]]
    assert len(scanned) == 26 and all(set(i) == {"pk", "sk"} for i in scanned), len(scanned)

    # Batches and transactions.
    bg = ddb.batch_get_item(RequestItems={"orders": {"Keys": [{"pk": {"S": "q"}, "sk": {"N": str(i)}} for i in range(5)]}})
    assert len(bg["Responses"]["orders"]) == 5 and bg["UnprocessedKeys"] == {}
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": "orders", "Item": {"pk": {"S": "t"}, "sk": {"N": "1"}}}},
        {"Update": {"TableName": "orders", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}},
                    "UpdateExpression": "SET n = n + :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"Delete": {"TableName": "orders", "Key": {"pk": {"S": "q"}, "sk": {"N": "24"}}}},
    ])
    c, m, r = error(ddb.transact_write_items, TransactItems=[
        {"Put": {"TableName": "orders", "Item": {"pk": {"S": "t"}, "sk": {"N": "2"}}}},
        {"ConditionCheck": {"TableName": "orders", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}},
                            "ConditionExpression": "n = :v", "ExpressionAttributeValues": {":v": {"N": "0"}}}},
    ])
    assert c == "TransactionCanceledException" and m == (
        "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ConditionalCheckFailed]"), m
    assert [x["Code"] for x in r["CancellationReasons"]] == ["None", "ConditionalCheckFailed"], r["CancellationReasons"]
    tg = ddb.transact_get_items(TransactItems=[
        {"Get": {"TableName": "orders", "Key": {"pk": {"S": "t"}, "sk": {"N": "1"}}}},
        {"Get": {"TableName": "orders", "Key": {"pk": {"S": "t"}, "sk": {"N": "2"}}}},
    ])["Responses"]
    assert "Item" in tg[0] and "Item" not in tg[1], tg
    assert ddb.get_item(TableName="orders", Key={"pk": {"S": "a"}, "sk": {"N": "1"}})["Item"]["n"] == {"N": "3"}

    # TTL and tags.
    ddb.update_time_to_live(TableName="orders", TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    assert ddb.describe_time_to_live(TableName="orders")["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
    arn = d["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "core"}, {"Key": "env", "Value": "dev"}])
    ddb.untag_resource(ResourceArn=arn, TagKeys=["env"])
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "core"}]

    # Streams: the records of everything above, in order, with images per view type.
    recs = records(stream_arn)
    names = [r["eventName"] for r in recs]
    assert names[:2] == ["INSERT", "MODIFY"], names
    seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in recs]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(21 <= len(r["dynamodb"]["SequenceNumber"]) <= 40 for r in recs)
    m1 = recs[1]["dynamodb"]
    assert m1["OldImage"]["status"] == {"S": "new"} and m1["NewImage"]["status"] == {"S": "paid"}, m1
    assert recs[0]["eventSource"] == "aws:dynamodb" and recs[0]["awsRegion"] == "us-east-1", recs[0]
    assert "REMOVE" in names
    # Iterator types: AT / AFTER_SEQUENCE_NUMBER, LATEST.
    second = recs[1]["dynamodb"]["SequenceNumber"]
    assert records(stream_arn, "AT_SEQUENCE_NUMBER", second)[0]["dynamodb"]["SequenceNumber"] == second
    assert records(stream_arn, "AFTER_SEQUENCE_NUMBER", second)[0]["dynamodb"]["SequenceNumber"] == recs[2]["dynamodb"]["SequenceNumber"]
    assert records(stream_arn, "LATEST") == []
    # The view types.
    views, views_arns = {}, {}
    for view in ["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE"]:
        name = "v_" + view.lower()
        sa = create(name, view)["LatestStreamArn"]
        views_arns[view] = sa
        key = {"pk": {"S": "k"}, "sk": {"N": "1"}}
        ddb.put_item(TableName=name, Item={**key, "v": {"N": "1"}})
        ddb.put_item(TableName=name, Item={**key, "v": {"N": "1"}})  # unchanged: no record
        ddb.put_item(TableName=name, Item={**key, "v": {"N": "2"}})
        ddb.delete_item(TableName=name, Key=key)
        rs = records(sa)
        views[view] = [(r["eventName"], sorted(k for k in r["dynamodb"] if k.endswith("Image"))) for r in rs]
        assert all(r["dynamodb"]["StreamViewType"] == view for r in rs)
    assert views["KEYS_ONLY"] == [("INSERT", []), ("MODIFY", []), ("REMOVE", [])], views
    assert views["NEW_IMAGE"] == [("INSERT", ["NewImage"]), ("MODIFY", ["NewImage"]), ("REMOVE", [])], views
    assert views["OLD_IMAGE"] == [("INSERT", []), ("MODIFY", ["OldImage"]), ("REMOVE", ["OldImage"])], views
    listed = streams.list_streams(TableName="orders")["Streams"]
    assert [x["StreamArn"] for x in listed] == [stream_arn], listed
    # Streams off and on: UpdateTable, a new label.
    off = ddb.update_table(TableName="v_keys_only", StreamSpecification={"StreamEnabled": False})["TableDescription"]
    assert off["TableStatus"] == "UPDATING", off
    on = ddb.update_table(TableName="v_old_image", StreamSpecification={"StreamEnabled": False})
    on = ddb.update_table(TableName="v_old_image",
                          StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})["TableDescription"]
    assert on["TableStatus"] == "UPDATING" and on["LatestStreamArn"] != views_arns["OLD_IMAGE"], on
    assert "StreamSpecification" not in ddb.describe_table(TableName="v_keys_only")["Table"] or \
        not ddb.describe_table(TableName="v_keys_only")["Table"]["StreamSpecification"]["StreamEnabled"]
    bad_stream = stream_arn.replace("orders", "nope")
    c, m, _ = error(streams.describe_stream, StreamArn=bad_stream)
    assert c == "ResourceNotFoundException" and m == f"Requested resource not found: Stream: {bad_stream} not found", m

    # Delete: DELETING, then the waiter.
    dd = ddb.delete_table(TableName="v_new_image")["TableDescription"]
    assert dd["TableStatus"] == "DELETING", dd
    ddb.get_waiter("table_not_exists").wait(TableName="v_new_image", WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    seen.update(records=len(recs), views=views, stream_arn=stream_arn, pages=len(pages))
    return seen


def durable_write(n):
    create("durable")
    for i in range(n):
        ddb.put_item(TableName="durable", Item={"pk": {"S": "k"}, "sk": {"N": str(i)}})
    arn = ddb.describe_table(TableName="durable")["Table"]["LatestStreamArn"]
    return {"written": n, "stream_arn": arn, "last_seq": records(arn)[-1]["dynamodb"]["SequenceNumber"]}


def durable_read():
    items = [i for pg in ddb.get_paginator("query").paginate(
        TableName="durable", KeyConditionExpression="pk = :k", ExpressionAttributeValues={":k": {"S": "k"}})
        for i in pg["Items"]]
    arn = ddb.describe_table(TableName="durable")["Table"]["LatestStreamArn"]
    before = records(arn)
    ddb.put_item(TableName="durable", Item={"pk": {"S": "after"}, "sk": {"N": "0"}})
    after = records(arn)
    return {
        "items": len(items),
        "records": len(before),
        "seqs_increase": [int(r["dynamodb"]["SequenceNumber"]) for r in after]
        == sorted(int(r["dynamodb"]["SequenceNumber"]) for r in after),
        "last_seq_before": before[-1]["dynamodb"]["SequenceNumber"],
        "new_seq": after[-1]["dynamodb"]["SequenceNumber"],
    }


def signed():
    arn = create("signed")["LatestStreamArn"]
    ddb.put_item(TableName="signed", Item={"pk": {"S": "a"}, "sk": {"N": "1"}})
    assert len(records(arn)) == 1
    bad = boto3.client("dynamodb", **{**kw, "aws_secret_access_key": "wrong"})
    c, _, r = error(bad.list_tables)
    assert r["ResponseMetadata"]["HTTPStatusCode"] in (400, 403), r
    return {"refused": c}


if mode == "signed":
    out = signed()
elif mode == "story":
    out = story()
elif mode == "durable-write":
    out = durable_write(int(sys.argv[3]))
elif mode == "durable-read":
    out = durable_read()
else:
    raise SystemExit(f"unknown mode {mode}")
print(json.dumps(out))
