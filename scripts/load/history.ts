// What one step's begin_step costs as the database fills with other runs' history.
import { createPool } from "../../db/pool.ts";
import { analyzeRunSteps } from "../../db/sql/analyzeRunSteps.ts";
import { beginStepRolledBack } from "../../db/sql/beginStepRolledBack.ts";
import { loadFillHistory } from "../../db/sql/loadFillHistory.ts";
import { createAgent, insertRuns } from "../harness/runs.ts";
import { percentile } from "../harness/stats.ts";
import type { LoadCommon } from "./checks.ts";

export interface HistoryScalingOptions extends LoadCommon {
  /** total committed steps in the database (other runs' history) at which to measure */
  sizes: number[];
}

export interface HistoryScalingReport {
  /** begin_step's median and fastest time at each size */
  rows: Array<{ steps: number; beginMs: number; minMs: number }>;
  /** begin_step's fastest time at the largest size divided by that at the smallest (the fastest
   *  of many tries is the cost with the least noise from a shared machine) */
  ratio: number;
}

/**
 * What one step's begin_step costs as the database fills with other runs' history. A step's
 * work should depend on its own run only; this fills run_steps with synthetic history of other
 * runs and times begin_step (the real function, in a transaction rolled back) on a run that
 * always has the same 10 committed steps.
 */
export async function historyScaling(opts: HistoryScalingOptions): Promise<HistoryScalingReport> {
  const pool = createPool(opts.databaseUrl, "everruns-load", 2);
  try {
    const agent = await createAgent(pool, "load-history", { provider: "scripted", tools: ["echo"] });
    // runs inserted with no worker running: they stay queued, their steps are written by hand
    const others = await insertRuns(pool, agent, 1000, "history");
    const [probe] = await insertRuns(pool, agent, 1, "probe");
    await loadFillHistory(pool, [probe!], 0, 10);
    const rows: HistoryScalingReport["rows"] = [];
    let have = 10;
    let each = 0; // steps of every other run so far
    for (const size of [...opts.sizes].sort((a, b) => a - b)) {
      const perRun = Math.floor((size - have) / others.length);
      if (perRun > 0) {
        await loadFillHistory(pool, others, each, perRun);
        each += perRun;
        have += perRun * others.length;
      }
      await analyzeRunSteps(pool);
      const client = await pool.connect();
      try {
        const time = async () => {
          const t = performance.now();
          await beginStepRolledBack(client, probe!);
          return performance.now() - t;
        };
        for (let i = 0; i < 5; i++) await time(); // warm plans and caches
        const samples: number[] = [];
        for (let i = 0; i < 40; i++) samples.push(await time());
        rows.push({ steps: have, beginMs: percentile(samples, 50), minMs: Math.min(...samples) });
      } finally {
        client.release();
      }
    }
    const ratio = rows.at(-1)!.minMs / rows[0]!.minMs;
    opts.log(
      `begin_step of a 10-step run, by committed steps of other runs in the database: ` +
        rows.map((r) => `${r.steps.toLocaleString("en")} → p50 ${r.beginMs.toFixed(2)} ms (min ${r.minMs.toFixed(2)})`).join(", ") +
        `; ratio of the minimums ${ratio.toFixed(1)}x`,
    );
    return { rows, ratio };
  } finally {
    await pool.end();
  }
}
