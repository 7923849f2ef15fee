// What a figure was measured on, and what a process uses while it is measured: the machine and
// versions line, and a process's resident memory.
import { readFileSync } from "node:fs";
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
