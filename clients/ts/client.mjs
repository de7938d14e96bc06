// The official MCP TypeScript SDK against enrich-mcp on the sandbox, over stdio and streamable HTTP.
//
//   node clients/ts/client.mjs --server .venv/bin/enrich-mcp --home DIR [--transport stdio|http|both]
//
// For each transport: list the tools, then call every tool once with the arguments in
// clients/samples.json. The SDK's callTool() validates each structured result against the tool's
// outputSchema (ajv) and throws on a mismatch, so a call that returns is a validated call. HTTP mode
// starts `enrich-mcp serve --http` on a free loopback port with ENRICH_MCP_HTTP_TOKEN, checks that a
// request without the token is refused, then connects with the bearer token.
// The last line is `RESULT {json}` for tests/clients/test_real_clients.py.

import { spawn } from "node:child_process";
import { readFileSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const here = dirname(fileURLToPath(import.meta.url));
const { values: opts } = parseArgs({
  options: {
    server: { type: "string" },
    home: { type: "string" },
    transport: { type: "string", default: "both" },
    samples: { type: "string", default: join(here, "..", "samples.json") },
  },
});
if (!opts.server || !opts.home) {
  console.error("usage: node client.mjs --server PATH/enrich-mcp --home DIR [--transport stdio|http|both]");
  process.exit(2);
}
const samples = JSON.parse(readFileSync(opts.samples, "utf8")).calls;
const sdkVersion = JSON.parse(
  readFileSync(join(here, "node_modules", "@modelcontextprotocol", "sdk", "package.json"), "utf8"),
).version;

function serverEnv(home, extra = {}) {
  return {
    ENRICH_MCP_SANDBOX: "1",
    ENRICH_MCP_HOME: home,
    ENRICH_MCP_POLL_INTERVAL_SECONDS: "0.05",
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    ...extra,
  };
}

// "$ref:NAME" strings are values saved by earlier calls.
function resolve(value, saved) {
  if (typeof value === "string" && value.startsWith("$ref:")) {
    const name = value.slice(5);
    if (!(name in saved)) throw new Error(`sample refers to ${name}, which no earlier call saved`);
    return saved[name];
  }
  if (Array.isArray(value)) return value.map((v) => resolve(v, saved));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, saved)]));
  }
  return value;
}

function dig(data, path) {
  return path.split(".").reduce((node, part) => (node == null ? undefined : node[part]), data);
}

// The SDK tells a transport the negotiated version through this hook (stdio has none of its own).
function recordProtocol(transport) {
  const record = { version: undefined };
  const original = transport.setProtocolVersion?.bind(transport);
  transport.setProtocolVersion = (version) => {
    record.version = version;
    original?.(version);
  };
  return record;
}

async function exercise(client, label, protocol) {
  const info = client.getServerVersion();
  const { tools } = await client.listTools();
  const withSchema = tools.filter((t) => t.outputSchema).length;
  // A control: the compiled validator rejects a wrong shape, so "no error" below means "validated".
  const probe = client.getToolOutputValidator("spend_report");
  const rejectsWrongShape = probe !== undefined && probe({ spent_usd: "lots" }).valid === false;

  const listed = new Set(tools.map((t) => t.name));
  const saved = {};
  const called = [];
  const validated = [];
  const failed = [];
  for (const sample of samples) {
    if (!listed.has(sample.tool)) {
      failed.push({ tool: sample.tool, error: "not listed by the server" });
      continue;
    }
    try {
      const result = await client.callTool({ name: sample.tool, arguments: resolve(sample.arguments, saved) });
      called.push(sample.tool);
      if (result.isError) {
        failed.push({ tool: sample.tool, error: result.content.map((c) => c.text ?? "").join(" ") });
        continue;
      }
      if (client.getToolOutputValidator(sample.tool) && result.structuredContent) validated.push(sample.tool);
      for (const [name, path] of Object.entries(sample.save ?? {})) {
        const value = dig(result.structuredContent, path);
        if (value === undefined) throw new Error(`no ${path} in the answer to save as ${name}`);
        saved[name] = value;
      }
    } catch (error) {
      failed.push({ tool: sample.tool, error: String(error?.message ?? error) });
    }
  }
  const notSampled = [...listed].filter((name) => !samples.some((s) => s.tool === name));
  console.log(
    `[${label}] ${info?.name} ${info?.version}, protocol ${protocol}: ${tools.length} tools listed (${withSchema} with an outputSchema); ` +
      `called ${called.length}, structured output validated by the SDK for ${validated.length}, ` +
      `${failed.length} failed${notSampled.length ? `; no sample for ${notSampled.join(", ")}` : ""}`,
  );
  for (const f of failed) console.log(`[${label}]   FAILED ${f.tool}: ${f.error.slice(0, 300)}`);
  return {
    transport: label,
    protocol,
    listed: tools.length,
    with_output_schema: withSchema,
    validator_rejects_wrong_shape: rejectsWrongShape,
    called,
    validated,
    failed,
    not_sampled: notSampled,
  };
}

async function viaStdio(home) {
  const transport = new StdioClientTransport({
    command: opts.server,
    args: [],
    env: serverEnv(join(home, "stdio")),
    stderr: "pipe",
  });
  const stderr = [];
  transport.stderr?.on("data", (chunk) => stderr.push(chunk));
  const protocol = recordProtocol(transport);
  const client = new Client({ name: "enrich-mcp-ts-check", version: "1.0.0" });
  await client.connect(transport);
  try {
    return await exercise(client, `stdio, SDK ${sdkVersion}`, protocol.version);
  } catch (error) {
    process.stderr.write(Buffer.concat(stderr));
    throw error;
  } finally {
    await client.close();
  }
}

function freePort() {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

async function waitForHttp(url, child, deadlineMs) {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`enrich-mcp serve --http exited with ${child.exitCode}`);
    try {
      return await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`enrich-mcp serve --http did not answer at ${url} within ${deadlineMs} ms`);
}

async function viaHttp(home) {
  const port = await freePort();
  const token = randomBytes(24).toString("hex");
  const dir = join(home, "http");
  mkdirSync(dir, { recursive: true });
  const child = spawn(opts.server, ["serve", "--http", "--port", String(port)], {
    env: serverEnv(dir, { ENRICH_MCP_HTTP_TOKEN: token }),
    stdio: ["ignore", "ignore", "pipe"],
  });
  const stderr = [];
  child.stderr.on("data", (chunk) => stderr.push(chunk));
  const url = new URL(`http://127.0.0.1:${port}/mcp`);
  try {
    const anonymous = await waitForHttp(url, child, 30000);
    if (anonymous.status !== 401) throw new Error(`a request without the token got HTTP ${anonymous.status}, not 401`);
    const transport = new StreamableHTTPClientTransport(url, {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    });
    const protocol = recordProtocol(transport);
    const client = new Client({ name: "enrich-mcp-ts-check", version: "1.0.0" });
    await client.connect(transport);
    try {
      const result = await exercise(client, `streamable HTTP + bearer token, SDK ${sdkVersion}`, protocol.version);
      return { ...result, refused_without_token: true };
    } finally {
      await client.close();
    }
  } catch (error) {
    process.stderr.write(Buffer.concat(stderr));
    throw error;
  } finally {
    child.kill("SIGTERM");
  }
}

const runs = [];
if (opts.transport === "stdio" || opts.transport === "both") runs.push(await viaStdio(opts.home));
if (opts.transport === "http" || opts.transport === "both") runs.push(await viaHttp(opts.home));
console.log("RESULT " + JSON.stringify({ sdk: sdkVersion, runs }));
