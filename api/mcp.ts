// Everruns as an MCP server at /mcp (issue 17): a coding assistant, a desktop app or another
// platform hands long work to Everruns through the Model Context Protocol and picks the result
// up later, across its own restarts. The run is Everruns' durable handle: nothing about an MCP
// client is kept here, so any API process answers any request.
//
// Streamable HTTP, stateless: every POST gets a fresh McpServer and transport
// (`sessionIdGenerator: undefined`), acting for the request's API key; the answer is JSON or an
// SSE stream (wait_run streams progress notifications on it). There is no standalone GET stream
// and no session to DELETE: both are 405 with `Allow: POST`. The transport reads its own body, at
// most MAX_MCP_BODY_BYTES (413 past it), so /mcp is mounted before any JSON parser.
//
// Who is asking: the request guard (Host; Origin of state-changing requests, so a web page cannot
// drive a local server through DNS rebinding) runs first, then the API's authMiddleware (an API
// key as `Authorization: Bearer`, with the key's rate limits); a 401 carries
// `WWW-Authenticate: Bearer realm="everruns"`. Each tool checks the role it needs (viewer reads,
// operator acts) and runs every query through withWorkspace under the key's workspace, so another
// workspace's run is an unknown run. Refusals and the run functions' errors (unknown run, invalid
// input, not waiting for an answer) are tool results with `isError` and a message saying what to
// do, never protocol errors: a model can read them and correct itself.
import type { ErrorRequestHandler, Request, RequestHandler, Response } from "express";
import { Router } from "express";
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { McpError, type CallToolResult, type ServerNotification, type ServerRequest } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { NotFoundError } from "../db/errors.ts";
import { isUuid, type Pool } from "../db/pool.ts";
import { RunPrioritySchema } from "../db/schemas.ts";
import { cancelRun } from "../db/sql/cancelRun.ts";
import { getRun, type RunView } from "../db/sql/getRun.ts";
import { listAgents } from "../db/sql/listAgents.ts";
import { listRuns } from "../db/sql/listRuns.ts";
import { readLastEvent } from "../db/sql/readLastEvent.ts";
import { readRunEvents, type RunEventRow } from "../db/sql/readRunEvents.ts";
import { readRunInterrupts } from "../db/sql/readRunInterrupts.ts";
import { resumeRun } from "../db/sql/resumeRun.ts";
import { sendEvent } from "../db/sql/sendEvent.ts";
import { startRun } from "../db/sql/startRun.ts";
import type { ApiKeyRole } from "../lib/api-key.ts";
import type { Logger } from "../lib/logger.ts";
import { AuthError, authOf, requireRole, withWorkspace, type Auth } from "./auth.ts";
import { TERMINAL_EVENT_TYPES, type EventsHub, type Subscription } from "./events-hub.ts";
import { sendError, toHttpError } from "./http-errors.ts";

export const MCP_PATH = "/mcp";
/** The largest JSON-RPC body /mcp reads (the run input's own limit is 4 MiB of JSON too). */
export const MAX_MCP_BODY_BYTES = 4 * 1024 * 1024;
/** wait_run's bound when the caller gives none, and the most it may ask for (seconds). */
export const WAIT_DEFAULT_S = 45;
export const WAIT_MAX_S = 300;
/** How many of a run's last events get_run shows. */
export const RECENT_EVENTS = 20;
/** How many runs resources/list offers (the newest). */
export const LISTED_RUNS = 20;
/** How many agents list_agents shows. */
export const LISTED_AGENTS = 200;
/** A transcript stops after this many characters (a long run's log is the SSE stream's to page through). */
export const MAX_TRANSCRIPT_CHARS = 1_000_000;
/** JSON-RPC error of resources/read for a run that is not there (MCP "Resource not found"). */
const RESOURCE_NOT_FOUND = -32002;
/** wait_run re-reads the run at least this often, whatever the events hub says (ms; doubling up to the max). */
const WAIT_POLL_MIN_MS = 1000;
const WAIT_POLL_MAX_MS = 5000;

const TRANSCRIPT_TEMPLATE = "everruns://runs/{run_id}/transcript";
const SETTLED_STATUSES: ReadonlySet<string> = new Set(["succeeded", "failed", "cancelled", "interrupted"]);

export interface McpDeps {
  pool: Pool;
  hub: EventsHub;
  log: Logger;
  /** The API's authMiddleware (api/auth.ts): a valid key within its rate limits, or next(error). */
  authenticate: RequestHandler;
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/** POST /mcp (the MCP endpoint), GET and DELETE /mcp (405), each behind `authenticate`. */
export function mcpRouter(deps: McpDeps): Router {
  const router = Router();
  router.post(MCP_PATH, deps.authenticate, (req, res, next) => {
    serveMcpRequest(deps, authOf(req), req, res).catch(next);
  });
  // Stateless: no server-initiated stream to GET, no session to DELETE (the spec's answer is 405)
  const notAllowed: RequestHandler = (req, res) => {
    res.set("Allow", "POST");
    sendError(res, {
      status: 405,
      code: "method_not_allowed",
      message: `${req.method} ${MCP_PATH} is not supported: this MCP server is stateless (no session, no standalone stream); POST JSON-RPC messages to ${MCP_PATH}`,
    });
  };
  router.get(MCP_PATH, deps.authenticate, notAllowed);
  router.delete(MCP_PATH, deps.authenticate, notAllowed);
  // A refused key: the JSON error of every route, plus the challenge MCP clients look for
  const challenge: ErrorRequestHandler = (error, _req, res, next) => {
    if (error instanceof AuthError && error.status === 401) res.set("WWW-Authenticate", 'Bearer realm="everruns"');
    next(error);
  };
  router.use(MCP_PATH, challenge);
  return router;
}

async function serveMcpRequest(deps: McpDeps, auth: Auth, req: Request, res: Response): Promise<void> {
  const server = createMcpServer(deps, auth);
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, maxRequestBodySize: MAX_MCP_BODY_BYTES });
  // The client went away (or the answer is sent): closing the server aborts its handlers'
  // signals, so a wait_run in progress lets go of its events subscription at once.
  res.on("close", () => {
    void transport.close().catch(() => undefined);
    void server.close().catch(() => undefined);
  });
  await server.connect(transport);
  await transport.handleRequest(req, res);
}

// ---------------------------------------------------------------------------------------------
// The server: tools and resources acting for one key
// ---------------------------------------------------------------------------------------------

// z.guid: any 8-4-4-4-12 hex id, as isUuid and the database take (AG-UI clients choose their run ids)
const RunIdSchema = z.guid("must be a run id (a UUID)").describe("The run's id (start_run returns it).");

/** The MCP server of one request, acting for `auth`: its tools and resources. */
export function createMcpServer(deps: McpDeps, auth: Auth): McpServer {
  const { pool, hub, log } = deps;
  const server = new McpServer(
    { name: "everruns", title: "Everruns", version: "0.1.0" },
    {
      capabilities: { tools: {}, resources: {}, logging: {} },
      instructions:
        "Everruns runs AI agents durably. start_run returns a run id at once; wait_run waits for it (bounded) and may be called again, " +
        "from any session, after a restart too; get_run reads it; answer_interrupt answers a run that asks for approval or input.",
    },
  );

  /** A tool's handler with its role check and errors turned into isError results. */
  const tool =
    <A>(needs: ApiKeyRole, what: string, fn: (args: A, extra: Extra) => Promise<CallToolResult>) =>
    async (args: A, extra: Extra): Promise<CallToolResult> => {
      try {
        requireRole(auth, needs, what);
        return await fn(args, extra);
      } catch (error) {
        const http = toHttpError(error, log);
        return errorResult(http.status === 500 ? http.message : `${http.code}: ${http.message}`);
      }
    };

  server.registerTool(
    "list_agents",
    {
      title: "List agents",
      description: `The agents of this API key's workspace (at most ${LISTED_AGENTS}, by name): id, name, version, provider, model. start_run takes an agent's id or name.`,
      inputSchema: {},
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    tool("viewer", "listing agents", async () => {
      const agents = await withWorkspace(pool, auth, (db) => listAgents(db, LISTED_AGENTS));
      return jsonResult({ agents });
    }),
  );

  server.registerTool(
    "start_run",
    {
      title: "Start a run",
      description:
        "Starts a run of an agent and returns at once with its run_id, thread_id and status (queued). " +
        "Give `message` (a user message) or `input` (a full run input); `thread_id` continues a conversation. " +
        "Then call wait_run (or get_run later, from any session) for the result.",
      inputSchema: {
        agent: z.string().min(1).describe("The agent's id or name (list_agents shows them)."),
        message: z.string().min(1).optional().describe("The user message to start with; the run input becomes {messages: [{role: user, content: message}]}."),
        input: z
          .record(z.string(), z.unknown())
          .optional()
          .describe('A whole run input instead of `message`: {"messages": [{"role", "content"}...], "state"?, "context"?}.'),
        thread_id: z
          .uuid("must be a thread id (a UUID)")
          .optional()
          .describe("A thread to continue (a previous run's thread_id), or the id to give a new one."),
        priority: RunPrioritySchema.optional().describe("Higher runs first within the workspace (-1000..1000); default the agent's."),
      },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    tool(
      "operator",
      "starting a run",
      async (args: { agent: string; message?: string; input?: Record<string, unknown>; thread_id?: string; priority?: number }) => {
        if ((args.message === undefined) === (args.input === undefined)) {
          return errorResult("invalid_run_input: give either `message` (a user message) or `input` (a whole run input), not both and not neither");
        }
        const input = args.input ?? { messages: [{ role: "user", content: args.message }] };
        const run = await withWorkspace(pool, auth, (db) =>
          startRun(db, { agent: args.agent, input, threadId: args.thread_id ?? null, priority: args.priority ?? null }),
        );
        return jsonResult({ run_id: run.id, thread_id: run.thread_id, status: run.status });
      },
    ),
  );

  server.registerTool(
    "get_run",
    {
      title: "Get a run",
      description: `A run's status, output, error, usage, open interrupts (answer them with answer_interrupt), the run that continued it, and its last ${RECENT_EVENTS} AG-UI events.`,
      inputSchema: { run_id: RunIdSchema },
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    tool("viewer", "reading a run", async ({ run_id }: { run_id: string }) => {
      const runId = run_id.toLowerCase();
      const view = await withWorkspace(pool, auth, async (db) => {
        const state = await readRunState(db, runId);
        const last = (await readLastEvent(db, runId))?.seq ?? 0;
        const events = await readRunEvents(db, runId, Math.max(0, last - RECENT_EVENTS), RECENT_EVENTS);
        return { ...state, events };
      });
      return jsonResult(view);
    }),
  );

  server.registerTool(
    "wait_run",
    {
      title: "Wait for a run",
      description:
        `Waits until the run ends or is interrupted, at most timeout_s seconds (default ${WAIT_DEFAULT_S}, at most ${WAIT_MAX_S}), ` +
        "sending a progress notification per finished step when asked for progress. Returns the run's result, or " +
        "{still_running: true, run_id, status} when the bound passed: call wait_run again (the run goes on whether anyone waits).",
      inputSchema: {
        run_id: RunIdSchema,
        timeout_s: z.number().int().min(1).max(WAIT_MAX_S).optional().describe(`How long to wait at most, in seconds (default ${WAIT_DEFAULT_S}).`),
      },
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    tool("viewer", "waiting for a run", async ({ run_id, timeout_s }: { run_id: string; timeout_s?: number }, extra) =>
      jsonResult(await waitRun({ pool, hub, auth }, run_id.toLowerCase(), (timeout_s ?? WAIT_DEFAULT_S) * 1000, extra)),
    ),
  );

  server.registerTool(
    "answer_interrupt",
    {
      title: "Answer a run's interrupts",
      description:
        "Answers an interrupted run's interrupts (get_run lists them: id, reason, message, responseSchema) and starts the run that continues " +
        'its work on the same thread; returns that run\'s id. An approval is answered {"interruptId": id, "status": "resolved", "payload": {"approved": true}}. ' +
        "Answering again with the same answers returns the same continuation.",
      inputSchema: {
        run_id: RunIdSchema,
        resume: z
          .array(
            z.looseObject({
              interruptId: z.string().min(1).describe("The interrupt's id."),
              status: z.enum(["resolved", "cancelled"]).describe("resolved: answered with payload; cancelled: declined."),
              payload: z.unknown().optional().describe("The answer, as the interrupt's responseSchema says."),
            }),
          )
          .min(1)
          .describe("One answer per interrupt."),
      },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    },
    tool("operator", "answering a run's interrupts", async ({ run_id, resume }: { run_id: string; resume: unknown[] }) => {
      const runId = run_id.toLowerCase();
      const run = await withWorkspace(pool, auth, async (db) => getRun(db, await resumeRun(db, runId, resume)));
      return jsonResult({ run_id: runId, continuation_run_id: run!.id, thread_id: run!.thread_id, status: run!.status });
    }),
  );

  server.registerTool(
    "send_event",
    {
      title: "Send an event to a run",
      description:
        "Sends a named event to a run: it wakes the run at once when the run waits for that name (wait_for_event), else it is kept for the run's next wait of that name. Returns woke: whether it woke the run now.",
      inputSchema: {
        run_id: RunIdSchema,
        name: z.string().min(1).max(200).describe("The event's name, as the run waits for it."),
        payload: z.unknown().optional().describe("The event's data (JSON, at most 64 KiB)."),
      },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    tool("operator", "sending an event to a run", async ({ run_id, name, payload }: { run_id: string; name: string; payload?: unknown }) => {
      const runId = run_id.toLowerCase();
      const woke = await withWorkspace(pool, auth, (db) => sendEvent(db, runId, name, payload));
      return jsonResult({ run_id: runId, name, woke });
    }),
  );

  server.registerTool(
    "cancel_run",
    {
      title: "Cancel a run",
      description:
        "Cancels a run: the worker running it stops within a second. cancelled is false when the run had already ended. Cancelling again changes nothing.",
      inputSchema: { run_id: RunIdSchema },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    tool("operator", "cancelling a run", async ({ run_id }: { run_id: string }) => {
      const runId = run_id.toLowerCase();
      const { cancelled, run } = await withWorkspace(pool, auth, async (db) => ({ cancelled: await cancelRun(db, runId), run: await getRun(db, runId) }));
      return jsonResult({ run_id: runId, cancelled, status: run?.status ?? "cancelled" });
    }),
  );

  server.registerResource(
    "run-transcript",
    new ResourceTemplate(TRANSCRIPT_TEMPLATE, {
      list: async () => {
        requireRole(auth, "viewer", "listing runs");
        const runs = await withWorkspace(pool, auth, (db) => listRuns(db, LISTED_RUNS));
        return {
          resources: runs.map((r) => ({
            uri: transcriptUri(r.id),
            name: `run ${r.id}`,
            title: `${r.agent}: ${r.status}`,
            description: `The transcript of run ${r.id} of agent ${r.agent} (${r.status}, started ${new Date(r.created_at).toISOString()})`,
            mimeType: "text/plain",
          })),
        };
      },
    }),
    {
      title: "Run transcript",
      description: `A run's conversation as text: its input messages, the assistant's messages, tool calls and results. resources/list offers the ${LISTED_RUNS} newest runs.`,
      mimeType: "text/plain",
    },
    async (uri, variables) => {
      const runId = String(variables.run_id ?? "").toLowerCase();
      if (!isUuid(runId)) throw new McpError(RESOURCE_NOT_FOUND, `no such resource: ${uri.href} (the run id must be a UUID)`);
      const text = await withWorkspace(pool, auth, async (db) => {
        const run = await getRun(db, runId);
        if (!run) return null;
        return transcript(run, await readAllEvents(db, runId));
      });
      if (text === null) throw new McpError(RESOURCE_NOT_FOUND, `no such resource: ${uri.href} (unknown run ${runId})`);
      return { contents: [{ uri: uri.href, mimeType: "text/plain", text }] };
    },
  );

  return server;
}

export function transcriptUri(runId: string): string {
  return TRANSCRIPT_TEMPLATE.replace("{run_id}", runId);
}

function jsonResult(value: Record<string, unknown>): CallToolResult {
  return { content: [{ type: "text", text: JSON.stringify(value, null, 2) }], structuredContent: value };
}

function errorResult(message: string): CallToolResult {
  return { isError: true, content: [{ type: "text", text: message }] };
}

// ---------------------------------------------------------------------------------------------
// Reading and waiting
// ---------------------------------------------------------------------------------------------

type Db = Parameters<typeof getRun>[0];

/** What get_run and wait_run tell of a run: a NotFoundError when the key's workspace has no such run. */
async function readRunState(db: Db, runId: string): Promise<Record<string, unknown> & { status: string }> {
  const run = await getRun(db, runId);
  const extra = run && (await readRunInterrupts(db, runId));
  if (!run || !extra) throw new NotFoundError(`unknown run ${runId}`);
  return summarize(run, extra);
}

function summarize(run: RunView, extra: NonNullable<Awaited<ReturnType<typeof readRunInterrupts>>>): Record<string, unknown> & { status: string } {
  // interrupts are open while nobody answered them; an answered run keeps its status and gains continued_by
  const open = run.status === "interrupted" && extra.continued_by === null ? (extra.interrupts?.interrupts ?? []) : [];
  return {
    run_id: run.id,
    agent_id: run.agent_id,
    thread_id: run.thread_id,
    parent_run_id: run.parent_run_id,
    status: run.status,
    output: run.output,
    error: run.error,
    usage: run.usage,
    interrupts: open,
    pending_tool_call_ids: open.length ? (extra.interrupts?.pending_tool_call_ids ?? []) : [],
    continued_by: extra.continued_by,
    created_at: run.created_at,
    started_at: run.started_at,
    finished_at: run.finished_at,
  };
}

/**
 * wait_run: follows the run's events through the events hub (one feed per run for every waiter,
 * as SSE does) and re-reads the run on each finished step, on its terminal event, and at least
 * every WAIT_POLL_MIN_MS..WAIT_POLL_MAX_MS whatever the hub says. Ends when the run is settled
 * (ended or interrupted), when `timeoutMs` passed (still_running), or when the client went away
 * (its request's signal): the run itself never depends on a waiter.
 */
async function waitRun(
  { pool, hub, auth }: { pool: Pool; hub: EventsHub; auth: Auth },
  runId: string,
  timeoutMs: number,
  extra: Extra,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  const read = () => withWorkspace(pool, auth, (db) => readRunState(db, runId));
  const { state, lastSeq } = await withWorkspace(pool, auth, async (db) => ({
    state: await readRunState(db, runId),
    lastSeq: (await readLastEvent(db, runId))?.seq ?? 0,
  }));
  if (SETTLED_STATUSES.has(state.status)) return state;
  const progressToken = extra._meta?.progressToken;
  let steps = 0;
  let run = state;
  // the run was checked under the key's workspace above: the hub may follow it
  let events: Subscription<RunEventRow> | null = await hub.subscribeRunEvents(runId, lastSeq);
  let pending: Promise<IteratorResult<RunEventRow>> | null = null;
  let pollMs = WAIT_POLL_MIN_MS;
  try {
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0 || extra.signal.aborted) break;
      if (events) pending ??= events.next();
      const next = await firstOf(pending, Math.min(left, pollMs), extra.signal);
      if (next === "aborted") break;
      if (next === "timeout") {
        pollMs = Math.min(pollMs * 2, WAIT_POLL_MAX_MS);
      } else {
        pending = null;
        if (next.done) {
          events = null; // the log ended (terminal event): the re-read below sees the end
        } else {
          const row = next.value;
          if (row.type === "STEP_FINISHED") {
            steps++;
            if (progressToken !== undefined) {
              const stepName = typeof row.event.stepName === "string" ? row.event.stepName : `step ${steps}`;
              await extra
                .sendNotification({
                  method: "notifications/progress",
                  params: { progressToken, progress: steps, message: `run ${runId}: ${stepName} finished` },
                })
                .catch(() => undefined); // the client went away: the loop ends on its signal
            }
          } else if (!TERMINAL_EVENT_TYPES.has(row.type)) {
            continue; // text deltas and the like: nothing to re-read for
          }
        }
      }
      run = await read();
      if (SETTLED_STATUSES.has(run.status)) {
        await extra
          .sendNotification({ method: "notifications/message", params: { level: "info", logger: "everruns", data: `run ${runId} ${run.status}` } })
          .catch(() => undefined);
        return run;
      }
    }
  } finally {
    events?.close();
  }
  return { still_running: true, run_id: runId, status: run.status, waited_s: Math.round(timeoutMs / 1000) };
}

/** The next event, or "timeout" after `ms`, or "aborted" when `signal` aborts; `pending` null: only the timer. */
async function firstOf<T>(pending: Promise<T> | null, ms: number, signal: AbortSignal): Promise<T | "timeout" | "aborted"> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      ...(pending ? [pending] : []),
      new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), ms);
      }),
      new Promise<"aborted">((resolve) => {
        onAbort = () => resolve("aborted");
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
}

/** Every event of a run (paged), stopping at MAX_TRANSCRIPT_CHARS worth of events. */
async function readAllEvents(db: Db, runId: string): Promise<{ rows: RunEventRow[]; truncated: boolean }> {
  const rows: RunEventRow[] = [];
  let after = 0;
  let chars = 0;
  for (;;) {
    const page = await readRunEvents(db, runId, after, 1000);
    for (const row of page) {
      rows.push(row);
      chars += JSON.stringify(row.event).length;
      if (chars > MAX_TRANSCRIPT_CHARS) return { rows, truncated: true };
    }
    if (page.length < 1000) return { rows, truncated: false };
    after = page.at(-1)!.seq;
  }
}

/** A string field of an event, or `fallback`. */
function str(value: unknown, fallback = ""): string {
  return typeof value === "string" ? value : fallback;
}

/** Text of a message's content: a string, or AG-UI content parts (their text). */
function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => (p && typeof p === "object" && typeof (p as { text?: unknown }).text === "string" ? (p as { text: string }).text : "[non-text part]"))
      .join("");
  }
  return content === undefined || content === null ? "" : JSON.stringify(content);
}

/**
 * A run's conversation as text: the input's messages, then what the run's event log says —
 * assistant messages (their deltas joined), tool calls with their arguments, tool results —
 * then how the run ended.
 */
export function transcript(run: RunView, { rows, truncated }: { rows: RunEventRow[]; truncated: boolean }): string {
  const lines: string[] = [`# run ${run.id} (thread ${run.thread_id}): ${run.status}`, ""];
  const input = run.input as { messages?: Array<{ role?: unknown; content?: unknown }>; resume?: unknown } | null;
  for (const m of input?.messages ?? []) lines.push(`${String(m.role)}: ${contentText(m.content)}`);
  if (input?.resume !== undefined) lines.push(`resume: ${JSON.stringify(input.resume)}`);
  const texts = new Map<string, string>();
  const calls = new Map<string, { name: string; args: string }>();
  for (const { type, event } of rows) {
    const messageId = str(event.messageId);
    const toolCallId = str(event.toolCallId);
    if (type === "TEXT_MESSAGE_START") texts.set(messageId, "");
    else if (type === "TEXT_MESSAGE_CONTENT") texts.set(messageId, (texts.get(messageId) ?? "") + str(event.delta));
    else if (type === "TEXT_MESSAGE_END") {
      lines.push(`assistant: ${texts.get(messageId) ?? ""}`);
      texts.delete(messageId);
    } else if (type === "TOOL_CALL_START") calls.set(toolCallId, { name: str(event.toolCallName, "tool"), args: "" });
    else if (type === "TOOL_CALL_ARGS") {
      const call = calls.get(toolCallId);
      if (call) call.args += str(event.delta);
    } else if (type === "TOOL_CALL_END") {
      const call = calls.get(toolCallId);
      lines.push(`assistant calls ${call?.name ?? "a tool"}(${call?.args ?? ""})`);
    } else if (type === "TOOL_CALL_RESULT") {
      lines.push(`tool ${calls.get(toolCallId)?.name ?? toolCallId}: ${contentText(event.content)}`);
    } else if (type === "RUN_ERROR") {
      lines.push(`error: ${str(event.message)}`);
    }
  }
  for (const text of texts.values()) lines.push(`assistant (unfinished): ${text}`);
  if (truncated) lines.push("", `[the transcript stops here: it is over ${MAX_TRANSCRIPT_CHARS} characters; GET /api/runs/${run.id}/events has every event]`);
  lines.push("", `[run ${run.status}]`);
  return lines.join("\n") + "\n";
}
