// Flags of the everruns subcommands: node:util parseArgs, and the checks every flag needs — a
// whole number or a number in a range, a comma-separated list of them, a subset of choices.
// `--help` / `-h` prints the usage; a bad flag or value throws ConfigError with the usage.
import { parseArgs } from "node:util";
import { ConfigError } from "../../db/errors.ts";

export type FlagSpec =
  | { type: "boolean" }
  | { type: "int" | "number"; default?: number; min: number; max: number }
  /** comma-separated whole numbers */
  | { type: "ints"; default: readonly number[]; min: number; max: number }
  /** a comma-separated subset of `choices` */
  | { type: "choices"; default: readonly string[]; choices: readonly string[] };

type FlagValue<S extends FlagSpec> = S extends { type: "boolean" }
  ? boolean
  : S extends { type: "int" | "number"; default: number }
    ? number
    : S extends { type: "int" | "number" }
      ? number | undefined
      : S extends { type: "ints" }
        ? number[]
        : S extends { type: "choices" }
          ? Set<string>
          : never;

export type Flags<T extends Record<string, FlagSpec>> = { [K in keyof T]: FlagValue<T[K]> };

/**
 * Parses `args` against `spec`. Returns null when `--help` was asked for (the usage has been
 * logged); throws ConfigError naming the bad flag, followed by the usage.
 */
export function parseFlags<const T extends Record<string, FlagSpec>>(args: string[], spec: T, usage: string, log: (line: string) => void): Flags<T> | null {
  const bad = (message: string) => new ConfigError(`${message}\n\n${usage}`);
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = { help: { type: "boolean", short: "h" } };
  for (const [name, s] of Object.entries(spec)) options[name] = { type: s.type === "boolean" ? "boolean" : "string" };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }) as { values: Record<string, string | boolean | undefined> });
  } catch (error) {
    throw bad((error as Error).message);
  }
  if (values.help) {
    log(usage);
    return null;
  }
  const number = (name: string, raw: string, s: { type: "int" | "number"; min: number; max: number }): number => {
    const n = raw.trim() === "" ? NaN : Number(raw);
    const whole = s.type === "int";
    if (!(whole ? Number.isInteger(n) : Number.isFinite(n)) || n < s.min || n > s.max) {
      throw bad(`--${name} must be a ${whole ? "whole number" : "number"} from ${s.min} to ${s.max}, got ${raw}`);
    }
    return n;
  };
  const out: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(spec)) {
    const raw = values[name];
    if (s.type === "boolean") out[name] = raw === true;
    else if (typeof raw !== "string") out[name] = s.type === "ints" ? [...s.default] : s.type === "choices" ? new Set(s.default) : s.default;
    else if (s.type === "ints") out[name] = raw.split(",").map((part) => number(name, part.trim(), { type: "int", min: s.min, max: s.max }));
    else if (s.type === "choices") {
      const picked = new Set(raw.split(",").map((part) => part.trim()));
      for (const p of picked) if (!s.choices.includes(p)) throw bad(`--${name} takes ${s.choices.join(", ")}; got ${p}`);
      out[name] = picked;
    } else out[name] = number(name, raw, s);
  }
  return out as Flags<T>;
}
