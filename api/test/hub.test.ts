// The events hub's recovery, with no worker: the test writes events itself while the hub's
// LISTEN connection is down, so every notification of them is lost, and checks that the
// subscribers still get everything once the hub has reconnected and caught up from the database.
import { createClient } from "graphql-ws";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createAgent, createTestDatabase, waitFor, type TestDatabase } from "../../db/test/helpers.ts";
import { readSse, startTestApi, waitUntil, type TestApiHandle } from "./helpers.ts";

let db: TestDatabase;
let api: TestApiHandle;
let agentId: string;

const WORKSPACE = "00000000-0000-0000-0000-000000000001";

beforeAll(async () => {
  db = await createTestDatabase();
  // no periodic catch-up: what reaches the clients here came through the reconnect path alone
  api = await startTestApi(db.url, { hubCatchUpMs: 0 });
  agentId = await createAgent(db.pool, { provider: "scripted", script: [{ text: "unused" }] });
});

afterAll(async () => {
  await api?.close();
  await db?.drop();
});

async function newRun(): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
    agentId,
    JSON.stringify({ messages: [{ role: "user", content: "x" }] }),
  ]);
  return rows[0]!.id;
}

async function append(runId: string, seq: number, type: string): Promise<void> {
  await db.pool.query(
    `insert into everruns.run_events (run_id, seq, workspace_id, type, event, run_created_at)
     values ($1, $2, $3, $4, $5, (select everruns_private.run_partition_key(r.created_at, r.legacy_history) from everruns.runs r where r.id = $1))`,
    [runId, seq, WORKSPACE, type, JSON.stringify({ type, ...(type === "CUSTOM" ? { name: "tick", value: seq } : { threadId: runId, runId }) })],
  );
}

/** Kills the hub's LISTEN backend and waits until the hub has noticed. */
async function dropListenConnection(): Promise<void> {
  await db.pool.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'everruns-api-listen' and datname = current_database()");
  await waitUntil("the hub to notice", () => !api.hub.listening, 5000, 1);
}

it("events committed while the LISTEN connection is down still reach SSE clients, once each", async () => {
  const runId = await newRun();
  let live = false;
  const reading = readSse(`${api.url}/api/runs/${runId}/events`, { headers: api.headers }, () => (live = true));
  await waitUntil("the stream to open", () => api.hub.openFeeds === 1);
  await append(runId, 1, "RUN_STARTED");
  await waitUntil("the stream to be live (past its replay)", () => live);
  const reconnects = api.hub.stats.reconnects;
  await dropListenConnection();
  // the hub is deaf now: none of these is notified to it (one statement, so they are all
  // committed well before the hub's first reconnect, 100-200 ms after it noticed the loss)
  await db.pool.query(
    `insert into everruns.run_events (run_id, seq, workspace_id, type, event, run_created_at)
     select $1::uuid, seq, $2::uuid, case when seq = 6 then 'RUN_FINISHED' else 'CUSTOM' end,
            case when seq = 6 then jsonb_build_object('type', 'RUN_FINISHED', 'threadId', $1::text, 'runId', $1::text)
                 else jsonb_build_object('type', 'CUSTOM', 'name', 'tick', 'value', seq) end,
            (select everruns_private.run_partition_key(r.created_at, r.legacy_history) from everruns.runs r where r.id = $1::uuid)
       from generate_series(2, 6) as seq`,
    [runId, WORKSPACE],
  );
  // ...and still deaf once they are all committed, so their notifications are lost for good
  expect(api.hub.listening).toBe(false);
  const read = await reading;
  expect(read.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  // the events came through the reconnected hub's catch-up
  expect(api.hub.stats.reconnects).toBe(reconnects + 1);
});

it("runUpdated (every run) learns of a run created while the LISTEN connection was down", async () => {
  const ws = createClient({
    url: `${api.url.replace(/^http/, "ws")}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: { authorization: `Bearer ${api.key}` },
  });
  const seen: string[] = [];
  let created = "";
  const watching = (async () => {
    for await (const r of ws.iterate<{ runUpdated: { runId: string; run: { status: string } } }>({
      query: `subscription { runUpdated { runId run { status } } }`,
    })) {
      seen.push(r.data!.runUpdated.runId);
      if (created && seen.includes(created)) break;
    }
  })();
  // make sure the subscription is live before cutting the connection
  const probes: string[] = [];
  await waitFor(
    "the subscription to see a run",
    async () => {
      probes.push(await newRun());
      return probes.some((id) => seen.includes(id));
    },
    10_000,
    50,
  );
  await dropListenConnection();
  created = await newRun();
  expect(api.hub.listening).toBe(false); // created while the hub was deaf: its notification is lost
  await watching;
  expect(seen).toContain(created);
  await ws.dispose();
});
