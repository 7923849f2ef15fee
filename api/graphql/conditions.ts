// Filters the built-in `condition` argument lacks: time ranges on runs (served by
// runs_created_idx) and "after seq" on a run's events (served by the primary key).
import { addPgTableCondition } from "postgraphile/utils";
import { sqlValueWithCodec, TYPES, type PgConditionLike } from "postgraphile/@dataplan/pg";
import { sql } from "postgraphile/pg-sql2";

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
