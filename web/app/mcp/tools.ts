// What the console reads from an MCP server's tool list (everruns.mcp_tool_lists.tools, the MCP
// Tool objects as the server listed them: the schema's JSON scalar is `unknown`), narrowed with a
// light check, and the names those tools have in an agent: `<server>__<tool>` (the worker's rule,
// worker/mcp/names.ts, which the console cannot import: characters outside [A-Za-z0-9_-] become
// `_`, and a name over 64 characters is cut and suffixed with `_` + 6 hex digits of the sha256 of
// the full name, computed here with Web Crypto). Shared by /mcp and the run page.

/** The hints an MCP server may give about a tool (MCP ToolAnnotations). */
export interface McpToolAnnotations {
  title?: string;
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

/** One MCP Tool object, as much of it as the console shows. */
export interface McpTool {
  name: string;
  title?: string;
  description?: string;
  inputSchema?: unknown;
  annotations?: McpToolAnnotations;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** The tools of a listing (a JSON array of MCP Tool objects); anything without a name is left out. */
export function toolsOf(json: unknown): McpTool[] {
  if (!Array.isArray(json)) return [];
  return json
    .filter((t): t is McpTool => isObject(t) && typeof t.name === "string")
    .map((t) => ({ ...t, annotations: isObject(t.annotations) ? t.annotations : undefined }));
}

/** The longest tool name the providers accept (worker/mcp/names.ts MAX_TOOL_NAME_LENGTH). */
export const MAX_TOOL_NAME_LENGTH = 64;

/** `<server>__<tool>` with [A-Za-z0-9_-] only; `long`: over 64 characters, so the worker cuts it and adds a hash (exposedToolName). */
export function safeToolName(server: string, tool: string): { safe: string; long: boolean } {
  const safe = `${server}__${tool}`.replace(/[^A-Za-z0-9_-]/gu, "_");
  return { safe, long: safe.length > MAX_TOOL_NAME_LENGTH };
}

/** The name the model sees (the worker's exposedToolName); null when Web Crypto is not available (an http page on another host). */
export async function exposedToolName(server: string, tool: string): Promise<string | null> {
  const { safe, long } = safeToolName(server, tool);
  if (!long) return safe;
  if (typeof crypto === "undefined" || !crypto.subtle) return null;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${server}__${tool}`));
  const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${safe.slice(0, MAX_TOOL_NAME_LENGTH - 7)}_${hex.slice(0, 6)}`;
}

/** The MCP servers an agent config names (its tools of type mcp), by name. */
export function mcpServerNames(tools: unknown): string[] {
  if (!Array.isArray(tools)) return [];
  return tools.filter((t) => isObject(t) && t.type === "mcp" && typeof t.name === "string").map((t) => (t as { name: string }).name);
}

/** The server of a tool call named `<server>__<tool>`, among `servers` (the longest that matches); null: not an MCP tool. */
export function mcpServerOf(toolName: string, servers: Iterable<string>): { server: string; tool: string } | null {
  let best: string | null = null;
  for (const s of servers) if (toolName.startsWith(`${s}__`) && (best === null || s.length > best.length)) best = s;
  return best === null ? null : { server: best, tool: toolName.slice(best.length + 2) };
}
