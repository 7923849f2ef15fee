import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { createPool, type Pool } from "../pool.ts";
import type { LlmOutput, ToolOutput } from "../schemas.ts";
import { databaseUrl } from "./global-setup.ts";
import { sleep } from "../../lib/sleep.ts";

export interface TestDatabase {
  url: string;
  pool: Pool;
  drop(): Promise<void>;
}

/** A fresh database cloned from the migrated template (a few ms). */
export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = inject("serverUrl");
  const template = inject("templateDb");
  const name = `everruns_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${template}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(serverUrl, name);
  const pool = createPool(url, "everruns-test", 5);
  return {
    url,
    pool,
    async drop() {
      await pool.end();
      const admin = new pg.Client({ connectionString: serverUrl });
      await admin.connect();
      await admin.query(`drop database if exists ${name} with (force)`).catch(() => undefined);
      await admin.end();
    },
  };
}

export async function createAgent(pool: Pool, config: Record<string, unknown>, name = `agent_${randomBytes(4).toString("hex")}`): Promise<string> {
  const { rows } = await pool.query<{ id: string }>("insert into everruns.agents (name, config) values ($1, $2) returning id", [name, JSON.stringify(config)]);
  return rows[0]!.id;
}

export async function startRun(pool: Pool, agentId: string, content = "hello"): Promise<string> {
  const { rows } = await pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
    agentId,
    JSON.stringify({ messages: [{ role: "user", content }] }),
  ]);
  return rows[0]!.id;
}

export interface RunRow {
  id: string;
  status: string;
  output: { text?: string } | null;
  error: { code?: string; message?: string } | null;
  usage: { input_tokens: number; output_tokens: number; cost_usd: number };
  step_cursor: number;
}

export async function getRun(pool: Pool, runId: string): Promise<RunRow> {
  const { rows } = await pool.query<RunRow>("select * from everruns.runs where id = $1", [runId]);
  return rows[0]!;
}

/** Polls until the run reaches one of `statuses` (LISTEN would do, but polling keeps tests simple and exact). */
export async function waitForStatus(pool: Pool, runId: string, statuses: string[], timeoutMs = 60_000): Promise<RunRow> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await getRun(pool, runId);
    if (statuses.includes(run.status)) return run;
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${run.status} after ${timeoutMs} ms (wanted ${statuses.join("/")})`);
    await sleep(20);
  }
}

/** Polls `fn` (sync or async) until it returns something truthy, and returns that. */
export async function waitFor<T>(
  what: string,
  fn: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  timeoutMs = 30_000,
  everyMs = 10,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface EventRow {
  seq: number;
  type: string;
  event: Record<string, unknown>;
}

export async function getEvents(pool: Pool, runId: string): Promise<EventRow[]> {
  const { rows } = await pool.query<EventRow>("select seq, type, event from everruns.run_events where run_id = $1 order by seq", [runId]);
  return rows;
}

/** What an llm step records as its input (worker/steps.ts). */
export interface LlmStepInput {
  call_index: number;
  /** how many messages the model was sent */
  messages: number;
  tools: string[];
}

/** What a tool or wait step records as its input (worker/tool-step.ts). */
export interface ToolStepInput {
  tool_call_id: string;
  arguments: Record<string, unknown>;
}

interface StepRowBase {
  seq: number;
  name: string;
  status: "succeeded" | "failed";
  attempt: number;
  error: Record<string, unknown> | null;
}

/**
 * A committed step (everruns.run_steps) with its input and output by kind, as the worker writes
 * them (worker/steps.ts, worker/tool-step.ts, worker/tasks/run_step.ts): a failed step has none.
 */
export type StepRow = StepRowBase &
  (
    | { kind: "llm"; input: LlmStepInput | null; output: LlmOutput | null }
    | { kind: "tool"; input: ToolStepInput; output: ToolOutput }
    | { kind: "wait"; input: ToolStepInput; output: { tool_call_id: string } & Record<string, unknown> }
    | { kind: "system"; input: unknown; output: Record<string, unknown> | null }
    /** a workflow state's visit finished (worker/workflow/engine.ts) */
    | { kind: "state"; input: { input: unknown }; output: { state: string; next: string | null; output: unknown } & Record<string, unknown> }
  );

export async function getSteps(pool: Pool, runId: string): Promise<StepRow[]> {
  const { rows } = await pool.query<StepRow>("select * from everruns.run_steps where run_id = $1 order by seq", [runId]);
  return rows;
}

function describeStep(step: StepRow | undefined): string {
  return step ? `${step.status} ${step.kind} step ${step.seq} (${step.name})` : "no step";
}

/** The output of a committed tool step; throws when `step` is not one. */
export function toolOutput(step: StepRow | undefined): ToolOutput {
  if (step?.kind !== "tool") throw new Error(`expected a tool step, got ${describeStep(step)}`);
  return step.output;
}

/** The input of a tool or wait step; throws when `step` is neither. */
export function toolInput(step: StepRow | undefined): ToolStepInput {
  if (step?.kind !== "tool" && step?.kind !== "wait") throw new Error(`expected a tool or wait step, got ${describeStep(step)}`);
  return step.input;
}

/** The output of a succeeded llm step; throws when `step` is not one. */
export function llmOutput(step: StepRow | undefined): LlmOutput {
  if (step?.kind !== "llm" || !step.output) throw new Error(`expected a succeeded llm step, got ${describeStep(step)}`);
  return step.output;
}

/** The input of a succeeded llm step; throws when `step` is not one. */
export function llmInput(step: StepRow | undefined): LlmStepInput {
  if (step?.kind !== "llm" || !step.input) throw new Error(`expected a succeeded llm step, got ${describeStep(step)}`);
  return step.input;
}
