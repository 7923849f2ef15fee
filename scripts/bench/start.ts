// Worker cold start: spawn → ready ("worker pool … started") of `everruns worker` next to a bare
// graphile-worker process (bare-worker.ts) on the same database, alternating, so the machine's
// noise falls on both. After a crash or a deploy, this, not recovery, is what a restarted worker
// makes its runs wait for: nothing heavy may load at import time (providers and their SDKs load
// on first use, the CLI imports the API, the console and these benchmarks only for their commands).
import { spawn } from "node:child_process";
import path from "node:path";
import { PROJECT_ROOT } from "../database.ts";
import { median } from "../harness/stats.ts";

/** ms from spawn to the ready line; the process is then stopped. */
function timeToReady(args: string[], databaseUrl: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, {
      cwd: PROJECT_ROOT,
      env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let ready = false;
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (!ready && /worker pool \S+ started/.test(out)) {
        ready = true;
        const ms = performance.now() - t0;
        child.kill("SIGTERM");
        child.once("exit", () => resolve(ms));
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => ready || reject(new Error(`${args.join(" ")} exited ${code} before it was ready:\n${out}`)));
  });
}

export interface StartTimes {
  everruns: number[];
  bare: number[];
  /** median everruns ÷ median bare */
  ratio: number;
}

export async function measureStartTime(opts: { databaseUrl: string; repeat: number; log: (line: string) => void }): Promise<StartTimes> {
  const everruns: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < opts.repeat; i++) {
    everruns.push(await timeToReady([path.join(PROJECT_ROOT, "scripts", "everruns.ts"), "worker"], opts.databaseUrl));
    bare.push(await timeToReady([path.join(PROJECT_ROOT, "scripts", "bench", "bare-worker.ts")], opts.databaseUrl));
  }
  const ratio = median(everruns) / median(bare);
  const list = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(", ");
  opts.log(`worker start, spawn → ready, median of ${opts.repeat} alternating:`);
  opts.log(`  everruns worker        ${median(everruns).toFixed(0)} ms  [${list(everruns)}]`);
  opts.log(`  bare graphile-worker   ${median(bare).toFixed(0)} ms  [${list(bare)}]`);
  opts.log(`  everruns ÷ bare        ${ratio.toFixed(2)}×`);
  return { everruns, bare, ratio };
}
