// Keeps the embedded Postgres of `everruns start` running: when its postmaster dies (kill -9, a
// crash, someone's pg_ctl stop), the server is started again on the same data directory and
// port. Meanwhile the worker waits for the database (worker/main.ts) and the API answers /healthz
// with 503, so the process stays up and nothing needs restarting by hand.
//
//   const watchdog = watchEmbeddedPostgres(db.embedded, { log });  // on shutdown: await watchdog.stop() first
//
// Checking is cheap: one read of postmaster.pid and of /proc/<pid>/stat a second, no connection.
import { backoffMs, type BackoffPolicy } from "../lib/backoff.ts";
import type { Logger } from "../lib/logger.ts";
import { sleep } from "../lib/sleep.ts";
import { PostgresStartError, type EmbeddedPostgres } from "./embedded-postgres.ts";

/** How often the postmaster is looked at (ms): a death is noticed within about this long. */
const CHECK_EVERY_MS = 1_000;
/**
 * Between failed restarts, and before restarting a server that died again soon after the last
 * restart: 1 s doubling to 30 s, so a server that cannot stay up is not hammered (nor the log).
 */
const RESTART_BACKOFF: BackoffPolicy = { initial_delay_ms: 1_000, max_delay_ms: 30_000, multiplier: 2 };
/** A server up this long after a restart is healthy again: its next death is restarted at once. */
const STABLE_AFTER_MS = 60_000;

export interface WatchdogOptions {
  log: Logger;
  /** ms between checks; default 1 s */
  checkEveryMs?: number;
}

export interface Watchdog {
  /** Stops watching; waits for a restart under way, so the caller may stop the server next. */
  stop(): Promise<void>;
}

type Watched = Pick<EmbeddedPostgres, "port" | "dataDir" | "postmasterPid" | "restart">;

export function watchEmbeddedPostgres(server: Watched, options: WatchdogOptions): Watchdog {
  const { log } = options;
  const checkEveryMs = options.checkEveryMs ?? CHECK_EVERY_MS;
  const stopping = new AbortController();
  const pause = (ms: number) =>
    sleep(ms, stopping.signal).then(
      () => true,
      () => false, // stopped
    );

  /** Restarts the dead server, retrying with backoff until it is up or the watchdog stops. */
  async function revive(lastPid: number | null, recentDeaths: number): Promise<void> {
    const diedAt = performance.now();
    log.error(
      `embedded Postgres on port ${server.port} died (postmaster ${lastPid === null ? "" : `pid ${lastPid} `}is gone): restarting it ` +
        `on the same data directory (${server.dataDir}); meanwhile the API's /healthz answers 503 and the worker waits`,
    );
    // the first death in a while is restarted at once; a server that keeps dying, and every failed try, waits longer
    let delay = recentDeaths === 0 ? 0 : backoffMs(RESTART_BACKOFF, recentDeaths);
    for (let attempt = 1; ; attempt++) {
      if (delay > 0 && !(await pause(delay))) return;
      if (stopping.signal.aborted) return;
      const startedElsewhere = await server.postmasterPid();
      if (startedElsewhere !== null) {
        // someone else started it meanwhile (an operator's pg_ctl restart): nothing to do
        const seconds = ((performance.now() - diedAt) / 1000).toFixed(1);
        log.info(
          `embedded Postgres is running again on port ${server.port} after ${seconds} s (postmaster pid ${startedElsewhere}, not started by this process)`,
        );
        return;
      }
      try {
        await server.restart();
      } catch (error) {
        delay = backoffMs(RESTART_BACKOFF, recentDeaths + attempt);
        const reason = error instanceof PostgresStartError ? error.reason : (error as Error).message.split("\n")[0];
        log.error(
          `embedded Postgres could not be restarted on port ${server.port} (try ${attempt}): ${reason}; ` +
            `trying again in ${(delay / 1000).toFixed(1)} s (if another program took the port, stop it, or restart everruns start ` +
            `with another EVERRUNS_PG_PORT); the API answers 503 until then`,
        );
        continue;
      }
      const seconds = ((performance.now() - diedAt) / 1000).toFixed(1);
      const pid = await server.postmasterPid();
      log.info(`embedded Postgres restarted on port ${server.port} in ${seconds} s (postmaster pid ${pid ?? "?"}, try ${attempt})`);
      return;
    }
  }

  async function watch(): Promise<void> {
    let lastPid = await server.postmasterPid();
    let recentDeaths = 0;
    let upSince = performance.now();
    while (await pause(checkEveryMs)) {
      const pid = await server.postmasterPid();
      if (pid !== null) {
        lastPid = pid;
        if (recentDeaths > 0 && performance.now() - upSince >= STABLE_AFTER_MS) recentDeaths = 0;
        continue;
      }
      await revive(lastPid, recentDeaths);
      recentDeaths++;
      upSince = performance.now();
      lastPid = await server.postmasterPid();
    }
  }

  const watching = watch().catch((error: unknown) => {
    // a bug here must not take the API and console down with it: say so, stop watching
    log.error(`the embedded Postgres watchdog stopped: ${(error as Error).stack ?? String(error)}; a dead server is no longer restarted`);
  });
  return {
    async stop() {
      stopping.abort();
      await watching;
    },
  };
}
