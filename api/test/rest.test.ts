// REST and SSE against a real API, a real worker and a real Postgres: the happy paths, every
// kind of bad input, replay from Last-Event-ID, heartbeats, cancel, resume, and the events hub
// surviving the loss of its LISTEN connection.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { createAgent, createTestDatabase, getEvents, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import {
  bearer,
  createTestKey,
  DEFAULT_WORKSPACE_ID,
  postJson,
  readSse,
  startTestApi,
  waitUntil,
  type ApiErrorBody,
  type StartedRunBody,
  type TestApiHandle,
} from "./helpers.ts";

let db: TestDatabase;
let worker: WorkerHandle;
let api: TestApiHandle;
let agentId: string;

const hello = { messages: [{ role: "user", content: "hello" }] };

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "error") });
  api = await startTestApi(db.url);
  agentId = await createAgent(
    db.pool,
    {
      provider: "scripted",
      tools: ["echo"],
      script: [{ text: "Echoing.", tool_calls: [{ name: "echo", arguments: { a: 1 } }] }, { text: "Done." }],
    },
    "rest-agent",
  );
  await createAgent(
    db.pool,
    {
      provider: "scripted",
      tools: ["echo"],
      script: [
        { text: "one ", delay_ms: 150, tool_calls: [{ name: "echo", arguments: { n: 1 } }] },
        { text: "two ", delay_ms: 150, tool_calls: [{ name: "echo", arguments: { n: 2 } }] },
        { text: "three", delay_ms: 150 },
      ],
    },
    "slow-agent",
  );
});

afterAll(async () => {
  await api?.close();
  await worker?.stop();
  await db?.drop();
});

describe("POST /api/runs", () => {
  it("starts a run by agent name: 201 {id, status}, then the run succeeds", async () => {
    const res = await fetch(`${api.url}/api/runs`, {
      method: "POST",
      headers: { "content-type": "application/json", ...api.headers },
      body: JSON.stringify({ agent: "rest-agent", input: hello }),
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { id: string; status: string; thread_id: string };
    expect(body).toMatchObject({ id: expect.any(String) as unknown, status: "queued", thread_id: expect.any(String) as unknown });
    expect(res.headers.get("location")).toBe(`/api/runs/${body.id}`);
    await waitForStatus(db.pool, body.id, ["succeeded"]);
    const run = await fetch(`${api.url}/api/runs/${body.id}`, { headers: api.headers }).then((r) => r.json());
    expect(run).toMatchObject({ id: body.id, agent_id: agentId, status: "succeeded", output: { text: "Done." }, thread_id: body.thread_id });
    expect(run).not.toHaveProperty("step_attempt");
    expect(run).not.toHaveProperty("event_seq");
  });

  it("starts a run by agent id, on an existing thread", async () => {
    const first = await postJson<StartedRunBody>(`${api.url}/api/runs`, { agent: agentId, input: hello }, api.headers);
    expect(first.status).toBe(201);
    const second = await postJson<StartedRunBody>(`${api.url}/api/runs`, { agent: agentId, input: hello, thread_id: first.body.thread_id }, api.headers);
    expect(second.status).toBe(201);
    expect(second.body.thread_id).toBe(first.body.thread_id);
  });

  it.each([
    ["invalid JSON", "{not json", 400, "invalid_json", /not valid JSON/],
    ["an unknown agent", { agent: "no-such-agent", input: hello }, 404, "not_found", /no agent with id or name "no-such-agent"/],
    ["an agent that is not a string", { agent: 42, input: hello }, 400, "invalid_input", /agent: .*expected string/],
    ["no input", { agent: "rest-agent" }, 400, "invalid_run_input", /^invalid run input: must be a JSON object/],
    // the run input itself is judged by the runs trigger, as for SQL, GraphQL and AG-UI: same code, same words
    [
      "messages that are not an array",
      { agent: "rest-agent", input: { messages: "hi" } },
      400,
      "invalid_run_input",
      /^invalid run input: "messages" must be an array/,
    ],
    [
      "a message with an unknown role",
      { agent: "rest-agent", input: { messages: [{ role: "robot", content: "x" }] } },
      400,
      "invalid_run_input",
      /^invalid run input: messages\[0\]\.role must be one of/,
    ],
    ["a thread id that is not a UUID", { agent: "rest-agent", input: hello, thread_id: "t1" }, 400, "invalid_input", /thread_id: must be a UUID/],
    ["an unknown field", { agent: "rest-agent", input: hello, colour: 1 }, 400, "invalid_input", /colour/],
    ["an array body", [1, 2], 400, "invalid_input", /expected object/],
    [
      "a tool message without toolCallId",
      { agent: "rest-agent", input: { messages: [{ role: "tool", content: "x" }] } },
      400,
      "invalid_run_input",
      /messages\[0\]: a tool message needs "toolCallId"/,
    ],
  ])("rejects %s with a clear 4xx JSON error", async (_what, body, status, code, message) => {
    const res = await postJson(`${api.url}/api/runs`, body, api.headers);
    expect(res.status).toBe(status);
    expect(res.body).toEqual({ error: { code, message: expect.stringMatching(message) as unknown } });
  });

  it("passes on the SQL trigger's own errors (a thread of another workspace, EV007) as 400 JSON", async () => {
    const { rows } = await db.pool.query<{ id: string }>(
      "with w as (insert into everruns.workspaces (name) values ('elsewhere') returning id) insert into everruns.threads (workspace_id) select id from w returning id",
    );
    const threadId = rows[0]!.id;
    const res = await postJson(`${api.url}/api/runs`, { agent: "rest-agent", input: hello, thread_id: threadId }, api.headers);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: { code: "invalid_run_input", message: `thread ${threadId} belongs to another workspace` } });
  });

  it("rejects a body sent without a JSON content type (415)", async () => {
    const res = await fetch(`${api.url}/api/runs`, { method: "POST", headers: api.headers, body: JSON.stringify({ agent: "rest-agent", input: hello }) });
    expect(res.status).toBe(415);
    expect(await res.json()).toEqual({
      error: { code: "unsupported_media_type", message: expect.stringMatching(/Content-Type: application\/json/) as unknown },
    });
  });

  it("leaves nothing behind when the database rejects a run: no run, no thread, no job", async () => {
    // Input zod accepts but the runs trigger refuses: it answers interrupts (input.resume) on a
    // thread where no run waits for an answer (EV008). The thread id is new, so a start that
    // wrote the thread (or the run, or its job) apart from the INSERT the trigger rejects would
    // leave it behind.
    const count = async () =>
      (
        await db.pool.query<{ runs: number; threads: number; jobs: number }>(
          `select (select count(*)::int from everruns.runs) as runs, (select count(*)::int from everruns.threads) as threads,
                  (select count(*)::int from graphile_worker.jobs) as jobs`,
        )
      ).rows[0]!;
    // earlier runs of this file must be done, or their jobs come and go under the count
    await waitFor(
      "earlier runs to finish",
      async () => (await db.pool.query("select 1 from everruns.runs where status in ('queued', 'running')")).rows.length === 0,
    );
    const before = await count();
    const threadId = randomUUID();
    const res = await postJson(
      `${api.url}/api/runs`,
      {
        agent: "rest-agent",
        input: { ...hello, resume: [{ interruptId: "approval-x", status: "resolved", payload: { approved: true } }] },
        thread_id: threadId,
      },
      api.headers,
    );
    expect(res).toEqual({
      status: 400,
      body: {
        error: {
          code: "invalid_resume",
          message: expect.stringMatching(/^this run answers interrupts \(input\.resume\) but no run on its thread is waiting for an answer/) as unknown,
        },
      },
    });
    expect(await count()).toEqual(before);
    expect((await db.pool.query("select 1 from everruns.threads where id = $1", [threadId])).rows).toEqual([]);
  });
});

describe("API keys", () => {
  it("answers a request without a key, or with a malformed one, 401 JSON, before any route", async () => {
    for (const headers of [{}, { authorization: "Bearer not-a-key" }] as Array<Record<string, string>>) {
      const read = await fetch(`${api.url}/api/runs/00000000-0000-0000-0000-00000000abcd`, { headers });
      expect(read.status).toBe(401);
      expect(await read.json()).toEqual({ error: { code: "unauthenticated", message: expect.any(String) as unknown } });
      const start = await postJson(`${api.url}/api/runs`, { agent: "rest-agent", input: hello }, headers);
      expect(start).toMatchObject({ status: 401, body: { error: { code: "unauthenticated" } } });
      const events = await fetch(`${api.url}/api/runs/00000000-0000-0000-0000-00000000abcd/events`, { headers });
      expect(events.status).toBe(401);
      expect(await events.json()).toMatchObject({ error: { code: "unauthenticated" } });
    }
  });

  it("says whose key a request carries (GET /api/whoami), and keeps a viewer from starting runs (403)", async () => {
    const me = await fetch(`${api.url}/api/whoami`, { headers: api.headers });
    expect(me.status).toBe(200);
    expect(await me.json()).toEqual({ workspace: { id: DEFAULT_WORKSPACE_ID, name: "default" }, role: "admin", key_id: expect.any(String) as unknown });
    const viewer = bearer(await createTestKey(db.url, { role: "viewer" }));
    const res = await postJson<ApiErrorBody>(`${api.url}/api/runs`, { agent: "rest-agent", input: hello }, viewer);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("forbidden");
    // a viewer still reads
    const { body } = await postJson<StartedRunBody>(`${api.url}/api/runs`, { agent: "rest-agent", input: hello }, api.headers);
    expect(await fetch(`${api.url}/api/runs/${body.id}`, { headers: viewer }).then((r) => r.json())).toMatchObject({ id: body.id });
  });
});

describe("GET /api/runs/:id, /healthz, unknown routes", () => {
  it("404s an unknown run and 400s a malformed id, as JSON", async () => {
    const unknown = await fetch(`${api.url}/api/runs/00000000-0000-0000-0000-00000000abcd`, { headers: api.headers });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: { code: "not_found", message: expect.stringMatching(/unknown run/) as unknown } });
    const malformed = await fetch(`${api.url}/api/runs/not-a-uuid`, { headers: api.headers });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toEqual({ error: { code: "invalid_input", message: 'run id must be a UUID, got "not-a-uuid"' } });
  });

  it("answers /healthz with the database's state", async () => {
    const res = await fetch(`${api.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: "ok",
      database: "ok",
      listening: true,
      sse_streams: expect.any(Number) as unknown,
      run_feeds: expect.any(Number) as unknown,
    });
  });

  it("answers an unknown /api route with a JSON 404", async () => {
    const res = await fetch(`${api.url}/api/nothing-here`, { headers: api.headers });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: "not_found" } });
  });
});

describe("GET /api/runs/:id/events (SSE)", () => {
  it("streams a live run from the start to its terminal event: every event once, in order, with id lines", async () => {
    const { body } = await postJson<StartedRunBody>(`${api.url}/api/runs`, { agent: "slow-agent", input: hello }, api.headers);
    const read = await readSse(`${api.url}/api/runs/${body.id}/events`, { headers: api.headers });
    expect(read.status).toBe(200);
    expect(read.contentType).toMatch(/^text\/event-stream/);
    const stored = await getEvents(db.pool, body.id);
    expect(read.events.map((e) => e.seq)).toEqual(stored.map((e) => e.seq));
    expect(read.events.map((e) => e.event)).toEqual(stored.map((e) => e.event));
    expect(read.ids).toEqual(stored.map((e) => String(e.seq)));
    expect(read.events.at(-1)!.type).toBe("RUN_FINISHED");
    await assertValidAgUiLog(read.events);
  });

  it("replays from Last-Event-ID (and ?after=) without repeating what the client has", async () => {
    const { body } = await postJson<StartedRunBody>(`${api.url}/api/runs`, { agent: "rest-agent", input: hello }, api.headers);
    await waitForStatus(db.pool, body.id, ["succeeded"]);
    const stored = await getEvents(db.pool, body.id);
    const fromHeader = await readSse(`${api.url}/api/runs/${body.id}/events`, { headers: { ...api.headers, "Last-Event-ID": "5" } });
    expect(fromHeader.events.map((e) => e.seq)).toEqual(stored.filter((e) => e.seq > 5).map((e) => e.seq));
    const fromQuery = await readSse(`${api.url}/api/runs/${body.id}/events?after=5`, { headers: api.headers });
    expect(fromQuery.events).toEqual(fromHeader.events);
    // the header wins over the query
    const both = await readSse(`${api.url}/api/runs/${body.id}/events?after=1`, { headers: { ...api.headers, "Last-Event-ID": String(stored.length - 1) } });
    expect(both.events.map((e) => e.seq)).toEqual([stored.length]);
    // a client that already has the terminal event gets an empty stream that ends
    const atEnd = await readSse(`${api.url}/api/runs/${body.id}/events`, { headers: { ...api.headers, "Last-Event-ID": String(stored.length) } });
    expect(atEnd.status).toBe(200);
    expect(atEnd.events).toEqual([]);
  });

  it("404s an unknown run and 400s a bad cursor, as JSON", async () => {
    const unknown = await fetch(`${api.url}/api/runs/00000000-0000-0000-0000-00000000abcd/events`, { headers: api.headers });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: "not_found" } });
    const { body } = await postJson<StartedRunBody>(`${api.url}/api/runs`, { agent: "rest-agent", input: hello }, api.headers);
    const bad = await fetch(`${api.url}/api/runs/${body.id}/events`, { headers: { ...api.headers, "Last-Event-ID": "-3" } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: { code: "invalid_input", message: expect.stringMatching(/Last-Event-ID must be an event seq/) as unknown } });
    const badQuery = await fetch(`${api.url}/api/runs/${body.id}/events?after=abc`, { headers: api.headers });
    expect(badQuery.status).toBe(400);
  });

  it("sends heartbeat comments while a run is quiet", async () => {
    const beating = await startTestApi(db.url, { heartbeatMs: 40 });
    try {
      const quiet = await createAgent(db.pool, {
        provider: "scripted",
        tools: ["simulate_work"],
        // quiet for 2 s at a 40 ms heartbeat: ≥ 3 pings even when the stream opens late on a loaded machine
        script: [{ tool_calls: [{ name: "simulate_work", arguments: { ms: 2000 } }] }, { text: "ok" }],
      });
      // the new API has verified the key (and opened a connection) before the run starts: its
      // first request's setup does not eat into the run's quiet time
      expect((await fetch(`${beating.url}/api/whoami`, { headers: beating.headers })).status).toBe(200);
      const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
        quiet,
        JSON.stringify(hello),
      ]);
      const res = await fetch(`${beating.url}/api/runs/${rows[0]!.id}/events`, { headers: beating.headers });
      const text = await res.text();
      expect(text.match(/^: ping$/gm)?.length ?? 0).toBeGreaterThanOrEqual(3);
      expect(text).toMatch(/"type":"RUN_FINISHED"/);
    } finally {
      await beating.close();
    }
  });

  it("keeps every event exactly once when the LISTEN connection is killed mid-run", async () => {
    const { body } = await postJson<StartedRunBody>(`${api.url}/api/runs`, { agent: "slow-agent", input: hello }, api.headers);
    const reconnectsBefore = api.hub.stats.reconnects;
    const reading = readSse(`${api.url}/api/runs/${body.id}/events`, { headers: api.headers });
    await waitFor("the run to start streaming", async () => (await getEvents(db.pool, body.id)).length >= 3);
    const killed = await db.pool.query(
      "select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = 'everruns-api-listen' and datname = current_database()",
    );
    expect(killed.rows).toEqual([{ ok: true }]);
    const read = await reading;
    const stored = await getEvents(db.pool, body.id);
    expect(read.events.map((e) => e.seq)).toEqual(stored.map((e) => e.seq));
    expect(read.events.at(-1)!.type).toBe("RUN_FINISHED");
    await waitUntil("the hub to reconnect", () => api.hub.stats.reconnects > reconnectsBefore && api.hub.listening);
  });
});

describe("POST /api/runs/:id/cancel", () => {
  it("cancels a running run once; its stream ends with RUN_FINISHED (outcome cancelled)", async () => {
    const worky = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["simulate_work"],
      script: [{ tool_calls: [{ name: "simulate_work", arguments: { ms: 30_000 } }] }, { text: "never" }],
    });
    const { body } = await postJson<StartedRunBody>(`${api.url}/api/runs`, { agent: worky, input: hello }, api.headers);
    const reading = readSse(`${api.url}/api/runs/${body.id}/events`, { headers: api.headers });
    await waitFor("the tool step to start", async () => (await getEvents(db.pool, body.id)).some((e) => e.type === "TOOL_CALL_END"));
    const first = await postJson(`${api.url}/api/runs/${body.id}/cancel`, {}, api.headers);
    expect(first).toEqual({ status: 200, body: { id: body.id, cancelled: true, status: "cancelled" } });
    const second = await postJson(`${api.url}/api/runs/${body.id}/cancel`, {}, api.headers);
    expect(second.body).toEqual({ id: body.id, cancelled: false, status: "cancelled" });
    const read = await reading;
    expect(read.events.at(-1)).toMatchObject({ type: "RUN_FINISHED", event: { outcome: { type: "cancelled" } } });
    await assertValidAgUiLog(read.events);
  });

  it("404s cancelling an unknown run", async () => {
    const res = await postJson(`${api.url}/api/runs/00000000-0000-0000-0000-00000000abcd/cancel`, {}, api.headers);
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ error: { code: "not_found", message: expect.stringMatching(/unknown run/) as unknown } });
  });
});

describe("POST /api/runs/:id/signals", () => {
  it("wakes a run waiting for that event, keeps one nobody waits for yet, and validates its body", async () => {
    const waiter = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["wait_for_event"],
      script: [{ tool_calls: [{ name: "wait_for_event", arguments: { name: "paid", timeout_seconds: 3600 } }] }, { text: "shipped" }],
    });
    const { body: run } = await postJson<StartedRunBody>(`${api.url}/api/runs`, { agent: waiter, input: hello }, api.headers);
    await waitForStatus(db.pool, run.id, ["waiting"]);
    const early = await postJson(`${api.url}/api/runs/${run.id}/signals`, { name: "refund" }, api.headers);
    expect(early).toEqual({ status: 201, body: { id: run.id, name: "refund", woke: false } });
    const paid = await postJson(`${api.url}/api/runs/${run.id}/signals`, { name: "paid", payload: { amount: 42 } }, api.headers);
    expect(paid).toEqual({ status: 201, body: { id: run.id, name: "paid", woke: true } });
    expect((await waitForStatus(db.pool, run.id, ["succeeded", "failed"])).output).toEqual({ text: "shipped" });

    for (const [bad, message] of [
      [{}, /^invalid event: name: /],
      [{ name: "" }, /^invalid event: name: must name the event/],
      [{ name: "x", extra: 1 }, /^invalid event: .*extra/],
    ] as const) {
      const res = await postJson<ApiErrorBody>(`${api.url}/api/runs/${run.id}/signals`, bad, api.headers);
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(message);
    }
    const finished = await postJson(`${api.url}/api/runs/${run.id}/signals`, { name: "paid" }, api.headers);
    expect(finished).toEqual({
      status: 400,
      body: {
        error: { code: "not_receiving_events", message: expect.stringMatching(/has finished \(succeeded\); it can no longer receive events/) as unknown },
      },
    });
    const unknown = await postJson(`${api.url}/api/runs/00000000-0000-0000-0000-00000000abcd/signals`, { name: "paid" }, api.headers);
    expect(unknown.status).toBe(404);
  });
});

describe("POST /api/runs/:id/resume", () => {
  it("validates its body", async () => {
    const { body } = await postJson<StartedRunBody>(`${api.url}/api/runs`, { agent: "rest-agent", input: hello }, api.headers);
    expect((await postJson(`${api.url}/api/runs/${body.id}/resume`, {}, api.headers)).body).toEqual({
      error: { code: "invalid_input", message: expect.stringMatching(/^invalid resume request: resume: /) as unknown },
    });
    expect((await postJson(`${api.url}/api/runs/${body.id}/resume`, { resume: [] }, api.headers)).body).toEqual({
      error: { code: "invalid_input", message: "invalid resume request: resume: must answer at least one interrupt" },
    });
  });

  it("answers with a clear JSON error when the run cannot be resumed", async () => {
    const { body } = await postJson<StartedRunBody>(`${api.url}/api/runs`, { agent: "rest-agent", input: hello }, api.headers);
    await waitForStatus(db.pool, body.id, ["succeeded"]);
    const res = await postJson(`${api.url}/api/runs/${body.id}/resume`, { resume: [{ interruptId: "x", status: "resolved" }] }, api.headers);
    // a run that is not interrupted cannot be resumed (EV008), and nothing was started
    expect(res).toEqual({
      status: 400,
      body: { error: { code: "invalid_resume", message: `run ${body.id} is not waiting for an answer (status succeeded)` } },
    });
    expect((await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs where parent_run_id = $1", [body.id])).rows[0]!.n).toBe(0);
  });
});
