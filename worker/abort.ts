/** Why an in-flight step was aborted: the engine decides what to do from this. */
export class StepAbort extends Error {
  readonly reason: "shutdown" | "cancelled" | "fenced" | "timeout";
  constructor(reason: StepAbort["reason"], message: string) {
    super(message);
    this.name = "StepAbort";
    this.reason = reason;
  }
}
