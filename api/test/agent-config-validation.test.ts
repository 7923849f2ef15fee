// One table of agent configs, each run through both ways an agent is written, asserting the
// same verdict: the SQL path (insert into everruns.agents, then a run: a config SQL lets through
// but zod rejects must fail the run with `invalid_agent_config` naming the field) and the API
// path (GraphQL createAgent with an admin key, rejected by AgentConfigValidationPlugin naming
// the same field).
// zod (db/schemas.ts) is the one definition of a valid config.
import "../graphile-env.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromDatabaseError, ValidationError } from "../../db/errors.ts";
import { AgentConfigWriteSchema, describeIssues } from "../../db/schemas.ts";
import { createTestDatabase, startRun, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { AgentConfigValidationPlugin } from "../graphql/agent-config-validation.ts";
import { bearer, createTestKey, serveGraphql } from "./helpers.ts";

type Case = { name: string; config: unknown } & ({ ok: true } | { ok: false; field: string });

const http = (extra: Record<string, unknown> = {}) => ({ name: "notify", type: "http", url: "http://127.0.0.1:9/notify", ...extra });

const CASES: Case[] = [
  // accepted
  { name: "minimal scripted", config: { provider: "scripted" }, ok: true },
  {
    name: "scripted with every common setting",
    config: {
      provider: "scripted",
      system_prompt: "You are helpful.",
      tools: [
        "echo",
        "sleep",
        "wait_for_event",
        "simulate_work",
        http({ headers: { authorization: { secret: "x" }, "x-trace": "t" }, requires_approval: true, timeout_ms: 1000 }),
      ],
      max_steps: 10,
      llm_timeout_ms: 5000,
      retry: { max_attempts: 3, initial_delay_ms: 10, max_delay_ms: 100, multiplier: 1.5 },
      temperature: 0.5,
      max_tokens: 100,
      prices: { input_per_million: 0, output_per_million: 2.5 },
      script: [{ text: "done" }],
    },
    ok: true,
  },
  { name: "a built-in with overrides", config: { provider: "scripted", tools: [{ name: "echo", description: "repeats" }] }, ok: true },
  {
    name: "openai with its settings",
    config: {
      provider: "openai",
      model: "o4-mini",
      api: "chat_completions",
      base_url: "http://127.0.0.1:9/v1",
      api_key_env: "EVERRUNS_NO_SUCH_KEY",
      reasoning_effort: "low",
    },
    ok: true,
  },
  {
    name: "anthropic with thinking",
    config: { provider: "anthropic", model: "claude-sonnet-4", thinking_budget_tokens: 2048, api_key_env: "EVERRUNS_NO_SUCH_KEY" },
    ok: true,
  },

  // rejected
  { name: "tool headers not an object", config: { provider: "scripted", tools: [http({ headers: "x" })] }, ok: false, field: "tools[0].headers" },
  { name: "tool header value not a string", config: { provider: "scripted", tools: [http({ headers: { a: 1 } })] }, ok: false, field: "tools[0].headers" },
  {
    name: "a literal value for a sensitive header (use a secret)",
    config: { provider: "scripted", tools: [http({ headers: { "X-Api-Key": "k-123" } })] },
    ok: false,
    field: "tools[0].headers.X-Api-Key",
  },
  {
    name: "a secret reference for a sensitive header",
    config: { provider: "scripted", tools: [http({ headers: { "X-Api-Key": { secret: "partner-key" } } })] },
    ok: true,
  },
  { name: "non-integer retry.max_attempts", config: { provider: "scripted", retry: { max_attempts: 2.5 } }, ok: false, field: "retry.max_attempts" },
  {
    name: "non-integer retry.initial_delay_ms",
    config: { provider: "scripted", retry: { initial_delay_ms: 10.5 } },
    ok: false,
    field: "retry.initial_delay_ms",
  },
  {
    name: "negative prices",
    config: { provider: "scripted", prices: { input_per_million: -1, output_per_million: 1 } },
    ok: false,
    field: "prices.input_per_million",
  },
  { name: "malformed base_url", config: { provider: "openai", model: "gpt-4.1", base_url: "not a url" }, ok: false, field: "base_url" },
  { name: "base_url not http", config: { provider: "openai", model: "gpt-4.1", base_url: "ftp://example.com" }, ok: false, field: "base_url" },
  { name: "unknown provider", config: { provider: "llama" }, ok: false, field: "provider" },
  { name: "unknown tool name", config: { provider: "scripted", tools: ["echo", "teleport"] }, ok: false, field: "tools[1]" },
  { name: "duplicate tool names", config: { provider: "scripted", tools: ["echo", { name: "echo" }] }, ok: false, field: "tools[1].name" },
  { name: "unknown top-level key", config: { provider: "scripted", max_step: 3 }, ok: false, field: "max_step" },
  { name: "unknown retry key", config: { provider: "scripted", retry: { tries: 3 } }, ok: false, field: "retry.tries" },
  { name: "a setting of another provider", config: { provider: "anthropic", model: "claude", api: "responses" }, ok: false, field: "api" },
  { name: "missing model", config: { provider: "openai" }, ok: false, field: "model" },
  { name: "http tool without url", config: { provider: "scripted", tools: [{ name: "notify", type: "http" }] }, ok: false, field: "tools[0].url" },
  { name: "max_steps not an integer", config: { provider: "scripted", max_steps: 2.5 }, ok: false, field: "max_steps" },
  { name: "script turn not an object", config: { provider: "scripted", script: ["hi"] }, ok: false, field: "script[0]" },
];

type Verdict = { ok: true } | { ok: false; message: string; how: string };

let db: TestDatabase;
let worker: WorkerHandle;
let graphqlApi: { url: string; close(): Promise<void> };
/** An admin key of the default workspace: writing agents is an admin's. */
let admin: Record<string, string>;
let counter = 0;
const log = consoleLogger("[test]", "error");
const uniqueName = () => `cfg-${process.pid}-${++counter}`;

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 1000, log });
  graphqlApi = await serveGraphql(db.pool, log, [AgentConfigValidationPlugin]);
  admin = bearer(await createTestKey(db.url, { role: "admin" }));
});

afterAll(async () => {
  await graphqlApi?.close();
  await worker?.stop();
  await db?.drop();
});

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

/** What the createAgent and updateAgentById mutations below select. */
interface AgentMutationData {
  createAgent?: { agent: { id: string } | null } | null;
  updateAgentById?: { agent: { id: string } | null } | null;
}

async function graphql(query: string, variables: Record<string, unknown>): Promise<GraphQLResponse<AgentMutationData>> {
  const res = await fetch(graphqlApi.url, {
    method: "POST",
    headers: { "content-type": "application/json", ...admin },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as GraphQLResponse<AgentMutationData>;
}

/** SQL: rejected at insert (EV001), or the run fails with invalid_agent_config, or accepted. */
async function viaSql(config: unknown): Promise<Verdict> {
  let agentId: string;
  try {
    const { rows } = await db.pool.query<{ id: string }>("insert into everruns.agents (name, config) values ($1, $2) returning id", [
      uniqueName(),
      JSON.stringify(config),
    ]);
    agentId = rows[0]!.id;
  } catch (error) {
    const mapped = fromDatabaseError(error);
    if (mapped instanceof ValidationError && mapped.code === "invalid_agent_config") return { ok: false, message: mapped.message, how: "rejected at insert" };
    throw error;
  }
  const run = await waitForStatus(db.pool, await startRun(db.pool, agentId), ["succeeded", "failed", "cancelled", "interrupted", "waiting"], 30_000);
  if (run.status === "failed" && run.error?.code === "invalid_agent_config") return { ok: false, message: run.error.message ?? "", how: "run failed" };
  return { ok: true };
}

async function viaApi(config: unknown): Promise<Verdict> {
  const name = uniqueName();
  const result = await graphql("mutation ($name: String!, $config: JSON!) { createAgent(input: {agent: {name: $name, config: $config}}) { agent { id } } }", {
    name,
    config,
  });
  if (result.errors?.length) {
    expect(result.errors[0]!.extensions?.code).toBe("invalid_agent_config");
    const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.agents where name = $1", [name]);
    expect(rows[0]!.n, "a rejected createAgent wrote nothing").toBe(0);
    return { ok: false, message: result.errors[0]!.message, how: "GraphQL error" };
  }
  expect(result.data?.createAgent?.agent?.id).toBeTypeOf("string");
  return { ok: true };
}

describe("agent config: the same verdict through SQL and the API", () => {
  for (const c of CASES) {
    it(`${c.ok ? "accepts" : "rejects"} ${c.name}`, async () => {
      const parsed = AgentConfigWriteSchema.safeParse(c.config);
      expect(parsed.success, parsed.success ? "" : describeIssues(parsed.error)).toBe(c.ok);
      const [sql, api] = await Promise.all([viaSql(c.config), viaApi(c.config)]);
      if (c.ok) {
        expect(sql).toEqual({ ok: true });
        expect(api).toEqual({ ok: true });
        return;
      }
      for (const verdict of [sql, api]) {
        expect(verdict.ok, `${c.name}: expected a rejection`).toBe(false);
        if (!verdict.ok) expect(verdict.message, `${verdict.how}: ${verdict.message}`).toContain(c.field);
      }
    });
  }
});

describe("agent config: updates through the API", () => {
  it("rejects an invalid config in updateAgentById, naming the field, and leaves the agent as it was", async () => {
    const created = await graphql('mutation ($name: String!) { createAgent(input: {agent: {name: $name, config: {provider: "scripted"}}}) { agent { id } } }', {
      name: uniqueName(),
    });
    const id = created.data!.createAgent!.agent!.id;
    const bad = await graphql("mutation ($id: UUID!, $config: JSON) { updateAgentById(input: {id: $id, agentPatch: {config: $config}}) { agent { id } } }", {
      id,
      config: { provider: "scripted", tools: [http({ headers: [1] })] },
    });
    expect(bad.errors?.[0]?.extensions?.code).toBe("invalid_agent_config");
    expect(bad.errors?.[0]?.message).toContain("tools[0].headers");
    const { rows } = await db.pool.query<{ version: number; config: unknown }>("select version, config from everruns.agents where id = $1", [id]);
    expect(rows[0]!.config).toEqual({ provider: "scripted" });

    const renamed = await graphql("mutation ($id: UUID!, $name: String!) { updateAgentById(input: {id: $id, agentPatch: {name: $name}}) { agent { id } } }", {
      id,
      name: uniqueName(),
    });
    expect(renamed.errors).toBeUndefined();
    const good = await graphql("mutation ($id: UUID!, $config: JSON) { updateAgentById(input: {id: $id, agentPatch: {config: $config}}) { agent { id } } }", {
      id,
      config: { provider: "scripted", script: [{ text: "v2" }] },
    });
    expect(good.errors).toBeUndefined();
  });
});
