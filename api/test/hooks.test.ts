// POST /hooks/:id (api/hooks.ts) against a real API, a real Postgres and, where runs must run, a
// real worker: signatures made by the senders' own signers (the standardwebhooks package,
// GitHub's HMAC as documented) accepted; tampered, wrongly keyed and stale deliveries refused
// with nothing written; rotation; bearer and hmac; one run for 100 concurrent repeats of one
// delivery; the body limit; input templates; a thread key's deliveries run one after another;
// test deliveries. And lib/json-pointer.ts, the pointers and templates the route uses.
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, waitFor, type TestDatabase } from "../../db/test/helpers.ts";
import { setSecret } from "../../db/sql/setSecret.ts";
import { parsePointer, renderTemplate, resolvePointer } from "../../lib/json-pointer.ts";
import { generateSecretKey, SECRET_KEY_ENV } from "../../lib/secret-box.ts";
import { generateSecret } from "../../lib/webhook-signatures.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { bearer, createTestKey, quietLog, startTestApi, type TestApiHandle } from "./helpers.ts";

describe("lib/json-pointer.ts", () => {
  const doc = { a: { "b/c": 1, "m~n": [10, 20, { x: "y" }] }, "": "empty", s: "text", n: null };
  it("resolves RFC 6901 pointers, escapes included", () => {
    expect(parsePointer("/a/b~1c")).toEqual(["a", "b/c"]);
    expect(parsePointer("/~01")).toEqual(["~1"]);
    expect(parsePointer("a")).toBeNull();
    expect(resolvePointer(doc, "")).toBe(doc);
    expect(resolvePointer(doc, "/a/b~1c")).toBe(1);
    expect(resolvePointer(doc, "/a/m~0n/1")).toBe(20);
    expect(resolvePointer(doc, "/a/m~0n/2/x")).toBe("y");
    expect(resolvePointer(doc, "/")).toBe("empty");
    expect(resolvePointer(doc, "/n")).toBeNull();
    for (const missing of ["/a/m~0n/3", "/a/m~0n/01", "/a/m~0n/-", "/s/0", "/zz", "/a/toString"]) expect(resolvePointer(doc, missing)).toBeUndefined();
  });
  it("renders templates: a whole placeholder keeps the type, inside text values become text, missing is empty", () => {
    const t = { n: "{{/a/b~1c}}", o: "{{/a/m~0n/2}}", text: "#{{/a/b~1c}} {{/s}} {{/a/m~0n/2}} [{{/nope}}]", miss: "{{/nope}}", list: ["{{/s}}", 3], k: null };
    expect(renderTemplate(t, doc)).toEqual({ n: 1, o: { x: "y" }, text: '#1 text {"x":"y"} []', miss: "", list: ["text", 3], k: null });
  });
});

let db: TestDatabase;
let api: TestApiHandle;
let worker: WorkerHandle | null = null;
let operatorKey: string;
const secretKey = generateSecretKey();
const previousKey = process.env[SECRET_KEY_ENV];

beforeAll(async () => {
  process.env[SECRET_KEY_ENV] = secretKey;
  db = await createTestDatabase();
  operatorKey = await createTestKey(db.url, { role: "operator" });
  await createAgent(db.pool, { provider: "scripted", script: [{ text: "done" }] }, "hook-agent");
  await createAgent(db.pool, { provider: "scripted", script: [{ text: "done", delay_ms: 150 }] }, "slow-hook-agent");
  api = await startTestApi(db.url);
});

afterAll(async () => {
  await worker?.stop();
  await api?.close();
  await db?.drop();
  if (previousKey === undefined) delete process.env[SECRET_KEY_ENV];
  else process.env[SECRET_KEY_ENV] = previousKey;
});

async function setWorkspaceSecret(name: string, value: string): Promise<void> {
  await setSecret(db.pool, { name, value, key: Buffer.from(secretKey, "base64") });
}

interface Hook {
  id: string;
  name: string;
}

/** A webhook made through the REST API (admin), its secrets set first when given. */
async function makeHook(body: Record<string, unknown>, secrets: Record<string, string> = {}): Promise<Hook> {
  for (const [name, value] of Object.entries(secrets)) await setWorkspaceSecret(name, value);
  const res = await fetch(`${api.url}/api/webhooks`, {
    method: "POST",
    headers: { ...api.headers, "content-type": "application/json" },
    body: JSON.stringify({ agent: "hook-agent", name: `hook-${randomBytes(4).toString("hex")}`, ...body }),
  });
  const answer = (await res.json()) as Hook & { error?: unknown };
  expect(res.status, JSON.stringify(answer)).toBe(201);
  return answer;
}

async function post(
  hook: string,
  body: string | Buffer,
  headers: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${api.url}/hooks/${hook}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: res.headers };
}

function standardHeaders(secret: string, body: string, msgId = `msg_${randomUUID()}`, at = new Date()): Record<string, string> {
  return {
    "webhook-id": msgId,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": new Webhook(secret).sign(msgId, at, body),
  };
}

const hex = (secret: string, body: string | Buffer) => createHmac("sha256", secret).update(body).digest("hex");

async function counts(hookId: string): Promise<{ deliveries: number; runs: number }> {
  const { rows } = await db.pool.query<{ deliveries: number; runs: number }>(
    `select (select count(*)::int from everruns.webhook_deliveries where webhook_id = $1) as deliveries,
            (select count(*)::int from everruns.runs r join everruns.agents a on a.id = r.agent_id where a.name in ('hook-agent', 'slow-hook-agent')) as runs`,
    [hookId],
  );
  return rows[0]!;
}

describe("POST /hooks/:id", () => {
  it("answers 404 alike for a malformed, unknown or disabled webhook", async () => {
    const secret = generateSecret("standard");
    const hook = await makeHook({ secret_names: ["h404"], enabled: false }, { h404: secret });
    for (const id of ["not-a-uuid", randomUUID(), hook.id]) {
      const body = "{}";
      const answer = await post(id, body, standardHeaders(secret, body));
      expect(answer.status).toBe(404);
      expect((answer.body.error as { code: string }).code).toBe("not_found");
    }
  });

  it("accepts a Standard Webhooks delivery signed by the standardwebhooks package; a repeat is answered with the same run", async () => {
    const secret = generateSecret("standard");
    const hook = await makeHook({ secret_names: ["std1"] }, { std1: secret });
    const body = JSON.stringify({ event: "ping", n: 1 });
    const headers = standardHeaders(secret, body);
    const first = await post(hook.id, body, headers);
    expect(first.status).toBe(202);
    expect(first.body.run_id).toMatch(/^[0-9a-f-]{36}$/);
    const again = await post(hook.id, body, headers);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ run_id: first.body.run_id, delivery_id: first.body.delivery_id, duplicate: true });
    const { rows } = await db.pool.query<{ input: unknown }>("select input from everruns.runs where id = $1", [first.body.run_id]);
    expect(rows[0]!.input).toEqual({
      messages: [{ role: "user", content: body }],
      context: [{ description: `webhook ${hook.name} delivery`, value: body }],
    });
  });

  it("refuses a tampered body, a wrong secret and a 6-minute-old timestamp with 401, writing nothing", async () => {
    const secret = generateSecret("standard");
    const hook = await makeHook({ secret_names: ["std2"] }, { std2: secret });
    const before = await counts(hook.id);
    const body = JSON.stringify({ event: "x" });
    const tampered = await post(hook.id, body.replace("x", "y"), standardHeaders(secret, body));
    const wrong = await post(hook.id, body, standardHeaders(generateSecret("standard"), body));
    const old = await post(hook.id, body, standardHeaders(secret, body, undefined, new Date(Date.now() - 6 * 60_000)));
    for (const answer of [tampered, wrong, old]) {
      expect(answer.status).toBe(401);
      expect((answer.body.error as { code: string }).code).toBe("invalid_signature");
    }
    expect((old.body.error as { message: string }).message).toMatch(/timestamp/i);
    expect(await counts(hook.id)).toEqual(before);
  });

  it("accepts GitHub's signature (JSON and form-encoded payload) and de-duplicates by X-GitHub-Delivery", async () => {
    const secret = randomBytes(20).toString("hex");
    const hook = await makeHook({ verify: "github", secret_names: ["gh1"] }, { gh1: secret });
    const payload = { action: "opened", issue: { number: 7 } };
    const json = JSON.stringify(payload);
    const delivery = randomUUID();
    const a = await post(hook.id, json, { "x-hub-signature-256": `sha256=${hex(secret, json)}`, "x-github-delivery": delivery });
    expect(a.status).toBe(202);
    const b = await post(hook.id, json, { "x-hub-signature-256": `sha256=${hex(secret, json)}`, "x-github-delivery": delivery });
    expect(b.body.duplicate).toBe(true);
    const form = `payload=${encodeURIComponent(json)}`;
    const c = await post(hook.id, form, {
      "content-type": "application/x-www-form-urlencoded",
      "x-hub-signature-256": `sha256=${hex(secret, form)}`,
      "x-github-delivery": randomUUID(),
    });
    expect(c.status).toBe(202);
    const { rows } = await db.pool.query<{ payload: unknown }>("select payload from everruns.webhook_deliveries where id = $1", [c.body.delivery_id]);
    expect(rows[0]!.payload).toEqual(payload);
    const bad = await post(hook.id, json, { "x-hub-signature-256": `sha256=${hex("another-secret-of-16+", json)}`, "x-github-delivery": randomUUID() });
    expect(bad.status).toBe(401);
  });

  it("verifies with either secret during a rotation, recording which one", async () => {
    const [oldSecret, newSecret] = [generateSecret("standard"), generateSecret("standard")];
    const hook = await makeHook({ secret_names: ["rot_old", "rot_new"] }, { rot_old: oldSecret, rot_new: newSecret });
    const body = "{}";
    const byOld = await post(hook.id, body, standardHeaders(oldSecret, body));
    const byNew = await post(hook.id, body, standardHeaders(newSecret, body));
    expect([byOld.status, byNew.status]).toEqual([202, 202]);
    const { rows } = await db.pool.query<{ id: string; verified_with: number }>(
      "select id, verified_with from everruns.webhook_deliveries where webhook_id = $1",
      [hook.id],
    );
    expect(Object.fromEntries(rows.map((r) => [r.id, r.verified_with]))).toEqual({
      [byOld.body.delivery_id as string]: 0,
      [byNew.body.delivery_id as string]: 1,
    });
  });

  it("verifies bearer and hmac webhooks", async () => {
    const token = randomBytes(24).toString("hex");
    const bearerHook = await makeHook({ verify: "bearer", secret_names: ["bear1"] }, { bear1: token });
    expect((await post(bearerHook.id, "{}", { authorization: `Bearer ${token}` })).status).toBe(202);
    expect((await post(bearerHook.id, "{}", { authorization: `Bearer ${token}x` })).status).toBe(401);
    const key = randomBytes(24).toString("hex");
    const hmacHook = await makeHook({ verify: "hmac", secret_names: ["hmac1"], signature_header: "X-Acme-Signature", signature_prefix: "v1=" }, { hmac1: key });
    const body = "plain text, not JSON";
    const ok = await post(hmacHook.id, body, { "content-type": "text/plain", "x-acme-signature": `v1=${hex(key, body)}` });
    expect(ok.status).toBe(202);
    const { rows } = await db.pool.query<{ payload: unknown }>("select payload from everruns.webhook_deliveries where id = $1", [ok.body.delivery_id]);
    expect(rows[0]!.payload).toBe(body);
    expect((await post(hmacHook.id, body, { "content-type": "text/plain", "x-acme-signature": `v1=${hex(key, `${body}!`)}` })).status).toBe(401);
  });

  it("100 concurrent repeats of one delivery: one run, one delivery row with 99 duplicates, every answer the same run", async () => {
    const secret = generateSecret("standard");
    const hook = await makeHook({ secret_names: ["dup1"] }, { dup1: secret });
    const body = JSON.stringify({ id: "evt_1" });
    const headers = standardHeaders(secret, body);
    const answers = await Promise.all(Array.from({ length: 100 }, () => post(hook.id, body, headers)));
    expect(answers.filter((a) => a.status === 202)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(99);
    expect(new Set(answers.map((a) => a.body.run_id)).size).toBe(1);
    const { rows } = await db.pool.query<{ duplicates: number }>("select duplicates from everruns.webhook_deliveries where webhook_id = $1", [hook.id]);
    expect(rows).toEqual([{ duplicates: 99 }]);
    const runs = await db.pool.query("select id from everruns.runs where id = $1", [answers[0]!.body.run_id]);
    expect(runs.rowCount).toBe(1);
  });

  it("refuses a body over the webhook's max_body_bytes with 413, writing nothing", async () => {
    const secret = generateSecret("standard");
    const hook = await makeHook({ secret_names: ["big1"], max_body_bytes: 2048 }, { big1: secret });
    const body = JSON.stringify({ blob: "x".repeat(4000) });
    const answer = await post(hook.id, body, standardHeaders(secret, body));
    expect(answer.status).toBe(413);
    expect((await counts(hook.id)).deliveries).toBe(0);
    const small = JSON.stringify({ blob: "x".repeat(1000) });
    expect((await post(hook.id, small, standardHeaders(secret, small))).status).toBe(202);
  });

  it("renders the input template with pointers, de-duplicates by dedupe_pointer, and refuses a payload without the thread key (422)", async () => {
    const secret = generateSecret("standard");
    const hook = await makeHook(
      {
        secret_names: ["tpl1"],
        dedupe_pointer: "/event/id",
        input_template: {
          messages: [{ role: "user", content: "Issue #{{/issue/number}}: {{/issue/title}} ({{/missing}})" }],
          context: [{ description: "labels", value: "{{/labels}}" }],
        },
      },
      { tpl1: secret },
    );
    const payload = { event: { id: 42 }, issue: { number: 7, title: "Crash on start" }, labels: "bug" };
    const body = JSON.stringify(payload);
    const first = await post(hook.id, body, standardHeaders(secret, body));
    expect(first.status).toBe(202);
    // another message id, the same event id: a repeat
    const again = await post(hook.id, body, standardHeaders(secret, body));
    expect(again.body).toMatchObject({ run_id: first.body.run_id, duplicate: true });
    const { rows } = await db.pool.query<{ input: unknown }>("select input from everruns.runs where id = $1", [first.body.run_id]);
    expect(rows[0]!.input).toEqual({
      messages: [{ role: "user", content: "Issue #7: Crash on start ()" }],
      context: [
        { description: "labels", value: "bug" },
        { description: `webhook ${hook.name} delivery`, value: body },
      ],
    });
    const threaded = await makeHook({ secret_names: ["tpl1"], thread_key_pointer: "/conversation/id" });
    const answer = await post(threaded.id, body, standardHeaders(secret, body));
    expect(answer.status).toBe(422);
    expect((answer.body.error as { message: string }).message).toContain("/conversation/id");
    expect((await counts(threaded.id)).deliveries).toBe(0);
  });

  it("a run input the database refuses is a 422 with its message, nothing written", async () => {
    const secret = generateSecret("standard");
    const hook = await makeHook({ secret_names: ["bad1"], input_template: { messages: "{{/text}}" } }, { bad1: secret });
    const body = JSON.stringify({ text: "not a list" });
    const answer = await post(hook.id, body, standardHeaders(secret, body));
    expect(answer.status).toBe(422);
    expect((await counts(hook.id)).deliveries).toBe(0);
  });

  it("answers 503 naming the secrets to set when none of them is set", async () => {
    const hook = await makeHook({ secret_names: ["never_set_1"] });
    const answer = await post(hook.id, "{}", standardHeaders(generateSecret("standard"), "{}"));
    expect(answer.status).toBe(503);
    expect((answer.body.error as { message: string }).message).toMatch(/never_set_1.*everruns secrets set/);
  });

  it("20 concurrent deliveries for one thread key run on one thread, one after another, all succeeded", async () => {
    worker = await startWorker({ databaseUrl: db.url, concurrency: 8, shutdownTimeoutMs: 2000, log: quietLog });
    const secret = generateSecret("standard");
    const hook = await makeHook({ agent: "slow-hook-agent", secret_names: ["thr1"], thread_key_pointer: "/chat" }, { thr1: secret });
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => {
        const body = JSON.stringify({ chat: "room-1", n: i });
        return post(hook.id, body, standardHeaders(secret, body));
      }),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(202));
    const runIds = answers.map((a) => a.body.run_id as string);
    type Row = { id: string; thread_id: string; status: string; started_at: Date | null; finished_at: Date | null };
    const rows = await waitFor(
      "the thread's 20 runs to end",
      async () => {
        const { rows } = await db.pool.query<Row>("select id, thread_id, status, started_at, finished_at from everruns.runs where id = any($1)", [runIds]);
        return rows.length === 20 && rows.every((r) => r.finished_at !== null) ? rows : null;
      },
      60_000,
    );
    expect(new Set(rows.map((r) => r.thread_id)).size).toBe(1);
    expect(rows.map((r) => r.status)).toEqual(Array(20).fill("succeeded"));
    const spans = rows.map((r) => [r.started_at!.getTime(), r.finished_at!.getTime()] as const).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
  }, 90_000);

  it("POST /api/webhooks/:id/test signs with the webhook's own secret and goes through the same path (test = true)", async () => {
    for (const [verify, extra, value] of [
      ["standard", {}, generateSecret("standard")],
      ["github", {}, randomBytes(20).toString("hex")],
      ["hmac", { signature_header: "x-sig", signature_prefix: "sha256=" }, randomBytes(20).toString("hex")],
      ["bearer", {}, randomBytes(20).toString("hex")],
    ] as const) {
      const name = `test_${verify}`;
      const hook = await makeHook({ verify, secret_names: [name], ...extra }, { [name]: value });
      const res = await fetch(`${api.url}/api/webhooks/${hook.id}/test`, {
        method: "POST",
        headers: { ...bearer(operatorKey), "content-type": "application/json" },
        body: JSON.stringify({ payload: { hello: verify } }),
      });
      const answer = (await res.json()) as { run_id: string; delivery_id: string };
      expect(res.status, `${verify}: ${JSON.stringify(answer)}`).toBe(202);
      const { rows } = await db.pool.query("select test, payload from everruns.webhook_deliveries where id = $1", [answer.delivery_id]);
      expect(rows[0]).toEqual({ test: true, payload: { hello: verify } });
    }
    const viewer = await createTestKey(db.url, { role: "viewer" });
    const refused = await fetch(`${api.url}/api/webhooks/${randomUUID()}/test`, { method: "POST", headers: bearer(viewer) });
    expect(refused.status).toBe(403);
    const unknown = await fetch(`${api.url}/api/webhooks/${randomUUID()}/test`, { method: "POST", headers: bearer(operatorKey) });
    expect(unknown.status).toBe(404);
  });
});
