// Deferred notifications (000017, issue 23): a worker step statement that defers its
// notifications sends none with its commit and returns exactly those it would have sent; without
// the option nothing changes; sendNotifications delivers them; the worker's Notifier coalesces
// them and survives a database it cannot reach.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool } from "../pool.ts";
import { appendEvents, type AgUiEvent } from "../sql/appendEvents.ts";
import { beginStep, type BegunStep } from "../sql/beginStep.ts";
import { commitStep, commitStepAndBeginNext, type StepRecord } from "../sql/commitStep.ts";
import { parseNotifications, sendNotifications, type Notification } from "../sql/deferredNotifications.ts";
import { rescheduleStep } from "../sql/rescheduleStep.ts";
import { listen } from "../sql/listen.ts";
import type { Logger } from "../../lib/logger.ts";
import { Notifier } from "../../worker/notifier.ts";
import { createAgent, createTestDatabase, getRun, startRun, waitFor, type TestDatabase } from "./helpers.ts";

const CHANNELS = ["everruns:events", "everruns:runs"];

let db: TestDatabase;
let agentId: string;
/** the LISTEN connection: every notification on both channels, in order */
let listener: pg.Client;
let heard: Notification[] = [];
/** one connection for every step statement, so a deferral leaking into the next transaction would show */
let session: pg.Client;
let sentinels = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  agentId = await createAgent(db.pool, { provider: "scripted", script: [{ text: "hi" }] });
  listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  listener.on("notification", (msg) => heard.push({ channel: msg.channel, payload: msg.payload ?? "" }));
  await listen(listener, [...CHANNELS, "probe"]);
  session = new pg.Client({ connectionString: db.url });
  await session.connect();
});
afterAll(async () => {
  await session?.end();
  await listener?.end();
  await db?.drop();
});

/**
 * What the listener heard since the last call. A sentinel sent from another transaction after the
 * statements under test marks the end: Postgres delivers notifications in commit order, so any
 * notification of those statements arrives before it (no waiting on the clock).
 */
async function drain(): Promise<Notification[]> {
  const mark = `sentinel:${++sentinels}`;
  await db.pool.query("select pg_notify('probe', $1)", [mark]);
  await waitFor(`the listener to hear ${mark}`, () => heard.some((n) => n.channel === "probe" && n.payload === mark));
  const got = heard.filter((n) => n.channel !== "probe");
  heard = [];
  return got;
}

const retryNotice: AgUiEvent = { type: "CUSTOM", name: "everruns.retry", value: { step: 1, attempt: 1, error: "transient" } };
const llmStep: StepRecord = { kind: "llm", name: "scripted", status: "succeeded", input: {}, output: { text: "hi" } };

/**
 * One step statement of the scenario, on `runId`; `defer` passes the option. Returns the
 * notifications it returned (empty when it did not defer).
 */
type Phase = (runId: string, defer: boolean, state: { begun?: BegunStep | null }) => Promise<Notification[]>;

const phases: Array<[string, Phase]> = [
  [
    "begin_step (queued → running)",
    async (runId, defer, state) => {
      if (!defer) {
        state.begun = await beginStep(session, runId);
        return [];
      }
      const r = await beginStep(session, runId, { deferNotifications: true });
      state.begun = r.begun;
      return r.notifications;
    },
  ],
  [
    "append_events (the step's name)",
    async (runId, defer) => {
      const events: AgUiEvent[] = [
        { type: "RUN_STARTED", threadId: "t", runId },
        { type: "STEP_STARTED", stepName: "step 1: llm scripted" },
      ];
      if (!defer) {
        expect(await appendEvents(session, runId, 1, 1, events)).toBe(2);
        return [];
      }
      const r = await appendEvents(session, runId, 1, 1, events, { deferNotifications: true });
      expect(r.last).toBe(2);
      return r.notifications;
    },
  ],
  [
    "reschedule_step (a retry)",
    async (runId, defer) => {
      const r = await rescheduleStep(session, runId, 1, 1, 0, true, [retryNotice], undefined, defer ? { deferNotifications: true } : undefined);
      expect(r.rescheduled).toBe(true);
      return r.notifications;
    },
  ],
  [
    "begin_step (a second attempt)",
    async (runId, defer, state) => {
      const r = await beginStep(session, runId, { deferNotifications: defer });
      state.begun = r.begun;
      expect(r.begun?.run.step_attempt).toBe(2);
      return r.notifications;
    },
  ],
  [
    "append_events (the second attempt's step name)",
    async (runId, defer) =>
      (await appendEvents(session, runId, 1, 2, [{ type: "STEP_STARTED", stepName: "step 1: llm scripted" }], { deferNotifications: defer })).notifications,
  ],
  [
    "commit_step_and_begin_next (job not held: committed, next step enqueued)",
    async (_runId, defer, state) => {
      const r = await commitStepAndBeginNext(
        session,
        state.begun!,
        llmStep,
        [{ type: "STEP_FINISHED", stepName: "step 1: llm scripted" }],
        { id: "0", locked_by: "nobody" },
        {
          deferNotifications: defer,
        },
      );
      expect(r).toMatchObject({ committed: true, next: null });
      return r.notifications;
    },
  ],
  [
    "begin_step (step 2: nothing to notify)",
    async (runId, defer, state) => {
      const r = await beginStep(session, runId, { deferNotifications: defer });
      state.begun = r.begun;
      expect(r.begun?.run.step_cursor).toBe(2);
      return r.notifications;
    },
  ],
  [
    "commit_step (succeed)",
    async (runId, defer) => {
      const r = await commitStep(
        session,
        runId,
        2,
        1,
        { ...llmStep, name: "final" },
        [{ type: "RUN_FINISHED", threadId: "t", runId }],
        { type: "succeed", output: { text: "hi" } },
        undefined,
        defer ? { deferNotifications: true } : undefined,
      );
      expect(r.committed).toBe(true);
      return r.notifications;
    },
  ],
];

describe("a step statement with deferNotifications", () => {
  const deferred: Notification[][] = [];

  it("sends nothing with its commit and returns exactly what the same statement sends without it", async () => {
    const plainRun = await startRun(db.pool, agentId);
    const deferredRun = await startRun(db.pool, agentId);
    await drain(); // the runs' own start notifications
    const plainState = {};
    const deferredState = {};
    const asDeferredRun = (list: Notification[]) => list.map((n) => ({ ...n, payload: n.payload.replaceAll(plainRun, deferredRun) }));
    let notified = 0;
    for (const [name, phase] of phases) {
      // today's behaviour: the notifications arrive with the commit, none are returned
      expect(await phase(plainRun, false, plainState), name).toEqual([]);
      const sent = await drain();
      // deferred: nothing arrives, the same ones (for the other run) are returned
      const returned = await phase(deferredRun, true, deferredState);
      expect(await drain(), `${name}: a deferred statement notified`).toEqual([]);
      expect(returned, name).toEqual(asDeferredRun(sent));
      deferred.push(returned);
      notified += sent.length;
    }
    // the scenario did notify (on both channels), and both runs ended the same way
    expect(notified).toBeGreaterThan(8);
    expect(new Set(deferred.flat().map((n) => n.channel))).toEqual(new Set(CHANNELS));
    expect((await getRun(db.pool, plainRun)).status).toBe("succeeded");
    expect((await getRun(db.pool, deferredRun)).status).toBe("succeeded");
  });

  it("sendNotifications delivers them (Postgres folds a transaction's duplicates, as at a commit)", async () => {
    const list = deferred.flat();
    expect(list.length).toBeGreaterThan(0);
    await sendNotifications(db.pool, list);
    const distinct = [...new Map(list.map((n) => [`${n.channel} ${n.payload}`, n])).values()];
    expect(await drain()).toEqual(distinct);
    await sendNotifications(db.pool, []); // nothing to send: no transaction
    expect(await drain()).toEqual([]);
  });

  it("a deferred statement that fails sends nothing and leaves the session notifying as before", async () => {
    const runId = await startRun(db.pool, agentId);
    await drain();
    await expect(appendEvents(session, runId, 1, 7, [{ type: "RUN_STARTED" }], { deferNotifications: true })).rejects.toThrow();
    expect(await drain()).toEqual([]);
    await beginStep(session, runId);
    expect((await drain()).map((n) => n.channel)).toEqual(["everruns:runs"]);
  });

  it("parses the setting's lines", () => {
    expect(parseNotifications(null)).toEqual([]);
    expect(parseNotifications("")).toEqual([]);
    expect(parseNotifications("everruns:events a:1\neverruns:runs a:w")).toEqual([
      { channel: "everruns:events", payload: "a:1" },
      { channel: "everruns:runs", payload: "a:w" },
    ]);
  });
});

describe("as a worker's role (granted everruns_worker, neither owner nor superuser)", () => {
  // roles are global to the cluster: a random suffix, dropped afterwards (hex, never input)
  const role = `ev_dn_worker_${randomBytes(4).toString("hex")}`;
  let worker: pg.Client | null = null;
  afterAll(async () => {
    await worker?.end().catch(() => undefined);
    await db.pool.query(`drop owned by ${role}`).catch(() => undefined);
    await db.pool.query(`drop role if exists ${role}`);
  });

  it("may defer, and its deferred and plain statements return and send as the owner's do", async () => {
    await db.pool.query(`create role ${role} login nosuperuser bypassrls in role everruns_worker`);
    const url = new URL(db.url);
    url.username = role;
    worker = new pg.Client({ connectionString: url.toString() });
    await worker.connect();
    const runId = await startRun(db.pool, agentId);
    await drain();
    const begun = await beginStep(worker, runId, { deferNotifications: true });
    expect(await drain()).toEqual([]);
    expect(begun.notifications).toEqual([{ channel: "everruns:runs", payload: expect.stringMatching(new RegExp(`^${runId}:`)) as unknown }]);
    // the plain path goes through notify() too (the triggers fire with the worker's rights)
    await appendEvents(worker, runId, 1, 1, [{ type: "STEP_STARTED", stepName: "step 1: llm scripted" }]);
    expect((await drain()).map((n) => n.channel)).toEqual(["everruns:events", "everruns:runs"]);
  });
});

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (message: string) => lines.push(`${level}: ${message}`);
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

describe("Notifier", () => {
  it("coalesces many adds into few sends and delivers every run's highest seq", async () => {
    await drain();
    const notifier = new Notifier({ pool: db.pool, log: recordingLogger(), windowMs: 5 });
    const runs = Array.from({ length: 10 }, (_, i) => `00000000-0000-0000-0000-00000000000${i}`);
    const adds = 500;
    for (let i = 0; i < adds; i++) {
      const run = runs[i % runs.length]!;
      notifier.add([
        { channel: "everruns:events", payload: `${run}:${i + 1}` },
        { channel: "everruns:runs", payload: `${run}:ws` },
      ]);
      // let sends start and finish in between, as commits arriving over time would. A send starts
      // on the Notifier's one timer, armed again only once the previous send's I/O has ended: so
      // at most one send starts per gap (setImmediate: one turn of the event loop) and one at
      // stop, adds / 50 + 1 in all, whatever the clock says
      if (i % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
    }
    await notifier.stop();
    const got = await drain();
    expect(notifier.stats.dropped).toBe(0);
    expect(notifier.stats.sent).toBe(got.length);
    expect(notifier.stats.batches).toBeGreaterThan(0);
    expect(notifier.stats.batches).toBeLessThanOrEqual(adds / 50 + 1);
    // each run's last event seq, and its runs notification, reached the listener
    for (const [i, run] of runs.entries()) {
      const seqs = got.filter((n) => n.channel === "everruns:events" && n.payload.startsWith(`${run}:`)).map((n) => Number(n.payload.split(":")[1]));
      expect(Math.max(...seqs), run).toBe(adds - (runs.length - 1 - i));
      expect(got.some((n) => n.channel === "everruns:runs" && n.payload === `${run}:ws`)).toBe(true);
    }
    // deduped within each send: at most one of each run per channel
    expect(got.length).toBeLessThanOrEqual(notifier.stats.batches * runs.length * 2);
    // stopped: refuses more
    expect(notifier.add([{ channel: "everruns:runs", payload: "late:ws" }])).toBe(false);
    expect(notifier.stats.dropped).toBe(1);
  });

  it("a notifier whose database cannot be reached drops and logs (one line) and never throws", async () => {
    const url = new URL(db.url);
    url.pathname = "/everruns_no_such_database";
    const pool = createPool(url.toString(), "everruns-test-notifier", 2);
    const log = recordingLogger();
    const notifier = new Notifier({ pool, log, windowMs: 1 });
    try {
      for (let i = 0; i < 5; i++) {
        expect(notifier.add([{ channel: "everruns:runs", payload: `r${i}:ws` }])).toBe(true);
        await notifier.flush();
      }
      await notifier.stop();
    } finally {
      await pool.end();
    }
    expect(notifier.stats).toEqual({ sent: 0, batches: 0, dropped: 5 });
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatch(/^warn: could not send 1 deferred notification\(s\): .*no_such_database/);
  });
});
