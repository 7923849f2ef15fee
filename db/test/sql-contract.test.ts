// The SQL contract: starting runs with a plain INSERT, clear errors for bad input with nothing
// left behind, agent versions. (What an agent config may hold is zod's alone: see
// api/test/agent-config-validation.test.ts for every case through SQL and the API.)
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentConfigSchema } from "../schemas.ts";
import { fromDatabaseError, NotFoundError, ValidationError } from "../errors.ts";
import { createAgent, createTestDatabase, type TestDatabase } from "./helpers.ts";

let db: TestDatabase;
let agentId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  agentId = await createAgent(db.pool, { provider: "scripted", script: [{ text: "hi" }] }, "contract-agent");
});
afterAll(async () => db?.drop());

async function counts() {
  const { rows } = await db.pool.query(`select
    (select count(*) from everruns.runs)::int as runs,
    (select count(*) from everruns.threads)::int as threads,
    (select count(*) from graphile_worker.jobs)::int as jobs`);
  return rows[0] as { runs: number; threads: number; jobs: number };
}

async function sqlError(sql: string, params: unknown[]): Promise<unknown> {
  try {
    await db.pool.query(sql, params);
  } catch (error) {
    return fromDatabaseError(error);
  }
  throw new Error(`expected "${sql}" to fail`);
}

describe("starting a run with INSERT", () => {
  it("validates, pins the agent version, creates the thread and enqueues the first step in the same transaction", async () => {
    const before = await counts();
    const client = await db.pool.connect();
    try {
      await client.query("begin");
      const { rows } = await client.query<{ id: string; status: string; thread_id: string; agent_version: number }>(
        "insert into everruns.runs (agent_id, input) values ($1, $2) returning id, status, thread_id, agent_version",
        [agentId, { messages: [{ role: "user", content: "hi" }] }],
      );
      expect(rows[0]).toMatchObject({ status: "queued", agent_version: 1, thread_id: expect.any(String) as unknown });
      // one job, "advance this run", keyed by the run (the public view has no payload)
      const job = await client.query("select task_identifier, attempts, locked_at from graphile_worker.jobs where key = $1", [`run:${rows[0]!.id}`]);
      expect(job.rows).toEqual([{ task_identifier: "run_step", attempts: 0, locked_at: null }]);
      await client.query("rollback");
    } finally {
      client.release();
    }
    // rolled back: the job went with the run
    expect(await counts()).toEqual(before);
  });

  it("honours a given thread id, creating the thread on first use", async () => {
    const threadId = "11111111-2222-3333-4444-555555555555";
    for (let i = 0; i < 2; i++) {
      await db.pool.query("insert into everruns.runs (agent_id, input, thread_id) values ($1, $2, $3)", [
        agentId,
        { messages: [{ role: "user", content: `turn ${i}` }] },
        threadId,
      ]);
    }
    const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs where thread_id = $1", [threadId]);
    expect(rows[0]!.n).toBe(2);
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ["not an object", [1, 2], /invalid run input: must be a JSON object/],
    ["no messages", {}, /"messages" must be an array/],
    ["empty messages", { messages: [] }, /at least one message/],
    ["unknown role", { messages: [{ role: "robot", content: "x" }] }, /messages\[0\]\.role must be one of/],
    ["content not a string", { messages: [{ role: "user", content: 42 }] }, /messages\[0\]\.content must be a string/],
    [
      "tool message without id",
      {
        messages: [
          { role: "user", content: "a" },
          { role: "tool", content: "x" },
        ],
      },
      /messages\[1\]: a tool message needs "toolCallId"/,
    ],
    ["state not an object", { messages: [{ role: "user", content: "a" }], state: [] }, /"state" must be an object/],
    ["tools without names", { messages: [{ role: "user", content: "a" }], tools: [{}] }, /tools\[0\] must be an object with a "name"/],
  ];
  for (const [name, input, message] of bad) {
    it(`rejects malformed input (${name}) with a clear error and leaves nothing behind`, async () => {
      const before = await counts();
      const error = await sqlError("insert into everruns.runs (agent_id, input) values ($1, $2)", [agentId, JSON.stringify(input)]);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as Error).message).toMatch(message);
      expect(await counts()).toEqual(before);
    });
  }

  it("rejects an unknown agent with a clear error", async () => {
    const before = await counts();
    const error = await sqlError("insert into everruns.runs (agent_id, input) values ($1, $2)", [
      "00000000-0000-0000-0000-00000000dead",
      { messages: [{ role: "user", content: "hi" }] },
    ]);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toMatch(/unknown agent 00000000-0000-0000-0000-00000000dead.*Create the agent first/);
    expect(await counts()).toEqual(before);
  });

  it("rejects a malformed agent id and a preset status", async () => {
    expect(await sqlError("insert into everruns.runs (agent_id, input) values ($1, $2)", ["nope", {}])).toBeInstanceOf(ValidationError);
    const error = await sqlError("insert into everruns.runs (agent_id, input, status) values ($1, $2, 'succeeded')", [
      agentId,
      { messages: [{ role: "user", content: "hi" }] },
    ]);
    expect((error as Error).message).toMatch(/a new run starts queued/);
  });
});

describe("agent config", () => {
  for (const config of [null, [], "scripted", 42]) {
    it(`rejects a config that is not a JSON object (${JSON.stringify(config)}) with EV001`, async () => {
      const error = await sqlError("insert into everruns.agents (name, config) values ($1, $2)", ["not-an-object", JSON.stringify(config)]);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).code).toBe("invalid_agent_config");
      expect((error as Error).message).toMatch(/must be a JSON object/);
    });
  }

  it("accepts the README example in both SQL and zod", async () => {
    const config = {
      provider: "openai",
      model: "gpt-4.1",
      system_prompt: "You are helpful.",
      tools: [
        "echo",
        {
          name: "notify",
          type: "http",
          url: "http://127.0.0.1:9/x",
          description: "d",
          parameters: { type: "object" },
          requires_approval: true,
          timeout_ms: 30000,
        },
      ],
      max_steps: 50,
      llm_timeout_ms: 120000,
      retry: { max_attempts: 5, initial_delay_ms: 1000, max_delay_ms: 60000, multiplier: 2 },
    };
    expect(AgentConfigSchema.safeParse(config).success).toBe(true);
    await createAgent(db.pool, config, "design-example");
  });

  it("keeps every version: updating config bumps version, versions are immutable, runs pin theirs", async () => {
    const id = await createAgent(db.pool, { provider: "scripted", script: [{ text: "v1" }] }, "versioned");
    const run1 = await db.pool.query<{ agent_version: number }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning agent_version", [
      id,
      { messages: [{ role: "user", content: "a" }] },
    ]);
    await db.pool.query("update everruns.agents set config = $2 where id = $1", [id, { provider: "scripted", script: [{ text: "v2" }] }]);
    await db.pool.query("update everruns.agents set name = 'versioned2' where id = $1", [id]); // no config change: same version
    const run2 = await db.pool.query<{ agent_version: number }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning agent_version", [
      id,
      { messages: [{ role: "user", content: "b" }] },
    ]);
    expect([run1.rows[0]!.agent_version, run2.rows[0]!.agent_version]).toEqual([1, 2]);
    const versions = await db.pool.query(
      "select version, config -> 'script' -> 0 ->> 'text' as text from everruns.agent_versions where agent_id = $1 order by version",
      [id],
    );
    expect(versions.rows).toEqual([
      { version: 1, text: "v1" },
      { version: 2, text: "v2" },
    ]);
    const error = await sqlError("update everruns.agent_versions set config = '{}' where agent_id = $1", [id]);
    expect((error as Error).message).toMatch(/agent_versions rows are immutable/);
    // an invalid update is refused and changes nothing
    await sqlError("update everruns.agents set config = $2 where id = $1", [id, JSON.stringify(["not", "an", "object"])]);
    const { rows } = await db.pool.query<{ version: number }>("select version from everruns.agents where id = $1", [id]);
    expect(rows[0]!.version).toBe(2);
  });
});
