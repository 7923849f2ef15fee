/* eslint-disable */
import * as types from './graphql';



/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  fragment RunRowFields on Run {\n    id status agentId threadId parentRunId usage error createdAt startedAt finishedAt updatedAt\n    agentByAgentId { id name }\n    runStepsByRunId { totalCount }\n  }\n": typeof types.RunRowFieldsFragmentDoc,
    "\n  fragment RunFields on Run {\n    id status agentId agentVersion threadId parentRunId continuedBy input output error usage\n    createdAt startedAt finishedAt updatedAt\n    agentByAgentId { id name }\n  }\n": typeof types.RunFieldsFragmentDoc,
    "\n  fragment ParentFinished on Run {\n    parent: runByParentRunId {\n      finished: runEventsByRunId(condition: { type: \"RUN_FINISHED\" }, orderBy: SEQ_DESC, first: 1) { nodes { event } }\n    }\n  }\n": typeof types.ParentFinishedFragmentDoc,
    "\n  query Runs($condition: RunCondition, $first: Int!, $after: Cursor) {\n    allRuns(condition: $condition, orderBy: CREATED_AT_DESC, first: $first, after: $after) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { ...RunRowFields }\n    }\n  }\n": typeof types.RunsDocument,
    "\n  subscription RunsUpdated {\n    runUpdated { runId run { ...RunRowFields } }\n  }\n": typeof types.RunsUpdatedDocument,
    "\n  query AgentNames { allAgents(orderBy: NAME_ASC) { nodes { id name } } }\n": typeof types.AgentNamesDocument,
    "\n  query RunDetail($id: UUID!) {\n    runById(id: $id) {\n      ...RunFields\n      ...ParentFinished\n      agentVersionByAgentIdAndAgentVersion { version config }\n      runByContinuedBy { id status }\n    }\n  }\n": typeof types.RunDetailDocument,
    "\n  fragment RunStepFields on RunStep {\n    seq kind name status attempt startedAt finishedAt durationMs error usage\n  }\n": typeof types.RunStepFieldsFragmentDoc,
    "\n  query RunSteps($id: UUID!) {\n    allRunSteps(condition: { runId: $id }, orderBy: SEQ_ASC) {\n      nodes { ...RunStepFields }\n    }\n  }\n": typeof types.RunStepsDocument,
    "\n  subscription RunUpdated($id: UUID!) {\n    runUpdated(runId: $id) { runId run { ...RunFields } }\n  }\n": typeof types.RunUpdatedDocument,
    "\n  subscription RunAnswers { runUpdated { run { parentRunId } } }\n": typeof types.RunAnswersDocument,
    "\n  subscription RunEvents($runId: UUID!, $after: Int) {\n    runEvents(runId: $runId, after: $after) { seq type event }\n  }\n": typeof types.RunEventsDocument,
    "\n  mutation StartRun($agent: String!, $input: JSON!, $threadId: UUID) {\n    startRun(agent: $agent, input: $input, threadId: $threadId) { runId }\n  }\n": typeof types.StartRunDocument,
    "\n  mutation CancelRun($runId: UUID!) {\n    cancelRun(runId: $runId) { cancelled run { id status } }\n  }\n": typeof types.CancelRunDocument,
    "\n  mutation ResumeRun($runId: UUID!, $resume: JSON!) {\n    resumeRun(runId: $runId, resume: $resume) { runId }\n  }\n": typeof types.ResumeRunDocument,
    "\n  query Agents {\n    allAgents(orderBy: NAME_ASC) {\n      nodes {\n        id name config version createdAt updatedAt\n        runsByAgentId { totalCount }\n      }\n    }\n  }\n": typeof types.AgentsDocument,
    "\n  query Agent($id: UUID!) {\n    agentById(id: $id) {\n      id name config version createdAt updatedAt\n      agentVersionsByAgentId(orderBy: VERSION_DESC) { nodes { agentId version config createdAt } }\n      runsByAgentId(orderBy: CREATED_AT_DESC, first: 8) { totalCount nodes { ...RunRowFields } }\n    }\n  }\n": typeof types.AgentDocument,
    "\n  mutation CreateAgent($name: String!, $config: JSON!) {\n    createAgent(input: { agent: { name: $name, config: $config } }) { agent { id } }\n  }\n": typeof types.CreateAgentDocument,
    "\n  mutation UpdateAgent($id: UUID!, $config: JSON!) {\n    updateAgentById(input: { id: $id, agentPatch: { config: $config } }) { agent { id version } }\n  }\n": typeof types.UpdateAgentDocument,
    "\n  query Thread($id: UUID!) {\n    threadById(id: $id) {\n      id createdAt\n      agentByAgentId { id name }\n      runsByThreadId(orderBy: CREATED_AT_ASC) { nodes { ...RunFields ...ParentFinished } }\n    }\n  }\n": typeof types.ThreadDocument,
    "\n  subscription ThreadRunsUpdated { runUpdated { runId run { threadId status } } }\n": typeof types.ThreadRunsUpdatedDocument,
    "\n  query Approvals {\n    runsAwaitingAnswerCount\n    runsAwaitingAnswer(first: 200) {\n      ...RunRowFields\n      input\n      finished: runEventsByRunId(condition: { type: \"RUN_FINISHED\" }, orderBy: SEQ_DESC, first: 1) { nodes { event } }\n    }\n  }\n": typeof types.ApprovalsDocument,
    "\n  subscription RunStatusUpdated { runUpdated { runId run { status parentRunId } } }\n": typeof types.RunStatusUpdatedDocument,
    "\n  query PendingApprovals { runsAwaitingAnswerCount }\n": typeof types.PendingApprovalsDocument,
    "\n  query Dashboard($window: Int!, $bucket: Int!, $days: Int!) {\n    runStatusCounts(windowSeconds: $window) { status count }\n    runThroughput(windowSeconds: $window, bucketSeconds: $bucket) {\n      start started succeeded failed cancelled interrupted steps stepP50Ms stepP95Ms\n    }\n    agentDailyUsage(days: $days) { day agentId agentName runs inputTokens outputTokens costUsd }\n    liveWorkers { poolId hostname pid concurrency startedAt runningJobs }\n    queueDepth { ready scheduled running oldestReadyAgeMs }\n    runsAwaitingAnswerCount\n    failures: allRuns(condition: { status: \"failed\" }, orderBy: CREATED_AT_DESC, first: 8) {\n      nodes { id error finishedAt createdAt agentByAgentId { id name } }\n    }\n  }\n": typeof types.DashboardDocument,
    "\n  subscription DashboardUpdated { runUpdated { runId } }\n": typeof types.DashboardUpdatedDocument,
};
const documents: Documents = {
    "\n  fragment RunRowFields on Run {\n    id status agentId threadId parentRunId usage error createdAt startedAt finishedAt updatedAt\n    agentByAgentId { id name }\n    runStepsByRunId { totalCount }\n  }\n": types.RunRowFieldsFragmentDoc,
    "\n  fragment RunFields on Run {\n    id status agentId agentVersion threadId parentRunId continuedBy input output error usage\n    createdAt startedAt finishedAt updatedAt\n    agentByAgentId { id name }\n  }\n": types.RunFieldsFragmentDoc,
    "\n  fragment ParentFinished on Run {\n    parent: runByParentRunId {\n      finished: runEventsByRunId(condition: { type: \"RUN_FINISHED\" }, orderBy: SEQ_DESC, first: 1) { nodes { event } }\n    }\n  }\n": types.ParentFinishedFragmentDoc,
    "\n  query Runs($condition: RunCondition, $first: Int!, $after: Cursor) {\n    allRuns(condition: $condition, orderBy: CREATED_AT_DESC, first: $first, after: $after) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { ...RunRowFields }\n    }\n  }\n": types.RunsDocument,
    "\n  subscription RunsUpdated {\n    runUpdated { runId run { ...RunRowFields } }\n  }\n": types.RunsUpdatedDocument,
    "\n  query AgentNames { allAgents(orderBy: NAME_ASC) { nodes { id name } } }\n": types.AgentNamesDocument,
    "\n  query RunDetail($id: UUID!) {\n    runById(id: $id) {\n      ...RunFields\n      ...ParentFinished\n      agentVersionByAgentIdAndAgentVersion { version config }\n      runByContinuedBy { id status }\n    }\n  }\n": types.RunDetailDocument,
    "\n  fragment RunStepFields on RunStep {\n    seq kind name status attempt startedAt finishedAt durationMs error usage\n  }\n": types.RunStepFieldsFragmentDoc,
    "\n  query RunSteps($id: UUID!) {\n    allRunSteps(condition: { runId: $id }, orderBy: SEQ_ASC) {\n      nodes { ...RunStepFields }\n    }\n  }\n": types.RunStepsDocument,
    "\n  subscription RunUpdated($id: UUID!) {\n    runUpdated(runId: $id) { runId run { ...RunFields } }\n  }\n": types.RunUpdatedDocument,
    "\n  subscription RunAnswers { runUpdated { run { parentRunId } } }\n": types.RunAnswersDocument,
    "\n  subscription RunEvents($runId: UUID!, $after: Int) {\n    runEvents(runId: $runId, after: $after) { seq type event }\n  }\n": types.RunEventsDocument,
    "\n  mutation StartRun($agent: String!, $input: JSON!, $threadId: UUID) {\n    startRun(agent: $agent, input: $input, threadId: $threadId) { runId }\n  }\n": types.StartRunDocument,
    "\n  mutation CancelRun($runId: UUID!) {\n    cancelRun(runId: $runId) { cancelled run { id status } }\n  }\n": types.CancelRunDocument,
    "\n  mutation ResumeRun($runId: UUID!, $resume: JSON!) {\n    resumeRun(runId: $runId, resume: $resume) { runId }\n  }\n": types.ResumeRunDocument,
    "\n  query Agents {\n    allAgents(orderBy: NAME_ASC) {\n      nodes {\n        id name config version createdAt updatedAt\n        runsByAgentId { totalCount }\n      }\n    }\n  }\n": types.AgentsDocument,
    "\n  query Agent($id: UUID!) {\n    agentById(id: $id) {\n      id name config version createdAt updatedAt\n      agentVersionsByAgentId(orderBy: VERSION_DESC) { nodes { agentId version config createdAt } }\n      runsByAgentId(orderBy: CREATED_AT_DESC, first: 8) { totalCount nodes { ...RunRowFields } }\n    }\n  }\n": types.AgentDocument,
    "\n  mutation CreateAgent($name: String!, $config: JSON!) {\n    createAgent(input: { agent: { name: $name, config: $config } }) { agent { id } }\n  }\n": types.CreateAgentDocument,
    "\n  mutation UpdateAgent($id: UUID!, $config: JSON!) {\n    updateAgentById(input: { id: $id, agentPatch: { config: $config } }) { agent { id version } }\n  }\n": types.UpdateAgentDocument,
    "\n  query Thread($id: UUID!) {\n    threadById(id: $id) {\n      id createdAt\n      agentByAgentId { id name }\n      runsByThreadId(orderBy: CREATED_AT_ASC) { nodes { ...RunFields ...ParentFinished } }\n    }\n  }\n": types.ThreadDocument,
    "\n  subscription ThreadRunsUpdated { runUpdated { runId run { threadId status } } }\n": types.ThreadRunsUpdatedDocument,
    "\n  query Approvals {\n    runsAwaitingAnswerCount\n    runsAwaitingAnswer(first: 200) {\n      ...RunRowFields\n      input\n      finished: runEventsByRunId(condition: { type: \"RUN_FINISHED\" }, orderBy: SEQ_DESC, first: 1) { nodes { event } }\n    }\n  }\n": types.ApprovalsDocument,
    "\n  subscription RunStatusUpdated { runUpdated { runId run { status parentRunId } } }\n": types.RunStatusUpdatedDocument,
    "\n  query PendingApprovals { runsAwaitingAnswerCount }\n": types.PendingApprovalsDocument,
    "\n  query Dashboard($window: Int!, $bucket: Int!, $days: Int!) {\n    runStatusCounts(windowSeconds: $window) { status count }\n    runThroughput(windowSeconds: $window, bucketSeconds: $bucket) {\n      start started succeeded failed cancelled interrupted steps stepP50Ms stepP95Ms\n    }\n    agentDailyUsage(days: $days) { day agentId agentName runs inputTokens outputTokens costUsd }\n    liveWorkers { poolId hostname pid concurrency startedAt runningJobs }\n    queueDepth { ready scheduled running oldestReadyAgeMs }\n    runsAwaitingAnswerCount\n    failures: allRuns(condition: { status: \"failed\" }, orderBy: CREATED_AT_DESC, first: 8) {\n      nodes { id error finishedAt createdAt agentByAgentId { id name } }\n    }\n  }\n": types.DashboardDocument,
    "\n  subscription DashboardUpdated { runUpdated { runId } }\n": types.DashboardUpdatedDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment RunRowFields on Run {\n    id status agentId threadId parentRunId usage error createdAt startedAt finishedAt updatedAt\n    agentByAgentId { id name }\n    runStepsByRunId { totalCount }\n  }\n"): typeof import('./graphql').RunRowFieldsFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment RunFields on Run {\n    id status agentId agentVersion threadId parentRunId continuedBy input output error usage\n    createdAt startedAt finishedAt updatedAt\n    agentByAgentId { id name }\n  }\n"): typeof import('./graphql').RunFieldsFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment ParentFinished on Run {\n    parent: runByParentRunId {\n      finished: runEventsByRunId(condition: { type: \"RUN_FINISHED\" }, orderBy: SEQ_DESC, first: 1) { nodes { event } }\n    }\n  }\n"): typeof import('./graphql').ParentFinishedFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Runs($condition: RunCondition, $first: Int!, $after: Cursor) {\n    allRuns(condition: $condition, orderBy: CREATED_AT_DESC, first: $first, after: $after) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { ...RunRowFields }\n    }\n  }\n"): typeof import('./graphql').RunsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription RunsUpdated {\n    runUpdated { runId run { ...RunRowFields } }\n  }\n"): typeof import('./graphql').RunsUpdatedDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AgentNames { allAgents(orderBy: NAME_ASC) { nodes { id name } } }\n"): typeof import('./graphql').AgentNamesDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query RunDetail($id: UUID!) {\n    runById(id: $id) {\n      ...RunFields\n      ...ParentFinished\n      agentVersionByAgentIdAndAgentVersion { version config }\n      runByContinuedBy { id status }\n    }\n  }\n"): typeof import('./graphql').RunDetailDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment RunStepFields on RunStep {\n    seq kind name status attempt startedAt finishedAt durationMs error usage\n  }\n"): typeof import('./graphql').RunStepFieldsFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query RunSteps($id: UUID!) {\n    allRunSteps(condition: { runId: $id }, orderBy: SEQ_ASC) {\n      nodes { ...RunStepFields }\n    }\n  }\n"): typeof import('./graphql').RunStepsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription RunUpdated($id: UUID!) {\n    runUpdated(runId: $id) { runId run { ...RunFields } }\n  }\n"): typeof import('./graphql').RunUpdatedDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription RunAnswers { runUpdated { run { parentRunId } } }\n"): typeof import('./graphql').RunAnswersDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription RunEvents($runId: UUID!, $after: Int) {\n    runEvents(runId: $runId, after: $after) { seq type event }\n  }\n"): typeof import('./graphql').RunEventsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation StartRun($agent: String!, $input: JSON!, $threadId: UUID) {\n    startRun(agent: $agent, input: $input, threadId: $threadId) { runId }\n  }\n"): typeof import('./graphql').StartRunDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CancelRun($runId: UUID!) {\n    cancelRun(runId: $runId) { cancelled run { id status } }\n  }\n"): typeof import('./graphql').CancelRunDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ResumeRun($runId: UUID!, $resume: JSON!) {\n    resumeRun(runId: $runId, resume: $resume) { runId }\n  }\n"): typeof import('./graphql').ResumeRunDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Agents {\n    allAgents(orderBy: NAME_ASC) {\n      nodes {\n        id name config version createdAt updatedAt\n        runsByAgentId { totalCount }\n      }\n    }\n  }\n"): typeof import('./graphql').AgentsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Agent($id: UUID!) {\n    agentById(id: $id) {\n      id name config version createdAt updatedAt\n      agentVersionsByAgentId(orderBy: VERSION_DESC) { nodes { agentId version config createdAt } }\n      runsByAgentId(orderBy: CREATED_AT_DESC, first: 8) { totalCount nodes { ...RunRowFields } }\n    }\n  }\n"): typeof import('./graphql').AgentDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateAgent($name: String!, $config: JSON!) {\n    createAgent(input: { agent: { name: $name, config: $config } }) { agent { id } }\n  }\n"): typeof import('./graphql').CreateAgentDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UpdateAgent($id: UUID!, $config: JSON!) {\n    updateAgentById(input: { id: $id, agentPatch: { config: $config } }) { agent { id version } }\n  }\n"): typeof import('./graphql').UpdateAgentDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Thread($id: UUID!) {\n    threadById(id: $id) {\n      id createdAt\n      agentByAgentId { id name }\n      runsByThreadId(orderBy: CREATED_AT_ASC) { nodes { ...RunFields ...ParentFinished } }\n    }\n  }\n"): typeof import('./graphql').ThreadDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription ThreadRunsUpdated { runUpdated { runId run { threadId status } } }\n"): typeof import('./graphql').ThreadRunsUpdatedDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Approvals {\n    runsAwaitingAnswerCount\n    runsAwaitingAnswer(first: 200) {\n      ...RunRowFields\n      input\n      finished: runEventsByRunId(condition: { type: \"RUN_FINISHED\" }, orderBy: SEQ_DESC, first: 1) { nodes { event } }\n    }\n  }\n"): typeof import('./graphql').ApprovalsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription RunStatusUpdated { runUpdated { runId run { status parentRunId } } }\n"): typeof import('./graphql').RunStatusUpdatedDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query PendingApprovals { runsAwaitingAnswerCount }\n"): typeof import('./graphql').PendingApprovalsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Dashboard($window: Int!, $bucket: Int!, $days: Int!) {\n    runStatusCounts(windowSeconds: $window) { status count }\n    runThroughput(windowSeconds: $window, bucketSeconds: $bucket) {\n      start started succeeded failed cancelled interrupted steps stepP50Ms stepP95Ms\n    }\n    agentDailyUsage(days: $days) { day agentId agentName runs inputTokens outputTokens costUsd }\n    liveWorkers { poolId hostname pid concurrency startedAt runningJobs }\n    queueDepth { ready scheduled running oldestReadyAgeMs }\n    runsAwaitingAnswerCount\n    failures: allRuns(condition: { status: \"failed\" }, orderBy: CREATED_AT_DESC, first: 8) {\n      nodes { id error finishedAt createdAt agentByAgentId { id name } }\n    }\n  }\n"): typeof import('./graphql').DashboardDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription DashboardUpdated { runUpdated { runId } }\n"): typeof import('./graphql').DashboardUpdatedDocument;


export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}
