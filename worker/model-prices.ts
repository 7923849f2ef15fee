// A workspace's own model prices (everruns.model_prices), as the worker prices its LLM steps
// with them (worker/pricing.ts costUsd's overrides; StepScope.prices). Read once per workspace
// per ttlMs (30 s by default), not per step: a price set through the API or the CLI applies to
// steps that finish within ttlMs of it. Concurrent steps of a workspace whose entry expired share
// one read. A failed read is not cached (the step fails as on any database error, and its retry
// reads again).
import type { Queryable } from "../db/pool.ts";
import { listModelPrices } from "../db/sql/listModelPrices.ts";
import type { ModelPrice } from "../db/sql/setModelPrice.ts";
import type { PriceOverrides } from "./pricing.ts";

export const DEFAULT_MODEL_PRICES_TTL_MS = 30_000;

export interface ModelPriceCacheOptions {
  db: Queryable;
  /** how long a workspace's prices are reused without reading them again; default 30 s, 0: read for every step */
  ttlMs?: number;
  /** at most this many workspaces are kept */
  maxWorkspaces?: number;
}

interface Entry {
  prices: Promise<PriceOverrides>;
  until: number;
}

/** The overrides of a workspace's rows (rates USD per million tokens; a null cache rate: the input rate's, by costUsd). */
export function priceOverrides(rows: readonly ModelPrice[]): PriceOverrides {
  return rows.map((r) => ({
    provider: r.provider,
    model: r.model,
    price: {
      input: r.inputPerMillion,
      output: r.outputPerMillion,
      ...(r.cacheReadPerMillion !== null && { cache_read: r.cacheReadPerMillion }),
      ...(r.cacheWritePerMillion !== null && { cache_write: r.cacheWritePerMillion }),
    },
  }));
}

/** One per worker process (made by makeRunStepTask): a step asks it for its run's workspace. */
export class ModelPriceCache {
  private readonly cache = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly maxWorkspaces: number;
  private readonly db: Queryable;

  constructor(options: ModelPriceCacheOptions) {
    this.db = options.db;
    this.ttlMs = options.ttlMs ?? DEFAULT_MODEL_PRICES_TTL_MS;
    this.maxWorkspaces = options.maxWorkspaces ?? 1000;
  }

  /** The workspace's prices (an empty list when it set none). */
  forWorkspace(workspaceId: string): Promise<PriceOverrides> {
    const key = workspaceId.toLowerCase();
    const now = performance.now();
    const hit = this.cache.get(key);
    if (hit && hit.until > now) return hit.prices;
    const prices = listModelPrices(this.db, workspaceId).then(priceOverrides);
    this.cache.delete(key);
    if (this.ttlMs > 0) {
      if (this.cache.size >= this.maxWorkspaces) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, { prices, until: now + this.ttlMs });
      // a failed read is forgotten, so the next step reads again
      prices.catch(() => {
        if (this.cache.get(key)?.prices === prices) this.cache.delete(key);
      });
    }
    return prices;
  }

  /** Forgets every workspace's prices (tests). */
  clear(): void {
    this.cache.clear();
  }
}
