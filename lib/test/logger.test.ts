// Structured logs (lib/logger.ts, docs/observability.md "Logs"): each case runs a small script in
// a process of its own, as a worker or the API writes its lines (to its stdout and stderr), and
// reads back what the process wrote.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { childLogger, logFormat, redactText, type LogFields, type Logger } from "../logger.ts";
import { runTraceId, traceIdOf } from "../trace-id.ts";

const LOGGER = new URL("../logger.ts", import.meta.url).href;
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const KEY = `evr_${"k".repeat(20)}Q${"z".repeat(22)}`; // the shape of an API key (lib/api-key.ts)

interface Written {
  stdout: string;
  stderr: string;
  status: number | null;
  signal: NodeJS.Signals | null;
}

/** Runs `body` (ES module code with `consoleLogger`, `childLogger`, `runInLogScope`, `LogScope` in scope) in a new Node process. */
function run(body: string, env: Record<string, string> = {}): Written {
  const script = `import { consoleLogger, childLogger, runInLogScope, LogScope } from ${JSON.stringify(LOGGER)};\n${body}`;
  const out = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, LOG_FORMAT: "", ...env },
  });
  if (out.error) throw out.error;
  return { stdout: out.stdout, stderr: out.stderr, status: out.status, signal: out.signal };
}

const lines = (text: string) => text.split("\n").filter((l) => l !== "");
const json = (text: string) => lines(text).map((l) => JSON.parse(l) as Record<string, unknown>);

describe("JSON lines", () => {
  it("are one JSON object per line with level, ISO time, component, pid and msg; debug and info on stdout, warn and error on stderr", () => {
    const w = run(`
      const log = consoleLogger("[worker " + process.pid + "]", "debug");
      log.debug("a debug line");
      log.info('worker pool abc started ("quoted")');
      log.warn("a warning", { n: 1 });
      log.error("an error", { err: new Error("it broke") });
      console.log("pid " + process.pid);
    `);
    expect(w.status, w.stderr).toBe(0);
    const out = json(w.stdout.replace(/^pid \d+\n/m, ""));
    const pid = Number(/^pid (\d+)$/m.exec(w.stdout)![1]);
    expect(out.map((l) => [l.level, l.msg])).toEqual([
      ["debug", "a debug line"],
      ["info", 'worker pool abc started ("quoted")'],
    ]);
    for (const line of out) {
      expect(line).toMatchObject({ component: "worker", pid });
      expect(typeof line.hostname).toBe("string");
      expect(new Date(line.time as string).toISOString()).toBe(line.time); // ISO 8601, UTC
    }
    // the message stays matchable as text (process tests wait for "worker pool (\S+) started")
    expect(/worker pool (\S+) started/.exec(w.stdout)![1]).toBe("abc");
    const err = json(w.stderr);
    expect(err.map((l) => [l.level, l.msg])).toEqual([
      ["warn", "a warning"],
      ["error", "an error"],
    ]);
    expect(err[0]).toMatchObject({ n: 1, component: "worker" });
    expect(err[1]!.err).toMatchObject({ type: "Error", message: "it broke" });
    expect(String((err[1]!.err as { stack: string }).stack)).toContain("it broke");
  });

  it("a child's bindings are on each of its lines, merged over its parent's, and fields over both", () => {
    const w = run(`
      const log = consoleLogger("[api]", "info");
      const step = log.child({ run_id: "r-1", seq: 2, attempt: 1, workspace_id: "w-1" });
      const deeper = step.child({ attempt: 3, trace_id: "t".repeat(32) });
      step.info("from the step");
      deeper.info("from the deeper one", { tool: "echo" });
      childLogger(log, { job_id: "7" }).info("through childLogger");
      log.info("the parent has none");
    `);
    expect(w.status, w.stderr).toBe(0);
    const [a, b, c, d] = json(w.stdout);
    expect(a).toMatchObject({ component: "api", run_id: "r-1", seq: 2, attempt: 1, workspace_id: "w-1", msg: "from the step" });
    expect(b).toMatchObject({ run_id: "r-1", seq: 2, attempt: 3, workspace_id: "w-1", trace_id: "t".repeat(32), tool: "echo" });
    expect(c).toMatchObject({ job_id: "7", msg: "through childLogger" });
    expect(d).not.toHaveProperty("run_id");
    // one key once per line (a child's binding replaces its parent's in the JSON)
    expect(lines(w.stdout)[1]!.match(/"attempt":/g)).toHaveLength(1);
  });

  it("a log scope's bindings are on every line logged within it, across awaits and timers, and on none once it ended", () => {
    const w = run(`
      const log = consoleLogger("[api]", "info");
      const scope = new LogScope({ request_id: "req-1" });
      await runInLogScope(scope, async () => {
        log.info("at once");
        await new Promise((r) => setTimeout(r, 5));
        log.child({ run_id: "r-9" }).info("after an await");
        setTimeout(() => log.info("a timer after the end"), 20);
      });
      scope.end();
      log.info("outside");
      await new Promise((r) => setTimeout(r, 50));
    `);
    expect(w.status, w.stderr).toBe(0);
    const byMsg = new Map(json(w.stdout).map((l) => [String(l.msg), l]));
    expect(byMsg.get("at once")).toMatchObject({ request_id: "req-1" });
    expect(byMsg.get("after an await")).toMatchObject({ request_id: "req-1", run_id: "r-9" });
    expect(byMsg.get("outside")).not.toHaveProperty("request_id");
    expect(byMsg.get("a timer after the end")).not.toHaveProperty("request_id");
  });

  it("LOG_LEVEL's level and above only", () => {
    const w = run(`
      for (const level of ["debug", "info", "warn", "error"]) {
        const log = consoleLogger("[c-" + level + "]", level);
        log.debug("d"); log.info("i"); log.warn("w"); log.error("e");
      }
    `);
    expect(w.status, w.stderr).toBe(0);
    const all = [...json(w.stdout), ...json(w.stderr)];
    const seen = (component: string) =>
      all
        .filter((l) => l.component === component)
        .map((l) => l.msg as string)
        .sort();
    expect(seen("c-debug")).toEqual(["d", "e", "i", "w"]);
    expect(seen("c-info")).toEqual(["e", "i", "w"]);
    expect(seen("c-warn")).toEqual(["e", "w"]);
    expect(seen("c-error")).toEqual(["e"]);
  });

  it("lines already logged survive a kill -9 of the process right after", () => {
    for (const format of ["json", "pretty"]) {
      const w = run(
        `
        const log = consoleLogger("[worker]", "info");
        for (let i = 1; i <= 500; i++) log.info("line " + i, { i });
        log.warn("the last one");
        process.kill(process.pid, "SIGKILL");
      `,
        { LOG_FORMAT: format },
      );
      expect(w.signal, format).toBe("SIGKILL");
      expect(lines(w.stdout), format).toHaveLength(500);
      expect(w.stdout, format).toContain("line 500");
      expect(w.stderr, format).toContain("the last one");
    }
  });
});

describe("secrets", () => {
  it("authorization headers, API keys, passwords and connection strings' passwords are written as [Redacted]", () => {
    const w = run(
      `
      const log = consoleLogger("[api]", "info");
      const key = process.env.THE_KEY;
      log.info("request", { req: { method: "GET", headers: { authorization: "Bearer " + key, "x-api-key": key, accept: "*/*" } } });
      log.info("headers", { headers: { authorization: "Basic dXNlcjpwYXNzd29yZA==", cookie: "session=abc" } });
      log.info("created key " + key + " for alice");
      log.info("sent Authorization: Bearer " + key);
      log.info("connecting", { url: "postgres://everruns:hunter2pass@db.internal:5432/everruns", provider: { api_key: "sk-" + "p".repeat(30) } });
      log.warn("cannot reach postgresql://u:hunter2pass@10.0.0.5/db?sslmode=require");
      log.info("config", { password: "hunter2pass", nested: { password: "hunter2pass", token: "t0ps3cret" } });
      log.child({ run_id: "r" }).error("failed", { err: new Error("bad key " + key) });
    `,
      { THE_KEY: KEY },
    );
    expect(w.status, w.stderr).toBe(0);
    const written = w.stdout + w.stderr;
    for (const secret of [KEY, "hunter2pass", "dXNlcjpwYXNzd29yZA==", "session=abc", "p".repeat(30), "t0ps3cret"]) {
      expect(written, `${secret} was written`).not.toContain(secret);
    }
    const [request, headers, created, bearer, connecting, config] = json(w.stdout);
    expect(request!.req).toEqual({ method: "GET", headers: { authorization: "[Redacted]", "x-api-key": "[Redacted]", accept: "*/*" } });
    expect(headers!.headers).toEqual({ authorization: "[Redacted]", cookie: "[Redacted]" });
    expect(created!.msg).toBe("created key [Redacted] for alice");
    expect(bearer!.msg).toBe("sent Authorization: Bearer [Redacted]");
    expect(connecting).toMatchObject({ url: "postgres://everruns:[Redacted]@db.internal:5432/everruns", provider: { api_key: "[Redacted]" } });
    expect(config).toMatchObject({ password: "[Redacted]", nested: { password: "[Redacted]", token: "[Redacted]" } });
    const [warn, failed] = json(w.stderr);
    expect(warn!.msg).toBe("cannot reach postgresql://u:[Redacted]@10.0.0.5/db?sslmode=require");
    expect((failed!.err as { message: string }).message).toBe("bad key [Redacted]");
  });

  it("redactText leaves text without secrets as it is", () => {
    for (const text of ["step 3 of run 1b2c: committed", "key prefix evr_abcdefgh", "http://127.0.0.1:4000/api/runs", "Bearer", "evr_"]) {
      expect(redactText(text)).toBe(text);
    }
    expect(redactText(`a ${KEY} b`)).toBe("a [Redacted] b");
  });
});

describe("pretty lines", () => {
  it("LOG_FORMAT=pretty writes one readable line per call: time, level, [component], message, then the bindings", () => {
    const w = run(
      `
      const log = consoleLogger("[worker]", "info");
      log.child({ run_id: "r-1", seq: 4 }).info("step 4 committed");
      log.error("it failed");
    `,
      { LOG_FORMAT: "pretty" },
    );
    expect(w.status, w.stderr).toBe(0);
    const [line] = lines(w.stdout);
    expect(() => void JSON.parse(line!)).toThrow();
    expect(line).toMatch(/^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] INFO: \[worker\] step 4 committed \{"run_id":"r-1","seq":4\}$/);
    expect(line).not.toContain("\u001b["); // no colours when not writing to a terminal
    const errors = lines(w.stderr);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^\[.+\] ERROR: \[worker\] it failed$/);
  });

  it("the format: LOG_FORMAT when json or pretty, else pretty in a terminal and JSON otherwise", () => {
    expect(logFormat({}, { isTTY: true })).toBe("pretty");
    expect(logFormat({}, { isTTY: false })).toBe("json");
    expect(logFormat({}, {})).toBe("json");
    expect(logFormat({ LOG_FORMAT: "json" }, { isTTY: true })).toBe("json");
    expect(logFormat({ LOG_FORMAT: "pretty" }, { isTTY: false })).toBe("pretty");
    expect(logFormat({ LOG_FORMAT: "" }, { isTTY: true })).toBe("pretty");
  });
});

describe("childLogger over a logger of four functions", () => {
  it("passes the bindings along with each line's fields", () => {
    const seen: Array<[string, string, LogFields | undefined]> = [];
    const record = (level: string) => (message: string, fields?: LogFields) => void seen.push([level, message, fields]);
    const plain: Logger = { debug: record("debug"), info: record("info"), warn: record("warn"), error: record("error") };
    const step = childLogger(plain, { run_id: "r", seq: 1 });
    step.info("one");
    step.child!({ attempt: 2 }).warn("two", { tool: "echo" });
    expect(seen).toEqual([
      ["info", "one", { run_id: "r", seq: 1 }],
      ["warn", "two", { run_id: "r", seq: 1, attempt: 2, tool: "echo" }],
    ]);
  });
});

describe("trace ids", () => {
  const runId = "0f8e7d6c-5b4a-4321-8fed-cba987654321";

  it("a run's trace id is its traceparent's trace id, else the run id's 32 hex digits", () => {
    expect(runTraceId(runId)).toBe("0f8e7d6c5b4a43218fedcba987654321");
    expect(runTraceId(runId, null)).toBe("0f8e7d6c5b4a43218fedcba987654321");
    expect(runTraceId(runId, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(runTraceId(runId, "garbage")).toBe("0f8e7d6c5b4a43218fedcba987654321");
  });

  it("a traceparent names a trace only in the W3C form of version 00, lowercase, with no all-zero ids", () => {
    expect(traceIdOf("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(traceIdOf(" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00 ")).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    for (const bad of [
      undefined,
      null,
      "",
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
    ]) {
      expect(traceIdOf(bad), String(bad)).toBeUndefined();
    }
  });
});
