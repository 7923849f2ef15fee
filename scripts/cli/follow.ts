// `everruns run --follow`: a run's events for a person. Text and tool calls as they stream; while
// the run waits (a durable sleep, wait_for_event, a long tool call) a line says what for, and a
// "still waiting" line follows every STILL_WAITING_MS of silence; an interrupt prints its
// questions and the exact commands that answer them (approve/reject for approvals, outcome for a
// tool call whose outcome is unknown after a crash, resume --json for a mix). Returns the exit
// code (scripts/cli/errors.ts).
import { FollowError, followRunEvents, type RunEvent } from "../../client/index.ts";
import { EverrunsError } from "../../db/errors.ts";
import type { ApiClient } from "./api.ts";
import { EXIT } from "./errors.ts";
import { shellQuote } from "./output.ts";

/** How long the stream may be silent before a "still waiting" line (EVERRUNS_FOLLOW_PROGRESS_MS overrides, for tests). */
function stillWaitingMs(): number {
  const ms = Number(process.env.EVERRUNS_FOLLOW_PROGRESS_MS);
  return Number.isInteger(ms) && ms > 0 ? ms : 15_000;
}

/** An open interrupt as RUN_FINISHED carries it (AG-UI Interrupt). */
export interface Interrupt {
  id?: string;
  reason?: string;
  message?: string;
  toolCallId?: string;
  /**
   * approvals: toolName, arguments; unknown outcomes also: dispatches, lastDispatchedAt; budgets
   * (worker/run-budget.ts): limits, spent, reached
   */
  metadata?: {
    toolName?: string;
    arguments?: unknown;
    dispatches?: number;
    lastDispatchedAt?: string;
    limits?: Record<string, number>;
    spent?: Record<string, number>;
    reached?: string[];
  };
}

/**
 * What an interrupt asks, so each is answered by its own command: `approval` (reason
 * tool_approval, id approval-…): approve or reject; `outcome` (reason tool_outcome_unknown, id
 * outcome-…: a tool call whose outcome is unknown after a crash): everruns outcome; `budget`
 * (reason budget, id budget-…: the run reached a limit of its agent's budget) and anything else
 * only through everruns resume --json.
 */
export function interruptKind(i: Interrupt): "approval" | "outcome" | "budget" | "other" {
  // a workflow's approval state (worker/workflow/engine.ts) takes {"approved", ...} by default as a tool's approval does
  if (i.reason === "tool_approval" || i.reason === "workflow_approval" || i.id?.startsWith("approval-")) return "approval";
  if (i.reason === "tool_outcome_unknown" || i.id?.startsWith("outcome-")) return "outcome";
  if (i.reason === "budget" || i.id?.startsWith("budget-")) return "budget";
  return "other";
}

/**
 * A raise of every limit a budget interrupt reached to twice its value (a placeholder to edit: the
 * database refuses a raise that leaves a reached limit at or under its spend).
 */
function budgetRaise(i: Interrupt): Record<string, number> {
  const raise: Record<string, number> = {};
  for (const limit of i.metadata?.reached ?? []) {
    const now = Math.max(i.metadata?.limits?.[limit] ?? 0, i.metadata?.spent?.[limit] ?? 0);
    raise[limit] = Number((now * 2 || 1).toPrecision(6));
  }
  return raise;
}

/** A placeholder answer for each kind, for the `everruns resume --json` line the CLI prints. */
function placeholderPayload(i: Interrupt): Record<string, unknown> {
  const kind = interruptKind(i);
  if (kind === "budget") return { action: "raise", budget: budgetRaise(i) };
  return kind === "approval" ? { approved: true } : kind === "outcome" ? { action: "retry" } : {};
}

/**
 * The `everruns resume` command that answers every one of `interrupts` at once, with placeholder
 * answers to edit: {"approved": true | false} for approvals, {"action": "retry" | "skip" |
 * "result", "result"?: "…"} for unknown outcomes, {"action": "raise", "budget": {…}} for budgets.
 */
export function resumeCommand(runId: string, interrupts: Interrupt[]): string {
  const answers = interrupts.map((i) => ({ interruptId: i.id ?? "…", status: "resolved", payload: placeholderPayload(i) }));
  return `everruns resume ${runId} --json ${shellQuote(JSON.stringify(answers))}`;
}

/** "github__create_issue (tool call call_1)", or the interrupt's id. */
export function interruptLabel(i: Interrupt): string {
  const name = i.metadata?.toolName;
  if (name && i.toolCallId) return `${name} (tool call ${i.toolCallId})`;
  return name ?? i.id ?? i.toolCallId ?? "an interrupt";
}

/** What the run is doing, from the events seen so far. */
interface FollowState {
  tool: { name: string; args: string } | null;
  /** set when a wait step parked the run */
  waitingFor: string | null;
  lastEventAt: number;
}

function describeWait(tool: { name: string; args: string }): string | null {
  let args: Record<string, unknown> = {};
  try {
    args = JSON.parse(tool.args || "{}") as Record<string, unknown>;
  } catch {
    // arguments the model got wrong: no detail
  }
  if (tool.name === "sleep" && typeof args.seconds === "number") {
    return `a timer until ${new Date(Date.now() + args.seconds * 1000).toISOString()} (sleep ${args.seconds} s)`;
  }
  if (tool.name === "wait_for_event") {
    const timeout = typeof args.timeout_seconds === "number" ? `, at most until ${new Date(Date.now() + args.timeout_seconds * 1000).toISOString()}` : "";
    return `event "${String(args.name)}"${timeout}`;
  }
  return null;
}

/**
 * The questions of an interrupted run and the commands that answer them. A run's open interrupts
 * are answered all at once (everruns.resume_run refuses a partial answer): approvals alone by
 * approve or reject, unknown outcomes alone by everruns outcome, a mix (or a kind the CLI has no
 * command for) by one everruns resume --json line.
 */
export function interruptHelp(runId: string, interrupts: Interrupt[]): string {
  const lines = [`run ${runId} is waiting for an answer:`];
  for (const i of interrupts) {
    lines.push(`  ? ${i.message ?? i.id ?? "an approval"}${i.toolCallId ? `  (tool call ${i.toolCallId})` : ""}`);
  }
  const kinds = new Set(interrupts.map(interruptKind));
  if (kinds.size === 0 || (kinds.size === 1 && kinds.has("approval"))) {
    lines.push(
      "Answer with:",
      `  everruns approve ${runId}`,
      `  everruns reject ${runId} --reason "why not"`,
      `  (or: everruns resume ${runId} --json '[{"interruptId": "…", "status": "resolved", "payload": {"approved": true}}]')`,
    );
  } else if (kinds.size === 1 && kinds.has("outcome")) {
    const tools = [...new Set(interrupts.map((i) => i.metadata?.toolName ?? "the tool"))].join(", ");
    lines.push(
      "Answer with one of:",
      `  everruns outcome ${runId} --retry          call ${tools} again`,
      `  everruns outcome ${runId} --skip           do not call it again: the model is told it was skipped`,
      `  everruns outcome ${runId} --result "…"     enter its result yourself: the model sees it as the tool's answer`,
      `  (or: ${resumeCommand(runId, interrupts)})`,
    );
  } else if (kinds.size === 1 && kinds.has("budget")) {
    const stop = interrupts.map((i) => ({ interruptId: i.id ?? "…", status: "resolved", payload: { action: "stop" } }));
    lines.push(
      "Raise the limits reached (each above its spend) and go on:",
      `  ${resumeCommand(runId, interrupts)}`,
      "or stop here (the run ends with what it has):",
      `  everruns resume ${runId} --json ${shellQuote(JSON.stringify(stop))}`,
    );
  } else if (interrupts.length > 0) {
    lines.push(
      'Answer them all at once (approvals: {"approved": true | false}; unknown outcomes: {"action": "retry" | "skip" | "result", "result": "…"}; budgets: {"action": "raise", "budget": {…}} or {"action": "stop"}):',
      `  ${resumeCommand(runId, interrupts)}`,
    );
  }
  return lines.join("\n");
}

/** Prints one event; returns the exit code at the run's end. */
function printEvent({ type, event }: RunEvent, runId: string, state: FollowState): number | undefined {
  switch (type) {
    case "TEXT_MESSAGE_CONTENT":
      process.stdout.write(String(event.delta));
      break;
    case "TEXT_MESSAGE_END":
      process.stdout.write("\n");
      break;
    case "TOOL_CALL_START":
      state.tool = { name: String(event.toolCallName), args: "" };
      process.stdout.write(`  → ${String(event.toolCallName)}(`);
      break;
    case "TOOL_CALL_ARGS":
      if (state.tool) state.tool.args += String(event.delta);
      process.stdout.write(String(event.delta));
      break;
    case "TOOL_CALL_END":
      process.stdout.write(")\n");
      break;
    case "TOOL_CALL_RESULT":
      state.tool = null;
      state.waitingFor = null;
      console.log(`  ← ${String(event.content).slice(0, 200)}`);
      break;
    case "STEP_FINISHED":
      // a wait step finishes with no result: the run is parked until its timer or event
      if (state.tool && !state.waitingFor) {
        state.waitingFor = describeWait(state.tool);
        if (state.waitingFor) console.error(`  … waiting for ${state.waitingFor}`);
      }
      break;
    case "CUSTOM":
      if (event.name === "everruns.retry") console.error(`  (retrying: ${JSON.stringify((event.value as { error?: unknown }).error)})`);
      break;
    case "RUN_FINISHED": {
      const outcome = event.outcome as { type?: string; interrupts?: Interrupt[]; pendingToolCallIds?: string[] } | undefined;
      if (outcome?.type === "cancelled") {
        console.error("run cancelled");
        return EXIT.cancelled;
      }
      if (outcome?.type === "interrupt") {
        console.error(interruptHelp(runId, outcome.interrupts ?? []));
        return EXIT.needsAnswer;
      }
      if (outcome?.pendingToolCallIds?.length) {
        console.error(`run stopped for client tool calls: ${outcome.pendingToolCallIds.join(", ")}`);
        return EXIT.needsAnswer;
      }
      console.error("run succeeded");
      return EXIT.ok;
    }
    case "RUN_ERROR":
      console.error(`run ended: ${String(event.message)}`);
      return EXIT.error;
  }
  return undefined;
}

/** Streams run `runId` until it ends; returns the exit code. */
export async function followRun(api: ApiClient, runId: string): Promise<number> {
  console.error(`run ${runId}`);
  const state: FollowState = { tool: null, waitingFor: null, lastEventAt: Date.now() };
  const every = stillWaitingMs();
  const timer = setInterval(
    () => {
      const silent = Date.now() - state.lastEventAt;
      if (silent < every) return;
      const what = state.waitingFor ?? (state.tool ? `the tool call ${state.tool.name} to finish` : "the next step");
      console.error(`  … still waiting for ${what} (${Math.round(silent / 1000)} s)`);
      state.lastEventAt = Date.now(); // one line per period of silence
    },
    Math.min(every, 1000),
  );
  const events = followRunEvents(api.url, runId, {
    apiKey: api.key,
    onReconnect: ({ attempt, reason }) => console.error(`  (lost the stream: ${reason}; reconnecting, attempt ${attempt})`),
  });
  try {
    for await (const event of events) {
      state.lastEventAt = Date.now();
      const code = printEvent(event, runId, state);
      if (code !== undefined) return code;
    }
  } catch (error) {
    if (!(error instanceof FollowError)) throw error;
    if (error.status === 401 || error.status === 403) throw api.refusedKey(error.status, error.message);
    throw new EverrunsError(error.code, `the API refused the run's event stream (HTTP ${error.status}): ${error.message}`);
  } finally {
    clearInterval(timer);
  }
  return EXIT.error;
}

/** The open interrupts of an interrupted run, from its log's RUN_FINISHED (the API has no other view of them). */
export async function openInterrupts(api: ApiClient, runId: string): Promise<Interrupt[] | null> {
  let last: Interrupt[] | null = null;
  try {
    for await (const { type, event } of followRunEvents(api.url, runId, { apiKey: api.key })) {
      if (type === "RUN_FINISHED") {
        const outcome = event.outcome as { type?: string; interrupts?: Interrupt[] } | undefined;
        last = outcome?.type === "interrupt" ? (outcome.interrupts ?? []) : null;
        break;
      }
      if (type === "RUN_ERROR") break;
    }
  } catch (error) {
    if (!(error instanceof FollowError)) throw error;
    if (error.status === 401 || error.status === 403) throw api.refusedKey(error.status, error.message);
    if (error.status === 404) throw new EverrunsError("not_found", `unknown run ${runId}`);
    throw new EverrunsError(error.code, `the API refused the run's event stream (HTTP ${error.status}): ${error.message}`);
  }
  return last;
}
