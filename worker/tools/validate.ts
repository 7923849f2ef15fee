// JSON Schema checks with ajv, loaded on first use, not at start.
// - Tool arguments are checked against the tool's JSON schema before the tool runs; the model
//   gets the problems back as the tool's result, so it can correct itself.
// - An agent's `output_schema` is compiled when its config is validated (db/schemas.ts: a bad
//   schema is refused naming the field), and its final answer is checked against it (steps.ts).
//   These run inside zod's synchronous refinements, so ajv is loaded with `require` here.
import { createRequire } from "node:module";
import type { Ajv as AjvType, ErrorObject, ValidateFunction } from "ajv";

let ajv: Promise<AjvType> | undefined;
const cache = new Map<string, ValidateFunction | Error>();

export async function argumentProblems(schema: Record<string, unknown>, args: unknown): Promise<string | null> {
  const key = JSON.stringify(schema);
  let validate = cache.get(key);
  if (!validate) {
    ajv ??= import("ajv").then(({ Ajv }) => new Ajv({ allErrors: true, strict: false }));
    try {
      validate = (await ajv).compile(schema);
    } catch (error) {
      validate = error as Error;
    }
    cache.set(key, validate);
  }
  if (validate instanceof Error) return null; // an unusable schema is the agent author's problem, not the model's
  if (validate(args)) return null;
  return (validate.errors ?? []).map((e) => `${e.instancePath || "arguments"} ${e.message ?? "is invalid"}`).join("; ");
}

// --- output schemas --------------------------------------------------------------------------

const requireCjs = createRequire(import.meta.url);
let AjvClass: (new (options: Record<string, unknown>) => AjvType) | undefined;
/** Compiled output schemas by their JSON text; bounded, as agent versions come and go. */
const outputCache = new Map<string, ValidateFunction | Error>();
const MAX_CACHED_OUTPUT_SCHEMAS = 200;
/** The most schema errors reported to the model (or in a run's error): enough to correct, not a wall. */
const MAX_REPORTED_ERRORS = 10;

function compiledOutputSchema(schema: Record<string, unknown>): ValidateFunction | Error {
  const key = JSON.stringify(schema);
  let validate = outputCache.get(key);
  if (validate) return validate;
  AjvClass ??= (requireCjs("ajv") as { Ajv: new (options: Record<string, unknown>) => AjvType }).Ajv;
  try {
    // One instance per schema: two agents' schemas with the same `$id` must not collide in one
    // instance's registry. `logger: false`: an unknown `format` is ignored, not printed.
    validate = new AjvClass({ allErrors: true, strict: false, logger: false }).compile(schema);
  } catch (error) {
    validate = error instanceof Error ? error : new Error(String(error));
  }
  if (outputCache.size >= MAX_CACHED_OUTPUT_SCHEMAS) outputCache.delete(outputCache.keys().next().value!);
  outputCache.set(key, validate);
  return validate;
}

/** Why `schema` cannot be used as an output schema (ajv's compile error), or null when it can. */
export function outputSchemaProblem(schema: Record<string, unknown>): string | null {
  const validate = compiledOutputSchema(schema);
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
  const validate = compiledOutputSchema(schema);
  if (validate instanceof Error) return `the output schema cannot be used: ${validate.message}`;
  if (validate(value)) return null;
  const errors = validate.errors ?? [];
  const shown = errors.slice(0, MAX_REPORTED_ERRORS).map(describeError);
  if (errors.length > shown.length) shown.push(`and ${errors.length - shown.length} more`);
  return shown.join("; ") || "the value does not match the schema";
}
