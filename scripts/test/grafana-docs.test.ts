// The Grafana dashboard and the Prometheus alerting rules of docs/grafana/ (docs/observability.md,
// "Dashboards and alerts"): the dashboard is an importable Grafana JSON model (schemaVersion 39, a
// Prometheus datasource variable that every panel and query uses, unique ids, a 24-column grid);
// alerts.yaml is a Prometheus rules file (groups of named rules with expr, for, severity and
// annotations). Every PromQL expression of both names only the metrics Everruns exports (the list
// below, each with its labels, checked against the metric definitions in lib/metrics/registry.ts
// and api/metrics.ts), with only those metrics' labels in its matchers and groupings; the dashboard
// uses every one of them.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";

const root = new URL("../../", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), "utf8");

/** The metrics Everruns exports, with their labels (histograms by their _bucket series, which add `le`). */
const METRICS: Record<string, string[]> = {
  everruns_runs_started_total: ["workspace", "agent"],
  everruns_runs_finished_total: ["workspace", "agent", "status"],
  everruns_runs_running: ["workspace"],
  everruns_runs_waiting: ["workspace", "reason"],
  everruns_queue_depth: ["workspace"],
  everruns_queue_oldest_age_seconds: ["workspace"],
  everruns_workers_live: [],
  everruns_worker_slots: ["state"],
  everruns_tokens_total: ["workspace", "agent", "type"],
  everruns_cost_usd_total: ["workspace", "agent"],
  everruns_steps_total: ["kind", "outcome"],
  everruns_step_duration_seconds_bucket: ["kind"],
  everruns_llm_request_duration_seconds_bucket: ["provider"],
  everruns_step_retries_total: ["kind", "provider", "reason"],
  everruns_resume_after_crash_seconds_bucket: [],
  everruns_queue_to_first_step_seconds_bucket: [],
  everruns_http_request_duration_seconds_bucket: ["method", "route", "status"],
  everruns_event_delivery_lag_seconds_bucket: ["transport"],
};
const labelsOf = (metric: string) => [...(METRICS[metric] ?? []), ...(metric.endsWith("_bucket") ? ["le"] : [])];

const KEYWORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "inf", "nan"]);
/** Aggregation operators: their grouping may come between them and their parenthesis (`sum by (x) (…)`). */
const AGGREGATIONS = new Set([
  "sum",
  "min",
  "max",
  "avg",
  "group",
  "stddev",
  "stdvar",
  "count",
  "count_values",
  "bottomk",
  "topk",
  "quantile",
  "limitk",
  "limit_ratio",
]);

/** The metric names an expression selects: identifiers that are neither functions, keywords, labels nor strings. */
export function metricNamesOf(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, "{}")
    .replace(/\[[^\]]*\]/g, "[]")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "$1()");
  const names: string[] = [];
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    if (KEYWORDS.has(m[0].toLowerCase()) || AGGREGATIONS.has(m[0].toLowerCase())) continue;
    if (
      s
        .slice(m.index + m[0].length)
        .trimStart()
        .startsWith("(")
    )
      continue; // a function
    if (s[m.index - 1] === "$") continue; // a Grafana variable
    names.push(m[0]);
  }
  return names;
}

/** What is wrong with one PromQL expression: unknown metrics, labels its metrics do not have. */
function problemsOf(where: string, expr: string): string[] {
  const problems: string[] = [];
  const names = metricNamesOf(expr);
  if (names.length === 0) problems.push(`${where}: names no metric: ${expr}`);
  for (const name of names) if (!(name in METRICS)) problems.push(`${where}: ${name} is not a metric Everruns exports`);
  for (const m of expr.matchAll(/([a-z_:][a-z0-9_:]*)\s*\{([^}]*)\}/g)) {
    for (const matcher of m[2]!.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)/g)) {
      if (!labelsOf(m[1]!).includes(matcher[1]!)) problems.push(`${where}: ${m[1]} has no label ${matcher[1]}`);
    }
  }
  const known = new Set(names.flatMap(labelsOf));
  for (const m of expr.matchAll(/\b(by|without|on|ignoring)\s*\(([^)]*)\)/g)) {
    for (const label of m[2]!
      .split(",")
      .map((l) => l.trim())
      .filter(Boolean)) {
      if (!known.has(label)) problems.push(`${where}: groups by ${label}, a label none of its metrics has`);
    }
  }
  return problems;
}

interface Target {
  expr?: string;
  refId?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  panels?: Panel[];
}

describe("docs/grafana/everruns-dashboard.json", () => {
  const dashboard = JSON.parse(read("docs/grafana/everruns-dashboard.json")) as {
    schemaVersion: number;
    title: string;
    uid: string;
    panels: Panel[];
    templating: { list: Array<{ name: string; type: string; query: unknown; datasource?: { uid?: string } }> };
  };
  const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  const queried = panels.filter((p) => p.type !== "row");
  const exprs = queried.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}" (${t.refId})`, expr: t.expr ?? "" })));

  it("is a Grafana dashboard of schemaVersion 39 with a Prometheus datasource variable that every panel and query uses", () => {
    expect(dashboard.schemaVersion).toBe(39);
    expect(dashboard.title).toBe("Everruns");
    expect(dashboard.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    const ds = dashboard.templating.list.find((v) => v.type === "datasource");
    expect(ds).toMatchObject({ name: "datasource", query: "prometheus" });
    const workspace = dashboard.templating.list.find((v) => v.name === "workspace");
    expect(workspace?.datasource?.uid).toBe("${datasource}");
    expect(queried.length).toBeGreaterThanOrEqual(20);
    for (const p of queried) {
      expect({ panel: p.title, ds: p.datasource }).toEqual({ panel: p.title, ds: { type: "prometheus", uid: "${datasource}" } });
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? [])
        expect({ panel: p.title, ds: t.datasource?.uid, expr: typeof t.expr }).toEqual({ panel: p.title, ds: "${datasource}", expr: "string" });
    }
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      expect(p.gridPos.w * p.gridPos.h, p.title).toBeGreaterThan(0);
    }
  });

  it("names only Everruns' metrics and their labels, and shows every one of them", () => {
    expect(exprs.flatMap(({ where, expr }) => problemsOf(where, expr))).toEqual([]);
    const used = new Set(exprs.flatMap(({ expr }) => metricNamesOf(expr)));
    expect(Object.keys(METRICS).filter((m) => !used.has(m))).toEqual([]);
    // the workspace variable filters every metric that has the label
    for (const { where, expr } of exprs) {
      for (const m of expr.matchAll(/([a-z_:][a-z0-9_:]*)(\{[^}]*\})?/g)) {
        if (METRICS[m[1]!]?.includes("workspace")) expect(m[2] ?? "", `${where}: ${m[1]}`).toContain('workspace=~"$workspace"');
      }
    }
  });
});

describe("docs/grafana/alerts.yaml", () => {
  const rules = parseYaml(read("docs/grafana/alerts.yaml")) as {
    groups: Array<{
      name: string;
      rules: Array<{ alert: string; expr: string; for: string; labels: Record<string, string>; annotations: Record<string, string> }>;
    }>;
  };

  it("is a Prometheus rules file: groups of named alerts, each with expr, for, a severity, a summary and a description", () => {
    expect(rules.groups.length).toBeGreaterThan(0);
    const all = rules.groups.flatMap((g) => {
      expect(g.name).toMatch(/\S/);
      return g.rules;
    });
    expect(all.map((r) => r.alert).sort()).toEqual([
      "EverrunsNoLiveWorkers",
      "EverrunsQueueOldestAgeHigh",
      "EverrunsResumeLatencyHigh",
      "EverrunsRunFailureRateHigh",
      "EverrunsRunsStuck",
    ]);
    for (const r of all) {
      expect(Object.keys(r).sort(), r.alert).toEqual(["alert", "annotations", "expr", "for", "labels"]);
      expect(r.for, r.alert).toMatch(/^\d+[smh]$/);
      expect(["warning", "critical"], r.alert).toContain(r.labels.severity);
      expect(r.annotations.summary, r.alert).toMatch(/\S/);
      expect(r.annotations.description, r.alert).toMatch(/\S/);
    }
    const byName = Object.fromEntries(all.map((r) => [r.alert, r]));
    expect(byName.EverrunsRunFailureRateHigh!).toMatchObject({ for: "15m" });
    expect(byName.EverrunsRunFailureRateHigh!.expr).toMatch(/>\s*0\.10?\b/);
    expect(byName.EverrunsRunsStuck!.annotations.description).toMatch(/console's Workers & queue page lists the stuck runs/);
  });

  it("names only Everruns' metrics and their labels", () => {
    const all = rules.groups.flatMap((g) => g.rules);
    expect(all.flatMap((r) => problemsOf(`alert ${r.alert}`, r.expr))).toEqual([]);
  });
});

describe("the metric list", () => {
  it("is what Everruns defines (lib/metrics/registry.ts, api/metrics.ts), and the PromQL reader finds what it should", () => {
    const defined = new Set([...`${read("lib/metrics/registry.ts")}\n${read("api/metrics.ts")}`.matchAll(/"(everruns_[a-z0-9_]+)"/g)].map((m) => m[1]!));
    expect(Object.keys(METRICS).filter((m) => !defined.has(m.replace(/_bucket$/, "")))).toEqual([]);
    expect(metricNamesOf('histogram_quantile(0.95, sum by (le, kind) (rate(everruns_step_duration_seconds_bucket{kind="llm"}[$__rate_interval])))')).toEqual([
      "everruns_step_duration_seconds_bucket",
    ]);
    expect(metricNamesOf("max(up) unless on () sum(everruns_workers_live) > 0")).toEqual(["up", "everruns_workers_live"]);
    expect(problemsOf("x", 'sum by (pod) (everruns_queue_depth{instance="a"})')).toEqual([
      "x: everruns_queue_depth has no label instance",
      "x: groups by pod, a label none of its metrics has",
    ]);
  });
});
