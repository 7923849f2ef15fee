// Workers and APIs refuse to start against a schema that is not their code's (db/migrate.ts,
// checkSchemaVersion): newer (a migration this code does not have) or older (one it has that the
// database lacks), with a message that says what to do; the same schema is fine.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ConfigError } from "../errors.ts";
import { acceptNewerSchemaFromEnv, checkSchemaVersion, listMigrations } from "../migrate.ts";
import { startApi } from "../../api/server.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker } from "../../worker/main.ts";
import { spawnWorker } from "../../worker/test/worker-process.ts";
import { createTestDatabase, type TestDatabase } from "./helpers.ts";
import { databaseUrl } from "./global-setup.ts";

const log = consoleLogger("[schema-version-test]", "error");
let db: TestDatabase;
let latest: string; // this code's latest migration, NNNNNN_name

beforeAll(async () => {
  db = await createTestDatabase();
  const files = await listMigrations();
  const last = files[files.length - 1]!;
  latest = `${String(last.id).padStart(6, "0")}_${last.name}`;
});

afterAll(async () => {
  await db?.drop();
});

/** The error `fn` rejects with; fails when it resolves. */
async function refusal(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a refusal, but it started");
}

/** Runs `fn` with `sql` applied to public.everruns_migrations, and undoes it afterwards. */
async function withMigrationsChanged(sql: string, undo: string, fn: () => Promise<void>): Promise<void> {
  await db.pool.query(sql);
  try {
    await fn();
  } finally {
    await db.pool.query(undo);
  }
}

describe("checkSchemaVersion", () => {
  it("the same migrations as the code: fine, one query", async () => {
    const version = await checkSchemaVersion(db.pool, { acceptNewerThrough: null });
    expect(version).toEqual({ database: latest, code: latest, unknown: [], missing: [] });
    // and by URL, on a connection of its own (what a worker does)
    expect(await checkSchemaVersion(db.url, { acceptNewerThrough: null })).toEqual(version);
  });

  it("a migration the code does not have (a newer release migrated): refused, naming both, saying to deploy the newer version or how to roll back", async () => {
    await withMigrationsChanged(
      "insert into public.everruns_migrations (id, name, checksum) values (999999, 'from_the_future', 'x')",
      "delete from public.everruns_migrations where id = 999999",
      async () => {
        const error = await refusal(() => checkSchemaVersion(db.pool, { acceptNewerThrough: null }));
        expect(error).toBeInstanceOf(ConfigError);
        expect(error.message).toContain("the database's schema is newer than this version of Everruns");
        expect(error.message).toContain("999999_from_the_future");
        expect(error.message).toContain(`this version's ${latest}`);
        expect(error.message).toContain("Deploy the version that has it");
        expect(error.message).toContain("EVERRUNS_ACCEPT_NEWER_SCHEMA=999999");

        // a deliberate rollback: accepted up to the number named, with a warning; not past it
        const warnings: string[] = [];
        const version = await checkSchemaVersion(db.pool, { acceptNewerThrough: 999999, warn: (line) => warnings.push(line) });
        expect(version.unknown).toEqual(["999999_from_the_future"]);
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toContain("999999_from_the_future");
        expect(await refusal(() => checkSchemaVersion(db.pool, { acceptNewerThrough: 999998 }))).toBeInstanceOf(ConfigError);

        // the worker and the API refuse to start (the environment's setting: unset here)
        const workerError = await refusal(() => startWorker({ databaseUrl: db.url, concurrency: 1, shutdownTimeoutMs: 1000, log }));
        expect(workerError).toBeInstanceOf(ConfigError);
        expect(workerError.message).toContain("999999_from_the_future");
        const apiError = await refusal(() => startApi({ databaseUrl: db.url, port: 0, log }));
        expect(apiError).toBeInstanceOf(ConfigError);
        expect(apiError.message).toContain("999999_from_the_future");
      },
    );
  });

  it("a migration of the code the database has not applied: refused, saying to run `everruns migrate` first", async () => {
    const [id, name] = [Number(latest.slice(0, 6)), latest.slice(7)];
    await withMigrationsChanged(
      `delete from public.everruns_migrations where id = ${id}`,
      `insert into public.everruns_migrations (id, name, checksum) values (${id}, '${name}', 'restored')`,
      async () => {
        const error = await refusal(() => checkSchemaVersion(db.pool, { acceptNewerThrough: 999999 }));
        expect(error).toBeInstanceOf(ConfigError);
        expect(error.message).toContain(`it lacks migration ${latest}`);
        expect(error.message).toContain("Run `everruns migrate` with this version first");
      },
    );
  });

  it("EVERRUNS_ACCEPT_NEWER_SCHEMA: a migration number, or unset", () => {
    expect(acceptNewerSchemaFromEnv({})).toBeNull();
    expect(acceptNewerSchemaFromEnv({ EVERRUNS_ACCEPT_NEWER_SCHEMA: "" })).toBeNull();
    expect(acceptNewerSchemaFromEnv({ EVERRUNS_ACCEPT_NEWER_SCHEMA: "000013" })).toBe(13);
    expect(() => acceptNewerSchemaFromEnv({ EVERRUNS_ACCEPT_NEWER_SCHEMA: "yes" })).toThrow(/EVERRUNS_ACCEPT_NEWER_SCHEMA must be a migration number/);
  });

  it("a login that is only a member of everruns_worker or everruns_api may read the applied migrations (migrate grants it)", async () => {
    const suffix = randomBytes(4).toString("hex");
    const roles = [`ev_schema_worker_${suffix}`, `ev_schema_api_${suffix}`];
    await db.pool.query(`create role ${roles[0]} login nosuperuser in role everruns_worker`);
    await db.pool.query(`create role ${roles[1]} login nosuperuser in role everruns_api`);
    try {
      for (const role of roles) {
        const url = new URL(db.url);
        url.username = role;
        url.password = "";
        const version = await checkSchemaVersion(url.toString(), { acceptNewerThrough: null });
        expect(version.database, role).toBe(latest);
      }
    } finally {
      for (const role of roles) await db.pool.query(`drop role if exists ${role}`);
    }
  });
});

describe("a database never migrated", () => {
  const name = `everruns_unmigrated_${randomBytes(4).toString("hex")}`;
  let url: string;
  let admin: pg.Client;

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: inject("serverUrl") });
    await admin.connect();
    await admin.query(`create database ${name}`);
    url = databaseUrl(inject("serverUrl"), name);
  });

  afterAll(async () => {
    await admin?.query(`drop database if exists ${name} with (force)`);
    await admin?.end();
  });

  it("is refused with `everruns migrate` first, not `relation does not exist`", async () => {
    const error = await refusal(() => checkSchemaVersion(url, { acceptNewerThrough: null }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain("none: it was never migrated");
    expect(error.message).toContain("Run `everruns migrate` with this version first");
  });

  it("`everruns worker` exits 1 with that message and no stack trace", async () => {
    const error = await refusal(() => spawnWorker(url));
    expect(error.message).toContain("worker exited (code 1, signal null) before starting");
    expect(error.message).toContain("everruns: the database's schema is older than this version of Everruns");
    expect(error.message).toContain("Run `everruns migrate` with this version first");
    expect(error.message).not.toMatch(/\n\s+at /); // no stack trace
  });
});
