// A pool whose connections are all busy makes its callers wait: the wait is counted and, when
// slow, said once in the log (a structured warn line, naming the setting to change). The case
// runs in a process of its own, as a worker or the API writes its lines (lib/test/logger.test.ts),
// and reads back what the process wrote.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const url = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const POOL = new URL("../pool.ts", import.meta.url).href;
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

it("counts a slow wait for a busy pool's connection and logs it once, as a JSON warn line naming the pool and the setting", () => {
  const script = `
    import { createPool, poolWaits } from ${JSON.stringify(POOL)};
    const pool = createPool(${JSON.stringify(url)}, "everruns-test-waits", 1);
    await pool.query("select 1"); // a fast connect: no slow wait
    const before = poolWaits(pool);
    const held = await pool.connect();
    const waiting = pool.query("select 1"); // waits for held
    const second = pool.query("select 1");
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    held.release();
    await Promise.all([waiting, second]);
    process.stdout.write(JSON.stringify({ before, after: poolWaits(pool) }) + "\\n");
    await pool.end();
  `;
  const out = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, LOG_FORMAT: "json", LOG_LEVEL: "info" },
  });
  if (out.error) throw out.error;
  expect(out.status, out.stderr).toBe(0);

  const counted = JSON.parse(out.stdout.trim()) as { before: { slow: number }; after: { slow: number; maxMs: number } };
  expect(counted.before.slow).toBe(0);
  expect(counted.after.slow).toBeGreaterThanOrEqual(1);
  expect(counted.after.maxMs).toBeGreaterThanOrEqual(1_000);

  // every line on stderr is JSON; the slow waits are said once (the second falls in the same reporting window)
  const lines = out.stderr
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const logged = lines.filter((l) => String(l.msg).includes("wait(s) for a database connection took over"));
  expect(logged, out.stderr).toHaveLength(1);
  expect(logged[0]).toMatchObject({ level: "warn", component: "db", pool: "everruns-test-waits", threshold_ms: 1_000, max_connections: 1 });
  expect(logged[0]!.waits).toBeGreaterThanOrEqual(1);
  expect(logged[0]!.slowest_ms).toBeGreaterThanOrEqual(1_000);
  expect(logged[0]!.msg).toContain("everruns-test-waits");
  expect(logged[0]!.msg).toContain("WORKER_DB_CONNECTIONS");
});
