// The MCP bench (issue 17) at a small size: 3 runs of 6 tool calls (echo and fx__echo
// alternating), then 8 one-turn runs with the tool-list cache and 8 without. No time is gated
// (the machines are shared and the counts tiny); what is checked holds whatever the speed: every
// run succeeded, every MCP call dispatched exactly once and its idempotency key seen once by the
// server, the cached agent listed its server once and the other once a run, each listing one
// tools/list request.
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { runMcpBench } from "../bench/mcp.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

it("the mcp part measures MCP calls next to built-in ones and the tool-list cache, every invariant holding", { timeout: 180_000 }, async () => {
  const lines: string[] = [];
  const result = await runMcpBench({
    serverUrl: db.url,
    runs: 3,
    calls: 6,
    listRuns: 8,
    concurrency: 4,
    timeoutMs: 120_000,
    log: (line) => {
      console.log(`[bench] ${line}`);
      lines.push(line);
    },
  });
  const out = lines.join("\n");
  expect(result.problems, out).toEqual([]);

  const p = result.perCall;
  expect(p.succeeded).toBe(3);
  expect(p.builtin.n).toBe(9);
  expect(p.mcp.n).toBe(9);
  expect(p.runPerCall.n).toBe(3);
  expect(p.mcpCalls).toBe(9);
  expect(p.dispatchRows).toBe(9);
  expect(p.dispatchedOnce).toBe(9);
  expect(p.serverKeys).toBe(9);
  expect(p.keysSeenOnce).toBe(9);

  const c = result.caching;
  expect(c.succeeded).toBe(16);
  expect(c.cached.n).toBe(8);
  expect(c.uncached.n).toBe(8);
  expect(c.cachedListings).toBe(1);
  expect(c.uncachedListings).toBe(8);
  expect(c.cachedListRequests).toBe(1);
  expect(c.uncachedListRequests).toBe(8);
  expect(result.serverInitializes).toBeGreaterThanOrEqual(1);

  // the figures are printed, with their ratios
  const num = "(-?\\d+(?:\\.\\d+)?|n/a)";
  expect(out).toMatch(
    new RegExp(`^ {2}tool step, built-in echo: p50 ${num} ms, p99 ${num} ms \\(n=9\\); MCP fx__echo: p50 ${num} ms, p99 ${num} ms \\(n=9\\)$`, "m"),
  );
  expect(out).toMatch(new RegExp(`^ {2}MCP − built-in: \\+?${num} ms at p50, \\+?${num} ms at p99; MCP ÷ built-in: ${num}× at p50, ${num}× at p99$`, "m"));
  expect(out).toMatch(new RegExp(`^ {2}whole run .* per tool call: p50 ${num} ms, p99 ${num} ms \\(n=3\\)$`, "m"));
  expect(out).toMatch(
    /^ {2}dispatches: 9 MCP calls, 9 tool_dispatches rows, 9 dispatched exactly once; the server saw 9 idempotency keys, 9 of the calls' exactly once/m,
  );
  expect(out).toMatch(new RegExp(`^ {2}tool-list caching: 16 of 16 one-turn runs succeeded; .*without ÷ with ${num}× at p50, ${num}× at p99$`, "m"));
  expect(out).toMatch(
    /^ {2}listings: with the cache 1 \(mcp_tool_lists rows\), 1 tools\/list requests; without 8, 8 requests; the server was initialized \d+ time\(s\) in all/m,
  );
  expect(out).toMatch(/^ {2}invariants: all hold/m);
});
