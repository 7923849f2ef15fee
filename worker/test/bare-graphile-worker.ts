// A bare graphile-worker process (one no-op task) for start-time comparisons with `everruns
// worker` (worker/test/start-time.ts). Prints "worker pool <id> started" when ready.
import { run } from "graphile-worker";

const runner = await run({
  connectionString: process.env.DATABASE_URL,
  concurrency: 10,
  noHandleSignals: true,
  pollInterval: 1000,
  taskList: { noop: async () => {} },
});
console.log(`worker pool bare started (pid ${process.pid})`);
const stop = () => void runner.stop().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
await runner.promise;
