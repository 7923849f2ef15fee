// The sub-agents bench (issue 18) at a small size: 5 single calls of each kind, then a fan-out to
// 6 children twice. No time is gated (the machines are shared and the counts tiny); what is
// checked holds whatever the speed: every run succeeded, every call has exactly one child, the
// figures are finite and printed.
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { runSubagentsBench } from "../bench/subagents.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

it("the subagents part measures a sub-agent call next to a built-in call and a plain run, every invariant holding", { timeout: 180_000 }, async () => {
  const lines: string[] = [];
  const result = await runSubagentsBench({
    serverUrl: db.url,
    reps: 5,
    fanout: 6,
    fanoutReps: 2,
    concurrency: 4,
    timeoutMs: 120_000,
    log: (line) => {
      console.log(`[bench] ${line}`);
      lines.push(line);
    },
  });
  const out = lines.join("\n");
  expect(result.problems, out).toEqual([]);
  for (const figure of [result.plainP50, result.echoCallerP50, result.agentCallerP50, result.fanoutPerChildMs, result.plainBatchPerRunMs, result.fanoutRatio]) {
    expect(Number.isFinite(figure), out).toBe(true);
  }
  // a sub-agent call runs a whole child run besides the caller's own steps
  expect(result.agentCallerP50, out).toBeGreaterThan(result.echoCallerP50);
  expect(result.extraStepsPerChild, out).toBeGreaterThanOrEqual(0);
  expect(out).toMatch(/a sub-agent call costs the caller -?\d+\.\d ms more than an echo call = -?\d+\.\d\d× a plain run/);
  expect(out).toMatch(/per child -?\d+\.\d ms next to \d+\.\d ms a plain run: -?\d+\.\d\d×/);
  expect(out).toContain("invariants: all hold");
});
