// The events hub without notifications (issue 23): workers will NOTIFY after their commit, from a
// notifier a kill can silence, so a notification is only a hint. With the notification triggers
// disabled in this test's database, nothing the test commits is ever announced; the hub's periodic
// catch-up alone must bring every event (once, in order) and every status change to its clients,
// within a few ticks, at one or two queries per tick whatever the number of clients.
//
// The hubs read on a pool acting as everruns_api (no workspace, no BYPASSRLS), as the API's does
// in production: a catch-up query that row-level security blinded would find nothing here.
import pg from "pg";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { createAgent, createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { EventsHub, WATCH_STARTED, type RunEventRow, type Subscription } from "../events-hub.ts";
import { DEFAULT_WORKSPACE_ID, quietLog, waitUntil } from "./helpers.ts";

let db: TestDatabase;
let agentId: string;
/** The hubs' pool: as everruns_api; counts the catch-up's queries by their text. */
let apiPool: pg.Pool;
const catchUpQueries = { eventSeqs: 0, runsUpdated: 0 };
const hubs: EventsHub[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  // every notification the test's writes would send: events appended, a run's status changed
  await db.pool.query("alter table everruns.run_events disable trigger tg_run_events__notify");
  await db.pool.query("alter table everruns.runs disable trigger tg_runs__notify_status");
  agentId = await createAgent(db.pool, { provider: "scripted", script: [{ text: "unused" }] });
  apiPool = new pg.Pool({ connectionString: db.url, options: "-c role=everruns_api", max: 5, application_name: "everruns-test-hub" });
  // an idle client the database closes (the test database's forced drop) is not a test failure
  apiPool.on("error", () => undefined);
  const query = apiPool.query.bind(apiPool) as (...args: unknown[]) => unknown;
  // a real pool, only counted: which catch-up query each call is
  apiPool.query = ((...args: unknown[]) => {
    const text = typeof args[0] === "string" ? args[0] : "";
    if (text.includes("run_event_seq(ids.id)")) catchUpQueries.eventSeqs++;
    if (text.includes("runs_updated_since")) catchUpQueries.runsUpdated++;
    return query(...args);
  }) as typeof apiPool.query;
});

afterEach(async () => {
  for (const hub of hubs.splice(0)) await hub.close();
});

afterAll(async () => {
  await apiPool?.end();
  await db?.drop();
});

async function startHub(catchUpMs: number): Promise<EventsHub> {
  const hub = new EventsHub({ databaseUrl: db.url, pool: apiPool, log: quietLog, catchUpMs });
  await hub.start();
  hubs.push(hub);
  return hub;
}

async function newRuns(n: number): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) select $1, $2 from generate_series(1, $3) returning id", [
    agentId,
    JSON.stringify({ messages: [{ role: "user", content: "x" }] }),
    n,
  ]);
  return rows.map((row) => row.id);
}

/** Appends events `from`..`to` of a run in one statement, as the engine does (event_seq moves with them). */
async function append(runId: string, from: number, to: number, last: "RUN_FINISHED" | null = null): Promise<void> {
  await db.pool.query(
    `with events as (
       insert into everruns.run_events (run_id, seq, workspace_id, type, event, run_created_at)
       select $1::uuid, seq, $2::uuid, case when seq = $4 and $5::text is not null then $5 else 'CUSTOM' end,
              case when seq = $4 and $5::text is not null then jsonb_build_object('type', $5::text, 'threadId', $1::text, 'runId', $1::text)
                   else jsonb_build_object('type', 'CUSTOM', 'name', 'tick', 'value', seq) end,
              (select everruns_private.run_partition_key(r.created_at, r.legacy_history) from everruns.runs r where r.id = $1::uuid)
         from generate_series($3::int, $4::int) as seq
       returning seq)
     update everruns.runs set event_seq = (select max(seq) from events), updated_at = now() where id = $1`,
    [runId, DEFAULT_WORKSPACE_ID, from, to, last],
  );
}

/** Every seq a subscription yields, until it ends. */
function collect(subscription: Subscription<RunEventRow>): { seqs: number[]; done: Promise<void> } {
  const seqs: number[] = [];
  const done = (async () => {
    for await (const row of subscription) seqs.push(row.seq);
  })();
  return { seqs, done };
}

/** Waits until the hub has run `n` more catch-up ticks than it had when this was called. */
async function ticks(hub: EventsHub, n: number): Promise<void> {
  const from = hub.stats.catchUps;
  await waitUntil(`${n} catch-up ticks`, () => hub.stats.catchUps >= from + n, 30_000, 5);
}

it("events appended with no notification reach every subscriber, each seq once and in order, within a few ticks", async () => {
  // created before the hub listens: not even the run's creation is announced to it
  const [runId] = (await newRuns(1)) as [string];
  await append(runId, 1, 2);
  const hub = await startHub(50);
  const early = collect(await hub.subscribeRunEvents(runId));
  const resumed = collect(await hub.subscribeRunEvents(runId, 1));
  // live past their replays, then several commits none of which is ever announced
  await waitUntil("the replays", () => early.seqs.length === 2 && resumed.seqs.length === 1);
  for (let seq = 3; seq <= 12; seq += 2) {
    await append(runId, seq, seq + 1);
    // some commits land within one tick, some across ticks
    if (seq % 4 === 1) await ticks(hub, 1);
  }
  // the feed idle (everything so far delivered), then the last batch: the first tick that reads
  // after its commit finds the feed behind
  await waitUntil("seq 12", () => early.seqs.length === 12 && resumed.seqs.length === 11);
  const ticksBefore = hub.stats.catchUps;
  const caughtUpBefore = hub.stats.caughtUp;
  await append(runId, 13, 20, "RUN_FINISHED");
  await Promise.all([early.done, resumed.done]);
  const all = Array.from({ length: 20 }, (_, i) => i + 1);
  expect(early.seqs).toEqual(all);
  expect(resumed.seqs).toEqual(all.slice(1));
  // nothing was announced: the catch-up found the feed behind, and the last batch within a few
  // ticks of its commit (a count of ticks, not wall time: one may have been in flight at the
  // commit, one finds it, and its read and delivery take a fraction of the next)
  expect(hub.stats.notifications).toBe(0);
  expect(hub.stats.caughtUp).toBeGreaterThan(caughtUpBefore);
  expect(hub.stats.catchUps - ticksBefore).toBeLessThanOrEqual(4);
});

it("a status change with no notification wakes the run's watchers and its workspace's", async () => {
  const [runId, other] = (await newRuns(2)) as [string, string];
  // every run of the workspace (the other tests' too) changed long ago, as far as any catch-up
  // window can tell: the status change is the only news
  await db.pool.query("update everruns.runs set updated_at = now() - interval '1 hour'");
  const hub = await startHub(50);
  const ofRun = hub.watchRuns(runId);
  const ofWorkspace = hub.watchRuns(null, DEFAULT_WORKSPACE_ID);
  expect((await ofRun.next()).value).toBe(runId);
  expect((await ofWorkspace.next()).value).toBe(WATCH_STARTED);
  const woken = hub.stats.catchUpRunWakes;
  await db.pool.query("update everruns.runs set status = 'cancelled', updated_at = now() where id = $1", [runId]);
  const ticksBefore = hub.stats.catchUps;
  expect((await ofRun.next()).value).toBe(runId);
  // the workspace's watcher hears of that run (and of none it has no reason to: `other` is unchanged)
  expect((await ofWorkspace.next()).value).toBe(runId);
  expect(hub.stats.catchUps - ticksBefore).toBeLessThanOrEqual(4);
  expect(hub.stats.catchUpRunWakes).toBeGreaterThan(woken);
  expect(hub.stats.notifications).toBe(0);
  const { rows } = await db.pool.query<{ status: string }>("select status from everruns.runs where id = $1", [other]);
  expect(rows[0]!.status).toBe("queued");
  ofRun.close();
  ofWorkspace.close();
});

it("with catchUpMs 0 an unannounced event never arrives (the tests above can fail)", async () => {
  const [runId] = (await newRuns(1)) as [string];
  await append(runId, 1, 1);
  const withCatchUp = await startHub(20);
  const without = await startHub(0);
  const seen = collect(await withCatchUp.subscribeRunEvents(runId));
  const missed = collect(await without.subscribeRunEvents(runId));
  // both live, past their replays (which do read what is stored)
  await waitUntil("the replays", () => seen.seqs.length === 1 && missed.seqs.length === 1);
  await append(runId, 2, 4);
  await waitUntil("the catching-up hub's subscriber", () => seen.seqs.length === 4);
  // ten more ticks of the other hub: time enough for the deaf one, which will never read
  await ticks(withCatchUp, 10);
  expect(missed.seqs).toEqual([1]);
  expect(without.stats.catchUps).toBe(0);
  expect(without.stats.reads).toBe(0);
  await append(runId, 5, 5, "RUN_FINISHED");
  await seen.done;
  expect(seen.seqs).toEqual([1, 2, 3, 4, 5]);
  expect(missed.seqs).toEqual([1]);
});

it("the catch-up's queries per tick do not grow with the number of subscribers", async () => {
  const runIds = await newRuns(10);
  const hub = await startHub(10);

  /** Catch-up queries per tick over `n` ticks, by the counted pool and by the hub's own stats. */
  async function perTick(n: number): Promise<{ pool: number; stats: number }> {
    // start on a tick boundary: the previous tick's queries are all sent
    await ticks(hub, 1);
    const ticks0 = hub.stats.catchUps;
    const pool0 = catchUpQueries.eventSeqs + catchUpQueries.runsUpdated;
    const stats0 = hub.stats.catchUpQueries;
    await ticks(hub, n);
    const done = hub.stats.catchUps - ticks0;
    return {
      pool: (catchUpQueries.eventSeqs + catchUpQueries.runsUpdated - pool0) / done,
      stats: (hub.stats.catchUpQueries - stats0) / done,
    };
  }

  // one client: one event subscriber, one run watcher
  const opened: Subscription<unknown>[] = [await hub.subscribeRunEvents(runIds[0]!), hub.watchRuns(runIds[0]!)];
  const one = await perTick(30);

  // fifty more event subscribers on the ten runs, and fifty run watchers (per run and workspace-wide)
  for (let i = 0; i < 50; i++) {
    opened.push(await hub.subscribeRunEvents(runIds[i % 10]!));
    opened.push(i % 5 === 0 ? hub.watchRuns(null, DEFAULT_WORKSPACE_ID) : hub.watchRuns(runIds[i % 10]!));
  }
  expect(hub.openFeeds).toBe(10);
  const many = await perTick(30);

  // two queries a tick (event_seqs, runs changed) in both: a tick in flight at either end of the
  // window may shift a count by one query, at most 1/30 per tick
  for (const measured of [one, many]) {
    expect(measured.pool).toBeGreaterThan(1.9);
    expect(measured.pool).toBeLessThan(2.1);
    expect(measured.stats).toBeCloseTo(measured.pool, 1);
  }
  expect(Math.abs(many.pool - one.pool)).toBeLessThan(0.1);
  for (const subscription of opened) subscription.close();

  // and with nothing open, a tick sends nothing
  await waitUntil("every feed to close", () => hub.openFeeds === 0);
  const idle = catchUpQueries.eventSeqs + catchUpQueries.runsUpdated;
  const idleTicks = hub.stats.catchUps;
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(catchUpQueries.eventSeqs + catchUpQueries.runsUpdated).toBe(idle);
  expect(hub.stats.catchUps).toBe(idleTicks);
});
