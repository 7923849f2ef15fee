import { z } from "zod";
import type { Pool } from "../pool.ts";

const CommittedStepSchema = z.object({
  seq: z.number().int(),
  kind: z.enum(["llm", "tool", "wait", "system"]),
  name: z.string(),
  status: z.enum(["succeeded", "failed"]),
  input: z.unknown(),
  output: z.unknown(),
});
export type CommittedStep = z.infer<typeof CommittedStepSchema>;

const BegunStepSchema = z.object({
  run: z.object({
    id: z.string(),
    thread_id: z.string(),
    agent_id: z.string(),
    agent_version: z.number().int(),
    input: z.unknown(),
    step_cursor: z.number().int(),
    step_attempt: z.number().int(),
    step_errors: z.number().int(),
    event_seq: z.number().int(),
    usage: z.unknown(),
  }),
  config: z.unknown(),
  /** the whole history, or (while tool calls are pending) the last LLM turn and what followed */
  steps: z.array(CommittedStepSchema),
  history_complete: z.boolean(),
  /** committed LLM turns so far: the next LLM call's index */
  llm_count: z.number().int(),
  closed: z.array(z.record(z.string(), z.unknown())),
});
export type BegunStep = z.infer<typeof BegunStepSchema>;

/**
 * Begins an attempt at step `seq` of a run (everruns_private.begin_step). Returns null when the
 * step has nothing to do: the run finished or the step was already committed (a replayed job).
 */
export async function beginStep(pool: Pool, runId: string, seq: number): Promise<BegunStep | null> {
  const { rows } = await pool.query<{ begun: unknown }>("select everruns_private.begin_step($1, $2) as begun", [runId, seq]);
  const begun = rows[0]?.begun;
  return begun == null ? null : BegunStepSchema.parse(begun);
}
