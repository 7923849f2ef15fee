// Applies graphile-worker's schema, then our numbered migrations (db/migrations/NNNNNN_*.sql),
// each in its own transaction. Safe when several processes migrate at once: they queue on one
// advisory lock, and the ones that follow find nothing left to do.
//
// Migrations are immutable once they have landed. Each applied file's SHA-256 is recorded; when a
// file that a database has applied no longer matches (edited after it landed), or the database
// has applied a migration this code base does not have, migrate refuses to run and names the
// file, rather than leave that database silently on other functions than the code expects.
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { Logger, runMigrations } from "graphile-worker";
import { EverrunsError } from "./errors.ts";
import type { Pool } from "./pool.ts";

/** A migration failed, changed after it was applied, or the database is from another version. */
export class MigrationError extends EverrunsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("migration_failed", message, options);
  }
}

const MIGRATIONS_DIR = fileURLToPath(new URL("./migrations/", import.meta.url));
const LOCK_KEY = 7_465_727_275; // "everruns" migrations

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
      await runMigrations({ pgPool: pool, logger: quietLogger });
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
        await client.query("begin");
        try {
          await client.query(sql);
          await client.query("insert into public.everruns_migrations (id, name, checksum) values ($1, $2, $3)", [m.id, m.name, checksum(sql)]);
          await client.query("commit");
        } catch (error) {
          await client.query("rollback").catch(() => undefined);
          throw new MigrationError(`migration ${path.basename(m.file)} failed: ${(error as Error).message}`, { cause: error });
        }
        log(`applied migration ${path.basename(m.file)}`);
        count++;
      }
      return count;
    } finally {
      await client.query("select pg_advisory_unlock($1)", [LOCK_KEY]).catch(() => undefined);
    }
  } finally {
    client.release();
  }
}

const quietLogger = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning") console.error(`[graphile-worker] ${message}`);
});
