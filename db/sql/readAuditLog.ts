import type { Queryable } from "../pool.ts";

/** The actions recorded so far (db/migrations/000003_audit_log.sql); a later migration may add more. */
export type AuditAction =
  | "agent.created"
  | "agent.config_updated"
  | "agent.renamed"
  | "agent.deleted"
  | "run.started"
  | "run.resumed"
  | "approval.answered"
  | "run.cancelled"
  | "signal.sent";

/** One row of a workspace's audit log (everruns.audit_log), hashes as lowercase hex. */
export interface AuditLogRow {
  id: number;
  workspace_id: string;
  seq: number;
  at: Date;
  actor: string;
  /** an AuditAction, or one a later migration added */
  action: string;
  target_type: string;
  target_id: string | null;
  details: Record<string, unknown>;
  prev_hash: string | null;
  hash: string;
}

export interface ReadAuditLogOptions {
  /** at most this many rows (default 100) */
  limit?: number;
  /** only rows with a seq below this one: pass the last seq of a page to get the next */
  before?: number | null;
}

/**
 * A workspace's audit log, newest first: up to `limit` rows with seq below `before` (a backward
 * range of audit_log_workspace_seq_idx).
 */
export async function readAuditLog(db: Queryable, workspaceId: string, { limit = 100, before = null }: ReadAuditLogOptions = {}): Promise<AuditLogRow[]> {
  const { rows } = await db.query<AuditLogRow>(
    `select id, workspace_id, seq, at, actor, action, target_type, target_id, details,
            encode(prev_hash, 'hex') as prev_hash, encode(hash, 'hex') as hash
       from everruns.audit_log
      where workspace_id = $1 and ($2::bigint is null or seq < $2::bigint)
      order by seq desc
      limit $3`,
    [workspaceId, before, limit],
  );
  return rows;
}
