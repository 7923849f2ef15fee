// Applies graphile-worker's schema, then our numbered migrations (db/migrations/NNNNNN_*.sql),
// each in its own transaction. Safe when several processes migrate at once: they queue on one
// advisory lock, and the ones that follow find nothing left to do.
import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { Logger, runMigrations } from "graphile-worker";
import type { Pool } from "./pool.ts";

const MIGRATIONS_DIR = fileURLToPath(new URL("./migrations/", import.meta.url));
const LOCK_KEY = 7_465_727_275; // "everruns" migrations

export interface MigrationFile {
  id: number;
  name: string;
  file: string;
}

export async function listMigrations(): Promise<MigrationFile[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => /^\d{6}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return files.map((file) => ({ id: Number(file.slice(0, 6)), name: file.slice(7, -4), file: path.join(MIGRATIONS_DIR, file) }));
}

export async function migrate(pool: Pool, log: (line: string) => void = () => {}): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query("select pg_advisory_lock($1)", [LOCK_KEY]);
    try {
      await runMigrations({ pgPool: pool, logger: quietLogger });
      await client.query(`create table if not exists public.everruns_migrations (
        id int primary key, name text not null, applied_at timestamptz not null default now())`);
      const done = new Set(
        (await client.query<{ id: number }>("select id from public.everruns_migrations")).rows.map((r) => r.id),
      );
      let applied = 0;
      for (const m of await listMigrations()) {
        if (done.has(m.id)) continue;
        const sql = await readFile(m.file, "utf8");
        await client.query("begin");
        try {
          await client.query(sql);
          await client.query("insert into public.everruns_migrations (id, name) values ($1, $2)", [m.id, m.name]);
          await client.query("commit");
        } catch (error) {
          await client.query("rollback").catch(() => undefined);
          throw new Error(`migration ${path.basename(m.file)} failed: ${(error as Error).message}`, { cause: error });
        }
        log(`applied migration ${path.basename(m.file)}`);
        applied++;
      }
      return applied;
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
