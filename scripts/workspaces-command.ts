// `everruns workspaces create|list`: an administrator's commands, straight on the database (the
// owner's or a superuser's connection, DATABASE_URL or the embedded one) like `everruns runs`.
// A workspace holds agents, runs, secrets and API keys; every API key acts in its one workspace.
// Also the `--workspace` flag the keys and secrets commands share.
import { parseArgs } from "node:util";
import { z } from "zod";
import { ConfigError, isUniqueViolation, ValidationError } from "../db/errors.ts";
import type { Env } from "../db/env.ts";
import { createPool, isUuid, type Pool, type Queryable } from "../db/pool.ts";
import { createWorkspace, findWorkspace, listWorkspaces, WORKSPACE_NAME_PATTERN, type Workspace } from "../db/sql/workspaces.ts";
import { describeIssues } from "../db/schemas.ts";
import { resolveDatabase } from "./database.ts";
import { printRows } from "./cli/output.ts";

export const WORKSPACES_USAGE = `Usage:
  everruns workspaces create <name> [--json]   create a workspace
  everruns workspaces list [--json]            every workspace: name, id, created

A workspace's name is 1-63 characters: lowercase letters, digits, _ and -, starting with a letter
or a digit. The workspace "default" always exists. Give a workspace to keys and secrets with
--workspace <name or id>: everruns keys create --workspace <name> --role admin.`;

export const DEFAULT_WORKSPACE = "default";

const WorkspaceNameSchema = z
  .string()
  .regex(WORKSPACE_NAME_PATTERN, "a workspace's name is 1-63 characters: lowercase letters, digits, _ and -, starting with a letter or a digit");

/** --workspace: a workspace's name or id. */
const WorkspaceRefSchema = z.string().refine((ref) => WORKSPACE_NAME_PATTERN.test(ref) || isUuid(ref), {
  message: "--workspace takes a workspace's name (lowercase letters, digits, _ and -) or its id",
});

/** The workspace named (or identified) by `--workspace`, default `default`; NotFoundError listing them otherwise. */
export async function resolveWorkspace(db: Queryable, ref: string | undefined): Promise<Workspace> {
  const checked = WorkspaceRefSchema.safeParse(ref ?? DEFAULT_WORKSPACE);
  if (!checked.success) throw new ConfigError(`${describeIssues(checked.error)}, got ${JSON.stringify(ref)}`);
  return findWorkspace(db, checked.data);
}

/** True for `help` as the subcommand, and `--help` or `-h` anywhere. */
export function wantsHelp(args: string[]): boolean {
  return args[0] === "help" || args.some((a) => a === "--help" || a === "-h");
}

/** Runs `fn` on a short-lived pool of the CLI's database. */
export async function withCliPool<T>(env: Env, fn: (pool: Pool) => Promise<T>): Promise<T> {
  const db = await resolveDatabase(env, () => {});
  const pool = createPool(db.url, "everruns-cli", 2);
  try {
    return await fn(pool);
  } finally {
    await pool.end();
  }
}

/** Prints rows as an aligned table (like `everruns runs`), or as JSON. */
export { printRows };

/** `everruns workspaces <create|list> ...`; returns the exit code. */
export async function workspacesCommand(args: string[], env: Env): Promise<number> {
  const [sub, ...rest] = args;
  if (!sub || wantsHelp(args)) {
    console.log(WORKSPACES_USAGE);
    return sub ? 0 : 2;
  }
  if (sub !== "create" && sub !== "list") throw new ConfigError(`unknown workspaces command "${sub}"\n\n${WORKSPACES_USAGE}`);
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { json: { type: "boolean", default: false } } });

  if (sub === "create") {
    if (positionals.length !== 1) throw new ConfigError("usage: everruns workspaces create <name>");
    const checked = WorkspaceNameSchema.safeParse(positionals[0]);
    if (!checked.success) throw new ConfigError(`invalid workspace name ${JSON.stringify(positionals[0]!.slice(0, 80))}: ${describeIssues(checked.error)}`);
    const name = checked.data;
    const workspace = await withCliPool(env, async (pool) => {
      try {
        return await createWorkspace(pool, name);
      } catch (error) {
        if (isUniqueViolation(error))
          throw new ValidationError(`there is already a workspace "${name}" (everruns workspaces list shows them)`, { code: "conflict" });
        throw error;
      }
    });
    if (values.json) console.log(JSON.stringify(workspace, null, 2));
    else console.log(`created workspace ${workspace.name} (${workspace.id})`);
    return 0;
  }

  if (positionals.length > 0) throw new ConfigError("usage: everruns workspaces list [--json]");
  const workspaces = await withCliPool(env, (pool) => listWorkspaces(pool));
  printRows(
    workspaces.map((w) => ({ name: w.name, id: w.id, created: w.createdAt })),
    values.json,
    "no workspaces (run everruns migrate: it creates the default one)",
  );
  return 0;
}
