// The audit log (db/migrations/000003_audit_log.sql): one row per recorded change, written in the
// transaction of the change; per workspace a gapless, hash-chained, append-only log that
// everruns.verify_audit checks; no row per step.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PoolClient } from "../pool.ts";
import { readAuditLog, type AuditLogRow } from "../sql/readAuditLog.ts";
import { verifyAudit } from "../sql/verifyAudit.ts";
import { createAgent, createTestDatabase, startRun, type TestDatabase } from "./helpers.ts";

const DEFAULT_WS = "00000000-0000-0000-0000-000000000001";
const CONFIG = { provider: "scripted", script: [{ text: "hi" }] };
const INPUT = { messages: [{ role: "user", content: "hi" }] };

let db: TestDatabase;
let agentId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  agentId = await createAgent(db.pool, CONFIG, "audited");
});
afterAll(async () => db?.drop());

/** The audit rows after id `afterId`, in order (on `client` to see an open transaction's rows). */
async function rowsAfter(client: pg.ClientBase | TestDatabase["pool"], afterId: number): Promise<AuditLogRow[]> {
  const { rows } = await client.query<AuditLogRow>(
    `select id, workspace_id, seq, at, actor, action, target_type, target_id, details,
            encode(prev_hash, 'hex') as prev_hash, encode(hash, 'hex') as hash
       from everruns.audit_log where id > $1 order by id`,
    [afterId],
  );
  return rows;
}

async function lastId(): Promise<number> {
  const { rows } = await db.pool.query<{ id: number }>("select coalesce(max(id), 0)::int as id from everruns.audit_log");
  return rows[0]!.id;
}

/** Runs `fn` in a transaction that is always rolled back. */
async function inRolledBack<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await db.pool.connect();
  try {
    await client.query("begin");
    return await fn(client);
  } finally {
    await client.query("rollback");
    client.release();
  }
}

async function errorOf(client: pg.ClientBase | TestDatabase["pool"], sql: string, params: unknown[] = []): Promise<{ code?: string; message: string }> {
  try {
    await client.query(sql, params);
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error(`expected "${sql}" to fail`);
}

/** An interrupted run of `agent` waiting for the given approvals (as the worker leaves one). */
async function interruptedRun(agent: string, interruptIds: string[]): Promise<string> {
  const runId = await startRun(db.pool, agent);
  const interrupts = {
    interrupts: interruptIds.map((id) => ({ id, reason: "tool_approval", message: "approve?" })),
    ...(interruptIds.length === 0 ? { pendingToolCallIds: ["call-1"] } : {}),
  };
  await db.pool.query("update everruns.runs set status = 'interrupted', interrupts = $2 where id = $1", [runId, interrupts]);
  return runId;
}

describe("each recorded change writes one row, in its own transaction", () => {
  it("agent created: one row, gone when the transaction rolls back", async () => {
    const before = await lastId();
    const seen = await inRolledBack(async (client) => {
      const { rows } = await client.query<{ id: string }>("insert into everruns.agents (name, config) values ('rolled-back', $1) returning id", [CONFIG]);
      return { id: rows[0]!.id, audit: await rowsAfter(client, before) };
    });
    expect(seen.audit).toMatchObject([
      { workspace_id: DEFAULT_WS, action: "agent.created", target_type: "agent", target_id: seen.id, details: { name: "rolled-back", version: 1 } },
    ]);
    expect(await rowsAfter(db.pool, before)).toEqual([]);

    const id = await createAgent(db.pool, CONFIG, "created");
    expect(await rowsAfter(db.pool, before)).toMatchObject([{ action: "agent.created", target_id: id, details: { name: "created", version: 1 } }]);
  });

  it("agent config updated (new version) and renamed; an update changing neither writes nothing", async () => {
    const id = await createAgent(db.pool, CONFIG, "to-edit");
    const before = await lastId();
    await db.pool.query("update everruns.agents set config = $2 where id = $1", [id, { ...CONFIG, model: "v2" }]);
    await db.pool.query("update everruns.agents set name = 'edited' where id = $1", [id]);
    await db.pool.query("update everruns.agents set config = config, name = name, updated_at = now() where id = $1", [id]);
    await db.pool.query("update everruns.agents set name = 'edited-again', config = $2 where id = $1", [id, { ...CONFIG, model: "v3" }]);
    const rows = await rowsAfter(db.pool, before);
    expect(rows.map((r) => [r.action, r.target_id, r.details])).toEqual([
      ["agent.config_updated", id, { name: "to-edit", version: 2, previous_version: 1 }],
      ["agent.renamed", id, { from: "to-edit", to: "edited" }],
      ["agent.renamed", id, { from: "edited", to: "edited-again" }],
      ["agent.config_updated", id, { name: "edited-again", version: 3, previous_version: 2 }],
    ]);
    // never the config itself
    expect(JSON.stringify(rows)).not.toContain("scripted");
  });

  it("agent deleted", async () => {
    const id = await createAgent(db.pool, CONFIG, "to-delete");
    const before = await lastId();
    await db.pool.query("delete from everruns.agents where id = $1", [id]);
    expect(await rowsAfter(db.pool, before)).toMatchObject([{ action: "agent.deleted", target_id: id, details: { name: "to-delete", version: 1 } }]);
  });

  it("run started: one row (none after a rollback), with the agent version and thread, never the input", async () => {
    const before = await lastId();
    const seen = await inRolledBack(async (client) => {
      await client.query("insert into everruns.runs (agent_id, input) values ($1, $2)", [agentId, INPUT]);
      return rowsAfter(client, before);
    });
    expect(seen.map((r) => r.action)).toEqual(["run.started"]);
    expect(await rowsAfter(db.pool, before)).toEqual([]);

    const runId = await startRun(db.pool, agentId, "a secret prompt");
    const rows = await rowsAfter(db.pool, before);
    const { rows: run } = await db.pool.query<{ thread_id: string }>("select thread_id from everruns.runs where id = $1", [runId]);
    expect(rows).toMatchObject([
      {
        action: "run.started",
        target_type: "run",
        target_id: runId,
        details: { agent_id: agentId, agent_version: 1, thread_id: run[0]!.thread_id },
      },
    ]);
    expect(JSON.stringify(rows)).not.toContain("secret prompt");
  });

  it("approval answered: the continuation records its parent and the answers' ids, statuses and decisions, not their payloads", async () => {
    const parent = await interruptedRun(agentId, ["approval-a", "approval-b"]);
    const before = await lastId();
    const resume = [
      { interruptId: "approval-a", status: "resolved", payload: { approved: true, arguments: { token: "hunter2" } } },
      { interruptId: "approval-b", status: "cancelled" },
    ];
    const { rows } = await db.pool.query<{ id: string }>("select everruns.resume_run($1, $2) as id", [parent, JSON.stringify(resume)]);
    const audit = await rowsAfter(db.pool, before);
    expect(audit).toMatchObject([
      {
        action: "approval.answered",
        target_type: "run",
        target_id: rows[0]!.id,
        details: {
          parent_run_id: parent,
          answers: [
            { interruptId: "approval-a", status: "resolved", approved: true, edited: true },
            { interruptId: "approval-b", status: "cancelled", approved: false, edited: false },
          ],
        },
      },
    ]);
    // the decision, never the (edited) arguments or the payload
    expect(JSON.stringify(audit)).not.toMatch(/hunter2|arguments|payload/);
    // answering again with the same answers returns the same continuation and records nothing
    await db.pool.query("select everruns.resume_run($1, $2)", [parent, JSON.stringify(resume)]);
    expect(await rowsAfter(db.pool, before)).toHaveLength(1);
  });

  it("run resumed: a continuation with no approvals to answer (client tools' results)", async () => {
    const parent = await interruptedRun(agentId, []);
    const { rows: p } = await db.pool.query<{ thread_id: string }>("select thread_id from everruns.runs where id = $1", [parent]);
    const before = await lastId();
    const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, thread_id, input) values ($1, $2, $3) returning id", [
      agentId,
      p[0]!.thread_id,
      { messages: [{ role: "tool", toolCallId: "call-1", content: "42" }] },
    ]);
    expect(await rowsAfter(db.pool, before)).toMatchObject([
      { action: "run.resumed", target_id: rows[0]!.id, details: { parent_run_id: parent, thread_id: p[0]!.thread_id } },
    ]);
  });

  it("run cancelled: once, on the change to cancelled; the run's other updates write nothing", async () => {
    const runId = await startRun(db.pool, agentId);
    const before = await lastId();
    // what the step engine does to a run on every step
    await db.pool.query(
      "update everruns.runs set status = 'running', step_attempt = step_attempt + 1, event_seq = event_seq, updated_at = now() where id = $1",
      [runId],
    );
    await db.pool.query("update everruns.runs set status = 'running', step_cursor = step_cursor + 1 where id = $1", [runId]);
    expect(await rowsAfter(db.pool, before)).toEqual([]);
    const seen = await inRolledBack(async (client) => {
      await client.query("select everruns.cancel_run($1)", [runId]);
      return rowsAfter(client, before);
    });
    expect(seen.map((r) => r.action)).toEqual(["run.cancelled"]);
    expect(await rowsAfter(db.pool, before)).toEqual([]);

    await db.pool.query("select everruns.cancel_run($1)", [runId]);
    await db.pool.query("select everruns.cancel_run($1)", [runId]); // already cancelled: false, no row
    expect(await rowsAfter(db.pool, before)).toMatchObject([{ action: "run.cancelled", target_id: runId, details: { previous_status: "running" } }]);
  });

  it("signal sent: its name and id, never its payload", async () => {
    const runId = await startRun(db.pool, agentId);
    const before = await lastId();
    await db.pool.query("select everruns.send_event($1, 'payment', $2)", [runId, { card: "4111-1111" }]);
    const rows = await rowsAfter(db.pool, before);
    const { rows: signal } = await db.pool.query<{ id: number }>("select id from everruns.run_signals where run_id = $1", [runId]);
    expect(rows).toMatchObject([{ action: "signal.sent", target_type: "run", target_id: runId, details: { signal_id: signal[0]!.id, name: "payment" } }]);
    expect(JSON.stringify(rows)).not.toContain("4111");
  });

  it("records the actor the API sets for its transaction, else the database user", async () => {
    const before = await lastId();
    await inRolledBack(async (client) => {
      await client.query("select set_config('everruns.actor', 'key:k_123', true)");
      await client.query("insert into everruns.runs (agent_id, input) values ($1, $2)", [agentId, INPUT]);
      expect((await rowsAfter(client, before)).map((r) => r.actor)).toEqual(["key:k_123"]);
    });
    // after a `set local` ended, the setting reads '' in that session: back to the database user
    const client = await db.pool.connect();
    try {
      await client.query("begin");
      await client.query("set local everruns.actor = 'key:k_456'");
      await client.query("commit");
      await client.query("insert into everruns.runs (agent_id, input) values ($1, $2)", [agentId, INPUT]);
    } finally {
      client.release();
    }
    const { rows } = await db.pool.query<{ user: string }>("select session_user as user");
    expect((await rowsAfter(db.pool, before)).map((r) => r.actor)).toEqual([`db:${rows[0]!.user}`]);
  });

  it("adds no trigger to the per-step tables", async () => {
    const { rows } = await db.pool.query<{ table: string; trigger: string }>(
      `select c.relname as table, t.tgname as trigger from pg_trigger t join pg_class c on c.oid = t.tgrelid
        where not t.tgisinternal and c.relname in ('run_steps', 'run_events') and t.tgname like '%audit%'`,
    );
    expect(rows).toEqual([]);
  });
});

describe("the chain", () => {
  it("is gapless from 1 and linked, each hash over the row and the previous hash; verify_audit finds it intact", async () => {
    const { rows } = await db.pool.query<{ seq: number; linked: boolean; hashed: boolean }>(
      `select seq,
              prev_hash is not distinct from lag(hash) over (order by seq) as linked,
              hash = everruns_private.audit_hash(workspace_id, seq, at, actor, action, target_type, target_id, details, prev_hash) as hashed
         from everruns.audit_log where workspace_id = $1 order by seq`,
      [DEFAULT_WS],
    );
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    expect(rows.every((r) => r.linked && r.hashed)).toBe(true);
    expect(await verifyAudit(db.pool, DEFAULT_WS)).toBeNull();
  });

  it("hashes the same whatever the session's TimeZone and bytea_output", async () => {
    await inRolledBack(async (client) => {
      await client.query("set local timezone = 'Asia/Kathmandu'");
      await client.query("set local bytea_output = 'escape'");
      await client.query("set local datestyle = 'SQL, DMY'");
      await client.query("insert into everruns.runs (agent_id, input) values ($1, $2)", [agentId, INPUT]);
      const { rows } = await client.query<{ broken: unknown }>("select everruns.verify_audit($1) as broken", [DEFAULT_WS]);
      expect(rows[0]!.broken).toBeNull();
    });
    expect(await verifyAudit(db.pool, DEFAULT_WS)).toBeNull();
  });

  it("refuses UPDATE, DELETE and TRUNCATE, for the owner too", async () => {
    for (const sql of [
      "update everruns.audit_log set actor = 'someone else' where seq = 1",
      "delete from everruns.audit_log where seq = 1",
      "truncate everruns.audit_log",
    ]) {
      const error = await errorOf(db.pool, sql);
      expect(error.code).toBe("EV006");
      expect(error.message).toMatch(/audit_log rows are immutable/);
    }
    const { rows } = await db.pool.query<{ grants: number }>(
      "select count(*)::int as grants from information_schema.role_table_grants where table_schema = 'everruns' and table_name = 'audit_log' and grantee = 'PUBLIC'",
    );
    expect(rows[0]!.grants).toBe(0);
  });

  it("records the changes of a role with no right on the audit tables, which cannot write or read them itself", async () => {
    const before = await lastId();
    const role = `audit_test_${Math.random().toString(36).slice(2, 10)}`;
    await inRolledBack(async (client) => {
      await client.query(`create role ${role} nologin`);
      await client.query(`grant usage on schema everruns, everruns_private to ${role}`);
      await client.query(`grant select, insert on everruns.agents to ${role}`);
      await client.query(`grant insert on everruns.agent_versions to ${role}`);
      await client.query(`set local role ${role}`);
      await client.query("select set_config('everruns.workspace_id', $1, true)", [DEFAULT_WS]); // row-level security (000006)
      await client.query("insert into everruns.agents (workspace_id, name, config) values ($1, 'by-a-role', $2)", [DEFAULT_WS, CONFIG]);
      await client.query("savepoint s");
      for (const sql of [
        "select everruns_private.audit_append($1, 'agent.created', 'agent', 'forged', '{}')",
        "insert into everruns.audit_log (workspace_id, seq, at, actor, action, target_type, hash) values ($1, 1000, now(), 'me', 'agent.created', 'agent', sha256(''))",
        "select * from everruns.audit_log where workspace_id = $1",
      ]) {
        expect((await errorOf(client, sql, [DEFAULT_WS])).code).toBe("42501"); // insufficient privilege
        await client.query("rollback to savepoint s");
      }
      await client.query("reset role");
      // the login is recorded, not the role it set (SET ROLE changes current_user only)
      const { rows } = await client.query<{ user: string }>("select session_user as user");
      expect(await rowsAfter(client, before)).toMatchObject([{ action: "agent.created", actor: `db:${rows[0]!.user}`, details: { name: "by-a-role" } }]);
    });
  });

  /** Tampers with the log as a superuser (the immutability trigger disabled), verifies, rolls back. */
  async function tampered(sql: string, params: unknown[] = []): Promise<unknown> {
    return inRolledBack(async (client) => {
      await client.query("alter table everruns.audit_log disable trigger tg_audit_log__immutable");
      await client.query(sql, params);
      await client.query("alter table everruns.audit_log enable trigger tg_audit_log__immutable");
      const { rows } = await client.query<{ broken: unknown }>("select everruns.verify_audit($1) as broken", [DEFAULT_WS]);
      return rows[0]!.broken;
    });
  }

  it("detects an edited row at its seq", async () => {
    expect(await tampered("update everruns.audit_log set actor = 'db:nobody' where workspace_id = $1 and seq = 5", [DEFAULT_WS])).toMatchObject({
      seq: 5,
      problem: "hash",
    });
    expect(
      await tampered('update everruns.audit_log set details = details || \'{"name": "x"}\' where workspace_id = $1 and seq = 7', [DEFAULT_WS]),
    ).toMatchObject({ seq: 7, problem: "hash" });
  });

  it("detects an edited row whose hash was recomputed, at the next link", async () => {
    const sql = `update everruns.audit_log
                    set actor = 'db:nobody',
                        hash = everruns_private.audit_hash(workspace_id, seq, at, 'db:nobody', action, target_type, target_id, details, prev_hash)
                  where workspace_id = $1 and seq = 3`;
    expect(await tampered(sql, [DEFAULT_WS])).toMatchObject({ seq: 4, problem: "prev_hash" });
  });

  it("detects a deleted row (a gap), the first row deleted, and the newest rows deleted", async () => {
    expect(await tampered("delete from everruns.audit_log where workspace_id = $1 and seq in (6, 7)", [DEFAULT_WS])).toMatchObject({
      seq: 6,
      problem: "missing",
      found_seq: 8,
    });
    expect(await tampered("delete from everruns.audit_log where workspace_id = $1 and seq = 1", [DEFAULT_WS])).toMatchObject({
      seq: 1,
      problem: "missing",
      found_seq: 2,
    });
    const { rows } = await db.pool.query<{ last: number }>("select max(seq)::int as last from everruns.audit_log where workspace_id = $1", [DEFAULT_WS]);
    const last = rows[0]!.last;
    expect(await tampered("delete from everruns.audit_log where workspace_id = $1 and seq >= $2", [DEFAULT_WS, last - 1])).toMatchObject({
      seq: last - 1,
      problem: "head",
    });
    // untouched after all that (every tampering was rolled back)
    expect(await verifyAudit(db.pool, DEFAULT_WS)).toBeNull();
  });

  it("keeps one independent chain per workspace", async () => {
    const { rows: ws } = await db.pool.query<{ id: string }>("insert into everruns.workspaces (name) values ('audit-other') returning id");
    const other = ws[0]!.id;
    expect(await verifyAudit(db.pool, other)).toBeNull(); // no rows yet: intact
    const { rows: a } = await db.pool.query<{ id: string }>(
      "insert into everruns.agents (workspace_id, name, config) values ($1, 'elsewhere', $2) returning id",
      [other, CONFIG],
    );
    await db.pool.query("insert into everruns.runs (workspace_id, agent_id, input) values ($1, $2, $3)", [other, a[0]!.id, INPUT]);
    await startRun(db.pool, agentId); // the default workspace goes on with its own seq
    const log = await readAuditLog(db.pool, other);
    expect(log.map((r) => [r.seq, r.action, r.prev_hash === null])).toEqual([
      [2, "run.started", false],
      [1, "agent.created", true],
    ]);
    expect(log[0]!.prev_hash).toBe(log[1]!.hash);
    const defaultLog = await readAuditLog(db.pool, DEFAULT_WS, { limit: 1 });
    expect(defaultLog[0]!.seq).toBeGreaterThan(10);
    expect(await verifyAudit(db.pool, other)).toBeNull();
    expect(await verifyAudit(db.pool, DEFAULT_WS)).toBeNull();
  });

  it("reads a workspace's log newest first, a page at a time", async () => {
    const first = await readAuditLog(db.pool, DEFAULT_WS, { limit: 3 });
    const next = await readAuditLog(db.pool, DEFAULT_WS, { limit: 3, before: first[2]!.seq });
    const seqs = [...first, ...next].map((r) => r.seq);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! - i));
    expect(first[0]).toMatchObject({ workspace_id: DEFAULT_WS, hash: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown });
    // the read is one backward range of the index, no sort (seq scans off: the table is tiny here)
    const plan = await inRolledBack(async (client) => {
      await client.query("set local enable_seqscan = off");
      const { rows } = await client.query<{ "QUERY PLAN": string }>(
        `explain (costs off) select * from everruns.audit_log where workspace_id = $1 and seq < 100 order by seq desc limit 3`,
        [DEFAULT_WS],
      );
      return rows.map((r) => r["QUERY PLAN"]).join("\n");
    });
    expect(plan).toMatch(/Index Scan using audit_log_workspace_seq_idx/);
    expect(plan).not.toMatch(/Sort/);
  });
});

describe("concurrent writers", () => {
  async function connections(n: number): Promise<pg.Client[]> {
    return Promise.all(
      Array.from({ length: n }, async () => {
        const client = new pg.Client({ connectionString: db.url, application_name: "audit-concurrency" });
        await client.connect();
        return client;
      }),
    );
  }

  async function parallelRuns(workspaceId: string, agent: string, n: number): Promise<void> {
    const clients = await connections(n);
    try {
      await Promise.all(
        clients.map(async (client) => {
          // hold the transaction open a moment after the insert, so the writers overlap
          await client.query("begin");
          await client.query("insert into everruns.runs (workspace_id, agent_id, input) values ($1, $2, $3)", [workspaceId, agent, INPUT]);
          await client.query("select pg_sleep(0.01)");
          await client.query("commit");
        }),
      );
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  }

  async function seqs(workspaceId: string): Promise<number[]> {
    const { rows } = await db.pool.query<{ seq: number }>("select seq from everruns.audit_log where workspace_id = $1 order by seq", [workspaceId]);
    return rows.map((r) => r.seq);
  }

  it("20 run inserts at once from separate connections make a gapless, valid chain", async () => {
    const before = (await seqs(DEFAULT_WS)).length;
    await parallelRuns(DEFAULT_WS, agentId, 20);
    const after = await seqs(DEFAULT_WS);
    expect(after).toEqual(Array.from({ length: before + 20 }, (_, i) => i + 1));
    expect(await verifyAudit(db.pool, DEFAULT_WS)).toBeNull();
  });

  it("also for a workspace's very first rows (its chain's head is created by the first writer)", async () => {
    const { rows: ws } = await db.pool.query<{ id: string }>("insert into everruns.workspaces (name) values ('audit-fresh') returning id");
    const fresh = ws[0]!.id;
    // an agent created with the audit trigger off, so that the runs are the workspace's first rows
    const client = await db.pool.connect();
    let agent: string;
    try {
      await client.query("begin");
      await client.query("alter table everruns.agents disable trigger tg_agents__audit");
      const { rows } = await client.query<{ id: string }>("insert into everruns.agents (workspace_id, name, config) values ($1, 'fresh', $2) returning id", [
        fresh,
        CONFIG,
      ]);
      agent = rows[0]!.id;
      await client.query("alter table everruns.agents enable trigger tg_agents__audit");
      await client.query("commit");
    } finally {
      client.release();
    }
    expect(await seqs(fresh)).toEqual([]);
    await parallelRuns(fresh, agent, 20);
    expect(await seqs(fresh)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await verifyAudit(db.pool, fresh)).toBeNull();
  });

  it("a REPEATABLE READ writer that lost the race gets a serialization failure, never a fork", async () => {
    const [late, early] = await connections(2);
    try {
      await late!.query("begin isolation level repeatable read");
      await late!.query("select 1"); // the snapshot is taken here
      await early!.query("insert into everruns.runs (agent_id, input) values ($1, $2)", [agentId, INPUT]);
      const error = await errorOf(late!, "insert into everruns.runs (agent_id, input) values ($1, $2)", [agentId, INPUT]);
      expect(error.code).toBe("40001");
      await late!.query("rollback");
    } finally {
      await Promise.all([late!.end(), early!.end()]);
    }
    expect(await verifyAudit(db.pool, DEFAULT_WS)).toBeNull();
  });
});

// EVERRUNS_AUDIT_BENCH=1 npx vitest run db/test/audit-log.test.ts -t "cost": what the audit row adds to
// a run insert (the test database runs with fsync off: this is CPU and locking, not disk).
describe.runIf(process.env.EVERRUNS_AUDIT_BENCH)("cost of a run insert", () => {
  it("1,000 inserts with and without the audit trigger, and the time of each trigger", async () => {
    const n = 1000;
    const client = await db.pool.connect();
    try {
      const insert = "insert into everruns.runs (agent_id, input) values ($1, $2)";
      const time = async (): Promise<number> => {
        const start = performance.now();
        for (let i = 0; i < n; i++) await client.query(insert, [agentId, INPUT]);
        return performance.now() - start;
      };
      const setAudit = (on: boolean) => client.query(`alter table everruns.runs ${on ? "enable" : "disable"} trigger tg_runs__audit_start`);
      const ms: Record<"with" | "without", number[]> = { with: [], without: [] };
      await time(); // warm up
      for (let round = 0; round < 6; round++) {
        const on = round % 2 === 0;
        for (const audit of on ? [true, false] : [false, true]) {
          await setAudit(audit);
          ms[audit ? "with" : "without"].push(await time());
        }
      }
      await setAudit(true);
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const withUs = (median(ms.with) / n) * 1000;
      const withoutUs = (median(ms.without) / n) * 1000;
      // inside the server: EXPLAIN ANALYZE reports each trigger's time
      const triggers: Record<string, number> = {};
      let total = 0;
      for (let i = 0; i < 200; i++) {
        const { rows } = await client.query<{ "QUERY PLAN": string }>(`explain (analyze, summary on) ${insert}`, [agentId, INPUT]);
        for (const { "QUERY PLAN": line } of rows) {
          const t = /^Trigger (\S+): time=([\d.]+)/.exec(line);
          if (t) triggers[t[1]!] = (triggers[t[1]!] ?? 0) + Number(t[2]) / 200;
          const e = /^Execution Time: ([\d.]+)/.exec(line);
          if (e) total += Number(e[1]) / 200;
        }
      }
      console.log(
        `run insert, client round trip: ${withUs.toFixed(0)} µs with the audit row, ${withoutUs.toFixed(0)} µs without (ratio ${(withUs / withoutUs).toFixed(2)}); ` +
          `in the server: ${(total * 1000).toFixed(0)} µs per insert, triggers ${Object.entries(triggers)
            .map(([name, t]) => `${name} ${(t * 1000).toFixed(0)} µs`)
            .join(", ")}`,
      );
    } finally {
      client.release();
    }
  });
});
