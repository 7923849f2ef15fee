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
import { DEFAULT_MCP_MAX_RESULT_BYTES, MAX_AGENT_TOOLS, type AgentConfig, type McpToolSpec } from "../../db/schemas.ts";
import { canonicalMcpUrl } from "../../db/sql/mcpOauth.ts";
import { cachedMcpToolList, pinMcpToolList, pinnedMcpTools, recordMcpListFailure } from "../../db/sql/mcpToolLists.ts";
import { secretKeyFromEnv } from "../../lib/secret-box.ts";
import type { Pool } from "../../db/pool.ts";
import { describeStorableProblem, findStorableProblem } from "../../lib/storable-json.ts";
import type { Logger } from "../../lib/logger.ts";
import type { WorkspaceSecrets } from "../secrets.ts";
import type { AgentTool } from "../tool-step.ts";
import { ToolError, TransientToolError, type Tool } from "../tools/types.ts";
import type { McpConnections, McpServerSpec } from "./connections.ts";
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
}

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
}

export class McpTools {
  /** pinned lists by run id, then server name (the arrays shared through `lists`) */
  private readonly pins = new Map<string, Map<string, unknown[]>>();
  /** parsed tool lists by list id: many runs pin the same cached list */
  private readonly lists = new Map<string, unknown[]>();

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
      for (const raw of lists.get(spec.name) ?? []) {
        const listed = raw as ListedTool;
        if (typeof listed?.name !== "string" || !allowed(listed.name, spec.allow)) continue;
        const name = exposedToolName(spec.name, listed.name);
        if (taken.has(name) || out.has(name)) {
          this.log.warn(`run ${run.id}: MCP tool ${spec.name}/${listed.name} is exposed as ${name}, which another tool already has; it is left out`);
          continue;
        }
        const requiresApproval = spec.requires_approval === true || (Array.isArray(spec.requires_approval) && spec.requires_approval.includes(listed.name));
        const idempotent =
          listed.annotations?.readOnlyHint === true || listed.annotations?.idempotentHint === true || (spec.idempotent_tools ?? []).includes(listed.name);
        out.set(name, {
          definition: { name, description: describe(spec, listed), parameters: parametersOf(listed) },
          requiresApproval,
          tool: this.tool(run.workspaceId, spec, server, listed.name, secrets),
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

  private tool(workspaceId: string, spec: McpToolSpec, server: McpServerSpec, toolName: string, secrets: WorkspaceSecrets | undefined): Tool {
    const connections = this.connections;
    const oauthOf = () => this.oauthOf(workspaceId, spec, secrets);
    return {
      definition: { name: toolName, description: "", parameters: { type: "object" } },
      async execute(args, ctx) {
        // read per call: a connection completed (or refused) since the listing counts
        const oauth = await oauthOf();
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
  private async pinned(run: RunRef, servers: McpToolSpec[], secrets: WorkspaceSecrets | undefined, signal: AbortSignal): Promise<Map<string, unknown[]>> {
    const remembered = this.pins.get(run.id);
    if (remembered && servers.every((s) => remembered.has(s.name))) return remembered;
    const lists = new Map<string, unknown[]>((await pinnedMcpTools(this.pool, run.id)).map((p) => [p.server, this.shared(p.listId, p.tools)]));
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

  /** One array per list id, whichever run's pin read it. */
  private shared(listId: string, tools: unknown[]): unknown[] {
    const known = this.lists.get(listId);
    if (known) return known;
    if (this.lists.size >= REMEMBERED_RUNS) this.lists.delete(this.lists.keys().next().value!);
    this.lists.set(listId, tools);
    return tools;
  }

  private async pin(run: RunRef, spec: McpToolSpec, secrets: WorkspaceSecrets | undefined, signal: AbortSignal, parentListId?: string): Promise<unknown[]> {
    const endpoint = endpointOf(spec);
    // an OAuth server the workspace is not connected to fails the run at once, cached list or not
    let oauth: McpOauthAuth | undefined;
    try {
      oauth = await this.oauthOf(run.workspaceId, spec, secrets);
    } catch (error) {
      if (!(error instanceof ToolError)) throw error;
      // the console's MCP servers page shows it (everruns.mcp_servers' last error)
      await recordMcpListFailure(this.pool, run.id, spec.name, endpoint, error.message).catch((e: unknown) =>
        this.log.warn(`run ${run.id}: could not record MCP server ${spec.name}'s listing failure: ${(e as Error).message}`),
      );
      throw new McpUnavailableError(error.message, { cause: error });
    }
    const reuse =
      parentListId ?? (spec.tool_list_ttl_s > 0 ? (await cachedMcpToolList(this.pool, run.id, spec.name, endpoint, spec.tool_list_ttl_s))?.listId : undefined);
    if (reuse !== undefined) {
      const pinned = await pinMcpToolList(this.pool, { runId: run.id, seq: run.seq, attempt: run.attempt, server: spec.name, listId: reuse, endpoint });
      return this.shared(pinned.listId, pinned.tools);
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
        this.log.warn(`run ${run.id}: could not record MCP server ${spec.name}'s listing failure: ${(e as Error).message}`),
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
    this.log.debug(`run ${run.id}: pinned ${listing.tools.length} tools of MCP server ${spec.name}`);
    return this.shared(pinned.listId, pinned.tools);
  }
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
