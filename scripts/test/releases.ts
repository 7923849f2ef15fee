// Two releases side by side, for the rolling-upgrade test: this checkout, and "the previous
// release" (the commit before the most recent one that added a migration) checked out as a git
// worktree with its own node_modules, each run as real `everruns` processes with its own node.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { PROJECT_ROOT } from "../database.ts";

const run = promisify(execFile);

export interface Release {
  /** What it is, for messages: "this checkout" or "previous release <short sha>". */
  label: string;
  /** Its checkout (scripts/everruns.ts, db/migrations). */
  root: string;
  /** The node that runs it (a release runs on the node of its own node_modules when it has one). */
  node: string;
}

export const THIS_CHECKOUT: Release = { label: "this checkout", root: PROJECT_ROOT, node: process.execPath };

/** The commit before the most recent one on HEAD that added a file under db/migrations. */
export async function previousReleaseCommit(repo = PROJECT_ROOT): Promise<string> {
  const { stdout } = await run("git", ["log", "--diff-filter=A", "--format=%H", "-1", "HEAD", "--", "db/migrations"], { cwd: repo });
  const adding = stdout.trim();
  if (!adding) throw new Error("no commit on HEAD adds a migration: is this a shallow clone? (fetch the full history: git fetch --unshallow)");
  const { stdout: parent } = await run("git", ["rev-parse", `${adding}^`], { cwd: repo });
  return parent.trim();
}

export interface CheckedOutRelease extends Release {
  commit: string;
  /** Removes the worktree and its temporary directory. */
  remove(): Promise<void>;
}

/** `commit` as a detached git worktree in a temporary directory, its dependencies installed (npm ci). */
export async function checkOutRelease(commit: string, log: (line: string) => void = () => {}): Promise<CheckedOutRelease> {
  const dir = await mkdtemp(path.join(tmpdir(), "everruns-release-"));
  const root = path.join(dir, "tree");
  const remove = async () => {
    await run("git", ["worktree", "remove", "--force", root], { cwd: PROJECT_ROOT }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    await run("git", ["worktree", "prune"], { cwd: PROJECT_ROOT }).catch(() => undefined);
  };
  try {
    await run("git", ["worktree", "add", "--detach", root, commit], { cwd: PROJECT_ROOT });
    const started = performance.now();
    await run("npm", ["ci", "--no-audit", "--no-fund", "--prefer-offline"], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
    log(`npm ci of ${commit.slice(0, 7)} took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } catch (error) {
    await remove();
    throw error;
  }
  const ownNode = path.join(root, "node_modules", ".bin", "node");
  return { label: `previous release ${commit.slice(0, 7)}`, root, node: existsSync(ownNode) ? ownNode : process.execPath, commit, remove };
}

export interface EverrunsProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `everruns <args>` of `release`, on `databaseUrl`. */
export function spawnEverruns(release: Release, databaseUrl: string, args: string[], env: Record<string, string> = {}): EverrunsProcess {
  const child = spawn(release.node, [path.join(release.root, "scripts", "everruns.ts"), ...args], {
    cwd: release.root,
    env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => out, exited };
}

/** `everruns <args>` to its end (killed after `timeoutMs`: a worker expected to refuse that starts instead): its exit code and output. */
export async function runEverruns(
  release: Release,
  databaseUrl: string,
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ code: number | null; output: string }> {
  const p = spawnEverruns(release, databaseUrl, args, opts.env);
  const timer = setTimeout(() => p.child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
  const { code } = await p.exited;
  clearTimeout(timer);
  return { code, output: p.output() };
}

export interface WorkerProcess extends EverrunsProcess {
  poolId: string;
}

/** `everruns worker` of `release`, once its pool has started; rejects with its output when it exits first. */
export async function startWorkerProcess(release: Release, databaseUrl: string, env: Record<string, string> = {}): Promise<WorkerProcess> {
  const p = spawnEverruns(release, databaseUrl, ["worker", "--concurrency", "8"], env);
  const poolId = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${release.label}: worker did not start within 30 s:\n${p.output()}`)), 30_000);
    const check = () => {
      const m = /worker pool (\S+) started/.exec(p.output());
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    p.child.stdout!.on("data", check);
    p.child.stderr!.on("data", check);
    void p.exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${release.label}: worker exited (code ${code}, signal ${signal}) before starting:\n${p.output()}`));
    });
  });
  return { ...p, poolId };
}
