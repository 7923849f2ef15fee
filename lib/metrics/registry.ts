// The Prometheus metrics of this process (docs/observability.md, "Metrics"): one prom-client
// registry per process, private (never prom-client's global default, which a library could
// fill), holding what this process measures itself: the worker's steps, LLM calls, retries and
// latencies (worker/metrics.ts), the API's requests and event delivery (api/metrics.ts), and
// prom-client's default process metrics. `everruns start` runs the worker and the API in one
// process: one registry shows both. What describes the database (runs, queue, workers) is not
// here: api/metrics.ts reads it at scrape time.
import { collectDefaultMetrics, Counter, Histogram, Registry } from "prom-client";

/** Seconds: from a few ms (a tool, a commit) to an hour (a long LLM call, a backlog). */
const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
/** Seconds of an HTTP request or an event's delivery (streams excluded: they end when the run does). */
const FAST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Tokens of one LLM call: the OpenTelemetry GenAI buckets of gen_ai.client.token.usage. */
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

/** The metrics a process measures itself. */
export interface ProcessMetrics {
  registry: Registry;
  stepsTotal: Counter<"kind" | "outcome">;
  stepDuration: Histogram<"kind">;
  llmDuration: Histogram<"provider" | "model">;
  stepRetries: Counter<"kind" | "provider" | "reason">;
  queueToFirstStep: Histogram;
  resumeAfterCrash: Histogram;
  tokenUsage: Histogram<"gen_ai_token_type" | "gen_ai_provider_name" | "gen_ai_request_model">;
  httpDuration: Histogram<"method" | "route" | "status">;
  eventDeliveryLag: Histogram<"transport">;
}

let processMetrics: ProcessMetrics | null = null;

/** This process's registry and metrics, made on first use (with the default process metrics). */
export function metricsOfProcess(): ProcessMetrics {
  if (processMetrics) return processMetrics;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  processMetrics = {
    registry,
    stepsTotal: new Counter({
      name: "everruns_steps_total",
      help: "Step attempts this process ended, by step kind and outcome (succeeded, failed: committed; retried: a transient error, tried again later; fenced: another attempt or a cancel took over)",
      labelNames: ["kind", "outcome"],
      registers,
    }),
    stepDuration: new Histogram({
      name: "everruns_step_duration_seconds",
      help: "From an attempt's start in this process to its commit, by step kind",
      labelNames: ["kind"],
      buckets: SECONDS_BUCKETS,
      registers,
    }),
    llmDuration: new Histogram({
      name: "everruns_llm_request_duration_seconds",
      help: "An LLM call's duration, streaming included, failed calls too, by provider and model (models past the cap: _other)",
      labelNames: ["provider", "model"],
      buckets: SECONDS_BUCKETS,
      registers,
    }),
    stepRetries: new Counter({
      name: "everruns_step_retries_total",
      help: "Transient failures of LLM and tool calls retried with the agent's policy, by step kind, provider (tools: tool) and error code",
      labelNames: ["kind", "provider", "reason"],
      registers,
    }),
    queueToFirstStep: new Histogram({
      name: "everruns_queue_to_first_step_seconds",
      help: "From a run's insert (runs.created_at) to its first step's start in this process, on the database clock",
      buckets: SECONDS_BUCKETS,
      registers,
    }),
    resumeAfterCrash: new Histogram({
      name: "everruns_resume_after_crash_seconds",
      help: "From the death of a step's attempt being detected (its worker's job freed by the sweeper) to the step's next attempt starting, on the database clock",
      buckets: SECONDS_BUCKETS,
      registers,
    }),
    tokenUsage: new Histogram({
      name: "gen_ai_client_token_usage",
      help: "Tokens of each LLM call (OpenTelemetry GenAI gen_ai.client.token.usage), by token type (input, output), provider and model (past the cap: _other)",
      labelNames: ["gen_ai_token_type", "gen_ai_provider_name", "gen_ai_request_model"],
      buckets: TOKEN_BUCKETS,
      registers,
    }),
    httpDuration: new Histogram({
      name: "everruns_http_request_duration_seconds",
      help: "API requests by method, route template (never the raw path) and status class (2xx...); a stream counts until its response ends",
      labelNames: ["method", "route", "status"],
      buckets: FAST_BUCKETS,
      registers,
    }),
    eventDeliveryLag: new Histogram({
      name: "everruns_event_delivery_lag_seconds",
      help: "From a run event's commit (its created_at, on the database clock) to its write to a live follower, by transport (sse, graphql)",
      labelNames: ["transport"],
      buckets: FAST_BUCKETS,
      registers,
    }),
  };
  return processMetrics;
}

/**
 * What a label value past its cap reads: a leading underscore, which no workspace or agent name
 * may have (their checks, 000001), so a value never merges with the fold.
 */
export const OTHER_LABEL = "_other";

/** Label values of one dimension capped at `max` distinct values per process; later ones read "_other". */
export class CappedLabel {
  readonly #seen = new Set<string>();
  readonly #max: number;
  constructor(max: number) {
    this.#max = max;
  }
  of(value: string): string {
    if (this.#seen.has(value)) return value;
    if (this.#seen.size >= this.#max) return OTHER_LABEL;
    this.#seen.add(value);
    return value;
  }
}

/** The default cap of label values (METRICS_MAX_LABEL_VALUES). */
export const DEFAULT_MAX_LABEL_VALUES = 50;
