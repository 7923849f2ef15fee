// The chaos run's http tool endpoint: a payment-like API that deduplicates by Idempotency-Key.
import { createServer, type Server } from "node:http";
import type net from "node:net";

/**
 * A tool endpoint that behaves like a payment API with idempotency keys: the first request with
 * a key performs the side effect and stores its response; every later request with that key gets
 * the stored response and performs nothing. It answers after a random delay so kills land while
 * calls are in flight.
 */
export class DedupeToolServer {
  readonly byKey = new Map<string, { requests: number; effect: number; response: string }>();
  requests = 0;
  effects = 0;
  missingKey = 0;
  url = "";
  private server!: Server;
  private readonly random: () => number;
  private readonly delayMs: [number, number];
  constructor(random: () => number = Math.random, delayMs: [number, number] = [150, 900]) {
    this.random = random;
    this.delayMs = delayMs;
  }

  /** Listens on host (default 127.0.0.1; a worker in another network namespace needs the veth address). */
  async start(host = "127.0.0.1"): Promise<this> {
    this.server = createServer((req, res) => {
      let raw = "";
      req.on("data", (d: Buffer) => (raw += d.toString()));
      req.on("end", () => {
        this.requests++;
        const key = req.headers["idempotency-key"];
        if (typeof key !== "string" || key === "") {
          this.missingKey++;
          res.writeHead(400, { "content-type": "application/json" }).end('{"error":"Idempotency-Key required"}');
          return;
        }
        let entry = this.byKey.get(key);
        if (!entry) {
          this.effects++;
          entry = {
            requests: 0,
            effect: this.effects,
            response: JSON.stringify({ effect_id: this.effects, path: req.url, request: JSON.parse(raw || "null") as unknown }),
          };
          this.byKey.set(key, entry);
        }
        entry.requests++;
        const response = entry.response;
        const [lo, hi] = this.delayMs;
        setTimeout(
          () => {
            if (res.destroyed) return;
            res.writeHead(200, { "content-type": "application/json" }).end(response);
          },
          lo + this.random() * (hi - lo),
        );
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, host, () => resolve()));
    this.url = `http://${host}:${(this.server.address() as net.AddressInfo).port}`;
    return this;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
