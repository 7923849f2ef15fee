// The cadence of the trace export (worker/trace-export.ts): a run whose steps keep committing is
// exported once per flush interval, not once per step. A flush exports the runs pending when it
// starts; a run whose steps commit meanwhile waits for the next flush (a flush that went on with
// them exported a run every step or two: a claim, a read, a request and a mark on the steps'
// connections, the per-step overhead issue 19 measured). Every span still goes out exactly once.
import { afterAll, beforeAll, expect, it } from "vitest";
import { createAgent, createTestDatabase, startRun, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { attemptSpanId, rootSpanId } from "../../lib/tracing/ids.ts";
import { startWorker } from "../main.ts";
import { FLUSH_MS, SWEEP_MS } from "../trace-export.ts";
import { startOtlpReceiver, type OtlpReceiver } from "./otlp-receiver.ts";

let db: TestDatabase;
let receiver: OtlpReceiver;

beforeAll(async () => {
  db = await createTestDatabase();
  receiver = await startOtlpReceiver();
});

afterAll(async () => {
  await receiver?.close();
  await db?.drop();
});

it("a run whose steps keep committing is exported once per flush interval, each span once", async () => {
  const turns = 60;
  const agent = await createAgent(db.pool, {
    provider: "scripted",
    tools: ["echo"],
    max_steps: 2 * turns + 5,
    script: [...Array.from({ length: turns }, (_, i) => ({ tool_calls: [{ name: "echo", arguments: { i } }] })), { text: "done" }],
  });
  const worker = await startWorker({
    databaseUrl: db.url,
    concurrency: 2,
    shutdownTimeoutMs: 5_000,
    tracing: { protocol: "http/json", url: receiver.url, genAiLatest: false, serviceName: "everruns-test" },
    scheduler: false,
    log: consoleLogger("[test-worker]", "error"),
  });
  const t0 = performance.now();
  let elapsedMs: number;
  let runId: string;
  try {
    runId = await startRun(db.pool, agent, "go");
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed", "cancelled"], 120_000);
    expect(run.status).toBe("succeeded");
  } finally {
    await worker.stop(); // sends what is pending
    elapsedMs = performance.now() - t0;
  }
  const steps = 2 * turns + 1;
  const spans = receiver.spans.filter((s) => s.attributes["everruns.run.id"] === runId);
  // every step's attempt and the root, each exactly once
  expect(spans.length).toBe(steps + 1);
  const ids = new Set(spans.map((s) => s.spanId));
  expect(ids.size).toBe(steps + 1);
  expect(ids.has(rootSpanId(runId))).toBe(true);
  for (let seq = 1; seq <= steps; seq++) expect(ids.has(attemptSpanId(runId, seq, 1))).toBe(true);
  // one request per flush at most (flushes start at least FLUSH_MS apart), one more for the
  // flush of stop() and one per sweep: far fewer than the steps
  const most = Math.floor(elapsedMs / FLUSH_MS) + Math.floor(elapsedMs / SWEEP_MS) + 2;
  expect(receiver.requests).toBeLessThanOrEqual(most);
  expect(receiver.requests).toBeLessThan(steps / 4);
}, 180_000);
