// db/connection-budget.ts against a Postgres cluster the test owns, so that nobody else's
// connections move the counts: max_connections 30, superuser_reserved_connections 3 and (on
// Postgres 16+) reserved_connections 2, set with ALTER SYSTEM and a restart.
//   usable = 30 − 3 − 2 = 25 (27 before 16); Everruns' share = usable − reserved.
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import pg from "pg";
import { checkConnectionBudget } from "../connection-budget.ts";
import { ConfigError } from "../errors.ts";
import { query, startThrowawayCluster, type ThrowawayCluster } from "../../scripts/harness/throwaway-cluster.ts";

let cluster: ThrowawayCluster;
let usable: number;
let reservedConnections: number;
const held: pg.Client[] = [];

beforeAll(async () => {
  cluster = await startThrowawayCluster();
  const [{ version }] = (await query<{ version: number }>(cluster.url, "select current_setting('server_version_num')::int as version")) as [
    { version: number },
  ];
  reservedConnections = version >= 160000 ? 2 : 0;
  await query(cluster.url, "alter system set max_connections = 30");
  await query(cluster.url, "alter system set superuser_reserved_connections = 3");
  if (reservedConnections > 0) await query(cluster.url, "alter system set reserved_connections = 2");
  // no autovacuum worker comes and goes during a count (an unprivileged role would count it as a client)
  await query(cluster.url, "alter system set autovacuum = off");
  await cluster.stopImmediate();
  await cluster.start();
  usable = 30 - 3 - reservedConnections;
});

afterEach(async () => {
  await Promise.all(held.splice(0).map((c) => c.end().catch(() => undefined)));
});

afterAll(async () => {
  await cluster?.destroy();
});

/** `n` idle connections named `applicationName`, held until the test ends. */
async function hold(n: number, applicationName: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    const client = new pg.Client({ connectionString: cluster.url, application_name: applicationName });
    client.on("error", () => undefined);
    await client.connect();
    held.push(client);
  }
}

async function refusal(request: Parameters<typeof checkConnectionBudget>[0]): Promise<ConfigError> {
  const error = await checkConnectionBudget(request).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

it("a budget that fits passes and reports the server's numbers", async () => {
  const report = await checkConnectionBudget({ databaseUrl: cluster.url, who: "worker", wanted: 12, reserved: 5 });
  expect(report).toMatchObject({
    who: "worker",
    wanted: 12,
    reserved: 5,
    maxConnections: 30,
    superuserReservedConnections: 3,
    reservedConnections,
    usable,
    limit: usable - 5,
    everrunsNow: 0, // its own connection is not counted
    othersNow: 0,
    freeAfter: usable - 12,
    isSuperuser: true,
    seesAllSessions: true,
    warnings: [],
  });
  expect(report.summary).toBe(`connection budget: 12 of 30 (${usable} usable, 5 reserved for other clients, 0 held by everruns processes)`);
  // the check's connection is gone when it returns
  const left = await query<{ n: number }>(cluster.url, "select count(*)::int as n from pg_stat_activity where application_name = 'everruns-connection-budget'");
  expect(left[0]!.n).toBe(0);
});

it("exactly the share fits; one more is refused with a message naming every number, the formula and what to do", async () => {
  const share = usable - 5;
  await checkConnectionBudget({ databaseUrl: cluster.url, who: "worker", wanted: share, reserved: 5 });
  const error = await refusal({ databaseUrl: cluster.url, who: "worker", wanted: share + 1, reserved: 5 });
  expect(error.message).toContain(`everruns_now 0 + wanted ${share + 1} = ${share + 1}`);
  expect(error.message).toContain(
    `over ${share} = max_connections 30 − superuser_reserved_connections 3 − reserved_connections ${reservedConnections} − EVERRUNS_DB_RESERVED_CONNECTIONS 5`,
  );
  for (const remedy of ["WORKER_DB_CONNECTIONS", "API_DB_CONNECTIONS", "--db-connections", "raise max_connections", "PgBouncer", "DATABASE_DIRECT_URL"]) {
    expect(error.message).toContain(remedy);
  }
});

it("connections other everruns processes hold count against the budget, in every database of the server", async () => {
  await hold(6, "everruns-worker");
  await hold(2, "everruns-api-listen");
  const report = await checkConnectionBudget({ databaseUrl: cluster.url, who: "API", wanted: 3, reserved: 5 });
  expect(report).toMatchObject({ everrunsNow: 8, othersNow: 0, freeAfter: usable - 8 - 3 });
  expect(report.summary).toContain("8 held by everruns processes");

  // what fitted alone no longer does: 8 + (share − 7) > share
  const share = usable - 5;
  await checkConnectionBudget({ databaseUrl: cluster.url, who: "worker", wanted: share - 8, reserved: 5 });
  const error = await refusal({ databaseUrl: cluster.url, who: "worker", wanted: share - 7, reserved: 5 });
  expect(error.message).toContain(`everruns_now 8 + wanted ${share - 7} = ${share + 1}, over ${share}`);
  expect(error.message).toContain("Everruns processes hold 8 already");

  // the server's `postgres` database counts too: max_connections is server-wide
  const other = new URL(cluster.url);
  other.pathname = "/postgres";
  const client = new pg.Client({ connectionString: other.toString(), application_name: "everruns-cli" });
  await client.connect();
  held.push(client);
  expect((await checkConnectionBudget({ databaseUrl: cluster.url, who: "API", wanted: 1, reserved: 5 })).everrunsNow).toBe(9);
});

it("the reserve is honoured: a larger reserve refuses what a smaller one allows, and other clients eating into it warn", async () => {
  const wanted = usable - 10;
  await checkConnectionBudget({ databaseUrl: cluster.url, who: "worker", wanted, reserved: 10 });
  const error = await refusal({ databaseUrl: cluster.url, who: "worker", wanted, reserved: 11 });
  expect(error.message).toContain("EVERRUNS_DB_RESERVED_CONNECTIONS 11");
  expect(error.message).toContain("lower EVERRUNS_DB_RESERVED_CONNECTIONS");

  // other clients do not count against Everruns' share, but leave fewer than the reserve free: a warning
  await hold(7, "psql");
  const report = await checkConnectionBudget({ databaseUrl: cluster.url, who: "worker", wanted, reserved: 10 });
  expect(report).toMatchObject({ everrunsNow: 0, othersNow: 7, freeAfter: 3 });
  expect(report.warnings).toHaveLength(1);
  expect(report.warnings[0]).toContain("other clients hold 7 database connections now");
  expect(report.warnings[0]).toContain(`3 of the ${usable} usable`);
  expect(report.warnings[0]).toContain("fewer than the 10 EVERRUNS_DB_RESERVED_CONNECTIONS");

  // with the reserve still free for them, no warning
  const roomy = await checkConnectionBudget({ databaseUrl: cluster.url, who: "worker", wanted: usable - 7 - 10, reserved: 10 });
  expect(roomy.warnings).toEqual([]);
});

it("an unprivileged role counts the same connections (it cannot see other roles' backend_type)", async () => {
  await query(cluster.url, "create role budget_reader login");
  try {
    await hold(4, "everruns-worker");
    await hold(2, "psql");
    const url = new URL(cluster.url);
    url.username = "budget_reader";
    const report = await checkConnectionBudget({ databaseUrl: url.toString(), who: "worker", wanted: 1, reserved: 5 });
    expect(report).toMatchObject({ isSuperuser: false, seesAllSessions: false, everrunsNow: 4, othersNow: 2 });
  } finally {
    await Promise.all(held.splice(0).map((c) => c.end().catch(() => undefined)));
    await query(cluster.url, "drop role budget_reader");
  }
});
