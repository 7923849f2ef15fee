// `everruns keys create|list|revoke` and `everruns workspaces create|list` as a user runs them
// (real CLI processes on a test database), and the admin key `everruns start` keeps
// (scripts/api-key-file.ts).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authenticateApiKey, listApiKeys, revokeApiKey, type ApiKeyInfo } from "../../db/sql/apiKeys.ts";
import { createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { API_KEY_PATTERN, hashApiKey } from "../../lib/api-key.ts";
import { cliApiKey, consoleLoginUrl, ensureAdminKey } from "../api-key-file.ts";
import { PROJECT_ROOT } from "../database.ts";

const CLI = path.join(PROJECT_ROOT, "scripts", "everruns.ts");
const DEFAULT_WORKSPACE_ID = "00000000-0000-0000-0000-000000000001";
let db: TestDatabase;
let dir: string;

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: db.url, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  dir = mkdtempSync(path.join(tmpdir(), "everruns-keys-"));
});
afterAll(async () => {
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("everruns workspaces", () => {
  it("creates and lists workspaces; a taken or invalid name is a one-line error", async () => {
    const created = await cli(["workspaces", "create", "acme"]);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^created workspace acme \([0-9a-f-]{36}\)\n$/);

    const again = await cli(["workspaces", "create", "acme"]);
    expect(again).toMatchObject({ code: 1, stderr: 'everruns: there is already a workspace "acme" (everruns workspaces list shows them)\n' });
    const invalid = await cli(["workspaces", "create", "Acme Corp"]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toBe(
      'everruns: invalid workspace name "Acme Corp": a workspace\'s name is 1-63 characters: lowercase letters, digits, _ and -, starting with a letter or a digit\n',
    );
    expect((await cli(["workspaces", "create"])).stderr).toBe("everruns: usage: everruns workspaces create <name>\n");

    const list = await cli(["workspaces", "list"]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/default.*00000000-0000-0000-0000-000000000001/);
    expect(list.stdout).toMatch(/acme/);
    const json = JSON.parse((await cli(["workspaces", "list", "--json"])).stdout) as { name: string; id: string; created: string }[];
    expect(json.map((w) => w.name)).toEqual(["default", "acme"]);
    expect(json[0]).toMatchObject({ id: DEFAULT_WORKSPACE_ID, created: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown });

    const help = await cli(["workspaces", "create", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("everruns workspaces create <name>");
  });
});

describe("everruns keys", () => {
  it("create prints only the key on stdout, once; it authenticates in its workspace with its role", async () => {
    await cli(["workspaces", "create", "keys-ws"]);
    const created = await cli(["keys", "create", "--workspace", "keys-ws", "--role", "operator", "--name", "ci"]);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^evr_[A-Za-z0-9_-]{43}\n$/);
    const key = created.stdout.trim();
    expect(created.stderr).toMatch(/^created operator key [0-9a-f-]{36} "ci" in workspace keys-ws \(prefix evr_.{8}, does not expire\)\./);
    expect(created.stderr).not.toContain(key);
    expect(await authenticateApiKey(db.pool, key)).toMatchObject({ ok: true, workspaceName: "keys-ws", role: "operator", expiresAt: null });

    // default workspace, default name
    const plain = await cli(["keys", "create", "--role", "viewer"]);
    expect(plain.code).toBe(0);
    expect(await authenticateApiKey(db.pool, plain.stdout.trim())).toMatchObject({ ok: true, workspaceId: DEFAULT_WORKSPACE_ID, role: "viewer" });
    expect(plain.stderr).toMatch(/"viewer key \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" in workspace default/);
  });

  it("list shows a workspace's keys, never a key or its hash; revoke ends a key, once", async () => {
    await cli(["workspaces", "create", "list-ws"]);
    const key = (await cli(["keys", "create", "-w", "list-ws", "--role", "admin", "--name", "deploy bot"])).stdout.trim();
    expect(key).toMatch(API_KEY_PATTERN);

    const list = await cli(["keys", "list", "--workspace", "list-ws"]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(key.slice(0, 12));
    expect(list.stdout).toContain("deploy bot");
    expect(list.stdout).toMatch(/admin/);
    for (const secret of [key, key.slice(12), hashApiKey(key).toString("hex"), hashApiKey(key).toString("base64")]) {
      expect(list.stdout).not.toContain(secret);
      expect(list.stderr).not.toContain(secret);
    }
    const json = JSON.parse((await cli(["keys", "list", "--workspace", "list-ws", "--json"])).stdout) as ApiKeyInfo[];
    expect(json).toHaveLength(1);
    expect(Object.keys(json[0]!).sort()).toEqual(
      ["createdAt", "createdBy", "expiresAt", "id", "lastUsedAt", "name", "prefix", "revokedAt", "role", "workspaceId"].sort(),
    );
    expect(JSON.stringify(json)).not.toContain(key);
    const id = json[0]!.id;
    expect((await cli(["keys", "list"])).stdout).not.toContain(id); // the default workspace's list

    // revoke: in its workspace only
    const elsewhere = await cli(["keys", "revoke", id]);
    expect(elsewhere).toMatchObject({
      code: 1,
      stderr: `everruns: key ${id} is not in workspace default: it is in workspace list-ws (--workspace list-ws)\n`,
    });
    expect((await authenticateApiKey(db.pool, key)).ok).toBe(true);
    const revoked = await cli(["keys", "revoke", id, "--workspace", "list-ws"]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toBe(`revoked key ${id} (${key.slice(0, 12)}…, "deploy bot", admin) in workspace list-ws; the API refuses it within 5 seconds\n`);
    expect(await authenticateApiKey(db.pool, key)).toEqual({ ok: false, refusal: "revoked" });
    const twice = await cli(["keys", "revoke", id, "--workspace", "list-ws"]);
    expect(twice.code).toBe(0);
    expect(twice.stdout).toMatch(new RegExp(`^key ${id} \\(${key.slice(0, 12)}…\\) was already revoked \\(\\d{4}-`));
    const listed = JSON.parse((await cli(["keys", "list", "-w", "list-ws", "--json"])).stdout) as ApiKeyInfo[];
    expect(listed[0]!.revokedAt).not.toBeNull();

    const unknown = await cli(["keys", "revoke", "00000000-0000-0000-0000-00000000abcd"]);
    expect(unknown.stderr).toBe("everruns: there is no key 00000000-0000-0000-0000-00000000abcd (everruns keys list --workspace W shows a workspace's keys)\n");
    const malformed = await cli(["keys", "revoke", "evr_abc"]);
    expect(malformed).toMatchObject({ code: 1, stderr: 'everruns: a key id is a UUID (the id column of everruns keys list), got "evr_abc"\n' });
  });

  it("--expires sets the expiry from a duration; a bad one, a bad role or an unknown workspace is a clear error", async () => {
    const before = Date.now();
    const created = await cli(["keys", "create", "--role", "viewer", "--name", "short", "--expires", "2h"]);
    expect(created.code).toBe(0);
    const check = await authenticateApiKey(db.pool, created.stdout.trim());
    expect(check.ok).toBe(true);
    const expires = Date.parse((check as { expiresAt: string }).expiresAt);
    expect(expires).toBeGreaterThanOrEqual(before + 2 * 3_600_000 - 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 2 * 3_600_000 + 1000);
    expect(created.stderr).toMatch(/expires \d{4}-\d\d-\d\dT/);
    const listed = await cli(["keys", "list"]);
    expect(listed.stdout).toMatch(/short/);
    expect(listed.stdout).toContain(new Date(expires).toISOString());

    // the refusals, and an unknown workspace: all at once
    const [bad, zero, role, noRole, name, ws, role2, help] = await Promise.all([
      cli(["keys", "create", "--role", "viewer", "--expires", "tomorrow"]),
      cli(["keys", "create", "--role", "viewer", "--expires", "0d"]),
      cli(["keys", "create", "--role", "root"]),
      cli(["keys", "create"]),
      cli(["keys", "create", "--role", "viewer", "--name=-x"]),
      cli(["keys", "list", "--workspace", "nope"]),
      cli(["keys", "list", "--role", "admin"]),
      cli(["keys", "--help"]),
    ]);
    expect(bad).toMatchObject({
      code: 1,
      stderr: 'everruns: --expires takes a duration: a whole number and m, h, d or w (90m, 12h, 30d, 2w), got "tomorrow"\n',
    });
    expect(zero.stderr).toMatch(/^everruns: --expires takes a duration/);
    expect(role).toMatchObject({ code: 1, stderr: 'everruns: --role: a key\'s role is viewer, operator or admin, got "root"\n' });
    expect(noRole.stderr).toBe("everruns: everruns keys create needs --role viewer, --role operator or --role admin\n");
    expect(name.stderr).toBe('everruns: --name: a key\'s name is 1-100 letters, digits, spaces, _ . : @ or -, starting with a letter or a digit, got "-x"\n');
    expect(ws.code).toBe(1);
    expect(ws.stderr).toMatch(/^everruns: no workspace "nope" \(there are: default, .*\); create it with: everruns workspaces create nope\n$/);
    expect(role2.stderr).toBe("everruns: --role is only for everruns keys create\n");
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("everruns keys create --role R [--workspace W] [--name N] [--expires D] [--json]");
    expect(help.stdout).toContain("everruns keys revoke <key id> [--workspace W]");
  });
});

describe("the admin key of everruns start", () => {
  it("is created when the file is missing (directory too, mode 0600), kept while valid, replaced otherwise", async () => {
    const file = path.join(dir, "start", ".everruns", "admin-key");
    const first = await ensureAdminKey(db.pool, file);
    expect(first.created).toBe(true);
    expect(first.key).toMatch(API_KEY_PATTERN);
    expect(readFileSync(file, "utf8")).toBe(`${first.key}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const check = await authenticateApiKey(db.pool, first.key);
    expect(check).toMatchObject({ ok: true, workspaceId: DEFAULT_WORKSPACE_ID, role: "admin" });
    const infos = await listApiKeys(db.pool, DEFAULT_WORKSPACE_ID);
    expect(infos.find((k) => k.id === (check as { keyId: string }).keyId)?.name).toBe("everruns start");

    // the next start: the same key
    expect(await ensureAdminKey(db.pool, file)).toEqual({ key: first.key, created: false, file });

    // revoked: a new one
    await revokeApiKey(db.pool, (check as { keyId: string }).keyId);
    const second = await ensureAdminKey(db.pool, file);
    expect(second.created).toBe(true);
    expect(second.key).not.toBe(first.key);
    expect(readFileSync(file, "utf8").trim()).toBe(second.key);

    // not a key, or a key this database does not know (another instance's), or not an admin's: a new one
    writeFileSync(file, "garbage\n");
    expect((await ensureAdminKey(db.pool, file)).created).toBe(true);
    writeFileSync(file, `evr_${"A".repeat(43)}\n`);
    expect((await ensureAdminKey(db.pool, file)).created).toBe(true);
    const viewer = (await cli(["keys", "create", "--role", "viewer"])).stdout.trim();
    writeFileSync(file, `${viewer}\n`);
    const replaced = await ensureAdminKey(db.pool, file);
    expect(replaced.created).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it("the CLI's key: EVERRUNS_API_KEY first, else the file; the console's sign-in link carries it in the fragment", () => {
    const file = path.join(dir, "cli-key");
    const fileKey = `evr_${"B".repeat(43)}`;
    const envKey = `evr_${"C".repeat(43)}`;
    writeFileSync(file, `${fileKey}\n`);
    expect(cliApiKey({ EVERRUNS_API_KEY_FILE: file })).toEqual({ key: fileKey, source: expect.stringContaining("cli-key") as unknown });
    expect(cliApiKey({ EVERRUNS_API_KEY_FILE: file, EVERRUNS_API_KEY: envKey })).toEqual({ key: envKey, source: "EVERRUNS_API_KEY" });
    expect(cliApiKey({ EVERRUNS_API_KEY_FILE: file, EVERRUNS_API_KEY: "" }).key).toBe(fileKey);
    expect(() => cliApiKey({ EVERRUNS_API_KEY: "sk-123" })).toThrow(/EVERRUNS_API_KEY is not an Everruns API key/);
    expect(() => cliApiKey({ EVERRUNS_API_KEY_FILE: path.join(dir, "missing") })).toThrow(/no API key: EVERRUNS_API_KEY is not set/);
    expect(consoleLoginUrl("http://127.0.0.1:3000/", envKey)).toBe(`http://127.0.0.1:3000/login#key=${envKey}`);
  });
});
