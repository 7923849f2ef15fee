// The REST surface of batches (api/batches.ts) against a real API, a real worker and a real
// Postgres: a JSONL body streamed into COPY, bad lines and repeated custom ids reported by line
// with nothing created, roles, another workspace's batches, results followed with a cursor
// (each finished item exactly once), and the progress stream to the batch's end.
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, waitFor, type TestDatabase } from "../../db/test/helpers.ts";
import { createWorkspace } from "../../db/sql/workspaces.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { sleep } from "../../lib/sleep.ts";
import { abortBatchUploads } from "../batches.ts";
import { startApi } from "../server.ts";
import { bearer, createTestKey, quietLog, readSse, startTestApi, type TestApiHandle } from "./helpers.ts";

let db: TestDatabase;
let api: TestApiHandle;
let worker: WorkerHandle;
const keys: Record<"viewer" | "operator" | "otherAdmin", string> = { viewer: "", operator: "", otherAdmin: "" };

beforeAll(async () => {
  db = await createTestDatabase();
  const other = await createWorkspace(db.pool, "batches-rest-b");
  keys.viewer = await createTestKey(db.url, { role: "viewer" });
  keys.operator = await createTestKey(db.url, { role: "operator" });
  keys.otherAdmin = await createTestKey(db.url, { role: "admin", workspaceId: other.id });
  await createAgent(db.pool, { provider: "scripted", script: [{ text: "done" }] }, "batch-agent");
  api = await startTestApi(db.url);
  worker = await startWorker({ databaseUrl: db.url, concurrency: 6, shutdownTimeoutMs: 2000, log: quietLog });
});

afterAll(async () => {
  await worker?.stop();
  await api?.close();
  await db?.drop();
});

const item = (i: number) => ({ custom_id: `doc-${i}`, input: { messages: [{ role: "user", content: `classify ${i}` }] } });
const line = (value: unknown) => `${JSON.stringify(value)}\n`;

interface Answer<T> {
  status: number;
  body: T;
}

/** POST /api/batches?<query> with `body` (a string, or a Readable streamed chunk by chunk). */
async function upload<T = Record<string, unknown>>(query: string, body: string | Readable, key = api.key): Promise<Answer<T>> {
  const res = await fetch(`${api.url}/api/batches?${query}`, {
    method: "POST",
    headers: { "content-type": "application/x-ndjson", ...bearer(key) },
    body: typeof body === "string" ? body : Readable.toWeb(body),
    duplex: "half",
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function call<T = Record<string, unknown>>(method: string, path: string, key = api.key, body?: unknown): Promise<Answer<T>> {
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers: { ...bearer(key), ...(body !== undefined && { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  return (await db.pool.query<{ n: number }>(`select count(*)::int as n from ${sql}`, params)).rows[0]!.n;
}

interface ResultLine {
  custom_id: string;
  status: string;
  output: unknown;
  run_id: string | null;
  cursor: string;
}

/** GET …/results as its JSONL lines. */
async function results(batchId: string, query: string): Promise<{ status: number; contentType: string | null; lines: ResultLine[] }> {
  const res = await fetch(`${api.url}/api/batches/${batchId}/results?${query}`, { headers: api.headers });
  const text = await res.text();
  const lines = text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as ResultLine);
  return { status: res.status, contentType: res.headers.get("content-type"), lines };
}

describe("POST /api/batches", () => {
  it("streams 2,000 JSONL items into the batch (chunks cut mid-line, a blank line, CRLF): 201 {id, status, items}", async () => {
    const text = Array.from({ length: 2000 }, (_, i) => (i === 1000 ? `\n${JSON.stringify(item(i))}\r\n` : line(item(i)))).join("");
    // chunks of 777 bytes: lines are split across chunks, as a network delivers them
    const chunks = function* () {
      for (let at = 0; at < text.length; at += 777) yield Buffer.from(text.slice(at, at + 777));
    };
    const answer = await upload<{ id: string; status: string; items: number }>(
      "agent=batch-agent&max_parallel=5&name=big&start=false",
      Readable.from(chunks()),
    );
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    expect(answer.body).toEqual({ id: expect.any(String) as unknown, status: "queued", items: 2000 });
    const id = answer.body.id;
    expect(await count("everruns.batch_items where batch_id = $1", [id])).toBe(2000);
    const { rows } = await db.pool.query<{ custom_id: string; input: unknown }>(
      "select custom_id, input from everruns.batch_items where batch_id = $1 and custom_id in ('doc-0', 'doc-1000', 'doc-1999') order by ordinal",
      [id],
    );
    expect(rows).toEqual([0, 1000, 1999].map((i) => ({ custom_id: `doc-${i}`, input: item(i).input })));
    const batch = await call<Record<string, unknown>>("GET", `/api/batches/${id}`);
    expect(batch.body).toMatchObject({ id, name: "big", status: "queued", max_parallel: 5, progress: { total: 2000, queued: 2000, running: 0 } });
    expect(batch.body).not.toHaveProperty("workspace_id");
    const list = await call<{ batches: Array<{ id: string }> }>("GET", "/api/batches?status=queued&limit=5");
    expect(list.body.batches.map((b) => b.id)).toContain(id);
    // nothing runs until it starts; cancelling it ends it with nothing run
    const cancelled = await call<{ status: string }>("POST", `/api/batches/${id}/cancel`);
    expect(cancelled.body.status).toBe("cancelled");
  });

  it("bad lines: 400 invalid_items naming each line; no batch and no item created", async () => {
    const before = { batches: await count("everruns.batches"), items: await count("everruns.batch_items") };
    const body = [
      line(item(1)),
      "{not json\n",
      "\n",
      line({ custom_id: "x", input: "hello" }),
      line(item(4)),
      line({ input: { messages: [] }, extra: 1 }),
      line(item(6)),
    ].join("");
    const answer = await upload<{ error: { code: string; message: string; lines: Array<{ line: number; message: string }> } }>("agent=batch-agent", body);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe("invalid_items");
    expect(answer.body.error.lines.map((l) => l.line)).toEqual([2, 4, 6]);
    expect(answer.body.error.lines[0]!.message).toMatch(/not valid JSON/);
    expect(answer.body.error.lines[1]!.message).toMatch(/input/);
    expect(answer.body.error.lines[2]!.message).toMatch(/extra/);
    expect(answer.body.error.message).toMatch(/nothing was created/);
    expect({ batches: await count("everruns.batches"), items: await count("everruns.batch_items") }).toEqual(before);
  });

  it("more bad lines than are reported: 400 with the first 100, at once (the open COPY is ended first); nothing created", async () => {
    const before = { batches: await count("everruns.batches"), items: await count("everruns.batch_items") };
    const body = line(item(1)) + "oops\n".repeat(150);
    const answer = await upload<{ error: { code: string; lines: Array<{ line: number }> } }>("agent=batch-agent", body);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe("invalid_items");
    expect(answer.body.error.lines).toHaveLength(100);
    expect(answer.body.error.lines[0]!.line).toBe(2);
    expect({ batches: await count("everruns.batches"), items: await count("everruns.batch_items") }).toEqual(before);
  });

  it("a repeated custom_id, and an input the database refuses: 400 naming their lines (blank lines counted); nothing created", async () => {
    const before = { batches: await count("everruns.batches"), items: await count("everruns.batch_items") };
    const dup = await upload<{ error: { code: string; lines: Array<{ line: number; message: string }> } }>(
      "agent=batch-agent",
      [line(item(1)), "\n", line(item(2)), "\n", "\n", line(item(1)), line(item(3))].join(""),
    );
    expect(dup.status).toBe(400);
    expect(dup.body.error.code).toBe("invalid_items");
    expect(dup.body.error.lines).toEqual([{ line: 6, message: expect.stringMatching(/custom_id "doc-1" is already used/) as unknown }]);
    const refused = await upload<{ error: { lines: Array<{ line: number; message: string }> } }>(
      "agent=batch-agent",
      [line(item(1)), "\n", line({ custom_id: "bad", input: { messages: "not a list" } })].join(""),
    );
    expect(refused.status).toBe(400);
    expect(refused.body.error.lines.map((l) => l.line)).toEqual([3]);
    expect({ batches: await count("everruns.batches"), items: await count("everruns.batch_items") }).toEqual(before);
  });

  it("refuses bad options, an unknown agent, JSON instead of JSONL and an empty body, naming what to fix", async () => {
    const bad = await upload<{ error: { code: string; message: string } }>(
      "agent=batch-agent&max_parallel=0&on_item_error=stop_after&results_table=x",
      line(item(1)),
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/max_parallel: must be at least 1/);
    expect(bad.body.error.message).toMatch(/results_table/);
    expect(bad.body.error.message).toMatch(/stop_after needs stop_after_failures or stop_after_ratio/);
    const unknown = await upload<{ error: { code: string; message: string } }>("agent=no-such-agent", line(item(1)));
    expect(unknown).toEqual({ status: 404, body: { error: { code: "not_found", message: 'no agent with id or name "no-such-agent"' } } });
    const json = await call<{ error: { code: string } }>("POST", "/api/batches?agent=batch-agent", api.key, [item(1)]);
    expect(json.status).toBe(415);
    const empty = await upload<{ error: { code: string } }>("agent=batch-agent", "\n\n");
    expect(empty.status).toBe(400);
  });

  it("a viewer key gets 403 on create and on every control; another workspace's batch is 404 everywhere", async () => {
    const created = await upload<{ id: string }>("agent=batch-agent&start=false", line(item(1)));
    const id = created.body.id;
    const viewerCreate = await upload<{ error: { code: string; message: string } }>("agent=batch-agent", line(item(1)), keys.viewer);
    expect(viewerCreate.status).toBe(403);
    expect(viewerCreate.body.error.message).toMatch(/needs an API key with role operator/);
    for (const control of ["start", "pause", "resume", "cancel", "retry_failed", "parallel"]) {
      const answer = await call("POST", `/api/batches/${id}/${control}`, keys.viewer, control === "parallel" ? { max_parallel: 2 } : undefined);
      expect({ control, status: answer.status }).toEqual({ control, status: 403 });
    }
    expect((await call("GET", `/api/batches/${id}`, keys.viewer)).status).toBe(200);
    for (const [method, path, body] of [
      ["GET", `/api/batches/${id}`],
      ["POST", `/api/batches/${id}/start`],
      ["POST", `/api/batches/${id}/cancel`],
      ["POST", `/api/batches/${id}/retry_failed`, {}],
      ["POST", `/api/batches/${id}/parallel`, { max_parallel: 3 }],
      ["GET", `/api/batches/${id}/results`],
      ["GET", `/api/batches/${id}/progress`],
    ] as Array<[string, string, unknown?]>) {
      const answer = await call<{ error: { code: string; message: string } }>(method, path, keys.otherAdmin, body);
      expect({ path, status: answer.status, body: answer.body }).toEqual({
        path,
        status: 404,
        body: { error: { code: "not_found", message: expect.stringMatching(new RegExp(`unknown batch ${id}`)) as unknown } },
      });
    }
    const otherList = await call<{ batches: unknown[] }>("GET", "/api/batches", keys.otherAdmin);
    expect(otherList.body.batches).toEqual([]);
    expect((await call<{ status: string }>("POST", `/api/batches/${id}/start`, keys.operator)).body.status).toBe("running");
    // a control the state refuses is a conflict
    expect((await call("POST", `/api/batches/${id}/start`, keys.operator)).status).toBe(409);
  });
});

describe("upload limits", () => {
  it("a line over 1 MiB is a bad line named by number; the rest of the body is still checked", async () => {
    const long = line({ custom_id: "long", input: { messages: [{ role: "user", content: "x".repeat(1024 * 1024 + 10) }] } });
    const answer = await upload<{ error: { lines: Array<{ line: number; message: string }> } }>(
      "agent=batch-agent",
      [line(item(1)), long, "oops\n", line(item(2))].join(""),
    );
    expect(answer.status).toBe(400);
    expect(answer.body.error.lines.map((l) => l.line)).toEqual([2, 3]);
    expect(answer.body.error.lines[0]!.message).toMatch(/longer than 1048576 bytes/);
  });

  it("an upload may take longer than the server's request timeout (its own idle clock applies instead)", async () => {
    const slow = await startApi({
      databaseUrl: db.url,
      port: 0,
      log: quietLog,
      graphiql: false,
      httpTimeouts: { headersMs: 1000, requestMs: 1000, keepAliveMs: 5000 },
    });
    try {
      // five lines, one every 600 ms: the body arrives over ~3 s, three times the request timeout
      const body = Readable.from(
        (async function* () {
          for (let i = 0; i < 5; i++) {
            yield Buffer.from(line(item(i)));
            await sleep(600);
          }
        })(),
      );
      const res = await fetch(`${slow.url}/api/batches?agent=batch-agent&start=false`, {
        method: "POST",
        headers: { "content-type": "application/x-ndjson", ...api.headers },
        body: Readable.toWeb(body),
        duplex: "half",
      });
      expect(res.status).toBe(201);
      expect(await res.json()).toMatchObject({ status: "queued", items: 5 });
      // an ordinary request that takes as long is still cut off (408) by the server's timeout
      const other = await fetch(`${slow.url}/api/runs`, {
        method: "POST",
        headers: { "content-type": "application/json", ...api.headers },
        body: Readable.toWeb(
          Readable.from(
            (async function* () {
              yield Buffer.from('{"agent": "batch-agent", ');
              await sleep(2500);
              yield Buffer.from('"input": {"messages": []}}');
            })(),
          ),
        ),
        duplex: "half",
      }).then(
        (r) => r.status,
        () => "reset",
      );
      expect([408, "reset"]).toContain(other);
    } finally {
      await slow.close();
    }
  });
});

describe("shutdown", () => {
  it("abortBatchUploads ends an upload under way: the client's request fails and nothing is created", async () => {
    const before = await count("everruns.batches where name = 'aborted'");
    let sent = false;
    const body = Readable.from(
      (async function* () {
        yield Buffer.from(line(item(1)));
        sent = true;
        await sleep(30_000); // a client that goes quiet: only the abort ends it
      })(),
    );
    const answer = fetch(`${api.url}/api/batches?agent=batch-agent&name=aborted`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson", ...api.headers },
      body: Readable.toWeb(body),
      duplex: "half",
    }).then(
      (r) => r.status,
      () => "reset",
    );
    await waitFor("the upload to be under way", () => sent && count("everruns.batches where name = 'aborted'").then(() => true));
    await sleep(200);
    abortBatchUploads(api.server);
    expect(await answer).not.toBe(201);
    body.destroy();
    expect(await count("everruns.batches where name = 'aborted'")).toBe(before);
  });
});

describe("results and progress", () => {
  it("follow streams every finished item once and ends with the batch; pages after a cursor give each exactly once; progress SSE ends at the end", async () => {
    const n = 40;
    const created = await upload<{ id: string; status: string }>(
      "agent=batch-agent&max_parallel=4",
      Array.from({ length: n }, (_, i) => line(item(i))).join(""),
    );
    expect(created.body.status).toBe("running");
    const id = created.body.id;
    const [followed, progress] = await Promise.all([results(id, "follow=1"), readSse(`${api.url}/api/batches/${id}/progress`, { headers: api.headers })]);
    expect(followed.status).toBe(200);
    expect(followed.contentType).toMatch(/^application\/x-ndjson/);
    expect(followed.lines.map((l) => l.custom_id).sort()).toEqual(Array.from({ length: n }, (_, i) => `doc-${i}`).sort());
    expect(followed.lines.every((l) => l.status === "succeeded" && l.run_id !== null)).toBe(true);
    // the follow ended only once the batch had
    const batch = await call<{ status: string; finished_at: string | null }>("GET", `/api/batches/${id}`);
    expect(batch.body.status).toBe("succeeded");
    expect(batch.body.finished_at).not.toBeNull();

    expect(progress.status).toBe(200);
    expect(progress.events.length).toBeGreaterThanOrEqual(1);
    expect(progress.events.every((e) => e.type === "CUSTOM" && e.event.name === "everruns.batch_progress")).toBe(true);
    expect(progress.events.at(-1)!.event.value).toMatchObject({ status: "succeeded", total: n, succeeded: n, queued: 0, running: 0 });

    // pages of 7 after each page's last cursor: every item exactly once, in the same order
    const seen: string[] = [];
    let after = "";
    for (let page = 0; page < 20; page++) {
      const { lines } = await results(id, `limit=7${after ? `&after=${after}` : ""}`);
      if (lines.length === 0) break;
      seen.push(...lines.map((l) => l.custom_id));
      after = lines.at(-1)!.cursor;
    }
    expect(seen).toEqual(followed.lines.map((l) => l.custom_id));
    // a cursor at the end: nothing more; a malformed one: 400
    expect((await results(id, `after=${after}`)).lines).toEqual([]);
    expect((await call<{ error: { code: string } }>("GET", `/api/batches/${id}/results?after=nope`)).body.error.code).toBe("invalid_cursor");
  });

  it("retry_failed and parallel answer with the batch", async () => {
    const created = await upload<{ id: string }>("agent=batch-agent&start=false", [line(item(1)), line(item(2))].join(""));
    const id = created.body.id;
    const parallel = await call<{ max_parallel: number }>("POST", `/api/batches/${id}/parallel`, keys.operator, { max_parallel: 7 });
    expect(parallel).toMatchObject({ status: 200, body: { max_parallel: 7 } });
    expect((await call("POST", `/api/batches/${id}/parallel`, keys.operator, { max_parallel: 0 })).status).toBe(400);
    await call("POST", `/api/batches/${id}/cancel`, keys.operator);
    await waitFor("the cancelled batch to settle", async () => (await call<{ finished_at: string | null }>("GET", `/api/batches/${id}`)).body.finished_at);
    const retried = await call<{ retried: number; batch: { id: string; status: string } }>("POST", `/api/batches/${id}/retry_failed`, keys.operator, {
      include_cancelled: true,
    });
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ retried: 2, batch: { id } });
  });
});
