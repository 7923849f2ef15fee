// The CLI without a server: every command's --help exits 0 and touches nothing (the database
// here is unreachable, and start leaves no record), usage errors exit 2, database trouble is one
// line naming the server and the fix, and --help lists every environment variable.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../database.ts";

const CLI = path.join(PROJECT_ROOT, "scripts", "everruns.ts");
const dir = mkdtempSync(path.join(tmpdir(), "everruns-cli-help-"));
const UNREACHABLE = "postgres://postgres@127.0.0.1:1/x";
const TEST_SERVER = (process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres").replace(/\/[^/]*$/, "");

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, DATABASE_URL: UNREACHABLE, EVERRUNS_RUN_DIR: dir, EVERRUNS_API_KEY_FILE: path.join(dir, "key"), PORT: "1", ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

const COMMANDS = [
  "start",
  "status",
  "stop",
  "migrate",
  "worker",
  "api",
  "web",
  "build",
  "run",
  "runs",
  "cancel",
  "events",
  "approve",
  "reject",
  "outcome",
  "signal",
  "resume",
];

describe("everruns <command> --help", () => {
  it.each(COMMANDS)("%s --help prints its usage, exits 0 and does nothing", async (command) => {
    const { code, stdout, stderr } = await cli([command, "--help"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^Usage: everruns ${command}`));
    expect(readdirSync(dir)).toEqual([]); // no record of a start, no key file
  });

  it("keys, secrets, workspaces, scheduler, bench take --help too", async () => {
    for (const command of ["keys", "secrets", "workspaces", "scheduler", "bench"]) {
      const { code, stdout } = await cli([command, "--help"]);
      expect(code).toBe(0);
      expect(stdout).toContain(`everruns ${command}`);
    }
  });

  it("everruns --help lists every environment variable the processes read, and the exit codes", async () => {
    const { code, stdout } = await cli(["--help"]);
    expect(code).toBe(0);
    const envSource = readFileSync(path.join(PROJECT_ROOT, "db", "env.ts"), "utf8");
    const declared = [...envSource.matchAll(/^ {2}([A-Z][A-Z0-9_]+): /gm)].map((m) => m[1]!);
    expect(declared.length).toBeGreaterThan(20);
    for (const name of [
      ...declared,
      "WORKER_INLINE_CHAIN_MS",
      "EVERRUNS_WEB_PORT",
      "OPENAI_API_KEY",
      "OPENAI_BASE_URL",
      "ANTHROPIC_API_KEY",
      "ANTHROPIC_BASE_URL",
      "EVERRUNS_SECRET_KEY",
      "EVERRUNS_EGRESS_ALLOW",
    ]) {
      expect(stdout, name).toContain(name);
    }
    expect(stdout).toMatch(/Exit codes:\n {2}0 .*\n {2}1 .*\n {2}2 +usage.*\n {2}3 .*\n {2}4 /);
  });

  it("usage errors exit 2 with one line and a pointer to --help", async () => {
    for (const args of [["bogus"], ["runs", "--bogus"], ["cancel"], ["run", "demo"]]) {
      const { code, stderr } = await cli(args);
      expect(code, args.join(" ")).toBe(2);
      expect(stderr).toMatch(/^everruns: .*\n\(everruns <command> --help shows a command's usage\)\n$/);
    }
    expect((await cli([])).code).toBe(2);
  });
});

describe("database trouble", () => {
  it("says on one line where the database is and what to do, with no stack trace", async () => {
    const refused = await cli(["runs"]);
    expect(refused).toMatchObject({
      code: 1,
      stderr: "everruns: cannot reach Postgres at 127.0.0.1:1 (database x): is it running? set DATABASE_URL to the server to use\n",
    });
    const role = await cli(["events", "00000000-0000-0000-0000-00000000abcd"], { DATABASE_URL: TEST_SERVER.replace("postgres@", "nobody@") + "/postgres" });
    expect(role.code).toBe(1);
    expect(role.stderr).toMatch(
      /^everruns: Postgres at [\d.]+:\d+ refused the connection \(database postgres\): role "nobody" does not exist; set DATABASE_URL to a role that may log in\n$/,
    );
    const noDb = await cli(["runs"], { DATABASE_URL: `${TEST_SERVER}/everruns_no_such_db` });
    expect(noDb.code).toBe(1);
    expect(noDb.stderr).toMatch(
      /^everruns: database "everruns_no_such_db" does not exist on Postgres at [\d.]+:\d+: create it \(createdb .*\) then run `everruns migrate`, or set DATABASE_URL\n$/,
    );
    // the server's maintenance database has no Everruns schema
    const unmigrated = await cli(["runs"], { DATABASE_URL: `${TEST_SERVER}/postgres` });
    expect(unmigrated.code).toBe(1);
    expect(unmigrated.stderr).toMatch(
      /^everruns: the database postgres at .* has no Everruns schema yet \(relation "everruns\.runs" does not exist\): run `everruns migrate`\n$/,
    );
    const keys = await cli(["keys", "list"]);
    expect(keys.stderr).toMatch(/^everruns: cannot reach Postgres at 127\.0\.0\.1:1/);
    // LOG_LEVEL=debug adds the stack
    const debug = await cli(["runs"], { LOG_LEVEL: "debug" });
    expect(debug.stderr).toMatch(/\n\s+at /);
  });

  it("status and stop with nothing running say so", async () => {
    const status = await cli(["status"], { EVERRUNS_DATA_DIR: path.join(dir, "pg") });
    expect(status).toMatchObject({ code: 0, stdout: "everruns is not running here (no everruns start in this checkout)\n" });
    const stop = await cli(["stop"], { EVERRUNS_DATA_DIR: path.join(dir, "pg") });
    expect(stop).toMatchObject({ code: 0, stdout: "nothing to stop: no everruns start and no embedded Postgres runs here\n" });
    expect(existsSync(path.join(dir, "pg"))).toBe(false);
  });
});
