// The spans of a run, built from its checkpoint rows (db/sql/readRunTraces.ts), never from an
// in-memory tracer: what a killed worker was doing is in run_attempts, so its attempt is a span
// too (status ERROR, everruns.attempt.outcome worker_died), sent by whichever worker exports next.
//
// Shape (docs/observability.md, "Traces"):
//   invoke_agent <agent>                      the run (root): created_at .. finished_at
//   ├─ chat <model>                           an LLM step's attempt (gen_ai.* attributes, token usage)
//   ├─ execute_tool <tool>                    a tool step's attempt
//   ├─ wait <name> / state <name> / ...       other steps' attempts
//   └─ ...
// Every attempt of every step is one span, a child of the root: a step's failed attempts are its
// committed attempt's siblings, before it in time, and the committed attempt carries a "retry"
// event per attempt before it. Ids are deterministic (lib/tracing/ids.ts).
import { createTraceState, SpanKind, SpanStatusCode, type Attributes, type HrTime, type SpanContext, type TraceState } from "@opentelemetry/api";
import type { Resource } from "@opentelemetry/resources";
import type { ReadableSpan, TimedEvent } from "@opentelemetry/sdk-trace";
import { ATTR_ERROR_TYPE } from "@opentelemetry/semantic-conventions";
import {
  ATTR_GEN_AI_AGENT_ID,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_AGENT_VERSION,
  ATTR_GEN_AI_CONVERSATION_ID,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_SYSTEM,
  ATTR_GEN_AI_TOOL_CALL_ID,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  GEN_AI_OPERATION_NAME_VALUE_CHAT,
  GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL,
  GEN_AI_OPERATION_NAME_VALUE_INVOKE_AGENT,
} from "@opentelemetry/semantic-conventions/incubating";
import { attemptSpanId, parseTraceparent, rootSpanId, runTraceId } from "./ids.ts";

/** The rows a run's spans come from (db/sql/readRunTraces.ts RunTraceRows; restated here: lib/ imports no db/). */
export interface RunTrace {
  id: string;
  workspace_id: string;
  agent_id: string;
  agent_name: string;
  agent_version: number;
  agent_kind: string | null;
  provider: string | null;
  model: string | null;
  thread_id: string;
  status: string;
  error: unknown;
  usage: Record<string, unknown> | null;
  trace_parent: string | null;
  /** the W3C tracestate of the trace it continues (runs.trace_state), on every span; absent or null: none */
  trace_state?: string | null;
  created_us: number;
  finished_us: number | null;
  attempts: ReadonlyArray<{
    seq: number;
    attempt: number;
    step_kind: string | null;
    step_name: string | null;
    pool_id: string | null;
    hostname: string | null;
    worker_pid: number | null;
    started_us: number;
    ended_us: number | null;
    freed_us: number | null;
    outcome: string | null;
    error: unknown;
  }>;
  steps: ReadonlyArray<{
    seq: number;
    kind: string;
    name: string;
    status: string;
    attempt: number;
    tool_call_id: string | null;
    response_model: string | null;
    usage: Record<string, unknown> | null;
    error: unknown;
    started_us: number;
    finished_us: number;
  }>;
}

export interface SpanOptions {
  resource: Resource;
  /** OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental: only the latest GenAI names (no gen_ai.system) */
  genAiLatest: boolean;
  /** the root span too (the run ended) */
  root: boolean;
}

const SCOPE = { name: "everruns", version: "1" };

/** Outcomes of an attempt that did not commit and failed: its span's status is ERROR. */
const FAILED_OUTCOMES: Record<string, string> = {
  worker_died: "its worker died (the sweeper freed its job)",
  fenced_out: "a newer attempt took the step over",
  retried: "a transient error; the step was retried",
};

function hr(us: number): HrTime {
  const seconds = Math.floor(us / 1_000_000);
  return [seconds, Math.round((us - seconds * 1_000_000) * 1000)];
}

function duration(startUs: number, endUs: number): HrTime {
  return hr(Math.max(0, endUs - startUs));
}

/** `{code, message}` of an error column, as far as it has them. */
function errorOf(value: unknown): { code?: string; message?: string } {
  if (!value || typeof value !== "object") return typeof value === "string" ? { message: value } : {};
  const v = value as Record<string, unknown>;
  const nested = v.error && typeof v.error === "object" ? (v.error as Record<string, unknown>) : undefined;
  const code = v.code ?? nested?.code;
  const message = v.message ?? nested?.message;
  return { ...(typeof code === "string" && { code }), ...(typeof message === "string" && { message }) };
}

function tokens(usage: Record<string, unknown> | null, key: string): number | undefined {
  const n = Number(usage?.[key]);
  return Number.isFinite(n) && usage?.[key] !== undefined ? n : undefined;
}

function withoutUndefined(attributes: Record<string, string | number | boolean | undefined | null>): Attributes {
  return Object.fromEntries(Object.entries(attributes).filter(([, v]) => v !== undefined && v !== null));
}

/** Sets attribute `key` unless `value` is undefined or null. */
function put(attributes: Attributes, key: string, value: string | number | boolean | undefined | null): void {
  if (value !== undefined && value !== null) attributes[key] = value;
}

function span(
  trace: { traceId: string; traceState?: TraceState; resource: Resource },
  s: {
    name: string;
    kind: SpanKind;
    spanId: string;
    parent?: SpanContext;
    startUs: number;
    endUs: number;
    attributes: Attributes;
    status: { code: SpanStatusCode; message?: string };
    events?: TimedEvent[];
  },
): ReadableSpan {
  const context: SpanContext = { traceId: trace.traceId, spanId: s.spanId, traceFlags: 1, ...(trace.traceState && { traceState: trace.traceState }) };
  const endUs = Math.max(s.startUs, s.endUs);
  return {
    name: s.name,
    kind: s.kind,
    spanContext: () => context,
    ...(s.parent && { parentSpanContext: s.parent }),
    startTime: hr(s.startUs),
    endTime: hr(endUs),
    duration: duration(s.startUs, endUs),
    status: s.status,
    attributes: s.attributes,
    links: [],
    events: s.events ?? [],
    ended: true,
    resource: trace.resource,
    instrumentationScope: SCOPE,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/** The provider attributes: gen_ai.provider.name, and before the opt-in also its former name gen_ai.system. */
function providerAttributes(provider: string | null, genAiLatest: boolean): Record<string, string | undefined> {
  if (!provider) return {};
  return { [ATTR_GEN_AI_PROVIDER_NAME]: provider, ...(!genAiLatest && { [ATTR_GEN_AI_SYSTEM]: provider }) };
}

/** The span of each attempt in `run.attempts` (and the root span when `options.root`), children of the root. */
export function buildRunSpans(run: RunTrace, options: SpanOptions): ReadableSpan[] {
  const traceId = runTraceId(run.id, run.trace_parent);
  // the caller's tracestate, unchanged (validated when stored: lib/tracing/tracestate.ts), on every span
  const traceState = run.trace_state ? createTraceState(run.trace_state) : undefined;
  const trace = { traceId, resource: options.resource, ...(traceState && { traceState }) };
  const rootId = rootSpanId(run.id);
  // the flags (sampled or not) of the trace the run continues, else sampled
  const root: SpanContext = {
    traceId,
    spanId: rootId,
    traceFlags: parseTraceparent(run.trace_parent)?.flags ?? 1,
    ...(traceState && { traceState }),
  };
  const steps = new Map(run.steps.map((s) => [s.seq, s]));
  // each step's attempts (the retry events of its committed one)
  const attemptsOf = new Map<number, Array<RunTrace["attempts"][number]>>();
  for (const a of run.attempts) {
    const list = attemptsOf.get(a.seq);
    if (list) list.push(a);
    else attemptsOf.set(a.seq, [a]);
  }
  const out: ReadableSpan[] = [];
  const provider = providerAttributes(run.provider, options.genAiLatest);

  for (const a of run.attempts) {
    const step = steps.get(a.seq);
    const committed = a.outcome === "committed" && step !== undefined && step.attempt === a.attempt;
    const kind = step?.kind ?? a.step_kind ?? null;
    const name = step?.name ?? a.step_name ?? null;
    const model = step?.response_model ?? run.model ?? name ?? "";
    // a compaction step may call another model than the agent's (context.summary_model): the one it names
    const requestModel = kind === "compaction" ? (step?.response_model ?? run.model) : run.model;
    const operation =
      kind === "llm" || kind === "compaction" ? GEN_AI_OPERATION_NAME_VALUE_CHAT : kind === "tool" ? GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL : undefined;
    const spanName =
      operation === GEN_AI_OPERATION_NAME_VALUE_CHAT
        ? `chat ${requestModel ?? model}`
        : operation === GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL
          ? `execute_tool ${name}`
          : kind
            ? `${kind} ${name ?? ""}`.trim()
            : `step ${a.seq}`;
    const endUs = a.ended_us ?? a.freed_us ?? (committed ? step.finished_us : null) ?? run.finished_us ?? a.started_us;
    const error = errorOf(committed ? step.error : a.error);
    let status: { code: SpanStatusCode; message?: string };
    if (committed) {
      status = step.status === "failed" ? { code: SpanStatusCode.ERROR, message: error.message ?? `step ${a.seq} failed` } : { code: SpanStatusCode.UNSET };
    } else if (a.outcome && FAILED_OUTCOMES[a.outcome]) {
      status = { code: SpanStatusCode.ERROR, message: error.message ?? `attempt ${a.attempt} of step ${a.seq} did not commit: ${FAILED_OUTCOMES[a.outcome]}` };
    } else if (a.outcome === null) {
      status = { code: SpanStatusCode.ERROR, message: `attempt ${a.attempt} of step ${a.seq} did not finish before the run ended (${run.status})` };
    } else {
      status = { code: SpanStatusCode.UNSET }; // handed_back: its worker shut down and gave the step back
    }
    // the attempts before a committed one: "retry" events on it
    const events: TimedEvent[] = committed
      ? (attemptsOf.get(a.seq) ?? [])
          .filter((b) => b.attempt < a.attempt && b.outcome !== null && b.outcome !== "committed")
          .map((b) => {
            const e = errorOf(b.error);
            return {
              name: "retry",
              time: hr(b.ended_us ?? b.freed_us ?? b.started_us),
              attributes: withoutUndefined({
                "everruns.attempt": b.attempt,
                "everruns.attempt.outcome": b.outcome,
                [ATTR_ERROR_TYPE]: e.code ?? b.outcome ?? undefined,
                "exception.message": e.message,
              }),
            };
          })
      : [];
    const llm = operation === GEN_AI_OPERATION_NAME_VALUE_CHAT;
    // set one by one, absent values left out (a span per step attempt: no spreads, no filtering pass)
    const attributes: Attributes = {};
    if (operation) attributes[ATTR_GEN_AI_OPERATION_NAME] = operation;
    if (llm) {
      Object.assign(attributes, provider);
      put(attributes, ATTR_GEN_AI_REQUEST_MODEL, requestModel);
      if (committed) {
        put(attributes, ATTR_GEN_AI_RESPONSE_MODEL, step.response_model);
        put(attributes, ATTR_GEN_AI_USAGE_INPUT_TOKENS, tokens(step.usage, "input_tokens"));
        put(attributes, ATTR_GEN_AI_USAGE_OUTPUT_TOKENS, tokens(step.usage, "output_tokens"));
        put(attributes, "gen_ai.usage.cache_read.input_tokens", tokens(step.usage, "cache_read_tokens"));
        put(attributes, "gen_ai.usage.cache_creation.input_tokens", tokens(step.usage, "cache_write_tokens"));
        put(attributes, "everruns.usage.cost_usd", tokens(step.usage, "cost_usd"));
      }
    }
    if (operation === GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL) {
      put(attributes, ATTR_GEN_AI_TOOL_NAME, name);
      put(attributes, ATTR_GEN_AI_TOOL_CALL_ID, step?.tool_call_id);
    }
    if (operation === undefined && kind === "wait" && step?.tool_call_id) attributes[ATTR_GEN_AI_TOOL_CALL_ID] = step.tool_call_id;
    attributes[ATTR_GEN_AI_CONVERSATION_ID] = run.thread_id;
    attributes["everruns.run.id"] = run.id;
    attributes["everruns.workspace.id"] = run.workspace_id;
    attributes["everruns.step.seq"] = a.seq;
    put(attributes, "everruns.step.kind", kind);
    put(attributes, "everruns.step.name", name);
    if (committed) attributes["everruns.step.status"] = step.status;
    attributes["everruns.attempt"] = a.attempt;
    attributes["everruns.attempt.outcome"] = a.outcome ?? "unfinished";
    put(attributes, "everruns.worker.pool_id", a.pool_id);
    put(attributes, "everruns.worker.hostname", a.hostname);
    put(attributes, "everruns.worker.pid", a.worker_pid);
    if (status.code === SpanStatusCode.ERROR) attributes[ATTR_ERROR_TYPE] = error.code ?? a.outcome ?? "error";
    out.push(
      span(trace, {
        name: spanName,
        kind: llm ? SpanKind.CLIENT : SpanKind.INTERNAL,
        spanId: attemptSpanId(run.id, a.seq, a.attempt),
        parent: root,
        startUs: a.started_us,
        endUs,
        attributes,
        status,
        events,
      }),
    );
  }

  if (options.root && run.finished_us !== null) {
    const incoming = parseTraceparent(run.trace_parent);
    const error = errorOf(run.error);
    const failed = run.status === "failed";
    out.push(
      span(trace, {
        name: `${GEN_AI_OPERATION_NAME_VALUE_INVOKE_AGENT} ${run.agent_name}`,
        kind: SpanKind.INTERNAL,
        spanId: rootId,
        ...(incoming && { parent: { traceId, spanId: incoming.spanId, traceFlags: incoming.flags, isRemote: true, ...(traceState && { traceState }) } }),
        startUs: run.created_us,
        endUs: run.finished_us,
        attributes: withoutUndefined({
          [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION_NAME_VALUE_INVOKE_AGENT,
          [ATTR_GEN_AI_AGENT_NAME]: run.agent_name,
          [ATTR_GEN_AI_AGENT_ID]: run.agent_id,
          [ATTR_GEN_AI_AGENT_VERSION]: String(run.agent_version),
          [ATTR_GEN_AI_CONVERSATION_ID]: run.thread_id,
          ...provider,
          [ATTR_GEN_AI_REQUEST_MODEL]: run.model ?? undefined,
          [ATTR_GEN_AI_USAGE_INPUT_TOKENS]: tokens(run.usage, "input_tokens"),
          [ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]: tokens(run.usage, "output_tokens"),
          "everruns.usage.cost_usd": tokens(run.usage, "cost_usd"),
          "everruns.run.id": run.id,
          "everruns.workspace.id": run.workspace_id,
          "everruns.run.status": run.status,
          "everruns.agent.kind": run.agent_kind ?? "agent",
          ...(failed && { [ATTR_ERROR_TYPE]: error.code ?? "failed" }),
        }),
        status: failed ? { code: SpanStatusCode.ERROR, message: error.message ?? "the run failed" } : { code: SpanStatusCode.UNSET },
      }),
    );
  }
  return out;
}
