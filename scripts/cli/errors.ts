// What the CLI prints when a command fails: one line that says what is wrong and what to do,
// never a stack trace (LOG_LEVEL=debug adds it). Database trouble names the server, the
// database and the fix; the exit codes are documented in `everruns --help` (EXIT_CODES).
import { EverrunsError } from "../../db/errors.ts";

/** The exit codes of every command (printed by everruns --help, listed in README). */
export const EXIT = {
  ok: 0,
  /** an error: the message says what and what to do; run --follow: the run failed */
  error: 1,
  /** usage: an unknown command or option, a missing argument */
  usage: 2,
  /** run --follow: the run stopped for an answer (an approval, client tool calls) */
  needsAnswer: 3,
  /** run --follow: the run was cancelled */
  cancelled: 4,
} as const;

export const EXIT_CODES_HELP = `Exit codes:
  0  done (run --follow: the run succeeded)
  1  an error, explained on one line (run --follow: the run failed)
  2  usage: an unknown command or option, a missing argument
  3  run --follow: the run stopped for an answer (approve, reject, outcome, resume) or for client tool calls
  4  run --follow: the run was cancelled (batch follow: the batch was cancelled)
  5  batch run --follow / batch follow: the batch completed with errors (some items failed)`;

/** Where the CLI's database is, for messages: set when a command resolves its database. */
let databaseUrl: string | null = null;
export function noteDatabaseUrl(url: string): void {
  databaseUrl = url;
}

export interface DatabaseTarget {
  host: string;
  port: string;
  database: string;
  user: string;
}

/** host, port, database and user of a postgres:// URL (the first host of a list). */
export function databaseTarget(url: string): DatabaseTarget | null {
  const match = /^postgres(?:ql)?:\/\/(?:([^:@/]*)(?::[^@/]*)?@)?([^/?]*)(?:\/([^?]*))?/.exec(url);
  if (!match) return null;
  const first = (match[2] ?? "").split(",")[0] ?? "";
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(first);
  const [host, port] = bracketed ? [bracketed[1]!, bracketed[2]] : first.split(":");
  const params = new URLSearchParams(url.split("?")[1] ?? "");
  const user = decodeURIComponent(match[1] || params.get("user") || process.env.PGUSER || "postgres");
  return {
    host: host || params.get("host") || "localhost",
    port: port || params.get("port") || "5432",
    database: decodeURIComponent(match[3] || params.get("dbname") || user),
    user,
  };
}

type PgLike = { code?: unknown; message?: unknown; errors?: unknown; address?: unknown; port?: unknown };

/** The error's code, looking into an AggregateError (localhost → ::1 and 127.0.0.1 both refused). */
function errorCode(error: PgLike): string | undefined {
  if (typeof error.code === "string") return error.code;
  if (Array.isArray(error.errors)) for (const e of error.errors as PgLike[]) if (typeof e?.code === "string") return e.code;
  return undefined;
}

/** One line for an error of the database, or null when it is not one. */
export function describeDatabaseError(error: unknown, url: string | null = databaseUrl ?? (process.env.DATABASE_URL || null)): string | null {
  if (!error || typeof error !== "object") return null;
  const e = error as PgLike;
  const code = errorCode(e);
  const message = typeof e.message === "string" ? e.message : "";
  const t = url ? databaseTarget(url) : null;
  const where = t ? `${t.host}:${t.port}` : "the database server";
  const db = t ? ` (database ${t.database})` : "";
  const fix = "set DATABASE_URL";
  switch (code) {
    case "ECONNREFUSED":
      return `cannot reach Postgres at ${where}${db}: is it running? ${fix} to the server to use`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `cannot reach Postgres at ${where}${db}: the host name does not resolve; ${fix}`;
    case "ETIMEDOUT":
      return `cannot reach Postgres at ${where}${db}: the connection timed out (a firewall, a wrong host?); ${fix}`;
    case "28000":
      // invalid_authorization_specification: role "x" does not exist, or pg_hba refuses it
      return `Postgres at ${where} refused the connection${db}: ${message}; ${fix} to a role that may log in`;
    case "28P01":
      return `Postgres at ${where} refused the password of role ${t?.user ?? "?"}${db}; ${fix} with the right password`;
    case "3D000":
      return `${message} on Postgres at ${where}: create it (createdb -h ${t?.host ?? "HOST"} -p ${t?.port ?? "PORT"} ${t?.database ?? "NAME"}) then run \`everruns migrate\`, or ${fix}`;
    case "42P01":
    case "3F000":
    case "42883":
      if (!/everruns|graphile_worker/.test(message)) return null;
      return `the database ${t?.database ?? ""} at ${where} has no Everruns schema yet (${message}): run \`everruns migrate\``.replace(
        "database  at",
        "database at",
      );
    case "57P03":
      return `Postgres at ${where}${db} is starting up or shutting down: try again in a moment`;
    case "53300":
      return `Postgres at ${where}${db} has no free connection slots (too many clients): stop some clients or raise max_connections`;
  }
  if (/^(08|57P0)/.test(code ?? "") || /Connection terminated|connection timeout/i.test(message)) {
    return `lost the connection to Postgres at ${where}${db} (${message || code}): is it running? ${fix}`;
  }
  return null;
}

/** The one line main prints for an error thrown by a command. */
export function describeError(error: unknown): string {
  const database = describeDatabaseError(error);
  if (database) return database;
  const e = error as { code?: unknown; message?: unknown; address?: unknown; port?: unknown } | null;
  if (e?.code === "EADDRINUSE") {
    return `port ${String(e.port)} on ${String(e.address)} is in use by another process: stop it (everruns status shows an everruns start) or choose another port (PORT, EVERRUNS_WEB_PORT)`;
  }
  if (error instanceof EverrunsError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Whether to print the stack too (LOG_LEVEL=debug); an EverrunsError's message is the whole story. */
export function wantsStack(error: unknown): boolean {
  return process.env.LOG_LEVEL === "debug" && error instanceof Error && Boolean(error.stack);
}
