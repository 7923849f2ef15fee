// POST /hooks/:id (api/hooks.ts) against a real API, a real Postgres and, where runs must run, a
// real worker: signatures made by the senders' own signers (the standardwebhooks package,
// GitHub's HMAC as documented) accepted; tampered, wrongly keyed and stale deliveries refused
// with nothing written; rotation; bearer and hmac; one run for 100 concurrent repeats of one
// delivery; the body limit; input templates; a thread key's deliveries run one after another;
// test deliveries. And lib/json-pointer.ts, the pointers and templates the route uses.
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { createServer, request as httpRequest, type ClientRequest, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, waitFor, type TestDatabase } from "../../db/test/helpers.ts";
import { setSecret } from "../../db/sql/setSecret.ts";
import { MAX_RUN_INPUT_BYTES } from "../../db/sql/startRun.ts";
import { parsePointer, renderTemplate, resolvePointer, TemplateTooLargeError } from "../../lib/json-pointer.ts";
import type { Logger } from "../../lib/logger.ts";
import { generateSecretKey, SECRET_KEY_ENV } from "../../lib/secret-box.ts";
import { generateSecret } from "../../lib/webhook-signatures.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { hookRateLimits, hooksRouter, unverifiedBytesInFlight, type HooksDeps } from "../hooks.ts";
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
  it("stops rendering once the output is over maxChars, counting literal text, keys, values and whole placeholders", () => {
    // "ab" + "xyz" + "cd": 7 characters
    expect(renderTemplate("ab{{/t}}cd", { t: "xyz" }, { maxChars: 7 })).toBe("abxyzcd");
    expect(() => renderTemplate("ab{{/t}}cd", { t: "xyz" }, { maxChars: 6 })).toThrow(TemplateTooLargeError);
    // a key (1) and a whole placeholder's JSON text ([1,2]: 5)
    expect(renderTemplate({ k: "{{/a}}" }, { a: [1, 2] }, { maxChars: 6 })).toEqual({ k: [1, 2] });
    expect(() => renderTemplate({ k: "{{/a}}" }, { a: [1, 2] }, { maxChars: 5 })).toThrow(TemplateTooLargeError);
    // the review's case: a 19 KB template naming a 256 KiB value 1,900 times would be ~500 MB
    const doc = { text: "x".repeat(256 * 1024) };
    for (const template of ["{{/text}}".repeat(1900), Array(1900).fill("{{/text}}")]) {
      const started = Date.now();
      let thrown: unknown;
      try {
        renderTemplate(template, doc, { maxChars: MAX_RUN_INPUT_BYTES });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(TemplateTooLargeError);
      expect((thrown as TemplateTooLargeError).limit).toBe(MAX_RUN_INPUT_BYTES);
      expect(Date.now() - started).toBeLessThan(1000);
    }
    expect(renderTemplate(Array(3).fill("{{/text}}"), doc)).toHaveLength(3); // no limit given: none
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

async function setWorkspaceSecret(name: string, value: string, key = secretKey): Promise<void> {
  await setSecret(db.pool, { name, value, key: Buffer.from(key, "base64") });
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

  it("a delivery's W3C traceparent and tracestate headers are its run's trace context (docs/observability.md)", async () => {
    const secret = generateSecret("standard");
    const hook = await makeHook({ secret_names: ["std-trace"] }, { "std-trace": secret });
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const body = JSON.stringify({ event: "traced" });
    const answer = await post(hook.id, body, { ...standardHeaders(secret, body), traceparent, tracestate: "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE" });
    expect(answer.status).toBe(202);
    const { rows } = await db.pool.query<{ trace_parent: string | null; trace_state: string | null }>(
      "select trace_parent, trace_state from everruns.runs where id = $1",
      [answer.body.run_id],
    );
    expect(rows[0]).toEqual({ trace_parent: traceparent, trace_state: "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE" });
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

  it("answers a bare 503 when none of the webhook's secrets is set; a test delivery (an operator's key) is told which to set", async () => {
    const hook = await makeHook({ secret_names: ["never_set_1"] });
    const answer = await post(hook.id, "{}", standardHeaders(generateSecret("standard"), "{}"));
    expect(answer.status).toBe(503);
    const error = answer.body.error as { code: string; message: string };
    expect(error.code).toBe("webhook_unavailable");
    expect(error.message).not.toMatch(/never_set_1|hook-|secret/);
    const test = await fetch(`${api.url}/api/webhooks/${hook.id}/test`, { method: "POST", headers: bearer(operatorKey) });
    expect(test.status).toBe(503);
    expect(((await test.json()) as { error: { message: string } }).error.message).toMatch(/never_set_1.*everruns secrets set/);
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

// ---- issue 16's security review: each of these failed before its fix ----

interface HookServer {
  url: string;
  /** what the route logged at warn or error */
  logs: string[];
  close(): Promise<void>;
}

/** hooksRouter alone over real HTTP, on the test database, with `deps` (no cache: each request reads the webhook). */
async function serveHooks(deps: Partial<HooksDeps> = {}): Promise<HookServer> {
  const logs: string[] = [];
  const log: Logger = { debug: () => {}, info: () => {}, warn: (m) => logs.push(m), error: (m) => logs.push(m) };
  const app = express();
  app.use(hooksRouter({ pool: db.pool, log, cacheMs: 0, ...deps }));
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    logs,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: { error?: { code: string; message: string }; run_id?: string; delivery_id?: string };
}

/**
 * A POST over its own connection (node:http: the connection header is visible). `send` is written
 * at once; the request is ended only when `end` is true (default), so a test can hold a body
 * half-sent (`req.write(...)`, `req.end()` later). Without `contentLength` the body is chunked.
 */
function rawPost(
  url: string,
  opts: { headers?: Record<string, string>; send?: Buffer | string; contentLength?: number; end?: boolean },
): { req: ClientRequest; answer: Promise<RawAnswer> } {
  const headers: Record<string, string | number> = { "content-type": "application/json", ...opts.headers };
  if (opts.contentLength !== undefined) headers["content-length"] = opts.contentLength;
  const req = httpRequest(url, { method: "POST", headers, agent: false });
  const answer = new Promise<RawAnswer>((resolve, reject) => {
    req.on("error", reject);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode!, headers: res.headers, body: text ? (JSON.parse(text) as RawAnswer["body"]) : {} });
      });
    });
  });
  if (opts.send !== undefined) req.write(opts.send);
  if (opts.end ?? true) req.end();
  return { req, answer };
}

/** `p`, or "pending" when it has not settled within `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | "pending"> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<"pending">((resolve) => (timer = setTimeout(() => resolve("pending"), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function rateLimitRows(prefix: string, like = ""): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from everruns_private.rate_limits where key like $1", [`${prefix}:${like}%`]);
  return rows[0]!.n;
}

describe("POST /hooks/:id after the security review", () => {
  it("M-2: a template naming a 256 KiB value 1,900 times is refused (422 input_too_large, naming the limit) in well under a second, nothing written", async () => {
    const secret = generateSecret("standard");
    const text = "x".repeat(250_000);
    const body = JSON.stringify({ text });
    for (const input_template of [
      { messages: [{ role: "user", content: "{{/text}}".repeat(1900) }] },
      { messages: [{ role: "user", content: "hi" }], context: Array(1900).fill("{{/text}}") },
    ]) {
      const hook = await makeHook({ secret_names: ["m2"], input_template }, { m2: secret });
      const started = Date.now();
      const answer = await post(hook.id, body, standardHeaders(secret, body));
      expect(Date.now() - started).toBeLessThan(2000);
      expect(answer.status).toBe(422);
      expect((answer.body.error as { code: string }).code).toBe("input_too_large");
      // stopped while rendering, not measured afterwards
      expect((answer.body.error as { message: string }).message).toContain(`input_template renders more than ${MAX_RUN_INPUT_BYTES} characters`);
      expect((await counts(hook.id)).deliveries).toBe(0);
    }
  });

  it("L-5: 404s and 401s are counted per client address; over the limit every request is 429 first, even a valid one", async () => {
    const secret = generateSecret("standard");
    const hook = await makeHook({ secret_names: ["l5a"] }, { l5a: secret });
    // the failures of this address so far (the tests above, through the API, count them too: one window for all processes)
    await db.pool.query("delete from everruns_private.rate_limits where key like 'evr_rl_hookfail:%'");
    const hooks = await serveHooks({ limits: hookRateLimits(db.pool, { perMinute: 0, burst: 0, authFailuresPerMinute: 4 }, quietLog) });
    try {
      for (const id of ["not-a-uuid", randomUUID()]) {
        const answer = await rawPost(`${hooks.url}/hooks/${id}`, { send: "{}" }).answer;
        expect(answer.status).toBe(404);
        expect(answer.headers.connection).toBe("close");
      }
      for (let i = 0; i < 2; i++) {
        const answer = await rawPost(`${hooks.url}/hooks/${hook.id}`, { headers: standardHeaders(generateSecret("standard"), "{}"), send: "{}" }).answer;
        expect(answer.status).toBe(401);
      }
      // the fifth failure is one too many
      const fifth = await rawPost(`${hooks.url}/hooks/${randomUUID()}`, { send: "{}" }).answer;
      expect(fifth.status).toBe(429);
      expect(fifth.body.error?.code).toBe("rate_limited");
      expect(fifth.body.error?.message).toContain("EVERRUNS_AUTH_FAILURES_PER_MINUTE");
      expect(Number(fifth.headers["retry-after"])).toBeGreaterThan(0);
      const valid = await rawPost(`${hooks.url}/hooks/${hook.id}`, { headers: standardHeaders(secret, "{}"), send: "{}" }).answer;
      expect(valid.status).toBe(429);
      expect(valid.headers.connection).toBe("close");
      expect((await counts(hook.id)).deliveries).toBe(0);
    } finally {
      await hooks.close();
      await db.pool.query("delete from everruns_private.rate_limits where key like 'evr_rl_hookfail:%'");
    }
  });

  it("L-5: the per-webhook limit counts verified deliveries only: unsigned ones cannot use it up, unknown ids get no window", async () => {
    const secret = generateSecret("standard");
    const hook = await makeHook({ secret_names: ["l5b"] }, { l5b: secret });
    const hooks = await serveHooks({ limits: hookRateLimits(db.pool, { perMinute: 3, burst: 0, authFailuresPerMinute: 0 }, quietLog) });
    try {
      for (let i = 0; i < 5; i++) {
        const forged = await rawPost(`${hooks.url}/hooks/${hook.id}`, { headers: standardHeaders(generateSecret("standard"), "{}"), send: "{}" }).answer;
        expect(forged.status).toBe(401);
      }
      const unknown = randomUUID();
      expect((await rawPost(`${hooks.url}/hooks/${unknown}`, { send: "{}" }).answer).status).toBe(404);
      expect(await rateLimitRows("evr_rl_hook", unknown)).toBe(0);
      for (let i = 0; i < 3; i++) {
        const body = JSON.stringify({ i });
        expect((await rawPost(`${hooks.url}/hooks/${hook.id}`, { headers: standardHeaders(secret, body), send: body }).answer).status).toBe(202);
      }
      const body = JSON.stringify({ i: 4 });
      const fourth = await rawPost(`${hooks.url}/hooks/${hook.id}`, { headers: standardHeaders(secret, body), send: body }).answer;
      expect(fourth.status).toBe(429);
      expect(fourth.body.error?.code).toBe("rate_limited");
      expect(Number(fourth.headers["retry-after"])).toBeGreaterThan(0);
      expect((await counts(hook.id)).deliveries).toBe(3);
    } finally {
      await hooks.close();
    }
  });

  it("L-6: a webhook that cannot verify tells the sender nothing (bare 503 / 500) and logs why, with its id", async () => {
    const hooks = await serveHooks();
    const noKey = await serveHooks({ secretKey: null });
    const otherKey = generateSecretKey();
    const cases: Array<{ hook: Hook; server: HookServer; status: number; code: string; logged: RegExp }> = [];
    try {
      const unset = await makeHook({ secret_names: ["l6_unset"] });
      cases.push({ hook: unset, server: hooks, status: 503, code: "webhook_unavailable", logged: /l6_unset.*everruns secrets set/ });
      const keyless = await makeHook({ secret_names: ["l6_keyless"] }, { l6_keyless: generateSecret("standard") });
      cases.push({ hook: keyless, server: noKey, status: 503, code: "webhook_unavailable", logged: /EVERRUNS_SECRET_KEY/ });
      await setWorkspaceSecret("l6_sealed_elsewhere", generateSecret("standard"), otherKey);
      const sealed = await makeHook({ secret_names: ["l6_sealed_elsewhere"] });
      cases.push({ hook: sealed, server: hooks, status: 500, code: "webhook_misconfigured", logged: /l6_sealed_elsewhere/ });
      const short = await makeHook({ verify: "github", secret_names: ["l6_short"] }, { l6_short: "too-short" });
      cases.push({ hook: short, server: hooks, status: 500, code: "webhook_misconfigured", logged: /l6_short.*16 to 512 characters \(got 9\)/ });
      for (const c of cases) {
        const body = "{}";
        const answer = await rawPost(`${c.server.url}/hooks/${c.hook.id}`, {
          headers: { ...standardHeaders(generateSecret("standard"), body), "x-hub-signature-256": `sha256=${hex("too-short", body)}` },
          send: body,
        }).answer;
        expect(answer.status, c.hook.name).toBe(c.status);
        expect(answer.body.error?.code).toBe(c.code);
        expect(answer.body.error?.message).not.toMatch(/l6_|hook-|EVERRUNS|characters|got 9|open/);
        expect(
          c.server.logs.some((line) => line.includes(c.hook.id) && c.logged.test(line)),
          `${c.hook.name}: ${c.server.logs.join("\n")}`,
        ).toBe(true);
      }
    } finally {
      await hooks.close();
      await noKey.close();
    }
  });

  it("L-6: a broken secret of a rotation pair is logged and left out; deliveries signed with the usable one are accepted", async () => {
    const hooks = await serveHooks();
    try {
      const valid = generateSecret("standard");
      // one a Standard Webhooks secret cannot be, one sealed with another EVERRUNS_SECRET_KEY
      await setWorkspaceSecret("l6_rot_malformed", "whsec_not base64!");
      await setWorkspaceSecret("l6_rot_sealed_elsewhere", generateSecret("standard"), generateSecretKey());
      for (const broken of ["l6_rot_malformed", "l6_rot_sealed_elsewhere"]) {
        const name = `l6_rot_valid_${broken}`;
        const hook = await makeHook({ secret_names: [broken, name] }, { [name]: valid });
        const body = JSON.stringify({ broken });
        const answer = await rawPost(`${hooks.url}/hooks/${hook.id}`, { headers: standardHeaders(valid, body), send: body }).answer;
        expect(answer.status, JSON.stringify(answer.body)).toBe(202);
        const { rows } = await db.pool.query<{ verified_with: number }>("select verified_with from everruns.webhook_deliveries where id = $1", [
          answer.body.delivery_id,
        ]);
        expect(rows[0]!.verified_with).toBe(1);
        expect(hooks.logs.some((line) => line.includes(hook.id) && line.includes(`secret ${broken}`))).toBe(true);
      }
    } finally {
      await hooks.close();
    }
  });

  it("L-7: a bearer webhook refuses a wrong token before reading the body, closing the connection", async () => {
    const token = randomBytes(24).toString("hex");
    const hook = await makeHook({ verify: "bearer", secret_names: ["l7_bearer"] }, { l7_bearer: token });
    const hooks = await serveHooks();
    try {
      // 100 kB announced, 2 bytes sent: the answer cannot have waited for the rest
      const wrong = rawPost(`${hooks.url}/hooks/${hook.id}`, {
        headers: { authorization: `Bearer ${token}x` },
        contentLength: 100_000,
        send: "{}",
        end: false,
      });
      const refused = await within(wrong.answer, 3000);
      wrong.req.destroy();
      expect(refused).not.toBe("pending");
      expect((refused as RawAnswer).status).toBe(401);
      expect((refused as RawAnswer).headers.connection).toBe("close");
      // the right token: the body is read (the answer waits for it)
      const body = JSON.stringify({ pad: "x".repeat(1000) });
      const right = rawPost(`${hooks.url}/hooks/${hook.id}`, {
        headers: { authorization: `Bearer ${token}` },
        contentLength: body.length,
        send: body.slice(0, 10),
        end: false,
      });
      expect(await within(right.answer, 300)).toBe("pending");
      right.req.end(body.slice(10));
      expect((await right.answer).status).toBe(202);
    } finally {
      await hooks.close();
    }
  });

  it("L-7: unverified bodies share one budget per process: over it, 503 busy with Retry-After; verified bearer bodies do not count", async () => {
    const secret = generateSecret("standard");
    const hook = await makeHook({ secret_names: ["l7_budget"] }, { l7_budget: secret });
    const token = randomBytes(24).toString("hex");
    const bearerHook = await makeHook({ verify: "bearer", secret_names: ["l7_budget_bearer"] }, { l7_budget_bearer: token });
    const hooks = await serveHooks({ unverifiedBytesBudget: 100_000 });
    const url = `${hooks.url}/hooks/${hook.id}`;
    const signedBody = (n: number) => {
      const body = JSON.stringify({ pad: "x".repeat(n - 10) });
      return { body, headers: standardHeaders(secret, body) };
    };
    try {
      expect(unverifiedBytesInFlight()).toBe(0);
      // A: 60 kB announced, held half-sent: its whole length is taken at once
      const a = signedBody(60_000);
      const held = rawPost(url, { headers: a.headers, contentLength: Buffer.byteLength(a.body), send: a.body.slice(0, 1000), end: false });
      await waitFor("A's bytes to be taken", () => unverifiedBytesInFlight() >= 60_000, 5000);
      // B: 60 kB more would be over 100 kB
      const b = signedBody(60_000);
      const busy = await rawPost(url, { headers: b.headers, contentLength: Buffer.byteLength(b.body), send: b.body }).answer;
      expect(busy.status).toBe(503);
      expect(busy.body.error?.code).toBe("busy");
      expect(busy.headers["retry-after"]).toBe("1");
      expect(busy.headers.connection).toBe("close");
      // a bearer delivery is verified from its header: its body takes nothing
      const bearerBody = JSON.stringify({ pad: "y".repeat(60_000) });
      const bearerAnswer = await rawPost(`${hooks.url}/hooks/${bearerHook.id}`, { headers: { authorization: `Bearer ${token}` }, send: bearerBody }).answer;
      expect(bearerAnswer.status).toBe(202);
      // C, chunked (no length): taken as it arrives; over the budget mid-body, 503 busy
      const c = signedBody(60_000);
      const chunked = rawPost(url, { headers: c.headers, send: c.body.slice(0, 30_000), end: false });
      await waitFor("C's first 30 kB to be taken", () => unverifiedBytesInFlight() >= 90_000, 5000);
      chunked.req.write(c.body.slice(30_000));
      const midway = await chunked.answer;
      expect([midway.status, midway.body.error?.code]).toEqual([503, "busy"]);
      chunked.req.destroy();
      await waitFor("C's bytes to be given back", () => unverifiedBytesInFlight() === 60_000, 5000);
      // A completes and is verified: its bytes are given back; B's retry fits
      held.req.end(a.body.slice(1000));
      expect((await held.answer).status).toBe(202);
      expect(unverifiedBytesInFlight()).toBe(0);
      expect((await rawPost(url, { headers: b.headers, contentLength: Buffer.byteLength(b.body), send: b.body }).answer).status).toBe(202);
      expect(unverifiedBytesInFlight()).toBe(0);
    } finally {
      await hooks.close();
    }
  });
});
