// The `run_step` task: a job means "advance run R". It begins whatever step the run's cursor
// names, and the steps after it while the job may chain them. The slow work (LLM or tool call)
// happens outside any transaction; the result lands with everruns_private.commit_step in one
// transaction that also enqueues the next job, or with commit_step_and_begin_next, which begins
// the next step for this same job to run at once (inline chaining). A replayed job begins the
// run's current step (fencing out any attempt still at it) or, for a finished run, does nothing.
import type { Task } from "graphile-worker";
import { z } from "zod";
import { isConnectionError, StaleAttemptError } from "../../db/errors.ts";
import { isDbTimeout, PoolTimeoutError, type Pool } from "../../db/pool.ts";
import { AgentConfigSchema, describeIssues, isWorkflowConfig, RunInputSchema, UsageSchema, WorkflowAgentConfigSchema, type Usage } from "../../db/schemas.ts";
import type { AgUiEvent } from "../../db/sql/appendEvents.ts";
import { beginStep, type BegunStep } from "../../db/sql/beginStep.ts";
import { quotaPark } from "../quota.ts";
import { commitStep, commitStepAndBeginNext, type Committed, type JobRef, type NextStep, type StepRecord } from "../../db/sql/commitStep.ts";
import { readAttemptOutcome } from "../../db/sql/readAttemptOutcome.ts";
import { rescheduleStep } from "../../db/sql/rescheduleStep.ts";
import { StepAbort } from "../abort.ts";
import type { Cancellations } from "../cancellations.ts";
import { agUiMessages, chatMessages, clientTools, planStep, type Plan } from "../conversation.ts";
import { EventWriter } from "../event-writer.ts";
import { ProviderError, type Provider } from "../providers/types.ts";
import { backoffMs, type BackoffPolicy } from "../../lib/backoff.ts";
import { sleep } from "../../lib/sleep.ts";
import { runLlmStep, type StepOutcome, type StepScope } from "../steps.ts";
import { agentTools, runInterruptStep, runToolStep, type DispatchLog } from "../tool-step.ts";
import { checkBudget, stopAnswer, stopStep } from "../run-budget.ts";
import { mcpServers, McpUnavailableError, type McpTools } from "../mcp/tools.ts";
import { markToolDispatched, readToolDispatch, settleToolDispatch } from "../../db/sql/toolDispatches.ts";
import { TransientToolError, type Tool } from "../tools/types.ts";
import { outputProblems } from "../tools/validate.ts";
import { threadHistory, threadHistorySinceSummary } from "../../db/sql/threadHistory.ts";
import { threadToolResult } from "../../db/sql/threadToolResult.ts";
import { compactionFromEnv, contextSettings } from "../context/budget.ts";
import { planContext, runCompactionStep } from "../context/compaction.ts";
import { READ_RESULT, READ_RESULT_MAX_LIMIT } from "../tools/read-result.ts";
import type { HistoryCache } from "../history-cache.ts";
import { LlmOutputSchema } from "../../db/schemas.ts";
import { childLogger, type LogBindings, type Logger } from "../../lib/logger.ts";
import { runTraceId } from "../../lib/trace-id.ts";
import type { SecretResolver } from "../secrets.ts";
import { ModelPriceCache } from "../model-prices.ts";
import { requeueRun } from "../../db/sql/requeueRun.ts";
import { runStateStreamed } from "../../db/sql/runStateStreamed.ts";
import { isAgentTool, pendingCalls, turnStartedChildren } from "../sub-agents.ts";
import type { StepStatementOptions, WithNotifications } from "../../db/sql/deferredNotifications.ts";
import type { Notifier } from "../notifier.ts";
import { attemptTraceparent } from "../../lib/tracing/ids.ts";
import type { WorkerMetrics } from "../metrics.ts";

export interface EngineContext {
  pool: Pool;
  providers: Record<string, Provider>;
  tools: Record<string, Tool>;
  cancellations: Cancellations;
  log: Logger;
  /** Parsed agent configs by "<agent id>:<version>" (immutable once written). */
  configs?: Map<string, ReturnType<typeof AgentConfigSchema.safeParse>>;
  /** Conversations of recent LLM calls, so the next call of the same run fetches only what is new. */
  histories?: HistoryCache;
  /** Decrypts the secrets an agent's config refers to (http tool headers, api_key_secret), per run's workspace. */
  secrets?: SecretResolver;
  /** The workspaces' own model prices (everruns.model_prices), cached; made by makeRunStepTask when not given. */
  prices?: ModelPriceCache;
  /**
   * How long (ms) one job may go on running the steps of its run back to back, each commit
   * beginning the next step in the same transaction, while every slot of this worker is busy
   * (other runs wait for one). While a slot is free the job chains on for up to MAX_CHAIN_MS.
   * 0: every step is its own job.
   */
  inlineChainMs?: number;
  /** The steps this worker runs now and may run at once (--max-in-flight); set by makeRunStepTask. */
  inFlight?: { running: number; max: number };
  /** Aborted when the worker starts a graceful shutdown: no new step is begun inline. */
  draining?: AbortSignal;
  /** How long (ms) a finished step retries its commit while the database is unreachable; default DEFAULT_COMMIT_RETRY_MS. */
  commitRetryMs?: number;
  /**
   * Sends the notifications of this worker's step statements after their commits, coalesced
   * (worker/notifier.ts): a NOTIFY inside a step's transaction would serialize every commit on
   * Postgres's notify lock. Without one, the statements notify inside their transactions.
   */
  notifier?: Notifier;
  /** The tools of agents' MCP servers (worker/mcp/tools.ts); without it a run of such an agent fails with mcp_unavailable. */
  mcp?: McpTools;
  /**
   * Whether agents' contexts are managed (docs/context.md): EVERRUNS_CONTEXT_COMPACTION, read by
   * makeRunStepTask when not given; false: every call sends the whole thread.
   */
  contextCompaction?: boolean;
  /** What this worker measures of its steps for /metrics (worker/metrics.ts); absent, nothing is measured. */
  metrics?: WorkerMetrics;
  /**
   * OpenTelemetry traces (worker/trace-export.ts), when this worker has them configured: told of
   * each commit (the export happens off the step's path), and its steps send a traceparent to
   * their http tools and MCP servers. Unset: no tracing work at all.
   */
  traces?: { afterCommit(runId: string): void };
  /** Test hook: called at named points of a step, so tests can crash the process there. */
  crashPoint?: (point: string, info: { runId: string; seq: number; attempt: number }) => void;
}

/** A step job's payload (everruns_private.enqueue_step): the run to advance. */
const StepJobPayloadSchema = z.object({ run_id: z.uuid() });

/**
 * The job this task ran in was freed from this worker by a sweeper (it judged the worker dead)
 * and now carries the run on elsewhere, or is pending for whoever takes it. graphile-worker
 * completes a job by deleting it by id; failing this task instead leaves the job alone (its
 * failure path only touches a job still locked by this pool).
 */
export class JobTakenOverError extends Error {
  constructor(jobId: string) {
    super(`job ${jobId} was freed from this worker while it ran (its liveness connection was judged lost); leaving the job to whoever holds it now`);
    this.name = "JobTakenOverError";
  }
}

export function makeRunStepTask(ctx: EngineContext): Task {
  // one cache per worker: a workspace's prices are read once per TTL, not per step
  ctx.prices ??= new ModelPriceCache({ db: ctx.pool });
  // read at start: a wrong value stops the worker rather than each step
  ctx.contextCompaction ??= compactionFromEnv();
  return async (payload, helpers) => {
    const { run_id } = StepJobPayloadSchema.parse(payload);
    const { id, locked_by, attempts } = helpers.job;
    if (attempts > 1) {
      // taken again: its worker died (or the task failed) while it ran. The run gets a fresh job,
      // so no job's attempts (and failure backoff) grow with the crashes it survived (000005).
      await requeueRun(ctx.pool, run_id);
      return;
    }
    const job = locked_by ? { id, locked_by } : undefined;
    if (ctx.inFlight) ctx.inFlight.running++;
    try {
      const held = await runStep(ctx, run_id, helpers.abortSignal, job);
      if (!held && job) throw new JobTakenOverError(job.id);
    } finally {
      if (ctx.inFlight) ctx.inFlight.running--;
    }
  };
}

/**
 * The longest one job chains its run's steps even while this worker has free slots. Bounded:
 * graphile-worker treats a job locked for 4 hours as abandoned, and a run that goes back to the
 * queue now and then lets the queue's order (and, later, its fairness) apply to it too.
 */
export const MAX_CHAIN_MS = 5 * 60_000;

/** How this worker's step statements treat their notifications: deferred to ctx.notifier when there is one (000017). */
function deferral(ctx: EngineContext): StepStatementOptions {
  return { deferNotifications: ctx.notifier !== undefined };
}

/** Hands a committed statement's deferred notifications to the notifier; returns the result. */
function sent<T extends WithNotifications>(ctx: EngineContext, result: T): T {
  ctx.notifier?.add(result.notifications);
  return result;
}

const STREAM_TYPES = new Set(["TEXT_MESSAGE_END", "TOOL_CALL_END", "REASONING_END"]);

/**
 * Runs the current step of a run and, while the run continues and this job's inline budget
 * (ctx.inlineChainMs) lasts, the steps after it: each commit begins the next step in the same
 * transaction, for this job to run at once (everruns_private.commit_step_and_begin_next).
 * Returns false when the worker no longer holds `job` (see JobTakenOverError).
 */
export async function runStep(ctx: EngineContext, runId: string, shutdown?: AbortSignal, job?: JobRef): Promise<boolean> {
  const budgetMs = ctx.inlineChainMs ?? 0;
  const since = performance.now();
  // Chaining saves the job round trip and its wake-up (graphile-worker's add_job NOTIFYs inside
  // the commit, which serializes commits on Postgres's notify lock). While every slot is busy,
  // other runs wait for one: the job hands its run back to the queue once its budget is spent.
  const mayChain = () => {
    if (job === undefined || budgetMs === 0 || shutdown?.aborted || ctx.draining?.aborted) return false;
    const elapsed = performance.now() - since;
    const slotFree = ctx.inFlight !== undefined && ctx.inFlight.running < ctx.inFlight.max;
    return elapsed < budgetMs || (slotFree && elapsed < MAX_CHAIN_MS);
  };
  const chain: Chain = { job, held: true, mayChain };
  // null: the run finished, was cancelled or waits for an answer
  let begun = sent(ctx, await beginStep(ctx.pool, runId, deferral(ctx))).begun;
  while (begun) {
    begun = await runAttempt(ctx, begun, chain, shutdown);
    if (begun && (shutdown?.aborted || ctx.draining?.aborted)) {
      // the shutdown began while the commit that began this step was on its way: hand the step
      // back untouched rather than start its work
      const back = sent(ctx, await rescheduleStep(ctx.pool, runId, begun.run.step_cursor, begun.run.step_attempt, 0, false, [], chain.job, deferral(ctx)));
      chain.held &&= back.jobHeld;
      childLogger(ctx.log, stepLogBindings(begun, chain.job)).info(`handed step ${begun.run.step_cursor} of run ${runId} back: worker shutting down`);
      break;
    }
  }
  return chain.held;
}

/** When each attempt began in this process (performance.now()), by its begun run: its step's duration at commit (ctx.metrics). */
const attemptStarts = new WeakMap<BegunStep["run"], number>();

/** The job a step runs in, whether this worker still holds it, and whether a commit may begin the next step in it now. */
interface Chain {
  job: JobRef | undefined;
  held: boolean;
  mayChain: () => boolean;
}

/** What every line logged about a begun step carries (docs/observability.md "Logs"). */
export function stepLogBindings(begun: BegunStep, job?: JobRef): LogBindings {
  const { run } = begun;
  return {
    run_id: run.id,
    seq: run.step_cursor,
    attempt: run.step_attempt,
    workspace_id: run.workspace_id,
    // the trace the run joined when it carries a traceparent (runs.trace_parent), else its own
    trace_id: runTraceId(run.id, run.trace_parent),
    agent_id: run.agent_id,
    ...(job && { job_id: String(job.id), pool_id: job.locked_by }),
  };
}

/** One attempt at a begun step. Returns the next step when its commit began it here. */
async function runAttempt(engine: EngineContext, begun: BegunStep, chain: Chain, shutdown?: AbortSignal): Promise<BegunStep | null> {
  const runId = begun.run.id;
  const seq = begun.run.step_cursor;
  const attempt = begun.run.step_attempt;
  // the attempt's own logger, passed down in its context: every line carries the step's bindings
  const ctx: EngineContext = { ...engine, log: childLogger(engine.log, stepLogBindings(begun, chain.job)) };
  ctx.log.debug(`step ${seq} of run ${runId}: attempt ${attempt} begun`);
  ctx.crashPoint?.("after_begin", { runId, seq, attempt });
  if (ctx.metrics) {
    attemptStarts.set(begun.run, performance.now());
    ctx.metrics.stepBegan(begun.run);
  }

  const controller = new AbortController();
  const unregister = ctx.cancellations.register(runId, controller);
  const onShutdown = () => controller.abort(new StepAbort("shutdown", "the worker is shutting down"));
  if (shutdown?.aborted) onShutdown();
  shutdown?.addEventListener("abort", onShutdown, { once: true });
  const writer = new EventWriter({
    pool: ctx.pool,
    ...(ctx.notifier && { notifier: ctx.notifier }),
    runId,
    seq,
    attempt,
    onFenced: (error) => controller.abort(new StepAbort("fenced", error.message)),
  });
  try {
    return await attemptStep(ctx, begun, writer, controller.signal, chain);
  } catch (error) {
    const reason = controller.signal.reason as unknown;
    if (error instanceof StaleAttemptError || (reason instanceof StepAbort && reason.reason !== "shutdown")) {
      ctx.log.debug(`step ${seq} of run ${runId} attempt ${attempt} was fenced out or cancelled; leaving it`);
      ctx.metrics?.stepEnded("unknown", "fenced", null);
      return null;
    }
    if (reason instanceof StepAbort && reason.reason === "shutdown") {
      await writer.drain();
      // Hand the step back uncommitted; another worker (or this one, restarted) picks it up.
      const back = sent(ctx, await rescheduleStep(ctx.pool, runId, seq, attempt, 0, false, [], chain.job, deferral(ctx)));
      chain.held &&= back.jobHeld;
      ctx.log.info(`handed step ${seq} of run ${runId} back: worker shutting down`);
      return null;
    }
    throw error;
  } finally {
    unregister();
    shutdown?.removeEventListener("abort", onShutdown);
  }
}

async function attemptStep(ctx: EngineContext, begun: BegunStep, writer: EventWriter, signal: AbortSignal, chain: Chain): Promise<BegunStep | null> {
  const { run } = begun;
  const seq = run.step_cursor;
  const fail = async (code: string, message: string, step: Partial<StepRecord> = {}) => {
    await writer.drain(); // a failing step commits only its RUN_ERROR; SQL closes what is open
    return commit(
      ctx,
      begun,
      { kind: "system", name: code, status: "failed", error: { code, message }, ...step },
      [{ type: "RUN_ERROR", message, code }],
      { type: "fail", error: { code, message } },
      chain,
    );
  };

  // a workflow (docs/workflows.md): its steps are its states' transitions
  if (isWorkflowConfig(begun.config)) return attemptWorkflowStep(ctx, begun, writer, signal, chain, fail);

  const config = parseConfig(ctx, run.agent_id, run.agent_version, begun.config);
  if (!config.success) return fail("invalid_agent_config", `agent version ${run.agent_version} has an invalid config: ${describeIssues(config.error)}`);
  const input = RunInputSchema.safeParse(run.input);
  if (!input.success) return fail("invalid_run_input", `invalid run input: ${describeIssues(input.error)}`);
  if (seq > config.data.max_steps) {
    return fail("max_steps", `the run reached its max_steps limit (${config.data.max_steps}) without a final answer`);
  }

  if (run.event_seq === 0) {
    writer.push({ type: "RUN_STARTED", threadId: run.thread_id, runId: run.id });
    // the state the run starts from (resolved as this first attempt began, 000030): it must match
    // the agent's state_schema as every update must (a client's state, or one carried on from a
    // run under an older schema, may not); AG-UI clients start from it
    if (run.state && config.data.state_schema) {
      const problems = outputProblems(config.data.state_schema, run.state);
      if (problems) {
        return fail(
          "invalid_run_input",
          `the run's starting state (its input's "state", or the state of the run it continues on its thread) does not match the agent's state_schema: ${problems}. ` +
            'Send a "state" that matches it, or start a new thread.',
        );
      }
    }
    if (run.state) writer.push({ type: "STATE_SNAPSHOT", snapshot: run.state });
    const admitted = admittedEvent(run);
    if (admitted) writer.push(admitted);
  }
  if (begun.closed.some((e) => STREAM_TYPES.has(String(e.type)))) {
    // A dead attempt streamed part of a message: replace the client's view with what is committed.
    writer.push({ type: "MESSAGES_SNAPSHOT", messages: agUiMessages(await threadHistory(ctx.pool, run.id)) });
  }

  const usage: Usage = UsageSchema.catch({ input_tokens: 0, output_tokens: 0, cost_usd: 0 }).parse(run.usage);
  const secrets = ctx.secrets?.forWorkspace(run.workspace_id);
  const scope: StepScope = {
    runId: run.id,
    threadId: run.thread_id,
    seq,
    attempt: run.step_errors + 1,
    config: config.data,
    writer,
    signal,
    usage,
    ...(secrets && { secrets }),
    // the span of this attempt as the parent of what its tools call (lib/tracing/ids.ts)
    ...(ctx.traces && { traceparent: attemptTraceparent(run.id, run.trace_parent, seq, run.step_attempt) }),
    // and the caller's tracestate with it, unchanged (W3C)
    ...(ctx.traces && run.trace_state && { tracestate: run.trace_state }),
  };
  const tools = agentTools(config.data, ctx.tools, secrets);
  if (mcpServers(config.data).length > 0) {
    if (!ctx.mcp) return fail("mcp_unavailable", "this worker has no MCP client; the agent's MCP servers cannot be used");
    try {
      const mcp = await ctx.mcp.forRun(
        { id: run.id, workspaceId: run.workspace_id, seq, attempt: run.step_attempt, parentRunId: run.parent_run_id, log: ctx.log },
        config.data,
        secrets,
        signal,
        new Set(tools.keys()),
      );
      for (const [name, tool] of mcp) tools.set(name, tool);
    } catch (error) {
      if (signal.aborted || error instanceof StaleAttemptError) throw error;
      if (error instanceof McpUnavailableError) return fail("mcp_unavailable", error.message);
      if (error instanceof TransientToolError) return onRetryableError(ctx, begun, writer, scope, error, chain);
      // our database (unreachable, or one of its timeouts): graphile-worker retries the job
      if (isConnectionError(error) || isDbTimeout(error)) throw error;
      // anything else (a list the database refuses, a bug) would fail every replay the same way
      ctx.log.error(`run ${run.id}: the tools of its MCP servers could not be set up: ${(error as Error).stack ?? String(error)}`);
      return fail("mcp_unavailable", `the tools of the agent's MCP servers could not be set up: ${(error as Error).message ?? String(error)}`);
    }
  }
  // a managed context stubs large tool results: read_result reads them (offered when not listed)
  const managed = ctx.contextCompaction === false ? null : contextSettings(config.data);
  const autoReadResult =
    managed && !tools.has(READ_RESULT) && ctx.tools[READ_RESULT]
      ? { definition: ctx.tools[READ_RESULT].definition, requiresApproval: false, tool: ctx.tools[READ_RESULT] }
      : undefined;
  const clients = clientTools(begun.history);
  for (const name of tools.keys()) clients.delete(name); // the agent's own tool wins a name clash
  const plan = planStep(begun.history, {
    needsApproval: (name) => tools.get(name)?.requiresApproval === true,
    isClientTool: (name) => clients.has(name),
  });

  // run budgets (worker/run-budget.ts): an answer that stops ends the run here; with a budget the
  // spend is read before an LLM or tool call begins (none without one), and a limit reached ends
  // the run interrupted instead of the call
  let budgeted = stopAnswer(input.data.resume) ? stopStep(scope, lastTurnText(begun)) : null;
  // checked before a step that makes a call (worker/run-budget.ts); one that only records what is
  // decided already (a woken wait, a client's result, a rejected approval) must commit it, or the
  // wait's signal and record are lost to the interrupt
  // (nor a sub-agent call of a turn that started its children: the child runs, the call waits for it)
  const childUnderway = plan.kind === "tool" && isAgentTool(tools.get(plan.call.name)?.tool) && turnStartedChildren(begun.history);
  const callKind = plan.kind === "llm" ? "llm" : plan.kind === "tool" && makesCall(plan) && !childUnderway ? "tool" : null;
  if (!budgeted && config.data.budget && callKind) {
    try {
      budgeted = await checkBudget(ctx.pool, scope, config.data.budget, callKind, lastTurnText(begun));
    } catch (error) {
      if (signal.aborted || error instanceof StaleAttemptError || isConnectionError(error) || isDbTimeout(error)) throw error;
      // anything else would fail every replay of the job the same way: end the run instead
      ctx.log.error(`run ${run.id}: the budget check of step ${seq} failed: ${(error as Error).stack ?? String(error)}`);
      return fail("internal_error", `the budget check of step ${seq} failed unexpectedly: ${(error as Error).message ?? String(error)}`);
    }
  }
  if (budgeted) {
    ctx.crashPoint?.("before_commit", { runId: run.id, seq, attempt: run.step_attempt });
    for (const event of budgeted.events) writer.push(event);
    return commit(ctx, begun, budgeted.step, await writer.drain(), budgeted.next, chain);
  }

  // the engine's read_result runs when the model calls it (it was offered with a stub)
  if (autoReadResult && plan.kind === "tool" && plan.call.name === READ_RESULT) tools.set(READ_RESULT, autoReadResult);

  let outcome: StepOutcome;
  try {
    if (plan.kind === "llm" && begun.quota) {
      ctx.log.info(`run ${run.id}: its workspace's ${begun.quota.limit} is used up; parking until ${begun.quota.resets_at}`);
      outcome = quotaPark(begun.quota);
    } else if (plan.kind === "llm") {
      const provider = ctx.providers[config.data.provider];
      if (!provider) return fail("provider_unavailable", `provider "${config.data.provider}" is not configured on this worker`);
      // a managed context needs the thread from its latest summary on (worker/context/), not the turns it summarised
      const history = ctx.histories?.assemble(run.id, begun.history) ?? (await (managed ? threadHistorySinceSummary : threadHistory)(ctx.pool, run.id));
      // the workspace's own prices over the built-in table (worker/pricing.ts)
      if (ctx.prices) scope.prices = await ctx.prices.forWorkspace(run.workspace_id);
      // an agent that keeps a state is told a state its client gave (conversation.ts stateNote)
      const inputState = tools.has("update_state");
      // read_result offered by the engine (not listed by the agent) only once a result is stubbed or summarised
      const definitions = (stubbed: boolean) => [
        ...[...tools.values()].map((t) => t.definition),
        ...(stubbed && autoReadResult ? [autoReadResult.definition] : []),
        ...[...clients.values()].map((t) => ({
          name: t.name,
          description: t.description ?? "",
          parameters: (t.parameters as Record<string, unknown>) ?? { type: "object" },
        })),
      ];
      // a managed context (docs/context.md) sends the latest summary and what follows it, or compacts first
      const sending = managed ? planContext(history, config.data, managed, { inputState, definitions }) : null;
      if (sending?.kind === "overflow") return fail("context_overflow", sending.message);
      if (sending?.kind === "compact") {
        outcome = await runCompactionStep(scope, provider, sending.compaction, begun.llm_count);
      } else {
        // the cache joins up at the next LLM call, which begins its turn at this one
        ctx.histories?.remember(run.id, seq, history);
        const messages = sending?.messages ?? chatMessages(history, { inputState });
        const context = sending ? { summarized: sending.summarized, figures: sending.figures } : undefined;
        // read_result is offered once a stub or a summary (which may name call ids) is sent
        const offerRead = sending !== null && (sending.stubbed > 0 || sending.summarized);
        const llmStarted = performance.now();
        let answered: StepOutcome | undefined;
        try {
          outcome = answered = await runLlmStep(scope, provider, messages, definitions(offerRead), begun.llm_count, context);
        } finally {
          ctx.metrics?.llmCall(config.data.provider, config.data.model, (performance.now() - llmStarted) / 1000, answered?.step.usage);
        }
      }
    } else if (plan.kind === "tool") {
      outcome = await runToolStep(
        scope,
        {
          ...plan,
          waiting: run.waiting,
          signals: begun.signals,
          turnText: lastTurnText(begun),
          dispatches: dispatchLog(ctx, run.id, seq, run.step_attempt),
          firstAttempt: run.step_attempt === 1,
          // the state as this attempt began: only a step's commit changes it, and this attempt's
          // fence (step_cursor, step_attempt) lets no other attempt commit this step
          readState: () => Promise.resolve(run.state ?? null),
          stateStreamed: () => runStateStreamed(ctx.pool, run.id),
          // read_result: the run's own thread only, a slice no longer than a result sent whole
          readToolResult: (id, offset, limit) =>
            threadToolResult(ctx.pool, run.id, id, offset, Math.min(limit, managed?.toolResultMaxChars ?? READ_RESULT_MAX_LIMIT)),
          // sub-agent calls (worker/sub-agents.ts): the turn's calls still to answer
          caller: { db: ctx.pool, workspaceId: run.workspace_id, pendingCalls: () => pendingCalls(begun.history) },
        },
        tools,
      );
    } else {
      outcome = runInterruptStep(scope, plan.approvals, plan.clientCalls, lastTurnText(begun));
    }
  } catch (error) {
    if (signal.aborted || error instanceof StaleAttemptError) throw error;
    if (error instanceof ProviderError || error instanceof TransientToolError) return onRetryableError(ctx, begun, writer, scope, error, chain);
    // our database (unreachable, or one of its timeouts): graphile-worker retries the job
    if (isConnectionError(error) || isDbTimeout(error)) throw error;
    ctx.log.error(`step ${seq} of run ${run.id} failed unexpectedly: ${(error as Error).stack ?? String(error)}`);
    return fail("internal_error", `step ${seq} failed unexpectedly: ${(error as Error).message ?? String(error)}`);
  }
  ctx.crashPoint?.("before_commit", { runId: run.id, seq, attempt: run.step_attempt });
  for (const event of outcome.events) writer.push(event);
  return commit(ctx, begun, outcome.step, await writer.drain(), outcome.next, chain);
}

/** A step of a workflow run (worker/workflow/engine.ts): read where it stands, then finish or park its current state. */
async function attemptWorkflowStep(
  ctx: EngineContext,
  begun: BegunStep,
  writer: EventWriter,
  signal: AbortSignal,
  chain: Chain,
  fail: (code: string, message: string) => Promise<BegunStep | null>,
): Promise<BegunStep | null> {
  const { run } = begun;
  const seq = run.step_cursor;
  const config = parseWorkflowConfig(run.agent_id, run.agent_version, begun.config);
  if (!config.success)
    return fail("invalid_agent_config", `agent version ${run.agent_version} has an invalid workflow config: ${describeIssues(config.error)}`);
  const input = RunInputSchema.safeParse(run.input);
  if (!input.success) return fail("invalid_run_input", `invalid run input: ${describeIssues(input.error)}`);
  if (seq > config.data.max_steps) return fail("max_steps", `the workflow run reached its max_steps limit (${config.data.max_steps})`);
  if (run.event_seq === 0) {
    writer.push({ type: "RUN_STARTED", threadId: run.thread_id, runId: run.id });
    if (run.state) writer.push({ type: "STATE_SNAPSHOT", snapshot: run.state });
    const admitted = admittedEvent(run);
    if (admitted) writer.push(admitted);
  }
  const secrets = ctx.secrets?.forWorkspace(run.workspace_id);
  let outcome: StepOutcome;
  try {
    // loaded on a workflow's first step: an agent-only worker starts without it (JSONPath, ASL)
    const { runWorkflowStep } = await import("../workflow/engine.ts");
    outcome = await runWorkflowStep(
      {
        db: ctx.pool,
        runId: run.id,
        threadId: run.thread_id,
        workspaceId: run.workspace_id,
        agentId: run.agent_id,
        agentVersion: run.agent_version,
        seq,
        input: input.data,
        runState: run.state ?? null,
        signals: begun.signals,
        signal,
        attempt: run.step_attempt,
        parentRunId: run.parent_run_id,
        ...(secrets && { secrets }),
        ...(ctx.mcp && { mcp: ctx.mcp }),
        // the span of this attempt as the parent of what its http and MCP Tasks call (lib/tracing/ids.ts)
        ...(ctx.traces && { traceparent: attemptTraceparent(run.id, run.trace_parent, seq, run.step_attempt) }),
        ...(ctx.traces && run.trace_state && { tracestate: run.trace_state }),
      },
      config.data,
    );
  } catch (error) {
    if (signal.aborted || error instanceof StaleAttemptError) throw error;
    if (isConnectionError(error) || isDbTimeout(error)) throw error;
    ctx.log.error(`step ${seq} of workflow run ${run.id} failed unexpectedly: ${(error as Error).stack ?? String(error)}`);
    return fail("internal_error", `step ${seq} failed unexpectedly: ${(error as Error).message ?? String(error)}`);
  }
  ctx.crashPoint?.("before_commit", { runId: run.id, seq, attempt: run.step_attempt });
  for (const event of outcome.events) writer.push(event);
  return commit(ctx, begun, outcome.step, await writer.drain(), outcome.next, chain);
}

/** Workflow configs parsed once per worker (versions never change). */
const workflowConfigs = new Map<string, ReturnType<typeof WorkflowAgentConfigSchema.safeParse>>();

function parseWorkflowConfig(agentId: string, version: number, raw: unknown) {
  return cachedParse(workflowConfigs, `${agentId}:${version}`, () => WorkflowAgentConfigSchema.safeParse(raw));
}

/** The CUSTOM everruns.admitted event of a run that waited for a worker slot (its workspace's max_running_runs, or fair share), or null. */
function admittedEvent(run: BegunStep["run"]): AgUiEvent | null {
  const waitedMs = run.admitted_at ? Date.parse(run.admitted_at) - Date.parse(run.created_at) : 0;
  if (waitedMs <= 0) return null;
  return { type: "CUSTOM", name: "everruns.admitted", value: { waited_ms: Math.round(waitedMs), queued_at: run.created_at, admitted_at: run.admitted_at } };
}

/**
 * Whether a tool step calls its tool: not when it only records what was decided already (a wait
 * woken or timed out, a client tool's result, a rejected approval, an unknown outcome answered
 * with a result or a skip).
 */
function makesCall(plan: Extract<Plan, { kind: "tool" }>): boolean {
  if (plan.waited || plan.client) return false;
  if (plan.decision && !plan.decision.approved) return false;
  return !plan.outcome || plan.outcome.action === "retry";
}

/** The text of the run's last LLM turn (an interrupt's RUN_FINISHED carries it). */
function lastTurnText(begun: BegunStep): string {
  const turn = [...begun.history].reverse().find((e) => e.kind === "step" && e.step.kind === "llm");
  return turn?.kind === "step" ? LlmOutputSchema.parse(turn.step.output).text : "";
}

/** Dispatch records of this step's tracked tool calls (MCP tools), fenced by its attempt. */
function dispatchLog(ctx: EngineContext, runId: string, seq: number, attempt: number): DispatchLog {
  return {
    read: (turnRunId, toolCallId) => readToolDispatch(ctx.pool, turnRunId, toolCallId),
    mark: (call) => markToolDispatched(ctx.pool, { runId, seq, attempt, ...call }),
    settle: (call) => settleToolDispatch(ctx.pool, { runId, seq, attempt, ...call }),
  };
}

/** An agent version's config, parsed once per worker (versions never change). */
function parseConfig(ctx: EngineContext, agentId: string, version: number, raw: unknown) {
  return cachedParse(ctx.configs, `${agentId}:${version}`, () => AgentConfigSchema.safeParse(raw));
}

/** A parse kept in `cache` (at most 500, oldest out first) by its version's key; no cache: parsed each time. */
function cachedParse<T>(cache: Map<string, T> | undefined, key: string, parse: () => T): T {
  let parsed = cache?.get(key);
  if (parsed === undefined) {
    parsed = parse();
    if (cache) {
      if (cache.size >= 500) cache.delete(cache.keys().next().value!);
      cache.set(key, parsed);
    }
  }
  return parsed;
}

/** A transient failure of an LLM or tool call: retry with the agent's policy, or give up. */
async function onRetryableError(
  ctx: EngineContext,
  begun: BegunStep,
  writer: EventWriter,
  scope: StepScope,
  error: ProviderError | TransientToolError,
  chain: Chain,
): Promise<BegunStep | null> {
  const { run } = begun;
  const policy = scope.config.retry;
  const failures = run.step_errors + 1;
  await writer.drain(); // what was not written yet is dropped with the attempt
  const retryable = error instanceof TransientToolError || error.retryable;
  if (retryable && failures < policy.max_attempts) {
    const delay = backoffMs(policy, failures, error.retryAfterMs);
    const notice: AgUiEvent = {
      type: "CUSTOM",
      name: "everruns.retry",
      value: {
        step: run.step_cursor,
        attempt: failures,
        max_attempts: policy.max_attempts,
        delay_ms: delay,
        error: { code: error.code, message: error.message, status: error.status },
      },
    };
    let back;
    try {
      back = sent(ctx, await rescheduleStep(ctx.pool, run.id, run.step_cursor, run.step_attempt, delay, true, [notice], chain.job, deferral(ctx)));
    } catch (rescheduleError) {
      if (!isDataError(rescheduleError)) throw rescheduleError;
      // a value the database refuses would fail every replay of the job: end the run instead of leaving it running
      return failRefused(
        ctx,
        begun,
        chain,
        "unschedulable",
        `step ${run.step_cursor} could not be retried in ${delay} ms (after: ${error.message})`,
        rescheduleError,
      );
    }
    chain.held &&= back.jobHeld;
    if (ctx.metrics) {
      const kind = error instanceof TransientToolError ? "tool" : "llm";
      ctx.metrics.retried(kind, error instanceof TransientToolError ? "tool" : scope.config.provider, error.code);
      ctx.metrics.stepEnded(kind, "retried", null);
    }
    ctx.log.info(`step ${run.step_cursor} of run ${run.id}: ${error.message}; retry ${failures}/${policy.max_attempts - 1} in ${delay} ms`);
    return null;
  }
  // a tool's transient failures end as the tool's result (tool-step.ts); one that gets here is an MCP server's tool listing
  const what = error instanceof TransientToolError ? "listing the MCP server's tools" : "the LLM call";
  const message = retryable
    ? `${what} failed ${failures} time(s), the agent's retry.max_attempts; last error: ${error.message}`
    : `${what} failed and is not retryable: ${error.message}`;
  return commit(
    ctx,
    begun,
    {
      kind: error instanceof TransientToolError ? "system" : "llm",
      name: error instanceof TransientToolError ? error.code : (scope.config.model ?? scope.config.provider),
      status: "failed",
      error: { code: error.code, message, status: error.status },
    },
    [{ type: "RUN_ERROR", message, code: error.code }],
    { type: "fail", error: { code: error.code, message } },
    chain,
  );
}

/**
 * True for a data exception of the database (SQLSTATE class 22: out of range, overflow...): the
 * values sent were refused, and sending them again will not help.
 */
export function isDataError(error: unknown): boolean {
  for (let e = error as { code?: unknown; cause?: unknown } | null, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === "string" && e.code.startsWith("22")) return true;
  }
  return false;
}

/**
 * Ends the run failed with `code`: its step could not be retried (`unschedulable`) or committed
 * (`commit_refused`) with the values it had; the job's retries would only fail the same way.
 */
function failRefused(
  ctx: EngineContext,
  begun: BegunStep,
  chain: Chain,
  code: "unschedulable" | "commit_refused",
  what: string,
  cause: unknown,
): Promise<BegunStep | null> {
  const message = `${what}: the database refused it (${(cause as Error).message ?? String(cause)})`;
  ctx.log.error(`run ${begun.run.id}: ${message}`);
  return commit(
    ctx,
    begun,
    { kind: "system", name: code, status: "failed", error: { code, message } },
    [{ type: "RUN_ERROR", message, code }],
    { type: "fail", error: { code, message } },
    chain,
  );
}

/**
 * Commits the step; when the run continues and the job may chain, also begins the next step here.
 * A commit the database refuses for its values (a data exception) ends the run failed instead:
 * retrying the job would only fail again, and the run would stay `running`.
 */
async function commit(ctx: EngineContext, begun: BegunStep, step: StepRecord, events: AgUiEvent[], next: NextStep, chain: Chain): Promise<BegunStep | null> {
  const { run } = begun;
  let result: Committed & { next: BegunStep | null; earlier?: boolean };
  try {
    result =
      next.type === "continue" && chain.job && chain.mayChain()
        ? sent(ctx, await commitStepAndBeginNext(ctx.pool, begun, step, events, chain.job, deferral(ctx)))
        : { ...sent(ctx, await commitStep(ctx.pool, run.id, run.step_cursor, run.step_attempt, step, events, next, chain.job, deferral(ctx))), next: null };
  } catch (error) {
    if (mayCommitLater(error)) {
      result = { ...(await commitWhenBack(ctx, begun, step, events, next, chain, error)), next: null };
    } else {
      if (next.type === "fail" || !isDataError(error)) throw error;
      return failRefused(ctx, begun, chain, "commit_refused", `step ${run.step_cursor} (${step.kind} ${step.name}) could not be committed`, error);
    }
  }
  chain.held &&= result.jobHeld;
  if (ctx.metrics) {
    const started = attemptStarts.get(run);
    // `earlier`: a try whose answer was lost committed it (commitWhenBack): not fenced
    ctx.metrics.stepEnded(
      step.kind,
      result.committed || result.earlier ? step.status : "fenced",
      started === undefined ? null : (performance.now() - started) / 1000,
    );
  }
  if (!result.committed) {
    ctx.log.debug(`step ${run.step_cursor} of run ${run.id}: lost the fence at commit; nothing written`);
    return null;
  }
  ctx.traces?.afterCommit(run.id);
  ctx.log.debug(`step ${run.step_cursor} of run ${run.id}: committed (${step.kind} ${step.name}, ${step.status})`);
  ctx.crashPoint?.("after_commit", { runId: run.id, seq: run.step_cursor, attempt: run.step_attempt });
  return result.next;
}

/**
 * A commit that failed this way may succeed if tried again: the database went away, or every
 * connection of the pool stayed busy for the connect timeout (a burst of commits from a thousand
 * slots on a few connections, a database short of CPU). The step's work is done and paid for.
 */
function mayCommitLater(error: unknown): boolean {
  return isConnectionError(error) || error instanceof PoolTimeoutError;
}

/** How long a finished step retries its commit while the database is unreachable (EVERRUNS_COMMIT_RETRY_MS). */
export const DEFAULT_COMMIT_RETRY_MS = 60_000;
const COMMIT_RETRY_BACKOFF: BackoffPolicy = { initial_delay_ms: 100, max_delay_ms: 1_000, multiplier: 2 };

/**
 * The database went away while this step committed, after its work was done: rather than lose
 * the work (an LLM call paid for, a tool's side effect) the commit is tried again until the
 * database answers or ctx.commitRetryMs passes. The first try may have committed before its
 * answer was lost: the fence then refuses the retry (committed false) and nothing is written
 * twice. Retries are plain commits (the next step goes to a job): had the lost try begun the next
 * step in this job, that run has no job now, and the orphan repair gives it one.
 * Past the limit the error goes up: the job is failed or swept, and the step runs again elsewhere.
 */
async function commitWhenBack(
  ctx: EngineContext,
  begun: BegunStep,
  step: StepRecord,
  events: AgUiEvent[],
  next: NextStep,
  chain: Chain,
  lost: unknown,
): Promise<Committed & { earlier?: boolean }> {
  const { run } = begun;
  const what = `step ${run.step_cursor} of run ${run.id}`;
  const limitMs = ctx.commitRetryMs ?? DEFAULT_COMMIT_RETRY_MS;
  const since = performance.now();
  ctx.log.warn(
    `${what}: ${lost instanceof PoolTimeoutError ? "no database connection came free for its commit" : "the database went away while it committed"} (${(lost as Error).message}); ` +
      `retrying the commit for up to ${limitMs / 1000} s (EVERRUNS_COMMIT_RETRY_MS)`,
  );
  for (let tries = 1; ; tries++) {
    const left = limitMs - (performance.now() - since);
    if (left <= 0) {
      ctx.log.warn(`${what}: not committed within ${limitMs / 1000} s of retries; handing it back: it will run again`);
      throw lost;
    }
    await sleep(Math.min(backoffMs(COMMIT_RETRY_BACKOFF, tries), left));
    try {
      const result = sent(ctx, await commitStep(ctx.pool, run.id, run.step_cursor, run.step_attempt, step, events, next, chain.job, deferral(ctx)));
      const after = `${((performance.now() - since) / 1000).toFixed(1)} s`;
      if (result.committed) ctx.log.info(`${what}: committed after ${after} of retries`);
      else
        ctx.log.info(
          `${what}: after ${after} the fence refused the retried commit (an earlier try committed it, or another attempt took over); nothing written twice`,
        );
      // which of the two, for the metrics' label (rare: a lost answer, then a refused retry)
      if (!result.committed && ctx.metrics) {
        const outcome = await readAttemptOutcome(ctx.pool, run.id, run.step_cursor, run.step_attempt).catch(() => null);
        if (outcome === "committed") return { ...result, earlier: true };
      }
      return result;
    } catch (error) {
      if (!mayCommitLater(error)) throw error;
      lost = error;
    }
  }
}
