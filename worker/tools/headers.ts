// Request headers whose values may reference a workspace secret ({"secret": "<name>"}), shared by
// http tools (worker/tools/http.ts) and MCP servers (worker/mcp/connections.ts). The values are
// resolved at call time, in the worker (worker/secrets.ts); a missing secret is a ToolError the
// model sees, saying how to set it. The resolved values come back in `used` so that the caller can
// redact them (`redactSecrets`) from anything it returns or throws: no message of this module
// holds a value.
import { isConnectionError } from "../../db/errors.ts";
import { SecretOpenError } from "../../lib/secret-box.ts";
import { MissingSecretError, SecretsUnavailableError, type WorkspaceSecrets } from "../secrets.ts";
import { ToolError, TransientToolError } from "./types.ts";

/** A header's (or an environment variable's) value: as is, or a reference to a secret of the run's workspace. */
export type SecretRefValue = string | { secret: string };

/** The names of the secrets a headers record references. */
export function headerSecretNames(headers: Readonly<Record<string, SecretRefValue>> | undefined): string[] {
  return Object.values(headers ?? {}).flatMap((v) => (typeof v === "string" ? [] : [v.secret]));
}

/**
 * `headers` with their secret references resolved, and the values used (secret name → value, to
 * redact them). `owner` names the tool or server in errors; `what` says what references the
 * secrets ("headers", "env"). A missing secret, a worker without EVERRUNS_SECRET_KEY or a value
 * that does not decrypt is a ToolError; the database unreachable is a TransientToolError
 * (`secrets_unavailable`).
 */
export async function resolveHeaders(
  owner: string,
  headers: Readonly<Record<string, SecretRefValue>> | undefined,
  secrets: WorkspaceSecrets | undefined,
  what = "headers",
): Promise<{ headers: Record<string, string>; used: Map<string, string> }> {
  const names = headerSecretNames(headers);
  const used = new Map<string, string>();
  const out: Record<string, string> = {};
  if (names.length > 0) {
    let values: Map<string, string>;
    try {
      if (!secrets) throw new SecretsUnavailableError();
      values = await secrets.resolve(names);
    } catch (error) {
      if (error instanceof MissingSecretError) {
        throw new ToolError(`${owner}: ${error.message}; set it with \`everruns secrets set ${error.names[0]}\` (the tool's ${what} reference it)`);
      }
      if (error instanceof SecretsUnavailableError || error instanceof SecretOpenError) throw new ToolError(`${owner}: ${error.message}`);
      if (isConnectionError(error)) {
        throw new TransientToolError(`${owner}: could not read its secrets from the database`, { code: "secrets_unavailable", cause: error });
      }
      throw error;
    }
    for (const name of names) used.set(name, values.get(name)!);
  }
  for (const [name, value] of Object.entries(headers ?? {})) out[name] = typeof value === "string" ? value : used.get(value.secret)!;
  return { headers: out, used };
}
