// zod schemas shared by worker/, api/ and scripts/: agent config, run input, job payloads and
// the shapes of committed step outputs. The SQL functions in db/migrations enforce the same
// rules for plain SQL inserts; tests check both sides against the same cases.
import { z } from "zod";
import { ValidationError } from "./errors.ts";

export const BUILTIN_TOOLS = ["echo", "sleep", "wait_for_event", "simulate_work"] as const;
export type BuiltinToolName = (typeof BUILTIN_TOOLS)[number];

const toolName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 letters, digits, _ or -");
const positiveInt = (max: number) => z.number().int().min(1).max(max);

export const ToolSpecSchema = z.union([
  z.enum(BUILTIN_TOOLS),
  z.strictObject({
    name: toolName,
    type: z.enum(["builtin", "http"]).default("builtin"),
    url: z.string().regex(/^https?:\/\//, "must be an http:// or https:// URL").optional(),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    requires_approval: z.boolean().optional(),
    timeout_ms: positiveInt(3_600_000).optional(),
    headers: z.record(z.string(), z.string()).optional(),
    max_response_bytes: positiveInt(100_000_000).optional(),
  }),
]);
export type ToolSpec = z.infer<typeof ToolSpecSchema>;

export const ScriptToolCallSchema = z.strictObject({
  name: z.string().min(1),
  arguments: z.record(z.string(), z.unknown()).default({}),
});

export const ScriptTurnSchema = z.strictObject({
  text: z.string().optional(),
  reasoning: z.string().optional(),
  tool_calls: z.array(ScriptToolCallSchema).optional(),
  delay_ms: z.number().min(0).optional(),
  error: z.enum(["rate_limit", "server_error", "timeout", "bad_request"]).optional(),
  times: positiveInt(1000).optional(),
});
export type ScriptTurn = z.infer<typeof ScriptTurnSchema>;

export const RetryPolicySchema = z.strictObject({
  max_attempts: z.number().int().min(1).default(5),
  initial_delay_ms: z.number().min(0).default(1000),
  max_delay_ms: z.number().min(0).default(60_000),
  multiplier: z.number().min(1).default(2),
});
export type RetryPolicy = z.infer<typeof RetryPolicySchema>;

export const AgentConfigSchema = z
  .strictObject({
    provider: z.enum(["openai", "anthropic", "scripted"]),
    model: z.string().optional(),
    system_prompt: z.string().optional(),
    tools: z.array(ToolSpecSchema).default([]),
    max_steps: positiveInt(100_000).default(50),
    llm_timeout_ms: positiveInt(3_600_000).default(120_000),
    retry: RetryPolicySchema.default({ max_attempts: 5, initial_delay_ms: 1000, max_delay_ms: 60_000, multiplier: 2 }),
    script: z.array(ScriptTurnSchema).default([]),
    temperature: z.number().min(0).max(2).optional(),
    max_tokens: positiveInt(1_000_000).optional(),
    /** openai only: the Responses API (default) or Chat Completions (OpenAI-compatible servers). */
    api: z.enum(["responses", "chat_completions"]).optional(),
    /** Overrides OPENAI_BASE_URL / ANTHROPIC_BASE_URL for this agent. */
    base_url: z.url().optional(),
    /** The environment variable holding this agent's API key (default OPENAI_API_KEY / ANTHROPIC_API_KEY). */
    api_key_env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "must be an environment variable name").optional(),
    /** openai reasoning models: "minimal" | "low" | "medium" | "high". */
    reasoning_effort: z.enum(["minimal", "low", "medium", "high"]).optional(),
    /** anthropic extended thinking: token budget (>= 1024). */
    thinking_budget_tokens: z.number().int().min(1024).max(1_000_000).optional(),
    /** USD per million tokens, overriding the built-in price table. */
    prices: z.strictObject({ input_per_million: z.number().min(0), output_per_million: z.number().min(0) }).optional(),
  })
  .superRefine((config, ctx) => {
    if (config.provider !== "scripted" && !config.model) {
      ctx.addIssue({ code: "custom", path: ["model"], message: `is required for provider ${config.provider}` });
    }
    if (config.api && config.provider !== "openai") {
      ctx.addIssue({ code: "custom", path: ["api"], message: "is only for provider openai" });
    }
    const seen = new Set<string>();
    config.tools.forEach((tool, i) => {
      const name = typeof tool === "string" ? tool : tool.name;
      if (seen.has(name)) ctx.addIssue({ code: "custom", path: ["tools", i, "name"], message: `"${name}" is declared twice` });
      seen.add(name);
      if (typeof tool === "object" && tool.type === "http" && !tool.url) {
        ctx.addIssue({ code: "custom", path: ["tools", i, "url"], message: "is required for an http tool" });
      }
      if (typeof tool === "object" && tool.type === "builtin" && !(BUILTIN_TOOLS as readonly string[]).includes(tool.name)) {
        ctx.addIssue({ code: "custom", path: ["tools", i, "name"], message: `"${tool.name}" is not a built-in tool; set "type": "http" for a remote tool` });
      }
    });
  });
export type AgentConfig = z.infer<typeof AgentConfigSchema>;

const MessageSchema = z.looseObject({
  id: z.string().optional(),
  role: z.enum(["user", "assistant", "system", "developer", "tool"]),
  content: z.union([z.string(), z.array(z.unknown()), z.null()]).optional(),
  toolCalls: z.array(z.unknown()).optional(),
  toolCallId: z.string().optional(),
});
export type InputMessage = z.infer<typeof MessageSchema>;

export const RunInputSchema = z
  .looseObject({
    messages: z.array(MessageSchema),
    state: z.record(z.string(), z.unknown()).nullable().optional(),
    context: z.array(z.unknown()).optional(),
    tools: z.array(z.looseObject({ name: z.string(), description: z.string().optional(), parameters: z.unknown().optional() })).optional(),
    resume: z.array(z.unknown()).optional(),
  })
  .superRefine((input, ctx) => {
    if (input.messages.length === 0 && !input.resume) {
      ctx.addIssue({ code: "custom", path: ["messages"], message: "must hold at least one message" });
    }
    input.messages.forEach((m, i) => {
      if (["user", "system", "developer"].includes(m.role) && typeof m.content !== "string" && !Array.isArray(m.content)) {
        ctx.addIssue({ code: "custom", path: ["messages", i, "content"], message: "must be a string" });
      }
      if (m.role === "tool" && (typeof m.toolCallId !== "string" || typeof m.content !== "string")) {
        ctx.addIssue({ code: "custom", path: ["messages", i], message: 'a tool message needs "toolCallId" and "content" strings' });
      }
    });
  });
export type RunInput = z.infer<typeof RunInputSchema>;

/** The payload of a `run_step` job. */
export const StepJobPayloadSchema = z.object({ run_id: z.uuid(), seq: z.number().int().min(1) });
export type StepJobPayload = z.infer<typeof StepJobPayloadSchema>;

export const ToolCallSchema = z.object({ id: z.string(), name: z.string(), arguments: z.record(z.string(), z.unknown()) });
export type ToolCall = z.infer<typeof ToolCallSchema>;

export const UsageSchema = z.object({
  input_tokens: z.number().int().min(0),
  output_tokens: z.number().int().min(0),
  cost_usd: z.number().min(0),
});
export type Usage = z.infer<typeof UsageSchema>;

/** What an `llm` step commits: the assistant message the model produced. */
export const LlmOutputSchema = z.object({
  message_id: z.string(),
  text: z.string(),
  reasoning: z.string().optional(),
  tool_calls: z.array(ToolCallSchema),
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

/** zod issues as one line that names each field: `max_steps: Too big...; tools[1].url: ...`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path
        .map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
        .join("");
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join("; ");
}

export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, what: string, code?: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new ValidationError(`invalid ${what}: ${describeIssues(result.error)}`, { code });
  return result.data;
}
