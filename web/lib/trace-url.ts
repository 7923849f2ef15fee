// The run page's link to a trace UI (issue 19, "Console"): the operator sets EVERRUNS_TRACE_URL to
// a URL template with one `{trace_id}` placeholder, e.g.
// `https://grafana.example/explore?traceId={trace_id}` or `http://jaeger:16686/trace/{trace_id}`;
// the console's server reads it per request (web/app/runs/[id]/layout.tsx) and the run page links
// to the template with the run's trace id (runTraceIdOf: its traceparent's trace id, else its id's
// 32 hex digits: lib/trace-id.ts runTraceId, which the console may not import; the test
// web/test/dashboard-observability.test.ts checks that both agree). Unset or empty: no link. Pure
// functions (no React): scripts/web.ts checks the variable with them when the console starts.

export const TRACE_URL_ENV = "EVERRUNS_TRACE_URL";
export const TRACE_ID_PLACEHOLDER = "{trace_id}";

export interface TraceUrlConfig {
  /** The template to link with (null: no link). */
  template: string | null;
  /** Why the variable's value was refused (null: it was fine, or unset). */
  problem: string | null;
}

/** EVERRUNS_TRACE_URL's value checked: an http(s) URL with exactly one `{trace_id}` and no other `{name}` placeholder. */
export function parseTraceUrlTemplate(value: string | undefined | null): TraceUrlConfig {
  const template = (value ?? "").trim();
  if (!template) return { template: null, problem: null };
  const refuse = (why: string): TraceUrlConfig => ({
    template: null,
    problem: `${TRACE_URL_ENV} ${why}, e.g. https://grafana.example/explore?traceId=${TRACE_ID_PLACEHOLDER}`,
  });
  const count = template.split(TRACE_ID_PLACEHOLDER).length - 1;
  if (count !== 1) return refuse(`must hold the placeholder ${TRACE_ID_PLACEHOLDER} exactly once (it holds it ${count} times)`);
  // another `{name}` is a placeholder nobody fills (a typo, {span_id}); JSON in the URL ({"datasource": …}) is not one
  const other = /\{[A-Za-z_][A-Za-z0-9_]*\}/.exec(template.replace(TRACE_ID_PLACEHOLDER, ""));
  if (other) return refuse(`may hold no placeholder but ${TRACE_ID_PLACEHOLDER} (it holds ${other[0]})`);
  let url: URL;
  try {
    url = new URL(template.replace(TRACE_ID_PLACEHOLDER, "0".repeat(32)));
  } catch {
    return refuse("must be an absolute http:// or https:// URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return refuse(`must be an http:// or https:// URL (it is ${url.protocol})`);
  return { template, problem: null };
}

/** A W3C trace id: 32 lower-case hex digits, not all zeros. */
export function isTraceId(value: string): boolean {
  return /^[0-9a-f]{32}$/.test(value) && !/^0+$/.test(value);
}

/** A W3C traceparent of version 00, lowercase (what runs.trace_parent's check admits). */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

/**
 * The trace id of a run (Run.traceParent, 000035): its traceparent's trace id when it has a valid
 * one (version 00 in its exact form, surrounding spaces trimmed, neither id all zeros), else the
 * run id's 32 hex digits. The same as lib/trace-id.ts runTraceId.
 */
export function runTraceIdOf(runId: string, traceParent: string | null | undefined): string {
  const m = TRACEPARENT.exec((traceParent ?? "").trim());
  if (m && m[1] !== "0".repeat(32) && m[2] !== "0".repeat(16)) return m[1]!;
  return runId.replaceAll("-", "").toLowerCase();
}

/** The template with the trace id in place (URL-encoded, though a trace id needs none). */
export function traceUrlOf(template: string, traceId: string): string {
  return template.replace(TRACE_ID_PLACEHOLDER, encodeURIComponent(traceId));
}
