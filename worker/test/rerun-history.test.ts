// What the model is sent by a rerun (issue 13, 000016): the real OpenAI SDK of a real worker
// against the fake LLM server, which records every request. A rerun replaces the run it reruns
// in the thread's history: its first LLM call gets the thread's earlier runs, then the input
// once, and none of the failed run's steps. A rerun from step N gets the input once and the
// failed run's steps up to N, nothing after. Later runs of the thread see the same.
import { afterAll, beforeAll, expect, it } from "vitest";
import { rerunRun } from "../../db/sql/rerunRun.ts";
import { createAgent, createTestDatabase, getSteps, startRun, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../main.ts";
import { FakeLlmServer, type FakeReply } from "./fake-llm-server.ts";

const KEY_ENV = "EVERRUNS_TEST_OPENAI_KEY";
let db: TestDatabase;
let worker: WorkerHandle;
let fake: FakeLlmServer;
let agent: string;
let thread: string;

beforeAll(async () => {
  process.env[KEY_ENV] = "sk-rerun-history";
  db = await createTestDatabase();
  fake = await FakeLlmServer.start();
  worker = await startWorker({ databaseUrl: db.url, concurrency: 2, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "error") });
  agent = await createAgent(db.pool, {
    provider: "openai",
    api: "chat_completions",
    model: "gpt-test",
    base_url: fake.openaiBaseURL,
    api_key_env: KEY_ENV,
    tools: ["echo"],
  });
});

afterAll(async () => {
  await worker?.stop();
  await fake?.close();
  await db?.drop();
});

/** The conversation of a recorded chat-completions request, one short line per message. */
function conversation(index: number): string[] {
  const messages = fake.requests[index]!.body.messages as Array<{
    role: string;
    content?: unknown;
    tool_calls?: Array<{ id: string }>;
    tool_call_id?: string;
  }>;
  return messages
    .filter((m) => m.role !== "system")
    .map((m) => {
      if (m.role === "tool") return `tool ${m.tool_call_id}: ${String(m.content)}`;
      if (m.tool_calls?.length) return `assistant calls ${m.tool_calls.map((c) => c.id).join(",")}`;
      return `${m.role}: ${typeof m.content === "string" ? m.content : JSON.stringify(m.content)}`;
    });
}

/** Runs `content` on the test thread (its first run starts it) with these model replies. */
async function runOnThread(content: string, replies: FakeReply[], status: "succeeded" | "failed"): Promise<string> {
  fake.reply(...replies);
  let id: string;
  if (!thread) {
    id = await startRun(db.pool, agent, content);
    thread = (await db.pool.query<{ thread_id: string }>("select thread_id from everruns.runs where id = $1", [id])).rows[0]!.thread_id;
  } else {
    const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, thread_id, input) values ($1, $2, $3) returning id", [
      agent,
      thread,
      JSON.stringify({ messages: [{ role: "user", content }] }),
    ]);
    id = rows[0]!.id;
  }
  await finish(id, status);
  return id;
}

async function finish(id: string, status: "succeeded" | "failed"): Promise<void> {
  const run = await waitForStatus(db.pool, id, ["succeeded", "failed", "cancelled", "interrupted"]);
  expect(run.status, JSON.stringify(run.error)).toBe(status);
}

const FAIL: FakeReply = { error: { status: 400, message: "bad request (test)" } };
const echo = (id: string, n: number): FakeReply => ({ toolCalls: [{ id, name: "echo", arguments: { n } }] });

it("a rerun's model sees the thread before the failed run, the input once and none of its steps; from step N, its steps up to N", async () => {
  fake.reset();
  await runOnThread("first question", [{ text: "first answer" }], "succeeded");
  // the failed run: two tool rounds (steps 1 llm c1, 2 tool c1, 3 llm c2, 4 tool c2), then the model fails
  const failed = await runOnThread("second question", [echo("c1", 1), echo("c2", 2), FAIL], "failed");
  expect((await getSteps(db.pool, failed)).map((s) => `${s.seq} ${s.kind}`).slice(0, 4)).toEqual(["1 llm", "2 tool", "3 llm", "4 tool"]);
  const before = ["user: first question", "assistant: first answer"];

  // from step 2 (the first tool result): the input once, the first tool round, nothing after
  fake.reply({ text: "resumed after c1" });
  let at = fake.requests.length;
  const fromStep = await rerunRun(db.pool, failed, 2);
  await finish(fromStep, "succeeded");
  expect(conversation(at)).toEqual([...before, "user: second question", "assistant calls c1", 'tool c1: {"n":1}']);
  expect(fake.requests).toHaveLength(at + 1);
  // its own steps start with that LLM call
  expect((await getSteps(db.pool, fromStep)).map((s) => `${s.seq} ${s.kind}`)).toEqual(["1 llm"]);
  const afterFromStep = [...before, "user: second question", "assistant calls c1", 'tool c1: {"n":1}', "assistant: resumed after c1"];

  // a later run of the thread sees the same: the failed run's steps after 2 stay out
  at = fake.requests.length;
  await runOnThread("third question", [{ text: "third answer" }], "succeeded");
  expect(conversation(at)).toEqual([...afterFromStep, "user: third question"]);
  const afterThird = [...afterFromStep, "user: third question", "assistant: third answer"];

  // a plain rerun: the input once, none of the failed run's steps (c3 and its result)
  const failedAgain = await runOnThread("fourth question", [echo("c3", 3), FAIL], "failed");
  fake.reply({ text: "fourth answer" });
  at = fake.requests.length;
  const plain = await rerunRun(db.pool, failedAgain);
  await finish(plain, "succeeded");
  expect(conversation(at)).toEqual([...afterThird, "user: fourth question"]);
  const afterFourth = [...afterThird, "user: fourth question", "assistant: fourth answer"];

  // a plain rerun of a rerun from a step continues from the same point: no second copy of the input
  const fifth = await runOnThread("fifth question", [echo("c5", 5), FAIL], "failed");
  fake.reply(FAIL);
  at = fake.requests.length;
  const fromFifth = await rerunRun(db.pool, fifth, 2);
  await finish(fromFifth, "failed");
  const untilC5 = [...afterFourth, "user: fifth question", "assistant calls c5", 'tool c5: {"n":5}'];
  expect(conversation(at)).toEqual(untilC5);
  fake.reply({ text: "fifth answer" });
  at = fake.requests.length;
  await finish(await rerunRun(db.pool, fromFifth), "succeeded");
  expect(conversation(at)).toEqual(untilC5);
});
