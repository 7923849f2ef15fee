// The everruns command as a user runs it: `everruns start` on a database (and the admin key it
// keeps), `everruns run --follow` streaming a run through the API with an API key, and clear
// errors for bad input, settings and keys.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, getEvents, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { loadEnv } from "../../db/env.ts";
import { ConfigError } from "../../db/errors.ts";
import { authenticateApiKey, createApiKey, revokeApiKey } from "../../db/sql/apiKeys.ts";
import { API_KEY_PATTERN, type ApiKeyRole } from "../../lib/api-key.ts";
import { FollowError, followRunEvents } from "../../client/index.ts";
import { PROJECT_ROOT } from "../database.ts";
import { sleep } from "../../lib/sleep.ts";

const CLI = path.join(PROJECT_ROOT, "scripts", "everruns.ts");
const DEFAULT_WORKSPACE_ID = "00000000-0000-0000-0000-000000000001";
let db: TestDatabase;
let start: ChildProcess;
let port: number;
let startOutput = "";
/** where this test's `everruns start` keeps its admin key (never the project's .everruns/admin-key) */
let dir: string;
let keyFile: string;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, DATABASE_URL: db.url, PORT: String(port), EVERRUNS_API_KEY: "", EVERRUNS_API_KEY_FILE: keyFile, ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

async function makeKey(role: ApiKeyRole): Promise<{ key: string; id: string }> {
  const { key, info } = await createApiKey(db.pool, { name: `cli test ${role}`, role, workspaceId: DEFAULT_WORKSPACE_ID });
  return { key, id: info.id };
}

beforeAll(async () => {
  db = await createTestDatabase();
  dir = mkdtempSync(path.join(tmpdir(), "everruns-cli-"));
  keyFile = path.join(dir, "instance", "admin-key"); // its directory does not exist yet
  port = await freePort();
  const webPort = await freePort();
  start = spawn(process.execPath, [CLI, "start"], {
    env: {
      ...process.env,
      DATABASE_URL: db.url,
      PORT: String(port),
      EVERRUNS_WEB_PORT: String(webPort),
      LOG_LEVEL: "warn",
      EVERRUNS_API_KEY: "",
      EVERRUNS_API_KEY_FILE: keyFile,
    },
  });
  start.stdout!.on("data", (d: Buffer) => (startOutput += d.toString()));
  start.stderr!.on("data", (d: Buffer) => (startOutput += d.toString()));
  const deadline = Date.now() + 300_000; // the first start on a fresh clone builds the console
  while (!startOutput.includes("Everruns is running")) {
    if (Date.now() > deadline || start.exitCode !== null) throw new Error(`everruns start did not come up:\n${startOutput}`);
    await sleep(50);
  }
}, 330_000);

afterAll(async () => {
  if (start && start.exitCode === null) {
    const exited = new Promise((r) => start.on("exit", r));
    start.kill("SIGTERM");
    await exited;
  }
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("everruns start + everruns run", () => {
  it("prints where everything is", () => {
    expect(startOutput).toContain(`API          http://127.0.0.1:${port}`);
    expect(startOutput).toMatch(/demo agent {3}demo \([0-9a-f-]{36}\)/);
    expect(startOutput).toMatch(/console {6}http:\/\/127\.0\.0\.1:\d+/);
  });

  it("makes an admin key of the default workspace, keeps it in a 0600 file, and prints it once in the console's sign-in link", async () => {
    const key = readFileSync(keyFile, "utf8").trim();
    expect(key).toMatch(API_KEY_PATTERN);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(startOutput).toMatch(new RegExp(`console {6}http://127\\.0\\.0\\.1:\\d+/login#key=${key}\n`));
    expect(startOutput.split(key)).toHaveLength(2); // printed once, in the link, nowhere else
    expect(startOutput).toContain(`API key      stored in ${keyFile} (mode 0600)`);
    expect(startOutput).toContain('npx everruns run demo "hello" --follow');
    expect(startOutput).toContain(`psql ${db.url}`);
    expect(await authenticateApiKey(db.pool, key)).toMatchObject({ ok: true, workspaceId: DEFAULT_WORKSPACE_ID, role: "admin" });
  });

  it("streams the demo agent's run and exits 0", async () => {
    // the demo's slow step takes 8 s; a quicker agent keeps the test short
    await db.pool.query(
      `insert into everruns.agents (name, config) values ('quick', '{"provider": "scripted", "tools": ["echo"],
        "script": [{"text": "Echoing.", "tool_calls": [{"name": "echo", "arguments": {"x": 1}}]}, {"text": "Finished."}]}')`,
    );
    const { code, stdout, stderr } = await cli(["run", "quick", "hello", "--follow"]);
    expect(stderr).toContain("run succeeded");
    expect(code).toBe(0);
    expect(stdout).toContain("Echoing.");
    expect(stdout).toContain('→ echo({"x":1})');
    expect(stdout).toContain('← {"x":1}');
    expect(stdout).toContain("Finished.");
  });

  it("exits non-zero on a failed run", async () => {
    await db.pool.query(`insert into everruns.agents (name, config) values ('broken', '{"provider": "scripted", "script": [{"error": "bad_request"}]}')`);
    const { code, stderr } = await cli(["run", "broken", "hello", "--follow"]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/run ended: the LLM call failed and is not retryable/);
  });

  it("says clearly when the agent does not exist", async () => {
    const { code, stderr } = await cli(["run", "no-such-agent", "hello"]);
    expect(code).toBe(1);
    expect(stderr).toBe('everruns: the API refused the run: no agent with id or name "no-such-agent"\n'); // one line, no stack trace
  });

  it("lists runs, prints a run's event log, and cancels a running run once", async () => {
    await db.pool.query(
      `insert into everruns.agents (name, config) values ('busy', '{"provider": "scripted", "tools": ["simulate_work"],
        "script": [{"tool_calls": [{"name": "simulate_work", "arguments": {"ms": 30000}}]}, {"text": "never"}]}')`,
    );
    const { code, stdout } = await cli(["run", "busy", "again"]);
    expect(code).toBe(0);
    const runId = stdout.trim();
    expect(runId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    await waitForStatus(db.pool, runId, ["running"]);

    const runs = await cli(["runs", "--limit", "5"]);
    expect(runs.code).toBe(0);
    const line = runs.stdout.split("\n").find((l) => l.includes(runId));
    expect(line).toMatch(/busy.*running/);

    const cancel = await cli(["cancel", runId]);
    expect(cancel).toMatchObject({ code: 0, stdout: `cancelled run ${runId}\n` });
    expect((await waitForStatus(db.pool, runId, ["cancelled"])).status).toBe("cancelled");
    const again = await cli(["cancel", runId]);
    expect(again).toMatchObject({ code: 0, stdout: `run ${runId} had already finished\n` });

    // the whole stored log, one "seq<TAB>event" line per event, in order
    const events = await cli(["events", runId]);
    expect(events.code).toBe(0);
    const stored = await getEvents(db.pool, runId);
    expect(events.stdout.trimEnd().split("\n")).toEqual(stored.map((e) => `${e.seq}\t${JSON.stringify(e.event)}`));
    expect(stored.at(-1)).toMatchObject({ type: "RUN_FINISHED", event: { outcome: { type: "cancelled" } } });
  });

  it("sends EVERRUNS_API_KEY before the key file, and reports a key the API refuses with the API's message", async () => {
    const operator = await makeKey("operator");
    const { code, stdout, stderr } = await cli(["run", "quick", "hello", "--follow"], {
      EVERRUNS_API_KEY: operator.key,
      EVERRUNS_API_KEY_FILE: path.join(dir, "none"),
    });
    expect(stderr).toContain("run succeeded");
    expect(code).toBe(0);
    expect(stdout).toContain("Finished.");

    const viewer = await makeKey("viewer");
    const refused = await cli(["run", "quick", "hello"], { EVERRUNS_API_KEY: viewer.key });
    expect(refused).toMatchObject({
      code: 1,
      stderr:
        "everruns: the API refused the key from EVERRUNS_API_KEY (HTTP 403): starting a run needs an API key with role operator or admin; this key's role is viewer\n",
    });

    const revoked = await makeKey("admin");
    await revokeApiKey(db.pool, revoked.id);
    const gone = await cli(["run", "quick", "hello"], { EVERRUNS_API_KEY: revoked.key });
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^everruns: the API refused the key from EVERRUNS_API_KEY \(HTTP 401\): this API key has been revoked/);
    expect(gone.stderr).not.toContain(revoked.key);

    const badFile = await cli(["run", "quick", "hello"], { EVERRUNS_API_KEY_FILE: path.join(PROJECT_ROOT, "package.json") });
    expect(badFile.code).toBe(1);
    expect(badFile.stderr).toMatch(/^everruns: .*package\.json does not hold an Everruns API key/);
  });

  it("says how to get a key when there is none, and when EVERRUNS_API_KEY is not one", async () => {
    const none = await cli(["run", "quick", "hello"], { EVERRUNS_API_KEY_FILE: path.join(dir, "none") });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^everruns: no API key: EVERRUNS_API_KEY is not set and there is no .*none; set EVERRUNS_API_KEY to an API key/);
    expect(none.stderr).toContain("everruns keys create --role operator");
    const malformed = await cli(["run", "quick", "hello"], { EVERRUNS_API_KEY: "evr_short" });
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toMatch(/^everruns: EVERRUNS_API_KEY is not an Everruns API key/);
    expect(malformed.stderr.split("\n")).toHaveLength(2); // one line, no stack trace
  });

  it("followRunEvents sends its apiKey on every connection; without one the API's 401 is a FollowError", async () => {
    const { stdout } = await cli(["run", "quick", "hello"]);
    const runId = stdout.trim();
    const apiUrl = `http://127.0.0.1:${port}`;
    const key = readFileSync(keyFile, "utf8").trim();
    // the first connection is cut after its first event: the client reconnects, with the key again
    const sent: Headers[] = [];
    const cutAfterFirstEvent: typeof fetch = async (input, init) => {
      sent.push(new Headers(init?.headers));
      const response = await fetch(input, init);
      if (sent.length > 1 || !response.ok || !response.body) return response;
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      let text = "";
      let end = -1;
      while (end < 0) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        const id = text.search(/^id:/m);
        end = id < 0 ? -1 : text.indexOf("\n\n", id);
      }
      await reader.cancel();
      return new Response(end < 0 ? text : text.slice(0, end + 2), { status: response.status, headers: response.headers });
    };
    const seqs: number[] = [];
    for await (const e of followRunEvents(apiUrl, runId, { apiKey: key, retryDelayMs: 10, fetch: cutAfterFirstEvent })) seqs.push(e.seq);
    expect(seqs).toEqual((await getEvents(db.pool, runId)).map((e) => e.seq));
    expect(sent.length).toBe(2);
    expect(sent.map((h) => h.get("authorization"))).toEqual([`Bearer ${key}`, `Bearer ${key}`]);
    expect(sent[1]!.get("last-event-id")).toBe("1");
    const refused = await (async () => {
      for await (const _ of followRunEvents(apiUrl, runId, { retryDelayMs: 10 })) return null;
      return null;
    })().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(FollowError);
    expect(refused).toMatchObject({ status: 401, code: "unauthenticated" });
  });

  it("says clearly when a run does not exist or its id is malformed", async () => {
    const unknown = await cli(["events", "00000000-0000-0000-0000-00000000abcd"]);
    expect(unknown).toMatchObject({ code: 1, stderr: "everruns: unknown run 00000000-0000-0000-0000-00000000abcd\n" });
    const malformed = await cli(["cancel", "nope"]);
    expect(malformed).toMatchObject({ code: 1, stderr: 'everruns: a run id is a UUID, got "nope"\n' });
  });
});

describe("the operator's commands", () => {
  it("runs prints an aligned table (no index column, no quotes), --json for scripts", async () => {
    const { stdout } = await cli(["run", "quick", "hello"]);
    const runId = stdout.trim();
    await waitForStatus(db.pool, runId, ["succeeded"]);
    const table = await cli(["runs", "--limit", "3"]);
    expect(table.code).toBe(0);
    const [header, ...lines] = table.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^ID {36}AGENT +STATUS +STEPS +CREATED_AT +/);
    expect(table.stdout).not.toContain("(index)");
    expect(table.stdout).not.toContain("'");
    expect(lines.find((l) => l.startsWith(runId))).toMatch(/ quick +succeeded /);
    const json = await cli(["runs", "--limit", "3", "--json"]);
    expect((JSON.parse(json.stdout) as Array<{ id: string; status: string }>).find((r) => r.id === runId)).toMatchObject({ status: "succeeded" });
    const events = await cli(["events", runId, "--json"]);
    expect(JSON.parse(events.stdout.split("\n")[0]!)).toMatchObject({ seq: 1, event: { type: "RUN_STARTED" } });
    const workspaces = await cli(["workspaces", "list"]);
    expect(workspaces.stdout).toMatch(/^NAME +ID +CREATED +RETENTION\ndefault +00000000-0000-0000-0000-000000000001 .* forever/);
  });

  it("run --follow on an approval prints the question and the commands that answer it (exit 3); approve and reject answer through the API", async () => {
    await db.pool.query(
      `insert into everruns.agents (name, config) values ('asks', '{"provider": "scripted", "tools": [{"name": "echo", "requires_approval": true}],
        "script": [{"tool_calls": [{"name": "echo", "arguments": {"x": 7}}]}, {"text": "Done after the answer."}]}')`,
    );
    const asked = await cli(["run", "asks", "hello", "--follow"]);
    expect(asked.code).toBe(3);
    const runId = /^run ([0-9a-f-]{36})$/m.exec(asked.stderr)![1]!;
    expect(asked.stderr).toContain(`run ${runId} is waiting for an answer:\n  ? Approve calling echo with {"x":7}?`);
    expect(asked.stderr).toContain(`  everruns approve ${runId}\n  everruns reject ${runId} --reason "why not"`);

    const approved = await cli(["approve", runId, "--reason", "looks fine", "--follow"]);
    expect(approved.stderr).toContain("approved echo; following the continuation");
    expect(approved.stderr).toContain("run succeeded");
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain('← {"x":7}');
    const again = await cli(["approve", runId]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(new RegExp(`^everruns: the API refused it \\(HTTP 400\\): run ${runId} was already answered by run `));

    const second = (await cli(["run", "asks", "hello", "--follow"])).stderr;
    const secondId = /^run ([0-9a-f-]{36})$/m.exec(second)![1]!;
    const rejected = await cli(["reject", secondId, "--reason", "not today"]);
    expect(rejected.code).toBe(0);
    const continuation = rejected.stdout.trim();
    expect((await waitForStatus(db.pool, continuation, ["succeeded"])).status).toBe("succeeded");
    const answer = (await db.pool.query<{ input: { resume: unknown } }>(`select input from everruns.runs where id = $1`, [continuation])).rows[0]!.input.resume;
    expect(answer).toEqual([
      { interruptId: expect.stringMatching(/^approval-/) as unknown, status: "resolved", payload: { approved: false, reason: "not today" } },
    ]);

    const unknown = await cli(["approve", "00000000-0000-0000-0000-00000000abcd"]);
    expect(unknown).toMatchObject({ code: 1, stderr: "everruns: unknown run 00000000-0000-0000-0000-00000000abcd\n" });
  });

  it("run --follow says what a waiting run waits for, then 'still waiting'; signal wakes it", async () => {
    await db.pool.query(
      `insert into everruns.agents (name, config) values ('waits', '{"provider": "scripted", "tools": ["wait_for_event"],
        "script": [{"tool_calls": [{"name": "wait_for_event", "arguments": {"name": "payment", "timeout_seconds": 600}}]}, {"text": "Paid."}]}')`,
    );
    const child = spawn(process.execPath, [CLI, "run", "waits", "hello", "--follow"], {
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        PORT: String(port),
        EVERRUNS_API_KEY: "",
        EVERRUNS_API_KEY_FILE: keyFile,
        EVERRUNS_FOLLOW_PROGRESS_MS: "1000",
      },
    });
    let stderr = "";
    let stdout = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    while (!/still waiting for event "payment"/.test(stderr)) {
      if (child.exitCode !== null) throw new Error(stderr);
      await sleep(100);
    }
    expect(stderr).toMatch(/ … waiting for event "payment", at most until \d{4}-\d\d-\d\dT/);
    const runId = /^run ([0-9a-f-]{36})$/m.exec(stderr)![1]!;
    const signal = await cli(["signal", runId, "payment", "--payload", '{"amount": 42}']);
    expect(signal).toMatchObject({ code: 0, stdout: `sent "payment" to run ${runId}: it woke the run\n` });
    expect(await exited).toBe(0);
    expect(stdout).toContain("Paid.");
    const badPayload = await cli(["signal", runId, "payment", "--payload", "{oops"]);
    expect(badPayload.code).toBe(1);
    expect(badPayload.stderr).toMatch(/^everruns: --payload must be JSON: /);
  });
});

describe("configuration", () => {
  it("stops with a message that names the variable and what is wrong", async () => {
    expect(() => loadEnv({ PORT: "eighty" })).toThrow(ConfigError);
    expect(() => loadEnv({ PORT: "eighty" })).toThrow(/PORT: PORT must be a whole number/);
    expect(() => loadEnv({ DATABASE_URL: "mysql://x" })).toThrow(/DATABASE_URL: DATABASE_URL must be a postgres:\/\//);
    expect(() => loadEnv({ WORKER_CONCURRENCY: "0" })).toThrow(/WORKER_CONCURRENCY must be at least 1/);
    expect(loadEnv({ PORT: "" }).PORT).toBe(4000);
    const { code, stderr } = await cli(["worker"], { WORKER_CONCURRENCY: "lots" });
    expect(code).toBe(1);
    expect(stderr).toContain("WORKER_CONCURRENCY: WORKER_CONCURRENCY must be a whole number");
  });

  it("rejects a bad --max-in-flight, --concurrency or --db-connections with a message, not a stack trace", async () => {
    const zero = await cli(["worker", "--max-in-flight", "0"]);
    expect(zero).toMatchObject({ code: 1, stderr: "everruns: --max-in-flight must be a whole number from 1 to 20000, got 0\n" });
    const dashed = await cli(["worker", "--concurrency", "-3"]);
    expect(dashed).toMatchObject({ code: 1, stderr: "everruns: --concurrency must be a whole number from 1 to 20000, got -3\n" });
    const both = await cli(["worker", "--concurrency", "3", "--max-in-flight", "4"]);
    expect(both).toMatchObject({ code: 1, stderr: "everruns: --concurrency is the former name of --max-in-flight: give one of them\n" });
    const connections = await cli(["worker", "--db-connections", "1.5"]);
    expect(connections).toMatchObject({ code: 1, stderr: "everruns: --db-connections must be a whole number from 3 to 1000, got 1.5\n" });
  });

  it("refuses to start a worker whose connections would not fit in the server's max_connections, naming the numbers", async () => {
    // this server allows 100 (the test machine's default); 500 + 2 cannot fit whatever else runs
    const { code, stderr } = await cli(["worker", "--max-in-flight", "2000", "--db-connections", "500"]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^everruns: the worker would hold up to 502 database connections/);
    expect(stderr).toMatch(/max_connections \d+/);
    expect(stderr).toContain("EVERRUNS_DB_RESERVED_CONNECTIONS");
    expect(stderr).toContain("--db-connections");
  });
});
