// Tool arguments are checked against the tool's JSON schema before the tool runs; the model
// gets the problems back as the tool's result, so it can correct itself. Ajv is loaded on the
// first check, not at start.
import type { Ajv as AjvType, ValidateFunction } from "ajv";

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
