import { z } from "zod";
import type { Queryable } from "../pool.ts";

const SpendSchema = z.object({
  /** the run and the runs it continues, oldest first */
  chain: z.array(z.string()),
  cost_usd: z.coerce.number(),
  tokens: z.coerce.number(),
  wall_seconds: z.coerce.number(),
  tool_calls: z.coerce.number(),
  /** the runs below the chain (sub-agents, 000033), whose cost, tokens and tool calls are counted in */
  children: z.coerce.number().default(0),
  /** the resume entries answering budget interrupts along the chain, oldest first */
  answers: z.array(z.unknown()),
});

/** What a run's piece of work has spent so far (worker/run-budget.ts), by the database's clock. */
export type RunBudgetSpend = z.infer<typeof SpendSchema>;

/**
 * The spend of `runId`, the runs it continues and the sub-agents they started, and their answers
 * to budget interrupts (everruns.runs_budget_spend, 000032, 000033: the same numbers as GraphQL's
 * Run.budgetSpend).
 */
export async function runBudgetSpend(db: Queryable, runId: string): Promise<RunBudgetSpend> {
  const { rows } = await db.query<{ spend: unknown }>("select everruns.runs_budget_spend(r) as spend from everruns.runs r where r.id = $1", [runId]);
  if (rows.length === 0) throw new Error(`run ${runId} not found: its budget spend cannot be read`);
  return SpendSchema.parse(rows[0]!.spend);
}
