// `everruns archive --before DATE --out DIR [--after DATE] [--workspace <name>] [--json]`: finished
// runs as JSONL, one file per workspace and UTC day (DIR/<workspace>/<YYYY-MM-DD>.jsonl), one line
// per run with its summary, every step and every event, before retention removes their history.
// Straight on the database, as an administrator (every workspace), like `everruns traces`.
// docs/data-lifecycle.md, "Archive", has the layout and the shape of a line.
//
// Which runs: by the clock retention counts from (everruns_private.retention_clock, 000038):
// succeeded, failed and cancelled runs by finished_at; runs another run read later (an interrupted
// run's continuation, a rerun from a step) by that run's creation. They come in two passes, each
// in (finished_at, id) order: the ended runs, then those read later (few), merged into the day
// files of the day they finished (db/sql/archiveRunsPage.ts).
//
// Memory stays bounded whatever the number of runs, events and workspaces: runs come in keyset
// pages of RUNS_PAGE, a run's steps and events in pages of at most HISTORY_ROWS rows or
// HISTORY_BYTES, each row written out as Postgres built its JSON through a buffer of FLUSH_BYTES;
// a day's part file is open only while one of its runs is written. A file is never rewritten in
// place: a day's new runs go to a part file, merged with the day file already there (its runs
// kept, a run archived again replaced, ordered by finished_at then id) into a temp file that is
// fsynced and renamed over it, then the directory is fsynced: a crash leaves the old file or the
// new one. Files are 0600 and directories 0700: an archive holds every tenant's inputs and outputs.
import { randomBytes } from "node:crypto";
import type { Dirent } from "node:fs";
import { link, mkdir, open, readdir, readFile, rename, stat, truncate, unlink, type FileHandle } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { ConfigError, EverrunsError } from "../db/errors.ts";
import type { Env } from "../db/env.ts";
import type { Pool } from "../db/pool.ts";
import { readArchiveEventsPage, readArchiveRunState, readArchiveStepsPage } from "../db/sql/archiveRunHistory.ts";
import { ARCHIVE_START, readArchiveRunsPage, type ArchiveCursor, type ArchivePass, type ArchiveRun } from "../db/sql/archiveRunsPage.ts";
import { WORKSPACE_NAME_PATTERN } from "../db/sql/workspaces.ts";
import { resolveWorkspace, wantsHelp, withCliPool } from "./workspaces-command.ts";

export const ARCHIVE_USAGE = `Usage:
  everruns archive --before <DATE> --out <DIR> [--after <DATE>] [--workspace <name>] [--json]
        write the runs that are over (succeeded, failed or cancelled; or interrupted and answered by
        a continuation) and whose events and steps retention has not removed yet, as JSON lines:
        DIR/<workspace>/<YYYY-MM-DD>.jsonl by the UTC day each run finished, one line per run:
        {"run": {...}, "steps": [...], "events": [...]}.
        Which runs, by the clock retention counts from: a run that ended, by when it finished; an
        interrupted run, by when the run that continued it was created; before --before and at or
        after --after (default: no lower bound).
        DATE: a day (2026-11-01: its UTC midnight) or an ISO timestamp with a zone (2026-11-01T12:00:00Z,
        to the millisecond: finer digits are cut).
        --workspace: only this workspace's runs (default: every workspace).
        Safe to run again, with the same or other dates: a day file already there is merged (its runs
        kept, one line per run, ordered by finished_at then id), never overwritten.
        Exit code 3: a run's history was inconsistent (listed): left out, everything else written.
        docs/data-lifecycle.md`;

const RUNS_PAGE = 100;
/** A page of a run's steps or events: this many rows at most... */
export const HISTORY_ROWS = 200;
/** ...and it ends with the row that reaches this many bytes. */
export const HISTORY_BYTES = 8 << 20;
/** Bytes a writer keeps before it writes them out. */
const FLUSH_BYTES = 64 << 10;
/** Bytes read at a time when a day file is merged. */
const READ_BYTES = 1 << 20;
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
const LOCK_FILE = ".everruns-archive.lock";

const DateSchema = z.union([z.iso.date(), z.iso.datetime({ offset: true })]);

/** --before / --after: "2026-11-01" → its UTC midnight; an ISO timestamp with a zone → that instant (to the millisecond). */
export function parseArchiveDate(flag: "--before" | "--after", value: string): string {
  const checked = DateSchema.safeParse(value);
  const instant = checked.success ? new Date(/^\d{4}-\d\d-\d\d$/.test(checked.data) ? `${checked.data}T00:00:00Z` : checked.data) : null;
  if (!instant || Number.isNaN(instant.getTime())) {
    throw new ConfigError(
      `${flag} takes a day (YYYY-MM-DD: its UTC midnight) or an ISO timestamp with a zone (2026-11-01T12:00:00Z), got ${JSON.stringify(value)}`,
    );
  }
  return instant.toISOString();
}

export interface ArchiveOptions {
  /** an ISO instant: runs over before it */
  before: string;
  /** an ISO instant: runs over at or after it; null: no lower bound */
  after?: string | null;
  out: string;
  /** a workspace's name or id; null: every workspace */
  workspace: string | null;
}

export interface ArchivedFile {
  /** relative to the output directory: <workspace>/<YYYY-MM-DD>.jsonl */
  file: string;
  /** lines in the file now */
  runs: number;
  /** runs written from the database this time */
  written: number;
  /** lines of the file before that were kept (runs not archived again) */
  kept: number;
  bytes: number;
}

export interface InconsistentRun {
  id: string;
  workspace: string;
  reason: string;
}

export interface ArchiveSummary {
  before: string;
  after: string | null;
  out: string;
  /** runs written from the database */
  runs: number;
  /** runs left out because retention removed their history while the archive ran */
  skipped: number;
  /** runs left out because their steps or events were not whole (exit code 3): archive them again once fixed */
  inconsistent: InconsistentRun[];
  files: number;
  bytes: number;
  written: ArchivedFile[];
}

/** An error of the file system as one line that says what to do. */
function fileError(what: string, error: unknown): EverrunsError {
  if (error instanceof EverrunsError) return error;
  const e = error as NodeJS.ErrnoException;
  const hint =
    e.code === "EACCES" || e.code === "EPERM" || e.code === "EROFS"
      ? "give --out a directory you may write to"
      : e.code === "ENOTDIR" || e.code === "EEXIST" || e.code === "EISDIR"
        ? "a file is in the way: give --out a directory"
        : e.code === "ENOSPC" || e.code === "EDQUOT"
          ? "free some space and run it again (files already there are intact)"
          : e.code === "EMFILE" || e.code === "ENFILE"
            ? "raise the limit of open files (ulimit -n) and run it again (files already there are intact)"
            : "check --out and run it again (files already there are intact)";
  return new ConfigError(`cannot ${what}: ${e.message}; ${hint}`, { cause: error });
}

/** Runs `fn`, a file system step, turning its error into fileError(what). */
async function onDisk<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw fileError(what, error);
  }
}

async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await onDisk(`open ${dir}`, () => open(dir, "r"));
  try {
    await onDisk(`sync ${dir}`, () => handle.sync());
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** Writes to a file from `position` on in chunks of about FLUSH_BYTES, counting the bytes. */
class BufferedWriter {
  private chunks: Buffer[] = [];
  private pending = 0;
  private closed = false;
  /** where the next byte goes: the file's length once flushed */
  bytes: number;
  private readonly handle: FileHandle;
  private readonly name: string;
  constructor(handle: FileHandle, name: string, position = 0) {
    this.handle = handle;
    this.name = name;
    this.bytes = position;
  }

  async write(data: string | Buffer): Promise<void> {
    const chunk = typeof data === "string" ? Buffer.from(data) : data;
    this.chunks.push(chunk);
    this.pending += chunk.length;
    this.bytes += chunk.length;
    if (this.pending >= FLUSH_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.chunks.length === 0) return;
    const data = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    let position = this.bytes - this.pending;
    this.chunks = [];
    this.pending = 0;
    for (let offset = 0; offset < data.length;) {
      const written = offset;
      const { bytesWritten } = await onDisk(`write ${this.name}`, () => this.handle.write(data, written, data.length - written, position));
      offset += bytesWritten;
      position += bytesWritten;
    }
  }

  /** flush (and fsync when `sync`), then close */
  async finish(sync: boolean): Promise<void> {
    try {
      await this.flush();
      if (sync) await onDisk(`sync ${this.name}`, () => this.handle.sync());
    } finally {
      await this.close();
    }
  }

  /** close without writing what is pending */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.chunks = [];
    this.pending = 0;
    await this.handle.close().catch(() => undefined);
  }
}

/** Copies bytes [start, end) of a file to `writer`, a chunk at a time. */
async function copyRange(from: FileHandle, name: string, start: number, end: number, writer: BufferedWriter): Promise<void> {
  for (let position = start; position < end;) {
    const buffer = Buffer.allocUnsafe(Math.min(READ_BYTES, end - position));
    const at = position;
    const { bytesRead } = await onDisk(`read ${name}`, () => from.read(buffer, 0, buffer.length, at));
    if (bytesRead === 0) throw new ConfigError(`${name} ended while it was copied (did something else change it?); run everruns archive again`);
    await writer.write(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
}

interface LineKey {
  finishedAt: string;
  id: string;
}

/** A line of a day file: its key and where it is (bytes [start, end), without its newline). */
interface LineRange {
  key: LineKey;
  start: number;
  end: number;
}

/** The start of a line written by this command: {"run":{"id":"…","finished_at":"…", (db/sql/archiveRunsPage.ts) */
const LINE_HEAD = 200;
const LINE_START = /^\{"run":\{"id":"([0-9a-f-]{36})","finished_at":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)",/;
const LineKeySchema = z.object({ run: z.object({ id: z.string().min(1), finished_at: z.string().min(1) }) });

/** The order of lines in a day file: finished_at (fixed-width UTC text), then id. */
function compareKeys(a: LineKey, b: LineKey): number {
  if (a.finishedAt !== b.finishedAt) return a.finishedAt < b.finishedAt ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * One workspace's day being written: its new runs in a part file, merged with the day file at
 * the end. The part file is open only while a run is written (beginRun to endRun or cut): a day
 * of 10,000 workspaces holds no file open and no buffer between their runs.
 */
class DayFile {
  private readonly partPath: string;
  private readonly tmpPath: string;
  readonly finalPath: string;
  /** the new runs' lines in the part file, in order */
  private readonly keys: LineRange[] = [];
  /** the part file's length: where the next run begins */
  private length = 0;
  private run: BufferedWriter | null = null;
  private readonly dir: string;
  readonly relative: string;

  private constructor(dir: string, relative: string, day: string) {
    this.dir = dir;
    this.relative = relative;
    this.partPath = path.join(dir, `.${day}.jsonl.part`);
    this.tmpPath = path.join(dir, `.${day}.jsonl.tmp`);
    this.finalPath = path.join(dir, `${day}.jsonl`);
  }

  static async create(dir: string, workspace: string, day: string): Promise<DayFile> {
    const file = new DayFile(dir, `${workspace}/${day}.jsonl`, day);
    const handle = await onDisk(`create ${file.partPath}`, () => open(file.partPath, "w", FILE_MODE));
    await handle.close().catch(() => undefined);
    return file;
  }

  /** A run's line begins: the part file is opened at its end. */
  async beginRun(): Promise<void> {
    const handle = await onDisk(`open ${this.partPath}`, () => open(this.partPath, "r+"));
    this.run = new BufferedWriter(handle, this.partPath, this.length);
  }

  write(text: string): Promise<void> {
    return this.run!.write(text);
  }

  /** Leaves out the run begun last (nothing of it stays in the part file). */
  async cut(): Promise<void> {
    await this.run?.close();
    this.run = null;
    await onDisk(`truncate ${this.partPath}`, () => truncate(this.partPath, this.length));
  }

  /** The end of a run's line (its key: the order of the lines); the part file is closed. */
  async endRun(key: LineKey): Promise<void> {
    const run = this.run!;
    this.run = null;
    await run.finish(false);
    this.keys.push({ key, start: this.length, end: run.bytes });
    this.length = run.bytes;
  }

  /** Gives up this day's new runs (the day file stays as it was). */
  async abandon(): Promise<void> {
    await this.run?.close();
    this.run = null;
    await unlink(this.partPath).catch(() => undefined);
  }

  /** Merges the new runs with the day file already there, and puts the result in its place. */
  async finish(): Promise<ArchivedFile | null> {
    if (this.keys.length === 0) {
      await this.abandon(); // every run of the day was left out: the day file stays as it was
      return null;
    }
    const part = await onDisk(`open ${this.partPath}`, () => open(this.partPath, "r"));
    try {
      await onDisk(`sync ${this.partPath}`, () => part.sync());
    } finally {
      await part.close().catch(() => undefined);
    }
    const existing = await stat(this.finalPath).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return null;
      throw fileError(`read ${this.finalPath}`, error);
    });
    if (!existing) {
      await onDisk(`rename ${this.partPath} to ${this.finalPath}`, () => rename(this.partPath, this.finalPath));
      await fsyncDirectory(this.dir);
      return { file: this.relative, runs: this.keys.length, written: this.keys.length, kept: 0, bytes: this.length };
    }
    // two passes over the day file there, neither holding a line: where its lines are and their
    // keys (from the start of each line), then the merge, copying bytes from either file
    const ids = new Set(this.keys.map((k) => k.key.id));
    let kept = 0;
    let bytes: number;
    const oldFile = await onDisk(`open ${this.finalPath}`, () => open(this.finalPath, "r"));
    try {
      const partFile = await onDisk(`open ${this.partPath}`, () => open(this.partPath, "r"));
      try {
        const merged = new BufferedWriter(await onDisk(`create ${this.tmpPath}`, () => open(this.tmpPath, "w", FILE_MODE)), this.tmpPath);
        try {
          const oldLines = (await this.lineRanges(oldFile)).filter((line) => !ids.has(line.key.id));
          let o = 0;
          let n = 0;
          while (o < oldLines.length || n < this.keys.length) {
            const old = oldLines[o];
            const next = this.keys[n];
            if (old && (!next || compareKeys(old.key, next.key) < 0)) {
              await copyRange(oldFile, this.finalPath, old.start, old.end, merged);
              await merged.write("\n");
              kept += 1;
              o += 1;
            } else {
              await copyRange(partFile, this.partPath, next!.start, next!.end, merged);
              n += 1;
            }
          }
          await merged.finish(true);
          bytes = merged.bytes;
        } catch (error) {
          await merged.close();
          await unlink(this.tmpPath).catch(() => undefined);
          throw error;
        }
      } finally {
        await partFile.close().catch(() => undefined);
      }
    } finally {
      await oldFile.close().catch(() => undefined);
    }
    await onDisk(`rename ${this.tmpPath} to ${this.finalPath}`, () => rename(this.tmpPath, this.finalPath));
    await onDisk(`remove ${this.partPath}`, () => unlink(this.partPath));
    await fsyncDirectory(this.dir);
    return { file: this.relative, runs: kept + this.keys.length, written: this.keys.length, kept, bytes };
  }

  /** Where each line of a day file is, and its key; refuses a line that is not one of ours or out of order. */
  private async lineRanges(file: FileHandle): Promise<LineRange[]> {
    const ranges: LineRange[] = [];
    const buffer = Buffer.allocUnsafe(READ_BYTES);
    let lineStart = 0;
    let head: Buffer[] = []; // the first LINE_HEAD bytes of the current line
    let headLength = 0;
    let lineNo = 0;
    const endLine = async (end: number) => {
      lineNo += 1;
      const start = lineStart;
      lineStart = end + 1;
      const first = Buffer.concat(head);
      head = [];
      headLength = 0;
      if (end - start <= LINE_HEAD && first.toString("utf8").trim() === "") return; // an empty line
      const key = await this.keyOf(file, first, start, end, lineNo);
      const previous = ranges.at(-1);
      if (previous && compareKeys(previous.key, key) >= 0) {
        throw new ConfigError(
          `${this.finalPath}:${lineNo}: its runs are not in order of finished_at then id (was it edited?): sort it or move it away, then run everruns archive again`,
        );
      }
      ranges.push({ key, start, end });
    };
    let position = 0;
    for (;;) {
      const at = position;
      const { bytesRead } = await onDisk(`read ${this.finalPath}`, () => file.read(buffer, 0, buffer.length, at));
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      for (let from = 0; from < bytesRead;) {
        const newline = chunk.indexOf(10, from);
        const stop = newline === -1 ? bytesRead : newline;
        if (headLength < LINE_HEAD && stop > from) {
          const part = Buffer.from(chunk.subarray(from, Math.min(stop, from + LINE_HEAD - headLength)));
          head.push(part);
          headLength += part.length;
        }
        if (newline === -1) break;
        await endLine(position + newline);
        from = newline + 1;
      }
      position += bytesRead;
    }
    if (lineStart < position) await endLine(position); // a last line without its newline
    return ranges;
  }

  private async keyOf(file: FileHandle, head: Buffer, start: number, end: number, lineNo: number): Promise<LineKey> {
    // the lines this command writes start with their key: no need to read a run of 100,000 events
    const ours = LINE_START.exec(head.toString("utf8"));
    if (ours) return { id: ours[1]!, finishedAt: ours[2]! };
    // another writer's line (e.g. pretty keys in another order): parsed whole
    let parsed: unknown = null;
    if (end - start <= 64 * READ_BYTES) {
      const line = Buffer.allocUnsafe(end - start);
      await onDisk(`read ${this.finalPath}`, () => file.read(line, 0, line.length, start));
      try {
        parsed = JSON.parse(line.toString("utf8"));
      } catch {
        parsed = null;
      }
    }
    const checked = LineKeySchema.safeParse(parsed);
    if (!checked.success) {
      throw new ConfigError(
        `${this.finalPath}:${lineNo} is not a line of everruns archive (a JSON object with run.id and run.finished_at): fix or move the file away, then run everruns archive again`,
      );
    }
    return { finishedAt: checked.data.run.finished_at, id: checked.data.run.id };
  }
}

/** Who holds DIR/.everruns-archive.lock: one JSON line. */
const LockOwnerSchema = z.object({ host: z.string(), pid: z.number().int().positive(), started: z.string() });
type LockOwner = z.infer<typeof LockOwnerSchema>;

function parseLockOwner(text: string): LockOwner | null {
  try {
    const checked = LockOwnerSchema.safeParse(JSON.parse(text));
    return checked.success ? checked.data : null;
  } catch {
    return null;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Takes DIR/.everruns-archive.lock (two archives merging into the same files would lose runs);
 * returns its release. The lock says who holds it: host, pid and when that process started. It
 * is stale when left on this host by a process that is gone (or by a pid that is now ours);
 * a lock of another host is never taken over (its pid means nothing here). A stale lock is
 * taken over atomically: renamed aside (only one taker's rename finds it), checked to be the
 * stale one read before (else put back: another taker won), then created anew with O_EXCL.
 */
async function lockDirectory(dir: string): Promise<() => Promise<void>> {
  const lock = path.join(dir, LOCK_FILE);
  const me: LockOwner = { host: hostname(), pid: process.pid, started: new Date(Date.now() - process.uptime() * 1000).toISOString() };
  const busy = (owner: LockOwner | null) =>
    owner === null
      ? new ConfigError(`${lock} is not a lock of everruns archive: if no archive is writing ${dir}, delete it and run everruns archive again`)
      : owner.host !== me.host
        ? new ConfigError(
            `an everruns archive on host ${owner.host} (pid ${owner.pid}, started ${owner.started}) holds ${lock}: wait for it; if it no longer runs there, delete ${lock}`,
          )
        : new ConfigError(`another everruns archive (pid ${owner.pid}, started ${owner.started}) is writing ${dir}: wait for it; if none runs, delete ${lock}`);
  for (let attempt = 0; attempt < 5; attempt++) {
    // the lock appears whole or not at all: written to a file of our own, then linked to its name
    // (which fails when the name is taken); another archive never reads it empty or in part
    const mine = `${lock}.${me.pid}.${randomBytes(4).toString("hex")}.new`;
    try {
      const handle = await open(mine, "wx", FILE_MODE);
      try {
        await handle.writeFile(`${JSON.stringify(me)}\n`);
        await handle.sync();
      } finally {
        await handle.close().catch(() => undefined);
      }
      await link(mine, lock);
      return () => unlink(lock).catch(() => undefined);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw fileError(`write in ${dir}`, error);
    } finally {
      await unlink(mine).catch(() => undefined);
    }
    const seen = await readFile(lock, "utf8").catch(() => null);
    if (seen === null) continue; // released meanwhile: try again
    const owner = parseLockOwner(seen);
    const stale = owner !== null && owner.host === me.host && (owner.pid === me.pid || !processAlive(owner.pid));
    if (!stale) throw busy(owner);
    const aside = `${lock}.${me.pid}.${randomBytes(4).toString("hex")}`;
    try {
      await rename(lock, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") continue; // another taker moved it first
      throw fileError(`take over ${lock}`, error);
    }
    const moved = await readFile(aside, "utf8").catch(() => null);
    if (moved !== seen) {
      // another taker replaced the stale lock between our read and our rename: its lock goes back
      await link(aside, lock).catch(() => undefined);
      await unlink(aside).catch(() => undefined);
      throw busy(moved === null ? null : parseLockOwner(moved));
    }
    await unlink(aside).catch(() => undefined);
  }
  throw new ConfigError(`could not take ${lock}: other archives keep taking it; run everruns archive again once they are done`);
}

/** Part and temp files a crashed archive left in DIR/<workspace>/ (under the lock: no archive is writing them). */
async function removeLeftovers(dir: string): Promise<void> {
  const entries: Dirent[] = await onDisk(`read ${dir}`, () => readdir(dir, { withFileTypes: true }));
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const sub = path.join(dir, entry.name);
    for (const name of await onDisk(`read ${sub}`, () => readdir(sub))) {
      if (/^\.\d{4}-\d\d-\d\d\.jsonl\.(part|tmp)$/.test(name)) await onDisk(`remove ${path.join(sub, name)}`, () => unlink(path.join(sub, name)));
    }
  }
}

/** The history of a run is not whole: retention removed it meanwhile, or the run is inconsistent. */
class HistoryChanged extends Error {}

type WriteOutcome = { kind: "written" } | { kind: "expired" } | { kind: "inconsistent"; reason: string };

/**
 * Writes one run's line: its summary, then its steps and its events a page at a time, all read in
 * one snapshot. Nothing is written when retention removed the run's history (before the snapshot,
 * or while it was read: a month's partitions dropped), nor for a run whose events are not seq 1..n
 * up to its event_seq: that one is reported, and the archive goes on.
 */
async function writeRun(pool: Pool, run: ArchiveRun, file: DayFile): Promise<WriteOutcome> {
  const client = await pool.connect();
  let broken = false;
  let begun = false;
  try {
    await client.query("begin isolation level repeatable read, read only");
    const state = await readArchiveRunState(client, run.id);
    if (state.expired) {
      await client.query("rollback");
      return { kind: "expired" };
    }
    await file.beginRun();
    begun = true;
    await file.write(`{"run":${run.summary},"steps":[`);
    const page = { runId: run.id, limit: HISTORY_ROWS, maxBytes: HISTORY_BYTES };
    // a page is the last one when it stopped at neither bound
    const full = (rows: { json: string }[]) => rows.length === HISTORY_ROWS || rows.reduce((n, r) => n + Buffer.byteLength(r.json), 0) >= HISTORY_BYTES;
    let first = true;
    for (let afterSeq = 0; ;) {
      const rows = await readArchiveStepsPage(client, { ...page, afterSeq });
      for (const row of rows) {
        await file.write(first ? row.json : `,${row.json}`);
        first = false;
      }
      if (rows.length === 0 || !full(rows)) break;
      afterSeq = rows.at(-1)!.seq;
    }
    await file.write(`],"events":[`);
    let seq = 0;
    for (;;) {
      const rows = await readArchiveEventsPage(client, { ...page, afterSeq: seq });
      for (const row of rows) {
        // the log is seq 1, 2, 3... with no gaps: anything else is a log that changed under us
        if (row.seq !== seq + 1) throw new HistoryChanged(`its events jump from seq ${seq} to ${row.seq}`);
        await file.write(seq === 0 ? row.json : `,${row.json}`);
        seq = row.seq;
      }
      if (rows.length === 0 || !full(rows)) break;
    }
    if (seq !== state.eventSeq) throw new HistoryChanged(`it has ${seq} events where its event_seq says ${state.eventSeq}`);
    await file.write("]}\n");
    await client.query("commit");
    await file.endRun({ finishedAt: run.finished_at, id: run.id });
    return { kind: "written" };
  } catch (error) {
    // a connection that cannot even roll back is not given back to the pool
    await client.query("rollback").catch(() => (broken = true));
    if (begun) await file.cut();
    if (!(error instanceof HistoryChanged)) throw error;
    // partitions are dropped outside any snapshot: a run whose history expired meanwhile is left out
    if ((await readArchiveRunState(pool, run.id)).expired) return { kind: "expired" };
    return { kind: "inconsistent", reason: error.message };
  } finally {
    client.release(broken);
  }
}

/** Archives the runs `options` name into `options.out`; returns what it wrote. */
export async function archiveRuns(pool: Pool, options: ArchiveOptions): Promise<ArchiveSummary> {
  const out = path.resolve(options.out);
  const after = options.after ?? null;
  if (after !== null && after >= options.before) {
    throw new ConfigError(`--after (${after}) must be before --before (${options.before}): no run is between them`);
  }
  // the workspace first: a typo creates no directory
  const workspaceId = options.workspace === null ? null : (await resolveWorkspace(pool, options.workspace)).id;
  await onDisk(`create the directory ${out}`, () => mkdir(out, { recursive: true, mode: DIR_MODE }));
  const release = await lockDirectory(out);
  const summary: ArchiveSummary = { before: options.before, after, out, runs: 0, skipped: 0, inconsistent: [], files: 0, bytes: 0, written: [] };
  // a file written by both passes is reported once, as it ends up
  const written = new Map<string, ArchivedFile>();
  // the day being written: its file of each workspace with runs that day (runs come in finished_at order)
  let day: string | null = null;
  const openFiles = new Map<string, DayFile>();
  const finishDay = async () => {
    for (const name of [...openFiles.keys()].sort()) {
      const done = await openFiles.get(name)!.finish();
      openFiles.delete(name);
      if (!done) continue;
      const earlier = written.get(done.file);
      if (earlier) {
        earlier.written += done.written;
        earlier.runs = done.runs;
        earlier.kept = done.runs - earlier.written;
        earlier.bytes = done.bytes;
      } else written.set(done.file, done);
    }
    day = null;
  };
  try {
    await removeLeftovers(out);
    for (const pass of ["ended", "later"] as ArchivePass[]) {
      let cursor: ArchiveCursor = ARCHIVE_START;
      for (;;) {
        const runs = await readArchiveRunsPage(pool, { pass, from: after, before: options.before, cursor, workspaceId, limit: RUNS_PAGE });
        for (const run of runs) {
          const runDay = run.finished_at.slice(0, 10);
          if (runDay !== day) {
            await finishDay();
            day = runDay;
          }
          let file = openFiles.get(run.workspace_name);
          if (!file) {
            // the name becomes a directory: only what the schema allows (workspaces_name_check)
            if (!WORKSPACE_NAME_PATTERN.test(run.workspace_name)) {
              throw new ConfigError(
                `workspace ${JSON.stringify(run.workspace_name)} has a name that cannot be a directory; rename it, then run everruns archive again`,
              );
            }
            const dir = path.join(out, run.workspace_name);
            const created = await onDisk(`create the directory ${dir}`, () => mkdir(dir, { recursive: true, mode: DIR_MODE }));
            if (created) await fsyncDirectory(out);
            file = await DayFile.create(dir, run.workspace_name, runDay);
            openFiles.set(run.workspace_name, file);
          }
          const outcome = await writeRun(pool, run, file);
          if (outcome.kind === "written") summary.runs += 1;
          else if (outcome.kind === "expired") summary.skipped += 1;
          else summary.inconsistent.push({ id: run.id, workspace: run.workspace_name, reason: outcome.reason });
        }
        if (runs.length < RUNS_PAGE) break;
        const last = runs.at(-1)!;
        cursor = { finishedAt: last.finished_at, id: last.id };
      }
      await finishDay();
    }
  } finally {
    // on an error the day being written is given up: its files stay as they were
    for (const file of openFiles.values()) await file.abandon();
    await release();
  }
  summary.written = [...written.values()];
  summary.files = summary.written.length;
  summary.bytes = summary.written.reduce((n, f) => n + f.bytes, 0);
  return summary;
}

export interface ArchiveCommandIo {
  out?: (line: string) => void;
}

/** `everruns archive --before DATE --out DIR ...`; returns the exit code. */
export async function archiveCommand(args: string[], env: Env, io: ArchiveCommandIo = {}): Promise<number> {
  const out = io.out ?? ((line: string) => console.log(line));
  if (args.length === 0 || wantsHelp(args)) {
    out(ARCHIVE_USAGE);
    return args.length === 0 ? 2 : 0;
  }
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      before: { type: "string" },
      after: { type: "string" },
      out: { type: "string" },
      workspace: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  if (positionals.length > 0) throw new ConfigError(`everruns archive takes flags only, got ${JSON.stringify(positionals[0])}\n\n${ARCHIVE_USAGE}`);
  if (values.before === undefined) throw new ConfigError("usage: everruns archive --before <DATE> --out <DIR>: --before is missing");
  if (values.out === undefined || values.out === "") throw new ConfigError("usage: everruns archive --before <DATE> --out <DIR>: --out is missing");
  const before = parseArchiveDate("--before", values.before);
  const after = values.after === undefined ? null : parseArchiveDate("--after", values.after);
  const summary = await withCliPool(env, (pool) => archiveRuns(pool, { before, after, out: values.out!, workspace: values.workspace ?? null }));
  const code = summary.inconsistent.length > 0 ? 3 : 0;
  if (values.json) {
    out(JSON.stringify(summary, null, 2));
    return code;
  }
  const range = after === null ? `before ${before}` : `from ${after} to before ${before}`;
  // "ended": over for retention (an interrupted run: when its continuation was created)
  if (summary.files === 0) out(`no run ended ${range} with its history still there: nothing written to ${summary.out}`);
  else {
    const kept = summary.written.reduce((n, f) => n + f.kept, 0);
    out(
      `archived ${summary.runs} run(s) that ended ${range} into ${summary.files} file(s), ${summary.bytes} bytes, in ${summary.out}` +
        (kept > 0 ? ` (kept ${kept} run(s) already in those files)` : "") +
        (summary.skipped > 0 ? `; left out ${summary.skipped} run(s) whose history retention removed meanwhile` : ""),
    );
  }
  for (const run of summary.inconsistent) {
    out(`not archived: run ${run.id} (workspace ${run.workspace}): ${run.reason}; everruns events ${run.id} shows what is there`);
  }
  return code;
}
