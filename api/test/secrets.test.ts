// Secrets end to end without their values ever coming back: setSecret / deleteSecret / secrets
// over GraphQL (SecretsPlugin on the API's preset, as an admin key: an operator's is refused)
// answer metadata only and no schema path reaches a ciphertext; agent configs hold references ({"secret": "<name>"}, api_key_secret),
// a literal sensitive header is refused naming the field; and in the worker an http tool sends
// the decrypted value to its server, a missing secret is a tool error the model sees, and a
// provider's api_key_secret is the key the (fake) LLM server receives.
import "../graphile-env.ts";
import { randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentConfigSchema, describeIssues, type AgentConfig } from "../../db/schemas.ts";
import { createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { SECRET_KEY_ENV } from "../../lib/secret-box.ts";
import type { Logger } from "../../lib/logger.ts";
import { AnthropicProvider } from "../../worker/providers/anthropic.ts";
import { OpenAIProvider } from "../../worker/providers/openai.ts";
import { ProviderError, type LlmRequest, type LlmStreamHandlers } from "../../worker/providers/types.ts";
import { SecretResolver, type WorkspaceSecrets } from "../../worker/secrets.ts";
import { agentTools } from "../../worker/tool-step.ts";
import { ToolError } from "../../worker/tools/types.ts";
import { FakeLlmServer } from "../../worker/test/fake-llm-server.ts";
import { AgentConfigValidationPlugin } from "../graphql/agent-config-validation.ts";
import { SecretsPlugin } from "../graphql/secrets.ts";
import { bearer, createTestKey, serveGraphql } from "./helpers.ts";

const WS = "00000000-0000-0000-0000-000000000001";
const KEY = randomBytes(32).toString("base64");
const VALUE = `sk-secret-${randomBytes(12).toString("hex")}-ABCD`;
const LLM_KEY = `sk-llm-${randomBytes(12).toString("hex")}`;

let db: TestDatabase;
let graphqlApi: { url: string; close(): Promise<void> };
/** An admin key of the default workspace (WS): secrets are an admin's. */
let admin: Record<string, string>;
let savedKey: string | undefined;
const logLines: string[] = [];
const log: Logger = {
  debug: (m) => logLines.push(m),
  info: (m) => logLines.push(m),
  warn: (m) => logLines.push(m),
  error: (m) => logLines.push(m),
};
/** Every GraphQL answer's raw text, to check no value is in any of them. */
const answers: string[] = [];

beforeAll(async () => {
  savedKey = process.env[SECRET_KEY_ENV];
  process.env[SECRET_KEY_ENV] = KEY;
  db = await createTestDatabase();
  graphqlApi = await serveGraphql(db.pool, log, [AgentConfigValidationPlugin, SecretsPlugin]);
  admin = bearer(await createTestKey(db.url, { role: "admin" }));
});

afterAll(async () => {
  if (savedKey === undefined) delete process.env[SECRET_KEY_ENV];
  else process.env[SECRET_KEY_ENV] = savedKey;
  await graphqlApi?.close();
  await db?.drop();
  for (const text of [...answers, ...logLines]) {
    expect(text).not.toContain(VALUE);
    expect(text).not.toContain(LLM_KEY);
  }
});

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

async function gql<T>(query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = admin): Promise<GraphQLResponse<T>> {
  const res = await fetch(graphqlApi.url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  answers.push(text);
  return JSON.parse(text) as GraphQLResponse<T>;
}

interface Meta {
  name: string;
  last4: string | null;
  createdAt: string;
  rotatedAt: string;
}

const SET = "mutation ($name: String!, $value: String!) { setSecret(name: $name, value: $value) { name last4 createdAt rotatedAt } }";

describe("secrets over GraphQL", () => {
  it("setSecret answers the name, last 4 characters and times, never the value; secrets lists metadata; deleteSecret deletes", async () => {
    const set = await gql<{ setSecret: Meta }>(SET, { name: "gql-key", value: VALUE });
    expect(set.errors).toBeUndefined();
    expect(set.data!.setSecret).toEqual({ name: "gql-key", last4: "ABCD", createdAt: expect.any(String) as string, rotatedAt: expect.any(String) as string });
    const again = await gql<{ setSecret: Meta }>(SET, { name: "gql-key", value: `${VALUE}-2` });
    expect(again.data!.setSecret.createdAt).toBe(set.data!.setSecret.createdAt);
    expect(again.data!.setSecret.last4).toBe("CD-2");

    const listed = await gql<{ secrets: Meta[] }>("{ secrets { name last4 createdAt rotatedAt } }");
    expect(listed.data!.secrets).toContainEqual(again.data!.setSecret);

    const deleted = await gql<{ deleteSecret: { name: string; deleted: boolean } }>('mutation { deleteSecret(name: "gql-key") { name deleted } }');
    expect(deleted.data!.deleteSecret).toEqual({ name: "gql-key", deleted: true });
    const listedAfter = await gql<{ secrets: Meta[] }>("{ secrets { name } }");
    expect(listedAfter.data!.secrets.map((s) => s.name)).not.toContain("gql-key");
  });

  it("are an admin's: an operator's key may neither set nor delete one", async () => {
    await gql(SET, { name: "admins-only", value: VALUE });
    const operator = bearer(await createTestKey(db.url, { role: "operator" }));
    const set = await gql<{ setSecret: Meta }>(SET, { name: "admins-only", value: `${VALUE}-op` }, operator);
    expect(set.errors?.[0]).toMatchObject({ message: expect.stringMatching(/needs an API key with role admin/) as unknown, extensions: { code: "forbidden" } });
    const deleted = await gql('mutation { deleteSecret(name: "admins-only") { deleted } }', {}, operator);
    expect(deleted.errors?.[0]?.extensions?.code).toBe("forbidden");
    const listed = await gql<{ secrets: Meta[] }>("{ secrets { name last4 } }");
    expect(listed.data!.secrets).toContainEqual({ name: "admins-only", last4: "ABCD" });
  });

  it("rejects a bad name, naming the rule, and writes nothing", async () => {
    const bad = await gql<{ setSecret: Meta }>(SET, { name: "no spaces please", value: VALUE });
    expect(bad.errors?.[0]?.message).toMatch(/1-100 letters/);
    expect(bad.errors?.[0]?.extensions?.code).toBe("invalid_secret");
  });

  it("without EVERRUNS_SECRET_KEY on the API, setSecret says what is missing", async () => {
    delete process.env[SECRET_KEY_ENV];
    try {
      const res = await gql<{ setSecret: Meta }>(SET, { name: "nokey", value: VALUE });
      expect(res.errors?.[0]?.message).toMatch(/EVERRUNS_SECRET_KEY is not set/);
      expect(res.errors?.[0]?.extensions?.code).toBe("invalid_config");
    } finally {
      process.env[SECRET_KEY_ENV] = KEY;
    }
  });

  it("no type of the schema exposes a ciphertext, and the secrets table has no query of its own", async () => {
    await gql(SET, { name: "introspected", value: VALUE });
    const res = await gql<{
      __schema: { types: Array<{ name: string; fields: Array<{ name: string }> | null }>; queryType: { fields: Array<{ name: string }> } };
    }>("{ __schema { queryType { fields { name } } types { name fields { name } } } }");
    const types = res.data!.__schema.types;
    const fields = types.flatMap((t) => (t.fields ?? []).map((f) => `${t.name}.${f.name}`));
    expect(fields.filter((f) => /ciphertext/i.test(f))).toEqual([]);
    expect(types.map((t) => t.name)).not.toContain("Secret");
    const queries = res.data!.__schema.queryType.fields.map((f) => f.name);
    expect(queries).toContain("secrets");
    expect(queries.filter((q) => /secret/i.test(q))).toEqual(["secrets"]);
    expect(fields.filter((f) => f.startsWith("SecretMetadata."))).toEqual([
      "SecretMetadata.name",
      "SecretMetadata.last4",
      "SecretMetadata.createdAt",
      "SecretMetadata.rotatedAt",
    ]);
    // and the workspace, the one table related to it, leads nowhere near it
    expect(fields.filter((f) => f.startsWith("Workspace.") && /secret/i.test(f))).toEqual([]);
  });
});

describe("agent configs reference secrets", () => {
  const hook = (headers: Record<string, unknown>) => ({
    provider: "scripted",
    tools: [{ name: "hook", type: "http", url: "http://127.0.0.1:9/hook", headers }],
  });

  it("a literal value of a sensitive header is refused at agent creation, naming the field; a reference is accepted", async () => {
    for (const header of ["X-Api-Key", "Authorization", "cookie", "X-Auth-Token", "my-password", "Client-Secret"]) {
      const parsed = AgentConfigSchema.safeParse(hook({ [header]: "literal" }));
      expect(parsed.success, header).toBe(false);
      if (!parsed.success) expect(describeIssues(parsed.error)).toContain(`tools[0].headers.${header}: is a sensitive header`);
    }
    const created = await gql<{ createAgent: { agent: { id: string } } }>(
      "mutation ($name: String!, $config: JSON!) { createAgent(input: {agent: {name: $name, config: $config}}) { agent { id } } }",
      { name: "literal-key", config: hook({ "X-Api-Key": VALUE }) },
    );
    expect(created.errors?.[0]?.extensions?.code).toBe("invalid_agent_config");
    expect(created.errors?.[0]?.message).toContain("tools[0].headers.X-Api-Key");
    expect(created.errors?.[0]?.message).toContain('{"secret": "<name>"}');

    const ok = await gql<{ createAgent: { agent: { id: string; config: unknown } } }>(
      "mutation ($name: String!, $config: JSON!) { createAgent(input: {agent: {name: $name, config: $config}}) { agent { id config } } }",
      { name: "referenced-key", config: hook({ "X-Api-Key": { secret: "k" }, "X-Trace": "plain" }) },
    );
    expect(ok.errors).toBeUndefined();
    expect(ok.data!.createAgent.agent.config).toMatchObject({ tools: [{ headers: { "X-Api-Key": { secret: "k" }, "X-Trace": "plain" } }] });
    // a reference must be exactly {"secret": "<name>"}
    expect(AgentConfigSchema.safeParse(hook({ "X-Api-Key": { secret: "bad name" } })).success).toBe(false);
    expect(AgentConfigSchema.safeParse(hook({ "X-Api-Key": { secret: "k", value: "x" } })).success).toBe(false);
    expect(AgentConfigSchema.safeParse({ provider: "openai", model: "m", api_key_secret: "openai.key" }).success).toBe(true);
    expect(AgentConfigSchema.safeParse({ provider: "anthropic", model: "m", api_key_secret: "bad/name" }).success).toBe(false);
  });
});

describe("the worker resolves references at step time", () => {
  let hookServer: Server;
  let hookUrl: string;
  const received: IncomingHttpHeaders[] = [];
  let echo = false;
  let secrets: WorkspaceSecrets;

  beforeAll(async () => {
    hookServer = createServer((req, res) => {
      received.push(req.headers);
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(echo ? { youSent: req.headers["x-api-key"] } : { ok: true }));
    });
    await new Promise<void>((resolve) => hookServer.listen(0, "127.0.0.1", resolve));
    hookUrl = `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook`;
    await gql(SET, { name: "k", value: VALUE });
    secrets = new SecretResolver({ db: db.pool, key: Buffer.from(KEY, "base64"), ttlMs: 0 }).forWorkspace(WS);
  });
  afterAll(async () => {
    await new Promise((resolve) => hookServer?.close(resolve));
  });

  const ctx = () => ({ runId: "r", toolCallId: "c", idempotencyKey: "r:c", signal: new AbortController().signal, resumed: false, signals: [] });
  const tool = (headers: Record<string, unknown>) => {
    const config = AgentConfigSchema.parse({ provider: "scripted", tools: [{ name: "hook", type: "http", url: hookUrl, headers }] });
    return agentTools(config, {}, secrets).get("hook")!.tool;
  };

  it('an http tool with headers {"X-Api-Key": {"secret": "k"}} sends the decrypted value; an echo of it is redacted', async () => {
    expect(await tool({ "X-Api-Key": { secret: "k" }, "X-Trace": "t1" }).execute({ a: 1 }, ctx())).toEqual({ ok: true });
    expect(received.at(-1)!["x-api-key"]).toBe(VALUE);
    expect(received.at(-1)!["x-trace"]).toBe("t1");
    echo = true;
    try {
      expect(await tool({ "X-Api-Key": { secret: "k" } }).execute({}, ctx())).toEqual({ youSent: "[secret k]" });
    } finally {
      echo = false;
    }
  });

  it("a missing secret is a tool error the model sees, naming it", async () => {
    const before = received.length;
    const error = await tool({ "X-Api-Key": { secret: "nope" } })
      .execute({}, ctx())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ToolError);
    expect((error as Error).message).toContain('secret "nope" is not set in this workspace');
    expect(received.length, "nothing was sent").toBe(before);
  });

  describe("a provider's api_key_secret is its key", () => {
    let llm: FakeLlmServer;
    beforeAll(async () => {
      llm = await FakeLlmServer.start();
      await gql(SET, { name: "llm-key", value: LLM_KEY });
    });
    afterAll(async () => {
      await llm?.close();
    });
    const handlers: LlmStreamHandlers = { onTextDelta() {}, onReasoningDelta() {}, onToolCallStart() {}, onToolCallArgs() {} };
    const request = (config: AgentConfig, withSecrets: WorkspaceSecrets | null = secrets): LlmRequest => ({
      config,
      messages: [{ role: "user", content: "Hi" }],
      tools: [],
      callIndex: 0,
      attempt: 1,
      signal: new AbortController().signal,
      secrets: withSecrets ?? undefined,
    });

    it("OpenAI and Anthropic send the secret's value, over an env key the agent also names", async () => {
      for (const [provider, config] of [
        [
          new OpenAIProvider(),
          {
            provider: "openai",
            model: "gpt-test",
            api: "chat_completions",
            base_url: llm.openaiBaseURL,
            api_key_env: "EVERRUNS_TEST_UNSET_KEY",
            api_key_secret: "llm-key",
          },
        ],
        [new AnthropicProvider(), { provider: "anthropic", model: "claude-test", base_url: llm.anthropicBaseURL, api_key_secret: "llm-key" }],
      ] as const) {
        llm.reply({ text: "hello" });
        const result = await provider.complete(request(AgentConfigSchema.parse(config)), handlers);
        expect(result.text).toBe("hello");
        expect(llm.requests.at(-1)!.apiKey).toBe(LLM_KEY);
      }
    });

    it("a missing secret fails the call at once, not retryable, naming the secret", async () => {
      const before = llm.requests.length;
      const config = AgentConfigSchema.parse({ provider: "openai", model: "gpt-test", base_url: llm.openaiBaseURL, api_key_secret: "no-such-llm-key" });
      const error = await new OpenAIProvider().complete(request(config), handlers).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProviderError);
      expect((error as ProviderError).retryable).toBe(false);
      expect((error as ProviderError).code).toBe("missing_secret");
      expect((error as Error).message).toContain('secret "no-such-llm-key", which is not set in this workspace');
      const noResolver = await new OpenAIProvider().complete(request(config, null), handlers).catch((e: unknown) => e);
      expect((noResolver as ProviderError).code).toBe("secret_unreadable");
      expect(llm.requests.length, "nothing was sent").toBe(before);
    });
  });
});
