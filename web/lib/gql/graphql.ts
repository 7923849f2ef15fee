/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
/** A condition to be used against `Batch` object types. All fields are tested for equality and combined with a logical ‘and.’ */
export type BatchCondition = {
  /** Checks for equality with the object’s `createdAt` field. */
  createdAt?: string | null | undefined;
  /** Checks for equality with the object’s `id` field. */
  id?: string | null | undefined;
  /** Checks for equality with the object’s `status` field. */
  status?: string | null | undefined;
  /** Checks for equality with the object’s `workspaceId` field. */
  workspaceId?: string | null | undefined;
};

/**
 * A condition to be used against `BatchItem` object types. All fields are tested
 * for equality and combined with a logical ‘and.’
 */
export type BatchItemCondition = {
  /** Checks for equality with the object’s `batchId` field. */
  batchId?: string | null | undefined;
  /** Checks for equality with the object’s `customId` field. */
  customId?: string | null | undefined;
  /** Checks for equality with the object’s `id` field. */
  id?: string | null | undefined;
  /** Checks for equality with the object’s `ordinal` field. */
  ordinal?: string | null | undefined;
  /** Checks for equality with the object’s `status` field. */
  status?: string | null | undefined;
};

export type ConnectMcpServerInput = {
  /** A client registered with the authorization server beforehand (default: registered dynamically where the server offers it). */
  clientId?: string | null | undefined;
  /** The name of the workspace secret holding clientId's client secret. */
  clientSecretName?: string | null | undefined;
  /** The scopes to ask for (default: the server's own choice). */
  scopes?: Array<string> | null | undefined;
  /** The MCP server's http:// or https:// URL, as the agent config names it. */
  url: string;
};

export type DisconnectMcpServerInput = {
  /** The MCP server's URL. */
  url: string;
};

/**
 * A condition to be used against `NotificationDelivery` object types. All fields
 * are tested for equality and combined with a logical ‘and.’
 */
export type NotificationDeliveryCondition = {
  /** Checks for equality with the object’s `createdAt` field. */
  createdAt?: string | null | undefined;
  /** Checks for equality with the object’s `endpointId` field. */
  endpointId?: string | null | undefined;
  /** Checks for equality with the object’s `event` field. */
  event?: string | null | undefined;
  /** Checks for equality with the object’s `id` field. */
  id?: string | null | undefined;
  /** Checks for equality with the object’s `status` field. */
  status?: string | null | undefined;
  /** Checks for equality with the object’s `subjectId` field. */
  subjectId?: string | null | undefined;
};

/** A condition to be used against `Run` object types. All fields are tested for equality and combined with a logical ‘and.’ */
export type RunCondition = {
  /** Checks for equality with the object’s `agentId` field. */
  agentId?: string | null | undefined;
  /** Runs pinned to this version of their agent (combine with agentId). */
  agentVersion?: number | null | undefined;
  /** Runs created strictly after this instant. */
  createdAfter?: string | null | undefined;
  /** Checks for equality with the object’s `createdAt` field. */
  createdAt?: string | null | undefined;
  /** Runs created strictly before this instant. */
  createdBefore?: string | null | undefined;
  /** Runs whose error has this code (error.code, e.g. provider_error, cancelled, max_steps). */
  errorCode?: string | null | undefined;
  /** Runs that finished at or after this instant. */
  finishedAfter?: string | null | undefined;
  /** Runs that finished strictly before this instant. */
  finishedBefore?: string | null | undefined;
  /** Checks for equality with the object’s `id` field. */
  id?: string | null | undefined;
  /** Runs that continue this run (resume runs). */
  parentRunId?: string | null | undefined;
  /** A whole uuid: the run with that id, the runs of that thread and the runs continuing that run (primary key, runs_thread_created_idx, runs_parent_idx). Any other text (3 to 200 characters): runs whose input contains it, case-insensitively, among the runs created in the last 30 days (a trigram index serves it where pg_trgm is installed, else a scan of that window by runs_created_idx). */
  search?: string | null | undefined;
  /** Checks for equality with the object’s `status` field. */
  status?: string | null | undefined;
  /** Checks for equality with the object’s `threadId` field. */
  threadId?: string | null | undefined;
};

export type BatchProgressFieldsFragment = { total: string | null, queued: string | null, running: string | null, succeeded: string | null, failed: string | null, cancelled: string | null, inputTokens: string | null, outputTokens: string | null, costUsd: string | null, itemsPerMinute: number | null, etaSeconds: number | null };

export type BatchRowFieldsFragment = { id: string, name: string | null, status: string, agentId: string, agentVersion: number, maxParallel: number, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, agentByAgentId: { name: string } | null, progress: { total: string | null, queued: string | null, running: string | null, succeeded: string | null, failed: string | null, cancelled: string | null, inputTokens: string | null, outputTokens: string | null, costUsd: string | null, itemsPerMinute: number | null, etaSeconds: number | null } | null };

export type BatchFieldsFragment = { priority: number, onItemError: string, stopAfterFailures: number | null, stopAfterRatio: number | null, deadline: string | null, error: unknown, id: string, name: string | null, status: string, agentId: string, agentVersion: number, maxParallel: number, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, throughput: Array<{ minute: string | null, finished: string | null } | null> | null, agentByAgentId: { name: string } | null, progress: { total: string | null, queued: string | null, running: string | null, succeeded: string | null, failed: string | null, cancelled: string | null, inputTokens: string | null, outputTokens: string | null, costUsd: string | null, itemsPerMinute: number | null, etaSeconds: number | null } | null };

export type BatchesQueryVariables = Exact<{
  condition?: BatchCondition | null | undefined;
  first: number;
}>;


export type BatchesQuery = { batches: { totalCount: number, pageInfo: { hasNextPage: boolean }, nodes: Array<{ id: string, name: string | null, status: string, agentId: string, agentVersion: number, maxParallel: number, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, agentByAgentId: { name: string } | null, progress: { total: string | null, queued: string | null, running: string | null, succeeded: string | null, failed: string | null, cancelled: string | null, inputTokens: string | null, outputTokens: string | null, costUsd: string | null, itemsPerMinute: number | null, etaSeconds: number | null } | null } | null> } | null };

export type BatchQueryVariables = Exact<{
  id: string;
}>;


export type BatchQuery = { batch: { priority: number, onItemError: string, stopAfterFailures: number | null, stopAfterRatio: number | null, deadline: string | null, error: unknown, id: string, name: string | null, status: string, agentId: string, agentVersion: number, maxParallel: number, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, throughput: Array<{ minute: string | null, finished: string | null } | null> | null, agentByAgentId: { name: string } | null, progress: { total: string | null, queued: string | null, running: string | null, succeeded: string | null, failed: string | null, cancelled: string | null, inputTokens: string | null, outputTokens: string | null, costUsd: string | null, itemsPerMinute: number | null, etaSeconds: number | null } | null } | null };

export type BatchProgressSubscriptionVariables = Exact<{
  batchId: string;
}>;


export type BatchProgressSubscription = { batchProgress: { batchId: string, batch: { priority: number, onItemError: string, stopAfterFailures: number | null, stopAfterRatio: number | null, deadline: string | null, error: unknown, id: string, name: string | null, status: string, agentId: string, agentVersion: number, maxParallel: number, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, throughput: Array<{ minute: string | null, finished: string | null } | null> | null, agentByAgentId: { name: string } | null, progress: { total: string | null, queued: string | null, running: string | null, succeeded: string | null, failed: string | null, cancelled: string | null, inputTokens: string | null, outputTokens: string | null, costUsd: string | null, itemsPerMinute: number | null, etaSeconds: number | null } | null } | null } | null };

export type BatchItemsQueryVariables = Exact<{
  id: string;
  condition?: BatchItemCondition | null | undefined;
  first: number;
  offset: number;
}>;


export type BatchItemsQuery = { batch: { id: string, items: { totalCount: number, nodes: Array<{ id: string, customId: string, status: string, attempts: number, output: unknown, error: unknown, finishedAt: string | null, runId: string | null } | null> } } | null };

export type PauseBatchMutationVariables = Exact<{
  batchId: string;
}>;


export type PauseBatchMutation = { pauseBatch: { batch: { priority: number, onItemError: string, stopAfterFailures: number | null, stopAfterRatio: number | null, deadline: string | null, error: unknown, id: string, name: string | null, status: string, agentId: string, agentVersion: number, maxParallel: number, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, throughput: Array<{ minute: string | null, finished: string | null } | null> | null, agentByAgentId: { name: string } | null, progress: { total: string | null, queued: string | null, running: string | null, succeeded: string | null, failed: string | null, cancelled: string | null, inputTokens: string | null, outputTokens: string | null, costUsd: string | null, itemsPerMinute: number | null, etaSeconds: number | null } | null } | null } | null };

export type ResumeBatchMutationVariables = Exact<{
  batchId: string;
}>;


export type ResumeBatchMutation = { resumeBatch: { batch: { priority: number, onItemError: string, stopAfterFailures: number | null, stopAfterRatio: number | null, deadline: string | null, error: unknown, id: string, name: string | null, status: string, agentId: string, agentVersion: number, maxParallel: number, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, throughput: Array<{ minute: string | null, finished: string | null } | null> | null, agentByAgentId: { name: string } | null, progress: { total: string | null, queued: string | null, running: string | null, succeeded: string | null, failed: string | null, cancelled: string | null, inputTokens: string | null, outputTokens: string | null, costUsd: string | null, itemsPerMinute: number | null, etaSeconds: number | null } | null } | null } | null };

export type StartBatchMutationVariables = Exact<{
  batchId: string;
}>;


export type StartBatchMutation = { startBatch: { batch: { priority: number, onItemError: string, stopAfterFailures: number | null, stopAfterRatio: number | null, deadline: string | null, error: unknown, id: string, name: string | null, status: string, agentId: string, agentVersion: number, maxParallel: number, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, throughput: Array<{ minute: string | null, finished: string | null } | null> | null, agentByAgentId: { name: string } | null, progress: { total: string | null, queued: string | null, running: string | null, succeeded: string | null, failed: string | null, cancelled: string | null, inputTokens: string | null, outputTokens: string | null, costUsd: string | null, itemsPerMinute: number | null, etaSeconds: number | null } | null } | null } | null };

export type CancelBatchMutationVariables = Exact<{
  batchId: string;
}>;


export type CancelBatchMutation = { cancelBatch: { batch: { priority: number, onItemError: string, stopAfterFailures: number | null, stopAfterRatio: number | null, deadline: string | null, error: unknown, id: string, name: string | null, status: string, agentId: string, agentVersion: number, maxParallel: number, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, throughput: Array<{ minute: string | null, finished: string | null } | null> | null, agentByAgentId: { name: string } | null, progress: { total: string | null, queued: string | null, running: string | null, succeeded: string | null, failed: string | null, cancelled: string | null, inputTokens: string | null, outputTokens: string | null, costUsd: string | null, itemsPerMinute: number | null, etaSeconds: number | null } | null } | null } | null };

export type SetBatchParallelMutationVariables = Exact<{
  batchId: string;
  maxParallel: number;
}>;


export type SetBatchParallelMutation = { setBatchParallel: { batch: { priority: number, onItemError: string, stopAfterFailures: number | null, stopAfterRatio: number | null, deadline: string | null, error: unknown, id: string, name: string | null, status: string, agentId: string, agentVersion: number, maxParallel: number, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, throughput: Array<{ minute: string | null, finished: string | null } | null> | null, agentByAgentId: { name: string } | null, progress: { total: string | null, queued: string | null, running: string | null, succeeded: string | null, failed: string | null, cancelled: string | null, inputTokens: string | null, outputTokens: string | null, costUsd: string | null, itemsPerMinute: number | null, etaSeconds: number | null } | null } | null } | null };

export type RetryFailedItemsMutationVariables = Exact<{
  batchId: string;
  includeCancelled?: boolean | null | undefined;
}>;


export type RetryFailedItemsMutation = { retryFailedItems: { retried: number, batch: { priority: number, onItemError: string, stopAfterFailures: number | null, stopAfterRatio: number | null, deadline: string | null, error: unknown, id: string, name: string | null, status: string, agentId: string, agentVersion: number, maxParallel: number, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, throughput: Array<{ minute: string | null, finished: string | null } | null> | null, agentByAgentId: { name: string } | null, progress: { total: string | null, queued: string | null, running: string | null, succeeded: string | null, failed: string | null, cancelled: string | null, inputTokens: string | null, outputTokens: string | null, costUsd: string | null, itemsPerMinute: number | null, etaSeconds: number | null } | null } | null } | null };

export type RunBatchQueryVariables = Exact<{
  id: string;
}>;


export type RunBatchQuery = { runById: { id: string, batchId: string | null, batchItemByBatchItemId: { id: string, customId: string } | null, batchByBatchId: { id: string, name: string | null } | null } | null };

export type DashboardObservabilityQueryVariables = Exact<{
  window: number;
  bucket: number;
}>;


export type DashboardObservabilityQuery = { stepLatencyByKindList: Array<{ kind: string | null, steps: number | null, failed: number | null, p50Ms: number | null, p95Ms: number | null, p99Ms: number | null, maxMs: number | null } | null> | null, resumeLatencyList: Array<{ bucketStart: string | null, attempts: number | null, lost: number | null, resumed: number | null, p50Ms: number | null, p95Ms: number | null, maxMs: number | null } | null> | null, providerStepStatsList: Array<{ provider: string | null, steps: number | null, failed: number | null, attempts: number | null, retried: number | null, lost: number | null, errorRate: number | null, attemptsPerStep: number | null, p95Ms: number | null } | null> | null, workspaceLimits: { workspaceId: string, maxQueuedRuns: number | null, maxRunningRuns: number | null, maxTokensPerDay: number | null, maxCostUsdPerDay: number | null, queuedRuns: number, activeRuns: number, tokensToday: number | null, costUsdToday: number | null } | null };

export type McpServersQueryVariables = Exact<{ [key: string]: never; }>;


export type McpServersQuery = { allMcpServers: { totalCount: number, nodes: Array<{ nodeId: string, agentId: string, agentName: string | null, server: string, endpoint: string | null, status: string | null, tools: unknown, toolCount: number | null, listedAt: string | null, lastError: string | null, lastErrorAt: string | null, pinnedRuns: number | null } | null> } | null };

export type RunMcpQueryVariables = Exact<{
  id: string;
  parentId: string;
}>;


export type RunMcpQuery = { allRunMcpTools: { nodes: Array<{ server: string, pinnedAt: string, listId: string, mcpToolListByListId: { id: string, endpoint: string, fetchedAt: string, tools: unknown } | null } | null> } | null, own: { nodes: Array<{ runId: string, toolCallId: string, toolName: string, dispatches: number, state: string, lastDispatchedAt: string, authorizedBy: string | null, lastRunId: string } | null> } | null, parent: { nodes: Array<{ runId: string, toolCallId: string, toolName: string, dispatches: number, state: string, lastDispatchedAt: string, authorizedBy: string | null, lastRunId: string } | null> } | null };

export type McpOauthQueryVariables = Exact<{ [key: string]: never; }>;


export type McpOauthQuery = { allAgents: { nodes: Array<{ id: string, name: string, config: unknown } | null> } | null, allMcpOauthConnections: { nodes: Array<{ nodeId: string, serverUrl: string, status: string, scopes: Array<string | null>, clientId: string | null, expiresAt: string | null, connectedAt: string | null, connectedBy: string | null, lastRefreshedAt: string | null, lastError: string | null, updatedAt: string } | null> } | null };

export type ConnectMcpServerMutationVariables = Exact<{
  input: ConnectMcpServerInput;
}>;


export type ConnectMcpServerMutation = { connectMcpServer: { url: string, authorizationUrl: string, expiresAt: string } | null };

export type DisconnectMcpServerMutationVariables = Exact<{
  input: DisconnectMcpServerInput;
}>;


export type DisconnectMcpServerMutation = { disconnectMcpServer: { disconnected: boolean, url: string } | null };

export type NotificationDeliveryRowFieldsFragment = { id: string, event: string, endpointId: string, subjectId: string, status: string, attempts: number, lastStatusCode: number | null, lastError: string | null, createdAt: string, deliveredAt: string | null, nextAttemptAt: string | null, giveUpAt: string, notificationEndpointByEndpointId: { name: string } | null };

export type NotificationsQueryVariables = Exact<{
  endpoints: number;
  deliveries: number;
  condition?: NotificationDeliveryCondition | null | undefined;
}>;


export type NotificationsQuery = { notificationEndpoints: { totalCount: number, nodes: Array<{ id: string, name: string, url: string, events: Array<string | null>, agentId: string | null, secretName: string, retryInitialSeconds: number, enabled: boolean, agentByAgentId: { name: string } | null } | null> } | null, notificationDeliveries: { totalCount: number, pageInfo: { hasNextPage: boolean }, nodes: Array<{ id: string, event: string, endpointId: string, subjectId: string, status: string, attempts: number, lastStatusCode: number | null, lastError: string | null, createdAt: string, deliveredAt: string | null, nextAttemptAt: string | null, giveUpAt: string, notificationEndpointByEndpointId: { name: string } | null } | null> } | null };

export type NotificationDeliveryQueryVariables = Exact<{
  id: string;
}>;


export type NotificationDeliveryQuery = { notificationDelivery: { payload: unknown, id: string, event: string, endpointId: string, subjectId: string, status: string, attempts: number, lastStatusCode: number | null, lastError: string | null, createdAt: string, deliveredAt: string | null, nextAttemptAt: string | null, giveUpAt: string, attemptLog: { nodes: Array<{ id: string, attempt: number, startedAt: string, finishedAt: string | null, outcome: string | null, statusCode: number | null, error: string | null } | null> }, notificationEndpointByEndpointId: { name: string } | null } | null };

export type ResendNotificationMutationVariables = Exact<{
  id: string;
}>;


export type ResendNotificationMutation = { resendNotification: { notificationDelivery: { id: string, event: string, endpointId: string, subjectId: string, status: string, attempts: number, lastStatusCode: number | null, lastError: string | null, createdAt: string, deliveredAt: string | null, nextAttemptAt: string | null, giveUpAt: string, notificationEndpointByEndpointId: { name: string } | null } | null } | null };

export type ModelPricesQueryVariables = Exact<{ [key: string]: never; }>;


export type ModelPricesQuery = { allModelPrices: { totalCount: number, nodes: Array<{ id: string, provider: string, model: string, inputPerMillion: number, outputPerMillion: number, cacheReadPerMillion: number | null, cacheWritePerMillion: number | null, updatedAt: string } | null> } | null };

export type ModelCatalogQueryVariables = Exact<{ [key: string]: never; }>;


export type ModelCatalogQuery = { modelCatalog: Array<{ provider: string, modelPrefix: string, contextWindow: number | null, maxOutputTokens: number | null, inputPerMillion: number | null, outputPerMillion: number | null, cacheReadPerMillion: number | null, cacheWritePerMillion: number | null, thinking: boolean | null, reasoning: boolean | null, caching: boolean | null, structuredOutput: boolean | null, adaptiveThinking: boolean | null, thinkingOff: boolean | null, forcedToolChoice: boolean | null, outputFormat: boolean | null, temperature: boolean | null, effortLevels: Array<string> | null, fromOperatorFile: boolean }> };

export type SetModelPriceMutationVariables = Exact<{
  provider: string;
  model: string;
  inputPerMillion: number;
  outputPerMillion: number;
  cacheReadPerMillion?: number | null | undefined;
  cacheWritePerMillion?: number | null | undefined;
}>;


export type SetModelPriceMutation = { setModelPrice: { provider: string, model: string, updatedAt: string } | null };

export type DeleteModelPriceMutationVariables = Exact<{
  provider: string;
  model: string;
}>;


export type DeleteModelPriceMutation = { deleteModelPrice: { provider: string, model: string, deleted: boolean } | null };

export type RunQueueQueryVariables = Exact<{
  id: string;
}>;


export type RunQueueQuery = { runById: { id: string, priority: number, admittedAt: string | null } | null, explainQueue: { admitted: boolean, heldBy: string | null, position: number | null, message: string } | null };

export type RunTreeQueryVariables = Exact<{
  id: string;
}>;


export type RunTreeQuery = { runById: { id: string, callerToolCallId: string | null, treeUsage: unknown, caller: { id: string, status: string, agentByAgentId: { name: string } | null } | null, root: { id: string, status: string, agentByAgentId: { name: string } | null } | null, childrenList: Array<{ id: string, status: string, parentRunId: string | null, continuedBy: string | null, callerToolCallId: string | null, usage: unknown, agentByAgentId: { name: string } | null } | null> | null, awaitingDescendantsList: Array<{ id: string, agentByAgentId: { name: string } | null } | null> | null } | null };

export type ScheduleRowFieldsFragment = { id: string, name: string, agentId: string, cron: string | null, intervalSeconds: number | null, timezone: string, nextFireAt: string | null, lastFireAt: string | null, paused: boolean, pausedNote: string | null, specError: string | null, consecutiveFailures: number, pauseAfterFailures: number | null, missedTotal: string, updatedAt: string, agentByAgentId: { name: string } | null };

export type ScheduleFieldsFragment = { input: unknown, overlap: string, catchUp: string, catchUpMax: number, misfireGraceSeconds: number, thread: string, threadId: string | null, createdAt: string, nextFireTimes: Array<string>, id: string, name: string, agentId: string, cron: string | null, intervalSeconds: number | null, timezone: string, nextFireAt: string | null, lastFireAt: string | null, paused: boolean, pausedNote: string | null, specError: string | null, consecutiveFailures: number, pauseAfterFailures: number | null, missedTotal: string, updatedAt: string, agentByAgentId: { name: string } | null };

export type SchedulesQueryVariables = Exact<{
  first: number;
}>;


export type SchedulesQuery = { schedules: { totalCount: number, pageInfo: { hasNextPage: boolean }, nodes: Array<{ id: string, name: string, agentId: string, cron: string | null, intervalSeconds: number | null, timezone: string, nextFireAt: string | null, lastFireAt: string | null, paused: boolean, pausedNote: string | null, specError: string | null, consecutiveFailures: number, pauseAfterFailures: number | null, missedTotal: string, updatedAt: string, agentByAgentId: { name: string } | null } | null> } | null };

export type ScheduleQueryVariables = Exact<{
  id: string;
  fires: number;
}>;


export type ScheduleQuery = { schedule: { input: unknown, overlap: string, catchUp: string, catchUpMax: number, misfireGraceSeconds: number, thread: string, threadId: string | null, createdAt: string, nextFireTimes: Array<string>, id: string, name: string, agentId: string, cron: string | null, intervalSeconds: number | null, timezone: string, nextFireAt: string | null, lastFireAt: string | null, paused: boolean, pausedNote: string | null, specError: string | null, consecutiveFailures: number, pauseAfterFailures: number | null, missedTotal: string, updatedAt: string, fires: { totalCount: number, nodes: Array<{ id: string, occurrenceAt: string, firedAt: string, startedAt: string | null, status: string, reason: string | null, runId: string | null, run: { id: string, status: string } | null } | null> }, agentByAgentId: { name: string } | null } | null };

export type PauseScheduleMutationVariables = Exact<{
  id: string;
  note?: string | null | undefined;
}>;


export type PauseScheduleMutation = { pauseSchedule: { schedule: { input: unknown, overlap: string, catchUp: string, catchUpMax: number, misfireGraceSeconds: number, thread: string, threadId: string | null, createdAt: string, nextFireTimes: Array<string>, id: string, name: string, agentId: string, cron: string | null, intervalSeconds: number | null, timezone: string, nextFireAt: string | null, lastFireAt: string | null, paused: boolean, pausedNote: string | null, specError: string | null, consecutiveFailures: number, pauseAfterFailures: number | null, missedTotal: string, updatedAt: string, agentByAgentId: { name: string } | null } | null } | null };

export type ResumeScheduleMutationVariables = Exact<{
  id: string;
}>;


export type ResumeScheduleMutation = { resumeSchedule: { schedule: { input: unknown, overlap: string, catchUp: string, catchUpMax: number, misfireGraceSeconds: number, thread: string, threadId: string | null, createdAt: string, nextFireTimes: Array<string>, id: string, name: string, agentId: string, cron: string | null, intervalSeconds: number | null, timezone: string, nextFireAt: string | null, lastFireAt: string | null, paused: boolean, pausedNote: string | null, specError: string | null, consecutiveFailures: number, pauseAfterFailures: number | null, missedTotal: string, updatedAt: string, agentByAgentId: { name: string } | null } | null } | null };

export type WebhooksQueryVariables = Exact<{
  first: number;
}>;


export type WebhooksQuery = { webhooks: { totalCount: number, pageInfo: { hasNextPage: boolean }, nodes: Array<{ id: string, name: string, agentId: string, verify: string, secretNames: Array<string | null>, enabled: boolean, path: string, agentByAgentId: { name: string } | null, deliveries: { totalCount: number, nodes: Array<{ id: string, receivedAt: string } | null> } } | null> } | null };

export type WebhookQueryVariables = Exact<{
  id: string;
  deliveries: number;
}>;


export type WebhookQuery = { webhook: { id: string, name: string, agentId: string, verify: string, secretNames: Array<string | null>, signatureHeader: string | null, signaturePrefix: string | null, toleranceSeconds: number, dedupePointer: string | null, inputTemplate: unknown, threadKeyPointer: string | null, maxBodyBytes: number, enabled: boolean, path: string, createdAt: string, updatedAt: string, agentByAgentId: { name: string } | null, deliveries: { totalCount: number, nodes: Array<{ id: string, receivedAt: string, deliveryKey: string | null, verifiedWith: number | null, duplicates: number, lastDuplicateAt: string | null, test: boolean, threadKey: string | null, payloadBytes: number, runId: string, run: { id: string, status: string } | null } | null> } } | null };

export type SendTestWebhookDeliveryMutationVariables = Exact<{
  id: string;
  payload?: unknown;
}>;


export type SendTestWebhookDeliveryMutation = { sendTestWebhookDelivery: { runId: string, deliveryId: string, duplicate: boolean, run: { id: string, status: string } | null } | null };

export type ApprovalHistoryQueryVariables = Exact<{ [key: string]: never; }>;


export type ApprovalHistoryQuery = { answerAudit: { nodes: Array<{ id: string, at: string, actor: string, targetId: string | null, details: unknown } | null> } | null, answeredRuns: { nodes: Array<{ id: string, agentId: string, continuedBy: string | null, agentByAgentId: { id: string, name: string } | null, finished: { nodes: Array<{ event: unknown } | null> }, runByContinuedBy: { id: string, input: unknown } | null } | null> } | null };

export type WorkspaceLimitsQueryVariables = Exact<{ [key: string]: never; }>;


export type WorkspaceLimitsQuery = { workspaceLimits: { workspaceId: string, workspaceName: string, maxQueuedRuns: number | null, runsPerMinute: number | null, maxRunningRuns: number | null, weight: number, maxTokensPerDay: number | null, maxCostUsdPerDay: number | null, dedicated: boolean, queuedRuns: number, pendingRuns: number, activeRuns: number, oldestPendingAt: string | null, tokensToday: number | null, costUsdToday: number | null, tokens: number | null, updatedAt: string | null } | null };

export type NavRunRowFieldsFragment = { agentVersion: number, id: string, status: string, agentId: string, threadId: string, parentRunId: string | null, usage: unknown, error: unknown, progress: unknown, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, agentByAgentId: { id: string, name: string } | null, runStepsByRunId: { totalCount: number }, current: { nodes: Array<{ seq: number, attempt: number, stepKind: string | null, stepName: string | null, outcome: string | null } | null> } };

export type NavRunsQueryVariables = Exact<{
  condition?: RunCondition | null | undefined;
  first: number;
  after?: string | null | undefined;
}>;


export type NavRunsQuery = { allRuns: { totalCount: number, pageInfo: { hasNextPage: boolean, endCursor: string | null }, nodes: Array<{ agentVersion: number, id: string, status: string, agentId: string, threadId: string, parentRunId: string | null, usage: unknown, error: unknown, progress: unknown, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, agentByAgentId: { id: string, name: string } | null, runStepsByRunId: { totalCount: number }, current: { nodes: Array<{ seq: number, attempt: number, stepKind: string | null, stepName: string | null, outcome: string | null } | null> } } | null> } | null };

export type NavRunsUpdatedSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type NavRunsUpdatedSubscription = { runUpdated: { runId: string, run: { agentVersion: number, id: string, status: string, agentId: string, threadId: string, parentRunId: string | null, usage: unknown, error: unknown, progress: unknown, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, agentByAgentId: { id: string, name: string } | null, runStepsByRunId: { totalCount: number }, current: { nodes: Array<{ seq: number, attempt: number, stepKind: string | null, stepName: string | null, outcome: string | null } | null> } } | null } | null };

export type NavAgentsQueryVariables = Exact<{ [key: string]: never; }>;


export type NavAgentsQuery = { allAgents: { nodes: Array<{ id: string, name: string, version: number } | null> } | null };

export type ThreadsQueryVariables = Exact<{
  first: number;
  offset: number;
  agentId?: string | null | undefined;
}>;


export type ThreadsQuery = { threadSummaries: { hasNextPage: boolean, nodes: Array<{ threadId: string, agentId: string | null, agentName: string | null, createdAt: string, lastActivityAt: string, runCount: number, latestRunId: string | null, latestRunStatus: string | null, title: string | null }> } };

export type WorkersAndQueueQueryVariables = Exact<{
  queueWindow: number;
  queueBucket: number;
  stalledSeconds: number;
}>;


export type WorkersAndQueueQuery = { workerStatuses: Array<{ poolId: string, hostname: string | null, pid: number | null, concurrency: number, startedAt: string, lastSeenAt: string, steps: Array<{ runId: string, agentName: string | null, status: string, step: number, attempt: number, stepStartedAt: string | null, lockedAt: string }> }>, workerExits: Array<{ poolId: string, hostname: string | null, pid: number | null, concurrency: number, startedAt: string, exitedAt: string, crashed: boolean, freedRunIds: Array<string> }>, queueDepth: { ready: number, scheduled: number, running: number, oldestReadyAgeMs: number | null }, queueHistory: Array<{ start: string, ready: number, scheduled: number, running: number, oldestReadyAgeMs: number | null }>, scheduledTimers: Array<{ runId: string, agentName: string | null, kind: string, eventName: string | null, until: string | null, since: string }>, stuckRuns: Array<{ runId: string, agentName: string | null, status: string, reason: string, step: number, attempt: number, since: string }> };

export type RunRowFieldsFragment = { id: string, status: string, agentId: string, threadId: string, parentRunId: string | null, usage: unknown, error: unknown, progress: unknown, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, agentByAgentId: { id: string, name: string } | null, runStepsByRunId: { totalCount: number }, current: { nodes: Array<{ seq: number, attempt: number, stepKind: string | null, stepName: string | null, outcome: string | null } | null> } };

export type RunFieldsFragment = { id: string, status: string, agentId: string, agentVersion: number, threadId: string, parentRunId: string | null, continuedBy: string | null, rerunOf: string | null, input: unknown, output: unknown, error: unknown, usage: unknown, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, waiting: unknown, progress: unknown, agentByAgentId: { id: string, name: string } | null, stepCount: { totalCount: number }, current: { nodes: Array<{ seq: number, attempt: number, stepKind: string | null, stepName: string | null, poolId: string | null, hostname: string | null, workerPid: number | null, startedAt: string, endedAt: string | null, lastEventAt: string | null, freedAt: string | null, outcome: string | null, error: unknown, eventsFrom: number, lastEventSeq: number | null, closedThroughSeq: number | null } | null> } };

export type RunAttemptFieldsFragment = { seq: number, attempt: number, stepKind: string | null, stepName: string | null, poolId: string | null, hostname: string | null, workerPid: number | null, startedAt: string, endedAt: string | null, lastEventAt: string | null, freedAt: string | null, outcome: string | null, error: unknown, eventsFrom: number, lastEventSeq: number | null, closedThroughSeq: number | null };

export type RunAttemptsQueryVariables = Exact<{
  id: string;
}>;


export type RunAttemptsQuery = { allRunAttempts: { nodes: Array<{ seq: number, attempt: number, stepKind: string | null, stepName: string | null, poolId: string | null, hostname: string | null, workerPid: number | null, startedAt: string, endedAt: string | null, lastEventAt: string | null, freedAt: string | null, outcome: string | null, error: unknown, eventsFrom: number, lastEventSeq: number | null, closedThroughSeq: number | null } | null> } | null };

export type ParentFinishedFragment = { parent: { finished: { nodes: Array<{ event: unknown } | null> } } | null };

export type RunsQueryVariables = Exact<{
  condition?: RunCondition | null | undefined;
  first: number;
  after?: string | null | undefined;
}>;


export type RunsQuery = { allRuns: { totalCount: number, pageInfo: { hasNextPage: boolean, endCursor: string | null }, nodes: Array<{ id: string, status: string, agentId: string, threadId: string, parentRunId: string | null, usage: unknown, error: unknown, progress: unknown, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, agentByAgentId: { id: string, name: string } | null, runStepsByRunId: { totalCount: number }, current: { nodes: Array<{ seq: number, attempt: number, stepKind: string | null, stepName: string | null, outcome: string | null } | null> } } | null> } | null };

export type RunsUpdatedSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type RunsUpdatedSubscription = { runUpdated: { runId: string, run: { id: string, status: string, agentId: string, threadId: string, parentRunId: string | null, usage: unknown, error: unknown, progress: unknown, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, agentByAgentId: { id: string, name: string } | null, runStepsByRunId: { totalCount: number }, current: { nodes: Array<{ seq: number, attempt: number, stepKind: string | null, stepName: string | null, outcome: string | null } | null> } } | null } | null };

export type AgentNamesQueryVariables = Exact<{ [key: string]: never; }>;


export type AgentNamesQuery = { allAgents: { nodes: Array<{ id: string, name: string } | null> } | null };

export type RunDetailQueryVariables = Exact<{
  id: string;
}>;


export type RunDetailQuery = { runById: { state: unknown, budgetSpend: unknown, historyExpiredAt: string | null, id: string, status: string, agentId: string, agentVersion: number, threadId: string, parentRunId: string | null, continuedBy: string | null, rerunOf: string | null, input: unknown, output: unknown, error: unknown, usage: unknown, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, waiting: unknown, progress: unknown, workspaceByWorkspaceId: { retentionDays: number | null } | null, agentVersionByAgentIdAndAgentVersion: { version: number, config: unknown } | null, runByContinuedBy: { id: string, status: string, input: unknown } | null, agentByAgentId: { id: string, name: string } | null, stepCount: { totalCount: number }, current: { nodes: Array<{ seq: number, attempt: number, stepKind: string | null, stepName: string | null, poolId: string | null, hostname: string | null, workerPid: number | null, startedAt: string, endedAt: string | null, lastEventAt: string | null, freedAt: string | null, outcome: string | null, error: unknown, eventsFrom: number, lastEventSeq: number | null, closedThroughSeq: number | null } | null> }, parent: { finished: { nodes: Array<{ event: unknown } | null> } } | null } | null };

export type RunStepFieldsFragment = { seq: number, kind: string, name: string, status: string, attempt: number, startedAt: string, finishedAt: string, durationMs: string | null, error: unknown, usage: unknown };

export type RunStepsQueryVariables = Exact<{
  id: string;
}>;


export type RunStepsQuery = { allRunSteps: { nodes: Array<{ seq: number, kind: string, name: string, status: string, attempt: number, startedAt: string, finishedAt: string, durationMs: string | null, error: unknown, usage: unknown } | null> } | null };

export type RunUpdatedSubscriptionVariables = Exact<{
  id: string;
}>;


export type RunUpdatedSubscription = { runUpdated: { runId: string, run: { state: unknown, id: string, status: string, agentId: string, agentVersion: number, threadId: string, parentRunId: string | null, continuedBy: string | null, rerunOf: string | null, input: unknown, output: unknown, error: unknown, usage: unknown, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, waiting: unknown, progress: unknown, agentByAgentId: { id: string, name: string } | null, stepCount: { totalCount: number }, current: { nodes: Array<{ seq: number, attempt: number, stepKind: string | null, stepName: string | null, poolId: string | null, hostname: string | null, workerPid: number | null, startedAt: string, endedAt: string | null, lastEventAt: string | null, freedAt: string | null, outcome: string | null, error: unknown, eventsFrom: number, lastEventSeq: number | null, closedThroughSeq: number | null } | null> } } | null } | null };

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
  reason?: string | null | undefined;
}>;


export type CancelRunMutation = { cancelRun: { cancelled: boolean, run: { id: string, status: string } | null } | null };

export type ResumeRunMutationVariables = Exact<{
  runId: string;
  resume: unknown;
  reason?: string | null | undefined;
}>;


export type ResumeRunMutation = { resumeRun: { runId: string } | null };

export type SendEventMutationVariables = Exact<{
  runId: string;
  name: string;
  payload?: unknown;
  reason?: string | null | undefined;
}>;


export type SendEventMutation = { sendEvent: { woke: boolean, run: { id: string, status: string, updatedAt: string } | null } | null };

export type RerunRunMutationVariables = Exact<{
  runId: string;
  reason?: string | null | undefined;
  fromStep?: number | null | undefined;
}>;


export type RerunRunMutation = { rerunRun: { runId: string } | null };

export type RerunFromStepContextQueryVariables = Exact<{
  id: string;
}>;


export type RerunFromStepContextQuery = { runById: { id: string, status: string, parentRunId: string | null, agentVersion: number, threadByThreadId: { runsByThreadId: { nodes: Array<{ id: string } | null> } } | null } | null };

export type RunInterruptsQueryVariables = Exact<{
  id: string;
}>;


export type RunInterruptsQuery = { runById: { id: string, status: string, continuedBy: string | null, interrupts: unknown } | null };

export type AgentsQueryVariables = Exact<{ [key: string]: never; }>;


export type AgentsQuery = { allAgents: { nodes: Array<{ id: string, name: string, config: unknown, version: number, createdAt: string, updatedAt: string, runsByAgentId: { totalCount: number } } | null> } | null };

export type AgentQueryVariables = Exact<{
  id: string;
}>;


export type AgentQuery = { agentById: { id: string, name: string, config: unknown, version: number, createdAt: string, updatedAt: string, agentVersionsByAgentId: { nodes: Array<{ agentId: string, version: number, config: unknown, createdAt: string } | null> }, runsByAgentId: { totalCount: number, nodes: Array<{ id: string, status: string, agentId: string, threadId: string, parentRunId: string | null, usage: unknown, error: unknown, progress: unknown, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, agentByAgentId: { id: string, name: string } | null, runStepsByRunId: { totalCount: number }, current: { nodes: Array<{ seq: number, attempt: number, stepKind: string | null, stepName: string | null, outcome: string | null } | null> } } | null> } } | null };

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


export type ThreadQuery = { threadById: { id: string, createdAt: string, agentByAgentId: { id: string, name: string } | null, runsByThreadId: { nodes: Array<{ id: string, status: string, agentId: string, agentVersion: number, threadId: string, parentRunId: string | null, continuedBy: string | null, rerunOf: string | null, input: unknown, output: unknown, error: unknown, usage: unknown, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, waiting: unknown, progress: unknown, agentByAgentId: { id: string, name: string } | null, stepCount: { totalCount: number }, current: { nodes: Array<{ seq: number, attempt: number, stepKind: string | null, stepName: string | null, poolId: string | null, hostname: string | null, workerPid: number | null, startedAt: string, endedAt: string | null, lastEventAt: string | null, freedAt: string | null, outcome: string | null, error: unknown, eventsFrom: number, lastEventSeq: number | null, closedThroughSeq: number | null } | null> }, parent: { finished: { nodes: Array<{ event: unknown } | null> } } | null } | null> } } | null };

export type ThreadRunsUpdatedSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type ThreadRunsUpdatedSubscription = { runUpdated: { runId: string, run: { threadId: string, status: string } | null } | null };

export type ApprovalsQueryVariables = Exact<{ [key: string]: never; }>;


export type ApprovalsQuery = { runsAwaitingAnswerCount: number, runsAwaitingAnswer: Array<{ input: unknown, id: string, status: string, agentId: string, threadId: string, parentRunId: string | null, usage: unknown, error: unknown, progress: unknown, createdAt: string, startedAt: string | null, finishedAt: string | null, updatedAt: string, finished: { nodes: Array<{ event: unknown } | null> }, agentByAgentId: { id: string, name: string } | null, runStepsByRunId: { totalCount: number }, current: { nodes: Array<{ seq: number, attempt: number, stepKind: string | null, stepName: string | null, outcome: string | null } | null> } }> };

export type RunStatusUpdatedSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type RunStatusUpdatedSubscription = { runUpdated: { runId: string, run: { status: string, parentRunId: string | null } | null } | null };

export type PendingApprovalsQueryVariables = Exact<{ [key: string]: never; }>;


export type PendingApprovalsQuery = { runsAwaitingAnswerCount: number };

export type DashboardQueryVariables = Exact<{
  window: number;
  bucket: number;
  days: number;
}>;


export type DashboardQuery = { runsAwaitingAnswerCount: number, runStatusCounts: Array<{ status: string, count: number }>, runThroughput: Array<{ start: string, started: number, succeeded: number, failed: number, cancelled: number, interrupted: number, steps: number, stepP50Ms: number | null, stepP95Ms: number | null }>, agentDailyUsage: Array<{ day: string, agentId: string, agentName: string, runs: number, inputTokens: number, outputTokens: number, cacheReadTokens: number, cacheWriteTokens: number, reasoningTokens: number, costUsd: number }>, liveWorkers: Array<{ poolId: string, hostname: string | null, pid: number | null, concurrency: number, startedAt: string, runningJobs: number }>, queueDepth: { ready: number, scheduled: number, running: number, oldestReadyAgeMs: number | null }, failures: { nodes: Array<{ id: string, error: unknown, finishedAt: string | null, createdAt: string, agentByAgentId: { id: string, name: string } | null } | null> } | null };

export type DashboardUpdatedSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type DashboardUpdatedSubscription = { runUpdated: { runId: string } | null };

export type WhoamiQueryVariables = Exact<{ [key: string]: never; }>;


export type WhoamiQuery = { whoami: { keyId: string, workspaceId: string, workspaceName: string, role: string } };

export type WorkflowRunQueryVariables = Exact<{
  id: string;
}>;


export type WorkflowRunQuery = { runById: { id: string, parentRunId: string | null, runStepsByRunId: { nodes: Array<{ seq: number, kind: string, name: string, status: string, finishedAt: string, output: unknown } | null> }, threadByThreadId: { runsByThreadId: { nodes: Array<{ id: string, parentRunId: string | null, runStepsByRunId: { nodes: Array<{ seq: number, kind: string, name: string, status: string, finishedAt: string, output: unknown } | null> } } | null> } } | null } | null };

export type WorkflowStepFieldsFragment = { seq: number, kind: string, name: string, status: string, finishedAt: string, output: unknown };

export type RunTraceIdQueryVariables = Exact<{
  id: string;
}>;


export type RunTraceIdQuery = { runById: { id: string, traceParent: string | null } | null };

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
export const BatchProgressFieldsFragmentDoc = new TypedDocumentString(`
    fragment BatchProgressFields on BatchProgress {
  total
  queued
  running
  succeeded
  failed
  cancelled
  inputTokens
  outputTokens
  costUsd
  itemsPerMinute
  etaSeconds
}
    `, {"fragmentName":"BatchProgressFields"}) as unknown as TypedDocumentString<BatchProgressFieldsFragment, unknown>;
export const BatchRowFieldsFragmentDoc = new TypedDocumentString(`
    fragment BatchRowFields on Batch {
  id
  name
  status
  agentId
  agentVersion
  agentByAgentId {
    name
  }
  maxParallel
  createdAt
  startedAt
  finishedAt
  updatedAt
  progress {
    ...BatchProgressFields
  }
}
    fragment BatchProgressFields on BatchProgress {
  total
  queued
  running
  succeeded
  failed
  cancelled
  inputTokens
  outputTokens
  costUsd
  itemsPerMinute
  etaSeconds
}`, {"fragmentName":"BatchRowFields"}) as unknown as TypedDocumentString<BatchRowFieldsFragment, unknown>;
export const BatchFieldsFragmentDoc = new TypedDocumentString(`
    fragment BatchFields on Batch {
  ...BatchRowFields
  priority
  onItemError
  stopAfterFailures
  stopAfterRatio
  deadline
  error
  throughput(minutes: 30) {
    minute
    finished
  }
}
    fragment BatchProgressFields on BatchProgress {
  total
  queued
  running
  succeeded
  failed
  cancelled
  inputTokens
  outputTokens
  costUsd
  itemsPerMinute
  etaSeconds
}
fragment BatchRowFields on Batch {
  id
  name
  status
  agentId
  agentVersion
  agentByAgentId {
    name
  }
  maxParallel
  createdAt
  startedAt
  finishedAt
  updatedAt
  progress {
    ...BatchProgressFields
  }
}`, {"fragmentName":"BatchFields"}) as unknown as TypedDocumentString<BatchFieldsFragment, unknown>;
export const NotificationDeliveryRowFieldsFragmentDoc = new TypedDocumentString(`
    fragment NotificationDeliveryRowFields on NotificationDelivery {
  id
  event
  endpointId
  notificationEndpointByEndpointId {
    name
  }
  subjectId
  status
  attempts
  lastStatusCode
  lastError
  createdAt
  deliveredAt
  nextAttemptAt
  giveUpAt
}
    `, {"fragmentName":"NotificationDeliveryRowFields"}) as unknown as TypedDocumentString<NotificationDeliveryRowFieldsFragment, unknown>;
export const ScheduleRowFieldsFragmentDoc = new TypedDocumentString(`
    fragment ScheduleRowFields on Schedule {
  id
  name
  agentId
  agentByAgentId {
    name
  }
  cron
  intervalSeconds
  timezone
  nextFireAt
  lastFireAt
  paused
  pausedNote
  specError
  consecutiveFailures
  pauseAfterFailures
  missedTotal
  updatedAt
}
    `, {"fragmentName":"ScheduleRowFields"}) as unknown as TypedDocumentString<ScheduleRowFieldsFragment, unknown>;
export const ScheduleFieldsFragmentDoc = new TypedDocumentString(`
    fragment ScheduleFields on Schedule {
  ...ScheduleRowFields
  input
  overlap
  catchUp
  catchUpMax
  misfireGraceSeconds
  thread
  threadId
  createdAt
  nextFireTimes(count: 10)
}
    fragment ScheduleRowFields on Schedule {
  id
  name
  agentId
  agentByAgentId {
    name
  }
  cron
  intervalSeconds
  timezone
  nextFireAt
  lastFireAt
  paused
  pausedNote
  specError
  consecutiveFailures
  pauseAfterFailures
  missedTotal
  updatedAt
}`, {"fragmentName":"ScheduleFields"}) as unknown as TypedDocumentString<ScheduleFieldsFragment, unknown>;
export const RunRowFieldsFragmentDoc = new TypedDocumentString(`
    fragment RunRowFields on Run {
  id
  status
  agentId
  threadId
  parentRunId
  usage
  error
  progress
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
  current: runAttemptsByRunId(orderBy: PRIMARY_KEY_DESC, first: 1) {
    nodes {
      seq
      attempt
      stepKind
      stepName
      outcome
    }
  }
}
    `, {"fragmentName":"RunRowFields"}) as unknown as TypedDocumentString<RunRowFieldsFragment, unknown>;
export const NavRunRowFieldsFragmentDoc = new TypedDocumentString(`
    fragment NavRunRowFields on Run {
  ...RunRowFields
  agentVersion
}
    fragment RunRowFields on Run {
  id
  status
  agentId
  threadId
  parentRunId
  usage
  error
  progress
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
  current: runAttemptsByRunId(orderBy: PRIMARY_KEY_DESC, first: 1) {
    nodes {
      seq
      attempt
      stepKind
      stepName
      outcome
    }
  }
}`, {"fragmentName":"NavRunRowFields"}) as unknown as TypedDocumentString<NavRunRowFieldsFragment, unknown>;
export const RunAttemptFieldsFragmentDoc = new TypedDocumentString(`
    fragment RunAttemptFields on RunAttempt {
  seq
  attempt
  stepKind
  stepName
  poolId
  hostname
  workerPid
  startedAt
  endedAt
  lastEventAt
  freedAt
  outcome
  error
  eventsFrom
  lastEventSeq
  closedThroughSeq
}
    `, {"fragmentName":"RunAttemptFields"}) as unknown as TypedDocumentString<RunAttemptFieldsFragment, unknown>;
export const RunFieldsFragmentDoc = new TypedDocumentString(`
    fragment RunFields on Run {
  id
  status
  agentId
  agentVersion
  threadId
  parentRunId
  continuedBy
  rerunOf
  input
  output
  error
  usage
  createdAt
  startedAt
  finishedAt
  updatedAt
  waiting
  progress
  agentByAgentId {
    id
    name
  }
  stepCount: runStepsByRunId {
    totalCount
  }
  current: runAttemptsByRunId(orderBy: PRIMARY_KEY_DESC, first: 1) {
    nodes {
      ...RunAttemptFields
    }
  }
}
    fragment RunAttemptFields on RunAttempt {
  seq
  attempt
  stepKind
  stepName
  poolId
  hostname
  workerPid
  startedAt
  endedAt
  lastEventAt
  freedAt
  outcome
  error
  eventsFrom
  lastEventSeq
  closedThroughSeq
}`, {"fragmentName":"RunFields"}) as unknown as TypedDocumentString<RunFieldsFragment, unknown>;
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
export const WorkflowStepFieldsFragmentDoc = new TypedDocumentString(`
    fragment WorkflowStepFields on RunStep {
  seq
  kind
  name
  status
  finishedAt
  output
}
    `, {"fragmentName":"WorkflowStepFields"}) as unknown as TypedDocumentString<WorkflowStepFieldsFragment, unknown>;
export const BatchesDocument = new TypedDocumentString(`
    query Batches($condition: BatchCondition, $first: Int!) {
  batches(condition: $condition, orderBy: CREATED_AT_DESC, first: $first) {
    totalCount
    pageInfo {
      hasNextPage
    }
    nodes {
      ...BatchRowFields
    }
  }
}
    fragment BatchProgressFields on BatchProgress {
  total
  queued
  running
  succeeded
  failed
  cancelled
  inputTokens
  outputTokens
  costUsd
  itemsPerMinute
  etaSeconds
}
fragment BatchRowFields on Batch {
  id
  name
  status
  agentId
  agentVersion
  agentByAgentId {
    name
  }
  maxParallel
  createdAt
  startedAt
  finishedAt
  updatedAt
  progress {
    ...BatchProgressFields
  }
}`) as unknown as TypedDocumentString<BatchesQuery, BatchesQueryVariables>;
export const BatchDocument = new TypedDocumentString(`
    query Batch($id: UUID!) {
  batch(id: $id) {
    ...BatchFields
  }
}
    fragment BatchProgressFields on BatchProgress {
  total
  queued
  running
  succeeded
  failed
  cancelled
  inputTokens
  outputTokens
  costUsd
  itemsPerMinute
  etaSeconds
}
fragment BatchRowFields on Batch {
  id
  name
  status
  agentId
  agentVersion
  agentByAgentId {
    name
  }
  maxParallel
  createdAt
  startedAt
  finishedAt
  updatedAt
  progress {
    ...BatchProgressFields
  }
}
fragment BatchFields on Batch {
  ...BatchRowFields
  priority
  onItemError
  stopAfterFailures
  stopAfterRatio
  deadline
  error
  throughput(minutes: 30) {
    minute
    finished
  }
}`) as unknown as TypedDocumentString<BatchQuery, BatchQueryVariables>;
export const BatchProgressDocument = new TypedDocumentString(`
    subscription BatchProgress($batchId: UUID!) {
  batchProgress(batchId: $batchId) {
    batchId
    batch {
      ...BatchFields
    }
  }
}
    fragment BatchProgressFields on BatchProgress {
  total
  queued
  running
  succeeded
  failed
  cancelled
  inputTokens
  outputTokens
  costUsd
  itemsPerMinute
  etaSeconds
}
fragment BatchRowFields on Batch {
  id
  name
  status
  agentId
  agentVersion
  agentByAgentId {
    name
  }
  maxParallel
  createdAt
  startedAt
  finishedAt
  updatedAt
  progress {
    ...BatchProgressFields
  }
}
fragment BatchFields on Batch {
  ...BatchRowFields
  priority
  onItemError
  stopAfterFailures
  stopAfterRatio
  deadline
  error
  throughput(minutes: 30) {
    minute
    finished
  }
}`) as unknown as TypedDocumentString<BatchProgressSubscription, BatchProgressSubscriptionVariables>;
export const BatchItemsDocument = new TypedDocumentString(`
    query BatchItems($id: UUID!, $condition: BatchItemCondition, $first: Int!, $offset: Int!) {
  batch(id: $id) {
    id
    items(
      condition: $condition
      orderBy: ORDINAL_ASC
      first: $first
      offset: $offset
    ) {
      totalCount
      nodes {
        id
        customId
        status
        attempts
        output
        error
        finishedAt
        runId
      }
    }
  }
}
    `) as unknown as TypedDocumentString<BatchItemsQuery, BatchItemsQueryVariables>;
export const PauseBatchDocument = new TypedDocumentString(`
    mutation PauseBatch($batchId: UUID!) {
  pauseBatch(batchId: $batchId) {
    batch {
      ...BatchFields
    }
  }
}
    fragment BatchProgressFields on BatchProgress {
  total
  queued
  running
  succeeded
  failed
  cancelled
  inputTokens
  outputTokens
  costUsd
  itemsPerMinute
  etaSeconds
}
fragment BatchRowFields on Batch {
  id
  name
  status
  agentId
  agentVersion
  agentByAgentId {
    name
  }
  maxParallel
  createdAt
  startedAt
  finishedAt
  updatedAt
  progress {
    ...BatchProgressFields
  }
}
fragment BatchFields on Batch {
  ...BatchRowFields
  priority
  onItemError
  stopAfterFailures
  stopAfterRatio
  deadline
  error
  throughput(minutes: 30) {
    minute
    finished
  }
}`) as unknown as TypedDocumentString<PauseBatchMutation, PauseBatchMutationVariables>;
export const ResumeBatchDocument = new TypedDocumentString(`
    mutation ResumeBatch($batchId: UUID!) {
  resumeBatch(batchId: $batchId) {
    batch {
      ...BatchFields
    }
  }
}
    fragment BatchProgressFields on BatchProgress {
  total
  queued
  running
  succeeded
  failed
  cancelled
  inputTokens
  outputTokens
  costUsd
  itemsPerMinute
  etaSeconds
}
fragment BatchRowFields on Batch {
  id
  name
  status
  agentId
  agentVersion
  agentByAgentId {
    name
  }
  maxParallel
  createdAt
  startedAt
  finishedAt
  updatedAt
  progress {
    ...BatchProgressFields
  }
}
fragment BatchFields on Batch {
  ...BatchRowFields
  priority
  onItemError
  stopAfterFailures
  stopAfterRatio
  deadline
  error
  throughput(minutes: 30) {
    minute
    finished
  }
}`) as unknown as TypedDocumentString<ResumeBatchMutation, ResumeBatchMutationVariables>;
export const StartBatchDocument = new TypedDocumentString(`
    mutation StartBatch($batchId: UUID!) {
  startBatch(batchId: $batchId) {
    batch {
      ...BatchFields
    }
  }
}
    fragment BatchProgressFields on BatchProgress {
  total
  queued
  running
  succeeded
  failed
  cancelled
  inputTokens
  outputTokens
  costUsd
  itemsPerMinute
  etaSeconds
}
fragment BatchRowFields on Batch {
  id
  name
  status
  agentId
  agentVersion
  agentByAgentId {
    name
  }
  maxParallel
  createdAt
  startedAt
  finishedAt
  updatedAt
  progress {
    ...BatchProgressFields
  }
}
fragment BatchFields on Batch {
  ...BatchRowFields
  priority
  onItemError
  stopAfterFailures
  stopAfterRatio
  deadline
  error
  throughput(minutes: 30) {
    minute
    finished
  }
}`) as unknown as TypedDocumentString<StartBatchMutation, StartBatchMutationVariables>;
export const CancelBatchDocument = new TypedDocumentString(`
    mutation CancelBatch($batchId: UUID!) {
  cancelBatch(batchId: $batchId) {
    batch {
      ...BatchFields
    }
  }
}
    fragment BatchProgressFields on BatchProgress {
  total
  queued
  running
  succeeded
  failed
  cancelled
  inputTokens
  outputTokens
  costUsd
  itemsPerMinute
  etaSeconds
}
fragment BatchRowFields on Batch {
  id
  name
  status
  agentId
  agentVersion
  agentByAgentId {
    name
  }
  maxParallel
  createdAt
  startedAt
  finishedAt
  updatedAt
  progress {
    ...BatchProgressFields
  }
}
fragment BatchFields on Batch {
  ...BatchRowFields
  priority
  onItemError
  stopAfterFailures
  stopAfterRatio
  deadline
  error
  throughput(minutes: 30) {
    minute
    finished
  }
}`) as unknown as TypedDocumentString<CancelBatchMutation, CancelBatchMutationVariables>;
export const SetBatchParallelDocument = new TypedDocumentString(`
    mutation SetBatchParallel($batchId: UUID!, $maxParallel: Int!) {
  setBatchParallel(batchId: $batchId, maxParallel: $maxParallel) {
    batch {
      ...BatchFields
    }
  }
}
    fragment BatchProgressFields on BatchProgress {
  total
  queued
  running
  succeeded
  failed
  cancelled
  inputTokens
  outputTokens
  costUsd
  itemsPerMinute
  etaSeconds
}
fragment BatchRowFields on Batch {
  id
  name
  status
  agentId
  agentVersion
  agentByAgentId {
    name
  }
  maxParallel
  createdAt
  startedAt
  finishedAt
  updatedAt
  progress {
    ...BatchProgressFields
  }
}
fragment BatchFields on Batch {
  ...BatchRowFields
  priority
  onItemError
  stopAfterFailures
  stopAfterRatio
  deadline
  error
  throughput(minutes: 30) {
    minute
    finished
  }
}`) as unknown as TypedDocumentString<SetBatchParallelMutation, SetBatchParallelMutationVariables>;
export const RetryFailedItemsDocument = new TypedDocumentString(`
    mutation RetryFailedItems($batchId: UUID!, $includeCancelled: Boolean) {
  retryFailedItems(batchId: $batchId, includeCancelled: $includeCancelled) {
    retried
    batch {
      ...BatchFields
    }
  }
}
    fragment BatchProgressFields on BatchProgress {
  total
  queued
  running
  succeeded
  failed
  cancelled
  inputTokens
  outputTokens
  costUsd
  itemsPerMinute
  etaSeconds
}
fragment BatchRowFields on Batch {
  id
  name
  status
  agentId
  agentVersion
  agentByAgentId {
    name
  }
  maxParallel
  createdAt
  startedAt
  finishedAt
  updatedAt
  progress {
    ...BatchProgressFields
  }
}
fragment BatchFields on Batch {
  ...BatchRowFields
  priority
  onItemError
  stopAfterFailures
  stopAfterRatio
  deadline
  error
  throughput(minutes: 30) {
    minute
    finished
  }
}`) as unknown as TypedDocumentString<RetryFailedItemsMutation, RetryFailedItemsMutationVariables>;
export const RunBatchDocument = new TypedDocumentString(`
    query RunBatch($id: UUID!) {
  runById(id: $id) {
    id
    batchId
    batchItemByBatchItemId {
      id
      customId
    }
    batchByBatchId {
      id
      name
    }
  }
}
    `) as unknown as TypedDocumentString<RunBatchQuery, RunBatchQueryVariables>;
export const DashboardObservabilityDocument = new TypedDocumentString(`
    query DashboardObservability($window: Int!, $bucket: Int!) {
  stepLatencyByKindList(windowSeconds: $window) {
    kind
    steps
    failed
    p50Ms
    p95Ms
    p99Ms
    maxMs
  }
  resumeLatencyList(windowSeconds: $window, bucketSeconds: $bucket) {
    bucketStart
    attempts
    lost
    resumed
    p50Ms
    p95Ms
    maxMs
  }
  providerStepStatsList(windowSeconds: $window) {
    provider
    steps
    failed
    attempts
    retried
    lost
    errorRate
    attemptsPerStep
    p95Ms
  }
  workspaceLimits {
    workspaceId
    maxQueuedRuns
    maxRunningRuns
    maxTokensPerDay
    maxCostUsdPerDay
    queuedRuns
    activeRuns
    tokensToday
    costUsdToday
  }
}
    `) as unknown as TypedDocumentString<DashboardObservabilityQuery, DashboardObservabilityQueryVariables>;
export const McpServersDocument = new TypedDocumentString(`
    query McpServers {
  allMcpServers(first: 500, orderBy: [SERVER_ASC, AGENT_NAME_ASC, AGENT_ID_ASC]) {
    totalCount
    nodes {
      nodeId
      agentId
      agentName
      server
      endpoint
      status
      tools
      toolCount
      listedAt
      lastError
      lastErrorAt
      pinnedRuns
    }
  }
}
    `) as unknown as TypedDocumentString<McpServersQuery, McpServersQueryVariables>;
export const RunMcpDocument = new TypedDocumentString(`
    query RunMcp($id: UUID!, $parentId: UUID!) {
  allRunMcpTools(condition: {runId: $id}, first: 100, orderBy: [SERVER_ASC]) {
    nodes {
      server
      pinnedAt
      listId
      mcpToolListByListId {
        id
        endpoint
        fetchedAt
        tools
      }
    }
  }
  own: allToolDispatches(condition: {runId: $id}, first: 200) {
    nodes {
      runId
      toolCallId
      toolName
      dispatches
      state
      lastDispatchedAt
      authorizedBy
      lastRunId
    }
  }
  parent: allToolDispatches(condition: {runId: $parentId}, first: 200) {
    nodes {
      runId
      toolCallId
      toolName
      dispatches
      state
      lastDispatchedAt
      authorizedBy
      lastRunId
    }
  }
}
    `) as unknown as TypedDocumentString<RunMcpQuery, RunMcpQueryVariables>;
export const McpOauthDocument = new TypedDocumentString(`
    query McpOauth {
  allAgents(orderBy: NAME_ASC, first: 1000) {
    nodes {
      id
      name
      config
    }
  }
  allMcpOauthConnections(orderBy: [SERVER_URL_ASC], first: 500) {
    nodes {
      nodeId
      serverUrl
      status
      scopes
      clientId
      expiresAt
      connectedAt
      connectedBy
      lastRefreshedAt
      lastError
      updatedAt
    }
  }
}
    `) as unknown as TypedDocumentString<McpOauthQuery, McpOauthQueryVariables>;
export const ConnectMcpServerDocument = new TypedDocumentString(`
    mutation ConnectMcpServer($input: ConnectMcpServerInput!) {
  connectMcpServer(input: $input) {
    url
    authorizationUrl
    expiresAt
  }
}
    `) as unknown as TypedDocumentString<ConnectMcpServerMutation, ConnectMcpServerMutationVariables>;
export const DisconnectMcpServerDocument = new TypedDocumentString(`
    mutation DisconnectMcpServer($input: DisconnectMcpServerInput!) {
  disconnectMcpServer(input: $input) {
    disconnected
    url
  }
}
    `) as unknown as TypedDocumentString<DisconnectMcpServerMutation, DisconnectMcpServerMutationVariables>;
export const NotificationsDocument = new TypedDocumentString(`
    query Notifications($endpoints: Int!, $deliveries: Int!, $condition: NotificationDeliveryCondition) {
  notificationEndpoints(first: $endpoints) {
    totalCount
    nodes {
      id
      name
      url
      events
      agentId
      agentByAgentId {
        name
      }
      secretName
      retryInitialSeconds
      enabled
    }
  }
  notificationDeliveries(first: $deliveries, condition: $condition) {
    totalCount
    pageInfo {
      hasNextPage
    }
    nodes {
      ...NotificationDeliveryRowFields
    }
  }
}
    fragment NotificationDeliveryRowFields on NotificationDelivery {
  id
  event
  endpointId
  notificationEndpointByEndpointId {
    name
  }
  subjectId
  status
  attempts
  lastStatusCode
  lastError
  createdAt
  deliveredAt
  nextAttemptAt
  giveUpAt
}`) as unknown as TypedDocumentString<NotificationsQuery, NotificationsQueryVariables>;
export const NotificationDeliveryDocument = new TypedDocumentString(`
    query NotificationDelivery($id: UUID!) {
  notificationDelivery(id: $id) {
    ...NotificationDeliveryRowFields
    payload
    attemptLog(first: 100) {
      nodes {
        id
        attempt
        startedAt
        finishedAt
        outcome
        statusCode
        error
      }
    }
  }
}
    fragment NotificationDeliveryRowFields on NotificationDelivery {
  id
  event
  endpointId
  notificationEndpointByEndpointId {
    name
  }
  subjectId
  status
  attempts
  lastStatusCode
  lastError
  createdAt
  deliveredAt
  nextAttemptAt
  giveUpAt
}`) as unknown as TypedDocumentString<NotificationDeliveryQuery, NotificationDeliveryQueryVariables>;
export const ResendNotificationDocument = new TypedDocumentString(`
    mutation ResendNotification($id: UUID!) {
  resendNotification(id: $id) {
    notificationDelivery {
      ...NotificationDeliveryRowFields
    }
  }
}
    fragment NotificationDeliveryRowFields on NotificationDelivery {
  id
  event
  endpointId
  notificationEndpointByEndpointId {
    name
  }
  subjectId
  status
  attempts
  lastStatusCode
  lastError
  createdAt
  deliveredAt
  nextAttemptAt
  giveUpAt
}`) as unknown as TypedDocumentString<ResendNotificationMutation, ResendNotificationMutationVariables>;
export const ModelPricesDocument = new TypedDocumentString(`
    query ModelPrices {
  allModelPrices(first: 1000, orderBy: [PROVIDER_ASC, MODEL_ASC]) {
    totalCount
    nodes {
      id
      provider
      model
      inputPerMillion
      outputPerMillion
      cacheReadPerMillion
      cacheWritePerMillion
      updatedAt
    }
  }
}
    `) as unknown as TypedDocumentString<ModelPricesQuery, ModelPricesQueryVariables>;
export const ModelCatalogDocument = new TypedDocumentString(`
    query ModelCatalog {
  modelCatalog {
    provider
    modelPrefix
    contextWindow
    maxOutputTokens
    inputPerMillion
    outputPerMillion
    cacheReadPerMillion
    cacheWritePerMillion
    thinking
    reasoning
    caching
    structuredOutput
    adaptiveThinking
    thinkingOff
    forcedToolChoice
    outputFormat
    temperature
    effortLevels
    fromOperatorFile
  }
}
    `) as unknown as TypedDocumentString<ModelCatalogQuery, ModelCatalogQueryVariables>;
export const SetModelPriceDocument = new TypedDocumentString(`
    mutation SetModelPrice($provider: String!, $model: String!, $inputPerMillion: Float!, $outputPerMillion: Float!, $cacheReadPerMillion: Float, $cacheWritePerMillion: Float) {
  setModelPrice(
    provider: $provider
    model: $model
    inputPerMillion: $inputPerMillion
    outputPerMillion: $outputPerMillion
    cacheReadPerMillion: $cacheReadPerMillion
    cacheWritePerMillion: $cacheWritePerMillion
  ) {
    provider
    model
    updatedAt
  }
}
    `) as unknown as TypedDocumentString<SetModelPriceMutation, SetModelPriceMutationVariables>;
export const DeleteModelPriceDocument = new TypedDocumentString(`
    mutation DeleteModelPrice($provider: String!, $model: String!) {
  deleteModelPrice(provider: $provider, model: $model) {
    provider
    model
    deleted
  }
}
    `) as unknown as TypedDocumentString<DeleteModelPriceMutation, DeleteModelPriceMutationVariables>;
export const RunQueueDocument = new TypedDocumentString(`
    query RunQueue($id: UUID!) {
  runById(id: $id) {
    id
    priority
    admittedAt
  }
  explainQueue(runId: $id) {
    admitted
    heldBy
    position
    message
  }
}
    `) as unknown as TypedDocumentString<RunQueueQuery, RunQueueQueryVariables>;
export const RunTreeDocument = new TypedDocumentString(`
    query RunTree($id: UUID!) {
  runById(id: $id) {
    id
    callerToolCallId
    treeUsage
    caller {
      id
      status
      agentByAgentId {
        name
      }
    }
    root {
      id
      status
      agentByAgentId {
        name
      }
    }
    childrenList {
      id
      status
      parentRunId
      continuedBy
      callerToolCallId
      usage
      agentByAgentId {
        name
      }
    }
    awaitingDescendantsList {
      id
      agentByAgentId {
        name
      }
    }
  }
}
    `) as unknown as TypedDocumentString<RunTreeQuery, RunTreeQueryVariables>;
export const SchedulesDocument = new TypedDocumentString(`
    query Schedules($first: Int!) {
  schedules(first: $first) {
    totalCount
    pageInfo {
      hasNextPage
    }
    nodes {
      ...ScheduleRowFields
    }
  }
}
    fragment ScheduleRowFields on Schedule {
  id
  name
  agentId
  agentByAgentId {
    name
  }
  cron
  intervalSeconds
  timezone
  nextFireAt
  lastFireAt
  paused
  pausedNote
  specError
  consecutiveFailures
  pauseAfterFailures
  missedTotal
  updatedAt
}`) as unknown as TypedDocumentString<SchedulesQuery, SchedulesQueryVariables>;
export const ScheduleDocument = new TypedDocumentString(`
    query Schedule($id: UUID!, $fires: Int!) {
  schedule(id: $id) {
    ...ScheduleFields
    fires(first: $fires) {
      totalCount
      nodes {
        id
        occurrenceAt
        firedAt
        startedAt
        status
        reason
        runId
        run {
          id
          status
        }
      }
    }
  }
}
    fragment ScheduleRowFields on Schedule {
  id
  name
  agentId
  agentByAgentId {
    name
  }
  cron
  intervalSeconds
  timezone
  nextFireAt
  lastFireAt
  paused
  pausedNote
  specError
  consecutiveFailures
  pauseAfterFailures
  missedTotal
  updatedAt
}
fragment ScheduleFields on Schedule {
  ...ScheduleRowFields
  input
  overlap
  catchUp
  catchUpMax
  misfireGraceSeconds
  thread
  threadId
  createdAt
  nextFireTimes(count: 10)
}`) as unknown as TypedDocumentString<ScheduleQuery, ScheduleQueryVariables>;
export const PauseScheduleDocument = new TypedDocumentString(`
    mutation PauseSchedule($id: UUID!, $note: String) {
  pauseSchedule(id: $id, note: $note) {
    schedule {
      ...ScheduleFields
    }
  }
}
    fragment ScheduleRowFields on Schedule {
  id
  name
  agentId
  agentByAgentId {
    name
  }
  cron
  intervalSeconds
  timezone
  nextFireAt
  lastFireAt
  paused
  pausedNote
  specError
  consecutiveFailures
  pauseAfterFailures
  missedTotal
  updatedAt
}
fragment ScheduleFields on Schedule {
  ...ScheduleRowFields
  input
  overlap
  catchUp
  catchUpMax
  misfireGraceSeconds
  thread
  threadId
  createdAt
  nextFireTimes(count: 10)
}`) as unknown as TypedDocumentString<PauseScheduleMutation, PauseScheduleMutationVariables>;
export const ResumeScheduleDocument = new TypedDocumentString(`
    mutation ResumeSchedule($id: UUID!) {
  resumeSchedule(id: $id) {
    schedule {
      ...ScheduleFields
    }
  }
}
    fragment ScheduleRowFields on Schedule {
  id
  name
  agentId
  agentByAgentId {
    name
  }
  cron
  intervalSeconds
  timezone
  nextFireAt
  lastFireAt
  paused
  pausedNote
  specError
  consecutiveFailures
  pauseAfterFailures
  missedTotal
  updatedAt
}
fragment ScheduleFields on Schedule {
  ...ScheduleRowFields
  input
  overlap
  catchUp
  catchUpMax
  misfireGraceSeconds
  thread
  threadId
  createdAt
  nextFireTimes(count: 10)
}`) as unknown as TypedDocumentString<ResumeScheduleMutation, ResumeScheduleMutationVariables>;
export const WebhooksDocument = new TypedDocumentString(`
    query Webhooks($first: Int!) {
  webhooks(first: $first) {
    totalCount
    pageInfo {
      hasNextPage
    }
    nodes {
      id
      name
      agentId
      agentByAgentId {
        name
      }
      verify
      secretNames
      enabled
      path
      deliveries(first: 100) {
        totalCount
        nodes {
          id
          receivedAt
        }
      }
    }
  }
}
    `) as unknown as TypedDocumentString<WebhooksQuery, WebhooksQueryVariables>;
export const WebhookDocument = new TypedDocumentString(`
    query Webhook($id: UUID!, $deliveries: Int!) {
  webhook(id: $id) {
    id
    name
    agentId
    agentByAgentId {
      name
    }
    verify
    secretNames
    signatureHeader
    signaturePrefix
    toleranceSeconds
    dedupePointer
    inputTemplate
    threadKeyPointer
    maxBodyBytes
    enabled
    path
    createdAt
    updatedAt
    deliveries(first: $deliveries) {
      totalCount
      nodes {
        id
        receivedAt
        deliveryKey
        verifiedWith
        duplicates
        lastDuplicateAt
        test
        threadKey
        payloadBytes
        runId
        run {
          id
          status
        }
      }
    }
  }
}
    `) as unknown as TypedDocumentString<WebhookQuery, WebhookQueryVariables>;
export const SendTestWebhookDeliveryDocument = new TypedDocumentString(`
    mutation SendTestWebhookDelivery($id: UUID!, $payload: JSON) {
  sendTestWebhookDelivery(id: $id, payload: $payload) {
    runId
    deliveryId
    duplicate
    run {
      id
      status
    }
  }
}
    `) as unknown as TypedDocumentString<SendTestWebhookDeliveryMutation, SendTestWebhookDeliveryMutationVariables>;
export const ApprovalHistoryDocument = new TypedDocumentString(`
    query ApprovalHistory {
  answerAudit: allAuditLogs(
    condition: {action: "approval.answered"}
    orderBy: SEQ_DESC
    first: 50
  ) {
    nodes {
      id
      at
      actor
      targetId
      details
    }
  }
  answeredRuns: allRuns(
    condition: {status: "interrupted"}
    orderBy: CREATED_AT_DESC
    first: 200
  ) {
    nodes {
      id
      agentId
      continuedBy
      agentByAgentId {
        id
        name
      }
      finished: runEventsByRunId(
        condition: {type: "RUN_FINISHED"}
        orderBy: SEQ_DESC
        first: 1
      ) {
        nodes {
          event
        }
      }
      runByContinuedBy {
        id
        input
      }
    }
  }
}
    `) as unknown as TypedDocumentString<ApprovalHistoryQuery, ApprovalHistoryQueryVariables>;
export const WorkspaceLimitsDocument = new TypedDocumentString(`
    query WorkspaceLimits {
  workspaceLimits {
    workspaceId
    workspaceName
    maxQueuedRuns
    runsPerMinute
    maxRunningRuns
    weight
    maxTokensPerDay
    maxCostUsdPerDay
    dedicated
    queuedRuns
    pendingRuns
    activeRuns
    oldestPendingAt
    tokensToday
    costUsdToday
    tokens
    updatedAt
  }
}
    `) as unknown as TypedDocumentString<WorkspaceLimitsQuery, WorkspaceLimitsQueryVariables>;
export const NavRunsDocument = new TypedDocumentString(`
    query NavRuns($condition: RunCondition, $first: Int!, $after: Cursor) {
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
      ...NavRunRowFields
    }
  }
}
    fragment NavRunRowFields on Run {
  ...RunRowFields
  agentVersion
}
fragment RunRowFields on Run {
  id
  status
  agentId
  threadId
  parentRunId
  usage
  error
  progress
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
  current: runAttemptsByRunId(orderBy: PRIMARY_KEY_DESC, first: 1) {
    nodes {
      seq
      attempt
      stepKind
      stepName
      outcome
    }
  }
}`) as unknown as TypedDocumentString<NavRunsQuery, NavRunsQueryVariables>;
export const NavRunsUpdatedDocument = new TypedDocumentString(`
    subscription NavRunsUpdated {
  runUpdated {
    runId
    run {
      ...NavRunRowFields
    }
  }
}
    fragment NavRunRowFields on Run {
  ...RunRowFields
  agentVersion
}
fragment RunRowFields on Run {
  id
  status
  agentId
  threadId
  parentRunId
  usage
  error
  progress
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
  current: runAttemptsByRunId(orderBy: PRIMARY_KEY_DESC, first: 1) {
    nodes {
      seq
      attempt
      stepKind
      stepName
      outcome
    }
  }
}`) as unknown as TypedDocumentString<NavRunsUpdatedSubscription, NavRunsUpdatedSubscriptionVariables>;
export const NavAgentsDocument = new TypedDocumentString(`
    query NavAgents {
  allAgents(orderBy: NAME_ASC, first: 1000) {
    nodes {
      id
      name
      version
    }
  }
}
    `) as unknown as TypedDocumentString<NavAgentsQuery, NavAgentsQueryVariables>;
export const ThreadsDocument = new TypedDocumentString(`
    query Threads($first: Int!, $offset: Int!, $agentId: UUID) {
  threadSummaries(first: $first, offset: $offset, agentId: $agentId) {
    hasNextPage
    nodes {
      threadId
      agentId
      agentName
      createdAt
      lastActivityAt
      runCount
      latestRunId
      latestRunStatus
      title
    }
  }
}
    `) as unknown as TypedDocumentString<ThreadsQuery, ThreadsQueryVariables>;
export const WorkersAndQueueDocument = new TypedDocumentString(`
    query WorkersAndQueue($queueWindow: Int!, $queueBucket: Int!, $stalledSeconds: Int!) {
  workerStatuses {
    poolId
    hostname
    pid
    concurrency
    startedAt
    lastSeenAt
    steps {
      runId
      agentName
      status
      step
      attempt
      stepStartedAt
      lockedAt
    }
  }
  workerExits(windowSeconds: 86400, first: 50) {
    poolId
    hostname
    pid
    concurrency
    startedAt
    exitedAt
    crashed
    freedRunIds
  }
  queueDepth {
    ready
    scheduled
    running
    oldestReadyAgeMs
  }
  queueHistory(windowSeconds: $queueWindow, bucketSeconds: $queueBucket) {
    start
    ready
    scheduled
    running
    oldestReadyAgeMs
  }
  scheduledTimers(first: 100) {
    runId
    agentName
    kind
    eventName
    until
    since
  }
  stuckRuns(stalledSeconds: $stalledSeconds, first: 100) {
    runId
    agentName
    status
    reason
    step
    attempt
    since
  }
}
    `) as unknown as TypedDocumentString<WorkersAndQueueQuery, WorkersAndQueueQueryVariables>;
export const RunAttemptsDocument = new TypedDocumentString(`
    query RunAttempts($id: UUID!) {
  allRunAttempts(condition: {runId: $id}, orderBy: PRIMARY_KEY_ASC, first: 1000) {
    nodes {
      ...RunAttemptFields
    }
  }
}
    fragment RunAttemptFields on RunAttempt {
  seq
  attempt
  stepKind
  stepName
  poolId
  hostname
  workerPid
  startedAt
  endedAt
  lastEventAt
  freedAt
  outcome
  error
  eventsFrom
  lastEventSeq
  closedThroughSeq
}`) as unknown as TypedDocumentString<RunAttemptsQuery, RunAttemptsQueryVariables>;
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
  progress
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
  current: runAttemptsByRunId(orderBy: PRIMARY_KEY_DESC, first: 1) {
    nodes {
      seq
      attempt
      stepKind
      stepName
      outcome
    }
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
  progress
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
  current: runAttemptsByRunId(orderBy: PRIMARY_KEY_DESC, first: 1) {
    nodes {
      seq
      attempt
      stepKind
      stepName
      outcome
    }
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
    state
    budgetSpend
    historyExpiredAt
    workspaceByWorkspaceId {
      retentionDays
    }
    agentVersionByAgentIdAndAgentVersion {
      version
      config
    }
    runByContinuedBy {
      id
      status
      input
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
  rerunOf
  input
  output
  error
  usage
  createdAt
  startedAt
  finishedAt
  updatedAt
  waiting
  progress
  agentByAgentId {
    id
    name
  }
  stepCount: runStepsByRunId {
    totalCount
  }
  current: runAttemptsByRunId(orderBy: PRIMARY_KEY_DESC, first: 1) {
    nodes {
      ...RunAttemptFields
    }
  }
}
fragment RunAttemptFields on RunAttempt {
  seq
  attempt
  stepKind
  stepName
  poolId
  hostname
  workerPid
  startedAt
  endedAt
  lastEventAt
  freedAt
  outcome
  error
  eventsFrom
  lastEventSeq
  closedThroughSeq
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
      state
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
  rerunOf
  input
  output
  error
  usage
  createdAt
  startedAt
  finishedAt
  updatedAt
  waiting
  progress
  agentByAgentId {
    id
    name
  }
  stepCount: runStepsByRunId {
    totalCount
  }
  current: runAttemptsByRunId(orderBy: PRIMARY_KEY_DESC, first: 1) {
    nodes {
      ...RunAttemptFields
    }
  }
}
fragment RunAttemptFields on RunAttempt {
  seq
  attempt
  stepKind
  stepName
  poolId
  hostname
  workerPid
  startedAt
  endedAt
  lastEventAt
  freedAt
  outcome
  error
  eventsFrom
  lastEventSeq
  closedThroughSeq
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
    mutation CancelRun($runId: UUID!, $reason: String) {
  cancelRun(runId: $runId, reason: $reason) {
    cancelled
    run {
      id
      status
    }
  }
}
    `) as unknown as TypedDocumentString<CancelRunMutation, CancelRunMutationVariables>;
export const ResumeRunDocument = new TypedDocumentString(`
    mutation ResumeRun($runId: UUID!, $resume: JSON!, $reason: String) {
  resumeRun(runId: $runId, resume: $resume, reason: $reason) {
    runId
  }
}
    `) as unknown as TypedDocumentString<ResumeRunMutation, ResumeRunMutationVariables>;
export const SendEventDocument = new TypedDocumentString(`
    mutation SendEvent($runId: UUID!, $name: String!, $payload: JSON, $reason: String) {
  sendEvent(runId: $runId, name: $name, payload: $payload, reason: $reason) {
    woke
    run {
      id
      status
      updatedAt
    }
  }
}
    `) as unknown as TypedDocumentString<SendEventMutation, SendEventMutationVariables>;
export const RerunRunDocument = new TypedDocumentString(`
    mutation RerunRun($runId: UUID!, $reason: String, $fromStep: Int) {
  rerunRun(runId: $runId, reason: $reason, fromStep: $fromStep) {
    runId
  }
}
    `) as unknown as TypedDocumentString<RerunRunMutation, RerunRunMutationVariables>;
export const RerunFromStepContextDocument = new TypedDocumentString(`
    query RerunFromStepContext($id: UUID!) {
  runById(id: $id) {
    id
    status
    parentRunId
    agentVersion
    threadByThreadId {
      runsByThreadId(orderBy: [CREATED_AT_DESC, ID_DESC], first: 1) {
        nodes {
          id
        }
      }
    }
  }
}
    `) as unknown as TypedDocumentString<RerunFromStepContextQuery, RerunFromStepContextQueryVariables>;
export const RunInterruptsDocument = new TypedDocumentString(`
    query RunInterrupts($id: UUID!) {
  runById(id: $id) {
    id
    status
    continuedBy
    interrupts
  }
}
    `) as unknown as TypedDocumentString<RunInterruptsQuery, RunInterruptsQueryVariables>;
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
  progress
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
  current: runAttemptsByRunId(orderBy: PRIMARY_KEY_DESC, first: 1) {
    nodes {
      seq
      attempt
      stepKind
      stepName
      outcome
    }
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
  rerunOf
  input
  output
  error
  usage
  createdAt
  startedAt
  finishedAt
  updatedAt
  waiting
  progress
  agentByAgentId {
    id
    name
  }
  stepCount: runStepsByRunId {
    totalCount
  }
  current: runAttemptsByRunId(orderBy: PRIMARY_KEY_DESC, first: 1) {
    nodes {
      ...RunAttemptFields
    }
  }
}
fragment RunAttemptFields on RunAttempt {
  seq
  attempt
  stepKind
  stepName
  poolId
  hostname
  workerPid
  startedAt
  endedAt
  lastEventAt
  freedAt
  outcome
  error
  eventsFrom
  lastEventSeq
  closedThroughSeq
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
  progress
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
  current: runAttemptsByRunId(orderBy: PRIMARY_KEY_DESC, first: 1) {
    nodes {
      seq
      attempt
      stepKind
      stepName
      outcome
    }
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
    cacheReadTokens
    cacheWriteTokens
    reasoningTokens
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
export const WorkflowRunDocument = new TypedDocumentString(`
    query WorkflowRun($id: UUID!) {
  runById(id: $id) {
    id
    parentRunId
    runStepsByRunId(orderBy: SEQ_ASC, first: 1000) {
      nodes {
        ...WorkflowStepFields
      }
    }
    threadByThreadId {
      runsByThreadId(orderBy: CREATED_AT_DESC, first: 30) {
        nodes {
          id
          parentRunId
          runStepsByRunId(orderBy: SEQ_ASC, first: 1000) {
            nodes {
              ...WorkflowStepFields
            }
          }
        }
      }
    }
  }
}
    fragment WorkflowStepFields on RunStep {
  seq
  kind
  name
  status
  finishedAt
  output
}`) as unknown as TypedDocumentString<WorkflowRunQuery, WorkflowRunQueryVariables>;
export const RunTraceIdDocument = new TypedDocumentString(`
    query RunTraceId($id: UUID!) {
  runById(id: $id) {
    id
    traceParent
  }
}
    `) as unknown as TypedDocumentString<RunTraceIdQuery, RunTraceIdQueryVariables>;