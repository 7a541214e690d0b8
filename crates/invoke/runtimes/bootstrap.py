"""Versa's Python runtime client.

Speaks the Lambda Runtime API (2018-06-01) at $AWS_LAMBDA_RUNTIME_API and calls the
function's `handler(event, context)` for each invocation, the way AWS's Python runtime does.
Standard library only.
"""

import http.client
import importlib
import json
import logging
import os
import socket
import sys
import time
import traceback

BASE = "/2018-06-01/runtime"
ERROR_CONTENT_TYPE = "application/vnd.aws.lambda.error+json"


class _Connection(http.client.HTTPConnection):
    def connect(self):
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class RuntimeApi:
    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self._host, self._port = host, int(port)
        self._conn = _Connection(self._host, self._port)

    def request(self, method, path, body=None, headers=None):
        for attempt in (0, 1):
            try:
                self._conn.request(method, BASE + path, body=body, headers=headers or {})
                response = self._conn.getresponse()
                return response.status, response.headers, response.read()
            except (http.client.HTTPException, OSError):
                self._conn.close()
                self._conn = _Connection(self._host, self._port)
                if attempt:
                    raise

    def post_error(self, path, error):
        body = json.dumps(error).encode()
        headers = {
            "Content-Type": ERROR_CONTENT_TYPE,
            "Lambda-Runtime-Function-Error-Type": error.get("errorType", "Unhandled"),
        }
        self.request("POST", path, body, headers)


class CognitoIdentity:
    def __init__(self, data):
        data = data or {}
        self.cognito_identity_id = data.get("cognitoIdentityId")
        self.cognito_identity_pool_id = data.get("cognitoIdentityPoolId")


class Client:
    def __init__(self, data):
        data = data or {}
        self.installation_id = data.get("installation_id")
        self.app_title = data.get("app_title")
        self.app_version_name = data.get("app_version_name")
        self.app_version_code = data.get("app_version_code")
        self.app_package_name = data.get("app_package_name")


class ClientContext:
    def __init__(self, data):
        self.client = Client(data.get("client"))
        self.custom = data.get("custom")
        self.env = data.get("env")


class LambdaContext:
    def __init__(self, request_id, deadline_ms, invoked_function_arn, client_context, identity):
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.client_context = ClientContext(client_context) if client_context else None
        self.identity = CognitoIdentity(identity)
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def __repr__(self):
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},client_context={self.client_context},"
            f"identity={self.identity}])"
        )


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record):
        record.aws_request_id = _RequestIdFilter.request_id
        return True


def _setup_logging():
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.formatter.converter = time.gmtime
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)


def _error(error_type, message, tb=None, request_id=None):
    error = {"errorMessage": message, "errorType": error_type}
    if request_id is not None:
        error["requestId"] = request_id
    error["stackTrace"] = traceback.format_list(traceback.extract_tb(tb)) if tb is not None else []
    return error


def _log_error(error):
    lines = ["[ERROR] {}: {}".format(error["errorType"], error["errorMessage"])]
    if error.get("stackTrace"):
        lines.append("Traceback (most recent call last):")
        lines.extend(line.rstrip("\n") for line in error["stackTrace"])
    print("\r".join(lines), flush=True)


def _load_handler(spec):
    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as e:
        return None, _error("Runtime.MalformedHandlerName", "Bad handler '{}': {}".format(spec, e))
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as e:
        return None, _error("Runtime.UserCodeSyntaxError", "Syntax error in module '{}': {}".format(module_name, e))
    except ImportError as e:
        return None, _error("Runtime.ImportModuleError", "Unable to import module '{}': {}".format(module_name, e))
    except Exception as e:
        _, _, tb = sys.exc_info()
        return None, _error(type(e).__name__, str(e), tb.tb_next if tb else None)
    handler = getattr(module, function_name, None)
    if handler is None:
        return None, _error(
            "Runtime.HandlerNotFound", "Handler '{}' missing on module '{}'".format(function_name, module_name)
        )
    return handler, None


def _option(name, default=None):
    args = sys.argv[1:]
    return args[args.index(name) + 1] if name in args[:-1] else default


def _set_module_path(task_root, opt_root, sdk):
    """The function's code first, then its layers, then the runtime and the AWS SDK (where
    Lambda keeps boto3), then the interpreter's own libraries."""
    version = "python{}.{}".format(*sys.version_info[:2])
    # Lambda's order: /var/task, /opt/python/lib/pythonX.Y/site-packages, /opt/python.
    first = [task_root, os.path.join(opt_root, "python", "lib", version, "site-packages"), os.path.join(opt_root, "python")]
    rest = [p for p in sys.path if p not in first and p != sdk]
    if sdk:
        runtime_dir = os.path.dirname(os.path.abspath(__file__))
        after_runtime = [i + 1 for i, p in enumerate(rest) if p == runtime_dir]
        rest.insert(after_runtime[-1] if after_runtime else 0, sdk)
    sys.path[:] = first + rest


def main():
    api = RuntimeApi(os.environ["AWS_LAMBDA_RUNTIME_API"])
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    _set_module_path(task_root, _option("--opt", "/opt"), _option("--sdk"))
    # The function sees the argv Lambda's runtime has.
    del sys.argv[1:]
    _setup_logging()
    handler, init_error = _load_handler(os.environ.get("_HANDLER", ""))
    if init_error is not None:
        init_error["requestId"] = ""
        _log_error(init_error)
        api.post_error("/init/error", init_error)
        sys.exit(1)

    while True:
        status, headers, body = api.request("GET", "/invocation/next")
        if status != 200:
            print("runtime: /next answered {}: {!r}".format(status, body[:200]), file=sys.stderr, flush=True)
            sys.exit(1)
        request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        _RequestIdFilter.request_id = request_id
        trace_id = headers.get("Lambda-Runtime-Trace-Id")
        if trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        client_context = headers.get("Lambda-Runtime-Client-Context")
        identity = headers.get("Lambda-Runtime-Cognito-Identity")
        context = LambdaContext(
            request_id,
            int(headers.get("Lambda-Runtime-Deadline-Ms", "0")),
            headers.get("Lambda-Runtime-Invoked-Function-Arn"),
            json.loads(client_context) if client_context else None,
            json.loads(identity) if identity else None,
        )
        try:
            event = json.loads(body) if body else {}
        except ValueError as e:
            error = _error("Runtime.UnmarshalError", "Unable to unmarshal input: {}".format(e), request_id=request_id)
            _log_error(error)
            api.post_error("/invocation/{}/error".format(request_id), error)
            continue
        try:
            result = handler(event, context)
        except Exception as e:
            _, _, tb = sys.exc_info()
            error = _error(type(e).__name__, str(e), tb.tb_next if tb else None, request_id)
            _log_error(error)
            api.post_error("/invocation/{}/error".format(request_id), error)
            continue
        try:
            payload = json.dumps(result).encode()
        except (TypeError, ValueError) as e:
            error = _error("Runtime.MarshalError", "Unable to marshal response: {}".format(e), request_id=request_id)
            _log_error(error)
            api.post_error("/invocation/{}/error".format(request_id), error)
            continue
        api.request("POST", "/invocation/{}/response".format(request_id), payload, {"Content-Type": "application/json"})


if __name__ == "__main__":
    main()
