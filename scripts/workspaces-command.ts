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
import { setWorkspaceLimits, workspaceLimitsOf, type WorkspaceLimits } from "../db/sql/workspaceLimits.ts";
import { resolveDatabase } from "./database.ts";
import { printRows } from "./cli/output.ts";

export const WORKSPACES_USAGE = `Usage:
  everruns workspaces create <name> [--json]   create a workspace
  everruns workspaces list [--json]            every workspace: name, id, created
  everruns workspaces limits <workspace> [--max-queued-runs N|none] [--runs-per-minute N|none] [--json]
                 show a workspace's admission limits and usage (queued runs, runs admissible
                 now), or change them: none = unlimited (the default), a flag not given keeps
                 its value. Over a limit, starting a run fails (HTTP 429 with Retry-After).

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

/** "--max-queued-runs 20" → 20, "none" → null (unlimited), absent → undefined (keep). */
export function limitFromFlag(flag: string, value: string | undefined): number | null | undefined {
  if (value === undefined) return undefined;
  if (value === "none") return null;
  if (!/^[1-9][0-9]{0,8}$/.test(value))
    throw new ConfigError(`--${flag} takes a whole number of at least 1, or none (unlimited), got ${JSON.stringify(value)}`);
  return Number(value);
}

function limitsRows(l: WorkspaceLimits): Record<string, unknown>[] {
  const limit = (n: number | null) => (n === null ? "unlimited" : String(n));
  return [
    { limit: "max_queued_runs", value: limit(l.maxQueuedRuns), usage: `${l.queuedRuns} queued` },
    { limit: "runs_per_minute", value: limit(l.runsPerMinute), usage: l.tokens === null ? "-" : `${l.tokens} admissible now` },
  ];
}

async function limitsCommand(rest: string[], env: Env): Promise<number> {
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { json: { type: "boolean", default: false }, "max-queued-runs": { type: "string" }, "runs-per-minute": { type: "string" } },
  });
  if (positionals.length !== 1)
    throw new ConfigError("usage: everruns workspaces limits <workspace> [--max-queued-runs N|none] [--runs-per-minute N|none] [--json]");
  const maxQueuedRuns = limitFromFlag("max-queued-runs", values["max-queued-runs"]);
  const runsPerMinute = limitFromFlag("runs-per-minute", values["runs-per-minute"]);
  const limits = await withCliPool(env, async (pool) => {
    const workspace = await resolveWorkspace(pool, positionals[0]);
    const now = await workspaceLimitsOf(pool, workspace.id);
    if (maxQueuedRuns === undefined && runsPerMinute === undefined) return now;
    return setWorkspaceLimits(pool, workspace.id, {
      maxQueuedRuns: maxQueuedRuns === undefined ? now.maxQueuedRuns : maxQueuedRuns,
      runsPerMinute: runsPerMinute === undefined ? now.runsPerMinute : runsPerMinute,
    });
  });
  if (values.json) console.log(JSON.stringify(limits, null, 2));
  else {
    console.log(`workspace ${limits.workspaceName} (${limits.workspaceId})`);
    printRows(limitsRows(limits), false, "");
  }
  return 0;
}

/** `everruns workspaces <create|list|limits> ...`; returns the exit code. */
export async function workspacesCommand(args: string[], env: Env): Promise<number> {
  const [sub, ...rest] = args;
  if (!sub || wantsHelp(args)) {
    console.log(WORKSPACES_USAGE);
    return sub ? 0 : 2;
  }
  if (sub === "limits") return limitsCommand(rest, env);
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
