// Sub-agents (docs/sub-agents.md): a tool of type "agent" starts a child run of another agent of
// the workspace, and the calling run waits durably for it. The tool never writes: it decides
// which children to start and parks the run (park, a `children` wait) naming them in its wait
// step's output; the commit of that step starts them (000033 tg_runs__sub_agents_park), so a
// crash before the commit leaves no child and a replayed step never starts one twice. A child's
// end wakes the caller in the transaction that ends it; the call, resumed, finds its child ended
// and returns its outcome.
//
// Several agent calls of one model turn run in parallel: the first of them to run starts as many
// of the turn's agent calls as the agent's max_parallel_children allows, the rest as slots free
// (a child's end wakes the caller when calls are left to start). The calls' results are then
// committed one step each, in the turn's order, and the model is called once, with all of them.
import { createHash } from "node:crypto";
import type { Queryable } from "../db/pool.ts";
import { LlmOutputSchema, ToolOutputSchema, type AgentConfig, type AgentToolSpec, type ToolCall } from "../db/schemas.ts";
import type { HistoryEntry } from "../db/sql/beginStep.ts";
import { findAgentsByName } from "../db/sql/findAgentsByName.ts";
import { readCallerTree, type CallerTree, type ChildRun } from "../db/sql/readCallerTree.ts";
import { lastTurnIndex } from "./conversation.ts";
import type { ToolDefinition } from "./providers/types.ts";
import { MAX_PARK_MS, park, result, ToolError, type Tool, type ToolEvent } from "./tools/types.ts";
import { argumentProblems } from "./tools/validate.ts";

/** What a sub-agent call needs of the run that makes it (run_step.ts gives it to the engine's tool steps). */
export interface CallerScope {
  db: Queryable;
  workspaceId: string;
  /** the calls of the run's last model turn that have no result yet, in the turn's order (read when a call needs them) */
  pendingCalls: () => ToolCall[];
}

/** The longest user message a call gives its child (characters): the rest of a run's input limit is the child's. */
export const MAX_CHILD_TASK_CHARS = 200_000;

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

const DEFAULT_PARAMETERS = {
  type: "object",
  properties: { task: { type: "string", description: "What the sub-agent should do: the whole task, with everything it needs to know." } },
  required: ["task"],
};

/**
 * The id of the child a call starts: derived from the caller and the call, so a start the
 * workspace's admission limits put off (000033: the caller retries later) announces and later
 * inserts the same run, and no two calls share one.
 */
export function childRunId(callerRunId: string, toolCallId: string): string {
  const hex = createHash("sha256").update(`everruns.sub-agent:${callerRunId}:${toolCallId}`).digest("hex");
  // an RFC 4122 layout: version 8 (custom), variant 10
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** The calls of the last model turn in `history` that no committed tool step answered yet, in order. */
export function pendingCalls(history: HistoryEntry[]): ToolCall[] {
  const last = lastTurnIndex(history);
  if (last < 0) return [];
  const turn = history[last]!;
  if (turn.kind !== "step") return [];
  const answered = new Set<string>();
  for (const e of history.slice(last + 1)) {
    if (e.kind === "step" && e.step.kind === "tool") answered.add(ToolOutputSchema.parse(e.step.output).tool_call_id);
  }
  return LlmOutputSchema.parse(turn.step.output).tool_calls.filter((c) => !answered.has(c.id));
}

/**
 * The CUSTOM everruns.child_interrupted events a root reports its descendants awaiting an answer
 * with (each once: the root's log keeps the report; 000033 wakes a root until it has).
 */
export function childInterruptedEvents(unreported: CallerTree["unreported"]): ToolEvent[] {
  return unreported.map((d) => ({
    type: "CUSTOM",
    name: "everruns.child_interrupted",
    value: { run_id: d.run_id, agent: d.agent, caller_run_id: d.caller_run_id, interrupts: d.interrupts ?? [] },
  }));
}

/** The tools agentTool made: run_step.ts tells a sub-agent call from another tool call by it. */
const AGENT_TOOLS = new WeakSet<Tool>();

/** Whether `tool` starts a sub-agent (a tool of type "agent"). */
export function isAgentTool(tool: Tool | undefined): boolean {
  return tool !== undefined && AGENT_TOOLS.has(tool);
}

/**
 * Whether the last model turn in `history` started children already (one of its wait steps named
 * some to start): its agent calls' children run or ran, and what is left of them is to wait and
 * record. Holding such a call back (a budget's limit) would leave its child running with no
 * caller to wake, and the continuation would start it again.
 */
export function turnStartedChildren(history: HistoryEntry[]): boolean {
  const last = lastTurnIndex(history);
  if (last < 0) return false;
  return history.slice(last + 1).some((e) => {
    if (e.kind !== "step" || e.step.kind !== "wait") return false;
    const start = (e.step.output as { start?: unknown } | null)?.start;
    return Array.isArray(start) && start.length > 0;
  });
}

/** The definition the model sees for an agent tool. */
export function agentToolDefinition(spec: AgentToolSpec): ToolDefinition {
  return {
    name: spec.name,
    description: spec.description ?? `Delegates a task to the sub-agent "${spec.agent}" and returns its answer.`,
    parameters: spec.parameters ?? DEFAULT_PARAMETERS,
  };
}

/** The user message a call's arguments make for its child, or why they make none. */
export function childTask(spec: AgentToolSpec, args: Record<string, unknown>): { text: string } | { problem: string } {
  let text: string;
  if (typeof spec.input === "object") {
    const value = args[spec.input.field];
    if (typeof value !== "string") return { problem: `the argument "${spec.input.field}" (the sub-agent's task) must be a string` };
    text = value;
  } else if (spec.input === "auto" && Object.keys(args).length === 1 && typeof args.task === "string") {
    text = args.task;
  } else {
    text = JSON.stringify(args);
  }
  if (text.trim() === "") return { problem: "the sub-agent's task is empty" };
  if (text.length > MAX_CHILD_TASK_CHARS) {
    return {
      problem: `the sub-agent's task is ${text.length} characters; at most ${MAX_CHILD_TASK_CHARS} (MAX_CHILD_TASK_CHARS): pass a reference to large data`,
    };
  }
  return { text };
}

/** The agent tools of a config, by the name the model calls them. */
function agentSpecs(config: AgentConfig): Map<string, AgentToolSpec> {
  const out = new Map<string, AgentToolSpec>();
  for (const t of config.tools) if (typeof t === "object" && t.type === "agent") out.set(t.name, t);
  return out;
}

/** The call's result: the child's outcome. A child that failed or was cancelled is an error result the model can react to. */
function outcomeOf(child: ChildRun, events: ToolEvent[]): unknown {
  if (child.status === "succeeded") {
    return result({ run_id: child.run_id, status: child.status, output: child.output ?? null }, events.length > 0 ? { update: { events } } : {});
  }
  const why = child.status === "cancelled" ? "was cancelled" : `failed: ${child.error?.message ?? child.error?.code ?? "no error recorded"}`;
  throw new ToolError(`the sub-agent "${child.agent}" (run ${child.run_id}) ${why}`);
}

/** A tool that starts a run of `spec.agent` and returns its outcome (see the top of this file). */
export function agentTool(spec: AgentToolSpec, config: AgentConfig): Tool {
  const definition = agentToolDefinition(spec);
  const specs = agentSpecs(config);
  const tool: Tool = {
    definition,
    async execute(args, ctx) {
      const caller = ctx.caller;
      if (!caller) throw new ToolError(`${spec.name} starts a sub-agent, which only a run's tool step can do`);
      const tree = await readCallerTree(caller.db, ctx.runId);
      const events = childInterruptedEvents(tree.unreported);
      const mine = tree.children.find((c) => c.tool_call_id === ctx.toolCallId);
      if (mine && TERMINAL.has(mine.status)) return outcomeOf(mine, events);

      if (!mine) {
        // this call has no child yet: the limits, then the agent, decide whether it may have one
        if (tree.depth + 1 > config.max_depth) {
          throw new ToolError(
            `sub-agents may nest at most ${config.max_depth} deep (the agent's max_depth); this run is at depth ${tree.depth}: do the task yourself`,
          );
        }
        if (tree.started >= config.max_children) {
          throw new ToolError(`this run already started ${tree.started} sub-agents, the agent's max_children: do the rest yourself`);
        }
        const task = childTask(spec, args);
        if ("problem" in task) throw new ToolError(task.problem);
      }

      // Start what may start now: this call and the turn's other agent calls without a child, in
      // the turn's order, as far as the free slots and the run's max_children allow. A call that
      // cannot start (its agent is missing, its arguments are invalid, it awaits approval) is
      // left to its own step, which tells the model why.
      const started = new Set(tree.children.map((c) => c.tool_call_id));
      const candidates = caller.pendingCalls().filter((c) => {
        if (started.has(c.id)) return false;
        if (c.id === ctx.toolCallId) return true;
        const other = specs.get(c.name);
        return other !== undefined && other.requires_approval !== true && tree.depth + 1 <= config.max_depth;
      });
      if (!mine && !candidates.some((c) => c.id === ctx.toolCallId)) candidates.unshift({ id: ctx.toolCallId, name: spec.name, arguments: args });
      const agentIds = await findAgentsByName(caller.db, caller.workspaceId, [...new Set(candidates.map((c) => specs.get(c.name)?.agent ?? spec.agent))]);
      if (!mine && !agentIds.has(spec.agent)) {
        throw new ToolError(`there is no agent named "${spec.agent}" in this workspace (the tool ${spec.name} starts it): it may have been renamed or deleted`);
      }

      const active = tree.children.filter((c) => !TERMINAL.has(c.status)).length;
      let slots = config.max_parallel_children - active;
      let allowance = config.max_children - tree.started;
      const start: Array<{ run_id: string; tool_call_id: string; agent_id: string; agent: string; input: Record<string, unknown> }> = [];
      let unstarted = 0;
      for (const call of candidates) {
        const callSpec = call.id === ctx.toolCallId ? spec : specs.get(call.name)!;
        const callArgs = call.id === ctx.toolCallId ? args : call.arguments;
        const agentId = agentIds.get(callSpec.agent);
        const task = childTask(callSpec, callArgs);
        const valid = agentId !== undefined && !("problem" in task) && argumentProblems(agentToolDefinition(callSpec).parameters, callArgs) === null;
        if (!valid) continue;
        if (slots <= 0 || allowance <= 0) {
          unstarted++;
          continue;
        }
        start.push({
          run_id: childRunId(ctx.runId, call.id),
          tool_call_id: call.id,
          agent_id: agentId,
          agent: callSpec.agent,
          input: { messages: [{ role: "user", content: task.text }] },
        });
        slots--;
        allowance--;
      }
      for (const s of start) {
        events.push({ type: "CUSTOM", name: "everruns.child_started", value: { run_id: s.run_id, agent: s.agent, tool_call_id: s.tool_call_id } });
      }
      return park({
        delayMs: MAX_PARK_MS,
        waiting: { type: "children", unstarted, active: active + start.length },
        output: { agent: spec.agent, ...(start.length > 0 && { start }) },
        again: true,
        events,
      });
    },
  };
  AGENT_TOOLS.add(tool);
  return tool;
}
