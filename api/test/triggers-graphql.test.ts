// Triggers over GraphQL (issue 16) against a real API and Postgres, without a worker: runs stay
// queued unless the test ends them. Every mutation of api/graphql/triggers.ts and its answer,
// the validation messages (a bad cron, an unknown time zone, a bad overlap, …), the roles, another
// workspace's objects, the reads and their default orders, and Schedule.nextFireTimes for a cron
// expression in a time zone across a daylight-saving change (the database clock moved by the test).
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { setSecret } from "../../db/sql/setSecret.ts";
import { createWorkspace } from "../../db/sql/workspaces.ts";
import { createAgent, createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { SECRET_KEY_ENV } from "../../lib/secret-box.ts";
import { generateSecret } from "../../lib/webhook-signatures.ts";
import { bearer, createTestKey, startTestApi, type TestApiHandle } from "./helpers.ts";

let db: TestDatabase;
let api: TestApiHandle;
let agentId: string;
let viewer: Record<string, string>;
let operator: Record<string, string>;
let other: Record<string, string>;
let savedSecretKey: string | undefined;
const secretKey = randomBytes(32);
const hello = (text: string) => ({ messages: [{ role: "user", content: text }] });

interface GqlError {
  message: string;
  extensions?: Record<string, unknown>;
  path?: string[];
}
interface GraphQLResponse<T> {
  data?: T;
  errors?: GqlError[];
}

async function gql<T = Record<string, unknown>>(
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = api.headers,
): Promise<GraphQLResponse<T>> {
  const res = await fetch(`${api.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as GraphQLResponse<T>;
}

/** The data of an answer that must have no errors. */
function ok<T>(answer: GraphQLResponse<T>, what: string): T {
  expect(answer.errors, what).toBeUndefined();
  return answer.data!;
}

/** The first error of an answer that must fail. */
function failed(answer: GraphQLResponse<unknown>, what: string): GqlError {
  expect(answer.errors?.length, `${what}: ${JSON.stringify(answer)}`).toBeGreaterThan(0);
  return answer.errors![0]!;
}

const unique = (prefix: string) => `${prefix}-${randomBytes(3).toString("hex")}`;
const count = async (table: string) => (await db.pool.query<{ n: number }>(`select count(*)::int as n from everruns.${table}`)).rows[0]!.n;

const CREATE_SCHEDULE = /* GraphQL */ `
  mutation (
    $name: String!
    $agent: String!
    $cron: String
    $intervalSeconds: Int
    $timezone: String
    $input: JSON!
    $overlap: String
    $thread: String
    $paused: Boolean
    $pauseAfterFailures: Int
  ) {
    createSchedule(
      name: $name
      agent: $agent
      cron: $cron
      intervalSeconds: $intervalSeconds
      timezone: $timezone
      input: $input
      overlap: $overlap
      thread: $thread
      paused: $paused
      pauseAfterFailures: $pauseAfterFailures
    ) {
      scheduleId
      schedule {
        id
        name
        agentId
        cron
        intervalSeconds
        timezone
        overlap
        thread
        paused
        pauseAfterFailures
        createdAt
      }
    }
  }
`;

interface ScheduleAnswer {
  createSchedule: {
    scheduleId: string;
    schedule: {
      id: string;
      name: string;
      agentId: string;
      cron: string | null;
      intervalSeconds: number | null;
      timezone: string;
      overlap: string;
      thread: string;
      paused: boolean;
      pauseAfterFailures: number | null;
      createdAt: string;
    };
  };
}

function createSchedule(vars: Record<string, unknown>, headers?: Record<string, string>) {
  return gql<ScheduleAnswer>(CREATE_SCHEDULE, { name: unique("sched"), agent: "trigger-agent", cron: "0 9 * * *", input: hello("tick"), ...vars }, headers);
}

async function newSchedule(vars: Record<string, unknown> = {}): Promise<string> {
  return ok(await createSchedule(vars), "createSchedule").createSchedule.scheduleId;
}

async function newWebhook(secretName: string, vars: Record<string, unknown> = {}): Promise<string> {
  const answer = await gql<{ createWebhook: { webhookId: string } }>(
    `mutation ($name: String!, $secretNames: [String!]!, $verify: String) {
      createWebhook(name: $name, agent: "trigger-agent", secretNames: $secretNames, verify: $verify) { webhookId }
    }`,
    { name: unique("hook"), secretNames: [secretName], ...vars },
  );
  return ok(answer, "createWebhook").createWebhook.webhookId;
}

async function newEndpoint(vars: Record<string, unknown> = {}): Promise<string> {
  const answer = await gql<{ createNotificationEndpoint: { notificationEndpointId: string } }>(
    `mutation ($name: String!, $url: String!, $events: [String!]!, $agent: String, $secretName: String!) {
      createNotificationEndpoint(name: $name, url: $url, events: $events, agent: $agent, secretName: $secretName) { notificationEndpointId }
    }`,
    { name: unique("endpoint"), url: "http://127.0.0.1:9/notify", events: ["run.cancelled"], secretName: "notify-secret", ...vars },
  );
  return ok(answer, "createNotificationEndpoint").createNotificationEndpoint.notificationEndpointId;
}

beforeAll(async () => {
  savedSecretKey = process.env[SECRET_KEY_ENV];
  process.env[SECRET_KEY_ENV] = secretKey.toString("base64");
  db = await createTestDatabase();
  api = await startTestApi(db.url);
  agentId = await createAgent(db.pool, { provider: "scripted", script: [{ text: "ok" }] }, "trigger-agent");
  viewer = bearer(await createTestKey(db.url, { role: "viewer", name: "trigger-viewer" }));
  operator = bearer(await createTestKey(db.url, { role: "operator", name: "trigger-operator" }));
  const b = await createWorkspace(db.pool, "triggers-other");
  other = bearer(await createTestKey(db.url, { role: "admin", workspaceId: b.id, name: "other-admin" }));
  await setSecret(db.pool, { name: "hook-secret", value: generateSecret("standard"), key: secretKey });
  await setSecret(db.pool, { name: "notify-secret", value: generateSecret("standard"), key: secretKey });
});

afterEach(async () => {
  await db?.pool.query("update everruns_private.clock_offset set offset_by = interval '0'");
});

afterAll(async () => {
  await api?.close();
  await db?.drop();
  if (savedSecretKey === undefined) delete process.env[SECRET_KEY_ENV];
  else process.env[SECRET_KEY_ENV] = savedSecretKey;
});

describe("schedules", () => {
  it("nextFireTimes: a daily cron in Europe/Berlin across the spring-forward change, from the database clock", async () => {
    const id = await newSchedule({ cron: "30 9 * * *", timezone: "Europe/Berlin" });
    // the database's clock at about Friday 2026-03-27 12:00Z (Berlin switches to CEST on Sunday the 29th)
    await db.pool.query("update everruns_private.clock_offset set offset_by = '2026-03-27 12:00:00+00'::timestamptz - now()");
    const answer = ok(
      await gql<{ schedule: { nextFireTimes: string[]; three: string[] } }>(
        `query ($id: UUID!) { schedule(id: $id) { nextFireTimes(count: 4) three: nextFireTimes(count: 3) } }`,
        { id },
      ),
      "nextFireTimes",
    );
    // 09:30 CET is 08:30Z; from the 29th, 09:30 CEST is 07:30Z
    expect(answer.schedule.nextFireTimes.map((t) => new Date(t).toISOString())).toEqual([
      "2026-03-28T08:30:00.000Z",
      "2026-03-29T07:30:00.000Z",
      "2026-03-30T07:30:00.000Z",
      "2026-03-31T07:30:00.000Z",
    ]);
    expect(answer.schedule.three).toHaveLength(3);
    // the default is 5; at most 100
    const defaults = ok(await gql<{ schedule: { nextFireTimes: string[] } }>(`query ($id: UUID!) { schedule(id: $id) { nextFireTimes } }`, { id }), "default");
    expect(defaults.schedule.nextFireTimes).toHaveLength(5);
    const tooMany = failed(await gql(`query ($id: UUID!) { schedule(id: $id) { nextFireTimes(count: 101) } }`, { id }), "count 101");
    expect(tooMany.message).toBe("count must be a whole number from 1 to 100, got 101");
  });

  it("nextFireTimes: an interval counts from the schedule's creation; a paused schedule has none", async () => {
    const created = ok(await createSchedule({ cron: null, intervalSeconds: 3600 }), "interval").createSchedule.schedule;
    const answer = ok(
      await gql<{ schedule: { nextFireTimes: string[] } }>(`query ($id: UUID!) { schedule(id: $id) { nextFireTimes(count: 3) } }`, { id: created.id }),
      "interval times",
    );
    const anchor = new Date(created.createdAt).getTime();
    const times = answer.schedule.nextFireTimes.map((t) => new Date(t).getTime());
    expect(times).toEqual([anchor + 3_600_000, anchor + 7_200_000, anchor + 10_800_000]);
    const paused = ok(await createSchedule({ paused: true }), "paused").createSchedule.scheduleId;
    const none = ok(
      await gql<{ schedule: { nextFireTimes: string[] } }>(`query ($id: UUID!) { schedule(id: $id) { nextFireTimes } }`, { id: paused }),
      "paused times",
    );
    expect(none.schedule.nextFireTimes).toEqual([]);
  });

  it("createSchedule, updateSchedule, pauseSchedule, resumeSchedule and deleteSchedule, each audited", async () => {
    const created = ok(
      await createSchedule({ agent: agentId, cron: "*/5 * * * *", timezone: "America/New_York", overlap: "buffer_one", pauseAfterFailures: 3 }),
      "create",
    );
    const { scheduleId, schedule } = created.createSchedule;
    expect(schedule).toMatchObject({
      id: scheduleId,
      agentId,
      cron: "*/5 * * * *",
      timezone: "America/New_York",
      overlap: "buffer_one",
      thread: "new",
      paused: false,
    });

    // an interval replaces the cron expression (one argument); null clears pauseAfterFailures
    const updated = ok(
      await gql<{ updateSchedule: { schedule: { cron: string | null; intervalSeconds: number; pauseAfterFailures: number | null; timezone: string } } }>(
        `mutation ($id: UUID!) { updateSchedule(id: $id, intervalSeconds: 600, pauseAfterFailures: null) { schedule { cron intervalSeconds pauseAfterFailures timezone } } }`,
        { id: scheduleId },
      ),
      "update",
    );
    expect(updated.updateSchedule.schedule).toEqual({ cron: null, intervalSeconds: 600, pauseAfterFailures: null, timezone: "America/New_York" });

    const paused = ok(
      await gql<{ pauseSchedule: { schedule: { paused: boolean; pausedNote: string; nextFireTimes: string[] } } }>(
        `mutation ($id: UUID!) { pauseSchedule(id: $id, note: "maintenance window") { schedule { paused pausedNote nextFireTimes } } }`,
        { id: scheduleId },
        operator,
      ),
      "pause",
    );
    expect(paused.pauseSchedule.schedule).toEqual({ paused: true, pausedNote: "maintenance window", nextFireTimes: [] });
    const resumed = ok(
      await gql<{ resumeSchedule: { schedule: { paused: boolean; pausedNote: string | null; nextFireTimes: string[] } } }>(
        `mutation ($id: UUID!) { resumeSchedule(id: $id) { schedule { paused pausedNote nextFireTimes(count: 2) } } }`,
        { id: scheduleId },
        operator,
      ),
      "resume",
    );
    expect(resumed.resumeSchedule.schedule).toMatchObject({ paused: false, pausedNote: null });
    expect(resumed.resumeSchedule.schedule.nextFireTimes).toHaveLength(2);

    const deleted = ok(
      await gql<{ deleteSchedule: unknown }>(`mutation ($id: UUID!) { deleteSchedule(id: $id) { scheduleId deleted } }`, { id: scheduleId }),
      "delete",
    );
    expect(deleted.deleteSchedule).toEqual({ scheduleId, deleted: true });
    const again = ok(
      await gql<{ deleteSchedule: unknown }>(`mutation ($id: UUID!) { deleteSchedule(id: $id) { deleted } }`, { id: scheduleId }),
      "delete again",
    );
    expect(again.deleteSchedule).toEqual({ deleted: false });
    const audit = await db.pool.query<{ action: string; details: Record<string, unknown> }>(
      "select action, details from everruns.audit_log where target_id = $1 order by seq",
      [scheduleId],
    );
    expect(audit.rows.map((r) => r.action)).toEqual(["schedule.created", "schedule.updated", "schedule.paused", "schedule.resumed", "schedule.deleted"]);
    expect(audit.rows[2]!.details).toMatchObject({ note: "maintenance window" });
  });

  it("refuses a bad cron, an unknown time zone, a bad overlap, allow on a shared thread and a bad name, saying what is expected; nothing is created", async () => {
    const before = await count("schedules");
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ cron: "61 * * * *" }, /^invalid schedule: cron "61 \* \* \* \*" is invalid: .*expected 5 fields/],
      [{ cron: "0 9 * *" }, /^invalid schedule: cron "0 9 \* \*" has 4 fields: expected 5 fields/],
      [{ timezone: "Mars/Olympus_Mons" }, /^invalid schedule: timezone "Mars\/Olympus_Mons" is not a known time zone: expected an IANA time zone name/],
      [{ overlap: "sometimes" }, /^invalid schedule: overlap: must be one of "skip", "buffer_one", "allow", "cancel_previous"$/],
      [{ thread: "shared", overlap: "allow" }, /^invalid schedule: overlap "allow" would run fires of a shared thread in parallel/],
      [{ cron: null }, /^invalid schedule: a schedule needs cron/],
      [{ intervalSeconds: 60 }, /^invalid schedule: a schedule takes either cron or intervalSeconds, not both/],
      [{ name: "no spaces please" }, /^invalid schedule: name: must be 1 to 100 letters, digits/],
      [{ pauseAfterFailures: 0 }, /^invalid schedule: pauseAfterFailures: /],
    ];
    for (const [vars, message] of cases) {
      const error = failed(await createSchedule(vars), JSON.stringify(vars));
      expect(error.message, JSON.stringify(vars)).toMatch(message);
      expect(error.extensions?.code).toBe("invalid_schedule");
    }
    // the database's own checks come through with their message: an invalid run input, an unknown agent
    const badInput = failed(await createSchedule({ input: { messages: [{ role: "robot", content: "x" }] } }), "bad input");
    expect(badInput.message).toMatch(/role/);
    const unknownAgent = failed(await createSchedule({ agent: "nobody" }), "unknown agent");
    expect(unknownAgent).toMatchObject({ message: 'no agent with id or name "nobody" in this workspace', extensions: { code: "not_found" } });
    expect(await count("schedules")).toBe(before);

    // the same checks on an update, against the schedule as it is
    const id = await newSchedule({ thread: "shared" });
    const badUpdate = failed(await gql(`mutation ($id: UUID!) { updateSchedule(id: $id, cron: "0 0 31 2 *") { scheduleId } }`, { id }), "update cron");
    expect(badUpdate.message).toMatch(/^invalid schedule: cron "0 0 31 2 \*" never matches a date/);
    const allow = failed(await gql(`mutation ($id: UUID!) { updateSchedule(id: $id, overlap: "allow") { scheduleId } }`, { id }), "update overlap");
    expect(allow.message).toMatch(/shared thread/);
    const zone = failed(await gql(`mutation ($id: UUID!) { updateSchedule(id: $id, timezone: "Europe/Atlantis") { scheduleId } }`, { id }), "update zone");
    expect(zone.message).toMatch(/not a known time zone/);
    const taken = await db.pool.query<{ name: string }>("select name from everruns.schedules where id <> $1 limit 1", [id]);
    const conflict = failed(
      await gql(`mutation ($id: UUID!, $name: String!) { updateSchedule(id: $id, name: $name) { scheduleId } }`, { id, name: taken.rows[0]!.name }),
      "name",
    );
    expect(conflict.extensions?.code).toBe("conflict");
  });

  it("lists schedules by name and a schedule's fires newest first, each with its run", async () => {
    const id = await newSchedule({ name: `aaa-${randomBytes(2).toString("hex")}` });
    const run = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input, schedule_id) values ($1, $2, $3) returning id", [
      agentId,
      hello("fired"),
      id,
    ]);
    await db.pool.query(
      `insert into everruns.schedule_fires (workspace_id, schedule_id, occurrence_at, status, reason, run_id)
       values ($1, $2, '2026-01-01T09:00Z', 'started', null, $3), ($1, $2, '2026-01-03T09:00Z', 'skipped', 'overlap', null),
              ($1, $2, '2026-01-02T09:00Z', 'failed', 'EV003: bad input', null)`,
      ["00000000-0000-0000-0000-000000000001", id, run.rows[0]!.id],
    );
    const answer = ok(
      await gql<{
        schedules: { nodes: Array<{ name: string }> };
        schedule: { fires: { nodes: Array<{ occurrenceAt: string; status: string; run: { id: string; scheduleId: string } | null }> } };
        skipped: { nodes: Array<{ reason: string }> };
      }>(
        `query ($id: UUID!) {
          schedules { nodes { name } }
          schedule(id: $id) { fires { nodes { occurrenceAt status run { id scheduleId } } } }
          skipped: scheduleFires(condition: { scheduleId: $id, status: "skipped" }) { nodes { reason } }
        }`,
        { id },
      ),
      "lists",
    );
    const names = answer.schedules.nodes.map((n) => n.name);
    expect(names).toEqual([...names].sort());
    expect(answer.schedule.fires.nodes.map((f) => [new Date(f.occurrenceAt).toISOString(), f.status])).toEqual([
      ["2026-01-03T09:00:00.000Z", "skipped"],
      ["2026-01-02T09:00:00.000Z", "failed"],
      ["2026-01-01T09:00:00.000Z", "started"],
    ]);
    expect(answer.schedule.fires.nodes[2]!.run).toEqual({ id: run.rows[0]!.id, scheduleId: id });
    expect(answer.skipped.nodes).toEqual([{ reason: "overlap" }]);
  });
});

describe("triggerAgent", () => {
  it("starts a run for an event, and queues events of one thread key behind its running one", async () => {
    const first = ok(
      await gql<{ triggerAgent: { runId: string; run: { id: string; status: string; input: { messages: Array<{ content: string }> } } } }>(
        `mutation { triggerAgent(agent: "trigger-agent", payload: { alert: "disk full" }) { runId run { id status input } } }`,
        {},
        operator,
      ),
      "trigger",
    );
    expect(first.triggerAgent.run).toMatchObject({ id: first.triggerAgent.runId, status: "queued" });
    expect(first.triggerAgent.run.input.messages[0]!.content).toBe('{"alert": "disk full"}');

    const key = unique("service");
    const mutation = `mutation ($key: String!) { triggerAgent(agent: "trigger-agent", payload: "event", threadKey: $key) { runId run { threadId } activation { status threadId } } }`;
    type Answer = { triggerAgent: { runId: string; run: { threadId: string } | null; activation: { status: string; threadId: string } } };
    const one = ok(await gql<Answer>(mutation, { key }, operator), "first event").triggerAgent;
    const two = ok(await gql<Answer>(mutation, { key }, operator), "second event").triggerAgent;
    expect(one.activation.status).toBe("started");
    expect(one.run!.threadId).toBe(one.activation.threadId);
    // the thread's first run has not ended: the second event waits (its run id is fixed already)
    expect(two).toMatchObject({ run: null, activation: { status: "pending", threadId: one.activation.threadId } });
    const pending = ok(
      await gql<{ activations: { nodes: Array<{ runId: string }> } }>(`{ activations(condition: { status: "pending" }) { nodes { runId } } }`),
      "activations",
    );
    expect(pending.activations.nodes.map((n) => n.runId)).toContain(two.runId);
  });

  it("refuses an unknown agent, a bad thread key, and a viewer", async () => {
    const unknown = failed(await gql(`mutation { triggerAgent(agent: "nobody", payload: 1) { runId } }`), "unknown");
    expect(unknown).toMatchObject({ message: "unknown agent nobody", extensions: { code: "not_found" } });
    const badKey = failed(await gql(`mutation { triggerAgent(agent: "trigger-agent", threadKey: "has spaces") { runId } }`), "bad key");
    expect(badKey.message).toMatch(/^invalid trigger: threadKey: must be 1 to 200 characters without spaces/);
    const refused = failed(await gql(`mutation { triggerAgent(agent: "trigger-agent") { runId } }`, {}, viewer), "viewer");
    expect(refused.extensions?.code).toBe("forbidden");
    expect(refused.message).toMatch(/needs an API key with role operator/);
  });
});

describe("webhooks", () => {
  it("createWebhook, its path, sendTestWebhookDelivery (a run and a test delivery), updateWebhook and deleteWebhook", async () => {
    const id = await newWebhook("hook-secret");
    const read = ok(
      await gql<{ webhook: { path: string; verify: string; secretNames: string[]; enabled: boolean } }>(
        `query ($id: UUID!) { webhook(id: $id) { path verify secretNames enabled } }`,
        { id },
      ),
      "read",
    );
    expect(read.webhook).toEqual({ path: `/hooks/${id}`, verify: "standard", secretNames: ["hook-secret"], enabled: true });

    const sent = ok(
      await gql<{
        sendTestWebhookDelivery: {
          runId: string;
          deliveryId: string;
          duplicate: boolean;
          run: { status: string };
          delivery: { test: boolean; payload: unknown; runId: string };
        };
      }>(
        `mutation ($id: UUID!) { sendTestWebhookDelivery(id: $id, payload: { hello: "world" }) { runId deliveryId duplicate run { status } delivery { test payload runId } } }`,
        { id },
        operator,
      ),
      "test delivery",
    );
    const answer = sent.sendTestWebhookDelivery;
    expect(answer).toMatchObject({ duplicate: false, run: { status: "queued" }, delivery: { test: true, payload: { hello: "world" }, runId: answer.runId } });
    const deliveries = ok(
      await gql<{ webhook: { deliveries: { nodes: Array<{ id: string; run: { id: string } }> } } }>(
        `query ($id: UUID!) { webhook(id: $id) { deliveries { nodes { id run { id } } } } }`,
        { id },
      ),
      "deliveries",
    );
    expect(deliveries.webhook.deliveries.nodes).toEqual([{ id: answer.deliveryId, run: { id: answer.runId } }]);

    const disabled = ok(
      await gql<{ updateWebhook: { webhook: { enabled: boolean; dedupePointer: string; toleranceSeconds: number } } }>(
        `mutation ($id: UUID!) { updateWebhook(id: $id, enabled: false, dedupePointer: "/id", toleranceSeconds: 60) { webhook { enabled dedupePointer toleranceSeconds } } }`,
        { id },
      ),
      "update",
    );
    expect(disabled.updateWebhook.webhook).toEqual({ enabled: false, dedupePointer: "/id", toleranceSeconds: 60 });
    const refused = failed(await gql(`mutation ($id: UUID!) { sendTestWebhookDelivery(id: $id) { runId } }`, { id }, operator), "disabled");
    expect(refused.message).toMatch(/is disabled/);
    const deleted = ok(await gql<{ deleteWebhook: unknown }>(`mutation ($id: UUID!) { deleteWebhook(id: $id) { webhookId deleted } }`, { id }), "delete");
    expect(deleted.deleteWebhook).toEqual({ webhookId: id, deleted: true });
    expect((await db.pool.query("select 1 from everruns.webhook_deliveries where webhook_id = $1", [id])).rowCount).toBe(0);
  });

  it("refuses a bad scheme, no secret, a bad pointer and a bad header; nothing is created", async () => {
    const before = await count("webhooks");
    const create = (vars: Record<string, unknown>) =>
      gql(
        `mutation ($name: String!, $secretNames: [String!]!, $verify: String, $dedupePointer: String, $signatureHeader: String, $maxBodyBytes: Int) {
          createWebhook(name: $name, agent: "trigger-agent", secretNames: $secretNames, verify: $verify, dedupePointer: $dedupePointer,
                        signatureHeader: $signatureHeader, maxBodyBytes: $maxBodyBytes) { webhookId }
        }`,
        { name: unique("bad-hook"), secretNames: ["hook-secret"], ...vars },
      );
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ verify: "sha1" }, /^invalid webhook: verify: must be one of "standard", "hmac", "github", "bearer"$/],
      [{ secretNames: [] }, /^invalid webhook: secretNames: must name 1 secret, or 2 while rotating$/],
      [{ secretNames: ["a", "b", "c"] }, /^invalid webhook: secretNames: must name 1 secret, or 2 while rotating$/],
      [{ dedupePointer: "id" }, /^invalid webhook: dedupePointer: must be a JSON pointer such as \/id/],
      [{ verify: "hmac", signatureHeader: "X Sig" }, /^invalid webhook: signatureHeader: must be an HTTP header name/],
      [{ verify: "hmac" }, /^invalid webhook: signatureHeader: hmac needs signatureHeader/],
      [{ maxBodyBytes: 10 }, /^invalid webhook: maxBodyBytes: /],
    ];
    for (const [vars, message] of cases) {
      const error = failed(await create(vars), JSON.stringify(vars));
      expect(error.message, JSON.stringify(vars)).toMatch(message);
      expect(error.extensions?.code).toBe("invalid_webhook");
    }
    expect(await count("webhooks")).toBe(before);
    // an update is checked as the webhook will be: hmac without a header is refused, with one accepted
    const id = await newWebhook("hook-secret");
    const hmac = failed(await gql(`mutation ($id: UUID!) { updateWebhook(id: $id, verify: "hmac") { webhookId } }`, { id }), "update to hmac");
    expect(hmac.message).toMatch(/^invalid webhook: signatureHeader: hmac needs signatureHeader/);
    const withHeader = ok(
      await gql<{ updateWebhook: { webhook: { verify: string; signatureHeader: string } } }>(
        `mutation ($id: UUID!) { updateWebhook(id: $id, verify: "hmac", signatureHeader: "X-Signature") { webhook { verify signatureHeader } } }`,
        { id },
      ),
      "update to hmac with a header",
    );
    expect(withHeader.updateWebhook.webhook).toEqual({ verify: "hmac", signatureHeader: "X-Signature" });
  });
});

describe("notifications", () => {
  it("createNotificationEndpoint, a run's end queues a delivery, resendNotification, updateNotificationEndpoint and deleteNotificationEndpoint", async () => {
    const endpointId = await newEndpoint({ agent: "trigger-agent", events: ["run.cancelled", "run.cancelled", "run.failed"] });
    const endpoint = ok(
      await gql<{ notificationEndpoint: { agentId: string; events: string[]; url: string } }>(
        `query ($id: UUID!) { notificationEndpoint(id: $id) { agentId events url } }`,
        { id: endpointId },
      ),
      "endpoint",
    );
    expect(endpoint.notificationEndpoint).toEqual({ agentId, events: ["run.cancelled", "run.failed"], url: "http://127.0.0.1:9/notify" });

    // a run of the agent is cancelled: one delivery for the endpoint, pending
    const runId = ok(
      await gql<{ startRun: { runId: string } }>(
        `mutation { startRun(agent: "trigger-agent", input: { messages: [{ role: "user", content: "x" }] }) { runId } }`,
      ),
      "start",
    ).startRun.runId;
    ok(await gql(`mutation ($id: UUID!) { cancelRun(runId: $id) { cancelled } }`, { id: runId }), "cancel");
    type Deliveries = {
      notificationDeliveries: {
        nodes: Array<{ id: string; event: string; subjectId: string; status: string; attempts: number; attemptLog: { totalCount: number } }>;
      };
    };
    const list = ok(
      await gql<Deliveries>(
        `query ($endpointId: UUID!) { notificationDeliveries(condition: { endpointId: $endpointId, status: "pending" }) { nodes { id event subjectId status attempts attemptLog { totalCount } } } }`,
        { endpointId },
      ),
      "deliveries",
    );
    expect(list.notificationDeliveries.nodes).toEqual([
      { id: list.notificationDeliveries.nodes[0]?.id, event: "run.cancelled", subjectId: runId, status: "pending", attempts: 0, attemptLog: { totalCount: 0 } },
    ]);
    const deliveryId = list.notificationDeliveries.nodes[0]!.id;
    expect(deliveryId).toMatch(/^[0-9a-f-]{36}$/);
    // it failed for good (as the worker would record it a day later); an operator sends it again
    await db.pool.query("update everruns.notification_deliveries set status = 'failed', next_attempt_at = null where id = $1", [deliveryId]);
    const resent = ok(
      await gql<{ resendNotification: { notificationDeliveryId: string; notificationDelivery: { status: string; nextAttemptAt: string } } }>(
        `mutation ($id: UUID!) { resendNotification(id: $id) { notificationDeliveryId notificationDelivery { status nextAttemptAt } } }`,
        { id: deliveryId },
        operator,
      ),
      "resend",
    );
    expect(resent.resendNotification).toMatchObject({ notificationDeliveryId: deliveryId, notificationDelivery: { status: "pending" } });
    const job = await db.pool.query("select 1 from graphile_worker.jobs where key = $1", [`notify:${deliveryId}`]);
    expect(job.rowCount).toBe(1);

    const updated = ok(
      await gql<{ updateNotificationEndpoint: { notificationEndpoint: { agentId: string | null; enabled: boolean; retryInitialSeconds: number } } }>(
        `mutation ($id: UUID!) { updateNotificationEndpoint(id: $id, agent: null, enabled: false, retryInitialSeconds: 0.5) { notificationEndpoint { agentId enabled retryInitialSeconds } } }`,
        { id: endpointId },
      ),
      "update",
    );
    expect(updated.updateNotificationEndpoint.notificationEndpoint).toEqual({ agentId: null, enabled: false, retryInitialSeconds: 0.5 });
    const deleted = ok(
      await gql<{ deleteNotificationEndpoint: unknown }>(`mutation ($id: UUID!) { deleteNotificationEndpoint(id: $id) { notificationEndpointId deleted } }`, {
        id: endpointId,
      }),
      "delete",
    );
    expect(deleted.deleteNotificationEndpoint).toEqual({ notificationEndpointId: endpointId, deleted: true });
  });

  it("refuses a bad url, an unknown event, no events and an unknown agent; nothing is created", async () => {
    const before = await count("notification_endpoints");
    const cases: Array<[Record<string, unknown>, RegExp, string]> = [
      [{ url: "ftp://example.com/x" }, /^invalid notification endpoint: url: must be an http:\/\/ or https:\/\/ URL/, "invalid_notification_endpoint"],
      [{ events: ["run.exploded"] }, /^invalid notification endpoint: events\[0\]: must be one of "run.succeeded"/, "invalid_notification_endpoint"],
      [{ events: [] }, /^invalid notification endpoint: events: must list at least one of/, "invalid_notification_endpoint"],
      [{ agent: "nobody" }, /^no agent with id or name "nobody" in this workspace$/, "not_found"],
    ];
    for (const [vars, message, code] of cases) {
      const answer = await gql(
        `mutation ($name: String!, $url: String!, $events: [String!]!, $agent: String) {
          createNotificationEndpoint(name: $name, url: $url, events: $events, agent: $agent, secretName: "notify-secret") { notificationEndpointId }
        }`,
        { name: unique("bad-endpoint"), url: "https://example.com/hook", events: ["run.failed"], ...vars },
      );
      const error = failed(answer, JSON.stringify(vars));
      expect(error.message, JSON.stringify(vars)).toMatch(message);
      expect(error.extensions?.code, JSON.stringify(vars)).toBe(code);
    }
    expect(await count("notification_endpoints")).toBe(before);
  });
});

describe("roles and workspaces", () => {
  it("a viewer reads but changes nothing; an operator pauses, resumes, triggers, tests and resends but does not create, update or delete", async () => {
    const scheduleId = await newSchedule();
    const webhookId = await newWebhook("hook-secret");
    const endpointId = await newEndpoint();
    const adminOnly = [
      [
        "createSchedule",
        `mutation { createSchedule(name: "by-role", agent: "trigger-agent", cron: "0 9 * * *", input: { messages: [{ role: "user", content: "x" }] }) { scheduleId } }`,
      ],
      ["updateSchedule", `mutation { updateSchedule(id: "${scheduleId}", catchUp: "skip") { scheduleId } }`],
      ["deleteSchedule", `mutation { deleteSchedule(id: "${scheduleId}") { deleted } }`],
      ["createWebhook", `mutation { createWebhook(name: "by-role", agent: "trigger-agent", secretNames: ["hook-secret"]) { webhookId } }`],
      ["updateWebhook", `mutation { updateWebhook(id: "${webhookId}", enabled: false) { webhookId } }`],
      ["deleteWebhook", `mutation { deleteWebhook(id: "${webhookId}") { deleted } }`],
      [
        "createNotificationEndpoint",
        `mutation { createNotificationEndpoint(name: "by-role", url: "https://example.com", events: ["run.failed"], secretName: "s") { notificationEndpointId } }`,
      ],
      ["updateNotificationEndpoint", `mutation { updateNotificationEndpoint(id: "${endpointId}", enabled: false) { notificationEndpointId } }`],
      ["deleteNotificationEndpoint", `mutation { deleteNotificationEndpoint(id: "${endpointId}") { deleted } }`],
    ];
    const operatorMay = [
      ["pauseSchedule", `mutation { pauseSchedule(id: "${scheduleId}") { schedule { paused } } }`],
      ["resumeSchedule", `mutation { resumeSchedule(id: "${scheduleId}") { schedule { paused } } }`],
      ["triggerAgent", `mutation { triggerAgent(agent: "trigger-agent", payload: "role check") { runId } }`],
      ["sendTestWebhookDelivery", `mutation { sendTestWebhookDelivery(id: "${webhookId}") { runId } }`],
      ["resendNotification", `mutation { resendNotification(id: "00000000-0000-0000-0000-00000000dead") { notificationDeliveryId } }`],
    ];
    const before = JSON.stringify(
      await db.pool.query(
        "select (select count(*) from everruns.schedules) s, (select count(*) from everruns.webhooks) w, (select count(*) from everruns.notification_endpoints) e, (select count(*) from everruns.runs) r",
      ),
    );
    for (const [name, mutation] of [...adminOnly, ...operatorMay]) {
      const error = failed(await gql(mutation!, {}, viewer), `${name} as viewer`);
      expect({ name, code: error.extensions?.code }).toEqual({ name, code: "forbidden" });
    }
    for (const [name, mutation] of adminOnly) {
      const error = failed(await gql(mutation!, {}, operator), `${name} as operator`);
      expect(error.extensions?.code, name).toBe("forbidden");
      expect(error.message, name).toMatch(/needs an API key with role admin/);
    }
    expect(
      JSON.stringify(
        await db.pool.query(
          "select (select count(*) from everruns.schedules) s, (select count(*) from everruns.webhooks) w, (select count(*) from everruns.notification_endpoints) e, (select count(*) from everruns.runs) r",
        ),
      ),
    ).toBe(before);
    for (const [name, mutation] of operatorMay) {
      const answer = await gql(mutation!, {}, operator);
      // an unknown delivery is not found: the operator got past the role check
      if (name === "resendNotification") expect(failed(answer, name).extensions?.code).toBe("not_found");
      else expect(answer.errors, name).toBeUndefined();
    }
    // and a viewer reads them
    const read = ok(
      await gql<{ schedule: { id: string }; webhook: { id: string }; notificationEndpoint: { id: string } }>(
        `query { schedule(id: "${scheduleId}") { id } webhook(id: "${webhookId}") { id } notificationEndpoint(id: "${endpointId}") { id } }`,
        {},
        viewer,
      ),
      "viewer reads",
    );
    expect(read).toEqual({ schedule: { id: scheduleId }, webhook: { id: webhookId }, notificationEndpoint: { id: endpointId } });
  });

  it("another workspace's schedules, webhooks and endpoints are invisible and its mutations act on nothing", async () => {
    const scheduleId = await newSchedule();
    const webhookId = await newWebhook("hook-secret");
    const endpointId = await newEndpoint();
    const read = ok(
      await gql<Record<string, unknown>>(
        `query {
          schedule(id: "${scheduleId}") { id }
          webhook(id: "${webhookId}") { id }
          notificationEndpoint(id: "${endpointId}") { id }
          schedules { totalCount }
          scheduleFires { totalCount }
          webhooks { totalCount }
          webhookDeliveries { totalCount }
          notificationEndpoints { totalCount }
          notificationDeliveries { totalCount }
          notificationAttempts { totalCount }
          activations { totalCount }
        }`,
        {},
        other,
      ),
      "other reads",
    );
    expect(read).toEqual({
      schedule: null,
      webhook: null,
      notificationEndpoint: null,
      schedules: { totalCount: 0 },
      scheduleFires: { totalCount: 0 },
      webhooks: { totalCount: 0 },
      webhookDeliveries: { totalCount: 0 },
      notificationEndpoints: { totalCount: 0 },
      notificationDeliveries: { totalCount: 0 },
      notificationAttempts: { totalCount: 0 },
      activations: { totalCount: 0 },
    });
    const notFound: Array<[string, string]> = [
      [`mutation { updateSchedule(id: "${scheduleId}", catchUp: "skip") { scheduleId } }`, `unknown schedule ${scheduleId}`],
      [`mutation { pauseSchedule(id: "${scheduleId}") { scheduleId } }`, `unknown schedule ${scheduleId}`],
      [`mutation { resumeSchedule(id: "${scheduleId}") { scheduleId } }`, `unknown schedule ${scheduleId}`],
      [`mutation { updateWebhook(id: "${webhookId}", enabled: false) { webhookId } }`, `unknown webhook ${webhookId}`],
      [`mutation { sendTestWebhookDelivery(id: "${webhookId}") { runId } }`, `unknown webhook ${webhookId}`],
      [
        `mutation { updateNotificationEndpoint(id: "${endpointId}", enabled: false) { notificationEndpointId } }`,
        `unknown notification endpoint ${endpointId}`,
      ],
      [`mutation { triggerAgent(agent: "trigger-agent") { runId } }`, "unknown agent trigger-agent"],
      [
        `mutation { createSchedule(name: "x", agent: "${agentId}", cron: "0 9 * * *", input: { messages: [] }) { scheduleId } }`,
        `no agent with id or name "${agentId}" in this workspace`,
      ],
    ];
    for (const [mutation, message] of notFound) {
      const error = failed(await gql(mutation, {}, other), mutation);
      expect({ mutation, message: error.message, code: error.extensions?.code }).toEqual({ mutation, message, code: "not_found" });
    }
    for (const mutation of [
      `mutation { deleteSchedule(id: "${scheduleId}") { deleted } }`,
      `mutation { deleteWebhook(id: "${webhookId}") { deleted } }`,
      `mutation { deleteNotificationEndpoint(id: "${endpointId}") { deleted } }`,
    ]) {
      expect(ok(await gql<Record<string, { deleted: boolean }>>(mutation, {}, other), mutation)).toEqual({
        [mutation.match(/\{ (\w+)\(/)![1]!]: { deleted: false },
      });
    }
    const still = await db.pool.query<{ paused: boolean }>("select paused from everruns.schedules where id = $1", [scheduleId]);
    expect(still.rows).toEqual([{ paused: false }]);
    expect((await db.pool.query("select 1 from everruns.webhooks where id = $1 and enabled", [webhookId])).rowCount).toBe(1);
    expect((await db.pool.query("select 1 from everruns.notification_endpoints where id = $1 and enabled", [endpointId])).rowCount).toBe(1);
  });
});
