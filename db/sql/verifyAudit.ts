import type { Queryable } from "../pool.ts";

/** The first broken link of a workspace's audit chain (everruns.verify_audit). */
export interface AuditChainBreak {
  /** the seq at which the chain breaks (for "missing": the first missing seq) */
  seq: number;
  /**
   * missing: rows deleted before the row found there (its seq is `found_seq`);
   * prev_hash: the row does not link to the row before it;
   * hash: the row's contents were changed;
   * head: the log ends before, or elsewhere than, the chain's recorded tip (newest rows deleted)
   */
  problem: "missing" | "prev_hash" | "hash" | "head";
  message: string;
  found_seq?: number;
}

/** Checks a workspace's audit chain: null when it is intact, else its first broken link. Reads the whole chain. */
export async function verifyAudit(db: Queryable, workspaceId: string): Promise<AuditChainBreak | null> {
  const { rows } = await db.query<{ broken: AuditChainBreak | null }>("select everruns.verify_audit($1) as broken", [workspaceId]);
  return rows[0]!.broken;
}
