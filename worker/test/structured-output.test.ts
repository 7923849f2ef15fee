// Structured output (config.output_schema) end to end against a real Postgres and a real worker:
// the config check, the request each real SDK sends (OpenAI Responses and Chat Completions
// json_schema formats, Anthropic's output tool) against the fake server, the scripted provider's
// JSON answers, and the engine's validation with its one durable correction.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { threadHistory } from "../../db/sql/threadHistory.ts";
import { AgentConfigSchema, describeIssues, MAX_OUTPUT_SCHEMA_BYTES } from "../../db/schemas.ts";
import { createAgent, createTestDatabase, getEvents, getSteps, llmOutput, startRun, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { agUiMessages, chatMessages, outputCorrection } from "../conversation.ts";
import { startWorker, type WorkerHandle } from "../main.ts";
import { ANTHROPIC_OUTPUT_TOOL, AnthropicProvider, anthropicOutputToolChoice } from "../providers/anthropic.ts";
import { minimalValue } from "../providers/scripted.ts";
import { checkOutput } from "../steps.ts";
import { outputProblems } from "../tools/validate.ts";
import { FakeLlmServer } from "./fake-llm-server.ts";

const SCHEMA = {
  type: "object",
  properties: {
    label: { type: "string", enum: ["spam", "ham"] },
    score: { type: "number", minimum: 0, maximum: 1 },
  },
  required: ["label", "score"],
  additionalProperties: false,
};
const fast = { max_attempts: 3, initial_delay_ms: 10, max_delay_ms: 50, multiplier: 2 };

let db: TestDatabase;
let worker: WorkerHandle;
let llm: FakeLlmServer;

beforeAll(async () => {
  db = await createTestDatabase();
  llm = await FakeLlmServer.start();
  process.env.EVERRUNS_TEST_OPENAI_KEY = "test-key";
  process.env.EVERRUNS_TEST_ANTHROPIC_KEY = "test-key";
  worker = await startWorker({ databaseUrl: db.url, concurrency: 2, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "warn") });
});

afterAll(async () => {
  await worker?.stop();
  await llm?.close();
  await db?.drop();
});

interface FinishedRun {
  status: string;
  output: { text?: string; json?: unknown } | null;
  error: { code?: string; message?: string } | null;
}

async function finish(runId: string): Promise<FinishedRun> {
  return waitForStatus(db.pool, runId, ["succeeded", "failed"]);
}

function configIssues(config: Record<string, unknown>): string | null {
  const parsed = AgentConfigSchema.safeParse(config);
  return parsed.success ? null : describeIssues(parsed.error);
}

describe("agent config: output_schema", () => {
  it("accepts an object schema and refuses a bad one, naming the field", () => {
    expect(configIssues({ provider: "scripted", output_schema: SCHEMA })).toBeNull();
    expect(configIssues({ provider: "scripted", output_schema: "label" })).toMatch(/^output_schema: must be a JSON Schema object/);
    expect(configIssues({ provider: "scripted", output_schema: { type: "array", items: {} } })).toMatch(
      /^output_schema: must have "type": "object" at its root/,
    );
    expect(configIssues({ provider: "scripted", output_schema: { type: "object", properties: { a: { type: "strng" } } } })).toMatch(
      /^output_schema: is not a usable JSON Schema: schema is invalid: data\/properties\/a\/type/,
    );
    expect(configIssues({ provider: "scripted", output_schema: { type: "object", properties: { a: { $ref: "#/$defs/nowhere" } } } })).toMatch(
      /^output_schema: is not a usable JSON Schema: .*resolve reference/,
    );
    const huge = { type: "object", description: "x".repeat(MAX_OUTPUT_SCHEMA_BYTES) };
    expect(configIssues({ provider: "scripted", output_schema: huge })).toMatch(/^output_schema: is \d+ bytes of JSON text; .*MAX_OUTPUT_SCHEMA_BYTES/);
  });

  it("fails a run of an agent whose output_schema SQL let through with invalid_agent_config naming the field", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", output_schema: { type: "object", required: "label" } });
    const run = await finish(await startRun(db.pool, agent));
    expect(run.status).toBe("failed");
    expect(run.error?.code).toBe("invalid_agent_config");
    expect(run.error?.message).toMatch(/output_schema: is not a usable JSON Schema/);
  });
});

describe("checking an answer", () => {
  it("parses JSON (a ```json fence forgiven) and reports what does not match", () => {
    expect(checkOutput(SCHEMA, ' {"label": "ham", "score": 0.5}\n')).toEqual({ json: { label: "ham", score: 0.5 } });
    expect(checkOutput(SCHEMA, '```json\n{"label": "ham", "score": 1}\n```')).toEqual({ json: { label: "ham", score: 1 } });
    expect(checkOutput(SCHEMA, "It is spam.")).toEqual({ errors: expect.stringMatching(/^the answer is not valid JSON \(/) as unknown });
    expect(checkOutput(SCHEMA, "")).toEqual({ errors: "the answer is not valid JSON (it is empty)" });
    const bad = checkOutput(SCHEMA, '{"label": "eggs", "extra": 1}');
    expect(bad).toEqual({ errors: expect.any(String) as unknown });
    const errors = (bad as { errors: string }).errors;
    expect(errors).toContain('/label must be equal to one of the allowed values: ["spam","ham"]');
    expect(errors).toContain("must have required property 'score'");
    expect(errors).toContain('must NOT have additional properties ("extra")');
  });

  it("the scripted provider's minimal value matches its schema", () => {
    expect(minimalValue(SCHEMA, SCHEMA)).toEqual({ label: "spam", score: 0 });
    const nested = {
      type: "object",
      $defs: { tag: { type: "string", minLength: 2 } },
      properties: {
        tags: { type: "array", items: { $ref: "#/$defs/tag" }, minItems: 2 },
        count: { type: "integer", exclusiveMinimum: 3 },
        ok: { type: "boolean" },
        kind: { anyOf: [{ const: "a" }, { type: "number" }] },
        maybe: { type: ["null", "string"] },
        meta: { allOf: [{ type: "object", required: ["x"], properties: { x: { type: "integer", maximum: -5 } } }, { required: ["y"] }] },
      },
      required: ["tags", "count", "ok", "kind", "maybe", "meta"],
    };
    const value = minimalValue(nested, nested);
    expect(value).toEqual({ tags: ["aa", "aa"], count: 4, ok: false, kind: "a", maybe: "", meta: { x: -5, y: null } });
    expect(outputProblems(nested, value)).toBeNull();
  });

  it("Anthropic: the output tool is forced without agent tools, any tool with them, auto with extended thinking", () => {
    expect(anthropicOutputToolChoice(false, false)).toEqual({ type: "tool", name: ANTHROPIC_OUTPUT_TOOL });
    expect(anthropicOutputToolChoice(false, true)).toEqual({ type: "any" });
    expect(anthropicOutputToolChoice(true, false)).toEqual({ type: "auto" });
    expect(anthropicOutputToolChoice(true, true)).toEqual({ type: "auto" });
  });
});

describe("scripted", () => {
  it("a json turn: the run's output.json is the answer and RUN_FINISHED carries it", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", output_schema: SCHEMA, script: [{ json: { label: "ham", score: 0.25 } }] });
    const runId = await startRun(db.pool, agent, "classify: hello mum");
    const run = await finish(runId);
    expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    expect(run.output).toEqual({ text: '{"label":"ham","score":0.25}', json: { label: "ham", score: 0.25 } });
    const events = await getEvents(db.pool, runId);
    expect(events.at(-1)).toMatchObject({
      type: "RUN_FINISHED",
      event: { result: { text: '{"label":"ham","score":0.25}', json: { label: "ham", score: 0.25 } } },
    });
    await assertValidAgUiLog(events);
  });

  it("past the end of its script, answers the schema's minimal value", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", output_schema: SCHEMA });
    const run = await finish(await startRun(db.pool, agent));
    expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    expect(run.output?.json).toEqual({ label: "spam", score: 0 });
  });

  it("an invalid answer is sent back once with its errors, in the committed conversation; the next valid one succeeds", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      output_schema: SCHEMA,
      script: [{ text: "Definitely spam!" }, { json: { label: "spam", score: 0.75 } }],
    });
    const runId = await startRun(db.pool, agent, "classify: WIN A PRIZE");
    const run = await finish(runId);
    expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    expect(run.output?.json).toEqual({ label: "spam", score: 0.75 });

    const steps = await getSteps(db.pool, runId);
    expect(steps.map((s) => [s.kind, s.status])).toEqual([
      ["llm", "succeeded"],
      ["llm", "succeeded"],
    ]);
    const first = llmOutput(steps[0]);
    expect(first.text).toBe("Definitely spam!");
    expect(first.output_errors).toMatch(/^the answer is not valid JSON/);
    expect(llmOutput(steps[1]).output_errors).toBeUndefined();

    // what a retried or resumed step would send the model: rebuilt from the committed steps
    const messages = chatMessages(await threadHistory(db.pool, runId));
    expect(messages.map((m) => [m.role, m.content])).toEqual([
      ["user", "classify: WIN A PRIZE"],
      ["assistant", "Definitely spam!"],
      ["user", outputCorrection(first.output_errors!)],
      ["assistant", '{"label":"spam","score":0.75}'],
    ]);
    expect(messages[2]!.content).toMatch(/^Your answer did not match the output schema: the answer is not valid JSON .*\. Answer again with JSON only\.$/);
    const snapshot = agUiMessages(await threadHistory(db.pool, runId));
    expect(snapshot.map((m) => m.role)).toEqual(["user", "assistant", "user", "assistant"]);

    const events = await getEvents(db.pool, runId);
    expect(events.filter((e) => e.type === "CUSTOM" && e.event.name === "everruns.output_invalid")).toHaveLength(1);
    expect(events.at(-1)!.type).toBe("RUN_FINISHED");
    await assertValidAgUiLog(events);
  });

  it("a second invalid answer fails the run with invalid_output, counted from the steps across a retried call", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      output_schema: SCHEMA,
      retry: fast,
      // the second call fails once before answering: its retry must still know a correction was made
      script: [{ text: "spam" }, { json: { label: "eggs", score: 2 }, error: "server_error", times: 1 }],
    });
    const runId = await startRun(db.pool, agent);
    const run = await finish(runId);
    expect(run.status).toBe("failed");
    expect(run.error?.code).toBe("invalid_output");
    expect(run.error?.message).toMatch(
      /did not match the agent's output_schema, after 1 correction\(s\): .*\/label must be equal to one of the allowed values/,
    );
    expect(run.error?.message).toMatch(/\/score must be <= 1/);

    const steps = await getSteps(db.pool, runId);
    expect(steps.map((s) => [s.kind, s.status, s.attempt])).toEqual([
      ["llm", "succeeded", 1],
      ["llm", "failed", 2],
    ]);
    expect(steps[1]!.error).toMatchObject({ code: "invalid_output" });
    const events = await getEvents(db.pool, runId);
    expect(events.at(-1)).toMatchObject({ type: "RUN_ERROR", event: { code: "invalid_output" } });
    await assertValidAgUiLog(events);
    const usage = await db.pool.query<{ output_tokens: number }>("select (usage ->> 'output_tokens')::int as output_tokens from everruns.runs where id = $1", [
      runId,
    ]);
    // the failed step's tokens count too
    const { rows: stepUsage } = await db.pool.query<{ output_tokens: number }>(
      "select coalesce((usage ->> 'output_tokens')::int, 0) as output_tokens from everruns.run_steps where run_id = $1 order by seq",
      [runId],
    );
    const stepTokens = stepUsage.map((r) => r.output_tokens);
    expect(stepTokens[1]).toBeGreaterThan(0);
    expect(usage.rows[0]!.output_tokens).toBe(stepTokens[0]! + stepTokens[1]!);
  });
});

describe("real SDKs against the fake server", () => {
  for (const api of ["responses", "chat_completions"] as const) {
    it(`openai (${api}): the request carries the schema as a strict json_schema format; a correction goes back as a user message`, async () => {
      llm.reset();
      llm.reply({ text: "It's spam." }, { text: '{"label":"spam","score":0.9}' });
      const agent = await createAgent(db.pool, {
        provider: "openai",
        model: "gpt-4o-mini",
        api,
        base_url: llm.openaiBaseURL,
        api_key_env: "EVERRUNS_TEST_OPENAI_KEY",
        output_schema: SCHEMA,
        retry: fast,
      });
      const runId = await startRun(db.pool, agent, "classify: WIN A PRIZE");
      const run = await finish(runId);
      expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
      expect(run.output).toEqual({ text: '{"label":"spam","score":0.9}', json: { label: "spam", score: 0.9 } });

      expect(llm.requests).toHaveLength(2);
      for (const request of llm.requests) {
        if (api === "responses") {
          expect(request.body.text).toEqual({ format: { type: "json_schema", name: "output", schema: SCHEMA, strict: true } });
        } else {
          expect(request.body.response_format).toEqual({ type: "json_schema", json_schema: { name: "output", schema: SCHEMA, strict: true } });
        }
      }
      const second = llm.requests[1]!.body;
      const sent = (api === "responses" ? second.input : second.messages) as Array<{ role?: string; content?: unknown }>;
      expect(sent.at(-2)).toMatchObject({ role: "assistant", content: "It's spam." });
      expect(sent.at(-1)).toMatchObject({ role: "user", content: expect.stringMatching(/^Your answer did not match the output schema: /) as unknown });
    });
  }

  it("anthropic: the schema is a forced output tool whose input becomes the answer, not a tool step", async () => {
    llm.reset();
    llm.reply({ toolCalls: [{ name: ANTHROPIC_OUTPUT_TOOL, arguments: { label: "ham", score: 0.1 } }] });
    const agent = await createAgent(db.pool, {
      provider: "anthropic",
      model: "claude-test",
      base_url: llm.anthropicBaseURL,
      api_key_env: "EVERRUNS_TEST_ANTHROPIC_KEY",
      output_schema: SCHEMA,
      retry: fast,
    });
    const runId = await startRun(db.pool, agent, "classify: see you at dinner");
    const run = await finish(runId);
    expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    expect(run.output?.json).toEqual({ label: "ham", score: 0.1 });

    const body = llm.requests[0]!.body;
    expect(body.tools).toEqual([{ name: ANTHROPIC_OUTPUT_TOOL, description: expect.any(String) as unknown, input_schema: SCHEMA }]);
    expect(body.tool_choice).toEqual({ type: "tool", name: ANTHROPIC_OUTPUT_TOOL });
    const steps = await getSteps(db.pool, runId);
    expect(steps).toHaveLength(1);
    expect(llmOutput(steps[0]).tool_calls).toEqual([]);
    const events = await getEvents(db.pool, runId);
    expect(events.some((e) => e.type === "TOOL_CALL_START")).toBe(false);
    const streamed = events.filter((e) => e.type === "TEXT_MESSAGE_CONTENT").map((e) => e.event.delta as string);
    expect(JSON.parse(streamed.join(""))).toEqual({ label: "ham", score: 0.1 });
    await assertValidAgUiLog(events);
  });

  it("anthropic: the output tool's input streams as text deltas, never as a tool call", async () => {
    llm.reset();
    llm.reply({ toolCalls: [{ name: ANTHROPIC_OUTPUT_TOOL, arguments: { label: "ham", score: 0.1 } }], pieces: 4 });
    const deltas: string[] = [];
    const starts: string[] = [];
    const result = await new AnthropicProvider().complete(
      {
        config: AgentConfigSchema.parse({
          provider: "anthropic",
          model: "claude-test",
          base_url: llm.anthropicBaseURL,
          api_key_env: "EVERRUNS_TEST_ANTHROPIC_KEY",
        }),
        messages: [{ role: "user", content: "classify: hi" }],
        tools: [],
        callIndex: 0,
        attempt: 1,
        signal: new AbortController().signal,
        outputSchema: SCHEMA,
      },
      { onTextDelta: (d) => deltas.push(d), onReasoningDelta: () => {}, onToolCallStart: (_id, name) => starts.push(name), onToolCallArgs: () => {} },
    );
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join("")).toBe(result.text);
    expect(JSON.parse(result.text)).toEqual({ label: "ham", score: 0.1 });
    expect(result.tool_calls).toEqual([]);
    expect(starts).toEqual([]);
  });

  it("anthropic with agent tools: any tool must be called (the agent's while working, the output tool to finish)", async () => {
    llm.reset();
    llm.reply(
      { toolCalls: [{ name: "echo", arguments: { word: "hi" } }] },
      { toolCalls: [{ name: ANTHROPIC_OUTPUT_TOOL, arguments: { label: "spam", score: 1 } }] },
    );
    const agent = await createAgent(db.pool, {
      provider: "anthropic",
      model: "claude-test",
      base_url: llm.anthropicBaseURL,
      api_key_env: "EVERRUNS_TEST_ANTHROPIC_KEY",
      system_prompt: "Classify messages.",
      tools: ["echo"],
      output_schema: SCHEMA,
      retry: fast,
    });
    const runId = await startRun(db.pool, agent);
    const run = await finish(runId);
    expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    expect(run.output?.json).toEqual({ label: "spam", score: 1 });
    const steps = await getSteps(db.pool, runId);
    expect(steps.map((s) => s.kind)).toEqual(["llm", "tool", "llm"]);
    for (const request of llm.requests) {
      expect(request.body.tool_choice).toEqual({ type: "any" });
      expect((request.body.tools as Array<{ name: string }>).map((t) => t.name)).toEqual(["echo", ANTHROPIC_OUTPUT_TOOL]);
      // the system prompt as one text block with a cache breakpoint (cache absent = auto)
      expect(request.body.system).toEqual([
        {
          type: "text",
          text: expect.stringMatching(new RegExp(`^Classify messages\\.\\n\\n.*calling the ${ANTHROPIC_OUTPUT_TOOL} tool`)) as unknown,
          cache_control: { type: "ephemeral" },
        },
      ]);
    }
  });
});
