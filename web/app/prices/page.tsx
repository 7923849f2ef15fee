"use client";
// Model prices (issue 20): what this workspace's LLM steps are costed with, in USD per million
// tokens of each category (input, output, cache read, cache write). Two tables: the workspace's
// own prices (everruns.model_prices: provider and model name prefix), which an operator adds,
// edits and deletes (setModelPrice / deleteModelPrice; a viewer reads them, every action disabled
// and naming the role needed), and the built-in table of this release (lib/models/models.json,
// read-only), each entry saying whether a workspace price replaces it. Where a step's price comes
// from (worker/pricing.ts): the agent config's own `prices`, else the workspace's price with the
// longest prefix of the model among its provider's, else the built-in table's.
import { useState, type FormEvent } from "react";
import { Button, Card, Empty, ErrorBox, Loading, PageHeader, Select, Timestamp } from "@/components/ui";
import type { ModelPricesQuery } from "@/lib/gql/graphql";
import { useMutation, useQuery } from "@/lib/hooks";
import { present } from "@/lib/types";
// the release's built-in table: data, bundled with the console (the workers read the same file)
import builtinModels from "../../../lib/models/models.json";
import { DELETE_MODEL_PRICE, MODEL_PRICES_QUERY, SET_MODEL_PRICE } from "./queries";

/** USD per million tokens; a missing cache rate is the input rate (lib/models/catalog.ts). */
interface Rates {
  input: number;
  output: number;
  cache_read?: number;
  cache_write?: number;
}
interface BuiltinEntry {
  provider: string;
  prefix: string;
  prices: Rates | null;
}

const BUILTIN: BuiltinEntry[] = Object.entries(builtinModels as Record<string, Record<string, { prices?: Rates }>>).flatMap(([provider, models]) =>
  Object.entries(models).map(([prefix, entry]) => ({ provider, prefix, prices: entry.prices ?? null })),
);
/** The providers a price may name (the table's check, 000029): those of the built-in table. */
const PROVIDERS = Object.keys(builtinModels);
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
function replacement(entry: BuiltinEntry, overrides: Override[]): { by: string | null; partly: string[] } {
  const own = overrides.filter((o) => o.provider === entry.provider);
  const covering = own.filter((o) => entry.prefix.startsWith(o.model)).sort((a, b) => b.model.length - a.model.length)[0];
  const partly = own.filter((o) => o.model.length > entry.prefix.length && o.model.startsWith(entry.prefix)).map((o) => o.model);
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
const EMPTY_FORM: FormValues = { provider: PROVIDERS[0] ?? "openai", model: "", input: "", output: "", cacheRead: "", cacheWrite: "" };
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
            <Button variant="primary" needs="operator" data-testid="price-add" onClick={() => open(EMPTY_FORM, false)}>
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
              Its steps are priced with the built-in table below. An operator adds a price here, with <span className="font-mono">everruns prices set</span> or
              the GraphQL <span className="font-mono">setModelPrice</span>: it replaces the built-in prices of the models it matches.
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
            price with the longest prefix of its model among its provider&apos;s, else by the built-in table. Workers apply a change within 30 s, to steps that
            finish from then on; a run&apos;s cost already recorded stays as it was. A cache rate left empty is the input rate.
          </p>
        </Card>
        <BuiltinTable
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

function PriceHeader({ first, extra }: { first: string; extra: string[] }) {
  return (
    <tr className="border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500">
      <th className="px-4 py-2">{first}</th>
      <th className="px-3 py-2">Model prefix</th>
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

/** One price of the workspace: its rates, when it was set, Edit and Delete (confirmed), operators'. */
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
              <Button size="sm" needs="operator" data-testid="price-edit" onClick={onEdit}>
                Edit
              </Button>
              <Button size="sm" needs="operator" data-testid="price-delete" className="text-rose-700" onClick={() => setConfirming(true)}>
                Delete
              </Button>
            </div>
          )}
          {confirming && (
            <div data-testid="price-delete-confirm" className="w-72 space-y-2 rounded-md border border-rose-200 bg-rose-50 p-2.5 text-left">
              <p className="text-xs text-rose-900">
                Delete this workspace&apos;s price of {price.provider} {price.model === "" ? "models" : <span className="font-mono">{price.model}*</span>}?
                Steps that finish from then on are priced by the built-in table (or a shorter prefix of this workspace).
              </p>
              <div className="flex justify-end gap-2">
                <Button size="sm" variant="ghost" onClick={() => setConfirming(false)}>
                  Cancel
                </Button>
                <Button
                  size="sm"
                  variant="danger"
                  needs="operator"
                  data-testid="price-confirm-delete"
                  disabled={remove.pending}
                  onClick={() => void onDelete()}
                >
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
function PriceForm({ initial, editing, onDone, onCancel }: { initial: FormValues; editing: boolean; onDone: () => void; onCancel: () => void }) {
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
              {PROVIDERS.map((p) => (
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
          <Button type="submit" variant="primary" needs="operator" data-testid="price-form-save" disabled={save.pending || (touched && !valid)}>
            {save.pending ? "Saving…" : editing ? "Save" : "Add price"}
          </Button>
        </div>
        <ErrorBox error={save.error} title="The price was refused" />
      </form>
    </Card>
  );
}

/** The built-in table of this release, by provider; each entry says whether a price of the workspace replaces it. */
function BuiltinTable({ overrides, onOverride }: { overrides: Override[]; onOverride: (values: FormValues) => void }) {
  const [provider, setProvider] = useState("");
  const entries = BUILTIN.filter((e) => provider === "" || e.provider === provider);
  return (
    <Card
      title="Built-in prices"
      testId="prices-builtin"
      bodyClassName=""
      actions={
        <Select
          label="Provider"
          value={provider}
          onChange={setProvider}
          testId="prices-builtin-provider"
          options={[{ value: "", label: "all" }, ...PROVIDERS.map((p) => ({ value: p, label: p }))]}
        />
      }
    >
      <div className="overflow-x-auto">
        <table data-testid="prices-builtin-table" className="w-full text-sm">
          <thead>
            <PriceHeader first="Provider" extra={["This workspace", ""]} />
          </thead>
          <tbody className="divide-y divide-slate-100">
            {entries.map((e) => {
              const { by, partly } = replacement(e, overrides);
              // a replaced entry's rates apply to none of its models: struck through
              const struck = by != null ? "line-through" : "";
              return (
                <tr
                  key={`${e.provider}/${e.prefix}`}
                  data-testid="builtin-price-row"
                  data-provider={e.provider}
                  data-model={e.prefix}
                  data-replaced={by != null ? "true" : "false"}
                  className={by != null ? "bg-slate-50/70 text-slate-400" : ""}
                >
                  <td className="px-4 py-1.5">{e.provider}</td>
                  <td className="px-3 py-1.5">
                    <Prefix prefix={e.prefix} />
                  </td>
                  <td className={`px-3 py-1.5 text-right tabular-nums ${struck}`}>{e.prices ? formatRate(e.prices.input) : "—"}</td>
                  <td className={`px-3 py-1.5 text-right tabular-nums ${struck}`}>{e.prices ? formatRate(e.prices.output) : "—"}</td>
                  <td className={`px-3 py-1.5 text-right tabular-nums ${struck}`}>
                    {e.prices ? <CacheRate rate={e.prices.cache_read} testId="builtin-cache-read" /> : "—"}
                  </td>
                  <td className={`px-3 py-1.5 text-right tabular-nums ${struck}`}>
                    {e.prices ? <CacheRate rate={e.prices.cache_write} testId="builtin-cache-write" /> : "—"}
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
                    {e.prices && (
                      <Button
                        size="sm"
                        variant="ghost"
                        needs="operator"
                        data-testid="builtin-price-override"
                        title="Add a price of this workspace for these models, starting from the built-in rates"
                        onClick={() =>
                          onOverride({
                            provider: e.provider,
                            model: e.prefix,
                            input: rateText(e.prices!.input),
                            output: rateText(e.prices!.output),
                            cacheRead: rateText(e.prices!.cache_read),
                            cacheWrite: rateText(e.prices!.cache_write),
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
      <p className="border-t border-slate-100 px-4 py-2.5 text-xs text-slate-500">
        The table of this release (<span className="font-mono">lib/models/models.json</span>), read-only here: a change is a new release, or an operator&apos;s{" "}
        <span className="font-mono">EVERRUNS_MODELS_FILE</span> on the workers (not shown here). A model it does not list, and no price of this workspace or of
        its agent matches, costs 0.
      </p>
    </Card>
  );
}
