// Every delay is bounded ("Hostile input and resource limits", finding 2): a server's
// Retry-After, the retry policy, `sleep`, `wait_for_event` and a script's delay_ms cannot wedge a
// run (Postgres refusing the value on every replay) nor park it for years. Real Postgres, real worker.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, getEvents, getSteps, startRun, toolOutput, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { AgentConfigSchema, describeIssues, type AgentConfig } from "../../db/schemas.ts";
import { backoffMs, MAX_RETRY_AFTER_MS, MAX_RETRY_DELAY_MS } from "../../lib/backoff.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { retryAfterMs } from "../../lib/retry-after.ts";
import { startWorker, type WorkerHandle } from "../main.ts";
import type { EventWriter } from "../event-writer.ts";
import { isDataError } from "../tasks/run_step.ts";
import { runToolStep } from "../tool-step.ts";
import { MAX_SLEEP_SECONDS, sleepTool } from "../tools/sleep.ts";
import { park, ToolError, type ToolContext } from "../tools/types.ts";
import { waitForEventTool } from "../tools/wait-for-event.ts";

function configIssues(config: Record<string, unknown>): string {
  const parsed = AgentConfigSchema.safeParse(config);
  if (parsed.success) throw new Error(`expected ${JSON.stringify(config)} to be refused`);
  return describeIssues(parsed.error);
}

describe("bounds in the agent config", () => {
  it("refuses retry delays above the ceiling, naming the field and the bound", () => {
    expect(configIssues({ provider: "scripted", retry: { initial_delay_ms: 3e9 } })).toMatch(/retry\.initial_delay_ms: .*0 to 3600000/);
    expect(configIssues({ provider: "scripted", retry: { max_delay_ms: 3e9 } })).toMatch(/retry\.max_delay_ms: .*0 to 3600000/);
    expect(configIssues({ provider: "scripted", retry: { max_delay_ms: -1 } })).toMatch(/retry\.max_delay_ms: /);
    expect(configIssues({ provider: "scripted", retry: { max_retry_after_ms: MAX_RETRY_AFTER_MS + 1 } })).toMatch(/retry\.max_retry_after_ms: .*3600000/);
    const ok = AgentConfigSchema.parse({ provider: "scripted", retry: { max_delay_ms: MAX_RETRY_DELAY_MS } });
    expect(ok.retry).toEqual({
      max_attempts: 5,
      initial_delay_ms: 1000,
      max_delay_ms: MAX_RETRY_DELAY_MS,
      multiplier: 2,
      max_retry_after_ms: MAX_RETRY_AFTER_MS,
    });
  });

  it("refuses a script delay_ms above 10 minutes or not whole", () => {
    expect(configIssues({ provider: "scripted", script: [{ text: "x", delay_ms: 2 ** 31 + 1 }] })).toMatch(/script\[0\]\.delay_ms: .*0 to 600000/);
    expect(configIssues({ provider: "scripted", script: [{ text: "x", delay_ms: 1.5 }] })).toMatch(/script\[0\]\.delay_ms: /);
    expect(AgentConfigSchema.safeParse({ provider: "scripted", script: [{ text: "x", delay_ms: 600_000 }] }).success).toBe(true);
  });

  it("refuses an agent's replacement of a built-in tool's parameter schema", () => {
    const issues = configIssues({
      provider: "scripted",
      tools: [{ name: "sleep", parameters: { type: "object", properties: { seconds: { type: "number" } } } }],
    });
    expect(issues).toMatch(/tools\[0\]\.parameters: a built-in tool's parameters cannot be replaced/);
    expect(AgentConfigSchema.safeParse({ provider: "scripted", tools: [{ name: "sleep", description: "nap" }] }).success).toBe(true);
  });
});

describe("bounded delays", () => {
  it("Retry-After is cut to the cap", () => {
    expect(retryAfterMs(new Headers({ "retry-after": "99999999" }))).toBe(MAX_RETRY_AFTER_MS);
    expect(retryAfterMs(new Headers({ "retry-after": "1e400" }))).toBeUndefined(); // not digits: unreadable
    expect(retryAfterMs(new Headers({ "retry-after": "9".repeat(400) }))).toBe(MAX_RETRY_AFTER_MS);
    expect(retryAfterMs(new Headers({ "retry-after-ms": "1e300" }))).toBe(MAX_RETRY_AFTER_MS);
    expect(retryAfterMs(new Headers({ "retry-after": "Fri, 01 Jan 2100 00:00:00 GMT" }))).toBe(MAX_RETRY_AFTER_MS);
  });

  it("backoff is a whole number of ms within the bounds, whatever the policy and header", () => {
    const half = () => 0.5;
    const cases: Array<[Parameters<typeof backoffMs>[0], number, number | undefined]> = [
      [{ initial_delay_ms: 0, max_delay_ms: 60_000, multiplier: 100 }, 1000, undefined], // 0 * Infinity
      [{ initial_delay_ms: 3e9, max_delay_ms: 3e9, multiplier: 2 }, 3, undefined],
      [{ initial_delay_ms: 1000, max_delay_ms: 60_000, multiplier: 2 }, 1, 99_999_999_000],
      [{ initial_delay_ms: 1000, max_delay_ms: 60_000, multiplier: 2 }, 1, Number.NaN],
      [{ initial_delay_ms: 1000, max_delay_ms: 60_000, multiplier: 2, max_retry_after_ms: 200 }, 1, 99_999_999_000],
    ];
    for (const [policy, failures, after] of cases) {
      const delay = backoffMs(policy, failures, after, half);
      expect(Number.isInteger(delay)).toBe(true);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(Math.max(MAX_RETRY_DELAY_MS, MAX_RETRY_AFTER_MS));
    }
    expect(backoffMs({ initial_delay_ms: 0, max_delay_ms: 60_000, multiplier: 100 }, 1000, undefined, half)).toBe(0);
    expect(backoffMs({ initial_delay_ms: 10, max_delay_ms: 50, multiplier: 2, max_retry_after_ms: 200 }, 1, 99_999_999_000, half)).toBe(200);
  });

  it("sleep and wait_for_event refuse negative, NaN and huge values themselves", () => {
    const ctx: ToolContext = { runId: "r", toolCallId: "c", idempotencyKey: "r:c", signal: new AbortController().signal, resumed: false, signals: [] };
    for (const seconds of [Number.NaN, -1, 0, 1e300, Number.POSITIVE_INFINITY, MAX_SLEEP_SECONDS + 1, "5"]) {
      expect(() => sleepTool.execute({ seconds }, ctx), String(seconds)).toThrow(ToolError);
    }
    for (const timeout_seconds of [Number.NaN, -1, 1e300, "5"]) {
      expect(() => waitForEventTool.execute({ name: "x", timeout_seconds }, ctx), String(timeout_seconds)).toThrow(ToolError);
    }
  });

  it("a tool's park beyond 30 days is a tool error, not a commit Postgres refuses", async () => {
    const config: AgentConfig = AgentConfigSchema.parse({ provider: "scripted" });
    const call = { id: "call_1", name: "nap", arguments: {} };
    const tool = {
      definition: { name: "nap", description: "", parameters: { type: "object" } },
      execute: () => Promise.resolve(park({ delayMs: 1e300, waiting: { type: "timer" } })),
    };
    const outcome = await runToolStep(
      {
        runId: "r",
        threadId: "t",
        seq: 2,
        attempt: 1,
        config,
        writer: { push() {} } as unknown as EventWriter,
        signal: new AbortController().signal,
        usage: { input_tokens: 0, output_tokens: 0, cost_usd: 0 },
      },
      { call, turnRunId: "r", waited: false, waiting: null, signals: [] },
      new Map([["nap", { definition: tool.definition, requiresApproval: false, tool }]]),
    );
    expect(outcome.next).toEqual({ type: "continue" });
    const output = outcome.step.output as { is_error: boolean; content: string };
    expect(output.is_error).toBe(true);
    expect(output.content).toMatch(/nap asked to wait 1e\+300 ms; a wait must be from 0 to 2592000000 ms/);
  });

  it("a data exception of the database is recognised, wrapped or not", () => {
    expect(isDataError({ code: "22003" })).toBe(true);
    expect(isDataError(new Error("x", { cause: { code: "22008" } }))).toBe(true);
    expect(isDataError({ code: "08006" })).toBe(false);
  });
});

describe("runs do not wedge", () => {
  let db: TestDatabase;
  let worker: WorkerHandle;
  let server: Server;
  let url = "";
  let requests = 0;
  let answer: () => { status: number; headers?: Record<string, string>; body?: string } = () => ({ status: 200 });

  beforeAll(async () => {
    process.env.EVERRUNS_HTTP_MAX_RESPONSE_BYTES ??= "1048576";
    db = await createTestDatabase();
    worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "warn") });
    server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        requests++;
        const { status, headers, body } = answer();
        res.writeHead(status, { "content-type": "application/json", ...headers });
        res.end(body ?? JSON.stringify({ n: requests }));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await worker?.stop();
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    await db?.drop();
  });

  it("an http tool answering 503 with Retry-After: 99999999 is retried after the clamped delay", async () => {
    requests = 0;
    answer = () => (requests < 3 ? { status: 503, headers: { "retry-after": "99999999" } } : { status: 200 });
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [{ name: "flaky", type: "http", url: `${url}/flaky` }],
      retry: { max_attempts: 5, initial_delay_ms: 10, max_delay_ms: 50, multiplier: 2, max_retry_after_ms: 200 },
      script: [{ tool_calls: [{ name: "flaky", arguments: {} }] }, { text: "done" }],
    });
    const runId = await startRun(db.pool, agent);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"], 20_000);
    expect(run.status).toBe("succeeded");
    expect(requests).toBe(3);
    const retries = (await getEvents(db.pool, runId))
      .filter((e) => e.event.name === "everruns.retry")
      .map((e) => (e.event.value as { delay_ms: number }).delay_ms);
    expect(retries).toEqual([200, 200]);
  });

  it("with the default cap, the wait is an hour at most and the run stays retryable (not an overflow)", async () => {
    requests = 0;
    answer = () => ({ status: 503, headers: { "retry-after": "99999999" } });
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [{ name: "flaky", type: "http", url: `${url}/flaky` }],
      script: [{ tool_calls: [{ name: "flaky", arguments: {} }] }, { text: "done" }],
    });
    const runId = await startRun(db.pool, agent);
    const deadline = Date.now() + 20_000;
    let retry: { delay_ms: number } | undefined;
    while (!retry && Date.now() < deadline) {
      retry = (await getEvents(db.pool, runId)).find((e) => e.event.name === "everruns.retry")?.event.value as { delay_ms: number } | undefined;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(retry?.delay_ms).toBe(MAX_RETRY_AFTER_MS);
    const { rows } = await db.pool.query<{ secs: number; attempts: number }>(
      "select extract(epoch from run_at - now())::float8 as secs, attempts from graphile_worker.jobs where key = $1",
      [`run:${runId}`],
    );
    expect(rows[0]!.secs).toBeGreaterThan(3500);
    expect(rows[0]!.secs).toBeLessThanOrEqual(3600);
    expect(rows[0]!.attempts).toBe(0); // a fresh job, not a failing one being retried
    await db.pool.query("select everruns.cancel_run($1)", [runId]);
  });

  it("sleep with 1e300, -1 or a string gets a tool error the model sees, and the run goes on", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["sleep", "wait_for_event"],
      script: [
        { tool_calls: [{ name: "sleep", arguments: { seconds: 1e300 } }] },
        { tool_calls: [{ name: "sleep", arguments: { seconds: -1 } }] },
        { tool_calls: [{ name: "sleep", arguments: { seconds: "NaN" } }] },
        { tool_calls: [{ name: "wait_for_event", arguments: { name: "x", timeout_seconds: 1e300 } }] },
        { text: "awake" },
      ],
    });
    const runId = await startRun(db.pool, agent);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"], 20_000);
    expect(run.status).toBe("succeeded");
    const tools = (await getSteps(db.pool, runId)).filter((s) => s.kind === "tool").map((s) => toolOutput(s));
    expect(tools).toHaveLength(4);
    for (const output of tools) {
      expect(output.is_error).toBe(true);
      expect(output.content).toMatch(/invalid arguments for (sleep|wait_for_event): .*(must be <= 2592000|must be > 0|must be number)/);
    }
  });

  it("a step whose commit the database refuses for its values ends the run failed, not running forever", async () => {
    requests = 0;
    answer = () => ({ status: 200, headers: { "content-type": "text/plain" }, body: "nul \u0000 byte" });
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [{ name: "nul", type: "http", url: `${url}/nul` }],
      script: [{ tool_calls: [{ name: "nul", arguments: {} }] }, { text: "unreachable" }],
    });
    const runId = await startRun(db.pool, agent);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"], 20_000);
    if (run.status === "succeeded") return; // the tool sanitised the body itself: nothing refused
    const error = run.error as { code: string; message: string };
    expect(error.code).toBe("commit_refused");
    expect(error.message).toMatch(/could not be committed: the database refused it/);
  });
});
