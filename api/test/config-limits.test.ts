// Agent configs are bounded (issue "Hostile input and resource limits"): at most
// MAX_AGENT_CONFIG_BYTES of JSON text, MAX_AGENT_TOOLS tools and MAX_SCRIPT_TURNS script turns.
// The API (GraphQL createAgent/updateAgentById, the zod schema) refuses each naming the limit;
// a plain SQL insert or update of everruns.agents is refused over the size (EV001, migration
// 000010), measured the same way.
import "../graphile-env.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromDatabaseError, ValidationError } from "../../db/errors.ts";
import { AgentConfigSchema, jsonTextBytes, MAX_AGENT_CONFIG_BYTES, MAX_AGENT_TOOLS } from "../../db/schemas.ts";
import { createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { MAX_SCRIPT_TURNS } from "../../worker/providers/scripted.config.ts";
import { startTestApi, type TestApiHandle } from "./helpers.ts";

let db: TestDatabase;
let api: TestApiHandle;
let counter = 0;
const uniqueName = () => `limits_${process.pid}_${++counter}`;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db.url);
}, 60_000);

afterAll(async () => {
  await api?.close();
  await db?.drop();
});

interface GraphQLResponse {
  data?: { createAgent?: { agent?: { id: string } | null } | null; updateAgentById?: { agent?: { id: string } | null } | null } | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

async function graphql(query: string, variables: Record<string, unknown>): Promise<GraphQLResponse> {
  const res = await fetch(`${api.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...api.headers },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as GraphQLResponse;
}

const CREATE = "mutation ($name: String!, $config: JSON!) { createAgent(input: {agent: {name: $name, config: $config}}) { agent { id } } }";
const UPDATE = "mutation ($id: UUID!, $config: JSON) { updateAgentById(input: {id: $id, agentPatch: {config: $config}}) { agent { id } } }";

/** A scripted config of exactly `bytes` bytes of JSON text as Postgres writes it. */
function configOfSize(bytes: number): Record<string, unknown> {
  const base = { provider: "scripted", system_prompt: "" };
  const config = { ...base, system_prompt: "x".repeat(bytes - jsonTextBytes(base)) };
  expect(jsonTextBytes(config)).toBe(bytes);
  return config;
}

async function sqlError(query: string, params: unknown[]): Promise<ValidationError> {
  const error = await db.pool.query(query, params).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, "the statement was refused").toBeDefined();
  expect((error as { code?: string }).code).toBe("EV001");
  const mapped = fromDatabaseError(error);
  expect(mapped).toBeInstanceOf(ValidationError);
  expect((mapped as ValidationError).code).toBe("invalid_agent_config");
  return mapped as ValidationError;
}

async function agentCount(name: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.agents where name = $1", [name]);
  return rows[0]!.n;
}

describe("agent config size", () => {
  it("SQL measures a config as zod does: one byte over the limit is refused, the limit itself accepted", async () => {
    const { rows } = await db.pool.query<{ bytes: number; max: number }>(
      "select octet_length($1::jsonb::text) as bytes, everruns_private.max_agent_config_bytes() as max",
      [JSON.stringify(configOfSize(MAX_AGENT_CONFIG_BYTES))],
    );
    expect(rows[0]).toEqual({ bytes: MAX_AGENT_CONFIG_BYTES, max: MAX_AGENT_CONFIG_BYTES });
    const tricky = {
      provider: "scripted",
      system_prompt: 'é "q" \n\t\u0001',
      tools: ["echo", { name: "sleep", description: "z" }],
      script: [{ text: "a" }, {}],
    };
    const { rows: same } = await db.pool.query<{ bytes: number }>("select octet_length($1::jsonb::text) as bytes", [JSON.stringify(tricky)]);
    expect(same[0]!.bytes).toBe(jsonTextBytes(tricky));

    expect(AgentConfigSchema.safeParse(configOfSize(MAX_AGENT_CONFIG_BYTES)).success).toBe(true);
    expect(AgentConfigSchema.safeParse(configOfSize(MAX_AGENT_CONFIG_BYTES + 1)).success).toBe(false);
  });

  it("GraphQL createAgent refuses an oversized config naming the limit, and writes nothing", async () => {
    const name = uniqueName();
    const result = await graphql(CREATE, { name, config: configOfSize(MAX_AGENT_CONFIG_BYTES + 1) });
    expect(result.errors?.[0]?.extensions?.code).toBe("invalid_agent_config");
    expect(result.errors?.[0]?.message).toContain(`the config is ${MAX_AGENT_CONFIG_BYTES + 1} bytes of JSON text`);
    expect(result.errors?.[0]?.message).toContain(`at most ${MAX_AGENT_CONFIG_BYTES} (MAX_AGENT_CONFIG_BYTES)`);
    expect(await agentCount(name)).toBe(0);

    // a larger one too (far larger bodies are refused by the API's body limit before GraphQL)
    const started = Date.now();
    const huge = await graphql(CREATE, { name, config: { provider: "scripted", system_prompt: "y".repeat(600_000) } });
    expect(huge.errors?.[0]?.message).toContain("MAX_AGENT_CONFIG_BYTES");
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await agentCount(name)).toBe(0);

    const ok = await graphql(CREATE, { name, config: configOfSize(MAX_AGENT_CONFIG_BYTES) });
    expect(ok.errors).toBeUndefined();
    expect(ok.data?.createAgent?.agent?.id).toBeTypeOf("string");
  });

  it("GraphQL updateAgentById refuses an oversized config and leaves the agent as it was", async () => {
    const created = await graphql(CREATE, { name: uniqueName(), config: { provider: "scripted" } });
    const id = created.data!.createAgent!.agent!.id;
    const bad = await graphql(UPDATE, { id, config: configOfSize(MAX_AGENT_CONFIG_BYTES + 10) });
    expect(bad.errors?.[0]?.extensions?.code).toBe("invalid_agent_config");
    expect(bad.errors?.[0]?.message).toContain("MAX_AGENT_CONFIG_BYTES");
    const { rows } = await db.pool.query<{ version: number; config: unknown }>("select version, config from everruns.agents where id = $1", [id]);
    expect(rows[0]).toEqual({ version: 1, config: { provider: "scripted" } });
  });

  it("a plain SQL insert or update of an oversized config is refused with EV001 naming the limit", async () => {
    const name = uniqueName();
    const inserted = await sqlError("insert into everruns.agents (name, config) values ($1, $2)", [
      name,
      JSON.stringify(configOfSize(MAX_AGENT_CONFIG_BYTES + 1)),
    ]);
    expect(inserted.message).toContain(
      `invalid agent config: it is ${MAX_AGENT_CONFIG_BYTES + 1} bytes of JSON text; the limit is ${MAX_AGENT_CONFIG_BYTES} (max_agent_config_bytes)`,
    );
    expect(inserted.message).toContain("fetch documents with a tool"); // the hint
    expect(await agentCount(name)).toBe(0);

    await db.pool.query("insert into everruns.agents (name, config) values ($1, $2)", [name, JSON.stringify(configOfSize(MAX_AGENT_CONFIG_BYTES))]);
    const updated = await sqlError("update everruns.agents set config = $2 where name = $1", [name, JSON.stringify(configOfSize(MAX_AGENT_CONFIG_BYTES + 2))]);
    expect(updated.message).toContain("max_agent_config_bytes");
    const { rows } = await db.pool.query<{ version: number; n: number }>(
      "select a.version, (select count(*)::int from everruns.agent_versions v where v.agent_id = a.id) as n from everruns.agents a where a.name = $1",
      [name],
    );
    expect(rows[0]).toEqual({ version: 1, n: 1 });
  });

  it("an agent whose config is over the limit already (written before 000010) can still be renamed", async () => {
    const name = uniqueName();
    const client = await db.pool.connect();
    try {
      await client.query("begin");
      await client.query("alter table everruns.agents disable trigger tg_agents__version");
      await client.query("insert into everruns.agents (name, config) values ($1, $2)", [name, JSON.stringify(configOfSize(MAX_AGENT_CONFIG_BYTES + 100))]);
      await client.query("alter table everruns.agents enable trigger tg_agents__version");
      await client.query("commit");
    } catch (error) {
      await client.query("rollback");
      throw error;
    } finally {
      client.release();
    }
    const renamed = uniqueName();
    await db.pool.query("update everruns.agents set name = $2 where name = $1", [name, renamed]);
    expect(await agentCount(renamed)).toBe(1);
  });
});

describe("agent config counts", () => {
  const http = (i: number) => ({ name: `t${i}`, type: "http", url: `http://127.0.0.1:9/t${i}` });

  it(`refuses more than ${MAX_AGENT_TOOLS} tools, naming the limit`, async () => {
    const ok = await graphql(CREATE, {
      name: uniqueName(),
      config: { provider: "scripted", tools: Array.from({ length: MAX_AGENT_TOOLS }, (_, i) => http(i)) },
    });
    expect(ok.errors).toBeUndefined();
    const name = uniqueName();
    const bad = await graphql(CREATE, { name, config: { provider: "scripted", tools: Array.from({ length: MAX_AGENT_TOOLS + 1 }, (_, i) => http(i)) } });
    expect(bad.errors?.[0]?.extensions?.code).toBe("invalid_agent_config");
    expect(bad.errors?.[0]?.message).toContain(`tools: has ${MAX_AGENT_TOOLS + 1} tools; an agent may declare at most ${MAX_AGENT_TOOLS} (MAX_AGENT_TOOLS)`);
    expect(await agentCount(name)).toBe(0);
  });

  it(`refuses a script of more than ${MAX_SCRIPT_TURNS} turns, naming the limit`, async () => {
    const ok = await graphql(CREATE, {
      name: uniqueName(),
      config: { provider: "scripted", script: Array.from({ length: MAX_SCRIPT_TURNS }, () => ({ text: "x" })) },
    });
    expect(ok.errors).toBeUndefined();
    const name = uniqueName();
    const bad = await graphql(CREATE, { name, config: { provider: "scripted", script: Array.from({ length: MAX_SCRIPT_TURNS + 1 }, () => ({ text: "x" })) } });
    expect(bad.errors?.[0]?.extensions?.code).toBe("invalid_agent_config");
    expect(bad.errors?.[0]?.message).toContain(`script: has ${MAX_SCRIPT_TURNS + 1} turns; a script may have at most ${MAX_SCRIPT_TURNS} (MAX_SCRIPT_TURNS)`);
    expect(await agentCount(name)).toBe(0);
  });
});
