// A procurement workflow under kill -9 (issue 21): an agent drafts the purchase order → a Choice
// on the amount → one or two approvals → wait_for_event "po_signed" (correlation key: the PO
// number) with a 3-day timeout → an agent notifies. Three outcomes (approved and signed,
// rejected, the signature timed out with time injected), run by real `everruns worker`
// processes that kill themselves (SIGKILL) at every step's first attempt, before its commit or
// right after it, and are replaced each time: every state is hit by a kill -9 in turn. Asserted
// on what was committed: each transition exactly once, one child run per agent state, the
// outcome, and every run's event log valid AG-UI.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { createAgent, createTestDatabase, getEvents, getSteps, waitFor, type TestDatabase } from "../../db/test/helpers.ts";
import { spawnWorker, type WorkerProcess } from "./worker-process.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

const DEFINITION = {
  Comment: "Purchase orders: drafted by an agent, approved by one or two people, signed by the vendor, announced.",
  StartAt: "Draft",
  States: {
    Draft: {
      Type: "Task",
      Resource: "everruns:agent:po_drafter",
      Parameters: { "task.$": "States.Format('Draft a purchase order {} for {} costing {} USD', $.po, $.item, $.amount)" },
      ResultPath: "$.draft",
      Next: "Route",
    },
    Route: {
      Type: "Choice",
      Choices: [{ Variable: "$.amount", NumericGreaterThan: 10000, Next: "DirectorApproval" }],
      Default: "ManagerApproval",
    },
    DirectorApproval: {
      Type: "Task",
      Resource: "everruns:approval",
      Parameters: { "message.$": "States.Format('Director: approve {} ({} USD)?', $.po, $.amount)" },
      ResultPath: "$.director",
      Next: "DirectorDecision",
    },
    DirectorDecision: {
      Type: "Choice",
      Choices: [{ Variable: "$.director.approved", BooleanEquals: true, Next: "ManagerApproval" }],
      Default: "Rejected",
    },
    ManagerApproval: {
      Type: "Task",
      Resource: "everruns:approval",
      Parameters: { "message.$": "States.Format('Manager: approve {}?', $.po)" },
      ResultPath: "$.manager",
      Next: "ManagerDecision",
    },
    ManagerDecision: {
      Type: "Choice",
      Choices: [{ Variable: "$.manager.approved", BooleanEquals: true, Next: "AwaitSignature" }],
      Default: "Rejected",
    },
    AwaitSignature: {
      Type: "Task",
      Resource: "everruns:wait_for_event",
      Parameters: { name: "po_signed", "correlation_key.$": "$.po" },
      TimeoutSeconds: 259200,
      ResultPath: "$.signature",
      Catch: [{ ErrorEquals: ["States.Timeout"], ResultPath: "$.timeout", Next: "Expired" }],
      Next: "Notify",
    },
    Notify: { Type: "Task", Resource: "everruns:agent:po_notifier", ResultPath: "$.notice", End: true },
    Rejected: { Type: "Fail", Error: "PurchaseRejected", Cause: "an approver rejected the purchase order" },
    Expired: { Type: "Fail", Error: "SignatureExpired", Cause: "the vendor did not sign within 3 days" },
  },
};

/** Keeps one worker process running that kills itself at `crashAt` of every step's first attempt; replaced as it dies. */
function crashingWorkers(crashAt: string) {
  let stopped = false;
  let current: WorkerProcess | null = null;
  let kills = 0;
  const loop = (async () => {
    while (!stopped) {
      try {
        current = await spawnWorker(db.url, { EVERRUNS_CRASH_AT: `${crashAt}:first` });
      } catch {
        // it took a step and killed itself before it said it had started (a loaded machine): one more kill
        if (!stopped) kills++;
        continue;
      }
      const exit = await current.exited;
      if (exit.signal === "SIGKILL" && !stopped) kills++;
    }
  })();
  return {
    kills: () => kills,
    async stop() {
      stopped = true;
      current?.child.kill("SIGKILL");
      await loop;
    },
  };
}

interface Outcome {
  runs: string[];
  status: string;
  error: { code?: string } | null;
  output: unknown;
}

type Answer = { approved: boolean; comment?: string };

/**
 * Starts a purchase order and drives it: answers each approval as `answers` say (in order),
 * sends the signature when the run waits for it (or, with `sign: false`, fires the 3-day timer:
 * time injected), and follows the thread's continuations to the end.
 */
async function purchase(agentId: string, order: { po: string; item: string; amount: number }, answers: Answer[], sign: boolean): Promise<Outcome> {
  const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
    agentId,
    JSON.stringify({ messages: [], state: order }),
  ]);
  const runs = [rows[0]!.id];
  const pending = [...answers];
  let signalled = false;
  for (;;) {
    const current = runs[runs.length - 1]!;
    const run = await waitFor(
      `run ${current} to stop moving`,
      async () => {
        const r = (
          await db.pool.query<{ status: string; waiting: { type?: string } | null; error: { code?: string } | null; output: unknown; interrupts: unknown }>(
            "select status, waiting, error, output, interrupts from everruns.runs where id = $1",
            [current],
          )
        ).rows[0]!;
        return ["succeeded", "failed", "cancelled", "interrupted"].includes(r.status) || (r.status === "waiting" && r.waiting?.type === "event" && !signalled)
          ? r
          : null;
      },
      120_000,
    );
    if (run.status === "interrupted") {
      const interrupt = (run.interrupts as { interrupts: Array<{ id: string }> }).interrupts[0]!;
      const answer = pending.shift();
      if (!answer) throw new Error(`run ${current} asks for an approval the scenario does not give`);
      const next = await db.pool.query<{ id: string }>("select everruns.resume_run($1, $2) as id", [
        current,
        JSON.stringify([{ interruptId: interrupt.id, status: "resolved", payload: answer }]),
      ]);
      runs.push(next.rows[0]!.id);
      continue;
    }
    if (run.status === "waiting") {
      signalled = true;
      if (sign) await db.pool.query("select everruns.send_event_by_key('po_signed', $1, $2)", [order.po, JSON.stringify({ signed_by: "vendor" })]);
      else {
        await db.pool.query("select graphile_worker.reschedule_jobs(array_agg(j.id), run_at := now()) from graphile_worker.jobs j where j.key = $1", [
          `run:${current}`,
        ]);
      }
      continue;
    }
    return { runs, status: run.status, error: run.error, output: run.output };
  }
}

/** The states each run of a thread finished, in order (a state committed twice would show twice). */
async function transitions(runs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const id of runs) for (const s of await getSteps(db.pool, id)) if (s.kind === "state") out.push(s.name);
  return out;
}

async function checkExactlyOnce(outcome: Outcome, states: string[], agentStates: number): Promise<void> {
  expect(await transitions(outcome.runs)).toEqual(states);
  // one child run per agent state, none started twice
  const children = await db.pool.query<{ n: number; calls: number }>(
    "select count(*)::int as n, count(distinct (caller_run_id, caller_tool_call_id))::int as calls from everruns.runs where caller_run_id = any($1::uuid[])",
    [outcome.runs],
  );
  expect(children.rows[0]).toEqual({ n: agentStates, calls: agentStates });
  // every step of every run was committed once: a seq appears once (the fence)
  for (const id of outcome.runs) {
    const steps = await getSteps(db.pool, id);
    expect(steps.map((s) => s.seq)).toEqual(steps.map((_, i) => i + 1));
    await assertValidAgUiLog(await getEvents(db.pool, id));
  }
}

describe("a procurement workflow with kill -9 of the worker at every state", () => {
  for (const crashAt of ["before_commit", "after_commit"]) {
    it(`approve, reject and time out, the worker killed ${crashAt.replace("_", " ")} of every step's first attempt`, { timeout: 300_000 }, async () => {
      const suffix = crashAt === "before_commit" ? "b" : "a";
      await createAgent(db.pool, { provider: "scripted", script: [{ text: "PO drafted" }] }, `po_drafter`).catch(() => undefined);
      await createAgent(db.pool, { provider: "scripted", script: [{ text: "Vendor and requester notified" }] }, `po_notifier`).catch(() => undefined);
      const agent = await createAgent(db.pool, { kind: "workflow", definition: DEFINITION }, `procurement_${suffix}`);
      const workers = crashingWorkers(crashAt);
      let outcomes: Outcome[];
      try {
        outcomes = await Promise.all([
          purchase(agent, { po: `PO-${suffix}-1`, item: "servers", amount: 12000 }, [{ approved: true }, { approved: true, comment: "ok" }], true),
          purchase(agent, { po: `PO-${suffix}-2`, item: "chairs", amount: 15000 }, [{ approved: false, comment: "too much" }], true),
          purchase(agent, { po: `PO-${suffix}-3`, item: "pens", amount: 40 }, [{ approved: true }], false),
        ]);
      } finally {
        await workers.stop();
      }
      const [approved, rejected, expired] = outcomes;

      expect(approved!.status).toBe("succeeded");
      expect((approved!.output as { json: Record<string, unknown> }).json).toMatchObject({
        po: `PO-${suffix}-1`,
        draft: "PO drafted",
        director: { approved: true },
        manager: { approved: true, comment: "ok" },
        signature: { signed_by: "vendor" },
        notice: "Vendor and requester notified",
      });
      await checkExactlyOnce(
        approved!,
        ["Draft", "Route", "DirectorApproval", "DirectorDecision", "ManagerApproval", "ManagerDecision", "AwaitSignature", "Notify"],
        2,
      );

      expect(rejected!.status).toBe("failed");
      expect(rejected!.error).toMatchObject({ code: "PurchaseRejected" });
      await checkExactlyOnce(rejected!, ["Draft", "Route", "DirectorApproval", "DirectorDecision", "Rejected"], 1);

      expect(expired!.status).toBe("failed");
      expect(expired!.error).toMatchObject({ code: "SignatureExpired" });
      await checkExactlyOnce(expired!, ["Draft", "Route", "ManagerApproval", "ManagerDecision", "AwaitSignature", "Expired"], 1);

      // the kills happened. Before the commit: every step of every workflow run was killed once
      // (its first attempt) and committed by a replacement (one kill may take several runs' steps
      // in flight at once). After it: a replacement takes over the step the dead one had begun
      // inline, so every other step is hit; count them.
      const steps = (await Promise.all(outcomes.flatMap((o) => o.runs.map((id) => getSteps(db.pool, id))))).flat();
      if (crashAt === "before_commit") for (const s of steps) expect(s.attempt, `step ${s.seq} ${s.name}`).toBeGreaterThanOrEqual(2);
      else expect(workers.kills()).toBeGreaterThanOrEqual(Math.floor(steps.length / 3));
      console.log(`procurement, kill -9 ${crashAt}: ${workers.kills()} kills for ${steps.length} workflow steps in 3 purchase orders`);
    });
  }
});
