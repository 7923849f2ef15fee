// Buffers the AG-UI events of a step attempt and writes them in batches, so a streaming LLM
// call costs one insert per ~40 ms rather than one per token. Whatever is still buffered at
// the end of the step goes into the step's commit transaction.
import { StaleAttemptError } from "../db/errors.ts";
import { appendEvents, type AgUiEvent } from "../db/sql/appendEvents.ts";
import type { Pool } from "../db/pool.ts";

export class EventWriter {
  private buffer: AgUiEvent[] = [];
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  private readonly pool: Pool;
  private readonly runId: string;
  private readonly seq: number;
  private readonly attempt: number;
  private readonly batchMs: number;
  private readonly onFenced: (error: StaleAttemptError) => void;

  constructor(opts: { pool: Pool; runId: string; seq: number; attempt: number; batchMs?: number; onFenced: (error: StaleAttemptError) => void }) {
    this.pool = opts.pool;
    this.runId = opts.runId;
    this.seq = opts.seq;
    this.attempt = opts.attempt;
    this.batchMs = opts.batchMs ?? 40;
    this.onFenced = opts.onFenced;
  }

  push(event: AgUiEvent): void {
    const last = this.buffer[this.buffer.length - 1];
    // Consecutive deltas of one message or tool call merge into one event.
    if (
      last &&
      ((event.type === "TEXT_MESSAGE_CONTENT" && last.type === "TEXT_MESSAGE_CONTENT" && last.messageId === event.messageId) ||
        (event.type === "REASONING_MESSAGE_CONTENT" && last.type === "REASONING_MESSAGE_CONTENT" && last.messageId === event.messageId) ||
        (event.type === "TOOL_CALL_ARGS" && last.type === "TOOL_CALL_ARGS" && last.toolCallId === event.toolCallId))
    ) {
      last.delta = String(last.delta) + String(event.delta);
    } else {
      this.buffer.push({ ...event });
    }
    if (!this.timer) this.timer = setTimeout(() => void this.flush(), this.batchMs);
  }

  /** Writes what is buffered now (in order after any write already under way). */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.buffer.length === 0) return this.writing;
    const batch = this.buffer;
    this.buffer = [];
    this.writing = this.writing.then(async () => {
      try {
        await appendEvents(this.pool, this.runId, this.seq, this.attempt, batch);
      } catch (error) {
        if (error instanceof StaleAttemptError) {
          this.onFenced(error);
        } else {
          // Keep them for the next flush or the commit; the step itself decides about the database.
          this.buffer.unshift(...batch);
        }
      }
    });
    return this.writing;
  }

  /** Stops batching and returns what is left, for the commit transaction. */
  async drain(): Promise<AgUiEvent[]> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    await this.writing;
    const rest = this.buffer;
    this.buffer = [];
    return rest;
  }
}
