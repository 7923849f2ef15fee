// Choice state evaluation, as in AWS Step Functions: the first top-level rule that matches gives
// Next, else Default, else States.NoChoiceMatched. A Variable (or a …Path operand) that selects
// nothing makes its comparison false rather than failing the run (IsPresent: false matches it).
import { CHOICE_OPERATORS, parseTimestamp, type ChoiceRule, type ChoiceState } from "../../db/workflow-definition.ts";
import { effectiveInput, tryReadPath, WorkflowError } from "./paths.ts";

/** The state after a Choice state; `input` is the Choice state's raw input. */
export function nextOfChoice(state: ChoiceState, input: unknown, context?: unknown): string {
  const effective = effectiveInput(state, input, context);
  for (const rule of state.Choices) {
    if (matches(rule, effective, context)) return rule.Next!;
  }
  if (state.Default !== undefined) return state.Default;
  throw new WorkflowError("States.NoChoiceMatched", "no Choice rule matched and the state has no Default");
}

/** Whether one Choice rule matches `input`. */
export function matches(rule: ChoiceRule, input: unknown, context?: unknown): boolean {
  if (rule.And) return rule.And.every((r) => matches(r, input, context));
  if (rule.Or) return rule.Or.some((r) => matches(r, input, context));
  if (rule.Not) return !matches(rule.Not, input, context);
  const operator = CHOICE_OPERATORS.find((k) => rule[k] !== undefined);
  if (!operator || rule.Variable === undefined) return false;
  const variable = tryReadPath(input, rule.Variable, context);
  let operand = rule[operator];
  if (operator === "IsPresent") return variable.found === operand;
  if (!variable.found) return false;
  const value = variable.value;
  switch (operator) {
    case "IsNull":
      return (value === null) === operand;
    case "IsNumeric":
      return (typeof value === "number") === operand;
    case "IsString":
      return (typeof value === "string") === operand;
    case "IsBoolean":
      return (typeof value === "boolean") === operand;
    case "IsTimestamp":
      return (parseTimestamp(value) !== null) === operand;
    case "StringMatches":
      return typeof value === "string" && typeof operand === "string" && wildcardRegExp(operand).test(value);
  }
  let base = operator;
  if (operator.endsWith("Path")) {
    const other = tryReadPath(input, operand as string, context);
    if (!other.found) return false;
    operand = other.value;
    base = operator.slice(0, -"Path".length);
  }
  if (base.startsWith("String")) return typeof value === "string" && typeof operand === "string" && compare(base.slice("String".length), value, operand);
  if (base.startsWith("Numeric")) return typeof value === "number" && typeof operand === "number" && compare(base.slice("Numeric".length), value, operand);
  if (base === "BooleanEquals") return typeof value === "boolean" && value === operand;
  if (base.startsWith("Timestamp")) {
    const [a, b] = [parseTimestamp(value), parseTimestamp(operand)];
    return a !== null && b !== null && compare(base.slice("Timestamp".length), a, b);
  }
  return false;
}

function compare(relation: string, a: string | number, b: string | number): boolean {
  switch (relation) {
    case "Equals":
      return a === b;
    case "LessThan":
      return a < b;
    case "GreaterThan":
      return a > b;
    case "LessThanEquals":
      return a <= b;
    case "GreaterThanEquals":
      return a >= b;
    default:
      return false;
  }
}

/** StringMatches: `*` matches any run of characters; `\*` is a literal star and `\\` a backslash. */
function wildcardRegExp(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\" && (pattern[i + 1] === "*" || pattern[i + 1] === "\\")) source += `\\${pattern[++i]}`;
    else if (c === "*") source += "[\\s\\S]*";
    else source += c.replace(/[\\^$.*+?()[\]{}|]/gu, "\\$&");
  }
  return new RegExp(`^${source}$`, "u");
}
