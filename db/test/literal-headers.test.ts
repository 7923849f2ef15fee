// 000007: credentials stored as literal http-tool headers before secrets existed leave every
// agent config and version, wait in everruns_private.secret_imports, and are sealed into
// everruns.secrets by a process that holds EVERRUNS_SECRET_KEY (a worker at start).
import { randomBytes } from "node:crypto";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { listMigrations, migrate } from "../migrate.ts";
import { createPool, type Pool } from "../pool.ts";
import { sealSecretImports } from "../sql/secretImports.ts";
import { openSecret } from "../../lib/secret-box.ts";
import { databaseUrl } from "./global-setup.ts";

const name = `everruns_literal_${randomBytes(4).toString("hex")}`;
let admin: pg.Client;
let pool: Pool;
let dir: string;

const tool = (headers: Record<string, unknown>) => ({ name: "notify", type: "http", url: "http://127.0.0.1:9/hook", headers });

beforeAll(async () => {
  const serverUrl = inject("serverUrl");
  admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  pool = createPool(databaseUrl(serverUrl, name), "literal-headers", 3);
  // the migrations before 000007: an instance that stored literal headers
  dir = await mkdtemp(path.join(tmpdir(), "everruns-literal-"));
  for (const m of await listMigrations()) if (m.id < 7) await copyFile(m.file, path.join(dir, path.basename(m.file)));
  await migrate(pool, () => {}, dir);
  const config = (headers: Record<string, unknown>) => JSON.stringify({ provider: "scripted", model: "s", tools: ["echo", tool(headers)] });
  // version 1 with one token, version 2 with another, plus a harmless header and an existing reference
  const { rows } = await pool.query<{ id: string }>("insert into everruns.agents (name, config) values ('old-agent', $1) returning id", [
    config({ Authorization: "Bearer first-token-1234", "X-Trace": "keep-me" }),
  ]);
  await pool.query("update everruns.agents set config = $2 where id = $1", [
    rows[0]!.id,
    config({ Authorization: "Bearer second-token-5678", "X-Trace": "keep-me", "X-Api-Key": { secret: "already" } }),
  ]);
  for (const m of await listMigrations()) if (m.id >= 7) await copyFile(m.file, path.join(dir, path.basename(m.file)));
  await migrate(pool, () => {}, dir);
});

afterAll(async () => {
  await pool?.end();
  await admin?.query(`drop database if exists ${name} with (force)`);
  await admin?.end();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it("replaces every literal credential in configs and versions by a secret reference, keeping the rest", async () => {
  const versions = await pool.query<{ version: number; config: { tools: [string, { headers: Record<string, unknown> }] } }>(
    "select version, config from everruns.agent_versions order by version",
  );
  expect(versions.rows.map((r) => r.config.tools[1].headers)).toEqual([
    { Authorization: { secret: "old-agent.notify.authorization.v1" }, "X-Trace": "keep-me" },
    { Authorization: { secret: "old-agent.notify.authorization.v2" }, "X-Trace": "keep-me", "X-Api-Key": { secret: "already" } },
  ]);
  const agent = await pool.query<{ version: number; config: { tools: [string, { headers: Record<string, unknown> }] } }>(
    "select version, config from everruns.agents",
  );
  expect(agent.rows[0]!.version).toBe(2);
  expect(agent.rows[0]!.config.tools[1].headers.Authorization).toEqual({ secret: "old-agent.notify.authorization.v2" });
  const text = JSON.stringify([versions.rows, agent.rows]);
  expect(text).not.toContain("first-token");
  expect(text).not.toContain("second-token");
  const pending = await pool.query<{ name: string }>("select name from everruns_private.secret_imports order by name");
  expect(pending.rows.map((r) => r.name)).toEqual(["old-agent.notify.authorization.v1", "old-agent.notify.authorization.v2"]);
  // nothing else changed: no new version, no audit row for the rewrite
  const audit = await pool.query<{ action: string }>("select action from everruns.audit_log order by seq");
  expect(audit.rows.map((r) => r.action)).toEqual(["agent.created", "agent.config_updated"]);
});

it("a process with the key seals them into secrets, once, audited by name", async () => {
  const key = randomBytes(32);
  expect(await sealSecretImports(pool, key)).toBe(2);
  expect(await sealSecretImports(pool, key)).toBe(0);
  const { rows } = await pool.query<{ workspace_id: string; name: string; ciphertext: Buffer; last4: string }>(
    "select workspace_id, name, ciphertext, last4 from everruns.secrets order by name",
  );
  expect(rows.map((r) => [r.name, r.last4])).toEqual([
    ["old-agent.notify.authorization.v1", "1234"],
    ["old-agent.notify.authorization.v2", "5678"],
  ]);
  expect(openSecret(key, rows[1]!.ciphertext, { workspaceId: rows[1]!.workspace_id, name: rows[1]!.name })).toBe("Bearer second-token-5678");
  expect((await pool.query("select * from everruns_private.secret_imports")).rowCount).toBe(0);
  const audit = await pool.query<{ action: string; details: { name: string } }>(
    "select action, details from everruns.audit_log where action = 'secret.set' order by seq",
  );
  expect(audit.rows.map((r) => r.details.name)).toEqual(["old-agent.notify.authorization.v1", "old-agent.notify.authorization.v2"]);
});
