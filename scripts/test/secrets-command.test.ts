// `everruns secrets set|list|delete` (scripts/secrets-command.ts) against a test database, and
// the development key `everruns start` makes when EVERRUNS_SECRET_KEY is unset.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEnv } from "../../db/env.ts";
import { createWorkspace } from "../../db/sql/workspaces.ts";
import { createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { openSecret, SECRET_KEY_ENV, secretKeyFromEnv } from "../../lib/secret-box.ts";
import { ensureDevSecretKey, secretsCommand } from "../secrets-command.ts";

let db: TestDatabase;
let dir: string;
const VALUE = `cli-secret-${randomBytes(8).toString("hex")}`;

beforeAll(async () => {
  db = await createTestDatabase();
  dir = mkdtempSync(path.join(tmpdir(), "everruns-secrets-"));
});
afterAll(async () => {
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("ensureDevSecretKey", () => {
  it("creates a valid key once (mode 0600) and returns the same one after", () => {
    const keyDir = path.join(dir, "dev");
    const key = ensureDevSecretKey(keyDir);
    expect(secretKeyFromEnv({ [SECRET_KEY_ENV]: key })!.length).toBe(32);
    expect(ensureDevSecretKey(keyDir)).toBe(key);
    expect(statSync(path.join(keyDir, "secret-key")).mode & 0o777).toBe(0o600);
    writeFileSync(path.join(keyDir, "secret-key"), "garbage\n");
    expect(() => ensureDevSecretKey(keyDir)).toThrow(/does not hold a valid key/);
  });
});

describe("everruns secrets", () => {
  it("set reads the value from stdin and prints only the name and last 4; list and delete", async () => {
    const env = loadEnv({ DATABASE_URL: db.url });
    const key = randomBytes(32).toString("base64");
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), environment: { [SECRET_KEY_ENV]: key }, dataDir: dir };
    const stdin = Readable.from([Buffer.from(`${VALUE}\n`)]) as unknown as NodeJS.ReadStream;
    expect(await secretsCommand(["set", "cli-key"], env, { ...io, stdin })).toBe(0);
    expect(lines.at(-1)).toBe(`set secret cli-key (…${VALUE.slice(-4)})`);
    const { rows } = await db.pool.query<{ ciphertext: Buffer; workspace_id: string }>(
      "select ciphertext, workspace_id from everruns.secrets where name = 'cli-key'",
    );
    expect(openSecret(Buffer.from(key, "base64"), rows[0]!.ciphertext, { workspaceId: rows[0]!.workspace_id, name: "cli-key" })).toBe(VALUE);

    expect(await secretsCommand(["list"], env, io)).toBe(0);
    expect(lines.at(-1)).toMatch(new RegExp(`^cli-key\t…${VALUE.slice(-4)}\tcreated `));
    expect(await secretsCommand(["delete", "cli-key"], env, io)).toBe(0);
    expect(lines.at(-1)).toBe("deleted secret cli-key");
    expect(lines.join("\n")).not.toContain(VALUE);

    // with DATABASE_URL and no key: refused, naming the variable
    await expect(secretsCommand(["set", "x", "--value", "v"], env, { ...io, environment: {} })).rejects.toThrow(/EVERRUNS_SECRET_KEY is not set/);
    await expect(secretsCommand(["delete"], env, io)).rejects.toThrow(/usage: everruns secrets delete <name>/);
    expect(readFileSync(path.join(dir, "dev", "secret-key"), "utf8")).toBe("garbage\n");
  });

  it("--workspace keeps each workspace's secrets apart (default: the default workspace)", async () => {
    const env = loadEnv({ DATABASE_URL: db.url });
    const key = randomBytes(32).toString("base64");
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), environment: { [SECRET_KEY_ENV]: key }, dataDir: dir };
    const other = await createWorkspace(db.pool, "secrets-b");
    const stdin = Readable.from([Buffer.from(`${VALUE}-b\n`)]) as unknown as NodeJS.ReadStream;
    expect(await secretsCommand(["set", "token", "--workspace", "secrets-b"], env, { ...io, stdin })).toBe(0);
    expect(lines.at(-1)).toBe(`set secret token (…${`${VALUE}-b`.slice(-4)}) in workspace secrets-b`);
    const { rows } = await db.pool.query<{ ciphertext: Buffer; workspace_id: string }>(
      "select ciphertext, workspace_id from everruns.secrets where name = 'token'",
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.workspace_id).toBe(other.id);
    // sealed for its workspace: it opens there only
    expect(openSecret(Buffer.from(key, "base64"), rows[0]!.ciphertext, { workspaceId: other.id, name: "token" })).toBe(`${VALUE}-b`);

    expect(await secretsCommand(["list"], env, io)).toBe(0);
    expect(lines.at(-1)).toBe("no secrets");
    expect(await secretsCommand(["list", "-w", other.id], env, io)).toBe(0); // by id too
    expect(lines.at(-1)).toMatch(/^token\t…/);
    expect(await secretsCommand(["delete", "token"], env, io)).toBe(0);
    expect(lines.at(-1)).toBe("there is no secret token");
    expect(await secretsCommand(["delete", "token", "--workspace", "secrets-b"], env, io)).toBe(0);
    expect(lines.at(-1)).toBe("deleted secret token in workspace secrets-b");
    await expect(secretsCommand(["list", "--workspace", "nope"], env, io)).rejects.toThrow(/no workspace "nope" \(there are: default, secrets-b\)/);
    await expect(secretsCommand(["list", "--workspace", "No Such"], env, io)).rejects.toThrow(/--workspace takes a workspace's name/);
  });
});
