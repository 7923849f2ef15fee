// /metrics (api/metrics.ts): parsed with a real Prometheus text-format parser after a chaos run
// (runs that succeed, fail and retry, a worker process killed at a step and replaced); the
// database's counters equal what the database says, the worker's histograms count the steps it
// ran, labels stay bounded, keys see only their workspace, and a burst of scrapes is one read.
import parsePrometheusTextFormat, { type ParsedFamily } from "parse-prometheus-text-format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, startRun, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { createWorkspace } from "../../db/sql/workspaces.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { spawnWorker, type WorkerProcess } from "../../worker/test/worker-process.ts";
import { MetricsEndpoint } from "../metrics.ts";
import { startApi, type ApiHandle } from "../server.ts";
import { bearer, createTestKey, quietLog } from "./helpers.ts";

let db: TestDatabase;
let api: ApiHandle;
let worker: WorkerHandle | null = null;
let spawned: WorkerProcess | null = null;
const MAX_LABELS = 3;

beforeAll(async () => {
  db = await createTestDatabase();
  // settle after 1 s: later scrapes fold what earlier ones read live (000036), and must still agree
  api = await startApi({ databaseUrl: db.url, port: 0, log: quietLog, graphiql: false, metrics: { port: 0, maxLabelValues: MAX_LABELS, settleSeconds: 1 } });
});

afterAll(async () => {
  spawned?.child.kill("SIGKILL");
  await worker?.stop();
  await api?.close();
  await db?.drop();
});

const byName = (families: ParsedFamily[], name: string) => families.find((f) => f.name === name);
/** Every sample of `name` (a histogram's `_count` lines come once per label set, each a family of its own when read untyped) */
const values = (families: ParsedFamily[], name: string) =>
  families.filter((f) => f.name === name).flatMap((f) => f.metrics.map((m) => ({ labels: m.labels ?? {}, value: Number(m.value) })));
const sum = (rows: { value: number }[]) => rows.reduce((a, r) => a + r.value, 0);
/**
 * The parser flattens a histogram's samples into one, dropping their labels (it only reads
 * histograms without labels): it reads labelled ones as their plain `_count` samples instead
 * (the same text, the histograms' TYPE lines read as untyped).
 */
const parse = (text: string) => parsePrometheusTextFormat(text.replace(/^# TYPE (\S+) histogram$/gm, "# TYPE $1 untyped"));
const histogramCount = (families: ParsedFamily[], name: string, where: (labels: Record<string, string>) => boolean = () => true) =>
  sum(values(families, `${name}_count`).filter((r) => where(r.labels)));

async function scrape(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { headers });
  return { status: res.status, text: await res.text() };
}

/** Counter series of `text` (name + labels → value): what must never go down between scrapes. */
const COUNTERS = [
  "everruns_runs_started_total",
  "everruns_runs_finished_total",
  "everruns_tokens_total",
  "everruns_cost_usd_total",
  "everruns_steps_total",
  "everruns_step_retries_total",
];
const DATABASE_COUNTERS = COUNTERS.slice(0, 4);
function counterSeries(families: ParsedFamily[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const name of COUNTERS) {
    for (const r of values(families, name)) {
      const labels = Object.entries(r.labels).sort(([a], [b]) => (a < b ? -1 : 1));
      out.set(`${name}${JSON.stringify(labels)}`, r.value);
    }
  }
  return out;
}

/**
 * Scrapes `url` every ~300 ms until stopped: every counter series never goes down and a database
 * counter series, once seen, is in every later scrape (a label moved into "_other" would be a
 * series gone and "_other" down: Prometheus reads a drop as a reset).
 */
function scrapeAlong(url: string) {
  const problems: string[] = [];
  let last: Map<string, number> | null = null;
  let latest: ParsedFamily[] = [];
  let scrapes = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const res = await scrape(url);
      if (res.status === 200) {
        const fams = parse(res.text);
        const now = counterSeries(fams);
        if (last) {
          for (const [key, before] of last) {
            const after = now.get(key);
            if (after === undefined) {
              if (DATABASE_COUNTERS.some((n) => key.startsWith(`${n}[`))) problems.push(`${key} vanished (was ${before})`);
            } else if (after < before) problems.push(`${key} went down: ${before} -> ${after}`);
          }
        }
        last = now;
        latest = fams;
        scrapes++;
      } else problems.push(`a scrape answered ${res.status}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  return {
    problems,
    latest: () => latest,
    scrapes: () => scrapes,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

describe("/metrics", () => {
  it("counts what the database holds after a chaos run scraped all along: counters never go down, labels stay bounded and sticky", async () => {
    const fast = { max_attempts: 3, initial_delay_ms: 10, max_delay_ms: 20, multiplier: 1 };
    // runs cost: odd prices, so sums of costs have 8 decimals that float sums would round
    const prices = { input_per_million: 0.37, output_per_million: 1.13 };
    const model = "default-secret-model-x1";
    const scraper = scrapeAlong(api.metricsUrl!);
    // a worker process that kills itself before committing step 2 (a tool call) of its run
    const crashAgent = await createAgent(
      db.pool,
      {
        provider: "scripted",
        model,
        prices,
        tools: ["echo"],
        script: [{ text: "calling", tool_calls: [{ name: "echo", arguments: { x: 1 } }] }, { text: "done" }],
      },
      "crashy",
    );
    spawned = await spawnWorker(db.url, { EVERRUNS_CRASH_AT: "before_commit:2", METRICS_PORT: "0" });
    const workerMetricsUrl = /metrics at (http:\/\/\S+\/metrics)/.exec(spawned.output())?.[1];
    expect(workerMetricsUrl, spawned.output()).toBeTruthy();
    const own = await scrape(workerMetricsUrl!); // the worker's own listener: no key, its process series only
    expect(own.status).toBe(200);
    expect(byName(parsePrometheusTextFormat(own.text), "everruns_steps_total")).toBeTruthy();
    expect(byName(parsePrometheusTextFormat(own.text), "everruns_runs_started_total")).toBeUndefined();
    const beforeCrash = Date.now();
    const crashRun = await startRun(db.pool, crashAgent);
    const died = await spawned.exited;
    expect(died.signal).toBe("SIGKILL");
    spawned = null;

    // this process's worker resumes it and runs the rest: successes, failures, retries, more agents than the cap
    worker = await startWorker({ databaseUrl: db.url, concurrency: 8, shutdownTimeoutMs: 2000, log: quietLog, scheduler: false });
    const crashDone = waitForStatus(db.pool, crashRun, ["succeeded"]).then((run) => ({ run, at: Date.now() }));
    const slowTurn = (i: number) => [{ text: `thinking ${i}`, delay_ms: 700, tool_calls: [{ name: "echo", arguments: { i } }] }, { text: `hi ${i}` }];
    const agents = [];
    for (let i = 0; i < MAX_LABELS + 2; i++)
      agents.push(await createAgent(db.pool, { provider: "scripted", model, prices, tools: ["echo"], script: slowTurn(i) }, `ok${i}`));
    const failing = await createAgent(db.pool, { provider: "scripted", model, prices, script: [{ text: "no", error: "bad_request", times: 1 }] }, "failing");
    const retrying = await createAgent(
      db.pool,
      { provider: "scripted", model, prices, retry: fast, script: [{ text: "late", error: "rate_limit", times: 1 }] },
      "retrying",
    );
    const runs = [crashRun];
    for (let i = 0; i < 2; i++) runs.push(await startRun(db.pool, agents[i]!));
    // the cap fills while those run (their usage still growing)
    await waitFor(
      "the cap to fill",
      () => values(scraper.latest(), "everruns_runs_started_total").filter((r) => r.labels.agent !== "_other").length >= MAX_LABELS,
      30_000,
      50,
    );
    for (let i = 0; i < 8; i++) runs.push(await startRun(db.pool, agents[i % agents.length]!));
    for (let i = 0; i < 3; i++) runs.push(await startRun(db.pool, failing));
    for (let i = 0; i < 2; i++) runs.push(await startRun(db.pool, retrying));
    const other = await createWorkspace(db.pool, "acme");
    const { rows: acmeAgent } = await db.pool.query<{ id: string }>(
      "insert into everruns.agents (workspace_id, name, config) values ($1, 'acme-agent', $2) returning id",
      [other.id, JSON.stringify({ provider: "scripted", model: "acme-model", script: [{ text: "acme" }] })],
    );
    runs.push(await startRun(db.pool, acmeAgent[0]!.id));
    // a late agent overtakes every kept one (runs started) while they run
    const late = await createAgent(db.pool, { provider: "scripted", model, prices, tools: ["echo"], script: slowTurn(9) }, "late");
    for (let i = 0; i < 6; i++) runs.push(await startRun(db.pool, late));
    for (const id of runs) await waitForStatus(db.pool, id, ["succeeded", "failed"]);
    const crashed = await crashDone;
    expect(crashed.run.status).toBe("succeeded");
    await new Promise((r) => setTimeout(r, 4500)); // past the settle window and two cache times: what was read live is settled
    await scraper.stop();
    expect(scraper.problems).toEqual([]);
    expect(scraper.scrapes()).toBeGreaterThan(10);
    const all = parse((await scrape(api.metricsUrl!)).text);

    const { rows: truth } = await db.pool.query<{ status: string; n: number; input: number; output: number; cost: string }>(
      `select status, count(*)::int as n, sum((usage->>'input_tokens')::numeric)::float8 as input,
              sum((usage->>'output_tokens')::numeric)::float8 as output, sum((usage->>'cost_usd')::numeric)::text as cost
         from everruns.runs group by status`,
    );
    const total = truth.reduce((a, r) => a + r.n, 0);
    expect(sum(values(all, "everruns_runs_started_total"))).toBe(total);
    for (const status of ["succeeded", "failed", "cancelled"]) {
      const want = truth.find((r) => r.status === status)?.n ?? 0;
      expect(sum(values(all, "everruns_runs_finished_total").filter((r) => r.labels.status === status)), status).toBe(want);
    }
    expect(truth.find((r) => r.status === "failed")?.n).toBeGreaterThanOrEqual(3);
    const tokens = values(all, "everruns_tokens_total");
    expect(sum(tokens.filter((r) => r.labels.type === "input"))).toBe(truth.reduce((a, r) => a + r.input, 0));
    expect(sum(tokens.filter((r) => r.labels.type === "output"))).toBe(truth.reduce((a, r) => a + r.output, 0));
    const costs = values(all, "everruns_cost_usd_total");
    const wantCost = truth.reduce((a, r) => a + Number(r.cost ?? 0), 0);
    expect(wantCost).toBeGreaterThan(0);
    // each series exact to 1e-8 USD: summed here in integer units, as the database does
    expect(costs.reduce((a, r) => a + Math.round(r.value * 1e8), 0)).toBe(Math.round(wantCost * 1e8));
    // bounded and sticky: at most MAX_LABELS (workspace, agent) pairs by name, the rest "_other";
    // the late agent, though it has the most runs, came after the cap filled
    const startedRows = values(all, "everruns_runs_started_total");
    const agentLabels = new Set(startedRows.map((r) => r.labels.agent));
    expect(agentLabels.has("_other")).toBe(true);
    expect(agentLabels.has("late")).toBe(false);
    expect(startedRows.filter((r) => r.labels.agent !== "_other").length).toBeLessThanOrEqual(MAX_LABELS);
    // a kept agent's series is exactly its runs
    for (const r of startedRows.filter((x) => x.labels.agent !== "_other" && x.labels.workspace === "default")) {
      const { rows } = await db.pool.query<{ n: number }>(
        "select count(*)::int as n from everruns.runs r join everruns.agents a on a.id = r.agent_id where a.name = $1",
        [r.labels.agent],
      );
      expect(r.value, r.labels.agent).toBe(rows[0]!.n);
    }
    expect(new Set(startedRows.map((r) => r.labels.workspace))).toEqual(new Set(["default", "acme"]));
    expect(sum(values(all, "everruns_workers_live"))).toBe(1);
    expect(values(all, "everruns_worker_slots").find((r) => r.labels.state === "total")?.value).toBe(8);
    expect(sum(values(all, "everruns_queue_depth"))).toBe(0);

    // the worker's histograms count the steps it committed (run_attempts: committed by its pool)
    const { rows: committed } = await db.pool.query<{ n: number }>(
      "select count(*)::int as n from everruns.run_attempts where outcome = 'committed' and pool_id = $1",
      [worker.poolId],
    );
    expect(histogramCount(all, "everruns_step_duration_seconds")).toBe(committed[0]!.n);
    const steps = values(all, "everruns_steps_total");
    expect(sum(steps.filter((r) => r.labels.outcome === "succeeded" || r.labels.outcome === "failed"))).toBe(committed[0]!.n);
    expect(sum(steps.filter((r) => r.labels.outcome === "retried"))).toBe(2);
    expect(sum(values(all, "everruns_step_retries_total").filter((r) => r.labels.reason === "rate_limit" && r.labels.provider === "scripted"))).toBe(2);
    const { rows: llmCalls } = await db.pool.query<{ n: number }>(
      // a retried attempt ends before its step kind is recorded: here every retry is an LLM call's
      "select count(*)::int as n from everruns.run_attempts where pool_id = $1 and ((step_kind = 'llm' and outcome = 'committed') or outcome = 'retried')",
      [worker.poolId],
    );
    expect(histogramCount(all, "everruns_llm_request_duration_seconds")).toBe(llmCalls[0]!.n);
    expect(histogramCount(all, "gen_ai_client_token_usage", (l) => l.gen_ai_token_type === "input")).toBeGreaterThan(0);
    // the killed worker's step resumed here: one resume after a crash, within the time from the run's start (before the kill) to its success
    const resumed = await waitFor("the resume latency to be read", async () => {
      const fams = parse((await scrape(api.metricsUrl!)).text);
      return histogramCount(fams, "everruns_resume_after_crash_seconds") === 1 ? fams : undefined;
    });
    const resumeSum = sum(values(resumed, "everruns_resume_after_crash_seconds_sum"));
    expect(resumeSum).toBeGreaterThanOrEqual(0);
    expect(resumeSum).toBeLessThanOrEqual((crashed.at - beforeCrash) / 1000);
    // every run's first step here (all but the crashed one's), each within the test's time
    expect(histogramCount(all, "everruns_queue_to_first_step_seconds")).toBe(runs.length - 1);
    const queueSum = sum(values(all, "everruns_queue_to_first_step_seconds_sum"));
    expect(queueSum).toBeGreaterThanOrEqual(0);
    expect(queueSum).toBeLessThanOrEqual(((Date.now() - beforeCrash) / 1000) * (runs.length - 1));
  }, 180_000);

  it("on the API's port: a workspace admin's key sees its workspace only, others are refused", async () => {
    const { rows } = await db.pool.query<{ id: string }>("select id from everruns.workspaces where name = 'acme'");
    const acmeAdmin = await createTestKey(db.url, { workspaceId: rows[0]!.id, name: "acme-admin" });
    expect((await scrape(`${api.url}/healthz`)).status).toBe(200);
    const res = await scrape(`${api.url}/metrics`, bearer(acmeAdmin));
    expect(res.status).toBe(200);
    const fams = parse(res.text);
    const workspaces = new Set(values(fams, "everruns_runs_started_total").map((r) => r.labels.workspace));
    expect(workspaces).toEqual(new Set(["acme"]));
    expect(sum(values(fams, "everruns_runs_started_total"))).toBe(1);
    expect(res.text).not.toContain('workspace="default"');
    // nothing of another workspace from this process's own series: models, providers, agents, retries
    expect(res.text).not.toContain("default-secret-model");
    expect(res.text).not.toContain("scripted");
    expect(res.text).not.toContain("everruns_steps_total");
    expect(res.text).not.toContain("gen_ai_client_token_usage");
    expect(res.text).toContain("process_cpu_seconds_total"); // the process's label-free ones stay
    expect(histogramCount(fams, "everruns_http_request_duration_seconds")).toBeGreaterThan(0); // the process's own series too
    const routes = new Set(values(fams, "everruns_http_request_duration_seconds_count").map((r) => r.labels.route));
    expect(routes.has("/healthz")).toBe(true);
    for (const route of routes) expect(route).not.toMatch(/[0-9a-f]{8}-/); // templates, never raw ids

    const operator = await createTestKey(db.url, { role: "operator" });
    const forbidden = await scrape(`${api.url}/metrics`, bearer(operator));
    expect(forbidden.status).toBe(403);
    expect((JSON.parse(forbidden.text) as { error: { code: string } }).error.code).toBe("forbidden");
    const anonymous = await scrape(`${api.url}/metrics`);
    expect(anonymous.status).toBe(401);
    expect((JSON.parse(anonymous.text) as { error: { code: string } }).error.code).toBe("unauthenticated");
  });

  it("times the delivery of live events to an SSE follower", async () => {
    const slow = await createAgent(db.pool, { provider: "scripted", script: [{ text: "one two three four five six", delay_ms: 600 }] }, "slow");
    const key = await createTestKey(db.url, { name: "follower", role: "viewer" });
    const run = await startRun(db.pool, slow);
    const res = await fetch(`${api.url}/api/runs/${run}/events`, { headers: bearer(key) });
    expect(res.status).toBe(200);
    const body = await res.text(); // to the run's end
    expect(body).toContain("RUN_FINISHED");
    const fams = parse((await scrape(api.metricsUrl!)).text);
    const lag = values(fams, "everruns_event_delivery_lag_seconds_count").filter((r) => r.labels.transport === "sse");
    expect(sum(lag)).toBeGreaterThan(0);
    // replayed events are not counted: fewer than the run's events were live
    const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.run_events where run_id = $1", [run]);
    expect(sum(lag)).toBeLessThanOrEqual(rows[0]!.n);
    expect(sum(values(fams, "everruns_event_delivery_lag_seconds_sum"))).toBeLessThan(sum(lag) * 5); // seconds, not ms or epoch
  });

  it("a burst of scrapes costs one database read", async () => {
    await new Promise((r) => setTimeout(r, 2100)); // the cached snapshot expired
    const before = api.metrics.database.reads;
    const key = await createTestKey(db.url, { name: "burst" });
    const answers = await Promise.all([
      ...Array.from({ length: 10 }, () => scrape(api.metricsUrl!)),
      ...Array.from({ length: 10 }, () => scrape(`${api.url}/metrics`, bearer(key))),
    ]);
    for (const a of answers) expect(a.status).toBe(200);
    expect(api.metrics.database.reads - before).toBe(1);
  });

  it("counts an interrupted run's usage once, before and after it is continued", async () => {
    const agent = await createAgent(
      db.pool,
      {
        provider: "scripted",
        prices: { input_per_million: 0.37, output_per_million: 1.13 },
        script: [{ tool_calls: [{ name: "client_tool", arguments: {} }] }, { text: "thanks" }],
      },
      "asker",
    );
    const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
      agent,
      { messages: [{ role: "user", content: "hello" }], tools: [{ name: "client_tool" }] },
    ]);
    const first = rows[0]!.id;
    await waitForStatus(db.pool, first, ["interrupted"], 15_000);
    const endpoint = new MetricsEndpoint(db.pool, { maxLabelValues: 1000, settleSeconds: 1, cacheMs: 0 });
    const agrees = async () => {
      const fams = parse(await endpoint.render("all"));
      const { rows: truth } = await db.pool.query<{ input: number; e8: number }>(
        "select sum((usage->>'input_tokens')::numeric)::float8 as input, sum(round((usage->>'cost_usd')::numeric * 1e8))::float8 as e8 from everruns.runs",
      );
      expect(sum(values(fams, "everruns_tokens_total").filter((r) => r.labels.type === "input"))).toBe(truth[0]!.input);
      expect(values(fams, "everruns_cost_usd_total").reduce((a, r) => a + Math.round(r.value * 1e8), 0)).toBe(truth[0]!.e8);
      return fams;
    };
    const interrupted = await agrees();
    expect(sum(values(interrupted, "everruns_runs_interrupted"))).toBe(1);
    const { interrupts } = (
      await db.pool.query<{ interrupts: { interrupts: { id: string }[] } }>("select interrupts from everruns.runs where id = $1", [first])
    ).rows[0]!.interrupts;
    await db.pool.query("select everruns.resume_run($1, $2)", [first, JSON.stringify(interrupts.map((i) => ({ interruptId: i.id, status: "cancelled" })))]);
    const { rows: next } = await db.pool.query<{ continued_by: string }>("select continued_by from everruns.runs where id = $1", [first]);
    await waitForStatus(db.pool, next[0]!.continued_by, ["succeeded", "failed"], 15_000);
    expect(sum(values(await agrees(), "everruns_runs_interrupted"))).toBe(0); // the continuation live
    await new Promise((r) => setTimeout(r, 1500));
    await agrees(); // settled through its continuation: once
  });

  it("a process's first read catches up in bounded windows and agrees with one that read it whole", async () => {
    const { rows } = await db.pool.query<{ span: number; n: number }>(
      "select extract(epoch from max(created_at) - min(created_at))::float8 as span, count(*)::int as n from everruns.runs",
    );
    expect(rows[0]!.span).toBeGreaterThan(3); // the runs above span several seconds
    // windows of 1 s: one statement per second of runs, each kept as it is read
    const windowed = new MetricsEndpoint(db.pool, { maxLabelValues: 1000, settleSeconds: 0, windowSeconds: 1 });
    const whole = new MetricsEndpoint(db.pool, { maxLabelValues: 1000, settleSeconds: 0 });
    const [a, b] = [parse(await windowed.render("all")), parse(await whole.render("all"))];
    expect(whole.database.reads).toBe(1);
    expect(windowed.database.reads).toBeGreaterThanOrEqual(Math.floor(rows[0]!.span));
    for (const name of DATABASE_COUNTERS) {
      const key = (r: { labels: Record<string, string>; value: number }) => `${JSON.stringify(r.labels)}=${r.value}`;
      expect(values(a, name).map(key).sort(), name).toEqual(values(b, name).map(key).sort());
    }
    expect(sum(values(a, "everruns_runs_started_total"))).toBe(rows[0]!.n);
  });

  it("a warm-up catches up window by window, pausing before each, and leaves the first scrape one read that agrees", async () => {
    const warmed = new MetricsEndpoint(db.pool, { maxLabelValues: 1000, settleSeconds: 0, windowSeconds: 1 });
    const whole = new MetricsEndpoint(db.pool, { maxLabelValues: 1000, settleSeconds: 0 });
    let pauses = 0;
    await warmed.database.warmUp(() => {
      pauses++;
      return Promise.resolve();
    }, new AbortController().signal);
    expect(warmed.database.reads).toBeGreaterThan(3); // the runs above span several seconds: several windows
    expect(pauses).toBe(warmed.database.reads); // a pause before each window
    const afterWarmUp = warmed.database.reads;
    const [a, b] = [parse(await warmed.render("all")), parse(await whole.render("all"))];
    expect(warmed.database.reads - afterWarmUp).toBe(1); // caught up: the scrape's read is one window
    for (const name of DATABASE_COUNTERS) {
      const key = (r: { labels: Record<string, string>; value: number }) => `${JSON.stringify(r.labels)}=${r.value}`;
      expect(values(a, name).map(key).sort(), name).toEqual(values(b, name).map(key).sort());
    }

    // an aborted warm-up stops before its next window; a scrape then reads the rest
    const stopped = new MetricsEndpoint(db.pool, { maxLabelValues: 1000, settleSeconds: 0, windowSeconds: 1 });
    const abort = new AbortController();
    await stopped.database.warmUp(() => {
      if (stopped.database.reads === 2) abort.abort();
      return Promise.resolve();
    }, abort.signal);
    expect(stopped.database.reads).toBe(2);
    const c = parse(await stopped.render("all"));
    expect(sum(values(c, "everruns_runs_started_total"))).toBe(sum(values(b, "everruns_runs_started_total")));
  });

  it("without a METRICS_PORT the API reads nothing for metrics at start; its first scrape reads the totals", async () => {
    const quiet = await startApi({ databaseUrl: db.url, port: 0, log: quietLog, graphiql: false, metrics: { maxLabelValues: 1000 } });
    try {
      expect(quiet.metricsUrl).toBeUndefined();
      await new Promise((r) => setTimeout(r, 1_000)); // several of the warm-up's pauses
      expect(quiet.metrics.database.reads).toBe(0);
      const { rows } = await db.pool.query<{ id: string; n: number }>(
        "select w.id, (select count(*)::int from everruns.runs r where r.workspace_id = w.id) as n from everruns.workspaces w where w.name = 'default'",
      );
      const key = await createTestKey(db.url, { workspaceId: rows[0]!.id, name: "first-scrape" });
      const res = await scrape(`${quiet.url}/metrics`, bearer(key));
      expect(res.status).toBe(200);
      expect(quiet.metrics.database.reads).toBeGreaterThanOrEqual(1);
      expect(rows[0]!.n).toBeGreaterThan(0);
      expect(sum(values(parse(res.text), "everruns_runs_started_total"))).toBe(rows[0]!.n);
    } finally {
      await quiet.close();
    }
  });

  it("with a METRICS_PORT the API catches up after its start, before any scrape", async () => {
    const warm = await startApi({ databaseUrl: db.url, port: 0, log: quietLog, graphiql: false, metrics: { port: 0, maxLabelValues: 1000 } });
    try {
      expect(warm.metrics.database.reads).toBe(0); // nothing read during the start
      await waitFor("the warm-up's read", () => warm.metrics.database.reads > 0, 10_000);
      const reads = warm.metrics.database.reads;
      const res = await scrape(warm.metricsUrl!);
      expect(res.status).toBe(200);
      expect(warm.metrics.database.reads - reads).toBe(1); // caught up already: one window
      const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs");
      expect(sum(values(parse(res.text), "everruns_runs_started_total"))).toBe(rows[0]!.n);
    } finally {
      await warm.close();
    }
  });

  it("the snapshot function refuses to run inside a workspace's request (everruns_api with a workspace set)", async () => {
    const { rows } = await db.pool.query<{ id: string }>("select id from everruns.workspaces where name = 'default'");
    const client = await db.pool.connect();
    try {
      await client.query("begin");
      await client.query("set local role everruns_api");
      await client.query("select set_config('everruns.workspace_id', $1, true)", [rows[0]!.id]);
      await expect(client.query("select everruns_private.metrics_snapshot(null, 120, 604800)")).rejects.toMatchObject({ code: "42501" });
    } finally {
      await client.query("rollback");
      client.release();
    }
  });

  it("the METRICS_PORT listener refuses connections once the API is closed", async () => {
    const url = api.metricsUrl!;
    expect((await scrape(url)).status).toBe(200);
    await api.close();
    await expect(fetch(url)).rejects.toThrow();
  });
});
