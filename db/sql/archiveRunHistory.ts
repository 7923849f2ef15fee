import type pg from "pg";
import { z } from "zod";
import type { Queryable } from "../pool.ts";
import { utcText } from "./archiveRunsPage.ts";

// A run's steps and events, a page at a time (a range of the primary key (run_id, seq)): a run
// with 100,000 events is never one SQL value nor one array in memory. A page stops at `limit`
// rows or once its rows reach `maxBytes` (a running sum of their JSON's length, the first row
// always in): 1,000 tool results of a megabyte each come a few at a time, never as one answer of
// a gigabyte. Each row comes as its JSON text (row_to_json: compact, keys in column order, jsonb
// as stored), written as it is. After 000038 the tables are partitioned by the run's creation
// (run_created_at): by run_id alone a page is one index probe per partition (a few dozen), which
// keeps these reads independent of how the partition key is derived; run_created_at is not part
// of the output.

const RowSchema = z.object({ seq: z.number().int(), json: z.string() });
export type ArchiveHistoryRow = z.infer<typeof RowSchema>;

const capped = (rows: string) => `
select p.seq, p.json
  from (select x.seq, x.json, coalesce(sum(octet_length(x.json)) over (order by x.seq rows between unbounded preceding and 1 preceding), 0) as bytes_before
          from (${rows}) x) p
 where p.bytes_before < $4
 order by p.seq`;

const STEPS_PAGE = capped(`
select s.seq, row_to_json(x)::text as json
  from everruns.run_steps s
  cross join lateral (
    select s.seq, s.kind, s.name, s.status, s.attempt, s.input, s.output, s.error, s.usage, s.state,
           ${utcText("s.started_at")} as started_at, ${utcText("s.finished_at")} as finished_at, s.duration_ms
  ) x
 where s.run_id = $1 and s.seq > $2
 order by s.seq
 limit $3`);

const EVENTS_PAGE = capped(`
select e.seq, row_to_json(x)::text as json
  from everruns.run_events e
  cross join lateral (select e.seq, e.type, e.event, ${utcText("e.created_at")} as created_at) x
 where e.run_id = $1 and e.seq > $2
 order by e.seq
 limit $3`);

/**
 * A connection that keeps prepared statements (a pg client): the archive runs these queries a few
 * times for every run, and planning a query over a partitioned table (000038) costs more than
 * running it, so each is prepared once per connection (named) and planned generically.
 */
export interface PreparingQueryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(config: pg.QueryConfig): Promise<pg.QueryResult<R>>;
}

export interface ArchiveHistoryPage {
  runId: string;
  afterSeq: number;
  /** rows at most */
  limit: number;
  /** the page ends with the row that reaches this many bytes of JSON */
  maxBytes: number;
}

/** A run's steps (every column of run_steps but its keys) after `afterSeq`, in order, up to `limit` rows or `maxBytes`. */
export async function readArchiveStepsPage(db: PreparingQueryable, page: ArchiveHistoryPage): Promise<ArchiveHistoryRow[]> {
  const { rows } = await db.query({
    name: "everruns_archive_steps_page",
    text: STEPS_PAGE,
    values: [page.runId, page.afterSeq, page.limit, page.maxBytes],
  });
  return rows.map((row) => RowSchema.parse(row));
}

/** A run's events (seq, type, event, created_at) after `afterSeq`, in order, up to `limit` rows or `maxBytes`. */
export async function readArchiveEventsPage(db: PreparingQueryable, page: ArchiveHistoryPage): Promise<ArchiveHistoryRow[]> {
  const { rows } = await db.query({
    name: "everruns_archive_events_page",
    text: EVENTS_PAGE,
    values: [page.runId, page.afterSeq, page.limit, page.maxBytes],
  });
  return rows.map((row) => RowSchema.parse(row));
}

// The run's state in the snapshot its steps and events are read in. A run deleted meanwhile
// reads as expired.
const RUN_STATE = "select history_expired_at is not null as expired, event_seq from everruns.runs where id = $1";

/**
 * Whether retention removed the run's history, and the last seq of its event log: read in the
 * transaction (repeatable read) that reads its steps and events, so that they are read whole or
 * the run is left out.
 */
export async function readArchiveRunState(db: Queryable, runId: string): Promise<{ expired: boolean; eventSeq: number }> {
  const { rows } = await db.query<{ expired: boolean; event_seq: number }>(RUN_STATE, [runId]);
  const row = rows[0];
  return row ? { expired: row.expired, eventSeq: row.event_seq } : { expired: true, eventSeq: 0 };
}
