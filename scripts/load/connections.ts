// Database connections per process under load, by application_name (sampled from
// pg_stat_activity), against the bounds docs/deploy.md promises.
import { followRunEvents } from "../../client/index.ts";
import { loadEnv } from "../../db/env.ts";
import { createPool } from "../../db/pool.ts";
import { connectionsByApplication } from "../../db/sql/connectionsByApplication.ts";
import { sleep } from "../../lib/sleep.ts";
import { freePort } from "../../lib/free-port.ts";
import { spawnApiProcess, spawnWorkerProcesses, stopAll, type ApiProcess, type WorkerProcess } from "../harness/processes.ts";
import { createAgent, FINISHED, insertRuns, waitForRuns } from "../harness/runs.ts";
import type { LoadCommon } from "./checks.ts";

export interface ConnectionCensusOptions extends LoadCommon {
  workers: number;
  concurrency: number;
  /** SSE followers through the API while the load runs */
  followers: number;
  runs: number;
}

export interface ConnectionCensusReport {
  /** the most connections seen at once, by application_name */
  max: Record<string, number>;
  /** the bounds the sizing in docs/deploy.md promises, by application_name */
  bounds: Record<string, number>;
  samples: number;
  problems: string[];
}

/** The connections each kind of process holds under load, sampled from pg_stat_activity. */
export async function connectionCensus(opts: ConnectionCensusOptions): Promise<ConnectionCensusReport> {
  const pool = createPool(opts.databaseUrl, "everruns-load", 2);
  const census = createPool(opts.databaseUrl, "everruns-load-census", 1);
  const problems: string[] = [];
  let workers: WorkerProcess[] = [];
  let api: ApiProcess | null = null;
  try {
    const agent = await createAgent(pool, "load-connections", {
      provider: "scripted",
      tools: ["echo", "simulate_work"],
      script: [
        {
          text: "Working. ".repeat(20),
          delay_ms: 300,
          tool_calls: [
            { name: "simulate_work", arguments: { ms: 200 } },
            { name: "echo", arguments: { a: 1 } },
          ],
        },
        { text: "More. ".repeat(20), delay_ms: 300, tool_calls: [{ name: "echo", arguments: { b: 2 } }] },
        { text: "Done." },
      ],
    });
    workers = await spawnWorkerProcesses(opts.databaseUrl, opts.workers, opts.concurrency);
    api = await spawnApiProcess(opts.databaseUrl, await freePort());
    const max: Record<string, number> = {};
    let samples = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const counts = await connectionsByApplication(census);
        for (const [app, n] of Object.entries(counts)) max[app] = Math.max(max[app] ?? 0, n);
        samples++;
        await sleep(50);
      }
    })();
    const ids = await insertRuns(pool, agent, opts.runs, "connections");
    const follow = ids.slice(0, opts.followers).map(async (id) => {
      for await (const _ of followRunEvents(api!.url, id, { retryDelayMs: 100, fetch: api!.fetch })) {
        // reading is the load
      }
    });
    // a burst of REST reads on top
    const reads = (async () => {
      for (let i = 0; i < 200; i++) await Promise.all(ids.slice(0, 10).map((id) => api!.fetch(`${api!.url}/api/runs/${id}`).then((r) => r.arrayBuffer())));
    })();
    await waitForRuns(pool, ids, FINISHED, 600_000, problems, "connection census runs");
    await Promise.all([...follow, reads]);
    sampling = false;
    await sampler;

    // the spawned processes read WORKER_DB_CONNECTIONS and API_DB_CONNECTIONS from this environment
    const env = loadEnv();
    const bounds: Record<string, number> = {
      // the steps' pool and the control pool (graphile-worker's jobs and LISTEN, the notifier),
      // whatever the concurrency: WORKER_DB_CONNECTIONS + 1 together (worker/main.ts)
      "everruns-worker": opts.workers * (env.WORKER_DB_CONNECTIONS - 2),
      "everruns-worker-control": opts.workers * 3,
      "everruns-worker:<pool id> (liveness)": opts.workers,
      "everruns-api": env.API_DB_CONNECTIONS,
      "everruns-api-listen": 1,
    };
    for (const [app, bound] of Object.entries(bounds)) {
      if ((max[app] ?? 0) > bound) problems.push(`${max[app]} connections of ${app} at once, over the documented bound ${bound}`);
    }
    if ((max["everruns-worker:<pool id> (liveness)"] ?? 0) !== opts.workers)
      problems.push(`expected exactly ${opts.workers} liveness connections, saw at most ${max["everruns-worker:<pool id> (liveness)"] ?? 0}`);
    if ((max["everruns-api-listen"] ?? 0) !== 1) problems.push(`expected exactly 1 API LISTEN connection, saw at most ${max["everruns-api-listen"] ?? 0}`);
    opts.log(
      `connections at most, over ${samples} samples (${opts.workers} workers x concurrency ${opts.concurrency}, 1 API, ${opts.followers} SSE followers, ${opts.runs} runs):`,
    );
    for (const app of Object.keys({ ...bounds, ...max }).sort()) {
      opts.log(`  ${app.padEnd(40)} ${String(max[app] ?? 0).padStart(4)}${bounds[app] !== undefined ? `   (bound ${bounds[app]})` : ""}`);
    }
    return { max, bounds, samples, problems };
  } finally {
    await api?.stop(10_000);
    await stopAll(workers);
    await census.end();
    await pool.end();
  }
}
