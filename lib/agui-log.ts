// Checks an event log the way AG-UI clients will: every event against @ag-ui/core's zod
// schemas, and the whole sequence through @ag-ui/client's verifyEvents (its ordering rules).
import { verifyEvents } from "@ag-ui/client";
import { EventSchemas } from "@ag-ui/core/schemas";
import { from, lastValueFrom, toArray } from "rxjs";

export async function assertValidAgUiLog(events: Array<{ seq: number; event: Record<string, unknown> }>): Promise<void> {
  events.forEach((e, i) => {
    if (e.seq !== i + 1) throw new Error(`event seq ${e.seq} at position ${i}: the log has a gap or is out of order`);
    const parsed = EventSchemas.safeParse(e.event);
    if (!parsed.success) throw new Error(`event ${e.seq} (${String(e.event.type)}) is not a valid AG-UI event: ${parsed.error.message}`);
  });
  // verifyEvents takes events as parsed objects; it throws on an ordering violation.
  await lastValueFrom(from(events.map((e) => EventSchemas.parse(e.event))).pipe(verifyEvents(), toArray()));
}
