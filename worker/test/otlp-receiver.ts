// An in-process OTLP/HTTP traces receiver for tests: what the real exporters send, decoded.
// http/json requests (ExportTraceServiceRequest as OTLP/JSON) are parsed into flat spans;
// http/protobuf requests are kept as raw bytes (otlp-transformer has no public request decoder),
// which tests search for the binary ids they expect.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export type OtlpValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
export interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}

/** One received span, with its resource's and its own attributes as plain values. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  /** the span's W3C tracestate ("" when none) */
  traceState: string;
  name: string;
  kind: number;
  startNs: bigint;
  endNs: bigint;
  status: { code: number; message?: string };
  attributes: Record<string, string | number | boolean>;
  events: Array<{ name: string; attributes: Record<string, string | number | boolean> }>;
  resource: Record<string, string | number | boolean>;
}

export interface OtlpReceiver {
  /** the traces endpoint: http://127.0.0.1:<port>/v1/traces */
  url: string;
  spans: ReceivedSpan[];
  /** bodies of http/protobuf requests */
  protobuf: Buffer[];
  /** requests received, by content type */
  requests: number;
  /** answer the next `n` requests with this status (an endpoint that is down) */
  failNext(n: number, status?: number): void;
  close(): Promise<void>;
}

function plain(value: OtlpValue): string | number | boolean {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.boolValue !== undefined) return value.boolValue;
  return JSON.stringify(value);
}

function attributesOf(list: OtlpAttribute[] | undefined): Record<string, string | number | boolean> {
  return Object.fromEntries((list ?? []).map((a) => [a.key, plain(a.value)]));
}

interface JsonSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  status?: { code?: number; message?: string };
  attributes?: OtlpAttribute[];
  events?: Array<{ name: string; attributes?: OtlpAttribute[] }>;
}

/** The spans of an OTLP/JSON ExportTraceServiceRequest (ids as hex, as the JSON encoding has them). */
export function decodeJsonTraces(body: unknown): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  const request = body as { resourceSpans?: Array<{ resource?: { attributes?: OtlpAttribute[] }; scopeSpans?: Array<{ spans?: JsonSpan[] }> }> };
  for (const rs of request.resourceSpans ?? []) {
    const resource = attributesOf(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId ?? "",
          traceState: s.traceState ?? "",
          name: s.name,
          kind: s.kind,
          startNs: BigInt(s.startTimeUnixNano),
          endNs: BigInt(s.endTimeUnixNano),
          status: { code: s.status?.code ?? 0, ...(s.status?.message !== undefined && { message: s.status.message }) },
          attributes: attributesOf(s.attributes),
          events: (s.events ?? []).map((e) => ({ name: e.name, attributes: attributesOf(e.attributes) })),
          resource,
        });
      }
    }
  }
  return out;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const protobuf: Buffer[] = [];
  let failing = 0;
  let failStatus = 503;
  const state = { requests: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      state.requests++;
      if (failing > 0) {
        failing--;
        res.writeHead(failStatus).end();
        return;
      }
      const body = Buffer.concat(chunks);
      const type = String(req.headers["content-type"] ?? "");
      if (req.url !== "/v1/traces") {
        res.writeHead(404).end();
        return;
      }
      if (type.startsWith("application/json")) {
        spans.push(...decodeJsonTraces(JSON.parse(body.toString("utf8"))));
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      } else {
        protobuf.push(body);
        res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    protobuf,
    get requests() {
      return state.requests;
    },
    failNext(n, status = 503) {
      failing = n;
      failStatus = status;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
