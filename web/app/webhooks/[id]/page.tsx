"use client";
// One inbound webhook (issue 16): the URL senders POST to, with a copy button; its settings (how
// senders are verified and with which workspace secrets, the de-duplication and thread-key
// pointers, the input template, the body limit); an operator's "send test delivery" (signed with
// its own secret and handled as a sender's would be: verified, recorded as a test, its run
// started), whose answer links the run; and its delivery log, newest first: when each came, its
// de-duplication key, the secret that verified it, repeats within 24 h, test or not, and its run
// with the run's status. Read again every few seconds.
//
// The URL: deliveries go to the API's /hooks/<id>, not to the console (whose server passes only
// /graphql through). The console's browser side does not know the API's public address, so the
// URL is shown on an address the user can set once (kept in this browser), the console's own
// origin until then: right when one host serves both under one origin.
import Link from "next/link";
import { useParams } from "next/navigation";
import { useEffect, useState, useSyncExternalStore, type FormEvent, type ReactNode } from "react";
import { Button, Card, Empty, ErrorBox, Loading, PageHeader, StatusBadge, Timestamp } from "@/components/ui";
import { formatInstant, isUuid, prettyJson, shortId } from "@/lib/format";
import { useMutation, useQuery } from "@/lib/hooks";
import { usePermission } from "@/lib/session";
import { present } from "@/lib/types";
import { EnabledBadge } from "../badges";
import { SEND_TEST_WEBHOOK_DELIVERY, WEBHOOK_QUERY } from "../queries";

const DELIVERIES = 50;
const POLL_MS = 5000;
const API_ORIGIN_KEY = "everruns.apiOrigin";

export default function WebhookPage() {
  const { id } = useParams<{ id: string }>();
  const valid = isUuid(id);
  const detail = useQuery(WEBHOOK_QUERY, { id, deliveries: DELIVERIES }, { skip: !valid });
  const webhook = detail.data?.webhook ?? null;
  useEffect(() => {
    if (!valid) return;
    const timer = setInterval(() => void detail.refetch(), POLL_MS);
    return () => clearInterval(timer);
  }, [valid, detail.refetch]);

  if (!valid || (detail.data && !webhook)) {
    return (
      <Card>
        <Empty title="No such webhook" icon="not-found">
          There is no webhook <span className="font-mono">{id}</span> in this workspace.{" "}
          <Link href="/webhooks" className="text-sky-700 hover:underline">
            Back to webhooks
          </Link>
        </Empty>
      </Card>
    );
  }
  if (detail.loading && !detail.data) return <Loading rows={8} />;
  if (detail.error && !webhook) return <ErrorBox error={detail.error} title="Could not load this webhook" onRetry={() => void detail.refetch()} />;
  if (!webhook) return <Loading rows={8} />;

  const secretNames = present(webhook.secretNames);
  const deliveries = present(webhook.deliveries.nodes);

  return (
    <>
      <PageHeader
        title={
          <span className="flex items-center gap-3">
            <span>Webhook {webhook.name}</span>
            <EnabledBadge enabled={webhook.enabled} />
          </span>
        }
        subtitle={
          <span className="flex flex-wrap items-center gap-x-3 gap-y-1">
            <Link href="/webhooks" className="text-sky-700 hover:underline">
              ← webhooks
            </Link>
            <span>
              agent{" "}
              <Link href={`/agents/${webhook.agentId}`} className="text-sky-700 hover:underline">
                {webhook.agentByAgentId?.name ?? shortId(webhook.agentId)}
              </Link>
            </span>
            <span>
              created <Timestamp value={webhook.createdAt} />
            </span>
            <span className="font-mono text-xs text-slate-400">{webhook.id}</span>
          </span>
        }
        actions={<TestDelivery webhookId={webhook.id} enabled={webhook.enabled} onSent={() => void detail.refetch()} />}
      />

      <WebhookUrl path={webhook.path} />

      <Card testId="webhook-settings" className="mb-4" title="Settings">
        <dl className="grid grid-cols-2 gap-x-6 gap-y-3 text-sm sm:grid-cols-3 lg:grid-cols-4">
          <Setting label="Verify" testId="webhook-verify">
            {webhook.verify}
          </Setting>
          <Setting label={secretNames.length > 1 ? "Secrets (rotating)" : "Secret"} mono>
            {secretNames.map((name, i) => `#${i + 1} ${name}`).join(", ")}
          </Setting>
          {webhook.verify === "hmac" && (
            <Setting label="Signature header" mono>
              {webhook.signatureHeader ?? "—"}
              {webhook.signaturePrefix ? ` (prefix ${webhook.signaturePrefix})` : ""}
            </Setting>
          )}
          {webhook.verify === "standard" && <Setting label="Timestamp tolerance">{webhook.toleranceSeconds} s</Setting>}
          <Setting label="De-duplicated by" mono>
            {webhook.dedupePointer ?? (webhook.verify === "github" ? "X-GitHub-Delivery" : "webhook-id header")}
          </Setting>
          <Setting label="Thread key" mono>
            {webhook.threadKeyPointer ?? <span className="font-sans text-slate-500">a new thread per delivery</span>}
          </Setting>
          <Setting label="Largest body">{(webhook.maxBodyBytes / 1024).toLocaleString("en-US")} KiB</Setting>
          <Setting label="Updated">
            <Timestamp value={webhook.updatedAt} />
          </Setting>
        </dl>
        <div className="mt-4 border-t border-slate-100 pt-3">
          <div className="mb-1 text-[11px] font-medium uppercase tracking-wide text-slate-500">Run input</div>
          {webhook.inputTemplate == null ? (
            <p className="text-sm text-slate-600">The payload as the user&apos;s message (the raw payload is added as context).</p>
          ) : (
            <pre className="max-h-64 overflow-auto rounded bg-slate-50 p-2 font-mono text-xs text-slate-800">{prettyJson(webhook.inputTemplate)}</pre>
          )}
        </div>
      </Card>

      <Card
        testId="webhook-deliveries"
        bodyClassName=""
        title={
          <span>
            Deliveries <span className="font-normal text-slate-500">{webhook.deliveries.totalCount.toLocaleString("en-US")}</span>
          </span>
        }
        actions={<span className="text-xs text-slate-500">newest first · refreshed every {POLL_MS / 1000} s</span>}
      >
        {deliveries.length === 0 ? (
          <Empty title="No deliveries yet">Senders POST to the URL above; a test delivery shows here too.</Empty>
        ) : (
          <div className="overflow-x-auto">
            <table data-testid="deliveries-table" className="w-full text-sm">
              <thead>
                <tr className="border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500">
                  <th className="px-4 py-2">Received</th>
                  <th className="px-3 py-2">Key</th>
                  <th className="px-3 py-2">Verified with</th>
                  <th className="px-3 py-2 text-right">Duplicates</th>
                  <th className="px-3 py-2">Thread key</th>
                  <th className="px-3 py-2 text-right">Size</th>
                  <th className="px-4 py-2">Run</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {deliveries.map((d) => (
                  <tr key={d.id} data-delivery-id={d.id} data-test={d.test ? "true" : "false"} className="hover:bg-slate-50">
                    <td className="whitespace-nowrap px-4 py-2 text-slate-600">
                      <Timestamp value={d.receivedAt} />
                      {d.test && (
                        <span
                          data-testid="delivery-test"
                          className="ml-1.5 rounded bg-sky-50 px-1.5 py-0.5 text-[11px] font-medium text-sky-800 ring-1 ring-inset ring-sky-200"
                        >
                          test
                        </span>
                      )}
                    </td>
                    <td className="max-w-48 truncate px-3 py-2 font-mono text-xs text-slate-700" title={d.deliveryKey ?? undefined}>
                      {d.deliveryKey ?? <span className="font-sans text-slate-400">none</span>}
                    </td>
                    <td className="whitespace-nowrap px-3 py-2 text-slate-700" data-testid="delivery-verified">
                      {d.verifiedWith == null ? (
                        <span className="text-slate-400">—</span>
                      ) : (
                        <span title={secretNames[d.verifiedWith] ?? undefined}>
                          secret #{d.verifiedWith + 1}
                          {secretNames[d.verifiedWith] && <span className="ml-1 font-mono text-[11px] text-slate-400">{secretNames[d.verifiedWith]}</span>}
                        </span>
                      )}
                    </td>
                    <td
                      className={`px-3 py-2 text-right tabular-nums ${d.duplicates > 0 ? "text-amber-800" : "text-slate-400"}`}
                      title={d.lastDuplicateAt ? `last repeat ${formatInstant(d.lastDuplicateAt)}` : "no repeat within 24 h"}
                    >
                      {d.duplicates}
                    </td>
                    <td className="max-w-40 truncate px-3 py-2 font-mono text-xs text-slate-700" title={d.threadKey ?? undefined}>
                      {d.threadKey ?? <span className="font-sans text-slate-400">—</span>}
                    </td>
                    <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums text-slate-600">{d.payloadBytes.toLocaleString("en-US")} B</td>
                    <td className="whitespace-nowrap px-4 py-2">
                      <span className="flex items-center gap-2">
                        <Link
                          href={`/runs/${d.runId}`}
                          title={d.runId}
                          data-testid="delivery-run-link"
                          className="font-mono text-[13px] text-sky-700 hover:underline"
                        >
                          {shortId(d.runId)}
                        </Link>
                        {d.run && <StatusBadge status={d.run.status} />}
                      </span>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
    </>
  );
}

function Setting({ label, children, testId, mono }: { label: string; children: ReactNode; testId?: string; mono?: boolean }) {
  return (
    <div className="min-w-0">
      <dt className="text-[11px] font-medium uppercase tracking-wide text-slate-500">{label}</dt>
      <dd data-testid={testId} className={`truncate text-slate-900 ${mono ? "font-mono text-[13px]" : ""}`}>
        {children}
      </dd>
    </div>
  );
}

// ---- the URL ------------------------------------------------------------------------------

const originListeners = new Set<() => void>();

function storedOrigin(): string | null {
  try {
    return window.localStorage.getItem(API_ORIGIN_KEY);
  } catch {
    return null; // storage refused (a private window's policy): the console's origin
  }
}

/** The API's origin as this browser knows it: the one set here, else the console's own. */
function useApiOrigin(): [string, (origin: string | null) => void] {
  const stored = useSyncExternalStore(
    (cb) => {
      originListeners.add(cb);
      return () => originListeners.delete(cb);
    },
    storedOrigin,
    () => null,
  );
  const origin = stored ?? (typeof window === "undefined" ? "" : window.location.origin);
  const set = (value: string | null) => {
    try {
      if (value) window.localStorage.setItem(API_ORIGIN_KEY, value);
      else window.localStorage.removeItem(API_ORIGIN_KEY);
    } catch {
      // not kept: shown for this page only
    }
    for (const cb of originListeners) cb();
  };
  return [origin, set];
}

/** An origin typed by the user ("https://api.example.com/"), or why it is not one. */
function parseOrigin(text: string): { origin: string } | { problem: string } {
  try {
    const url = new URL(text.trim());
    if (url.protocol !== "http:" && url.protocol !== "https:") return { problem: "must start with http:// or https://" };
    return { origin: url.origin };
  } catch {
    return { problem: "must be the API's address, e.g. https://api.example.com" };
  }
}

function WebhookUrl({ path }: { path: string }) {
  const [origin, setOrigin] = useApiOrigin();
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState("");
  const [copied, setCopied] = useState<"ok" | "failed" | null>(null);
  const url = `${origin}${path}`;
  const parsed = parseOrigin(draft);

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(url);
      setCopied("ok");
    } catch {
      setCopied("failed"); // no clipboard (plain http on another host): the URL is selectable
    }
    setTimeout(() => setCopied(null), 2000);
  };
  const save = (e: FormEvent) => {
    e.preventDefault();
    if ("origin" in parsed) {
      setOrigin(parsed.origin === window.location.origin ? null : parsed.origin);
      setEditing(false);
    }
  };

  return (
    <Card testId="webhook-url" className="mb-4" title="URL" actions={<span className="text-xs text-slate-500">senders POST here, no API key: signed</span>}>
      <div className="flex flex-wrap items-center gap-2">
        <code data-testid="webhook-url-text" className="min-w-0 flex-1 select-all break-all rounded bg-slate-50 px-2 py-1.5 font-mono text-sm text-slate-900">
          {url}
        </code>
        <Button size="sm" data-testid="webhook-url-copy" onClick={() => void copy()}>
          {copied === "ok" ? "Copied" : copied === "failed" ? "Select and copy" : "Copy"}
        </Button>
        <Button
          size="sm"
          variant="ghost"
          onClick={() => {
            setDraft(origin);
            setEditing((e) => !e);
          }}
        >
          API address…
        </Button>
      </div>
      {editing && (
        <form onSubmit={save} className="mt-2 flex flex-wrap items-center gap-2 text-xs text-slate-600">
          <label htmlFor="webhook-api-origin">The API&apos;s public address (kept in this browser):</label>
          <input
            id="webhook-api-origin"
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
            spellCheck={false}
            className="w-72 rounded-md border border-slate-300 px-2 py-1 font-mono text-xs shadow-sm focus:border-sky-500 focus:outline-none focus:ring-1 focus:ring-sky-500"
          />
          <Button type="submit" size="sm" disabled={"problem" in parsed}>
            Set
          </Button>
          {"problem" in parsed && draft !== "" && <span className="text-rose-700">{parsed.problem}</span>}
        </form>
      )}
      <p className="mt-2 text-xs text-slate-500">
        On the API&apos;s address ({path}); the console knows only its own, so set the API&apos;s once if it is served elsewhere.
      </p>
    </Card>
  );
}

// ---- the test delivery --------------------------------------------------------------------

/** "Send test delivery", an operator's (api/graphql/access.ts); its answer links the run it started. */
function TestDelivery({ webhookId, enabled, onSent }: { webhookId: string; enabled: boolean; onSent: () => void }) {
  const permission = usePermission("operator");
  const send = useMutation(SEND_TEST_WEBHOOK_DELIVERY);
  const [answer, setAnswer] = useState<{ runId: string; duplicate: boolean; status: string | null } | null>(null);
  useEffect(() => setAnswer(null), [webhookId]);

  if (!permission.allowed) {
    return (
      <p data-testid="webhook-controls-readonly" title={permission.reason ?? undefined} className="text-xs text-slate-500">
        Read-only: sending a test delivery needs an operator key.
      </p>
    );
  }
  const onSend = async () => {
    const sent = (await send.mutate({ id: webhookId, payload: { test: true, sent_from: "console", at: new Date().toISOString() } }))?.sendTestWebhookDelivery;
    if (!sent) return;
    setAnswer({ runId: sent.runId, duplicate: sent.duplicate, status: sent.run?.status ?? null });
    onSent();
  };

  return (
    <div data-testid="webhook-controls" className="flex flex-col items-end gap-2">
      <Button
        variant="primary"
        needs="operator"
        data-testid="webhook-send-test"
        disabled={send.pending || !enabled}
        title={enabled ? "A delivery signed with the webhook's own secret, handled as a sender's would be" : "The webhook is disabled: enable it to test it"}
        onClick={() => void onSend()}
      >
        {send.pending ? "Sending…" : "Send test delivery"}
      </Button>
      {answer && (
        <p data-testid="webhook-test-answer" className="text-xs text-emerald-800">
          {answer.duplicate ? "A repeat within 24 h: no new run; its first run " : "Delivered: run "}
          <Link href={`/runs/${answer.runId}`} data-testid="webhook-test-run-link" className="font-mono text-sky-700 hover:underline">
            {shortId(answer.runId)}
          </Link>
          {answer.status && <span className="ml-1 text-slate-500">({answer.status})</span>}
        </p>
      )}
      {send.error && (
        <div className="w-96">
          <ErrorBox error={send.error} title="The test delivery was not sent" />
        </div>
      )}
    </div>
  );
}
