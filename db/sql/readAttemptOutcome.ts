// How an attempt ended (run_attempts.outcome, 000013): the worker's metrics label of a commit
// whose answer was lost and whose retry the fence refused (worker/tasks/run_step.ts).
import { z } from "zod";
import type { Queryable } from "../pool.ts";

const OutcomeSchema = z.object({ outcome: z.string().nullable() });

/** committed, worker_died, fenced_out, retried, handed_back; null while it runs or when there is no such attempt. */
export async function readAttemptOutcome(db: Queryable, runId: string, seq: number, attempt: number): Promise<string | null> {
  const { rows } = await db.query("select outcome from everruns.run_attempts where run_id = $1 and seq = $2 and attempt = $3", [runId, seq, attempt]);
  return rows[0] ? OutcomeSchema.parse(rows[0]).outcome : null;
}
