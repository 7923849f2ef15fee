// The names an MCP server's tools get in an agent (docs: MCP client tools, issue 17): a tool
// `search` of the server `github` is `github__search` to the model. Providers accept only
// [A-Za-z0-9_-] and at most 64 characters in a tool name, so anything else becomes `_`, and a
// longer name is cut and suffixed with `_` and 6 hex digits of the sha256 of the full name, so
// that two long names that share their first 57 characters still differ. Pure: no I/O.
import { createHash } from "node:crypto";

/** The longest tool name the providers accept. */
export const MAX_TOOL_NAME_LENGTH = 64;

/** `<server>__<tool>` as the model sees it: [A-Za-z0-9_-] only, at most 64 characters. */
export function exposedToolName(server: string, tool: string): string {
  const full = `${server}__${tool}`;
  const safe = full.replace(/[^A-Za-z0-9_-]/gu, "_");
  if (safe.length <= MAX_TOOL_NAME_LENGTH) return safe;
  const hash = createHash("sha256").update(full, "utf8").digest("hex").slice(0, 6);
  return `${safe.slice(0, MAX_TOOL_NAME_LENGTH - 7)}_${hash}`;
}

/** The regular expression of one glob: `*` is any run of characters (none too), the rest is literal, the whole name must match. */
function globPattern(glob: string): RegExp {
  const body = glob
    .split("*")
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${body}$`, "su");
}

/** Whether the server's tool `tool` is offered to the agent: no allow list = every tool; else one of its globs matches the whole name. */
export function allowed(tool: string, allow?: readonly string[]): boolean {
  if (allow === undefined) return true;
  return allow.some((glob) => globPattern(glob).test(tool));
}
