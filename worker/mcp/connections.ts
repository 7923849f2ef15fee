// MCP client connections of one worker process (issue 17, "MCP client tools"): an agent's `mcp`
// tools are served by MCP servers, reached over Streamable HTTP (or the older HTTP+SSE) through
// the egress guard, or started as a child process over stdio when the operator allows it.
// `McpConnections` pools one initialized client per workspace, server spec and resolved header
// values, so that several calls of a run (and of other runs of the workspace) share one
// initialize; a connection idle for `idleMs` is closed, and a broken one (its transport failed,
// its session expired: 404) is dropped, and the call that found it broken reconnects once when
// the failure proves the request was not delivered.
//
// What a caller may rely on (worker/tool-step.ts decides retries and unknown outcomes from it):
// - ToolError: the model should see it (egress refused, a missing secret, a JSON-RPC error
//   answer, a result over max_result_bytes×2 on the wire, stdio not enabled, a bad spec).
// - TransientToolError with notDelivered true: the request surely did not reach the server
//   (connection refused, DNS, could not connect at all: `mcp_unreachable`; HTTP 429/503:
//   `http_429`/`http_503` with retryAfterMs) — calling again is safe.
// - TransientToolError with notDelivered false (`timeout`, `network`): it may have run.
// - A result with isError is returned with isError true, not thrown.
// - The caller's signal aborted: its reason is rethrown; the SDK has sent notifications/cancelled.
// No message holds a resolved secret value (headers or env): they are replaced by `[secret <name>]`.
//
// The tasks extension (MCP 2025-11-25, the SDK's experimental API): `startToolTask` makes a
// tools/call with `task: {ttl}`, which a server that supports it answers at once with a task
// handle; `getTask` (tasks/get) and `taskResult` (tasks/result) are read-only requests on any
// connection of the same key. A task the server does not know (a JSON-RPC invalid-params answer
// to tasks/get: forgotten, expired, or bound to a session that is gone) is McpTaskUnknownError.
// The listing keeps each tool's `execution.taskSupport` and whether the server offers tasks for
// tools/call (serverInfo.tasks), so that a run's pinned list says how each tool is called.
//
// Every HTTP request goes through the egress guard's `sdkFetch`, wrapped to watch the response
// stream: an SSE event (or a JSON body) larger than the call's cap is refused there, a POST's
// stream that breaks off or ends without an answer fails that call at once (the SDK would wait
// for its timeout). The wrapper finds the call a request belongs to through AsyncLocalStorage.
import { AsyncLocalStorage } from "node:async_hooks";
import { createHash } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport, SseError } from "@modelcontextprotocol/sdk/client/sse.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { FetchLike, Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  CallToolResultSchema,
  CreateTaskResultSchema,
  ErrorCode,
  McpError,
  ResultSchema,
  type CallToolResult,
  type Task,
  type Tool as SdkTool,
} from "@modelcontextprotocol/sdk/types.js";
import { DEFAULT_MCP_MAX_RESULT_BYTES, jsonTextBytes } from "../../db/schemas.ts";
import type { Logger } from "../../lib/logger.ts";
import { retryAfterMs } from "../../lib/retry-after.ts";
import { egressRefusal } from "../../lib/egress/errors.ts";
import type { EgressGuard } from "../../lib/egress/guard.ts";
import { redactSecrets, type WorkspaceSecrets } from "../secrets.ts";
import { resolveHeaders } from "../tools/headers.ts";
import { ToolError, TransientToolError } from "../tools/types.ts";
import type { McpOauthAuth } from "./oauth.ts";
import { cutUtf8, toolResultText } from "./results.ts";

/** An MCP server as an agent config names it (db/schemas.ts holds the validated form). */
export interface McpServerSpec {
  name: string;
  transport: "http" | "stdio";
  url?: string;
  command?: string[];
  headers?: Record<string, string | { secret: string }>;
  env?: Record<string, string | { secret: string }>;
  timeout_ms?: number;
  max_result_bytes?: number;
}

/** A tool as the server lists it (what an agent needs of it). */
export interface McpToolInfo {
  name: string;
  title?: string;
  description?: string;
  inputSchema: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
  annotations?: { title?: string; readOnlyHint?: boolean; destructiveHint?: boolean; idempotentHint?: boolean; openWorldHint?: boolean };
  /** the tasks extension: "required" (must be called as a task), "optional", "forbidden" (the default) */
  execution?: { taskSupport?: "required" | "optional" | "forbidden" };
}

export type McpServerInfo = {
  name?: string;
  version?: string;
  protocolVersion?: string;
  /** the server offers tasks for tools/call (capabilities.tasks.requests.tools.call) */
  tasks?: boolean;
};

/** An MCP task as Everruns reads it (tasks/get, or tools/call's CreateTaskResult). */
export interface McpTask {
  taskId: string;
  status: "working" | "input_required" | "completed" | "failed" | "cancelled";
  statusMessage?: string;
  /** the server's suggested ms between polls */
  pollInterval?: number;
  /** ms the server keeps the task from its creation (null: no limit) */
  ttl?: number | null;
}

/** tasks/get found no such task (forgotten, expired, or bound to another session). */
export class McpTaskUnknownError extends ToolError {
  readonly taskId: string;
  constructor(server: string, taskId: string, detail: string) {
    super(`${server}: the server does not know task ${taskId.slice(0, 200)} (${detail.slice(0, 500)})`);
    this.name = "McpTaskUnknownError";
    this.taskId = taskId;
  }
}

export interface McpProgress {
  progress: number;
  total?: number;
  message?: string;
}

export interface McpCallOptions {
  tool: string;
  arguments: Record<string, unknown>;
  /** `<run_id>:<tool_call_id>`, sent as params._meta["io.everruns/idempotency-key"] */
  idempotencyKey: string;
  signal: AbortSignal;
  onProgress?: (p: McpProgress) => void;
  /**
   * W3C traceparent of the calling step attempt (docs/observability.md, "Traces"): sent as the
   * `traceparent` header of the call's HTTP request and as params._meta.traceparent.
   */
  traceparent?: string;
  /** W3C tracestate of the run's trace, sent unchanged with traceparent (its header and params._meta.tracestate) */
  tracestate?: string;
}

/** A tools/call's params._meta: the idempotency key, and the traceparent (and tracestate) when there is one. */
function callMeta(call: McpCallOptions): Record<string, string> {
  return {
    [IDEMPOTENCY_META_KEY]: call.idempotencyKey,
    ...(call.traceparent && { traceparent: call.traceparent }),
    ...(call.traceparent && call.tracestate && { tracestate: call.tracestate }),
  };
}

export interface McpConnectionsOptions {
  /** default: the process's guard (defaultEgressGuard), loaded on first use */
  guard?: EgressGuard;
  log: Logger;
  /** EVERRUNS_MCP_STDIO: "1" = every workspace, else comma-separated workspace ids; unset = stdio refused */
  stdio?: string;
  /** a connection unused this long is closed (default 5 min) */
  idleMs?: number;
  /** at most this many open connections; past it the least recently used idle one is closed (default 100) */
  maxConnections?: number;
}

/** The operator's setting that enables stdio MCP servers. */
export const MCP_STDIO_ENV = "EVERRUNS_MCP_STDIO";
/** The _meta key of a call's idempotency key. */
export const IDEMPOTENCY_META_KEY = "io.everruns/idempotency-key";
export const DEFAULT_MCP_TIMEOUT_MS = 60_000;
/**
 * The longest a call may go on, progress or not: 3 hours, under graphile-worker's 4-hour lock of
 * the job whose step makes it (STACK: a job locked longer is taken as abandoned).
 */
export const MAX_CALL_MS = 3 * 3_600_000;
/** A server's tool list: at most this many tools ... */
export const MAX_LISTED_TOOLS = 1000;
/** ... and this much JSON. */
export const MAX_TOOL_LIST_BYTES = 2 * 1024 * 1024;
/** Longer than the longest wait between an MCP task's polls (10 min, tools.ts): a task's connection (a stdio server's process) outlives its waits. */
const DEFAULT_IDLE_MS = 15 * 60_000;
const DEFAULT_MAX_CONNECTIONS = 100;
/** The wire cap of one answer other than a tool's result (initialize, a tools/list page). */
const LIST_WIRE_CAP = 2 * MAX_TOOL_LIST_BYTES;
/** Slack on top of 2 × max_result_bytes for a result's JSON-RPC envelope. */
const WIRE_SLACK = 64 * 1024;
/** How much of a stdio server's stderr is kept for error messages. */
const STDERR_KEEP = 4096;
/** How long after a POST's stream ended without an answer the call is declared lost. */
const ANSWER_GRACE_MS = 1000;
/** Tool list pages followed at most (a server looping on its cursor). */
const MAX_LIST_PAGES = 1000;
/** JSON-RPC codes the SDK uses for its own failures (McpError.code is a number). */
const CONNECTION_CLOSED: number = ErrorCode.ConnectionClosed;
const REQUEST_TIMEOUT: number = ErrorCode.RequestTimeout;
const STDIO_ENV_PASSED = ["PATH", "HOME", "LANG"] as const;
/** Error codes that mean the connection was never made (the request cannot have arrived). */
const NOT_CONNECTED_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EAI_NONAME",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** One SDK request in flight (or a connect): what the fetch wrapper may fail, and what it saw. */
class CallState {
  readonly controller = new AbortController();
  failure: Error | undefined;
  settled = false;
  /** the last HTTP status of a POST that was not ok, and its Retry-After */
  status: number | undefined;
  retryAfterMs: number | undefined;
  /** the traceparent header of this call's POSTs (McpCallOptions.traceparent) */
  traceparent: string | undefined;
  /** its tracestate header, with traceparent (McpCallOptions.tracestate) */
  tracestate: string | undefined;
  readonly cap: number;
  readonly what: string;
  constructor(cap: number, what: string) {
    this.cap = cap;
    this.what = what;
  }
  fail(error: Error): void {
    if (this.settled || this.failure) return;
    this.failure = error;
    this.controller.abort(error);
  }
}

const callContext = new AsyncLocalStorage<CallState>();

interface Connection {
  key: string;
  spec: McpServerSpec;
  kind: "streamable-http" | "sse" | "stdio";
  client: Client;
  serverInfo: McpServerInfo;
  /** resolved secret values (headers, env), to redact */
  used: ReadonlyMap<string, string>;
  inflight: Set<CallState>;
  /** an OAuth server (oauth.ts): a 401 means its tokens were refused */
  oauth: boolean;
  broken: boolean;
  closing: boolean;
  active: number;
  lastUsed: number;
  idleTimer: NodeJS.Timeout | undefined;
  stderr: () => string;
}

interface Resolved {
  /** the server's OAuth (its provider): given out of band, never part of the spec */
  oauth: McpOauthAuth | undefined;
  headers: Record<string, string>;
  env: Record<string, string>;
  used: Map<string, string>;
  key: string;
}

/** Thrown inside `run` when a reused connection proved broken before the request was delivered: reconnect once. */
class Reconnect extends Error {
  readonly mapped: Error;
  constructor(mapped: Error) {
    super(mapped.message);
    this.mapped = mapped;
  }
}

export class McpConnections {
  private readonly pool = new Map<string, { promise: Promise<Connection>; conn?: Connection }>();
  private readonly options: McpConnectionsOptions;
  private readonly idleMs: number;
  private readonly maxConnections: number;
  private readonly stdioAll: boolean;
  private readonly stdioWorkspaces: ReadonlySet<string>;
  private guardPromise: Promise<EgressGuard> | undefined;
  private closed = false;

  constructor(options: McpConnectionsOptions) {
    this.options = options;
    this.idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    this.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    const stdio = (options.stdio ?? "").trim();
    this.stdioAll = stdio === "1";
    this.stdioWorkspaces = new Set(
      stdio === "1"
        ? []
        : stdio
            .split(",")
            .map((s) => s.trim().toLowerCase())
            .filter(Boolean),
    );
  }

  /** Open connections (tests, metrics). */
  get size(): number {
    return this.pool.size;
  }

  /** The server's tools (every page), and who it says it is. At most MAX_LISTED_TOOLS tools and MAX_TOOL_LIST_BYTES of JSON. */
  async listTools(
    workspaceId: string,
    spec: McpServerSpec,
    secrets: WorkspaceSecrets | undefined,
    signal: AbortSignal,
    oauth?: McpOauthAuth,
  ): Promise<{ tools: McpToolInfo[]; serverInfo: McpServerInfo }> {
    return this.run(workspaceId, spec, secrets, oauth, signal, "tools/list", LIST_WIRE_CAP, async (conn, requestSignal) => {
      const tools: McpToolInfo[] = [];
      let bytes = 0;
      let cursor: string | undefined;
      const seen = new Set<string>();
      for (let page = 0; ; page++) {
        if (page >= MAX_LIST_PAGES) throw new ToolError(`${spec.name}: its tool list did not end after ${MAX_LIST_PAGES} pages`);
        const result = await conn.client.listTools(cursor === undefined ? undefined : { cursor }, {
          signal: requestSignal,
          timeout: timeoutOf(spec),
          resetTimeoutOnProgress: true,
        });
        for (const tool of result.tools) {
          // measured as Postgres stores it (everruns.mcp_tool_lists checks the same)
          bytes += jsonTextBytes(tool);
          tools.push(toolInfo(tool));
        }
        if (tools.length > MAX_LISTED_TOOLS) {
          throw new ToolError(`${spec.name}: the server lists more than ${MAX_LISTED_TOOLS} tools; an agent can use at most ${MAX_LISTED_TOOLS} of one server`);
        }
        if (bytes > MAX_TOOL_LIST_BYTES) {
          throw new ToolError(`${spec.name}: the server's tool list is over ${MAX_TOOL_LIST_BYTES} bytes of JSON; that is more than an agent can be given`);
        }
        cursor = result.nextCursor;
        if (cursor === undefined) break;
        if (seen.has(cursor)) throw new ToolError(`${spec.name}: the server's tool list repeats its cursor "${cursor}"`);
        seen.add(cursor);
      }
      return { tools, serverInfo: { ...conn.serverInfo } };
    });
  }

  /** Calls `tool`: its result as the text the model sees, cut at max_result_bytes, and whether the server marked it an error. */
  async callTool(
    workspaceId: string,
    spec: McpServerSpec,
    secrets: WorkspaceSecrets | undefined,
    call: McpCallOptions,
    oauth?: McpOauthAuth,
  ): Promise<{ content: string; isError: boolean }> {
    const maxBytes = spec.max_result_bytes ?? DEFAULT_MCP_MAX_RESULT_BYTES;
    const wireCap = 2 * maxBytes + WIRE_SLACK;
    return this.run(workspaceId, spec, secrets, oauth, call.signal, call.tool, wireCap, async (conn, requestSignal) => {
      const onProgress = call.onProgress;
      const state = callContext.getStore();
      if (state) {
        state.traceparent = call.traceparent;
        state.tracestate = call.tracestate;
      }
      const result = (await conn.client.callTool({ name: call.tool, arguments: call.arguments, _meta: callMeta(call) }, undefined, {
        signal: requestSignal,
        timeout: timeoutOf(spec),
        resetTimeoutOnProgress: true,
        // progress restarts the timeout, but no call holds its step past this
        maxTotalTimeout: MAX_CALL_MS,
        ...(onProgress && {
          onprogress: (p: { progress: number; total?: number; message?: string }) => {
            try {
              onProgress({
                progress: p.progress,
                ...(p.total !== undefined && { total: p.total }),
                ...(p.message !== undefined && { message: redactSecrets(p.message, conn.used) }),
              });
            } catch (error) {
              this.options.log.warn(`mcp ${spec.name}: a progress listener failed: ${(error as Error).message}`);
            }
          },
        }),
      })) as CallToolResult;
      const text = redactSecrets(toolResultText(result, Number.MAX_SAFE_INTEGER), conn.used);
      return { content: cutUtf8(text, maxBytes), isError: result.isError === true };
    });
  }

  /**
   * Calls `tool` as a task (tools/call with `task: {ttl}`): the server's task handle, at once; or
   * the result itself when the server answered the call directly (it may, for an optional tool).
   */
  async startToolTask(
    workspaceId: string,
    spec: McpServerSpec,
    secrets: WorkspaceSecrets | undefined,
    call: McpCallOptions & { ttlMs: number },
    oauth?: McpOauthAuth,
  ): Promise<{ task: McpTask } | { result: { content: string; isError: boolean } }> {
    const maxBytes = spec.max_result_bytes ?? DEFAULT_MCP_MAX_RESULT_BYTES;
    return this.run(workspaceId, spec, secrets, oauth, call.signal, call.tool, 2 * maxBytes + WIRE_SLACK, async (conn, requestSignal) => {
      // no progress token: the request ends with the handle, the task's progress is its statusMessage
      const state = callContext.getStore();
      if (state) {
        state.traceparent = call.traceparent;
        state.tracestate = call.tracestate;
      }
      const answer = await conn.client.request(
        { method: "tools/call", params: { name: call.tool, arguments: call.arguments, _meta: callMeta(call) } },
        ResultSchema,
        { signal: requestSignal, timeout: timeoutOf(spec), task: { ttl: call.ttlMs } },
      );
      const created = CreateTaskResultSchema.safeParse(answer);
      if (created.success) {
        const task = taskOf(created.data.task);
        return { task: task.statusMessage === undefined ? task : { ...task, statusMessage: redactSecrets(task.statusMessage, conn.used) } };
      }
      const direct = CallToolResultSchema.safeParse(answer);
      if (!direct.success) throw new ToolError(`${spec.name}: ${call.tool} answered a task call with neither a task nor a tool result`);
      return { result: this.resultText(direct.data, conn, maxBytes) };
    });
  }

  /** The task's status (tasks/get): read-only. McpTaskUnknownError when the server does not know it. */
  async getTask(
    workspaceId: string,
    spec: McpServerSpec,
    secrets: WorkspaceSecrets | undefined,
    taskId: string,
    signal: AbortSignal,
    oauth?: McpOauthAuth,
  ): Promise<McpTask> {
    return this.run(workspaceId, spec, secrets, oauth, signal, "tasks/get", LIST_WIRE_CAP, async (conn, requestSignal) => {
      try {
        const task = await conn.client.experimental.tasks.getTask(taskId, { signal: requestSignal, timeout: timeoutOf(spec) });
        const message = task.statusMessage === undefined ? undefined : redactSecrets(task.statusMessage, conn.used);
        return { ...taskOf(task), ...(message !== undefined && { statusMessage: message }) };
      } catch (error) {
        if (error instanceof McpError && error.code === (ErrorCode.InvalidParams as number)) throw new McpTaskUnknownError(spec.name, taskId, error.message);
        throw error;
      }
    });
  }

  /** A finished task's result (tasks/result), as callTool gives a result. McpTaskUnknownError when the server does not know it. */
  async taskResult(
    workspaceId: string,
    spec: McpServerSpec,
    secrets: WorkspaceSecrets | undefined,
    taskId: string,
    signal: AbortSignal,
    oauth?: McpOauthAuth,
  ): Promise<{ content: string; isError: boolean }> {
    const maxBytes = spec.max_result_bytes ?? DEFAULT_MCP_MAX_RESULT_BYTES;
    return this.run(workspaceId, spec, secrets, oauth, signal, "tasks/result", 2 * maxBytes + WIRE_SLACK, async (conn, requestSignal) => {
      try {
        // the SDK needs the result's schema (a tool's result) to read it
        const result = await conn.client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema, { signal: requestSignal, timeout: timeoutOf(spec) });
        return this.resultText(result, conn, maxBytes);
      } catch (error) {
        if (error instanceof McpError && error.code === (ErrorCode.InvalidParams as number)) throw new McpTaskUnknownError(spec.name, taskId, error.message);
        throw error;
      }
    });
  }

  private resultText(result: CallToolResult, conn: Connection, maxBytes: number): { content: string; isError: boolean } {
    const text = redactSecrets(toolResultText(result, Number.MAX_SAFE_INTEGER), conn.used);
    return { content: cutUtf8(text, maxBytes), isError: result.isError === true };
  }

  /** Closes every connection (stdio children are ended, then killed). Later calls fail. */
  async close(): Promise<void> {
    this.closed = true;
    const entries = [...this.pool.values()];
    this.pool.clear();
    await Promise.allSettled(entries.map((entry) => entry.promise.then((conn) => this.closeConnection(conn, "the worker is closing its MCP connections"))));
  }

  // -------------------------------------------------------------------------------------------
  // One request on a pooled connection, with its errors mapped and one reconnect
  // -------------------------------------------------------------------------------------------

  private async run<T>(
    workspaceId: string,
    spec: McpServerSpec,
    secrets: WorkspaceSecrets | undefined,
    oauth: McpOauthAuth | undefined,
    signal: AbortSignal,
    what: string,
    cap: number,
    fn: (conn: Connection, requestSignal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    if (this.closed) throw new Error("the MCP connections of this worker are closed (the worker is stopping)");
    signal.throwIfAborted();
    if (spec.transport === "stdio") this.checkStdioAllowed(workspaceId, spec);
    let resolved: Resolved;
    try {
      resolved = await this.resolve(workspaceId, spec, secrets, oauth);
    } catch (error) {
      // the secrets could not be read (the database went away): nothing was sent
      if (error instanceof TransientToolError && !error.notDelivered) {
        throw new TransientToolError(error.message, { code: error.code, notDelivered: true, cause: error });
      }
      throw error;
    }
    for (let attempt = 0; ; attempt++) {
      const { conn, fresh } = await this.connection(workspaceId, spec, resolved, signal);
      const state = new CallState(cap, what);
      conn.inflight.add(state);
      conn.active++;
      this.touch(conn);
      // The SDK listens on the signal it is given for good (a later abort would send a stray
      // notifications/cancelled): it gets this request's own, which the caller's aborts until settled.
      const forward = () => state.controller.abort(signal.reason);
      signal.addEventListener("abort", forward, { once: true });
      try {
        return await callContext.run(state, () => fn(conn, state.controller.signal));
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        const mapped = this.mapRequestError(error, conn, state, fresh);
        if (mapped instanceof Reconnect) {
          if (attempt === 0) {
            this.options.log.info(`mcp ${spec.name}: the pooled connection was broken (${mapped.message}); reconnecting once`);
            continue;
          }
          throw mapped.mapped;
        }
        throw mapped;
      } finally {
        signal.removeEventListener("abort", forward);
        state.settled = true;
        conn.inflight.delete(state);
        conn.active--;
        this.touch(conn);
      }
    }
  }

  private checkStdioAllowed(workspaceId: string, spec: McpServerSpec): void {
    if (this.stdioAll || this.stdioWorkspaces.has(workspaceId.toLowerCase())) return;
    throw new ToolError(
      `${spec.name}: stdio MCP servers are not enabled on this worker for this workspace; the operator enables them with ${MCP_STDIO_ENV}=1 (every workspace) or ${MCP_STDIO_ENV}=<workspace id>,...`,
    );
  }

  /**
   * The spec's headers (http) or env (stdio) with secrets resolved, and the pool key. An OAuth
   * server's key holds its grant's identity (the connection's id and generation): a new connect
   * of the workspace is a new MCP connection, with its new tokens.
   */
  private async resolve(workspaceId: string, spec: McpServerSpec, secrets: WorkspaceSecrets | undefined, oauth: McpOauthAuth | undefined): Promise<Resolved> {
    const headers = await resolveHeaders(spec.name, spec.transport === "http" ? spec.headers : undefined, secrets, "headers");
    const env = await resolveHeaders(spec.name, spec.transport === "stdio" ? spec.env : undefined, secrets, "env");
    const used = new Map([...headers.used, ...env.used]);
    // the key holds a hash of the resolved values, never the values: a rotated secret is a new connection
    const key = createHash("sha256")
      .update(JSON.stringify([workspaceId.toLowerCase(), spec, headers.headers, env.headers, oauth ? `oauth:${oauth.identity}` : null]))
      .digest("hex");
    return { oauth, headers: headers.headers, env: env.headers, used, key };
  }

  /** A pooled connection of this key, or a new one (concurrent callers share one connect). */
  private async connection(workspaceId: string, spec: McpServerSpec, resolved: Resolved, signal: AbortSignal): Promise<{ conn: Connection; fresh: boolean }> {
    let entry = this.pool.get(resolved.key);
    if (entry?.conn && (entry.conn.broken || entry.conn.closing)) {
      this.pool.delete(resolved.key);
      entry = undefined;
    }
    let fresh = false;
    if (!entry) {
      fresh = true;
      this.evictForRoom();
      const promise = this.connect(workspaceId, spec, resolved);
      const created: { promise: Promise<Connection>; conn?: Connection } = { promise };
      this.pool.set(resolved.key, created);
      promise.then(
        (conn) => {
          created.conn = conn;
          this.touch(conn);
        },
        () => {
          if (this.pool.get(resolved.key) === created) this.pool.delete(resolved.key);
        },
      );
      entry = created;
    }
    const conn = await abortable(entry.promise, signal);
    return { conn, fresh };
  }

  /** Closes the least recently used idle connection when the pool is full. */
  private evictForRoom(): void {
    if (this.pool.size < this.maxConnections) return;
    let oldest: Connection | undefined;
    for (const entry of this.pool.values()) {
      const conn = entry.conn;
      if (conn && conn.active === 0 && (!oldest || conn.lastUsed < oldest.lastUsed)) oldest = conn;
    }
    if (oldest) {
      this.pool.delete(oldest.key);
      void this.closeConnection(oldest, "the pool is full");
    } else {
      this.options.log.warn(`mcp: ${this.pool.size} connections are open and all busy (maxConnections ${this.maxConnections}); opening one more`);
    }
  }

  private touch(conn: Connection): void {
    conn.lastUsed = performance.now();
    clearTimeout(conn.idleTimer);
    conn.idleTimer = undefined;
    if (conn.active > 0 || conn.closing) return;
    conn.idleTimer = setTimeout(() => {
      if (conn.active > 0) return;
      if (this.pool.get(conn.key)?.conn === conn) this.pool.delete(conn.key);
      void this.closeConnection(conn, "idle");
    }, this.idleMs);
    conn.idleTimer.unref();
  }

  private drop(conn: Connection, why: string): void {
    conn.broken = true;
    if (this.pool.get(conn.key)?.conn === conn) this.pool.delete(conn.key);
    void this.closeConnection(conn, why);
  }

  private async closeConnection(conn: Connection, why: string): Promise<void> {
    if (conn.closing) return;
    conn.closing = true;
    clearTimeout(conn.idleTimer);
    this.options.log.debug(`mcp ${conn.spec.name}: closing its connection (${why})`);
    if (conn.kind === "streamable-http") {
      // a stateful server frees the session at once (a stateless one answers 405: fine)
      const transport = (conn.client as unknown as { transport?: Transport }).transport;
      if (transport instanceof StreamableHTTPClientTransport) {
        await Promise.race([transport.terminateSession().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
      }
    }
    await conn.client.close().catch(() => undefined);
  }

  // -------------------------------------------------------------------------------------------
  // Connecting
  // -------------------------------------------------------------------------------------------

  private async connect(workspaceId: string, spec: McpServerSpec, resolved: Resolved): Promise<Connection> {
    const conn: Connection = {
      key: resolved.key,
      spec,
      kind: spec.transport === "stdio" ? "stdio" : "streamable-http",
      client: newClient(),
      serverInfo: {},
      used: resolved.used,
      inflight: new Set(),
      oauth: resolved.oauth !== undefined,
      broken: false,
      closing: false,
      active: 0,
      lastUsed: performance.now(),
      idleTimer: undefined,
      stderr: () => "",
    };
    const state = new CallState(LIST_WIRE_CAP, "initialize");
    const options = { timeout: timeoutOf(spec), signal: state.controller.signal };
    try {
      if (spec.transport === "stdio") {
        await callContext.run(state, () => this.connectStdio(conn, spec, resolved, options));
      } else {
        const url = httpUrl(spec);
        const guard = await this.guard();
        try {
          await callContext.run(state, () => conn.client.connect(this.capture(conn, this.streamableTransport(conn, url, resolved, guard)), options));
        } catch (error) {
          const status = error instanceof StreamableHTTPError ? error.code : undefined;
          if (status !== 400 && status !== 404 && status !== 405) throw error;
          // an older server (HTTP+SSE, protocol 2024-11-05): the same URL is its SSE endpoint
          this.options.log.info(`mcp ${spec.name}: ${displayUrl(url)} answered ${status} to Streamable HTTP; trying the older HTTP+SSE transport`);
          conn.kind = "sse";
          conn.client = newClient();
          const sseState = new CallState(LIST_WIRE_CAP, "initialize");
          try {
            await callContext.run(sseState, () =>
              conn.client.connect(this.capture(conn, this.sseTransport(conn, url, resolved, guard)), { ...options, signal: sseState.controller.signal }),
            );
          } catch (sseError) {
            const sseStatus = httpStatusOf(sseError, sseState);
            if (sseStatus === 404 || sseStatus === 405 || sseStatus === 400) {
              throw new ToolError(
                `${spec.name}: ${displayUrl(url)} answered ${status} to MCP's Streamable HTTP transport and ${sseStatus} to HTTP+SSE: is it an MCP server's URL?`,
              );
            }
            throw sseFailure(sseError, sseState);
          }
        }
      }
    } catch (error) {
      await conn.client.close().catch(() => undefined);
      if (this.closed) throw new Error("the MCP connections of this worker are closed (the worker is stopping)", { cause: error });
      throw this.mapConnectError(error instanceof SseFailure ? error.error : error, conn, error instanceof SseFailure ? error.state : state);
    }
    const version = conn.client.getServerVersion();
    conn.serverInfo = {
      name: version?.name,
      version: version?.version,
      protocolVersion: conn.serverInfo.protocolVersion,
      ...(conn.client.getServerCapabilities()?.tasks?.requests?.tools?.call !== undefined && { tasks: true }),
    };
    conn.client.onclose = () => {
      conn.broken = true;
      if (this.pool.get(conn.key)?.conn === conn) this.pool.delete(conn.key);
      if (!conn.closing) {
        this.options.log.info(`mcp ${spec.name}: the connection closed${conn.kind === "stdio" ? ` (the server process ended${stderrNote(conn)})` : ""}`);
      }
    };
    conn.client.onerror = (error) => {
      if (conn.closing) return;
      this.options.log.debug(`mcp ${spec.name}: ${redactSecrets(error.message, conn.used)}`);
      if (conn.kind === "sse" && error instanceof SseError) {
        // the legacy transport's stream broke: its session (and every answer due on it) is gone
        this.failAll(conn, lostError(spec, "the server's event stream"));
        this.drop(conn, "its event stream broke");
      }
    };
    this.options.log.info(
      `mcp ${spec.name}: connected (${conn.kind}${spec.transport === "http" ? ` ${displayUrl(httpUrl(spec))}` : ""}; server ${conn.serverInfo.name ?? "?"} ${conn.serverInfo.version ?? "?"}, protocol ${conn.serverInfo.protocolVersion ?? "?"}; workspace ${workspaceId})`,
    );
    return conn;
  }

  private async connectStdio(conn: Connection, spec: McpServerSpec, resolved: Resolved, options: { timeout: number; signal: AbortSignal }): Promise<void> {
    const command = spec.command ?? [];
    if (command.length === 0 || !command[0]) throw new ToolError(`${spec.name}: a stdio MCP server needs a command (["program", "arg", ...])`);
    // a minimal environment: never the worker's own (DATABASE_URL, EVERRUNS_SECRET_KEY, ...)
    const env: Record<string, string> = {};
    for (const name of STDIO_ENV_PASSED) {
      const value = process.env[name];
      if (value !== undefined) env[name] = value;
    }
    Object.assign(env, resolved.env);
    // one message (a line of JSON) larger than this ends the connection
    const maxBufferSize = Math.max(LIST_WIRE_CAP, 2 * (spec.max_result_bytes ?? DEFAULT_MCP_MAX_RESULT_BYTES) + WIRE_SLACK);
    const transport = new StdioClientTransport({ command: command[0], args: command.slice(1), env, stderr: "pipe", maxBufferSize });
    let tail = "";
    transport.stderr?.on("data", (chunk: Buffer) => {
      tail = (tail + chunk.toString("utf8")).slice(-STDERR_KEEP);
    });
    conn.stderr = () => tail;
    try {
      await conn.client.connect(this.capture(conn, transport), options);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "EACCES") {
        throw new ToolError(`${spec.name}: could not start ${command[0]} (${code}): is it installed on the worker, and on its PATH?`);
      }
      throw error;
    }
  }

  /** Notes the negotiated protocol version (the SDK tells HTTP transports only; this hook sees stdio's too). */
  private capture<T extends Transport>(conn: Connection, transport: T): T {
    const set = transport.setProtocolVersion?.bind(transport);
    transport.setProtocolVersion = (version: string) => {
      conn.serverInfo.protocolVersion = version;
      set?.(version);
    };
    return transport;
  }

  private streamableTransport(conn: Connection, url: URL, resolved: Resolved, guard: EgressGuard): StreamableHTTPClientTransport {
    return new StreamableHTTPClientTransport(url, {
      fetch: this.watchedFetch(conn, guard),
      requestInit: { headers: resolved.headers },
      // OAuth (oauth.ts): the access token on each request; a 401 refreshes it through this fetch
      ...(resolved.oauth && { authProvider: resolved.oauth.provider }),
      // the guard follows redirects itself, checking each hop
      redirectPolicy: "follow",
      reconnectionOptions: { initialReconnectionDelay: 1000, maxReconnectionDelay: 10_000, reconnectionDelayGrowFactor: 1.5, maxRetries: 2 },
    });
  }

  private sseTransport(conn: Connection, url: URL, resolved: Resolved, guard: EgressGuard): SSEClientTransport {
    // the event stream's GET and each POST carry the headers (requestInit) and go through the guard
    return new SSEClientTransport(url, {
      fetch: this.watchedFetch(conn, guard),
      requestInit: { headers: resolved.headers },
      ...(resolved.oauth && { authProvider: resolved.oauth.provider }),
      redirectPolicy: "follow",
    });
  }

  private async guard(): Promise<EgressGuard> {
    if (this.options.guard) return this.options.guard;
    // the guard (and undici under it) loads on the first HTTP server, not at worker start
    this.guardPromise ??= import("../../lib/egress/guard.ts").then((m) => m.defaultEgressGuard());
    return this.guardPromise;
  }

  /**
   * The guard's fetch, watching each response: a POST's non-ok status is noted for its call; a
   * body over the call's cap (an SSE event, or a JSON body) is refused; a POST's stream that
   * breaks off (or ends with no answer and no event ids to resume from) fails its call.
   */
  private watchedFetch(conn: Connection, guard: EgressGuard): FetchLike {
    const spec = conn.spec;
    return async (input, init) => {
      const state = callContext.getStore();
      const method = (init?.method ?? "GET").toUpperCase();
      const isRequest = method === "POST" && typeof init?.body === "string" && isJsonRpcRequest(init.body);
      if (isRequest && state?.traceparent) {
        // the calling step attempt's span: the server continues the run's trace
        const headers = new Headers(init?.headers);
        headers.set("traceparent", state.traceparent);
        if (state.tracestate) headers.set("tracestate", state.tracestate);
        init = { ...init, headers };
      }
      // the guard answers undici's Response: the SDK's OAuth reads error bodies only of a `Response` (instanceof)
      const response = asGlobalResponse(await guard.sdkFetch(input, init));
      if (!response.ok) {
        if (method === "POST" && state) {
          state.status = response.status;
          state.retryAfterMs = retryAfterMs(response.headers);
        }
        return response;
      }
      const type = (response.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
      if (!response.body || (type !== "text/event-stream" && type !== "application/json")) return response;
      const cap = isRequest && state ? state.cap : LIST_WIRE_CAP;
      const onStream = method === "GET";
      const overflow = () =>
        new ToolError(
          state && !onStream && state.what !== "tools/list" && state.what !== "initialize"
            ? `${spec.name}: the result of ${state.what} is over ${cap} bytes on the wire (twice this server's max_result_bytes, ${spec.max_result_bytes ?? DEFAULT_MCP_MAX_RESULT_BYTES}, and some); it was not read`
            : `${spec.name}: the server sent a message over ${cap} bytes; it was not read`,
        );
      const watched = watchStream(response.body, type === "text/event-stream", cap, {
        over: () => {
          const error = overflow();
          if (onStream) {
            this.failAll(conn, error);
            this.drop(conn, "a message over its cap");
          } else state?.fail(error);
          return error;
        },
        broken: (resumable) => {
          if (conn.closing) return;
          if (onStream) {
            if (conn.kind === "sse") {
              this.failAll(conn, lostError(spec, "the server's event stream"));
              this.drop(conn, "its event stream broke");
            }
          } else if (isRequest && !resumable) state?.fail(lostError(spec, state.what));
        },
        ended: (resumable) => {
          if (conn.closing || onStream || !isRequest || resumable || !state) return;
          // the SDK has read every event by now, or soon: a call still pending was not answered here
          setTimeout(() => state.fail(lostError(spec, state.what, "the server closed its answer stream")), ANSWER_GRACE_MS).unref();
        },
      });
      return new Response(watched, { status: response.status, statusText: response.statusText, headers: Object.fromEntries(response.headers.entries()) });
    };
  }

  private failAll(conn: Connection, error: Error): void {
    for (const state of conn.inflight) state.fail(error);
  }

  // -------------------------------------------------------------------------------------------
  // Errors
  // -------------------------------------------------------------------------------------------

  /** A failed connect: the tool call was not sent, whatever happened. */
  private mapConnectError(error: unknown, conn: Connection, state: CallState): Error {
    const spec = conn.spec;
    const where = spec.transport === "http" && spec.url ? displayUrlText(spec.url) : `its process (${spec.command?.[0] ?? "?"})`;
    const redact = <E extends Error>(e: E): E => {
      e.message = redactSecrets(e.message, conn.used);
      return e;
    };
    if (error instanceof ToolError) return redact(error);
    if (error instanceof TransientToolError) return redact(error);
    if (state.failure) return redact(asNotDelivered(state.failure, spec));
    const refusal = egressRefusal(error);
    if (refusal) return new ToolError(`${spec.name}: ${refusal.message}`, { cause: refusal });
    if (error instanceof McpError && error.code !== CONNECTION_CLOSED && error.code !== REQUEST_TIMEOUT) {
      return redact(new ToolError(`${spec.name}: the server refused to initialize: ${error.message}`));
    }
    const status = httpStatusOf(error, state);
    if (status === 429 || status === 503) {
      return new TransientToolError(`${spec.name}: ${where} answered ${status} while connecting`, {
        code: `http_${status}`,
        status,
        retryAfterMs: state.retryAfterMs,
        notDelivered: true,
      });
    }
    // A 401 that reaches here came after the SDK's own refresh (DbOAuthProvider answers a revoked
    // grant itself: a refused refresh, no tokens): tokens refreshed or taken from another worker a
    // moment ago and superseded by a concurrent refresh that rotated them. Not a revocation: the
    // step tries again with the connection's newest tokens (bounded by the agent's retry policy).
    if (status === 401 && conn.oauth) {
      return new TransientToolError(`${spec.name}: ${where} refused an OAuth access token refreshed a moment ago; trying again with the newest`, {
        code: "mcp_oauth_retry",
        status,
        notDelivered: true,
      });
    }
    if (status === 401 || status === 403) {
      return new ToolError(`${spec.name}: ${where} answered ${status} while connecting: check the server's headers (and the secrets they reference)`);
    }
    if (status !== undefined && status >= 400 && status < 500) {
      return new ToolError(`${spec.name}: ${where} answered ${status} while connecting`);
    }
    if (error instanceof McpError && error.code !== CONNECTION_CLOSED && error.code !== REQUEST_TIMEOUT) {
      return redact(new ToolError(`${spec.name}: the server refused to initialize: ${error.message}`));
    }
    const detail =
      error instanceof McpError && error.code === REQUEST_TIMEOUT ? `no answer to initialize within ${timeoutOf(spec)} ms` : describeNetwork(error);
    return redact(
      new TransientToolError(`${spec.name}: could not connect to ${where}: ${detail}${stderrNote(conn)}`, {
        code: "mcp_unreachable",
        notDelivered: true,
        cause: error,
      }),
    );
  }

  /** A failed request on a connection: mapped, or Reconnect when a reused connection proved broken before delivery. */
  private mapRequestError(error: unknown, conn: Connection, state: CallState, fresh: boolean): Error {
    const spec = conn.spec;
    const what = state.what;
    const redact = <E extends Error>(e: E): E => {
      e.message = redactSecrets(e.message, conn.used);
      return e;
    };
    const notDelivered = (e: TransientToolError): Error => {
      this.drop(conn, e.message);
      return fresh ? redact(e) : new Reconnect(redact(e));
    };
    if (state.failure) {
      if (state.failure instanceof TransientToolError) this.drop(conn, state.failure.message);
      return redact(state.failure);
    }
    if (error instanceof ToolError || error instanceof TransientToolError) return redact(error);
    const refusal = egressRefusal(error);
    if (refusal) return new ToolError(`${spec.name}: ${refusal.message}`, { cause: refusal });
    // A JSON-RPC error answer (its message is the server's text: never read for an HTTP status)
    if (error instanceof McpError && error.code !== REQUEST_TIMEOUT && error.code !== CONNECTION_CLOSED) {
      return redact(new ToolError(`${spec.name}: ${what} failed: ${error.message}`, { cause: error }));
    }
    const status = httpStatusOf(error, state);
    // 429 on the call: refused before any work. 503 only proves that of a connect (a proxy may
    // answer 503 after the server received the request): on a call its outcome is unknown.
    if (status === 429) {
      return new TransientToolError(`${spec.name}: the server answered ${status} to ${what}`, {
        code: `http_${status}`,
        status,
        retryAfterMs: state.retryAfterMs,
        notDelivered: true,
      });
    }
    if (status === 404 && conn.kind !== "stdio") {
      // the session expired (the server restarted or forgot it): nothing was done
      return notDelivered(
        new TransientToolError(`${spec.name}: the server no longer knows this session (404)`, { code: "mcp_unreachable", notDelivered: true, status }),
      );
    }
    // as when connecting (mapConnectError): a 401 after the SDK's own refresh is a race of refreshes, not a revocation
    if (status === 401 && conn.oauth) {
      return notDelivered(
        new TransientToolError(`${spec.name}: the server refused an OAuth access token refreshed a moment ago; trying again with the newest`, {
          code: "mcp_oauth_retry",
          status,
          notDelivered: true,
        }),
      );
    }
    if (status === 401 || status === 403) {
      return new ToolError(`${spec.name}: the server answered ${status} to ${what}: check the server's headers (and the secrets they reference)`);
    }
    if (status !== undefined && status >= 400 && status < 500) return new ToolError(`${spec.name}: the server answered ${status} to ${what}`);
    if (status !== undefined && status >= 500) {
      this.drop(conn, `HTTP ${status}`);
      return new TransientToolError(`${spec.name}: the server answered ${status} to ${what}`, { code: `http_${status}`, status });
    }
    if (error instanceof McpError) {
      if (error.code === REQUEST_TIMEOUT) {
        return new TransientToolError(
          `${spec.name}: ${what} did not answer within ${timeoutOf(spec)} ms (timeout_ms); the server was asked to cancel it, and whether it ran is unknown`,
          { code: "timeout", cause: error },
        );
      }
      if (error.code === CONNECTION_CLOSED) {
        this.drop(conn, "closed");
        return redact(
          new TransientToolError(`${spec.name}: the connection closed before ${what} answered${stderrNote(conn)}; whether it ran is unknown`, {
            code: "network",
            cause: error,
          }),
        );
      }
      // a JSON-RPC error answer: the model sees it
      return redact(new ToolError(`${spec.name}: ${what} failed: ${error.message}`, { cause: error }));
    }
    if ((error as Error | undefined)?.message === "Not connected" || neverConnected(error)) {
      return notDelivered(
        new TransientToolError(`${spec.name}: could not reach the server: ${describeNetwork(error)}`, {
          code: "mcp_unreachable",
          notDelivered: true,
          cause: error,
        }),
      );
    }
    if ((error as Error | undefined)?.name === "ZodError") {
      return new ToolError(`${spec.name}: ${what} answered something that is not a valid MCP result`, { cause: error });
    }
    this.drop(conn, "a transport error");
    return redact(
      new TransientToolError(`${spec.name}: the connection failed during ${what} (${describeNetwork(error)}); whether it ran is unknown`, {
        code: "network",
        cause: error,
      }),
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

class SseFailure extends Error {
  readonly error: unknown;
  readonly state: CallState;
  constructor(error: unknown, state: CallState) {
    super("HTTP+SSE connect failed");
    this.error = error;
    this.state = state;
  }
}

function sseFailure(error: unknown, state: CallState): SseFailure {
  return new SseFailure(error, state);
}

function newClient(): Client {
  return new Client({ name: "everruns", version: "0.1.0" }, { capabilities: {} });
}

function timeoutOf(spec: McpServerSpec): number {
  return spec.timeout_ms ?? DEFAULT_MCP_TIMEOUT_MS;
}

function httpUrl(spec: McpServerSpec): URL {
  let url: URL;
  try {
    url = new URL(spec.url ?? "");
  } catch {
    throw new ToolError(`${spec.name}: an http MCP server needs a url (https://host/mcp); got ${JSON.stringify(spec.url ?? null)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new ToolError(`${spec.name}: its url must be http or https, not ${url.protocol}`);
  return url;
}

/** The URL without its query and userinfo (which may carry credentials). */
function displayUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

function displayUrlText(text: string): string {
  try {
    return displayUrl(new URL(text));
  } catch {
    return "its url";
  }
}

function stderrNote(conn: Connection): string {
  const tail = conn.stderr().trim();
  if (!tail) return "";
  return `; its stderr ends: ${redactSecrets(tail.slice(-1000), conn.used)}`;
}

/** A request that may have reached the server and got no answer: its outcome is unknown. */
function lostError(spec: McpServerSpec, what: string, detail = "the connection was lost"): TransientToolError {
  return new TransientToolError(`${spec.name}: ${detail} before ${what} answered; whether it ran is unknown`, { code: "network" });
}

/** A failure during connect, as the not-delivered error it is for the tool call. */
function asNotDelivered(error: Error, spec: McpServerSpec): Error {
  if (error instanceof TransientToolError && !error.notDelivered) {
    return new TransientToolError(`${spec.name}: could not connect: ${error.message}`, { code: "mcp_unreachable", notDelivered: true, cause: error });
  }
  return error;
}

/** The HTTP status a transport error carries (StreamableHTTPError, SseError, the SSE POST's message), or the one the fetch wrapper noted. */
function httpStatusOf(error: unknown, state: CallState): number | undefined {
  if (error instanceof StreamableHTTPError && error.code !== undefined && error.code >= 100) return error.code;
  if (error instanceof SseError && typeof error.code === "number" && error.code >= 100) return error.code;
  // the SSE transport's own text for a refused POST; never a server's message
  const match = error instanceof Error ? /^Error POSTing to endpoint \(HTTP (\d{3})\)/.exec(error.message) : null;
  if (match) return Number(match[1]);
  return error instanceof StreamableHTTPError ? state.status : undefined;
}

function causeCodes(error: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current && typeof current === "object"; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") codes.push(code);
    if (current instanceof AggregateError) for (const inner of current.errors) codes.push(...causeCodes(inner));
    current = (current as { cause?: unknown }).cause;
  }
  return codes;
}

/**
 * A connection that was never made (refused, unresolvable, unroutable, connect timeout): nothing
 * was sent. An error of a socket's read or write (EHOSTUNREACH on an established connection, say)
 * does not count: its request may have gone out.
 */
function neverConnected(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current && typeof current === "object"; depth++) {
    const { code, syscall } = current as { code?: unknown; syscall?: unknown };
    const connecting = syscall === undefined || syscall === "connect" || (typeof syscall === "string" && syscall.startsWith("getaddrinfo"));
    if (typeof code === "string" && NOT_CONNECTED_CODES.has(code) && connecting) return true;
    if (current instanceof AggregateError && current.errors.some((inner) => neverConnected(inner))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** A short, port-scan-proof description of a network failure. */
function describeNetwork(error: unknown): string {
  const codes = causeCodes(error);
  if (codes.includes("ENOTFOUND") || codes.includes("EAI_AGAIN") || codes.includes("EAI_NONAME")) return "the host name did not resolve";
  if (neverConnected(error)) return "the host could not be reached";
  if (codes.length > 0) return `the connection broke (${codes[0]})`;
  return error instanceof Error ? error.message : String(error);
}

/** What a Response of another realm (undici's) offers. */
interface ResponseLike {
  status: number;
  statusText: string;
  headers: { entries(): IterableIterator<[string, string]> };
  body: ReadableStream<Uint8Array> | null;
}

/** `response` as this realm's Response (undici's own class is another one): status, headers and the body stream kept. */
function asGlobalResponse(response: Response | ResponseLike): Response {
  if (response instanceof Response) return response;
  const nullBody = response.status === 101 || response.status === 204 || response.status === 205 || response.status === 304;
  return new Response(nullBody ? null : response.body, { status: response.status, statusText: response.statusText, headers: [...response.headers.entries()] });
}

function isJsonRpcRequest(body: string): boolean {
  try {
    const message = JSON.parse(body) as unknown;
    return typeof message === "object" && message !== null && "method" in message && "id" in message;
  } catch {
    return false;
  }
}

function toolInfo(tool: SdkTool): McpToolInfo {
  return {
    name: tool.name,
    ...(tool.title !== undefined && { title: tool.title }),
    ...(tool.description !== undefined && { description: tool.description }),
    inputSchema: tool.inputSchema,
    ...(tool.outputSchema !== undefined && { outputSchema: tool.outputSchema }),
    ...(tool.annotations !== undefined && { annotations: { ...tool.annotations } }),
    ...(tool.execution?.taskSupport !== undefined && { execution: { taskSupport: tool.execution.taskSupport } }),
  };
}

function taskOf(task: Task): McpTask {
  return {
    taskId: task.taskId,
    status: task.status,
    ...(task.statusMessage !== undefined && { statusMessage: task.statusMessage }),
    ...(typeof task.pollInterval === "number" && { pollInterval: task.pollInterval }),
    ...(task.ttl !== undefined && { ttl: task.ttl }),
  };
}

/** `promise`, or the signal's reason once it aborts (the promise goes on for others). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passed on as is
        reject(error);
      },
    );
  });
}

/**
 * `body` re-streamed through a watch: an SSE event (bytes between blank lines) or a whole JSON
 * body over `cap` errors the stream (`over` says why); a read error calls `broken`, the end
 * `ended`, each with whether the stream carried SSE event ids (the SDK can resume from them).
 */
function watchStream(
  body: ReadableStream<Uint8Array>,
  sse: boolean,
  cap: number,
  on: { over: () => Error; broken: (resumable: boolean) => void; ended: (resumable: boolean) => void },
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let run = 0;
  let newline = true;
  let resumable = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next: Awaited<ReturnType<typeof reader.read>>;
      try {
        next = await reader.read();
      } catch (error) {
        on.broken(resumable);
        controller.error(error);
        return;
      }
      if (next.done) {
        on.ended(resumable);
        controller.close();
        return;
      }
      const chunk = next.value;
      if (sse) {
        for (let i = 0; i < chunk.length; i++) {
          const byte = chunk[i]!;
          if (byte === 0x0a) {
            if (newline) run = 0;
            newline = true;
          } else if (byte !== 0x0d) {
            // "id:" at the start of a line: the server gives event ids, the SDK may resume
            if (newline && byte === 0x69 && chunk[i + 1] === 0x64 && chunk[i + 2] === 0x3a) resumable = true;
            newline = false;
            run++;
          }
        }
      } else {
        run += chunk.byteLength;
      }
      if (run > cap) {
        const error = on.over();
        await reader.cancel(error).catch(() => undefined);
        controller.error(error);
        return;
      }
      controller.enqueue(chunk);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}
