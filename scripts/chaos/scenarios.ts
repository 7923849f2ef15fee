// The chaos run's mix: what each kind of run does, the steps it must commit and how it must end,
// and the seeded PRNG that picks the mix and the timings (a seed reproduces a run).

export type StepShape = Array<[kind: string, name: string]>;

export interface Scenario {
  name: string;
  weight: number;
  config: (toolUrl: string) => Record<string, unknown>;
  steps: StepShape;
  final: "succeeded" | "interrupted" | "cancelled";
  /** the continuation's steps, for runs that end interrupted */
  continuation?: StepShape;
}

const LLM: [string, string] = ["llm", "scripted"];

export const SCENARIOS: Scenario[] = [
  {
    // slow, streamed LLM turns: a kill lands mid-stream and the half message is superseded
    name: "llm",
    weight: 3,
    config: () => ({
      provider: "scripted",
      tools: ["echo"],
      script: [
        { text: "Thinking it over. ".repeat(12), delay_ms: 1200, tool_calls: [{ name: "echo", arguments: { k: 1 } }] },
        { text: "All done here. ".repeat(8), delay_ms: 800 },
      ],
    }),
    steps: [LLM, ["tool", "echo"], LLM],
    final: "succeeded",
  },
  {
    // http tools with side effects, two calls in one turn then one more
    name: "http",
    weight: 3,
    config: (url) => ({
      provider: "scripted",
      tools: [{ name: "charge", type: "http", url: `${url}/charge`, timeout_ms: 30_000 }],
      script: [
        {
          tool_calls: [
            { name: "charge", arguments: { cents: 100 } },
            { name: "charge", arguments: { cents: 200 } },
          ],
          delay_ms: 200,
        },
        { tool_calls: [{ name: "charge", arguments: { cents: 300 } }], delay_ms: 200 },
        { text: "Charged three times." },
      ],
    }),
    steps: [LLM, ["tool", "charge"], ["tool", "charge"], LLM, ["tool", "charge"], LLM],
    final: "succeeded",
  },
  {
    // a tool that holds the worker
    name: "work",
    weight: 2,
    config: () => ({
      provider: "scripted",
      tools: ["simulate_work"],
      script: [{ tool_calls: [{ name: "simulate_work", arguments: { ms: 1500 } }] }, { text: "Worked.", delay_ms: 300 }],
    }),
    steps: [LLM, ["tool", "simulate_work"], LLM],
    final: "succeeded",
  },
  {
    // a durable timer: no worker held while it runs
    name: "sleep",
    weight: 2,
    config: () => ({
      provider: "scripted",
      tools: ["sleep"],
      script: [{ tool_calls: [{ name: "sleep", arguments: { seconds: 1.5 } }] }, { text: "Slept." }],
    }),
    steps: [LLM, ["wait", "sleep"], ["tool", "sleep"], LLM],
    final: "succeeded",
  },
  {
    // parked until the chaos sends the event (everruns.send_event)
    name: "event",
    weight: 2,
    config: () => ({
      provider: "scripted",
      tools: ["wait_for_event"],
      script: [{ tool_calls: [{ name: "wait_for_event", arguments: { name: "go", timeout_seconds: 3600 } }] }, { text: "Got the event." }],
    }),
    steps: [LLM, ["wait", "wait_for_event"], ["tool", "wait_for_event"], LLM],
    final: "succeeded",
  },
  {
    // a human approves an http call (everruns.resume_run); the continuation makes it
    name: "approval",
    weight: 2,
    config: (url) => ({
      provider: "scripted",
      tools: [{ name: "refund", type: "http", url: `${url}/refund`, requires_approval: true }],
      script: [
        { text: "I would like to refund.", tool_calls: [{ name: "refund", arguments: { cents: 500 } }], delay_ms: 300 },
        { text: "Refunded.", delay_ms: 400 },
      ],
    }),
    steps: [LLM, ["system", "interrupt"]],
    final: "interrupted",
    continuation: [["tool", "refund"], LLM],
  },
  {
    // cancelled while a step runs
    name: "cancel_running",
    weight: 1,
    config: () => ({
      provider: "scripted",
      tools: ["simulate_work"],
      script: [
        { text: "Starting a long job. ", delay_ms: 500, tool_calls: [{ name: "simulate_work", arguments: { ms: 120_000 } }] },
        { text: "Never reached." },
      ],
    }),
    steps: [LLM, ["tool", "simulate_work"], LLM],
    final: "cancelled",
  },
  {
    // cancelled while parked on a long timer
    name: "cancel_waiting",
    weight: 1,
    config: () => ({
      provider: "scripted",
      tools: ["sleep"],
      script: [{ tool_calls: [{ name: "sleep", arguments: { seconds: 3600 } }] }, { text: "Never reached." }],
    }),
    steps: [LLM, ["wait", "sleep"], ["tool", "sleep"], LLM],
    final: "cancelled",
  },
];

/** Deterministic PRNG (mulberry32), so a seed reproduces the mix and the timings chosen. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
