// Trace context out of a workflow (docs/observability.md, "Trace context: in and out"): the http
// and MCP Tasks of a workflow send the traceparent of the step attempt that calls them, as an
// agent's tools do (header; MCP: header and params._meta), naming the span the worker exports for
// that attempt; a worker without tracing sends none. The run's tracestate (runs.trace_state) goes
// with it, unchanged.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, getSteps, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { attemptSpanId, parseTraceparent, runTraceId } from "../../lib/tracing/ids.ts";
import { startOtlpReceiver, type OtlpReceiver } from "./otlp-receiver.ts";
import { spawnWorker, type WorkerProcess } from "./worker-process.ts";
import { startMcpTestServer, type McpTestServer } from "./fixtures/mcp-test-server.ts";

let db: TestDatabase;
let receiver: OtlpReceiver;
let mcp: McpTestServer;
let hook: { url: string; traceparents: Array<string | undefined>; tracestates: Array<string | undefined>; server: Server };
let worker: WorkerProcess | undefined;
let agentId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  receiver = await startOtlpReceiver();
  mcp = await startMcpTestServer();
  const traceparents: Array<string | undefined> = [];
  const tracestates: Array<string | undefined> = [];
  const server = createServer((req, res) => {
    const traceparent = req.headers.traceparent;
    traceparents.push(typeof traceparent === "string" ? traceparent : undefined);
    const tracestate = req.headers.tracestate;
    tracestates.push(typeof tracestate === "string" ? tracestate : undefined);
    req.resume();
    req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true })));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  hook = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, traceparents, tracestates, server };
  agentId = await createAgent(
    db.pool,
    {
      kind: "workflow",
      definition: {
        StartAt: "Call",
        States: {
          Call: { Type: "Task", Resource: "everruns:http:hook", Parameters: { n: 1 }, ResultPath: "$.called", Next: "Echo" },
          Echo: { Type: "Task", Resource: "everruns:mcp:fx/echo", Parameters: { text: "hi" }, ResultPath: "$.echoed", End: true },
        },
      },
      tools: [
        { type: "http", name: "hook", url: hook.url },
        { type: "mcp", name: "fx", url: mcp.url },
      ],
    },
    "traced_workflow",
  );
}, 60_000);

afterAll(async () => {
  worker?.child.kill("SIGKILL");
  await receiver?.close();
  await mcp?.close();
  hook?.server.closeAllConnections();
  hook?.server.close();
  await db?.drop();
});

async function runWorkflow(trace?: { traceParent: string; traceState: string }): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    "insert into everruns.runs (agent_id, input, trace_parent, trace_state) values ($1, $2, $3, $4) returning id",
    [agentId, JSON.stringify({ messages: [], state: {} }), trace?.traceParent ?? null, trace?.traceState ?? null],
  );
  const runId = rows[0]!.id;
  const done = await waitForStatus(db.pool, runId, ["succeeded", "failed"], 30_000);
  expect(done.error).toBeNull();
  return runId;
}

/** The seq and attempt of the run's state step named `name`. */
async function stateAttempt(runId: string, name: string): Promise<{ seq: number; attempt: number }> {
  const step = (await getSteps(db.pool, runId)).find((s) => s.kind === "state" && s.name === name);
  expect(step, `the step of state ${name}`).toBeDefined();
  return { seq: step!.seq, attempt: step!.attempt };
}

async function stopWorker(): Promise<void> {
  worker?.child.kill("SIGTERM");
  await worker?.exited;
  worker = undefined;
}

describe("a workflow's http and MCP Tasks", () => {
  it("send the traceparent of the step attempt that calls them, naming the span exported for it", async () => {
    worker = await spawnWorker(db.url, {
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
      EVERRUNS_EGRESS_ALLOW: "127.0.0.1",
      EVERRUNS_SCHEDULER: "off",
    });
    const callsBefore = hook.traceparents.length;
    const mcpBefore = mcp.calls.length;
    const runId = await runWorkflow();
    const traceId = runTraceId(runId);

    // the http Task: the header names the run's trace and the span of the Call state's attempt
    const call = await stateAttempt(runId, "Call");
    const sent = hook.traceparents.slice(callsBefore);
    expect(sent).toHaveLength(1);
    const http = parseTraceparent(sent[0]);
    expect(http).toMatchObject({ traceId, spanId: attemptSpanId(runId, call.seq, call.attempt), flags: 1 });

    // the MCP Task: the same in params._meta and on the HTTP request of the call, for the Echo state's attempt
    const echo = await stateAttempt(runId, "Echo");
    const echoSpan = attemptSpanId(runId, echo.seq, echo.attempt);
    const calls = mcp.calls.slice(mcpBefore).filter((c) => c.tool === "echo");
    expect(calls).toHaveLength(1);
    const meta = calls[0]!.meta as { traceparent?: string };
    expect(parseTraceparent(meta.traceparent)).toMatchObject({ traceId, spanId: echoSpan });
    expect(mcp.requests.some((r) => r.headers.traceparent === meta.traceparent)).toBe(true);
    // a run without a tracestate sends none
    expect(hook.tracestates.slice(callsBefore)).toEqual([undefined]);
    expect(meta).not.toHaveProperty("tracestate");
    expect(mcp.requests.every((r) => r.headers.tracestate === undefined)).toBe(true);

    // those span ids are the spans the worker exported for the two attempts, in the run's trace
    const spans = await waitFor(`the spans of run ${runId}'s Call and Echo attempts`, () => {
      const ofRun = receiver.spans.filter((s) => s.attributes["everruns.run.id"] === runId);
      const found = [http!.spanId, echoSpan].map((id) => ofRun.find((s) => s.spanId === id));
      return found.every((s) => s !== undefined) ? found : null;
    });
    for (const [span, state] of [
      [spans[0]!, call],
      [spans[1]!, echo],
    ] as const) {
      expect(span.traceId).toBe(traceId);
      expect([span.attributes["everruns.step.seq"], span.attributes["everruns.attempt"]]).toEqual([state.seq, state.attempt]);
    }
    await stopWorker();
  });

  it("send the run's tracestate, unchanged, beside the traceparent", async () => {
    worker = await spawnWorker(db.url, {
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
      EVERRUNS_EGRESS_ALLOW: "127.0.0.1",
      EVERRUNS_SCHEDULER: "off",
    });
    const traceState = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
    const callsBefore = hook.traceparents.length;
    const mcpBefore = mcp.calls.length;
    const requestsBefore = mcp.requests.length;
    const runId = await runWorkflow({ traceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", traceState });
    expect(parseTraceparent(hook.traceparents.slice(callsBefore)[0])?.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(hook.tracestates.slice(callsBefore)).toEqual([traceState]);
    const calls = mcp.calls.slice(mcpBefore).filter((c) => c.tool === "echo");
    expect(calls).toHaveLength(1);
    const meta = calls[0]!.meta as { traceparent?: string; tracestate?: string };
    expect(meta.tracestate).toBe(traceState);
    const withState = mcp.requests.slice(requestsBefore).filter((r) => r.headers.tracestate !== undefined);
    expect(withState.map((r) => [r.headers.traceparent, r.headers.tracestate])).toEqual([[meta.traceparent, traceState]]);
    // the exported spans carry it too
    const spans = await waitFor(`the spans of run ${runId}`, () => {
      const ofRun = receiver.spans.filter((s) => s.attributes["everruns.run.id"] === runId);
      return ofRun.length >= 2 ? ofRun : null;
    });
    for (const s of spans) expect(s.traceState, s.name).toBe(traceState);
    await stopWorker();
  });

  it("send none from a worker without tracing, as an agent's tools", async () => {
    worker = await spawnWorker(db.url, { EVERRUNS_EGRESS_ALLOW: "127.0.0.1", EVERRUNS_SCHEDULER: "off" });
    const callsBefore = hook.traceparents.length;
    const mcpBefore = mcp.calls.length;
    const requestsBefore = mcp.requests.length;
    await runWorkflow();
    expect(hook.traceparents.slice(callsBefore)).toEqual([undefined]);
    const calls = mcp.calls.slice(mcpBefore).filter((c) => c.tool === "echo");
    expect(calls).toHaveLength(1);
    expect(calls[0]!.meta).not.toHaveProperty("traceparent");
    expect(hook.tracestates.slice(callsBefore)).toEqual([undefined]);
    expect(mcp.requests.slice(requestsBefore).every((r) => r.headers.traceparent === undefined)).toBe(true);
    await stopWorker();
  });
});
