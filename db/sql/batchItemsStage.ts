import { once } from "node:events";
import type pg from "pg";
import { from as copyFrom, type CopyStreamQuery } from "pg-copy-streams";

/** The transaction's staging table of an upload's items (dropped at commit or rollback). */
export const BATCH_UPLOAD_STAGE = "pg_temp.everruns_batch_upload";

/**
 * Items of an upload streamed with COPY into a temporary table of the caller's transaction, each
 * with the body line it came from; db/sql/batchItemsFromStage.ts then checks them and inserts
 * them into the batch in one statement.
 *
 * Why COPY: one statement whose rows arrive as the client sends them, so the API holds at most a
 * few chunks of the body however many items there are, at the database's pace (backpressure
 * through `write`); rows go out in chunks of ~64 KiB (one CopyData message each). Why a staging
 * table and not everruns.batch_items itself: Postgres refuses COPY FROM into a table whose
 * row-level security applies to the role ("COPY FROM not supported with row-level security"),
 * and it does to everruns_api. The staging table also keeps each item's line, so what the
 * database refuses afterwards (a repeated custom_id, an invalid run input) is named by line.
 * A temporary table `on commit drop` is transaction-scoped state: it works behind a
 * transaction-mode pooler too.
 */
export interface BatchItemsStage {
  /** Queues one item; resolves once the stream can take more (or it failed: see `failure`). */
  write(line: number, customId: string | null, inputJson: string): Promise<void>;
  /** Ends the COPY; resolves with the number of rows staged, or rejects with the database's error. */
  finish(): Promise<number>;
  /** Aborts the COPY (CopyFail); the transaction must roll back. */
  abort(): Promise<void>;
  /** The database's error, once the COPY failed (then writes are dropped). */
  readonly failure: Error | null;
}

export interface BatchItemsStageOptions {
  /** The transaction's statement timeout: an upload's COPY lasts as long as the client sends (the connection's 60 s is for short statements). */
  statementTimeoutMs: number;
}

const CHUNK_CHARS = 64 * 1024;

/** COPY's text format: backslash, tab, newline and carriage return escaped; \N is null. */
export function copyText(value: string): string {
  return value.replace(/[\\\t\n\r]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r"));
}

export async function openBatchItemsStage(client: pg.ClientBase, options: BatchItemsStageOptions): Promise<BatchItemsStage> {
  await client.query("select set_config('statement_timeout', $1, true)", [String(options.statementTimeoutMs)]);
  await client.query(`create temporary table everruns_batch_upload (line bigint not null, custom_id text, input jsonb not null) on commit drop`);
  const stream: CopyStreamQuery = client.query(copyFrom(`copy ${BATCH_UPLOAD_STAGE} (line, custom_id, input) from stdin`));
  let failure: Error | null = null;
  let pending: string[] = [];
  let pendingChars = 0;
  const failed = new Promise<void>((resolve) =>
    stream.on("error", (error: Error) => {
      failure ??= error;
      resolve();
    }),
  );

  const flush = async () => {
    if (pending.length === 0 || failure !== null) return;
    const chunk = pending.join("");
    pending = [];
    pendingChars = 0;
    if (!stream.write(chunk)) await Promise.race([once(stream, "drain").catch(() => undefined), failed]);
  };

  return {
    get failure() {
      return failure;
    },
    async write(line, customId, inputJson) {
      if (failure !== null) return;
      const row = `${line}\t${customId === null ? "\\N" : copyText(customId)}\t${copyText(inputJson)}\n`;
      pending.push(row);
      pendingChars += row.length;
      if (pendingChars >= CHUNK_CHARS) await flush();
    },
    async finish() {
      await flush();
      if (failure !== null) throw failure;
      stream.end();
      await Promise.race([once(stream, "finish"), failed]);
      const late = failure as Error | null; // set by the error listener while we waited
      if (late !== null) throw late;
      return stream.rowCount;
    },
    async abort() {
      pending = [];
      if (failure !== null || stream.destroyed) return;
      // destroy() sends CopyFail; the backend answers with an error, which ends the COPY
      const closed = once(stream, "close").catch(() => undefined);
      stream.destroy(new Error("the batch upload was refused"));
      await Promise.race([closed, failed]);
    },
  };
}
