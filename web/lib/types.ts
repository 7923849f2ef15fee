// The GraphQL types the console reads, written by hand from the committed api/schema.graphql
// (the API's contract). Scalars: UUID, Datetime and Cursor are strings; BigFloat is a string
// (arbitrary precision); JSON is any JSON value, narrowed here to what Everruns stores.

export type UUID = string;
export type Datetime = string;
export type BigFloat = string;

export const RUN_STATUSES = ["queued", "running", "waiting", "interrupted", "succeeded", "failed", "cancelled"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const TERMINAL_STATUSES: readonly string[] = ["succeeded", "failed", "cancelled"];
/** Statuses after which a run does nothing more by itself (interrupted waits for an answer). */
export const isSettled = (status: string) => TERMINAL_STATUSES.includes(status) || status === "interrupted";

/** runs.usage */
export interface Usage {
  input_tokens?: number;
  output_tokens?: number;
  cost_usd?: number;
}

export interface InputMessage {
  id?: string;
  role: "user" | "assistant" | "system" | "developer" | "tool" | string;
  content?: unknown;
  toolCallId?: string;
}

/** runs.input: a subset of AG-UI RunAgentInput; a continuation run carries `resume`. */
export interface RunInput {
  messages?: InputMessage[];
  state?: unknown;
  context?: unknown[];
  tools?: unknown[];
  resume?: ResumeAnswer[];
}

export interface RunError {
  code?: string;
  message?: string;
}

export interface AgentRef {
  id: UUID;
  name: string;
}

/** type Run (the fields the console reads) */
export interface Run {
  id: UUID;
  status: string;
  agentId: UUID;
  agentVersion: number;
  threadId: UUID;
  parentRunId: UUID | null;
  /** the continuation run that answered this interrupted run */
  continuedBy: UUID | null;
  input: RunInput;
  output: { text?: string } | null;
  error: RunError | null;
  usage: Usage;
  createdAt: Datetime;
  startedAt: Datetime | null;
  finishedAt: Datetime | null;
  updatedAt: Datetime;
  agentByAgentId: AgentRef | null;
}

/** `parent: runByParentRunId { finished: ... }`: the RUN_FINISHED a continuation run answers. */
export interface ParentFinished {
  parent?: { finished: { nodes: Array<{ event: AgUiEvent }> } } | null;
}

/** A row of the runs table. */
export interface RunRow extends Omit<Run, "input" | "output" | "agentVersion" | "continuedBy"> {
  runStepsByRunId: { totalCount: number };
}

/** type RunStep */
export interface RunStep {
  seq: number;
  kind: "llm" | "tool" | "wait" | "system" | string;
  name: string;
  status: string;
  attempt: number;
  startedAt: Datetime;
  finishedAt: Datetime;
  durationMs: BigFloat | null;
  error: RunError | null;
  usage: Usage | null;
}

/** An AG-UI event object (runs.event): `type` plus the fields of that event type. */
export interface AgUiEvent {
  type: string;
  [field: string]: unknown;
}

/** type RunEventMessage (subscription runEvents) */
export interface RunEventMessage {
  seq: number;
  type: string;
  event: AgUiEvent;
}

/** AG-UI interrupt (RUN_FINISHED.outcome.interrupts[]) */
export interface Interrupt {
  id: string;
  reason?: string;
  message?: string;
  toolCallId?: string;
  metadata?: { toolName?: string; arguments?: Record<string, unknown> } & Record<string, unknown>;
}

/** An answer to one interrupt (resumeRun's `resume` entries). */
export interface ResumeAnswer {
  interruptId: string;
  status: "resolved" | "cancelled";
  payload?: { approved: boolean; arguments?: Record<string, unknown> };
}

/** type Agent */
export interface Agent {
  id: UUID;
  name: string;
  config: AgentConfig;
  version: number;
  createdAt: Datetime;
  updatedAt: Datetime;
}

/** agents.config (validated by the API; the console only reads a few fields) */
export interface AgentConfig {
  provider?: string;
  model?: string;
  system_prompt?: string;
  tools?: Array<string | { name: string; [k: string]: unknown }>;
  max_steps?: number;
  [key: string]: unknown;
}

/** type AgentVersion */
export interface AgentVersion {
  agentId: UUID;
  version: number;
  config: AgentConfig;
  createdAt: Datetime;
}

/** type Thread */
export interface Thread {
  id: UUID;
  createdAt: Datetime;
  agentByAgentId: AgentRef | null;
  runsByThreadId: { nodes: Array<Run & ParentFinished> };
}

export interface PageInfo {
  hasNextPage: boolean;
  endCursor: string | null;
}

// The dashboard's aggregates (api/graphql/dashboard.ts)
export interface RunStatusCount {
  status: string;
  count: number;
}
export interface ThroughputBucket {
  start: Datetime;
  started: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  interrupted: number;
  steps: number;
  stepP50Ms: number | null;
  stepP95Ms: number | null;
}
export interface AgentDailyUsage {
  day: string;
  agentId: UUID;
  agentName: string;
  runs: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}
export interface StepRunner {
  poolId: string;
  hostname: string;
  pid: number;
  concurrency: number;
  startedAt: Datetime;
  runningJobs: number;
}
export interface QueueDepth {
  ready: number;
  scheduled: number;
  running: number;
  oldestReadyAgeMs: number | null;
}
