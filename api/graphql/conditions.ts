// Filters the built-in `condition` argument lacks: time ranges on runs (served by
// runs_created_idx) and "after seq" on a run's events (served by the primary key).
import { addPgTableCondition } from "postgraphile/utils";
import { sqlValueWithCodec, TYPES, type PgConditionLike } from "postgraphile/@dataplan/pg";
import { sql } from "postgraphile/pg-sql2";
import { ValidationError } from "../../db/errors.ts";

export const RunsCreatedAfterCondition = addPgTableCondition({ schemaName: "everruns", tableName: "runs" }, "createdAfter", (build) => ({
  description: "Runs created strictly after this instant.",
  type: build.getTypeByName("Datetime") as never,
  apply: (condition: PgConditionLike, value: unknown) => {
    if (value == null) return;
    condition.where(sql`${condition.alias}.created_at > ${sqlValueWithCodec(value, TYPES.timestamptz)}`);
  },
}));

export const RunsCreatedBeforeCondition = addPgTableCondition({ schemaName: "everruns", tableName: "runs" }, "createdBefore", (build) => ({
  description: "Runs created strictly before this instant.",
  type: build.getTypeByName("Datetime") as never,
  apply: (condition: PgConditionLike, value: unknown) => {
    if (value == null) return;
    condition.where(sql`${condition.alias}.created_at < ${sqlValueWithCodec(value, TYPES.timestamptz)}`);
  },
}));

export const RunEventsAfterSeqCondition = addPgTableCondition({ schemaName: "everruns", tableName: "run_events" }, "afterSeq", (build) => ({
  description: "Events with a seq strictly greater than this one (resume a log where you left off).",
  type: build.graphql.GraphQLInt,
  apply: (condition: PgConditionLike, value: unknown) => {
    if (value == null) return;
    condition.where(sql`${condition.alias}.seq > ${sqlValueWithCodec(value, TYPES.int)}`);
  },
}));

// The runs list's filters and search (issue 13, point 11). Each is served by an index:
// runs_parent_idx, runs_agent_created_idx (agent and version come together from the console),
// runs_status_created_idx; the error code and the text search only within the bounded window below.

export const RunsParentRunIdCondition = addPgTableCondition({ schemaName: "everruns", tableName: "runs" }, "parentRunId", (build) => ({
  description: "Runs that continue this run (resume runs).",
  type: build.getTypeByName("UUID") as never,
  apply: (condition: PgConditionLike, value: unknown) => {
    if (value == null) return;
    condition.where(sql`${condition.alias}.parent_run_id = ${sqlValueWithCodec(value, TYPES.uuid)}`);
  },
}));

export const RunsAgentVersionCondition = addPgTableCondition({ schemaName: "everruns", tableName: "runs" }, "agentVersion", (build) => ({
  description: "Runs pinned to this version of their agent (combine with agentId).",
  type: build.graphql.GraphQLInt,
  apply: (condition: PgConditionLike, value: unknown) => {
    if (value == null) return;
    condition.where(sql`${condition.alias}.agent_version = ${sqlValueWithCodec(value, TYPES.int)}`);
  },
}));

export const RunsErrorCodeCondition = addPgTableCondition({ schemaName: "everruns", tableName: "runs" }, "errorCode", (build) => ({
  description: "Runs whose error has this code (error.code, e.g. provider_error, cancelled, max_steps).",
  type: build.graphql.GraphQLString,
  apply: (condition: PgConditionLike, value: unknown) => {
    if (value == null) return;
    const code = typeof value === "string" ? value : JSON.stringify(value);
    if (code.length > 100) throw new ValidationError("errorCode must be at most 100 characters");
    condition.where(sql`${condition.alias}.error ->> 'code' = ${sqlValueWithCodec(code, TYPES.text)}`);
  },
}));

/** How far back a text search of runs' input looks: the bound that keeps it from scanning every run. */
export const RUN_SEARCH_WINDOW_DAYS = 30;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `%` and `_` are wildcards of LIKE: a search for them means the characters. */
export function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export const RunsSearchCondition = addPgTableCondition({ schemaName: "everruns", tableName: "runs" }, "search", (build) => ({
  description:
    `A whole uuid: the run with that id, the runs of that thread and the runs continuing that run (primary key, ` +
    `runs_thread_created_idx, runs_parent_idx). Any other text (3 to 200 characters): runs whose input contains it, ` +
    `case-insensitively, among the runs created in the last ${RUN_SEARCH_WINDOW_DAYS} days (a trigram index serves it where ` +
    `pg_trgm is installed, else a scan of that window by runs_created_idx).`,
  type: build.graphql.GraphQLString,
  apply: (condition: PgConditionLike, value: unknown) => {
    if (value == null) return;
    const text = (typeof value === "string" ? value : JSON.stringify(value)).trim();
    if (text === "") return;
    if (UUID_RE.test(text)) {
      const id = sqlValueWithCodec(text.toLowerCase(), TYPES.uuid);
      condition.where(sql`(${condition.alias}.id = ${id} or ${condition.alias}.thread_id = ${id} or ${condition.alias}.parent_run_id = ${id})`);
      return;
    }
    if (text.length < 3 || text.length > 200) {
      throw new ValidationError(`search must be a whole run/thread id or 3 to 200 characters of input text, got ${text.length} characters`);
    }
    condition.where(sql`${condition.alias}.created_at >= now() - make_interval(days => ${sqlValueWithCodec(RUN_SEARCH_WINDOW_DAYS, TYPES.int)})`);
    condition.where(sql`${condition.alias}.input::text ilike ${sqlValueWithCodec(likePattern(text), TYPES.text)}`);
  },
}));

// What the dashboard's throughput bars count: runs that finished in a time bucket (runs_finished_idx).
export const RunsFinishedAfterCondition = addPgTableCondition({ schemaName: "everruns", tableName: "runs" }, "finishedAfter", (build) => ({
  description: "Runs that finished at or after this instant.",
  type: build.getTypeByName("Datetime") as never,
  apply: (condition: PgConditionLike, value: unknown) => {
    if (value == null) return;
    condition.where(sql`${condition.alias}.finished_at >= ${sqlValueWithCodec(value, TYPES.timestamptz)}`);
  },
}));

export const RunsFinishedBeforeCondition = addPgTableCondition({ schemaName: "everruns", tableName: "runs" }, "finishedBefore", (build) => ({
  description: "Runs that finished strictly before this instant.",
  type: build.getTypeByName("Datetime") as never,
  apply: (condition: PgConditionLike, value: unknown) => {
    if (value == null) return;
    condition.where(sql`${condition.alias}.finished_at < ${sqlValueWithCodec(value, TYPES.timestamptz)}`);
  },
}));
