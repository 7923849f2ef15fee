// Per-step cost of row-level security (`everruns bench --only rls`). 000006 forces row-level
// security on every table of schema everruns, with one policy per table. A superuser or a
// BYPASSRLS role skips policies altogether: measured on such a connection (the usual local
// Postgres, the embedded one), row-level security costs nothing. In production the schema's owner
// is an ordinary role, and the step engine's security-definer functions (begin_step,
// commit_step, append_events, …) run as that owner: every statement of a step evaluates the
// policies. That is the cost measured here.
//
// The owner: a login role created for this run (random name and password, neither superuser nor
// BYPASSRLS, dropped at the end). Two throwaway databases owned by it and migrated by it: "rls" as
// shipped, and "baseline" where it then turns row-level security off on every table of everruns.
// The worker, and everything else here, connects as the owner (graphile-worker's tables are its
// own), and the check that the policies really apply to that session (row_security_active) is
// printed before any figure. The same workload on both: ratio.ts's scripted echo agent, runs of
// --steps steps on a worker in this process, --chains of them at once; baseline and rls
// alternate, the order swapped every repetition (the machines are shared and noisy: only the
// ratio, per repetition and its median, means much).
//
// It needs a server user that may create a role and give it databases (a superuser, or CREATEROLE
// and CREATEDB), and a server that lets the new role log in (a password or trust): otherwise the
// part is skipped and says why (a property of the server, not of Everruns).
import { randomBytes } from "node:crypto";
import pg from "pg";
import { migrate } from "../../db/migrate.ts";
import { createPool, type Pool } from "../../db/pool.ts";
import { createBenchOwner, disableRowSecurity, dropBenchOwner, giveDatabaseTo, roleRights, rowSecurityState } from "../../db/sql/benchRowSecurity.ts";
import { createScratchDatabase } from "../../db/sql/createScratchDatabase.ts";
import { dropScratchDatabase } from "../../db/sql/dropScratchDatabase.ts";
import { median } from "../harness/stats.ts";
import { everrunsChain } from "./ratio.ts";

export interface RlsBenchOptions {
  serverUrl: string;
  steps: number;
  chains: number[];
  repeat: number;
  concurrency: number;
  log: (line: string) => void;
}

export interface RlsRow {
  chains: number;
  /** wall time per committed step (with several runs at once: the inverse of the throughput), medians */
  rlsMsPerStep: number;
  baselineMsPerStep: number;
  /** rls ÷ baseline, one per repetition */
  ratios: number[];
  /** their median */
  ratio: number;
}

type Variant = "baseline" | "rls";

/** The server's URL with another database and user. */
function urlOf(serverUrl: string, database: string, user: string, password: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  url.username = user;
  url.password = password;
  return url.toString();
}

/**
 * A pool of the owner whose end() also waits until its connections are closed (pool.end()
 * resolves before: the database dropped right after would terminate them, each saying so).
 */
function ownerPool(url: string): { pool: Pool; end(): Promise<void> } {
  const pool = createPool(url, "everruns-bench", 4, { migrations: true });
  const closed: Array<Promise<void>> = [];
  pool.on("connect", (client) => closed.push(new Promise((resolve) => client.once("end", () => resolve()))));
  return {
    pool,
    end: async () => {
      await pool.end();
      await Promise.all(closed);
    },
  };
}

/** Runs the bench; null when it was skipped (the reason has been logged). */
export async function runRlsBench(opts: RlsBenchOptions): Promise<RlsRow[] | null> {
  const skip = (reason: string) => {
    opts.log(`rls: skipped: ${reason}`);
    return null;
  };
  const admin = new pg.Client({ connectionString: opts.serverUrl, application_name: "everruns-bench" });
  await admin.connect();
  const suffix = randomBytes(4).toString("hex");
  const role = `everruns_bench_owner_${suffix}`;
  const password = randomBytes(18).toString("base64url");
  const databases: Record<Variant, string> = { baseline: `everruns_bench_norls_${suffix}`, rls: `everruns_bench_rls_${suffix}` };
  const created: string[] = [];
  const pools: Array<{ end(): Promise<void> }> = [];
  let roleCreated = false;
  try {
    const rights = await roleRights(admin);
    if (!rights.superuser && !(rights.createRole && rights.createDb)) {
      return skip(
        `it creates a login role that owns the schema without being a superuser, and databases owned by it; ` +
          `${rights.user} may not (it needs to be a superuser, or to have CREATEROLE and CREATEDB)`,
      );
    }
    await createBenchOwner(admin, role, password);
    roleCreated = true;
    const urls = {} as Record<Variant, string>;
    for (const variant of ["baseline", "rls"] as const) {
      await createScratchDatabase(admin, databases[variant]);
      created.push(databases[variant]);
      await giveDatabaseTo(admin, databases[variant], role);
      urls[variant] = urlOf(opts.serverUrl, databases[variant], role, password);
    }
    // a failed connect leaves nothing to end
    const probe = new pg.Client({ connectionString: urls.rls });
    const refused = await probe.connect().then(
      () => null,
      (error: Error) => error,
    );
    if (refused) {
      return skip(
        `it connects as a role it creates (${role}, with a password), and the server refused that login: ${refused.message} ` +
          "(pg_hba.conf must allow a password or trust login for it on the host of DATABASE_URL)",
      );
    }
    await probe.end();

    const pool = {} as Record<Variant, Pool>;
    for (const variant of ["baseline", "rls"] as const) {
      const owned = ownerPool(urls[variant]);
      pools.push(owned);
      pool[variant] = owned.pool;
      await migrate(pool[variant]);
    }
    const off = await disableRowSecurity(pool.baseline);
    const on = await rowSecurityState(pool.rls);
    const without = await rowSecurityState(pool.baseline);
    // the figure is only worth printing when the policies really applied to the worker's session
    if (on.superuser || on.bypassRls || on.tables === 0 || on.forced !== on.tables || on.active !== on.tables) {
      throw new Error(`row-level security does not apply to ${on.user} on the rls database: ${JSON.stringify(on)}`);
    }
    if (without.active !== 0) throw new Error(`row-level security still applies on the baseline database: ${JSON.stringify(without)}`);
    opts.log(
      `rls: the worker connects as the schema's owner ${on.user} (superuser ${on.superuser ? "yes" : "no"}, bypassrls ${on.bypassRls ? "yes" : "no"}); ` +
        `row-level security forced on ${on.forced} of ${on.tables} tables of everruns and applying to its session on ${on.active} (row_security_active); ` +
        `baseline: turned off on ${off.length}, applying on ${without.active}`,
    );
    opts.log(
      `settings: ${opts.steps} steps per run, ${opts.chains.join(", ")} run(s) at once, concurrency ${opts.concurrency}, ` +
        `median over ${opts.repeat} repetitions (baseline and rls alternating, the order swapped each time)`,
    );

    const msPerStep = async (variant: Variant, chains: number, steps: number) =>
      1000 / (await everrunsChain(urls[variant], pool[variant], chains, steps, opts.concurrency));
    // warm up both (connections, plans, caches)
    await msPerStep("baseline", 1, 21);
    await msPerStep("rls", 1, 21);

    const rows: RlsRow[] = [];
    for (const chains of opts.chains) {
      const ms: Record<Variant, number[]> = { baseline: [], rls: [] };
      const ratios: number[] = [];
      for (let i = 0; i < opts.repeat; i++) {
        const order: Variant[] = i % 2 === 0 ? ["baseline", "rls"] : ["rls", "baseline"];
        for (const variant of order) ms[variant].push(await msPerStep(variant, chains, opts.steps));
        ratios.push(ms.rls.at(-1)! / ms.baseline.at(-1)!);
        opts.log(
          `  chains=${chains} rep ${i + 1}: ${ms.rls.at(-1)!.toFixed(2)} ms per step with row-level security, ` +
            `${ms.baseline.at(-1)!.toFixed(2)} ms without: ${ratios.at(-1)!.toFixed(2)}×`,
        );
      }
      rows.push({ chains, rlsMsPerStep: median(ms.rls), baselineMsPerStep: median(ms.baseline), ratios, ratio: median(ratios) });
    }
    for (const r of rows) {
      opts.log(
        `rls: chains=${r.chains}: per step ${r.rlsMsPerStep.toFixed(2)} ms vs ${r.baselineMsPerStep.toFixed(2)} ms without row-level security: ` +
          `${r.ratio.toFixed(2)}× (median of ${r.ratios.length})`,
      );
    }
    return rows;
  } finally {
    for (const p of pools) await p.end().catch(() => undefined);
    for (const name of created) await dropScratchDatabase(admin, name).catch(() => undefined);
    if (roleCreated) {
      await dropBenchOwner(admin, role).catch((error: Error) => opts.log(`rls: could not drop the role ${role}: ${error.message}`));
    }
    await admin.end();
  }
}
