// Secrets through a real worker and real Postgres: an agent refers to its workspace's secrets by
// name (an http tool's header, a provider's api_key_secret); only the worker decrypts them, they
// reach the remote servers, and their values are written nowhere: not in the config, the steps,
// the event log or the audit log.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { setSecret } from "../../db/sql/setSecret.ts";
import { createAgent, createTestDatabase, getEvents, startRun, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { generateSecretKey, secretKeyFromEnv } from "../../lib/secret-box.ts";
import { startWorker, type WorkerHandle } from "../main.ts";
import { FakeLlmServer } from "./fake-llm-server.ts";

let db: TestDatabase;
let worker: WorkerHandle;
let fake: FakeLlmServer;
let hook: Server;
let hookUrl: string;
const received: IncomingHttpHeaders[] = [];
const PARTNER_KEY = "pk-partner-0123456789abcdef";
const LLM_KEY = "sk-llm-secret-0123456789";

beforeAll(async () => {
  process.env.EVERRUNS_SECRET_KEY = generateSecretKey(); // this test file's worker and sealing
  db = await createTestDatabase();
  fake = await FakeLlmServer.start();
  hook = createServer((req, res) => {
    received.push(req.headers);
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: true }));
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, "127.0.0.1", resolve));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
  worker = await startWorker({ databaseUrl: db.url, concurrency: 2, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "error") });
  const key = secretKeyFromEnv()!;
  await setSecret(db.pool, { name: "partner-key", value: PARTNER_KEY, key });
  await setSecret(db.pool, { name: "llm-key", value: LLM_KEY, key });
});

afterAll(async () => {
  await worker?.stop();
  await fake?.close();
  hook?.close();
  await db?.drop();
});

/** How many rows of `table` hold `text` anywhere in them. */
async function rowsHolding(table: string, text: string): Promise<number> {
  // table names from this file's own list, never from input
  const { rows } = await db.pool.query<{ n: number }>(`select count(*)::int as n from ${table} t where t::text like '%' || $1 || '%'`, [text]);
  return rows[0]!.n;
}

it("an http tool's header and the provider's key come from the workspace's secrets and are stored nowhere", async () => {
  fake.reset();
  fake.expectedApiKey = LLM_KEY; // any other key gets a 401
  fake.reply({ toolCalls: [{ name: "hook", arguments: { a: 1 } }] }, { text: "done" });
  const agent = await createAgent(db.pool, {
    provider: "openai",
    api: "chat_completions",
    model: "gpt-test",
    base_url: fake.openaiBaseURL,
    api_key_secret: "llm-key",
    tools: [{ name: "hook", type: "http", url: hookUrl, headers: { "X-Api-Key": { secret: "partner-key" }, "X-Trace": "plain" } }],
  });
  const runId = await startRun(db.pool, agent, "call the hook");
  const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
  expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
  expect(fake.requests.map((r) => r.apiKey)).toEqual([LLM_KEY, LLM_KEY]);
  expect(received.at(-1)).toMatchObject({ "x-api-key": PARTNER_KEY, "x-trace": "plain" });
  for (const table of ["everruns.agents", "everruns.agent_versions", "everruns.run_steps", "everruns.run_events", "everruns.runs", "everruns.audit_log"]) {
    for (const value of [PARTNER_KEY, LLM_KEY]) expect(await rowsHolding(table, value), `${table} holds a secret's value`).toBe(0);
  }
});

it("a secret that is not set: the tool call fails with a message the model sees, and nothing is sent", async () => {
  fake.reset();
  fake.expectedApiKey = LLM_KEY;
  fake.reply({ toolCalls: [{ name: "hook", arguments: {} }] }, { text: "the hook is not configured" });
  const before = received.length;
  const agent = await createAgent(db.pool, {
    provider: "openai",
    api: "chat_completions",
    model: "gpt-test",
    base_url: fake.openaiBaseURL,
    api_key_secret: "llm-key",
    tools: [{ name: "hook", type: "http", url: hookUrl, headers: { Authorization: { secret: "nope" } } }],
  });
  const runId = await startRun(db.pool, agent, "call the hook");
  expect((await waitForStatus(db.pool, runId, ["succeeded", "failed"])).status).toBe("succeeded");
  expect(received.length).toBe(before);
  const result = (await getEvents(db.pool, runId)).find((e) => e.type === "TOOL_CALL_RESULT");
  expect(String(result?.event.content)).toMatch(/secret "nope" is not set in this workspace/);
});

it("a provider key secret that is not set fails the run at once, naming it", async () => {
  fake.reset();
  const agent = await createAgent(db.pool, {
    provider: "openai",
    api: "chat_completions",
    model: "gpt-test",
    base_url: fake.openaiBaseURL,
    api_key_secret: "missing-key",
  });
  const runId = await startRun(db.pool, agent, "hello");
  const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
  expect(run.status).toBe("failed");
  expect(run.error?.message).toMatch(/missing-key/);
  expect(fake.requests).toHaveLength(0);
});
