// Structured logs of real processes (docs/observability.md "Logs"): an `everruns worker` whose
// output is a pipe writes JSON lines, and every line it logs about a step carries the run, the
// step, the attempt, the workspace and the trace; an `everruns api` stamps each request's lines
// with its request id, its key's workspace and its traceparent's trace id.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, startRun, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { runTraceId } from "../../lib/trace-id.ts";
import { freePort } from "../../lib/free-port.ts";
import { spawnApiProcess, type ApiProcess } from "../../scripts/harness/processes.ts";
import { spawnWorker, type WorkerProcess } from "./worker-process.ts";

let db: TestDatabase;
let worker: WorkerProcess | undefined;
let api: ApiProcess | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  worker?.child.kill("SIGKILL");
  await api?.kill9();
  await db?.drop();
});

type Line = Record<string, unknown> & { level: string; time: string; msg: string; component: string; pid: number };

/** Every line of `text` as JSON; a line that is not fails the test, naming it. */
function parseLines(text: string, what: string): Line[] {
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(l);
      } catch {
        throw new Error(`${what} wrote a line that is not JSON: ${l}`);
      }
      const line = parsed as Line;
      expect([typeof line.level, typeof line.time, typeof line.msg, typeof line.pid], l).toEqual(["string", "string", "string", "number"]);
      return line;
    });
}

describe("a worker process", () => {
  it("writes JSON lines, and each line about a step carries run_id, seq, attempt, workspace_id and trace_id", async () => {
    const agentId = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["echo"],
      retry: { max_attempts: 3, initial_delay_ms: 10, max_delay_ms: 50, multiplier: 2 },
      // the first LLM call fails once (a retry: attempt 2 of step 1), then calls echo; the third step answers
      script: [{ text: "echoing", tool_calls: [{ name: "echo", arguments: { x: 1 } }], error: "server_error", times: 1 }, { text: "done" }],
    });
    worker = await spawnWorker(db.url, { LOG_LEVEL: "debug", LOG_FORMAT: "" });
    let stdout = "";
    let stderr = "";
    worker.child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    worker.child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const runId = await startRun(db.pool, agentId, "log it");
    await waitForStatus(db.pool, runId, ["succeeded"]);
    worker.child.kill("SIGTERM");
    expect(await worker.exited).toMatchObject({ code: 0 });

    // everything it wrote, from its first line to its last, on both streams
    parseLines(worker.output(), "the worker");
    const lines = [...parseLines(stdout, "the worker's stdout"), ...parseLines(stderr, "the worker's stderr")];
    expect(parseLines(stderr, "stderr").every((l) => l.level === "warn" || l.level === "error")).toBe(true);
    expect(lines.every((l) => l.component === "worker" && l.pid === worker!.child.pid)).toBe(true);

    const { rows } = await db.pool.query<{ workspace_id: string }>("select workspace_id from everruns.runs where id = $1", [runId]);
    const bound = { run_id: runId, workspace_id: rows[0]!.workspace_id, trace_id: runTraceId(runId), agent_id: agentId };
    // the lines about the run: its steps' (begun, retried, committed) and any other that names it
    const about = lines.filter((l) => l.msg.includes(runId));
    expect(about.length).toBeGreaterThanOrEqual(6);
    for (const line of about) {
      expect(line, JSON.stringify(line)).toMatchObject({ ...bound, pool_id: worker.poolId });
      expect([typeof line.seq, typeof line.attempt, line.job_id], JSON.stringify(line)).toEqual(["number", "number", String(line.job_id)]);
      expect(line.job_id, JSON.stringify(line)).toMatch(/^\d+$/);
      expect(line.msg, JSON.stringify(line)).toContain(`step ${line.seq as number} `);
    }
    const trail = about.map((l) => `${l.seq as number}/${l.attempt as number} ${l.level} ${l.msg.replace(` of run ${runId}`, "")}`);
    expect(trail, trail.join("\n")).toEqual(
      expect.arrayContaining([
        "1/1 debug step 1: attempt 1 begun",
        expect.stringMatching(/^1\/1 info step 1: .*; retry 1\/2 in \d+ ms$/),
        "1/2 debug step 1: attempt 2 begun",
        "1/2 debug step 1: committed (llm scripted, succeeded)",
        "2/1 debug step 2: committed (tool echo, succeeded)",
        "3/1 debug step 3: committed (llm scripted, succeeded)",
      ]),
    );
  });
});

describe("an API process", () => {
  it("logs an access line per request with its request id, its key's workspace and its traceparent's trace id", async () => {
    api = await spawnApiProcess(db.url, await freePort(), { env: { LOG_LEVEL: "debug", LOG_FORMAT: "" } });
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const runId = "0f8e7d6c-5b4a-4321-8fed-cba987654321"; // no such run: a 404
    const asked = await api.fetch(`${api.url}/api/runs/${runId}?after=secret-ish`, {
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    expect(asked.status).toBe(404);
    const requestId = asked.headers.get("x-request-id");
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    const given = await fetch(`${api.url}/api/runs`, { headers: { "x-request-id": "from-the-proxy-1" } });
    expect(given.status).toBe(401);
    expect(given.headers.get("x-request-id")).toBe("from-the-proxy-1");

    const { rows } = await db.pool.query<{ workspace_id: string }>("select workspace_id from everruns.api_keys where name = 'harness' limit 1");
    const access = (id: string) =>
      waitForLine(
        () => parseLines(api!.output().replace(/^API listening on .*\n/m, ""), "the API"),
        (l) => l.request_id === id && l.status !== undefined,
      );
    expect(await access(requestId!)).toMatchObject({
      level: "debug",
      component: "api",
      method: "GET",
      path: `/api/runs/${runId}`, // without the query string
      status: 404,
      workspace_id: rows[0]!.workspace_id,
      trace_id: traceId,
    });
    expect(typeof (await access(requestId!)).duration_ms).toBe("number");
    const refused = await access("from-the-proxy-1");
    expect(refused).toMatchObject({ status: 401, path: "/api/runs" });
    expect(refused).not.toHaveProperty("workspace_id"); // no key, no workspace
    expect(api.output()).not.toContain(api.key);
  });
});

async function waitForLine(read: () => Line[], match: (l: Line) => boolean): Promise<Line> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    const found = read().find(match);
    if (found) return found;
    if (performance.now() > deadline)
      throw new Error(
        `no such line in:\n${read()
          .map((l) => JSON.stringify(l))
          .join("\n")}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
