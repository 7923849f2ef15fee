// Secrets at rest (000004_secrets.sql, lib/secret-box.ts): AES-256-GCM sealing bound to the
// workspace and name, the key's validation, setting / listing / deleting through db/sql, the
// audit rows (names only), who may read a ciphertext (workers only), and the worker's resolver.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  generateSecretKey,
  lastFour,
  openSecret,
  requireSecretKey,
  sealSecret,
  SECRET_KEY_ENV,
  secretKeyFromEnv,
  SecretKeyError,
  SecretOpenError,
} from "../../lib/secret-box.ts";
import { MissingSecretError, SecretResolver, SecretsUnavailableError } from "../../worker/secrets.ts";
import { ValidationError } from "../errors.ts";
import { deleteSecret } from "../sql/deleteSecret.ts";
import { listSecrets } from "../sql/listSecrets.ts";
import { readSecretCiphertexts } from "../sql/readSecretCiphertexts.ts";
import { setSecret } from "../sql/setSecret.ts";
import { createTestDatabase, type TestDatabase } from "./helpers.ts";

const WS = "00000000-0000-0000-0000-000000000001";
const VALUE = "sk-live-0123456789abcdefWXYZ";

describe("secret box", () => {
  const key = randomBytes(32);
  const place = { workspaceId: WS, name: "openai" };

  it("opens what it sealed, with a fresh nonce each time", () => {
    const a = sealSecret(key, VALUE, place);
    const b = sealSecret(key, VALUE, place);
    expect(a.equals(b)).toBe(false);
    expect(a[0]).toBe(1); // version
    expect(a.includes(Buffer.from(VALUE))).toBe(false);
    expect(openSecret(key, a, place)).toBe(VALUE);
    expect(openSecret(key, b, place)).toBe(VALUE);
    expect(openSecret(key, sealSecret(key, "ünïcødé ✓", place), place)).toBe("ünïcødé ✓");
  });

  it("refuses a tampered ciphertext, another name or workspace, another key; never showing the value", () => {
    const sealed = sealSecret(key, VALUE, place);
    const attempts: Array<() => string> = [];
    for (const at of [5, 20, sealed.length - 1]) {
      const tampered = Buffer.from(sealed);
      tampered[at]! ^= 0x01;
      attempts.push(() => openSecret(key, tampered, place));
    }
    attempts.push(() => openSecret(key, sealed, { workspaceId: WS, name: "anthropic" }));
    attempts.push(() => openSecret(key, sealed, { workspaceId: "00000000-0000-0000-0000-000000000002", name: "openai" }));
    attempts.push(() => openSecret(randomBytes(32), sealed, place));
    attempts.push(() => openSecret(key, sealed.subarray(0, 10), place));
    const versioned = Buffer.from(sealed);
    versioned[0] = 9;
    attempts.push(() => openSecret(key, versioned, place));
    for (const attempt of attempts) {
      let error: unknown;
      try {
        attempt();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SecretOpenError);
      expect((error as Error).message).toMatch(/^secret "(openai|anthropic)"/);
      expect((error as Error).message).not.toContain(VALUE);
    }
  });

  it("reads EVERRUNS_SECRET_KEY as base64 or hex, and names the variable (never the value) when it is wrong", () => {
    const key64 = generateSecretKey();
    expect(secretKeyFromEnv({ [SECRET_KEY_ENV]: key64 })!.equals(Buffer.from(key64, "base64"))).toBe(true);
    const hex = randomBytes(32).toString("hex");
    expect(secretKeyFromEnv({ [SECRET_KEY_ENV]: hex })!.toString("hex")).toBe(hex);
    expect(secretKeyFromEnv({})).toBeUndefined();
    for (const bad of ["short", randomBytes(16).toString("base64"), randomBytes(31).toString("hex"), "not base64 at all!"]) {
      expect(() => secretKeyFromEnv({ [SECRET_KEY_ENV]: bad })).toThrow(SecretKeyError);
      try {
        secretKeyFromEnv({ [SECRET_KEY_ENV]: bad });
      } catch (error) {
        expect((error as Error).message).toContain(SECRET_KEY_ENV);
        expect((error as Error).message).not.toContain(bad);
      }
    }
    expect(() => requireSecretKey({}, "the API")).toThrow(/EVERRUNS_SECRET_KEY is not set: the API needs it/);
  });

  it("shows the last 4 characters only of a value of 12 or more", () => {
    expect(lastFour(VALUE)).toBe("WXYZ");
    expect(lastFour("short-value")).toBeNull();
  });
});

describe("secrets in the database", () => {
  let db: TestDatabase;
  const key = randomBytes(32);
  const suffix = randomBytes(4).toString("hex");
  const apiRole = `ev_sapi_${suffix}`;
  const workerRole = `ev_swrk_${suffix}`;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(`create role ${apiRole} login nosuperuser in role everruns_api`);
    await db.pool.query(`create role ${workerRole} login nosuperuser in role everruns_worker`);
  });
  afterAll(async () => {
    if (!db) return;
    await db.drop();
    const url = new URL(db.url);
    url.pathname = "/postgres";
    const admin = new pg.Client({ connectionString: url.toString() });
    await admin.connect();
    try {
      for (const role of [apiRole, workerRole]) await admin.query(`drop role if exists ${role}`);
    } finally {
      await admin.end();
    }
  });

  async function as<T>(role: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const url = new URL(db.url);
    url.username = role;
    url.password = "";
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    // the workspace the API would set from a key (000006: row-level security needs one)
    await client.query("select set_config('everruns.workspace_id', everruns_private.default_workspace_id()::text, false)");
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  }

  it("sets, rotates, lists and deletes; the row holds only the sealed value; audited by name only", async () => {
    const first = await setSecret(db.pool, { name: "db-test.key_1", value: VALUE, key });
    expect(first).toEqual({ name: "db-test.key_1", last4: "WXYZ", createdAt: expect.any(String) as string, rotatedAt: first.createdAt });
    const { rows } = await db.pool.query<{ ciphertext: Buffer; workspace_id: string }>(
      "select ciphertext, workspace_id from everruns.secrets where name = $1",
      ["db-test.key_1"],
    );
    expect(rows[0]!.workspace_id).toBe(WS);
    expect(rows[0]!.ciphertext.includes(Buffer.from(VALUE))).toBe(false);
    expect(openSecret(key, rows[0]!.ciphertext, { workspaceId: WS, name: "db-test.key_1" })).toBe(VALUE);

    const second = await setSecret(db.pool, { name: "db-test.key_1", value: "rotated-value-9876", key });
    expect(second.createdAt).toBe(first.createdAt);
    expect(Date.parse(second.rotatedAt)).toBeGreaterThan(Date.parse(first.rotatedAt));
    expect(second.last4).toBe("9876");

    const listed = await listSecrets(db.pool);
    expect(listed.find((s) => s.name === "db-test.key_1")).toEqual(second);
    expect(JSON.stringify(listed)).not.toContain("rotated-value");

    expect(await deleteSecret(db.pool, "db-test.key_1")).toBe(true);
    expect(await deleteSecret(db.pool, "db-test.key_1")).toBe(false);

    const audit = await db.pool.query<{ action: string; target_type: string; details: Record<string, unknown> }>(
      "select action, target_type, details from everruns.audit_log where target_type = 'secret' order by id",
    );
    expect(audit.rows).toEqual([
      { action: "secret.set", target_type: "secret", details: { name: "db-test.key_1", rotated: false } },
      { action: "secret.set", target_type: "secret", details: { name: "db-test.key_1", rotated: true } },
      { action: "secret.deleted", target_type: "secret", details: { name: "db-test.key_1" } },
    ]);
    const whole = await db.pool.query<{ t: string }>("select string_agg(to_jsonb(a)::text, ' ') as t from everruns.audit_log a");
    expect(whole.rows[0]!.t).not.toContain(VALUE);
    expect(whole.rows[0]!.t).not.toContain("rotated-value");
    const verified = await db.pool.query<{ v: unknown }>("select everruns.verify_audit($1) as v", [WS]);
    expect(verified.rows[0]!.v).toBeNull();
  });

  it("rejects a bad name or an empty value without writing anything", async () => {
    await expect(setSecret(db.pool, { name: "has space", value: VALUE, key })).rejects.toThrow(ValidationError);
    await expect(setSecret(db.pool, { name: "x".repeat(101), value: VALUE, key })).rejects.toThrow(/1-100 letters/);
    await expect(setSecret(db.pool, { name: "ok", value: "", key })).rejects.toThrow(/must not be empty/);
    await expect(db.pool.query("insert into everruns.secrets (name, ciphertext) values ('bad/name', $1)", [randomBytes(40)])).rejects.toThrow(
      /secrets_name_format/,
    );
    expect((await listSecrets(db.pool)).map((s) => s.name)).not.toContain("ok");
  });

  it("everruns_api sets and lists but cannot read a ciphertext; everruns_worker reads ciphertexts only through its function", async () => {
    const meta = await as(apiRole, (c) => setSecret(c, { name: "role-test", value: VALUE, key }));
    expect(meta.last4).toBe("WXYZ");
    expect((await as(apiRole, (c) => listSecrets(c))).map((s) => s.name)).toContain("role-test");
    await as(apiRole, async (c) => {
      await expect(c.query("select ciphertext from everruns.secrets")).rejects.toThrow(/permission denied/);
      await expect(c.query("select * from everruns.secrets")).rejects.toThrow(/permission denied/);
      const ok = await c.query<{ name: string; last4: string }>("select name, last4 from everruns.secrets where name = 'role-test'");
      expect(ok.rows).toEqual([{ name: "role-test", last4: "WXYZ" }]);
      await expect(c.query("select * from everruns_private.read_secret_ciphertexts($1, $2)", [WS, ["role-test"]])).rejects.toThrow(/permission denied/);
      await expect(c.query("update everruns.secrets set last4 = 'x'")).rejects.toThrow(/permission denied/);
    });
    await as(workerRole, async (c) => {
      const rows = await readSecretCiphertexts(c, WS, ["role-test", "nope"]);
      expect(rows.map((r) => r.name)).toEqual(["role-test"]);
      expect(openSecret(key, rows[0]!.ciphertext, { workspaceId: WS, name: "role-test" })).toBe(VALUE);
      await expect(c.query("select ciphertext from everruns.secrets")).rejects.toThrow(/permission denied/);
      await expect(c.query("select everruns_private.set_secret($1, 'w', $2, null)", [WS, randomBytes(40)])).rejects.toThrow(/permission denied/);
    });
  });

  it("the worker's resolver decrypts, caches by rotated_at for a short time, and names missing secrets", async () => {
    await setSecret(db.pool, { name: "resolver-a", value: "value-of-a-123456", key });
    const resolver = new SecretResolver({ db: db.pool, key, ttlMs: 60_000 });
    const secrets = resolver.forWorkspace(WS);
    expect(Object.fromEntries(await secrets.resolve(["resolver-a"]))).toEqual({ "resolver-a": "value-of-a-123456" });
    await expect(secrets.resolve(["resolver-a", "resolver-missing"])).rejects.toThrow(new MissingSecretError(["resolver-missing"]));
    await expect(secrets.resolve(["resolver-missing"])).rejects.toThrow('secret "resolver-missing" is not set in this workspace');
    // a secret set after a miss is found at once (misses are not cached)
    await setSecret(db.pool, { name: "resolver-missing", value: "now-it-is-set-0000", key });
    expect((await secrets.resolve(["resolver-missing"])).get("resolver-missing")).toBe("now-it-is-set-0000");
    // within the ttl a rotation is not seen yet; with ttl 0 it is
    await setSecret(db.pool, { name: "resolver-a", value: "value-of-a-rotated", key });
    expect((await secrets.resolve(["resolver-a"])).get("resolver-a")).toBe("value-of-a-123456");
    const fresh = new SecretResolver({ db: db.pool, key, ttlMs: 0 }).forWorkspace(WS);
    expect((await fresh.resolve(["resolver-a"])).get("resolver-a")).toBe("value-of-a-rotated");
    // another workspace has none of them
    await db.pool.query("insert into everruns.workspaces (id, name) values ('00000000-0000-0000-0000-0000000000ee', 'other-ws') on conflict do nothing");
    await expect(resolver.forWorkspace("00000000-0000-0000-0000-0000000000ee").resolve(["resolver-a"])).rejects.toThrow(MissingSecretError);
    // a worker without the key, or with another key
    await expect(new SecretResolver({ db: db.pool, key: undefined }).forWorkspace(WS).resolve(["resolver-a"])).rejects.toThrow(SecretsUnavailableError);
    await expect(new SecretResolver({ db: db.pool, key: randomBytes(32) }).forWorkspace(WS).resolve(["resolver-a"])).rejects.toThrow(SecretOpenError);
  });
});
