// The API through a database outage, done for real: its own Postgres cluster stopped
// (immediate, as in a crash) under a running API process. /healthz says 503 with a JSON body
// naming the database while it is down and 200 again by itself once it is back; REST calls
// during the outage answer 503 database_unavailable, quickly, never a 500 or a hang; the
// process is never restarted.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { sleep } from "../../lib/sleep.ts";
import { query, startThrowawayCluster, type ThrowawayCluster } from "../../scripts/harness/throwaway-cluster.ts";
import { bearer, createTestKey, freePort } from "./helpers.ts";

let cluster: ThrowawayCluster;
let api: ChildProcess;
let apiUrl: string;
let apiOutput = "";
let key: string;
/** What POST /graphql answered during the outage (checked by its own test below). */
let graphqlDuringOutage: { status: number; body: string } | null = null;

/** No answer may take longer than this while the database is down (a hang would). */
const ANSWER_BOUND_MS = 10_000;

beforeAll(async () => {
  cluster = await startThrowawayCluster();
  key = await createTestKey(cluster.url, { name: "outage-admin" });
  const port = await freePort();
  api = spawn(process.execPath, [fileURLToPath(new URL("./api-process.ts", import.meta.url))], {
    env: { ...process.env, DATABASE_URL: cluster.url, PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  api.stdout!.on("data", (d: Buffer) => (apiOutput += d.toString()));
  api.stderr!.on("data", (d: Buffer) => (apiOutput += d.toString()));
  apiUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the API did not start within 30 s:\n${apiOutput}`)), 30_000);
    const check = () => {
      const m = /ready (\S+)/.exec(apiOutput);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    api.stdout!.on("data", check);
    api.once("exit", (code) => reject(new Error(`the API exited with ${code} before it was ready:\n${apiOutput}`)));
  });
}, 60_000);

afterAll(async () => {
  if (api && api.exitCode === null && api.signalCode === null) {
    api.kill("SIGKILL");
    await new Promise((resolve) => api.once("exit", resolve));
  }
  await cluster?.destroy();
});

interface Answer {
  status: number;
  body: unknown;
  ms: number;
}

/** One request, bounded: a hang is reported as status 0 rather than stalling the test. */
async function call(path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const started = performance.now();
  try {
    const res = await fetch(`${apiUrl}${path}`, { headers, signal: AbortSignal.timeout(ANSWER_BOUND_MS + 5_000) });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: kept as text, the assertion will show it
    }
    return { status: res.status, body, ms: Math.round(performance.now() - started) };
  } catch (error) {
    return { status: 0, body: (error as Error).message, ms: Math.round(performance.now() - started) };
  }
}

it("answers 503 while the database is down (healthz, REST with a cached and with an uncached key) and recovers by itself", async () => {
  const pid = api.pid;
  const headers = bearer(key);
  // a run no worker takes: it stays queued, and GET /api/runs/:id reads it
  const [agent] = await query<{ id: string }>(cluster.url, "insert into everruns.agents (name, config) values ('outage', $1) returning id", [
    JSON.stringify({ provider: "scripted", script: [{ text: "hi" }] }),
  ]);
  const [run] = await query<{ id: string }>(cluster.url, "insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
    agent!.id,
    JSON.stringify({ messages: [{ role: "user", content: "hi" }] }),
  ]);
  const runPath = `/api/runs/${run!.id}`;
  expect((await call("/healthz")).status).toBe(200);
  expect((await call(runPath, headers)).status).toBe(200); // the key is now cached (5 s)
  const uncached = bearer(await createTestKey(cluster.url, { name: "outage-uncached" }));

  await cluster.stopImmediate();
  const downAt = performance.now();
  const linesBefore = apiOutput.split("\n").length;
  const health = await call("/healthz");
  const cachedRest = await call(runPath, headers);
  const uncachedRest = await call(runPath, uncached);
  const graphql = await fetch(`${apiUrl}/graphql`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query: "{ allRuns(first: 1) { totalCount } }" }),
    signal: AbortSignal.timeout(ANSWER_BOUND_MS + 5_000),
  }).then(
    async (res) => ({ status: res.status, body: await res.text() }),
    (error: unknown) => ({ status: 0, body: (error as Error).message }),
  );
  console.log(`[api outage] /healthz → ${health.status} in ${health.ms} ms: ${JSON.stringify(health.body)}`);
  console.log(`[api outage] GET /api/runs/:id (cached key) → ${cachedRest.status} in ${cachedRest.ms} ms: ${JSON.stringify(cachedRest.body)}`);
  console.log(`[api outage] GET /api/runs/:id (uncached key) → ${uncachedRest.status} in ${uncachedRest.ms} ms: ${JSON.stringify(uncachedRest.body)}`);
  console.log(`[api outage] POST /graphql → ${graphql.status}: ${graphql.body.slice(0, 300)}`);

  // healthz: 503, JSON naming the database
  expect(health.status).toBe(503);
  expect(health.body).toMatchObject({ status: "unavailable", database: "unreachable" });
  expect(health.ms).toBeLessThan(ANSWER_BOUND_MS);
  // REST: 503 database_unavailable, whether the key was cached or must be looked up
  for (const answer of [cachedRest, uncachedRest]) {
    expect(answer.status, JSON.stringify(answer.body)).toBe(503);
    expect(answer.body).toEqual({ error: { code: "database_unavailable", message: expect.stringMatching(/database is unreachable/) as unknown } });
    expect(answer.ms).toBeLessThan(ANSWER_BOUND_MS);
  }
  // GraphQL: an answer, not a hang, and no stack trace (its error code: the next test)
  graphqlDuringOutage = graphql;
  expect(graphql.status).not.toBe(0);
  expect(graphql.body).not.toMatch(/\n\s+at /);

  await sleep(2_000); // a little time down: the LISTEN connection's reconnect tries, the pool's errors
  await cluster.start();
  const backAt = performance.now();
  const downLines = apiOutput.split("\n").slice(linesBefore - 1, -1);
  console.log(`[api outage] the API wrote ${downLines.length} log line(s) during the ${((backAt - downAt) / 1000).toFixed(1)} s outage`);

  // by itself, with no restart
  let healthy: Answer | null = null;
  for (const deadline = performance.now() + 30_000; performance.now() < deadline; await sleep(50)) {
    const answer = await call("/healthz");
    if (answer.status === 200) {
      healthy = answer;
      break;
    }
  }
  expect(healthy, `healthz never answered 200 again:\n${apiOutput}`).not.toBeNull();
  console.log(`[api outage] /healthz 200 again ${Math.round(performance.now() - backAt)} ms after the database was back: ${JSON.stringify(healthy!.body)}`);
  expect((await call(runPath, headers)).status).toBe(200);
  expect((await call(runPath, uncached)).status).toBe(200);
  expect(api.pid).toBe(pid);
  expect(api.exitCode).toBeNull();
  expect(apiOutput).not.toMatch(/unhandled error/);
}, 90_000);

it("GraphQL during the outage says the database is unavailable, not internal_error", () => {
  expect(graphqlDuringOutage, "the outage test above did not run").not.toBeNull();
  const body = JSON.parse(graphqlDuringOutage!.body) as { errors?: Array<{ extensions?: { code?: string } }> };
  expect(body.errors?.[0]?.extensions?.code, graphqlDuringOutage!.body).toBe("database_unavailable");
});
