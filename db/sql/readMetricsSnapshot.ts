// /metrics' one database read per scrape (api/metrics.ts): everruns_private.metrics_snapshot (000036).
import { z } from "zod";
import type { Queryable } from "../pool.ts";

const uuid = z.string();
const count = z.number();
const StartedRowSchema = z.tuple([uuid, uuid, count]);
const EndedRowSchema = z.tuple([uuid, uuid, z.string(), count, count, count, count]);

const SnapshotSchema = z.object({
  /** the database clock when it was read */
  now: z.string(),
  /** counters are settled up to here: the next call's `since` */
  cut: z.string(),
  /** false: a catch-up window (the settled rows only, up to `cut`; no live part, no gauges): ask again from `cut` */
  complete: z.boolean(),
  /** workspace id → name */
  workspaces: z.record(z.string(), z.string()),
  /** agent id → name, of the agents in the rows below */
  agents: z.record(z.string(), z.string()),
  /** [workspace_id, agent_id, runs created in [since, cut)] */
  settled_started: z.array(StartedRowSchema),
  /** [workspace_id, agent_id, status, runs ended in [since, cut), input_tokens, output_tokens, cost in 1e-8 USD], of the runs ended or continued in [since, cut) */
  settled_ended: z.array(EndedRowSchema),
  /** [workspace_id, agent_id, runs created at or after the cut] */
  live_started: z.array(StartedRowSchema),
  /** [workspace_id, agent_id, status, runs ended at or after the cut, and the usage (cost in 1e-8 USD) of those, of the runs continued after it and of every run not ended] */
  live_ended: z.array(EndedRowSchema),
  states: z.array(
    z.object({
      workspace_id: uuid,
      running: count,
      interrupted: count,
      /** queued runs not admitted yet (waiting for a slot of their workspace) */
      queued: count,
      oldest_queued_s: z.number().nullable(),
    }),
  ),
  /** [workspace_id, reason, waiting runs] */
  waiting: z.array(z.tuple([uuid, z.string(), count])),
  jobs: z.array(z.object({ workspace_id: uuid, ready: count, busy: count, oldest_ready_s: z.number().nullable() })),
  /** live worker pools per dedicated workspace (null: shared workers) */
  workers: z.array(z.object({ workspace_id: uuid.nullable(), live: count, slots: count })),
});
export type MetricsSnapshot = z.infer<typeof SnapshotSchema>;

/**
 * The run counters settled after `since` (null: from the oldest run; the previous snapshot's
 * `cut` otherwise), at most `windowSeconds` of them, and when that reaches the cut (`complete`)
 * what is still live and the gauges of the present, for every workspace: one statement.
 * Counters settle `settleSeconds` behind the database clock, and before any transaction still
 * open (000036 says why).
 */
export async function readMetricsSnapshot(db: Queryable, since: string | null, settleSeconds: number, windowSeconds: number): Promise<MetricsSnapshot> {
  const { rows } = await db.query<{ snapshot: unknown }>("select everruns_private.metrics_snapshot($1::timestamptz, $2, $3) as snapshot", [
    since,
    settleSeconds,
    windowSeconds,
  ]);
  return SnapshotSchema.parse(rows[0]!.snapshot);
}
