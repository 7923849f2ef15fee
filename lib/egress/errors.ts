// The egress guard's errors, light to import (no undici): the providers' error mapping
// (worker/providers/errors.ts) looks for them in what an SDK throws.
import { EGRESS_ALLOW_ENV } from "./config.ts";

/** A request the guard refused: the host's address is of a kind the operator has not allowed. */
export class EgressRefusedError extends Error {
  readonly host: string;
  readonly kind: string;
  constructor(host: string, kind: string) {
    super(`the request to ${host} was refused by the egress guard: ${kind} addresses are not allowed; ` + `add the host to ${EGRESS_ALLOW_ENV} to allow it`);
    this.name = "EgressRefusedError";
    this.host = host;
    this.kind = kind;
  }
}

/** A redirect the guard does not follow (too many, or to something other than http/https). */
export class EgressRedirectError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EgressRedirectError";
  }
}

/** The guard's error (a refusal, a redirect it would not follow) in an error's cause chain, if any: fetch and the SDKs wrap it. */
export function egressRefusal(error: unknown): EgressRefusedError | EgressRedirectError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current && typeof current === "object"; depth++) {
    if (current instanceof EgressRefusedError || current instanceof EgressRedirectError) return current;
    if (current instanceof AggregateError) {
      const inner = current.errors.map(egressRefusal).find(Boolean);
      if (inner) return inner;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
