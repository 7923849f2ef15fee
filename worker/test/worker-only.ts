// `everruns worker` without the CLI's other imports (api, web, bench, chaos): isolates the start
// time of worker/main.ts itself (worker/test/start-time.ts).
import { loadEnv } from "../../db/env.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker } from "../main.ts";

const env = loadEnv();
const log = consoleLogger(`[worker ${process.pid}]`, env.LOG_LEVEL);
const worker = await startWorker({ databaseUrl: env.DATABASE_URL!, concurrency: env.WORKER_CONCURRENCY, shutdownTimeoutMs: env.WORKER_SHUTDOWN_TIMEOUT_MS, log });
const stop = () => void worker.stop().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
await worker.promise;
