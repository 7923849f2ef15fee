// The benches' check that every step of their runs was committed exactly once (inflight,
// inflight-kill, pooler fleet): the figures they print mean nothing if it fails.
import { z } from "zod";
import type { Queryable } from "../pool.ts";

const ExactlyOnceSchema = z.object({
  duplicateCommits: z.number().int().min(0),
  wrongStepCounts: z.number().int().min(0),
});
export type ExactlyOnce = z.infer<typeof ExactlyOnceSchema>;

/**
 * Exactly once, over these runs: `duplicateCommits` counts steps with more than one committed
 * attempt plus checkpoints whose attempt is not the committed one; `wrongStepCounts` the runs that
 * succeeded with another number of steps than stepsPerRun. Both must be 0.
 */
export async function benchExactlyOnce(db: Queryable, runIds: string[], stepsPerRun: number): Promise<ExactlyOnce> {
  const { rows } = await db.query(
    `select
       (select count(*)::int from (select 1 from everruns.run_attempts where run_id = any($1) and outcome = 'committed'
                                   group by run_id, seq having count(*) > 1) d)
       + (select count(*)::int from everruns.run_steps s where s.run_id = any($1) and not exists
            (select 1 from everruns.run_attempts a where a.run_id = s.run_id and a.seq = s.seq and a.attempt = s.attempt and a.outcome = 'committed'))
         as "duplicateCommits",
       (select count(*)::int from everruns.runs r where r.id = any($1) and r.status = 'succeeded'
          and (select count(*) from everruns.run_steps s where s.run_id = r.id) <> $2) as "wrongStepCounts"`,
    [runIds, stepsPerRun],
  );
  return ExactlyOnceSchema.parse(rows[0]);
}
