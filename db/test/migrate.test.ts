import { randomBytes } from "node:crypto";
import pg from "pg";
import { expect, inject, it } from "vitest";
import { listMigrations, migrate } from "../migrate.ts";
import { createPool } from "../pool.ts";
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
    const { rows } = await pools[0]!.query("select id from public.everruns_migrations order by id");
    expect(rows.map((r) => r.id)).toEqual((await listMigrations()).map((m) => m.id));
    expect(await migrate(pools[0]!)).toBe(0); // and again: nothing to do
  } finally {
    await Promise.all(pools.map((p) => p.end()));
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
});
