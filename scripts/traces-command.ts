// `everruns traces export --run <id> [--stdout]`: a past run's spans built again from its rows
// (lib/tracing/spans.ts, the same deterministic ids the workers sent) and sent to the configured
// OTLP endpoint (OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, lib/tracing/config.ts), or printed as the
// OTLP/JSON request body with --stdout. Straight on the database, as an administrator (every
// workspace), like `everruns prices`. docs/observability.md, "Traces".
import { parseArgs } from "node:util";
import { JsonTraceSerializer } from "@opentelemetry/otlp-transformer";
import { ConfigError, NotFoundError } from "../db/errors.ts";
import type { Env } from "../db/env.ts";
import { isUuid } from "../db/pool.ts";
import { readRunTraces } from "../db/sql/readRunTraces.ts";
import { createSpanExporter, tracingConfigFromEnv, TracingConfigError, tracingResource, type TracingConfig } from "../lib/tracing/config.ts";
import { buildRunSpans } from "../lib/tracing/spans.ts";
import { exportSpans } from "../worker/trace-export.ts";
import { wantsHelp, withCliPool } from "./workspaces-command.ts";

export const TRACES_USAGE = `Usage:
  everruns traces export --run <run id> [--stdout]
        the run's spans (invoke_agent, chat, execute_tool, ... one per attempt of each step) built again
        from its rows, with the ids the workers sent: to the OTLP endpoint of OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
        or OTEL_EXPORTER_OTLP_ENDPOINT (OTEL_EXPORTER_OTLP_PROTOCOL http/protobuf or http/json), or with
        --stdout printed as one OTLP/JSON ExportTraceServiceRequest. A run that has not ended has no root span yet.`;

export interface TracesCommandIo {
  out?: (line: string) => void;
  /** default: the OTEL_* variables of the process */
  env?: NodeJS.ProcessEnv;
}

/** `everruns traces export ...`; returns the exit code. */
export async function tracesCommand(args: string[], env: Env, io: TracesCommandIo = {}): Promise<number> {
  const out = io.out ?? ((line: string) => console.log(line));
  const [sub, ...rest] = args;
  if (!sub || wantsHelp(args)) {
    out(TRACES_USAGE);
    return sub ? 0 : 2;
  }
  if (sub !== "export") throw new ConfigError(`unknown traces command "${sub}"\n\n${TRACES_USAGE}`);
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { run: { type: "string" }, stdout: { type: "boolean" } } });
  if (positionals.length > 0) throw new ConfigError(`everruns traces export takes flags only, got ${JSON.stringify(positionals[0])}\n\n${TRACES_USAGE}`);
  if (values.run === undefined) throw new ConfigError(`usage: everruns traces export --run <run id> [--stdout]: --run is missing`);
  if (!isUuid(values.run)) throw new ConfigError(`--run takes a run's id (a uuid: everruns runs lists them), got ${JSON.stringify(values.run)}`);
  let config: TracingConfig | null;
  try {
    config = tracingConfigFromEnv(io.env ?? process.env, "everruns-worker");
  } catch (error) {
    if (error instanceof TracingConfigError) throw new ConfigError(`tracing: ${error.message}`);
    throw error;
  }
  if (!config && !values.stdout) {
    throw new ConfigError(
      "tracing is not configured: set OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (or OTEL_EXPORTER_OTLP_ENDPOINT) to your collector's OTLP/HTTP address, " +
        "and leave OTEL_SDK_DISABLED and OTEL_TRACES_EXPORTER=none unset; or print the spans with --stdout",
    );
  }
  // the workers' service.name: a run exported again lands in the service its spans went to
  const settings = config ?? { protocol: "http/json" as const, genAiLatest: false, serviceName: "everruns-worker" };
  const runId = values.run.toLowerCase();
  const [run] = await withCliPool(env, (pool) => readRunTraces(pool, [{ runId, afterSeq: 0 }]));
  if (!run) throw new NotFoundError(`unknown run ${runId}`);
  const resource = await tracingResource(settings);
  const spans = buildRunSpans(run, { resource, genAiLatest: settings.genAiLatest, root: true });
  if (values.stdout) {
    out(new TextDecoder().decode(JsonTraceSerializer.serializeRequest(spans)));
    return 0;
  }
  const exporter = await createSpanExporter(settings);
  try {
    await exportSpans(exporter, spans);
  } catch (error) {
    throw new ConfigError(`the OTLP endpoint did not take the spans of run ${runId}: ${(error as Error).message}; check OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`);
  } finally {
    await exporter.shutdown().catch(() => undefined);
  }
  out(`exported ${spans.length} span(s) of run ${runId} (trace ${spans[0]?.spanContext().traceId ?? "-"})`);
  return 0;
}
