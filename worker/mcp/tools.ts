// The tools an agent gets from its MCP servers (config tools of "type": "mcp"), for one run.
//
// A run sees one tool list per server for its whole life: the first step that needs it pins a
// list to the run (everruns.run_mcp_tools, fenced by the step's attempt; first pin wins), reusing
// a list of the same agent version and endpoint fetched within the server's tool_list_ttl_s (by
// the database clock) or listing the server now. A retried or resumed step reads the pin, so it
// sees the same tools, names and schemas even when the server changed meanwhile. Pins never
// change: this worker keeps the last runs' pins in memory and reads none twice.
//
// A tool reaches the model as `<server>__<tool>` with the server's JSON Schema; its calls go through
// McpConnections (connections.ts) and are tracked as dispatched (tool-step.ts, AgentTool.dispatch),
// so a crash mid-call is never silently repeated for a tool that is not safe to call again.
//
// A server with `"oauth"` (oauth.ts) gets the workspace's OAuth connection with every listing and
// call, out of band (never in the spec hashed into the pool's key): no connection, or one whose
// tokens were refused, fails the listing with McpUnavailableError saying how to connect (the run
// fails `mcp_unavailable`), and a call with a ToolError saying the same.
//
// Tasks (the MCP tasks extension): a tool listed with `execution.taskSupport` "required", or
// "optional" on a server that offers tasks for tools/call (serverInfo.tasks) unless the spec says
// `"tasks": false`, is called as a task. The tools/call (tracked as any call) answers a task
// handle at once, and the tool parks the run at once (the task's id committed before anything
// else is asked): a durable timer, no worker held, the task in the run's waiting record
// (`state.mcp_task`). Each wake polls tasks/get (read-only, not tracked): still working → park
// again, the wait growing ×1.5 from the server's pollInterval (at least 1 s) up to 10 minutes;
// a poll that cannot reach the server → park and poll again (10 in a row: unknown outcome); completed → tasks/result, the result as
// any call's; failed or cancelled → an error result; input_required → an error result (Everruns
// cannot answer a server's elicitation); a task the server does not know → the call's outcome is
// unknown (OutcomeUnknownError: tool-step.ts decides by on_unknown_outcome). statusMessage
// becomes a `CUSTOM everruns.tool_progress` event. Cancelling the run does not cancel the task.
import { DEFAULT_MCP_MAX_RESULT_BYTES, MAX_AGENT_TOOLS, type AgentConfig, type McpToolSpec } from "../../db/schemas.ts";
import { canonicalMcpUrl } from "../../db/sql/mcpOauth.ts";
import { cachedMcpToolList, pinMcpToolList, pinnedMcpTools, recordMcpListFailure } from "../../db/sql/mcpToolLists.ts";
import { secretKeyFromEnv } from "../../lib/secret-box.ts";
import type { Pool } from "../../db/pool.ts";
import { describeStorableProblem, findStorableProblem } from "../../lib/storable-json.ts";
import type { Logger } from "../../lib/logger.ts";
import type { WorkspaceSecrets } from "../secrets.ts";
import type { AgentTool } from "../tool-step.ts";
import { OutcomeUnknownError, park, ToolError, TransientToolError, type Tool, type ToolContext, type ToolResult } from "../tools/types.ts";
import type { McpConnections, McpServerInfo, McpServerSpec, McpTask } from "./connections.ts";
import { McpOauthRequiredError, McpOauthStore, type McpOauthAuth } from "./oauth.ts";
import { allowed, exposedToolName } from "./names.ts";

/**
 * The worker's MCP connections, loaded on first use (the SDK is not imported at worker start) and
 * shared by every generation of the worker (they outlive a database outage).
 */
export class LazyMcpConnections {
  private loading: Promise<McpConnections> | undefined;
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  get(): Promise<McpConnections> {
    this.loading ??= import("./connections.ts").then(({ McpConnections, MCP_STDIO_ENV }) => {
      const stdio = process.env[MCP_STDIO_ENV];
      return new McpConnections({ log: this.log, ...(stdio !== undefined && { stdio }) });
    });
    return this.loading;
  }

  async close(): Promise<void> {
    if (this.loading) await (await this.loading).close();
  }
}

/** A tool as an MCP server lists it (tools/list), as much of it as Everruns reads. */
interface ListedTool {
  name: string;
  title?: string;
  description?: string;
  inputSchema?: Record<string, unknown>;
  annotations?: { title?: string; readOnlyHint?: boolean; idempotentHint?: boolean; destructiveHint?: boolean; openWorldHint?: boolean };
  execution?: { taskSupport?: string };
}

/** A pinned list: the server's tools and what it said of itself (serverInfo.tasks: it offers tasks). */
interface PinnedList {
  tools: unknown[];
  serverInfo: McpServerInfo | null;
}

/** The ttl asked for a task (ms): the server may keep it shorter; a task it forgot is an unknown outcome. */
export const MCP_TASK_TTL_MS = 24 * 3_600_000;
/** The first wait for a task when the server suggests no pollInterval. */
export const MCP_TASK_FIRST_POLL_MS = 1000;
/** Waits between polls grow by this ... */
export const MCP_TASK_POLL_GROWTH = 1.5;
/**
 * ... up to this (unless the server's pollInterval is longer): 10 minutes, so that a three-hour
 * task takes about 35 polls (each poll is a step, counted toward max_steps), at the price of
 * learning of a long task's end up to 10 minutes late.
 */
export const MCP_TASK_MAX_POLL_MS = 600_000;
/** What a task call keeps in the run's waiting record (ctx.waiting.state.mcp_task). */
interface TaskState {
  task_id: string;
  server: string;
  status: string;
  /** the last wait, ms */
  poll_ms: number;
  /** polls in a row that failed to reach the server (reset by one that answers) */
  failures?: number;
}

/** Polls in a row that may fail to reach the server before the task's outcome is called unknown (about an hour at the longest waits). */
const MAX_POLL_FAILURES = 10;
/** The longest task id kept (it goes into the run's waiting record, wait steps and messages). */
const MAX_TASK_ID_CHARS = 200;

/** How long listing a server's tools may take, unless its timeout_ms says otherwise. */
const LIST_TIMEOUT_MS = 30_000;
/** Runs whose pins this worker remembers. */
const REMEMBERED_RUNS = 1000;

/**
 * The MCP servers an agent cannot use for this run: unreachable after the step's retries, refused
 * by the egress guard, stdio not allowed, a secret missing. The run fails with `mcp_unavailable`.
 */
export class McpUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "McpUnavailableError";
  }
}

export function mcpServers(config: AgentConfig): McpToolSpec[] {
  return config.tools.filter((t): t is McpToolSpec => typeof t === "object" && t.type === "mcp");
}

/** The endpoint a list is cached under: its URL, or the stdio command. */
export function endpointOf(spec: McpToolSpec): string {
  return spec.transport === "stdio" ? `stdio:${(spec.command ?? []).join(" ")}`.slice(0, 2000) : spec.url!;
}

function serverSpec(spec: McpToolSpec): McpServerSpec {
  return {
    name: spec.name,
    transport: spec.transport,
    ...(spec.url !== undefined && { url: spec.url }),
    ...(spec.command !== undefined && { command: spec.command }),
    ...(spec.headers !== undefined && { headers: spec.headers }),
    ...(spec.env !== undefined && { env: spec.env }),
    ...(spec.timeout_ms !== undefined && { timeout_ms: spec.timeout_ms }),
    max_result_bytes: spec.max_result_bytes ?? DEFAULT_MCP_MAX_RESULT_BYTES,
  };
}

export interface RunRef {
  id: string;
  workspaceId: string;
  seq: number;
  attempt: number;
  /** the run this one continues (an answer to its interrupt): its pins carry over */
  parentRunId: string | null;
  /** the step's logger (its lines carry the run, step and attempt: docs/observability.md "Logs"); else the worker's */
  log?: Logger;
}

export class McpTools {
  /** pinned lists by run id, then server name (the lists shared through `lists`) */
  private readonly pins = new Map<string, Map<string, PinnedList>>();
  /** parsed tool lists by list id: many runs pin the same cached list */
  private readonly lists = new Map<string, PinnedList>();

  private readonly pool: Pool;
  private readonly connections: LazyMcpConnections;
  private readonly log: Logger;
  private readonly oauth: McpOauthStore;

  /** `options.secretKey`: EVERRUNS_SECRET_KEY, to open OAuth tokens (default: read from the environment). */
  constructor(pool: Pool, connections: LazyMcpConnections, log: Logger, options: { secretKey?: Buffer | undefined } = {}) {
    this.pool = pool;
    this.connections = connections;
    this.log = log;
    this.oauth = new McpOauthStore({ db: pool, key: "secretKey" in options ? options.secretKey : secretKeyFromEnv(), log });
  }

  /** The workspace's OAuth connection to an `"oauth"` server (McpOauthRequiredError when it has none that works); undefined for others. */
  private async oauthOf(workspaceId: string, spec: McpToolSpec, secrets: WorkspaceSecrets | undefined): Promise<McpOauthAuth | undefined> {
    if (!spec.oauth || spec.transport !== "http" || !spec.url) return undefined;
    return this.oauth.forServer(workspaceId, spec.name, canonicalMcpUrl(spec.url), spec.oauth, secrets);
  }

  /** The tools of the agent's MCP servers for this run, by the names the model sees. */
  async forRun(
    run: RunRef,
    config: AgentConfig,
    secrets: WorkspaceSecrets | undefined,
    signal: AbortSignal,
    taken: ReadonlySet<string>,
  ): Promise<Map<string, AgentTool>> {
    const servers = mcpServers(config);
    const out = new Map<string, AgentTool>();
    if (servers.length === 0) return out;
    const lists = await this.pinned(run, servers, secrets, signal);
    for (const spec of servers) {
      const server = serverSpec(spec);
      const pinned = lists.get(spec.name);
      for (const raw of pinned?.tools ?? []) {
        const listed = raw as ListedTool;
        if (typeof listed?.name !== "string" || !allowed(listed.name, spec.allow)) continue;
        const name = exposedToolName(spec.name, listed.name);
        if (taken.has(name) || out.has(name)) {
          (run.log ?? this.log).warn(
            `run ${run.id}: MCP tool ${spec.name}/${listed.name} is exposed as ${name}, which another tool already has; it is left out`,
          );
          continue;
        }
        const requiresApproval = spec.requires_approval === true || (Array.isArray(spec.requires_approval) && spec.requires_approval.includes(listed.name));
        const idempotent =
          listed.annotations?.readOnlyHint === true || listed.annotations?.idempotentHint === true || (spec.idempotent_tools ?? []).includes(listed.name);
        out.set(name, {
          definition: { name, description: describe(spec, listed), parameters: parametersOf(listed) },
          requiresApproval,
          tool: this.tool(run.workspaceId, spec, server, listed.name, secrets, runsAsTask(spec, listed, pinned?.serverInfo ?? null)),
          dispatch: { idempotent, policy: spec.on_unknown_outcome },
        });
      }
    }
    if (out.size + taken.size > MAX_AGENT_TOOLS) {
      throw new McpUnavailableError(
        `the agent's MCP servers offer ${out.size} tools besides its ${taken.size} others, over the ${MAX_AGENT_TOOLS} a model may be given; narrow them with each server's "allow" list`,
      );
    }
    return out;
  }

  private tool(workspaceId: string, spec: McpToolSpec, server: McpServerSpec, toolName: string, secrets: WorkspaceSecrets | undefined, asTask: boolean): Tool {
    const connections = this.connections;
    const oauthOf = () => this.oauthOf(workspaceId, spec, secrets);
    return {
      definition: { name: toolName, description: "", parameters: { type: "object" } },
      async execute(args, ctx) {
        // read per call: a connection completed (or refused) since the listing counts
        const oauth = await oauthOf();
        if (asTask) return taskCall(await connections.get(), workspaceId, server, secrets, toolName, args, ctx, oauth);
        const outcome = await (
          await connections.get()
        ).callTool(
          workspaceId,
          server,
          secrets,
          {
            tool: toolName,
            arguments: args,
            idempotencyKey: ctx.idempotencyKey,
            signal: ctx.signal,
            ...(ctx.progress && { onProgress: ctx.progress }),
            ...(ctx.traceparent && { traceparent: ctx.traceparent }),
            ...(ctx.tracestate && { tracestate: ctx.tracestate }),
          },
          oauth,
        );
        // an error result is the tool's answer: the model sees it as an error and may react
        if (outcome.isError) throw new ToolError(`${server.name}__${toolName}: ${outcome.content}`);
        return outcome.content;
      },
    };
  }

  /** Every server's pinned list for the run, pinning those that have none yet. */
  private async pinned(run: RunRef, servers: McpToolSpec[], secrets: WorkspaceSecrets | undefined, signal: AbortSignal): Promise<Map<string, PinnedList>> {
    const remembered = this.pins.get(run.id);
    if (remembered && servers.every((s) => remembered.has(s.name))) return remembered;
    const lists = new Map<string, PinnedList>((await pinnedMcpTools(this.pool, run.id)).map((p) => [p.server, this.shared(p.listId, p.tools, p.serverInfo)]));
    // a continuation (the answer to an interrupt) sees the tools its calls were made with
    const inherited =
      run.parentRunId !== null && servers.some((s) => !lists.has(s.name))
        ? new Map((await pinnedMcpTools(this.pool, run.parentRunId)).map((p) => [p.server, p.listId]))
        : new Map<string, string>();
    for (const spec of servers) {
      if (lists.has(spec.name)) continue;
      lists.set(spec.name, await this.pin(run, spec, secrets, signal, inherited.get(spec.name)));
    }
    if (this.pins.size >= REMEMBERED_RUNS) this.pins.delete(this.pins.keys().next().value!);
    this.pins.set(run.id, lists);
    return lists;
  }

  /** One list per list id, whichever run's pin read it. */
  private shared(listId: string, tools: unknown[], serverInfo: Record<string, unknown> | null): PinnedList {
    const known = this.lists.get(listId);
    if (known) return known;
    if (this.lists.size >= REMEMBERED_RUNS) this.lists.delete(this.lists.keys().next().value!);
    const list = { tools, serverInfo: serverInfo as McpServerInfo | null };
    this.lists.set(listId, list);
    return list;
  }

  private async pin(run: RunRef, spec: McpToolSpec, secrets: WorkspaceSecrets | undefined, signal: AbortSignal, parentListId?: string): Promise<PinnedList> {
    const endpoint = endpointOf(spec);
    // an OAuth server the workspace is not connected to fails the run at once, cached list or not
    let oauth: McpOauthAuth | undefined;
    try {
      oauth = await this.oauthOf(run.workspaceId, spec, secrets);
    } catch (error) {
      if (!(error instanceof ToolError)) throw error;
      // the console's MCP servers page shows it (everruns.mcp_servers' last error)
      await recordMcpListFailure(this.pool, run.id, spec.name, endpoint, error.message).catch((e: unknown) =>
        (run.log ?? this.log).warn(`run ${run.id}: could not record MCP server ${spec.name}'s listing failure: ${(e as Error).message}`),
      );
      throw new McpUnavailableError(error.message, { cause: error });
    }
    const reuse =
      parentListId ?? (spec.tool_list_ttl_s > 0 ? (await cachedMcpToolList(this.pool, run.id, spec.name, endpoint, spec.tool_list_ttl_s))?.listId : undefined);
    if (reuse !== undefined) {
      const pinned = await pinMcpToolList(this.pool, { runId: run.id, seq: run.seq, attempt: run.attempt, server: spec.name, listId: reuse, endpoint });
      return this.shared(pinned.listId, pinned.tools, pinned.serverInfo);
    }
    let listing;
    try {
      listing = await (
        await this.connections.get()
      ).listTools(run.workspaceId, serverSpec(spec), secrets, AbortSignal.any([signal, AbortSignal.timeout(spec.timeout_ms ?? LIST_TIMEOUT_MS)]), oauth);
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      const why = (error as Error).message ?? String(error);
      await recordMcpListFailure(this.pool, run.id, spec.name, endpoint, why).catch((e: unknown) =>
        (run.log ?? this.log).warn(`run ${run.id}: could not record MCP server ${spec.name}'s listing failure: ${(e as Error).message}`),
      );
      if (error instanceof McpOauthRequiredError) throw new McpUnavailableError(why, { cause: error });
      if (error instanceof ToolError) throw new McpUnavailableError(`MCP server ${spec.name}: ${why}`, { cause: error });
      // unreachable, timed out, a broken answer: the step is retried with the agent's retry policy
      throw new TransientToolError(`MCP server ${spec.name} could not list its tools: ${why}`, { code: "mcp_unavailable", notDelivered: true, cause: error });
    }
    const problem = findStorableProblem(listing.tools, "tools");
    if (problem) {
      const why = `its tool list cannot be stored: ${describeStorableProblem(problem)}`;
      await recordMcpListFailure(this.pool, run.id, spec.name, endpoint, why).catch(() => undefined);
      throw new McpUnavailableError(`MCP server ${spec.name}: ${why}`);
    }
    const pinned = await pinMcpToolList(this.pool, {
      runId: run.id,
      seq: run.seq,
      attempt: run.attempt,
      server: spec.name,
      endpoint,
      tools: listing.tools,
      serverInfo: listing.serverInfo,
    });
    (run.log ?? this.log).debug(`run ${run.id}: pinned ${listing.tools.length} tools of MCP server ${spec.name}`);
    return this.shared(pinned.listId, pinned.tools, pinned.serverInfo);
  }
}

/** Whether a listed tool is called as a task: it requires it, or it allows it, the server offers tasks and the spec does not say `"tasks": false`. */
function runsAsTask(spec: McpToolSpec, tool: ListedTool, serverInfo: McpServerInfo | null): boolean {
  const support = tool.execution?.taskSupport;
  if (support === "required") return true;
  return support === "optional" && serverInfo?.tasks === true && spec.tasks !== false;
}

/**
 * A task tool's call: first the tools/call that starts the task, then (resumed from its wait)
 * one poll of tasks/get per wake, parking again while it works. Returns the tool's result, or
 * `park(...)`; throws ToolError (the model sees it) or OutcomeUnknownError (the task is lost).
 */
async function taskCall(
  connections: McpConnections,
  workspaceId: string,
  server: McpServerSpec,
  secrets: WorkspaceSecrets | undefined,
  toolName: string,
  args: Record<string, unknown>,
  ctx: ToolContext,
  oauth: McpOauthAuth | undefined,
): Promise<unknown> {
  const label = `${server.name}__${toolName}`;
  const known = ctx.resumed ? taskStateOf(ctx.waiting) : undefined;
  if (ctx.resumed && !known) {
    throw new OutcomeUnknownError(`${label} was woken from its wait, and the run's waiting record names no MCP task: whether its task did its work is unknown`);
  }
  if (!known) {
    const started = await connections.startToolTask(
      workspaceId,
      server,
      secrets,
      {
        tool: toolName,
        arguments: args,
        idempotencyKey: ctx.idempotencyKey,
        signal: ctx.signal,
        ttlMs: MCP_TASK_TTL_MS,
        ...(ctx.traceparent && { traceparent: ctx.traceparent }),
        ...(ctx.tracestate && { tracestate: ctx.tracestate }),
      },
      oauth,
    );
    // a server may answer an optional task tool's call directly
    if ("result" in started) {
      if (started.result.isError) throw new ToolError(`${label}: ${started.result.content}`);
      return started.result.content;
    }
    if (started.task.taskId.length > MAX_TASK_ID_CHARS) {
      throw new OutcomeUnknownError(`${label}: the server started a task with an id over ${MAX_TASK_ID_CHARS} characters, which Everruns does not keep`);
    }
    // The task's id is committed (a wait step) before anything else is asked of the server: a
    // failure after this point can never be taken for a call that did not arrive.
    return parkFor(server, started.task, undefined, 0);
  }
  let task: McpTask;
  try {
    task = await connections.getTask(workspaceId, server, secrets, known.task_id, ctx.signal, oauth);
  } catch (error) {
    // by name: connections.ts (and the SDK under it) is loaded lazily, never by importing this file
    if ((error as Error).name === "McpTaskUnknownError") {
      throw new OutcomeUnknownError(
        `${label} started MCP task ${known.task_id}, and its server no longer knows it (${(error as Error).message}): whether the task did its work is unknown`,
        { cause: error },
      );
    }
    // the server could not be reached: the task goes on there; wait and poll again, a while
    if (error instanceof TransientToolError && !ctx.signal.aborted) {
      const failures = (known.failures ?? 0) + 1;
      if (failures >= MAX_POLL_FAILURES) {
        throw new OutcomeUnknownError(
          `${label} started MCP task ${known.task_id}, and its server could not be reached for ${failures} polls in a row (${error.message}): whether the task did its work is unknown`,
          { cause: error },
        );
      }
      return parkFor(server, { taskId: known.task_id, status: known.status } as McpTask, known, undefined, failures);
    }
    throw error;
  }
  return settleOrPark(connections, workspaceId, server, secrets, label, { ...task, taskId: known.task_id }, known, ctx, oauth);
}

/** The task's result when it ended, else `park(...)` until the next poll. */
async function settleOrPark(
  connections: McpConnections,
  workspaceId: string,
  server: McpServerSpec,
  secrets: WorkspaceSecrets | undefined,
  label: string,
  task: McpTask,
  known: TaskState | undefined,
  ctx: ToolContext,
  oauth: McpOauthAuth | undefined,
): Promise<unknown> {
  const polls = typeof ctx.waiting?.waits === "number" && known ? ctx.waiting.waits : 0;
  if (task.statusMessage !== undefined || known === undefined) {
    ctx.progress?.({ progress: polls, message: task.statusMessage ?? `MCP task ${task.taskId}: ${task.status}` });
  }
  const why = task.statusMessage ? `: ${task.statusMessage.slice(0, 500)}` : "";
  switch (task.status) {
    case "completed": {
      let result;
      try {
        result = await connections.taskResult(workspaceId, server, secrets, task.taskId, ctx.signal, oauth);
      } catch (error) {
        if ((error as Error).name === "McpTaskUnknownError") {
          throw new OutcomeUnknownError(`${label}'s MCP task ${task.taskId} completed, and its server no longer has its result: ${(error as Error).message}`, {
            cause: error,
          });
        }
        throw error;
      }
      if (result.isError) throw new ToolError(`${label}: ${result.content}`);
      return result.content;
    }
    case "failed": {
      // the task's result says why, when the server gives one
      const result = await connections.taskResult(workspaceId, server, secrets, task.taskId, ctx.signal, oauth).catch(() => undefined);
      throw new ToolError(`${label}: its MCP task ${task.taskId} failed${why}${result?.content ? `: ${result.content}` : ""}`);
    }
    case "cancelled":
      throw new ToolError(`${label}: its MCP task ${task.taskId} was cancelled${why}`);
    case "input_required":
      throw new ToolError(
        `${label}: its MCP task ${task.taskId} asked for input${why}, which Everruns cannot give (MCP elicitation is not supported); the task was left waiting on the server`,
      );
    default:
      return parkFor(server, task, known);
  }
}

/**
 * Parks the call until the task's next poll: the server's pollInterval (at least 1 s) at first,
 * then ×1.5 a poll up to MCP_TASK_MAX_POLL_MS, never shorter than the server asks (up to that
 * bound too: a connection idle longer is closed, and a stdio server's tasks with it).
 * `delayMs`: this wait instead (0 right after the start); `failures`: failed polls in a row.
 */
function parkFor(server: McpServerSpec, task: McpTask, known: TaskState | undefined, delayMs?: number, failures?: number): ToolResult {
  const suggested =
    typeof task.pollInterval === "number" && Number.isFinite(task.pollInterval) && task.pollInterval > 0
      ? Math.max(task.pollInterval, MCP_TASK_FIRST_POLL_MS)
      : undefined;
  const grown = known ? known.poll_ms * MCP_TASK_POLL_GROWTH : (suggested ?? MCP_TASK_FIRST_POLL_MS);
  const pollMs = Math.round(Math.min(Math.max(grown, suggested ?? 0), MCP_TASK_MAX_POLL_MS));
  const state: TaskState = {
    task_id: task.taskId,
    server: server.name,
    status: task.status,
    poll_ms: delayMs === 0 ? (suggested ?? MCP_TASK_FIRST_POLL_MS) : pollMs,
    ...(failures !== undefined && { failures }),
  };
  return park({
    delayMs: delayMs ?? pollMs,
    waiting: { type: "timer" },
    again: known !== undefined,
    state: { mcp_task: state },
    output: {
      mcp_task: {
        task_id: task.taskId,
        server: server.name,
        status: task.status,
        ...(task.statusMessage !== undefined && { status_message: task.statusMessage.slice(0, 500) }),
        ...(failures !== undefined && { failed_polls: failures }),
      },
    },
  });
}

function taskStateOf(waiting: Readonly<Record<string, unknown>> | undefined): TaskState | undefined {
  const task = (waiting?.state as { mcp_task?: unknown } | undefined)?.mcp_task as Partial<TaskState> | undefined;
  if (!task || typeof task.task_id !== "string" || typeof task.server !== "string") return undefined;
  return {
    task_id: task.task_id,
    server: task.server,
    status: typeof task.status === "string" ? task.status : "working",
    poll_ms: typeof task.poll_ms === "number" && task.poll_ms > 0 ? task.poll_ms : MCP_TASK_FIRST_POLL_MS,
    ...(typeof task.failures === "number" && { failures: task.failures }),
  };
}

function describe(spec: McpToolSpec, tool: ListedTool): string {
  const own = tool.description ?? tool.annotations?.title ?? tool.title ?? "";
  const server = spec.description ? ` (MCP server ${spec.name}: ${spec.description})` : ` (MCP server ${spec.name})`;
  return `${own}${server}`.slice(0, 4000);
}

/** The tool's input schema as the model's parameters: an object schema, whatever the server sent. */
function parametersOf(tool: ListedTool): Record<string, unknown> {
  const schema = tool.inputSchema;
  if (!schema || typeof schema !== "object" || Array.isArray(schema)) return { type: "object" };
  return schema.type === "object" ? schema : { ...schema, type: "object" };
}
