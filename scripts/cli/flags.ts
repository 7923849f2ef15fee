// The edges of the CLI's API commands (`everruns batch`, `schedules`, `webhooks`, `notify`,
// `trigger`): their subcommands, flags and arguments checked on the way in — one line naming the
// flag, what it takes and what it got (a ConfigError), before any request — and the API's answers
// checked on the way back.
import { z } from "zod";
import { ConfigError, EverrunsError } from "../../db/errors.ts";
import type { Env } from "../../db/env.ts";
import { isUuid } from "../../db/pool.ts";
import { describeIssues } from "../../db/schemas.ts";
import { wantsHelp } from "../workspaces-command.ts";
import { apiClient, type ApiClient } from "./api.ts";
import { EXIT } from "./errors.ts";

/** A whole number from `min` to `max` (undefined: the flag was not given). */
export function wholeFlag(flag: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^-?\d+$/.test(value) || n < min || n > max) throw new ConfigError(`${flag} takes a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

/** A decimal number (0.5, .5, 3) that `accepts`; otherwise "`flag` takes `takes`". */
export function decimalFlag(flag: string, value: string | undefined, accepts: (n: number) => boolean, takes: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d*\.?\d+$/.test(value) || !accepts(n)) throw new ConfigError(`${flag} takes ${takes}, got ${JSON.stringify(value)}`);
  return n;
}

/** One of `choices`. */
export function choiceFlag<T extends string>(flag: string, value: string | undefined, choices: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(choices as readonly string[]).includes(value)) throw new ConfigError(`${flag} takes one of ${choices.join(", ")}, got ${JSON.stringify(value)}`);
  return value as T;
}

/** Text of 1 to `max` characters. */
export function textFlag(flag: string, value: string | undefined, max: number): string | undefined {
  if (value !== undefined && (value.length < 1 || value.length > max)) throw new ConfigError(`${flag} takes 1 to ${max} characters`);
  return value;
}

/** The JSON text of a flag, parsed. */
export function jsonFlag(flag: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ConfigError(`${flag} must be JSON: ${(error as Error).message}`);
  }
}

/** An id argument, which must be a UUID: "a batch id is a UUID (everruns batch list shows them)". */
export function uuidArg(what: string, listCommand: string, value: string): string {
  if (!isUuid(value)) throw new ConfigError(`a ${what} id is a UUID (${listCommand} shows them), got ${JSON.stringify(value.slice(0, 80))}`);
  return value;
}

/** An answer of the API checked by `schema`; otherwise the CLI and the API probably differ in version. */
export function parseAnswer<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const checked = schema.safeParse(value);
  if (!checked.success)
    throw new EverrunsError(
      "bad_answer",
      `the API's answer to ${what} is not what this CLI expects (${describeIssues(checked.error)}): are the CLI and the API the same version?`,
    );
  return checked.data;
}

/**
 * Runs the subcommand `args[0]` of `everruns <noun>` from `commands` with an API client: none or
 * help prints `usage` (exit 2 without arguments, 0 asked for), an unknown one is an error with it.
 */
export async function apiSubcommand(
  args: string[],
  env: Env,
  noun: string,
  usage: string,
  commands: Record<string, (api: ApiClient, args: string[]) => Promise<number>>,
): Promise<number> {
  if (args.length === 0 || wantsHelp(args)) {
    console.log(usage);
    return args.length === 0 ? EXIT.usage : EXIT.ok;
  }
  const [sub, ...rest] = args as [string, ...string[]];
  const command = Object.hasOwn(commands, sub) ? commands[sub] : undefined;
  if (!command) throw new ConfigError(`unknown ${noun} command "${sub}"\n\n${usage}`);
  return command(apiClient(env), rest);
}
