// Liveness across roles, through the real functions: register_worker and sweep_dead_workers are
// security definer, so they read pg_stat_activity with their owner's rights. Here their owner is
// an ordinary role (as on a managed Postgres) and the worker connects as another one, whose
// session's backend_start the owner may not see. The worker must register, count as alive while
// its liveness connection lives, and have its jobs freed once that connection is gone.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { withoutApplicationName } from "../../worker/liveness.ts";
import { createTestDatabase, waitFor, type TestDatabase } from "./helpers.ts";
import { startJobHolder, type JobHolder } from "./job-holder.ts";
import { sleep } from "../../lib/sleep.ts";

let db: TestDatabase;
const suffix = randomBytes(4).toString("hex");
// identifiers from a random hex suffix, never from input
const ownerRole = `ev_owner_${suffix}`;
const workerRole = `ev_worker_${suffix}`;
let workerSession: pg.Client | null = null;
let holder: JobHolder | null = null;

beforeAll(async () => {
  db = await createTestDatabase();
  const q = (sql: string) => db.pool.query(sql);
  await q(`create role ${ownerRole} nologin nosuperuser`);
  await q(`create role ${workerRole} login nosuperuser`);
  // as if the owner had run the migrations: it owns the tables these functions touch (which also
  // lets it past the row-level security graphile-worker enables on its tables)
  for (const schema of ["everruns_private", "graphile_worker"]) {
    await q(`grant usage on schema ${schema} to ${ownerRole}`);
    await q(`grant execute on all functions in schema ${schema} to ${ownerRole}`);
    await q(`grant select on all tables in schema ${schema} to ${ownerRole}`); // views too: graphile_worker.jobs
    const { rows } = await db.pool.query<{ name: string }>("select format('%I.%I', schemaname, tablename) as name from pg_tables where schemaname = $1", [
      schema,
    ]);
    for (const { name } of rows) await q(`alter table ${name} owner to ${ownerRole}`);
  }
  await q(`alter function everruns_private.register_worker(text, text, int, int) owner to ${ownerRole}`);
  await q(`alter function everruns_private.sweep_dead_workers(int) owner to ${ownerRole}`);
  await q(`alter view everruns_private.live_workers owner to ${ownerRole}`);
  await q(`grant usage on schema everruns_private to ${workerRole}`);
  await q(`grant execute on function everruns_private.register_worker(text, text, int, int) to ${workerRole}`);
});

afterAll(async () => {
  await workerSession?.end().catch(() => undefined);
  await holder?.stop();
  if (!db) return;
  await db.drop(); // drops what the roles own in it
  const url = new URL(db.url);
  url.pathname = "/postgres";
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  try {
    await admin.query(`drop role if exists ${workerRole}`);
    await admin.query(`drop role if exists ${ownerRole}`);
  } finally {
    await admin.end();
  }
});

function urlAs(role: string): string {
  const url = new URL(db.url);
  url.username = role;
  url.password = "";
  return url.toString();
}

async function lockedBy(jobId: string): Promise<string | null> {
  const { rows } = await db.pool.query<{ locked_by: string | null }>("select locked_by from graphile_worker.jobs where id = $1", [jobId]);
  return rows[0]!.locked_by;
}

it("a worker of another role registers, stays alive while connected, and is swept once gone", async () => {
  // a real graphile-worker pool takes a job and holds it; its liveness connection is a session
  // of the worker role
  holder = await startJobHolder(db.url);
  const poolId = holder.poolId;
  workerSession = new pg.Client({ connectionString: urlAs(workerRole), application_name: `everruns-worker:${poolId}` });
  await workerSession.connect();
  await workerSession.query("select everruns_private.register_worker($1, 'test-host', 1, 4)", [poolId]);
  const { rows: registered } = await db.pool.query<{ backend_pid: number; backend_start: Date | null }>(
    "select backend_pid, backend_start from everruns_private.workers where pool_id = $1",
    [poolId],
  );
  // the owner could not see the session's start: the row says so rather than failing
  expect(registered).toEqual([{ backend_pid: expect.any(Number) as unknown, backend_start: null }]);

  // a job this worker holds, locked for longer than the sweeper's grace period
  await db.pool.query("select graphile_worker.add_job('run_step', '{\"run_id\": \"probe\"}')");
  const jobId = (await holder.take("probe")).ref.id;
  await sleep(300);

  const sweep = async () => (await db.pool.query<{ freed: string[] }>("select everruns_private.sweep_dead_workers(250) as freed")).rows[0]!.freed;
  expect(await sweep()).toEqual([]);
  expect(await lockedBy(jobId)).toBe(poolId);

  const pid = registered[0]!.backend_pid;
  await workerSession.end();
  workerSession = null;
  await waitFor("the worker's backend to end", async () => {
    const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where pid = $1", [pid]);
    return rows[0]!.n === 0;
  });
  expect(await sweep()).toEqual([poolId]);
  expect(await lockedBy(jobId)).toBeNull();
});

it("the liveness connection's own application_name wins over one in DATABASE_URL", () => {
  expect(withoutApplicationName("postgres://u@h:5432/db?application_name=mine&sslmode=require")).toBe("postgres://u@h:5432/db?sslmode=require");
  expect(withoutApplicationName("postgres://u@h/db")).toBe("postgres://u@h/db");
  // a socket path with credentials and no host: not a WHATWG URL, but pg takes it; left as is
  expect(withoutApplicationName("postgres://u:p@/db?host=/var/run/postgresql")).toBe("postgres://u:p@/db?host=/var/run/postgresql");
});
