// `everruns bench --only workflow` (issue 21, workflows): what a workflow's state transition
// costs next to an agent's step, measured in the same process on the same scratch database. One
// in-process worker of --concurrency slots; the scripted provider without delays, so the agent's
// figures are the engine's own cost (steps, commits, wake-ups), not a model's.
//
// One run at a time, --workflow-reps of each kind alternating (after one warm-up of each):
//   chain  a workflow of --workflow-transitions Pass states in a chain (each a `state` step);
//   agent  a scripted agent run making --workflow-transitions echo calls, one a turn (the baseline:
//          each call is an LLM step and a tool step, then one last LLM step answers);
//   loop   a Choice/Pass loop of 10 states a cycle (a Choice, a Pass counting the cycle, 7 Passes,
//          a Wait of 0 seconds: a cycle needs a Wait) over about --workflow-transitions states.
// Latency is insert → finished, the database clock; medians. Per transition: the run's latency ÷
// its state steps; per agent step: the agent run's latency ÷ its steps; the ratio of the two.
// The loop's Wait: (loop − its state steps × the chain's per transition) ÷ its Waits.
//
// Checked: every run succeeded with the expected output, and the expected number of steps.
import { createPool, type Pool } from "../../db/pool.ts";
import { runDurations } from "../../db/sql/runDurations.ts";
import { seedAgent } from "../../db/sql/seedAgent.ts";
import { seedRuns } from "../../db/sql/seedRuns.ts";
import { consoleLogger } from "../../lib/logger.ts";
import type { Flags, FlagSpec } from "../harness/args.ts";
import { withScratchDatabase } from "../harness/databases.ts";
import { FINISHED, waitForRuns } from "../harness/runs.ts";
import { median } from "../harness/stats.ts";

export const WORKFLOW_FLAGS = {
  "workflow-transitions": { type: "int", default: 200, min: 10, max: 490 },
  "workflow-reps": { type: "int", default: 5, min: 1, max: 1000 },
  "workflow-timeout-s": { type: "int", default: 300, min: 1, max: 86_400 },
} as const satisfies Record<string, FlagSpec>;

export const WORKFLOW_USAGE = `  workflow  workflows (issue 21), one in-process worker of --concurrency slots, the scripted provider without
            delays; one run at a time, --workflow-reps (5) of each alternating: a chain of --workflow-transitions
            (200; at most 490: a workflow has at most 500 states) Pass states, a scripted agent run of as many echo calls (the baseline), a Choice/Pass loop with a
            Wait of 0 seconds every 10 states: medians, ms per transition next to ms per agent step and the ratio,
            what a Wait adds. Checked: every run succeeded with its expected output and step count.`;

export interface WorkflowBenchOptions {
  serverUrl: string;
  transitions: number;
  reps: number;
  concurrency: number;
  timeoutMs: number;
  log: (line: string) => void;
}

export function workflowOptionsFromFlags(
  serverUrl: string,
  flags: Flags<typeof WORKFLOW_FLAGS> & { concurrency: number },
  log: (line: string) => void,
): WorkflowBenchOptions {
  return {
    serverUrl,
    transitions: flags["workflow-transitions"],
    reps: flags["workflow-reps"],
    concurrency: flags.concurrency,
    timeoutMs: flags["workflow-timeout-s"] * 1000,
    log,
  };
}

export interface WorkflowBenchResult {
  /** median latency of each kind of run, ms */
  chainMs: number;
  agentMs: number;
  loopMs: number;
  /** the chain's ms per state transition */
  perTransitionMs: number;
  /** the agent run's ms per step (LLM or tool), and per echo call (an LLM step and a tool step) */
  perAgentStepMs: number;
  perAgentCallMs: number;
  /** perTransitionMs ÷ perAgentStepMs */
  ratio: number;
  /** the loop's ms per state transition, its Waits included */
  loopPerTransitionMs: number;
  /** what one Wait of 0 seconds adds beyond a transition, ms */
  perWaitMs: number;
  problems: string[];
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");

/** A chain of n Pass states, the last carrying a marker so that the output shows the chain ran to its end. */
function chainDefinition(n: number): Record<string, unknown> {
  const states: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    states[`P${i}`] = i === n - 1 ? { Type: "Pass", Result: n, ResultPath: "$.passed", End: true } : { Type: "Pass", Next: `P${i + 1}` };
  }
  return { StartAt: "P0", States: states };
}

/** A loop of 10 states a cycle, `cycles` times: Check (Choice), Count (Pass, i + 1), S1..S7 (Pass), Breathe (Wait 0 s). */
function loopDefinition(cycles: number): Record<string, unknown> {
  const states: Record<string, unknown> = {
    Check: { Type: "Choice", Choices: [{ Variable: "$.i", NumericGreaterThanEquals: cycles, Next: "Done" }], Default: "Count" },
    Count: { Type: "Pass", Parameters: { "i.$": "States.MathAdd($.i, 1)" }, Next: "S1" },
  };
  for (let i = 1; i <= 7; i++) states[`S${i}`] = { Type: "Pass", Next: i === 7 ? "Breathe" : `S${i + 1}` };
  states.Breathe = { Type: "Wait", Seconds: 0, Next: "Check" };
  states.Done = { Type: "Succeed" };
  return { StartAt: "Check", States: states };
}

async function startWorkflow(pool: Pool, agentId: string, state: Record<string, unknown>): Promise<string> {
  const { rows } = await pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
    agentId,
    JSON.stringify({ messages: [], state }),
  ]);
  return rows[0]!.id;
}

interface Finished {
  ms: number;
  steps: Record<string, number>;
  output: unknown;
  status: string;
}

async function finished(pool: Pool, id: string, opts: WorkflowBenchOptions, problems: string[], what: string): Promise<Finished> {
  await waitForRuns(pool, [id], FINISHED, opts.timeoutMs, problems, what);
  const [ms] = await runDurations(pool, [id]);
  const { rows: run } = await pool.query<{ status: string; output: { json?: unknown; text?: unknown } | null }>(
    "select status, output from everruns.runs where id = $1",
    [id],
  );
  const { rows } = await pool.query<{ kind: string; n: number }>("select kind, count(*)::int as n from everruns.run_steps where run_id = $1 group by kind", [
    id,
  ]);
  return {
    ms: ms ?? Number.NaN,
    steps: Object.fromEntries(rows.map((r) => [r.kind, r.n])),
    output: run[0]?.output ?? null,
    status: run[0]?.status ?? "missing",
  };
}

const total = (steps: Record<string, number>) => Object.values(steps).reduce((a, b) => a + b, 0);

export async function runWorkflowBench(opts: WorkflowBenchOptions): Promise<WorkflowBenchResult> {
  const n = opts.transitions;
  const cycles = Math.max(1, Math.round(n / 10));
  opts.log(
    `workflow: one in-process worker × ${opts.concurrency} slots, scripted provider without delays; one run at a time, ${opts.reps} of each: ` +
      `${n} Pass states in a chain, an agent run of ${n} echo calls (the baseline), a Choice/Pass loop of ${cycles} cycles of 10 states with a Wait of 0 s`,
  );
  return withScratchDatabase(opts.serverUrl, "everruns_bench_workflow", async (url) => {
    const pool = createPool(url, "everruns-bench", 2, { timeouts: { statementMs: 0 } });
    const { startWorker } = await import("../../worker/main.ts");
    const worker = await startWorker({
      databaseUrl: url,
      concurrency: opts.concurrency,
      shutdownTimeoutMs: 5000,
      scheduler: false,
      log: consoleLogger("[workflow bench worker]", "warn"),
    });
    try {
      const problems: string[] = [];
      const chain = await seedAgent(pool, "bench_wf_chain", { kind: "workflow", definition: chainDefinition(n) });
      const loop = await seedAgent(pool, "bench_wf_loop", { kind: "workflow", definition: loopDefinition(cycles) });
      const agent = await seedAgent(pool, "bench_wf_agent", {
        provider: "scripted",
        tools: ["echo"],
        max_steps: 2 * n + 10,
        script: [...Array.from({ length: n }, (_, i) => ({ tool_calls: [{ name: "echo", arguments: { task: `call ${i}` } }] })), { text: "done" }],
      });

      const runChain = async (what: string) => {
        const r = await finished(pool, await startWorkflow(pool, chain, { x: 1 }), opts, problems, what);
        if (r.status !== "succeeded" || JSON.stringify((r.output as { json?: unknown } | null)?.json) !== JSON.stringify({ x: 1, passed: n })) {
          problems.push(`${what}: ${r.status}, output ${JSON.stringify(r.output)}`);
        }
        if (r.steps.state !== n || total(r.steps) !== n) problems.push(`${what}: steps ${JSON.stringify(r.steps)}, expected ${n} state steps`);
        return r;
      };
      const runAgent = async (what: string) => {
        const [id] = await seedRuns(pool, agent, 1, "the task");
        const r = await finished(pool, id!, opts, problems, what);
        if (r.status !== "succeeded") problems.push(`${what}: ${r.status}, output ${JSON.stringify(r.output)}`);
        if (total(r.steps) !== 2 * n + 1) problems.push(`${what}: steps ${JSON.stringify(r.steps)}, expected ${2 * n + 1}`);
        return r;
      };
      // per cycle: 10 state steps and the Wait's park; then the last Check and Done
      const loopStates = cycles * 10 + 2;
      const runLoop = async (what: string) => {
        const r = await finished(pool, await startWorkflow(pool, loop, { i: 0 }), opts, problems, what);
        if (r.status !== "succeeded" || JSON.stringify((r.output as { json?: unknown } | null)?.json) !== JSON.stringify({ i: cycles })) {
          problems.push(`${what}: ${r.status}, output ${JSON.stringify(r.output)}`);
        }
        if (r.steps.state !== loopStates || (r.steps.wait ?? 0) > cycles) {
          problems.push(`${what}: steps ${JSON.stringify(r.steps)}, expected ${loopStates} state steps and at most ${cycles} waits`);
        }
        return r;
      };

      // warm-up: plans, caches, the first wake-up
      await runChain("warm-up chain");
      await runAgent("warm-up agent");
      await runLoop("warm-up loop");

      const chains: Finished[] = [];
      const agents: Finished[] = [];
      const loops: Finished[] = [];
      for (let i = 0; i < opts.reps; i++) {
        chains.push(await runChain("a chain of Pass states"));
        agents.push(await runAgent("an agent run of echo calls"));
        loops.push(await runLoop("a Choice/Pass loop"));
      }
      const chainMs = median(chains.map((r) => r.ms));
      const agentMs = median(agents.map((r) => r.ms));
      const loopMs = median(loops.map((r) => r.ms));
      const agentSteps = median(agents.map((r) => total(r.steps)));
      const loopWaits = median(loops.map((r) => r.steps.wait ?? 0));
      const perTransitionMs = chainMs / n;
      const perAgentStepMs = agentMs / agentSteps;
      const loopPerTransitionMs = loopMs / loopStates;
      const result: WorkflowBenchResult = {
        chainMs,
        agentMs,
        loopMs,
        perTransitionMs,
        perAgentStepMs,
        perAgentCallMs: agentMs / n,
        ratio: perTransitionMs / perAgentStepMs,
        loopPerTransitionMs,
        perWaitMs: loopWaits > 0 ? (loopMs - loopStates * perTransitionMs) / loopWaits : Number.NaN,
        problems,
      };
      const log = opts.log;
      log(
        `  medians of ${opts.reps}: chain of ${n} Pass states ${fmt(chainMs)} ms; agent run of ${n} echo calls (${agentSteps} steps) ${fmt(agentMs)} ms; ` +
          `loop of ${loopStates} states and ${loopWaits} Waits ${fmt(loopMs)} ms`,
      );
      log(
        `  per transition ${fmt(perTransitionMs, 2)} ms next to ${fmt(perAgentStepMs, 2)} ms per agent step: ${fmt(result.ratio, 2)}× ` +
          `(per echo call, an LLM step and a tool step: ${fmt(result.perAgentCallMs, 2)} ms)`,
      );
      log(
        `  Choice/Pass loop: ${fmt(loopPerTransitionMs, 2)} ms per transition, Waits included = ${fmt(loopPerTransitionMs / perAgentStepMs, 2)}× an agent step; ` +
          (loopWaits > 0
            ? `a Wait of 0 s adds ${fmt(result.perWaitMs, 1)} ms (a park, a timer job, a wake-up)`
            : "a Wait of 0 s parked no run: it is one transition like a Pass"),
      );
      log(problems.length === 0 ? "  invariants: all hold" : `  invariants: ${problems.length} FAILED: ${problems.join("; ")}`);
      return result;
    } finally {
      await worker.stop();
      await pool.end();
    }
  });
}
