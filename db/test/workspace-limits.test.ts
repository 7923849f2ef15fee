// 000021: per-workspace admission limits. max_queued_runs and runs_per_minute refuse the
// inserting statement (EV012, nothing inserted) exactly, also under concurrent inserts; no
// limits row means unlimited; a change is audited; `everruns workspaces limits` shows and sets
// them, with 000023's max_running_runs, weight, daily quotas and dedicated.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { fromDatabaseError, LimitError } from "../errors.ts";
import { setWorkspaceLimits, workspaceLimitsOf } from "../sql/workspaceLimits.ts";
import { verifyAudit } from "../sql/verifyAudit.ts";
import { PROJECT_ROOT } from "../../scripts/database.ts";
import { createTestDatabase, type TestDatabase } from "./helpers.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

interface Workspace {
  id: string;
  name: string;
  agentId: string;
}

/** A fresh workspace with one agent: each test its own limits and queue. */
async function workspace(): Promise<Workspace> {
  const name = `ws-${randomBytes(4).toString("hex")}`;
  const { rows } = await db.pool.query<{ id: string }>("select id from everruns_private.create_workspace($1)", [name]);
  const id = rows[0]!.id;
  const agent = await db.pool.query<{ id: string }>("insert into everruns.agents (workspace_id, name, config) values ($1, 'a', $2) returning id", [
    id,
    JSON.stringify({ provider: "scripted", script: [{ text: "hi" }] }),
  ]);
  return { id, name, agentId: agent.rows[0]!.id };
}

const INSERT_MANY = `insert into everruns.runs (workspace_id, agent_id, input)
  select $1, $2, '{"messages":[{"role":"user","content":"hi"}]}'::jsonb from generate_series(1, $3::int)
  returning id`;

async function insertRuns(ws: Workspace, n: number, client: pg.ClientBase | pg.Pool = db.pool): Promise<string[]> {
  const { rows } = await client.query<{ id: string }>(INSERT_MANY, [ws.id, ws.agentId, n]);
  return rows.map((r) => r.id);
}

async function refusal(promise: Promise<unknown>): Promise<{ code?: string; message: string; detail?: string; hint?: string }> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e as { code?: string; message: string; detail?: string; hint?: string },
  );
  if (!error) throw new Error("expected the statement to be refused");
  return error;
}

async function runCount(ws: Workspace, status?: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    "select count(*)::int as n from everruns.runs where workspace_id = $1 and ($2::text is null or status = $2)",
    [ws.id, status ?? null],
  );
  return rows[0]!.n;
}

describe("workspace admission limits", () => {
  it("are unlimited by default: no row, and usage still shown", async () => {
    const ws = await workspace();
    await insertRuns(ws, 500);
    const limits = await workspaceLimitsOf(db.pool, ws.id);
    expect(limits).toMatchObject({ workspaceName: ws.name, maxQueuedRuns: null, runsPerMinute: null, queuedRuns: 500, tokens: null, updatedAt: null });
    const { rows } = await db.pool.query("select * from everruns_private.workspace_limits where workspace_id = $1", [ws.id]);
    expect(rows).toEqual([]);
  });

  it("max_queued_runs refuses the statement that would exceed it, multi-row included, and admits once runs leave queued", async () => {
    const ws = await workspace();
    await setWorkspaceLimits(db.pool, ws.id, { maxQueuedRuns: 5, runsPerMinute: null });
    const first = await insertRuns(ws, 3);
    // 3 + 3 > 5: the whole statement is refused, nothing of it inserted
    const multi = await refusal(insertRuns(ws, 3));
    expect(multi.code).toBe("EV012");
    expect(multi.message).toBe(`workspace ${ws.name} is at its limit max_queued_runs 5: 3 more runs would make 6 queued`);
    expect(multi.hint).toMatch(/raise max_queued_runs/);
    expect(await runCount(ws)).toBe(3);
    await insertRuns(ws, 2); // exactly at the limit
    expect((await refusal(insertRuns(ws, 1))).code).toBe("EV012");
    const mapped = fromDatabaseError(await refusal(insertRuns(ws, 1)));
    expect(mapped).toBeInstanceOf(LimitError);
    expect(mapped).toMatchObject({ code: "workspace_limit", retryAfterSeconds: 10 });

    // two runs leave 'queued' (as a worker's begin_step would make them running)
    await db.pool.query("update everruns.runs set status = 'running' where id = any($1)", [first.slice(0, 2)]);
    await insertRuns(ws, 2);
    expect((await refusal(insertRuns(ws, 1))).code).toBe("EV012");
    expect(await runCount(ws, "queued")).toBe(5);
    expect((await workspaceLimitsOf(db.pool, ws.id)).queuedRuns).toBe(5);
  });

  it("runs_per_minute lets a burst through, then refuses with retry_after, and refills with time", async () => {
    const ws = await workspace();
    await setWorkspaceLimits(db.pool, ws.id, { maxQueuedRuns: null, runsPerMinute: 6 });
    await insertRuns(ws, 4);
    await insertRuns(ws, 2);
    const refused = await refusal(insertRuns(ws, 1));
    expect(refused.code).toBe("EV012");
    expect(refused.message).toMatch(new RegExp(`^workspace ${ws.name} is at its limit runs_per_minute 6: 1 new runs, 0 allowed now; retry in \\d+ s$`));
    // one token every 10 s: at most 10 s to wait for one, at least 9 (the test took < 1 s)
    const retryAfter = Number(/^retry_after=(\d+)$/.exec(refused.detail ?? "")?.[1]);
    expect(retryAfter).toBeGreaterThanOrEqual(9);
    expect(retryAfter).toBeLessThanOrEqual(10);
    expect(fromDatabaseError(refused)).toMatchObject({ code: "workspace_limit", retryAfterSeconds: retryAfter });
    expect(await runCount(ws)).toBe(6);

    // 30 s pass (the bucket's clock set back, as a test may): 3 tokens
    await db.pool.query("update everruns_private.workspace_limits set bucket_at = bucket_at - interval '30 seconds' where workspace_id = $1", [ws.id]);
    expect((await workspaceLimitsOf(db.pool, ws.id)).tokens).toBe(3);
    const four = await refusal(insertRuns(ws, 4));
    expect(four.detail).toMatch(/^retry_after=(9|10)$/);
    await insertRuns(ws, 3);
    expect((await refusal(insertRuns(ws, 1))).code).toBe("EV012");

    // an hour later the bucket is full, never fuller than its capacity
    await db.pool.query("update everruns_private.workspace_limits set bucket_at = bucket_at - interval '1 hour' where workspace_id = $1", [ws.id]);
    const tooMany = await refusal(insertRuns(ws, 7));
    expect(tooMany.message).toMatch(/admits at most runs_per_minute 6 runs at once; this statement inserts 7/);
    await insertRuns(ws, 6);
    expect(await runCount(ws)).toBe(15);
  });

  it("never exceeds max_queued_runs under 4 concurrent inserting connections; every refusal is EV012", async () => {
    const ws = await workspace();
    await setWorkspaceLimits(db.pool, ws.id, { maxQueuedRuns: 20, runsPerMinute: null });
    const clients = await Promise.all(
      [0, 1, 2, 3].map(async () => {
        const c = new pg.Client({ connectionString: db.url });
        await c.connect();
        return c;
      }),
    );
    const codes = new Map<string, number>();
    let admitted = 0;
    try {
      await Promise.all(
        clients.map(async (c, i) => {
          for (let k = 0; k < 25; k++) {
            // sizes 1..3, and transactions that hold their lock a little, so they overlap
            const n = 1 + ((i + k) % 3);
            try {
              await c.query("begin");
              await insertRuns(ws, n, c);
              await c.query("select pg_sleep(0.002)");
              await c.query("commit");
              admitted += n;
            } catch (error) {
              await c.query("rollback");
              const code = (error as { code?: string }).code ?? "none";
              codes.set(code, (codes.get(code) ?? 0) + 1);
            }
          }
        }),
      );
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
    expect([...codes.keys()]).toEqual(["EV012"]);
    expect(admitted).toBeLessThanOrEqual(20);
    expect(await runCount(ws, "queued")).toBe(admitted);
    // full: whatever size fits, the last inserts found it full
    expect(admitted).toBeGreaterThanOrEqual(18);
  });

  it("audits a change with the old and new limits; both none removes the row", async () => {
    // 000023's limits, unset, in both old and new
    const NO_QUOTAS = { max_tokens_per_day: null, max_cost_usd_per_day: null, dedicated: false };
    const ws = await workspace();
    await setWorkspaceLimits(db.pool, ws.id, { maxQueuedRuns: 100, runsPerMinute: null });
    const after = await setWorkspaceLimits(db.pool, ws.id, { maxQueuedRuns: 50, runsPerMinute: 30 });
    expect(after).toMatchObject({ maxQueuedRuns: 50, runsPerMinute: 30, queuedRuns: 0, tokens: 30 });
    const { rows } = await db.pool.query<{ action: string; target_type: string; target_id: string; details: unknown; actor: string }>(
      "select action, target_type, target_id, details, actor from everruns.audit_log where workspace_id = $1 and action = 'workspace.limits_set' order by seq",
      [ws.id],
    );
    expect(rows).toEqual([
      {
        action: "workspace.limits_set",
        target_type: "workspace",
        target_id: ws.id,
        actor: "db:postgres",
        details: {
          old: { max_queued_runs: null, runs_per_minute: null, max_running_runs: null, weight: 1, ...NO_QUOTAS },
          new: { max_queued_runs: 100, runs_per_minute: null, max_running_runs: null, weight: 1, ...NO_QUOTAS },
        },
      },
      {
        action: "workspace.limits_set",
        target_type: "workspace",
        target_id: ws.id,
        actor: "db:postgres",
        details: {
          old: { max_queued_runs: 100, runs_per_minute: null, max_running_runs: null, weight: 1, ...NO_QUOTAS },
          new: { max_queued_runs: 50, runs_per_minute: 30, max_running_runs: null, weight: 1, ...NO_QUOTAS },
        },
      },
    ]);
    expect(await verifyAudit(db.pool, ws.id)).toBeNull(); // the chain is intact

    await setWorkspaceLimits(db.pool, ws.id, { maxQueuedRuns: null, runsPerMinute: null });
    expect((await db.pool.query("select 1 from everruns_private.workspace_limits where workspace_id = $1", [ws.id])).rowCount).toBe(0);
    await expect(setWorkspaceLimits(db.pool, ws.id, { maxQueuedRuns: 0, runsPerMinute: null })).rejects.toThrow(
      /max_queued_runs must be a whole number from 1/,
    );
    await expect(workspaceLimitsOf(db.pool, "00000000-0000-0000-0000-00000000beef")).rejects.toMatchObject({ code: "not_found" });
  });
});

describe("everruns workspaces limits", () => {
  function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [path.join(PROJECT_ROOT, "scripts", "everruns.ts"), ...args], {
        env: { ...process.env, DATABASE_URL: db.url },
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("exit", (code) => resolve({ code, stdout, stderr }));
    });
  }

  it("shows, sets (a flag not given keeps its value) and clears a workspace's limits", async () => {
    const ws = await workspace();
    await insertRuns(ws, 2);
    const shown = await cli(["workspaces", "limits", ws.name]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/max_queued_runs\s+unlimited\s+2 queued/);

    const set = await cli(["workspaces", "limits", ws.name, "--max-queued-runs", "3", "--json"]);
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ workspaceId: ws.id, maxQueuedRuns: 3, runsPerMinute: null, queuedRuns: 2 });
    const rpm = await cli(["workspaces", "limits", ws.name, "--runs-per-minute", "60", "--json"]);
    expect(JSON.parse(rpm.stdout)).toMatchObject({ maxQueuedRuns: 3, runsPerMinute: 60, tokens: 60 });
    expect((await refusal(insertRuns(ws, 2))).code).toBe("EV012");

    const cleared = await cli(["workspaces", "limits", ws.name, "--max-queued-runs", "none", "--runs-per-minute", "none", "--json"]);
    expect(JSON.parse(cleared.stdout)).toMatchObject({ maxQueuedRuns: null, runsPerMinute: null });
    const bad = await cli(["workspaces", "limits", ws.name, "--max-queued-runs", "0"]);
    expect(bad).toMatchObject({ code: 1, stderr: 'everruns: --max-queued-runs takes a whole number of at least 1, or none (unlimited), got "0"\n' });
  });

  it("sets max_running_runs and weight (the other limits kept) and shows active and waiting runs", async () => {
    const ws = await workspace();
    expect((await cli(["workspaces", "limits", ws.name, "--max-queued-runs", "10", "--json"])).code).toBe(0);
    const set = await cli(["workspaces", "limits", ws.name, "--max-running-runs", "1", "--weight", "4", "--json"]);
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ maxQueuedRuns: 10, runsPerMinute: null, maxRunningRuns: 1, weight: 4, activeRuns: 0, pendingRuns: 0 });

    // one run takes the workspace's one slot, two wait for it (FIFO admission: the runs of the
    // tests above hold the fair-share window of a database without workers)
    await db.pool.query("select everruns_private.set_scheduler(false)");
    onTestFinished(async () => {
      await db.pool.query("select everruns_private.set_scheduler(true)");
    });
    await insertRuns(ws, 3);
    const shown = await cli(["workspaces", "limits", ws.name]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/max_queued_runs\s+10\s+3 queued/);
    expect(shown.stdout).toMatch(/max_running_runs\s+1\s+1 active, 2 waiting for a slot, oldest waiting \d+ s/);
    expect(shown.stdout).toMatch(/weight\s+4\s/);
    const json = JSON.parse((await cli(["workspaces", "limits", ws.name, "--json"])).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ maxRunningRuns: 1, weight: 4, queuedRuns: 3, activeRuns: 1, pendingRuns: 2, oldestPendingAt: expect.any(String) as unknown });

    // none lifts the running limit: the waiting runs are admitted
    const lifted = await cli(["workspaces", "limits", ws.name, "--max-running-runs", "none", "--json"]);
    expect(JSON.parse(lifted.stdout)).toMatchObject({
      maxQueuedRuns: 10,
      maxRunningRuns: null,
      weight: 4,
      activeRuns: 3,
      pendingRuns: 0,
      oldestPendingAt: null,
    });
    for (const weight of ["0", "1001", "none"]) {
      const bad = await cli(["workspaces", "limits", ws.name, "--weight", weight]);
      expect(bad).toMatchObject({ code: 1, stderr: `everruns: --weight takes a whole number from 1 to 1000 (the default is 1), got "${weight}"\n` });
    }
    const usage = await cli(["workspaces", "--help"]);
    expect(usage.stdout).toContain("[--max-running-runs N|none] [--weight N]");
  });

  it("sets the daily quotas and dedicated, shows today's usage, and refuses contradictory or bad values", async () => {
    const ws = await workspace();
    const set = await cli(["workspaces", "limits", ws.name, "--max-tokens-per-day", "100000", "--max-cost-usd-per-day", "2.50", "--dedicated", "--json"]);
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({
      maxQueuedRuns: null,
      maxTokensPerDay: 100000,
      maxCostUsdPerDay: 2.5,
      dedicated: true,
      tokensToday: 0,
      costUsdToday: 0,
    });

    // an LLM step committed today counts (as a worker's would)
    const [runId] = await insertRuns(ws, 1);
    await db.pool.query(
      `insert into everruns.run_steps (run_id, seq, workspace_id, kind, name, status, attempt, usage, started_at, finished_at, run_created_at)
       values ($1, 1, $2, 'llm', 'scripted', 'succeeded', 1, $3, now(), now(),
               (select everruns_private.run_partition_key(r.created_at, r.legacy_history) from everruns.runs r where r.id = $1))`,
      [runId, ws.id, JSON.stringify({ input_tokens: 12000, output_tokens: 345, cost_usd: 0.25 })],
    );
    const shown = await cli(["workspaces", "limits", ws.name]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/max_tokens_per_day\s+100,000\s+12,345 of 100,000 tokens today/);
    expect(shown.stdout).toMatch(/max_cost_usd_per_day\s+\$2\.50\s+\$0\.25 of \$2\.50 today/);
    expect(shown.stdout).toMatch(new RegExp(`dedicated\\s+yes\\s+only everruns worker --workspace ${ws.name} runs its steps`));

    // --shared undoes --dedicated, the quotas kept; none removes one quota (the other still counts)
    const shared = await cli(["workspaces", "limits", ws.name, "--shared", "--max-cost-usd-per-day", "none", "--json"]);
    expect(shared.code).toBe(0);
    expect(JSON.parse(shared.stdout)).toMatchObject({
      maxTokensPerDay: 100000,
      maxCostUsdPerDay: null,
      dedicated: false,
      tokensToday: 12345,
      costUsdToday: 0.25,
    });
    const sharedShown = await cli(["workspaces", "limits", ws.name]);
    expect(sharedShown.stdout).toMatch(/max_cost_usd_per_day\s+unlimited\s+\$0\.25 today/);
    expect(sharedShown.stdout).toMatch(/dedicated\s+no\s+shared workers run its steps/);

    // refused, and nothing changed
    expect(await cli(["workspaces", "limits", ws.name, "--dedicated", "--shared"])).toMatchObject({
      code: 1,
      stderr: "everruns: --dedicated and --shared contradict each other: give one of them (or neither to keep the setting)\n",
    });
    for (const tokens of ["0", "1.5", "1000000000000001"]) {
      const bad = await cli(["workspaces", "limits", ws.name, "--max-tokens-per-day", tokens]);
      expect(bad).toMatchObject({
        code: 1,
        stderr: `everruns: --max-tokens-per-day takes a whole number of tokens from 1 to 1,000,000,000,000,000, or none (no quota), got "${tokens}"\n`,
      });
    }
    for (const cost of ["0.00", "$5", "100000000", "1.1234567"]) {
      const bad = await cli(["workspaces", "limits", ws.name, "--max-cost-usd-per-day", cost]);
      expect(bad).toMatchObject({
        code: 1,
        stderr: `everruns: --max-cost-usd-per-day takes dollars more than 0 and less than 100,000,000 (e.g. 2.50, at most 6 decimals), or none (no quota), got "${cost}"\n`,
      });
    }
    expect(await workspaceLimitsOf(db.pool, ws.id)).toMatchObject({ maxTokensPerDay: 100000, maxCostUsdPerDay: null, dedicated: false });

    // both quotas removed: nothing counted any more
    const cleared = await cli(["workspaces", "limits", ws.name, "--max-tokens-per-day", "none", "--json"]);
    expect(JSON.parse(cleared.stdout)).toMatchObject({ maxTokensPerDay: null, tokensToday: null, costUsdToday: null });
    expect((await cli(["workspaces", "limits", ws.name])).stdout).toMatch(/max_tokens_per_day\s+unlimited\s+-/);

    const usage = await cli(["workspaces", "--help"]);
    expect(usage.stdout).toContain("[--max-tokens-per-day N|none]");
    expect(usage.stdout).toContain("[--dedicated | --shared]");
    expect(usage.stdout).toMatch(/park[\s\S]*until the next UTC midnight/);
    expect(usage.stdout).toMatch(/only workers started with everruns worker --workspace <name> run\s+its steps/);
  });
});
