"""DynamoDB on several nodes (issue 15): boto3 against three Versa nodes on one PostgreSQL, the
first of them the DynamoDB home. Asserts as it goes; prints one JSON document of what it saw.
botocore checks every answer's x-amz-crc32, so a forwarded answer must arrive unchanged.

Usage: dynamodb_cluster.py HOME_ENDPOINT B_ENDPOINT C_ENDPOINT
"""
import io
import json
import sys
import time
import zipfile

import boto3
from botocore.config import Config

home, b_end, c_end = sys.argv[1], sys.argv[2], sys.argv[3]


def clients(endpoint):
    kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
              aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}))
    return boto3.client("dynamodb", **kw), boto3.client("dynamodbstreams", **kw), boto3.client("lambda", **kw)


ddb_a, _, _ = clients(home)
ddb_b, _, lam_b = clients(b_end)
ddb_c, streams_c, _ = clients(c_end)
ROLE = "arn:aws:iam::000000000000:role/r"
out = {}

# A table with a stream, created on the home; every node sees it.
t = ddb_a.create_table(TableName="tab", BillingMode="PAY_PER_REQUEST",
                       KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                  {"AttributeName": "sk", "KeyType": "RANGE"}],
                       AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                             {"AttributeName": "sk", "AttributeType": "N"}],
                       StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
stream = t["TableDescription"]["LatestStreamArn"]
assert stream.startswith("arn:aws:dynamodb:us-east-1:000000000000:table/tab/stream/"), stream
assert ddb_b.describe_table(TableName="tab")["Table"]["LatestStreamArn"] == stream
assert "tab" in ddb_c.list_tables()["TableNames"]

# Writes through B, reads through C.
for i in range(5):
    r = ddb_b.put_item(TableName="tab", Item={"pk": {"S": "p"}, "sk": {"N": str(i)}, "v": {"S": f"v{i}"}})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
got = ddb_c.get_item(TableName="tab", Key={"pk": {"S": "p"}, "sk": {"N": "3"}}, ConsistentRead=True)
assert got["Item"]["v"]["S"] == "v3", got
q = ddb_c.query(TableName="tab", KeyConditionExpression="pk = :p AND sk >= :lo",
                ExpressionAttributeValues={":p": {"S": "p"}, ":lo": {"N": "2"}})
assert [int(i["sk"]["N"]) for i in q["Items"]] == [2, 3, 4], q
out["request_id_b"] = got["ResponseMetadata"]["RequestId"]
# A refused write answers the home's error, unchanged.
try:
    ddb_c.put_item(TableName="tab", Item={"pk": {"S": "p"}, "sk": {"N": "0"}},
                   ConditionExpression="attribute_not_exists(pk)")
    raise AssertionError("the conditional put succeeded")
except ddb_c.exceptions.ConditionalCheckFailedException as e:
    out["conditional"] = e.response["Error"]["Code"]
try:
    ddb_b.get_item(TableName="missing", Key={"pk": {"S": "p"}})
    raise AssertionError("a missing table answered")
except ddb_b.exceptions.ResourceNotFoundException as e:
    out["missing"] = e.response["Error"]["Code"]

# DynamoDB Streams through C: the five INSERTs written through B.
assert [s["StreamArn"] for s in streams_c.list_streams(TableName="tab")["Streams"]] == [stream]
shard = streams_c.describe_stream(StreamArn=stream)["StreamDescription"]["Shards"][0]["ShardId"]
it = streams_c.get_shard_iterator(StreamArn=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
recs = streams_c.get_records(ShardIterator=it)["Records"]
assert [(r["eventName"], r["dynamodb"]["Keys"]["sk"]["N"]) for r in recs] == [("INSERT", str(i)) for i in range(5)], recs

# A stream mapping on an alias, created through B (its stream checked at the home); the
# function records every delivery it handles into `seen` (a new id each) through its own node's
# API, so a record delivered twice (e.g. polled by more than the home) would count twice.
CODE = """import uuid, boto3
seen = boto3.client("dynamodb")
def handler(event, context):
    for r in event["Records"]:
        k = r["dynamodb"]["Keys"]
        seen.put_item(TableName="seen", Item={"id": {"S": str(uuid.uuid4())}, "seq": {"S": r["dynamodb"]["SequenceNumber"]},
            "sk": {"N": k["sk"]["N"]}, "name": {"S": r["eventName"]}, "version": {"S": context.function_version}})
    return {}
"""
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("index.py", CODE)
ddb_c.create_table(TableName="seen", BillingMode="PAY_PER_REQUEST",
                   KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                   AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
lam_b.create_function(FunctionName="fn", Runtime="python3.12", Role=ROLE, Handler="index.handler",
                      Code={"ZipFile": buf.getvalue()}, Timeout=10)
lam_b.get_waiter("function_active_v2").wait(FunctionName="fn")
assert lam_b.publish_version(FunctionName="fn")["Version"] == "1"
lam_b.create_alias(FunctionName="fn", Name="prod", FunctionVersion="1")
m = lam_b.create_event_source_mapping(FunctionName="fn:prod", EventSourceArn=stream, StartingPosition="LATEST")
deadline = time.time() + 20
while lam_b.get_event_source_mapping(UUID=m["UUID"])["State"] != "Enabled":
    assert time.time() < deadline, "the mapping never became Enabled"
    time.sleep(0.1)

# Writes through C (not the home) reach the function.
written = time.time()
for i in range(10, 15):
    ddb_c.put_item(TableName="tab", Item={"pk": {"S": "p"}, "sk": {"N": str(i)}})
deadline = time.time() + 60
while True:
    items = ddb_b.scan(TableName="seen", ConsistentRead=True)["Items"]
    if len(items) >= 5:
        break
    assert time.time() < deadline, f"records never delivered: {items}"
    time.sleep(0.1)
out["delivery_ms"] = int((time.time() - written) * 1000)
assert sorted(int(i["sk"]["N"]) for i in items) == list(range(10, 15)), items
# Polled once, by the home: nothing arrives twice.
time.sleep(1.5)
items = ddb_b.scan(TableName="seen", ConsistentRead=True)["Items"]
assert len(items) == 5, items
assert all(i["name"]["S"] == "INSERT" and i["version"]["S"] == "1" for i in items), items
out["stream"] = stream
out["mapping"] = m["UUID"]
print(json.dumps(out))
