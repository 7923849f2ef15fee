/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Why an in-flight step was aborted: the engine decides what to do from this. */
export class StepAbort extends Error {
  readonly reason: "shutdown" | "cancelled" | "fenced" | "timeout";
  constructor(reason: StepAbort["reason"], message: string) {
    super(message);
    this.name = "StepAbort";
    this.reason = reason;
  }
}
