// `everruns bench --only mcp` (scripts/bench/mcp.ts): the tool steps of these runs, to compare a
// built-in tool's step with an MCP tool's.
import { z } from "zod";
import type { Queryable } from "../pool.ts";

const ToolStepSchema = z.object({
  run_id: z.string(),
  seq: z.number().int(),
  /** the tool the model called: `echo`, `fx__echo`, … */
  name: z.string(),
  status: z.string(),
  /** begin → commit, ms (database clock) */
  duration_ms: z.number(),
  /** null when the step's output has none (a failed step) */
  tool_call_id: z.string().nullable(),
  is_error: z.boolean().nullable(),
});
export type BenchToolStep = z.infer<typeof ToolStepSchema>;

/** Every committed tool step of these runs, in run and step order. */
export async function benchMcpToolSteps(db: Queryable, runIds: string[]): Promise<BenchToolStep[]> {
  const { rows } = await db.query(
    `select run_id::text, seq, name, status, duration_ms::float8 as duration_ms,
            coalesce(output ->> 'tool_call_id', input ->> 'tool_call_id') as tool_call_id,
            (output ->> 'is_error')::boolean as is_error
       from everruns.run_steps
      where run_id = any($1) and kind = 'tool'
      order by run_id, seq`,
    [runIds],
  );
  return z.array(ToolStepSchema).parse(rows);
}
