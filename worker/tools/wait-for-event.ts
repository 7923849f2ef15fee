// Built-in `wait_for_event`: parks the run until an event of that name is sent to it
// (everruns.send_event wakes runs whose `waiting` is {type: "event", name}) or the timeout passes.
// An event sent before the wait is kept for it.
import { park, result, type Tool } from "./types.ts";

export const waitForEventTool: Tool = {
  definition: {
    name: "wait_for_event",
    description:
      "Waits durably until an event with this name is sent to the run (everruns.send_event), or until timeout_seconds pass. Returns the event's payload, or timed_out.",
    parameters: {
      type: "object",
      properties: {
        name: { type: "string", minLength: 1, maxLength: 200 },
        timeout_seconds: { type: "number", minimum: 0, maximum: 31_536_000 },
      },
      required: ["name"],
    },
  },
  execute(args, ctx) {
    const event = String(args.name);
    const timeoutSeconds = typeof args.timeout_seconds === "number" ? args.timeout_seconds : 86_400;
    const signal = ctx.signals.find((s) => s.name === event);
    if (signal) return Promise.resolve(result({ event, payload: signal.payload ?? null }, { consumesSignal: signal.id }));
    if (ctx.resumed) return Promise.resolve({ event, timed_out: true, waited_seconds: timeoutSeconds });
    return Promise.resolve(
      park({ delayMs: timeoutSeconds * 1000, waiting: { type: "event", name: event }, output: { event, timeout_seconds: timeoutSeconds } }),
    );
  },
};
