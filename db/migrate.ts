// Applies graphile-worker's schema, then our numbered migrations (db/migrations/NNNNNN_*.sql),
// each in its own transaction. Safe when several processes migrate at once: they queue on one
// advisory lock, and the ones that follow find nothing left to do.
//
// Migrations are immutable once they have landed. Each applied file's SHA-256 is recorded; when a
// file that a database has applied no longer matches (edited after it landed), or the database
// has applied a migration this code base does not have, migrate refuses to run and names the
// file, rather than leave that database silently on other functions than the code expects.
//
// Workers and APIs check the same at start (checkSchemaVersion): one query of the applied
// migrations. A database that lacks one of this code's migrations, or has applied one this code
// does not know (a newer release migrated it), is refused with what to do, unless
// EVERRUNS_ACCEPT_NEWER_SCHEMA covers the newer ones (a deliberate code rollback).
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";
import type { Logger } from "graphile-worker";
import { ConfigError, EverrunsError } from "./errors.ts";
import { createPool, type Pool, type Queryable } from "./pool.ts";
import { sleep } from "../lib/sleep.ts";

/** A migration failed, changed after it was applied, or the database is from another version. */
export class MigrationError extends EverrunsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("migration_failed", message, options);
  }
}

const MIGRATIONS_DIR = fileURLToPath(new URL("./migrations/", import.meta.url));
const LOCK_KEY = 7_465_727_275; // "everruns" migrations
const DEADLOCK_DETECTED = "40P01";
/** How many times a migration that lost a deadlock is applied in all, and the first wait before the next. */
const DEADLOCK_RETRIES = 5;
const DEADLOCK_BACKOFF_MS = 200;

export interface MigrationFile {
  id: number;
  name: string;
  file: string;
}

export async function listMigrations(dir = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{6}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return files.map((file) => ({ id: Number(file.slice(0, 6)), name: file.slice(7, -4), file: path.join(dir, file) }));
}

export function checksum(sql: string): string {
  return createHash("sha256").update(sql).digest("hex");
}

/** Applies what is missing; returns how many migrations it applied. `dir` is for tests. */
export async function migrate(pool: Pool, log: (line: string) => void = () => {}, dir = MIGRATIONS_DIR): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query("select pg_advisory_lock($1)", [LOCK_KEY]);
    try {
      // imported here: the API and workers import this file for checkSchemaVersion only
      const { runMigrations, Logger: WorkerLogger } = await import("graphile-worker");
      await runMigrations({ pgPool: pool, logger: quietLogger(WorkerLogger) });
      await client.query(`create table if not exists public.everruns_migrations (
        id int primary key, name text not null, checksum text not null, applied_at timestamptz not null default now())`);
      const legacy = await client.query(
        `select 1 from information_schema.columns
          where table_schema = 'public' and table_name = 'everruns_migrations' and column_name = 'checksum'`,
      );
      if (legacy.rowCount === 0) {
        throw new MigrationError(
          "this database was migrated by an Everruns from before the baseline schema (public.everruns_migrations has no checksums); " +
            "recreate the database (for the embedded one: stop Everruns and delete .everruns/) and start again",
        );
      }
      const files = await listMigrations(dir);
      const applied = (
        await client.query<{ id: number; name: string; checksum: string }>("select id, name, checksum from public.everruns_migrations order by id")
      ).rows;
      const byId = new Map(files.map((m) => [m.id, m]));
      for (const row of applied) {
        const file = byId.get(row.id);
        const label = `${String(row.id).padStart(6, "0")}_${row.name}.sql`;
        if (!file) {
          throw new MigrationError(
            `this database has applied migration ${label}, which this version of Everruns does not have: run a version that has it (the database is newer than this code)`,
          );
        }
        const sum = checksum(await readFile(file.file, "utf8"));
        if (sum !== row.checksum) {
          throw new MigrationError(
            `migration ${path.basename(file.file)} has changed since this database applied it (checksum ${row.checksum.slice(0, 12)}…, now ${sum.slice(0, 12)}…): ` +
              "a landed migration is never edited; restore it and put the change in a new migration",
          );
        }
      }
      const done = new Set(applied.map((r) => r.id));
      let count = 0;
      for (const m of files) {
        if (done.has(m.id)) continue;
        const sql = await readFile(m.file, "utf8");
        for (let attempt = 1; ; attempt++) {
          await client.query("begin");
          try {
            await client.query(sql);
            await client.query("insert into public.everruns_migrations (id, name, checksum) values ($1, $2, $3)", [m.id, m.name, checksum(sql)]);
            await client.query("commit");
            break;
          } catch (error) {
            await client.query("rollback").catch(() => undefined);
            // A migration under running workers (a rolling upgrade) takes table locks in its own
            // order while their transactions take row locks in theirs: Postgres may break a
            // deadlock by failing the migration. It rolled back whole: apply it again.
            if ((error as { code?: string }).code === DEADLOCK_DETECTED && attempt < DEADLOCK_RETRIES) {
              log(`migration ${path.basename(m.file)} deadlocked with a running process (try ${attempt}); applying it again`);
              await sleep(DEADLOCK_BACKOFF_MS * 2 ** (attempt - 1));
              continue;
            }
            throw new MigrationError(`migration ${path.basename(m.file)} failed: ${(error as Error).message}`, { cause: error });
          }
        }
        log(`applied migration ${path.basename(m.file)}`);
        count++;
      }
      await grantMigrationsRead(client);
      return count;
    } finally {
      await client.query("select pg_advisory_unlock($1)", [LOCK_KEY]).catch(() => undefined);
    }
  } finally {
    client.release();
  }
}

/**
 * Workers and APIs read public.everruns_migrations at start (checkSchemaVersion) under their own
 * logins, members of the group roles (docs/deploy.md, "Database roles"). The table is this
 * file's, not a migration's, so its grant is too: made once, when missing (a grant rewrites the
 * table's catalog row), and only once 000002 has created the roles.
 */
async function grantMigrationsRead(client: Queryable): Promise<void> {
  await client.query(`do $$
    declare r text;
    begin
      for r in select rolname from pg_catalog.pg_roles
                where rolname in ('everruns_worker', 'everruns_api')
                  and not pg_catalog.has_table_privilege(rolname, 'public.everruns_migrations', 'select') loop
        execute format('grant select on public.everruns_migrations to %I', r);
      end loop;
    end $$`);
}

/** Which migrations a database has applied and this code base has, by `NNNNNN_name`. */
export interface SchemaVersion {
  /** The database's latest applied migration (`NNNNNN_name`), null when it has none. */
  database: string | null;
  /** This code base's latest migration. */
  code: string;
  /** Applied by the database, unknown to this code (a newer release migrated it). */
  unknown: string[];
  /** This code's migrations the database has not applied (`everruns migrate` has not run). */
  missing: string[];
}

/** The variable that lets older code start against a newer schema (a deliberate code rollback). */
export const ACCEPT_NEWER_SCHEMA_ENV = "EVERRUNS_ACCEPT_NEWER_SCHEMA";

/**
 * Refuses (a ConfigError, printed without a stack) to start against a database whose schema is
 * not this code's: one query of public.everruns_migrations, compared with the files of
 * db/migrations (names only: `everruns migrate` checks the checksums). A schema newer than the
 * code is accepted when every unknown migration is at most EVERRUNS_ACCEPT_NEWER_SCHEMA
 * (`warn` says so); a schema that lacks one of the code's migrations never is.
 */
export async function checkSchemaVersion(
  db: Queryable | string,
  opts: { warn?: (line: string) => void; acceptNewerThrough?: number | null; dir?: string } = {},
): Promise<SchemaVersion> {
  const acceptNewerThrough = opts.acceptNewerThrough === undefined ? acceptNewerSchemaFromEnv() : opts.acceptNewerThrough;
  const files = await listMigrations(opts.dir);
  const applied = await readApplied(db);
  const code = files.map(label);
  const have = new Set(applied.map(label));
  const known = new Set(code);
  const version: SchemaVersion = {
    database: applied.length > 0 ? label(applied[applied.length - 1]!) : null,
    code: code[code.length - 1] ?? "(none)",
    unknown: applied.map(label).filter((m) => !known.has(m)),
    missing: code.filter((m) => !have.has(m)),
  };
  if (version.missing.length > 0) {
    const newer =
      version.unknown.length > 0 ? `; it has also applied ${list(version.unknown)}, which this version does not know (another release migrated it)` : "";
    throw new ConfigError(
      `the database's schema is older than this version of Everruns: it lacks migration ${list(version.missing)} ` +
        `(the database's latest is ${version.database ?? "none: it was never migrated"}, this version's ${version.code})${newer}. ` +
        "Run `everruns migrate` with this version first, then start workers and APIs",
    );
  }
  if (version.unknown.length > 0) {
    const newest = Math.max(...applied.filter((m) => !known.has(label(m))).map((m) => m.id));
    if (acceptNewerThrough === null || newest > acceptNewerThrough) {
      throw new ConfigError(
        `the database's schema is newer than this version of Everruns: it has applied migration ${list(version.unknown)}, ` +
          `which this version does not have (the database's latest is ${version.database}, this version's ${version.code}). ` +
          "Deploy the version that has it. To run this older version on purpose (a code rollback: safe while the newer " +
          `migrations are additive), set ${ACCEPT_NEWER_SCHEMA_ENV}=${String(newest).padStart(6, "0")} (docs/deploy.md, "Rollbacks")`,
      );
    }
    opts.warn?.(
      `the database's schema is newer than this version of Everruns (it has ${list(version.unknown)}); ` +
        `starting anyway: ${ACCEPT_NEWER_SCHEMA_ENV}=${acceptNewerThrough} accepts it`,
    );
  }
  return version;
}

/** EVERRUNS_ACCEPT_NEWER_SCHEMA: the newest unknown migration (its number) older code may run against; null when unset. */
export function acceptNewerSchemaFromEnv(source: NodeJS.ProcessEnv = process.env): number | null {
  const value = source[ACCEPT_NEWER_SCHEMA_ENV];
  if (value === undefined || value === "") return null;
  if (!/^\d{1,6}$/.test(value)) {
    throw new ConfigError(
      `${ACCEPT_NEWER_SCHEMA_ENV} must be a migration number (e.g. 000013: the newest migration this version may run against), got "${value}"`,
    );
  }
  return Number(value);
}

/** The applied migrations, in order; a database never migrated has none. */
async function readApplied(db: Queryable | string): Promise<{ id: number; name: string }[]> {
  // a URL gets a one-connection pool: createPool follows a multi-host DATABASE_URL to the primary
  const own = typeof db === "string" ? createPool(db, "everruns-schema-check", 1) : null;
  try {
    return (await (own ?? (db as Queryable)).query<{ id: number; name: string }>("select id, name from public.everruns_migrations order by id")).rows;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "42P01") return []; // undefined_table: never migrated
    if (code === "42501") {
      throw new ConfigError(
        "this database role may not read public.everruns_migrations, which workers and APIs check at start: " +
          "run `everruns migrate` with this version (it grants the read to everruns_worker and everruns_api), " +
          'and make this login a member of one of them (docs/deploy.md, "Database roles")',
        { cause: error },
      );
    }
    throw error;
  } finally {
    await own?.end().catch(() => undefined);
  }
}

function label(m: { id: number; name: string }): string {
  return `${String(m.id).padStart(6, "0")}_${m.name}`;
}

/** "a", "a and b", "a, b and 3 more" */
function list(items: string[]): string {
  if (items.length === 1) return items[0]!;
  if (items.length === 2) return `${items[0]} and ${items[1]}`;
  return `${items[0]}, ${items[1]} and ${items.length - 2} more`;
}

function quietLogger(WorkerLogger: typeof Logger): Logger {
  return new WorkerLogger(() => (level, message) => {
    if (level === "error" || level === "warning") console.error(`[graphile-worker] ${message}`);
  });
}
