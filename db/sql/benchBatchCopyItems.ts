// `everruns bench --only batch`: a batch's items through COPY, the way a user loads a file of
// them (`COPY everruns.batch_items (batch_id, custom_id, input) FROM STDIN`), streamed: the
// items are written as they are generated, never held whole.
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { copyText } from "./batchItemsStage.ts";

export interface BenchCopyItem {
  customId: string;
  input: Record<string, unknown>;
}

/** Chunks of about 64 KiB of COPY rows. */
async function* copyRows(batchId: string, items: Iterable<BenchCopyItem> | AsyncIterable<BenchCopyItem>): AsyncGenerator<string> {
  let chunk = "";
  for await (const item of items) {
    chunk += `${batchId}\t${copyText(item.customId)}\t${copyText(JSON.stringify(item.input))}\n`;
    if (chunk.length >= 65_536) {
      yield chunk;
      chunk = "";
    }
  }
  if (chunk.length > 0) yield chunk;
}

/** COPYs the items into the batch on this connection (one statement: its own transaction unless one is open); returns how many rows were copied. */
export async function benchCopyBatchItems(
  client: pg.ClientBase,
  batchId: string,
  items: Iterable<BenchCopyItem> | AsyncIterable<BenchCopyItem>,
): Promise<number> {
  const copy = client.query(copyFrom("copy everruns.batch_items (batch_id, custom_id, input) from stdin"));
  await pipeline(Readable.from(copyRows(batchId, items)), copy);
  return Number(copy.rowCount ?? 0);
}
