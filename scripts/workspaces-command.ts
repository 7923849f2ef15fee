// `everruns workspaces create|list|limits`: an administrator's commands, straight on the database (the
// owner's or a superuser's connection, DATABASE_URL or the embedded one) like `everruns runs`.
// A workspace holds agents, runs, secrets and API keys; every API key acts in its one workspace.
// Also the `--workspace` flag the keys and secrets commands share.
import { parseArgs } from "node:util";
import { z } from "zod";
import { ConfigError, isUniqueViolation, ValidationError } from "../db/errors.ts";
import type { Env } from "../db/env.ts";
import { createPool, isUuid, withTransaction, type Pool, type Queryable } from "../db/pool.ts";
import { archiveDueRuns } from "../db/sql/archiveDueRuns.ts";
import { createWorkspace, findWorkspace, listWorkspaces, WORKSPACE_NAME_PATTERN, type Workspace } from "../db/sql/workspaces.ts";
import { describeIssues } from "../db/schemas.ts";
import { setWorkspaceLimits, workspaceLimitsOf, type WorkspaceLimits, type WorkspaceLimitsPatch } from "../db/sql/workspaceLimits.ts";
import { MAX_RETENTION_DAYS, MIN_RETENTION_DAYS, setWorkspaceRetention, workspaceRetentionOf } from "../db/sql/workspaceRetention.ts";
import { resolveDatabase } from "./database.ts";
import { printRows } from "./cli/output.ts";

export const WORKSPACES_USAGE = `Usage:
  everruns workspaces create <name> [--json]   create a workspace
  everruns workspaces list [--json]            every workspace: name, id, created, retention
  everruns workspaces limits <workspace> [--max-queued-runs N|none] [--runs-per-minute N|none]
                 [--max-running-runs N|none] [--weight N] [--max-tokens-per-day N|none]
                 [--max-cost-usd-per-day X|none] [--dedicated | --shared]
                 [--retention-days N|none] [--json]
                 show a workspace's admission limits and usage (queued runs, runs admissible
                 now, active runs, runs waiting for a worker slot and the oldest wait, tokens
                 and cost today), or change them: none = unlimited (the default), a flag not
                 given keeps its value. Over max-queued-runs or runs-per-minute, starting a run
                 fails (HTTP 429 with Retry-After); over max-running-runs, new runs wait queued
                 for a slot.
                 --weight (1-1000, default 1): its share of the worker slots against other
                 workspaces' (fair share).
                 --max-tokens-per-day (input + output tokens, whole) and --max-cost-usd-per-day
                 (dollars, e.g. 2.50): daily quotas over its LLM steps, per UTC day. Over one,
                 its new LLM steps park (waiting, type quota) until the next UTC midnight or
                 until the quota is raised or removed; runs already in a step finish it.
                 --dedicated: only workers started with everruns worker --workspace <name> run
                 its steps, and shared workers never take them (start one, or its runs wait);
                 --shared (the default) undoes it.
                 --retention-days (1-36500): a finished run's events and steps are removed
                 that many days after it finished; the run itself stays as its summary, and
                 reading its events answers 410 history_expired. none (the default) keeps
                 them forever. Lowering it expires the runs past the new value at the next
                 maintenance round (it prints how many): run everruns archive first.
                 docs/data-lifecycle.md has the details.

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

/** "--weight 5" → 5 (1-1000), absent → undefined (keep). */
function weightFromFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9][0-9]{0,3}$/.test(value) || Number(value) > 1000)
    throw new ConfigError(`--weight takes a whole number from 1 to 1000 (the default is 1), got ${JSON.stringify(value)}`);
  return Number(value);
}

const MAX_TOKENS_PER_DAY = 1_000_000_000_000_000; // what set_workspace_admission accepts (000023)

/** "--max-tokens-per-day 100000" → 100000 (1 to 10^15), "none" → null (no quota), absent → undefined (keep). */
function tokensFromFlag(value: string | undefined): number | null | undefined {
  if (value === undefined) return undefined;
  if (value === "none") return null;
  if (!/^[1-9][0-9]{0,15}$/.test(value) || Number(value) > MAX_TOKENS_PER_DAY)
    throw new ConfigError(
      `--max-tokens-per-day takes a whole number of tokens from 1 to ${formatCount(MAX_TOKENS_PER_DAY)}, or none (no quota), got ${JSON.stringify(value)}`,
    );
  return Number(value);
}

/** "--max-cost-usd-per-day 2.50" → 2.5 (dollars, more than 0 and less than 100,000,000, at most 6 decimals), "none" → null, absent → undefined (keep). */
function costFromFlag(value: string | undefined): number | null | undefined {
  if (value === undefined) return undefined;
  if (value === "none") return null;
  if (!/^[0-9]{1,8}(\.[0-9]{1,6})?$/.test(value) || Number(value) <= 0)
    throw new ConfigError(
      `--max-cost-usd-per-day takes dollars more than 0 and less than 100,000,000 (e.g. 2.50, at most 6 decimals), or none (no quota), got ${JSON.stringify(value)}`,
    );
  return Number(value);
}

/** Days a finished run keeps its events and steps: 1..36500, or "none" (forever). */
export const RetentionDaysFlagSchema = z.union([
  z.literal("none").transform(() => null),
  z
    .string()
    .regex(/^[0-9]{1,6}$/)
    .transform(Number)
    .pipe(z.number().int().min(MIN_RETENTION_DAYS).max(MAX_RETENTION_DAYS)),
]);

/** "--retention-days 30" → 30, "none" → null (keep forever), absent → undefined (keep the setting). */
export function retentionFromFlag(value: string | undefined): number | null | undefined {
  if (value === undefined) return undefined;
  const checked = RetentionDaysFlagSchema.safeParse(value);
  if (!checked.success)
    throw new ConfigError(
      `--retention-days takes a whole number of days from ${MIN_RETENTION_DAYS} to ${MAX_RETENTION_DAYS} (finished runs' events and steps are removed that long after they finish), or none (keep them forever), got ${JSON.stringify(value)}`,
    );
  return checked.data;
}

/** "30 days", "forever". */
export function describeRetentionDays(days: number | null): string {
  return days === null ? "forever" : `${days} day${days === 1 ? "" : "s"}`;
}

/** --dedicated → true, --shared → false, neither → undefined (keep); both contradict each other. */
function dedicatedFromFlags(dedicated: boolean, shared: boolean): boolean | undefined {
  if (dedicated && shared) throw new ConfigError("--dedicated and --shared contradict each other: give one of them (or neither to keep the setting)");
  if (dedicated) return true;
  if (shared) return false;
  return undefined;
}

/** 12345 → "12,345". */
function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}

/** 2.5 → "$2.50", 0.001234 → "$0.001234". */
function formatUsd(n: number): string {
  return `$${n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 6 })}`;
}

/** "3 m", "2 h": how long ago `iso` was, for the oldest wait. */
function waitedFor(iso: string, now: number): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} m`;
  return `${Math.round(seconds / 3600)} h`;
}

/** "12,345 of 100,000 tokens today"; "12,345 tokens today" without this quota (the other counts); "-" without any quota (nothing counted). */
function quotaUsage(used: number | null, max: number | null, format: (n: number) => string, unit: string): string {
  if (used === null) return "-";
  return max === null ? `${format(used)}${unit} today` : `${format(used)} of ${format(max)}${unit} today`;
}

function limitsRows(l: WorkspaceLimits & { retentionDays: number | null }, now: number = Date.now()): Record<string, unknown>[] {
  const limit = (n: number | null) => (n === null ? "unlimited" : String(n));
  const waiting = l.oldestPendingAt === null ? "" : `, oldest waiting ${waitedFor(l.oldestPendingAt, now)}`;
  return [
    { limit: "max_queued_runs", value: limit(l.maxQueuedRuns), usage: `${l.queuedRuns} queued` },
    { limit: "runs_per_minute", value: limit(l.runsPerMinute), usage: l.tokens === null ? "-" : `${l.tokens} admissible now` },
    { limit: "max_running_runs", value: limit(l.maxRunningRuns), usage: `${l.activeRuns} active, ${l.pendingRuns} waiting for a slot${waiting}` },
    { limit: "weight", value: String(l.weight), usage: "-" },
    {
      limit: "max_tokens_per_day",
      value: l.maxTokensPerDay === null ? "unlimited" : formatCount(l.maxTokensPerDay),
      usage: quotaUsage(l.tokensToday, l.maxTokensPerDay, formatCount, " tokens"),
    },
    {
      limit: "max_cost_usd_per_day",
      value: l.maxCostUsdPerDay === null ? "unlimited" : formatUsd(l.maxCostUsdPerDay),
      usage: quotaUsage(l.costUsdToday, l.maxCostUsdPerDay, formatUsd, ""),
    },
    {
      limit: "dedicated",
      value: l.dedicated ? "yes" : "no",
      usage: l.dedicated ? `only everruns worker --workspace ${l.workspaceName} runs its steps` : "shared workers run its steps",
    },
    {
      limit: "retention_days",
      value: describeRetentionDays(l.retentionDays),
      usage: l.retentionDays === null ? "finished runs keep their events and steps" : "finished runs keep a summary after that",
    },
  ];
}

const LIMITS_USAGE =
  "usage: everruns workspaces limits <workspace> [--max-queued-runs N|none] [--runs-per-minute N|none] [--max-running-runs N|none] [--weight N] [--max-tokens-per-day N|none] [--max-cost-usd-per-day X|none] [--dedicated | --shared] [--retention-days N|none] [--json]";

async function limitsCommand(rest: string[], env: Env): Promise<number> {
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      "max-queued-runs": { type: "string" },
      "runs-per-minute": { type: "string" },
      "max-running-runs": { type: "string" },
      weight: { type: "string" },
      "max-tokens-per-day": { type: "string" },
      "max-cost-usd-per-day": { type: "string" },
      dedicated: { type: "boolean", default: false },
      shared: { type: "boolean", default: false },
      "retention-days": { type: "string" },
    },
  });
  if (positionals.length !== 1) throw new ConfigError(LIMITS_USAGE);
  // only the limits given change (set_workspace_admission keeps the others)
  const patch: WorkspaceLimitsPatch = {};
  const maxQueuedRuns = limitFromFlag("max-queued-runs", values["max-queued-runs"]);
  if (maxQueuedRuns !== undefined) patch.maxQueuedRuns = maxQueuedRuns;
  const runsPerMinute = limitFromFlag("runs-per-minute", values["runs-per-minute"]);
  if (runsPerMinute !== undefined) patch.runsPerMinute = runsPerMinute;
  const maxRunningRuns = limitFromFlag("max-running-runs", values["max-running-runs"]);
  if (maxRunningRuns !== undefined) patch.maxRunningRuns = maxRunningRuns;
  const weight = weightFromFlag(values.weight);
  if (weight !== undefined) patch.weight = weight;
  const maxTokensPerDay = tokensFromFlag(values["max-tokens-per-day"]);
  if (maxTokensPerDay !== undefined) patch.maxTokensPerDay = maxTokensPerDay;
  const maxCostUsdPerDay = costFromFlag(values["max-cost-usd-per-day"]);
  if (maxCostUsdPerDay !== undefined) patch.maxCostUsdPerDay = maxCostUsdPerDay;
  const dedicated = dedicatedFromFlags(values.dedicated, values.shared);
  if (dedicated !== undefined) patch.dedicated = dedicated;
  const retentionDays = retentionFromFlag(values["retention-days"]);
  // one transaction on one client: the limits and the retention change together or not at all
  const { limits, due } = await withCliPool(env, (pool) =>
    withTransaction(pool, async (client) => {
      const workspace = await resolveWorkspace(client, positionals[0]);
      // retention is its own setting (everruns.set_workspace_retention, 000038), shown with the limits
      const retention =
        retentionDays === undefined ? await workspaceRetentionOf(client, workspace.id) : await setWorkspaceRetention(client, workspace.id, retentionDays);
      const limits = Object.keys(patch).length === 0 ? await workspaceLimitsOf(client, workspace.id) : await setWorkspaceLimits(client, workspace.id, patch);
      // a retention set: the runs it puts past their time, by retention's own rule (seen in this transaction)
      const due = retentionDays === undefined ? null : await archiveDueRuns(client, workspace.id);
      return { limits: { ...limits, retentionDays: retention }, due };
    }),
  );
  if (values.json) console.log(JSON.stringify(due === null ? limits : { ...limits, runsDueToExpire: due.runs }, null, 2));
  else {
    console.log(`workspace ${limits.workspaceName} (${limits.workspaceId})`);
    printRows(limitsRows(limits), false, "");
    if (due !== null && due.runs > 0) {
      console.log(
        `${due.runs} finished run(s) (the oldest finished ${due.oldestFinishedAt!.toISOString()}) are past a retention of ${describeRetentionDays(limits.retentionDays)}: ` +
          `the next maintenance round (every 5 minutes by default) removes their events and steps. To keep them, archive them now: ` +
          `everruns archive --before ${new Date().toISOString()} --out <DIR> --workspace ${limits.workspaceName}, or set the retention back.`,
      );
    }
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
    workspaces.map((w) => ({
      name: w.name,
      id: w.id,
      created: w.createdAt,
      retention: values.json ? w.retentionDays : describeRetentionDays(w.retentionDays),
    })),
    values.json,
    "no workspaces (run everruns migrate: it creates the default one)",
  );
  return 0;
}
