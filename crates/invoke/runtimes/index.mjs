// Versa's Node.js runtime client.
//
// Speaks the Lambda Runtime API (2018-06-01) at $AWS_LAMBDA_RUNTIME_API and calls the
// function's handler for each invocation, the way AWS's Node.js runtime does: async handlers,
// callback handlers, CommonJS and ES modules. Node's standard library only.

import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { createRequire, register } from "node:module";
import { pathToFileURL } from "node:url";
import { format } from "node:util";

const BASE = "/2018-06-01/runtime";
const [HOST, PORT] = splitAddress(process.env.AWS_LAMBDA_RUNTIME_API);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let currentRequestId = undefined;

function splitAddress(address) {
  const i = address.lastIndexOf(":");
  return [address.slice(0, i), Number(address.slice(i + 1))];
}

function request(method, p, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: HOST, port: PORT, path: BASE + p, method, agent, headers },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("socket", (s) => s.setNoDelay(true));
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function errorObject(err) {
  if (err instanceof Error) {
    return {
      errorType: err.name || "Error",
      errorMessage: err.message,
      trace: typeof err.stack === "string" ? err.stack.split("\n") : [],
    };
  }
  return { errorType: typeof err, errorMessage: format("%s", err), trace: [] };
}

async function postError(p, error) {
  const body = JSON.stringify(error);
  await request("POST", p, body, {
    "Content-Type": "application/vnd.aws.lambda.error+json",
    "Lambda-Runtime-Function-Error-Type": error.errorType,
  });
}

function logLine(level, args) {
  const line = `${new Date().toISOString()}\t${currentRequestId ?? "undefined"}\t${level}\t${format(...args)}`;
  process.stdout.write(line.replace(/\n/g, "\r") + "\n");
}

console.log = (...a) => logLine("INFO", a);
console.info = (...a) => logLine("INFO", a);
console.warn = (...a) => logLine("WARN", a);
console.error = (...a) => logLine("ERROR", a);
console.debug = (...a) => logLine("DEBUG", a);
console.trace = (...a) => logLine("TRACE", a);

class UserError extends Error {
  constructor(type, message) {
    super(message);
    this.name = type;
  }
}

// ES module imports of bare specifiers fall back to NODE_PATH's `node_modules` directories
// (layers, the AWS SDK), as `require` does; see resolve.mjs. `register` needs Node 20.6. The
// hook runs on a thread of its own, which costs a cold start tens of milliseconds, so only ES
// module handlers get it: a CommonJS handler's `require` reads NODE_PATH itself.
function registerResolveHook() {
  const paths = (process.env.NODE_PATH || "").split(":").filter((d) => path.basename(d) === "node_modules");
  if (typeof register === "function" && paths.length > 0) {
    register(new URL("./resolve.mjs", import.meta.url), { data: { paths } });
  }
}

// Whether Node loads `file` as an ES module: `.mjs`, or `.js` under a package.json whose
// "type" is "module".
function isEsModule(file) {
  if (file.endsWith(".mjs")) return true;
  if (!file.endsWith(".js")) return false;
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    try {
      return JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).type === "module";
    } catch (e) {
      if (e.code !== "ENOENT") return false;
    }
    if (dir === path.dirname(dir)) return false;
  }
}

async function loadHandler() {
  const root = process.env.LAMBDA_TASK_ROOT || "/var/task";
  const spec = process.env._HANDLER || "";
  const dot = spec.lastIndexOf(".");
  if (dot <= 0) throw new UserError("Runtime.MalformedHandlerName", `Bad handler ${spec}`);
  const modulePath = spec.slice(0, dot);
  const name = spec.slice(dot + 1);
  const base = path.resolve(root, modulePath);
  const file = [".mjs", ".js", ".cjs"].map((ext) => base + ext).find((f) => fs.existsSync(f));
  if (!file) {
    throw new UserError("Runtime.ImportModuleError", `Error: Cannot find module '${modulePath}'`);
  }
  if (isEsModule(file)) registerResolveHook();
  let mod;
  try {
    mod = file.endsWith(".cjs") ? createRequire(file)(file) : await import(pathToFileURL(file).href);
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserError("Runtime.UserCodeSyntaxError", `${e.name}: ${e.message}`);
    throw e;
  }
  const fn = mod[name] ?? mod.default?.[name];
  if (typeof fn !== "function") {
    throw new UserError("Runtime.HandlerNotFound", `${spec} is undefined or not exported`);
  }
  return fn;
}

function makeContext(headers) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"] || 0);
  const clientContext = headers["lambda-runtime-client-context"];
  const identity = headers["lambda-runtime-cognito-identity"];
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity: identity ? JSON.parse(identity) : undefined,
    clientContext: clientContext ? JSON.parse(clientContext) : undefined,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

function run(handler, event, context) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err, result) => {
      if (settled) return;
      settled = true;
      if (err !== undefined && err !== null) reject(err);
      else resolve(result);
    };
    context.done = finish;
    context.succeed = (r) => finish(null, r);
    context.fail = (e) => finish(e ?? new Error("handled"));
    let returned;
    try {
      returned = handler.length >= 3 ? handler(event, context, finish) : handler(event, context);
    } catch (e) {
      finish(e);
      return;
    }
    if (returned && typeof returned.then === "function") {
      returned.then((r) => finish(null, r), (e) => finish(e ?? new Error("rejected")));
    } else if (handler.length < 3) {
      finish(null, returned);
    }
  });
}

async function main() {
  let handler;
  try {
    handler = await loadHandler();
  } catch (e) {
    const error = errorObject(e);
    logLine("ERROR", [`Uncaught Exception \t${JSON.stringify(error)}`]);
    await postError("/init/error", error);
    process.exit(1);
  }
  for (;;) {
    const next = await request("GET", "/invocation/next");
    if (next.status !== 200) {
      process.stderr.write(`runtime: /next answered ${next.status}\n`);
      process.exit(1);
    }
    const requestId = next.headers["lambda-runtime-aws-request-id"];
    currentRequestId = requestId;
    const trace = next.headers["lambda-runtime-trace-id"];
    if (trace) process.env._X_AMZN_TRACE_ID = trace;
    else delete process.env._X_AMZN_TRACE_ID;
    let event;
    try {
      event = next.body.length ? JSON.parse(next.body.toString("utf8")) : {};
    } catch (e) {
      await postError(`/invocation/${requestId}/error`, { errorType: "Runtime.UnmarshalError", errorMessage: e.message, trace: [] });
      continue;
    }
    try {
      const result = await run(handler, event, makeContext(next.headers));
      const body = JSON.stringify(result === undefined ? null : result);
      await request("POST", `/invocation/${requestId}/response`, body, { "Content-Type": "application/json" });
    } catch (e) {
      const error = errorObject(e);
      logLine("ERROR", [`Invoke Error \t${JSON.stringify(error)}`]);
      await postError(`/invocation/${requestId}/error`, error);
    }
  }
}

process.on("unhandledRejection", async (reason) => {
  const error = errorObject(reason);
  error.errorType = "Runtime.UnhandledPromiseRejection";
  logLine("ERROR", [`Unhandled Promise Rejection \t${JSON.stringify(error)}`]);
  if (currentRequestId) await postError(`/invocation/${currentRequestId}/error`, error).catch(() => {});
  process.exit(128);
});

main();
