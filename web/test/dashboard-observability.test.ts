// The dashboard's observability cards and the run page's trace link (issue 19, "Console"), in a
// real headless browser over real Postgres, the real API and the console's production build. No
// worker runs: each step is begun and committed through the data-access layer as a worker does
// (begin_step, reschedule_step, commit_step), with real time between begin and commit, so the
// figures come from rows the engine itself wrote:
// - step latency by kind: the p50/p95/p99 the page shows are those the test computes from the
//   committed steps' durations (linear interpolation, as percentile_cont);
// - resume after a crash: an attempt taken over by a newer one (fenced out, as when a worker is
//   presumed dead) is one lost attempt, resumed after the gap the attempts' rows record;
// - retries and errors by provider: a retried attempt (a transient error) and a lost one count
//   as attempts of their step; a failed step of another provider's agent is its error rate;
// - usage against limits: the workspace's daily token and cost quotas against today's usage;
// - the window selector asks the database for the chosen window (7 days);
// - a run page links to its trace with EVERRUNS_TRACE_URL: its id's digits, or the trace id of
//   the traceparent it was started with (the console's runTraceIdOf agrees with lib/trace-id.ts
//   runTraceId on every kind of traceparent); an invalid template stops the console at start,
//   naming the variable.
// Screenshots (web/test/screenshots/): dashboard-observability, run-trace-link.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/sql/apiKeys.ts";
import type { AgUiEvent } from "../../db/sql/appendEvents.ts";
import { beginStep } from "../../db/sql/beginStep.ts";
import { commitStep, type NextStep, type StepRecord } from "../../db/sql/commitStep.ts";
import { rescheduleStep } from "../../db/sql/rescheduleStep.ts";
import { setWorkspaceLimits } from "../../db/sql/workspaceLimits.ts";
import { createAgent, createTestDatabase, startRun, type TestDatabase } from "../../db/test/helpers.ts";
import { startApi, type ApiHandle } from "../../api/server.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { sleep } from "../../lib/sleep.ts";
import { runTraceId } from "../../lib/trace-id.ts";
import { startWeb, type WebHandle } from "../../scripts/web.ts";
import { formatCost, formatDuration, formatNumber, formatPercent } from "../lib/format.ts";
import { parseTraceUrlTemplate, runTraceIdOf, traceUrlOf } from "../lib/trace-url.ts";
import { launchBrowser, screenshot, type Browser } from "./browser.ts";

const log = consoleLogger("[test-web]", (process.env.EVERRUNS_TEST_LOG as "debug" | "info" | "warn" | "error" | undefined) ?? "error");
const TRACE_URL = "https://grafana.example/explore?orgId=1&traceId={trace_id}";
const DEFAULT_WS = "00000000-0000-0000-0000-000000000001";
const MAX_TOKENS = 1_000_000;
const MAX_COST = 5;

let db: TestDatabase;
let api: ApiHandle;
let web: WebHandle;
let browser: Browser;
let viewerKey = "";
const savedTraceUrl = process.env.EVERRUNS_TRACE_URL;

interface PlannedStep {
  kind: "llm" | "tool";
  /** time between the step's begin and its commit */
  ms: number;
  fail?: boolean;
  /** a first attempt handed back after a transient error (reschedule_step, counted) */
  retried?: boolean;
  /** a first attempt taken over by a newer one after this long (fenced out) */
  lostAfterMs?: number;
}

const USAGE = { input_tokens: 1000, output_tokens: 200, cost_usd: 0.01 };

/** A run of `agentId` through `plan`, every step begun and committed as a worker would; returns its id. */
async function drive(agentId: string, plan: PlannedStep[]): Promise<string> {
  const runId = await startRun(db.pool, agentId, "observability");
  for (const [i, p] of plan.entries()) {
    const last = i === plan.length - 1;
    if (p.retried) {
      const first = await beginStep(db.pool, runId);
      const { rescheduled } = await rescheduleStep(db.pool, runId, first!.run.step_cursor, first!.run.step_attempt, 0, true, []);
      expect(rescheduled).toBe(true);
    }
    if (p.lostAfterMs != null) {
      await beginStep(db.pool, runId); // this attempt never commits: the next begin fences it out
      await sleep(p.lostAfterMs);
    }
    const begun = await beginStep(db.pool, runId);
    const { step_cursor: seq, step_attempt: attempt, thread_id: threadId } = begun!.run;
    await sleep(p.ms);
    const stepName = `step ${seq}: ${p.kind}`;
    const events: AgUiEvent[] = [
      ...(i === 0 ? [{ type: "RUN_STARTED", threadId, runId }] : []),
      { type: "STEP_STARTED", stepName },
      { type: "STEP_FINISHED", stepName },
    ];
    let next: NextStep = { type: "continue" };
    if (p.fail) {
      events.push({ type: "RUN_ERROR", message: "the provider refused the request", code: "provider_error" });
      next = { type: "fail", error: { code: "provider_error", message: "the provider refused the request" } };
    } else if (last) {
      events.push({ type: "RUN_FINISHED", threadId, runId, result: { text: "done" } });
      next = { type: "succeed", output: { text: "done" } };
    }
    const step: StepRecord =
      p.kind === "llm"
        ? {
            kind: "llm",
            name: "model",
            status: p.fail ? "failed" : "succeeded",
            input: {},
            output: { text: "done", tool_calls: [] },
            ...(p.fail ? { error: { code: "provider_error", message: "the provider refused the request" } } : { usage: USAGE }),
          }
        : { kind: "tool", name: "echo", status: "succeeded", input: {}, output: { ok: true } };
    const { committed } = await commitStep(db.pool, runId, seq, attempt, step, events, next);
    expect(committed).toBe(true);
  }
  return runId;
}

/** percentile_cont: linear interpolation between the closest ranks. */
function percentile(sorted: number[], p: number): number {
  const at = p * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}
const round1 = (v: number) => Math.round(v * 10) / 10;
/**
 * How a duration computed here may show: the database rounds its percentile (numeric, to 0.1 ms)
 * from durations this test reads rounded to 0.001 ms, and the page rounds again to whole ms, so a
 * value near a rounding boundary may land on either side of it.
 */
const nearDurations = (ms: number): string[] => [...new Set([ms - 0.06, ms, ms + 0.06].map((v) => formatDuration(round1(v))))];

async function login(key: string): Promise<void> {
  const { page, context } = browser;
  await page.goto("about:blank");
  await context.clearCookies();
  await page.goto(`${web.url}/login#key=${key}`);
  await page.waitForURL(`${web.url}/runs`);
}

const text = async (locator: ReturnType<Browser["page"]["getByTestId"]>) => ((await locator.first().textContent()) ?? "").trim();

let runs: { plain: string; retried: string; crashed: string; failed: string; openaiOk: string; traced: string };
const TRACE_PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

beforeAll(async () => {
  process.env.EVERRUNS_TRACE_URL = TRACE_URL;
  db = await createTestDatabase();
  api = await startApi({ databaseUrl: db.url, port: 0, log, graphiql: false });
  web = await startWeb({ apiUrl: api.url, port: 0, log });
  browser = await launchBrowser();
  viewerKey = (await createApiKey(db.pool, { name: "observability-viewer", role: "viewer" })).key;
  // quotas first: the workspace's usage today is counted while a quota is set (000029)
  await setWorkspaceLimits(db.pool, DEFAULT_WS, { maxTokensPerDay: MAX_TOKENS, maxCostUsdPerDay: MAX_COST, maxRunningRuns: 10 });
  const scripted = await createAgent(db.pool, { provider: "scripted", script: [] }, "obs-scripted");
  const openai = await createAgent(db.pool, { provider: "openai", model: "gpt-4o-mini" }, "obs-openai");
  runs = {
    plain: await drive(scripted, [
      { kind: "llm", ms: 40 },
      { kind: "tool", ms: 20 },
      { kind: "llm", ms: 80 },
    ]),
    retried: await drive(scripted, [{ kind: "llm", ms: 30, retried: true }]),
    crashed: await drive(scripted, [{ kind: "llm", ms: 30, lostAfterMs: 250 }]),
    failed: await drive(openai, [{ kind: "llm", ms: 30, fail: true }]),
    openaiOk: await drive(openai, [{ kind: "llm", ms: 60 }]),
    traced: "",
  };
  const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input, trace_parent) values ($1, $2, $3) returning id", [
    scripted,
    JSON.stringify({ messages: [{ role: "user", content: "traced" }] }),
    TRACE_PARENT,
  ]);
  runs.traced = rows[0]!.id;
}, 180_000);

afterAll(async () => {
  if (savedTraceUrl === undefined) delete process.env.EVERRUNS_TRACE_URL;
  else process.env.EVERRUNS_TRACE_URL = savedTraceUrl;
  await browser?.close();
  await web?.close();
  await api?.close();
  await db?.drop();
});

describe("the dashboard's observability cards", () => {
  it("show step latency by kind, resumes after a crash, retries and errors by provider and usage against limits", async () => {
    const { page } = browser;
    await login(viewerKey);
    await page.goto(`${web.url}/dashboard`);
    await page.getByTestId("observability").waitFor();

    // step latency: every kind's count and p50/p95/p99, as computed here from the durations
    const { rows: steps } = await db.pool.query<{ kind: string; ms: number }>("select kind, round(duration_ms, 3)::float8 as ms from everruns.run_steps");
    const kinds = [...new Set(steps.map((s) => s.kind))].sort();
    expect(kinds).toEqual(["llm", "tool"]);
    for (const kind of kinds) {
      const ms = steps
        .filter((s) => s.kind === kind)
        .map((s) => s.ms)
        .sort((a, b) => a - b);
      const row = page.locator(`[data-testid="latency-kind-row"][data-kind="${kind}"]`);
      await expect.poll(() => text(row.getByTestId("latency-steps"))).toBe(String(ms.length));
      for (const [id, p] of [
        ["latency-p50", 0.5],
        ["latency-p95", 0.95],
        ["latency-p99", 0.99],
      ] as const)
        expect(nearDurations(percentile(ms, p)), id).toContain(await text(row.getByTestId(id)));
    }
    // the slowest llm step took at least its 80 ms between begin and commit
    expect(Math.max(...steps.filter((s) => s.kind === "llm").map((s) => s.ms))).toBeGreaterThanOrEqual(80);

    // resume after a crash: the attempt the newer one fenced out, and the gap to that one
    const { rows: lost } = await db.pool.query<{ outcome: string; gap_ms: number }>(
      `select a.outcome, round((extract(epoch from n.started_at - a.started_at) * 1000)::numeric, 1)::float8 as gap_ms
         from everruns.run_attempts a join everruns.run_attempts n on n.run_id = a.run_id and n.seq = a.seq and n.attempt = a.attempt + 1
        where a.run_id = $1 and a.attempt = 1`,
      [runs.crashed],
    );
    expect(lost.map((a) => a.outcome)).toEqual(["fenced_out"]);
    expect(lost[0]!.gap_ms).toBeGreaterThanOrEqual(250);
    // the attempts of the committed steps: each begin of each step (run_steps.attempt)
    const { rows: attemptCount } = await db.pool.query<{ n: number }>("select sum(attempt)::int as n from everruns.run_steps");
    expect(attemptCount[0]!.n).toBe(9);
    expect(await text(page.getByTestId("resume-lost"))).toBe(`1 of ${attemptCount[0]!.n} attempts lost`);
    expect(await text(page.getByTestId("resume-resumed"))).toBe("1 resumed");
    expect(await text(page.getByTestId("resume-worst-p95"))).toBe(`worst p95 ${formatDuration(lost[0]!.gap_ms)}`);

    // retries and errors by provider: scripted 4 llm steps with 6 attempts (one retried, one lost),
    // openai 2 steps, one failed
    const provider = (name: string) => page.locator(`[data-testid="provider-row"][data-provider="${name}"]`);
    expect(await text(provider("scripted").getByTestId("provider-attempts-per-step"))).toBe("1.50");
    expect(await text(provider("scripted").getByTestId("provider-retried"))).toBe("1");
    expect(await text(provider("scripted").getByTestId("provider-lost"))).toBe("1");
    expect(await text(provider("scripted").getByTestId("provider-error-rate"))).toBe(formatPercent(0));
    expect(await text(provider("openai").getByTestId("provider-error-rate"))).toBe(formatPercent(0.5));
    expect(await text(provider("openai").getByTestId("provider-attempts-per-step"))).toBe("1.00");

    // usage against limits: today's tokens and cost of the committed LLM steps against the quotas
    const { rows: usage } = await db.pool.query<{ tokens: number; cost: number }>(
      `select sum((usage ->> 'input_tokens')::float8 + (usage ->> 'output_tokens')::float8) as tokens, sum((usage ->> 'cost_usd')::float8) as cost
         from everruns.run_steps where usage is not null`,
    );
    expect(usage[0]!.tokens).toBe(5 * 1200);
    expect(await text(page.getByTestId("usage-tokens-text"))).toBe(
      `${formatNumber(usage[0]!.tokens)} of ${formatNumber(MAX_TOKENS)} (${formatPercent(usage[0]!.tokens / MAX_TOKENS)})`,
    );
    expect(await text(page.getByTestId("usage-cost-text"))).toBe(
      `${formatCost(usage[0]!.cost)} of ${formatCost(MAX_COST)} (${formatPercent(usage[0]!.cost / MAX_COST)})`,
    );
    expect(await text(page.getByTestId("usage-queued-text"))).toMatch(/· no limit$/);
    expect(await text(page.getByTestId("usage-active-text"))).toMatch(/ of 10 \(/);
    await screenshot(page, "dashboard-observability");

    // the window selector: the figures of the last 7 days are asked for (and are the same runs)
    const asked = page.waitForRequest(
      (r) => r.url().endsWith("/graphql") && /DashboardObservability/.test(r.postData() ?? "") && /"window":604800/.test(r.postData() ?? ""),
    );
    await page.getByTestId("dashboard-window").selectOption("604800");
    await asked;
    const llmRow = page.locator('[data-testid="latency-kind-row"][data-kind="llm"]');
    await expect.poll(() => text(llmRow.getByTestId("latency-steps"))).toBe(String(steps.filter((s) => s.kind === "llm").length));
    expect(browser.errors).toEqual([]);
  });
});

describe("the run page's trace link", () => {
  it("links each run to its trace: its own id's digits, or the trace id of the traceparent it continued", async () => {
    const { page } = browser;
    for (const [runId, traceParent] of [
      [runs.plain, null],
      [runs.traced, TRACE_PARENT],
    ] as const) {
      const traceId = runTraceId(runId, traceParent);
      expect(traceId).toBe(traceParent ? "4bf92f3577b34da6a3ce929d0e0e4736" : runId.replaceAll("-", ""));
      await page.goto(`${web.url}/runs/${runId}`);
      const link = page.getByTestId("run-trace-link");
      await link.waitFor();
      expect(await link.getAttribute("href")).toBe(`https://grafana.example/explore?orgId=1&traceId=${traceId}`);
      expect(await link.getAttribute("target")).toBe("_blank");
      expect(await link.getAttribute("rel")).toContain("noopener");
      if (traceParent) await screenshot(page, "run-trace-link");
    }
    expect(browser.errors).toEqual([]);
  });

  it("computes a run's trace id as lib/trace-id.ts does, whatever the traceparent", () => {
    const runId = "0f8fad5b-d9cb-469f-a165-70867728950e";
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    for (const traceParent of [
      null,
      undefined,
      "",
      TRACE_PARENT,
      ` ${TRACE_PARENT.toUpperCase()} `,
      `00-${"0".repeat(32)}-00f067aa0ba902b7-01`,
      `00-${traceId}-${"0".repeat(16)}-01`,
      `ff-${traceId}-00f067aa0ba902b7-01`,
      `01-${traceId}-00f067aa0ba902b7-01-later-fields`,
      `00-${traceId}-00f067aa0ba902b7-01-extra`,
      "garbage",
    ]) {
      expect({ traceParent, id: runTraceIdOf(runId, traceParent) }).toEqual({ traceParent, id: runTraceId(runId, traceParent) });
    }
    expect(runTraceIdOf(runId, TRACE_PARENT)).toBe(traceId);
    expect(runTraceIdOf(runId, null)).toBe(runId.replaceAll("-", ""));
  });

  it("checks EVERRUNS_TRACE_URL: an http(s) URL with exactly one {trace_id}; the console refuses another at start", async () => {
    expect(parseTraceUrlTemplate(undefined)).toEqual({ template: null, problem: null });
    expect(parseTraceUrlTemplate("  ")).toEqual({ template: null, problem: null });
    expect(parseTraceUrlTemplate("http://jaeger:16686/trace/{trace_id}")).toEqual({ template: "http://jaeger:16686/trace/{trace_id}", problem: null });
    expect(traceUrlOf("http://jaeger:16686/trace/{trace_id}", "ab".repeat(16))).toBe(`http://jaeger:16686/trace/${"ab".repeat(16)}`);
    // JSON in the URL (Grafana's Explore state) is no placeholder
    const explore = 'https://grafana.example/explore?left={"datasource":"tempo","queries":[{"query":"{trace_id}"}]}';
    expect(parseTraceUrlTemplate(explore)).toEqual({ template: explore, problem: null });
    for (const [bad, why] of [
      ["https://grafana.example/explore", /exactly once \(it holds it 0 times\)/],
      ["https://x.example/{trace_id}/{trace_id}", /exactly once \(it holds it 2 times\)/],
      ["https://x.example/{trace_id}?span={span_id}", /no placeholder but \{trace_id\} \(it holds \{span_id\}\)/],
      ["javascript:alert(1)//{trace_id}", /http:\/\/ or https:\/\/ URL \(it is javascript:\)/],
      ["grafana/{trace_id}", /absolute http:\/\/ or https:\/\/ URL/],
    ] as const) {
      const parsed = parseTraceUrlTemplate(bad);
      expect(parsed.template, bad).toBeNull();
      expect(parsed.problem, bad).toMatch(why);
      expect(parsed.problem).toMatch(/^EVERRUNS_TRACE_URL /);
    }
    process.env.EVERRUNS_TRACE_URL = "ftp://traces.example/{trace_id}";
    try {
      await expect(startWeb({ apiUrl: api.url, port: 0, log })).rejects.toThrow(/EVERRUNS_TRACE_URL must be an http:\/\/ or https:\/\/ URL/);
    } finally {
      process.env.EVERRUNS_TRACE_URL = TRACE_URL;
    }
  });
});
