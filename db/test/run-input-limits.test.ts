// 000011 and 000012: a run input's "resume" is an array, its size and message count are bounded;
// the same rules for a plain SQL insert and for the API (db/sql/startRun.ts refuses early).
import { afterAll, beforeAll, expect, it } from "vitest";
import { startRun as startRunSql } from "../sql/startRun.ts";
import { createAgent, createTestDatabase, type TestDatabase } from "./helpers.ts";

let db: TestDatabase;
let agentId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  agentId = await createAgent(db.pool, { provider: "scripted", model: "s" });
});
afterAll(async () => {
  await db?.drop();
});

async function insertError(input: unknown): Promise<{ code?: string; message: string }> {
  const error = await db.pool.query("insert into everruns.runs (agent_id, input) values ($1, $2)", [agentId, JSON.stringify(input)]).then(
    () => null,
    (e: { code?: string; message: string }) => e,
  );
  expect(error, "the insert should have been refused").not.toBeNull();
  return error!;
}

it('refuses a "resume" that is not an array, with EV003 (it was a bare 22023, a 500 in the API)', async () => {
  for (const resume of [null, 1, {}, "x"]) {
    const e = await insertError({ messages: [], resume });
    expect({ resume, code: e.code, refused: e.message.includes('"resume" must be an array') }).toEqual({ resume, code: "EV003", refused: true });
  }
});

it("refuses more than max_run_messages messages and more than max_run_input_bytes of input, naming the limit", async () => {
  const many = { messages: Array.from({ length: 1001 }, () => ({ role: "user", content: "x" })) };
  const tooMany = await insertError(many);
  expect(tooMany.code).toBe("EV003");
  expect(tooMany.message).toContain("at most 1000 (max_run_messages)");
  const big = { messages: [{ role: "user", content: "x".repeat(4_194_304) }] };
  const tooBig = await insertError(big);
  expect(tooBig.code).toBe("EV003");
  expect(tooBig.message).toContain("(max_run_input_bytes)");
  // the API's path refuses both before the database, with the same names
  await expect(startRunSql(db.pool, { agent: agentId, input: many })).rejects.toThrow(/max_run_messages/);
  await expect(startRunSql(db.pool, { agent: agentId, input: big })).rejects.toThrow(/max_run_input_bytes/);
  // at the limits: accepted
  const ok = await startRunSql(db.pool, { agent: agentId, input: { messages: Array.from({ length: 1000 }, () => ({ role: "user", content: "x" })) } });
  expect(ok.status).toBe("queued");
  const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs");
  expect(rows[0]!.n).toBe(1);
});
