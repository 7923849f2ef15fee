/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
/** A condition to be used against `Run` object types. All fields are tested for equality and combined with a logical ‘and.’ */
export type RunCondition = {
  /** Checks for equality with the object’s `agentId` field. */
  agentId?: string | null | undefined;
  /** Runs created strictly after this instant. */
  createdAfter?: string | null | undefined;
  /** Checks for equality with the object’s `createdAt` field. */
  createdAt?: string | null | undefined;
  /** Runs created strictly before this instant. */
  createdBefore?: string | null | undefined;
  /** Checks for equality with the object’s `id` field. */
  id?: string | null | undefined;
  /** Checks for equality with the object’s `status` field. */
  status?: string | null | undefined;
  /** Checks for equality with the object’s `threadId` field. */
  threadId?: string | null | undefined;
};

export type RunRowFieldsFragment = { id: string, status: string, agentId: string, threadId: string, parentRunId: string | null, usage: unknown, error: unknown, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, agentByAgentId: { id: string, name: string } | null, runStepsByRunId: { totalCount: number } };

export type RunFieldsFragment = { id: string, status: string, agentId: string, agentVersion: number, threadId: string, parentRunId: string | null, continuedBy: string | null, input: unknown, output: unknown, error: unknown, usage: unknown, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, agentByAgentId: { id: string, name: string } | null };

export type ParentFinishedFragment = { parent: { finished: { nodes: Array<{ event: unknown } | null> } } | null };

export type RunsQueryVariables = Exact<{
  condition?: RunCondition | null | undefined;
  first: number;
  after?: string | null | undefined;
}>;


export type RunsQuery = { allRuns: { totalCount: number, pageInfo: { hasNextPage: boolean, endCursor: string | null }, nodes: Array<{ id: string, status: string, agentId: string, threadId: string, parentRunId: string | null, usage: unknown, error: unknown, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, agentByAgentId: { id: string, name: string } | null, runStepsByRunId: { totalCount: number } } | null> } | null };

export type RunsUpdatedSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type RunsUpdatedSubscription = { runUpdated: { runId: string, run: { id: string, status: string, agentId: string, threadId: string, parentRunId: string | null, usage: unknown, error: unknown, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, agentByAgentId: { id: string, name: string } | null, runStepsByRunId: { totalCount: number } } | null } | null };

export type AgentNamesQueryVariables = Exact<{ [key: string]: never; }>;


export type AgentNamesQuery = { allAgents: { nodes: Array<{ id: string, name: string } | null> } | null };

export type RunDetailQueryVariables = Exact<{
  id: string;
}>;


export type RunDetailQuery = { runById: { id: string, status: string, agentId: string, agentVersion: number, threadId: string, parentRunId: string | null, continuedBy: string | null, input: unknown, output: unknown, error: unknown, usage: unknown, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, agentVersionByAgentIdAndAgentVersion: { version: number, config: unknown } | null, runByContinuedBy: { id: string, status: string } | null, agentByAgentId: { id: string, name: string } | null, parent: { finished: { nodes: Array<{ event: unknown } | null> } } | null } | null };

export type RunStepFieldsFragment = { seq: number, kind: string, name: string, status: string, attempt: number, startedAt: string, finishedAt: string, durationMs: string | null, error: unknown, usage: unknown };

export type RunStepsQueryVariables = Exact<{
  id: string;
}>;


export type RunStepsQuery = { allRunSteps: { nodes: Array<{ seq: number, kind: string, name: string, status: string, attempt: number, startedAt: string, finishedAt: string, durationMs: string | null, error: unknown, usage: unknown } | null> } | null };

export type RunUpdatedSubscriptionVariables = Exact<{
  id: string;
}>;


export type RunUpdatedSubscription = { runUpdated: { runId: string, run: { id: string, status: string, agentId: string, agentVersion: number, threadId: string, parentRunId: string | null, continuedBy: string | null, input: unknown, output: unknown, error: unknown, usage: unknown, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, agentByAgentId: { id: string, name: string } | null } | null } | null };

export type RunAnswersSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type RunAnswersSubscription = { runUpdated: { run: { parentRunId: string | null } | null } | null };

export type RunEventsSubscriptionVariables = Exact<{
  runId: string;
  after?: number | null | undefined;
}>;


export type RunEventsSubscription = { runEvents: { seq: number, type: string, event: unknown } | null };

export type StartRunMutationVariables = Exact<{
  agent: string;
  input: unknown;
  threadId?: string | null | undefined;
}>;


export type StartRunMutation = { startRun: { runId: string } | null };

export type CancelRunMutationVariables = Exact<{
  runId: string;
}>;


export type CancelRunMutation = { cancelRun: { cancelled: boolean, run: { id: string, status: string } | null } | null };

export type ResumeRunMutationVariables = Exact<{
  runId: string;
  resume: unknown;
}>;


export type ResumeRunMutation = { resumeRun: { runId: string } | null };

export type AgentsQueryVariables = Exact<{ [key: string]: never; }>;


export type AgentsQuery = { allAgents: { nodes: Array<{ id: string, name: string, config: unknown, version: number, createdAt: string, updatedAt: string, runsByAgentId: { totalCount: number } } | null> } | null };

export type AgentQueryVariables = Exact<{
  id: string;
}>;


export type AgentQuery = { agentById: { id: string, name: string, config: unknown, version: number, createdAt: string, updatedAt: string, agentVersionsByAgentId: { nodes: Array<{ agentId: string, version: number, config: unknown, createdAt: string } | null> }, runsByAgentId: { totalCount: number, nodes: Array<{ id: string, status: string, agentId: string, threadId: string, parentRunId: string | null, usage: unknown, error: unknown, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, agentByAgentId: { id: string, name: string } | null, runStepsByRunId: { totalCount: number } } | null> } } | null };

export type CreateAgentMutationVariables = Exact<{
  name: string;
  config: unknown;
}>;


export type CreateAgentMutation = { createAgent: { agent: { id: string } | null } | null };

export type UpdateAgentMutationVariables = Exact<{
  id: string;
  config: unknown;
}>;


export type UpdateAgentMutation = { updateAgentById: { agent: { id: string, version: number } | null } | null };

export type ThreadQueryVariables = Exact<{
  id: string;
}>;


export type ThreadQuery = { threadById: { id: string, createdAt: string, agentByAgentId: { id: string, name: string } | null, runsByThreadId: { nodes: Array<{ id: string, status: string, agentId: string, agentVersion: number, threadId: string, parentRunId: string | null, continuedBy: string | null, input: unknown, output: unknown, error: unknown, usage: unknown, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, agentByAgentId: { id: string, name: string } | null, parent: { finished: { nodes: Array<{ event: unknown } | null> } } | null } | null> } } | null };

export type ThreadRunsUpdatedSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type ThreadRunsUpdatedSubscription = { runUpdated: { runId: string, run: { threadId: string, status: string } | null } | null };

export type ApprovalsQueryVariables = Exact<{ [key: string]: never; }>;


export type ApprovalsQuery = { runsAwaitingAnswerCount: number, runsAwaitingAnswer: Array<{ input: unknown, id: string, status: string, agentId: string, threadId: string, parentRunId: string | null, usage: unknown, error: unknown, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, finished: { nodes: Array<{ event: unknown } | null> }, agentByAgentId: { id: string, name: string } | null, runStepsByRunId: { totalCount: number } }> };

export type RunStatusUpdatedSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type RunStatusUpdatedSubscription = { runUpdated: { runId: string, run: { status: string, parentRunId: string | null } | null } | null };

export type PendingApprovalsQueryVariables = Exact<{ [key: string]: never; }>;


export type PendingApprovalsQuery = { runsAwaitingAnswerCount: number };

export type DashboardQueryVariables = Exact<{
  window: number;
  bucket: number;
  days: number;
}>;


export type DashboardQuery = { runsAwaitingAnswerCount: number, runStatusCounts: Array<{ status: string, count: number }>, runThroughput: Array<{ start: string, started: number, succeeded: number, failed: number, cancelled: number, interrupted: number, steps: number, stepP50Ms: number | null, stepP95Ms: number | null }>, agentDailyUsage: Array<{ day: string, agentId: string, agentName: string, runs: number, inputTokens: number, outputTokens: number, costUsd: number }>, liveWorkers: Array<{ poolId: string, hostname: string | null, pid: number | null, concurrency: number, startedAt: string, runningJobs: number }>, queueDepth: { ready: number, scheduled: number, running: number, oldestReadyAgeMs: number | null }, failures: { nodes: Array<{ id: string, error: unknown, finishedAt: string | null, createdAt: string, agentByAgentId: { id: string, name: string } | null } | null> } | null };

export type DashboardUpdatedSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type DashboardUpdatedSubscription = { runUpdated: { runId: string } | null };

export type WhoamiQueryVariables = Exact<{ [key: string]: never; }>;


export type WhoamiQuery = { whoami: { keyId: string, workspaceId: string, workspaceName: string, role: string } };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}
export const RunRowFieldsFragmentDoc = new TypedDocumentString(`
    fragment RunRowFields on Run {
  id
  status
  agentId
  threadId
  parentRunId
  usage
  error
  createdAt
  startedAt
  finishedAt
  updatedAt
  agentByAgentId {
    id
    name
  }
  runStepsByRunId {
    totalCount
  }
}
    `, {"fragmentName":"RunRowFields"}) as unknown as TypedDocumentString<RunRowFieldsFragment, unknown>;
export const RunFieldsFragmentDoc = new TypedDocumentString(`
    fragment RunFields on Run {
  id
  status
  agentId
  agentVersion
  threadId
  parentRunId
  continuedBy
  input
  output
  error
  usage
  createdAt
  startedAt
  finishedAt
  updatedAt
  agentByAgentId {
    id
    name
  }
}
    `, {"fragmentName":"RunFields"}) as unknown as TypedDocumentString<RunFieldsFragment, unknown>;
export const ParentFinishedFragmentDoc = new TypedDocumentString(`
    fragment ParentFinished on Run {
  parent: runByParentRunId {
    finished: runEventsByRunId(
      condition: {type: "RUN_FINISHED"}
      orderBy: SEQ_DESC
      first: 1
    ) {
      nodes {
        event
      }
    }
  }
}
    `, {"fragmentName":"ParentFinished"}) as unknown as TypedDocumentString<ParentFinishedFragment, unknown>;
export const RunStepFieldsFragmentDoc = new TypedDocumentString(`
    fragment RunStepFields on RunStep {
  seq
  kind
  name
  status
  attempt
  startedAt
  finishedAt
  durationMs
  error
  usage
}
    `, {"fragmentName":"RunStepFields"}) as unknown as TypedDocumentString<RunStepFieldsFragment, unknown>;
export const RunsDocument = new TypedDocumentString(`
    query Runs($condition: RunCondition, $first: Int!, $after: Cursor) {
  allRuns(
    condition: $condition
    orderBy: CREATED_AT_DESC
    first: $first
    after: $after
  ) {
    totalCount
    pageInfo {
      hasNextPage
      endCursor
    }
    nodes {
      ...RunRowFields
    }
  }
}
    fragment RunRowFields on Run {
  id
  status
  agentId
  threadId
  parentRunId
  usage
  error
  createdAt
  startedAt
  finishedAt
  updatedAt
  agentByAgentId {
    id
    name
  }
  runStepsByRunId {
    totalCount
  }
}`) as unknown as TypedDocumentString<RunsQuery, RunsQueryVariables>;
export const RunsUpdatedDocument = new TypedDocumentString(`
    subscription RunsUpdated {
  runUpdated {
    runId
    run {
      ...RunRowFields
    }
  }
}
    fragment RunRowFields on Run {
  id
  status
  agentId
  threadId
  parentRunId
  usage
  error
  createdAt
  startedAt
  finishedAt
  updatedAt
  agentByAgentId {
    id
    name
  }
  runStepsByRunId {
    totalCount
  }
}`) as unknown as TypedDocumentString<RunsUpdatedSubscription, RunsUpdatedSubscriptionVariables>;
export const AgentNamesDocument = new TypedDocumentString(`
    query AgentNames {
  allAgents(orderBy: NAME_ASC, first: 1000) {
    nodes {
      id
      name
    }
  }
}
    `) as unknown as TypedDocumentString<AgentNamesQuery, AgentNamesQueryVariables>;
export const RunDetailDocument = new TypedDocumentString(`
    query RunDetail($id: UUID!) {
  runById(id: $id) {
    ...RunFields
    ...ParentFinished
    agentVersionByAgentIdAndAgentVersion {
      version
      config
    }
    runByContinuedBy {
      id
      status
    }
  }
}
    fragment RunFields on Run {
  id
  status
  agentId
  agentVersion
  threadId
  parentRunId
  continuedBy
  input
  output
  error
  usage
  createdAt
  startedAt
  finishedAt
  updatedAt
  agentByAgentId {
    id
    name
  }
}
fragment ParentFinished on Run {
  parent: runByParentRunId {
    finished: runEventsByRunId(
      condition: {type: "RUN_FINISHED"}
      orderBy: SEQ_DESC
      first: 1
    ) {
      nodes {
        event
      }
    }
  }
}`) as unknown as TypedDocumentString<RunDetailQuery, RunDetailQueryVariables>;
export const RunStepsDocument = new TypedDocumentString(`
    query RunSteps($id: UUID!) {
  allRunSteps(condition: {runId: $id}, orderBy: SEQ_ASC, first: 1000) {
    nodes {
      ...RunStepFields
    }
  }
}
    fragment RunStepFields on RunStep {
  seq
  kind
  name
  status
  attempt
  startedAt
  finishedAt
  durationMs
  error
  usage
}`) as unknown as TypedDocumentString<RunStepsQuery, RunStepsQueryVariables>;
export const RunUpdatedDocument = new TypedDocumentString(`
    subscription RunUpdated($id: UUID!) {
  runUpdated(runId: $id) {
    runId
    run {
      ...RunFields
    }
  }
}
    fragment RunFields on Run {
  id
  status
  agentId
  agentVersion
  threadId
  parentRunId
  continuedBy
  input
  output
  error
  usage
  createdAt
  startedAt
  finishedAt
  updatedAt
  agentByAgentId {
    id
    name
  }
}`) as unknown as TypedDocumentString<RunUpdatedSubscription, RunUpdatedSubscriptionVariables>;
export const RunAnswersDocument = new TypedDocumentString(`
    subscription RunAnswers {
  runUpdated {
    run {
      parentRunId
    }
  }
}
    `) as unknown as TypedDocumentString<RunAnswersSubscription, RunAnswersSubscriptionVariables>;
export const RunEventsDocument = new TypedDocumentString(`
    subscription RunEvents($runId: UUID!, $after: Int) {
  runEvents(runId: $runId, after: $after) {
    seq
    type
    event
  }
}
    `) as unknown as TypedDocumentString<RunEventsSubscription, RunEventsSubscriptionVariables>;
export const StartRunDocument = new TypedDocumentString(`
    mutation StartRun($agent: String!, $input: JSON!, $threadId: UUID) {
  startRun(agent: $agent, input: $input, threadId: $threadId) {
    runId
  }
}
    `) as unknown as TypedDocumentString<StartRunMutation, StartRunMutationVariables>;
export const CancelRunDocument = new TypedDocumentString(`
    mutation CancelRun($runId: UUID!) {
  cancelRun(runId: $runId) {
    cancelled
    run {
      id
      status
    }
  }
}
    `) as unknown as TypedDocumentString<CancelRunMutation, CancelRunMutationVariables>;
export const ResumeRunDocument = new TypedDocumentString(`
    mutation ResumeRun($runId: UUID!, $resume: JSON!) {
  resumeRun(runId: $runId, resume: $resume) {
    runId
  }
}
    `) as unknown as TypedDocumentString<ResumeRunMutation, ResumeRunMutationVariables>;
export const AgentsDocument = new TypedDocumentString(`
    query Agents {
  allAgents(orderBy: NAME_ASC, first: 1000) {
    nodes {
      id
      name
      config
      version
      createdAt
      updatedAt
      runsByAgentId {
        totalCount
      }
    }
  }
}
    `) as unknown as TypedDocumentString<AgentsQuery, AgentsQueryVariables>;
export const AgentDocument = new TypedDocumentString(`
    query Agent($id: UUID!) {
  agentById(id: $id) {
    id
    name
    config
    version
    createdAt
    updatedAt
    agentVersionsByAgentId(orderBy: VERSION_DESC, first: 1000) {
      nodes {
        agentId
        version
        config
        createdAt
      }
    }
    runsByAgentId(orderBy: CREATED_AT_DESC, first: 8) {
      totalCount
      nodes {
        ...RunRowFields
      }
    }
  }
}
    fragment RunRowFields on Run {
  id
  status
  agentId
  threadId
  parentRunId
  usage
  error
  createdAt
  startedAt
  finishedAt
  updatedAt
  agentByAgentId {
    id
    name
  }
  runStepsByRunId {
    totalCount
  }
}`) as unknown as TypedDocumentString<AgentQuery, AgentQueryVariables>;
export const CreateAgentDocument = new TypedDocumentString(`
    mutation CreateAgent($name: String!, $config: JSON!) {
  createAgent(input: {agent: {name: $name, config: $config}}) {
    agent {
      id
    }
  }
}
    `) as unknown as TypedDocumentString<CreateAgentMutation, CreateAgentMutationVariables>;
export const UpdateAgentDocument = new TypedDocumentString(`
    mutation UpdateAgent($id: UUID!, $config: JSON!) {
  updateAgentById(input: {id: $id, agentPatch: {config: $config}}) {
    agent {
      id
      version
    }
  }
}
    `) as unknown as TypedDocumentString<UpdateAgentMutation, UpdateAgentMutationVariables>;
export const ThreadDocument = new TypedDocumentString(`
    query Thread($id: UUID!) {
  threadById(id: $id) {
    id
    createdAt
    agentByAgentId {
      id
      name
    }
    runsByThreadId(orderBy: CREATED_AT_ASC, first: 1000) {
      nodes {
        ...RunFields
        ...ParentFinished
      }
    }
  }
}
    fragment RunFields on Run {
  id
  status
  agentId
  agentVersion
  threadId
  parentRunId
  continuedBy
  input
  output
  error
  usage
  createdAt
  startedAt
  finishedAt
  updatedAt
  agentByAgentId {
    id
    name
  }
}
fragment ParentFinished on Run {
  parent: runByParentRunId {
    finished: runEventsByRunId(
      condition: {type: "RUN_FINISHED"}
      orderBy: SEQ_DESC
      first: 1
    ) {
      nodes {
        event
      }
    }
  }
}`) as unknown as TypedDocumentString<ThreadQuery, ThreadQueryVariables>;
export const ThreadRunsUpdatedDocument = new TypedDocumentString(`
    subscription ThreadRunsUpdated {
  runUpdated {
    runId
    run {
      threadId
      status
    }
  }
}
    `) as unknown as TypedDocumentString<ThreadRunsUpdatedSubscription, ThreadRunsUpdatedSubscriptionVariables>;
export const ApprovalsDocument = new TypedDocumentString(`
    query Approvals {
  runsAwaitingAnswerCount
  runsAwaitingAnswer(first: 200) {
    ...RunRowFields
    input
    finished: runEventsByRunId(
      condition: {type: "RUN_FINISHED"}
      orderBy: SEQ_DESC
      first: 1
    ) {
      nodes {
        event
      }
    }
  }
}
    fragment RunRowFields on Run {
  id
  status
  agentId
  threadId
  parentRunId
  usage
  error
  createdAt
  startedAt
  finishedAt
  updatedAt
  agentByAgentId {
    id
    name
  }
  runStepsByRunId {
    totalCount
  }
}`) as unknown as TypedDocumentString<ApprovalsQuery, ApprovalsQueryVariables>;
export const RunStatusUpdatedDocument = new TypedDocumentString(`
    subscription RunStatusUpdated {
  runUpdated {
    runId
    run {
      status
      parentRunId
    }
  }
}
    `) as unknown as TypedDocumentString<RunStatusUpdatedSubscription, RunStatusUpdatedSubscriptionVariables>;
export const PendingApprovalsDocument = new TypedDocumentString(`
    query PendingApprovals {
  runsAwaitingAnswerCount
}
    `) as unknown as TypedDocumentString<PendingApprovalsQuery, PendingApprovalsQueryVariables>;
export const DashboardDocument = new TypedDocumentString(`
    query Dashboard($window: Int!, $bucket: Int!, $days: Int!) {
  runStatusCounts(windowSeconds: $window) {
    status
    count
  }
  runThroughput(windowSeconds: $window, bucketSeconds: $bucket) {
    start
    started
    succeeded
    failed
    cancelled
    interrupted
    steps
    stepP50Ms
    stepP95Ms
  }
  agentDailyUsage(days: $days) {
    day
    agentId
    agentName
    runs
    inputTokens
    outputTokens
    costUsd
  }
  liveWorkers {
    poolId
    hostname
    pid
    concurrency
    startedAt
    runningJobs
  }
  queueDepth {
    ready
    scheduled
    running
    oldestReadyAgeMs
  }
  runsAwaitingAnswerCount
  failures: allRuns(
    condition: {status: "failed"}
    orderBy: CREATED_AT_DESC
    first: 8
  ) {
    nodes {
      id
      error
      finishedAt
      createdAt
      agentByAgentId {
        id
        name
      }
    }
  }
}
    `) as unknown as TypedDocumentString<DashboardQuery, DashboardQueryVariables>;
export const DashboardUpdatedDocument = new TypedDocumentString(`
    subscription DashboardUpdated {
  runUpdated {
    runId
  }
}
    `) as unknown as TypedDocumentString<DashboardUpdatedSubscription, DashboardUpdatedSubscriptionVariables>;
export const WhoamiDocument = new TypedDocumentString(`
    query Whoami {
  whoami {
    keyId
    workspaceId
    workspaceName
    role
  }
}
    `) as unknown as TypedDocumentString<WhoamiQuery, WhoamiQueryVariables>;