// The connection budget, checked when a worker or an API starts (issue 23): a process refuses to
// start when the connections it will hold, with those every Everruns process holds already,
// would not fit in what the server allows minus a reserve left for other clients. Before this an
// idle worker at high concurrency took every connection Postgres allows within 2 s and every
// other client (psql, a dashboard, a migration) got "sorry, too many clients already".
//
//   everruns_now + wanted ≤ max_connections − superuser_reserved_connections
//                          − reserved_connections − EVERRUNS_DB_RESERVED_CONNECTIONS
//
// - everruns_now: client connections whose application_name starts with "everruns", in every
//   database of the server (max_connections is server-wide), this check's own excluded.
// - superuser_reserved_connections and reserved_connections (Postgres 16+, 0 before) are never
//   counted as Everruns', even when it connects as a superuser (or a member of
//   pg_use_reserved_connections) and could take them: they exist so that an administrator can
//   still log in when everything else is taken, which is exactly when they are needed.
// - EVERRUNS_DB_RESERVED_CONNECTIONS: what Everruns leaves to everyone else.
//
// It is a check at start, not a reservation: processes starting at the same moment do not see
// each other's connections yet, and the reserve absorbs that. Through PgBouncer (DATABASE_URL
// to it, DATABASE_DIRECT_URL to the server) check on the direct URL, wanting only the direct
// connections (LISTEN, liveness): the pooled ones reach the server as PgBouncer's own.
import { z } from "zod";
import { connectClient } from "./connection-target.ts";
import { ConfigError } from "./errors.ts";
import { readConnectionCensus } from "./sql/connectionBudget.ts";

export interface BudgetRequest {
  /** The server to check: DATABASE_DIRECT_URL when set, else DATABASE_URL. */
  databaseUrl: string;
  /** Who asks, for messages: "worker", "API". */
  who: string;
  /** Connections this process will hold at most (pool, LISTEN, liveness). */
  wanted: number;
  /** EVERRUNS_DB_RESERVED_CONNECTIONS: connections left to other clients. */
  reserved: number;
  /** How long to wait for the check's connection (EVERRUNS_DB_CONNECT_TIMEOUT_MS); 0: forever. Default 10 s. */
  connectTimeoutMs?: number;
}

const BudgetRequestSchema = z.object({
  databaseUrl: z.string().min(1),
  who: z.string().min(1),
  wanted: z.number().int().min(1),
  reserved: z.number().int().min(0),
  connectTimeoutMs: z.number().int().min(0).default(10_000),
});

export interface BudgetReport {
  who: string;
  wanted: number;
  /** EVERRUNS_DB_RESERVED_CONNECTIONS. */
  reserved: number;
  maxConnections: number;
  superuserReservedConnections: number;
  /** The server's reserved_connections (Postgres 16+; 0 before). */
  reservedConnections: number;
  /** max_connections − superuser_reserved_connections − reserved_connections: what ordinary roles may use. */
  usable: number;
  /** usable − reserved: what every Everruns process together may hold. */
  limit: number;
  /** Held by Everruns processes now (application_name everruns…), this check's own excluded. */
  everrunsNow: number;
  /** Held by other clients now. */
  othersNow: number;
  /** Free of `usable` once this process holds `wanted`, at today's other clients. */
  freeAfter: number;
  isSuperuser: boolean;
  /** false: the role sees no backend_type of other roles' sessions, and counts may be a little high (db/sql/connectionBudget.ts). */
  seesAllSessions: boolean;
  /** For the caller to log, one line each: the budget fits, but not comfortably. */
  warnings: string[];
  /** The line to log: "connection budget: 12 of 100 (97 usable, 10 reserved for other clients, 24 held by everruns processes)". */
  summary: string;
}

/** What to do when the budget does not fit; docs/deploy.md, "Sizing connections", explains. */
const REMEDIES =
  "Lower --db-connections (WORKER_DB_CONNECTIONS for a worker, API_DB_CONNECTIONS for the API) or run fewer processes, " +
  "raise max_connections on the server, lower EVERRUNS_DB_RESERVED_CONNECTIONS, " +
  "or put PgBouncer in front (DATABASE_URL to PgBouncer, DATABASE_DIRECT_URL to the server) " +
  '(docs/deploy.md, "Sizing connections")';

/**
 * Reads the server's connection limits on one short-lived connection of its own and refuses
 * (ConfigError, naming every number, the formula and what to do) when this process's `wanted`
 * connections would not fit in Everruns' share. Returns the numbers, with warnings when other
 * clients already eat into the reserve.
 */
export async function checkConnectionBudget(request: BudgetRequest): Promise<BudgetReport> {
  const { databaseUrl, who, wanted, reserved, connectTimeoutMs } = BudgetRequestSchema.parse(request);
  const client = await connectClient(databaseUrl, { application_name: "everruns-connection-budget", connectionTimeoutMillis: connectTimeoutMs });
  let census;
  try {
    census = await readConnectionCensus(client);
  } finally {
    await client.end().catch(() => undefined);
  }

  const maxConnections = census.max_connections;
  const superuserReservedConnections = census.superuser_reserved_connections;
  const reservedConnections = census.reserved_connections;
  const usable = maxConnections - superuserReservedConnections - reservedConnections;
  const limit = usable - reserved;
  const everrunsNow = census.everruns_now;
  const othersNow = census.all_now - census.everruns_now;
  const freeAfter = usable - census.all_now - wanted;

  const formula =
    `everruns_now ${everrunsNow} + wanted ${wanted} = ${everrunsNow + wanted}, ` +
    `over ${limit} = max_connections ${maxConnections} − superuser_reserved_connections ${superuserReservedConnections} ` +
    `− reserved_connections ${reservedConnections} − EVERRUNS_DB_RESERVED_CONNECTIONS ${reserved}`;
  if (everrunsNow + wanted > limit) {
    throw new ConfigError(
      `the ${who} would hold up to ${wanted} database connections, and Everruns processes hold ${everrunsNow} already: ` +
        `that does not fit in the connections Everruns may take (${formula}; other clients hold ${othersNow} now). ${REMEDIES}`,
    );
  }

  const warnings: string[] = [];
  if (freeAfter < reserved) {
    warnings.push(
      `other clients hold ${othersNow} database connections now: with Everruns' ${everrunsNow} and this ${who}'s ${wanted}, ` +
        `${Math.max(freeAfter, 0)} of the ${usable} usable (max_connections ${maxConnections} − superuser_reserved_connections ${superuserReservedConnections} ` +
        `− reserved_connections ${reservedConnections}) would be free, fewer than the ${reserved} EVERRUNS_DB_RESERVED_CONNECTIONS keeps for them; ` +
        "new clients may be refused. Find who holds them (select application_name, count(*) from pg_stat_activity group by 1), " +
        "or raise max_connections",
    );
  }

  return {
    who,
    wanted,
    reserved,
    maxConnections,
    superuserReservedConnections,
    reservedConnections,
    usable,
    limit,
    everrunsNow,
    othersNow,
    freeAfter,
    isSuperuser: census.is_superuser,
    seesAllSessions: census.sees_all_sessions,
    warnings,
    summary:
      `connection budget: ${wanted} of ${maxConnections} (${usable} usable, ${reserved} reserved for other clients, ` +
      `${everrunsNow} held by everruns processes)`,
  };
}
