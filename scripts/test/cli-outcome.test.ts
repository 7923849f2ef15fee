// `everruns outcome` and the approval commands on runs that ask about a tool call whose outcome is
// unknown (issue 17): outcome --retry / --skip / --result post the answer through the API,
// approve and reject refuse while such a question is open (naming it and the command that
// answers it), and run --follow prints the outcome commands when its run ends with one.
//
// The interrupted runs are made here, not by a crashed MCP call: no worker runs, so a run the test
// inserts (or `everruns run` starts) stays queued, and the test's setup commits the interrupt as
// the worker's tool step would (worker/tool-step.ts): status interrupted, runs.interrupts, and a
// RUN_FINISHED event with outcome {type: "interrupt", interrupts}, which is where the CLI reads
// the open questions from.
import { spawn } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, startRun, type TestDatabase } from "../../db/test/helpers.ts";
import { startTestApi, type TestApiHandle } from "../../api/test/helpers.ts";
import { interruptHelp, type Interrupt } from "../cli/follow.ts";
import { PROJECT_ROOT } from "../database.ts";
import { sleep } from "../../lib/sleep.ts";

const CLI = path.join(PROJECT_ROOT, "scripts", "everruns.ts");
let db: TestDatabase;
let api: TestApiHandle;
let agentId: string;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, DATABASE_URL: db.url, EVERRUNS_API_URL: api.url, EVERRUNS_API_KEY: api.key, LOG_LEVEL: "warn" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The interrupt the worker leaves when a tool call's outcome is unknown (worker/tool-step.ts). */
function outcomeInterrupt(toolCallId: string, toolName = "github__create_issue"): Interrupt & Record<string, unknown> {
  return {
    id: `outcome-${toolCallId}`,
    reason: "tool_outcome_unknown",
    message:
      `${toolName} was called with {"title":"Bug"} (1 time(s), last at 2026-01-01T00:00:00Z) and the step making the call ended ` +
      "before its result was recorded: whether it took effect is unknown. Call it again, skip it, or enter its result.",
    toolCallId,
    metadata: { toolName, arguments: { title: "Bug" }, dispatches: 1, lastDispatchedAt: "2026-01-01T00:00:00Z" },
  };
}

function approvalInterrupt(toolCallId: string, toolName = "echo"): Interrupt & Record<string, unknown> {
  return {
    id: `approval-${toolCallId}`,
    reason: "tool_approval",
    message: `Approve calling ${toolName} with {"x":7}?`,
    toolCallId,
    metadata: { toolName, arguments: { x: 7 } },
  };
}

/**
 * Test setup standing in for the worker: ends queued run `runId` interrupted with `interrupts`,
 * in one transaction, as commit_step does (the run's row, then its events after the last one).
 */
async function interrupt(runId: string, interrupts: Interrupt[]): Promise<void> {
  const client = await db.pool.connect();
  try {
    await client.query("begin");
    const { rows } = await client.query<{ workspace_id: string; thread_id: string }>(
      `update everruns.runs set status = 'interrupted', interrupts = $2, started_at = now(), finished_at = now()
        where id = $1 returning workspace_id, thread_id`,
      [runId, { interrupts, pending_tool_call_ids: [] }],
    );
    const { workspace_id: workspaceId, thread_id: threadId } = rows[0]!;
    const { rows: last } = await client.query<{ seq: number | null }>("select max(seq) as seq from everruns.run_events where run_id = $1", [runId]);
    const events = [
      { type: "RUN_STARTED", threadId, runId },
      { type: "RUN_FINISHED", threadId, runId, outcome: { type: "interrupt", interrupts }, result: { text: "" } },
    ];
    let seq = last[0]?.seq ?? 0;
    for (const event of events) {
      await client.query(
        `insert into everruns.run_events (run_id, seq, workspace_id, type, event, run_created_at)
     values ($1, $2, $3, $4, $5, (select everruns_private.run_partition_key(r.created_at, r.legacy_history) from everruns.runs r where r.id = $1))`,
        [runId, ++seq, workspaceId, event.type, event],
      );
    }
    await client.query("commit");
  } catch (error) {
    await client.query("rollback");
    throw error;
  } finally {
    client.release();
  }
}

async function interruptedRun(interrupts: Interrupt[]): Promise<string> {
  const runId = await startRun(db.pool, agentId);
  await interrupt(runId, interrupts);
  return runId;
}

/** The answers the continuation run `id` carries (what POST /api/runs/:id/resume stored). */
async function resumeOf(id: string): Promise<unknown> {
  const { rows } = await db.pool.query<{ input: { resume?: unknown } }>("select input from everruns.runs where id = $1", [id]);
  return rows[0]?.input.resume;
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db.url);
  agentId = await createAgent(db.pool, { provider: "scripted", tools: ["echo"], script: [{ text: "never run: no worker here" }] }, "outcomes");
}, 60_000);

afterAll(async () => {
  await api?.close();
  await db?.drop();
});

describe("everruns outcome", () => {
  it("--retry posts {action: retry} for the open unknown-outcome interrupt and prints the continuation", async () => {
    const runId = await interruptedRun([outcomeInterrupt("call_1")]);
    const answered = await cli(["outcome", runId, "--retry"]);
    expect(answered.stderr).toMatch(/^calling github__create_issue again; the run continues as run [0-9a-f-]{36}\n$/);
    expect(answered.code).toBe(0);
    const continuation = answered.stdout.trim();
    expect(await resumeOf(continuation)).toEqual([{ interruptId: "outcome-call_1", status: "resolved", payload: { action: "retry" } }]);
    const { rows } = await db.pool.query<{ continued_by: string }>("select continued_by from everruns.runs where id = $1", [runId]);
    expect(rows[0]!.continued_by).toBe(continuation);
  });

  it("--result posts the text, --skip posts {action: skip}; --tool-call names the call", async () => {
    const first = await interruptedRun([outcomeInterrupt("call_2")]);
    const result = await cli(["outcome", first, "--result", "created issue #42", "--tool-call", "call_2"]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("entered the result of github__create_issue; the run continues as run ");
    expect(await resumeOf(result.stdout.trim())).toEqual([
      { interruptId: "outcome-call_2", status: "resolved", payload: { action: "result", result: "created issue #42" } },
    ]);

    const second = await interruptedRun([outcomeInterrupt("call_3")]);
    const skipped = await cli(["outcome", second, "--skip"]);
    expect(skipped.code).toBe(0);
    expect(await resumeOf(skipped.stdout.trim())).toEqual([{ interruptId: "outcome-call_3", status: "resolved", payload: { action: "skip" } }]);
  });

  it("needs exactly one of --retry, --skip, --result; refuses an unknown tool call and runs with no such question", async () => {
    const runId = await interruptedRun([outcomeInterrupt("call_4")]);
    const none = await cli(["outcome", runId]);
    expect(none).toMatchObject({ code: 1, stdout: "" });
    expect(none.stderr).toMatch(/^everruns: say what to do with the tool call: --retry \(call it again\), --skip \(do not\), or --result "…"/);
    const both = await cli(["outcome", runId, "--retry", "--skip"]);
    expect(both).toMatchObject({ code: 1, stderr: "everruns: give one of --retry, --skip or --result, not --retry and --skip\n" });
    const wrongCall = await cli(["outcome", runId, "--retry", "--tool-call", "call_nope"]);
    expect(wrongCall).toMatchObject({
      code: 1,
      stderr: `everruns: run ${runId} has no open unknown-outcome question for tool call call_nope; its open ones: call_4\n`,
    });

    // a run that asks only for approvals: outcome says so and names approve/reject
    const approvals = await interruptedRun([approvalInterrupt("call_5")]);
    const refused = await cli(["outcome", approvals, "--retry"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `everruns: run ${approvals} has no open unknown-outcome question: it asks for approvals (approval-call_5: echo (tool call call_5)): ` +
        `answer with everruns approve ${approvals} or everruns reject ${approvals}\n`,
    );
    // nothing was answered
    const { rows } = await db.pool.query<{ continued_by: string | null }>("select continued_by from everruns.runs where id = any($1)", [[runId, approvals]]);
    expect(rows.map((r) => r.continued_by)).toEqual([null, null]);

    const queued = await startRun(db.pool, agentId);
    expect(await cli(["outcome", queued, "--skip"])).toMatchObject({
      code: 1,
      stderr: `everruns: run ${queued} is not waiting for an answer (status queued)\n`,
    });
    expect(await cli(["outcome", "nope", "--skip"])).toMatchObject({ code: 1, stderr: 'everruns: a run id is a UUID, got "nope"\n' });
  });

  it("outcome --help shows its usage and exits 0", async () => {
    const help = await cli(["outcome", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: everruns outcome <run> --retry \| --skip \| --result <text> \[--tool-call <id>\] \[-f\]\n/);
    expect(help.stdout).toContain("--result <text>");
    const top = await cli(["--help"]);
    expect(top.stdout).toMatch(/ outcome \[options\] <run> +answer an interrupted run's unknown-outcome question: call the tool again, skip it, or\n/);
  });
});

describe("approve and reject beside unknown-outcome questions", () => {
  it("approve and reject refuse while only an unknown-outcome question is open, naming it and everruns outcome", async () => {
    const runId = await interruptedRun([outcomeInterrupt("call_6")]);
    for (const command of ["approve", "reject"]) {
      const refused = await cli([command, runId]);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe("");
      expect(refused.stderr).toBe(
        `everruns: run ${runId} has no open approval: it asks what to do with tool calls whose outcome is unknown ` +
          `(outcome-call_6: github__create_issue (tool call call_6)): answer with everruns outcome ${runId} --retry | --skip | --result "…"\n`,
      );
    }
    const { rows } = await db.pool.query<{ continued_by: string | null }>("select continued_by from everruns.runs where id = $1", [runId]);
    expect(rows[0]!.continued_by).toBeNull();
  });

  it("with approvals and an unknown outcome open, approve and outcome both refuse and print the resume line that answers all; that line works", async () => {
    const runId = await interruptedRun([approvalInterrupt("call_7"), outcomeInterrupt("call_8")]);
    const approve = await cli(["approve", runId]);
    expect(approve.code).toBe(1);
    expect(approve.stderr).toContain(
      `everruns: run ${runId} also has open interrupts everruns approve does not answer (outcome-call_8: github__create_issue (tool call call_8)), ` +
        "and a run's open interrupts are answered all at once: answer every one with ",
    );
    const outcome = await cli(["outcome", runId, "--retry"]);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain(`everruns outcome does not answer (approval-call_7: echo (tool call call_7))`);
    const line = /answer every one with (everruns resume .*?) \(edit each payload/.exec(outcome.stderr)![1]!;
    const json = /--json '(.*)'$/.exec(line)![1]!;
    expect(JSON.parse(json)).toEqual([
      { interruptId: "approval-call_7", status: "resolved", payload: { approved: true } },
      { interruptId: "outcome-call_8", status: "resolved", payload: { action: "retry" } },
    ]);
    // the printed command answers both at once
    const resumed = await cli(["resume", runId, "--json", json]);
    expect(resumed.code).toBe(0);
    expect(await resumeOf(resumed.stdout.trim())).toEqual(JSON.parse(json));
  });

  it("approve still answers a run that asks only for approvals", async () => {
    const runId = await interruptedRun([approvalInterrupt("call_9")]);
    const approved = await cli(["approve", runId, "--reason", "fine"]);
    expect(approved.code).toBe(0);
    expect(approved.stderr).toContain("approved echo; the run continues as run ");
    expect(await resumeOf(approved.stdout.trim())).toEqual([
      { interruptId: "approval-call_9", status: "resolved", payload: { approved: true, reason: "fine" } },
    ]);
  });
});

describe("run --follow on an unknown-outcome question", () => {
  it("prints the question and the three outcome commands, no approve/reject lines, and exits 3", async () => {
    const child = spawn(process.execPath, [CLI, "run", "outcomes", "hello", "--follow"], {
      env: { ...process.env, DATABASE_URL: db.url, EVERRUNS_API_URL: api.url, EVERRUNS_API_KEY: api.key, LOG_LEVEL: "warn" },
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    while (!/^run [0-9a-f-]{36}$/m.test(stderr)) {
      if (child.exitCode !== null) throw new Error(stderr);
      await sleep(50);
    }
    const runId = /^run ([0-9a-f-]{36})$/m.exec(stderr)![1]!;
    // no worker runs it: the test ends it with the question, as the worker's tool step would
    await interrupt(runId, [outcomeInterrupt("call_10")]);
    expect(await exited).toBe(3);
    expect(stderr).toContain(
      `run ${runId} is waiting for an answer:\n  ? github__create_issue was called with {"title":"Bug"} (1 time(s), last at 2026-01-01T00:00:00Z) ` +
        "and the step making the call ended before its result was recorded: whether it took effect is unknown. " +
        "Call it again, skip it, or enter its result.  (tool call call_10)\nAnswer with one of:\n" +
        `  everruns outcome ${runId} --retry          call github__create_issue again\n` +
        `  everruns outcome ${runId} --skip           do not call it again: the model is told it was skipped\n` +
        `  everruns outcome ${runId} --result "…"     enter its result yourself: the model sees it as the tool's answer\n`,
    );
    expect(stderr).not.toContain("everruns approve");
    expect(stderr).not.toContain("everruns reject");
  });

  it("interruptHelp: approvals alone keep approve/reject; a mix gets one resume line answering all", () => {
    const approvals = interruptHelp("r1", [approvalInterrupt("a"), approvalInterrupt("b")]);
    expect(approvals).toContain('Answer with:\n  everruns approve r1\n  everruns reject r1 --reason "why not"\n');
    expect(approvals).not.toContain("everruns outcome");
    const mixed = interruptHelp("r2", [approvalInterrupt("a"), outcomeInterrupt("b")]);
    expect(mixed).not.toContain("everruns approve");
    expect(mixed).not.toContain("everruns outcome");
    expect(mixed).toContain(
      `  everruns resume r2 --json '[{"interruptId":"approval-a","status":"resolved","payload":{"approved":true}},` +
        `{"interruptId":"outcome-b","status":"resolved","payload":{"action":"retry"}}]'`,
    );
  });

  it("interruptHelp: a budget interrupt gets a raise of every limit reached above its spend, and a stop", () => {
    const budget: Interrupt = {
      id: "budget-r3",
      reason: "budget",
      message: "The run reached its budget: max_cost_usd 0.0123 of 0.01.",
      metadata: {
        limits: { max_cost_usd: 0.01, max_tool_calls: 20 },
        spent: { max_cost_usd: 0.0123, max_tool_calls: 20 },
        reached: ["max_cost_usd", "max_tool_calls"],
      },
    };
    const help = interruptHelp("r3", [budget]);
    expect(help).not.toContain("everruns approve");
    expect(help).toContain(
      "Raise the limits reached (each above its spend) and go on:\n" +
        `  everruns resume r3 --json '[{"interruptId":"budget-r3","status":"resolved","payload":{"action":"raise","budget":{"max_cost_usd":0.0246,"max_tool_calls":40}}}]'\n` +
        "or stop here (the run ends with what it has):\n" +
        `  everruns resume r3 --json '[{"interruptId":"budget-r3","status":"resolved","payload":{"action":"stop"}}]'`,
    );
  });
});
