// Whether and where traces go, from the standard OpenTelemetry variables
// (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/), checked
// with zod at start: an unusable value stops the process with a message naming the variable.
// Off unless an OTLP endpoint is set; OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turn
// it off. The OTLP exporters themselves read the endpoint, OTEL_EXPORTER_OTLP_(TRACES_)HEADERS,
// _TIMEOUT and _COMPRESSION; the resource comes from OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES (@opentelemetry/resources' envDetector).
import { z } from "zod";
import type { SpanExporter } from "@opentelemetry/sdk-trace";
import type { Resource } from "@opentelemetry/resources";

/** A configuration problem (lib/ may not import db/errors.ts: the CLI maps it to a ConfigError's exit). */
export class TracingConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TracingConfigError";
  }
}

export type OtlpProtocol = "http/protobuf" | "http/json";

export interface TracingConfig {
  protocol: OtlpProtocol;
  /** the traces endpoint (from the variables; headers, timeout and compression the exporter reads itself) */
  url?: string;
  /**
   * OTEL_SEMCONV_STABILITY_OPT_IN holds gen_ai_latest_experimental: only the latest GenAI names
   * (gen_ai.provider.name); otherwise the names of before it too (gen_ai.system).
   */
  genAiLatest: boolean;
  /** The service.name when OTEL_SERVICE_NAME does not give one. */
  serviceName: string;
}

const url = (name: string) =>
  z
    .string()
    .trim()
    .refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), `${name} must be an http:// or https:// URL`);

const protocol = (name: string) =>
  z
    .string()
    .trim()
    .refine((v) => v !== "grpc", `${name}=grpc is not supported by Everruns (it sends OTLP over HTTP only): use http/protobuf (the default) or http/json`)
    .pipe(z.enum(["http/protobuf", "http/json"], { error: `${name} must be http/protobuf or http/json` }));

const TracingEnvSchema = z.object({
  OTEL_SDK_DISABLED: z.string().trim().toLowerCase().optional(),
  OTEL_TRACES_EXPORTER: z
    .string()
    .trim()
    .toLowerCase()
    .refine(
      (v) => v.split(",").every((e) => ["otlp", "none"].includes(e.trim())),
      "OTEL_TRACES_EXPORTER must be otlp or none (Everruns exports traces over OTLP only)",
    )
    .optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: url("OTEL_EXPORTER_OTLP_ENDPOINT").optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: protocol("OTEL_EXPORTER_OTLP_PROTOCOL").optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: protocol("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").optional(),
  OTEL_SEMCONV_STABILITY_OPT_IN: z.string().optional(),
});

/**
 * The tracing configuration of this process, or null when tracing is off (no endpoint, disabled,
 * or the exporter none). TracingConfigError when a variable is unusable (grpc, a bad URL).
 */
export function tracingConfigFromEnv(source: NodeJS.ProcessEnv = process.env, serviceName = "everruns"): TracingConfig | null {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([k, v]) => k.startsWith("OTEL_") && v !== undefined && v.trim() !== ""));
  const parsed = TracingEnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new TracingConfigError(`invalid environment:\n${parsed.error.issues.map((i) => `  ${String(i.path[0])}: ${i.message}`).join("\n")}`);
  }
  const env = parsed.data;
  if (env.OTEL_SDK_DISABLED === "true") return null;
  if (env.OTEL_TRACES_EXPORTER !== undefined && !env.OTEL_TRACES_EXPORTER.split(",").some((e) => e.trim() === "otlp")) return null;
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT === undefined && env.OTEL_EXPORTER_OTLP_ENDPOINT === undefined) return null;
  return {
    protocol: env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? "http/protobuf",
    // as the specification says: the traces endpoint as it is, or the base endpoint + /v1/traces
    url: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? `${env.OTEL_EXPORTER_OTLP_ENDPOINT!.replace(/\/+$/, "")}/v1/traces`,
    genAiLatest: genAiLatestFromEnv(env.OTEL_SEMCONV_STABILITY_OPT_IN),
    serviceName,
  };
}

/** Whether OTEL_SEMCONV_STABILITY_OPT_IN (a comma-separated list) opts in to the latest GenAI conventions. */
export function genAiLatestFromEnv(value: string | undefined = process.env.OTEL_SEMCONV_STABILITY_OPT_IN): boolean {
  return (value ?? "")
    .split(",")
    .map((v) => v.trim())
    .includes("gen_ai_latest_experimental");
}

/** The OTLP/HTTP exporter of `config` (the official package of its protocol, loaded only now). */
export async function createSpanExporter(config: TracingConfig): Promise<SpanExporter> {
  const options = config.url === undefined ? {} : { url: config.url };
  if (config.protocol === "http/json") {
    const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
    return new OTLPTraceExporter(options);
  }
  const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-proto");
  return new OTLPTraceExporter(options);
}

/** The resource of the spans: the SDK's defaults, service.name `config.serviceName`, then OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES. */
export async function tracingResource(config: TracingConfig): Promise<Resource> {
  const { defaultResource, detectResources, envDetector, resourceFromAttributes } = await import("@opentelemetry/resources");
  return defaultResource()
    .merge(resourceFromAttributes({ "service.name": config.serviceName }))
    .merge(detectResources({ detectors: [envDetector] }));
}
