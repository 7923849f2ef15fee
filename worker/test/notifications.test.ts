// Outbound notifications (issue 16): a run's or a batch's end is POSTed, signed per Standard
// Webhooks, to the workspace's endpoints by the `deliver_notification` task
// (worker/tasks/deliver_notification.ts), through the egress guard, retried with backoff, and
// survives kill -9 of the worker sending it. Everything real: Postgres, worker processes, and an
// HTTP receiver on loopback (EVERRUNS_EGRESS_ALLOW in vitest.config.ts allows 127.0.0.1, not
// 127.0.0.2) that verifies every signature with the `standardwebhooks` package and
// de-duplicates by webhook-id, as a receiver should. A worker process sends at most
// EVERRUNS_NOTIFY_MAX_IN_FLIGHT deliveries at once, and a dedicated worker sends none.
import { randomBytes } from "node:crypto";
import http from "node:http";
import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, startRun, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { setSecret } from "../../db/sql/setSecret.ts";
import { freePort } from "../../lib/free-port.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { sleep } from "../../lib/sleep.ts";
import { generateSecret } from "../../lib/webhook-signatures.ts";
import { ConfigError } from "../../db/errors.ts";
import { startWorker, type WorkerHandle, type WorkerOptions } from "../main.ts";
import { DEFAULT_NOTIFY_MAX_IN_FLIGHT, notificationMessageId, notifyMaxInFlightFromEnv } from "../tasks/deliver_notification.ts";
import { spawnWorker, type WorkerProcess } from "./worker-process.ts";

const log = consoleLogger("[test-notify]", "warn");
// EVERRUNS_SECRET_KEY: for the secrets set below, the in-process worker and the spawned ones
const key = randomBytes(32);
process.env.EVERRUNS_SECRET_KEY = key.toString("base64");
const SECRET_NAME = "notify-signing";
const signingSecret = generateSecret("standard");

let db: TestDatabase;
let engine: WorkerHandle | undefined;
const receivers = new Set<Receiver>();
const processes = new Set<WorkerProcess>();

beforeAll(async () => {
  db = await createTestDatabase();
  await setSecret(db.pool, { name: SECRET_NAME, value: signingSecret, key });
});

afterEach(async () => {
  await db.pool.query("update everruns_private.clock_offset set offset_by = interval '0'");
});

afterAll(async () => {
  for (const w of processes) w.child.kill("SIGKILL");
  await Promise.all([...processes].map((w) => w.exited));
  await engine?.stop();
  for (const r of receivers) await r.close();
  await db?.drop();
});

// ---- the receiver ----

interface Received {
  webhookId: string;
  headers: Record<string, string>;
  body: string;
  /** the requests of this webhook-id before this one */
  nth: number;
}

/** What the receiver does with a request: answer a status, or hold it open for `ms` and then answer 200. */
type Answer = number | { holdMs: number };

/** A Standard Webhooks receiver: verifies, de-duplicates by webhook-id, answers as told; can go down and come back on its port. */
class Receiver {
  readonly requests: Received[] = [];
  /** webhook-id → the verified payload, for each id a 2xx answer reached the sender's socket */
  readonly accepted = new Map<string, Record<string, unknown>>();
  /** webhook-id → how many 2xx answers reached the sender's socket (at-least-once: may exceed 1) */
  readonly acceptedCount = new Map<string, number>();
  /** requests whose signature did not verify */
  readonly rejected: string[] = [];
  /** held requests still open */
  held = 0;
  /** the most held requests open at once */
  maxHeld = 0;
  answer: (r: Received) => Answer = () => 200;
  private server: http.Server | null = null;
  private readonly seen = new Map<string, number>();

  readonly host: string;
  readonly port: number;

  constructor(host: string, port: number) {
    this.host = host;
    this.port = port;
  }

  static async start(host = "127.0.0.1"): Promise<Receiver> {
    const r = new Receiver(host, await freePort());
    await r.up();
    receivers.add(r);
    return r;
  }

  get url(): string {
    return `http://${this.host}:${this.port}/hooks/everruns`;
  }

  up(): Promise<void> {
    const server = http.createServer((req, res) => this.handle(req, res));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, this.host, () => resolve());
    });
  }

  /** Down: the port refuses connections, and kept-alive ones are closed. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The distinct webhook-ids answered 2xx. */
  ids(): string[] {
    return [...this.accepted.keys()];
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : (v ?? "")]));
      const webhookId = headers["webhook-id"] ?? "";
      const nth = this.seen.get(webhookId) ?? 0;
      this.seen.set(webhookId, nth + 1);
      const received: Received = { webhookId, headers, body, nth };
      this.requests.push(received);
      let payload: Record<string, unknown>;
      try {
        payload = new Webhook(signingSecret).verify(body, headers) as Record<string, unknown>;
      } catch (error) {
        this.rejected.push(`${webhookId}: ${(error as Error).message}`);
        res.writeHead(401).end();
        return;
      }
      const answer = this.answer(received);
      const reply = (status: number) => {
        if (res.destroyed) return;
        // counted once the answer is written to the sender's socket
        if (status >= 200 && status < 300)
          res.on("finish", () => {
            this.accepted.set(webhookId, payload);
            this.acceptedCount.set(webhookId, (this.acceptedCount.get(webhookId) ?? 0) + 1);
          });
        res.writeHead(status, { "content-type": "text/plain" }).end(status >= 300 ? "not now" : "ok");
      };
      if (typeof answer === "number") {
        reply(answer);
        return;
      }
      this.held++;
      this.maxHeld = Math.max(this.maxHeld, this.held);
      const timer = setTimeout(() => reply(200), answer.holdMs);
      res.on("close", () => {
        this.held--;
        clearTimeout(timer);
      });
    });
  }
}

// ---- workers ----

/** A worker pool in this process (worker/main.ts): it runs the runs' steps and delivers their notifications. */
async function ensureEngine(): Promise<void> {
  engine ??= await startWorker({ databaseUrl: db.url, concurrency: 8, shutdownTimeoutMs: 5000, log });
}

// ---- the database ----

async function createEndpoint(
  url: string,
  options: { events?: string[]; agentId?: string; retryInitialSeconds?: number; secretName?: string } = {},
): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    `insert into everruns.notification_endpoints (name, url, events, agent_id, secret_name, retry_initial_seconds)
     values ($1, $2, $3, $4, $5, $6) returning id`,
    [
      `ep-${randomBytes(4).toString("hex")}`,
      url,
      options.events ?? ["run.succeeded", "run.failed"],
      options.agentId ?? null,
      options.secretName ?? SECRET_NAME,
      options.retryInitialSeconds ?? 0.2,
    ],
  );
  return rows[0]!.id;
}

interface Delivery {
  id: string;
  event: string;
  subject_id: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
}

async function deliveriesOf(endpointId: string): Promise<Delivery[]> {
  const { rows } = await db.pool.query<Delivery>(
    "select id, event, subject_id, status, attempts, last_status_code, last_error from everruns.notification_deliveries where endpoint_id = $1 order by created_at, id",
    [endpointId],
  );
  return rows;
}

interface Attempt {
  attempt: number;
  status_code: number | null;
  error: string | null;
  outcome: string | null;
}

async function attemptsOf(deliveryId: string): Promise<Attempt[]> {
  const { rows } = await db.pool.query<Attempt>(
    "select attempt, status_code, error, outcome from everruns.notification_attempts where delivery_id = $1 order by attempt",
    [deliveryId],
  );
  return rows;
}

async function allSettled(endpointId: string, count: number, timeoutMs = 60_000): Promise<Delivery[]> {
  return waitFor(
    `${count} deliveries of endpoint ${endpointId} to be delivered or failed`,
    async () => {
      const ds = await deliveriesOf(endpointId);
      return ds.length === count && ds.every((d) => d.status !== "pending") && ds;
    },
    timeoutMs,
    50,
  );
}

async function quickAgent(text = "done"): Promise<string> {
  return createAgent(db.pool, { provider: "scripted", script: [{ text }] });
}

// ---- the tests ----

describe("notifications", () => {
  it("delivers a run's end, signed per Standard Webhooks, with the run's id, status and output", async () => {
    await ensureEngine();
    const receiver = await Receiver.start();
    const agent = await quickAgent("the answer is 42");
    const endpoint = await createEndpoint(receiver.url, { agentId: agent });

    const runId = await startRun(db.pool, agent, "notify me");
    await waitForStatus(db.pool, runId, ["succeeded"]);
    const [delivery] = await allSettled(endpoint, 1);
    expect(delivery).toMatchObject({ event: "run.succeeded", subject_id: runId, status: "delivered", attempts: 1, last_status_code: 200 });

    const webhookId = notificationMessageId(delivery!.id);
    expect(webhookId).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(receiver.rejected).toEqual([]);
    expect(receiver.requests).toHaveLength(1);
    const request = receiver.requests[0]!;
    expect(request.webhookId).toBe(webhookId);
    expect(request.headers["content-type"]).toBe("application/json");
    expect(request.headers["user-agent"]).toBe("everruns-notify");
    expect(Math.abs(Number(request.headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(60);
    // verified with the package, not with our own code
    const payload = receiver.accepted.get(webhookId)!;
    expect(payload).toMatchObject({
      type: "run.succeeded",
      timestamp: expect.any(String) as unknown,
      data: { run_id: runId, status: "succeeded", output: { text: "the answer is 42" }, agent_id: agent },
    });
    expect(Number.isFinite(Date.parse(payload.timestamp as string))).toBe(true);
    // the bytes signed are the bytes sent: another secret does not verify them
    expect(() => new Webhook(generateSecret("standard")).verify(request.body, request.headers)).toThrow();
    expect(await attemptsOf(delivery!.id)).toEqual([{ attempt: 1, status_code: 200, error: null, outcome: "delivered" }]);
  });

  it("retries through 500s and a receiver that is down, delivering every event once by webhook-id (20 runs)", async () => {
    await ensureEngine();
    const receiver = await Receiver.start();
    let phase: "failing" | "up" = "failing";
    receiver.answer = () => (phase === "failing" ? 500 : 200);
    const agent = await quickAgent();
    const endpoint = await createEndpoint(receiver.url, { agentId: agent, retryInitialSeconds: 0.2 });

    const runs = await Promise.all(Array.from({ length: 20 }, (_, i) => startRun(db.pool, agent, `run ${i}`)));
    for (const runId of runs) await waitForStatus(db.pool, runId, ["succeeded"]);

    // every event answered 500 three times...
    // (finished attempts: a delivery's attempt count includes one that is under way)
    await waitFor("every event to be refused 3 times", async () => {
      const { rows } = await db.pool.query<{ n: number }>(
        `select count(*)::int as n from everruns.notification_deliveries d
          where d.endpoint_id = $1
            and (select count(*) from everruns.notification_attempts a where a.delivery_id = d.id and a.outcome = 'failed') >= 3`,
        [endpoint],
      );
      return rows[0]!.n === 20;
    });
    const failing = await deliveriesOf(endpoint);
    for (const d of failing) {
      const attempts = await attemptsOf(d.id);
      expect(attempts.slice(0, 3).map((a) => [a.status_code, a.outcome])).toEqual([
        [500, "failed"],
        [500, "failed"],
        [500, "failed"],
      ]);
      expect(attempts[0]!.error).toMatch(/answered 500/);
    }
    // ...then the receiver is down (connection refused) until every event failed to reach it once
    await receiver.close();
    const downSince = Date.now();
    await waitFor(
      "every event to find the receiver down",
      async () => {
        const { rows } = await db.pool.query<{ n: number }>(
          `select count(distinct a.delivery_id)::int as n from everruns.notification_attempts a
             join everruns.notification_deliveries d on d.id = a.delivery_id
            where d.endpoint_id = $1 and a.status_code is null and a.outcome = 'failed'`,
          [endpoint],
        );
        return rows[0]!.n === 20;
      },
      30_000,
      50,
    );
    const downFor = Date.now() - downSince;
    phase = "up";
    await receiver.up();

    const settled = await allSettled(endpoint, 20);
    expect(settled.every((d) => d.status === "delivered" && d.last_status_code === 200)).toBe(true);
    expect(new Set(settled.map((d) => d.subject_id))).toEqual(new Set(runs));
    // each event answered 2xx exactly once, under its own webhook-id
    expect(receiver.rejected).toEqual([]);
    const attemptCounts: number[] = [];
    for (const d of settled) {
      const attempts = await attemptsOf(d.id);
      attemptCounts.push(attempts.length);
      // failed, failed, failed, (failed: refused)..., delivered: one row per attempt, in order
      expect(attempts.map((a) => a.attempt)).toEqual(attempts.map((_, i) => i + 1));
      expect(attempts.slice(0, -1).every((a) => a.outcome === "failed")).toBe(true);
      expect(attempts.at(-1)).toMatchObject({ status_code: 200, outcome: "delivered", error: null });
      const refused = attempts.filter((a) => a.status_code === null);
      expect(refused.length).toBeGreaterThanOrEqual(1);
      for (const a of refused) expect(a.error).toMatch(/could not reach 127\.0\.0\.1/);
      // the receiver saw every attempt that reached it, and answered 2xx to one
      expect(receiver.requests.filter((r) => r.webhookId === notificationMessageId(d.id))).toHaveLength(attempts.length - refused.length);
      expect(receiver.acceptedCount.get(notificationMessageId(d.id))).toBe(1);
    }
    console.log(
      `[notifications] 20 events: receiver down ${downFor} ms; attempts per event min ${Math.min(...attemptCounts)}, max ${Math.max(...attemptCounts)}; requests received ${receiver.requests.length}`,
    );
  });

  it("refuses an endpoint on an address the egress guard does not allow, sending nothing", async () => {
    await ensureEngine();
    // 127.0.0.2 is loopback too, but EVERRUNS_EGRESS_ALLOW lists only 127.0.0.1
    const receiver = await Receiver.start("127.0.0.2");
    const agent = await quickAgent();
    const loopback = await createEndpoint(receiver.url, { agentId: agent });
    const metadata = await createEndpoint("http://169.254.169.254/latest/meta-data/", { agentId: agent });

    const runId = await startRun(db.pool, agent, "refused");
    await waitForStatus(db.pool, runId, ["succeeded"]);
    for (const [endpoint, host, kind] of [
      [loopback, "127.0.0.2", "loopback"],
      [metadata, "169.254.169.254", "link-local"],
    ] as const) {
      const attempt = await waitFor(`an attempt to ${host}`, async () => {
        const [d] = await deliveriesOf(endpoint);
        const attempts = d ? await attemptsOf(d.id) : [];
        return attempts[0]?.outcome ? attempts[0] : undefined;
      });
      expect(attempt.outcome).toBe("failed");
      expect(attempt.status_code).toBeNull();
      expect(attempt.error).toContain(`the request to ${host} was refused by the egress guard: ${kind}`);
      expect(attempt.error).toContain("EVERRUNS_EGRESS_ALLOW");
      const [d] = await deliveriesOf(endpoint);
      expect(d!.status).toBe("pending"); // retried: the operator may allow it
    }
    await sleep(500); // a retry or two more
    expect(receiver.requests).toEqual([]);
    // deleting the endpoint ends its deliveries (the next job finds none)
    await db.pool.query("delete from everruns.notification_endpoints where id = any ($1)", [[loopback, metadata]]);
  });

  it("fails a delivery whose signing secret is not set, saying what to set, and delivers once it is", async () => {
    await ensureEngine();
    const receiver = await Receiver.start();
    const agent = await quickAgent();
    const name = `late-secret-${randomBytes(3).toString("hex")}`;
    const endpoint = await createEndpoint(receiver.url, { agentId: agent, secretName: name });
    const runId = await startRun(db.pool, agent, "no secret yet");
    await waitForStatus(db.pool, runId, ["succeeded"]);
    const [d] = await waitFor("a failed attempt", async () => {
      const ds = await deliveriesOf(endpoint);
      return ds[0] && ds[0].attempts >= 1 && ds[0].last_error !== null && ds;
    });
    expect(d!.last_status_code).toBeNull();
    expect(d!.last_error).toContain(`everruns secrets set ${name}`);
    expect(receiver.requests).toEqual([]);

    await setSecret(db.pool, { name, value: signingSecret, key });
    const [done] = await allSettled(endpoint, 1);
    expect(done!.status).toBe("delivered");
    expect(receiver.ids()).toEqual([notificationMessageId(d!.id)]);
  });

  it("gives up once the database clock is past give_up_at, and resend_notification delivers it again", async () => {
    await ensureEngine();
    const receiver = await Receiver.start();
    receiver.answer = () => 503;
    const agent = await quickAgent();
    const endpoint = await createEndpoint(receiver.url, { agentId: agent, retryInitialSeconds: 0.5 });
    const runId = await startRun(db.pool, agent, "give up");
    await waitForStatus(db.pool, runId, ["succeeded"]);
    await waitFor("a first failed attempt", async () => (await deliveriesOf(endpoint))[0]?.last_status_code === 503);

    // a day and an hour later (the database's clock): the next failure is the last
    await db.pool.query("update everruns_private.clock_offset set offset_by = interval '25 hours'");
    const [failed] = await allSettled(endpoint, 1);
    expect(failed).toMatchObject({ status: "failed", last_status_code: 503 });
    expect(failed!.last_error).toMatch(/answered 503/);
    const before = receiver.requests.length;
    await sleep(1000);
    expect(receiver.requests.length).toBe(before); // no more attempts

    receiver.answer = () => 204;
    await db.pool.query("select everruns.resend_notification($1)", [failed!.id]);
    const [delivered] = await allSettled(endpoint, 1);
    expect(delivered).toMatchObject({ status: "delivered", last_status_code: 204 });
    expect(receiver.ids()).toEqual([notificationMessageId(failed!.id)]);
    const attempts = await attemptsOf(failed!.id);
    expect(attempts.at(-1)).toMatchObject({ outcome: "delivered", status_code: 204 });
    expect(attempts.slice(0, -1).every((a) => a.outcome === "failed" && a.status_code === 503)).toBe(true);
  });

  it("delivers one batch.completed when a small batch completes", async () => {
    await ensureEngine();
    const receiver = await Receiver.start();
    const agent = await quickAgent("item done");
    const endpoint = await createEndpoint(receiver.url, { agentId: agent, events: ["batch.completed"] });
    const { rows } = await db.pool.query<{ id: string }>("insert into everruns.batches (agent_id, max_parallel) values ($1, 2) returning id", [agent]);
    const batchId = rows[0]!.id;
    await db.pool.query(
      `insert into everruns.batch_items (batch_id, custom_id, input)
       select $1, 'item-' || g, jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'n' || g)))
         from generate_series(1, 3) g`,
      [batchId],
    );
    await db.pool.query("select everruns.start_batch($1)", [batchId]);
    const [delivery] = await allSettled(endpoint, 1);
    expect(delivery).toMatchObject({ event: "batch.completed", subject_id: batchId, status: "delivered" });
    expect(receiver.ids()).toEqual([notificationMessageId(delivery!.id)]);
    expect(receiver.accepted.get(notificationMessageId(delivery!.id))).toMatchObject({
      type: "batch.completed",
      data: { batch_id: batchId, status: "succeeded", progress: { total: 3, succeeded: 3 } },
    });
    // the items' runs notify nobody here: this endpoint wants batch.completed only
    await sleep(300);
    expect(await deliveriesOf(endpoint)).toHaveLength(1);
  });
});

describe("deliveries in flight per worker process", () => {
  it("sends at most EVERRUNS_NOTIFY_MAX_IN_FLIGHT at once, the others put back for later with no attempt; a dedicated worker takes none", async () => {
    // only the workers of this test: the in-process pool (cap 10) would take the jobs
    await engine?.stop();
    engine = undefined;
    const { rows: ws } = await db.pool.query<{ id: string }>("select id from everruns_private.create_workspace($1)", [`ws_${randomBytes(4).toString("hex")}`]);
    const options: WorkerOptions = { databaseUrl: db.url, concurrency: 8, shutdownTimeoutMs: 5000, log, scheduler: false };
    let shared: WorkerHandle | null = await startWorker({ ...options, notifyMaxInFlight: 2 });
    // a dedicated workspace's pool, 8 slots idle: it would take the deliveries if it ran the task
    const dedicated = await startWorker({ ...options, workspaceId: ws[0]!.id });
    const seenByDedicated = new Set<string>();
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const { rows } = await db.pool.query<{ key: string }>(
          "select key from graphile_worker.jobs where task_identifier = 'deliver_notification' and locked_by = $1",
          [dedicated.poolId],
        );
        for (const r of rows) seenByDedicated.add(r.key);
        await sleep(20);
      }
    })();
    try {
      const receiver = await Receiver.start();
      receiver.answer = () => ({ holdMs: 600 });
      const agent = await quickAgent();
      const endpoint = await createEndpoint(receiver.url, { agentId: agent });
      const runs = await Promise.all(Array.from({ length: 6 }, (_, i) => startRun(db.pool, agent, `capped ${i}`)));
      for (const runId of runs) await waitForStatus(db.pool, runId, ["succeeded"]);
      const settled = await allSettled(endpoint, 6, 30_000);

      expect(settled.every((d) => d.status === "delivered" && d.last_status_code === 200)).toBe(true);
      expect(receiver.maxHeld).toBe(2);
      expect(receiver.rejected).toEqual([]);
      expect(receiver.ids().sort()).toEqual(settled.map((d) => notificationMessageId(d.id)).sort());
      // a job put back made no attempt: one attempt, one request per event
      expect(receiver.requests).toHaveLength(6);
      for (const d of settled) expect(await attemptsOf(d.id)).toEqual([{ attempt: 1, status_code: 200, error: null, outcome: "delivered" }]);

      // with the dedicated pool alone, a delivery waits for a shared one
      await shared.stop();
      shared = null;
      receiver.answer = () => 200;
      const again = settled[0]!;
      await db.pool.query("select everruns.resend_notification($1)", [again.id]);
      await sleep(1_500);
      expect((await deliveriesOf(endpoint)).find((d) => d.id === again.id)).toMatchObject({ status: "pending", attempts: 1 });
      const { rows: job } = await db.pool.query<{ locked_by: string | null }>("select locked_by from graphile_worker.jobs where key = $1", [
        `notify:${again.id}`,
      ]);
      expect(job).toEqual([{ locked_by: null }]);
      shared = await startWorker({ ...options, notifyMaxInFlight: 2 });
      await waitFor("the resent delivery to be delivered by the shared worker", async () => (await attemptsOf(again.id)).at(-1)?.outcome === "delivered");
      expect(seenByDedicated).toEqual(new Set());
    } finally {
      watching = false;
      await watch;
      await shared?.stop();
      await dedicated.stop();
    }
  });

  it("EVERRUNS_NOTIFY_MAX_IN_FLIGHT: default 10; an invalid value is a ConfigError naming the variable", () => {
    expect(notifyMaxInFlightFromEnv({})).toBe(DEFAULT_NOTIFY_MAX_IN_FLIGHT);
    expect(DEFAULT_NOTIFY_MAX_IN_FLIGHT).toBe(10);
    expect(notifyMaxInFlightFromEnv({ EVERRUNS_NOTIFY_MAX_IN_FLIGHT: " 3 " })).toBe(3);
    for (const bad of ["0", "-1", "2.5", "ten", "10001"]) {
      expect(() => notifyMaxInFlightFromEnv({ EVERRUNS_NOTIFY_MAX_IN_FLIGHT: bad })).toThrow(ConfigError);
      expect(() => notifyMaxInFlightFromEnv({ EVERRUNS_NOTIFY_MAX_IN_FLIGHT: bad })).toThrow(
        `EVERRUNS_NOTIFY_MAX_IN_FLIGHT must be a whole number of deliveries from 1 to 10000 (got "${bad}")`,
      );
    }
  });
});

describe("kill -9 during a delivery", () => {
  it("delivers every event after the workers sending them are killed, the killed attempts marked interrupted", async () => {
    // only worker processes from here on: the in-process pool would take the jobs
    await engine?.stop();
    engine = undefined;

    const receiver = await Receiver.start();
    // the first request of each event is held open: the worker sending it is killed meanwhile
    receiver.answer = (r) => (r.nth === 0 ? { holdMs: 12_000 } : 200);
    const agent = await quickAgent();
    const endpoint = await createEndpoint(receiver.url, { agentId: agent });
    const start = async () => {
      const w = await spawnWorker(db.url);
      processes.add(w);
      void w.exited.then(() => processes.delete(w));
      return w;
    };
    const first = [await start(), await start()];

    const runs = await Promise.all(Array.from({ length: 6 }, (_, i) => startRun(db.pool, agent, `kill ${i}`)));
    for (const runId of runs) await waitForStatus(db.pool, runId, ["succeeded"]);
    await waitFor("every event's first request to be held by the receiver", () => receiver.held === 6 && receiver.requests.length === 6, 30_000);

    // the pools holding the deliveries' jobs are those of the first workers: kill them all
    const { rows: holders } = await db.pool.query<{ locked_by: string }>(
      `select distinct j.locked_by from graphile_worker.jobs j
         join everruns.notification_deliveries d on j.key = 'notify:' || d.id::text
        where d.endpoint_id = $1 and j.locked_by is not null`,
      [endpoint],
    );
    expect(holders.length).toBeGreaterThanOrEqual(1);
    for (const h of holders) expect(first.map((w) => w.poolId)).toContain(h.locked_by);
    for (const w of first) w.child.kill("SIGKILL");
    const killedAt = Date.now();
    await Promise.all(first.map((w) => w.exited));
    await start();
    await start();

    const settled = await allSettled(endpoint, 6, 60_000);
    console.log(`[notifications] kill -9 of 2 workers holding 6 deliveries: all delivered ${Date.now() - killedAt} ms later (2 new workers started meanwhile)`);
    expect(settled.every((d) => d.status === "delivered")).toBe(true);
    expect(receiver.rejected).toEqual([]);
    expect(receiver.ids().sort()).toEqual(settled.map((d) => notificationMessageId(d.id)).sort());
    for (const d of settled) {
      const attempts = await attemptsOf(d.id);
      expect(attempts[0]).toMatchObject({ attempt: 1, outcome: "interrupted", error: "the worker stopped during this attempt" });
      expect(attempts.at(-1)).toMatchObject({ outcome: "delivered", status_code: 200 });
      // the same webhook-id on the killed attempt and the one that delivered
      const ids = receiver.requests.filter((r) => r.webhookId === notificationMessageId(d.id));
      expect(ids.length).toBeGreaterThanOrEqual(2);
    }
  });
});
