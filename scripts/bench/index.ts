// `everruns bench`: what a step costs and how far the engine scales, measured on one database.
//
//   ratio    per-step cost next to a bare graphile-worker chain (ratio.ts)
//   rls      per-step cost of row-level security, the schema owned by a role that is no superuser (rls.ts)
//   scaling  many concurrent runs over 1, 2 and 4 worker processes (scaling.ts)
//   resume   resume latency after kill -9 (resume.ts)
//   start    worker cold start next to a bare graphile-worker process (start.ts)
//   outage   recovery after database restarts, on a cluster of its own (outage.ts)
//   inflight thousands of slow LLM steps in flight on a few connections per worker (inflight.ts)
//   inflight-kill  kill -9 of a worker with ~1,000 steps in flight: resume latency, exactly once (inflight.ts)
//   commit   step commits/s with NOTIFY in the commit, deferred, or none (commit.ts)
//   commit-latency  commit → SSE / GraphQL client latency, notify in the commit next to deferred (commit.ts)
//   admission  many runs admitted by one insert, set-based next to per-row (admission.ts)
//   pooler   through PgBouncer: per-step cost next to direct, and 10 workers on max_connections 50 (pooler.ts)
//   fairness fair execution across workspaces: noisy neighbour, weights, limits, admission cost, priority (fairness.ts)
//   batch    batch pipelines: creation (COPY, REST JSONL), throughput next to runs, admission cost, chaos (batch.ts)
//   always-on  events into one long-lived thread in bursts, next to independent runs (always-on.ts)
//   webhooks  POST /hooks/:id receipt-to-answer latency under concurrent senders, next to /healthz and POST /api/runs (webhooks.ts)
//   mcp      an MCP server's tool call next to a built-in tool's, and what the tool-list cache saves (mcp.ts)
//   compaction  a 2,000-turn run against a small context window: compaction's cost, resume after kill -9 (compaction.ts)
//   subagents  a task delegated to a sub-agent next to a plain run: per call and per child of a fan-out (subagents.ts)
//   workflow  a workflow's state transition next to an agent step, measured in the same run (workflow.ts)
//   trace    per-step cost with OpenTelemetry traces exported next to off, in the same run (trace.ts)
//   event-log  the partitioned event log at 1M next to 50M events, a month dropped next to DELETE, retention's cost (event-log.ts)
import { ConfigError } from "../../db/errors.ts";
import { createPool } from "../../db/pool.ts";
import { parseFlags } from "../harness/args.ts";
import { withScratchDatabase } from "../harness/databases.ts";
import { machineLine } from "../harness/machine.ts";
import { runBench } from "./ratio.ts";
import { measureResumeLatency } from "./resume.ts";
import { runRlsBench } from "./rls.ts";
import { runScaling } from "./scaling.ts";
import { measureStartTime } from "./start.ts";
import { measureOutageRecovery } from "./outage.ts";
import { runInflightBench, runInflightKillBench } from "./inflight.ts";
import { COMMIT_LATENCY_FLAGS, runCommitBench, runCommitLatencyBench } from "./commit.ts";
import { runAdmissionBench } from "./admission.ts";
import { POOLER_FLAGS, POOLER_USAGE, poolerOptionsFromFlags, runPoolerBench } from "./pooler.ts";
import { FAIRNESS_FLAGS, FAIRNESS_USAGE, fairnessOptionsFromFlags, runFairnessBench } from "./fairness.ts";
import { BATCH_FLAGS, BATCH_USAGE, batchOptionsFromFlags, runBatchBench } from "./batch.ts";
import { ALWAYS_ON_FLAGS, ALWAYS_ON_USAGE, alwaysOnOptionsFromFlags, runAlwaysOnBench } from "./always-on.ts";
import { runWebhooksBench } from "./webhooks.ts";
import { MCP_FLAGS, MCP_USAGE, mcpOptionsFromFlags, runMcpBench } from "./mcp.ts";
import { COMPACTION_FLAGS, COMPACTION_USAGE, compactionOptionsFromFlags, runCompactionBench } from "./compaction.ts";
import { runSubagentsBench, SUBAGENTS_FLAGS, SUBAGENTS_USAGE, subagentsOptionsFromFlags } from "./subagents.ts";
import { runWorkflowBench, WORKFLOW_FLAGS, WORKFLOW_USAGE, workflowOptionsFromFlags } from "./workflow.ts";
import { runTraceBench } from "./trace.ts";
import { EVENT_LOG_FLAGS, EVENT_LOG_USAGE, eventLogOptionsFromFlags, runEventLogBench } from "./event-log.ts";

export const BENCH_USAGE = `everruns bench [--steps 200] [--chains 1,10] [--repeat 3] [--concurrency 10]
               [--workers 1,2,4] [--runs 200] [--run-steps 21] [--kills 20] [--starts 7]
               [--restarts 10] [--down-ms 1000] [--only ratio,rls,scaling,resume,start,outage]
               [--inflight-runs 5000] [--turns 3] [--turn-ms 2000] [--inflight-workers 2,1]
               [--max-in-flight 1000,5000] [--db-connections 10] [--inflight-kill-runs 2000]
               [--inflight-timeout-s 600] [--inflight-no-api]
               [--committers 1,10,40] [--commit-seconds 3] [--commit-rounds 1] [--commit-events 3]
               [--commit-window-ms 5] [--latency-runs 20] [--latency-graphql 4] [--latency-committers 10]
               [--latency-events 50] [--latency-rate 100] [--latency-load-seconds 3] [--latency-rounds 2]
               [--admission-rows 10000] [--admission-repeat 3]
  ratio     per-step cost next to a bare graphile-worker chain, with inline chaining (the default)
            and without it (--steps, --chains, --repeat, --concurrency)
  rls       per-step cost with row-level security next to without, the schema owned and the
            worker connected as a login role that is neither superuser nor BYPASSRLS (created for
            the run and dropped; skipped, saying why, when DATABASE_URL's user may not create it
            or the server does not let it log in) (--steps, --chains, --repeat, --concurrency)
  scaling   --runs concurrent runs of --run-steps steps over --workers spawned worker processes
  resume    resume latency after --kills kill -9s of worker processes (p50/p99/max)
  start     worker spawn → ready, next to a bare graphile-worker process (median of --starts)
  outage    a Postgres cluster of its own (embedded binaries) restarted --restarts times with
            pg_ctl stop -m immediate, --down-ms down each time, under a worker process running
            steps: time from the server being back to the next committed step, next to a bare
            client's first answer (p50/max); the worker is never restarted
Run only when named in --only (the inflight parts take minutes):
  inflight  --inflight-runs runs of --turns LLM calls of --turn-ms each (echo tool steps between),
            inserted by one statement, for each shape --inflight-workers[i] worker processes x
            --max-in-flight[i] slots, each worker with --db-connections (and one API process beside
            them unless --inflight-no-api): wall time next to the ideal (runs x turns x turn-ms /
            slots), steps/s, step->next step p50/p99, peak connections (pg_stat_activity every
            100 ms), peak worker RSS, worker and Postgres CPU; gives up after --inflight-timeout-s
            and reports what it reached
  inflight-kill  --inflight-kill-runs runs on 2 workers x the first --max-in-flight; worker A is
            kill -9'd with ~90 % of its slots running: per interrupted run, kill -> next attempt on
            the survivor (p50/p99/max), and every step committed exactly once
  commit    step commits/s of --committers concurrent committers (the inline-chaining commit, with
            --commit-events live events a step) with the notifications sent in the commit, deferred
            and sent batched every --commit-window-ms, and not sent; --commit-seconds a cell,
            --commit-rounds rounds
  commit-latency  an API in this process, --latency-runs runs each followed by an SSE client
            (--latency-graphql of them by a GraphQL subscription too), --latency-committers
            committers writing through the step statements, paced (--latency-rate steps/s to
            --latency-events events a run) and flat out (--latency-load-seconds): commit → client
            p50/p99/max with the notifications sent in the commit and deferred, --latency-rounds
            alternating rounds; every event checked to arrive once
  admission runs admitted per second by one insert ... select of --admission-rows runs, set-based
            (000018) next to per-row (the migrations before it), --admission-repeat alternating
            repetitions
${POOLER_USAGE}
${FAIRNESS_USAGE}
${BATCH_USAGE}
${ALWAYS_ON_USAGE}
  webhooks  POST /hooks/:id answers to --webhook-senders concurrent senders x --webhook-requests each (signed, no
            worker: runs queue), with and without the API's webhook cache, next to GET /healthz and POST /api/runs
            at the same concurrency: p50/p99/max, requests/s, ratios
${MCP_USAGE}
${COMPACTION_USAGE}
${SUBAGENTS_USAGE}
${WORKFLOW_USAGE}
  trace     per-step cost with OpenTelemetry traces on (exported over OTLP --trace-protocol http/protobuf or
            http/json to a receiver in this process) next to off: the ratio bench's echo chains (--steps,
            --chains, --repeat, --concurrency), alternating; time per step on ÷ off
${EVENT_LOG_USAGE}`;

/**
 * `everruns bench [flags]` against the Postgres server of databaseUrl (each part uses throwaway
 * databases on it). Returns the exit code.
 */
export async function benchCommand(args: string[], databaseUrl: string, log: (line: string) => void = console.log): Promise<number> {
  const flags = parseFlags(
    args,
    {
      steps: { type: "int", default: 200, min: 1, max: 100_000 },
      chains: { type: "ints", default: [1, 10], min: 1, max: 10_000 },
      repeat: { type: "int", default: 3, min: 1, max: 100 },
      concurrency: { type: "int", default: 10, min: 1, max: 1000 },
      workers: { type: "ints", default: [1, 2, 4], min: 1, max: 64 },
      runs: { type: "int", default: 200, min: 1, max: 100_000 },
      "run-steps": { type: "int", default: 21, min: 1, max: 10_000 },
      kills: { type: "int", default: 20, min: 1, max: 10_000 },
      starts: { type: "int", default: 7, min: 1, max: 1000 },
      restarts: { type: "int", default: 10, min: 1, max: 1000 },
      "down-ms": { type: "int", default: 1000, min: 0, max: 600_000 },
      "inflight-runs": { type: "int", default: 5000, min: 1, max: 1_000_000 },
      turns: { type: "int", default: 3, min: 1, max: 500 },
      "turn-ms": { type: "int", default: 2000, min: 0, max: 600_000 },
      "inflight-workers": { type: "ints", default: [2, 1], min: 1, max: 64 },
      "max-in-flight": { type: "ints", default: [1000, 5000], min: 1, max: 20_000 },
      "db-connections": { type: "int", default: 10, min: 3, max: 1000 },
      "inflight-kill-runs": { type: "int", default: 2000, min: 2, max: 1_000_000 },
      "inflight-timeout-s": { type: "int", default: 600, min: 1, max: 86_400 },
      "inflight-no-api": { type: "boolean" },
      committers: { type: "ints", default: [1, 10, 40], min: 1, max: 80 },
      "commit-seconds": { type: "number", default: 3, min: 0.2, max: 600 },
      "commit-rounds": { type: "int", default: 1, min: 1, max: 100 },
      "commit-events": { type: "int", default: 3, min: 0, max: 1000 },
      "commit-window-ms": { type: "number", default: 5, min: 0, max: 10_000 },
      ...COMMIT_LATENCY_FLAGS,
      "admission-rows": { type: "int", default: 10_000, min: 1, max: 1_000_000 },
      "admission-repeat": { type: "int", default: 3, min: 1, max: 100 },
      ...POOLER_FLAGS,
      ...FAIRNESS_FLAGS,
      ...BATCH_FLAGS,
      ...ALWAYS_ON_FLAGS,
      "webhook-senders": { type: "ints", default: [1, 20, 200], min: 1, max: 2000 },
      "webhook-requests": { type: "int", default: 10, min: 1, max: 100_000 },
      ...MCP_FLAGS,
      ...COMPACTION_FLAGS,
      ...SUBAGENTS_FLAGS,
      ...WORKFLOW_FLAGS,
      ...EVENT_LOG_FLAGS,
      "trace-protocol": { type: "choices", default: ["http/protobuf"], choices: ["http/protobuf", "http/json"] },
      only: {
        type: "choices",
        // the parts after outage take minutes: they run only when named
        default: ["ratio", "rls", "scaling", "resume", "start", "outage"],
        choices: [
          "ratio",
          "rls",
          "scaling",
          "resume",
          "start",
          "outage",
          "inflight",
          "inflight-kill",
          "commit",
          "commit-latency",
          "admission",
          "pooler",
          "fairness",
          "batch",
          "always-on",
          "webhooks",
          "mcp",
          "compaction",
          "subagents",
          "workflow",
          "trace",
          "event-log",
        ],
      },
    },
    BENCH_USAGE,
    log,
  );
  if (!flags) return 0;
  if (flags["inflight-workers"].length !== flags["max-in-flight"].length) {
    throw new ConfigError(
      `--inflight-workers and --max-in-flight are read in pairs (shape i: --inflight-workers[i] processes x --max-in-flight[i] slots): ` +
        `give both the same number of values, got ${flags["inflight-workers"].length} and ${flags["max-in-flight"].length}\n\n${BENCH_USAGE}`,
    );
  }
  const probe = createPool(databaseUrl, "everruns-bench", 1);
  try {
    log(await machineLine(probe));
  } finally {
    await probe.end();
  }
  if (flags.only.has("ratio")) {
    await runBench({ serverUrl: databaseUrl, steps: flags.steps, chains: flags.chains, repeat: flags.repeat, concurrency: flags.concurrency, log });
    log("");
  }
  if (flags.only.has("rls")) {
    await runRlsBench({ serverUrl: databaseUrl, steps: flags.steps, chains: flags.chains, repeat: flags.repeat, concurrency: flags.concurrency, log });
    log("");
  }
  if (flags.only.has("scaling")) {
    await runScaling({ serverUrl: databaseUrl, workers: flags.workers, runs: flags.runs, steps: flags["run-steps"], concurrency: flags.concurrency, log });
    log("");
  }
  if (flags.only.has("resume")) {
    await withScratchDatabase(databaseUrl, "everruns_bench", (url) =>
      measureResumeLatency({ databaseUrl: url, kills: flags.kills, workers: 2, concurrency: 4, log }),
    );
    log("");
  }
  if (flags.only.has("start")) {
    await withScratchDatabase(databaseUrl, "everruns_bench", (url) => measureStartTime({ databaseUrl: url, repeat: flags.starts, log }));
    log("");
  }
  if (flags.only.has("outage")) {
    await measureOutageRecovery({ restarts: flags.restarts, downMs: flags["down-ms"], log });
    log("");
  }
  const inflightCommon = {
    serverUrl: databaseUrl,
    turns: flags.turns,
    turnMs: flags["turn-ms"],
    dbConnections: flags["db-connections"],
    timeoutMs: flags["inflight-timeout-s"] * 1000,
    log,
  };
  if (flags.only.has("inflight")) {
    await runInflightBench({
      ...inflightCommon,
      runs: flags["inflight-runs"],
      shapes: flags["inflight-workers"].map((workers, i) => ({ workers, maxInFlight: flags["max-in-flight"][i]! })),
      api: !flags["inflight-no-api"],
    });
    log("");
  }
  if (flags.only.has("inflight-kill")) {
    await runInflightKillBench({ ...inflightCommon, runs: flags["inflight-kill-runs"], maxInFlight: flags["max-in-flight"][0]! });
    log("");
  }
  if (flags.only.has("commit")) {
    await runCommitBench({
      serverUrl: databaseUrl,
      committers: flags.committers,
      seconds: flags["commit-seconds"],
      rounds: flags["commit-rounds"],
      events: flags["commit-events"],
      windowMs: flags["commit-window-ms"],
      log,
    });
    log("");
  }
  if (flags.only.has("commit-latency")) {
    await runCommitLatencyBench({
      serverUrl: databaseUrl,
      runs: flags["latency-runs"],
      graphql: flags["latency-graphql"],
      committers: flags["latency-committers"],
      events: flags["latency-events"],
      rate: flags["latency-rate"],
      loadSeconds: flags["latency-load-seconds"],
      rounds: flags["latency-rounds"],
      stepEvents: flags["commit-events"],
      windowMs: flags["commit-window-ms"],
      log,
    });
    log("");
  }
  if (flags.only.has("admission")) {
    await runAdmissionBench({ serverUrl: databaseUrl, rows: flags["admission-rows"], repeat: flags["admission-repeat"], log });
    log("");
  }
  if (flags.only.has("pooler")) {
    await runPoolerBench(poolerOptionsFromFlags(flags, log));
    log("");
  }
  if (flags.only.has("fairness")) {
    await runFairnessBench(fairnessOptionsFromFlags(databaseUrl, flags, log));
    log("");
  }
  if (flags.only.has("batch")) {
    await runBatchBench(batchOptionsFromFlags(databaseUrl, flags, log));
    log("");
  }
  if (flags.only.has("always-on")) {
    await runAlwaysOnBench(alwaysOnOptionsFromFlags(databaseUrl, flags, log));
    log("");
  }
  if (flags.only.has("webhooks")) {
    for (const senders of flags["webhook-senders"]) {
      await runWebhooksBench({ serverUrl: databaseUrl, senders, perSender: flags["webhook-requests"], log });
      log("");
    }
  }
  if (flags.only.has("mcp")) {
    await runMcpBench(mcpOptionsFromFlags(databaseUrl, flags, log));
    log("");
  }
  if (flags.only.has("compaction")) {
    await runCompactionBench(compactionOptionsFromFlags(databaseUrl, flags, log));
    log("");
  }
  if (flags.only.has("subagents")) {
    await runSubagentsBench(subagentsOptionsFromFlags(databaseUrl, flags, log));
    log("");
  }
  if (flags.only.has("workflow")) {
    await runWorkflowBench(workflowOptionsFromFlags(databaseUrl, flags, log));
    log("");
  }
  if (flags.only.has("trace")) {
    const protocols = [...flags["trace-protocol"]];
    if (protocols.length !== 1) throw new ConfigError(`--trace-protocol takes one of http/protobuf, http/json\n\n${BENCH_USAGE}`);
    await runTraceBench({
      serverUrl: databaseUrl,
      steps: flags.steps,
      chains: flags.chains,
      repeat: flags.repeat,
      concurrency: flags.concurrency,
      protocol: protocols[0] as "http/protobuf" | "http/json",
      log,
    });
    log("");
  }
  if (flags.only.has("event-log")) {
    await runEventLogBench(eventLogOptionsFromFlags(databaseUrl, flags, log));
    log("");
  }
  return 0;
}
