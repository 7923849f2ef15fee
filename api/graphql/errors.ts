// What a GraphQL client sees of an error. Our domain errors (EverrunsError, and the SQLSTATEs of
// class EV our SQL raises, e.g. `invalid agent config: "max_steps" ...` from the agents trigger)
// go through with their message and a `code` extension; anything else is logged and masked.
import { randomUUID } from "node:crypto";
import { isSafeError } from "postgraphile/grafast";
import { GraphQLError } from "postgraphile/graphql";
import { EverrunsError, fromDatabaseError, LimitError, isConnectionError } from "../../db/errors.ts";
import { describeTimeout } from "../../db/pool.ts";
import type { Logger } from "../../lib/logger.ts";
import { SUGGESTION } from "./limits.ts";

function withMessage(error: GraphQLError, message: string, extensions: Record<string, unknown>): GraphQLError {
  return new GraphQLError(message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions,
  });
}

/** A unique violation without the constraint's name: the columns that clash, from the detail (which Postgres leaves out under row-level security). */
function conflictMessage(e: { detail?: string; table?: string }): string {
  const columns = /^Key \(([^)]*)\)=/.exec(e.detail ?? "")?.[1];
  return `conflict: another ${e.table ? e.table.replace(/s$/, "").replaceAll("_", " ") : "row"} has the same ${columns ?? "unique key"}`;
}

export function makeMaskError(log: Logger, { suggestions = true }: { suggestions?: boolean } = {}): (error: GraphQLError) => GraphQLError {
  return (error) => {
    const original = error.originalError;
    // parse/validation errors, "Cannot return null for non-nullable field", ...
    if (!original || original instanceof GraphQLError) {
      if (!suggestions && SUGGESTION.test(error.message)) return withMessage(error, error.message.replace(SUGGESTION, ""), error.extensions ?? {});
      return error;
    }
    if (isSafeError(original)) return withMessage(error, original.message, original.extensions ?? {});
    // Grafast's planning limit: the operation is too complex to plan
    if (/refuses to continue processing at planning depth/.test(original.message)) {
      return withMessage(error, "query too complex: too many nested fields or fragments to plan; ask for less in one request", { code: "query_too_complex" });
    }
    const pg = original as { code?: unknown; message: string; detail?: string; table?: string };
    if (pg.code === "23505") return withMessage(error, conflictMessage(pg), { code: "conflict" });
    if (pg.code === "22P02") {
      // the type and Postgres' detail (what is wrong with it), not the text echoing the value
      const type = /for type ([\w ]+?):/.exec(pg.message)?.[1];
      return withMessage(error, `malformed value${type ? ` (not a valid ${type})` : ""}${pg.detail ? `: ${pg.detail}` : ""}`, { code: "invalid_input" });
    }
    const mapped = fromDatabaseError(original);
    // retryAfter (seconds) as the `rate_limited` error of too many operations has it (api/server.ts)
    if (mapped instanceof LimitError) return withMessage(error, mapped.message, { code: mapped.code, retryAfter: mapped.retryAfterSeconds });
    if (mapped instanceof EverrunsError) return withMessage(error, mapped.message, { code: mapped.code });
    const e = original as { code?: unknown; message: string; hint?: string };
    if (typeof e.code === "string" && e.code.startsWith("EV")) {
      return withMessage(error, e.hint ? `${e.message} (${e.hint})` : e.message, { code: "rejected" });
    }
    if (e.code === "42883") {
      return withMessage(error, `the database lacks a function this operation needs (${e.message}); run the migrations`, { code: "not_implemented" });
    }
    if (isConnectionError(original)) {
      // an outage, not a bug: no stack trace, and the same answer as REST's 503
      log.warn(`GraphQL at ${error.path?.join(".") ?? "?"}: database unavailable: ${original.message}`);
      return withMessage(error, "the database is unreachable right now; retry shortly", { code: "database_unavailable" });
    }
    const timeout = describeTimeout(original);
    if (timeout) {
      log.warn(`GraphQL at ${error.path?.join(".") ?? "?"}: ${timeout}`);
      return withMessage(error, "the database did not answer in time; retry shortly", { code: "database_timeout" });
    }
    const errorId = randomUUID().slice(0, 8);
    log.error(`GraphQL error ${errorId} at ${error.path?.join(".") ?? "?"}: ${original.stack ?? original.message}`);
    return withMessage(error, `internal error (id ${errorId}); the server log has the details`, { code: "internal_error", errorId });
  };
}
