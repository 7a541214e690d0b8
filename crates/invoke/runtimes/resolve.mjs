// Versa's module resolution hook for the Node.js runtime client (registered by index.mjs).
//
// CommonJS `require` searches the NODE_PATH directories (layers, then the AWS SDK); ES module
// resolution ignores NODE_PATH. So that `import { S3Client } from "@aws-sdk/client-s3"` works in
// an ES module handler as it does on Lambda, a bare specifier that does not resolve normally is
// resolved again from each NODE_PATH `node_modules` directory, in order. Anything the function
// ships itself still wins: the normal resolution comes first.

import path from "node:path";
import { pathToFileURL } from "node:url";

let parents = [];

export function initialize(data) {
  // Resolving from a file inside `<dir>` looks in `<dir>/../node_modules`, which is `<dir>`.
  parents = (data?.paths ?? []).map((dir) => pathToFileURL(path.join(dir, "_")).href);
}

function isBare(specifier) {
  return !/^(\.{0,2}\/|[a-zA-Z][a-zA-Z0-9+.-]*:)/.test(specifier);
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (error?.code !== "ERR_MODULE_NOT_FOUND" || !isBare(specifier)) throw error;
    for (const parentURL of parents) {
      try {
        return await nextResolve(specifier, { ...context, parentURL });
      } catch (e) {
        if (e?.code !== "ERR_MODULE_NOT_FOUND") throw e;
      }
    }
    throw error;
  }
}
