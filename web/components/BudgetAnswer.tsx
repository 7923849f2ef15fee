"use client";
// Answering a run that reached its budget (config.budget, docs/budgets.md): the worker ended it
// interrupted with `budget-<run id>` (reason "budget", worker/run-budget.ts), whose metadata holds
// the limits in force, the spend against each and the limits reached. The panel shows them as a
// table and offers the two answers the worker takes: raise (new values for the limits, every
// limit reached prefilled at twice its value or spend; {action: "raise", budget}) and stop ({action:
// "stop"}: the continuation ends succeeded with the last text, calling nothing). The database
// refuses a raise that is not above the spend, naming the limit (000032): shown as the error.
import { useState } from "react";
import { useMutation } from "@/lib/hooks";
import { RESUME_RUN } from "@/lib/queries";
import type { Interrupt } from "@/lib/types";
import { Button, Card, ErrorBox } from "./ui";

const LIMITS = ["max_cost_usd", "max_tokens", "max_wall_seconds", "max_tool_calls"] as const;
type Limit = (typeof LIMITS)[number];

const LABELS: Record<Limit, string> = {
  max_cost_usd: "Cost (USD)",
  max_tokens: "Tokens (input + output)",
  max_wall_seconds: "Running time (s)",
  max_tool_calls: "Tool calls",
};

/** Whether an interrupt is a run's budget question (the worker's reason and id, worker/run-budget.ts). */
export const isBudgetInterrupt = (i: Pick<Interrupt, "id" | "reason">): boolean => i.reason === "budget" || i.id.startsWith("budget-");

interface BudgetInfo {
  limits: Partial<Record<Limit, number>>;
  spent: Partial<Record<Limit, number>>;
  reached: Limit[];
}

/** The numbers the worker put in the interrupt's metadata; anything missing or malformed is left out. */
export function budgetInfo(i: Interrupt): BudgetInfo {
  const m = (i.metadata ?? {}) as Record<string, unknown>;
  const numbers = (value: unknown) => {
    const out: Partial<Record<Limit, number>> = {};
    if (value && typeof value === "object") {
      for (const l of LIMITS) {
        const v = (value as Record<string, unknown>)[l];
        if (typeof v === "number") out[l] = v;
      }
    }
    return out;
  };
  const reached = Array.isArray(m.reached) ? (m.reached.filter((l) => LIMITS.includes(l as Limit)) as Limit[]) : [];
  return { limits: numbers(m.limits), spent: numbers(m.spent), reached };
}

/** The budget table, and the raise / stop answers of a run's budget interrupt. */
export function BudgetAnswer({ runId, interrupt, onResumed }: { runId: string; interrupt: Interrupt; onResumed: (newRunId: string) => void }) {
  const { mutate, pending, error } = useMutation(RESUME_RUN);
  const info = budgetInfo(interrupt);
  const [raise, setRaise] = useState<Partial<Record<Limit, string>>>(() => {
    const start: Partial<Record<Limit, string>> = {};
    // twice the limit, or twice the spend when a call in flight went far past it: above the spend either way
    for (const l of info.reached) start[l] = String(Math.max(info.limits[l] ?? 0, info.spent[l] ?? 0, 1) * 2);
    return start;
  });
  const shown = LIMITS.filter((l) => info.limits[l] !== undefined || info.reached.includes(l));

  const send = async (payload: Record<string, unknown>) => {
    const result = await mutate({ runId, resume: [{ interruptId: interrupt.id, status: "resolved", payload }] });
    if (result?.resumeRun?.runId) onResumed(result.resumeRun.runId);
  };
  const raiseAnswer = () => {
    const budget: Record<string, number> = {};
    for (const l of LIMITS) {
      const text = raise[l]?.trim();
      if (text) budget[l] = Number(text);
    }
    return { action: "raise", budget };
  };

  return (
    <div data-testid="budget-answer" data-interrupt-id={interrupt.id} className="space-y-3">
      {interrupt.message && (
        <p data-testid="budget-message" className="whitespace-pre-wrap break-words text-sm text-slate-800">
          {interrupt.message}
        </p>
      )}
      <table data-testid="budget-table" className="text-sm">
        <thead>
          <tr className="text-left text-xs text-slate-500">
            <th className="pr-4 font-medium">Limit</th>
            <th className="pr-4 font-medium">Spent</th>
            <th className="pr-4 font-medium">Limit in force</th>
            <th className="font-medium">New limit</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((l) => (
            <tr key={l} data-limit={l} className={info.reached.includes(l) ? "text-amber-900" : "text-slate-700"}>
              <td className="pr-4 py-1">
                {LABELS[l]} <span className="font-mono text-xs text-slate-500">{l}</span>
              </td>
              <td className="pr-4 py-1 font-mono">{info.spent[l] ?? "–"}</td>
              <td className="pr-4 py-1 font-mono">
                {info.limits[l] ?? "–"}
                {info.reached.includes(l) && <span className="ml-1 text-xs font-sans">(reached)</span>}
              </td>
              <td className="py-1">
                <input
                  aria-label={`new ${l}`}
                  data-testid={`budget-raise-${l}`}
                  inputMode="decimal"
                  className="w-32 rounded border border-slate-300 px-1.5 py-0.5 font-mono text-sm"
                  value={raise[l] ?? ""}
                  placeholder="unchanged"
                  onChange={(e) => setRaise((all) => ({ ...all, [l]: e.target.value }))}
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="flex flex-wrap items-center gap-2">
        <Button variant="primary" needs="operator" disabled={pending} data-testid="budget-raise" onClick={() => void send(raiseAnswer())}>
          {pending ? "Sending…" : "Raise and go on"}
        </Button>
        <Button needs="operator" disabled={pending} data-testid="budget-stop" onClick={() => void send({ action: "stop" })}>
          Stop here
        </Button>
        <span className="text-xs text-slate-500">Stop ends the work succeeded with the agent&apos;s last text; nothing more is called.</span>
      </div>
      <ErrorBox error={error} title="The answer was refused" />
    </div>
  );
}

/** Which number of Run.budgetSpend (everruns.runs_budget_spend) each limit is measured against. */
const SPEND_KEYS: Record<Limit, "cost_usd" | "tokens" | "wall_seconds" | "tool_calls"> = {
  max_cost_usd: "cost_usd",
  max_tokens: "tokens",
  max_wall_seconds: "wall_seconds",
  max_tool_calls: "tool_calls",
};

const asRecord = (value: unknown): Record<string, unknown> =>
  value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};

/**
 * The limits in force: the config's, each replaced by the latest raise answered along the chain
 * (the worker's rule, worker/run-budget.ts limitsInForce: a resolved {action: "raise", budget}).
 */
export function limitsInForce(budget: unknown, answers: unknown): Partial<Record<Limit, number>> {
  const limits: Partial<Record<Limit, number>> = {};
  const config = asRecord(budget);
  for (const l of LIMITS) if (typeof config[l] === "number") limits[l] = config[l];
  for (const answer of Array.isArray(answers) ? answers : []) {
    const a = asRecord(answer);
    const payload = asRecord(a.payload);
    if (a.status !== "resolved" || payload.action !== "raise") continue;
    const raise = asRecord(payload.budget);
    for (const l of LIMITS) if (typeof raise[l] === "number" && raise[l] > 0) limits[l] = raise[l];
  }
  return limits;
}

/** The run page's budget: each limit in force beside what the run and the runs it continues spent. */
export function BudgetCard({ budget, spend }: { budget: unknown; spend: unknown }) {
  const limits = limitsInForce(budget, asRecord(spend).answers);
  const spent = asRecord(spend);
  const warnAt = typeof asRecord(budget).warn_at === "number" ? (asRecord(budget).warn_at as number) : 0.8;
  const chain = Array.isArray(spent.chain) ? spent.chain.length : 1;
  return (
    <Card
      testId="budget-card"
      title="Budget"
      actions={
        <span className="text-xs text-slate-500">
          warns at {Math.round(warnAt * 100)}%{chain > 1 ? ` · spend of ${chain} runs (this one and those it continues)` : ""}
        </span>
      }
    >
      <ul className="space-y-2 text-sm">
        {LIMITS.filter((l) => limits[l] !== undefined).map((l) => {
          const max = limits[l]!;
          const used = Number(spent[SPEND_KEYS[l]] ?? 0);
          const fraction = Math.min(1, used / max);
          const tone = fraction >= 1 ? "bg-amber-500" : fraction >= warnAt ? "bg-amber-300" : "bg-sky-400";
          return (
            <li key={l} data-testid="budget-limit" data-limit={l}>
              <div className="flex justify-between gap-2">
                <span className="text-slate-700">{LABELS[l]}</span>
                <span className="font-mono text-slate-900" data-testid="budget-spent">
                  {Number.isFinite(used) ? Number(used.toFixed(l === "max_cost_usd" ? 4 : 1)) : "?"} / {max}
                </span>
              </div>
              <div className="mt-1 h-1.5 rounded bg-slate-100">
                <div className={`h-1.5 rounded ${tone}`} style={{ width: `${Math.round(fraction * 100)}%` }} />
              </div>
            </li>
          );
        })}
      </ul>
    </Card>
  );
}
