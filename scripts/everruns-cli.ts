// The everruns command line (started by scripts/everruns.ts): commander parses (every command has --help, with no side effects);
// the commands live in scripts/cli/ (processes.ts: start, worker, api, web; commands.ts: the
// rest). Errors print as one line (scripts/cli/errors.ts) with the documented exit codes.
import { Command, CommanderError, Option } from "commander";
import { loadEnv, type Env } from "../db/env.ts";
import { loadOperatorModels } from "../lib/models/operator-file.ts";
import { consoleLogger } from "../lib/logger.ts";
// The worker, the API, the console server and the proof commands load when a command needs them:
// a worker process imports none but the worker (spawn → ready is what a restart after a crash
// waits for), and the commands on the database (runs, keys, secrets, …) start quickly.
const commands = () => import("./cli/commands.ts");
import type { OutcomeOptions } from "./cli/commands.ts";
import { describeError, EXIT, EXIT_CODES_HELP, wantsStack } from "./cli/errors.ts";
import { resolveDatabase } from "./database.ts";

const ENVIRONMENT_HELP = `Every API route but /healthz needs an API key: Authorization: Bearer evr_… (everruns keys create makes one;
everruns start keeps an admin key of the default workspace in .everruns/admin-key). run, approve, reject, outcome,
signal, resume, batch, schedules, webhooks, notify and trigger go through the API with that key; runs, cancel, events,
secrets, keys, workspaces and prices use DATABASE_URL: an administrator's connection.

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
    WORKER_MAX_IN_FLIGHT              steps run at once per worker (default 100; formerly WORKER_CONCURRENCY)
    WORKER_DB_CONNECTIONS             database connections per worker's pool, plus 1 LISTEN and 1 liveness (default 10)
    EVERRUNS_SCHEDULER                on (default): this worker runs a schedule ticker (each occurrence fires once whatever
                                      the number of workers); off: none
    EVERRUNS_SCHEDULE_TICK_MS         ms between ticks when nothing wakes the ticker (10-60000, default 1000)
    EVERRUNS_NOTIFY_MAX_IN_FLIGHT     notification deliveries a worker sends at once (1-10000, default 10; shared workers only)
    API_DB_CONNECTIONS                database connections of the API's pool, plus 1 LISTEN (default 10)
    DATABASE_DIRECT_URL               behind a transaction-mode pooler (PgBouncer) in DATABASE_URL: a direct connection for
                                      LISTEN, liveness and migrations
    EVERRUNS_DB_RESERVED_CONNECTIONS  connections of max_connections left to other clients; a process whose budget would
                                      take them refuses to start (default 10)
    WORKER_SHUTDOWN_TIMEOUT_MS        how long SIGTERM waits for in-flight steps (default 10000)
    WORKER_INLINE_CHAIN_MS            how long one job may run a run's steps back to back while every slot is busy
                                      (default 10000; with a slot free up to 5 min; 0: a job per step)
    EVERRUNS_COMMIT_RETRY_MS          how long a finished step retries its commit while the database is
                                      unreachable before handing the step back to run again (default 60000)
    EVERRUNS_SECRET_KEY               32 bytes (64 hex digits or base64) sealing secrets; the same on the API and every
                                      worker (start without DATABASE_URL keeps one in .everruns/secret-key)
    EVERRUNS_HTTP_MAX_RESPONSE_BYTES  the largest response an http tool reads (default 1 MiB)
    EVERRUNS_MODELS_FILE              a JSON file in the shape of lib/models/models.json merged over the built-in
                                      models table (prices, context windows, capabilities); API and worker
  Providers and egress (the worker's)
    OPENAI_API_KEY, OPENAI_BASE_URL   the openai provider's key and endpoint
    ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL  the anthropic provider's key and endpoint
    EVERRUNS_EGRESS_ALLOW             hosts, IPs and CIDR ranges http tools and an agent's base_url may reach even when
                                      loopback or private (start without DATABASE_URL: 127.0.0.1,::1,localhost)
    EVERRUNS_PROVIDER_KEY_ENVS        further variables an agent's api_key_env may name
  API, console and CLI
    PORT, HOST                        where the API listens (default 127.0.0.1:4000)
    EVERRUNS_WEB_PORT                 the console's port (default 3000)
    EVERRUNS_ALLOWED_HOSTS            Host names the API and console answer to besides loopback and HOST
    EVERRUNS_ALLOWED_ORIGINS          web origins allowed to send state-changing requests and open websockets
    EVERRUNS_RATE_LIMIT_PER_MINUTE, EVERRUNS_RATE_LIMIT_BURST  requests per API key (default 1200/min, 200/s)
    EVERRUNS_AUTH_FAILURES_PER_MINUTE failed authentications per client address before 429 (default 60)
    EVERRUNS_HTTP_HEADERS_TIMEOUT_MS, EVERRUNS_HTTP_REQUEST_TIMEOUT_MS, EVERRUNS_HTTP_KEEPALIVE_TIMEOUT_MS
                                      slow clients (default 10000, 30000, 5000)
    EVERRUNS_API_URL                  where the CLI finds the API (default http://127.0.0.1:PORT)
    EVERRUNS_API_KEY                  the key the CLI sends
    EVERRUNS_API_KEY_FILE             where start keeps its admin key (default .everruns/admin-key)
    EVERRUNS_RUN_DIR                  where start records what it runs, for status and stop (default .everruns)
    NODE_ENV                          production: no GraphiQL, no introspection
    METRICS_PORT, METRICS_HOST        /metrics without a key on an internal address (default host 127.0.0.1;
                                      api: every workspace; worker: its own metrics); the API's port needs an admin key
    METRICS_MAX_LABEL_VALUES          workspace, agent and model label values /metrics shows, the rest "other" (default 50)
  LOG_LEVEL                           debug (also: stack traces of errors), info (default), warn or error
  LOG_FORMAT                          json (one JSON object per line) or pretty; default: pretty in a terminal, else json

${EXIT_CODES_HELP}`;

/** The exit code of the command that ran (commander's actions return nothing). */
let exitCode: number = EXIT.ok;
let env: Env | null = null;
/** The environment, validated when a command runs (not for --help). */
const getEnv = (): Env => (env ??= loadEnv());
/**
 * The environment of a command that prices runs or checks agent configs (start, worker, api):
 * also the operator's models table (EVERRUNS_MODELS_FILE) over the built-in one, so a bad file
 * stops those processes and no other command.
 */
const getServingEnv = (): Env => {
  const loaded = getEnv();
  loadOperatorModels();
  return loaded;
};
const done = (code: number) => {
  exitCode = code;
};

/** Commands with subcommands and flags of their own (keys, secrets, bench, …) get their arguments as they are. */
function passThrough(program: Command, name: string, summary: string, run: (args: string[]) => Promise<number>): void {
  program
    .command(name)
    .summary(summary)
    .description(`${summary} (everruns ${name} --help for its usage)`)
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument("[args...]")
    .action(async (args: string[]) => done(await run(args)));
}

/** bench, load, chaos, fuzz: each takes its own flags and works on throwaway databases of this server. */
async function proof(args: string[], load: () => Promise<(args: string[], databaseUrl: string) => Promise<number>>): Promise<number> {
  const command = await load();
  if (args.includes("--help") || args.includes("-h")) return command(args, ""); // usage needs no database
  const db = await resolveDatabase(getEnv(), () => {});
  try {
    return await command(args, db.url);
  } finally {
    await db.embedded?.stop();
  }
}

function buildProgram(): Command {
  const program = new Command("everruns")
    .description("everruns: durable execution for AI agents, on Postgres alone")
    .usage("<command> [options]")
    .configureHelp({ helpWidth: 120 })
    .showHelpAfterError("(everruns <command> --help shows a command's usage)")
    .configureOutput({ writeErr: (text) => process.stderr.write(text.replace(/^error: /, "everruns: ")) })
    .addHelpText("after", `\n${ENVIRONMENT_HELP}`)
    .exitOverride();

  program
    .command("start")
    .summary("everything in one process: migrate, worker, API, console, demo agent")
    .description(
      "Migrates, runs a worker, the API and the console, seeds the demo agent (embedded Postgres under .everruns/ when\n" +
        "DATABASE_URL is unset). Prints its pid: SIGINT or SIGTERM to it stops the console, the API, the worker and the\n" +
        "embedded Postgres, in that order. Refuses to start (exit 1) beside a running start on the same PORT.\n" +
        "For supervisors (systemd, Docker CMD, pm2): run node scripts/everruns.ts start (npm start execs it too).",
    )
    .action(async () => {
      const { cmdStart } = await import("./cli/processes.ts");
      await cmdStart(getServingEnv());
    });
  program
    .command("status")
    .summary("what runs here: pids, ports, API health, embedded Postgres")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => (await commands()).cmdStatus(getEnv(), opts));
  program
    .command("stop")
    .summary("stop a running everruns start (SIGTERM to its pid), and an embedded Postgres left behind by a kill -9")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => (await commands()).cmdStop(getEnv(), opts));
  program
    .command("migrate")
    .summary("apply database migrations (safe when several run at once)")
    .action(async () => (await commands()).cmdMigrate(getEnv()));
  program
    .command("worker")
    .summary("run a worker process (as many as you like, on any host)")
    .option("--max-in-flight <n>", "steps run at once, each waiting on its LLM or tool call without a connection (default WORKER_MAX_IN_FLIGHT, 100)")
    .option("--db-connections <n>", "database connections of the worker's pool, plus 1 LISTEN and 1 liveness (default WORKER_DB_CONNECTIONS, 10)")
    .option("--concurrency <n>", "former name of --max-in-flight")
    .option(
      "--workspace <name|id>",
      "serve only this dedicated workspace (mark it first: everruns workspaces limits <name> --dedicated); shared workers never take its runs (default EVERRUNS_WORKER_WORKSPACE; unset: a shared worker)",
    )
    .action(async (opts: { maxInFlight?: string; dbConnections?: string; concurrency?: string; workspace?: string }) => {
      const { cmdWorker } = await import("./cli/processes.ts");
      await cmdWorker(getServingEnv(), opts);
    });
  program
    .command("api")
    .summary("run the API server (GraphQL, AG-UI, SSE, REST) on HOST:PORT")
    .action(async () => {
      const { cmdApi } = await import("./cli/processes.ts");
      await cmdApi(getServingEnv());
    });
  program
    .command("web")
    .summary("run the operations console alone against an API")
    .option("--api <url>", "the API (default EVERRUNS_API_URL, else http://127.0.0.1:PORT)")
    .option("--port <n>", "the console's port (default EVERRUNS_WEB_PORT, 3000)")
    .action(async (opts: { api?: string; port?: string }) => {
      const { cmdWeb } = await import("./cli/processes.ts");
      await cmdWeb(getEnv(), opts);
    });
  program
    .command("build")
    .summary("build the console if its sources changed (start and web do too)")
    .option("--force", "build even if nothing changed")
    .action(async (opts: { force?: boolean }) => {
      const { ensureWebBuild } = await import("./web.ts");
      await ensureWebBuild(consoleLogger("[web]", getEnv().LOG_LEVEL), opts.force ? "always" : "auto");
    });
  program
    .command("run")
    .summary("start a run through the API (agent id or name); --follow streams it")
    .argument("<agent>", "the agent's id or name")
    .argument("<prompt>", "the user message")
    .option("-f, --follow", "stream the run; the exit code tells how it ended (see everruns --help)")
    .option("--traceparent <value>", "a W3C traceparent the run's trace continues (default: TRACEPARENT when valid)")
    .option("--tracestate <value>", "the W3C tracestate of that traceparent (default: TRACESTATE when valid, with TRACEPARENT)")
    .addHelpText("after", "\nSends EVERRUNS_API_KEY, else the key everruns start keeps in .everruns/admin-key. Without --follow prints the run id.")
    .action(async (agent: string, prompt: string, opts: { follow?: boolean; traceparent?: string; tracestate?: string }) =>
      done(await (await commands()).cmdRun(getEnv(), agent, prompt, opts)),
    );
  program
    .command("runs")
    .summary("list recent runs")
    .addOption(new Option("--limit <n>", "how many").default("20"))
    .option("--json", "print JSON")
    .action(async (opts: { limit: string; json?: boolean }) => (await commands()).cmdRuns(getEnv(), opts));
  program
    .command("cancel")
    .summary("cancel a run")
    .argument("<run>", "the run's id")
    .action(async (run: string) => (await commands()).cmdCancel(getEnv(), run));
  program
    .command("events")
    .summary("print a run's stored AG-UI event log (seq<TAB>event per line)")
    .argument("<run>", "the run's id")
    .option("--json", "JSON lines: {seq, event}")
    .action(async (run: string, opts: { json?: boolean }) => (await commands()).cmdEvents(getEnv(), run, opts));
  program
    .command("approve")
    .summary("approve an interrupted run's tool calls (through the API)")
    .argument("<run>", "the interrupted run's id")
    .option("--tool-call <id>", "the tool call to approve, when you want to name it")
    .option("--reason <text>", "why (kept with the answer)")
    .option("--arguments <json>", "run the tool with these arguments instead (a JSON object)")
    .option("-f, --follow", "stream the continuation run")
    .addHelpText(
      "after",
      "\nPrints the continuation run's id (the run goes on as a new run on its thread). Answers approvals only: a run\n" +
        "asking about a tool call whose outcome is unknown is answered by everruns outcome, and one asking both by\n" +
        "everruns resume (a run's open questions are answered all at once).",
    )
    .action(async (run: string, opts: { toolCall?: string; reason?: string; arguments?: string; follow?: boolean }) =>
      done(await (await commands()).cmdApprove(getEnv(), run, opts)),
    );
  program
    .command("reject")
    .summary("reject an interrupted run's tool calls: the model is told (through the API)")
    .argument("<run>", "the interrupted run's id")
    .option("--tool-call <id>", "the tool call to reject, when you want to name it")
    .option("--reason <text>", "why (the model sees it)")
    .option("-f, --follow", "stream the continuation run")
    .addHelpText("after", "\nPrints the continuation run's id. Answers approvals only (see everruns approve --help).")
    .action(async (run: string, opts: { toolCall?: string; reason?: string; follow?: boolean }) =>
      done(await (await commands()).cmdReject(getEnv(), run, opts)),
    );
  program
    .command("outcome")
    .summary("answer an interrupted run's unknown-outcome question: call the tool again, skip it, or enter its result")
    .usage("<run> --retry | --skip | --result <text> [--tool-call <id>] [-f]")
    .argument("<run>", "the interrupted run's id")
    .option("--retry", "call the tool again (it may then take effect twice)")
    .option("--skip", "do not call it again: the model is told it was skipped")
    .option("--result <text>", "the tool's result, as you found it: the model sees it as the tool's answer")
    .option("--tool-call <id>", "the tool call to answer, when you want to name it")
    .option("-f, --follow", "stream the continuation run")
    .addHelpText(
      "after",
      "\nA step calling a tool ended (a crash) before the tool's result was recorded, and the agent's on_unknown_outcome\n" +
        "is interrupt: whether the call took effect is unknown. Check the tool's side (the everruns events of the run show\n" +
        "the call and its arguments), then answer with one of --retry, --skip or --result. Prints the continuation run's id.",
    )
    .action(async (run: string, opts: OutcomeOptions) => done(await (await commands()).cmdOutcome(getEnv(), run, opts)));
  program
    .command("signal")
    .summary("send an event to a run (wakes a wait_for_event of that name; kept for it otherwise)")
    .argument("<run>", "the run's id")
    .argument("<event>", "the event's name")
    .option("--payload <json>", "the event's payload (JSON)")
    .option("--json", "print JSON")
    .action(async (run: string, event: string, opts: { payload?: string; json?: boolean }) => (await commands()).cmdSignal(getEnv(), run, event, opts));
  program
    .command("event")
    .summary("send an event to the workflow runs waiting for its name and correlation key (kept for the first that waits otherwise)")
    .argument("<event>", "the event's name")
    .requiredOption("--key <correlation key>", "the correlation key the workflow's wait_for_event state waits for (e.g. a purchase order number)")
    .option("--payload <json>", "the event's payload (JSON)")
    .option("--json", "print JSON")
    .action(async (event: string, opts: { key: string; payload?: string; json?: boolean }) => (await commands()).cmdEvent(getEnv(), event, opts));
  program
    .command("redrive")
    .summary("start a failed workflow run again from a state (default: the one it failed in), with the input it had there")
    .argument("<run>", "the failed workflow run's id")
    .option("--from <state>", "the state to start again from")
    .option("--json", "print JSON")
    .action(async (run: string, opts: { from?: string; json?: boolean }) => (await commands()).cmdRedrive(getEnv(), run, opts));
  program
    .command("resume")
    .summary("answer an interrupted run's interrupts with an AG-UI resume array (through the API)")
    .argument("<run>", "the interrupted run's id")
    .requiredOption("--json <resume>", `the answers: '[{"interruptId": "approval-…", "status": "resolved", "payload": {"approved": true}}]'`)
    .option("-f, --follow", "stream the continuation run")
    .action(async (run: string, opts: { json: string; follow?: boolean }) => done(await (await commands()).cmdResume(getEnv(), run, opts)));

  passThrough(program, "secrets", "a workspace's secrets, write-only: set|list|delete", async (args) =>
    (await import("./secrets-command.ts")).secretsCommand(args, getEnv()),
  );
  passThrough(program, "prices", "a workspace's own model prices (USD per million tokens): list|set|delete", async (args) =>
    (await import("./prices-command.ts")).pricesCommand(args, getEnv()),
  );
  passThrough(program, "traces", "OpenTelemetry traces of runs: export --run <id> [--stdout]", async (args) =>
    (await import("./traces-command.ts")).tracesCommand(args, getEnv()),
  );
  passThrough(program, "archive", "finished runs with their steps and events as JSONL, a file per workspace and day: --before DATE --out DIR", async (args) =>
    (await import("./archive-command.ts")).archiveCommand(args, getEnv()),
  );
  passThrough(program, "keys", "a workspace's API keys: create|list|revoke", async (args) => (await import("./keys-command.ts")).keysCommand(args, getEnv()));
  passThrough(program, "workspaces", "workspaces: create|list|limits", async (args) =>
    (await import("./workspaces-command.ts")).workspacesCommand(args, getEnv()),
  );
  passThrough(program, "scheduler", "how runs are admitted: fair share across workspaces or FIFO", async (args) =>
    (await import("./scheduler-command.ts")).schedulerCommand(args, getEnv()),
  );
  passThrough(program, "batch", "many items through an agent: run|follow|status|list|start|pause|resume|cancel|retry|parallel|results", async (args) =>
    (await import("./batch-command.ts")).batchCommand(args, getEnv()),
  );
  passThrough(program, "schedules", "runs on a cron or an interval: list|show|create|pause|resume|delete|fires|next", async (args) =>
    (await import("./triggers-command.ts")).schedulesCommand(args, getEnv()),
  );
  passThrough(program, "webhooks", "inbound webhooks that start runs: list|show|create|update|delete|deliveries|test", async (args) =>
    (await import("./triggers-command.ts")).webhooksCommand(args, getEnv()),
  );
  passThrough(program, "notify", "notifications of run and batch ends: list|show|create|update|delete|deliveries|resend", async (args) =>
    (await import("./triggers-command.ts")).notifyCommand(args, getEnv()),
  );
  passThrough(program, "trigger", "start a run from an event payload, on a long-lived thread with --thread-key", async (args) =>
    (await import("./triggers-command.ts")).triggerCommand(args, getEnv()),
  );
  passThrough(program, "bench", "per-step cost vs a bare graphile-worker chain, scaling, resume latency", (args) =>
    proof(args, async () => (await import("./bench/index.ts")).benchCommand),
  );
  passThrough(program, "load", "1,000 concurrent runs, 10,000 parked runs, memory soak, connections", (args) =>
    proof(args, async () => (await import("./load/index.ts")).loadCommand),
  );
  passThrough(program, "chaos", "kill -9 workers and the API under mixed load; check every invariant", (args) =>
    proof(args, async () => (await import("./chaos/index.ts")).chaosCommand),
  );
  passThrough(program, "fuzz", "hostile generated input at every surface (fast-check)", (args) =>
    proof(args, async () => (await import("./fuzz/index.ts")).fuzzCommand),
  );
  program.command("help [command]", { hidden: true }).action((name?: string) => {
    const sub = name ? program.commands.find((c) => c.name() === name) : undefined;
    (sub ?? program).outputHelp();
  });
  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return EXIT.usage;
  }
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    // --help and --version are not errors; everything else commander refuses is a usage error
    return error.code === "commander.helpDisplayed" || error.code === "commander.help" || error.code === "commander.version" ? EXIT.ok : EXIT.usage;
  }
  return exitCode;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    // one line that says what is wrong and what to do (LOG_LEVEL=debug adds the stack)
    console.error(`everruns: ${describeError(error)}`);
    if (wantsStack(error)) console.error((error as Error).stack);
    process.exit(EXIT.error);
  },
);
