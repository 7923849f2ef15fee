// The conversation of a run, derived from what is committed: runs' inputs and the outputs of
// committed steps, across the runs of a thread. The next step is planned from the same facts,
// so a job needs to carry nothing but (run_id, seq).
import type { CommittedStep, HistoryEntry } from "../db/sql/beginStep.ts";
import { LlmOutputSchema, RunInputSchema, ToolOutputSchema, type InputMessage, type LlmOutput, type RunInput, type ToolCall } from "../db/schemas.ts";
import type { ChatMessage } from "./providers/types.ts";

export interface Decision {
  approved: boolean;
  /** edited arguments, when the approver changed them */
  arguments?: Record<string, unknown>;
  reason?: string;
}

/**
 * A person's answer to an unknown-outcome interrupt (`outcome-<tool_call_id>`): call the tool
 * again, skip it, or enter its result. `answeredIn`: the run whose input carried the answer (an
 * answer authorizes one call again: tool-step.ts records it with the dispatch).
 */
export interface OutcomeDecision {
  action: "retry" | "skip" | "result";
  result?: string;
  answeredIn: string;
}

export type Plan =
  | { kind: "llm" }
  /**
   * `waited`: a durable wait for this call was committed; `decision`: a human's answer;
   * `turnRunId`: the run whose LLM turn made the call; `outcome`: an answer to the call's
   * unknown-outcome interrupt
   */
  | {
      kind: "tool";
      call: ToolCall;
      parentMessageId: string;
      turnRunId: string;
      waited: boolean;
      decision?: Decision;
      outcome?: OutcomeDecision;
      client?: ClientResult;
    }
  /** end the run: approvals to ask for and client tool calls to hand to the client */
  | { kind: "interrupt"; approvals: ToolCall[]; clientCalls: ToolCall[]; parentMessageId: string };

/**
 * A client tool call's result (AG-UI input.tools). `messageId`: the id of the client's own tool
 * message that carried it (its id, or `<run_id>:input:<i>` for an id-less one, as
 * threadMessageIds and MESSAGES_SNAPSHOT name it): the client holds that message already, so the
 * tool step commits it under that id and streams no TOOL_CALL_RESULT. Absent: the client was asked
 * and continued without answering, and the step's note is news to it.
 */
export interface ClientResult {
  content: string;
  messageId?: string;
}

export interface PlanContext {
  /** tools that need a human's approval before they run */
  needsApproval: (name: string) => boolean;
  /** tools the client executes (AG-UI input.tools) */
  isClientTool: (name: string) => boolean;
}

export const approvalId = (toolCallId: string) => `approval-${toolCallId}`;
/** The id of the interrupt asking what to do with a call whose outcome is unknown after a crash. */
export const outcomeId = (toolCallId: string) => `outcome-${toolCallId}`;

function inputOf(entry: HistoryEntry & { kind: "input" }): RunInput {
  const parsed = RunInputSchema.safeParse(entry.input);
  return parsed.success ? parsed.data : { messages: [] };
}

/** The tools clients declared in the runs of `history` (AG-UI input.tools), by name. */
export function clientTools(history: HistoryEntry[]): Map<string, { name: string; description?: string; parameters?: unknown }> {
  const out = new Map<string, { name: string; description?: string; parameters?: unknown }>();
  for (const e of history) if (e.kind === "input") for (const t of inputOf(e).tools ?? []) out.set(t.name, t);
  return out;
}

/**
 * What the next step is. `history` runs from (at least) the last LLM turn on. Tool calls of
 * that turn run in order; those needing approval wait for a decision, client tools for the
 * client; when only those are left, the run ends interrupted and asks for all of them at once.
 */
/** The index of the last model turn in `history` (its latest succeeded LLM step), or -1. */
export function lastTurnIndex(history: HistoryEntry[]): number {
  for (let i = history.length - 1; i >= 0; i--) {
    const e = history[i]!;
    if (e.kind === "step" && e.step.kind === "llm" && e.step.status === "succeeded") return i;
  }
  return -1;
}

export function planStep(history: HistoryEntry[], ctx: PlanContext): Plan {
  const last = lastTurnIndex(history);
  if (last < 0) return { kind: "llm" };
  const turnEntry = history[last] as HistoryEntry & { step: CommittedStep };
  const turn = LlmOutputSchema.parse(turnEntry.step.output);
  const after = history.slice(last + 1);

  const answered = new Set<string>();
  const waited = new Set<string>();
  const asked = new Set<string>();
  const clientResults = new Map<string, ClientResult>();
  const decisions = new Map<string, Decision>();
  const outcomes = new Map<string, OutcomeDecision>();
  for (const e of after) {
    if (e.kind === "step") {
      const out = e.step.output as Record<string, unknown> | null;
      if (e.step.kind === "tool") answered.add(ToolOutputSchema.parse(e.step.output).tool_call_id);
      if (e.step.kind === "wait" && typeof out?.tool_call_id === "string") waited.add(out.tool_call_id);
      if (e.step.kind === "system" && e.step.name === "interrupt") {
        for (const id of (out?.asked_tool_call_ids as string[] | undefined) ?? []) asked.add(id);
      }
    } else {
      const input = inputOf(e);
      input.messages.forEach((m, i) => {
        // the first answer wins, as the model sees the first (chatMessages)
        if (m.role !== "tool" || !m.toolCallId || clientResults.has(m.toolCallId)) return;
        const content = typeof m.content === "string" ? m.content : JSON.stringify(m.content);
        clientResults.set(m.toolCallId, { content, messageId: m.id ?? `${e.run_id}:input:${i}` });
      });
      for (const raw of input.resume ?? []) {
        const r = raw as {
          interruptId?: string;
          status?: string;
          payload?: { approved?: unknown; arguments?: unknown; reason?: unknown; action?: unknown; result?: unknown };
        };
        if (typeof r.interruptId !== "string") continue;
        const payload = r.payload ?? {};
        if (r.interruptId.startsWith("outcome-")) {
          // no answer, or a cancelled one, skips the call: nothing is run again without a yes
          const action = r.status === "resolved" && (payload.action === "retry" || payload.action === "result") ? payload.action : "skip";
          outcomes.set(r.interruptId, {
            action,
            ...(action === "result" && { result: typeof payload.result === "string" ? payload.result : JSON.stringify(payload.result ?? null) }),
            answeredIn: e.run_id,
          });
          continue;
        }
        decisions.set(r.interruptId, {
          approved: r.status === "resolved" && payload.approved !== false,
          ...(payload.arguments && typeof payload.arguments === "object" ? { arguments: payload.arguments as Record<string, unknown> } : {}),
          ...(typeof payload.reason === "string" ? { reason: payload.reason } : {}),
        });
      }
    }
  }

  const approvals: ToolCall[] = [];
  const clientCalls: ToolCall[] = [];
  for (const call of turn.tool_calls) {
    if (answered.has(call.id)) continue;
    const outcome = outcomes.get(outcomeId(call.id));
    const base = {
      kind: "tool" as const,
      call,
      parentMessageId: turn.message_id,
      turnRunId: turnEntry.run_id,
      waited: waited.has(call.id),
      ...(outcome && { outcome }),
    };
    if (ctx.isClientTool(call.name)) {
      const result = clientResults.get(call.id);
      // the client answered, or was asked and continued the thread without answering
      if (result !== undefined) return { ...base, client: result };
      if (asked.has(call.id)) return { ...base, client: { content: "(the client returned no result for this tool call)" } };
      clientCalls.push(call);
      continue;
    }
    if (ctx.needsApproval(call.name)) {
      const decision = decisions.get(approvalId(call.id));
      if (decision) return { ...base, decision };
      approvals.push(call);
      continue;
    }
    return base;
  }
  if (approvals.length > 0 || clientCalls.length > 0) return { kind: "interrupt", approvals, clientCalls, parentMessageId: turn.message_id };
  return { kind: "llm" };
}

/**
 * The user message that follows a final answer that did not match the agent's output_schema
 * (steps.ts records the problems in that LLM step's `output_errors`). Derived from the committed
 * step, so a retried or resumed run, and a later run of the thread, see the same conversation.
 */
export function outputCorrection(errors: string): string {
  return `Your answer did not match the output schema: ${errors}. Answer again with JSON only.`;
}

function textOf(content: InputMessage["content"]): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((part) => (part && typeof part === "object" && "text" in part && typeof part.text === "string" ? part.text : "")).join("");
  }
  return "";
}

interface AgUiToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

function parseArguments(raw: string): Record<string, unknown> {
  try {
    const value = JSON.parse(raw) as unknown;
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : { value };
  } catch {
    return { _raw: raw };
  }
}

/** The most of a state's JSON the model is shown whole (stateNote); a larger state is summarized. */
export const STATE_NOTE_MAX_CHARS = 4096;

/**
 * What the model is told of a state a client gave: its JSON when at most STATE_NOTE_MAX_CHARS,
 * else its top-level keys (arrays with their lengths), saying it is truncated. Deterministic.
 */
export function stateNote(state: Record<string, unknown>): string {
  const json = JSON.stringify(state);
  if (json.length <= STATE_NOTE_MAX_CHARS) return `(The run's state, as the client set it: ${json})`;
  const keys = Object.keys(state).map((k) => {
    const v = state[k];
    return Array.isArray(v) ? `${JSON.stringify(k)}: array of ${v.length}` : `${JSON.stringify(k)}: ${v === null ? "null" : typeof v}`;
  });
  return `(The run's state, as the client set it, is ${json.length} characters of JSON, too long to show here; truncated to its top-level keys: ${keys.join(", ").slice(0, STATE_NOTE_MAX_CHARS)})`;
}

/**
 * The conversation as provider-neutral messages (the system prompt is added by the provider).
 * Every assistant tool call is followed directly by its result, as the APIs require: results
 * that arrived later (client tools) are moved up, and a call that never got one (a cancelled or
 * failed run) gets a note saying so.
 */
export function chatMessages(history: HistoryEntry[], options: { inputState?: boolean } = {}): ChatMessage[] {
  const raw: Array<ChatMessage | { role: "tool"; tool_call_id: string; content: string; committed: true }> = [];
  for (const e of history) {
    if (e.kind === "input") {
      const input = inputOf(e);
      for (const m of input.messages) {
        if (m.role === "tool") {
          raw.push({ role: "tool", tool_call_id: m.toolCallId ?? "", content: textOf(m.content) });
        } else if (m.role === "assistant") {
          const calls = ((m.toolCalls ?? []) as AgUiToolCall[]).map((c) => ({
            id: c.id,
            name: c.function.name,
            arguments: parseArguments(c.function.arguments),
          }));
          raw.push({ role: "assistant", content: textOf(m.content), tool_calls: calls });
        } else {
          raw.push({ role: m.role, content: textOf(m.content) });
        }
      }
      // A state the client gave with the input (AG-UI RunAgentInput.state) replaces the run's: the
      // model is told it, right after that input, so its patches name paths that exist. Part of
      // the input, it is the same bytes on every call (prompt caching, replays keep their prefix).
      if (options.inputState && input.state && Object.keys(input.state).length > 0) raw.push({ role: "user", content: stateNote(input.state) });
    } else if (e.step.status === "succeeded" && e.step.kind === "llm") {
      const o = LlmOutputSchema.parse(e.step.output);
      raw.push({ role: "assistant", content: o.text, tool_calls: o.tool_calls, ...(o.replay && { replay: { ...o.replay, data: o.replay.data } }) });
      if (o.output_errors !== undefined) raw.push({ role: "user", content: outputCorrection(o.output_errors), output_correction: { run_id: e.run_id } });
    } else if (e.step.status === "succeeded" && e.step.kind === "tool") {
      const o = ToolOutputSchema.parse(e.step.output);
      raw.push({ role: "tool", tool_call_id: o.tool_call_id, content: o.content, committed: true });
    }
  }
  // A call's result: its committed tool step's (a client's answer is committed as one too), else
  // the first tool message of an input for it (a conversation a client brought along); a tool
  // message naming a call the engine ran itself does not replace what the tool returned.
  const results = new Map<string, ChatMessage>();
  for (const pass of [true, false]) {
    for (const m of raw) {
      if (m.role !== "tool" || "committed" in m !== pass || results.has(m.tool_call_id)) continue;
      results.set(m.tool_call_id, { role: "tool", tool_call_id: m.tool_call_id, content: m.content });
    }
  }
  const out: ChatMessage[] = [];
  for (const m of raw) {
    if (m.role === "tool") continue;
    out.push(m);
    if (m.role === "assistant") {
      for (const call of m.tool_calls) {
        out.push(results.get(call.id) ?? { role: "tool", tool_call_id: call.id, content: "(no result: the run ended before this tool call completed)" });
        results.delete(call.id);
      }
    }
  }
  return out;
}

/**
 * The committed conversation as AG-UI messages, for MESSAGES_SNAPSHOT. A client tool's result is
 * the client's own tool message in the run's input; the tool step that committed it (under the
 * same id; in threads from before it kept the client's id, under a new one with the same
 * content) is not listed again. A tool's own result is always listed.
 */
export function agUiMessages(history: HistoryEntry[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const listed = new Set<string>();
  /** the contents clients sent for a call (threads from before a client's answer kept its id) */
  const sent = new Map<string, Set<string>>();
  for (const e of history) {
    if (e.kind === "input") {
      inputOf(e).messages.forEach((m, i) => {
        const id = m.id ?? `${e.run_id}:input:${i}`;
        if (m.role === "tool" && m.toolCallId) {
          const contents = sent.get(m.toolCallId) ?? new Set<string>();
          contents.add(typeof m.content === "string" ? m.content : JSON.stringify(m.content));
          sent.set(m.toolCallId, contents);
        }
        listed.add(id);
        out.push({ ...m, id });
      });
    } else if (e.step.status === "succeeded" && e.step.kind === "llm") {
      const o: LlmOutput = LlmOutputSchema.parse(e.step.output);
      out.push({
        id: o.message_id,
        role: "assistant",
        content: o.text,
        ...(o.tool_calls.length > 0 && {
          toolCalls: o.tool_calls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: JSON.stringify(c.arguments) } })),
        }),
      });
      if (o.output_errors !== undefined) out.push({ id: `${o.message_id}:correction`, role: "user", content: outputCorrection(o.output_errors) });
    } else if (e.step.status === "succeeded" && e.step.kind === "tool") {
      const o = ToolOutputSchema.parse(e.step.output);
      // the client's own message, listed from the input already; a tool's own result always is
      if (listed.has(o.message_id) || sent.get(o.tool_call_id)?.has(o.content)) continue;
      listed.add(o.message_id);
      out.push({ id: o.message_id, role: "tool", toolCallId: o.tool_call_id, content: o.content });
    }
  }
  return out;
}
