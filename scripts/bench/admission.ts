// Admission of many runs in one statement (issue 23; db/migrations/000018_set_based_admission.sql):
// `insert into everruns.runs (agent_id, input) select ... from generate_series(1, rows)`, the
// way a batch of runs is started in SQL. Measured on two throwaway databases of the same server:
// "set-based", migrated as shipped (statement triggers: one add_jobs call, one audit head lock per
// statement), and "per-row", migrated up to the migration before 000018 (a row trigger: one
// add_job and one audit_append per run). The two alternate, the order swapped every repetition
// (the machines are shared and noisy: the ratio means more than either figure). Each insert is
// its own transaction, its commit included; every repetition adds `rows` runs to the tables.
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { listMigrations } from "../../db/migrate.ts";
import { createPool, type Pool } from "../../db/pool.ts";
import { benchAdmitRuns } from "../../db/sql/benchAdmitRuns.ts";
import { seedAgent } from "../../db/sql/seedAgent.ts";
import { scratchDatabase } from "../harness/databases.ts";
import { machineLine } from "../harness/machine.ts";
import { median } from "../harness/stats.ts";

/** The migration that made admission set-based: the per-row database stops before it. */
const SET_BASED_MIGRATION = 18;

export interface AdmissionBenchOptions {
  serverUrl: string;
  /** runs per insert statement (default 10,000) */
  rows?: number;
  /** timed inserts per database (default 3) */
  repeat?: number;
  log: (line: string) => void;
}

export interface AdmissionBenchResult {
  rows: number;
  /** runs admitted per second, median of the repetitions, commit included */
  setBasedRunsPerSec: number;
  /** the same before 000018; null when that database could not be made (logged) */
  perRowRunsPerSec: number | null;
  /** set-based ÷ per-row runs/s, per repetition */
  ratios: number[];
}

type Variant = "set-based" | "per-row";

interface BenchDatabase {
  pool: Pool;
  agentId: string;
  close(): Promise<void>;
}

/** The migrations of this code base before `beforeId`, copied to a directory of their own (migrate() reads a directory). */
async function migrationsBefore(beforeId: number): Promise<{ dir: string; count: number }> {
  const dir = await mkdtemp(path.join(tmpdir(), "everruns-migrations-"));
  const files = (await listMigrations()).filter((m) => m.id < beforeId);
  for (const m of files) await copyFile(m.file, path.join(dir, path.basename(m.file)));
  return { dir, count: files.length };
}

/** A throwaway database migrated from `dir` (all of this code base's migrations when undefined), with one agent. */
async function benchDatabase(serverUrl: string, variant: Variant, dir: string | undefined): Promise<BenchDatabase> {
  const scratch = await scratchDatabase(serverUrl, `everruns_bench_admission_${variant === "per-row" ? "rows" : "set"}`, dir);
  const pool = createPool(scratch.url, "everruns-bench", 2);
  const close = async () => {
    await pool.end();
    await scratch.drop();
  };
  try {
    // The database checks only that a config is an object; nothing runs these runs.
    const agentId = await seedAgent(pool, "bench-admission", { provider: "scripted", script: [{ text: "done" }] });
    return { pool, agentId, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Seconds for one autocommitted insert ... select of `rows` runs. */
async function admit(db: BenchDatabase, rows: number): Promise<number> {
  const t0 = performance.now();
  const inserted = await benchAdmitRuns(db.pool, db.agentId, rows);
  const seconds = (performance.now() - t0) / 1000;
  if (inserted !== rows) throw new Error(`inserted ${inserted} runs, expected ${rows}`);
  return seconds;
}

export async function runAdmissionBench(opts: AdmissionBenchOptions): Promise<AdmissionBenchResult> {
  const rows = opts.rows ?? 10_000;
  const repeat = opts.repeat ?? 3;
  const perRowMigrations = await migrationsBefore(SET_BASED_MIGRATION);
  const dbs: Partial<Record<Variant, BenchDatabase>> = {};
  try {
    dbs["set-based"] = await benchDatabase(opts.serverUrl, "set-based", undefined);
    opts.log(await machineLine(dbs["set-based"].pool));
    if (perRowMigrations.count > 0) {
      try {
        dbs["per-row"] = await benchDatabase(opts.serverUrl, "per-row", perRowMigrations.dir);
      } catch (error) {
        opts.log(`per-row (before 000018): skipped, its database could not be migrated: ${(error as Error).message}`);
      }
    }
    opts.log(`admission: insert ... select of ${rows} runs, ${repeat} alternating repetitions per database, commit included`);
    // warm up both (connections, plans of the trigger functions) with a small insert
    for (const db of Object.values(dbs)) await admit(db, 10);

    const seconds: Record<Variant, number[]> = { "set-based": [], "per-row": [] };
    for (let i = 0; i < repeat; i++) {
      const order: Variant[] = i % 2 === 0 ? ["set-based", "per-row"] : ["per-row", "set-based"];
      for (const variant of order) {
        const db = dbs[variant];
        if (db) seconds[variant].push(await admit(db, rows));
      }
    }
    const perSec = (s: number) => rows / s;
    const setBasedRunsPerSec = perSec(median(seconds["set-based"]));
    const perRowRunsPerSec = seconds["per-row"].length > 0 ? perSec(median(seconds["per-row"])) : null;
    const ratios = seconds["per-row"].map((s, i) => s / seconds["set-based"][i]!);
    opts.log(`  set-based (000018): ${Math.round(setBasedRunsPerSec)} runs/s (each: ${seconds["set-based"].map((s) => `${s.toFixed(2)} s`).join(", ")})`);
    if (perRowRunsPerSec !== null) {
      opts.log(`  per-row (before 000018): ${Math.round(perRowRunsPerSec)} runs/s (each: ${seconds["per-row"].map((s) => `${s.toFixed(2)} s`).join(", ")})`);
      opts.log(`  set-based ÷ per-row: ${ratios.map((r) => r.toFixed(2)).join(", ")} (median ${median(ratios).toFixed(2)})`);
    }
    return { rows, setBasedRunsPerSec, perRowRunsPerSec, ratios };
  } finally {
    for (const db of Object.values(dbs)) await db.close();
    await rm(perRowMigrations.dir, { recursive: true, force: true });
  }
}
