import { z } from "zod";
import { fromDatabaseError, ValidationError } from "../errors.ts";
import type { Queryable } from "../pool.ts";
import { PROVIDER_SPECS } from "../../worker/providers/registry.ts";

/** A workspace's price of a provider's models (everruns.model_prices), USD per million tokens. */
export interface ModelPrice {
  provider: string;
  /** a prefix of the model names it prices; "" prices every model of the provider */
  model: string;
  inputPerMillion: number;
  outputPerMillion: number;
  /** null: cached reads cost the input rate */
  cacheReadPerMillion: number | null;
  /** null: cache writes cost the input rate */
  cacheWritePerMillion: number | null;
  createdAt: string;
  updatedAt: string;
}

/** The highest rate accepted, as the table's checks (USD per million tokens). */
export const MAX_PRICE_PER_MILLION = 1_000_000;
export const MAX_MODEL_PREFIX_CHARS = 200;

const PROVIDER_NAMES = PROVIDER_SPECS.map((spec) => spec.name) as [string, ...string[]];
const Rate = z.number().finite().min(0).max(MAX_PRICE_PER_MILLION);

/** What setModelPrice takes: checked here, before the database's own checks, naming the field. */
export const ModelPriceInputSchema = z.strictObject({
  provider: z.enum(PROVIDER_NAMES, { error: `provider must be one of ${PROVIDER_NAMES.join(", ")}` }),
  model: z
    .string()
    .max(MAX_MODEL_PREFIX_CHARS)
    .regex(/^[^\s\p{Cc}]*$/u, "a model prefix holds no spaces or control characters"),
  inputPerMillion: Rate,
  outputPerMillion: Rate,
  cacheReadPerMillion: Rate.nullish(),
  cacheWritePerMillion: Rate.nullish(),
});
export type ModelPriceInput = z.input<typeof ModelPriceInputSchema>;

/** `input` checked: a ValidationError naming each problem by its field otherwise. */
export function checkModelPrice(input: unknown): z.output<typeof ModelPriceInputSchema> {
  const result = ModelPriceInputSchema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.length ? `${i.path.join(".")}: ` : ""}${i.message}`);
    throw new ValidationError(`invalid model price: ${problems.join("; ")}`, { code: "invalid_model_price" });
  }
  return result.data;
}

export interface ModelPriceRow {
  provider: string;
  model: string;
  input_per_million: number;
  output_per_million: number;
  cache_read_per_million: number | null;
  cache_write_per_million: number | null;
  created_at: Date | string;
  updated_at: Date | string;
}

export const MODEL_PRICE_COLUMNS =
  "provider, model, input_per_million, output_per_million, cache_read_per_million, cache_write_per_million, created_at, updated_at";

export function toModelPrice(row: ModelPriceRow): ModelPrice {
  return {
    provider: row.provider,
    model: row.model,
    inputPerMillion: row.input_per_million,
    outputPerMillion: row.output_per_million,
    cacheReadPerMillion: row.cache_read_per_million,
    cacheWritePerMillion: row.cache_write_per_million,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

/**
 * Sets (creates or replaces) a workspace's price of a provider's models matching a prefix.
 * workspaceId null: the current workspace (the API's key's), or default for an administrator's
 * connection (the CLI passes its workspace). Rates not given are null (the input rate).
 */
export async function setModelPrice(db: Queryable, input: ModelPriceInput & { workspaceId?: string | null }): Promise<ModelPrice> {
  const { workspaceId, ...rest } = input;
  const p = checkModelPrice(rest);
  try {
    const { rows } = await db.query<ModelPriceRow>(
      `insert into everruns.model_prices as p (workspace_id, provider, model, input_per_million, output_per_million,
                                              cache_read_per_million, cache_write_per_million)
       values (coalesce($1::uuid, everruns_private.current_or_default_workspace_id()), $2, $3, $4, $5, $6, $7)
       on conflict on constraint model_prices_workspace_provider_model_key do update
         set input_per_million = excluded.input_per_million, output_per_million = excluded.output_per_million,
             cache_read_per_million = excluded.cache_read_per_million, cache_write_per_million = excluded.cache_write_per_million,
             updated_at = now()
       returning ${MODEL_PRICE_COLUMNS}`,
      [workspaceId ?? null, p.provider, p.model, p.inputPerMillion, p.outputPerMillion, p.cacheReadPerMillion ?? null, p.cacheWritePerMillion ?? null],
    );
    return toModelPrice(rows[0]!);
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
