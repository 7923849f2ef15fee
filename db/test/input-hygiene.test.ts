// Hostile input through SQL (issue "Hostile input and resource limits", findings 3, 4 and 6;
// migration 000008): bounded signals, run input depth, text Postgres cannot store, and the
// columns a run's insert must not set.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromDatabaseError, ValidationError } from "../errors.ts";
import { sendEvent, MAX_PENDING_SIGNALS, MAX_SIGNAL_PAYLOAD_BYTES } from "../sql/sendEvent.ts";
import { startRun as startRunSql } from "../sql/startRun.ts";
import { MAX_JSON_DEPTH, findStorableProblem } from "../../lib/storable-json.ts";
import { createAgent, createTestDatabase, startRun, type TestDatabase } from "./helpers.ts";

let db: TestDatabase;
let agentId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  agentId = await createAgent(db.pool, { provider: "scripted", script: [{ text: "hi" }] }, "hygiene-agent");
});
afterAll(async () => db?.drop());

async function sqlError(sql: string, params: unknown[]): Promise<{ raw: { code?: string; message?: string }; mapped: unknown }> {
  try {
    await db.pool.query(sql, params);
  } catch (error) {
    return { raw: error as { code?: string; message?: string }, mapped: fromDatabaseError(error) };
  }
  throw new Error(`expected "${sql}" to fail`);
}

/** `[[[…1…]]]`: a value `depth` levels below the top. */
function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

describe("storable JSON (lib/storable-json.ts)", () => {
  it("names the first problem's path", () => {
    expect(findStorableProblem({ input: { messages: [{ role: "user", content: "a\u0000b" }] } })).toEqual({
      path: "input.messages[0].content",
      problem: "holds U+0000 (NUL), which cannot be stored",
    });
    expect(findStorableProblem({ state: { "k\u0000": 1 } })?.path).toBe('state["k\\u0000"]');
    expect(findStorableProblem({ state: { "k\u0000": 1 } })?.problem).toMatch(/key .*NUL/);
    expect(findStorableProblem({ a: "\ud800x" })?.problem).toMatch(/lone UTF-16 surrogate/);
    expect(findStorableProblem({ a: "\ud83d\ude00" })).toBeNull();
    expect(findStorableProblem(JSON.parse('{"n": [1, 1e999]}'))).toEqual({ path: "n[1]", problem: expect.stringMatching(/finite/) as unknown });
    expect(findStorableProblem(nested(MAX_JSON_DEPTH))).toBeNull();
    expect(findStorableProblem(nested(MAX_JSON_DEPTH + 1), "payload")?.problem).toBe(`is nested deeper than ${MAX_JSON_DEPTH} levels`);
  });

  it("walks a 100,000-deep value without recursion, at once", () => {
    const started = performance.now();
    expect(findStorableProblem(JSON.parse("[".repeat(100_000) + "]".repeat(100_000)))?.problem).toMatch(/deeper/);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe("run input through SQL", () => {
  it("refuses input nested deeper than max_json_depth (EV003), accepts it at the limit", async () => {
    // the input object is level 0, messages 1, the message 2, content 3
    const deep = (levels: number) => JSON.stringify({ messages: [{ role: "user", content: "hi", extra: nested(levels - 3) }] });
    const { raw, mapped } = await sqlError("insert into everruns.runs (agent_id, input) values ($1, $2)", [agentId, deep(MAX_JSON_DEPTH + 1)]);
    expect(raw.code).toBe("EV003");
    expect(raw.message).toBe(`invalid run input: nested deeper than ${MAX_JSON_DEPTH} levels (max_json_depth)`);
    expect(mapped).toBeInstanceOf(ValidationError);
    await db.pool.query("insert into everruns.runs (agent_id, input) values ($1, $2)", [agentId, deep(MAX_JSON_DEPTH)]);
  });

  it("maps NUL in JSON (22P05), NUL in text (22021) and JSON too deep for the parser (54001) to a ValidationError saying what is wrong", async () => {
    const nulJson = await sqlError("insert into everruns.runs (agent_id, input) values ($1, $2)", [
      agentId,
      JSON.stringify({ messages: [{ role: "user", content: "a\u0000b" }] }),
    ]);
    expect(nulJson.raw.code).toBe("22P05");
    expect(nulJson.mapped).toBeInstanceOf(ValidationError);
    expect((nulJson.mapped as Error).message).toMatch(/NUL/);

    const nulText = await sqlError("insert into everruns.agents (name, config) values ($1, '{}')", ["bad\u0000name"]);
    expect(nulText.raw.code).toBe("22021");
    expect((nulText.mapped as Error).message).toMatch(/U\+0000/);

    const deep = await sqlError("select $1::jsonb", ["[".repeat(200_000) + "]".repeat(200_000)]);
    expect(deep.raw.code).toBe("54001");
    expect((deep.mapped as Error).message).toMatch(/nested too deeply/);
  });

  it("startRun (GraphQL's path) refuses what cannot be stored before serialising it, naming the field", async () => {
    await expect(startRunSql(db.pool, { agent: agentId, input: { messages: [{ role: "user", content: "x\u0000" }] } })).rejects.toThrow(
      /invalid run input: input\.messages\[0\]\.content holds U\+0000/,
    );
    await expect(startRunSql(db.pool, { agent: "agent\u0000", input: { messages: [{ role: "user", content: "x" }] } })).rejects.toThrow(/agent holds U\+0000/);
    await expect(startRunSql(db.pool, { agent: agentId, input: { messages: [], state: nested(6000) } })).rejects.toThrow(
      /input\.state.* nested deeper than 64/,
    );
    await expect(startRunSql(db.pool, { agent: agentId, input: { messages: [{ role: "user", content: "x", n: Infinity }] } })).rejects.toThrow(
      /input\.messages\[0\]\.n is a number too large/,
    );
  });
});

describe("forged columns of a run's insert", () => {
  it("resets usage, output, error, the status timestamps and the fence; still refuses a status", async () => {
    const { rows } = await db.pool.query(
      `insert into everruns.runs (agent_id, input, usage, output, error, started_at, finished_at, step_errors, step_started_at,
                                  step_cursor, step_attempt, event_seq, settled_event_seq, created_at, updated_at)
       values ($1, $2, '{"cost_usd": 123456.78, "input_tokens": 1, "output_tokens": 1}', '{"text": "forged"}', '{"code": "forged"}',
               '2001-01-01', '2001-01-02', 7, '2001-01-01', 9, 9, 9, 9, '2001-01-01', '2001-01-01')
       returning usage, output, error, started_at, finished_at, step_errors, step_started_at, step_cursor, step_attempt, event_seq,
                 settled_event_seq, created_at > now() - interval '1 minute' as fresh`,
      [agentId, JSON.stringify({ messages: [{ role: "user", content: "hi" }] })],
    );
    expect(rows[0]).toEqual({
      usage: { cost_usd: 0, input_tokens: 0, output_tokens: 0 },
      output: null,
      error: null,
      started_at: null,
      finished_at: null,
      step_errors: 0,
      step_started_at: null,
      step_cursor: 1,
      step_attempt: 0,
      event_seq: 0,
      settled_event_seq: 0,
      fresh: true,
    });
    const { raw } = await sqlError("insert into everruns.runs (agent_id, input, status) values ($1, $2, 'succeeded')", [
      agentId,
      JSON.stringify({ messages: [{ role: "user", content: "hi" }] }),
    ]);
    expect(raw.code).toBe("EV003");
  });
});

describe("signals (everruns.send_event)", () => {
  it("refuses a payload over max_signal_payload_bytes, in SQL and before the round trip", async () => {
    const runId = await startRun(db.pool, agentId);
    const big = { data: "x".repeat(MAX_SIGNAL_PAYLOAD_BYTES) };
    const { raw, mapped } = await sqlError("select everruns.send_event($1, 'big', $2)", [runId, JSON.stringify(big)]);
    expect(raw.code).toBe("EV011");
    expect(raw.message).toMatch(/the limit is 65536 \(max_signal_payload_bytes\)/);
    expect(mapped).toMatchObject({ code: "limit_exceeded" });
    await expect(sendEvent(db.pool, runId, "big", big)).rejects.toMatchObject({
      code: "limit_exceeded",
      message: expect.stringMatching(/max_signal_payload_bytes/) as unknown,
    });
    // just under the limit is fine
    expect(await sendEvent(db.pool, runId, "ok", { data: "x".repeat(MAX_SIGNAL_PAYLOAD_BYTES - 100) })).toBe(false);
  });

  it("refuses a payload nested deeper than max_json_depth, and text that cannot be stored, naming the field", async () => {
    const runId = await startRun(db.pool, agentId);
    const { raw } = await sqlError("select everruns.send_event($1, 'deep', $2)", [runId, JSON.stringify(nested(MAX_JSON_DEPTH + 1))]);
    expect(raw.code).toBe("EV011");
    expect(raw.message).toMatch(/max_json_depth/);
    await expect(sendEvent(db.pool, runId, "deep", nested(6000))).rejects.toThrow(/payload(\[0\])+ is nested deeper than 64 levels/);
    await expect(sendEvent(db.pool, runId, "nul", { "a\u0000": 1 })).rejects.toThrow(/payload\["a\\u0000"\] has a key that holds U\+0000/);
    await expect(sendEvent(db.pool, runId, "n\u0000", {})).rejects.toThrow(/name holds U\+0000/);
    const { raw: longName } = await sqlError("select everruns.send_event($1, $2, '{}')", [runId, "n".repeat(201)]);
    expect(longName.code).toBe("EV009");
  });

  it(`refuses more than max_pending_signals (${MAX_PENDING_SIGNALS}) unconsumed signals per run; other runs are not affected`, async () => {
    const runId = await startRun(db.pool, agentId);
    await db.pool.query("select everruns.send_event($1, 'ping', jsonb_build_object('i', i)) from generate_series(1, $2) i", [runId, MAX_PENDING_SIGNALS]);
    const { raw, mapped } = await sqlError("select everruns.send_event($1, 'ping', '{}')", [runId]);
    expect(raw.code).toBe("EV011");
    expect(raw.message).toMatch(/holds 100 events that no wait has consumed; the limit is 100 \(max_pending_signals\)/);
    expect(mapped).toMatchObject({ code: "limit_exceeded" });
    // consumed signals no longer count
    await db.pool.query("update everruns.run_signals set consumed_at = now() where id = (select min(id) from everruns.run_signals where run_id = $1)", [runId]);
    expect(await sendEvent(db.pool, runId, "ping", {})).toBe(false);
    expect(await sendEvent(db.pool, await startRun(db.pool, agentId), "ping", {})).toBe(false);
  });
});
