// `everruns bench --only fairness` (issue 14; 000023) at the smallest size: every part runs on its
// fresh databases and prints its figures and the summary. No time is gated (the machines are
// shared and the sizes tiny); what is checked is what holds whatever the speed: a workspace's
// active runs never over its max_running_runs, every run succeeded with each step once, and the
// priority-100 run admitted before the waiting runs of priority 0 (but those whose admission
// raced its insert).
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { benchCommand } from "../bench/index.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

it("the fairness part prints each part's figures and a summary", { timeout: 240_000 }, async () => {
  const lines: string[] = [];
  const args = [
    "--only",
    "fairness",
    "--fair-a-runs",
    "100",
    "--fair-b-seconds",
    "1",
    "--fair-weights-seconds",
    "2",
    "--fair-limit-runs",
    "40",
    "--fair-cost-backlogs",
    "100,1000",
    "--fair-cost-repeat",
    "10",
    "--fair-priority-backlog",
    "50",
    "--fair-timeout-s",
    "90",
  ];
  const code = await benchCommand(args, db.url, (line) => {
    console.log(`[bench] ${line}`);
    lines.push(line);
  });
  expect(code).toBe(0);
  const out = lines.join("\n");
  const num = "(\\d+(?:\\.\\d+)?|n/a)";

  // noisy neighbour: B's waits and A's runs/s in both modes, every B run started
  for (const mode of ["fair share on", "FIFO \\(fair share off\\)"]) {
    const m = new RegExp(
      `^  ${mode}: B's queue wait p50 ${num} ms, p99 ${num} ms, max ${num} ms \\((\\d+) of (\\d+) started\\); A (\\d+) runs finished, ${num} runs/s$`,
      "m",
    ).exec(out);
    expect(m, out).toBeTruthy();
    expect(Number(m![4])).toBe(Number(m![5]));
    expect(Number(m![6])).toBe(100);
    expect(Number.isFinite(Number(m![2]))).toBe(true);
  }
  expect(out).toMatch(/^ {2}FIFO ÷ fair: B's p99 wait [\d.]+×; A's runs\/s fair ÷ FIFO [\d.]+$/m);

  // weights: a share per workspace, the three summing to 100 %
  const shares = [1, 2, 4].map((w) => {
    const m = new RegExp(`^  weight ${w}: (\\d+) steps, share ([\\d.]+) %`, "m").exec(out);
    expect(m, out).toBeTruthy();
    return Number(m![2]);
  });
  expect(Math.abs(shares.reduce((a, b) => a + b, 0) - 100)).toBeLessThan(0.5);

  // limit: sampled, never over 5, every run succeeded once, in both modes
  const limits = [
    ...out.matchAll(
      /^ {2}(.+?): (\d+) samples, at most (\d+) active \(limit 5\), (\d+) samples over it; (\d+) of (\d+) runs succeeded.*; (\d+) steps committed twice, (\d+) runs/gm,
    ),
  ];
  expect(
    limits.map((m) => m[1]),
    out,
  ).toEqual(["fair share on", "FIFO (fair share off)"]);
  for (const m of limits) {
    expect(Number(m[2])).toBeGreaterThan(0);
    expect(Number(m[3])).toBeLessThanOrEqual(5);
    expect(Number(m[4])).toBe(0);
    expect(Number(m[5])).toBe(40);
    expect(Number(m[6])).toBe(40);
    expect(Number(m[7])).toBe(0);
    expect(Number(m[8])).toBe(0);
  }

  // admission cost: ms at both backlogs and their ratio
  expect(out).toMatch(/^ {2}100 waiting: insert of one run [\d.]+ ms, cancel admitting the next [\d.]+ ms$/m);
  expect(out).toMatch(/^ {2}1000 waiting: insert of one run [\d.]+ ms, cancel admitting the next [\d.]+ ms$/m);
  expect(out).toMatch(/^ {2}1000 ÷ 100 waiting: insert [\d.]+×, cancel admitting the next [\d.]+×$/m);

  // priority: started, and ahead of the waiting runs of priority 0 (at most the 2 slots' worth raced it)
  const p =
    /the priority-100 run: queue wait (\d+) ms; (\d+) runs of priority 0 were waiting when it was inserted; (\d+) of them admitted before it, (\d+) started before it/.exec(
      out,
    );
  expect(p, out).toBeTruthy();
  expect(Number(p![2])).toBeGreaterThan(0);
  expect(Number(p![3])).toBeLessThanOrEqual(2);

  // the summary
  expect(out).toMatch(/^\| fairness \| figures \| target \|$/m);
  expect(lines.filter((l) => /^\| (noisy neighbour|weights|limit|admission cost|priority)/.test(l))).toHaveLength(7);
});
