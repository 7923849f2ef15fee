// N runs parked on timers, external events and approvals hold no job lock and no worker (only
// future jobs for timers and event timeouts; interrupted runs have no job at all; every worker
// may even be stopped), and all resume when woken: timers elapse, everruns.send_event,
// everruns.resume_run.
import { createPool } from "../../db/pool.ts";
import { approveInterrupts } from "../../db/sql/approveInterrupts.ts";
import { loadParkedCensus, type ParkedCensus } from "../../db/sql/loadParkedCensus.ts";
import { runStatusCounts } from "../../db/sql/runStatusCounts.ts";
import { sendEventToRuns } from "../../db/sql/sendEventToRuns.ts";
import { spawnWorkerProcesses, stopAll, type WorkerProcess } from "../harness/processes.ts";
import { createAgent, FINISHED, insertRuns, waitForRuns } from "../harness/runs.ts";
import { until } from "../harness/wait.ts";
import { checkRuns, type LoadCommon } from "./checks.ts";

export interface ParkedRunsOptions extends LoadCommon {
  /** runs in all, split evenly across timers, events and approvals */
  runs: number;
  workers: number;
  concurrency: number;
  timeoutMs?: number;
}

export interface ParkedRunsReport {
  timers: number;
  events: number;
  approvals: number;
  timerSeconds: number;
  parkMs: number;
  /** while every run was parked */
  parked: ParkedCensus;
  wakeMs: number;
  resumed: { timers: number; events: number; approvals: number };
  steps: number;
  problems: string[];
}

export async function parkedRuns(opts: ParkedRunsOptions): Promise<ParkedRunsReport> {
  const pool = createPool(opts.databaseUrl, "everruns-load", 4);
  const problems: string[] = [];
  let workers: WorkerProcess[] = [];
  const timeoutMs = opts.timeoutMs ?? 900_000;
  const third = Math.floor(opts.runs / 3);
  const n = { events: third, approvals: third, timers: opts.runs - 2 * third };
  try {
    const eventAgent = await createAgent(pool, "load-event", {
      provider: "scripted",
      tools: ["wait_for_event"],
      script: [{ tool_calls: [{ name: "wait_for_event", arguments: { name: "wake", timeout_seconds: 86_400 } }] }, { text: "Woken." }],
    });
    const approvalAgent = await createAgent(pool, "load-approval", {
      provider: "scripted",
      tools: [{ name: "echo", requires_approval: true }],
      script: [{ text: "May I?", tool_calls: [{ name: "echo", arguments: { ok: true } }] }, { text: "Approved and done." }],
    });
    workers = await spawnWorkerProcesses(opts.databaseUrl, opts.workers, opts.concurrency);

    // Events and approvals first: their rate tells how long the timers' runs will take to park,
    // and the timers are set to elapse only well after that.
    const t0 = performance.now();
    const eventIds = await insertRuns(pool, eventAgent, n.events, "wait for it");
    const approvalIds = await insertRuns(pool, approvalAgent, n.approvals, "ask first");
    await waitForRuns(pool, eventIds, ["waiting"], timeoutMs, problems, "parking event runs");
    await waitForRuns(pool, approvalIds, ["interrupted"], timeoutMs, problems, "parking approval runs");
    const perRunMs = (performance.now() - t0) / Math.max(1, n.events + n.approvals);
    const timerSeconds = Math.max(8, Math.ceil((3 * perRunMs * n.timers) / 1000) + 3);
    const timerAgent = await createAgent(pool, "load-timer", {
      provider: "scripted",
      tools: ["sleep"],
      script: [{ tool_calls: [{ name: "sleep", arguments: { seconds: timerSeconds } }] }, { text: "Slept." }],
    });
    const timerIds = await insertRuns(pool, timerAgent, n.timers, "sleep on it");
    await waitForRuns(pool, timerIds, ["waiting"], timeoutMs, problems, "parking timer runs");
    const parkMs = performance.now() - t0;
    const all = [...eventIds, ...approvalIds, ...timerIds];

    // Parked: no job locked, no run running, only future jobs (timers and event timeouts), and
    // none at all for interrupted runs. Then every worker is stopped: nothing needs one.
    const census = () => loadParkedCensus(pool, all);
    // graphile-worker deletes a completed job just after its task returns: give the last ones a moment
    const parked = await until(
      "the parked runs' last jobs to complete",
      async () => {
        const c = await census();
        return c.lockedJobs === 0 && c.jobs === n.timers + n.events ? c : null;
      },
      30_000,
    ).catch(() => census());
    const expectJobs = n.timers + n.events;
    if (parked.waiting !== n.timers + n.events) problems.push(`parked: ${parked.waiting} runs waiting, expected ${n.timers + n.events}`);
    if (parked.interrupted !== n.approvals) problems.push(`parked: ${parked.interrupted} runs interrupted, expected ${n.approvals}`);
    if (parked.running !== 0) problems.push(`parked: ${parked.running} runs queued or running`);
    if (parked.lockedJobs !== 0) problems.push(`parked: ${parked.lockedJobs} jobs locked`);
    if (parked.jobs !== expectJobs || parked.futureJobs !== expectJobs)
      problems.push(`parked: ${parked.jobs} jobs (${parked.futureJobs} in the future), expected ${expectJobs}, all in the future`);
    if (parked.interruptedWithJob !== 0) problems.push(`parked: ${parked.interruptedWithJob} interrupted runs have a job`);
    opts.log(
      `parked ${all.length} runs (${n.timers} on ${timerSeconds} s timers, ${n.events} on events, ${n.approvals} on approvals) in ${(parkMs / 1000).toFixed(1)} s: ` +
        `${parked.waiting} waiting, ${parked.interrupted} interrupted, ${parked.running} running; ${parked.jobs} jobs, ${parked.futureJobs} in the future, ` +
        `${parked.lockedJobs} locked; ${parked.interruptedWithJob} interrupted runs with a job; ${parked.workerConnectionsActive} worker connections active`,
    );
    await stopAll(workers);
    workers = [];
    const afterStop = await census();
    if (afterStop.waiting !== parked.waiting || afterStop.interrupted !== parked.interrupted || afterStop.jobs !== parked.jobs || afterStop.lockedJobs !== 0) {
      problems.push(`stopping every worker changed the parked runs: ${JSON.stringify(afterStop)}`);
    }
    opts.log(
      `every worker stopped: ${afterStop.waiting} waiting, ${afterStop.interrupted} interrupted, ${afterStop.jobs} jobs (${afterStop.futureJobs} in the future), ${afterStop.lockedJobs} locked`,
    );

    // Wake them: fresh workers; events sent; approvals answered; the timers elapse by themselves.
    workers = await spawnWorkerProcesses(opts.databaseUrl, opts.workers, opts.concurrency);
    const t1 = performance.now();
    for (let i = 0; i < eventIds.length; i += 500) {
      const woke = await sendEventToRuns(pool, eventIds.slice(i, i + 500), "wake", { by: "load" });
      const notWoken = woke.filter((w) => !w).length;
      if (notWoken > 0) problems.push(`send_event woke only ${woke.length - notWoken} of ${woke.length} runs`);
    }
    const continuations: string[] = [];
    for (let i = 0; i < approvalIds.length; i += 500) {
      continuations.push(...(await approveInterrupts(pool, approvalIds.slice(i, i + 500))).map((r) => r.continuation));
    }
    const woken = [...eventIds, ...timerIds, ...continuations];
    await waitForRuns(pool, woken, FINISHED, timeoutMs + timerSeconds * 1000, problems, "waking parked runs");
    const wakeMs = performance.now() - t1;
    const counts = {
      timers: (await runStatusCounts(pool, timerIds)).succeeded ?? 0,
      events: (await runStatusCounts(pool, eventIds)).succeeded ?? 0,
      approvals: (await runStatusCounts(pool, continuations)).succeeded ?? 0,
    };
    if (counts.timers !== n.timers || counts.events !== n.events || counts.approvals !== n.approvals) {
      problems.push(`woken: ${JSON.stringify(counts)} succeeded, expected ${JSON.stringify(n)}`);
    }
    let steps = await checkRuns(pool, [...eventIds, ...timerIds], 4, problems, "woken runs"); // llm, wait, tool, llm
    steps += await checkRuns(pool, approvalIds, 2, problems, "approval runs"); // llm, interrupt
    steps += await checkRuns(pool, continuations, 2, problems, "continuations"); // tool, llm
    opts.log(
      `woke them: ${counts.timers}/${n.timers} timers, ${counts.events}/${n.events} events, ${counts.approvals}/${n.approvals} approvals succeeded ` +
        `${(wakeMs / 1000).toFixed(1)} s after the wake-up began (the timers were due ${timerSeconds} s after they parked); ${steps} steps in all`,
    );
    return { ...n, timerSeconds, parkMs, parked, wakeMs, resumed: counts, steps, problems };
  } finally {
    await stopAll(workers);
    await pool.end();
  }
}
