// The conversation an LLM step sends grows with every step, and rebuilding the whole thread
// from the database for each LLM call made a long run's LLM steps O(n) (3 ms of a 200-step
// run's ~5 ms steps). History is append-only, so a worker keeps what it fetched for a run's last
// LLM call and, when the same run's next LLM call comes to it, adds only what begin_step already
// returned (the last LLM turn and what followed). It only does so when the two join up exactly;
// otherwise (another worker ran the steps in between, a restart) it fetches the whole thread.
import type { HistoryEntry } from "../db/sql/beginStep.ts";

const MAX_RUNS = 500;

interface Cached {
  /** the whole thread history before the LLM step at `nextSeq` of the run */
  entries: HistoryEntry[];
  nextSeq: number;
}

export class HistoryCache {
  private readonly byRun = new Map<string, Cached>();

  /** The full history for an LLM call at `seq`, or null when it must be fetched. */
  assemble(runId: string, turn: HistoryEntry[]): HistoryEntry[] | null {
    const cached = this.byRun.get(runId);
    const first = turn.find((e) => e.kind === "step");
    if (!cached || !first || first.run_id !== runId || first.step.seq !== cached.nextSeq) return null;
    const known = new Set(cached.entries.map(key));
    return [...cached.entries, ...turn.filter((e) => !known.has(key(e)))];
  }

  remember(runId: string, seq: number, entries: HistoryEntry[]): void {
    this.byRun.delete(runId);
    this.byRun.set(runId, { entries, nextSeq: seq });
    if (this.byRun.size > MAX_RUNS) this.byRun.delete(this.byRun.keys().next().value!);
  }
}

function key(e: HistoryEntry): string {
  return e.kind === "input" ? `input:${e.run_id}` : `step:${e.run_id}:${e.step.seq}`;
}
