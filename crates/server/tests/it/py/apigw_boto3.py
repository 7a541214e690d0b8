"""Drives API Gateway (REST v1 and HTTP v2) through boto3 against a Versa endpoint, with real
functions, and calls the APIs over plain HTTP through the path form
`/_aws/execute-api/<api>/<stage>/...` (api-gateway.md §7 acceptance checks). Asserts as it
goes; prints one JSON document of what it observed.

Usage: apigw_boto3.py ENDPOINT rest|http
       apigw_boto3.py ENDPOINT durable-start          (a REST API on alias prod; prints its id)
       apigw_boto3.py ENDPOINT durable-finish API_ID  (after a restart: it still answers)
       apigw_boto3.py ENDPOINT signed KEY_ID SECRET    (--auth sigv4: signed control plane, unsigned execute-api)
       apigw_boto3.py ENDPOINT iam KEY_ID SECRET [off] (an AWS_IAM method called signed by botocore;
                                                       `off`: the server runs --auth off, nothing asserted on refusals)
"""
import base64
import io
import json
import re
import sys
import time
import urllib.error
import urllib.request
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
if mode in ("signed", "iam"):
    kw.update(aws_access_key_id=sys.argv[3], aws_secret_access_key=sys.argv[4])
lam = boto3.client("lambda", **kw)
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"
REST_ERROR = b'{"message": "Internal server error"}'
TRACE = re.compile(r"Root=1-([0-9a-f]{8})-[0-9a-f]{24}")
HTTP_ERROR = b'{"message":"Internal Server Error"}'

CODE = '''import json, time
def handler(event, context):
    path = event.get("path") or event.get("rawPath") or ""
    if path.endswith("/sleep"):
        time.sleep(2)
    if path.endswith("/fail"):
        raise Exception("asked to fail")
    if path.endswith("/multi"):
        return {"statusCode": 201, "headers": {"k": "s1"}, "multiValueHeaders": {"k": ["m1"]}, "body": "m"}
    if path.endswith("/nostatus"):
        return {"headers": {}}
    if path.endswith("/extra"):
        return {"statusCode": 200, "wrongValue": 1}
    if path.endswith("/plain"):
        return {"a": 1}
    if path.endswith("/badb64"):
        return {"statusCode": 200, "body": "!!!", "isBase64Encoded": True}
    if path.endswith("/bin"):
        return {"statusCode": 200, "headers": {"content-type": "image/png"}, "body": event["body"],
                "isBase64Encoded": True, "multiValueHeaders": {"x-event-b64": [str(event["isBase64Encoded"])]}}
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps({"version": context.function_version, "event": event})}
'''
SAVED = []


def zipped(code):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as f:
        f.writestr("index.py", code)
    return b.getvalue()


def function(name):
    """`name` with versions 1, 2, 3 and aliases prod→1, dev→2, beta→3."""
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="index.handler",
                        Code={"ZipFile": zipped(CODE)})
    for v in ("1", "2", "3"):
        lam.update_function_configuration(FunctionName=name, Description=f"v{v}")
        assert lam.publish_version(FunctionName=name)["Version"] == v
    for alias, v in (("prod", "1"), ("dev", "2"), ("beta", "3")):
        lam.create_alias(FunctionName=name, Name=alias, FunctionVersion=v)


def allow(name, alias, api):
    lam.add_permission(FunctionName=name, Qualifier=alias, StatementId=f"apigw-{alias}",
                       Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api}/*")


def call(api, path, method="GET", body=None, headers=None):
    req = urllib.request.Request(f"{endpoint}/_aws/execute-api/{api}{path}", data=body, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def version_of(api, path):
    status, _, body = call(api, path)
    assert status == 200, (path, status, body)
    doc = json.loads(body)
    return doc["version"], doc["event"]


def error_code(fn, **kwargs):
    try:
        fn(**kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{fn.__name__} succeeded")


def lambda_uri(name, qualifier="${stageVariables.alias}"):
    return (f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
            f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}:{qualifier}/invocations")


def rest():
    gw = boto3.client("apigateway", **kw)
    out = {}
    function("shop")
    api = gw.create_rest_api(name="shop", tags={"team": "a"})
    api_id, root = api["id"], api["rootResourceId"]
    assert api["endpointConfiguration"] == {"types": ["EDGE"], "ipAddressType": "ipv4"}, api
    assert api["apiKeySource"] == "HEADER" and api["disableExecuteApiEndpoint"] is False
    proxy = gw.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")
    assert proxy["path"] == "/{proxy+}" and proxy["parentId"] == root
    gw.put_method(restApiId=api_id, resourceId=proxy["id"], httpMethod="ANY", authorizationType="NONE")
    integ = gw.put_integration(restApiId=api_id, resourceId=proxy["id"], httpMethod="ANY", type="AWS_PROXY",
                               integrationHttpMethod="POST", uri=lambda_uri("shop"))
    assert integ["timeoutInMillis"] == 29000 and integ["passthroughBehavior"] == "WHEN_NO_MATCH", integ
    items = gw.create_resource(restApiId=api_id, parentId=root, pathPart="items")
    item = gw.create_resource(restApiId=api_id, parentId=items["id"], pathPart="{id}")
    assert item["path"] == "/items/{id}"
    gw.put_method(restApiId=api_id, resourceId=item["id"], httpMethod="GET", authorizationType="NONE")
    gw.put_integration(restApiId=api_id, resourceId=item["id"], httpMethod="GET", type="AWS_PROXY",
                       integrationHttpMethod="POST", uri=lambda_uri("shop"))
    gw.put_method_response(restApiId=api_id, resourceId=item["id"], httpMethod="GET", statusCode="200")
    got = gw.get_method(restApiId=api_id, resourceId=item["id"], httpMethod="GET")
    assert got["methodIntegration"]["uri"] == lambda_uri("shop") and "200" in got["methodResponses"], got
    dep = gw.create_deployment(restApiId=api_id, stageName="dev", variables={"alias": "dev"})
    gw.create_stage(restApiId=api_id, stageName="prod", deploymentId=dep["id"], variables={"alias": "prod"})
    for alias in ("dev", "prod", "beta"):
        allow("shop", alias, api_id)

    # 1. stage dev → alias dev (version 2), stage prod → alias prod (version 1).
    v, event = version_of(api_id, "/dev/x")
    assert v == "2" and event["stageVariables"] == {"alias": "dev"} and event["requestContext"]["stage"] == "dev", event
    v, event = version_of(api_id, "/prod/x")
    assert v == "1" and event["stageVariables"] == {"alias": "prod"}, event
    assert event["resource"] == "/{proxy+}" and event["httpMethod"] == "GET" and event["body"] is None, event
    assert event["requestContext"]["path"] == "/prod/x" and event["requestContext"]["apiId"] == api_id, event
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1", event
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1" and event["multiValueHeaders"]["X-Forwarded-Proto"] == ["http"], event
    out["rest_event"] = event

    # The trace header: API Gateway adds one to the event and to the answer, or keeps the client's.
    status, headers, body = call(api_id, "/prod/x")
    trace = headers.get("x-amzn-trace-id", "")
    assert TRACE.fullmatch(trace) and abs(int(TRACE.fullmatch(trace)[1], 16) - time.time()) < 300, headers
    event = json.loads(body)["event"]
    assert event["headers"]["X-Amzn-Trace-Id"] == trace, event
    assert event["multiValueHeaders"]["X-Amzn-Trace-Id"] == [trace], event
    sent = "Root=1-5759e988-bd862e3fe1be46a994272793"
    status, headers, body = call(api_id, "/prod/x", headers={"X-Amzn-Trace-Id": sent})
    assert headers.get("x-amzn-trace-id") == sent, headers
    assert json.loads(body)["event"]["headers"]["X-Amzn-Trace-Id"] == sent
    assert call(api_id, "/prod/y")[1]["x-amzn-trace-id"] != trace, "a new trace per request"

    # 2. Promote prod, then roll back: the API is untouched, the next request follows the alias.
    before = (gw.get_stage(restApiId=api_id, stageName="prod"),
              gw.get_integration(restApiId=api_id, resourceId=proxy["id"], httpMethod="ANY"))
    lam.update_alias(FunctionName="shop", Name="prod", FunctionVersion="2")
    assert version_of(api_id, "/prod/x")[0] == "2"
    lam.update_alias(FunctionName="shop", Name="prod", FunctionVersion="1")
    assert version_of(api_id, "/prod/x")[0] == "1"
    after = (gw.get_stage(restApiId=api_id, stageName="prod"),
             gw.get_integration(restApiId=api_id, resourceId=proxy["id"], httpMethod="ANY"))
    strip = lambda pair: [{k: v for k, v in d.items() if k != "ResponseMetadata"} for d in pair]
    assert strip(before) == strip(after), (before, after)

    # 3. A stage variable changed without a redeploy takes effect on the next request.
    gw.update_stage(restApiId=api_id, stageName="prod",
                    patchOperations=[{"op": "replace", "path": "/variables/alias", "value": "beta"}])
    assert version_of(api_id, "/prod/x")[0] == "3"
    gw.update_stage(restApiId=api_id, stageName="prod",
                    patchOperations=[{"op": "replace", "path": "/variables/alias", "value": "prod"}])
    assert version_of(api_id, "/prod/x")[0] == "1"

    # 5. Weighted prod alias: both versions answer, about 30 % version 2.
    lam.update_alias(FunctionName="shop", Name="prod", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}})
    counts = {"1": 0, "2": 0}
    for _ in range(300):
        counts[version_of(api_id, "/prod/w")[0]] += 1
    out["weighted_counts"] = counts
    assert 0.2 <= counts["2"] / 300 <= 0.4, counts
    lam.update_alias(FunctionName="shop", Name="prod", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {}})

    # Canary (REST): half of prod's requests run a canary deployment with alias=beta; promoted by
    # moving the stage's deployment and removing the canary.
    canary = gw.create_deployment(restApiId=api_id, stageName="prod",
                                  canarySettings={"percentTraffic": 50.0, "stageVariableOverrides": {"alias": "beta"}})
    settings = gw.get_stage(restApiId=api_id, stageName="prod")["canarySettings"]
    assert settings == {"deploymentId": canary["id"], "percentTraffic": 50.0, "useStageCache": False,
                        "stageVariableOverrides": {"alias": "beta"}}, settings
    seen = {}
    for _ in range(60):
        v = version_of(api_id, "/prod/c")[0]
        seen[v] = seen.get(v, 0) + 1
    assert set(seen) == {"1", "3"} and min(seen.values()) >= 10, seen
    out["canary_counts"] = seen
    gw.update_stage(restApiId=api_id, stageName="prod",
                    patchOperations=[{"op": "replace", "path": "/canarySettings/percentTraffic", "value": "0"}])
    assert {version_of(api_id, "/prod/c")[0] for _ in range(10)} == {"1"}
    gw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/deploymentId", "value": canary["id"]}, {"op": "remove", "path": "/canarySettings"}])
    assert "canarySettings" not in gw.get_stage(restApiId=api_id, stageName="prod")
    assert version_of(api_id, "/prod/c")[0] == "1"

    # 6. Permission only on the unqualified function, not on the alias: 500, nothing runs.
    lam.remove_permission(FunctionName="shop", Qualifier="prod", StatementId="apigw-prod")
    lam.add_permission(FunctionName="shop", StatementId="apigw-unqualified", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com", SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*")
    status, headers, body = call(api_id, "/prod/x")
    assert (status, body) == (500, REST_ERROR), (status, body)
    assert headers.get("x-amzn-errortype") == "InternalServerErrorException", headers
    allow("shop", "prod", api_id)
    assert version_of(api_id, "/prod/x")[0] == "1"

    # 7. A stage naming a deleted alias, and a stage without the variable: 500 for that stage only.
    gw.create_stage(restApiId=api_id, stageName="qa", deploymentId=dep["id"], variables={"alias": "gone"})
    gw.create_stage(restApiId=api_id, stageName="novar", deploymentId=dep["id"])
    lam.create_alias(FunctionName="shop", Name="gone", FunctionVersion="3")
    allow("shop", "gone", api_id)
    lam.delete_alias(FunctionName="shop", Name="gone")
    assert call(api_id, "/qa/x")[0::2] == (500, REST_ERROR)
    assert call(api_id, "/novar/x")[0::2] == (500, REST_ERROR)
    assert version_of(api_id, "/prod/x")[0] == "1"

    # 8. Response mapping.
    status, headers, body = call(api_id, "/prod/multi")
    assert status == 201 and headers.get("k") == "m1, s1" and body == b"m", (status, headers, body)
    status, headers, body = call(api_id, "/prod/nostatus")
    assert (status, body) == (200, b"") and headers.get("content-type") == "application/json", (status, headers)
    assert call(api_id, "/prod/extra")[0::2] == (502, REST_ERROR)
    status, headers, body = call(api_id, "/prod/fail")
    assert (status, body, len(body)) == (502, REST_ERROR, 36), (status, body)

    # 9. Path and query parameters.
    _, event = version_of(api_id, "/prod/items/7?x=1&x=2&e=a%2Bb")
    assert event["resource"] == "/items/{id}" and event["pathParameters"] == {"id": "7"}, event
    assert event["queryStringParameters"] == {"x": "2", "e": "a+b"}, event
    assert event["multiValueQueryStringParameters"]["x"] == ["1", "2"], event
    _, event = version_of(api_id, "/prod/u/a%2Bb/")
    assert event["pathParameters"] == {"proxy": "u/a%2Bb"}, event
    _, event = version_of(api_id, "/prod/x/")
    assert event["path"] == "/x/" and event["requestContext"]["path"] == "/prod/x/", event

    # 10. Binary: decoded only when Accept names a binary media type.
    gw.update_rest_api(restApiId=api_id, patchOperations=[{"op": "add", "path": "/binaryMediaTypes/image~1png"}])
    gw.create_deployment(restApiId=api_id, stageName="prod")
    png = b"\x89PNG\r\n\x1a\n\x00\x01\xff"
    status, headers, body = call(api_id, "/prod/bin", "POST", png, {"Content-Type": "image/png", "Accept": "image/png"})
    assert (status, body) == (200, png) and headers.get("x-event-b64") == "True", (status, headers, body)
    status, _, body = call(api_id, "/prod/bin", "POST", png, {"Content-Type": "image/png", "Accept": "*/*"})
    assert (status, body) == (200, base64.b64encode(png)), (status, body)
    # Not base64, decoded: 500 (recorded), not 502; not decoded, the text as it is.
    status, headers, body = call(api_id, "/prod/badb64", headers={"Accept": "image/png"})
    assert (status, body) == (500, REST_ERROR), (status, headers, body)
    assert headers.get("x-amzn-errortype") == "InternalServerErrorException", headers
    assert call(api_id, "/prod/badb64", headers={"Accept": "*/*"})[0::2] == (200, b"!!!")

    # 11. Misses.
    missing = b'{"message":"Missing Authentication Token"}'
    status, headers, body = call(api_id, "/prod/")
    assert (status, body) == (403, missing) and headers.get("x-amzn-errortype") == "MissingAuthenticationTokenException"
    assert call(api_id, "/prod/items/7", "POST", b"{}")[0::2] == (403, missing)
    assert call(api_id, "/nostage/x")[0::2] == (403, b'{"message":"Forbidden"}')
    assert call("nosuchapi1", "/prod/x")[0] == 403

    # Timeouts: an integration that gives up after 1 s answers 504; bodies over 10 MB are refused.
    slow = gw.create_resource(restApiId=api_id, parentId=root, pathPart="sleep")
    gw.put_method(restApiId=api_id, resourceId=slow["id"], httpMethod="GET", authorizationType="NONE")
    gw.put_integration(restApiId=api_id, resourceId=slow["id"], httpMethod="GET", type="AWS_PROXY",
                       integrationHttpMethod="POST", uri=lambda_uri("shop"), timeoutInMillis=1000)
    assert error_code(gw.put_integration, restApiId=api_id, resourceId=slow["id"], httpMethod="GET", type="AWS_PROXY",
                      integrationHttpMethod="POST", uri=lambda_uri("shop"), timeoutInMillis=30000)[0] == "BadRequestException"
    gw.create_deployment(restApiId=api_id, stageName="prod")
    status, headers, body = call(api_id, "/prod/sleep")
    assert (status, body) == (504, b'{"message": "Endpoint request timed out"}'), (status, body)
    status, _, body = call(api_id, "/prod/x", "POST", b"x" * (10 * 1024 * 1024 + 1))
    assert status == 413, (status, body)
    assert call(api_id, "/prod/x", "POST", b"x" * (7 * 1024 * 1024))[0] == 413  # over Lambda's 6 MB

    # 4. An integration change is invisible until deployed, and only to the stage deployed.
    gw.put_integration(restApiId=api_id, resourceId=proxy["id"], httpMethod="ANY", type="AWS_PROXY",
                       integrationHttpMethod="POST", uri=lambda_uri("shop", "beta"))
    assert version_of(api_id, "/dev/x")[0] == "2"
    gw.create_deployment(restApiId=api_id, stageName="dev")
    assert version_of(api_id, "/dev/x")[0] == "3"
    assert version_of(api_id, "/prod/x")[0] == "1"

    # Throttling by the stage's method settings: burst 2, 1 request a second → 429.
    gw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "2"},
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "1"},
        {"op": "replace", "path": "/~1items~1{id}/GET/metrics/enabled", "value": "true"}])
    settings = gw.get_stage(restApiId=api_id, stageName="prod")["methodSettings"]
    assert settings["*/*"]["throttlingBurstLimit"] == 2 and settings["*/*"]["throttlingRateLimit"] == 1.0, settings
    assert settings["items/{id}/GET"]["metricsEnabled"] is True, settings
    answers = [call(api_id, "/prod/x")[0::2] for _ in range(5)]
    assert [a[0] for a in answers[:2]] == [200, 200], answers
    assert (429, b'{"message":"Too Many Requests"}') in answers, [a[0] for a in answers]
    gw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "5000"},
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "10000"}])
    assert version_of(api_id, "/prod/x")[0] == "1"

    # 12. Control-plane shapes and errors.
    stages = gw.get_stages(restApiId=api_id)["item"]
    assert {s["stageName"] for s in stages} == {"dev", "prod", "qa", "novar"}, stages
    prod = next(s for s in stages if s["stageName"] == "prod")
    assert prod["variables"] == {"alias": "prod"} and prod["cacheClusterStatus"] == "NOT_AVAILABLE", prod
    assert error_code(gw.delete_deployment, restApiId=api_id, deploymentId=prod["deploymentId"]) == (
        "BadRequestException", "Active stages pointing to this deployment must be moved or deleted", 400)
    assert error_code(gw.get_rest_api, restApiId="nope") == (
        "NotFoundException", f"Invalid API identifier specified {ACCOUNT}:nope", 404)
    assert error_code(gw.create_resource, restApiId=api_id, parentId=root, pathPart="items") == (
        "ConflictException", "Another resource with the same parent already has this name: items", 409)
    assert error_code(gw.create_resource, restApiId=api_id, parentId=root, pathPart="{other}")[1] == (
        "A sibling ({proxy+}) of this resource already has a variable path part -- only one is allowed")
    assert error_code(gw.create_resource, restApiId=api_id, parentId=proxy["id"], pathPart="x")[1] == (
        "Cannot create a child of a resource with a greedy path variable: {proxy+}")
    assert error_code(gw.create_resource, restApiId=api_id, parentId="nope", pathPart="x")[1] == (
        "Invalid Resource identifier specified")
    bad = lambda **k: error_code(gw.put_integration, restApiId=api_id, resourceId=item["id"], httpMethod="GET", **k)
    assert bad(type="AWS_PROXY", uri=lambda_uri("shop")) == (
        "BadRequestException", "Enumeration value for HttpMethod must be non-empty", 400)
    assert bad(type="AWS_PROXY", integrationHttpMethod="POST", uri="not-an-arn")[1] == "Invalid ARN specified in the request"
    assert bad(type="AWS_PROXY", integrationHttpMethod="POST",
               uri=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:shop")[1] == "AWS ARN for integration must contain path or action"
    assert bad(type="AWS_PROXY", integrationHttpMethod="POST",
               uri="arn:aws:apigateway:us-east-1:s3:path/bucket/key")[1] == (
        "Integrations of type 'AWS_PROXY' currently only supports Lambda function and Firehose stream invocations.")
    code, message, status = bad(type="NOPE", integrationHttpMethod="POST", uri=lambda_uri("shop"))
    assert (code, status) == ("ValidationException", 400) and "putIntegrationInput.type" in message, message
    # Refused, nothing stored.
    assert gw.get_integration(restApiId=api_id, resourceId=item["id"], httpMethod="GET")["uri"] == lambda_uri("shop")
    assert error_code(gw.update_stage, restApiId=api_id, stageName="prod",
                      patchOperations=[{"op": "replace", "path": "/deploymentId", "value": "nope"}])[1] == "Deployment id does not exist"
    assert error_code(gw.get_method, restApiId=api_id, resourceId=root, httpMethod="GET")[1] == "Invalid Method identifier specified"
    stage_arn = f"arn:aws:apigateway:us-east-1::/restapis/{api_id}/stages/prod"
    gw.tag_resource(resourceArn=stage_arn, tags={"env": "prod"})
    assert gw.get_tags(resourceArn=stage_arn)["tags"] == {"env": "prod"}
    gw.untag_resource(resourceArn=stage_arn, tagKeys=["env"])
    assert gw.get_tags(resourceArn=stage_arn)["tags"] == {}
    assert [a["id"] for a in gw.get_rest_apis()["items"]] == [api_id]
    assert len(gw.get_resources(restApiId=api_id, embed=["methods"])["items"]) == 5
    # ImportRestApi / PutRestApi: an OpenAPI body as SAM and Terraform's `body` send it.
    spec = {"swagger": "2.0", "info": {"title": "imported"}, "x-amazon-apigateway-binary-media-types": ["image/png"],
            "paths": {"/{proxy+}": {"x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {
                "type": "aws_proxy", "httpMethod": "POST", "uri": lambda_uri("shop", "prod")}}}}}
    imported = gw.import_rest_api(body=json.dumps(spec).encode())
    assert imported["name"] == "imported" and imported["binaryMediaTypes"] == ["image/png"], imported
    iid = imported["id"]
    gw.create_deployment(restApiId=iid, stageName="v")
    lam.add_permission(FunctionName="shop", Qualifier="prod", StatementId="imported", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com", SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{iid}/*/*/*")
    assert version_of(iid, "/v/x")[0] == "1"
    spec["paths"] = {"/only": {"get": {"x-amazon-apigateway-integration": {
        "type": "aws_proxy", "httpMethod": "POST", "uri": lambda_uri("shop", "prod")}}}}
    gw.put_rest_api(restApiId=iid, mode="overwrite", body=json.dumps(spec).encode())
    assert [r["path"] for r in gw.get_resources(restApiId=iid)["items"]] == ["/", "/only"]
    gw.create_deployment(restApiId=iid, stageName="v")
    assert call(iid, "/v/x")[0] == 403 and version_of(iid, "/v/only")[0] == "1"
    bad = dict(spec, paths={"/x": {"get": {"x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "POST", "uri": "nope"}}}})
    assert error_code(gw.import_rest_api, body=json.dumps(bad).encode())[1] == "Invalid ARN specified in the request"
    assert len(gw.get_rest_apis()["items"]) == 2
    gw.delete_rest_api(restApiId=iid)

    gw.delete_stage(restApiId=api_id, stageName="qa")
    gw.delete_rest_api(restApiId=api_id)
    assert call(api_id, "/prod/x")[0] == 403
    out["api_id"] = api_id
    return out


def http():
    gw = boto3.client("apigatewayv2", **kw)
    out = {}
    function("web")
    api = gw.create_api(Name="web", ProtocolType="HTTP")
    api_id = api["ApiId"]
    assert api["ApiEndpoint"].startswith(f"http://{api_id}.execute-api.us-east-1.localhost:"), api
    assert api["RouteSelectionExpression"] == "$request.method $request.path", api
    integ = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", PayloadFormatVersion="2.0",
                                  IntegrationUri=lambda_uri("web"))
    assert integ["TimeoutInMillis"] == 30000 and integ["IntegrationMethod"] == "POST", integ
    v1 = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", PayloadFormatVersion="1.0",
                               IntegrationUri=lambda_uri("web"))
    gw.create_route(ApiId=api_id, RouteKey="ANY /{proxy+}", Target=f"integrations/{integ['IntegrationId']}")
    gw.create_route(ApiId=api_id, RouteKey="GET /items/{id}", Target=f"integrations/{integ['IntegrationId']}")
    gw.create_route(ApiId=api_id, RouteKey="GET /v1/{id}", Target=f"integrations/{v1['IntegrationId']}")
    gw.create_stage(ApiId=api_id, StageName="dev", AutoDeploy=True, StageVariables={"alias": "dev"})
    gw.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True, StageVariables={"alias": "prod"})
    for alias in ("dev", "prod"):
        allow("web", alias, api_id)

    # 14. Named stages put the stage into rawPath; one integration, the alias per stage.
    v, event = version_of(api_id, "/dev/x?a=1&a=2")
    assert v == "2" and event["rawPath"] == "/dev/x" and event["routeKey"] == "ANY /{proxy+}", event
    assert event["version"] == "2.0" and event["stageVariables"] == {"alias": "dev"}, event
    assert event["queryStringParameters"] == {"a": "1,2"} and event["rawQueryString"] == "a=1&a=2", event
    assert event["pathParameters"] == {"proxy": "x"} and event["requestContext"]["stage"] == "dev", event
    assert TRACE.fullmatch(event["headers"]["x-amzn-trace-id"]), event
    out["http_event"] = event
    v, event = version_of(api_id, "/prod/items/7")
    assert v == "1" and event["routeKey"] == "GET /items/{id}" and event["pathParameters"] == {"id": "7"}, event

    # The same promotion story: UpdateAlias prod, the next request runs the new version.
    lam.update_alias(FunctionName="web", Name="prod", FunctionVersion="3")
    assert version_of(api_id, "/prod/x")[0] == "3"
    lam.update_alias(FunctionName="web", Name="prod", FunctionVersion="1")
    assert version_of(api_id, "/prod/x")[0] == "1"
    gw.update_stage(ApiId=api_id, StageName="prod", StageVariables={"alias": "dev"})
    assert version_of(api_id, "/prod/x")[0] == "2"
    gw.update_stage(ApiId=api_id, StageName="prod", StageVariables={"alias": "prod"})

    # Payload format 1.0 on an HTTP API: `version`, the stage in `path`.
    v, event = version_of(api_id, "/dev/v1/5")
    assert event["version"] == "1.0" and event["path"] == "/dev/v1/5" and event["pathParameters"] == {"id": "5"}, event
    # Every header name lower-cased, those API Gateway adds too.
    assert all(k == k.lower() for k in event["headers"]) and event["headers"]["x-forwarded-for"] == "127.0.0.1", event
    assert event["multiValueHeaders"]["x-forwarded-proto"] == ["http"], event
    assert TRACE.fullmatch(event["headers"]["x-amzn-trace-id"]), event

    # Missing permission (beta has none), function error, route miss.
    gw.create_stage(ApiId=api_id, StageName="qa", AutoDeploy=True, StageVariables={"alias": "beta"})
    assert call(api_id, "/qa/x")[0::2] == (500, HTTP_ERROR)
    assert call(api_id, "/prod/fail")[0::2] == (500, HTTP_ERROR)
    assert call(api_id, "/prod/")[0::2] == (404, b'{"message":"Not Found"}')
    assert call(api_id, "/nostage")[0::2] == (404, b'{"message":"Not Found"}')

    # Timeouts: 503 on an HTTP API.
    slow = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", PayloadFormatVersion="2.0",
                                 IntegrationUri=lambda_uri("web"), TimeoutInMillis=1000)
    gw.create_route(ApiId=api_id, RouteKey="GET /sleep", Target=f"integrations/{slow['IntegrationId']}")
    assert call(api_id, "/prod/sleep")[0::2] == (503, b'{"message":"Service Unavailable"}')

    # Throttling by the stage's default route settings.
    gw.update_stage(ApiId=api_id, StageName="qa", DefaultRouteSettings={"ThrottlingBurstLimit": 1, "ThrottlingRateLimit": 0.5})
    statuses = [call(api_id, "/qa/plain")[0:3:2] for _ in range(3)]
    assert (429, b'{"message":"Too Many Requests"}') in statuses, statuses

    # Without AutoDeploy a stage serves its deployment; CreateDeployment moves it.
    gw.create_stage(ApiId=api_id, StageName="manual", StageVariables={"alias": "dev"})
    assert call(api_id, "/manual/x")[0] == 404
    dep = gw.create_deployment(ApiId=api_id, StageName="manual")
    assert dep["DeploymentStatus"] == "DEPLOYED"
    assert version_of(api_id, "/manual/x")[0] == "2"

    # 13. Quick create: $default stage and route; an answer without statusCode is JSON.
    quick = gw.create_api(Name="quick", ProtocolType="HTTP",
                          Target=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:web:prod")
    qid = quick["ApiId"]
    assert call(qid, "/plain")[0] == 500  # no permission yet
    lam.add_permission(FunctionName="web", Qualifier="prod", StatementId="quick", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com", SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{qid}/*")
    status, headers, body = call(qid, "/plain")
    assert status == 200 and json.loads(body) == {"a": 1} and headers.get("content-type") == "application/json", (status, headers, body)
    assert headers.get("apigw-requestid"), headers
    v, event = version_of(qid, "/anything")
    assert event["routeKey"] == "$default" and event["rawPath"] == "/anything" and event["requestContext"]["stage"] == "$default", event
    stages = gw.get_stages(ApiId=qid)["Items"]
    assert [(s["StageName"], s["AutoDeploy"]) for s in stages] == [("$default", True)], stages
    routes = gw.get_routes(ApiId=qid)["Items"]
    assert [r["RouteKey"] for r in routes] == ["$default"], routes

    # CORS: with corsConfiguration the API answers preflights itself and marks answers.
    gw.update_api(ApiId=qid, CorsConfiguration={"AllowOrigins": ["https://example.com"], "AllowMethods": ["GET"],
                                                "AllowHeaders": ["x-custom"], "MaxAge": 300})
    status, headers, _ = call(qid, "/plain", "OPTIONS", None, {"Origin": "https://example.com",
                                                           "Access-Control-Request-Method": "GET"})
    assert status == 204 and headers.get("access-control-allow-origin") == "https://example.com", (status, headers)
    assert headers.get("access-control-allow-methods") == "GET" and headers.get("access-control-max-age") == "300", headers
    status, headers, _ = call(qid, "/plain", headers={"Origin": "https://example.com"})
    assert status == 200 and headers.get("access-control-allow-origin") == "https://example.com", (status, headers)
    assert "access-control-allow-origin" not in call(qid, "/plain", headers={"Origin": "https://other.example"})[1]

    # ImportApi: an OpenAPI 3 body (SAM's HttpApi shape) with the $default route.
    spec = {"openapi": "3.0.1", "info": {"title": "imported", "version": "1.0"}, "paths": {
        "/items/{id}": {"get": {"x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "POST",
            "uri": lambda_uri("web"), "payloadFormatVersion": "2.0"}}},
        "$default": {"x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {"type": "aws_proxy",
            "httpMethod": "POST", "uri": lambda_uri("web"), "payloadFormatVersion": "2.0"}}}}}
    imported = gw.import_api(Body=json.dumps(spec))
    iid = imported["ApiId"]
    assert imported["Name"] == "imported", imported
    assert sorted(r["RouteKey"] for r in gw.get_routes(ApiId=iid)["Items"]) == ["$default", "GET /items/{id}"]
    assert len(gw.get_integrations(ApiId=iid)["Items"]) == 1
    gw.create_stage(ApiId=iid, StageName="$default", AutoDeploy=True, StageVariables={"alias": "prod"})
    lam.add_permission(FunctionName="web", Qualifier="prod", StatementId="imported", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com", SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{iid}/*")
    v, event = version_of(iid, "/items/9")
    assert v == "1" and event["routeKey"] == "GET /items/{id}" and event["pathParameters"] == {"id": "9"}, event
    assert version_of(iid, "/other")[1]["routeKey"] == "$default"
    gw.delete_api(ApiId=iid)

    # Control-plane errors.
    code = error_code(gw.get_api, ApiId="nope")
    assert code[0] == "NotFoundException" and code[2] == 404, code
    code = error_code(gw.create_route, ApiId=api_id, RouteKey="GET /items/{id}", Target=f"integrations/{integ['IntegrationId']}")
    assert code[0] == "ConflictException", code
    code = error_code(gw.create_integration, ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=lambda_uri("web"))
    assert code[0] == "BadRequestException", code
    before = len(gw.get_integrations(ApiId=api_id)["Items"]), len(gw.get_routes(ApiId=api_id)["Items"])
    code = error_code(gw.create_integration, ApiId=api_id, IntegrationType="AWS_PROXY", PayloadFormatVersion="2.0",
                      IntegrationUri="not-a-lambda")
    assert code[0] == "BadRequestException", code
    code = error_code(gw.create_integration, ApiId=api_id, IntegrationType="AWS_PROXY", PayloadFormatVersion="3.0",
                      IntegrationUri=lambda_uri("web"))
    assert code[0] == "BadRequestException", code
    for key in ("GET items", "FETCH /x", "GET /{proxy+}/x"):
        assert error_code(gw.create_route, ApiId=api_id, RouteKey=key)[0] == "BadRequestException", key
    assert error_code(gw.create_route, ApiId=api_id, RouteKey="GET /y", Target="integrations/nope")[0] == "NotFoundException"
    assert error_code(gw.create_stage, ApiId=api_id, StageName="dev")[0] == "ConflictException"
    after = len(gw.get_integrations(ApiId=api_id)["Items"]), len(gw.get_routes(ApiId=api_id)["Items"])
    assert before == after, (before, after)
    assert len(gw.get_apis()["Items"]) == 2
    gw.delete_api(ApiId=qid)
    assert call(qid, "/plain")[0] == 403
    out["api_id"] = api_id
    return out


def durable_start(name="kept"):
    gw = boto3.client("apigateway", **kw)
    function(name)
    api = gw.create_rest_api(name=name)
    proxy = gw.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="{proxy+}")
    gw.put_method(restApiId=api["id"], resourceId=proxy["id"], httpMethod="ANY", authorizationType="NONE")
    gw.put_integration(restApiId=api["id"], resourceId=proxy["id"], httpMethod="ANY", type="AWS_PROXY",
                       integrationHttpMethod="POST", uri=lambda_uri(name))
    gw.create_deployment(restApiId=api["id"], stageName="prod", variables={"alias": "prod"})
    allow(name, "prod", api["id"])
    assert version_of(api["id"], "/prod/x")[0] == "1"
    return {"api_id": api["id"]}


def durable_finish(api_id):
    gw = boto3.client("apigateway", **kw)
    assert gw.get_stage(restApiId=api_id, stageName="prod")["variables"] == {"alias": "prod"}
    assert version_of(api_id, "/prod/x")[0] == "1"
    lam.update_alias(FunctionName="kept", Name="prod", FunctionVersion="2")
    assert version_of(api_id, "/prod/x")[0] == "2"
    return {"api_id": api_id}


def signed():
    global ACCOUNT
    lam.create_function(FunctionName="probe", Runtime="python3.12", Role=ROLE, Handler="index.handler",
                        Code={"ZipFile": zipped(CODE)})
    ACCOUNT = lam.get_function(FunctionName="probe")["Configuration"]["FunctionArn"].split(":")[4]
    out = durable_start("sig")
    req = urllib.request.Request(f"{endpoint}/restapis", data=b'{"name":"x"}', method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("an unsigned CreateRestApi was accepted under --auth sigv4")
    except urllib.error.HTTPError as e:
        assert e.code == 403, e.code
    assert [a["id"] for a in boto3.client("apigateway", **kw).get_rest_apis()["items"]] == [out["api_id"]]
    out["account"] = ACCOUNT
    return out


COUNTER = '''import json
N = 0
def handler(event, context):
    global N
    N += 1
    context = event["requestContext"]
    return {"statusCode": 200, "body": json.dumps({"count": N, "path": event.get("path") or event.get("rawPath"),
                                                   "body": event.get("body"), "identity": context.get("identity"),
                                                   "authorizer": context.get("authorizer")})}
'''


def iam_call(api, path, key_id, secret, method="GET", body=None, sign=True):
    """Calls the API signed by botocore's own SigV4Auth for `execute-api` (normalised path,
    double-encoded, as the SDKs sign execute-api)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    url = f"{endpoint}/_aws/execute-api/{api}{path}"
    req = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    if sign:
        SigV4Auth(Credentials(key_id, secret), "execute-api", "us-east-1").add_auth(req)
    r = urllib.request.Request(url, data=body, method=method, headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(r, timeout=60) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def iam():
    """A REST API whose `ANY /{proxy+}` needs AWS_IAM, on a function counting its invocations."""
    global ACCOUNT
    key_id, secret = sys.argv[3], sys.argv[4]
    gw = boto3.client("apigateway", **kw)
    lam.create_function(FunctionName="counted", Runtime="python3.12", Role=ROLE, Handler="index.handler",
                        Code={"ZipFile": zipped(COUNTER)})
    ACCOUNT = lam.get_function(FunctionName="counted")["Configuration"]["FunctionArn"].split(":")[4]
    api = gw.create_rest_api(name="iam")
    proxy = gw.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="{proxy+}")
    gw.put_method(restApiId=api["id"], resourceId=proxy["id"], httpMethod="ANY", authorizationType="AWS_IAM")
    gw.put_integration(restApiId=api["id"], resourceId=proxy["id"], httpMethod="ANY", type="AWS_PROXY",
                       integrationHttpMethod="POST", uri=(f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
                            f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:counted/invocations"))
    gw.create_deployment(restApiId=api["id"], stageName="prod")
    lam.add_permission(FunctionName="counted", StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api['id']}/*")
    api_id = api["id"]
    out = {"api_id": api_id}
    # A path botocore normalises and encodes twice (`%20`, `:`), a query, and a body.
    status, _, body = iam_call(api_id, "/prod/a%20b/c:d?q=1%2B2&z=", key_id, secret, "POST", b'{"k":1}')
    assert status == 200, (status, body)
    doc = json.loads(body)
    assert doc["count"] == 1 and doc["body"] == '{"k":1}', doc
    out["signed_path"] = doc["path"]
    out["identity"] = doc["identity"]
    for name, args in (("wrong_secret", (key_id, secret + "x")), ("unknown_key", ("AKIAUNKNOWNKEY000000", secret))):
        status, headers, body = iam_call(api_id, "/prod/x", *args)
        out[name] = {"status": status, "type": headers.get("x-amzn-errortype"), "body": json.loads(body)}
    status, headers, body = iam_call(api_id, "/prod/x", key_id, secret, sign=False)
    out["unsigned"] = {"status": status, "type": headers.get("x-amzn-errortype"), "body": json.loads(body)}
    # The refused calls ran nothing: the warm environment's count goes on from 1.
    status, _, body = iam_call(api_id, "/prod/x", key_id, secret)
    assert status == 200, (status, body)
    out["count_after_refusals"] = json.loads(body)["count"]
    # An HTTP API route with AWS_IAM (payload 2.0): the caller in `authorizer.iam`.
    gw2 = boto3.client("apigatewayv2", **kw)
    h = gw2.create_api(Name="iam2", ProtocolType="HTTP")["ApiId"]
    integration = gw2.create_integration(
        ApiId=h, IntegrationType="AWS_PROXY", PayloadFormatVersion="2.0",
        IntegrationUri=(f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
                        f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:counted/invocations"))["IntegrationId"]
    gw2.create_route(ApiId=h, RouteKey="GET /x", AuthorizationType="AWS_IAM", Target=f"integrations/{integration}")
    gw2.create_stage(ApiId=h, StageName="$default", AutoDeploy=True)
    lam.add_permission(FunctionName="counted", StatementId="apigw2", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{h}/*")
    status, _, body = iam_call(h, "/x", key_id, secret, sign=False)
    out["http_unsigned"] = status
    status, _, body = iam_call(h, "/x", key_id, secret)
    assert status == 200, (status, body)
    doc = json.loads(body)
    out["http_authorizer"] = doc["authorizer"]
    out["final_count"] = doc["count"]
    return out


modes = {"iam": iam, "signed": signed, "rest": rest, "http": http, "durable-start": durable_start, "durable-finish": lambda: durable_finish(sys.argv[3])}
print(json.dumps(modes[mode]()))
