// `everruns archive --before DATE --out DIR` as an operator runs it (real CLI processes on a test
// database): the files and lines it writes for runs over three days in two workspaces (and none
// for a live run, a run that ended after DATE or an interrupted run nobody answered), a run of
// 5,000 events written whole, the same files when run twice, a later DATE adding days and
// keeping the lines of runs gone from the database since, a day file already there merged,
// nothing of secrets or API keys, files 0600 and directories 0700, and the refusals (bad date, a
// file in the way, a live lock, another host's lock). Then: an interrupt answered late archived
// by retention's clock (--after), a damaged run left out and reported (exit code 3), history
// pages bounded by bytes, peak memory with 300 workspaces (a child's max RSS), and what
// workspaces limits --retention-days says about runs about to expire.
// The run of the later DATE removes a run's history (as retention does): it comes after the
// tests that read every run; the tests after it use dates of their own.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/sql/apiKeys.ts";
import { setSecret } from "../../db/sql/setSecret.ts";
import { createWorkspace } from "../../db/sql/workspaces.ts";
import { createAgent, createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { archiveRuns, HISTORY_BYTES, HISTORY_ROWS } from "../archive-command.ts";
import { readArchiveEventsPage } from "../../db/sql/archiveRunHistory.ts";
import { PROJECT_ROOT } from "../database.ts";
import { sleep } from "../../lib/sleep.ts";

const CLI = path.join(PROJECT_ROOT, "scripts", "everruns.ts");
const DEFAULT_WORKSPACE_ID = "00000000-0000-0000-0000-000000000001";
const SECRET_VALUE = `sk-archive-${randomBytes(8).toString("hex")}`;
let db: TestDatabase;
let root: string;
let apiKey: string;
let partitioned: boolean;

interface Cli {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<Cli> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: db.url } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

interface Fixture {
  agentId: string;
  status: string;
  /** null: a live run */
  finishedAt: string | null;
  steps?: number;
  events?: number;
  continuedBy?: string;
  /** default: an hour before finishedAt (now for a live run) */
  createdAt?: string;
}

/** A run as the engine leaves it: its row, `steps` checkpoints and `events` events (seq 1..n). */
async function makeRun(f: Fixture): Promise<string> {
  const input = { messages: [{ role: "user", content: 'archive me\nline two ✓ "quoted"' }] };
  const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
    f.agentId,
    JSON.stringify(input),
  ]);
  const id = rows[0]!.id;
  const steps = f.steps ?? 2;
  const events = f.events ?? 3;
  // a backdated run: created_at names its partition and never changes once the run has rows (000038);
  // set with the triggers off, before it has any
  const client = await db.pool.connect();
  try {
    await client.query("begin");
    await client.query("set local session_replication_role = replica");
    await client.query(
      `update everruns.runs
        set status = $2, created_at = coalesce($7::timestamptz, $3::timestamptz - interval '1 hour', created_at), started_at = coalesce($3::timestamptz - interval '59 minutes', now()),
            finished_at = $3, output = case when $3 is null then null else jsonb_build_object('text', 'done') end,
            usage = '{"input_tokens": 10, "output_tokens": 5, "cost_usd": 0.0012}', event_seq = $4, step_cursor = $5 + 1, continued_by = $6
      where id = $1`,
      [id, f.status, f.finishedAt, events, steps, f.continuedBy ?? null, f.createdAt ?? null],
    );
    await client.query("commit");
  } finally {
    client.release();
  }
  const key = partitioned ? ", everruns_private.run_partition_key(r.created_at, r.legacy_history)" : "";
  const keyColumn = partitioned ? ", run_created_at" : "";
  await db.pool.query(
    `insert into everruns.run_steps (run_id, seq, workspace_id, kind, name, status, attempt, input, output, usage, started_at, finished_at${keyColumn})
     select r.id, g, r.workspace_id, 'llm', 'scripted', 'succeeded', 1, jsonb_build_object('turn', g), jsonb_build_object('text', 'step ' || g),
            '{"input_tokens": 5}'::jsonb, r.created_at + g * interval '1 second', r.created_at + g * interval '1 second' + interval '250 milliseconds'${key}
       from everruns.runs r, generate_series(1, $2::int) g where r.id = $1`,
    [id, steps],
  );
  await db.pool.query(
    `insert into everruns.run_events (run_id, seq, workspace_id, type, event, created_at${keyColumn})
     select r.id, g, r.workspace_id, 'CUSTOM', jsonb_build_object('type', 'CUSTOM', 'name', 'tick', 'value', g), r.created_at + g * interval '1 millisecond'${key}
       from everruns.runs r, generate_series(1, $2::int) g where r.id = $1`,
    [id, events],
  );
  return id;
}

/** `count` events (seq 1..count) of about `bytes` each for each run (a blob that compresses: the database stays small). */
async function insertBlobEvents(runIds: string[], count: number, bytes: number): Promise<void> {
  const key = partitioned ? ", everruns_private.run_partition_key(r.created_at, r.legacy_history)" : "";
  const keyColumn = partitioned ? ", run_created_at" : "";
  await db.pool.query(
    `insert into everruns.run_events (run_id, seq, workspace_id, type, event, created_at${keyColumn})
     select r.id, g, r.workspace_id, 'CUSTOM', jsonb_build_object('type', 'CUSTOM', 'value', g, 'blob', repeat(md5(r.id::text), $3::int / 32)), r.created_at${key}
       from everruns.runs r, generate_series(1, $2::int) g where r.id = any($1::uuid[])`,
    [runIds, count, bytes],
  );
}

interface Line {
  run: Record<string, unknown> & { id: string; finished_at: string; workspace: string; status: string };
  steps: { seq: number; kind: string; output: unknown; started_at: string }[];
  events: { seq: number; type: string; event: { value: number }; created_at: string }[];
}

function readLines(file: string): Line[] {
  const text = readFileSync(file, "utf8");
  expect(text.endsWith("\n")).toBe(true);
  return text
    .slice(0, -1)
    .split("\n")
    .map((l) => JSON.parse(l) as Line);
}

/** Every file under `dir` (relative path → contents), hidden ones too. */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) files[path.relative(dir, path.join(entry.parentPath, entry.name))] = readFileSync(path.join(entry.parentPath, entry.name), "utf8");
  }
  return files;
}

const ids: Record<string, string> = {};

/** What retention does to a run: its events and steps removed, the run marked (000038) or, before 000038, gone. */
async function expireHistory(runId: string): Promise<void> {
  await db.pool.query("delete from everruns.run_events where run_id = $1", [runId]);
  await db.pool.query("delete from everruns.run_steps where run_id = $1", [runId]);
  if (partitioned) await db.pool.query("update everruns.runs set history_expired_at = now() where id = $1", [runId]);
  else await db.pool.query("delete from everruns.runs where id = $1", [runId]);
}

beforeAll(async () => {
  db = await createTestDatabase();
  root = mkdtempSync(path.join(tmpdir(), "everruns-archive-"));
  partitioned =
    (
      await db.pool.query<{ n: number }>(
        "select count(*)::int as n from information_schema.columns where table_schema = 'everruns' and table_name = 'run_events' and column_name = 'run_created_at'",
      )
    ).rows[0]!.n === 1;
  const acme = await createWorkspace(db.pool, "acme");
  const support = await createAgent(db.pool, { provider: "scripted", script: [{ text: "hi" }] }, "support");
  const { rows } = await db.pool.query<{ id: string }>("insert into everruns.agents (workspace_id, name, config) values ($1, 'triage', $2) returning id", [
    acme.id,
    JSON.stringify({ provider: "scripted", script: [{ text: "hi" }] }),
  ]);
  const triage = rows[0]!.id;
  await setSecret(db.pool, { name: "API_TOKEN", value: SECRET_VALUE, key: randomBytes(32) });
  apiKey = (await createApiKey(db.pool, { name: "archiver", role: "admin" })).key;

  // the default workspace: two days, and a tie on finished_at (ordered by id)
  ids.d1 = await makeRun({ agentId: support, status: "succeeded", finishedAt: "2026-11-01T10:00:00.123456Z", steps: 3, events: 5 });
  ids.d2 = await makeRun({ agentId: support, status: "failed", finishedAt: "2026-11-01T12:00:00Z" });
  ids.d3 = await makeRun({ agentId: support, status: "cancelled", finishedAt: "2026-11-01T12:00:00Z", steps: 0, events: 0 });
  ids.d4 = await makeRun({ agentId: support, status: "succeeded", finishedAt: "2026-11-02T00:00:00Z" }); // midnight: the 2nd
  // interrupted, and answered by a run created before DATE: over, by retention's clock
  ids.d5c = await makeRun({ agentId: support, status: "running", finishedAt: null, createdAt: "2026-11-03T23:59:59.5Z" });
  ids.d5 = await makeRun({ agentId: support, status: "interrupted", finishedAt: "2026-11-03T23:59:58.999999Z", continuedBy: ids.d5c });
  // interrupted on the 2nd, answered only on the 6th: over from the 6th on (its day file stays the 2nd)
  ids.latec = await makeRun({ agentId: support, status: "running", finishedAt: null, createdAt: "2026-11-06T08:30:00Z" });
  ids.late = await makeRun({ agentId: support, status: "interrupted", finishedAt: "2026-11-02T05:00:00Z", continuedBy: ids.latec });
  ids.open = await makeRun({ agentId: support, status: "interrupted", finishedAt: "2026-11-03T09:00:00Z" }); // waits for an answer
  ids.live = await makeRun({ agentId: support, status: "running", finishedAt: null });
  ids.after = await makeRun({ agentId: support, status: "succeeded", finishedAt: "2026-11-05T08:00:00Z" });
  // acme: the 1st, and the 3rd with a run of 5,000 events
  ids.a1 = await makeRun({ agentId: triage, status: "succeeded", finishedAt: "2026-11-01T11:00:00Z" });
  ids.big = await makeRun({ agentId: triage, status: "succeeded", finishedAt: "2026-11-03T08:00:00Z", steps: 1500, events: 5000 });
});

afterAll(async () => {
  await db?.drop();
  if (root) rmSync(root, { recursive: true, force: true });
});

const EXPECTED = {
  "acme/2026-11-01.jsonl": ["a1"],
  "acme/2026-11-03.jsonl": ["big"],
  "default/2026-11-01.jsonl": ["d1", "d2|d3"],
  "default/2026-11-02.jsonl": ["d4"],
  "default/2026-11-03.jsonl": ["d5"],
};

/** The expected ids of a file, the tie (d2|d3) in id order. */
function expectedIds(names: string[]): string[] {
  return names.flatMap((n) => (n === "d2|d3" ? [ids.d2!, ids.d3!].sort() : [ids[n]!]));
}

describe("everruns archive", () => {
  it("writes one line per ended run into DIR/<workspace>/<day>.jsonl, steps and events whole and in order", async () => {
    const out = path.join(root, "first");
    const result = await cli(["archive", "--before", "2026-11-04", "--out", out, "--json"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout) as { before: string; runs: number; files: number; bytes: number; written: { file: string; runs: number }[] };
    expect(summary).toMatchObject({ before: "2026-11-04T00:00:00.000Z", out, runs: 7, skipped: 0, files: 5 });
    expect(summary.written.map((f) => f.file).sort()).toEqual(Object.keys(EXPECTED).sort());

    const files = snapshot(out);
    expect(Object.keys(files).sort()).toEqual(Object.keys(EXPECTED).sort()); // no part, temp or lock file left
    expect(summary.bytes).toBe(Object.values(files).reduce((n, text) => n + Buffer.byteLength(text), 0));
    for (const [file, names] of Object.entries(EXPECTED)) {
      const lines = readLines(path.join(out, file));
      expect(
        lines.map((l) => l.run.id),
        file,
      ).toEqual(expectedIds(names));
      for (const line of lines) {
        expect(line.run.workspace).toBe(file.split("/")[0]);
        expect(line.run.finished_at.slice(0, 10)).toBe(path.basename(file, ".jsonl"));
        expect(line.steps.map((s) => s.seq)).toEqual(Array.from({ length: line.run.steps as number }, (_, i) => i + 1));
        expect(line.events.map((e) => e.seq)).toEqual(Array.from({ length: line.run.events as number }, (_, i) => i + 1));
        expect(line.events.map((e) => e.event.value)).toEqual(line.events.map((e) => e.seq));
      }
    }

    const [d1] = readLines(path.join(out, "default/2026-11-01.jsonl"));
    expect(Object.keys(d1!)).toEqual(["run", "steps", "events"]);
    expect(d1!.run).toEqual({
      id: ids.d1,
      workspace_id: DEFAULT_WORKSPACE_ID,
      workspace: "default",
      agent_id: expect.any(String) as unknown,
      agent_name: "support",
      agent_version: 1,
      thread_id: expect.any(String) as unknown,
      parent_run_id: null,
      caller_run_id: null,
      root_run_id: null,
      rerun_of: null,
      batch_id: null,
      schedule_id: null,
      continued_by: null,
      status: "succeeded",
      input: { messages: [{ role: "user", content: 'archive me\nline two ✓ "quoted"' }] },
      output: { text: "done" },
      error: null,
      interrupts: null,
      state: null,
      usage: { cost_usd: 0.0012, input_tokens: 10, output_tokens: 5 },
      cost_usd: 0.0012,
      steps: 3,
      events: 5,
      created_at: "2026-11-01T09:00:00.123456Z",
      started_at: "2026-11-01T09:01:00.123456Z",
      finished_at: "2026-11-01T10:00:00.123456Z",
    });
    expect(d1!.steps[0]).toEqual({
      seq: 1,
      kind: "llm",
      name: "scripted",
      status: "succeeded",
      attempt: 1,
      input: { turn: 1 },
      output: { text: "step 1" },
      error: null,
      usage: { input_tokens: 5 },
      state: null,
      started_at: "2026-11-01T09:00:01.123456Z",
      finished_at: "2026-11-01T09:00:01.373456Z",
      duration_ms: 250,
    });
    expect(d1!.events[4]).toEqual({ seq: 5, type: "CUSTOM", event: { type: "CUSTOM", name: "tick", value: 5 }, created_at: "2026-11-01T09:00:00.128456Z" });
    const d5 = readLines(path.join(out, "default/2026-11-03.jsonl"))[0]!;
    expect(d5.run).toMatchObject({ status: "interrupted", continued_by: ids.d5c, finished_at: "2026-11-03T23:59:58.999999Z" });

    // the run of 5,000 events, whole
    const big = readLines(path.join(out, "acme/2026-11-03.jsonl"))[0]!;
    expect(big.run).toMatchObject({ id: ids.big, workspace: "acme", agent_name: "triage", steps: 1500, events: 5000 });
    expect(big.steps).toHaveLength(1500);
    expect(big.events).toHaveLength(5000);
    expect(big.events.at(-1)).toMatchObject({ seq: 5000, event: { value: 5000 } });

    // nothing of the workspace's secrets or API keys
    const all = Object.values(files).join("");
    expect(all).not.toContain(SECRET_VALUE);
    expect(all).not.toContain(apiKey);
    expect(all).not.toContain(apiKey.slice(0, 12)); // its prefix, stored in api_keys
    expect(all).not.toContain("API_TOKEN");
    for (const id of [ids.open, ids.live, ids.after, ids.late]) expect(all).not.toContain(id!);

    // an archive holds every tenant's inputs and outputs: only its owner reads it
    expect(statSync(out).mode & 0o777).toBe(0o700);
    for (const file of Object.keys(EXPECTED)) {
      expect(statSync(path.join(out, file)).mode & 0o777, file).toBe(0o600);
      expect(statSync(path.dirname(path.join(out, file))).mode & 0o777, file).toBe(0o700);
    }

    // the summary for people
    const text = await cli(["archive", "--before", "2026-11-04", "--out", out]);
    expect(text.code).toBe(0);
    expect(text.stdout).toBe(`archived 7 run(s) that ended before 2026-11-04T00:00:00.000Z into 5 file(s), ${summary.bytes} bytes, in ${out}\n`);
  });

  it("run twice: the same files; --workspace: that workspace's only", async () => {
    const out = path.join(root, "twice");
    expect((await cli(["archive", "--before", "2026-11-04", "--out", out])).code).toBe(0);
    const first = snapshot(out);
    expect((await cli(["archive", "--before", "2026-11-04", "--out", out])).code).toBe(0);
    expect(snapshot(out)).toEqual(first);

    const only = path.join(root, "only-acme");
    const result = await cli(["archive", "--before", "2026-11-04", "--out", only, "--workspace", "acme", "--json"]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ runs: 2, files: 2 });
    expect(Object.keys(snapshot(only)).sort()).toEqual(["acme/2026-11-01.jsonl", "acme/2026-11-03.jsonl"]);
    expect(readFileSync(path.join(only, "acme/2026-11-03.jsonl"), "utf8")).toBe(first["acme/2026-11-03.jsonl"]);
    const unknown = await cli(["archive", "--before", "2026-11-04", "--out", only, "--workspace", "nowhere"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^everruns: no workspace "nowhere" \(there are: default, acme\)/);
    const typo = await cli(["archive", "--before", "2026-11-04", "--out", path.join(root, "typo"), "--workspace", "nowhere"]);
    expect(typo.code).toBe(1);
    expect(existsSync(path.join(root, "typo"))).toBe(false); // the workspace is checked before anything is created
  });

  it("merges a day file already there: its runs kept in order, a run there already replaced by the database's line", async () => {
    const out = path.join(root, "merge");
    mkdirSync(path.join(out, "default"), { recursive: true });
    const foreign = {
      run: { id: "00000000-0000-4000-8000-00000000000f", finished_at: "2026-11-01T11:30:00.000000Z", note: "archived earlier" },
      steps: [],
      events: [],
    };
    const early = { run: { id: "00000000-0000-4000-8000-00000000000e", finished_at: "2026-11-01T00:00:00.000000Z" }, steps: [], events: [] };
    const stale = { run: { id: ids.d2, finished_at: "2026-11-01T12:00:00.000000Z", status: "stale copy" }, steps: [], events: [] };
    const day = path.join(out, "default/2026-11-01.jsonl");
    writeFileSync(day, [early, foreign, stale].map((l) => JSON.stringify(l)).join("\n")); // the last line without its newline
    // what a crash left: a part file, to be cleaned up
    writeFileSync(path.join(out, "default/.2026-11-02.jsonl.part"), '{"run":');

    const result = await cli(["archive", "--before", "2026-11-02", "--out", out]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^archived 4 run\(s\) .* into 2 file\(s\), \d+ bytes, in .* \(kept 2 run\(s\) already in those files\)\n$/);
    const lines = readLines(day);
    expect(lines.map((l) => l.run.id)).toEqual([early.run.id, ids.d1, foreign.run.id, ...[ids.d2!, ids.d3!].sort()]);
    expect(lines[2]).toEqual(foreign); // kept as it was
    expect(lines.find((l) => l.run.id === ids.d2)!.run.status).toBe("failed"); // the database's line, once
    expect(Object.keys(snapshot(out)).sort()).toEqual(["acme/2026-11-01.jsonl", "default/2026-11-01.jsonl"]);

    // a line that is not one of ours: refused, the file untouched
    writeFileSync(day, readFileSync(day, "utf8") + "not json\n");
    const before = readFileSync(day, "utf8");
    const refused = await cli(["archive", "--before", "2026-11-02", "--out", out]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `everruns: ${day}:6 is not a line of everruns archive (a JSON object with run.id and run.finished_at): fix or move the file away, then run everruns archive again\n`,
    );
    expect(readFileSync(day, "utf8")).toBe(before);
    expect(readdirSync(path.join(out, "default"))).toEqual(["2026-11-01.jsonl"]);
  });

  it("refuses a bad date, a file in the way and a directory another archive is writing, with exit code 1", async () => {
    const out = path.join(root, "refusals");
    for (const bad of ["2026-13-01", "yesterday", "2026-11-01T10:00:00", "2026-02-30"]) {
      const result = await cli(["archive", "--before", bad, "--out", out]);
      expect(result.code, bad).toBe(1);
      expect(result.stderr).toBe(
        `everruns: --before takes a day (YYYY-MM-DD: its UTC midnight) or an ISO timestamp with a zone (2026-11-01T12:00:00Z), got ${JSON.stringify(bad)}\n`,
      );
    }
    expect(existsSync(out)).toBe(false);
    expect((await cli(["archive", "--out", out])).stderr).toBe("everruns: usage: everruns archive --before <DATE> --out <DIR>: --before is missing\n");
    expect((await cli(["archive", "--before", "2026-11-04"])).stderr).toBe("everruns: usage: everruns archive --before <DATE> --out <DIR>: --out is missing\n");

    const file = path.join(root, "a-file");
    writeFileSync(file, "");
    const inTheWay = await cli(["archive", "--before", "2026-11-04", "--out", path.join(file, "sub")]);
    expect(inTheWay.code).toBe(1);
    expect(inTheWay.stderr).toMatch(/^everruns: cannot create the directory .*a-file\/sub: ENOTDIR: .*; a file is in the way: give --out a directory\n$/);

    mkdirSync(out);
    const lock = path.join(out, ".everruns-archive.lock");
    const started = "2026-12-01T00:00:00.000Z";
    // a live archive of this host (this test's process)
    writeFileSync(lock, JSON.stringify({ host: hostname(), pid: process.pid, started }) + "\n");
    const locked = await cli(["archive", "--before", "2026-11-04", "--out", out]);
    expect(locked.code).toBe(1);
    expect(locked.stderr).toBe(
      `everruns: another everruns archive (pid ${process.pid}, started ${started}) is writing ${out}: wait for it; if none runs, delete ${lock}\n`,
    );
    // another host's: its pid means nothing here, never taken over
    writeFileSync(lock, JSON.stringify({ host: "elsewhere.example", pid: 2147483646, started }) + "\n");
    const remote = await cli(["archive", "--before", "2026-11-04", "--out", out]);
    expect(remote.code).toBe(1);
    expect(remote.stderr).toBe(
      `everruns: an everruns archive on host elsewhere.example (pid 2147483646, started ${started}) holds ${lock}: wait for it; if it no longer runs there, delete ${lock}\n`,
    );
    // not a lock of ours: refused, said how to remove it
    writeFileSync(lock, "12345\n");
    expect((await cli(["archive", "--before", "2026-11-04", "--out", out])).stderr).toBe(
      `everruns: ${lock} is not a lock of everruns archive: if no archive is writing ${out}, delete it and run everruns archive again\n`,
    );
    // a lock left on this host by an archive that died is taken over
    writeFileSync(lock, JSON.stringify({ host: hostname(), pid: 2147483646, started }) + "\n");
    expect((await cli(["archive", "--before", "2026-11-02", "--out", out])).code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["acme", "default"]);
    // two archives taking over the same stale lock at once: one writes, the other is refused (or
    // runs after the first released it); the files are whole either way
    writeFileSync(lock, JSON.stringify({ host: hostname(), pid: 2147483646, started }) + "\n");
    const both = await Promise.all([cli(["archive", "--before", "2026-11-02", "--out", out]), cli(["archive", "--before", "2026-11-02", "--out", out])]);
    expect(both.map((r) => r.code)).toContain(0);
    for (const r of both) if (r.code !== 0) expect(r.stderr).toMatch(/^everruns: another everruns archive \(pid \d+, started .*\) is writing /);
    expect(readdirSync(out).sort()).toEqual(["acme", "default"]);

    const help = await cli(["archive", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage:\n {2}everruns archive --before <DATE> --out <DIR>/);
    expect((await cli(["archive"])).code).toBe(2);
  });

  it("kill -9 at any moment leaves each day file as it was or as it ends up, never torn; the next run finishes the job", async () => {
    const out = path.join(root, "crash");
    mkdirSync(path.join(out, "default"), { recursive: true });
    const day = "default/2026-11-01.jsonl";
    const old =
      JSON.stringify({ run: { id: "00000000-0000-4000-8000-00000000000c", finished_at: "2026-11-01T11:30:00.000000Z" }, steps: [], events: [] }) + "\n";
    writeFileSync(path.join(out, day), old);
    // what a whole run makes of it, on a copy
    const reference = path.join(root, "crash-reference");
    cpSync(out, reference, { recursive: true });
    expect((await cli(["archive", "--before", "2026-11-04", "--out", reference])).code).toBe(0);
    const final = snapshot(reference);
    expect(final[day]).not.toBe(old);

    for (const delayMs of [200, 400, 600, 800, 1000, 1300]) {
      const child = spawn(process.execPath, [CLI, "archive", "--before", "2026-11-04", "--out", out], { env: { ...process.env, DATABASE_URL: db.url } });
      const exited = new Promise((resolve) => child.on("exit", resolve));
      await sleep(delayMs);
      child.kill("SIGKILL");
      await exited;
      for (const [file, text] of Object.entries(snapshot(out))) {
        if (!file.endsWith(".jsonl")) continue; // part and temp files, and the lock: the next run's to clean
        if (file === day) expect([old, final[day]]).toContain(text);
        else expect(text, `${file} after a kill at ${delayMs} ms`).toBe(final[file]);
      }
    }
    const result = await cli(["archive", "--before", "2026-11-04", "--out", out]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(snapshot(out)).toEqual(final);
  });

  it("a later DATE adds the new days and keeps the lines of runs the database no longer has", async () => {
    const out = path.join(root, "later");
    expect((await cli(["archive", "--before", "2026-11-04", "--out", out])).code).toBe(0);
    const first = snapshot(out);
    // retention removes d1's history since (000038: history_expired_at; before it, the run goes):
    // its line stays in the archive, from the first run
    await expireHistory(ids.d1!);
    const result = await cli(["archive", "--before", "2026-11-06T00:00:00+00:00", "--out", out, "--json"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout) as { runs: number; files: number; written: { file: string; runs: number; written: number; kept: number }[] };
    expect(summary.runs).toBe(7); // d2..d5, a1, big and the run of the 5th
    expect(summary.written).toContainEqual(expect.objectContaining({ file: "default/2026-11-01.jsonl", runs: 3, written: 2, kept: 1 }));
    expect(summary.written).toContainEqual(expect.objectContaining({ file: "default/2026-11-05.jsonl", runs: 1, written: 1, kept: 0 }));
    const now = snapshot(out);
    expect(Object.keys(now).sort()).toEqual([...Object.keys(first), "default/2026-11-05.jsonl"].sort());
    for (const file of Object.keys(first)) expect(now[file], file).toBe(first[file]); // the same lines, d1's kept
    expect(readLines(path.join(out, "default/2026-11-05.jsonl")).map((l) => l.run.id)).toEqual([ids.after]);
  });
  it("leaves out whole a run whose history retention removes while the archive runs (in-process, retention injected)", async () => {
    const triage = (await db.pool.query<{ id: string }>("select id from everruns.agents where name = 'triage'")).rows[0]!.id;
    const victim = await makeRun({ agentId: triage, status: "succeeded", finishedAt: "2026-11-19T10:00:00Z", events: 1200 });
    const survivor = await makeRun({ agentId: triage, status: "succeeded", finishedAt: "2026-11-20T10:00:00Z" });
    let injected = false;
    // retention strikes between the page of runs and the reading of the victim's history
    const pool = new Proxy(db.pool, {
      get(target, prop) {
        if (prop === "query") {
          return async (text: string, values?: unknown[]) => {
            const result = await target.query(text, values);
            if (!injected && text.includes("order by r.finished_at, r.id")) {
              injected = true;
              await expireHistory(victim);
            }
            return result;
          };
        }
        const value: unknown = Reflect.get(target, prop);
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const out = path.join(root, "retention-meanwhile");
    const summary = await archiveRuns(pool, { before: "2026-11-21T00:00:00.000Z", out, workspace: "acme" });
    expect(injected).toBe(true);
    expect(summary).toMatchObject({ runs: 3, skipped: 1, files: 3 }); // a1, big, the survivor
    expect(Object.keys(snapshot(out)).sort()).toEqual(["acme/2026-11-01.jsonl", "acme/2026-11-03.jsonl", "acme/2026-11-20.jsonl"]);
    expect(readLines(path.join(out, "acme/2026-11-20.jsonl")).map((l) => l.run.id)).toEqual([survivor]);
  });

  it("an interrupt answered late is archived by the clock retention counts from (its continuation's creation), into the day it was interrupted; --after bounds it", async () => {
    const out = path.join(root, "late");
    expect((await cli(["archive", "--before", "2026-11-04", "--out", out])).code).toBe(0);
    const first = snapshot(out);
    // the daily archive of the 6th: only what ended that day, by retention's clock
    const result = await cli(["archive", "--after", "2026-11-06", "--before", "2026-11-07", "--out", out, "--json"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout) as { after: string; runs: number; written: unknown[] };
    expect(summary).toMatchObject({ after: "2026-11-06T00:00:00.000Z", runs: 1, files: 1 });
    expect(summary.written).toEqual([expect.objectContaining({ file: "default/2026-11-02.jsonl", runs: 2, written: 1, kept: 1 })]);
    expect(readLines(path.join(out, "default/2026-11-02.jsonl")).map((l) => l.run.id)).toEqual([ids.d4, ids.late]);
    const now = snapshot(out);
    for (const file of Object.keys(first)) if (file !== "default/2026-11-02.jsonl") expect(now[file], file).toBe(first[file]);
    // the run of the 5th is before --after: not read
    expect(Object.keys(now)).not.toContain("default/2026-11-05.jsonl");
    const bad = await cli(["archive", "--after", "2026-11-07", "--before", "2026-11-07", "--out", out]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe("everruns: --after (2026-11-07T00:00:00.000Z) must be before --before (2026-11-07T00:00:00.000Z): no run is between them\n");
  });

  it("a run whose events are not whole is left out and reported (exit code 3); the others are written", async () => {
    const support = (await db.pool.query<{ id: string }>("select id from everruns.agents where name = 'support'")).rows[0]!.id;
    const broken = await makeRun({ agentId: support, status: "succeeded", finishedAt: "2026-11-10T10:00:00Z", events: 4 });
    await db.pool.query("delete from everruns.run_events where run_id = $1 and seq = 2", [broken]);
    const fine = await makeRun({ agentId: support, status: "succeeded", finishedAt: "2026-11-10T11:00:00Z" });
    const out = path.join(root, "inconsistent");
    const result = await cli(["archive", "--after", "2026-11-10", "--before", "2026-11-11", "--out", out]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(3);
    expect(result.stdout).toBe(
      `archived 1 run(s) that ended from 2026-11-10T00:00:00.000Z to before 2026-11-11T00:00:00.000Z into 1 file(s), ${statSync(path.join(out, "default/2026-11-10.jsonl")).size} bytes, in ${out}\n` +
        `not archived: run ${broken} (workspace default): its events jump from seq 1 to 3; everruns events ${broken} shows what is there\n`,
    );
    expect(readLines(path.join(out, "default/2026-11-10.jsonl")).map((l) => l.run.id)).toEqual([fine]);
  });

  it("reads a run's history in pages of at most 200 rows or 8 MB: 20 events of a megabyte come 8 at a time, the line whole", async () => {
    const support = (await db.pool.query<{ id: string }>("select id from everruns.agents where name = 'support'")).rows[0]!.id;
    const id = await makeRun({ agentId: support, status: "succeeded", finishedAt: "2026-10-20T10:00:00Z", events: 0, steps: 1 });
    await db.pool.query("update everruns.runs set event_seq = 20 where id = $1", [id]);
    await insertBlobEvents([id], 20, 1 << 20);
    const client = await db.pool.connect();
    try {
      const pages: number[] = [];
      for (let afterSeq = 0; ;) {
        const rows = await readArchiveEventsPage(client, { runId: id, afterSeq, limit: HISTORY_ROWS, maxBytes: HISTORY_BYTES });
        if (rows.length === 0) break;
        pages.push(rows.length);
        afterSeq = rows.at(-1)!.seq;
      }
      expect(pages).toEqual([8, 8, 4]);
      // a single row past the bound still comes (the first of a page always does)
      expect(await readArchiveEventsPage(client, { runId: id, afterSeq: 0, limit: HISTORY_ROWS, maxBytes: 10 })).toHaveLength(1);
    } finally {
      client.release();
    }
    const out = path.join(root, "big-events");
    const result = await cli(["archive", "--after", "2026-10-20", "--before", "2026-10-21", "--out", out]);
    expect(result.code).toBe(0);
    const [line] = readLines(path.join(out, "default/2026-10-20.jsonl"));
    expect(line!.events.map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it("memory stays bounded with many workspaces: 300 workspaces with a run of 1 MB each, one day", async () => {
    for (let i = 0; i < 300; i++) await createWorkspace(db.pool, `mem-${i}`);
    await db.pool.query(
      `insert into everruns.agents (workspace_id, name, config)
       select w.id, 'mem', '{"provider": "scripted", "script": [{"text": "hi"}]}' from everruns.workspaces w where w.name like 'mem-%'`,
    );
    const { rows } = await db.pool.query<{ id: string }>(
      `insert into everruns.runs (agent_id, input) select a.id, '{"messages": [{"role": "user", "content": "hi"}]}' from everruns.agents a where a.name = 'mem' returning id`,
    );
    expect(rows).toHaveLength(300);
    const runIds = rows.map((r) => r.id);
    await db.pool.query(
      `update everruns.runs set status = 'succeeded', started_at = '2026-10-15T09:00:01Z',
              finished_at = '2026-10-15T10:00:00Z'::timestamptz + random() * interval '1 hour', event_seq = 4, step_cursor = 1
        where id = any($1::uuid[])`,
      [runIds],
    );
    await insertBlobEvents(runIds, 4, 1 << 18);
    const out = path.join(root, "memory");
    // the child's peak resident memory, printed as it exits
    const child = spawn(
      process.execPath,
      [
        "--import",
        "data:text/javascript,process.on('exit',()=>process.stderr.write('maxrss '+process.resourceUsage().maxRSS+'\\n'))",
        CLI,
        "archive",
        "--after",
        "2026-10-15",
        "--before",
        "2026-10-16",
        "--out",
        out,
        "--json",
      ],
      { env: { ...process.env, DATABASE_URL: db.url } },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((resolve) => child.on("exit", resolve));
    expect(code, stderr).toBe(0);
    const summary = JSON.parse(stdout) as { runs: number; files: number; bytes: number };
    expect(summary).toMatchObject({ runs: 300, files: 300 });
    expect(summary.bytes).toBeGreaterThan(300 * 1_000_000);
    const maxRssKb = Number(/maxrss (\d+)/.exec(stderr)?.[1]);
    console.log(`archive of 300 workspaces x 1 MB: peak RSS ${Math.round(maxRssKb / 1024)} MB`);
    expect(maxRssKb).toBeGreaterThan(0);
    // idle, the CLI alone peaks at about 95 MB; a buffer of 1 MB kept per workspace would add 300 MB
    expect(maxRssKb).toBeLessThan(240 * 1024);
  }, 240_000);

  it("workspaces limits --retention-days says how many finished runs the next maintenance round expires, and to archive them first", async () => {
    const retain = await createWorkspace(db.pool, "retain");
    const { rows } = await db.pool.query<{ id: string }>("insert into everruns.agents (workspace_id, name, config) values ($1, 'keeper', $2) returning id", [
      retain.id,
      JSON.stringify({ provider: "scripted", script: [{ text: "hi" }] }),
    ]);
    const agent = rows[0]!.id;
    const now = new Date((await db.pool.query<{ now: Date }>("select now()")).rows[0]!.now);
    const daysAgo = (n: number) => new Date(now.getTime() - n * 86_400_000).toISOString();
    await makeRun({ agentId: agent, status: "succeeded", finishedAt: daysAgo(40) });
    await makeRun({ agentId: agent, status: "failed", finishedAt: daysAgo(35) });
    await makeRun({ agentId: agent, status: "succeeded", finishedAt: daysAgo(10) });
    const result = await cli(["workspaces", "limits", "retain", "--retention-days", "30"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /\n2 finished run\(s\) \(the oldest finished .*\) are past a retention of 30 days: the next maintenance round .* removes their events and steps\. To keep them, archive them now: everruns archive --before \S+ --out <DIR> --workspace retain, or set the retention back\.\n$/,
    );
    const json = await cli(["workspaces", "limits", "retain", "--retention-days", "20", "--json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ retentionDays: 20, runsDueToExpire: 2 });
    const more = await cli(["workspaces", "limits", "retain", "--retention-days", "5", "--json"]);
    expect(JSON.parse(more.stdout)).toMatchObject({ retentionDays: 5, runsDueToExpire: 3 });
    // showing the limits counts nothing
    expect(JSON.parse((await cli(["workspaces", "limits", "retain", "--json"])).stdout)).not.toHaveProperty("runsDueToExpire");
  });
});
