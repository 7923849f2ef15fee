// Liveness as the sweeper sees it (everruns_private.live_workers), when the worker connects as
// another role than the one reading pg_stat_activity: Postgres then hides the session's
// backend_start, and the worker must still count as alive.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "./helpers.ts";

let db: TestDatabase;
const suffix = randomBytes(4).toString("hex");
const workerRole = `ev_worker_${suffix}`;
const sweeperRole = `ev_sweeper_${suffix}`;
let workerSession: pg.Client | null = null;

beforeAll(async () => {
  db = await createTestDatabase();
  // identifiers from a random hex suffix, never from input
  await db.pool.query(`create role ${workerRole} login`);
  await db.pool.query(`create role ${sweeperRole} login`);
  await db.pool.query(`grant usage on schema everruns_private to ${sweeperRole}`);
  await db.pool.query(`grant select on everruns_private.live_workers to ${sweeperRole}`);
});

afterAll(async () => {
  await workerSession?.end().catch(() => undefined);
  if (!db) return;
  await db.pool.query(`drop owned by ${sweeperRole}, ${workerRole}`);
  await db.pool.query(`drop role ${sweeperRole}, ${workerRole}`);
  await db.drop();
});

function urlAs(role: string): string {
  const url = new URL(db.url);
  url.username = role;
  url.password = "";
  return url.toString();
}

it("a worker connected as another role, whose backend_start the sweeper cannot see, is alive", async () => {
  const poolId = `pool-${suffix}`;
  workerSession = new pg.Client({ connectionString: urlAs(workerRole), application_name: `everruns-worker:${poolId}` });
  await workerSession.connect();
  const { rows: me } = await workerSession.query<{ pid: number }>("select pg_backend_pid() as pid");
  const pid = me[0]!.pid;
  // what register_worker records, read with the privileges to see it
  await db.pool.query(
    `insert into everruns_private.workers (pool_id, hostname, pid, concurrency, backend_pid, backend_start)
     select $1, 'test', 1, 1, a.pid, a.backend_start from pg_stat_activity a where a.pid = $2`,
    [poolId, pid],
  );
  // a stale registration of a pool whose connection is gone, on the same backend pid
  await db.pool.query(
    `insert into everruns_private.workers (pool_id, hostname, pid, concurrency, backend_pid, backend_start)
     values ('pool-gone-${suffix}', 'test', 1, 1, $1, now() - interval '1 day')`,
    [pid],
  );

  const sweeper = new pg.Client({ connectionString: urlAs(sweeperRole) });
  await sweeper.connect();
  try {
    const { rows: seen } = await sweeper.query("select backend_start from pg_stat_activity where pid = $1", [pid]);
    expect(seen).toEqual([{ backend_start: null }]); // hidden from this role
    const { rows: live } = await sweeper.query("select pool_id from everruns_private.live_workers order by pool_id");
    expect(live.map((r) => r.pool_id)).toEqual([poolId]);
  } finally {
    await sweeper.end();
  }
  // and with the privileges to see everything, the same answer
  const { rows: live } = await db.pool.query("select pool_id from everruns_private.live_workers where pool_id like $1", [`%${suffix}`]);
  expect(live.map((r) => r.pool_id)).toEqual([poolId]);
});
