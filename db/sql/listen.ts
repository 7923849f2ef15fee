import pg from "pg";
import type { Queryable } from "../pool.ts";

/**
 * LISTENs on `channels` (e.g. everruns:events). Only meaningful on a dedicated connection (a
 * pg.Client), never a pool: notifications go to the session that listens. LISTEN takes no
 * parameters, so the channel names are quoted as identifiers.
 */
export async function listen(db: Queryable, channels: readonly string[]): Promise<void> {
  await db.query(channels.map((channel) => `listen ${pg.escapeIdentifier(channel)}`).join("; "));
}
