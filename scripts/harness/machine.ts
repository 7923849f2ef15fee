// What a figure was measured on, and what a process uses while it is measured: the machine and
// versions line, a process's resident memory, and CPU shares of processes and of the machine
// (Linux /proc; null where it cannot be read).
import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Queryable } from "../../db/pool.ts";
import { serverSettings } from "../../db/sql/serverSettings.ts";
import { PROJECT_ROOT } from "../database.ts";

/** Resident set size of a process in KiB (Linux /proc), or null when it cannot be read. */
export function rssKiB(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Peak resident set size (VmHWM) of a live process in MiB, or null when it cannot be read. */
export function peakRssMiB(pid: number): number | null {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** USER_HZ, the unit of /proc/<pid>/stat's times: 100 on every Linux build we run on. */
const CLOCK_TICKS = 100;

/** /proc/<pid>/stat's fields after "(comm)": [0] state, [1] ppid, [11] utime, [12] stime. */
function procStat(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** User + system CPU seconds a process has used so far. */
export function cpuSeconds(pid: number): number | null {
  const f = procStat(pid);
  return f ? (Number(f[11]) + Number(f[12])) / CLOCK_TICKS : null;
}

/** The parent of a live process. */
export function parentPid(pid: number): number | null {
  const f = procStat(pid);
  return f ? Number(f[1]) : null;
}

/** Every live process of the machine. */
function livePids(): number[] {
  try {
    return readdirSync("/proc")
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
  } catch {
    return [];
  }
}

function isNamed(pid: number, comm: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === comm;
  } catch {
    return false;
  }
}

/** Live processes of the machine named comm. */
export function processesNamed(comm: string): number[] {
  return livePids().filter((pid) => isNamed(pid, comm));
}

/** Live processes whose parent is ppid, optionally only those named comm. */
export function childrenOf(ppid: number, comm?: string): number[] {
  return livePids().filter((pid) => parentPid(pid) === ppid && (comm === undefined || isNamed(pid, comm)));
}

/** Busy and total jiffies of the whole machine (/proc/stat). */
export function machineTicks(): { busy: number; total: number } | null {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - f[3]! - f[4]!, total };
  } catch {
    return null;
  }
}

/** Named groups of processes whose CPU is measured together; a group's pids are listed again at each snapshot (backends come and go). */
export type CpuGroups = Record<string, () => number[]>;

export interface CpuSnapshot {
  at: number;
  /** per group, CPU seconds by pid */
  groups: Record<string, Map<number, number>>;
  machine: { busy: number; total: number } | null;
}

export function cpuSnapshot(groups: CpuGroups): CpuSnapshot {
  const out: Record<string, Map<number, number>> = {};
  for (const [name, pids] of Object.entries(groups)) {
    out[name] = new Map();
    for (const pid of pids()) {
      const s = cpuSeconds(pid);
      if (s !== null) out[name].set(pid, s);
    }
  }
  return { at: performance.now(), groups: out, machine: machineTicks() };
}

/**
 * Each group's CPU seconds ÷ wall seconds between a and b (null when none of its processes could
 * be read at b), and the machine's busy share of all its cores. A process that started after a
 * used all its CPU in between; one that ended in between is missed, so a share is low if anything.
 */
export function cpuShares(a: CpuSnapshot, b: CpuSnapshot): { groups: Record<string, number | null>; machine: number | null } {
  const wall = (b.at - a.at) / 1000;
  const groups: Record<string, number | null> = {};
  for (const [name, after] of Object.entries(b.groups)) {
    let used = 0;
    for (const [pid, s] of after) used += s - (a.groups[name]?.get(pid) ?? 0);
    groups[name] = after.size > 0 ? used / wall : null;
  }
  return { groups, machine: a.machine && b.machine ? (b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total) : null };
}

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(path.join(PROJECT_ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "?";
  }
}

/** One line naming the machine and the versions, for every printed figure. */
export async function machineLine(db: Queryable): Promise<string> {
  const s = await serverSettings(db);
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  const everruns = (JSON.parse(readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8")) as { version: string }).version;
  return (
    `machine: ${os.cpus().length} x ${os.cpus()[0]?.model?.trim() ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}; ` +
    `load average ${load}\n` +
    `versions: everruns ${everruns}, node ${process.version}, postgres ${s.version} (synchronous_commit ${s.synchronousCommit}, max_connections ${s.maxConnections}), ` +
    `graphile-worker ${packageVersion("graphile-worker")}, pg ${packageVersion("pg")}`
  );
}
