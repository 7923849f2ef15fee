// Built-in `update_state`: changes the run's shared state (runs.state), which AG-UI clients render
// from STATE_SNAPSHOT / STATE_DELTA and anyone can query (SQL, GraphQL). Either the whole new
// object (`state`) or a JSON Patch (`patch`, RFC 6902, applied with fast-json-patch, as
// @ag-ui/client applies STATE_DELTA) against the state committed before this step. The new state
// must be an object of at most MAX_STATE_BYTES of JSON and match the agent's state_schema; if it
// is not, or the patch does not apply (a path that does not resolve, a failed `test`), the model
// is told why and nothing changes. The step commits the state with its checkpoint and events
// (tool-step.ts, commit_step_locked), so a step retried after a crash patches the same state
// again and the state changes once.
import { MAX_JSON_DEPTH } from "../../lib/storable-json.ts";
import { result, ToolError, type Tool, type ToolEvent } from "./types.ts";
import { outputProblems } from "./validate.ts";

/** The largest state: 256 KiB of JSON text. It is stored on the run and sent whole to every client that joins. */
export const MAX_STATE_BYTES = 262_144;
/** The most operations of one patch. */
export const MAX_PATCH_OPERATIONS = 1000;
/** The deepest a state may nest (objects and arrays), as a run's input (000008). */
export const MAX_STATE_DEPTH = MAX_JSON_DEPTH;

const OPS = ["add", "remove", "replace", "move", "copy", "test"] as const;

type PatchOperation = { op: (typeof OPS)[number]; path: string; from?: string; value?: unknown };

type JsonPatchModule = {
  applyPatch: (document: unknown, patch: unknown[], validate: boolean, mutate: boolean) => { newDocument: unknown };
  JsonPatchError: new (...args: never[]) => Error & { name: string; index?: number; operation?: unknown };
};
let jsonPatch: JsonPatchModule | undefined;

/** fast-json-patch, loaded on first use (tool files stay light to import: db/schemas.ts reads the names). */
async function loadJsonPatch(): Promise<JsonPatchModule> {
  jsonPatch ??= ((await import("fast-json-patch")) as unknown as { default: JsonPatchModule }).default;
  return jsonPatch;
}

/** What went wrong with a patch operation, without the document (fast-json-patch's message includes the whole tree). */
const PATCH_ERRORS: Record<string, string> = {
  TEST_OPERATION_FAILED: "its test failed (the value at its path is not the one given)",
  OPERATION_PATH_UNRESOLVABLE: "its path does not exist in the state",
  OPERATION_FROM_UNRESOLVABLE: 'its "from" does not exist in the state',
  OPERATION_PATH_CANNOT_ADD: "its path's parent does not exist in the state",
  OPERATION_PATH_ILLEGAL_ARRAY_INDEX: 'its path has an array index that is not a number or "-"',
  OPERATION_VALUE_OUT_OF_BOUNDS: "its array index is past the end of the array",
  OPERATION_PATH_INVALID: 'its path must be "" or start with "/"',
  OPERATION_FROM_REQUIRED: 'a move or copy needs "from"',
  OPERATION_VALUE_REQUIRED: 'an add, replace or test needs "value"',
  OPERATION_VALUE_CANNOT_CONTAIN_UNDEFINED: "its value is not JSON",
  OPERATION_OP_INVALID: `its op must be one of ${OPS.join(", ")}`,
  OPERATION_NOT_AN_OBJECT: "it is not an object",
};

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** How deep a JSON value nests (a scalar: 0), counted without recursion (a value too deep for the stack is what it guards against). */
export function jsonDepth(value: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    const inner = depth + 1;
    if (inner > max) max = inner;
    if (max > MAX_STATE_DEPTH) return max; // deep enough to refuse
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, inner]);
  }
  return max;
}

/**
 * A short, deterministic summary of a state for the model: its top-level keys, each with the
 * length of an array or the key count of an object (e.g. `findings (array of 3), status`).
 */
export function stateSummary(state: Record<string, unknown>): string {
  const keys = Object.keys(state);
  if (keys.length === 0) return "an empty object";
  const shown = keys.slice(0, 50).map((k) => {
    const v = state[k];
    if (Array.isArray(v)) return `${JSON.stringify(k)} (array of ${v.length})`;
    if (isObject(v)) return `${JSON.stringify(k)} (object of ${Object.keys(v).length} keys)`;
    return JSON.stringify(k);
  });
  return `keys ${shown.join(", ")}${keys.length > shown.length ? ` and ${keys.length - shown.length} more` : ""}`;
}

/** The operations as given, each with only its RFC 6902 members (what STATE_DELTA carries). */
function operations(patch: unknown): PatchOperation[] {
  if (!Array.isArray(patch))
    throw new ToolError('update_state\'s "patch" must be an array of JSON Patch operations, e.g. [{"op": "add", "path": "/findings/-", "value": {...}}]');
  if (patch.length > MAX_PATCH_OPERATIONS)
    throw new ToolError(`update_state's "patch" has ${patch.length} operations; at most ${MAX_PATCH_OPERATIONS}: send the whole state instead`);
  return patch.map((raw, i) => {
    if (!isObject(raw) || typeof raw.op !== "string" || !(OPS as readonly string[]).includes(raw.op) || typeof raw.path !== "string") {
      throw new ToolError(
        `operation ${i} of the patch must be {"op": one of ${OPS.join(", ")}, "path": a JSON Pointer, ...}; got ${JSON.stringify(raw).slice(0, 200)}`,
      );
    }
    const op: PatchOperation = { op: raw.op as PatchOperation["op"], path: raw.path };
    if ("from" in raw) op.from = raw.from as string;
    if ("value" in raw) op.value = raw.value;
    return op;
  });
}

export const updateStateTool: Tool = {
  definition: {
    name: "update_state",
    description:
      "Updates this run's shared state, a JSON object that the people and programs watching the run see live (e.g. findings, a plan, a status table). " +
      'Give either "state": the whole new object, or "patch": a JSON Patch (RFC 6902) applied to the current state, ' +
      'e.g. [{"op": "add", "path": "/findings/-", "value": {"title": "..."}}]. ' +
      `A patch that does not apply, or a state that does not match the agent's state schema or is over ${MAX_STATE_BYTES} bytes of JSON, changes nothing and returns the reason.`,
    parameters: {
      type: "object",
      properties: {
        state: { type: "object", description: "The whole new state (replaces the current one)." },
        patch: {
          type: "array",
          description: "JSON Patch operations applied in order to the current state; all or nothing.",
          maxItems: MAX_PATCH_OPERATIONS,
          items: {
            type: "object",
            properties: {
              op: { type: "string", enum: [...OPS] },
              path: { type: "string", description: 'A JSON Pointer, e.g. "/findings/0/title" ("-" appends to an array).' },
              from: { type: "string", description: "The source pointer of a move or copy." },
              value: { description: "The value of an add, replace or test." },
            },
            required: ["op", "path"],
          },
        },
      },
      additionalProperties: false,
    },
  },
  // The model is told the state's shape up front, not only when an update fails: in the `state`
  // property's description (not as its schema: a schema's local $refs would not resolve inside
  // the parameters; not in the tool's description: some OpenAI-compatible APIs cap it at 1024
  // characters).
  definitionFor(config) {
    if (!config.state_schema) return this.definition;
    const parameters = this.definition.parameters as { properties: Record<string, Record<string, unknown>> };
    const state = {
      ...parameters.properties.state,
      description: `The whole new state (replaces the current one). The state, whole or patched, must match this JSON Schema: ${JSON.stringify(config.state_schema)}`,
    };
    return { ...this.definition, parameters: { ...parameters, properties: { ...parameters.properties, state } } };
  },
  async execute(args, ctx) {
    const hasState = args.state !== undefined;
    const hasPatch = args.patch !== undefined;
    if (hasState === hasPatch) throw new ToolError('update_state needs exactly one of "state" (the whole new object) or "patch" (JSON Patch operations)');
    if (!ctx.runState) throw new ToolError("update_state cannot be used here: this step has no run state");
    const before = await ctx.runState.read();

    let next: unknown;
    let event: ToolEvent;
    if (hasState) {
      if (!isObject(args.state)) throw new ToolError('update_state\'s "state" must be a JSON object');
      next = args.state;
      event = { type: "STATE_SNAPSHOT", snapshot: next };
    } else {
      const ops = operations(args.patch);
      const { applyPatch, JsonPatchError } = await loadJsonPatch();
      const deepOp = ops.findIndex((op) => jsonDepth(op.value) > MAX_STATE_DEPTH - 1);
      if (deepOp >= 0)
        throw new ToolError(
          `the patch was not applied: operation ${deepOp}'s value nests deeper than a state may (${MAX_STATE_DEPTH} levels). The state is unchanged.`,
        );
      try {
        next = applyPatch(before ?? {}, ops, true, false).newDocument;
      } catch (error) {
        // fast-json-patch refuses these paths with a TypeError (they would reach the prototype)
        if (error instanceof TypeError && /__proto__|constructor\/prototype/.test(error.message)) {
          throw new ToolError(
            'the patch was not applied: its path names "__proto__" or "constructor/prototype", which a state may not use. The state is unchanged.',
          );
        }
        if (error instanceof RangeError) throw new ToolError("the patch was not applied: the state would nest too deep. The state is unchanged.");
        if (!(error instanceof JsonPatchError)) throw error;
        const index = typeof error.index === "number" ? error.index : undefined;
        const what = PATCH_ERRORS[error.name] ?? error.message.split("\n")[0];
        const where = index !== undefined && ops[index] ? `operation ${index} (${JSON.stringify(ops[index]).slice(0, 200)})` : "the patch";
        throw new ToolError(`the patch was not applied: ${where}: ${what}. The state is unchanged.`);
      }
      if (!isObject(next))
        throw new ToolError("the patch was not applied: it would make the state something other than a JSON object. The state is unchanged.");
      // A client joining a run with no state yet starts from {} or its own: the first change is a
      // snapshot, so every client agrees with the stored state whatever it started from.
      event = before === null ? { type: "STATE_SNAPSHOT", snapshot: next } : { type: "STATE_DELTA", delta: ops };
    }

    if (jsonDepth(next) > MAX_STATE_DEPTH) {
      throw new ToolError(`the new state nests deeper than ${MAX_STATE_DEPTH} levels of objects and arrays; a state may not. The state is unchanged.`);
    }
    if (Object.hasOwn(next as object, "__proto__")) {
      throw new ToolError('the new state has a key "__proto__", which a state may not use. The state is unchanged.');
    }
    const bytes = Buffer.byteLength(JSON.stringify(next), "utf8");
    if (bytes > MAX_STATE_BYTES) {
      throw new ToolError(
        `the new state would be ${bytes} bytes of JSON; a run's state may be at most ${MAX_STATE_BYTES} (256 KiB): keep details elsewhere and summaries in the state. The state is unchanged.`,
      );
    }
    if (ctx.runState.schema) {
      const problems = outputProblems(ctx.runState.schema, next);
      if (problems) throw new ToolError(`the new state does not match the agent's state_schema: ${problems}. The state is unchanged.`);
    }
    // the model is told what the state now holds (its top-level shape, deterministic): it patches
    // paths it can see, also in a later turn
    return result(`state updated; it now has ${stateSummary(next as Record<string, unknown>)}`, {
      update: { state: next as Record<string, unknown>, events: [event] },
    });
  },
};
