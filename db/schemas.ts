// zod schemas shared by worker/, api/ and scripts/: agent config, run input, job payloads and
// the shapes of committed step outputs. They are the only definition of a valid agent config:
// SQL checks only that it is a JSON object of at most MAX_AGENT_CONFIG_BYTES (migration 000010);
// the API (api/graphql/agent-config-validation.ts) rejects an invalid one before it is written,
// and the worker fails a run whose config is invalid (`invalid_agent_config`). Provider-specific
// settings come from each provider's spec (worker/providers/<name>.config.ts), built-in tool
// names from worker/tools/registry.ts.
import { z } from "zod";
import { SecretNameSchema } from "../lib/secret-box.ts";
import { ValidationError } from "./errors.ts";
import { PROVIDER_SPECS } from "../worker/providers/registry.ts";
import type { ProviderSpec } from "../worker/providers/spec.ts";
import { BUILTIN_TOOL_NAMES } from "../worker/tools/registry.ts";
import { outputSchemaProblem } from "../worker/tools/validate.ts";
import { MAX_RETRY_AFTER_MS, MAX_RETRY_DELAY_MS } from "../lib/backoff.ts";
import { ModelInfoOverrideSchema, modelInfo, type ModelInfo } from "../lib/models/catalog.ts";
import { DEFAULT_SUMMARY_MAX_TOKENS, defaultContextBudget, defaultSummaryMaxTokens, expectedOutputTokens } from "../worker/context/output.ts";
import { parseTaskResource, workflowStates, WorkflowConfigSchema as WorkflowShapeSchema, type WorkflowConfig } from "./workflow-definition.ts";

export { ScriptToolCallSchema, ScriptTurnSchema, type ScriptTurn } from "../worker/providers/scripted.config.ts";

/**
 * The largest agent config: 256 KiB of JSON text, measured as Postgres writes it (config::text,
 * a space after each `:` and `,`). Every version is kept and every step loads it. The agents
 * trigger refuses a larger one too (everruns_private.max_agent_config_bytes(), migration 000010).
 */
export const MAX_AGENT_CONFIG_BYTES = 262_144;
/** The most tools an agent may declare. */
export const MAX_AGENT_TOOLS = 128;

/**
 * The bytes of `value` as JSON text as Postgres writes jsonb (`{"a": 1, "b": [1, 2]}`): compact
 * JSON plus one space after each key's colon and after each separating comma. NaN when it is not
 * JSON (a cycle, a BigInt).
 */
export function jsonTextBytes(value: unknown): number {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    return NaN;
  }
  if (text === undefined) return NaN;
  let spaces = 0;
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      spaces += Math.max(0, v.length - 1);
      for (const item of v) walk(item);
    } else if (v !== null && typeof v === "object") {
      const entries = Object.entries(v).filter(([, item]) => item !== undefined && typeof item !== "function" && typeof item !== "symbol");
      spaces += entries.length + Math.max(0, entries.length - 1);
      for (const [, item] of entries) walk(item);
    }
  };
  walk(value);
  return Buffer.byteLength(text) + spaces;
}

const toolName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 letters, digits, _ or -");
const positiveInt = (max: number) => {
  const message = `must be a whole number from 1 to ${max}`;
  return z.number({ error: message }).int(message).min(1, message).max(max, message);
};
/** A whole number of milliseconds from 0 to `max`; the message names the bound. */
const delayMs = (max: number) => {
  const message = `must be a whole number of milliseconds from 0 to ${max}`;
  return z.number({ error: message }).int(message).min(0, message).max(max, message);
};

/** The bounds of a run's priority (everruns.runs.priority, migration 000023). */
export const MIN_RUN_PRIORITY = -1000;
export const MAX_RUN_PRIORITY = 1000;
const PRIORITY_MESSAGE = `must be a whole number from ${MIN_RUN_PRIORITY} to ${MAX_RUN_PRIORITY} (higher runs first; 0 is the default)`;

/**
 * A run's priority: higher first within its workspace, a run of priority p admitted as if queued
 * p minutes earlier (000023). Taken by the agent config (`priority`, the default of the agent's
 * runs) and by every way of starting a run (REST `priority`, AG-UI `forwardedProps.priority`,
 * GraphQL startRun's `priority`); 0 means "the agent's config.priority, else 0".
 */
export const RunPrioritySchema = z
  .number({ error: PRIORITY_MESSAGE })
  .int(PRIORITY_MESSAGE)
  .min(MIN_RUN_PRIORITY, PRIORITY_MESSAGE)
  .max(MAX_RUN_PRIORITY, PRIORITY_MESSAGE);

/**
 * Header names whose values are credentials: a literal value of one of them would sit in the agent
 * config (and every agent version, the API's answers and the console), so it must reference a
 * secret instead. Case-insensitive: authorization, proxy-authorization, cookie, x-api-key, and
 * any name containing token, secret, key, password, auth, cookie or credential.
 */
const SENSITIVE_HEADER = /^(authorization|proxy-authorization|cookie|x-api-key)$|token|secret|key|passw|auth|cookie|credential/i;

export function isSensitiveHeader(name: string): boolean {
  return SENSITIVE_HEADER.test(name);
}

/** `{"secret": "<name>"}`: the value of the workspace's secret of that name, resolved by the worker at step time. */
export const SecretRefSchema = z.strictObject({ secret: SecretNameSchema });
export type SecretRef = z.infer<typeof SecretRefSchema>;

/** An http tool's headers: literal strings, or secret references; a sensitive header must be a reference. */
export const HttpHeadersSchema = z
  .record(z.string(), z.union([z.string(), SecretRefSchema], { error: 'must be a string or {"secret": "<name>"}' }))
  .superRefine((headers, ctx) => {
    for (const [name, value] of Object.entries(headers)) {
      if (typeof value === "string" && isSensitiveHeader(name)) {
        ctx.addIssue({
          code: "custom",
          path: [name],
          message: `is a sensitive header: do not put its value in the agent config; store it as a secret (everruns secrets set <name>) and use {"secret": "<name>"}`,
        });
      }
    }
  });
export type HttpHeaders = z.infer<typeof HttpHeadersSchema>;

/** The largest MCP tool result the model is shown by default (bytes of text); a server's max_result_bytes may lower or raise it up to 10 MB. */
export const DEFAULT_MCP_MAX_RESULT_BYTES = 1_048_576;
/** How long a server's tool list is reused by new runs of the same agent version, by default (seconds). */
export const DEFAULT_MCP_TOOL_LIST_TTL_S = 300;

/**
 * OAuth of an MCP server that requires it (`"oauth": true` or this object): the workspace is
 * connected to the server once by an operator (POST /api/mcp/oauth/connect, the console's MCP
 * servers page), runs use and refresh its tokens. `client_id` (and `client_secret`, a secret
 * reference) for an authorization server without dynamic client registration.
 */
export const McpOauthSpecSchema = z.strictObject({
  scopes: z
    .array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,200}$/, "must be an OAuth scope (printable characters, no spaces, quotes or backslashes)"))
    .max(64)
    .optional(),
  client_id: z.string().min(1).max(1000).optional(),
  client_secret: SecretRefSchema.optional(),
});
export type McpOauthSpec = z.infer<typeof McpOauthSpecSchema>;

/**
 * An MCP server whose tools the agent may call (docs/mcp.md, "MCP servers as tools"): over
 * Streamable HTTP (falling back to HTTP+SSE) at `url`, or, where the operator allows it
 * (EVERRUNS_MCP_STDIO), a local process started with `command`. Its tools reach the model as
 * `<name>__<tool>`.
 */
export const McpToolSpecSchema = z
  .strictObject({
    type: z.literal("mcp"),
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/, "must be 1-40 letters, digits, _ or -, starting with a letter or digit")
      .refine((n) => !n.includes("__"), 'must not contain "__" (it separates the server from the tool in the names the model sees)'),
    transport: z.enum(["http", "stdio"]).default("http"),
    url: z
      .url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" })
      .max(2000)
      .optional(),
    command: z.array(z.string().min(1).max(4096)).min(1, "must name the program to start, then its arguments").max(64, "may have at most 64 parts").optional(),
    description: z.string().max(2000).optional(),
    headers: HttpHeadersSchema.optional(),
    env: HttpHeadersSchema.optional(),
    allow: z
      .array(z.string().regex(/^[A-Za-z0-9_.*-]{1,128}$/, "must be a tool name, * matching any characters"))
      .max(256)
      .optional(),
    requires_approval: z.union([z.boolean(), z.array(z.string().min(1).max(128)).max(256)]).optional(),
    on_unknown_outcome: z.enum(["interrupt", "retry", "fail"]).default("interrupt"),
    idempotent_tools: z.array(z.string().min(1).max(128)).max(256).optional(),
    timeout_ms: positiveInt(3_600_000).optional(),
    tool_list_ttl_s: z
      .number()
      .int()
      .min(0, "must be a whole number of seconds from 0 to 86400")
      .max(86_400, "must be a whole number of seconds from 0 to 86400")
      .default(DEFAULT_MCP_TOOL_LIST_TTL_S),
    max_result_bytes: positiveInt(10_000_000).optional(),
    oauth: z.union([z.boolean(), McpOauthSpecSchema]).optional(),
    // call tools whose taskSupport is "optional" as MCP tasks when the server offers them (default true); "required" ones always are
    tasks: z.boolean().optional(),
  })
  .superRefine((spec, ctx) => {
    if (spec.oauth !== undefined && spec.oauth !== false) {
      if (spec.transport !== "http") ctx.addIssue({ code: "custom", path: ["oauth"], message: 'is only for "transport": "http"' });
      if (typeof spec.oauth === "object" && spec.oauth.client_secret && !spec.oauth.client_id) {
        ctx.addIssue({ code: "custom", path: ["oauth", "client_secret"], message: "needs client_id (the client the secret belongs to)" });
      }
      for (const [header, value] of Object.entries(spec.headers ?? {})) {
        if (header.toLowerCase() === "authorization") {
          ctx.addIssue({
            code: "custom",
            path: ["headers", header],
            message: 'is set by OAuth for a server with "oauth": remove this header (or remove "oauth" to send it yourself)',
          });
        } else if (typeof value !== "string") {
          // the SDK sends the transport's headers with its discovery and token requests too
          ctx.addIssue({
            code: "custom",
            path: ["headers", header],
            message:
              'references a secret: with "oauth" the headers also go to the authorization server\'s endpoints, so only literal, non-secret headers are allowed',
          });
        }
      }
    }
    if (spec.transport === "http") {
      if (!spec.url) ctx.addIssue({ code: "custom", path: ["url"], message: "is required for an MCP server over http" });
      if (spec.command) ctx.addIssue({ code: "custom", path: ["command"], message: 'is only for "transport": "stdio"' });
      if (spec.env) ctx.addIssue({ code: "custom", path: ["env"], message: 'is only for "transport": "stdio" (an http server gets headers)' });
    } else {
      if (!spec.command) ctx.addIssue({ code: "custom", path: ["command"], message: 'is required for "transport": "stdio", e.g. ["npx", "some-mcp-server"]' });
      if (spec.url) ctx.addIssue({ code: "custom", path: ["url"], message: 'is only for "transport": "http"' });
      if (spec.headers) ctx.addIssue({ code: "custom", path: ["headers"], message: 'is only for "transport": "http" (a stdio server gets env)' });
    }
  });
export type McpToolSpec = z.infer<typeof McpToolSpecSchema>;

/** The most characters of an agent tool's `description` (sent to the model with every call). */
export const MAX_AGENT_TOOL_DESCRIPTION = 4000;

/**
 * A sub-agent as a tool (docs/sub-agents.md): calling it starts a run of the workspace's agent
 * named `agent` (its latest version when the call starts), and the call's result is that run's
 * outcome. `name`: the tool's name the model sees (default: the agent's name); `parameters`: its
 * JSON Schema (default {task: string}); `input`: how the arguments become the child's user message
 * ("auto", the default: `task` when it is the only argument, else the arguments as JSON; "json":
 * always the arguments as JSON; {"field": "<name>"}: that string argument).
 */
export const AgentToolSpecSchema = z
  .strictObject({
    type: z.literal("agent"),
    name: toolName.optional(),
    agent: z.string().min(1, "must name an agent of the workspace").max(200),
    description: z.string().max(MAX_AGENT_TOOL_DESCRIPTION).optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    input: z.union([z.enum(["auto", "json"]), z.strictObject({ field: z.string().min(1).max(128) })]).default("auto"),
    requires_approval: z.boolean().optional(),
  })
  .transform((spec) => ({ ...spec, name: spec.name ?? spec.agent }))
  .refine((spec) => /^[A-Za-z0-9_-]{1,64}$/.test(spec.name), {
    path: ["name"],
    message: 'must be 1-64 letters, digits, _ or - (the agent\'s name is not: give the tool a "name")',
  });
export type AgentToolSpec = z.infer<typeof AgentToolSpecSchema>;

/** A tool of an agent: a built-in's name, or an object (a built-in with overrides, an http tool, an MCP server, a sub-agent). */
export const ToolSpecSchema = z.union([
  z.string(),
  McpToolSpecSchema,
  AgentToolSpecSchema,
  z.strictObject({
    name: toolName,
    type: z.enum(["builtin", "http"]).default("builtin"),
    url: z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }).optional(),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    requires_approval: z.boolean().optional(),
    timeout_ms: positiveInt(3_600_000).optional(),
    headers: HttpHeadersSchema.optional(),
    max_response_bytes: positiveInt(100_000_000).optional(),
  }),
]);
export type ToolSpec = z.infer<typeof ToolSpecSchema>;
/** A tool declared as an object that is not an MCP server or a sub-agent: a built-in with overrides, or an http tool. */
export type HttpToolSpec = Exclude<ToolSpec, string | McpToolSpec | AgentToolSpec>;

/**
 * Every delay is bounded (lib/backoff.ts): a retry waits at most MAX_RETRY_DELAY_MS (1 h), a
 * server's Retry-After is honoured up to `max_retry_after_ms` (at most MAX_RETRY_AFTER_MS, 1 h).
 */
export const RetryPolicySchema = z.strictObject({
  max_attempts: positiveInt(1000).default(5),
  initial_delay_ms: delayMs(MAX_RETRY_DELAY_MS).default(1000),
  max_delay_ms: delayMs(MAX_RETRY_DELAY_MS).default(60_000),
  multiplier: z
    .number({ error: "must be a number from 1 to 100" })
    .min(1, "must be a number from 1 to 100")
    .max(100, "must be a number from 1 to 100")
    .default(2),
  max_retry_after_ms: delayMs(MAX_RETRY_AFTER_MS).default(MAX_RETRY_AFTER_MS),
});
export type RetryPolicy = z.infer<typeof RetryPolicySchema>;

/**
 * The largest `output_schema`: 64 KiB of JSON text. It is sent with every LLM call of the agent's
 * runs, so it costs input tokens each time; a classification or extraction schema is a few KiB.
 */
export const MAX_OUTPUT_SCHEMA_BYTES = 65_536;

/**
 * An agent's `output_schema`: a JSON Schema its final answer must match (README, "Structured
 * output"). Its root must be an object schema, the only kind OpenAI's structured outputs and
 * Anthropic's tool input take; it is compiled with ajv here, so a schema ajv cannot use (a bad
 * keyword value, a `$ref` that resolves nowhere) is refused before a run ever needs it.
 */
const OutputSchemaSchema = z
  .record(z.string(), z.unknown(), { error: 'must be a JSON Schema object, e.g. {"type": "object", "properties": {...}, "required": [...]}' })
  .superRefine((schema, ctx) => {
    const bytes = jsonTextBytes(schema);
    if (bytes > MAX_OUTPUT_SCHEMA_BYTES) {
      ctx.addIssue({
        code: "custom",
        message: `is ${bytes} bytes of JSON text; an output schema may be at most ${MAX_OUTPUT_SCHEMA_BYTES} (MAX_OUTPUT_SCHEMA_BYTES)`,
      });
      return;
    }
    if (schema.type !== "object") {
      ctx.addIssue({
        code: "custom",
        message:
          'must have "type": "object" at its root (providers take only an object as structured output); wrap a single value as {"type": "object", "properties": {"value": ...}, "required": ["value"]}',
      });
      return;
    }
    const problem = outputSchemaProblem(schema);
    if (problem) ctx.addIssue({ code: "custom", message: `is not a usable JSON Schema: ${problem}` });
  });

/**
 * An agent's `state_schema`: a JSON Schema every state its update_state tool commits must match
 * (docs/state.md). At most MAX_OUTPUT_SCHEMA_BYTES of JSON text, as an output schema: it is sent
 * with update_state's definition on every LLM call. Compiled with ajv here, so a schema ajv
 * cannot use is refused before a run needs it. The state is always an object: a root `type`
 * other than "object" is refused.
 */
const StateSchemaSchema = z
  .record(z.string(), z.unknown(), { error: 'must be a JSON Schema object, e.g. {"type": "object", "properties": {...}}' })
  .superRefine((schema, ctx) => {
    const bytes = jsonTextBytes(schema);
    if (bytes > MAX_OUTPUT_SCHEMA_BYTES) {
      ctx.addIssue({
        code: "custom",
        message: `is ${bytes} bytes of JSON text; a state schema may be at most ${MAX_OUTPUT_SCHEMA_BYTES} (MAX_OUTPUT_SCHEMA_BYTES)`,
      });
      return;
    }
    if (schema.type !== undefined && schema.type !== "object") {
      ctx.addIssue({ code: "custom", message: 'must describe an object (a run\'s state is a JSON object): leave "type" out or make it "object"' });
      return;
    }
    const problem = outputSchemaProblem(schema);
    if (problem) ctx.addIssue({ code: "custom", message: `is not a usable JSON Schema: ${problem}` });
  });

/** The most tokens a context budget (`context.max_tokens`) may name: above every known model's window. */
export const MAX_CONTEXT_TOKENS = 10_000_000;

/**
 * An agent's `context`: how much of its thread each LLM call sends, and what happens when more
 * would be sent (docs/context.md, worker/context/). Absent: `summarize` with the defaults below.
 */
export const ContextConfigSchema = z.strictObject(
  {
    /** `summarize`: compact the oldest turns into a summary when over the budget, stub large tool results; `off`: send the whole thread */
    strategy: z.enum(["summarize", "off"], { error: 'must be "summarize" (the default) or "off"' }).default("summarize"),
    /** the token budget of what is sent; absent: a fraction of the model's context window (models table, model_info) */
    max_tokens: z
      .number({ error: `must be a whole number of tokens from 1000 to ${MAX_CONTEXT_TOKENS}` })
      .int(`must be a whole number of tokens from 1000 to ${MAX_CONTEXT_TOKENS}`)
      .min(1000, `must be at least 1000 tokens (a budget smaller than that leaves no room for a conversation)`)
      .max(MAX_CONTEXT_TOKENS, `must be at most ${MAX_CONTEXT_TOKENS} tokens (MAX_CONTEXT_TOKENS)`)
      .optional(),
    /** the recent turns a compaction always keeps whole (fewer only when they alone do not fit) */
    keep_turns: z.number({ error: "must be a whole number from 1 to 100" }).int("must be a whole number from 1 to 100").min(1).max(100).default(4),
    /** the model that writes summaries, of the agent's provider (a cheaper one); absent: the agent's own */
    summary_model: z.string().min(1, "must name a model, or be left out").max(200, "must be at most 200 characters").optional(),
    /** the longest summary, in tokens (the summary call's max output); absent: min(4000, an eighth of the budget) */
    summary_max_tokens: z
      .number({ error: "must be a whole number of tokens from 100 to 32000" })
      .int("must be a whole number of tokens from 100 to 32000")
      .min(100, "must be at least 100 tokens")
      .max(32_000, "must be at most 32000 tokens")
      .optional(),
    /** a tool result longer than this (characters) is sent as a stub the model can read in slices with read_result */
    tool_result_max_chars: z
      .number({ error: "must be a whole number of characters from 1000 to 1000000" })
      .int("must be a whole number of characters from 1000 to 1000000")
      .min(1000, "must be at least 1000 characters (a stub with its preview is about 700)")
      .max(1_000_000, "must be at most 1000000 characters")
      .default(20_000),
  },
  {
    error: (issue) =>
      issue.code === "unrecognized_keys"
        ? "is not a setting of context (strategy, max_tokens, keep_turns, summary_model, summary_max_tokens, tool_result_max_chars)"
        : undefined,
  },
);

/** The highest price per million tokens an agent's `prices` may give (as everruns.model_prices' check, 000029). */
export const MAX_PRICE_PER_MILLION = 1_000_000;

/** The names of a run budget's limits (docs/budgets.md), in the order they are reported. */
export const BUDGET_LIMITS = ["max_cost_usd", "max_tokens", "max_wall_seconds", "max_tool_calls"] as const;
export type BudgetLimit = (typeof BUDGET_LIMITS)[number];

/** A positive number up to `max`, the message naming the range and the unit. */
const positiveLimit = (max: number, unit: string) => {
  const message = `must be a number of ${unit} above 0 and at most ${max}`;
  return z.number({ error: message }).positive(message).max(max, message);
};

/**
 * `config.budget`: limits on what one piece of work (a run and the continuations answering its
 * interrupts) may spend, checked between steps (worker/run-budget.ts, docs/budgets.md). At
 * `warn_at` of a limit the run's log gets a CUSTOM everruns.budget warning; at the limit the run
 * ends interrupted (`budget-<run id>`), and the answer raises the limits or stops.
 */
export const BudgetSchema = z
  .strictObject(
    {
      max_cost_usd: positiveLimit(1_000_000, "US dollars").optional(),
      max_tokens: positiveInt(1_000_000_000_000).optional(),
      max_wall_seconds: positiveLimit(31_536_000, "seconds (a year)").optional(),
      max_tool_calls: positiveInt(10_000_000).optional(),
      warn_at: z
        .number({ error: "must be a fraction between 0 and 1 (e.g. 0.8: warn at 80% of a limit)" })
        .gt(0, "must be a fraction between 0 and 1 (e.g. 0.8: warn at 80% of a limit)")
        .lt(1, "must be a fraction between 0 and 1 (e.g. 0.8: warn at 80% of a limit)")
        .default(0.8),
    },
    { error: (issue) => (issue.code === "unrecognized_keys" ? `is not a budget setting (settings: ${BUDGET_LIMITS.join(", ")}, warn_at)` : undefined) },
  )
  .refine((b) => BUDGET_LIMITS.some((k) => b[k] !== undefined), {
    message: `sets no limit: give at least one of ${BUDGET_LIMITS.join(", ")}, or leave budget out`,
  });
export type Budget = z.infer<typeof BudgetSchema>;

/** The settings every provider has; each provider adds its own (ProviderSpec.fields). */
const COMMON_FIELDS = {
  system_prompt: z.string().optional(),
  tools: z
    .array(ToolSpecSchema)
    .max(MAX_AGENT_TOOLS, {
      error: (issue) => `has ${(issue.input as unknown[]).length} tools; an agent may declare at most ${MAX_AGENT_TOOLS} (MAX_AGENT_TOOLS)`,
    })
    .default([]),
  max_steps: positiveInt(100_000).default(50),
  llm_timeout_ms: positiveInt(3_600_000).default(120_000),
  retry: RetryPolicySchema.default({ max_attempts: 5, initial_delay_ms: 1000, max_delay_ms: 60_000, multiplier: 2, max_retry_after_ms: MAX_RETRY_AFTER_MS }),
  temperature: z.number().min(0).max(2).optional(),
  max_tokens: positiveInt(1_000_000).optional(),
  /**
   * Prompt caching. `auto` (absent): Anthropic requests mark cache breakpoints (system prompt and
   * tools, and the conversation so far), OpenAI requests name the thread as prompt_cache_key;
   * `off`: neither (OpenAI still caches long prefixes by itself).
   */
  cache: z.enum(["auto", "off"]).optional(),
  /**
   * USD per million tokens, overriding the workspace's and the catalog's prices (worker/pricing.ts).
   * Input is the rate of uncached input; a cache rate left out is the input rate.
   */
  prices: z
    .strictObject({
      input_per_million: z.number().min(0).max(MAX_PRICE_PER_MILLION),
      output_per_million: z.number().min(0).max(MAX_PRICE_PER_MILLION),
      cache_read_per_million: z.number().min(0).max(MAX_PRICE_PER_MILLION).optional(),
      cache_write_per_million: z.number().min(0).max(MAX_PRICE_PER_MILLION).optional(),
    })
    .optional(),
  /**
   * What this agent's model is, overriding the model catalog (lib/models/models.json and the
   * operator's EVERRUNS_MODELS_FILE): its context window, longest output and capabilities.
   */
  model_info: ModelInfoOverrideSchema.optional(),
  /**
   * The priority of the agent's runs that are started without one (-1000..1000, higher first
   * within the workspace; absent: 0). A run's own priority, when given and not 0, wins.
   */
  priority: RunPrioritySchema.optional(),
  /**
   * A JSON Schema the final answer must match: the provider is asked for JSON of that shape, the
   * answer is validated and stored as the run's `output.json` (worker/steps.ts).
   */
  output_schema: OutputSchemaSchema.optional(),
  /**
   * A JSON Schema the run's state must match: a state the update_state tool would commit that
   * does not is refused, and the model is told why (worker/tools/update-state.ts).
   */
  state_schema: StateSchemaSchema.optional(),
  /** Limits on a run's spend (cost, tokens, wall time, tool calls), checked between steps: docs/budgets.md. */
  budget: BudgetSchema.optional(),
  /**
   * What each LLM call sends of the thread (docs/context.md): a token budget and a strategy; over
   * the budget, the oldest turns are summarised by a `compaction` step (worker/context/).
   */
  context: ContextConfigSchema.optional(),
  /** Sub-agents (tools of type "agent", docs/sub-agents.md): how many of this agent's children run at once. */
  max_parallel_children: positiveInt(100).default(4),
  /** Sub-agents: the deepest a child this agent starts may be, counted from the root (its children: depth 1). */
  max_depth: positiveInt(10).default(3),
  /** Sub-agents: the most children one run of this agent may start. */
  max_children: positiveInt(1000).default(50),
};

type VariantOf<S> =
  S extends ProviderSpec<infer Name, infer Fields> ? z.ZodObject<typeof COMMON_FIELDS & { provider: z.ZodLiteral<Name> } & Fields, z.core.$strict> : never;
type Variants<T extends readonly unknown[]> = { -readonly [K in keyof T]: VariantOf<T[K]> };

function variant(spec: ProviderSpec) {
  return z.strictObject(
    { ...COMMON_FIELDS, provider: z.literal(spec.name), ...spec.fields },
    { error: (issue) => (issue.code === "unrecognized_keys" ? `is not a known setting of provider ${spec.name}` : undefined) },
  );
}

const providerNames = PROVIDER_SPECS.map((p) => p.name).join(", ");
const variants = PROVIDER_SPECS.map(variant) as unknown as Variants<typeof PROVIDER_SPECS>;

/** The size check, before anything else: a 50 MB config is refused without being parsed field by field. */
const BoundedConfigSchema = z.unknown().check((ctx) => {
  const bytes = jsonTextBytes(ctx.value);
  if (bytes > MAX_AGENT_CONFIG_BYTES) {
    ctx.issues.push({
      code: "custom",
      input: ctx.value,
      message: `the config is ${bytes} bytes of JSON text; an agent config may be at most ${MAX_AGENT_CONFIG_BYTES} (MAX_AGENT_CONFIG_BYTES): let the agent fetch large documents with a tool rather than putting them in its config`,
    });
  }
});

type ShapedConfig = z.infer<(typeof variants)[number]>;

/**
 * What the config asks of its model that the catalog says the model cannot do (a known `false`, a
 * known output limit). An unknown model, or an unknown capability, passes; the agent's model_info
 * overrides the catalog.
 */
function modelCapabilityIssues(config: ShapedConfig): { path: string[]; message: string }[] {
  const info = modelInfo(config.provider, config.model, config.model_info);
  const model = config.model === undefined ? `of provider ${config.provider}` : `${config.model}`;
  const lacks = (field: string, what: string, capability: string) => ({
    path: [field],
    message: `model ${model} does not support ${what} (models table); remove ${field}, or set model_info.${capability} to true if it does`,
  });
  const issues: { path: string[]; message: string }[] = [];
  if (config.provider === "anthropic") {
    // Claude 4.7 and later refuse budget thinking (400) and take adaptive thinking instead
    if (config.thinking_budget_tokens !== undefined && info.thinking === false) {
      issues.push({
        path: ["thinking_budget_tokens"],
        message:
          info.adaptive_thinking === true
            ? `model ${model} does not support extended thinking with a budget (models table; it thinks adaptively): remove thinking_budget_tokens and set thinking to "adaptive" (with effort to steer how much it thinks), or set model_info.thinking to true if it does`
            : `model ${model} does not support extended thinking (models table); remove thinking_budget_tokens, or set model_info.thinking to true if it does`,
      });
    }
    if (config.thinking !== undefined && config.thinking_budget_tokens !== undefined) {
      issues.push({
        path: ["thinking"],
        message: `cannot be set with thinking_budget_tokens: use thinking_budget_tokens (budget thinking, models before Claude 4.7) or thinking "adaptive" (Claude 4.6 and later), not both`,
      });
    }
    if (config.thinking === "adaptive" && info.adaptive_thinking === false) {
      issues.push({
        path: ["thinking"],
        message: `model ${model} does not support adaptive thinking (models table): remove thinking${info.thinking === false ? "" : " and set thinking_budget_tokens for extended thinking"}, or set model_info.adaptive_thinking to true if it does`,
      });
    }
    if (config.thinking === "off" && info.thinking_off === false) {
      issues.push({
        path: ["thinking"],
        message: `model ${model} always thinks and refuses thinking "off" (models table): remove thinking and set a lower effort to make it think less, or set model_info.thinking_off to true if it can`,
      });
    } else if (
      config.thinking === "off" &&
      config.effort !== undefined &&
      info.thinking_off_efforts !== undefined &&
      !info.thinking_off_efforts.includes(config.effort)
    ) {
      issues.push({
        path: ["thinking"],
        message: `model ${model} turns thinking off only at effort ${info.thinking_off_efforts.join(", ")} (models table), not "${config.effort}": lower effort, or remove thinking "off"`,
      });
    }
    if (config.effort !== undefined && info.effort_levels !== undefined && !info.effort_levels.includes(config.effort)) {
      issues.push({
        path: ["effort"],
        message:
          info.effort_levels.length === 0
            ? `model ${model} does not take effort (models table): remove effort, or set model_info.effort_levels to the levels it takes`
            : `"${config.effort}" is not an effort level of model ${model} (models table: ${info.effort_levels.join(", ")}); use one of those, or set model_info.effort_levels if it takes more`,
      });
    }
    if (config.temperature !== undefined && info.temperature === false) {
      issues.push({
        path: ["temperature"],
        message: `model ${model} refuses a sampling temperature (models table): remove temperature (steer it with effort and the prompt), or set model_info.temperature to true if it takes one`,
      });
    }
  }
  if (config.provider === "openai" && config.reasoning_effort !== undefined && info.reasoning === false) {
    issues.push(lacks("reasoning_effort", "reasoning (it is not a reasoning model)", "reasoning"));
  }
  if (config.output_schema !== undefined && info.structured_output === false) {
    issues.push(lacks("output_schema", "structured output", "structured_output"));
  }
  if (config.max_tokens !== undefined && info.max_output_tokens !== undefined && config.max_tokens > info.max_output_tokens) {
    issues.push({
      path: ["max_tokens"],
      message: `is ${config.max_tokens}, more than the ${info.max_output_tokens} output tokens model ${model} allows (models table); lower it, or set model_info.max_output_tokens if the model allows more`,
    });
  }
  issues.push(...contextIssues(config, info, model));
  return issues;
}

/**
 * What `context` asks that the models table says cannot work (docs/context.md): a budget that
 * leaves the window no room for the output (the provider refuses the call before a compaction
 * would run), a summary longer than an eighth of the budget, a summary model that cannot take
 * the budget or give the summary.
 */
function contextIssues(config: ShapedConfig, info: ModelInfo, model: string): { path: string[]; message: string }[] {
  const context = config.context;
  if (!context || context.strategy === "off") return [];
  const issues: { path: string[]; message: string }[] = [];
  const window = info.context_window;
  const output = expectedOutputTokens(config, info);
  const explicit = context.max_tokens;
  if (explicit !== undefined && window !== undefined && explicit > window - output) {
    issues.push({
      path: ["context", "max_tokens"],
      message: `is ${explicit}, more than model ${model}'s context window of ${window} tokens (models table) less the ${output} output tokens a call may produce (max_tokens, or the provider's default for the model); lower it to at most ${Math.max(0, window - output)}, lower max_tokens, or set model_info.context_window if the window is larger`,
    });
  }
  const budget = explicit ?? (window !== undefined ? defaultContextBudget(window, output) : undefined);
  if (context.summary_max_tokens !== undefined && budget !== undefined && context.summary_max_tokens > Math.floor(budget / 8)) {
    issues.push({
      path: ["context", "summary_max_tokens"],
      message: `is ${context.summary_max_tokens}, more than an eighth of the context budget of ${budget} tokens (${Math.floor(budget / 8)}): a summary that long leaves the turns after it too little room; lower it or raise context.max_tokens`,
    });
  }
  const summaryModel = context.summary_model;
  if (summaryModel !== undefined && summaryModel !== config.model) {
    const summaryInfo = modelInfo(config.provider, summaryModel);
    if (budget !== undefined && summaryInfo.context_window !== undefined && summaryInfo.context_window < budget) {
      issues.push({
        path: ["context", "summary_model"],
        message: `model ${summaryModel}'s context window of ${summaryInfo.context_window} tokens (models table) is smaller than the context budget of ${budget}, and a summary call sends up to the budget: choose a model with a larger window, or lower context.max_tokens`,
      });
    }
    const summaryTokens = context.summary_max_tokens ?? (budget !== undefined ? defaultSummaryMaxTokens(budget) : DEFAULT_SUMMARY_MAX_TOKENS);
    if (summaryInfo.max_output_tokens !== undefined && summaryInfo.max_output_tokens < summaryTokens) {
      issues.push({
        path: ["context", "summary_model"],
        message: `model ${summaryModel} gives at most ${summaryInfo.max_output_tokens} output tokens (models table), fewer than the summary's ${summaryTokens} (context.summary_max_tokens): lower summary_max_tokens or choose another model`,
      });
    }
  }
  return issues;
}

const ConfigShapeSchema = z
  .discriminatedUnion("provider", variants, {
    error: (issue) =>
      issue.code === "invalid_union"
        ? `must be one of ${providerNames}, got ${JSON.stringify((issue.input as { provider?: unknown } | undefined)?.provider) ?? "nothing"}`
        : undefined,
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.tools.forEach((tool, i) => {
      const name = typeof tool === "string" ? tool : tool.name;
      if (typeof tool === "string" && !BUILTIN_TOOL_NAMES.includes(tool)) {
        ctx.addIssue({
          code: "custom",
          path: ["tools", i],
          message: `"${tool}" is not a built-in tool (built-ins: ${BUILTIN_TOOL_NAMES.join(", ")}); declare a remote tool as {"name", "type": "http", "url"}`,
        });
      }
      if (seen.has(name)) ctx.addIssue({ code: "custom", path: ["tools", i, "name"], message: `"${name}" is declared twice` });
      seen.add(name);
      if (typeof tool === "object" && tool.type === "http" && !tool.url) {
        ctx.addIssue({ code: "custom", path: ["tools", i, "url"], message: "is required for an http tool" });
      }
      if (typeof tool === "object" && tool.type === "builtin" && !BUILTIN_TOOL_NAMES.includes(tool.name)) {
        ctx.addIssue({ code: "custom", path: ["tools", i, "name"], message: `"${tool.name}" is not a built-in tool; set "type": "http" for a remote tool` });
      }
      if (typeof tool === "object" && tool.type === "builtin") {
        for (const key of ["url", "headers", "timeout_ms", "max_response_bytes"] as const) {
          if (tool[key] !== undefined) ctx.addIssue({ code: "custom", path: ["tools", i, key], message: "is only for http tools" });
        }
        if (tool.parameters !== undefined) {
          // the built-in checks its arguments against its own schema (its bounds keep timers and waits sane)
          ctx.addIssue({
            code: "custom",
            path: ["tools", i, "parameters"],
            message: `a built-in tool's parameters cannot be replaced; "${tool.name}" takes its own`,
          });
        }
      }
    });
  });

/** A valid agent config: at most MAX_AGENT_CONFIG_BYTES of JSON text, then the provider's shape. */
export const AgentConfigSchema = BoundedConfigSchema.pipe(ConfigShapeSchema);
export type AgentConfig = z.infer<typeof AgentConfigSchema>;

/**
 * What the API accepts when an agent is written: a valid config that also asks its model for
 * nothing the models table says it cannot do (modelCapabilityIssues). Only writes are checked:
 * a worker runs a stored config with AgentConfigSchema, so a change of the models table (a
 * release, an operator's EVERRUNS_MODELS_FILE) never fails a run that was accepted.
 */
export const AgentConfigWriteSchema = AgentConfigSchema.superRefine((config, ctx) => {
  modelCapabilityIssues(config).forEach((issue) => ctx.addIssue({ code: "custom", ...issue }));
});
/**
 * A workflow's config (docs/workflows.md): `{"kind": "workflow", "definition": <ASL>, "tools"?,
 * …}` at most MAX_AGENT_CONFIG_BYTES, its definition checked by db/workflow-definition.ts; its
 * tools are http tools (a Task's `everruns:http:<name>` calls one) and MCP servers (`everruns:mcp:<server>/<tool>`), as an agent's.
 */
export const WorkflowAgentConfigSchema = BoundedConfigSchema.pipe(WorkflowShapeSchema).superRefine((config, ctx) => {
  const http = new Set<string>();
  const mcp = new Set<string>();
  config.tools.forEach((tool, i) => {
    // a workflow asks people in an everruns:approval state; a tool's own approval or unknown-outcome interrupt is an agent's
    for (const key of ["requires_approval", "on_unknown_outcome"]) {
      if (typeof tool === "object" && tool !== null && key in tool) {
        ctx.addIssue({
          code: "custom",
          path: ["tools", i, key],
          message: `is for agents' tools; a workflow asks a person in an everruns:approval state before the Task (and a Task's failure is its error, for Retry and Catch)`,
        });
      }
    }
    const parsed = ToolSpecSchema.safeParse(tool);
    if (!parsed.success) {
      ctx.addIssue({ code: "custom", path: ["tools", i], message: `invalid tool: ${describeIssues(parsed.error)}` });
      return;
    }
    const spec = parsed.data;
    if (typeof spec === "object" && spec.type === "mcp") {
      if (http.has(spec.name) || mcp.has(spec.name)) ctx.addIssue({ code: "custom", path: ["tools", i, "name"], message: `"${spec.name}" is declared twice` });
      mcp.add(spec.name);
      return;
    }
    if (typeof spec !== "object" || spec.type !== "http" || !spec.url) {
      ctx.addIssue({
        code: "custom",
        path: ["tools", i],
        message:
          'a workflow\'s tools are http tools ({"name", "type": "http", "url"}) and MCP servers ({"name", "type": "mcp", "url"}), which its Tasks call as "everruns:http:<name>" and "everruns:mcp:<server>/<tool>"',
      });
      return;
    }
    if (mcp.has(spec.name) || http.has(spec.name)) ctx.addIssue({ code: "custom", path: ["tools", i, "name"], message: `"${spec.name}" is declared twice` });
    http.add(spec.name);
  });
  for (const { name, scope, state } of workflowStates(config.definition)) {
    if (state.Type !== "Task") continue;
    const resource = parseTaskResource(state.Resource);
    if (resource?.kind === "approval" && (state.TimeoutSeconds !== undefined || state.TimeoutSecondsPath !== undefined)) {
      // an interrupted run holds no timer: a deadline here would be silently ignored
      ctx.addIssue({
        code: "custom",
        path:
          scope.length === 0 ? ["definition", "States", name, state.TimeoutSeconds !== undefined ? "TimeoutSeconds" : "TimeoutSecondsPath"] : ["definition"],
        message: `state "${name}"${scope.length ? ` (in ${scope.join(" / ")})` : ""}: an everruns:approval waits for a person's answer and has no timeout; to bound a sign-off in time, wait for an event with everruns:wait_for_event and its TimeoutSeconds`,
      });
    }
    if (resource?.kind === "mcp" && !mcp.has(resource.server)) {
      ctx.addIssue({
        code: "custom",
        path: scope.length === 0 ? ["definition", "States", name, "Resource"] : ["definition"],
        message: `state "${name}"${scope.length ? ` (in ${scope.join(" / ")})` : ""}: ${state.Resource} names no MCP server of config.tools; declare {"name": "${resource.server}", "type": "mcp", "url": "…"}`,
      });
    }
    if (resource?.kind === "http" && !http.has(resource.tool)) {
      ctx.addIssue({
        code: "custom",
        path: scope.length === 0 ? ["definition", "States", name, "Resource"] : ["definition"],
        message: `state "${name}"${scope.length ? ` (in ${scope.join(" / ")})` : ""}: ${state.Resource} names no tool of config.tools; declare {"name": "${resource.tool}", "type": "http", "url": "…"}`,
      });
    }
  }
});
export type { WorkflowConfig };

/** Whether a stored or given agent config is a workflow's (`"kind": "workflow"`). */
export function isWorkflowConfig(config: unknown): boolean {
  return typeof config === "object" && config !== null && (config as { kind?: unknown }).kind === "workflow";
}

/** What the API accepts when an agent is written: an agent's config (AgentConfigWriteSchema) or a workflow's. */
export function configWriteSchemaFor(config: unknown): z.ZodType {
  return isWorkflowConfig(config) ? WorkflowAgentConfigSchema : AgentConfigWriteSchema;
}

/** The config of an agent of one provider. */
export type AgentConfigOf<P extends AgentConfig["provider"]> = Extract<AgentConfig, { provider: P }>;

const MessageSchema = z.looseObject({
  id: z.string().optional(),
  role: z.enum(["user", "assistant", "system", "developer", "tool"]),
  content: z.union([z.string(), z.array(z.unknown()), z.null()]).optional(),
  toolCalls: z.array(z.unknown()).optional(),
  toolCallId: z.string().optional(),
});
export type InputMessage = z.infer<typeof MessageSchema>;

/**
 * The shape of a run's input, for the worker to read it typed. What makes an input valid is the
 * runs trigger's alone (everruns_private.assert_valid_run_input: a plain SQL insert must be
 * refused as clearly as an API call); every API path hands the input to it unchecked
 * (db/sql/startRun.ts), so the rules are written once.
 */
export const RunInputSchema = z.looseObject({
  messages: z.array(MessageSchema),
  state: z.record(z.string(), z.unknown()).nullable().optional(),
  context: z.array(z.unknown()).optional(),
  tools: z.array(z.looseObject({ name: z.string(), description: z.string().optional(), parameters: z.unknown().optional() })).optional(),
  resume: z.array(z.unknown()).optional(),
});
export type RunInput = z.infer<typeof RunInputSchema>;

export const ToolCallSchema = z.object({ id: z.string(), name: z.string(), arguments: z.record(z.string(), z.unknown()) });
export type ToolCall = z.infer<typeof ToolCallSchema>;

/**
 * Tokens and cost of a step, or summed over a run. `input_tokens` counts every input token,
 * cached or not; `cache_read_tokens` and `cache_write_tokens` are the parts of it read from and
 * written to the provider's prompt cache; `reasoning_tokens` is the part of `output_tokens` spent
 * reasoning. `cost_usd` prices each part at its own rate (worker/pricing.ts).
 */
export const UsageSchema = z.object({
  input_tokens: z.number().int().min(0),
  output_tokens: z.number().int().min(0),
  cache_read_tokens: z.number().int().min(0).optional(),
  cache_write_tokens: z.number().int().min(0).optional(),
  reasoning_tokens: z.number().int().min(0).optional(),
  cost_usd: z.number().min(0),
});
export type Usage = z.infer<typeof UsageSchema>;

/** What an `llm` step commits: the assistant message the model produced. */
export const LlmOutputSchema = z.object({
  message_id: z.string(),
  text: z.string(),
  reasoning: z.string().optional(),
  tool_calls: z.array(ToolCallSchema),
  /**
   * What the provider that wrote this turn needs back verbatim on later calls (Anthropic's signed
   * thinking blocks, OpenAI's reasoning items; worker/providers/types.ts ProviderReplay).
   */
  replay: z.object({ provider: z.string(), model: z.string(), data: z.unknown() }).optional(),
  /**
   * Why this final answer did not match the agent's output_schema (worker/steps.ts): the run went
   * on, and the conversation has a correction message after this turn (worker/conversation.ts).
   */
  output_errors: z.string().optional(),
});
export type LlmOutput = z.infer<typeof LlmOutputSchema>;

/** What a `tool` step commits: the result the model will see. */
export const ToolOutputSchema = z.object({
  tool_call_id: z.string(),
  message_id: z.string(),
  content: z.string(),
  is_error: z.boolean(),
});
export type ToolOutput = z.infer<typeof ToolOutputSchema>;

function pathText(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("");
}

/**
 * The issues to report: an unrecognized key as an issue at that key; of a union none of whose
 * options matched, the issues of the option that got furthest (not "expected string" when the
 * input was an object).
 */
function flatIssues(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): Array<{ path: PropertyKey[]; message: string }> {
  const out: Array<{ path: PropertyKey[]; message: string }> = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === "unrecognized_keys") {
      const message = issue.message.startsWith("Unrecognized key") ? "is not a known setting" : issue.message;
      for (const key of issue.keys) out.push({ path: [...path, key], message });
    } else if (issue.code === "invalid_union" && issue.errors.length > 0) {
      const options = issue.errors.filter((errors) => !errors.every((e) => e.code === "invalid_type" && e.path.length === 0));
      if (options.length === 0) out.push({ path, message: issue.message });
      else
        out.push(
          ...flatIssues(
            options.reduce((best, o) => (o.length <= best.length ? o : best)),
            path,
          ),
        );
    } else {
      out.push({ path, message: issue.message });
    }
  }
  return out;
}

/** zod issues as one line that names each field: `max_steps: Too big...; tools[1].url: ...`. */
export function describeIssues(error: z.ZodError): string {
  return flatIssues(error.issues)
    .map(({ path, message }) => (path.length > 0 ? `${pathText(path)}: ${message}` : message))
    .join("; ");
}

export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, what: string, code?: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new ValidationError(`invalid ${what}: ${describeIssues(result.error)}`, { code });
  return result.data;
}
