// `everruns keys create|list|revoke`: the API keys of a workspace, straight on the database (an
// administrator's connection) like `everruns runs`. `create` prints the key on stdout and nothing
// else there, once (KEY=$(everruns keys create …)); its details go to stderr. The database keeps
// only a key's SHA-256 and its first 12 characters (lib/api-key.ts): no command can show a key
// again, and `list` shows neither a key nor a hash.
import { parseArgs } from "node:util";
import { z } from "zod";
import { ConfigError, NotFoundError } from "../db/errors.ts";
import type { Env } from "../db/env.ts";
import { isUuid } from "../db/pool.ts";
import { createApiKey, listApiKeys, revokeApiKey, type ApiKeyInfo } from "../db/sql/apiKeys.ts";
import { listWorkspaces } from "../db/sql/workspaces.ts";
import { describeIssues } from "../db/schemas.ts";
import { ApiKeyRoleSchema, parseDuration } from "../lib/api-key.ts";
import { printRows, resolveWorkspace, wantsHelp, withCliPool } from "./workspaces-command.ts";

export const KEYS_USAGE = `Usage:
  everruns keys create --role R [--workspace W] [--name N] [--expires D] [--json]
                 make an API key. Prints the key, and only the key, on stdout, this once:
                   KEY=$(everruns keys create --role operator --name ci --expires 30d)
                 (details on stderr). R: viewer (read), operator (also start, cancel, answer
                 and signal runs) or admin (also agents, secrets, keys). D: 90m, 12h, 30d, 2w
                 (default: the key does not expire).
  everruns keys list [--workspace W] [--json]
                 a workspace's keys: id, prefix, name, role, created, expires, revoked, last used
  everruns keys revoke <key id> [--workspace W]
                 revoke a key (the id from keys list); the API refuses it within 5 seconds

W is a workspace's name or id (default: default; everruns workspaces list). The API takes a key
as "Authorization: Bearer <key>"; the CLI sends EVERRUNS_API_KEY. Only a key's hash is stored: a
lost key cannot be shown again; revoke it and make another.`;

const KeyNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9 _.:@-]{0,99}$/, "a key's name is 1-100 letters, digits, spaces, _ . : @ or -, starting with a letter or a digit");

/** "--expires 30d" → the absolute expiry; ConfigError for anything that is not such a duration. */
export function expiryFromFlag(value: string | undefined, now = Date.now()): Date | null {
  if (value === undefined) return null;
  const ms = parseDuration(value);
  if (ms === null) throw new ConfigError(`--expires takes a duration: a whole number and m, h, d or w (90m, 12h, 30d, 2w), got ${JSON.stringify(value)}`);
  return new Date(now + ms);
}

const when = (iso: string | null) => iso ?? "-";

function keyRow(k: ApiKeyInfo): Record<string, string> {
  return {
    id: k.id,
    prefix: k.prefix,
    name: k.name,
    role: k.role,
    created: k.createdAt,
    expires: k.expiresAt ?? "never",
    revoked: when(k.revokedAt),
    "last used": when(k.lastUsedAt),
  };
}

/** `everruns keys <create|list|revoke> ...`; returns the exit code. */
export async function keysCommand(args: string[], env: Env): Promise<number> {
  const [sub, ...rest] = args;
  if (!sub || wantsHelp(args)) {
    console.log(KEYS_USAGE);
    return sub ? 0 : 2;
  }
  if (sub !== "create" && sub !== "list" && sub !== "revoke") throw new ConfigError(`unknown keys command "${sub}"\n\n${KEYS_USAGE}`);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      workspace: { type: "string", short: "w" },
      role: { type: "string" },
      name: { type: "string" },
      expires: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  if (sub !== "create") {
    for (const flag of ["role", "name", "expires"] as const) {
      if (values[flag] !== undefined) throw new ConfigError(`--${flag} is only for everruns keys create`);
    }
  }

  if (sub === "create") {
    if (positionals.length > 0) throw new ConfigError(`everruns keys create takes flags only, got ${JSON.stringify(positionals[0])} (a name goes in --name)`);
    if (values.role === undefined) throw new ConfigError("everruns keys create needs --role viewer, --role operator or --role admin");
    const role = ApiKeyRoleSchema.safeParse(values.role);
    if (!role.success) throw new ConfigError(`--role: ${describeIssues(role.error)}, got ${JSON.stringify(values.role)}`);
    const name = KeyNameSchema.safeParse(values.name ?? `${role.data} key ${new Date().toISOString().slice(0, 19)}Z`);
    if (!name.success) throw new ConfigError(`--name: ${describeIssues(name.error)}, got ${JSON.stringify(values.name)}`);
    const expiresAt = expiryFromFlag(values.expires);
    const { key, info, workspace } = await withCliPool(env, async (pool) => {
      const workspace = await resolveWorkspace(pool, values.workspace);
      return { ...(await createApiKey(pool, { name: name.data, role: role.data, workspaceId: workspace.id, expiresAt })), workspace };
    });
    if (values.json) {
      console.log(JSON.stringify({ key, ...info, workspace: workspace.name }, null, 2));
    } else {
      console.log(key);
      console.error(
        `created ${info.role} key ${info.id} "${info.name}" in workspace ${workspace.name} (prefix ${info.prefix}, ` +
          `${info.expiresAt ? `expires ${info.expiresAt}` : "does not expire"}).\n` +
          "The key above is shown only this once: store it now (the database keeps only its hash).",
      );
    }
    return 0;
  }

  if (sub === "list") {
    if (positionals.length > 0) throw new ConfigError("usage: everruns keys list [--workspace W] [--json]");
    const { keys, workspace } = await withCliPool(env, async (pool) => {
      const workspace = await resolveWorkspace(pool, values.workspace);
      return { keys: await listApiKeys(pool, workspace.id), workspace };
    });
    printRows(values.json ? (keys as unknown as Record<string, unknown>[]) : keys.map(keyRow), values.json, `no keys in workspace ${workspace.name}`);
    return 0;
  }

  // revoke
  const id = positionals[0];
  if (!id || positionals.length > 1) throw new ConfigError("usage: everruns keys revoke <key id> [--workspace W]");
  if (!isUuid(id)) throw new ConfigError(`a key id is a UUID (the id column of everruns keys list), got ${JSON.stringify(id)}`);
  const { revoked, key, workspace } = await withCliPool(env, async (pool) => {
    const workspace = await resolveWorkspace(pool, values.workspace);
    const key = (await listApiKeys(pool, workspace.id)).find((k) => k.id === id.toLowerCase());
    if (!key) {
      // say where it is, when it is another workspace's: the revocation names its workspace
      for (const other of await listWorkspaces(pool)) {
        if (other.id === workspace.id) continue;
        if ((await listApiKeys(pool, other.id)).some((k) => k.id === id.toLowerCase())) {
          throw new NotFoundError(`key ${id} is not in workspace ${workspace.name}: it is in workspace ${other.name} (--workspace ${other.name})`);
        }
      }
      throw new NotFoundError(`there is no key ${id} (everruns keys list --workspace W shows a workspace's keys)`);
    }
    return { revoked: await revokeApiKey(pool, key.id), key, workspace };
  });
  console.log(
    revoked
      ? `revoked key ${key.id} (${key.prefix}…, "${key.name}", ${key.role}) in workspace ${workspace.name}; the API refuses it within 5 seconds`
      : `key ${key.id} (${key.prefix}…) was already revoked (${key.revokedAt})`,
  );
  return 0;
}
