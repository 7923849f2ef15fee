// ASL input and output processing, pure: InputPath → Parameters → (the state's work) →
// ResultSelector → ResultPath → OutputPath, plus the intrinsic functions `key.$` templates call.
//
// Paths are parsed by db/workflow-definition.ts (the validator's own parser, so a path that
// validated is read the same way here). A definite path (only names and indexes) is read by
// walking it; any other path (wildcards, `..`, slices, unions) is evaluated by jsonpath-plus with
// `eval: false`. jsonpath-plus's default "safe" mode in Node is `vm` script evaluation (its README:
// "In NodeJS, it has no effect and is equivalent to native"); with `eval: false` it throws on
// `[?(…)]` and `[(…)]` instead of running them, and the validator refuses those forms anyway —
// so no expression from a definition is ever run as code.
import { createHash } from "node:crypto";
import { JSONPath } from "jsonpath-plus";
import {
  isDefinitePath,
  parseIntrinsic,
  parsePath,
  parseReferencePath,
  type IntrinsicArg,
  type MapState,
  type WorkflowState,
} from "../../db/workflow-definition.ts";

/** An ASL error: `errorName` is what Retry / Catch match (e.g. "States.Runtime"), `cause` the detail. */
export class WorkflowError extends Error {
  readonly errorName: string;
  override readonly cause: string;
  constructor(errorName: string, cause: string) {
    super(`${errorName}: ${cause}`);
    this.name = "WorkflowError";
    this.errorName = errorName;
    this.cause = cause;
  }
}

function runtimeError(cause: string): WorkflowError {
  return new WorkflowError("States.Runtime", cause);
}

// ---------------------------------------------------------------------------------------------
// Reading paths

type Found = { found: true; value: unknown } | { found: false };

/** Reads `path` from `doc` (or, for `$$…`, from `context`): a definite path gives its value, any other an array of matches. */
export function tryReadPath(doc: unknown, path: string, context?: unknown): Found {
  let parsed;
  try {
    parsed = parsePath(path);
  } catch (error) {
    throw runtimeError((error as Error).message);
  }
  const source = parsed.context ? context : doc;
  if (parsed.context && context === undefined) return { found: false };
  if (!isDefinitePath(parsed)) {
    let values: unknown[] | undefined;
    try {
      values = JSONPath({ path: parsed.context ? path.slice(1) : path, json: source as object, eval: false, wrap: true }) as unknown[] | undefined;
    } catch (error) {
      throw runtimeError(`the path ${JSON.stringify(path)} cannot be evaluated: ${(error as Error).message}`);
    }
    // jsonpath-plus answers undefined (not []) when the document is null
    return { found: true, value: values ?? [] };
  }
  let value: unknown = source;
  for (const segment of parsed.segments) {
    if (segment.kind === "name") {
      if (value === null || typeof value !== "object" || Array.isArray(value) || !Object.hasOwn(value, segment.name)) return { found: false };
      value = (value as Record<string, unknown>)[segment.name];
    } else if (segment.kind === "index") {
      if (!Array.isArray(value)) return { found: false };
      const index = segment.index < 0 ? value.length + segment.index : segment.index;
      if (index < 0 || index >= value.length) return { found: false };
      value = value[index];
    }
  }
  return { found: true, value };
}

/** Reads one path; selecting nothing is a States.Runtime error naming the path. */
export function readPath(doc: unknown, path: string, context?: unknown): unknown {
  const result = tryReadPath(doc, path, context);
  if (!result.found)
    throw runtimeError(`the path ${JSON.stringify(path)} selects nothing in the ${path.startsWith("$$") ? "context object" : "state's input"}`);
  return result.value;
}

/**
 * InputPath / OutputPath / ItemsPath semantics: absent → the whole document; null → `{}` (ASL:
 * the state sees, or emits, an empty object); otherwise the value the path selects.
 */
export function selectPath(doc: unknown, path: string | null | undefined, context?: unknown): unknown {
  if (path === undefined) return doc;
  if (path === null) return {};
  return readPath(doc, path, context);
}

/** OutputPath applied to a state's output. */
export function applyOutputPath(output: unknown, path: string | null | undefined): unknown {
  return selectPath(output, path);
}

/**
 * ResultPath: absent or "$" → the result replaces the input; null → the input unchanged (the
 * result is discarded); "$.a.b" → a copy of the input with the result set there, creating
 * objects on the way. Setting into a non-object (a string, a number) is States.Runtime.
 */
export function applyResultPath(input: unknown, result: unknown, path: string | null | undefined): unknown {
  if (path === null) return input;
  if (path === undefined) return result;
  let segments: Array<string | number>;
  try {
    segments = parseReferencePath(path);
  } catch (error) {
    throw runtimeError((error as Error).message);
  }
  if (segments.length === 0) return result;
  const root: unknown = structuredClone(input);
  let node: unknown = root;
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    const container = node as Record<string | number, unknown>;
    const settable = typeof segment === "number" ? Array.isArray(node) : node !== null && typeof node === "object" && !Array.isArray(node);
    if (!settable) {
      throw runtimeError(
        `ResultPath ${JSON.stringify(path)}: cannot set ${JSON.stringify(segment)} in ${node === null ? "null" : Array.isArray(node) ? "an array" : `a ${typeof node}`}`,
      );
    }
    if (last) container[segment] = result;
    else {
      if (container[segment] === undefined || container[segment] === null) container[segment] = {};
      node = container[segment];
    }
  });
  return root;
}

// ---------------------------------------------------------------------------------------------
// Parameters / ResultSelector / ItemSelector

/**
 * Builds a payload from a template: keys ending in `.$` take the value of their path (`$…` from
 * `input`, `$$…` from `context`) or intrinsic call, under the key without `.$`; other values are
 * copied, objects and arrays recursively.
 */
export function applyParameters(template: unknown, input: unknown, context?: unknown): unknown {
  const evaluator = new Intrinsics(input, context);
  const build = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(build);
    if (value === null || typeof value !== "object") return value;
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      if (!key.endsWith(".$")) {
        out[key] = build(inner);
        continue;
      }
      if (typeof inner !== "string") throw runtimeError(`"${key}" must hold a path or an intrinsic function call`);
      out[key.slice(0, -2)] = inner.startsWith("$") ? readPath(input, inner, context) : evaluator.evaluate(inner, key);
    }
    return out;
  };
  return build(template);
}

/**
 * The intrinsic functions (States.*), as in AWS Step Functions, with two determinism rules so a
 * replayed step computes the same payload: States.UUID and States.MathRandom (without a seed
 * argument) draw from sha256(the context object as sorted-key JSON, the function name, a counter
 * of calls within this one template). The engine checkpoints the context object ($$: execution
 * id, state name, entered time, retry count, map item), so the values are the same on a replay
 * and differ between states, retries and map items. UUIDs are version 8 (RFC 9562, custom) from
 * that hash. States.MathRandom(start, end[, seed]) returns an integer in [start, end); with a
 * seed argument it depends on that seed only, as AWS documents.
 * Supported: Format, StringToJson, JsonToString, Array, ArrayPartition, ArrayContains, ArrayRange
 * (inclusive end, at most 1000 items), ArrayGetItem, ArrayLength, ArrayUnique, Base64Encode,
 * Base64Decode, Hash (MD5, SHA-1, SHA-256, SHA-384, SHA-512; hex), MathAdd (integers), MathRandom,
 * StringSplit (splits on any of the delimiter characters), UUID.
 * Every failure is States.IntrinsicFailure naming the function.
 */
class Intrinsics {
  private readonly input: unknown;
  private readonly context: unknown;
  private calls = 0;
  private seedText: string | null = null;

  constructor(input: unknown, context: unknown) {
    this.input = input;
    this.context = context;
  }

  evaluate(text: string, key: string): unknown {
    let call;
    try {
      call = parseIntrinsic(text);
    } catch (error) {
      throw new WorkflowError("States.IntrinsicFailure", `"${key}": ${(error as Error).message}`);
    }
    return this.arg(call, false);
  }

  private arg(arg: IntrinsicArg, keepBraceEscapes: boolean): unknown {
    if (arg.kind === "literal") return typeof arg.value === "string" && !keepBraceEscapes ? arg.value.replace(/\\([{}])/gu, "$1") : arg.value;
    if (arg.kind === "path") return readPath(this.input, arg.path, this.context);
    const args = arg.args.map((a, i) => this.arg(a, arg.name === "States.Format" && i === 0));
    try {
      return this.call(arg.name, args);
    } catch (error) {
      if (error instanceof WorkflowError) throw error;
      throw new WorkflowError("States.IntrinsicFailure", `${arg.name}: ${(error as Error).message}`);
    }
  }

  private draw(name: string, seed?: number): Buffer {
    this.seedText ??= stableJson(this.context ?? null);
    const base = seed === undefined ? this.seedText : `seed:${seed}`;
    return createHash("sha256").update(`${base}\u0000${name}\u0000${this.calls++}`).digest();
  }

  private call(name: string, args: unknown[]): unknown {
    const fail = (message: string) => new WorkflowError("States.IntrinsicFailure", `${name}: ${message}`);
    const str = (i: number): string => {
      if (typeof args[i] !== "string") throw fail(`argument ${i + 1} must be a string, got ${JSON.stringify(args[i])}`);
      return args[i];
    };
    const int = (i: number): number => {
      if (!Number.isInteger(args[i])) throw fail(`argument ${i + 1} must be an integer, got ${JSON.stringify(args[i])}`);
      return args[i] as number;
    };
    const arr = (i: number): unknown[] => {
      if (!Array.isArray(args[i])) throw fail(`argument ${i + 1} must be an array, got ${JSON.stringify(args[i])}`);
      return args[i] as unknown[];
    };
    switch (name) {
      case "States.Format": {
        const template = str(0);
        let out = "";
        let next = 1;
        for (let i = 0; i < template.length; i++) {
          const c = template[i];
          if (c === "\\" && (template[i + 1] === "{" || template[i + 1] === "}")) out += template[++i];
          else if (c === "{" && template[i + 1] === "}") {
            if (next >= args.length) throw fail(`the template has more {} placeholders than arguments (${args.length - 1})`);
            const value = args[next++];
            if (value !== null && typeof value === "object")
              throw fail(`argument ${next} is an ${Array.isArray(value) ? "array" : "object"}; format takes strings, numbers, booleans, null`);
            out += typeof value === "string" ? value : JSON.stringify(value);
            i++;
          } else out += c;
        }
        if (next !== args.length) throw fail(`the template has ${next - 1} {} placeholder(s) but ${args.length - 1} arguments were given`);
        return out;
      }
      case "States.StringToJson":
        try {
          return JSON.parse(str(0)) as unknown;
        } catch {
          throw fail("the argument is not JSON text");
        }
      case "States.JsonToString":
        return JSON.stringify(args[0]);
      case "States.Array":
        return args;
      case "States.ArrayPartition": {
        const items = arr(0);
        const size = int(1);
        if (size < 1) throw fail("the chunk size must be at least 1");
        const chunks: unknown[][] = [];
        for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
        return chunks;
      }
      case "States.ArrayContains":
        return arr(0).some((item) => stableJson(item) === stableJson(args[1]));
      case "States.ArrayRange": {
        const [start, end, step] = [int(0), int(1), int(2)];
        if (step === 0) throw fail("the step must not be 0");
        const out: number[] = [];
        for (let v = start; step > 0 ? v <= end : v >= end; v += step) {
          if (out.length === 1000) throw fail("the range has more than 1000 items");
          out.push(v);
        }
        return out;
      }
      case "States.ArrayGetItem": {
        const items = arr(0);
        const index = int(1);
        if (index < 0 || index >= items.length) throw fail(`index ${index} is out of range (length ${items.length})`);
        return items[index];
      }
      case "States.ArrayLength":
        return arr(0).length;
      case "States.ArrayUnique": {
        const seen = new Set<string>();
        return arr(0).filter((item) => {
          const k = stableJson(item);
          return seen.has(k) ? false : (seen.add(k), true);
        });
      }
      case "States.Base64Encode":
        return Buffer.from(str(0), "utf8").toString("base64");
      case "States.Base64Decode": {
        const text = str(0);
        if (!/^[A-Za-z0-9+/]*={0,2}$/u.test(text)) throw fail("the argument is not base64");
        return Buffer.from(text, "base64").toString("utf8");
      }
      case "States.Hash": {
        const algorithms: Record<string, string> = { MD5: "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512" };
        const algorithm = algorithms[str(1)];
        if (!algorithm) throw fail(`algorithm ${JSON.stringify(args[1])} is not one of ${Object.keys(algorithms).join(", ")}`);
        const data = typeof args[0] === "string" ? args[0] : JSON.stringify(args[0]);
        return createHash(algorithm).update(data, "utf8").digest("hex");
      }
      case "States.MathAdd":
        return int(0) + int(1);
      case "States.MathRandom": {
        const [start, end] = [int(0), int(1)];
        if (end <= start) throw fail("the end must be greater than the start");
        const seed = args.length > 2 ? int(2) : undefined;
        const unit = this.draw(name, seed).readUIntBE(0, 6) / 2 ** 48;
        return start + Math.floor(unit * (end - start));
      }
      case "States.StringSplit": {
        const delimiters = str(1);
        if (delimiters === "") return [str(0)];
        const chars = [...delimiters].map((d) => d.replace(/[\\^$.*+?()[\]{}|-]/gu, "\\$&")).join("");
        return str(0).split(new RegExp(`[${chars}]`, "u"));
      }
      case "States.UUID": {
        const bytes = this.draw(name).subarray(0, 16);
        bytes[6] = (bytes[6]! & 0x0f) | 0x80;
        bytes[8] = (bytes[8]! & 0x3f) | 0x80;
        const hex = bytes.toString("hex");
        return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
      }
      default:
        throw fail("is not a supported intrinsic function");
    }
  }
}

/** JSON with object keys sorted: equal values give equal text (jsonb does not keep key order). */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

// ---------------------------------------------------------------------------------------------
// Per state

/**
 * The effective input of a state: InputPath, then Parameters (Task, Pass, Parallel). A Map's
 * Parameters is its legacy ItemSelector, applied per item by mapItemInputs. A Fail state has no
 * InputPath: its input is the raw input.
 */
export function effectiveInput(state: WorkflowState, raw: unknown, context?: unknown): unknown {
  if (state.Type === "Fail") return raw;
  const input = selectPath(raw, state.InputPath, context);
  if ((state.Type === "Task" || state.Type === "Pass" || state.Type === "Parallel") && state.Parameters !== undefined) {
    return applyParameters(state.Parameters, input, context);
  }
  return input;
}

/** A Pass state's result: its Result, else its effective input. */
export function passResult(state: WorkflowState & { Type: "Pass" }, raw: unknown, context?: unknown): unknown {
  return state.Result !== undefined ? state.Result : effectiveInput(state, raw, context);
}

/**
 * A state's output from its raw input and its result: ResultSelector (Task, Parallel, Map) on the
 * result, ResultPath merging it into the raw input, then OutputPath. Choice, Wait and Succeed have
 * no result: their output is OutputPath applied to their effective input (`result` is ignored).
 */
export function stateOutput(state: WorkflowState, raw: unknown, result: unknown, context?: unknown): unknown {
  switch (state.Type) {
    case "Fail":
      throw runtimeError("a Fail state has no output");
    case "Choice":
    case "Wait":
    case "Succeed":
      return applyOutputPath(effectiveInput(state, raw, context), state.OutputPath);
    case "Pass":
      return applyOutputPath(applyResultPath(raw, result, state.ResultPath), state.OutputPath);
    default: {
      const selected = state.ResultSelector !== undefined ? applyParameters(state.ResultSelector, result, context) : result;
      return applyOutputPath(applyResultPath(raw, selected, state.ResultPath), state.OutputPath);
    }
  }
}

/**
 * The inputs of a Map's iterations: ItemsPath (default `$`) of the effective input must be an
 * array; each item goes through ItemSelector (or legacy Parameters), which reads the effective
 * input as `$` and the item as `$$.Map.Item.Value` / `$$.Map.Item.Index`.
 */
export function mapItemInputs(state: MapState, raw: unknown, context?: unknown): unknown[] {
  const input = selectPath(raw, state.InputPath, context);
  const items = state.ItemsPath === undefined ? input : readPath(input, state.ItemsPath, context);
  if (!Array.isArray(items))
    throw runtimeError(`ItemsPath ${JSON.stringify(state.ItemsPath ?? "$")} must select an array, got ${items === null ? "null" : typeof items}`);
  const list: unknown[] = items;
  const selector = state.ItemSelector ?? state.Parameters;
  return list.map((item, index) => {
    if (selector === undefined) return item;
    const itemContext = { ...(context !== null && typeof context === "object" ? context : {}), Map: { Item: { Index: index, Value: item } } };
    return applyParameters(selector, input, itemContext);
  });
}

/** A Fail state's error and cause (ErrorPath / CausePath read from its raw input). */
export function failErrorAndCause(state: WorkflowState & { Type: "Fail" }, raw: unknown, context?: unknown): { error: string; cause: string } {
  const text = (value: unknown, field: string): string => {
    if (typeof value !== "string") throw runtimeError(`${field} must select a string, got ${JSON.stringify(value)}`);
    return value;
  };
  return {
    error: state.ErrorPath !== undefined ? text(readPath(raw, state.ErrorPath, context), "ErrorPath") : (state.Error ?? "States.Fail"),
    cause: state.CausePath !== undefined ? text(readPath(raw, state.CausePath, context), "CausePath") : (state.Cause ?? ""),
  };
}

/** A Task's timeout in seconds (TimeoutSeconds, or TimeoutSecondsPath read from its effective input), or null for none. */
export function taskTimeoutSeconds(state: WorkflowState & { Type: "Task" }, input: unknown, context?: unknown): number | null {
  if (state.TimeoutSeconds !== undefined) return state.TimeoutSeconds;
  if (state.TimeoutSecondsPath === undefined) return null;
  const value = readPath(input, state.TimeoutSecondsPath, context);
  if (!Number.isInteger(value) || (value as number) < 1)
    throw runtimeError(`TimeoutSecondsPath ${JSON.stringify(state.TimeoutSecondsPath)} must select a positive integer, got ${JSON.stringify(value)}`);
  return value as number;
}
