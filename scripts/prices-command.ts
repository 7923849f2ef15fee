// `everruns prices list|set|delete [--workspace W]`: a workspace's own model prices
// (everruns.model_prices, default: the default workspace), straight on the database like
// `everruns secrets`. Workers price LLM steps with them over the table in code (worker/pricing.ts),
// the longest model prefix of the step's provider winning, from at most 30 s after a change.
import { parseArgs } from "node:util";
import { ConfigError, ValidationError } from "../db/errors.ts";
import type { Env } from "../db/env.ts";
import { deleteModelPrice } from "../db/sql/deleteModelPrice.ts";
import { listModelPrices } from "../db/sql/listModelPrices.ts";
import { setModelPrice, type ModelPrice } from "../db/sql/setModelPrice.ts";
import { PROVIDER_SPECS } from "../worker/providers/registry.ts";
import { formatTable } from "./cli/output.ts";
import { DEFAULT_WORKSPACE, resolveWorkspace, wantsHelp, withCliPool } from "./workspaces-command.ts";

export const PRICES_USAGE = `Usage:
  everruns prices list [--workspace W] [--json]     the workspace's model prices (USD per million tokens)
  everruns prices set --provider P --model M --input X --output Y [--cache-read R] [--cache-write C] [--workspace W]
                                                    set (create or replace) the price of P's models starting with M
  everruns prices delete --provider P --model M [--workspace W]
                                                    delete it: the price table in code applies again

P is one of ${PROVIDER_SPECS.map((s) => s.name).join(", ")}. M is a model name prefix ("" prices every model of P; the longest
matching prefix wins): --model claude-sonnet-4 prices claude-sonnet-4-20250514 too. Rates are USD per million tokens:
--input for uncached input, --output for output (reasoning included), --cache-read and --cache-write for input read
from or written to a prompt cache (left out: the models table's ratio to the input rate, else the input
rate). Steps that begin more than 30 s after a change use it. Admin keys only.
W is a workspace's name or id (default: default; everruns workspaces list).
Example: everruns prices set --provider anthropic --model claude-sonnet-4 --input 3 --output 15 --cache-read 0.3 --cache-write 3.75`;

/** "--input 3" → 3; a ConfigError naming the flag otherwise. */
function rate(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  // plain decimals only: Number() would also take "0x10", "1e3" or " 3 "
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(n))
    throw new ConfigError(`--${flag} takes USD per million tokens (a number, e.g. 3 or 0.3), got ${JSON.stringify(value)}`);
  return n;
}

/** The checks' field names (db/sql/setModelPrice.ts) as this command's flags. */
const FLAG_NAMES: Record<string, string> = {
  inputPerMillion: "--input",
  outputPerMillion: "--output",
  cacheReadPerMillion: "--cache-read",
  cacheWritePerMillion: "--cache-write",
  provider: "--provider",
  model: "--model",
};

function asFlags(error: unknown): unknown {
  if (!(error instanceof ValidationError)) return error;
  return new ValidationError(
    error.message.replace(
      /\b(inputPerMillion|outputPerMillion|cacheReadPerMillion|cacheWritePerMillion|provider|model):/g,
      (_, f: string) => `${FLAG_NAMES[f]}:`,
    ),
    { code: error.code },
  );
}

const rateText = (n: number | null) => (n === null ? "-" : String(n));

function row(p: ModelPrice): Record<string, unknown> {
  return {
    provider: p.provider,
    model: p.model === "" ? "(all)" : p.model,
    input: rateText(p.inputPerMillion),
    output: rateText(p.outputPerMillion),
    cache_read: rateText(p.cacheReadPerMillion),
    cache_write: rateText(p.cacheWritePerMillion),
    updated: p.updatedAt,
  };
}

export interface PricesCommandIo {
  out?: (line: string) => void;
}

/** `everruns prices <list|set|delete> ...`; returns the exit code. */
export async function pricesCommand(args: string[], env: Env, io: PricesCommandIo = {}): Promise<number> {
  const out = io.out ?? ((line: string) => console.log(line));
  const [sub, ...rest] = args;
  if (!sub || wantsHelp(args)) {
    out(PRICES_USAGE);
    return sub ? 0 : 2;
  }
  if (sub !== "set" && sub !== "list" && sub !== "delete") throw new ConfigError(`unknown prices command "${sub}"\n\n${PRICES_USAGE}`);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      workspace: { type: "string", short: "w" },
      provider: { type: "string" },
      model: { type: "string" },
      input: { type: "string" },
      output: { type: "string" },
      "cache-read": { type: "string" },
      "cache-write": { type: "string" },
      json: { type: "boolean" },
    },
  });
  if (positionals.length > 0) throw new ConfigError(`everruns prices ${sub} takes flags only, got ${JSON.stringify(positionals[0])}\n\n${PRICES_USAGE}`);
  const rates = ["input", "output", "cache-read", "cache-write"] as const;
  if (sub !== "set") {
    const misplaced = rates.find((flag) => values[flag] !== undefined);
    if (misplaced) throw new ConfigError(`--${misplaced} is only for everruns prices set`);
  }
  if (sub === "list" && (values.provider !== undefined || values.model !== undefined)) {
    throw new ConfigError("everruns prices list lists every price of the workspace: --provider and --model are for set and delete");
  }
  if (sub !== "list") {
    if (values.provider === undefined) throw new ConfigError(`usage: everruns prices ${sub} --provider P --model M …: --provider is missing`);
    if (values.model === undefined) throw new ConfigError(`usage: everruns prices ${sub} --provider P --model M …: --model is missing ("" for every model)`);
  }
  const input = rate("input", values.input);
  const output = rate("output", values.output);
  if (sub === "set" && (input === undefined || output === undefined)) {
    throw new ConfigError(`usage: everruns prices set … --input X --output Y: ${input === undefined ? "--input" : "--output"} is missing`);
  }
  const cacheRead = rate("cache-read", values["cache-read"]);
  const cacheWrite = rate("cache-write", values["cache-write"]);

  return withCliPool(env, async (pool) => {
    const workspace = await resolveWorkspace(pool, values.workspace);
    // the default workspace goes unnamed, as in everruns secrets
    const inWorkspace = workspace.name === DEFAULT_WORKSPACE ? "" : ` in workspace ${workspace.name}`;
    const what = (provider: string, model: string) => `${provider} ${model === "" ? "(all models)" : model}`;
    if (sub === "set") {
      const p = await setModelPrice(pool, {
        workspaceId: workspace.id,
        provider: values.provider!,
        model: values.model!,
        inputPerMillion: input!,
        outputPerMillion: output!,
        cacheReadPerMillion: cacheRead ?? null,
        cacheWritePerMillion: cacheWrite ?? null,
      }).catch((error: unknown) => {
        throw asFlags(error);
      });
      const cache = [
        p.cacheReadPerMillion !== null && `cache read ${p.cacheReadPerMillion}`,
        p.cacheWritePerMillion !== null && `cache write ${p.cacheWritePerMillion}`,
      ].filter(Boolean);
      out(
        `set price of ${what(p.provider, p.model)}${inWorkspace}: input ${p.inputPerMillion}, output ${p.outputPerMillion}` +
          `${cache.length ? `, ${cache.join(", ")}` : ""} USD per million tokens`,
      );
    } else if (sub === "delete") {
      const deleted = await deleteModelPrice(pool, { workspaceId: workspace.id, provider: values.provider!, model: values.model! }).catch((error: unknown) => {
        throw asFlags(error);
      });
      out(
        deleted
          ? `deleted price of ${what(values.provider!, values.model!)}${inWorkspace}`
          : `there is no price of ${what(values.provider!, values.model!)}${inWorkspace}`,
      );
    } else {
      const prices = await listModelPrices(pool, workspace.id);
      if (values.json) out(JSON.stringify(prices, null, 2));
      else if (prices.length === 0) out(`no model prices${inWorkspace}: the price table in code applies`);
      else out(formatTable(prices.map(row)));
    }
    return 0;
  });
}
