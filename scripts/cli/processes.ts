// The long-running commands: start (everything in one process), worker, api, web. Each stops
// in order on SIGINT or SIGTERM (a second signal exits at once) and exits 0 once stopped.
import path from "node:path";
import { z } from "zod";
import { ConfigError, EverrunsError } from "../../db/errors.ts";
import type { Env } from "../../db/env.ts";
import { checkSchemaVersion, migrate } from "../../db/migrate.ts";
import { connectClient } from "../../db/connection-target.ts";
import { createPool } from "../../db/pool.ts";
import { findWorkerWorkspace } from "../../db/sql/findWorkspace.ts";
import { consoleLogger, type Logger } from "../../lib/logger.ts";
import type { WorkerHandle, WorkerOptions } from "../../worker/main.ts";
import type { ApiOptions } from "../../api/server.ts";
import { apiKeyFile, consoleLoginUrl, displayPath, ensureAdminKey } from "../api-key-file.ts";
import { PROJECT_ROOT, resolveDatabase } from "../database.ts";
import { seedDemoAgent } from "../demo-agent.ts";
import { noteDatabaseUrl } from "./errors.ts";
import { listRecords, portInUse, removeRecord, runningOn, withoutPassword, writeRecord, type InstanceRecord } from "./instance.ts";
import { shellQuote } from "./output.ts";

type Stoppable = { name: string; stop(): Promise<void> };

function onSignals(stop: (signal: string) => Promise<void>): void {
  let count = 0;
  const handler = (signal: string) => {
    count++;
    if (count > 1) {
      console.error(`received ${signal} again: exiting now`);
      process.exit(130);
    }
    stop(signal).then(
      () => process.exit(0),
      (error: Error) => {
        console.error(`shutdown failed: ${error.message}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  process.on("SIGHUP", handler);
}

/**
 * Refuses to start beside a running `everruns start` on the same API port, or on ports another
 * process holds, before anything starts (no worker takes a job, no migration runs).
 */
async function checkNothingRuns(env: Env): Promise<void> {
  const other = await runningOn(env.PORT);
  if (other) {
    throw new EverrunsError(
      "already_running",
      `everruns is already running on :${other.apiPort} (pid ${other.pid}${other.webUrl ? `, console ${other.webUrl}` : ""}, since ${other.startedAt}): ` +
        `stop it with "everruns stop" (or kill ${other.pid}), or start another beside it with PORT and EVERRUNS_WEB_PORT set to free ports`,
    );
  }
  if (!env.DATABASE_URL) {
    // two starts on one embedded Postgres: the first to stop would stop it under the other
    const dataDir = path.resolve(env.EVERRUNS_DATA_DIR ?? path.join(PROJECT_ROOT, ".everruns", "pg"));
    const sharing = (await listRecords()).find(
      (r) => r.alive && r.pid !== process.pid && r.embedded && [r.embedded.dataDir, r.embedded.configured].some((d) => path.resolve(d) === dataDir),
    );
    if (sharing) {
      throw new EverrunsError(
        "already_running",
        `everruns is already running on :${sharing.apiPort} (pid ${sharing.pid}) with the embedded Postgres in ${dataDir}: ` +
          `stop it with "everruns stop", or give this one its own EVERRUNS_DATA_DIR and EVERRUNS_PG_PORT (or a DATABASE_URL)`,
      );
    }
  }
  for (const [name, port] of [
    ["PORT", env.PORT],
    ["EVERRUNS_WEB_PORT", env.EVERRUNS_WEB_PORT],
  ] as const) {
    if (await portInUse(env.HOST, port)) {
      throw new EverrunsError(
        "port_in_use",
        `port ${port} on ${env.HOST} (${name}) is in use by another process, not an everruns start of this checkout: stop it or set ${name} to a free port`,
      );
    }
  }
}

export async function cmdStart(env: Env): Promise<void> {
  const log = consoleLogger("[everruns]", env.LOG_LEVEL);
  await checkNothingRuns(env);
  const record: InstanceRecord = {
    pid: process.pid,
    state: "starting",
    host: env.HOST,
    apiPort: env.PORT,
    apiUrl: null,
    webUrl: null,
    database: env.DATABASE_URL ? withoutPassword(env.DATABASE_URL) : null,
    embedded: null,
    startedAt: new Date().toISOString(),
  };
  await writeRecord(record);
  // the first thing said: which process to signal (a supervisor's, `kill`'s); npm start's pid is npm's
  log.info(`everruns start: pid ${process.pid} (SIGINT or SIGTERM to this pid stops everything)`);
  const parts: Stoppable[] = [];
  const shutdown: { stopped?: Promise<void> } = {};
  const stopAll = (why: string) =>
    (shutdown.stopped ??= (async () => {
      log.info(`${why}: stopping ${parts.map((p) => p.name).join(", ") || "nothing yet"}`);
      for (const part of parts) {
        const began = performance.now();
        await part.stop().catch((error: Error) => log.error(`stopping ${part.name} failed: ${error.message}`));
        log.info(`stopped ${part.name} (${Math.round(performance.now() - began)} ms)`);
      }
      await removeRecord(env.PORT);
      log.info("everruns stopped");
    })());
  // from here on a signal stops what has started so far (a console build in progress included)
  onSignals((signal) => stopAll(`received ${signal}`));
  try {
    await startParts(env, log, record, parts);
  } catch (error) {
    await stopAll("start failed");
    throw error;
  }
  // The worker rides out database outages by itself (it reconnects and starts a new pool); its
  // promise rejects only on a real failure: stop the rest, then exit non-zero (main's catch).
  const worker = parts.find((p) => p.name === "worker") as unknown as WorkerHandle;
  try {
    await worker.promise;
  } catch (error) {
    log.error(`the worker failed: ${(error as Error).message}; stopping`);
    await stopAll("the worker failed");
    throw error;
  }
  // Stopped by a signal: the worker's promise settles while the parts after it (the embedded
  // server) are still stopping, and returning now would exit before they have.
  await shutdown.stopped;
}

async function startParts(env: Env, log: Logger, record: InstanceRecord, parts: Stoppable[]): Promise<void> {
  const db = await resolveDatabase(env, (line) => log.info(line));
  noteDatabaseUrl(db.url);
  if (db.embedded) {
    const configured = path.resolve(env.EVERRUNS_DATA_DIR ?? path.join(PROJECT_ROOT, ".everruns", "pg"));
    record.embedded = { dataDir: db.embedded.dataDir, configured, port: db.embedded.port };
    record.database = db.url;
    await writeRecord(record);
  }
  // this process owns the embedded server: restart it if it dies (the worker and API ride it out)
  const { watchEmbeddedPostgres } = await import("../embedded-postgres-watchdog.ts");
  const watchdog = db.embedded ? watchEmbeddedPostgres(db.embedded, { log }) : null;
  // the watchdog first, so that it does not restart the server stopped last (stop leaves no
  // server behind; a crash of this process does, and the next start reuses it)
  const tail: Stoppable[] = db.embedded ? [{ name: "embedded Postgres", stop: () => db.embedded!.stop() }] : [];
  if (watchdog) parts.push({ name: "Postgres watchdog", stop: () => watchdog.stop() });
  parts.push(...tail);
  // migrations hold a session lock: on the server itself when DATABASE_URL is a pooler
  const pool = createPool(env.DATABASE_DIRECT_URL ?? db.url, "everruns-start", 2, { migrations: true });
  await migrate(pool, (line) => log.info(line));
  const agentId = await seedDemoAgent(pool);
  // this instance's admin key (default workspace), kept in .everruns/admin-key: made when it holds none still valid here
  const adminKey = await ensureAdminKey(pool, apiKeyFile()).finally(() => pool.end());
  if (db.embedded && !process.env.EVERRUNS_SECRET_KEY) {
    // a development instance: a key kept under .everruns/ (a deployment sets its own, the same
    // on the API and every worker)
    const { ensureDevSecretKey } = await import("../secrets-command.ts");
    process.env.EVERRUNS_SECRET_KEY = ensureDevSecretKey(path.join(PROJECT_ROOT, ".everruns"));
  }
  if (db.embedded && !process.env.EVERRUNS_EGRESS_ALLOW) {
    // a development instance on this machine: let agents' http tools reach local services
    // (everywhere else the egress guard refuses loopback and private addresses unless listed)
    process.env.EVERRUNS_EGRESS_ALLOW = "127.0.0.1,::1,localhost";
    log.info("EVERRUNS_EGRESS_ALLOW is unset: http tools may reach this machine (127.0.0.1, ::1, localhost) in this development instance");
  }
  // The console is built before the worker and the API start: a first start's build takes a
  // while, and a signal meanwhile leaves nothing half-started.
  const { ensureWebBuild, startWeb } = await import("../web.ts");
  await ensureWebBuild(consoleLogger("[web]", env.LOG_LEVEL));
  const { startWorker } = await import("../../worker/main.ts");
  const worker = await startWorker(
    workerOptions(env, db.url, {
      concurrency: maxInFlightFromEnv(env),
      dbConnections: env.WORKER_DB_CONNECTIONS,
      log: consoleLogger("[worker]", env.LOG_LEVEL),
    }),
  );
  parts.splice(watchdog ? 1 : 0, 0, Object.assign(worker, { name: "worker" }));
  const { startApi } = await import("../../api/server.ts");
  const api = await startApi(apiOptions(env, db.url));
  parts.splice(watchdog ? 1 : 0, 0, { name: "API", stop: () => api.close() });
  const web = await startWeb({ apiUrl: api.url, port: env.EVERRUNS_WEB_PORT, host: env.HOST, log: consoleLogger("[web]", env.LOG_LEVEL) });
  parts.splice(watchdog ? 1 : 0, 0, { name: "console", stop: () => web.close() });
  Object.assign(record, { state: "running", apiUrl: api.url, webUrl: web.url });
  await writeRecord(record);

  const keyFile = displayPath(adminKey.file);
  const keyLines = adminKey.created
    ? `  console      ${consoleLoginUrl(web.url, adminKey.key)}
               (this link signs you in: it holds a new admin key of workspace "default", shown this once, in the
               #fragment, which a browser sends to no server)
  API key      stored in ${keyFile} (mode 0600)`
    : `  console      ${web.url}
  API key      in ${keyFile}`;
  console.log(`
Everruns is running.
  pid          ${process.pid}  (kill ${process.pid} or "everruns stop" stops everything; kill -9 ${process.pid} simulates a crash)
  database     ${withoutPassword(db.url)}${db.embedded ? "  (embedded, data in " + db.embedded.dataDir + ")" : ""}
  demo agent   demo (${agentId})
${keyLines}
  API          ${api.url}  (GraphQL ${api.url}/graphql, GraphiQL ${api.url}/graphiql, AG-UI ${api.url}/api/agents/demo/agui)

Start a run from any SQL client (this connection is the database's administrator: it sees every workspace):
  psql ${shellQuote(withoutPassword(db.url))} -c "insert into everruns.runs (agent_id, input) select id, '{\\"messages\\": [{\\"role\\": \\"user\\", \\"content\\": \\"hello\\"}]}' from everruns.agents where name = 'demo' returning id"
or from the CLI (it sends the key in ${keyFile}, or EVERRUNS_API_KEY):
  npx everruns run demo "hello" --follow
or over HTTP:
  curl -H "Authorization: Bearer $(cat ${shellQuote(keyFile)})" ${api.url}/api/runs -H 'content-type: application/json' \\
    -d '{"agent": "demo", "input": {"messages": [{"role": "user", "content": "hello"}]}}'
Keys for others: npx everruns keys create --role operator --name alice (--help)

Press Ctrl-C to stop.`);
}

/** The API's options from the environment (everruns start, everruns api). */
function apiOptions(env: Env, databaseUrl: string): ApiOptions {
  return {
    databaseUrl,
    ...(env.DATABASE_DIRECT_URL !== undefined && { directDatabaseUrl: env.DATABASE_DIRECT_URL }),
    poolSize: env.API_DB_CONNECTIONS,
    port: env.PORT,
    host: env.HOST,
    log: consoleLogger("[api]", env.LOG_LEVEL),
  };
}

/** A worker's options from the environment and what its command decided (everruns start, everruns worker). */
function workerOptions(
  env: Env,
  databaseUrl: string,
  own: Pick<WorkerOptions, "concurrency" | "dbConnections" | "log" | "crashPoint" | "workspaceId">,
): WorkerOptions {
  return {
    databaseUrl,
    ...(env.DATABASE_DIRECT_URL !== undefined && { directDatabaseUrl: env.DATABASE_DIRECT_URL }),
    shutdownTimeoutMs: env.WORKER_SHUTDOWN_TIMEOUT_MS,
    inlineChainMs: env.WORKER_INLINE_CHAIN_MS,
    commitRetryMs: env.EVERRUNS_COMMIT_RETRY_MS,
    ...own,
  };
}

/** Steps a worker runs at once by default (WORKER_MAX_IN_FLIGHT, or its former name WORKER_CONCURRENCY). */
export const DEFAULT_MAX_IN_FLIGHT = 100;

function maxInFlightFromEnv(env: Env): number {
  return env.WORKER_MAX_IN_FLIGHT ?? env.WORKER_CONCURRENCY ?? DEFAULT_MAX_IN_FLIGHT;
}

/** A whole-number flag within [min, max], or the fallback when not given. */
function intFlag(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got ${value}`);
  }
  return n;
}

export interface WorkerFlags {
  maxInFlight?: string;
  /** @deprecated the former name of --max-in-flight */
  concurrency?: string;
  dbConnections?: string;
  /** The dedicated workspace the worker serves, by name or id (default EVERRUNS_WORKER_WORKSPACE; unset: shared). */
  workspace?: string;
}

/** EVERRUNS_WORKER_WORKSPACE: the default of `everruns worker --workspace`. */
const WORKER_WORKSPACE_ENV = "EVERRUNS_WORKER_WORKSPACE";
const workspaceRef = z
  .string()
  .trim()
  .min(1, "must name a workspace (its name or id: everruns workspaces list shows them)")
  .max(200, "must name a workspace (its name or id: everruns workspaces list shows them)");

/** --workspace, else EVERRUNS_WORKER_WORKSPACE (empty: unset), checked; undefined for a shared worker. */
function workspaceFlag(flag: string | undefined): string | undefined {
  const fromEnv = process.env[WORKER_WORKSPACE_ENV];
  const [name, value] = flag !== undefined ? ["--workspace", flag] : [WORKER_WORKSPACE_ENV, fromEnv === "" ? undefined : fromEnv];
  if (value === undefined) return undefined;
  const parsed = workspaceRef.safeParse(value);
  if (!parsed.success) throw new ConfigError(`${name} ${parsed.error.issues[0]!.message}, got ${JSON.stringify(value)}`);
  return parsed.data;
}

/**
 * The id of the dedicated workspace `ref` names (everruns worker --workspace); a ConfigError
 * saying what to do when there is none or it is not dedicated.
 */
async function resolveDedicatedWorkspace(databaseUrl: string, ref: string, log: Logger): Promise<string> {
  const client = await connectClient(databaseUrl, { application_name: "everruns-worker-start" });
  try {
    await checkSchemaVersion(client); // a schema without dedicated workspaces says "run everruns migrate", not "no column"
    const workspace = await findWorkerWorkspace(client, ref);
    if (!workspace) {
      throw new ConfigError(`no workspace "${ref}": give a workspace's name or id (everruns workspaces list shows them)`);
    }
    if (!workspace.dedicated) {
      throw new ConfigError(
        `workspace ${workspace.name} is not dedicated: its runs go to the shared workers, and a worker for it alone would take none of them. ` +
          `Mark it first: everruns workspaces limits ${workspace.name} --dedicated`,
      );
    }
    log.info(`serving dedicated workspace ${workspace.name} (${workspace.id}) only`);
    return workspace.id;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function cmdWorker(env: Env, flags: WorkerFlags): Promise<void> {
  if (flags.maxInFlight !== undefined && flags.concurrency !== undefined) {
    throw new ConfigError("--concurrency is the former name of --max-in-flight: give one of them");
  }
  const concurrency =
    flags.maxInFlight !== undefined
      ? intFlag("--max-in-flight", flags.maxInFlight, 0, 1, 20_000)
      : intFlag("--concurrency", flags.concurrency, maxInFlightFromEnv(env), 1, 20_000);
  // two of them are graphile-worker's and the notifier's (worker/main.ts CONTROL_CONNECTIONS)
  const dbConnections = intFlag("--db-connections", flags.dbConnections, env.WORKER_DB_CONNECTIONS, 3, 1000);
  const db = await resolveDatabase(env, () => {});
  noteDatabaseUrl(db.url);
  const log = consoleLogger(`[worker ${process.pid}]`, env.LOG_LEVEL);
  const workspace = workspaceFlag(flags.workspace);
  const workspaceId = workspace === undefined ? undefined : await resolveDedicatedWorkspace(env.DATABASE_DIRECT_URL ?? db.url, workspace, log);
  // METRICS_PORT: this worker's own metrics (its steps, LLM calls; api/metrics.ts), no key: an internal
  // address; listening first, so a port in use stops the worker before it takes a job
  const { MetricsEndpoint } = await import("../../api/metrics.ts");
  const metrics =
    env.METRICS_PORT === undefined
      ? null
      : await MetricsEndpoint.listen({ endpoint: null, port: env.METRICS_PORT, host: env.METRICS_HOST ?? "127.0.0.1", log });
  const { startWorker } = await import("../../worker/main.ts");
  let worker: WorkerHandle;
  try {
    worker = await startWorker(
      workerOptions(env, db.url, { concurrency, dbConnections, log, crashPoint: crashPointFromEnv(), ...(workspaceId !== undefined && { workspaceId }) }),
    );
  } catch (error) {
    await metrics?.close();
    throw error;
  }
  onSignals(async () => {
    await metrics?.close();
    await worker.stop();
  });
  // Settles only after stop() or on a real failure: a database outage is ridden out inside the
  // worker. A failure rejects, and main's catch exits with status 1.
  await worker.promise;
}

export async function cmdApi(env: Env): Promise<void> {
  const db = await resolveDatabase(env, () => {});
  noteDatabaseUrl(db.url);
  const { startApi } = await import("../../api/server.ts");
  const api = await startApi(apiOptions(env, db.url));
  console.log(`API listening on ${api.url} (GraphQL ${api.url}/graphql); every route but /healthz needs an API key (everruns keys create)`);
  onSignals(() => api.close());
  await new Promise<void>((resolve) => api.server.on("close", () => resolve()));
}

export async function cmdWeb(env: Env, values: { api?: string; port?: string }): Promise<void> {
  const apiUrl = (values.api ?? env.EVERRUNS_API_URL ?? `http://127.0.0.1:${env.PORT}`).replace(/\/$/, "");
  const port = values.port === undefined ? env.EVERRUNS_WEB_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--port must be a port number, got ${values.port}`);
  const { startWeb } = await import("../web.ts");
  const web = await startWeb({ apiUrl, port, host: env.HOST, log: consoleLogger("[web]", env.LOG_LEVEL) });
  console.log(`Console at ${web.url} (API ${apiUrl})`);
  onSignals(() => web.close());
  await web.closed;
}

/**
 * EVERRUNS_CRASH_AT=<point>[:<seq>|:first] makes this process kill itself there (chaos tests
 * only): at every step, at step <seq>, or (`first`) at every step's first attempt, so a
 * replacement worker's retry of that step goes through and the next step's first attempt dies.
 */
function crashPointFromEnv() {
  const spec = process.env.EVERRUNS_CRASH_AT;
  if (!spec) return undefined;
  const [point, which] = spec.split(":");
  return (at: string, info: { seq: number; attempt: number }) => {
    if (at !== point) return;
    if (which === undefined || (which === "first" ? info.attempt === 1 : Number(which) === info.seq)) process.kill(process.pid, "SIGKILL");
  };
}
