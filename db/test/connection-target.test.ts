// db/connection-target.ts: libpq's multi-host URLs and target_session_attrs, which pg lacks. The
// parser on its own; then, against a real primary and streaming standby the test owns, which
// host a client ends up on, and "only a standby → an outage error; the standby promoted → connected".
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { isConnectionError } from "../errors.ts";
import {
  candidateOrder,
  connectClient,
  ConnectionTargetError,
  createClient,
  NoTargetHostError,
  parseConnectionTarget,
  poolClientFor,
  RoutedClient,
} from "../connection-target.ts";
import { createPool } from "../pool.ts";
import { loadEnv } from "../env.ts";
import { freePort } from "../../lib/free-port.ts";
import { startPrimaryStandby, type PrimaryStandby } from "../../worker/test/standby-cluster.ts";

describe("parseConnectionTarget", () => {
  it("leaves a plain one-host URL to pg, as it is", () => {
    for (const url of [
      "postgres://u:p@db.example.com:5432/everruns?sslmode=disable",
      "postgres://u@h/db",
      "postgres://u:p@/db?host=/var/run/postgresql",
      "postgresql://u@h:5432/db?target_session_attrs=any",
      "host=db dbname=everruns",
    ]) {
      const target = parseConnectionTarget(url);
      expect(target.routed, url).toBe(false);
      expect(poolClientFor(url), url).toBeUndefined();
      expect(createClient(url)).not.toBeInstanceOf(RoutedClient);
    }
  });

  it("reads a host list with per-host ports, IPv6 and target_session_attrs, keeping the other parameters", () => {
    const url = "postgres://us%40er:p%3Ass@h1:5433,[::1]:6000,h3/db%20x?sslmode=disable&target_session_attrs=read-write&application_name=a%20b";
    const target = parseConnectionTarget(url);
    expect(target.routed).toBe(true);
    expect(target.targetSessionAttrs).toBe("read-write");
    expect(target.hosts).toEqual([
      { host: "h1", port: 5433 },
      { host: "::1", port: 6000 },
      { host: "h3", port: 5432 },
    ]);
    expect(target.urlFor(target.hosts[0]!)).toBe("postgres://us%40er:p%3Ass@h1:5433/db%20x?sslmode=disable&application_name=a%20b");
    expect(target.urlFor(target.hosts[1]!)).toBe("postgres://us%40er:p%3Ass@[::1]:6000/db%20x?sslmode=disable&application_name=a%20b");
    // what pg reads from a host's URL: credentials and database decoded, as from a plain URL
    const client = new RoutedClient({ connectionString: url });
    expect({ host: client.host, port: client.port, user: client.user, database: client.database }).toEqual({
      host: "h1",
      port: 5433,
      user: "us@er",
      database: "db x",
    });
    expect(poolClientFor(url)).toBe(RoutedClient);
  });

  it("routes one host with target_session_attrs, and takes a host without a port from the port parameter", () => {
    expect(parseConnectionTarget("postgres://u@h/db?target_session_attrs=primary")).toMatchObject({
      routed: true,
      targetSessionAttrs: "primary",
      hosts: [{ host: "h", port: 5432 }],
    });
    expect(parseConnectionTarget("postgres://u@a,b:7000/db?port=6543").hosts).toEqual([
      { host: "a", port: 6543 },
      { host: "b", port: 7000 },
    ]);
  });

  it("refuses what it cannot follow, naming it; DATABASE_URL is checked at start", () => {
    const cases: [string, RegExp][] = [
      ["postgres://u@a,b/db?target_session_attrs=standby", /target_session_attrs is "standby": Everruns supports any, read-write and primary/],
      ["postgres://u@a,b:99999/db", /port of b "99999" is not a port/],
      ["postgres://u@a,,b/db", /invalid entry ""/],
      ["postgres://u@a,b/db?host=/tmp", /host parameter and a host list/],
    ];
    for (const [url, message] of cases) {
      expect(() => parseConnectionTarget(url), url).toThrow(ConnectionTargetError);
      expect(() => parseConnectionTarget(url), url).toThrow(message);
      expect(() => loadEnv({ DATABASE_URL: url }), url).toThrow(/DATABASE_URL: the database URL/);
      expect(() => createPool(url, "t", 1), url).toThrow(message);
    }
    expect(loadEnv({ DATABASE_URL: "postgres://u@a:1,b:2/db?target_session_attrs=read-write" }).DATABASE_URL).toBeDefined();
  });
});

describe("against a primary and a standby", () => {
  let cluster: PrimaryStandby;

  beforeAll(async () => {
    cluster = await startPrimaryStandby();
  });
  afterAll(async () => cluster?.destroy());

  const serverPort = async (client: pg.Client) => (await client.query<{ port: number }>("select inet_server_port() as port")).rows[0]!.port;

  it("read-write skips the standby listed first, remembers the primary, and a pool's clients land there too", async () => {
    const url = `postgres://postgres@127.0.0.1:${cluster.standbyPort},127.0.0.1:${cluster.primaryPort}/everruns?target_session_attrs=read-write`;
    const events: string[] = [];
    const client = createClient(url, { application_name: "rw-test" });
    client.on("end", () => events.push("end"));
    client.on("error", (e) => events.push(`error ${e.message}`));
    (client as NodeJS.EventEmitter).on("connect", () => events.push("connect"));
    await client.connect();
    expect(await serverPort(client)).toBe(cluster.primaryPort);
    // the try on the standby is not seen by the client's user: one connect, no end, no error
    expect(events).toEqual(["connect"]);
    expect(candidateOrder(url, parseConnectionTarget(url)).map((h) => h.port)).toEqual([cluster.primaryPort, cluster.standbyPort]);
    const [settings] = (await client.query<{ application_name: string }>("select current_setting('application_name') as application_name")).rows;
    expect(settings!.application_name).toBe("rw-test");
    await client.end();
    expect(events).toEqual(["connect", "end"]);

    const pool = createPool(url, "rw-pool", 2);
    try {
      const ports = await Promise.all([0, 1, 2].map(async () => (await pool.query<{ port: number }>("select inet_server_port() as port")).rows[0]!.port));
      expect(ports).toEqual([cluster.primaryPort, cluster.primaryPort, cluster.primaryPort]);
      const { rows } = await pool.query<{ t: string }>("select current_setting('statement_timeout') as t");
      expect(rows[0]!.t).toBe("1min");
    } finally {
      await pool.end();
    }
  });

  it("primary tells a read-only primary from a standby; read-write does not take it", async () => {
    const readOnly = "options=-c%20default_transaction_read_only%3Don";
    const hosts = `127.0.0.1:${cluster.standbyPort},127.0.0.1:${cluster.primaryPort}`;
    const primary = await connectClient(`postgres://postgres@${hosts}/everruns?target_session_attrs=primary&${readOnly}`);
    expect(await serverPort(primary)).toBe(cluster.primaryPort);
    await primary.end();
    const error = await connectClient(`postgres://postgres@${hosts}/everruns?target_session_attrs=read-write&${readOnly}`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoTargetHostError);
  });

  it("a connection that turns read-only under it (25006: a demoted primary) is dropped, and its pool connects anew", async () => {
    const url = `postgres://postgres@127.0.0.1:${cluster.primaryPort}/everruns?target_session_attrs=read-write`;
    const pool = createPool(url, "demoted-pool", 1);
    try {
      const client = await pool.connect();
      const pid = (await client.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!.pid;
      const ended = new Promise((resolve) => client.once("end", resolve));
      // as a demoted server answers: this session's writes are refused from now on
      await client.query("set default_transaction_read_only = on");
      const error = await client.query("create temporary table demoted (id int)").catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "25006" });
      await ended;
      await expect(client.query("select 1")).rejects.toThrow(/not queryable/);
      client.release();
      const { rows } = await pool.query<{ pid: number }>("select pg_backend_pid() as pid");
      expect(rows[0]!.pid).not.toBe(pid);
    } finally {
      await pool.end();
    }
  });

  it("only a standby (or nothing) answering: an outage error naming the hosts; once promoted, it connects", async () => {
    const nothing = await freePort();
    const url = `postgres://postgres@127.0.0.1:${nothing},127.0.0.1:${cluster.standbyPort}/everruns?target_session_attrs=read-write`;
    const error = (await connectClient(url).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(NoTargetHostError);
    expect(isConnectionError(error)).toBe(true);
    expect(error.message).toContain(`127.0.0.1:${nothing} could not be reached`);
    expect(error.message).toContain(`127.0.0.1:${cluster.standbyPort} is read-only`);
    expect(error.message).toMatch(/not writable yet/);
    // a pool says the same, and is not broken by it
    const pool = createPool(url, "standby-pool", 1);
    try {
      const poolError = await pool.query("select 1").catch((e: unknown) => e);
      expect(poolError).toBeInstanceOf(NoTargetHostError);

      await cluster.promoteStandby();
      const client = await connectClient(url);
      expect(await serverPort(client)).toBe(cluster.standbyPort);
      await client.end();
      const { rows } = await pool.query<{ port: number }>("select inet_server_port() as port");
      expect(rows[0]!.port).toBe(cluster.standbyPort);
    } finally {
      await pool.end();
    }
  });
});
