"use client";
// An agent: start a run with a prompt, edit its config (a new version), its version history,
// a diff between any two versions (full width, in the editor's key order, long lines wrapped),
// its recent runs.
import Link from "next/link";
import { useParams, useRouter } from "next/navigation";
import { useEffect, useMemo, useState } from "react";
import { JsonEditor, parseJsonObject } from "@/components/JsonEditor";
import { RunsTable } from "@/components/RunsTable";
import { WorkflowDefinitionCard, WorkflowPreview, WorkflowVersionChanges } from "@/components/WorkflowAgent";
import { Button, Card, Empty, ErrorBox, Loading, PageHeader, Select, Timestamp } from "@/components/ui";
import { diffLines, withContext } from "@/lib/diff";
import { configJson, formatDateTime, formatInstant, isUuid, stableJson } from "@/lib/format";
import { useMutation, useQuery } from "@/lib/hooks";
import { AGENT_QUERY, START_RUN, UPDATE_AGENT } from "@/lib/queries";
import type { AgentQuery } from "@/lib/gql/graphql";
import { usePermission } from "@/lib/session";
import { agentConfigOf, present } from "@/lib/types";
import { isWorkflowConfig, readMachine, workflowDefinitionOf } from "@/lib/workflow";

type Agent = NonNullable<AgentQuery["agentById"]>;
type AgentVersion = NonNullable<Agent["agentVersionsByAgentId"]["nodes"][number]>;

export default function AgentPage() {
  const { id } = useParams<{ id: string }>();
  const { data, error, loading, refetch } = useQuery(AGENT_QUERY, { id }, { skip: !isUuid(id) });
  const agent = data?.agentById ?? null;
  const config = agentConfigOf(agent?.config);
  const recent = present(agent?.runsByAgentId.nodes);

  if (loading && !data) return <Loading rows={8} />;
  if (error && !agent) return <ErrorBox error={error} title="Could not load this agent" onRetry={() => void refetch()} />;
  if (!agent) {
    return (
      <Card>
        <Empty title="No such agent" icon="not-found">
          <Link href="/agents" className="text-sky-700 hover:underline">
            Back to agents
          </Link>
        </Empty>
      </Card>
    );
  }
  return (
    <>
      <PageHeader
        title={
          <span>
            {agent.name} <span className="ml-1 rounded bg-slate-100 px-1.5 py-0.5 align-middle text-sm font-medium text-slate-600">v{agent.version}</span>
          </span>
        }
        subtitle={
          <span>
            {isWorkflowConfig(agent.config) ? (
              // a workflow has no provider or model of its own: its graph says what it does
              <span data-testid="agent-kind">workflow · {readMachine(workflowDefinitionOf(agent.config)).states.length} states</span>
            ) : (
              <>
                {config.provider}
                {config.model ? <span data-testid="agent-model"> · {config.model}</span> : ""}
              </>
            )}{" "}
            · updated <Timestamp value={agent.updatedAt} /> · <span className="font-mono text-xs">{agent.id}</span>
          </span>
        }
      />
      <div className="grid gap-4 xl:grid-cols-3">
        <div className="space-y-4 xl:col-span-2">
          <StartRun agentId={agent.id} />
          <WorkflowDefinitionCard config={agent.config} />
          <ConfigEditor agent={agent} onSaved={() => void refetch()} />
        </div>
        <div className="space-y-4">
          <Versions versions={present(agent.agentVersionsByAgentId.nodes)} />
        </div>
      </div>
      <VersionDiff versions={present(agent.agentVersionsByAgentId.nodes)} />
      <Card
        title={`Recent runs · ${agent.runsByAgentId.totalCount.toLocaleString("en-US")} in all`}
        className="mt-4"
        bodyClassName=""
        actions={
          <Link href={`/runs?agent=${agent.id}`} className="text-xs text-sky-700 hover:underline">
            all runs of this agent →
          </Link>
        }
      >
        {recent.length === 0 ? <Empty title="No runs yet">Start one above.</Empty> : <RunsTable runs={recent} showAgent={false} />}
      </Card>
    </>
  );
}

function StartRun({ agentId }: { agentId: string }) {
  const router = useRouter();
  const [prompt, setPrompt] = useState("");
  const { mutate, pending, error } = useMutation(START_RUN);
  const { allowed } = usePermission("operator");
  const start = async () => {
    if (!prompt.trim() || !allowed) return;
    const result = await mutate({ agent: agentId, input: { messages: [{ role: "user", content: prompt }] } });
    if (result?.startRun) router.push(`/runs/${result.startRun.runId}`);
  };
  return (
    <Card title="Start a run" testId="start-run">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void start();
        }}
        className="space-y-2"
      >
        <textarea
          data-testid="prompt"
          value={prompt}
          onChange={(e) => setPrompt(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && (e.metaKey || e.ctrlKey)) void start();
          }}
          rows={3}
          placeholder="What should the agent do?"
          className="block w-full rounded-md border border-slate-300 p-2 text-sm shadow-sm focus:border-sky-500 focus:outline-none focus:ring-1 focus:ring-sky-500"
        />
        <div className="flex items-center gap-3">
          <Button type="submit" variant="primary" needs="operator" data-testid="start-run-submit" disabled={pending || !prompt.trim()}>
            {pending ? "Starting…" : "Start run"}
          </Button>
          <span className="text-xs text-slate-500">Ctrl+Enter · opens the run and streams it</span>
        </div>
        <ErrorBox error={error} title="The run was not started" />
      </form>
    </Card>
  );
}

function ConfigEditor({ agent, onSaved }: { agent: Agent; onSaved: () => void }) {
  const saved = useMemo(() => configJson(agent.config), [agent.config]);
  const [text, setText] = useState(saved);
  const [savedVersion, setSavedVersion] = useState<number | null>(null);
  const { mutate, pending, error, setError } = useMutation(UPDATE_AGENT);
  useEffect(() => setText(saved), [saved]);
  const parsed = parseJsonObject(text);
  const dirty = parsed.value ? stableJson(parsed.value) !== stableJson(agent.config) : text !== saved;
  const save = async () => {
    if (!parsed.value) return;
    setSavedVersion(null);
    const result = await mutate({ id: agent.id, config: parsed.value });
    if (result?.updateAgentById?.agent) {
      setSavedVersion(result.updateAgentById.agent.version);
      onSaved();
    }
  };
  return (
    <Card
      title="Config"
      testId="config"
      actions={
        <>
          {savedVersion && !dirty && <span className="text-xs text-emerald-700">saved as v{savedVersion}</span>}
          {dirty && <span className="text-xs text-amber-700">unsaved changes</span>}
          <Button
            size="sm"
            variant="ghost"
            disabled={!dirty}
            onClick={() => {
              setText(saved);
              setError(null);
            }}
          >
            Reset
          </Button>
          <Button size="sm" variant="primary" needs="admin" data-testid="save-config" disabled={!dirty || !parsed.value || pending} onClick={() => void save()}>
            {pending ? "Saving…" : "Save as new version"}
          </Button>
        </>
      }
    >
      <JsonEditor
        value={text}
        onChange={(v) => {
          setText(v);
          if (error) setError(null);
        }}
        serverError={error?.message ?? null}
      />
      <WorkflowPreview text={text} saved={agent.config} />
    </Card>
  );
}

function Versions({ versions }: { versions: AgentVersion[] }) {
  // newest first
  return (
    <Card title={`Versions · ${versions.length}`} testId="versions" bodyClassName="">
      <ol className="max-h-72 divide-y divide-slate-100 overflow-auto text-sm">
        {versions.map((v) => (
          <li key={v.version} className="flex items-center justify-between px-4 py-1.5">
            <span className="font-medium tabular-nums">v{v.version}</span>
            <span className="text-xs text-slate-500">
              <Timestamp value={v.createdAt} />
            </span>
          </li>
        ))}
      </ol>
    </Card>
  );
}

/**
 * Two versions side by side in one unified diff, as wide as the page. Both sides are printed
 * the way the editor shows a config (configJson: the main keys first, in the author's order),
 * not key-sorted, so a line here is the line the author edits; long lines wrap (a system prompt
 * is one long string) instead of being cut.
 */
function VersionDiff({ versions }: { versions: AgentVersion[] }) {
  const [a, setA] = useState<number | null>(null);
  const [b, setB] = useState<number | null>(null);
  const newest = versions[0]?.version ?? null;
  const older = versions[1]?.version ?? newest;
  const from = a ?? older;
  const to = b ?? newest;
  const va = versions.find((v) => v.version === from);
  const vb = versions.find((v) => v.version === to);
  const lines = useMemo(() => (va && vb ? withContext(diffLines(configJson(va.config), configJson(vb.config)), 3) : []), [va, vb]);
  const options = versions.map((v) => ({ value: String(v.version), label: `v${v.version} · ${formatDateTime(v.createdAt)}` }));
  const added = lines.filter((l) => l?.op === "add").length;
  const removed = lines.filter((l) => l?.op === "del").length;
  return (
    <Card
      title="Compare versions"
      testId="version-diff"
      className="mt-4"
      actions={
        <>
          <Select label="from" value={String(from ?? "")} onChange={(v) => setA(Number(v))} options={options} testId="diff-from" />
          <Select label="to" value={String(to ?? "")} onChange={(v) => setB(Number(v))} options={options} testId="diff-to" />
        </>
      }
    >
      {versions.length < 2 ? (
        <p className="text-xs text-slate-500">Only one version so far: save a change to the config to compare.</p>
      ) : added + removed === 0 ? (
        <p className="text-xs text-slate-500">
          v{from} and v{to} are identical.
        </p>
      ) : (
        <>
          {va && vb && <WorkflowVersionChanges before={va.config} after={vb.config} from={va.version} to={vb.version} />}
          <p className="mb-2 text-xs text-slate-500">
            v{from} (<span title={formatInstant(va?.createdAt)}>{formatDateTime(va?.createdAt)}</span>) → v{to} (
            <span title={formatInstant(vb?.createdAt)}>{formatDateTime(vb?.createdAt)}</span>): <span className="text-emerald-700">+{added}</span>{" "}
            <span className="text-rose-700">−{removed}</span> lines, in the editor&apos;s key order
          </p>
          <div
            data-testid="diff"
            role="table"
            aria-label={`diff of v${from} and v${to}`}
            className="overflow-hidden rounded border border-slate-200 bg-slate-50 font-mono text-xs leading-5"
          >
            {lines.map((l, i) =>
              l === null ? (
                <div key={i} className="border-y border-slate-200 bg-slate-100 px-2 text-slate-400">
                  ⋯
                </div>
              ) : (
                <div
                  key={i}
                  data-op={l.op}
                  role="row"
                  className={`grid grid-cols-[2.5rem_2.5rem_1.25rem_minmax(0,1fr)] ${l.op === "add" ? "bg-emerald-100 text-emerald-900" : l.op === "del" ? "bg-rose-100 text-rose-900" : "text-slate-600"}`}
                >
                  <span className="select-none pr-1 text-right text-slate-400">{l.a ?? ""}</span>
                  <span className="select-none pr-1 text-right text-slate-400">{l.b ?? ""}</span>
                  <span className="select-none text-center">{l.op === "add" ? "+" : l.op === "del" ? "−" : " "}</span>
                  {/* wrapped, never cut: a long string (a system prompt) reads in full */}
                  <span data-testid="diff-text" className="whitespace-pre-wrap break-words [overflow-wrap:anywhere]">
                    {l.text}
                  </span>
                </div>
              ),
            )}
          </div>
        </>
      )}
    </Card>
  );
}
