// A small in-process TCP proxy between one process and Postgres, for partition tests: it
// forwards byte for byte until told to `cut()` the link (every connection dropped at once, new
// ones refused: a host that is down or a firewall that resets) or to `stall()` it (nothing
// forwarded either way, connections hang, new ones are accepted and never answered: packets
// vanishing in a real partition). `heal()` restores the link.
//
// In a real partition Postgres notices a dead client only through TCP keepalive (docs/deploy.md),
// and this proxy's own sockets always answer the server's keepalive probes. So a stall keeps
// the server side of every connection open, as on a server without keepalives, unless
// `serverNoticesAfterMs` is given: then the proxy closes the server side after that time, as a
// server with short keepalives would, and on `heal()` the client side of those connections is
// reset, as the server's RST to the first late packet would do.
import net from "node:net";

export interface TcpProxy {
  /** The port clients connect to (127.0.0.1). */
  port: number;
  /** `databaseUrl` with its host and port replaced by the proxy's. */
  urlFor(databaseUrl: string): string;
  /** Drops every connection (RST) and refuses new ones until heal(). */
  cut(): void;
  /** Forwards nothing from now on, both ways, on old and new connections, until heal(). */
  stall(opts?: { serverNoticesAfterMs?: number }): void;
  /** Forwards again: stalled connections resume with what they had queued, unless the server side closed meanwhile (then they are reset). */
  heal(): void;
  /** Connections currently open on the client side. */
  readonly connections: number;
  /** Stops listening and drops everything. */
  close(): Promise<void>;
}

type Mode = "open" | "cut" | "stall";

interface Link {
  client: net.Socket;
  /** null while a connection accepted during a stall waits for heal() to reach the server. */
  server: net.Socket | null;
  /** The server side closed while stalled: this connection is reset at heal(). */
  serverGone: boolean;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: Mode = "open";
  const links = new Set<Link>();
  let noticeTimer: NodeJS.Timeout | null = null;

  const drop = (link: Link): void => {
    links.delete(link);
    link.client.destroy();
    link.server?.destroy();
  };

  /** Connects `link` to the server and forwards both ways (pipe: backpressure included). */
  const connectUpstream = (link: Link): void => {
    const server = net.connect(target.port, target.host);
    server.setNoDelay(true);
    link.server = server;
    server.on("error", () => undefined);
    server.on("close", () => {
      // a stalled link keeps its client hanging: the client learns at heal() (serverGone)
      if (mode === "stall" && links.has(link)) link.serverGone = true;
      else drop(link);
    });
    link.client.pipe(server);
    server.pipe(link.client);
  };

  /** Stops forwarding on `link`: what either side sends stays queued in its socket. */
  const pause = (link: Link): void => {
    if (!link.server) return;
    link.client.unpipe(link.server);
    link.server.unpipe(link.client);
    link.client.pause();
    link.server.pause();
  };

  const resume = (link: Link): void => {
    if (!link.server) return connectUpstream(link);
    if (link.serverGone || link.server.destroyed) {
      links.delete(link);
      link.client.resetAndDestroy();
      return;
    }
    link.client.pipe(link.server);
    link.server.pipe(link.client);
  };

  const listener = net.createServer((client) => {
    client.on("error", () => undefined);
    if (mode === "cut") {
      client.resetAndDestroy();
      return;
    }
    client.setNoDelay(true);
    const link: Link = { client, server: null, serverGone: false };
    links.add(link);
    client.on("close", () => {
      links.delete(link);
      link.server?.destroy();
    });
    if (mode === "open") connectUpstream(link);
    else client.pause(); // stalled: accepted, never answered until heal()
  });
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (listener.address() as net.AddressInfo).port;

  const clearNotice = () => {
    if (noticeTimer) clearTimeout(noticeTimer);
    noticeTimer = null;
  };

  return {
    port,
    urlFor(databaseUrl) {
      const url = new URL(databaseUrl);
      url.hostname = "127.0.0.1";
      url.port = String(port);
      return url.toString();
    },
    cut() {
      clearNotice();
      mode = "cut";
      for (const link of [...links]) {
        links.delete(link);
        link.client.resetAndDestroy();
        link.server?.destroy();
      }
    },
    stall(opts = {}) {
      clearNotice();
      mode = "stall";
      for (const link of links) pause(link);
      if (opts.serverNoticesAfterMs !== undefined) {
        noticeTimer = setTimeout(() => {
          for (const link of links) {
            link.serverGone = link.server !== null;
            link.server?.destroy();
          }
        }, opts.serverNoticesAfterMs);
      }
    },
    heal() {
      clearNotice();
      const was = mode;
      mode = "open";
      if (was === "stall") for (const link of [...links]) resume(link);
    },
    get connections() {
      return links.size;
    },
    async close() {
      clearNotice();
      for (const link of [...links]) drop(link);
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    },
  };
}
