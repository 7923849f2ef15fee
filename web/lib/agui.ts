// A run's conversation, folded from its AG-UI event log as the events arrive: assistant text
// token by token, reasoning, tool calls with their arguments and results, retries, errors and
// interrupts. Pure functions over immutable state, so React can re-render on each event.
// An answer to a question about a call whose outcome is unknown (issue 17: `outcome-<tool_call_id>`,
// {action: "retry" | "skip" | "result", result?}) is read by the worker's rule (outcomeAnswerOf),
// so the console says "called again", "skipped" or "result entered", never "approved".
import { textOf } from "./format";
import type { AgUiEvent, InputMessage, Interrupt, ResumeAnswer, RunEventMessage } from "./types";

/** The reason of an interrupt asking what to do with a call whose outcome is unknown (worker/tool-step.ts). */
export const OUTCOME_UNKNOWN_REASON = "tool_outcome_unknown";

/**
 * Whether an interrupt asks what to do with a call whose outcome is unknown: its reason, or its
 * id `outcome-<tool_call_id>` (the worker's rule, worker/conversation.ts; the same rule as
 * isOutcomeInterrupt in components/OutcomeAnswer.tsx, kept here so lib and the approval
 * components need not import a component).
 */
export const isOutcomeQuestion = (i: Pick<Interrupt, "id" | "reason">): boolean => i.reason === OUTCOME_UNKNOWN_REASON || i.id.startsWith("outcome-");

export type OutcomeAnswerAction = "retry" | "skip" | "result";

/** What a person answered to an unknown-outcome question: call again, skip, or this result. */
export interface OutcomeAnswerOf {
  action: OutcomeAnswerAction;
  /** action "result": the text the agent sees as the tool's answer */
  result: string | null;
}

/**
 * The outcome answer of one resume entry, or null when it answers an approval. The worker's rule
 * (worker/conversation.ts): an answer to `outcome-…` (or any payload with an `action`) calls again
 * or takes the result only when resolved with that action; anything else (cancelled, no action)
 * skips the call.
 */
export function outcomeAnswerOf(answer: { interruptId?: unknown; status?: unknown; payload?: unknown }): OutcomeAnswerOf | null {
  const payload = (answer.payload && typeof answer.payload === "object" ? answer.payload : {}) as { action?: unknown; result?: unknown };
  const isOutcome = (typeof answer.interruptId === "string" && answer.interruptId.startsWith("outcome-")) || typeof payload.action === "string";
  if (!isOutcome) return null;
  const action: OutcomeAnswerAction = answer.status === "resolved" && (payload.action === "retry" || payload.action === "result") ? payload.action : "skip";
  if (action !== "result") return { action, result: null };
  return { action, result: typeof payload.result === "string" ? payload.result : JSON.stringify(payload.result ?? null) };
}

export type ConversationItem =
  | { kind: "user"; key: string; text: string }
  | { kind: "system"; key: string; text: string }
  /** `outcome`: the answer to an unknown-outcome question (null: an approval's answer) */
  | { kind: "resume"; key: string; answers: Array<ResumeAnswer & { interrupt?: Interrupt; outcome: OutcomeAnswerOf | null }> }
  | { kind: "assistant"; key: string; messageId: string; text: string; streaming: boolean }
  | { kind: "reasoning"; key: string; messageId: string; text: string; streaming: boolean }
  | { kind: "tool"; key: string; toolCallId: string; name: string; args: string; result: string | null; streaming: boolean }
  | { kind: "retry"; key: string; step: number | null; attempt: number | null; maxAttempts: number | null; delayMs: number | null; error: string }
  | { kind: "error"; key: string; message: string; code: string | null }
  | { kind: "interrupt"; key: string; interrupts: Interrupt[] }
  | { kind: "cancelled"; key: string };

export interface Conversation {
  items: ConversationItem[];
  /** the last seq folded in (0: none) */
  lastSeq: number;
  /** RUN_FINISHED or RUN_ERROR seen */
  ended: boolean;
  interrupts: Interrupt[] | null;
}

/**
 * What a run starts from: its input messages and, for a continuation run, the answers it
 * carries with the interrupts they answer (the parent's), so the tool calls they approved (or, for
 * an unknown outcome, answered: each gets its result in this run) show with their name and
 * arguments when this run's results arrive.
 */
export function initialConversation(
  input: { messages?: InputMessage[]; resume?: ResumeAnswer[] } | null | undefined,
  parentInterrupts: Interrupt[] | null = null,
): Conversation {
  const items: ConversationItem[] = [];
  (input?.messages ?? []).forEach((m, i) => items.push(...fromInputMessage(m, `in-${i}`)));
  if (input?.resume?.length) {
    const answers = input.resume.map((a) => ({ ...a, interrupt: parentInterrupts?.find((i) => i.id === a.interruptId), outcome: outcomeAnswerOf(a) }));
    items.push({ kind: "resume", key: "resume", answers });
    for (const a of answers) {
      const i = a.interrupt;
      // an unknown outcome's call gets its result in this run whatever the answer (called again,
      // skipped: an error result, or the entered result); an approval's only when approved
      if (!i?.toolCallId || (!a.outcome && (a.status !== "resolved" || a.payload?.approved === false))) continue;
      const args = a.payload?.arguments ?? i.metadata?.arguments ?? {};
      items.push({
        kind: "tool",
        key: `resume-${i.toolCallId}`,
        toolCallId: i.toolCallId,
        name: i.metadata?.toolName ?? "tool",
        args: JSON.stringify(args),
        result: null,
        streaming: false,
      });
    }
  }
  return { items, lastSeq: 0, ended: false, interrupts: null };
}

function fromInputMessage(m: InputMessage, key: string): ConversationItem[] {
  const text = textOf(m.content);
  if (m.role === "user") return [{ kind: "user", key, text }];
  if (m.role === "system" || m.role === "developer") return [{ kind: "system", key, text }];
  if (m.role === "assistant") {
    const out: ConversationItem[] = [];
    if (text) out.push({ kind: "assistant", key, messageId: m.id ?? key, text, streaming: false });
    const calls = (m as { toolCalls?: Array<{ id: string; function: { name: string; arguments: string } }> }).toolCalls ?? [];
    for (const c of calls)
      out.push({ kind: "tool", key: `${key}-${c.id}`, toolCallId: c.id, name: c.function.name, args: c.function.arguments, result: null, streaming: false });
    return out;
  }
  // a client tool's answer: the continuation commits it under this message's id and streams no
  // TOOL_CALL_RESULT for it (the client has it), so it is shown from the input
  if (m.role === "tool") {
    const toolCallId = (m as { toolCallId?: string }).toolCallId ?? "";
    return [{ kind: "tool", key, toolCallId, name: "tool", args: "", result: text, streaming: false }];
  }
  return [];
}

const str = (v: unknown): string => (typeof v === "string" ? v : "");

function update<K extends ConversationItem["kind"]>(
  items: ConversationItem[],
  kind: K,
  match: (item: Extract<ConversationItem, { kind: K }>) => boolean,
  change: (item: Extract<ConversationItem, { kind: K }>) => Extract<ConversationItem, { kind: K }>,
): ConversationItem[] | null {
  for (let i = items.length - 1; i >= 0; i--) {
    const item = items[i]!;
    if (item.kind === kind && match(item as Extract<ConversationItem, { kind: K }>)) {
      const next = items.slice();
      next[i] = change(item as Extract<ConversationItem, { kind: K }>);
      return next;
    }
  }
  return null;
}

/** Folds a batch of events (in seq order; ones already folded are skipped). */
export function foldEvents(conv: Conversation, events: RunEventMessage[]): Conversation {
  let c = conv;
  for (const e of events) {
    if (e.seq <= c.lastSeq) continue;
    c = { ...foldEvent(c, e.event, e.seq), lastSeq: e.seq };
  }
  return c;
}

function foldEvent(c: Conversation, ev: AgUiEvent, seq: number): Conversation {
  const items = c.items;
  const set = (next: ConversationItem[] | null): Conversation => (next ? { ...c, items: next } : c);
  switch (ev.type) {
    case "TEXT_MESSAGE_START": {
      const messageId = str(ev.messageId);
      return set([...items, { kind: "assistant", key: `m-${messageId}-${seq}`, messageId, text: "", streaming: true }]);
    }
    case "TEXT_MESSAGE_CONTENT":
    case "TEXT_MESSAGE_CHUNK": {
      const messageId = str(ev.messageId);
      const delta = str(ev.delta);
      const next = update(
        items,
        "assistant",
        (m) => m.messageId === messageId,
        (m) => ({ ...m, text: m.text + delta }),
      );
      return set(
        next ?? [...items, { kind: "assistant", key: `m-${messageId}-${seq}`, messageId, text: delta, streaming: ev.type === "TEXT_MESSAGE_CONTENT" }],
      );
    }
    case "TEXT_MESSAGE_END":
      return set(
        update(
          items,
          "assistant",
          (m) => m.messageId === str(ev.messageId),
          (m) => ({ ...m, streaming: false }),
        ),
      );
    case "REASONING_MESSAGE_START":
    case "THINKING_TEXT_MESSAGE_START": {
      const messageId = str(ev.messageId) || `thinking-${seq}`;
      return set([...items, { kind: "reasoning", key: `r-${messageId}-${seq}`, messageId, text: "", streaming: true }]);
    }
    case "REASONING_MESSAGE_CONTENT":
    case "REASONING_MESSAGE_CHUNK":
    case "THINKING_TEXT_MESSAGE_CONTENT": {
      const messageId = str(ev.messageId);
      const delta = str(ev.delta);
      const next = update(
        items,
        "reasoning",
        (m) => !messageId || m.messageId === messageId || m.streaming,
        (m) => ({ ...m, text: m.text + delta }),
      );
      return set(next ?? [...items, { kind: "reasoning", key: `r-${messageId}-${seq}`, messageId, text: delta, streaming: true }]);
    }
    case "REASONING_MESSAGE_END":
    case "REASONING_END":
    case "THINKING_TEXT_MESSAGE_END":
    case "THINKING_END":
      return set(
        update(
          items,
          "reasoning",
          (m) => m.streaming,
          (m) => ({ ...m, streaming: false }),
        ),
      );
    case "TOOL_CALL_START": {
      const toolCallId = str(ev.toolCallId);
      return set([...items, { kind: "tool", key: `t-${toolCallId}-${seq}`, toolCallId, name: str(ev.toolCallName), args: "", result: null, streaming: true }]);
    }
    case "TOOL_CALL_ARGS":
    case "TOOL_CALL_CHUNK": {
      const toolCallId = str(ev.toolCallId);
      return set(
        update(
          items,
          "tool",
          (t) => t.toolCallId === toolCallId,
          (t) => ({ ...t, args: t.args + str(ev.delta) }),
        ),
      );
    }
    case "TOOL_CALL_END":
      return set(
        update(
          items,
          "tool",
          (t) => t.toolCallId === str(ev.toolCallId),
          (t) => ({ ...t, streaming: false }),
        ),
      );
    case "TOOL_CALL_RESULT": {
      const toolCallId = str(ev.toolCallId);
      const content = typeof ev.content === "string" ? ev.content : JSON.stringify(ev.content);
      const next = update(
        items,
        "tool",
        (t) => t.toolCallId === toolCallId,
        (t) => ({ ...t, result: content, streaming: false }),
      );
      return set(next ?? [...items, { kind: "tool", key: `t-${toolCallId}-${seq}`, toolCallId, name: "tool", args: "", result: content, streaming: false }]);
    }
    case "MESSAGES_SNAPSHOT": {
      // A crashed attempt streamed part of a message: what is committed replaces it.
      const messages = (Array.isArray(ev.messages) ? ev.messages : []) as InputMessage[];
      const next: ConversationItem[] = [];
      messages.forEach((m, i) => {
        if (m.role === "tool") {
          const id = m.toolCallId ?? "";
          const idx = next.findIndex((x) => x.kind === "tool" && x.toolCallId === id);
          if (idx >= 0) next[idx] = { ...(next[idx] as Extract<ConversationItem, { kind: "tool" }>), result: textOf(m.content) };
          return;
        }
        next.push(...fromInputMessage(m, `snap-${seq}-${i}`));
      });
      const kept = items.filter((x) => x.kind === "resume" || x.kind === "retry");
      return set([...kept.filter((x) => x.kind === "resume"), ...next, ...kept.filter((x) => x.kind === "retry")]);
    }
    case "CUSTOM": {
      if (ev.name !== "everruns.retry") return c;
      const v = (ev.value ?? {}) as {
        step?: number;
        attempt?: number;
        max_attempts?: number;
        delay_ms?: number;
        error?: { code?: string; message?: string; status?: number };
      };
      return set([
        ...items,
        {
          kind: "retry",
          key: `retry-${seq}`,
          step: v.step ?? null,
          attempt: v.attempt ?? null,
          maxAttempts: v.max_attempts ?? null,
          delayMs: v.delay_ms ?? null,
          error: v.error?.message ?? v.error?.code ?? "transient error",
        },
      ]);
    }
    case "RUN_ERROR":
      return {
        ...c,
        ended: true,
        items: [...closeOpen(items), { kind: "error", key: `err-${seq}`, message: str(ev.message) || "the run failed", code: str(ev.code) || null }],
      };
    case "RUN_FINISHED": {
      const outcome = ev.outcome as { type?: string; interrupts?: Interrupt[] } | undefined;
      if (outcome?.type === "cancelled") return { ...c, ended: true, items: [...closeOpen(items), { kind: "cancelled", key: `cancel-${seq}` }] };
      if (outcome?.type === "interrupt") {
        const interrupts = Array.isArray(outcome.interrupts) ? outcome.interrupts : [];
        return { ...c, ended: true, interrupts, items: [...closeOpen(items), { kind: "interrupt", key: `int-${seq}`, interrupts }] };
      }
      return { ...c, ended: true, items: closeOpen(items) };
    }
    default:
      return c;
  }
}

function closeOpen(items: ConversationItem[]): ConversationItem[] {
  return items.map((x) => ("streaming" in x && x.streaming ? { ...x, streaming: false } : x));
}

/** The interrupts of a run's last RUN_FINISHED event, when it ended interrupted. */
export function interruptsOf(event: AgUiEvent | null | undefined): Interrupt[] | null {
  const outcome = event?.outcome as { type?: string; interrupts?: Interrupt[] } | undefined;
  return outcome?.type === "interrupt" && Array.isArray(outcome.interrupts) ? outcome.interrupts : null;
}

/** Retry notices (CUSTOM everruns.retry) by the step they retried. */
export function retriesByStep(
  events: RunEventMessage[],
): Map<number, Array<{ seq: number; attempt: number | null; maxAttempts: number | null; delayMs: number | null; error: string }>> {
  const out = new Map<number, Array<{ seq: number; attempt: number | null; maxAttempts: number | null; delayMs: number | null; error: string }>>();
  for (const e of events) {
    if (e.type !== "CUSTOM" || e.event.name !== "everruns.retry") continue;
    const v = (e.event.value ?? {}) as {
      step?: number;
      attempt?: number;
      max_attempts?: number;
      delay_ms?: number;
      error?: { code?: string; message?: string };
    };
    const step = v.step ?? 0;
    const list = out.get(step) ?? [];
    list.push({
      seq: e.seq,
      attempt: v.attempt ?? null,
      maxAttempts: v.max_attempts ?? null,
      delayMs: v.delay_ms ?? null,
      error: v.error?.message ?? v.error?.code ?? "transient error",
    });
    out.set(step, list);
  }
  return out;
}

/** The step in progress according to the log: the last STEP_STARTED that no STEP_FINISHED closed yet. */
export function openStep(events: RunEventMessage[]): { seq: number; name: string; at: number | null } | null {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.type === "STEP_FINISHED" || e.type === "RUN_FINISHED" || e.type === "RUN_ERROR") return null;
    if (e.type === "STEP_STARTED") {
      return {
        seq: e.seq,
        name: typeof e.event.stepName === "string" ? e.event.stepName : "",
        at: typeof e.event.timestamp === "number" ? e.event.timestamp : null,
      };
    }
  }
  return null;
}

/** What the attempt history (run_attempts) says about one event of the log. */
export interface EventAttemptMark {
  step: number;
  attempt: number;
  outcome: string | null;
  /** an END event the next attempt wrote to close what this (lost) attempt left open */
  closing: boolean;
}

/**
 * Marks the events of attempts that did not commit (lost, fenced out, retried, handed back) and
 * the END events written on their behalf, by seq: the event log shows them as superseded.
 */
export function attemptMarks(
  attempts: ReadonlyArray<{
    seq: number;
    attempt: number;
    outcome?: string | null;
    eventsFrom: number;
    lastEventSeq?: number | null;
    closedThroughSeq?: number | null;
  }>,
): Map<number, EventAttemptMark> {
  const marks = new Map<number, EventAttemptMark>();
  for (const a of attempts) {
    if (a.outcome == null || a.outcome === "committed" || a.lastEventSeq == null) continue;
    for (let seq = a.eventsFrom + 1; seq <= a.lastEventSeq; seq++) marks.set(seq, { step: a.seq, attempt: a.attempt, outcome: a.outcome, closing: false });
    for (let seq = a.lastEventSeq + 1; seq <= (a.closedThroughSeq ?? 0); seq++) {
      marks.set(seq, { step: a.seq, attempt: a.attempt, outcome: a.outcome, closing: true });
    }
  }
  return marks;
}

/** One wording per attempt outcome, everywhere in the console. */
export function attemptOutcomeLabel(outcome: string | null | undefined, runSettled: boolean): string {
  switch (outcome) {
    case "committed":
      return "committed";
    case "worker_died":
      return "lost: worker died, job freed";
    case "fenced_out":
      return "lost: fenced out by a newer attempt";
    case "retried":
      return "retried after an error";
    case "handed_back":
      return "handed back at shutdown";
    default:
      return runSettled ? "ended with the run" : "running";
  }
}

/** Whether an attempt was lost to a crash or a takeover (rather than ended by the engine). */
export const isLostAttempt = (outcome: string | null | undefined) => outcome === "worker_died" || outcome === "fenced_out";
