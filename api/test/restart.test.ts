// A client following a long run while the API process is kill -9'd and restarted twice: the
// reconnecting client (client/index.ts) resumes with Last-Event-ID each time and ends with every
// event of the run exactly once, in order.
import { afterAll, beforeAll, expect, it } from "vitest";
import type { ChildProcess } from "node:child_process";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { createAgent, createTestDatabase, getEvents, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { FollowError, followRunEvents, type RunEvent } from "../../client/index.ts";
import { bearer, createTestKey, freePort, kill9, postJson, spawnApi, waitUntil, type StartedRunBody } from "./helpers.ts";
import { sleep } from "../../lib/sleep.ts";

let db: TestDatabase;
let worker: WorkerHandle;
let api: ChildProcess | null = null;
/** An admin key of the default workspace, for every API process of this file (they share the database). */
let headers: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startWorker({ databaseUrl: db.url, concurrency: 2, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "error") });
  headers = bearer(await createTestKey(db.url));
});

afterAll(async () => {
  if (api) await kill9(api);
  await worker?.stop();
  await db?.drop();
});

it("a following client survives two kill -9 restarts of the API and gets every event exactly once, in order", async () => {
  const turns = Array.from({ length: 10 }, (_, i) => ({
    text: `Turn ${i}: ${"word ".repeat(20)}`,
    delay_ms: 350,
    tool_calls: [{ name: "echo", arguments: { turn: i } }],
  }));
  const agentId = await createAgent(db.pool, {
    provider: "scripted",
    tools: ["echo"],
    max_steps: 100,
    script: [...turns, { text: "The end.", delay_ms: 200 }],
  });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  api = await spawnApi(db.url, port);
  const started = await postJson<StartedRunBody>(`${url}/api/runs`, { agent: agentId, input: { messages: [{ role: "user", content: "go" }] } }, headers);
  expect(started.status).toBe(201);
  const runId = started.body.id;

  const received: RunEvent[] = [];
  const reconnects: Array<{ after: number; reason: string }> = [];
  // every request the client makes: the Last-Event-ID it sent, and the last seq it had then
  const requests: Array<{ lastEventId: string | null; had: number }> = [];
  const recordingFetch: typeof fetch = (input, init) => {
    requests.push({ lastEventId: new Headers(init?.headers).get("last-event-id"), had: received.at(-1)?.seq ?? 0 });
    return fetch(input, init);
  };
  const following = (async () => {
    for await (const e of followRunEvents(url, runId, {
      retryDelayMs: 50,
      maxRetryDelayMs: 200,
      fetch: recordingFetch,
      headers,
      onReconnect: (info) => reconnects.push(info),
    })) {
      received.push(e);
    }
  })();

  for (let restart = 1; restart <= 2; restart++) {
    const seen = received.length;
    await waitUntil(`more events before kill ${restart}`, () => received.length >= seen + 8, 20_000);
    await kill9(api);
    await sleep(300); // the API stays down while the run goes on
    api = await spawnApi(db.url, port);
  }
  await following;

  const stored = await getEvents(db.pool, runId);
  expect(received.at(-1)!.type).toBe("RUN_FINISHED");
  expect(received.map((e) => e.seq)).toEqual(stored.map((e) => e.seq)); // 1..N: no gap, no duplicate
  expect(received.map((e) => e.event)).toEqual(stored.map((e) => e.event));
  await assertValidAgUiLog(received);
  expect(reconnects.length).toBeGreaterThanOrEqual(2);
  // the first request asked for the whole log; every reconnect asked the server to resume
  // exactly after the last event the client had (so the server, not the client's dedupe, kept
  // the stream free of repeats)
  expect(requests.length).toBe(reconnects.length + 1);
  expect(requests[0]!.lastEventId).toBeNull();
  for (const r of requests.slice(1)) expect(r.lastEventId).toBe(String(r.had));
  expect(requests.slice(1).every((r) => r.had > 0)).toBe(true);
  console.log(
    `[restart] ${stored.length} events, ${reconnects.length} reconnect attempts across 2 API kill -9s (resumed after seq ${[...new Set(reconnects.map((r) => r.after))].join(", ")})`,
  );
});

it("the client stops with FollowError on an unknown run instead of retrying", async () => {
  const port = await freePort();
  if (api) await kill9(api);
  api = await spawnApi(db.url, port);
  let requests = 0;
  const countingFetch: typeof fetch = (input, init) => {
    requests++;
    return fetch(input, init);
  };
  const iterate = async () => {
    for await (const _ of followRunEvents(`http://127.0.0.1:${port}`, "00000000-0000-0000-0000-00000000abcd", {
      retryDelayMs: 10,
      fetch: countingFetch,
      headers,
    })) {
      // nothing
    }
  };
  await expect(iterate()).rejects.toThrow(FollowError);
  await expect(iterate()).rejects.toMatchObject({ status: 404, code: "not_found" });
  expect(requests).toBe(2); // one request each: a 404 is not retried
});
