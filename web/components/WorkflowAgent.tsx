"use client";
// The agent page's parts for a workflow agent (issue 21: config.kind "workflow"): its definition
// drawn as a graph (in place of a provider and model), a live preview of the definition being
// edited, and the states a version changed, marked on both versions' graphs.
import { useMemo } from "react";
import { parseJsonObject } from "@/components/JsonEditor";
import { Card } from "@/components/ui";
import { stableJson } from "@/lib/format";
import { WorkflowGraph } from "@/components/WorkflowGraph";
import { diffMachines, readMachine, workflowDefinitionOf } from "@/lib/workflow";

/** The saved definition as a graph, with the workflow's limits. Nothing for an ordinary agent. */
export function WorkflowDefinitionCard({ config }: { config: unknown }) {
  const definition = useMemo(() => workflowDefinitionOf(config), [config]);
  const machine = useMemo(() => (definition ? readMachine(definition) : null), [definition]);
  if (!machine || !definition) return null;
  const limits = config as { max_steps?: unknown; max_parallel_children?: unknown; tools?: unknown };
  const comment = typeof definition.Comment === "string" ? definition.Comment : null;
  return (
    <Card
      title={`Workflow · ${machine.states.length} state${machine.states.length === 1 ? "" : "s"}`}
      testId="workflow-definition"
      actions={
        <span className="text-xs text-slate-500">
          {typeof limits.max_steps === "number" && <>max_steps {limits.max_steps} · </>}
          {typeof limits.max_parallel_children === "number" && <>max_parallel_children {limits.max_parallel_children} · </>}
          {Array.isArray(limits.tools) && limits.tools.length > 0 && <>{limits.tools.length} tools · </>}
          Amazon States Language
        </span>
      }
    >
      {comment && <p className="mb-2 text-xs text-slate-600">{comment}</p>}
      <WorkflowGraph machine={machine} />
    </Card>
  );
}

/**
 * The definition in the editor drawn as it is typed: when the text parses and is a workflow.
 * The API validates on save (its message shows beside the editor); a Next to a missing state is
 * drawn already, as a dashed "no such state" box.
 */
export function WorkflowPreview({ text, saved }: { text: string; saved: unknown }) {
  // parsed here, keyed by the text: the layout runs again only when the text changes
  const { definition, edited } = useMemo(() => {
    const value = parseJsonObject(text).value;
    return { definition: value ? workflowDefinitionOf(value) : null, edited: !value || stableJson(value) !== stableJson(saved) };
  }, [text, saved]);
  const machine = useMemo(() => (definition ? readMachine(definition) : null), [definition]);
  const before = useMemo(() => {
    const d = workflowDefinitionOf(saved);
    return d ? readMachine(d) : null;
  }, [saved]);
  const changes = useMemo(() => (machine && before ? diffMachines(before, machine) : undefined), [machine, before]);
  if (!workflowDefinitionOf(saved) && !definition) return null;
  // unedited: the graph above is this one
  if (!edited) return <p className="mt-2 text-xs text-slate-500">Edit the definition: its graph is drawn here as you type, the changed states marked.</p>;
  return (
    <div data-testid="workflow-preview" className="mt-3 rounded-md border border-slate-200 p-3">
      <p className="mb-2 text-xs font-medium text-slate-600">
        Preview of the edited definition
        {changes && changes.size > 0 && (
          <span className="font-normal text-slate-500">
            {" "}
            · {changes.size} state{changes.size === 1 ? "" : "s"} changed from the saved version
          </span>
        )}
      </p>
      {machine ? (
        <WorkflowGraph machine={machine} changes={changes} testId="workflow-preview-graph" />
      ) : (
        <p className="text-xs text-slate-500">Not drawn: the text is not a workflow config yet (valid JSON with &quot;kind&quot;: &quot;workflow&quot;).</p>
      )}
    </div>
  );
}

/** Two versions' definitions side by side: the states removed marked on the older, those added and changed on the newer. */
export function WorkflowVersionChanges({ before, after, from, to }: { before: unknown; after: unknown; from: number; to: number }) {
  const a = useMemo(() => {
    const d = workflowDefinitionOf(before);
    return d ? readMachine(d) : null;
  }, [before]);
  const b = useMemo(() => {
    const d = workflowDefinitionOf(after);
    return d ? readMachine(d) : null;
  }, [after]);
  const changes = useMemo(() => (a && b ? diffMachines(a, b) : null), [a, b]);
  if (!a && !b) return null;
  const count = (c: string) => [...(changes?.values() ?? [])].filter((x) => x === c).length;
  const removed = new Map([...(changes ?? [])].filter(([, c]) => c === "removed"));
  const addedOrChanged = new Map([...(changes ?? [])].filter(([, c]) => c !== "removed"));
  return (
    <div data-testid="workflow-diff" className="mb-3">
      <p className="mb-2 text-xs text-slate-600" data-testid="workflow-diff-summary">
        States: <span className="text-emerald-700">{count("added")} added</span> · <span className="text-amber-700">{count("changed")} changed</span> ·{" "}
        <span className="text-rose-700">{count("removed")} removed</span>
      </p>
      <div className="grid gap-3 lg:grid-cols-2">
        <div className="rounded-md border border-slate-200 p-2">
          {a ? (
            <WorkflowGraph machine={a} changes={removed} caption={`v${from}`} testId="workflow-diff-from" />
          ) : (
            <p className="text-xs text-slate-500">v{from} is not a workflow.</p>
          )}
        </div>
        <div className="rounded-md border border-slate-200 p-2">
          {b ? (
            <WorkflowGraph machine={b} changes={addedOrChanged} caption={`v${to}`} testId="workflow-diff-to" />
          ) : (
            <p className="text-xs text-slate-500">v{to} is not a workflow.</p>
          )}
        </div>
      </div>
    </div>
  );
}
