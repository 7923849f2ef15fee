// What a GraphQL client sees of an error. Our domain errors (EverrunsError, and the SQLSTATEs of
// class EV our SQL raises, e.g. `invalid agent config: "max_steps" ...` from the agents trigger)
// go through with their message and a `code` extension; anything else is logged and masked.
import { randomUUID } from "node:crypto";
import { isSafeError } from "postgraphile/grafast";
import { GraphQLError } from "postgraphile/graphql";
import { EverrunsError, fromDatabaseError } from "../../db/errors.ts";
import type { Logger } from "../../lib/logger.ts";

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

export function makeMaskError(log: Logger): (error: GraphQLError) => GraphQLError {
  return (error) => {
    const original = error.originalError;
    // parse/validation errors, "Cannot return null for non-nullable field", ...
    if (!original || original instanceof GraphQLError) return error;
    if (isSafeError(original)) return withMessage(error, original.message, original.extensions ?? {});
    const mapped = fromDatabaseError(original);
    if (mapped instanceof EverrunsError) return withMessage(error, mapped.message, { code: mapped.code });
    const e = original as { code?: unknown; message: string; hint?: string };
    if (typeof e.code === "string" && e.code.startsWith("EV")) {
      return withMessage(error, e.hint ? `${e.message} (${e.hint})` : e.message, { code: "rejected" });
    }
    if (e.code === "42883") {
      return withMessage(error, `the database lacks a function this operation needs (${e.message}); run the migrations`, { code: "not_implemented" });
    }
    const errorId = randomUUID().slice(0, 8);
    log.error(`GraphQL error ${errorId} at ${error.path?.join(".") ?? "?"}: ${original.stack ?? original.message}`);
    return withMessage(error, `internal error (id ${errorId}); the server log has the details`, { code: "internal_error", errorId });
  };
}
