// Event delivery under measurement: latency from commit to an SSE client and to a GraphQL
// subscriber, and how many concurrent SSE clients one API process (a child process here) holds
// while they all still get every event. No worker runs in this file: the test appends the events
// itself, one committed statement each, so it knows each event's commit time.
//
// Absolute times depend on the machine (and on what else runs on it), so no test here gates on
// milliseconds. Latency is judged against a baseline measured in the same run, on the same
// commits: a plain LISTEN connection in this process that reads each announced row the way the
// events hub does. The API can only add its HTTP or websocket hop to that; a hub that polled, or
// batched on a timer, or read the whole log per notification would be many times slower.
import type { ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { createClient } from "graphql-ws";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createAgent, createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { sseMessages } from "../../client/index.ts";
import { listen } from "../../db/sql/listen.ts";
import { readRunEvents } from "../../db/sql/readRunEvents.ts";
import { createTestKey, freePort, kill9, percentile, spawnApi, waitUntil } from "./helpers.ts";
import { sleep } from "../../lib/sleep.ts";

let db: TestDatabase;
let api: ChildProcess;
let url: string;
let agentId: string;
/** An admin key of the default workspace, where the test's runs are. */
let key: string;

const WORKSPACE = "00000000-0000-0000-0000-000000000001";

beforeAll(async () => {
  db = await createTestDatabase();
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  api = await spawnApi(db.url, port);
  key = await createTestKey(db.url);
  agentId = await createAgent(db.pool, { provider: "scripted", script: [{ text: "unused" }] });
});

afterAll(async () => {
  if (api) await kill9(api);
  await db?.drop();
});

async function newRun(): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
    agentId,
    JSON.stringify({ messages: [{ role: "user", content: "x" }] }),
  ]);
  return rows[0]!.id;
}

/** Appends one event in its own statement (and transaction); resolves when the commit is acknowledged. */
async function append(runId: string, seq: number, type = "CUSTOM"): Promise<void> {
  const event = type === "CUSTOM" ? { type, name: "tick", value: seq } : { type, threadId: runId, runId };
  await db.pool.query(
    `insert into everruns.run_events (run_id, seq, workspace_id, type, event, run_created_at)
     values ($1, $2, $3, $4, $5, (select everruns_private.run_partition_key(r.created_at, r.legacy_history) from everruns.runs r where r.id = $1))`,
    [runId, seq, WORKSPACE, type, JSON.stringify(event)],
  );
}

interface Reader {
  opened: Promise<void>;
  done: Promise<number[]>;
}

function sseReader(runId: string, onEvent?: (seq: number) => void): Reader {
  let opened!: () => void;
  const openedP = new Promise<void>((r) => (opened = r));
  const done = (async () => {
    const res = await fetch(`${url}/api/runs/${runId}/events`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    opened();
    const seqs: number[] = [];
    for await (const message of sseMessages(res.body!)) {
      const seq = Number(message.id);
      seqs.push(seq);
      onEvent?.(seq);
    }
    return seqs;
  })();
  return { opened: openedP, done };
}

/**
 * How many baselines the API may add at the median (its hop is about 1-3 on an idle machine).
 * Generous for loaded CI machines, yet a hub that polled, or batched on a timer, even every
 * 50 ms, lands far above it.
 */
const LATENCY_RATIO = 20;

const fmt = (xs: number[]) =>
  `p50 ${percentile(xs, 50).toFixed(2)} ms, p99 ${percentile(xs, 99).toFixed(2)} ms, max ${Math.max(...xs).toFixed(2)} ms (n=${xs.length})`;

/**
 * The baseline: LISTEN on everruns:events in this process and, per notification of `runId`, read
 * the new rows (db/sql/readRunEvents, the hub's own query); records when each row was in hand.
 */
async function baselineReader(runId: string, at: Map<number, number>): Promise<{ close(): Promise<void> }> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const reader = new pg.Client({ connectionString: db.url });
  await reader.connect();
  let fetched = 0;
  let reading = Promise.resolve();
  client.on("notification", (msg) => {
    if (!msg.payload?.startsWith(`${runId}:`)) return;
    reading = reading.then(async () => {
      for (const row of await readRunEvents(reader, runId, fetched, 500)) {
        at.set(row.seq, performance.now());
        fetched = row.seq;
      }
    });
  });
  await listen(client, ["everruns:events"]);
  return {
    async close() {
      await reading;
      await client.end();
      await reader.end();
    },
  };
}

it("event latency: every event reaches an SSE client and a GraphQL subscriber once, in order, about as fast as a bare LISTEN reader", async () => {
  const runId = await newRun();
  const committedAt = new Map<number, number>();
  const baseAt = new Map<number, number>();
  const sseAt = new Map<number, number>();
  const gqlAt = new Map<number, number>();
  const gqlSeqs: number[] = [];

  const baseline = await baselineReader(runId, baseAt);
  const sse = sseReader(runId, (seq) => sseAt.set(seq, performance.now()));
  const ws = createClient({
    url: `${url.replace(/^http/, "ws")}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: { authorization: `Bearer ${key}` },
  });
  const gql = (async () => {
    for await (const r of ws.iterate<{ runEvents: { seq: number } }>({
      query: `subscription ($id: UUID!) { runEvents(runId: $id) { seq } }`,
      variables: { id: runId },
    })) {
      gqlSeqs.push(r.data!.runEvents.seq);
      gqlAt.set(r.data!.runEvents.seq, performance.now());
    }
  })();
  await sse.opened;
  // warm-up: every reader is live once it has seen event 1
  await append(runId, 1, "RUN_STARTED");
  await waitUntil("every reader to be live", () => sseAt.has(1) && gqlAt.has(1) && baseAt.has(1), 10_000, 2);

  const N = 300;
  const roundTrips: number[] = [];
  for (let seq = 2; seq <= N; seq++) {
    const t0 = performance.now();
    await append(runId, seq);
    committedAt.set(seq, performance.now());
    roundTrips.push(committedAt.get(seq)! - t0);
    await sleep(3);
  }
  await append(runId, N + 1, "RUN_FINISHED");
  const seqs = await sse.done;
  await gql;
  await ws.dispose();
  await baseline.close();

  // every event, exactly once, in order, to both kinds of subscriber (and the stream then ended)
  const all = Array.from({ length: N + 1 }, (_, i) => i + 1);
  expect(seqs).toEqual(all);
  expect(gqlSeqs).toEqual(all);
  expect([...baseAt.keys()].sort((a, b) => a - b)).toEqual(all);

  // An event can reach a reader before the appending client has its commit acknowledged, so a
  // latency may be slightly negative; what matters is the median against the baseline's.
  const since = (at: Map<number, number>) => [...committedAt].map(([seq, t]) => at.get(seq)! - t);
  const base = since(baseAt);
  const sseLatency = since(sseAt);
  const gqlLatency = since(gqlAt);
  console.log(`[latency] append round trip:            ${fmt(roundTrips)}`);
  console.log(`[latency] commit → bare LISTEN reader:     ${fmt(base)}`);
  console.log(`[latency] commit → SSE client:          ${fmt(sseLatency)}`);
  console.log(`[latency] commit → GraphQL subscriber:  ${fmt(gqlLatency)}`);
  // The unit: the slower of the bare reader's median latency and the median round trip of an
  // append, both measured on these very commits.
  const unit = Math.max(percentile(base, 50), percentile(roundTrips, 50));
  console.log(`[latency] p50 / baseline: SSE ${(percentile(sseLatency, 50) / unit).toFixed(1)}×, GraphQL ${(percentile(gqlLatency, 50) / unit).toFixed(1)}×`);
  expect(percentile(sseLatency, 50)).toBeLessThan(LATENCY_RATIO * unit);
  expect(percentile(gqlLatency, 50)).toBeLessThan(LATENCY_RATIO * unit);
});

it("concurrent SSE clients: one API process holds them all and every client gets every event", async () => {
  const CLIENTS = Number(process.env.EVERRUNS_SSE_CLIENTS ?? 2000);
  const RUNS = 10;
  const EVENTS = 20;
  const runs = await Promise.all(Array.from({ length: RUNS }, () => newRun()));
  const t0 = performance.now();
  const readers: Array<{ runId: string; reader: Reader }> = [];
  for (let i = 0; i < CLIENTS; i++) {
    const runId = runs[i % RUNS]!;
    readers.push({ runId, reader: sseReader(runId) });
    if (i % 200 === 199) await Promise.all(readers.slice(-200).map((r) => r.reader.opened)); // open in waves
  }
  await Promise.all(readers.map((r) => r.reader.opened));
  const connectMs = performance.now() - t0;
  const health = (await fetch(`${url}/healthz`).then((r) => r.json())) as { sse_streams: number; run_feeds: number };
  expect(health.sse_streams).toBe(CLIENTS);
  expect(health.run_feeds).toBe(RUNS);

  const t1 = performance.now();
  for (let seq = 1; seq <= EVENTS; seq++) {
    await Promise.all(runs.map((runId) => append(runId, seq, seq === 1 ? "RUN_STARTED" : "CUSTOM")));
  }
  await Promise.all(runs.map((runId) => append(runId, EVENTS + 1, "RUN_FINISHED")));
  const results = await Promise.all(readers.map((r) => r.reader.done));
  const deliverMs = performance.now() - t1;
  const expected = Array.from({ length: EVENTS + 1 }, (_, i) => i + 1);
  const complete = results.filter((seqs) => seqs.length === expected.length && seqs.every((s, i) => s === expected[i])).length;
  expect(complete).toBe(CLIENTS);
  console.log(
    `[sse] ${CLIENTS} concurrent SSE clients on ${RUNS} runs held by one API process: all connected in ${connectMs.toFixed(0)} ms; ` +
      `${(EVENTS + 1) * RUNS} events → ${(EVENTS + 1) * CLIENTS} deliveries, all received in ${deliverMs.toFixed(0)} ms; ${complete}/${CLIENTS} clients got every event exactly once`,
  );
  // the API process' peak resident memory (VmHWM: since it started, so over this file's tests: the peak is while the 2,000 clients were connected)
  const status = await readFile(`/proc/${api.pid}/status`, "utf8").catch(() => null);
  const peakKiB = status ? Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1]) : NaN;
  const rssKiB = status ? Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) : NaN;
  if (Number.isFinite(peakKiB)) {
    console.log(`[sse] API process peak RSS (VmHWM) ${(peakKiB / 1024).toFixed(0)} MiB; RSS ${(rssKiB / 1024).toFixed(0)} MiB once their streams ended`);
    expect(peakKiB).toBeLessThan(4 * 1024 * 1024); // a generous bound: 4 GiB
  }
});
