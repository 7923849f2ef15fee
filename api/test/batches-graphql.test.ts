// Batches over GraphQL (issue 15) against a real API and Postgres, without a worker: item runs
// stay queued until the test ends them (cancel_run in SQL, or cancelBatch). createBatch and its
// validation (the item named), Query.batch / Query.batches / Batch.items / BatchItem.run /
// Batch.progress, the controls and their roles, another workspace's batches, and the
// batchProgress subscription from its first message to the one that shows the batch ended.
import { createClient, type Client } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorkspace } from "../../db/sql/workspaces.ts";
import { createAgent, createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { bearer, createTestKey, startTestApi, type TestApiHandle } from "./helpers.ts";

let db: TestDatabase;
let api: TestApiHandle;
let ws: Client;
let agentId: string;
let other: { headers: Record<string, string> };
const hello = (text: string) => ({ messages: [{ role: "user", content: text }] });

interface GraphQLResponse<T> {
  data?: T;
  errors?: Array<{ message: string; extensions?: Record<string, unknown>; path?: string[] }>;
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

const CREATE = /* GraphQL */ `
  mutation ($agent: String!, $items: [BatchItemInput!]!, $maxParallel: Int, $start: Boolean, $name: String) {
    createBatch(agent: $agent, items: $items, maxParallel: $maxParallel, start: $start, name: $name) {
      batchId
      batch {
        status
        maxParallel
        progress {
          total
          queued
          running
        }
      }
    }
  }
`;

interface Created {
  createBatch: { batchId: string; batch: { status: string; maxParallel: number; progress: { total: string; queued: string; running: string } } };
}

async function create(vars: Record<string, unknown>, headers?: Record<string, string>): Promise<GraphQLResponse<Created>> {
  return gql<Created>(CREATE, { agent: "batch-agent", ...vars }, headers);
}

async function batchCount(): Promise<number> {
  return (await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.batches")).rows[0]!.n;
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db.url);
  ws = createClient({
    url: `${api.url.replace(/^http/, "ws")}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: { authorization: `Bearer ${api.key}` },
  });
  agentId = await createAgent(db.pool, { provider: "scripted", script: [{ text: "ok" }] }, "batch-agent");
  const b = await createWorkspace(db.pool, "batches-other");
  other = { headers: bearer(await createTestKey(db.url, { role: "admin", workspaceId: b.id, name: "other-admin" })) };
});

afterAll(async () => {
  await ws?.dispose();
  await api?.close();
  await db?.drop();
});

describe("createBatch and reading a batch", () => {
  it("creates and starts a batch of 3 items: visible with its progress, items filtered by status in ordinal order, each linked to its run", async () => {
    const created = await create({
      agent: agentId,
      maxParallel: 1,
      name: "three",
      items: [
        { customId: "a", input: hello("one") },
        { customId: "b", input: hello("two") },
        { customId: "c", input: hello("three") },
      ],
    });
    expect(created.errors).toBeUndefined();
    const { batchId, batch } = created.data!.createBatch;
    expect(batch).toEqual({ status: "running", maxParallel: 1, progress: { total: "3", queued: "2", running: "1" } });

    const read = await gql<{
      batch: {
        id: string;
        name: string;
        status: string;
        agentId: string;
        progress: { total: string; succeeded: string; itemsPerMinute: number };
        throughput: Array<{ minute: string; finished: string }>;
        queued: { totalCount: number; nodes: Array<{ customId: string; status: string; run: null }> };
        running: { nodes: Array<{ customId: string; runId: string; run: { id: string; status: string; batchId: string } }> };
        all: { nodes: Array<{ customId: string }> };
      } | null;
    }>(
      `query ($id: UUID!) {
        batch(id: $id) {
          id name status agentId
          progress { total succeeded itemsPerMinute }
          throughput(minutes: 5) { minute finished }
          queued: items(condition: { status: "queued" }) { totalCount nodes { customId status run { id } } }
          running: items(condition: { status: "running" }) { nodes { customId runId run { id status batchId } } }
          all: items { nodes { customId } }
        }
      }`,
      { id: batchId },
    );
    expect(read.errors).toBeUndefined();
    const b = read.data!.batch!;
    expect(b).toMatchObject({ id: batchId, name: "three", status: "running", agentId, progress: { total: "3", succeeded: "0", itemsPerMinute: 0 } });
    expect(b.throughput).toHaveLength(5);
    expect(b.queued.totalCount).toBe(2);
    expect(b.queued.nodes).toEqual([
      { customId: "b", status: "queued", run: null },
      { customId: "c", status: "queued", run: null },
    ]);
    expect(b.running.nodes).toHaveLength(1);
    expect(b.running.nodes[0]).toMatchObject({ customId: "a", run: { status: "queued", batchId } });
    expect(b.running.nodes[0]!.run.id).toBe(b.running.nodes[0]!.runId);
    expect(b.all.nodes.map((n) => n.customId)).toEqual(["a", "b", "c"]);
  });

  it("Query.batches lists newest first and filters by status", async () => {
    const first = (await create({ items: [{ input: hello("x") }], start: false, name: "older" })).data!.createBatch.batchId;
    const second = (await create({ items: [{ input: hello("y") }], start: false, name: "newer" })).data!.createBatch.batchId;
    const list = await gql<{ batches: { nodes: Array<{ id: string; status: string }> } }>(
      `{ batches(condition: { status: "queued" }) { nodes { id status } } }`,
    );
    expect(list.errors).toBeUndefined();
    const ids = list.data!.batches.nodes.map((n) => n.id);
    expect(ids.indexOf(second)).toBeGreaterThanOrEqual(0);
    expect(ids.indexOf(second)).toBeLessThan(ids.indexOf(first));
    expect(list.data!.batches.nodes.every((n) => n.status === "queued")).toBe(true);
  });

  it("the controls: start, pause, resume, setBatchParallel, retryFailedItems, cancel; a wrong state is a conflict", async () => {
    const batchId = (await create({ items: [{ input: hello("1") }, { input: hello("2") }], start: false })).data!.createBatch.batchId;
    const control = async (name: string, extra = "") => {
      const answer = await gql<Record<string, { batchId: string; batch: { status: string; maxParallel: number } }>>(
        `mutation ($id: UUID!) { ${name}(batchId: $id${extra}) { batchId batch { status maxParallel } } }`,
        { id: batchId },
      );
      expect(answer.errors, name).toBeUndefined();
      return answer.data![name]!.batch;
    };
    expect(await control("startBatch")).toMatchObject({ status: "running" });
    const again = await gql(`mutation ($id: UUID!) { startBatch(batchId: $id) { batchId } }`, { id: batchId });
    expect(again.errors?.[0]?.extensions?.code).toBe("conflict");
    expect(again.errors?.[0]?.message).toMatch(/has already started/);
    expect(await control("pauseBatch")).toMatchObject({ status: "paused" });
    expect(await control("resumeBatch")).toMatchObject({ status: "running" });
    expect(await control("setBatchParallel", ", maxParallel: 3")).toMatchObject({ status: "running", maxParallel: 3 });
    const retried = await gql<{ retryFailedItems: { retried: number } }>(`mutation ($id: UUID!) { retryFailedItems(batchId: $id) { retried } }`, {
      id: batchId,
    });
    expect(retried).toEqual({ data: { retryFailedItems: { retried: 0 } } });
    expect(await control("cancelBatch")).toMatchObject({ status: "cancelled" });
    const audit = await db.pool.query<{ action: string }>("select action from everruns.audit_log where target_id = $1 order by seq", [batchId]);
    expect(audit.rows.map((r) => r.action)).toEqual([
      "batch.created",
      "batch.started",
      "batch.paused",
      "batch.resumed",
      "batch.parallel_set",
      "batch.cancelled",
    ]);
  });
});

describe("validation and access", () => {
  it("refuses too many items, an invalid item input (named by index) and repeated custom ids; nothing is created", async () => {
    const before = await batchCount();
    const tooMany = await create({ items: Array.from({ length: 1001 }, () => ({ input: hello("x") })) });
    expect(tooMany.errors?.[0]?.message).toMatch(/at most 1000 items/);
    const badInput = await create({ items: [{ input: hello("fine") }, { customId: "broken", input: { messages: [{ role: "robot", content: "x" }] } }] });
    expect(badInput.errors?.[0]?.message).toMatch(/^items\[1\] \(custom id "broken"\): invalid run input: messages\[0\]\.role must be one of/);
    expect(badInput.errors?.[0]?.extensions?.code).toBe("invalid_items");
    const repeated = await create({
      items: [
        { customId: "same", input: hello("1") },
        { customId: "other", input: hello("2") },
        { customId: "same", input: hello("3") },
      ],
    });
    expect(repeated.errors?.[0]?.message).toMatch(/^items\[2\] \(custom id "same"\): the custom id of items\[0\] too/);
    const badParallel = await create({ items: [{ input: hello("1") }], maxParallel: 0 });
    expect(badParallel.errors?.[0]?.message).toMatch(/maxParallel/);
    const unknownAgent = await create({ agent: "nobody", items: [{ input: hello("1") }] });
    expect(unknownAgent.errors?.[0]).toMatchObject({ message: 'no agent with id or name "nobody"', extensions: { code: "not_found" } });
    expect(await batchCount()).toBe(before);
  });

  it("a viewer key reads batches but may not create or control them", async () => {
    const viewer = bearer(await createTestKey(db.url, { role: "viewer", name: "batch-viewer" }));
    const refused = await create({ items: [{ input: hello("x") }] }, viewer);
    expect(refused.errors?.[0]?.extensions?.code).toBe("forbidden");
    expect(refused.errors?.[0]?.message).toMatch(/needs an API key with role operator/);
    const batchId = (await create({ items: [{ input: hello("x") }], start: false })).data!.createBatch.batchId;
    const start = await gql(`mutation ($id: UUID!) { startBatch(batchId: $id) { batchId } }`, { id: batchId }, viewer);
    expect(start.errors?.[0]?.extensions?.code).toBe("forbidden");
    const read = await gql<{ batch: { status: string } }>(`query ($id: UUID!) { batch(id: $id) { status } }`, { id: batchId }, viewer);
    expect(read).toEqual({ data: { batch: { status: "queued" } } });
  });

  it("another workspace's batch is invisible (null, not listed) and its controls fail as unknown", async () => {
    const batchId = (await create({ items: [{ input: hello("x") }], start: false })).data!.createBatch.batchId;
    const read = await gql<{ batch: unknown; batches: { nodes: Array<{ id: string }> }; batchItemByBatchIdAndCustomId: unknown }>(
      `query ($id: UUID!) { batch(id: $id) { id } batches { nodes { id } } batchItemByBatchIdAndCustomId(batchId: $id, customId: "1") { id } }`,
      { id: batchId },
      other.headers,
    );
    expect(read.errors).toBeUndefined();
    expect(read.data!.batch).toBeNull();
    expect(read.data!.batches.nodes).toEqual([]);
    for (const mutation of ["startBatch(batchId: $id)", "cancelBatch(batchId: $id)", "setBatchParallel(batchId: $id, maxParallel: 2)"]) {
      const answer = await gql(`mutation ($id: UUID!) { ${mutation} { batchId } }`, { id: batchId }, other.headers);
      expect(answer.errors?.[0], mutation).toMatchObject({ message: `unknown batch ${batchId}`, extensions: { code: "not_found" } });
    }
    const retry = await gql(`mutation ($id: UUID!) { retryFailedItems(batchId: $id) { retried } }`, { id: batchId }, other.headers);
    expect(retry.errors?.[0]?.extensions?.code).toBe("not_found");
    // the other workspace's own agent of the same name does not exist: createBatch does not reach this one
    const create2 = await create({ items: [{ input: hello("x") }] }, other.headers);
    expect(create2.errors?.[0]?.extensions?.code).toBe("not_found");
    expect((await db.pool.query<{ status: string }>("select status from everruns.batches where id = $1", [batchId])).rows[0]!.status).toBe("queued");
    // and its subscription is refused
    const otherWs = createClient({
      url: `${api.url.replace(/^http/, "ws")}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: other.headers.authorization! },
    });
    try {
      const results: unknown[] = [];
      for await (const result of otherWs.iterate({
        query: `subscription ($id: UUID!) { batchProgress(batchId: $id) { batchId } }`,
        variables: { id: batchId },
      })) {
        results.push(result);
      }
      expect(JSON.stringify(results)).toContain(`unknown batch ${batchId}`);
    } finally {
      await otherWs.dispose();
    }
  });
});

describe("batchProgress", () => {
  it("sends the batch's progress at once, then as items end, and completes with the message that shows it ended", async () => {
    const batchId = (await create({ items: [{ input: hello("1") }, { input: hello("2") }, { input: hello("3") }], maxParallel: 2 })).data!.createBatch.batchId;
    type Message = { batchId: string; batch: { status: string; finishedAt: string | null; progress: { total: string; running: string; cancelled: string } } };
    const messages: Message[] = [];
    const done = (async () => {
      for await (const result of ws.iterate<{ batchProgress: Message }>({
        query: `subscription ($id: UUID!) { batchProgress(batchId: $id) { batchId batch { status finishedAt progress { total running cancelled } } } }`,
        variables: { id: batchId },
      })) {
        if (result.errors) throw new Error(result.errors.map((e) => e.message).join("; "));
        messages.push(result.data!.batchProgress);
      }
    })();
    // the first message, before anything ends
    for (let i = 0; i < 200 && messages.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(messages[0]).toEqual({ batchId, batch: { status: "running", finishedAt: null, progress: { total: "3", running: "2", cancelled: "0" } } });
    // end every item's run, one at a time (a cancelled run's replacement is the sweep's to release)
    for (let i = 0; i < 3; i++) {
      const { rows } = await db.pool.query<{ id: string }>("select run_id as id from everruns.batch_items where batch_id = $1 and status = 'running' limit 1", [
        batchId,
      ]);
      await db.pool.query("select everruns.cancel_run($1)", [rows[0]!.id]);
      await db.pool.query("select everruns_private.sweep_batches()");
    }
    await done;
    const last = messages.at(-1)!;
    expect(last.batch.finishedAt).not.toBeNull();
    expect(["succeeded", "completed_with_errors", "failed", "cancelled"]).toContain(last.batch.status);
    expect(last.batch.progress).toEqual({ total: "3", running: "0", cancelled: "3" });
    expect(messages.every((m) => m.batchId === batchId)).toBe(true);
  });

  it("refuses an unknown batch", async () => {
    const id = "00000000-0000-0000-0000-00000000b0b0";
    const results: Array<{ errors?: Array<{ message: string }> }> = [];
    for await (const result of ws.iterate({ query: `subscription ($id: UUID!) { batchProgress(batchId: $id) { batchId } }`, variables: { id } })) {
      results.push(result as never);
    }
    expect(results[0]?.errors?.[0]?.message).toBe(`unknown batch ${id}`);
  });
});
