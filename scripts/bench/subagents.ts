// `everruns bench --only subagents` (issue 18, sub-agents): what a task costs when an agent
// delegates it to a sub-agent (a tool of type "agent", docs/sub-agents.md), next to the same
// task run as a plain run, all measured in the same process on the same scratch database. One
// in-process worker of --concurrency slots; the scripted provider with no delays, so the figures
// are the engine's own cost (steps, commits, wake-ups), not a model's.
//
// 1. One call, one at a time (--subagent-reps of each, alternating): a plain run of the child
//    agent (one LLM step); a caller that calls the built-in `echo` once (LLM, tool, LLM); the same
//    caller calling the child as a sub-agent instead. The call's cost is the caller's latency minus
//    the echo caller's; its overhead is that minus the plain run's: what making the task a child
//    adds beyond running it. Latency is insert → finished, the database clock.
// 2. Fan-out (--subagent-fanout children in one model turn, max_parallel_children as many),
//    --subagent-fanout-reps times: the caller's wall time next to the same number of plain runs
//    inserted at once, and next to a caller making as many echo calls (medians); per child:
//    (fan-out − echo fan-out) ÷ children next to the plain runs' wall ÷ children, and the ratio.
//    The caller's extra steps per child (its waits).
//
// Checked: every run succeeded, every call has exactly one child.
import { createPool, type Pool } from "../../db/pool.ts";
import { countRunSteps } from "../../db/sql/countRunSteps.ts";
import { runDurations } from "../../db/sql/runDurations.ts";
import { runStatusCounts } from "../../db/sql/runStatusCounts.ts";
import { seedAgent } from "../../db/sql/seedAgent.ts";
import { seedRuns } from "../../db/sql/seedRuns.ts";
import { consoleLogger } from "../../lib/logger.ts";
import type { Flags, FlagSpec } from "../harness/args.ts";
import { withScratchDatabase } from "../harness/databases.ts";
import { FINISHED, waitForRuns } from "../harness/runs.ts";
import { median, percentile } from "../harness/stats.ts";

export const SUBAGENTS_FLAGS = {
  "subagent-reps": { type: "int", default: 30, min: 1, max: 10_000 },
  "subagent-fanout": { type: "int", default: 20, min: 1, max: 100 },
  "subagent-fanout-reps": { type: "int", default: 5, min: 1, max: 1000 },
  "subagent-timeout-s": { type: "int", default: 300, min: 1, max: 86_400 },
} as const satisfies Record<string, FlagSpec>;

export const SUBAGENTS_USAGE = `  subagents sub-agents (issue 18), one in-process worker of --concurrency slots, the scripted provider without
            delays. One call at a time, --subagent-reps (30) of each, alternating: a plain run of the child agent, a
            caller calling the built-in echo once, the same caller calling the child as a sub-agent: p50s, the call's
            cost (sub-agent caller − echo caller) and its overhead beyond the child's own run (− the plain run).
            Fan-out: one caller with --subagent-fanout (20) sub-agent calls in one turn (all in parallel) next to as
            many plain runs inserted at once and to a caller making as many echo calls, --subagent-fanout-reps (5) times:
            medians, time per child, the ratio to a plain run's, the caller's extra steps per child. Checked: every run
            succeeded, one child per call.`;

export interface SubagentsBenchOptions {
  serverUrl: string;
  reps: number;
  fanout: number;
  fanoutReps: number;
  concurrency: number;
  timeoutMs: number;
  log: (line: string) => void;
}

export function subagentsOptionsFromFlags(
  serverUrl: string,
  flags: Flags<typeof SUBAGENTS_FLAGS> & { concurrency: number },
  log: (line: string) => void,
): SubagentsBenchOptions {
  return {
    serverUrl,
    reps: flags["subagent-reps"],
    fanout: flags["subagent-fanout"],
    fanoutReps: flags["subagent-fanout-reps"],
    concurrency: flags.concurrency,
    timeoutMs: flags["subagent-timeout-s"] * 1000,
    log,
  };
}

export interface SubagentsBenchResult {
  plainP50: number;
  echoCallerP50: number;
  agentCallerP50: number;
  /** agent caller − echo caller: what one sub-agent call costs the caller, ms */
  callCostMs: number;
  /** callCostMs − plain run: what making the task a child adds beyond running it, ms */
  overheadMs: number;
  /** per child of the fan-out, ms, and the plain runs' wall per run */
  fanoutPerChildMs: number;
  plainBatchPerRunMs: number;
  fanoutRatio: number;
  extraStepsPerChild: number;
  problems: string[];
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");

/** Starts one run and waits for its end; returns its id. */
async function runOne(pool: Pool, agentId: string, opts: SubagentsBenchOptions, problems: string[], what: string): Promise<string> {
  const [id] = await seedRuns(pool, agentId, 1, "the task");
  await waitForRuns(pool, [id!], FINISHED, opts.timeoutMs, problems, what);
  return id!;
}

export async function runSubagentsBench(opts: SubagentsBenchOptions): Promise<SubagentsBenchResult> {
  opts.log(
    `subagents: one in-process worker × ${opts.concurrency} slots, scripted provider without delays; ${opts.reps} single calls of each kind ` +
      `one at a time, then a fan-out to ${opts.fanout} children next to ${opts.fanout} plain runs`,
  );
  return withScratchDatabase(opts.serverUrl, "everruns_bench_subagents", async (url) => {
    const pool = createPool(url, "everruns-bench", 2, { timeouts: { statementMs: 0 } });
    const { startWorker } = await import("../../worker/main.ts");
    const worker = await startWorker({
      databaseUrl: url,
      concurrency: opts.concurrency,
      shutdownTimeoutMs: 5000,
      scheduler: false,
      log: consoleLogger("[subagents bench worker]", "warn"),
    });
    try {
      const problems: string[] = [];
      const leaf = await seedAgent(pool, "bench_leaf", { provider: "scripted", script: [{ text: "the answer" }] });
      const call = (name: string, n: number) => Array.from({ length: n }, (_, i) => ({ name, arguments: { task: `part ${i}` } }));
      const echoCaller = await seedAgent(pool, "bench_echo_caller", {
        provider: "scripted",
        tools: ["echo"],
        script: [{ tool_calls: call("echo", 1) }, { text: "done" }],
      });
      const agentCaller = await seedAgent(pool, "bench_agent_caller", {
        provider: "scripted",
        tools: [{ type: "agent", name: "leaf", agent: "bench_leaf" }],
        script: [{ tool_calls: call("leaf", 1) }, { text: "done" }],
      });
      const echoFan = await seedAgent(pool, "bench_echo_fan", {
        provider: "scripted",
        max_steps: 1000,
        tools: ["echo"],
        script: [{ tool_calls: call("echo", opts.fanout) }, { text: "done" }],
      });
      const agentFan = await seedAgent(pool, "bench_agent_fan", {
        provider: "scripted",
        max_steps: 1000,
        max_parallel_children: opts.fanout,
        max_children: Math.max(50, opts.fanout),
        tools: [{ type: "agent", name: "leaf", agent: "bench_leaf" }],
        script: [{ tool_calls: call("leaf", opts.fanout) }, { text: "done" }],
      });

      // warm-up: plans, caches, the first wake-up
      for (const agent of [leaf, echoCaller, agentCaller]) await runOne(pool, agent, opts, problems, "warm-up");

      const plain: string[] = [];
      const echo: string[] = [];
      const agent: string[] = [];
      for (let i = 0; i < opts.reps; i++) {
        plain.push(await runOne(pool, leaf, opts, problems, "a plain run"));
        echo.push(await runOne(pool, echoCaller, opts, problems, "an echo caller"));
        agent.push(await runOne(pool, agentCaller, opts, problems, "a sub-agent caller"));
      }
      const p50 = async (ids: string[]) => percentile(await runDurations(pool, ids), 50);
      const plainP50 = await p50(plain);
      const echoCallerP50 = await p50(echo);
      const agentCallerP50 = await p50(agent);

      // the fan-out, --subagent-fanout-reps times alternating; medians
      const plainWalls: number[] = [];
      const echoFanWalls: number[] = [];
      const agentFanWalls: number[] = [];
      const plainBatches: string[] = [];
      const echoFanRuns: string[] = [];
      const agentFanRuns: string[] = [];
      for (let i = 0; i < opts.fanoutReps; i++) {
        const plainBatch = await seedRuns(pool, leaf, opts.fanout, "the task");
        await waitForRuns(pool, plainBatch, FINISHED, opts.timeoutMs, problems, "the plain runs");
        plainWalls.push(Math.max(...(await runDurations(pool, plainBatch))));
        plainBatches.push(...plainBatch);
        const echoFanRun = await runOne(pool, echoFan, opts, problems, "the echo fan-out");
        const agentFanRun = await runOne(pool, agentFan, opts, problems, "the sub-agent fan-out");
        echoFanWalls.push(...(await runDurations(pool, [echoFanRun])));
        agentFanWalls.push(...(await runDurations(pool, [agentFanRun])));
        echoFanRuns.push(echoFanRun);
        agentFanRuns.push(agentFanRun);
      }
      const plainWall = median(plainWalls);
      const echoFanMs = median(echoFanWalls);
      const agentFanMs = median(agentFanWalls);
      const extraSteps = ((await countRunSteps(pool, agentFanRuns)) - (await countRunSteps(pool, echoFanRuns))) / opts.fanoutReps;

      // invariants
      const children = await pool.query<{ calls: number; runs: number }>(
        "select count(distinct caller_tool_call_id)::int as calls, count(*)::int as runs from everruns.runs where caller_run_id = any($1)",
        [[...agent, ...agentFanRuns]],
      );
      const expected = opts.reps + opts.fanout * opts.fanoutReps;
      if (children.rows[0]!.calls !== expected || children.rows[0]!.runs !== expected) {
        problems.push(`expected ${expected} children, one per call; found ${children.rows[0]!.runs} for ${children.rows[0]!.calls} calls`);
      }
      const counts = await runStatusCounts(pool, [...plain, ...echo, ...agent, ...plainBatches, ...echoFanRuns, ...agentFanRuns]);
      const failed = Object.entries(counts).filter(([s]) => s !== "succeeded");
      if (failed.length > 0) problems.push(`runs not succeeded: ${JSON.stringify(Object.fromEntries(failed))}`);

      const fanoutPerChildMs = (agentFanMs - echoFanMs) / opts.fanout;
      const plainBatchPerRunMs = plainWall / opts.fanout;
      const result: SubagentsBenchResult = {
        plainP50,
        echoCallerP50,
        agentCallerP50,
        callCostMs: agentCallerP50 - echoCallerP50,
        overheadMs: agentCallerP50 - echoCallerP50 - plainP50,
        fanoutPerChildMs,
        plainBatchPerRunMs,
        fanoutRatio: fanoutPerChildMs / plainBatchPerRunMs,
        extraStepsPerChild: extraSteps / opts.fanout,
        problems,
      };
      const log = opts.log;
      log(
        `  one call, p50 of ${opts.reps}: plain run of the child ${fmt(plainP50, 1)} ms; caller with one echo call ${fmt(echoCallerP50, 1)} ms; ` +
          `with one sub-agent call ${fmt(agentCallerP50, 1)} ms`,
      );
      log(
        `  a sub-agent call costs the caller ${fmt(result.callCostMs, 1)} ms more than an echo call = ${fmt(result.callCostMs / plainP50, 2)}× a plain run; ` +
          `beyond the child's own run: ${fmt(result.overheadMs, 1)} ms`,
      );
      log(
        `  fan-out to ${opts.fanout}, median of ${opts.fanoutReps}: the caller ${fmt(agentFanMs, 0)} ms (echo fan-out ${fmt(echoFanMs, 0)} ms), ${opts.fanout} plain runs at once ${fmt(plainWall, 0)} ms; ` +
          `per child ${fmt(fanoutPerChildMs, 1)} ms next to ${fmt(plainBatchPerRunMs, 1)} ms a plain run: ${fmt(result.fanoutRatio, 2)}×; ` +
          `the caller's extra steps per child ${fmt(result.extraStepsPerChild, 2)}`,
      );
      log(problems.length === 0 ? "  invariants: all hold" : `  invariants: ${problems.length} FAILED: ${problems.join("; ")}`);
      return result;
    } finally {
      await worker.stop();
      await pool.end();
    }
  });
}
