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
