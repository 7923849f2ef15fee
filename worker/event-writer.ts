// Buffers the AG-UI events of a step attempt and writes them in batches, so a streaming LLM
// call costs one insert per ~40 ms rather than one per token. Whatever is still buffered at
// the end of the step goes into the step's commit transaction.
//
// A worker with a thousand steps streaming at once would want 25,000 inserts a second from a
// pool of a few connections: while the pool has callers waiting for a connection (commits
// among them), a timed write waits its turn again, up to MAX_LAG_MS after its first event, and
// the deltas merge meanwhile. Live streams get coarser under load; commits are not delayed.
import { StaleAttemptError } from "../db/errors.ts";
import { appendEvents, type AgUiEvent } from "../db/sql/appendEvents.ts";
import type { Pool } from "../db/pool.ts";
import type { Notifier } from "./notifier.ts";

/** The longest a streamed event waits in the buffer for a congested pool. */
const MAX_LAG_MS = 1_000;

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
  /** When the oldest event of the buffer was pushed (performance.now()). */
  private oldest = 0;

  /** Sends the writes' notifications after their commits; without one they notify in their transactions. */
  private readonly notifier: Notifier | undefined;

  constructor(opts: {
    pool: Pool;
    runId: string;
    seq: number;
    attempt: number;
    batchMs?: number;
    notifier?: Notifier;
    onFenced: (error: StaleAttemptError) => void;
  }) {
    this.notifier = opts.notifier;
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
    if (this.buffer.length === 1 && !this.timer) this.oldest = performance.now();
    if (!this.timer) this.timer = setTimeout(this.onTimer, this.batchMs);
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    if (this.pool.waitingCount > 0 && performance.now() - this.oldest < MAX_LAG_MS) {
      this.timer = setTimeout(this.onTimer, this.batchMs);
      return;
    }
    void this.flush();
  };

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
        const { notifications } = await appendEvents(this.pool, this.runId, this.seq, this.attempt, batch, {
          deferNotifications: this.notifier !== undefined,
        });
        this.notifier?.add(notifications);
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
