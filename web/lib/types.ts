// The console's client-side types. The GraphQL types (results and variables of every operation,
// the fragments RunRowFields, RunFields, ParentFinished, RunStepFields) are generated from
// api/schema.graphql into lib/gql/graphql.ts; what is here is what the schema cannot say:
// the shape of the JSON documents Everruns stores (the schema's `JSON` scalar is `unknown`),
// narrowed with a light check where the console reads them, and the AG-UI events.
import type { RunEventsSubscription } from "./gql/graphql";

export const RUN_STATUSES = ["queued", "running", "waiting", "interrupted", "succeeded", "failed", "cancelled"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const TERMINAL_STATUSES: readonly string[] = ["succeeded", "failed", "cancelled"];
/** Statuses after which a run does nothing more by itself (interrupted waits for an answer). */
export const isSettled = (status: string) => TERMINAL_STATUSES.includes(status) || status === "interrupted";

/** Drops the nulls of a GraphQL list (PostGraphile's connection `nodes` are `[T]!`). */
export function present<T>(items: ReadonlyArray<T | null | undefined> | null | undefined): T[] {
  return (items ?? []).filter((item): item is T => item != null);
}

type JsonObject = Record<string, unknown>;
const isObject = (value: unknown): value is JsonObject => typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * runs.usage, run_steps.usage. cache_read_tokens and cache_write_tokens are parts of
 * input_tokens (read from / written to the provider's prompt cache), reasoning_tokens a part of
 * output_tokens; each is absent where the provider reported none.
 */
export interface Usage {
  input_tokens?: number;
  output_tokens?: number;
  cache_read_tokens?: number;
  cache_write_tokens?: number;
  reasoning_tokens?: number;
  cost_usd?: number;
}
const USAGE_FIELDS = ["input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost_usd"] as const;
/** Keeps the fields that are finite numbers: a usage document written by an older worker lacks the categories. */
export const usageOf = (json: unknown): Usage => {
  if (!isObject(json)) return {};
  const usage: Usage = {};
  for (const field of USAGE_FIELDS) {
    const value = json[field];
    if (typeof value === "number" && Number.isFinite(value)) usage[field] = value;
  }
  return usage;
};

/** runs.error, run_steps.error */
export interface RunError {
  code?: string;
  message?: string;
}
export const runErrorOf = (json: unknown): RunError | null => (isObject(json) ? json : null);

export interface InputMessage {
  id?: string;
  /** "user" | "assistant" | "system" | "developer" | "tool", or a role a newer client sends */
  role: string;
  content?: unknown;
  toolCallId?: string;
}

/** runs.input: a subset of AG-UI RunAgentInput; a continuation run carries `resume`. */
export interface RunInput {
  messages?: InputMessage[];
  state?: unknown;
  context?: unknown[];
  tools?: unknown[];
  resume?: ResumeAnswer[];
}
export const runInputOf = (json: unknown): RunInput | null => (isObject(json) ? json : null);

/** agents.config (validated by the API; the console only reads a few fields) */
export interface AgentConfig {
  provider?: string;
  model?: string;
  system_prompt?: string;
  tools?: Array<string | { name: string; [k: string]: unknown }>;
  max_steps?: number;
  [key: string]: unknown;
}
export const agentConfigOf = (json: unknown): AgentConfig => (isObject(json) ? json : {});

/** An AG-UI event object (run_events.event): `type` plus the fields of that event type. */
export interface AgUiEvent {
  type: string;
  [field: string]: unknown;
}
export const agUiEventOf = (json: unknown): AgUiEvent | null => (isObject(json) && typeof json.type === "string" ? (json as AgUiEvent) : null);

/** A runEvents subscription message, its event narrowed to an AG-UI event. */
export type RunEventMessage = Omit<NonNullable<RunEventsSubscription["runEvents"]>, "event"> & { event: AgUiEvent };

/** AG-UI interrupt (RUN_FINISHED.outcome.interrupts[]) */
export interface Interrupt {
  id: string;
  reason?: string;
  message?: string;
  toolCallId?: string;
  metadata?: { toolName?: string; arguments?: Record<string, unknown> } & Record<string, unknown>;
}

/** An answer to one interrupt (resumeRun's `resume` entries). */
export interface ResumeAnswer {
  interruptId: string;
  status: "resolved" | "cancelled";
  /** reason: why a rejection rejected (the model is told; the audit log keeps it too) */
  payload?: { approved: boolean; arguments?: Record<string, unknown>; reason?: string };
}

/** runs.waiting: what a waiting run waits for (an event by name, or a timer until `until`). */
export interface Waiting {
  type?: string;
  until?: string;
  name?: string;
  tool_call_id?: string;
  /** a `children` wait (sub-agents, 000033): the unfinished children, and the calls not started yet */
  active?: number;
  unstarted?: number;
}
export const waitingOf = (json: unknown): Waiting | null => (isObject(json) ? json : null);

/** run_attempts.outcome (000013); null while the attempt runs. */
export type AttemptOutcome = "committed" | "worker_died" | "fenced_out" | "retried" | "handed_back";
