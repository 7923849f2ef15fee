import { randomBytes } from "node:crypto";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { describe, expect, inject, it } from "vitest";
import { checksum, listMigrations, migrate, MigrationError } from "../migrate.ts";
import { createPool, type Pool } from "../pool.ts";
import { databaseUrl } from "./global-setup.ts";

it("two processes migrating one empty database at once apply every migration exactly once", async () => {
  const serverUrl = inject("serverUrl");
  const name = `everruns_migrate_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const pools = [createPool(databaseUrl(serverUrl, name), "migrate-a", 3), createPool(databaseUrl(serverUrl, name), "migrate-b", 3)];
  try {
    const applied = await Promise.all(pools.map((p) => migrate(p)));
    const total = (await listMigrations()).length;
    expect(applied.sort()).toEqual([0, total]);
    const { rows } = await pools[0]!.query<{ id: number }>("select id from public.everruns_migrations order by id");
    expect(rows.map((r) => r.id)).toEqual((await listMigrations()).map((m) => m.id));
    expect(await migrate(pools[0]!)).toBe(0); // and again: nothing to do
  } finally {
    await Promise.all(pools.map((p) => p.end()));
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
});

describe("migrations are immutable once applied", () => {
  async function scratch(): Promise<{ pool: Pool; dir: string; done: () => Promise<void> }> {
    const serverUrl = inject("serverUrl");
    const name = `everruns_migrate_${randomBytes(4).toString("hex")}`;
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query(`create database ${name}`);
    const dir = await mkdtemp(path.join(tmpdir(), "everruns-migrations-"));
    for (const m of await listMigrations()) await copyFile(m.file, path.join(dir, path.basename(m.file)));
    const pool = createPool(databaseUrl(serverUrl, name), "migrate-checksum", 2);
    return {
      pool,
      dir,
      async done() {
        await pool.end();
        await admin.query(`drop database if exists ${name} with (force)`);
        await admin.end();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }

  it("records each file's checksum, and refuses to run, naming the file, when an applied migration was edited", async () => {
    const { pool, dir, done } = await scratch();
    try {
      await migrate(pool, () => {}, dir);
      const { rows } = await pool.query("select name, checksum from public.everruns_migrations order by id");
      const files = await listMigrations(dir);
      expect(rows).toEqual(await Promise.all(files.map(async (m) => ({ name: m.name, checksum: checksum(await readFile(m.file, "utf8")) }))));
      // a later edit of the landed baseline: even a comment counts
      const first = files[0]!.file;
      await writeFile(first, (await readFile(first, "utf8")) + "\n-- an edit after landing\n");
      const error = await migrate(pool, () => {}, dir).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(MigrationError);
      expect((error as Error).message).toContain(path.basename(first));
      expect((error as Error).message).toMatch(/has changed since this database applied it.*new migration/);
    } finally {
      await done();
    }
  });

  it("refuses a database that applied a migration this code base does not have", async () => {
    const { pool, dir, done } = await scratch();
    try {
      await writeFile(path.join(dir, "000999_from_the_future.sql"), "create table public.from_the_future (id int);\n");
      await migrate(pool, () => {}, dir);
      await rm(path.join(dir, "000999_from_the_future.sql"));
      const error = await migrate(pool, () => {}, dir).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(MigrationError);
      expect((error as Error).message).toContain("000999_from_the_future.sql");
    } finally {
      await done();
    }
  });
});

it("a migration that loses a deadlock to a running process is applied again, once", async () => {
  const serverUrl = inject("serverUrl");
  const name = `everruns_migrate_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const dir = await mkdtemp(path.join(tmpdir(), "everruns-migrations-"));
  const url = databaseUrl(serverUrl, name);
  const pool = createPool(url, "migrate-deadlock", 2);
  const other = new pg.Client({ connectionString: url });
  try {
    await writeFile(path.join(dir, "000001_tables.sql"), "create table public.t1 (id int);\ncreate table public.t2 (id int);\n");
    await migrate(pool, () => {}, dir);
    // the migration locks t1 then t2; a running process holds t2 and then asks for t1
    await writeFile(
      path.join(dir, "000002_both.sql"),
      "lock table public.t1 in access exclusive mode;\nlock table public.t2 in access exclusive mode;\nalter table public.t1 add column note text;\n",
    );
    await other.connect();
    await other.query("begin");
    await other.query("insert into public.t2 values (1)");
    const lines: string[] = [];
    const migrating = migrate(pool, (line) => lines.push(line), dir);
    // the migration waits on t2 first, so its deadlock check fires first and it is the one failed
    await new Promise((resolve) => setTimeout(resolve, 300));
    await other.query("insert into public.t1 values (1)"); // waits on the migration until the deadlock is broken
    await other.query("commit");
    expect(await migrating).toBe(1);
    expect(lines.some((l) => /000002_both\.sql deadlocked with a running process \(try 1\); applying it again/.test(l))).toBe(true);
    const { rows } = await pool.query<{ id: number }>("select id from public.everruns_migrations order by id");
    expect(rows.map((r) => r.id)).toEqual([1, 2]);
  } finally {
    await other.end().catch(() => undefined);
    await pool.end();
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
    await rm(dir, { recursive: true, force: true });
  }
});
