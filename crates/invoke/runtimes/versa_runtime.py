"""Versa's Python runtime client (started by `bootstrap.py`, which imports it so that its
bytecode comes from `__pycache__`).

Speaks the Lambda Runtime API (2018-06-01) at $AWS_LAMBDA_RUNTIME_API and calls the
function's `handler(event, context)` for each invocation, the way AWS's Python runtime does.
Standard library only.

It starts fast, since it is most of a cold start: it imports only modules the interpreter has
built in (no `http.client`, which pulls in `email` and `ssl`; no `json`, `re` or `enum`: the
JSON codec is `_json`'s C scanner and encoder, configured as `json.loads`/`json.dumps` do),
imports `traceback` only for an error, and configures `logging` the moment the function
imports it (a `sys.meta_path` hook) instead of importing it for every function.
"""

import _socket
import os
import sys
import time

BASE = "/2018-06-01/runtime"
ERROR_CONTENT_TYPE = "application/vnd.aws.lambda.error+json"
# Largest response head from the Runtime API.
HEAD_MAX = 64 * 1024


# -- JSON, as `json.loads` and `json.dumps` with their defaults produce and accept ----------------

try:
    import _json

    class _DecodeContext:
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__
        memo = {}

    _scan = _json.make_scanner(_DecodeContext())

    def _default(o):
        raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


    def json_loads(text):
        if isinstance(text, (bytes, bytearray)):
            text = text.decode("utf-8")
        start = len(text) - len(text.lstrip(" \t\n\r"))
        try:
            value, end = _scan(text, start)
        except StopIteration as e:
            raise ValueError("Expecting value: char {}".format(e.value)) from None
        if text[end:].strip(" \t\n\r"):
            raise ValueError("Extra data: char {}".format(end))
        return value

    def json_dumps(value):
        if isinstance(value, str):
            return _json.encode_basestring_ascii(value)
        # A new encoder per call, with its own circular-reference markers (as json.dumps).
        encode = _json.make_encoder({}, _default, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True)
        return "".join(encode(value, 0))

    json_loads("[1]") == [1] and json_dumps({"a": [1.5, None]}) == '{"a": [1.5, null]}' or 1 / 0
except Exception:  # an interpreter whose _json differs: the json module, then
    import json

    json_loads, json_dumps = json.loads, json.dumps


# -- The Runtime API over one keep-alive connection ------------------------------------------------


class RuntimeApi:
    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self._address = (host, int(port))
        self._sock = None
        self._buf = b""

    def _connect(self):
        sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        sock.connect(self._address)
        self._sock, self._buf = sock, b""

    def _close(self):
        if self._sock is not None:
            self._sock.close()
        self._sock, self._buf = None, b""

    def _fill(self):
        data = self._sock.recv(65536)
        if not data:
            raise ConnectionError("the Runtime API closed the connection")
        self._buf += data

    def _read(self, n):
        while len(self._buf) < n:
            self._fill()
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def _line(self):
        while True:
            i = self._buf.find(b"\r\n")
            if i >= 0:
                line, self._buf = self._buf[:i], self._buf[i + 2 :]
                return line
            if len(self._buf) > HEAD_MAX:
                raise ConnectionError("response head too long")
            self._fill()

    def _exchange(self, method, path, body, headers):
        if self._sock is None:
            self._connect()
        head = "{} {}{} HTTP/1.1\r\nHost: {}:{}\r\n".format(method, BASE, path, *self._address)
        for k, v in headers.items():
            head += "{}: {}\r\n".format(k, v)
        body = body or b""
        if method != "GET" or body:
            head += "Content-Length: {}\r\n".format(len(body))
        self._sock.sendall(head.encode("latin-1") + b"\r\n" + body)
        status_line = self._line()
        try:
            status = int(status_line.split(None, 2)[1])
        except (IndexError, ValueError):
            raise ConnectionError("bad status line {!r}".format(status_line[:100])) from None
        got = {}
        while True:
            line = self._line()
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            got[name.strip().lower()] = value.strip()
        if "chunked" in got.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                parts.append(self._read(size))
                self._line()
            data = b"".join(parts)
        else:
            data = self._read(int(got.get("content-length", "0")))
        if got.get("connection", "").lower() == "close":
            self._close()
        return status, got, data

    def request(self, method, path, body=None, headers=None):
        """(status, headers with lower-case names, body); reconnects once."""
        for attempt in (0, 1):
            try:
                return self._exchange(method, path, body, headers or {})
            except (OSError, ValueError):
                self._close()
                if attempt:
                    raise

    def post_error(self, path, error):
        body = json_dumps(error).encode()
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


# -- logging, configured when the function imports it ----------------------------------------------

# The request being handled, for the `aws_request_id` of log records.
_request_id = ""


def _setup_logging(logging):
    class RequestIdFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = _request_id
            return True

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.formatter.converter = time.gmtime
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)


class _LoggingHook:
    """A `sys.meta_path` finder that finds nothing itself: when `logging` is first imported, it
    lets the other finders find it and configures it right after it has run."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "logging":
            return None
        if cls in sys.meta_path:
            sys.meta_path.remove(cls)
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find else None
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        exec_module = getattr(loader, "exec_module", None)
        if exec_module is None:
            return spec

        def exec_and_configure(module):
            exec_module(module)
            _setup_logging(module)

        loader.exec_module = exec_and_configure
        return spec


def _configure_logging_on_import():
    if "logging" in sys.modules:
        _setup_logging(sys.modules["logging"])
    else:
        sys.meta_path.insert(0, _LoggingHook)


# -- errors ----------------------------------------------------------------------------------------


def _error(error_type, message, tb=None, request_id=None):
    error = {"errorMessage": message, "errorType": error_type}
    if request_id is not None:
        error["requestId"] = request_id
    if tb is not None:
        import traceback

        error["stackTrace"] = traceback.format_list(traceback.extract_tb(tb))
    else:
        error["stackTrace"] = []
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
        __import__(module_name)
        module = sys.modules[module_name]
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
    global _request_id
    api = RuntimeApi(os.environ["AWS_LAMBDA_RUNTIME_API"])
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    _set_module_path(task_root, _option("--opt", "/opt"), _option("--sdk"))
    # The function sees the argv Lambda's runtime has.
    del sys.argv[1:]
    _configure_logging_on_import()
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
        request_id = headers.get("lambda-runtime-aws-request-id", "")
        _request_id = request_id
        trace_id = headers.get("lambda-runtime-trace-id")
        if trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        client_context = headers.get("lambda-runtime-client-context")
        identity = headers.get("lambda-runtime-cognito-identity")
        try:
            context = LambdaContext(
                request_id,
                int(headers.get("lambda-runtime-deadline-ms", "0")),
                headers.get("lambda-runtime-invoked-function-arn"),
                json_loads(client_context) if client_context else None,
                json_loads(identity) if identity else None,
            )
            event = json_loads(body) if body else {}
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
            payload = json_dumps(result).encode()
        except (TypeError, ValueError, OverflowError) as e:
            error = _error("Runtime.MarshalError", "Unable to marshal response: {}".format(e), request_id=request_id)
            _log_error(error)
            api.post_error("/invocation/{}/error".format(request_id), error)
            continue
        api.request("POST", "/invocation/{}/response".format(request_id), payload, {"Content-Type": "application/json"})
