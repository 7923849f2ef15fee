import { z } from "zod";
import type { Queryable } from "../pool.ts";

/**
 * The pid of the server process serving this connection (a bench on the same machine finds the
 * postmaster as its parent, to measure the cluster's CPU).
 */
export async function benchBackendPid(db: Queryable): Promise<number> {
  const { rows } = await db.query("select pg_catalog.pg_backend_pid() as pid");
  return z.object({ pid: z.number().int() }).parse(rows[0]).pid;
}
