"use client";
// A JSON editor for agent configs: a monospace textarea with line numbers, a syntax check as
// you type, and every one of the API's validation errors at its field: listed with the field and
// its line, and marked in the gutter on that line.
import { useMemo, useRef } from "react";

/** One problem the API found: the field's path (`tools[0].headers`; "" for the whole config). */
export type ConfigIssue = { path: string; message: string };

const ISSUE_PATH = /^((?:[A-Za-z_$][\w$-]*|\[\d+\]|"[^"]*")(?:\[\d+\]|\.[A-Za-z_$][\w$-]*|\."[^"]*"|\["[^"]*"\])*): (.+)$/s;

/**
 * The API's refusal split into its issues. The message is `invalid agent config: <issue>; <issue>`
 * where each issue is `<path>: <message>` (db/schemas.ts describeIssues, the API contract); a
 * message of another shape is one issue with no path.
 */
export function configIssues(message: string): ConfigIssue[] {
  const body = message.replace(/^invalid agent config:\s*/, "");
  if (body === message) return [{ path: "", message }];
  return body
    .split(/;\s+(?=(?:[A-Za-z_$"[]))/)
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const m = ISSUE_PATH.exec(part);
      return m ? { path: m[1]!, message: m[2]! } : { path: "", message: part };
    });
}

/** The keys of a path, indices dropped: `tools[0].headers` → ["tools", "headers"]. */
function pathKeys(path: string): string[] {
  const keys: string[] = [];
  for (const m of path.matchAll(/"([^"]*)"|([A-Za-z_$][\w$-]*)/g)) keys.push(m[1] ?? m[2]!);
  return keys;
}

/**
 * The 1-based line of the JSON text where `path` is written, best effort: each key is looked for
 * (as `"key":`) from the line of its parent on. null when a key is not in the text.
 */
export function lineOfPath(text: string, path: string): number | null {
  const lines = text.split("\n");
  const keys = pathKeys(path);
  if (keys.length === 0) return null;
  let from = 0;
  let found: number | null = null;
  for (const key of keys) {
    const needle = `${JSON.stringify(key)}`;
    let hit = -1;
    for (let i = from; i < lines.length; i++) {
      const at = lines[i]!.indexOf(needle);
      if (at >= 0 && /^\s*:/.test(lines[i]!.slice(at + needle.length))) {
        hit = i;
        break;
      }
    }
    if (hit < 0) return found;
    found = hit + 1;
    from = hit;
  }
  return found;
}

export function parseJsonObject(text: string): { value: Record<string, unknown> | null; error: string | null } {
  try {
    const value = JSON.parse(text) as unknown;
    if (!value || typeof value !== "object" || Array.isArray(value)) return { value: null, error: "the config must be a JSON object ({ … })" };
    return { value: value as Record<string, unknown>, error: null };
  } catch (e) {
    const message = (e as Error).message;
    // V8: "... in JSON at position 42 (line 3 column 5)"
    return { value: null, error: `JSON syntax: ${message.replace(/^JSON\.parse: /, "")}` };
  }
}

export function JsonEditor({
  value,
  onChange,
  serverError,
  rows: fixedRows,
  testId = "config-editor",
}: {
  value: string;
  onChange: (v: string) => void;
  /** the API's message, e.g. `invalid agent config: "max_steps" must be ...` */
  serverError?: string | null;
  rows?: number;
  testId?: string;
}) {
  const gutter = useRef<HTMLDivElement>(null);
  const area = useRef<HTMLTextAreaElement>(null);
  const syntax = useMemo(() => parseJsonObject(value).error, [value]);
  const lines = value.split("\n").length;
  const rows = fixedRows ?? Math.min(30, Math.max(10, lines + 2));
  const issues = useMemo(
    () => (serverError ? configIssues(serverError).map((issue) => ({ ...issue, line: issue.path ? lineOfPath(value, issue.path) : null })) : []),
    [serverError, value],
  );
  const flagged = new Map<number, string>();
  for (const issue of issues)
    if (issue.line != null) flagged.set(issue.line, [flagged.get(issue.line), `${issue.path}: ${issue.message}`].filter(Boolean).join("\n"));
  /** Puts the caret on `line` and scrolls it into view. */
  const goTo = (line: number) => {
    const el = area.current;
    if (!el) return;
    const start =
      value
        .split("\n")
        .slice(0, line - 1)
        .join("\n").length + (line > 1 ? 1 : 0);
    el.focus();
    el.setSelectionRange(start, start + (value.split("\n")[line - 1]?.length ?? 0));
    el.scrollTop = Math.max(0, (line - 3) * 20);
  };
  return (
    <div className="grid gap-3 2xl:grid-cols-[minmax(0,1fr)_20rem]">
      <div
        className={`flex overflow-hidden rounded-md border ${syntax || serverError ? "border-rose-300" : "border-slate-300"} bg-white focus-within:border-sky-500 focus-within:ring-1 focus-within:ring-sky-500`}
      >
        <div
          ref={gutter}
          aria-hidden
          className="min-w-[3.25rem] shrink-0 select-none overflow-hidden border-r border-slate-100 bg-slate-50 py-2 text-right font-mono text-xs leading-5 text-slate-400"
          style={{ height: `${rows * 1.25 + 1}rem` }}
        >
          {Array.from({ length: Math.max(lines, rows) }, (_, i) => {
            const problem = flagged.get(i + 1);
            return (
              <div
                key={i}
                data-testid={problem ? "gutter-error" : undefined}
                data-line={problem ? i + 1 : undefined}
                title={problem}
                className={`whitespace-nowrap px-2 ${problem ? "bg-rose-100 font-semibold text-rose-700" : ""}`}
              >
                {problem ? "● " : ""}
                {i < lines ? i + 1 : ""}
              </div>
            );
          })}
        </div>
        <textarea
          ref={area}
          data-testid={testId}
          value={value}
          onChange={(e) => onChange(e.target.value)}
          onScroll={(e) => {
            if (gutter.current) gutter.current.scrollTop = e.currentTarget.scrollTop;
          }}
          spellCheck={false}
          wrap="off"
          className="block w-full resize-none p-2 font-mono text-xs leading-5 text-slate-900 outline-none"
          style={{ height: `${rows * 1.25 + 1}rem` }}
        />
      </div>
      <aside className="space-y-2 text-sm">
        {serverError ? (
          <div role="alert" data-testid="config-error" className="rounded-md border border-rose-200 bg-rose-50 p-3 text-rose-900">
            <p className="font-medium">The API refused this config: {issues.length === 1 ? "1 problem" : `${issues.length} problems`}</p>
            <ul className="mt-2 space-y-1.5" data-testid="config-issues">
              {issues.map((issue, k) => (
                <li key={k} data-testid="config-issue" data-path={issue.path} data-line={issue.line ?? undefined} className="text-xs">
                  {issue.path ? (
                    <button
                      type="button"
                      disabled={issue.line == null}
                      onClick={() => issue.line != null && goTo(issue.line)}
                      title={issue.line != null ? `go to line ${issue.line}` : "this field is not in the text"}
                      className="rounded bg-rose-100 px-1 font-mono text-rose-900 enabled:hover:bg-rose-200"
                    >
                      {issue.path}
                      {issue.line != null && <span className="ml-1 font-sans text-rose-700">line {issue.line}</span>}
                    </button>
                  ) : (
                    <span className="rounded bg-rose-100 px-1 font-sans text-rose-900">the whole config</span>
                  )}
                  <span className="ml-1 break-words">{issue.message}</span>
                </li>
              ))}
            </ul>
            {/* the API's own words, for a search or a bug report */}
            <p className="sr-only">{serverError}</p>
          </div>
        ) : syntax ? (
          <div role="alert" data-testid="config-syntax-error" className="rounded-md border border-amber-200 bg-amber-50 p-3 text-amber-900">
            <p className="font-medium">Not valid JSON yet</p>
            <p className="mt-1 break-words font-mono text-xs">{syntax}</p>
          </div>
        ) : (
          <div className="rounded-md border border-slate-200 bg-slate-50 p-3 text-xs text-slate-600">
            <p className="font-medium text-slate-700">Valid JSON</p>
            <p className="mt-1">
              The API checks the rest when you save: <span className="font-mono">provider</span>, <span className="font-mono">model</span>,{" "}
              <span className="font-mono">tools</span>, <span className="font-mono">max_steps</span>, <span className="font-mono">retry</span>,{" "}
              <span className="font-mono">script</span>…
            </p>
          </div>
        )}
      </aside>
    </div>
  );
}
