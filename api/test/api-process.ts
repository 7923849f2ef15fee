// The API as a child process, for tests that kill -9 it: DATABASE_URL and PORT from the
// environment; prints "ready <url>" once it listens.
import { startApi } from "../server.ts";
import { consoleLogger } from "../../lib/logger.ts";

const api = await startApi({
  databaseUrl: process.env.DATABASE_URL!,
  port: Number(process.env.PORT ?? 0),
  log: consoleLogger(`[api ${process.pid}]`, "warn"),
  heartbeatMs: Number(process.env.HEARTBEAT_MS ?? 15_000),
});
console.log(`ready ${api.url}`);
process.on("SIGTERM", () => void api.close().then(() => process.exit(0)));
