"use client";
// Agents: the list, and creating one (name + JSON config, validated by the API).
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { JsonEditor, parseJsonObject } from "@/components/JsonEditor";
import { Button, Card, Empty, ErrorBox, Loading, PageHeader, Timestamp } from "@/components/ui";
import { useMutation, useQuery } from "@/lib/hooks";
import { AGENTS_QUERY, CREATE_AGENT } from "@/lib/queries";
import { agentConfigOf, present } from "@/lib/types";

const TEMPLATE = {
  provider: "scripted",
  model: "scripted-demo",
  system_prompt: "You are a helpful assistant.",
  tools: ["echo"],
  max_steps: 20,
  script: [{ text: "Let me check that.", tool_calls: [{ name: "echo", arguments: { query: "status" } }] }, { text: "All done." }],
};

export default function AgentsPage() {
  const { data, error, loading, refetch } = useQuery(AGENTS_QUERY);
  const [creating, setCreating] = useState(false);
  const agents = present(data?.allAgents?.nodes).map((a) => ({ ...a, config: agentConfigOf(a.config) }));
  return (
    <>
      <PageHeader
        title="Agents"
        subtitle="Model, system prompt, tools and limits; every change is a new version"
        actions={
          !creating && (
            <Button variant="primary" needs="admin" data-testid="new-agent" onClick={() => setCreating(true)}>
              New agent
            </Button>
          )
        }
      />
      {creating && <CreateAgent onCancel={() => setCreating(false)} />}
      <Card bodyClassName="">
        {error && (
          <div className="p-4">
            <ErrorBox error={error} title="Could not load agents" onRetry={() => void refetch()} />
          </div>
        )}
        {loading && !data ? (
          <Loading rows={4} />
        ) : agents.length === 0 && !error ? (
          <Empty title="No agents yet">Create one with “New agent”, or insert a row into everruns.agents.</Empty>
        ) : (
          agents.length > 0 && (
            <table data-testid="agents-table" className="w-full text-sm">
              <thead>
                <tr className="border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500">
                  <th className="px-4 py-2">Name</th>
                  <th className="px-3 py-2">Provider · model</th>
                  <th className="px-3 py-2">Tools</th>
                  <th className="px-3 py-2 text-right">Version</th>
                  <th className="px-3 py-2 text-right">Runs</th>
                  <th className="px-4 py-2">Updated</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {agents.map((a) => (
                  <tr key={a.id} data-agent={a.name} className="hover:bg-slate-50">
                    <td className="px-4 py-2">
                      <Link href={`/agents/${a.id}`} className="font-medium text-sky-700 hover:underline">
                        {a.name}
                      </Link>
                    </td>
                    <td className="px-3 py-2 text-slate-700">
                      {a.config.provider ?? "?"}
                      {/* the full model name, never cut: "claude-3-5-sonnet-20241022" and "…-latest" differ at the end */}
                      {a.config.model ? <span className="break-all text-slate-500"> · {a.config.model}</span> : null}
                    </td>
                    <td className="max-w-xs truncate px-3 py-2 font-mono text-xs text-slate-600">
                      {(a.config.tools ?? []).map((t) => (typeof t === "string" ? t : t.name)).join(", ") || "—"}
                    </td>
                    <td className="px-3 py-2 text-right tabular-nums">v{a.version}</td>
                    <td className="px-3 py-2 text-right tabular-nums">{a.runsByAgentId.totalCount.toLocaleString("en-US")}</td>
                    <td className="px-4 py-2 text-slate-600">
                      <Timestamp value={a.updatedAt} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        )}
      </Card>
    </>
  );
}

function CreateAgent({ onCancel }: { onCancel: () => void }) {
  const router = useRouter();
  const [name, setName] = useState("");
  const [text, setText] = useState(() => JSON.stringify(TEMPLATE, null, 2));
  const { mutate, pending, error } = useMutation(CREATE_AGENT);
  const parsed = parseJsonObject(text);
  const create = async () => {
    if (!parsed.value || !name.trim()) return;
    const result = await mutate({ name: name.trim(), config: parsed.value });
    const id = result?.createAgent?.agent?.id;
    if (id) router.push(`/agents/${id}`);
  };
  const nameError = error && /name|duplicate|unique|already exists/i.test(error.message) && !/agent config/.test(error.message) ? error.message : null;
  return (
    <Card title="New agent" className="mb-4" testId="create-agent">
      <div className="space-y-3">
        <label className="block text-sm">
          <span className="text-xs font-medium uppercase tracking-wide text-slate-500">Name</span>
          <input
            data-testid="agent-name"
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder="support-triage"
            className="mt-1 block w-80 rounded-md border border-slate-300 px-2 py-1.5 text-sm shadow-sm focus:border-sky-500 focus:outline-none focus:ring-1 focus:ring-sky-500"
          />
        </label>
        <JsonEditor value={text} onChange={setText} serverError={nameError ? null : (error?.message ?? null)} rows={16} />
        {nameError && <ErrorBox error={nameError} title="The name was refused" />}
        <div className="flex gap-2">
          <Button
            variant="primary"
            needs="admin"
            data-testid="create-agent-submit"
            disabled={pending || !parsed.value || !name.trim()}
            onClick={() => void create()}
          >
            {pending ? "Creating…" : "Create agent"}
          </Button>
          <Button variant="ghost" onClick={onCancel}>
            Cancel
          </Button>
        </div>
      </div>
    </Card>
  );
}
