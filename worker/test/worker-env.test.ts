// The worker checks its environment when it starts: an invalid EVERRUNS_HTTP_MAX_RESPONSE_BYTES
// stops it at once, naming the variable, instead of failing a run's first http tool call.
import { spawn } from "node:child_process";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../db/errors.ts";
import { createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { PROJECT_ROOT } from "../../scripts/database.ts";
import { startWorker } from "../main.ts";
import { HTTP_MAX_RESPONSE_BYTES_ENV } from "../tools/http.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

const saved = process.env[HTTP_MAX_RESPONSE_BYTES_ENV];
afterEach(() => {
  if (saved === undefined) delete process.env[HTTP_MAX_RESPONSE_BYTES_ENV];
  else process.env[HTTP_MAX_RESPONSE_BYTES_ENV] = saved;
});

/** `everruns worker` with `env` on top; resolves when it exits. */
function runWorkerCommand(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [path.join(PROJECT_ROOT, "scripts", "everruns.ts"), "worker", "--concurrency", "2"], {
    env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the worker did not exit within 20 s:\n${stdout}\n${stderr}`));
    }, 20_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("worker environment", () => {
  it(`refuses to start with ${HTTP_MAX_RESPONSE_BYTES_ENV}=abc: the variable named on stderr, a non-zero exit`, async () => {
    const { code, stdout, stderr } = await runWorkerCommand({ [HTTP_MAX_RESPONSE_BYTES_ENV]: "abc" });
    expect(code, stdout + stderr).not.toBe(0);
    expect(stderr).toContain(HTTP_MAX_RESPONSE_BYTES_ENV);
    expect(stderr).toContain("abc");
    expect(stdout + stderr).not.toMatch(/worker pool \S+ started/);
  });

  for (const bad of ["0", "-5", "1.5", "100000001"]) {
    it(`startWorker throws a ConfigError for ${HTTP_MAX_RESPONSE_BYTES_ENV}=${bad} before it connects`, async () => {
      process.env[HTTP_MAX_RESPONSE_BYTES_ENV] = bad;
      const started = startWorker({
        // nothing listens here: the check comes before any connection
        databaseUrl: "postgres://nobody@127.0.0.1:9/none",
        concurrency: 1,
        shutdownTimeoutMs: 1000,
        log: consoleLogger("[test-worker]", "error"),
      });
      await expect(started).rejects.toBeInstanceOf(ConfigError);
      await expect(started).rejects.toThrow(HTTP_MAX_RESPONSE_BYTES_ENV);
    });
  }

  it(`starts with a valid ${HTTP_MAX_RESPONSE_BYTES_ENV}`, async () => {
    process.env[HTTP_MAX_RESPONSE_BYTES_ENV] = "2048";
    const worker = await startWorker({ databaseUrl: db.url, concurrency: 1, shutdownTimeoutMs: 1000, log: consoleLogger("[test-worker]", "error") });
    await worker.stop();
  });
});
