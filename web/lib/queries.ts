// The GraphQL documents of the console (api/schema.graphql is the contract they are written to).

export const RUN_ROW_FIELDS = /* GraphQL */ `
  fragment RunRowFields on Run {
    id status agentId threadId parentRunId usage error createdAt startedAt finishedAt updatedAt
    agentByAgentId { id name }
    runStepsByRunId { totalCount }
  }
`;

export const RUNS_QUERY = /* GraphQL */ `
  query Runs($condition: RunCondition, $first: Int!, $after: Cursor) {
    allRuns(condition: $condition, orderBy: CREATED_AT_DESC, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { ...RunRowFields }
    }
  }
  ${RUN_ROW_FIELDS}
`;

export const RUN_UPDATED_ALL = /* GraphQL */ `
  subscription RunsUpdated {
    runUpdated { runId run { ...RunRowFields } }
  }
  ${RUN_ROW_FIELDS}
`;

export const AGENT_NAMES_QUERY = /* GraphQL */ `
  query AgentNames { allAgents(orderBy: NAME_ASC) { nodes { id name } } }
`;

export const RUN_FIELDS = /* GraphQL */ `
  fragment RunFields on Run {
    id status agentId agentVersion threadId parentRunId continuedBy input output error usage
    createdAt startedAt finishedAt updatedAt
    agentByAgentId { id name }
  }
`;

/** The interrupts a continuation run answers: its parent's last RUN_FINISHED. */
const PARENT_FINISHED = /* GraphQL */ `
  parent: runByParentRunId { finished: runEventsByRunId(condition: { type: "RUN_FINISHED" }, orderBy: SEQ_DESC, first: 1) { nodes { event } } }
`;

export const RUN_DETAIL_QUERY = /* GraphQL */ `
  query RunDetail($id: UUID!) {
    runById(id: $id) {
      ...RunFields
      ${PARENT_FINISHED}
      agentVersionByAgentIdAndAgentVersion { version config }
      runByContinuedBy { id status }
    }
  }
  ${RUN_FIELDS}
`;

export const RUN_STEPS_QUERY = /* GraphQL */ `
  query RunSteps($id: UUID!) {
    allRunSteps(condition: { runId: $id }, orderBy: SEQ_ASC) {
      nodes { seq kind name status attempt startedAt finishedAt durationMs error usage }
    }
  }
`;

export const RUN_UPDATED_ONE = /* GraphQL */ `
  subscription RunUpdated($id: UUID!) {
    runUpdated(runId: $id) { runId run { ...RunFields } }
  }
  ${RUN_FIELDS}
`;

export const RUN_EVENTS_SUBSCRIPTION = /* GraphQL */ `
  subscription RunEvents($runId: UUID!, $after: Int) {
    runEvents(runId: $runId, after: $after) { seq type event }
  }
`;

export const START_RUN = /* GraphQL */ `
  mutation StartRun($agent: String!, $input: JSON!, $threadId: UUID) {
    startRun(agent: $agent, input: $input, threadId: $threadId) { runId }
  }
`;

export const CANCEL_RUN = /* GraphQL */ `
  mutation CancelRun($runId: UUID!) {
    cancelRun(runId: $runId) { cancelled run { id status } }
  }
`;

export const RESUME_RUN = /* GraphQL */ `
  mutation ResumeRun($runId: UUID!, $resume: JSON!) {
    resumeRun(runId: $runId, resume: $resume) { runId }
  }
`;

export const AGENTS_QUERY = /* GraphQL */ `
  query Agents {
    allAgents(orderBy: NAME_ASC) {
      nodes {
        id name config version createdAt updatedAt
        runsByAgentId { totalCount }
      }
    }
  }
`;

export const AGENT_QUERY = /* GraphQL */ `
  query Agent($id: UUID!) {
    agentById(id: $id) {
      id name config version createdAt updatedAt
      agentVersionsByAgentId(orderBy: VERSION_DESC) { nodes { agentId version config createdAt } }
      runsByAgentId(orderBy: CREATED_AT_DESC, first: 8) { totalCount nodes { ...RunRowFields } }
    }
  }
  ${RUN_ROW_FIELDS}
`;

export const CREATE_AGENT = /* GraphQL */ `
  mutation CreateAgent($name: String!, $config: JSON!) {
    createAgent(input: { agent: { name: $name, config: $config } }) { agent { id } }
  }
`;

export const UPDATE_AGENT = /* GraphQL */ `
  mutation UpdateAgent($id: UUID!, $config: JSON!) {
    updateAgentById(input: { id: $id, agentPatch: { config: $config } }) { agent { id version } }
  }
`;

export const THREAD_QUERY = /* GraphQL */ `
  query Thread($id: UUID!) {
    threadById(id: $id) {
      id createdAt
      agentByAgentId { id name }
      runsByThreadId(orderBy: CREATED_AT_ASC) { nodes { ...RunFields ${PARENT_FINISHED} } }
    }
  }
  ${RUN_FIELDS}
`;

/** Interrupted runs no continuation answered yet, oldest first, with their interrupts. */
export const APPROVALS_QUERY = /* GraphQL */ `
  query Approvals {
    runsAwaitingAnswerCount
    runsAwaitingAnswer(first: 200) {
      ...RunRowFields
      input
      finished: runEventsByRunId(condition: { type: "RUN_FINISHED" }, orderBy: SEQ_DESC, first: 1) { nodes { event } }
    }
  }
  ${RUN_ROW_FIELDS}
`;

/** The nav's badge. */
export const PENDING_APPROVALS_QUERY = /* GraphQL */ `
  query PendingApprovals { runsAwaitingAnswerCount }
`;

export const DASHBOARD_QUERY = /* GraphQL */ `
  query Dashboard($window: Int!, $bucket: Int!, $days: Int!) {
    runStatusCounts(windowSeconds: $window) { status count }
    runThroughput(windowSeconds: $window, bucketSeconds: $bucket) {
      start started succeeded failed cancelled interrupted steps stepP50Ms stepP95Ms
    }
    agentDailyUsage(days: $days) { day agentId agentName runs inputTokens outputTokens costUsd }
    liveWorkers { poolId hostname pid concurrency startedAt runningJobs }
    queueDepth { ready scheduled running oldestReadyAgeMs }
    runsAwaitingAnswerCount
    failures: allRuns(condition: { status: "failed" }, orderBy: CREATED_AT_DESC, first: 8) {
      nodes { id error finishedAt createdAt agentByAgentId { id name } }
    }
  }
`;
