// MCP servers' tool lists (000027), for the worker: a run's pinned lists, a recent list of the same
// agent version to reuse (the database clock), pinning one to a run (fenced by the step attempt;
// the first pin wins), and recording a failed listing for the console. Related operations of one
// table kept together on purpose. Ids of lists are bigint: strings here.
import { z } from "zod";
import { fromDatabaseError } from "../errors.ts";
import type { Queryable } from "../pool.ts";

/** A tool list as a run sees it. */
export interface McpToolList {
  /** everruns.mcp_tool_lists.id (a bigint, as a string) */
  listId: string;
  /** the MCP Tool objects as the server listed them */
  tools: unknown[];
  /** the server's serverInfo (name, version), if it gave one */
  serverInfo: Record<string, unknown> | null;
  /** when the server was listed (ISO 8601, the database clock) */
  fetchedAt: string;
}

export interface PinnedMcpToolList extends McpToolList {
  server: string;
}

const ListRowSchema = z.object({
  list_id: z.string(),
  tools: z.array(z.unknown()),
  server_info: z.record(z.string(), z.unknown()).nullable(),
  fetched_at: z.union([z.date(), z.string()]).transform((v) => new Date(v).toISOString()),
});

function toList(row: unknown): McpToolList {
  const r = ListRowSchema.parse(row);
  return { listId: r.list_id, tools: r.tools, serverInfo: r.server_info, fetchedAt: r.fetched_at };
}

const PINNED = "select server, list_id::text as list_id, tools, server_info, fetched_at from everruns_private.pinned_mcp_tools($1)";

/** The lists pinned to a run, one per server (by server name). */
export async function pinnedMcpTools(db: Queryable, runId: string): Promise<PinnedMcpToolList[]> {
  try {
    const { rows } = await db.query<{ server: string }>(PINNED, [runId]);
    return rows.map((row) => ({ server: z.string().parse(row.server), ...toList(row) }));
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

const CACHED = "select list_id::text as list_id, tools, server_info, fetched_at from everruns_private.cached_mcp_tool_list($1, $2, $3, $4)";

/**
 * The newest successful list of the run's agent version for `server` at `endpoint` fetched at
 * most `maxAgeSeconds` ago (the database clock); null when there is none or `maxAgeSeconds` is 0.
 */
export async function cachedMcpToolList(db: Queryable, runId: string, server: string, endpoint: string, maxAgeSeconds: number): Promise<McpToolList | null> {
  try {
    const { rows } = await db.query(CACHED, [runId, server, endpoint, maxAgeSeconds]);
    return rows[0] ? toList(rows[0]) : null;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

export interface PinMcpToolList {
  runId: string;
  seq: number;
  attempt: number;
  server: string;
  /** a list cachedMcpToolList returned for this run: pinned as it is (tools are then ignored) */
  listId?: string | null;
  /** the server's URL, or stdio:<command> */
  endpoint: string;
  /** the tools/list result's tools, stored as a new list when listId is not given */
  tools?: unknown[];
  serverInfo?: Record<string, unknown> | null;
}

const PIN = "select list_id::text as list_id, tools, server_info, fetched_at from everruns_private.pin_mcp_tool_list($1, $2, $3, $4, $5, $6, $7, $8)";

/**
 * Pins a list for (run, server), fenced by the step attempt (StaleAttemptError when fenced out).
 * An existing pin wins: it is returned unchanged, so the caller must use what this returns, not
 * what it passed. Else `listId` (a cached list of the same agent version and server), or a new
 * list of `endpoint`, `tools` and `serverInfo`, is pinned and returned. Durable when it returns.
 */
export async function pinMcpToolList(db: Queryable, pin: PinMcpToolList): Promise<McpToolList> {
  try {
    const { rows } = await db.query(PIN, [
      pin.runId,
      pin.seq,
      pin.attempt,
      pin.server,
      pin.listId ?? null,
      pin.endpoint,
      pin.tools === undefined ? null : JSON.stringify(pin.tools),
      pin.serverInfo == null ? null : JSON.stringify(pin.serverInfo),
    ]);
    return toList(rows[0]);
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

const RECORD_FAILURE = "select everruns_private.record_mcp_list_failure($1, $2, $3, $4)";

/** Records a failed listing of `server` for the run's agent version (the error cut to 2000 characters). */
export async function recordMcpListFailure(db: Queryable, runId: string, server: string, endpoint: string, error: string): Promise<void> {
  try {
    await db.query(RECORD_FAILURE, [runId, server, endpoint, error]);
  } catch (e) {
    throw fromDatabaseError(e);
  }
}
