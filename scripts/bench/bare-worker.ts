// A bare graphile-worker process (one no-op task, the same concurrency and poll interval as an
// Everruns worker): the floor `everruns bench --only start` measures `everruns worker` against.
// Prints "worker pool <id> started" when ready, as `everruns worker` does.
import { Logger, run } from "graphile-worker";

const runner = await run({
  connectionString: process.env.DATABASE_URL,
  concurrency: 10,
  noHandleSignals: true,
  pollInterval: 1000,
  logger: new Logger(() => () => {}),
  taskList: { noop: () => Promise.resolve() },
});
console.log(`worker pool bare started (pid ${process.pid})`);
const stop = () => void runner.stop().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
await runner.promise;
