// `everruns fuzz`: property-based fuzzing (fast-check) of every way in — the REST routes, the
// AG-UI endpoint, GraphQL (mutations and hostile documents), plain SQL (insert into
// everruns.runs / agents, resume_run, send_event) and agent configs run by a worker — with
// generated hostile input (scripts/fuzz/arbitraries.ts). Properties (scripts/fuzz/properties.ts):
// every answer is a 2xx or a 4xx naming what is wrong (GraphQL: errors with messages, never an
// internal error; SQL: success or a SQLSTATE we map), never a 5xx; afterwards the API process is
// alive with its peak RSS under a bound, every run has settled (terminal, waiting or interrupted)
// and nothing is half-written (a thread without a run, an agent without its version).
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { createPool, type Pool } from "../../db/pool.ts";
import { freePort } from "../../lib/free-port.ts";
import { sleep } from "../../lib/sleep.ts";
import { parseFlags } from "../harness/args.ts";
import { withScratchDatabase } from "../harness/databases.ts";
import { spawnApiProcess, spawnWorkerProcess, type ApiProcess, type WorkerProcess } from "../harness/processes.ts";
import {
  hostileAgentConfig,
  hostileAgUiInput,
  hostileBodyText,
  hostileGraphqlDocument,
  hostileJson,
  hostileResume,
  hostileRunInput,
  runInput,
  hostileString,
  orHostile,
  validishRunInput,
  workerAgentConfig,
} from "./arbitraries.ts";
import { describeValue, graphqlAnswerProblem, restAnswerProblem, sqlErrorProblem, type HttpAnswer } from "./properties.ts";
import {
  fuzzAgentsWithoutVersion,
  fuzzInsertAgent,
  fuzzInsertRun,
  fuzzResumeRun,
  fuzzRunCensus,
  fuzzSendEvent,
  fuzzTargets,
  fuzzThreadHasNoRun,
  fuzzThreadsWithoutRuns,
  fuzzAgentExists,
  fuzzUnsettledRuns,
  type FuzzTargets,
} from "./sql.ts";

/** The agents every surface may start runs of: each settles within seconds. */
export const FUZZ_AGENTS: Record<string, Record<string, unknown>> = {
  "fuzz-echo": { provider: "scripted", model: "fuzz", tools: ["echo"], script: [{ tool_calls: [{ name: "echo", arguments: { x: 1 } }] }, { text: "ok" }] },
  "fuzz-waiter": {
    provider: "scripted",
    model: "fuzz",
    tools: ["wait_for_event"],
    script: [{ tool_calls: [{ name: "wait_for_event", arguments: { name: "go", timeout_seconds: 3600 } }] }, { text: "done" }],
  },
  "fuzz-approve": {
    provider: "scripted",
    model: "fuzz",
    tools: [{ name: "echo", requires_approval: true }],
    script: [{ tool_calls: [{ name: "echo", arguments: { x: 1 } }] }, { text: "done" }],
  },
};
const AGENT_NAMES = Object.keys(FUZZ_AGENTS);

export interface FuzzFailure {
  surface: string;
  seed: number;
  path: string | undefined;
  counterexample: string;
  error: string;
  shrinks: number;
}

export interface FuzzReport {
  /** cases tried per surface */
  cases: Record<string, number>;
  failures: FuzzFailure[];
  /** problems of the whole run: the API died, RSS over the bound, runs unsettled, half-written rows */
  problems: string[];
  apiPeakRssMb: number;
  runs: Record<string, number>;
  seed: number;
}

export interface FuzzOptions {
  databaseUrl: string;
  /** cases per surface per round */
  numRuns: number;
  /** keep doing rounds until this much time has passed (0: one round) */
  durationMs: number;
  seed: number;
  /** only these surfaces (all when absent) */
  surfaces?: readonly string[];
  /** the API process's peak RSS (VmHWM) must stay under this */
  rssLimitMb: number;
  /** how long runs may take to settle once the cases are done */
  settleMs: number;
  workerConcurrency: number;
  log: (line: string) => void;
}

export const FUZZ_DEFAULTS = { numRuns: 100, durationMs: 0, rssLimitMb: 512, settleMs: 60_000, workerConcurrency: 4 } as const;

/** A request's answer: status and body, or for an SSE stream only its status and type (the stream is dropped). */
async function request(api: ApiProcess, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error("no answer within 20 s")), 20_000);
  try {
    const res = await api.fetch(`${api.url}${path}`, {
      method,
      body,
      headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
      signal: controller.signal,
    });
    const contentType = res.headers.get("content-type") ?? "";
    if (contentType.startsWith("text/event-stream")) {
      controller.abort();
      await res.body?.cancel().catch(() => undefined);
      return { status: res.status, contentType, body: "" };
    }
    return { status: res.status, contentType, body: await res.text() };
  } catch (error) {
    throw new Error(`no answer to ${method} ${path.slice(0, 100)}: ${(error as Error).message} (is the API alive? ${api.alive()})`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

/** A path segment from any string: every UTF-8 byte percent-encoded (lone surrogates become U+FFFD). */
function segment(s: string): string {
  return [...Buffer.from(s, "utf8")].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
}

/** Path segments sent as they are (not encoded again). */
const RAW_SEGMENTS = ["%00", "..%2f..", "a%2Fb", "%F0%9F%99%82", "%2e%2e", "%20"];
/**
 * Malformed percent-encoding in a route parameter.
 * (The router's URIError, "Failed to decode param", was answered 500 until api/http-errors.ts
 * honoured its status: found here.)
 */
const MALFORMED_SEGMENTS = ["%", "%zz", "%ED%A0%80", "%C0%AF", "%E0%80"];
const SEGMENTS = [...RAW_SEGMENTS, ...MALFORMED_SEGMENTS];

/** A run reference: one of the known runs (by index), a random UUID, or a hostile string. */
type RunRef = { target: number } | { uuid: string } | { raw: string } | { rawSegment: string };
const runRef = (): fc.Arbitrary<RunRef> =>
  fc.oneof(
    { weight: 5, arbitrary: fc.nat().map((target) => ({ target })) },
    { weight: 1, arbitrary: fc.uuid().map((uuid) => ({ uuid })) },
    { weight: 2, arbitrary: hostileString.map((raw) => ({ raw })) },
    { weight: 1, arbitrary: fc.constantFrom(...SEGMENTS).map((rawSegment) => ({ rawSegment })) },
  );

function refId(ref: RunRef, targets: FuzzTargets): string {
  if ("target" in ref) return targets.runIds.length ? targets.runIds[ref.target % targets.runIds.length]! : "00000000-0000-0000-0000-000000000000";
  if ("uuid" in ref) return ref.uuid;
  return "raw" in ref ? ref.raw : ref.rawSegment;
}
function refSegment(ref: RunRef, targets: FuzzTargets): string {
  return "rawSegment" in ref ? ref.rawSegment : segment(refId(ref, targets));
}

const interruptIds = (targets: () => FuzzTargets): fc.Arbitrary<string> =>
  fc.oneof(
    fc.nat().map((i) => {
      const ids = targets().interruptIds;
      return ids.length ? ids[i % ids.length]! : "none";
    }),
    hostileString,
  );

interface Surface {
  name: string;
  property(ctx: Ctx): fc.IAsyncProperty<[unknown]>;
}

interface Ctx {
  api: ApiProcess;
  pool: Pool;
  targets: () => FuzzTargets;
  counter: () => number;
}

function prop<T>(arb: fc.Arbitrary<T>, check: (value: T) => Promise<string | null>): fc.IAsyncProperty<[unknown]> {
  return fc.asyncProperty(arb, async (value) => {
    const problem = await check(value);
    if (problem) throw new Error(problem);
  });
}

const isUuid = (v: unknown): v is string => typeof v === "string" && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v);
const uuidOrHostile = orHostile(fc.uuid());

/** After a refusal: a thread the request named must not exist without a run. */
async function threadLeftBehind(pool: Pool, threadId: unknown): Promise<string | null> {
  if (!isUuid(threadId)) return null;
  return (await fuzzThreadHasNoRun(pool, threadId)) ? `a refused request left thread ${threadId} behind without a run` : null;
}

const SURFACES: Surface[] = [
  {
    name: "rest.start_run",
    property: ({ api, pool }) =>
      prop(
        orHostile(
          fc.record(
            {
              agent: orHostile(fc.constantFrom(...AGENT_NAMES), 4),
              input: fc.oneof(runInput(), validishRunInput),
              thread_id: orHostile(fc.uuid()),
            },
            { requiredKeys: ["agent", "input"] },
          ),
          6,
        ),
        async (body) => {
          const answer = await request(api, "POST", "/api/runs", JSON.stringify(body) ?? "null");
          const problem = restAnswerProblem(answer);
          if (problem || answer.status < 400) return problem;
          return threadLeftBehind(pool, (body as { thread_id?: unknown } | null)?.thread_id);
        },
      ),
  },
  {
    name: "rest.raw_body",
    property: ({ api, targets }) =>
      prop(
        fc.record({
          route: fc.constantFrom("runs", "resume", "signals", "agui", "graphql"),
          text: hostileBodyText,
          contentType: fc.constantFrom(
            "application/json",
            "application/json; charset=utf-16",
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/graphql",
            "",
          ),
          target: fc.nat(),
        }),
        async ({ route, text, contentType, target }) => {
          const run = refSegment({ target }, targets());
          const path = {
            runs: "/api/runs",
            resume: `/api/runs/${run}/resume`,
            signals: `/api/runs/${run}/signals`,
            agui: "/api/agents/fuzz-echo/agui",
            graphql: "/graphql",
          }[route];
          const answer = await request(api, "POST", path, text, { "content-type": contentType });
          return route === "graphql" ? graphqlAnswerProblem(answer) : restAnswerProblem(answer, { sse: route === "agui" });
        },
      ),
  },
  {
    name: "rest.run_ops",
    property: ({ api, targets }) =>
      prop(
        fc.record({
          op: fc.constantFrom("get", "cancel", "resume", "signals", "events"),
          run: runRef(),
          resume: fc.oneof(
            hostileResume(interruptIds(targets)).map((resume) => ({ resume })),
            hostileJson,
          ),
          signal: orHostile(fc.record({ name: orHostile(fc.constantFrom("go", "x")), payload: hostileJson }, { requiredKeys: ["name"] })),
          lastEventId: fc.option(
            fc.oneof(
              fc.constantFrom("-1", "0", "1", "1e308", "abc", "99999999999999999999", "2147483648", "9007199254740993", "1.5", " 1", "", "0x10"),
              fc.nat().map(String),
            ),
            { nil: undefined },
          ),
        }),
        async ({ op, run, resume, signal, lastEventId }) => {
          const base = `/api/runs/${refSegment(run, targets())}`;
          let answer: HttpAnswer;
          if (op === "get") answer = await request(api, "GET", base);
          else if (op === "cancel") answer = await request(api, "POST", `${base}/cancel`, "{}");
          else if (op === "resume") answer = await request(api, "POST", `${base}/resume`, JSON.stringify(resume) ?? "null");
          else if (op === "signals") answer = await request(api, "POST", `${base}/signals`, JSON.stringify(signal) ?? "null");
          else answer = await request(api, "GET", `${base}/events`, undefined, lastEventId === undefined ? {} : { "last-event-id": lastEventId });
          return restAnswerProblem(answer, { sse: op === "events" });
        },
      ),
  },
  {
    name: "agui",
    property: ({ api, pool }) =>
      prop(
        fc.record({
          agent: fc.oneof(
            { weight: 5, arbitrary: fc.constantFrom(...AGENT_NAMES).map(segment) },
            { weight: 1, arbitrary: hostileString.map(segment) },
            { weight: 1, arbitrary: fc.constantFrom(...SEGMENTS) },
          ),
          input: hostileAgUiInput,
        }),
        async ({ agent, input }) => {
          const answer = await request(api, "POST", `/api/agents/${agent}/agui`, JSON.stringify(input) ?? "null");
          const problem = restAnswerProblem(answer, { sse: true });
          if (problem || answer.status < 400) return problem;
          return threadLeftBehind(pool, (input as { threadId?: unknown } | null)?.threadId);
        },
      ),
  },
  {
    name: "graphql.mutations",
    property: ({ api, pool, targets, counter }) =>
      prop(
        fc.oneof(
          fc
            .record({
              agent: orHostile(fc.constantFrom(...AGENT_NAMES)),
              input: fc.oneof(runInput(), validishRunInput),
              threadId: fc.option(uuidOrHostile, { nil: null }),
            })
            .map((variables) => ({
              query:
                "mutation($agent: String!, $input: JSON!, $threadId: UUID) { startRun(agent: $agent, input: $input, threadId: $threadId) { run { id status } } }",
              variables,
            })),
          fc.record({ run: runRef(), name: orHostile(fc.constantFrom("go", "x")), payload: hostileJson }).map(({ run, name, payload }) => ({
            query: "mutation($runId: UUID!, $name: String!, $payload: JSON) { sendEvent(runId: $runId, name: $name, payload: $payload) { woke } }",
            variables: { runId: run, name, payload },
          })),
          fc.record({ run: runRef(), resume: hostileResume(interruptIds(targets)) }).map(({ run, resume }) => ({
            query: "mutation($runId: UUID!, $resume: JSON!) { resumeRun(runId: $runId, resume: $resume) { runId } }",
            variables: { runId: run, resume },
          })),
          fc.record({ run: runRef() }).map(({ run }) => ({
            query: "mutation($runId: UUID!) { cancelRun(runId: $runId) { __typename } }",
            variables: { runId: run },
          })),
          fc.record({ name: orHostile(fc.constant("gql-agent"), 2), config: hostileAgentConfig }).map(({ name, config }) => ({
            query: "mutation($input: CreateAgentInput!) { createAgent(input: $input) { agent { id name version } } }",
            variables: { input: { agent: { name, config } } },
            agentName: name,
          })),
          // any variables at all: wrong types in every slot
          fc.record({ which: fc.constantFrom("startRun", "sendEvent", "resumeRun", "createAgent"), variables: hostileJson }).map(({ which, variables }) => ({
            query: {
              startRun: "mutation($agent: String!, $input: JSON!) { startRun(agent: $agent, input: $input) { __typename } }",
              sendEvent: "mutation($runId: UUID!, $name: String!, $payload: JSON) { sendEvent(runId: $runId, name: $name, payload: $payload) { woke } }",
              resumeRun: "mutation($runId: UUID!, $resume: JSON!) { resumeRun(runId: $runId, resume: $resume) { runId } }",
              createAgent: "mutation($input: CreateAgentInput!) { createAgent(input: $input) { __typename } }",
            }[which],
            variables,
          })),
        ),
        async (op) => {
          const o = op as { query: string; variables: unknown; agentName?: unknown };
          let variables = o.variables;
          if (variables && typeof variables === "object" && !Array.isArray(variables)) {
            const v = { ...(variables as Record<string, unknown>) };
            if (v.runId && typeof v.runId === "object") v.runId = refId(v.runId as RunRef, targets());
            // a unique, valid name, so a successful createAgent does not collide with the last one
            let agentName: string | null = null;
            const input = v.input as { agent?: { name?: unknown } } | undefined;
            if (o.agentName === "gql-agent" && input?.agent) {
              agentName = `gql-agent-${counter()}`;
              v.input = { agent: { ...input.agent, name: agentName } };
            }
            variables = v;
            const answer = await request(api, "POST", "/graphql", JSON.stringify({ query: o.query, variables }));
            const problem = graphqlAnswerProblem(answer);
            if (problem) return problem;
            const body = JSON.parse(answer.body) as { errors?: unknown[] };
            if (agentName && body.errors && (await fuzzAgentExists(pool, agentName))) return `a refused createAgent left agent ${agentName} behind`;
            if (body.errors && "threadId" in v) return threadLeftBehind(pool, v.threadId);
            return null;
          }
          return graphqlAnswerProblem(await request(api, "POST", "/graphql", JSON.stringify({ query: o.query, variables })));
        },
      ),
  },
  {
    name: "graphql.documents",
    property: ({ api }) =>
      prop(fc.record({ query: orHostile(hostileGraphqlDocument, 6), variables: fc.option(hostileJson, { nil: undefined }) }), async (body) =>
        graphqlAnswerProblem(await request(api, "POST", "/graphql", JSON.stringify(body))),
      ),
  },
  {
    name: "sql.insert_runs",
    property: ({ pool, targets }) =>
      prop(
        fc.record({
          agent: fc.oneof(
            { weight: 4, arbitrary: fc.nat().map((i) => ({ agentIndex: i })) },
            { weight: 1, arbitrary: fc.uuid().map((uuid) => ({ uuid })) },
            { weight: 1, arbitrary: hostileString.map((raw) => ({ raw })) },
          ),
          input: fc.oneof(
            hostileRunInput.map((v) => JSON.stringify(v) ?? "null"),
            validishRunInput.map((v) => JSON.stringify(v)),
            hostileBodyText,
          ),
          thread: fc.option(fc.oneof(fc.uuid(), fc.nat().map(String), hostileString), { nil: null }),
        }),
        async ({ agent, input, thread }) => {
          const t = targets();
          const agentId = "agentIndex" in agent ? t.agentIds[agent.agentIndex % t.agentIds.length]! : "uuid" in agent ? agent.uuid : agent.raw;
          const threadId = thread !== null && /^\d+$/.test(thread) && t.threadIds.length ? t.threadIds[Number(thread) % t.threadIds.length]! : thread;
          try {
            await fuzzInsertRun(pool, agentId, input, threadId);
            return null;
          } catch (error) {
            return sqlErrorProblem(error) ?? (await threadLeftBehind(pool, threadId));
          }
        },
      ),
  },
  {
    name: "sql.insert_agents",
    property: ({ pool, counter }) =>
      prop(
        fc.record({
          name: fc.oneof(fc.constant(null), hostileString),
          config: fc.oneof(
            hostileAgentConfig.map((c) => JSON.stringify(c) ?? "null"),
            hostileBodyText,
          ),
        }),
        async ({ name, config }) => {
          const agentName = name ?? `sql-agent-${counter()}`;
          try {
            await fuzzInsertAgent(pool, agentName, config);
            return null;
          } catch (error) {
            const problem = sqlErrorProblem(error);
            if (problem) return problem;
            if (name === null && (await fuzzAgentExists(pool, agentName))) return `a refused insert left agent ${agentName} behind`;
            return null;
          }
        },
      ),
  },
  {
    name: "sql.resume_run",
    property: ({ pool, targets }) =>
      prop(
        fc.record({
          run: runRef(),
          resume: fc.oneof(
            hostileResume(interruptIds(targets)).map((v) => JSON.stringify(v) ?? "null"),
            hostileBodyText,
          ),
        }),
        async ({ run, resume }) => {
          try {
            await fuzzResumeRun(pool, refId(run, targets()), resume);
            return null;
          } catch (error) {
            return sqlErrorProblem(error);
          }
        },
      ),
  },
  {
    name: "sql.send_event",
    property: ({ pool, targets }) =>
      prop(
        fc.record({
          run: runRef(),
          name: orHostile(fc.constantFrom("go", "x")).map((n) => (typeof n === "string" ? n : (JSON.stringify(n) ?? ""))),
          payload: fc.oneof(
            hostileJson.map((v) => JSON.stringify(v) ?? "null"),
            hostileBodyText,
            fc.constant(null),
          ),
        }),
        async ({ run, name, payload }) => {
          try {
            await fuzzSendEvent(pool, refId(run, targets()), name, payload);
            return null;
          } catch (error) {
            return sqlErrorProblem(error);
          }
        },
      ),
  },
  {
    name: "worker.agent_configs",
    property: ({ api, pool, counter }) =>
      prop(fc.record({ config: workerAgentConfig, input: fc.oneof(validishRunInput, runInput()) }), async ({ config, input }) => {
        const name = `worker-agent-${counter()}`;
        try {
          await fuzzInsertAgent(pool, name, JSON.stringify(config));
        } catch (error) {
          return sqlErrorProblem(error); // a config Postgres cannot store (NUL): refused, nothing to run
        }
        return restAnswerProblem(await request(api, "POST", "/api/runs", JSON.stringify({ agent: name, input })));
      }),
  },
];

export const SURFACE_NAMES = SURFACES.map((s) => s.name);

function vmKb(pid: number, field: "VmRSS" | "VmHWM"): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Starts the API and a worker on `databaseUrl`, fires every surface, checks the whole-run properties. */
export async function runFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const log = opts.log;
  const surfaces = opts.surfaces ? SURFACES.filter((s) => opts.surfaces!.includes(s.name)) : SURFACES;
  const pool = createPool(opts.databaseUrl, "everruns-fuzz", 4);
  let api: ApiProcess | null = null;
  let worker: WorkerProcess | null = null;
  const report: FuzzReport = { cases: {}, failures: [], problems: [], apiPeakRssMb: 0, runs: {}, seed: opts.seed };
  let peakRssKb = 0;
  const sampler = setInterval(() => {
    if (api) peakRssKb = Math.max(peakRssKb, vmKb(api.pid, "VmRSS") ?? 0);
  }, 500);
  try {
    for (const [name, config] of Object.entries(FUZZ_AGENTS)) await fuzzInsertAgent(pool, name, JSON.stringify(config));
    [api, worker] = await Promise.all([spawnApiProcess(opts.databaseUrl, await freePort()), spawnWorkerProcess(opts.databaseUrl, opts.workerConcurrency)]);
    const a = api;
    log(`API ${a.url} (pid ${a.pid}) and a worker (concurrency ${opts.workerConcurrency}) are up; seed ${opts.seed}`);
    // runs to aim at: some waiting for an event, some interrupted, some finished
    for (const agent of [...AGENT_NAMES, ...AGENT_NAMES]) {
      await request(a, "POST", "/api/runs", JSON.stringify({ agent, input: { messages: [{ role: "user", content: "target" }] } }));
    }
    await sleep(1000);
    let targets = await fuzzTargets(pool);
    let n = 0;
    const ctx: Ctx = { api: a, pool, targets: () => targets, counter: () => ++n };
    const deadline = Date.now() + opts.durationMs;
    for (let round = 0; ; round++) {
      for (const [i, surface] of surfaces.entries()) {
        targets = await fuzzTargets(pool);
        const seed = (opts.seed + round * 1009 + i * 7919) % 2 ** 31;
        const remaining = deadline - Date.now();
        const started = Date.now();
        const result = await fc.check(surface.property(ctx), {
          numRuns: opts.numRuns,
          seed,
          // a long run stops at its deadline (shrinking a failure included); one round is never cut short
          ...(round > 0 ? { interruptAfterTimeLimit: Math.max(1000, remaining), markInterruptAsFailure: false } : {}),
        });
        report.cases[surface.name] = (report.cases[surface.name] ?? 0) + result.numRuns;
        if (result.failed) {
          const failure: FuzzFailure = {
            surface: surface.name,
            seed,
            path: result.counterexamplePath ?? undefined,
            counterexample: describeValue(result.counterexample?.[0]),
            error: result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance),
            shrinks: result.numShrinks,
          };
          report.failures.push(failure);
          log(
            `FAIL ${surface.name} (seed ${seed}, path ${failure.path}, ${failure.shrinks} shrinks): ${failure.error}\n  counterexample: ${failure.counterexample}`,
          );
        }
        if (round === 0 || opts.durationMs > 60_000)
          log(`${surface.name}: ${result.numRuns} cases in ${Date.now() - started} ms${result.failed ? ", FAILED" : ""} (round ${round + 1})`);
        if (!a.alive()) break;
      }
      if (!a.alive() || Date.now() >= deadline) break;
    }

    // the API must have survived, within its memory bound
    if (!a.alive()) report.problems.push(`the API process died: ${a.output().slice(-2000)}`);
    peakRssKb = Math.max(peakRssKb, vmKb(a.pid, "VmHWM") ?? 0);
    report.apiPeakRssMb = Math.round(peakRssKb / 1024);
    if (report.apiPeakRssMb > opts.rssLimitMb) report.problems.push(`the API's peak RSS ${report.apiPeakRssMb} MB is over ${opts.rssLimitMb} MB`);
    if (!worker.alive()) report.problems.push(`the worker died: ${worker.output().slice(-2000)}`);

    // every run settles: terminal, waiting or interrupted
    const settleBy = Date.now() + opts.settleMs;
    let unsettled = await fuzzUnsettledRuns(pool);
    while (unsettled.length > 0 && Date.now() < settleBy) {
      await sleep(250);
      unsettled = await fuzzUnsettledRuns(pool);
    }
    for (const r of unsettled.slice(0, 10)) {
      report.problems.push(
        `run ${r.id} of agent ${r.agent} still ${r.status} ${opts.settleMs} ms after the last case (config ${describeValue(r.config, 400)})`,
      );
    }
    if (unsettled.length > 10) report.problems.push(`… ${unsettled.length - 10} more runs unsettled`);

    // nothing half-written
    const orphanThreads = await fuzzThreadsWithoutRuns(pool);
    if (orphanThreads.length) report.problems.push(`${orphanThreads.length} thread(s) without a run: ${orphanThreads.slice(0, 5).join(", ")}`);
    const orphanAgents = await fuzzAgentsWithoutVersion(pool);
    if (orphanAgents.length) report.problems.push(`${orphanAgents.length} agent(s) without their current version: ${orphanAgents.slice(0, 5).join(", ")}`);
    report.runs = await fuzzRunCensus(pool);
    const serverErrors = a.output().match(/unhandled error[^\n]*/g) ?? [];
    if (serverErrors.length) report.problems.push(`the API logged ${serverErrors.length} unhandled error(s), e.g. ${serverErrors[0]!.slice(0, 300)}`);
    return report;
  } finally {
    clearInterval(sampler);
    await Promise.all([api?.stop(10_000), worker?.stop(10_000)]);
    await pool.end();
  }
}

/** The summary: cases per surface, failures with their counterexample and seed, whole-run problems. */
export function formatFuzzReport(report: FuzzReport): string[] {
  const total = Object.values(report.cases).reduce((a, b) => a + b, 0);
  const lines = [`fuzz: ${total} cases (seed ${report.seed}); API peak RSS ${report.apiPeakRssMb} MB; runs ${JSON.stringify(report.runs)}`];
  for (const [surface, cases] of Object.entries(report.cases)) {
    const failures = report.failures.filter((f) => f.surface === surface).length;
    lines.push(`  ${surface.padEnd(22)} ${String(cases).padStart(7)} cases  ${failures ? `${failures} FAILED` : "ok"}`);
  }
  for (const f of report.failures) {
    lines.push(
      `FAILURE ${f.surface}: ${f.error}`,
      `  counterexample (after ${f.shrinks} shrinks): ${f.counterexample}`,
      `  replay: seed ${f.seed}, path "${f.path}"`,
    );
  }
  for (const p of report.problems) lines.push(`PROBLEM: ${p}`);
  lines.push(
    report.failures.length + report.problems.length === 0
      ? "fuzz: every property held"
      : `fuzz: ${report.failures.length} failure(s), ${report.problems.length} problem(s)`,
  );
  return lines;
}

/** `everruns fuzz [flags]` against the Postgres server of databaseUrl. Returns the exit code. */
export async function fuzzCommand(args: string[], databaseUrl: string, log: (line: string) => void = console.log): Promise<number> {
  const usage = `everruns fuzz [--minutes 2] [--seed N] [--runs 100] [--surfaces a,b] [--rss-mb 512] [--keep]
  fire generated hostile input (random JSON, deep nesting, huge strings, NUL, lone surrogates,
  wrong types, boundary numbers) at every surface until --minutes are up, --runs cases per
  surface per round (surfaces: ${SURFACE_NAMES.join(", ")});
  then check the API is alive with its peak RSS under --rss-mb, every run settled and nothing
  half-written. Prints cases per surface and every failure with its shrunk counterexample and seed.
  Runs on a throwaway database on the server of DATABASE_URL (--keep leaves it for inspection).`;
  const flags = parseFlags(
    args,
    {
      minutes: { type: "number", default: 2, min: 0, max: 7 * 24 * 60 },
      seed: { type: "int", min: 0, max: 2 ** 31 - 1 },
      runs: { type: "int", default: FUZZ_DEFAULTS.numRuns, min: 1, max: 1_000_000 },
      surfaces: { type: "choices", default: SURFACE_NAMES, choices: SURFACE_NAMES },
      "rss-mb": { type: "int", default: FUZZ_DEFAULTS.rssLimitMb, min: 64, max: 1_000_000 },
      keep: { type: "boolean" },
    },
    usage,
    log,
  );
  if (!flags) return 0;
  const seed = flags.seed ?? Math.floor(Math.random() * 2 ** 31);
  const keep = (url: string) => {
    if (flags.keep) log(`kept the database: ${url}`);
    return flags.keep;
  };
  const report = await withScratchDatabase(
    databaseUrl,
    "everruns_fuzz",
    (url) =>
      runFuzz({
        ...FUZZ_DEFAULTS,
        databaseUrl: url,
        numRuns: flags.runs,
        durationMs: flags.minutes * 60_000,
        seed,
        surfaces: [...flags.surfaces],
        rssLimitMb: flags["rss-mb"],
        log,
      }),
    keep,
  );
  for (const line of formatFuzzReport(report)) log(line);
  return report.failures.length + report.problems.length === 0 ? 0 : 1;
}
