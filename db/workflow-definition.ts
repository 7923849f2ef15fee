// The workflow definition language: a subset of the Amazon States Language (ASL), validated at
// creation so that a run never meets a definition it cannot execute. Only zod is imported here:
// db/schemas.ts imports this file, and the worker's runtime (worker/workflow/paths.ts) imports the
// path and intrinsic-function parsers below so that validation and execution read paths alike.
//
// What is checked, and why:
// - the shape of every state (strict objects: a misspelt field is an error, not a silent no-op;
//   unsupported ASL features are named as such);
// - paths are parsed (JSONPath starting with `$` or `$$`; ResultPath a reference path);
//   `key.$` templates hold a path or a known intrinsic function call;
// - the graph (validateMachine): targets exist in the same scope, Next xor End, every state is
//   reachable, and no cycle can spin without a waiting state — a workflow loops only by waiting
//   for a person, an event or a timer, never by burning steps.
import { z } from "zod";

/** The most states in one machine, nested scopes included. */
export const MAX_WORKFLOW_STATES = 500;
/** The deepest nesting of Parallel / Map states. */
export const MAX_WORKFLOW_NESTING = 5;
/** The longest state name (AWS's limit). */
export const MAX_STATE_NAME_LENGTH = 80;
/** One year: the longest TimeoutSeconds / Wait Seconds. */
export const MAX_WORKFLOW_SECONDS = 31_536_000;

// ---------------------------------------------------------------------------------------------
// Paths

/** One step of a parsed JSONPath. */
export type PathSegment =
  | { kind: "name"; name: string }
  | { kind: "index"; index: number }
  | { kind: "wildcard" }
  | { kind: "descendant"; name: string | null }
  | { kind: "slice" }
  | { kind: "union" };

export interface ParsedPath {
  /** `$$` paths read the context object. */
  context: boolean;
  segments: PathSegment[];
}

// `~`, `^` and backquote are jsonpath-plus operators (property names, parent, escape): refused in
// names so that a path means the same to this parser and to the runtime's library.
const NAME_CHAR = /[^.[\]\s'"()?,:*$@~^`]/u;

function readQuoted(path: string, start: number): { value: string; end: number } {
  const quote = path[start];
  let value = "";
  let i = start + 1;
  while (i < path.length && path[i] !== quote) {
    if (path[i] === "\\" && i + 1 < path.length) i++;
    value += path[i];
    i++;
  }
  if (i >= path.length) throw new Error(`unterminated quoted name at position ${start}`);
  return { value, end: i + 1 };
}

/**
 * Parses a JSONPath as ASL uses it: `$` or `$$`, then `.name`, `..name`, `.*`, `[n]`, `['name']`,
 * `[*]`, `[a:b]`, `[n,m]`. Filter and script expressions (`[?(…)]`, `[(…)]`) are refused: the
 * runtime evaluates paths with scripts disabled. Throws an Error saying what is wrong.
 */
export function parsePath(path: string): ParsedPath {
  if (!path.startsWith("$")) throw new Error(`"${path}" is not a JSONPath: it must start with "$" (or "$$" for the context object)`);
  const context = path.startsWith("$$");
  const segments: PathSegment[] = [];
  let i = context ? 2 : 1;
  const readName = (): string => {
    let name = "";
    while (i < path.length && NAME_CHAR.test(path[i]!)) name += path[i++];
    return name;
  };
  while (i < path.length) {
    const c = path[i];
    if (c === "." && path[i + 1] === ".") {
      i += 2;
      if (path[i] === "*") {
        i++;
        segments.push({ kind: "descendant", name: null });
      } else {
        const name = readName();
        if (!name) throw new Error(`"${path}": expected a name after ".." at position ${i}`);
        segments.push({ kind: "descendant", name });
      }
    } else if (c === ".") {
      i++;
      if (path[i] === "*") {
        i++;
        segments.push({ kind: "wildcard" });
      } else {
        const name = readName();
        if (!name) throw new Error(`"${path}": expected a name after "." at position ${i}`);
        segments.push({ kind: "name", name });
      }
    } else if (c === "[") {
      const close = path.indexOf("]", i);
      if (path[i + 1] === "?" || path[i + 1] === "(") {
        throw new Error(`"${path}": filter and script expressions ([?(…)], [(…)]) are not supported`);
      }
      if (path[i + 1] === "'" || path[i + 1] === '"') {
        const { value, end } = readQuoted(path, i + 1);
        if (path[end] !== "]") throw new Error(`"${path}": expected "]" at position ${end}`);
        segments.push({ kind: "name", name: value });
        i = end + 1;
        continue;
      }
      if (close < 0) throw new Error(`"${path}": "[" at position ${i} is not closed`);
      const inner = path.slice(i + 1, close).trim();
      if (inner === "*") segments.push({ kind: "wildcard" });
      else if (/^-?\d+$/u.test(inner)) segments.push({ kind: "index", index: Number(inner) });
      else if (/^-?\d*:-?\d*(:-?\d*)?$/u.test(inner)) segments.push({ kind: "slice" });
      else if (/^-?\d+(\s*,\s*-?\d+)+$/u.test(inner)) segments.push({ kind: "union" });
      else throw new Error(`"${path}": "[${inner}]" is not an index, slice, "*" or quoted name`);
      i = close + 1;
    } else {
      throw new Error(`"${path}": unexpected "${c}" at position ${i}`);
    }
  }
  return { context, segments };
}

/** Whether a parsed path selects at most one value (no wildcard, descendant, slice or union). */
export function isDefinitePath(parsed: ParsedPath): boolean {
  return parsed.segments.every((s) => s.kind === "name" || s.kind === "index");
}

/** Parses a ResultPath-style reference path: `$` then only `.name`, `['name']` and `[n]`. */
export function parseReferencePath(path: string): Array<string | number> {
  const parsed = parsePath(path);
  if (parsed.context) throw new Error(`"${path}" is a context path ($$); a reference path starts with a single "$"`);
  return parsed.segments.map((s) => {
    if (s.kind === "name") return s.name;
    if (s.kind === "index" && s.index >= 0) return s.index;
    throw new Error(`"${path}" is not a reference path: only $, .name, ['name'] and [n] are allowed (no wildcards, slices or filters)`);
  });
}

function pathProblem(path: string): string | null {
  try {
    parsePath(path);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

const PathSchema = z.string().superRefine((path, ctx) => {
  const problem = pathProblem(path);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});
const NullablePathSchema = PathSchema.nullable();
const ReferencePathSchema = z
  .string()
  .nullable()
  .superRefine((path, ctx) => {
    if (path === null) return;
    try {
      parseReferencePath(path);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message });
    }
  });

// ---------------------------------------------------------------------------------------------
// Intrinsic functions

/** The supported intrinsic functions and their argument counts [min, max]. */
export const INTRINSIC_FUNCTIONS: Readonly<Record<string, readonly [number, number]>> = {
  "States.Format": [1, Infinity],
  "States.StringToJson": [1, 1],
  "States.JsonToString": [1, 1],
  "States.Array": [0, Infinity],
  "States.ArrayPartition": [2, 2],
  "States.ArrayContains": [2, 2],
  "States.ArrayRange": [3, 3],
  "States.ArrayGetItem": [2, 2],
  "States.ArrayLength": [1, 1],
  "States.ArrayUnique": [1, 1],
  "States.Base64Encode": [1, 1],
  "States.Base64Decode": [1, 1],
  "States.Hash": [2, 2],
  "States.MathAdd": [2, 2],
  "States.MathRandom": [2, 3],
  "States.StringSplit": [2, 2],
  "States.UUID": [0, 0],
};

export type IntrinsicArg =
  { kind: "literal"; value: string | number | boolean | null } | { kind: "path"; path: string } | { kind: "call"; name: string; args: IntrinsicArg[] };
export type IntrinsicCall = Extract<IntrinsicArg, { kind: "call" }>;

/**
 * Parses an intrinsic function call such as `States.Format('Hello, {}', $.name)`. Arguments:
 * single-quoted strings (backslash escapes `\'`, `\{`, `\}`, `\\`), numbers, true, false, null,
 * paths, nested calls. Throws an Error naming the problem (unknown function, wrong arity, syntax).
 */
export function parseIntrinsic(text: string): IntrinsicCall {
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && /\s/u.test(text[i]!)) i++;
  };
  const parseCall = (): IntrinsicCall => {
    const match = /^[A-Za-z][\w.]*/u.exec(text.slice(i));
    if (!match) throw new Error(`"${text}": expected a function name at position ${i}`);
    const name = match[0];
    i += name.length;
    const arity = INTRINSIC_FUNCTIONS[name];
    if (!arity) throw new Error(`"${name}" is not a supported intrinsic function (supported: ${Object.keys(INTRINSIC_FUNCTIONS).join(", ")})`);
    skipSpace();
    if (text[i] !== "(") throw new Error(`"${text}": expected "(" after ${name}`);
    i++;
    const args: IntrinsicArg[] = [];
    skipSpace();
    if (text[i] === ")") i++;
    else {
      for (;;) {
        skipSpace();
        args.push(parseArg());
        skipSpace();
        if (text[i] === ",") i++;
        else if (text[i] === ")") {
          i++;
          break;
        } else throw new Error(`"${text}": expected "," or ")" at position ${i}`);
      }
    }
    if (args.length < arity[0] || args.length > arity[1]) {
      const expected = arity[0] === arity[1] ? `${arity[0]}` : arity[1] === Infinity ? `at least ${arity[0]}` : `${arity[0]} to ${arity[1]}`;
      throw new Error(`${name} takes ${expected} argument(s), got ${args.length}`);
    }
    return { kind: "call", name, args };
  };
  const parseArg = (): IntrinsicArg => {
    const c = text[i];
    if (c === "'") {
      let value = "";
      i++;
      while (i < text.length && text[i] !== "'") {
        if (text[i] === "\\" && i + 1 < text.length) {
          i++;
          // `\{` and `\}` stay escaped so States.Format can tell a literal brace from a placeholder.
          if (text[i] === "{" || text[i] === "}") value += "\\";
        }
        value += text[i++];
      }
      if (i >= text.length) throw new Error(`"${text}": unterminated string`);
      i++;
      return { kind: "literal", value };
    }
    if (c === "$") {
      const start = i;
      let depth = 0;
      let quote: string | null = null;
      while (i < text.length) {
        const d = text[i]!;
        if (quote) {
          if (d === "\\") i++;
          else if (d === quote) quote = null;
        } else if (d === "'" || d === '"') quote = d;
        else if (d === "[") depth++;
        else if (d === "]") depth--;
        else if (depth === 0 && (d === "," || d === ")")) break;
        i++;
      }
      const path = text.slice(start, i).trim();
      parsePath(path);
      return { kind: "path", path };
    }
    const literal = /^(-?\d+(\.\d+)?([eE][-+]?\d+)?|true|false|null)(?![\w.])/u.exec(text.slice(i));
    if (literal) {
      i += literal[0].length;
      const word = literal[0];
      return { kind: "literal", value: word === "true" ? true : word === "false" ? false : word === "null" ? null : Number(word) };
    }
    return parseCall();
  };
  skipSpace();
  const call = parseCall();
  skipSpace();
  if (i !== text.length) throw new Error(`"${text}": unexpected text after the call at position ${i}`);
  return call;
}

/**
 * A payload template (Parameters, ResultSelector, ItemSelector): any JSON; a key ending in `.$`
 * must hold a path or an intrinsic function call, and must not also appear without `.$`.
 */
function checkTemplate(value: unknown, ctx: z.RefinementCtx, path: Array<string | number>): void {
  if (Array.isArray(value)) {
    value.forEach((item, index) => checkTemplate(item, ctx, [...path, index]));
    return;
  }
  if (value === null || typeof value !== "object") return;
  for (const [key, inner] of Object.entries(value)) {
    if (!key.endsWith(".$")) {
      checkTemplate(inner, ctx, [...path, key]);
      continue;
    }
    const at = [...path, key];
    if (Object.hasOwn(value, key.slice(0, -2))) {
      ctx.addIssue({ code: "custom", path: at, message: `"${key}" and "${key.slice(0, -2)}" both set the same output field; keep one` });
    }
    if (typeof inner !== "string") {
      ctx.addIssue({ code: "custom", path: at, message: `"${key}" ends in ".$" so its value must be a path or an intrinsic function call (a string)` });
      continue;
    }
    try {
      if (inner.startsWith("$")) parsePath(inner);
      else parseIntrinsic(inner);
    } catch (error) {
      ctx.addIssue({ code: "custom", path: at, message: `"${key}": ${(error as Error).message}` });
    }
  }
}

const TemplateSchema = z.unknown().superRefine((value, ctx) => checkTemplate(value, ctx, []));
const ObjectTemplateSchema = z.record(z.string(), z.unknown()).superRefine((value, ctx) => checkTemplate(value, ctx, []));

// ---------------------------------------------------------------------------------------------
// Timestamps

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/u;

/** The instant (ms since epoch) of an RFC 3339 timestamp, or null when it is not one. */
export function parseTimestamp(value: unknown): number | null {
  if (typeof value !== "string" || !RFC3339.test(value)) return null;
  const ms = Date.parse(value.toUpperCase());
  return Number.isNaN(ms) ? null : ms;
}

const TimestampSchema = z.string().refine((v) => parseTimestamp(v) !== null, { message: "must be an RFC 3339 timestamp such as 2026-01-31T09:00:00Z" });

// ---------------------------------------------------------------------------------------------
// States

function unsupported(message: string) {
  return z.never({ error: message }).optional();
}

function fieldsError(stateType: string) {
  return {
    error: (issue: { code?: string; keys?: string[] }) =>
      issue.code === "unrecognized_keys" ? `${issue.keys?.map((k) => `"${k}"`).join(", ")} is not a field of a ${stateType}` : undefined,
  };
}

const StateNameSchema = z
  .string()
  .min(1, "a state name must not be empty")
  .max(MAX_STATE_NAME_LENGTH, `a state name is at most ${MAX_STATE_NAME_LENGTH} characters`);
const SecondsSchema = z.number().int().min(1).max(MAX_WORKFLOW_SECONDS);
const ErrorEqualsSchema = z.array(z.string().min(1)).min(1, "ErrorEquals must name at least one error (or States.ALL)");

export const RetrierSchema = z.strictObject(
  {
    ErrorEquals: ErrorEqualsSchema,
    IntervalSeconds: z.number().int().min(1).max(99_999_999).optional(),
    MaxAttempts: z.number().int().min(0).max(99_999_999).optional(),
    BackoffRate: z.number().min(1).optional(),
    MaxDelaySeconds: z.number().int().min(1).max(MAX_WORKFLOW_SECONDS).optional(),
    JitterStrategy: z.enum(["FULL", "NONE"]).optional(),
    Comment: z.string().optional(),
  },
  fieldsError("retrier"),
);
export type Retrier = z.infer<typeof RetrierSchema>;

export const CatcherSchema = z.strictObject(
  { ErrorEquals: ErrorEqualsSchema, Next: z.string(), ResultPath: ReferencePathSchema.optional(), Comment: z.string().optional() },
  fieldsError("catcher"),
);
export type Catcher = z.infer<typeof CatcherSchema>;

/** States.ALL must stand alone and in the last retrier / catcher (as in AWS). */
function checkErrorLists(list: Array<{ ErrorEquals: string[] }> | undefined, field: string, ctx: z.RefinementCtx): void {
  list?.forEach((entry, index) => {
    if (!entry.ErrorEquals.includes("States.ALL")) return;
    if (entry.ErrorEquals.length > 1)
      ctx.addIssue({ code: "custom", path: [field, index, "ErrorEquals"], message: "States.ALL must appear alone in its ErrorEquals" });
    if (index !== list.length - 1)
      ctx.addIssue({
        code: "custom",
        path: [field, index, "ErrorEquals"],
        message: `States.ALL must be in the last ${field === "Retry" ? "retrier" : "catcher"}`,
      });
  });
}

const common = {
  Comment: z.string().optional(),
  InputPath: NullablePathSchema.optional(),
  OutputPath: NullablePathSchema.optional(),
  Next: z.string().optional(),
  End: z.literal(true, { error: "End must be true (or absent, with Next)" }).optional(),
  QueryLanguage: unsupported("QueryLanguage on a state is not supported: only JSONPath, set (if at all) at the top level"),
  Arguments: unsupported("Arguments is JSONata; use Parameters (QueryLanguage JSONPath)"),
  Output: unsupported("Output is JSONata; use OutputPath / ResultSelector (QueryLanguage JSONPath)"),
  Assign: unsupported("Assign (workflow variables) is not supported"),
};
const withErrors = {
  ResultSelector: ObjectTemplateSchema.optional(),
  ResultPath: ReferencePathSchema.optional(),
  Retry: z.array(RetrierSchema).optional(),
  Catch: z.array(CatcherSchema).optional(),
};

export const TASK_RESOURCE_FORMS = [
  "everruns:agent:<agent name>",
  "everruns:approval",
  "everruns:wait_for_event",
  "everruns:http:<tool name>",
  "everruns:mcp:<server>/<tool>",
];

/** The Everruns capability a Task resource names, or null when it names none. */
export type TaskResource =
  | { kind: "agent"; agent: string }
  | { kind: "approval" }
  | { kind: "wait_for_event" }
  | { kind: "http"; tool: string }
  | { kind: "mcp"; server: string; tool: string };

export function parseTaskResource(resource: string): TaskResource | null {
  if (resource === "everruns:approval") return { kind: "approval" };
  if (resource === "everruns:wait_for_event") return { kind: "wait_for_event" };
  let m = /^everruns:agent:(.+)$/u.exec(resource);
  if (m) return { kind: "agent", agent: m[1]! };
  m = /^everruns:http:(.+)$/u.exec(resource);
  if (m) return { kind: "http", tool: m[1]! };
  m = /^everruns:mcp:([^/]+)\/(.+)$/u.exec(resource);
  if (m) return { kind: "mcp", server: m[1]!, tool: m[2]! };
  return null;
}

const TaskStateSchema = z
  .strictObject(
    {
      Type: z.literal("Task"),
      ...common,
      ...withErrors,
      Resource: z.string().refine((r) => parseTaskResource(r) !== null, {
        error: (issue) => `Resource ${JSON.stringify(issue.input)} is not an Everruns capability; use one of: ${TASK_RESOURCE_FORMS.join(", ")}`,
      }),
      Parameters: ObjectTemplateSchema.optional(),
      TimeoutSeconds: SecondsSchema.optional(),
      TimeoutSecondsPath: PathSchema.optional(),
      HeartbeatSeconds: unsupported("HeartbeatSeconds is not supported"),
      HeartbeatSecondsPath: unsupported("HeartbeatSecondsPath is not supported"),
      Credentials: unsupported("Credentials is not supported: Everruns resources run with the workspace's own credentials"),
    },
    fieldsError("Task state"),
  )
  .superRefine((state, ctx) => {
    checkErrorLists(state.Retry, "Retry", ctx);
    checkErrorLists(state.Catch, "Catch", ctx);
    if (state.TimeoutSeconds !== undefined && state.TimeoutSecondsPath !== undefined) {
      ctx.addIssue({ code: "custom", path: ["TimeoutSecondsPath"], message: "set TimeoutSeconds or TimeoutSecondsPath, not both" });
    }
    const resource = parseTaskResource(state.Resource);
    const params = state.Parameters ?? {};
    const has = (key: string) => Object.hasOwn(params, key) || Object.hasOwn(params, `${key}.$`);
    if (resource?.kind === "wait_for_event" && !has("name")) {
      ctx.addIssue({
        code: "custom",
        path: ["Parameters"],
        message: 'everruns:wait_for_event needs Parameters.name (or "name.$"): the event name to wait for',
      });
    }
    if (resource?.kind === "approval") {
      const schema = params["schema"];
      if (schema !== undefined && (schema === null || typeof schema !== "object" || Array.isArray(schema))) {
        ctx.addIssue({ code: "custom", path: ["Parameters", "schema"], message: "schema must be a JSON schema object (the answer form)" });
      }
      const message = params["message"];
      if (message !== undefined && typeof message !== "string") {
        ctx.addIssue({ code: "custom", path: ["Parameters", "message"], message: "message must be a string" });
      }
    }
  });

const PassStateSchema = z.strictObject(
  { Type: z.literal("Pass"), ...common, Result: z.unknown().optional(), ResultPath: ReferencePathSchema.optional(), Parameters: TemplateSchema.optional() },
  fieldsError("Pass state"),
);

const WaitStateSchema = z
  .strictObject(
    {
      Type: z.literal("Wait"),
      ...common,
      Seconds: z.number().int().min(0).max(MAX_WORKFLOW_SECONDS).optional(),
      Timestamp: TimestampSchema.optional(),
      SecondsPath: PathSchema.optional(),
      TimestampPath: PathSchema.optional(),
    },
    fieldsError("Wait state"),
  )
  .superRefine((state, ctx) => {
    const set = (["Seconds", "Timestamp", "SecondsPath", "TimestampPath"] as const).filter((k) => state[k] !== undefined);
    if (set.length !== 1) {
      ctx.addIssue({
        code: "custom",
        path: set.length ? [set[1]!] : [],
        message: `a Wait state needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath (has ${set.length ? set.join(", ") : "none"})`,
      });
    }
  });

const terminal = {
  Comment: z.string().optional(),
  Next: unsupported("a terminal state (Succeed, Fail) has no Next"),
  End: unsupported("a terminal state (Succeed, Fail) has no End: it ends by itself"),
};

const SucceedStateSchema = z.strictObject(
  { Type: z.literal("Succeed"), ...terminal, InputPath: NullablePathSchema.optional(), OutputPath: NullablePathSchema.optional() },
  fieldsError("Succeed state"),
);

const FailStateSchema = z
  .strictObject(
    {
      Type: z.literal("Fail"),
      ...terminal,
      Error: z.string().optional(),
      ErrorPath: PathSchema.optional(),
      Cause: z.string().optional(),
      CausePath: PathSchema.optional(),
    },
    fieldsError("Fail state"),
  )
  .superRefine((state, ctx) => {
    if (state.Error !== undefined && state.ErrorPath !== undefined)
      ctx.addIssue({ code: "custom", path: ["ErrorPath"], message: "set Error or ErrorPath, not both" });
    if (state.Cause !== undefined && state.CausePath !== undefined)
      ctx.addIssue({ code: "custom", path: ["CausePath"], message: "set Cause or CausePath, not both" });
  });

// Choice rules --------------------------------------------------------------------------------

const STRING_OPS = ["StringEquals", "StringLessThan", "StringGreaterThan", "StringLessThanEquals", "StringGreaterThanEquals"] as const;
const NUMERIC_OPS = ["NumericEquals", "NumericLessThan", "NumericGreaterThan", "NumericLessThanEquals", "NumericGreaterThanEquals"] as const;
const TIMESTAMP_OPS = ["TimestampEquals", "TimestampLessThan", "TimestampGreaterThan", "TimestampLessThanEquals", "TimestampGreaterThanEquals"] as const;
const TYPE_TESTS = ["IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"] as const;

/** Every comparison operator of a Choice rule. */
export const CHOICE_OPERATORS: readonly string[] = [
  ...STRING_OPS,
  ...STRING_OPS.map((o) => `${o}Path`),
  "StringMatches",
  ...NUMERIC_OPS,
  ...NUMERIC_OPS.map((o) => `${o}Path`),
  "BooleanEquals",
  "BooleanEqualsPath",
  ...TIMESTAMP_OPS,
  ...TIMESTAMP_OPS.map((o) => `${o}Path`),
  ...TYPE_TESTS,
];

export interface ChoiceRule {
  Variable?: string;
  And?: ChoiceRule[];
  Or?: ChoiceRule[];
  Not?: ChoiceRule;
  Next?: string;
  Comment?: string;
  [operator: string]: unknown;
}

const operatorShape: Record<string, z.ZodType> = {};
for (const op of STRING_OPS) operatorShape[op] = z.string().optional();
for (const op of NUMERIC_OPS) operatorShape[op] = z.number().optional();
for (const op of TIMESTAMP_OPS) operatorShape[op] = TimestampSchema.optional();
for (const op of [...STRING_OPS, ...NUMERIC_OPS, ...TIMESTAMP_OPS, "BooleanEquals"]) operatorShape[`${op}Path`] = PathSchema.optional();
operatorShape["StringMatches"] = z.string().optional();
operatorShape["BooleanEquals"] = z.boolean().optional();
for (const op of TYPE_TESTS) operatorShape[op] = z.boolean().optional();

const ChoiceRuleSchema: z.ZodType<ChoiceRule> = z
  .strictObject(
    {
      Variable: PathSchema.optional(),
      And: z
        .array(z.lazy(() => ChoiceRuleSchema))
        .min(1, "And needs at least one rule")
        .optional(),
      Or: z
        .array(z.lazy(() => ChoiceRuleSchema))
        .min(1, "Or needs at least one rule")
        .optional(),
      Not: z.lazy(() => ChoiceRuleSchema).optional(),
      Next: z.string().optional(),
      Comment: z.string().optional(),
      ...operatorShape,
      Condition: unsupported("Condition is JSONata; use Variable with a comparison operator (QueryLanguage JSONPath)"),
    },
    {
      error: (issue) =>
        issue.code === "unrecognized_keys"
          ? `${issue.keys.map((k) => `"${k}"`).join(", ")} is not a Choice rule field (operators: ${CHOICE_OPERATORS.join(", ")})`
          : undefined,
    },
  )
  .superRefine((rule, ctx) => {
    const combinators = (["And", "Or", "Not"] as const).filter((k) => rule[k] !== undefined);
    const operators = CHOICE_OPERATORS.filter((k) => (rule as ChoiceRule)[k] !== undefined);
    if (combinators.length + operators.length !== 1) {
      ctx.addIssue({
        code: "custom",
        message: `a Choice rule needs exactly one of And, Or, Not or a comparison operator (has ${[...combinators, ...operators].join(", ") || "none"})`,
      });
    } else if (operators.length === 1 && rule.Variable === undefined) {
      ctx.addIssue({ code: "custom", path: ["Variable"], message: `${operators[0]} compares a Variable: add "Variable": "$.field"` });
    } else if (combinators.length === 1 && rule.Variable !== undefined) {
      ctx.addIssue({ code: "custom", path: ["Variable"], message: `a ${combinators[0]} rule has no Variable: put it on the nested rules` });
    }
  });

function checkNestedNext(rule: ChoiceRule, path: Array<string | number>, ctx: z.RefinementCtx): void {
  const nested: Array<[ChoiceRule, Array<string | number>]> = [];
  rule.And?.forEach((r, i) => nested.push([r, [...path, "And", i]]));
  rule.Or?.forEach((r, i) => nested.push([r, [...path, "Or", i]]));
  if (rule.Not) nested.push([rule.Not, [...path, "Not"]]);
  for (const [inner, at] of nested) {
    if (inner.Next !== undefined) ctx.addIssue({ code: "custom", path: [...at, "Next"], message: "a nested Choice rule has no Next: only top-level rules do" });
    checkNestedNext(inner, at, ctx);
  }
}

const ChoiceStateSchema = z
  .strictObject(
    {
      Type: z.literal("Choice"),
      Comment: z.string().optional(),
      InputPath: NullablePathSchema.optional(),
      OutputPath: NullablePathSchema.optional(),
      Choices: z.array(ChoiceRuleSchema).min(1, "Choices needs at least one rule"),
      Default: z.string().optional(),
      Next: unsupported("a Choice state has no Next: put Next on each rule in Choices, and Default for no match"),
      End: unsupported("a Choice state cannot End: send it to a Succeed state"),
    },
    fieldsError("Choice state"),
  )
  .superRefine((state, ctx) => {
    state.Choices.forEach((rule, i) => {
      if (rule.Next === undefined)
        ctx.addIssue({ code: "custom", path: ["Choices", i, "Next"], message: "a top-level Choice rule needs Next: the state to go to when it matches" });
      checkNestedNext(rule, ["Choices", i], ctx);
    });
  });

// Parallel and Map ----------------------------------------------------------------------------

export interface WorkflowScope {
  StartAt: string;
  States: Record<string, WorkflowState>;
  Comment?: string;
}

const ScopeSchema: z.ZodType<WorkflowScope> = z.lazy(() =>
  z.strictObject({ StartAt: z.string(), States: StatesSchema, Comment: z.string().optional() }, fieldsError("branch (fields: StartAt, States, Comment)")),
);

const ParallelStateSchema = z
  .strictObject(
    {
      Type: z.literal("Parallel"),
      ...common,
      ...withErrors,
      Branches: z.array(ScopeSchema).min(1, "Branches needs at least one branch"),
      Parameters: ObjectTemplateSchema.optional(),
    },
    fieldsError("Parallel state"),
  )
  .superRefine((state, ctx) => {
    checkErrorLists(state.Retry, "Retry", ctx);
    checkErrorLists(state.Catch, "Catch", ctx);
  });

const ItemProcessorSchema: z.ZodType<WorkflowScope & { ProcessorConfig?: { Mode?: "INLINE" } }> = z.lazy(() =>
  z.strictObject(
    {
      ProcessorConfig: z
        .strictObject(
          {
            Mode: z.literal("INLINE", { error: 'ProcessorConfig.Mode must be "INLINE": distributed Map is not supported (inline Map only)' }).optional(),
            ExecutionType: unsupported("ProcessorConfig.ExecutionType: distributed Map is not supported (inline Map only)"),
          },
          fieldsError("ProcessorConfig"),
        )
        .optional(),
      StartAt: z.string(),
      States: StatesSchema,
      Comment: z.string().optional(),
    },
    fieldsError("ItemProcessor (fields: ProcessorConfig, StartAt, States, Comment)"),
  ),
);

const distributed = (field: string) => unsupported(`${field}: distributed Map is not supported (inline Map only)`);

const MapStateSchema = z
  .strictObject(
    {
      Type: z.literal("Map"),
      ...common,
      ...withErrors,
      ItemProcessor: ItemProcessorSchema.optional(),
      Iterator: ScopeSchema.optional(),
      ItemsPath: PathSchema.optional(),
      ItemSelector: ObjectTemplateSchema.optional(),
      Parameters: ObjectTemplateSchema.optional(),
      MaxConcurrency: z.number().int().min(0).max(1000).optional(),
      MaxConcurrencyPath: unsupported("MaxConcurrencyPath is not supported: set MaxConcurrency"),
      ItemReader: distributed("ItemReader"),
      ItemBatcher: distributed("ItemBatcher"),
      ResultWriter: distributed("ResultWriter"),
      Label: distributed("Label"),
      Items: unsupported("Items is JSONata; use ItemsPath (QueryLanguage JSONPath)"),
      ToleratedFailurePercentage: unsupported(
        "ToleratedFailurePercentage is not supported: any failed item fails the Map (use Catch inside the ItemProcessor)",
      ),
      ToleratedFailurePercentagePath: unsupported("ToleratedFailurePercentagePath is not supported"),
      ToleratedFailureCount: unsupported("ToleratedFailureCount is not supported: any failed item fails the Map (use Catch inside the ItemProcessor)"),
      ToleratedFailureCountPath: unsupported("ToleratedFailureCountPath is not supported"),
    },
    fieldsError("Map state"),
  )
  .superRefine((state, ctx) => {
    checkErrorLists(state.Retry, "Retry", ctx);
    checkErrorLists(state.Catch, "Catch", ctx);
    if ((state.ItemProcessor === undefined) === (state.Iterator === undefined)) {
      ctx.addIssue({ code: "custom", path: ["ItemProcessor"], message: "a Map state needs exactly one of ItemProcessor or (legacy) Iterator" });
    }
    if (state.ItemSelector !== undefined && state.Parameters !== undefined) {
      ctx.addIssue({ code: "custom", path: ["Parameters"], message: "set ItemSelector or (legacy) Parameters, not both" });
    }
  });

export type TaskState = z.infer<typeof TaskStateSchema>;
export type PassState = z.infer<typeof PassStateSchema>;
export type WaitState = z.infer<typeof WaitStateSchema>;
export type SucceedState = z.infer<typeof SucceedStateSchema>;
export type FailState = z.infer<typeof FailStateSchema>;
export type ChoiceState = z.infer<typeof ChoiceStateSchema>;
export type ParallelState = z.infer<typeof ParallelStateSchema>;
export type MapState = z.infer<typeof MapStateSchema>;
/** One state, discriminated by Type. */
export type WorkflowState = TaskState | PassState | WaitState | SucceedState | FailState | ChoiceState | ParallelState | MapState;

const STATE_TYPES = ["Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"];

const StateSchema: z.ZodType<WorkflowState> = z.discriminatedUnion(
  "Type",
  [TaskStateSchema, PassStateSchema, WaitStateSchema, SucceedStateSchema, FailStateSchema, ChoiceStateSchema, ParallelStateSchema, MapStateSchema],
  { error: (issue) => (issue.code === "invalid_union" ? `Type must be one of ${STATE_TYPES.join(", ")}` : undefined) },
);

const StatesSchema: z.ZodType<Record<string, WorkflowState>> = z
  .record(StateNameSchema, StateSchema, {
    error: (issue) => {
      if (issue.code !== "invalid_key") return undefined;
      const key: unknown = issue.input;
      return `a state name is 1..${MAX_STATE_NAME_LENGTH} characters (this one has ${typeof key === "string" ? key.length : "none"})`;
    },
  })
  .refine((states) => Object.keys(states).length > 0, {
    message: "States needs at least one state",
  });

export const WorkflowDefinitionSchema = z.strictObject(
  {
    StartAt: z.string(),
    States: StatesSchema,
    Comment: z.string().optional(),
    TimeoutSeconds: SecondsSchema.optional(),
    Version: z.literal("1.0", { error: 'Version must be "1.0"' }).optional(),
    QueryLanguage: z.literal("JSONPath", { error: (issue) => `QueryLanguage ${JSON.stringify(issue.input)} is not supported: use JSONPath` }).optional(),
  },
  fieldsError("workflow definition (fields: StartAt, States, Comment, TimeoutSeconds, Version, QueryLanguage)"),
);
export type WorkflowDefinition = z.infer<typeof WorkflowDefinitionSchema>;

// ---------------------------------------------------------------------------------------------
// Scopes and the graph

/** A state with where it sits: `scope` names the enclosing Parallel ("P[0]" for branch 0) / Map states, outermost first. */
export interface ScopedState {
  name: string;
  type: WorkflowState["Type"];
  scope: string[];
  state: WorkflowState;
  /** Where the state sits in the definition, for zod issue paths: ["States", "P", "Branches", 0, "States", "A"]. */
  path: Array<string | number>;
}

/** The sub-machines a Parallel / Map state holds, with their scope label. */
export function childScopes(name: string, state: WorkflowState): Array<{ label: string; machine: WorkflowScope; field: Array<string | number> }> {
  if (state.Type === "Parallel") return state.Branches.map((machine, i) => ({ label: `${name}[${i}]`, machine, field: ["Branches", i] }));
  if (state.Type === "Map") {
    const machine = state.ItemProcessor ?? state.Iterator;
    return machine ? [{ label: name, machine, field: [state.ItemProcessor ? "ItemProcessor" : "Iterator"] }] : [];
  }
  return [];
}

/** Every state of the machine, nested ones included, in definition order (depth first). */
export function workflowStates(def: WorkflowScope): ScopedState[] {
  const out: ScopedState[] = [];
  const walk = (machine: WorkflowScope, scope: string[], at: Array<string | number>) => {
    for (const [name, state] of Object.entries(machine.States)) {
      const path = [...at, "States", name];
      out.push({ name, type: state.Type, scope, state, path });
      for (const child of childScopes(name, state)) walk(child.machine, [...scope, child.label], [...path, ...child.field]);
    }
  };
  walk(def, [], []);
  return out;
}

/** The `{StartAt, States}` of a scope (see ScopedState.scope), or null when the scope does not exist. */
export function scopeMachine(def: WorkflowScope, scope: readonly string[]): WorkflowScope | null {
  let machine: WorkflowScope = def;
  for (const label of scope) {
    const m = /^(.*)\[(\d+)\]$/su.exec(label);
    const state = machine.States[m ? m[1]! : label];
    if (!state) return null;
    const child = childScopes(m ? m[1]! : label, state).find((c) => c.label === label);
    if (!child) return null;
    machine = child.machine;
  }
  return machine;
}

/** The state `name` of a scope, or null. */
export function stateAt(def: WorkflowScope, scope: readonly string[], name: string): WorkflowState | null {
  const machine = scopeMachine(def, scope);
  return machine && Object.hasOwn(machine.States, name) ? machine.States[name]! : null;
}

export interface WorkflowEdge {
  from: string;
  to: string;
  /** "Choice 1" (1-based rule number), "Default", "Catch: States.ALL"; absent for Next. */
  label?: string;
}

/** The transitions of one scope (the top level unless `scope` is given). */
export function workflowEdges(def: WorkflowScope, scope: readonly string[] = []): WorkflowEdge[] {
  const machine = scopeMachine(def, scope);
  if (!machine) return [];
  const edges: WorkflowEdge[] = [];
  for (const [from, state] of Object.entries(machine.States)) {
    if ("Next" in state && typeof state.Next === "string") edges.push({ from, to: state.Next });
    if (state.Type === "Choice") {
      state.Choices.forEach((rule, i) => {
        if (rule.Next !== undefined) edges.push({ from, to: rule.Next, label: `Choice ${i + 1}` });
      });
      if (state.Default !== undefined) edges.push({ from, to: state.Default, label: "Default" });
    }
    if ("Catch" in state && state.Catch) {
      for (const catcher of state.Catch) edges.push({ from, to: catcher.Next, label: `Catch: ${catcher.ErrorEquals.join(", ")}` });
    }
  }
  return edges;
}

/** Whether a state waits (on a timer, a person or an event) rather than running straight on. */
export function isWaitingState(state: WorkflowState): boolean {
  if (state.Type === "Wait") return true;
  if (state.Type === "Task") return state.Resource === "everruns:approval" || state.Resource === "everruns:wait_for_event";
  // A Parallel / Map that contains a waiting state waits too: a loop through it cannot spin.
  return childScopes("", state).some((child) => workflowStates(child.machine).some((s) => isWaitingState(s.state)));
}

export interface MachineIssue {
  path: Array<string | number>;
  message: string;
}

/** The graph problems of a parsed definition; paths start at the definition (["States", …]). */
export function machineProblems(def: WorkflowDefinition | WorkflowScope): MachineIssue[] {
  const issues: MachineIssue[] = [];
  const seen = new Map<string, string>();
  let total = 0;

  const checkScope = (machine: WorkflowScope, at: Array<string | number>, depth: number, scopeLabel: string) => {
    const names = Object.keys(machine.States);
    const known = (target: string) => Object.hasOwn(machine.States, target);
    const listed = names.length > 12 ? `${names.slice(0, 12).join(", ")}, …` : names.join(", ");
    const missing = (target: string) => `${JSON.stringify(target)} is not a state of this ${scopeLabel} (states: ${listed})`;
    if (!known(machine.StartAt)) issues.push({ path: [...at, "StartAt"], message: missing(machine.StartAt) });

    const successors = new Map<string, string[]>();
    for (const [name, state] of Object.entries(machine.States)) {
      const statePath = [...at, "States", name];
      total++;
      const where = seen.get(name);
      if (where !== undefined)
        issues.push({
          path: statePath,
          message: `state name ${JSON.stringify(name)} is already used (in ${where}); names must be unique across the whole machine`,
        });
      else seen.set(name, scopeLabel);

      const targets: string[] = [];
      const target = (value: string, field: Array<string | number>) => {
        if (!known(value)) issues.push({ path: [...statePath, ...field], message: missing(value) });
        else targets.push(value);
      };
      if (state.Type === "Choice") {
        state.Choices.forEach((rule, i) => rule.Next !== undefined && target(rule.Next, ["Choices", i, "Next"]));
        if (state.Default !== undefined) target(state.Default, ["Default"]);
      } else if (state.Type !== "Succeed" && state.Type !== "Fail") {
        if (state.Next !== undefined && state.End !== undefined)
          issues.push({ path: [...statePath, "End"], message: `state ${JSON.stringify(name)} has both Next and End: keep one` });
        else if (state.Next === undefined && state.End === undefined)
          issues.push({ path: [...statePath, "Next"], message: `state ${JSON.stringify(name)} needs Next (the state after it) or "End": true` });
        if (state.Next !== undefined) target(state.Next, ["Next"]);
      }
      if ("Catch" in state && state.Catch) state.Catch.forEach((c, i) => target(c.Next, ["Catch", i, "Next"]));
      successors.set(name, targets);

      const children = childScopes(name, state);
      if (children.length > 0 && depth + 1 > MAX_WORKFLOW_NESTING) {
        issues.push({ path: statePath, message: `Parallel / Map states nest at most ${MAX_WORKFLOW_NESTING} deep` });
        continue;
      }
      for (const child of children) {
        const label = state.Type === "Parallel" ? `branch ${child.field[1]} of ${JSON.stringify(name)}` : `ItemProcessor of ${JSON.stringify(name)}`;
        checkScope(child.machine, [...statePath, ...child.field], depth + 1, label);
      }
    }

    // Reachability from StartAt within the scope.
    if (known(machine.StartAt)) {
      const reached = new Set([machine.StartAt]);
      const queue = [machine.StartAt];
      while (queue.length) for (const next of successors.get(queue.pop()!) ?? []) if (!reached.has(next) && reached.add(next)) queue.push(next);
      for (const name of names) {
        if (!reached.has(name))
          issues.push({
            path: [...at, "States", name],
            message: `state ${JSON.stringify(name)} is unreachable from StartAt ${JSON.stringify(machine.StartAt)}; remove it or point a Next, Choice, Default or Catch at it`,
          });
      }
    }

    // Cycles that never wait: strongly connected components of the graph without its waiting states.
    const nonWaiting = names.filter((n) => !isWaitingState(machine.States[n]!));
    for (const cycle of cyclesWithout(nonWaiting, successors)) {
      issues.push({
        path: [...at, "States", cycle[0]!],
        message: `a cycle ${[...cycle, cycle[0]].join(" → ")} has no Wait state; add a Wait (or an everruns:approval / everruns:wait_for_event Task) so it cannot spin`,
      });
    }
  };

  checkScope(def, [], 0, "machine");
  if (total > MAX_WORKFLOW_STATES)
    issues.push({ path: ["States"], message: `a workflow has at most ${MAX_WORKFLOW_STATES} states (this one has ${total}, nested ones included)` });
  return issues;
}

/** One cycle (as a list of states) per strongly connected component of the subgraph on `nodes`. */
function cyclesWithout(nodes: string[], successors: Map<string, string[]>): string[][] {
  const inside = new Set(nodes);
  const next = (n: string) => (successors.get(n) ?? []).filter((m) => inside.has(m));
  // Tarjan's algorithm; machines hold at most 500 states so recursion depth is bounded.
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next(v)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || next(v).includes(v)) cycles.push(cycleIn(v, new Set(component), next));
  };
  for (const n of nodes) if (!index.has(n)) visit(n);
  return cycles;
}

/** A simple cycle through `start` inside one strongly connected component (breadth first, so short). */
function cycleIn(start: string, component: Set<string>, next: (n: string) => string[]): string[] {
  const parent = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of next(v)) {
      if (!component.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(parent.get(path[0]!)!);
        return path;
      }
      if (!parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}

/** The graph checks as a zod refinement of a workflow config (issues under ["definition", …]). */
export function validateMachine(config: { definition: WorkflowDefinition }, ctx: z.RefinementCtx): void {
  for (const issue of machineProblems(config.definition)) ctx.addIssue({ code: "custom", path: ["definition", ...issue.path], message: issue.message });
}

export const WorkflowConfigSchema = z
  .strictObject(
    {
      kind: z.literal("workflow"),
      definition: WorkflowDefinitionSchema,
      // The lead validates tool specs (db/schemas.ts): they are the agent tool specs.
      tools: z.array(z.unknown()).max(128).default([]),
      max_steps: z.number().int().min(1).max(100_000).default(10_000),
      max_parallel_children: z.number().int().min(1).max(1000).default(10),
      description: z.string().max(4000).optional(),
    },
    fieldsError("workflow config (fields: kind, definition, tools, max_steps, max_parallel_children, description)"),
  )
  .superRefine(validateMachine);
export type WorkflowConfig = z.infer<typeof WorkflowConfigSchema>;
