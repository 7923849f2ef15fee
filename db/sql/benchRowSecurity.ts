// `everruns bench --only rls` (scripts/bench/rls.ts): a login role that owns the schema without
// being a superuser, as in production, and the switch and the checks of row-level security on
// the schema it owns. Role and database names come from the bench (a fixed prefix and random
// hex), never from input; they are checked and quoted all the same.
import pg from "pg";
import type { Queryable } from "../pool.ts";

const NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function identifier(name: string): string {
  if (!NAME.test(name)) throw new Error(`not a plain name: ${name}`);
  return pg.escapeIdentifier(name);
}

export interface RoleRights {
  user: string;
  superuser: boolean;
  createRole: boolean;
  createDb: boolean;
}

/** What the session's user may do: creating a role and databases owned by it needs superuser, or CREATEROLE and CREATEDB. */
export async function roleRights(db: Queryable): Promise<RoleRights> {
  const { rows } = await db.query<RoleRights>(
    `select rolname as user, rolsuper as superuser, rolcreaterole as "createRole", rolcreatedb as "createDb"
       from pg_catalog.pg_roles where rolname = current_user`,
  );
  return rows[0]!;
}

/**
 * Creates `role`: it logs in with `password` and is neither superuser nor BYPASSRLS, so every
 * policy applies to it. Creates everruns_worker and everruns_api first when missing (000002
 * grants to them and may create them only as a role that can create roles). A session user that
 * is not a superuser is made a member, so that it may give the role databases and drop them.
 */
export async function createBenchOwner(admin: Queryable, role: string, password: string): Promise<void> {
  await admin.query(`do $$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'everruns_worker') then
    create role everruns_worker nologin;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    create role everruns_api nologin;
  end if;
exception when duplicate_object or unique_violation then
  null;  -- created meanwhile by a migration of another database of this cluster
end
$$`);
  await admin.query(`create role ${identifier(role)} login nosuperuser nobypassrls nocreatedb nocreaterole password ${pg.escapeLiteral(password)}`);
  const { rows } = await admin.query<{ superuser: boolean }>("select rolsuper as superuser from pg_catalog.pg_roles where rolname = current_user");
  if (!rows[0]!.superuser) await admin.query(`grant ${identifier(role)} to current_user`);
}

/** Makes `role` the owner of database `name` (an empty one, before it is migrated). */
export async function giveDatabaseTo(admin: Queryable, name: string, role: string): Promise<void> {
  await admin.query(`alter database ${identifier(name)} owner to ${identifier(role)}`);
}

/** Drops the bench's role (once the databases it owns are dropped). */
export async function dropBenchOwner(admin: Queryable, role: string): Promise<void> {
  await admin.query(`drop role if exists ${identifier(role)}`);
}

/**
 * As the schema's owner: turns row-level security off on every table of schema everruns that has
 * it (the baseline of the bench). Returns the tables.
 */
export async function disableRowSecurity(owner: Queryable): Promise<string[]> {
  const { rows } = await owner.query<{ name: string }>(
    `select format('%I.%I', n.nspname, c.relname) as name
       from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'everruns' and c.relkind in ('r', 'p') and (c.relrowsecurity or c.relforcerowsecurity)
      order by c.relname`,
  );
  // the names come quoted from format('%I.%I')
  for (const { name } of rows) await owner.query(`alter table ${name} no force row level security, disable row level security`);
  return rows.map((r) => r.name);
}

export interface RowSecurityState {
  /** the session's user, and whether it skips every policy */
  user: string;
  superuser: boolean;
  bypassRls: boolean;
  /** tables of schema everruns */
  tables: number;
  /** of which with row-level security enabled and forced on their owner */
  forced: number;
  /** of which row_security_active() says policies apply to this session's queries */
  active: number;
}

/** Whether the policies of schema everruns apply to this session (the bench's check that its figure is honest). */
export async function rowSecurityState(db: Queryable): Promise<RowSecurityState> {
  const { rows } = await db.query<RowSecurityState>(
    `select r.rolname as user, r.rolsuper as superuser, r.rolbypassrls as "bypassRls",
            count(c.oid)::int as tables,
            (count(c.oid) filter (where c.relrowsecurity and c.relforcerowsecurity))::int as forced,
            (count(c.oid) filter (where pg_catalog.row_security_active(c.oid)))::int as active
       from pg_catalog.pg_roles r
       left join pg_catalog.pg_class c
         on c.relnamespace = 'everruns'::regnamespace and c.relkind in ('r', 'p')
      where r.rolname = current_user
      group by r.rolname, r.rolsuper, r.rolbypassrls`,
  );
  return rows[0]!;
}
