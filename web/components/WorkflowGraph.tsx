"use client";
// A workflow definition drawn as a graph (issue 21): a node per state (its name, type, a Task's
// resource), an edge per transition labelled with the rule that takes it (Choice rule n, Default,
// Catch), a start dot and an end ring. Laid out by dagre (@dagrejs/dagre): synchronous, so the
// graph is computed during render with no effect or loading state (elkjs lays out in a promise,
// a worker in the browser), and small (~30 kB min+gz against elkjs's ~400 kB). A Parallel's
// branches and a Map's item processor are laid out on their own, recursively, and drawn inside
// their state as boxes; this keeps dagre's graphs flat (its compound mode does not route edges
// into a cluster, and a state's edges here leave the state, never a branch's inner node).
// Optional overlays: a run's per-state status (current, visited with timings and attempts,
// failed, waiting with its deadline) and a version diff's per-state change (added, removed,
// changed). Each node is a `<g role="img">` with an aria-label saying all of it, and
// `data-state` / `data-status` / `data-change` for tests.
import { graphlib, layout } from "@dagrejs/dagre";
import { useId, useMemo } from "react";
import { formatDateTime, formatDuration } from "@/lib/format";
import type { StateChange, StateOverlay, WorkflowMachine, WorkflowState } from "@/lib/workflow";

const NODE_H = 54;
const MIN_W = 120;
const MAX_W = 260;
const PAD = 12;
const HEADER_H = 40;
const START = "\u0000start";
const END = "\u0000end";
const MISSING = "\u0000missing:";

interface Point {
  x: number;
  y: number;
}

interface PlacedNode {
  id: string;
  /** the state; null for the start and end markers and a missing target */
  state: WorkflowState | null;
  missing: string | null;
  x: number;
  y: number;
  width: number;
  height: number;
  /** a Parallel's branches, a Map's processor: laid out inside the node, below its header */
  nested: Array<{ dx: number; dy: number; layout: MachineLayout }>;
}

interface PlacedEdge {
  from: string;
  to: string;
  label: string;
  kind: string;
  points: Point[];
  labelAt: Point | null;
}

interface MachineLayout {
  width: number;
  height: number;
  nodes: PlacedNode[];
  edges: PlacedEdge[];
}

/** A rough text width at the graph's font sizes: layout needs it before the text is drawn. */
const textWidth = (text: string, px: number) => text.length * px * 0.58;

function label(state: WorkflowState): string {
  return state.resource ? `${state.type} · ${state.resource}` : state.type;
}

export function overlayText(o: StateOverlay | undefined): string {
  if (!o) return "";
  const parts: string[] = [];
  if (o.status === "current") parts.push("● now");
  // plain words: a pause glyph is missing from common fonts (drawn as a box)
  else if (o.status === "waiting") parts.push(o.until ? `waits: ${o.reason ?? "?"} until ${formatDateTime(o.until)}` : `waits: ${o.reason ?? "?"}`);
  else if (o.status === "failed") parts.push("✗ failed");
  else parts.push("✓");
  if (o.visits > 1) parts.push(`${o.visits}×`);
  if (o.status !== "current" && o.status !== "waiting" && o.durationMs != null) parts.push(formatDuration(o.durationMs));
  if (o.retries > 0) parts.push(`${o.retries} ${o.retries === 1 ? "retry" : "retries"}`);
  return parts.join(" · ");
}

function layoutMachine(machine: WorkflowMachine, overlay: Map<string, StateOverlay> | undefined, depth: number): MachineLayout {
  const g = new graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "TB", nodesep: 28, ranksep: 40, edgesep: 12, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  const nestedOf = new Map<string, MachineLayout[]>();
  // nested machines too deep to read are drawn as a count (a Parallel of Maps of Parallels)
  for (const s of machine.states)
    if (s.nested.length > 0 && depth < 3)
      nestedOf.set(
        s.name,
        s.nested.map((m) => layoutMachine(m, overlay, depth + 1)),
      );
  g.setNode(START, { width: 14, height: 14 });
  for (const s of machine.states) {
    const inner = nestedOf.get(s.name);
    const base = Math.max(textWidth(s.name, 12), textWidth(label(s), 11), textWidth(overlayText(overlay?.get(s.name)), 11)) + 2 * PAD;
    let width = Math.min(MAX_W, Math.max(MIN_W, base));
    let height = NODE_H;
    if (inner) {
      width = Math.max(width, inner.reduce((sum, l) => sum + l.width, 0) + PAD * (inner.length + 1));
      height = HEADER_H + 14 + Math.max(...inner.map((l) => l.height)) + PAD;
    }
    g.setNode(s.name, { width, height });
  }
  for (const name of machine.missing) g.setNode(MISSING + name, { width: Math.max(MIN_W, textWidth(name, 12) + 2 * PAD), height: 40 });
  const hasEnd = machine.states.some((s) => s.terminal);
  if (hasEnd) g.setNode(END, { width: 18, height: 18 });
  if (machine.startAt) g.setEdge(START, machine.missing.includes(machine.startAt) ? MISSING + machine.startAt : machine.startAt, {}, "start");
  machine.edges.forEach((e, i) => {
    const to = machine.missing.includes(e.to) ? MISSING + e.to : e.to;
    const w = e.label ? textWidth(e.label, 10) + 8 : 0;
    g.setEdge(e.from, to, e.label ? { width: w, height: 14, labelpos: "c" } : {}, `e${i}`);
  });
  for (const s of machine.states) if (s.terminal) g.setEdge(s.name, END, {}, `end-${s.name}`);
  layout(g);

  const nodes: PlacedNode[] = g.nodes().map((id) => {
    const n = g.node(id) as { x: number; y: number; width: number; height: number };
    const state = machine.states.find((s) => s.name === id) ?? null;
    const inner = nestedOf.get(id) ?? [];
    const innerWidth = inner.reduce((sum, l) => sum + l.width, 0) + PAD * (inner.length - 1);
    let dx = (n.width - innerWidth) / 2;
    const nested = inner.map((l) => {
      const at = { dx, dy: HEADER_H + 14, layout: l };
      dx += l.width + PAD;
      return at;
    });
    return {
      id,
      state,
      missing: id.startsWith(MISSING) ? id.slice(MISSING.length) : null,
      x: n.x - n.width / 2,
      y: n.y - n.height / 2,
      width: n.width,
      height: n.height,
      nested,
    };
  });
  const edges: PlacedEdge[] = g.edges().map((ref) => {
    const e = g.edge(ref) as { points?: Point[]; x?: number; y?: number };
    const def = ref.name?.startsWith("e") ? machine.edges[Number(ref.name.slice(1))] : undefined;
    return {
      from: ref.v,
      to: ref.w,
      label: def?.label ?? "",
      kind: def?.kind ?? (ref.w === END ? "end" : "start"),
      points: e.points ?? [],
      labelAt: def?.label && e.x != null && e.y != null ? { x: e.x, y: e.y } : null,
    };
  });
  const graph = g.graph() as { width?: number; height?: number };
  return { width: graph.width ?? 0, height: graph.height ?? 0, nodes, edges };
}

const STATUS_STYLE: Record<string, { fill: string; stroke: string; text: string }> = {
  current: { fill: "#e0f2fe", stroke: "#0284c7", text: "#075985" },
  visited: { fill: "#ecfdf5", stroke: "#10b981", text: "#065f46" },
  failed: { fill: "#fff1f2", stroke: "#e11d48", text: "#9f1239" },
  waiting: { fill: "#f5f3ff", stroke: "#7c3aed", text: "#5b21b6" },
  none: { fill: "#ffffff", stroke: "#94a3b8", text: "#475569" },
};
const CHANGE_STYLE: Record<StateChange, { stroke: string; badge: string; text: string }> = {
  added: { stroke: "#059669", badge: "#d1fae5", text: "+ added" },
  removed: { stroke: "#e11d48", badge: "#ffe4e6", text: "− removed" },
  changed: { stroke: "#d97706", badge: "#fef3c7", text: "~ changed" },
};
const EDGE_COLOR: Record<string, string> = {
  choice: "#0369a1",
  default: "#64748b",
  catch: "#be123c",
  next: "#64748b",
  start: "#334155",
  end: "#334155",
  taken: "#047857",
};

function pathOf(points: Point[]): string {
  if (points.length === 0) return "";
  const [first, ...rest] = points;
  if (rest.length < 2) return `M${first!.x},${first!.y} ${rest.map((p) => `L${p.x},${p.y}`).join(" ")}`;
  // a smooth curve through dagre's bend points: quadratic segments to the midpoints between them
  let d = `M${first!.x},${first!.y}`;
  for (let i = 0; i < rest.length - 1; i++) {
    const p = rest[i]!;
    const q = rest[i + 1]!;
    const end = i === rest.length - 2 ? q : { x: (p.x + q.x) / 2, y: (p.y + q.y) / 2 };
    d += ` Q${p.x},${p.y} ${end.x},${end.y}`;
  }
  return d;
}

/** "State Review (Choice): visited, 1 visit, 120 ms, 1 retry" */
function ariaOf(state: WorkflowState, o: StateOverlay | undefined, change: StateChange | undefined): string {
  const parts = [`State ${state.name} (${label(state)})`];
  const facts: string[] = [];
  if (o) {
    facts.push(o.status);
    // a state entered but not finished yet (current, waiting) has no visit to count
    if (o.visits > 0 || (o.status !== "current" && o.status !== "waiting")) facts.push(`${o.visits} visit${o.visits === 1 ? "" : "s"}`);
    if (o.durationMs != null) facts.push(formatDuration(o.durationMs));
    if (o.retries > 0) facts.push(`${o.retries} ${o.retries === 1 ? "retry" : "retries"}`);
    if (o.status === "waiting") facts.push(`${o.reason ?? "waiting"}${o.until ? ` until ${o.until}` : ""}`);
  } else facts.push("not visited");
  if (change) facts.push(change);
  if (state.terminal) facts.push("ends the workflow");
  return `${parts.join("")}: ${facts.join(", ")}`;
}

export interface WorkflowGraphProps {
  machine: WorkflowMachine;
  /** a run's per-state overlay, by state name */
  overlay?: Map<string, StateOverlay>;
  /** a version diff's per-state change, by state name */
  changes?: Map<string, StateChange>;
  /** transitions a run took ("from\u0000to"): drawn bolder */
  taken?: Set<string>;
  /** shown above the graph, e.g. "v3" */
  caption?: string;
  testId?: string;
  /** the widest the drawing may be, px (it shrinks to its container, never grows past its own size) */
  maxWidth?: number;
}

export function WorkflowGraph({ machine, overlay, changes, taken, caption, testId = "workflow-graph", maxWidth }: WorkflowGraphProps) {
  const id = useId().replace(/:/g, "");
  const graph = useMemo(() => layoutMachine(machine, overlay, 0), [machine, overlay]);
  if (machine.states.length === 0) {
    return (
      <p data-testid={testId} data-empty="true" className="text-xs text-slate-500">
        No states to draw: the definition needs <span className="font-mono">StartAt</span> and <span className="font-mono">States</span>.
      </p>
    );
  }
  const width = Math.ceil(graph.width);
  const height = Math.ceil(graph.height);
  return (
    <figure data-testid={testId} className="overflow-x-auto">
      {caption && <figcaption className="mb-1 text-xs font-medium text-slate-600">{caption}</figcaption>}
      <svg
        viewBox={`0 0 ${width} ${height}`}
        width="100%"
        style={{ maxWidth: Math.min(width, maxWidth ?? width), minWidth: Math.min(width, 360) }}
        role="group"
        aria-label={`workflow graph: ${machine.states.length} states`}
        className="mx-auto block h-auto font-sans"
      >
        <defs>
          {Object.entries(EDGE_COLOR).map(([kind, color]) => (
            // in user units: the same head on a bold edge as on a thin one
            <marker
              key={kind}
              id={`${id}-arrow-${kind}`}
              viewBox="0 0 10 10"
              refX="9"
              refY="5"
              markerUnits="userSpaceOnUse"
              markerWidth="9"
              markerHeight="9"
              orient="auto-start-reverse"
            >
              <path d="M0,0 L10,5 L0,10 z" fill={color} />
            </marker>
          ))}
        </defs>
        <MachineDrawing layout={graph} overlay={overlay} changes={changes} taken={taken} markerId={id} />
      </svg>
      <Legend overlay={overlay} changes={changes} />
    </figure>
  );
}

function MachineDrawing({
  layout: l,
  overlay,
  changes,
  taken,
  markerId,
}: {
  layout: MachineLayout;
  overlay?: Map<string, StateOverlay>;
  changes?: Map<string, StateChange>;
  taken?: Set<string>;
  markerId: string;
}) {
  return (
    <>
      {l.edges.map((e, i) => {
        const color = EDGE_COLOR[e.kind] ?? "#64748b";
        const bold = taken?.has(`${e.from}\u0000${e.to}`);
        return (
          <g key={i} data-edge={`${e.from}->${e.to}`} data-edge-kind={e.kind}>
            <path
              d={pathOf(e.points)}
              fill="none"
              stroke={bold ? EDGE_COLOR.taken : color}
              strokeWidth={bold ? 2.25 : 1.25}
              strokeDasharray={e.kind === "catch" ? "5 3" : undefined}
              markerEnd={`url(#${markerId}-arrow-${bold ? "taken" : e.kind})`}
            />
            {e.labelAt && (
              <g data-testid="edge-label" data-edge-label={e.label}>
                <rect
                  x={e.labelAt.x - (textWidth(e.label, 10) + 8) / 2}
                  y={e.labelAt.y - 7}
                  width={textWidth(e.label, 10) + 8}
                  height={14}
                  rx={3}
                  fill="#ffffff"
                  stroke="#e2e8f0"
                />
                <text x={e.labelAt.x} y={e.labelAt.y + 3.5} textAnchor="middle" fontSize={10} fill={color}>
                  {e.label}
                </text>
              </g>
            )}
          </g>
        );
      })}
      {l.nodes.map((n) => (
        <NodeDrawing key={n.id} node={n} overlay={overlay} changes={changes} taken={taken} markerId={markerId} />
      ))}
    </>
  );
}

function NodeDrawing({
  node: n,
  overlay,
  changes,
  taken,
  markerId,
}: {
  node: PlacedNode;
  overlay?: Map<string, StateOverlay>;
  changes?: Map<string, StateChange>;
  taken?: Set<string>;
  markerId: string;
}) {
  if (n.id === START) {
    return (
      <g role="img" aria-label="start" data-marker="start">
        <circle cx={n.x + n.width / 2} cy={n.y + n.height / 2} r={7} fill="#334155" />
      </g>
    );
  }
  if (n.id === END) {
    return (
      <g role="img" aria-label="end" data-marker="end">
        <circle cx={n.x + n.width / 2} cy={n.y + n.height / 2} r={8.5} fill="none" stroke="#334155" strokeWidth={1.5} />
        <circle cx={n.x + n.width / 2} cy={n.y + n.height / 2} r={5} fill="#334155" />
      </g>
    );
  }
  if (n.missing != null) {
    return (
      <g role="img" aria-label={`Missing state ${n.missing}`} data-missing={n.missing}>
        <rect x={n.x} y={n.y} width={n.width} height={n.height} rx={6} fill="#fff1f2" stroke="#e11d48" strokeDasharray="4 3" />
        <text x={n.x + n.width / 2} y={n.y + 17} textAnchor="middle" fontSize={12} fill="#9f1239">
          {clip(n.missing, n.width, 12)}
        </text>
        <text x={n.x + n.width / 2} y={n.y + 31} textAnchor="middle" fontSize={10} fill="#be123c">
          no such state
        </text>
      </g>
    );
  }
  const state = n.state!;
  const o = overlay?.get(state.name);
  const change = changes?.get(state.name);
  const style = STATUS_STYLE[o?.status ?? "none"]!;
  const stroke = change ? CHANGE_STYLE[change].stroke : style.stroke;
  const info = overlayText(o);
  const cx = n.x + n.width / 2;
  const typeLabel = label(state);
  const aria = ariaOf(state, o, change);
  // two lines (name, type) sit in the middle of a plain node; a third (the run's figures) below them
  const shift = !info && n.nested.length === 0 && state.nested.length === 0 ? 7 : 0;
  return (
    <g role="img" aria-label={aria} data-state={state.name} data-type={state.type} data-status={o?.status ?? "none"} data-change={change}>
      <title>{aria}</title>
      {o?.status === "current" && (
        <rect x={n.x - 4} y={n.y - 4} width={n.width + 8} height={n.height + 8} rx={10} fill="none" stroke="#38bdf8" strokeWidth={2} opacity={0.6}>
          <animate attributeName="opacity" values="0.7;0.15;0.7" dur="1.6s" repeatCount="indefinite" />
        </rect>
      )}
      <rect
        x={n.x}
        y={n.y}
        width={n.width}
        height={n.height}
        rx={state.type === "Choice" ? 14 : 6}
        fill={change === "removed" ? "#fff1f2" : style.fill}
        stroke={stroke}
        strokeWidth={o?.status === "current" || change ? 2.25 : 1.25}
        strokeDasharray={change === "removed" ? "5 3" : undefined}
      />
      {state.terminal && <rect x={n.x + 3} y={n.y + 3} width={n.width - 6} height={n.height - 6} rx={4} fill="none" stroke={stroke} strokeWidth={0.75} />}
      <text
        x={cx}
        y={n.y + 18 + shift}
        textAnchor="middle"
        fontSize={12}
        fontWeight={600}
        fill="#0f172a"
        textDecoration={change === "removed" ? "line-through" : undefined}
      >
        {clip(state.name, n.width, 12)}
      </text>
      <text x={cx} y={n.y + 32 + shift} textAnchor="middle" fontSize={11} fill="#64748b">
        {clip(typeLabel, n.width, 11)}
      </text>
      {info && n.nested.length === 0 && (
        <text data-testid="state-overlay" x={cx} y={n.y + 46} textAnchor="middle" fontSize={11} fill={style.text}>
          {clip(info, n.width, 11)}
        </text>
      )}
      {info && n.nested.length > 0 && (
        <text data-testid="state-overlay" x={n.x + n.width - 8} y={n.y + 18} textAnchor="end" fontSize={11} fill={style.text}>
          {clip(info, n.width / 2, 11)}
        </text>
      )}
      {change && (
        <g>
          <rect
            x={n.x + n.width - textWidth(CHANGE_STYLE[change].text, 10) - 10}
            y={n.y - 9}
            width={textWidth(CHANGE_STYLE[change].text, 10) + 8}
            height={15}
            rx={3}
            fill={CHANGE_STYLE[change].badge}
            stroke={stroke}
            strokeWidth={0.75}
          />
          <text x={n.x + n.width - 6} y={n.y + 2} textAnchor="end" fontSize={10} fill={stroke}>
            {CHANGE_STYLE[change].text}
          </text>
        </g>
      )}
      {n.nested.length === 0 && state.nested.length > 0 && (
        <text x={cx} y={n.y + 46} textAnchor="middle" fontSize={10} fill="#64748b">
          {state.type === "Parallel" ? `${state.nested.length} branches` : "item processor"} · {state.nested.reduce((sum, m) => sum + m.states.length, 0)}{" "}
          states
        </text>
      )}
      {n.nested.map((inner, i) => (
        <g key={i} transform={`translate(${n.x + inner.dx},${n.y + inner.dy})`} data-branch={i}>
          <rect x={0} y={0} width={inner.layout.width} height={inner.layout.height} rx={6} fill="#f8fafc" stroke="#cbd5e1" strokeDasharray="3 3" />
          <text x={6} y={-3} fontSize={9} fill="#64748b">
            {state.type === "Map" ? "each item" : `branch ${i + 1}`}
          </text>
          <MachineDrawing layout={inner.layout} overlay={overlay} changes={changes} taken={taken} markerId={markerId} />
        </g>
      ))}
    </g>
  );
}

/** The text cut to fit `width` px at `px` font size, with an ellipsis (the full text is in the node's title). */
function clip(text: string, width: number, px: number): string {
  const fits = Math.floor((width - 2 * PAD + 4) / (px * 0.58));
  return text.length <= fits ? text : `${text.slice(0, Math.max(1, fits - 1))}…`;
}

function Legend({ overlay, changes }: { overlay?: Map<string, StateOverlay>; changes?: Map<string, StateChange> }) {
  const items: Array<[string, string]> = [];
  if (overlay) {
    const seen = new Set([...overlay.values()].map((o) => o.status));
    for (const status of ["current", "waiting", "visited", "failed"] as const) if (seen.has(status)) items.push([STATUS_STYLE[status]!.stroke, status]);
  }
  if (changes)
    for (const change of ["added", "changed", "removed"] as const)
      if ([...changes.values()].includes(change)) items.push([CHANGE_STYLE[change].stroke, change]);
  if (items.length === 0) return null;
  return (
    <div className="mt-1 flex flex-wrap justify-center gap-3 text-[11px] text-slate-600">
      {items.map(([color, text]) => (
        <span key={text} className="inline-flex items-center gap-1">
          <span className="inline-block h-2.5 w-2.5 rounded-sm border-2" style={{ borderColor: color }} />
          {text}
        </span>
      ))}
    </div>
  );
}
