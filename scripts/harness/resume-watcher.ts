// Resume latency after kill -9, measured from outside: each step a kill interrupted is polled
// until its next attempt begins on another worker. Used by the chaos run and `everruns bench`.
import pg from "pg";
import type { Queryable } from "../../db/pool.ts";
import { committedStepAttempts } from "../../db/sql/committedStepAttempts.ts";
import { runCursors } from "../../db/sql/runCursors.ts";
import type { InFlightStep } from "../../db/sql/stepsInFlight.ts";
import { sleep } from "../../lib/sleep.ts";
import { FINISHED } from "./runs.ts";

interface Watched extends InFlightStep {
  kill: number;
  killedAt: number;
  observedAt?: number;
  /** "attempt": a new attempt began (certainly a resume); "moved": the step was committed
   *  between two polls (a resume only if a later attempt committed it); "ended": the run ended */
  how?: "attempt" | "moved" | "ended";
}

/**
 * Each step a kill interrupted is polled (every few ms, on its own connection) until its next
 * attempt begins, i.e. the run's step_attempt moves past the killed attempt's (or the step is
 * committed by a later attempt between two polls).
 */
export class ResumeWatcher {
  private readonly client: pg.Client;
  private readonly pending: Watched[] = [];
  private readonly all: Watched[] = [];
  private running = true;
  private loop: Promise<void> | null = null;
  constructor(databaseUrl: string) {
    this.client = new pg.Client({ connectionString: databaseUrl, application_name: "everruns-chaos-watch" });
  }

  async start(): Promise<this> {
    await this.client.connect();
    this.loop = this.poll();
    return this;
  }

  watch(steps: InFlightStep[], kill: number, killedAt: number): void {
    for (const s of steps) {
      const w: Watched = { ...s, kill, killedAt };
      this.pending.push(w);
      this.all.push(w);
    }
  }

  private async poll(): Promise<void> {
    while (this.running || this.pending.length > 0) {
      if (this.pending.length === 0) {
        await sleep(5);
        continue;
      }
      const rows = await runCursors(this.client, [...new Set(this.pending.map((p) => p.runId))]);
      const now = performance.now();
      const state = new Map(rows.map((r) => [r.id, r]));
      for (let i = this.pending.length - 1; i >= 0; i--) {
        const p = this.pending[i]!;
        const r = state.get(p.runId);
        const how = !r || FINISHED.includes(r.status) ? "ended" : r.step_cursor > p.seq ? "moved" : r.step_attempt > p.attempt ? "attempt" : null;
        if (how) {
          p.observedAt = now;
          p.how = how;
          this.pending.splice(i, 1);
        } else if (!this.running && now - p.killedAt > 30_000) {
          this.pending.splice(i, 1);
        }
      }
      await sleep(2);
    }
  }

  /** Stops at once (an error path); stop() is the normal end. */
  async close(): Promise<void> {
    this.running = false;
    this.pending.length = 0;
    await this.loop?.catch(() => undefined);
    await this.client.end().catch(() => undefined);
  }

  /** Stops polling (after what is pending resolved, 30 s at most) and returns the latencies. */
  async stop(db: Queryable): Promise<{ perStep: number[]; perKill: number[] }> {
    this.running = false;
    await this.loop;
    await this.client.end();
    const moved = this.all.filter((w) => w.how === "moved");
    const committed = await committedStepAttempts(db, [...new Set(moved.map((w) => w.runId))]);
    const perStep: number[] = [];
    const perKill = new Map<number, number>();
    for (const w of this.all) {
      if (w.observedAt === undefined || w.how === "ended") continue;
      // committed by the killed attempt itself (its commit raced the kill): not interrupted
      if (w.how === "moved" && (committed.get(`${w.runId}:${w.seq}`) ?? 0) <= w.attempt) continue;
      const ms = w.observedAt - w.killedAt;
      perStep.push(ms);
      perKill.set(w.kill, Math.min(perKill.get(w.kill) ?? Infinity, ms));
    }
    return { perStep, perKill: [...perKill.values()] };
  }
}
