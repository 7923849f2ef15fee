// Runs as the benchmarks, load scenarios and chaos start and watch them: agents with a random
// name suffix, runs inserted in batches, waiting for runs to reach a status.
import { randomBytes } from "node:crypto";
import pg from "pg";
import type { Queryable } from "../../db/pool.ts";
import { listen } from "../../db/sql/listen.ts";
import { runStatusCounts } from "../../db/sql/runStatusCounts.ts";
import { seedAgent } from "../../db/sql/seedAgent.ts";
import { seedRuns } from "../../db/sql/seedRuns.ts";
import { sleep } from "../../lib/sleep.ts";
import { until } from "./wait.ts";

/** The statuses a run ends in. */
export const FINISHED = ["succeeded", "failed", "cancelled"];

/** An agent named `<prefix>-<random hex>` with this config; returns its id. */
export async function createAgent(db: Queryable, prefix: string, config: Record<string, unknown>): Promise<string> {
  return seedAgent(db, `${prefix}-${randomBytes(4).toString("hex")}`, config);
}

/** Inserts n runs of an agent in batches of 1,000 (one statement each, as another system would). */
export async function insertRuns(db: Queryable, agentId: string, n: number, content = "load"): Promise<string[]> {
  const ids: string[] = [];
  for (let done = 0; done < n; done += 1000) ids.push(...(await seedRuns(db, agentId, Math.min(1000, n - done), content)));
  return ids;
}

/** How many of these runs are in any of `statuses`. */
export function countIn(counts: Record<string, number>, statuses: readonly string[]): number {
  return statuses.reduce((n, s) => n + (counts[s] ?? 0), 0);
}

/**
 * Waits until every run is in one of `statuses` and returns the counts by status; when it times
 * out, a problem says so and the counts are returned as they are.
 */
export async function waitForRuns(
  db: Queryable,
  ids: string[],
  statuses: string[],
  timeoutMs: number,
  problems: string[],
  what: string,
): Promise<Record<string, number>> {
  let counts: Record<string, number> = {};
  try {
    await until(what, async () => countIn((counts = await runStatusCounts(db, ids)), statuses) === ids.length, timeoutMs, 100);
  } catch {
    problems.push(
      `${what}: after ${timeoutMs} ms only ${countIn(counts, statuses)} of ${ids.length} runs were ${statuses.join("/")} (${JSON.stringify(counts)})`,
    );
  }
  return counts;
}

/** A connection that LISTENs to `everruns:runs`: next() resolves at the next change of a run's state. */
export class RunUpdates {
  private readonly client: pg.Client;
  private constructor(client: pg.Client) {
    this.client = client;
  }

  static async listen(databaseUrl: string): Promise<RunUpdates> {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    await listen(client, ["everruns:runs"]);
    return new RunUpdates(client);
  }

  /** Resolves at the next notification, or after timeoutMs at the latest. */
  async next(timeoutMs: number): Promise<void> {
    const notified = new AbortController();
    const wake = () => notified.abort();
    this.client.once("notification", wake);
    try {
      await sleep(timeoutMs, notified.signal);
    } catch {
      // notified
    } finally {
      this.client.off("notification", wake);
    }
  }

  close(): Promise<void> {
    return this.client.end();
  }
}
