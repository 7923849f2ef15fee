// Built-in `wait_for_event`: parks the run until an event of that name is sent to it
// (everruns.send_event wakes runs whose `waiting` is {type: "event", name}) or the timeout passes.
// An event sent before the wait is kept for it. Bounded: 0 <= timeout_seconds <= MAX_EVENT_WAIT_SECONDS.
import { MAX_PARK_SECONDS, park, result, ToolError, type Tool } from "./types.ts";

/** The longest `timeout_seconds` of `wait_for_event`: 30 days. */
export const MAX_EVENT_WAIT_SECONDS = MAX_PARK_SECONDS;
/** `timeout_seconds` when the model gives none: 1 day. */
export const DEFAULT_EVENT_WAIT_SECONDS = 86_400;

export const waitForEventTool: Tool = {
  definition: {
    name: "wait_for_event",
    description: `Waits durably until an event with this name is sent to the run (everruns.send_event), or until timeout_seconds pass (default ${DEFAULT_EVENT_WAIT_SECONDS}, at most ${MAX_EVENT_WAIT_SECONDS}, i.e. 30 days). Returns the event's payload, or timed_out.`,
    parameters: {
      type: "object",
      properties: {
        name: { type: "string", minLength: 1, maxLength: 200 },
        timeout_seconds: { type: "number", minimum: 0, maximum: MAX_EVENT_WAIT_SECONDS },
      },
      required: ["name"],
    },
  },
  execute(args, ctx) {
    const event = args.name;
    if (typeof event !== "string" || event.length < 1 || event.length > 200) {
      throw new ToolError(`wait_for_event needs "name", a string of 1 to 200 characters; got ${JSON.stringify(event) ?? "nothing"}`);
    }
    const timeout = args.timeout_seconds ?? DEFAULT_EVENT_WAIT_SECONDS;
    if (typeof timeout !== "number" || !Number.isFinite(timeout) || timeout < 0 || timeout > MAX_EVENT_WAIT_SECONDS) {
      throw new ToolError(`wait_for_event's "timeout_seconds" must be a number from 0 to ${MAX_EVENT_WAIT_SECONDS} (30 days); got ${JSON.stringify(timeout)}`);
    }
    const timeoutSeconds = timeout;
    const signal = ctx.signals.find((s) => s.name === event);
    if (signal) return Promise.resolve(result({ event, payload: signal.payload ?? null }, { consumesSignal: signal.id }));
    if (ctx.resumed) return Promise.resolve({ event, timed_out: true, waited_seconds: timeoutSeconds });
    return Promise.resolve(
      park({
        delayMs: Math.round(timeoutSeconds * 1000),
        waiting: { type: "event", name: event },
        output: { event, timeout_seconds: timeoutSeconds },
      }),
    );
  },
};
