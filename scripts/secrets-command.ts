// `everruns secrets set|list|delete [--workspace W]`: a workspace's secrets (default: the default
// workspace), straight on the database like `everruns runs` and `everruns cancel`. `set` reads the
// value from stdin (piped, or typed without echo on a terminal) and seals it with
// EVERRUNS_SECRET_KEY (lib/secret-box.ts), for its workspace; nothing prints a value. Also `ensureDevSecretKey`, the development key `everruns start` uses
// when EVERRUNS_SECRET_KEY is unset.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { ConfigError } from "../db/errors.ts";
import type { Env } from "../db/env.ts";
import { createPool } from "../db/pool.ts";
import { deleteSecret } from "../db/sql/deleteSecret.ts";
import { listSecrets } from "../db/sql/listSecrets.ts";
import { setSecret } from "../db/sql/setSecret.ts";
import { generateSecretKey, SECRET_KEY_ENV, secretKeyFromEnv, SecretKeyError } from "../lib/secret-box.ts";
import { PROJECT_ROOT, resolveDatabase } from "./database.ts";
import { DEFAULT_WORKSPACE, resolveWorkspace, wantsHelp } from "./workspaces-command.ts";

export const SECRETS_USAGE = `Usage:
  everruns secrets set <name> [--workspace W]     set a secret; its value is read from stdin
                                                  (echo -n "$KEY" | everruns secrets set openai-key)
  everruns secrets set <name> --value V           the same, value on the command line (discouraged: shell history, ps)
  everruns secrets list [--workspace W]           names, last 4 characters, created and last set
  everruns secrets delete <name> [--workspace W]  delete a secret

W is a workspace's name or id (default: default; everruns workspaces list): its agents see its secrets only.
Agents reference a secret by name, never by value: an http tool header {"secret": "<name>"},
a provider's "api_key_secret": "<name>". Needs ${SECRET_KEY_ENV} (the API's and workers' key) to set one;
without DATABASE_URL the embedded database and the development key under .everruns/ are used.`;

const KEY_FILE = "secret-key";

/**
 * The development key: `<dataDir>/secret-key`, created (random, mode 0600) when missing. Returns
 * it as EVERRUNS_SECRET_KEY holds it; `everruns start` sets EVERRUNS_SECRET_KEY to it when unset,
 * for the API and the worker it runs. Never for production: a key belongs in the deployment's
 * secret store, the same on the API and every worker.
 */
export function ensureDevSecretKey(dataDir: string): string {
  const file = path.join(dataDir, KEY_FILE);
  try {
    const existing = readFileSync(file, "utf8").trim();
    try {
      secretKeyFromEnv({ [SECRET_KEY_ENV]: existing });
    } catch {
      throw new ConfigError(
        `${file} does not hold a valid key: ${SECRET_KEY_ENV} must be 32 bytes in base64 or hex. Remove the file to make a new one (secrets set with the old key will no longer open)`,
      );
    }
    return existing;
  } catch (error) {
    if ((error as { code?: unknown }).code !== "ENOENT") throw error;
  }
  mkdirSync(dataDir, { recursive: true });
  const key = generateSecretKey();
  try {
    writeFileSync(file, `${key}\n`, { mode: 0o600, flag: "wx" });
  } catch (error) {
    // created meanwhile by another process: use theirs
    if ((error as { code?: unknown }).code === "EEXIST") return readFileSync(file, "utf8").trim();
    throw error;
  }
  return key;
}

/** The key `set` seals with: EVERRUNS_SECRET_KEY, else (embedded database only) the development key. */
function cliSecretKey(env: Env, source: Record<string, string | undefined>, dataDir: string): Buffer {
  try {
    const fromEnv = secretKeyFromEnv(source);
    if (fromEnv) return fromEnv;
  } catch (error) {
    if (error instanceof SecretKeyError) throw new ConfigError(error.message);
    throw error;
  }
  if (env.DATABASE_URL) {
    throw new ConfigError(`${SECRET_KEY_ENV} is not set: set it to the key the API and the workers use (32 bytes, base64 or hex)`);
  }
  return secretKeyFromEnv({ [SECRET_KEY_ENV]: ensureDevSecretKey(dataDir) })!;
}

async function readStdin(stdin: NodeJS.ReadStream): Promise<string> {
  if (stdin.isTTY) {
    process.stderr.write("value (input hidden, end with Enter): ");
    return new Promise<string>((resolve, reject) => {
      let value = "";
      stdin.setRawMode(true);
      stdin.resume();
      stdin.setEncoding("utf8");
      const done = (error?: Error) => {
        stdin.setRawMode(false);
        stdin.pause();
        stdin.off("data", onData);
        process.stderr.write("\n");
        if (error) reject(error);
        else resolve(value);
      };
      const onData = (chunk: string) => {
        for (const ch of chunk) {
          if (ch === "\r" || ch === "\n") return done();
          if (ch === "\u0003") return done(new ConfigError("cancelled"));
          if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
          else value += ch;
        }
      };
      stdin.on("data", onData);
    });
  }
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  // a trailing newline (echo "$KEY" | ...) is not part of the value
  return Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
}

export interface SecretsCommandIo {
  stdin?: NodeJS.ReadStream;
  out?: (line: string) => void;
  /** where the development key lives (default .everruns/ of the project) */
  dataDir?: string;
  /** the environment to read EVERRUNS_SECRET_KEY from (default process.env) */
  environment?: Record<string, string | undefined>;
}

/** `everruns secrets <set|list|delete> ...`; returns the exit code. */
export async function secretsCommand(args: string[], env: Env, io: SecretsCommandIo = {}): Promise<number> {
  const out = io.out ?? ((line: string) => console.log(line));
  const [sub, ...rest] = args;
  if (!sub || wantsHelp(args)) {
    out(SECRETS_USAGE);
    return sub ? 0 : 2;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { value: { type: "string" }, workspace: { type: "string", short: "w" } },
  });
  const name = positionals[0];
  if ((sub === "set" || sub === "delete") && (!name || positionals.length > 1)) throw new ConfigError(`usage: everruns secrets ${sub} <name>`);
  if (sub !== "set" && values.value !== undefined) throw new ConfigError("--value is only for everruns secrets set");
  if (sub !== "set" && sub !== "list" && sub !== "delete") throw new ConfigError(`unknown secrets command "${sub}"\n\n${SECRETS_USAGE}`);

  const key = sub === "set" ? cliSecretKey(env, io.environment ?? process.env, io.dataDir ?? path.join(PROJECT_ROOT, ".everruns")) : undefined;
  const db = await resolveDatabase(env, () => {});
  const pool = createPool(db.url, "everruns-cli", 2);
  try {
    // the workspace first: a mistyped one stops before the value is typed
    const workspace = await resolveWorkspace(pool, values.workspace);
    // the default workspace goes unnamed, as before workspaces had names
    const inWorkspace = workspace.name === DEFAULT_WORKSPACE ? "" : ` in workspace ${workspace.name}`;
    if (sub === "set") {
      const value = values.value ?? (await readStdin(io.stdin ?? process.stdin));
      const meta = await setSecret(pool, { name: name!, value, key: key!, workspaceId: workspace.id });
      out(`set secret ${meta.name}${meta.last4 ? ` (…${meta.last4})` : ""}${inWorkspace}`);
    } else if (sub === "delete") {
      out((await deleteSecret(pool, name!, workspace.id)) ? `deleted secret ${name}${inWorkspace}` : `there is no secret ${name}${inWorkspace}`);
    } else {
      const rows = await listSecrets(pool, workspace.id);
      if (rows.length === 0) out(`no secrets${inWorkspace}`);
      for (const s of rows) out(`${s.name}\t${s.last4 ? `…${s.last4}` : "-"}\tcreated ${s.createdAt}\tset ${s.rotatedAt}`);
    }
    return 0;
  } finally {
    await pool.end();
  }
}
