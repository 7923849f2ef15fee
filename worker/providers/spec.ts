// What a provider declares about itself, beside its implementation: its own agent-config fields
// (the common ones are in db/schemas.ts), the environment variables it reads and how to load it.
// Its models' prices, context windows and capabilities are data (lib/models/models.json, read by
// lib/models/catalog.ts). A spec file must stay light to import (zod only): db/schemas.ts,
// db/env.ts and the API import every spec; the implementation, and its SDK, is loaded by `load()`
// on first use.
import type { z } from "zod";
import type { Provider } from "./types.ts";

/** USD per million tokens of each category; defined with the model catalog. */
export type { Price } from "../../lib/models/catalog.ts";

export interface ProviderSpec<Name extends string = string, Fields extends z.ZodRawShape = z.ZodRawShape> {
  /** the value of the agent config's `provider` */
  name: Name;
  /** the agent-config settings only this provider has (model, base_url, script, ...) */
  fields: Fields;
  /** the environment variables it reads, validated when a process starts (db/env.ts) */
  env: z.ZodRawShape;
  /** the implementation, imported on first use */
  load(): Promise<Provider>;
}

export function defineProvider<const Name extends string, Fields extends z.ZodRawShape>(spec: ProviderSpec<Name, Fields>): ProviderSpec<Name, Fields> {
  return spec;
}

/** An environment variable's value, trimmed; undefined when unset or blank. */
export function envValue(name: string): string | undefined {
  return process.env[name]?.trim() || undefined;
}
