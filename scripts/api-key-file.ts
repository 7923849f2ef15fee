// The API key of the CLI's API calls (`everruns run`), and the admin key `everruns start` keeps
// for its instance.
//
// `everruns start` makes sure `.everruns/admin-key` (EVERRUNS_API_KEY_FILE) holds a valid admin
// key of the `default` workspace: a key still valid there is kept, anything else (no file,
// garbage, a key of another database, a revoked or expired one) is replaced by a new key, which
// start prints once. The file is mode 0600, written whole (temporary file, then rename).
//
// The CLI sends EVERRUNS_API_KEY when set, else the key in that file.
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ConfigError } from "../db/errors.ts";
import type { Queryable } from "../db/pool.ts";
import { authenticateApiKey, createApiKey } from "../db/sql/apiKeys.ts";
import { findWorkspace } from "../db/sql/workspaces.ts";
import { API_KEY_PATTERN } from "../lib/api-key.ts";
import { PROJECT_ROOT } from "./database.ts";

export const API_KEY_ENV = "EVERRUNS_API_KEY";
export const API_KEY_FILE_ENV = "EVERRUNS_API_KEY_FILE";
export const DEFAULT_API_KEY_FILE = path.join(PROJECT_ROOT, ".everruns", "admin-key");
export const START_KEY_NAME = "everruns start";

type Environment = Record<string, string | undefined>;

/** Where `everruns start` keeps its admin key: EVERRUNS_API_KEY_FILE, else .everruns/admin-key of the project. */
export function apiKeyFile(environment: Environment = process.env): string {
  const configured = environment[API_KEY_FILE_ENV]?.trim();
  return configured ? path.resolve(configured) : DEFAULT_API_KEY_FILE;
}

/** A path for messages: relative to the working directory when it is under it. */
export function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith("..") && !path.isAbsolute(relative) ? relative : file;
}

/** The file's contents, trimmed; null when there is no such file. */
export function readKeyFile(file: string): string | null {
  try {
    return readFileSync(file, "utf8").trim();
  } catch (error) {
    if ((error as { code?: unknown }).code === "ENOENT") return null;
    throw error;
  }
}

/** Writes `key` to `file` (mode 0600; its directory created when missing) in one piece. */
export function writeKeyFile(file: string, key: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, `${key}\n`, { mode: 0o600 });
    chmodSync(temporary, 0o600); // the umask may have taken bits off; never more than 0600
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

export interface AdminKey {
  key: string;
  /** true when this call made the key (print it); false when the file's key was still valid */
  created: boolean;
  file: string;
}

/**
 * Makes sure `file` holds a valid admin key of the `default` workspace of the database `db` (an
 * administrator's connection): keeps the file's key when it is one, else creates a key named
 * "everruns start" and writes it there.
 */
export async function ensureAdminKey(db: Queryable, file: string): Promise<AdminKey> {
  const workspace = await findWorkspace(db, "default");
  const existing = readKeyFile(file);
  if (existing && API_KEY_PATTERN.test(existing)) {
    const check = await authenticateApiKey(db, existing);
    if (check.ok && check.role === "admin" && check.workspaceId === workspace.id) {
      try {
        chmodSync(file, 0o600);
      } catch {
        // not ours to change: the key is still good
      }
      return { key: existing, created: false, file };
    }
  }
  const { key } = await createApiKey(db, { name: START_KEY_NAME, role: "admin", workspaceId: workspace.id });
  writeKeyFile(file, key);
  return { key, created: true, file };
}

/** The console's sign-in page with `key` in the URL's fragment: a browser never sends a fragment to a server. */
export function consoleLoginUrl(consoleUrl: string, key: string): string {
  return `${consoleUrl.replace(/\/+$/, "")}/login#key=${encodeURIComponent(key)}`;
}

/** How to get a key, for messages. */
export function howToGetAKey(file: string = apiKeyFile()): string {
  return (
    `set ${API_KEY_ENV} to an API key (an admin makes one with: everruns keys create --role operator), ` +
    `or run "everruns start" on this machine, which keeps an admin key in ${displayPath(file)}`
  );
}

export interface CliApiKey {
  key: string;
  /** where it came from, for messages: EVERRUNS_API_KEY or the file's path */
  source: string;
}

/** The key the CLI sends to the API: EVERRUNS_API_KEY, else the key file's; a ConfigError saying how to get one otherwise. */
export function cliApiKey(environment: Environment = process.env): CliApiKey {
  const fromEnv = environment[API_KEY_ENV]?.trim();
  if (fromEnv) {
    if (!API_KEY_PATTERN.test(fromEnv)) {
      throw new ConfigError(
        `${API_KEY_ENV} is not an Everruns API key (evr_ and 43 characters of base64url): check it was copied whole; an admin makes keys with everruns keys create`,
      );
    }
    return { key: fromEnv, source: API_KEY_ENV };
  }
  const file = apiKeyFile(environment);
  const fromFile = readKeyFile(file);
  if (fromFile === null) throw new ConfigError(`no API key: ${API_KEY_ENV} is not set and there is no ${displayPath(file)}; ${howToGetAKey(file)}`);
  if (!API_KEY_PATTERN.test(fromFile)) {
    throw new ConfigError(`${displayPath(file)} does not hold an Everruns API key; "everruns start" replaces it with a new one, or set ${API_KEY_ENV}`);
  }
  return { key: fromFile, source: displayPath(file) };
}
