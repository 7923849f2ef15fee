// Process configuration from the environment, validated once at start-up. An invalid value
// stops the process with a message naming the variable and what is wrong with it.
import { z } from "zod";
import { ConfigError } from "./errors.ts";
import { providerEnvShape } from "../worker/providers/registry.ts";
import { EgressAllowSchema, ProviderKeyEnvsSchema } from "../worker/egress/config.ts";

const intFromEnv = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `${name} must be a whole number`)
    .transform(Number)
    .pipe(z.number().min(min, `${name} must be at least ${min}`).max(max, `${name} must be at most ${max}`));

const EnvSchema = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "DATABASE_URL must be a postgres:// or postgresql:// URL")
    .optional(),
  PORT: intFromEnv("PORT", 1, 65535).default(4000),
  HOST: z.string().min(1).default("127.0.0.1"),
  WORKER_CONCURRENCY: intFromEnv("WORKER_CONCURRENCY", 1, 1000).default(10),
  /** How long one job may run a run's steps back to back, each commit beginning the next step (0: off; default in worker/main.ts). */
  WORKER_INLINE_CHAIN_MS: intFromEnv("WORKER_INLINE_CHAIN_MS", 0, 3_600_000).optional(),
  WORKER_SHUTDOWN_TIMEOUT_MS: intFromEnv("WORKER_SHUTDOWN_TIMEOUT_MS", 0, 3_600_000).default(10_000),
  /** Where `everruns run` finds the API (default http://127.0.0.1:PORT). */
  EVERRUNS_API_URL: z.url("EVERRUNS_API_URL must be a URL").optional(),
  /** The console's port (everruns start, everruns web). */
  EVERRUNS_WEB_PORT: intFromEnv("EVERRUNS_WEB_PORT", 0, 65535).default(3000),
  EVERRUNS_PG_PORT: intFromEnv("EVERRUNS_PG_PORT", 1, 65535).default(54329),
  EVERRUNS_DATA_DIR: z.string().min(1).optional(),
  /** Hosts, IPs and CIDR ranges the worker may reach on an agent's behalf even when private or loopback (worker/egress/config.ts). */
  EVERRUNS_EGRESS_ALLOW: EgressAllowSchema.optional(),
  /** Further variables an agent's api_key_env may name (its provider's own default is always allowed). */
  EVERRUNS_PROVIDER_KEY_ENVS: ProviderKeyEnvsSchema.optional(),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  // each provider's own (OPENAI_API_KEY, ANTHROPIC_BASE_URL, ...): worker/providers/<name>.config.ts
  ...providerEnvShape(),
});
export type Env = z.infer<typeof EnvSchema>;

export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  // Empty strings count as unset, as most shells and .env files mean them.
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ""));
  const result = EnvSchema.safeParse(cleaned);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `  ${String(i.path[0])}: ${i.message}`).join("\n");
    throw new ConfigError(`invalid environment:\n${problems}`);
  }
  return result.data;
}
