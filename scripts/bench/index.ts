// `everruns bench`: what a step costs and how far the engine scales, measured on one database.
//
//   ratio    per-step cost next to a bare graphile-worker chain (ratio.ts)
//   rls      per-step cost of row-level security, the schema owned by a role that is no superuser (rls.ts)
//   scaling  many concurrent runs over 1, 2 and 4 worker processes (scaling.ts)
//   resume   resume latency after kill -9 (resume.ts)
//   start    worker cold start next to a bare graphile-worker process (start.ts)
//   outage   recovery after database restarts, on a cluster of its own (outage.ts)
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

export const BENCH_USAGE = `everruns bench [--steps 200] [--chains 1,10] [--repeat 3] [--concurrency 10]
               [--workers 1,2,4] [--runs 200] [--run-steps 21] [--kills 20] [--starts 7]
               [--restarts 10] [--down-ms 1000] [--only ratio,rls,scaling,resume,start,outage]
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
            client's first answer (p50/max); the worker is never restarted`;

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
      only: {
        type: "choices",
        default: ["ratio", "rls", "scaling", "resume", "start", "outage"],
        choices: ["ratio", "rls", "scaling", "resume", "start", "outage"],
      },
    },
    BENCH_USAGE,
    log,
  );
  if (!flags) return 0;
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
  }
  return 0;
}
