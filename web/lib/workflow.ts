// A workflow agent's definition (issue 21: config.kind "workflow", config.definition in a subset of
// the Amazon States Language) read for drawing, and a workflow run's steps read as an overlay on it.
// The console only draws: this reader is lenient (a state without a known type is drawn as "?",
// a Next to a missing state is drawn to a dashed "missing" node) so an invalid definition in the
// editor still previews; the API's validation (db/workflow-definition.ts, whose walkers take a
// parsed, valid definition; the console imports nothing from db/) is the one that refuses.
import { stableJson } from "./format";

/** A state's edge out: its label says which rule took it. */
export interface WorkflowEdge {
  from: string;
  to: string;
  /** "", "rule 1" (Choices[0]), "Default", "Catch States.ALL" */
  label: string;
  kind: "next" | "choice" | "default" | "catch";
}

export interface WorkflowState {
  name: string;
  type: string;
  /** a Task's resource, short: "agent:drafter" for "everruns:agent:drafter" */
  resource: string | null;
  /** End: true, or a Succeed / Fail state */
  terminal: boolean;
  /** Parallel: its branches; Map: its item processor (one machine) */
  nested: WorkflowMachine[];
  /** the state's own JSON, for the version diff ("changed") and a tooltip */
  json: unknown;
}

export interface WorkflowMachine {
  startAt: string | null;
  states: WorkflowState[];
  edges: WorkflowEdge[];
  /** targets named by an edge that are not states of this machine */
  missing: string[];
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);

/** config.definition when config.kind is "workflow", else null (an ordinary agent). */
export function workflowDefinitionOf(config: unknown): Json | null {
  if (!isObject(config) || config.kind !== "workflow") return null;
  return isObject(config.definition) ? config.definition : {};
}

export const isWorkflowConfig = (config: unknown): boolean => isObject(config) && config.kind === "workflow";

/** "everruns:agent:drafter" → "agent:drafter"; other ARNs keep their last part. */
export function shortResource(resource: string): string {
  if (resource.startsWith("everruns:")) return resource.slice("everruns:".length);
  const parts = resource.split(":");
  return parts.at(-1) || resource;
}

/** A definition (or a nested machine: a Parallel branch, a Map's ItemProcessor) read for drawing. */
export function readMachine(definition: unknown): WorkflowMachine {
  const def = isObject(definition) ? definition : {};
  const raw = isObject(def.States) ? def.States : {};
  const states: WorkflowState[] = [];
  const edges: WorkflowEdge[] = [];
  for (const [name, value] of Object.entries(raw)) {
    const s = isObject(value) ? value : {};
    const type = str(s.Type) ?? "?";
    const nested: WorkflowMachine[] = [];
    if (type === "Parallel" && Array.isArray(s.Branches)) for (const b of s.Branches) nested.push(readMachine(b));
    if (type === "Map") {
      // ItemProcessor is today's name; Iterator the older one, still accepted by Step Functions
      const processor = isObject(s.ItemProcessor) ? s.ItemProcessor : isObject(s.Iterator) ? s.Iterator : null;
      if (processor) nested.push(readMachine(processor));
    }
    const resource = str(s.Resource);
    states.push({
      name,
      type,
      resource: type === "Task" && resource ? shortResource(resource) : null,
      terminal: s.End === true || type === "Succeed" || type === "Fail",
      nested,
      json: value,
    });
    const next = str(s.Next);
    if (next) edges.push({ from: name, to: next, label: "", kind: "next" });
    if (Array.isArray(s.Choices)) {
      s.Choices.forEach((rule, i) => {
        const to = isObject(rule) ? str(rule.Next) : null;
        if (to) edges.push({ from: name, to, label: `rule ${i + 1}`, kind: "choice" });
      });
    }
    const fallback = str(s.Default);
    if (fallback) edges.push({ from: name, to: fallback, label: "Default", kind: "default" });
    if (Array.isArray(s.Catch)) {
      for (const catcher of s.Catch) {
        const to = isObject(catcher) ? str(catcher.Next) : null;
        if (!to || !isObject(catcher)) continue;
        const errors = Array.isArray(catcher.ErrorEquals) ? catcher.ErrorEquals.filter((e): e is string => typeof e === "string") : [];
        edges.push({ from: name, to, label: `Catch ${errors.join(", ") || "?"}`, kind: "catch" });
      }
    }
  }
  const names = new Set(states.map((s) => s.name));
  const startAt = str(def.StartAt);
  const missing = [...new Set([...edges.map((e) => e.to), ...(startAt ? [startAt] : [])].filter((n) => !names.has(n)))];
  return { startAt, states, edges, missing };
}

/** Every state of a machine and of the machines nested in it, by name (ASL names are unique across a whole machine). */
export function allStates(machine: WorkflowMachine): Map<string, WorkflowState> {
  const out = new Map<string, WorkflowState>();
  const walk = (m: WorkflowMachine) => {
    for (const s of m.states) {
      if (!out.has(s.name)) out.set(s.name, s);
      s.nested.forEach(walk);
    }
  };
  walk(machine);
  return out;
}

export type StateChange = "added" | "removed" | "changed";

/**
 * The states added, removed and changed from one definition to the next (compared as JSON with
 * sorted keys, so a reordering of keys is no change), nested states included.
 */
export function diffMachines(before: WorkflowMachine, after: WorkflowMachine): Map<string, StateChange> {
  const a = allStates(before);
  const b = allStates(after);
  const out = new Map<string, StateChange>();
  for (const [name, s] of b) {
    const old = a.get(name);
    if (!old) out.set(name, "added");
    else if (stableJson(withoutNested(old)) !== stableJson(withoutNested(s))) out.set(name, "changed");
  }
  for (const name of a.keys()) if (!b.has(name)) out.set(name, "removed");
  return out;
}

/** A Parallel or Map state's own fields: a change inside a branch marks the inner state, not the outer one too. */
function withoutNested(s: WorkflowState): unknown {
  if (!isObject(s.json)) return s.json;
  const { Branches: _b, ItemProcessor: _p, Iterator: _i, ...rest } = s.json;
  return rest;
}

// ---------------------------------------------------------------------------------------------
// A run drawn on its definition

export type StateStatus = "current" | "visited" | "failed" | "waiting";

/** What the run did in one state, drawn on its node. */
export interface StateOverlay {
  status: StateStatus;
  /** how many times the state finished (a loop visits a state more than once) */
  visits: number;
  /** retries of its last visit */
  retries: number;
  /** the time of its last visit, entered to finished (ms); null while in it */
  durationMs: number | null;
  /** a waiting state's deadline (ISO) */
  until?: string | null;
  /** why a waiting state waits: timer, event, children, retry, approval */
  reason?: string | null;
}

/** One transition of a workflow run: a `state` step (a state finished) or a `wait` step (a state parked). */
export interface Transition {
  runId: string;
  seq: number;
  kind: "state" | "wait";
  state: string;
  type: string;
  status: string;
  enteredAt: string | null;
  finishedAt: string | null;
  /** entered_at to the step's commit, ms */
  tookMs: number | null;
  retries: number;
  next: string | null;
  error: { Error?: string; Cause?: string } | null;
  caught: boolean;
  reason: string | null;
  until: string | null;
  event: { name?: string; correlation_key?: string } | null;
}

/** A run step as the console reads it (GraphQL RunStep). */
export interface WorkflowStepRow {
  seq: number;
  kind: string;
  name: string;
  status: string;
  finishedAt?: string | null;
  output?: unknown;
}

const time = (iso: string | null | undefined): number | null => {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
};

/** A run's workflow transitions, in order: its `state` and `wait` steps whose output says `workflow: true`. */
export function transitionsOf(runId: string, steps: WorkflowStepRow[]): Transition[] {
  const out: Transition[] = [];
  for (const step of steps) {
    const o = step.output;
    if ((step.kind !== "state" && step.kind !== "wait") || !isObject(o) || o.workflow !== true) continue;
    const enteredAt = str(o.entered_at);
    const entered = time(enteredAt);
    const finished = time(step.finishedAt);
    out.push({
      runId,
      seq: step.seq,
      kind: step.kind,
      state: str(o.state) ?? step.name,
      type: str(o.type) ?? "?",
      status: step.status,
      enteredAt,
      finishedAt: step.finishedAt ?? null,
      tookMs: step.kind === "state" && entered != null && finished != null ? Math.max(0, finished - entered) : null,
      retries: typeof o.retries === "number" ? o.retries : 0,
      next: str(o.next),
      error: isObject(o.error) ? { Error: str(o.error.Error) ?? undefined, Cause: str(o.error.Cause) ?? undefined } : null,
      caught: o.caught === true,
      reason: str(o.reason),
      until: str(o.until),
      event: isObject(o.event) ? { name: str(o.event.name) ?? undefined, correlation_key: str(o.event.correlation_key) ?? undefined } : null,
    });
  }
  return out;
}

/**
 * The overlay of a run on its graph, from its transitions (oldest first) and `state.current`:
 * each finished state visited (or failed), the current one current, or waiting when its last
 * transition is a wait step not followed by the state's finish. `ended`: the run (chain) ended
 * (succeeded, failed, cancelled): nothing is current or waiting any more.
 */
export function overlayOf(transitions: Transition[], current: string | null, ended: boolean): Map<string, StateOverlay> {
  const out = new Map<string, StateOverlay>();
  for (const t of transitions) {
    const prev = out.get(t.state);
    if (t.kind === "wait") {
      out.set(t.state, {
        status: "waiting",
        visits: prev?.visits ?? 0,
        retries: t.retries,
        durationMs: prev?.durationMs ?? null,
        until: t.until,
        reason: t.reason,
      });
      continue;
    }
    out.set(t.state, {
      status: t.status === "failed" ? "failed" : "visited",
      visits: (prev?.visits ?? 0) + 1,
      retries: t.retries,
      durationMs: t.tookMs,
    });
  }
  if (ended) {
    // an ended run waits for nothing: a state it was parked in when it ended was entered, no more
    for (const [name, o] of out) if (o.status === "waiting") out.set(name, { ...o, status: "visited", until: null });
    return out;
  }
  if (current) {
    const prev = out.get(current);
    const last = transitions.at(-1);
    // parked: its last transition is its wait step; else the engine is in it now
    const parked = last?.kind === "wait" && last.state === current;
    if (!parked) out.set(current, { status: "current", visits: prev?.visits ?? 0, retries: prev?.retries ?? 0, durationMs: prev?.durationMs ?? null });
  }
  return out;
}

/** The run's AG-UI state for a workflow: `{current, data}`; current null once ended. */
export function workflowCurrentOf(state: unknown): string | null {
  return isObject(state) ? str(state.current) : null;
}
