// One worker slot of the chaos run in its own network namespace: a veth pair to this one, and a
// TCP relay to Postgres' loopback listener (root and iproute2 only).
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";

/** A network namespace joined to this one by a veth pair, with a TCP relay to Postgres. */
export interface Netns {
  name: string;
  /** this side's veth address, reachable from inside the namespace and from here */
  hostIp: string;
  /** the database URL as seen from inside the namespace */
  databaseUrl: string;
  close(): Promise<void>;
}

export function netnsAvailable(): boolean {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return false;
  const tag = randomBytes(3).toString("hex");
  const name = `evprobe${tag}`;
  try {
    execFileSync("ip", ["netns", "add", name], { stdio: "ignore" });
    try {
      execFileSync("ip", ["link", "add", `evp${tag}`, "type", "veth", "peer", "name", `evq${tag}`], { stdio: "ignore" });
      execFileSync("ip", ["link", "set", `evq${tag}`, "netns", name], { stdio: "ignore" });
      return true;
    } finally {
      execFileSync("ip", ["netns", "del", name], { stdio: "ignore" });
      try {
        execFileSync("ip", ["link", "del", `evp${tag}`], { stdio: "ignore" });
      } catch {
        // went with the namespace
      }
    }
  } catch {
    return false;
  }
}

export async function createNetns(databaseUrl: string): Promise<Netns> {
  const tag = randomBytes(3).toString("hex");
  const name = `everruns-${tag}`;
  const host = `evh${tag}`;
  const peer = `evw${tag}`;
  const octet = 1 + (parseInt(tag.slice(0, 2), 16) % 250);
  const hostIp = `10.231.${octet}.1`;
  const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe" });
  ip("netns", "add", name);
  try {
    ip("link", "add", host, "type", "veth", "peer", "name", peer);
    ip("link", "set", peer, "netns", name);
    ip("addr", "add", `${hostIp}/30`, "dev", host);
    ip("link", "set", host, "up");
    ip("netns", "exec", name, "ip", "addr", "add", `10.231.${octet}.2/30`, "dev", peer);
    ip("netns", "exec", name, "ip", "link", "set", peer, "up");
    ip("netns", "exec", name, "ip", "link", "set", "lo", "up");
  } catch (error) {
    try {
      ip("netns", "del", name);
    } catch {
      // already gone
    }
    throw error;
  }
  // Postgres listens on loopback only: relay the veth address to it. Each relayed connection is
  // a plain TCP pipe, so a kill -9 inside the namespace closes the backend as a direct one would.
  const target = new URL(databaseUrl);
  const sockets = new Set<net.Socket>();
  const relay = net.createServer((inside) => {
    const outside = net.connect(Number(target.port || 5432), target.hostname);
    sockets.add(inside).add(outside);
    const close = () => {
      inside.destroy();
      outside.destroy();
      sockets.delete(inside);
      sockets.delete(outside);
    };
    inside.on("error", close).on("close", close);
    outside.on("error", close).on("close", close);
    inside.pipe(outside);
    outside.pipe(inside);
  });
  await new Promise<void>((resolve) => relay.listen(0, hostIp, () => resolve()));
  const url = new URL(databaseUrl);
  url.hostname = hostIp;
  url.port = String((relay.address() as net.AddressInfo).port);
  return {
    name,
    hostIp,
    databaseUrl: url.toString(),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
      try {
        ip("netns", "del", name); // also removes the veth pair
      } catch {
        // nothing to clean
      }
    },
  };
}
