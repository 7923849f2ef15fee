// The built-in tools, registered here and nowhere else: adding one is a file in worker/tools/
// and a line below. Tool files must stay light to import (db/schemas.ts reads the names here);
// a tool with a heavy dependency imports it inside `execute`. `http` tools are a tool type
// (worker/tools/http.ts), built per agent from its config.
import { echoTool } from "./echo.ts";
import { readResultTool } from "./read-result.ts";
import { reportProgressTool } from "./report-progress.ts";
import { simulateWorkTool } from "./simulate-work.ts";
import { sleepTool } from "./sleep.ts";
import type { Tool } from "./types.ts";
import { updateStateTool } from "./update-state.ts";
import { waitForEventTool } from "./wait-for-event.ts";

const BUILTIN: readonly Tool[] = [echoTool, simulateWorkTool, sleepTool, waitForEventTool, updateStateTool, reportProgressTool, readResultTool];

/** The names an agent config may list as built-in tools. */
export const BUILTIN_TOOL_NAMES: readonly string[] = BUILTIN.map((t) => t.definition.name);

/** Every built-in tool by name (worker/main.ts: EngineContext.tools). */
export function builtinTools(): Record<string, Tool> {
  return Object.fromEntries(BUILTIN.map((t) => [t.definition.name, t]));
}
