"use client";
// Model prices (issue 20): what this workspace's LLM steps are costed with, in USD per million
// tokens of each category (input, output, cache read, cache write). Two tables: the workspace's
// own prices (everruns.model_prices: provider and model name prefix), which an admin adds,
// edits and deletes (setModelPrice / deleteModelPrice; a viewer reads them, every action disabled
// and naming the role needed), and the model catalog as the API has it (modelCatalog: this
// release's lib/models/models.json with the operator's EVERRUNS_MODELS_FILE over it, read-only):
// each entry's prices, context window and capabilities, whether the operator's file gives it, and
// whether a workspace price replaces it. Where a step's price comes
// from (worker/pricing.ts): the agent config's own `prices`, else the workspace's price with the
// longest prefix of the model among its provider's, else the built-in table's.
import { useState, type FormEvent } from "react";
import { Button, Card, Empty, ErrorBox, Loading, PageHeader, Select, Timestamp } from "@/components/ui";
import type { ModelCatalogQuery, ModelPricesQuery } from "@/lib/gql/graphql";
import { useMutation, useQuery, type QueryState } from "@/lib/hooks";
import { present } from "@/lib/types";
import { DELETE_MODEL_PRICE, MODEL_CATALOG_QUERY, MODEL_PRICES_QUERY, SET_MODEL_PRICE } from "./queries";

/** One entry of the catalog (api/graphql/model-prices.ts): a null field is unknown; a null cache rate is the input rate. */
type CatalogEntry = ModelCatalogQuery["modelCatalog"][number];

/** The providers a price may name (the table's check, 000029) before the catalog has loaded; then the catalog's. */
const DEFAULT_PROVIDERS = ["openai", "anthropic", "scripted"];
/** As the API checks it (db/sql/setModelPrice.ts). */
const MAX_RATE = 1_000_000;
const MAX_PREFIX_CHARS = 200;

const FIELD =
  "block w-full rounded-md border border-slate-300 bg-white px-2 py-1 text-sm text-slate-900 shadow-sm focus:border-sky-500 focus:outline-none focus:ring-1 focus:ring-sky-500 disabled:bg-slate-50 disabled:text-slate-500";

/** $1.25, $0.005: as many decimals as the rate has (up to 6), so a cheap cached rate is never "$0.00". */
function formatRate(usd: number): string {
  return `$${usd.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 6 })}`;
}

/** A cache rate: its own, or the input rate's when it has none (said so). */
function CacheRate({ rate, testId }: { rate: number | null | undefined; testId: string }) {
  if (rate == null)
    return (
      <span data-testid={testId} className="text-slate-400" title="no rate of its own: these tokens cost the input rate">
        input rate
      </span>
    );
  return <span data-testid={testId}>{formatRate(rate)}</span>;
}

/** "every model" for the empty prefix, else the prefix and a star: it prices the models whose names start with it. */
function Prefix({ prefix }: { prefix: string }) {
  if (prefix === "") return <span className="italic text-slate-500">every model</span>;
  return (
    <span className="font-mono text-[13px] text-slate-900" title={`models whose names start with ${prefix}`}>
      {prefix}
      <span className="text-slate-400">*</span>
    </span>
  );
}

type Override = { provider: string; model: string };

/**
 * How the workspace's prices bear on a built-in entry (provider, prefix): the longest workspace
 * prefix that every model of the entry starts with replaces it; longer workspace prefixes replace
 * it for some of its models only.
 */
function replacement(entry: CatalogEntry, overrides: Override[]): { by: string | null; partly: string[] } {
  const own = overrides.filter((o) => o.provider === entry.provider);
  const covering = own.filter((o) => entry.modelPrefix.startsWith(o.model)).sort((a, b) => b.model.length - a.model.length)[0];
  const partly = own.filter((o) => o.model.length > entry.modelPrefix.length && o.model.startsWith(entry.modelPrefix)).map((o) => o.model);
  return { by: covering ? covering.model : null, partly };
}

interface FormValues {
  provider: string;
  model: string;
  input: string;
  output: string;
  cacheRead: string;
  cacheWrite: string;
}
const emptyForm = (provider: string): FormValues => ({ provider, model: "", input: "", output: "", cacheRead: "", cacheWrite: "" });
const rateText = (n: number | null | undefined) => (n == null ? "" : String(n));

/** A rate field's value: a number of USD from 0 to MAX_RATE, or null when optional and empty; else what is wrong. */
function parseRate(text: string, optional: boolean): { ok: true; value: number | null } | { ok: false; error: string } {
  const t = text.trim();
  if (t === "") return optional ? { ok: true, value: null } : { ok: false, error: "required" };
  const n = Number(t);
  if (!Number.isFinite(n) || n < 0 || n > MAX_RATE) return { ok: false, error: `a number of USD from 0 to ${MAX_RATE.toLocaleString("en-US")}` };
  return { ok: true, value: n };
}

export default function PricesPage() {
  const { data, error, loading, refetch } = useQuery(MODEL_PRICES_QUERY);
  const rows = present(data?.allModelPrices?.nodes);
  const catalog = useQuery(MODEL_CATALOG_QUERY);
  const entries = catalog.data?.modelCatalog ?? [];
  const providers = entries.length > 0 ? [...new Set(entries.map((e) => e.provider))] : DEFAULT_PROVIDERS;
  // the form: closed, adding, or editing the price of (provider, model)
  const [form, setForm] = useState<{ values: FormValues; editing: boolean } | null>(null);
  const open = (values: FormValues, editing: boolean) => {
    setForm({ values, editing });
    window.scrollTo({ top: 0, behavior: "smooth" });
  };

  return (
    <>
      <PageHeader
        title="Model prices"
        subtitle={
          data?.allModelPrices ? (
            <span data-testid="prices-summary">
              {rows.length === 0
                ? "This workspace uses the built-in prices"
                : `${rows.length} price${rows.length === 1 ? "" : "s"} of this workspace over the built-in table`}{" "}
              · USD per million tokens
            </span>
          ) : (
            "What LLM steps cost, per million tokens of each category"
          )
        }
        actions={
          !form && (
            <Button variant="primary" needs="admin" data-testid="price-add" onClick={() => open(emptyForm(providers[0]!), false)}>
              Add a price
            </Button>
          )
        }
      />
      <div className="space-y-5">
        {form && (
          <PriceForm
            key={`${form.values.provider}/${form.values.model}/${form.editing}`}
            initial={form.values}
            editing={form.editing}
            providers={providers}
            onDone={() => {
              setForm(null);
              void refetch();
            }}
            onCancel={() => setForm(null)}
          />
        )}
        <Card title="This workspace's prices" testId="prices-overrides" bodyClassName="">
          {error && !(error.unreachable && data) && (
            <div className="p-4">
              <ErrorBox error={error} title="Could not load the workspace's prices" onRetry={() => void refetch()} />
            </div>
          )}
          {loading && !data ? (
            <Loading rows={3} />
          ) : rows.length === 0 && !error ? (
            <Empty title="No prices of this workspace">
              Its steps are priced with the built-in table below. An admin adds a price here, with <span className="font-mono">everruns prices set</span> or the
              GraphQL <span className="font-mono">setModelPrice</span>: it replaces the built-in prices of the models it matches.
            </Empty>
          ) : (
            rows.length > 0 && (
              <div className="overflow-x-auto">
                <table data-testid="prices-table" className="w-full text-sm">
                  <thead>
                    <PriceHeader first="Provider" extra={["Updated", ""]} />
                  </thead>
                  <tbody className="divide-y divide-slate-100">
                    {rows.map((p) => (
                      <OverrideRow
                        key={p.id}
                        price={p}
                        onEdit={() =>
                          open(
                            {
                              provider: p.provider,
                              model: p.model,
                              input: rateText(p.inputPerMillion),
                              output: rateText(p.outputPerMillion),
                              cacheRead: rateText(p.cacheReadPerMillion),
                              cacheWrite: rateText(p.cacheWritePerMillion),
                            },
                            true,
                          )
                        }
                        onDeleted={() => void refetch()}
                      />
                    ))}
                  </tbody>
                </table>
              </div>
            )
          )}
          <p className="border-t border-slate-100 px-4 py-2.5 text-xs text-slate-500">
            A step is priced by its agent&apos;s own <span className="font-mono">prices</span> (agent config) if it has them, else by this workspace&apos;s
            price with the longest prefix of its model among its provider&apos;s, else by the built-in table. Steps that begin more than 30 s after a change use
            it; a run&apos;s cost already recorded stays as it was. A cache rate left empty follows the built-in table&apos;s ratio to the input rate.
          </p>
        </Card>
        <BuiltinTable
          catalog={catalog}
          entries={entries}
          providers={providers}
          overrides={rows}
          onOverride={(values) =>
            open(
              values,
              rows.some((r) => r.provider === values.provider && r.model === values.model),
            )
          }
        />
      </div>
    </>
  );
}

function PriceHeader({ first, afterModel = [], extra }: { first: string; afterModel?: Array<{ label: string; title: string }>; extra: string[] }) {
  return (
    <tr className="border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500">
      <th className="px-4 py-2">{first}</th>
      <th className="px-3 py-2">Model prefix</th>
      {afterModel.map(({ label, title }) => (
        <th key={label} className="px-3 py-2 text-right" title={title}>
          {label}
        </th>
      ))}
      <th className="px-3 py-2 text-right">Input</th>
      <th className="px-3 py-2 text-right">Output</th>
      <th className="px-3 py-2 text-right" title="input tokens read from the provider's prompt cache">
        Cache read
      </th>
      <th className="px-3 py-2 text-right" title="input tokens written to the provider's prompt cache">
        Cache write
      </th>
      {extra.map((label, i) => (
        <th key={i} className={`px-3 py-2 ${i === extra.length - 1 ? "pr-4 text-right" : ""}`}>
          {label}
        </th>
      ))}
    </tr>
  );
}

type PriceRow = NonNullable<NonNullable<ModelPricesQuery["allModelPrices"]>["nodes"][number]>;

/** One price of the workspace: its rates, when it was set, Edit and Delete (confirmed), admins' (the prices set what the workspace's daily cost quota counts). */
function OverrideRow({ price, onEdit, onDeleted }: { price: PriceRow; onEdit: () => void; onDeleted: () => void }) {
  const [confirming, setConfirming] = useState(false);
  const remove = useMutation(DELETE_MODEL_PRICE);
  const onDelete = async () => {
    const answer = await remove.mutate({ provider: price.provider, model: price.model });
    if (!answer?.deleteModelPrice) return;
    setConfirming(false);
    onDeleted();
  };
  return (
    <tr data-testid="price-row" data-provider={price.provider} data-model={price.model} className="align-top hover:bg-slate-50">
      <td className="px-4 py-2 text-slate-800">{price.provider}</td>
      <td className="px-3 py-2" data-testid="price-model">
        <Prefix prefix={price.model} />
      </td>
      <td className="px-3 py-2 text-right tabular-nums" data-testid="price-input">
        {formatRate(price.inputPerMillion)}
      </td>
      <td className="px-3 py-2 text-right tabular-nums" data-testid="price-output">
        {formatRate(price.outputPerMillion)}
      </td>
      <td className="px-3 py-2 text-right tabular-nums">
        <CacheRate rate={price.cacheReadPerMillion} testId="price-cache-read" />
      </td>
      <td className="px-3 py-2 text-right tabular-nums">
        <CacheRate rate={price.cacheWritePerMillion} testId="price-cache-write" />
      </td>
      <td className="px-3 py-2 text-slate-600">
        <Timestamp value={price.updatedAt} />
      </td>
      <td className="px-3 py-2 pr-4 text-right">
        <div className="flex flex-col items-end gap-2">
          {!confirming && (
            <div className="flex justify-end gap-2">
              <Button size="sm" needs="admin" data-testid="price-edit" onClick={onEdit}>
                Edit
              </Button>
              <Button size="sm" needs="admin" data-testid="price-delete" className="text-rose-700" onClick={() => setConfirming(true)}>
                Delete
              </Button>
            </div>
          )}
          {confirming && (
            <div data-testid="price-delete-confirm" className="w-72 space-y-2 rounded-md border border-rose-200 bg-rose-50 p-2.5 text-left">
              <p className="text-xs text-rose-900">
                Delete this workspace&apos;s price of {price.provider} {price.model === "" ? "models" : <span className="font-mono">{price.model}*</span>}?
                Steps that begin more than 30 s later are priced by the built-in table (or a shorter prefix of this workspace).
              </p>
              <div className="flex justify-end gap-2">
                <Button size="sm" variant="ghost" onClick={() => setConfirming(false)}>
                  Cancel
                </Button>
                <Button size="sm" variant="danger" needs="admin" data-testid="price-confirm-delete" disabled={remove.pending} onClick={() => void onDelete()}>
                  {remove.pending ? "Deleting…" : "Delete"}
                </Button>
              </div>
            </div>
          )}
          {remove.error && (
            <div className="w-72 text-left">
              <ErrorBox error={remove.error} title="Could not delete the price" />
            </div>
          )}
        </div>
      </td>
    </tr>
  );
}

/** Adds a price, or changes the rates of one (its provider and prefix fixed: they name it). */
function PriceForm({
  initial,
  editing,
  providers,
  onDone,
  onCancel,
}: {
  initial: FormValues;
  editing: boolean;
  providers: string[];
  onDone: () => void;
  onCancel: () => void;
}) {
  const [values, setValues] = useState<FormValues>(initial);
  const [touched, setTouched] = useState(false);
  const save = useMutation(SET_MODEL_PRICE);
  const set = (field: keyof FormValues) => (value: string) => setValues((v) => ({ ...v, [field]: value }));
  const model = values.model.trim();
  const modelProblem = /[\s\p{Cc}]/u.test(model)
    ? "no spaces or control characters"
    : model.length > MAX_PREFIX_CHARS
      ? `at most ${MAX_PREFIX_CHARS} characters`
      : null;
  const rates = {
    input: parseRate(values.input, false),
    output: parseRate(values.output, false),
    cacheRead: parseRate(values.cacheRead, true),
    cacheWrite: parseRate(values.cacheWrite, true),
  };
  const valid = !modelProblem && Object.values(rates).every((r) => r.ok);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setTouched(true);
    if (!valid || !rates.input.ok || !rates.output.ok || !rates.cacheRead.ok || !rates.cacheWrite.ok) return;
    const answer = await save.mutate({
      provider: values.provider,
      model,
      inputPerMillion: rates.input.value!,
      outputPerMillion: rates.output.value!,
      cacheReadPerMillion: rates.cacheRead.value,
      cacheWritePerMillion: rates.cacheWrite.value,
    });
    if (answer?.setModelPrice) onDone();
  };
  const rateField = (label: string, field: "input" | "output" | "cacheRead" | "cacheWrite", hint: string) => {
    const parsed = rates[field];
    return (
      <label className="block text-xs font-medium text-slate-600">
        {label}
        <input
          data-testid={`price-form-${field}`}
          inputMode="decimal"
          value={values[field]}
          onChange={(e) => set(field)(e.target.value)}
          placeholder={hint}
          className={`mt-1 text-right tabular-nums ${FIELD}`}
        />
        {!parsed.ok && (touched || values[field] !== "") && <span className="mt-0.5 block text-[11px] font-normal text-rose-700">{parsed.error}</span>}
      </label>
    );
  };
  return (
    <Card title={editing ? "Change this workspace's price" : "Add a price for this workspace"} testId="price-form">
      <form onSubmit={(e) => void submit(e)} className="space-y-3">
        <div className="grid grid-cols-2 gap-3 md:grid-cols-6">
          <div className="block text-xs font-medium text-slate-600">
            Provider
            <select
              data-testid="price-form-provider"
              value={values.provider}
              disabled={editing}
              onChange={(e) => set("provider")(e.target.value)}
              className={`mt-1 ${FIELD}`}
            >
              {providers.map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
          </div>
          <label className="block text-xs font-medium text-slate-600">
            Model prefix
            <input
              data-testid="price-form-model"
              value={values.model}
              disabled={editing}
              maxLength={MAX_PREFIX_CHARS}
              spellCheck={false}
              onChange={(e) => set("model")(e.target.value)}
              placeholder="empty: every model"
              className={`mt-1 font-mono ${FIELD}`}
            />
            {modelProblem && <span className="mt-0.5 block text-[11px] font-normal text-rose-700">{modelProblem}</span>}
          </label>
          {rateField("Input, $ / M", "input", "required")}
          {rateField("Output, $ / M", "output", "required")}
          {rateField("Cache read, $ / M", "cacheRead", "input rate")}
          {rateField("Cache write, $ / M", "cacheWrite", "input rate")}
        </div>
        <p className="text-xs text-slate-500">
          USD per million tokens. The prefix matches model names that start with it (<span className="font-mono">gpt-4o</span> prices{" "}
          <span className="font-mono">gpt-4o-2024-08-06</span> and <span className="font-mono">gpt-4o-mini</span> too, unless a longer prefix of this workspace
          matches); empty, every model of the provider. A price of this workspace replaces the built-in prices of every model it matches.
        </p>
        <div className="flex items-center justify-end gap-2">
          <Button variant="ghost" data-testid="price-form-cancel" onClick={onCancel}>
            Cancel
          </Button>
          <Button type="submit" variant="primary" needs="admin" data-testid="price-form-save" disabled={save.pending || (touched && !valid)}>
            {save.pending ? "Saving…" : editing ? "Save" : "Add price"}
          </Button>
        </div>
        <ErrorBox error={save.error} title="The price was refused" />
      </form>
    </Card>
  );
}

/** 400K, 1.05M: a token count in three digits at most (the exact one in the cell's title). */
const COMPACT = new Intl.NumberFormat("en-US", { notation: "compact", maximumSignificantDigits: 3 });
const whole = (n: number) => n.toLocaleString("en-US");

/** The context window, compactly, and the longest output of one call under it. */
function ContextCell({ entry }: { entry: CatalogEntry }) {
  const { contextWindow, maxOutputTokens } = entry;
  if (contextWindow == null && maxOutputTokens == null) return <span className="text-slate-400">—</span>;
  const title = [
    contextWindow != null ? `${whole(contextWindow)} tokens of context` : "context window unknown",
    maxOutputTokens != null ? `at most ${whole(maxOutputTokens)} output tokens per call` : null,
  ]
    .filter(Boolean)
    .join("; ");
  return (
    <span title={title}>
      <span data-testid="builtin-context">{contextWindow != null ? COMPACT.format(contextWindow) : "?"}</span>
      {maxOutputTokens != null && <span className="block text-[11px] text-slate-400">{COMPACT.format(maxOutputTokens)} out</span>}
    </span>
  );
}

/**
 * The capabilities an agent config may depend on (lib/models/catalog.ts CAPABILITIES), by field:
 * `label` the chip shown when the model is known to have it (true); `refused` the chip shown when
 * it is known not to (false) and a config relying on it is refused, so the table says so. A
 * capability with no chip for its known value shows only in the title.
 */
const CAPABILITY_LABELS = [
  { field: "thinking", label: "thinking", name: "extended thinking" },
  { field: "adaptiveThinking", label: "adaptive thinking", name: "adaptive thinking" },
  { field: "thinkingOff", refused: "always thinks", name: "turning thinking off", no: 'no: always thinks (thinking "off" is refused)' },
  { field: "reasoning", label: "reasoning", name: "reasoning (reasoning_effort)" },
  { field: "caching", label: "caching", name: "prompt caching" },
  { field: "structuredOutput", label: "JSON schema", name: "structured output" },
  { field: "outputFormat", label: "JSON output format", name: "JSON outputs (output_config.format)" },
  { field: "forcedToolChoice", refused: "no forced tools", name: "forced tool use", no: "no: structured output goes as output_config.format" },
  { field: "temperature", refused: "no temperature", name: "a sampling temperature", no: "no: temperature is refused" },
] as const satisfies ReadonlyArray<{ field: keyof CatalogEntry; label?: string; refused?: string; name: string; no?: string }>;

/** Anthropic's output_config.effort levels, lowest first (lib/models/catalog.ts EFFORT_LEVELS: the console bundles no catalog). */
const EFFORT_ORDER = ["low", "medium", "high", "xhigh", "max"];

/**
 * The effort chip: "effort: low…max" for a run of consecutive levels, the ones left out named
 * ("effort: low…max, no xhigh"); null when no level is known (none, or unknown: the title says which).
 */
function effortLabel(levels: readonly string[] | null | undefined): string | null {
  if (!levels || levels.length === 0) return null;
  if (levels.length === 1) return `effort: ${levels[0]}`;
  const first = levels[0]!;
  const last = levels[levels.length - 1]!;
  const span = EFFORT_ORDER.slice(EFFORT_ORDER.indexOf(first), EFFORT_ORDER.indexOf(last) + 1);
  const missing = span.filter((level) => !levels.includes(level));
  return `effort: ${first}…${last}${missing.length > 0 ? `, no ${missing.join(", ")}` : ""}`;
}

/** One chip of a model's capabilities: `refused`, what its API refuses (amber). */
type Chip = { field: string; text: string; refused: boolean };

const CHIP = "whitespace-nowrap rounded px-1 py-0.5 text-[11px] font-medium";

/**
 * A model's known capabilities as chips (grey), and what its API refuses as amber chips ("no
 * temperature"); the title says each one (yes, no or unknown: unknown is allowed) and the effort levels.
 * On a wide screen the chips get room for three lines (what it has, its effort, what it refuses);
 * narrower, they wrap more rather than push the table past the card.
 */
function Capabilities({ entry }: { entry: CatalogEntry }) {
  const chips = CAPABILITY_LABELS.flatMap((c): Chip[] => {
    const value = entry[c.field];
    if (value === true && "label" in c) return [{ field: c.field, text: c.label, refused: false }];
    if (value === false && "refused" in c) return [{ field: c.field, text: c.refused, refused: true }];
    return [];
  });
  const effort = effortLabel(entry.effortLevels);
  // what it has (grey), its effort levels, then what its API refuses (amber), each group together
  const has = chips.filter((c) => !c.refused);
  if (effort) has.push({ field: "effortLevels", text: effort, refused: false });
  const shown = [...has, ...chips.filter((c) => c.refused)];
  const levels = entry.effortLevels;
  const title = [
    ...CAPABILITY_LABELS.map((c) => `${c.name}: ${entry[c.field] == null ? "unknown (allowed)" : entry[c.field] ? "yes" : "no" in c ? c.no : "no"}`),
    `effort levels (output_config.effort): ${levels == null ? "unknown (any allowed)" : levels.length === 0 ? "none (effort is refused)" : levels.join(", ")}`,
  ].join("\n");
  return (
    <span data-testid="builtin-capabilities" title={title} className="ml-auto inline-flex max-w-[25rem] min-[1400px]:min-w-[17rem] flex-wrap justify-end gap-1">
      {shown.length === 0 && <span className="text-slate-400">—</span>}
      {shown.map((c) => (
        <span
          key={c.field}
          data-testid="builtin-capability"
          data-capability={c.field}
          data-refused={c.refused ? "true" : undefined}
          className={`${CHIP} ${c.refused ? "bg-amber-50 text-amber-800" : "bg-slate-100 text-slate-600"}`}
        >
          {c.text}
        </span>
      ))}
    </span>
  );
}

/** The catalog as the API has it, by provider; each entry says whether a price of the workspace replaces it. */
function BuiltinTable({
  catalog,
  entries: all,
  providers,
  overrides,
  onOverride,
}: {
  catalog: QueryState<ModelCatalogQuery>;
  entries: CatalogEntry[];
  providers: string[];
  overrides: Override[];
  onOverride: (values: FormValues) => void;
}) {
  const [provider, setProvider] = useState("");
  const entries = all.filter((e) => provider === "" || e.provider === provider);
  return (
    <Card
      title="Built-in models and prices"
      testId="prices-builtin"
      bodyClassName=""
      actions={
        <Select
          label="Provider"
          value={provider}
          onChange={setProvider}
          testId="prices-builtin-provider"
          options={[{ value: "", label: "all" }, ...providers.map((p) => ({ value: p, label: p }))]}
        />
      }
    >
      {catalog.error && !(catalog.error.unreachable && catalog.data) && (
        <div className="p-4">
          <ErrorBox error={catalog.error} title="Could not load the model catalog" onRetry={() => void catalog.refetch()} />
        </div>
      )}
      {catalog.loading && !catalog.data ? (
        <Loading rows={4} />
      ) : (
        catalog.data && (
          <div className="overflow-x-auto">
            <table data-testid="prices-builtin-table" className="w-full text-sm">
              <thead>
                <PriceHeader
                  first="Provider"
                  afterModel={[{ label: "Context", title: "tokens of context; below, the most output tokens of one call" }]}
                  extra={["Capabilities", "This workspace", ""]}
                />
              </thead>
              <tbody className="divide-y divide-slate-100">
                {entries.map((e) => {
                  const { by, partly } = replacement(e, overrides);
                  // a replaced entry's rates apply to none of its models: struck through
                  const struck = by != null ? "line-through" : "";
                  const priced = e.inputPerMillion != null && e.outputPerMillion != null;
                  return (
                    <tr
                      key={`${e.provider}/${e.modelPrefix}`}
                      data-testid="builtin-price-row"
                      data-provider={e.provider}
                      data-model={e.modelPrefix}
                      data-replaced={by != null ? "true" : "false"}
                      data-operator-file={e.fromOperatorFile ? "true" : "false"}
                      className={by != null ? "bg-slate-50/70 text-slate-400" : ""}
                    >
                      <td className="px-4 py-1.5">{e.provider}</td>
                      <td className="px-3 py-1.5">
                        <Prefix prefix={e.modelPrefix} />
                        {e.fromOperatorFile && (
                          <span
                            data-testid="builtin-operator-file"
                            title="given (or changed) by the operator's EVERRUNS_MODELS_FILE"
                            className="ml-1.5 whitespace-nowrap rounded bg-sky-50 px-1.5 py-0.5 text-[11px] font-medium text-sky-800"
                          >
                            operator file
                          </span>
                        )}
                      </td>
                      <td className="whitespace-nowrap px-3 py-1.5 text-right tabular-nums">
                        <ContextCell entry={e} />
                      </td>
                      <td className={`whitespace-nowrap px-3 py-1.5 text-right tabular-nums ${struck}`}>{priced ? formatRate(e.inputPerMillion!) : "—"}</td>
                      <td className={`whitespace-nowrap px-3 py-1.5 text-right tabular-nums ${struck}`}>{priced ? formatRate(e.outputPerMillion!) : "—"}</td>
                      <td className={`whitespace-nowrap px-3 py-1.5 text-right tabular-nums ${struck}`}>
                        {priced ? <CacheRate rate={e.cacheReadPerMillion} testId="builtin-cache-read" /> : "—"}
                      </td>
                      <td className={`whitespace-nowrap px-3 py-1.5 text-right tabular-nums ${struck}`}>
                        {priced ? <CacheRate rate={e.cacheWritePerMillion} testId="builtin-cache-write" /> : "—"}
                      </td>
                      <td className="px-3 py-1.5 text-right">
                        <Capabilities entry={e} />
                      </td>
                      <td className="px-3 py-1.5 text-xs" data-testid="builtin-price-status">
                        {by != null ? (
                          <span className="font-medium text-amber-800">
                            replaced by {by === "" ? `its ${e.provider} price for every model` : `its ${by}* price`}
                          </span>
                        ) : partly.length > 0 ? (
                          <span className="text-amber-800" title={partly.map((p) => `${p}*`).join(", ")}>
                            partly replaced ({partly.map((p) => `${p}*`).join(", ")})
                          </span>
                        ) : (
                          <span className="text-slate-400">applies</span>
                        )}
                      </td>
                      <td className="px-3 py-1.5 pr-4 text-right">
                        {priced && (
                          <Button
                            size="sm"
                            variant="ghost"
                            needs="admin"
                            data-testid="builtin-price-override"
                            title="Add a price of this workspace for these models, starting from the built-in rates"
                            onClick={() =>
                              onOverride({
                                provider: e.provider,
                                model: e.modelPrefix,
                                input: rateText(e.inputPerMillion),
                                output: rateText(e.outputPerMillion),
                                cacheRead: rateText(e.cacheReadPerMillion),
                                cacheWrite: rateText(e.cacheWritePerMillion),
                              })
                            }
                          >
                            Override
                          </Button>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )
      )}
      <p className="border-t border-slate-100 px-4 py-2.5 text-xs text-slate-500">
        The catalog as the API loaded it at its start: this release&apos;s table (<span className="font-mono">lib/models/models.json</span>) with the
        operator&apos;s <span className="font-mono">EVERRUNS_MODELS_FILE</span> over it (its entries marked <em>operator file</em>), read-only here: a change is
        a new release or a change of that file. A model it does not list, and no price of this workspace or of its agent matches, costs 0. A capability not
        shown is absent or unknown (hover for which); an unknown one is allowed. An amber one is what the provider refuses for that model: an agent config that
        sets it (thinking <span className="font-mono">off</span>, a temperature) is refused when saved, and structured output goes as{" "}
        <span className="font-mono">output_config.format</span> instead of a forced tool.
      </p>
    </Card>
  );
}
