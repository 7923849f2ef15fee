// Streams resumed at or past the end of a run's event log, over SSE, the client and GraphQL,
// against a real API, worker and Postgres: a cursor past the last event is refused at once
// (400 invalid_cursor / a GraphQL error) whether the run is live or finished; a cursor at the
// last event of a finished run gets an empty stream that ends at once; one at the last event of
// a live run waits for what comes next and ends after the terminal event. Nothing here may hang:
// every request and subscription has a bound.
import { createClient, type Client } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, getEvents, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { FollowError, followRunEvents, type RunEvent } from "../../client/index.ts";
import { postJson, readSse, startTestApi, type ApiErrorBody, type StartedRunBody, type TestApiHandle } from "./helpers.ts";

let db: TestDatabase;
let worker: WorkerHandle;
let api: TestApiHandle;
let ws: Client;

const hello = { messages: [{ role: "user", content: "hello" }] };
/** The bound on anything that should answer at once. */
const PROMPT_MS = 5000;

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "error") });
  api = await startTestApi(db.url);
  ws = createClient({
    url: `${api.url.replace(/^http/, "ws")}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: { authorization: `Bearer ${api.key}` },
  });
  await createAgent(db.pool, { provider: "scripted", script: [{ text: "Done." }] }, "end-quick");
  await createAgent(
    db.pool,
    {
      provider: "scripted",
      tools: ["wait_for_event"],
      script: [{ tool_calls: [{ name: "wait_for_event", arguments: { name: "go", timeout_seconds: 3600 } }] }, { text: "went on" }],
    },
    "end-waiter",
  );
}, 60_000);

afterAll(async () => {
  await ws?.dispose();
  await api?.close();
  await worker?.stop();
  await db?.drop();
});

/** A finished run and the seq of its last (terminal) event. */
async function finishedRun(): Promise<{ runId: string; last: number }> {
  const { body } = await postJson<StartedRunBody>(`${api.url}/api/runs`, { agent: "end-quick", input: hello }, api.headers);
  await waitForStatus(db.pool, body.id, ["succeeded"]);
  const events = await getEvents(db.pool, body.id);
  expect(events.at(-1)!.type).toBe("RUN_FINISHED");
  return { runId: body.id, last: events.at(-1)!.seq };
}

/** A live run, parked in wait_for_event("go") until `release`, and the seq of its last event so far. */
async function liveRun(): Promise<{ runId: string; last: number; release: () => Promise<void> }> {
  const { body } = await postJson<StartedRunBody>(`${api.url}/api/runs`, { agent: "end-waiter", input: hello }, api.headers);
  await waitForStatus(db.pool, body.id, ["waiting"]);
  const events = await getEvents(db.pool, body.id);
  return {
    runId: body.id,
    last: events.at(-1)!.seq,
    release: async () => {
      const sent = await postJson(`${api.url}/api/runs/${body.id}/signals`, { name: "go" }, api.headers);
      expect(sent.status).toBe(201);
    },
  };
}

async function getEventsStream(runId: string, headers: Record<string, string>, query = ""): Promise<Response> {
  return fetch(`${api.url}/api/runs/${runId}/events${query}`, { headers: { ...api.headers, ...headers }, signal: AbortSignal.timeout(PROMPT_MS) });
}

interface GqlOutcome {
  events: Array<{ seq: number; type: string }>;
  errors: Array<{ message: string; extensions?: Record<string, unknown> }> | null;
  /** true when the subscription ended by itself (completed or errored), false when the bound cut it. */
  ended: boolean;
}

/** Subscribes to runEvents and collects until it ends, or `boundMs` passes (then unsubscribes). */
async function subscribeRunEvents(runId: string, after: number, boundMs = PROMPT_MS, onEvent?: () => void): Promise<GqlOutcome> {
  const out: GqlOutcome = { events: [], errors: null, ended: false };
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      unsubscribe();
      resolve();
    }, boundMs);
    const finish = () => {
      clearTimeout(timer);
      out.ended = true;
      resolve();
    };
    const unsubscribe = ws.subscribe<{ runEvents: { seq: number; type: string } }>(
      { query: `subscription ($runId: UUID!, $after: Int) { runEvents(runId: $runId, after: $after) { seq type } }`, variables: { runId, after } },
      {
        next: (result) => {
          if (result.errors) out.errors = result.errors as GqlOutcome["errors"];
          if (result.data?.runEvents) {
            out.events.push(result.data.runEvents);
            onEvent?.();
          }
        },
        error: (error) => {
          out.errors = Array.isArray(error) ? (error as GqlOutcome["errors"]) : [{ message: String((error as Error)?.message ?? error) }];
          finish();
        },
        complete: finish,
      },
    );
  });
  return out;
}

describe("GET /api/runs/:id/events past the end", () => {
  it("a Last-Event-ID past the last event of a live run is a 400 at once, naming the run's last seq", async () => {
    const live = await liveRun();
    try {
      const started = Date.now();
      const res = await getEventsStream(live.runId, { "Last-Event-ID": "999999999" });
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({
        error: {
          code: "invalid_cursor",
          message: `Last-Event-ID 999999999 is past the end of run ${live.runId}'s event log: its last event is seq ${live.last}; resume with Last-Event-ID ≤ ${live.last}`,
        },
      });
      // ?after= too, named as such; and one past the end is past the end
      const byQuery = await getEventsStream(live.runId, {}, `?after=${live.last + 1}`);
      expect(byQuery.status).toBe(400);
      const body = (await byQuery.json()) as ApiErrorBody;
      expect(body.error.code).toBe("invalid_cursor");
      expect(body.error.message).toMatch(new RegExp(`^after ${live.last + 1} is past the end .*its last event is seq ${live.last};`));
      expect(Date.now() - started).toBeLessThan(PROMPT_MS);
      // nothing was left subscribed
      expect(api.hub.openFeeds).toBe(0);
    } finally {
      await live.release();
    }
  });

  it("a Last-Event-ID past the last event of a finished run is a 400", async () => {
    const { runId, last } = await finishedRun();
    for (const cursor of [999999999, last + 1]) {
      const res = await getEventsStream(runId, { "Last-Event-ID": String(cursor) });
      expect(res.status).toBe(400);
      expect(((await res.json()) as ApiErrorBody).error).toMatchObject({
        code: "invalid_cursor",
        message: expect.stringContaining(`its last event is seq ${last}`) as unknown,
      });
    }
  });

  it("a Last-Event-ID at the last event of a finished run is an empty stream that ends at once, saying so", async () => {
    const { runId, last } = await finishedRun();
    const started = Date.now();
    const read = await readSse(`${api.url}/api/runs/${runId}/events`, {
      headers: { ...api.headers, "Last-Event-ID": String(last) },
      signal: AbortSignal.timeout(PROMPT_MS),
    });
    expect(read.status).toBe(200);
    expect(read.events).toEqual([]);
    expect(Date.now() - started).toBeLessThan(PROMPT_MS);
    // the whole body: opened, and ended because the log did (not a dropped connection)
    const res = await getEventsStream(runId, { "Last-Event-ID": String(last) });
    expect(await res.text()).toBe(": stream open\n\n: end\n\n");
    // a whole stream ends the same way, after its terminal event
    const whole = await (await getEventsStream(runId, {})).text();
    expect(whole).toMatch(/"type":"RUN_FINISHED".*\n\n: end\n\n$/s);
  });

  it("a Last-Event-ID at the last event of a live run waits for the rest and ends after the terminal event", async () => {
    const live = await liveRun();
    let opened = false;
    const reading = readSse(
      `${api.url}/api/runs/${live.runId}/events`,
      { headers: { ...api.headers, "Last-Event-ID": String(live.last) }, signal: AbortSignal.timeout(30_000) },
      () => (opened = true),
    );
    // give it time to be subscribed (and to prove it does not end on its own)
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(opened).toBe(false);
    await live.release();
    const read = await reading;
    expect(read.status).toBe(200);
    const stored = await getEvents(db.pool, live.runId);
    expect(read.events.map((e) => e.seq)).toEqual(stored.filter((e) => e.seq > live.last).map((e) => e.seq));
    expect(read.events.at(-1)!.type).toBe("RUN_FINISHED");
  });

  it("followRunEvents resuming past the end of a run fails with invalid_cursor, without reconnecting", async () => {
    const { runId, last } = await finishedRun();
    let reconnects = 0;
    const got: RunEvent[] = [];
    const past = (async () => {
      for await (const e of followRunEvents(api.url, runId, {
        apiKey: api.key,
        after: last + 5,
        signal: AbortSignal.timeout(PROMPT_MS),
        onReconnect: () => reconnects++,
      })) {
        got.push(e);
      }
    })();
    await expect(past).rejects.toBeInstanceOf(FollowError);
    await expect(past).rejects.toMatchObject({ status: 400, code: "invalid_cursor" });
    expect(got).toEqual([]);
    expect(reconnects).toBe(0);
  });
});

describe("the runEvents subscription past the end", () => {
  it("an `after` past the last event of a live run is an error at once", async () => {
    const live = await liveRun();
    try {
      const out = await subscribeRunEvents(live.runId, 999999999);
      expect(out.ended).toBe(true);
      expect(out.events).toEqual([]);
      expect(out.errors).toHaveLength(1);
      expect(out.errors![0]).toMatchObject({
        message: `after 999999999 is past the end of run ${live.runId}'s event log: its last event is seq ${live.last}; resume with after ≤ ${live.last}`,
        extensions: { code: "invalid_cursor" },
      });
    } finally {
      await live.release();
    }
  });

  it("an `after` past the last event of a finished run is an error", async () => {
    const { runId, last } = await finishedRun();
    const out = await subscribeRunEvents(runId, last + 1);
    expect(out.ended).toBe(true);
    expect(out.errors![0]!.extensions).toEqual({ code: "invalid_cursor" });
  });

  it("an `after` at the last event of a finished run completes at once, with no event", async () => {
    const { runId, last } = await finishedRun();
    const out = await subscribeRunEvents(runId, last);
    expect(out).toEqual({ events: [], errors: null, ended: true });
  });

  it("an `after` at the last event of a live run waits for the rest and completes after the terminal event", async () => {
    const live = await liveRun();
    const subscribed = subscribeRunEvents(live.runId, live.last, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await live.release();
    const out = await subscribed;
    expect(out.ended).toBe(true);
    expect(out.errors).toBeNull();
    const stored = await getEvents(db.pool, live.runId);
    expect(out.events.map((e) => e.seq)).toEqual(stored.filter((e) => e.seq > live.last).map((e) => e.seq));
    expect(out.events.at(-1)!.type).toBe("RUN_FINISHED");
  });
});

describe("the events hub", () => {
  it("judges a cursor against the log, not against a feed that has not caught up yet", async () => {
    // a live run whose feed is open (one subscriber) while rows are appended behind the engine's
    // back (runs.event_seq stays put; the notification comes later): a second subscriber resuming
    // at the newest row is accepted even before the feed has read it. The run is left waiting:
    // the engine would append at seqs these rows took.
    const live = await liveRun();
    const first = await api.hub.subscribeRunEvents(live.runId, 0);
    try {
      await db.pool.query(
        `insert into everruns.run_events (run_id, seq, workspace_id, type, event, run_created_at)
         select r.id, r.event_seq + n, r.workspace_id, 'CUSTOM', jsonb_build_object('type', 'CUSTOM', 'name', 'tick', 'value', n),
                everruns_private.run_partition_key(r.created_at, r.legacy_history)
           from everruns.runs r, generate_series(1, 3) as n where r.id = $1`,
        [live.runId],
      );
      const second = await api.hub.subscribeRunEvents(live.runId, live.last + 3);
      second.close();
      await expect(api.hub.subscribeRunEvents(live.runId, live.last + 4)).rejects.toMatchObject({ code: "invalid_cursor" });
    } finally {
      first.close();
    }
  });
});
