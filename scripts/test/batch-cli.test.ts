// `everruns batch` as a user runs it: real CLI processes against a real API, a real worker and a
// real Postgres. An items file of prompt lines streamed to the API and followed to its end, the
// results as NDJSON (all of them, and after a cursor), a bad line refused by its number with
// nothing created, stdin and --no-start with the controls, and the exit code of a batch whose
// items failed. Also the line transform on its own (chunk boundaries, CRLF).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { startTestApi, type TestApiHandle } from "../../api/test/helpers.ts";
import { barLine, BATCH_EXIT, duration, itemLines, plainLine, toItemLine } from "../batch-command.ts";
import { PROJECT_ROOT } from "../database.ts";

const CLI = path.join(PROJECT_ROOT, "scripts", "everruns.ts");
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let db: TestDatabase;
let worker: WorkerHandle;
let api: TestApiHandle;
let dir: string;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], stdin?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        EVERRUNS_API_URL: api.url,
        EVERRUNS_API_KEY: api.key,
        EVERRUNS_BATCH_PROGRESS_MS: "200",
        LOG_LEVEL: "warn",
      },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? "");
  });
}

function lastLine(text: string): string {
  return text.trimEnd().split("\n").at(-1) ?? "";
}

function promptLines(n: number, prefix: string): string {
  return Array.from({ length: n }, (_, i) => JSON.stringify({ custom_id: `${prefix}-${i + 1}`, prompt: `classify document ${i + 1}` })).join("\n") + "\n";
}

async function batchCount(): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>("select count(*) as n from everruns.batches");
  return Number(rows[0]!.n);
}

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startWorker({ databaseUrl: db.url, concurrency: 8, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "error") });
  api = await startTestApi(db.url);
  await createAgent(db.pool, { provider: "scripted", script: [{ text: "invoice" }] }, "classifier");
  await createAgent(db.pool, { provider: "scripted", script: [{ error: "bad_request" }] }, "refuser");
  await createAgent(db.pool, { provider: "scripted", script: [{ text: "receipt", delay_ms: 150 }] }, "slow-classifier");
  dir = mkdtempSync(path.join(tmpdir(), "everruns-batch-cli-"));
}, 60_000);

afterAll(async () => {
  await api?.close();
  await worker?.stop();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("everruns batch run --follow, results", () => {
  let batchId: string;

  it("streams 20 prompt lines, follows the batch to its end and exits 0", async () => {
    const file = path.join(dir, "items.jsonl");
    writeFileSync(file, promptLines(20, "doc"));
    const run = await cli(["batch", "run", "classifier", file, "--parallel", "3", "--follow"]);
    expect(run.stderr).toMatch(/batch [0-9a-f-]{36}: 20 item\(s\)/);
    expect(run.code).toBe(BATCH_EXIT.succeeded);
    batchId = run.stdout.trim();
    expect(batchId).toMatch(UUID);
    // not a terminal: plain lines, then the final one
    expect(run.stderr).toMatch(new RegExp(`batch ${batchId} (queued|running): \\d+/20 done`));
    expect(lastLine(run.stderr)).toMatch(new RegExp(`^batch ${batchId} succeeded: 20 succeeded, 0 failed, 0 cancelled of 20, \\$\\d+\\.\\d{4}$`));
    const { rows } = await db.pool.query<{ max_parallel: number }>("select max_parallel from everruns.batches where id = $1", [batchId]);
    expect(rows[0]!.max_parallel).toBe(3);
  }, 120_000);

  it("batch results writes one JSON line per item, distinct custom_ids, resumable after a cursor", async () => {
    const all = await cli(["batch", "results", batchId]);
    expect(all.stderr).toBe("");
    expect(all.code).toBe(0);
    const lines = all.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(20);
    const results = lines.map((l) => JSON.parse(l) as { custom_id: string; status: string; cursor: string; output: unknown });
    expect(new Set(results.map((r) => r.custom_id))).toEqual(new Set(Array.from({ length: 20 }, (_, i) => `doc-${i + 1}`)));
    expect(results.every((r) => r.status === "succeeded")).toBe(true);

    const after = await cli(["batch", "results", batchId, "--after", results[9]!.cursor]);
    expect(after.code).toBe(0);
    expect(
      after.stdout
        .trimEnd()
        .split("\n")
        .map((l) => (JSON.parse(l) as { custom_id: string }).custom_id),
    ).toEqual(results.slice(10).map((r) => r.custom_id));

    // --follow on an ended batch: everything, then it ends
    const followed = await cli(["batch", "results", batchId, "--follow"]);
    expect(followed.code).toBe(0);
    expect(followed.stdout.trimEnd().split("\n")).toHaveLength(20);
  }, 60_000);

  it("batch results --follow of a running batch writes every item as it finishes and ends with the batch", async () => {
    const file = path.join(dir, "slow.jsonl");
    writeFileSync(file, promptLines(10, "slow"));
    const run = await cli(["batch", "run", "slow-classifier", file, "--parallel", "2"]);
    expect(run.code).toBe(0);
    const id = run.stdout.trim();
    const followed = await cli(["batch", "results", id, "--follow"]);
    expect(followed.code).toBe(0);
    const ids = followed.stdout
      .trimEnd()
      .split("\n")
      .map((l) => (JSON.parse(l) as { custom_id: string }).custom_id);
    expect(new Set(ids)).toEqual(new Set(Array.from({ length: 10 }, (_, i) => `slow-${i + 1}`)));
    expect(ids).toHaveLength(10);
    const { rows } = await db.pool.query<{ status: string }>("select status from everruns.batches where id = $1", [id]);
    expect(rows[0]!.status).toBe("succeeded");
  }, 120_000);

  it("batch status and list show it", async () => {
    const status = await cli(["batch", "status", batchId]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/status\s+succeeded/);
    expect(status.stdout).toMatch(/done\s+20\/20 \(100%\)/);
    const json = JSON.parse((await cli(["batch", "status", batchId, "--json"])).stdout) as { status: string; progress: { succeeded: number } };
    expect(json).toMatchObject({ status: "succeeded", progress: { succeeded: 20 } });
    const list = await cli(["batch", "list", "--status", "succeeded"]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(batchId);
  }, 60_000);
});

describe("bad input", () => {
  it("a file with a bad line exits 1 naming the line, and creates nothing", async () => {
    const before = await batchCount();
    const file = path.join(dir, "bad.jsonl");
    writeFileSync(file, `${promptLines(2, "ok")}{"custom_id": "broken", "prompt": \n${promptLines(2, "more")}`);
    const run = await cli(["batch", "run", "classifier", file, "--follow"]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/^line 3: /m);
    expect(lastLine(run.stderr)).toContain("no batch was created");
    expect(await batchCount()).toBe(before);
  }, 60_000);

  it("a missing file, an unknown agent, bad flags: one line each, no request half made", async () => {
    const missing = await cli(["batch", "run", "classifier", path.join(dir, "nope.jsonl")]);
    expect(missing).toMatchObject({ code: 1, stdout: "" });
    expect(missing.stderr).toMatch(/^everruns: no items file .*nope\.jsonl/);
    const file = path.join(dir, "one.jsonl");
    writeFileSync(file, promptLines(1, "x"));
    const unknown = await cli(["batch", "run", "no-such-agent", file]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^everruns: .*no-such-agent/);
    const flag = await cli(["batch", "run", "classifier", file, "--parallel", "0"]);
    expect(flag).toMatchObject({ code: 1, stderr: 'everruns: --parallel takes a whole number from 1 to 10000, got "0"\n' });
    expect((await cli(["batch", "status", "nope"])).stderr).toMatch(/a batch id is a UUID/);
  }, 60_000);
});

describe("stdin, --no-start and the controls; a batch whose items fail", () => {
  it("reads the items from stdin; start, parallel and follow it", async () => {
    const created = await cli(["batch", "run", "classifier", "-", "--no-start", "--name", "from stdin"], promptLines(4, "in"));
    expect(created.code).toBe(0);
    const id = created.stdout.trim();
    expect(id).toMatch(UUID);
    expect(created.stderr).toContain(`batch ${id}: 4 item(s), queued`);
    const parallel = await cli(["batch", "parallel", id, "2"]);
    expect(parallel).toMatchObject({ code: 0, stdout: `batch ${id} now runs up to 2 item(s) at once\n` });
    const start = await cli(["batch", "start", id]);
    expect(start.code).toBe(0);
    expect(start.stdout).toMatch(new RegExp(`^started batch ${id}`));
    const follow = await cli(["batch", "follow", id]);
    expect(follow.code).toBe(BATCH_EXIT.succeeded);
    expect(lastLine(follow.stderr)).toMatch(new RegExp(`^batch ${id} succeeded: 4 succeeded`));
  }, 120_000);

  it("exits 5 when items failed; retry re-queues them", async () => {
    const file = path.join(dir, "fail.jsonl");
    writeFileSync(file, promptLines(2, "f"));
    const run = await cli(["batch", "run", "refuser", file, "--follow"]);
    const id = run.stdout.trim();
    expect(lastLine(run.stderr)).toMatch(new RegExp(`^batch ${id} completed with errors: 0 succeeded, 2 failed`));
    expect(run.code).toBe(BATCH_EXIT.completed_with_errors);
    const retry = await cli(["batch", "retry", id, "--custom-id", "f-1"]);
    expect(retry.code).toBe(0);
    expect(retry.stdout).toMatch(new RegExp(`re-queued 1 item\\(s\\) of batch ${id}`));
    const again = await cli(["batch", "follow", id]);
    expect(again.code).toBe(BATCH_EXIT.completed_with_errors);
  }, 120_000);
});

describe("the items transform", () => {
  it("turns prompt lines into run inputs and passes every other line as it is", () => {
    expect(JSON.parse(toItemLine(`{"custom_id": "a", "prompt": "hi"}\r`))).toEqual({ custom_id: "a", input: { messages: [{ role: "user", content: "hi" }] } });
    expect(toItemLine(`{"custom_id": "a", "input": {"messages": []}}`)).toBe(`{"custom_id": "a", "input": {"messages": []}}`);
    expect(toItemLine(`{"prompt": "x", "input": {}}`)).toBe(`{"prompt": "x", "input": {}}`);
    expect(toItemLine(`{"prompt": `)).toBe(`{"prompt": `);
    expect(toItemLine("")).toBe("");
  });

  it("keeps one line out per line in across chunk boundaries (the API's line numbers are the file's)", async () => {
    const text = `${promptLines(3, "c")}\n{"custom_id": "é", "prompt": "ünïcode"}`; // a blank line, no final newline
    const bytes = Buffer.from(text);
    // one byte at a time: every line and every UTF-8 character is cut somewhere
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < bytes.length; i++) yield bytes.subarray(i, i + 1);
      })(),
    );
    let out = "";
    for await (const chunk of source.pipe(itemLines())) out += (chunk as Buffer).toString();
    const lines = out.split("\n");
    expect(lines).toHaveLength(6); // 5 lines, each ended by a newline
    expect(lines[3]).toBe("");
    expect(JSON.parse(lines[4]!)).toEqual({ custom_id: "é", input: { messages: [{ role: "user", content: "ünïcode" }] } });
    expect(JSON.parse(lines[0]!)).toMatchObject({ custom_id: "c-1" });
  });

  it("draws progress for a terminal and for a log", () => {
    const progress = { total: 20, queued: 8, running: 3, succeeded: 8, failed: 1, cancelled: 0, cost_usd: 0.0123, items_per_minute: 12.34, eta_seconds: 80 };
    expect(barLine({ status: "running", progress }, 10)).toBe("[#####.....]   45%  9/20  1 failed  12.3 items/min  ETA 1m 20s  $0.0123  running");
    expect(plainLine("b1", { status: "paused", progress })).toBe(
      "batch b1 paused: 9/20 done (45%), 3 running, 1 failed, 0 cancelled, 12.3 items/min, ETA - (paused), $0.0123",
    );
    expect(plainLine("b1", { status: "succeeded", progress: { ...progress, queued: 0, running: 0, succeeded: 20, failed: 0, eta_seconds: null } })).toBe(
      "batch b1 succeeded: 20/20 done (100%), 0 running, 0 failed, 0 cancelled, 12.3 items/min, $0.0123",
    );
    expect([duration(42), duration(185), duration(3 * 3600 + 180), duration(2 * 86_400 + 4 * 3600)]).toEqual(["42s", "3m 05s", "3h 03m", "2d 04h"]);
  });

  it("everruns batch --help prints the usage with the exit codes", async () => {
    const help = await cli(["batch", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("everruns batch run <agent> <items.jsonl|->");
    expect(help.stdout).toContain("5 it completed with errors");
    expect((await cli(["batch", "frobnicate"])).stderr).toMatch(/^everruns: unknown batch command "frobnicate"/);
  });
});
