// OpenTelemetry traces of runs (docs/observability.md, "Traces"): real worker processes export
// to an in-process OTLP/HTTP receiver with the official exporter (http/json, which the receiver
// decodes; http/protobuf is checked for the ids it carries), one of them killed mid-step, and the
// trace is checked span by span against the rows it was built from.
import { HttpAgent } from "@ag-ui/client";
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createAgent, createTestDatabase, getEvents, getSteps, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { postJson, startTestApi, type StartedRunBody, type TestApiHandle } from "../../api/test/helpers.ts";
import { attemptSpanId, attemptTraceparent, rootSpanId, parseTraceparent, validTraceparent } from "../../lib/tracing/ids.ts";
import { createSpanExporter, tracingConfigFromEnv, tracingResource } from "../../lib/tracing/config.ts";
import { buildRunSpans } from "../../lib/tracing/spans.ts";
import { exportSpans, TraceExport } from "../trace-export.ts";
import { setTraceParent } from "../../db/sql/setTraceParent.ts";
import { validTracestate } from "../../lib/tracing/tracestate.ts";
import { agUiIdToUuid } from "../../api/agui.ts";
import { tracesCommand } from "../../scripts/traces-command.ts";
import { cmdRun } from "../../scripts/cli/commands.ts";
import { loadEnv } from "../../db/env.ts";
import { ConfigError } from "../../db/errors.ts";
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "./otlp-receiver.ts";
import { spawnWorker, type WorkerProcess } from "./worker-process.ts";
import { startMcpTestServer } from "./fixtures/mcp-test-server.ts";
import { McpConnections } from "../mcp/connections.ts";
import { EgressGuard } from "../../lib/egress/guard.ts";
import { EgressAllowList } from "../../lib/egress/config.ts";
import { consoleLogger } from "../../lib/logger.ts";

let db: TestDatabase;
let receiver: OtlpReceiver;
let api: TestApiHandle;
let hook: { url: string; traceparents: string[]; tracestates: Array<string | undefined>; server: Server };
const workers = new Set<WorkerProcess>();

const CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";
/** the W3C example tracestate (two vendors' members) */
const CALLER_STATE = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";

function tracingEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
    OTEL_SERVICE_NAME: "everruns-test",
    EVERRUNS_EGRESS_ALLOW: "127.0.0.1",
    EVERRUNS_SCHEDULER: "off",
    ...extra,
  };
}

async function start(env: Record<string, string> = {}): Promise<WorkerProcess> {
  const w = await spawnWorker(db.url, tracingEnv(env));
  workers.add(w);
  void w.exited.then(() => workers.delete(w));
  return w;
}

async function stopAll(): Promise<void> {
  const all = [...workers];
  for (const w of all) w.child.kill("SIGKILL");
  await Promise.all(all.map((w) => w.exited));
}

beforeAll(async () => {
  db = await createTestDatabase();
  receiver = await startOtlpReceiver();
  api = await startTestApi(db.url);
  const traceparents: string[] = [];
  const tracestates: Array<string | undefined> = [];
  const server = createServer((req, res) => {
    traceparents.push(String(req.headers.traceparent ?? ""));
    const tracestate = req.headers.tracestate;
    tracestates.push(typeof tracestate === "string" ? tracestate : undefined);
    req.resume();
    req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true })));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  hook = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, traceparents, tracestates, server };
}, 60_000);

afterAll(async () => {
  for (const w of workers) w.child.kill("SIGKILL");
  await api?.close();
  await receiver?.close();
  hook?.server.closeAllConnections();
  hook?.server.close();
  await db?.drop();
});

function spansOf(runId: string): ReceivedSpan[] {
  return receiver.spans.filter((s) => s.attributes["everruns.run.id"] === runId);
}

async function attemptsOf(runId: string): Promise<Array<{ seq: number; attempt: number; outcome: string | null }>> {
  const { rows } = await db.pool.query<{ seq: number; attempt: number; outcome: string | null }>(
    "select seq, attempt, outcome from everruns.run_attempts where run_id = $1 order by seq, attempt",
    [runId],
  );
  return rows;
}

/** Waits until the receiver has the run's root span and one span per attempt row. */
async function completeTrace(runId: string, timeoutMs = 30_000): Promise<ReceivedSpan[]> {
  const attempts = await attemptsOf(runId);
  return waitFor(
    `the trace of run ${runId} (${attempts.length} attempts and its root)`,
    () => {
      const spans = spansOf(runId);
      const ids = new Set(spans.map((s) => s.spanId));
      const all = attempts.every((a) => ids.has(attemptSpanId(runId, a.seq, a.attempt))) && ids.has(rootSpanId(runId));
      return all ? spans : null;
    },
    timeoutMs,
    50,
  );
}

describe("traces", () => {
  it("a run with a retry, a tool call, an http tool and a kill -9 mid-step is one complete trace continuing the caller's", async () => {
    const agentName = `traced_${Date.now()}`;
    const agentId = await createAgent(
      db.pool,
      {
        provider: "scripted",
        model: "scripted-1",
        tools: ["echo", "simulate_work", { type: "http", name: "hook", url: hook.url, description: "a hook", parameters: { type: "object" } }],
        retry: { max_attempts: 3, initial_delay_ms: 10, max_delay_ms: 50 },
        script: [
          { text: "echoing", tool_calls: [{ name: "echo", arguments: { x: 1 } }], error: "server_error", times: 1 },
          { text: "working", tool_calls: [{ name: "simulate_work", arguments: { ms: 4000 } }] },
          { text: "calling", tool_calls: [{ name: "hook", arguments: { y: 2 } }] },
          { text: "done" },
        ],
      },
      agentName,
    );
    await start();
    await start();
    const traceparent = `00-${CALLER_TRACE}-${CALLER_SPAN}-01`;
    const started = await postJson<StartedRunBody>(
      `${api.url}/api/runs`,
      { agent: agentId, input: { messages: [{ role: "user", content: "go" }] } },
      // with the whitespace W3C allows around its members: kept normalized
      { ...api.headers, traceparent, tracestate: " rojo=00f067aa0ba902b7 ,, congo=t61rcWkgMzE " },
    );
    expect(started.status).toBe(201);
    const runId = started.body.id;
    const { rows: stored } = await db.pool.query<{ trace_parent: string | null; trace_state: string | null }>(
      "select trace_parent, trace_state from everruns.runs where id = $1",
      [runId],
    );
    expect(stored[0]).toEqual({ trace_parent: traceparent, trace_state: CALLER_STATE });

    // kill -9 the worker running simulate_work (step 4) while it runs
    await waitFor("simulate_work to be under way", async () =>
      (await getEvents(db.pool, runId)).some((e) => e.type === "STEP_STARTED" && String(e.event.stepName).includes("simulate_work")),
    );
    const lockedBy = await waitFor("the run's job to be locked", async () => {
      const { rows } = await db.pool.query<{ locked_by: string | null }>("select locked_by from graphile_worker.jobs where key = $1", [`run:${runId}`]);
      return rows[0]?.locked_by;
    });
    const victim = [...workers].find((w) => w.poolId === lockedBy)!;
    expect(victim).toBeDefined();
    victim.child.kill("SIGKILL");
    await victim.exited;
    await start();

    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"], 60_000);
    expect(run.status).toBe("succeeded");
    const steps = await getSteps(db.pool, runId);
    expect(steps.map((s) => [s.seq, s.kind, s.name])).toEqual([
      [1, "llm", "scripted-1"],
      [2, "tool", "echo"],
      [3, "llm", "scripted-1"],
      [4, "tool", "simulate_work"],
      [5, "llm", "scripted-1"],
      [6, "tool", "hook"],
      [7, "llm", "scripted-1"],
    ]);
    const { rows: runRows } = await db.pool.query<{ thread_id: string; usage: { input_tokens: number; output_tokens: number } }>(
      "select r.thread_id, s.usage from everruns.runs r join everruns.run_steps s on s.run_id = r.id and s.seq = 1 where r.id = $1",
      [runId],
    );
    const threadId = runRows[0]!.thread_id;
    const attempts = await attemptsOf(runId);
    expect(attempts.filter((a) => a.seq === 1).map((a) => a.outcome)).toEqual(["retried", "committed"]);
    expect(attempts.filter((a) => a.seq === 4).map((a) => a.outcome)).toEqual(["worker_died", "committed"]);

    const spans = await completeTrace(runId);
    // the sweep of the live workers runs every 5 s: after it, still one span per id
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    const final = spansOf(runId);
    const ids = final.map((s) => s.spanId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(final.length).toBe(attempts.length + 1);
    expect(spans.length).toBe(final.length);

    // one trace: the caller's; the root's parent is the caller's span, every other span is the root's child
    expect(new Set(final.map((s) => s.traceId))).toEqual(new Set([CALLER_TRACE]));
    const root = final.find((s) => s.spanId === rootSpanId(runId))!;
    expect(root.name).toBe(`invoke_agent ${agentName}`);
    expect(root.parentSpanId).toBe(CALLER_SPAN);
    expect(root.attributes).toMatchObject({
      "gen_ai.operation.name": "invoke_agent",
      "gen_ai.agent.name": agentName,
      "gen_ai.agent.id": agentId,
      "gen_ai.conversation.id": threadId,
      "everruns.run.id": runId,
      "everruns.run.status": "succeeded",
    });
    expect(root.status.code).toBe(0);
    expect(root.resource["service.name"]).toBe("everruns-test");
    for (const s of final) if (s !== root) expect(s.parentSpanId, s.name).toBe(root.spanId);

    const span = (seq: number, attempt: number) => final.find((s) => s.spanId === attemptSpanId(runId, seq, attempt))!;
    // the LLM call that was retried: a failed attempt, and the committed one with a retry event and usage
    const retried = span(1, 1);
    const chat = span(1, 2);
    expect(retried.name).toBe("chat scripted-1");
    expect(retried.status.code).toBe(2); // ERROR
    expect(retried.attributes["everruns.attempt.outcome"]).toBe("retried");
    expect(chat.name).toBe("chat scripted-1");
    expect(chat.kind).toBe(3); // CLIENT
    expect(chat.attributes).toMatchObject({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "scripted",
      "gen_ai.request.model": "scripted-1",
      "gen_ai.conversation.id": threadId,
      "everruns.attempt.outcome": "committed",
    });
    const usage = runRows[0]!.usage;
    expect(usage.input_tokens).toBeGreaterThan(0);
    expect(chat.attributes["gen_ai.usage.input_tokens"]).toBe(usage.input_tokens);
    expect(chat.attributes["gen_ai.usage.output_tokens"]).toBe(usage.output_tokens);
    expect(chat.events.map((e) => e.name)).toEqual(["retry"]);
    expect(chat.events[0]!.attributes["everruns.attempt.outcome"]).toBe("retried");
    expect(chat.startNs).toBeGreaterThanOrEqual(retried.endNs);
    expect(chat.status.code).toBe(0);

    // the tool call
    const echo = span(2, 1);
    expect(echo.name).toBe("execute_tool echo");
    expect(echo.attributes).toMatchObject({ "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "echo" });
    expect(echo.attributes["gen_ai.tool.call.id"]).toBe((steps[1]!.input as { tool_call_id: string }).tool_call_id);

    // the attempt whose worker was killed: a span of its own, ERROR, beside the one that committed
    const died = span(4, 1);
    expect(died.name).toBe("execute_tool simulate_work");
    expect(died.status.code).toBe(2);
    expect(died.attributes["everruns.attempt.outcome"]).toBe("worker_died");
    expect(died.attributes["everruns.worker.pool_id"]).toBe(victim.poolId);
    const redone = span(4, 2);
    expect(redone.status.code).toBe(0);
    expect(redone.events.map((e) => [e.name, e.attributes["everruns.attempt.outcome"]])).toEqual([["retry", "worker_died"]]);

    // the http tool's callee continues the trace, under the span of the attempt that called it
    const hookSteps = steps.find((s) => s.seq === 6)!;
    const callee = hook.traceparents.map((t) => parseTraceparent(t));
    expect(callee.length).toBeGreaterThan(0);
    expect(callee.every((c) => c?.traceId === CALLER_TRACE)).toBe(true);
    expect(callee.at(-1)!.spanId).toBe(attemptSpanId(runId, 6, hookSteps.attempt));
    // with the caller's tracestate, unchanged
    expect(hook.tracestates.length).toBe(hook.traceparents.length);
    expect(hook.tracestates.every((t) => t === CALLER_STATE)).toBe(true);
    // and every span of the run carries it
    for (const s of final) expect(s.traceState, s.name).toBe(CALLER_STATE);

    // re-export: the same spans again, by id
    const before = receiver.spans.length;
    const lines: string[] = [];
    const env = { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json" };
    expect(await tracesCommand(["export", "--run", runId], loadEnv({ DATABASE_URL: db.url }), { out: (l) => lines.push(l), env })).toBe(0);
    expect(lines.join("\n")).toContain(`exported ${final.length} span(s)`);
    const again = receiver.spans.slice(before);
    expect(again.map((s) => s.spanId).sort()).toEqual([...ids].sort());
    expect(new Set(again.map((s) => s.traceId))).toEqual(new Set([CALLER_TRACE]));
    expect(new Set(again.map((s) => s.traceState))).toEqual(new Set([CALLER_STATE]));

    // --stdout: the same spans as OTLP/JSON, no endpoint needed
    const printed: string[] = [];
    expect(await tracesCommand(["export", "--run", runId, "--stdout"], loadEnv({ DATABASE_URL: db.url }), { out: (l) => printed.push(l), env: {} })).toBe(0);
    const body = JSON.parse(printed.join("")) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ spanId: string }> }> }> };
    const printedIds = body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((x) => x.spanId)));
    expect(printedIds.sort()).toEqual([...ids].sort());

    // not configured and no --stdout: a clear error
    await expect(tracesCommand(["export", "--run", runId], loadEnv({ DATABASE_URL: db.url }), { out: () => undefined, env: {} })).rejects.toThrow(
      /tracing is not configured: set OTEL_EXPORTER_OTLP_TRACES_ENDPOINT/,
    );
    await stopAll();
  }, 180_000);

  it("a worker that dies between a commit and its export: the sweep of another worker sends the spans", async () => {
    const agentId = await createAgent(db.pool, {
      provider: "scripted",
      model: "scripted-2",
      tools: ["echo"],
      script: [{ text: "echoing", tool_calls: [{ name: "echo", arguments: { x: 1 } }] }, { text: "done" }],
    });
    // the only worker kills itself right after committing step 3 (the run's last): nobody exports it
    const doomed = await start({ EVERRUNS_CRASH_AT: "after_commit:3" });
    const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
      agentId,
      JSON.stringify({ messages: [{ role: "user", content: "go" }] }),
    ]);
    const runId = rows[0]!.id;
    await doomed.exited;
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.status).toBe("succeeded");
    const { rows: marker } = await db.pool.query<{ exported_through_seq: number; root_exported: boolean }>(
      "select exported_through_seq, root_exported from everruns_private.trace_exports where run_id = $1",
      [runId],
    );
    expect(marker[0]?.root_exported ?? false).toBe(false);
    expect(spansOf(runId).some((s) => s.spanId === rootSpanId(runId))).toBe(false);

    // its sweep (every 5 s) finds the run behind its marker, once a lease the dead worker held (15 s) ran out
    const sweeper = await start();
    const spans = await completeTrace(runId, 45_000).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\nworker output:\n${sweeper.output()}\nthe one that died:\n${doomed.output()}`);
    });
    const ids = spans.map((s) => s.spanId);
    expect(new Set(ids).size).toBe(ids.length);
    // no traceparent given: a trace of its own, the run id's hex digits
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([runId.replaceAll("-", "")]));
    expect(spans.find((s) => s.spanId === rootSpanId(runId))!.parentSpanId).toBe("");
    // the marker moves once the endpoint has answered
    await waitFor("the run's export marker to be moved", async () => {
      const { rows: after } = await db.pool.query<{ exported_through_seq: number; root_exported: boolean }>(
        "select exported_through_seq, root_exported from everruns_private.trace_exports where run_id = $1",
        [runId],
      );
      return after[0]?.exported_through_seq === 3 && after[0].root_exported;
    });
    await stopAll();
  }, 120_000);

  it("an invalid traceparent header is ignored; parallel sub-agents continue their caller's trace under the step that started them", async () => {
    const childAgent = await createAgent(db.pool, { provider: "scripted", model: "child-1", script: [{ text: "child done" }] }, `child_${Date.now()}`);
    const { rows: child } = await db.pool.query<{ name: string }>("select name from everruns.agents where id = $1", [childAgent]);
    const parentAgent = await createAgent(db.pool, {
      provider: "scripted",
      model: "parent-1",
      tools: [{ type: "agent", name: "helper", agent: child[0]!.name, description: "helps" }],
      script: [
        {
          text: "asking",
          tool_calls: [
            { name: "helper", arguments: { task: "help" } },
            { name: "helper", arguments: { task: "help more" } },
          ],
        },
        { text: "thanks" },
      ],
    });
    await start();
    const started = await postJson<StartedRunBody>(
      `${api.url}/api/runs`,
      { agent: parentAgent, input: { messages: [{ role: "user", content: "go" }] } },
      { ...api.headers, traceparent: "00-nothex-00f067aa0ba902b7-01", tracestate: CALLER_STATE },
    );
    expect(started.status).toBe(201);
    const parentId = started.body.id;
    const run = await waitForStatus(db.pool, parentId, ["succeeded", "failed"], 60_000);
    expect(run.status).toBe("succeeded");
    const { rows: runs } = await db.pool.query<{ id: string; trace_parent: string | null; trace_state: string | null; caller_tool_call_id: string | null }>(
      "select id, trace_parent, trace_state, caller_tool_call_id from everruns.runs where id = $1 or caller_run_id = $1 order by created_at",
      [parentId],
    );
    expect(runs[0]!.trace_parent).toBeNull();
    // a tracestate goes with its traceparent: without a valid one, it is ignored too
    expect(runs.map((r) => r.trace_state)).toEqual([null, null, null]);
    const children = runs.filter((r) => r.id !== parentId);
    expect(children).toHaveLength(2);
    // the caller's step that started both children: the one whose output lists the children it starts
    const { rows: startStep } = await db.pool.query<{ seq: number; attempt: number; started: string[] }>(
      `select seq, attempt, (select array_agg(c ->> 'run_id') from jsonb_array_elements(output -> 'start') c) as started
         from everruns.run_steps where run_id = $1 and jsonb_typeof(output -> 'start') = 'array'`,
      [parentId],
    );
    expect(startStep).toHaveLength(1);
    expect([...startStep[0]!.started].sort()).toEqual(children.map((c) => c.id).sort());
    const parentSpan = attemptSpanId(parentId, startStep[0]!.seq, startStep[0]!.attempt);
    const parentSpans = await completeTrace(parentId);
    expect(parentSpans.some((s) => s.spanId === parentSpan)).toBe(true);
    for (const childRun of children) {
      expect(childRun.trace_parent).toBe(`00-${parentId.replaceAll("-", "")}-${parentSpan}-01`);
      const childSpans = await completeTrace(childRun.id);
      const childRoot = childSpans.find((s) => s.spanId === rootSpanId(childRun.id))!;
      expect(childRoot.traceId).toBe(parentId.replaceAll("-", ""));
      expect(childRoot.parentSpanId).toBe(parentSpan);
      expect(childSpans.every((s) => s.traceState === "")).toBe(true);
    }
    await stopAll();
  }, 120_000);

  it("a sub-agent inherits its caller's tracestate, unchanged, on its row and its spans", async () => {
    const childAgent = await createAgent(db.pool, { provider: "scripted", model: "child-s", script: [{ text: "child done" }] }, `childs_${Date.now()}`);
    const { rows: child } = await db.pool.query<{ name: string }>("select name from everruns.agents where id = $1", [childAgent]);
    const parentAgent = await createAgent(db.pool, {
      provider: "scripted",
      model: "parent-s",
      tools: [{ type: "agent", name: "helper", agent: child[0]!.name, description: "helps" }],
      script: [{ text: "asking", tool_calls: [{ name: "helper", arguments: { task: "help" } }] }, { text: "thanks" }],
    });
    await start();
    const started = await postJson<StartedRunBody>(
      `${api.url}/api/runs`,
      { agent: parentAgent, input: { messages: [{ role: "user", content: "go" }] } },
      { ...api.headers, traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01`, tracestate: CALLER_STATE },
    );
    expect(started.status).toBe(201);
    const parentId = started.body.id;
    expect((await waitForStatus(db.pool, parentId, ["succeeded", "failed"], 60_000)).status).toBe("succeeded");
    const { rows: runs } = await db.pool.query<{ id: string; trace_parent: string; trace_state: string | null }>(
      "select id, trace_parent, trace_state from everruns.runs where id = $1 or caller_run_id = $1 order by created_at",
      [parentId],
    );
    expect(runs).toHaveLength(2);
    expect(runs.map((r) => parseTraceparent(r.trace_parent)?.traceId)).toEqual([CALLER_TRACE, CALLER_TRACE]);
    expect(runs.map((r) => r.trace_state)).toEqual([CALLER_STATE, CALLER_STATE]);
    const childSpans = await completeTrace(runs[1]!.id);
    expect(childSpans.length).toBeGreaterThan(1);
    for (const s of childSpans) expect(s.traceState, s.name).toBe(CALLER_STATE);
    await stopAll();
  }, 120_000);
});

describe("export failures; trace context in", () => {
  it("a refused request keeps the markers, backs the runs off, and sends them later; a bad batch is sent again run by run", async () => {
    const agentId = await createAgent(db.pool, { provider: "scripted", model: "scripted-f", script: [{ text: "done" }] });
    // a worker without tracing runs them: only the exporter below sends their spans
    const w = await spawnWorker(db.url, { OTEL_SDK_DISABLED: "true", EVERRUNS_SCHEDULER: "off" });
    workers.add(w);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
        agentId,
        JSON.stringify({ messages: [{ role: "user", content: `go ${i}` }] }),
      ]);
      ids.push(rows[0]!.id);
    }
    for (const id of ids) expect((await waitForStatus(db.pool, id, ["succeeded", "failed"], 60_000)).status).toBe("succeeded");
    await stopAll();
    const config = { protocol: "http/json" as const, url: receiver.url, genAiLatest: false, serviceName: "everruns-worker" };
    const exporter = await TraceExport.create({ pool: db.pool, log: consoleLogger("error"), config, backoffMs: 300, sweepWindowMs: 60_000 });
    const marker = async (id: string) =>
      (
        await db.pool.query<{ exported_through_seq: number; root_exported: boolean; failures: number; claimed_until: Date | null; backing_off: boolean }>(
          "select exported_through_seq, root_exported, failures, claimed_until, retry_at > now() as backing_off from everruns_private.trace_exports where run_id = $1",
          [id],
        )
      ).rows[0];
    try {
      // a batch the endpoint refuses once (413, say too large): sent again run by run, both go out
      const before = receiver.requests;
      receiver.failNext(1, 413);
      const { spans } = await exporter.exportRuns([ids[1]!, ids[2]!]);
      expect(spans).toBe(4); // each: one attempt and its root
      expect(receiver.requests - before).toBe(3);
      for (const id of [ids[1]!, ids[2]!]) {
        expect(await marker(id)).toMatchObject({ exported_through_seq: 1, root_exported: true, failures: 0 });
        await completeTrace(id, 5_000);
      }

      // the endpoint refuses (400: not retried by the exporter): nothing marked, the lease ends, the run backs off
      receiver.failNext(1, 400);
      expect(await exporter.exportRuns([ids[0]!])).toEqual({ spans: 0, busy: [] });
      expect(await marker(ids[0]!)).toMatchObject({ exported_through_seq: 0, root_exported: false, failures: 1, claimed_until: null, backing_off: true });
      expect(spansOf(ids[0]!)).toHaveLength(0);
      // while it backs off, a flush leaves it alone
      expect(await exporter.exportRuns([ids[0]!])).toEqual({ spans: 0, busy: [ids[0]!] });
      // then the sweep sends it
      await waitFor("the backoff's end", async () => (await marker(ids[0]!))!.backing_off === false, 10_000, 50);
      await waitFor("the sweep to send the run", async () => (await exporter.sweep()) > 0 || (await marker(ids[0]!))!.root_exported, 10_000, 100);
      expect(await marker(ids[0]!)).toMatchObject({ exported_through_seq: 1, root_exported: true, failures: 0 });
      await completeTrace(ids[0]!, 5_000);
      expect(exporter.stats.failures).toBe(2);
    } finally {
      await exporter.stop();
    }
  }, 120_000);

  it("an AG-UI run continues the trace of its traceparent header, with its flags", async () => {
    const agentId = await createAgent(db.pool, { provider: "scripted", model: "scripted-a", script: [{ text: "hi" }] });
    const w = await spawnWorker(db.url, { OTEL_SDK_DISABLED: "true", EVERRUNS_SCHEDULER: "off" });
    workers.add(w);
    try {
      const traceparent = `00-${CALLER_TRACE}-${CALLER_SPAN}-00`;
      const agent = new HttpAgent({
        url: `${api.url}/api/agents/${agentId}/agui`,
        headers: { ...api.headers, traceparent, tracestate: CALLER_STATE },
        threadId: randomUUID(),
      });
      agent.addMessage({ id: randomUUID(), role: "user", content: "hi" });
      const runId = randomUUID();
      await agent.runAgent({ runId });
      const run = await waitForStatus(db.pool, agUiIdToUuid(runId), ["succeeded", "failed"]);
      expect(run.status).toBe("succeeded");
      const { rows } = await db.pool.query<{ trace_parent: string | null; trace_state: string | null }>(
        "select trace_parent, trace_state from everruns.runs where id = $1",
        [run.id],
      );
      expect(rows[0]).toEqual({ trace_parent: traceparent, trace_state: CALLER_STATE });
      // what its steps send out keeps the caller's flags (not sampled)
      expect(attemptTraceparent(run.id, rows[0]!.trace_parent, 1, 1)).toMatch(new RegExp(`^00-${CALLER_TRACE}-[0-9a-f]{16}-00$`));
    } finally {
      await stopAll();
    }
  }, 60_000);

  it("the everruns.trace_parent setting is transaction-local: the next transaction on the same connection does not inherit it", async () => {
    const agentId = await createAgent(db.pool, { provider: "scripted", model: "scripted-t", script: [{ text: "done" }] });
    const client = await db.pool.connect();
    try {
      await client.query("begin");
      await setTraceParent(client, `00-${CALLER_TRACE}-${CALLER_SPAN}-00`);
      const { rows: first } = await client.query<{ trace_parent: string }>(
        "insert into everruns.runs (agent_id, input) values ($1, $2) returning trace_parent",
        [agentId, JSON.stringify({ messages: [{ role: "user", content: "a" }] })],
      );
      await client.query("commit");
      expect(first[0]!.trace_parent).toBe(`00-${CALLER_TRACE}-${CALLER_SPAN}-00`);
      await client.query("begin");
      const { rows: second } = await client.query<{ trace_parent: string | null }>(
        "insert into everruns.runs (agent_id, input) values ($1, $2) returning trace_parent",
        [agentId, JSON.stringify({ messages: [{ role: "user", content: "b" }] })],
      );
      await client.query("rollback");
      expect(second[0]!.trace_parent).toBeNull();
    } finally {
      client.release();
    }
  });
});

describe("traceparent out", () => {
  it("an MCP call sends the step attempt's traceparent (and the run's tracestate) as its HTTP headers and in params._meta", async () => {
    const server = await startMcpTestServer();
    const mcp = new McpConnections({ guard: new EgressGuard({ allow: EgressAllowList.parse("127.0.0.1") }), log: consoleLogger("[mcp]", "error") });
    try {
      const traceparent = `00-${CALLER_TRACE}-${attemptSpanId("3f0e5c8a-0000-4000-8000-000000000001", 2, 1)}-01`;
      const result = await mcp.callTool("00000000-0000-0000-0000-000000000001", { name: "test", transport: "http", url: server.url }, undefined, {
        tool: "echo",
        arguments: { text: "hi" },
        idempotencyKey: "run:call",
        signal: AbortSignal.timeout(30_000),
        traceparent,
        tracestate: CALLER_STATE,
      });
      expect(result).toEqual({ content: "hi", isError: false });
      expect(server.calls.at(-1)!.meta).toMatchObject({ traceparent, tracestate: CALLER_STATE, "io.everruns/idempotency-key": "run:call" });
      const posts = server.requests.filter((r) => r.method === "POST" && r.headers.traceparent !== undefined);
      expect(posts.map((r) => [r.headers.traceparent, r.headers.tracestate])).toEqual([[traceparent, CALLER_STATE]]);
      // the requests without a traceparent (initialize, notifications) carry no tracestate either
      expect(server.requests.filter((r) => r.headers.traceparent === undefined).every((r) => r.headers.tracestate === undefined)).toBe(true);
    } finally {
      await mcp.close();
      await server.close();
    }
  });
});

describe("http/protobuf", () => {
  it("the protobuf exporter sends the spans of a run's rows: the receiver finds their binary ids", async () => {
    const runId = "9d3c2a10-1111-4222-8333-444455556666";
    const config = { protocol: "http/protobuf" as const, url: receiver.url, genAiLatest: true, serviceName: "t" };
    const spans = buildRunSpans(
      {
        id: runId,
        workspace_id: "00000000-0000-0000-0000-000000000001",
        agent_id: "00000000-0000-0000-0000-0000000000aa",
        agent_name: "a",
        agent_version: 1,
        agent_kind: null,
        provider: "openai",
        model: "gpt-x",
        thread_id: "00000000-0000-0000-0000-0000000000bb",
        status: "failed",
        error: { code: "max_steps", message: "too many" },
        usage: { input_tokens: 3, output_tokens: 4 },
        trace_parent: null,
        created_us: 1_700_000_000_000_000,
        finished_us: 1_700_000_001_000_000,
        attempts: [
          {
            seq: 1,
            attempt: 1,
            step_kind: null,
            step_name: null,
            pool_id: "p",
            hostname: "h",
            worker_pid: 1,
            started_us: 1_700_000_000_100_000,
            ended_us: null,
            freed_us: 1_700_000_000_300_000,
            outcome: "worker_died",
            error: null,
          },
          {
            seq: 1,
            attempt: 2,
            step_kind: "llm",
            step_name: "gpt-x",
            pool_id: "q",
            hostname: "h",
            worker_pid: 2,
            started_us: 1_700_000_000_400_000,
            ended_us: 1_700_000_000_900_000,
            freed_us: null,
            outcome: "committed",
            error: null,
          },
        ],
        steps: [
          {
            seq: 1,
            kind: "llm",
            name: "gpt-x",
            status: "succeeded",
            attempt: 2,
            tool_call_id: null,
            response_model: "gpt-x-2025",
            usage: { input_tokens: 3, output_tokens: 4 },
            error: null,
            started_us: 1_700_000_000_400_000,
            finished_us: 1_700_000_000_900_000,
          },
        ],
      },
      { resource: await tracingResource(config), genAiLatest: true, root: true },
    );
    expect(spans.map((s) => s.name)).toEqual(["chat gpt-x", "chat gpt-x", "invoke_agent a"]);
    expect(spans[0]!.status.code).toBe(2);
    expect(spans[1]!.attributes).toMatchObject({ "gen_ai.provider.name": "openai", "gen_ai.response.model": "gpt-x-2025", "gen_ai.usage.input_tokens": 3 });
    expect(spans[1]!.attributes["gen_ai.system"]).toBeUndefined(); // opted in to the latest names
    expect(spans[2]!.status).toEqual({ code: 2, message: "too many" });
    const exporter = await createSpanExporter(config);
    const before = receiver.protobuf.length;
    await exportSpans(exporter, spans);
    await exporter.shutdown();
    const body = Buffer.concat(receiver.protobuf.slice(before));
    expect(body.indexOf(Buffer.from(runId.replaceAll("-", ""), "hex"))).toBeGreaterThanOrEqual(0);
    for (const id of [rootSpanId(runId), attemptSpanId(runId, 1, 1), attemptSpanId(runId, 1, 2)])
      expect(body.indexOf(Buffer.from(id, "hex")), id).toBeGreaterThanOrEqual(0);
  });
});

describe("tracing configuration", () => {
  it("is off without an endpoint, disabled or exporter none; grpc is refused; http/protobuf by default", () => {
    expect(tracingConfigFromEnv({})).toBeNull();
    expect(tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "true" })).toBeNull();
    expect(tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_TRACES_EXPORTER: "none" })).toBeNull();
    expect(tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318/" })).toMatchObject({
      protocol: "http/protobuf",
      url: "http://c:4318/v1/traces",
      genAiLatest: false,
    });
    expect(
      tracingConfigFromEnv({
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/x",
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_SEMCONV_STABILITY_OPT_IN: "http,gen_ai_latest_experimental",
      }),
    ).toMatchObject({ protocol: "http/json", url: "http://c:4318/x", genAiLatest: true });
    expect(() => tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4317", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" })).toThrow(
      /grpc is not supported .* use http\/protobuf/,
    );
    expect(() => tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "c:4317" })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT must be an http/);
  });

  it("everruns traces export refuses an unusable configuration with a ConfigError naming the variable", async () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4317", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" };
    const attempt = tracesCommand(["export", "--run", "9d3c2a10-1111-4222-8333-444455556666"], loadEnv({ DATABASE_URL: db.url }), {
      out: () => undefined,
      env,
    });
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL=grpc/);
  });

  it("outbound traceparents carry the flags of the trace the run continues", () => {
    const runId = "9d3c2a10-1111-4222-8333-444455556666";
    expect(attemptTraceparent(runId, `00-${CALLER_TRACE}-${CALLER_SPAN}-00`, 2, 1)).toBe(`00-${CALLER_TRACE}-${attemptSpanId(runId, 2, 1)}-00`);
    expect(attemptTraceparent(runId, null, 2, 1)).toBe(`00-${runId.replaceAll("-", "")}-${attemptSpanId(runId, 2, 1)}-01`);
  });

  it("takes only valid W3C traceparents", () => {
    expect(validTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")).toBe("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    expect(validTraceparent(" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00 ")).toBe("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    for (const bad of [
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
      "",
      undefined,
    ]) {
      expect(validTraceparent(bad), String(bad)).toBeNull();
    }
  });
});

describe("tracestate in", () => {
  async function traceOf(runId: string): Promise<{ trace_parent: string | null; trace_state: string | null }> {
    const { rows } = await db.pool.query<{ trace_parent: string | null; trace_state: string | null }>(
      "select trace_parent, trace_state from everruns.runs where id = $1",
      [runId],
    );
    return rows[0]!;
  }

  it("POST /api/runs keeps a valid tracestate with its traceparent; an invalid one, or one without a traceparent, is ignored", async () => {
    const agentId = await createAgent(db.pool, { provider: "scripted", model: "scripted-ts", script: [{ text: "done" }] });
    const traceparent = `00-${CALLER_TRACE}-${CALLER_SPAN}-01`;
    const post = async (headers: Record<string, string>) => {
      const started = await postJson<StartedRunBody>(
        `${api.url}/api/runs`,
        { agent: agentId, input: { messages: [{ role: "user", content: "go" }] } },
        { ...api.headers, ...headers },
      );
      expect(started.status).toBe(201);
      return traceOf(started.body.id);
    };
    expect(await post({ traceparent, tracestate: CALLER_STATE })).toEqual({ trace_parent: traceparent, trace_state: CALLER_STATE });
    // the multi-tenant key form, and a value with spaces inside
    expect(await post({ traceparent, tracestate: "fw529a3039@dt=a b,x=1" })).toEqual({ trace_parent: traceparent, trace_state: "fw529a3039@dt=a b,x=1" });
    const members = (n: number) => Array.from({ length: n }, (_, i) => `k${i}=v`).join(",");
    expect(await post({ traceparent, tracestate: members(32) })).toEqual({ trace_parent: traceparent, trace_state: members(32) });
    // over W3C's limits: truncated as W3C says (more than 32 members, more than 512 characters)
    expect(await post({ traceparent, tracestate: members(33) })).toEqual({ trace_parent: traceparent, trace_state: members(32) });
    expect(await post({ traceparent, tracestate: `a=${"x".repeat(255)},b=${"y".repeat(255)}` })).toEqual({
      trace_parent: traceparent,
      trace_state: `a=${"x".repeat(255)}`,
    });
    for (const bad of [
      "Rojo=1", // a key with a capital
      "rojo=1,congo=2,rojo=3", // a key twice
      "rojo=a=b", // "=" in a value
      "rojo", // no value
    ]) {
      expect(await post({ traceparent, tracestate: bad }), bad).toEqual({ trace_parent: traceparent, trace_state: null });
    }
    // without a (valid) traceparent, a tracestate means nothing: ignored
    expect(await post({ tracestate: CALLER_STATE })).toEqual({ trace_parent: null, trace_state: null });
    expect(await post({ traceparent: "00-nothex-00f067aa0ba902b7-01", tracestate: CALLER_STATE })).toEqual({ trace_parent: null, trace_state: null });
  });

  it("everruns run sends TRACESTATE with TRACEPARENT, or --tracestate; an invalid --tracestate, or one without a traceparent, is an error", async () => {
    const agentId = await createAgent(db.pool, { provider: "scripted", model: "scripted-cli", script: [{ text: "done" }] });
    const env = loadEnv({ DATABASE_URL: db.url, EVERRUNS_API_URL: api.url });
    const traceparent = `00-${CALLER_TRACE}-${CALLER_SPAN}-01`;
    const saved = { key: process.env.EVERRUNS_API_KEY, parent: process.env.TRACEPARENT, state: process.env.TRACESTATE };
    const restore = (name: string, value: string | undefined) => (value === undefined ? delete process.env[name] : (process.env[name] = value));
    const printed = vi.spyOn(console, "log").mockImplementation(() => undefined);
    const run = async (opts: { traceparent?: string; tracestate?: string }) => {
      printed.mockClear();
      expect(await cmdRun(env, agentId, "go", opts)).toBe(0);
      return traceOf(String(printed.mock.calls.at(-1)![0]));
    };
    try {
      process.env.EVERRUNS_API_KEY = api.key;
      process.env.TRACEPARENT = traceparent;
      process.env.TRACESTATE = CALLER_STATE;
      expect(await run({})).toEqual({ trace_parent: traceparent, trace_state: CALLER_STATE });
      // TRACESTATE goes with TRACEPARENT only: a --traceparent of another trace does not take it
      const other = `00-${"1".repeat(32)}-${CALLER_SPAN}-01`;
      expect(await run({ traceparent: other })).toEqual({ trace_parent: other, trace_state: null });
      expect(await run({ traceparent: other, tracestate: "vendor=1" })).toEqual({ trace_parent: other, trace_state: "vendor=1" });
      process.env.TRACESTATE = "rojo=1,rojo=2"; // invalid: ignored
      expect(await run({})).toEqual({ trace_parent: traceparent, trace_state: null });
      await expect(cmdRun(env, agentId, "go", { tracestate: "Rojo=1" })).rejects.toThrow(/--tracestate must be a W3C tracestate/);
      delete process.env.TRACEPARENT;
      await expect(cmdRun(env, agentId, "go", { tracestate: CALLER_STATE })).rejects.toThrow(/--tracestate goes with a traceparent/);
    } finally {
      printed.mockRestore();
      restore("EVERRUNS_API_KEY", saved.key);
      restore("TRACEPARENT", saved.parent);
      restore("TRACESTATE", saved.state);
    }
  });

  it("the insert trigger: kept with a given trace_parent or the settings, dropped without one, inherited by a continuation", async () => {
    const agentId = await createAgent(db.pool, { provider: "scripted", model: "scripted-tt", script: [{ text: "done" }] });
    const traceparent = `00-${CALLER_TRACE}-${CALLER_SPAN}-01`;
    const input = JSON.stringify({ messages: [{ role: "user", content: "go" }] });
    const insert = async (traceParent: string | null, traceState: string | null) => {
      const { rows } = await db.pool.query<{ id: string; trace_parent: string | null; trace_state: string | null }>(
        "insert into everruns.runs (agent_id, input, trace_parent, trace_state) values ($1, $2, $3, $4) returning id, trace_parent, trace_state",
        [agentId, input, traceParent, traceState],
      );
      return rows[0]!;
    };
    const given = await insert(traceparent, CALLER_STATE);
    expect(given).toMatchObject({ trace_parent: traceparent, trace_state: CALLER_STATE });
    // an invalid one given by the owner is dropped (the trigger checks the W3C syntax), a lone one too
    expect(await insert(traceparent, "rojo=1,rojo=2")).toMatchObject({ trace_parent: traceparent, trace_state: null });
    expect(await insert(null, CALLER_STATE)).toMatchObject({ trace_parent: null, trace_state: null });
    // the column's own check, on updates too: the W3C syntax (printable ASCII, at most 512
    // characters, no key twice)
    await expect(db.pool.query("update everruns.runs set trace_state = $2 where id = $1", [given.id, "rojo=a\tb"])).rejects.toThrow(/runs_trace_state_check/);
    await expect(db.pool.query("update everruns.runs set trace_state = $2 where id = $1", [given.id, "rojo=1,rojo=2"])).rejects.toThrow(
      /runs_trace_state_check/,
    );
    await expect(db.pool.query("update everruns.runs set trace_state = $2 where id = $1", [given.id, `a=${"x".repeat(511)}`])).rejects.toThrow(
      /runs_trace_state_check/,
    );

    // the SQL check agrees with lib/tracing/tracestate.ts on normalized values
    const samples = [
      CALLER_STATE,
      "fw529a3039@dt=FW4;0;0,a_b-c*d/e=x y",
      Array.from({ length: 32 }, (_, i) => `k${i}=v`).join(","),
      Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(","),
      `a=${"x".repeat(254)},b=${"y".repeat(253)}`,
      `a=${"x".repeat(254)},b=${"y".repeat(254)}`,
      `k=${"v".repeat(256)}`,
      `k=${"v".repeat(257)}`,
      "Rojo=1",
      "rojo=1,rojo=2",
      "rojo=",
      "rojo=a ",
      "rojo=a=b",
      "t@1s=1",
      "rojo=1,,congo=2",
      "",
    ];
    const { rows: sql } = await db.pool.query<{ valid: boolean }>(
      "select everruns_private.valid_tracestate(v) as valid from unnest($1::text[]) with ordinality as t(v, i) order by i",
      [samples],
    );
    expect(sql.map((r) => r.valid)).toEqual(samples.map((v) => validTracestate(v) === v));
    expect(sql.filter((r) => r.valid)).toHaveLength(5);

    // the transaction settings (how the API passes the headers), the tracestate only when valid
    const client = await db.pool.connect();
    try {
      for (const [state, expected] of [
        [CALLER_STATE, CALLER_STATE],
        ["rojo=1,,congo=2", null], // the API normalizes; the trigger takes only the normalized form
        [null, null],
      ] as const) {
        await client.query("begin");
        await setTraceParent(client, traceparent, state);
        const { rows } = await client.query<{ trace_parent: string; trace_state: string | null }>(
          "insert into everruns.runs (agent_id, input) values ($1, $2) returning trace_parent, trace_state",
          [agentId, input],
        );
        await client.query("rollback");
        expect(rows[0], String(state)).toEqual({ trace_parent: traceparent, trace_state: expected });
      }
    } finally {
      client.release();
    }

    // a continuation of an interrupted run continues its trace, with its tracestate
    await db.pool.query("update everruns.runs set status = 'interrupted', interrupts = $2 where id = $1", [
      given.id,
      { interrupts: [{ id: "int-1", reason: "tool_approval", message: "approve?" }] },
    ]);
    const { rows: continued } = await db.pool.query<{ trace_parent: string; trace_state: string | null }>(
      "insert into everruns.runs (agent_id, parent_run_id, input) values ($1, $2, $3) returning trace_parent, trace_state",
      [agentId, given.id, JSON.stringify({ messages: [], resume: [{ interruptId: "int-1", status: "resolved", payload: { approved: true } }] })],
    );
    expect(continued[0]).toEqual({ trace_parent: `00-${CALLER_TRACE}-${rootSpanId(given.id)}-01`, trace_state: CALLER_STATE });
  });
});
