// The workflow bench (issue 21) at a small size: a chain of 20 Pass states, an agent run of 20
// echo calls and a Choice/Pass loop, twice each. No time is gated (the machines are shared and
// the counts tiny); what is checked holds whatever the speed: every run succeeded with its
// expected output and step count, the figures are finite and printed.
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { runWorkflowBench } from "../bench/workflow.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

it("the workflow part measures a state transition next to an agent step, every invariant holding", { timeout: 180_000 }, async () => {
  const lines: string[] = [];
  const result = await runWorkflowBench({
    serverUrl: db.url,
    transitions: 20,
    reps: 2,
    concurrency: 4,
    timeoutMs: 120_000,
    log: (line) => {
      console.log(`[bench] ${line}`);
      lines.push(line);
    },
  });
  const out = lines.join("\n");
  expect(result.problems, out).toEqual([]);
  for (const figure of [
    result.chainMs,
    result.agentMs,
    result.loopMs,
    result.perTransitionMs,
    result.perAgentStepMs,
    result.ratio,
    result.loopPerTransitionMs,
  ]) {
    expect(Number.isFinite(figure), out).toBe(true);
  }
  expect(out).toMatch(/per transition \d+\.\d\d ms next to \d+\.\d\d ms per agent step: \d+\.\d\d×/);
  expect(out).toContain("invariants: all hold");
});
