// Usage by token category and per-workspace model prices (issue 20; migration 000029):
//
// - a run's usage sums every category its steps report (input, output, cache read, cache write,
//   reasoning tokens, cost), committed through db/sql/commitStep.ts; a run whose steps report no
//   category keeps its three keys; usage_daily shows the categories;
// - everruns.model_prices under row-level security: a key of workspace A (everruns_api with A's
//   setting) sees, sets and deletes A's prices only; B's rows cannot be read, changed or written
//   into; each set and delete is audited in its workspace;
// - worker/model-prices.ts reads a workspace's prices once per TTL, not per step;
// - a worker prices a run's LLM steps with its workspace's prices (a scripted run: each step's
//   cost_usd is its tokens × the workspace's rates, not the built-in table's).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type pg from "pg";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker } from "../../worker/main.ts";
import { ModelPriceCache } from "../../worker/model-prices.ts";
import type { Queryable } from "../pool.ts";
import { beginStep } from "../sql/beginStep.ts";
import { commitStep, type StepRecord } from "../sql/commitStep.ts";
import { deleteModelPrice } from "../sql/deleteModelPrice.ts";
import { listModelPrices } from "../sql/listModelPrices.ts";
import { setModelPrice } from "../sql/setModelPrice.ts";
import { createWorkspace } from "../sql/workspaces.ts";
import { createAgent, createTestDatabase, getRun, startRun, waitForStatus, type TestDatabase } from "./helpers.ts";

const A_ID = "00000000-0000-0000-0000-000000000001"; // `default`

let db: TestDatabase;
let bId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  bId = (await createWorkspace(db.pool, `prices-b-${Date.now().toString(36)}`)).id;
});
afterAll(async () => {
  await db?.drop();
});

/** Runs `fn` in a transaction as the API runs a key's request: role everruns_api, the workspace's setting. Rolled back. */
async function asApiKey<T>(workspaceId: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.pool.connect();
  try {
    await client.query("begin");
    await client.query("set local role everruns_api");
    await client.query("select set_config('everruns.workspace_id', $1, true)", [workspaceId]);
    return await fn(client);
  } finally {
    await client.query("rollback").catch(() => undefined);
    client.release();
  }
}

/** The SQLSTATE `promise` fails with (failing the test when it succeeds). */
async function sqlState(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    const e = error as { code?: string; cause?: { code?: string } };
    return e.code ?? e.cause?.code;
  }
  throw new Error("expected it to fail");
}

const llm = (usage: StepRecord["usage"]): StepRecord => ({ kind: "llm", name: "scripted", status: "succeeded", input: {}, output: { text: "hi" }, usage });

describe("a run's usage by category", () => {
  it("sums every category of its steps (a run without any keeps three keys), and usage_daily shows them", async () => {
    const agentId = await createAgent(db.pool, { provider: "scripted", model: "s", script: [{ text: "hi" }] });
    const runId = await startRun(db.pool, agentId);
    const steps: Array<NonNullable<StepRecord["usage"]>> = [
      { input_tokens: 10, output_tokens: 2, cost_usd: 0.00000003 },
      { input_tokens: 1000, output_tokens: 200, cache_read_tokens: 600, cache_write_tokens: 300, reasoning_tokens: 50, cost_usd: 0.0012345678 },
      { input_tokens: 2000, output_tokens: 100, cache_read_tokens: 1500, reasoning_tokens: 0, cost_usd: 0.0009 },
    ];
    for (const [i, usage] of steps.entries()) {
      const begun = await beginStep(db.pool, runId);
      expect(begun?.run.step_cursor).toBe(i + 1);
      const last = i === steps.length - 1;
      const r = await commitStep(
        db.pool,
        runId,
        i + 1,
        begun!.run.step_attempt,
        llm(usage),
        [],
        last ? { type: "succeed", output: { text: "hi" } } : { type: "continue" },
      );
      expect(r.committed).toBe(true);
      if (i === 0) {
        // no step reported a category yet: the run's usage is as before 000029
        expect((await getRun(db.pool, runId)).usage).toEqual({ input_tokens: 10, output_tokens: 2, cost_usd: 0.00000003 });
      }
    }
    expect((await getRun(db.pool, runId)).usage).toEqual({
      input_tokens: 3010,
      output_tokens: 302,
      cache_read_tokens: 2100,
      cache_write_tokens: 300,
      reasoning_tokens: 50,
      cost_usd: 0.0021346, // 0.00000003 + 0.0012345678 + 0.0009, rounded to 8 decimals
    });
    const { rows } = await db.pool.query(
      `select llm_calls::int, input_tokens::int, output_tokens::int, cache_read_tokens::int, cache_write_tokens::int,
              reasoning_tokens::int, cost_usd::float8 as cost_usd
         from everruns.usage_daily where agent_id = $1`,
      [agentId],
    );
    expect(rows).toEqual([
      { llm_calls: 3, input_tokens: 3010, output_tokens: 302, cache_read_tokens: 2100, cache_write_tokens: 300, reasoning_tokens: 50, cost_usd: 0.002135 },
    ]);
  });
});

describe("everruns.model_prices", () => {
  it("a key of workspace A sees, sets and deletes A's prices only; B's cannot be read, changed or written into", async () => {
    await setModelPrice(db.pool, { workspaceId: A_ID, provider: "openai", model: "gpt-4o", inputPerMillion: 2.5, outputPerMillion: 10 });
    await setModelPrice(db.pool, {
      workspaceId: bId,
      provider: "anthropic",
      model: "claude-sonnet-4",
      inputPerMillion: 3,
      outputPerMillion: 15,
      cacheReadPerMillion: 0.3,
      cacheWritePerMillion: 3.75,
    });
    const bRow = (await db.pool.query<{ id: string }>("select id from everruns.model_prices where workspace_id = $1", [bId])).rows[0]!;

    await asApiKey(A_ID, async (client) => {
      expect((await listModelPrices(client)).map((p) => [p.provider, p.model])).toEqual([["openai", "gpt-4o"]]);
      expect((await client.query("select * from everruns.model_prices where id = $1", [bRow.id])).rowCount).toBe(0);
      // a set replaces A's own price; B's row of the same provider and model is untouched
      const set = await setModelPrice(client, { provider: "anthropic", model: "claude-sonnet-4", inputPerMillion: 1, outputPerMillion: 1 });
      expect(set).toMatchObject({ provider: "anthropic", inputPerMillion: 1, cacheReadPerMillion: null });
      expect((await client.query("update everruns.model_prices set input_per_million = 99 where id = $1", [bRow.id])).rowCount).toBe(0);
      expect((await client.query("delete from everruns.model_prices where id = $1", [bRow.id])).rowCount).toBe(0);
      // naming B's workspace: refused by the policy's check (in a savepoint: the transaction goes on)
      await client.query("savepoint naming_b");
      expect(
        await sqlState(
          client.query(
            "insert into everruns.model_prices (workspace_id, provider, model, input_per_million, output_per_million) values ($1, 'openai', 'x', 1, 1)",
            [bId],
          ),
        ),
      ).toBe("42501");
      await client.query("rollback to savepoint naming_b");
      expect(await deleteModelPrice(client, { provider: "anthropic", model: "claude-sonnet-4" })).toBe(true);
      expect(await deleteModelPrice(client, { provider: "anthropic", model: "claude-sonnet-4" })).toBe(false);
    });
    const b = await listModelPrices(db.pool, bId);
    expect(b).toEqual([
      expect.objectContaining({
        provider: "anthropic",
        model: "claude-sonnet-4",
        inputPerMillion: 3,
        outputPerMillion: 15,
        cacheReadPerMillion: 0.3,
        cacheWritePerMillion: 3.75,
      }),
    ]);
    // audited in their own workspaces
    const audit = await db.pool.query<{ ws: string; action: string; model: string }>(
      "select workspace_id::text as ws, action, details ->> 'model' as model from everruns.audit_log where target_type = 'model_price' order by id",
    );
    expect(audit.rows).toEqual([
      { ws: A_ID, action: "model_price.set", model: "gpt-4o" },
      { ws: bId, action: "model_price.set", model: "claude-sonnet-4" },
    ]);
  });

  it("refuses what is not a price, naming the field: an unknown provider, a negative or non-finite rate, a spaced or long prefix", async () => {
    const base = { workspaceId: A_ID, provider: "openai", model: "m", inputPerMillion: 1, outputPerMillion: 1 };
    await expect(setModelPrice(db.pool, { ...base, provider: "openia" })).rejects.toThrow(/provider must be one of openai, anthropic, scripted/);
    await expect(setModelPrice(db.pool, { ...base, inputPerMillion: -1 })).rejects.toThrow(/inputPerMillion/);
    await expect(setModelPrice(db.pool, { ...base, outputPerMillion: Number.NaN })).rejects.toThrow(/outputPerMillion/);
    await expect(setModelPrice(db.pool, { ...base, cacheReadPerMillion: Number.POSITIVE_INFINITY })).rejects.toThrow(/cacheReadPerMillion/);
    await expect(setModelPrice(db.pool, { ...base, model: "gpt 4" })).rejects.toThrow(/model: a model prefix holds no spaces/);
    await expect(setModelPrice(db.pool, { ...base, model: "x".repeat(201) })).rejects.toThrow(/model/);
    // and the table's own checks, for an administrator's insert by hand
    expect(
      await sqlState(
        db.pool.query("insert into everruns.model_prices (provider, model, input_per_million, output_per_million) values ('openai', 'n', 'NaN', 1)"),
      ),
    ).toBe("23514");
    expect(await sqlState(db.pool.query("insert into everruns.model_prices (provider, input_per_million, output_per_million) values ('nobody', 1, 1)"))).toBe(
      "23514",
    );
  });
});

describe("worker/model-prices.ts", () => {
  it("reads a workspace's prices once per TTL, not per step; another workspace's are its own read", async () => {
    let reads = 0;
    const counting: Queryable = {
      query: (text: string, values?: unknown[]) => {
        if (text.includes("everruns.model_prices")) reads++;
        return db.pool.query(text, values);
      },
    };
    const ws = (await createWorkspace(db.pool, `prices-c-${Date.now().toString(36)}`)).id;
    await setModelPrice(db.pool, { workspaceId: ws, provider: "openai", model: "", inputPerMillion: 1, outputPerMillion: 2, cacheReadPerMillion: 0.5 });
    const cache = new ModelPriceCache({ db: counting, ttlMs: 60_000 });
    const first = await Promise.all([cache.forWorkspace(ws), cache.forWorkspace(ws), cache.forWorkspace(ws.toUpperCase())]);
    expect(first[0]).toEqual([{ provider: "openai", model: "", price: { input: 1, output: 2, cache_read: 0.5 } }]);
    expect(first[1]).toEqual(first[0]);
    expect(reads).toBe(1);
    // a change within the TTL is not seen yet (no read); a cache without TTL reads every time
    await setModelPrice(db.pool, { workspaceId: ws, provider: "openai", model: "", inputPerMillion: 7, outputPerMillion: 2 });
    expect((await cache.forWorkspace(ws))[0]!.price.input).toBe(1);
    expect(reads).toBe(1);
    expect(await cache.forWorkspace(bId)).toEqual([
      { provider: "anthropic", model: "claude-sonnet-4", price: { input: 3, output: 15, cache_read: 0.3, cache_write: 3.75 } },
    ]);
    expect(reads).toBe(2);
    const uncached = new ModelPriceCache({ db: counting, ttlMs: 0 });
    expect((await uncached.forWorkspace(ws))[0]!.price.input).toBe(7);
    expect((await uncached.forWorkspace(ws))[0]!.price.input).toBe(7);
    expect(reads).toBe(4);
  });
});

describe("a worker prices a run with its workspace's prices", () => {
  it("a scripted run's LLM steps cost their tokens × the workspace's rates (the longest model prefix of the provider)", async () => {
    const ws = await createWorkspace(db.pool, `prices-w-${Date.now().toString(36)}`);
    // distinctive rates: the built-in table's nominal scripted price would give other figures
    await setModelPrice(db.pool, { workspaceId: ws.id, provider: "scripted", model: "", inputPerMillion: 1000, outputPerMillion: 3000 });
    await setModelPrice(db.pool, { workspaceId: ws.id, provider: "scripted", model: "priced-", inputPerMillion: 2000, outputPerMillion: 5000 });
    const { rows } = await db.pool.query<{ id: string }>("insert into everruns.agents (workspace_id, name, config) values ($1, 'priced', $2) returning id", [
      ws.id,
      JSON.stringify({
        provider: "scripted",
        model: "priced-model-1",
        tools: ["echo"],
        script: [{ text: "calling", tool_calls: [{ name: "echo", arguments: { word: "hi" } }] }, { text: "done" }],
      }),
    ]);
    const runId = await startRun(db.pool, rows[0]!.id);
    const worker = await startWorker({ databaseUrl: db.url, concurrency: 2, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "error") });
    try {
      await waitForStatus(db.pool, runId, ["succeeded"], 20_000);
    } finally {
      await worker.stop();
    }
    const { rows: llmSteps } = await db.pool.query<{ usage: { input_tokens: number; output_tokens: number; cost_usd: number } }>(
      "select usage from everruns.run_steps where run_id = $1 and kind = 'llm' order by seq",
      [runId],
    );
    expect(llmSteps).toHaveLength(2);
    let total = 0;
    for (const { usage } of llmSteps) {
      expect(usage.input_tokens).toBeGreaterThan(0);
      const expected = Number(((usage.input_tokens * 2000 + usage.output_tokens * 5000) / 1_000_000).toFixed(8));
      expect(usage.cost_usd).toBeGreaterThan(0);
      expect(usage.cost_usd).toBeCloseTo(expected, 8);
      total += expected;
    }
    expect((await getRun(db.pool, runId)).usage.cost_usd).toBeCloseTo(total, 8);
  });
});
