// Start-time measurement: spawn → "worker pool … started" for `everruns worker` against a bare
// graphile-worker process on the same database, alternating, several repetitions; prints medians.
// Also times worker/test/worker-only.ts (startWorker without the CLI's other imports).
// Usage: DATABASE_URL=postgres://… node worker/test/start-time.ts [repetitions]
// (CLI=<path> times another CLI entry point instead of scripts/everruns.ts)
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const node = process.execPath;
const reps = Number(process.argv[2] ?? 7);

function timeStart(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(node, args, { cwd: root, env: { ...process.env, LOG_LEVEL: "info" }, stdio: ["ignore", "pipe", "pipe"] });
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
    child.once("exit", (code) => ready || reject(new Error(`exited ${code} before ready:\n${out}`)));
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ours: number[] = [];
const bare: number[] = [];
const only: number[] = [];
for (let i = 0; i < reps; i++) {
  ours.push(await timeStart([process.env.CLI ?? "scripts/everruns.ts", "worker"]));
  only.push(await timeStart(["worker/test/worker-only.ts"]));
  bare.push(await timeStart(["worker/test/bare-graphile-worker.ts"]));
}
console.log(`everruns worker: median ${median(ours).toFixed(0)} ms  [${ours.map((x) => x.toFixed(0)).join(", ")}]`);
console.log(`worker/main.ts alone: median ${median(only).toFixed(0)} ms  [${only.map((x) => x.toFixed(0)).join(", ")}]`);
console.log(`bare graphile-worker: median ${median(bare).toFixed(0)} ms  [${bare.map((x) => x.toFixed(0)).join(", ")}]`);
