// The chaos run's invariants, checked at the end against the database, the tool server and what
// the SSE followers received:
//
//   - every run ended as it should: succeeded; cancelled when cancelled; interrupted when it
//     asked for an approval, and then its continuation succeeded
//   - every run's committed steps are exactly the expected sequence 1..n (a prefix of it for a
//     cancelled run): no gap, no step twice, nothing skipped
//   - http side effects are deduplicated: one key per committed http step, a key's effect once,
//     each committed step carries the result of its own key's effect, and no key was sent more
//     often than its step was attempted
//   - every event log is a valid, gap-free AG-UI stream; every SSE follower received each event
//     of its run exactly once, in order, across API restarts
//
// (No job left locked, no stranded run and no orphan repair are checked while it runs: run.ts.)
import type { RunEvent } from "../../client/index.ts";
import type { Queryable } from "../../db/pool.ts";
import { chaosCommittedSteps } from "../../db/sql/chaosCommittedSteps.ts";
import { chaosRunOutcomes } from "../../db/sql/chaosRunOutcomes.ts";
import { eventLogsOfRuns } from "../../db/sql/eventLogsOfRuns.ts";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import type { Scenario, StepShape } from "./scenarios.ts";
import type { DedupeToolServer } from "./tool-server.ts";

/** What verify() counts on the way. */
export interface Verified {
  runs: number;
  continuations: number;
  byStatus: Record<string, number>;
  steps: number;
  /** committed steps whose attempt was > 1 (begun again after a kill or a fence) */
  retriedSteps: number;
  http: { requests: number; keys: number; effects: number; deduplicated: number; committedHttpSteps: number };
}

/** Checks every invariant over these runs; each violation goes to problem(). */
export async function verify(
  db: Queryable,
  runs: Array<{ id: string; scenario: Scenario }>,
  tools: DedupeToolServer,
  received: Map<string, RunEvent[]>,
  problem: (line: string) => void,
): Promise<Verified> {
  const ids = runs.map((r) => r.id);
  const rowsAll = await chaosRunOutcomes(db, ids);
  const byId = new Map(rowsAll.map((r) => [r.id, r]));
  const stepRows = await chaosCommittedSteps(db, ids);
  const steps = new Map<string, typeof stepRows>();
  for (const s of stepRows) {
    let list = steps.get(s.run_id);
    if (!list) steps.set(s.run_id, (list = []));
    list.push(s);
  }
  const byStatus: Record<string, number> = {};
  const checks: Array<{ id: string; shape: StepShape; prefix: boolean; status: string; label: string }> = [];
  for (const run of runs) {
    checks.push({ id: run.id, shape: run.scenario.steps, prefix: run.scenario.final === "cancelled", status: run.scenario.final, label: run.scenario.name });
    const row = byId.get(run.id);
    if (run.scenario.continuation) {
      const next = row?.continued_by;
      if (!next) problem(`approval run ${run.id} has no continuation`);
      else checks.push({ id: next, shape: run.scenario.continuation, prefix: false, status: "succeeded", label: `${run.scenario.name} continuation` });
    }
  }
  let continuations = 0;
  for (const c of checks) {
    const row = byId.get(c.id);
    if (c.label.endsWith("continuation")) continuations++;
    if (!row) {
      problem(`${c.label} run ${c.id} is missing`);
      continue;
    }
    byStatus[row.status] = (byStatus[row.status] ?? 0) + 1;
    if (row.status !== c.status) problem(`${c.label} run ${c.id} ended ${row.status}, expected ${c.status} (error: ${JSON.stringify(row.error)})`);
    const got = steps.get(c.id) ?? [];
    got.forEach((s, i) => {
      if (s.seq !== i + 1) problem(`${c.label} run ${c.id}: step at position ${i} has seq ${s.seq}: a gap`);
    });
    const shape = got.map((s) => `${s.kind}:${s.name}`).join(", ");
    const want = c.shape.map(([k, n]) => `${k}:${n}`);
    const ok = c.prefix ? got.length <= want.length && want.slice(0, got.length).join(", ") === shape : want.join(", ") === shape;
    if (!ok) problem(`${c.label} run ${c.id}: committed steps [${shape}], expected ${c.prefix ? "a prefix of " : ""}[${want.join(", ")}]`);
  }

  // http side effects
  const httpSteps = stepRows.filter((s) => s.kind === "tool" && (s.name === "charge" || s.name === "refund"));
  const cancelled = new Set(rowsAll.filter((r) => r.status === "cancelled").map((r) => r.id));
  const stepKeys = new Set<string>();
  for (const s of httpSteps) {
    const key = `${s.run_id}:${s.input?.tool_call_id}`;
    if (stepKeys.has(key)) problem(`http key ${key} committed twice`);
    stepKeys.add(key);
    const entry = tools.byKey.get(key);
    if (!entry) {
      problem(`committed http step ${s.run_id}#${s.seq} has key ${key}, which the tool server never saw`);
      continue;
    }
    if (s.output?.content !== entry.response) problem(`http step ${s.run_id}#${s.seq} committed ${s.output?.content}, not its key's effect ${entry.response}`);
    if (entry.requests > s.attempt) problem(`http key ${key} was sent ${entry.requests} times but its step was attempted only ${s.attempt} time(s)`);
  }
  for (const [key, entry] of tools.byKey) {
    const runId = key.split(":")[0]!;
    if (!stepKeys.has(key) && !cancelled.has(runId))
      problem(`the tool server performed effect ${entry.effect} for key ${key}, but no committed step has that key`);
  }
  if (tools.missingKey > 0) problem(`${tools.missingKey} http request(s) came without an Idempotency-Key`);
  const effectsPerKey = new Set([...tools.byKey.values()].map((e) => e.effect)).size;
  if (effectsPerKey !== tools.byKey.size || tools.effects !== tools.byKey.size)
    problem(`the tool server performed ${tools.effects} effects for ${tools.byKey.size} keys`);

  // event logs
  const events = await eventLogsOfRuns(
    db,
    checks.map((c) => c.id),
  );
  for (const c of checks) {
    const log = events.get(c.id) ?? [];
    try {
      await assertValidAgUiLog(log);
      if (log.filter((e) => e.type === "RUN_STARTED").length !== 1) throw new Error("not exactly one RUN_STARTED");
      const last = log.at(-1)?.type;
      if (last !== "RUN_FINISHED" && last !== "RUN_ERROR") throw new Error(`the log ends with ${last}, not a terminal event`);
    } catch (error) {
      problem(`${c.label} run ${c.id}: invalid AG-UI log: ${(error as Error).message}`);
    }
  }
  for (const [runId, got] of received) {
    const stored = events.get(runId) ?? [];
    const same = got.length === stored.length && got.every((e, i) => e.seq === stored[i]!.seq && JSON.stringify(e.event) === JSON.stringify(stored[i]!.event));
    if (!same) problem(`SSE follower of run ${runId} received seqs [${got.map((e) => e.seq).join(",")}], the log has 1..${stored.length}`);
  }

  return {
    runs: runs.length,
    continuations,
    byStatus,
    steps: stepRows.length,
    retriedSteps: stepRows.filter((s) => s.attempt > 1).length,
    http: {
      requests: tools.requests,
      keys: tools.byKey.size,
      effects: tools.effects,
      deduplicated: tools.requests - tools.byKey.size,
      committedHttpSteps: httpSteps.length,
    },
  };
}
