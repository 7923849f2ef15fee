// Run budgets (config.budget, docs/budgets.md): limits on what one piece of work may spend, its
// cost, tokens, wall time and tool calls, checked between steps, before a step's LLM or tool call
// begins (a call in flight finishes: its spend counts at the next check). One piece of work is a
// run and the continuations that answered its interrupts: their spend adds up, and a limit a
// person raised when answering a budget interrupt holds from then on.
//
// - At `warn_at` of a limit: a CUSTOM everruns.budget {level: "warning"} event, once per limit per
//   chain (the chain's logs are read for one first, and only then: a dead attempt's warning is in
//   the append-only log, so its retry writes none).
// - At a limit: the step becomes a system step `budget` ending the run interrupted with the
//   interrupt `budget-<run id>`; its answer raises limits (the continuation goes on where the run
//   stopped) or stops (the continuation ends succeeded with the last text, calling nothing).
// Agents without a budget pay nothing: no query is made (run_step.ts checks config.budget first).
import { BUDGET_LIMITS, type Budget, type BudgetLimit } from "../db/schemas.ts";
import type { AgUiEvent } from "../db/sql/appendEvents.ts";
import type { Queryable } from "../db/pool.ts";
import { runBudgetSpend, type RunBudgetSpend } from "../db/sql/runBudgetSpend.ts";
import { runBudgetWarnings } from "../db/sql/runBudgetWarnings.ts";
import { stepName, type StepOutcome, type StepScope } from "./steps.ts";

/** The id of a run's budget interrupt. */
export const budgetId = (runId: string) => `budget-${runId}`;

/** The interrupt's reason (AG-UI Interrupt.reason), as `tool_approval` and `tool_outcome_unknown`. */
export const BUDGET_REASON = "budget";

export type Limits = Partial<Record<BudgetLimit, number>>;
export type Spent = Record<BudgetLimit, number>;

const UNITS: Record<BudgetLimit, string> = {
  max_cost_usd: "USD",
  max_tokens: "tokens",
  max_wall_seconds: "s of running time",
  max_tool_calls: "tool calls",
};

/** A resume entry answering a budget interrupt: a raise of some limits, or a stop. */
export type BudgetAnswer = { action: "raise"; budget: Limits } | { action: "stop" };

/**
 * What a resume entry to a `budget-…` interrupt says. A cancelled entry, or anything that is not
 * a raise, stops: the work goes on only on a clear raise. (The database refused invalid raises
 * when the answer was given, 000032; this reads defensively all the same.)
 */
export function budgetAnswerOf(entry: unknown): BudgetAnswer | null {
  if (!entry || typeof entry !== "object") return null;
  const e = entry as { interruptId?: unknown; status?: unknown; payload?: unknown };
  if (typeof e.interruptId !== "string" || !e.interruptId.startsWith("budget-")) return null;
  const payload = (e.payload && typeof e.payload === "object" ? e.payload : {}) as { action?: unknown; budget?: unknown };
  if (e.status !== "resolved" || payload.action !== "raise" || !payload.budget || typeof payload.budget !== "object") return { action: "stop" };
  const budget: Limits = {};
  for (const limit of BUDGET_LIMITS) {
    const value = (payload.budget as Record<string, unknown>)[limit];
    if (typeof value === "number" && Number.isFinite(value) && value > 0) budget[limit] = value;
  }
  return { action: "raise", budget };
}

/** The limits in force: the config's, each replaced by the latest raise of the chain's answers. */
export function limitsInForce(config: Budget, answers: unknown[]): Limits {
  const limits: Limits = {};
  for (const limit of BUDGET_LIMITS) if (config[limit] !== undefined) limits[limit] = config[limit];
  for (const entry of answers) {
    const answer = budgetAnswerOf(entry);
    if (answer?.action === "raise") Object.assign(limits, answer.budget);
  }
  return limits;
}

/** The spend measured against each limit. */
export function spentOf(spend: RunBudgetSpend): Spent {
  return {
    max_cost_usd: Number(spend.cost_usd.toFixed(8)),
    max_tokens: spend.tokens,
    max_wall_seconds: Number(spend.wall_seconds.toFixed(3)),
    max_tool_calls: spend.tool_calls,
  };
}

/**
 * The limits reached before a step of `kind`: spend at or over the limit. max_tool_calls holds
 * back only tool calls: at its limit the model may still answer without one.
 */
export function reachedLimits(limits: Limits, spent: Spent, kind: "llm" | "tool"): BudgetLimit[] {
  return BUDGET_LIMITS.filter((l) => limits[l] !== undefined && spent[l] >= limits[l] && (l !== "max_tool_calls" || kind === "tool"));
}

function describe(limit: BudgetLimit, spent: number, max: number): string {
  return `${limit} ${max} (spent ${spent} ${UNITS[limit]})`;
}

/** The run's input answered a budget interrupt with a stop: the answer, else null. */
export function stopAnswer(resume: unknown[] | undefined): BudgetAnswer | null {
  for (const entry of resume ?? []) {
    const answer = budgetAnswerOf(entry);
    if (answer?.action === "stop") return answer;
  }
  return null;
}

/**
 * A continuation told to stop: a system step `budget` that ends it succeeded with the last text, no
 * call made. An agent with an output_schema promises `{text, json}` (a batch's sink, a webhook's
 * consumer read `json`): with no structured answer yet, the run ends failed, `budget_stopped`.
 */
export function stopStep(scope: StepScope, lastText: string): StepOutcome {
  const name = stepName(scope.seq, "system", "budget");
  if (scope.config.output_schema) {
    const error = {
      code: "budget_stopped",
      message: "stopped at its budget by the answer to its budget interrupt, before a structured answer (output_schema): the run has no json output",
    };
    return {
      step: { kind: "system", name: "budget", status: "failed", output: { action: "stop" }, error },
      events: [
        { type: "STEP_STARTED", stepName: name },
        { type: "CUSTOM", name: "everruns.budget", value: { level: "stopped" } },
        { type: "STEP_FINISHED", stepName: name },
        { type: "RUN_ERROR", message: error.message, code: error.code },
      ],
      next: { type: "fail", error },
    };
  }
  return {
    step: { kind: "system", name: "budget", status: "succeeded", output: { action: "stop" } },
    events: [
      { type: "STEP_STARTED", stepName: name },
      { type: "CUSTOM", name: "everruns.budget", value: { level: "stopped" } },
      { type: "STEP_FINISHED", stepName: name },
      { type: "RUN_FINISHED", threadId: scope.threadId, runId: scope.runId, outcome: { type: "success" }, result: { text: lastText } },
    ],
    next: { type: "succeed", output: { text: lastText } },
  };
}

/** The step that ends the run interrupted at its budget, asking to raise the limits or stop. */
export function limitStep(scope: StepScope, limits: Limits, spent: Spent, reached: BudgetLimit[], lastText: string): StepOutcome {
  const name = stepName(scope.seq, "system", "budget");
  const what = reached.map((l) => describe(l, spent[l], limits[l]!)).join(", ");
  // a raise must lift every limit reached above its spend (checked again by the database, 000032)
  const raise: Record<string, unknown> = {};
  for (const l of BUDGET_LIMITS) raise[l] = { type: "number", exclusiveMinimum: spent[l] };
  const interrupt = {
    id: budgetId(scope.runId),
    reason: BUDGET_REASON,
    message:
      `The run reached its budget: ${what}. ` +
      `Answer {"action": "raise", "budget": {${reached.map((l) => `"${l}": <more than ${spent[l]}>`).join(", ")}}} to go on, or {"action": "stop"} to end it.`,
    responseSchema: {
      type: "object",
      properties: {
        action: { type: "string", enum: ["raise", "stop"] },
        budget: { type: "object", properties: raise, required: reached, additionalProperties: false },
      },
      required: ["action"],
    },
    metadata: { limits, spent, reached },
  };
  const interrupts = [interrupt];
  return {
    step: {
      kind: "system",
      name: "budget",
      status: "succeeded",
      output: { interrupts, pending_tool_call_ids: [], asked_tool_call_ids: [], limits, spent, reached },
    },
    events: [
      { type: "STEP_STARTED", stepName: name },
      { type: "CUSTOM", name: "everruns.budget", value: { level: "limit", limits, spent, reached } },
      { type: "STEP_FINISHED", stepName: name },
      { type: "RUN_FINISHED", threadId: scope.threadId, runId: scope.runId, outcome: { type: "interrupt", interrupts }, result: { text: lastText } },
    ],
    next: { type: "interrupt", interrupts: { interrupts, pending_tool_call_ids: [] }, output: { text: lastText } },
  };
}

/** A warning's identity: its limit and the value in force it warned of. */
const warningKey = (limit: string, max: number) => `${limit}:${max}`;

/**
 * The warnings known to be in a run's chain's logs, by run: once a warning is seen there, the
 * steps after it do not read the logs again for it (a long run spends its last fifth near a limit,
 * and the chain's logs can hold hundreds of thousands of events). Bounded; a worker that forgot a
 * run reads its logs once more.
 */
const seenWarnings = new Map<string, Set<string>>();
const SEEN_WARNINGS_MAX = 10_000;

/**
 * The warnings due: limits at or past `warn_at` of their value (and not reached) with none in the
 * chain's logs yet for that value (a raised limit warns again at warn_at of its new value).
 */
async function warnings(db: Queryable, runId: string, spend: RunBudgetSpend, limits: Limits, spent: Spent, warnAt: number): Promise<AgUiEvent[]> {
  const near = BUDGET_LIMITS.filter((l) => limits[l] !== undefined && spent[l] >= warnAt * limits[l] && spent[l] < limits[l]);
  const key = (l: BudgetLimit) => warningKey(l, limits[l]!);
  let seen = seenWarnings.get(runId);
  if (near.every((l) => seen?.has(key(l)))) return [];
  const warned = new Set((await runBudgetWarnings(db, spend.chain)).map((w) => warningKey(w.limit, w.max)));
  if (!seen) {
    if (seenWarnings.size >= SEEN_WARNINGS_MAX) seenWarnings.delete(seenWarnings.keys().next().value!);
    seen = new Set();
    seenWarnings.set(runId, seen);
  }
  for (const w of warned) seen.add(w);
  return near
    .filter((l) => !warned.has(key(l)))
    .map((limit) => ({ type: "CUSTOM", name: "everruns.budget", value: { level: "warning", limit, spent: spent[limit], max: limits[limit]! } }));
}

/**
 * Checks the budget before a step of `kind` begins: the step that ends the run at a limit, or
 * null to go on (after writing the warnings due to the step's log: they are streamed now, before
 * the call, and are in the log whether the attempt commits or dies).
 */
export async function checkBudget(db: Queryable, scope: StepScope, budget: Budget, kind: "llm" | "tool", lastText: string): Promise<StepOutcome | null> {
  const spend = await runBudgetSpend(db, scope.runId);
  const limits = limitsInForce(budget, spend.answers);
  const spent = spentOf(spend);
  // every limit at or over its value is reported (and must be raised), max_tool_calls included
  // when an LLM step is the one held back: the person answers once, not once per kind
  if (reachedLimits(limits, spent, kind).length > 0) return limitStep(scope, limits, spent, reachedLimits(limits, spent, "tool"), lastText);
  for (const event of await warnings(db, scope.runId, spend, limits, spent, budget.warn_at)) scope.writer.push(event);
  return null;
}
