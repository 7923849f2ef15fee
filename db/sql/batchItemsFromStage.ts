import type { Queryable } from "../pool.ts";
import { BATCH_UPLOAD_STAGE } from "./batchItemsStage.ts";

/** A staged item the database refuses, by its body line. */
export interface StagedItemProblem {
  line: number;
  message: string;
}

export type FromStageResult = { inserted: number } | { problems: StagedItemProblem[] };

/**
 * Moves the staged items of an upload (db/sql/batchItemsStage.ts) into the batch, in line order:
 * one insert … select, so the batch_items triggers check each row (the batch is open, the input
 * is a valid run input) and count them once per statement. What they refuse is reported by line,
 * at most `maxProblems`, and nothing is inserted:
 *
 * - custom ids given twice: found first, with one query over the staging table;
 * - otherwise the insert runs under a savepoint; if a row is refused (EV003 and its kin carry no
 *   row in their context), the savepoint is rolled back and one pass over the staging table
 *   checks each input as the trigger does (everruns_private.assert_valid_run_input) to name the
 *   lines. That pass costs a subtransaction per row, so it runs only when the insert failed.
 *
 * Any other error (a timeout, a lost connection) is thrown as it is.
 */
export async function insertBatchItemsFromStage(db: Queryable, batchId: string, maxProblems: number): Promise<FromStageResult> {
  const repeated = await db.query<StagedItemProblem>(
    `select d.line::int as line,
            format('custom_id %s is already used by line %s; custom ids must be unique in a batch', to_jsonb(d.custom_id)::text, d.first) as message
       from (select s.line, s.custom_id, first_value(s.line) over w as first, row_number() over w as n
               from ${BATCH_UPLOAD_STAGE} s where s.custom_id is not null
             window w as (partition by s.custom_id order by s.line)) d
      where d.n > 1
      order by d.line limit $1`,
    [maxProblems],
  );
  if (repeated.rows.length > 0) return { problems: repeated.rows };
  await db.query("savepoint batch_items_from_stage");
  try {
    const { rowCount } = await db.query(
      // the batch's workspace given: no per-row trigger (tg_batch_items__fill_in) for items with a custom_id
      `insert into everruns.batch_items (batch_id, workspace_id, custom_id, input)
       select $1, (select b.workspace_id from everruns.batches b where b.id = $1), s.custom_id, s.input
         from ${BATCH_UPLOAD_STAGE} s order by s.line`,
      [batchId],
    );
    await db.query("release savepoint batch_items_from_stage");
    return { inserted: rowCount ?? 0 };
  } catch (error) {
    await db.query("rollback to savepoint batch_items_from_stage");
    const e = error as { code?: string; detail?: string };
    if (e.code === "23505") {
      // a given custom_id equal to another item's default (its ordinal)
      const id = /\(batch_id, custom_id\)=\([^,]+, (.*)\) already exists/.exec(e.detail ?? "")?.[1] ?? null;
      const { rows } = await db.query<{ line: number }>(
        `select s.line::int as line from ${BATCH_UPLOAD_STAGE} s where s.custom_id = $1 order by s.line limit 1`,
        [id],
      );
      if (rows[0]) return { problems: [{ line: rows[0].line, message: `custom_id ${JSON.stringify(id)} is already used by another item of the batch` }] };
      throw error;
    }
    const problems = await findInvalidInputs(db, maxProblems);
    if (problems.length === 0) throw error;
    return { problems };
  }
}

/** The first `max` staged lines whose input the runs' rules refuse, with the database's message. */
async function findInvalidInputs(db: Queryable, max: number): Promise<StagedItemProblem[]> {
  await db.query("create temporary table everruns_batch_upload_problems (line bigint, message text) on commit drop");
  await db.query("select set_config('everruns.batch_upload_max_problems', $1, true)", [String(max)]);
  // a DO block takes no parameters: it reads only the staging table and the setting above
  await db.query(`
    do $$
    declare
      r record;
      n integer := 0;
      v_max integer := current_setting('everruns.batch_upload_max_problems')::integer;
      v_message text;
      v_hint text;
    begin
      for r in select s.line, s.input from ${BATCH_UPLOAD_STAGE} s order by s.line loop
        begin
          perform everruns_private.assert_valid_run_input(r.input);
        exception when others then
          get stacked diagnostics v_message = message_text, v_hint = pg_exception_hint;
          insert into pg_temp.everruns_batch_upload_problems
            values (r.line, v_message || coalesce(' (' || nullif(v_hint, '') || ')', ''));
          n := n + 1;
          exit when n >= v_max;
        end;
      end loop;
    end
    $$`);
  const { rows } = await db.query<StagedItemProblem>("select line::int as line, message from pg_temp.everruns_batch_upload_problems order by line");
  return rows;
}
