// A pool whose connections are all busy makes its callers wait: the wait is counted and, when
// slow, said once in the log, naming the setting to change.
import { afterEach, expect, it, vi } from "vitest";
import { createPool, poolWaits } from "../pool.ts";

const url = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

afterEach(() => {
  vi.restoreAllMocks();
});

it("counts a slow wait for a busy pool's connection and logs it once, naming the setting", async () => {
  const lines: string[] = [];
  vi.spyOn(console, "error").mockImplementation((line: unknown) => void lines.push(String(line)));
  const pool = createPool(url, "everruns-test-waits", 1);
  try {
    await pool.query("select 1"); // a fast connect: no slow wait
    expect(poolWaits(pool)).toMatchObject({ slow: 0 });
    const held = await pool.connect();
    const waiting = pool.query("select 1"); // waits for `held`
    const second = pool.query("select 1");
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    held.release();
    await Promise.all([waiting, second]);
    const waits = poolWaits(pool)!;
    expect(waits.slow).toBeGreaterThanOrEqual(1);
    expect(waits.maxMs).toBeGreaterThanOrEqual(1_000);
    const logged = lines.filter((line) => line.includes("wait(s) for a database connection took over"));
    expect(logged).toHaveLength(1); // the second slow wait falls in the same reporting window
    expect(logged[0]).toContain("everruns-test-waits");
    expect(logged[0]).toContain("WORKER_DB_CONNECTIONS");
  } finally {
    await pool.end();
  }
});
