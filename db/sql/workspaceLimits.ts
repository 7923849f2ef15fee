// A workspace's admission limits (000021, 000023): max_queued_runs, runs_per_minute and
// max_running_runs (null meaning unlimited), its fair-share weight (1..1000), its daily quotas
// max_tokens_per_day and max_cost_usd_per_day (null: none) and whether it is dedicated (only
// workers started for it run its steps), with its usage now and today. Reading and setting any workspace's are administrators' operations (the CLI, on the
// owner's connection: granted to no API or worker role); the API reads only the caller's own
// (readWorkspaceLimits, ops_workspace_admission).
import { fromDatabaseError } from "../errors.ts";
import type { Queryable } from "../pool.ts";

export interface WorkspaceLimits {
  workspaceId: string;
  workspaceName: string;
  maxQueuedRuns: number | null;
  runsPerMinute: number | null;
  /** At most this many runs active (holding a worker slot or due to) at once (null: unlimited). */
  maxRunningRuns: number | null;
  /** Fair share: worker slots go to workspaces in proportion to their weight (1..1000, default 1). */
  weight: number;
  /** Quota: input + output tokens of its LLM steps per UTC day (null: none); over it, new LLM steps park until the next UTC midnight or a raise. */
  maxTokensPerDay: number | null;
  /** Quota: cost of its LLM steps per UTC day in USD (null: none); as maxTokensPerDay. */
  maxCostUsdPerDay: number | null;
  /** Only workers started for it (everruns worker --workspace) run its steps; shared workers never take them. */
  dedicated: boolean;
  /** Usage now: the workspace's queued runs (admitted or not). */
  queuedRuns: number;
  /** Usage now: queued runs not admitted yet (waiting for a worker slot). */
  pendingRuns: number;
  /** Usage now: runs holding a worker slot or due to (what max_running_runs counts). */
  activeRuns: number;
  /** When the longest-waiting pending run was created (null: none waits). */
  oldestPendingAt: string | null;
  /** Usage today (UTC): its LLM steps' tokens, counted while a quota is set (null: no quota). */
  tokensToday: number | null;
  /** Usage today (UTC): its LLM steps' cost in USD, counted while a quota is set (null: no quota). */
  costUsdToday: number | null;
  /** Usage now: the runs its runs_per_minute bucket would admit at once (null: unlimited). */
  tokens: number | null;
  /** When the limits last changed (null: never set). */
  updatedAt: string | null;
}

/**
 * The limits to change: a key not given keeps its value; null is unlimited (weight: 1..1000,
 * never null; maxTokensPerDay a whole number of at least 1; maxCostUsdPerDay dollars more than 0
 * and less than 100,000,000).
 */
export interface WorkspaceLimitsPatch {
  maxQueuedRuns?: number | null;
  runsPerMinute?: number | null;
  maxRunningRuns?: number | null;
  weight?: number;
  maxTokensPerDay?: number | null;
  maxCostUsdPerDay?: number | null;
  dedicated?: boolean;
}

interface LimitsRow {
  workspace_id: string;
  workspace_name: string;
  max_queued_runs: number | null;
  runs_per_minute: number | null;
  max_running_runs: number | null;
  weight: number;
  max_tokens_per_day: string | null; // bigint
  max_cost_usd_per_day: string | null; // numeric
  dedicated: boolean;
  queued_runs: string;
  pending_runs: string;
  active_runs: string;
  oldest_pending_at: Date | null;
  tokens_today: string | null; // bigint
  cost_usd_today: string | null; // numeric
  tokens: number | null;
  updated_at: Date | null;
}

/** A bigint or numeric column (pg gives strings) as a number; null stays null. */
function numberOrNull(value: string | null): number | null {
  return value === null ? null : Number(value);
}

function toLimits(row: LimitsRow): WorkspaceLimits {
  return {
    workspaceId: row.workspace_id,
    workspaceName: row.workspace_name,
    maxQueuedRuns: row.max_queued_runs,
    runsPerMinute: row.runs_per_minute,
    maxRunningRuns: row.max_running_runs,
    weight: row.weight,
    maxTokensPerDay: numberOrNull(row.max_tokens_per_day),
    maxCostUsdPerDay: numberOrNull(row.max_cost_usd_per_day),
    dedicated: row.dedicated,
    queuedRuns: Number(row.queued_runs),
    pendingRuns: Number(row.pending_runs),
    activeRuns: Number(row.active_runs),
    oldestPendingAt: row.oldest_pending_at ? new Date(row.oldest_pending_at).toISOString() : null,
    tokensToday: numberOrNull(row.tokens_today),
    costUsdToday: numberOrNull(row.cost_usd_today),
    tokens: row.tokens === null ? null : Math.floor(row.tokens),
    updatedAt: row.updated_at ? new Date(row.updated_at).toISOString() : null,
  };
}

/** The workspace's limits and usage; NotFoundError (EV005) for an unknown workspace. */
export async function workspaceLimitsOf(db: Queryable, workspaceId: string): Promise<WorkspaceLimits> {
  try {
    const { rows } = await db.query<LimitsRow>("select * from everruns_private.workspace_admission($1)", [workspaceId]);
    return toLimits(rows[0]!);
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/**
 * Changes the limits `patch` names (only those: a key left out keeps its value; null is
 * unlimited), audited as workspace.limits_set, and admits the runs they let in; returns the
 * limits and usage after. NotFoundError (EV005) for an unknown workspace, ValidationError
 * (EV010) for a value out of range.
 */
export async function setWorkspaceLimits(db: Queryable, workspaceId: string, patch: WorkspaceLimitsPatch): Promise<WorkspaceLimits> {
  const limits: Record<string, number | boolean | null> = {};
  if (patch.maxQueuedRuns !== undefined) limits.max_queued_runs = patch.maxQueuedRuns;
  if (patch.runsPerMinute !== undefined) limits.runs_per_minute = patch.runsPerMinute;
  if (patch.maxRunningRuns !== undefined) limits.max_running_runs = patch.maxRunningRuns;
  if (patch.weight !== undefined) limits.weight = patch.weight;
  if (patch.maxTokensPerDay !== undefined) limits.max_tokens_per_day = patch.maxTokensPerDay;
  if (patch.maxCostUsdPerDay !== undefined) limits.max_cost_usd_per_day = patch.maxCostUsdPerDay;
  if (patch.dedicated !== undefined) limits.dedicated = patch.dedicated;
  try {
    const { rows } = await db.query<LimitsRow>("select * from everruns_private.set_workspace_admission($1, $2::jsonb)", [workspaceId, JSON.stringify(limits)]);
    return toLimits(rows[0]!);
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/** The caller's workspace's limits and usage (everruns_private.ops_workspace_admission, 000023); null: no workspace. */
export async function readWorkspaceLimits(db: Queryable): Promise<WorkspaceLimits | null> {
  const { rows } = await db.query<LimitsRow>("select * from everruns_private.ops_workspace_admission()");
  return rows[0] ? toLimits(rows[0]) : null;
}
