// The deterministic built-in model (README, "Agent config"): script[k] is its reply to
// its k-th call within a run. Used for offline demos, tests and benchmarks; it streams, fails
// on request and reports token counts like a real provider.
import { randomUUID } from "node:crypto";
import type { ScriptTurn } from "./scripted.config.ts";
import { sleep } from "../../lib/sleep.ts";
import { configOf, ProviderError, type ChatMessage, type LlmRequest, type LlmResult, type LlmStreamHandlers, type Provider } from "./types.ts";

const CHUNK_CHARS = 12;

function chunks(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += CHUNK_CHARS) out.push(text.slice(i, i + CHUNK_CHARS));
  return out;
}

function tokens(chars: number): number {
  return Math.ceil(chars / 4);
}

function lastUserText(messages: ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role === "user") return m.content;
  }
  return "";
}

function injectedError(turn: ScriptTurn): ProviderError {
  switch (turn.error) {
    case "rate_limit":
      return new ProviderError("scripted provider: rate limited (429)", { retryable: true, status: 429, code: "rate_limit" });
    case "server_error":
      return new ProviderError("scripted provider: server error (500)", { retryable: true, status: 500, code: "server_error" });
    case "timeout":
      return new ProviderError("scripted provider: the call timed out", { retryable: true, code: "timeout" });
    default:
      return new ProviderError("scripted provider: bad request (400)", { retryable: false, status: 400, code: "bad_request" });
  }
}

type Schema = Record<string, unknown>;
const MAX_SCHEMA_DEPTH = 32;

function isSchema(value: unknown): value is Schema {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The schema a local `$ref` ("#/$defs/x", "#/definitions/x") points to in `root`. */
function resolveRef(ref: string, root: Schema): unknown {
  if (!ref.startsWith("#")) return undefined;
  let at: unknown = root;
  for (const raw of ref.slice(1).split("/").slice(1)) {
    const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    at = isSchema(at) ? at[key] : undefined;
  }
  return at;
}

/**
 * The smallest value matching `schema`, for the scripted provider's answers past the end of its
 * script when the agent has an output_schema (so scripted batch benchmarks with a schema succeed):
 * const, else the first enum value, else by type: an object with its required properties, as many
 * items as minItems, a string of minLength "a"s, the minimum (or 0), false, null. The first option
 * of anyOf/oneOf; allOf merged. Patterns and formats are not honoured: a schema that needs them
 * gets a value the engine rejects, as it would a model's. The schema is a workspace's: one budget
 * of values and characters bounds the whole answer (a schema whose required properties refer back
 * to the root grows tenfold a level), and past it the rest is null, also a value the engine rejects.
 */
interface MinimalBudget {
  values: number;
  chars: number;
}

export function minimalValue(schema: unknown, root: Schema, depth = 0, budget: MinimalBudget = { values: 10_000, chars: 100_000 }): unknown {
  if (!isSchema(schema) || depth > MAX_SCHEMA_DEPTH || --budget.values < 0) return null;
  if (typeof schema.$ref === "string") return minimalValue(resolveRef(schema.$ref, root), root, depth + 1, budget);
  if ("const" in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  for (const key of ["anyOf", "oneOf"] as const) {
    const options = schema[key];
    if (Array.isArray(options) && options.length > 0) return minimalValue({ ...schema, [key]: undefined, ...(options[0] as Schema) }, root, depth + 1, budget);
  }
  if (Array.isArray(schema.allOf) && schema.allOf.length > 0) {
    const parts = schema.allOf.filter(isSchema);
    const merged: Schema = { ...schema, allOf: undefined };
    for (const part of parts) {
      Object.assign(merged, part, {
        properties: { ...(merged.properties as Schema | undefined), ...(part.properties as Schema | undefined) },
        required: [...((merged.required as unknown[] | undefined) ?? []), ...((part.required as unknown[] | undefined) ?? [])],
      });
    }
    return minimalValue(merged, root, depth + 1, budget);
  }
  const types = Array.isArray(schema.type) ? (schema.type as unknown[]) : [schema.type];
  let type = types.find((t) => typeof t === "string" && t !== "null") ?? types[0];
  if (type === undefined) type = isSchema(schema.properties) || Array.isArray(schema.required) ? "object" : schema.items ? "array" : "null";
  switch (type) {
    case "object": {
      const properties = isSchema(schema.properties) ? schema.properties : {};
      const out: Record<string, unknown> = {};
      for (const name of Array.isArray(schema.required) ? schema.required : []) {
        if (budget.values <= 0) break;
        if (typeof name === "string") out[name] = minimalValue(properties[name], root, depth + 1, budget);
      }
      return out;
    }
    case "array": {
      const prefix = Array.isArray(schema.prefixItems) ? schema.prefixItems : Array.isArray(schema.items) ? schema.items : [];
      const count = Math.max(typeof schema.minItems === "number" ? schema.minItems : 0, 0);
      const out: unknown[] = [];
      for (let i = 0; i < count && i < 1000 && budget.values > 0; i++)
        out.push(minimalValue(i < prefix.length ? prefix[i] : schema.items, root, depth + 1, budget));
      return out;
    }
    case "string": {
      const length = Math.max(0, Math.min(typeof schema.minLength === "number" ? schema.minLength : 0, budget.chars));
      budget.chars -= length;
      return "a".repeat(length);
    }
    case "number":
    case "integer": {
      let value = 0;
      if (typeof schema.minimum === "number") value = schema.minimum;
      else if (typeof schema.exclusiveMinimum === "number") value = schema.exclusiveMinimum + 1;
      else if (typeof schema.maximum === "number" && schema.maximum < 0) value = schema.maximum;
      else if (typeof schema.exclusiveMaximum === "number" && schema.exclusiveMaximum <= 0) value = schema.exclusiveMaximum - 1;
      return type === "integer" ? Math.ceil(value) : value;
    }
    case "boolean":
      return false;
    default:
      return null;
  }
}

/** The turn past the end of the script: a note (plain agents) or the smallest valid answer (output_schema). */
function endOfScript(request: LlmRequest, length: number): ScriptTurn {
  if (request.outputSchema) return { json: minimalValue(request.outputSchema, request.outputSchema) };
  return { text: `Done: the script has ${length} turn(s) and all were played. Last user message: ${lastUserText(request.messages)}` };
}

/**
 * A compaction's summary call (LlmRequest.purpose): deterministic, about as long as asked
 * (max_tokens), built from the end of what it was given; it costs tokens like any call.
 */
function scriptedSummary(request: LlmRequest, maxTokens: number | undefined, model: string | undefined): LlmResult {
  const given = request.messages.map((m) => m.content).join("\n");
  const budget = Math.max(40, (maxTokens ?? 500) * 4);
  const head = `Summary (scripted) of ${given.length} characters of conversation. Its end: `;
  const text = head + given.slice(-Math.max(0, budget - head.length));
  const promptChars = given.length + (request.config.system_prompt?.length ?? 0);
  return { text, tool_calls: [], usage: { input_tokens: tokens(promptChars), output_tokens: tokens(text.length) }, model: model ?? "scripted" };
}

export class ScriptedProvider implements Provider {
  async complete(request: LlmRequest, handlers: LlmStreamHandlers): Promise<LlmResult> {
    const config = configOf(request, "scripted");
    if (request.purpose === "summary") return scriptedSummary(request, config.max_tokens, config.model);
    const script = config.script;
    const turn: ScriptTurn = script[request.callIndex] ?? endOfScript(request, script.length);
    const delay = turn.delay_ms ?? 0;
    if (turn.error && request.attempt <= (turn.times ?? 1)) {
      if (delay > 0) await sleep(delay, request.signal);
      throw injectedError(turn);
    }

    // a `json` turn answers its JSON text; a `text` turn is replied as is, valid JSON or not
    const text = turn.json !== undefined ? JSON.stringify(turn.json) : (turn.text ?? "");
    const reasoning = turn.reasoning ?? "";
    const calls = (turn.tool_calls ?? []).map((c) => ({ id: `call_${randomUUID()}`, name: c.name, arguments: c.arguments }));
    const pieces: Array<() => void> = [];
    for (const piece of chunks(reasoning)) pieces.push(() => handlers.onReasoningDelta(piece));
    for (const piece of chunks(text)) pieces.push(() => handlers.onTextDelta(piece));
    for (const call of calls) {
      pieces.push(() => handlers.onToolCallStart(call.id, call.name));
      for (const piece of chunks(JSON.stringify(call.arguments))) pieces.push(() => handlers.onToolCallArgs(call.id, piece));
    }
    // delay_ms is spread over the stream, so a slow turn is seen streaming.
    const pause = pieces.length > 0 ? delay / pieces.length : delay;
    if (pieces.length === 0 && delay > 0) await sleep(delay, request.signal);
    for (const emit of pieces) {
      if (pause > 0) await sleep(pause, request.signal);
      else if (request.signal.aborted) throw request.signal.reason;
      emit();
    }

    const promptChars = request.messages.reduce((n, m) => n + m.content.length, 0) + (config.system_prompt?.length ?? 0);
    const outputChars = text.length + reasoning.length + calls.reduce((n, c) => n + c.name.length + JSON.stringify(c.arguments).length, 0);
    return {
      text,
      reasoning: reasoning || undefined,
      tool_calls: calls,
      usage: { input_tokens: tokens(promptChars), output_tokens: tokens(outputChars) },
      model: config.model ?? "scripted",
    };
  }
}
