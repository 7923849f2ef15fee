// `everruns scheduler`: how runs are admitted to the workers, for all workspaces (000023) — fair
// share across workspaces (the default) or FIFO — an administrator's setting, straight on the
// database like `everruns workspaces`.
import { parseArgs } from "node:util";
import { ConfigError } from "../db/errors.ts";
import type { Env } from "../db/env.ts";
import { readScheduler, readWorkspaceQueues, setScheduler, type SchedulerSettings, type WorkspaceQueue } from "../db/sql/scheduler.ts";
import { printRows, wantsHelp, withCliPool } from "./workspaces-command.ts";

export const SCHEDULER_USAGE = `Usage:
  everruns scheduler [--fair on|off] [--min-window N] [--json]
                 show how runs are admitted to the workers and, per workspace with runs waiting
                 for a slot or holding one, how many and the longest wait; or change it:
                 --fair on (the default): worker slots are shared between workspaces by weight
                 (everruns workspaces limits <ws> --weight N), a run waits queued, without a job,
                 until a slot is its workspace's; off: first in, first out over all workspaces
                 (a workspace's --max-running-runs still holds).
                 --min-window N (default 256): runs admitted at once while no worker is running.
docs/fair-execution.md has the details.`;

function fairFromFlag(value: string | undefined): boolean | null {
  if (value === undefined) return null;
  if (value === "on") return true;
  if (value === "off") return false;
  throw new ConfigError(`--fair takes on or off, got ${JSON.stringify(value)}`);
}

function minWindowFromFlag(value: string | undefined): number | null {
  if (value === undefined) return null;
  if (!/^[1-9][0-9]{0,6}$/.test(value)) throw new ConfigError(`--min-window takes a whole number from 1 to 9,999,999, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** "45 s", "3 m", "2 h" since `iso`. */
function since(iso: string, now: number): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} m`;
  return `${Math.round(seconds / 3600)} h`;
}

function show(settings: SchedulerSettings, queues: WorkspaceQueue[], json: boolean): void {
  if (json) {
    console.log(JSON.stringify({ ...settings, workspaces: queues }));
    return;
  }
  printRows(
    [
      { setting: "fair share", value: settings.fair ? "on" : "off (FIFO)" },
      { setting: "window", value: `${settings.window} slots (${settings.active} taken), min_window ${settings.minWindow} while no worker runs` },
      { setting: "waiting for a slot", value: String(settings.pending) },
      { setting: "changed", value: settings.updatedAt },
    ],
    false,
    "",
  );
  if (queues.length === 0) return;
  const now = Date.now();
  console.log("");
  printRows(
    queues.map((q) => ({
      workspace: q.workspace,
      waiting: q.waiting,
      "longest wait": q.oldestWaitingSince ? since(q.oldestWaitingSince, now) : "-",
      active: q.maxRunningRuns === null ? String(q.active) : `${q.active} of ${q.maxRunningRuns}`,
      weight: q.weight,
      workers: q.dedicated ? "dedicated" : "shared",
    })),
    false,
    "",
  );
}

export async function schedulerCommand(args: string[], env: Env): Promise<number> {
  if (wantsHelp(args)) {
    console.log(SCHEDULER_USAGE);
    return 0;
  }
  const { values, positionals } = parseArgs({
    args,
    options: { fair: { type: "string" }, "min-window": { type: "string" }, json: { type: "boolean", default: false } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 0) throw new ConfigError(`everruns scheduler takes no arguments, got ${JSON.stringify(positionals.join(" "))}\n${SCHEDULER_USAGE}`);
  const fair = fairFromFlag(values.fair);
  const minWindow = minWindowFromFlag(values["min-window"]);
  await withCliPool(env, async (pool) => {
    const settings = fair === null && minWindow === null ? await readScheduler(pool) : await setScheduler(pool, fair, minWindow);
    show(settings, await readWorkspaceQueues(pool), values.json);
  });
  return 0;
}
