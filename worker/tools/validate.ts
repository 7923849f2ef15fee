// JSON Schema checks with ajv, loaded on first use, not at start (with `require`: the output
// schema checks run inside zod's synchronous refinements).
// - Tool arguments are checked against the tool's JSON schema before the tool runs; the model
//   gets the problems back as the tool's result, so it can correct itself.
// - An agent's `output_schema` is compiled when its config is validated (db/schemas.ts: a bad
//   schema is refused naming the field), and its final answer is checked against it (steps.ts).
import { createRequire } from "node:module";
import type { Ajv as AjvType, ErrorObject, ValidateFunction } from "ajv";

const requireCjs = createRequire(import.meta.url);
let AjvClass: (new (options: Record<string, unknown>) => AjvType) | undefined;
/** Compiled schemas (tools' parameters, output schemas) by their JSON text; bounded, as agent versions come and go. */
const cache = new Map<string, ValidateFunction | Error>();
const MAX_CACHED_SCHEMAS = 200;
/** The most schema errors reported to the model (or in a run's error): enough to correct, not a wall. */
const MAX_REPORTED_ERRORS = 10;

function compiled(schema: Record<string, unknown>): ValidateFunction | Error {
  const key = JSON.stringify(schema);
  let validate = cache.get(key);
  if (validate) return validate;
  AjvClass ??= (requireCjs("ajv") as { Ajv: new (options: Record<string, unknown>) => AjvType }).Ajv;
  try {
    // One instance per schema: two agents' schemas with the same `$id` must not collide in one
    // instance's registry. `logger: false`: an unknown `format` is ignored, not printed.
    validate = new AjvClass({ allErrors: true, strict: false, logger: false }).compile(schema);
  } catch (error) {
    validate = error instanceof Error ? error : new Error(String(error));
  }
  if (cache.size >= MAX_CACHED_SCHEMAS) cache.delete(cache.keys().next().value!);
  cache.set(key, validate);
  return validate;
}

export function argumentProblems(schema: Record<string, unknown>, args: unknown): string | null {
  const validate = compiled(schema);
  if (validate instanceof Error) return null; // an unusable schema is the agent author's problem, not the model's
  if (validate(args)) return null;
  return (validate.errors ?? []).map((e) => `${e.instancePath || "arguments"} ${e.message ?? "is invalid"}`).join("; ");
}

// --- output schemas --------------------------------------------------------------------------

/** Why `schema` cannot be used as an output schema (ajv's compile error), or null when it can. */
export function outputSchemaProblem(schema: Record<string, unknown>): string | null {
  const validate = compiled(schema);
  return validate instanceof Error ? validate.message : null;
}

function describeError(e: ErrorObject): string {
  const where = e.instancePath || "(root)";
  const params = e.params as Record<string, unknown>;
  let detail = "";
  if (e.keyword === "additionalProperties" && typeof params.additionalProperty === "string") detail = ` ("${params.additionalProperty}")`;
  else if (e.keyword === "enum" && Array.isArray(params.allowedValues)) detail = `: ${JSON.stringify(params.allowedValues)}`;
  else if (e.keyword === "const" && "allowedValue" in params) detail = `: ${JSON.stringify(params.allowedValue)}`;
  return `${where} ${e.message ?? "is invalid"}${detail}`;
}

/**
 * The ways `value` does not match `schema`, as one line (`/label must be equal to one of the
 * allowed values: ["a","b"]; (root) must have required property 'score'`), or null when it does.
 */
export function outputProblems(schema: Record<string, unknown>, value: unknown): string | null {
  const validate = compiled(schema);
  if (validate instanceof Error) return `the output schema cannot be used: ${validate.message}`;
  if (validate(value)) return null;
  const errors = validate.errors ?? [];
  const shown = errors.slice(0, MAX_REPORTED_ERRORS).map(describeError);
  if (errors.length > shown.length) shown.push(`and ${errors.length - shown.length} more`);
  return shown.join("; ") || "the value does not match the schema";
}
