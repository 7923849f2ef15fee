// A run's workspace secrets, resolved at step time in the worker process only: the references of
// an agent config ({"secret": "<name>"} header values, api_key_secret) become values here, read
// sealed from everruns.secrets (db/sql/readSecretCiphertexts.ts) and opened with
// EVERRUNS_SECRET_KEY (lib/secret-box.ts). A decrypted value is kept in memory for a few seconds
// at most (ttlMs), keyed by workspace, name and rotated_at; a missing secret is never cached, so
// one set after a failure is used by the next try. No message of this module holds a value.
import type { Queryable } from "../db/pool.ts";
import { readSecretCiphertexts } from "../db/sql/readSecretCiphertexts.ts";
import { openSecret, SECRET_KEY_ENV } from "../lib/secret-box.ts";

/** The secrets of one workspace, as a step resolves them. */
export interface WorkspaceSecrets {
  readonly workspaceId: string;
  /**
   * The values of `names`. Throws MissingSecretError naming those the workspace has none of,
   * SecretsUnavailableError when this worker has no key, SecretOpenError (lib/secret-box.ts) when
   * a value does not decrypt; a database error as is.
   */
  resolve(names: readonly string[]): Promise<Map<string, string>>;
}

/** Secrets an agent config references that its workspace does not have. */
export class MissingSecretError extends Error {
  readonly names: string[];
  constructor(names: string[]) {
    const list = names.map((n) => `"${n}"`).join(", ");
    super(names.length === 1 ? `secret ${list} is not set in this workspace` : `secrets ${list} are not set in this workspace`);
    this.name = "MissingSecretError";
    this.names = names;
  }
}

/** This worker cannot decrypt secrets: EVERRUNS_SECRET_KEY is not set on it. */
export class SecretsUnavailableError extends Error {
  constructor() {
    super(`this worker cannot read secrets: ${SECRET_KEY_ENV} is not set on it (set the same key as on the API)`);
    this.name = "SecretsUnavailableError";
  }
}

interface Entry {
  value: string;
  rotatedAt: number;
  until: number;
}

export interface SecretResolverOptions {
  db: Queryable;
  /** EVERRUNS_SECRET_KEY (lib/secret-box.ts secretKeyFromEnv); undefined: every resolve fails with SecretsUnavailableError */
  key: Buffer | undefined;
  /** how long a decrypted value may be reused without reading the database again; default 5000, 0: never */
  ttlMs?: number;
  /** at most this many values are kept */
  maxEntries?: number;
}

/** One per worker process (EngineContext.secrets): a step asks it for its run's workspace. */
export class SecretResolver {
  private readonly cache = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly options: SecretResolverOptions;

  constructor(options: SecretResolverOptions) {
    this.options = options;
    this.ttlMs = options.ttlMs ?? 5000;
    this.maxEntries = options.maxEntries ?? 1000;
  }

  forWorkspace(workspaceId: string): WorkspaceSecrets {
    return { workspaceId, resolve: (names) => this.resolve(workspaceId, names) };
  }

  /** Forgets every decrypted value (tests; a key change). */
  clear(): void {
    this.cache.clear();
  }

  private async resolve(workspaceId: string, names: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (names.length === 0) return out;
    const key = this.options.key;
    if (!key) throw new SecretsUnavailableError();
    const now = performance.now();
    const wanted: string[] = [];
    for (const name of new Set(names)) {
      const hit = this.cache.get(cacheKey(workspaceId, name));
      if (hit && hit.until > now) out.set(name, hit.value);
      else wanted.push(name);
    }
    if (wanted.length === 0) return out;
    const rows = await readSecretCiphertexts(this.options.db, workspaceId, wanted);
    for (const row of rows) {
      const k = cacheKey(workspaceId, row.name);
      const rotatedAt = row.rotatedAt.getTime();
      const cached = this.cache.get(k);
      // the same value as cached (same rotated_at): no need to decrypt again
      const value = cached && cached.rotatedAt === rotatedAt ? cached.value : openSecret(key, row.ciphertext, { workspaceId, name: row.name });
      out.set(row.name, value);
      this.cache.delete(k);
      if (this.ttlMs > 0) {
        if (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
        this.cache.set(k, { value, rotatedAt, until: now + this.ttlMs });
      }
    }
    const missing = wanted.filter((n) => !out.has(n));
    if (missing.length > 0) {
      for (const name of missing) this.cache.delete(cacheKey(workspaceId, name));
      throw new MissingSecretError(missing);
    }
    return out;
  }
}

function cacheKey(workspaceId: string, name: string): string {
  return `${workspaceId.toLowerCase()}\0${name}`;
}

/** Replaces every occurrence of a resolved value in `text` by `[secret <name>]` (values under 4 characters are left: too common). */
export function redactSecrets(text: string, values: ReadonlyMap<string, string>): string {
  let out = text;
  for (const [name, value] of values) {
    if (value.length >= 4 && out.includes(value)) out = out.split(value).join(`[secret ${name}]`);
  }
  return out;
}
