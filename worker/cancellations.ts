import { StepAbort } from "./abort.ts";

/** The in-flight steps of this process by run, so a NOTIFY everruns:cancel can abort them. */
export class Cancellations {
  private readonly byRun = new Map<string, Set<AbortController>>();

  register(runId: string, controller: AbortController): () => void {
    let set = this.byRun.get(runId);
    if (!set) this.byRun.set(runId, (set = new Set()));
    set.add(controller);
    return () => {
      set.delete(controller);
      if (set.size === 0) this.byRun.delete(runId);
    };
  }

  cancel(runId: string): number {
    const set = this.byRun.get(runId);
    if (!set) return 0;
    for (const controller of set) controller.abort(new StepAbort("cancelled", "the run was cancelled"));
    return set.size;
  }
}
