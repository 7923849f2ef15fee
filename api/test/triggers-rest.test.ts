// The REST of triggers (api/triggers.ts) against a real API and Postgres: schedules, webhooks and
// notification endpoints created, read, changed and deleted; roles (a viewer reads only, an
// operator pauses and resumes but does not create); validation errors that name the field;
// another workspace's rows are unknown; POST /api/agents/:agent/trigger.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { createWorkspace } from "../../db/sql/workspaces.ts";
import { bearer, createTestKey, startTestApi, type TestApiHandle } from "./helpers.ts";

let db: TestDatabase;
let api: TestApiHandle;
const keys = { viewer: "", operator: "", otherAdmin: "" };

beforeAll(async () => {
  db = await createTestDatabase();
  const other = await createWorkspace(db.pool, "triggers-rest-b");
  keys.viewer = await createTestKey(db.url, { role: "viewer" });
  keys.operator = await createTestKey(db.url, { role: "operator" });
  keys.otherAdmin = await createTestKey(db.url, { role: "admin", workspaceId: other.id });
  await createAgent(db.pool, { provider: "scripted", script: [{ text: "done" }] }, "trig-agent");
  api = await startTestApi(db.url);
});

afterAll(async () => {
  await api?.close();
  await db?.drop();
});

async function call<T = Record<string, unknown>>(method: string, path: string, key = api.key, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers: { ...bearer(key), ...(body !== undefined && { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

const errorOf = (body: unknown) => (body as { error: { code: string; message: string } }).error;
const input = { messages: [{ role: "user", content: "report at {{fire_time}}" }] };

describe("schedules", () => {
  it("create, read with next fire times, change, pause, resume, list, fires, delete", async () => {
    const created = await call("POST", "/api/schedules", api.key, {
      agent: "trig-agent",
      name: "daily",
      cron: "0 9 * * 1-5",
      timezone: "Europe/Berlin",
      input,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    const read = await call<{ next_fire_times: string[]; recent_fires: unknown[]; paused: boolean }>("GET", `/api/schedules/${id}`, keys.viewer);
    expect(read.status).toBe(200);
    expect(read.body.next_fire_times).toHaveLength(5);
    for (const t of read.body.next_fire_times) expect(new Date(t).getTime()).toBeGreaterThan(Date.now());
    expect(read.body.recent_fires).toEqual([]);

    const changed = await call("PATCH", `/api/schedules/${id}`, api.key, { interval_seconds: 3600 });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(changed.body).toMatchObject({ cron: null, interval_seconds: 3600 });

    const paused = await call<{ paused: boolean; next_fire_times: string[]; next_fire_note: string }>("POST", `/api/schedules/${id}/pause`, keys.operator, {
      note: "maintenance",
    });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ paused: true, paused_note: "maintenance", next_fire_times: [] });
    expect(paused.body.next_fire_note).toMatch(/^paused: maintenance/);
    const resumed = await call("POST", `/api/schedules/${id}/resume`, keys.operator);
    expect(resumed.body).toMatchObject({ paused: false });

    const list = await call<{ schedules: Array<{ id: string }> }>("GET", "/api/schedules", keys.viewer);
    expect(list.body.schedules.map((s) => s.id)).toContain(id);
    const fires = await call("GET", `/api/schedules/${id}/fires?limit=5&before=2099-01-01T00:00:00Z`, keys.viewer);
    expect(fires).toEqual({ status: 200, body: { fires: [] } });

    const { rows } = await db.pool.query<{ action: string }>("select action from everruns.audit_log where target_id = $1 order by id", [id]);
    expect(rows.map((r) => r.action)).toEqual(["schedule.created", "schedule.updated", "schedule.paused", "schedule.resumed"]);
    expect((await call("DELETE", `/api/schedules/${id}`, keys.operator)).status).toBe(403);
    expect((await call("DELETE", `/api/schedules/${id}`)).status).toBe(200);
    expect((await call("GET", `/api/schedules/${id}`)).status).toBe(404);
  });

  it("validation errors name the problem; roles are enforced; another workspace's schedule is unknown", async () => {
    const badCron = await call("POST", "/api/schedules", api.key, { agent: "trig-agent", name: "bad", cron: "61 * * * *", input });
    expect(badCron.status).toBe(400);
    expect(errorOf(badCron.body).message).toMatch(/invalid schedule/);
    const both = await call("POST", "/api/schedules", api.key, { agent: "trig-agent", name: "bad", cron: "@hourly", interval_seconds: 60, input });
    expect(errorOf(both.body).message).toMatch(/either cron or interval/);
    const zone = await call("POST", "/api/schedules", api.key, { agent: "trig-agent", name: "bad", cron: "@hourly", timezone: "Mars/Olympus", input });
    expect(zone.status).toBe(400);
    const field = await call("POST", "/api/schedules", api.key, { agent: "trig-agent", name: "bad name!", cron: "@hourly", input, overlap: "sometimes" });
    expect(errorOf(field.body).message).toMatch(/name: .*overlap: must be skip, buffer_one/s);
    const agent = await call("POST", "/api/schedules", api.key, { agent: "nobody", name: "x", cron: "@hourly", input });
    expect(agent.status).toBe(404);
    const badInput = await call("POST", "/api/schedules", api.key, { agent: "trig-agent", name: "x", cron: "@hourly", input: { messages: "no" } });
    expect(badInput.status).toBe(400);
    expect(errorOf(badInput.body).code).toBe("invalid_run_input");

    const body = { agent: "trig-agent", name: "roles", interval_seconds: 60, input };
    expect(errorOf((await call("POST", "/api/schedules", keys.viewer, body)).body).message).toMatch(/role admin; this key's role is viewer/);
    expect((await call("POST", "/api/schedules", keys.operator, body)).status).toBe(403);
    const created = await call("POST", "/api/schedules", api.key, body);
    const id = created.body.id as string;
    expect((await call("POST", `/api/schedules/${id}/pause`, keys.viewer)).status).toBe(403);
    expect((await call("PATCH", `/api/schedules/${id}`, keys.operator, { name: "x" })).status).toBe(403);
    for (const [method, path] of [
      ["GET", `/api/schedules/${id}`],
      ["PATCH", `/api/schedules/${id}`],
      ["POST", `/api/schedules/${id}/pause`],
      ["DELETE", `/api/schedules/${id}`],
    ] as const) {
      expect((await call(method, path, keys.otherAdmin, method === "PATCH" ? { name: "stolen" } : undefined)).status, `${method} ${path}`).toBe(404);
    }
    expect((await call<{ schedules: unknown[] }>("GET", "/api/schedules", keys.otherAdmin)).body.schedules).toEqual([]);
    expect((await call("GET", "/api/schedules/not-a-uuid")).status).toBe(400);
  });
});

describe("webhooks", () => {
  it("create (warning about unset secrets), read with its URL path and deliveries, change, delete; hmac needs its header", async () => {
    const created = await call<{ id: string; url_path: string; warnings: string[] }>("POST", "/api/webhooks", api.key, {
      agent: "trig-agent",
      name: "github-issues",
      verify: "github",
      secret_names: ["gh_secret"],
      thread_key_pointer: "/issue/number",
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.url_path).toBe(`/hooks/${created.body.id}`);
    expect(created.body.warnings[0]).toMatch(/gh_secret is not set yet/);
    const id = created.body.id;
    const read = await call("GET", `/api/webhooks/${id}`, keys.viewer);
    expect(read.body).toMatchObject({ name: "github-issues", verify: "github", recent_deliveries: [] });
    expect((await call("PATCH", `/api/webhooks/${id}`, api.key, { enabled: false })).body).toMatchObject({ enabled: false });
    expect((await call("GET", `/api/webhooks/${id}/deliveries`, keys.viewer)).body).toEqual({ deliveries: [] });
    const hmac = await call("POST", "/api/webhooks", api.key, { agent: "trig-agent", name: "h", verify: "hmac", secret_names: ["s"] });
    expect(hmac.status).toBe(400);
    expect(errorOf(hmac.body).message).toMatch(/signature_header: hmac needs signature_header/);
    const pointer = await call("POST", "/api/webhooks", api.key, { agent: "trig-agent", name: "p", secret_names: ["s"], dedupe_pointer: "id" });
    expect(errorOf(pointer.body).message).toMatch(/dedupe_pointer: must be a JSON pointer/);
    expect((await call("POST", "/api/webhooks", keys.operator, { agent: "trig-agent", name: "o", secret_names: ["s"] })).status).toBe(403);
    expect((await call("GET", `/api/webhooks/${id}`, keys.otherAdmin)).status).toBe(404);
    expect((await call("DELETE", `/api/webhooks/${id}`)).status).toBe(200);
    expect((await call("DELETE", `/api/webhooks/${id}`)).status).toBe(404);
  });
});

describe("notification endpoints and deliveries", () => {
  it("create, read, change, delete; url and events validated; a delivery listed, read and resent", async () => {
    const bad = await call("POST", "/api/notification-endpoints", api.key, { name: "n", url: "ftp://x", events: ["run.exploded"], secret_name: "n" });
    expect(bad.status).toBe(400);
    expect(errorOf(bad.body).message).toMatch(/url: must be an http:\/\/ or https:\/\/ URL.*events/s);
    const created = await call<{ id: string }>("POST", "/api/notification-endpoints", api.key, {
      name: "ops",
      url: "https://example.com/hook",
      events: ["run.failed", "run.succeeded"],
      agent: "trig-agent",
      secret_name: "notify_secret",
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id;
    expect((await call("PATCH", `/api/notification-endpoints/${id}`, api.key, { events: ["run.failed"], agent: null })).body).toMatchObject({
      events: ["run.failed"],
      agent_id: null,
    });
    expect((await call("GET", `/api/notification-endpoints/${id}`, keys.viewer)).body).toMatchObject({ name: "ops", recent_deliveries: [] });
    expect((await call<{ endpoints: unknown[] }>("GET", "/api/notification-endpoints", keys.viewer)).body.endpoints).toHaveLength(1);

    // a delivery as a run's end makes one (the trigger, as the owner)
    const { rows } = await db.pool.query<{ id: string }>(
      `insert into everruns.notification_deliveries (workspace_id, endpoint_id, event, subject_id, payload, status)
       values ('00000000-0000-0000-0000-000000000001', $1, 'run.failed', $2, '{"type":"run.failed"}', 'failed') returning id`,
      [id, randomUUID()],
    );
    const deliveryId = rows[0]!.id;
    const list = await call<{ deliveries: Array<{ id: string; attempt_log: unknown[] }> }>(
      "GET",
      `/api/notifications?endpoint=${id}&status=failed&limit=5`,
      keys.viewer,
    );
    expect(list.body.deliveries.map((d) => d.id)).toEqual([deliveryId]);
    expect((await call("GET", `/api/notifications/${deliveryId}`, keys.viewer)).body).toMatchObject({ id: deliveryId, status: "failed", attempt_log: [] });
    expect((await call("POST", `/api/notifications/${deliveryId}/resend`, keys.viewer)).status).toBe(403);
    const resent = await call("POST", `/api/notifications/${deliveryId}/resend`, keys.operator);
    expect(resent.status, JSON.stringify(resent.body)).toBe(200);
    expect(resent.body).toMatchObject({ status: "pending" });
    expect((await call("POST", `/api/notifications/${deliveryId}/resend`, keys.otherAdmin)).status).toBe(404);
    expect((await call("GET", "/api/notifications?status=lost")).status).toBe(400);
    expect((await call("DELETE", `/api/notification-endpoints/${id}`)).status).toBe(200);
  });
});

describe("POST /api/agents/:agent/trigger", () => {
  it("starts a run for an event (202), on a keyed thread when asked; operator only; unknown agent 404", async () => {
    const a = await call<{ run_id: string }>("POST", "/api/agents/trig-agent/trigger", keys.operator, { payload: { ticket: 1 }, thread_key: "ticket-1" });
    expect(a.status, JSON.stringify(a.body)).toBe(202);
    const b = await call<{ run_id: string }>("POST", "/api/agents/trig-agent/trigger", keys.operator, { payload: "second", thread_key: "ticket-1" });
    expect(b.status).toBe(202);
    const { rows } = await db.pool.query<{ key: string }>(
      `select distinct t.key from everruns.activations x join everruns.threads t on t.id = x.thread_id where x.run_id = any($1)`,
      [[a.body.run_id, b.body.run_id]],
    );
    expect(rows).toEqual([{ key: "ticket-1" }]);
    expect((await call("POST", "/api/agents/trig-agent/trigger", keys.viewer, { payload: {} })).status).toBe(403);
    expect((await call("POST", "/api/agents/nobody/trigger", keys.operator, { payload: {} })).status).toBe(404);
    expect((await call("POST", "/api/agents/trig-agent/trigger", keys.otherAdmin, { payload: {} })).status).toBe(404);
    expect((await call("POST", "/api/agents/trig-agent/trigger", keys.operator, { payload: {}, thread_key: "has space" })).status).toBe(400);
  });
});
