#!/usr/bin/env node
// The everruns command line.
import path from "node:path";
import { parseArgs } from "node:util";
import { ConfigError, EverrunsError } from "../db/errors.ts";
import { loadEnv, type Env } from "../db/env.ts";
import { migrate } from "../db/migrate.ts";
import { createPool, isUuid, type Pool, type PoolOptions } from "../db/pool.ts";
import { cancelRun } from "../db/sql/cancelRun.ts";
import { getRun } from "../db/sql/getRun.ts";
import { listRuns } from "../db/sql/listRuns.ts";
import { readRunEvents } from "../db/sql/readRunEvents.ts";
import { FollowError, followRunEvents, type RunEvent } from "../client/index.ts";
import { consoleLogger } from "../lib/logger.ts";
import type { WorkerHandle } from "../worker/main.ts";
// The worker, the API, the console server and the proof commands load when a command needs them:
// a worker process imports none but the worker (spawn → ready is what a restart after a crash
// waits for), and the commands on the database (runs, keys, secrets, …) start quickly.
import { apiKeyFile, cliApiKey, consoleLoginUrl, displayPath, ensureAdminKey } from "./api-key-file.ts";
import { PROJECT_ROOT, resolveDatabase } from "./database.ts";
import { seedDemoAgent } from "./demo-agent.ts";

const USAGE = `everruns: durable execution for AI agents, on Postgres alone

Usage:
  everruns start                      migrate, run a worker and the API, seed the demo agent
                                      (embedded Postgres under .everruns/ when DATABASE_URL is unset)
  everruns migrate                    apply database migrations
  everruns worker [--concurrency N]   run a worker process
  everruns api                        run the API server (GraphQL, AG-UI, SSE, REST) on HOST:PORT
  everruns web [--api URL] [--port N] run the operations console alone against an API
  everruns build [--force]            build the console if its sources changed (start and web do too)
  everruns run <agent> "<prompt>" [--follow]
                                      start a run through the API (agent id or name); --follow streams it
                                      (sends EVERRUNS_API_KEY, else the key everruns start keeps in .everruns/admin-key)
  everruns runs [--limit N]           list recent runs
  everruns cancel <run>               cancel a run
  everruns events <run>               print a run's AG-UI event log
  everruns secrets set|list|delete    a workspace's secrets, write-only (value from stdin; --workspace W; --help)
  everruns keys create|list|revoke    a workspace's API keys: keys create --role R [--workspace W] [--expires 30d]
                                      prints the key once on stdout (--help)
  everruns workspaces create|list     workspaces (--help)
  everruns bench [--help]             per-step cost vs a bare graphile-worker chain, scaling, resume latency
  everruns load [--help]              1,000 concurrent runs, 10,000 parked runs, memory soak, connections
  everruns chaos [--help]             kill -9 workers and the API under mixed load; check every invariant
  everruns fuzz [--minutes N] [--seed S]  hostile generated input at every surface (fast-check); --help

Every API route but /healthz needs an API key: Authorization: Bearer evr_… (everruns keys create makes one;
everruns start keeps an admin key of the default workspace in .everruns/admin-key). The commands on the database
(runs, cancel, events, secrets, keys, workspaces) use DATABASE_URL: an administrator's connection.

Environment:
  Database
    DATABASE_URL                      postgres://… (unset: start uses an embedded Postgres). For failover, several hosts
                                      and target_session_attrs=read-write (the primary, whichever it is now):
                                      postgres://user@db1:5432,db2:5432/everruns?target_session_attrs=read-write
    EVERRUNS_PG_PORT                  the embedded Postgres's port (default 54329); start restarts it if it dies
    EVERRUNS_DATA_DIR                 the embedded Postgres's data directory (default .everruns/pg)
    EVERRUNS_ACCEPT_NEWER_SCHEMA      a code rollback: the newest migration (e.g. 000013) this older version may start against
  Postgres timeouts of the engine's connections, in ms (0 = off)
    EVERRUNS_DB_STATEMENT_TIMEOUT_MS  longest statement (default 60000)
    EVERRUNS_DB_LOCK_TIMEOUT_MS       longest wait for a lock (default 10000)
    EVERRUNS_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS  longest a transaction may sit idle (default 60000)
    EVERRUNS_DB_CONNECT_TIMEOUT_MS    longest wait for a new connection (default 10000)
  Worker
    WORKER_CONCURRENCY                steps run at once per worker (default 10)
    WORKER_SHUTDOWN_TIMEOUT_MS        how long SIGTERM waits for in-flight steps (default 10000)
    EVERRUNS_COMMIT_RETRY_MS          how long a finished step retries its commit while the database is
                                      unreachable before handing the step back to run again (default 60000)
  API, console and CLI
    PORT, HOST                        where the API listens (default 127.0.0.1:4000)
    EVERRUNS_WEB_PORT                 the console's port (default 3000)
    EVERRUNS_API_URL                  where run finds the API (default http://127.0.0.1:PORT)
    EVERRUNS_API_KEY                  the key run sends
    EVERRUNS_API_KEY_FILE             where start keeps its admin key (default .everruns/admin-key)
  LOG_LEVEL                           debug, info (default), warn or error`;

type Stoppable = { stop(): Promise<void> };

function onSignals(stop: () => Promise<void>): void {
  let count = 0;
  const handler = (signal: string) => {
    count++;
    if (count > 1) {
      console.error(`received ${signal} again: exiting now`);
      process.exit(130);
    }
    stop().then(
      () => process.exit(0),
      (error: Error) => {
        console.error(`shutdown failed: ${error.message}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
}

async function withDatabase<T>(env: Env, fn: (pool: Pool, url: string) => Promise<T>, poolOptions: PoolOptions = {}): Promise<T> {
  const db = await resolveDatabase(env, () => {});
  const pool = createPool(db.url, "everruns-cli", 2, poolOptions);
  try {
    return await fn(pool, db.url);
  } finally {
    await pool.end();
  }
}

async function cmdStart(env: Env): Promise<void> {
  const log = consoleLogger("[everruns]", env.LOG_LEVEL);
  const db = await resolveDatabase(env, (line) => log.info(line));
  // this process owns the embedded server: restart it if it dies (the worker and API ride it out)
  const { watchEmbeddedPostgres } = await import("./embedded-postgres-watchdog.ts");
  const watchdog = db.embedded ? watchEmbeddedPostgres(db.embedded, { log }) : null;
  const pool = createPool(db.url, "everruns-start", 2, { migrations: true });
  await migrate(pool, (line) => log.info(line));
  const agentId = await seedDemoAgent(pool);
  // this instance's admin key (default workspace), kept in .everruns/admin-key: made when it holds none still valid here
  const adminKey = await ensureAdminKey(pool, apiKeyFile()).finally(() => pool.end());
  if (db.embedded && !process.env.EVERRUNS_SECRET_KEY) {
    // a development instance: a key kept under .everruns/ (a deployment sets its own, the same
    // on the API and every worker)
    const { ensureDevSecretKey } = await import("./secrets-command.ts");
    process.env.EVERRUNS_SECRET_KEY = ensureDevSecretKey(path.join(PROJECT_ROOT, ".everruns"));
  }
  if (db.embedded && !process.env.EVERRUNS_EGRESS_ALLOW) {
    // a development instance on this machine: let agents' http tools reach local services
    // (everywhere else the egress guard refuses loopback and private addresses unless listed)
    process.env.EVERRUNS_EGRESS_ALLOW = "127.0.0.1,::1,localhost";
    log.info("EVERRUNS_EGRESS_ALLOW is unset: http tools may reach this machine (127.0.0.1, ::1, localhost) in this development instance");
  }
  const { startWorker } = await import("../worker/main.ts");
  const worker = await startWorker({
    databaseUrl: db.url,
    concurrency: env.WORKER_CONCURRENCY,
    shutdownTimeoutMs: env.WORKER_SHUTDOWN_TIMEOUT_MS,
    inlineChainMs: env.WORKER_INLINE_CHAIN_MS,
    commitRetryMs: env.EVERRUNS_COMMIT_RETRY_MS,
    log: consoleLogger("[worker]", env.LOG_LEVEL),
  });
  const { startApi } = await import("../api/server.ts");
  const api = await startApi({ databaseUrl: db.url, port: env.PORT, host: env.HOST, log: consoleLogger("[api]", env.LOG_LEVEL) });
  const { startWeb } = await import("./web.ts");
  const web = await startWeb({ apiUrl: api.url, port: env.EVERRUNS_WEB_PORT, host: env.HOST, log: consoleLogger("[web]", env.LOG_LEVEL) });
  // the watchdog first, so that it does not restart the server stopped last (stop leaves no
  // server behind; a crash of this process does, and the next start reuses it)
  const parts: Stoppable[] = [...(watchdog ? [watchdog] : []), { stop: () => web.close() }, { stop: () => api.close() }, worker];
  if (db.embedded) parts.push(db.embedded);
  const shutdown: { stopped?: Promise<void> } = {};
  onSignals(() => {
    shutdown.stopped = (async () => {
      for (const part of parts) await part.stop();
    })();
    return shutdown.stopped;
  });
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
  database     ${db.url}${db.embedded ? "  (embedded, data in " + db.embedded.dataDir + ")" : ""}
  demo agent   demo (${agentId})
${keyLines}
  API          ${api.url}  (GraphQL ${api.url}/graphql, GraphiQL ${api.url}/graphiql, AG-UI ${api.url}/api/agents/demo/agui)

Start a run from any SQL client (this connection is the database's administrator: it sees every workspace):
  psql ${db.url} -c "insert into everruns.runs (agent_id, input) select id, '{\\"messages\\": [{\\"role\\": \\"user\\", \\"content\\": \\"hello\\"}]}' from everruns.agents where name = 'demo' returning id"
or from the CLI (it sends the key in ${keyFile}, or EVERRUNS_API_KEY):
  npx everruns run demo "hello" --follow
or over HTTP:
  curl -H "Authorization: Bearer $(cat ${shellQuote(keyFile)})" ${api.url}/api/runs -H 'content-type: application/json' \\
    -d '{"agent": "demo", "input": {"messages": [{"role": "user", "content": "hello"}]}}'
Keys for others: npx everruns keys create --role operator --name alice (--help)

Press Ctrl-C to stop.`);
  // The worker rides out database outages by itself (it reconnects and starts a new pool); its
  // promise rejects only on a real failure: stop the rest, then exit non-zero (main's catch).
  try {
    await worker.promise;
  } catch (error) {
    log.error(`the worker failed: ${(error as Error).message}; stopping`);
    for (const part of parts) if (part !== worker) await part.stop().catch(() => undefined);
    throw error;
  }
  // Stopped by a signal: the worker's promise settles while the parts after it (the embedded
  // server) are still stopping, and returning now would exit before they have.
  await shutdown.stopped;
}

/** `text` as one shell word. */
function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

async function cmdWorker(env: Env, args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { concurrency: { type: "string" } } });
  const concurrency = values.concurrency === undefined ? env.WORKER_CONCURRENCY : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1000) {
    throw new ConfigError(`--concurrency must be a whole number from 1 to 1000, got ${values.concurrency}`);
  }
  const db = await resolveDatabase(env, () => {});
  const log = consoleLogger(`[worker ${process.pid}]`, env.LOG_LEVEL);
  const { startWorker } = await import("../worker/main.ts");
  const worker: WorkerHandle = await startWorker({
    databaseUrl: db.url,
    concurrency,
    shutdownTimeoutMs: env.WORKER_SHUTDOWN_TIMEOUT_MS,
    inlineChainMs: env.WORKER_INLINE_CHAIN_MS,
    commitRetryMs: env.EVERRUNS_COMMIT_RETRY_MS,
    log,
    crashPoint: crashPointFromEnv(),
  });
  onSignals(() => worker.stop());
  // Settles only after stop() or on a real failure: a database outage is ridden out inside the
  // worker. A failure rejects, and main's catch exits with status 1.
  await worker.promise;
}

async function cmdApi(env: Env): Promise<void> {
  const db = await resolveDatabase(env, () => {});
  const { startApi } = await import("../api/server.ts");
  const api = await startApi({ databaseUrl: db.url, port: env.PORT, host: env.HOST, log: consoleLogger("[api]", env.LOG_LEVEL) });
  console.log(`API listening on ${api.url} (GraphQL ${api.url}/graphql); every route but /healthz needs an API key (everruns keys create)`);
  onSignals(() => api.close());
  await new Promise<void>((resolve) => api.server.on("close", () => resolve()));
}

async function cmdWeb(env: Env, args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { api: { type: "string" }, port: { type: "string" } } });
  const apiUrl = (values.api ?? env.EVERRUNS_API_URL ?? `http://127.0.0.1:${env.PORT}`).replace(/\/$/, "");
  const port = values.port === undefined ? env.EVERRUNS_WEB_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--port must be a port number, got ${values.port}`);
  const { startWeb } = await import("./web.ts");
  const web = await startWeb({ apiUrl, port, host: env.HOST, log: consoleLogger("[web]", env.LOG_LEVEL) });
  console.log(`Console at ${web.url} (API ${apiUrl})`);
  onSignals(() => web.close());
  await web.closed;
}

/** EVERRUNS_CRASH_AT=<point>[:<seq>] makes this process kill itself there (chaos tests only). */
function crashPointFromEnv() {
  const spec = process.env.EVERRUNS_CRASH_AT;
  if (!spec) return undefined;
  const [point, seq] = spec.split(":");
  return (at: string, info: { seq: number }) => {
    if (at === point && (seq === undefined || Number(seq) === info.seq)) process.kill(process.pid, "SIGKILL");
  };
}

async function cmdRun(env: Env, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { follow: { type: "boolean", short: "f" } } });
  const [agent, prompt] = positionals;
  if (!agent || prompt === undefined) throw new ConfigError('usage: everruns run <agent> "<prompt>" [--follow]');
  const apiUrl = (env.EVERRUNS_API_URL ?? `http://127.0.0.1:${env.PORT}`).replace(/\/$/, "");
  const { key, source } = cliApiKey();
  // a refused key: the API's message (revoked, expired, the role it needs) and where the key came from
  const refusedKey = (status: number, message: string) =>
    new EverrunsError(status === 401 ? "unauthenticated" : "forbidden", `the API refused the key from ${source} (HTTP ${status}): ${message}`);
  // through the API (POST /api/runs → db/sql/startRun.ts), so --follow streams from the same place
  const response = await fetch(`${apiUrl}/api/runs`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ agent, input: { messages: [{ role: "user", content: prompt }] } }),
  }).catch((error: unknown) => {
    throw new EverrunsError(
      "api_unreachable",
      `the API at ${apiUrl} is not reachable (${(error as Error).message}): start it with "everruns start" or "everruns api", or set EVERRUNS_API_URL`,
    );
  });
  const body = (await response.json().catch(() => ({}))) as { id?: string; error?: { message?: string } };
  if (response.status === 401 || response.status === 403) throw refusedKey(response.status, body.error?.message ?? response.statusText);
  if (!response.ok || !body.id) throw new EverrunsError("rejected", `the API refused the run: ${body.error?.message ?? response.statusText}`);
  if (!values.follow) {
    console.log(body.id);
    return 0;
  }
  console.error(`run ${body.id}`);
  const events = followRunEvents(apiUrl, body.id, {
    apiKey: key,
    onReconnect: ({ attempt, reason }) => console.error(`  (lost the stream: ${reason}; reconnecting, attempt ${attempt})`),
  });
  try {
    for await (const event of events) {
      const code = printEvent(event);
      if (code !== undefined) return code;
    }
  } catch (error) {
    if (!(error instanceof FollowError)) throw error;
    if (error.status === 401 || error.status === 403) throw refusedKey(error.status, error.message);
    throw new EverrunsError(error.code, `the API refused the run's event stream (HTTP ${error.status}): ${error.message}`);
  }
  return 1;
}

/** Prints one event for a human; returns the exit code at the run's end (0 only when it succeeded). */
function printEvent({ type, event }: RunEvent): number | undefined {
  switch (type) {
    case "TEXT_MESSAGE_CONTENT":
      process.stdout.write(String(event.delta));
      break;
    case "TEXT_MESSAGE_END":
      process.stdout.write("\n");
      break;
    case "TOOL_CALL_START":
      process.stdout.write(`  → ${String(event.toolCallName)}(`);
      break;
    case "TOOL_CALL_ARGS":
      process.stdout.write(String(event.delta));
      break;
    case "TOOL_CALL_END":
      process.stdout.write(")\n");
      break;
    case "TOOL_CALL_RESULT":
      console.log(`  ← ${String(event.content).slice(0, 200)}`);
      break;
    case "CUSTOM":
      if (event.name === "everruns.retry") console.error(`  (retrying: ${JSON.stringify((event.value as { error?: unknown }).error)})`);
      break;
    case "RUN_FINISHED": {
      const outcome = event.outcome as { type?: string } | undefined;
      if (outcome?.type === "cancelled") {
        console.error("run cancelled");
        return 4;
      }
      if (outcome?.type === "interrupt") {
        console.error(`run interrupted: waiting for an answer (${JSON.stringify((event.outcome as { interrupts?: unknown }).interrupts)})`);
        return 3;
      }
      const pending = (event.outcome as { pendingToolCallIds?: string[] } | undefined)?.pendingToolCallIds;
      if (pending?.length) {
        console.error(`run stopped for client tool calls: ${pending.join(", ")}`);
        return 3;
      }
      console.error("run succeeded");
      return 0;
    }
    case "RUN_ERROR":
      console.error(`run ended: ${String(event.message)}`);
      return 1;
  }
  return undefined;
}

async function cmdRuns(env: Env, args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { limit: { type: "string", default: "20" } } });
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ConfigError("--limit must be a whole number from 1 to 1000");
  await withDatabase(env, async (pool) => {
    const rows = await listRuns(pool, limit);
    console.table(rows.map((r) => ({ ...r, created_at: r.created_at.toISOString() })));
  });
}

async function cmdCancel(env: Env, args: string[]): Promise<void> {
  const runId = args[0];
  if (!runId) throw new ConfigError("usage: everruns cancel <run>");
  if (!isUuid(runId)) throw new ConfigError(`a run id is a UUID, got "${runId}"`);
  await withDatabase(env, async (pool) => {
    const cancelled = await cancelRun(pool, runId);
    console.log(cancelled ? `cancelled run ${runId}` : `run ${runId} had already finished`);
  });
}

async function cmdEvents(env: Env, args: string[]): Promise<void> {
  const runId = args[0];
  if (!runId) throw new ConfigError("usage: everruns events <run>");
  if (!isUuid(runId)) throw new ConfigError(`a run id is a UUID, got "${runId}"`);
  await withDatabase(env, async (pool) => {
    if (!(await getRun(pool, runId))) throw new EverrunsError("not_found", `unknown run ${runId}`);
    for (let after = 0; ;) {
      const rows = await readRunEvents(pool, runId, after, 1000);
      for (const row of rows) console.log(`${row.seq}\t${JSON.stringify(row.event)}`);
      if (rows.length < 1000) break;
      after = rows.at(-1)!.seq;
    }
  });
}

/** bench, load, chaos: each takes its own flags and works on throwaway databases of this server. */
async function cmdProof(env: Env, args: string[], command: (args: string[], databaseUrl: string) => Promise<number>): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) return command(args, ""); // usage needs no database
  const db = await resolveDatabase(env, () => {});
  try {
    return await command(args, db.url);
  } finally {
    await db.embedded?.stop();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (!command || command === "help" || command === "--help" || command === "-h") {
    console.log(USAGE);
    return command ? 0 : 1;
  }
  const env = loadEnv();
  switch (command) {
    case "start":
      await cmdStart(env);
      return 0;
    case "migrate":
      await withDatabase(
        env,
        async (pool) => {
          const n = await migrate(pool, (line) => console.log(line));
          console.log(n === 0 ? "database is up to date" : `applied ${n} migration(s)`);
        },
        { migrations: true },
      );
      return 0;
    case "worker":
      await cmdWorker(env, args);
      return 0;
    case "api":
      await cmdApi(env);
      return 0;
    case "web":
      await cmdWeb(env, args);
      return 0;
    case "build": {
      const { ensureWebBuild } = await import("./web.ts");
      await ensureWebBuild(consoleLogger("[web]", env.LOG_LEVEL), args.includes("--force") ? "always" : "auto");
      return 0;
    }
    case "run":
      return cmdRun(env, args);
    case "runs":
      await cmdRuns(env, args);
      return 0;
    case "cancel":
      await cmdCancel(env, args);
      return 0;
    case "events":
      await cmdEvents(env, args);
      return 0;
    case "bench":
      return cmdProof(env, args, (await import("./bench/index.ts")).benchCommand);
    case "load":
      return cmdProof(env, args, (await import("./load/index.ts")).loadCommand);
    case "chaos":
      return cmdProof(env, args, (await import("./chaos/index.ts")).chaosCommand);
    case "fuzz":
      return cmdProof(env, args, (await import("./fuzz/index.ts")).fuzzCommand);
    case "secrets":
      return (await import("./secrets-command.ts")).secretsCommand(args, env);
    case "keys":
      return (await import("./keys-command.ts")).keysCommand(args, env);
    case "workspaces":
      return (await import("./workspaces-command.ts")).workspacesCommand(args, env);
    default:
      console.error(`unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    // ours, and node:util parseArgs's complaints about flags: a message for the user, no stack
    const code = (error as { code?: unknown } | null)?.code;
    const usage = typeof code === "string" && code.startsWith("ERR_PARSE_ARGS");
    if (error instanceof EverrunsError || usage) console.error(`everruns: ${(error as Error).message}`);
    else console.error(`everruns: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  },
);
