"use client";
// A JSON editor for agent configs: a monospace textarea with line numbers, a syntax check as
// you type, and the API's validation error (which names the field) right beside it.
import { useMemo, useRef } from "react";

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
  const syntax = useMemo(() => parseJsonObject(value).error, [value]);
  const lines = value.split("\n").length;
  const rows = fixedRows ?? Math.min(30, Math.max(10, lines + 2));
  const field = serverError?.match(/"([^"]+)"/)?.[1];
  return (
    <div className="grid gap-3 2xl:grid-cols-[minmax(0,1fr)_16rem]">
      <div
        className={`flex overflow-hidden rounded-md border ${syntax || serverError ? "border-rose-300" : "border-slate-300"} bg-white focus-within:border-sky-500 focus-within:ring-1 focus-within:ring-sky-500`}
      >
        <div
          ref={gutter}
          aria-hidden
          className="select-none overflow-hidden border-r border-slate-100 bg-slate-50 py-2 text-right font-mono text-xs leading-5 text-slate-400"
          style={{ height: `${rows * 1.25 + 1}rem` }}
        >
          {Array.from({ length: Math.max(lines, rows) }, (_, i) => (
            <div key={i} className="px-2">
              {i < lines ? i + 1 : ""}
            </div>
          ))}
        </div>
        <textarea
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
            <p className="font-medium">The API refused this config</p>
            {field && (
              <p className="mt-1 text-xs">
                Field: <span className="rounded bg-rose-100 px-1 font-mono">{field}</span>
              </p>
            )}
            <p className="mt-1 break-words font-mono text-xs">{serverError}</p>
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
