// `everruns chaos`: durability by doing the failure, at scale (run.ts), on a throwaway database.
import { ConfigError } from "../../db/errors.ts";
import { parseFlags } from "../harness/args.ts";
import { withScratchDatabase } from "../harness/databases.ts";
import { netnsAvailable } from "./netns.ts";
import { runChaos } from "./run.ts";

export const CHAOS_USAGE = `everruns chaos [--runs 1000] [--minutes 5] [--workers 4] [--concurrency 8] [--kill-every 3]
               [--min-alive N] [--api-restarts 6] [--followers 30] [--netns] [--seed N] [--keep]
  kill -9 worker processes every --kill-every seconds (replacing them) and the API --api-restarts
  times while --runs runs of every kind are started over --minutes; then check every invariant.
  A kill waits until --min-alive workers are up (default: all).
  Runs on a throwaway database on the server of DATABASE_URL (--keep leaves it for inspection).`;

/** `everruns chaos [flags]` against the Postgres server of databaseUrl. Returns the exit code. */
export async function chaosCommand(args: string[], databaseUrl: string, log: (line: string) => void = console.log): Promise<number> {
  const flags = parseFlags(
    args,
    {
      runs: { type: "int", default: 1000, min: 1, max: 1_000_000 },
      minutes: { type: "number", default: 5, min: 0.1, max: 24 * 60 },
      workers: { type: "int", default: 4, min: 2, max: 64 },
      concurrency: { type: "int", default: 8, min: 1, max: 1000 },
      "kill-every": { type: "number", default: 3, min: 0, max: 3600 },
      "min-alive": { type: "int", min: 2, max: 64 },
      "api-restarts": { type: "int", default: 6, min: 0, max: 1000 },
      followers: { type: "int", default: 30, min: 0, max: 10_000 },
      netns: { type: "boolean" },
      seed: { type: "int", min: 0, max: 2 ** 31 },
      keep: { type: "boolean" },
    },
    CHAOS_USAGE,
    log,
  );
  if (!flags) return 0;
  if (flags.netns && !netnsAvailable())
    throw new ConfigError("--netns needs root and iproute2 (ip netns, veth); this machine cannot create a network namespace");
  const keep = (url: string) => {
    if (flags.keep) log(`kept the database: ${url}`);
    return flags.keep;
  };
  const report = await withScratchDatabase(
    databaseUrl,
    "everruns_chaos",
    (url) =>
      runChaos({
        databaseUrl: url,
        runs: flags.runs,
        launchMs: flags.minutes * 60_000,
        workers: flags.workers,
        concurrency: flags.concurrency,
        killEveryMs: flags["kill-every"] * 1000,
        minAlive: flags["min-alive"],
        apiRestarts: flags["api-restarts"],
        followers: flags.followers,
        settleTimeoutMs: 300_000,
        netns: flags.netns,
        seed: flags.seed,
        log,
      }),
    keep,
  );
  for (const p of report.problems) log(`PROBLEM: ${p}`);
  log(report.problems.length === 0 ? "chaos: every invariant held" : `chaos: ${report.problems.length} problem(s)`);
  return report.problems.length === 0 ? 0 : 1;
}
