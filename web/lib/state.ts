// A run's live state and progress as the console reads them (issue 18, migration 000030):
// runs.state (a JSON object the agent changes with update_state; null: none) and runs.progress
// (the last report_progress: {"message", "fraction" (0 to 1, or null), "at"}; null: none). The
// schema's JSON scalar is `unknown`: narrowed here with a light check, as lib/types.ts does.

export interface RunProgress {
  message: string;
  /** 0 to 1; null when the report gave none (the bar is then left out). */
  fraction: number | null;
  /** When the step that reported it committed (the database clock), ISO. */
  at: string | null;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** runs.progress, or null when there is none (or it is not what report_progress writes). */
export function progressOf(json: unknown): RunProgress | null {
  if (!isObject(json) || typeof json.message !== "string") return null;
  const fraction = typeof json.fraction === "number" && Number.isFinite(json.fraction) ? Math.min(1, Math.max(0, json.fraction)) : null;
  return { message: json.message, fraction, at: typeof json.at === "string" ? json.at : null };
}

/** runs.state: the object, or null when the run has none. */
export function stateOf(json: unknown): Record<string, unknown> | null {
  return isObject(json) ? json : null;
}

/** "42%" for a fraction (whole percents: a progress bar's label, not a measurement). */
export function formatFraction(fraction: number): string {
  return `${Math.round(fraction * 100)}%`;
}

/** Whether an agent's tools include update_state or report_progress (its run page shows the State card even before the first report). */
export function reportsState(tools: ReadonlyArray<string | { name: string }> | undefined): boolean {
  return (tools ?? []).some((t) => {
    const name = typeof t === "string" ? t : t.name;
    return name === "update_state" || name === "report_progress";
  });
}
