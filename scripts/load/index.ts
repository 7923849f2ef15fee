// `everruns load`: the engine under volume, against real worker and API processes, each
// scenario on a throwaway database:
//
//   concurrent   N runs started at once all complete, nothing lost (concurrent.ts)
//   parked       N runs parked on timers, events and approvals hold no job lock and no worker,
//                and all resume when woken (parked.ts)
//   soak         a worker process's resident memory over many steps (soak.ts)
//   connections  database connections per process under load, against the documented bounds (connections.ts)
//   history      begin_step's cost as other runs' history grows (history.ts)
//
// Every scenario returns its figures and the problems it found; nothing asserts absolute times.
import { createPool } from "../../db/pool.ts";
import { parseFlags } from "../harness/args.ts";
import { withScratchDatabase } from "../harness/databases.ts";
import { machineLine } from "../harness/machine.ts";
import { concurrentRuns } from "./concurrent.ts";
import { connectionCensus } from "./connections.ts";
import { historyScaling } from "./history.ts";
import { parkedRuns } from "./parked.ts";
import { memorySoak } from "./soak.ts";

export const LOAD_DEFAULTS = { concurrentRuns: 1000, parkedRuns: 10_000, soakSteps: 20_000, workers: 2, concurrency: 10 };

export const LOAD_USAGE = `everruns load [--runs 1000] [--parked 10000] [--soak-steps 20000] [--heap-limit MiB] [--workers 2] [--concurrency 10]
               [--only concurrent,parked,soak,connections,history]
  concurrent   --runs runs inserted at once all complete; wall time and steps/s
  parked       --parked runs on timers, events and approvals hold no job lock and no worker, then resume
  soak         a worker process's memory (RSS) over --soak-steps steps; the slope (--heap-limit caps
               its V8 old space: a leak would kill it)
  connections  database connections per process under load, against the documented bounds
  history      begin_step's cost as other runs' history grows (0, 20,000 and 200,000 steps)
  Runs on throwaway databases on the server of DATABASE_URL.`;

const PARTS = ["concurrent", "parked", "soak", "connections", "history"];

/** `everruns load [flags]` against the Postgres server of databaseUrl. Returns the exit code. */
export async function loadCommand(args: string[], databaseUrl: string, log: (line: string) => void = console.log): Promise<number> {
  const flags = parseFlags(
    args,
    {
      runs: { type: "int", default: LOAD_DEFAULTS.concurrentRuns, min: 1, max: 1_000_000 },
      parked: { type: "int", default: LOAD_DEFAULTS.parkedRuns, min: 3, max: 1_000_000 },
      "soak-steps": { type: "int", default: LOAD_DEFAULTS.soakSteps, min: 1, max: 10_000_000 },
      "heap-limit": { type: "int", min: 16, max: 65_536 },
      workers: { type: "int", default: LOAD_DEFAULTS.workers, min: 1, max: 64 },
      concurrency: { type: "int", default: LOAD_DEFAULTS.concurrency, min: 1, max: 1000 },
      only: { type: "choices", default: PARTS, choices: PARTS },
    },
    LOAD_USAGE,
    log,
  );
  if (!flags) return 0;
  const { workers, concurrency } = flags;
  const probe = createPool(databaseUrl, "everruns-load", 1);
  try {
    log(await machineLine(probe));
  } finally {
    await probe.end();
  }
  const problems: string[] = [];
  const fresh = async (fn: (url: string) => Promise<{ problems: string[] }>) => {
    problems.push(...(await withScratchDatabase(databaseUrl, "everruns_load", fn)).problems);
  };
  if (flags.only.has("concurrent")) await fresh((url) => concurrentRuns({ databaseUrl: url, log, workers, concurrency, runs: flags.runs }));
  if (flags.only.has("parked")) await fresh((url) => parkedRuns({ databaseUrl: url, log, workers, concurrency, runs: flags.parked }));
  if (flags.only.has("soak"))
    await fresh((url) => memorySoak({ databaseUrl: url, log, concurrency, steps: flags["soak-steps"], heapLimitMb: flags["heap-limit"] }));
  if (flags.only.has("connections")) await fresh((url) => connectionCensus({ databaseUrl: url, log, workers, concurrency, followers: 20, runs: 200 }));
  if (flags.only.has("history")) {
    await fresh(async (url) => {
      const r = await historyScaling({ databaseUrl: url, log, sizes: [0, 20_000, 200_000] });
      return {
        problems:
          r.ratio > 3
            ? [
                `begin_step costs ${r.ratio.toFixed(1)}x more with 200,000 steps of other runs in the database than with none: a step's cost should not depend on other runs' history`,
              ]
            : [],
      };
    });
  }
  for (const p of problems) log(`PROBLEM: ${p}`);
  log(problems.length === 0 ? "load: every check held" : `load: ${problems.length} problem(s)`);
  return problems.length === 0 ? 0 : 1;
}
