// An http tool's response is read as a stream up to a cap, min(the tool's max_response_bytes,
// the operator's EVERRUNS_HTTP_MAX_RESPONSE_BYTES, default 1 MiB), and never held beyond it,
// whatever the content-length says (absent, lying, or of a gzip body that inflates 1000-fold).
// Raw TCP servers on loopback stream 50 MB and record how much they could write before the
// worker closed the connection; runs in a real worker process against real Postgres, whose peak
// resident memory (VmHWM) is read from /proc around them.
import { readFileSync } from "node:fs";
import { once } from "node:events";
import net, { type AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, getEvents, getSteps, startRun, toolOutput, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { sleep } from "../../lib/sleep.ts";
import { EgressAllowList } from "../../lib/egress/config.ts";
import { EgressGuard } from "../../lib/egress/guard.ts";
import { DEFAULT_HTTP_MAX_RESPONSE_BYTES, HttpMaxResponseBytesSchema, httpMaxResponseBytesFromEnv, httpTool } from "../tools/http.ts";
import { ToolError, TransientToolError } from "../tools/types.ts";
import { spawnWorker, type WorkerProcess } from "./worker-process.ts";

const MB = 1_000_000;
const BIG = 50 * MB;

/** What one response looks like: its status line and headers, then `total` bytes of `fill` (or `body`), `chunk` at a time. */
interface Answer {
  status?: number;
  headers: Record<string, string>;
  /** sent as is (after the headers) instead of the fill */
  body?: Buffer;
  total?: number;
  chunk?: number;
  delayMs?: number;
  /** chunked transfer-encoding framing around each chunk */
  chunked?: boolean;
  fill?: string;
}

interface Connection {
  written: number;
  /** the client closed the connection before everything was written */
  closedEarly: boolean;
  finished: boolean;
  closedAt?: number;
}

/** A loopback HTTP/1.1 server written on raw sockets, so that headers can lie. */
class Streamer {
  answer: Answer = { headers: {} };
  connections: Connection[] = [];
  private readonly server = net.createServer((socket) => void this.serve(socket));
  port = 0;

  async start(): Promise<this> {
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  url(path = "/big"): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  private async serve(socket: net.Socket): Promise<void> {
    const conn: Connection = { written: 0, closedEarly: false, finished: false };
    this.connections.push(conn);
    let closed = false;
    socket.on("close", () => {
      closed = true;
      conn.closedAt = performance.now();
      if (!conn.finished) conn.closedEarly = true;
    });
    socket.on("error", () => {});
    // wait for the end of the request's headers (its small JSON body comes with them)
    let head = "";
    await new Promise<void>((resolve) => {
      const onData = (d: Buffer) => {
        head += d.toString("latin1");
        if (head.includes("\r\n\r\n")) {
          socket.off("data", onData);
          resolve();
        }
      };
      socket.on("data", onData);
    });
    socket.resume();
    const a = this.answer;
    // one request per connection: a kept-alive connection would wait here for a second one
    const lines = [`HTTP/1.1 ${a.status ?? 200} X`, ...Object.entries({ ...a.headers, connection: "close" }).map(([k, v]) => `${k}: ${v}`)];
    if (a.chunked) lines.push("transfer-encoding: chunked");
    const write = async (data: Buffer | string): Promise<boolean> => {
      if (closed) return false;
      if (!socket.write(data)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            socket.off("drain", done);
            socket.off("close", done);
            resolve();
          };
          socket.on("drain", done);
          socket.on("close", done);
        });
      }
      return !closed;
    };
    await write(`${lines.join("\r\n")}\r\n\r\n`);
    if (a.body) {
      await write(a.body);
      conn.written = a.body.length;
    } else {
      const size = a.chunk ?? 65_536;
      const piece = Buffer.alloc(size, a.fill ?? "x");
      const total = a.total ?? 0;
      while (conn.written < total) {
        const n = Math.min(size, total - conn.written);
        const data = n === size ? piece : piece.subarray(0, n);
        const ok = await write(a.chunked ? Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`), data, Buffer.from("\r\n")]) : data);
        if (!ok) return;
        conn.written += n;
        if (a.delayMs) await sleep(a.delayMs);
      }
      if (a.chunked && !(await write("0\r\n\r\n"))) return;
    }
    conn.finished = true;
    socket.end();
  }

  last(): Connection {
    return this.connections.at(-1)!;
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** A process's resident memory and its peak so far, in bytes (Linux /proc). */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)![1]) * 1024;
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}

const ctx = () => ({ runId: "run-1", toolCallId: "call-1", idempotencyKey: "run-1:call-1", signal: new AbortController().signal, resumed: false, signals: [] });

let server: Streamer;
beforeAll(async () => {
  server = await new Streamer().start();
});
afterAll(async () => {
  await server?.close();
});

describe("EVERRUNS_HTTP_MAX_RESPONSE_BYTES", () => {
  it("defaults to 1 MiB; a bad value is an error naming the variable", () => {
    const before = process.env.EVERRUNS_HTTP_MAX_RESPONSE_BYTES;
    try {
      delete process.env.EVERRUNS_HTTP_MAX_RESPONSE_BYTES;
      expect(httpMaxResponseBytesFromEnv()).toBe(DEFAULT_HTTP_MAX_RESPONSE_BYTES);
      expect(DEFAULT_HTTP_MAX_RESPONSE_BYTES).toBe(1_048_576);
      process.env.EVERRUNS_HTTP_MAX_RESPONSE_BYTES = " 2048 ";
      expect(httpMaxResponseBytesFromEnv()).toBe(2048);
      process.env.EVERRUNS_HTTP_MAX_RESPONSE_BYTES = "1MB";
      expect(() => httpMaxResponseBytesFromEnv()).toThrow(/EVERRUNS_HTTP_MAX_RESPONSE_BYTES must be a whole number of bytes \(got "1MB"\)/);
      process.env.EVERRUNS_HTTP_MAX_RESPONSE_BYTES = "0";
      expect(() => httpMaxResponseBytesFromEnv()).toThrow(/EVERRUNS_HTTP_MAX_RESPONSE_BYTES must be at least 1/);
      expect(HttpMaxResponseBytesSchema.safeParse("100000001").error?.issues[0]?.message).toBe("EVERRUNS_HTTP_MAX_RESPONSE_BYTES must be at most 100000000");
    } finally {
      if (before === undefined) delete process.env.EVERRUNS_HTTP_MAX_RESPONSE_BYTES;
      else process.env.EVERRUNS_HTTP_MAX_RESPONSE_BYTES = before;
    }
  });
});

describe("in process: the body is read up to the cap and no further", () => {
  const guard = new EgressGuard({ allow: EgressAllowList.parse("127.0.0.1") });
  afterAll(() => guard.close());

  it("50 MB without a content-length: a ToolError naming the limit; memory does not follow the response", async () => {
    server.answer = { headers: { "content-type": "application/json" }, chunked: true, total: BIG };
    const tool = httpTool({ name: "big", type: "http", url: server.url(), max_response_bytes: 100_000_000 }, { guard });
    const before = process.memoryUsage();
    const t0 = performance.now();
    const error = await tool.execute({}, ctx()).catch((e: unknown) => e);
    const ms = performance.now() - t0;
    const after = process.memoryUsage();
    expect(error).toBeInstanceOf(ToolError);
    expect((error as Error).message).toBe(
      `big: the response from ${server.url()} is over this call's limit of 1048576 bytes (this tool's max_response_bytes (100000000) capped by the operator's EVERRUNS_HTTP_MAX_RESPONSE_BYTES); reading stopped there and nothing of it is returned`,
    );
    await expect.poll(() => server.last().closedEarly).toBe(true);
    expect(server.last().written).toBeLessThan(10 * MB);
    console.log(
      `in process, 50 MB chunked: ${ms.toFixed(0)} ms, server wrote ${(server.last().written / MB).toFixed(2)} MB, ` +
        `arrayBuffers ${((after.arrayBuffers - before.arrayBuffers) / MB).toFixed(2)} MB, rss ${((after.rss - before.rss) / MB).toFixed(2)} MB`,
    );
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(25 * MB);
  });

  it("the tool's own smaller max_response_bytes is named when it is the limit", async () => {
    server.answer = { headers: { "content-type": "text/plain" }, total: 5000 };
    const tool = httpTool({ name: "small", type: "http", url: server.url(), max_response_bytes: 1000 }, { guard });
    const error = (await tool.execute({}, ctx()).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/is over this call's limit of 1000 bytes \(this tool's max_response_bytes\); reading stopped there/);
  });

  it("a content-length over the cap is refused unread", async () => {
    server.answer = { headers: { "content-type": "application/json", "content-length": String(BIG) }, total: BIG };
    const tool = httpTool({ name: "big", type: "http", url: server.url() }, { guard });
    const error = (await tool.execute({}, ctx()).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(
      /is 50000000 bytes \(its content-length\), over this call's limit of 1048576 bytes \(the operator's EVERRUNS_HTTP_MAX_RESPONSE_BYTES\); it was not read/,
    );
    await expect.poll(() => server.last().closedEarly).toBe(true);
  });

  it("a response under the cap comes back whole", async () => {
    const body = Buffer.from(JSON.stringify({ items: "y".repeat(900_000) }));
    server.answer = { headers: { "content-type": "application/json", "content-length": String(body.length) }, body };
    const tool = httpTool({ name: "ok", type: "http", url: server.url() }, { guard });
    expect(await tool.execute({}, ctx())).toEqual({ items: "y".repeat(900_000) });
  });

  it("an error status's body is cut short; a secret cut at the limit is not shown in part", async () => {
    const secret = "s3cr3t-value-0123456789";
    const secrets = { workspaceId: "w", resolve: () => Promise.resolve(new Map([["api_token", secret]])) };
    // the server echoes the header: whole once, then cut by the tool's 50-byte limit
    server.answer = {
      status: 400,
      headers: { "content-type": "text/plain" },
      body: Buffer.from(`${secret} ${"x".repeat(10)}${secret}${"z".repeat(BIG / 100)}`),
    };
    const tool = httpTool(
      { name: "echo", type: "http", url: server.url(), max_response_bytes: 50, headers: { authorization: { secret: "api_token" } } },
      { guard, secrets },
    );
    const error = (await tool.execute({}, ctx()).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toBe(`${server.url()} answered 400: [secret api_token] xxxxxxxxxx [cut]`);
    // a 5xx with a huge body is still retried (transient), with a short excerpt
    server.answer = { status: 503, headers: { "content-type": "text/plain" }, chunked: true, total: BIG };
    const transient = (await httpTool({ name: "down", type: "http", url: server.url() }, { guard })
      .execute({}, ctx())
      .catch((e: unknown) => e)) as Error;
    expect(transient).toBeInstanceOf(TransientToolError);
    expect(transient.message).toBe(`down: ${server.url()} answered 503: ${"x".repeat(300)} [cut]`);
    await expect.poll(() => server.last().closedEarly).toBe(true);
  });
});

describe("runs in a worker process", () => {
  let db: TestDatabase;
  let worker: WorkerProcess;
  const pid = () => worker.child.pid!;

  beforeAll(async () => {
    db = await createTestDatabase();
    // the default operator maximum (1 MiB) applies: empty is unset
    worker = await spawnWorker(db.url, { EVERRUNS_HTTP_MAX_RESPONSE_BYTES: "" });
  });
  afterAll(async () => {
    worker?.child.kill("SIGKILL");
    await worker?.exited;
    await db?.drop();
  });

  /** Runs an agent whose one tool call goes to the streamer; the run's tool output, events and timings. */
  async function run(maxResponseBytes?: number) {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [{ name: "fetch_big", type: "http", url: server.url(), ...(maxResponseBytes !== undefined && { max_response_bytes: maxResponseBytes }) }],
      script: [{ tool_calls: [{ name: "fetch_big", arguments: {} }] }, { text: "done" }],
    });
    const t0 = performance.now();
    const runId = await startRun(db.pool, agent);
    const status = (await waitForStatus(db.pool, runId, ["succeeded", "failed"])).status;
    const ms = performance.now() - t0;
    const output = toolOutput((await getSteps(db.pool, runId))[1]);
    const result = (await getEvents(db.pool, runId)).find((e) => e.type === "TOOL_CALL_RESULT")!;
    const {
      rows: [sizes],
    } = await db.pool.query<{ steps: number; events: number }>(
      `select (select sum(pg_column_size(output))::int from everruns.run_steps where run_id = $1 and kind = 'tool') as steps,
              (select sum(pg_column_size(event))::int from everruns.run_events where run_id = $1 and type = 'TOOL_CALL_RESULT') as events`,
      [runId],
    );
    return { status, ms, output, eventContent: String(result.event.content), stored: sizes! };
  }

  it("a small response works (and loads the http client before memory is measured)", async () => {
    server.answer = { headers: { "content-type": "application/json", "content-length": "11" }, body: Buffer.from('{"ok":true}') };
    const r = await run();
    expect(r.status).toBe("succeeded");
    expect(r.output).toMatchObject({ content: '{"ok":true}', is_error: false });
  });

  const cases: Array<[string, () => Answer]> = [
    [
      "50 MB chunked, slowly, no content-length",
      () => ({ headers: { "content-type": "application/json" }, chunked: true, total: BIG, chunk: 16_384, delayMs: 2 }),
    ],
    ["50 MB until the connection closes (no content-length, no chunking)", () => ({ headers: { "content-type": "application/json" }, total: BIG })],
    [
      "a gzip body whose content-length (50 KB) is under the cap and which inflates to 50 MB",
      () => {
        const body = gzipSync(Buffer.alloc(BIG, " "));
        return { headers: { "content-type": "application/json", "content-encoding": "gzip", "content-length": String(body.length) }, body };
      },
    ],
  ];
  for (const [name, answer] of cases) {
    it(`${name}: the run ends quickly with an error naming the limit, the worker's memory stays flat, the output is stored small`, async () => {
      server.answer = answer();
      const before = memoryOf(pid());
      const r = await run(100_000_000);
      const after = memoryOf(pid());
      const conn = server.last();
      console.log(
        `worker, ${name}: run ${r.ms.toFixed(0)} ms, server wrote ${(conn.written / MB).toFixed(2)} MB, closed early ${conn.closedEarly}, ` +
          `worker peak RSS +${((after.peak - before.peak) / MB).toFixed(2)} MB (rss ${(before.rss / MB).toFixed(1)} → ${(after.rss / MB).toFixed(1)} MB), ` +
          `stored: step output ${r.stored.steps} B, TOOL_CALL_RESULT event ${r.stored.events} B`,
      );
      expect(r.status).toBe("succeeded");
      expect(r.output.is_error).toBe(true);
      expect(r.output.content).toBe(
        `Error: fetch_big: the response from ${server.url()} is over this call's limit of 1048576 bytes (this tool's max_response_bytes (100000000) capped by the operator's EVERRUNS_HTTP_MAX_RESPONSE_BYTES); reading stopped there and nothing of it is returned`,
      );
      expect(r.eventContent).toBe(r.output.content);
      expect(r.ms).toBeLessThan(5000);
      expect(after.peak - before.peak).toBeLessThan(25 * MB);
      expect(r.stored.steps).toBeLessThan(1024);
      expect(r.stored.events).toBeLessThan(1024);
      if (!name.startsWith("a gzip")) {
        await expect.poll(() => conn.closedEarly).toBe(true);
        expect(conn.written).toBeLessThan(10 * MB);
      }
    });
  }

  it("a content-length that says less than is sent: only that much is read, and the connection is not reused", async () => {
    server.answer = { headers: { "content-type": "text/plain", "content-length": "1000" }, total: BIG };
    const before = memoryOf(pid());
    const r = await run(100_000_000);
    const after = memoryOf(pid());
    const conn = server.last();
    console.log(
      `worker, content-length 1000 but 50 MB sent: run ${r.ms.toFixed(0)} ms, server wrote ${(conn.written / MB).toFixed(2)} MB, closed early ${conn.closedEarly}, ` +
        `worker peak RSS +${((after.peak - before.peak) / MB).toFixed(2)} MB, stored: step output ${r.stored.steps} B, event ${r.stored.events} B`,
    );
    expect(r.status).toBe("succeeded");
    expect(r.output).toMatchObject({ content: "x".repeat(1000), is_error: false });
    expect(r.ms).toBeLessThan(5000);
    expect(after.peak - before.peak).toBeLessThan(25 * MB);
    await expect.poll(() => conn.closedEarly).toBe(true);
    expect(conn.written).toBeLessThan(10 * MB);
  });

  it("a response just under the cap is returned whole and stored once per place, at most the cap plus a small envelope", async () => {
    const body = Buffer.from(JSON.stringify({ items: "y".repeat(1_000_000) }));
    server.answer = {
      headers: { "content-type": "application/json" },
      chunked: true,
      body: Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from("\r\n0\r\n\r\n")]),
    };
    const r = await run(100_000_000);
    expect(r.status).toBe("succeeded");
    expect(r.output.is_error).toBe(false);
    expect(r.output.content.length).toBe(body.length);
    console.log(`worker, 1 MB response: stored step output ${r.stored.steps} B, TOOL_CALL_RESULT event ${r.stored.events} B (pg_column_size, compressed)`);
    const { rows } = await db.pool.query<{ steps: number; events: number }>(
      `select (select max(octet_length(output::text)) from everruns.run_steps where kind = 'tool') as steps,
              (select max(octet_length(event::text)) from everruns.run_events where type = 'TOOL_CALL_RESULT') as events`,
    );
    expect(rows[0]!.steps).toBeLessThan(DEFAULT_HTTP_MAX_RESPONSE_BYTES + 1024);
    expect(rows[0]!.events).toBeLessThan(DEFAULT_HTTP_MAX_RESPONSE_BYTES + 1024);
  });
});
